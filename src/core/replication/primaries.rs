//! Two primaries: the one on the older timeline is the stale one.
//!
//! Two nodes can both run PostgreSQL as a primary: a primary cut off
//! without fencing keeps running while the others promote, and finds the
//! new primary when the partition heals (Pacemaker then shows both
//! promoted), or a probe finds a primary that Pacemaker did not know about.
//! A promotion always starts a new timeline, and the newer primary is the
//! one that may have acknowledged commits since (the older one lost its
//! sync standby, and never stops waiting for it without quorum). So the
//! primary on the older timeline fails, writing nothing about the others;
//! the newer one goes on.
//!
//! Each primary knows the other's timeline from the history it published
//! (`<rsc>-history`, [`super::diverge`]). Without it, or on the same
//! timeline, there is no verdict by timeline, and the node Pacemaker did
//! not promote is the stale one.

use std::collections::BTreeMap;

use crate::core::timeline::History;

use super::plan::Plan;

/// What a node that runs PostgreSQL as a primary does about the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrimaryVerdict {
    /// No other primary, or none to compare with.
    Alone,
    /// This node is the stale primary: it writes nothing about the others,
    /// takes its own score away and fails with this reason.
    Stale(String),
    /// This node is the newer primary; the other one fails at its own
    /// monitor. A warning for the log. A node that Pacemaker did not
    /// promote reports itself Promoted (what its probe found).
    Newer(String),
}

/// `published`: what the other nodes published as `<rsc>-history` (read
/// when [`another_primary_possible`] or once a minute). `my_tli`: the
/// timeline this primary inserts WAL on.
pub fn primary_verdict(
    plan: &Plan,
    my_tli: Option<u32>,
    published: &BTreeMap<String, String>,
) -> PrimaryVerdict {
    let me = &plan.cfg.me;
    let their_tli = |n: &str| {
        published
            .get(n)
            .and_then(|v| History::from_wire(v))
            .map(|h| h.tli)
    };
    // A newer timeline anywhere, promoted now or published by a node that
    // was promoted since this one: this node is behind it.
    let newer = published
        .keys()
        .filter(|n| *n != me)
        .filter_map(|n| Some((n, their_tli(n)?)))
        .filter(|(_, t)| my_tli.is_some_and(|m| *t > m))
        .max_by_key(|(_, t)| *t);
    if let (Some((n, t)), Some(m)) = (newer, my_tli) {
        let (what, unless) = if plan.view.promoted.contains(n) {
            ("runs a primary", String::new())
        } else {
            let attr = super::plan::PrivateAttr::History.name(&plan.cfg.rsc);
            (
                "published a primary's history",
                format!(
                    " (or, if {n}'s timeline {t} was discarded, delete what it published: \
                     attrd_updater -p -N {n} -n {attr} -D)"
                ),
            )
        };
        return PrimaryVerdict::Stale(format!(
            "{n} {what} on timeline {t}, newer than this primary's timeline {m}: this node is the \
             stale primary and writes nothing about the others; stop it and resynchronise it from {n}{unless}"
        ));
    }
    let Some(other) = plan.view.promoted_elsewhere(me) else {
        return PrimaryVerdict::Alone;
    };
    let older = my_tli.zip(their_tli(other)).filter(|(m, t)| t < m);
    match older {
        Some((m, t)) => PrimaryVerdict::Newer(format!(
            "{other} also runs a primary, on timeline {t}, older than this primary's timeline {m}: \
             {other} is the stale one and fails at its monitor"
        )),
        None if plan.view.promoted.contains(me) => PrimaryVerdict::Alone,
        None => PrimaryVerdict::Stale(format!(
            "PostgreSQL runs as a primary here while {other} is the promoted instance{}; \
             this node writes nothing about the others: stop it and resynchronise it from {other}",
            match (my_tli, their_tli(other)) {
                (Some(m), Some(t)) => format!(" (timeline {m} here, {t} there)"),
                _ => String::new(),
            }
        )),
    }
}

/// Whether a primary's monitor must read the others' histories now, not
/// only once a minute: Pacemaker shows another node promoted, or this
/// node is not promoted (a probe found PostgreSQL running as a primary).
pub fn another_primary_possible(plan: &Plan) -> bool {
    let me = &plan.cfg.me;
    plan.view.promoted_elsewhere(me).is_some() || !plan.view.promoted.contains(me)
}
