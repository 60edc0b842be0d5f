//! `postmaster.pid`: the postmaster's lock file in the data directory.

/// The fields of postmaster.pid that the agent uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PidFile {
    pub pid: i32,
    /// Line 4: the port the server listens on.
    pub port: Option<u16>,
    /// Line 5: the first Unix socket directory (empty when none).
    pub socket_dir: Option<String>,
    /// Line 8 (PostgreSQL 10+): `starting`, `stopping`, `ready` or `standby`.
    pub status: Option<String>,
}

impl PidFile {
    /// Parse the file's text; `None` when the first line is not a pid.
    pub fn parse(text: &str) -> Option<PidFile> {
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        let pid: i32 = lines.first()?.parse().ok().filter(|p: &i32| *p > 0)?;
        let field = |i: usize| lines.get(i).copied().filter(|s| !s.is_empty());
        Some(PidFile {
            pid,
            port: field(3).and_then(|p| p.parse().ok()),
            socket_dir: field(4).map(str::to_string),
            status: field(7).map(str::to_string),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PG15: &str = "12345\n/var/lib/pgsql/data\n1732000000\n5432\n/var/run/postgresql\n*\n  5432001     32768\nready   \n";

    #[test]
    fn parses_a_pg15_pid_file() {
        let p = PidFile::parse(PG15).unwrap();
        assert_eq!(p.pid, 12345);
        assert_eq!(p.port, Some(5432));
        assert_eq!(p.socket_dir.as_deref(), Some("/var/run/postgresql"));
        assert_eq!(p.status.as_deref(), Some("ready"));
    }

    #[test]
    fn a_short_file_still_gives_the_pid() {
        let p = PidFile::parse("777\n").unwrap();
        assert_eq!((p.pid, p.port, p.status), (777, None, None));
    }

    #[test]
    fn garbage_is_not_a_pid_file() {
        for bad in ["", "\n", "abc\n", "-5\n", "0\n", "99999999999\n"] {
            assert_eq!(PidFile::parse(bad), None, "{bad:?}");
        }
    }

    mod fuzz {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn fuzz_pidfile_arbitrary_text_never_panics(text in ".{0,200}") {
                if let Some(p) = PidFile::parse(&text) {
                    prop_assert!(p.pid > 0);
                }
            }

            #[test]
            fn fuzz_pidfile_fields_read_back(
                pid in 1i32..,
                port in any::<u16>(),
                dir in "/[a-z/]{0,12}",
                status in prop::sample::select(vec!["starting", "stopping", "ready", "standby"]),
            ) {
                let text = format!("{pid}\n/data\n1732000000\n{port}\n{dir}\n*\n  1 2\n{status}\n");
                let p = PidFile::parse(&text).unwrap();
                prop_assert_eq!(p.pid, pid);
                prop_assert_eq!(p.port, Some(port));
                prop_assert_eq!(p.socket_dir.as_deref(), Some(dir.as_str()));
                prop_assert_eq!(p.status.as_deref(), Some(status));
            }
        }
    }
}
