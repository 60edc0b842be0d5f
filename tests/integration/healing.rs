//! A cluster that heals itself (issue 11): the lab with fencing (its
//! default) and `auto_rewind=true` (`LAB_AUTO_REWIND=1`, which also sets
//! `failure-timeout=30s`), under the fault tests' write load. The primary's
//! PostgreSQL killed, its node crashed, its link cut: each time one primary,
//! no acknowledged commit lost, at no sampled moment two writable primaries
//! reachable through the VIP (the checks of `faults::Run::finish`), and the
//! old primary streaming again with no operator. Fencing is counted: never
//! more than one action per lost node (no fence loop), none for a killed
//! PostgreSQL (its stop succeeds).

use crate::e2e::{healthy, Lab};
use crate::faults::{
    create_faults_table, lock_exists, now_ms, print_rows, status_of, wait_failover, Row, Run,
};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    KillPostgres,
    CrashNode,
    Partition,
}

/// How long the old primary may take to stream again once its node is back
/// (or, for a killed PostgreSQL, after the fault: failure-timeout=30s first
/// lets Pacemaker start it again).
const REJOIN_WITHIN: Duration = Duration::from_secs(120);

fn heals(lab: &Arc<Lab>, fault: Fault, first_id: i64) -> Row {
    let label = format!("{fault:?}, auto_rewind=true, fencing");
    let mut r = Run::begin(lab, label.clone(), first_id);
    let old = r.primary.clone();
    match fault {
        Fault::KillPostgres => {
            let pid = lab.postmaster_pid(&old);
            r.fault(&["exec", &old, "kill", "-9", &pid]);
        }
        Fault::CrashNode => r.fault(&["crash", &old]),
        Fault::Partition => r.fault(&["partition", &old]),
    }
    let back = r.writes_back();
    let p = wait_failover(&r, &old);
    r.no_loss_now(&p);
    // When the old node is back: a killed PostgreSQL never left; a lost
    // node is fenced, and its reboot plugs it in again.
    let returned = match fault {
        Fault::KillPostgres => r.t0,
        Fault::CrashNode | Fault::Partition => {
            lab.wait_fenced_and_back(&old, r.t0, Duration::from_secs(120))
                .0
        }
    };
    if fault == Fault::Partition {
        let out = lab.run(&["heal", &old]);
        assert!(out.status.success(), "heal {old}");
    }
    // No operator from here on.
    lab.wait_for(
        &format!("{label}: {old} streaming again by itself"),
        REJOIN_WITHIN,
        |p| healthy(p) && status_of(p, &old).is_some_and(|s| s.starts_with("HS:")),
    );
    let rejoined = (now_ms() - returned) as f64 / 1000.0;
    println!("{label}: {old} streams again {rejoined:.1}s after it was back");
    crate::support::wait_until(
        &format!("{label}: {old} removes PGSQL.lock"),
        Duration::from_secs(30),
        || !lock_exists(lab, &old),
    );
    let rewind = rewind_log(lab, &old);
    println!("{label}: {old}'s agent log: {rewind}");
    // It rejoined through auto_rewind's decision: rewound (pg_rewind ran
    // and says what it discarded), or found not past the fork.
    assert!(
        rewind.contains("discarded this node's WAL") || rewind.contains("follows it as it is"),
        "{label}: {old} streams again, but its agent logged no auto_rewind decision: {rewind}"
    );
    let mut row = r.finish(back);
    let expected = if fault == Fault::KillPostgres { 0 } else { 1 };
    assert_eq!(
        row.fenced, expected,
        "{label}: {} fencing actions, {expected} expected",
        row.fenced
    );
    row.final_state = format!(
        "{}; {old} streaming again {rejoined:.0}s after it was back ({rewind})",
        row.final_state
    );
    row
}

/// What auto_rewind did on the node, from the agent's messages in the
/// node's Pacemaker log: the rewind's warning naming the discarded WAL, or
/// its last step.
fn rewind_log(lab: &Lab, node: &str) -> String {
    let log = lab.exec(
        node,
        &[
            "grep",
            "-a",
            "pgsql(Postgresql)",
            "/var/log/pacemaker/pacemaker.log",
        ],
    );
    let last = |needle: &str| {
        log.lines()
            .rev()
            .find(|l| l.contains(needle))
            .map(str::to_string)
    };
    match last("discarded this node's WAL") {
        Some(l) => l[l.find("auto_rewind").unwrap_or(0)..].to_string(),
        None => last("auto_rewind")
            .map(|l| l[l.find("auto_rewind").unwrap_or(0)..].to_string())
            .unwrap_or_else(|| "no auto_rewind entry".into()),
    }
}

#[test]
fn cluster_heals_itself_with_fencing_and_auto_rewind() {
    let _one_lab_at_a_time = crate::support::lab_guard();
    let lab = Arc::new(Lab::up_with("heal", "he", &[("LAB_AUTO_REWIND", "1")]));
    assert!(lab.fencing(), "the lab fences by default");
    lab.wait_for("steady state", Duration::from_secs(120), healthy);
    create_faults_table(&lab);
    let mut rows = Vec::new();
    for (i, fault) in [Fault::KillPostgres, Fault::CrashNode, Fault::Partition]
        .into_iter()
        .enumerate()
    {
        rows.push(heals(&lab, fault, (i as i64 + 1) * 1_000_000));
    }
    print_rows(&rows);
}
