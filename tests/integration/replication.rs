//! rep_mode=sync through our agent on three real PostgreSQL servers, with
//! the Pacemaker tools working on a CIB file (see cluster.rs), and the same
//! scenario through the stock agent for a differential comparison.

use crate::cluster::{env_refs, AgentKind, Attributes, Cluster, Notify, RESOURCE};
use crate::support::Major;
use rustpg::core::replication::{Attr, PrivateAttr};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const OURS: AgentKind = AgentKind::Ours;

/// One of the agents' attribute names, as the protocol defines it.
fn attr(a: Attr) -> String {
    a.name(RESOURCE)
}

/// A private attribute's name (a transient one on the CIB file).
fn private(a: PrivateAttr) -> String {
    a.name(RESOURCE)
}
pub(crate) const MONITOR: [(&str, &str); 1] = [("OCF_RESKEY_CRM_meta_interval", "4000")];
pub(crate) const PROMOTED_MONITOR: [(&str, &str); 2] = [
    ("OCF_RESKEY_CRM_meta_interval", "3000"),
    ("OCF_RESKEY_CRM_meta_role", "Promoted"),
];
const PROBE: [(&str, &str); 1] = [("OCF_RESKEY_CRM_meta_interval", "0")];

fn ok(c: &Cluster, agent: AgentKind, node: &str, action: &str, env: &[(&str, &str)]) {
    let out = c.run(agent, node, action, env);
    assert_eq!(out.rc, 0, "{action} on {node} ({agent:?}): {}", out.stderr);
}

/// An action that fails with OCF_ERR_GENERIC: its exit reason.
fn refused(c: &Cluster, node: &str, action: &str, env: &[(&str, &str)]) -> String {
    refused_logged(c, node, action, env).0
}

/// An action that fails with OCF_ERR_GENERIC: its exit reason, and what it
/// wrote to stderr (the log, with the longer text).
fn refused_logged(c: &Cluster, node: &str, action: &str, env: &[(&str, &str)]) -> (String, String) {
    let out = c.run(OURS, node, action, env);
    assert_eq!(out.rc, 1, "{action} on {node}: {}", out.stderr);
    let reason = out.exit_reason().unwrap_or_default().to_string();
    (reason, out.stderr)
}

/// Run one notification on every node, as Pacemaker does.
fn notify_all(c: &Cluster, agent: AgentKind, n: &Notify) {
    let env = n.env();
    for node in in_notify_order(&c.node_names(), n) {
        ok(c, agent, node, "notify", &env_refs(&env));
    }
}

/// The pre-promote notification of `target` when every node in `nodes`
/// runs an unpromoted instance.
fn pre_promote_of<'a>(target: &'a [&'a str], nodes: &'a [&'a str]) -> Notify<'a> {
    Notify {
        kind: "pre",
        operation: "promote",
        promote: target,
        active: nodes,
        unpromoted: nodes,
        all: nodes,
        ..Notify::default()
    }
}

/// Pacemaker notifies every node at once; the harness runs them one by one
/// (CIB-file writes must not race), so the promotion target goes last, as
/// if the others' positions arrived while its own notification waited.
pub(crate) fn in_notify_order<'a>(nodes: &[&'a str], n: &Notify) -> Vec<&'a str> {
    let mut order = nodes.to_vec();
    order.sort_by_key(|node| n.promote.contains(node));
    order
}

/// What Pacemaker does to bring a fresh cluster up: start everywhere, run
/// monitors until the election picks a node, promote it with the
/// notifications around it, and let the monitors settle. Returns the primary.
pub fn bring_up(c: &Cluster, agent: AgentKind) -> String {
    let nodes = c.node_names();
    for n in &nodes {
        ok(c, agent, n, "start", &[]);
        assert_eq!(
            c.attribute(n, &attr(Attr::Status)).as_deref(),
            Some("HS:alone"),
            "{n} after start"
        );
        assert_eq!(
            c.attribute(n, &attr(Attr::Score)).as_deref(),
            Some("-INFINITY")
        );
    }
    let mut winner = None;
    for round in 1..=6 {
        for n in &nodes {
            ok(c, agent, n, "monitor", &MONITOR);
        }
        winner = nodes
            .iter()
            .find(|n| c.attribute(n, &attr(Attr::Score)).as_deref() == Some("1000"));
        if winner.is_some() {
            // Ours: final positions decide once every node published one
            // (round 1 for the last node, round 2 for the others). The
            // stock agent: round xlog_check_count + 1 at the earliest.
            if agent != AgentKind::Stock {
                assert!(round <= 2, "our election decided in round {round}");
            } else {
                assert!(round >= 4, "the stock election decided in round {round}");
            }
            break;
        }
    }
    let winner = winner.expect("the election picked nobody").to_string();
    c.set_primary_target(&winner);
    let others: Vec<&str> = nodes.iter().copied().filter(|n| *n != winner).collect();
    let w: &str = &winner;
    promote(c, agent, w);
    c.repoint_standbys(agent);
    for n in &others {
        c.wait_streaming(n, Duration::from_secs(30));
    }
    for _ in 0..2 {
        let out = c.run(agent, w, "monitor", &PROMOTED_MONITOR);
        assert_eq!(out.rc, 8, "primary monitor: {}", out.stderr);
        for n in &others {
            ok(c, agent, n, "monitor", &MONITOR);
        }
    }
    winner
}

/// The attributes with nodes named by role, so two clusters compare.
fn by_role(c: &Cluster, primary: &str) -> BTreeMap<(String, String), (String, String)> {
    let attrs: Attributes = c.attributes();
    let role = |node: &str| -> String {
        if node == primary {
            return "primary".into();
        }
        match attrs
            .get(&(node.to_string(), "pgsql-status".to_string()))
            .map(|(_, v)| v.as_str())
        {
            Some("HS:sync") => "sync".into(),
            _ => "other-standby".into(),
        }
    };
    attrs
        .iter()
        // Private attrd attributes (our `-history`, `-position`) are never
        // in a live cluster's CIB; on a CIB file they are transient ones.
        .filter(|((_, name), _)| !name.ends_with("-history") && !name.ends_with("-position"))
        .map(|((node, name), (life, value))| {
            // WAL positions differ between two clusters; their shape must not.
            let value = if name.ends_with("-acked-also-on") {
                role(value)
            } else if name.ends_with("-promotions") {
                // TIMELINE:TIME:FROM:CAUSE, the time the test's own.
                value
                    .split(' ')
                    .map(|e| {
                        let f: Vec<&str> = e.split(':').collect();
                        assert_eq!(f.len(), 4, "{value}");
                        format!("{}:<time>:{}:{}", f[0], f[2], f[3])
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            } else if name.ends_with("-master-baseline") {
                assert!(
                    value.len() == 16 && value.bytes().all(|b| b.is_ascii_hexdigit()),
                    "{value}"
                );
                "<16 hex>".to_string()
            } else {
                value.clone()
            };
            ((role(node), name.clone()), (life.clone(), value))
        })
        .collect()
}

fn expected_picture(primary: &str) -> Vec<((String, String), (String, String))> {
    let e = |r: &str, n: &str, l: &str, v: &str| {
        (
            (r.to_string(), n.to_string()),
            (l.to_string(), v.to_string()),
        )
    };
    let _ = primary;
    vec![
        e("other-standby", "master-pgsql", "reboot", "-INFINITY"),
        e(
            "other-standby",
            "pgsql-data-status",
            "forever",
            "STREAMING|ASYNC",
        ),
        e("other-standby", "pgsql-status", "reboot", "HS:async"),
        e("primary", "master-pgsql", "reboot", "1000"),
        e("primary", "pgsql-acked-also-on", "forever", "sync"),
        e("primary", "pgsql-data-status", "forever", "LATEST"),
        e("primary", "pgsql-master-baseline", "reboot", "<16 hex>"),
        e(
            "primary",
            "pgsql-promotions",
            "forever",
            "2:<time>:-:election",
        ),
        e("primary", "pgsql-status", "reboot", "PRI"),
        e("sync", "master-pgsql", "reboot", "100"),
        e("sync", "pgsql-data-status", "forever", "STREAMING|SYNC"),
        e("sync", "pgsql-status", "reboot", "HS:sync"),
    ]
}

pub fn sync_and_potential(c: &Cluster, primary: &str) -> (String, String) {
    let others: Vec<String> = c
        .node_names()
        .into_iter()
        .filter(|n| *n != primary)
        .map(String::from)
        .collect();
    let sync = others
        .iter()
        .find(|n| c.attribute(n, &attr(Attr::Status)).as_deref() == Some("HS:sync"))
        .expect("a sync standby")
        .clone();
    let potential = others.into_iter().find(|n| *n != sync).unwrap();
    (sync, potential)
}

/// Every major, 10 to 18: the election and the stock picture, the
/// recovery model of the major, a switchover (whose demote reads
/// pg_control and writes the clean-demote record; the lock goes once the
/// old primary streams), pg_control read right on the new timeline, and
/// the durability rule when the sync standby is lost.
fn three_node_picture(major: Major) {
    let c = Cluster::new(major, &["pg01", "pg02", "pg03"]);
    let primary = bring_up(&c, OURS);
    println!("{}", c.attributes_table());
    let picture: Vec<_> = by_role(&c, &primary).into_iter().collect();
    assert_eq!(picture, expected_picture(&primary));

    let (sync, potential) = sync_and_potential(&c, &primary);
    let names = format!("FIRST 1 (\"{sync}\")");
    assert_eq!(c.sql(&primary, "show synchronous_standby_names"), names);
    let rep_mode = std::fs::read_to_string(c.node(&primary).tmpdir.join("rep_mode.conf")).unwrap();
    assert_eq!(rep_mode, format!("synchronous_standby_names = '{names}'\n"));
    assert!(c.node(&primary).tmpdir.join("PGSQL.lock").exists());
    for n in [&sync, &potential] {
        assert_recovery_model(&c, n);
    }
    // A row committed on the primary is on both standbys.
    c.sql(
        &primary,
        "create table probe(id int); insert into probe values (1)",
    );
    for n in [&sync, &potential] {
        let deadline = Instant::now() + Duration::from_secs(10);
        while c.try_sql(n, "select count(*) from probe").as_deref() != Ok("1") {
            assert!(Instant::now() < deadline, "row missing on {n}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    let new = switchover(&c, &primary);
    assert_recovery_model(&c, &primary);
    assert!(
        !c.node(&new).pgdata.join("recovery.conf").exists()
            && !c.node(&new).pgdata.join("standby.signal").exists(),
        "the new primary keeps no standby file"
    );
    assert_control_file_matches_the_server(&c, &new);
    sync_standby_loss_and_return(&c, &new);
    if major.number() < 13 {
        replication_hosts_are_not_used(&c, &new);
    }
}

/// Before PostgreSQL 13 a reload does not apply primary_conninfo:
/// replication_hosts is refused by validate-all only, and every other
/// action goes on through master_ip with a warning (set on a running
/// cluster, a refusal everywhere would stop the resource on every node).
fn replication_hosts_are_not_used(c: &Cluster, primary: &str) {
    c.set_param(
        "replication_hosts",
        "pg01=127.0.0.1 pg02=localhost pg03=127.1",
    );
    let out = c.run(OURS, primary, "monitor", &PROMOTED_MONITOR);
    assert_eq!(out.rc, 8, "{}", out.stderr);
    assert!(
        out.stderr.contains("replication_hosts is not used"),
        "{}",
        out.stderr
    );
    let out = c.run(OURS, primary, "validate-all", &[("OCF_CHECK_LEVEL", "10")]);
    assert_eq!(out.rc, 6, "{}", out.stderr);
    assert!(out.stderr.contains("needs PostgreSQL 13"), "{}", out.stderr);
    c.unset_param("replication_hosts");
}

/// A standby's recovery settings live where its major reads them.
pub(crate) fn assert_recovery_model(c: &Cluster, standby: &str) {
    let pgdata = &c.node(standby).pgdata;
    let auto = std::fs::read_to_string(pgdata.join("postgresql.auto.conf")).unwrap_or_default();
    let recovery_conf = std::fs::read_to_string(pgdata.join("recovery.conf"));
    let signal = pgdata.join("standby.signal").exists();
    if c.major.number() < 12 {
        let text = recovery_conf.expect("recovery.conf in pgdata before 12");
        assert!(text.contains("standby_mode = 'on'\n"), "{text}");
        assert!(
            text.contains(&format!("application_name=''{standby}''")),
            "{text}"
        );
        assert!(!signal, "no standby.signal before 12");
        assert!(!auto.contains("primary_conninfo"), "{auto}");
    } else {
        assert!(
            recovery_conf.is_err(),
            "no recovery.conf in pgdata from 12 on"
        );
        assert!(signal, "standby.signal from 12 on");
        assert!(
            auto.contains(&format!("application_name=''{standby}''")),
            "{auto}"
        );
    }
    assert!(
        auto.contains("wal_retrieve_retry_interval = '1s'"),
        "{auto}"
    );
}

/// What the agent reads in global/pg_control is what the server says
/// (`pg_control_checkpoint()`), and what the major's own pg_controldata
/// prints where a registry ships one.
fn assert_control_file_matches_the_server(c: &Cluster, node: &str) {
    c.sql(node, "checkpoint");
    let bytes = std::fs::read(c.node(node).pgdata.join("global/pg_control")).unwrap();
    let ours = rustpg::core::controldata::ControlFile::parse(&bytes).unwrap();
    let sql = c.sql(
        node,
        "select checkpoint_lsn || ' ' || timeline_id from pg_control_checkpoint()",
    );
    assert_eq!(format!("{} {}", ours.checkpoint, ours.timeline), sql);
    assert!(ours.timeline >= 2, "after a switchover: {sql}");
    let setting = |name: &str| c.sql(node, &format!("show {name}")) == "on";
    assert!(ours.wal_log_hints && setting("wal_log_hints"));
    assert_eq!(ours.data_checksums, setting("data_checksums"));
    if c.major.has_own_client_tools() {
        let tool = c.major.client_bindir().join("pg_controldata");
        let out = std::process::Command::new(tool)
            .arg(&c.node(node).pgdata)
            .env("LC_ALL", "C")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let line = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.trim_start_matches(':').trim().to_string())
        };
        assert_eq!(
            line("Latest checkpoint location"),
            Some(ours.checkpoint.to_string()),
            "{text}"
        );
        assert_eq!(
            line("Latest checkpoint's TimeLineID"),
            Some(ours.timeline.to_string()),
            "{text}"
        );
    }
}

macro_rules! every_major {
    ($($name:ident => $major:expr),* $(,)?) => {$(
        #[test]
        fn $name() {
            three_node_picture($major);
        }
    )*};
}

every_major! {
    three_node_picture_pg10 => Major::V10,
    three_node_picture_pg11 => Major::V11,
    three_node_picture_pg12 => Major::V12,
    three_node_picture_pg13 => Major::V13,
    three_node_picture_pg14 => Major::V14,
    three_node_picture_pg15 => Major::V15,
    three_node_picture_pg16 => Major::V16,
    three_node_picture_pg17 => Major::V17,
    three_node_picture_pg18 => Major::V18,
}

/// The same scenario through the stock agent and through ours: the
/// attributes are identical.
#[test]
fn differential_against_the_stock_agent() {
    let stock = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    let stock_primary = bring_up(&stock, AgentKind::Stock);
    let ours = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    let our_primary = bring_up(&ours, OURS);
    let theirs = by_role(&stock, &stock_primary);
    let mine = by_role(&ours, &our_primary);
    let keys: std::collections::BTreeSet<_> = theirs.keys().chain(mine.keys()).collect();
    let mut differences = Vec::new();
    for k in keys {
        if theirs.get(k) != mine.get(k) {
            differences.push(format!(
                "{k:?}: stock {:?}, ours {:?}",
                theirs.get(k),
                mine.get(k)
            ));
        }
    }
    // Both name one sync standby: the same attributes, plus our primary's
    // record of it (R31) and of its promotion (R56).
    assert_eq!(
        differences,
        [
            r#"("primary", "pgsql-acked-also-on"): stock None, ours Some(("forever", "sync"))"#,
            r#"("primary", "pgsql-promotions"): stock None, ours Some(("forever", "2:<time>:-:election"))"#,
        ],
        "every difference must be listed in docs/compatibility.md"
    );
}

/// The probe seeds scores as the stock agent does, except that the named
/// sync standby keeps its score (R27).
#[test]
fn probe_seeds_scores() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    let primary = bring_up(&c, OURS);
    let (sync, potential) = sync_and_potential(&c, &primary);
    c.set_attribute(&potential, &attr(Attr::Score), "100");
    let out = c.run(OURS, &primary, "monitor", &PROBE);
    assert_eq!(out.rc, 8, "{}", out.stderr);
    for n in [&sync, &potential] {
        let out = c.run(OURS, n, "monitor", &PROBE);
        assert_eq!(out.rc, 0, "{}", out.stderr);
    }
    assert_eq!(
        c.attribute(&potential, &attr(Attr::Score)).as_deref(),
        Some("-INFINITY"),
        "a standby's probe says -INFINITY"
    );
    assert_eq!(
        c.attribute(&sync, &attr(Attr::Score)).as_deref(),
        Some("100"),
        "the named sync standby keeps its score"
    );
    assert_eq!(c.run(OURS, &primary, "monitor", &PROMOTED_MONITOR).rc, 8);
    assert_eq!(
        c.attribute(&sync, &attr(Attr::Score)).as_deref(),
        Some("100")
    );
}

/// `trace_ra` (`crm resource trace`): a traced action writes every process
/// it ran, every connection it opened and every step it took, each to the
/// millisecond, where ocf-shellfuncs would put its trace; untraced, it
/// writes nothing.
#[test]
fn a_traced_action_writes_its_processes_connections_and_steps() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    let primary = bring_up(&c, OURS);
    let dir = c.root().join("trace_ra");
    let dir_text = dir.display().to_string();
    let traced = [
        ("OCF_RESKEY_trace_ra", "1"),
        ("OCF_RESKEY_trace_dir", dir_text.as_str()),
        ("OCF_RESOURCE_TYPE", "pgsql"),
    ];
    let out = c.run(
        OURS,
        &primary,
        "monitor",
        &[&PROMOTED_MONITOR[..], &traced].concat(),
    );
    assert_eq!(out.rc, 8, "{}", out.stderr);
    let files: Vec<_> = std::fs::read_dir(dir.join("pgsql"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with(&format!("{RESOURCE}.monitor.")), "{name}");
    let trace = std::fs::read_to_string(&files[0]).unwrap();
    println!("{trace}");
    let lines: Vec<&str> = trace.lines().collect();
    assert!(lines[0].contains("=== monitor on "), "{trace}");
    assert!(lines.last().unwrap().ends_with("=== exit 8"), "{trace}");
    // "16:31:47.104 +12 ms (3 ms) connect to ..." and every process by name.
    let stamped = |l: &&str| {
        let t = l.split(' ').next().unwrap_or_default();
        t.len() == 12 && t.as_bytes()[8] == b'.'
    };
    assert!(lines.iter().all(stamped), "{trace}");
    assert!(trace.contains(" ms) connect to "), "{trace}");
    assert!(trace.contains("crm_mon -1 "), "{trace}");
    assert!(trace.contains(" step "), "{trace}");
    // OCF_TRACE_FILE names the file; without trace_ra nothing is written.
    let file = c.root().join("one.trace");
    let file_text = file.display().to_string();
    let out = c.run(
        OURS,
        &primary,
        "monitor",
        &[
            &PROMOTED_MONITOR[..],
            &[
                ("OCF_TRACE_RA", "yes"),
                ("OCF_TRACE_FILE", file_text.as_str()),
            ],
        ]
        .concat(),
    );
    assert_eq!(out.rc, 8, "{}", out.stderr);
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .contains("=== exit 8"));
    std::fs::remove_dir_all(&dir).unwrap();
    let untraced = [
        ("OCF_RESKEY_trace_dir", dir_text.as_str()),
        ("OCF_TRACE_FILE", file_text.as_str()),
    ];
    std::fs::remove_file(&file).unwrap();
    assert_eq!(
        c.run(
            OURS,
            &primary,
            "monitor",
            &[&PROMOTED_MONITOR[..], &untraced].concat()
        )
        .rc,
        8
    );
    assert!(!dir.exists() && !file.exists());
}

/// The sync standby stops: the primary's pass takes its score away, then
/// names the other standby (commits wait until then), which gets its score
/// once caught up; the old sync standby returns as async.
fn sync_standby_loss_and_return(c: &Cluster, primary: &str) {
    let (sync, potential) = sync_and_potential(c, primary);
    c.sql(primary, "create table durability(x int)");

    ok(c, OURS, &sync, "stop", &[]);
    // Only the sync standby is named: commits wait until the primary's
    // pass (its monitor, or the post-stop notification) names the other
    // standby, after taking the stopped one's score away.
    assert_eq!(c.run(OURS, primary, "monitor", &PROMOTED_MONITOR).rc, 8);
    let started = Instant::now();
    c.sql(
        primary,
        "set statement_timeout = '10s'; insert into durability values (1)",
    );
    println!(
        "commit after the primary's pass took {:?}",
        started.elapsed()
    );
    assert_eq!(
        c.sql(primary, "show synchronous_standby_names"),
        format!("FIRST 1 (\"{potential}\")")
    );
    assert_eq!(
        c.attribute(&sync, &attr(Attr::DataStatus)).as_deref(),
        Some("DISCONNECT")
    );
    assert_eq!(
        c.attribute(&sync, &attr(Attr::Score)).as_deref(),
        Some("-INFINITY")
    );
    assert_eq!(
        c.attribute(&sync, &attr(Attr::Status)).as_deref(),
        Some("STOP")
    );
    // The new sync standby is scored once it flushed what the primary had
    // flushed after the change: within the same monitor, or the next one.
    assert_eq!(c.run(OURS, primary, "monitor", &PROMOTED_MONITOR).rc, 8);
    assert_eq!(
        c.attribute(&potential, &attr(Attr::Status)).as_deref(),
        Some("HS:sync")
    );
    assert_eq!(
        c.attribute(&potential, &attr(Attr::DataStatus)).as_deref(),
        Some("STREAMING|SYNC")
    );
    assert_eq!(
        c.attribute(&potential, &attr(Attr::Score)).as_deref(),
        Some("100")
    );

    ok(c, OURS, &sync, "start", &[]);
    c.wait_streaming(&sync, Duration::from_secs(30));
    assert_eq!(c.run(OURS, primary, "monitor", &PROMOTED_MONITOR).rc, 8);
    ok(c, OURS, &sync, "monitor", &MONITOR);
    assert_eq!(
        c.attribute(&sync, &attr(Attr::Status)).as_deref(),
        Some("HS:async"),
        "{}",
        c.attributes_table()
    );
    assert_eq!(
        c.attribute(&sync, &attr(Attr::DataStatus)).as_deref(),
        Some("STREAMING|ASYNC")
    );
    assert_eq!(
        c.attribute(&potential, &attr(Attr::Status)).as_deref(),
        Some("HS:sync")
    );
}

/// A planned switchover, as Pacemaker runs it for a ban of the promoted
/// role: the old primary ends streaming from the new one by itself, its
/// PGSQL.lock removed once that proves it was not ahead; nothing is lost.
fn switchover(c: &Cluster, old: &str) -> String {
    let old = old.to_string();
    let (new, third) = sync_and_potential(c, &old);
    let nodes = c.node_names();
    c.sql(
        &old,
        "create table t(x int); insert into t select generate_series(1, 1000)",
    );

    // The VIP (here: every standby's target) moves to the new primary.
    c.set_primary_target(&new);
    let (o, n): (&str, &str) = (&old, &new);
    let all_but_old: Vec<&str> = nodes.iter().copied().filter(|x| *x != o).collect();
    notify_all(
        c,
        OURS,
        &Notify {
            kind: "pre",
            operation: "demote",
            demote: &[o],
            active: &nodes,
            promoted: &[o],
            unpromoted: &all_but_old,
            all: &nodes,
            ..Notify::default()
        },
    );
    demote(c, o);
    assert_eq!(
        c.sql(o, "select pg_is_in_recovery()"),
        "t",
        "the old primary runs again, as a standby"
    );
    assert!(
        c.node(o).tmpdir.join("PGSQL.lock").exists(),
        "the lock stays until proven safe"
    );
    c.set_promoted(None);
    notify_all(
        c,
        OURS,
        &Notify {
            kind: "post",
            operation: "demote",
            demote: &[o],
            active: &nodes,
            promoted: &[o],
            unpromoted: &all_but_old,
            all: &nodes,
            ..Notify::default()
        },
    );
    no_election_writes_before_the_promote(c, &nodes, &third);

    promote(c, OURS, n);
    let others: Vec<&str> = nodes.iter().copied().filter(|x| *x != n).collect();

    c.repoint_standbys(OURS);
    c.wait_streaming(o, Duration::from_secs(30));
    c.wait_streaming(&third, Duration::from_secs(30));
    for _ in 0..2 {
        assert_eq!(c.run(OURS, n, "monitor", &PROMOTED_MONITOR).rc, 8);
        for s in &others {
            ok(c, OURS, s, "monitor", &MONITOR);
        }
    }
    println!("{}", c.attributes_table());
    assert!(
        !c.node(o).tmpdir.join("PGSQL.lock").exists(),
        "streaming proved the old primary safe"
    );
    assert_eq!(c.sql(n, "select count(*) from t"), "1000", "nothing lost");
    assert_eq!(c.attribute(n, &attr(Attr::Status)).as_deref(), Some("PRI"));
    let mut standby_states: Vec<String> = others
        .iter()
        .map(|s| c.attribute(s, &attr(Attr::Status)).unwrap())
        .collect();
    standby_states.sort();
    assert_eq!(standby_states, ["HS:async", "HS:sync"]);
    assert_eq!(
        c.attribute(o, &attr(Attr::Status)).as_deref(),
        Some("HS:sync"),
        "the former primary is the new sync standby, so the switchover can be undone"
    );
    for s in &nodes {
        assert!(
            !c.deferral_note(s).exists(),
            "{s}'s deferral ended with the promotion"
        );
    }
    new
}

/// Between the demote and the promote a standby's monitor writes nothing
/// (each write would abort Pacemaker's transition): every node defers and
/// makes its note. Once the deferral ran out, the third node runs the
/// election as it did before (its receiver follows the new primary's
/// address, so its position is not final yet and stays unpublished).
fn no_election_writes_before_the_promote(c: &Cluster, nodes: &[&str], third: &str) {
    let before = c.attributes();
    for s in nodes {
        ok(c, OURS, s, "monitor", &MONITOR);
        assert!(c.deferral_note(s).exists(), "{s} deferred");
    }
    assert_eq!(c.attributes(), before, "{}", c.attributes_table());
    c.expire_deferral(third);
    let out = c.run(OURS, third, "monitor", &MONITOR);
    assert_eq!(out.rc, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("Master does not exist."),
        "{}",
        out.stderr
    );
    assert!(c.deferral_note(third).exists(), "an expired note stays");
}

/// The host a standby's primary_conninfo names in postgresql.auto.conf.
fn written_host(c: &Cluster, node: &str) -> String {
    let auto = std::fs::read_to_string(c.node(node).pgdata.join("postgresql.auto.conf")).unwrap();
    let line = auto
        .lines()
        .find(|l| l.starts_with("primary_conninfo = "))
        .unwrap_or_else(|| panic!("{auto}"));
    let host = line
        .split("host=''")
        .nth(1)
        .and_then(|r| r.split("''").next());
    host.unwrap_or_else(|| panic!("{line}")).to_string()
}

/// replication_hosts: every standby streams from the promoted node's own
/// host (here three names of 127.0.0.1) from the post-promote
/// notification on, before any VIP would move: after the first
/// promotion and after a switchover, the old primary included. A standby
/// that names another host (a notification it missed) follows at its
/// monitor; with nobody promoted, or the parameter deleted, a standby
/// goes back to master_ip at its monitor.
#[test]
fn standbys_follow_the_promoted_node_with_replication_hosts() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    let hosts = [
        ("pg01", "127.0.0.1"),
        ("pg02", "localhost"),
        ("pg03", "127.1"),
    ];
    let list: Vec<String> = hosts.iter().map(|(n, h)| format!("{n}={h}")).collect();
    c.set_param("replication_hosts", &list.join(" "));
    let host_of = |n: &str| hosts.iter().find(|(m, _)| *m == n).unwrap().1;
    let primary = bring_up(&c, OURS);
    let check = |primary: &str| {
        for n in c.node_names().iter().filter(|n| **n != primary) {
            assert_eq!(written_host(&c, n), host_of(primary), "{n}");
            c.wait_streaming(n, Duration::from_secs(30));
        }
    };
    check(&primary);
    let new = switchover(&c, &primary);
    check(&new);
    // A standby left on another host follows at its monitor.
    let (_, third) = sync_and_potential(&c, &new);
    let auto = c.node(&third).pgdata.join("postgresql.auto.conf");
    let text = std::fs::read_to_string(&auto).unwrap();
    let moved = text.replace(&format!("host=''{}''", host_of(&new)), "host=''127.0.0.2''");
    assert_ne!(moved, text);
    std::fs::write(&auto, moved).unwrap();
    let out = c.run(OURS, &third, "monitor", &MONITOR);
    assert_eq!(out.rc, 0, "{}", out.stderr);
    assert!(out.stderr.contains("Streaming from"), "{}", out.stderr);
    assert_eq!(written_host(&c, &third), host_of(&new));
    c.wait_streaming(&third, Duration::from_secs(30));
    // Nobody promoted (between a demote and a promote): master_ip, which
    // nobody holds then, not a former primary that may run as a standby;
    // the promoted node again once there is one.
    c.set_promoted(None);
    ok(&c, OURS, &third, "monitor", &MONITOR);
    assert_eq!(written_host(&c, &third), "127.0.0.1");
    c.set_promoted(Some(&new));
    ok(&c, OURS, &third, "monitor", &MONITOR);
    assert_eq!(written_host(&c, &third), host_of(&new));
    // The parameter deleted: back to master_ip at the next monitor.
    c.unset_param("replication_hosts");
    for n in c.node_names().iter().filter(|n| **n != new) {
        ok(&c, OURS, n, "monitor", &MONITOR);
        assert_eq!(written_host(&c, n), "127.0.0.1", "{n}");
        c.wait_streaming(n, Duration::from_secs(30));
    }
}

/// `pg_basebackup -R` (or ALTER SYSTEM) left a primary_conninfo with the
/// wrong application_name in postgresql.auto.conf: the agent's wins.
#[test]
fn postgresql_auto_conf_cannot_override_the_agent() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    let auto = c.node("pg02").pgdata.join("postgresql.auto.conf");
    let stale = format!(
        "primary_conninfo = 'host=127.0.0.1 port={} user=postgres application_name=walreceiver'\n",
        c.node("pg01").port
    );
    crate::support::append(&auto, &stale);
    let primary = bring_up(&c, OURS);
    let text = std::fs::read_to_string(&auto).unwrap();
    assert!(!text.contains("walreceiver"), "{text}");
    if primary != "pg02" {
        assert!(
            c.attribute("pg02", &attr(Attr::DataStatus))
                .unwrap()
                .starts_with("STREAMING|"),
            "{}",
            c.attributes_table()
        );
    }
}

#[test]
fn pgsql_lock_refuses_start() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02"]);
    let tmpdir = &c.node("pg02").tmpdir;
    std::fs::create_dir_all(tmpdir).unwrap();
    std::fs::write(tmpdir.join("PGSQL.lock"), "").unwrap();
    let out = c.run(OURS, "pg02", "start", &[]);
    assert_eq!(out.rc, 1);
    assert!(
        out.stderr.contains(&format!(
            "ocf-exit-reason:My data may be inconsistent. You have to remove {}/PGSQL.lock file to force start.",
            tmpdir.display()
        )),
        "{}",
        out.stderr
    );
    assert!(!c.is_running("pg02"));
}

/// Two nodes: the sync standby crashes, the primary's monitor switches to
/// asynchronous commits (nobody to wait for); it returns and is sync again.
/// An action stopped between `ALTER SYSTEM` and the reload left a list in
/// postgresql.auto.conf that no rule checked: the primary's next monitor
/// puts the list in effect back in the file, with a warning, so that no
/// later reload or restart applies the other one.
#[test]
fn a_list_left_in_postgresql_auto_conf_is_set_back_to_the_one_in_effect() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02"]);
    let primary = bring_up(&c, OURS);
    let in_effect = c.sql(&primary, "show synchronous_standby_names");
    let in_file = "select setting from pg_file_settings \
                   where name = 'synchronous_standby_names' order by seqno desc limit 1";
    c.sql(
        &primary,
        "alter system set synchronous_standby_names = 'FIRST 1 (nobody)'",
    );
    assert_eq!(c.sql(&primary, in_file), "FIRST 1 (nobody)");
    let out = c.run(OURS, &primary, "monitor", &PROMOTED_MONITOR);
    assert_eq!(out.rc, 8, "{}", out.stderr);
    assert!(
        out.stderr.contains("which is not in effect"),
        "no warning: {}",
        out.stderr
    );
    assert_eq!(c.sql(&primary, in_file), in_effect);
    assert_eq!(c.sql(&primary, "show synchronous_standby_names"), in_effect);
    // Once is enough.
    let out = c.run(OURS, &primary, "monitor", &PROMOTED_MONITOR);
    assert!(
        !out.stderr.contains("which is not in effect"),
        "{}",
        out.stderr
    );
}

#[test]
fn sync_standby_crash_switches_to_async_and_back() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02"]);
    let primary = bring_up(&c, OURS);
    let standby = if primary == "pg01" { "pg02" } else { "pg01" };
    assert_eq!(
        c.sql(&primary, "show synchronous_standby_names"),
        format!("FIRST 1 (\"{standby}\")")
    );
    let pid = kill_postmaster(&c, standby);

    // Its node is still a member: the primary keeps waiting for it (no
    // commit is acknowledged without it), but takes its score away.
    assert_eq!(c.run(OURS, &primary, "monitor", &PROMOTED_MONITOR).rc, 8);
    assert_eq!(
        c.attribute(standby, &attr(Attr::DataStatus)).as_deref(),
        Some("DISCONNECT")
    );
    assert_eq!(
        c.attribute(standby, &attr(Attr::Score)).as_deref(),
        Some("-INFINITY")
    );
    assert_eq!(
        c.sql(&primary, "show synchronous_standby_names"),
        format!("FIRST 1 (\"{standby}\")")
    );
    let out = c.run(OURS, standby, "monitor", &MONITOR);
    assert_eq!(out.rc, 1, "a crashed standby: {}", out.stderr);
    crate::support::wait_until_reaped(pid);
    ok(&c, OURS, standby, "stop", &[]);

    // Its node leaves the cluster (the partition keeps quorum): now the
    // primary may stop waiting.
    c.set_online(standby, false);
    assert_eq!(c.run(OURS, &primary, "monitor", &PROMOTED_MONITOR).rc, 8);
    assert_eq!(c.sql(&primary, "show synchronous_standby_names"), "");
    c.sql(
        &primary,
        "set statement_timeout = '5s'; create table t(x int); insert into t values (1)",
    );

    c.set_online(standby, true);
    ok(&c, OURS, standby, "stop", &[]);
    ok(&c, OURS, standby, "start", &[]);
    c.wait_streaming(standby, Duration::from_secs(30));
    for _ in 0..2 {
        assert_eq!(c.run(OURS, &primary, "monitor", &PROMOTED_MONITOR).rc, 8);
    }
    assert_eq!(
        c.attribute(standby, &attr(Attr::DataStatus)).as_deref(),
        Some("STREAMING|SYNC")
    );
    assert_eq!(
        c.attribute(standby, &attr(Attr::Score)).as_deref(),
        Some("100")
    );
    assert_eq!(
        c.sql(&primary, "show synchronous_standby_names"),
        format!("FIRST 1 (\"{standby}\")")
    );
}

/// The primary's monitors (five at most) until its quorum record is `want`.
fn quorum_record_becomes(c: &Cluster, primary: &str, want: &str) {
    for _ in 0..5 {
        if c.attribute(primary, &attr(Attr::AckedOnAny)).as_deref() == Some(want) {
            return;
        }
        assert_eq!(c.run(OURS, primary, "monitor", &PROMOTED_MONITOR).rc, 8);
    }
    // The fifth monitor's write counts too.
    assert_eq!(
        c.attribute(primary, &attr(Attr::AckedOnAny)).as_deref(),
        Some(want),
        "{primary}'s record:\n{}",
        c.attributes_table()
    );
}

/// Quorum mode on three nodes (`ANY 1` of both standbys): the primary
/// lists both and records them as voters; a standby's PostgreSQL killed
/// costs commits nothing; its node gone, it leaves the list, then the
/// record once the other holds the ceiling; the primary crashed, the
/// remaining voter is promoted with every acknowledged row.
#[test]
fn quorum_commit_on_three_nodes() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    c.set_param("rep_mode", "quorum");
    c.set_cluster_option("stonith-enabled", "true");
    let primary = bring_up(&c, OURS);
    let p: &str = &primary;
    let standbys: Vec<String> = c
        .node_names()
        .into_iter()
        .filter(|n| *n != p)
        .map(String::from)
        .collect();
    let (a, b) = (standbys[0].as_str(), standbys[1].as_str());
    assert_eq!(
        c.sql(p, "show synchronous_standby_names"),
        format!("ANY 1 (\"{a}\", \"{b}\")")
    );
    quorum_record_becomes(&c, p, &format!("1 of {a} {b}"));
    for n in [a, b] {
        assert_eq!(
            c.attribute(n, &attr(Attr::DataStatus)).as_deref(),
            Some("STREAMING|QUORUM")
        );
        assert_eq!(
            c.attribute(n, &attr(Attr::Status)).as_deref(),
            Some("HS:quorum")
        );
    }

    // b's PostgreSQL dies: commits go on with a alone, without a monitor.
    let pid = kill_postmaster(&c, b);
    crate::support::wait_until_reaped(pid);
    c.sql(
        p,
        "set statement_timeout = '5s'; create table t(x int); \
         insert into t select generate_series(1, 500)",
    );
    // b's node leaves: out of the list, then (a at the ceiling) the record.
    ok(&c, OURS, b, "stop", &[]);
    c.set_online(b, false);
    quorum_record_becomes(&c, p, &format!("1 of {a}"));
    assert_eq!(
        c.sql(p, "show synchronous_standby_names"),
        format!("ANY 1 (\"{a}\")")
    );

    // The primary crashes: a, the one voter, holds every row.
    let pid = kill_postmaster(&c, p);
    assert_eq!(c.run(OURS, p, "monitor", &PROMOTED_MONITOR).rc, 1);
    crate::support::wait_until_reaped(pid);
    demote(&c, p);
    ok(&c, OURS, p, "stop", &[]);
    c.set_promoted(None);
    c.set_online(p, false);
    promote_among(&c, &[a], a);
    assert_eq!(c.sql(a, "select count(*) from t"), "500");
}

/// Quorum mode, a double fault: the primary and one voter lost together.
/// The other voter cannot know whether the lost one acknowledged commits
/// it lacks: its promotion is refused, naming the voter whose position is
/// missing, and nothing is written.
#[test]
fn quorum_a_promotion_without_enough_voters_is_refused() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    c.set_param("rep_mode", "quorum");
    c.set_cluster_option("stonith-enabled", "true");
    let primary = bring_up(&c, OURS);
    let p: &str = &primary;
    let nodes = c.node_names();
    let others: Vec<&str> = nodes.iter().copied().filter(|n| *n != p).collect();
    let (a, b) = (others[0], others[1]);
    quorum_record_becomes(&c, p, &format!("1 of {a} {b}"));
    for n in [p, b] {
        let pid = kill_postmaster(&c, n);
        crate::support::wait_until_reaped(pid);
    }
    assert_eq!(c.run(OURS, p, "monitor", &PROMOTED_MONITOR).rc, 1);
    demote(&c, p);
    for n in [p, b] {
        ok(&c, OURS, n, "stop", &[]);
        c.set_online(n, false);
    }
    c.set_promoted(None);
    notify_all_on(&c, &[a], &pre_promote_of(&[a], &[a]));
    let (why, log) = refused_logged(&c, a, "promote", &[]);
    assert!(why.contains(&format!("needed; none from {b}")), "{why}");
    assert!(
        log.contains(&format!("{b} may hold commits this node lacks")),
        "{log}"
    );
    assert_eq!(c.sql(a, "select pg_is_in_recovery()"), "t");
}

/// A standby outside the cluster (`external_standby_node_list`, a DR
/// site's) is listed after the sync standby while it streams, so commits
/// wait for both, without moving a score. The sync standby lost while it
/// streams: the other standby is named beside it, and scored (PostgreSQL
/// shows both listed standbys sync). Stopped, the DR standby is dropped at
/// the next monitor with the stock warning, and commits no longer wait for
/// it.
#[test]
fn an_external_standby_is_listed_while_it_streams_and_dropped_with_the_warning() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    c.set_param("external_standby_node_list", "DR1 dr2");
    let primary = bring_up(&c, OURS);
    let (sync, other) = sync_and_potential(&c, &primary);
    let score = |n: &str| c.attribute(n, &attr(Attr::Score));
    assert_eq!(score(&sync).as_deref(), Some("100"));
    c.start_external("dr1", &primary);
    let dr1_streams = "select count(*) from pg_stat_replication \
                       where application_name = 'dr1' and state = 'streaming'";
    crate::support::wait_until("dr1 streams", Duration::from_secs(30), || {
        c.sql(&primary, dr1_streams) == "1"
    });
    let list = || c.sql(&primary, "show synchronous_standby_names");

    assert_eq!(c.run(OURS, &primary, "monitor", &PROMOTED_MONITOR).rc, 8);
    let listed = format!("FIRST 2 (\"{sync}\", \"dr1\")");
    assert_eq!(list(), listed);
    let rep_mode_conf = c.node(&primary).tmpdir.join("rep_mode.conf");
    assert!(
        std::fs::read_to_string(&rep_mode_conf)
            .unwrap()
            .contains(&listed),
        "rep_mode.conf says what PostgreSQL has"
    );
    assert_eq!(score(&sync).as_deref(), Some("100"));
    assert_eq!(
        c.sql(
            &primary,
            "select string_agg(application_name || ':' || sync_state, ' ' \
             order by application_name) from pg_stat_replication"
        ),
        format!("dr1:sync {sync}:sync {other}:async")
    );
    let (_, warnings) = c.sql_with_warnings(
        &primary,
        "set statement_timeout = '5s'; create table t(x int); insert into t values (1)",
    );
    assert_eq!(warnings, "", "the commit was acknowledged by both");

    // The sync standby's PostgreSQL dies: the other standby is named
    // beside dr1 and scored once it holds the ceiling.
    let pid = kill_postmaster(&c, &sync);
    crate::support::wait_until_reaped(pid);
    for _ in 0..3 {
        assert_eq!(c.run(OURS, &primary, "monitor", &PROMOTED_MONITOR).rc, 8);
        if score(&other).as_deref() == Some("100") {
            break;
        }
    }
    assert_eq!(list(), format!("FIRST 2 (\"{other}\", \"dr1\")"));
    assert_eq!(score(&other).as_deref(), Some("100"));
    assert_eq!(score(&sync).as_deref(), Some("-INFINITY"));

    c.stop_external("dr1");
    crate::support::wait_until("dr1's walsender is gone", Duration::from_secs(30), || {
        c.sql(
            &primary,
            "select count(*) from pg_stat_replication where application_name = 'dr1'",
        ) == "0"
    });
    let out = c.run(OURS, &primary, "monitor", &PROMOTED_MONITOR);
    assert_eq!(out.rc, 8, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("The synchronous connection from dr1 was disconnected."),
        "{}",
        out.stderr
    );
    assert_eq!(list(), format!("FIRST 1 (\"{other}\")"));
    assert_eq!(score(&other).as_deref(), Some("100"));
    // A commit waits for the sync standby alone again: within the timeout,
    // and with no cancelled wait (which would only warn).
    let (out, warnings) = c.sql_with_warnings(
        &primary,
        "set statement_timeout = '5s'; insert into t values (2); select count(*) from t",
    );
    assert_eq!((out.as_str(), warnings.as_str()), ("2", ""));
}

/// kill -9 of the primary: Pacemaker's recovery of it fails safely (the
/// monitor says 1, demote and stop succeed, start is refused by PGSQL.lock),
/// and the sync standby is promoted with every committed row.
#[test]
fn failover_after_the_primary_crashes() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    let old = bring_up(&c, OURS);
    let (sync, third) = sync_and_potential(&c, &old);
    c.sql(
        &old,
        "create table t(x int); insert into t select generate_series(1, 500)",
    );
    let pid = kill_postmaster(&c, &old);

    let out = c.run(OURS, &old, "monitor", &PROMOTED_MONITOR);
    assert_eq!(out.rc, 1, "{}", out.stderr);
    crate::support::wait_until_reaped(pid);
    let nodes = c.node_names();
    let o: &str = &old;
    let s: &str = &sync;
    let rest: Vec<&str> = nodes.iter().copied().filter(|x| *x != o).collect();
    demote(&c, o);
    ok(&c, OURS, o, "stop", &[]);
    assert_eq!(c.attribute(o, &attr(Attr::Status)).as_deref(), Some("STOP"));
    assert!(
        c.node(o).tmpdir.join("PGSQL.lock").exists(),
        "a crashed primary keeps its lock"
    );
    c.set_promoted(None);
    c.set_online(o, false);

    // Only the sync standby may be promoted: 100 against -INFINITY.
    assert_eq!(c.attribute(s, &attr(Attr::Score)).as_deref(), Some("100"));
    assert_eq!(
        c.attribute(&third, &attr(Attr::Score)).as_deref(),
        Some("-INFINITY")
    );
    promote_among(&c, &rest, s);
    c.set_promoted(Some(s));
    assert_eq!(
        c.sql(s, "select count(*) from t"),
        "500",
        "every committed row survived"
    );

    c.set_online(o, true);
    let out = c.run(OURS, o, "start", &[]);
    assert_eq!(
        out.rc, 1,
        "the old primary's data may be ahead: {}",
        out.stderr
    );
    assert!(out.stderr.contains("You have to remove"), "{}", out.stderr);
}

/// A former primary's PostgreSQL started by hand after the failover (no
/// standby.signal: a primary on the old timeline), then the new primary's
/// node crashes, its published history gone with it: a cleanup's probe of
/// the former primary finds a primary nobody promoted. The records still
/// name the new primary LATEST (an offline node's permanent attribute) and
/// the former one DISCONNECT: the probe fails and takes its score away,
/// and the former primary does not claim LATEST (R44).
#[test]
fn a_former_primary_started_by_hand_fails_its_probe_while_the_records_name_another() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    let (old, sync, other) = primary_crashed_with_rows(&c, 10);
    let (o, s, a): (&str, &str, &str) = (&old, &sync, &other);
    promote_among(&c, &[s, a], s);
    c.set_promoted(Some(s));
    let data_status = |n: &str| c.attribute(n, &attr(Attr::DataStatus));
    assert_eq!(data_status(s).as_deref(), Some("LATEST"));
    assert_eq!(data_status(o).as_deref(), Some("DISCONNECT"));
    let node = c.node(o);
    crate::support::run_as_postgres(
        &c.bin("pg_ctl"),
        &[
            "-D",
            node.pgdata.to_str().unwrap(),
            "-l",
            node.logfile.to_str().unwrap(),
            "-w",
            "start",
        ],
    );
    assert_eq!(c.sql(o, "select pg_is_in_recovery()"), "f");
    crate::support::wait_until_reaped(kill_postmaster(&c, s));
    c.set_promoted(None);
    c.set_online(s, false);
    c.set_online(o, true);
    let out = c.run(OURS, o, "monitor", &PROBE);
    assert_eq!(out.rc, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("the cluster records {s} as the last primary")),
        "{}",
        out.stderr
    );
    assert_eq!(
        c.attribute(o, &attr(Attr::Score)).as_deref(),
        Some("-INFINITY")
    );
    assert_eq!(data_status(o).as_deref(), Some("DISCONNECT"));
    assert_eq!(data_status(s).as_deref(), Some("LATEST"));
}

/// Two faults in a row: the primary's PostgreSQL dies, then the sync
/// standby's before it is promoted. Pacemaker restarts the standby; it
/// keeps its score (it holds every acknowledged commit: what it flushed
/// survives), so it is promoted without a human, and nothing is lost.
#[test]
fn the_sync_standby_is_promoted_after_its_own_restart() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    let old = bring_up(&c, OURS);
    let (sync, third) = sync_and_potential(&c, &old);
    c.sql(
        &old,
        "create table t(x int); insert into t select generate_series(1, 500)",
    );
    let (o, s): (&str, &str) = (&old, &sync);
    crate::support::wait_until_reaped(kill_postmaster(&c, o));
    crate::support::wait_until_reaped(kill_postmaster(&c, s));
    assert_eq!(c.run(OURS, o, "monitor", &PROMOTED_MONITOR).rc, 1);
    assert_ne!(c.run(OURS, s, "monitor", &MONITOR).rc, 0);
    // Pacemaker's recovery: the old primary is demoted and stopped (it
    // keeps its lock), the sync standby stopped and started again.
    demote(&c, o);
    ok(&c, OURS, o, "stop", &[]);
    c.set_promoted(None);
    c.set_online(o, false);
    ok(&c, OURS, s, "stop", &[]);
    assert_eq!(c.attribute(s, &attr(Attr::Score)).as_deref(), Some("100"));
    ok(&c, OURS, s, "start", &[]);
    ok(&c, OURS, s, "monitor", &MONITOR);
    assert_eq!(c.attribute(s, &attr(Attr::Score)).as_deref(), Some("100"));
    assert_eq!(
        c.attribute(&third, &attr(Attr::Score)).as_deref(),
        Some("-INFINITY")
    );
    promote_among(&c, &[s, third.as_str()], s);
    assert_eq!(c.sql(s, "select count(*) from t"), "500", "nothing lost");
}

/// A primary with 300 committed rows whose two standbys are stopped and
/// have lost their scores (the primary's passes took them): no other node
/// can be promoted. Returns the primary, then the two standbys.
fn primary_nobody_can_replace(c: &Cluster) -> (String, String, String) {
    let primary = bring_up(c, OURS);
    let (sync, potential) = sync_and_potential(c, &primary);
    c.sql(
        &primary,
        "create table t(x int); insert into t select generate_series(1, 300)",
    );
    for standby in [&sync, &potential] {
        ok(c, OURS, standby, "stop", &[]);
        for _ in 0..2 {
            assert_eq!(c.run(OURS, &primary, "monitor", &PROMOTED_MONITOR).rc, 8);
        }
    }
    (primary, sync, potential)
}

/// The primary's PostgreSQL crashes while no other node can be promoted
/// (both standbys lost, their scores taken away): the primary's monitor
/// runs crash recovery in place and the cluster keeps its primary, with
/// every committed row. A second crash right after is left to Pacemaker.
#[test]
fn a_crashed_primary_that_nobody_can_replace_recovers_in_place() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    let (primary, sync, potential) = primary_nobody_can_replace(&c);
    let p: &str = &primary;
    for standby in [&sync, &potential] {
        assert_eq!(
            c.attribute(standby, &attr(Attr::Score)).as_deref(),
            Some("-INFINITY"),
            "{}",
            c.attributes_table()
        );
    }
    crash_and_recover_in_place(&c, p);
    assert_eq!(c.sql(p, "select count(*) from t"), "300");
    assert_eq!(c.sql(p, "select pg_is_in_recovery()"), "f");
    crate::support::wait_until_reaped(kill_postmaster(&c, p));
    let out = c.run(OURS, p, "monitor", &PROMOTED_MONITOR);
    assert_eq!(out.rc, 1, "{}", out.stderr);
    assert!(out.stderr.contains("a short while ago"), "{}", out.stderr);
}

/// Before PostgreSQL 15, in sync mode, a restarted server lets clients
/// commit before the flag that makes commits wait for the sync standby is
/// set. So a recovery in place first takes back the score a failed sync
/// standby kept, the record naming it and the ceiling read under the
/// crashed postmaster: nobody but the primary holds what it may
/// acknowledge alone.
#[test]
fn before_15_a_recovery_in_place_takes_the_claims_back_first() {
    let c = Cluster::new(Major::V14, &["pg01", "pg02", "pg03"]);
    let (primary, sync, _) = primary_nobody_can_replace(&c);
    let p: &str = &primary;
    // What a sync standby whose instance failed keeps (rule 8), the record
    // naming it, and a ceiling as a pass records it.
    c.set_attribute(&sync, &attr(Attr::Score), "100");
    c.set_permanent_attribute(p, &attr(Attr::AckedAlsoOn), &sync);
    c.fail_instance(&sync);
    let ceiling = c.node(p).tmpdir.join("sync_ceiling");
    std::fs::write(&ceiling, "a ceiling of the crashed postmaster").unwrap();
    let out = crash_and_recover_in_place(&c, p);
    assert_eq!(
        c.attribute(&sync, &attr(Attr::Score)).as_deref(),
        Some("-INFINITY"),
        "{}",
        c.attributes_table()
    );
    assert_eq!(c.attribute(p, &attr(Attr::AckedAlsoOn)), None);
    assert!(!ceiling.exists());
    // Taken back before PostgreSQL started.
    let revoked = out.stderr.find(&format!("master score on {sync}"));
    let started = out.stderr.find("PostgreSQL start command sent");
    assert!(
        matches!((revoked, started), (Some(r), Some(s)) if r < s),
        "{}",
        out.stderr
    );
    assert_eq!(c.sql(p, "select count(*) from t"), "300");
}

/// Kill the primary's postmaster; its monitor recovers it in place.
fn crash_and_recover_in_place(c: &Cluster, primary: &str) -> crate::support::AgentOutput {
    crate::support::wait_until_reaped(kill_postmaster(c, primary));
    let out = c.run(OURS, primary, "monitor", &PROMOTED_MONITOR);
    assert_eq!(out.rc, 8, "{}", out.stderr);
    assert!(
        out.stderr.contains("crash recovery in place"),
        "{}",
        out.stderr
    );
    out
}

/// The pre-promote notification on the nodes still running, then the
/// promote, as Pacemaker runs them after a failure.
fn promote_among(c: &Cluster, alive: &[&str], target: &str) {
    notify_all_on(c, alive, &pre_promote_of(&[target], alive));
    ok(c, OURS, target, "promote", &[]);
}

/// The primary's node crashes while no other node can be promoted (both
/// standbys lost their scores): when it comes back, nobody having been
/// promoted since, its start runs it as a standby (its lock kept) instead
/// of refusing, and the election promotes it again.
#[test]
fn the_last_primary_back_from_a_node_crash_is_elected_again() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    let (primary, sync, potential) = last_primary_back_from_a_node_crash(&c);
    let p: &str = &primary;
    let deadline = Instant::now() + Duration::from_secs(30);
    while c.attribute(p, &attr(Attr::Score)).as_deref() != Some("1000") {
        assert!(Instant::now() < deadline, "{}", c.attributes_table());
        for n in c.node_names() {
            ok(&c, OURS, n, "monitor", &MONITOR);
        }
    }
    // A standby that claims too holds exactly the same WAL (ties all win).
    for n in [&sync, &potential] {
        if c.attribute(n, &attr(Attr::Score)).as_deref() == Some("1000") {
            assert_eq!(
                c.attribute(n, &attr(Attr::XlogLoc)),
                c.attribute(p, &attr(Attr::XlogLoc))
            );
        }
    }
    promote_among(&c, &c.node_names(), p);
    assert_eq!(c.sql(p, "select count(*) from t"), "300", "nothing lost");
}

/// [`primary_nobody_can_replace`], then its node dies: Pacemaker forgets
/// the promoted instance; when the node is back, the probe finds the
/// crash, stop cleans up, and start runs it as a standby with its lock.
/// Both standbys are started again. Returns the three as that function.
fn last_primary_back_from_a_node_crash(c: &Cluster) -> (String, String, String) {
    let (primary, sync, potential) = primary_nobody_can_replace(c);
    let p: &str = &primary;
    crate::support::wait_until_reaped(kill_postmaster(c, p));
    c.set_promoted(None);
    c.clear_primary_target();
    ok(c, OURS, p, "stop", &[]);
    ok(c, OURS, p, "start", &[]);
    assert!(
        c.node(p).tmpdir.join("PGSQL.lock").exists(),
        "the lock stays"
    );
    for standby in [&sync, &potential] {
        ok(c, OURS, standby, "start", &[]);
    }
    (primary, sync, potential)
}

/// The last primary back from its node's crash replayed complete records
/// only; a standby received part of a record it never finished, and
/// publishes a position ahead of it on its timeline (made up here: the
/// byte after its own). That standby holds nothing acknowledged the last
/// primary lacks: it neither wins the election (the last primary does,
/// and stays `LATEST`) nor gets the promotion handed over in pre-promote,
/// where a lost voter would have left it unable to prove its own.
#[test]
fn the_last_primary_keeps_the_promotion_from_a_peer_ahead_on_its_timeline() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    let (primary, sync, potential) = last_primary_back_from_a_node_crash(&c);
    let (p, s, a): (&str, &str, &str) = (&primary, &sync, &potential);
    let tli = c.sql(p, "select timeline_id from pg_control_checkpoint()");
    let ahead = lsn(&c.sql(p, "select pg_last_wal_replay_lsn()")) + 1;
    c.set_attribute(a, &attr(Attr::XlogLoc), &format!("{ahead:016X}"));
    c.set_attribute(a, &attr(Attr::XlogTli), &tli);
    // Only p and s run their monitors: a's would publish its real position.
    let deadline = Instant::now() + Duration::from_secs(30);
    while c.attribute(p, &attr(Attr::Score)).as_deref() != Some("1000") {
        assert!(Instant::now() < deadline, "{}", c.attributes_table());
        for n in [p, s] {
            ok(&c, OURS, n, "monitor", &MONITOR);
        }
    }
    assert_eq!(
        c.attribute(p, &attr(Attr::DataStatus)).as_deref(),
        Some("LATEST"),
        "{}",
        c.attributes_table()
    );
    assert_ne!(c.attribute(a, &attr(Attr::Score)).as_deref(), Some("1000"));
    // The same made-up position in pre-promote: no hand-over.
    c.set_attribute(
        a,
        &private(PrivateAttr::Position),
        &format!("{tli}/{ahead:016X}"),
    );
    let nodes = c.node_names();
    let out = c.run(
        OURS,
        p,
        "notify",
        &env_refs(&pre_promote_of(&[p], &nodes).env()),
    );
    assert_eq!(out.rc, 0, "{}", out.stderr);
    assert!(
        !out.stderr.contains("Handing the promotion"),
        "{}",
        out.stderr
    );
    assert_eq!(c.attribute(p, &attr(Attr::Score)).as_deref(), Some("1000"));
    ok(&c, OURS, p, "promote", &[]);
    assert_eq!(c.sql(p, "select count(*) from t"), "300", "nothing lost");
}

/// A standby restarted with received WAL it has not replayed yet (here held
/// back by `recovery_min_apply_delay`): after the restart PostgreSQL
/// reports no receive position until the startup process has replayed the
/// local `pg_wal`, so its replay position still moves. It is no final
/// position: the standby publishes nothing for the election nor for a
/// promotion, and refuses to be promoted, instead of comparing a position
/// smaller than the WAL it holds.
#[test]
fn a_restarted_standby_publishes_no_position_while_it_replays_its_wal() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02"]);
    let primary = bring_up(&c, OURS);
    let standby = if primary == "pg01" { "pg02" } else { "pg01" };
    let p: &str = &primary;
    c.sql(p, "create table t(x int)");
    c.sql(standby, "alter system set recovery_min_apply_delay = '1h'");
    c.sql(standby, "select pg_reload_conf()");
    // The delay takes effect with the next commit record it replays.
    std::thread::sleep(Duration::from_millis(500));
    c.sql(p, "insert into t select generate_series(1, 100)");
    let target = c.sql(p, "select pg_current_wal_flush_lsn()");
    crate::support::wait_until(
        "the standby received every row",
        Duration::from_secs(20),
        || {
            c.sql(
                standby,
                &format!("select pg_last_wal_receive_lsn() >= '{target}'"),
            ) == "t"
        },
    );
    assert_eq!(c.sql(standby, "select count(*) from t"), "0", "held back");
    crate::support::wait_until_reaped(kill_postmaster(&c, p));
    c.set_promoted(None);
    c.clear_primary_target();
    c.set_online(p, false);
    ok(&c, OURS, standby, "stop", &[]);
    ok(&c, OURS, standby, "start", &[]);
    assert_eq!(
        c.sql(standby, "select pg_last_wal_receive_lsn() is null"),
        "t",
        "nothing received since the restart"
    );
    // Its kept 100 makes it the node to be promoted: its monitor defers
    // the election, then, the deferral run out, finds its position not
    // final.
    let out = c.run(OURS, standby, "monitor", &MONITOR);
    assert_eq!(out.rc, 0, "{}", out.stderr);
    assert!(out.stderr.contains("is to be promoted"), "{}", out.stderr);
    c.expire_deferral(standby);
    let out = c.run(OURS, standby, "monitor", &MONITOR);
    assert_eq!(out.rc, 0, "{}", out.stderr);
    assert!(out.stderr.contains("not final"), "{}", out.stderr);
    assert_eq!(
        c.attribute(standby, &attr(Attr::XlogLoc)),
        None,
        "{}",
        c.attributes_table()
    );
    let alone = [standby];
    notify_all_on(&c, &alone, &pre_promote_of(&alone, &alone));
    assert_eq!(c.attribute(standby, &private(PrivateAttr::Position)), None);
    // The target gives its score up: Pacemaker aborts the transition
    // instead of counting a refused promote as a failure.
    assert_eq!(
        c.attribute(standby, &attr(Attr::Score)).as_deref(),
        Some("-INFINITY"),
        "{}",
        c.attributes_table()
    );
    // Run anyway, the promote is refused.
    let out = c.run(OURS, standby, "promote", &[]);
    assert_eq!(out.rc, 1, "{}", out.stderr);
    assert!(out.stderr.contains("still moves"), "{}", out.stderr);
    assert_eq!(c.sql(standby, "select pg_is_in_recovery()"), "t");
}

/// A healthy three-node cluster with `rows` committed rows whose primary's
/// PostgreSQL was then killed (kill -9, reaped) and whose node left:
/// nobody promoted. Returns the old primary, the sync standby, the other.
fn primary_crashed_with_rows(c: &Cluster, rows: u32) -> (String, String, String) {
    let old = bring_up(c, OURS);
    let (sync, other) = sync_and_potential(c, &old);
    c.sql(
        &old,
        &format!("create table t(x int); insert into t select generate_series(1, {rows})"),
    );
    assert_eq!(c.run(OURS, &old, "monitor", &PROMOTED_MONITOR).rc, 8);
    crate::support::wait_until_reaped(kill_postmaster(c, &old));
    c.set_promoted(None);
    c.clear_primary_target();
    c.set_online(&old, false);
    (old, sync, other)
}

/// The primary's node crashes and stays out; the sync standby's node
/// crashes a second later and comes back (its score, a transient
/// attribute, erased). crm_mon shows no attribute of the offline former
/// primary, but the CIB keeps its permanent record: `LATEST`, and the
/// standby that holds every acknowledged commit (`acked-also-on`). The
/// election reads it and promotes that standby, without waiting for the
/// node that stays out.
#[test]
fn the_recorded_standby_is_promoted_while_the_last_primary_stays_out() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    let (old, sync, other) = primary_crashed_with_rows(&c, 400);
    let (o, s, a): (&str, &str, &str) = (&old, &sync, &other);
    assert_eq!(c.attribute(o, &attr(Attr::AckedAlsoOn)).as_deref(), Some(s));
    crate::support::wait_until_reaped(kill_postmaster(&c, s));
    c.set_online(s, false);
    c.set_online(s, true);
    assert_eq!(
        c.attribute(s, &attr(Attr::Score)),
        None,
        "erased with the node"
    );
    ok(&c, OURS, s, "stop", &[]);
    ok(&c, OURS, s, "start", &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while c.attribute(s, &attr(Attr::Score)).as_deref() != Some("1000") {
        assert!(Instant::now() < deadline, "{}", c.attributes_table());
        for n in [s, a] {
            ok(&c, OURS, n, "monitor", &MONITOR);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    promote_among(&c, &[s, a], s);
    assert_eq!(c.sql(s, "select count(*) from t"), "400", "nothing lost");
}

/// The sync standby's replay was paused (`pg_wal_replay_pause()`, as an
/// operator does to look at a standby) when the primary died. Before 13 a
/// promotion waits for a paused standby to be resumed: promote resumes it,
/// and the standby replays what it received, every acknowledged row.
#[test]
fn a_paused_standby_is_promoted_with_what_it_received_on_12() {
    let c = Cluster::new(Major::V12, &["pg01", "pg02"]);
    let old = bring_up(&c, OURS);
    let standby = if old == "pg01" { "pg02" } else { "pg01" };
    let o: &str = &old;
    c.sql(o, "create table t(x int)");
    crate::support::wait_until("the table on the standby", Duration::from_secs(20), || {
        c.sql(standby, "select count(*) from pg_class where relname = 't'") == "1"
    });
    c.sql(standby, "select pg_wal_replay_pause()");
    c.sql(o, "insert into t select generate_series(1, 300)");
    assert_eq!(c.sql(standby, "select count(*) from t"), "0", "paused");
    crate::support::wait_until_reaped(kill_postmaster(&c, o));
    c.set_promoted(None);
    c.clear_primary_target();
    c.set_online(o, false);
    promote_among(&c, &[standby], standby);
    assert_eq!(c.sql(standby, "select pg_is_in_recovery()"), "f");
    assert_eq!(
        c.sql(standby, "select count(*) from t"),
        "300",
        "nothing lost"
    );
}

/// A promote that fails before it asks PostgreSQL to leave recovery (here
/// PGSQL.lock can't be created: tmpdir is not a directory) takes back the
/// records it wrote first: the crashed former primary is `LATEST` again and
/// the other standby keeps its data-status, so the cluster's record of who
/// holds what survives the failure, and no lock is left behind. Once the
/// cause is gone the same node is promoted.
#[test]
fn a_promote_that_fails_before_its_request_takes_its_records_back() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    let (old, sync, other) = primary_crashed_with_rows(&c, 200);
    let (o, s, a): (&str, &str, &str) = (&old, &sync, &other);
    let before = c.attribute(a, &attr(Attr::DataStatus));
    let tmpdir = c.node(s).tmpdir.clone();
    let aside = tmpdir.with_extension("aside");
    std::fs::rename(&tmpdir, &aside).unwrap();
    std::fs::write(&tmpdir, "not a directory").unwrap();
    notify_all_on(&c, &[s, a], &pre_promote_of(&[s], &[s, a]));
    let out = c.run(OURS, s, "promote", &[]);
    assert_eq!(out.rc, 1, "{}", out.stderr);
    assert!(out.stderr.contains("PGSQL.lock"), "{}", out.stderr);
    assert_eq!(c.sql(s, "select pg_is_in_recovery()"), "t");
    assert_eq!(
        c.attribute(o, &attr(Attr::DataStatus)).as_deref(),
        Some("LATEST"),
        "{}",
        c.attributes_table()
    );
    assert_eq!(c.attribute(a, &attr(Attr::DataStatus)), before);
    assert!(out.stderr.contains("back to LATEST"), "{}", out.stderr);
    std::fs::remove_file(&tmpdir).unwrap();
    std::fs::rename(&aside, &tmpdir).unwrap();
    assert!(!tmpdir.join("PGSQL.lock").exists());
    promote_among(&c, &[s, a], s);
    assert_eq!(c.sql(s, "select count(*) from t"), "200", "nothing lost");
    assert_eq!(
        c.attribute(o, &attr(Attr::DataStatus)).as_deref(),
        Some("DISCONNECT")
    );
}

/// Stop (or let go on) a standby's WAL receiver: its flush position stays
/// where it is while the primary writes on.
fn freeze_receiver(c: &Cluster, standby: &str, frozen: bool) {
    let signal = if frozen {
        nix::sys::signal::SIGSTOP
    } else {
        nix::sys::signal::SIGCONT
    };
    signal_process(c, standby, "select pid from pg_stat_wal_receiver", signal);
}

/// Send `signal` to the PostgreSQL process whose pid `sql` returns on
/// `node`; its pid.
fn signal_process(
    c: &Cluster,
    node: &str,
    sql: &str,
    signal: nix::sys::signal::Signal,
) -> nix::unistd::Pid {
    let pid = nix::unistd::Pid::from_raw(c.sql(node, sql).parse().expect("a pid"));
    nix::sys::signal::kill(pid, signal).unwrap();
    pid
}

/// WAL no commit waits for, so that nothing hangs on a standby that does
/// not flush.
fn emit_wal(c: &Cluster, primary: &str) -> String {
    c.sql(
        primary,
        "select pg_logical_emit_message(false, 'rustpg', repeat('x', 20000))",
    );
    c.sql(primary, "select pg_current_wal_flush_lsn()")
}

/// A newly named sync standby that is behind is scored once it has
/// flushed the primary's position read when it was named: later monitors
/// compare with that ceiling, not with a new one each time, which a
/// steady write load keeps ahead of it.
#[test]
fn a_newly_named_standby_is_scored_against_the_ceiling_read_when_it_was_named() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    let primary = bring_up(&c, OURS);
    let (sync, other) = sync_and_potential(&c, &primary);
    let (p, s, a): (&str, &str, &str) = (&primary, &sync, &other);
    ok(&c, OURS, s, "stop", &[]);
    freeze_receiver(&c, a, true);
    let ceiling = emit_wal(&c, p);
    // Names the other standby, which has not flushed the ceiling.
    assert_eq!(c.run(OURS, p, "monitor", &PROMOTED_MONITOR).rc, 8);
    assert_eq!(
        c.sql(p, "show synchronous_standby_names"),
        format!("FIRST 1 (\"{a}\")")
    );
    assert_eq!(
        c.attribute(a, &attr(Attr::Score)).as_deref(),
        Some("-INFINITY")
    );
    // It catches up with that ceiling, and falls behind again while the
    // primary writes on.
    freeze_receiver(&c, a, false);
    crate::support::wait_until(
        "the standby flushed the ceiling",
        Duration::from_secs(20),
        || {
            c.sql(p, &format!("select flush_lsn >= '{ceiling}' from pg_stat_replication where application_name = '{a}'")) == "t"
        },
    );
    freeze_receiver(&c, a, true);
    let now = emit_wal(&c, p);
    assert_ne!(now, ceiling);
    assert_eq!(c.run(OURS, p, "monitor", &PROMOTED_MONITOR).rc, 8);
    freeze_receiver(&c, a, false);
    assert_eq!(
        c.attribute(a, &attr(Attr::Score)).as_deref(),
        Some("100"),
        "{}",
        c.attributes_table()
    );
}

/// The primary's checkpointer stopped (SIGSTOP), as one busy with a
/// checkpoint behind schedule: it takes no reload, so committing sessions
/// do not wait for a standby named after a list that named nobody, though
/// pg_stat_replication shows it sync. The primary names the returning
/// standby but scores it only once a checkpoint that began after the list
/// took effect has completed; it asks for that checkpoint once, not at
/// every monitor.
#[test]
fn a_standby_named_after_an_empty_list_is_scored_only_after_a_checkpoint() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02"]);
    let primary = bring_up(&c, OURS);
    let (p, s): (&str, &str) = (&primary, if primary == "pg01" { "pg02" } else { "pg01" });
    // The standby's node leaves: the primary stops waiting for it.
    ok(&c, OURS, s, "stop", &[]);
    c.set_online(s, false);
    assert_eq!(c.run(OURS, p, "monitor", &PROMOTED_MONITOR).rc, 8);
    assert_eq!(c.sql(p, "show synchronous_standby_names"), "");
    let checkpointer = HeldCheckpointer::hold(&c, p);
    c.set_online(s, true);
    ok(&c, OURS, s, "start", &[]);
    c.wait_streaming(s, Duration::from_secs(30));
    let out = c.run(OURS, p, "monitor", &PROMOTED_MONITOR);
    assert_eq!(out.rc, 8);
    assert!(out.stderr.contains("CHECKPOINT failed"), "{}", out.stderr);
    assert_eq!(
        c.sql(p, "show synchronous_standby_names"),
        format!("FIRST 1 (\"{s}\")")
    );
    assert_eq!(
        c.sql(p, "select sync_state from pg_stat_replication"),
        "sync"
    );
    // What the checkpoint guards against: a commit is acknowledged while
    // the named standby's receiver is stopped.
    freeze_receiver(&c, s, true);
    c.sql(
        p,
        "set statement_timeout = '5s'; create table not_waited(x int); insert into not_waited values (1)",
    );
    freeze_receiver(&c, s, false);
    // The next monitor asks for no new checkpoint and scores nobody.
    let out = c.run(OURS, p, "monitor", &PROMOTED_MONITOR);
    assert_eq!(out.rc, 8);
    assert!(!out.stderr.contains("CHECKPOINT"), "{}", out.stderr);
    assert!(
        out.stderr.contains("no checkpoint has completed since"),
        "{}",
        out.stderr
    );
    assert_eq!(
        c.attribute(s, &attr(Attr::Score)).as_deref(),
        Some("-INFINITY"),
        "{}",
        c.attributes_table()
    );
    assert_eq!(c.attribute(p, &attr(Attr::AckedAlsoOn)), None);
    // The checkpointer takes the reload and completes the checkpoint:
    // scored at the next monitors.
    checkpointer.release_then_monitor_twice(&c, p);
    assert_eq!(
        c.attribute(s, &attr(Attr::Score)).as_deref(),
        Some("100"),
        "{}",
        c.attributes_table()
    );
    assert_eq!(c.attribute(p, &attr(Attr::AckedAlsoOn)).as_deref(), Some(s));
}

/// Once a checkpoint proved that commits wait for the listed standby, a
/// standby swapped for another (the list names somebody throughout) costs
/// no checkpoint: the new one is scored once it reaches the ceiling.
#[test]
fn a_standby_swapped_for_another_costs_no_checkpoint() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    let primary = bring_up(&c, OURS);
    let (sync, other) = sync_and_potential(&c, &primary);
    let (p, s, a): (&str, &str, &str) = (&primary, &sync, &other);
    let requested = || c.sql(p, "select checkpoints_req from pg_stat_bgwriter");
    let before = requested();
    crate::support::wait_until_reaped(kill_postmaster(&c, s));
    for _ in 0..2 {
        assert_eq!(c.run(OURS, p, "monitor", &PROMOTED_MONITOR).rc, 8);
    }
    assert_eq!(
        c.sql(p, "show synchronous_standby_names"),
        format!("FIRST 1 (\"{a}\")")
    );
    assert_eq!(
        c.attribute(a, &attr(Attr::Score)).as_deref(),
        Some("100"),
        "{}",
        c.attributes_table()
    );
    assert_eq!(requested(), before, "no checkpoint asked for");
}

/// The switch from the stock agent (docs/migration.md) right after the
/// stock agent named the returning sync standby while the primary's
/// checkpointer was busy (stopped here): the stock agent scored it 100 at
/// once, though commits were still acknowledged without it. Our probe of
/// the primary takes that score for no proof: the standby keeps it (as
/// under the stock agent, Pacemaker can promote it if the primary dies),
/// but the primary records it in `acked-also-on` only once a checkpoint
/// begun after the list took effect has completed and the standby has
/// flushed the primary's position read after it. Then the passes are
/// steady: no checkpoint more.
#[test]
fn a_score_the_stock_agent_gave_is_recorded_only_after_our_proof() {
    const STOCK: AgentKind = AgentKind::Stock;
    let c = Cluster::new(Major::V15, &["pg01", "pg02"]);
    let primary = bring_up(&c, STOCK);
    let (p, s): (&str, &str) = (&primary, if primary == "pg01" { "pg02" } else { "pg01" });
    let score = |n: &str| c.attribute(n, &attr(Attr::Score));
    // The standby stops: the stock agent stops waiting for it ('').
    ok(&c, STOCK, s, "stop", &[]);
    assert_eq!(c.run(STOCK, p, "monitor", &PROMOTED_MONITOR).rc, 8);
    assert_eq!(c.sql(p, "show synchronous_standby_names"), "");
    // The checkpointer takes that reload (a checkpoint handles it first),
    // then stops, as one busy with a checkpoint behind schedule.
    c.sql(p, "checkpoint");
    let checkpointer = HeldCheckpointer::hold(&c, p);
    // The standby is back: the stock agent names it and scores it 100 in
    // the same monitor.
    ok(&c, STOCK, s, "start", &[]);
    c.wait_streaming(s, Duration::from_secs(30));
    for _ in 0..3 {
        if score(s).as_deref() == Some("100") {
            break;
        }
        assert_eq!(c.run(STOCK, p, "monitor", &PROMOTED_MONITOR).rc, 8);
    }
    assert_eq!(score(s).as_deref(), Some("100"), "{}", c.attributes_table());
    assert_eq!(
        c.sql(p, "select sync_state from pg_stat_replication"),
        "sync"
    );
    // What that score hides: a commit acknowledged while the standby's
    // receiver is stopped, without waiting for it.
    freeze_receiver(&c, s, true);
    let (_, warnings) = c.sql_with_warnings(
        p,
        "set statement_timeout = '5s'; create table not_waited(x int); insert into not_waited values (1)",
    );
    freeze_receiver(&c, s, false);
    assert_eq!(warnings, "", "the commit did not wait for the standby");
    // The switch: the provider, then our probes, the primary first.
    c.set_provider("rustpg");
    let out = c.run(OURS, p, "monitor", &PROBE);
    assert_eq!(out.rc, 8, "{}", out.stderr);
    assert!(out.stderr.contains("CHECKPOINT failed"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("keeps the score it was given before this agent proved"),
        "{}",
        out.stderr
    );
    assert_eq!(c.attribute(p, &attr(Attr::AckedAlsoOn)), None);
    assert_eq!(score(s).as_deref(), Some("100"), "{}", c.attributes_table());
    let out = c.run(OURS, s, "monitor", &PROBE);
    assert_eq!(out.rc, 0, "{}", out.stderr);
    assert_eq!(
        score(s).as_deref(),
        Some("100"),
        "the standby's probe keeps it"
    );
    // Our monitors: no new checkpoint asked for, the score kept, nothing
    // recorded while the checkpoint has not completed.
    let out = c.run(OURS, p, "monitor", &PROMOTED_MONITOR);
    assert_eq!(out.rc, 8);
    assert!(!out.stderr.contains("CHECKPOINT"), "{}", out.stderr);
    assert!(
        out.stderr.contains("no checkpoint has completed since"),
        "{}",
        out.stderr
    );
    assert_eq!(c.attribute(p, &attr(Attr::AckedAlsoOn)), None);
    assert_eq!(score(s).as_deref(), Some("100"), "{}", c.attributes_table());
    assert_eq!(
        c.sql(p, "show synchronous_standby_names"),
        format!("\"{s}\""),
        "the list the stock agent set stays"
    );
    // The checkpoint completes: recorded at the next monitor, once the
    // standby has flushed the ceiling read after it.
    checkpointer.release_then_monitor_twice(&c, p);
    assert_eq!(
        c.attribute(p, &attr(Attr::AckedAlsoOn)).as_deref(),
        Some(s),
        "{}",
        c.attributes_table()
    );
    assert_eq!(score(s).as_deref(), Some("100"));
    // Proven: the next passes ask for no checkpoint.
    let requested = || c.sql(p, "select checkpoints_req from pg_stat_bgwriter");
    let before = requested();
    let out = c.run(OURS, p, "monitor", &PROMOTED_MONITOR);
    assert_eq!(out.rc, 8);
    assert!(!out.stderr.contains("CHECKPOINT"), "{}", out.stderr);
    assert!(!out.stderr.contains("keeps the score"), "{}", out.stderr);
    assert_eq!(requested(), before, "no checkpoint asked for");
    assert_eq!(c.attribute(p, &attr(Attr::AckedAlsoOn)).as_deref(), Some(s));
}

/// A crash lock (`PGSQL.lock` empty: a primary that did not demote
/// cleanly) on the sync standby goes at its monitor once the primary
/// records it as holding every acknowledged commit: it streams that
/// primary's timeline, so none of its WAL is unknown to the primary. Kept,
/// it would refuse the next start of the holder. The async standby's stays.
#[test]
fn a_crash_lock_goes_once_the_primary_records_the_node_as_holder() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    let primary = bring_up(&c, OURS);
    let (sync, other) = sync_and_potential(&c, &primary);
    assert_eq!(
        c.attribute(&primary, &attr(Attr::AckedAlsoOn)).as_deref(),
        Some(sync.as_str())
    );
    let lock = |n: &str| c.node(n).tmpdir.join("PGSQL.lock");
    for n in [&sync, &other] {
        std::fs::write(lock(n), "").unwrap();
        ok(&c, OURS, n, "monitor", &MONITOR);
    }
    assert!(!lock(&sync).exists(), "the holder's lock goes");
    assert!(
        lock(&other).exists(),
        "a standby the primary does not name keeps its lock"
    );
}

/// The same lock on the holder, stopped cleanly as a standby before its
/// monitor lifted it, then the primary's node lost: its start keeps the
/// lock and brings it up as a standby for the election, where the stock
/// rule refused it for ever (the records name it the holder of every
/// acknowledged commit, and nobody was promoted since).
#[test]
fn a_crash_lock_on_the_recorded_holder_does_not_refuse_its_start() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    let primary = bring_up(&c, OURS);
    let (sync, _) = sync_and_potential(&c, &primary);
    ok(&c, OURS, &sync, "stop", &[]);
    std::fs::write(c.node(&sync).tmpdir.join("PGSQL.lock"), "").unwrap();
    crate::support::wait_until_reaped(kill_postmaster(&c, &primary));
    c.set_online(&primary, false);
    let out = c.run(OURS, &sync, "start", &[]);
    assert_eq!(out.rc, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("the last primary recorded this node as holding every commit"),
        "{}",
        out.stderr
    );
}

/// A PostgreSQL process stopped with SIGSTOP until dropped (SIGCONT).
/// The primary's checkpointer stopped, as one busy with a checkpoint
/// behind schedule, and the last checkpoint it had completed.
struct HeldCheckpointer {
    process: Stopped,
    last: String,
}

impl HeldCheckpointer {
    fn hold(c: &Cluster, primary: &str) -> HeldCheckpointer {
        HeldCheckpointer {
            process: Stopped::process(
                c,
                primary,
                "select pid from pg_stat_activity where backend_type = 'checkpointer'",
            ),
            last: c.sql(
                primary,
                "select checkpoint_lsn from pg_control_checkpoint()",
            ),
        }
    }

    /// Let it go, wait until the checkpoint asked for completes, and run
    /// the primary's monitor twice.
    fn release_then_monitor_twice(self, c: &Cluster, primary: &str) {
        let last = self.last;
        drop(self.process);
        crate::support::wait_until(
            "the checkpoint asked for completes",
            Duration::from_secs(30),
            || {
                c.sql(
                    primary,
                    "select checkpoint_lsn from pg_control_checkpoint()",
                ) != last
            },
        );
        for _ in 0..2 {
            assert_eq!(c.run(OURS, primary, "monitor", &PROMOTED_MONITOR).rc, 8);
        }
    }
}

struct Stopped(nix::unistd::Pid);

impl Stopped {
    /// The process whose pid `sql` returns on `node`.
    fn process(c: &Cluster, node: &str, sql: &str) -> Stopped {
        Stopped(signal_process(c, node, sql, nix::sys::signal::SIGSTOP))
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(self.0, nix::sys::signal::SIGCONT);
    }
}

/// A role that sets `synchronous_commit = local` gets commits
/// acknowledged before the sync standby has them: the primary's monitor
/// says so once, not at every pass, and once more when it is gone.
#[test]
fn the_primary_warns_once_about_commits_acknowledged_without_the_standby() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02"]);
    let primary = bring_up(&c, OURS);
    let p: &str = &primary;
    c.sql(p, "create role app login");
    c.sql(p, "alter role app set synchronous_commit = local");
    let warning = "synchronous_commit below on: role app in every database sets local.";
    let out = c.run(OURS, p, "monitor", &PROMOTED_MONITOR);
    assert_eq!(out.rc, 8, "{}", out.stderr);
    assert!(out.stderr.contains(warning), "{}", out.stderr);
    let out = c.run(OURS, p, "monitor", &PROMOTED_MONITOR);
    assert!(!out.stderr.contains("synchronous_commit"), "{}", out.stderr);
    c.sql(p, "alter role app reset synchronous_commit");
    let out = c.run(OURS, p, "monitor", &PROMOTED_MONITOR);
    assert!(
        out.stderr.contains("weaker than on any more"),
        "{}",
        out.stderr
    );
}

fn notify_all_on(c: &Cluster, nodes: &[&str], n: &Notify) {
    let env = n.env();
    for node in in_notify_order(nodes, n) {
        ok(c, OURS, node, "notify", &env_refs(&env));
    }
}

/// A demote whose fast shutdown hangs escalates to immediate: no shutdown
/// checkpoint, so the stock behaviour (stopped, PGSQL.lock kept) and an
/// exit reason saying why.
#[test]
fn demote_without_a_clean_shutdown_keeps_the_lock() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02"]);
    let primary = bring_up(&c, OURS);
    let n = c.node(&primary);
    let mut client = postgres::Config::new()
        .host_path(&n.socketdir)
        .port(n.port)
        .user("postgres")
        .dbname("postgres")
        .connect(postgres::NoTls)
        .unwrap();
    let backend: i32 = client
        .query_one("select pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(backend),
        nix::sys::signal::SIGSTOP,
    )
    .unwrap();
    let out = c.run(
        OURS,
        &primary,
        "demote",
        &[("OCF_RESKEY_stop_escalate", "2")],
    );
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(backend),
        nix::sys::signal::SIGCONT,
    );
    drop(client);
    assert_eq!(out.rc, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("ocf-exit-reason:demoted without a shutdown checkpoint"),
        "{}",
        out.stderr
    );
    assert!(!c.is_running(&primary));
    assert!(n.tmpdir.join("PGSQL.lock").exists());
    assert_eq!(
        c.attribute(&primary, &attr(Attr::Status)).as_deref(),
        Some("STOP")
    );
}

/// A stop whose validation fails still succeeds, and marks the node UNKNOWN.
#[test]
fn stop_with_a_broken_configuration_marks_the_node_unknown() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02"]);
    let out = c.run(OURS, "pg02", "stop", &[("OCF_RESKEY_pgport", "not-a-port")]);
    assert_eq!(out.rc, 0, "{}", out.stderr);
    assert_eq!(
        c.attribute("pg02", &attr(Attr::Status)).as_deref(),
        Some("UNKNOWN")
    );
}

/// kill -9 of a node's postmaster; returns once it has died.
fn kill_postmaster(c: &Cluster, node: &str) -> i32 {
    let text = std::fs::read_to_string(c.node(node).pgdata.join("postmaster.pid")).unwrap();
    let pid: i32 = text.lines().next().unwrap().parse().unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL).unwrap();
    crate::support::wait_until_dead(pid);
    pid
}

/// replication_slot_name: the primary keeps one slot per standby, and each
/// standby streams through its own.
#[test]
fn replication_slots() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    c.set_param("replication_slot_name", "rslot");
    let primary = bring_up(&c, OURS);
    let mut expected: Vec<String> = c
        .node_names()
        .into_iter()
        .filter(|n| *n != primary)
        .map(|n| format!("rslot_{n}"))
        .collect();
    expected.sort();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let active = c.sql(&primary, "select string_agg(slot_name, ',' order by slot_name) from pg_replication_slots where active");
        if active == expected.join(",") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "active slots {active:?}, expected {expected:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// max_slot_wal_keep_size (ours): the primary's monitor sets it; a
/// standby kept away while the primary writes more WAL than that loses its
/// slot, the primary goes on, and its next monitor creates the slot anew
/// (the standby then needs a rewind or a resync).
#[test]
fn a_slot_kept_away_too_long_is_lost_and_created_anew() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    c.set_param("replication_slot_name", "rslot");
    c.set_param("max_slot_wal_keep_size", "32MB");
    let primary = bring_up(&c, OURS);
    let (_, away) = sync_and_potential(&c, &primary);
    let promoted_monitor = |c: &Cluster| {
        let out = c.run(OURS, &primary, "monitor", &PROMOTED_MONITOR);
        assert_eq!(out.rc, 8, "{}", out.stderr);
        out.stderr
    };
    promoted_monitor(&c);
    assert_eq!(
        c.sql(&primary, "select current_setting('max_slot_wal_keep_size')"),
        "32MB"
    );
    let slot = format!("rslot_{away}");
    let status = |c: &Cluster| {
        c.sql(
            &primary,
            &format!("select coalesce(wal_status, '-') from pg_replication_slots where slot_name = '{slot}'"),
        )
    };
    ok(&c, OURS, &away, "stop", &[]);
    // More WAL than the bound, in whole segments, then a checkpoint: the
    // slot of the stopped standby is lost, the primary runs on.
    c.sql(&primary, "create table filler(x int)");
    let deadline = Instant::now() + Duration::from_secs(60);
    while status(&c) != "lost" {
        for _ in 0..4 {
            c.sql(
                &primary,
                "insert into filler values (1); select pg_switch_wal()",
            );
        }
        c.sql(&primary, "checkpoint");
        assert!(Instant::now() < deadline, "{slot} is {}", status(&c));
    }
    let said = promoted_monitor(&c);
    assert!(
        said.contains(&format!(
            "replication slot {slot} lost WAL its standby needs"
        )),
        "{said}"
    );
    assert_eq!(
        status(&c),
        "-",
        "{slot} is created anew, reserving nothing yet"
    );
    // The other standby's slot is untouched, and still in use.
    assert_eq!(
        c.sql(
            &primary,
            "select count(*) from pg_replication_slots where active"
        ),
        "1"
    );
}

/// The primary's node leaves cleanly (Pacemaker demotes, then stops it): when
/// it comes back after the failover, start brings it up as a standby, and
/// streaming from the new primary proves it is not ahead; the lock goes.
#[test]
fn a_cleanly_stopped_primary_rejoins_on_start() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    let old = bring_up(&c, OURS);
    let (new, _third) = sync_and_potential(&c, &old);
    c.sql(&old, "create table t(x int); insert into t values (1)");
    c.set_primary_target(&new);
    let nodes = c.node_names();
    let (o, n): (&str, &str) = (&old, &new);
    let rest: Vec<&str> = nodes.iter().copied().filter(|x| *x != o).collect();
    demote(&c, o);
    ok(&c, OURS, o, "stop", &[]);
    let lock = c.node(o).tmpdir.join("PGSQL.lock");
    let marker = std::fs::read_to_string(&lock).unwrap();
    assert!(
        marker.starts_with("clean demote: shutdown checkpoint "),
        "{marker:?}"
    );
    c.set_promoted(None);
    c.set_online(o, false);
    notify_all_on(
        &c,
        &rest,
        &Notify {
            kind: "post",
            operation: "demote",
            demote: &[o],
            active: &rest,
            promoted: &[o],
            unpromoted: &rest,
            all: &rest,
            ..Notify::default()
        },
    );
    notify_all_on(&c, &rest, &pre_promote_of(&[n], &rest));
    ok(&c, OURS, n, "promote", &[]);
    c.set_promoted(Some(n));
    c.set_online(o, true);

    let out = c.run(OURS, o, "start", &[]);
    assert_eq!(out.rc, 0, "{}", out.stderr);
    assert!(!lock.exists(), "streaming proved it safe");
    assert_eq!(c.streaming_from(o).as_deref(), Some(n));
    // The new primary makes its former primary the sync standby.
    c.repoint_standbys(OURS);
    for _ in 0..2 {
        assert_eq!(c.run(OURS, n, "monitor", &PROMOTED_MONITOR).rc, 8);
    }
    assert_eq!(
        c.attribute(o, &attr(Attr::Status)).as_deref(),
        Some("HS:sync"),
        "{}",
        c.attributes_table()
    );
    assert_eq!(c.sql(o, "select count(*) from t"), "1");
}

/// The whole cluster stops after a clean demote (nobody promoted since):
/// the former primary starts as a standby, keeps its lock, and can win the
/// election, since nothing can be ahead of its clean shutdown.
#[test]
fn a_cleanly_demoted_primary_starts_when_nobody_was_promoted() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02"]);
    let old = bring_up(&c, OURS);
    let nodes = c.node_names();
    let o: &str = &old;
    demote(&c, o);
    c.set_promoted(None);
    for n in &nodes {
        ok(&c, OURS, n, "stop", &[]);
    }
    let out = c.run(OURS, o, "start", &[]);
    assert_eq!(out.rc, 0, "{}", out.stderr);
    let lock = std::fs::read_to_string(c.node(o).tmpdir.join("PGSQL.lock")).unwrap();
    assert!(lock.starts_with("clean demote"), "the lock stays: {lock:?}");
    assert_eq!(c.sql(o, "select pg_is_in_recovery()"), "t");
}

/// Promote `target` as Pacemaker does on a cluster whose every node is
/// unpromoted: pre-promote notify everywhere, promote, post-promote notify.
fn promote(c: &Cluster, agent: AgentKind, target: &str) {
    let nodes = c.node_names();
    let others: Vec<&str> = nodes.iter().copied().filter(|n| *n != target).collect();
    let promoting = [target];
    let pre = pre_promote_of(&promoting, &nodes);
    notify_all(c, agent, &pre);
    ok(c, agent, target, "promote", &[]);
    c.set_promoted(Some(target));
    let post = Notify {
        kind: "post",
        promoted: &[target],
        unpromoted: &others,
        ..pre
    };
    notify_all(c, agent, &post);
}

/// Demote `primary` with the notify variables Pacemaker passes: every other
/// node still unpromoted (so the stock rule does not remove PGSQL.lock).
fn demote(c: &Cluster, primary: &str) {
    let nodes = c.node_names();
    let rest: Vec<&str> = nodes.iter().copied().filter(|x| *x != primary).collect();
    let env = Notify {
        kind: "post",
        operation: "demote",
        demote: &[primary],
        active: &nodes,
        promoted: &[primary],
        unpromoted: &rest,
        all: &nodes,
        ..Notify::default()
    }
    .env();
    ok(c, OURS, primary, "demote", &env_refs(&env));
}

/// The timeline a primary writes on.
fn insert_timeline(c: &Cluster, node: &str) -> u32 {
    let hex = c.sql(
        node,
        "select substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)",
    );
    u32::from_str_radix(&hex, 16).unwrap()
}

/// Where timeline `tli` ended in `node`'s history (its `pg_wal` file of
/// timeline `tli + 1`).
fn end_of_timeline(c: &Cluster, node: &str, tli: u32) -> String {
    let path = c
        .node(node)
        .pgdata
        .join(format!("pg_wal/{:08X}.history", tli + 1));
    let text = std::fs::read_to_string(&path).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{tli}\t")))
        .unwrap_or_else(|| panic!("{text}"));
    line.split('\t').nth(1).unwrap().to_string()
}

fn lsn(s: &str) -> u64 {
    let (hi, lo) = s.split_once('/').unwrap();
    (u64::from_str_radix(hi, 16).unwrap() << 32) | u64::from_str_radix(lo, 16).unwrap()
}

/// A fork, as an operator's `pg_promote()` outside the agent makes one.
struct Forked {
    old: String,
    new: String,
    third: String,
    /// The old primary's timeline, which ended at `fork` for the new one.
    old_tli: u32,
    fork: String,
}

/// The third node is stopped (so it stays behind), the sync standby is
/// promoted by SQL while the primary keeps committing (locally), so the
/// primary goes past the fork. Pacemaker is then told the new primary is
/// promoted, and its monitor publishes its timeline history.
fn fork_the_cluster(c: &Cluster) -> Forked {
    let f = fork_the_cluster_with(c, |_| {});
    // As the new primary's first monitor does with auto_rewind on (R29):
    // pg_rewind reads its timeline from its control file.
    c.sql(&f.new, "checkpoint");
    f
}

/// [`fork_the_cluster`], with `before_promote` run on the node about to be
/// promoted.
fn fork_the_cluster_with(c: &Cluster, before_promote: impl FnOnce(&str)) -> Forked {
    let old = bring_up(c, OURS);
    let (new, third) = sync_and_potential(c, &old);
    ok(c, OURS, &third, "stop", &[]);
    c.sql(
        &old,
        "create table t(x int); insert into t select generate_series(1, 100)",
    );
    let old_tli = insert_timeline(c, &old);
    before_promote(&new);
    assert_eq!(c.sql(&new, "select pg_promote()"), "t");
    c.sql(
        &old,
        "set synchronous_commit = local; insert into t select generate_series(101, 200)",
    );
    c.set_promoted(Some(&new));
    assert_eq!(c.run(OURS, &new, "monitor", &PROMOTED_MONITOR).rc, 8);
    assert_eq!(insert_timeline(c, &new), old_tli + 1);
    let fork = end_of_timeline(c, &new, old_tli);
    let published = c
        .attribute(&new, &private(PrivateAttr::History))
        .unwrap_or_default();
    assert!(
        published.starts_with(&format!("{}:", old_tli + 1))
            && published.ends_with(&format!("{old_tli}@{fork}")),
        "{}",
        c.attributes_table()
    );
    let old_position = c.sql(&old, "select pg_current_wal_lsn()");
    assert!(lsn(&old_position) > lsn(&fork), "{old_position} {fork}");
    Forked {
        old,
        new,
        third,
        old_tli,
        fork,
    }
}

/// The forked cluster's old primary crashes; standbys follow the new one
/// and Pacemaker stops the old one (its lock stays).
fn crash_and_stop(c: &Cluster, f: &Forked) {
    crate::support::wait_until_reaped(kill_postmaster(c, &f.old));
    c.set_primary_target(&f.new);
    ok(c, OURS, &f.old, "stop", &[]);
}

/// Two primaries (R20): the one on the older timeline fails, writing
/// nothing about the others; the newer one goes on, and a probe that finds
/// it while Pacemaker promoted the older one reports it Promoted.
#[test]
fn of_two_primaries_the_one_on_the_older_timeline_fails() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    let f = fork_the_cluster(&c);
    let (o, n): (&str, &str) = (&f.old, &f.new);
    let (old_tli, new_tli) = (f.old_tli, f.old_tli + 1);
    let older_fails = format!(
        "stale primary: {n} is a primary on timeline {new_tli} > {old_tli} here; stop this node, \
         resync it from {n}"
    );
    let older_fails_logged = format!(
        "{n} runs a primary on timeline {new_tli}, newer than this primary's timeline {old_tli}: \
         this node is the stale primary and writes nothing about the others; \
         stop it and resynchronise it from {n}"
    );
    let not_mine = |a: &Attributes| -> Attributes {
        a.iter()
            .filter(|((node, _), _)| node != o)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };

    // A probe finds the old primary still running while the new one is
    // promoted.
    let before = not_mine(&c.attributes());
    let out = c.run(OURS, o, "monitor", &PROBE);
    assert_eq!(out.rc, 1, "{}", out.stderr);
    assert_eq!(out.exit_reason(), Some(older_fails.as_str()));
    assert!(out.stderr.contains(&older_fails_logged), "{}", out.stderr);
    assert_eq!(
        c.attribute(o, &attr(Attr::Score)).as_deref(),
        Some("-INFINITY")
    );
    assert_eq!(
        not_mine(&c.attributes()),
        before,
        "it wrote about the others"
    );

    // Both shown promoted (a healed partition). A notification that asks
    // the old one to look at its standbys (the third node's start) finds
    // it stale too: it writes nothing about the others.
    c.set_promoted_on(&[o, n]);
    let nodes = c.node_names();
    let before = not_mine(&c.attributes());
    let post_start = Notify {
        kind: "post",
        operation: "start",
        start: &[f.third.as_str()],
        active: &nodes,
        promoted: &[o, n],
        unpromoted: &[f.third.as_str()],
        all: &nodes,
        ..Notify::default()
    }
    .env();
    ok(&c, OURS, o, "notify", &env_refs(&post_start));
    assert_eq!(
        not_mine(&c.attributes()),
        before,
        "it wrote about the others"
    );
    assert_eq!(
        c.attribute(o, &attr(Attr::Score)).as_deref(),
        Some("-INFINITY")
    );
    // The old one's monitor fails the same way; the new one's goes on.
    let out = c.run(OURS, o, "monitor", &PROMOTED_MONITOR);
    assert_eq!(out.rc, 1, "{}", out.stderr);
    assert_eq!(out.exit_reason(), Some(older_fails.as_str()));
    let out = c.run(OURS, n, "monitor", &PROMOTED_MONITOR);
    assert_eq!(out.rc, 8, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "{o} also runs a primary, on timeline {old_tli}, older than this primary's timeline {new_tli}"
        )),
        "{}",
        out.stderr
    );

    // Pacemaker promoted the old one and knows nothing of the new one
    // (whose history attrd lost): the new one's probe reports it Promoted
    // and publishes its timeline; the old one's next monitor fails.
    c.set_promoted(Some(o));
    c.delete_attribute(n, &private(PrivateAttr::History));
    assert!(
        c.attribute(o, &private(PrivateAttr::History))
            .is_some_and(|h| h.starts_with(&format!("{old_tli}:"))),
        "{}",
        c.attributes_table()
    );
    let before = c.attributes();
    let out = c.run(OURS, n, "monitor", &PROBE);
    assert_eq!(out.rc, 8, "{}", out.stderr);
    assert_eq!(c.attribute(n, &attr(Attr::Score)).as_deref(), Some("1000"));
    assert!(c
        .attribute(n, &private(PrivateAttr::History))
        .is_some_and(|h| h.starts_with(&format!("{new_tli}:"))));
    let after = c.attributes();
    let changed: Vec<_> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(*v))
        .map(|((node, name), _)| format!("{node} {name}"))
        .collect();
    // Its score is 1000 already: its own monitor above restored it (a
    // primary's monitor keeps its 1000), and a score is written only when
    // it changes.
    assert_eq!(
        changed,
        [format!("{n} pgsql-history")],
        "the probe writes about itself only"
    );
    c.set_promoted_on(&[o, n]);
    let out = c.run(OURS, o, "monitor", &PROMOTED_MONITOR);
    assert_eq!(out.rc, 1, "{}", out.stderr);
    assert_eq!(out.exit_reason(), Some(older_fails.as_str()));
}

/// auto_rewind: the old primary went past the fork and crashed. Its start
/// runs crash recovery, rewinds it from the new primary (logging the
/// discarded WAL), starts it as a standby and lifts the lock once it
/// streams. Without the option the stock refusal stands; refusals keep the
/// lock and the data.
#[test]
fn auto_rewind_rejoins_a_crashed_primary_past_the_fork() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    let f = fork_the_cluster(&c);
    let (o, n): (&str, &str) = (&f.old, &f.new);
    crash_and_stop(&c, &f);
    let lock = c.node(o).tmpdir.join("PGSQL.lock");
    assert!(lock.exists());
    let rewind = [("OCF_RESKEY_auto_rewind", "true")];

    // Off: the stock refusal.
    let out = c.run(OURS, o, "start", &[]);
    assert_eq!(out.rc, 1);
    assert!(out.stderr.contains("You have to remove"), "{}", out.stderr);
    // The primary can't be reached: refused, lock and data kept.
    let unreachable = [
        rewind[0],
        ("OCF_RESKEY_primary_conninfo_opt", "host=127.0.0.1 port=1"),
    ];
    let (why, log) = refused_logged(&c, o, "start", &unreachable);
    assert!(
        why.starts_with("auto_rewind refused: pg_rewind failed"),
        "{why}"
    );
    assert!(log.contains("and the data are kept"), "{log}");
    assert!(lock.exists());
    assert!(!c.is_running(o));

    let out = c.run(OURS, o, "start", &rewind);
    assert_eq!(out.rc, 0, "{}", out.stderr);
    let discarded = format!(
        "pg_rewind from {n} discarded this node's WAL on timeline {} from {} through ",
        f.old_tli, f.fork
    );
    assert!(out.stderr.contains(&discarded), "{}", out.stderr);
    assert!(
        out.stderr.contains("no acknowledged commit is lost"),
        "{}",
        out.stderr
    );
    c.wait_streaming(o, Duration::from_secs(30));
    assert!(!lock.exists(), "streaming proved it is not ahead");
    // Its own configuration survived the rewind.
    let conf = std::fs::read_to_string(c.node(o).pgdata.join("harness-node.conf")).unwrap();
    assert!(
        conf.contains(&format!("port = {}", c.node(o).port)),
        "{conf}"
    );
    // The rows written past the fork (never acknowledged by a standby) are
    // gone; the rest are there.
    assert_eq!(c.sql(o, "select count(*) from t"), "100");
    assert_eq!(c.sql(o, "select pg_is_in_recovery()"), "t");
}

/// auto_resync: a pg_rewind that fails while it runs (its source crashed)
/// leaves a data directory PostgreSQL cannot repair. Here the real run
/// fails half way on a file it may not overwrite, after its dry run
/// passed. A failed dry run changes nothing and is refused as before;
/// after a failed real run the next start does not run pg_rewind again:
/// without auto_resync it says why, with it a new base backup replaces the
/// data directory, whose old copy is kept aside (never over a directory
/// the agent can't prove its own), once the promoted node answers as a
/// primary. A start after a stop between the
/// exchange and its last steps finishes them without copying again; a
/// start that does not rejoin is refused while the record is there.
#[test]
fn auto_resync_replaces_a_data_directory_whose_rewind_did_not_finish() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    let f = fork_the_cluster(&c);
    let (o, n): (&str, &str) = (&f.old, &f.new);
    crash_and_stop(&c, &f);
    let node = c.node(o);
    let lock = node.tmpdir.join("PGSQL.lock");
    let record = node.tmpdir.join("rewind_unfinished");
    let stashed = node.tmpdir.join("own_config.harness-node.conf");
    let beside = |suffix: &str| {
        let mut p = node.pgdata.clone().into_os_string();
        p.push(suffix);
        std::path::PathBuf::from(p)
    };
    let (scratch, aside) = (beside(".resync"), beside(".before-resync"));
    let rewind = [("OCF_RESKEY_auto_rewind", "true")];
    let resync = [rewind[0], ("OCF_RESKEY_auto_resync", "true")];

    // The source can't be reached: the dry run fails, nothing changed.
    let unreachable = [
        resync[0],
        resync[1],
        ("OCF_RESKEY_primary_conninfo_opt", "host=127.0.0.1 port=1"),
    ];
    let why = refused(&c, o, "start", &unreachable);
    assert!(
        why.starts_with("auto_rewind refused: pg_rewind failed: "),
        "{why}"
    );
    assert!(!record.exists() && !scratch.exists() && lock.exists());

    // The real run stops half way: a file it copies can't be written.
    let blocker = node.pgdata.join("postgresql.auto.conf");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&blocker, std::fs::Permissions::from_mode(0o400)).unwrap();
    std::os::unix::fs::chown(&blocker, Some(0), Some(0)).unwrap();
    let (why, log) = refused_logged(&c, o, "start", &rewind);
    assert!(
        why.starts_with(
            "auto_rewind refused: pg_rewind failed while it ran (resync it, or set \
             auto_resync=true): "
        ),
        "{why}"
    );
    assert!(
        log.contains("auto_resync=true makes the next start take one"),
        "{log}"
    );
    assert!(record.exists() && stashed.exists() && lock.exists());
    crate::support::chown_to_postgres(&blocker);

    // Without auto_resync: the reason says what happened and what to do.
    let out = c.run(OURS, o, "start", &rewind);
    assert_eq!(out.rc, 1, "{}", out.stderr);
    let why = out.exit_reason().unwrap_or_default().to_string();
    assert_eq!(
        why,
        "auto_rewind refused: an unfinished pg_rewind: resync it (then remove rewind_unfinished \
         in tmpdir) or set auto_resync=true"
    );
    assert!(
        out.stderr
            .contains("a pg_rewind of this node started and did not finish")
            && out.stderr.contains("and the data are kept"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("pg_rewind from"),
        "not run again: {}",
        out.stderr
    );
    assert!(lock.exists() && record.exists() && !c.is_running(o));

    // The copy is of the promoted node only: through master_ip a standby
    // answers (a second failover under way, say), and the start waits.
    ok(&c, OURS, &f.third, "start", &[]);
    c.wait_streaming(&f.third, Duration::from_secs(30));
    c.set_primary_target(&f.third);
    let (why, log) = refused_logged(&c, o, "start", &resync);
    assert!(
        why.contains(&format!("auto_resync: {n} is still in recovery")),
        "{why}"
    );
    assert!(
        log.contains(&format!(
            "auto_resync: the copy waits: {n} is still in recovery"
        )),
        "{log}"
    );
    assert!(record.exists() && !scratch.exists() && !aside.exists());
    c.set_primary_target(n);

    // A directory where the old data would go that the agent did not make
    // stays, and so does the data.
    std::fs::create_dir(&aside).unwrap();
    std::fs::write(aside.join("keep-me"), "an administrator's").unwrap();
    let (why, log) = refused_logged(&c, o, "start", &resync);
    assert!(
        why.contains("auto_resync can't run: <pgdata>.before-resync is not the agent's"),
        "{why}"
    );
    assert!(
        log.contains("auto_resync can't run: <pgdata>.before-resync exists and is not the agent's"),
        "{log}"
    );
    assert!(aside.join("keep-me").exists() && !scratch.exists());
    std::fs::remove_dir_all(&aside).unwrap();

    // With auto_resync: a new copy from the primary.
    let out = c.run(OURS, o, "start", &resync);
    assert_eq!(out.rc, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("a new base backup from the primary replaced the data directory")
            && out.stderr.contains("no acknowledged commit is lost"),
        "{}",
        out.stderr
    );
    c.wait_streaming(o, Duration::from_secs(30));
    assert!(!lock.exists(), "a copy of the primary is not ahead of it");
    assert!(!record.exists() && !stashed.exists() && !scratch.exists());
    let label = std::fs::read_to_string(aside.join("RUSTPG_OLD_DATA")).unwrap();
    assert!(
        aside.join("PG_VERSION").is_file(),
        "the old data is kept aside"
    );
    let conf = std::fs::read_to_string(node.pgdata.join("harness-node.conf")).unwrap();
    assert!(conf.contains(&format!("port = {}", node.port)), "{conf}");
    assert_eq!(c.sql(o, "select count(*) from t"), "100");
    assert_eq!(c.sql(o, "select pg_is_in_recovery()"), "t");
    assert_eq!(
        c.sql(
            n,
            &format!("select count(*) from pg_stat_replication where application_name = '{o}'")
        ),
        "1"
    );

    // Stopped between the exchange and setting the old data aside: the
    // next start finishes the steps after the exchange and copies nothing.
    ok(&c, OURS, o, "stop", &resync);
    let token = label
        .lines()
        .find_map(|l| l.strip_prefix("token: "))
        .unwrap();
    std::fs::rename(&aside, &scratch).unwrap();
    std::fs::write(&record, format!("resync {token}\n")).unwrap();
    std::fs::write(&lock, "").unwrap();
    let out = c.run(OURS, o, "start", &resync);
    assert_eq!(out.rc, 0, "{}", out.stderr);
    assert!(!out.stderr.contains("pg_basebackup from"), "{}", out.stderr);
    assert!(aside.join("RUSTPG_OLD_DATA").is_file() && !scratch.exists());
    assert!(!record.exists() && !lock.exists());
    c.wait_streaming(o, Duration::from_secs(30));

    // The record stops any start that does not rejoin (here without
    // auto_rewind): the data directory is not trusted until it goes.
    ok(&c, OURS, o, "stop", &resync);
    std::fs::write(&record, "rewind\n").unwrap();
    let (why, log) = refused_logged(&c, o, "start", &[]);
    assert!(why.contains("remove rewind_unfinished in tmpdir"), "{why}");
    assert!(
        log.contains("remove the record rewind_unfinished in tmpdir"),
        "{log}"
    );
    assert!(!c.is_running(o));
    std::fs::remove_file(&record).unwrap();
    ok(&c, OURS, o, "start", &[]);
}

/// pg_rewind takes the source's timeline from its control file, which a
/// promotion updates only at its first checkpoint on the new timeline: a
/// rewind before it would leave the node on the old timeline past the
/// fork, refused by PostgreSQL at every start. So the start waits for that
/// checkpoint (here held back by stopping the new primary's checkpointer),
/// refusing for now with the data and the lock kept, and rewinds once it
/// completed.
#[test]
fn auto_rewind_waits_for_the_new_primary_s_first_checkpoint() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    let mut held = None;
    let f = fork_the_cluster_with(&c, |new| {
        held = Some(Stopped::process(
            &c,
            new,
            "select pid from pg_stat_activity where backend_type = 'checkpointer'",
        ));
    });
    let (o, n): (&str, &str) = (&f.old, &f.new);
    crash_and_stop(&c, &f);
    let rewind = [("OCF_RESKEY_auto_rewind", "true")];
    let out = c.run(OURS, o, "start", &rewind);
    assert_eq!(out.rc, 1, "{}", out.stderr);
    let why = out.exit_reason().unwrap_or_default().to_string();
    assert!(
        why.contains(&format!(
            "{n} has no checkpoint on its timeline {}",
            f.old_tli + 1
        )),
        "{why}"
    );
    assert!(
        out.stderr.contains("and the data are kept"),
        "{}",
        out.stderr
    );
    drop(held);
    c.sql(n, "checkpoint");
    let out = c.run(OURS, o, "start", &rewind);
    assert_eq!(out.rc, 0, "{}", out.stderr);
    c.wait_streaming(o, Duration::from_secs(30));
}

/// auto_rewind on a diverged standby (an operator removed the crashed
/// primary's lock without resynchronising it): once its monitor said
/// DIVERGED, Pacemaker's restart rewinds it, it streams, and its own
/// monitor clears the verdict.
#[test]
fn auto_rewind_rejoins_a_diverged_standby() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    let f = fork_the_cluster(&c);
    let (o, n): (&str, &str) = (&f.old, &f.new);
    crash_and_stop(&c, &f);
    std::fs::remove_file(c.node(o).tmpdir.join("PGSQL.lock")).unwrap();
    ok(&c, OURS, o, "start", &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while c.attribute(o, &attr(Attr::DataStatus)).as_deref() != Some("DIVERGED") {
        assert!(Instant::now() < deadline, "{}", c.attributes_table());
        assert_eq!(c.run(OURS, n, "monitor", &PROMOTED_MONITOR).rc, 8);
        let _ = c.run(OURS, o, "monitor", &MONITOR);
        std::thread::sleep(Duration::from_millis(500));
    }
    let rewind = [("OCF_RESKEY_auto_rewind", "true")];
    ok(&c, OURS, o, "stop", &rewind);
    let out = c.run(OURS, o, "start", &rewind);
    assert_eq!(out.rc, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("auto_rewind: pg_rewind from"),
        "{}",
        out.stderr
    );
    c.wait_streaming(o, Duration::from_secs(30));
    ok(&c, OURS, o, "monitor", &MONITOR);
    assert_ne!(
        c.attribute(o, &attr(Attr::DataStatus)).as_deref(),
        Some("DIVERGED"),
        "{}",
        c.attributes_table()
    );
    assert!(!c.node(o).tmpdir.join("PGSQL.lock").exists());
    assert_eq!(c.sql(o, "select count(*) from t"), "100");
}

/// auto_rewind on a node that went past the fork without wal_log_hints or
/// data checksums (pg_control, read by the agent, says which): refused (1)
/// with a reason that says what to do, the lock and the data kept.
#[test]
fn auto_rewind_without_wal_log_hints_is_refused() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    for n in c.node_names() {
        // harness-node.conf comes after the harness's wal_log_hints = on.
        crate::support::append(
            &c.node(n).pgdata.join("harness-node.conf"),
            "wal_log_hints = off\n",
        );
    }
    let f = fork_the_cluster(&c);
    let o: &str = &f.old;
    assert_eq!(c.sql(o, "show wal_log_hints"), "off");
    crash_and_stop(&c, &f);
    let out = c.run(OURS, o, "start", &[("OCF_RESKEY_auto_rewind", "true")]);
    assert_eq!(out.rc, 1, "{}", out.stderr);
    let reason = out.exit_reason().unwrap_or_default();
    assert!(
        reason.contains("without wal_log_hints or data checksums, which pg_rewind needs"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("pg_rewind needs wal_log_hints = on or data checksums"),
        "{}",
        out.stderr
    );
    assert!(
        c.node(o).tmpdir.join("PGSQL.lock").exists(),
        "the lock is kept"
    );
    assert!(!c.is_running(o), "PostgreSQL stays stopped");
    // Not rewound: still on its own timeline, past the fork.
    let bytes = std::fs::read(c.node(o).pgdata.join("global/pg_control")).unwrap();
    let control = rustpg::core::controldata::ControlFile::parse(&bytes).unwrap();
    assert!(!control.wal_log_hints && !control.data_checksums);
    assert_eq!(control.timeline, f.old_tli);
    assert!(
        lsn(&control.checkpoint.to_string()) > lsn(&f.fork),
        "{control:?}"
    );
}

/// auto_rewind on a major whose pg_rewind is not installed (no registry
/// ships one for 12): OCF_ERR_INSTALLED, the lock and the data kept.
#[test]
fn auto_rewind_without_pg_rewind_is_err_installed() {
    let c = Cluster::new(Major::V12, &["pg01", "pg02", "pg03"]);
    let f = fork_the_cluster(&c);
    let o: &str = &f.old;
    crash_and_stop(&c, &f);
    let out = c.run(OURS, o, "start", &[("OCF_RESKEY_auto_rewind", "true")]);
    assert_eq!(out.rc, 5, "{}", out.stderr);
    assert!(
        out.exit_reason()
            .unwrap_or_default()
            .contains("pg_rewind is missing"),
        "{}",
        out.stderr
    );
    assert!(c.node(o).tmpdir.join("PGSQL.lock").exists());
}

/// Pre-promote on a node newer than the target: the stock agent bans
/// itself, which stopped it before the target's check could see it; ours
/// warns and stays, so that the target's check hands it the promotion.
#[test]
fn a_standby_newer_than_the_target_does_not_ban_itself() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    let primary = bring_up(&c, OURS);
    let (sync, potential) = sync_and_potential(&c, &primary);
    c.set_attribute(&sync, &attr(Attr::MasterBaseline), "0000000001000000");
    c.set_attribute(&potential, &attr(Attr::MasterBaseline), "0000000009000000");
    let nodes = c.node_names();
    let promoting = [sync.as_str()];
    let n = pre_promote_of(&promoting, &nodes);
    let out = c.run(OURS, &potential, "notify", &env_refs(&n.env()));
    assert_eq!(out.rc, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("My data is newer than new master's one"),
        "{}",
        out.stderr
    );
    let cib = std::fs::read_to_string(&c.cib).unwrap();
    assert!(!cib.contains("cli-ban"), "a ban constraint: {cib}");
}

/// The target's pre-promote notification runs the check at promotion
/// already: another candidate ahead gets the promotion there (scores
/// handed over, so Pacemaker aborts the transition before the promote, and
/// no failed promote bans the target); the promote, if it still runs,
/// refuses the same way.
#[test]
fn the_target_hands_the_promotion_over_in_its_pre_promote_notification() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    let primary = bring_up(&c, OURS);
    let (sync, potential) = sync_and_potential(&c, &primary);
    // The potential standby received more WAL than the sync one (it does
    // not wait for acknowledgements): it published a position ahead.
    let behind = c.sql(&sync, "select pg_last_wal_receive_lsn()");
    let tli = c.sql(&sync, "select received_tli from pg_stat_wal_receiver");
    c.set_attribute(
        &potential,
        &private(PrivateAttr::Position),
        &format!("{tli}/7FFFFFFF00000000"),
    );
    let nodes = c.node_names();
    let promoting = [sync.as_str()];
    let pre = pre_promote_of(&promoting, &nodes);
    let out = c.run(OURS, &sync, "notify", &env_refs(&pre.env()));
    assert_eq!(out.rc, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "Handing the promotion to {potential} before it runs"
        )),
        "{}",
        out.stderr
    );
    assert_eq!(
        c.attribute(&sync, &attr(Attr::Score)).as_deref(),
        Some("-INFINITY"),
        "{}",
        c.attributes_table()
    );
    assert_eq!(
        c.attribute(&potential, &attr(Attr::Score)).as_deref(),
        Some("1000"),
        "{}",
        c.attributes_table()
    );
    let out = c.run(OURS, &sync, "promote", &[]);
    assert_eq!(out.rc, 1, "{}", out.stderr);
    assert!(
        out.exit_reason()
            .unwrap_or_default()
            .contains("promotion refused"),
        "{}",
        out.stderr
    );
    assert_eq!(
        c.sql(&sync, "select pg_is_in_recovery()"),
        "t",
        "still a standby at {behind}"
    );
}

/// The old primary went past the fork, crashed, and an operator removed its
/// PGSQL.lock without resynchronising it: it starts as a standby of the new
/// primary, which PostgreSQL refuses to stream to it. Its monitor fails
/// naming the fork, and it is DIVERGED/-INFINITY, which the primary's
/// passes leave alone; once resynchronised, it clears the verdict itself.
#[test]
fn a_diverged_standby_fails_its_monitor_naming_the_fork() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    let f = fork_the_cluster(&c);
    let (o, n): (&str, &str) = (&f.old, &f.new);
    crash_and_stop(&c, &f);
    std::fs::remove_file(c.node(o).tmpdir.join("PGSQL.lock")).unwrap();
    ok(&c, OURS, o, "start", &[]);

    let deadline = Instant::now() + Duration::from_secs(30);
    let out = loop {
        assert_eq!(c.run(OURS, n, "monitor", &PROMOTED_MONITOR).rc, 8);
        let out = c.run(OURS, o, "monitor", &MONITOR);
        if out.rc != 0 {
            break out;
        }
        assert!(
            Instant::now() < deadline,
            "the diverged standby's monitor still succeeds after 30 s: {}\n{}",
            out.stderr,
            c.attributes_table()
        );
        std::thread::sleep(Duration::from_secs(1));
    };
    println!("{}", out.stderr);
    assert_eq!(out.rc, 1, "{}", out.stderr);
    let reason = out
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("ocf-exit-reason:"))
        .expect("an exit reason");
    let at = reason
        .strip_prefix("diverged: at ")
        .and_then(|r| r.split_once(", past "))
        .map(|(at, _)| at.to_string())
        .unwrap_or_else(|| panic!("{reason}"));
    assert!(lsn(&at) > lsn(&f.fork), "{reason}");
    assert!(
        reason.ends_with(&format!(
            ", past {n}'s fork to timeline {} at {}; resync (pg_rewind or new base backup)",
            f.old_tli + 1,
            f.fork
        )),
        "{reason}"
    );
    // The log has this node's timeline.
    assert!(
        out.stderr
            .contains(&format!("my WAL is on timeline {} up to {at}.", f.old_tli)),
        "{}",
        out.stderr
    );
    assert_eq!(
        c.attribute(o, &attr(Attr::DataStatus)).as_deref(),
        Some("DIVERGED")
    );
    assert_eq!(
        c.attribute(o, &attr(Attr::Score)).as_deref(),
        Some("-INFINITY")
    );
    // The primary's pass does not see it, and leaves its verdict alone.
    assert_eq!(c.run(OURS, n, "monitor", &PROMOTED_MONITOR).rc, 8);
    assert_eq!(
        c.attribute(o, &attr(Attr::DataStatus)).as_deref(),
        Some("DIVERGED"),
        "{}",
        c.attributes_table()
    );
    assert_eq!(
        c.attribute(o, &attr(Attr::Score)).as_deref(),
        Some("-INFINITY")
    );
    assert_eq!(
        c.attribute(o, &attr(Attr::Status)).as_deref(),
        Some("HS:alone")
    );
    // Every later monitor fails the same way (PostgreSQL streams it the old
    // timeline up to the fork now and then: that changes nothing), and the
    // primary's passes leave the verdict alone.
    for _ in 0..3 {
        std::thread::sleep(Duration::from_secs(1));
        assert_eq!(c.run(OURS, n, "monitor", &PROMOTED_MONITOR).rc, 8);
        let again = c.run(OURS, o, "monitor", &MONITOR);
        assert_eq!(again.rc, 1, "{}", again.stderr);
        assert!(again.stderr.contains(reason), "{}", again.stderr);
        assert_eq!(
            c.attribute(o, &attr(Attr::DataStatus)).as_deref(),
            Some("DIVERGED")
        );
        assert_eq!(
            c.attribute(o, &attr(Attr::Status)).as_deref(),
            Some("HS:alone")
        );
    }
    // PostgreSQL never streamed it on the new timeline...
    assert_eq!(c.sql(o, "select count(*) from t"), "200");
    // ...but its WAL receiver fetched the new timeline's history file: why
    // the agent reads a standby's timeline from its WAL segments' names.
    let fetched = c
        .node(o)
        .pgdata
        .join(format!("pg_wal/{:08X}.history", f.old_tli + 1));
    crate::support::wait_until(
        "the new timeline's history file",
        Duration::from_secs(10),
        || fetched.exists(),
    );

    // The operator resynchronises it (here a new base backup of the new
    // primary): it streams on the new timeline, its own monitor clears the
    // verdict, and the primary's pass makes it a streaming standby again.
    ok(&c, OURS, o, "stop", &[]);
    c.resynchronise(o, n);
    ok(&c, OURS, o, "start", &[]);
    c.wait_streaming(o, Duration::from_secs(30));
    ok(&c, OURS, o, "monitor", &MONITOR);
    assert_eq!(
        c.attribute(o, &attr(Attr::DataStatus)).as_deref(),
        Some("DISCONNECT"),
        "{}",
        c.attributes_table()
    );
    assert_eq!(c.run(OURS, n, "monitor", &PROMOTED_MONITOR).rc, 8);
    assert!(
        c.attribute(o, &attr(Attr::DataStatus))
            .unwrap_or_default()
            .starts_with("STREAMING|"),
        "{}",
        c.attributes_table()
    );
    assert_eq!(c.sql(o, "select count(*) from t"), "100");
}

/// A standby merely behind the fork is not reported: not while it does not
/// stream, and it then follows the new primary; nor, once on the new
/// timeline, when it stops streaming again.
#[test]
fn a_standby_behind_the_fork_is_not_reported() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    let f = fork_the_cluster(&c);
    let (n, t): (&str, &str) = (&f.new, &f.third);
    c.set_primary_target(n);
    let nowhere = [("OCF_RESKEY_primary_conninfo_opt", "host=127.0.0.1 port=1")];
    let quiet_rounds = |c: &Cluster| {
        for _ in 0..3 {
            assert_eq!(c.run(OURS, n, "monitor", &PROMOTED_MONITOR).rc, 8);
            let out = c.run(OURS, t, "monitor", &MONITOR);
            assert_eq!(out.rc, 0, "{}", out.stderr);
            assert!(!c.is_streaming(t));
            assert_eq!(
                c.attribute(t, &attr(Attr::DataStatus)).as_deref(),
                Some("DISCONNECT"),
                "{}",
                c.attributes_table()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    ok(&c, OURS, t, "start", &nowhere);
    quiet_rounds(&c);

    // It can follow the new primary: it streams on the new timeline.
    ok(&c, OURS, t, "stop", &[]);
    ok(&c, OURS, t, "start", &[]);
    c.wait_streaming(t, Duration::from_secs(30));
    c.sql(n, "insert into t select generate_series(201, 300)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.try_sql(t, "select count(*) from t").as_deref() != Ok("200") {
        assert!(Instant::now() < deadline, "rows missing on {t}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(c.run(OURS, n, "monitor", &PROMOTED_MONITOR).rc, 8);
    ok(&c, OURS, t, "monitor", &MONITOR);

    // On the primary's timeline, past the fork, and not streaming: no verdict.
    ok(&c, OURS, t, "stop", &[]);
    ok(&c, OURS, t, "start", &nowhere);
    quiet_rounds(&c);
}
