use super::*;

fn cfg(mode: RepMode, nodes: &[&str]) -> RepConfig {
    RepConfig {
        rsc: "pgsql".into(),
        me: nodes[0].into(),
        rep_mode: mode,
        node_list: nodes.iter().map(|s| s.to_string()).collect(),
        xlog_check_count: 3,
        sync_preference: None,
    }
}

fn view(online: &[&str], offline: &[&str], attrs: &[(&str, &str, &str)]) -> ClusterView {
    let mut v = ClusterView::default();
    for n in online {
        v.nodes.insert(n.to_string(), true);
    }
    for n in offline {
        v.nodes.insert(n.to_string(), false);
    }
    for (n, k, val) in attrs {
        v.attributes
            .entry(n.to_string())
            .or_default()
            .insert(k.to_string(), val.to_string());
    }
    v
}

fn row(app: &str, state: &str, sync: &str) -> ReplicationRow {
    ReplicationRow {
        application_name: app.into(),
        state: state.into(),
        sync_state: sync.into(),
    }
}

fn written(plan: &Plan, node: &str, attr: Attr) -> Option<Option<String>> {
    plan.writes
        .iter()
        .rev()
        .find(|w| w.node == node && w.attr == attr)
        .map(|w| w.value.clone())
}

#[test]
fn attribute_names_and_lifetimes_match_the_stock_agent() {
    assert_eq!(Attr::Status.name("pgsql"), "pgsql-status");
    assert_eq!(Attr::DataStatus.name("pgsql"), "pgsql-data-status");
    assert_eq!(Attr::XlogLoc.name("pgsql"), "pgsql-xlog-loc");
    assert_eq!(Attr::MasterBaseline.name("pgsql"), "pgsql-master-baseline");
    assert_eq!(Attr::Score.name("pgsql"), "master-pgsql");
    assert_eq!(Attr::DataStatus.lifetime(), Lifetime::Forever);
    for a in [
        Attr::Status,
        Attr::XlogLoc,
        Attr::XlogTli,
        Attr::MasterBaseline,
        Attr::Score,
    ] {
        assert_eq!(a.lifetime(), Lifetime::Reboot);
    }
}

#[test]
fn status_guards() {
    let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
    let v = view(
        &["pg01", "pg02"],
        &["pg03"],
        &[
            ("pg02", "pgsql-status", "STOP"),
            ("pg01", "pgsql-status", "HS:alone"),
        ],
    );
    let mut p = Plan::new(&c, &v);
    p.status("pg02", status::HS_SYNC); // another node's STOP: prohibited
    p.status("pg03", status::HS_SYNC); // offline: skipped
    p.status("pg01", status::HS_ALONE); // unchanged: skipped
    p.status("pg01", status::PRI);
    assert_eq!(p.writes.len(), 1, "{:?}", p.writes);
    assert_eq!(
        p.writes[0].log.as_deref(),
        Some("Changing pgsql-status on pg01 : HS:alone->PRI.")
    );
    assert_eq!(
        p.warnings,
        ["Changing pgsql-status on pg02 : STOP->HS:sync by pg01 is prohibited."]
    );
}

#[test]
fn score_guards_for_other_nodes() {
    let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03", "pg04"]);
    let v = view(
        &["pg01", "pg02", "pg03"],
        &["pg04"],
        &[
            ("pg02", "master-pgsql", "-INFINITY"),
            ("pg04", "master-pgsql", "-INFINITY"),
        ],
    );
    let mut p = Plan::new(&c, &v);
    p.other_score("pg02", CAN_PROMOTE);
    p.other_score("pg03", CAN_PROMOTE); // no score yet: the probe seeds it
    p.other_score("pg04", CAN_PROMOTE); // offline
    p.own_score(PROMOTE_ME);
    p.own_score(PROMOTE_ME); // own score is always written
    let targets: Vec<&str> = p.writes.iter().map(|w| w.node.as_str()).collect();
    assert_eq!(targets, ["pg02", "pg01", "pg01"]);
    assert_eq!(
        p.writes[0].log.as_deref(),
        Some("Changing pgsql master score on pg02 : -INFINITY->100.")
    );
}

#[test]
fn data_status_is_written_for_offline_nodes_but_not_unknown_ones() {
    let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
    let v = view(&["pg01"], &["pg02"], &[]);
    let mut p = Plan::new(&c, &v);
    p.data_status("pg02", data::DISCONNECT);
    p.data_status("pg03", data::DISCONNECT);
    assert_eq!(p.writes.len(), 1);
    assert_eq!(
        p.writes[0].log.as_deref(),
        Some("Changing pgsql-data-status on pg02 : ->DISCONNECT.")
    );
}

fn primary_fixture() -> (RepConfig, ClusterView) {
    let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
    let v = view(
        &["pg01", "pg02", "pg03"],
        &[],
        &[
            ("pg02", "master-pgsql", "-INFINITY"),
            ("pg03", "master-pgsql", "-INFINITY"),
            ("pg02", "pgsql-status", "HS:alone"),
            ("pg03", "pgsql-status", "HS:alone"),
        ],
    );
    (c, v)
}

#[test]
fn the_primary_clears_stale_election_positions() {
    let (c, mut v) = primary_fixture();
    v.attributes
        .entry("pg03".into())
        .or_default()
        .insert("pgsql-xlog-loc".into(), "0000000004023E30".into());
    let mut p = Plan::new(&c, &v);
    primary_self(&mut p);
    assert_eq!(written(&p, "pg03", Attr::XlogLoc), Some(None));
    assert_eq!(
        written(&p, "pg02", Attr::XlogLoc),
        None,
        "nothing to delete"
    );
    assert_eq!(written(&p, "pg01", Attr::Status), Some(Some("PRI".into())));
    assert_eq!(
        written(&p, "pg01", Attr::DataStatus),
        Some(Some("LATEST".into()))
    );
}

#[test]
fn sync_and_potential_standbys() {
    let (c, v) = primary_fixture();
    let mut p = Plan::new(&c, &v);
    let rows = [
        row("pg02", "STREAMING", "SYNC"),
        row("pg03", "STREAMING", "POTENTIAL"),
    ];
    let current = SyncStandbys::First(vec!["pg02".into(), "pg03".into()]);
    assert_eq!(control_standbys(&mut p, &rows, &current), None);
    assert_eq!(
        written(&p, "pg02", Attr::DataStatus),
        Some(Some("STREAMING|SYNC".into()))
    );
    assert_eq!(written(&p, "pg02", Attr::Score), Some(Some("100".into())));
    assert_eq!(
        written(&p, "pg02", Attr::Status),
        Some(Some("HS:sync".into()))
    );
    assert_eq!(
        written(&p, "pg03", Attr::DataStatus),
        Some(Some("STREAMING|POTENTIAL".into()))
    );
    assert_eq!(written(&p, "pg03", Attr::Score), None, "already -INFINITY");
    assert_eq!(
        written(&p, "pg03", Attr::Status),
        Some(Some("HS:potential".into()))
    );
}

#[test]
fn first_streaming_standby_becomes_sync_from_async() {
    let (c, v) = primary_fixture();
    let mut p = Plan::new(&c, &v);
    let rows = [
        row("pg03", "STREAMING", "ASYNC"),
        row("pg02", "STREAMING", "ASYNC"),
    ];
    let wanted = control_standbys(&mut p, &rows, &SyncStandbys::Async).unwrap();
    assert_eq!(
        wanted,
        SyncStandbys::First(vec!["pg02".into(), "pg03".into()])
    );
    assert_eq!(
        written(&p, "pg02", Attr::Status),
        Some(Some("HS:async".into()))
    );
    assert_eq!(
        written(&p, "pg02", Attr::Score),
        None,
        "-INFINITY until it is really SYNC"
    );
}

#[test]
fn the_current_sync_standby_stays_first() {
    let (c, _) = primary_fixture();
    // pg02 died, PostgreSQL made pg03 synchronous: keep it there.
    let rows = [row("pg03", "STREAMING", "SYNC")];
    assert_eq!(
        wanted_sync_standbys(&c, &rows),
        SyncStandbys::First(vec!["pg03".into(), "pg02".into()])
    );
    // pg02 is back: it is potential behind pg03.
    let rows = [
        row("pg03", "STREAMING", "SYNC"),
        row("pg02", "STREAMING", "POTENTIAL"),
    ];
    assert_eq!(
        wanted_sync_standbys(&c, &rows),
        SyncStandbys::First(vec!["pg03".into(), "pg02".into()])
    );
}

#[test]
fn nobody_streaming_means_async_and_disconnect() {
    let (c, v) = primary_fixture();
    let mut p = Plan::new(&c, &v);
    let current = SyncStandbys::First(vec!["pg02".into(), "pg03".into()]);
    let rows = [row("pg02", "CATCHUP", "POTENTIAL")];
    assert_eq!(
        control_standbys(&mut p, &rows, &current),
        Some(SyncStandbys::Async)
    );
    assert_eq!(
        written(&p, "pg02", Attr::DataStatus),
        Some(Some("CATCHUP|POTENTIAL".into()))
    );
    assert_eq!(
        written(&p, "pg02", Attr::Status),
        Some(Some("HS:connected".into()))
    );
    assert_eq!(
        written(&p, "pg03", Attr::DataStatus),
        Some(Some("DISCONNECT".into()))
    );
    assert_eq!(
        written(&p, "pg03", Attr::Status),
        None,
        "DISCONNECT leaves status alone"
    );
}

#[test]
fn async_mode_scores_depend_on_the_node_count() {
    let rows = [row("pg02", "STREAMING", "ASYNC")];
    let two = cfg(RepMode::Async, &["pg01", "pg02"]);
    let v = view(
        &["pg01", "pg02"],
        &[],
        &[("pg02", "master-pgsql", "-INFINITY")],
    );
    let mut p = Plan::new(&two, &v);
    assert_eq!(control_standbys(&mut p, &rows, &SyncStandbys::Async), None);
    assert_eq!(written(&p, "pg02", Attr::Score), Some(Some("100".into())));
    let three = cfg(RepMode::Async, &["pg01", "pg02", "pg03"]);
    let mut p = Plan::new(&three, &v);
    control_standbys(&mut p, &rows, &SyncStandbys::Async);
    assert_eq!(
        written(&p, "pg02", Attr::Score),
        None,
        "stays -INFINITY with 3 nodes"
    );
}

#[test]
fn application_names_match_exactly_ignoring_case() {
    let (c, v) = primary_fixture();
    let mut p = Plan::new(&c, &v);
    // "pg020" must not count as pg02; "PG03" is pg03.
    let rows = [
        row("pg020", "STREAMING", "SYNC"),
        row("PG03", "STREAMING", "SYNC"),
    ];
    control_standbys(&mut p, &rows, &SyncStandbys::Async);
    assert_eq!(
        written(&p, "pg02", Attr::DataStatus),
        Some(Some("DISCONNECT".into()))
    );
    assert_eq!(
        written(&p, "pg03", Attr::DataStatus),
        Some(Some("STREAMING|SYNC".into()))
    );
}

#[test]
fn sync_standby_names_round_trip() {
    for s in [
        SyncStandbys::Async,
        SyncStandbys::First(vec!["pg02".into()]),
        SyncStandbys::First(vec!["pg02".into(), "node\"x".into()]),
    ] {
        assert_eq!(
            SyncStandbys::parse(&s.value()),
            Some(s.clone()),
            "{}",
            s.value()
        );
    }
    assert_eq!(
        SyncStandbys::First(vec!["a".into(), "b".into()]).value(),
        r#"FIRST 1 ("a", "b")"#
    );
    // The stock agent's single name.
    assert_eq!(
        SyncStandbys::parse(r#""node2""#),
        Some(SyncStandbys::First(vec!["node2".into()]))
    );
    assert_eq!(SyncStandbys::parse("FIRST 1 ("), None);
}

fn sample(entries: &[(&str, u64, Option<u32>)]) -> Sample {
    entries
        .iter()
        .map(|(n, l, t)| (n.to_string(), Lsn(*l).to_hex16(), t.map(|t| t.to_string())))
        .collect()
}

#[test]
fn election_decides_after_check_count_unchanged_rounds() {
    let s = sample(&[("pg01", 100, None), ("pg02", 90, None)]);
    let mut state: Option<ElectionState> = None;
    let mut rounds = 0;
    loop {
        rounds += 1;
        match election_step(state.as_ref(), s.clone(), 3, "pg01") {
            ElectionStep::Counting(st) => state = Some(st),
            ElectionStep::Won => break,
            ElectionStep::Lost(_) => panic!("pg01 is newest"),
        }
    }
    assert_eq!(
        rounds, 4,
        "the stock agent decides on round xlog_check_count + 1"
    );
    let prev = ElectionState {
        agreeing: 2,
        sample: s.clone(),
    };
    assert!(matches!(
        election_step(Some(&prev), s.clone(), 3, "pg02"),
        ElectionStep::Lost(_)
    ));
}

/// A position that cannot be read may be the newest: never decide over
/// it (the attributes are written by any agent, or by hand).
#[test]
fn an_unreadable_peer_position_blocks_the_decision() {
    let valid = sample(&[("pg01", 100, Some(1)), ("pg02", 90, Some(1))]);
    let mut hex = valid.clone();
    hex[1].1 = "ZZZZ-not-hex".into();
    let mut tli = valid.clone();
    tli[1].2 = Some("9x".into());
    let mut short = valid.clone();
    short[1].1 = "5A".into();
    for s in [hex, tli, short] {
        let prev = ElectionState {
            agreeing: 5,
            sample: s.clone(),
        };
        assert_eq!(
            election_step(Some(&prev), s.clone(), 3, "pg01"),
            ElectionStep::Counting(ElectionState {
                agreeing: 6,
                sample: s.clone()
            }),
            "{s:?}"
        );
    }
    let prev = ElectionState {
        agreeing: 5,
        sample: valid.clone(),
    };
    assert_eq!(
        election_step(Some(&prev), valid, 3, "pg01"),
        ElectionStep::Won
    );
}

#[test]
fn election_restarts_when_positions_move() {
    let prev = ElectionState {
        agreeing: 2,
        sample: sample(&[("pg01", 100, None)]),
    };
    let step = election_step(Some(&prev), sample(&[("pg01", 101, None)]), 3, "pg01");
    assert!(matches!(
        step,
        ElectionStep::Counting(ElectionState { agreeing: 0, .. })
    ));
}

#[test]
fn election_compares_timelines_first() {
    // pg02 has a lower LSN on a newer timeline: it wins, pg01 loses.
    let s = sample(&[("pg01", 500, Some(1)), ("pg02", 400, Some(2))]);
    let prev = ElectionState {
        agreeing: 2,
        sample: s.clone(),
    };
    assert!(matches!(
        election_step(Some(&prev), s.clone(), 3, "pg01"),
        ElectionStep::Lost(_)
    ));
    assert_eq!(election_step(Some(&prev), s, 3, "pg02"), ElectionStep::Won);
    // Without every timeline, LSN alone decides (a stock agent peer).
    let s = sample(&[("pg01", 500, None), ("pg02", 400, Some(2))]);
    let prev = ElectionState {
        agreeing: 2,
        sample: s.clone(),
    };
    assert_eq!(election_step(Some(&prev), s, 3, "pg01"), ElectionStep::Won);
}

#[test]
fn ties_all_win_and_a_missing_own_position_loses() {
    let s = sample(&[("pg01", 7, None), ("pg02", 7, None)]);
    let prev = ElectionState {
        agreeing: 2,
        sample: s.clone(),
    };
    assert_eq!(
        election_step(Some(&prev), s.clone(), 3, "pg01"),
        ElectionStep::Won
    );
    assert_eq!(
        election_step(Some(&prev), s.clone(), 3, "pg02"),
        ElectionStep::Won
    );
    assert!(matches!(
        election_step(Some(&prev), s, 3, "pg03"),
        ElectionStep::Lost(_)
    ));
}

#[test]
fn data_status_gate() {
    for (mode, ds, ok) in [
        (RepMode::Sync, None, true),
        (RepMode::Sync, Some("LATEST"), true),
        (RepMode::Sync, Some("STREAMING|SYNC"), true),
        (RepMode::Sync, Some("STREAMING|ASYNC"), false),
        (RepMode::Sync, Some("STREAMING|POTENTIAL"), false),
        (RepMode::Sync, Some("DISCONNECT"), false),
        (RepMode::Async, Some("STREAMING|ASYNC"), true),
        (RepMode::Async, Some("DISCONNECT"), false),
        (RepMode::Async, Some("garbage"), false),
    ] {
        assert_eq!(data_allows_promotion(mode, ds), ok, "{mode:?} {ds:?}");
    }
}

#[test]
fn pre_promote_baseline_check() {
    let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
    let at = |l: u64| {
        Some(Location {
            tli: None,
            lsn: Lsn(l),
        })
    };
    assert!(newer_than_target(&c, "pg02", at(10), at(20)));
    assert!(!newer_than_target(&c, "pg02", at(20), at(20)));
    assert!(!newer_than_target(&c, "pg02", None, at(20)));
    assert!(!newer_than_target(&c, "pg02", at(10), None));
    assert!(
        !newer_than_target(&c, "pg01", at(10), at(20)),
        "the target itself"
    );
    let two = cfg(RepMode::Sync, &["pg01", "pg02"]);
    assert!(
        !newer_than_target(&two, "pg02", at(10), at(20)),
        "only with 3+ nodes"
    );
}

#[test]
fn lock_contents() {
    assert_eq!(Lock::parse(None), Lock::Absent);
    assert_eq!(Lock::parse(Some("")), Lock::Held);
    assert_eq!(Lock::parse(Some("garbage")), Lock::Held);
    let text = Lock::clean_demote_text(Lsn(0x40C_9EE0), 4);
    assert_eq!(
        text,
        "clean demote: shutdown checkpoint 0/40C9EE0 on timeline 4\n"
    );
    assert_eq!(
        Lock::parse(Some(&text)),
        Lock::CleanDemote {
            checkpoint: Lsn(0x40C_9EE0),
            tli: 4
        }
    );
    assert_eq!(
        Lock::parse(Some("clean demote: shutdown checkpoint zz on timeline 4")),
        Lock::Held
    );
}

#[test]
fn only_streaming_past_the_checkpoint_on_a_newer_timeline_proves_safety() {
    let lock = Lock::CleanDemote {
        checkpoint: Lsn(100),
        tli: 4,
    };
    assert!(lock.proven_not_ahead(true, Some(5), Some(Lsn(101))));
    assert!(
        !lock.proven_not_ahead(false, Some(5), Some(Lsn(101))),
        "not streaming"
    );
    assert!(
        !lock.proven_not_ahead(true, Some(4), Some(Lsn(101))),
        "same timeline"
    );
    assert!(
        !lock.proven_not_ahead(true, Some(5), Some(Lsn(100))),
        "not past the checkpoint"
    );
    assert!(!lock.proven_not_ahead(true, None, Some(Lsn(101))));
    assert!(
        !Lock::Held.proven_not_ahead(true, Some(9), Some(Lsn(999))),
        "a crashed primary's lock"
    );
    assert!(!Lock::Absent.proven_not_ahead(true, Some(9), Some(Lsn(999))));
}

#[test]
fn a_former_primary_is_preferred_as_sync_until_it_is() {
    let mut c = cfg(RepMode::Sync, &["pg02", "pg01", "pg03"]);
    c.sync_preference = Some("pg01".into());
    // pg03 streams first and is sync; pg01 goes first in the list anyway.
    let rows = [row("pg03", "STREAMING", "SYNC")];
    assert_eq!(
        wanted_sync_standbys(&c, &rows),
        SyncStandbys::First(vec!["pg01".into(), "pg03".into()])
    );
    // A preference for a node outside node_list is ignored.
    c.sync_preference = Some("pg09".into());
    assert_eq!(
        wanted_sync_standbys(&c, &rows),
        SyncStandbys::First(vec!["pg03".into(), "pg01".into()])
    );
}

#[test]
fn slot_names() {
    assert_eq!(slot_name("slot", "PG-01.example"), "slot_pg_01_example");
}

mod fuzz {
    use super::super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn fuzz_sync_standbys_arbitrary_text_never_panics(s in ".{0,40}") {
            if let Some(SyncStandbys::First(names)) = SyncStandbys::parse(&s) {
                prop_assert!(names.iter().all(|n| !n.is_empty()));
            }
        }

        /// parse(value(x)) == x for names without a comma or blanks at
        /// either end (quotes included: they are doubled).
        #[test]
        fn fuzz_sync_standbys_value_parse_round_trip(
            names in prop::collection::vec("[a-zA-Z0-9_.\"()İ-]([a-zA-Z0-9_. \"()-]{0,8}[a-zA-Z0-9_.\"()-])?", 1..5),
        ) {
            let s = SyncStandbys::First(names);
            prop_assert_eq!(SyncStandbys::parse(&s.value()), Some(s));
        }

        #[test]
        fn fuzz_lock_parse(text in prop::option::of(".{0,80}"), lsn: u64, tli: u32) {
            let _ = Lock::parse(text.as_deref());
            prop_assert_eq!(
                Lock::parse(Some(&Lock::clean_demote_text(Lsn(lsn), tli))),
                Lock::CleanDemote { checkpoint: Lsn(lsn), tli }
            );
        }
    }
}
