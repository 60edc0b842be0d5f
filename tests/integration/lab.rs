//! The lab driver: `lab/cluster.sh` (three nodes of real Corosync and
//! Pacemaker in private namespaces, or more with `LAB_NODES`) and what
//! crm_mon shows of it. The healthy picture every lab test waits for is
//! tools/labview's, which the lab script uses too. Shared by the lab tests.

use crate::support::install_agent;
pub use labview::{Agent, Mode, Picture, NODES, RSC};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The PostgreSQL VIP.
pub(crate) const VIP: &str = "10.213.0.200";
/// PgBouncerVIP, where the reference cluster's applications connect.
pub(crate) const BOUNCER_VIP: &str = "10.213.0.201";
/// The nodes' PostgreSQL binaries.
pub(crate) const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
const LAB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/lab/cluster.sh");

pub struct Lab {
    root: PathBuf,
    prefix: String,
    /// Extra environment for every `lab/cluster.sh` call (e.g. LAB_AGENT).
    env: Vec<(String, String)>,
    /// pg01, pg02, ... as the lab was made (`LAB_NODES`).
    nodes: Vec<String>,
    /// Its quorum_standbys (`LAB_QUORUM_STANDBYS`), fixed when it was made.
    quorum_standbys: usize,
}

/// One line of the lab's fence history: a fencing action that succeeded
/// (`reboot`, `off`) or a boot that followed.
#[derive(Debug, Clone)]
pub struct FenceEvent {
    pub at: u64,
    pub action: String,
    pub node: String,
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

impl Lab {
    /// A lab whose namespaces are named `<prefix><pid>-...` (labs of one
    /// test run need different prefixes), with extra environment for
    /// `lab/cluster.sh`.
    pub fn up_with(name: &str, prefix: &str, env: &[(&str, &str)]) -> Lab {
        install_agent();
        let id = std::process::id() % 100_000;
        let mut lab = Lab {
            root: PathBuf::from(format!("/var/tmp/rustpg-e2e-{name}-{id}")),
            prefix: format!("{prefix}{id}"),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            nodes: Vec::new(),
            quorum_standbys: 0,
        };
        let out = lab.run(&["up"]);
        assert!(out.status.success(), "lab up failed:\n{}", text(&out));
        // The number of nodes and quorum_standbys, as `lab/cluster.sh`
        // keeps them.
        let shape = lab.state_file("shape");
        let mut words = shape.split_whitespace().map(|w| w.parse().unwrap());
        lab.nodes = labview::node_names(words.next().unwrap());
        lab.quorum_standbys = words.next().unwrap();
        lab
    }

    fn state_file(&self, name: &str) -> String {
        let path = self.root.join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The lab's nodes: pg01, pg02, ...
    pub fn nodes(&self) -> Vec<&str> {
        self.nodes.iter().map(String::as_str).collect()
    }

    /// The picture this lab is healthy with: its agent, its nodes and its
    /// replication mode as `lab/cluster.sh` keeps them (`rep-mode`
    /// changes the mode of a lab that runs).
    pub fn expected(&self) -> labview::Expected {
        let agent = self.state_file("agent");
        let words: Vec<&str> = agent.split_whitespace().collect();
        let mode = match words[1] {
            "quorum" => Mode::Quorum(self.quorum_standbys),
            word => Mode::parse(word).unwrap(),
        };
        labview::Expected {
            nodes: self.nodes.clone(),
            agent: Agent::parse(words[0]).unwrap(),
            mode,
        }
    }

    /// Change the running lab's `rep_mode` (`sync`, `quorum`) as
    /// docs/operations.md tells an operator to (`lab/cluster.sh
    /// rep-mode`, which waits for the new healthy picture); nothing when
    /// the lab runs in that mode.
    pub fn set_rep_mode(&self, mode: &str) {
        if self.expected().mode.word().split(':').next() == Some(mode) {
            return;
        }
        let out = self.run(&["rep-mode", mode]);
        assert!(out.status.success(), "rep-mode {mode}:\n{}", text(&out));
        println!("\n{}", text(&out).trim_end());
    }

    /// The healthy picture of this lab ([`Lab::expected`]).
    pub fn healthy(&self, p: &Picture) -> bool {
        labview::is_healthy(p, &self.expected())
    }

    /// `lab/cluster.sh ARGS...` for this lab.
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(LAB);
        c.args(args)
            .env("LAB_ROOT", &self.root)
            .env("LAB_PREFIX", &self.prefix)
            .env("LAB_VIEW", labview_binary())
            .env("LAB_RUSTPGCTL", env!("CARGO_BIN_EXE_rustpgctl"))
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// The same with more environment for this call only (settings that
    /// `lab/cluster.sh` reads at each command, such as
    /// `LAB_SWITCHOVER_TIMEOUT`).
    pub fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.command(args)
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }

    /// `lab/cluster.sh ARGS...` in the background, its output captured.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.command(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// `lab/cluster.sh exec NODE CMD...`, insisting that it succeeds.
    pub fn exec(&self, node: &str, cmd: &[&str]) -> String {
        let mut args = vec!["exec", node];
        args.extend_from_slice(cmd);
        let out = self.run(&args);
        assert!(out.status.success(), "exec {node} {cmd:?}:\n{}", text(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// SQL through the VIP, as a client.
    pub fn sql(&self, sql: &str) -> Result<String, String> {
        let out = self.run(&["sql", sql]);
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(text(&out))
        }
    }

    /// SQL on one node, locally (to read a standby).
    pub fn sql_on(&self, node: &str, sql: &str) -> String {
        self.try_sql_on(node, sql)
            .unwrap_or_else(|e| panic!("{node}: {sql}: {e}"))
    }

    /// SQL on one node, locally; `Err` when the node or its server is down.
    pub fn try_sql_on(&self, node: &str, sql: &str) -> Result<String, String> {
        let psql = "/usr/lib/postgresql/15/bin/psql";
        let out = self.run(&[
            "exec",
            node,
            "runuser",
            "-u",
            "postgres",
            "--",
            psql,
            "-XAtq",
            "-h",
            "/run/postgresql",
            "-d",
            "lab",
            "-c",
            sql,
        ]);
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(text(&out))
        }
    }

    /// The lab's state directory (visible inside the nodes too).
    pub fn root(&self) -> &std::path::Path {
        &self.root
    }

    /// The lab's switch namespace, which is also its client host.
    pub fn switch_ns(&self) -> String {
        format!("{}-sw", self.prefix)
    }

    pub fn picture(&self) -> Option<Picture> {
        self.picture_from(&self.nodes())
    }

    /// crm_mon's picture as the first of `nodes` that answers with quorum
    /// sees it. A node without quorum has no authoritative picture: one
    /// just revived shows the CIB it had before it crashed until it joins.
    pub fn picture_from(&self, nodes: &[&str]) -> Option<Picture> {
        for &node in nodes {
            let out = self.run(&["exec", node, "crm_mon", "-1", "-A", "--output-as=xml"]);
            if !out.status.success() {
                continue;
            }
            let Ok(p) = Picture::parse(&String::from_utf8_lossy(&out.stdout)) else {
                continue;
            };
            if p.view.quorum {
                return Some(p);
            }
        }
        None
    }

    /// Wait until `ok` holds for crm_mon's picture; panics with the last one.
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        ok: impl Fn(&Picture) -> bool,
    ) -> Picture {
        let start = Instant::now();
        loop {
            if let Some(p) = self.picture() {
                if ok(&p) {
                    println!("{what}: after {:.1}s", start.elapsed().as_secs_f64());
                    return p;
                }
                if start.elapsed() > timeout {
                    let mon = self.run(&["crm_mon"]);
                    panic!("{what}: not within {timeout:?}\n{}", text(&mon));
                }
            } else if start.elapsed() > timeout {
                panic!("{what}: no node answers crm_mon");
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Retry a write through the VIP until it succeeds; the time it took.
    pub fn write_through_vip(&self, id: i32, timeout: Duration) -> Duration {
        let start = Instant::now();
        loop {
            match self.sql(&format!("insert into e2e values ({id}, now())")) {
                Ok(_) => return start.elapsed(),
                Err(e) if start.elapsed() > timeout => {
                    panic!("no write through the VIP within {timeout:?}: {e}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// The environment of a recurring monitor of `agent` (its path) that
    /// Pacemaker runs on `node`, read from /proc while it runs, into `file`
    /// (under the lab's root, NUL-separated as /proc/PID/environ).
    pub fn capture_monitor_env(&self, agent: &str, node: &str, file: &str) {
        let py = r#"
import os, sys, time
agent, out = sys.argv[1].encode(), sys.argv[2]
end = time.time() + 30
while time.time() < end:
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            argv = open("/proc/%s/cmdline" % pid, "rb").read().split(b"\0")
            if agent not in argv or b"monitor" not in argv:
                continue
            env = open("/proc/%s/environ" % pid, "rb").read()
        except OSError:
            continue
        if b"OCF_RESKEY_CRM_meta_interval=" in env and b"OCF_RESKEY_CRM_meta_interval=0\0" not in env:
            open(out, "wb").write(env)
            sys.exit(0)
    time.sleep(0.002)
sys.exit("no recurring monitor seen in 30 s")
"#;
        self.exec(node, &["python3", "-c", py, agent, file]);
    }

    /// Run `agent monitor` inside `node` with the environment in `file`
    /// (from `capture_monitor_env`) plus `extra`; its exit code.
    pub fn monitor_with(&self, agent: &str, node: &str, file: &str, extra: &[(&str, &str)]) -> i32 {
        let py = r#"
import os, sys
env = dict(kv.split("=", 1) for kv in open(sys.argv[2], "rb").read().decode().split("\0") if "=" in kv)
env.update(kv.split("=", 1) for kv in sys.argv[3:])
os.execve(sys.argv[1], [sys.argv[1], "monitor"], env)
"#;
        let extra: Vec<String> = extra.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut args = vec!["exec", node, "python3", "-c", py, agent, file];
        args.extend(extra.iter().map(String::as_str));
        self.run(&args).status.code().unwrap_or(-1)
    }

    /// The pid of the node's postmaster, from its postmaster.pid.
    pub fn postmaster_pid(&self, node: &str) -> String {
        self.exec(node, &["head", "-1", "/var/lib/pgsql/data/postmaster.pid"])
    }

    /// Whether the lab was made with fencing (`LAB_FENCING`, on by default).
    pub fn fencing(&self) -> bool {
        self.setting(0) == Some("1".into())
    }

    /// Whether the lab runs crm-examples' configuration as shipped, which
    /// heals itself (`auto_rewind=true`, `failure-timeout=10s`), rather
    /// than the stock-compatible one (`LAB_AUTO_REWIND=0`): there, a
    /// crashed primary stays out until an operator resynchronises it.
    pub fn self_healing(&self) -> bool {
        self.setting(1) == Some("1".into())
    }

    /// What the nodes' disks forgot at crashes (LAB_CRASHFS): the bytes
    /// dropped, summed over every crash so far.
    pub fn crashfs_dropped_bytes(&self) -> u64 {
        let log = std::fs::read_to_string(self.root.join("crashfs.log")).unwrap_or_default();
        log.lines()
            .filter(|l| l.contains(" crash "))
            .flat_map(|l| l.split_whitespace())
            .filter_map(|w| w.strip_prefix("dropped_bytes="))
            .filter_map(|n| n.parse::<u64>().ok())
            .sum()
    }

    /// Field `k` of the settings the lab was made with (`LAB_ROOT/settings`).
    fn setting(&self, k: usize) -> Option<String> {
        let text = std::fs::read_to_string(self.root.join("settings")).ok()?;
        text.split_whitespace().nth(k).map(str::to_string)
    }

    /// The fencing actions (reboot or off) the lab's fence daemon carried
    /// out since `since_ms`, and the boots that followed, from
    /// `LAB_ROOT/fence/history`.
    pub fn fence_events(&self, since_ms: u64) -> Vec<FenceEvent> {
        let text = std::fs::read_to_string(self.root.join("fence/history")).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                let at: u64 = w.next()?.parse().ok()?;
                let action = w.next()?.to_string();
                let node = w.next()?.trim_end_matches(':').to_string();
                // "reboot pg01: rc=0 ...", "boot pg01: up, ...", "boot pg01:
                // skipped, already up" (revived meanwhile) or "... failed".
                let word = w.next();
                let ok = if action == "boot" {
                    matches!(word, Some("up," | "skipped,"))
                } else {
                    word == Some("rc=0")
                };
                (at >= since_ms && ok && ["reboot", "off", "boot"].contains(&action.as_str()))
                    .then_some(FenceEvent { at, action, node })
            })
            .collect()
    }

    /// How many fencing actions (reboot or off) the lab carried out since
    /// `since_ms`.
    pub fn fencing_actions(&self, since_ms: u64) -> usize {
        self.fence_events(since_ms)
            .iter()
            .filter(|e| e.action != "boot")
            .count()
    }

    /// Wait until the node, fenced since `since_ms`, is up again (the
    /// fence daemon's reboot; LAB_FENCE_AUTOSTART=1 starts its cluster
    /// stack). Returns when it booted (ms) and how many times it was
    /// fenced.
    pub fn wait_fenced_and_back(
        &self,
        node: &str,
        since_ms: u64,
        timeout: Duration,
    ) -> (u64, usize) {
        let start = Instant::now();
        loop {
            let ev = self.fence_events(since_ms);
            let fenced = ev
                .iter()
                .filter(|e| e.node == node && e.action != "boot")
                .count();
            let booted = ev.iter().rfind(|e| e.node == node && e.action == "boot");
            if let (true, Some(b)) = (fenced > 0, booted) {
                if self.run(&["exec", node, "true"]).status.success() {
                    return (b.at, fenced);
                }
            }
            assert!(
                start.elapsed() < timeout,
                "{node} not fenced and back within {timeout:?}: {ev:?}\n{}",
                text(&self.run(&["crm_mon"]))
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The CIB's constraints, read on `node`.
    pub fn constraints(&self, node: &str) -> String {
        self.exec(node, &["cibadmin", "-Q", "-o", "constraints"])
    }

    /// The end of every node's server log and agent messages: what a
    /// failed test needs to be understood once its lab is gone.
    pub fn print_logs(&self) {
        for node in self.nodes() {
            for (what, cmd) in [
                ("server log", "tail -n 25 /var/log/postgresql/pgsql-ra.log"),
                (
                    "agent",
                    "grep -a 'pgsql(Postgresql)' /var/log/pacemaker/pacemaker.log | tail -n 25",
                ),
            ] {
                let out = self.run(&["exec", node, "sh", "-c", cmd]);
                eprintln!("--- {node}: {what} ---\n{}", text(&out));
            }
        }
    }

    pub fn lock_exists(&self, node: &str) -> bool {
        self.run(&["exec", node, "test", "-e", "/var/lib/pgsql/tmp/PGSQL.lock"])
            .status
            .success()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.print_logs();
        }
        // RUSTPG_KEEP_FAILED=1: a failed test's lab stays up for a look.
        if std::thread::panicking() && std::env::var_os("RUSTPG_KEEP_FAILED").is_some() {
            eprintln!(
                "lab kept: LAB_ROOT={} LAB_PREFIX={} lab/cluster.sh down",
                self.root.display(),
                self.prefix
            );
            return;
        }
        let out = self.run(&["down"]);
        if !out.status.success() {
            eprintln!("lab down failed:\n{}", text(&out));
        }
    }
}

/// The healthy picture of our agent ([`picture_is_healthy`]).
pub fn healthy(p: &Picture) -> bool {
    picture_is_healthy(p, Agent::Ours)
}

/// The healthy picture of the three-node lab under `agent`
/// (`labview::missing` says what it is).
pub fn picture_is_healthy(p: &Picture, agent: Agent) -> bool {
    labview::is_healthy(p, &labview::Expected::lab(agent))
}

/// A lab several tests share: made by the first test that asks for these
/// settings in this test process, and taken down when a test asks for
/// other settings, when a test that used it fails (the next one gets a
/// fresh lab: no test depends on another), or when the process exits. A
/// lab takes half a minute to build on two cores; the lab tests that run
/// on the same settings (the fault battery, the randomized schedules) run
/// one after the other (`support::lab_guard`, and `scripts/test.sh` runs
/// them in one process in name order).
pub struct SharedLab {
    pub lab: Arc<Lab>,
}

static SHARED: Mutex<Option<(String, Arc<Lab>)>> = Mutex::new(None);

impl SharedLab {
    pub fn get(name: &str, prefix: &str, env: &[(&str, &str)]) -> SharedLab {
        let key = format!("{name} {prefix} {env:?}");
        let mut slot = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((k, lab)) = slot.as_ref() {
            if *k == key {
                println!("lab: the shared lab {name} is reused");
                return SharedLab { lab: lab.clone() };
            }
        }
        // Another lab's settings: that one goes first.
        *slot = None;
        static AT_EXIT: std::sync::Once = std::sync::Once::new();
        AT_EXIT.call_once(|| {
            // SAFETY: registers a plain function with no arguments.
            unsafe { libc::atexit(take_down_shared_lab) };
        });
        let lab = Arc::new(Lab::up_with(name, prefix, env));
        *slot = Some((key, lab.clone()));
        SharedLab { lab }
    }

    /// crm-examples' configuration as shipped (it heals itself), configured
    /// live with cluster-pcs.sh (the same cluster as cluster.crm: the
    /// crm_examples tests), with the lab's fencing and disks that forget
    /// what was not synced when a node crashes (crashfs): the lab the end
    /// to end scenarios, the fault battery and the randomized schedules
    /// share, one after another (their names keep them together).
    pub fn as_shipped() -> SharedLab {
        let crashfs = crashfs_binary();
        SharedLab::get(
            "shipped",
            "sh",
            &[("LAB_CONFIG", "pcs"), ("LAB_CRASHFS", crashfs.as_str())],
        )
    }

    /// The stock-compatible configuration (no auto_rewind, no
    /// failure-timeout, as a cluster just migrated from the stock agent
    /// runs), without fencing, on PostgreSQL 11 (recovery.conf, `pg_ctl
    /// promote`): the lab the end to end scenarios on 11 and the fault
    /// battery without fencing share (their names keep them together).
    pub fn stock_compatible_on_11() -> SharedLab {
        SharedLab::get(
            "pg11",
            "el",
            &[
                ("LAB_PG_MAJOR", "11"),
                ("LAB_AUTO_REWIND", "0"),
                ("LAB_FENCING", "0"),
            ],
        )
    }

    /// Not shared any further: the lab goes down with its last reference
    /// (this one, unless the caller still holds a clone).
    pub fn release(self) {
        SHARED.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

impl Drop for SharedLab {
    fn drop(&mut self) {
        // A failed test's lab is not shared any further: the last reference
        // (this one) takes it down, or keeps it with RUSTPG_KEEP_FAILED
        // (`Lab`'s drop, which also prints its logs).
        if std::thread::panicking() {
            SHARED.lock().unwrap_or_else(|e| e.into_inner()).take();
        }
    }
}

extern "C" fn take_down_shared_lab() {
    if let Ok(mut slot) = SHARED.lock() {
        slot.take();
    }
}

/// tools/crashfs's binary, built beside the agent (`scripts/test.sh` builds
/// it: `cargo build -p crashfs`).
pub fn crashfs_binary() -> String {
    tool_binary("crashfs")
}

/// tools/labview's binary, which the lab script reads crm_mon with, built
/// beside the agent (`scripts/test.sh` builds it: `cargo build -p labview`).
fn labview_binary() -> String {
    tool_binary("labview")
}

/// A binary of the workspace's tools/, built beside the agent.
fn tool_binary(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_BIN_EXE_pgsql")).with_file_name(name);
    assert!(
        path.is_file(),
        "{} is missing: cargo build -p {name} (scripts/test.sh does)",
        path.display()
    );
    path.display().to_string()
}
