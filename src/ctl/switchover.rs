//! `switchover`: the checks of `core::switchover`, then the move.

use super::observe::Observed;
use crate::core::switchover;
use crate::error::AgentError;
use crate::io::clock::Deadline;
use crate::io::crm::Crm;
use crate::io::pg;
use crate::io::pgbouncer::PgBouncer;
use crate::ocf::env::RawEnv;
use serde::Serialize;
use std::time::Duration;

/// What the operator asked for.
pub struct SwitchoverRequest<'a> {
    /// The node to promote; default: the synchronous standby.
    pub target: Option<&'a str>,
    pub max_lag_bytes: u64,
    /// For the pause and the move together.
    pub timeout: Duration,
    /// For every PgBouncer to pause: clients wait meanwhile, so a long
    /// transaction refuses the switchover rather than holding them.
    pub pause_timeout: Duration,
    /// PgBouncers to pause around the move (none: clients see errors).
    pub pgbouncers: Vec<PgBouncer>,
}

/// Why a switchover did not happen: refused by the checks (nothing was
/// changed; exit 3), or failed on the way (the message says what is left;
/// exit 1).
#[derive(Debug, thiserror::Error)]
pub enum SwitchoverError {
    #[error("refused: {0}")]
    Refused(String),
    #[error("switchover failed: {0}")]
    Failed(String),
}

/// How a switchover went, for the operator.
#[derive(Debug, Serialize)]
pub struct SwitchoverReport {
    pub from: String,
    pub to: String,
    pub seconds: f64,
    /// The PgBouncers that were paused during the move.
    pub paused: Vec<String>,
    /// Why the `CHECKPOINT` before the move did not finish, if it did not
    /// (the old primary's shutdown then writes all of it).
    pub checkpoint_warning: Option<String>,
}

/// The PgBouncers `--pgbouncer` means: one on every online node, reached by
/// the node's name; `--pgbouncer-at` names them instead.
pub fn pgbouncers(o: &Observed, all_nodes: bool, at: &[String]) -> Result<Vec<PgBouncer>, String> {
    if !at.is_empty() {
        return at.iter().map(|c| PgBouncer::from_conninfo(c)).collect();
    }
    Ok(if all_nodes {
        o.view
            .nodes
            .iter()
            .filter(|(_, online)| **online)
            .map(|(node, _)| PgBouncer::on_node(node))
            .collect()
    } else {
        Vec::new()
    })
}

/// A planned switchover: the checks of `core::switchover`; a `CHECKPOINT`
/// on the primary; every PgBouncer paused; a ban of the promoted role on the primary; a bounded wait for
/// the target promoted, the old primary a standby again and `master_ip`
/// answering as a primary; then, on every path, the ban cleared and every
/// PgBouncer resumed.
pub fn switchover(
    o: &Observed,
    raw: &RawEnv,
    req: &SwitchoverRequest,
) -> Result<SwitchoverReport, SwitchoverError> {
    use SwitchoverError::{Failed, Refused};
    let clone = o.clone.as_deref().ok_or_else(|| {
        Refused(format!(
            "{} is not a clone: there is no promoted role to move",
            o.resource
        ))
    })?;
    let plan = switchover::plan(&o.view, &o.resource, req.target, req.max_lag_bytes, |n| {
        o.replay_lag_bytes(n)
    })
    .map_err(Refused)?;
    let deadline = Deadline::after(req.timeout);
    let start = std::time::Instant::now();
    let checkpoint_warning = checkpoint_first(o, req.timeout / 4, deadline).err();
    let mut paused = Vec::new();
    let pause_by = Deadline::after(req.pause_timeout.min(req.timeout));
    for b in &req.pgbouncers {
        if let Err(why) = b.pause(&o.owner, pause_by) {
            let resumed = match resume_all(&paused, o) {
                Ok(()) => "every PgBouncer is resumed".to_string(),
                Err(e) => e,
            };
            return Err(Refused(format!("{why}; {resumed}, nothing else changed")));
        }
        paused.push(b.clone());
    }
    let crm_until = |d| Crm::new(&o.resource, &o.resource, &o.me, raw, 10, d);
    let crm = crm_until(deadline);
    let moved = crm.ban_promoted(clone, &plan.from).map_err(|e| {
        format!(
            "the ban on {} could not be set: {}",
            plan.from,
            e.explained()
        )
    });
    let moved = moved.and_then(|()| {
        deadline
            .poll(Duration::from_millis(500), || {
                let v = crm.cluster_view().ok()?;
                (v.promoted == [plan.to.clone()] && v.runs_standby(&plan.from)).then_some(())
            })
            // And clients reach the new primary: master_ip answers as a primary.
            .and_then(|()| {
                let pairs = o.via_master_ip.as_ref().ok()?;
                deadline.poll(Duration::from_millis(250), || {
                    let mut s = pg::connect_conninfo(pairs, &o.owner, deadline).ok()?;
                    s.is_primary().ok()?.then_some(())
                })
            })
            .ok_or_else(|| {
                format!(
                    "{} was not promoted, with {} back as a standby and master_ip answering as the primary, within {} s",
                    plan.to,
                    plan.from,
                    req.timeout.as_secs()
                )
            })
    });
    // Its own time: the wait may have used all of the switchover's.
    let cleared = crm_until(Deadline::after(Duration::from_secs(30))).clear(clone, &plan.from);
    let resumed = resume_all(&paused, o);
    match (moved, cleared) {
        (Ok(()), Ok(())) if resumed.is_ok() => Ok(SwitchoverReport {
            from: plan.from,
            to: plan.to,
            seconds: start.elapsed().as_secs_f64(),
            paused: paused.into_iter().map(|b| b.at).collect(),
            checkpoint_warning,
        }),
        (Ok(()), cleared) => Err(Failed(format!(
            "{} is the primary, but {}",
            plan.to,
            left_over(clone, &plan.from, cleared, &paused, resumed)
        ))),
        (Err(why), cleared) => Err(Failed(format!(
            "{why}; {}",
            left_over(clone, &plan.from, cleared, &paused, resumed)
        ))),
    }
}

/// A `CHECKPOINT` on the primary (through `master_ip`), `bound` at most:
/// the demote's clean shutdown writes a checkpoint too, and the less is
/// left for it, the shorter the time without a primary. Before anything
/// waits: clients go on meanwhile.
fn checkpoint_first(o: &Observed, bound: Duration, deadline: Deadline) -> Result<(), String> {
    let pairs = o.via_master_ip.as_ref()?;
    let mut s = pg::connect_conninfo(pairs, &o.owner, deadline).map_err(|e| e.message)?;
    s.checkpoint(bound.min(deadline.remaining()))
        .map_err(|e| format!("CHECKPOINT on the primary: {}", e.message))
}

/// Resume every PgBouncer that was paused, each with its own time; `Err`
/// names those that could not be.
fn resume_all(paused: &[PgBouncer], o: &Observed) -> Result<(), String> {
    let failures: Vec<String> = paused
        .iter()
        .filter_map(|b| {
            b.resume(&o.owner, Deadline::after(Duration::from_secs(10)))
                .err()
        })
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}

/// What a failed switchover left: the ban, and the PgBouncers it paused.
fn left_over(
    clone: &str,
    from: &str,
    cleared: Result<(), AgentError>,
    paused: &[PgBouncer],
    resumed: Result<(), String>,
) -> String {
    let ban = match cleared {
        Ok(()) => "the ban is cleared".to_string(),
        Err(e) => format!(
            "the ban could NOT be cleared: {}; run crm_resource --clear --resource {clone} --node {from}",
            e.explained()
        ),
    };
    match resumed {
        Ok(()) if paused.is_empty() => ban,
        Ok(()) => format!("{ban}, every PgBouncer is resumed"),
        Err(e) => format!("{ban}; {e}"),
    }
}
