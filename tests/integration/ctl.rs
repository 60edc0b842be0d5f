//! rustpgctl on a CIB file (no running cluster): the picture our agent
//! made on real servers, read back by `status` and explained by `explain`.

use crate::cluster::{AgentKind, Cluster};
use crate::replication::{bring_up, sync_and_potential};
use crate::support::{free_port, LocalPgBouncer, Major};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CTL: &str = env!("CARGO_BIN_EXE_rustpgctl");

/// One node's entry in `rustpgctl status --json`.
pub fn node_row(status: &serde_json::Value, node: &str) -> serde_json::Value {
    status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == node)
        .unwrap_or_else(|| panic!("no {node} in {status:#}"))
        .clone()
}

/// Exit code, stdout, stderr.
fn ctl(c: &Cluster, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(CTL)
        .args(args)
        .env("CIB_file", &c.cib)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `rustpgctl help` and `rustpgctl help COMMAND` answer without a
/// cluster, and name every command.
#[test]
fn help_names_every_command() {
    let out = Command::new(CTL).arg("help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for command in [
        "status",
        "explain",
        "history",
        "metrics",
        "serve",
        "switchover",
    ] {
        assert!(text.contains(command), "{command} missing from:\n{text}");
    }
    let out = Command::new(CTL).args(["help", "serve"]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--listen <ADDRESS:PORT>"));
}

#[test]
fn status_and_explain_read_the_agents_picture() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    let primary = bring_up(&c, AgentKind::Ours);
    let (sync, potential) = sync_and_potential(&c, &primary);

    // The harness's primitive is ocf:heartbeat:pgsql: not ours.
    let (rc, _, err) = ctl(&c, &["status"]);
    assert_eq!(
        (rc, err.trim()),
        (1, "rustpgctl: no ocf:rustpg:pgsql resource in the CIB")
    );
    c.set_provider("rustpg");

    let (rc, out, err) = ctl(&c, &["status", "--json"]);
    assert_eq!(rc, 0, "{err}");
    let s: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(s["resource"], "pgsql");
    assert_eq!(s["clone"], "msPostgresql");
    let row = |n: &str| node_row(&s, n);
    // Every node's attributes as the CIB holds them, and the roles.
    for n in c.node_names() {
        let r = row(n);
        for (field, attr) in [
            ("score", "master-pgsql"),
            ("status", "pgsql-status"),
            ("data_status", "pgsql-data-status"),
        ] {
            assert_eq!(
                r[field].as_str(),
                c.attribute(n, attr).as_deref(),
                "{n} {field}"
            );
        }
    }
    assert_eq!(row(&primary)["role"], "Promoted");
    for n in [&sync, &potential] {
        assert_eq!(row(n)["role"], "Unpromoted");
    }
    assert_eq!(row(&sync)["promotable"], true);
    assert_eq!(row(&potential)["promotable"], false);

    let (rc, text, _) = ctl(&c, &["status"]);
    assert_eq!(rc, 0);
    assert!(
        text.starts_with("pgsql (clone msPostgresql): quorum yes, maintenance mode off, DC "),
        "{text}"
    );

    // explain: 0 when promotable, 3 when not, 1 for a node that is not there.
    let (rc, text, _) = ctl(&c, &["explain", &sync]);
    assert_eq!(rc, 0, "{text}");
    assert!(text.contains("  promotable: score 100\n"), "{text}");
    let (rc, text, _) = ctl(&c, &["explain", &potential]);
    assert_eq!(rc, 3, "{text}");
    assert!(
        text.contains("  not promotable now: score -INFINITY\n"),
        "{text}"
    );
    let (rc, text, _) = ctl(&c, &["explain", &primary]);
    assert_eq!(rc, 3);
    assert!(
        text.contains(&format!("  {primary} is the primary\n")),
        "{text}"
    );
    let (rc, _, err) = ctl(&c, &["explain", "pg09"]);
    assert_eq!(
        (rc, err.trim()),
        (1, "rustpgctl: no node pg09 in the cluster")
    );
    let (rc, _, _) = ctl(&c, &["explain"]);
    assert_eq!(rc, 2, "a missing argument is a usage error");
}

/// The seam `rustpgctl` reads the primary through: conninfo, as the
/// standbys reach it, and the primary's own view of every standby.
#[test]
fn the_primary_reports_its_standbys_through_conninfo() {
    use rustpg::core::quote::parse_conninfo;
    use rustpg::io::{clock::Deadline, pg, user::OsUser};
    use std::time::Duration;

    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    let primary = bring_up(&c, AgentKind::Ours);
    let (sync, potential) = sync_and_potential(&c, &primary);
    let conninfo = format!(
        "host='127.0.0.1' port={} user=postgres keepalives_idle=60",
        c.node(&primary).port
    );
    let owner = OsUser::lookup("postgres").unwrap();
    let deadline = Deadline::after(Duration::from_secs(10));
    let mut s = pg::connect_conninfo(&parse_conninfo(&conninfo).unwrap(), &owner, deadline)
        .unwrap_or_else(|e| panic!("{}", e.message));
    let (current, rows) = s.standby_report().unwrap();
    let current = current.expect("the primary's position");
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r.row.application_name.as_str())
        .collect();
    let mut want = vec![sync.as_str(), potential.as_str()];
    want.sort();
    assert_eq!(names, want);
    for r in &rows {
        // What the agent published for each standby.
        let published = c.attribute(&r.row.application_name, "pgsql-data-status");
        assert_eq!(Some(r.row.data_status().wire()), published, "{r:?}");
        assert!(
            r.visible && r.replay.is_some_and(|l| l <= current),
            "{r:?} vs {current}"
        );
    }
    // Where synchronous_commit makes PostgreSQL acknowledge a commit
    // before the sync standby flushed it.
    assert_eq!(s.weak_commit_settings().unwrap(), []);
    c.sql(&primary, "create role app");
    c.sql(&primary, "alter role app set synchronous_commit = local");
    c.sql(
        &primary,
        "alter role app in database postgres set synchronous_commit = on",
    );
    c.sql(
        &primary,
        "alter database postgres set synchronous_commit = 'remote_write'",
    );
    let weak: Vec<(String, String)> = s
        .weak_commit_settings()
        .unwrap()
        .into_iter()
        .map(|w| (w.scope, w.value))
        .collect();
    assert_eq!(
        weak,
        [
            (
                "every role in database postgres".to_string(),
                "remote_write".to_string()
            ),
            (
                "role app in every database".to_string(),
                "local".to_string()
            ),
        ]
    );
    // A role without pg_read_all_stats sees that standbys exist, not how
    // they are.
    c.sql(&primary, "create role watcher login");
    let watcher = format!("host=127.0.0.1 port={} user=watcher", c.node(&primary).port);
    let (_, rows) = pg::connect_conninfo(&parse_conninfo(&watcher).unwrap(), &owner, deadline)
        .and_then(|mut s| s.standby_report())
        .unwrap_or_else(|e| panic!("{}", e.message));
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter().all(|r| !r.visible && r.replay.is_none()),
        "{rows:?}"
    );
    let no_host = pg::connect_conninfo(&parse_conninfo("port=1").unwrap(), &owner, deadline);
    assert_eq!(
        no_host.err().map(|e| e.message).as_deref(),
        Some("the conninfo names no host")
    );
}

/// Three servers on a CIB file whose resource reads the primary the way a
/// standby reaches it: master_ip, pgport and repuser (trust on 127.0.0.1
/// here). The cluster, its primary, sync and potential standby.
fn switchover_cluster() -> (Cluster, String, String, String) {
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    let primary = bring_up(&c, AgentKind::Ours);
    let (sync, potential) = sync_and_potential(&c, &primary);
    c.set_provider("rustpg");
    let port = c.node(&primary).port.to_string();
    for (name, value) in [
        ("master_ip", "127.0.0.1"),
        ("pgport", &port),
        ("repuser", "postgres"),
    ] {
        let out = Command::new("crm_resource")
            .args([
                "--resource",
                "pgsql",
                "--set-parameter",
                name,
                "--parameter-value",
                value,
            ])
            .env("CIB_file", &c.cib)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (c, primary, sync, potential)
}

/// `metrics` on the agent's picture: Prometheus's own linter
/// (`promtool check metrics`) accepts it, and it says what status says.
#[test]
fn metrics_pass_promtool_and_show_the_picture() {
    let (c, primary, sync, potential) = switchover_cluster();
    c.sql(
        &primary,
        "select pg_create_physical_replication_slot('kept_away', true)",
    );
    let (rc, out, err) = ctl(&c, &["metrics"]);
    assert_eq!(rc, 0, "{err}");
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package; scripts/install-deps.sh)");
    use std::io::Write;
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(out.as_bytes())
        .unwrap();
    let checked = promtool.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool check metrics:\n{}{}\n{out}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    for line in [
        format!("rustpg_node_role{{node=\"{primary}\",role=\"primary\"}} 1"),
        format!("rustpg_node_role{{node=\"{sync}\",role=\"sync\"}} 1"),
        format!("rustpg_node_role{{node=\"{potential}\",role=\"async\"}} 1"),
        format!("rustpg_node_promotion_score{{node=\"{sync}\"}} 100"),
        format!("rustpg_node_promotion_score{{node=\"{potential}\"}} -1000000"),
        format!("rustpg_node_data_status{{node=\"{sync}\",data_status=\"STREAMING|SYNC\"}} 1"),
        format!("rustpg_node_promotable{{node=\"{sync}\"}} 1"),
        format!("rustpg_sync_standby_names_info{{value=\"FIRST 1 (\\\"{sync}\\\")\"}} 1"),
        format!("rustpg_node_holds_every_acknowledged_commit{{node=\"{sync}\"}} 1"),
        format!("rustpg_node_holds_every_acknowledged_commit{{node=\"{potential}\"}} 0"),
        "rustpg_cluster_quorum 1".to_string(),
        "rustpg_primary_readable 1".to_string(),
        "rustpg_slot_active{slot=\"kept_away\"} 0".to_string(),
    ] {
        assert!(out.lines().any(|l| l == line), "no {line} in:\n{out}");
    }
    for prefix in [
        format!("rustpg_standby_lag_bytes{{node=\"{sync}\",position=\"replayed\"}} "),
        "rustpg_slot_wal_held_bytes{slot=\"kept_away\"} ".to_string(),
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(&prefix)),
            "no {prefix} in:\n{out}"
        );
    }
}

/// One HTTP/1.0 request to `serve`: the status code and the body.
pub fn http(port: u16, method: &str, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "{method} {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut reply = String::new();
    s.read_to_string(&mut reply).ok()?;
    let code = reply.split(' ').nth(1)?.parse().ok()?;
    let body = reply.split_once("\r\n\r\n")?.1.to_string();
    Some((code, body))
}

/// `serve` on a CIB file: /metrics as `metrics` prints it; this host is no
/// cluster node, so a role check answers 503 and says why; an unknown
/// path is 404, a method other than GET or HEAD 405.
#[test]
fn serve_answers_metrics_and_checks() {
    let (c, primary, _, _) = switchover_cluster();
    let port = free_port();
    let mut server = Command::new(CTL)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("CIB_file", &c.cib)
        .spawn()
        .unwrap();
    let up = Instant::now();
    let metrics = loop {
        if let Some(answer) = http(port, "GET", "/metrics") {
            break answer;
        }
        assert!(
            up.elapsed() < Duration::from_secs(10),
            "serve never answered"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let role = format!("rustpg_node_role{{node=\"{primary}\",role=\"primary\"}} 1");
    assert_eq!(metrics.0, 200, "{}", metrics.1);
    assert!(metrics.1.lines().any(|l| l == role), "{}", metrics.1);
    let (code, body) = http(port, "GET", "/primary").unwrap();
    assert_eq!(code, 503);
    assert!(body.contains("is not in the cluster"), "{body}");
    let (code, body) = http(port, "GET", "/nowhere").unwrap();
    assert_eq!(code, 404);
    assert!(body.contains("no such path /nowhere"), "{body}");
    assert_eq!(http(port, "POST", "/primary").unwrap().0, 405);
    server.kill().unwrap();
    server.wait().unwrap();
}

/// The CIB's constraints section.
fn constraints(c: &Cluster) -> String {
    let out = Command::new("cibadmin")
        .args(["-Q", "-o", "constraints"])
        .env("CIB_file", &c.cib)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// switchover on a CIB file, where nothing moves: the checks refuse with
/// nothing changed (3), and a switchover that times out fails (1) with its
/// ban cleared: no constraint is left behind either way.
#[test]
fn switchover_refuses_or_fails_without_leaving_a_constraint() {
    let (c, primary, sync, potential) = switchover_cluster();
    let (rc, _, err) = ctl(&c, &["switchover", "--to", &potential]);
    assert_eq!(rc, 3, "{err}");
    assert!(
        err.starts_with(&format!(
            "rustpgctl: refused: {potential} is not the synchronous standby"
        )),
        "{err}"
    );
    let (rc, _, err) = ctl(&c, &["switchover", "--to", &primary]);
    assert_eq!(
        (rc, err.trim()),
        (
            3,
            format!("rustpgctl: refused: {primary} is already the primary").as_str()
        )
    );
    assert!(!constraints(&c).contains("cli-ban"), "{}", constraints(&c));

    // Nothing moves on a file: the wait runs out, the ban goes. The
    // primary checkpointed first, so that its demote would have less to
    // write.
    let checkpoints = || c.sql(&primary, "select checkpoints_req from pg_stat_bgwriter");
    let before = checkpoints();
    let (rc, _, err) = ctl(&c, &["switchover", "--timeout", "2"]);
    assert_ne!(checkpoints(), before, "no CHECKPOINT before the ban");
    assert_eq!(rc, 1, "{err}");
    assert_eq!(
        err.trim(),
        format!("rustpgctl: switchover failed: {sync} was not promoted, with {primary} back as a standby and master_ip answering as the primary, within 2 s; the ban is cleared")
    );
    assert!(!constraints(&c).contains("cli-ban"), "{}", constraints(&c));
}

/// switchover --pgbouncer on a CIB file: PgBouncer is paused while the
/// switchover waits (clients' queries are held, none fails) and resumed on
/// every path: when the wait runs out, when a PgBouncer cannot be reached,
/// and when one cannot pause because a transaction stays open through it.
#[test]
fn switchover_pauses_pgbouncer_and_resumes_it_on_every_path() {
    let (c, primary, sync, _) = switchover_cluster();
    let bouncer = LocalPgBouncer::in_front_of(c.node(&primary).port);
    let admin = bouncer.admin_conninfo();

    // Clients query through PgBouncer all along: each query either
    // succeeds or is an error the test reports.
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let stop = stop.clone();
        let mut session = bouncer.client();
        std::thread::spawn(move || {
            let mut longest = Duration::ZERO;
            while !stop.load(Ordering::SeqCst) {
                let t = Instant::now();
                session
                    .simple_query("select 1")
                    .expect("a query through PgBouncer failed");
                longest = longest.max(t.elapsed());
                std::thread::sleep(Duration::from_millis(50));
            }
            longest
        })
    };
    let (rc, _, err) = ctl(
        &c,
        &["switchover", "--timeout", "3", "--pgbouncer-at", &admin],
    );
    stop.store(true, Ordering::SeqCst);
    let longest = client.join().expect("no client query failed");
    assert_eq!(rc, 1, "{err}");
    assert_eq!(
        err.trim(),
        format!("rustpgctl: switchover failed: {sync} was not promoted, with {primary} back as a standby and master_ip answering as the primary, within 3 s; the ban is cleared, every PgBouncer is resumed")
    );
    // The pause lasted the whole wait, so a query was held through most
    // of it; every query finished once PgBouncer resumed.
    assert!(
        longest >= Duration::from_secs(1),
        "longest query {longest:?}"
    );
    bouncer.client().simple_query("select 1").unwrap();
    assert!(!constraints(&c).contains("cli-ban"), "{}", constraints(&c));

    // A PgBouncer that cannot be reached: refused before anything changed,
    // the one already paused resumed.
    let nowhere = format!("host=127.0.0.1 port={}", free_port());
    let (rc, _, err) = ctl(
        &c,
        &[
            "switchover",
            "--pgbouncer-at",
            &admin,
            "--pgbouncer-at",
            &nowhere,
        ],
    );
    assert_eq!(rc, 3, "{err}");
    assert!(
        err.starts_with(&format!(
            "rustpgctl: refused: cannot reach PgBouncer's admin console at {nowhere}: "
        )) && err
            .trim_end()
            .ends_with("every PgBouncer is resumed, nothing else changed"),
        "{err}"
    );
    bouncer.client().simple_query("select 1").unwrap();

    // A transaction left open through PgBouncer: PAUSE cannot finish; the
    // pause is taken back after --pause-timeout.
    let mut open = bouncer.client();
    open.simple_query("begin; select 1").unwrap();
    let (rc, _, err) = ctl(
        &c,
        &[
            "switchover",
            "--pause-timeout",
            "2",
            "--pgbouncer-at",
            &admin,
        ],
    );
    assert_eq!(rc, 3, "{err}");
    assert_eq!(
        err.trim(),
        format!("rustpgctl: refused: PgBouncer at {admin} did not pause in time (a long transaction through it?); every PgBouncer is resumed, nothing else changed")
    );
    open.simple_query("commit").unwrap();
    bouncer.client().simple_query("select 1").unwrap();
    assert!(!constraints(&c).contains("cli-ban"), "{}", constraints(&c));
}
