//! notify: what each notification asks of this node (`core::notify`),
//! performed as the core's steps (`core::replication::notify`).

use super::*;
use crate::ocf::trace;

pub fn notify(i: &Instance, env: &RawEnv) -> Result<OcfRc> {
    let Some(n) = Notify::from_env(env) else {
        crate::debug!("notify without a usable type/operation: nothing to do");
        return Ok(OcfRc::Success);
    };
    let r = Replica::new(i, env);
    crate::debug!("notify: {:?} for {:?}", n.kind, n.op);
    match n.action(&r.rep.me) {
        NotifyAction::Nothing => {}
        NotifyAction::CheckTargetBaseline { target } => pre_promote(&r, &target)?,
        NotifyAction::ForgetElection {
            keep_baseline,
            promoted,
        } => post_promote(&r, keep_baseline, promoted.as_deref())?,
        NotifyAction::RecordBaseline => post_demote(&r, n.first_demote())?,
        NotifyAction::Elect => elect_now(&r)?,
        NotifyAction::ControlStandbys => primary_notified(&r)?,
    }
    Ok(OcfRc::Success)
}

/// Perform a notification's steps, in order.
fn perform_notify(r: &Replica, steps: Vec<NotifyStep>) -> Result<()> {
    for step in steps {
        trace::step(&step);
        match step {
            NotifyStep::Apply(batch) => r.apply(batch)?,
            NotifyStep::Position(l) => r.crm.set_position(l),
            NotifyStep::AwaitRevoked(nodes) => {
                if !monitor::revocations_shown(r, &nodes) {
                    crate::warn!(
                        "the CIB does not show the score of {} taken away yet: the promote may still run, and be refused",
                        nodes.join(", ")
                    );
                }
            }
            NotifyStep::RememberFormerPrimary(node) => r.files.set_former_primary(&node)?,
            NotifyStep::ForgetFormerPrimary => r.files.clear_former_primary(),
            NotifyStep::Follow(upstream) => r.follow(&upstream),
        }
    }
    Ok(())
}

/// pre-promote: this node's position for `promote`'s check
/// (`rep::pre_promote`); on the target, that check now
/// (`rep::early_hand_over`); then the stock agent's baseline check
/// (`rep::baseline_check`).
fn pre_promote(r: &Replica, target: &str) -> Result<()> {
    let pre = rep::pre_promote(&r.rep, target, own_position(r));
    perform_notify(r, pre.steps)?;
    if let Some(mine) = pre.check_now {
        hand_over_early(r, mine)?;
    }
    if !rep::compares_baselines(&r.rep, target) {
        return Ok(());
    }
    let read = |node: &str| -> Result<Option<Location>> {
        Ok(r.crm
            .query(node, Attr::MasterBaseline)?
            .and_then(|v| Location::from_attrs(Some(&v), None)))
    };
    // Both at once: the round waits for its slowest node.
    let (target_baseline, mine) = std::thread::scope(|s| {
        let theirs = s.spawn(|| read(target));
        let mine = read(&r.rep.me);
        (
            theirs
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e)),
            mine,
        )
    });
    let (target_baseline, mine) = (target_baseline?, mine?);
    perform_notify(
        r,
        rep::baseline_check(&r.rep, target, target_baseline, mine),
    )
}

/// This standby's position for a promotion, once settled (a quarter of the
/// time left, 5 s at most). A server that refuses for now (57P03) is
/// waited for, briefly: the promote waits 10 s at most for this position.
fn own_position(r: &Replica) -> OwnPosition {
    let grace = decide::refusal_grace(r.i.deadline.remaining()).min(Duration::from_secs(5));
    let session = r.session_within(Role::Monitor, grace).and_then(|mut s| {
        let state = r.server_state(&mut s)?;
        Ok((s, state))
    });
    match session {
        Err(e) => OwnPosition::Unknown(e.to_string()),
        Ok((_, state)) if !state.in_recovery => OwnPosition::Primary,
        Ok((mut s, _)) => {
            let bound = (r.i.deadline.remaining() / 4).min(Duration::from_secs(5));
            match settled_position(r, &mut s, bound) {
                Some((_, l)) => OwnPosition::Settled(l),
                None => OwnPosition::Moving,
            }
        }
    }
}

/// The target's check at promotion in its pre-promote notification, with
/// the positions the others publish in the same round (3 s at most).
fn hand_over_early(r: &Replica, mine: Location) -> Result<()> {
    let view = r.crm.cluster_view()?;
    let bound = (r.i.deadline.remaining() / 4).min(Duration::from_secs(3));
    let peers = promote::published_positions(r, &view, bound);
    let mut plan = Plan::new(&r.rep, &view);
    perform_notify(r, rep::early_hand_over(&mut plan, mine, &peers))
}

/// post-promote: a standby follows the promoted node
/// (`rep::follow_the_promoted`) and the position published for the
/// promotion goes, then the election's attributes (`rep::forget_election`).
fn post_promote(r: &Replica, keep_baseline: bool, promoted: Option<&str>) -> Result<()> {
    let written = r.files.written_primary_host();
    perform_notify(
        r,
        rep::follow_the_promoted(&r.rep, promoted, written.as_deref()),
    )?;
    perform_notify(r, rep::post_promote_begin())?;
    let view = r.crm.cluster_view()?;
    let mut plan = Plan::new(&r.rep, &view);
    perform_notify(r, rep::forget_election(&mut plan, keep_baseline))
}

/// post-demote on a standby that stays: the former primary remembered
/// first, then this node's baseline for the pre-promote check
/// (`rep::record_baseline`).
fn post_demote(r: &Replica, demoted: Option<&str>) -> Result<()> {
    perform_notify(r, rep::post_demote_begin(demoted))?;
    let location = r.server_state(&mut r.session(Role::Monitor)?)?.location;
    let view = r.crm.cluster_view()?;
    let mut plan = Plan::new(&r.rep, &view);
    perform_notify(r, rep::record_baseline(&mut plan, location))
}

/// post-stop with nobody promotable: every standby runs the election now,
/// as all are notified at once, and looks again every 300 ms for 3 s at
/// most (half the time left) while the other candidates publish
/// (`rep::election_look`, `rep::election_round`,
/// `rep::after_election_round`). Each round must see what the others
/// published: it reads the view again.
fn elect_now(r: &Replica) -> Result<()> {
    let bound = Deadline::after(Duration::from_secs(3).min(r.i.deadline.remaining() / 2));
    let mut s = r.session(Role::Monitor)?;
    loop {
        let state = r.server_state(&mut s)?;
        let view = r.crm.cluster_view()?;
        if !rep::election_look(&r.rep, &view, state.in_recovery) {
            return Ok(());
        }
        let mut plan = Plan::new(&r.rep, &view);
        let facts = standby_facts(r, &plan, &state);
        let round = rep::election_round(&mut plan, &facts);
        let performed = round
            .steps
            .into_iter()
            .try_for_each(|step| perform_standby(r, step));
        let failure = match performed {
            Ok(()) => round.failure,
            Err(e) => Some(e.to_string()),
        };
        match rep::after_election_round(failure.as_deref()) {
            AfterElectionRound::Stop(warning) => return r.apply(warning),
            AfterElectionRound::Again if bound.remaining().is_zero() => return Ok(()),
            AfterElectionRound::Again => bound.sleep(Duration::from_millis(300)),
        }
    }
}

/// post-start/post-stop on the node named promoted: the primary's pass
/// over its standbys now (`rep::notified_primary`).
fn primary_notified(r: &Replica) -> Result<()> {
    let mut s = r.session(Role::Monitor)?;
    let state = r.server_state(&mut s)?;
    if state.in_recovery {
        return r.apply(rep::notified_in_recovery());
    }
    let view = r.crm.cluster_view()?;
    let mut plan = Plan::new(&r.rep, &view);
    let facts = running_primary(r, &mut s, &plan, &state);
    match rep::notified_primary(&mut plan, &facts) {
        NotifiedPrimary::Stale(batch) => r.apply(batch),
        NotifiedPrimary::Pass(rounds) => control_standbys(r, &mut plan, &mut s, rounds),
    }
}
