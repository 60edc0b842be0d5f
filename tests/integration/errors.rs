//! Every error return code, on real data directories.

use crate::support::{chown_to_postgres, Major, Postgres};
use std::os::unix::fs::PermissionsExt;

#[test]
fn missing_pgdata() {
    let pg = Postgres::init(Major::V15);
    let agent = pg.agent().param("pgdata", "/nonexistent/rustpg/data");
    let out = agent.run("start");
    assert_eq!(out.rc, 5, "{}", out.stderr);
    assert!(out
        .exit_reason()
        .unwrap()
        .contains("/nonexistent/rustpg/data"));
    assert_eq!(
        agent.run("monitor").rc,
        7,
        "a probe on a node without the data"
    );
    assert_eq!(agent.run("stop").rc, 0);
}

#[test]
fn missing_os_user() {
    let pg = Postgres::init(Major::V15);
    let agent = pg.agent().param("pgdba", "no_such_user_rustpg");
    let out = agent.run("start");
    assert_eq!(out.rc, 5, "{}", out.stderr);
    assert!(out
        .exit_reason()
        .unwrap()
        .contains("User no_such_user_rustpg doesn't exist"));
}

#[test]
fn missing_pg_ctl() {
    let pg = Postgres::init(Major::V15);
    let out = pg
        .agent()
        .param("pgctl", "/nonexistent/bin/pg_ctl")
        .run("start");
    assert_eq!(out.rc, 5, "{}", out.stderr);
    assert!(
        out.exit_reason()
            .unwrap()
            .contains("pgctl /nonexistent/bin/pg_ctl"),
        "{}",
        out.stderr
    );
}

/// A program parameter that names no program is OCF_ERR_INSTALLED, as the
/// stock check_binary gives: a bare name not on PATH, a missing absolute
/// path, an explicit psql that does not exist. A bare name on PATH works.
#[test]
fn program_parameters_name_programs() {
    let pg = Postgres::init(Major::V15);
    for (param, value, reason) in [
        ("pgctl", "no_such", "pgctl no_such: no such program on PATH"),
        (
            "pgctl",
            "/nonexistent/bin/pg_ctl",
            "pgctl /nonexistent/bin/pg_ctl is not executable",
        ),
        (
            "psql",
            "no_such_psql",
            "psql no_such_psql: no such program on PATH",
        ),
        (
            "psql",
            "/nonexistent/bin/psql",
            "psql /nonexistent/bin/psql is not executable",
        ),
    ] {
        for action in ["start", "validate-all"] {
            let out = pg
                .agent()
                .param(param, value)
                .env("OCF_CHECK_LEVEL", "10")
                .run(action);
            assert_eq!(out.rc, 5, "{param}={value} {action}: {}", out.stderr);
            let why = out.exit_reason().unwrap_or_default();
            assert!(why.starts_with(reason), "{why}");
        }
    }
    let out = pg.agent().param("pgctl", "pg/ctl").run("start");
    assert_eq!(out.rc, 6, "a relative path: {}", out.stderr);
    // A bare name is looked up on PATH, as the stock agent does.
    let path = format!(
        "{}:/usr/sbin:/usr/bin:/sbin:/bin",
        Major::V15.bindir().display()
    );
    let agent = pg
        .agent()
        .param("pgctl", "pg_ctl")
        .param("psql", "psql")
        .env("PATH", &path);
    let out = agent.run("start");
    assert_eq!(out.rc, 0, "{}", out.stderr);
    assert_eq!(agent.run("stop").rc, 0);
}

#[test]
fn missing_config_file() {
    let pg = Postgres::init(Major::V15);
    let out = pg
        .agent()
        .param("config", "/nonexistent/postgresql.conf")
        .run("start");
    assert_eq!(out.rc, 5, "{}", out.stderr);
    assert!(out
        .exit_reason()
        .unwrap()
        .contains("Configuration file /nonexistent/postgresql.conf"));
}

#[test]
fn not_a_data_directory() {
    let pg = Postgres::init(Major::V15);
    let empty = pg.root.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    chown_to_postgres(&empty);
    let out = pg
        .agent()
        .param("pgdata", empty.to_str().unwrap())
        .run("start");
    assert_eq!(out.rc, 5, "{}", out.stderr);
    assert!(out.exit_reason().unwrap().contains("PG_VERSION"));
}

#[test]
fn pgdata_owned_by_someone_else_is_err_perm() {
    let pg = Postgres::init(Major::V15);
    std::os::unix::fs::chown(&pg.pgdata, Some(0), Some(0)).unwrap();
    let out = pg.agent().run("start");
    assert_eq!(out.rc, 4, "{}", out.stderr);
    assert!(out.exit_reason().unwrap().contains("not by pgdba postgres"));
    chown_to_postgres(&pg.pgdata);
}

#[test]
fn unwritable_logfile_is_err_perm() {
    let pg = Postgres::init(Major::V15);
    let log = pg.root.path().join("root-only.log");
    std::fs::write(&log, "").unwrap();
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = pg
        .agent()
        .param("logfile", log.to_str().unwrap())
        .run("start");
    assert_eq!(out.rc, 4, "{}", out.stderr);
    assert!(out
        .exit_reason()
        .unwrap()
        .contains("can't write to the log file"));
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "",
        "the file is not touched"
    );
}

#[test]
fn bad_values_are_err_configured_and_change_nothing() {
    let pg = Postgres::init(Major::V15);
    let conf_before = std::fs::read_to_string(pg.pgdata.join("postgresql.conf")).unwrap();
    for (param, value) in [
        ("pgport", "99999"),
        ("rep_mode", "semi-sync"),
        ("logfile", "/tmp/$(touch /tmp/rustpg-pwned)"),
        ("stop_escalate", "soon"),
        ("check_wal_receiver", "perhaps"),
    ] {
        let out = pg.agent().param(param, value).run("start");
        assert_eq!(out.rc, 6, "{param}={value}: {}", out.stderr);
        assert!(out.exit_reason().unwrap().contains(param), "{}", out.stderr);
    }
    assert!(!std::path::Path::new("/tmp/rustpg-pwned").exists());
    assert_eq!(pg.postmaster_pid(), None, "nothing was started");
    let conf_after = std::fs::read_to_string(pg.pgdata.join("postgresql.conf")).unwrap();
    assert_eq!(
        conf_before, conf_after,
        "validation never edits postgresql.conf"
    );
}

#[test]
fn start_failure_is_reported_with_the_log() {
    let pg = Postgres::init(Major::V15);
    crate::support::append(
        &pg.pgdata.join("postgresql.conf"),
        "\nshared_buffers = 'lots'\n",
    );
    let out = pg.agent().run("start");
    assert_eq!(out.rc, 1, "{}", out.stderr);
    let reason = out.exit_reason().unwrap();
    assert!(
        reason.starts_with("Can't start PostgreSQL: FATAL:  ") && reason.ends_with("(see logfile)"),
        "{reason}"
    );
    // The log names the file.
    assert!(
        out.stderr.contains(&format!(
            "pg_ctl start failed (FATAL:  {}",
            reason
                .trim_start_matches("Can't start PostgreSQL: FATAL:  ")
                .trim_end_matches(" (see logfile)")
        )) && out.stderr.contains(pg.logfile.to_str().unwrap()),
        "{}",
        out.stderr
    );
    assert_eq!(pg.agent().run("monitor").rc, 7);
}

#[test]
fn monitor_sql_failure_is_err_generic() {
    let pg = Postgres::init(Major::V15);
    pg.start_with_roles();
    let out = pg
        .agent()
        .param("monitor_sql", "select * from no_such_table")
        .run("monitor");
    assert_eq!(out.rc, 1, "{}", out.stderr);
    assert!(
        out.exit_reason().unwrap().contains("no_such_table"),
        "{}",
        out.stderr
    );
}

#[test]
fn monitor_user_password_and_pgpass() {
    let pg = Postgres::init(Major::V15);
    pg.start_with_roles();
    let mon = pg.agent().param("monitor_user", "mon");
    assert_eq!(
        mon.clone()
            .param("monitor_password", "monpw")
            .run("monitor")
            .rc,
        0
    );
    let wrong = mon
        .clone()
        .param("monitor_password", "wrong")
        .run("monitor");
    assert_eq!(wrong.rc, 1, "{}", wrong.stderr);
    assert!(
        wrong.exit_reason().unwrap().contains("password"),
        "{}",
        wrong.stderr
    );

    // No monitor_password: the password comes from the pgpass file.
    let pgpass = pg.root.path().join("pgpass");
    std::fs::write(
        &pgpass,
        format!("localhost:{}:template1:mon:monpw\n", pg.port),
    )
    .unwrap();
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = mon
        .clone()
        .env("PGPASSFILE", pgpass.to_str().unwrap())
        .run("monitor");
    assert_eq!(out.rc, 0, "{}", out.stderr);
    // A pgpass file others can read is ignored, as libpq does.
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = mon
        .clone()
        .env("PGPASSFILE", pgpass.to_str().unwrap())
        .run("monitor");
    assert_eq!(out.rc, 1, "{}", out.stderr);
}

#[test]
fn tcp_pghost_with_password() {
    let pg = Postgres::init(Major::V15);
    pg.start_with_roles();
    let out = pg
        .agent()
        .param("pghost", "127.0.0.1")
        .param("monitor_user", "mon")
        .param("monitor_password", "monpw")
        .run("monitor");
    assert_eq!(out.rc, 0, "{}", out.stderr);
}

/// A frozen postmaster: the monitor ends inside its timeout with a reason,
/// instead of being killed by Pacemaker without one.
#[test]
fn hung_postgres_fails_the_monitor_in_time() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let pg = Postgres::init(Major::V15);
    pg.start_with_roles();
    let pid = Pid::from_raw(pg.postmaster_pid().unwrap());
    kill(pid, Signal::SIGSTOP).unwrap();
    let started = std::time::Instant::now();
    let out = pg
        .agent()
        .env("OCF_RESKEY_CRM_meta_timeout", "4000")
        .run("monitor");
    let took = started.elapsed();
    kill(pid, Signal::SIGCONT).unwrap();
    assert_eq!(out.rc, 1, "{}", out.stderr);
    assert!(
        out.exit_reason()
            .unwrap()
            .contains("did not finish within its 4.0s timeout"),
        "{}",
        out.stderr
    );
    assert!(took < std::time::Duration::from_secs(4), "took {took:?}");
    assert_eq!(pg.agent().run("monitor").rc, 0, "answers again once thawed");
}
