//! `switchover`: the checks of `core::switchover`, then the move.

use super::observe::Observed;
use crate::core::switchover;
use crate::io::clock::Deadline;
use crate::io::crm::Crm;
use crate::io::pg;
use crate::ocf::env::RawEnv;
use serde::Serialize;
use std::time::Duration;

/// Why a switchover did not happen: refused by the checks (nothing was
/// changed), or failed on the way (the message says what is left).
#[derive(Debug)]
pub enum SwitchoverError {
    Refused(String),
    Failed(String),
}

/// How a switchover went, for the operator.
#[derive(Debug, Serialize)]
pub struct SwitchoverReport {
    pub from: String,
    pub to: String,
    pub seconds: f64,
}

/// A planned switchover: the checks of `core::switchover`, then a ban of
/// the promoted role on the primary, a bounded wait for the target promoted,
/// the old primary a standby again and `master_ip` answering as a primary,
/// and the ban cleared on every path.
pub fn switchover(
    o: &Observed,
    raw: &RawEnv,
    target: Option<&str>,
    max_lag_bytes: u64,
    timeout: Duration,
) -> Result<SwitchoverReport, SwitchoverError> {
    use SwitchoverError::{Failed, Refused};
    let clone = o.clone.as_deref().ok_or_else(|| {
        Refused(format!(
            "{} is not a clone: there is no promoted role to move",
            o.resource
        ))
    })?;
    let plan = switchover::plan(&o.view, &o.resource, target, max_lag_bytes, |n| {
        o.replay_lag_bytes(n)
    })
    .map_err(Refused)?;
    let deadline = Deadline::after(timeout);
    let crm = Crm::new(&o.resource, &o.resource, &o.me, raw, 10, deadline);
    let start = std::time::Instant::now();
    crm.ban_promoted(clone, &plan.from)
        .map_err(|e| Failed(e.reason().to_string()))?;
    let moved = deadline.poll(Duration::from_millis(500), || {
        let v = crm.cluster_view().ok()?;
        (v.promoted == [plan.to.clone()] && v.runs_standby(&plan.from)).then_some(())
    });
    // And clients reach the new primary: master_ip answers as a primary.
    let reachable = moved.and_then(|()| {
        let pairs = o.via_master_ip.as_ref().ok()?;
        deadline.poll(Duration::from_millis(250), || {
            let mut s = pg::connect_conninfo(pairs, &o.owner, deadline).ok()?;
            s.is_primary().ok()?.then_some(())
        })
    });
    // Its own time: the wait may have used all of the switchover's.
    let clearer = Crm::new(
        &o.resource,
        &o.resource,
        &o.me,
        raw,
        10,
        Deadline::after(Duration::from_secs(30)),
    );
    let cleared = clearer.clear(clone, &plan.from);
    match (moved.and(reachable), cleared) {
        (Some(()), Ok(())) => Ok(SwitchoverReport {
            from: plan.from,
            to: plan.to,
            seconds: start.elapsed().as_secs_f64(),
        }),
        (None, cleared) => Err(Failed(format!(
            "{} was not promoted, with {} back as a standby and master_ip answering as the primary, within {} s; {}",
            plan.to,
            plan.from,
            timeout.as_secs(),
            match cleared {
                Ok(()) => "the ban is cleared".to_string(),
                Err(e) => format!("the ban could NOT be cleared: {}", e.reason()),
            }
        ))),
        (Some(()), Err(e)) => Err(Failed(format!(
            "{} is the primary, but the ban on {} could not be cleared: {}; run crm_resource --clear --resource {clone} --node {}",
            plan.to,
            plan.from,
            e.reason(),
            plan.from
        ))),
    }
}
