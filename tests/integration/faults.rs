//! Faults under write load (docs/faults.md): the three-node lab
//! (`lab/cluster.sh`, `rep_mode=sync`), a client in the lab's client
//! namespace writing through the VIP (`load::load_generator`, one INSERT per
//! transaction, each with a unique id), and six faults:
//!
//! 1. `kill -9` of the primary's postmaster;
//! 2. the primary's node dies (`lab/cluster.sh crash`);
//! 3. the sync standby's node dies: how long do commits hang?
//! 4. the primary's link is cut (`partition`) and restored (`heal`);
//! 5. the whole cluster is stopped and started again;
//! 6. a failover (`crash`) followed by the old primary's node returning
//!    (`revive`): it stays out behind PGSQL.lock until resynchronised.
//!
//! Each starts from the healthy picture and ends back there (a crashed
//! primary is resynchronised as docs/operations.md says: pg_basebackup, rm
//! PGSQL.lock, cleanup). After each: every id whose COMMIT the client saw
//! acknowledged is on the primary and on every streaming standby (0 lost),
//! at no sampled moment are two writable primaries reachable through the
//! VIP, and the time until writes succeed again is printed with the final
//! `crm_mon -Afr`. `FAULTS_REPEAT=N` runs every scenario N times (the long
//! form; the default, 1, is what CI runs).
//!
//! The load, the zero-loss check, the sampler and `Run` (what every
//! scenario shares) are in the support module `load.rs`; reading the lab
//! and the operator's recovery in `operator.rs`.

use crate::lab::{text, Lab, Mode, Picture, SharedLab};
use crate::load::{create_faults_table, node_state, now_ms, Row, Run};
use crate::operator::{
    block_vip, comes_back, crm, crm_mon_text, failcount, kill_walreceiver, lock_exists,
    operator_recovers_in_place, picture_without, restore, resync, running, status_of,
    wait_kept_out,
};
use crate::support::wait_until;
use rustpg::core::replication::Attr;
use std::sync::Arc;
use std::time::{Duration, Instant};

// --- the scenarios -------------------------------------------------------------

/// A survivor is promoted and holds the VIP, and another one acknowledges
/// its commits (`HS:sync`, or `HS:quorum` in quorum mode); as the
/// survivors see it.
pub(crate) fn wait_failover(r: &Run, old: &str) -> Picture {
    let ack = r.lab.expected().mode.acknowledging().map(|s| s.wire());
    let start = Instant::now();
    let mut last = None;
    loop {
        if let Some(p) = picture_without(r.lab, old) {
            // The sync standby (a voter), or another one when the check at
            // promotion handed it the promotion (it had received more WAL,
            // which nobody acknowledged); another node acknowledges its
            // commits, possibly the old primary when it came back by
            // itself (auto_rewind) first.
            let promoted = p
                .primary()
                .filter(|new| *new != old && p.vip_on.as_deref() == Some(*new))
                .filter(|new| {
                    r.lab
                        .nodes()
                        .into_iter()
                        .filter(|n| n != new)
                        .any(|n| status_of(&p, n).as_deref() == ack)
                });
            if let Some(new) = promoted {
                let how = if new == r.sync {
                    ""
                } else {
                    " (handed over by the first standby)"
                };
                println!(
                    "{}: failover to {new}{how} seen after {:.1}s",
                    r.label,
                    start.elapsed().as_secs_f64()
                );
                return p;
            }
            assert!(
                p.view.promoted.len() <= 1,
                "{}: two promoted instances: {:?}",
                r.label,
                p.view.promoted
            );
            last = Some(p);
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{}: no failover within 120s; as the survivors see it: {:?}\n{}",
            r.label,
            last.as_ref().map(|p| (
                p.primary(),
                p.vip_on.clone(),
                r.lab
                    .nodes()
                    .into_iter()
                    .map(|n| (n, status_of(p, n)))
                    .collect::<Vec<_>>()
            )),
            String::from_utf8_lossy(&r.lab.run(&["exec", &r.sync, "crm_mon", "-Afr1"]).stdout)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// `pg02 HS:sync` or `pg02 pg03 HS:quorum`: the standbys that acknowledge
/// the primary's commits in `p`, for the scenario's final state.
fn acknowledging(lab: &Lab, p: &Picture) -> String {
    let Some(status) = lab.expected().mode.acknowledging() else {
        return "no sync standby".into();
    };
    let nodes: Vec<&str> = lab
        .nodes()
        .into_iter()
        .filter(|n| p.get(n, Attr::Status) == Some(status.wire()))
        .collect();
    format!("{} {}", nodes.join(" "), status.wire())
}

fn kill_postmaster(lab: &Arc<Lab>, label: String, first: i64) -> Vec<Row> {
    let mut r = Run::begin(lab, label, first);
    let old = r.primary.clone();
    let log = log_mark(lab, &old);
    let pid = lab.postmaster_pid(&old);
    r.fault(&["exec", &old, "kill", "-9", &pid]);
    if lab.self_healing() {
        leave_a_rewind_unfinished(lab, &old);
        println!(
            "{}: {old}'s rewind recorded as unfinished {:.1}s after the fault",
            r.label,
            now_ms().saturating_sub(r.t0) as f64 / 1000.0
        );
    }
    let back = r.writes_back();
    let p = wait_failover(&r, &old);
    r.no_loss_now(&p);
    assert_ne!(status_of(&p, &old).as_deref(), Some("PRI"));
    let outcome = old_primary_returns(&r, &old, r.t0, log);
    if lab.self_healing() {
        assert!(
            outcome.contains("a new base backup"),
            "{}: {old} rejoined without auto_resync: {outcome}",
            r.label
        );
    }
    let mut row = r.finish(back);
    // Its stop succeeds: nothing to fence.
    assert_eq!(
        row.fenced, 0,
        "{}: a killed PostgreSQL was fenced",
        row.scenario
    );
    row.final_state = format!("{}; {old} {outcome}", row.final_state);
    vec![row]
}

/// The killed primary's rejoin, in crm-examples' configuration, is taken
/// as one whose pg_rewind stopped half way (its source crashed while it
/// ran), which the agent's record in tmpdir says. Written right after the
/// kill: the instance cannot start there again before its fail count
/// expires (failure-timeout, 10 s), so that start finds the record and
/// resynchronises the node (auto_resync) instead of running pg_rewind.
/// (Written after the failover instead, it raced that start: the node had
/// sometimes rejoined already.)
fn leave_a_rewind_unfinished(lab: &Lab, old: &str) {
    lab.exec(
        old,
        &[
            "runuser",
            "-u",
            "postgres",
            "--",
            "sh",
            "-c",
            "printf 'rewind\\n' > /var/lib/pgsql/tmp/rewind_unfinished.new && \
             mv /var/lib/pgsql/tmp/rewind_unfinished.new /var/lib/pgsql/tmp/rewind_unfinished",
        ],
    );
    assert_eq!(
        lab.exec(old, &["cat", "/var/lib/pgsql/tmp/rewind_unfinished"]),
        "rewind"
    );
    // No start came first: the lock of the killed primary is still there.
    assert!(
        lock_exists(lab, old),
        "{old} lost its PGSQL.lock before the record was written"
    );
}

/// How long a crashed primary may take to stream again by itself once it
/// is back (failure-timeout first lets Pacemaker start it again).
const REJOIN_WITHIN: Duration = Duration::from_secs(150);

/// The old primary is back (its node online since `returned`, in ms):
/// with crm-examples' configuration it streams again by itself, through
/// auto_rewind's decision (rewound, or found not past the fork) and with
/// its lock lifted; in the stock-compatible one it is kept out behind
/// PGSQL.lock and the operator resynchronises it. Returns what happened.
pub(crate) fn old_primary_returns(r: &Run, old: &str, returned: u64, log: usize) -> String {
    let lab = r.lab;
    if !lab.self_healing() {
        let kept = wait_kept_out(lab, old, Duration::from_secs(120));
        let rs = resync(lab, old);
        return format!("kept out behind PGSQL.lock after {kept:.0}s; resynchronised ({rs:.0}s)");
    }
    lab.wait_for(
        &format!("{}: {old} streaming again by itself", r.label),
        REJOIN_WITHIN,
        |p| lab.healthy(p) && status_of(p, old).is_some_and(|s| s.starts_with("HS:")),
    );
    let rejoined = now_ms().saturating_sub(returned) as f64 / 1000.0;
    wait_until(
        &format!("{}: {old} removes PGSQL.lock", r.label),
        Duration::from_secs(30),
        || !lock_exists(lab, old),
    );
    let rewind = rewind_log(lab, old, log);
    println!(
        "{}: {old} streams again {rejoined:.1}s after it was back; its agent: {rewind}",
        r.label
    );
    assert!(
        rewind.contains("discarded this node's WAL")
            || rewind.contains("follows it as it is")
            || rewind.contains("a new base backup"),
        "{}: {old} streams again, but its agent logged no auto_rewind decision: {rewind}",
        r.label
    );
    format!("streaming again by itself {rejoined:.0}s after it was back ({rewind})")
}

/// How many lines the node's Pacemaker log has: what a scenario logs
/// comes after.
fn log_mark(lab: &Lab, node: &str) -> usize {
    let out = lab.exec(node, &["wc", "-l", "/var/log/pacemaker/pacemaker.log"]);
    out.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// What auto_rewind (or auto_resync) did on the node since line `since`
/// of its Pacemaker log, from the agent's messages: the warning naming the
/// discarded WAL or the new copy, or its last step.
fn rewind_log(lab: &Lab, node: &str, since: usize) -> String {
    let from = format!("+{}", since + 1);
    let log = lab.exec(
        node,
        &["tail", "-n", &from, "/var/log/pacemaker/pacemaker.log"],
    );
    let last = |needle: &str| {
        log.lines()
            .rev()
            .filter(|l| l.contains("pgsql(Postgresql)"))
            .find(|l| l.contains(needle))
            .map(str::to_string)
    };
    let decision = last("discarded this node's WAL")
        .or_else(|| last("auto_resync: a new base backup"))
        .or_else(|| last("auto_rewind"));
    decision.map_or_else(
        || "no auto_rewind entry".into(),
        |l| l[l.find("auto_").unwrap_or(0)..].to_string(),
    )
}

/// Scenarios 2 and 6: the primary's node dies; the survivors fail over.
/// With `measure_return` (6) the node comes back under load, is kept out
/// behind its empty PGSQL.lock, and is resynchronised; otherwise (2) the
/// same happens as the recovery.
fn crash_primary(lab: &Arc<Lab>, label: String, first: i64) -> Vec<Row> {
    let mut r = Run::begin(lab, label.clone(), first);
    let old = r.primary.clone();
    let log = log_mark(lab, &old);
    r.fault(&["crash", &old]);
    let back = r.writes_back();
    let p = wait_failover(&r, &old);
    let survivors = r.no_loss_now(&p);
    let new = p.primary().unwrap().to_string();
    let failover_state = format!("{new} PRI, {}, {old} gone", acknowledging(lab, &p));
    // (6) The old primary's node returns, under load: rebooted by fencing,
    // or revived.
    let t = Instant::now();
    comes_back(lab, &old, r.t0);
    let returned = now_ms();
    if !lab.self_healing() {
        // It stays out: nothing promotes it, it holds no VIP, a few
        // seconds on.
        wait_kept_out(lab, &old, Duration::from_secs(120));
        std::thread::sleep(Duration::from_secs(5));
        assert!(lock_exists(lab, &old) && !running(lab, &old, "postgres"));
        let now = lab.picture().unwrap();
        assert_eq!(now.primary(), p.primary(), "the failover's primary stays");
        assert_ne!(now.vip_on.as_deref(), Some(old.as_str()));
    }
    let outcome = old_primary_returns(&r, &old, returned, log);
    lab.wait_for(
        &format!("{label}: {old} back as a standby"),
        Duration::from_secs(180),
        |p| lab.healthy(p),
    );
    let healthy_after = t.elapsed().as_secs_f64();
    println!("{label}: {old} back in the healthy picture {healthy_after:.1}s after the failover");
    let six = r.finish(back);
    if lab.fencing() {
        assert_eq!(
            six.fenced, 1,
            "{label}: one fencing action for the lost node"
        );
    }
    let mut two = six.clone();
    two.scenario = label.replace("(2)+(6)", "(2)").replace(
        "the primary's node dies, then returns",
        "the primary's node dies",
    );
    two.acked = survivors;
    two.final_state = format!("{failover_state} (then scenario 6)");
    let mut six = six;
    six.scenario = label.replace("(2)+(6)", "(6)").replace(
        "the primary's node dies, then returns",
        "failover, then the old primary's node returns",
    );
    six.final_state = format!(
        "{old} {outcome}; all {} healthy {healthy_after:.0}s after the failover, {new} still PRI",
        lab.nodes().len()
    );
    vec![two, six]
}

/// How the first standby (the sync standby, or the first voter) is lost.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Loss {
    /// Its node dies (`crash`).
    Crash,
    /// Its link is cut silently (`partition`): no connection is closed.
    Cut,
}

/// (3) and (3b) The first standby is lost while the primary runs. In sync
/// mode commits wait until the primary names another standby: once the
/// membership changed (3), or once the primary stops counting on the
/// silent standby (3b: seconds, where PostgreSQL alone would wait for
/// wal_sender_timeout; docs/compatibility.md R32). In
/// quorum mode they never wait for it: another voter acknowledges them,
/// and a commit begun after the loss is acknowledged before the cluster
/// has even fenced the lost node. The lost node returns as a standby.
fn first_standby_lost(lab: &Arc<Lab>, label: String, first: i64, loss: Loss) -> Vec<Row> {
    let mode = lab.expected().mode;
    let mut r = Run::begin(lab, label.clone(), first);
    let (primary, lost) = (r.primary.clone(), r.sync.clone());
    r.fault(&[
        if loss == Loss::Crash {
            "crash"
        } else {
            "partition"
        },
        &lost,
    ]);
    let back = r.writes_back();
    let ack = mode.acknowledging().map(|s| s.wire());
    let mut seen = None;
    wait_until(
        &format!("{label}: the primary's commits acknowledged without {lost}"),
        Duration::from_secs(180),
        || {
            seen = picture_without(lab, &lost).filter(|p| {
                p.primary() == Some(primary.as_str())
                    && (matches!(mode, Mode::Quorum(_))
                        || lab
                            .nodes()
                            .into_iter()
                            .any(|n| n != lost && status_of(p, n).as_deref() == ack))
            });
            seen.is_some()
        },
    );
    r.no_loss_now(&seen.unwrap());
    // With fencing the lost node is powered off and rebooted meanwhile.
    if lab.fencing() {
        comes_back(lab, &lost, r.t0);
    }
    if matches!(mode, Mode::Quorum(_)) && lab.fencing() {
        let fenced = lab
            .fence_events(r.t0)
            .into_iter()
            .find(|e| e.node == lost && e.action != "boot")
            .map(|e| e.at.saturating_sub(r.t0) as f64 / 1000.0)
            .unwrap();
        println!("{label}: commits went on {back:.1}s after the loss; {lost} was fenced after {fenced:.1}s");
        assert!(
            back < fenced,
            "{label}: in quorum mode commits waited for {lost} ({back:.1}s) until the cluster fenced it ({fenced:.1}s)"
        );
    }
    if loss == Loss::Cut {
        let out = lab.run(&["heal", &lost]);
        assert!(out.status.success(), "heal {lost}:\n{}", text(&out));
    }
    let returning = mode.returning().wire();
    lab.wait_for(
        &format!("{label}: {lost} back"),
        Duration::from_secs(180),
        |p| lab.healthy(p) && status_of(p, &lost).as_deref() == Some(returning),
    );
    vec![r.finish(back)]
}

/// In the double faults, the primary dies this long after the first
/// fault: inside one primary-monitor interval (3 s).
const SECOND_FAULT_AFTER: Duration = Duration::from_secs(1);

/// What happens to the sync standby in a double fault.
#[derive(Clone, Copy, Debug)]
enum FirstFault {
    /// The sync standby's replication connection is reset (its walreceiver
    /// killed) and the VIP blackholed in its namespace, so it cannot
    /// reconnect while its node stays in the cluster.
    ResetAndBlockSync,
    /// The same for the other (async) standby.
    ResetAndBlockOther,
    /// The sync standby's PostgreSQL is killed (`kill -9` of the postmaster).
    KillSyncPostgres,
    /// A clean switchover: the fault lands while the former primary takes
    /// the sync role back.
    Switchover,
    /// Issue 11's sequence: the other (async) standby partitioned, then the
    /// sync standby's connection reset and blocked. No other node can prove
    /// it holds every acknowledged commit once the primary dies, unless the
    /// sync standby still holds its score: the cluster must not stay
    /// without a primary (R28).
    PartitionOtherResetSync,
}

/// The issue's double fault: the sync standby loses its replication
/// connection, and the primary's postmaster dies `delay` later, within one
/// primary-monitor interval (3 s). Commits wait while only the lost
/// standby is named; whoever is promoted next holds every acknowledged
/// commit, or nobody is (ARCHITECTURE.md, "No acknowledged commit is lost").
fn double_fault(lab: &Arc<Lab>, label: String, first: i64, fault: FirstFault) -> Vec<Row> {
    let delay = SECOND_FAULT_AFTER;
    let mut r = Run::begin(lab, label.clone(), first);
    let (mut old, sync) = (r.primary.clone(), r.sync.clone());
    let mut blocked = None;
    let mut partitioned = None;
    match fault {
        FirstFault::ResetAndBlockSync | FirstFault::ResetAndBlockOther => {
            let n = match fault {
                FirstFault::ResetAndBlockSync => sync.clone(),
                _ => r.potential.clone(),
            };
            block_vip(lab, &n, true);
            r.fault(&kill_walreceiver(&n));
            blocked = Some(n);
        }
        FirstFault::KillSyncPostgres => {
            let pid = lab.postmaster_pid(&sync);
            r.fault(&["exec", &sync, "kill", "-9", &pid]);
        }
        FirstFault::Switchover => {
            r.fault(&["switchover"]);
            old = sync.clone();
        }
        FirstFault::PartitionOtherResetSync => {
            let other = r.potential.clone();
            r.fault(&["partition", &other]);
            block_vip(lab, &sync, true);
            let _ = lab.run(&kill_walreceiver(&sync));
            blocked = Some(sync.clone());
            partitioned = Some(other);
        }
    }
    std::thread::sleep(delay);
    let pid = lab.postmaster_pid(&old);
    let out = lab.run(&["exec", &old, "kill", "-9", &pid]);
    assert!(out.status.success(), "kill -9 {old}:\n{}", text(&out));
    println!("{label}: {fault:?}, then kill -9 of {old} {delay:?} later");
    // Either a new primary that holds every acknowledged commit, or the
    // old one recovered in place by its own monitor (no other node could
    // be promoted). Failing both, crm-examples' configuration promotes the
    // node that holds every acknowledged commit once failure-timeout lets
    // it start again: nobody steps in (a rescue fails the test). In the
    // stock-compatible one, the operator recovers the newest node after
    // 60 s (docs/operations.md lists when).
    let self_healing = lab.self_healing();
    let patience = Duration::from_secs(if self_healing { 150 } else { 60 });
    let mut promoted: Option<(String, Picture)> = None;
    let waited = Instant::now();
    while waited.elapsed() < patience {
        if let Some(p) = lab.picture() {
            let primary = p
                .primary()
                .filter(|n| p.vip_on.as_deref() == Some(*n))
                .filter(|n| {
                    lab.try_sql_on(n, "select pg_is_in_recovery()")
                        .is_ok_and(|o| o.trim() == "f")
                })
                .map(str::to_string);
            if let Some(n) = primary {
                promoted = Some((n, p));
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    if let Some(n) = &blocked {
        block_vip(lab, n, false);
    }
    if let Some(n) = &partitioned {
        assert!(
            promoted.is_some(),
            "{label}: no primary within 60 s: the crashed primary was not recovered in place (R28)\n{}",
            crm_mon_text(lab)
        );
        if lab.fencing() {
            comes_back(lab, n, r.t0);
        }
        let out = lab.run(&["heal", n]);
        assert!(out.status.success(), "heal {n}:\n{}", text(&out));
    }
    let back = match &promoted {
        Some((n, p)) => {
            let how = if *n == old {
                "recovered in place (no other node could be promoted)"
            } else {
                "promoted"
            };
            println!(
                "{label}: {n} {how} {:.1}s after the second fault",
                waited.elapsed().as_secs_f64()
            );
            r.no_loss_now(p);
            r.writes_back()
        }
        None => {
            assert!(
                !self_healing,
                "{label}: nobody promoted within {patience:?}, and crm-examples' configuration promises that nobody needs to step in\n{}",
                crm_mon_text(lab)
            );
            println!("{label}: nobody promoted within 60 s: no node could prove it holds every acknowledged commit; recovering {old} in place as the operator would");
            operator_recovers_in_place(lab, &old);
            r.writes_back()
        }
    };
    if !self_healing {
        for n in lab.nodes() {
            if n != old && promoted.is_none() {
                continue;
            }
            if lock_exists(lab, n) && !running(lab, n, "postgres") {
                wait_kept_out(lab, n, Duration::from_secs(150));
                resync(lab, n);
            }
        }
        crm(lab, &["crm_resource", "--cleanup", "-r", "msPostgresql"]);
    }
    vec![r.finish(back)]
}

fn partition_primary(lab: &Arc<Lab>, label: String, first: i64) -> Vec<Row> {
    let mut r = Run::begin(lab, label.clone(), first);
    let old = r.primary.clone();
    let log = log_mark(lab, &old);
    r.fault(&["partition", &old]);
    let back = r.writes_back();
    let p = wait_failover(&r, &old);
    r.no_loss_now(&p);
    // Without quorum the isolated node stops its resources
    // (no-quorum-policy=stop): PostgreSQL demoted and stopped, VIP removed.
    let isolated = wait_until(
        &format!("{label}: the isolated {old} stops PostgreSQL and the VIP"),
        Duration::from_secs(150),
        || {
            node_state(lab, &lab.switch_ns(), &old)
                .is_some_and(|(primary, vip, _)| !primary && !vip)
        },
    );
    println!(
        "{label}: isolated {old} no longer a writable primary with the VIP {:.1}s after the cut",
        (now_ms() - r.t0) as f64 / 1000.0 - 0.0
    );
    let _ = isolated;
    if lab.fencing() {
        // The quorate side fenced it: its reboot plugged it in again.
        comes_back(lab, &old, r.t0);
    }
    let lock_before = lock_exists(lab, &old);
    println!("{label}: {old} PGSQL.lock before the heal: {lock_before}");
    let out = lab.run(&["heal", &old]);
    assert!(out.status.success(), "heal {old}:\n{}", text(&out));
    let outcome = if lab.self_healing() {
        // crm-examples' configuration: it rejoins alone, whatever it wrote
        // while cut off (auto_rewind).
        old_primary_returns(&r, &old, now_ms(), log)
    } else {
        let t = Instant::now();
        // It either proves it is not ahead (streams from the new primary on
        // the new timeline, lock removed) or stays out behind PGSQL.lock.
        let mut outcome = String::new();
        wait_until(
            &format!("{label}: {old} rejoins or is kept out"),
            Duration::from_secs(180),
            || {
                let Some(p) = lab.picture() else { return false };
                assert_ne!(
                    p.primary(),
                    Some(old.as_str()),
                    "{label}: {old} primary again after the heal"
                );
                assert!(
                    p.view.promoted.len() <= 1,
                    "{label}: two promoted: {:?}",
                    p.view.promoted
                );
                if lab.healthy(&p) && !lock_exists(lab, &old) {
                    outcome = format!(
                        "rejoined as {} (its history was contained in the new primary's)",
                        status_of(&p, &old).unwrap_or_default()
                    );
                    return true;
                }
                let fc = failcount(lab, &old);
                if p.view.nodes.get(old.as_str()) == Some(&true)
                    && fc != "0"
                    && !running(lab, &old, "postgres")
                    && lock_exists(lab, &old)
                {
                    outcome = format!("kept out behind PGSQL.lock (fail count {fc})");
                    return true;
                }
                false
            },
        );
        println!(
            "{label}: after the heal {old} {outcome}, {:.1}s",
            t.elapsed().as_secs_f64()
        );
        if outcome.starts_with("kept out") {
            resync(lab, &old);
        }
        outcome
    };
    lab.wait_for(
        &format!("{label}: healthy after the heal"),
        Duration::from_secs(180),
        |p| lab.healthy(p),
    );
    let mut row = r.finish(back);
    row.final_state = format!("{}; old primary {outcome}", row.final_state);
    vec![row]
}

fn whole_cluster(lab: &Arc<Lab>, label: String, first: i64) -> Vec<Row> {
    let mut r = Run::begin(lab, label.clone(), first);
    r.fault(&["stop-node", "all"]);
    println!(
        "{label}: stopped after {:.1}s",
        (now_ms() - r.t0) as f64 / 1000.0
    );
    for n in lab.nodes() {
        assert!(
            !running(lab, n, "postgres"),
            "{label}: PostgreSQL still runs on {n}"
        );
    }
    // From here: how long until writes succeed once the cluster is started.
    r.t0 = now_ms();
    let out = lab.run(&["start-node", "all"]);
    assert!(out.status.success(), "start-node all:\n{}", text(&out));
    let back = r.writes_back();
    lab.wait_for(
        &format!("{label}: healthy after the restart"),
        Duration::from_secs(180),
        |p| lab.healthy(p),
    );
    vec![r.finish(back)]
}

/// The battery's short forms: the scenarios the suite runs in each
/// configuration of crm-examples' cluster (the scenarios' numbers, below
/// in `battery`), spread so that the suite stays within its time; the long
/// form (FAULTS_REPEAT > 1) runs every scenario in the configuration it is
/// given.
/// Three nodes in sync mode: the primary cut off (4), its node's death and
/// return (2+6), and three faults together (12, which kills the primary
/// under load as 1 does; the end-to-end test's failover is 1 at idle).
pub(crate) const SYNC_ON_THREE: &[usize] = &[4, 2, 12];
/// After the randomized schedules in quorum mode, on the same lab
/// (`nemesis::nemesis_schedules`): a voter's node dies, and commits do not
/// wait for it.
pub(crate) const QUORUM_ON_THREE: &[usize] = &[3];
/// On five nodes, `ANY 2` of four voters (`on_five_nodes`): a voter cut
/// off from the primary, which is killed 1 s later.
pub(crate) const QUORUM_ON_FIVE: &[usize] = &[8];
/// On five nodes, one sync standby and three async ones: the sync
/// standby's node dies, and one of the three takes its role.
pub(crate) const SYNC_ON_FIVE: &[usize] = &[3];

/// The battery in crm-examples' configuration as shipped (it heals
/// itself: nobody resynchronises a node or recovers one in place), with
/// fencing, on three nodes in sync mode.
#[test]
fn faults_under_write_load() {
    let _one_lab_at_a_time = crate::support::lab_guard();
    let shared = SharedLab::as_shipped();
    assert!(shared.lab.fencing() && shared.lab.self_healing());
    battery(&shared.lab, 1_000_000, |n, repeat| {
        SYNC_ON_THREE.contains(&n) || repeat > 1
    });
}

/// The fault battery on `lab`; `default(n, repeat)` picks the scenarios
/// when FAULTS_ONLY does not.
pub(crate) fn battery(lab: &Arc<Lab>, first_id: i64, default: fn(usize, usize) -> bool) {
    let repeat = crate::support::env_number("FAULTS_REPEAT", 1) as usize;
    let only: Option<Vec<usize>> = std::env::var("FAULTS_ONLY")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect());
    let started = Instant::now();
    let config = format!(
        "{} on {} nodes",
        lab.expected().mode.word(),
        lab.nodes().len()
    );
    println!(
        "{config}; fencing: {}, heals itself (auto_rewind, failure-timeout): {}",
        lab.fencing(),
        lab.self_healing()
    );
    lab.wait_for("steady state", Duration::from_secs(120), |p| lab.healthy(p));
    create_faults_table(lab);
    let lab = lab.clone();
    type Scenario = fn(&Arc<Lab>, String, i64) -> Vec<Row>;
    // (2) and (6) are one run: the primary's node dies (2), then returns
    // and is kept out until resynchronised (6). (3b) is in the long form.
    let scenarios: [(usize, &str, Scenario); 11] = [
        (
            1,
            "(1) kill -9 of the primary's postmaster",
            kill_postmaster,
        ),
        (3, "(3) the sync standby's node dies", |lab, label, first| first_standby_lost(lab, label, first, Loss::Crash)),
        (
            4,
            "(4) the primary's link is cut and restored",
            partition_primary,
        ),
        (
            5,
            "(5) the whole cluster stopped and started",
            whole_cluster,
        ),
        (
            2,
            "(2)+(6) the primary's node dies, then returns",
            crash_primary,
        ),
        (
            7,
            "(3b) the sync standby's link is cut and restored",
            |lab, label, first| first_standby_lost(lab, label, first, Loss::Cut),
        ),
        (
            8,
            "(8) the sync standby's connection reset and blocked, kill -9 of the primary 1 s later",
            |lab, label, first| double_fault(lab, label, first, FirstFault::ResetAndBlockSync),
        ),
        (
            9,
            "(9) kill -9 of the sync standby's PostgreSQL, kill -9 of the primary 1 s later",
            |lab, label, first| double_fault(lab, label, first, FirstFault::KillSyncPostgres),
        ),
        (
            10,
            "(10) a switchover, kill -9 of the new primary 1 s later",
            |lab, label, first| double_fault(lab, label, first, FirstFault::Switchover),
        ),
        (
            11,
            "(11) the async standby's connection reset and blocked, kill -9 of the primary 1 s later",
            |lab, label, first| double_fault(lab, label, first, FirstFault::ResetAndBlockOther),
        ),
        (
            12,
            "(12) the async standby partitioned, the sync standby's connection reset and blocked, kill -9 of the primary 1 s later",
            |lab, label, first| double_fault(lab, label, first, FirstFault::PartitionOtherResetSync),
        ),
    ];
    let mut rows = Vec::new();
    let mut next_id = first_id;
    for round in 1..=repeat {
        for (n, name, f) in scenarios {
            let wanted = match &only {
                Some(o) => o.contains(&n) || (n == 2 && o.contains(&6)),
                None => default(n, repeat),
            };
            if !wanted {
                continue;
            }
            let t = Instant::now();
            let label = format!("{name} [{config}] [{round}/{repeat}]");
            restore(&lab);
            rows.extend(f(&lab, label.clone(), next_id));
            next_id += 1_000_000;
            println!("{label}: {:.1}s in all", t.elapsed().as_secs_f64());
        }
    }
    print_rows(&rows);
    println!(
        "faults: {:.1}s in all; crashed nodes' disks forgot {} bytes they had not synced",
        started.elapsed().as_secs_f64(),
        lab.crashfs_dropped_bytes()
    );
}

pub(crate) fn print_rows(rows: &[Row]) {
    println!("\n| scenario | acknowledged | lost | s until writes succeed | longest commit (s) | fencing actions | impatient writer: ok / cancelled waits / lost | final state |");
    println!("|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {:.1} | {:.1} | {} | {} | {} |",
            r.scenario,
            r.acked,
            r.lost,
            r.writes_back,
            r.hang,
            r.fenced,
            r.impatient,
            r.final_state
        );
    }
}
