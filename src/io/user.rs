//! The database owner as an OS user, and the two ways we act as it:
//! a child process that drops root for good, and a short effective-uid
//! switch in this process (for peer authentication at connect time).

use nix::unistd::{Gid, Uid, User};
use std::ffi::CString;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct OsUser {
    pub name: String,
    pub uid: Uid,
    pub gid: Gid,
    pub home: PathBuf,
    /// Supplementary groups (Debian's postgres needs ssl-cert).
    pub groups: Vec<Gid>,
}

impl OsUser {
    /// Look the user up in the passwd and group databases.
    pub fn lookup(name: &str) -> Option<OsUser> {
        let user = User::from_name(name).ok()??;
        let cname = CString::new(name).ok()?;
        let groups = nix::unistd::getgrouplist(&cname, user.gid).unwrap_or_else(|_| vec![user.gid]);
        Some(OsUser {
            name: user.name,
            uid: user.uid,
            gid: user.gid,
            home: user.dir,
            groups,
        })
    }

    /// Whether this process must switch identity to act as the user.
    pub fn needs_switch(&self) -> bool {
        Uid::effective().is_root() && !self.uid.is_root()
    }
}

/// While alive, this process's effective uid and gid are the user's.
/// Dropped: back to root. Only ever held around a single syscall-level step.
pub struct EffectiveUser {
    switched: bool,
}

impl EffectiveUser {
    pub fn enter(user: &OsUser) -> std::io::Result<EffectiveUser> {
        if !user.needs_switch() {
            return Ok(EffectiveUser { switched: false });
        }
        nix::unistd::setegid(user.gid)?;
        if let Err(e) = nix::unistd::seteuid(user.uid) {
            let _ = nix::unistd::setegid(Gid::from_raw(0));
            return Err(e.into());
        }
        Ok(EffectiveUser { switched: true })
    }
}

impl Drop for EffectiveUser {
    fn drop(&mut self) {
        if self.switched {
            // Restoring root can only fail if we never were root.
            let _ = nix::unistd::seteuid(Uid::from_raw(0));
            let _ = nix::unistd::setegid(Gid::from_raw(0));
        }
    }
}

/// Whether `user` may write `path` (effective-id access check).
pub fn can_write(user: &OsUser, path: &std::path::Path) -> bool {
    use nix::unistd::{faccessat, AccessFlags};
    let Ok(_as_user) = EffectiveUser::enter(user) else {
        return false;
    };
    faccessat(
        None,
        path,
        AccessFlags::W_OK,
        nix::fcntl::AtFlags::AT_EACCESS,
    )
    .is_ok()
}
