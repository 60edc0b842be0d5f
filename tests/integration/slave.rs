//! rep_mode=slave, as the stock agent defines it: a standalone hot standby
//! that follows master_ip (here a plain instance standing for another
//! cluster's primary), not a promotable clone; on both recovery models.

use crate::cluster::{AgentKind, Cluster};
use crate::replication::assert_recovery_model;
use crate::support::Major;
use std::time::Duration;

const OURS: AgentKind = AgentKind::Ours;
const NOT_A_CLONE: [(&str, &str); 2] = [
    ("OCF_RESKEY_CRM_meta_promotable", "false"),
    ("OCF_RESKEY_CRM_meta_master_max", "0"),
];
const SLAVE: [(&str, &str); 5] = [
    NOT_A_CLONE[0],
    NOT_A_CLONE[1],
    ("OCF_RESKEY_rep_mode", "slave"),
    ("OCF_RESKEY_check_wal_receiver", "true"),
    // Above the 60 s op timeout: the stop says it adjusted it, which shows
    // that stop_escalate_in_slave (not stop_escalate) is the one used.
    ("OCF_RESKEY_stop_escalate_in_slave", "100"),
];

fn slave_follows_master_ip(major: Major) {
    let c = Cluster::new(major, &["pg01", "pg02"]);
    let plain = [
        NOT_A_CLONE[0],
        NOT_A_CLONE[1],
        ("OCF_RESKEY_rep_mode", "none"),
    ];
    let run = |node: &str, action: &str, env: &[(&str, &str)]| {
        let out = c.run(OURS, node, action, env);
        (out.rc, out)
    };
    assert_eq!(run("pg01", "start", &plain).0, 0);
    c.set_primary_target("pg01");

    // A file of the other recovery model, as an upgrade between majors
    // could leave: an empty standby.signal goes, a recovery.conf (which
    // stops 12 and later from starting) is moved aside, not deleted.
    let pgdata = c.node("pg02").pgdata.clone();
    let other_model = if major.number() < 12 {
        pgdata.join("standby.signal")
    } else {
        pgdata.join("recovery.conf")
    };
    std::fs::write(&other_model, "").unwrap();
    crate::support::chown_to_postgres(&other_model);

    let (rc, out) = run("pg02", "start", &SLAVE);
    assert_eq!(rc, 0, "{}", out.stderr);
    c.wait_streaming("pg02", Duration::from_secs(30));
    assert_recovery_model(&c, "pg02");
    assert_eq!(
        pgdata.join("recovery.conf.before-12").exists(),
        major.number() >= 12
    );
    assert_eq!(c.sql("pg02", "select pg_is_in_recovery()"), "t");
    let (rc, out) = run("pg02", "monitor", &SLAVE);
    assert_eq!(rc, 0, "{}", out.stderr);
    assert_eq!(
        c.attribute("pg02", "pgsql-receiver-status").as_deref(),
        Some("normal")
    );
    // No promotion: not a promotable clone (the stock answer).
    for action in ["promote", "demote"] {
        let (rc, out) = run("pg02", action, &SLAVE);
        assert_eq!(rc, 6, "{action}: {}", out.stderr);
        assert_eq!(out.exit_reason(), Some("Not in a replication mode."));
    }
    // A start of a running standby succeeds and changes nothing.
    assert_eq!(run("pg02", "start", &SLAVE).0, 0);
    // Its primary goes away: still a running standby, receiver ERROR.
    assert_eq!(run("pg01", "stop", &plain).0, 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (rc, out) = run("pg02", "monitor", &SLAVE);
        assert_eq!(rc, 0, "{}", out.stderr);
        if c.attribute("pg02", "pgsql-receiver-status").as_deref() == Some("ERROR") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "receiver still normal"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let (rc, out) = run("pg02", "stop", &SLAVE);
    assert_eq!(rc, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("stop_escalate time is adjusted to 50"),
        "{}",
        out.stderr
    );
    assert!(!c.is_running("pg02"));
    assert_eq!(c.attribute("pg02", "pgsql-receiver-status"), None);
    assert_eq!(run("pg02", "monitor", &SLAVE).0, 7);

    // A promotable clone cannot run rep_mode=slave.
    let mut clone = SLAVE;
    clone[0] = ("OCF_RESKEY_CRM_meta_promotable", "true");
    let (rc, out) = run("pg02", "start", &clone);
    assert_eq!(rc, 6, "{}", out.stderr);
}

#[test]
fn slave_follows_master_ip_pg11() {
    slave_follows_master_ip(Major::V11);
}

#[test]
fn slave_follows_master_ip_pg15() {
    slave_follows_master_ip(Major::V15);
}
