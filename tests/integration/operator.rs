//! The test as the cluster's operator, shared by the lab tests: reading
//! the lab as a person at a node would (`crm`, `crm_mon_text`, fail
//! counts, PGSQL.lock, which nodes stream, whether the healthy picture is
//! true of PostgreSQL itself), bringing nodes back and recovering a node
//! that is kept out as docs/operations.md says (`resync`, `restore`,
//! `operator_recovers_in_place`), and the faults that are not
//! `lab/cluster.sh` commands (a standby's replication connection reset,
//! the VIP blackholed inside a node).

use crate::lab::{text, Lab, Picture, PG_BIN, RSC, VIP};
use crate::support::wait_until;
use std::process::Command;
use std::time::{Duration, Instant};

// --- reading the lab --------------------------------------------------------

pub fn node_up(lab: &Lab, node: &str) -> bool {
    lab.run(&["exec", node, "true"]).status.success()
}

pub fn running(lab: &Lab, node: &str, program: &str) -> bool {
    lab.run(&["exec", node, "pidof", program]).status.success()
}

/// Run a Pacemaker command on the first node that answers.
pub fn crm(lab: &Lab, cmd: &[&str]) -> String {
    for n in lab.nodes() {
        if !running(lab, n, "pacemaker-controld") {
            continue;
        }
        let mut args = vec!["exec", n];
        args.extend_from_slice(cmd);
        let out = lab.run(&args);
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout).into_owned();
        }
    }
    panic!("{cmd:?} succeeded on no node")
}

pub fn crm_mon_text(lab: &Lab) -> String {
    String::from_utf8_lossy(&lab.run(&["crm_mon"]).stdout).into_owned()
}

/// The picture as the nodes other than `not` see it.
pub(crate) fn picture_without(lab: &Lab, not: &str) -> Option<Picture> {
    let nodes: Vec<&str> = lab.nodes().into_iter().filter(|n| *n != not).collect();
    lab.picture_from(&nodes)
}

pub(crate) fn status_of(p: &Picture, node: &str) -> Option<String> {
    p.attr(node, &format!("{RSC}-status")).map(str::to_string)
}

/// Postgresql's fail count on `node` (0 when none).
pub fn failcount(lab: &Lab, node: &str) -> String {
    let out = crm(lab, &["crm_failcount", "--query", "-r", RSC, "-N", node]);
    out.rsplit("value=")
        .next()
        .unwrap_or("0")
        .trim()
        .to_string()
}

pub(crate) fn lock_exists(lab: &Lab, node: &str) -> bool {
    lab.lock_exists(node)
}

/// The primary and every node whose data-status says it streams.
pub(crate) fn streaming_nodes(p: &Picture) -> Vec<String> {
    let primary = p.primary().expect("one primary");
    let mut v = vec![primary.to_string()];
    for n in p.view.nodes.keys() {
        if n != primary
            && p.attr(n, &format!("{RSC}-data-status"))
                .is_some_and(|s| s.starts_with("STREAMING"))
        {
            v.push(n.clone());
        }
    }
    v
}

// --- recovery ----------------------------------------------------------------

/// docs/operations.md, "Failover: the primary crashes": resynchronise the
/// old primary from the new one (a fresh pg_basebackup through the VIP as
/// the replication user; the node's own pg_hba.conf and lab-node.conf are
/// kept), remove PGSQL.lock, clean the resource up. The copy is made beside
/// the data directory and swapped in only when complete: a source that dies
/// mid-copy (fenced, crashed) leaves the node as it was, and the operator
/// tries again once a primary answers, as a person would.
pub fn resync(lab: &Lab, node: &str) -> f64 {
    let start = Instant::now();
    let script = format!(
        "set -e
d=/var/lib/pgsql/data
new=$d.resync-new
# The picture can name a primary a moment before its VIP answers (or after
# it died, until the membership notices): wait for it, as an operator would.
i=0
until {PG_BIN}/pg_isready -q -h {VIP} -t 2; do
    i=$((i + 1)); [ $i -lt 60 ] || {{ echo \"no primary answers on {VIP}\"; exit 1; }}; sleep 1
done
# Pacemaker may have started it meanwhile: never move a live data directory.
if pidof postgres >/dev/null; then echo \"PostgreSQL started meanwhile\"; exit 1; fi
rm -rf \"$new\"
install -d -o postgres -g postgres -m 0700 \"$new\"
if ! runuser -u postgres -- env PGPASSFILE=/var/lib/postgresql/.pgpass PGCONNECT_TIMEOUT=5 \
    timeout 120 {PG_BIN}/pg_basebackup -h {VIP} -U repl -D \"$new\" -X stream -c fast --no-sync; then
    rm -rf \"$new\"
    exit 1
fi
if pidof postgres >/dev/null; then rm -rf \"$new\"; echo \"PostgreSQL started meanwhile\"; exit 1; fi
cp -p \"$d/pg_hba.conf\" \"$d/lab-node.conf\" \"$new/\"
rm -rf \"$d\"
mv \"$new\" \"$d\"
rm -f /var/lib/pgsql/tmp/PGSQL.lock
"
    );
    for attempt in 1.. {
        assert!(
            !running(lab, node, "postgres"),
            "resync {node}: PostgreSQL is running there"
        );
        let out = lab.run(&["exec", node, "sh", "-c", &script]);
        if out.status.success() {
            // The copy was made with --no-sync: on a lab whose disks
            // forget unsynced writes (LAB_CRASHFS), write it back.
            let synced = lab.run(&["sync-disk", node]);
            assert!(
                synced.status.success(),
                "sync-disk {node}:\n{}",
                text(&synced)
            );
            break;
        }
        assert!(
            attempt < 3,
            "resync {node}, attempt {attempt}:\n{}",
            text(&out)
        );
        println!(
            "resync {node}: attempt {attempt} failed, trying again:\n{}",
            text(&out)
        );
        std::thread::sleep(Duration::from_secs(5));
    }
    // This node only: a cleanup of every node would also restart what
    // another node's failure keeps off.
    crm(
        lab,
        &[
            "crm_resource",
            "--cleanup",
            "-r",
            "msPostgresql",
            "-N",
            node,
        ],
    );
    let secs = start.elapsed().as_secs_f64();
    println!("resync {node}: pg_basebackup, lock removed, cleanup in {secs:.1}s");
    secs
}

/// A failed primary is kept out: online in the cluster, PostgreSQL not
/// running, PGSQL.lock present, a fail count, neither promoted nor holding
/// the VIP. Waits until it holds (the start must have been refused).
pub(crate) fn wait_kept_out(lab: &Lab, node: &str, timeout: Duration) -> f64 {
    let start = Instant::now();
    loop {
        let p = lab.picture();
        let online = p
            .as_ref()
            .is_some_and(|p| p.view.nodes.get(node) == Some(&true));
        let promoted = p.as_ref().is_some_and(|p| p.primary() == Some(node));
        let vip = p.as_ref().and_then(|p| p.vip_on.clone());
        let pg = running(lab, node, "postgres");
        let lock = lock_exists(lab, node);
        let fc = if online {
            failcount(lab, node)
        } else {
            "?".into()
        };
        assert!(
            !promoted,
            "{node} was promoted again\n{}",
            crm_mon_text(lab)
        );
        if online && !pg && lock && fc != "0" && vip.as_deref() != Some(node) {
            let secs = start.elapsed().as_secs_f64();
            println!("{node} kept out behind PGSQL.lock (fail count {fc}) after {secs:.1}s");
            return secs;
        }
        let last = format!("online {online} postgres {pg} lock {lock} failcount {fc} vip {vip:?}");
        assert!(
            start.elapsed() < timeout,
            "{node} not kept out within {timeout:?}: {last}\n{}",
            crm_mon_text(lab)
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Every node up with its cluster stack running and its link up: revive
/// crashed nodes, start stopped stacks, heal cut links. With fencing, a node
/// that is down while the others have quorum is being fenced: its reboot
/// brings it back, so it is revived by hand only if that has not happened
/// within a minute (a revive would race the fence daemon's boot), and a
/// node is left alone while its last fencing has not been followed by its
/// boot (its cluster stack is still starting).
pub fn bring_nodes_back(lab: &Lab) {
    let sw = lab.switch_ns();
    // A majority of the nodes runs corosync.
    let quorate = || {
        let nodes = lab.nodes();
        2 * nodes.iter().filter(|n| running(lab, n, "corosync")).count() > nodes.len()
    };
    if lab.fencing() && quorate() {
        let settled = |n: &str| {
            node_up(lab, n)
                && lab
                    .fence_events(0)
                    .iter()
                    .rfind(|e| e.node == n)
                    .map_or(true, |e| e.action == "boot")
        };
        let start = Instant::now();
        while !lab.nodes().iter().all(|n| settled(n)) && start.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    for n in lab.nodes() {
        let _ = Command::new("ip")
            .args(["-n", &sw, "link", "set", &format!("v-{n}"), "up"])
            .output();
    }
    // A node can still be fenced while this runs (a reboot then races a
    // start, and the start finds no node): a step that failed is tried
    // again from the node's new state.
    for attempt in 1..=3 {
        let failed: Vec<String> = lab
            .nodes()
            .into_iter()
            .filter_map(|n| bring_node_back(lab, n))
            .collect();
        if failed.is_empty() {
            return;
        }
        assert!(attempt < 3, "{}", failed.join("\n"));
        std::thread::sleep(Duration::from_secs(10));
    }
}

/// One node up with its cluster stack: the step that failed and its
/// output, if one did.
fn bring_node_back(lab: &Lab, n: &str) -> Option<String> {
    let step = |args: &[&str]| {
        let out = lab.run(args);
        (!out.status.success()).then(|| format!("{}:\n{}", args.join(" "), text(&out)))
    };
    if !node_up(lab, n) {
        return step(&["revive", n]);
    }
    if running(lab, n, "pacemakerd") {
        return None;
    }
    // Corosync may run without Pacemaker (pacemakerd exited, or was still
    // coming up): the lab starts both or neither.
    if running(lab, n, "corosync") {
        if let Some(failed) = step(&["stop-node", n]) {
            return Some(failed);
        }
    }
    step(&["start-node", n])
}

/// The healthy picture, and PostgreSQL agrees with it: crm_mon lags a
/// fault by up to a monitor interval, so a picture taken just after one can
/// look healthy while the primary is already dead.
pub(crate) fn healthy_in_fact(lab: &Lab, p: &Picture) -> bool {
    lab.healthy(p)
        && p.view.nodes.keys().all(|n| {
            let want = if p.primary() == Some(n.as_str()) {
                "f"
            } else {
                "t"
            };
            lab.try_sql_on(n, "select pg_is_in_recovery()")
                .is_ok_and(|out| out.trim() == want)
        })
}

/// A node whose crash the cluster saw comes back: with fencing, by the
/// fence daemon's reboot (its cluster stack starts with it); without, by
/// `revive`. Returns the number of times it was fenced.
pub(crate) fn comes_back(lab: &Lab, node: &str, since_ms: u64) -> usize {
    if lab.fencing() {
        let (booted, fenced) = lab.wait_fenced_and_back(node, since_ms, Duration::from_secs(120));
        println!(
            "{node} fenced ({fenced}x) and rebooted {:.1}s after the fault",
            booted.saturating_sub(since_ms) as f64 / 1000.0
        );
        fenced
    } else {
        let out = lab.run(&["revive", node]);
        assert!(out.status.success(), "revive {node}:\n{}", text(&out));
        0
    }
}

/// Bring every node back and wait for the healthy picture: revive crashed
/// nodes, start stopped stacks, heal cut links, resynchronise a primary
/// that was kept out.
pub(crate) fn restore(lab: &Lab) {
    bring_nodes_back(lab);
    if lab.picture().is_some_and(|p| healthy_in_fact(lab, &p)) {
        return;
    }
    if lab.self_healing() {
        // crm-examples' configuration heals alone: nobody resynchronises.
        lab.wait_for("healthy again, alone", Duration::from_secs(180), |p| {
            healthy_in_fact(lab, p)
        });
        return;
    }
    wait_until(
        "a primary before restoring",
        Duration::from_secs(120),
        || lab.picture().is_some_and(|p| p.primary().is_some()),
    );
    for n in lab.nodes() {
        if lock_exists(lab, n) && !running(lab, n, "postgres") {
            wait_kept_out(lab, n, Duration::from_secs(150));
            resync(lab, n);
        }
    }
    lab.wait_for("healthy again", Duration::from_secs(180), |p| {
        healthy_in_fact(lab, p)
    });
}

/// No node could be promoted: the crashed primary holds the newest data.
/// The operator removes its PGSQL.lock and cleans the resource up; every
/// node then starts as a standby, publishes its position, and the election
/// (all of node_list) promotes the newest.
pub(crate) fn operator_recovers_in_place(lab: &Lab, old: &str) {
    let out = lab.run(&["exec", old, "rm", "-f", "/var/lib/pgsql/tmp/PGSQL.lock"]);
    assert!(out.status.success(), "rm lock on {old}:\n{}", text(&out));
    crm(lab, &["crm_resource", "--cleanup", "-r", "msPostgresql"]);
}

// --- faults that are not lab/cluster.sh commands ------------------------------

/// The `lab/cluster.sh` arguments that kill a standby's WAL receiver: its
/// replication connection is reset.
pub(crate) fn kill_walreceiver(node: &str) -> [&str; 6] {
    [
        "exec",
        node,
        "pkill",
        "-9",
        "-f",
        "^postgres: .*walreceiver",
    ]
}

/// Blackhole (or stop blackholing) the VIP inside a node; the error says
/// why it could not (the node is down, for one).
pub(crate) fn try_block_vip(lab: &Lab, node: &str, blocked: bool) -> Result<(), String> {
    let verb = if blocked { "add" } else { "del" };
    let out = lab.run(&[
        "exec",
        node,
        "ip",
        "route",
        verb,
        "blackhole",
        &format!("{VIP}/32"),
    ]);
    if out.status.success() {
        Ok(())
    } else {
        Err(text(&out).trim().to_string())
    }
}

/// The same, where the node must be up to block (unblocking a node that
/// went down meanwhile is nothing to do).
pub(crate) fn block_vip(lab: &Lab, node: &str, blocked: bool) {
    if let Err(why) = try_block_vip(lab, node, blocked) {
        assert!(!blocked, "blackhole {VIP} on {node}:\n{why}");
    }
}
