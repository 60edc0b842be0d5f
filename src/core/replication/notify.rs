//! What each notification does on this node, as ordered steps (which one
//! it is, from Pacemaker's variables: [`crate::core::notify`]).
//!
//! - pre-promote: every standby publishes its settled position
//!   ([`pre_promote`]); the target runs its check at promotion now
//!   ([`early_hand_over`]), and a node newer than the target says so
//!   ([`baseline_check`]);
//! - post-promote: the election is over ([`forget_election`]);
//! - post-demote: a standby that stays records its baseline
//!   ([`record_baseline`]);
//! - post-stop with nobody promotable: the election now, round after round
//!   ([`election_look`], [`election_round`], [`after_election_round`]);
//! - post-start/post-stop on the primary: its pass over its standbys
//!   ([`notified_primary`]).
//!
//! The executor reads what each step needs where it is needed (this
//! node's position, the peers' positions within a bound, the view for
//! each round of the election) and feeds it back here.

use super::election::{
    election_needed, newer_than_target, promotion_check, Location, PromotionCheck, StandbyFacts,
};
use super::monitor::RunningPrimary;
use super::monitor::{standby_pass, StandbyPass};
use super::plan::{Attr, AttrValue, Batch, Plan, RepConfig, Score, Status, Write};
use super::primaries::{primary_verdict, PrimaryVerdict};
use super::promotion::{compared_peers, hand_over, quorum_proof};
use super::rounds::StandbyRounds;
use crate::core::crm_mon::ClusterView;
use crate::core::lsn::Lsn;

/// One step of a notification, performed in order by the executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyStep {
    Apply(Batch),
    /// This node's `<rsc>-position` for a promotion: published, or
    /// withdrawn (`None`).
    Position(Option<Location>),
    /// The node demoted last: should this node be promoted next, it makes
    /// it its sync standby, so that the switchover can be undone.
    RememberFormerPrimary(String),
    /// That preference goes.
    ForgetFormerPrimary,
    /// Stream from there from now on ([`super::follow_now`]).
    Follow(super::Upstream),
    /// Wait (bounded) until the CIB shows these nodes' scores taken away:
    /// the change aborts Pacemaker's transition, and the promote must not
    /// start before it does.
    AwaitRevoked(Vec<String>),
}

/// What a standby found about its own position for a promotion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnPosition {
    /// It can no longer move ([`super::position_settled`]).
    Settled(Location),
    /// It still moved when the wait ended: PostgreSQL replays its local WAL.
    Moving,
    /// PostgreSQL is not in recovery: nothing to publish.
    Primary,
    /// PostgreSQL could not be asked, for this reason.
    Unknown(String),
}

/// pre-promote, for this node's own position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrePromote {
    pub steps: Vec<NotifyStep>,
    /// This node is the target and published this position: its check at
    /// promotion runs now ([`early_hand_over`]).
    pub check_now: Option<Location>,
}

/// pre-promote: every standby publishes its position for `promote`'s
/// check, only once it can no longer move (a smaller one could make the
/// promotion go to a node behind this one); otherwise a position published
/// for an earlier promotion is withdrawn, since it must not stand for
/// this one. The target that cannot publish gives its score up: its
/// promote would be refused for certain and count as a failure (with
/// `migration-threshold=1` it would be banned); the transition is aborted
/// instead, and the election decides once the positions are final.
pub fn pre_promote(cfg: &RepConfig, target: &str, own: OwnPosition) -> PrePromote {
    let (mut line, position) = match own {
        OwnPosition::Primary => {
            return PrePromote {
                steps: Vec::new(),
                check_now: None,
            }
        }
        OwnPosition::Settled(l) => (
            Batch::info(format!("My position for this promotion: {}.", l.to_wire())),
            Some(l),
        ),
        OwnPosition::Moving => (
            Batch::warning(
                "my WAL position may still move (PostgreSQL replays its local WAL): not published \
                 for this promotion",
            ),
            None,
        ),
        OwnPosition::Unknown(why) => (
            Batch::warning(format!(
                "can't publish my position for this promotion: {why}"
            )),
            None,
        ),
    };
    let gives_up = position.is_none() && target == cfg.me;
    if gives_up {
        line.warnings.push(
            "Giving up the promotion before it runs: this node's position is not final.".into(),
        );
        line.writes.push(Write {
            node: cfg.me.clone(),
            attr: Attr::Score,
            value: Some(AttrValue::Score(Score::CanNotPromote)),
            log: None,
        });
    }
    let mut steps = vec![NotifyStep::Apply(line), NotifyStep::Position(position)];
    if gives_up {
        steps.push(NotifyStep::AwaitRevoked(vec![cfg.me.clone()]));
    }
    PrePromote {
        steps,
        check_now: position.filter(|_| target == cfg.me),
    }
}

/// The target's check at promotion, run in its pre-promote notification
/// with the positions the others published meanwhile (R18): when another
/// candidate is ahead, it gets the promotion now, and the score change
/// makes Pacemaker abort the transition before the promote runs, so that
/// no failed promote bans this node (migration-threshold=1). Only a
/// hand-over acts here, among the peers the promote compares with
/// ([`compared_peers`]): a silent peer that may be ahead is left to the
/// promote's own wait; one the promote would ignore (the last primary's
/// quorum record proves the promotion without it, or this node holds
/// every acknowledged commit) does not hold the hand-over back.
pub fn early_hand_over(
    plan: &mut Plan,
    mine: Location,
    peers: &[(String, Option<Location>)],
) -> Vec<NotifyStep> {
    // Quorum mode: too few nodes run to prove this promotion even once
    // each has published. The promote would be refused and count as a
    // failure (with migration-threshold=1 this node would be banned, and
    // two voters could ban each other in turn); giving up the score
    // aborts the transition instead, and the election decides once
    // enough are back.
    let running: Vec<(String, Option<Location>)> =
        peers.iter().map(|(n, _)| (n.clone(), Some(mine))).collect();
    if let Err(why) = quorum_proof(plan, &running) {
        plan.warnings.push(format!(
            "Giving up the promotion before it runs: {}.",
            why.explained()
        ));
        plan.own_score(Score::CanNotPromote);
        return given_up(plan);
    }
    let compared = compared_peers(plan, mine, peers);
    let PromotionCheck::HandOver { to, reason } = promotion_check(mine, &compared) else {
        return Vec::new();
    };
    plan.warnings.push(format!(
        "Handing the promotion to {to} before it runs: {reason}."
    ));
    hand_over(plan, &to);
    given_up(plan)
}

/// The target's score change in pre-promote, then the wait until the CIB
/// shows it: Pacemaker aborts the transition on it, before the promote.
fn given_up(plan: &mut Plan) -> Vec<NotifyStep> {
    vec![
        NotifyStep::Apply(plan.take()),
        NotifyStep::AwaitRevoked(vec![plan.cfg.me.clone()]),
    ]
}

/// pre-promote on a node that is not the target: the stock agent's check
/// of the baselines ([`newer_than_target`]). The stock agent bans itself
/// when it is newer, which stops this node before the target's check at
/// promotion can see it: the promotion then goes to the older node and
/// this one stays out. Instead it stays, and says so; that check hands the
/// promotion to it (R18).
pub fn baseline_check(
    cfg: &RepConfig,
    target: &str,
    target_baseline: Option<Location>,
    mine: Option<Location>,
) -> Vec<NotifyStep> {
    if !newer_than_target(cfg, target, target_baseline, mine) {
        return Vec::new();
    }
    let location = target_baseline.map_or(String::new(), |l| l.lsn.to_hex16());
    vec![NotifyStep::Apply(Batch::warning(format!(
        "My data is newer than new master's one. New master's location : {location}; its check \
         at promotion hands the promotion to the newest node"
    )))]
}

/// post-promote, before anything is read: the position this node published
/// for the promotion that just ran goes.
pub fn post_promote_begin() -> Vec<NotifyStep> {
    vec![NotifyStep::Position(None)]
}

/// post-promote on a standby, first: it streams from the node just
/// promoted from now on, when `replication_hosts` gives that node's
/// address and its `primary_conninfo` names another host
/// ([`super::follow_now`]). The VIP comes after the notification.
pub fn follow_the_promoted(
    cfg: &RepConfig,
    promoted: Option<&str>,
    written_host: Option<&str>,
) -> Vec<NotifyStep> {
    super::follow_now(cfg, promoted, written_host)
        .map(NotifyStep::Follow)
        .into_iter()
        .collect()
}

/// post-promote: this node's election position goes, and its baseline with
/// the former-primary preference unless it is the node just promoted.
pub fn forget_election(plan: &mut Plan, keep_baseline: bool) -> Vec<NotifyStep> {
    let me = plan.cfg.me.clone();
    plan.delete(&me, Attr::XlogLoc);
    plan.delete(&me, Attr::XlogTli);
    let mut steps = Vec::new();
    if !keep_baseline {
        plan.delete(&me, Attr::MasterBaseline);
        steps.push(NotifyStep::ForgetFormerPrimary);
    }
    steps.push(NotifyStep::Apply(plan.take()));
    steps
}

/// post-demote on a standby that stays, before anything is read: the node
/// demoted is remembered as the preferred sync standby.
pub fn post_demote_begin(demoted: Option<&str>) -> Vec<NotifyStep> {
    demoted
        .map(|former| NotifyStep::RememberFormerPrimary(former.to_string()))
        .into_iter()
        .collect()
}

/// post-demote: this node's WAL location (`None`: unknown) as its
/// baseline for the pre-promote check, and `HS:alone`.
pub fn record_baseline(plan: &mut Plan, location: Option<Lsn>) -> Vec<NotifyStep> {
    let me = plan.cfg.me.clone();
    if let Some(lsn) = location {
        plan.infos
            .push(format!("My master baseline : {}.", lsn.to_hex16()));
        plan.set(&me, AttrValue::MasterBaseline(lsn));
    }
    plan.status(&me, Status::HsAlone);
    vec![NotifyStep::Apply(plan.take())]
}

/// post-stop: whether the election goes on (another round now). Not once
/// PostgreSQL left recovery, an instance is promoted, or a node has a
/// positive score Pacemaker can promote it with ([`election_needed`]).
pub fn election_look(cfg: &RepConfig, view: &ClusterView, in_recovery: bool) -> bool {
    in_recovery && election_needed(cfg, view)
}

/// One round of the post-stop election: a standby's pass
/// ([`standby_pass`], which runs the election when no instance is
/// promoted), with the facts read for this round.
pub fn election_round(plan: &mut Plan, facts: &StandbyFacts) -> StandbyPass {
    standby_pass(plan, facts)
}

/// After a round of the post-stop election. `failure`: why the round
/// failed (its own failure, or a step's), if it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterElectionRound {
    /// Look again ([`election_look`]) after a pause, while the
    /// notification's time for it lasts: the other candidates publish
    /// meanwhile.
    Again,
    /// Stop with this warning: the next monitor runs the same election.
    Stop(Batch),
}

pub fn after_election_round(failure: Option<&str>) -> AfterElectionRound {
    match failure {
        None => AfterElectionRound::Again,
        Some(why) => {
            AfterElectionRound::Stop(Batch::warning(format!("election at post-stop: {why}")))
        }
    }
}

/// post-start/post-stop on the node named promoted, which PostgreSQL says
/// is in recovery: the notification's list is stale; ignored, with this
/// warning.
pub fn notified_in_recovery() -> Batch {
    Batch::warning("notified as the primary, but PostgreSQL is in recovery: ignored")
}

/// What the primary does when notified of a start or a stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifiedPrimary {
    /// It is the stale one of two primaries: only this (its own score
    /// away, nothing about the others); its monitor fails.
    Stale(Batch),
    /// Its pass over its standbys, now, in these rounds.
    Pass(StandbyRounds),
}

/// post-start/post-stop on the primary: its pass over its standbys now,
/// unless the monitor's verdict ([`primary_verdict`]) says it is the stale
/// one of two primaries.
pub fn notified_primary(plan: &mut Plan, facts: &RunningPrimary) -> NotifiedPrimary {
    match primary_verdict(plan, facts.insert_tli, &facts.histories) {
        PrimaryVerdict::Stale(why) => {
            plan.warnings.push(why.explained().to_string());
            plan.own_score(Score::CanNotPromote);
            NotifiedPrimary::Stale(plan.take())
        }
        PrimaryVerdict::Alone | PrimaryVerdict::Newer(_) => NotifiedPrimary::Pass(facts.rounds()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::super::*;
    use crate::config::RepMode;
    use crate::core::lsn::Lsn;

    fn at(tli: u32, lsn: u64) -> Location {
        Location {
            tli: Some(tli),
            lsn: Lsn(lsn),
        }
    }

    /// The writes of an Apply step, as `node:attr=value`.
    fn applied(steps: &[NotifyStep]) -> Vec<String> {
        steps
            .iter()
            .filter_map(|s| match s {
                NotifyStep::Apply(b) => Some(b),
                _ => None,
            })
            .flat_map(|b| &b.writes)
            .map(Write::summary)
            .collect()
    }

    #[test]
    fn pre_promote_publishes_only_a_settled_position() {
        let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
        let settled = pre_promote(&c, "pg02", OwnPosition::Settled(at(2, 500)));
        assert_eq!(
            settled.steps,
            [
                NotifyStep::Apply(Batch::info(
                    "My position for this promotion: 2/00000000000001F4."
                )),
                NotifyStep::Position(Some(at(2, 500)))
            ]
        );
        assert_eq!(settled.check_now, None, "not the target");
        // The target runs its check at promotion now.
        let target = pre_promote(&c, "pg01", OwnPosition::Settled(at(2, 500)));
        assert_eq!(target.check_now, Some(at(2, 500)));
        // A position that may move, or none, withdraws the old one; the
        // target gives its score up, a peer does not.
        for own in [OwnPosition::Moving, OwnPosition::Unknown("refused".into())] {
            let p = pre_promote(&c, "pg01", own.clone());
            assert_eq!(p.steps[1], NotifyStep::Position(None));
            assert_eq!(p.check_now, None);
            let NotifyStep::Apply(batch) = &p.steps[0] else {
                panic!()
            };
            assert_eq!(
                batch.writes.iter().map(Write::summary).collect::<Vec<_>>(),
                ["pg01:Score=-INFINITY"]
            );
            // Shown in the CIB before the notification returns.
            assert_eq!(p.steps[2], NotifyStep::AwaitRevoked(vec!["pg01".into()]));
            let peer = pre_promote(&c, "pg02", own);
            assert_eq!(peer.steps.len(), 2);
            let NotifyStep::Apply(batch) = &peer.steps[0] else {
                panic!()
            };
            assert_eq!(batch.writes, []);
        }
        let p = pre_promote(&c, "pg02", OwnPosition::Unknown("refused".into()));
        assert_eq!(
            p.steps[0],
            NotifyStep::Apply(Batch::warning(
                "can't publish my position for this promotion: refused"
            ))
        );
        assert_eq!(pre_promote(&c, "pg01", OwnPosition::Primary).steps, []);
    }

    /// The target hands the promotion to a peer ahead of it; a silent peer
    /// is left to the promote's own wait.
    #[test]
    fn the_target_hands_over_early_only_to_a_peer_ahead() {
        let (c, v) = primary_fixture();
        let mut p = Plan::new(&c, &v);
        let ahead = [
            ("pg02".to_string(), Some(at(2, 400))),
            ("pg03".to_string(), Some(at(2, 600))),
        ];
        let steps = early_hand_over(&mut p, at(2, 500), &ahead);
        assert_eq!(applied(&steps), ["pg01:Score=-INFINITY", "pg03:Score=1000"]);
        let NotifyStep::Apply(b) = &steps[0] else {
            panic!()
        };
        assert!(b.warnings[0]
            .starts_with("Handing the promotion to pg03 before it runs: pg03 is ahead"));
        assert_eq!(steps[1], NotifyStep::AwaitRevoked(vec!["pg01".into()]));
        let silent = [("pg02".to_string(), None)];
        assert_eq!(
            early_hand_over(&mut Plan::new(&c, &v), at(2, 500), &silent),
            []
        );
        let behind = [("pg02".to_string(), Some(at(2, 400)))];
        assert_eq!(
            early_hand_over(&mut Plan::new(&c, &v), at(2, 500), &behind),
            []
        );
    }

    #[test]
    fn a_node_newer_than_the_target_says_so() {
        let c = cfg(RepMode::Sync, &["pg03", "pg01", "pg02"]);
        let base = |l| {
            Some(Location {
                tli: None,
                lsn: Lsn(l),
            })
        };
        let steps = baseline_check(&c, "pg02", base(0x100), base(0x200));
        assert_eq!(
            steps,
            [NotifyStep::Apply(Batch::warning(
                "My data is newer than new master's one. New master's location : \
                 0000000000000100; its check at promotion hands the promotion to the newest node"
            ))]
        );
        assert_eq!(baseline_check(&c, "pg02", base(0x300), base(0x200)), []);
    }

    #[test]
    fn post_promote_forgets_the_election() {
        let (c, v) = primary_fixture();
        let v = with_attr(&v, "pg01", "pgsql-xlog-loc", "0000000003000000");
        let v = with_attr(&v, "pg01", "pgsql-master-baseline", "0000000003000000");
        assert_eq!(post_promote_begin(), [NotifyStep::Position(None)]);
        let steps = forget_election(&mut Plan::new(&c, &v), false);
        assert_eq!(steps[0], NotifyStep::ForgetFormerPrimary);
        assert_eq!(
            applied(&steps),
            ["pg01:XlogLoc=<deleted>", "pg01:MasterBaseline=<deleted>"]
        );
        // The node just promoted keeps its baseline and the preference.
        let steps = forget_election(&mut Plan::new(&c, &v), true);
        assert_eq!(applied(&steps), ["pg01:XlogLoc=<deleted>"]);
        assert_eq!(steps.len(), 1);
    }

    #[test]
    fn post_demote_remembers_the_former_primary_and_records_a_baseline() {
        assert_eq!(
            post_demote_begin(Some("pg02")),
            [NotifyStep::RememberFormerPrimary("pg02".into())]
        );
        assert_eq!(post_demote_begin(None), []);
        let (c, v) = primary_fixture();
        let steps = record_baseline(&mut Plan::new(&c, &v), Some(Lsn(0x3000028)));
        assert_eq!(
            applied(&steps),
            [
                "pg01:MasterBaseline=0000000003000028",
                "pg01:Status=HS:alone"
            ]
        );
        let NotifyStep::Apply(b) = &steps[0] else {
            panic!()
        };
        assert_eq!(b.infos, ["My master baseline : 0000000003000028."]);
        assert_eq!(
            applied(&record_baseline(&mut Plan::new(&c, &v), None)),
            ["pg01:Status=HS:alone"]
        );
    }

    /// The post-stop election, driven round by round as the executor does:
    /// pg02 has not published in the first round; it has in the second,
    /// which pg01 wins; the third look finds pg01's 1000 and stops.
    #[test]
    fn the_post_stop_election_round_by_round() {
        let c = cfg(RepMode::Async, &["pg01", "pg02"]);
        let mut v = view(&["pg01", "pg02"], &[], &[]);
        v.unpromoted = vec!["pg01".into(), "pg02".into()];
        let facts = standby_facts(true);
        // Round 1: pg02's position is awaited.
        assert!(election_look(&c, &v, true));
        let mut p = Plan::new(&c, &v);
        let round = election_round(&mut p, &facts);
        assert_eq!(round.failure, None);
        let StandbyStep::Election(ElectionFiles::Write(counter)) = &round.steps[0] else {
            panic!("{:?}", round.steps)
        };
        assert_eq!(after_election_round(None), AfterElectionRound::Again);
        // Round 2: pg02 published an older position; the view shows pg01's.
        let v2 = with_attr(&v, "pg01", "pgsql-xlog-loc", "00000000000001F4");
        let v2 = with_attr(&v2, "pg01", "pgsql-xlog-tli", "2");
        let v2 = with_attr(&v2, "pg02", "pgsql-xlog-loc", "0000000000000100");
        let v2 = with_attr(&v2, "pg02", "pgsql-xlog-tli", "2");
        assert!(election_look(&c, &v2, true));
        let facts2 = StandbyFacts {
            election: Some(counter.clone()),
            ..facts.clone()
        };
        let mut p = Plan::new(&c, &v2);
        let round = election_round(&mut p, &facts2);
        assert_eq!(round.steps[0], StandbyStep::Election(ElectionFiles::Clear));
        let StandbyStep::Apply(b) = &round.steps[1] else {
            panic!()
        };
        assert!(b
            .writes
            .iter()
            .any(|w| w.attr == Attr::Score && w.wire().as_deref() == Some("1000")));
        // Round 3: a positive score: Pacemaker promotes; the election is over.
        let v3 = with_attr(&v2, "pg01", "master-pgsql", "1000");
        assert!(!election_look(&c, &v3, true));
        // Unless that instance failed, or its fail count keeps it stopped:
        // Pacemaker cannot promote it, whatever score it kept.
        let mut failed = v3.clone();
        failed.failed = vec!["pg01".into()];
        assert!(election_look(&c, &failed, true));
        let mut kept_out = v3.clone();
        kept_out.unpromoted = vec!["pg02".into()];
        kept_out.fail_counts.insert("pg01".into(), 1);
        assert!(election_look(&c, &kept_out, true));
        // PostgreSQL left recovery, or an instance is promoted: over too.
        assert!(!election_look(&c, &v, false));
        let mut promoted = v.clone();
        promoted.promoted = vec!["pg02".into()];
        assert!(!election_look(&c, &promoted, true));
    }

    /// A failed round (a position that cannot be read) stops the election
    /// with a warning; the next monitor runs it again.
    #[test]
    fn a_failed_round_stops_the_post_stop_election() {
        let c = cfg(RepMode::Async, &["pg01", "pg02"]);
        let v = view(&["pg01", "pg02"], &[], &[]);
        let mut facts = standby_facts(true);
        facts.location = None;
        let round = election_round(&mut Plan::new(&c, &v), &facts);
        assert_eq!(round.steps, []);
        assert_eq!(
            after_election_round(round.failure.as_deref()),
            AfterElectionRound::Stop(Batch::warning(
                "election at post-stop: Failed to show my xlog location."
            ))
        );
    }

    #[test]
    fn the_notified_primary_passes_unless_it_is_the_stale_one() {
        let (c, mut v) = primary_fixture();
        v.promoted = vec!["pg01".into()];
        let mut facts = RunningPrimary {
            insert_tli: Some(3),
            histories: Default::default(),
            sync_standbys: r#"FIRST 1 ("pg02")"#.into(),
            ceiling_record: None,
            postmaster_start: "2026-12-06 12:00:00+00".into(),
            sync_flag_note: None,
            sync_standbys_in_file: None,
            promotion_note: None,
            slot_wal_keep: None,
            slots: None,
        };
        assert_eq!(
            notified_primary(&mut Plan::new(&c, &v), &facts),
            NotifiedPrimary::Pass(
                StandbyRounds::new(r#"FIRST 1 ("pg02")"#, None)
                    .with_sync_flag("2026-12-06 12:00:00+00", None)
            )
        );
        // pg02 published a newer timeline: this primary is the stale one.
        facts
            .histories
            .insert("pg02".into(), "4:3@0/9000000".into());
        let NotifiedPrimary::Stale(b) = notified_primary(&mut Plan::new(&c, &v), &facts) else {
            panic!()
        };
        assert!(b.warnings[0].starts_with("pg02 published a primary's history on timeline 4"));
        assert_eq!(b.writes.len(), 1);
        assert_eq!(b.writes[0].wire().as_deref(), Some("-INFINITY"));
        assert_eq!(
            notified_in_recovery().warnings,
            ["notified as the primary, but PostgreSQL is in recovery: ignored"]
        );
    }
    /// Audit F4: the target of a promotion in quorum mode when too few
    /// voters run to prove it (pg01, the last primary, gone with `1 of
    /// pg02 pg03`; pg03 not running): it gives its score up in
    /// pre-promote, so that Pacemaker aborts the transition instead of
    /// counting a refused promote as a failure.
    #[test]
    fn quorum_a_target_that_cannot_be_proven_gives_up_its_score() {
        let (c, v) = quorum_failover_on_three();
        let v = with_attr(&v, "pg02", "master-pgsql", "100");
        let mut p = Plan::new(&c, &v);
        let steps = early_hand_over(&mut p, at(2, 500), &[]);
        let NotifyStep::Apply(batch) = &steps[0] else {
            panic!("{steps:?}");
        };
        assert_eq!(batch.writes[0].wire().as_deref(), Some("-INFINITY"));
        assert!(batch.warnings[0].contains("pg03 may hold commits"));
        // pg03 runs: the promote's own wait decides, nothing here.
        let mut p = Plan::new(&c, &v);
        assert!(early_hand_over(&mut p, at(2, 500), &[("pg03".into(), None)]).is_empty());
    }

    /// Fourth audit A1 (quorum, three nodes, k=1): the last primary pg02
    /// (record `1 of pg01 pg03`) is elected again after its node's crash,
    /// pg03's node is gone, and pg01 received part of a record pg02 never
    /// finished writing. pg02 keeps the promotion: handed to pg01, which
    /// cannot prove itself without pg03, it gave up and nobody was
    /// promoted. A peer on a newer timeline still gets it.
    #[test]
    fn the_last_primary_hands_over_early_only_to_a_newer_timeline() {
        let mut c = cfg(RepMode::Quorum, &["pg02", "pg01", "pg03"]);
        c.quorum_standbys = 1;
        let mut v = view(
            &["pg02", "pg01"],
            &["pg03"],
            &[
                ("pg02", "pgsql-data-status", "LATEST"),
                ("pg02", "pgsql-acked-on-any", "1 of pg01 pg03"),
                ("pg01", "pgsql-data-status", "DISCONNECT"),
            ],
        );
        v.quorum = true;
        let mut p = Plan::new(&c, &v);
        let same = [("pg01".to_string(), Some(at(2, 600)))];
        assert_eq!(early_hand_over(&mut p, at(2, 500), &same), []);
        let newer = [("pg01".to_string(), Some(at(3, 100)))];
        let steps = early_hand_over(&mut p, at(2, 500), &newer);
        assert_eq!(applied(&steps), ["pg02:Score=-INFINITY", "pg01:Score=1000"]);
    }

    /// Fifth audit B5: in quorum mode a silent voter beyond those the
    /// record needs does not hold back the early hand-over to a voter
    /// ahead (the promote would hand over to it the same way).
    #[test]
    fn quorum_the_target_hands_over_early_past_a_silent_voter() {
        let (c, v) = quorum_failover();
        let peers = [
            ("pg03".to_string(), None),
            ("pg04".to_string(), Some(at(2, 600))),
            ("pg05".to_string(), Some(at(2, 400))),
        ];
        let steps = early_hand_over(&mut Plan::new(&c, &v), at(2, 500), &peers);
        assert_eq!(applied(&steps), ["pg02:Score=-INFINITY", "pg04:Score=1000"]);
        // Sync mode, no record: the silent peer may be ahead, nothing here.
        let (c, v) = primary_fixture();
        let peers = [
            ("pg02".to_string(), None),
            ("pg03".to_string(), Some(at(2, 600))),
        ];
        assert_eq!(
            early_hand_over(&mut Plan::new(&c, &v), at(2, 500), &peers),
            []
        );
    }

    /// Review F1 (sync mode): pg01, the sync standby the last primary pg02
    /// recorded, won the holders' election; pg02 published its replay end,
    /// pg03 a position past it on the same timeline, which is only part of
    /// a record pg02 never finished: no hand-over. The last primary itself
    /// ahead of pg01 by complete records gets it.
    #[test]
    fn the_recorded_holder_keeps_the_promotion_from_a_peer_past_the_last_primary() {
        let (c, v) = last_primary_and_its_standby_back();
        let v = with_attr(&v, "pg01", "master-pgsql", "1000");
        let mut v = with_attr(&v, "pg03", "pgsql-data-status", "DISCONNECT");
        v.quorum = true;
        let peers = |last: u64| {
            [
                ("pg02".to_string(), Some(at(6, last))),
                ("pg03".to_string(), Some(at(6, 0x0A048300))),
            ]
        };
        let steps = early_hand_over(
            &mut Plan::new(&c, &v),
            at(6, 0x0A048200),
            &peers(0x0A048178),
        );
        assert_eq!(applied(&steps), Vec::<String>::new());
        let steps = early_hand_over(
            &mut Plan::new(&c, &v),
            at(6, 0x0A048200),
            &peers(0x0A048280),
        );
        assert_eq!(applied(&steps), ["pg01:Score=-INFINITY", "pg02:Score=1000"]);
    }

    /// Wiring audit F2: pg02's promotion stopped after it said `LATEST`;
    /// the election elects it again (the former primary's record names
    /// it, nobody else may be promoted), and its pre-promote keeps its
    /// score instead of needing the offline former primary's position.
    #[test]
    fn quorum_the_target_of_a_promotion_stopped_half_way_keeps_its_score() {
        let (c, v) = quorum_failover_on_three();
        let v = with_attr(&v, "pg02", "pgsql-data-status", "LATEST");
        let v = with_attr(&v, "pg03", "master-pgsql", "-INFINITY");
        let mut p = Plan::new(&c, &v);
        assert!(early_hand_over(&mut p, at(2, 500), &[("pg03".into(), None)]).is_empty());
    }
}
