//! SQL against the local PostgreSQL, spoken directly (no psql process).
//! We connect as `monitor_user` (else pgdba) through `pghost`, else
//! `socketdir`, else the default socket directory; for peer authentication
//! the effective uid is the database owner's while connecting.

use crate::config::Config;
use crate::core::decide::SqlProbe;
use crate::core::lsn::Lsn;
use crate::core::pgpass;
use crate::core::replication::{ReplicationRow, SenderState, Slot, SyncRole, WeakCommit};
use crate::io::clock::Deadline;
use crate::io::user::{EffectiveUser, OsUser};
use postgres::error::SqlState;
use postgres::{Client, NoTls};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where libpq-built servers put their socket when nothing says otherwise.
const DEFAULT_SOCKET_DIRS: &[&str] = &["/var/run/postgresql", "/tmp"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Socket(PathBuf),
    Tcp(String),
}

impl Host {
    /// The host field a .pgpass line must match.
    fn pgpass_names(&self) -> Vec<String> {
        match self {
            Host::Socket(dir) => vec!["localhost".into(), dir.display().to_string()],
            Host::Tcp(h) => vec![h.clone()],
        }
    }
}

/// Where to connect, by the stock agent's precedence.
pub fn host(cfg: &Config) -> Host {
    if let Some(h) = &cfg.pghost {
        return if h.starts_with('/') {
            Host::Socket(h.into())
        } else {
            Host::Tcp(h.clone())
        };
    }
    if let Some(dir) = &cfg.socketdir {
        return Host::Socket(dir.clone());
    }
    let socket = format!(".s.PGSQL.{}", cfg.pgport);
    let dir = DEFAULT_SOCKET_DIRS
        .iter()
        .find(|d| Path::new(d).join(&socket).exists())
        .unwrap_or(&DEFAULT_SOCKET_DIRS[0]);
    Host::Socket(PathBuf::from(dir))
}

/// Who the agent connects as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `monitor_user` (else pgdba), with `monitor_password`: every query.
    Monitor,
    /// pgdba: what needs privileges (ALTER SYSTEM, pg_promote, slots).
    Admin,
}

impl Role {
    fn user(self, cfg: &Config) -> &str {
        match self {
            Role::Monitor => cfg.sql_user(),
            Role::Admin => &cfg.pgdba,
        }
    }
}

/// monitor_password for the monitor role, else the owner's .pgpass (or
/// PGPASSFILE). libpq ignores a pgpass file others can read; so do we.
fn password(
    cfg: &Config,
    role: Role,
    owner: &OsUser,
    host: &Host,
    passfile: Option<&Path>,
) -> Option<String> {
    if role == Role::Monitor {
        if let Some(p) = &cfg.monitor_password {
            return Some(p.clone());
        }
    }
    pgpass_password(owner, passfile, host, cfg.pgport, &cfg.pgdb, role.user(cfg))
}

/// The password for `user` in `passfile`, else the owner's .pgpass.
fn pgpass_password(
    owner: &OsUser,
    passfile: Option<&Path>,
    host: &Host,
    port: u16,
    database: &str,
    user: &str,
) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let path = passfile.map_or_else(|| owner.home.join(".pgpass"), Path::to_path_buf);
    let meta = std::fs::metadata(&path).ok()?;
    if meta.permissions().mode() & 0o077 != 0 {
        crate::warn!(
            "{} is readable by group or others; ignored, as libpq does",
            path.display()
        );
        return None;
    }
    let text = std::fs::read_to_string(&path).ok()?;
    let names = host.pgpass_names();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    pgpass::lookup(&text, &names, port, database, user)
}

/// A session from libpq conninfo pairs (`core::quote::parse_conninfo`),
/// as the owner: `host`, `port`, `user`, `dbname` (default `postgres`),
/// `password`, else `passfile` or the owner's .pgpass. Other keys are
/// libpq's alone and ignored. For the operator tool, which reads the
/// primary the way the standbys reach it.
pub fn connect_conninfo(
    pairs: &[(String, String)],
    owner: &OsUser,
    deadline: Deadline,
) -> Result<Session, SqlError> {
    let get = |k: &str| {
        pairs
            .iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let bad = |message: String| SqlError {
        transient: false,
        message,
    };
    let host = match get("host") {
        Some(h) if h.starts_with('/') => Host::Socket(h.into()),
        Some(h) => Host::Tcp(h.to_string()),
        None => return Err(bad("the conninfo names no host".into())),
    };
    let port = match get("port") {
        Some(p) => p
            .parse()
            .map_err(|_| bad(format!("port {p:?} is not a number")))?,
        None => 5432,
    };
    let user = get("user").unwrap_or(&owner.name);
    let dbname = get("dbname").unwrap_or("postgres");
    let password = get("password").map(str::to_string).or_else(|| {
        pgpass_password(
            owner,
            get("passfile").map(Path::new),
            &host,
            port,
            dbname,
            user,
        )
    });
    let to = Target {
        host: &host,
        port,
        user,
        dbname,
        application_name: "rustpgctl",
    };
    open(&to, password, owner, deadline)
}

/// Where a session goes and as whom.
struct Target<'a> {
    host: &'a Host,
    port: u16,
    user: &'a str,
    dbname: &'a str,
    application_name: &'a str,
}

/// Connect, bounded by `deadline` (never more than 10 s), with the owner's
/// effective uid for peer authentication.
fn open(
    to: &Target,
    password: Option<String>,
    owner: &OsUser,
    deadline: Deadline,
) -> Result<Session, SqlError> {
    let mut pc = postgres::Config::new();
    match to.host {
        Host::Socket(dir) => pc.host_path(dir),
        Host::Tcp(h) => pc.host(h),
    };
    pc.port(to.port)
        .user(to.user)
        .dbname(to.dbname)
        .application_name(to.application_name)
        .connect_timeout(
            deadline
                .remaining()
                .clamp(Duration::from_secs(1), Duration::from_secs(10)),
        );
    if let Some(pw) = password {
        pc.password(pw);
    }
    let started = std::time::Instant::now();
    let client = {
        let _as_owner = EffectiveUser::enter(owner).map_err(|e| SqlError {
            transient: false,
            message: format!("cannot switch to user {}: {e}", owner.name),
        })?;
        pc.connect(NoTls)
    };
    crate::ocf::trace::took(started.elapsed(), || {
        let host = match to.host {
            Host::Socket(dir) => dir.display().to_string(),
            Host::Tcp(h) => h.to_string(),
        };
        let result = client
            .as_ref()
            .map_or_else(|e| format!(": {e}"), |_| String::new());
        format!("connect to {host}:{} as {}{result}", to.port, to.user)
    });
    Ok(Session { client: client? })
}

pub struct Session {
    pub client: Client,
}

#[derive(Debug)]
pub struct SqlError {
    /// The server refused for now (starting up, shutting down).
    pub transient: bool,
    pub message: String,
}

impl From<postgres::Error> for SqlError {
    fn from(e: postgres::Error) -> SqlError {
        let transient = e.code() == Some(&SqlState::CANNOT_CONNECT_NOW);
        let message = match e.as_db_error() {
            Some(db) => format!("{}: {}", db.code().code(), db.message()),
            // "error connecting to server" alone does not say why.
            None => match std::error::Error::source(&e) {
                Some(cause) => format!("{e}: {cause}"),
                None => e.to_string(),
            },
        };
        SqlError { transient, message }
    }
}

/// Open a monitoring session, bounded by `deadline` (never more than 10 s).
pub fn connect(
    cfg: &Config,
    owner: &OsUser,
    passfile: Option<&Path>,
    deadline: Deadline,
) -> Result<Session, SqlError> {
    connect_as(Role::Monitor, cfg, owner, passfile, deadline)
}

/// `connect_as`, but while a running server refuses for now (57P03) it
/// tries again until `grace` has passed: a monitor does not call a server
/// failed that is restarting its processes after one of them crashed.
/// Once it refused, any error is tried again: the restart also ends the
/// backend that was starting for us ("connection reset by peer").
pub fn connect_patiently(
    role: Role,
    cfg: &Config,
    owner: &OsUser,
    passfile: Option<&Path>,
    deadline: Deadline,
    grace: Duration,
) -> Result<Session, SqlError> {
    let wait = Deadline::after(grace);
    let mut refused = false;
    loop {
        match connect_as(role, cfg, owner, passfile, deadline) {
            Err(e) if (e.transient || refused) && !wait.expired() => {
                if !refused {
                    crate::info!(
                        "PostgreSQL refuses connections for now ({}); waiting up to {} s.",
                        e.message,
                        grace.as_secs()
                    );
                    refused = true;
                }
                wait.sleep(Duration::from_millis(200));
            }
            result => return result,
        }
    }
}

pub fn connect_as(
    role: Role,
    cfg: &Config,
    owner: &OsUser,
    passfile: Option<&Path>,
    deadline: Deadline,
) -> Result<Session, SqlError> {
    let host = host(cfg);
    let password = password(cfg, role, owner, &host, passfile);
    let to = Target {
        host: &host,
        port: cfg.pgport,
        user: role.user(cfg),
        dbname: &cfg.pgdb,
        application_name: "pgsql-ra",
    };
    open(&to, password, owner, deadline)
}

/// One row of the primary's `pg_stat_replication`, with its replay figures.
#[derive(Debug, Clone, PartialEq)]
pub struct StandbyReport {
    /// PostgreSQL shows the details (state, positions) only to superusers
    /// and members of `pg_read_all_stats`; without them `row` is a guess.
    pub visible: bool,
    pub row: ReplicationRow,
    /// `sent_lsn`: what the primary sent it.
    pub sent: Option<Lsn>,
    pub replay: Option<Lsn>,
    /// `replay_lag`: null once the standby has replayed everything and the
    /// primary is idle.
    pub replay_lag_seconds: Option<f64>,
}

/// What a replication monitor reads from the local server, in one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerState {
    pub in_recovery: bool,
    /// The stock agent's `get_my_location`: the newer of replay and receive
    /// on a standby; the current insert position on a primary.
    pub location: Option<Lsn>,
    /// The newest timeline this server knows of.
    pub timeline: Option<u32>,
    /// `pg_stat_wal_receiver.status`, on a standby.
    pub receiver: Option<String>,
    /// `pg_stat_wal_receiver.received_tli`.
    pub received_tli: Option<u32>,
    /// `pg_last_wal_replay_lsn()`, on a standby.
    pub replay: Option<Lsn>,
    /// `pg_last_wal_receive_lsn()`, on a standby.
    pub received: Option<Lsn>,
    /// The startup process waits for new WAL: it replayed all it has (the
    /// received WAL may end in a partial record, which it never replays).
    pub replay_waits: bool,
    pub sync_standbys: String,
    /// On a primary, the timeline it writes WAL on (from the name of the
    /// segment holding its insert position, which a checkpoint does not
    /// lag behind).
    pub insert_tli: Option<u32>,
    /// `pg_postmaster_start_time()`, as text ([`Session::postmaster_start`]):
    /// which postmaster a note in tmpdir was written for.
    pub postmaster_start: String,
}

impl ServerState {
    /// The WAL receiver streams from a primary.
    pub fn streaming(&self) -> bool {
        self.receiver.as_deref() == Some("streaming")
    }

    /// On a standby: where its replay stands, for the core's
    /// [`crate::core::replication::position_final`] and
    /// [`crate::core::replication::position_settled`].
    pub fn replay_facts(&self) -> crate::core::replication::Replay {
        crate::core::replication::Replay {
            streaming: self.streaming(),
            replay: self.replay,
            received: self.received,
            replay_waits: self.replay_waits,
        }
    }
}

/// `application_name, state, sync_state, flush_lsn::text` of
/// `pg_stat_replication`. A state or sync state this agent does not know (a
/// newer PostgreSQL) reads as not streaming, asynchronous.
fn replication_row(r: &postgres::Row) -> ReplicationRow {
    let word = |i: usize| r.get::<_, Option<String>>(i).unwrap_or_default();
    ReplicationRow {
        application_name: word(0),
        state: SenderState::parse(&word(1)).unwrap_or(SenderState::Startup),
        sync: SyncRole::parse(&word(2)).unwrap_or(SyncRole::Async),
        flush: word(3).parse().ok(),
    }
}

impl Session {
    /// Everything the replication decisions need from this server.
    pub fn server_state(&mut self) -> Result<ServerState, SqlError> {
        let row = self.client.query_one(
            "select pg_is_in_recovery(), \
                    case when pg_is_in_recovery() \
                         then greatest(pg_last_wal_replay_lsn(), pg_last_wal_receive_lsn())::text \
                         else pg_current_wal_lsn()::text end, \
                    greatest((select timeline_id from pg_control_checkpoint()), \
                             (select min_recovery_end_timeline from pg_control_recovery()), \
                             (select received_tli from pg_stat_wal_receiver))::int4, \
                    (select status from pg_stat_wal_receiver), \
                    current_setting('synchronous_standby_names'), \
                    (select received_tli from pg_stat_wal_receiver)::int4, \
                    pg_last_wal_replay_lsn()::text, \
                    pg_last_wal_receive_lsn()::text, \
                    exists (select from pg_stat_activity where backend_type = 'startup' \
                            and wait_event in ('RecoveryWalStream', 'RecoveryWalAll', \
                                               'RecoveryRetrieveRetryInterval')), \
                    case when not pg_is_in_recovery() \
                         then ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int4 \
                    end, \
                    pg_postmaster_start_time()::text",
            &[],
        )?;
        let location: Option<String> = row.get(1);
        let timeline: Option<i32> = row.get(2);
        let received_tli: Option<i32> = row.get(5);
        let replay: Option<String> = row.get(6);
        let received: Option<String> = row.get(7);
        let replay_waits: bool = row.get(8);
        let insert_tli: Option<i32> = row.get(9);
        let positive = |t: Option<i32>| t.and_then(|t| u32::try_from(t).ok()).filter(|t| *t > 0);
        let in_recovery: bool = row.get(0);
        Ok(ServerState {
            in_recovery,
            location: location.and_then(|l| l.parse().ok()),
            timeline: positive(timeline),
            receiver: row.get(3),
            sync_standbys: row.get(4),
            received_tli: positive(received_tli),
            replay: replay.and_then(|l| l.parse().ok()),
            received: received.and_then(|l| l.parse().ok()),
            replay_waits,
            insert_tli: positive(insert_tli),
            postmaster_start: row.get(10),
        })
    }

    /// `pg_stat_replication`. A state or sync state this agent does not know
    /// (a newer PostgreSQL) reads as not streaming, asynchronous: it never
    /// earns a score.
    pub fn replication_rows(&mut self) -> Result<Vec<ReplicationRow>, SqlError> {
        let rows = self.client.query(
            "select application_name, state, sync_state, flush_lsn::text from pg_stat_replication",
            &[],
        )?;
        Ok(rows.iter().map(replication_row).collect())
    }

    /// What the primary knows of each standby, and its own position: the
    /// operator tool's lag figures.
    pub fn standby_report(&mut self) -> Result<(Option<Lsn>, Vec<StandbyReport>), SqlError> {
        let current = self.lsn("select pg_current_wal_lsn()::text", &[])?;
        let rows = self.client.query(
            "select application_name, state, sync_state, flush_lsn::text, replay_lsn::text, \
                    extract(epoch from replay_lag)::float8, sent_lsn::text \
             from pg_stat_replication order by application_name",
            &[],
        )?;
        let lsn = |v: Option<String>| v.and_then(|l| l.parse().ok());
        Ok((
            current,
            rows.iter()
                .map(|r| StandbyReport {
                    visible: r.get::<_, Option<String>>(1).is_some(),
                    row: replication_row(r),
                    sent: lsn(r.get(6)),
                    replay: lsn(r.get(4)),
                    replay_lag_seconds: r.get(5),
                })
                .collect(),
        ))
    }

    /// A setting as the server runs with it (`current_setting`).
    pub fn setting(&mut self, name: &str) -> Result<String, SqlError> {
        Ok(self
            .client
            .query_one("select current_setting($1)", &[&name])?
            .get(0))
    }

    /// `ALTER SYSTEM SET max_slot_wal_keep_size`, then a reload (it
    /// applies at once).
    pub fn bound_slot_wal(&mut self, bound: &str) -> Result<(), SqlError> {
        // ALTER SYSTEM takes no parameters: the value is a quoted literal.
        let literal = crate::core::quote::sql_literal(bound);
        self.client.batch_execute(&format!(
            "alter system set max_slot_wal_keep_size = {literal}"
        ))?;
        self.reload()
    }

    /// The physical replication slots and the WAL each keeps.
    pub fn slot_report(&mut self) -> Result<Vec<Slot>, SqlError> {
        // `wal_status` and `safe_wal_size` exist from PostgreSQL 13 on:
        // read through to_jsonb, they are null before.
        let rows = self.client.query(
            "select slot_name::text, active, restart_lsn::text, \
                    to_jsonb(s) ->> 'wal_status', (to_jsonb(s) ->> 'safe_wal_size')::int8 \
               from pg_replication_slots s where slot_type = 'physical' order by 1",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| Slot {
                name: r.get(0),
                active: r.get(1),
                restart: r.get::<_, Option<String>>(2).and_then(|l| l.parse().ok()),
                wal_status: r.get(3),
                safe_wal_size: r.get(4),
            })
            .collect())
    }

    /// Where `synchronous_commit` is set below `on` (`off`, `local`,
    /// `remote_write`), so that a commit is acknowledged before the sync
    /// standby flushed it: each role and database setting, and the
    /// server's own (postgresql.conf or ALTER SYSTEM) when this session
    /// got it from there.
    pub fn weak_commit_settings(&mut self) -> Result<Vec<WeakCommit>, SqlError> {
        let rows = self.client.query(
            "select coalesce('role ' || quote_ident(r.rolname), 'every role') || ' in ' || \
                    coalesce('database ' || quote_ident(d.datname), 'every database'), \
                    lower(trim(both '''' from split_part(c, '=', 2))) \
               from pg_db_role_setting s \
               left join pg_roles r on r.oid = s.setrole \
               left join pg_database d on d.oid = s.setdatabase, \
                    unnest(s.setconfig) c \
              where c like 'synchronous_commit=%' \
             union all \
             select 'the server', setting from pg_settings \
              where name = 'synchronous_commit' \
                and source not in ('database', 'user', 'database user', 'session', 'client') \
             order by 1",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| WeakCommit {
                scope: r.get(0),
                value: r.get(1),
            })
            .filter(WeakCommit::is_weak)
            .collect())
    }

    /// The primary's flushed WAL position.
    pub fn flushed(&mut self) -> Result<Option<Lsn>, SqlError> {
        self.lsn("select pg_current_wal_flush_lsn()::text", &[])
    }

    /// The one LSN (as text) a query returns; `None` when it is NULL.
    fn lsn(
        &mut self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Option<Lsn>, SqlError> {
        let v: Option<String> = self.client.query_one(sql, params)?.get(0);
        Ok(v.and_then(|l| l.parse().ok()))
    }

    /// Set synchronous_standby_names in postgresql.auto.conf, which nothing
    /// but the command line overrides, and reload.
    pub fn set_sync_standbys(&mut self, value: &str) -> Result<(), SqlError> {
        // ALTER SYSTEM takes no parameters: the value is a quoted literal.
        let literal = crate::core::quote::sql_literal(value);
        self.client.batch_execute(&format!(
            "alter system set synchronous_standby_names = {literal}"
        ))?;
        self.client.query_one("select pg_reload_conf()", &[])?;
        Ok(())
    }

    /// Write and flush a commit record that waits for no standby: the
    /// standbys then reply, and PostgreSQL re-checks the commits that wait
    /// for a synchronous standby only when a reply arrives (an idle standby
    /// replies every `wal_receiver_status_interval`, 10 s by default).
    pub fn nudge_standbys(&mut self) -> Result<(), SqlError> {
        self.client.batch_execute(
            "begin; set local synchronous_commit = local; select txid_current(); commit",
        )?;
        Ok(())
    }

    /// End every walsender (each standby reconnects at once, to a new
    /// walsender that parses the settings in effect); their process ids.
    pub fn end_walsenders(&mut self) -> Result<Vec<i32>, SqlError> {
        let rows = self.client.query(
            "select pid from pg_stat_replication where pg_terminate_backend(pid)",
            &[],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// How many of these processes still run as walsenders.
    pub fn walsenders_left(&mut self, pids: &[i32]) -> Result<i64, SqlError> {
        let row = self.client.query_one(
            "select count(*) from pg_stat_replication where pid = any($1)",
            &[&pids],
        )?;
        Ok(row.get(0))
    }

    /// `pg_postmaster_start_time()`, as text: which postmaster a note in
    /// tmpdir was written for.
    pub fn postmaster_start(&mut self) -> Result<String, SqlError> {
        let row = self
            .client
            .query_one("select pg_postmaster_start_time()::text", &[])?;
        Ok(row.get(0))
    }

    /// Whether the server is in recovery, and the timeline of its last
    /// completed checkpoint as its control file records it.
    pub fn control_timeline(&mut self) -> Result<(bool, u32), SqlError> {
        let row = self.client.query_one(
            "select pg_is_in_recovery(), timeline_id from pg_control_checkpoint()",
            &[],
        )?;
        let tli: i32 = row.get(1);
        Ok((row.get(0), u32::try_from(tli).unwrap_or(0)))
    }

    /// The redo point of the last completed checkpoint (where the WAL
    /// stood when it began).
    pub fn checkpoint_redo(&mut self) -> Result<Option<Lsn>, SqlError> {
        self.lsn("select redo_lsn::text from pg_control_checkpoint()", &[])
    }

    /// A WAL record of the agent's that waits for no standby
    /// (`pg_logical_emit_message`, not transactional); where it ends.
    pub fn wal_mark(&mut self, what: &str) -> Result<Option<Lsn>, SqlError> {
        self.lsn(
            "select pg_logical_emit_message(false, 'rustpg', $1)::text",
            &[&what],
        )
    }

    /// `CHECKPOINT`, waiting `timeout` at most (the checkpoint goes on in
    /// the checkpointer if the wait is cancelled).
    pub fn checkpoint(&mut self, timeout: Duration) -> Result<(), SqlError> {
        self.client.batch_execute(&format!(
            "set statement_timeout = {}; checkpoint; reset statement_timeout",
            timeout.as_millis()
        ))?;
        Ok(())
    }

    /// `pg_reload_conf()`.
    pub fn reload(&mut self) -> Result<(), SqlError> {
        self.client.query_one("select pg_reload_conf()", &[])?;
        Ok(())
    }

    /// `pg_promote(wait => false)`, then `pg_is_in_recovery()` every 10 ms
    /// until it is false (true) or the deadline passes (false):
    /// `pg_promote`'s own wait looks only every 100 ms.
    /// Let replay go on if it was paused (`pg_wal_replay_pause()`); true
    /// when it was. Before PostgreSQL 13 a promotion waits for a paused
    /// standby to be resumed; from 13 the promotion itself ends the pause.
    pub fn resume_replay(&mut self) -> Result<bool, SqlError> {
        let paused: bool = self
            .client
            .query_one("select pg_is_wal_replay_paused()", &[])?
            .get(0);
        if paused {
            self.client.execute("select pg_wal_replay_resume()", &[])?;
        }
        Ok(paused)
    }

    pub fn promote(&mut self, deadline: Deadline) -> Result<bool, SqlError> {
        self.client.query_one("select pg_promote(false)", &[])?;
        self.left_recovery(deadline)
    }

    /// Whether the server leaves recovery before the deadline (polled
    /// every 10 ms).
    /// The server is a primary (not in recovery).
    pub fn is_primary(&mut self) -> Result<bool, SqlError> {
        let row = self.client.query_one("select pg_is_in_recovery()", &[])?;
        Ok(!row.get::<_, bool>(0))
    }

    pub fn left_recovery(&mut self, deadline: Deadline) -> Result<bool, SqlError> {
        let client = &mut self.client;
        let left = deadline.poll(Duration::from_millis(10), || {
            let row = client.query_one("select pg_is_in_recovery()", &[]).ok()?;
            (!row.get::<_, bool>(0)).then_some(())
        });
        Ok(left.is_some())
    }

    pub fn slots(&mut self) -> Result<Vec<String>, SqlError> {
        let rows = self
            .client
            .query("select slot_name::text from pg_replication_slots", &[])?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    pub fn create_slot(&mut self, name: &str) -> Result<(), SqlError> {
        self.client
            .query_one("select pg_create_physical_replication_slot($1)", &[&name])?;
        Ok(())
    }

    pub fn drop_slot(&mut self, name: &str) -> Result<(), SqlError> {
        self.client
            .query_one("select pg_drop_replication_slot($1)", &[&name])?;
        Ok(())
    }

    /// Run monitor_sql (any statements), then ask whether we are a standby.
    pub fn probe(&mut self, monitor_sql: &str) -> Result<bool, SqlError> {
        self.client.simple_query(monitor_sql)?;
        let row = self.client.query_one("select pg_is_in_recovery()", &[])?;
        Ok(row.get(0))
    }
}

/// Connect and probe in one step, classified for the decision core;
/// `grace` as in [`connect_patiently`].
pub fn probe(
    cfg: &Config,
    owner: &OsUser,
    passfile: Option<&Path>,
    deadline: Deadline,
    grace: Duration,
) -> SqlProbe {
    let result = connect_patiently(Role::Monitor, cfg, owner, passfile, deadline, grace)
        .and_then(|mut s| s.probe(&cfg.monitor_sql));
    match result {
        Ok(in_recovery) => SqlProbe::Answered { in_recovery },
        Err(e) if e.transient => SqlProbe::NotYet(e.message),
        Err(e) => SqlProbe::Failed(e.message),
    }
}
