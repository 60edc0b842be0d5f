//! Benchmarks on the lab, not tests: ignored by `cargo test`, run by
//! `bench/cluster.sh`. Our agent, the stock `ocf:heartbeat:pgsql` and PAF's
//! `ocf:heartbeat:pgsqlms`, one after the other in one run, each on a fresh
//! `lab/cluster.sh` cluster with the same configuration (only the
//! Postgresql primitive differs; monitor 3 s promoted / 4 s unpromoted,
//! stickiness INFINITY, migration-threshold 1, and the lab's fencing,
//! `fence_pglab`, as in production; `LAB_FENCING=0` for figures without):
//!
//! - one monitor on the primary and on a standby: the environment
//!   Pacemaker gave a real recurring monitor (read from /proc while it
//!   ran), replayed inside the node `BENCH_RUNS` times (default 20);
//! - failover: `kill -9` of the primary's postmaster → the first write
//!   through the VIP that a new primary acknowledged;
//! - switchover: `crm_resource --ban --promoted` → the first write the new
//!   primary acknowledged, then whether the old primary rejoins by itself;
//! - the write-hang window when the sync standby's node dies, and when its
//!   link is cut silently;
//! - `LAB_REP_MODE=async`: the primary's node dies → a standby is promoted,
//!   and the first write through the VIP;
//! - the primary's node crashes (with fencing; ours with `auto_rewind=true`
//!   and `failure-timeout=30s`, `LAB_AUTO_REWIND=1`): the first write on a
//!   new primary, the old node, rebooted by fencing with its cluster stack,
//!   streaming again, and the fencing actions meanwhile.
//!
//! The writes come from the fault battery's load generator (one INSERT per
//! transaction, ~20 a second, from the lab's client namespace). After each
//! run the lab is repaired as an operator would (docs/operations.md): by
//! itself if the agent can, else a resync of the node that is kept out
//! (or that keeps being fenced: its stack is left off at its next boot,
//! `lab/cluster.sh stack-at-boot`, until it is resynchronised), else a
//! rebuilt lab. Figures only: nothing here asserts on time.

use crate::bench::Cost;
use crate::lab::{text, Lab};
use crate::load::{
    acknowledged, create_faults_table, ids_on, longest_commit, now_ms, Attempt, Load, Via,
};
use crate::operator::{bring_nodes_back, crm, crm_mon_text, failcount, node_up, resync, running};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Debug)]
enum Agent {
    Ours,
    Stock,
    Paf,
}

impl Agent {
    fn name(self) -> &'static str {
        match self {
            Agent::Ours => "ours",
            Agent::Stock => "stock",
            Agent::Paf => "paf",
        }
    }

    /// `BENCH_AGENTS`' and `BENCH_CONFIGS`' words.
    fn parse(word: &str) -> Option<Agent> {
        [Agent::Ours, Agent::Stock, Agent::Paf]
            .into_iter()
            .find(|a| a.name() == word)
    }

    fn program(self) -> &'static str {
        match self {
            Agent::Ours => "/usr/lib/ocf/resource.d/rustpg/pgsql",
            Agent::Stock => "/usr/lib/ocf/resource.d/heartbeat/pgsql",
            Agent::Paf => "/usr/lib/ocf/resource.d/heartbeat/pgsqlms",
        }
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn secs(d: f64) -> String {
    format!("{d:.1}")
}

fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v.get(v.len() / 2).copied()
}

/// Runs of one measurement: the figures (`None`: did not happen in time)
/// and a note per run.
#[derive(Default)]
struct Runs {
    figures: Vec<Option<f64>>,
    notes: Vec<String>,
}

impl Runs {
    fn push(&mut self, figure: Option<f64>, note: String) {
        println!("  {note}");
        self.figures.push(figure);
        self.notes.push(note);
    }

    /// `median (min–max, n=N)`, or how many runs never got there.
    fn summary(&self) -> String {
        if self.figures.is_empty() {
            return "–".into();
        }
        let got: Vec<f64> = self.figures.iter().flatten().copied().collect();
        let missed = self.figures.len() - got.len();
        let mut s = match median(&got) {
            None => "never".to_string(),
            Some(m) if got.len() == 1 => secs(m),
            Some(m) => {
                let lo = got.iter().copied().fold(f64::MAX, f64::min);
                let hi = got.iter().copied().fold(0.0, f64::max);
                format!("{} ({}–{})", secs(m), secs(lo), secs(hi))
            }
        };
        s.push_str(&format!(", n={}", self.figures.len()));
        if missed > 0 && !got.is_empty() {
            s.push_str(&format!(", {missed} never"));
        }
        s
    }

    fn median(&self) -> Option<f64> {
        let got: Vec<f64> = self.figures.iter().flatten().copied().collect();
        if got.len() < self.figures.len() {
            return None;
        }
        median(&got)
    }
}

#[derive(Default)]
struct Figures {
    up: f64,
    monitor_primary: Option<Cost>,
    monitor_standby: Option<Cost>,
    failover: Runs,
    switchover: Runs,
    rejoin: Runs,
    hang_crash: Runs,
    hang_cut: Runs,
    async_promoted: Runs,
    async_write: Runs,
    crash_write: Runs,
    crash_rejoin: Runs,
    crash_fenced: Runs,
}

// --- reading and repairing the lab -------------------------------------------

fn ready(lab: &Lab) -> Result<(), String> {
    let out = lab.run(&["picture"]);
    if out.status.success() {
        Ok(())
    } else {
        Err(text(&out).trim().to_string())
    }
}

fn wait_ready(lab: &Lab, timeout: Duration) -> Result<f64, String> {
    let start = Instant::now();
    loop {
        match ready(lab) {
            Ok(()) => return Ok(start.elapsed().as_secs_f64()),
            Err(why) if start.elapsed() > timeout => return Err(why),
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

fn primary(lab: &Lab, not: Option<&str>) -> Option<String> {
    let nodes: Vec<&str> = lab
        .nodes()
        .into_iter()
        .filter(|n| Some(*n) != not)
        .collect();
    lab.picture_from(&nodes)?.primary().map(str::to_string)
}

/// The standby the primary names as synchronous (all three agents; in
/// quorum mode the first voter by name).
fn sync_standby(lab: &Lab) -> String {
    lab.sql(
        "select application_name from pg_stat_replication \
         where sync_state in ('sync', 'quorum') order by application_name",
    )
    .ok()
    .and_then(|out| {
        out.lines()
            .map(str::trim)
            .find(|l| l.starts_with("pg"))
            .map(str::to_string)
    })
    .unwrap_or_else(|| panic!("no sync standby\n{}", crm_mon_text(lab)))
}

fn lab_cmd(lab: &Lab, args: &[&str]) {
    let out = lab.run(args);
    assert!(out.status.success(), "{args:?}:\n{}", text(&out));
}

/// The nodes kept out: PostgreSQL down and a fail count, while another
/// node serves writes through the VIP.
fn kept_out(lab: &Lab) -> Vec<String> {
    let Some(p) = primary(lab, None).filter(|_| lab.sql("select 1").is_ok()) else {
        return Vec::new();
    };
    lab.nodes()
        .into_iter()
        .filter(|n| *n != p && !running(lab, n, "postgres") && failcount(lab, n) != "0")
        .map(str::to_string)
        .collect()
}

/// A node fenced more than once since the fault `since_ms`: each reboot
/// starts its cluster stack, the instance fails again and the node is
/// fenced again (PAF, whose stop fails on a crashed primary's data).
fn fence_looping(lab: &Lab, since_ms: u64) -> Option<String> {
    lab.nodes()
        .into_iter()
        .find(|n| {
            lab.fence_events(since_ms)
                .iter()
                .filter(|e| e.node == *n && e.action != "boot")
                .count()
                > 1
        })
        .map(str::to_string)
}

/// Stop a fence loop as an operator would: the node's next reboot leaves
/// its cluster stack off, then it is resynchronised and its stack started.
fn break_fence_loop(lab: &Lab, node: &str) {
    lab_cmd(lab, &["stack-at-boot", node, "off"]);
    let off_at = now_ms();
    let stackless = || {
        node_up(lab, node)
            && !running(lab, node, "corosync")
            && lab
                .fence_events(off_at)
                .iter()
                .any(|e| e.node == node && e.action == "boot")
    };
    let start = Instant::now();
    while !stackless() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{node} did not come back without its cluster stack:\n{}",
            crm_mon_text(lab)
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    resync(lab, node);
    lab_cmd(lab, &["stack-at-boot", node, "on"]);
    lab_cmd(lab, &["start-node", node]);
}

/// Back to the full picture, as an operator would get there, after a fault
/// at `since_ms`; says how.
fn repair(lab: &Lab, since_ms: u64) -> String {
    let mut how = Vec::new();
    if let Some(n) = fence_looping(lab, since_ms) {
        break_fence_loop(lab, &n);
        how.push(format!("fence loop of {n} stopped, resync"));
    }
    bring_nodes_back(lab);
    // By itself, unless a node is kept out for good (twice in a row) or
    // keeps being fenced.
    let start = Instant::now();
    let mut out_before = Vec::new();
    while start.elapsed() < Duration::from_secs(90) {
        if ready(lab).is_ok() {
            how.push(format!("by itself ({:.0}s)", start.elapsed().as_secs_f64()));
            return how.join(" + ");
        }
        if let Some(n) = fence_looping(lab, since_ms).filter(|_| how.is_empty()) {
            break_fence_loop(lab, &n);
            how.push(format!("fence loop of {n} stopped, resync"));
            continue;
        }
        let out = kept_out(lab);
        if !out.is_empty() && out == out_before {
            break;
        }
        out_before = out;
        std::thread::sleep(Duration::from_secs(2));
    }
    // Resynchronise what is kept out from the primary.
    for n in kept_out(lab) {
        resync(lab, &n);
        how.push(format!("resync of {n}"));
    }
    crm(lab, &["crm_resource", "--cleanup", "-r", "msPostgresql"]);
    how.push("cleanup".into());
    if wait_ready(lab, Duration::from_secs(120)).is_ok() {
        return how.join(" + ");
    }
    println!(
        "  the lab could not be repaired; rebuilding it:\n{}",
        crm_mon_text(lab)
    );
    // Crash every node first: a blocked stop would hold `down` up.
    for n in lab.nodes() {
        if node_up(lab, n) {
            lab_cmd(lab, &["crash", n]);
        }
    }
    lab_cmd(lab, &["down"]);
    lab_cmd(lab, &["up"]);
    "lab rebuilt".into()
}

fn kill_postmaster(lab: &Lab, node: &str) {
    lab.exec(node, &["kill", "-9", &lab.postmaster_pid(node)]);
}

/// The acknowledged ids the node lacks.
fn lost_on(lab: &Lab, node: &str, attempts: &[Attempt], first: i64) -> usize {
    let (acked, (lo, hi)) = acknowledged(attempts, first);
    match ids_on(lab, node, lo, hi) {
        Some(have) => acked.difference(&have).count(),
        None => acked.len(),
    }
}

// --- the measurements ----------------------------------------------------------

fn monitor_cost(lab: &Lab, agent: Agent, node: &str, runs: usize) -> Cost {
    let file = format!("{}/bench-env-{node}", lab.root().display());
    lab.capture_monitor_env(agent.program(), node, &file);
    let exe = std::env::current_exe().unwrap();
    let out = lab.exec(
        node,
        &[
            "env",
            &format!("BENCH_IN_NODE_ENV={file}"),
            &format!("BENCH_IN_NODE_PROGRAM={}", agent.program()),
            &format!("BENCH_RUNS={runs}"),
            exe.to_str().unwrap(),
            "--ignored",
            "--exact",
            "bench::monitor_in_node",
            "--nocapture",
            "--test-threads=1",
        ],
    );
    let line = out
        .lines()
        .find_map(|l| l.split_once("BENCH_COST ").map(|(_, cost)| cost))
        .unwrap_or_else(|| panic!("no BENCH_COST line:\n{out}"));
    let f: Vec<&str> = line.split(' ').collect();
    let ms = |s: &str| Duration::from_secs_f64(s.parse::<f64>().unwrap() / 1000.0);
    Cost {
        wall: ms(f[0]),
        cpu: ms(f[1]),
        processes: f[2].parse().unwrap(),
    }
}

/// Every run starts alike: the full picture, the table, the load running
/// for 2 s. The primary, and the load.
fn begin(lab: &Lab, tag: &str, first_id: i64) -> (String, Load) {
    wait_ready(lab, Duration::from_secs(180))
        .unwrap_or_else(|why| panic!("{tag}: no full picture to start from: {why}"));
    create_faults_table(lab);
    let primary = primary(lab, None).unwrap();
    let load = Load::start(lab, Via::Vip, tag, first_id, 600);
    std::thread::sleep(Duration::from_secs(2));
    (primary, load)
}

/// kill -9 of the primary's postmaster → first write a new primary acked.
fn failover(lab: &Lab, first_id: i64, wait: Duration) -> (Option<f64>, String) {
    let (_, fig, note) = failover_at(lab, first_id, wait);
    (fig, note)
}

/// `failover`, with the time of the kill (ms since the epoch).
fn failover_at(lab: &Lab, first_id: i64, wait: Duration) -> (u64, Option<f64>, String) {
    let (old, load) = begin(lab, "failover", first_id);
    let t0 = now_ms();
    kill_postmaster(lab, &old);
    let back = load.first_write_after(t0, Some(&old), wait);
    if let Some((_, new)) = &back {
        print_connections(lab, new, t0);
    }
    let attempts = load.stop();
    let fenced = lab.fencing_actions(t0);
    let note = match &back {
        Some((s, new)) => {
            let lost = lost_on(lab, new, &attempts, first_id);
            format!("{old} killed: {new} took a write after {s:.1}s ({lost} acknowledged lost; {fenced} fencing actions)")
        }
        None => format!(
            "{old} killed: no write on another node within {}s; {}",
            wait.as_secs(),
            crm_mon_text(lab)
                .lines()
                .filter(|l| l.contains("FAILED") || l.contains("returned"))
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" / ")
        ),
    };
    let how = repair(lab, t0);
    (t0, back.map(|b| b.0), format!("{note}; repaired: {how}"))
}

/// Ban the promoted role on the primary → first write the new primary
/// acked; then clear the ban: does the old primary come back by itself?
fn switchover(lab: &Lab, first_id: i64) -> (Option<f64>, Option<f64>, String) {
    let (_, fig, rejoin, note) = switchover_at(lab, first_id, Move::Ban);
    (fig, rejoin, note)
}

/// When the new primary's connections began, in ms after `t0` (ms since
/// the epoch), first of each kind: which standby streamed again when,
/// and when the first client got through (the VIP's last stretch is
/// either's reconnect).
fn print_connections(lab: &Lab, node: &str, t0: u64) {
    let sql = format!(
        "select coalesce(string_agg(format('%s %s at +%s ms', who, kind, ms), ', ' order by ms), 'none') \
         from (select coalesce(nullif(application_name, ''), '-') as who, backend_type as kind, \
         min((extract(epoch from backend_start) * 1000)::bigint - {t0}) as ms \
         from pg_stat_activity where backend_type in ('walsender', 'client backend') \
         and backend_start > to_timestamp({t0} / 1000.0) group by 1, 2) c"
    );
    match lab.try_sql_on(node, &sql) {
        Ok(list) => println!("connections to {node} since the fault: {list}"),
        Err(e) => println!("connections to {node}: {e}"),
    }
}

/// How a switchover moves the promoted role.
#[derive(Clone, Copy, PartialEq)]
enum Move {
    /// `crm_resource --ban --promoted`, then `--clear` (any agent).
    Ban,
    /// `rustpgctl switchover` on the primary (its checks, a `CHECKPOINT`,
    /// the ban, the wait, the ban cleared).
    Ctl,
}

impl Move {
    fn title(self) -> &'static str {
        match self {
            Move::Ban => "crm_resource --ban --promoted",
            Move::Ctl => "rustpgctl switchover",
        }
    }
}

/// `switchover`, with the time it began (ms since the epoch).
fn switchover_at(lab: &Lab, first_id: i64, how: Move) -> (u64, Option<f64>, Option<f64>, String) {
    let (old, load) = begin(lab, "switchover", first_id);
    let ban_or_clear = |verb: &str| {
        let mut args = vec!["crm_resource", verb];
        if verb == "--ban" {
            args.push("--promoted");
        }
        args.extend(["-r", "msPostgresql", "-N", &old, "--quiet"]);
        crm(lab, &args);
    };
    let t0 = now_ms();
    match how {
        Move::Ban => ban_or_clear("--ban"),
        Move::Ctl => {
            let out = lab.run(&["exec", &old, CTL, "switchover"]);
            assert!(
                out.status.success(),
                "rustpgctl switchover:\n{}",
                text(&out)
            );
        }
    }
    let back = load.first_write_after(t0, Some(&old), Duration::from_secs(120));
    if let Some((_, new)) = &back {
        print_connections(lab, new, t0);
    }
    let attempts = load.stop();
    if how == Move::Ban {
        ban_or_clear("--clear");
    }
    let lost = back
        .as_ref()
        .map(|(_, new)| lost_on(lab, new, &attempts, first_id));
    // Back by itself: the full picture within 60 s of the ban.
    let waited = (now_ms() - t0) as f64 / 1000.0;
    let rejoin = wait_ready(lab, Duration::from_secs(60))
        .ok()
        .map(|s| s + waited);
    let how = match rejoin {
        Some(s) => format!("{old} streaming again by itself {s:.1}s after the ban"),
        None => format!("{old} not back within 60s; repaired: {}", repair(lab, t0)),
    };
    let note = match &back {
        Some((s, new)) => format!(
            "{old} -> {new}: first write after {s:.1}s ({} acknowledged lost); {how}",
            lost.unwrap_or(0)
        ),
        None => format!("{old}: no write on another node within 120s; {how}"),
    };
    (t0, back.map(|b| b.0), rejoin, note)
}

/// The sync standby's node dies (`crash`) or its link is cut
/// (`partition`): the longest commit on the primary.
fn sync_standby_loss(lab: &Lab, fault: &str, first_id: i64) -> (Option<f64>, String) {
    let (_, load) = begin(lab, fault, first_id);
    let sync = sync_standby(lab);
    let t0 = now_ms();
    lab_cmd(lab, &[fault, &sync]);
    // Writes flow again once one that started after the fault (+0.5 s)
    // is acknowledged; a few seconds more to see no second hang.
    let back = load.first_write_after(t0 + 500, None, Duration::from_secs(180));
    std::thread::sleep(Duration::from_secs(3));
    let attempts = load.stop();
    let hang = back.as_ref().map(|_| longest_commit(&attempts, t0));
    let note = match hang {
        Some(h) => format!("{fault} {sync}: longest commit {h:.1}s"),
        None => format!("{fault} {sync}: commits still hang after 180s"),
    };
    let how = repair(lab, t0);
    (hang, format!("{note}; repaired: {how}"))
}

/// Async cluster: the primary's node dies → crm_mon shows a promoted
/// standby, and the first write through the VIP.
fn async_primary_gone(
    lab: &Lab,
    first_id: i64,
    wait: Duration,
) -> (Option<f64>, Option<f64>, String) {
    let (old, load) = begin(lab, "async", first_id);
    let t0 = now_ms();
    lab_cmd(lab, &["crash", &old]);
    let start = Instant::now();
    let mut promoted = None;
    while start.elapsed() < wait {
        // (The survivors show the dead primary promoted until they notice.)
        if let Some(p) = primary(lab, Some(&old)).filter(|p| *p != old) {
            promoted = Some(((now_ms() - t0) as f64 / 1000.0, p));
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let back = match &promoted {
        Some(_) => load.first_write_after(t0, Some(&old), Duration::from_secs(60)),
        None => None,
    };
    let attempts = load.stop();
    let note = match (&promoted, &back) {
        (Some((p, new)), Some((w, _))) => {
            let lost = lost_on(lab, new, &attempts, first_id);
            format!("{old} died: {new} promoted after {p:.1}s, first write {w:.1}s ({lost} acknowledged lost: asynchronous)")
        }
        (Some((p, new)), None) => format!("{old} died: {new} promoted after {p:.1}s, no write"),
        _ => format!("{old} died: no standby promoted within {}s", wait.as_secs()),
    };
    let how = repair(lab, t0);
    (
        promoted.map(|p| p.0),
        back.map(|b| b.0),
        format!("{note}; repaired: {how}"),
    )
}

/// How long after its fenced reboot the old node may take to stream again
/// before it counts as never.
const REJOIN_WAIT: Duration = Duration::from_secs(120);

/// The primary's node crashes, with fencing: the first write a new
/// primary acknowledged; the old node, rebooted by fencing, streaming from
/// the new primary (seconds after its boot); and the fencing actions until
/// then (or until REJOIN_WAIT ran out: a fence loop shows here).
fn node_crash(lab: &Lab, first_id: i64) -> (Option<f64>, Option<f64>, usize, String) {
    let (old, load) = begin(lab, "crash", first_id);
    let t0 = now_ms();
    lab_cmd(lab, &["crash", &old]);
    let back = load.first_write_after(t0, Some(&old), Duration::from_secs(90));
    let attempts = load.stop();
    let booted = || {
        lab.fence_events(t0)
            .into_iter()
            .find(|e| e.node == old && e.action == "boot")
            .map(|e| e.at)
    };
    let start = Instant::now();
    while booted().is_none() && start.elapsed() < Duration::from_secs(90) {
        std::thread::sleep(Duration::from_millis(250));
    }
    let streams = || {
        lab.sql(&format!(
            "select count(*) from pg_stat_replication where application_name = '{old}' and state = 'streaming'"
        ))
        .is_ok_and(|out| out.lines().any(|l| l.trim() == "1"))
    };
    let rejoin = booted().and_then(|b| {
        let start = Instant::now();
        while start.elapsed() < REJOIN_WAIT {
            if streams() {
                return Some((now_ms() - b) as f64 / 1000.0);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        None
    });
    let fenced = lab.fencing_actions(t0);
    let mut note = match &back {
        Some((s, new)) => {
            let lost = lost_on(lab, new, &attempts, first_id);
            format!("{old} crashed: {new} took a write after {s:.1}s ({lost} acknowledged lost)")
        }
        None => format!("{old} crashed: no write on another node within 90s"),
    };
    note.push_str(&match rejoin {
        Some(r) => format!("; {old} streaming {r:.1}s after its reboot"),
        None => format!(
            "; {old} not streaming {}s after its reboot",
            REJOIN_WAIT.as_secs()
        ),
    });
    note.push_str(&format!("; {fenced} fencing actions"));
    let how = repair(lab, t0);
    (
        back.map(|b| b.0),
        rejoin,
        fenced,
        format!("{note}; repaired: {how}"),
    )
}

fn bench_agent(agent: Agent, f: &mut Figures) {
    let runs = env_usize("BENCH_RUNS", 20);
    let failovers = env_usize("BENCH_FAILOVERS", 5);
    let hangs = env_usize("BENCH_HANGS", 3);
    let cuts = env_usize("BENCH_CUTS", 1);
    let asyncs = env_usize("BENCH_ASYNC", 3);
    let crashes = env_usize("BENCH_CRASHES", 3);
    let wait = Duration::from_secs(env_usize("BENCH_FAILOVER_WAIT", 90) as u64);
    let mut id = 1_000_000i64;
    let mut next_id = || {
        id += 1_000_000;
        id
    };

    println!("\n===== {} (rep_mode=sync) =====", agent.name());
    let t = Instant::now();
    let lab = Lab::up_with(
        &format!("bench-{}", agent.name()),
        &format!("b{}", &agent.name()[..1]),
        &[("LAB_AGENT", agent.name()), ("LAB_REP_MODE", "sync")],
    );
    wait_ready(&lab, Duration::from_secs(180)).expect("the full picture after up");
    f.up = t.elapsed().as_secs_f64();
    println!("up: {:.1}s", f.up);
    let p = primary(&lab, None).unwrap();
    let s = sync_standby(&lab);
    f.monitor_primary = Some(monitor_cost(&lab, agent, &p, runs));
    f.monitor_standby = Some(monitor_cost(&lab, agent, &s, runs));

    println!("failover (kill -9 of the primary's postmaster):");
    for _ in 0..failovers {
        let (fig, note) = failover(&lab, next_id(), wait);
        let never = fig.is_none();
        f.failover.push(fig, note);
        if never {
            // Without fencing the same thing happens every time.
            println!("  (no further failover runs: it did not fail over)");
            break;
        }
    }
    println!("switchover (crm_resource --ban --promoted, then --clear):");
    for _ in 0..failovers {
        let (fig, rejoin, note) = switchover(&lab, next_id());
        f.switchover.push(fig, note);
        f.rejoin.figures.push(rejoin);
    }
    println!("the sync standby's node dies:");
    for _ in 0..hangs {
        let (fig, note) = sync_standby_loss(&lab, "crash", next_id());
        f.hang_crash.push(fig, note);
    }
    println!("the sync standby's link is cut:");
    for _ in 0..cuts {
        let (fig, note) = sync_standby_loss(&lab, "partition", next_id());
        f.hang_cut.push(fig, note);
    }
    drop(lab);

    if crashes > 0 {
        println!(
            "\n===== {} (the primary's node crashes, fencing) =====",
            agent.name()
        );
        let mut env = vec![("LAB_AGENT", agent.name()), ("LAB_REP_MODE", "sync")];
        if agent == Agent::Ours {
            env.push(("LAB_AUTO_REWIND", "1"));
        }
        let lab = Lab::up_with(
            &format!("bench-{}-crash", agent.name()),
            &format!("c{}", &agent.name()[..1]),
            &env,
        );
        wait_ready(&lab, Duration::from_secs(180)).expect("the full picture after up");
        for _ in 0..crashes {
            let (write, rejoin, fenced, note) = node_crash(&lab, next_id());
            f.crash_write.push(write, note);
            f.crash_rejoin.figures.push(rejoin);
            f.crash_fenced.figures.push(Some(fenced as f64));
        }
    }
    if asyncs == 0 {
        return;
    }

    println!("\n===== {} (rep_mode=async) =====", agent.name());
    let lab = Lab::up_with(
        &format!("bench-{}-async", agent.name()),
        &format!("a{}", &agent.name()[..1]),
        &[("LAB_AGENT", agent.name()), ("LAB_REP_MODE", "async")],
    );
    wait_ready(&lab, Duration::from_secs(180)).expect("the full async picture after up");
    println!("the primary's node dies:");
    for _ in 0..asyncs {
        let (promoted, write, note) = async_primary_gone(&lab, next_id(), Duration::from_secs(120));
        let never = promoted.is_none();
        f.async_promoted.push(promoted, note);
        f.async_write.figures.push(write);
        if never {
            println!("  (no further runs: no standby was promoted)");
            break;
        }
    }
}

fn ratio(ours: Option<f64>, theirs: Option<f64>) -> String {
    match (ours, theirs) {
        (Some(o), Some(t)) if t > 0.0 => format!("{:.2}", o / t),
        (Some(_), None) => "they never do".into(),
        _ => "–".into(),
    }
}

fn report(all: &[(Agent, Figures)]) {
    let runs = env_usize("BENCH_RUNS", 20);
    println!("\n## Results\n");
    println!("One monitor inside the node, the environment of a real recurring monitor, median of {runs}:\n");
    println!("| agent | role | wall ms | CPU ms (user+sys, children included) | processes |");
    println!("|---|---|---|---|---|");
    for (a, f) in all {
        for (role, c) in [
            ("primary", &f.monitor_primary),
            ("sync standby", &f.monitor_standby),
        ] {
            if let Some(c) = c {
                println!(
                    "| {} | {role} | {:.1} | {:.1} | {} |",
                    a.name(),
                    c.wall_ms(),
                    c.cpu_ms(),
                    c.processes
                );
            }
        }
    }
    println!("\nSeconds, median (min–max, n = runs); `never` = not within the wait:\n");
    println!("| agent | up | failover: kill -9 → first write on a new primary | switchover: ban → first write on the new primary | old primary back after the ban | commit hang, sync standby's node dies | commit hang, its link cut | async: primary's node dies → standby promoted | async: → first write |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for (a, f) in all {
        println!(
            "| {} | {:.1} | {} | {} | {} | {} | {} | {} | {} |",
            a.name(),
            f.up,
            f.failover.summary(),
            f.switchover.summary(),
            f.rejoin.summary(),
            f.hang_crash.summary(),
            f.hang_cut.summary(),
            f.async_promoted.summary(),
            f.async_write.summary()
        );
    }
    let ours = all.iter().find(|(a, _)| *a == Agent::Ours).map(|x| &x.1);
    if let Some(o) = ours {
        println!("\nOurs / theirs (medians; below 1 is better for ours):\n");
        println!("| vs | monitor wall primary | monitor CPU primary | monitor wall standby | monitor CPU standby | failover | switchover | hang, node dies | hang, link cut | async promotion |");
        println!("|---|---|---|---|---|---|---|---|---|---|");
        for (a, t) in all.iter().filter(|(a, _)| *a != Agent::Ours) {
            let c = |x: &Option<Cost>, wall: bool| {
                x.as_ref()
                    .map(|c| if wall { c.wall_ms() } else { c.cpu_ms() })
            };
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                a.name(),
                ratio(c(&o.monitor_primary, true), c(&t.monitor_primary, true)),
                ratio(c(&o.monitor_primary, false), c(&t.monitor_primary, false)),
                ratio(c(&o.monitor_standby, true), c(&t.monitor_standby, true)),
                ratio(c(&o.monitor_standby, false), c(&t.monitor_standby, false)),
                ratio(o.failover.median(), t.failover.median()),
                ratio(o.switchover.median(), t.switchover.median()),
                ratio(o.hang_crash.median(), t.hang_crash.median()),
                ratio(o.hang_cut.median(), t.hang_cut.median()),
                ratio(o.async_promoted.median(), t.async_promoted.median()),
            );
        }
    }
    println!("\nWith fencing, the primary's node crashes (ours with auto_rewind=true); seconds, median (min–max, n = runs):\n");
    println!("| agent | → first write on a new primary | old node rebooted → streaming again | fencing actions per crash |");
    println!("|---|---|---|---|");
    for (a, f) in all {
        println!(
            "| {} | {} | {} | {} |",
            a.name(),
            f.crash_write.summary(),
            f.crash_rejoin.summary(),
            f.crash_fenced.summary().replace(".0", "")
        );
    }
    println!("\nEvery run:\n");
    for (a, f) in all {
        print_notes(
            a.name(),
            &[
                ("failover", &f.failover),
                ("switchover", &f.switchover),
                ("sync standby dies", &f.hang_crash),
                ("sync standby cut", &f.hang_cut),
                ("async primary dies", &f.async_promoted),
                ("primary's node crashes", &f.crash_write),
            ],
        );
    }
}

/// `- WHO / WHAT: note`, one line per run.
fn print_notes(who: &str, runs: &[(&str, &Runs)]) {
    for (what, r) in runs {
        for n in &r.notes {
            println!("- {who} / {what}: {n}");
        }
    }
}

#[test]
#[ignore = "a benchmark: run bench/cluster.sh"]
fn bench_lab() {
    let _one_lab_at_a_time = crate::support::lab_guard();
    let agents: Vec<Agent> = std::env::var("BENCH_AGENTS")
        .unwrap_or_else(|_| "ours,stock,paf".into())
        .split(',')
        .map(|a| {
            Agent::parse(a.trim())
                .unwrap_or_else(|| panic!("BENCH_AGENTS: unknown agent {a:?} (ours, stock, paf)"))
        })
        .collect();
    let started = Instant::now();
    let mut all = Vec::new();
    for a in agents {
        let mut f = Figures::default();
        bench_agent(a, &mut f);
        all.push((a, f));
    }
    report(&all);
    println!(
        "\nbench_lab: {:.0} min in all",
        started.elapsed().as_secs_f64() / 60.0
    );
}

// --- quorum commit against one sync standby --------------------------------

/// A lab configuration of the quorum benchmark: the agent, `rep_mode`
/// and the number of nodes (`quorum_standbys` is the lab's default: half
/// the standbys, 1 on three nodes, 2 on five).
struct Config {
    agent: Agent,
    mode: &'static str,
    nodes: usize,
}

impl Config {
    fn name(&self) -> String {
        format!("{} {} on {}", self.agent.name(), self.mode, self.nodes)
    }
}

#[derive(Default)]
struct QuorumFigures {
    /// Commit latency at a steady load, ms: mean, median, 99th percentile.
    latency: Option<(f64, f64, f64)>,
    hang_crash: Runs,
    hang_cut: Runs,
    failover: Runs,
    crash_write: Runs,
}

/// Commit latency at a steady load (the load generator, 20 s, nothing
/// failing): mean, median and 99th percentile of the acknowledged commits,
/// in ms.
fn commit_latency(lab: &Lab, first_id: i64) -> (f64, f64, f64) {
    let (_, load) = begin(lab, "latency", first_id);
    let t0 = now_ms();
    std::thread::sleep(Duration::from_secs(20));
    let mut ms: Vec<f64> = load
        .stop()
        .iter()
        .filter(|a| a.ok && !a.impatient && a.start >= t0)
        .map(|a| (a.end - a.start) as f64)
        .collect();
    assert!(!ms.is_empty(), "latency: no acknowledged commit in 20 s");
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mean = ms.iter().sum::<f64>() / ms.len() as f64;
    let p99 = ms[(ms.len() * 99 / 100).min(ms.len() - 1)];
    println!(
        "  {} commits: mean {mean:.1} ms, median {:.0} ms, p99 {p99:.0} ms",
        ms.len(),
        ms[ms.len() / 2]
    );
    (mean, ms[ms.len() / 2], p99)
}

fn bench_config(c: &Config, f: &mut QuorumFigures) {
    let hangs = env_usize("BENCH_HANGS", 3);
    let cuts = env_usize("BENCH_CUTS", 1);
    let failovers = env_usize("BENCH_FAILOVERS", 3);
    let crashes = env_usize("BENCH_CRASHES", 3);
    let mut id = 1_000_000i64;
    let mut next_id = || {
        id += 1_000_000;
        id
    };
    println!("\n===== {} =====", c.name());
    let nodes = c.nodes.to_string();
    let mut env = vec![
        ("LAB_AGENT", c.agent.name()),
        ("LAB_REP_MODE", c.mode),
        ("LAB_NODES", nodes.as_str()),
    ];
    if c.agent == Agent::Ours {
        env.push(("LAB_AUTO_REWIND", "1"));
    }
    let lab = Lab::up_with(
        &format!("benchq-{}-{}-{}", c.agent.name(), c.mode, c.nodes),
        "bq",
        &env,
    );
    wait_ready(&lab, Duration::from_secs(240)).expect("the full picture after up");
    f.latency = Some(commit_latency(&lab, next_id()));
    println!("a standby's node dies:");
    for _ in 0..hangs {
        let (fig, note) = sync_standby_loss(&lab, "crash", next_id());
        f.hang_crash.push(fig, note);
    }
    println!("a standby's link is cut:");
    for _ in 0..cuts {
        let (fig, note) = sync_standby_loss(&lab, "partition", next_id());
        f.hang_cut.push(fig, note);
    }
    if c.agent != Agent::Ours {
        // Their failovers are in bench_lab's table.
        return;
    }
    println!("failover (kill -9 of the primary's postmaster):");
    for _ in 0..failovers {
        let (fig, note) = failover(&lab, next_id(), Duration::from_secs(90));
        f.failover.push(fig, note);
    }
    println!("the primary's node crashes:");
    for _ in 0..crashes {
        let (write, _, _, note) = node_crash(&lab, next_id());
        f.crash_write.push(write, note);
    }
}

fn report_quorum(all: &[(Config, QuorumFigures)]) {
    println!("\n## Results\n");
    println!("Commit latency in ms at a steady load (mean / median / p99); the other columns in seconds, median (min–max, n = runs); `never` = not within the wait:\n");
    println!("| configuration | commit latency | commit hang: a standby's node dies | commit hang: its link cut | failover: kill -9 → first write | the primary's node crashes → first write |");
    println!("|---|---|---|---|---|---|");
    for (c, f) in all {
        let latency = f.latency.map_or("–".to_string(), |(mean, median, p99)| {
            format!("{mean:.1} / {median:.0} / {p99:.0}")
        });
        println!(
            "| {} | {latency} | {} | {} | {} | {} |",
            c.name(),
            f.hang_crash.summary(),
            f.hang_cut.summary(),
            f.failover.summary(),
            f.crash_write.summary()
        );
    }
    println!("\nEvery run:\n");
    for (c, f) in all {
        print_notes(
            &c.name(),
            &[
                ("a standby dies", &f.hang_crash),
                ("a standby cut", &f.hang_cut),
                ("failover", &f.failover),
                ("the primary's node crashes", &f.crash_write),
            ],
        );
    }
}

/// Quorum commit against one sync standby (bench/quorum.sh): commit
/// latency, the commit hang when a standby's node dies or its link is cut,
/// and failovers, for `BENCH_CONFIGS` (agent:mode:nodes, comma-separated).
#[test]
#[ignore = "a benchmark: run bench/quorum.sh"]
fn bench_quorum() {
    let _one_lab_at_a_time = crate::support::lab_guard();
    let configs: Vec<Config> = std::env::var("BENCH_CONFIGS")
        .unwrap_or_else(|_| {
            "ours:sync:3,ours:quorum:3,ours:quorum:5,stock:sync:3,paf:sync:3".into()
        })
        .split(',')
        .map(|word| {
            let parts: Vec<&str> = word.trim().split(':').collect();
            let agent = parts
                .first()
                .and_then(|a| Agent::parse(a))
                .unwrap_or_else(|| panic!("BENCH_CONFIGS: {word:?} is not agent:mode:nodes"));
            let mode = match parts.get(1).copied() {
                Some("sync") => "sync",
                Some("quorum") => "quorum",
                _ => panic!("BENCH_CONFIGS: {word:?}: the mode is sync or quorum"),
            };
            let nodes = parts.get(2).and_then(|n| n.parse().ok()).unwrap_or(3);
            Config { agent, mode, nodes }
        })
        .collect();
    let started = Instant::now();
    let mut all = Vec::new();
    for c in configs {
        let mut f = QuorumFigures::default();
        bench_config(&c, &mut f);
        all.push((c, f));
    }
    report_quorum(&all);
    println!(
        "\nbench_quorum: {:.0} min in all",
        started.elapsed().as_secs_f64() / 60.0
    );
}

// --- switchover through PgBouncer ----------------------------------------------

const CTL: &str = env!("CARGO_BIN_EXE_rustpgctl");

/// The longest time, from `t0` (ms) to the last attempt's end, during
/// which no client had a commit acknowledged: the pause clients saw.
fn longest_pause(attempts: &[Attempt], t0: u64) -> f64 {
    let mut acked: Vec<u64> = attempts
        .iter()
        .filter(|a| a.ok && a.end >= t0)
        .map(|a| a.end)
        .collect();
    acked.sort_unstable();
    let end = attempts.iter().map(|a| a.end).max().unwrap_or(t0);
    let mut last = t0;
    let mut longest = 0;
    for at in acked.into_iter().chain([end]) {
        longest = longest.max(at.saturating_sub(last));
        last = at;
    }
    longest as f64 / 1000.0
}

/// `rustpgctl switchover`, with `--pgbouncer` or without, while the load
/// writes through PgBouncerVIP: failed client transactions, the longest
/// pause, the first write on the new primary, acknowledged commits lost.
fn switchover_through_bouncer(lab: &Lab, pause: bool, first_id: i64, f: &mut BouncerFigures) {
    wait_ready(lab, Duration::from_secs(180))
        .unwrap_or_else(|why| panic!("no full picture to start from: {why}"));
    create_faults_table(lab);
    let old = primary(lab, None).unwrap();
    let target = sync_standby(lab);
    let tag = if pause {
        "pgbouncer-paused"
    } else {
        "pgbouncer-plain"
    };
    let load = Load::start(lab, Via::PgBouncer, tag, first_id, 600);
    std::thread::sleep(Duration::from_secs(2));
    let t0 = now_ms();
    let mut args = vec!["exec", &target, CTL, "switchover"];
    if pause {
        args.push("--pgbouncer");
    }
    let out = lab.run(&args);
    let back = load.first_write_after(t0, Some(&old), Duration::from_secs(60));
    // A few seconds more of writes, so that errors after the move count.
    std::thread::sleep(Duration::from_secs(3));
    let attempts = load.stop();
    assert!(out.status.success(), "{args:?}:\n{}", text(&out));
    let failed = attempts.iter().filter(|a| !a.ok && a.end >= t0).count();
    let pause_s = longest_pause(&attempts, t0);
    let lost = lost_on(lab, &target, &attempts, first_id);
    let runs = if pause { &mut f.paused } else { &mut f.plain };
    runs.failed.push(
        Some(failed as f64),
        format!("{tag} {old} -> {target}: {failed} failed transactions"),
    );
    runs.pause
        .push(Some(pause_s), format!("{tag}: longest pause {pause_s:.1}s"));
    runs.first_write.push(
        back.as_ref().map(|b| b.0),
        format!(
            "{tag}: first write on {target} after {}; {lost} acknowledged lost",
            back.map_or("never".into(), |b| format!("{:.1}s", b.0))
        ),
    );
    runs.lost += lost;
}

#[derive(Default)]
struct BouncerRuns {
    failed: Runs,
    pause: Runs,
    first_write: Runs,
    lost: usize,
}

#[derive(Default)]
struct BouncerFigures {
    plain: BouncerRuns,
    paused: BouncerRuns,
}

/// `rustpgctl switchover --pgbouncer` against a plain `rustpgctl
/// switchover`, alternately, BENCH_SWITCHOVERS times each (default 5),
/// with four clients writing through PgBouncerVIP. Run by
/// bench/pgbouncer.sh; the figures go to BENCHMARKS.md.
#[test]
#[ignore = "a benchmark: run bench/pgbouncer.sh"]
fn bench_pgbouncer() {
    let _one_lab_at_a_time = crate::support::lab_guard();
    let n = env_usize("BENCH_SWITCHOVERS", 5);
    let lab = Lab::up_with("bench-pgbouncer", "bb", &[]);
    let mut f = BouncerFigures::default();
    let mut id = 1_000_000i64;
    for _ in 0..n {
        for pause in [false, true] {
            id += 1_000_000;
            switchover_through_bouncer(&lab, pause, id, &mut f);
        }
    }
    println!("\n| rustpgctl switchover, 4 clients through PgBouncerVIP | plain | --pgbouncer |");
    println!("|---|---|---|");
    let count = |r: &Runs| {
        let v: Vec<f64> = r.figures.iter().flatten().copied().collect();
        format!(
            "{} in all (max {} in a run), n={}",
            v.iter().sum::<f64>(),
            v.iter().copied().fold(0.0, f64::max),
            v.len()
        )
    };
    println!(
        "| failed client transactions | {} | {} |",
        count(&f.plain.failed),
        count(&f.paused.failed)
    );
    println!(
        "| longest client-visible pause | {} | {} |",
        f.plain.pause.summary(),
        f.paused.pause.summary()
    );
    println!(
        "| first write on the new primary | {} | {} |",
        f.plain.first_write.summary(),
        f.paused.first_write.summary()
    );
    println!(
        "| acknowledged commits lost | {} | {} |",
        f.plain.lost, f.paused.lost
    );
}

// --- a failover and a switchover, step by step -----------------------------

/// Where the agents write their traces (`crm resource trace`): the nodes'
/// own Pacemaker log directory, never the host's /var/lib/heartbeat.
const TRACE_DIR: &str = "/var/log/pacemaker/trace_ra";

/// The operations traced: every one on a failover's and a switchover's
/// path (not the recurring monitors: a file a second).
const TRACED: [&str; 5] = ["start", "stop", "promote", "demote", "notify"];

/// One line of a breakdown: when (ms since the epoch), on which node, what.
struct Event {
    at: u64,
    node: String,
    what: String,
}

/// The offset of local time from UTC, in ms: logs stamp the local time of
/// day.
fn local_offset_ms() -> i64 {
    // SAFETY: localtime_r writes only into the tm we own.
    unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&now, &mut tm);
        tm.tm_gmtoff * 1000
    }
}

/// `HH:MM:SS.mmm` of the day that holds `near` (ms since the epoch) as ms
/// since the epoch.
fn time_of_day(hms: &str, near: u64) -> Option<u64> {
    let mut parts = hms.split([':', '.']);
    let mut next = || parts.next()?.parse::<u64>().ok();
    let (h, m, sec, ms) = (next()?, next()?, next()?, next()?);
    let of_day = ((h * 60 + m) * 60 + sec) * 1000 + ms;
    let local_near = (near as i64 + local_offset_ms()) as u64;
    let midnight = local_near - local_near % 86_400_000;
    Some(((midnight + of_day) as i64 - local_offset_ms()) as u64)
}

/// The controller's lines about the agent's resources in `node`'s
/// Pacemaker log: each action initiated, its result, and each transition
/// aborted (the DC logs them).
fn pacemaker_events(lab: &Lab, node: &str, near: u64) -> Vec<Event> {
    let log = lab.exec(
        node,
        &[
            "grep",
            "-a",
            "-E",
            "pacemaker-controld.*(Initiating|Result of|aborted by|Calculated transition)",
            "/var/log/pacemaker/pacemaker.log",
        ],
    );
    log.lines()
        .filter_map(|l| {
            // "Dec 07 16:31:35.784 pg01 pacemaker-controld  [60] (fn) \tnotice: text"
            let mut words = l.split_whitespace();
            let at = time_of_day(words.nth(2)?, near)?;
            let text = l
                .split_once("notice: ")
                .or_else(|| l.split_once("info: "))?
                .1;
            let text = text.split(" | ").next().unwrap_or(text);
            Some(Event {
                at,
                node: format!("{node} (Pacemaker)"),
                what: text.to_string(),
            })
        })
        .collect()
}

/// Every line of the agent's traces on `node`, each with the action it
/// belongs to.
fn agent_events(lab: &Lab, node: &str, near: u64) -> Vec<Event> {
    let text = lab.exec(
        node,
        &[
            "sh",
            "-c",
            &format!("cat {TRACE_DIR}/*/* 2>/dev/null || true"),
        ],
    );
    let mut action = String::new();
    let mut events = Vec::new();
    for l in text.lines() {
        // "16:31:47.104 +312 ms text"
        let Some((hms, rest)) = l.split_once(' ') else {
            continue;
        };
        let Some(at) = time_of_day(hms, near) else {
            continue;
        };
        let what = rest.split_once(" ms ").map_or(rest, |(_, w)| w);
        if let Some(header) = what.strip_prefix("=== ") {
            if !header.starts_with("exit") {
                action = header.split(" on ").next().unwrap_or(header).to_string();
            }
        }
        events.push(Event {
            at,
            node: node.to_string(),
            what: format!("[{action}] {what}"),
        });
    }
    events
}

/// Empty the traces, so that the next breakdown reads only its own.
fn clear_traces(lab: &Lab) {
    for n in lab.nodes() {
        lab.exec(n, &["sh", "-c", &format!("rm -f {TRACE_DIR}/*/*")]);
    }
}

/// Print what happened between `t0` and `end` (ms since the epoch): the
/// controller's actions and every traced step, in order, in ms after t0.
/// Prints the table; returns how many times Pacemaker aborted a
/// transition in it.
fn print_breakdown(lab: &Lab, title: &str, t0: u64, end: u64) -> usize {
    let mut events = Vec::new();
    for n in lab.nodes() {
        events.extend(pacemaker_events(lab, n, t0));
        events.extend(agent_events(lab, n, t0));
    }
    events.retain(|e| e.at + 50 >= t0 && e.at <= end + 200);
    events.push(Event {
        at: end,
        node: "client".into(),
        what: "the first write a new primary acknowledged".into(),
    });
    events.sort_by_key(|e| e.at);
    // The DC's lines appear once per node that logs them: keep the first.
    let mut seen = std::collections::HashSet::new();
    events.retain(|e| !e.node.ends_with("(Pacemaker)") || seen.insert(e.what.clone()));
    println!("\n{title} (ms after it began)\n");
    println!("| ms | node | what |");
    println!("|---|---|---|");
    for e in &events {
        println!("| {} | {} | {} |", e.at as i64 - t0 as i64, e.node, e.what);
    }
    events.iter().filter(|e| e.what.contains("aborted")).count()
}

#[test]
#[ignore = "a benchmark: run bench/breakdown.sh"]
fn bench_breakdown() {
    let _one_lab_at_a_time = crate::support::lab_guard();
    let lab = Lab::up_with("breakdown", "bd", &[]);
    wait_ready(&lab, Duration::from_secs(180)).expect("the full picture after up");
    for op in TRACED {
        crm(
            &lab,
            &["crm", "resource", "trace", "Postgresql", op, "0", TRACE_DIR],
        );
    }
    let mut id = 1_000_000i64;
    // Per kind: (seconds to the first write, transitions aborted) per run.
    let mut figures: [(&str, Vec<(f64, usize)>); 2] =
        [("failover", Vec::new()), ("switchover", Vec::new())];
    for run in 0..env_usize("BENCH_FAILOVERS", 1) {
        id += 1_000_000;
        clear_traces(&lab);
        let (t0, fig, note) = failover_at(&lab, id, Duration::from_secs(90));
        println!("failover {}: {note}", run + 1);
        if let Some(s) = fig {
            let end = t0 + (s * 1000.0) as u64;
            let aborts = print_breakdown(&lab, "kill -9 of the primary's postmaster", t0, end);
            figures[0].1.push((s, aborts));
        }
        id += 1_000_000;
        clear_traces(&lab);
        let how = match std::env::var("BENCH_SWITCHOVER").as_deref() {
            Ok("rustpgctl") => Move::Ctl,
            _ => Move::Ban,
        };
        let (t0, fig, _, note) = switchover_at(&lab, id, how);
        println!("switchover {}: {note}", run + 1);
        if let Some(s) = fig {
            let end = t0 + (s * 1000.0) as u64;
            let aborts = print_breakdown(&lab, how.title(), t0, end);
            figures[1].1.push((s, aborts));
        }
    }
    println!("\n| to the first write | runs (s, transitions aborted) | median s |");
    println!("|---|---|---|");
    for (kind, runs) in &figures {
        let listed: Vec<String> = runs.iter().map(|(s, a)| format!("{s:.2} ({a})")).collect();
        let secs: Vec<f64> = runs.iter().map(|(s, _)| *s).collect();
        let mid = median(&secs).map_or("-".into(), |m| format!("{m:.2}"));
        println!("| {kind} | {} | {mid} |", listed.join(", "));
    }
}
