//! `auto_rewind`'s steps at start: crash recovery, then what
//! `core::replication::rejoin` decides (follow as is, or `pg_rewind` from
//! the promoted node), then the lock that streaming will lift.

use super::*;
use crate::core::replication::Rejoin;
use crate::io::command::{self, Cmd};

/// Returns the lock the start goes on with; on a refusal, the lock and the
/// data are as they were.
/// `primary`: the promoted node to rejoin.
pub(super) fn rejoin(r: &Replica, primary: &str, diverged: bool) -> Result<Lock> {
    let i = r.i;
    crash_recovery(r)?;
    let control = lifecycle::control_file(i)?;
    let published = r.crm.history(primary);
    let refused = |why: &str| {
        AgentError::generic(format!(
            "auto_rewind refused: {why}; {} and the data are kept",
            r.files.lock().display()
        ))
    };
    let facts = rep::RejoinFacts {
        control: &control,
        diverged,
        wal_tli: wal_timeline(r),
        primary,
        published: published.as_deref(),
    };
    let lock = match rep::rejoin_plan(&facts) {
        Rejoin::Refuse(why) => return Err(refused(&why)),
        Rejoin::Follow { lock } => {
            crate::info!(
                "auto_rewind: this node ({} on timeline {}) did not go past {primary}'s fork: \
                 it follows it as it is.",
                control.checkpoint,
                control.timeline
            );
            lock
        }
        Rejoin::Rewind {
            fork,
            end,
            tli,
            lock,
        } => {
            rewind_source_ready(r, primary, published.as_deref()).map_err(|why| refused(&why))?;
            rewind(r, primary).map_err(|e| {
                if e.rc() == OcfRc::ErrInstalled {
                    e
                } else {
                    refused(e.reason())
                }
            })?;
            let end = end.map_or("the end of its WAL".to_string(), |e| {
                format!("its last checkpoint at {e}")
            });
            crate::warn!(
                "auto_rewind: pg_rewind from {primary} discarded this node's WAL on timeline \
                 {tli} from {fork} through {end}. It was written after {primary}'s timeline \
                 forked, so no sync standby acknowledged it: no acknowledged commit is lost."
            );
            lock
        }
    };
    if let Lock::CleanDemote { checkpoint, tli } = lock {
        r.files
            .mark_clean_demote(&Lock::clean_demote_text(checkpoint, tli))?;
    }
    Ok(lock)
}

/// A data directory that did not shut down cleanly runs crash recovery in
/// single-user mode (which ends with a shutdown checkpoint). Single-user
/// mode refuses the standby files, which are the agent's own: the start
/// writes them again.
fn crash_recovery(r: &Replica) -> Result<()> {
    let i = r.i;
    lifecycle::stop_server(i, i.cfg.stop_escalate)?;
    if lifecycle::control_file(i)?.cleanly_shut_down() {
        return Ok(());
    }
    r.files.leave_recovery(r.model())?;
    crate::info!("auto_rewind: crash recovery in single-user mode.");
    let postgres = i.pgctl.with_file_name("postgres");
    let cmd = Cmd::new(&postgres)
        .args(["--single".to_string(), "-D".into()])
        .arg(&i.cfg.pgdata)
        .args([
            "-c".to_string(),
            format!("config_file={}", i.cfg.config.display()),
        ])
        .arg("template1")
        .env("LD_LIBRARY_PATH", i.cfg.pglibs.clone());
    let out = command::run(&cmd, Some(&i.owner), i.deadline)?;
    if !out.success() {
        return Err(AgentError::generic(format!(
            "auto_rewind: crash recovery failed: {}",
            out.last_line()
        )));
    }
    Ok(())
}

/// Ask the rewind source (as pg_rewind will reach it) whether pg_rewind may
/// read it now (`rep::rewind_source_ready`). When this session can't reach
/// it (pg_rewind may use connection options it does not: TLS, several
/// hosts), pg_rewind decides alone, as before this check.
fn rewind_source_ready(
    r: &Replica,
    primary: &str,
    published: Option<&str>,
) -> std::result::Result<(), String> {
    let published_tli = published
        .and_then(crate::core::timeline::History::from_wire)
        .map_or(0, |h| h.tli);
    let source = r.standby_settings().rewind_source();
    let answer = crate::core::quote::parse_conninfo(&source).and_then(|pairs| {
        pg::connect_conninfo(&pairs, &r.i.owner, r.i.deadline)
            .and_then(|mut s| s.control_timeline())
            .map_err(|e| {
                crate::warn!(
                    "auto_rewind: can't ask {primary} for its timeline ({}): pg_rewind decides",
                    e.message
                )
            })
            .ok()
    });
    match answer {
        Some((in_recovery, checkpoint_tli)) => {
            rep::rewind_source_ready(primary, published_tli, in_recovery, checkpoint_tli)
        }
        None => Ok(()),
    }
}

/// `pg_rewind` from the primary (through `master_ip`, as `repuser`). It
/// copies the source's configuration files too: this node's own top-level
/// `*.conf` files are put back (`postgresql.auto.conf` excepted: the
/// agent rewrites its own lines there at start).
fn rewind(r: &Replica, primary: &str) -> Result<()> {
    let i = r.i;
    let program = i.pgctl.with_file_name("pg_rewind");
    if !crate::io::binaries::is_executable(&program) {
        return Err(AgentError::installed(format!(
            "auto_rewind: {} is missing: install PostgreSQL {}'s pg_rewind, or turn auto_rewind off",
            program.display(),
            i.major.0
        )));
    }
    let own = r.files.own_config_files()?;
    crate::info!("auto_rewind: pg_rewind from {primary}.");
    let source = r.standby_settings().rewind_source();
    let cmd = Cmd::new(&program)
        .arg(format!("--target-pgdata={}", i.cfg.pgdata.display()))
        .arg(format!("--source-server={source}"))
        .env("LD_LIBRARY_PATH", i.cfg.pglibs.clone());
    let out = command::run(&cmd, Some(&i.owner), i.deadline)?;
    r.files.restore_config_files(&own)?;
    if !out.success() {
        return Err(AgentError::generic(format!(
            "pg_rewind failed: {}",
            out.last_line()
        )));
    }
    Ok(())
}
