//! Real PostgreSQL 15 on crashfs: kill -9 every postgres process, drop the
//! unsynced data, start again. With fsync on, every acknowledged synchronous
//! commit must be there; with fsync off (the negative control), acknowledged
//! commits must be missing, which shows that the layer does bite.
//! Needs root, /dev/fuse and Debian's postgresql-15.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{wait_for, Mount, TempDir};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use postgres::{Client, NoTls};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// Two PostgreSQL servers on two cores would only slow each other down.
static SERIAL: Mutex<()> = Mutex::new(());

/// A PostgreSQL cluster whose data directory is on the crashfs mount and
/// whose socket and server log are outside it. Dropping it stops the server.
struct Pg {
    data: PathBuf,
    sock: PathBuf,
    log: PathBuf,
}

fn as_postgres(program: &str) -> Command {
    let mut cmd = Command::new("runuser");
    cmd.args(["-u", "postgres", "--"])
        .arg(Path::new(PG_BIN).join(program))
        .current_dir("/tmp");
    cmd
}

fn chown_postgres(path: &Path) {
    let ok = Command::new("chown")
        .arg("postgres:postgres")
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "chown {}", path.display());
}

impl Pg {
    /// initdb onto the mount, then our settings: no TCP, no checkpoint or
    /// WAL writer flush during the test, small shared buffers so that the
    /// bulk insert writes data pages (unsynced until a checkpoint).
    /// An empty data directory on the mount (owned by postgres, mode 0700)
    /// and a socket/log directory outside it.
    fn prepare(m: &Mount, outside: &TempDir) -> Pg {
        assert!(
            Path::new(PG_BIN).join("postgres").exists(),
            "PostgreSQL 15 is not installed in {PG_BIN}"
        );
        let data = m.mnt.join("data");
        fs::create_dir(&data).unwrap();
        chown_postgres(&data);
        fs::set_permissions(&data, fs::Permissions::from_mode(0o700)).unwrap();
        let run = outside.path().join("run");
        fs::create_dir(&run).unwrap();
        chown_postgres(&run);
        Pg {
            data,
            sock: run.clone(),
            log: run.join("postgres.log"),
        }
    }

    /// initdb onto the mount, then our settings.
    fn init(m: &Mount, outside: &TempDir, fsync: bool) -> Pg {
        let pg = Pg::prepare(m, outside);
        let out = as_postgres("initdb")
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "-D",
            ])
            .arg(&pg.data)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        pg.configure(fsync);
        pg
    }

    /// No TCP, no checkpoint or WAL writer flush during the test, small
    /// shared buffers so that a bulk insert writes data pages (unsynced until
    /// a checkpoint); wal_log_hints and old WAL for pg_rewind.
    fn configure(&self, fsync: bool) {
        let conf = format!(
            "listen_addresses = ''\n\
             unix_socket_directories = '{}'\n\
             port = 5432\n\
             fsync = {}\n\
             synchronous_commit = on\n\
             shared_buffers = 16MB\n\
             checkpoint_timeout = 1h\n\
             max_wal_size = 4GB\n\
             wal_writer_delay = 10s\n\
             wal_writer_flush_after = 1GB\n\
             wal_log_hints = on\n\
             wal_keep_size = 1GB\n\
             autovacuum = off\n\
             log_checkpoints = on\n",
            self.sock.display(),
            if fsync { "on" } else { "off" }
        );
        let path = self.data.join("postgresql.conf");
        let mut text = fs::read_to_string(&path).unwrap();
        text.push_str(&conf);
        fs::write(&path, text).unwrap();
        // On crashfs an unsynced write is lost at the crash: the restart
        // would listen on TCP 5432 with the default socket directory.
        fs::File::open(&path).unwrap().sync_all().unwrap();
    }

    /// Makes this server a standby of `primary` at its next start, durably.
    fn follow(&self, primary: &Pg) {
        let auto = self.data.join("postgresql.auto.conf");
        let mut text = fs::read_to_string(&auto).unwrap_or_default();
        text.push_str(&format!("primary_conninfo = '{}'\n", primary.conninfo()));
        let signal = self.data.join("standby.signal");
        for (path, text) in [(&auto, text.as_str()), (&signal, "")] {
            fs::write(path, text).unwrap();
            fs::File::open(path).unwrap().sync_all().unwrap();
            chown_postgres(path);
        }
        fs::File::open(&self.data).unwrap().sync_all().unwrap();
    }

    fn ctl(&self, args: &[&str]) -> bool {
        as_postgres("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(args)
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success()
    }

    fn conninfo(&self) -> String {
        format!(
            "host={} port=5432 user=postgres dbname=postgres",
            self.sock.display()
        )
    }

    fn start(&self) -> bool {
        as_postgres("pg_ctl")
            .args(["-w", "-t", "120", "-l"])
            .arg(&self.log)
            .arg("-D")
            .arg(&self.data)
            .arg("start")
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success()
    }

    fn connect(&self) -> Client {
        let conn = format!("{} connect_timeout=10", self.conninfo());
        Client::connect(&conn, NoTls).unwrap()
    }

    fn postmaster_pid(&self) -> Option<i32> {
        let text = fs::read_to_string(self.data.join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// pg_ctl starts the postmaster in a session of its own: SIGKILL to its
    /// process group kills every postgres process at once, as a power loss
    /// would. Waits until none is left, reaping the ones that became our
    /// children: a postmaster zombie would make the restart believe the old
    /// server still runs (its pid is in the synced postmaster.pid).
    fn kill9(&self) {
        let pid = self.postmaster_pid().expect("postmaster.pid");
        assert_eq!(process_group(pid), Some(pid), "postmaster leads its group");
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        wait_for(
            "every postgres process to go",
            Duration::from_secs(30),
            || {
                reap_group(pid);
                (!group_exists(pid)).then_some(())
            },
        );
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("--- PostgreSQL log ---\n{}", self.log_text());
        }
        if let Some(pid) = self.postmaster_pid().filter(|&pid| group_exists(pid)) {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            let deadline = Instant::now() + Duration::from_secs(30);
            while group_exists(pid) && Instant::now() < deadline {
                reap_group(pid);
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// The postmaster outlives pg_ctl, its parent: make the orphans of our
/// descendants our children, so that we can reap them after the kill.
fn become_subreaper() {
    // SAFETY: prctl with integer arguments.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(rc, 0, "PR_SET_CHILD_SUBREAPER");
}

/// (state, parent, process group) of a process, from /proc/PID/stat.
fn proc_stat(pid: i32) -> Option<(String, i32, i32)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some((
        fields.first()?.to_string(),
        fields.get(1)?.parse().ok()?,
        fields.get(2)?.parse().ok()?,
    ))
}

fn process_group(pid: i32) -> Option<i32> {
    proc_stat(pid).map(|(_, _, pgrp)| pgrp)
}

fn group_members(pgid: i32) -> Vec<(i32, String, i32)> {
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let (state, ppid, pgrp) = proc_stat(pid)?;
            (pgrp == pgid).then_some((pid, state, ppid))
        })
        .collect()
}

/// Whether any process, zombie or not, is left in process group `pgid`.
fn group_exists(pgid: i32) -> bool {
    !group_members(pgid).is_empty()
}

/// Reaps the group's zombies that are our children (and only those: other
/// children belong to Command calls elsewhere in this process).
fn reap_group(pgid: i32) {
    let me = std::process::id() as i32;
    for (pid, state, ppid) in group_members(pgid) {
        if state == "Z" && ppid == me {
            let _ = nix::sys::wait::waitpid(
                Pid::from_raw(pid),
                Some(nix::sys::wait::WaitPidFlag::WNOHANG),
            );
        }
    }
}

/// What the workload got acknowledged before the kill.
struct Acked {
    /// Rows of `acked`, each inserted and committed with synchronous_commit=on.
    sync: Vec<i32>,
    /// Rows of `async_rows`, committed with synchronous_commit=off.
    async_rows: Vec<i32>,
}

/// Inserts `id = 1, 2, ...` into `table`, one commit each, until the server
/// goes away; records each id once its commit is acknowledged.
fn commit_loop(
    mut client: Client,
    table: &'static str,
) -> (Arc<Mutex<Vec<i32>>>, thread::JoinHandle<()>) {
    let acked = Arc::new(Mutex::new(Vec::new()));
    let recorded = acked.clone();
    let sql = format!("INSERT INTO {table} VALUES ($1, repeat('a', 100))");
    let handle = thread::spawn(move || {
        for id in 1..=1_000_000 {
            match client.execute(sql.as_str(), &[&id]) {
                Ok(_) => recorded.lock().unwrap().push(id),
                Err(_) => return, // the server is gone
            }
        }
    });
    (acked, handle)
}

/// Two sessions commit single rows until the kill, one with
/// synchronous_commit=on, one with it off; meanwhile a bulk insert fills
/// shared buffers, whose evictions write data pages that only a checkpoint
/// would fsync. Then kill -9 every postgres process, with both writers going.
fn workload_then_kill(pg: &Pg, m: &Mount) -> Acked {
    let mut admin = pg.connect();
    admin
        .batch_execute(
            "CREATE TABLE acked (id int PRIMARY KEY, pad text);
             CREATE TABLE async_rows (id int PRIMARY KEY, pad text);
             CREATE TABLE bulk (id int, pad text);",
        )
        .unwrap();
    let (sync, sync_writer) = commit_loop(pg.connect(), "acked");
    let mut lazy = pg.connect();
    lazy.batch_execute("SET synchronous_commit = off").unwrap();
    let (async_rows, async_writer) = commit_loop(lazy, "async_rows");
    let count = |v: &Arc<Mutex<Vec<i32>>>| v.lock().unwrap().len();
    wait_for("100 synchronous commits", Duration::from_secs(120), || {
        (count(&sync) >= 100).then_some(())
    });
    admin
        .batch_execute(
            "SET synchronous_commit = off;
             INSERT INTO bulk SELECT g, repeat('b', 500) FROM generate_series(1, 60000) g;",
        )
        .unwrap();
    let before = count(&sync);
    wait_for("more synchronous commits", Duration::from_secs(120), || {
        (count(&sync) >= before + 50).then_some(())
    });

    println!("dirty bytes held just before the kill: {}", m.dirty_bytes());
    pg.kill9();
    sync_writer.join().unwrap();
    async_writer.join().unwrap();
    let acked = Acked {
        sync: sync.lock().unwrap().clone(),
        async_rows: async_rows.lock().unwrap().clone(),
    };
    acked
}

fn ids(client: &mut Client, table: &str) -> Result<Vec<i32>, postgres::Error> {
    let rows = client.query(&format!("SELECT id FROM {table} ORDER BY id"), &[])?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

#[test]
fn acknowledged_commits_survive_kill_and_crash() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    become_subreaper();
    let m = Mount::new("pg");
    let outside = TempDir::new("pg-run");
    let pg = Pg::init(&m, &outside, true);
    assert!(pg.start(), "start: {}", pg.log_text());

    let acked = workload_then_kill(&pg, &m);
    let dropped = m.crash();
    println!(
        "crash dropped {dropped} bytes; {} synchronous and {} asynchronous commits acknowledged",
        acked.sync.len(),
        acked.async_rows.len()
    );
    assert!(
        dropped > 0,
        "nothing unsynced at the crash: the test proves nothing"
    );

    assert!(pg.start(), "restart after the crash: {}", pg.log_text());
    let log = pg.log_text();
    assert!(
        log.contains("automatic recovery in progress"),
        "no crash recovery: {log}"
    );
    let mut client = pg.connect();
    let found = ids(&mut client, "acked").unwrap();
    let missing: Vec<_> = acked
        .sync
        .iter()
        .filter(|id| found.binary_search(id).is_err())
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged synchronous commits lost: {missing:?}",
        missing.len()
    );
    println!(
        "all {} acknowledged synchronous commits are there ({} rows found: commits in flight at the kill may add some)",
        acked.sync.len(),
        found.len()
    );
    let async_found = ids(&mut client, "async_rows").map(|v| v.len()).unwrap_or(0);
    println!(
        "asynchronous commits: {} acknowledged, {async_found} survived (those after the last WAL flush are lost; timing-dependent)",
        acked.async_rows.len()
    );
    let bulk: i64 = client
        .query_one("SELECT count(*) FROM bulk", &[])
        .unwrap()
        .get(0);
    println!("bulk rows after recovery: {bulk} of 60000");
}

/// The negative control: the same workload with fsync=off. PostgreSQL then
/// never fsyncs, so the crash must take acknowledged commits with it (or make
/// recovery fail). Reliable, not timing-dependent: with fsync off nothing
/// PostgreSQL writes after initdb (which syncs) reaches the backing files;
/// the workload stays far below the dirty cap, and neither close nor
/// checkpoints (none within the hour) write anything back.
#[test]
fn with_fsync_off_acknowledged_commits_are_lost() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    become_subreaper();
    let m = Mount::new("pg-nofsync");
    let outside = TempDir::new("pg-nofsync-run");
    let pg = Pg::init(&m, &outside, false);
    assert!(pg.start(), "start: {}", pg.log_text());

    let acked = workload_then_kill(&pg, &m);
    let dropped = m.crash();
    println!(
        "fsync=off: crash dropped {dropped} bytes; {} synchronous commits acknowledged",
        acked.sync.len()
    );
    assert!(!acked.sync.is_empty());
    assert_eq!(
        m.control("stats")["cap_flushes"],
        0,
        "the cap wrote data back"
    );

    if !pg.start() {
        // postmaster.pid exists (metadata is durable) but its content, never
        // fsynced, is gone: pg_ctl refuses to start. Do what an operator
        // would, remove it, and look at the data.
        let lock = pg.data.join("postmaster.pid");
        let len = fs::metadata(&lock).map(|m| m.len());
        println!("fsync=off: PostgreSQL does not start (postmaster.pid: {len:?} bytes)");
        assert_eq!(
            len.ok(),
            Some(0),
            "start failed otherwise: {}",
            pg.log_text()
        );
        fs::remove_file(&lock).unwrap();
        if !pg.start() {
            println!("fsync=off: recovery fails:\n{}", pg.log_text());
            return;
        }
    }
    let mut client = pg.connect();
    match ids(&mut client, "acked") {
        Err(e) => println!("fsync=off: the acknowledged table is gone: {e}"),
        Ok(found) => {
            let lost = acked
                .sync
                .iter()
                .filter(|id| found.binary_search(id).is_err())
                .count();
            println!(
                "fsync=off: {lost} of {} acknowledged commits lost",
                acked.sync.len()
            );
            assert!(lost > 0, "fsync=off lost nothing: crashfs did not bite");
        }
    }
}

fn ids_on(pg: &Pg, table: &str) -> Vec<i32> {
    ids(&mut pg.connect(), table).unwrap()
}

/// pg_basebackup onto one crashfs mount from a primary on another, and
/// pg_rewind of the old primary after a failover, each followed by a crash
/// of the target's filesystem before it starts: both tools sync what they
/// write, so their result must survive.
#[test]
fn basebackup_and_rewind_work_and_their_results_survive_a_crash() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    become_subreaper();
    let (ma, mb) = (Mount::new("pg-a"), Mount::new("pg-b"));
    let (run_a, run_b) = (TempDir::new("pg-a-run"), TempDir::new("pg-b-run"));
    let a = Pg::init(&ma, &run_a, true);
    assert!(a.start(), "start a: {}", a.log_text());
    a.connect()
        .batch_execute("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1);")
        .unwrap();

    let b = Pg::prepare(&mb, &run_b);
    let out = as_postgres("pg_basebackup")
        .args(["-X", "stream", "-c", "fast", "-R", "-d"])
        .arg(a.conninfo())
        .arg("-D")
        .arg(&b.data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg_basebackup: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    b.configure(true);
    println!("after pg_basebackup, a crash drops {} bytes", mb.crash());
    assert!(b.start(), "start b: {}", b.log_text());
    wait_for("b to replay row 1", Duration::from_secs(60), || {
        (ids_on(&b, "t") == [1]).then_some(())
    });

    // Failover to b; a takes a write b never sees, then stops.
    assert!(b.ctl(&["-w", "promote"]), "promote b: {}", b.log_text());
    b.connect()
        .execute("INSERT INTO t VALUES (2)", &[])
        .unwrap();
    a.connect()
        .execute("INSERT INTO t VALUES (3)", &[])
        .unwrap();
    assert!(a.ctl(&["-m", "fast", "-w", "stop"]));

    // Without --write-recovery-conf: PostgreSQL 15's pg_rewind writes that
    // after its final sync and never fsyncs it (a crash here loses
    // primary_conninfo). The agent writes its settings itself, durably.
    let out = as_postgres("pg_rewind")
        .arg("--target-pgdata")
        .arg(&a.data)
        .arg(format!("--source-server={}", b.conninfo()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg_rewind: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // pg_rewind copied b's configuration: a's own settings go back on top.
    a.configure(true);
    a.follow(&b);
    println!("after pg_rewind, a crash drops {} bytes", ma.crash());
    assert!(a.start(), "start a as a standby: {}", a.log_text());
    wait_for("a to follow b", Duration::from_secs(60), || {
        (ids_on(&a, "t") == [1, 2]).then_some(())
    });
}
