//! Benchmarks, not tests: ignored by `cargo test`, run by `bench/monitor.sh`
//! (release build). The cost of one monitor of the stock agent and of ours,
//! on the same three real PostgreSQL 15 servers with the Pacemaker tools on
//! a CIB file: wall time, CPU time of the agent and every process it ran,
//! and how many processes it started. Medians of `BENCH_RUNS` (default 20).

use crate::cluster::{AgentKind, Cluster};
use crate::replication::{bring_up, sync_and_potential};
use crate::support::Major;
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

fn command(
    c: &Cluster,
    agent: AgentKind,
    node: &str,
    env: &[(&str, &str)],
    wrapper: &[&str],
) -> Command {
    let full = c.agent_env(agent, node, env);
    let mut cmd = match wrapper.split_first() {
        Some((first, rest)) => {
            let mut cmd = Command::new(first);
            cmd.args(rest).arg(agent.program());
            cmd
        }
        None => Command::new(agent.program()),
    };
    cmd.arg("monitor")
        .env_clear()
        .envs(&full)
        .current_dir("/")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// (wall, cpu) of one monitor.
fn once(c: &Cluster, agent: AgentKind, node: &str, env: &[(&str, &str)]) -> (Duration, Duration) {
    let cpu = children_cpu();
    let start = Instant::now();
    let status = command(c, agent, node, env, &[]).status().unwrap();
    let wall = start.elapsed();
    assert!(
        matches!(status.code(), Some(0 | 8)),
        "{agent:?} monitor on {node}: {status}"
    );
    (wall, children_cpu() - cpu)
}

/// Processes the monitor started (forks and clones that are not threads).
fn processes(c: &Cluster, agent: AgentKind, node: &str, env: &[(&str, &str)]) -> usize {
    let trace = c.root().join("strace.out");
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
    command(c, agent, node, env, &wrapper).status().unwrap();
    let text = std::fs::read_to_string(&trace).unwrap();
    text.lines()
        .filter(|l| {
            (l.contains("fork(") || l.contains("clone"))
                && !l.contains("CLONE_THREAD")
                && !l.contains("= -1")
        })
        .count()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn measure(
    c: &Cluster,
    agent: AgentKind,
    role: &str,
    node: &str,
    env: &[(&str, &str)],
    runs: usize,
) -> String {
    let samples: Vec<(Duration, Duration)> = (0..runs)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            once(c, agent, node, env)
        })
        .collect();
    let wall = median(samples.iter().map(|s| s.0).collect());
    let cpu = median(samples.iter().map(|s| s.1).collect());
    let procs = processes(c, agent, node, env);
    format!(
        "| {agent:?} | {role} | {:.1} | {:.1} | {procs} |",
        wall.as_secs_f64() * 1000.0,
        cpu.as_secs_f64() * 1000.0
    )
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
