//! Is the postmaster of a data directory running? Answered from
//! postmaster.pid and /proc, without connecting.

use crate::core::decide::Postmaster;
use crate::core::pidfile::PidFile;
use std::path::Path;

pub fn pid_file_path(pgdata: &Path) -> std::path::PathBuf {
    pgdata.join("postmaster.pid")
}

/// Read postmaster.pid; `None` when it is absent or unreadable garbage.
pub fn read_pid_file(pgdata: &Path) -> Option<PidFile> {
    std::fs::read_to_string(pid_file_path(pgdata))
        .ok()
        .and_then(|t| PidFile::parse(&t))
}

pub fn observe(pgdata: &Path) -> Postmaster {
    let path = pid_file_path(pgdata);
    match std::fs::read_to_string(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Postmaster::Absent,
        // Unreadable or garbage: we cannot prove a clean stop, nor a crash of
        // a known pid. pid 0 never runs, so this reads as "crashed".
        Err(_) => Postmaster::Dead { pid: 0 },
        Ok(text) => match PidFile::parse(&text) {
            None => Postmaster::Dead { pid: 0 },
            Some(p) if is_postgres_alive(p.pid) => Postmaster::Alive { pid: p.pid },
            Some(p) => Postmaster::Dead { pid: p.pid },
        },
    }
}

/// `kill(pid, 0)` says the pid exists; /proc says whether it is a zombie
/// (an unreaped dead postmaster) or a different program that reused the pid.
pub fn is_postgres_alive(pid: i32) -> bool {
    use nix::errno::Errno;
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) | Err(Errno::EPERM) => {}
        Err(_) => return false,
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return true;
    };
    // "pid (comm) S ...": comm may contain spaces and parentheses.
    let Some((head, tail)) = stat.rsplit_once(") ") else {
        return true;
    };
    let comm = head.split_once(" (").map_or("", |(_, c)| c);
    let state = tail.chars().next().unwrap_or('?');
    state != 'Z' && state != 'X' && (comm.starts_with("postgres") || comm.starts_with("postmaster"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_garbage_and_dead_pid_files() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(observe(dir.path()), Postmaster::Absent);
        std::fs::write(dir.path().join("postmaster.pid"), "garbage\n").unwrap();
        assert_eq!(observe(dir.path()), Postmaster::Dead { pid: 0 });
        // Our own pid is alive but is not postgres: a reused pid.
        let me = std::process::id() as i32;
        std::fs::write(dir.path().join("postmaster.pid"), format!("{me}\n")).unwrap();
        assert_eq!(observe(dir.path()), Postmaster::Dead { pid: me });
    }

    #[test]
    fn a_pid_that_does_not_exist_is_dead() {
        assert!(!is_postgres_alive(i32::MAX - 1));
    }
}
