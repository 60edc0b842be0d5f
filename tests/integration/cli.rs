//! OCF plumbing of the binary, no PostgreSQL needed.

use crate::support::Agent;

#[test]
fn unknown_action_is_unimplemented() {
    for action in ["bogus", "methods", "reload", ""] {
        let out = Agent::new().run(action);
        assert_eq!(out.rc, 3, "{action:?}");
        assert!(
            out.exit_reason().unwrap().contains("unknown action"),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn no_action_is_unimplemented() {
    let out = std::process::Command::new(crate::support::AGENT)
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn extra_arguments_are_ignored() {
    let out = Agent::new().extra_args(&["--bogus", "x"]).run("meta-data");
    assert_eq!(out.rc, 0);
    assert!(out.stdout.contains("<resource-agent name=\"pgsql\""));
    let out = Agent::new().extra_args(&["extra"]).run("usage");
    assert_eq!(out.rc, 0);
    assert!(out.stdout.starts_with("usage: pgsql {start|stop|monitor"));
}

#[test]
fn exit_reason_prefix_is_honoured() {
    let out = Agent::new()
        .env("OCF_EXIT_REASON_PREFIX", "REASON>")
        .param("pgport", "x")
        .run("validate-all");
    assert_eq!(out.rc, 6);
    assert!(
        out.stderr.lines().any(|l| l.starts_with("REASON>pgport=")),
        "{}",
        out.stderr
    );
}

#[test]
fn logs_go_to_ha_logfile_in_ocf_log_format() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("ha.log");
    let out = Agent::new()
        .env("HA_LOGFILE", log.to_str().unwrap())
        .env("HA_LOGTAG", "pgsql(pgtest)")
        .param("rep_mode", "bogus")
        .run("validate-all");
    assert_eq!(out.rc, 6);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains(" pgsql(pgtest):    ERROR: rep_mode=\"bogus\" is not one of"),
        "{text}"
    );
    // The exit reason is not written to stderr twice.
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}

#[test]
fn validate_all_at_level_0_only_checks_the_parameters() {
    // Nothing on this host matches these paths, and level 0 must not care:
    // `pcs resource create` validates before the data exists.
    let out = Agent::new()
        .param("pgdata", "/nonexistent/data")
        .param("pgdba", "no_such_user_x")
        .param("rep_mode", "sync")
        .param("node_list", "a b c")
        .param("master_ip", "192.0.2.10")
        .run("validate-all");
    assert_eq!(out.rc, 0, "{}", out.stderr);
}

#[test]
fn validate_all_at_level_10_checks_the_host_and_the_clone() {
    let base = Agent::new()
        .env("OCF_CHECK_LEVEL", "10")
        .param("pgdata", "/nonexistent/data");
    let out = base
        .clone()
        .param("pgdba", "no_such_user_x")
        .run("validate-all");
    assert_eq!(out.rc, 5, "{}", out.stderr);
    assert!(out.exit_reason().unwrap().contains("no_such_user_x"));

    let out = base.run("validate-all");
    assert_eq!(out.rc, 5, "{}", out.stderr);
    assert!(out
        .exit_reason()
        .unwrap()
        .contains("pgdata /nonexistent/data"));

    let sync = Agent::new()
        .env("OCF_RESKEY_OCF_CHECK_LEVEL", "10")
        .param("rep_mode", "sync")
        .param("node_list", "a b")
        .param("master_ip", "192.0.2.10");
    let out = sync.run("validate-all");
    assert_eq!(out.rc, 6, "{}", out.stderr);
    assert!(
        out.exit_reason().unwrap().contains("promotable"),
        "{}",
        out.stderr
    );
}

#[test]
fn validation_failure_mapping_of_the_stock_agent() {
    // A bad value: stop succeeds, monitor and status say not running,
    // the others return the validation code.
    let bad = Agent::new()
        .param("pgport", "not-a-port")
        .param("pgdata", "/nonexistent/data");
    assert_eq!(bad.run("stop").rc, 0);
    assert_eq!(bad.run("monitor").rc, 7);
    assert_eq!(bad.run("status").rc, 7);
    assert_eq!(bad.run("start").rc, 6);
    assert_eq!(bad.run("promote").rc, 6);
    assert_eq!(bad.run("notify").rc, 6);
    assert_eq!(bad.run("reload-agent").rc, 6);
}

#[test]
fn meta_data_needs_no_environment_and_no_privileges() {
    let expected = Agent::new().run("meta-data").stdout;
    let out = std::process::Command::new(crate::support::AGENT)
        .arg("meta-data")
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);

    // As nobody, with the environment crm_resource --show-metadata gives.
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let out = Agent::new()
        .env("OCF_OUTPUT_FORMAT", "text")
        .env("HA_logfacility", "none")
        .run_as(nobody.uid.as_raw(), nobody.gid.as_raw())
        .run("meta-data");
    assert_eq!(out.rc, 0, "{}", out.stderr);
    assert_eq!(out.stdout, expected, "meta-data must always be XML");
}

#[test]
fn other_users_get_err_perm() {
    crate::support::require_root();
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let out = Agent::new()
        .run_as(nobody.uid.as_raw(), nobody.gid.as_raw())
        .run("start");
    assert_eq!(out.rc, 4, "{}", out.stderr);
    assert!(out
        .exit_reason()
        .unwrap()
        .contains("must run as root or as pgdba"));
}
