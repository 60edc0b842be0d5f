//! notify: what each notification asks of this node.

use super::*;

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
            r.crm
                .set_private(&PrivateAttr::Position.name(&r.rep.rsc), None);
            let view = r.crm.cluster_view()?;
            let mut plan = Plan::new(&r.rep, &view);
            plan.delete(&me, Attr::XlogLoc);
            plan.delete(&me, Attr::XlogTli);
            if !keep_baseline {
                plan.delete(&me, Attr::MasterBaseline);
                r.files.clear_former_primary();
            }
            r.apply(plan.take()).map(|()| OcfRc::Success)
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
            // The monitor's verdict first: a stale primary writes nothing
            // about the others, here either (it fails at its monitor).
            if let PrimaryVerdict::Stale(why) = primary_verdict_now(&r, &plan, &state) {
                crate::warn!("{why}");
                plan.own_score(Score::CanNotPromote);
                r.apply(plan.take())?;
                return Ok(OcfRc::Success);
            }
            control_standbys(&r, &mut plan, &mut s, &state)?;
            Ok(OcfRc::Success)
        }
    }
}

/// Every standby publishes its position for `promote`'s check. The
/// target runs that check here already (R18): when another candidate is
/// ahead, it hands it the promotion now, and the score change makes
/// Pacemaker abort the transition before the promote runs, so that no
/// failed promote bans this node (migration-threshold=1). A node that is
/// not the target and is newer than it says so (the stock agent's
/// pre-promote check, without its ban).
pub(super) fn pre_promote(r: &Replica, target: &str) -> Result<OcfRc> {
    // A server that refuses for now (57P03) is waited for, briefly: the
    // promote waits 10 s at most for this position.
    let grace = decide::refusal_grace(r.i.deadline.remaining()).min(Duration::from_secs(5));
    let session = r.session_within(Role::Monitor, grace).and_then(|mut s| {
        let state = r.server_state(&mut s)?;
        Ok((s, state))
    });
    // A position published for an earlier promotion must not stand for
    // this one.
    let withdraw = || {
        r.crm
            .set_private(&PrivateAttr::Position.name(&r.rep.rsc), None)
    };
    match session {
        Ok((mut s, st)) if st.in_recovery => {
            // Only a position that can no longer move is published: a
            // smaller one could make the promotion go to a node behind
            // this one (`promote` refuses while one is missing).
            let bound = (r.i.deadline.remaining() / 4).min(Duration::from_secs(5));
            match settled_position(r, &mut s, bound) {
                Some((_, l)) => {
                    crate::info!("My position for this promotion: {}.", l.to_wire());
                    r.crm
                        .set_private(&PrivateAttr::Position.name(&r.rep.rsc), Some(&l.to_wire()));
                    if target == r.rep.me {
                        hand_over_early(r, l)?;
                    }
                }
                None => {
                    crate::warn!(
                        "my WAL position may still move (PostgreSQL replays its local WAL): \
                         not published for this promotion"
                    );
                    withdraw();
                }
            }
        }
        Ok(_) => {}
        Err(e) => {
            crate::warn!("can't publish my position for this promotion: {e}");
            withdraw();
        }
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
        // The stock agent bans itself here, which stops this node before the
        // target's check at promotion can see it: the promotion then goes
        // to the older node and this one stays out. Instead it stays, and
        // that check hands the promotion to it (R18).
        let location = target_baseline.map_or(String::new(), |l| l.lsn.to_hex16());
        crate::warn!(
            "My data is newer than new master's one. New master's location : {location}; \
             its check at promotion hands the promotion to the newest node"
        );
    }
    Ok(OcfRc::Success)
}

/// The target's check at promotion, run in its pre-promote notification:
/// only a hand-over acts here (a silent candidate is left to the promote's
/// own wait). The others publish in the same round, so 3 s at most.
fn hand_over_early(r: &Replica, mine: Location) -> Result<()> {
    let view = r.crm.cluster_view()?;
    let bound = (r.i.deadline.remaining() / 4).min(Duration::from_secs(3));
    let peers = promote::published_positions(r, &view, bound);
    if let PromotionCheck::HandOver { to, reason } = rep::promotion_check(mine, &peers) {
        crate::warn!("Handing the promotion to {to} before it runs: {reason}.");
        let mut plan = Plan::new(&r.rep, &view);
        rep::hand_over(&mut plan, &to);
        r.apply(plan.take())?;
    }
    Ok(())
}

/// post-stop: when no instance is promoted and no node has a positive
/// score (the primary's instance is the one that stopped), every standby
/// runs the election now, as all are notified at once, and looks again
/// for 3 s at most while the other candidates publish. A failure here is
/// only logged: the next monitor runs the same election.
pub(super) fn elect_now(r: &Replica) -> Result<OcfRc> {
    let bound = Deadline::after(Duration::from_secs(3).min(r.i.deadline.remaining() / 2));
    let mut s = r.session(Role::Monitor)?;
    loop {
        let state = r.server_state(&mut s)?;
        let view = r.crm.cluster_view()?;
        if !state.in_recovery || !rep::election_needed(&r.rep, &view) {
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
pub(super) fn post_demote(r: &Replica, demoted: Option<&str>) -> Result<OcfRc> {
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
    r.apply(plan.take()).map(|()| OcfRc::Success)
}
