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
//!
//! A probe can also find a primary while no node is promoted: a former
//! primary started by hand (or by a boot unit) after another node was
//! promoted, whose node then crashed, taking its history with it. The
//! cluster's records still say who the last primary is: promote writes
//! its own `<rsc>-data-status` `LATEST` and the others' `DISCONNECT`, and
//! offline nodes' records are in the view
//! ([`crate::core::crm_mon::ClusterView::with_offline_records`]). A primary
//! that they say is not the last one is stale too ([`not_the_last_primary`]).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::core::timeline::History;
use crate::error::AgentError;

use super::plan::{Attr, DataStatus, Plan};

/// What a node that runs PostgreSQL as a primary does about the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrimaryVerdict {
    /// No other primary, or none to compare with.
    Alone,
    /// This node is the stale primary: it writes nothing about the others,
    /// takes its own score away and fails with this exit reason (whose
    /// detail gives the whole story, and the other way out when there is
    /// one).
    Stale(AgentError),
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
        let (what, short, unless) = if plan.view.promoted.contains(n) {
            ("runs a primary", "is a primary on", String::new())
        } else {
            let attr = super::plan::PrivateAttr::History.name(&plan.cfg.rsc);
            (
                "published a primary's history",
                "published",
                format!(
                    " (or, if {n}'s timeline {t} was discarded, delete what it published: \
                     attrd_updater -p -N {n} -n {attr} -D)"
                ),
            )
        };
        let see_log = if unless.is_empty() { "" } else { " (see log)" };
        return PrimaryVerdict::Stale(
            AgentError::generic(format!(
                "stale primary: {n} {short} timeline {t} > {m} here; stop this node, resync it \
                 from {n}{see_log}"
            ))
            .with_detail(format!(
                "{n} {what} on timeline {t}, newer than this primary's timeline {m}: this node is \
                 the stale primary and writes nothing about the others; stop it and resynchronise \
                 it from {n}{unless}"
            )),
        );
    }
    let Some(other) = plan.view.promoted_elsewhere(me) else {
        if plan.view.promoted.contains(me) {
            return PrimaryVerdict::Alone;
        }
        return not_the_last_primary(plan).map_or(PrimaryVerdict::Alone, PrimaryVerdict::Stale);
    };
    let older = my_tli.zip(their_tli(other)).filter(|(m, t)| t < m);
    match older {
        Some((m, t)) => PrimaryVerdict::Newer(format!(
            "{other} also runs a primary, on timeline {t}, older than this primary's timeline {m}: \
             {other} is the stale one and fails at its monitor"
        )),
        None if plan.view.promoted.contains(me) => PrimaryVerdict::Alone,
        None => {
            let tlis = my_tli.zip(their_tli(other));
            let promoted = match tlis {
                Some((m, t)) => format!("is promoted (timeline {m} here, {t} there)"),
                None => "is the promoted instance".to_string(),
            };
            PrimaryVerdict::Stale(
                AgentError::generic(format!(
                    "stale primary: {other} {promoted}; stop this node, resync it from {other}"
                ))
                .with_detail(format!(
                    "PostgreSQL runs as a primary here while {other} is the promoted instance{}; \
                     this node writes nothing about the others: stop it and resynchronise it from \
                     {other}",
                    tlis.map_or(String::new(), |(m, t)| format!(
                        " (timeline {m} here, {t} there)"
                    ))
                )),
            )
        }
    }
}

/// Why the cluster's records say this node is not the last primary, for a
/// primary Pacemaker did not promote while no node is promoted: another
/// node's data-status is `LATEST` (online or offline record), or this
/// node's own data-status is there and is not `LATEST`. `None` when this
/// node is the only `LATEST`, or when nothing is recorded about it and no
/// node is `LATEST` (a new cluster bootstrapped around a running primary,
/// a migration whose primary the stock agent recorded `LATEST`).
fn not_the_last_primary(plan: &Plan) -> Option<AgentError> {
    let me = &plan.cfg.me;
    let attr = Attr::DataStatus.name(&plan.cfg.rsc);
    let own = plan.current(me, Attr::DataStatus);
    let own_latest = own.and_then(DataStatus::parse) == Some(DataStatus::Latest);
    let latest_elsewhere = plan
        .view
        .nodes
        .keys()
        .find(|n| *n != me && plan.current_data_status(n) == Some(DataStatus::Latest));
    let set = |n: &str, v: &str| format!("crm_attribute -l forever -N {n} -n {attr} -v {v}");
    let preface = "PostgreSQL runs as a primary here, but Pacemaker did not promote it";
    if let Some(last) = latest_elsewhere {
        let mine = match own {
            Some(_) if own_latest => "this node as LATEST too".to_string(),
            Some(v) => format!("this node as {v}"),
            None => "nothing about this node".to_string(),
        };
        return Some(
            AgentError::generic(format!(
                "stale primary: {last} is the last primary; stop this node, resync it from {last} \
                 once promoted (see log)"
            ))
            .with_detail(format!(
                "{preface} and the cluster records {last} as the last primary ({attr} LATEST) and \
                 {mine}: this node may lack commits {last} acknowledged and writes nothing about \
                 the others; stop it and resynchronise it from {last} once {last} is promoted (or, \
                 if {last}'s data is lost, record this node as the last primary: {} and {}, then \
                 crm resource cleanup)",
                set(last, "DISCONNECT"),
                set(me, "LATEST"),
            )),
        );
    }
    match own {
        Some(mine) if !own_latest => Some(
            AgentError::generic(format!(
                "stale primary: recorded {mine}, no node LATEST; stop this node, resync it from the \
                 node with the commits (see log)"
            ))
            .with_detail(format!(
                "{preface} and the cluster records this node as {mine} ({attr}), not as the last \
                 primary, and no node as LATEST: this node may lack commits another node \
                 acknowledged and writes nothing about the others; stop it and resynchronise it \
                 from the node that holds them (or, if this node's data is the newest, record it \
                 as the last primary: {}, then crm resource cleanup)",
                set(me, "LATEST"),
            )),
        ),
        _ => None,
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

    /// The log's whole text; the exit reason, short, says the same first.
    fn stale(v: PrimaryVerdict) -> String {
        match v {
            PrimaryVerdict::Stale(why) => {
                let reason = why.reason();
                assert!(reason.starts_with("stale primary: "), "{reason}");
                assert!(
                    reason.contains("stop this node, resync it from "),
                    "{reason}"
                );
                assert!(reason.len() <= crate::error::EXIT_REASON_MAX, "{reason}");
                why.explained().to_string()
            }
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

    /// The audit's schedule: pg01, the former primary, crashed and was
    /// stopped; pg02 was promoted (pg01 `DISCONNECT`, pg02 `LATEST`);
    /// PostgreSQL was started on pg01 by hand, as a primary on its old
    /// timeline; pg02's node crashed (its history and transient attributes
    /// gone, its permanent record kept). A cleanup re-probes pg01: nobody is
    /// promoted, nothing newer is published, but the records say pg02 was
    /// the last primary.
    #[test]
    fn a_probe_that_finds_a_primary_the_records_say_is_not_the_last_one() {
        let (c, v) = audit_schedule();
        let none = published(&[]);
        assert!(another_primary_possible(&Plan::new(&c, &v)));
        let PrimaryVerdict::Stale(e) = verdict(&c, &v, Some(1), &none) else {
            panic!()
        };
        assert_eq!(
            e.reason(),
            "stale primary: pg02 is the last primary; stop this node, resync it from pg02 once \
             promoted (see log)"
        );
        let why = stale(verdict(&c, &v, Some(1), &none));
        assert_eq!(
            why,
            "PostgreSQL runs as a primary here, but Pacemaker did not promote it and the cluster \
             records pg02 as the last primary (pgsql-data-status LATEST) and this node as \
             DISCONNECT: this node may lack commits pg02 acknowledged and writes nothing about \
             the others; stop it and resynchronise it from pg02 once pg02 is promoted (or, if \
             pg02's data is lost, record this node as the last primary: crm_attribute -l forever \
             -N pg02 -n pgsql-data-status -v DISCONNECT and crm_attribute -l forever -N pg01 -n \
             pgsql-data-status -v LATEST, then crm resource cleanup)"
        );
        // The same with pg02 online (its record shown by crm_mon), with no
        // record of this node, or with this node LATEST too (whatever
        // acked-also-on says).
        let online = with_attr(
            &view(&["pg01", "pg02", "pg03"], &[], &[]),
            "pg02",
            "pgsql-data-status",
            "LATEST",
        );
        let why = stale(verdict(&c, &online, Some(1), &none));
        assert!(why.contains("and nothing about this node:"), "{why}");
        let both = with_attr(&online, "pg01", "pgsql-data-status", "LATEST");
        let why = stale(verdict(&c, &both, Some(1), &none));
        assert!(why.contains("and this node as LATEST too:"), "{why}");
        let named = with_attr(&both, "pg02", "pgsql-acked-also-on", "pg01");
        stale(verdict(&c, &named, Some(1), &none));
        // The timelines come first.
        let why = stale(verdict(
            &c,
            &v,
            Some(1),
            &published(&[("pg03", "2:1@0/3000060")]),
        ));
        assert!(
            why.starts_with("pg03 published a primary's history"),
            "{why}"
        );
    }

    /// This node's own record is there and is not LATEST, and no node is
    /// LATEST: not the last primary either.
    #[test]
    fn a_probe_that_finds_a_primary_recorded_as_a_standby() {
        let (c, v) = primary_fixture();
        let none = published(&[]);
        for own in [
            "DISCONNECT",
            "STREAMING|SYNC",
            "STREAMING|ASYNC",
            "DIVERGED",
        ] {
            let v = with_attr(&v, "pg01", "pgsql-data-status", own);
            let v = with_attr(&v, "pg02", "pgsql-data-status", "DISCONNECT");
            let why = stale(verdict(&c, &v, Some(3), &none));
            assert_eq!(
                why,
                format!(
                    "PostgreSQL runs as a primary here, but Pacemaker did not promote it and the \
                     cluster records this node as {own} (pgsql-data-status), not as the last \
                     primary, and no node as LATEST: this node may lack commits another node \
                     acknowledged and writes nothing about the others; stop it and resynchronise \
                     it from the node that holds them (or, if this node's data is the newest, \
                     record it as the last primary: crm_attribute -l forever -N pg01 -n \
                     pgsql-data-status -v LATEST, then crm resource cleanup)"
                )
            );
        }
    }

    /// The records that let a probe's primary go on: this node the only
    /// LATEST (a cleanup of the legitimate primary), or nothing recorded
    /// about this node and no node LATEST (a new cluster bootstrapped
    /// around a running primary). A node Pacemaker promoted is not judged
    /// by the records, and with another node promoted the verdict is as
    /// before.
    #[test]
    fn a_probe_that_finds_the_last_primary_or_no_record() {
        let (c, v) = primary_fixture();
        let none = published(&[]);
        assert_eq!(verdict(&c, &v, Some(3), &none), PrimaryVerdict::Alone);
        let others = with_attr(&v, "pg02", "pgsql-data-status", "DISCONNECT");
        let others = with_attr(&others, "pg03", "pgsql-data-status", "STREAMING|SYNC");
        assert_eq!(verdict(&c, &others, Some(3), &none), PrimaryVerdict::Alone);
        let last = with_attr(&others, "pg01", "pgsql-data-status", "LATEST");
        assert_eq!(verdict(&c, &last, Some(3), &none), PrimaryVerdict::Alone);
        assert_eq!(verdict(&c, &last, None, &none), PrimaryVerdict::Alone);
        // Promoted by Pacemaker: the records are not read.
        let (_, mut audit) = audit_schedule();
        audit.promoted = vec!["pg01".into()];
        assert_eq!(verdict(&c, &audit, Some(1), &none), PrimaryVerdict::Alone);
        // Another node promoted: the verdict by timeline, or the promoted
        // one stands, whatever the records say.
        audit.promoted = vec!["pg03".into()];
        let why = stale(verdict(&c, &audit, Some(1), &none));
        assert!(
            why.starts_with(
                "PostgreSQL runs as a primary here while pg03 is the promoted instance;"
            ),
            "{why}"
        );
        let mut last_here = last.clone();
        last_here.promoted = vec!["pg02".into()];
        let why = stale(verdict(&c, &last_here, Some(3), &none));
        assert!(
            why.starts_with(
                "PostgreSQL runs as a primary here while pg02 is the promoted instance;"
            ),
            "{why}"
        );
        assert!(matches!(
            verdict(
                &c,
                &last_here,
                Some(4),
                &published(&[("pg02", "3:1@0/3000060 2@0/5000028")])
            ),
            PrimaryVerdict::Newer(_)
        ));
    }
}
