use super::*;
use crate::config::RepMode;
use crate::core::crm_mon::ClusterView;
use crate::core::lsn::Lsn;

/// The shared fixture of the replication core's tests: a configuration
/// seen from `nodes[0]`.
pub(super) fn cfg(mode: RepMode, nodes: &[&str]) -> RepConfig {
    RepConfig {
        rsc: "pgsql".into(),
        me: nodes[0].into(),
        rep_mode: mode,
        node_list: nodes.iter().map(|s| s.to_string()).collect(),
        xlog_check_count: 3,
        sync_preference: None,
    }
}

/// A cluster view (no quorum unless set) with these attributes.
pub(super) fn view(online: &[&str], offline: &[&str], attrs: &[(&str, &str, &str)]) -> ClusterView {
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

/// `v` with one attribute set (a variant of a fixture).
pub(super) fn with_attr(v: &ClusterView, node: &str, key: &str, val: &str) -> ClusterView {
    let mut v = v.clone();
    v.attributes
        .entry(node.to_string())
        .or_default()
        .insert(key.to_string(), val.to_string());
    v
}

fn row(app: &str, state: &str, sync: &str) -> ReplicationRow {
    ReplicationRow {
        application_name: app.into(),
        state: SenderState::parse(state).unwrap(),
        sync: SyncRole::parse(sync).unwrap(),
        flush: Some(Lsn(100)),
    }
}

/// The last value `plan` writes to `attr` of `node` (`Some(None)`: deleted).
pub(super) fn written(plan: &Plan, node: &str, attr: Attr) -> Option<Option<String>> {
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
    p.status("pg02", Status::HsSync); // another node's STOP: prohibited
    p.status("pg03", Status::HsSync); // offline: skipped
    p.status("pg01", Status::HsAlone); // unchanged: skipped
    p.status("pg01", Status::Pri);
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
    p.other_score("pg02", Score::CanPromote);
    p.other_score("pg03", Score::CanPromote); // no score yet: the probe seeds it
    p.other_score("pg04", Score::CanPromote); // offline
    p.own_score(Score::PromoteMe);
    p.own_score(Score::PromoteMe); // written once: only a change is written
    let targets: Vec<&str> = p.writes.iter().map(|w| w.node.as_str()).collect();
    assert_eq!(targets, ["pg02", "pg01"]);
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
    p.data_status("pg02", DataStatus::Disconnect);
    p.data_status("pg03", DataStatus::Disconnect);
    assert_eq!(p.writes.len(), 1);
    assert_eq!(
        p.writes[0].log.as_deref(),
        Some("Changing pgsql-data-status on pg02 : ->DISCONNECT.")
    );
}

fn primary_fixture() -> (RepConfig, ClusterView) {
    let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
    let mut v = view(
        &["pg01", "pg02", "pg03"],
        &[],
        &[
            ("pg02", "master-pgsql", "-INFINITY"),
            ("pg03", "master-pgsql", "-INFINITY"),
            ("pg02", "pgsql-status", "HS:alone"),
            ("pg03", "pgsql-status", "HS:alone"),
        ],
    );
    v.quorum = true;
    (c, v)
}

fn one(n: &str) -> SyncStandbys {
    SyncStandbys::First(vec![n.into()])
}

fn pass(
    p: &mut Plan,
    rows: &[ReplicationRow],
    current: &SyncStandbys,
    ceiling: Option<u64>,
) -> SyncPass {
    control_standbys(
        p,
        &PrimaryFacts {
            rows,
            current,
            ceiling: ceiling.map(Lsn),
        },
    )
}

#[test]
fn wire_values_are_the_stock_bytes() {
    assert_eq!(
        [Score::PromoteMe, Score::CanPromote, Score::CanNotPromote].map(Score::wire),
        ["1000", "100", "-INFINITY"]
    );
    for s in [
        "STREAMING|SYNC",
        "STREAMING|ASYNC",
        "STREAMING|POTENTIAL",
        "CATCHUP|ASYNC",
        "LATEST",
        "DISCONNECT",
        "DIVERGED",
    ] {
        assert_eq!(DataStatus::parse(s).unwrap().wire(), s);
    }
    assert_eq!(DataStatus::parse("STREAMING|WHATEVER"), None);
    assert_eq!(Status::HsPotential.wire(), "HS:potential");
    assert!(Score::is_positive(Some("100")) && Score::is_positive(Some("INFINITY")));
    assert!(!Score::is_positive(Some("-INFINITY")) && !Score::is_positive(Some("0")));
    assert!(!Score::is_positive(None) && !Score::is_positive(Some("x")));
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

/// The named sync standby gets its score only once it has flushed what
/// the primary had flushed after naming it; the other one is async.
#[test]
fn the_named_sync_standby_is_scored_once_caught_up() {
    let (c, v) = primary_fixture();
    let rows = [
        row("pg02", "STREAMING", "SYNC"),
        row("pg03", "STREAMING", "ASYNC"),
    ];
    let mut p = Plan::new(&c, &v);
    let out = pass(&mut p, &rows, &one("pg02"), None);
    assert_eq!(
        out,
        SyncPass {
            change: None,
            awaiting: Some("pg02".into())
        }
    );
    assert_eq!(
        written(&p, "pg02", Attr::Score),
        None,
        "no ceiling read yet"
    );
    assert_eq!(
        written(&p, "pg02", Attr::Status),
        Some(Some("HS:sync".into()))
    );
    assert_eq!(
        written(&p, "pg03", Attr::Status),
        Some(Some("HS:async".into()))
    );
    let mut p = Plan::new(&c, &v);
    let out = pass(&mut p, &rows, &one("pg02"), Some(101));
    assert_eq!(out.awaiting.as_deref(), Some("pg02"), "flushed 100 < 101");
    let mut p = Plan::new(&c, &v);
    let out = pass(&mut p, &rows, &one("pg02"), Some(100));
    assert_eq!(
        out,
        SyncPass {
            change: None,
            awaiting: None
        }
    );
    assert_eq!(written(&p, "pg02", Attr::Score), Some(Some("100".into())));
    assert_eq!(written(&p, "pg03", Attr::Score), None, "stays -INFINITY");
}

/// The issue's double fault: the sync standby's link drops while a third
/// node streams. The list moves to pg03 and in the same pass pg02 loses
/// its score, before the list changes; pg03 is not scored in that pass.
/// The ceiling read when the list named its standby stays the one the
/// standby must reach, for as long as the list is the same.
#[test]
fn the_ceiling_is_the_one_read_when_the_list_took_its_value() {
    let named = one("pg02");
    let record = ceiling_record(&named, Lsn(0x3000060));
    assert_eq!(
        recorded_ceiling(Some(&record), &named),
        Some(Lsn(0x3000060))
    );
    assert_eq!(recorded_ceiling(Some(&record), &one("pg03")), None);
    assert_eq!(recorded_ceiling(Some(&record), &SyncStandbys::Async), None);
    assert_eq!(recorded_ceiling(None, &named), None);
    assert_eq!(recorded_ceiling(Some("garbage"), &named), None);
    // Under a write load the primary's flush position moves on; the pass
    // compares with the recorded ceiling, so a standby that reached it is
    // scored although it is behind the primary now.
    let (c, v) = primary_fixture();
    let mut p = Plan::new(&c, &v);
    let mut behind = row("pg02", "STREAMING", "SYNC");
    behind.flush = Some(Lsn(0x3000060));
    let out = pass(
        &mut p,
        &[behind],
        &named,
        recorded_ceiling(Some(&record), &named).map(|l| l.0),
    );
    assert_eq!(out.awaiting, None);
    assert_eq!(written(&p, "pg02", Attr::Score), Some(Some("100".into())));
}

#[test]
fn the_primary_warns_about_weak_commits_once_per_change() {
    let w = |scope: &str, value: &str| WeakCommit {
        scope: scope.into(),
        value: value.into(),
    };
    let found = [
        w("role app in every database", "local"),
        w("the server", "on"),
        w("every role in database reports", "remote_write"),
    ];
    let (note, line) = weak_commit_warning(&found, None).unwrap();
    assert_eq!(
        note,
        "role app in every database sets local; every role in database reports sets remote_write"
    );
    assert!(line.contains("a failover can lose them"), "{line}");
    assert_eq!(weak_commit_warning(&found, Some(&note)), None, "once");
    let (note, line) = weak_commit_warning(&[w("the server", "on")], Some(&note)).unwrap();
    assert_eq!(note, "");
    assert!(line.contains("any more"), "{line}");
    assert_eq!(weak_commit_warning(&[], None), None, "nothing to say");
}

#[test]
fn scores_move_before_the_list() {
    let (c, mut v) = primary_fixture();
    v.attributes
        .get_mut("pg02")
        .unwrap()
        .insert("master-pgsql".into(), "100".into());
    let rows = [row("pg03", "STREAMING", "ASYNC")];
    let mut p = Plan::new(&c, &v);
    let out = pass(&mut p, &rows, &one("pg02"), Some(0));
    assert_eq!(out.change, Some(one("pg03")));
    assert_eq!(
        written(&p, "pg02", Attr::Score),
        Some(Some("-INFINITY".into()))
    );
    assert_eq!(
        written(&p, "pg02", Attr::DataStatus),
        Some(Some("DISCONNECT".into()))
    );
    assert_eq!(written(&p, "pg03", Attr::Score), None);
    // A node with a score that is not the one named loses it.
    let v2 = with_attr(&v, "pg03", "master-pgsql", "100");
    let rows = [
        row("pg02", "STREAMING", "SYNC"),
        row("pg03", "STREAMING", "ASYNC"),
    ];
    let mut p = Plan::new(&c, &v2);
    pass(&mut p, &rows, &one("pg02"), Some(0));
    assert_eq!(
        written(&p, "pg03", Attr::Score),
        Some(Some("-INFINITY".into()))
    );
    assert_eq!(written(&p, "pg02", Attr::Score), None, "keeps its 100");
}

/// A sync standby cut off without a reset keeps its walsender row until
/// `wal_sender_timeout`; once its node has left the cluster that row counts
/// for nothing: the list moves to a standby that streams, with no record.
#[test]
fn the_stale_row_of_a_node_that_left_does_not_keep_it_named() {
    let (c, v) = primary_fixture();
    let mut v = with_attr(&v, "pg01", "pgsql-acked-also-on", "pg02");
    v.nodes.insert("pg02".into(), false);
    v.unpromoted = vec!["pg03".into()];
    let rows = [
        row("pg02", "STREAMING", "SYNC"),
        row("pg03", "STREAMING", "ASYNC"),
    ];
    let mut p = Plan::new(&c, &v);
    let out = pass(&mut p, &rows, &one("pg02"), Some(0));
    assert_eq!(out.change, Some(one("pg03")));
    assert_eq!(
        written(&p, "pg02", Attr::DataStatus),
        Some(Some("DISCONNECT".into()))
    );
    assert_eq!(written(&p, "pg02", Attr::Status), None);
    assert_eq!(written(&p, "pg01", Attr::AckedAlsoOn), Some(None));
    // The same row while its node is a member: it stays named.
    let (c, v) = primary_fixture();
    let mut p = Plan::new(&c, &v);
    assert_eq!(pass(&mut p, &rows, &one("pg02"), Some(0)).change, None);
}

/// The primary records on its own node the standby it scored 100, in the
/// pass that scores it, and takes the record away in the pass that takes
/// the score away, before the list changes (rule 2).
#[test]
fn the_primary_records_the_standby_that_holds_every_acked_commit() {
    let (c, mut v) = primary_fixture();
    let rows = [
        row("pg02", "STREAMING", "SYNC"),
        row("pg03", "STREAMING", "ASYNC"),
    ];
    let mut p = Plan::new(&c, &v);
    pass(&mut p, &rows, &one("pg02"), Some(101));
    assert_eq!(
        written(&p, "pg01", Attr::AckedAlsoOn),
        None,
        "not caught up"
    );
    let mut p = Plan::new(&c, &v);
    pass(&mut p, &rows, &one("pg02"), Some(100));
    assert_eq!(
        written(&p, "pg01", Attr::AckedAlsoOn),
        Some(Some("pg02".into()))
    );
    assert_eq!(Attr::AckedAlsoOn.name("pgsql"), "pgsql-acked-also-on");
    assert_eq!(Attr::AckedAlsoOn.lifetime(), Lifetime::Forever);
    // Recorded and scored: written once, not on every pass.
    v.attributes
        .entry("pg01".into())
        .or_default()
        .insert("pgsql-acked-also-on".into(), "pg02".into());
    v.attributes
        .get_mut("pg02")
        .unwrap()
        .insert("master-pgsql".into(), "100".into());
    let mut p = Plan::new(&c, &v);
    pass(&mut p, &rows, &one("pg02"), None);
    assert_eq!(written(&p, "pg01", Attr::AckedAlsoOn), None);
    // pg02's link drops: the list moves to pg03, and the record goes with
    // pg02's score in that pass.
    let mut p = Plan::new(&c, &v);
    let out = pass(&mut p, &rows[1..], &one("pg02"), None);
    assert_eq!(out.change, Some(one("pg03")));
    assert_eq!(written(&p, "pg01", Attr::AckedAlsoOn), Some(None));
    // A former primary's record goes once this node is the primary (its
    // monitor about itself), and its own stays for the pass.
    let former = with_attr(&v, "pg03", "pgsql-acked-also-on", "pg02");
    let mut p = Plan::new(&c, &former);
    primary_self(&mut p);
    assert_eq!(written(&p, "pg03", Attr::AckedAlsoOn), Some(None));
    assert_eq!(written(&p, "pg01", Attr::AckedAlsoOn), None);
    // Asynchronous replication records nobody.
    let c_async = cfg(RepMode::Async, &["pg01", "pg02", "pg03"]);
    let mut p = Plan::new(&c_async, &v);
    pass(&mut p, &rows, &SyncStandbys::Async, None);
    assert_eq!(written(&p, "pg01", Attr::AckedAlsoOn), Some(None));
}

/// Seeds 1168, 1233 and 1252: the primary's PostgreSQL killed, its sync
/// standby's node lost (its score with it) before the primary's next pass.
/// The standby the last primary recorded holds every acknowledged commit:
/// its position alone is awaited, not the kept-out primary's.
#[test]
fn the_recorded_sync_standby_is_elected_without_the_kept_out_primary() {
    let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
    let mut v = view(
        &["pg01", "pg02", "pg03"],
        &[],
        &[
            ("pg01", "pgsql-data-status", "STREAMING|SYNC"),
            ("pg01", "master-pgsql", "-INFINITY"),
            ("pg02", "pgsql-data-status", "LATEST"),
            ("pg02", "pgsql-acked-also-on", "pg01"),
            ("pg03", "pgsql-data-status", "STREAMING|ASYNC"),
        ],
    );
    v.unpromoted = vec!["pg01".into(), "pg03".into()];
    v.fail_counts.insert("pg02".into(), 1);
    assert_eq!(election_candidates(&Plan::new(&c, &v)), ["pg01"]);
    assert!(holds_every_acked(&Plan::new(&c, &v), "pg02"));
    assert!(!holds_every_acked(&Plan::new(&c, &v), "pg03"));
    // The last primary runs again too: both are awaited, the newest wins.
    let mut both = v.clone();
    both.unpromoted.push("pg02".into());
    both.fail_counts.clear();
    assert_eq!(election_candidates(&Plan::new(&c, &both)), ["pg01", "pg02"]);
    // The recorded standby does not run: everyone, as before.
    let mut gone = v.clone();
    gone.unpromoted = vec!["pg03".into()];
    let c3 = cfg(RepMode::Sync, &["pg03", "pg01", "pg02"]);
    assert_eq!(
        election_candidates(&Plan::new(&c3, &gone)),
        ["pg03", "pg01", "pg02"]
    );
    // A record proves nothing unless its writer is the last primary: once
    // another node was promoted after it (a second LATEST here), or may be
    // promoted instead, everyone is awaited.
    let after = with_attr(&v, "pg03", "pgsql-data-status", "LATEST");
    assert_eq!(
        election_candidates(&Plan::new(&c, &after)),
        ["pg01", "pg02", "pg03"]
    );
    let scored = with_attr(&v, "pg03", "master-pgsql", "100");
    assert_eq!(
        election_candidates(&Plan::new(&c, &scored)),
        ["pg01", "pg02", "pg03"]
    );
    // A recorded node that says DIVERGED is never a candidate.
    let diverged = with_attr(&v, "pg01", "pgsql-data-status", "DIVERGED");
    assert_eq!(
        election_candidates(&Plan::new(&c, &diverged)),
        ["pg02", "pg03"]
    );
}

/// Nobody streams: commits keep waiting unless every named node left the
/// cluster or runs no instance, and this partition has quorum.
#[test]
fn the_list_empties_only_with_quorum_and_the_named_nodes_gone() {
    let (c, mut v) = primary_fixture();
    v.unpromoted = vec!["pg02".into(), "pg03".into()];
    let rows = [row("pg02", "CATCHUP", "POTENTIAL")];
    let mut p = Plan::new(&c, &v);
    assert_eq!(
        pass(&mut p, &rows, &one("pg03"), None).change,
        None,
        "pg03 still runs a standby"
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
    let mut running = view(&["pg01", "pg02", "pg03"], &[], &[]);
    running.quorum = true;
    running.unpromoted = vec!["pg03".into()];
    assert!(
        !may_run_async(&running, &one("pg03")),
        "pg03 runs a standby"
    );
    running.unpromoted.clear();
    assert!(
        may_run_async(&running, &one("pg03")),
        "Pacemaker stopped pg03"
    );
    let mut gone = view(&["pg01", "pg02"], &["pg03"], &[]);
    gone.unpromoted = vec!["pg02".into()];
    assert!(!may_run_async(&gone, &one("pg03")), "no quorum");
    let gone = ClusterView {
        quorum: true,
        ..gone
    };
    assert!(may_run_async(&gone, &one("pg03")));
    assert!(!may_run_async(
        &gone,
        &SyncStandbys::First(vec!["pg03".into(), "pg02".into()])
    ));
    assert_eq!(
        wanted_sync_standbys(&c, &gone, &rows, &one("pg03")),
        SyncStandbys::Async
    );
}

#[test]
fn the_named_standby_stays_while_it_streams() {
    let (c, v) = primary_fixture();
    let rows = [
        row("pg02", "STREAMING", "ASYNC"),
        row("pg03", "STREAMING", "SYNC"),
    ];
    assert_eq!(
        wanted_sync_standbys(&c, &v, &rows, &one("pg03")),
        one("pg03")
    );
    // From async or a promote's list, the first streaming one in node_list order.
    assert_eq!(
        wanted_sync_standbys(&c, &v, &rows, &SyncStandbys::Async),
        one("pg02")
    );
    let promote_list = SyncStandbys::First(vec!["pg03".into(), "pg02".into()]);
    assert_eq!(
        wanted_sync_standbys(&c, &v, &rows, &promote_list),
        one("pg02")
    );
}

#[test]
fn a_former_primary_is_preferred_as_sync_until_it_is() {
    let (mut c, v) = primary_fixture();
    c.sync_preference = Some("pg03".into());
    let rows = [
        row("pg02", "STREAMING", "SYNC"),
        row("pg03", "STREAMING", "ASYNC"),
    ];
    assert_eq!(
        wanted_sync_standbys(&c, &v, &rows, &one("pg02")),
        one("pg03")
    );
    c.sync_preference = Some("pg09".into());
    assert_eq!(
        wanted_sync_standbys(&c, &v, &rows, &one("pg02")),
        one("pg02")
    );
}

#[test]
fn a_new_primary_names_every_online_standby() {
    let (mut c, mut v) = primary_fixture();
    c.sync_preference = Some("pg03".into());
    assert_eq!(
        promotion_list(&c, &v),
        SyncStandbys::First(vec!["pg03".into(), "pg02".into()])
    );
    v.nodes.insert("pg02".into(), false);
    v.nodes.insert("pg03".into(), false);
    assert_eq!(promotion_list(&c, &v), SyncStandbys::Async);
    c.rep_mode = RepMode::Async;
    assert_eq!(promotion_list(&c, &v), SyncStandbys::Async);
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
    assert_eq!(pass(&mut p, &rows, &SyncStandbys::Async, None).change, None);
    assert_eq!(written(&p, "pg02", Attr::Score), Some(Some("100".into())));
    let three = cfg(RepMode::Async, &["pg01", "pg02", "pg03"]);
    let mut p = Plan::new(&three, &v);
    pass(&mut p, &rows, &SyncStandbys::Async, None);
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
    pass(&mut p, &rows, &SyncStandbys::Async, None);
    assert_eq!(
        written(&p, "pg02", Attr::DataStatus),
        Some(Some("DISCONNECT".into()))
    );
    assert_eq!(
        written(&p, "pg03", Attr::DataStatus),
        Some(Some("STREAMING|SYNC".into()))
    );
}

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
        why.starts_with("PostgreSQL runs as a primary here while pg02 is the promoted instance;"),
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
    v.promoted.push("pg02".into());
    assert!(another_primary_possible(&Plan::new(&c, &v)));
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

#[test]
fn probe_score_and_receiver_status() {
    let (c, mut v) = primary_fixture();
    assert_eq!(
        probe_score(&Plan::new(&c, &v), false),
        Some(Score::PromoteMe)
    );
    assert_eq!(
        probe_score(&Plan::new(&c, &v), true),
        Some(Score::CanNotPromote)
    );
    // The named sync standby keeps its score through a re-probe.
    let a = v.attributes.entry("pg01".into()).or_default();
    a.insert("master-pgsql".into(), "100".into());
    a.insert("pgsql-data-status".into(), "STREAMING|SYNC".into());
    assert_eq!(probe_score(&Plan::new(&c, &v), true), None);
    assert_eq!(receiver_status(false, false), "normal (master)");
    assert_eq!(receiver_status(true, true), "normal");
    assert_eq!(receiver_status(true, false), "ERROR");
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
        match election_step(state.as_ref(), s.clone(), &[], 3, "pg01") {
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
        election_step(Some(&prev), s.clone(), &[], 3, "pg02"),
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
            election_step(Some(&prev), s.clone(), &[], 3, "pg01"),
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
        election_step(Some(&prev), valid, &[], 3, "pg01"),
        ElectionStep::Won
    );
}

#[test]
fn election_restarts_when_positions_move() {
    let prev = ElectionState {
        agreeing: 2,
        sample: sample(&[("pg01", 100, None)]),
    };
    let step = election_step(Some(&prev), sample(&[("pg01", 101, None)]), &[], 3, "pg01");
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
        election_step(Some(&prev), s.clone(), &[], 3, "pg01"),
        ElectionStep::Lost(_)
    ));
    assert_eq!(
        election_step(Some(&prev), s, &[], 3, "pg02"),
        ElectionStep::Won
    );
    // Without every timeline, LSN alone decides (a stock agent peer).
    let s = sample(&[("pg01", 500, None), ("pg02", 400, Some(2))]);
    let prev = ElectionState {
        agreeing: 2,
        sample: s.clone(),
    };
    assert_eq!(
        election_step(Some(&prev), s, &[], 3, "pg01"),
        ElectionStep::Won
    );
}

#[test]
fn ties_all_win_and_a_missing_own_position_loses() {
    let s = sample(&[("pg01", 7, None), ("pg02", 7, None)]);
    let prev = ElectionState {
        agreeing: 2,
        sample: s.clone(),
    };
    assert_eq!(
        election_step(Some(&prev), s.clone(), &[], 3, "pg01"),
        ElectionStep::Won
    );
    assert_eq!(
        election_step(Some(&prev), s.clone(), &[], 3, "pg02"),
        ElectionStep::Won
    );
    assert!(matches!(
        election_step(Some(&prev), s, &[], 3, "pg03"),
        ElectionStep::Lost(_)
    ));
}

fn standby_facts(final_: bool) -> StandbyFacts<'static> {
    StandbyFacts {
        location: Some(Location {
            tli: Some(2),
            lsn: Lsn(500),
        }),
        streaming: !final_,
        position_final: final_,
        received_tli: Some(2),
        replay: Some(Lsn(500)),
        lock: Lock::Absent,
        election: None,
    }
}

/// One round: positions published with a timeline are final, so once
/// every candidate published, the newest wins at once.
#[test]
fn final_positions_decide_in_one_round() {
    let all: Vec<String> = ["pg01", "pg02", "pg03"].map(String::from).to_vec();
    let s = sample(&[
        ("pg01", 500, Some(2)),
        ("pg02", 400, Some(2)),
        ("pg03", 450, Some(2)),
    ]);
    assert_eq!(
        election_step(None, s.clone(), &all, 3, "pg01"),
        ElectionStep::Won
    );
    assert!(matches!(
        election_step(None, s, &all, 3, "pg03"),
        ElectionStep::Lost(_)
    ));
    // A candidate that published nothing blocks everyone.
    let s = sample(&[("pg01", 500, Some(2)), ("pg02", 400, Some(2))]);
    assert!(matches!(
        election_step(None, s, &all, 3, "pg01"),
        ElectionStep::Counting(ElectionState { agreeing: 0, .. })
    ));
}

#[test]
fn sync_mode_waits_for_every_node_async_mode_for_running_ones() {
    let c = cfg(RepMode::Sync, &["pg02", "pg01", "pg03"]);
    let mut v = view(&["pg02", "pg03"], &["pg01"], &[]);
    v.unpromoted = vec!["pg02".into(), "pg03".into()];
    assert_eq!(
        election_candidates(&Plan::new(&c, &v)),
        ["pg02", "pg01", "pg03"]
    );
    let c = cfg(RepMode::Async, &["pg02", "pg01", "pg03"]);
    assert_eq!(election_candidates(&Plan::new(&c, &v)), ["pg02", "pg03"]);
    v.unpromoted = vec!["pg02".into()];
    assert_eq!(
        election_candidates(&Plan::new(&c, &v)),
        ["pg02"],
        "pg03 runs no instance"
    );
}

/// The last primary (the only LATEST, nobody promotable instead) is the
/// only candidate awaited: a former primary kept out by its failed monitor
/// (seed 1080: killed, its successor's node crashed and came back) never
/// publishes. A score kept by a failed instance does not count.
#[test]
fn the_last_primary_is_elected_without_waiting_for_the_kept_out() {
    let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
    let mut v = view(
        &["pg01", "pg02", "pg03"],
        &[],
        &[
            ("pg01", "pgsql-data-status", "DISCONNECT"),
            ("pg02", "pgsql-data-status", "LATEST"),
            ("pg03", "pgsql-data-status", "DISCONNECT"),
        ],
    );
    v.unpromoted = vec!["pg02".into(), "pg03".into()];
    v.fail_counts.insert("pg01".into(), 1);
    assert_eq!(election_candidates(&Plan::new(&c, &v)), ["pg02"]);
    // A kept score on the failed, stopped node does not block it either.
    let kept = with_attr(&v, "pg01", "master-pgsql", "100");
    assert_eq!(election_candidates(&Plan::new(&c, &kept)), ["pg02"]);
    // A node that may be promoted instead, or a second LATEST: everyone.
    let scored = with_attr(&v, "pg03", "master-pgsql", "100");
    assert_eq!(
        election_candidates(&Plan::new(&c, &scored)),
        ["pg01", "pg02", "pg03"]
    );
    let two = with_attr(&v, "pg01", "pgsql-data-status", "LATEST");
    assert_eq!(
        election_candidates(&Plan::new(&c, &two)),
        ["pg01", "pg02", "pg03"]
    );
    // A last primary that runs no instance (its node is down): sync mode
    // waits for it as for everyone, async mode elects among the running.
    let mut down = v.clone();
    down.unpromoted = vec!["pg03".into()];
    down.nodes.insert("pg02".into(), false);
    assert_eq!(
        election_candidates(&Plan::new(&c, &down)),
        ["pg01", "pg02", "pg03"]
    );
    let c_async = cfg(RepMode::Async, &["pg01", "pg02", "pg03"]);
    assert_eq!(
        election_candidates(&Plan::new(&c_async, &down)),
        ["pg01", "pg03"]
    );
    // pg03's monitor waits for pg02 alone, and loses to it.
    let c3 = cfg(RepMode::Sync, &["pg03", "pg01", "pg02"]);
    let mut v3 = v.clone();
    for (n, loc) in [("pg02", "000000000A048178"), ("pg03", "000000000A047FB0")] {
        let a = v3.attributes.get_mut(n).unwrap();
        a.insert("pgsql-xlog-loc".into(), loc.into());
        a.insert("pgsql-xlog-tli".into(), "6".into());
    }
    let mut facts = standby_facts(true);
    facts.location = Some(Location {
        tli: Some(6),
        lsn: Lsn(0x0A047FB0),
    });
    let mut p = Plan::new(&c3, &v3);
    let out = standby_monitor(&mut p, &facts).unwrap();
    assert!(matches!(out.election, ElectionFiles::Write(_)), "{out:?}");
    assert!(p
        .infos
        .iter()
        .any(|i| i == "I don't have correct master data."));
    assert_eq!(written(&p, "pg03", Attr::Score), None);
    // pg02's own monitor wins at once.
    let c2 = cfg(RepMode::Sync, &["pg02", "pg01", "pg03"]);
    facts.location = Some(Location {
        tli: Some(6),
        lsn: Lsn(0x0A048178),
    });
    let mut p = Plan::new(&c2, &v3);
    let out = standby_monitor(&mut p, &facts).unwrap();
    assert_eq!(out.election, ElectionFiles::Clear);
    assert_eq!(written(&p, "pg02", Attr::Score), Some(Some("1000".into())));
}

/// A node that says DIVERGED is no candidate and no peer at promotion: its
/// WAL past the fork is on a timeline the cluster left. It publishes no
/// position and keeps its verdict.
#[test]
fn a_diverged_node_takes_no_part_in_elections_or_promotions() {
    let c = cfg(RepMode::Sync, &["pg02", "pg01", "pg03"]);
    let mut v = view(
        &["pg01", "pg02", "pg03"],
        &[],
        &[("pg03", "pgsql-data-status", "DIVERGED")],
    );
    v.unpromoted = vec!["pg01".into(), "pg02".into(), "pg03".into()];
    assert_eq!(election_candidates(&Plan::new(&c, &v)), ["pg02", "pg01"]);
    let c1 = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
    assert_eq!(promotion_peers(&c1, &v), ["pg02"]);
    let c3 = cfg(RepMode::Sync, &["pg03", "pg01", "pg02"]);
    let mut p = Plan::new(&c3, &v);
    let out = standby_monitor(&mut p, &standby_facts(true)).unwrap();
    assert_eq!(out.election, ElectionFiles::Keep);
    assert_eq!(written(&p, "pg03", Attr::XlogLoc), None);
    assert_eq!(written(&p, "pg03", Attr::DataStatus), None);
    assert_eq!(written(&p, "pg03", Attr::Score), None);
}

/// stop and start clear the node's score, as the stock agent does, except
/// the named sync standby's (only the primary takes that away).
#[test]
fn stop_and_start_keep_only_the_named_sync_standbys_score() {
    for (mode, data_status, score, kept) in [
        (RepMode::Sync, "STREAMING|SYNC", "100", true),
        (RepMode::Sync, "STREAMING|SYNC", "-INFINITY", false),
        (RepMode::Sync, "DISCONNECT", "100", false),
        (RepMode::Sync, "LATEST", "1000", false),
        (RepMode::Async, "STREAMING|ASYNC", "100", false),
    ] {
        let c = cfg(mode, &["pg01", "pg02"]);
        let v = view(
            &["pg01", "pg02"],
            &[],
            &[
                ("pg01", "master-pgsql", score),
                ("pg01", "pgsql-data-status", data_status),
            ],
        );
        let expect = (!kept).then_some(Score::CanNotPromote);
        assert_eq!(
            score_at_stop_or_start(&Plan::new(&c, &v)),
            expect,
            "{mode:?} {data_status} {score}"
        );
    }
}

#[test]
fn a_standby_publishes_only_a_final_position() {
    let c = cfg(RepMode::Async, &["pg01", "pg02"]);
    let v = view(&["pg01", "pg02"], &[], &[]);
    let mut p = Plan::new(&c, &v);
    let out = standby_monitor(&mut p, &standby_facts(false)).unwrap();
    assert_eq!(out.election, ElectionFiles::Keep);
    assert_eq!(written(&p, "pg01", Attr::XlogLoc), None);
    let mut p = Plan::new(&c, &v);
    let out = standby_monitor(&mut p, &standby_facts(true)).unwrap();
    assert_eq!(written(&p, "pg01", Attr::XlogTli), Some(Some("2".into())));
    // pg02 is online but runs no instance: pg01 alone decides, and wins.
    assert_eq!(out.election, ElectionFiles::Clear);
    assert_eq!(written(&p, "pg01", Attr::Score), Some(Some("1000".into())));
}

/// A position is final only once it can no longer move. After a restart
/// nothing is received yet while the startup process still replays the
/// local `pg_wal`: that position is not final, although no receiver
/// streams and replay is "past" the (unknown) receive position.
#[test]
fn a_position_is_final_only_when_it_can_no_longer_move() {
    let lsn = |n: u64| Some(Lsn(n));
    let r = |streaming, replay, received, replay_waits| Replay {
        streaming,
        replay,
        received,
        replay_waits,
    };
    // (streaming, replay, received, replay_waits) -> (final, settled)
    let cases = [
        // Streaming from a primary whose node died: settled for a
        // promotion (nothing more can arrive), never final for an election.
        (r(true, lsn(9), lsn(9), true), (false, true)),
        (r(true, lsn(5), lsn(9), false), (false, true)),
        // Restarted, replaying pg_wal: neither.
        (r(false, lsn(5), None, false), (false, false)),
        (r(true, lsn(5), None, false), (false, false)),
        // Replayed it all, no primary to ask.
        (r(false, lsn(5), None, true), (true, true)),
        (r(false, lsn(5), lsn(9), false), (false, true)), // catching up
        (r(false, lsn(9), lsn(9), false), (true, true)),
        (r(false, lsn(9), lsn(8), false), (true, true)), // from a segment start
        (r(false, None, lsn(9), false), (false, true)),
        (r(false, None, None, false), (false, false)),
    ];
    for (facts, (fin, settled)) in cases {
        assert_eq!(position_final(&facts), fin, "final: {facts:?}");
        assert_eq!(position_settled(&facts), settled, "settled: {facts:?}");
    }
}

/// A standby that does not stream clears its own score, unless it is the
/// named sync standby (nothing is acknowledged without it).
#[test]
fn a_standby_that_does_not_stream_clears_its_score() {
    for (mode, data_status, cleared) in [
        (RepMode::Async, "STREAMING|ASYNC", true),
        (RepMode::Sync, "DISCONNECT", true),
        (RepMode::Sync, "STREAMING|SYNC", false),
    ] {
        let c = cfg(mode, &["pg01", "pg02"]);
        let mut v = view(
            &["pg01", "pg02"],
            &[],
            &[
                ("pg01", "master-pgsql", "100"),
                ("pg01", "pgsql-data-status", data_status),
            ],
        );
        v.promoted.push("pg02".into());
        let mut p = Plan::new(&c, &v);
        standby_monitor(&mut p, &standby_facts(true)).unwrap();
        let expected = cleared.then(|| Some("-INFINITY".to_string()));
        assert_eq!(
            written(&p, "pg01", Attr::Score),
            expected,
            "{mode:?} {data_status}"
        );
        let mut p = Plan::new(&c, &v);
        standby_monitor(&mut p, &standby_facts(false)).unwrap();
        assert_eq!(written(&p, "pg01", Attr::Score), None, "streaming: kept");
    }
}

#[test]
fn promotion_hands_over_to_a_newer_standby_and_refuses_a_silent_one() {
    let at = |tli, lsn| {
        Some(Location {
            tli: Some(tli),
            lsn: Lsn(lsn),
        })
    };
    let mine = at(2, 500).unwrap();
    assert_eq!(promotion_check(mine, &[]), PromotionCheck::Go);
    assert_eq!(
        promotion_check(mine, &[("pg03".into(), at(2, 500))]),
        PromotionCheck::Go
    );
    assert_eq!(
        promotion_check(mine, &[("pg03".into(), at(1, 900))]),
        PromotionCheck::Go
    );
    assert!(matches!(
        promotion_check(mine, &[("pg02".into(), at(2, 400)), ("pg03".into(), at(2, 501))]),
        PromotionCheck::HandOver { to, .. } if to == "pg03"
    ));
    assert!(matches!(
        promotion_check(mine, &[("pg03".into(), None)]),
        PromotionCheck::Refuse(r) if r.contains("pg03")
    ));
    assert_eq!(Location::from_wire(&mine.to_wire()), Some(mine));
    assert_eq!(Location::from_wire("x/1"), None);
}

#[test]
fn pre_promote_baseline_check() {
    let c = cfg(RepMode::Sync, &["pg03", "pg01", "pg02"]);
    let at = |l| {
        Some(Location {
            tli: None,
            lsn: Lsn(l),
        })
    };
    assert!(newer_than_target(&c, "pg02", at(100), at(200)));
    assert!(!newer_than_target(&c, "pg02", at(300), at(200)));
    assert!(
        !newer_than_target(&c, "pg03", at(100), at(200)),
        "target is me"
    );
    assert!(!newer_than_target(&c, "pg02", None, at(200)));
    let two = cfg(RepMode::Sync, &["pg01", "pg02"]);
    assert!(!newer_than_target(&two, "pg02", at(100), at(200)));
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
fn the_lock_at_start() {
    let clean = Lock::CleanDemote {
        checkpoint: Lsn(1),
        tli: 1,
    };
    assert_eq!(start_gate(Lock::Absent, true, false), StartGate::Standby);
    assert_eq!(start_gate(Lock::Held, false, false), StartGate::Refuse);
    assert_eq!(start_gate(Lock::Held, true, true), StartGate::Refuse);
    assert_eq!(
        start_gate(Lock::Held, false, true),
        StartGate::StandbyKeepLock
    );
    assert_eq!(start_gate(clean, true, false), StartGate::StandbyThenProve);
    assert_eq!(start_gate(clean, false, false), StartGate::StandbyKeepLock);
}

#[test]
fn demote_stays_stopped_without_a_shutdown_checkpoint() {
    let s = DemoteShutdown {
        immediate: false,
        clean: true,
        checkpoint: Lsn(0x3000028),
        tli: 3,
        lock_exists: true,
    };
    assert_eq!(
        after_demote(s),
        AfterDemote::RestartAsStandby {
            record: Some("clean demote: shutdown checkpoint 0/3000028 on timeline 3\n".into())
        }
    );
    assert_eq!(
        after_demote(DemoteShutdown {
            lock_exists: false,
            ..s
        }),
        AfterDemote::RestartAsStandby { record: None }
    );
    assert_eq!(
        after_demote(DemoteShutdown {
            immediate: true,
            ..s
        }),
        AfterDemote::StayStopped
    );
    assert_eq!(
        after_demote(DemoteShutdown { clean: false, ..s }),
        AfterDemote::StayStopped
    );
}

/// The demote's steps: score and baseline, the stop, then STOP and either
/// the restart as a standby (with the clean-demote record while the lock
/// stays) or the stay behind the lock with its reason.
#[test]
fn the_demote_steps() {
    let (c, mut v) = primary_fixture();
    v.attributes
        .entry("pg01".into())
        .or_default()
        .insert("pgsql-master-baseline".into(), "0000000003000028".into());
    let mut p = Plan::new(&c, &v);
    let begin = demote_begin(&mut p);
    assert!(
        matches!(&begin[..], [DemoteStep::Records(w), DemoteStep::Stop]
        if w.len() == 2 && w[0].attr == Attr::Score && w[1].attr == Attr::MasterBaseline)
    );
    let kinds = |steps: &[DemoteStep]| -> Vec<String> {
        steps
            .iter()
            .map(|s| match s {
                DemoteStep::Records(w) => format!(
                    "records {}",
                    w.iter()
                        .map(|w| w.value.clone().unwrap_or_default())
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                DemoteStep::MarkCleanDemote(_) => "mark".into(),
                DemoteStep::Done { exit_reason } => format!("done {}", exit_reason.is_some()),
                other => format!("{other:?}"),
            })
            .collect()
    };
    let clean = DemoteShutdown {
        immediate: false,
        clean: true,
        checkpoint: Lsn(0x3000028),
        tli: 3,
        lock_exists: true,
    };
    let facts = |shutdown, no_standby_left| DemoteStopFacts {
        shutdown,
        no_standby_left,
        cluster_state: "shut down".into(),
        lock_path: "/tmp/PGSQL.lock".into(),
    };
    let after = |f: &DemoteStopFacts| kinds(&after_demote_stop(&mut Plan::new(&c, &v), f));
    assert_eq!(
        after(&facts(Some(clean), false)),
        [
            "records STOP",
            "mark",
            "StartAsStandby",
            "records HS:alone",
            "done false"
        ]
    );
    // The lock goes when no standby is left: no record is written into it.
    assert_eq!(
        after(&facts(Some(clean), true)),
        [
            "RemoveLock",
            "records STOP",
            "StartAsStandby",
            "records HS:alone",
            "done false"
        ]
    );
    let dirty = DemoteShutdown {
        clean: false,
        ..clean
    };
    assert_eq!(
        after(&facts(Some(dirty), false)),
        ["records STOP", "done true"]
    );
    assert_eq!(after(&facts(None, false)), ["records STOP", "done false"]);
    let mut p = Plan::new(&c, &v);
    assert_eq!(
        demote_stop_failed(&mut p)[0].value.as_deref(),
        Some("UNKNOWN")
    );
}

/// A crashed primary recovers in place only while it is the promoted
/// instance, with quorum, when no other node can be promoted, and not
/// again right after doing so.
#[test]
fn a_crashed_primary_recovers_in_place_only_when_nobody_else_can_be_promoted() {
    let (c, mut v) = primary_fixture();
    v.promoted = vec!["pg01".into()];
    let verdict = |v: &ClusterView, recently| recover_in_place(&Plan::new(&c, v), recently);
    assert_eq!(verdict(&v, false), Ok(()));
    assert!(verdict(&v, true).unwrap_err().contains("a short while ago"));
    let scored = with_attr(&v, "pg02", "master-pgsql", "100");
    assert_eq!(
        verdict(&scored, false),
        Err("pg02 can be promoted instead".into())
    );
    // A score kept by an instance that failed does not count: a stopped
    // one with a fail count stays stopped, a failed one is being stopped.
    let mut stopped_after_failing = scored.clone();
    stopped_after_failing.fail_counts.insert("pg02".into(), 1);
    assert_eq!(verdict(&stopped_after_failing, false), Ok(()));
    let mut failing = scored.clone();
    failing.unpromoted = vec!["pg02".into()];
    failing.failed = vec!["pg02".into()];
    assert_eq!(verdict(&failing, false), Ok(()));
    // Running with an old failure, it can still be promoted.
    let mut running = stopped_after_failing.clone();
    running.unpromoted = vec!["pg02".into()];
    assert_eq!(
        verdict(&running, false),
        Err("pg02 can be promoted instead".into())
    );
    let mut no_quorum = v.clone();
    no_quorum.quorum = false;
    assert!(verdict(&no_quorum, false).unwrap_err().contains("quorum"));
    let mut standby = v.clone();
    standby.promoted.clear();
    assert!(verdict(&standby, false)
        .unwrap_err()
        .contains("not the promoted"));
}

/// The crashed last primary: its own data-status still LATEST, nobody
/// else's, nobody scored.
#[test]
fn the_last_primary_is_known_by_its_data_status() {
    let (c, mut v) = primary_fixture();
    let last = |v: &ClusterView| last_primary(&Plan::new(&c, v));
    assert!(!last(&v), "no data-status");
    v.attributes
        .entry("pg01".into())
        .or_default()
        .insert("pgsql-data-status".into(), "LATEST".into());
    assert!(last(&v));
    let promoted_since = with_attr(&v, "pg02", "pgsql-data-status", "LATEST");
    assert!(!last(&promoted_since), "pg02 was promoted after it");
    let scored = with_attr(&v, "pg03", "master-pgsql", "100");
    assert!(!last(&scored), "pg03 can be promoted");
}

// --- diverged standbys ---------------------------------------------------------

fn history(wire: &str) -> crate::core::timeline::History {
    crate::core::timeline::History::from_wire(wire).unwrap()
}

fn at(s: &str) -> Lsn {
    s.parse().unwrap()
}

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
    let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
    let v = diverge_view(&[
        ("pg01", "master-pgsql", "100"),
        ("pg01", "pgsql-data-status", "DISCONNECT"),
    ]);
    let facts = DivergenceFacts {
        primary: "pg02",
        published: Some("2:1@0/5000028"),
        wal_tli: Some(1),
        position: Some(at("0/5000100")),
        streaming: false,
        received_tli: None,
    };
    let mut p = Plan::new(&c, &v);
    let reason = divergence_check(&mut p, &facts);
    assert_eq!(
        reason.as_deref(),
        Some(
            "diverged: this node is at 0/5000100 on timeline 1, past the fork at 0/5000028 \
             where pg02's timeline 2 began; resynchronise it (pg_rewind or a new base backup)"
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
    let full = DivergenceFacts {
        primary: "pg02",
        published: Some("2:1@0/5000028"),
        wal_tli: Some(1),
        position: Some(at("0/5000100")),
        streaming: false,
        received_tli: None,
    };
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

#[test]
fn slot_names() {
    assert_eq!(slot_name("slot", "PG-01.example"), "slot_pg_01_example");
}

mod fuzz {
    use super::super::*;
    use crate::core::lsn::Lsn;
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
            let lower = SyncStandbys::First(names.iter().map(|n| n.to_lowercase()).collect());
            let s = SyncStandbys::First(names);
            prop_assert_eq!(SyncStandbys::parse(&s.value()), Some(lower));
        }

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

// --- auto_rewind -----------------------------------------------------------------

fn control(tli: u32, checkpoint: u64, hints: bool) -> crate::core::controldata::ControlFile {
    crate::core::controldata::ControlFile {
        version: 1300,
        state: crate::core::controldata::DbState::ShutDown,
        checkpoint: Lsn(checkpoint),
        timeline: tli,
        wal_log_hints: hints,
        data_checksums: false,
    }
}

#[test]
fn who_rejoins_at_start() {
    let diverged = Some(DataStatus::Diverged);
    assert!(should_rejoin(true, Lock::Held, None, true));
    assert!(should_rejoin(true, Lock::Absent, diverged, true));
    assert!(!should_rejoin(false, Lock::Held, None, true), "opt-in");
    assert!(
        !should_rejoin(true, Lock::Held, None, false),
        "nothing to rejoin"
    );
    assert!(
        !should_rejoin(true, Lock::Absent, None, true),
        "an ordinary standby"
    );
    let clean = Lock::CleanDemote {
        checkpoint: Lsn(1),
        tli: 1,
    };
    assert!(
        !should_rejoin(true, clean, None, true),
        "a clean demote proves itself"
    );
}

fn plan_for(
    control: &crate::core::controldata::ControlFile,
    primary: &str,
    published: Option<&str>,
) -> Rejoin {
    rejoin_plan(&RejoinFacts {
        control,
        diverged: false,
        wal_tli: None,
        primary,
        published,
    })
}

/// The primary's history: timeline 2 ended at 0/5000000, timeline 3 runs.
const PRIMARY: &str = "3:1@0/3000000 2@0/5000000";

#[test]
fn a_node_past_the_fork_is_rewound_and_one_before_it_follows() {
    let fork = Lsn(0x500_0000);
    assert_eq!(
        plan_for(&control(2, 0x500_0100, true), "pg02", Some(PRIMARY)),
        Rejoin::Rewind {
            fork,
            end: Some(Lsn(0x500_0100)),
            tli: 2,
            lock: Lock::CleanDemote {
                checkpoint: fork,
                tli: 2
            },
        }
    );
    assert_eq!(
        plan_for(&control(2, 0x400_0000, false), "pg02", Some(PRIMARY)),
        Rejoin::Follow {
            lock: Lock::CleanDemote {
                checkpoint: Lsn(0x400_0000),
                tli: 2
            }
        },
        "behind the fork: no rewind, no hints needed"
    );
    assert!(matches!(
        plan_for(&control(3, 0x600_0000, false), "pg02", Some(PRIMARY)),
        Rejoin::Follow { .. }
    ));
}

/// A former primary whose WAL ended exactly at the fork: its crash recovery
/// wrote a shutdown checkpoint whose record begins at the fork, which the
/// new timeline does not hold. PostgreSQL refuses to follow from it
/// ("requested timeline 3 is not a child of this server's history"), so it
/// is rewound (found in the lab: a partitioned primary, fenced).
#[test]
fn a_checkpoint_that_begins_at_the_fork_is_past_it() {
    let fork = Lsn(0x500_0000);
    assert_eq!(
        plan_for(&control(2, 0x500_0000, true), "pg02", Some(PRIMARY)),
        Rejoin::Rewind {
            fork,
            end: Some(fork),
            tli: 2,
            lock: Lock::CleanDemote {
                checkpoint: fork,
                tli: 2
            },
        }
    );
    assert!(matches!(
        plan_for(&control(2, 0x4FF_FFD8, false), "pg02", Some(PRIMARY)),
        Rejoin::Follow { .. }
    ));
}

#[test]
fn what_a_rewind_cannot_explain_is_refused() {
    let refused = |c, published| match plan_for(&c, "pg02", published) {
        Rejoin::Refuse(why) => why,
        other => panic!("{other:?}"),
    };
    assert!(refused(control(2, 0x500_0100, false), Some(PRIMARY))
        .contains("needs wal_log_hints = on or data checksums"));
    assert!(
        refused(control(4, 0x100, true), Some(PRIMARY)).contains("newer than pg02's timeline 3")
    );
    assert!(refused(control(2, 0x100, true), Some("3:1@0/3000000"))
        .contains("timeline 2 of this node is not in pg02's history"));
    assert!(
        refused(control(2, 0x100, true), None).contains("published no readable timeline history")
    );
    assert!(refused(control(2, 0x100, true), Some("garbage")).contains("no readable"));
    let mut crashed = control(2, 0x100, true);
    crashed.state = crate::core::controldata::DbState::InProduction;
    assert!(refused(crashed, Some(PRIMARY)).contains("not consistent after crash recovery"));
}

/// A diverged standby's pg_control lags (its last restartpoint); its own
/// verdict and the timeline of its WAL decide.
#[test]
fn a_diverged_standby_is_rewound_from_the_end_of_its_timeline() {
    let c = control(2, 0x400_0000, true);
    let facts = RejoinFacts {
        control: &c,
        diverged: true,
        wal_tli: Some(2),
        primary: "pg02",
        published: Some(PRIMARY),
    };
    let fork = Lsn(0x500_0000);
    assert_eq!(
        rejoin_plan(&facts),
        Rejoin::Rewind {
            fork,
            end: None,
            tli: 2,
            lock: Lock::CleanDemote {
                checkpoint: fork,
                tli: 2
            },
        }
    );
    let c = control(2, 0x400_0000, false);
    assert!(matches!(
        rejoin_plan(&RejoinFacts {
            control: &c,
            ..facts
        }),
        Rejoin::Refuse(_)
    ));
    assert!(matches!(
        rejoin_plan(&RejoinFacts {
            wal_tli: Some(7),
            ..facts
        }),
        Rejoin::Refuse(_)
    ));
}

#[test]
fn a_primary_checkpoints_for_rewinds_only_until_its_checkpoint_is_on_its_timeline() {
    assert!(checkpoint_for_rewinds(true, 4, Some(5)), "just promoted");
    assert!(!checkpoint_for_rewinds(true, 5, Some(5)));
    assert!(!checkpoint_for_rewinds(true, 4, None), "timeline unknown");
    assert!(
        !checkpoint_for_rewinds(false, 4, Some(5)),
        "only with auto_rewind"
    );
}
