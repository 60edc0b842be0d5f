//! Benchmarks, not tests: ignored by `cargo test`, run by `bench/monitor.sh`
//! (release build). The cost of one monitor of the stock agent and of ours,
//! on the same three real PostgreSQL 15 servers with the Pacemaker tools on
//! a CIB file: wall time, CPU time of the agent and every process it ran,
//! and how many processes it started. Medians of `BENCH_RUNS` (default 20).

use crate::cluster::{AgentKind, Cluster};
use crate::replication::{bring_up, sync_and_potential};
use crate::support::Major;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn children_cpu() -> Duration {
    // SAFETY: getrusage only writes into the struct we pass.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut u);
        u
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// What one command costs: medians of wall and CPU time (user + sys of it
/// and every process it waited for), and the processes it started.
pub struct Cost {
    pub wall: Duration,
    pub cpu: Duration,
    pub processes: usize,
}

impl Cost {
    /// `make(wrapper)` builds the command afresh, run under `wrapper` (a
    /// program and its arguments, or nothing). `ok` judges its exit code.
    pub fn measure(
        make: impl Fn(&[&str]) -> Command,
        ok: impl Fn(Option<i32>) -> bool,
        runs: usize,
        trace: &Path,
    ) -> Cost {
        let mut walls = Vec::new();
        let mut cpus = Vec::new();
        for _ in 0..runs {
            std::thread::sleep(Duration::from_millis(100));
            let cpu = children_cpu();
            let start = Instant::now();
            let status = make(&[]).status().unwrap();
            walls.push(start.elapsed());
            cpus.push(children_cpu() - cpu);
            assert!(ok(status.code()), "{:?}: {status}", make(&[]));
        }
        Cost {
            wall: median(walls),
            cpu: median(cpus),
            processes: processes(&make, trace),
        }
    }

    pub fn wall_ms(&self) -> f64 {
        self.wall.as_secs_f64() * 1000.0
    }

    pub fn cpu_ms(&self) -> f64 {
        self.cpu.as_secs_f64() * 1000.0
    }
}

/// Processes the command started (forks and clones that are not threads).
fn processes(make: &impl Fn(&[&str]) -> Command, trace: &Path) -> usize {
    let trace_s = trace.to_str().unwrap();
    let wrapper = [
        "strace",
        "-f",
        "-qq",
        "-e",
        "trace=clone,clone3,fork,vfork",
        "-o",
        trace_s,
    ];
    make(&wrapper).status().unwrap();
    let text = std::fs::read_to_string(trace).unwrap();
    text.lines()
        .filter(|l| {
            (l.contains("fork(") || l.contains("clone"))
                && !l.contains("CLONE_THREAD")
                && !l.contains("= -1")
        })
        .count()
}

/// `program ARGS...` under `wrapper`, with exactly `env`, in `/`, quiet.
pub fn command_with(
    wrapper: &[&str],
    program: &str,
    args: &[&str],
    env: &BTreeMap<String, String>,
) -> Command {
    let mut cmd = match wrapper.split_first() {
        Some((first, rest)) => {
            let mut cmd = Command::new(first);
            cmd.args(rest).arg(program);
            cmd
        }
        None => Command::new(program),
    };
    cmd.args(args)
        .env_clear()
        .envs(env)
        .current_dir("/")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// A monitor exits 0 (running) or 8 (running promoted).
pub fn monitor_ok(code: Option<i32>) -> bool {
    matches!(code, Some(0 | 8))
}

fn measure(
    c: &Cluster,
    agent: AgentKind,
    role: &str,
    node: &str,
    env: &[(&str, &str)],
    runs: usize,
) -> String {
    let full = c.agent_env(agent, node, env);
    let make = |wrapper: &[&str]| command_with(wrapper, agent.program(), &["monitor"], &full);
    let cost = Cost::measure(make, monitor_ok, runs, &c.root().join("strace.out"));
    format!(
        "| {agent:?} | {role} | {:.1} | {:.1} | {} |",
        cost.wall_ms(),
        cost.cpu_ms(),
        cost.processes
    )
}

/// Run inside a lab node by `bench_lab` (`lab/cluster.sh exec NODE env
/// BENCH_IN_NODE_ENV=... <this binary> --ignored --exact
/// bench::monitor_in_node`): the cost of `BENCH_IN_NODE_PROGRAM monitor`
/// with exactly the environment in BENCH_IN_NODE_ENV (NUL-separated
/// KEY=VALUE, as /proc/PID/environ), printed as one line `BENCH_COST wall_ms
/// cpu_ms processes`. Does nothing when BENCH_IN_NODE_ENV is not set.
#[test]
#[ignore = "run inside a lab node by bench_lab"]
fn monitor_in_node() {
    let Ok(env_file) = std::env::var("BENCH_IN_NODE_ENV") else {
        return;
    };
    let program = std::env::var("BENCH_IN_NODE_PROGRAM").unwrap();
    let runs: usize = std::env::var("BENCH_RUNS").unwrap().parse().unwrap();
    let raw = std::fs::read(&env_file).unwrap();
    let env: BTreeMap<String, String> = raw
        .split(|b| *b == 0)
        .filter_map(|kv| {
            let kv = String::from_utf8_lossy(kv);
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    let make = |wrapper: &[&str]| command_with(wrapper, &program, &["monitor"], &env);
    let trace = PathBuf::from(format!("{env_file}.strace"));
    let cost = Cost::measure(make, monitor_ok, runs, &trace);
    println!(
        "BENCH_COST {:.1} {:.1} {}",
        cost.wall_ms(),
        cost.cpu_ms(),
        cost.processes
    );
}

#[test]
#[ignore = "a benchmark: run bench/monitor.sh"]
fn bench_monitor_cost() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20);
    let primary_env = [
        ("OCF_RESKEY_CRM_meta_interval", "3000"),
        ("OCF_RESKEY_CRM_meta_role", "Promoted"),
    ];
    let standby_env = [("OCF_RESKEY_CRM_meta_interval", "4000")];
    let mut rows = Vec::new();
    for agent in [AgentKind::Stock, AgentKind::Ours] {
        let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
        let primary = bring_up(&c, agent);
        let (sync, _) = sync_and_potential(&c, &primary);
        rows.push(measure(&c, agent, "primary", &primary, &primary_env, runs));
        rows.push(measure(
            &c,
            agent,
            "sync standby",
            &sync,
            &standby_env,
            runs,
        ));
    }
    println!("\nOne monitor, median of {runs} (PostgreSQL 15, 3 nodes, crm tools on a CIB file):");
    println!("| agent | role | wall ms | CPU ms (user+sys, children included) | processes |");
    println!("|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
}
