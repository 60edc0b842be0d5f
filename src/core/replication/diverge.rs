//! Diverged standbys: a standby whose WAL went past the point where its
//! timeline ended in the promoted node's history can never follow that
//! primary (PostgreSQL refuses to stream it: "requested starting point ...
//! is not in this server's history"). Without a verdict it would stay
//! Started, `DISCONNECT`, forever. The primary publishes its timeline
//! history (`<rsc>-history`); a standby that does not stream reads it and,
//! when it diverged, says so: its own score `-INFINITY`, its data-status
//! `DIVERGED`, and a monitor failure whose reason names the fork.
//!
//! `DIVERGED` is the node's own verdict. PostgreSQL still streams such a
//! node the old timeline up to the fork, again and again (its WAL receiver
//! asks from the start of a segment), so its rows in `pg_stat_replication`
//! prove nothing: the primary ignores them while the verdict stands
//! ([`super::sync`]), and only the node's own monitor clears it, once it
//! streams on the primary's timeline (after a resynchronisation).

use super::plan::{AttrValue, DataStatus, Plan, Score, Status};
use crate::core::lsn::Lsn;
use crate::core::timeline::History;

/// Whose published history a standby's monitor reads: the promoted node,
/// when one runs elsewhere and this standby's WAL receiver does not stream
/// (a standby that streams follows the primary's timeline), or its verdict
/// `DIVERGED` stands (to renew or clear it).
pub fn history_to_check(plan: &Plan, streaming: bool) -> Option<String> {
    let me = &plan.cfg.me;
    let primary = plan.view.promoted_elsewhere(me)?;
    let marked = plan.current_data_status(me) == Some(DataStatus::Diverged);
    (!streaming || marked).then(|| primary.to_string())
}

/// A standby that cannot follow the primary's timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Diverged {
    /// Where `my_tli` ended in the primary's history.
    pub fork: Lsn,
    /// The timeline that began at the fork.
    pub began: u32,
    pub my_tli: u32,
    pub my_position: Lsn,
    pub primary_tli: u32,
}

/// The verdict: the standby's WAL is on `my_tli`, an earlier timeline of
/// the primary's history, and reaches past the point where that timeline
/// ended there. At or before that point it is merely behind: PostgreSQL
/// switches it to the newer timeline when it streams again.
pub fn divergence(history: &History, my_tli: u32, my_position: Lsn) -> Option<Diverged> {
    if my_tli >= history.tli {
        return None;
    }
    let (fork, began) = history.end_of(my_tli)?;
    (my_position > fork).then_some(Diverged {
        fork,
        began,
        my_tli,
        my_position,
        primary_tli: history.tli,
    })
}

/// What a standby's monitor read for the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DivergenceFacts<'a> {
    /// The promoted node ([`history_to_check`]).
    pub primary: &'a str,
    /// What it published as `<rsc>-history` (`None`: nothing).
    pub published: Option<&'a str>,
    /// The newest timeline this node holds WAL segments of: the timeline
    /// its WAL is on. (`ServerState::timeline` is not: a standby's WAL
    /// receiver fetches the primary's history files even when PostgreSQL
    /// then refuses to follow them, so a diverged node holds the newer
    /// timeline's history file but no WAL on it.)
    pub wal_tli: Option<u32>,
    /// How far its WAL goes: received or replayed, the newer.
    pub position: Option<Lsn>,
    /// Its WAL receiver streams, on `received_tli`.
    pub streaming: bool,
    pub received_tli: Option<u32>,
}

/// A standby's check. When it diverged, its own score goes to `-INFINITY`
/// (unless it is already), its data-status to `DIVERGED` and its status to
/// `HS:alone`, and the exit reason for its monitor is returned. A standing `DIVERGED` is cleared
/// (to `DISCONNECT`, for the primary to overwrite) once it streams on the
/// primary's timeline. An unknown history, timeline or position changes
/// nothing.
pub fn divergence_check(plan: &mut Plan, facts: &DivergenceFacts) -> Option<String> {
    let history = History::from_wire(facts.published?);
    let Some(history) = history else {
        plan.warnings.push(format!(
            "{} publishes an unreadable timeline history ({:?}): no divergence check",
            facts.primary,
            facts.published.unwrap_or_default()
        ));
        return None;
    };
    let me = plan.cfg.me.clone();
    let verdict = facts
        .wal_tli
        .zip(facts.position)
        .and_then(|(tli, position)| divergence(&history, tli, position));
    let Some(d) = verdict else {
        let marked = plan.current_data_status(&me) == Some(DataStatus::Diverged);
        let follows = facts.streaming && facts.received_tli.is_some_and(|t| t >= history.tli);
        if marked && follows {
            plan.infos.push(format!(
                "I stream on timeline {} of {}: no longer diverged.",
                history.tli, facts.primary
            ));
            plan.set(&me, AttrValue::DataStatus(DataStatus::Disconnect));
        }
        return None;
    };
    plan.infos.push(format!(
        "{} publishes its timeline history {}; my WAL is on timeline {} up to {}.",
        facts.primary,
        history.to_wire(),
        d.my_tli,
        d.my_position
    ));
    plan.own_score(Score::CanNotPromote);
    plan.data_status(&me, DataStatus::Diverged);
    plan.status(&me, Status::HsAlone);
    // The line above has this node's timeline and the whole history.
    Some(format!(
        "diverged: at {}, past {}'s fork to timeline {} at {}; resync (pg_rewind or new base backup)",
        d.my_position, facts.primary, d.began, d.fork
    ))
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::super::*;
    use crate::config::RepMode;
    use crate::core::crm_mon::ClusterView;
    use crate::core::lsn::Lsn;

    #[test]
    fn divergence_is_past_the_end_of_my_timeline_in_the_primary_history() {
        let h = history("3:1@0/3000060 2@0/5000028");
        // Behind or at the fork: PostgreSQL switches it to the next timeline.
        assert_eq!(divergence(&h, 2, at("0/5000000")), None);
        assert_eq!(divergence(&h, 2, at("0/5000028")), None);
        assert_eq!(divergence(&h, 1, at("0/3000060")), None);
        // Past it: it holds WAL the primary's timeline never had.
        assert_eq!(
            divergence(&h, 2, at("0/5000100")),
            Some(Diverged {
                fork: at("0/5000028"),
                began: 3,
                my_tli: 2,
                my_position: at("0/5000100"),
                primary_tli: 3,
            })
        );
        assert_eq!(
            divergence(&h, 1, at("0/4000000")).map(|d| (d.fork, d.began)),
            Some((at("0/3000060"), 2))
        );
        // On the primary's timeline (or a newer one): nothing to say.
        assert_eq!(divergence(&h, 3, at("0/9000000")), None);
        assert_eq!(divergence(&h, 4, at("0/9000000")), None);
        // A timeline the primary's history does not contain: no verdict here.
        let h = history("3:1@0/3000060");
        assert_eq!(divergence(&h, 2, at("0/9000000")), None);
    }

    #[test]
    fn only_a_standby_that_does_not_stream_checks_the_promoted_node() {
        let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
        let mut v = view(&["pg01", "pg02", "pg03"], &[], &[]);
        assert_eq!(history_to_check(&Plan::new(&c, &v), false), None);
        v.promoted.push("pg01".into());
        assert_eq!(history_to_check(&Plan::new(&c, &v), false), None);
        v.promoted = vec!["pg02".into()];
        assert_eq!(
            history_to_check(&Plan::new(&c, &v), false).as_deref(),
            Some("pg02")
        );
        assert_eq!(history_to_check(&Plan::new(&c, &v), true), None);
    }

    fn diverge_view(attrs: &[(&str, &str, &str)]) -> ClusterView {
        let mut v = view(&["pg01", "pg02", "pg03"], &[], attrs);
        v.promoted.push("pg02".into());
        v
    }

    #[test]
    fn a_diverged_standby_says_so() {
        for score in ["100", " -INFINITY"] {
            a_diverged_standby_with_this_score_says_so(score);
        }
    }

    /// pg01, not streaming, at 0/5000100 on timeline 1: past the fork at
    /// 0/5000028 where the primary pg02's timeline 2 began.
    fn past_the_fork() -> DivergenceFacts<'static> {
        DivergenceFacts {
            primary: "pg02",
            published: Some("2:1@0/5000028"),
            wal_tli: Some(1),
            position: Some(at("0/5000100")),
            streaming: false,
            received_tli: None,
        }
    }

    /// Any score but the exact bytes `-INFINITY` is rewritten.
    fn a_diverged_standby_with_this_score_says_so(score: &str) {
        let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
        let v = diverge_view(&[
            ("pg01", "master-pgsql", score),
            ("pg01", "pgsql-data-status", "DISCONNECT"),
        ]);
        let facts = past_the_fork();
        let mut p = Plan::new(&c, &v);
        let reason = divergence_check(&mut p, &facts);
        assert_eq!(
            reason.as_deref(),
            Some(
                "diverged: at 0/5000100, past pg02's fork to timeline 2 at 0/5000028; resync \
                 (pg_rewind or new base backup)"
            )
        );
        assert_eq!(
            written(&p, "pg01", Attr::Score),
            Some(Some("-INFINITY".into()))
        );
        assert_eq!(
            written(&p, "pg01", Attr::DataStatus),
            Some(Some("DIVERGED".into()))
        );
        assert_eq!(
            written(&p, "pg01", Attr::Status),
            Some(Some("HS:alone".into()))
        );
        assert_eq!(p.writes.len(), 3, "{:?}", p.writes);

        // Already -INFINITY, DIVERGED and alone: nothing to write, the monitor
        // still fails.
        let v = diverge_view(&[
            ("pg01", "master-pgsql", "-INFINITY"),
            ("pg01", "pgsql-data-status", "DIVERGED"),
            ("pg01", "pgsql-status", "HS:alone"),
        ]);
        let mut p = Plan::new(&c, &v);
        assert!(divergence_check(&mut p, &facts).is_some());
        assert_eq!(p.writes, []);
    }

    #[test]
    fn no_verdict_without_a_history_a_timeline_or_a_position() {
        let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
        let v = diverge_view(&[("pg01", "master-pgsql", "100")]);
        let full = past_the_fork();
        for (facts, warns) in [
            (
                DivergenceFacts {
                    published: None,
                    ..full.clone()
                },
                false,
            ),
            (
                DivergenceFacts {
                    published: Some("2:garbage"),
                    ..full.clone()
                },
                true,
            ),
            (
                DivergenceFacts {
                    wal_tli: None,
                    ..full.clone()
                },
                false,
            ),
            (
                DivergenceFacts {
                    position: None,
                    ..full.clone()
                },
                false,
            ),
            // Merely behind.
            (
                DivergenceFacts {
                    position: Some(at("0/5000000")),
                    ..full.clone()
                },
                false,
            ),
            // On the primary's timeline.
            (
                DivergenceFacts {
                    wal_tli: Some(2),
                    ..full.clone()
                },
                false,
            ),
        ] {
            let mut p = Plan::new(&c, &v);
            assert_eq!(divergence_check(&mut p, &facts), None, "{facts:?}");
            assert_eq!(p.writes, [], "{facts:?}");
            assert_eq!(!p.warnings.is_empty(), warns, "{facts:?}");
        }
    }

    /// DIVERGED is the node's own verdict: the primary's pass ignores its rows
    /// (PostgreSQL streams it up to the fork, again and again) and never names
    /// it; DISCONNECT never replaces it; its own LATEST (a promotion) does.
    #[test]
    fn the_primary_leaves_a_diverged_node_alone() {
        let (c, mut v) = primary_fixture();
        v.attributes
            .entry("pg02".into())
            .or_default()
            .insert("pgsql-data-status".into(), "DIVERGED".into());
        for rows in [vec![], vec![row("pg02", "streaming", "sync")]] {
            let mut p = Plan::new(&c, &v);
            let out = pass(&mut p, &rows, &one("pg02"), Some(100));
            assert_eq!(written(&p, "pg02", Attr::DataStatus), None, "{rows:?}");
            assert_eq!(written(&p, "pg02", Attr::Status), None, "{rows:?}");
            assert_eq!(p.current("pg02", Attr::Score), Some("-INFINITY"));
            assert_eq!(out.awaiting, None);
            assert_eq!(
                written(&p, "pg03", Attr::DataStatus),
                Some(Some("DISCONNECT".into()))
            );
        }
        // Streaming, it is not named: pg03 is.
        let rows = [
            row("pg02", "streaming", "async"),
            row("pg03", "streaming", "async"),
        ];
        let mut p = Plan::new(&c, &v);
        let out = pass(&mut p, &rows, &one("pg02"), None);
        assert_eq!(out.change, Some(one("pg03")));

        let mut p = Plan::new(&c, &v);
        p.data_status("pg02", DataStatus::Disconnect);
        p.data_status("pg02", DataStatus::STREAMING_ASYNC);
        assert_eq!(p.writes, []);

        let c2 = cfg(RepMode::Sync, &["pg02", "pg01", "pg03"]);
        let mut p = Plan::new(&c2, &v);
        p.data_status("pg02", DataStatus::Disconnect);
        assert_eq!(p.writes, [], "not even its own lost election");
        p.data_status("pg02", DataStatus::Latest);
        assert_eq!(
            written(&p, "pg02", Attr::DataStatus),
            Some(Some("LATEST".into()))
        );
    }

    /// Once resynchronised, a diverged node streams on the primary's timeline:
    /// its monitor clears its verdict. Streaming up to the fork (on its old
    /// timeline) does not.
    #[test]
    fn a_diverged_standby_clears_its_verdict_once_it_streams_on_the_primary_timeline() {
        let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
        let v = diverge_view(&[("pg01", "pgsql-data-status", "DIVERGED")]);
        assert_eq!(
            history_to_check(&Plan::new(&c, &v), true).as_deref(),
            Some("pg02"),
            "a standing verdict is checked while streaming"
        );
        let resynced = DivergenceFacts {
            primary: "pg02",
            published: Some("2:1@0/5000028"),
            wal_tli: Some(2),
            position: Some(at("0/6000000")),
            streaming: true,
            received_tli: Some(2),
        };
        let mut p = Plan::new(&c, &v);
        assert_eq!(divergence_check(&mut p, &resynced), None);
        assert_eq!(
            written(&p, "pg01", Attr::DataStatus),
            Some(Some("DISCONNECT".into()))
        );
        for facts in [
            // Streaming its old timeline up to the fork: still diverged.
            DivergenceFacts {
                wal_tli: Some(1),
                position: Some(at("0/5000100")),
                received_tli: Some(1),
                ..resynced.clone()
            },
            // Resynchronised but not streaming yet: the verdict stays.
            DivergenceFacts {
                streaming: false,
                received_tli: None,
                ..resynced.clone()
            },
            // Streaming an older timeline.
            DivergenceFacts {
                wal_tli: Some(1),
                position: Some(at("0/5000000")),
                received_tli: Some(1),
                ..resynced.clone()
            },
        ] {
            let mut p = Plan::new(&c, &v);
            divergence_check(&mut p, &facts);
            assert_eq!(written(&p, "pg01", Attr::DataStatus), None, "{facts:?}");
        }
    }

    #[test]
    fn a_diverged_standby_is_alone() {
        let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
        let v = diverge_view(&[
            ("pg01", "pgsql-status", "HS:sync"),
            ("pg01", "pgsql-data-status", "DIVERGED"),
        ]);
        let mut p = Plan::new(&c, &v);
        standby_monitor(&mut p, &standby_facts(true)).unwrap();
        assert_eq!(
            written(&p, "pg01", Attr::Status),
            Some(Some("HS:alone".into()))
        );
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// A verdict only for a standby on an earlier timeline of the
            /// primary's history, past the point where that timeline ended.
            #[test]
            fn fuzz_divergence_only_past_the_end_of_my_timeline(
                forks in prop::collection::vec((1u32..3, 0u64..50), 0..4),
                my_tli in 1u32..10,
                position in 0u64..250,
            ) {
                use crate::core::timeline::{Fork, History};
                let mut tli = 0;
                let mut end = 0;
                let forks: Vec<Fork> = forks.into_iter().map(|(dt, de)| {
                    tli += dt;
                    end += de;
                    Fork { tli, end: Lsn(end) }
                }).collect();
                let h = History { tli: tli + 1, forks };
                match divergence(&h, my_tli, Lsn(position)) {
                    Some(d) => {
                        let f = h.forks.iter().find(|f| f.tli == my_tli);
                        prop_assert!(f.is_some() && my_tli < h.tli);
                        prop_assert!(Lsn(position) > f.unwrap().end);
                        prop_assert_eq!(d.fork, f.unwrap().end);
                        prop_assert!(d.began > my_tli && d.began <= h.tli);
                    }
                    None => {
                        if let Some(f) = h.forks.iter().find(|f| f.tli == my_tli) {
                            prop_assert!(Lsn(position) <= f.end);
                        }
                    }
                }
            }
        }
    }
}
