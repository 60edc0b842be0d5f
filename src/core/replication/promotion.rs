//! `promote`: the records written around the one step that cannot be
//! undone, the request that makes PostgreSQL leave recovery.
//!
//! Before the request, this node's own record from an earlier time as the
//! primary goes, this node says `LATEST`, and every other node is marked
//! `DISCONNECT` with no score: once it acknowledges commits, none of those
//! may stand for "holds every acknowledged commit". Those writes must
//! precede the request (a crash right after it must not leave the former
//! primary the only `LATEST`), and in that order, so that a crash at any
//! moment leaves a holder on record. The order is one of phases
//! ([`PromotionRecords::phases`]): the writes inside a phase land in any
//! order (the executor makes them at once), a phase only after the one
//! before it. A failure before the request rolls
//! them back in reverse ([`PromotionRecords::undo`]): otherwise no node
//! would be `LATEST`, the election would wait for every node, and a
//! crashed former primary's start would be refused for ever. A failure
//! once the request was made leaves this node `LATEST`
//! ([`after_failed_request`]): PostgreSQL may finish the promotion by
//! itself, and the check at promotion proved this node holds every
//! acknowledged commit.

use super::election::{every_position_published, promotion_check, Location, PromotionCheck};
use super::plan::{Attr, AttrValue, DataStatus, Plan, Score, Status, Write};
use super::quorum::{last_record, only_latest, record_seen_by, QuorumRecord};
use super::sync::{promotion_list, SyncStandbys};
use crate::core::history::{Cause, PromotionNote};
use crate::core::lsn::Lsn;
use crate::error::AgentError;

/// What [`before_promotion`] changed, and how to take it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionRecords {
    /// The records in the order they must land: each phase's writes in any
    /// order, all of them before the next phase's.
    pub phases: Vec<Vec<Write>>,
    /// The records' previous values, to write back one at a time, in this
    /// order, when the promotion fails before it was requested. Scores are not restored: a standby
    /// earns one again from the primary's pass or the election.
    pub undo: Vec<Write>,
}

/// Whether a promotion may start at all: only in a partition with quorum.
/// Without it (`no-quorum-policy=ignore`, or a node left alone) another
/// partition may hold or elect a primary, and two would acknowledge
/// commits the other lacks. In quorum mode only with fencing: a primary
/// cut off from the cluster but not from some voters goes on
/// acknowledging commits with them while the others compare positions;
/// fencing ends it before anything is promoted.
pub fn promotion_allowed(plan: &Plan) -> Result<(), AgentError> {
    if !plan.view.quorum {
        return Err(AgentError::generic(
            "this partition has no quorum (set no-quorum-policy=stop, or use \
             Corosync's two_node for a two-node cluster)",
        ));
    }
    if plan.cfg.quorum_mode() && plan.view.fencing_disabled {
        return Err(AgentError::generic(
            "rep_mode=quorum needs fencing: set stonith-enabled=true with a fence device",
        )
        .with_detail(
            "rep_mode=quorum needs fencing: a primary cut off from the cluster could go on \
             acknowledging commits with some standbys while another is promoted; set \
             stonith-enabled=true with a fence device",
        ));
    }
    Ok(())
}

/// The records written before the promotion is requested.
pub fn before_promotion(plan: &mut Plan) -> PromotionRecords {
    let me = plan.cfg.me.clone();
    let mut undo = Vec::new();
    let remember = |plan: &Plan, node: &str, attr: Attr| {
        let value = plan.current(node, attr).map(str::to_string);
        let log = format!(
            "The promotion failed before it was requested: {} on {node} back to {}.",
            attr.name(&plan.cfg.rsc),
            value.as_deref().unwrap_or("(none)")
        );
        Write {
            node: node.to_string(),
            attr,
            value: value.map(|v| AttrValue::AsFound(attr, v)),
            log: Some(log),
        }
    };
    let mut phases = Vec::new();
    // 1. A record from an earlier time as the primary: no longer true
    // once this node acknowledges commits again, so gone before it can
    // (and before this node says LATEST: see 2).
    for record in [Attr::AckedAlsoOn, Attr::AckedOnAny] {
        undo.push(remember(plan, &me, record));
        plan.delete(&me, record);
    }
    phases.push(std::mem::take(&mut plan.writes));
    // 2. This node LATEST before anyone else stops being: a crash at any
    // later moment leaves a holder on record. Until 3 lands, two nodes
    // say LATEST; the former primary's `acked-also-on` names this one,
    // which makes this one the last primary ([`super::is_last_primary`]).
    undo.push(remember(plan, &me, Attr::DataStatus));
    plan.data_status(&me, DataStatus::Latest);
    phases.push(std::mem::take(&mut plan.writes));
    // 3. Every other node DISCONNECT, with no score, in any order: with
    // this node LATEST, any subset of them leaves a holder on record.
    // Written even where crm_mon shows -INFINITY, since a raise the former
    // primary wrote may still be on its way to the CIB (R46).
    let others: Vec<String> = plan.cfg.others().map(str::to_string).collect();
    for target in &others {
        undo.push(remember(plan, target, Attr::DataStatus));
        plan.data_status(target, DataStatus::Disconnect);
        plan.revoke_score(target);
    }
    phases.push(std::mem::take(&mut plan.writes));
    phases.retain(|phase| !phase.is_empty());
    // Only what this plan really changes is taken back, in reverse order.
    let changed: Vec<(&str, Attr)> = phases
        .iter()
        .flatten()
        .map(|w| (w.node.as_str(), w.attr))
        .collect();
    undo.retain(|u| changed.contains(&(u.node.as_str(), u.attr)));
    undo.reverse();
    PromotionRecords { phases, undo }
}

/// The request was made but did not complete: this node may now be the
/// primary, and it is the one proven to hold every acknowledged commit.
pub fn after_failed_request(plan: &mut Plan) {
    let me = plan.cfg.me.clone();
    plan.data_status(&me, DataStatus::Latest);
}

/// PostgreSQL left recovery: the stock agent's attributes of a primary.
pub fn after_promotion(plan: &mut Plan) {
    let me = plan.cfg.me.clone();
    plan.data_status(&me, DataStatus::Latest);
    plan.own_score(Score::PromoteMe);
    plan.status(&me, Status::Pri);
}

/// What `promote` gathered, once: PostgreSQL's state, this node's own
/// position once settled, and the other candidates' positions after the
/// bounded wait for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromoteFacts {
    /// PostgreSQL is in recovery (else it is a primary already).
    pub in_recovery: bool,
    /// This node's position, once it can no longer move (`None`: it
    /// still moved when the wait ended).
    pub mine: Option<Location>,
    /// Each other node running an unpromoted instance
    /// ([`super::election::promotion_peers`]), with the position it
    /// published.
    pub peers: Vec<(String, Option<Location>)>,
    /// This node's WAL location, the stock agent's baseline.
    pub baseline: Option<Lsn>,
    /// `PGSQL.lock` exists already (a former primary promoted again).
    pub had_lock: bool,
    /// The time, in seconds since the epoch.
    pub now: u64,
}

/// One step of a promotion, performed in order by the executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromoteStep {
    /// Attribute writes that may land in any order: made at once, all of
    /// them before the next step.
    Records(Vec<Write>),
    /// Records written back one at a time, in this order, the first that
    /// fails stopping the rest: a later one landing without an earlier
    /// one could leave nobody `LATEST`.
    WriteBack(Vec<Write>),
    /// The election counter files and the deferral note go: this node's
    /// election is over ([`super::DeferralNote`]).
    ClearElection,
    CreateLock,
    /// Only a lock this promotion created (rolling back).
    RemoveLock,
    /// `synchronous_standby_names` before the promotion: `rep_mode.conf`,
    /// the standby configuration, a reload.
    SetList(SyncStandbys),
    /// Ask PostgreSQL to leave recovery and wait until it has: the step
    /// that cannot be undone.
    Request,
    /// Publish the new primary's timeline history.
    PublishHistory,
    /// Keep what is known of this promotion for the first monitor to
    /// record with the new timeline ([`crate::core::history`]); a failure
    /// only loses the record.
    NotePromotion(PromotionNote),
    CreateSlots,
}

/// The promotion, as an ordered protocol with its failure handling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromoteProtocol {
    pub steps: Vec<PromoteStep>,
    /// What to do when a step before [`PromoteStep::Request`] fails, in
    /// order, stopping at the first step that fails.
    undo: Vec<PromoteStep>,
    /// What to do when the request or a later step fails.
    after_request: Vec<PromoteStep>,
}

impl PromoteProtocol {
    /// The steps to take when `steps[failed]` failed: before the request,
    /// the records written back and the lock this promotion created
    /// removed; from the request on, this node recorded `LATEST`.
    pub fn on_failure(&self, failed: usize) -> &[PromoteStep] {
        let request = self.steps.iter().position(|s| *s == PromoteStep::Request);
        match request {
            Some(r) if failed < r => &self.undo,
            _ => &self.after_request,
        }
    }
}

/// What `promote` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromoteDecision {
    /// PostgreSQL is a primary already: nothing to do.
    AlreadyPrimary,
    /// Refused, with this exit reason (and detail); `writes` first (a
    /// hand-over to a node that is ahead gives it the promotion).
    Refuse {
        writes: Vec<Write>,
        reason: AgentError,
    },
    Go(PromoteProtocol),
}

/// `promote`'s one decision.
pub fn decide_promotion(plan: &mut Plan, facts: &PromoteFacts) -> PromoteDecision {
    let me = plan.cfg.me.clone();
    if !facts.in_recovery {
        return PromoteDecision::AlreadyPrimary;
    }
    // The node is in crm_mon's line for the failed promote: the log says it.
    let refuse = |writes, why: AgentError| PromoteDecision::Refuse {
        writes,
        reason: why.in_context(
            |why| format!("promotion refused: {why}"),
            |why| format!("promotion refused on {me}: {why}"),
        ),
    };
    if let Err(why) = promotion_allowed(plan) {
        return refuse(Vec::new(), why);
    }
    let Some(mine) = facts.mine else {
        return refuse(
            Vec::new(),
            AgentError::generic("its WAL position still moves (PostgreSQL replays its local WAL)"),
        );
    };
    // Quorum mode: the positions of enough of the last primary's voters
    // (this node's among them) cover every acknowledging set.
    if let Err(why) = quorum_proof(plan, &facts.peers) {
        return refuse(Vec::new(), why);
    }
    if mine.tli.is_none() && holder_at_promotion(plan) {
        return refuse(
            Vec::new(),
            AgentError::generic(
                "its own timeline is unknown: a peer on a newer one may hold commits it lacks",
            ),
        );
    }
    let peers = compared_peers(plan, mine, &facts.peers);
    match promotion_check(mine, &peers) {
        PromotionCheck::Go => {}
        PromotionCheck::HandOver { to, reason } => {
            hand_over(plan, &to);
            return refuse(
                std::mem::take(&mut plan.writes),
                AgentError::generic(reason),
            );
        }
        PromotionCheck::Refuse(reason) => return refuse(Vec::new(), AgentError::generic(reason)),
    }
    PromoteDecision::Go(promotion_protocol(plan, facts))
}

/// The peers this node's position is compared with at promotion, the
/// newest of which gets it (R18).
///
/// A node that holds every acknowledged commit ([`holder_at_promotion`]) is
/// not held back by a silent peer (one that crashed, or whose PostgreSQL
/// replays its WAL): such a peer can be ahead of it only by WAL nobody
/// acknowledged. A peer on a newer timeline always gets the promotion. One
/// ahead on this node's own timeline:
/// - never, when this node is the only `LATEST`: as the last primary it
///   wrote that timeline, its peers received WAL it flushed, which may end
///   inside a record, and the restarted primary replays complete records
///   only, so a peer is ahead by an unfinished record, and its own
///   promotion would end recovery at the same place. (The target of a
///   promotion whose records landed but whose request never ran is the
///   only `LATEST` too: its check proved it holds every acknowledged
///   commit, and a peer's lead, unacknowledged, is rewound with
///   `auto_rewind`, else resynchronised.)
/// - otherwise (the recorded holder, the target of a promotion that
///   stopped half way) only when the peer's own check will pass on the
///   positions published now ([`provable_for`]): its lead may be whole
///   transactions (an asynchronous standby often received more), none of
///   them acknowledged, and a hand-over to a node that cannot prove its
///   promotion left no primary. And not past the position the other
///   `LATEST`, which wrote this timeline, published: beyond it is an
///   unfinished record, and the hand-over would gain nothing.
///
/// Without its own timeline a holder compares with no peer;
/// [`decide_promotion`] refuses it (a newer timeline may exist).
///
/// Any other node: a silent peer may be ahead, and blocks, unless the last
/// primary's quorum record proves the promotion without it.
pub(super) fn compared_peers(
    plan: &Plan,
    mine: Location,
    peers: &[(String, Option<Location>)],
) -> Vec<(String, Option<Location>)> {
    if !holder_at_promotion(plan) {
        let silent_ones_count = last_record(plan).is_none();
        return peers
            .iter()
            .filter(|(_, l)| l.is_some() || silent_ones_count)
            .cloned()
            .collect();
    }
    let me = plan.cfg.me.as_str();
    let wrote_this_timeline = only_latest(plan) == Some(me);
    // The other `LATEST` (the last primary of the recorded standby, the
    // former primary of a half-finished target) wrote this timeline: past
    // the position it published there is only an unfinished record.
    let writer_at = other_latest(plan)
        .find_map(|n| peers.iter().find(|(p, _)| p == n).and_then(|(_, l)| *l))
        .filter(|w| w.on_same_timeline_as(&mine));
    let compared = |n: &str, l: &Location| {
        let within_writer = writer_at.map_or(true, |w| l.lsn <= w.lsn);
        l.on_newer_timeline_than(&mine)
            || (l.on_same_timeline_as(&mine)
                && !wrote_this_timeline
                && within_writer
                && provable_for(plan, n, mine, peers))
    };
    peers
        .iter()
        .filter(|(n, l)| l.is_some_and(|l| compared(n, &l)))
        .cloned()
        .collect()
}

/// This node holds every commit the last primary acknowledged: it is that
/// primary (the only `LATEST`, or the target of a promotion that stopped
/// half way, which passed its check against the former primary's record:
/// [`super::is_last_primary`]), or the standby that primary recorded
/// ([`recorded_holder`]).
pub(super) fn holder_at_promotion(plan: &Plan) -> bool {
    let me = plan.cfg.me.as_str();
    only_latest(plan) == Some(me) || super::is_last_primary(plan, me) || recorded_holder(plan)
}

/// Whether `peer`, which holds no more than its position proves, passes
/// its own check at promotion on the positions published now (this
/// node's among them): the quorum proof as `peer` reads the record, and
/// without a record every position.
fn provable_for(
    plan: &Plan,
    peer: &str,
    mine: Location,
    peers: &[(String, Option<Location>)],
) -> bool {
    let seen_by_peer: Vec<(String, Option<Location>)> = peers
        .iter()
        .filter(|(n, _)| n != peer)
        .cloned()
        .chain([(plan.cfg.me.clone(), Some(mine))])
        .collect();
    proof_for(plan, peer, &seen_by_peer).is_ok()
        && (record_seen_by(plan, peer).is_some() || every_position_published(&seen_by_peer))
}

/// Quorum mode: the positions published for this promotion (`peers`,
/// with this node's) cover every acknowledged commit: enough of the last
/// primary's voters ([`enough_voters`]), or with no record every node
/// ([`every_position`]). Nothing to prove in the other modes.
pub fn quorum_proof(plan: &Plan, peers: &[(String, Option<Location>)]) -> Result<(), AgentError> {
    proof_for(plan, &plan.cfg.me, peers)
}

/// [`quorum_proof`] for a promotion of `node`, `peers` being the others.
fn proof_for(
    plan: &Plan,
    node: &str,
    peers: &[(String, Option<Location>)],
) -> Result<(), AgentError> {
    if !plan.cfg.quorum_mode() {
        return Ok(());
    }
    match record_seen_by(plan, node) {
        Some(record) => enough_voters(&record, node, peers),
        None => every_position(plan, node, peers),
    }
}

/// Quorum mode: the voters of `record` that published a position for this
/// promotion, `me` included, are enough ([`QuorumRecord::positions_needed`]).
fn enough_voters(
    record: &QuorumRecord,
    me: &str,
    peers: &[(String, Option<Location>)],
) -> Result<(), AgentError> {
    let published = |v: &String| v == me || peers.iter().any(|(n, l)| n == v && l.is_some());
    let missing: Vec<&str> = record
        .voters
        .iter()
        .filter(|v| !published(v))
        .map(String::as_str)
        .collect();
    let have = record.voters.len() - missing.len();
    if have >= record.positions_needed() {
        return Ok(());
    }
    let (n, needed, missing) = (
        record.voters.len(),
        record.positions_needed(),
        missing.join(", "),
    );
    Err(AgentError::generic(format!(
        "positions from {have} of {n} voters, {needed} needed; none from {missing}"
    ))
    .with_detail(format!(
        "the last primary acknowledged commits once any {} of {n} held them ({}); {have} \
         published a position, {needed} are needed: {missing} may hold commits this node lacks",
        record.k,
        record.wire(),
    )))
}

/// Quorum mode without a record to read (none written yet by a new
/// primary, a promotion that stopped half way with two `LATEST`, offline
/// nodes' records not read): unless `node` is the last primary, any
/// other node may hold acknowledged commits, and every one of them (but a
/// `DIVERGED` one) must have published a position. The scores prove
/// nothing here: voters keep theirs.
///
/// The last primary is the only `LATEST` (the voters' kept scores do not
/// hide it), or the target of a promotion that stopped half way: it said
/// `LATEST` only after its check against the former primary's record
/// passed, that record names it, and nobody else may be promoted (the
/// election's [`super::is_last_primary`]). Refusing it would leave
/// nobody: the former primary's own start waits for it.
fn every_position(
    plan: &Plan,
    node: &str,
    peers: &[(String, Option<Location>)],
) -> Result<(), AgentError> {
    if only_latest(plan) == Some(node) || super::is_last_primary(plan, node) {
        return Ok(());
    }
    let published = |n: &str| peers.iter().any(|(p, l)| p == n && l.is_some());
    let missing: Vec<&str> = plan
        .cfg
        .node_list
        .iter()
        .map(String::as_str)
        .filter(|n| *n != node)
        .filter(|n| plan.current_data_status(n) != Some(DataStatus::Diverged))
        .filter(|n| !published(n))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let missing = missing.join(", ");
    Err(AgentError::generic(format!(
        "no quorum record, so every position is needed: {missing} published none"
    ))
    .with_detail(format!(
        "no record says which standbys hold the last primary's acknowledged commits: every \
         node's position is needed, and {missing} published none"
    )))
}

/// This node is the one the last primary recorded as holding every commit
/// it acknowledged (`acked-also-on`), and that primary is the only other
/// node that says `LATEST` (this one may say it too, from an earlier
/// attempt whose request failed: still in recovery, it acknowledged
/// nothing).
pub(super) fn recorded_holder(plan: &Plan) -> bool {
    let me = plan.cfg.me.as_str();
    let latest: Vec<&str> = other_latest(plan).collect();
    matches!(latest[..], [last] if plan.current(last, Attr::AckedAlsoOn) == Some(me))
}

/// The other nodes that say `LATEST`.
fn other_latest<'p>(plan: &'p Plan) -> impl Iterator<Item = &'p str> {
    plan.cfg
        .others()
        .filter(|n| plan.current_data_status(n) == Some(DataStatus::Latest))
}

/// This node gives up the promotion to `to`, which is ahead of it.
pub fn hand_over(plan: &mut Plan, to: &str) {
    plan.own_score(Score::CanNotPromote);
    plan.set(to, AttrValue::Score(Score::PromoteMe));
}

/// What this promotion records ([`crate::core::history`]): the former
/// primary, another node that says `LATEST`, and why it is replaced: it
/// runs as a standby again with no failure counted (demoted on purpose),
/// or not (it failed, or its node left); nobody: an election.
pub fn promotion_note(plan: &Plan, at: u64) -> PromotionNote {
    let from = other_latest(plan).next().map(str::to_string);
    let failed = |f: &str| plan.view.fail_counts.get(f).copied().unwrap_or(0) > 0;
    let cause = match &from {
        None => Cause::Election,
        Some(f) if plan.view.runs_standby(f) && !failed(f) => Cause::Switchover,
        Some(_) => Cause::Failover,
    };
    PromotionNote { at, from, cause }
}

fn promotion_protocol(plan: &mut Plan, facts: &PromoteFacts) -> PromoteProtocol {
    let me = plan.cfg.me.clone();
    // Before the records: they make every other node `DISCONNECT`.
    let note = promotion_note(plan, facts.now);
    let mut steps = vec![PromoteStep::ClearElection];
    let records = before_promotion(plan);
    steps.extend(records.phases.into_iter().map(PromoteStep::Records));
    steps.push(PromoteStep::CreateLock);
    if let Some(lsn) = facts.baseline {
        plan.set(&me, AttrValue::MasterBaseline(lsn));
        steps.push(PromoteStep::Records(std::mem::take(&mut plan.writes)));
    }
    if plan.cfg.waits_for_standbys() {
        // Commits wait for a standby from the first one on.
        steps.push(PromoteStep::SetList(promotion_list(plan.cfg, plan.view)));
    }
    steps.push(PromoteStep::Request);
    steps.push(PromoteStep::PublishHistory);
    steps.push(PromoteStep::NotePromotion(note));
    steps.push(PromoteStep::CreateSlots);
    after_promotion(plan);
    steps.push(PromoteStep::Records(std::mem::take(&mut plan.writes)));

    // In reverse, one at a time: this node leaves `LATEST` only after the
    // others are back. Its lock goes before that: it was never a primary,
    // and a crash then would refuse the start of a node that holds every
    // acknowledged commit.
    let (own, others): (Vec<Write>, Vec<Write>) =
        records.undo.into_iter().partition(|w| w.node == me);
    let mut undo = vec![PromoteStep::WriteBack(others)];
    if !facts.had_lock {
        undo.push(PromoteStep::RemoveLock);
    }
    undo.push(PromoteStep::WriteBack(own));
    let mut latest = Plan::new(plan.cfg, plan.view);
    after_failed_request(&mut latest);
    let after_request = vec![PromoteStep::Records(latest.writes)];
    PromoteProtocol {
        steps,
        undo,
        after_request,
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{cfg, quorum_failover, view, with_attr, written};
    use super::super::quorum::QuorumList;
    use super::*;
    use crate::config::RepMode;
    use crate::core::crm_mon::ClusterView;
    use crate::core::lsn::Lsn;

    /// A refusal's exit reason fits, with the worst-case values of a real
    /// cluster ([`crate::core::decision_table::widened`]); the log's text.
    fn fits(reason: AgentError) -> String {
        let wide = crate::core::decision_table::widened(reason.reason());
        assert!(
            wide.len() <= crate::error::EXIT_REASON_MAX,
            "{} bytes: {wide}",
            wide.len()
        );
        reason.explained().to_string()
    }

    /// pg02 is being promoted after pg01 (the last primary, `LATEST`,
    /// recording pg02) crashed; pg03 streamed asynchronously.
    fn failover() -> (super::super::RepConfig, ClusterView) {
        failover_with_asyncs(&["pg03"])
    }

    /// [`failover`] with these asynchronous standbys.
    fn failover_with_asyncs(asyncs: &[&str]) -> (super::super::RepConfig, ClusterView) {
        let mut nodes = vec!["pg02", "pg01"];
        nodes.extend(asyncs);
        let c = cfg(RepMode::Sync, &nodes);
        let mut attrs = vec![
            ("pg01", "pgsql-data-status", "LATEST"),
            ("pg01", "pgsql-acked-also-on", "pg02"),
            ("pg02", "pgsql-data-status", "STREAMING|SYNC"),
            ("pg02", "master-pgsql", "100"),
        ];
        for a in asyncs {
            attrs.push((a, "pgsql-data-status", "STREAMING|ASYNC"));
            attrs.push((a, "master-pgsql", "-INFINITY"));
        }
        let mut running = vec!["pg02"];
        running.extend(asyncs);
        let mut v = view(&running, &["pg01"], &attrs);
        v.quorum = true;
        (c, v)
    }

    #[test]
    fn the_records_before_the_request_can_be_taken_back() {
        let (c, v) = failover();
        let mut p = Plan::new(&c, &v);
        let records = before_promotion(&mut p);
        // Only what changed is restored, with its previous value.
        let undo: Vec<(&str, Attr, Option<String>)> = records
            .undo
            .iter()
            .map(|w| (w.node.as_str(), w.attr, w.wire()))
            .collect();
        assert_eq!(
            undo,
            [
                ("pg03", Attr::DataStatus, Some("STREAMING|ASYNC".into())),
                ("pg01", Attr::DataStatus, Some("LATEST".into())),
                ("pg02", Attr::DataStatus, Some("STREAMING|SYNC".into())),
            ]
        );
        // This node says LATEST first, alone; the others go at once; its
        // score and status come after the request.
        let phases: Vec<Vec<(&str, Attr, Option<String>)>> = records
            .phases
            .iter()
            .map(|phase| {
                phase
                    .iter()
                    .map(|w| (w.node.as_str(), w.attr, w.wire()))
                    .collect()
            })
            .collect();
        assert_eq!(
            phases,
            [
                vec![("pg02", Attr::DataStatus, Some("LATEST".into()))],
                vec![
                    ("pg01", Attr::DataStatus, Some("DISCONNECT".into())),
                    ("pg03", Attr::DataStatus, Some("DISCONNECT".into())),
                    ("pg03", Attr::Score, Some("-INFINITY".into())),
                ],
            ]
        );
        assert!(p.writes.is_empty(), "every write is in a phase");
    }

    #[test]
    fn an_own_record_from_an_earlier_time_as_primary_goes_and_can_come_back() {
        let (c, v) = failover();
        let v = super::super::fixture::with_attr(&v, "pg02", "pgsql-acked-also-on", "pg03");
        let mut p = Plan::new(&c, &v);
        let records = before_promotion(&mut p);
        // Gone first, before this node says LATEST.
        assert!(matches!(&records.phases[0][..], [w]
            if w.node == "pg02" && w.attr == Attr::AckedAlsoOn && w.wire().is_none()));
        assert!(records.undo.iter().any(|w| w.node == "pg02"
            && w.attr == Attr::AckedAlsoOn
            && w.wire().as_deref() == Some("pg03")));
    }

    #[test]
    fn a_failed_request_leaves_this_node_latest_a_promotion_the_primary_attributes() {
        let (c, v) = failover();
        // The protocol's own plan for it: the records before the request
        // may not have landed.
        let mut p = Plan::new(&c, &v);
        after_failed_request(&mut p);
        assert_eq!(
            written(&p, "pg02", Attr::DataStatus),
            Some(Some("LATEST".into()))
        );
        assert_eq!(written(&p, "pg02", Attr::Score), None);
        let mut p = Plan::new(&c, &v);
        after_promotion(&mut p);
        assert_eq!(written(&p, "pg02", Attr::Score), Some(Some("1000".into())));
        assert_eq!(written(&p, "pg02", Attr::Status), Some(Some("PRI".into())));
    }

    #[test]
    fn no_promotion_without_quorum() {
        let (c, mut v) = failover();
        assert!(promotion_allowed(&Plan::new(&c, &v)).is_ok());
        v.quorum = false;
        let why = promotion_allowed(&Plan::new(&c, &v)).unwrap_err();
        assert!(why.reason().contains("no quorum"), "{why}");
    }

    fn facts(mine: Option<u64>, peers: &[(&str, Option<u64>)]) -> PromoteFacts {
        let at = |l: u64| Location {
            tli: Some(2),
            lsn: Lsn(l),
        };
        PromoteFacts {
            in_recovery: true,
            mine: mine.map(at),
            peers: peers
                .iter()
                .map(|(n, l)| (n.to_string(), l.map(at)))
                .collect(),
            baseline: mine.map(Lsn),
            had_lock: false,
            now: 1_800_000_000,
        }
    }

    /// `decide_promotion` on this view goes ahead.
    fn goes(c: &super::super::RepConfig, v: &ClusterView, f: &PromoteFacts) -> bool {
        matches!(
            decide_promotion(&mut Plan::new(c, v), f),
            PromoteDecision::Go(_)
        )
    }

    /// The protocol's shape: records before the lock, the list before the
    /// request, the primary's attributes only after it.
    #[test]
    fn the_promotion_protocol_puts_every_record_around_the_request() {
        let (c, v) = failover();
        let mut p = Plan::new(&c, &v);
        let PromoteDecision::Go(protocol) =
            decide_promotion(&mut p, &facts(Some(500), &[("pg03", Some(400))]))
        else {
            panic!("pg02 is the newest: it goes");
        };
        let shape: Vec<String> = protocol
            .steps
            .iter()
            .map(|s| match s {
                PromoteStep::Records(w) => format!(
                    "records({})",
                    w.iter()
                        .map(|w| format!("{}:{:?}", w.node, w.attr))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                PromoteStep::SetList(l) => format!("list {}", l.value()),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            shape,
            [
                "ClearElection",
                // LATEST first, then the others at once; pg03's -INFINITY
                // again, though crm_mon shows it (R46).
                "records(pg02:DataStatus)",
                "records(pg01:DataStatus pg03:DataStatus pg03:Score)",
                "CreateLock",
                "records(pg02:MasterBaseline)",
                "list FIRST 1 (\"pg03\")",
                "Request",
                "PublishHistory",
                "NotePromotion(PromotionNote { at: 1800000000, from: Some(\"pg01\"), cause: Failover })",
                "CreateSlots",
                "records(pg02:Score pg02:Status)",
            ]
        );
        // A failure before the request takes the records and the lock back;
        // from the request on, this node is recorded LATEST.
        let lock = protocol
            .steps
            .iter()
            .position(|s| *s == PromoteStep::CreateLock);
        // The records one at a time, in reverse: pg02 leaves LATEST only
        // after pg01 is LATEST again, and its lock before.
        let undo: Vec<String> = protocol
            .on_failure(lock.unwrap() + 1)
            .iter()
            .map(|s| match s {
                PromoteStep::WriteBack(w) => w
                    .iter()
                    .map(|w| format!("{}={}", w.node, w.wire().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(" "),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            undo,
            [
                "pg03=STREAMING|ASYNC pg01=LATEST",
                "RemoveLock",
                "pg02=STREAMING|SYNC",
            ]
        );
        let request = protocol
            .steps
            .iter()
            .position(|s| *s == PromoteStep::Request);
        for k in [request.unwrap(), protocol.steps.len() - 1] {
            let after = protocol.on_failure(k);
            assert!(matches!(after, [PromoteStep::Records(w)]
                if w.len() == 1 && w[0].node == "pg02" && w[0].wire().as_deref() == Some("LATEST")));
        }
    }

    #[test]
    fn a_lock_that_was_there_stays_when_the_promotion_fails() {
        let (c, v) = failover();
        let mut p = Plan::new(&c, &v);
        let mut f = facts(Some(500), &[]);
        f.had_lock = true;
        let PromoteDecision::Go(protocol) = decide_promotion(&mut p, &f) else {
            panic!("it goes");
        };
        assert!(!protocol.on_failure(0).contains(&PromoteStep::RemoveLock));
    }

    #[test]
    fn promotion_refusals() {
        let (c, v) = failover();
        let decide = |v: &crate::core::crm_mon::ClusterView, f: &PromoteFacts| {
            decide_promotion(&mut Plan::new(&c, v), f)
        };
        let mut primary = facts(Some(500), &[]);
        primary.in_recovery = false;
        assert_eq!(decide(&v, &primary), PromoteDecision::AlreadyPrimary);
        let reason = |d: PromoteDecision| match d {
            PromoteDecision::Refuse { reason, .. } => fits(reason),
            other => panic!("{other:?}"),
        };
        assert!(reason(decide(&v, &facts(None, &[]))).contains("still moves"));
        // A silent peer blocks a node nobody recorded as the holder...
        let unrecorded = with_attr(&v, "pg01", "pgsql-acked-also-on", "pg03");
        assert!(
            reason(decide(&unrecorded, &facts(Some(500), &[("pg03", None)])))
                .contains("pg03 published no WAL position")
        );
        // ... not the one the last primary recorded: a silent peer can be
        // ahead of it only by WAL nobody acknowledged.
        assert!(matches!(
            decide(&v, &facts(Some(500), &[("pg03", None)])),
            PromoteDecision::Go(_)
        ));
        let mut lonely = v.clone();
        lonely.quorum = false;
        assert!(reason(decide(&lonely, &facts(Some(500), &[]))).contains("no quorum"));
        // A peer ahead is handed the promotion.
        match decide(&v, &facts(Some(400), &[("pg03", Some(500))])) {
            PromoteDecision::Refuse { writes, reason } => {
                fits(reason.clone());
                assert!(reason.explained().contains("pg03 is ahead"), "{reason}");
                let w: Vec<(&str, Option<String>)> =
                    writes.iter().map(|w| (w.node.as_str(), w.wire())).collect();
                assert_eq!(
                    w,
                    [
                        ("pg02", Some("-INFINITY".into())),
                        ("pg03", Some("1000".into()))
                    ]
                );
            }
            other => panic!("{other:?}"),
        }
    }

    /// What the CIB holds after `writes`.
    fn applied(v: &ClusterView, writes: &[Write]) -> ClusterView {
        let mut v = v.clone();
        for w in writes {
            let attrs = v.attributes.entry(w.node.clone()).or_default();
            let name = w.attr.name("pgsql");
            match w.wire() {
                Some(x) => attrs.insert(name, x),
                None => attrs.remove(&name),
            };
        }
        v
    }

    /// Every state a crash can leave while `me` is promoted: any subset
    /// of a `Records` step's writes (made at once) on top of the steps
    /// before; and, after a failure just before the request, any prefix
    /// of the write-back (the first failure stops it). With whether the
    /// lock the promotion created is there.
    fn crash_moments(protocol: &PromoteProtocol) -> Vec<(String, Vec<Write>, bool)> {
        let mut landed: Vec<Write> = Vec::new();
        let mut lock = false;
        let mut moments = vec![("before".to_string(), Vec::new(), false)];
        for step in &protocol.steps {
            match step {
                PromoteStep::Records(ws) => {
                    for subset in 1..(1u32 << ws.len()) {
                        let mut writes = landed.clone();
                        writes.extend(
                            ws.iter()
                                .enumerate()
                                .filter(|(k, _)| subset & (1 << k) != 0)
                                .map(|(_, w)| w.clone()),
                        );
                        moments.push((format!("with {subset:b} of {ws:?}"), writes, lock));
                    }
                    landed.extend(ws.iter().cloned());
                }
                PromoteStep::CreateLock => lock = true,
                PromoteStep::Request => break,
                _ => {}
            }
            moments.push((format!("after {step:?}"), landed.clone(), lock));
        }
        let request = protocol
            .steps
            .iter()
            .position(|s| *s == PromoteStep::Request)
            .unwrap();
        for undo in protocol.on_failure(request - 1) {
            match undo {
                PromoteStep::WriteBack(ws) => {
                    for w in ws {
                        landed.push(w.clone());
                        moments.push((format!("written back {w:?}"), landed.clone(), lock));
                    }
                }
                PromoteStep::RemoveLock => {
                    lock = false;
                    moments.push(("the lock removed".into(), landed.clone(), lock));
                }
                other => panic!("{other:?} in the undo"),
            }
        }
        moments
    }

    /// `target`'s promotion, after the last primary `crashed` went away,
    /// goes; at every crash moment ([`crash_moments`]), with the
    /// transient attributes erased (the node crashed) or kept (only its
    /// agent was killed), a holder of every acknowledged commit is on
    /// record: no standby's election awaits `crashed`, and the target's
    /// start with the lock its promotion created is not refused.
    fn assert_a_holder_at_every_crash_moment(
        c: &super::super::RepConfig,
        v: &ClusterView,
        f: &PromoteFacts,
        crashed: &str,
    ) {
        let PromoteDecision::Go(protocol) = decide_promotion(&mut Plan::new(c, v), f) else {
            panic!("it goes");
        };
        for (when, writes, lock) in crash_moments(&protocol) {
            let kept = applied(v, &writes);
            // The target's node crashed: its transient attributes erased.
            let mut after = kept.clone();
            for attrs in after.attributes.values_mut() {
                attrs.retain(|name, _| Attr::ALL_FOREVER.iter().any(|a| a.name("pgsql") == *name));
            }
            for me in c.node_list.iter().filter(|n| *n != crashed) {
                let mut mine = c.clone();
                mine.me = me.clone();
                let awaited = super::super::election_candidates(&Plan::new(&mine, &after));
                assert!(
                    !awaited.iter().any(|n| n == crashed),
                    "a crash {when}: {me}'s election awaits {crashed}: {awaited:?}"
                );
            }
            if lock {
                let gate = super::super::start_gate(
                    super::super::Lock::Held,
                    false,
                    super::super::last_primary(&Plan::new(c, &after)),
                );
                assert_ne!(
                    gate,
                    super::super::StartGate::Refuse,
                    "a crash {when}: {}'s start is refused",
                    c.me
                );
            }
            // Only its agent was killed (the operation's timeout): the
            // promote Pacemaker tries again on the same positions goes.
            // (Not in quorum mode: a voter that keeps its score there makes
            // the retry wait for every position, the former primary's too,
            // as `quorum_a_promotion_stopped_half_way_is_finished_by_its_target`
            // shows; the order of phases does not change that.)
            if c.quorum_mode() {
                continue;
            }
            let again = PromoteFacts {
                had_lock: lock,
                ..f.clone()
            };
            assert!(
                matches!(
                    decide_promotion(&mut Plan::new(c, &kept), &again),
                    PromoteDecision::Go(_)
                ),
                "the agent killed {when}: the promote tried again does not go"
            );
        }
    }

    /// Sync mode: pg02 (recorded by pg01) promoted; and a former primary
    /// promoted again, whose own old record goes first.
    #[test]
    fn a_crash_at_any_step_of_the_promotion_leaves_a_holder_on_record() {
        let (c, mut v) = failover();
        v.unpromoted = vec!["pg02".into(), "pg03".into()];
        assert_a_holder_at_every_crash_moment(
            &c,
            &v,
            &facts(Some(500), &[("pg03", Some(400))]),
            "pg01",
        );
        let v = with_attr(&v, "pg02", "pgsql-acked-also-on", "pg03");
        assert_a_holder_at_every_crash_moment(
            &c,
            &v,
            &facts(Some(500), &[("pg03", Some(400))]),
            "pg01",
        );
    }

    /// Quorum mode, five nodes: pg02 promoted on enough voters' positions.
    #[test]
    fn quorum_a_crash_at_any_step_of_the_promotion_leaves_a_holder_on_record() {
        let (c, mut v) = quorum_failover();
        v.unpromoted = vec!["pg02".into(), "pg03".into(), "pg04".into(), "pg05".into()];
        let f = facts(
            Some(500),
            &[
                ("pg03", Some(500)),
                ("pg04", Some(400)),
                ("pg05", Some(400)),
            ],
        );
        assert_a_holder_at_every_crash_moment(&c, &v, &f, "pg01");
    }

    #[test]
    fn quorum_a_promotion_needs_enough_voters_positions() {
        let (c, v) = quorum_failover();
        let mut unfenced = v.clone();
        unfenced.fencing_disabled = true;
        let why = promotion_allowed(&Plan::new(&c, &unfenced)).unwrap_err();
        assert!(
            why.reason().contains("rep_mode=quorum needs fencing"),
            "{why}"
        );
        let PromoteDecision::Refuse { reason, .. } =
            decide_promotion(&mut Plan::new(&c, &unfenced), &facts(Some(500), &[]))
        else {
            panic!("unfenced")
        };
        assert_eq!(
            reason.reason(),
            "promotion refused: rep_mode=quorum needs fencing: set stonith-enabled=true with a \
             fence device"
        );
        assert!(fits(reason).starts_with("promotion refused on pg02: rep_mode=quorum"));
        let decide = |f: &PromoteFacts| decide_promotion(&mut Plan::new(&c, &v), f);
        // Two positions: pg04 and pg05 may hold a commit both of these lack.
        match decide(&facts(Some(500), &[("pg03", Some(500)), ("pg04", None)])) {
            PromoteDecision::Refuse { writes, reason } => {
                fits(reason.clone());
                assert!(writes.is_empty());
                assert!(
                    reason
                        .explained()
                        .contains("2 published a position, 3 are needed: pg04, pg05"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
        // Three: enough, and a silent fourth does not block.
        let three = facts(
            Some(500),
            &[("pg03", Some(500)), ("pg04", Some(400)), ("pg05", None)],
        );
        assert!(matches!(decide(&three), PromoteDecision::Go(_)));
        // The newest of them is promoted: a voter ahead is handed over.
        let ahead = facts(Some(500), &[("pg03", Some(600)), ("pg04", Some(400))]);
        match decide(&ahead) {
            PromoteDecision::Refuse { reason, .. } => {
                fits(reason.clone());
                assert!(reason.explained().contains("pg03 is ahead"))
            }
            other => panic!("{other:?}"),
        }
        // The new primary's list is ANY 2 of the others online, and its
        // own old record goes before it says LATEST.
        let PromoteDecision::Go(protocol) = decide(&three) else {
            panic!("it goes");
        };
        assert!(protocol.steps.iter().any(|s| *s
            == PromoteStep::SetList(SyncStandbys::Any(QuorumList::new(
                2,
                &["pg03", "pg04", "pg05"]
            )))));
    }

    /// Audit F1: a promotion of pg03 stopped after it said `LATEST`, the
    /// former primary's record still there: two `LATEST`, no record read.
    /// The voters keep their scores, so the scores prove nothing: every
    /// node's position is needed, the former primary's and pg03's too.
    /// A diverged voter is never listed by a new primary (audit F3).
    #[test]
    fn quorum_without_a_readable_record_every_position_is_needed() {
        let (c, v) = quorum_failover();
        let half = with_attr(&v, "pg03", "pgsql-data-status", "LATEST");
        let f = facts(Some(500), &[("pg04", Some(500)), ("pg05", Some(500))]);
        match decide_promotion(&mut Plan::new(&c, &half), &f) {
            PromoteDecision::Refuse { reason, .. } => {
                assert_eq!(
                    reason.reason(),
                    "promotion refused: no quorum record, so every position is needed: pg01, pg03 \
                     published none"
                );
                assert!(
                    fits(reason.clone())
                        .contains("every node's position is needed, and pg01, pg03 published none"),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
        let diverged = with_attr(&v, "pg05", "pgsql-data-status", "DIVERGED");
        assert_eq!(
            promotion_list(&c, &diverged),
            SyncStandbys::Any(QuorumList::new(2, &["pg03", "pg04"]))
        );
    }

    /// Wiring audit F2: pg02's promotion stopped after it said `LATEST`,
    /// before the former primary pg01 (offline, its record naming pg02)
    /// was marked: pg02 passed its check against that record then, and
    /// the election makes it the last primary; its check now agrees
    /// instead of needing the position pg01's start waits for. While
    /// another node may still be promoted, every position is needed.
    #[test]
    fn quorum_a_promotion_stopped_half_way_is_finished_by_its_target() {
        let (c, half) = quorum_half_finished();
        assert!(crate::core::replication::is_last_primary(
            &Plan::new(&c, &half),
            "pg02"
        ));
        let f = facts(
            Some(500),
            &[
                ("pg03", Some(500)),
                ("pg04", Some(400)),
                ("pg05", Some(400)),
            ],
        );
        assert!(goes(&c, &half, &f));
        let scored = with_attr(&half, "pg03", "master-pgsql", "100");
        match decide_promotion(&mut Plan::new(&c, &scored), &f) {
            PromoteDecision::Refuse { reason, .. } => {
                fits(reason.clone());
                assert!(
                    reason.explained().contains("pg01 published none"),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    /// Quorum mode: pg02's promotion stopped after it said `LATEST`
    /// ([`quorum_failover`]'s record names it), pg03's score taken away:
    /// pg02 is the last primary.
    fn quorum_half_finished() -> (super::super::RepConfig, ClusterView) {
        let (c, v) = quorum_failover();
        let half = with_attr(&v, "pg02", "pgsql-data-status", "LATEST");
        (c, with_attr(&half, "pg03", "master-pgsql", "-INFINITY"))
    }

    /// Sync mode: pg02 was promoted after pg01 (pg01 `DISCONNECT`, pg02
    /// the only `LATEST`), its node crashed, and the election promotes it
    /// again.
    fn last_primary_again() -> (super::super::RepConfig, ClusterView) {
        let (c, v) = failover();
        let v = with_attr(&v, "pg01", "pgsql-data-status", "DISCONNECT");
        (c, with_attr(&v, "pg02", "pgsql-data-status", "LATEST"))
    }

    /// The same in quorum mode, pg02's record `1 of pg03`.
    fn quorum_last_primary_again() -> (super::super::RepConfig, ClusterView) {
        let (c, v) = quorum_failover();
        let v = with_attr(&v, "pg02", "pgsql-acked-on-any", "1 of pg03");
        let v = with_attr(&v, "pg02", "pgsql-data-status", "LATEST");
        (c, with_attr(&v, "pg01", "pgsql-data-status", "DISCONNECT"))
    }

    /// A silent running peer (replaying its WAL after a restart) does not
    /// hold back the last primary, elected again after its node's crash:
    /// the peer received flushed WAL only, and the last primary flushed
    /// every commit it acknowledged. Both modes; and the target of a
    /// promotion that stopped half way, which passed its check then.
    #[test]
    fn the_last_primary_is_not_held_back_by_a_silent_peer() {
        let (c, v) = quorum_last_primary_again();
        let f = facts(Some(500), &[("pg03", None), ("pg04", Some(400))]);
        assert!(goes(&c, &v, &f));
        let (c, v) = last_primary_again();
        assert!(goes(&c, &v, &facts(Some(500), &[("pg03", None)])));
        // Another node, not the last primary: a silent peer still blocks.
        let (c, v) = failover();
        let v = with_attr(&v, "pg01", "pgsql-acked-also-on", "pg03");
        match decide_promotion(&mut Plan::new(&c, &v), &facts(Some(500), &[("pg03", None)])) {
            PromoteDecision::Refuse { reason, .. } => {
                fits(reason.clone());
                assert!(reason.explained().contains("pg03"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        // Half way: pg02 said LATEST, pg01's record names it.
        let (c, half) = quorum_half_finished();
        let f = facts(
            Some(500),
            &[("pg03", Some(500)), ("pg04", Some(400)), ("pg05", None)],
        );
        assert!(goes(&c, &half, &f));
    }

    /// Review R1: a peer ahead of the last primary on its own timeline
    /// holds only WAL the primary never finished writing: no hand-over,
    /// even when every peer published (its promotion would end recovery at
    /// the same place); a newer timeline still gets it.
    #[test]
    fn the_last_primary_hands_over_only_to_a_newer_timeline() {
        let (c, v) = last_primary_again();
        let f = facts(Some(500), &[("pg03", Some(600))]);
        assert!(goes(&c, &v, &f));
        let mut newer = facts(Some(500), &[("pg03", Some(100))]);
        newer.peers[0].1 = Some(Location {
            tli: Some(3),
            lsn: Lsn(100),
        });
        match decide_promotion(&mut Plan::new(&c, &v), &newer) {
            PromoteDecision::Refuse { reason, .. } => {
                fits(reason.clone());
                assert!(reason.explained().contains("pg03 is ahead"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        // Quorum mode, every voter published: still no hand-over.
        let (c, v) = quorum_last_primary_again();
        let all = facts(
            Some(500),
            &[
                ("pg03", Some(600)),
                ("pg04", Some(600)),
                ("pg05", Some(600)),
            ],
        );
        assert!(goes(&c, &v, &all));
        // The target of a promotion stopped half way, with a peer ahead
        // that cannot prove its own promotion (pg01's position missing).
        let (c, half) = quorum_half_finished();
        assert!(goes(&c, &half, &all));
        // Fifth audit B4, review F3: without its own timeline a holder
        // refuses (LSNs alone could hand over to an older timeline, and a
        // newer one may exist).
        let (c, v) = last_primary_again();
        let mut unknown = facts(Some(500), &[("pg03", Some(600))]);
        unknown.mine = unknown.mine.map(|l| Location { tli: None, ..l });
        match decide_promotion(&mut Plan::new(&c, &v), &unknown) {
            PromoteDecision::Refuse { reason, writes } => {
                fits(reason.clone());
                assert!(
                    reason.explained().contains("timeline is unknown"),
                    "{reason}"
                );
                assert!(writes.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }

    /// Fourth audit A2 (sync mode, four nodes): the recorded holder pg02
    /// hands the promotion to pg03, ahead of it on its timeline, only when
    /// pg03's own check will pass: with pg04 silent it would be refused
    /// (leaving nobody), so pg02 keeps the promotion. A node that is not
    /// the recorded holder is still held back by the silent one.
    #[test]
    fn the_recorded_holder_hands_over_only_to_a_peer_that_can_prove_itself() {
        let (c, v) = failover_with_asyncs(&["pg03", "pg04"]);
        let silent = facts(Some(500), &[("pg03", Some(600)), ("pg04", None)]);
        assert!(goes(&c, &v, &silent));
        let all = facts(Some(500), &[("pg03", Some(600)), ("pg04", Some(400))]);
        match decide_promotion(&mut Plan::new(&c, &v), &all) {
            PromoteDecision::Refuse { reason, writes } => {
                fits(reason.clone());
                assert!(reason.explained().contains("pg03 is ahead"), "{reason}");
                assert!(writes.iter().any(
                    |w| w.node == "pg03" && w.value == Some(AttrValue::Score(Score::PromoteMe))
                ));
            }
            other => panic!("{other:?}"),
        }
        let other = with_attr(&v, "pg01", "pgsql-acked-also-on", "pg04");
        match decide_promotion(&mut Plan::new(&c, &other), &silent) {
            PromoteDecision::Refuse { reason, .. } => {
                fits(reason.clone());
                assert!(
                    reason
                        .explained()
                        .contains("pg04 published no WAL position"),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    /// The last primary is promoted again: it holds every commit it
    /// acknowledged, its own record asks nothing of it.
    #[test]
    fn quorum_the_last_primary_needs_no_voters() {
        let (c, v) = quorum_last_primary_again();
        let mut p = Plan::new(&c, &v);
        assert!(matches!(
            decide_promotion(&mut p, &facts(Some(500), &[("pg03", Some(500))])),
            PromoteDecision::Go(_)
        ));
        let mut p = Plan::new(&c, &v);
        let records = before_promotion(&mut p);
        assert!(records.phases[0]
            .iter()
            .any(|w| w.attr == Attr::AckedOnAny && w.wire().is_none()));
        assert!(records.undo.iter().any(|w| w.attr == Attr::AckedOnAny));
    }
}
