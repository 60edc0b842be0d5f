//! Decisions from observations. Each function takes what the seams observed
//! and returns what to answer; none of them looks anything up itself.

use crate::ocf::rc::OcfRc;
use std::time::Duration;

/// What the process table says about the postmaster named in postmaster.pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Postmaster {
    /// No postmaster.pid: the instance was shut down cleanly (or never ran).
    Absent,
    /// postmaster.pid names a process that is gone: a crash.
    Dead { pid: i32 },
    /// The postmaster is running.
    Alive { pid: i32 },
}

/// The result of the liveness query on a running postmaster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlProbe {
    /// The query answered; `in_recovery` is `pg_is_in_recovery()`.
    Answered { in_recovery: bool },
    /// The server refuses connections for now (starting, stopping, recovery).
    NotYet(String),
    /// Connecting or querying failed.
    Failed(String),
}

/// The answer of a monitor: a return code and, for failures, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub rc: OcfRc,
    pub reason: Option<String>,
}

impl Verdict {
    fn ok(rc: OcfRc) -> Verdict {
        Verdict { rc, reason: None }
    }
    fn failed(reason: String) -> Verdict {
        Verdict {
            rc: OcfRc::ErrGeneric,
            reason: Some(reason),
        }
    }
}

/// Whether the SQL probe is needed at all for this postmaster state.
pub fn needs_sql(pm: Postmaster) -> bool {
    matches!(pm, Postmaster::Alive { .. })
}

/// The monitor of a standalone instance (`rep_mode=none`): 7 only for a clean
/// stop, 0 when the server answers, 1 for every kind of doubt.
pub fn monitor_standalone(pm: Postmaster, sql: Option<&SqlProbe>) -> Verdict {
    match (pm, sql) {
        (Postmaster::Absent, _) => Verdict::ok(OcfRc::NotRunning),
        (Postmaster::Dead { pid }, _) => Verdict::failed(format!(
            "PostgreSQL crashed: postmaster.pid names pid {pid}, which is not running; \
             stop cleans up, start runs crash recovery"
        )),
        (Postmaster::Alive { .. }, Some(SqlProbe::Answered { .. })) => Verdict::ok(OcfRc::Success),
        (Postmaster::Alive { pid }, Some(SqlProbe::NotYet(why))) => Verdict::failed(format!(
            "PostgreSQL (pid {pid}) is running but not accepting connections: {why}"
        )),
        (Postmaster::Alive { pid }, Some(SqlProbe::Failed(why))) => Verdict::failed(format!(
            "PostgreSQL (pid {pid}) is running but monitor_sql failed: {why}"
        )),
        (Postmaster::Alive { pid }, None) => Verdict::failed(format!(
            "PostgreSQL (pid {pid}) is running but was not queried"
        )),
    }
}

/// Why a server that would not start stopped, from what it logged: the
/// last `PANIC`, else the last `FATAL` that is not a client turned away
/// while the server starts or stops (those can follow the real cause), as
/// PostgreSQL writes them when it exits (a reused pid in `postmaster.pid`,
/// a missing WAL file, a bad setting), from the level on (the line's prefix,
/// a time stamp and a pid, says nothing in an exit reason). `None` when the
/// log says neither.
pub fn start_failure_reason(log_tail: &str) -> Option<&str> {
    const TURNED_AWAY: [&str; 3] = [
        "the database system is starting up",
        "the database system is shutting down",
        "the database system is not yet accepting connections",
    ];
    let last = |level: &str| {
        log_tail
            .lines()
            .rev()
            .find(|l| l.contains(level) && !TURNED_AWAY.iter().any(|t| l.contains(t)))
            .and_then(|l| l.find(level).map(|at| l[at..].trim()))
    };
    last("PANIC:").or_else(|| last("FATAL:"))
}

/// How long a monitor waits for a running server that refuses connections
/// for now (57P03) before it calls it failed: a postmaster that lost one
/// child to `kill -9` (the OOM killer, for one) restarts all of them and
/// runs crash recovery, which takes a second or two. Up to 20 s, and never
/// the last 10 s of the operation's time, so that the failure is still
/// reported, not timed out.
pub fn refusal_grace(remaining: Duration) -> Duration {
    const GRACE: Duration = Duration::from_secs(20);
    const KEEP: Duration = Duration::from_secs(10);
    GRACE.min(remaining.saturating_sub(KEEP))
}

/// A replicated instance that answers: 8 exactly when it is a primary.
pub fn replicated_rc(in_recovery: bool) -> OcfRc {
    if in_recovery {
        OcfRc::Success
    } else {
        OcfRc::RunningPromoted
    }
}

/// When `stop` escalates from `-m fast` to `-m immediate`: after
/// `stop_escalate` seconds, but at the latest 10 s before the operation
/// timeout, as the stock agent does, so that immediate still has time.
pub fn stop_escalation_secs(stop_escalate: u64, op_timeout_secs: Option<u64>) -> u64 {
    match op_timeout_secs {
        Some(t) if stop_escalate >= t => t.saturating_sub(10),
        _ => stop_escalate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_failure_is_explained_by_the_last_fatal_line() {
        let log = "2026-12-06 08:46:45 UTC [189] LOG:  starting PostgreSQL 15\n\
                   2026-12-06 08:46:45 UTC [189] FATAL:  lock file \"postmaster.pid\" already exists\n\
                   2026-12-06 08:46:45 UTC [189] HINT:  Is another postmaster (PID 77) running?\n";
        assert_eq!(
            start_failure_reason(log),
            Some("FATAL:  lock file \"postmaster.pid\" already exists")
        );
        let log = "[9] PANIC:  could not locate a valid checkpoint record\n\
                   [12] FATAL:  the database system is starting up\n";
        assert_eq!(
            start_failure_reason(log),
            Some("PANIC:  could not locate a valid checkpoint record")
        );
        assert_eq!(
            start_failure_reason("LOG:  database system is ready\n"),
            None
        );
        assert_eq!(start_failure_reason(""), None);
    }

    fn answered() -> SqlProbe {
        SqlProbe::Answered { in_recovery: false }
    }

    #[test]
    fn a_refusing_server_is_waited_for_but_never_into_the_timeout() {
        let s = Duration::from_secs;
        assert_eq!(refusal_grace(s(60)), s(20));
        assert_eq!(refusal_grace(s(25)), s(15));
        assert_eq!(refusal_grace(s(5)), s(0));
    }

    #[test]
    fn monitor_table() {
        let cases: Vec<(Postmaster, Option<SqlProbe>, OcfRc)> = vec![
            (Postmaster::Absent, None, OcfRc::NotRunning),
            (Postmaster::Absent, Some(answered()), OcfRc::NotRunning),
            (Postmaster::Dead { pid: 9 }, None, OcfRc::ErrGeneric),
            (
                Postmaster::Alive { pid: 9 },
                Some(answered()),
                OcfRc::Success,
            ),
            (
                Postmaster::Alive { pid: 9 },
                Some(SqlProbe::NotYet("x".into())),
                OcfRc::ErrGeneric,
            ),
            (
                Postmaster::Alive { pid: 9 },
                Some(SqlProbe::Failed("x".into())),
                OcfRc::ErrGeneric,
            ),
            (Postmaster::Alive { pid: 9 }, None, OcfRc::ErrGeneric),
        ];
        for (pm, sql, rc) in cases {
            let v = monitor_standalone(pm, sql.as_ref());
            assert_eq!(v.rc, rc, "{pm:?} {sql:?}");
            // A failure always says why; success and a clean stop say nothing.
            assert_eq!(
                v.reason.is_some(),
                rc == OcfRc::ErrGeneric,
                "{pm:?} {sql:?}"
            );
        }
    }

    #[test]
    fn only_a_live_postmaster_is_queried() {
        assert!(needs_sql(Postmaster::Alive { pid: 1 }));
        assert!(!needs_sql(Postmaster::Absent));
        assert!(!needs_sql(Postmaster::Dead { pid: 1 }));
    }

    #[test]
    fn the_monitor_reasons_fit_an_exit_reason() {
        let pid = 4_194_304;
        let why = "57P03: the database system is not yet accepting connections";
        for v in [
            monitor_standalone(Postmaster::Dead { pid }, None),
            monitor_standalone(
                Postmaster::Alive { pid },
                Some(&SqlProbe::NotYet(why.into())),
            ),
            monitor_standalone(
                Postmaster::Alive { pid },
                Some(&SqlProbe::Failed(why.into())),
            ),
            monitor_standalone(Postmaster::Alive { pid }, None),
        ] {
            let reason = v.reason.unwrap();
            assert!(reason.len() <= crate::error::EXIT_REASON_MAX, "{reason}");
        }
    }

    #[test]
    fn crash_reason_names_the_pid() {
        let v = monitor_standalone(Postmaster::Dead { pid: 4242 }, None);
        assert!(v.reason.unwrap().contains("4242"));
    }

    #[test]
    fn eight_exactly_for_a_primary() {
        assert_eq!(replicated_rc(false), OcfRc::RunningPromoted);
        assert_eq!(replicated_rc(true), OcfRc::Success);
    }

    #[test]
    fn escalation_is_capped_by_the_op_timeout() {
        assert_eq!(stop_escalation_secs(90, None), 90);
        assert_eq!(stop_escalation_secs(90, Some(120)), 90);
        assert_eq!(stop_escalation_secs(90, Some(60)), 50);
        assert_eq!(stop_escalation_secs(90, Some(90)), 80);
        assert_eq!(stop_escalation_secs(90, Some(5)), 0);
        assert_eq!(stop_escalation_secs(0, Some(60)), 0);
    }
}
