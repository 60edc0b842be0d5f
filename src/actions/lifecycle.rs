//! start and stop of the PostgreSQL instance.

use super::validate::Instance;
use crate::core::controldata::ControlFile;
use crate::core::decide::{self, Postmaster, SqlProbe};
use crate::core::quote::shell_word;
use crate::error::{AgentError, Result};
use crate::io::clock::Deadline;
use crate::io::command::{self, Cmd, Output};
use crate::io::{fsutil, pg, postmaster, user};
use crate::ocf::rc::OcfRc;
use std::time::Duration;

/// How often a start tries to connect while PostgreSQL comes up.
const ANSWER_POLL: Duration = Duration::from_millis(50);
/// How often a stop looks whether the postmaster exited (a signal 0 and a
/// read of /proc: cheap), so that a demote does not wait for nothing.
const EXIT_POLL: Duration = Duration::from_millis(20);

/// Start PostgreSQL and wait until it answers SQL. Succeeds at once on an
/// instance that already runs and answers.
pub fn start(i: &Instance) -> Result<OcfRc> {
    if let Postmaster::Alive { pid } = postmaster::observe(&i.cfg.pgdata) {
        crate::info!("PostgreSQL is already running. PID={pid}");
    }
    start_server(i).map(|()| OcfRc::Success)
}

/// Start the server unless it runs, then wait until it answers SQL.
pub fn start_server(i: &Instance) -> Result<()> {
    if let Postmaster::Alive { .. } = postmaster::observe(&i.cfg.pgdata) {
        return wait_until_answering(i);
    }
    prepare_files(i)?;
    let logged = fsutil::size(&i.cfg.logfile);
    let out = pg_ctl(i, start_args(i), i.deadline)?;
    if !out.success() {
        // The server's own last word (in what this start logged) says more
        // than pg_ctl's.
        let log = fsutil::tail_since(&i.cfg.logfile, logged, 8192).unwrap_or_default();
        let why = decide::start_failure_reason(&log).unwrap_or_else(|| out.last_line());
        return Err(
            AgentError::generic(format!("Can't start PostgreSQL: {why} (see logfile)"))
                .with_detail(format!(
                    "Can't start PostgreSQL: pg_ctl start failed ({why}); see logfile {}",
                    i.cfg.logfile.display()
                )),
        );
    }
    crate::info!("PostgreSQL start command sent.");
    wait_until_answering(i)
}

fn wait_until_answering(i: &Instance) -> Result<()> {
    let mut last = String::from("no answer yet");
    let answered = i.deadline.poll(ANSWER_POLL, || {
        if let Postmaster::Dead { .. } | Postmaster::Absent = postmaster::observe(&i.cfg.pgdata) {
            last = "the postmaster exited".into();
            return Some(false);
        }
        // This loop is the wait: no grace inside it.
        match pg::probe(
            &i.cfg,
            &i.owner,
            i.passfile.as_deref(),
            i.deadline,
            Duration::ZERO,
        ) {
            SqlProbe::Answered { .. } => Some(true),
            SqlProbe::NotYet(why) | SqlProbe::Failed(why) => {
                crate::debug!("PostgreSQL still hasn't started yet: {why}");
                last = why;
                None
            }
        }
    });
    match answered {
        Some(true) => {
            crate::info!("PostgreSQL is started.");
            Ok(())
        }
        _ => Err(AgentError::generic(format!(
            "PostgreSQL did not accept connections within the start timeout: {last}"
        ))
        .with_detail(format!(
            "PostgreSQL did not accept connections within the start timeout: {last}; see logfile {}",
            i.cfg.logfile.display()
        ))),
    }
}

/// The log file and socket directory PostgreSQL needs, as the stock agent
/// prepares them. Existing files are never truncated or re-owned.
fn prepare_files(i: &Instance) -> Result<()> {
    fsutil::ensure_file(&i.cfg.logfile, &i.owner, "logfile")?;
    if !user::can_write(&i.owner, &i.cfg.logfile) {
        return Err(unwritable_logfile(&i.owner.name, &i.cfg.logfile));
    }
    if let Some(dir) = &i.cfg.socketdir {
        fsutil::ensure_dir(dir, &i.owner, 0o2775, "socketdir")?;
        if !user::can_write(&i.owner, dir) {
            return Err(unwritable_socketdir(&i.owner.name, dir));
        }
    }
    Ok(())
}

fn unwritable_logfile(user: &str, logfile: &std::path::Path) -> AgentError {
    AgentError::perm(format!(
        "{user} can't write to the log file {}: give it access or fix logfile",
        logfile.display()
    ))
}

fn unwritable_socketdir(user: &str, dir: &std::path::Path) -> AgentError {
    AgentError::perm(format!(
        "{user} can't create files in {}; fix its permissions or socketdir",
        dir.display()
    ))
}

/// `pg_ctl [ctl_opt] -D pgdata -l logfile -o '<server options>' -w -t N start`:
/// pg_ctl waits (within our deadline) until the server is ready or has
/// exited. pg_ctl hands the `-o` string to /bin/sh, so every word in it is
/// quoted.
fn start_args(i: &Instance) -> Vec<String> {
    let c = &i.cfg;
    let mut server = vec![
        "-c".to_string(),
        shell_word(&format!("config_file={}", c.config.display())),
    ];
    if let Some(h) = c.pghost.as_ref().filter(|h| !h.starts_with('/')) {
        server.extend(["-h".to_string(), shell_word(h)]);
    }
    server.extend(c.start_opt.iter().map(|w| shell_word(w)));
    let mut args = c.ctl_opt.clone();
    args.extend(["-D".into(), c.pgdata.display().to_string()]);
    args.extend(["-l".into(), c.logfile.display().to_string()]);
    let wait_secs = i.deadline.remaining().as_secs().saturating_sub(1).max(1);
    args.extend([
        "-o".into(),
        server.join(" "),
        "-w".into(),
        "-t".into(),
        wait_secs.to_string(),
    ]);
    args.push("start".into());
    args
}

/// Stop PostgreSQL. Succeeds on a stopped instance.
pub fn stop(i: &Instance) -> Result<OcfRc> {
    stop_server(i, i.cfg.stop_escalate).map(|_| OcfRc::Success)
}

/// How a stop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Nothing was running (a stale postmaster.pid was cleaned up).
    Already,
    /// `-m fast`: a shutdown checkpoint was written.
    Fast,
    /// `-m immediate`: the next start runs crash recovery.
    Immediate,
}

/// `-m fast`, then `-m immediate` after `stop_escalate` seconds, all within
/// the operation timeout.
pub fn stop_server(i: &Instance, stop_escalate: u64) -> Result<Stopped> {
    let pid = match postmaster::observe(&i.cfg.pgdata) {
        Postmaster::Absent => {
            crate::info!("PostgreSQL is already stopped.");
            return Ok(Stopped::Already);
        }
        Postmaster::Dead { pid } => {
            remove_stale_pid_file(i, pid)?;
            return Ok(Stopped::Already);
        }
        Postmaster::Alive { pid } => pid,
    };
    let timeout_secs = i.ocf.timeout_ms.map(|ms| ms / 1000);
    let escalate = decide::stop_escalation_secs(stop_escalate, timeout_secs);
    if escalate != stop_escalate {
        crate::info!(
            "stop_escalate time is adjusted to {escalate} based on the configured timeout."
        );
    }
    if escalate > 0 {
        pg_ctl(i, stop_args(i, "fast"), i.deadline)?;
        let fast_deadline = Deadline::after(Duration::from_secs(escalate));
        if wait_for_exit(pid, fast_deadline) {
            return finish_stop(i, pid, Stopped::Fast);
        }
        crate::info!(
            "PostgreSQL failed to stop after {escalate}s using -m fast. Trying -m immediate..."
        );
    }
    pg_ctl(i, stop_args(i, "immediate"), i.deadline)?;
    if wait_for_exit(pid, i.deadline) {
        return finish_stop(i, pid, Stopped::Immediate);
    }
    Err(AgentError::generic(format!(
        "PostgreSQL (pid {pid}) did not stop within the stop timeout, even with -m immediate"
    )))
}

fn stop_args(i: &Instance, mode: &str) -> Vec<String> {
    let pgdata = i.cfg.pgdata.display().to_string();
    ["-W", "-D", &pgdata, "stop", "-m", mode]
        .map(String::from)
        .to_vec()
}

fn wait_for_exit(pid: i32, deadline: Deadline) -> bool {
    deadline
        .poll(EXIT_POLL, || {
            (!postmaster::is_postgres_alive(pid)).then_some(())
        })
        .is_some()
}

fn finish_stop(i: &Instance, pid: i32, how: Stopped) -> Result<Stopped> {
    // After -m immediate the file may stay behind; its pid is gone.
    if postmaster::pid_file_path(&i.cfg.pgdata).exists() {
        remove_stale_pid_file(i, pid)?;
    }
    crate::info!("PostgreSQL is down");
    Ok(how)
}

/// The data directory's `global/pg_control` (`core::controldata`).
pub fn control_file(i: &Instance) -> Result<ControlFile> {
    let path = i.cfg.pgdata.join("global/pg_control");
    let bytes = std::fs::read(&path)
        .map_err(|e| AgentError::generic(format!("can't read {}: {e}", path.display())))?;
    ControlFile::parse(&bytes).map_err(|e| AgentError::generic(format!("{}: {e}", path.display())))
}

/// A postmaster.pid whose process is gone (checked just before) only makes
/// the next monitor report a crash; the data is untouched.
fn remove_stale_pid_file(i: &Instance, pid: i32) -> Result<()> {
    let path = postmaster::pid_file_path(&i.cfg.pgdata);
    if postmaster::read_pid_file(&i.cfg.pgdata)
        .is_some_and(|p| postmaster::is_postgres_alive(p.pid))
    {
        return Err(AgentError::generic(format!(
            "{} changed while stopping; retry",
            path.display()
        )));
    }
    crate::info!(
        "removing {} left by pid {pid}, which is not running",
        path.display()
    );
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(AgentError::generic(format!(
            "can't remove {}: {e}",
            path.display()
        ))),
    }
}

/// Before 12 (no `pg_promote()`): `pg_ctl promote -w`, within the
/// deadline.
pub fn pg_ctl_promote(i: &Instance, deadline: Deadline) -> Result<()> {
    let secs = deadline.remaining().as_secs().max(1).to_string();
    let pgdata = i.cfg.pgdata.to_string_lossy().into_owned();
    let args = ["promote", "-w", "-t", &secs, "-D", &pgdata];
    let out = pg_ctl(i, args.iter().map(|a| a.to_string()).collect(), deadline)?;
    if !out.success() {
        return Err(AgentError::generic(format!(
            "Can't promote PostgreSQL: pg_ctl promote failed ({})",
            out.last_line()
        )));
    }
    crate::info!("PostgreSQL promote command sent.");
    Ok(())
}

fn pg_ctl(i: &Instance, args: Vec<String>, deadline: Deadline) -> Result<Output> {
    let cmd = Cmd::new(&i.pgctl)
        .args(args)
        .cwd(&i.cfg.pgdata)
        // The stock agent exports PGPORT: the server's port when
        // postgresql.conf does not set one.
        .env("PGPORT", i.cfg.pgport.to_string())
        .env("LD_LIBRARY_PATH", i.cfg.pglibs.clone());
    let out = command::run(&cmd, Some(&i.owner), deadline)?;
    crate::debug!(
        "{} exited {:?}: {}",
        cmd.display(),
        out.code,
        out.last_line()
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn the_file_reasons_fit_an_exit_reason() {
        let user = "node-name-16char";
        let path = Path::new("/var/log/postgresql/postgresql-15-main-node.log");
        for e in [
            unwritable_logfile(user, path),
            unwritable_socketdir(user, path),
        ] {
            assert!(e.reason().len() <= crate::error::EXIT_REASON_MAX, "{e}");
        }
    }
}
