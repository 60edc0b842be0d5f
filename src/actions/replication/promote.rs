//! promote (facts, the core's decision, its protocol's steps) and demote.

use super::*;
use crate::ocf::trace;

pub fn promote(i: &Instance, env: &RawEnv) -> Result<OcfRc> {
    let r = Replica::new(i, env);
    let view = r.crm.cluster_view()?;
    let facts = promote_facts(&r, &view)?;
    let mut plan = Plan::new(&r.rep, &view);
    match rep::decide_promotion(&mut plan, &facts) {
        PromoteDecision::AlreadyPrimary => {
            crate::info!("PostgreSQL is already Master. Don't execute promote.");
            Ok(OcfRc::Success)
        }
        PromoteDecision::Refuse { writes, reason } => {
            writes.iter().try_for_each(|w| r.crm.apply(w))?;
            Err(reason)
        }
        PromoteDecision::Go(protocol) => {
            for (k, step) in protocol.steps.iter().enumerate() {
                if let Err(e) = perform(&r, step) {
                    for undo in protocol.on_failure(k) {
                        if let Err(w) = perform(&r, undo) {
                            crate::warn!("after the failed promotion, the rest is left: {w}");
                            break;
                        }
                    }
                    return Err(e);
                }
            }
            Ok(OcfRc::Success)
        }
    }
}

/// What promote decides from, read once: PostgreSQL's state, this node's
/// position once settled (a quarter of the time left, 10 s at most), and
/// what the other candidates published in the pre-promote notification
/// (the same bound).
fn promote_facts(r: &Replica, view: &crate::core::crm_mon::ClusterView) -> Result<PromoteFacts> {
    let mut s = r.session(Role::Monitor)?;
    let state = r.server_state(&mut s)?;
    let bound = (r.i.deadline.remaining() / 4).min(Duration::from_secs(10));
    let settled = if state.in_recovery {
        settled_position(r, &mut s, bound)
    } else {
        None
    };
    let peers = match &settled {
        Some(_) => published_positions(r, view, bound),
        None => Vec::new(),
    };
    Ok(PromoteFacts {
        in_recovery: state.in_recovery,
        baseline: settled.as_ref().and_then(|(st, _)| st.location),
        mine: settled.map(|(_, l)| l),
        peers,
        had_lock: r.files.lock_exists(),
        now: crate::io::clock::unix_millis() / 1000,
    })
}

/// The positions the other candidates published for this promotion
/// ([`rep::promotion_peers`]), read again every 200 ms until each has one
/// or `bound` runs out.
pub(super) fn published_positions(
    r: &Replica,
    view: &crate::core::crm_mon::ClusterView,
    bound: Duration,
) -> Vec<(String, Option<Location>)> {
    let peers = rep::promotion_peers(&r.rep, view);
    let mut published: Vec<(String, Option<Location>)> = Vec::new();
    Deadline::after(bound).poll(Duration::from_millis(200), || {
        published = peers
            .iter()
            .map(|n| (n.to_string(), r.crm.position(n)))
            .collect();
        rep::every_position_published(&published).then_some(())
    });
    published
}

/// One step of the promotion protocol.
fn perform(r: &Replica, step: &PromoteStep) -> Result<()> {
    trace::step(&step);
    match step {
        PromoteStep::Records(writes) => r.crm.apply_at_once(writes),
        PromoteStep::WriteBack(writes) => writes.iter().try_for_each(|w| r.crm.apply(w)),
        PromoteStep::ClearElection => {
            r.files.clear_election();
            r.files.end_deferral();
            Ok(())
        }
        PromoteStep::CreateLock => r.files.create_lock(),
        PromoteStep::RemoveLock => r
            .files
            .remove_lock("the promotion failed before it was requested"),
        PromoteStep::SetList(list) => {
            r.files.write_rep_mode_conf(&list.value())?;
            r.files.write_standby_config(
                &r.standby_settings(None),
                Some(&list.value()),
                r.model(),
            )?;
            r.session(Role::Monitor)?
                .reload()
                .map_err(sql_err("Can't reload the configuration"))
        }
        PromoteStep::Request => {
            request_promotion(r)?;
            crate::info!("PostgreSQL is promoted.");
            Ok(())
        }
        PromoteStep::PublishHistory => {
            let state = r.server_state(&mut r.session(Role::Monitor)?)?;
            if state.in_recovery {
                return Err(AgentError::generic(
                    "Can't start PostgreSQL as primary on promote.",
                ));
            }
            publish_history(r, &state);
            Ok(())
        }
        PromoteStep::NotePromotion(note) => {
            if let Err(e) = r.files.set_promotion_note(note) {
                crate::warn!("can't keep the note of this promotion (rustpgctl history): {e}");
            }
            Ok(())
        }
        PromoteStep::CreateSlots => reconcile_slots(r, true),
    }
}

/// Ask PostgreSQL to leave recovery, and wait until it has: the step that
/// cannot be undone.
fn request_promotion(r: &Replica) -> Result<()> {
    let deadline = r.i.deadline.minus(Duration::from_secs(1));
    let mut admin = r.session(Role::Admin)?;
    // A paused replay would hold the promotion back before PostgreSQL 13
    // (and the node was chosen for what it received, which it must replay).
    if admin
        .resume_replay()
        .map_err(sql_err("Can't resume the paused replay"))?
    {
        crate::warn!("replay was paused: resumed, so that the promotion can finish");
    }
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

/// Demote: stop the primary cleanly; when the shutdown checkpoint was
/// written, start again as a standby of the new primary (PGSQL.lock stays
/// until streaming proves this node is not ahead). Otherwise leave it
/// stopped behind PGSQL.lock, as the stock agent does. The steps are the
/// core's (`rep::demote_begin`, then `rep::after_demote_stop` with what
/// the stop found).
pub fn demote(i: &Instance, env: &RawEnv) -> Result<OcfRc> {
    let r = Replica::new(i, env);
    let view = r.crm.cluster_view()?;
    let mut plan = Plan::new(&r.rep, &view);
    let mut stopped = None;
    for step in rep::demote_begin(&mut plan) {
        match perform_demote(&r, &step) {
            Ok(found) => stopped = stopped.or(found),
            Err(e) if matches!(step, DemoteStep::Stop { .. }) => {
                r.apply(rep::stop_failed(&mut plan))?;
                return Err(e);
            }
            Err(e) => return Err(e),
        }
    }
    let stopped = stopped.unwrap_or(Stopped::Already);
    let shutdown = if stopped == Stopped::Already {
        crate::info!("PostgreSQL is already stopped on demote.");
        None
    } else {
        let control = lifecycle::control_file(i)?;
        Some((control, stopped))
    };
    let facts = DemoteStopFacts {
        shutdown: shutdown.as_ref().map(|(control, how)| DemoteShutdown {
            immediate: *how == Stopped::Immediate,
            clean: control.cleanly_shut_down(),
            checkpoint: control.checkpoint,
            tli: control.timeline,
            lock_exists: r.files.lock_exists(),
        }),
        no_standby_left: Notify::from_env(env).is_some_and(|n| n.no_unpromoted_left()),
        cluster_state: shutdown
            .as_ref()
            .map_or(String::new(), |(c, _)| c.state.words().to_string()),
        lock_path: r.files.lock().display().to_string(),
    };
    for step in rep::after_demote_stop(&mut plan, &facts) {
        perform_demote(&r, &step)?;
    }
    Ok(OcfRc::Success)
}

/// One step of a demote; the stop says how PostgreSQL stopped.
fn perform_demote(r: &Replica, step: &DemoteStep) -> Result<Option<Stopped>> {
    trace::step(&step);
    match step {
        DemoteStep::Records(writes) => r.crm.apply_at_once(writes)?,
        DemoteStep::Stop { fast_secs } => {
            let escalate = fast_secs.unwrap_or(r.i.cfg.stop_escalate);
            return lifecycle::stop_server(r.i, escalate).map(Some);
        }
        DemoteStep::RemoveLock => r.files.remove_lock("no standby is left")?,
        DemoteStep::MarkCleanDemote(text) => r.files.mark_clean_demote(text)?,
        DemoteStep::StartAsStandby { checkpoint } => {
            crate::info!(
                "Clean shutdown at {checkpoint}; restarting as a standby of {}.",
                r.i.cfg.master_ip.as_deref().unwrap_or("")
            );
            r.prepare_standby(None)?;
            lifecycle::start_server(r.i)?;
        }
        DemoteStep::Done { exit_reason } => {
            if let Some(why) = exit_reason {
                crate::ocf::log::exit_reason_explained(why.reason(), why.detail());
            }
        }
    }
    Ok(None)
}
