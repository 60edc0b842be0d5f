//! Small filesystem steps with ownership, done by root for the database owner.

use crate::error::{AgentError, Result};
use crate::io::user::OsUser;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Create `dir` if missing, owned by `user`, with `mode`.
pub fn ensure_dir(dir: &Path, user: &OsUser, mode: u32, param: &str) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let fail = |what: &str, e: std::io::Error| {
        AgentError::perm(format!("{param}: can't {what} {}: {e}", dir.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| fail("create directory", e))?;
    std::os::unix::fs::chown(dir, Some(user.uid.as_raw()), Some(user.gid.as_raw()))
        .map_err(|e| fail("change the owner of", e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
        .map_err(|e| fail("change the mode of", e))?;
    crate::info!(
        "created {} for {} (mode {mode:o})",
        dir.display(),
        user.name
    );
    Ok(())
}

/// Create an empty `file` if missing, owned by `user`. Never truncates.
pub fn ensure_file(file: &Path, user: &OsUser, param: &str) -> Result<()> {
    if file.exists() {
        return Ok(());
    }
    let fail = |what: &str, e: std::io::Error| {
        AgentError::perm(format!("{param}: can't {what} {}: {e}", file.display()))
    };
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .map_err(|e| fail("create", e))?;
    std::os::unix::fs::chown(file, Some(user.uid.as_raw()), Some(user.gid.as_raw()))
        .map_err(|e| fail("change the owner of", e))?;
    Ok(())
}

/// The size of a file, 0 when it can't be read.
pub fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// What a file gained past `offset`, its last `max` bytes at most, as text
/// (lossy); `None` when it can't be read. For a log that may be large.
pub fn tail_since(path: &Path, offset: u64, max: u64) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(offset.max(len.saturating_sub(max))))
        .ok()?;
    let mut bytes = Vec::new();
    f.take(max).read_to_end(&mut bytes).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}
