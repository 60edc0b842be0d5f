//! monitor: what the server is (a primary, a standby, a crash), the facts
//! read once, the core's decision (`core::replication::monitor`) and its
//! steps: the primary's pass, a standby's monitor, a crashed primary's
//! recovery in place.

use super::*;
use crate::core::crm_mon::ClusterView;
use crate::core::lsn::Lsn;
use crate::core::replication::quorum::QuorumRecord;
use crate::ocf::trace;

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

/// A dead postmaster (`rep::after_crash`): recovered in place, and then
/// monitored as a running server; else the crash is reported.
fn after_crash(r: &Replica) -> Result<OcfRc> {
    // The view read for a crash is the view of the rest of this monitor.
    // A postmaster that died mid-monitor costs a second read, on purpose:
    // the decision needs the cluster as it is after the crash.
    let view = r.crm.cluster_view()?;
    let mut plan = Plan::new(&r.rep, &view);
    let decision = rep::after_crash(&mut plan, &r.i.major, r.files.recovered_in_place_ago());
    let report = |line| -> Result<OcfRc> {
        r.apply(line)?;
        decide::monitor_standalone(postmaster::observe(&r.i.cfg.pgdata), None).into()
    };
    match decision {
        AfterCrash::Report(line) => report(line),
        AfterCrash::RecoverInPlace(steps) => {
            for step in steps {
                match step {
                    CrashStep::Apply(batch) => r.apply(batch)?,
                    CrashStep::AwaitRevocations { nodes, not_shown } => {
                        if !revocations_shown(r, &nodes) {
                            return report(not_shown);
                        }
                    }
                    CrashStep::AwaitTakenBack { revoked, not_shown } => {
                        if !taken_back_shown(r, &revoked) {
                            return report(not_shown);
                        }
                    }
                    CrashStep::ForgetCeiling => r.files.forget_sync_ceiling()?,
                    CrashStep::NoteRecoveredInPlace => r.files.note_recovered_in_place()?,
                    CrashStep::StopServer => {
                        lifecycle::stop_server(r.i, r.i.cfg.stop_escalate)?;
                    }
                    CrashStep::StartServer => lifecycle::start_server(r.i)?,
                }
            }
            // The rest of the monitor sees what this recovery wrote.
            monitor_running(r, Some(plan.view_with_writes()))
        }
    }
}

/// A running postmaster: the SQL probe (`decide::monitor_standalone` when
/// it fails), the view (`seen`: the one a crash recovery read), the facts
/// of a primary or a standby, the core's decision, its steps.
fn monitor_running(r: &Replica, seen: Option<ClusterView>) -> Result<OcfRc> {
    let i = r.i;
    let pm = postmaster::observe(&i.cfg.pgdata);
    if !decide::needs_sql(pm) {
        return decide::monitor_standalone(pm, None).into();
    }
    let (mut s, state) = match r.monitor_session().and_then(|mut s| {
        // The exit reason says "monitor_sql failed" (decide::monitor_standalone).
        s.probe(&i.cfg.monitor_sql)
            .map_err(|e| AgentError::generic(e.message))?;
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
    let probe = i.ocf.is_probe();
    if probe {
        // A probe follows a (re)join, and a restarted attrd keeps no
        // private attribute: compare with attrd, not with the note.
        r.files.forget_published_history();
    }
    let outcome = if state.in_recovery {
        let facts = standby_facts(r, &plan, &state);
        rep::monitor_standby(&mut plan, probe, &facts)
    } else {
        let facts = running_primary(r, &mut s, &plan, &state);
        rep::monitor_primary(&mut plan, probe, &facts)
    };
    for step in outcome.steps {
        perform_monitor(r, &mut plan, &mut s, &state, step)?;
    }
    outcome.answer
}

/// One step of a monitor.
fn perform_monitor(
    r: &Replica,
    plan: &mut Plan,
    s: &mut Session,
    state: &ServerState,
    step: MonitorStep,
) -> Result<()> {
    trace::step(&step);
    match step {
        MonitorStep::Apply(batch) => r.apply(batch)?,
        MonitorStep::ReceiverStatus(v) => r.crm.set_receiver_status(Some(v)),
        MonitorStep::PublishHistory => publish_history(r, state),
        MonitorStep::CheckpointForRewinds => checkpoint_for_rewinds(r, state),
        MonitorStep::ControlStandbys(rounds) => control_standbys(r, plan, s, rounds)?,
        MonitorStep::Follow(upstream) => r.follow(&upstream),
        MonitorStep::WarnWeakCommits => warn_weak_commits(r, s),
        MonitorStep::Standby(step) => perform_standby(r, step)?,
        // Housekeeping: a failure is logged and tried again at the next
        // monitor; it never fails a running primary's monitor.
        MonitorStep::BoundSlotWal(bound) => {
            crate::info!(
                "max_slot_wal_keep_size = {bound}: the replication slots keep no more WAL."
            );
            if let Err(e) = r.session(Role::Admin).and_then(|mut admin| {
                admin
                    .bound_slot_wal(&bound)
                    .map_err(sql_err("Can't set max_slot_wal_keep_size"))
            }) {
                crate::warn!("{e}");
            }
        }
        MonitorStep::RepairSlots(repair) => {
            if let Err(e) = repair_slots(r, &repair) {
                crate::warn!("{e}");
            }
        }
        // A record for people: tried once (the monitor's time is the
        // pass's), again at the next monitor if it failed; it fails nothing.
        MonitorStep::RecordPromotion(write) => match r.crm.apply_once(&write) {
            Ok(()) => r.files.forget_promotion_note(),
            Err(e) => crate::warn!("can't record this node's promotion yet: {e}"),
        },
    }
    Ok(())
}

/// What a running primary's monitor (or notification) decides from, read
/// once: its timeline, the histories the others published when they can
/// matter (`rep::histories_needed`), `synchronous_standby_names` in effect
/// and in postgresql.auto.conf, and the ceiling recorded for it.
pub(super) fn running_primary(
    r: &Replica,
    s: &mut Session,
    plan: &Plan,
    state: &ServerState,
) -> RunningPrimary {
    let published_lately = r.files.published_history(rep::HISTORY_REPUBLISH).is_some();
    let histories = if rep::histories_needed(plan, published_lately) {
        r.rep
            .others()
            .filter(|n| plan.view.exists(n))
            .filter_map(|n| Some((n.to_string(), r.crm.history(n)?)))
            .collect()
    } else {
        BTreeMap::new()
    };
    RunningPrimary {
        insert_tli: state.insert_tli,
        histories,
        sync_standbys: state.sync_standbys.clone(),
        ceiling_record: r.files.sync_ceiling(),
        postmaster_start: state.postmaster_start.clone(),
        sync_flag_note: r.files.sync_flag(),
        sync_standbys_in_file: r.files.auto_conf_setting("synchronous_standby_names"),
        promotion_note: r.files.promotion_note(),
        slot_wal_keep: r
            .rep
            .slot_wal_keep_mb
            .and_then(|_| s.setting("max_slot_wal_keep_size").ok()),
        slots: if r.rep.slot_names.is_empty() {
            None
        } else {
            s.slot_report().ok()
        },
    }
}

/// Slots that lost WAL are dropped, then every slot of ours that is not
/// there is created, as promote creates them (`rep::slot_repair`).
fn repair_slots(r: &Replica, repair: &rep::SlotRepair) -> Result<()> {
    if !repair.lost.is_empty() {
        let mut admin = r.session(Role::Admin)?;
        for slot in &repair.lost {
            crate::warn!(
                "replication slot {slot} lost WAL its standby needs (max_slot_wal_keep_size): \
                 created anew; that standby must be rewound or resynchronised before it streams \
                 again"
            );
            admin
                .drop_slot(slot)
                .map_err(sql_err("Can't drop the lost replication slot"))?;
        }
    }
    reconcile_slots(r, true)
}

/// Say (once per change) which roles and databases make PostgreSQL
/// acknowledge commits before the sync standby flushed them
/// (`rep::weak_commit_warning`).
fn warn_weak_commits(r: &Replica, s: &mut Session) {
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
    if r.files.published_history(rep::HISTORY_REPUBLISH).as_deref() == Some(history.as_str()) {
        return;
    }
    if r.crm.history(&r.rep.me).as_deref() != Some(history.as_str()) {
        crate::info!("My timeline history : {history}.");
        r.crm.set_history(&history);
    }
    r.files.set_published_history(&history);
}

/// With auto_rewind, a primary just promoted asks for an immediate
/// checkpoint, so that a former primary can be rewound from it
/// (`core::replication::checkpoint_for_rewinds`). Best effort, 10 s at most.
fn checkpoint_for_rewinds(r: &Replica, state: &ServerState) {
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

/// The primary's pass over its standbys: [`StandbyRounds`]' steps, and
/// the reads and bounded waits they ask for, fed back to them.
pub(super) fn control_standbys(
    r: &Replica,
    plan: &mut Plan,
    s: &mut Session,
    mut rounds: StandbyRounds,
) -> Result<()> {
    let mut next = rounds.begin();
    loop {
        for step in next.steps {
            perform_round(r, s, step)?;
        }
        next = match next.wait {
            RoundWait::Rows => {
                let rows = s
                    .replication_rows()
                    .map_err(sql_err("Can't get PostgreSQL replication status"))?;
                rounds.on_rows(plan, &rows)
            }
            RoundWait::Barrier(nodes) => rounds.on_barrier(revocations_shown(r, &nodes)),
            RoundWait::InEffect(list) => {
                let in_effect = ceiling_wait(r).poll(Duration::from_millis(50), || {
                    let rows = s.replication_rows().ok()?;
                    rep::list_in_effect(&rows, &list).then_some(())
                });
                rounds.on_in_effect(in_effect.is_some())
            }
            RoundWait::SyncFlag => {
                let start = s
                    .postmaster_start()
                    .map_err(sql_err("Can't read the postmaster's start time"))?;
                let redo = s
                    .checkpoint_redo()
                    .map_err(sql_err("Can't read the last checkpoint"))?;
                rounds.on_sync_flag(&start, r.files.sync_flag().as_deref(), redo)
            }
            RoundWait::Checkpoint => {
                let (mark, done) = checkpoint_after_the_list(r);
                rounds.on_checkpointed(mark, done)
            }
            RoundWait::Flushed => rounds.on_flushed(
                s.flushed()
                    .map_err(sql_err("Can't read the primary's WAL position"))?,
            ),
            RoundWait::StandbyAt { standby, ceiling } => {
                ceiling_wait(r).poll(Duration::from_millis(20), || {
                    let rows = s.replication_rows().ok()?;
                    rep::reached_ceiling(&rows, &standby, ceiling).then_some(())
                });
                rounds.on_standby_waited()
            }
            RoundWait::RecordShown(record) => rounds.on_record_shown(record_shown(r, &record)),
            RoundWait::RestartWalsenders => {
                rounds.on_walsenders_restarted(restart_walsenders(r, s))
            }
            RoundWait::Done => return Ok(()),
        }
    }
}

/// Quorum mode: whether the CIB shows `record` on this node (nothing, for
/// no record), within the barrier's bound ([`revocations_shown`]).
fn record_shown(r: &Replica, record: &QuorumRecord) -> bool {
    let wanted = (!record.voters.is_empty()).then(|| record.wire());
    barrier_bound(r)
        .poll(Duration::from_millis(100), || {
            let shown = r.crm.query(&r.rep.me, Attr::AckedOnAny).ok()?;
            (shown == wanted).then_some(())
        })
        .is_some()
}

/// Quorum mode, k raised: every walsender ended and gone
/// ([`RoundWait::RestartWalsenders`]), within the ceiling's bound.
fn restart_walsenders(r: &Replica, s: &mut Session) -> bool {
    let pids = match s.end_walsenders() {
        Ok(pids) => pids,
        Err(e) => {
            crate::warn!("can't end the walsenders: {}", e.message);
            return false;
        }
    };
    ceiling_wait(r)
        .poll(Duration::from_millis(20), || {
            (s.walsenders_left(&pids).ok()? == 0).then_some(())
        })
        .is_some()
}

/// One step of the primary's rounds.
fn perform_round(r: &Replica, s: &mut Session, step: RoundStep) -> Result<()> {
    trace::step(&step);
    match step {
        RoundStep::RecordSyncFlag(note) => {
            if let Err(e) = r.files.set_sync_flag(&note) {
                crate::warn!("can't record the sync flag: {e}");
            }
        }
        RoundStep::Apply(batch) => r.apply(batch)?,
        RoundStep::ForgetFormerPrimary => r.files.clear_former_primary(),
        RoundStep::SetList(list) => set_sync_standbys(r, &list)?,
        RoundStep::RecordCeiling(record) => {
            if let Err(e) = r.files.set_sync_ceiling(&record) {
                crate::warn!("can't record the ceiling: {e}");
            }
        }
        RoundStep::NudgeStandbys => {
            if let Err(e) = s.nudge_standbys() {
                crate::debug!("can't nudge the standbys: {}", e.message);
            }
        }
    }
    Ok(())
}

/// The barrier: whether the CIB shows every one of `nodes`' score taken
/// away ([`rep::revocation_shown`]). While Corosync forms a new membership
/// (a node died) the CIB takes no writes; that can take several seconds,
/// so this waits up to 15 s (half the time left at most): the scheduler
/// cannot act meanwhile either.
pub(super) fn revocations_shown(r: &Replica, nodes: &[String]) -> bool {
    let bound = barrier_bound(r);
    nodes.iter().all(|n| {
        bound
            .poll(Duration::from_millis(100), || {
                let shown = r.crm.query(n, Attr::Score).ok()?;
                rep::revocation_shown(shown.as_deref()).then_some(())
            })
            .is_some()
    })
}

/// Whether a view read now shows the take-back before a recovery in place
/// with quorum (`rep::claims_taken_back`), within the barrier's bound.
fn taken_back_shown(r: &Replica, revoked: &[String]) -> bool {
    barrier_bound(r)
        .poll(Duration::from_millis(200), || {
            let fresh = r.crm.cluster_view().ok()?;
            rep::claims_taken_back(&r.rep, &fresh, revoked).then_some(())
        })
        .is_some()
}

/// 15 s, half the time left at most.
fn barrier_bound(r: &Replica) -> Deadline {
    Deadline::after(Duration::from_secs(15).min(r.i.deadline.remaining() / 2))
}

/// The checkpoint before a ceiling is read ([`RoundWait::Checkpoint`]),
/// on a connection opened now: the postmaster has signalled the reload to
/// every process before it accepts one, so the checkpoint this asks for
/// starts after the checkpointer took it (on an older session, or through
/// a pooler, that would not hold). A WAL record first: where it ends marks
/// the checkpoints that started after. 10 s at most, and never more than
/// half the time left (cancelled, the checkpoint goes on in the
/// checkpointer, and a later monitor finds it completed).
fn checkpoint_after_the_list(r: &Replica) -> (Option<Lsn>, bool) {
    let bound = Duration::from_secs(10).min(r.i.deadline.remaining() / 2);
    let mut session = match r.session(Role::Admin) {
        Ok(s) => s,
        Err(e) => {
            crate::warn!("{e}");
            return (None, false);
        }
    };
    let mark = match session.wal_mark("synchronous_standby_names in effect") {
        Ok(mark) => mark,
        Err(e) => {
            crate::warn!(
                "can't write a WAL record before the checkpoint: {}",
                e.message
            );
            return (None, false);
        }
    };
    match session
        .checkpoint(bound)
        .map_err(sql_err("CHECKPOINT failed"))
    {
        Ok(()) => (mark, true),
        Err(e) => {
            crate::warn!("{e}");
            (mark, false)
        }
    }
}

/// Each wait around the ceiling: 2 s at most, and never the last second.
fn ceiling_wait(r: &Replica) -> Deadline {
    Deadline::after(
        Duration::from_secs(2).min(r.i.deadline.minus(Duration::from_secs(1)).remaining()),
    )
}

pub(super) fn set_sync_standbys(r: &Replica, wanted: &SyncStandbys) -> Result<()> {
    let value = wanted.value();
    match wanted {
        SyncStandbys::Async => crate::info!("Setup all standbys into async mode."),
        listed => crate::info!("Setup {} into sync mode.", listed.listed().join(", ")),
    }
    r.files.write_rep_mode_conf(&value)?;
    r.session(Role::Admin)?
        .set_sync_standbys(&value)
        .map_err(sql_err("Can't set synchronous_standby_names"))
}

/// What a standby's pass decides from, read once: PostgreSQL's state, the
/// timeline of its WAL, the lock, the election counter, and the history
/// the promoted node published when it is to be checked.
pub(super) fn standby_facts(r: &Replica, plan: &Plan, state: &ServerState) -> StandbyFacts {
    let wal_tli = wal_timeline(r);
    let deferred_for = r.files.deferred_for();
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
            .and_then(|primary| r.crm.history(&primary)),
        deferred_for,
        dc_idle: rep::asks_the_dc(plan, deferred_for)
            .then(|| r.crm.dc_idle(plan.view))
            .flatten(),
        written_host: r.files.written_primary_host(),
    }
}

/// One step of a standby's pass.
pub(super) fn perform_standby(r: &Replica, step: StandbyStep) -> Result<()> {
    trace::step(&step);
    match step {
        StandbyStep::Election(ElectionFiles::Write(state)) => r.files.write_election(&state)?,
        StandbyStep::Election(ElectionFiles::Clear) => r.files.clear_election(),
        StandbyStep::Election(ElectionFiles::Keep) => {}
        StandbyStep::Deferral(DeferralNote::Begin) => r.files.begin_deferral()?,
        StandbyStep::Deferral(DeferralNote::Clear) => r.files.end_deferral(),
        StandbyStep::RemoveLock(why) => r.files.remove_lock(why)?,
        StandbyStep::Apply(batch) => r.apply(batch)?,
    }
    Ok(())
}
