//! `start` and `stop` of a replicated instance, as ordered steps.
//!
//! stop: the score and the election positions go, PostgreSQL stops, then
//! `STOP` (or `UNKNOWN` when the stop failed). start: `STOP` and no
//! baseline, a clean tmpdir, the lock ([`StartProtocol`]: refused, or a
//! standby that keeps it or proves it is not ahead), PostgreSQL started as
//! a standby, then `HS:alone`. The executor performs the steps and feeds
//! back what it saw: whether PostgreSQL ran, the lock, the server already
//! running, `synchronous_standby_names` once started, the streaming proof.

use super::election::score_at_stop_or_start;
use super::lock::{crash_lock_answered_by_record, last_primary, start_gate, Lock, StartGate};
use super::plan::{Attr, Batch, DataStatus, Plan, Status};
use super::primaries::{primary_verdict, PrimaryVerdict};
use super::rejoin::should_rejoin;
use super::sync::SyncStandbys;
use crate::error::AgentError;
use std::collections::BTreeMap;
use std::time::Duration;

/// One step of a stop, performed in order by the executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopStep {
    /// `<rsc>-receiver-status` goes (`check_wal_receiver`).
    ClearReceiverStatus,
    /// The position this node published for a promotion goes: it must
    /// not count for a later one (a stopped instance never reaches the
    /// post-promote that withdraws it).
    WithdrawPosition,
    Apply(Batch),
    /// Stop PostgreSQL (`stop_escalate_in_slave`); whether it ran goes
    /// back to [`after_stop`], a failure to [`stop_failed`].
    Stop,
    /// `rep_mode.conf` says this (commits start asynchronous).
    RepModeConf(SyncStandbys),
}

/// The stop's first steps: this node's score as stop leaves it
/// ([`score_at_stop_or_start`]) and its election position go, then the
/// stop.
pub fn stop_begin(plan: &mut Plan) -> Vec<StopStep> {
    let me = plan.cfg.me.clone();
    let mut steps = vec![StopStep::WithdrawPosition];
    if plan.cfg.check_wal_receiver {
        steps.push(StopStep::ClearReceiverStatus);
    }
    if let Some(score) = score_at_stop_or_start(plan) {
        plan.own_score(score);
    }
    plan.delete(&me, Attr::XlogLoc);
    plan.delete(&me, Attr::XlogTli);
    steps.push(StopStep::Apply(plan.take()));
    steps.push(StopStep::Stop);
    steps
}

/// Once PostgreSQL stopped: `STOP`; when it ran, in sync (and quorum)
/// mode `rep_mode.conf` back to asynchronous, and the baseline goes.
pub fn after_stop(plan: &mut Plan, ran: bool) -> Vec<StopStep> {
    let me = plan.cfg.me.clone();
    plan.status(&me, Status::Stop);
    let mut steps = Vec::new();
    if ran {
        if plan.cfg.waits_for_standbys() {
            steps.push(StopStep::RepModeConf(SyncStandbys::Async));
        }
        plan.delete(&me, Attr::MasterBaseline);
    }
    steps.push(StopStep::Apply(plan.take()));
    steps
}

/// When a stop (or a demote's stop) failed: the node's status says so
/// (`UNKNOWN`), so that the primary stops trusting it.
pub fn stop_failed(plan: &mut Plan) -> Batch {
    let me = plan.cfg.me.clone();
    plan.status(&me, Status::Unknown);
    plan.take()
}

/// One step of a start, performed in order by the executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartStep {
    Apply(Batch),
    /// tmpdir exists, as the stock agent creates it.
    EnsureTmpdir,
    /// The stock agent's per-start state goes (`xlog_note.*`,
    /// `rep_mode.conf`, the recovery.conf copy), with the agent's own
    /// notes of a former run.
    ClearStartState,
    /// A position this node published for an earlier promotion goes
    /// ([`StopStep::WithdrawPosition`]).
    WithdrawPosition,
    /// The standby configuration (sync mode: commits start asynchronous),
    /// streaming from this node's own address when `replication_hosts`
    /// gives it ([`super::followed`]), else from `master_ip`.
    PrepareStandby {
        following: Option<String>,
    },
    StartServer,
    /// A standby has no replication slots: the per-standby ones go.
    DropSlots,
    /// Wait (half the time left at most) until streaming proves this node
    /// is not ahead ([`Lock::proven_not_ahead`] of this lock); whether it
    /// did goes back to [`StartProtocol::after_proof`].
    AwaitProof(Lock),
    /// `PGSQL.lock` goes, for this reason.
    RemoveLock(&'static str),
    /// Stop PostgreSQL again (`stop_escalate_in_slave`).
    StopServer,
    /// The start fails with this error.
    Fail(AgentError),
}

/// The start's first steps, before the lock is read: `STOP`, no baseline,
/// this node's score as start leaves it ([`score_at_stop_or_start`]), then
/// tmpdir and a clean per-start state.
pub fn start_begin(plan: &mut Plan) -> Vec<StartStep> {
    let me = plan.cfg.me.clone();
    plan.status(&me, Status::Stop);
    plan.delete(&me, Attr::MasterBaseline);
    if let Some(score) = score_at_stop_or_start(plan) {
        plan.own_score(score);
    }
    vec![
        StartStep::Apply(plan.take()),
        StartStep::EnsureTmpdir,
        StartStep::ClearStartState,
        StartStep::WithdrawPosition,
    ]
}

/// The node an `auto_rewind` start rejoins ([`should_rejoin`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejoinTarget {
    /// The promoted node.
    pub primary: String,
    /// This node said it diverged from it (`DIVERGED`).
    pub diverged: bool,
}

/// Whether this start rejoins the promoted node first (`auto_rewind`),
/// from the lock it found. `rewind_unfinished`: a rewind of this node
/// started and did not finish ([`super::RewindRecord`]), so its data
/// directory is not trusted: it starts only through the rejoin, which
/// resynchronises it or says why not.
pub fn start_rejoin(
    plan: &Plan,
    lock: Lock,
    rewind_unfinished: bool,
) -> Result<Option<RejoinTarget>, AgentError> {
    let me = &plan.cfg.me;
    let data_status = plan.current_data_status(me);
    let auto_rewind = plan.cfg.auto_rewind;
    if let Some(primary) = plan.view.promoted_elsewhere(me) {
        if (rewind_unfinished && auto_rewind) || should_rejoin(auto_rewind, lock, data_status, true)
        {
            return Ok(Some(RejoinTarget {
                primary: primary.to_string(),
                diverged: data_status == Some(DataStatus::Diverged),
            }));
        }
    }
    if rewind_unfinished {
        return Err(AgentError::generic(
            "a pg_rewind of this node did not finish; resync it (new base backup), remove \
             rewind_unfinished in tmpdir (see log)",
        )
        .with_detail(
            "a pg_rewind of this node started and did not finish, so its data directory can't \
             be trusted: it rejoins once another node is promoted (auto_rewind=true, \
             auto_resync=true), or resynchronise it with a new base backup and remove the \
             record rewind_unfinished in tmpdir",
        ));
    }
    Ok(None)
}

/// A crash lock on the node the last primary recorded as holding every
/// commit it acknowledged (the only other `LATEST`'s `acked-also-on` names
/// it), whose last postmaster ran as a standby
/// ([`crash_lock_answered_by_record`]): it starts as a standby keeping the
/// lock, for the election, which waits for its position (rule 7). Nobody
/// was promoted after that primary (it is the only `LATEST`). Its monitor
/// lifts the lock as soon as it can (`election::named_by_the_primary`);
/// this is for a stop in between.
fn named_holder(plan: &Plan, lock: Lock, ran_as_standby: bool) -> bool {
    let named = ran_as_standby && super::promotion::recorded_holder(plan);
    crash_lock_answered_by_record(plan, lock, named)
}

/// The start once the lock is known (after a rejoin, the lock it left):
/// what [`start_gate`] allows, then the phases around PostgreSQL's start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartProtocol {
    gate: StartGate,
    lock: Lock,
    /// Where `PGSQL.lock` is, for the exit reasons.
    lock_path: String,
}

impl StartProtocol {
    /// What the lock allowed.
    pub fn gate_allowed(&self) -> StartGate {
        self.gate
    }

    /// The lock at start: refused as the stock agent does, or a standby
    /// start (saying why a lock stays).
    /// `ran_as_standby`: `global/pg_control` says this node's last
    /// postmaster ran in recovery (shut down in recovery, or crashed in
    /// archive recovery).
    pub fn gate(
        plan: &Plan,
        lock: Lock,
        lock_path: &str,
        ran_as_standby: bool,
    ) -> Result<(StartProtocol, Vec<StartStep>), AgentError> {
        let last = last_primary(plan);
        let holder = named_holder(plan, lock, ran_as_standby);
        let gate = start_gate(lock, plan.view.promoted_exists(), last || holder);
        let protocol = StartProtocol {
            gate,
            lock,
            lock_path: lock_path.to_string(),
        };
        let steps = match gate {
            StartGate::Refuse => return Err(protocol.lock_refusal("")),
            StartGate::Standby => Vec::new(),
            // A crash lock kept: this node was the last primary and nobody
            // was promoted since (`last_primary`); it is no clean demote.
            StartGate::StandbyKeepLock if lock == Lock::Held && !last => {
                vec![StartStep::Apply(Batch::info(format!(
                    "{lock_path} stays: the last primary recorded this node as holding every \
                     commit it acknowledged, and it ran as a standby since; starting as a \
                     standby for the election."
                )))]
            }
            StartGate::StandbyKeepLock if lock == Lock::Held => {
                vec![StartStep::Apply(Batch::info(format!(
                    "{lock_path} stays: this node was the last primary and nobody was promoted \
                     since; starting as a standby for the election."
                )))]
            }
            StartGate::StandbyThenProve | StartGate::StandbyKeepLock => {
                vec![StartStep::Apply(Batch::info(format!(
                    "{lock_path} records a clean demote: starting as a standby; the lock goes once \
                     streaming from the new primary proves this node is not ahead."
                )))]
            }
        };
        Ok((protocol, steps))
    }

    /// Before PostgreSQL starts. `running`: a server already runs, in
    /// recovery or not (`None`: none runs). start brings up a standby
    /// only: a running primary is refused, with the two-primaries verdict
    /// when Pacemaker promoted another node.
    pub fn before_server(
        &self,
        plan: &mut Plan,
        running: Option<bool>,
    ) -> Result<Vec<StartStep>, AgentError> {
        if running == Some(false) {
            return Err(match primary_verdict(plan, None, &BTreeMap::new()) {
                PrimaryVerdict::Stale(why) => why,
                _ => AgentError::generic(
                    "PostgreSQL is already running as a primary; start brings up a standby only. \
                     Stop it (or let Pacemaker probe it) first",
                ),
            });
        }
        let me = plan.cfg.me.clone();
        plan.delete(&me, Attr::XlogLoc);
        plan.delete(&me, Attr::XlogTli);
        let following = super::followed(plan.cfg, plan.view.sole_promoted()).map(str::to_string);
        Ok(vec![
            StartStep::PrepareStandby { following },
            StartStep::Apply(plan.take()),
            StartStep::StartServer,
        ])
    }

    /// PostgreSQL runs as a standby, with this `synchronous_standby_names`:
    /// no slots; a list set by the configuration is an error there (the
    /// agent manages it); then the streaming proof, or `HS:alone`.
    pub fn after_server(&self, plan: &mut Plan, sync_standbys: &str) -> Vec<StartStep> {
        let mut steps = vec![StartStep::DropSlots];
        if !sync_standbys.is_empty() {
            steps.push(StartStep::Fail(
                AgentError::configured(format!(
                    "Invalid synchronous_standby_names={}: the agent manages it; remove it from \
                     postgresql.conf and start_opt",
                    crate::config::echo(sync_standbys, 24)
                ))
                .with_detail(format!(
                    "Invalid synchronous_standby_names is set in postgresql.conf ({sync_standbys}); \
                     the agent manages it: remove it from the configuration and from start_opt"
                )),
            ));
            return steps;
        }
        match self.gate {
            StartGate::StandbyThenProve => {
                steps.push(StartStep::AwaitProof(self.lock));
                return steps;
            }
            StartGate::StandbyKeepLock => plan.infos.push(format!(
                "no promoted instance: {} stays until streaming proves this node is not ahead of \
                 the next primary.",
                self.lock_path
            )),
            StartGate::Standby | StartGate::Refuse => {}
        }
        steps.extend(self.started(plan));
        steps
    }

    /// After [`StartStep::AwaitProof`]: the lock goes once proven, else
    /// PostgreSQL stops again and the start is refused, as the stock agent
    /// refuses a lock. `waited`: how long the proof was waited for.
    pub fn after_proof(&self, plan: &mut Plan, proven: bool, waited: Duration) -> Vec<StartStep> {
        if !proven {
            return vec![
                StartStep::StopServer,
                StartStep::Fail(self.lock_refusal(&format!(
                    " (it was demoted cleanly, but did not stream from a newer primary within {}s, \
                     which would prove it is not ahead)",
                    waited.as_secs()
                ))),
            ];
        }
        let mut steps = vec![StartStep::RemoveLock(NOT_AHEAD)];
        steps.extend(self.started(plan));
        steps
    }

    fn started(&self, plan: &mut Plan) -> Vec<StartStep> {
        let me = plan.cfg.me.clone();
        plan.status(&me, Status::HsAlone);
        vec![StartStep::Apply(plan.take())]
    }

    /// The stock agent's refusal to start while `PGSQL.lock` exists; `why`
    /// goes to the log only.
    fn lock_refusal(&self, why: &str) -> AgentError {
        let refusal = format!(
            "My data may be inconsistent. You have to remove {} file to force start.",
            self.lock_path
        );
        AgentError::generic(&refusal).with_detail(format!("{refusal}{why}"))
    }
}

/// Why `PGSQL.lock` goes once PostgreSQL streams this former primary.
pub const NOT_AHEAD: &str =
    "this former primary streams from the new primary, so it is not ahead of it";

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::*;
    use crate::config::RepMode;
    use crate::core::crm_mon::ClusterView;
    use crate::core::lsn::Lsn;
    use crate::ocf::rc::OcfRc;

    /// What a list of steps does, in short: the values of the writes, the
    /// other steps by name.
    fn kinds<S: std::fmt::Debug>(steps: &[S], batch: impl Fn(&S) -> Option<&Batch>) -> Vec<String> {
        steps
            .iter()
            .map(|s| match batch(s) {
                Some(b) => {
                    let mut parts: Vec<String> =
                        b.infos.iter().map(|i| format!("info {i}")).collect();
                    parts.extend(b.writes.iter().map(|w| {
                        format!(
                            "{:?}={}",
                            w.attr,
                            w.wire().as_deref().unwrap_or("<deleted>")
                        )
                    }));
                    format!("apply [{}]", parts.join(", "))
                }
                None => format!("{s:?}"),
            })
            .collect()
    }

    fn stop_kinds(steps: &[StopStep]) -> Vec<String> {
        kinds(steps, |s| match s {
            StopStep::Apply(b) => Some(b),
            _ => None,
        })
    }

    fn start_kinds(steps: &[StartStep]) -> Vec<String> {
        kinds(steps, |s| match s {
            StartStep::Apply(b) => Some(b),
            _ => None,
        })
    }

    /// pg01, a standby with a position published, a score and a baseline.
    fn standby_view(score: &str, data_status: &str) -> ClusterView {
        let (_, v) = primary_fixture();
        let v = with_attr(&v, "pg01", "master-pgsql", score);
        let v = with_attr(&v, "pg01", "pgsql-data-status", data_status);
        let v = with_attr(&v, "pg01", "pgsql-xlog-loc", "0000000003000000");
        with_attr(&v, "pg01", "pgsql-master-baseline", "0000000003000000")
    }

    #[test]
    fn stop_clears_the_score_and_position_then_says_stop() {
        let (mut c, _) = primary_fixture();
        let v = standby_view("100", "STREAMING|ASYNC");
        c.check_wal_receiver = true;
        let mut p = Plan::new(&c, &v);
        assert_eq!(
            stop_kinds(&stop_begin(&mut p)),
            [
                "WithdrawPosition",
                "ClearReceiverStatus",
                "apply [Score=-INFINITY, XlogLoc=<deleted>]",
                "Stop"
            ]
        );
        // It ran: sync mode's rep_mode.conf goes back to async, the baseline goes.
        assert_eq!(
            stop_kinds(&after_stop(&mut p, true)),
            [
                "RepModeConf(Async)",
                "apply [Status=STOP, MasterBaseline=<deleted>]"
            ]
        );
        // Nothing ran: STOP alone.
        let mut p = Plan::new(&c, &v);
        assert_eq!(
            stop_kinds(&after_stop(&mut p, false)),
            ["apply [Status=STOP]"]
        );
        let mut p = Plan::new(&c, &v);
        assert_eq!(
            stop_failed(&mut p).writes[0].wire().as_deref(),
            Some("UNKNOWN")
        );
        // Async mode keeps rep_mode.conf as it is.
        c.rep_mode = RepMode::Async;
        let mut p = Plan::new(&c, &v);
        assert_eq!(
            stop_kinds(&after_stop(&mut p, true)),
            ["apply [Status=STOP, MasterBaseline=<deleted>]"]
        );
    }

    /// The named sync standby keeps its score through a stop and a start
    /// (rule 8).
    #[test]
    fn the_named_sync_standby_keeps_its_score_at_stop_and_start() {
        let (c, _) = primary_fixture();
        let v = standby_view("100", "STREAMING|SYNC");
        let mut p = Plan::new(&c, &v);
        assert_eq!(
            stop_kinds(&stop_begin(&mut p)),
            ["WithdrawPosition", "apply [XlogLoc=<deleted>]", "Stop"]
        );
        let mut p = Plan::new(&c, &v);
        assert_eq!(
            start_kinds(&start_begin(&mut p)),
            [
                "apply [Status=STOP, MasterBaseline=<deleted>]",
                "EnsureTmpdir",
                "ClearStartState",
                "WithdrawPosition"
            ]
        );
    }

    #[test]
    fn start_rejoins_only_with_auto_rewind_a_promoted_node_and_a_reason() {
        let (mut c, mut v) = primary_fixture();
        let rejoin = |c: &super::super::RepConfig, v: &ClusterView, lock: Lock| {
            start_rejoin(&Plan::new(c, v), lock, false).unwrap()
        };
        v.promoted = vec!["pg02".into()];
        assert_eq!(rejoin(&c, &v, Lock::Held), None);
        c.auto_rewind = true;
        let to_pg02 = |diverged| {
            Some(RejoinTarget {
                primary: "pg02".into(),
                diverged,
            })
        };
        assert_eq!(rejoin(&c, &v, Lock::Held), to_pg02(false));
        assert_eq!(rejoin(&c, &v, Lock::Absent), None);
        let diverged = with_attr(&v, "pg01", "pgsql-data-status", "DIVERGED");
        assert_eq!(rejoin(&c, &diverged, Lock::Absent), to_pg02(true));
        // An unfinished rewind rejoins whatever the lock says.
        assert_eq!(
            start_rejoin(&Plan::new(&c, &v), Lock::Absent, true).unwrap(),
            to_pg02(false)
        );
        v.promoted.clear();
        assert_eq!(rejoin(&c, &v, Lock::Held), None);
    }

    /// A data directory a rewind left unfinished starts only through the
    /// rejoin: without a promoted node to rejoin, or without auto_rewind,
    /// the start is refused with what to do.
    #[test]
    fn an_unfinished_rewind_starts_only_through_the_rejoin() {
        let (mut c, mut v) = primary_fixture();
        c.auto_rewind = true;
        for lock in [Lock::Absent, Lock::Held] {
            let err = start_rejoin(&Plan::new(&c, &v), lock, true).unwrap_err();
            assert_eq!(err.rc(), OcfRc::ErrGeneric);
            assert!(err.reason().contains("did not finish"), "{err}");
        }
        v.promoted = vec!["pg02".into()];
        c.auto_rewind = false;
        assert!(start_rejoin(&Plan::new(&c, &v), Lock::Absent, true).is_err());
    }

    #[test]
    fn a_start_behind_a_crash_lock_is_refused() {
        let (c, mut v) = primary_fixture();
        v.promoted = vec!["pg02".into()];
        let err = StartProtocol::gate(&Plan::new(&c, &v), Lock::Held, "/t/PGSQL.lock", false)
            .unwrap_err();
        assert_eq!(err.rc(), OcfRc::ErrGeneric);
        assert_eq!(
            err.reason(),
            "My data may be inconsistent. You have to remove /t/PGSQL.lock file to force start."
        );
    }

    /// A crash lock on the node the last primary recorded as the holder of
    /// every acknowledged commit, nobody promoted since, that ran as a
    /// standby since: started as a standby keeping the lock, for the
    /// election (seed 6059 of the long form). Not named, not run as a
    /// standby, diverged, or with a promoted instance: refused.
    #[test]
    fn a_crash_lock_on_the_recorded_holder_starts_for_the_election() {
        let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
        let v = view(
            &["pg01", "pg02", "pg03"],
            &[],
            &[
                ("pg02", "pgsql-data-status", "LATEST"),
                ("pg02", "pgsql-acked-also-on", "pg01"),
                ("pg01", "pgsql-data-status", "STREAMING|SYNC"),
                ("pg01", "master-pgsql", "100"),
                ("pg03", "pgsql-data-status", "STREAMING|ASYNC"),
            ],
        );
        let gate = |v: &ClusterView, ran_as_standby: bool| {
            StartProtocol::gate(
                &Plan::new(&c, v),
                Lock::Held,
                "/t/PGSQL.lock",
                ran_as_standby,
            )
        };
        let (_, steps) = gate(&v, true).unwrap();
        assert_eq!(
            start_kinds(&steps),
            [
                "apply [info /t/PGSQL.lock stays: the last primary recorded this node as holding \
              every commit it acknowledged, and it ran as a standby since; starting as a standby \
              for the election.]"
            ]
        );
        assert!(
            gate(&v, false).is_err(),
            "its last postmaster was a primary"
        );
        let diverged = with_attr(&v, "pg01", "pgsql-data-status", "DIVERGED");
        assert!(gate(&diverged, true).is_err());
        let other = with_attr(&v, "pg02", "pgsql-acked-also-on", "pg03");
        assert!(gate(&other, true).is_err());
        let mut promoted = v.clone();
        promoted.promoted = vec!["pg03".into()];
        assert!(gate(&promoted, true).is_err());
        let archive = super::super::RepConfig {
            archive_recovery: true,
            ..c.clone()
        };
        assert!(StartProtocol::gate(&Plan::new(&archive, &v), Lock::Held, "L", true).is_err());
    }

    /// No lock: a plain standby start, up to HS:alone. A running primary is
    /// refused; `synchronous_standby_names` set by the configuration is
    /// ERR_CONFIGURED, after the slots went.
    #[test]
    fn a_standby_start_step_by_step() {
        let (c, mut v) = primary_fixture();
        v.promoted = vec!["pg02".into()];
        let v = with_attr(&v, "pg01", "pgsql-xlog-loc", "0000000003000000");
        let mut p = Plan::new(&c, &v);
        let (start, steps) = StartProtocol::gate(&p, Lock::Absent, "/t/PGSQL.lock", false).unwrap();
        assert_eq!(steps, []);
        // A primary already runs here while pg02 is promoted: the verdict.
        let err = start.before_server(&mut p, Some(false)).unwrap_err();
        assert_eq!(
            err.reason(),
            "stale primary: pg02 is the promoted instance; stop this node, resync it from pg02"
        );
        assert!(
            err.explained()
                .starts_with("PostgreSQL runs as a primary here while pg02"),
            "{err:?}"
        );
        let mut p = Plan::new(&c, &v);
        assert_eq!(
            start_kinds(&start.before_server(&mut p, Some(true)).unwrap()),
            [
                "PrepareStandby { following: None }",
                "apply [XlogLoc=<deleted>]",
                "StartServer"
            ]
        );
        // With replication_hosts, it streams from pg02's own address.
        let hosts = super::super::RepConfig {
            replication_hosts: lab_hosts(),
            ..c.clone()
        };
        let steps = start
            .before_server(&mut Plan::new(&hosts, &v), Some(true))
            .unwrap();
        assert_eq!(
            steps[0],
            StartStep::PrepareStandby {
                following: Some("pg02".into())
            }
        );
        assert_eq!(
            start_kinds(&start.after_server(&mut p, "")),
            ["DropSlots", "apply [Status=HS:alone]"]
        );
        let steps = start.after_server(&mut Plan::new(&c, &v), "\"pg02\"");
        assert!(
            matches!(&steps[..], [StartStep::DropSlots, StartStep::Fail(e)]
            if e.rc() == OcfRc::ErrConfigured
                && e.reason().starts_with("Invalid synchronous_standby_names=\"\\\"pg02\\\"\": ")
                && e.explained().contains("(\"pg02\")"))
        );
        // Nobody promoted: the generic refusal of a running primary.
        let (_, alone) = primary_fixture();
        let err = start
            .before_server(&mut Plan::new(&c, &alone), Some(false))
            .unwrap_err();
        assert!(
            err.reason()
                .starts_with("PostgreSQL is already running as a primary"),
            "{err}"
        );
    }

    /// A clean demote's lock with a promoted node: start, then wait for the
    /// proof; proven, the lock goes; not proven, PostgreSQL stops again and
    /// the start is refused, naming how long it waited.
    #[test]
    fn a_clean_demote_proves_it_is_not_ahead_or_stops_again() {
        let (c, mut v) = primary_fixture();
        v.promoted = vec!["pg02".into()];
        let lock = Lock::CleanDemote {
            checkpoint: Lsn(0x300_0028),
            tli: 3,
        };
        let mut p = Plan::new(&c, &v);
        let (start, steps) = StartProtocol::gate(&p, lock, "/t/PGSQL.lock", false).unwrap();
        assert_eq!(
            start_kinds(&steps),
            ["apply [info /t/PGSQL.lock records a clean demote: starting as a standby; the lock \
              goes once streaming from the new primary proves this node is not ahead.]"]
        );
        assert_eq!(
            start.after_server(&mut p, ""),
            [StartStep::DropSlots, StartStep::AwaitProof(lock)]
        );
        assert_eq!(
            start_kinds(&start.after_proof(&mut p, true, Duration::from_secs(30))),
            [
                "RemoveLock(\"this former primary streams from the new primary, so it is not ahead of it\")",
                "apply [Status=HS:alone]"
            ]
        );
        let steps = start.after_proof(&mut Plan::new(&c, &v), false, Duration::from_secs(30));
        assert!(
            matches!(&steps[..], [StartStep::StopServer, StartStep::Fail(e)]
            if e.reason().ends_with("file to force start.")
            && e.explained().ends_with("file to force start. (it was demoted cleanly, but did not \
                stream from a newer primary within 30s, which would prove it is not ahead)"))
        );
    }

    /// Nobody promoted since a clean demote: the lock stays, and says so.
    /// The start's own refusals fit in an exit reason with worst-case
    /// values; the log has the rest.
    #[test]
    fn start_refusals_fit_an_exit_reason() {
        let (c, v) = primary_fixture();
        let p = Plan::new(&c, &v);
        let lock_path = "/var/lib/postgresql/15/main/tmp/PGSQL.lock";
        let (start, _) = StartProtocol::gate(&p, Lock::Absent, lock_path, false).unwrap();
        let list = "FIRST 1 (\"node-name-16char\", \"node-name-16chas\", \"node-name-16chat\")";
        let fail = |steps: Vec<StartStep>| match steps.last() {
            Some(StartStep::Fail(e)) => e.clone(),
            other => panic!("{other:?}"),
        };
        let refusals = [
            start_rejoin(&p, Lock::Absent, true).unwrap_err(),
            fail(start.after_server(&mut Plan::new(&c, &v), list)),
            fail(start.after_proof(&mut Plan::new(&c, &v), false, Duration::from_secs(86_400))),
        ];
        for e in &refusals {
            let wide = crate::core::decision_table::widened(e.reason());
            assert!(wide.len() <= crate::error::EXIT_REASON_MAX, "{wide}");
            assert!(e.detail().is_some(), "{e}");
        }
        assert!(refusals[1].explained().contains(list));
        assert!(refusals[2]
            .explained()
            .ends_with("within 86400s, which would prove it is not ahead)"));
    }

    #[test]
    fn without_a_promoted_node_the_lock_stays() {
        let (c, v) = primary_fixture();
        let lock = Lock::CleanDemote {
            checkpoint: Lsn(1),
            tli: 1,
        };
        let mut p = Plan::new(&c, &v);
        let (start, _) = StartProtocol::gate(&p, lock, "/t/PGSQL.lock", false).unwrap();
        assert_eq!(
            start_kinds(&start.after_server(&mut p, "")),
            [
                "DropSlots",
                "apply [info no promoted instance: /t/PGSQL.lock stays until streaming proves this \
                 node is not ahead of the next primary., Status=HS:alone]"
            ]
        );
    }
}
