//! The primary's side: its standbys' attributes from `pg_stat_replication`,
//! and `synchronous_standby_names`.
//!
//! The durability rule (ARCHITECTURE.md, "No acknowledged commit is lost"):
//! in sync mode the list names **one** standby, and only that standby may
//! hold a positive score. Scores move before the list does: the pass that
//! changes the list first takes every score away, and the new synchronous
//! standby gets its score only in a later pass, once its flushed WAL has
//! reached what the primary had flushed after the change. So a standby with
//! a positive score holds every commit a client saw acknowledged, and the
//! primary records it (`acked-also-on`). One exception: a score this agent
//! did not give (the stock agent's, an earlier version's, found when this
//! agent takes over a running primary) stays, as that agent left it, but
//! is recorded only once this agent has proven it the same way.

use super::plan::{
    Attr, AttrValue, DataStatus, Plan, RepConfig, Score, SenderState, Status, SyncRole,
};
use super::quorum::QuorumList;
use crate::core::crm_mon::ClusterView;
use crate::core::lsn::Lsn;

/// One row of `pg_stat_replication`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationRow {
    pub application_name: String,
    pub state: SenderState,
    pub sync: SyncRole,
    /// `flush_lsn`: what the standby reported flushed to its disk.
    pub flush: Option<Lsn>,
}

impl ReplicationRow {
    pub fn data_status(&self) -> DataStatus {
        DataStatus::Sender(self.state, self.sync)
    }

    fn streaming(&self) -> bool {
        self.state == SenderState::Streaming
    }
}

fn row_of<'r>(rows: &'r [ReplicationRow], node: &str) -> Option<&'r ReplicationRow> {
    rows.iter()
        .find(|r| r.application_name.to_lowercase() == node)
}

/// `synchronous_standby_names` as the agent manages it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncStandbys {
    /// `''`: asynchronous; commits never wait.
    Async,
    /// `FIRST 1 ("a", ...)`: commits wait for the first connected one. In
    /// steady state it names one standby; several only between a promote
    /// and the new primary's first pass over its standbys.
    First(Vec<String>),
    /// `FIRST n ("a", "dr1", ...)`, n the number listed: commits wait for
    /// the sync standby `a` and for every streaming standby outside the
    /// cluster (`external_standby_node_list`). The sync standby stays
    /// required, so to the cluster this is `FIRST 1 ("a")`
    /// ([`SyncStandbys::in_cluster`]).
    WithExternals {
        standby: String,
        externals: Vec<String>,
    },
    /// `ANY k ("a", "b", ...)`: quorum commit (rep_mode=quorum), a commit
    /// waits for any k of the listed standbys ([`super::quorum`]).
    Any(QuorumList),
}

/// The names of a `synchronous_standby_names` list (`a, "b", ...`), as
/// the stock agent compares them (lower-cased, quotes undone); `None` when
/// one is empty.
pub fn parse_standby_names(list: &str) -> Option<Vec<String>> {
    list.split(',')
        .map(|n| {
            let n = n.trim();
            let inner = n
                .strip_prefix('"')
                .and_then(|n| n.strip_suffix('"'))
                .unwrap_or(n);
            (!inner.is_empty()).then(|| inner.replace("\"\"", "\"").to_lowercase())
        })
        .collect()
}

impl SyncStandbys {
    /// The setting's value (before quoting for postgresql.conf).
    pub fn value(&self) -> String {
        let listed = self.listed();
        let quoted: Vec<String> = listed
            .iter()
            .map(|n| crate::core::quote::standby_name(n))
            .collect();
        // Every listed standby is required with externals; one otherwise.
        let required = match self {
            SyncStandbys::Async => return String::new(),
            SyncStandbys::Any(list) => return list.value(),
            SyncStandbys::First(_) => 1,
            SyncStandbys::WithExternals { .. } => listed.len(),
        };
        format!("FIRST {required} ({})", quoted.join(", "))
    }

    /// Read the current setting back. The stock agent's single name
    /// (`"node2"`) reads as a one-element list; `FIRST n` with every listed
    /// standby required, as the list with externals.
    pub fn parse(value: &str) -> Option<SyncStandbys> {
        let v = value.trim();
        if v.is_empty() {
            return Some(SyncStandbys::Async);
        }
        let keyword = |k: &str| v.get(..k.len()).is_some_and(|p| p.eq_ignore_ascii_case(k));
        if keyword("ANY") {
            return QuorumList::parse(v).map(SyncStandbys::Any);
        }
        let (required, list) = match keyword("FIRST").then(|| &v["FIRST".len()..]) {
            Some(rest) => {
                let rest = rest.trim_start();
                let digits = rest
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(rest.len());
                let n: usize = rest[..digits].parse().ok()?;
                let list = rest[digits..].trim().strip_prefix('(')?.strip_suffix(')')?;
                (n, list)
            }
            None => (1, v),
        };
        let names = parse_standby_names(list)?;
        match required {
            1 => Some(SyncStandbys::First(names)),
            n if n == names.len() => {
                let mut names = names.into_iter();
                let standby = names.next()?;
                Some(SyncStandbys::WithExternals {
                    standby,
                    externals: names.collect(),
                })
            }
            _ => None,
        }
    }

    /// The one standby of the cluster named, when exactly one is.
    pub fn sole(&self) -> Option<&str> {
        match self {
            SyncStandbys::First(names) if names.len() == 1 => Some(&names[0]),
            SyncStandbys::WithExternals { standby, .. } => Some(standby),
            _ => None,
        }
    }

    /// The list as far as the cluster's nodes go: without the standbys
    /// outside it, which add waits but never a candidate.
    pub fn in_cluster(&self) -> SyncStandbys {
        match self {
            SyncStandbys::WithExternals { standby, .. } => {
                SyncStandbys::First(vec![standby.clone()])
            }
            other => other.clone(),
        }
    }

    /// Every standby listed, in order.
    pub fn listed(&self) -> Vec<&str> {
        match self {
            SyncStandbys::Async => Vec::new(),
            SyncStandbys::First(names) => names.iter().map(String::as_str).collect(),
            SyncStandbys::WithExternals { standby, externals } => std::iter::once(standby)
                .chain(externals)
                .map(String::as_str)
                .collect(),
            SyncStandbys::Any(list) => list.standbys.iter().map(String::as_str).collect(),
        }
    }

    /// The list as quorum mode reads it. A `FIRST 1` list acknowledges
    /// with one of its standbys, which `ANY 1` of the same standbys allows
    /// too: read so, the invariant of [`super::quorum::overlaps`] holds for
    /// whatever it acknowledged (a list set in sync mode, or by hand).
    pub fn as_quorum(&self) -> QuorumList {
        match self {
            SyncStandbys::Any(list) => list.clone(),
            SyncStandbys::Async => QuorumList::new(0, &[]),
            other => QuorumList::new(1, &other.names()),
        }
    }

    /// The standbys outside the cluster listed.
    pub fn externals(&self) -> &[String] {
        match self {
            SyncStandbys::WithExternals { externals, .. } => externals,
            _ => &[],
        }
    }

    /// The standbys of the cluster listed.
    fn names(&self) -> Vec<&str> {
        match self {
            SyncStandbys::WithExternals { standby, .. } => vec![standby.as_str()],
            other => other.listed(),
        }
    }
}

/// The ceiling recorded when the list took its current value, as the
/// primary keeps it between monitors (`LIST<TAB>LSN`).
/// A standby named alone that has flushed this far holds every commit
/// acknowledged before it was named, and every later one waited for it.
/// Any ceiling read after the list took effect is valid, and the first is
/// the lowest: reading a new one at every monitor made a standby a little
/// behind under a steady write load chase a moving target, never scored,
/// and the cluster without a promotable node.
///
/// The record says the ceiling was read after a checkpoint
/// ([`super::RoundWait::Checkpoint`]); one without that word, written by
/// an earlier version of the agent, is not trusted.
pub fn recorded_ceiling(record: Option<&str>, current: &SyncStandbys) -> Option<Lsn> {
    let fields: Vec<&str> = record?.trim_end_matches('\n').split('\t').collect();
    match fields.as_slice() {
        [list, lsn, CHECKPOINTED] if *list == current.in_cluster().value() => lsn.parse().ok(),
        _ => None,
    }
}

const CHECKPOINTED: &str = "after-checkpoint";

/// The record [`recorded_ceiling`] reads.
pub fn ceiling_record(current: &SyncStandbys, ceiling: Lsn) -> String {
    format!(
        "{}\t{ceiling}\t{CHECKPOINTED}\n",
        current.in_cluster().value()
    )
}

/// What the primary knows of PostgreSQL's flag that makes committing
/// sessions wait for the listed standbys (`sync_standbys_defined`), which
/// only the checkpointer sets when it takes a reload
/// ([`super::RoundWait::SyncFlag`]). Kept in tmpdir for one postmaster
/// (its start time is in the note), and removed when the list is set to
/// name nobody.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncFlag {
    /// A checkpoint that started after a list naming a standby took
    /// effect has completed: the flag is set, and stays set while the
    /// list names somebody.
    Proven,
    /// A checkpoint was asked for once the list showed in effect, right
    /// after a WAL record that ends here; it had not completed in time.
    /// Any completed checkpoint whose redo point is at or past this mark
    /// started after it, and proves the flag.
    Pending(Lsn),
}

/// The note [`sync_flag_note`] wrote, if this postmaster (started at
/// `postmaster_start`) wrote it.
pub fn recorded_sync_flag(note: Option<&str>, postmaster_start: &str) -> Option<SyncFlag> {
    let fields: Vec<&str> = note?.trim_end_matches('\n').split('\t').collect();
    match fields.as_slice() {
        ["proven", start] if *start == postmaster_start => Some(SyncFlag::Proven),
        ["pending", start, mark] if *start == postmaster_start => {
            mark.parse().ok().map(SyncFlag::Pending)
        }
        _ => None,
    }
}

/// The note [`recorded_sync_flag`] reads.
pub fn sync_flag_note(flag: SyncFlag, postmaster_start: &str) -> String {
    match flag {
        SyncFlag::Proven => format!("proven\t{postmaster_start}\n"),
        SyncFlag::Pending(mark) => format!("pending\t{postmaster_start}\t{mark}\n"),
    }
}

/// A `synchronous_commit` setting, where it applies (`role x in database
/// y`, `the server`) and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeakCommit {
    pub scope: String,
    pub value: String,
}

impl WeakCommit {
    /// Below `on`: PostgreSQL acknowledges such a commit before the sync
    /// standby has flushed it (`remote_write`: written, not flushed), so a
    /// failover may lose it whatever the agent does.
    pub fn is_weak(&self) -> bool {
        matches!(self.value.as_str(), "off" | "local" | "remote_write")
    }

    /// `role app in every database sets local`: how the warning and
    /// `rustpgctl status` say it.
    pub fn words(&self) -> String {
        format!("{} sets {}", self.scope, self.value)
    }
}

/// The primary's warning about [`WeakCommit`]s, once per change: `noted`
/// is what the last warning said (`None`: never warned). Returns the new
/// note and the line for the log when it differs.
pub fn weak_commit_warning(found: &[WeakCommit], noted: Option<&str>) -> Option<(String, String)> {
    let note: Vec<String> = found
        .iter()
        .filter(|w| w.is_weak())
        .map(WeakCommit::words)
        .collect();
    let note = note.join("; ");
    if noted.unwrap_or("") == note {
        return None;
    }
    let line = if note.is_empty() {
        "No role, database or server setting makes synchronous_commit weaker than on any more."
            .to_string()
    } else {
        format!(
            "synchronous_commit below on: {note}. Those commits are acknowledged before the sync \
             standby has flushed them, and a failover can lose them."
        )
    };
    Some((note, line))
}

/// The primary's monitor about itself: `LATEST`, `PRI`, its 1000, and no election
/// positions anywhere: they mean nothing while a primary runs, and a
/// standby probed with no primary in sight may have left some behind. Nor
/// another node's `acked-also-on` or `acked-on-any`, left from its own time as the primary:
/// it proves nothing once this node is promoted (its own is the pass's).
pub fn primary_self(plan: &mut Plan) {
    let me = plan.cfg.me.clone();
    plan.data_status(&me, DataStatus::Latest);
    plan.status(&me, Status::Pri);
    // Written only when it is not there (a restarted attrd forgets it, and
    // Pacemaker would then demote a healthy primary).
    plan.own_score(Score::PromoteMe);
    for n in plan.cfg.node_list.clone() {
        plan.delete(&n, Attr::XlogLoc);
        plan.delete(&n, Attr::XlogTli);
        if n != me {
            plan.delete(&n, Attr::AckedAlsoOn);
            plan.delete(&n, Attr::AckedOnAny);
        }
    }
}

/// What the primary read for one pass over its standbys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrimaryFacts<'a> {
    pub rows: &'a [ReplicationRow],
    /// `synchronous_standby_names` in effect.
    pub current: &'a SyncStandbys,
    /// The primary's flushed WAL position, read after `current` took effect
    /// (`None`: not read). A sync standby that has flushed this far holds
    /// every commit acknowledged before the list named it.
    pub ceiling: Option<Lsn>,
    /// What this postmaster's note in tmpdir says of the sync flag
    /// ([`recorded_sync_flag`]; `None`: no note of this postmaster's).
    pub sync_flag: Option<SyncFlag>,
}

/// What the pass asks the action to do besides the attribute writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncPass {
    /// Set `synchronous_standby_names` to this (the scores have already
    /// been taken away in the plan: apply them first).
    pub change: Option<SyncStandbys>,
    /// The named sync standby has not yet flushed up to `ceiling`, and
    /// holds no score this agent gave: read a ceiling and look again once
    /// it has. A score another agent gave it stays meanwhile, unrecorded.
    pub awaiting: Option<String>,
}

/// A node whose own agent found it diverged (`DIVERGED`, see
/// [`super::diverge`]): PostgreSQL streams it at most up to the fork, over
/// and over, so its rows in `pg_stat_replication` count for nothing until
/// its agent clears the verdict.
fn diverged(cfg: &RepConfig, view: &ClusterView, node: &str) -> bool {
    view.attribute(node, &Attr::DataStatus.name(&cfg.rsc))
        .and_then(DataStatus::parse)
        == Some(DataStatus::Diverged)
}

/// A standby's row, when it counts: a `DIVERGED` node's does not, nor
/// that of a node that left the cluster. PostgreSQL keeps the row of a
/// standby cut off without a reset until `wal_sender_timeout` (60 s by
/// default); Pacemaker has already erased its score, and it comes back
/// only through fencing or a restart. Trusting that row kept a partitioned
/// sync standby named, and every commit waiting, until it was back.
pub(super) fn counted_row<'r>(
    cfg: &RepConfig,
    view: &ClusterView,
    rows: &'r [ReplicationRow],
    node: &str,
) -> Option<&'r ReplicationRow> {
    row_of(rows, node).filter(|_| view.online(node) && !diverged(cfg, view, node))
}

/// `control_slave_status` on the primary: every other node's data-status,
/// score and status from `pg_stat_replication`, and in sync mode the list
/// it wants. A `DIVERGED` node, or one that left the cluster, counts as not
/// connected ([`counted_row`]).
pub fn control_standbys(plan: &mut Plan, facts: &PrimaryFacts) -> SyncPass {
    let cfg = plan.cfg;
    let wanted = if cfg.sync_mode() {
        wanted_sync_standbys(cfg, plan.view, facts.rows, facts.current)
    } else {
        facts.current.clone()
    };
    // Standbys outside the cluster come and go without touching a score:
    // the sync standby stays required whatever else is listed.
    let settled = wanted == *facts.current || externals_only(cfg, facts.current, &wanted);
    let few_nodes = cfg.node_list.len() <= 2;
    let mut awaiting = None;
    let mut proven = None;
    for target in cfg.others() {
        let row = counted_row(cfg, plan.view, facts.rows, target);
        let data_status = row.map_or(DataStatus::Disconnect, ReplicationRow::data_status);
        plan.data_status(target, data_status);
        let score = if cfg.sync_mode() {
            let named_sync = settled
                && facts.current.sole() == Some(target)
                && data_status == DataStatus::STREAMING_SYNC;
            let reached =
                matches!((row.and_then(|r| r.flush), facts.ceiling), (Some(f), Some(c)) if f >= c);
            let scored = plan.has_positive_score(target);
            let caught_up = reached || (scored && scored_by_this_agent(plan, facts, target));
            if named_sync && !caught_up {
                awaiting = Some(target.to_string());
            }
            if named_sync && caught_up {
                proven = Some(target);
                Score::CanPromote
            } else if named_sync && scored {
                // A score this agent cannot vouch for (the stock agent's,
                // or an earlier version's): kept, since it is what lets
                // Pacemaker promote the standby if this primary dies now,
                // as the agent that gave it would have; recorded only once
                // the standby has flushed a ceiling read after this
                // postmaster's checkpoint (rule 3).
                Score::CanPromote
            } else {
                Score::CanNotPromote
            }
        } else {
            // Asynchronous: the stock agent's scores.
            match data_status {
                DataStatus::STREAMING_SYNC => Score::CanPromote,
                DataStatus::STREAMING_ASYNC if few_nodes => Score::CanPromote,
                _ => Score::CanNotPromote,
            }
        };
        if settled || !cfg.sync_mode() {
            plan.other_score(target, score);
        } else {
            plan.revoke_score(target);
        }
        if let Some(s) = standby_status(data_status) {
            plan.status(target, s);
        }
    }
    // The score made durable on this node: a pass that changes the list
    // scores nobody, so the record goes with the scores, before the list.
    let me = cfg.me.as_str();
    match proven {
        Some(n) => plan.set(me, AttrValue::AckedAlsoOn(n.to_string())),
        None => plan.delete(me, Attr::AckedAlsoOn),
    }
    // Quorum mode's record means nothing here.
    plan.delete(me, Attr::AckedOnAny);
    SyncPass {
        change: (wanted != *facts.current).then_some(wanted),
        awaiting,
    }
}

/// The positive score `target` holds is this agent's own: its pass gave it
/// once `target` had flushed a ceiling read after the sync flag was proven
/// (rule 3), and recorded it in the same pass. Both marks are this agent's
/// alone: this primary's `acked-also-on` names `target`, and this
/// postmaster's note says the flag is proven (no note of this postmaster's:
/// another agent ran it until now, or an earlier version that proved no
/// flag). A score the stock agent gave (at once, on `STREAMING|SYNC`, maybe
/// before the checkpointer made commits wait for `target`) has neither.
fn scored_by_this_agent(plan: &Plan, facts: &PrimaryFacts, target: &str) -> bool {
    facts.sync_flag == Some(SyncFlag::Proven)
        && plan.current(&plan.cfg.me, Attr::AckedAlsoOn) == Some(target)
}

/// The status the primary gives a standby with this data-status (`None`
/// for `DISCONNECT`: its own agent sets it when it can).
pub(super) fn standby_status(data_status: DataStatus) -> Option<Status> {
    let streaming = |role| DataStatus::Sender(SenderState::Streaming, role);
    Some(match data_status {
        DataStatus::Disconnect => return None,
        d if d == streaming(SyncRole::Sync) => Status::HsSync,
        d if d == streaming(SyncRole::Async) => Status::HsAsync,
        d if d == streaming(SyncRole::Potential) => Status::HsPotential,
        d if d == streaming(SyncRole::Quorum) => Status::HsQuorum,
        _ => Status::HsConnected,
    })
}

/// Which one standby to name: the former primary of a switchover while
/// that preference holds and it streams, else the named one while it
/// streams, else the first streaming one in node_list order (only a
/// [`counted_row`] streams). With nobody streaming the list stays
/// as it is (commits wait), unless [`may_run_async`].
pub fn wanted_sync_standbys(
    cfg: &RepConfig,
    view: &ClusterView,
    rows: &[ReplicationRow],
    current: &SyncStandbys,
) -> SyncStandbys {
    let others: Vec<&str> = cfg.others().collect();
    let streaming =
        |n: &&str| counted_row(cfg, view, rows, n).is_some_and(ReplicationRow::streaming);
    let preferred = cfg.sync_preference.as_deref();
    let named = current.sole();
    let pick = preferred
        .into_iter()
        .chain(named)
        .filter(|n| others.contains(n))
        .find(streaming)
        .or_else(|| others.iter().copied().find(streaming));
    let in_cluster = match pick {
        Some(n) => SyncStandbys::First(vec![n.to_string()]),
        None if may_run_async(view, current) => SyncStandbys::Async,
        None => current.in_cluster(),
    };
    with_streaming_externals(cfg, rows, in_cluster)
}

/// The list with the standbys outside the cluster that stream now, in
/// `external_standby_node_list` order, after a sole sync standby. Never
/// beside `''` (commits wait for nobody) nor the promotion list.
fn with_streaming_externals(
    cfg: &RepConfig,
    rows: &[ReplicationRow],
    in_cluster: SyncStandbys,
) -> SyncStandbys {
    let externals: Vec<String> = cfg
        .external_standbys
        .iter()
        .filter(|n| {
            let named: Vec<&ReplicationRow> = rows
                .iter()
                .filter(|r| r.application_name.to_lowercase() == **n)
                .collect();
            // One connection by that name, streaming, that has reported a
            // flush: two could fill the list's places without the sync
            // standby, and one that never reports would hang every commit.
            matches!(named.as_slice(), [r] if r.streaming() && r.flush.is_some())
        })
        .cloned()
        .collect();
    match in_cluster.sole() {
        Some(standby) if !externals.is_empty() => SyncStandbys::WithExternals {
            standby: standby.to_string(),
            externals,
        },
        _ => in_cluster,
    }
}

/// From `current` to `wanted` only standbys outside the cluster join or
/// leave: the same sync standby, and every name after it in either list is
/// one of `external_standby_node_list`. A list read back with other names
/// after the sync standby (the stock agent's, which requires every
/// streaming node of the cluster too, each of them scored) changes as the
/// cluster's list does: scores first.
pub fn externals_only(cfg: &RepConfig, current: &SyncStandbys, wanted: &SyncStandbys) -> bool {
    let configured = |l: &SyncStandbys| {
        l.externals()
            .iter()
            .all(|n| cfg.external_standbys.contains(n))
    };
    current.sole().is_some()
        && current.in_cluster() == wanted.in_cluster()
        && configured(current)
        && configured(wanted)
}

/// The standbys outside the cluster that `wanted` no longer lists: they
/// stopped streaming (the stock agent's warning names each).
pub fn dropped_externals<'a>(current: &'a SyncStandbys, wanted: &SyncStandbys) -> Vec<&'a str> {
    current
        .externals()
        .iter()
        .filter(|n| !wanted.externals().contains(n))
        .map(String::as_str)
        .collect()
}

/// A primary stops waiting for standbys (`''`) only when it may: its
/// partition has quorum, and no node the list names can be promoted behind
/// its back: each has left the cluster, or runs no instance (Pacemaker
/// stopped it; it can come back only as a standby without a score, which
/// it earns only by streaming from this primary). A primary cut off from
/// the others, or whose standby merely lost its connection, keeps waiting,
/// and acknowledges nothing they lack.
pub fn may_run_async(view: &ClusterView, current: &SyncStandbys) -> bool {
    let out = |n: &&str| !view.online(n) || !view.runs_instance(n);
    view.quorum && current.names().iter().all(out)
}

/// The list a new primary starts with, set before it leaves recovery: every
/// other online node (the former primary first), so that no commit is
/// acknowledged by it alone; `''` when no other node is online. In quorum
/// mode `ANY k` of them (fewer when fewer are online), never a node that
/// says `DIVERGED`: the first record names the list, and a voter that can
/// never publish a position that counts would hold every election up.
pub fn promotion_list(cfg: &RepConfig, view: &ClusterView) -> SyncStandbys {
    if !cfg.waits_for_standbys() {
        return SyncStandbys::Async;
    }
    let mut names: Vec<String> = Vec::new();
    for n in cfg
        .sync_preference
        .as_deref()
        .into_iter()
        .chain(cfg.others())
    {
        let counts = !(cfg.quorum_mode() && diverged(cfg, view, n));
        if n != cfg.me && view.online(n) && counts && !names.iter().any(|m| m == n) {
            names.push(n.to_string());
        }
    }
    if names.is_empty() {
        return SyncStandbys::Async;
    }
    if cfg.quorum_mode() {
        let k = cfg.quorum_standbys.clamp(1, names.len());
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        return SyncStandbys::Any(QuorumList::new(k, &names));
    }
    SyncStandbys::First(names)
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::super::*;
    use super::QuorumList;
    use crate::config::RepMode;
    use crate::core::crm_mon::ClusterView;
    use crate::core::lsn::Lsn;

    #[test]
    fn the_primary_clears_stale_election_positions() {
        let (c, mut v) = primary_fixture();
        v.attributes
            .entry("pg03".into())
            .or_default()
            .insert("pgsql-xlog-loc".into(), "0000000004023E30".into());
        let mut p = Plan::new(&c, &v);
        primary_self(&mut p);
        assert_eq!(written(&p, "pg03", Attr::XlogLoc), Some(None));
        assert_eq!(
            written(&p, "pg02", Attr::XlogLoc),
            None,
            "nothing to delete"
        );
        assert_eq!(written(&p, "pg01", Attr::Status), Some(Some("PRI".into())));
        assert_eq!(
            written(&p, "pg01", Attr::DataStatus),
            Some(Some("LATEST".into()))
        );
    }

    /// The named sync standby gets its score only once it has flushed what
    /// the primary had flushed after naming it; the other one is async.
    #[test]
    fn the_named_sync_standby_is_scored_once_caught_up() {
        let (c, v) = primary_fixture();
        let rows = [
            row("pg02", "STREAMING", "SYNC"),
            row("pg03", "STREAMING", "ASYNC"),
        ];
        let mut p = Plan::new(&c, &v);
        let out = pass(&mut p, &rows, &one("pg02"), None);
        assert_eq!(
            out,
            SyncPass {
                change: None,
                awaiting: Some("pg02".into())
            }
        );
        assert_eq!(
            written(&p, "pg02", Attr::Score),
            None,
            "no ceiling read yet"
        );
        assert_eq!(
            written(&p, "pg02", Attr::Status),
            Some(Some("HS:sync".into()))
        );
        assert_eq!(
            written(&p, "pg03", Attr::Status),
            Some(Some("HS:async".into()))
        );
        let mut p = Plan::new(&c, &v);
        let out = pass(&mut p, &rows, &one("pg02"), Some(101));
        assert_eq!(out.awaiting.as_deref(), Some("pg02"), "flushed 100 < 101");
        let mut p = Plan::new(&c, &v);
        let out = pass(&mut p, &rows, &one("pg02"), Some(100));
        assert_eq!(
            out,
            SyncPass {
                change: None,
                awaiting: None
            }
        );
        assert_eq!(written(&p, "pg02", Attr::Score), Some(Some("100".into())));
        assert_eq!(written(&p, "pg03", Attr::Score), None, "stays -INFINITY");
    }

    /// The issue's double fault: the sync standby's link drops while a third
    /// node streams. The list moves to pg03 and in the same pass pg02 loses
    /// its score, before the list changes; pg03 is not scored in that pass.
    /// The ceiling read when the list named its standby stays the one the
    /// standby must reach, for as long as the list is the same.
    #[test]
    fn the_ceiling_is_the_one_read_when_the_list_took_its_value() {
        let named = one("pg02");
        let record = ceiling_record(&named, Lsn(0x3000060));
        assert_eq!(
            recorded_ceiling(Some(&record), &named),
            Some(Lsn(0x3000060))
        );
        assert_eq!(recorded_ceiling(Some(&record), &one("pg03")), None);
        assert_eq!(recorded_ceiling(Some(&record), &SyncStandbys::Async), None);
        assert_eq!(recorded_ceiling(None, &named), None);
        assert_eq!(recorded_ceiling(Some("garbage"), &named), None);
        // Under a write load the primary's flush position moves on; the pass
        // compares with the recorded ceiling, so a standby that reached it is
        // scored although it is behind the primary now.
        let (c, v) = primary_fixture();
        let mut p = Plan::new(&c, &v);
        let mut behind = row("pg02", "STREAMING", "SYNC");
        behind.flush = Some(Lsn(0x3000060));
        let out = pass(
            &mut p,
            &[behind],
            &named,
            recorded_ceiling(Some(&record), &named).map(|l| l.0),
        );
        assert_eq!(out.awaiting, None);
        assert_eq!(written(&p, "pg02", Attr::Score), Some(Some("100".into())));
    }

    #[test]
    fn the_primary_warns_about_weak_commits_once_per_change() {
        let w = |scope: &str, value: &str| WeakCommit {
            scope: scope.into(),
            value: value.into(),
        };
        let found = [
            w("role app in every database", "local"),
            w("the server", "on"),
            w("every role in database reports", "remote_write"),
        ];
        let (note, line) = weak_commit_warning(&found, None).unwrap();
        assert_eq!(
            note,
            "role app in every database sets local; every role in database reports sets remote_write"
        );
        assert!(line.contains("a failover can lose them"), "{line}");
        assert_eq!(weak_commit_warning(&found, Some(&note)), None, "once");
        let (note, line) = weak_commit_warning(&[w("the server", "on")], Some(&note)).unwrap();
        assert_eq!(note, "");
        assert!(line.contains("any more"), "{line}");
        assert_eq!(weak_commit_warning(&[], None), None, "nothing to say");
    }

    #[test]
    fn the_sync_flag_note_belongs_to_one_postmaster() {
        let start = "2026-12-06 12:00:00.123+00";
        for flag in [SyncFlag::Proven, SyncFlag::Pending(Lsn(0x3000060))] {
            let note = sync_flag_note(flag, start);
            assert_eq!(recorded_sync_flag(Some(&note), start), Some(flag));
            assert_eq!(
                recorded_sync_flag(Some(&note), "2026-12-06 13:00:00.456+00"),
                None,
                "a restarted PostgreSQL starts its flag again"
            );
        }
        assert_eq!(recorded_sync_flag(None, start), None);
        assert_eq!(recorded_sync_flag(Some("proven\n"), start), None);
    }

    #[test]
    fn scores_move_before_the_list() {
        let (c, mut v) = primary_fixture();
        v.attributes
            .get_mut("pg02")
            .unwrap()
            .insert("master-pgsql".into(), "100".into());
        let rows = [row("pg03", "STREAMING", "ASYNC")];
        let mut p = Plan::new(&c, &v);
        let out = pass(&mut p, &rows, &one("pg02"), Some(0));
        assert_eq!(out.change, Some(one("pg03")));
        assert_eq!(
            written(&p, "pg02", Attr::Score),
            Some(Some("-INFINITY".into()))
        );
        assert_eq!(
            written(&p, "pg02", Attr::DataStatus),
            Some(Some("DISCONNECT".into()))
        );
        // pg03's -INFINITY is written again, though crm_mon shows it: a
        // raise an earlier pass wrote may not be in the CIB yet.
        assert_eq!(
            written(&p, "pg03", Attr::Score),
            Some(Some("-INFINITY".into()))
        );
        // A node with a score that is not the one named loses it.
        let v2 = with_attr(&v, "pg03", "master-pgsql", "100");
        let rows = [
            row("pg02", "STREAMING", "SYNC"),
            row("pg03", "STREAMING", "ASYNC"),
        ];
        let mut p = Plan::new(&c, &v2);
        pass(&mut p, &rows, &one("pg02"), Some(0));
        assert_eq!(
            written(&p, "pg03", Attr::Score),
            Some(Some("-INFINITY".into()))
        );
        assert_eq!(written(&p, "pg02", Attr::Score), None, "keeps its 100");
    }

    /// A sync standby cut off without a reset keeps its walsender row until
    /// `wal_sender_timeout`; once its node has left the cluster that row counts
    /// for nothing: the list moves to a standby that streams, with no record.
    #[test]
    fn the_stale_row_of_a_node_that_left_does_not_keep_it_named() {
        let (c, v) = primary_fixture();
        let mut v = with_attr(&v, "pg01", "pgsql-acked-also-on", "pg02");
        v.nodes.insert("pg02".into(), false);
        v.unpromoted = vec!["pg03".into()];
        let rows = [
            row("pg02", "STREAMING", "SYNC"),
            row("pg03", "STREAMING", "ASYNC"),
        ];
        let mut p = Plan::new(&c, &v);
        let out = pass(&mut p, &rows, &one("pg02"), Some(0));
        assert_eq!(out.change, Some(one("pg03")));
        assert_eq!(
            written(&p, "pg02", Attr::DataStatus),
            Some(Some("DISCONNECT".into()))
        );
        assert_eq!(written(&p, "pg02", Attr::Status), None);
        assert_eq!(written(&p, "pg01", Attr::AckedAlsoOn), Some(None));
        // The same row while its node is a member: it stays named.
        let (c, v) = primary_fixture();
        let mut p = Plan::new(&c, &v);
        assert_eq!(pass(&mut p, &rows, &one("pg02"), Some(0)).change, None);
    }

    /// The primary records on its own node the standby it scored 100, in the
    /// pass that scores it, and takes the record away in the pass that takes
    /// the score away, before the list changes (rule 2).
    #[test]
    fn the_primary_records_the_standby_that_holds_every_acked_commit() {
        let (c, mut v) = primary_fixture();
        let rows = [
            row("pg02", "STREAMING", "SYNC"),
            row("pg03", "STREAMING", "ASYNC"),
        ];
        let mut p = Plan::new(&c, &v);
        pass(&mut p, &rows, &one("pg02"), Some(101));
        assert_eq!(
            written(&p, "pg01", Attr::AckedAlsoOn),
            None,
            "not caught up"
        );
        let mut p = Plan::new(&c, &v);
        pass(&mut p, &rows, &one("pg02"), Some(100));
        assert_eq!(
            written(&p, "pg01", Attr::AckedAlsoOn),
            Some(Some("pg02".into()))
        );
        assert_eq!(Attr::AckedAlsoOn.name("pgsql"), "pgsql-acked-also-on");
        assert_eq!(Attr::AckedAlsoOn.lifetime(), Lifetime::Forever);
        // Recorded and scored: written once, not on every pass.
        v.attributes
            .entry("pg01".into())
            .or_default()
            .insert("pgsql-acked-also-on".into(), "pg02".into());
        v.attributes
            .get_mut("pg02")
            .unwrap()
            .insert("master-pgsql".into(), "100".into());
        let mut p = Plan::new(&c, &v);
        pass(&mut p, &rows, &one("pg02"), None);
        assert_eq!(written(&p, "pg01", Attr::AckedAlsoOn), None);
        // pg02's link drops: the list moves to pg03, and the record goes with
        // pg02's score in that pass.
        let mut p = Plan::new(&c, &v);
        let out = pass(&mut p, &rows[1..], &one("pg02"), None);
        assert_eq!(out.change, Some(one("pg03")));
        assert_eq!(written(&p, "pg01", Attr::AckedAlsoOn), Some(None));
        // A former primary's record goes once this node is the primary (its
        // monitor about itself), and its own stays for the pass.
        let former = with_attr(&v, "pg03", "pgsql-acked-also-on", "pg02");
        let mut p = Plan::new(&c, &former);
        primary_self(&mut p);
        assert_eq!(written(&p, "pg03", Attr::AckedAlsoOn), Some(None));
        assert_eq!(written(&p, "pg01", Attr::AckedAlsoOn), None);
        // Asynchronous replication records nobody.
        let c_async = cfg(RepMode::Async, &["pg01", "pg02", "pg03"]);
        let mut p = Plan::new(&c_async, &v);
        pass(&mut p, &rows, &SyncStandbys::Async, None);
        assert_eq!(written(&p, "pg01", Attr::AckedAlsoOn), Some(None));
    }

    /// This agent takes over a running primary from the stock agent (the
    /// migration), or from an earlier version: the named sync standby has
    /// a score of 100 that agent gave, perhaps before the checkpointer made
    /// commits wait for it. It is no proof: the standby keeps it (it is
    /// what lets Pacemaker promote it if the primary dies now, as the
    /// stock agent would), but the primary records nobody and asks for the
    /// proof (a ceiling, read after this postmaster's checkpoint). Once the
    /// standby has flushed the ceiling, it is recorded.
    #[test]
    fn a_score_another_agent_gave_is_kept_but_recorded_only_after_the_proof() {
        let (c, v) = primary_fixture();
        let v = with_attr(&v, "pg02", "master-pgsql", "100");
        let v = with_attr(&v, "pg02", "pgsql-data-status", "STREAMING|SYNC");
        let v = with_attr(&v, "pg02", "pgsql-status", "HS:sync");
        let rows = [
            row("pg02", "STREAMING", "SYNC"),
            row("pg03", "STREAMING", "ASYNC"),
        ];
        // The stock agent's list, as PostgreSQL shows it.
        let stock = SyncStandbys::parse(r#""pg02""#).unwrap();
        assert_eq!(stock, one("pg02"));
        // No note of this postmaster's, and none with the flag proven but
        // no record of ours (this agent proved the flag, the standby has
        // not reached the ceiling yet): the proof is asked for, the score
        // stays, nothing is recorded.
        for flag in [
            None,
            Some(SyncFlag::Pending(Lsn(90))),
            Some(SyncFlag::Proven),
        ] {
            for ceiling in [None, Some(101)] {
                let mut p = Plan::new(&c, &v);
                let out = pass_with_flag(&mut p, &rows, &stock, ceiling, flag);
                let case = format!("{flag:?} {ceiling:?}");
                assert_eq!(
                    out,
                    SyncPass {
                        change: None,
                        awaiting: Some("pg02".into())
                    },
                    "{case}"
                );
                assert_eq!(written(&p, "pg02", Attr::Score), None, "kept: {case}");
                assert_eq!(written(&p, "pg01", Attr::AckedAlsoOn), None, "{case}");
                assert!(p.has_positive_score("pg02"), "{case}");
            }
        }
        // A record an earlier version wrote, with no note of this
        // postmaster's: it proves nothing either, and goes until the proof.
        let earlier = with_attr(&v, "pg01", "pgsql-acked-also-on", "pg02");
        let mut p = Plan::new(&c, &earlier);
        let out = pass_with_flag(&mut p, &rows, &stock, None, None);
        assert_eq!(out.awaiting.as_deref(), Some("pg02"));
        assert_eq!(written(&p, "pg01", Attr::AckedAlsoOn), Some(None));
        assert_eq!(written(&p, "pg02", Attr::Score), None, "kept");
        // The standby has flushed the ceiling read after the checkpoint:
        // recorded, whatever the note says (the ceiling is read only once
        // the flag is proven).
        for flag in [None, Some(SyncFlag::Proven)] {
            let mut p = Plan::new(&c, &v);
            let out = pass_with_flag(&mut p, &rows, &stock, Some(100), flag);
            assert_eq!(out.awaiting, None);
            assert_eq!(
                written(&p, "pg01", Attr::AckedAlsoOn),
                Some(Some("pg02".into()))
            );
            assert_eq!(written(&p, "pg02", Attr::Score), None, "kept");
        }
        // A score spelled otherwise (an operator's, another tool's) stays
        // positive as before: the primary writes it as its own 100.
        let odd = with_attr(&v, "pg02", "master-pgsql", "1000");
        let mut p = Plan::new(&c, &odd);
        let out = pass_with_flag(&mut p, &rows, &stock, None, None);
        assert_eq!(out.awaiting.as_deref(), Some("pg02"));
        assert_eq!(written(&p, "pg02", Attr::Score), Some(Some("100".into())));
        assert_eq!(written(&p, "pg01", Attr::AckedAlsoOn), None);
    }

    /// This agent's own score: recorded by this primary and the sync flag
    /// proven under this postmaster. The pass is as it always was: nothing
    /// asked for, nothing written, though no ceiling is known or the
    /// standby's flush is not reported.
    #[test]
    fn this_agent_s_own_score_needs_no_new_proof() {
        let (c, v) = primary_fixture();
        let v = with_attr(&v, "pg02", "master-pgsql", "100");
        let v = with_attr(&v, "pg02", "pgsql-data-status", "STREAMING|SYNC");
        let v = with_attr(&v, "pg02", "pgsql-status", "HS:sync");
        let v = with_attr(&v, "pg01", "pgsql-acked-also-on", "pg02");
        let v = with_attr(&v, "pg03", "pgsql-data-status", "DISCONNECT");
        let mut unreported = row("pg02", "STREAMING", "SYNC");
        unreported.flush = None;
        for rows in [vec![row("pg02", "STREAMING", "SYNC")], vec![unreported]] {
            for ceiling in [None, Some(101)] {
                let mut p = Plan::new(&c, &v);
                let out =
                    pass_with_flag(&mut p, &rows, &one("pg02"), ceiling, Some(SyncFlag::Proven));
                assert_eq!(
                    out,
                    SyncPass {
                        change: None,
                        awaiting: None
                    }
                );
                assert!(p.writes.is_empty(), "{:?}", p.writes);
            }
        }
        // The record names another node: the score is not this one's.
        let other = with_attr(&v, "pg01", "pgsql-acked-also-on", "pg03");
        let mut p = Plan::new(&c, &other);
        let rows = [row("pg02", "STREAMING", "SYNC")];
        let out = pass_with_flag(&mut p, &rows, &one("pg02"), None, Some(SyncFlag::Proven));
        assert_eq!(out.awaiting.as_deref(), Some("pg02"));
        assert_eq!(written(&p, "pg01", Attr::AckedAlsoOn), Some(None));
    }

    /// Nobody streams: commits keep waiting unless every named node left the
    /// cluster or runs no instance, and this partition has quorum.
    #[test]
    fn the_list_empties_only_with_quorum_and_the_named_nodes_gone() {
        let (c, mut v) = primary_fixture();
        v.unpromoted = vec!["pg02".into(), "pg03".into()];
        let rows = [row("pg02", "CATCHUP", "POTENTIAL")];
        let mut p = Plan::new(&c, &v);
        assert_eq!(
            pass(&mut p, &rows, &one("pg03"), None).change,
            None,
            "pg03 still runs a standby"
        );
        assert_eq!(
            written(&p, "pg02", Attr::Status),
            Some(Some("HS:connected".into()))
        );
        assert_eq!(
            written(&p, "pg03", Attr::DataStatus),
            Some(Some("DISCONNECT".into()))
        );
        assert_eq!(
            written(&p, "pg03", Attr::Status),
            None,
            "DISCONNECT leaves status alone"
        );
        let mut running = view(&["pg01", "pg02", "pg03"], &[], &[]);
        running.quorum = true;
        running.unpromoted = vec!["pg03".into()];
        assert!(
            !may_run_async(&running, &one("pg03")),
            "pg03 runs a standby"
        );
        running.unpromoted.clear();
        assert!(
            may_run_async(&running, &one("pg03")),
            "Pacemaker stopped pg03"
        );
        let mut gone = view(&["pg01", "pg02"], &["pg03"], &[]);
        gone.unpromoted = vec!["pg02".into()];
        assert!(!may_run_async(&gone, &one("pg03")), "no quorum");
        let gone = ClusterView {
            quorum: true,
            ..gone
        };
        assert!(may_run_async(&gone, &one("pg03")));
        assert!(!may_run_async(
            &gone,
            &SyncStandbys::First(vec!["pg03".into(), "pg02".into()])
        ));
        assert_eq!(
            wanted_sync_standbys(&c, &gone, &rows, &one("pg03")),
            SyncStandbys::Async
        );
    }

    #[test]
    fn the_named_standby_stays_while_it_streams() {
        let (c, v) = primary_fixture();
        let rows = [
            row("pg02", "STREAMING", "ASYNC"),
            row("pg03", "STREAMING", "SYNC"),
        ];
        assert_eq!(
            wanted_sync_standbys(&c, &v, &rows, &one("pg03")),
            one("pg03")
        );
        // From async or a promote's list, the first streaming one in node_list order.
        assert_eq!(
            wanted_sync_standbys(&c, &v, &rows, &SyncStandbys::Async),
            one("pg02")
        );
        let promote_list = SyncStandbys::First(vec!["pg03".into(), "pg02".into()]);
        assert_eq!(
            wanted_sync_standbys(&c, &v, &rows, &promote_list),
            one("pg02")
        );
    }

    #[test]
    fn a_former_primary_is_preferred_as_sync_until_it_is() {
        let (mut c, v) = primary_fixture();
        c.sync_preference = Some("pg03".into());
        let rows = [
            row("pg02", "STREAMING", "SYNC"),
            row("pg03", "STREAMING", "ASYNC"),
        ];
        assert_eq!(
            wanted_sync_standbys(&c, &v, &rows, &one("pg02")),
            one("pg03")
        );
        c.sync_preference = Some("pg09".into());
        assert_eq!(
            wanted_sync_standbys(&c, &v, &rows, &one("pg02")),
            one("pg02")
        );
    }

    #[test]
    fn a_new_primary_names_every_online_standby() {
        let (mut c, mut v) = primary_fixture();
        c.sync_preference = Some("pg03".into());
        assert_eq!(
            promotion_list(&c, &v),
            SyncStandbys::First(vec!["pg03".into(), "pg02".into()])
        );
        v.nodes.insert("pg02".into(), false);
        v.nodes.insert("pg03".into(), false);
        assert_eq!(promotion_list(&c, &v), SyncStandbys::Async);
        c.rep_mode = RepMode::Async;
        assert_eq!(promotion_list(&c, &v), SyncStandbys::Async);
    }

    #[test]
    fn async_mode_scores_depend_on_the_node_count() {
        let rows = [row("pg02", "STREAMING", "ASYNC")];
        let two = cfg(RepMode::Async, &["pg01", "pg02"]);
        let v = view(
            &["pg01", "pg02"],
            &[],
            &[("pg02", "master-pgsql", "-INFINITY")],
        );
        let mut p = Plan::new(&two, &v);
        assert_eq!(pass(&mut p, &rows, &SyncStandbys::Async, None).change, None);
        assert_eq!(written(&p, "pg02", Attr::Score), Some(Some("100".into())));
        let three = cfg(RepMode::Async, &["pg01", "pg02", "pg03"]);
        let mut p = Plan::new(&three, &v);
        pass(&mut p, &rows, &SyncStandbys::Async, None);
        assert_eq!(
            written(&p, "pg02", Attr::Score),
            None,
            "stays -INFINITY with 3 nodes"
        );
    }

    #[test]
    fn application_names_match_exactly_ignoring_case() {
        let (c, v) = primary_fixture();
        let mut p = Plan::new(&c, &v);
        // "pg020" must not count as pg02; "PG03" is pg03.
        let rows = [
            row("pg020", "STREAMING", "SYNC"),
            row("PG03", "STREAMING", "SYNC"),
        ];
        pass(&mut p, &rows, &SyncStandbys::Async, None);
        assert_eq!(
            written(&p, "pg02", Attr::DataStatus),
            Some(Some("DISCONNECT".into()))
        );
        assert_eq!(
            written(&p, "pg03", Attr::DataStatus),
            Some(Some("STREAMING|SYNC".into()))
        );
    }

    #[test]
    fn sync_standby_names_round_trip() {
        for s in [
            SyncStandbys::Async,
            SyncStandbys::First(vec!["pg02".into()]),
            SyncStandbys::First(vec!["pg02".into(), "node\"x".into()]),
            SyncStandbys::WithExternals {
                standby: "pg02".into(),
                externals: vec!["dr1".into(), "dr\"2".into()],
            },
            SyncStandbys::Any(QuorumList::new(2, &["pg02", "pg03", "pg04"])),
        ] {
            assert_eq!(
                SyncStandbys::parse(&s.value()),
                Some(s.clone()),
                "{}",
                s.value()
            );
        }
        assert_eq!(
            SyncStandbys::First(vec!["a".into(), "b".into()]).value(),
            r#"FIRST 1 ("a", "b")"#
        );
        // The stock agent's single name.
        assert_eq!(
            SyncStandbys::parse(r#""node2""#),
            Some(SyncStandbys::First(vec!["node2".into()]))
        );
        assert_eq!(SyncStandbys::parse("FIRST 1 ("), None);
        // The stock agent's list with externals: every listed one required.
        let stock = SyncStandbys::parse(r#"FIRST 2 ("pg02", "DR1")"#).unwrap();
        assert_eq!(stock.sole(), Some("pg02"));
        assert_eq!(stock.externals(), ["dr1"]);
        assert_eq!(stock.in_cluster(), SyncStandbys::First(vec!["pg02".into()]));
        // Forms the agent never writes read as nothing it knows.
        assert_eq!(SyncStandbys::parse(r#"FIRST 2 ("a", "b", "c")"#), None);
        assert_eq!(SyncStandbys::parse(r#"ANY 3 ("a", "b")"#), None);
        // A quorum list names no sole standby: sync mode changes it.
        let any = SyncStandbys::parse(r#"any 1 (a, "B")"#).unwrap();
        assert_eq!(any, SyncStandbys::Any(QuorumList::new(1, &["a", "b"])));
        assert_eq!((any.sole(), any.listed()), (None, vec!["a", "b"]));
    }

    /// The ceiling belongs to the cluster's part of the list: standbys
    /// outside the cluster joining or leaving keep it.
    #[test]
    fn the_ceiling_record_ignores_the_externals() {
        let with = SyncStandbys::parse(r#"FIRST 2 ("pg02", "dr1")"#).unwrap();
        let record = ceiling_record(&with, Lsn(0x100));
        assert_eq!(record, "FIRST 1 (\"pg02\")\t0/100\tafter-checkpoint\n");
        assert_eq!(
            recorded_ceiling(Some(&record), &one("pg02")),
            Some(Lsn(0x100))
        );
        assert_eq!(recorded_ceiling(Some(&record), &with), Some(Lsn(0x100)));
        assert_eq!(recorded_ceiling(Some(&record), &one("pg03")), None);
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn fuzz_sync_standbys_arbitrary_text_never_panics(s in ".{0,40}") {
                if let Some(SyncStandbys::First(names)) = SyncStandbys::parse(&s) {
                    prop_assert!(names.iter().all(|n| !n.is_empty()));
                }
            }

            /// parse(value(x)) == x for names without a comma or blanks at
            /// either end (quotes included: they are doubled).
            #[test]
            fn fuzz_sync_standbys_value_parse_round_trip(
                names in prop::collection::vec("[a-zA-Z0-9_.\"()İ-]([a-zA-Z0-9_. \"()-]{0,8}[a-zA-Z0-9_.\"()-])?", 1..5),
            ) {
                let lower = SyncStandbys::First(names.iter().map(|n| n.to_lowercase()).collect());
                let s = SyncStandbys::First(names);
                prop_assert_eq!(SyncStandbys::parse(&s.value()), Some(lower));
            }
        }
    }
}
