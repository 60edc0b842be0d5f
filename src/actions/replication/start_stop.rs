//! start and stop of a replicated instance, and the lock at start.

use super::*;
use crate::ocf::trace;

/// start: the core's steps (`rep::start_begin`), the rejoin when
/// `auto_rewind` asks for it, then [`rep::StartProtocol`]'s phases with
/// what each one needs: the lock, a server already running,
/// `synchronous_standby_names` once started, the streaming proof.
pub fn start(i: &Instance, env: &RawEnv) -> Result<OcfRc> {
    let r = Replica::new(i, env);
    let view = r.crm.cluster_view()?;
    let mut plan = Plan::new(&r.rep, &view);
    perform_start(&r, rep::start_begin(&mut plan))?;
    let mut lock = r.files.lock_state();
    let unfinished = r.files.rewind_record() != rep::RewindRecord::None;
    if let Some(to) = rep::start_rejoin(&plan, lock, unfinished)? {
        lock = super::rejoin::rejoin(&r, &to.primary, to.diverged)?;
    }
    let lock_path = r.files.lock().display().to_string();
    // Unreadable: not known to have run as a standby.
    let ran_as_standby = lifecycle::control_file(i).is_ok_and(|c| c.ran_as_standby());
    let (start, steps) = StartProtocol::gate(&plan, lock, &lock_path, ran_as_standby)?;
    perform_start(&r, steps)?;
    let running = match postmaster::observe(&i.cfg.pgdata) {
        Postmaster::Alive { .. } => {
            Some(r.server_state(&mut r.session(Role::Monitor)?)?.in_recovery)
        }
        _ => None,
    };
    perform_start(&r, start.before_server(&mut plan, running)?)?;
    let state = r.server_state(&mut r.session(Role::Monitor)?)?;
    if let Some((proven, waited)) =
        perform_start(&r, start.after_server(&mut plan, &state.sync_standbys))?
    {
        perform_start(&r, start.after_proof(&mut plan, proven, waited))?;
    }
    Ok(OcfRc::Success)
}

/// Perform a start's steps in order. The streaming proof's wait ends the
/// list: whether it was proven, and how long it was waited for at most,
/// go back to the core.
fn perform_start(r: &Replica, steps: Vec<StartStep>) -> Result<Option<(bool, Duration)>> {
    for step in steps {
        trace::step(&step);
        match step {
            StartStep::Apply(batch) => r.apply(batch)?,
            StartStep::EnsureTmpdir => r.files.ensure_tmpdir()?,
            StartStep::ClearStartState => r.files.clear_start_state(),
            StartStep::WithdrawPosition => r.crm.set_position(None),
            StartStep::PrepareStandby { following } => r.prepare_standby(following.as_deref())?,
            StartStep::StartServer => lifecycle::start_server(r.i)?,
            StartStep::DropSlots => reconcile_slots(r, false)?,
            StartStep::AwaitProof(lock) => return Ok(Some(await_proof(r, lock))),
            StartStep::RemoveLock(why) => r.files.remove_lock(why)?,
            StartStep::StopServer => {
                lifecycle::stop_server(r.i, r.i.cfg.stop_escalate_in_slave)?;
            }
            StartStep::Fail(e) => return Err(e),
        }
    }
    Ok(None)
}

/// A cleanly demoted node started as a standby: wait (half the remaining
/// time at most) until PostgreSQL streams it from the new primary, which
/// proves it is not ahead ([`Lock::proven_not_ahead`]). Whether it did,
/// and how long it waited at most.
fn await_proof(r: &Replica, lock: Lock) -> (bool, Duration) {
    let wait = r.i.deadline.remaining() / 2;
    let proven = Deadline::after(wait).poll(Duration::from_millis(500), || {
        let state = r
            .session(Role::Monitor)
            .and_then(|mut s| r.server_state(&mut s))
            .ok()?;
        lock.proven_not_ahead(state.streaming(), state.received_tli, state.replay)
            .then_some(())
    });
    (proven.is_some(), wait)
}

/// The per-standby replication slots exist on a primary (`present`) and
/// not on a standby, whose start drops them as the stock agent does.
pub(super) fn reconcile_slots(r: &Replica, present: bool) -> Result<()> {
    let wanted = &r.rep.slot_names;
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

/// stop: the core's steps (`rep::stop_begin`, then `rep::after_stop` with
/// whether PostgreSQL ran, or `rep::stop_failed`).
pub fn stop(i: &Instance, env: &RawEnv) -> Result<OcfRc> {
    let r = Replica::new(i, env);
    let view = r.crm.cluster_view()?;
    let mut plan = Plan::new(&r.rep, &view);
    let mut stopped = None;
    for step in rep::stop_begin(&mut plan) {
        match perform_stop(&r, &step) {
            Ok(found) => stopped = stopped.or(found),
            Err(e) if step == StopStep::Stop => {
                r.apply(rep::stop_failed(&mut plan))?;
                return Err(e);
            }
            Err(e) => return Err(e),
        }
    }
    let ran = stopped.is_some_and(|s| s != Stopped::Already);
    for step in rep::after_stop(&mut plan, ran) {
        perform_stop(&r, &step)?;
    }
    Ok(OcfRc::Success)
}

/// One step of a stop; the stop says how PostgreSQL stopped.
fn perform_stop(r: &Replica, step: &StopStep) -> Result<Option<Stopped>> {
    trace::step(&step);
    match step {
        StopStep::ClearReceiverStatus => r.crm.set_receiver_status(None),
        StopStep::WithdrawPosition => r.crm.set_position(None),
        StopStep::Apply(batch) => r.apply(batch.clone())?,
        StopStep::Stop => {
            return lifecycle::stop_server(r.i, r.i.cfg.stop_escalate_in_slave).map(Some)
        }
        StopStep::RepModeConf(list) => r.files.write_rep_mode_conf(&list.value())?,
    }
    Ok(None)
}

/// A stop whose validation failed: in a replication mode the stock agent
/// still marks the node `UNKNOWN`, so the primary stops trusting it.
pub fn mark_unknown(env: &RawEnv) {
    let rep_mode = crate::config::Config::raw_param(env, "rep_mode");
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
        value: Some(rep::AttrValue::Status(Status::Unknown)),
        log: None,
    };
    if let Err(e) = crm.apply(&write) {
        crate::warn!("can't set {}: {e}", Attr::Status.name(&ocf.resource_name));
    }
}
