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
use std::time::Duration;

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

/// How often a steady primary republishes its history, in case attrd lost
/// it (a restarted attrd keeps no private attribute), and compares it with
/// the others'.
pub const HISTORY_REPUBLISH: Duration = Duration::from_secs(60);

/// Whether a primary reads the histories the others published
/// ([`primary_verdict`]): when another primary is possible, and otherwise
/// when its own is due to be republished (`own_published_lately`: it
/// published it less than [`HISTORY_REPUBLISH`] ago), so that a steady
/// monitor runs no attrd tool.
pub fn histories_needed(plan: &Plan, own_published_lately: bool) -> bool {
    !own_published_lately || another_primary_possible(plan)
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::super::*;
    use crate::core::crm_mon::ClusterView;

    fn published(entries: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
        entries
            .iter()
            .map(|(n, h)| (n.to_string(), h.to_string()))
            .collect()
    }

    fn verdict(
        c: &RepConfig,
        v: &ClusterView,
        my_tli: Option<u32>,
        published: &std::collections::BTreeMap<String, String>,
    ) -> PrimaryVerdict {
        primary_verdict(&Plan::new(c, v), my_tli, published)
    }

    fn stale(v: PrimaryVerdict) -> String {
        match v {
            PrimaryVerdict::Stale(why) => why,
            other => panic!("not stale: {other:?}"),
        }
    }

    #[test]
    fn a_probe_that_finds_a_primary_while_another_is_promoted() {
        let (c, mut v) = primary_fixture();
        let none = published(&[]);
        assert_eq!(verdict(&c, &v, Some(3), &none), PrimaryVerdict::Alone);
        v.promoted.push("pg02".into());
        assert!(another_primary_possible(&Plan::new(&c, &v)));
        // Nothing published: Pacemaker's promoted node is presumed the right one.
        let why = stale(verdict(&c, &v, Some(3), &none));
        assert!(
            why.starts_with(
                "PostgreSQL runs as a primary here while pg02 is the promoted instance;"
            ),
            "{why}"
        );
        // Same or older timeline: this node is the stale one.
        let pg02_on_3 = published(&[("pg02", "3:1@0/3000060 2@0/5000028")]);
        let why = stale(verdict(&c, &v, Some(3), &pg02_on_3));
        assert!(why.contains("(timeline 3 here, 3 there)"), "{why}");
        let why = stale(verdict(&c, &v, Some(2), &pg02_on_3));
        assert!(
            why.starts_with("pg02 runs a primary on timeline 3, newer than this primary's timeline 2: this node is the stale primary"),
            "{why}"
        );
        // Newer here: pg02 is the stale one; this node reports itself Promoted.
        let PrimaryVerdict::Newer(why) = verdict(&c, &v, Some(4), &pg02_on_3) else {
            panic!()
        };
        assert!(
            why.starts_with(
                "pg02 also runs a primary, on timeline 3, older than this primary's timeline 4"
            ),
            "{why}"
        );
        // An unreadable history or an unknown own timeline gives no verdict by
        // timeline.
        let garbage = published(&[("pg02", "x")]);
        stale(verdict(&c, &v, Some(4), &garbage));
        stale(verdict(&c, &v, None, &pg02_on_3));
    }

    #[test]
    fn two_promoted_primaries_the_older_timeline_fails() {
        let (c, mut v) = primary_fixture();
        v.promoted = vec!["pg01".into()];
        assert!(
            !another_primary_possible(&Plan::new(&c, &v)),
            "a steady primary reads nothing"
        );
        assert!(!histories_needed(&Plan::new(&c, &v), true));
        assert!(
            histories_needed(&Plan::new(&c, &v), false),
            "due to be republished"
        );
        v.promoted.push("pg02".into());
        assert!(another_primary_possible(&Plan::new(&c, &v)));
        assert!(histories_needed(&Plan::new(&c, &v), true));
        let pg02_on_5 = published(&[("pg02", "5:4@0/9000000")]);
        stale(verdict(&c, &v, Some(4), &pg02_on_5));
        assert!(matches!(
            verdict(&c, &v, Some(6), &pg02_on_5),
            PrimaryVerdict::Newer(_)
        ));
        // Both promoted, no verdict by timeline: Pacemaker chooses, as it would
        // for any agent.
        assert_eq!(verdict(&c, &v, Some(5), &pg02_on_5), PrimaryVerdict::Alone);
        assert_eq!(
            verdict(&c, &v, Some(5), &published(&[])),
            PrimaryVerdict::Alone
        );
    }

    #[test]
    fn a_newer_history_published_by_a_node_no_longer_promoted_makes_a_primary_stale() {
        // pg02 was promoted on timeline 5 and Pacemaker demoted it when the
        // partition healed; this primary never followed it.
        let (c, mut v) = primary_fixture();
        v.promoted = vec!["pg01".into()];
        let why = stale(primary_verdict(
            &Plan::new(&c, &v),
            Some(4),
            &published(&[("pg02", "5:4@0/9000000"), ("pg03", "3:2@0/1000000")]),
        ));
        assert!(
            why.starts_with("pg02 published a primary's history on timeline 5, newer than this primary's timeline 4"),
            "{why}"
        );
        // Its own older histories (from before a switchover) are no verdict.
        assert_eq!(
            primary_verdict(
                &Plan::new(&c, &v),
                Some(6),
                &published(&[("pg02", "5:4@0/9000000")])
            ),
            PrimaryVerdict::Alone
        );
    }
}
