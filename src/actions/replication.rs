//! rep_mode=async/sync: a promotable clone with the stock agent's node
//! attributes. Each action observes (crm_mon once, one SQL session), asks
//! `core::replication` what to write, and applies it.

use super::lifecycle::{self, Stopped};
use super::validate::Instance;
use crate::config::RepMode;
use crate::core::decide::{self, Postmaster, SqlProbe};
use crate::core::lsn::Lsn;
use crate::core::notify::{Notify, NotifyAction};
use crate::core::replication::{
    self as rep, AfterDemote, Attr, DataStatus, DemoteShutdown, ElectionFiles, Location, Lock,
    Plan, PrimaryFacts, PromotionCheck, RepConfig, Score, StandbyFacts, StartGate, Status,
    SyncStandbys,
};
use crate::core::standby_conf::StandbySettings;
use crate::core::timeline::{self, History};
use crate::error::{AgentError, Result};
use crate::io::clock::Deadline;
use crate::io::crm::{self, Crm};
use crate::io::pg::{self, Role, ServerState, Session};
use crate::io::postmaster;
use crate::io::statefiles::StateFiles;
use crate::io::waldir;
use crate::ocf::env::{OcfEnv, RawEnv};
use crate::ocf::rc::OcfRc;
use std::time::Duration;

/// One invocation's view of the replicated instance.
struct Replica<'a> {
    i: &'a Instance,
    rep: RepConfig,
    crm: Crm,
    files: StateFiles<'a>,
}

impl<'a> Replica<'a> {
    fn new(i: &'a Instance, env: &RawEnv) -> Replica<'a> {
        let files = StateFiles {
            tmpdir: &i.cfg.tmpdir,
            pgdata: &i.cfg.pgdata,
            owner: &i.owner,
        };
        let rep = RepConfig {
            rsc: i.ocf.resource_name.clone(),
            me: crm::local_node_name(i.ocf.on_node.as_deref(), i.deadline),
            rep_mode: i.cfg.rep_mode,
            node_list: i.cfg.node_list.clone(),
            xlog_check_count: i.cfg.xlog_check_count,
            sync_preference: files.former_primary(),
        };
        let crm = Crm::new(
            &rep.rsc,
            &i.ocf.instance,
            &rep.me,
            env,
            i.cfg.crm_attr_timeout,
            i.deadline,
        );
        Replica { i, rep, crm, files }
    }

    fn sync_mode(&self) -> bool {
        self.rep.rep_mode == RepMode::Sync
    }

    /// Apply what the plan decided so far (the plan keeps its view of the
    /// values, so later decisions see these writes).
    fn apply(&self, plan: &mut Plan) -> Result<()> {
        for line in std::mem::take(&mut plan.infos) {
            crate::info!("{line}");
        }
        for w in std::mem::take(&mut plan.warnings) {
            crate::warn!("{w}");
        }
        let writes = std::mem::take(&mut plan.writes);
        if self.crm.on_cib_file() || !distinct_attributes(&writes) {
            // A CIB file has no daemon to serialise writers; an attribute
            // written twice keeps its order.
            return writes.iter().try_for_each(|w| self.crm.apply(w));
        }
        // Each write is one crm_attribute process (tens of ms): the plan's
        // writes go out at once, which is most of a promote's own time.
        std::thread::scope(|scope| {
            let running: Vec<_> = writes
                .iter()
                .map(|w| scope.spawn(|| self.crm.apply(w)))
                .collect();
            running
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(AgentError::generic("crm_attribute writer panicked"))
                    })
                })
                .collect::<Result<Vec<()>>>()
                .map(drop)
        })
    }

    fn session(&self, role: Role) -> Result<Session> {
        pg::connect_as(
            role,
            &self.i.cfg,
            &self.i.owner,
            self.i.passfile.as_deref(),
            self.i.deadline,
        )
        .map_err(|e| AgentError::generic(format!("can't connect to PostgreSQL: {}", e.message)))
    }

    fn server_state(&self, s: &mut Session) -> Result<ServerState> {
        s.server_state().map_err(|e| {
            AgentError::generic(format!("can't read the replication state: {}", e.message))
        })
    }

    fn standby_settings(&self) -> StandbySettings<'_> {
        let c = &self.i.cfg;
        StandbySettings {
            master_ip: c.master_ip.as_deref().unwrap_or(""),
            port: c.pgport,
            repuser: &c.repuser,
            node: &self.rep.me,
            conninfo_opt: c.primary_conninfo_opt.as_deref(),
            restore_command: c.restore_command.as_deref(),
            archive_cleanup_command: c.archive_cleanup_command.as_deref(),
            recovery_end_command: c.recovery_end_command.as_deref(),
            slot: c
                .replication_slot_name
                .as_ref()
                .map(|b| rep::slot_name(b, &self.rep.me)),
        }
    }

    /// Write the standby configuration; in sync mode commits start
    /// asynchronous ("Set all nodes into async mode.").
    fn prepare_standby(&self) -> Result<()> {
        self.files.ensure_tmpdir()?;
        let sync = self.sync_mode().then_some("");
        if sync.is_some() {
            crate::info!("Set all nodes into async mode.");
            self.files.write_rep_mode_conf("")?;
        }
        self.files
            .write_standby_config(&self.standby_settings(), sync)
    }

    fn slot_names(&self) -> Vec<String> {
        match &self.i.cfg.replication_slot_name {
            Some(base) => self.rep.others().map(|n| rep::slot_name(base, n)).collect(),
            None => Vec::new(),
        }
    }
}

/// The timeline of the newest WAL segment in `pg_wal`: the timeline a
/// standby's WAL is really on. (A diverged standby also holds the history
/// file of the timeline it cannot follow, and its checkpoint timeline lags
/// until its next restartpoint.)
fn wal_timeline(r: &Replica) -> Option<u32> {
    let names = waldir::file_names(&r.i.cfg.pgdata)?;
    timeline::newest_segment_timeline(names.iter().map(String::as_str))
}

/// A standby's position for the election and the check at promotion: its
/// WAL location, on the newest of the timelines PostgreSQL reports and the
/// timeline its WAL segments are on.
fn standby_location(r: &Replica, state: &ServerState) -> Option<Location> {
    Some(Location {
        tli: state.timeline.max(wal_timeline(r)),
        lsn: state.location?,
    })
}

/// No attribute of a node is written twice.
fn distinct_attributes(writes: &[rep::Write]) -> bool {
    let mut seen = std::collections::BTreeSet::new();
    writes
        .iter()
        .all(|w| seen.insert((w.node.as_str(), w.attr)))
}

fn sql_err(what: &str) -> impl Fn(pg::SqlError) -> AgentError + '_ {
    move |e| AgentError::generic(format!("{what}: {}", e.message))
}

// --- start and stop -----------------------------------------------------------

pub fn start(i: &Instance, env: &RawEnv) -> Result<OcfRc> {
    let r = Replica::new(i, env);
    let view = r.crm.cluster_view()?;
    let mut plan = Plan::new(&r.rep, &view);
    let me = r.rep.me.clone();
    plan.status(&me, Status::Stop);
    plan.delete(&me, Attr::MasterBaseline);
    plan.own_score(Score::CanNotPromote);
    r.apply(&mut plan)?;

    r.files.ensure_tmpdir()?;
    r.files.clear_start_state();
    let lock = r.files.lock_state();
    let gate = rep::start_gate(lock, view.promoted_exists());
    match gate {
        StartGate::Refuse => return Err(lock_refusal(&r, "")),
        StartGate::Standby => {}
        StartGate::StandbyThenProve | StartGate::StandbyKeepLock => crate::info!(
            "{} records a clean demote: starting as a standby; the lock goes once streaming \
             from the new primary proves this node is not ahead.",
            r.files.lock().display()
        ),
    }
    if let Postmaster::Alive { .. } = postmaster::observe(&i.cfg.pgdata) {
        let mut s = r.session(Role::Monitor)?;
        if !r.server_state(&mut s)?.in_recovery {
            let why = rep::stale_primary(&plan).unwrap_or_else(|| {
                "PostgreSQL is already running as a primary; start brings up a standby only. \
                 Stop it (or let Pacemaker probe it) first"
                    .into()
            });
            return Err(AgentError::generic(why));
        }
    }
    r.prepare_standby()?;
    plan.delete(&me, Attr::XlogLoc);
    plan.delete(&me, Attr::XlogTli);
    r.apply(&mut plan)?;

    lifecycle::start_server(i)?;
    let mut s = r.session(Role::Monitor)?;
    let state = r.server_state(&mut s)?;
    reconcile_slots(&r, false)?;
    if !state.sync_standbys.is_empty() {
        return Err(AgentError::configured(format!(
            "Invalid synchronous_standby_names is set in postgresql.conf ({}); the agent manages it: \
             remove it from the configuration and from start_opt",
            state.sync_standbys
        )));
    }
    match gate {
        StartGate::StandbyThenProve => prove_not_ahead_or_stop(&r, lock)?,
        StartGate::StandbyKeepLock => crate::info!(
            "no promoted instance: {} stays until streaming proves this node is not ahead of the next primary.",
            r.files.lock().display()
        ),
        StartGate::Standby | StartGate::Refuse => {}
    }
    plan.status(&me, Status::HsAlone);
    r.apply(&mut plan)?;
    Ok(OcfRc::Success)
}

/// The stock agent's refusal to start while PGSQL.lock exists.
fn lock_refusal(r: &Replica, why: &str) -> AgentError {
    AgentError::generic(format!(
        "My data may be inconsistent. You have to remove {} file to force start.{why}",
        r.files.lock().display()
    ))
}

/// A cleanly demoted node started as a standby: wait (half the remaining
/// time at most) until PostgreSQL streams it from the new primary, which
/// proves it is not ahead, then remove the lock. Otherwise stop it again
/// and refuse, as the stock agent does.
fn prove_not_ahead_or_stop(r: &Replica, lock: Lock) -> Result<()> {
    let wait = r.i.deadline.remaining() / 2;
    let proven = Deadline::after(wait).poll(Duration::from_millis(500), || {
        let state = r
            .session(Role::Monitor)
            .and_then(|mut s| r.server_state(&mut s))
            .ok()?;
        lock.proven_not_ahead(state.streaming(), state.received_tli, state.replay)
            .then_some(())
    });
    if proven.is_some() {
        return r.files.remove_lock(
            "this former primary streams from the new primary, so it is not ahead of it",
        );
    }
    lifecycle::stop_server(r.i, r.i.cfg.stop_escalate_in_slave)?;
    Err(lock_refusal(
        r,
        &format!(
            " (it was demoted cleanly, but did not stream from a newer primary within {}s, \
             which would prove it is not ahead)",
            wait.as_secs()
        ),
    ))
}

/// The per-standby replication slots exist on a primary (`present`) and
/// not on a standby, whose start drops them as the stock agent does.
fn reconcile_slots(r: &Replica, present: bool) -> Result<()> {
    let wanted = r.slot_names();
    if wanted.is_empty() {
        return Ok(());
    }
    let mut s = r.session(Role::Admin)?;
    let existing = s.slots().map_err(sql_err("can't list replication slots"))?;
    for slot in wanted.iter().filter(|w| existing.contains(w) != present) {
        if present {
            crate::info!("PostgreSQL creates replication slot {slot}.");
            s.create_slot(slot)
                .map_err(sql_err("PostgreSQL can't create replication_slot"))?;
        } else {
            crate::info!("PostgreSQL drops replication slot {slot}.");
            s.drop_slot(slot)
                .map_err(sql_err("PostgreSQL can't clean up replication_slot"))?;
        }
    }
    Ok(())
}

pub fn stop(i: &Instance, env: &RawEnv) -> Result<OcfRc> {
    let r = Replica::new(i, env);
    let view = r.crm.cluster_view()?;
    let mut plan = Plan::new(&r.rep, &view);
    let me = r.rep.me.clone();
    if i.cfg.check_wal_receiver {
        r.crm.attrd(&receiver_attr(&r), None);
    }
    plan.own_score(Score::CanNotPromote);
    plan.delete(&me, Attr::XlogLoc);
    plan.delete(&me, Attr::XlogTli);
    r.apply(&mut plan)?;
    match lifecycle::stop_server(i, i.cfg.stop_escalate_in_slave) {
        Ok(Stopped::Already) => {
            plan.status(&me, Status::Stop);
            r.apply(&mut plan)?;
            return Ok(OcfRc::Success);
        }
        Ok(_) => {}
        Err(e) => {
            plan.status(&me, Status::Unknown);
            r.apply(&mut plan)?;
            return Err(e);
        }
    }
    plan.status(&me, Status::Stop);
    if r.sync_mode() {
        r.files.write_rep_mode_conf("")?;
    }
    plan.delete(&me, Attr::MasterBaseline);
    r.apply(&mut plan)?;
    Ok(OcfRc::Success)
}

/// A stop whose validation failed: in a replication mode the stock agent
/// still marks the node `UNKNOWN`, so the primary stops trusting it.
pub fn mark_unknown(env: &RawEnv) {
    let rep_mode = env.get("OCF_RESKEY_rep_mode").map(String::as_str);
    if !matches!(rep_mode, Some("async" | "sync")) {
        return;
    }
    let ocf = OcfEnv::from_raw(env);
    let deadline = Deadline::after(Duration::from_secs(10));
    let me = crm::local_node_name(ocf.on_node.as_deref(), deadline);
    let crm = Crm::new(&ocf.resource_name, &ocf.instance, &me, env, 5, deadline);
    let write = rep::Write {
        node: me,
        attr: Attr::Status,
        value: Some(Status::Unknown.wire().to_string()),
        log: None,
    };
    if let Err(e) = crm.apply(&write) {
        crate::warn!("can't set {}: {e}", Attr::Status.name(&ocf.resource_name));
    }
}

// --- monitor --------------------------------------------------------------------

pub fn monitor(i: &Instance, env: &RawEnv) -> Result<OcfRc> {
    let pm = postmaster::observe(&i.cfg.pgdata);
    if !decide::needs_sql(pm) {
        return decide::monitor_standalone(pm, None).into();
    }
    let r = Replica::new(i, env);
    let (mut s, state) = match r.session(Role::Monitor).and_then(|mut s| {
        s.probe(&i.cfg.monitor_sql)
            .map_err(sql_err("monitor_sql failed"))?;
        let state = r.server_state(&mut s)?;
        Ok((s, state))
    }) {
        Ok(ok) => ok,
        Err(e) => {
            let sql = SqlProbe::Failed(e.reason().to_string());
            return decide::monitor_standalone(pm, Some(&sql)).into();
        }
    };
    let view = r.crm.cluster_view()?;
    let mut plan = Plan::new(&r.rep, &view);
    if !state.in_recovery {
        if let Some(why) = rep::stale_primary(&plan) {
            plan.own_score(Score::CanNotPromote);
            r.apply(&mut plan)?;
            return Err(AgentError::generic(why));
        }
    }
    if i.ocf.is_probe() {
        plan.own_score(rep::probe_score(state.in_recovery));
    }
    if i.cfg.check_wal_receiver {
        let v = rep::receiver_status(state.in_recovery, state.streaming());
        r.crm.attrd(&receiver_attr(&r), Some(v));
    }
    if state.in_recovery {
        standby_monitor(&r, &mut plan, &state)?;
    } else {
        rep::primary_self(&mut plan);
        publish_history(&r, &state);
        control_standbys(&r, &mut plan, &mut s, &state)?;
    }
    Ok(decide::replicated_rc(state.in_recovery))
}

fn receiver_attr(r: &Replica) -> String {
    format!("{}-receiver-status", r.rep.rsc)
}

/// The primary publishes its timeline history (`<rsc>-history`, private)
/// when it differs from what it published before, so that a standby that
/// went past the fork can tell (`core::replication::diverge`). Best effort:
/// a standby that finds nothing gives no verdict.
fn publish_history(r: &Replica, state: &ServerState) {
    let Some(tli) = state.insert_tli else {
        crate::warn!("can't tell this primary's timeline: its history is not published");
        return;
    };
    let file = waldir::history_file(&r.i.cfg.pgdata, tli);
    let history = match History::of_primary(tli, file.as_deref()) {
        Ok(h) => h.to_wire(),
        Err(e) => {
            crate::warn!("can't publish this primary's timeline history: {e}");
            return;
        }
    };
    // A note in tmpdir says what was published: a steady monitor then runs
    // no attrd tool. Republished once a minute anyway, in case attrd lost
    // it (a restarted attrd keeps no private attribute).
    if r.files
        .published_history(Duration::from_secs(60))
        .as_deref()
        == Some(history.as_str())
    {
        return;
    }
    let name = rep::history_attr(&r.rep.rsc);
    if r.crm.private(&r.rep.me, &name).as_deref() != Some(history.as_str()) {
        crate::info!("My timeline history : {history}.");
        r.crm.set_private(&name, Some(&history));
    }
    r.files.set_published_history(&history);
}

/// The primary's pass over its standbys (`core::replication::sync`). When
/// the list changes, the scores it took away are in the CIB before the
/// list changes; the new sync standby gets its score in a later round,
/// once it has flushed what the primary had flushed after the change.
fn control_standbys(
    r: &Replica,
    plan: &mut Plan,
    s: &mut Session,
    state: &ServerState,
) -> Result<()> {
    let mut current = SyncStandbys::parse(&state.sync_standbys).unwrap_or(SyncStandbys::Async);
    let mut ceiling = None;
    for _round in 0..3 {
        let rows = s
            .replication_rows()
            .map_err(sql_err("Can't get PostgreSQL replication status"))?;
        fulfil_preference(r, &rows);
        let facts = PrimaryFacts {
            rows: &rows,
            current: &current,
            ceiling,
        };
        let pass = rep::control_standbys(plan, &facts);
        let revoked = revoked_scores(plan);
        r.apply(plan)?;
        if let Some(wanted) = pass.change {
            if !r.crm.confirm(&revoked, Score::CanNotPromote.wire()) {
                crate::warn!("the CIB does not show the scores taken away yet; synchronous_standby_names stays for now");
                return Ok(());
            }
            set_sync_standbys(r, &wanted)?;
            current = wanted;
            ceiling = settle_and_read_ceiling(r, s, &current)?;
            crate::info!("re-controlling standby status.");
            continue;
        }
        match (pass.awaiting, ceiling) {
            (Some(_), None) => {
                ceiling = settle_and_read_ceiling(r, s, &current)?;
            }
            // Not caught up with this ceiling: the next monitor tries again.
            (Some(n), Some(c)) => {
                crate::info!("{n} has not flushed up to {c} yet: no score until it has.");
                return Ok(());
            }
            (None, _) => return Ok(()),
        }
    }
    Ok(())
}

/// The nodes whose score this plan takes away.
fn revoked_scores(plan: &Plan) -> Vec<String> {
    plan.writes
        .iter()
        .filter(|w| {
            w.attr == Attr::Score && w.value.as_deref() == Some(Score::CanNotPromote.wire())
        })
        .map(|w| w.node.clone())
        .collect()
}

fn set_sync_standbys(r: &Replica, wanted: &SyncStandbys) -> Result<()> {
    let value = wanted.value();
    match wanted {
        SyncStandbys::Async => crate::info!("Setup all standbys into async mode."),
        SyncStandbys::First(names) => {
            crate::info!("Setup {} into sync mode.", names.join(", "))
        }
    }
    r.files.write_rep_mode_conf(&value)?;
    r.session(Role::Admin)?
        .set_sync_standbys(&value)
        .map_err(sql_err("Can't set synchronous_standby_names"))
}

/// Wait (2 s at most) until PostgreSQL shows the named standby SYNC, read
/// the primary's flush position (every commit acknowledged so far is at or
/// below it), then wait (2 s at most) until the standby has flushed that
/// far. Returns the ceiling for the next round.
fn settle_and_read_ceiling(
    r: &Replica,
    s: &mut Session,
    current: &SyncStandbys,
) -> Result<Option<Lsn>> {
    let Some(named) = current.sole() else {
        return Ok(None);
    };
    let bound = || {
        Deadline::after(
            Duration::from_secs(2).min(r.i.deadline.minus(Duration::from_secs(1)).remaining()),
        )
    };
    let row_of = |rows: &[rep::ReplicationRow]| {
        rows.iter()
            .find(|row| row.application_name.eq_ignore_ascii_case(named))
            .cloned()
    };
    bound().poll(Duration::from_millis(50), || {
        let rows = s.replication_rows().ok()?;
        row_of(&rows)
            .filter(|row| row.sync == rep::SyncRole::Sync)
            .map(drop)
    });
    let ceiling = s
        .flushed()
        .map_err(sql_err("Can't read the primary's WAL position"))?;
    if let Some(c) = ceiling {
        bound().poll(Duration::from_millis(20), || {
            let rows = s.replication_rows().ok()?;
            row_of(&rows)?.flush.filter(|f| *f >= c).map(drop)
        });
    }
    Ok(ceiling)
}

/// Once the former primary is the sync standby, the preference has done its
/// job: forget it, so that it does not take the role back after a loss.
fn fulfil_preference(r: &Replica, rows: &[rep::ReplicationRow]) {
    let Some(former) = &r.rep.sync_preference else {
        return;
    };
    let is_sync = |row: &rep::ReplicationRow| {
        row.application_name.eq_ignore_ascii_case(former) && row.sync == rep::SyncRole::Sync
    };
    if rows.iter().any(is_sync) {
        r.files.clear_former_primary();
    }
}

/// A standby's monitor: the decisions are `core::replication::standby_monitor`.
fn standby_monitor(r: &Replica, plan: &mut Plan, state: &ServerState) -> Result<()> {
    let election = r.files.read_election();
    let facts = StandbyFacts {
        location: standby_location(r, state),
        streaming: state.streaming(),
        position_final: state.position_final(),
        received_tli: state.received_tli,
        replay: state.replay,
        lock: r.files.lock_state(),
        election: election.as_ref(),
    };
    let outcome = rep::standby_monitor(plan, &facts).map_err(AgentError::generic)?;
    match outcome.election {
        ElectionFiles::Keep => {}
        ElectionFiles::Write(state) => r.files.write_election(&state)?,
        ElectionFiles::Clear => r.files.clear_election(),
    }
    if outcome.remove_lock {
        r.files.remove_lock(
            "this former primary streams from the new primary, so it is not ahead of it",
        )?;
    }
    if let Some(primary) = rep::history_to_check(plan, state.streaming()) {
        let published = r.crm.private(&primary, &rep::history_attr(&r.rep.rsc));
        let facts = rep::DivergenceFacts {
            primary: &primary,
            published: published.as_deref(),
            wal_tli: wal_timeline(r),
            position: state.location,
            streaming: state.streaming(),
            received_tli: state.received_tli,
        };
        if let Some(reason) = rep::divergence_check(plan, &facts) {
            r.apply(plan)?;
            return Err(AgentError::generic(reason));
        }
    }
    r.apply(plan)
}

// --- promote and demote -----------------------------------------------------------

pub fn promote(i: &Instance, env: &RawEnv) -> Result<OcfRc> {
    let r = Replica::new(i, env);
    let mut s = r.session(Role::Monitor)?;
    let state = r.server_state(&mut s)?;
    if !state.in_recovery {
        crate::info!("PostgreSQL is already Master. Don't execute promote.");
        return Ok(OcfRc::Success);
    }
    let view = r.crm.cluster_view()?;
    let mut plan = Plan::new(&r.rep, &view);
    let me = r.rep.me.clone();
    check_promotion(&r, &mut plan, &state)?;
    r.files.clear_election();
    let others: Vec<String> = r.rep.others().map(str::to_string).collect();
    for target in &others {
        plan.data_status(target, DataStatus::Disconnect);
        plan.other_score(target, Score::CanNotPromote);
    }
    r.apply(&mut plan)?;
    r.files.create_lock()?;
    if let Some(lsn) = state.location {
        crate::info!("My master baseline : {}.", lsn.to_hex16());
        plan.set(&me, Attr::MasterBaseline, &lsn.to_hex16());
        r.apply(&mut plan)?;
    }
    // Commits wait for a standby from the first one on.
    let list = rep::promotion_list(&r.rep, &view);
    if r.sync_mode() {
        r.files.write_rep_mode_conf(&list.value())?;
        r.files
            .write_standby_config(&r.standby_settings(), Some(&list.value()))?;
        s.reload()
            .map_err(sql_err("Can't reload the configuration"))?;
    }

    if i.cfg.restart_on_promote {
        crate::info!("Restarting PostgreSQL instead of promote.");
        lifecycle::stop_server(i, i.cfg.stop_escalate_in_slave)?;
        let _ = std::fs::remove_file(r.files.standby_signal());
        lifecycle::start_server(i)?;
    } else {
        let promoted = r
            .session(Role::Admin)?
            .promote(i.deadline.minus(Duration::from_secs(1)))
            .map_err(sql_err("Can't promote PostgreSQL"))?;
        if !promoted {
            return Err(AgentError::generic(
                "Can't promote PostgreSQL: it did not leave recovery in time",
            ));
        }
        crate::info!("PostgreSQL is promoted.");
    }
    let mut s = r.session(Role::Monitor)?;
    let state = r.server_state(&mut s)?;
    if state.in_recovery {
        return Err(AgentError::generic(
            "Can't start PostgreSQL as primary on promote.",
        ));
    }
    publish_history(&r, &state);
    reconcile_slots(&r, true)?;
    plan.data_status(&me, DataStatus::Latest);
    plan.own_score(Score::PromoteMe);
    plan.status(&me, Status::Pri);
    r.apply(&mut plan)?;
    Ok(OcfRc::Success)
}

/// The check at promotion: every other standby published its position in
/// the pre-promote notification; wait for them (a quarter of the time
/// left, 10 s at most), then refuse if one is ahead (handing it the
/// promotion) or silent.
fn check_promotion(r: &Replica, plan: &mut Plan, state: &ServerState) -> Result<()> {
    let Some(mine) = standby_location(r, state) else {
        return Err(AgentError::generic(
            "Can't promote: this node's WAL position can't be read",
        ));
    };
    let me = &r.rep.me;
    let peers: Vec<&str> = r
        .rep
        .others()
        .filter(|n| plan.view.online(n) && plan.view.unpromoted.iter().any(|u| u == n))
        .collect();
    let read = |n: &str| r.crm.private(n, &rep::position_attr(&r.rep.rsc));
    let bound = Deadline::after((r.i.deadline.remaining() / 4).min(Duration::from_secs(10)));
    let mut published: Vec<(String, Option<Location>)> = Vec::new();
    bound.poll(Duration::from_millis(200), || {
        published = peers
            .iter()
            .map(|n| {
                (
                    n.to_string(),
                    read(n).as_deref().and_then(Location::from_wire),
                )
            })
            .collect();
        published.iter().all(|(_, l)| l.is_some()).then_some(())
    });
    match rep::promotion_check(mine, &published) {
        PromotionCheck::Go => Ok(()),
        PromotionCheck::HandOver { to, reason } => {
            plan.own_score(Score::CanNotPromote);
            plan.set(&to, Attr::Score, Score::PromoteMe.wire());
            r.apply(plan)?;
            Err(AgentError::generic(format!(
                "promotion refused on {me}: {reason}"
            )))
        }
        PromotionCheck::Refuse(reason) => Err(AgentError::generic(format!(
            "promotion refused on {me}: {reason}"
        ))),
    }
}

/// Demote: stop the primary cleanly; when the shutdown checkpoint was
/// written, start again as a standby of the new primary (PGSQL.lock stays
/// until streaming proves this node is not ahead). Otherwise leave it
/// stopped behind PGSQL.lock, as the stock agent does.
pub fn demote(i: &Instance, env: &RawEnv) -> Result<OcfRc> {
    let r = Replica::new(i, env);
    let view = r.crm.cluster_view()?;
    let mut plan = Plan::new(&r.rep, &view);
    let me = r.rep.me.clone();
    plan.own_score(Score::CanNotPromote);
    plan.delete(&me, Attr::MasterBaseline);
    r.apply(&mut plan)?;

    let stopped = match lifecycle::stop_server(i, i.cfg.stop_escalate) {
        Ok(how) => how,
        Err(e) => {
            plan.status(&me, Status::Unknown);
            r.apply(&mut plan)?;
            return Err(e);
        }
    };
    if Notify::from_env(env).is_some_and(|n| n.no_unpromoted_left()) {
        r.files.remove_lock("no standby is left")?;
    }
    plan.status(&me, Status::Stop);
    if stopped == Stopped::Already {
        crate::info!("PostgreSQL is already stopped on demote.");
        r.apply(&mut plan)?;
        return Ok(OcfRc::Success);
    }
    let control = lifecycle::controldata(i)?;
    let shutdown = DemoteShutdown {
        immediate: stopped == Stopped::Immediate,
        clean: control.cleanly_shut_down(),
        checkpoint: control.checkpoint(),
        tli: control.timeline(),
        lock_exists: r.files.lock_exists(),
    };
    match rep::after_demote(shutdown) {
        AfterDemote::StayStopped => {
            r.apply(&mut plan)?;
            crate::ocf::log::exit_reason(&format!(
                "demoted without a shutdown checkpoint (cluster state: {}); PostgreSQL stays stopped \
                 behind {}: resynchronise this node, then remove the lock",
                control.get("Database cluster state").unwrap_or("unknown"),
                r.files.lock().display()
            ));
            Ok(OcfRc::Success)
        }
        AfterDemote::RestartAsStandby { record } => {
            crate::info!(
                "Clean shutdown at {}; restarting as a standby of {}.",
                control.checkpoint().map_or("?".into(), |l| l.to_string()),
                i.cfg.master_ip.as_deref().unwrap_or("")
            );
            if let Some(text) = record {
                r.files.mark_clean_demote(&text)?;
            }
            r.prepare_standby()?;
            r.apply(&mut plan)?;
            lifecycle::start_server(i)?;
            plan.status(&me, Status::HsAlone);
            r.apply(&mut plan)?;
            Ok(OcfRc::Success)
        }
    }
}

// --- notify ---------------------------------------------------------------------

pub fn notify(i: &Instance, env: &RawEnv) -> Result<OcfRc> {
    let Some(n) = Notify::from_env(env) else {
        crate::debug!("notify without a usable type/operation: nothing to do");
        return Ok(OcfRc::Success);
    };
    let r = Replica::new(i, env);
    crate::debug!("notify: {:?} for {:?}", n.kind, n.op);
    let me = r.rep.me.clone();
    match n.action(&me) {
        NotifyAction::Nothing => Ok(OcfRc::Success),
        NotifyAction::CheckTargetBaseline { target } => pre_promote(&r, &target),
        NotifyAction::ForgetElection { keep_baseline } => {
            r.crm.set_private(&rep::position_attr(&r.rep.rsc), None);
            let view = r.crm.cluster_view()?;
            let mut plan = Plan::new(&r.rep, &view);
            plan.delete(&me, Attr::XlogLoc);
            plan.delete(&me, Attr::XlogTli);
            if !keep_baseline {
                plan.delete(&me, Attr::MasterBaseline);
                r.files.clear_former_primary();
            }
            r.apply(&mut plan).map(|()| OcfRc::Success)
        }
        NotifyAction::RecordBaseline => post_demote(&r, n.first_demote()),
        NotifyAction::Elect => elect_now(&r),
        NotifyAction::ControlStandbys => {
            let mut s = r.session(Role::Monitor)?;
            let state = r.server_state(&mut s)?;
            if state.in_recovery {
                // Named as the primary, but a standby: the list is stale.
                crate::warn!("notified as the primary, but PostgreSQL is in recovery: ignored");
                return Ok(OcfRc::Success);
            }
            let view = r.crm.cluster_view()?;
            let mut plan = Plan::new(&r.rep, &view);
            control_standbys(&r, &mut plan, &mut s, &state)?;
            Ok(OcfRc::Success)
        }
    }
}

/// Every standby publishes its position for `promote`'s check. A node
/// that is not the promotion target refuses a target older than itself,
/// by banning itself (the stock agent's pre-promote check).
fn pre_promote(r: &Replica, target: &str) -> Result<OcfRc> {
    let state = r
        .session(Role::Monitor)
        .and_then(|mut s| r.server_state(&mut s));
    match state {
        Ok(st) if st.in_recovery => {
            if let Some(l) = standby_location(r, &st) {
                crate::info!("My position for this promotion: {}.", l.to_wire());
                r.crm
                    .set_private(&rep::position_attr(&r.rep.rsc), Some(&l.to_wire()));
            }
        }
        Ok(_) => {}
        Err(e) => crate::warn!("can't publish my position for this promotion: {e}"),
    }
    let read = |node: &str| -> Result<Option<Location>> {
        Ok(r.crm
            .query(node, Attr::MasterBaseline)?
            .and_then(|v| Location::from_attrs(Some(&v), None)))
    };
    let target_baseline = read(target)?;
    if target_baseline.is_none() {
        return Ok(OcfRc::Success);
    }
    let mine = read(&r.rep.me)?;
    if rep::newer_than_target(&r.rep, target, target_baseline, mine) {
        let location = target_baseline.map_or(String::new(), |l| l.lsn.to_hex16());
        r.crm.ban(&r.i.ocf.instance, &r.rep.me)?;
        return Err(AgentError::generic(format!(
            "My data is newer than new master's one. New master's location : {location}"
        )));
    }
    Ok(OcfRc::Success)
}

/// post-stop: when no instance is promoted and no node has a positive
/// score (the primary's instance is the one that stopped), every standby
/// runs the election now, as all are notified at once, and looks again
/// for 3 s at most while the other candidates publish. A failure here is
/// only logged: the next monitor runs the same election.
fn elect_now(r: &Replica) -> Result<OcfRc> {
    let bound = Deadline::after(Duration::from_secs(3).min(r.i.deadline.remaining() / 2));
    let mut s = r.session(Role::Monitor)?;
    let score = Attr::Score.name(&r.rep.rsc);
    loop {
        let state = r.server_state(&mut s)?;
        let view = r.crm.cluster_view()?;
        let someone_may_be_promoted = view.promoted_exists()
            || r.rep
                .node_list
                .iter()
                .any(|n| Score::is_positive(view.attribute(n, &score)));
        if !state.in_recovery || someone_may_be_promoted {
            return Ok(OcfRc::Success);
        }
        let mut plan = Plan::new(&r.rep, &view);
        if let Err(e) = standby_monitor(r, &mut plan, &state) {
            crate::warn!("election at post-stop: {e}");
            return Ok(OcfRc::Success);
        }
        if bound.remaining().is_zero() {
            return Ok(OcfRc::Success);
        }
        bound.sleep(Duration::from_millis(300));
    }
}

/// After a demote, the standbys that stay record where they are, for the
/// pre-promote check.
fn post_demote(r: &Replica, demoted: Option<&str>) -> Result<OcfRc> {
    let me = r.rep.me.clone();
    // Should this node be promoted next, the former primary is the one to
    // make its sync standby, so that the switchover can be undone.
    if let Some(former) = demoted {
        r.files.set_former_primary(former)?;
    }
    let mut s = r.session(Role::Monitor)?;
    let state = r.server_state(&mut s)?;
    let view = r.crm.cluster_view()?;
    let mut plan = Plan::new(&r.rep, &view);
    if let Some(lsn) = state.location {
        crate::info!("My master baseline : {}.", lsn.to_hex16());
        plan.set(&me, Attr::MasterBaseline, &lsn.to_hex16());
    }
    plan.status(&me, Status::HsAlone);
    r.apply(&mut plan).map(|()| OcfRc::Success)
}
