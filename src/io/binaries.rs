//! Where the PostgreSQL programs are. The stock defaults (/usr/bin/pg_ctl,
//! /usr/bin/psql) do not exist on Debian, or are its Perl pg_wrapper; then
//! the programs of the data directory's major version are used.

use crate::core::version::PgMajor;
use std::path::{Path, PathBuf};

/// The directory Debian installs a major version's programs in.
pub fn debian_bindir(major: &PgMajor) -> PathBuf {
    PathBuf::from(format!("/usr/lib/postgresql/{}/bin", major.0))
}

fn is_pg_wrapper(path: &Path) -> bool {
    std::fs::canonicalize(path).is_ok_and(|p| p.ends_with("pg_wrapper"))
}

pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A bare program name looked up on `PATH`, as `which` does.
fn on_path(name: &Path) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

/// Resolve a program parameter. A bare name is looked up on `PATH`. An
/// explicit path is always honoured; the
/// stock default is replaced by the versioned program when it is missing or
/// is pg_wrapper, and the choice is logged.
/// Returns the path and, when it substituted one, a note saying so.
pub fn resolve(
    param: &str,
    configured: &Path,
    stock_default: &str,
    major: Option<&PgMajor>,
) -> (PathBuf, Option<String>) {
    if !configured.to_string_lossy().contains('/') {
        return (
            on_path(configured).unwrap_or(configured.to_path_buf()),
            None,
        );
    }
    let keep = (configured.to_path_buf(), None);
    let is_default = configured == Path::new(stock_default);
    if !is_default || (is_executable(configured) && !is_pg_wrapper(configured)) {
        return keep;
    }
    let Some(major) = major else { return keep };
    let versioned = debian_bindir(major).join(configured.file_name().unwrap_or_default());
    if !is_executable(&versioned) {
        return keep;
    }
    let note = format!(
        "{param}: {stock_default} is missing or is pg_wrapper; using {} (PG_VERSION {})",
        versioned.display(),
        major.0
    );
    (versioned, Some(note))
}
