//! The stock agent's node-attribute protocol, as pure decisions, split by
//! concern:
//! - [`plan`]: the wire values as types (scores, statuses, data-status,
//!   [`AttrValue`]) and the [`Plan`], a cluster snapshot plus the writes
//!   decided so far, with the stock guards on who may write what;
//! - [`sync`]: the primary's pass over its standbys and
//!   `synchronous_standby_names` (the durability rule);
//! - [`rounds`]: that pass within one action, as a state machine (the
//!   barrier before the list changes, the ceiling, three rounds at most);
//! - [`election`]: who may be promoted: the election, the check at
//!   promotion, the pre-promote baseline;
//! - [`follow`]: `replication_hosts`, standbys streaming from the promoted
//!   node's own address;
//! - [`lock`]: `PGSQL.lock` at start and after a demote;
//! - [`diverge`]: a standby past the fork of the primary's timeline;
//! - [`primaries`]: two primaries, the one on the older timeline fails;
//! - [`promotion`]: `promote`'s records around the step that cannot be
//!   undone;
//! - [`rejoin`]: `auto_rewind`, a former primary rejoining by itself;
//! - [`resync`]: `auto_resync`, a new copy when a rewind cannot finish;
//! - [`start_stop`]: `start` and `stop` as ordered steps, with the lock's
//!   phases around PostgreSQL's start;
//! - [`monitor`]: the monitor of a primary, of a standby, and of a
//!   crashed primary, as ordered steps;
//! - [`notify`]: what each notification does, as ordered steps, with the
//!   post-stop election round by round.
//!
//! Every action's decision takes the facts it gathered once and returns
//! its steps (and its answer); `actions::replication` gathers the facts,
//! performs the steps and, where a step waits for something, feeds back
//! what it saw.

pub mod diverge;
pub mod election;
pub mod follow;
pub mod lock;
pub mod monitor;
pub mod notify;
pub mod plan;
pub mod primaries;
pub mod promotion;
pub mod quorum;
pub mod rejoin;
pub mod resync;
pub mod rounds;
pub mod slots;
pub mod start_stop;
pub mod sync;

pub use diverge::*;
pub use election::*;
pub use follow::*;
pub use lock::*;
pub use monitor::*;
pub use notify::*;
pub use plan::*;
pub use primaries::*;
pub use promotion::*;
pub use rejoin::*;
pub use resync::*;
pub use rounds::*;
pub use slots::*;
pub use start_stop::*;
pub use sync::*;

/// The probe seeds our own score, so that the primary can later update it
/// (the stock guard writes only scores that exist): a running primary
/// keeps its promotion, a standby starts with none, except the named sync
/// standby, which keeps its own ([`score_at_stop_or_start`]: a cleanup
/// re-probes every node, and the primary dying before its next pass must
/// still find a node to promote). `None`: leave it.
pub fn probe_score(plan: &Plan, in_recovery: bool) -> Option<Score> {
    if in_recovery {
        score_at_stop_or_start(plan)
    } else {
        Some(Score::PromoteMe)
    }
}

/// `<rsc>-receiver-status` (`check_wal_receiver`): whether this node's
/// WAL receiver runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiverStatus {
    /// A primary has none.
    Primary,
    Streaming,
    /// A standby whose WAL receiver does not stream.
    Error,
}

impl ReceiverStatus {
    /// The stock words.
    pub fn wire(self) -> &'static str {
        match self {
            ReceiverStatus::Primary => "normal (master)",
            ReceiverStatus::Streaming => "normal",
            ReceiverStatus::Error => "ERROR",
        }
    }
}

/// This node's [`ReceiverStatus`].
pub fn receiver_status(in_recovery: bool, streaming: bool) -> ReceiverStatus {
    match (in_recovery, streaming) {
        (false, _) => ReceiverStatus::Primary,
        (true, true) => ReceiverStatus::Streaming,
        (true, false) => ReceiverStatus::Error,
    }
}

/// Replication slot names: `<name>_<node>` with the node lower-cased and
/// `.`/`-` mapped to `_`.
pub fn slot_name(base: &str, node: &str) -> String {
    let node: String = node
        .to_lowercase()
        .chars()
        .map(|c| if c == '.' || c == '-' { '_' } else { c })
        .collect();
    format!("{base}_{node}")
}

#[cfg(test)]
mod fixture;

#[cfg(test)]
mod tests {
    use super::fixture::*;
    use super::*;

    #[test]
    fn probe_score_and_receiver_status() {
        let (c, mut v) = primary_fixture();
        assert_eq!(
            probe_score(&Plan::new(&c, &v), false),
            Some(Score::PromoteMe)
        );
        assert_eq!(
            probe_score(&Plan::new(&c, &v), true),
            Some(Score::CanNotPromote)
        );
        // The named sync standby keeps its score through a re-probe.
        let a = v.attributes.entry("pg01".into()).or_default();
        a.insert("master-pgsql".into(), "100".into());
        a.insert("pgsql-data-status".into(), "STREAMING|SYNC".into());
        assert_eq!(probe_score(&Plan::new(&c, &v), true), None);
        assert_eq!(receiver_status(false, false).wire(), "normal (master)");
        assert_eq!(receiver_status(true, true).wire(), "normal");
        assert_eq!(receiver_status(true, false).wire(), "ERROR");
    }

    #[test]
    fn slot_names() {
        assert_eq!(slot_name("slot", "PG-01.example"), "slot_pg_01_example");
    }
}
