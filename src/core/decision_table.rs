//! The decision table: every combination of the small inputs the
//! replication decisions take, rendered one line per case and compared with
//! the reviewed snapshot `decision_table.txt`. A behaviour change shows up
//! as a diff of that file. Regenerate with `UPDATE_SNAPSHOTS=1 cargo test`.

use crate::config::RepMode;
use crate::core::crm_mon::ClusterView;
use crate::core::lsn::Lsn;
use crate::core::replication::*;
use proptest::prelude::*;
use std::fmt::Write as _;

const SNAPSHOT: &str = "src/core/decision_table.txt";

fn cfg(mode: RepMode, nodes: usize) -> RepConfig {
    RepConfig {
        rsc: "pgsql".into(),
        me: "pg01".into(),
        rep_mode: mode,
        node_list: ["pg01", "pg02", "pg03"][..nodes]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        xlog_check_count: 3,
        sync_preference: None,
    }
}

fn render(writes: &[Write]) -> String {
    let parts: Vec<String> = writes
        .iter()
        .map(|w| {
            format!(
                "{}:{:?}={}",
                w.node,
                w.attr,
                w.value.as_deref().unwrap_or("<deleted>")
            )
        })
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(" ")
    }
}

/// The primary's monitor, as seen for pg02.
fn primary_table(out: &mut String) {
    let rows = [
        None,
        Some(("STREAMING", "SYNC")),
        Some(("STREAMING", "ASYNC")),
        Some(("STREAMING", "POTENTIAL")),
        Some(("CATCHUP", "ASYNC")),
        Some(("STARTUP", "POTENTIAL")),
    ];
    writeln!(out, "# primary monitor: mode nodes | pg02: pg_stat_replication online has-score status | writes | sync names").unwrap();
    for mode in [RepMode::Sync, RepMode::Async] {
        for nodes in [2, 3] {
            for row in rows {
                for online in [true, false] {
                    for has_score in [true, false] {
                        for old_status in ["HS:alone", "STOP"] {
                            let c = cfg(mode, nodes);
                            let mut v = ClusterView::default();
                            v.nodes.insert("pg01".into(), true);
                            v.nodes.insert("pg02".into(), online);
                            let a = v.attributes.entry("pg02".into()).or_default();
                            a.insert("pgsql-status".into(), old_status.into());
                            if has_score {
                                a.insert("master-pgsql".into(), "-INFINITY".into());
                            }
                            let rs: Vec<ReplicationRow> = row
                                .iter()
                                .map(|(s, y)| ReplicationRow {
                                    application_name: "pg02".into(),
                                    state: s.to_string(),
                                    sync_state: y.to_string(),
                                })
                                .collect();
                            let mut plan = Plan::new(&c, &v);
                            let wanted = control_standbys(&mut plan, &rs, &SyncStandbys::Async);
                            let row_s = row.map_or("none".to_string(), |(s, y)| format!("{s}|{y}"));
                            writeln!(
                                out,
                                "{} {nodes} | {row_s} {online} {has_score} {old_status} | {} | {}",
                                mode.name(),
                                render(&plan.writes),
                                wanted.map_or("unchanged".into(), |w| format!("{:?}", w.value())),
                            )
                            .unwrap();
                        }
                    }
                }
            }
        }
    }
}

/// have_master_right's gate on the node's own data-status.
fn gate_table(out: &mut String) {
    writeln!(out, "\n# election gate: mode data-status -> may claim").unwrap();
    for mode in [RepMode::Sync, RepMode::Async] {
        for ds in [
            None,
            Some("LATEST"),
            Some("STREAMING|SYNC"),
            Some("STREAMING|ASYNC"),
            Some("STREAMING|POTENTIAL"),
            Some("DISCONNECT"),
            Some("CATCHUP|ASYNC"),
        ] {
            writeln!(
                out,
                "{} {} -> {}",
                mode.name(),
                ds.unwrap_or("<none>"),
                data_allows_promotion(mode, ds)
            )
            .unwrap();
        }
    }
}

/// The election's final round for pg01 against pg02.
fn election_table(out: &mut String) {
    writeln!(
        out,
        "\n# election, deciding round: pg01 (tli lsn) vs pg02 (tli lsn) -> pg01's step"
    )
    .unwrap();
    let positions = [
        (None, 100),
        (None, 200),
        (Some(1), 100),
        (Some(1), 200),
        (Some(2), 100),
    ];
    for mine in positions {
        for theirs in positions {
            let sample: Sample = [("pg01", mine), ("pg02", theirs)]
                .iter()
                .map(|(n, (t, l))| {
                    (
                        n.to_string(),
                        Lsn(*l).to_hex16(),
                        t.map(|t: u32| t.to_string()),
                    )
                })
                .collect();
            let prev = ElectionState {
                agreeing: 2,
                sample: sample.clone(),
            };
            let step = match election_step(Some(&prev), sample, 3, "pg01") {
                ElectionStep::Won => "won",
                ElectionStep::Lost(_) => "lost",
                ElectionStep::Counting(_) => "counting",
            };
            writeln!(out, "{mine:?} vs {theirs:?} -> {step}").unwrap();
        }
    }
}

/// A standby's monitor: promoted instance present × own data-status × lock ×
/// streaming × position readable × election counter about to decide.
fn standby_table(out: &mut String) {
    writeln!(out, "\n# standby monitor (pg01, sync mode): promoted data-status lock streaming location counter | writes | election files, remove lock").unwrap();
    let c = cfg(RepMode::Sync, 3);
    for promoted in [None, Some("pg02"), Some("pg01")] {
        for ds in [None, Some("STREAMING|SYNC"), Some("DISCONNECT")] {
            for lock in [
                Lock::Absent,
                Lock::Held,
                Lock::CleanDemote {
                    checkpoint: Lsn(0x100_0000),
                    tli: 1,
                },
            ] {
                for streaming in [false, true] {
                    for location in [None, Some(Lsn(0x300_0000))] {
                        for deciding in [false, true] {
                            let mut v = ClusterView::default();
                            for n in &c.node_list {
                                v.nodes.insert(n.clone(), true);
                            }
                            v.promoted = promoted.iter().map(|p| p.to_string()).collect();
                            let a = v.attributes.entry("pg01".into()).or_default();
                            a.insert("pgsql-status".into(), "HS:alone".into());
                            if let Some(ds) = ds {
                                a.insert("pgsql-data-status".into(), ds.into());
                            }
                            v.attributes
                                .entry("pg02".into())
                                .or_default()
                                .insert("pgsql-xlog-loc".into(), Lsn(0x200_0000).to_hex16());
                            let sample: Sample = [
                                ("pg01", location.unwrap_or(Lsn(0))),
                                ("pg02", Lsn(0x200_0000)),
                            ]
                            .iter()
                            .map(|(n, l)| (n.to_string(), l.to_hex16(), None))
                            .collect();
                            let prev = ElectionState {
                                agreeing: 2,
                                sample,
                            };
                            let facts = StandbyFacts {
                                location: location.map(|lsn| Location { tli: None, lsn }),
                                streaming,
                                received_tli: streaming.then_some(2),
                                replay: location,
                                lock,
                                election: deciding.then_some(&prev),
                            };
                            let mut plan = Plan::new(&c, &v);
                            let outcome = match standby_monitor(&mut plan, &facts) {
                                Ok(o) => format!(
                                    "{:?}, remove lock {}",
                                    short(&o.election),
                                    o.remove_lock
                                ),
                                Err(reason) => format!("error: {reason}"),
                            };
                            writeln!(
                                out,
                                "{} {} {lock:?} {streaming} {} {deciding} | {} | {outcome}",
                                promoted.unwrap_or("none"),
                                ds.unwrap_or("<none>"),
                                location.is_some(),
                                render(&plan.writes),
                            )
                            .unwrap();
                        }
                    }
                }
            }
        }
    }
}

fn short(e: &ElectionFiles) -> String {
    match e {
        ElectionFiles::Keep => "keep".into(),
        ElectionFiles::Clear => "clear".into(),
        ElectionFiles::Write(s) => format!("write agreeing={}", s.agreeing),
    }
}

/// Notifications: type × operation × this node's place in the lists.
fn notify_table(out: &mut String) {
    use crate::core::notify::{Notify, NotifyOp, NotifyType};
    writeln!(
        out,
        "\n# notify on pg01: type operation, promote/demote target, promoted list -> action"
    )
    .unwrap();
    for kind in [NotifyType::Pre, NotifyType::Post] {
        for op in [
            NotifyOp::Start,
            NotifyOp::Stop,
            NotifyOp::Promote,
            NotifyOp::Demote,
        ] {
            for target in ["pg01", "pg02"] {
                for promoted in [vec![], vec!["pg01".to_string()], vec!["pg02".to_string()]] {
                    let n = Notify {
                        kind,
                        op,
                        promote: vec![target.to_string()],
                        demote: vec![target.to_string()],
                        promoted: promoted.clone(),
                        unpromoted: None,
                    };
                    writeln!(
                        out,
                        "{kind:?} {op:?} target={target} promoted={promoted:?} -> {:?}",
                        n.action("pg01")
                    )
                    .unwrap();
                }
            }
        }
    }
}

#[test]
fn decision_table_matches_the_reviewed_snapshot() {
    let mut out = String::new();
    primary_table(&mut out);
    gate_table(&mut out);
    election_table(&mut out);
    standby_table(&mut out);
    notify_table(&mut out);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(SNAPSHOT);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &out).unwrap();
    }
    let reviewed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(reviewed == out, "decision table changed: run UPDATE_SNAPSHOTS=1 cargo test and review the diff of {SNAPSHOT}");
}

fn state_strategy() -> impl Strategy<Value = (String, String)> {
    (
        prop::sample::select(vec![
            "STREAMING",
            "CATCHUP",
            "STARTUP",
            "BACKUP",
            "STOPPING",
        ]),
        prop::sample::select(vec!["SYNC", "ASYNC", "POTENTIAL", "QUORUM"]),
    )
        .prop_map(|(a, b)| (a.to_string(), b.to_string()))
}

proptest! {
    /// Never a positive score for a standby that is not a confirmed
    /// synchronous one (or, in async mode with two nodes, streaming).
    #[test]
    fn positive_scores_only_for_safe_standbys(
        sync in any::<bool>(),
        nodes in 2usize..=3,
        states in prop::collection::vec(proptest::option::of(state_strategy()), 2),
    ) {
        let mode = if sync { RepMode::Sync } else { RepMode::Async };
        let c = cfg(mode, nodes);
        let mut v = ClusterView::default();
        for n in &c.node_list {
            v.nodes.insert(n.clone(), true);
            v.attributes.entry(n.clone()).or_default().insert("master-pgsql".into(), "-INFINITY".into());
        }
        let rows: Vec<ReplicationRow> = c.others().zip(&states).filter_map(|(n, s)| {
            s.as_ref().map(|(a, b)| ReplicationRow { application_name: n.to_string(), state: a.clone(), sync_state: b.clone() })
        }).collect();
        let mut plan = Plan::new(&c, &v);
        control_standbys(&mut plan, &rows, &SyncStandbys::Async);
        for w in plan.writes.iter().filter(|w| w.attr == Attr::Score && w.value.as_deref() == Some(CAN_PROMOTE)) {
            let row = rows.iter().find(|r| r.application_name == w.node).expect("a disconnected node never gets 100");
            let safe = (row.state == "STREAMING" && row.sync_state == "SYNC")
                || (mode == RepMode::Async && nodes <= 2 && row.state == "STREAMING" && row.sync_state == "ASYNC");
            prop_assert!(safe, "{:?} got 100 from {:?}", w.node, row);
        }
    }

    /// The election never lets a node that is behind another claim promotion.
    #[test]
    fn only_the_newest_wins(positions in prop::collection::vec((proptest::option::of(1u32..4), 0u64..1000), 1..4)) {
        let names = ["pg01", "pg02", "pg03"];
        let sample: Sample = positions.iter().zip(names).map(|((t, l), n)| {
            (n.to_string(), Lsn(*l).to_hex16(), t.map(|t| t.to_string()))
        }).collect();
        let prev = ElectionState { agreeing: 5, sample: sample.clone() };
        if election_step(Some(&prev), sample.clone(), 3, "pg01") == ElectionStep::Won {
            let all_tli = positions.iter().all(|(t, _)| t.is_some());
            let (my_t, my_l) = positions[0];
            for (t, l) in &positions[1..] {
                if all_tli {
                    prop_assert!((my_t, my_l) >= (*t, *l));
                } else {
                    prop_assert!(my_l >= *l);
                }
            }
        }
    }
}
