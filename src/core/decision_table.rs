//! The decision table: every combination of the small inputs the
//! replication decisions take, rendered one line per case and compared with
//! the reviewed snapshot `decision_table.txt`. A behaviour change shows up
//! as a diff of that file. Regenerate with `UPDATE_SNAPSHOTS=1 cargo test`.

use crate::config::RepMode;
use crate::core::crm_mon::ClusterView;
use crate::core::lsn::Lsn;
use crate::core::replication::quorum::{control_quorum, QuorumList, QuorumPassFacts, QuorumStep};
use crate::core::replication::*;
use proptest::prelude::*;
use std::fmt::Write as _;

const SNAPSHOT: &str = "src/core/decision_table.txt";

/// A standby's deferral note that ran out ([`ELECTION_DEFERRAL`]): the
/// monitor decides as if it had never deferred.
const EXPIRED: Option<std::time::Duration> = Some(std::time::Duration::MAX);

fn cfg(mode: RepMode, nodes: usize) -> RepConfig {
    RepConfig {
        rsc: "pgsql".into(),
        me: "pg01".into(),
        rep_mode: mode,
        node_list: ["pg01", "pg02", "pg03"][..nodes]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        external_standbys: Vec::new(),
        xlog_check_count: 3,
        check_wal_receiver: false,
        auto_rewind: false,
        archive_recovery: false,
        sync_preference: None,
        quorum_standbys: 1,
        replication_hosts: Default::default(),
        master_ip_host: Some("10.0.0.100".into()),
        reloads_conninfo: true,
        slot_names: Vec::new(),
        slot_wal_keep_mb: None,
    }
}

fn render(writes: &[Write]) -> String {
    let parts: Vec<String> = writes.iter().map(Write::summary).collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(" ")
    }
}

/// The primary's pass, as seen for pg02 (pg03, when there is one, does not
/// stream): mode, node count, the list in effect, pg02's row, its score,
/// whether it is online, and the ceiling its flush position (100) is held
/// against.
fn primary_table(out: &mut String) {
    let rows = [
        None,
        Some(("STREAMING", "SYNC")),
        Some(("STREAMING", "ASYNC")),
        Some(("CATCHUP", "ASYNC")),
    ];
    writeln!(out, "# primary pass: mode nodes list | pg02: pg_stat_replication score online ceiling | writes | list change, awaiting").unwrap();
    for mode in [RepMode::Sync, RepMode::Async] {
        for nodes in [2, 3] {
            let lists = [
                SyncStandbys::Async,
                SyncStandbys::First(vec!["pg02".into()]),
                SyncStandbys::First(vec!["pg03".into()]),
            ];
            for current in &lists[..nodes] {
                for row in rows {
                    for score in ["-INFINITY", "100"] {
                        for online in [true, false] {
                            for ceiling in [None, Some(100), Some(101)] {
                                let c = cfg(mode, nodes);
                                let mut v = ClusterView {
                                    quorum: true,
                                    ..ClusterView::default()
                                };
                                v.nodes.insert("pg01".into(), true);
                                v.nodes.insert("pg02".into(), online);
                                v.nodes.insert("pg03".into(), true);
                                // Both standbys run an instance (pg02 when online).
                                v.unpromoted = if online {
                                    vec!["pg02".into(), "pg03".into()]
                                } else {
                                    vec!["pg03".into()]
                                };
                                let a = v.attributes.entry("pg02".into()).or_default();
                                a.insert("pgsql-status".into(), "HS:alone".into());
                                a.insert("master-pgsql".into(), score.into());
                                let rs: Vec<ReplicationRow> = pg02_rows(row);
                                let mut plan = Plan::new(&c, &v);
                                // No note of this postmaster's sync flag:
                                // a score found is nobody's proof (the
                                // table below varies the note).
                                let facts = PrimaryFacts {
                                    rows: &rs,
                                    current,
                                    ceiling: ceiling.map(Lsn),
                                    sync_flag: None,
                                };
                                let pass = control_standbys(&mut plan, &facts);
                                let row_s =
                                    row.map_or("none".to_string(), |(s, y)| format!("{s}|{y}"));
                                writeln!(
                                    out,
                                    "{} {nodes} {:?} | {row_s} {score} {online} {ceiling:?} | {} | {}, {}",
                                    mode.name(),
                                    current.value(),
                                    render(&plan.writes),
                                    pass.change.map_or("unchanged".into(), |w| format!("{:?}", w.value())),
                                    pass.awaiting.unwrap_or("-".into()),
                                )
                                .unwrap();
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A score this agent did not give: the primary pg01's pass (sync mode,
/// three nodes, the list names pg02, which streams SYNC flushed up to 100
/// with a score of 100; pg03 does not stream), by pg01's `acked-also-on`,
/// what this postmaster's note says of the sync flag, and the ceiling. The
/// score counts as this agent's only with both marks (the record naming
/// pg02, the flag proven); otherwise pg02 keeps it unrecorded until it has
/// flushed the ceiling.
fn inherited_score_table(out: &mut String) {
    writeln!(out, "\n# primary pass over pg02 scored 100, named and STREAMING|SYNC at 100 (sync, 3 nodes): pg01-acked-also-on sync-flag ceiling | writes | awaiting").unwrap();
    let c = cfg(RepMode::Sync, 3);
    let rows = pg02_rows(Some(("STREAMING", "SYNC")));
    let current = SyncStandbys::First(vec!["pg02".into()]);
    for record in [None, Some("pg02"), Some("pg03")] {
        for flag in [
            None,
            Some(SyncFlag::Pending(Lsn(90))),
            Some(SyncFlag::Proven),
        ] {
            for ceiling in [None, Some(100), Some(101)] {
                let mut v = ClusterView {
                    quorum: true,
                    ..ClusterView::default()
                };
                for n in ["pg01", "pg02", "pg03"] {
                    v.nodes.insert(n.into(), true);
                }
                v.promoted = vec!["pg01".into()];
                v.unpromoted = vec!["pg02".into(), "pg03".into()];
                let a = v.attributes.entry("pg02".into()).or_default();
                a.insert("pgsql-status".into(), "HS:sync".into());
                a.insert("pgsql-data-status".into(), "STREAMING|SYNC".into());
                a.insert("master-pgsql".into(), "100".into());
                v.attributes
                    .entry("pg03".into())
                    .or_default()
                    .insert("pgsql-data-status".into(), "DISCONNECT".into());
                if let Some(r) = record {
                    v.attributes
                        .entry("pg01".into())
                        .or_default()
                        .insert("pgsql-acked-also-on".into(), r.into());
                }
                let mut plan = Plan::new(&c, &v);
                let pass = control_standbys(
                    &mut plan,
                    &PrimaryFacts {
                        rows: &rows,
                        current: &current,
                        ceiling: ceiling.map(Lsn),
                        sync_flag: flag,
                    },
                );
                writeln!(
                    out,
                    "{record:?} {flag:?} {ceiling:?} | {} | {}",
                    render(&plan.writes),
                    pass.awaiting.unwrap_or("-".into()),
                )
                .unwrap();
            }
        }
    }
}

/// pg02's row of `pg_stat_replication` (`None`: not connected), flushed
/// up to 100.
fn pg02_rows(row: Option<(&str, &str)>) -> Vec<ReplicationRow> {
    row.iter()
        .map(|(s, y)| ReplicationRow {
            application_name: "pg02".into(),
            state: SenderState::parse(s).unwrap(),
            sync: SyncRole::parse(y).unwrap(),
            flush: Some(Lsn(100)),
        })
        .collect()
}

/// The check at promotion: pg01 at timeline 2 / LSN 500 against pg02.
fn promotion_table(out: &mut String) {
    writeln!(
        out,
        "\n# promotion check on pg01 (2/500): pg02 published -> verdict"
    )
    .unwrap();
    for theirs in [
        None,
        Some((1, 900)),
        Some((2, 400)),
        Some((2, 500)),
        Some((2, 501)),
        Some((3, 1)),
    ] {
        let mine = Location {
            tli: Some(2),
            lsn: Lsn(500),
        };
        let peer = theirs.map(|(t, l)| Location {
            tli: Some(t),
            lsn: Lsn(l),
        });
        let verdict = match promotion_check(mine, &[("pg02".into(), peer)]) {
            PromotionCheck::Go => "go".to_string(),
            PromotionCheck::HandOver { to, reason } => {
                exit_reason(&format!("promotion refused: {reason}"));
                format!("hand over to {to}")
            }
            PromotionCheck::Refuse(reason) => {
                exit_reason(&format!("promotion refused: {reason}"));
                "refuse".to_string()
            }
        };
        writeln!(out, "{theirs:?} -> {verdict}").unwrap();
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
            let both = ["pg01".to_string(), "pg02".to_string()];
            let step = match election_step(Some(&prev), sample, &both, 3, "pg01") {
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
    writeln!(out, "\n# standby monitor (pg01, sync mode, pg02 published 2/0x2000000, pg03 nothing): promoted data-status score lock streaming location counter | writes | election files, remove lock").unwrap();
    let c = cfg(RepMode::Sync, 3);
    for promoted in [None, Some("pg02"), Some("pg01")] {
        for score in ["-INFINITY", "100"] {
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
                                a.insert("master-pgsql".into(), score.into());
                                if let Some(ds) = ds {
                                    a.insert("pgsql-data-status".into(), ds.into());
                                }
                                v.attributes
                                    .entry("pg02".into())
                                    .or_default()
                                    .insert("pgsql-xlog-loc".into(), Lsn(0x200_0000).to_hex16());
                                v.attributes
                                    .entry("pg02".into())
                                    .or_default()
                                    .insert("pgsql-xlog-tli".into(), "2".into());
                                let sample: Sample = [
                                    ("pg01", location.unwrap_or(Lsn(0))),
                                    ("pg02", Lsn(0x200_0000)),
                                ]
                                .iter()
                                .map(|(n, l)| (n.to_string(), l.to_hex16(), Some("2".to_string())))
                                .collect();
                                let prev = ElectionState {
                                    agreeing: 2,
                                    sample,
                                };
                                let facts = StandbyFacts {
                                    location: location.map(|lsn| Location { tli: Some(2), lsn }),
                                    streaming,
                                    position_final: !streaming,
                                    received_tli: streaming.then_some(2),
                                    replay: location,
                                    lock,
                                    election: deciding.then(|| prev.clone()),
                                    wal_tli: None,
                                    primary_history: None,
                                    deferred_for: EXPIRED,
                                    dc_idle: None,
                                    written_host: None,
                                };
                                let mut plan = Plan::new(&c, &v);
                                let outcome = match standby_monitor(&mut plan, &facts) {
                                    Ok(o) => format!(
                                        "{:?}, remove lock {}",
                                        short(&o.election),
                                        o.remove_lock
                                    ),
                                    Err(reason) => format!("error: {}", exit_reason(&reason)),
                                };
                                writeln!(
                                out,
                                "{} {} {score} {lock:?} {streaming} {} {deciding} | {} | {outcome}",
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
}

/// The last primary in the election: pg01 says `LATEST` (the only one),
/// restarted after its node's crash at 2/0x3000000; pg02 is its recorded
/// sync standby or not, on its timeline or a newer one, behind or ahead
/// of it, with its score; pg03 published 2/0x2800000, with its score.
/// Nothing is promoted, every node runs. pg01's standby monitor: its
/// writes (win, or keep or give up `LATEST`) and the election files.
fn last_primary_election_table(out: &mut String) {
    writeln!(out, "\n# the last primary's election (pg01 LATEST at 2/0x3000000, sync mode, pg03 at 2/0x2800000): pg02-recorded pg02-tli pg02-ahead pg02-score pg03-score | writes | election files").unwrap();
    let c = cfg(RepMode::Sync, 3);
    for recorded in [false, true] {
        for tli in [2, 3] {
            for ahead in [false, true] {
                for pg02_score in [None, Some("100"), Some("1000")] {
                    for pg03_score in [None, Some("1000")] {
                        let mut v = ClusterView {
                            unpromoted: c.node_list.clone(),
                            ..ClusterView::default()
                        };
                        let pg02_at = if ahead { 0x400_0000 } else { 0x200_0000 };
                        for (n, at, t, score) in [
                            ("pg01", 0x300_0000, 2, None),
                            ("pg02", pg02_at, tli, pg02_score),
                            ("pg03", 0x280_0000, 2, pg03_score),
                        ] {
                            v.nodes.insert(n.into(), true);
                            let a = v.attributes.entry(n.into()).or_default();
                            a.insert("pgsql-xlog-loc".into(), Lsn(at).to_hex16());
                            a.insert("pgsql-xlog-tli".into(), t.to_string());
                            if let Some(score) = score {
                                a.insert("master-pgsql".into(), score.into());
                            }
                        }
                        let a = v.attributes.entry("pg01".into()).or_default();
                        a.insert("pgsql-data-status".into(), "LATEST".into());
                        if recorded {
                            a.insert("pgsql-acked-also-on".into(), "pg02".into());
                        }
                        let facts = StandbyFacts {
                            lock: Lock::Held,
                            deferred_for: EXPIRED,
                            ..final_standby(Lsn(0x300_0000))
                        };
                        let mut plan = Plan::new(&c, &v);
                        let outcome = match standby_monitor(&mut plan, &facts) {
                            Ok(o) => short(&o.election),
                            Err(reason) => format!("error: {}", exit_reason(&reason)),
                        };
                        writeln!(
                            out,
                            "{recorded} {tli} {ahead} {} {} | {} | {outcome}",
                            pg02_score.unwrap_or("<none>"),
                            pg03_score.unwrap_or("<none>"),
                            render(&plan.writes),
                        )
                        .unwrap();
                    }
                }
            }
        }
    }
}

/// The deferral of a standby's election writes while a promotion is
/// pending: pg03's monitor (sync mode, nobody promoted unless said),
/// after pg01's PostgreSQL failed (`LATEST`, `acked-also-on` pg02, stopped
/// with a fail count); pg02 published 2/0x2000000, pg03 is final at
/// 2/0x3000000. pg02's score and instance, pg03's own score, the note's
/// age.
fn election_deferral_table(out: &mut String) {
    writeln!(out, "\n# election deferral (pg03's monitor, sync mode, pg01 LATEST acked-also-on pg02 and failed, pg02 at 2/0x2000000, pg03 final at 2/0x3000000): pg01-promoted pg02-score pg02-instance own-score note[+dc-idle] | writes | election files, note").unwrap();
    let c = RepConfig {
        me: "pg03".into(),
        node_list: ["pg03", "pg01", "pg02"].map(String::from).to_vec(),
        ..cfg(RepMode::Sync, 3)
    };
    let mut rows = Vec::new();
    for pg02_score in [None, Some("-INFINITY"), Some("100"), Some("1000")] {
        for pg02 in [
            "unpromoted",
            "failed",
            "stopped-with-fail-count",
            "stopped",
            "offline",
        ] {
            for own in ["-INFINITY", "100"] {
                rows.push((false, pg02_score, pg02, own));
            }
        }
    }
    rows.push((true, Some("-INFINITY"), "unpromoted", "-INFINITY"));
    for (pg01_promoted, pg02_score, pg02, own) in rows {
        // The note's age in seconds, and whether the DC said it is idle.
        for (note, dc_idle) in [
            (None, None),
            (Some(5), None),
            (Some(25), None),
            (Some(5), Some(true)),
        ] {
            let mut v = ClusterView {
                quorum: true,
                ..ClusterView::default()
            };
            for n in ["pg01", "pg02", "pg03"] {
                v.nodes
                    .insert(n.into(), !(n == "pg02" && pg02 == "offline"));
            }
            v.unpromoted.push("pg03".into());
            match pg02 {
                "unpromoted" => v.unpromoted.push("pg02".into()),
                "failed" => {
                    v.unpromoted.push("pg02".into());
                    v.failed.push("pg02".into());
                }
                "stopped-with-fail-count" => {
                    v.fail_counts.insert("pg02".into(), 1);
                }
                _ => {}
            }
            if pg01_promoted {
                v.promoted.push("pg01".into());
            } else {
                v.fail_counts.insert("pg01".into(), 1);
            }
            let mut set = |n: &str, k: &str, val: &str| {
                v.attributes
                    .entry(n.into())
                    .or_default()
                    .insert(k.into(), val.into());
            };
            set("pg01", "pgsql-data-status", "LATEST");
            set("pg01", "pgsql-acked-also-on", "pg02");
            set("pg03", "master-pgsql", own);
            if pg02 != "offline" {
                set("pg02", "pgsql-xlog-loc", &Lsn(0x200_0000).to_hex16());
                set("pg02", "pgsql-xlog-tli", "2");
                if let Some(score) = pg02_score {
                    set("pg02", "master-pgsql", score);
                }
            }
            let facts = StandbyFacts {
                deferred_for: note.map(std::time::Duration::from_secs),
                dc_idle,
                ..final_standby(Lsn(0x300_0000))
            };
            let mut plan = Plan::new(&c, &v);
            let outcome = match standby_monitor(&mut plan, &facts) {
                Ok(o) => format!("{}, {:?}", short(&o.election), o.deferral),
                Err(reason) => format!("error: {}", exit_reason(&reason)),
            };
            writeln!(
                out,
                "{pg01_promoted} {} {pg02} {own} {} | {} | {outcome}",
                pg02_score.unwrap_or("<none>"),
                note.map_or("none".into(), |s| format!("{s}s"))
                    + if dc_idle == Some(true) {
                        "+dc-idle"
                    } else {
                        ""
                    },
                render(&plan.writes),
            )
            .unwrap();
        }
    }
}

/// A standby that no longer receives WAL, replayed up to `lsn` on
/// timeline 2, with no lock and no election in progress.
fn final_standby(lsn: Lsn) -> StandbyFacts {
    StandbyFacts {
        location: Some(Location { tli: Some(2), lsn }),
        streaming: false,
        position_final: true,
        received_tli: None,
        replay: Some(lsn),
        lock: Lock::Absent,
        election: None,
        wal_tli: Some(2),
        primary_history: None,
        deferred_for: None,
        dc_idle: None,
        written_host: None,
    }
}

fn short(e: &ElectionFiles) -> String {
    match e {
        ElectionFiles::Keep => "keep".into(),
        ElectionFiles::Clear => "clear".into(),
        ElectionFiles::Write(s) => format!("write agreeing={}", s.agreeing),
    }
}

/// Diverged standbys: who checks, the verdict on pg01 against pg02's
/// published history, and the primary's pass over a DIVERGED node.
fn divergence_table(out: &mut String) {
    writeln!(
        out,
        "\n# divergence: whose history pg01 reads: promoted streaming own-data-status -> node"
    )
    .unwrap();
    let c = cfg(RepMode::Sync, 3);
    let online = || {
        let mut v = ClusterView {
            quorum: true,
            ..ClusterView::default()
        };
        for n in &c.node_list {
            v.nodes.insert(n.clone(), true);
        }
        v
    };
    for promoted in [None, Some("pg01"), Some("pg02")] {
        for streaming in [false, true] {
            for ds in ["DISCONNECT", "DIVERGED"] {
                let mut v = online();
                v.promoted = promoted.iter().map(|p| p.to_string()).collect();
                v.attributes
                    .entry("pg01".into())
                    .or_default()
                    .insert("pgsql-data-status".into(), ds.into());
                let plan = Plan::new(&c, &v);
                writeln!(
                    out,
                    "{} {streaming} {ds} -> {}",
                    promoted.unwrap_or("none"),
                    history_to_check(&plan, streaming).unwrap_or("-".into())
                )
                .unwrap();
            }
        }
    }

    writeln!(out, "\n# divergence verdict on pg01 (score 100, DISCONNECT; pg02 promoted): pg02's history | my WAL timeline, position | writes | exit reason").unwrap();
    for published in [
        None,
        Some("2:garbage"),
        Some("1:"),
        Some("2:1@0/5000028"),
        Some("3:1@0/3000060 2@0/5000028"),
    ] {
        for wal_tli in [None, Some(1), Some(2), Some(3)] {
            for position in ["0/5000000", "0/5000028", "0/5000100"] {
                let mut v = online();
                v.promoted = vec!["pg02".into()];
                let a = v.attributes.entry("pg01".into()).or_default();
                a.insert("master-pgsql".into(), "100".into());
                a.insert("pgsql-data-status".into(), "DISCONNECT".into());
                let mut plan = Plan::new(&c, &v);
                let facts = DivergenceFacts {
                    primary: "pg02",
                    published,
                    wal_tli,
                    position: position.parse().ok(),
                    streaming: false,
                    received_tli: None,
                };
                let reason = divergence_check(&mut plan, &facts);
                writeln!(
                    out,
                    "{:?} | {wal_tli:?} {position} | {} | {}",
                    published.unwrap_or("<none>"),
                    render(&plan.writes),
                    reason.map_or("-".into(), |r| exit_reason(&r))
                )
                .unwrap();
            }
        }
    }

    writeln!(out, "\n# a standing DIVERGED on pg01 (-INFINITY, HS:alone; pg02 published 2:1@0/5000028): streaming received_tli | my WAL timeline, position | writes | exit reason").unwrap();
    for streaming in [false, true] {
        for received_tli in [None, Some(1), Some(2)] {
            for (wal_tli, position) in [(1, "0/5000100"), (1, "0/5000000"), (2, "0/6000000")] {
                let mut v = online();
                v.promoted = vec!["pg02".into()];
                let a = v.attributes.entry("pg01".into()).or_default();
                a.insert("master-pgsql".into(), "-INFINITY".into());
                a.insert("pgsql-data-status".into(), "DIVERGED".into());
                a.insert("pgsql-status".into(), "HS:alone".into());
                let mut plan = Plan::new(&c, &v);
                let facts = DivergenceFacts {
                    primary: "pg02",
                    published: Some("2:1@0/5000028"),
                    wal_tli: Some(wal_tli),
                    position: position.parse().ok(),
                    streaming,
                    received_tli,
                };
                let reason = divergence_check(&mut plan, &facts);
                writeln!(
                    out,
                    "{streaming} {received_tli:?} | {wal_tli} {position} | {} | {}",
                    render(&plan.writes),
                    reason.map_or("-".into(), |r| exit_reason(&r))
                )
                .unwrap();
            }
        }
    }

    writeln!(
        out,
        "\n# primary pass over pg02 whose data-status is DIVERGED (3 nodes, list names pg03): mode, pg02's row | writes"
    )
    .unwrap();
    for mode in [RepMode::Sync, RepMode::Async] {
        for row in [
            None,
            Some(("STREAMING", "SYNC")),
            Some(("STREAMING", "ASYNC")),
            Some(("CATCHUP", "ASYNC")),
        ] {
            let c = cfg(mode, 3);
            let mut v = online();
            let a = v.attributes.entry("pg02".into()).or_default();
            a.insert("pgsql-status".into(), "HS:alone".into());
            a.insert("master-pgsql".into(), "-INFINITY".into());
            a.insert("pgsql-data-status".into(), "DIVERGED".into());
            let rows: Vec<ReplicationRow> = pg02_rows(row);
            let current = SyncStandbys::First(vec!["pg03".into()]);
            let mut plan = Plan::new(&c, &v);
            control_standbys(
                &mut plan,
                &PrimaryFacts {
                    rows: &rows,
                    current: &current,
                    ceiling: Some(Lsn(100)),
                    sync_flag: None,
                },
            );
            let pg02: Vec<Write> = plan
                .writes
                .into_iter()
                .filter(|w| w.node == "pg02")
                .collect();
            writeln!(
                out,
                "{} {} | {}",
                mode.name(),
                row.map_or("none".to_string(), |(s, y)| format!("{s}|{y}")),
                render(&pg02)
            )
            .unwrap();
        }
    }
}

/// Two primaries: pg01 runs PostgreSQL as a primary on timeline 4 (or
/// unknown); Pacemaker's promoted nodes × what pg02 published.
fn primaries_table(out: &mut String) {
    writeln!(
        out,
        "\n# two primaries, pg01 a primary: promoted, pg01's timeline, pg02's published history -> read others now?, verdict"
    )
    .unwrap();
    let c = cfg(RepMode::Sync, 3);
    for promoted in [vec![], vec!["pg01"], vec!["pg02"], vec!["pg01", "pg02"]] {
        for my_tli in [None, Some(4)] {
            for history in [
                None,
                Some("3:2@0/1000000"),
                Some("4:3@0/2000000"),
                Some("5:4@0/3000000"),
            ] {
                let mut v = ClusterView::default();
                for n in &c.node_list {
                    v.nodes.insert(n.clone(), true);
                }
                v.promoted = promoted.iter().map(|p| p.to_string()).collect();
                let published = history
                    .map(|h| ("pg02".to_string(), h.to_string()))
                    .into_iter()
                    .collect();
                let plan = Plan::new(&c, &v);
                let verdict = match primary_verdict(&plan, my_tli, &published) {
                    PrimaryVerdict::Alone => "alone".to_string(),
                    PrimaryVerdict::Stale(why) => exit_reason(why.reason()),
                    PrimaryVerdict::Newer(why) => format!("newer: {why}"),
                };
                writeln!(
                    out,
                    "{promoted:?} {} {} -> {} {verdict}",
                    my_tli.map_or("?".into(), |t| t.to_string()),
                    history.unwrap_or("-"),
                    another_primary_possible(&plan),
                )
                .unwrap();
            }
        }
    }
}

/// A probe finds pg01 running as a primary (timeline 4, nothing
/// published) while no node is promoted: the cluster's records, pg01's
/// data-status × pg02's (pg02 offline, its record read from the CIB).
fn probe_records_table(out: &mut String) {
    writeln!(
        out,
        "\n# probe of pg01 a primary, nobody promoted: pg01's data-status, pg02's data-status (offline record) -> verdict"
    )
    .unwrap();
    let c = cfg(RepMode::Sync, 3);
    let statuses = [
        None,
        Some("LATEST"),
        Some("DISCONNECT"),
        Some("STREAMING|SYNC"),
        Some("STREAMING|ASYNC"),
        Some("DIVERGED"),
    ];
    for mine in statuses {
        for theirs in [None, Some("LATEST"), Some("DISCONNECT")] {
            let mut v = ClusterView::default();
            v.nodes.insert("pg01".into(), true);
            v.nodes.insert("pg02".into(), false);
            v.nodes.insert("pg03".into(), true);
            if let Some(d) = mine {
                v.attributes
                    .entry("pg01".into())
                    .or_default()
                    .insert("pgsql-data-status".into(), d.into());
            }
            let record = theirs
                .map(|d| ("pgsql-data-status".to_string(), d.to_string()))
                .into_iter()
                .collect();
            let v = v.with_offline_records([("pg02".to_string(), record)].into());
            let plan = Plan::new(&c, &v);
            let verdict = match primary_verdict(&plan, Some(4), &Default::default()) {
                PrimaryVerdict::Alone => "alone".to_string(),
                PrimaryVerdict::Stale(why) => exit_reason(why.reason()),
                PrimaryVerdict::Newer(why) => format!("newer: {why}"),
            };
            writeln!(
                out,
                "{} {} -> {verdict}",
                mine.unwrap_or("-"),
                theirs.unwrap_or("-"),
            )
            .unwrap();
        }
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
                        stop: vec![target.to_string()],
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

/// A crash lock (`Held`) and the records that name this node the holder:
/// the start gate (lock × promoted × what pg02, the only other `LATEST`,
/// records × own data-status × last postmaster ran as a standby), then
/// the standby monitor's lock release while streaming from pg02.
fn crash_lock_table(out: &mut String) {
    writeln!(out, "\n# start gate (pg01, sync mode): lock promoted pg02-acked-also-on data-status ran-as-standby | gate").unwrap();
    let c = cfg(RepMode::Sync, 3);
    let held_locks = [
        Lock::Absent,
        Lock::Held,
        Lock::CleanDemote {
            checkpoint: Lsn(0x100_0000),
            tli: 1,
        },
    ];
    let view = |promoted: Option<&str>, acked: Option<&str>, ds: &str| {
        let mut v = ClusterView::default();
        for n in &c.node_list {
            v.nodes.insert(n.clone(), true);
        }
        v.promoted = promoted.iter().map(|p| p.to_string()).collect();
        let pg02 = v.attributes.entry("pg02".into()).or_default();
        pg02.insert("pgsql-data-status".into(), "LATEST".into());
        if let Some(a) = acked {
            pg02.insert("pgsql-acked-also-on".into(), a.into());
        }
        let pg01 = v.attributes.entry("pg01".into()).or_default();
        pg01.insert("pgsql-data-status".into(), ds.into());
        pg01.insert("master-pgsql".into(), "100".into());
        v
    };
    for lock in held_locks {
        for promoted in [None, Some("pg02")] {
            for acked in [None, Some("pg01"), Some("pg03")] {
                for ds in ["STREAMING|SYNC", "DIVERGED"] {
                    for ran_as_standby in [false, true] {
                        let v = view(promoted, acked, ds);
                        let gate = match StartProtocol::gate(
                            &Plan::new(&c, &v),
                            lock,
                            "/var/lib/pgsql/tmp/PGSQL.lock",
                            ran_as_standby,
                        ) {
                            Ok((p, _)) => format!("{:?}", p.gate_allowed()),
                            Err(e) => format!("refused: {}", exit_reason(e.reason())),
                        };
                        writeln!(
                            out,
                            "{lock:?} {promoted:?} {acked:?} {ds} {ran_as_standby} | {gate}"
                        )
                        .unwrap();
                    }
                }
            }
        }
    }
    writeln!(out, "\n# standby monitor (pg01 streaming from promoted pg02): lock pg02-acked-also-on | remove lock").unwrap();
    for lock in held_locks {
        for acked in [None, Some("pg01"), Some("pg03")] {
            let v = view(Some("pg02"), acked, "STREAMING|SYNC");
            let facts = StandbyFacts {
                location: Some(Location {
                    tli: Some(2),
                    lsn: Lsn(0x300_0000),
                }),
                streaming: true,
                position_final: false,
                received_tli: Some(2),
                replay: Some(Lsn(0x300_0000)),
                lock,
                election: None,
                wal_tli: None,
                primary_history: None,
                deferred_for: EXPIRED,
                dc_idle: None,
                written_host: None,
            };
            let removes = standby_monitor(&mut Plan::new(&c, &v), &facts).map(|o| o.remove_lock);
            writeln!(out, "{lock:?} {acked:?} | {removes:?}").unwrap();
        }
    }
}

/// Quorum mode, the primary pg01's pass (three nodes, k=1, ceiling 0/200
/// known for the list): the list in effect, the record on pg01, pg02's
/// row (flushed to the ceiling, or below it, or not connected), pg03's
/// (streaming at the ceiling, or its node gone) -> writes, then the step.
fn quorum_pass_table(out: &mut String) {
    writeln!(
        out,
        "\n# quorum pass on pg01 (k=1, ceiling 0/200): list | record | pg02 | pg03 | writes | step"
    )
    .unwrap();
    let c = RepConfig {
        rep_mode: RepMode::Quorum,
        ..cfg(RepMode::Sync, 3)
    };
    let lists = [
        SyncStandbys::Async,
        SyncStandbys::Any(QuorumList::new(1, &["pg02"])),
        SyncStandbys::Any(QuorumList::new(1, &["pg02", "pg03"])),
    ];
    let records = [None, Some("1 of pg02"), Some("1 of pg02 pg03")];
    let pg02s = [Some(0x200), Some(0x100), None];
    for list in &lists {
        for record in records {
            for pg02 in pg02s {
                for pg03_here in [true, false] {
                    let mut v = ClusterView {
                        quorum: true,
                        ..ClusterView::default()
                    };
                    for n in ["pg01", "pg02"] {
                        v.nodes.insert(n.into(), true);
                    }
                    v.nodes.insert("pg03".into(), pg03_here);
                    v.unpromoted = vec!["pg02".into()];
                    if pg03_here {
                        v.unpromoted.push("pg03".into());
                    }
                    if let Some(r) = record {
                        let a = v.attributes.entry("pg01".into()).or_default();
                        a.insert("pgsql-acked-on-any".into(), r.into());
                    }
                    for n in ["pg02", "pg03"] {
                        let a = v.attributes.entry(n.into()).or_default();
                        a.insert("master-pgsql".into(), "-INFINITY".into());
                    }
                    let row = |name: &str, flush: u64| ReplicationRow {
                        application_name: name.into(),
                        state: SenderState::Streaming,
                        sync: if list.listed().contains(&name) {
                            SyncRole::Quorum
                        } else {
                            SyncRole::Async
                        },
                        flush: Some(Lsn(flush)),
                    };
                    let mut rows: Vec<ReplicationRow> =
                        pg02.map(|f| row("pg02", f)).into_iter().collect();
                    if pg03_here {
                        rows.push(row("pg03", 0x200));
                    }
                    let quorum_list = list.as_quorum();
                    let mut plan = Plan::new(&c, &v);
                    let step = control_quorum(
                        &mut plan,
                        &QuorumPassFacts {
                            rows: &rows,
                            list: &quorum_list,
                            ceiling: Some(Lsn(0x200)),
                        },
                    );
                    let step = match step {
                        QuorumStep::Record(r) if r.voters.is_empty() => "record none".to_string(),
                        QuorumStep::Record(r) => format!("record {}", r.wire()),
                        QuorumStep::SetList(l) => format!("list {}", l.value()),
                        QuorumStep::Wait(_) => "wait".into(),
                        QuorumStep::Settled => "settled".into(),
                    };
                    writeln!(
                        out,
                        "{:?} | {} | {} | {} | {} | {step}",
                        list.value(),
                        record.unwrap_or("none"),
                        pg02.map_or("none".into(), |f| format!("at {}", Lsn(f))),
                        if pg03_here { "at 0/200" } else { "gone" },
                        render(&plan.writes),
                    )
                    .unwrap();
                }
            }
        }
    }
}

/// Quorum mode, five nodes, k=2: pg01 (the last primary) gone with its
/// record `2 of pg02 pg03 pg04 pg05`; which voters published a final
/// position -> the positions the election waits for, and pg02's check at
/// promotion with those positions (pg02's own counted).
fn quorum_election_table(out: &mut String) {
    writeln!(
        out,
        "\n# quorum election (5 nodes, pg01 gone with 2 of pg02 pg03 pg04 pg05): published | awaited | pg02's promotion"
    )
    .unwrap();
    let nodes = ["pg02", "pg01", "pg03", "pg04", "pg05"];
    let c = RepConfig {
        rep_mode: RepMode::Quorum,
        quorum_standbys: 2,
        me: "pg02".into(),
        node_list: nodes.map(String::from).to_vec(),
        ..cfg(RepMode::Sync, 3)
    };
    let voters = ["pg02", "pg03", "pg04", "pg05"];
    for bits in 0u8..16 {
        let published: Vec<&str> = voters
            .iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .map(|(_, n)| *n)
            .collect();
        let mut v = ClusterView {
            quorum: true,
            ..ClusterView::default()
        };
        v.nodes.insert("pg01".into(), false);
        for n in voters {
            v.nodes.insert(n.into(), true);
            v.unpromoted.push(n.into());
        }
        let a = v.attributes.entry("pg01".into()).or_default();
        a.insert("pgsql-data-status".into(), "LATEST".into());
        a.insert(
            "pgsql-acked-on-any".into(),
            "2 of pg02 pg03 pg04 pg05".into(),
        );
        for n in &published {
            let a = v.attributes.entry(n.to_string()).or_default();
            a.insert("pgsql-xlog-loc".into(), Lsn(0x500).to_hex16());
        }
        let plan = Plan::new(&c, &v);
        let candidates = election_candidates(&plan);
        let awaited = positions_awaited(&candidates, |n| published.contains(&n));
        let at = |l: u64| Location {
            tli: Some(2),
            lsn: Lsn(l),
        };
        let peers: Vec<(String, Option<Location>)> = voters[1..]
            .iter()
            .map(|n| (n.to_string(), published.contains(n).then(|| at(0x500))))
            .collect();
        let facts = PromoteFacts {
            in_recovery: true,
            mine: Some(at(0x500)),
            peers,
            baseline: None,
            had_lock: false,
            now: 0,
        };
        let verdict = match decide_promotion(&mut Plan::new(&c, &v), &facts) {
            PromoteDecision::Go(_) => "go",
            PromoteDecision::Refuse { reason, .. } => {
                exit_reason(reason.reason());
                "refuse"
            }
            PromoteDecision::AlreadyPrimary => "primary",
        };
        writeln!(
            out,
            "{} | {} | {verdict}",
            if published.is_empty() {
                "-".into()
            } else {
                published.join(" ")
            },
            if awaited.is_empty() {
                "-".into()
            } else {
                awaited.join(" ")
            },
        )
        .unwrap();
    }
}

thread_local! {
    /// Every exit reason the tables meet, shown or not
    /// ([`exit_reasons_fit_with_worst_case_values`]).
    static EXIT_REASONS: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// An exit reason the tables meet, recorded.
fn exit_reason(reason: &str) -> String {
    EXIT_REASONS.with(|r| r.borrow_mut().push(reason.to_string()));
    reason.to_string()
}

fn all_tables() -> String {
    let mut out = String::new();
    primary_table(&mut out);
    inherited_score_table(&mut out);
    promotion_table(&mut out);
    election_table(&mut out);
    standby_table(&mut out);
    last_primary_election_table(&mut out);
    election_deferral_table(&mut out);
    divergence_table(&mut out);
    primaries_table(&mut out);
    probe_records_table(&mut out);
    notify_table(&mut out);
    crash_lock_table(&mut out);
    quorum_pass_table(&mut out);
    quorum_election_table(&mut out);
    out
}

/// `reason` as it reads with the worst-case values of a real cluster
/// where the tables have short ones: node names of 16 characters, LSNs
/// like `1F/ABCDEF01`, three-digit numbers (timelines, counts), a
/// resource named `postgresql`, a longer lock path.
pub(crate) fn widened(reason: &str) -> String {
    let mut s = reason.replace(
        "/var/lib/pgsql/tmp/PGSQL.lock",
        "/var/lib/postgresql/15/main/tmp/PGSQL.lock",
    );
    s = s.replace("pgsql-", "postgresql-");
    for n in ["pg01", "pg02", "pg03", "pg04", "pg05"] {
        // No digit: the numbers are widened next.
        s = s.replace(n, "pg-node-name-xyz");
    }
    let mut out = String::new();
    let mut rest = s.as_str();
    while let Some(at) = rest.find(|c: char| c.is_ascii_digit()) {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let hex = |t: &str| {
            t.find(|c: char| !c.is_ascii_hexdigit() || c.is_ascii_lowercase())
                .unwrap_or(t.len())
        };
        let high = hex(rest);
        let low = rest[high..].strip_prefix('/').map_or(0, hex);
        if low > 0 {
            out.push_str("1F/ABCDEF01");
            rest = &rest[high + 1 + low..];
        } else {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            out.push_str(&format!("{:0>3}", &rest[..digits]));
            rest = &rest[digits..];
        }
    }
    out + rest
}

/// Every exit reason the tables meet fits in what Pacemaker keeps
/// ([`crate::error::EXIT_REASON_MAX`]), [`widened`] to the worst case.
#[test]
fn exit_reasons_fit_with_worst_case_values() {
    assert_eq!(
        widened("diverged: at 0/5000100, past pg02's fork to timeline 2 at 0/5000028"),
        "diverged: at 1F/ABCDEF01, past pg-node-name-xyz's fork to timeline 002 at 1F/ABCDEF01"
    );
    EXIT_REASONS.with(|r| r.borrow_mut().clear());
    all_tables();
    let reasons = EXIT_REASONS.with(|r| r.take());
    let distinct: std::collections::BTreeSet<&String> = reasons.iter().collect();
    assert!(distinct.len() > 20, "{distinct:#?}");
    let long: Vec<String> = distinct
        .iter()
        .map(|r| widened(r))
        .filter(|w| w.len() > crate::error::EXIT_REASON_MAX)
        .map(|w| format!("{} bytes: {w}", w.len()))
        .collect();
    assert!(long.is_empty(), "{long:#?}");
}

#[test]
fn decision_table_matches_the_reviewed_snapshot() {
    let out = all_tables();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(SNAPSHOT);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &out).unwrap();
    }
    let reviewed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(reviewed == out, "decision table changed: run UPDATE_SNAPSHOTS=1 cargo test and review the diff of {SNAPSHOT}");
}

/// A view the property tests draw, seen from pg01 (which is online and
/// runs a standby): per node its data-status, score, `acked-also-on`
/// (an index into node_list), whether it is online, runs an instance, and
/// whether that instance failed. Nobody is promoted; the partition has
/// quorum.
fn random_view(
    c: &RepConfig,
    statuses: &[Option<&'static str>],
    scores: &[Option<&'static str>],
    acked: &[Option<usize>],
    online: &[bool],
    running: &[bool],
    failed: &[bool],
) -> ClusterView {
    let mut v = ClusterView {
        quorum: true,
        ..ClusterView::default()
    };
    for (i, n) in c.node_list.iter().enumerate() {
        let me = i == 0;
        v.nodes.insert(n.clone(), me || online[i]);
        let a = v.attributes.entry(n.clone()).or_default();
        if let Some(s) = statuses[i] {
            a.insert("pgsql-data-status".into(), s.into());
        }
        if let Some(s) = scores[i] {
            a.insert("master-pgsql".into(), s.into());
        }
        if let Some(j) = acked[i] {
            a.insert("pgsql-acked-also-on".into(), c.node_list[j].clone());
        }
        if me || running[i] {
            v.unpromoted.push(n.clone());
            if !me && failed[i] {
                v.failed.push(n.clone());
            }
        }
    }
    v
}

/// A node's published data-status, or none.
fn data_status_strategy() -> impl Strategy<Value = Option<&'static str>> {
    prop::sample::select(vec![
        None,
        Some("LATEST"),
        Some("STREAMING|SYNC"),
        Some("STREAMING|ASYNC"),
        Some("DISCONNECT"),
        Some("DIVERGED"),
    ])
}

/// A node's published score, or none.
fn score_strategy() -> impl Strategy<Value = Option<&'static str>> {
    prop::sample::select(vec![None, Some("100"), Some("1000"), Some("-INFINITY")])
}

fn state_strategy() -> impl Strategy<Value = (SenderState, SyncRole)> {
    (
        prop::sample::select(vec![
            SenderState::Streaming,
            SenderState::Catchup,
            SenderState::Startup,
            SenderState::Backup,
            SenderState::Stopping,
        ]),
        prop::sample::select(vec![
            SyncRole::Sync,
            SyncRole::Async,
            SyncRole::Potential,
            SyncRole::Quorum,
        ]),
    )
}

proptest! {
    /// The durability rule: in sync mode a standby gets or keeps a positive
    /// score only when it is the one standby named, PostgreSQL shows it
    /// SYNC, the list does not change in this pass, and it has flushed up
    /// to the ceiling (or already had its score). In async mode, the stock
    /// scores.
    #[test]
    fn positive_scores_only_for_safe_standbys(
        sync in any::<bool>(),
        nodes in 2usize..=3,
        states in prop::collection::vec(proptest::option::of((state_strategy(), 95u64..105)), 2),
        scores in prop::collection::vec(any::<bool>(), 2),
        named in prop::option::of(0usize..2),
        ceiling in prop::option::of(95u64..105),
        online in prop::collection::vec(any::<bool>(), 2),
        running in prop::collection::vec(any::<bool>(), 2),
        failed in prop::collection::vec(any::<bool>(), 2),
        quorum in any::<bool>(),
        recorded in prop::option::of(0usize..2),
        flag_proven in any::<bool>(),
    ) {
        let mode = if sync { RepMode::Sync } else { RepMode::Async };
        let c = cfg(mode, nodes);
        let mut v = ClusterView { quorum, ..ClusterView::default() };
        let others: Vec<String> = c.others().map(str::to_string).collect();
        v.promoted.push("pg01".into());
        let record = recorded.and_then(|i| others.get(i)).cloned();
        if let Some(r) = &record {
            v.attributes.entry("pg01".into()).or_default().insert("pgsql-acked-also-on".into(), r.clone());
        }
        let sync_flag = flag_proven.then_some(SyncFlag::Proven);
        for (i, n) in c.node_list.iter().enumerate() {
            let up = i == 0 || online[i - 1];
            v.nodes.insert(n.clone(), up);
            // A node that left has no transient attribute: Pacemaker
            // erased its score.
            let score = if i > 0 && scores[i - 1] { "100" } else { "-INFINITY" };
            if up {
                v.attributes.entry(n.clone()).or_default().insert("master-pgsql".into(), score.into());
            }
            if i > 0 && running[i - 1] {
                v.unpromoted.push(n.clone());
                if failed[i - 1] {
                    v.failed.push(n.clone());
                }
            }
        }
        let rows: Vec<ReplicationRow> = others.iter().zip(&states).filter_map(|(n, s)| {
            s.as_ref().map(|((a, b), f)| ReplicationRow { application_name: n.clone(), state: *a, sync: *b, flush: Some(Lsn(*f)) })
        }).collect();
        let current = match named.and_then(|i| others.get(i)) {
            Some(n) => SyncStandbys::First(vec![n.clone()]),
            None => SyncStandbys::Async,
        };
        let mut plan = Plan::new(&c, &v);
        let pass = control_standbys(&mut plan, &PrimaryFacts { rows: &rows, current: &current, ceiling: ceiling.map(Lsn), sync_flag });
        // The list goes to '' only with quorum and no named node that
        // could be promoted behind the primary's back.
        if sync && pass.change == Some(SyncStandbys::Async) {
            prop_assert!(quorum, "'' without quorum");
            if let Some(n) = current.sole() {
                prop_assert!(!v.online(n) || !v.runs_instance(n), "'' while {} may come back promotable", n);
            }
        }
        for n in &others {
            if !plan.has_positive_score(n) {
                continue;
            }
            let row = rows.iter().find(|r| &r.application_name == n);
            prop_assert!(row.is_some(), "{} is not connected and has a score", n);
            let row = row.unwrap();
            let streaming_sync = row.state == SenderState::Streaming && row.sync == SyncRole::Sync;
            // A row counts only while its node is a cluster member.
            prop_assert!(!sync || v.online(n), "{} is offline and keeps a positive score", n);
            if sync {
                let had = v.attribute(n, "master-pgsql") == Some("100");
                let caught_up = had || matches!((row.flush, ceiling), (Some(f), Some(c)) if f.0 >= c);
                prop_assert!(pass.change.is_none() && current.sole() == Some(n.as_str()) && streaming_sync && caught_up,
                    "{} keeps 100: {:?} list {:?} change {:?}", n, row, current, pass.change);
            } else {
                prop_assert!(streaming_sync || (nodes <= 2 && row.state == SenderState::Streaming && row.sync == SyncRole::Async));
            }
        }
        // The record names a standby only once it has flushed the ceiling,
        // or when its score is this agent's own: recorded already, under
        // a postmaster whose sync flag this agent proved. A score another
        // agent gave is no proof.
        let acked = plan.current("pg01", Attr::AckedAlsoOn).map(str::to_string);
        if let Some(n) = &acked {
            prop_assert!(sync, "a record in async mode");
            prop_assert!(plan.has_positive_score(n), "{} recorded without a score", n);
            let row = rows.iter().find(|r| &r.application_name == n).unwrap();
            let reached = matches!((row.flush, ceiling), (Some(f), Some(c)) if f.0 >= c);
            let ours = v.attribute(n, "master-pgsql") == Some("100")
                && record.as_deref() == Some(n.as_str())
                && flag_proven;
            prop_assert!(reached || ours, "{} recorded: {:?} ceiling {:?} record {:?} flag {}", n, row, ceiling, record, flag_proven);
        }
    }

    /// The election never lets a node that is behind another claim
    /// promotion, and the newest (ties included) always does, once every
    /// candidate published.
    #[test]
    fn only_the_newest_wins(positions in prop::collection::vec((proptest::option::of(1u32..4), 0u64..1000), 1..4)) {
        let names = ["pg01", "pg02", "pg03"];
        let sample: Sample = positions.iter().zip(names).map(|((t, l), n)| {
            (n.to_string(), Lsn(*l).to_hex16(), t.map(|t| t.to_string()))
        }).collect();
        let candidates: Vec<String> = sample.iter().map(|(n, ..)| n.clone()).collect();
        let prev = ElectionState { agreeing: 5, sample: sample.clone() };
        let all_tli = positions.iter().all(|(t, _)| t.is_some());
        let (my_t, my_l) = positions[0];
        let newest = positions[1..].iter().all(|(t, l)| {
            if all_tli { (my_t, my_l) >= (*t, *l) } else { my_l >= *l }
        });
        let step = election_step(Some(&prev), sample.clone(), &candidates, 3, "pg01");
        prop_assert_eq!(step == ElectionStep::Won, newest, "{:?} for {:?}", step, positions);
    }

    /// The deferral only withholds writes: while a promotion is pending,
    /// the note is young (or not yet made) and the DC is not known to be
    /// idle, a standby's monitor writes
    /// nothing and keeps its files; otherwise it writes, keeps or clears
    /// exactly what it would with a note that ran out. Nobody is promoted;
    /// nodes are online or not, run, failed or stopped with a fail count,
    /// with any score, data-status, record and published position.
    #[test]
    fn the_deferral_only_withholds_writes(
        statuses in prop::collection::vec(data_status_strategy(), 3),
        scores in prop::collection::vec(score_strategy(), 3),
        acked in prop::collection::vec(prop::option::of(0usize..3), 3),
        published in prop::collection::vec(prop::option::of(0u64..4), 3),
        online in prop::collection::vec(any::<bool>(), 3),
        running in prop::collection::vec(any::<bool>(), 3),
        failed in prop::collection::vec(any::<bool>(), 3),
        fail_count in prop::collection::vec(any::<bool>(), 3),
        position_final in any::<bool>(),
        at in 0u64..4,
        note in prop::option::of(0u64..40),
        dc_idle in prop::option::of(any::<bool>()),
    ) {
        let c = cfg(RepMode::Sync, 3);
        let mut v = random_view(&c, &statuses, &scores, &acked, &online, &running, &failed);
        for (i, n) in c.node_list.iter().enumerate() {
            if let Some(l) = published[i] {
                v.attributes.entry(n.clone()).or_default().insert("pgsql-xlog-loc".into(), Lsn(l << 24).to_hex16());
            }
            if i > 0 && !running[i] && fail_count[i] {
                v.fail_counts.insert(n.clone(), 1);
            }
        }
        let facts = StandbyFacts {
            position_final,
            deferred_for: note.map(std::time::Duration::from_secs),
            dc_idle,
            ..final_standby(Lsn(at << 24))
        };
        let expired = StandbyFacts { deferred_for: EXPIRED, ..facts.clone() };
        let pending = pending_promotion(&Plan::new(&c, &v)).is_some();
        let mut plan = Plan::new(&c, &v);
        let outcome = standby_monitor(&mut plan, &facts);
        let young = note.map_or(true, |s| std::time::Duration::from_secs(s) < ELECTION_DEFERRAL);
        prop_assert_eq!(asks_the_dc(&Plan::new(&c, &v), facts.deferred_for), pending && young);
        if pending && young && dc_idle != Some(true) {
            let outcome = outcome.unwrap();
            prop_assert_eq!(&plan.writes, &Vec::new());
            prop_assert_eq!(outcome.election, ElectionFiles::Keep);
            prop_assert!(!outcome.remove_lock);
            prop_assert_eq!(outcome.deferral, note.is_none().then_some(DeferralNote::Begin));
        } else {
            let mut as_expired = Plan::new(&c, &v);
            let reference = standby_monitor(&mut as_expired, &expired);
            prop_assert_eq!(&plan.writes, &as_expired.writes);
            match (outcome, reference) {
                (Ok(o), Ok(r)) => {
                    prop_assert_eq!((o.election, o.remove_lock), (r.election, r.remove_lock));
                    let cleared = note.is_some() && !pending;
                    prop_assert_eq!(o.deferral, cleared.then_some(DeferralNote::Clear));
                }
                (o, r) => prop_assert_eq!(o.err(), r.err()),
            }
        }
    }

    /// Whom the election waits for: when a node holds every acknowledged
    /// commit (the last primary, or the standby it recorded) and runs,
    /// only such nodes; when none runs, in sync mode every node that has
    /// not diverged. Never a node that says DIVERGED. Nodes are online or
    /// not, run an instance or not, failed or not.
    #[test]
    fn the_election_waits_for_a_holder_or_for_everybody(
        sync in any::<bool>(),
        statuses in prop::collection::vec(data_status_strategy(), 3),
        scores in prop::collection::vec(score_strategy(), 3),
        acked in prop::collection::vec(prop::option::of(0usize..3), 3),
        online in prop::collection::vec(any::<bool>(), 3),
        running in prop::collection::vec(any::<bool>(), 3),
        failed in prop::collection::vec(any::<bool>(), 3),
    ) {
        let mode = if sync { RepMode::Sync } else { RepMode::Async };
        let c = cfg(mode, 3);
        let v = random_view(&c, &statuses, &scores, &acked, &online, &running, &failed);
        let plan = Plan::new(&c, &v);
        let candidates = election_candidates(&plan);
        let holders = acked_holders(&plan);
        let runs = |n: &str| n == "pg01" || v.runs_standby(n);
        let diverged = |n: &str| v.attribute(n, "pgsql-data-status") == Some("DIVERGED");
        for n in &candidates {
            prop_assert!(!diverged(n), "{} diverged and is awaited", n);
        }
        let running_holders: std::collections::BTreeSet<String> = holders
            .iter()
            .filter(|h| runs(h) && !diverged(h))
            .map(|h| h.to_string())
            .collect();
        if !running_holders.is_empty() {
            let awaited: std::collections::BTreeSet<String> = candidates.iter().cloned().collect();
            prop_assert_eq!(awaited, running_holders);
        } else if sync {
            for n in c.node_list.iter().filter(|n| !diverged(n)) {
                prop_assert!(candidates.contains(n), "sync mode does not wait for {}", n);
            }
        }
    }

    /// Nobody wins while a candidate has published nothing.
    #[test]
    fn a_silent_candidate_blocks_the_election(positions in prop::collection::vec(0u64..1000, 1..3)) {
        let names = ["pg01", "pg02", "pg03"];
        let sample: Sample = positions.iter().zip(names).map(|(l, n)| (n.to_string(), Lsn(*l).to_hex16(), Some("1".into()))).collect();
        let all: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let prev = ElectionState { agreeing: 9, sample: sample.clone() };
        prop_assert!(matches!(election_step(Some(&prev), sample, &all, 3, "pg01"), ElectionStep::Counting(_)));
    }
}
