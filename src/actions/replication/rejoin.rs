//! `auto_rewind`'s steps at start: crash recovery, then what
//! `core::replication::rejoin` decides (follow as is, or `pg_rewind` from
//! the promoted node), then the lock that streaming will lift.

use super::*;
use crate::core::replication::{Rejoin, ResyncStep, RewindRecord, Unfinished};
use crate::io::command::{self, Cmd};
use crate::io::statefiles::StateFiles;
use crate::ocf::trace;

/// Returns the lock the start goes on with; on a refusal, the lock and the
/// data are as they were.
/// `primary`: the promoted node to rejoin.
pub(super) fn rejoin(r: &Replica, primary: &str, diverged: bool) -> Result<Lock> {
    let i = r.i;
    // The log says where the lock is, kept with the data.
    let refused = |why: AgentError| {
        let lock = r.files.lock();
        why.in_context(
            |why| format!("{}{why}", rep::REFUSED),
            |why| {
                format!(
                    "{}{why}; {} and the data are kept",
                    rep::REFUSED,
                    lock.display()
                )
            },
        )
        .into_generic()
    };
    match rep::unfinished_rewind(&unfinished_facts(r)) {
        Unfinished::No => {}
        Unfinished::Refuse(why) => return Err(refused(why)),
        Unfinished::Steps(steps) => {
            resync(r, primary, &steps).map_err(|e| match e.rc() {
                OcfRc::ErrInstalled => e,
                _ => refused(e.in_context(
                    |why| format!("auto_resync: {why}"),
                    |why| format!("auto_resync: {why}"),
                )),
            })?;
            crate::warn!(
                "auto_resync: a new base backup from the primary replaced the data directory, \
                 which a pg_rewind had left unfinished; the old data is in {}. The WAL the \
                 rewind was discarding was written after {primary}'s timeline forked, so no sync \
                 standby acknowledged it: no acknowledged commit is lost.",
                r.files.resync_aside().display()
            );
            return Ok(Lock::Absent);
        }
    }
    crash_recovery(r)?;
    let control = lifecycle::control_file(i)?;
    let published = r.crm.history(primary);
    let facts = rep::RejoinFacts {
        control: &control,
        diverged,
        wal_tli: wal_timeline(r),
        primary,
        published: published.as_deref(),
    };
    let lock = match rep::rejoin_plan(&facts) {
        Rejoin::Refuse(why) => return Err(refused(why)),
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
            rewind_source_ready(r, primary, published.as_deref()).map_err(refused)?;
            rewind(r, primary).map_err(|e| match e.rc() {
                OcfRc::ErrInstalled => e,
                _ => refused(e),
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

/// What the core needs to know about a rewind that did not finish: the
/// record, and the directories beside the data directory.
fn unfinished_facts(r: &Replica) -> rep::UnfinishedFacts {
    let files = &r.files;
    rep::UnfinishedFacts {
        found: files.rewind_record(),
        auto_resync: r.i.cfg.auto_resync,
        pgdata_fixed: files.pgdata_fixed(),
        tablespaces: files.has_tablespaces(),
        pgdata_label: StateFiles::old_data_label(&r.i.cfg.pgdata),
        scratch: StateFiles::beside(&files.resync_scratch()),
        aside: StateFiles::beside(&files.resync_aside()),
        new_token: crate::io::clock::unix_millis(),
    }
}

/// Perform a resynchronisation's steps in order.
fn resync(r: &Replica, primary: &str, steps: &[ResyncStep]) -> Result<()> {
    let files = &r.files;
    for step in steps {
        trace::step(&step);
        match *step {
            ResyncStep::CheckSource => {
                let published = r.crm.history(primary);
                rewind_source_ready(r, primary, published.as_deref()).map_err(|why| {
                    why.in_context(
                        |why| why.to_string(),
                        |why| format!("the copy waits: {why}"),
                    )
                })?
            }
            ResyncStep::RemoveScratch => files.remove_own_dir(&files.resync_scratch())?,
            ResyncStep::RemoveAside => files.remove_own_dir(&files.resync_aside())?,
            ResyncStep::RecordResync(token) => {
                files.set_rewind_record(RewindRecord::Resyncing(token))?
            }
            ResyncStep::BaseBackup => base_backup(r, primary)?,
            ResyncStep::CopyOwnConfig => files.copy_own_config_into(&files.resync_scratch())?,
            ResyncStep::LabelOldData(token) => files.label_old_data(token)?,
            ResyncStep::Exchange => files.exchange_with_scratch()?,
            ResyncStep::SetOldDataAside => files.set_old_data_aside()?,
            ResyncStep::RemoveLock => files.remove_lock("it is a new copy of the primary")?,
            ResyncStep::ForgetRecord => files.set_rewind_record(RewindRecord::None)?,
        }
    }
    Ok(())
}

/// `pg_basebackup` from the primary (through `master_ip`, as `repuser`)
/// into the scratch directory, with the WAL it needs. Its connections
/// carry their own application_name, so that the primary never takes
/// them for this node's standby in `synchronous_standby_names`.
fn base_backup(r: &Replica, primary: &str) -> Result<()> {
    let i = r.i;
    let program = pg_program(i, "pg_basebackup", "auto_resync")?;
    let scratch = r.files.resync_scratch();
    // Made by root: the data directory's parent need not be the owner's.
    crate::io::fsutil::ensure_dir(&scratch, &i.owner, 0o700, "auto_resync")?;
    crate::info!(
        "auto_resync: pg_basebackup from {primary} into {}.",
        scratch.display()
    );
    let source = format!(
        "{} {}",
        r.standby_settings(None).primary_conninfo(),
        crate::core::quote::conninfo_pair("application_name", "rustpg_resync")
    );
    let cmd = Cmd::new(&program)
        .arg(format!("--pgdata={}", scratch.display()))
        .arg(format!("--dbname={source}"))
        .args(["--wal-method=stream", "--checkpoint=fast", "--no-password"]);
    run_as_owner(i, cmd, "pg_basebackup failed")
}

/// A PostgreSQL program beside `pg_ctl`; missing, OCF_ERR_INSTALLED
/// naming the parameter that needs it.
fn pg_program(i: &Instance, name: &str, param: &str) -> Result<std::path::PathBuf> {
    let program = i.pgctl.with_file_name(name);
    if !crate::io::binaries::is_executable(&program) {
        return Err(AgentError::installed(format!(
            "{param}: {} is missing: install PostgreSQL {}'s {name}, or turn {param} off",
            program.display(),
            i.major.0
        )));
    }
    Ok(program)
}

/// Run a PostgreSQL program as the database owner, with the instance's
/// libraries, within the action's deadline; a failure is `failed` and the
/// program's last line.
fn run_as_owner(i: &Instance, cmd: Cmd, failed: &str) -> Result<()> {
    let cmd = cmd.env("LD_LIBRARY_PATH", i.cfg.pglibs.clone());
    let out = command::run(&cmd, Some(&i.owner), i.deadline)?;
    if !out.success() {
        return Err(AgentError::generic(format!(
            "{failed}: {}",
            out.last_line()
        )));
    }
    Ok(())
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
        .arg("template1");
    run_as_owner(i, cmd, "auto_rewind: crash recovery failed")
}

/// Ask the rewind source (as pg_rewind will reach it) whether pg_rewind may
/// read it now (`rep::rewind_source_ready`). When this session can't reach
/// it (pg_rewind may use connection options it does not: TLS, several
/// hosts), pg_rewind decides alone, as before this check.
fn rewind_source_ready(r: &Replica, primary: &str, published: Option<&str>) -> Result<()> {
    let published_tli = published
        .and_then(crate::core::timeline::History::from_wire)
        .map_or(0, |h| h.tli);
    let source = r.standby_settings(None).rewind_source();
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

/// `pg_rewind` from the primary (through `master_ip`, as `repuser`), first
/// with `--dry-run`, which changes nothing: a failure there (a refused
/// connection, missing rights) leaves the data as it was. Only then is the
/// rewind recorded as unfinished until it succeeds. It copies the source's
/// configuration files too: this node's own top-level `*.conf` files are
/// kept in tmpdir while it runs and put back (`postgresql.auto.conf`
/// excepted: the agent rewrites its own lines there at start).
fn rewind(r: &Replica, primary: &str) -> Result<()> {
    let i = r.i;
    let program = pg_program(i, "pg_rewind", "auto_rewind")?;
    let own = r.files.own_config_files()?;
    let source = r.standby_settings(None).rewind_source();
    let run = |dry_run: bool, failed: &str| {
        let mut cmd = Cmd::new(&program)
            .arg(format!("--target-pgdata={}", i.cfg.pgdata.display()))
            .arg(format!("--source-server={source}"));
        if dry_run {
            cmd = cmd.arg("--dry-run");
        }
        run_as_owner(i, cmd, failed)
    };
    run(true, "pg_rewind failed")?;
    crate::info!("auto_rewind: pg_rewind from {primary}.");
    r.files.stash_config(&own)?;
    r.files.set_rewind_record(RewindRecord::Rewinding)?;
    // The way out before pg_rewind's last line, which may be long.
    let rewound = run(
        false,
        "pg_rewind failed while it ran (resync it, or set auto_resync=true)",
    );
    r.files.restore_config_files(&own)?;
    rewound.map_err(|e| {
        let long = format!(
            "{}; the data directory needs a new base backup (auto_resync=true makes the next \
             start take one)",
            e.reason()
        );
        e.with_detail(long)
    })?;
    r.files.set_rewind_record(RewindRecord::None)
}
