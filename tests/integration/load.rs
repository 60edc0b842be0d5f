//! The write load and its checks, shared by the lab tests that write
//! through the VIP (the fault battery, the randomized schedules, e2e, the
//! lab benchmarks): the load generator (`load_generator`, a client run in
//! the lab's client namespace: writers of one INSERT per transaction into
//! the `faults` table, each with a unique id, every attempt recorded) and
//! `Load`, which starts, reads and stops it; the zero-loss check
//! (`assert_no_loss`: every acknowledged id on the primary and on every
//! streaming standby); the sampler that counts two writable primaries
//! (`Sampler`); and `Run`, what every fault scenario shares: a healthy
//! start, the load, the sampler, and the checks at the end
//! (docs/faults.md).

use crate::lab::{text, Lab, Picture, BOUNCER_VIP, PG_BIN, VIP};
use crate::operator::{crm_mon_text, healthy_in_fact, streaming_nodes};
use rustpg::core::replication::Attr;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where the load's clients connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The PostgreSQL VIP, port 5432.
    Vip,
    /// PgBouncerVIP, port 6432 (transaction pooling).
    PgBouncer,
    /// HAProxy on the client host's loopback, in front of every node
    /// (`haproxy::HaProxy`).
    HaProxy,
}

impl Via {
    fn host_port(self) -> (&'static str, u16) {
        match self {
            Via::Vip => (VIP, 5432),
            Via::PgBouncer => (BOUNCER_VIP, 6432),
            Via::HaProxy => ("127.0.0.1", crate::haproxy::HAPROXY_PORT),
        }
    }
}
/// Concurrent writers of the load, so that new WAL keeps flowing while a
/// commit waits.
const LOAD_CLIENTS: usize = 4;

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

// --- the load generator ---------------------------------------------------

/// The client: run by `Load::start` inside the lab's client namespace (`ip
/// netns exec <prefix>-sw <this test binary> --ignored --exact
/// load::load_generator`). Without FAULTS_LOAD_OUT it does nothing.
///
/// Four writers (LOAD_CLIENTS), each one INSERT per transaction
/// (autocommit, the simple query protocol, which PgBouncer's transaction
/// pooling needs) with a new id, about 20 a second; a broken connection is dropped and the next attempt reconnects
/// (connect timeout 2 s, TCP keepalives and TCP_USER_TIMEOUT 4 s, so a
/// vanished server is noticed). Every attempt is one line of
/// FAULTS_LOAD_OUT: `ok ID START_MS END_MS NODE` once the COMMIT was
/// acknowledged by NODE (its cluster_name), `err ID START_MS END_MS
/// MESSAGE` otherwise (its row may or
/// may not exist). It stops by itself when FAULTS_LOAD_STOP exists or after
/// FAULTS_LOAD_SECS, even in the middle of a hung commit (that one is
/// then recorded nowhere, so never counted as acknowledged).
#[test]
#[ignore = "the fault tests' load generator: they run it inside the lab"]
fn load_generator() {
    let Ok(out) = std::env::var("FAULTS_LOAD_OUT") else {
        return;
    };
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set"));
    let stop = PathBuf::from(var("FAULTS_LOAD_STOP"));
    let secs: u64 = var("FAULTS_LOAD_SECS").parse().unwrap();
    let id: i64 = var("FAULTS_LOAD_FIRST_ID").parse().unwrap();
    let tag = var("FAULTS_LOAD_TAG");
    let started = Instant::now();
    std::thread::spawn(move || loop {
        if stop.exists() || started.elapsed() > Duration::from_secs(secs) {
            std::process::exit(0);
        }
        std::thread::sleep(Duration::from_millis(100));
    });
    let f = std::sync::Arc::new(std::sync::Mutex::new(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(out)
            .unwrap(),
    ));
    let mut cfg = postgres::Config::new();
    cfg.host(&var("FAULTS_LOAD_HOST"))
        .port(var("FAULTS_LOAD_PORT").parse().unwrap())
        .user("postgres")
        .dbname("lab")
        .application_name("faults-load")
        .connect_timeout(Duration::from_secs(2))
        .tcp_user_timeout(Duration::from_secs(4))
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(2))
        .keepalives_interval(Duration::from_secs(1))
        .keepalives_retries(2);
    // CLIENTS writers, each on its own connection, and with
    // FAULTS_LOAD_IMPATIENT one more that cancels a statement still
    // running after IMPATIENT_CANCEL_MS; writer k writes the ids
    // first + k, first + k + step, ...
    let clients: i64 = var("FAULTS_LOAD_CLIENTS").parse().unwrap();
    let impatient = std::env::var_os("FAULTS_LOAD_IMPATIENT").is_some();
    let step = clients + i64::from(impatient);
    let writers: Vec<_> = (0..step)
        .map(|k| {
            let (mut cfg, f, tag) = (cfg.clone(), f.clone(), tag.clone());
            let warned = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            if k == clients {
                let seen = warned.clone();
                cfg.notice_callback(move |n| {
                    if n.message()
                        .contains("canceling wait for synchronous replication")
                    {
                        seen.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
            let writer = Writer {
                impatient: k == clients,
                warned,
            };
            std::thread::spawn(move || write_ids(&cfg, &f, &tag, id + k, step, &writer))
        })
        .collect();
    for w in writers {
        let _ = w.join();
    }
}

/// The impatient writer cancels a statement that has not answered after
/// this long, as a driver's query timeout does (a cancel request): shorter
/// than a failover's commit hang. (`statement_timeout` would not do: the
/// server stops the statement timer before the commit's wait for the sync
/// standby.)
const IMPATIENT_CANCEL_MS: u64 = 1000;

/// Which writer of the load this is.
struct Writer {
    /// It cancels a commit that waits for the sync standby, and PostgreSQL
    /// then reports that commit successful.
    impatient: bool,
    /// A notice said a wait for synchronous replication was cancelled.
    warned: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// One writer of the load: one INSERT per transaction, forever.
fn write_ids(
    cfg: &postgres::Config,
    f: &std::sync::Mutex<std::fs::File>,
    tag: &str,
    mut id: i64,
    step: i64,
    writer: &Writer,
) {
    let mut client: Option<postgres::Client> = None;
    let order = std::sync::atomic::Ordering::SeqCst;
    loop {
        writer.warned.store(false, order);
        let t0 = now_ms();
        let mut attempt = || -> Result<String, postgres::Error> {
            if client.is_none() {
                client = Some(cfg.connect(postgres::NoTls)?);
            }
            // The tag is the test's own label: quoted as an SQL literal.
            let sql = format!(
                "insert into faults(id, tag) values ({id}, '{}') returning current_setting('cluster_name')",
                tag.replace('\'', "''")
            );
            let c = client.as_mut().unwrap();
            let (answered, timer) = std::sync::mpsc::channel::<()>();
            let token = c.cancel_token();
            let canceller = writer.impatient.then(|| {
                std::thread::spawn(move || {
                    let wait = Duration::from_millis(IMPATIENT_CANCEL_MS);
                    if timer.recv_timeout(wait) == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                        let _ = token.cancel_query(postgres::NoTls);
                    }
                })
            });
            let result = c.simple_query(&sql);
            let _ = answered.send(());
            if let Some(t) = canceller {
                let _ = t.join();
            }
            let node = result?
                .into_iter()
                .find_map(|m| match m {
                    postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                    _ => None,
                })
                .unwrap_or_default();
            Ok(node)
        };
        let r = attempt();
        let t1 = now_ms();
        // The impatient writer's words: `iok` (and `iokw` when PostgreSQL
        // warned that it cancelled the wait), `ierr`.
        let word = |w: &str| {
            if writer.impatient {
                format!("i{w}")
            } else {
                w.to_string()
            }
        };
        let line = match &r {
            Ok(node) => {
                let w = if writer.warned.load(order) {
                    "okw"
                } else {
                    "ok"
                };
                format!("{} {id} {t0} {t1} {node}\n", word(w))
            }
            Err(e) => {
                client = None;
                let msg = format!("{e}").replace('\n', " ");
                format!("{} {id} {t0} {t1} {msg}\n", word("err"))
            }
        };
        f.lock().unwrap().write_all(line.as_bytes()).unwrap();
        id += step;
        std::thread::sleep(Duration::from_millis(if r.is_ok() { 40 } else { 200 }));
    }
}

/// The acknowledged ids, and the range [first, last attempted + 1) in
/// which to look for them. The impatient writer's are not among them:
/// PostgreSQL reports a cancelled commit successful.
pub fn acknowledged(attempts: &[Attempt], first: i64) -> (BTreeSet<i64>, (i64, i64)) {
    let acked = attempts
        .iter()
        .filter(|a| a.ok && !a.impatient)
        .map(|a| a.id)
        .collect();
    let last = attempts.iter().map(|a| a.id).max().unwrap_or(first);
    (acked, (first, last + 1))
}

/// The longest an acknowledged commit waited, in seconds, among those that
/// ended at or after `t0` (ms).
pub fn longest_commit(attempts: &[Attempt], t0: u64) -> f64 {
    attempts
        .iter()
        .filter(|a| a.ok && !a.impatient && a.end >= t0)
        .map(|a| a.end - a.start)
        .max()
        .unwrap_or(0) as f64
        / 1000.0
}

#[derive(Debug, Clone)]
pub struct Attempt {
    pub ok: bool,
    /// From the impatient writer ([`IMPATIENT_CANCEL_MS`]).
    pub impatient: bool,
    /// PostgreSQL warned that it cancelled this commit's wait for the sync
    /// standby (and reported it successful).
    pub cancelled_wait: bool,
    pub id: i64,
    pub start: u64,
    pub end: u64,
    /// The node that committed (ok), or the error.
    pub msg: String,
}

fn parse_attempts(path: &Path) -> Vec<Attempt> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut w = l.splitn(5, ' ');
            let word = w.next()?;
            let impatient = word.starts_with('i');
            let (ok, cancelled_wait) = match word.trim_start_matches('i') {
                "ok" => (true, false),
                "okw" => (true, true),
                "err" => (false, false),
                _ => return None,
            };
            Some(Attempt {
                ok,
                impatient,
                cancelled_wait,
                id: w.next()?.parse().ok()?,
                start: w.next()?.parse().ok()?,
                end: w.next()?.parse().ok()?,
                msg: w.next().unwrap_or("").to_string(),
            })
        })
        .collect()
}

pub struct Load {
    child: Child,
    dir: tempfile::TempDir,
    pub first_id: i64,
}

impl Load {
    fn out(&self) -> PathBuf {
        self.dir.path().join("attempts")
    }

    pub fn start(lab: &Lab, via: Via, tag: &str, first_id: i64, secs: u64) -> Load {
        Load::spawn(lab, via, tag, first_id, secs, false)
    }

    /// [`Load::start`] through the VIP, plus the impatient writer
    /// ([`IMPATIENT_CANCEL_MS`]), whose commits are not counted as
    /// acknowledged but reported ([`impatient_exposure`]).
    pub fn start_with_impatient(lab: &Lab, tag: &str, first_id: i64, secs: u64) -> Load {
        Load::spawn(lab, Via::Vip, tag, first_id, secs, true)
    }

    fn spawn(lab: &Lab, via: Via, tag: &str, first_id: i64, secs: u64, impatient: bool) -> Load {
        let (host, port) = via.host_port();
        let dir = tempfile::Builder::new()
            .prefix("rustpg-faults-")
            .tempdir()
            .unwrap();
        // This very binary, even if a concurrent cargo build replaced the
        // file since it started.
        let exe = format!("/proc/{}/exe", std::process::id());
        let child = Command::new("ip")
            .args(["netns", "exec", &lab.switch_ns()])
            .arg(exe)
            .args([
                "--ignored",
                "--exact",
                "load::load_generator",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("FAULTS_LOAD_OUT", dir.path().join("attempts"))
            .env("FAULTS_LOAD_STOP", dir.path().join("stop"))
            .env("FAULTS_LOAD_SECS", secs.to_string())
            .env("FAULTS_LOAD_FIRST_ID", first_id.to_string())
            .env("FAULTS_LOAD_TAG", tag)
            .env("FAULTS_LOAD_HOST", host)
            .env("FAULTS_LOAD_PORT", port.to_string())
            .env("FAULTS_LOAD_CLIENTS", LOAD_CLIENTS.to_string())
            .envs(impatient.then_some(("FAULTS_LOAD_IMPATIENT", "1")))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let load = Load {
            child,
            dir,
            first_id,
        };
        let start = Instant::now();
        while load.attempts().iter().filter(|a| a.ok).count() < 5 {
            if start.elapsed() > Duration::from_secs(30) {
                let a = load.attempts();
                let last: Vec<String> = a
                    .iter()
                    .rev()
                    .take(3)
                    .map(|a| format!("{} {}: {}", a.ok, a.id, a.msg))
                    .collect();
                let neigh = Command::new("ip")
                    .args(["-n", &lab.switch_ns(), "neigh"])
                    .output()
                    .map(|o| text(&o))
                    .unwrap_or_default();
                let sql = lab.sql("select inet_server_addr(), pg_is_in_recovery()");
                panic!(
                    "the load generator: no 5 commits through {host}:{port} within 30s ({} attempts; last: {last:?})\nclient neighbours: {neigh}\nlab sql: {sql:?}\n{}",
                    a.len(),
                    crm_mon_text(lab)
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        load
    }

    pub fn attempts(&self) -> Vec<Attempt> {
        parse_attempts(&self.out())
    }

    /// The first write that started at or after `t0` (ms) and was
    /// acknowledged by a node other than `not_on`: its end minus `t0` in
    /// seconds, and the node. `None` if there is none within `timeout`.
    pub fn first_write_after(
        &self,
        t0: u64,
        not_on: Option<&str>,
        timeout: Duration,
    ) -> Option<(f64, String)> {
        let start = Instant::now();
        loop {
            let found = self
                .attempts()
                .into_iter()
                .find(|a| a.ok && !a.impatient && a.start >= t0 && Some(a.msg.as_str()) != not_on);
            if let Some(a) = found {
                return Some(((a.end - t0) as f64 / 1000.0, a.msg));
            }
            if start.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Wait until a write that started at or after `t0` (ms) was
    /// acknowledged; that write's end minus `t0`, in seconds.
    fn wait_writes_back(&self, t0: u64, timeout: Duration) -> f64 {
        match self.first_write_after(t0, None, timeout) {
            Some((secs, _)) => secs,
            None => panic!("no write through the VIP within {timeout:?} of the fault"),
        }
    }

    pub fn stop(mut self) -> Vec<Attempt> {
        std::fs::write(self.dir.path().join("stop"), "").unwrap();
        let start = Instant::now();
        loop {
            if self.child.try_wait().unwrap().is_some() {
                break;
            }
            if start.elapsed() > Duration::from_secs(10) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.attempts()
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        let _ = std::fs::write(self.dir.path().join("stop"), "");
        if self.child.try_wait().ok().flatten().is_none() {
            std::thread::sleep(Duration::from_millis(500));
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The table the load generator writes into.
pub(crate) fn create_faults_table(lab: &Lab) {
    lab.sql("create table if not exists faults(id bigint primary key, tag text, at timestamptz default clock_timestamp())")
        .unwrap();
}

// --- no acknowledged write lost ----------------------------------------------

/// The ids in [lo, hi) a node has (read locally on the node).
pub fn ids_on(lab: &Lab, node: &str, lo: i64, hi: i64) -> Option<BTreeSet<i64>> {
    let sql = format!("select id from faults where id >= {lo} and id < {hi}");
    let out = lab.try_sql_on(node, &sql).ok()?;
    Some(out.lines().filter_map(|l| l.trim().parse().ok()).collect())
}

/// Every acknowledged id is on the primary and on every streaming standby
/// (given by the caller from crm_mon's picture); waits for a standby's
/// replay, 30 s at most. On a loss, crm_mon and each node's own account
/// are printed first, and the panic ends with the short verdict (CI shows
/// the tail of a failure).
pub(crate) fn assert_no_loss(
    lab: &Lab,
    label: &str,
    attempts: &[Attempt],
    first_id: i64,
    nodes: &[String],
) {
    let (acked, range) = acknowledged(attempts, first_id);
    for n in nodes {
        let mut missing = Vec::new();
        let mut readable = false;
        let start = Instant::now();
        let ok = loop {
            if let Some(have) = ids_on(lab, n, range.0, range.1) {
                readable = true;
                missing = acked.difference(&have).copied().collect::<Vec<_>>();
                if missing.is_empty() {
                    break true;
                }
            }
            if start.elapsed() > Duration::from_secs(30) {
                break false;
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        if !ok {
            println!("{label}: crm_mon -Afr at the loss:\n{}", crm_mon_text(lab));
            println!("{}", loss_account(lab, attempts, range));
            let verdict = if readable {
                let who = |id: &i64| {
                    attempts
                        .iter()
                        .find(|a| a.id == *id)
                        .map(|a| {
                            format!(
                                "{id} by {} {} ms before the check",
                                a.msg,
                                now_ms().saturating_sub(a.end)
                            )
                        })
                        .unwrap_or_default()
                };
                format!(
                    "{} acknowledged transactions LOST on {n}: first {}, last {}",
                    missing.len(),
                    who(&missing[0]),
                    who(missing.last().unwrap())
                )
            } else {
                format!("{n} could not be read for 30 s (the check could not run)")
            };
            panic!("{label}: {verdict}");
        }
    }
    println!(
        "{label}: all {} acknowledged ids present on {}",
        acked.len(),
        nodes.join(", ")
    );
}

/// What each node says of itself after a loss: recovery, timeline, WAL
/// positions, its WAL receiver, and the newest acknowledged id it has.
fn loss_account(lab: &Lab, attempts: &[Attempt], range: (i64, i64)) -> String {
    let sql = format!(
        "select pg_is_in_recovery(), (select timeline_id from pg_control_checkpoint()), \
         pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn(), \
         (select status || ' ' || coalesce(sender_host, '') from pg_stat_wal_receiver), \
         (select max(id) from faults where id >= {} and id < {})",
        range.0, range.1
    );
    let newest_acked = attempts.iter().filter(|a| a.ok).map(|a| a.id).max();
    let mut out = format!("newest acknowledged id: {newest_acked:?}\n");
    for n in lab.nodes() {
        let line = lab
            .try_sql_on(n, &sql)
            .map(|o| o.trim().to_string())
            .unwrap_or_else(|e| format!("unreadable: {e}"));
        out.push_str(&format!(
            "{n}: in recovery | checkpoint timeline | received | replayed | receiver | newest id: {line}\n"
        ));
    }
    out
}

// --- two primaries? ---------------------------------------------------------

/// Samples, once a second, every node: is PostgreSQL a writable primary
/// there, does its eth0 carry the VIP, is its port on the switch up (the
/// client can reach it). Counts the samples with two writable primaries at
/// all (expected for a while when an isolated node has not stopped yet: no
/// fencing) and with two reachable through the VIP (never allowed).
struct Sampler {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<String>>>,
    handle: Option<std::thread::JoinHandle<(u32, u32, u32)>>,
}

pub(crate) fn node_state(lab: &Lab, sw: &str, node: &str) -> Option<(bool, bool, bool)> {
    let script = format!(
        "ip -o -4 addr show dev eth0 | grep -c ' {VIP}/' || true; \
         runuser -u postgres -- {PG_BIN}/psql -XAtq -h /run/postgresql -d postgres \
         -c 'select pg_is_in_recovery()' 2>/dev/null || echo none"
    );
    let out = lab.run(&["exec", node, "sh", "-c", &script]);
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut l = s.lines();
    let vip = l.next().unwrap_or("0").trim() != "0";
    let primary = l.next().unwrap_or("none").trim() == "f";
    let link = Command::new("ip")
        .args(["-n", sw, "-o", "link", "show", &format!("v-{node}")])
        .output()
        .map(|o| {
            let t = String::from_utf8_lossy(&o.stdout).into_owned();
            o.status.success()
                && t.split_once('<')
                    .and_then(|(_, r)| r.split_once('>'))
                    .is_some_and(|(flags, _)| flags.split(',').any(|f| f == "UP"))
        })
        .unwrap_or(false);
    Some((primary, vip, link))
}

impl Sampler {
    fn start(lab: &Arc<Lab>) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (lab, st, sn) = (lab.clone(), stop.clone(), seen.clone());
        let handle = std::thread::spawn(move || {
            let sw = lab.switch_ns();
            let (mut samples, mut two, mut two_reachable) = (0, 0, 0);
            let mut before: std::collections::BTreeMap<String, String> = Default::default();
            while !st.load(Ordering::SeqCst) {
                let t = Instant::now();
                let states: Vec<(String, (bool, bool, bool))> = lab
                    .nodes()
                    .into_iter()
                    .filter_map(|n| node_state(&lab, &sw, n).map(|s| (n.to_string(), s)))
                    .collect();
                samples += 1;
                for n in lab.nodes() {
                    let now = match states.iter().find(|(m, _)| m == n) {
                        None => "down".to_string(),
                        Some((_, (p, v, l))) => format!(
                            "{}{}{}",
                            if *p {
                                "writable primary"
                            } else {
                                "not primary"
                            },
                            if *v { ", VIP" } else { "" },
                            if *l { "" } else { ", link down" }
                        ),
                    };
                    if before.get(n) != Some(&now) {
                        sn.lock()
                            .unwrap()
                            .push(format!("{} ms: {n}: {now}", now_ms()));
                        before.insert(n.to_string(), now);
                    }
                }
                let vips = states.iter().filter(|(_, s)| s.1 && s.2).count();
                if vips > 1 {
                    sn.lock().unwrap().push(format!(
                        "{} ms: the VIP on {vips} reachable nodes",
                        now_ms()
                    ));
                }
                let primaries: Vec<&String> =
                    states.iter().filter(|(_, s)| s.0).map(|(n, _)| n).collect();
                let reachable: Vec<&String> = states
                    .iter()
                    .filter(|(_, s)| s.0 && s.1 && s.2)
                    .map(|(n, _)| n)
                    .collect();
                if primaries.len() > 1 {
                    two += 1;
                }
                if reachable.len() > 1 {
                    two_reachable += 1;
                }
                let spent = t.elapsed();
                if spent < Duration::from_secs(1) {
                    std::thread::sleep(Duration::from_secs(1) - spent);
                }
            }
            (samples, two, two_reachable)
        });
        Sampler {
            stop,
            seen,
            handle: Some(handle),
        }
    }

    /// (samples, samples with two writable primaries, with two reachable
    /// through the VIP), and every change of a node's state.
    fn stop(mut self) -> ((u32, u32, u32), Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        let r = self.handle.take().unwrap().join().unwrap();
        (r, self.seen.lock().unwrap().clone())
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        // Joined, so that its handle on the lab is gone before the test
        // ends (the lab's Drop removes the lab).
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

// --- a scenario's run: the load, the sampler, the checks ------------------------

#[derive(Clone)]
pub(crate) struct Row {
    pub(crate) scenario: String,
    /// Fencing actions (reboot or off) during the scenario.
    pub(crate) fenced: usize,
    pub(crate) lost: usize,
    pub(crate) acked: usize,
    pub(crate) writes_back: f64,
    pub(crate) hang: f64,
    /// The impatient writer: reported successful / cancelled waits / lost.
    pub(crate) impatient: String,
    pub(crate) final_state: String,
}

/// `pg01 HS:sync, pg03 HS:async`: the nodes' statuses, for the log.
fn statuses(p: &Picture, nodes: &[String]) -> String {
    nodes
        .iter()
        .map(|n| format!("{n} {}", p.get(n, Attr::Status).unwrap_or("none")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What every scenario shares: a healthy start, the load, the sampler, and
/// the checks at the end.
pub(crate) struct Run<'a> {
    pub(crate) lab: &'a Arc<Lab>,
    pub(crate) label: String,
    load: Option<Load>,
    sampler: Option<Sampler>,
    /// When the run began (ms): fencing is counted from here.
    began: u64,
    /// When the fault took effect (ms).
    pub(crate) t0: u64,
    pub(crate) primary: String,
    /// The standby that holds every acknowledged commit (quorum mode: the
    /// first voter by name), and the next one (`Picture::standbys_ranked`).
    pub(crate) sync: String,
    pub(crate) potential: String,
}

impl<'a> Run<'a> {
    pub(crate) fn begin(lab: &'a Arc<Lab>, label: String, first_id: i64) -> Run<'a> {
        let p = lab.wait_for(
            &format!("{label}: healthy start"),
            Duration::from_secs(180),
            |p| lab.healthy(p),
        );
        println!("\n===== {label} =====");
        let primary = p.primary().unwrap().to_string();
        let standbys = p.standbys_ranked();
        let (sync, potential) = (standbys[0].clone(), standbys[1].clone());
        println!("primary {primary}, {}", statuses(&p, &standbys));
        let began = now_ms();
        let load = Load::start_with_impatient(lab, &label, first_id, 600);
        let sampler = Sampler::start(lab);
        // The fault comes once the load runs: commits acknowledged, not a
        // pause of a guessed length.
        crate::support::wait_until(
            &format!("{label}: the load's first acknowledged commits"),
            Duration::from_secs(30),
            || load.attempts().iter().filter(|a| a.ok).count() >= 20,
        );
        Run {
            lab,
            label,
            load: Some(load),
            sampler: Some(sampler),
            began,
            t0: 0,
            primary,
            sync,
            potential,
        }
    }

    /// Inject the fault; the clock starts when the command has returned
    /// (the fault is in effect).
    pub(crate) fn fault(&mut self, args: &[&str]) {
        let t = now_ms();
        let out = self.lab.run(args);
        assert!(
            out.status.success(),
            "{}: {args:?}:\n{}",
            self.label,
            text(&out)
        );
        self.t0 = now_ms();
        println!("{}: {args:?} took {} ms", self.label, self.t0 - t);
    }

    /// The clock starts now (a fault injected by the caller is in effect).
    pub(crate) fn mark_fault(&mut self) {
        self.t0 = now_ms();
    }

    /// A write that started at or after `since` (ms) is acknowledged
    /// within `timeout`: the cluster takes writes again. Its delay, in
    /// seconds after `since`.
    pub(crate) fn require_write_after(&self, since: u64, timeout: Duration) -> f64 {
        let load = self.load.as_ref().unwrap();
        match load.first_write_after(since, None, timeout) {
            Some((s, node)) => {
                println!(
                    "{}: a write acknowledged by {node} {s:.1}s after the heal",
                    self.label
                );
                s
            }
            None => panic!(
                "{}: no write acknowledged within {}s after the heal\n{}",
                self.label,
                timeout.as_secs(),
                crm_mon_text(self.lab)
            ),
        }
    }

    pub(crate) fn writes_back(&self) -> f64 {
        let s = self
            .load
            .as_ref()
            .unwrap()
            .wait_writes_back(self.t0, Duration::from_secs(240));
        println!(
            "{}: writes through the VIP succeed again {s:.1}s after the fault",
            self.label
        );
        s
    }

    /// Stop the load and the sampler, wait for the healthy picture (the
    /// caller restored it), check every acknowledged id on every node.
    pub(crate) fn finish(mut self, writes_back: f64) -> Row {
        let load = self.load.take().unwrap();
        let first = load.first_id;
        let attempts = load.stop();
        let ((samples, two, two_reachable), bad) = self.sampler.take().unwrap().stop();
        for b in &bad {
            let (ms, rest) = b.split_once(" ms: ").unwrap();
            let rel = ms.parse::<i64>().unwrap() - self.t0 as i64;
            println!("{}: {:+.1}s {rest}", self.label, rel as f64 / 1000.0);
        }
        println!(
            "{}: {samples} samples, {two} with two writable primaries, {two_reachable} with two reachable through the VIP",
            self.label
        );
        assert_eq!(
            two_reachable, 0,
            "{}: two writable primaries reachable through the VIP at once: {bad:?}",
            self.label
        );
        // With fencing a node the others lost is powered off before
        // anything is promoted: never two writable primaries at all.
        if self.lab.fencing() {
            assert_eq!(
                two, 0,
                "{}: two writable primaries at once, with fencing: {bad:?}",
                self.label
            );
        }
        let (acked, _) = acknowledged(&attempts, first);
        let failed = attempts.iter().filter(|a| !a.ok).count();
        // The longest a commit waited, and the longest gap between two
        // acknowledged commits, from the fault on.
        let hang = longest_commit(&attempts, self.t0);
        let mut ends: Vec<u64> = attempts.iter().filter(|a| a.ok).map(|a| a.end).collect();
        ends.sort();
        let gap = ends
            .windows(2)
            .filter(|w| w[1] >= self.t0)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or(0) as f64
            / 1000.0;
        if let Some(e) = attempts.iter().find(|a| !a.ok && a.end >= self.t0) {
            println!(
                "{}: first failed attempt: {} ({} ms after the fault)",
                self.label,
                e.msg,
                e.start.saturating_sub(self.t0)
            );
        }
        println!(
            "{}: {} attempts, {} acknowledged, {failed} failed; longest commit {hang:.1}s, longest gap between acknowledged commits {gap:.1}s",
            self.label,
            attempts.len(),
            acked.len()
        );
        let p = self.lab.wait_for(
            &format!("{}: healthy at the end", self.label),
            Duration::from_secs(180),
            |p| healthy_in_fact(self.lab, p),
        );
        let nodes = streaming_nodes(&p);
        assert_eq!(
            nodes.len(),
            self.lab.nodes().len(),
            "{}: not every node streams",
            self.label
        );
        assert_no_loss(self.lab, &self.label, &attempts, first, &nodes);
        let (impatient, exposure) =
            impatient_exposure(self.lab, &attempts, first, p.primary().unwrap());
        println!("{}: {exposure}", self.label);
        let mon = crm_mon_text(self.lab);
        println!("{}: final crm_mon -Afr:\n{mon}", self.label);
        let fenced = self.lab.fencing_actions(self.began);
        println!("{}: {fenced} fencing actions", self.label);
        Row {
            scenario: self.label.clone(),
            fenced,
            lost: 0,
            acked: acked.len(),
            writes_back,
            hang,
            impatient,
            final_state: format!(
                "healthy: {} PRI, {}",
                p.primary().unwrap(),
                statuses(&p, &p.standbys_ranked())
            ),
        }
    }

    /// Zero loss on the survivors while the cluster is still degraded: the
    /// primary and the streaming standbys whose instance runs, not failed.
    /// A data-status is the primary's word from its last pass: right after
    /// a crashed primary recovered in place (R28), a standby whose
    /// PostgreSQL was killed, and which Pacemaker keeps stopped, still says
    /// `STREAMING|SYNC` until the primary's next pass.
    pub(crate) fn no_loss_now(&self, p: &Picture) -> usize {
        let load = self.load.as_ref().unwrap();
        let attempts = load.attempts();
        let running = |n: &String| {
            p.primary() == Some(n.as_str())
                || (p.view.runs_standby(n) && !p.view.failed.contains(n))
        };
        let nodes: Vec<String> = streaming_nodes(p).into_iter().filter(running).collect();
        assert_no_loss(
            self.lab,
            &format!("{} (degraded)", self.label),
            &attempts,
            load.first_id,
            &nodes,
        );
        acknowledged(&attempts, load.first_id).0.len()
    }
}

/// What the impatient writer's "successful" commits cost: how many it
/// saw, how many of those PostgreSQL warned were cancelled waits, and how
/// many are not on the primary at the end (lost by a failover).
/// Returns the table cell (`ok / cancelled / lost`) and the log line.
fn impatient_exposure(
    lab: &Lab,
    attempts: &[Attempt],
    first: i64,
    primary: &str,
) -> (String, String) {
    let ok: Vec<&Attempt> = attempts.iter().filter(|a| a.ok && a.impatient).collect();
    let cancelled = ok.iter().filter(|a| a.cancelled_wait).count();
    let (_, (lo, hi)) = acknowledged(attempts, first);
    let lost = match ids_on(lab, primary, lo, hi) {
        Some(present) => ok
            .iter()
            .filter(|a| !present.contains(&a.id))
            .count()
            .to_string(),
        None => "?".into(),
    };
    let line = format!(
        "the impatient writer (cancels after {IMPATIENT_CANCEL_MS} ms): {} commits reported \
         successful, {cancelled} of them cancelled waits for the sync standby, {lost} lost",
        ok.len()
    );
    (format!("{} / {cancelled} / {lost}", ok.len()), line)
}
