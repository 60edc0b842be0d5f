//! Proof of the cluster harness: the stock `ocf:heartbeat:pgsql` (4.12) in
//! `rep_mode=sync` on three PostgreSQL 15 nodes, driven action by action as
//! Pacemaker would: start everywhere, the election by monitor rounds,
//! notify + promote, then the primary's monitor naming a sync standby.
//! (Compiled as `cluster::stock_agent`; main.rs only declares `cluster`.)

use super::{env_refs, AgentKind, Cluster, Notify};
use crate::support::Major;

const STOCK: AgentKind = AgentKind::Stock;
/// A recurring monitor: with interval 0 the agent would run a probe.
const MONITOR: [(&str, &str); 1] = [("OCF_RESKEY_CRM_meta_interval", "4000")];
const PROMOTED_MONITOR: [(&str, &str); 2] = [
    ("OCF_RESKEY_CRM_meta_interval", "3000"),
    ("OCF_RESKEY_CRM_meta_role", "Promoted"),
];

#[test]
fn stock_agent_sync_replication_pg15() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    let nodes = c.node_names();
    let attr = |node: &str, name: &str| c.attribute(node, name);

    // (a) Every node starts as a standby and says so.
    for n in &nodes {
        let out = c.run(STOCK, n, "start", &[]);
        assert_eq!(out.rc, 0, "start {n}: {}", out.stderr);
    }
    for n in &nodes {
        assert!(c.is_running(n));
        assert_eq!(c.sql(n, "select pg_is_in_recovery()"), "t");
        assert_eq!(attr(n, "pgsql-status").as_deref(), Some("HS:alone"));
        assert_eq!(attr(n, "master-pgsql").as_deref(), Some("-INFINITY"));
        assert!(c.node(n).pgdata.join("standby.signal").exists());
    }
    println!("after start:\n{}", c.attributes_table());

    // (b) No promoted instance: monitors publish xlog-loc and, after
    // xlog_check_count (3) unchanged samples, the newest node claims 1000.
    assert_eq!(c.promoted(), None);
    let mut winner = None;
    for round in 1..=8 {
        for n in &nodes {
            let out = c.run(STOCK, n, "monitor", &MONITOR);
            assert_eq!(out.rc, 0, "monitor {n}: {}", out.stderr);
        }
        winner = nodes
            .iter()
            .find(|n| attr(n, "master-pgsql").as_deref() == Some("1000"));
        if winner.is_some() {
            // Round xlog_check_count + 1 at the earliest; later when a
            // position moved while the standbys started.
            assert!(
                round >= 4,
                "stock claimed the master right in round {round}"
            );
            break;
        }
    }
    let winner = *winner.expect("no node got master-pgsql=1000");
    for n in &nodes {
        assert!(attr(n, "pgsql-xlog-loc").is_some_and(|l| l.len() == 16));
    }
    println!("election won by {winner}:\n{}", c.attributes_table());

    // (c) Promote it as Pacemaker would: pre-notify, promote, post-notify.
    c.set_primary_target(winner);
    let others: Vec<&str> = nodes.iter().copied().filter(|n| *n != winner).collect();
    let pre = Notify {
        kind: "pre",
        operation: "promote",
        promote: &[winner],
        active: &nodes,
        unpromoted: &nodes,
        all: &nodes,
        ..Notify::default()
    }
    .env();
    for n in &nodes {
        let out = c.run(STOCK, n, "notify", &env_refs(&pre));
        assert_eq!(out.rc, 0, "pre-promote notify {n}: {}", out.stderr);
    }
    let out = c.run(STOCK, winner, "promote", &[]);
    assert_eq!(out.rc, 0, "promote {winner}: {}", out.stderr);
    c.set_promoted(Some(winner));
    let post = Notify {
        kind: "post",
        operation: "promote",
        promote: &[winner],
        active: &nodes,
        promoted: &[winner],
        unpromoted: &others,
        all: &nodes,
        ..Notify::default()
    }
    .env();
    for n in &nodes {
        let out = c.run(STOCK, n, "notify", &env_refs(&post));
        assert_eq!(out.rc, 0, "post-promote notify {n}: {}", out.stderr);
    }
    assert_eq!(c.sql(winner, "select pg_is_in_recovery()"), "f");
    assert!(c.node(winner).tmpdir.join("PGSQL.lock").exists());

    // Standbys that were not already streaming from the winner must be
    // restarted through the agent to pick up the new primary_conninfo.
    c.repoint_standbys(STOCK);

    let out = c.run(STOCK, winner, "monitor", &PROMOTED_MONITOR);
    assert_eq!(out.rc, 8, "primary monitor: {}", out.stderr);
    for n in &nodes {
        if n != &winner {
            let out = c.run(STOCK, n, "monitor", &MONITOR);
            assert_eq!(out.rc, 0, "standby monitor {n}: {}", out.stderr);
        }
    }
    for n in &nodes {
        assert_eq!(c.is_streaming(n), n != &winner, "{n} streaming");
    }
    let attrs = c.attributes();
    println!("after promotion of {winner}:\n{}", c.attributes_table());

    let get = |n: &str, name: &str| attrs[&(n.to_string(), name.to_string())].1.clone();
    let life = |n: &str, name: &str| attrs[&(n.to_string(), name.to_string())].0.clone();
    assert_eq!(get(winner, "pgsql-status"), "PRI");
    assert_eq!(get(winner, "pgsql-data-status"), "LATEST");
    assert_eq!(get(winner, "master-pgsql"), "1000");
    assert_eq!(life(winner, "pgsql-data-status"), "forever");
    assert_eq!(life(winner, "pgsql-status"), "reboot");

    // Stock 4.12 names exactly one sync standby; the other stays async.
    let standbys = &others;
    let mut seen: Vec<(String, String, String)> = standbys
        .iter()
        .map(|n| {
            (
                get(n, "pgsql-data-status"),
                get(n, "pgsql-status"),
                get(n, "master-pgsql"),
            )
        })
        .collect();
    seen.sort();
    let expect = |d: &str, s: &str, m: &str| (d.to_string(), s.to_string(), m.to_string());
    assert_eq!(
        seen,
        vec![
            expect("STREAMING|ASYNC", "HS:async", "-INFINITY"),
            expect("STREAMING|SYNC", "HS:sync", "100"),
        ]
    );
    let sync = standbys
        .iter()
        .find(|n| get(n, "pgsql-status") == "HS:sync")
        .unwrap();
    let rep_mode = std::fs::read_to_string(c.node(winner).tmpdir.join("rep_mode.conf")).unwrap();
    assert_eq!(
        rep_mode.trim(),
        format!("synchronous_standby_names = '\"{sync}\"'")
    );
    assert_eq!(
        c.sql(winner, "show synchronous_standby_names"),
        format!("\"{sync}\"")
    );
}

/// The CIB plumbing on its own: where `crm_attribute` writes with
/// `CIB_file`, and what `set_promoted` / `set_online` do to crm_mon.
#[test]
fn stock_agent_harness_cib_plumbing() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02"]);
    let cib = [("CIB_file", c.cib.to_str().unwrap())];
    for (life, name) in [("reboot", "r-attr"), ("forever", "f-attr")] {
        let ok = std::process::Command::new("crm_attribute")
            .args(["-l", life, "-N", "pg02", "-n", name, "-v", "x y"])
            .envs(cib)
            .status()
            .unwrap();
        assert!(ok.success());
    }
    let attrs = c.attributes();
    let key = |n: &str| ("pg02".to_string(), n.to_string());
    assert_eq!(attrs[&key("r-attr")], ("reboot".into(), "x y".into()));
    assert_eq!(attrs[&key("f-attr")], ("forever".into(), "x y".into()));
    // The raw file: reboot in status/transient_attributes, forever in nodes.
    let xml = std::fs::read_to_string(&c.cib).unwrap();
    let status = xml.find("<status").unwrap();
    assert!(xml.find("name=\"r-attr\"").unwrap() > status);
    assert!(xml.find("name=\"f-attr\"").unwrap() < status);

    c.set_promoted(Some("pg02"));
    assert_eq!(c.promoted().as_deref(), Some("pg02"));
    c.set_promoted(Some("pg01"));
    c.set_promoted(None);
    // A node leaving loses its transient attributes, not its forever ones.
    c.set_online("pg02", false);
    assert!(!c.is_online("pg02"));
    assert_eq!(c.attribute("pg02", "r-attr"), None);
    assert_eq!(c.attribute("pg02", "f-attr").as_deref(), Some("x y"));
    c.set_online("pg02", true);

    // Per-cluster parameter overrides, and our binary through the same env.
    c.set_param("rep_mode", "async");
    assert_eq!(c.env("pg01")["OCF_RESKEY_rep_mode"], "async");
    c.set_primary_target("pg02");
    let port = c.node("pg02").port;
    assert_eq!(
        c.env("pg01")["OCF_RESKEY_primary_conninfo_opt"],
        format!("host=127.0.0.1 port={port}")
    );
    let meta = c.run(AgentKind::Ours, "pg01", "meta-data", &[]);
    assert_eq!(meta.rc, 0);
    assert!(meta.stdout.contains("<resource-agent"));
    assert!(!c.is_running("pg01") && !c.is_streaming("pg01"));
}
