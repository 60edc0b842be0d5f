//! monitor of a replicated instance, as ordered steps, from what it read
//! once: the primary's pass ([`monitor_primary`]: the two-primaries
//! verdict, its own attributes, its history, its rounds over the
//! standbys), a standby's ([`monitor_standby`], [`standby_pass`]: the
//! election or the lock's release, then the divergence check), and a
//! crashed primary's recovery in place ([`after_crash`]).

use super::diverge::{divergence_check, history_to_check, DivergenceFacts};
use super::election::{standby_monitor, DeferralNote, ElectionFiles, StandbyFacts};
use super::lock::recover_in_place;
use super::plan::{Attr, AttrValue, Batch, Plan, RepConfig, Score, Write};
use super::primaries::{primary_verdict, PrimaryVerdict};
use super::rounds::StandbyRounds;
use super::slots::{slot_bound_to_set, slot_repair, Slot, SlotRepair};
use super::start_stop::NOT_AHEAD;
use super::sync::primary_self;
use super::{probe_score, receiver_status, ReceiverStatus};
use crate::core::crm_mon::ClusterView;
use crate::core::history::{self, PromotionNote};
use crate::core::lsn::Lsn;
use crate::core::version::PgMajor;
use crate::error::AgentError;
use crate::ocf::rc::OcfRc;
use std::collections::BTreeMap;
use std::time::Duration;

/// One step of a monitor, performed in order by the executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MonitorStep {
    Apply(Batch),
    /// `<rsc>-receiver-status`, through attrd (`check_wal_receiver`).
    ReceiverStatus(ReceiverStatus),
    /// This primary's timeline history, published when it changed
    /// (`<rsc>-history`, which standbys check for a divergence).
    PublishHistory,
    /// `auto_rewind`: an immediate checkpoint while pg_control still names
    /// an older timeline ([`super::checkpoint_for_rewinds`]).
    CheckpointForRewinds,
    /// The primary's pass over its standbys, in rounds. The first round's
    /// writes carry this monitor's own, still in the plan (one batch, and
    /// nothing written when `pg_stat_replication` cannot be read).
    ControlStandbys(StandbyRounds),
    /// Sync mode: the warning about commits acknowledged before the sync
    /// standby flushed them, once per change
    /// ([`super::weak_commit_warning`]).
    WarnWeakCommits,
    /// A step of a standby's pass.
    Standby(StandbyStep),
    /// Stream from there from now on ([`super::follow_now`]).
    Follow(super::Upstream),
    /// This node's promotion on record (`<rsc>-promotions`), then its note
    /// goes ([`crate::core::history`]).
    RecordPromotion(Write),
    /// `max_slot_wal_keep_size` set to this (`ALTER SYSTEM`, a reload).
    /// Best effort, after the pass (whose list must be in effect first).
    BoundSlotWal(String),
    /// Slots lost or missing, made anew ([`super::slot_repair`]). Best
    /// effort, after the pass.
    RepairSlots(SlotRepair),
}

/// A monitor's steps, then its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorOutcome {
    pub steps: Vec<MonitorStep>,
    pub answer: Result<OcfRc, AgentError>,
}

/// What the actions of a running primary (its monitor, a notification)
/// read, once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningPrimary {
    /// The timeline PostgreSQL inserts WAL on.
    pub insert_tli: Option<u32>,
    /// What the other nodes published as `<rsc>-history`
    /// ([`super::histories_needed`]: read only when they can matter).
    pub histories: BTreeMap<String, String>,
    /// `synchronous_standby_names` in effect.
    pub sync_standbys: String,
    /// The ceiling recorded for it ([`super::recorded_ceiling`]).
    pub ceiling_record: Option<String>,
    /// When the postmaster started (`pg_postmaster_start_time()` as text),
    /// and the sync flag's note in tmpdir ([`super::recorded_sync_flag`]).
    pub postmaster_start: String,
    pub sync_flag_note: Option<String>,
    /// `synchronous_standby_names` as postgresql.auto.conf holds it: what
    /// the next reload or start applies ([`StandbyRounds::with_file_list`]).
    pub sync_standbys_in_file: Option<String>,
    /// This node's promotion, not recorded yet
    /// ([`crate::core::history::PromotionNote`]).
    pub promotion_note: Option<PromotionNote>,
    /// `max_slot_wal_keep_size` as the server runs with it (read only when
    /// the configuration sets a bound).
    pub slot_wal_keep: Option<String>,
    /// The physical replication slots (read only with
    /// `replication_slot_name`; `None`: not read, or unreadable).
    pub slots: Option<Vec<Slot>>,
}

impl RunningPrimary {
    /// The primary's pass over its standbys, from what was read.
    pub fn rounds(&self) -> StandbyRounds {
        StandbyRounds::new(&self.sync_standbys, self.ceiling_record.as_deref())
            .with_file_list(self.sync_standbys_in_file.as_deref())
            .with_sync_flag(&self.postmaster_start, self.sync_flag_note.as_deref())
    }
}

/// A primary's monitor. The stale one of two primaries
/// ([`primary_verdict`]) takes its own score away and fails, writing
/// nothing about the others. The newer one says so; if Pacemaker did not
/// promote it (a probe's find), it reports itself Promoted and publishes
/// its history, so that the other one fails at its next monitor. Otherwise
/// its own attributes ([`primary_self`]), its history, the checkpoint for
/// rewinds, its pass over the standbys, the weak-commit warning.
/// `probe`: the monitor is a probe (its own score is seeded).
pub fn monitor_primary(plan: &mut Plan, probe: bool, facts: &RunningPrimary) -> MonitorOutcome {
    let cfg = plan.cfg;
    let mut steps = Vec::new();
    match primary_verdict(plan, facts.insert_tli, &facts.histories) {
        PrimaryVerdict::Alone => {}
        PrimaryVerdict::Stale(why) => {
            plan.own_score(Score::CanNotPromote);
            return MonitorOutcome {
                steps: vec![MonitorStep::Apply(plan.take())],
                answer: Err(why),
            };
        }
        PrimaryVerdict::Newer(why) if !plan.view.promoted.contains(&cfg.me) => {
            plan.warnings.push(why);
            plan.own_score(Score::PromoteMe);
            return MonitorOutcome {
                steps: vec![MonitorStep::Apply(plan.take()), MonitorStep::PublishHistory],
                answer: Ok(OcfRc::RunningPromoted),
            };
        }
        PrimaryVerdict::Newer(why) => steps.push(MonitorStep::Apply(Batch::warning(why))),
    }
    if probe {
        if let Some(score) = probe_score(plan, false) {
            plan.own_score(score);
        }
    }
    if cfg.check_wal_receiver {
        steps.push(MonitorStep::ReceiverStatus(receiver_status(false, false)));
    }
    primary_self(plan);
    steps.push(MonitorStep::PublishHistory);
    if cfg.auto_rewind {
        steps.push(MonitorStep::CheckpointForRewinds);
    }
    steps.push(MonitorStep::ControlStandbys(facts.rounds()));
    if cfg.waits_for_standbys() {
        steps.push(MonitorStep::WarnWeakCommits);
    }
    // Housekeeping, once the pass put its list in effect: a reload before
    // it would apply a list no rule checked.
    if let Some(bound) = slot_bound_to_set(cfg.slot_wal_keep_mb, facts.slot_wal_keep.as_deref()) {
        steps.push(MonitorStep::BoundSlotWal(bound));
    }
    if let Some(repair) = slot_repair(&cfg.slot_names, facts.slots.as_deref()) {
        steps.push(MonitorStep::RepairSlots(repair));
    }
    // Its promotion on record, with the timeline PostgreSQL began.
    if let (Some(note), Some(tli)) = (&facts.promotion_note, facts.insert_tli) {
        let value = history::recorded(plan.current(&cfg.me, Attr::Promotions), tli, note);
        steps.push(MonitorStep::RecordPromotion(Write {
            node: cfg.me.clone(),
            attr: Attr::Promotions,
            log: Some(format!(
                "This node's promotion, on timeline {tli}: {}.",
                note.to_text()
            )),
            value: Some(AttrValue::Promotions(value)),
        }));
    }
    MonitorOutcome {
        steps,
        answer: Ok(OcfRc::RunningPromoted),
    }
}

/// A standby's monitor: its score seeded at a probe, its receiver's
/// status, then its pass ([`standby_pass`]), whose failure fails the
/// monitor.
pub fn monitor_standby(plan: &mut Plan, probe: bool, facts: &StandbyFacts) -> MonitorOutcome {
    if probe {
        if let Some(score) = probe_score(plan, true) {
            plan.own_score(score);
        }
    }
    let mut steps = Vec::new();
    let promoted = plan.view.sole_promoted();
    if let Some(upstream) = super::follow_now(plan.cfg, promoted, facts.written_host.as_deref()) {
        steps.push(MonitorStep::Follow(upstream));
    }
    if plan.cfg.check_wal_receiver {
        steps.push(MonitorStep::ReceiverStatus(receiver_status(
            true,
            facts.streaming,
        )));
    }
    let pass = standby_pass(plan, facts);
    steps.extend(pass.steps.into_iter().map(MonitorStep::Standby));
    MonitorOutcome {
        steps,
        answer: match pass.failure {
            Some(reason) => Err(AgentError::generic(reason)),
            None => Ok(OcfRc::Success),
        },
    }
}

/// A primary that crashed again within this time is left to Pacemaker's
/// failure policy.
pub const RECOVER_IN_PLACE_AGAIN_AFTER: Duration = Duration::from_secs(600);

/// One step of a recovery in place, performed in order by the executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrashStep {
    Apply(Batch),
    /// Note when this recovery in place ran.
    NoteRecoveredInPlace,
    /// Stop what is left (`stop_escalate`), then start PostgreSQL again:
    /// it runs crash recovery.
    StopServer,
    StartServer,
    /// Wait until the CIB shows these nodes' scores taken away (the
    /// barrier of the standby rounds); not shown in time, this batch is
    /// applied and the crash is reported instead.
    AwaitRevocations {
        nodes: Vec<String>,
        not_shown: Batch,
    },
    /// Wait until a view of the cluster read after the take-back's writes
    /// shows them with quorum ([`claims_taken_back`]); not shown in time,
    /// this batch is applied and the crash is reported instead.
    AwaitTakenBack {
        revoked: Vec<String>,
        not_shown: Batch,
    },
    /// The ceiling recorded under the crashed postmaster goes: it says
    /// nothing of what the restarted one acknowledges.
    ForgetCeiling,
}

/// What a monitor does about a dead postmaster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterCrash {
    /// The crash is reported; this line says why there is no recovery in
    /// place.
    Report(Batch),
    /// These steps, then the monitor of the running server, with the same
    /// view.
    RecoverInPlace(Vec<CrashStep>),
}

/// A dead postmaster: recovered in place when this node is the primary
/// that no other node can replace ([`recover_in_place`]), and not again
/// within [`RECOVER_IN_PLACE_AGAIN_AFTER`]; `last_recovery`: how long ago
/// it last recovered in place (`None`: not known to).
pub fn after_crash(
    plan: &mut Plan,
    major: &PgMajor,
    last_recovery: Option<Duration>,
) -> AfterCrash {
    let recently = last_recovery.is_some_and(|ago| ago < RECOVER_IN_PLACE_AGAIN_AFTER);
    if let Err(why) = recover_in_place(plan, recently) {
        return AfterCrash::Report(Batch::info(format!(
            "PostgreSQL crashed; no recovery in place: {why}."
        )));
    }
    let mut steps = vec![CrashStep::Apply(Batch::warning(
        "PostgreSQL crashed on the primary and no other node can be promoted: crash \
         recovery in place.",
    ))];
    if plan.cfg.waits_for_standbys() && !major.sync_flag_set_before_connections() {
        steps.extend(take_back_claims(plan));
    }
    steps.extend([
        CrashStep::NoteRecoveredInPlace,
        CrashStep::StopServer,
        CrashStep::StartServer,
    ]);
    AfterCrash::RecoverInPlace(steps)
}

/// Before PostgreSQL 15 the restarted server lets clients commit before its
/// checkpointer sets the flag that makes commits wait for the sync standby
/// ([`PgMajor::sync_flag_set_before_connections`]): its first commits may
/// be acknowledged by this node alone. So before it starts, no other node
/// stays scored (a score kept by a failed instance comes back with a
/// cleanup) or recorded (`acked-also-on`, or quorum mode's
/// `acked-on-any`, which the election takes at its word) as holding every
/// commit, and the ceiling read under the crashed
/// postmaster goes. This node is then the only holder (rule 7) until its
/// first pass has proven the flag again (rule 3) and scores again. Every
/// scored node gets `-INFINITY`, whatever crm_mon shows (R46), and the
/// record goes only once the CIB shows them: not shown, nothing restarts
/// and the record still tells the election who holds what.
///
/// Nor does the restart come before a view read after these writes shows
/// them with quorum ([`claims_taken_back`]): Pacemaker takes attribute
/// writes without quorum, and a partition that forms meanwhile would leave
/// them on this side alone, while the side that elects still reads the
/// record and promotes without the commits the restarted server
/// acknowledged alone.
fn take_back_claims(plan: &mut Plan) -> Vec<CrashStep> {
    let others: Vec<String> = plan.cfg.others().map(str::to_string).collect();
    for n in &others {
        plan.revoke_score(n);
    }
    let revocations = plan.take();
    let revoked: Vec<String> = revocations.writes.iter().map(|w| w.node.clone()).collect();
    let mut steps = vec![CrashStep::Apply(revocations)];
    if !revoked.is_empty() {
        steps.push(CrashStep::AwaitRevocations {
            nodes: revoked.clone(),
            not_shown: Batch::warning(
                "PostgreSQL crashed; no recovery in place: the CIB does not show the other \
                 nodes' scores taken away yet (before PostgreSQL 15 the restarted server may \
                 acknowledge its first commits alone).",
            ),
        });
    }
    let me = plan.cfg.me.clone();
    plan.delete(&me, Attr::AckedAlsoOn);
    plan.delete(&me, Attr::AckedOnAny);
    steps.push(CrashStep::Apply(plan.take()));
    steps.push(CrashStep::AwaitTakenBack {
        revoked,
        not_shown: Batch::warning(
            "PostgreSQL crashed; no recovery in place: no view of the cluster with quorum \
             shows the other nodes' scores and this node's records taken away yet (before \
             PostgreSQL 15 the restarted server may acknowledge its first commits alone).",
        ),
    });
    steps.push(CrashStep::ForgetCeiling);
    steps
}

/// The take-back before a recovery in place ([`take_back_claims`]), as a
/// view read after its writes shows it: this partition has quorum, this
/// node records nobody (`acked-also-on`, `acked-on-any`), and each revoked
/// score is taken away or gone.
pub fn claims_taken_back(cfg: &RepConfig, fresh: &ClusterView, revoked: &[String]) -> bool {
    let seen = Plan::new(cfg, fresh);
    fresh.quorum
        && seen.current(&cfg.me, Attr::AckedAlsoOn).is_none()
        && seen.current(&cfg.me, Attr::AckedOnAny).is_none()
        && revoked
            .iter()
            .all(|n| super::revocation_shown(seen.current(n, Attr::Score)))
}

/// One step of a standby's pass, performed in order by the executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StandbyStep {
    /// The election counter files: written again, or gone.
    Election(ElectionFiles),
    /// The note that bounds the election's deferral: made, or gone.
    Deferral(DeferralNote),
    /// `PGSQL.lock` goes, for this reason.
    RemoveLock(&'static str),
    Apply(Batch),
}

/// A standby's pass: its steps, then the failure it reports, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandbyPass {
    pub steps: Vec<StandbyStep>,
    /// The exit reason: its position could not be read for an election
    /// (nothing is written then), or it diverged
    /// ([`divergence_check`], after its writes).
    pub failure: Option<String>,
}

/// A standby's pass, in its monitor and in the post-stop election:
/// [`standby_monitor`] (the election, or the lock's release), then, when
/// [`history_to_check`] names the promoted node, [`divergence_check`]
/// against the history it published (`facts.primary_history`).
pub fn standby_pass(plan: &mut Plan, facts: &StandbyFacts) -> StandbyPass {
    let primary = history_to_check(plan, facts.streaming);
    let outcome = match standby_monitor(plan, facts) {
        Ok(outcome) => outcome,
        Err(reason) => {
            return StandbyPass {
                steps: Vec::new(),
                failure: Some(reason),
            }
        }
    };
    let mut steps = Vec::new();
    if outcome.election != ElectionFiles::Keep {
        steps.push(StandbyStep::Election(outcome.election));
    }
    if let Some(note) = outcome.deferral {
        steps.push(StandbyStep::Deferral(note));
    }
    if outcome.remove_lock {
        steps.push(StandbyStep::RemoveLock(NOT_AHEAD));
    }
    let failure = primary.and_then(|primary| {
        let divergence = DivergenceFacts {
            primary: &primary,
            published: facts.primary_history.as_deref(),
            wal_tli: facts.wal_tli,
            position: divergence_position(facts),
            streaming: facts.streaming,
            received_tli: facts.received_tli,
        };
        divergence_check(plan, &divergence)
    });
    steps.push(StandbyStep::Apply(plan.take()));
    StandbyPass { steps, failure }
}

/// How far a standby's WAL goes for the divergence check: its replay
/// position when known. PostgreSQL refuses a newer timeline only when
/// replay went past the fork; what was received beyond replay may be part
/// of a record the new primary never finished (the last primary, elected
/// again after its node's crash, replayed complete records only, and its
/// timeline forked there), which PostgreSQL overwrites from the newer
/// timeline when it streams again. A standby holding complete records past
/// the fork that it has not replayed yet (an apply delay, a paused replay)
/// gets the verdict once it replays them; meanwhile it does not stream, so
/// it acknowledges nothing and holds no score.
fn divergence_position(facts: &StandbyFacts) -> Option<Lsn> {
    facts.replay.or(facts.location.map(|l| l.lsn))
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::super::*;
    use crate::config::RepMode;
    use crate::core::lsn::Lsn;
    use crate::core::version::PgMajor;
    use crate::ocf::rc::OcfRc;
    use std::time::Duration;

    fn steady() -> RunningPrimary {
        RunningPrimary {
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
        }
    }

    /// With slots: the bound set when the server runs with another, and a
    /// slot that lost WAL created anew; nothing when all is as wanted.
    #[test]
    fn the_primary_bounds_its_slots_and_renews_a_lost_one() {
        let (mut c, mut v) = primary_fixture();
        v.promoted = vec!["pg01".into()];
        c.slot_names = vec!["rs_pg02".into(), "rs_pg03".into()];
        c.slot_wal_keep_mb = Some(1024);
        let slot = |name: &str, status: &str| Slot {
            name: name.into(),
            active: false,
            restart: None,
            wal_status: Some(status.into()),
            safe_wal_size: None,
        };
        let mut facts = steady();
        facts.slot_wal_keep = Some("-1".into());
        facts.slots = Some(vec![slot("rs_pg02", "reserved"), slot("rs_pg03", "lost")]);
        let out = monitor_primary(&mut Plan::new(&c, &v), false, &facts);
        // After the pass, whose list must be in effect before any reload.
        let pass = out
            .steps
            .iter()
            .position(|s| matches!(s, MonitorStep::ControlStandbys(_)))
            .unwrap();
        let after: Vec<MonitorStep> = out.steps[pass + 1..]
            .iter()
            .filter(|s| !matches!(s, MonitorStep::WarnWeakCommits))
            .cloned()
            .collect();
        assert_eq!(
            after,
            [
                MonitorStep::BoundSlotWal("1024MB".into()),
                MonitorStep::RepairSlots(SlotRepair {
                    lost: vec!["rs_pg03".into()],
                    missing: Vec::new(),
                }),
            ]
        );
        facts.slot_wal_keep = Some("1GB".into());
        facts.slots = Some(vec![
            slot("rs_pg02", "reserved"),
            slot("rs_pg03", "reserved"),
        ]);
        let out = monitor_primary(&mut Plan::new(&c, &v), false, &facts);
        assert!(!out.steps.iter().any(|s| matches!(
            s,
            MonitorStep::BoundSlotWal(_) | MonitorStep::RepairSlots(_)
        )));
    }

    /// The first monitor after a promotion records it with the timeline
    /// PostgreSQL began, beside what the node recorded before.
    #[test]
    fn the_first_monitor_as_primary_records_its_promotion() {
        let (c, mut v) = primary_fixture();
        v.promoted = vec!["pg01".into()];
        let v = super::super::fixture::with_attr(&v, "pg01", "pgsql-promotions", "2:1:-:election");
        let mut facts = steady();
        facts.promotion_note = Some(crate::core::history::PromotionNote {
            at: 1_800_000_000,
            from: Some("pg02".into()),
            cause: crate::core::history::Cause::Failover,
        });
        let out = monitor_primary(&mut Plan::new(&c, &v), false, &facts);
        let recorded: Vec<&Write> = out
            .steps
            .iter()
            .filter_map(|s| match s {
                MonitorStep::RecordPromotion(w) => Some(w),
                _ => None,
            })
            .collect();
        assert!(
            matches!(&recorded[..], [w] if w.node == "pg01"
                && w.wire().as_deref() == Some("2:1:-:election 3:1800000000:pg02:failover")),
            "{recorded:?}"
        );
        // Without a note, or before the timeline is known, nothing.
        let out = monitor_primary(&mut Plan::new(&c, &v), false, &steady());
        assert!(!out
            .steps
            .iter()
            .any(|s| matches!(s, MonitorStep::RecordPromotion(_))));
        facts.insert_tli = None;
        let out = monitor_primary(&mut Plan::new(&c, &v), false, &facts);
        assert!(!out
            .steps
            .iter()
            .any(|s| matches!(s, MonitorStep::RecordPromotion(_))));
    }

    /// A steady primary: its own attributes stay in the plan for the first
    /// round's batch; history, rounds, the weak-commit warning.
    #[test]
    fn a_primary_monitor_step_by_step() {
        let (mut c, mut v) = primary_fixture();
        v.promoted = vec!["pg01".into()];
        let mut p = Plan::new(&c, &v);
        let out = monitor_primary(&mut p, false, &steady());
        assert_eq!(out.answer, Ok(OcfRc::RunningPromoted));
        assert_eq!(
            out.steps,
            [
                MonitorStep::PublishHistory,
                MonitorStep::ControlStandbys(
                    StandbyRounds::new(r#"FIRST 1 ("pg02")"#, None)
                        .with_sync_flag("2026-12-06 12:00:00+00", None)
                ),
                MonitorStep::WarnWeakCommits,
            ]
        );
        assert_eq!(written(&p, "pg01", Attr::Status), Some(Some("PRI".into())));
        assert_eq!(written(&p, "pg01", Attr::Score), Some(Some("1000".into())));
        // check_wal_receiver and auto_rewind add their steps; async mode has
        // no weak-commit warning.
        c.check_wal_receiver = true;
        c.auto_rewind = true;
        c.rep_mode = RepMode::Async;
        let out = monitor_primary(&mut Plan::new(&c, &v), true, &steady());
        assert_eq!(
            out.steps[..3],
            [
                MonitorStep::ReceiverStatus(ReceiverStatus::Primary),
                MonitorStep::PublishHistory,
                MonitorStep::CheckpointForRewinds
            ]
        );
        assert!(!out.steps.contains(&MonitorStep::WarnWeakCommits));
    }

    /// Of two primaries, the stale one fails writing its own score alone;
    /// the newer one says so, and a probe's find reports itself Promoted.
    #[test]
    fn a_primary_monitor_of_two_primaries() {
        let (c, mut v) = primary_fixture();
        v.promoted = vec!["pg01".into(), "pg02".into()];
        let mut facts = steady();
        facts
            .histories
            .insert("pg02".into(), "4:3@0/9000000".into());
        let out = monitor_primary(&mut Plan::new(&c, &v), false, &facts);
        let [MonitorStep::Apply(b)] = &out.steps[..] else {
            panic!("{:?}", out.steps)
        };
        assert_eq!(b.writes.len(), 1);
        assert_eq!(b.writes[0].wire().as_deref(), Some("-INFINITY"));
        let why = out.answer.unwrap_err();
        assert_eq!(
            why.reason(),
            "stale primary: pg02 is a primary on timeline 4 > 3 here; stop this node, resync it \
             from pg02"
        );
        assert!(why.explained().starts_with(
            "pg02 runs a primary on timeline 4, newer than this primary's timeline 3"
        ));
        // This one is newer (timeline 5) and promoted: a warning, then as usual.
        facts.insert_tli = Some(5);
        let out = monitor_primary(&mut Plan::new(&c, &v), false, &facts);
        let MonitorStep::Apply(b) = &out.steps[0] else {
            panic!()
        };
        assert!(b.warnings[0].starts_with("pg02 also runs a primary, on timeline 4"));
        assert!(b.writes.is_empty());
        assert_eq!(out.answer, Ok(OcfRc::RunningPromoted));
        // Newer, and Pacemaker did not promote it: a probe's find.
        v.promoted = vec!["pg02".into()];
        let out = monitor_primary(&mut Plan::new(&c, &v), true, &facts);
        let [MonitorStep::Apply(b), MonitorStep::PublishHistory] = &out.steps[..] else {
            panic!("{:?}", out.steps)
        };
        assert_eq!(b.writes[0].wire().as_deref(), Some("1000"));
        assert_eq!(out.answer, Ok(OcfRc::RunningPromoted));
    }

    /// A probe that finds a primary Pacemaker did not promote, while
    /// nobody is promoted and the records name another last primary (the
    /// audit's schedule): its own score away, nothing else written or
    /// published, and a failure; the last primary itself goes on.
    #[test]
    fn a_probe_of_a_primary_that_is_not_the_last_one() {
        let (c, v) = audit_schedule();
        let mut facts = steady();
        facts.insert_tli = Some(1);
        let out = monitor_primary(&mut Plan::new(&c, &v), true, &facts);
        let [MonitorStep::Apply(b)] = &out.steps[..] else {
            panic!("{:?}", out.steps)
        };
        assert_eq!(
            b.writes.iter().map(Write::summary).collect::<Vec<_>>(),
            ["pg01:Score=-INFINITY"]
        );
        let why = out.answer.unwrap_err();
        assert_eq!(why.rc(), OcfRc::ErrGeneric);
        assert!(why
            .reason()
            .starts_with("stale primary: pg02 is the last primary;"));
        assert!(why.explained().starts_with(
            "PostgreSQL runs as a primary here, but Pacemaker did not promote it and the cluster \
             records pg02 as the last primary"
        ));
        // This node the only LATEST (a cleanup of the legitimate primary):
        // Promoted, its score seeded, its records written.
        let last = with_attr(&v, "pg01", "pgsql-data-status", "LATEST");
        let last = with_attr(&last, "pg02", "pgsql-data-status", "DISCONNECT");
        let mut p = Plan::new(&c, &last);
        let out = monitor_primary(&mut p, true, &facts);
        assert_eq!(out.answer, Ok(OcfRc::RunningPromoted));
        assert_eq!(written(&p, "pg01", Attr::Score), Some(Some("1000".into())));
        assert!(out.steps.contains(&MonitorStep::PublishHistory));
    }

    /// With `replication_hosts`, a standby whose primary_conninfo names
    /// another host than the promoted node's follows it first, and does
    /// nothing once it does; with nobody promoted it goes back to
    /// master_ip, once.
    #[test]
    fn a_standby_follows_the_promoted_node_at_its_monitor() {
        let (mut c, mut v) = primary_fixture();
        c.replication_hosts = lab_hosts();
        v.promoted = vec!["pg02".into()];
        let mut facts = standby_facts(false);
        let mut monitor = |v: &crate::core::crm_mon::ClusterView, written: &str| {
            facts.written_host = Some(written.into());
            monitor_standby(&mut Plan::new(&c, v), false, &facts).steps
        };
        let follows =
            |steps: &[MonitorStep]| steps.iter().any(|s| matches!(s, MonitorStep::Follow(_)));
        let steps = monitor(&v, "10.0.0.100");
        assert_eq!(steps[0], MonitorStep::Follow(Upstream::Node("pg02".into())));
        assert!(!follows(&monitor(&v, "10.0.0.12")));
        // Nobody promoted: master_ip, not a node that may run as a
        // standby now.
        v.promoted.clear();
        assert_eq!(
            monitor(&v, "10.0.0.12")[0],
            MonitorStep::Follow(Upstream::MasterIp)
        );
        assert!(!follows(&monitor(&v, "10.0.0.100")));
    }

    /// A standby's probe seeds its score with the pass's writes; its
    /// receiver's status comes first; a failed pass writes nothing.
    #[test]
    fn a_standby_monitor_step_by_step() {
        let (mut c, mut v) = primary_fixture();
        v.promoted = vec!["pg02".into()];
        c.check_wal_receiver = true;
        let out = monitor_standby(&mut Plan::new(&c, &v), true, &standby_facts(true));
        assert_eq!(out.answer, Ok(OcfRc::Success));
        let [MonitorStep::ReceiverStatus(ReceiverStatus::Error), MonitorStep::Standby(StandbyStep::Apply(b))] =
            &out.steps[..]
        else {
            panic!("{:?}", out.steps)
        };
        assert_eq!(b.writes[0].attr, Attr::Score);
        let mut facts = standby_facts(false);
        facts.location = None;
        let (_, alone) = primary_fixture();
        let out = monitor_standby(&mut Plan::new(&c, &alone), true, &facts);
        assert_eq!(
            out.steps,
            [MonitorStep::ReceiverStatus(ReceiverStatus::Streaming)]
        );
        assert_eq!(
            out.answer.unwrap_err().reason(),
            "Failed to show my xlog location."
        );
    }

    /// A crashed primary recovers in place when nobody else can be
    /// promoted, and not again within ten minutes.
    #[test]
    fn a_crashed_primary_recovers_in_place_once_in_a_while() {
        let (c, mut v) = primary_fixture();
        v.promoted = vec!["pg01".into()];
        let pg15 = PgMajor("15".into());
        let recover = |ago: Option<u64>| {
            after_crash(&mut Plan::new(&c, &v), &pg15, ago.map(Duration::from_secs))
        };
        let AfterCrash::RecoverInPlace(steps) = recover(None) else {
            panic!()
        };
        assert_eq!(
            steps[1..],
            [
                CrashStep::NoteRecoveredInPlace,
                CrashStep::StopServer,
                CrashStep::StartServer
            ]
        );
        assert!(matches!(recover(Some(601)), AfterCrash::RecoverInPlace(_)));
        assert_eq!(
            recover(Some(599)),
            AfterCrash::Report(Batch::info(
                "PostgreSQL crashed; no recovery in place: it already recovered in place a short \
                 while ago."
            ))
        );
        let scored = with_attr(&v, "pg02", "master-pgsql", "100");
        assert_eq!(
            after_crash(&mut Plan::new(&c, &scored), &pg15, None),
            AfterCrash::Report(Batch::info(
                "PostgreSQL crashed; no recovery in place: pg02 can be promoted instead."
            ))
        );
    }

    /// Before PostgreSQL 15 the restarted server may acknowledge its first
    /// commits alone: in sync mode, before it starts, the score a failed
    /// sync standby kept is taken away (and shown in the CIB) and the
    /// record naming it goes. From 15, and in async mode, nothing changes.
    #[test]
    fn a_crash_recovery_before_15_takes_the_claims_back_first() {
        let (c, mut v) = primary_fixture();
        v.promoted = vec!["pg01".into()];
        v.failed = vec!["pg02".into()];
        let v = with_attr(&v, "pg02", "master-pgsql", "100");
        let v = with_attr(&v, "pg01", "pgsql-acked-also-on", "pg02");
        let AfterCrash::RecoverInPlace(steps) =
            after_crash(&mut Plan::new(&c, &v), &PgMajor("14".into()), None)
        else {
            panic!()
        };
        let summaries = |step: &CrashStep| -> Vec<String> {
            match step {
                CrashStep::Apply(batch) => batch.writes.iter().map(Write::summary).collect(),
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            summaries(&steps[1]),
            ["pg02:Score=-INFINITY", "pg03:Score=-INFINITY"],
            "every scored node, whatever crm_mon shows (R46)"
        );
        assert!(matches!(
            &steps[2],
            CrashStep::AwaitRevocations { nodes, .. } if nodes == &["pg02", "pg03"]
        ));
        assert_eq!(
            summaries(&steps[3]),
            ["pg01:AckedAlsoOn=<deleted>"],
            "the record goes once the CIB shows the scores"
        );
        assert!(matches!(
            &steps[4],
            CrashStep::AwaitTakenBack { revoked, .. } if revoked == &["pg02", "pg03"]
        ));
        assert_eq!(
            steps[5..],
            [
                CrashStep::ForgetCeiling,
                CrashStep::NoteRecoveredInPlace,
                CrashStep::StopServer,
                CrashStep::StartServer
            ]
        );
        // The rest of the monitor sees them.
        let mut p = Plan::new(&c, &v);
        after_crash(&mut p, &PgMajor("14".into()), None);
        let seen = p.view_with_writes();
        assert_eq!(seen.attribute("pg02", "master-pgsql"), Some("-INFINITY"));
        assert_eq!(seen.attribute("pg01", "pgsql-acked-also-on"), None);
        // Nothing to take back from 15, or without a sync standby.
        let AfterCrash::RecoverInPlace(steps) =
            after_crash(&mut Plan::new(&c, &v), &PgMajor("15".into()), None)
        else {
            panic!()
        };
        assert_eq!(steps.len(), 4);
        let async_cfg = RepConfig {
            rep_mode: RepMode::Async,
            ..c.clone()
        };
        let AfterCrash::RecoverInPlace(steps) =
            after_crash(&mut Plan::new(&async_cfg, &v), &PgMajor("14".into()), None)
        else {
            panic!()
        };
        assert_eq!(steps.len(), 4);
    }

    /// The take-back counts as shown only in a view with quorum that shows
    /// every write of it: a partition that formed meanwhile, a score not
    /// taken away yet, a record still there, and nothing restarts.
    #[test]
    fn the_take_back_is_shown_only_with_quorum_and_every_write() {
        let (c, mut v) = primary_fixture();
        v.promoted = vec!["pg01".into()];
        let revoked = ["pg02".to_string(), "pg03".to_string()];
        let taken = with_attr(&v, "pg02", "master-pgsql", "-INFINITY");
        assert!(
            claims_taken_back(&c, &taken, &revoked),
            "pg03 shows no score: gone"
        );
        let mut partitioned = taken.clone();
        partitioned.quorum = false;
        assert!(!claims_taken_back(&c, &partitioned, &revoked));
        let scored = with_attr(&taken, "pg03", "master-pgsql", "100");
        assert!(!claims_taken_back(&c, &scored, &revoked));
        let recorded = with_attr(&taken, "pg01", "pgsql-acked-also-on", "pg02");
        assert!(!claims_taken_back(&c, &recorded, &revoked));
        let voters = with_attr(&taken, "pg01", "pgsql-acked-on-any", "1 of pg02 pg03");
        assert!(!claims_taken_back(&c, &voters, &revoked));
    }

    /// A position that cannot be read fails the monitor and writes nothing,
    /// not even what came before the election.
    #[test]
    fn an_unreadable_position_writes_nothing() {
        let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
        let v = view(&["pg01", "pg02", "pg03"], &[], &[]);
        let mut facts = standby_facts(true);
        facts.location = None;
        let pass = standby_pass(&mut Plan::new(&c, &v), &facts);
        assert_eq!(pass.steps, []);
        assert_eq!(
            pass.failure.as_deref(),
            Some("Failed to show my xlog location.")
        );
    }

    /// Without a promoted node: the election's writes and its counter.
    #[test]
    fn the_election_writes_its_counter_then_its_attributes() {
        let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
        let v = view(&["pg01", "pg02", "pg03"], &[], &[]);
        let pass = standby_pass(&mut Plan::new(&c, &v), &standby_facts(true));
        assert_eq!(pass.failure, None);
        assert!(
            matches!(&pass.steps[..], [StandbyStep::Election(ElectionFiles::Write(_)), StandbyStep::Apply(b)]
                if b.infos.contains(&"Waiting for the position of pg02, pg03 before anyone is promoted.".to_string())),
            "{:?}",
            pass.steps
        );
    }

    /// A rejoined former primary that streams from the new primary past its
    /// clean demote's checkpoint: the lock goes.
    #[test]
    fn a_proven_former_primary_releases_its_lock() {
        let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
        let mut v = view(&["pg01", "pg02", "pg03"], &[], &[]);
        v.promoted = vec!["pg02".into()];
        let mut facts = standby_facts(false);
        facts.lock = Lock::CleanDemote {
            checkpoint: Lsn(400),
            tli: 1,
        };
        let pass = standby_pass(&mut Plan::new(&c, &v), &facts);
        assert_eq!(pass.failure, None);
        assert_eq!(
            pass.steps,
            [
                StandbyStep::RemoveLock(NOT_AHEAD),
                StandbyStep::Apply(Batch::default())
            ]
        );
    }

    /// A crash lock goes once the promoted primary records this streaming
    /// standby as holding every commit it acknowledged (its
    /// `acked-also-on`): it followed that primary's timeline, so none of its
    /// WAL is unknown to it. Seed 6059 of the long form: kept, the lock
    /// refused the start of the only holder after that primary's node and
    /// the third node crashed. Named nowhere, or not streaming, it stays.
    #[test]
    fn a_crash_lock_goes_once_the_primary_records_this_node_as_holder() {
        let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
        let mut v = view(&["pg01", "pg02", "pg03"], &[], &[]);
        v.promoted = vec!["pg02".into()];
        let mut facts = standby_facts(false);
        facts.lock = Lock::Held;
        let named = with_attr(&v, "pg02", "pgsql-acked-also-on", "pg01");
        let removes = |v: &crate::core::crm_mon::ClusterView, f: &StandbyFacts| {
            standby_pass(&mut Plan::new(&c, v), f)
                .steps
                .contains(&StandbyStep::RemoveLock(NOT_AHEAD))
        };
        assert!(removes(&named, &facts));
        assert!(!removes(&v, &facts), "not named");
        let other = with_attr(&v, "pg02", "pgsql-acked-also-on", "pg03");
        assert!(!removes(&other, &facts), "another node named");
        let not_streaming = StandbyFacts {
            streaming: false,
            ..facts.clone()
        };
        assert!(!removes(&named, &not_streaming), "not streaming");
        // A record on a node that is not the promoted one says nothing.
        let stale = with_attr(&v, "pg03", "pgsql-acked-also-on", "pg01");
        assert!(!removes(&stale, &facts));
        let diverged = with_attr(&named, "pg01", "pgsql-data-status", "DIVERGED");
        assert!(!removes(&diverged, &facts));
        // With restore_command the timeline it follows proves nothing.
        let archive = RepConfig {
            archive_recovery: true,
            ..c.clone()
        };
        let pass = standby_pass(&mut Plan::new(&archive, &named), &facts);
        assert!(!pass.steps.contains(&StandbyStep::RemoveLock(NOT_AHEAD)));
    }

    /// A standby that does not stream checks the history the promoted node
    /// published: past the fork, it says so and fails, after its writes.
    #[test]
    fn a_diverged_standby_writes_its_verdict_then_fails() {
        let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
        let mut v = view(&["pg01", "pg02", "pg03"], &[], &[]);
        v.promoted = vec!["pg02".into()];
        let mut facts = standby_facts(true);
        facts.location = Some(Location {
            tli: Some(1),
            lsn: at("0/5000100"),
        });
        facts.replay = Some(at("0/5000100"));
        facts.wal_tli = Some(1);
        facts.primary_history = Some("2:1@0/5000028".into());
        let mut p = Plan::new(&c, &v);
        let pass = standby_pass(&mut p, &facts);
        assert!(pass.failure.unwrap().starts_with("diverged: "));
        let [StandbyStep::Apply(b)] = &pass.steps[..] else {
            panic!("{:?}", pass.steps)
        };
        assert_eq!(
            b.writes.iter().map(|w| w.attr).collect::<Vec<_>>(),
            [Attr::Score, Attr::DataStatus, Attr::Status]
        );
        // Streaming, it follows the primary: no check.
        let streaming = StandbyFacts {
            streaming: true,
            ..facts.clone()
        };
        let pass = standby_pass(&mut Plan::new(&c, &v), &streaming);
        assert_eq!(pass.failure, None);
        // Fifth audit B2: replay stopped at the fork, and what it received
        // beyond is part of a record the new primary never finished before
        // its node crashed (it replayed complete records only, and its
        // timeline forked there): the standby can follow, no verdict, final
        // or not (review F2: restore_command running).
        let unfinished = StandbyFacts {
            replay: Some(at("0/5000028")),
            ..facts.clone()
        };
        for position_final in [true, false] {
            let f = StandbyFacts {
                position_final,
                ..unfinished.clone()
            };
            let mut p = Plan::new(&c, &v);
            assert_eq!(standby_pass(&mut p, &f).failure, None);
            assert_eq!(p.writes, []);
        }
        // Replay unknown: the published position counts.
        let unknown = StandbyFacts {
            replay: None,
            ..facts.clone()
        };
        assert!(standby_pass(&mut Plan::new(&c, &v), &unknown)
            .failure
            .is_some());
    }
}
