//! promote (with the check at promotion) and demote.

use super::*;

pub fn promote(i: &Instance, env: &RawEnv) -> Result<OcfRc> {
    let r = Replica::new(i, env);
    let mut s = r.session(Role::Monitor)?;
    let state = r.server_state(&mut s)?;
    if !state.in_recovery {
        crate::info!("PostgreSQL is already Master. Don't execute promote.");
        return Ok(OcfRc::Success);
    }
    // The check compares this node's position with the others': it must
    // not be one that is still moving.
    let bound = (r.i.deadline.remaining() / 4).min(Duration::from_secs(10));
    let Some((state, _)) = settled_position(&r, &mut s, bound) else {
        return Err(AgentError::generic(format!(
            "promotion refused on {}: its WAL position still moves (PostgreSQL replays its local WAL)",
            r.rep.me
        )));
    };
    let view = r.crm.cluster_view()?;
    let mut plan = Plan::new(&r.rep, &view);
    let me = r.rep.me.clone();
    rep::promotion_allowed(&plan)
        .map_err(|why| AgentError::generic(format!("promotion refused on {me}: {why}")))?;
    check_promotion(&r, &mut plan, &state)?;
    r.files.clear_election();
    let records = rep::before_promotion(&mut plan);
    let list = rep::promotion_list(&r.rep, &view);
    let had_lock = r.files.lock_exists();
    let prepared = r.apply(&mut plan).and_then(|()| {
        r.files.create_lock()?;
        if let Some(lsn) = state.location {
            crate::info!("My master baseline : {}.", lsn.to_hex16());
            plan.set(&me, Attr::MasterBaseline, &lsn.to_hex16());
            r.apply(&mut plan)?;
        }
        // Commits wait for a standby from the first one on.
        if r.sync_mode() {
            r.files.write_rep_mode_conf(&list.value())?;
            r.files
                .write_standby_config(&r.standby_settings(), Some(&list.value()), r.model())?;
            s.reload()
                .map_err(sql_err("Can't reload the configuration"))?;
        }
        Ok(())
    });
    if let Err(e) = prepared {
        undo_records(&r, &records);
        if !had_lock {
            // Ours, from this attempt: PostgreSQL never left recovery.
            r.files
                .remove_lock("the promotion failed before it was requested")?;
        }
        return Err(e);
    }
    if let Err(e) = request_promotion(&r) {
        rep::after_failed_request(&mut plan);
        if let Err(w) = r.apply(&mut plan) {
            crate::warn!("can't record this node as the last primary: {w}");
        }
        return Err(e);
    }
    crate::info!("PostgreSQL is promoted.");
    let mut s = r.session(Role::Monitor)?;
    let state = r.server_state(&mut s)?;
    if state.in_recovery {
        return Err(AgentError::generic(
            "Can't start PostgreSQL as primary on promote.",
        ));
    }
    publish_history(&r, &state);
    reconcile_slots(&r, true)?;
    rep::after_promotion(&mut plan);
    r.apply(&mut plan)?;
    Ok(OcfRc::Success)
}

/// Ask PostgreSQL to leave recovery, and wait until it has: the step that
/// cannot be undone.
fn request_promotion(r: &Replica) -> Result<()> {
    let deadline = r.i.deadline.minus(Duration::from_secs(1));
    let mut admin = r.session(Role::Admin)?;
    let promoted = match r.model() {
        RecoveryModel::StandbySignal => admin.promote(deadline),
        RecoveryModel::RecoveryConf => {
            lifecycle::pg_ctl_promote(r.i, deadline)?;
            admin.left_recovery(deadline)
        }
    }
    .map_err(sql_err("Can't promote PostgreSQL"))?;
    if promoted {
        Ok(())
    } else {
        Err(AgentError::generic(
            "Can't promote PostgreSQL: it did not leave recovery in time",
        ))
    }
}

/// A promotion that failed before it was requested: the records go back
/// to what they were (best effort; each failure is logged).
fn undo_records(r: &Replica, records: &rep::PromotionRecords) {
    for w in &records.undo {
        if let Err(e) = r.crm.apply(w) {
            crate::warn!(
                "can't restore {} on {}: {e}",
                w.attr.name(&r.rep.rsc),
                w.node
            );
        }
    }
}

/// The check at promotion: every other standby published its position in
/// the pre-promote notification; wait for them (a quarter of the time
/// left, 10 s at most), then refuse if one is ahead (handing it the
/// promotion) or silent.
pub(super) fn check_promotion(r: &Replica, plan: &mut Plan, state: &ServerState) -> Result<()> {
    let bound = (r.i.deadline.remaining() / 4).min(Duration::from_secs(10));
    let me = &r.rep.me;
    match promotion_verdict(r, plan, state, bound)? {
        PromotionCheck::Go => Ok(()),
        PromotionCheck::HandOver { to, reason } => {
            hand_over(r, plan, &to)?;
            Err(AgentError::generic(format!(
                "promotion refused on {me}: {reason}"
            )))
        }
        PromotionCheck::Refuse(reason) => Err(AgentError::generic(format!(
            "promotion refused on {me}: {reason}"
        ))),
    }
}

/// The core's verdict on promoting this node, once every other candidate
/// published its position (or `bound` ran out).
pub(super) fn promotion_verdict(
    r: &Replica,
    plan: &Plan,
    state: &ServerState,
    bound: Duration,
) -> Result<PromotionCheck> {
    let Some(mine) = standby_location(r, state) else {
        return Err(AgentError::generic(
            "Can't promote: this node's WAL position can't be read",
        ));
    };
    let peers = rep::promotion_peers(&r.rep, plan.view);
    let read = |n: &str| r.crm.private(n, &rep::position_attr(&r.rep.rsc));
    let mut published: Vec<(String, Option<Location>)> = Vec::new();
    Deadline::after(bound).poll(Duration::from_millis(200), || {
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
    Ok(rep::promotion_check(mine, &published))
}

/// This node gives up the promotion to `to`, which is ahead of it.
pub(super) fn hand_over(r: &Replica, plan: &mut Plan, to: &str) -> Result<()> {
    plan.own_score(Score::CanNotPromote);
    plan.set(to, Attr::Score, Score::PromoteMe.wire());
    r.apply(plan)
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
    let control = lifecycle::control_file(i)?;
    let shutdown = DemoteShutdown {
        immediate: stopped == Stopped::Immediate,
        clean: control.cleanly_shut_down(),
        checkpoint: control.checkpoint,
        tli: control.timeline,
        lock_exists: r.files.lock_exists(),
    };
    match rep::after_demote(shutdown) {
        AfterDemote::StayStopped => {
            r.apply(&mut plan)?;
            crate::ocf::log::exit_reason(&format!(
                "demoted without a shutdown checkpoint (cluster state: {}); PostgreSQL stays stopped \
                 behind {}: resynchronise this node, then remove the lock",
                control.state.words(),
                r.files.lock().display()
            ));
            Ok(OcfRc::Success)
        }
        AfterDemote::RestartAsStandby { record } => {
            crate::info!(
                "Clean shutdown at {}; restarting as a standby of {}.",
                control.checkpoint,
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
