//! SQL against the local PostgreSQL, spoken directly (no psql process).
//! We connect as `monitor_user` (else pgdba) through `pghost`, else
//! `socketdir`, else the default socket directory; for peer authentication
//! the effective uid is the database owner's while connecting.

use crate::config::Config;
use crate::core::decide::SqlProbe;
use crate::core::pgpass;
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

/// monitor_password, else the owner's .pgpass (or PGPASSFILE). libpq
/// ignores a pgpass file that others can read; so do we.
fn password(cfg: &Config, owner: &OsUser, host: &Host, passfile: Option<&Path>) -> Option<String> {
    if let Some(p) = &cfg.monitor_password {
        return Some(p.clone());
    }
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
    pgpass::lookup(&text, &names, cfg.pgport, &cfg.pgdb, cfg.sql_user())
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
            None => e.to_string(),
        };
        SqlError { transient, message }
    }
}

/// Open a session, bounded by `deadline` (and never more than 10 s).
pub fn connect(
    cfg: &Config,
    owner: &OsUser,
    passfile: Option<&Path>,
    deadline: Deadline,
) -> Result<Session, SqlError> {
    let host = host(cfg);
    let mut pc = postgres::Config::new();
    match &host {
        Host::Socket(dir) => pc.host_path(dir),
        Host::Tcp(h) => pc.host(h),
    };
    pc.port(cfg.pgport)
        .user(cfg.sql_user())
        .dbname(&cfg.pgdb)
        .application_name("pgsql-ra")
        .connect_timeout(
            deadline
                .remaining()
                .clamp(Duration::from_secs(1), Duration::from_secs(10)),
        );
    if let Some(pw) = password(cfg, owner, &host, passfile) {
        pc.password(pw);
    }
    let client = {
        let _as_owner = EffectiveUser::enter(owner).map_err(|e| SqlError {
            transient: false,
            message: format!("cannot switch to user {}: {e}", owner.name),
        })?;
        pc.connect(NoTls)?
    };
    Ok(Session { client })
}

impl Session {
    /// Run monitor_sql (any statements), then ask whether we are a standby.
    pub fn probe(&mut self, monitor_sql: &str) -> Result<bool, SqlError> {
        self.client.simple_query(monitor_sql)?;
        let row = self.client.query_one("select pg_is_in_recovery()", &[])?;
        Ok(row.get(0))
    }
}

/// Connect and probe in one step, classified for the decision core.
pub fn probe(
    cfg: &Config,
    owner: &OsUser,
    passfile: Option<&Path>,
    deadline: Deadline,
) -> SqlProbe {
    let result =
        connect(cfg, owner, passfile, deadline).and_then(|mut s| s.probe(&cfg.monitor_sql));
    match result {
        Ok(in_recovery) => SqlProbe::Answered { in_recovery },
        Err(e) if e.transient => SqlProbe::NotYet(e.message),
        Err(e) => SqlProbe::Failed(e.message),
    }
}
