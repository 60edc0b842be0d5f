//! End to end: the three-node lab (`lab/cluster.sh`), real Corosync and
//! Pacemaker in private namespaces, PostgreSQL 15 through the installed
//! agent. One lab, the scenarios in sequence (a lab takes a minute to build
//! on two cores): steady state, switchover there and back, loss and return
//! of the sync standby, failover after kill -9 of the primary.

use crate::haproxy::Routed;
use crate::lab::{healthy, text, Lab, SharedLab, RSC};
use crate::load::{
    assert_no_loss, create_faults_table, longest_commit, now_ms, Attempt, Load, Via,
};
use crate::support::wait_until;
use rustpg::core::replication::Status;
use std::time::{Duration, Instant};

fn count_rows(lab: &Lab, node: &str) -> i64 {
    lab.sql_on(node, "select count(*) from e2e")
        .parse()
        .unwrap()
}

/// Every row the client saw committed is on every node given.
fn all_rows_everywhere(lab: &Lab, nodes: &[String], expected: i64) {
    for n in nodes {
        let start = Instant::now();
        while count_rows(lab, n) != expected {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{n} has {} rows, expected {expected}",
                count_rows(lab, n)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn three_node_cluster_end_to_end() {
    let _one_lab_at_a_time = crate::support::lab_guard();
    // The lab the fault battery and the randomized schedules go on with,
    // configured live by crm-examples/cluster-pcs.sh (the lab of the
    // PostgreSQL 11 scenarios loads cluster.crm with crmsh).
    let shared = SharedLab::as_shipped();
    end_to_end(&shared.lab, OperatorTool::Exercised);
}

/// `synchronous_standby_names` as the primary has it, through the VIP
/// (psql's table: the value is on the third line).
fn sync_list(lab: &Lab) -> String {
    let out = lab
        .sql("show synchronous_standby_names")
        .unwrap_or_default();
    out.lines().nth(2).unwrap_or_default().trim().to_string()
}

fn dr1_listed(lab: &Lab) -> bool {
    let list = sync_list(lab);
    list.starts_with("FIRST 2 (") && list.ends_with(", \"dr1\")")
}

const DR_PARAM: [&str; 4] = ["crm", "resource", "param", "Postgresql"];

/// A standby outside the cluster (`lab/cluster.sh dr`: its own namespace,
/// PostgreSQL only, streaming from the VIP), named in
/// `external_standby_node_list`: the primary lists it after the sync
/// standby.
fn dr_streams_and_is_listed(lab: &Lab) {
    let out = lab.run(&["dr", "up"]);
    assert!(out.status.success(), "dr up:\n{}", text(&out));
    crate::operator::crm(
        lab,
        &[&DR_PARAM[..], &["set", "external_standby_node_list", "dr1"]].concat(),
    );
    let listed = wait_until("DR: dr1 listed", Duration::from_secs(60), || {
        dr1_listed(lab)
    });
    println!("DR: {} after {listed:.1?}", sync_list(lab));
}

/// After the failover (at idle: a DR standby that received WAL the
/// promoted standby had not, which nobody acknowledged, went past the fork
/// as any standby would and needs a rewind at its site), it follows the
/// new primary through the VIP and is listed again; stopped, it is dropped
/// at the next monitor with the stock warning, and commits no longer wait
/// for it.
fn dr_follows_then_leaves(lab: &Lab, new: &str, killed: Instant) {
    wait_until(
        &format!("DR: dr1 follows {new} and is listed again"),
        Duration::from_secs(60),
        || dr1_listed(lab),
    );
    println!(
        "DR: {} on {new}, {:.1?} after the kill",
        sync_list(lab),
        killed.elapsed()
    );
    let out = lab.run(&["dr", "stop"]);
    assert!(out.status.success(), "dr stop:\n{}", text(&out));
    let dropped = wait_until(
        "DR: dr1 dropped from the list",
        Duration::from_secs(30),
        || !sync_list(lab).contains("dr1"),
    );
    let log = lab.exec(
        new,
        &[
            "grep",
            "-a",
            "pgsql(Postgresql)",
            "/var/log/pacemaker/pacemaker.log",
        ],
    );
    assert!(
        log.contains("The synchronous connection from dr1 was disconnected."),
        "DR: no warning about dr1 on {new}"
    );
    lab.sql("set statement_timeout = '5s'; insert into e2e_lag values ('after dr1 left')")
        .unwrap_or_else(|e| panic!("DR: a commit after dr1 left: {e}"));
    crate::operator::crm(
        lab,
        &[&DR_PARAM[..], &["delete", "external_standby_node_list"]].concat(),
    );
    println!("DR: dropped {dropped:.1?} after it stopped");
}

/// `rustpgctl history` on the new primary after the failover: its newest
/// timeline forked from the one before, begun by `new`'s promotion after
/// `old` failed (recorded by `new`'s first monitor as the primary), and the
/// one before that by a switchover.
fn promotions_on_record(lab: &Lab, new: &str, old: &str) {
    let started = Instant::now();
    loop {
        let out = lab.run(&["exec", new, CTL, "history", "--json"]);
        let h: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let t = h.as_array().cloned().unwrap_or_default();
        let newest = t.last().cloned().unwrap_or_default();
        if newest["promoted"] == new
            && newest["from"] == old
            && newest["cause"] == "failover"
            && newest["forked_from"].is_u64()
            && t.iter().any(|t| t["cause"] == "switchover")
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "rustpgctl history on {new} does not list its promotion after {old} failed:\n{}",
            text(&out)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    println!(
        "rustpgctl history after {:.1?}:\n{}",
        started.elapsed(),
        text(&lab.run(&["exec", new, CTL, "history"]))
    );
}

/// Whether `end_to_end` runs rustpgctl's scenarios (status, explain,
/// refusals, switchover through PgBouncer, a switchover whose target
/// crashes) or moves the role with the lab's switchover only.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum OperatorTool {
    Exercised,
    Skipped,
}

/// The operator tool, built with the tests.
const CTL: &str = env!("CARGO_BIN_EXE_rustpgctl");

/// rustpgctl on the healthy lab, from a standby: `status` agrees with the
/// picture and with PostgreSQL, `explain` answers for the sync and the
/// potential standby, `switchover` refuses what it must.
fn operator_tool(lab: &Lab, primary: &str, sync: &str, potential: &str) {
    let ctl = |args: &[&str]| {
        let mut a = vec!["exec", potential, CTL];
        a.extend_from_slice(args);
        let out = lab.run(&a);
        (out.status.code(), text(&out))
    };
    // The primary's pg_stat_replication agrees with the published
    // data-status (both change only at the primary's monitor: wait for it).
    let agreed = || {
        let (rc, out) = ctl(&["status", "--json"]);
        assert_eq!(rc, Some(0), "{out}");
        let json = &out[out.find('{').unwrap_or(0)..];
        let s: serde_json::Value =
            serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {out}"));
        let row = |n: &str| crate::ctl::node_row(&s, n);
        let ok = row(primary)["role"] == "Promoted"
            && row(sync)["replication"]["postgres_says"] == "STREAMING|SYNC"
            && row(potential)["replication"]["postgres_says"] == "STREAMING|ASYNC"
            && [sync, potential]
                .iter()
                .all(|n| row(n)["replication"]["disagreement"].is_null())
            && row(sync)["promotable"] == true
            && row(potential)["server"]["in_recovery"] == true;
        if !ok {
            println!("rustpgctl status, not agreeing yet:\n{out}");
        }
        ok
    };
    wait_until(
        "rustpgctl status agrees with the picture",
        Duration::from_secs(30),
        agreed,
    );
    let status = ctl(&["status"]).1;
    println!("rustpgctl status on {potential}:\n{status}");
    // The DC's controller answers crmadmin (the deferral of the
    // election asks it the same way): idle, in a healthy cluster.
    wait_until(
        "rustpgctl status shows the DC idle",
        Duration::from_secs(30),
        || ctl(&["status"]).1.contains(" (idle)"),
    );
    let (rc, out) = ctl(&["explain", sync]);
    assert_eq!(rc, Some(0), "{out}");
    assert!(out.contains("promotable: score 100"), "{out}");
    let (rc, out) = ctl(&["explain", potential]);
    assert_eq!(rc, Some(3), "{out}");
    assert!(out.contains("streams as ASYNC standby"), "{out}");
    // A lagging node: the potential standby's replay paused while writes
    // go on; seen from the sync standby, it is behind by what it did not
    // replay.
    lab.sql_on(potential, "select pg_wal_replay_pause()");
    lab.sql("create table if not exists e2e_lag(v text)")
        .unwrap();
    lab.sql("insert into e2e_lag select repeat('x', 1000) from generate_series(1, 1000)")
        .unwrap();
    let explain_from_sync = || {
        let out = lab.run(&["exec", sync, CTL, "explain", potential]);
        (out.status.code(), text(&out))
    };
    let behind = format!("behind {sync} by ");
    wait_until(
        "rustpgctl explain shows the paused standby behind",
        Duration::from_secs(30),
        || explain_from_sync().1.contains(&behind),
    );
    let (rc, out) = explain_from_sync();
    println!("rustpgctl explain {potential} (replay paused), on {sync}:\n{out}");
    assert_eq!(rc, Some(3), "{out}");
    lab.sql_on(potential, "select pg_wal_replay_resume()");

    // switchover refuses a target that is no standby, and one that has not
    // caught up: the sync standby's replay paused while writes go on (a
    // switchover is tried only once the lag shows, so that none runs).
    let (rc, out) = ctl(&["switchover", "--to", primary]);
    assert_eq!(rc, Some(3), "{out}");
    assert!(
        out.contains(&format!("refused: {primary} is already the primary")),
        "{out}"
    );
    lab.sql_on(sync, "select pg_wal_replay_pause()");
    lab.sql("insert into e2e_lag select repeat('y', 1000) from generate_series(1, 100)")
        .unwrap();
    wait_until(
        "rustpgctl status shows the sync standby's replay lag",
        Duration::from_secs(30),
        || {
            let (_, out) = ctl(&["status", "--json"]);
            serde_json::from_str::<serde_json::Value>(&out[out.find('{').unwrap_or(0)..]).is_ok_and(
                |s| {
                    crate::ctl::node_row(&s, sync)["replication"]["replay_lag_bytes"]
                        .as_u64()
                        .is_some_and(|b| b > 0)
                },
            )
        },
    );
    let (rc, out) = ctl(&["switchover", "--max-lag", "0"]);
    lab.sql_on(sync, "select pg_wal_replay_resume()");
    assert_eq!(rc, Some(3), "{out}");
    assert!(
        out.contains(&format!("refused: {sync} has not caught up")),
        "{out}"
    );
    let (rc, out) = ctl(&["switchover", "--to", potential]);
    assert_eq!(rc, Some(3), "{out}");
    assert!(
        out.contains(&format!(
            "refused: {potential} is not the synchronous standby"
        )),
        "{out}"
    );
    let maintenance = |change: &[&str]| {
        let mut args = vec![
            "crm_attribute",
            "-t",
            "crm_config",
            "-n",
            "maintenance-mode",
        ];
        args.extend_from_slice(change);
        lab.exec(primary, &args);
    };
    maintenance(&["-v", "true"]);
    let (rc, out) = ctl(&["switchover"]);
    maintenance(&["-D"]);
    assert_eq!(rc, Some(3), "{out}");
    assert!(
        out.contains("refused: the cluster is in maintenance mode"),
        "{out}"
    );
}

/// `rustpgctl switchover --pgbouncer` from `primary` to `target` while
/// four clients write through PgBouncerVIP: no client transaction fails
/// (they wait while PgBouncer is paused), writes go on on the target, and
/// every acknowledged one is there.
fn switchover_through_pgbouncer(lab: &Lab, primary: &str, target: &str, run_on: &str) {
    create_faults_table(lab);
    let first_id = 1_000_000;
    let load = Load::start(lab, Via::PgBouncer, "e2e-pgbouncer", first_id, 300);
    let t0 = now_ms();
    let out = lab.run(&[
        "exec",
        run_on,
        CTL,
        "switchover",
        "--pgbouncer",
        "--to",
        target,
    ]);
    let back = load.first_write_after(t0, Some(primary), Duration::from_secs(60));
    let attempts = load.stop();
    assert!(
        out.status.success(),
        "rustpgctl switchover --pgbouncer to {target}:\n{}",
        text(&out)
    );
    println!("{}", text(&out).trim());
    let (_, on) = back.unwrap_or_else(|| panic!("no write through PgBouncerVIP on {target}"));
    assert_eq!(on, target);
    let failed: Vec<&Attempt> = attempts.iter().filter(|a| !a.ok).collect();
    assert!(
        failed.is_empty(),
        "{} client transactions failed through PgBouncer during the switchover: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    println!(
        "switchover --pgbouncer: {} transactions, none failed; the longest waited {:.1}s",
        attempts.len(),
        longest_commit(&attempts, t0)
    );
    assert_no_loss(
        lab,
        "switchover --pgbouncer",
        &attempts,
        first_id,
        &[target.to_string()],
    );
}

/// A switchover whose target crashes on the way (right after the ban is
/// set) and stays out of the cluster (fencing reboots it without its
/// stack): rustpgctl returns within its timeout and leaves no constraint;
/// no node is promoted while the old sync standby is out (explain says
/// why); once its stack starts the cluster is whole again and writes go
/// through PgBouncerVIP (no PgBouncer left paused).
fn switchover_target_crashes(lab: &Lab) {
    let long = Duration::from_secs(180);
    let p = lab.wait_for("before the interrupted switchover", long, healthy);
    let primary = p.primary().unwrap().to_string();
    let sync = p.node_with_status(Status::HsSync).unwrap();
    let potential = p.node_with_status(Status::HsAsync).unwrap();
    let lab_ok = |args: &[&str]| {
        let out = lab.run(args);
        assert!(out.status.success(), "{args:?}:\n{}", text(&out));
    };
    lab_ok(&["stack-at-boot", &sync, "off"]);
    let t0 = now_ms();
    let ctl = lab.spawn(&[
        "exec",
        &potential,
        CTL,
        "switchover",
        "--pgbouncer",
        "--timeout",
        "10",
    ]);
    wait_until("the switchover's ban", Duration::from_secs(30), || {
        lab.constraints(&primary).contains("cli-ban")
    });
    lab_ok(&["crash", &sync]);
    let out = ctl.wait_with_output().unwrap();
    let said = text(&out);
    println!(
        "switchover with its target crashed: {:?}: {}",
        out.status.code(),
        said.trim()
    );
    // Which way it goes depends on whether the crash came before the
    // promotion (rustpgctl gives up: 1) or just after it (it may have seen
    // the move done: 0); either way what follows holds.
    match out.status.code() {
        Some(0) => {}
        Some(1) => assert!(said.contains("the ban is cleared"), "{said}"),
        other => panic!("rustpgctl switchover: {other:?}: {said}"),
    }
    assert!(
        !lab.constraints(&potential).contains("cli-ban"),
        "{}",
        lab.constraints(&potential)
    );
    // With the old sync standby out, no other node is promoted: in sync
    // mode the agents wait for its position (it may hold commits the others
    // lack), or elect the former primary: when the crash landed while its
    // demote waited for the crashed standby's walsender (an unclean stop: it
    // is started again as a standby and elected, R28), or after its clean
    // demote with nobody promoted since (it holds every acknowledged
    // commit). rustpgctl says which.
    let out = lab.run(&["exec", &primary, CTL, "explain", &primary]);
    let said = text(&out);
    println!("rustpgctl explain {primary} with {sync} out:\n{said}");
    if lab.picture().is_some_and(|p| p.primary().is_none()) {
        assert!(
            said.contains(&format!("waiting for the position of {sync}"))
                || said.contains("no instance runs here")
                || said.contains("promotable: score 1000"),
            "{said}"
        );
    }
    lab.wait_fenced_and_back(&sync, t0, long);
    lab_ok(&["stack-at-boot", &sync, "on"]);
    lab_ok(&["start-node", &sync]);
    // Not left paused: writes go through PgBouncerVIP again.
    let took = wait_until("a write through PgBouncerVIP", long, || {
        lab.run(&["bouncer-sql", "insert into e2e_lag values ('after')"])
            .status
            .success()
    });
    println!(
        "interrupted switchover: a write through PgBouncerVIP {:.1}s after {sync} was started again",
        took.as_secs_f64()
    );
    let p = lab.wait_for("healed after the interrupted switchover", long, healthy);
    println!(
        "interrupted switchover: healed, {} primary",
        p.primary().unwrap()
    );
}

/// The demo picture, the receiver status, a switchover and back, the loss
/// and return of the sync standby's node, a failover.
pub(crate) fn end_to_end(lab: &Lab, tool: OperatorTool) {
    let long = Duration::from_secs(120);

    // Steady state.
    let p = lab.wait_for("steady state", long, healthy);
    println!("{}", String::from_utf8_lossy(&lab.run(&["crm_mon"]).stdout));
    let first = p.primary().unwrap().to_string();
    let sync = p.node_with_status(Status::HsSync).unwrap();
    let potential = p.node_with_status(Status::HsAsync).unwrap();
    lab.sql("create table if not exists e2e(id int primary key, at timestamptz)")
        .unwrap();
    let mut rows = 0;
    for id in 1..=10 {
        lab.write_through_vip(id, Duration::from_secs(10));
        rows += 1;
    }
    all_rows_everywhere(lab, &[sync.clone(), potential.clone()], rows);

    // check_wal_receiver=true (a stock parameter): the monitor publishes
    // <rsc>-receiver-status through attrd, as the stock agent does. Run
    // with the environment of Pacemaker's own recurring monitor.
    let agent = "/usr/lib/ocf/resource.d/rustpg/pgsql";
    let attr = format!("{RSC}-receiver-status");
    for (node, rc, want) in [(&sync, 0, "normal"), (&first, 8, "normal (master)")] {
        let file = format!("{}/monitor-env-{node}", lab.root().display());
        lab.capture_monitor_env(agent, node, &file);
        let got = lab.monitor_with(
            agent,
            node,
            &file,
            &[("OCF_RESKEY_check_wal_receiver", "true")],
        );
        assert_eq!(got, rc, "monitor with check_wal_receiver on {node}");
        // attrd takes the update asynchronously.
        let start = Instant::now();
        let query =
            || text(&lab.run(&["exec", node, "attrd_updater", "-Q", "-n", &attr, "-N", node]));
        let mut last = query();
        while !last.contains(&format!("value=\"{want}\"")) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{attr} on {node}: {last}"
            );
            std::thread::sleep(Duration::from_millis(200));
            last = query();
        }
        lab.exec(node, &["attrd_updater", "-D", "-n", &attr]);
    }

    if tool == OperatorTool::Exercised {
        operator_tool(lab, &first, &sync, &potential);
    }

    // Switchover to the sync standby and back (rustpgctl switchover
    // --pgbouncer under load through PgBouncerVIP, then the lab's
    // switchover, which is a plain rustpgctl switchover): every node
    // streams again by itself, the old primary's PGSQL.lock goes away,
    // nothing is lost. On the PostgreSQL 11 lab one way only, with the
    // lab's switchover: the demote writes recovery.conf and the promote runs
    // `pg_ctl promote` there, and the way back would repeat both.
    let targets = match tool {
        OperatorTool::Exercised => vec![sync.clone(), first.clone()],
        OperatorTool::Skipped => vec![sync.clone()],
    };
    // HAProxy in front of rustpgctl serve, with a load through it and one
    // through the VIP, on the way back and through the failover below
    // (started anew each time: a node that restarts loses its serve).
    for target in targets {
        let mut routed = None;
        let started = Instant::now();
        match tool {
            OperatorTool::Exercised if target == sync => {
                switchover_through_pgbouncer(lab, &first, &target, &potential)
            }
            _ => {
                let from = lab.wait_for("before the switchover", long, healthy);
                let from = from.primary().unwrap().to_string();
                if tool == OperatorTool::Exercised {
                    routed = Some(Routed::start(lab));
                }
                let t0 = now_ms();
                let out = lab.run(&["switchover", &target]);
                if let Some(r) = routed.as_mut() {
                    r.moved("switchover (rustpgctl switchover)", &from, t0);
                }
                assert!(
                    out.status.success(),
                    "switchover to {target}:\n{}",
                    text(&out)
                );
            }
        }
        let p = lab.wait_for(&format!("switchover to {target}"), long, |p| {
            healthy(p) && p.primary() == Some(&target)
        });
        rows += 1;
        let write = lab.write_through_vip(rows as i32, long);
        println!("switchover to {target}: healthy and writable after {:.1}s (first write retried {:.1}s)", started.elapsed().as_secs_f64(), write.as_secs_f64());
        let nodes: Vec<String> = p.view.nodes.keys().cloned().collect();
        // The old primary removes its PGSQL.lock at its own next monitor
        // once it streams from the new primary (docs/compatibility.md R6),
        // which may come after the picture turned healthy: wait for it,
        // well beyond the 4 s unpromoted monitor interval.
        for n in nodes.iter().filter(|n| **n != target) {
            let took = wait_until(
                &format!("{n} removes PGSQL.lock after a clean switchover"),
                Duration::from_secs(30),
                || !lab.lock_exists(n),
            );
            println!(
                "switchover to {target}: PGSQL.lock gone from {n} (waited {:.1}s)",
                took.as_secs_f64()
            );
        }
        all_rows_everywhere(lab, &nodes, rows);
        if let Some(r) = routed {
            r.finish(lab, &nodes);
        }
    }

    if tool == OperatorTool::Exercised {
        switchover_target_crashes(lab);
    }

    // Loss of the sync standby's node: the potential one becomes sync; on
    // return the old one is potential.
    let p = lab.wait_for("before standby loss", long, healthy);
    let sync = p.node_with_status(Status::HsSync).unwrap();
    let potential = p.node_with_status(Status::HsAsync).unwrap();
    let out = lab.run(&["stop-node", &sync]);
    assert!(out.status.success(), "stop-node {sync}:\n{}", text(&out));
    rows += 1;
    lab.write_through_vip(rows as i32, Duration::from_secs(10));
    lab.wait_for("potential standby becomes sync", long, |p| {
        p.attr(&potential, &format!("{RSC}-status")) == Some("HS:sync")
            && p.attr(&potential, &format!("master-{RSC}")) == Some("100")
    });
    let out = lab.run(&["start-node", &sync]);
    assert!(out.status.success(), "start-node {sync}:\n{}", text(&out));
    let p = lab.wait_for("old sync standby back as potential", long, |p| {
        healthy(p) && p.attr(&sync, &format!("{RSC}-status")) == Some("HS:async")
    });
    let nodes: Vec<String> = p.view.nodes.keys().cloned().collect();
    all_rows_everywhere(lab, &nodes, rows);

    // A DR standby outside the cluster through the failover (PostgreSQL 12
    // and later: the PostgreSQL 11 lab has none).
    let dr = tool == OperatorTool::Exercised;
    if dr {
        dr_streams_and_is_listed(lab);
    }
    // Failover: kill -9 of the primary's postmaster.
    let old = p.primary().unwrap().to_string();
    let sync = p.node_with_status(Status::HsSync).unwrap();
    let third = p.node_with_status(Status::HsAsync).unwrap();
    let mut routed = (tool == OperatorTool::Exercised).then(|| Routed::start(lab));
    let pid = lab.postmaster_pid(&old);
    let started = Instant::now();
    let t0 = now_ms();
    lab.exec(&old, &["kill", "-9", &pid]);
    if let Some(r) = routed.as_mut() {
        r.moved("failover (kill -9 of the primary's postmaster)", &old, t0);
    }
    rows += 1;
    let write = lab.write_through_vip(rows as i32, long);
    println!(
        "failover: first write through the VIP after {:.1}s",
        write.as_secs_f64()
    );
    // Its sync standby is the other survivor, or the old primary when it
    // came back by itself first (crm-examples' failure-timeout and
    // auto_rewind).
    let p = lab.wait_for("sync standby promoted, with a sync standby", long, |p| {
        p.primary() == Some(&sync)
            && p.vip_on.as_deref() == Some(sync.as_str())
            && [&third, &old]
                .iter()
                .any(|n| p.attr(n, &format!("{RSC}-status")) == Some("HS:sync"))
    });
    println!(
        "failover complete after {:.1}s",
        started.elapsed().as_secs_f64()
    );
    all_rows_everywhere(lab, &[sync.clone(), third.clone()], rows);
    if let Some(r) = routed {
        r.finish(lab, &[sync.clone(), third.clone()]);
    }
    if tool == OperatorTool::Exercised {
        promotions_on_record(lab, &sync, &old);
    }
    assert_ne!(p.attr(&old, &format!("{RSC}-status")), Some("PRI"));
    if dr {
        dr_follows_then_leaves(lab, &sync, started);
    }
    // With crm-examples' configuration the crashed primary comes back by
    // itself once failure-timeout lets Pacemaker start it again: the
    // fault battery (faults::faults_under_write_load) shows it.
    if !lab.self_healing() {
        // The stock-compatible configuration (docs/operations.md): a
        // crashed primary stays stopped behind PGSQL.lock, and rustpgctl,
        // on that node, says why and what to do.
        assert!(lab.lock_exists(&old), "a crashed primary keeps PGSQL.lock");
        let out = lab.run(&["exec", &old, CTL, "explain", &old]);
        let said = text(&out);
        println!("rustpgctl explain {old} (crashed), on {old}:\n{said}");
        assert_eq!(out.status.code(), Some(3), "{said}");
        assert!(said.contains("PGSQL.lock is there"), "{said}");
        assert!(said.contains("auto_rewind=true"), "{said}");
    }
    println!("{}", String::from_utf8_lossy(&lab.run(&["crm_mon"]).stdout));
}
