//! start and stop of a replicated instance, and the lock at start.

use super::*;

pub fn start(i: &Instance, env: &RawEnv) -> Result<OcfRc> {
    let r = Replica::new(i, env);
    let view = r.crm.cluster_view()?;
    let mut plan = Plan::new(&r.rep, &view);
    let me = r.rep.me.clone();
    plan.status(&me, Status::Stop);
    plan.delete(&me, Attr::MasterBaseline);
    if let Some(score) = rep::score_at_stop_or_start(&plan) {
        plan.own_score(score);
    }
    r.apply(&mut plan)?;

    r.files.ensure_tmpdir()?;
    r.files.clear_start_state();
    let mut lock = r.files.lock_state();
    let primary = view.promoted_elsewhere(&me);
    let data_status = plan.current_data_status(&me);
    let rejoin = rep::should_rejoin(i.cfg.auto_rewind, lock, data_status, primary.is_some());
    if let Some(primary) = primary.filter(|_| rejoin) {
        let diverged = data_status == Some(DataStatus::Diverged);
        lock = super::rejoin::rejoin(&r, primary, diverged)?;
    }
    let gate = rep::start_gate(lock, view.promoted_exists(), rep::last_primary(&plan));
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
            let why = match rep::primary_verdict(&plan, None, &BTreeMap::new()) {
                PrimaryVerdict::Stale(why) => why,
                _ => "PostgreSQL is already running as a primary; start brings up a standby only. \
                      Stop it (or let Pacemaker probe it) first"
                    .into(),
            };
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
pub(super) fn lock_refusal(r: &Replica, why: &str) -> AgentError {
    AgentError::generic(format!(
        "My data may be inconsistent. You have to remove {} file to force start.{why}",
        r.files.lock().display()
    ))
}

/// A cleanly demoted node started as a standby: wait (half the remaining
/// time at most) until PostgreSQL streams it from the new primary, which
/// proves it is not ahead, then remove the lock. Otherwise stop it again
/// and refuse, as the stock agent does.
pub(super) fn prove_not_ahead_or_stop(r: &Replica, lock: Lock) -> Result<()> {
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
pub(super) fn reconcile_slots(r: &Replica, present: bool) -> Result<()> {
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
        r.crm.attrd(&rep::receiver_status_attr(&r.rep.rsc), None);
    }
    if let Some(score) = rep::score_at_stop_or_start(&plan) {
        plan.own_score(score);
    }
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
        value: Some(Status::Unknown.wire().to_string()),
        log: None,
    };
    if let Err(e) = crm.apply(&write) {
        crate::warn!("can't set {}: {e}", Attr::Status.name(&ocf.resource_name));
    }
}
