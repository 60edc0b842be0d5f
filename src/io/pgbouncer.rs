//! PgBouncer's admin console: `PAUSE` and `RESUME`, so that a planned
//! switchover looks like a pause to clients rather than an error.
//!
//! `PAUSE` waits for every in-flight query (in transaction pooling, every
//! transaction) to finish, then closes PgBouncer's server connections; new
//! queries wait until `RESUME`, which opens fresh connections, to wherever
//! the address PgBouncer points at (the PostgreSQL VIP) is by then.

use crate::core::quote::parse_conninfo;
use crate::io::clock::Deadline;
use crate::io::pg;
use crate::io::user::OsUser;
use std::sync::mpsc;
use std::time::Duration;

/// The default port and admin user of Debian's pgbouncer.
pub const DEFAULT_PORT: u16 = 6432;
pub const DEFAULT_ADMIN: &str = "pgbouncer";

/// One PgBouncer's admin console, as conninfo pairs.
#[derive(Debug, Clone)]
pub struct PgBouncer {
    /// How the operator named it: the conninfo, or `NODE:PORT`.
    pub at: String,
    pairs: Vec<(String, String)>,
}

impl PgBouncer {
    /// The PgBouncer of a cluster node, reached by the node's name.
    pub fn on_node(node: &str) -> PgBouncer {
        Self::admin_console(
            format!("{node}:{DEFAULT_PORT}"),
            vec![("host".into(), node.into())],
        )
    }

    /// A PgBouncer named by libpq conninfo.
    pub fn from_conninfo(conninfo: &str) -> Result<PgBouncer, String> {
        let pairs = parse_conninfo(conninfo)
            .ok_or_else(|| format!("{conninfo:?} is not valid conninfo"))?;
        Ok(Self::admin_console(conninfo.to_string(), pairs))
    }

    /// Its admin console: the default port and admin user where `pairs`
    /// name none, and always the database `pgbouncer`.
    fn admin_console(at: String, mut pairs: Vec<(String, String)>) -> PgBouncer {
        pairs.retain(|(k, _)| k != "dbname");
        for (key, default) in [
            ("port", DEFAULT_PORT.to_string()),
            ("user", DEFAULT_ADMIN.into()),
        ] {
            if !pairs.iter().any(|(k, _)| k == key) {
                pairs.push((key.into(), default));
            }
        }
        pairs.push(("dbname".into(), "pgbouncer".into()));
        PgBouncer { at, pairs }
    }

    /// `PAUSE`, waiting at most until `deadline` for in-flight
    /// transactions. A pause that runs out of time is taken back with
    /// `RESUME` before this returns the error.
    pub fn pause(&self, owner: &OsUser, deadline: Deadline) -> Result<(), String> {
        let mut session = self.session(owner, deadline)?;
        // The admin console has no statement timeout: the command waits in
        // a thread of its own, and the deadline is kept here.
        let (done, outcome) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(session.client.simple_query("PAUSE").map(drop));
        });
        match outcome.recv_timeout(deadline.remaining()) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!(
                "PgBouncer at {} refused PAUSE: {}",
                self.at,
                pg::SqlError::from(e).message
            )),
            Err(_) => {
                let resumed = self.resume(owner, Deadline::after(Duration::from_secs(10)));
                Err(format!(
                    "PgBouncer at {} did not pause in time (a long transaction through it?){}",
                    self.at,
                    match resumed {
                        Ok(()) => String::new(),
                        Err(e) => format!("; {e}"),
                    }
                ))
            }
        }
    }

    /// `RESUME`. A PgBouncer that is not paused (it restarted, say) is
    /// already where this leaves it.
    pub fn resume(&self, owner: &OsUser, deadline: Deadline) -> Result<(), String> {
        let mut session = self
            .session(owner, deadline)
            .map_err(|e| format!("{e} to resume it (a PgBouncer that restarted is not paused)"))?;
        match session.client.simple_query("RESUME") {
            Ok(_) => Ok(()),
            Err(e) => {
                let why = pg::SqlError::from(e).message;
                if why.to_lowercase().contains("not paused") {
                    return Ok(());
                }
                Err(format!(
                    "PgBouncer at {} could NOT be resumed: {why}; run RESUME on its admin console",
                    self.at
                ))
            }
        }
    }

    fn session(&self, owner: &OsUser, deadline: Deadline) -> Result<pg::Session, String> {
        pg::connect_conninfo(&self.pairs, owner, deadline).map_err(|e| {
            format!(
                "cannot reach PgBouncer's admin console at {}: {}",
                self.at, e.message
            )
        })
    }
}
