//! Randomized fault schedules (Jepsen-style): a nemesis draws a sequence
//! of faults and delays (0-5 s, so that faults land inside one monitor
//! interval) while at least four clients write through the VIP. After the
//! schedule everything is healed and recovered as an operator would; the
//! checker (`load::Run::finish`) then requires every acknowledged id on
//! the final primary and on every streaming standby, and never two
//! writable primaries reachable through the VIP; the healthy picture at the
//! end also means no standby was left diverged and "Started".
//!
//! The seed and the schedule are printed; `NEMESIS_SEED=<seed>` draws the
//! same schedule again. Short form in the suite: one schedule of 3 steps
//! in sync mode, then the lab changes to `rep_mode=quorum` as an operator
//! would and one more runs there (`NEMESIS_SCHEDULES` and
//! `NEMESIS_QUORUM_SCHEDULES` say how many of each; `NEMESIS_NODES=5`
//! makes a lab of five nodes, with quorum_standbys=2). The long form is
//! `scripts/nemesis-long.sh` (docs/faults.md). They run in crm-examples'
//! configuration as shipped,
//! which heals itself: the operator first stands back for 180 s, and a
//! schedule that needed them fails the test. `NEMESIS_STOCK=1` runs them in
//! the stock-compatible configuration (no auto_rewind, no
//! failure-timeout), where the operator steps in at once and every
//! intervention is reported.

use crate::lab::{Lab, Mode, Picture, SharedLab};
use crate::load::{create_faults_table, now_ms, Run};
use crate::operator::{
    block_vip, bring_nodes_back, crm, crm_mon_text, failcount, healthy_in_fact, kill_walreceiver,
    lock_exists, node_up, operator_recovers_in_place, restore, resync, running, streaming_nodes,
    try_block_vip,
};
use crate::support::{env_number, wait_until};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// splitmix64: a small, seedable generator (the schedule must be
/// reproducible from the printed seed alone).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Primary,
    /// The sync standby (index 0) or the other one (1), as the picture
    /// shows them when the step runs.
    Standby(usize),
    Any(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    KillPostgres(Who),
    CrashNode(Who),
    /// Replication connection reset, reconnection blocked for this long
    /// (the VIP blackholed in the standby's namespace; its node stays).
    ResetConnection(Who, u64),
    /// The standby's replication traffic silently dropped for this long.
    SilentCut(Who, u64),
    /// The node's link cut, healed after this long.
    Partition(Who, u64),
    Switchover,
    /// Revive crashed nodes, start stopped stacks, heal cut links.
    ReviveOrResync,
    /// The node crashes, and fencing reboots it without its cluster stack
    /// (as with the services disabled at boot): it stays out until healed.
    CrashStaysOut(Who),
    /// Two nodes crash, the second this many ms after the first.
    CrashTwo(Who, Who, u64),
    /// The standby's replay paused for this long (it goes on receiving).
    PauseReplay(Who, u64),
    /// The primary's PostgreSQL killed, and the standby's restarted
    /// (`pg_ctl restart -m fast`, behind Pacemaker's back) this many ms
    /// later, while the failover runs.
    KillPrimaryRestartStandby(Who, u64),
}

#[derive(Debug, Clone, Copy)]
struct Step {
    fault: Fault,
    delay_ms: u64,
}

/// `steps` faults for a lab of `nodes` nodes (with three, a seed draws the
/// schedule it always drew: an old seed replays its old schedule).
fn draw(rng: &mut Rng, steps: usize, nodes: u64) -> Vec<Step> {
    (0..steps)
        .map(|_| {
            let standby = Who::Standby(rng.below(nodes - 1) as usize);
            let secs = 1 + rng.below(10);
            let fault = match rng.below(14) {
                0 => Fault::KillPostgres(Who::Primary),
                1 => Fault::CrashNode(Who::Primary),
                2 => Fault::CrashNode(standby),
                3 => Fault::KillPostgres(standby),
                4 => Fault::ResetConnection(standby, secs),
                5 => Fault::SilentCut(standby, secs),
                6 => Fault::Partition(Who::Any(rng.below(nodes) as usize), secs),
                7 => Fault::Partition(Who::Primary, secs),
                8 => Fault::Switchover,
                9 => Fault::ReviveOrResync,
                10 => Fault::CrashStaysOut(Who::Primary),
                11 => {
                    let gap = 500 + rng.below(2501);
                    if rng.below(2) == 0 {
                        Fault::CrashTwo(Who::Primary, standby, gap)
                    } else {
                        Fault::CrashTwo(standby, Who::Primary, gap)
                    }
                }
                12 => Fault::PauseReplay(standby, secs),
                _ => Fault::KillPrimaryRestartStandby(standby, rng.below(1501)),
            };
            Step {
                fault,
                delay_ms: rng.below(5001),
            }
        })
        .collect()
}

/// The node a step means, from the picture when it runs.
fn resolve(lab: &Lab, who: Who) -> Option<String> {
    let p: Picture = lab.picture()?;
    match who {
        Who::Primary => p.primary().map(str::to_string),
        Who::Any(i) => lab.nodes().get(i).map(|n| n.to_string()),
        Who::Standby(i) => p.standbys_ranked().get(i).cloned(),
    }
}

/// Act on the lab in the background after `after` (undoing a fault: a
/// failure, when the node went down meanwhile, is nothing to undo).
fn later(
    lab: &Arc<Lab>,
    after: Duration,
    act: impl FnOnce(&Lab) + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let lab = lab.clone();
    std::thread::spawn(move || {
        std::thread::sleep(after);
        act(&lab);
    })
}

/// Whether process `pid` of `node` is gone (the node's init reaps it at
/// once), within 2 s.
fn process_gone(lab: &Lab, node: &str, pid: &str) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        if !lab.run(&["exec", node, "kill", "-0", pid]).status.success() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A standby's PostgreSQL restarted behind Pacemaker's back (its
/// `postmaster.opts` keep the agent's options).
/// A standby's PostgreSQL restarted behind Pacemaker's back: only where
/// PostgreSQL runs configured as a standby. `pg_ctl restart` starts a
/// server that is not running, and in a crashed primary's data directory
/// (no standby.signal) that would be a primary started by hand, a second
/// writable primary the cluster cannot know of (seed 5023).
const RESTART_POSTGRES: &str = "cd / && test -e /var/lib/pgsql/data/standby.signal \
    && runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl status -D /var/lib/pgsql/data >/dev/null \
    && runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl restart -m fast -w -t 60 -D /var/lib/pgsql/data >/dev/null";

/// What one step did: whether its fault landed (its effect was seen),
/// and the line for the log.
struct Injected {
    landed: bool,
    what: String,
}

impl Injected {
    fn landed(what: String) -> Injected {
        Injected { landed: true, what }
    }

    fn missed(what: impl Into<String>) -> Injected {
        Injected {
            landed: false,
            what: what.into(),
        }
    }
}

/// Inject one step and check its effect.
fn inject(lab: &Arc<Lab>, step: Step, undo: &mut Vec<std::thread::JoinHandle<()>>) -> Injected {
    let target = |who| resolve(lab, who);
    let run_with = |args: &[&str], env: &[(&str, &str)]| {
        let out = lab.run_with(args, env);
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    };
    let run = |args: &[&str]| run_with(args, &[]);
    match step.fault {
        Fault::KillPostgres(who) => match target(who).filter(|n| running(lab, n, "postgres")) {
            Some(n) => {
                let pid = lab.postmaster_pid(&n);
                let what = format!("kill -9 postgres on {n} (pid {pid})");
                match run(&["exec", &n, "kill", "-9", &pid]) {
                    // Landed: that postmaster is gone (postmaster.pid still
                    // names it after a kill; Pacemaker may start a new one).
                    Ok(()) if process_gone(lab, &n, &pid) => Injected::landed(what),
                    Ok(()) => Injected::missed(format!("{what}: still running")),
                    Err(e) => Injected::missed(format!("{what}: {e}")),
                }
            }
            None => Injected::missed("kill -9 postgres: no such node running postgres"),
        },
        Fault::CrashNode(who) => match target(who) {
            Some(n) => match run(&["crash", &n]) {
                Ok(()) if !node_up(lab, &n) => Injected::landed(format!("crash {n}")),
                Ok(()) => Injected::missed(format!("crash {n}: the node is still up")),
                Err(e) => Injected::missed(format!("crash {n}: {e}")),
            },
            None => Injected::missed("crash: no such node"),
        },
        // A node that is down (crashed, or being fenced) has no connection
        // to cut; one can also go down between the check and the cut.
        Fault::ResetConnection(who, secs) | Fault::SilentCut(who, secs) => {
            match target(who).filter(|n| node_up(lab, n)) {
                Some(n) => {
                    if let Err(why) = try_block_vip(lab, &n, true) {
                        return Injected::missed(format!(
                            "replication fault: {n} went down ({why})"
                        ));
                    }
                    let reset = matches!(step.fault, Fault::ResetConnection(..));
                    // A reset lands when a WAL receiver was killed; a cut
                    // when the VIP is blocked (done above).
                    let killed = !reset || run(&kill_walreceiver(&n)).is_ok();
                    let blocked = n.clone();
                    undo.push(later(lab, Duration::from_secs(secs), move |lab| {
                        block_vip(lab, &blocked, false)
                    }));
                    let what = format!(
                        "{} {n} for {secs}s",
                        if reset { "reset+block" } else { "silent cut" }
                    );
                    if killed {
                        Injected::landed(what)
                    } else {
                        Injected::missed(format!("{what}: no WAL receiver to kill"))
                    }
                }
                None => Injected::missed("replication fault: no such standby"),
            }
        }
        Fault::Partition(who, secs) => match target(who) {
            Some(n) => {
                let r = run(&["partition", &n]);
                let cut = n.clone();
                undo.push(later(lab, Duration::from_secs(secs), move |lab| {
                    let _ = lab.run(&["heal", &cut]);
                }));
                let what = format!("partition {n} for {secs}s");
                match r {
                    Ok(()) => Injected::landed(what),
                    Err(e) => Injected::missed(format!("{what}: {e}")),
                }
            }
            None => Injected::missed("partition: no such node"),
        },
        Fault::Switchover => {
            let before = resolve(lab, Who::Primary);
            // When the cluster cannot move the role (its primary's node
            // just crashed, say), 30 s tell as much as the lab's default
            // 120 s, and the long form runs faster.
            match run_with(&["switchover"], &[("LAB_SWITCHOVER_TIMEOUT", "30")]) {
                Ok(()) if resolve(lab, Who::Primary) != before => {
                    Injected::landed("switchover".into())
                }
                Ok(()) => Injected::missed("switchover: the primary did not change"),
                Err(e) => Injected::missed(format!("switchover: {e}")),
            }
        }
        // Not a fault: it undoes earlier ones.
        Fault::ReviveOrResync => {
            bring_nodes_back(lab);
            Injected::missed("revive/heal every node")
        }
        Fault::CrashStaysOut(who) => match target(who) {
            Some(n) => {
                let what = format!("crash {n}, rebooted without its cluster stack");
                let crashed = run(&["stack-at-boot", &n, "off"]).and_then(|()| run(&["crash", &n]));
                match crashed {
                    Ok(()) if !node_up(lab, &n) => Injected::landed(what),
                    Ok(()) => Injected::missed(format!("{what}: the node is still up")),
                    Err(e) => Injected::missed(format!("{what}: {e}")),
                }
            }
            None => Injected::missed("crash and stay out: no such node"),
        },
        Fault::CrashTwo(first, second, gap) => match (target(first), target(second)) {
            (Some(a), Some(b)) if a != b => {
                let what = format!("crash {a}, then {b} {gap} ms later");
                let _ = run(&["crash", &a]);
                std::thread::sleep(Duration::from_millis(gap));
                let _ = run(&["crash", &b]);
                match (node_up(lab, &a), node_up(lab, &b)) {
                    (false, false) => Injected::landed(what),
                    (true, true) => Injected::missed(format!("{what}: both still up")),
                    _ => Injected::landed(format!("{what}: only one went down")),
                }
            }
            _ => Injected::missed("two crashes: no two such nodes"),
        },
        Fault::PauseReplay(who, secs) => {
            match target(who).filter(|n| running(lab, n, "postgres")) {
                Some(n) => {
                    let what = format!("replay paused on {n} for {secs}s");
                    let _ = lab.try_sql_on(&n, "select pg_wal_replay_pause()");
                    let paused = lab
                        .try_sql_on(&n, "select pg_is_wal_replay_paused()")
                        .is_ok_and(|o| o.trim() == "t");
                    undo.push(later(lab, Duration::from_secs(secs), move |lab| {
                        // Promoted or stopped meanwhile: nothing to resume.
                        let _ = lab.try_sql_on(&n, "select pg_wal_replay_resume()");
                    }));
                    if paused {
                        Injected::landed(what)
                    } else {
                        Injected::missed(format!("{what}: not paused"))
                    }
                }
                None => Injected::missed("pause replay: no such standby running"),
            }
        }
        Fault::KillPrimaryRestartStandby(who, gap) => match (target(Who::Primary), target(who)) {
            (Some(p), Some(n)) if running(lab, &p, "postgres") => {
                let pid = lab.postmaster_pid(&p);
                let what = format!(
                    "kill -9 postgres on {p} (pid {pid}), pg_ctl restart on {n} {gap} ms later"
                );
                let killed = run(&["exec", &p, "kill", "-9", &pid]);
                undo.push(later(lab, Duration::from_millis(gap), move |lab| {
                    let _ = lab.run(&["exec", &n, "sh", "-c", RESTART_POSTGRES]);
                }));
                match killed {
                    Ok(()) if process_gone(lab, &p, &pid) => Injected::landed(what),
                    Ok(()) => Injected::missed(format!("{what}: still running")),
                    Err(e) => Injected::missed(format!("{what}: {e}")),
                }
            }
            _ => Injected::missed("kill and restart: no primary running postgres"),
        },
    }
}

/// Heal everything, then recover as an operator would, after standing
/// back for `hands_off`. Returns what the operator had to do.
fn heal_and_recover(
    lab: &Arc<Lab>,
    undo: Vec<std::thread::JoinHandle<()>>,
    hands_off: Duration,
) -> Vec<String> {
    for h in undo {
        let _ = h.join();
    }
    for n in lab.nodes() {
        block_vip(lab, n, false);
        // A node that stays out boots with its stack again.
        let _ = lab.run(&["stack-at-boot", n, "on"]);
    }
    bring_nodes_back(lab);
    operator_repairs(lab, hands_off)
}

/// Until the picture is healthy (10 min at most), as an operator would:
/// when no primary runs for 90 s (no node could prove it holds every
/// acknowledged commit), recover the crashed nodes in place and let the
/// election pick the newest;
/// resynchronise a node kept out (PostgreSQL stopped behind its lock or a
/// fail count) from the primary, and a standby that runs but has not
/// streamed for 90 s (diverged: ahead of the new timeline's fork) after
/// stopping it.
///
/// `hands_off`: how long the operator first stands back, so that what the
/// cluster heals alone is told apart from what needed a person. Returns
/// every intervention, for the report.
fn operator_repairs(lab: &Arc<Lab>, hands_off: Duration) -> Vec<String> {
    let mut did = Vec::new();
    let start = Instant::now();
    let mut silent_since: BTreeMap<String, Instant> = BTreeMap::new();
    let mut primary_seen = Instant::now();
    let mut standing_back = !hands_off.is_zero();
    loop {
        let p = lab.picture();
        if p.as_ref().is_some_and(|p| healthy_in_fact(lab, p)) {
            println!(
                "nemesis: healthy {:.0}s after healing",
                start.elapsed().as_secs_f64()
            );
            return did;
        }
        if standing_back {
            if start.elapsed() < hands_off {
                std::thread::sleep(Duration::from_secs(2));
                continue;
            }
            standing_back = false;
            primary_seen = Instant::now();
            println!(
                "nemesis: not healed alone within {}s: the operator steps in\n{}",
                hands_off.as_secs(),
                crm_mon_text(lab)
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "nemesis: not healthy within 10 min of healing\n{}",
            crm_mon_text(lab)
        );
        // Only a primary that really runs PostgreSQL is one to clone from.
        let Some(p) = p.filter(|p| {
            p.primary().is_some_and(|n| running(lab, n, "postgres")) && p.vip_on.is_some()
        }) else {
            if primary_seen.elapsed() > Duration::from_secs(90) {
                println!(
                    "nemesis: no primary for 90 s: recovering the crashed nodes in place\n{}",
                    crm_mon_text(lab)
                );
                did.push("no primary for 90 s: crashed nodes recovered in place".to_string());
                for n in lab.nodes() {
                    if lock_exists(lab, n) && !running(lab, n, "postgres") {
                        operator_recovers_in_place(lab, n);
                    }
                }
                crm(lab, &["crm_resource", "--cleanup", "-r", "msPostgresql"]);
                primary_seen = Instant::now();
            }
            std::thread::sleep(Duration::from_secs(2));
            continue;
        };
        primary_seen = Instant::now();
        let streaming = streaming_nodes(&p);
        for n in lab.nodes() {
            if streaming.iter().any(|s| s == n) || p.view.nodes.get(n) != Some(&true) {
                silent_since.remove(n);
                continue;
            }
            if !running(lab, n, "postgres") {
                // Kept out: its start was refused (a fail count keeps it
                // off). A lock alone is not enough: a cleanly demoted
                // primary has one until Pacemaker starts it as a standby.
                if failcount(lab, n) != "0" {
                    println!("nemesis: {n} is kept out: resynchronising it");
                    did.push(format!("{n} kept out: resynchronised"));
                    resync(lab, n);
                }
                continue;
            }
            let since = *silent_since
                .entry(n.to_string())
                .or_insert_with(Instant::now);
            if since.elapsed() > Duration::from_secs(90) {
                // The checker: a standby that cannot follow is never left
                // silently "Started": its monitor failed, or it says
                // DIVERGED.
                let said = p.attr(n, "Postgresql-data-status") == Some("DIVERGED")
                    || failcount(lab, n) != "0";
                assert!(
                    said,
                    "nemesis: {n} runs, has not streamed for 90 s, and nothing says so\n{}",
                    crm_mon_text(lab)
                );
                println!("nemesis: {n} runs but has not streamed for 90 s (reported): stopping and resynchronising it");
                did.push(format!("{n} diverged: stopped and resynchronised"));
                let stop = "runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl stop -m fast -w -D /var/lib/pgsql/data";
                let _ = lab.run(&["exec", n, "sh", "-c", stop]);
                wait_until(&format!("{n} stopped"), Duration::from_secs(60), || {
                    !running(lab, n, "postgres")
                });
                resync(lab, n);
                silent_since.remove(n);
            }
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// How the schedules of one configuration went.
#[derive(Default, Clone, Copy)]
pub(crate) struct Tally {
    run: usize,
    not_run: usize,
    rescued: usize,
}

/// `count` schedules of `steps` faults drawn from `seed`, `seed + 1`, ...
/// on `lab` in its current mode, the load's ids from `first_id`; the
/// operator first stands back for `hands_off`.
pub(crate) fn run_schedules(
    lab: &Arc<Lab>,
    seed: u64,
    count: u64,
    steps: usize,
    first_id: i64,
    hands_off: Duration,
) -> Tally {
    let mode = match lab.expected().mode {
        Mode::Quorum(_) => " (quorum)",
        _ => "",
    };
    let nodes = lab.nodes().len() as u64;
    let mut tally = Tally::default();
    for i in 0..count {
        let s = seed + i;
        let first_id = first_id + i as i64 * 1_000_000;
        let schedule = draw(&mut Rng(s), steps, nodes);
        let label = format!("nemesis seed {s}{mode} [{}/{count}]", i + 1);
        println!("\n{label}: schedule {schedule:?}");
        let t = Instant::now();
        restore(lab);
        let restored = t.elapsed().as_secs_f64();
        let mut r = Run::begin(lab, label.clone(), first_id);
        let mut undo = Vec::new();
        let mut landed = 0;
        for step in &schedule {
            let did = inject(lab, *step, &mut undo);
            if did.landed {
                landed += 1;
                // The clock starts once the first fault is in effect.
                if landed == 1 {
                    r.mark_fault();
                }
            }
            let word = if did.landed { "landed" } else { "did not land" };
            println!("{label}: {} ({word}); then {} ms", did.what, step.delay_ms);
            std::thread::sleep(Duration::from_millis(step.delay_ms));
        }
        if landed == 0 {
            r.mark_fault();
        }
        let faulted = t.elapsed().as_secs_f64();
        let rescues = heal_and_recover(lab, undo, hands_off);
        let healed = t.elapsed().as_secs_f64();
        let heal_mark = now_ms();
        let back = r.writes_back();
        // The cluster takes writes once everything is healed.
        r.require_write_after(heal_mark, Duration::from_secs(120));
        r.finish(back);
        for what in &rescues {
            println!("{label}: the operator stepped in: {what}");
        }
        tally.rescued += usize::from(!rescues.is_empty());
        if landed == 0 {
            // Nothing happened: the checks passed, but prove nothing.
            tally.not_run += 1;
            println!("{label}: NOT RUN: none of its faults landed");
        } else {
            tally.run += 1;
        }
        println!(
            "{label}: passed in {:.0}s ({landed} of {} faults landed; restore {restored:.0}s, faults to {faulted:.0}s, healed at {healed:.0}s)",
            t.elapsed().as_secs_f64(),
            schedule.len()
        );
    }
    tally
}

impl Tally {
    pub(crate) fn add(&mut self, other: Tally) {
        self.run += other.run;
        self.not_run += other.not_run;
        self.rescued += other.rescued;
    }

    /// Print the tally; fail when no schedule's faults landed, or when
    /// the operator had to step in and `self_healing` promised nobody
    /// would.
    pub(crate) fn check(&self, lab: &Lab, schedules: u64, self_healing: bool) {
        let Tally {
            run,
            not_run,
            rescued,
        } = *self;
        println!(
            "nemesis: {run} schedules run, {not_run} not run (no fault landed); the operator stepped in during {rescued}; crashed nodes' disks forgot {} bytes they had not synced",
            lab.crashfs_dropped_bytes()
        );
        assert!(
            run > 0 || schedules == 0,
            "nemesis: no schedule's faults landed"
        );
        assert!(
            !self_healing || rescued == 0,
            "nemesis: the operator had to step in during {rescued} schedules, and crm-examples' configuration promises that nobody needs to"
        );
    }
}

/// How long the operator stands back before stepping in: crm-examples'
/// configuration heals itself (auto_rewind, failure-timeout;
/// docs/operations.md), so 180 s, and a schedule that needed them fails
/// the test; in the stock-compatible one they step in at once.
pub(crate) fn hands_off(self_healing: bool) -> Duration {
    Duration::from_secs(if self_healing { 180 } else { 0 })
}

#[test]
fn nemesis_schedules() {
    let _one_lab_at_a_time = crate::support::lab_guard();
    let seed = env_number("NEMESIS_SEED", now_ms());
    let sync_schedules = env_number("NEMESIS_SCHEDULES", 1);
    let quorum_schedules = env_number("NEMESIS_QUORUM_SCHEDULES", 1);
    let steps = env_number("NEMESIS_STEPS", 3) as usize;
    let nodes = env_number("NEMESIS_NODES", 3);
    // NEMESIS_STOCK=1: the stock-compatible configuration, where the
    // operator steps in at once and every intervention is reported.
    let stock = env_number("NEMESIS_STOCK", 0) == 1;
    let shared = (!stock && nodes == 3).then(SharedLab::as_shipped);
    let lab = match &shared {
        Some(shared) => shared.lab.clone(),
        None => {
            let (crashfs, count) = (crate::lab::crashfs_binary(), nodes.to_string());
            let mut env = vec![("LAB_NODES", count.as_str()), ("LAB_CRASHFS", &crashfs)];
            if stock {
                env.push(("LAB_AUTO_REWIND", "0"));
            }
            if sync_schedules == 0 {
                env.push(("LAB_REP_MODE", "quorum"));
            }
            Arc::new(Lab::up_with("nemesis", "ne", &env))
        }
    };
    create_faults_table(&lab);
    // Ids of their own: the fault battery may have written into this lab.
    let first_id = 100_000_000i64;
    let hands_off = hands_off(!stock);
    let mut tally = run_schedules(&lab, seed, sync_schedules, steps, first_id, hands_off);
    if quorum_schedules > 0 {
        lab.set_rep_mode("quorum");
        let quorum = run_schedules(
            &lab,
            seed + sync_schedules,
            quorum_schedules,
            steps,
            first_id + sync_schedules as i64 * 1_000_000,
            hands_off,
        );
        tally.add(quorum);
    }
    tally.check(&lab, sync_schedules + quorum_schedules, !stock);
    // The suite's short form goes on, on the same lab now in quorum mode,
    // with the fault battery's short form there (scripts/nemesis-long.sh
    // sets NEMESIS_BATTERY=0).
    if shared.is_some() && quorum_schedules > 0 && env_number("NEMESIS_BATTERY", 1) == 1 {
        crate::faults::battery(&lab, 50_000_000, |n, repeat| {
            crate::faults::QUORUM_ON_THREE.contains(&n) || repeat > 1
        });
    }
    // The last of the shipped lab's users (the tests run in the order of
    // their names): down now, not idle beside the labs after it.
    drop(lab);
    if let Some(shared) = shared {
        shared.release();
    }
}

#[test]
fn schedules_are_reproducible_from_the_seed() {
    let a = draw(&mut Rng(42), 5, 3);
    let b = draw(&mut Rng(42), 5, 3);
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    assert!(a.iter().all(|s| s.delay_ms <= 5000));
}
