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
