//! PostgreSQL major versions and dotted version strings.

use std::cmp::Ordering;

/// The major version from `$PGDATA/PG_VERSION` (`15`, `9.6`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgMajor(pub String);

impl PgMajor {
    pub fn parse(pg_version_file: &str) -> Option<PgMajor> {
        let v = pg_version_file.trim();
        let valid = !v.is_empty()
            && v.split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        valid.then(|| PgMajor(v.to_string()))
    }

    /// PostgreSQL 12 replaced recovery.conf with standby.signal.
    pub fn recovery_model(&self) -> RecoveryModel {
        if self.at_least("12") {
            RecoveryModel::StandbySignal
        } else {
            RecoveryModel::RecoveryConf
        }
    }

    /// A standby applies a changed `primary_conninfo` at a reload (13 and
    /// later): its WAL receiver restarts with it at once.
    pub fn reloads_primary_conninfo(&self) -> bool {
        self.at_least("13")
    }

    /// `max_slot_wal_keep_size` exists (13 and later).
    pub fn bounds_slot_wal(&self) -> bool {
        self.at_least("13")
    }

    /// The agent replicates PostgreSQL 10 and later (the `*_wal_*`
    /// function names, `pg_stat_wal_receiver.received_tli`).
    pub fn replication_supported(&self) -> bool {
        self.at_least("10")
    }

    /// Whether committing sessions wait for the listed standbys from the
    /// first connection a postmaster accepts. That flag is set by the
    /// checkpointer when it starts. From 15 the checkpointer runs before
    /// recovery ends (it makes the end-of-recovery checkpoint). Before 15 the
    /// postmaster lets clients in and only then starts the checkpointer,
    /// after a crash restart as after a start, so the first commits may be
    /// acknowledged without any standby.
    pub fn sync_flag_set_before_connections(&self) -> bool {
        self.at_least("15")
    }

    fn at_least(&self, major: &str) -> bool {
        compare_dotted(&self.0, major) != Ordering::Less
    }
}

/// Where a standby's recovery settings live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryModel {
    /// Before 12: `recovery.conf` in the data directory, with
    /// `standby_mode = 'on'`; the settings are not server settings, so none
    /// may appear in `postgresql.auto.conf` (the server would not start);
    /// promotion by `pg_ctl promote` (`pg_promote()` does not exist).
    RecoveryConf,
    /// 12 and later: `standby.signal`, the settings are server settings
    /// (the agent's lines of `postgresql.auto.conf`); `pg_promote()`; a
    /// `recovery.conf` in the data directory stops the server from
    /// starting.
    StandbySignal,
}

/// Compare dotted numeric versions (`9.6` < `10`, `3.16.1` > `3.2`); missing
/// parts count as 0 and non-numeric parts as 0.
pub fn compare_dotted(a: &str, b: &str) -> Ordering {
    let parts = |s: &str| -> Vec<u64> { s.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    let (pa, pb) = (parts(a), parts(b));
    for i in 0..pa.len().max(pb.len()) {
        let ord = pa.get(i).unwrap_or(&0).cmp(pb.get(i).unwrap_or(&0));
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_version_files() {
        assert_eq!(PgMajor::parse("15\n"), Some(PgMajor("15".into())));
        assert_eq!(PgMajor::parse("9.6"), Some(PgMajor("9.6".into())));
        for bad in ["", "\n", "fifteen", "15.", ".1", "1 5"] {
            assert_eq!(PgMajor::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn standby_signal_from_12_on() {
        use RecoveryModel::*;
        for (v, model, replication) in [
            ("9.6", RecoveryConf, false),
            ("10", RecoveryConf, true),
            ("11", RecoveryConf, true),
            ("12", StandbySignal, true),
            ("18", StandbySignal, true),
        ] {
            assert_eq!(PgMajor(v.into()).recovery_model(), model, "{v}");
            assert_eq!(
                PgMajor(v.into()).replication_supported(),
                replication,
                "{v}"
            );
        }
    }

    #[test]
    fn dotted_comparison() {
        assert_eq!(compare_dotted("9.6", "10"), Ordering::Less);
        assert_eq!(compare_dotted("3.16.1", "3.2"), Ordering::Greater);
        assert_eq!(compare_dotted("3.10.0", "3.10"), Ordering::Equal);
        assert_eq!(compare_dotted("3.1.0", "3.10.0"), Ordering::Less);
    }
}
