//! monitor: the primary's pass over its standbys, a standby's own
//! monitor (election, lock release, divergence).

use super::*;
use crate::core::crm_mon::ClusterView;

pub fn monitor(i: &Instance, env: &RawEnv) -> Result<OcfRc> {
    let r = Replica::new(i, env);
    if let Postmaster::Dead { .. } = postmaster::observe(&i.cfg.pgdata) {
        return after_crash(&r);
    }
    // A postmaster that died during this monitor (between the look at its
    // pid and the connection, or during the primary's pass) crashed: it is
    // handled as a crash, which may recover it in place.
    match monitor_running(&r, None) {
        Err(_) if matches!(postmaster::observe(&i.cfg.pgdata), Postmaster::Dead { .. }) => {
            after_crash(&r)
        }
        result => result,
    }
}

/// A dead postmaster: recovered in place when no other node can be
/// promoted, and then monitored as a running server; else the crash is
/// reported.
fn after_crash(r: &Replica) -> Result<OcfRc> {
    // The view read for a crash is the view of the rest of this monitor.
    // A postmaster that died mid-monitor costs a second read, on purpose:
    // the decision needs the cluster as it is after the crash.
    let view = r.crm.cluster_view()?;
    if recovered_in_place(r, &view)? {
        return monitor_running(r, Some(view));
    }
    decide::monitor_standalone(postmaster::observe(&r.i.cfg.pgdata), None).into()
}

fn monitor_running(r: &Replica, seen: Option<ClusterView>) -> Result<OcfRc> {
    let i = r.i;
    let pm = postmaster::observe(&i.cfg.pgdata);
    if !decide::needs_sql(pm) {
        return decide::monitor_standalone(pm, None).into();
    }
    let (mut s, state) = match r.monitor_session().and_then(|mut s| {
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
    let view = match seen {
        Some(view) => view,
        None => r.crm.cluster_view()?,
    };
    let mut plan = Plan::new(&r.rep, &view);
    if i.ocf.is_probe() {
        // A probe follows a (re)join, and a restarted attrd keeps no
        // private attribute: compare with attrd, not with the note.
        r.files.forget_published_history();
    }
    if !state.in_recovery {
        match primary_verdict_now(r, &plan, &state) {
            PrimaryVerdict::Alone => {}
            PrimaryVerdict::Stale(why) => {
                plan.own_score(Score::CanNotPromote);
                r.apply(plan.take())?;
                return Err(AgentError::generic(why));
            }
            PrimaryVerdict::Newer(why) => {
                crate::warn!("{why}");
                if !view.promoted.contains(&r.rep.me) {
                    // A probe's find: report it as it is, and publish the
                    // timeline that makes the other one fail.
                    plan.own_score(Score::PromoteMe);
                    r.apply(plan.take())?;
                    publish_history(r, &state);
                    return Ok(OcfRc::RunningPromoted);
                }
            }
        }
    }
    if i.ocf.is_probe() {
        if let Some(score) = rep::probe_score(&plan, state.in_recovery) {
            plan.own_score(score);
        }
    }
    if i.cfg.check_wal_receiver {
        let v = rep::receiver_status(state.in_recovery, state.streaming());
        r.crm.attrd(&rep::receiver_status_attr(&r.rep.rsc), Some(v));
    }
    if state.in_recovery {
        standby_monitor(r, &mut plan, &state)?;
    } else {
        rep::primary_self(&mut plan);
        publish_history(r, &state);
        checkpoint_for_rewinds(r, &state);
        control_standbys(r, &mut plan, &mut s, &state)?;
        warn_weak_commits(r, &mut s);
    }
    Ok(decide::replicated_rc(state.in_recovery))
}

/// A crashed primary that no other node could replace restarts where it
/// is (`core::replication::recover_in_place`); then the monitor goes on
/// as for a running primary. `false`: the usual failure.
fn recovered_in_place(r: &Replica, view: &ClusterView) -> Result<bool> {
    /// A primary that crashes again within this time is left to
    /// Pacemaker's failure policy.
    const AGAIN_WITHIN: Duration = Duration::from_secs(600);
    let i = r.i;
    let plan = Plan::new(&r.rep, view);
    let recently = r.files.recovered_in_place_within(AGAIN_WITHIN);
    if let Err(why) = rep::recover_in_place(&plan, recently) {
        crate::info!("PostgreSQL crashed; no recovery in place: {why}.");
        return Ok(false);
    }
    crate::warn!(
        "PostgreSQL crashed on the primary and no other node can be promoted: \
         crash recovery in place."
    );
    r.files.note_recovered_in_place()?;
    lifecycle::stop_server(i, i.cfg.stop_escalate)?;
    lifecycle::start_server(i)?;
    Ok(true)
}

/// The histories the other nodes published ([`rep::primary_verdict`]):
/// read when another primary is possible, and otherwise when this
/// primary's own is due to be republished (once a minute), so that a
/// steady monitor runs no attrd tool.
fn others_histories(r: &Replica, plan: &Plan) -> BTreeMap<String, String> {
    let due = r.files.published_history(HISTORY_REPUBLISH).is_none();
    if !due && !rep::another_primary_possible(plan) {
        return BTreeMap::new();
    }
    let name = PrivateAttr::History.name(&r.rep.rsc);
    r.rep
        .others()
        .filter(|n| plan.view.exists(n))
        .filter_map(|n| Some((n.to_string(), r.crm.private(n, &name)?)))
        .collect()
}

/// In sync mode, say (once per change) which roles and databases make
/// PostgreSQL acknowledge commits before the sync standby flushed them.
fn warn_weak_commits(r: &Replica, s: &mut Session) {
    if !r.sync_mode() {
        return;
    }
    let found = match s.weak_commit_settings() {
        Ok(found) => found,
        Err(e) => {
            crate::debug!("can't read the synchronous_commit settings: {}", e.message);
            return;
        }
    };
    let noted = r.files.weak_commits_note();
    let Some((note, line)) = rep::weak_commit_warning(&found, noted.as_deref()) else {
        return;
    };
    if note.is_empty() {
        crate::info!("{line}");
    } else {
        crate::warn!("{line}");
    }
    if let Err(e) = r.files.set_weak_commits_note(&note) {
        crate::debug!("{e}");
    }
}

/// Whether this primary is the stale one of two (`rep::primary_verdict`),
/// from the histories the others published.
pub(super) fn primary_verdict_now(r: &Replica, plan: &Plan, state: &ServerState) -> PrimaryVerdict {
    let published = others_histories(r, plan);
    rep::primary_verdict(plan, state.insert_tli, &published)
}

/// How often a steady primary republishes its history (in case attrd lost
/// it: a restarted attrd keeps no private attribute).
const HISTORY_REPUBLISH: Duration = Duration::from_secs(60);

/// The primary publishes its timeline history (`<rsc>-history`, private)
/// when it differs from what it published before, so that a standby that
/// went past the fork can tell (`core::replication::diverge`). Best effort:
/// a standby that finds nothing gives no verdict.
pub(super) fn publish_history(r: &Replica, state: &ServerState) {
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
    // no attrd tool.
    if r.files.published_history(HISTORY_REPUBLISH).as_deref() == Some(history.as_str()) {
        return;
    }
    let name = PrivateAttr::History.name(&r.rep.rsc);
    if r.crm.private(&r.rep.me, &name).as_deref() != Some(history.as_str()) {
        crate::info!("My timeline history : {history}.");
        r.crm.set_private(&name, Some(&history));
    }
    r.files.set_published_history(&history);
}

/// With auto_rewind, a primary just promoted asks for an immediate
/// checkpoint, so that a former primary can be rewound from it
/// (`core::replication::checkpoint_for_rewinds`). Best effort, 10 s at most.
fn checkpoint_for_rewinds(r: &Replica, state: &ServerState) {
    if !r.i.cfg.auto_rewind {
        return;
    }
    let Ok(control) = lifecycle::control_file(r.i) else {
        return;
    };
    if !rep::checkpoint_for_rewinds(r.i.cfg.auto_rewind, control.timeline, state.insert_tli) {
        return;
    }
    crate::info!(
        "pg_control still names timeline {}: checkpoint, so that a former primary can be rewound from this one.",
        control.timeline
    );
    let done = r.session(Role::Admin).and_then(|mut s| {
        s.checkpoint(Duration::from_secs(10))
            .map_err(sql_err("CHECKPOINT failed"))
    });
    if let Err(e) = done {
        crate::warn!("{e}");
    }
}

/// The primary's pass over its standbys (`core::replication::sync`). When
/// the list changes, the scores it took away are in the CIB before the
/// list changes; the new sync standby gets its score in a later round,
/// once it has flushed what the primary had flushed after the change.
pub(super) fn control_standbys(
    r: &Replica,
    plan: &mut Plan,
    s: &mut Session,
    state: &ServerState,
) -> Result<()> {
    let mut current = SyncStandbys::parse(&state.sync_standbys).unwrap_or(SyncStandbys::Async);
    let mut ceiling = rep::recorded_ceiling(r.files.sync_ceiling().as_deref(), &current);
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
        r.apply(plan.take())?;
        if let Some(wanted) = pass.change {
            if !r.crm.confirm(&revoked, Score::CanNotPromote.wire()) {
                crate::warn!("the CIB does not show the scores taken away yet; synchronous_standby_names stays for now");
                return Ok(());
            }
            set_sync_standbys(r, &wanted)?;
            current = wanted;
            ceiling = settle_and_read_ceiling(r, s, &current)?;
            // Commits that waited for the lost standby are released when
            // the new one replies; an idle one replies only every
            // wal_receiver_status_interval (10 s): make it reply now.
            if let Err(e) = s.nudge_standbys() {
                crate::debug!("can't nudge the standbys: {}", e.message);
            }
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
pub(super) fn revoked_scores(plan: &Plan) -> Vec<String> {
    plan.writes
        .iter()
        .filter(|w| {
            w.attr == Attr::Score && w.value.as_deref() == Some(Score::CanNotPromote.wire())
        })
        .map(|w| w.node.clone())
        .collect()
}

pub(super) fn set_sync_standbys(r: &Replica, wanted: &SyncStandbys) -> Result<()> {
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

/// Wait (2 s at most) until PostgreSQL shows the named standby SYNC and
/// every other one async (else no ceiling: the list may not be in effect
/// yet), read the primary's
/// flush position (every commit acknowledged so far is at or
/// below it) and record it for the later monitors
/// (`core::replication::recorded_ceiling`), then wait (2 s at most) until
/// the standby has flushed that far. Returns the ceiling for the next
/// round.
pub(super) fn settle_and_read_ceiling(
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
    // In effect: the named standby SYNC, and every other one async (a
    // walsender still on the old list would show it potential or sync).
    let in_effect = bound().poll(Duration::from_millis(50), || {
        let rows = s.replication_rows().ok()?;
        let others_async = rows
            .iter()
            .filter(|row| !row.application_name.eq_ignore_ascii_case(named))
            .all(|row| row.sync == rep::SyncRole::Async);
        row_of(&rows)
            .filter(|row| row.sync == rep::SyncRole::Sync && others_async)
            .map(drop)
    });
    if in_effect.is_none() {
        // A ceiling read before the list took effect may miss commits the
        // standby named before acknowledged: the next monitor reads one.
        return Ok(None);
    }
    let ceiling = s
        .flushed()
        .map_err(sql_err("Can't read the primary's WAL position"))?;
    if let Some(c) = ceiling {
        // Lost, a later monitor reads a higher one: later, never unsafe.
        if let Err(e) = r.files.set_sync_ceiling(&rep::ceiling_record(current, c)) {
            crate::warn!("can't record the ceiling: {e}");
        }
        bound().poll(Duration::from_millis(20), || {
            let rows = s.replication_rows().ok()?;
            row_of(&rows)?.flush.filter(|f| *f >= c).map(drop)
        });
    }
    Ok(ceiling)
}

/// Once the former primary is the sync standby, the preference has done its
/// job: forget it, so that it does not take the role back after a loss.
pub(super) fn fulfil_preference(r: &Replica, rows: &[rep::ReplicationRow]) {
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

/// A standby's monitor: its pass (`core::replication::standby_pass`).
pub(super) fn standby_monitor(r: &Replica, plan: &mut Plan, state: &ServerState) -> Result<()> {
    let facts = standby_facts(r, plan, state);
    let pass = rep::standby_pass(plan, &facts);
    perform_standby(r, pass.steps)?;
    match pass.failure {
        Some(reason) => Err(AgentError::generic(reason)),
        None => Ok(()),
    }
}

/// What a standby's pass decides from, read once: PostgreSQL's state, the
/// timeline of its WAL, the lock, the election counter, and the history
/// the promoted node published when it is to be checked.
pub(super) fn standby_facts(r: &Replica, plan: &Plan, state: &ServerState) -> StandbyFacts {
    let wal_tli = wal_timeline(r);
    let history = PrivateAttr::History.name(&r.rep.rsc);
    StandbyFacts {
        location: Location::of_standby(state.location, state.timeline, wal_tli),
        streaming: state.streaming(),
        position_final: rep::position_final(&state.replay_facts()),
        received_tli: state.received_tli,
        replay: state.replay,
        lock: r.files.lock_state(),
        election: r.files.read_election(),
        wal_tli,
        primary_history: rep::history_to_check(plan, state.streaming())
            .and_then(|primary| r.crm.private(&primary, &history)),
    }
}

/// A standby pass's steps, in order.
pub(super) fn perform_standby(r: &Replica, steps: Vec<StandbyStep>) -> Result<()> {
    for step in steps {
        match step {
            StandbyStep::Election(ElectionFiles::Write(state)) => r.files.write_election(&state)?,
            StandbyStep::Election(ElectionFiles::Clear) => r.files.clear_election(),
            StandbyStep::Election(ElectionFiles::Keep) => {}
            StandbyStep::RemoveLock(why) => r.files.remove_lock(why)?,
            StandbyStep::Apply(batch) => r.apply(batch)?,
        }
    }
    Ok(())
}
