//! The standalone lifecycle (rep_mode=none) on real PostgreSQL 15 and 18.

use crate::support::{wait_until_dead, wait_until_reaped, Major, Postgres};
use std::time::{Duration, Instant};

fn lifecycle(major: Major) {
    let pg = Postgres::init(major);
    let agent = pg.agent();
    assert_eq!(agent.run("monitor").rc, 7, "never started: cleanly stopped");
    assert_eq!(agent.run("status").rc, 7);

    let out = agent.run("start");
    assert_eq!(out.rc, 0, "start: {}\n{}", out.stderr, pg.log_tail());
    assert_eq!(agent.run("monitor").rc, 0);
    assert_eq!(agent.run("status").rc, 0);
    let pid = pg.postmaster_pid().unwrap();

    let again = agent.run("start");
    assert_eq!(again.rc, 0, "start on a running instance: {}", again.stderr);
    assert_eq!(
        pg.postmaster_pid(),
        Some(pid),
        "a second start must not restart"
    );

    // The server really runs the configuration we gave it.
    let port = pg.sql_as_postgres("show port");
    assert_eq!(port.trim(), pg.port.to_string());

    assert_eq!(agent.run("notify").rc, 0);
    assert_eq!(agent.run("reload-agent").rc, 0);
    assert_eq!(agent.run("validate-all").rc, 0);
    let promote = agent.run("promote");
    assert_eq!(promote.rc, 6);
    assert_eq!(promote.exit_reason(), Some("Not in a replication mode."));
    assert_eq!(agent.run("demote").rc, 6);

    let out = agent.run("stop");
    assert_eq!(out.rc, 0, "stop: {}", out.stderr);
    assert_eq!(pg.postmaster_pid(), None);
    assert_eq!(agent.run("monitor").rc, 7);
    assert_eq!(agent.run("stop").rc, 0, "stop on a stopped instance");
}

#[test]
fn lifecycle_pg15() {
    lifecycle(Major::V15);
}

#[test]
fn lifecycle_pg18() {
    lifecycle(Major::V18);
}

fn crash_is_detected_and_recovered(major: Major) {
    let pg = Postgres::init(major);
    pg.start_with_roles();
    let agent = pg.agent();
    pg.sql_as_postgres("create table t(x int); insert into t values (42)");
    let pid = pg.postmaster_pid().unwrap();

    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL).unwrap();
    wait_until_dead(pid);
    // Whether or not the zombie has been reaped yet, this is a crash: 1, not 7.
    let out = agent.run("monitor");
    assert_eq!(out.rc, 1, "monitor after kill -9: {}", out.stderr);
    assert!(
        out.exit_reason().unwrap().contains("crashed"),
        "{}",
        out.stderr
    );
    wait_until_reaped(pid);
    let out = agent.run("monitor");
    assert_eq!(out.rc, 1, "still a crash after reaping: {}", out.stderr);

    // Recovery path: Pacemaker stops, then starts.
    let out = agent.run("stop");
    assert_eq!(out.rc, 0, "stop after crash: {}", out.stderr);
    assert_eq!(agent.run("monitor").rc, 7);
    // Orphaned backends exit by themselves once the postmaster is gone.
    std::thread::sleep(Duration::from_millis(500));
    let out = agent.run("start");
    assert_eq!(
        out.rc,
        0,
        "start after crash: {}\n{}",
        out.stderr,
        pg.log_tail()
    );
    assert_eq!(
        pg.sql_as_postgres("select x from t").trim(),
        "42",
        "crash recovery kept the data"
    );
    assert_eq!(agent.run("monitor").rc, 0);
}

#[test]
fn crash_pg15() {
    crash_is_detected_and_recovered(Major::V15);
}

#[test]
fn crash_pg18() {
    crash_is_detected_and_recovered(Major::V18);
}

/// One backend killed with `kill -9` (as the OOM killer does): the
/// postmaster ends every child and runs crash recovery, refusing
/// connections meanwhile (57P03). A frozen backend holds that window open
/// for about 5 s (PostgreSQL then sends it SIGKILL). A monitor inside the
/// window waits for the server (`decide::refusal_grace`) instead of
/// calling a running server failed.
fn a_child_crash_is_waited_for(major: Major) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let pg = Postgres::init(major);
    pg.start_with_roles();
    let backend = |c: &mut postgres::Client| -> i32 {
        c.query_one("select pg_backend_pid()", &[]).unwrap().get(0)
    };
    let (mut frozen, mut killed) = (pg.connect(), pg.connect());
    let (frozen_pid, killed_pid) = (backend(&mut frozen), backend(&mut killed));
    kill(Pid::from_raw(frozen_pid), Signal::SIGSTOP).unwrap();
    kill(Pid::from_raw(killed_pid), Signal::SIGKILL).unwrap();
    let refusing = Instant::now();
    loop {
        match pg.try_connect() {
            Err(e) if e.code() == Some(&postgres::error::SqlState::CANNOT_CONNECT_NOW) => break,
            _ => {}
        }
        assert!(
            refusing.elapsed() < Duration::from_secs(4),
            "the postmaster never refused connections after a child's crash\n{}",
            pg.log_tail()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = pg.root.path().join("ha.log");
    let agent = pg.agent().env("HA_LOGFILE", log.to_str().unwrap());
    let out = agent.run("monitor");
    assert_eq!(out.rc, 0, "monitor: {}\n{}", out.stderr, pg.log_tail());
    let ha_log = std::fs::read_to_string(&log).unwrap();
    assert!(
        ha_log.contains("refuses connections for now"),
        "the monitor did not wait: {ha_log}"
    );
    drop((frozen, killed));
}

#[test]
fn child_crash_pg15() {
    a_child_crash_is_waited_for(Major::V15);
}

#[test]
fn child_crash_pg18() {
    a_child_crash_is_waited_for(Major::V18);
}

/// A backend frozen with SIGSTOP holds `-m fast` forever; stop escalates to
/// `-m immediate` after stop_escalate seconds and still ends in time.
fn stop_escalates_on_a_hung_backend(major: Major) {
    let pg = Postgres::init(major);
    pg.start_with_roles();
    let mut client = pg.connect();
    let backend: i32 = client
        .query_one("select pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(backend),
        nix::sys::signal::SIGSTOP,
    )
    .unwrap();

    let log = pg.root.path().join("ha.log");
    let agent = pg
        .agent()
        .param("stop_escalate", "2")
        .env("HA_LOGFILE", log.to_str().unwrap());
    let started = Instant::now();
    let out = agent.run("stop");
    let took = started.elapsed();
    assert_eq!(out.rc, 0, "stop: {}\n{}", out.stderr, pg.log_tail());
    let ha_log = std::fs::read_to_string(&log).unwrap();
    assert!(ha_log.contains("Trying -m immediate"), "{ha_log}");
    assert!(
        took >= Duration::from_secs(2),
        "escalated before stop_escalate: {took:?}"
    );
    assert_eq!(agent.run("monitor").rc, 7);
    drop(client);

    // The next start recovers from the immediate shutdown.
    wait_until_reaped(backend);
    let out = agent.run("start");
    assert_eq!(
        out.rc,
        0,
        "start after immediate stop: {}\n{}",
        out.stderr,
        pg.log_tail()
    );
}

#[test]
fn stop_escalation_pg15() {
    stop_escalates_on_a_hung_backend(Major::V15);
}

#[test]
fn stop_escalation_pg18() {
    stop_escalates_on_a_hung_backend(Major::V18);
}

/// stop_escalate is clipped to the op timeout minus 10 s, as the stock agent does.
#[test]
fn stop_escalate_is_clipped_by_the_timeout() {
    let pg = Postgres::init(Major::V15);
    pg.start_with_roles();
    let log = pg.root.path().join("ha.log");
    let out = pg
        .agent()
        .param("stop_escalate", "90")
        .env("OCF_RESKEY_CRM_meta_timeout", "20000")
        .env("HA_LOGFILE", log.to_str().unwrap())
        .run("stop");
    assert_eq!(out.rc, 0, "{}", out.stderr);
    let ha_log = std::fs::read_to_string(&log).unwrap();
    assert!(
        ha_log.contains("stop_escalate time is adjusted to 10 based on the configured timeout"),
        "{ha_log}"
    );
}
