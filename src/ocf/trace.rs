//! `trace_ra`: Pacemaker's switch for tracing one resource's actions
//! (`crm resource trace Postgresql promote`: `trace_ra=1` in the
//! operation's instance attributes). ocf-shellfuncs answers it with a shell xtrace; we
//! write what a failover's breakdown needs: every process the action ran
//! and every step it took, each with the wall-clock time to the
//! millisecond, the milliseconds since the action began and how long it
//! took. Off, it only reads the environment.
//!
//! The file is where ocf-shellfuncs puts its trace: `OCF_TRACE_FILE` when
//! it is an absolute path, else
//! `$OCF_RESKEY_trace_dir/<type>/<instance>.<action>.<date>` (trace_dir
//! defaults to /var/lib/heartbeat/trace_ra). Actions that start within the
//! same second append to one file, each under a header line. Tracing never
//! fails an action: every error is ignored.

use crate::ocf::env::RawEnv;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

struct Tracer {
    file: Mutex<File>,
    began: Instant,
}

static TRACER: OnceLock<Option<Tracer>> = OnceLock::new();

const DEFAULT_DIR: &str = "/var/lib/heartbeat/trace_ra";

/// Whether `trace_ra` asks for a trace, and where it goes (`stamp`, the
/// file name's date, is only asked for then).
fn destination(env: &RawEnv, action: &str, stamp: impl FnOnce() -> String) -> Option<PathBuf> {
    let get = |k: &str| env.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let on = get("OCF_TRACE_RA")
        .or_else(|| get("OCF_RESKEY_trace_ra"))
        .is_some_and(crate::ocf::env::is_true);
    if !on {
        return None;
    }
    if let Some(file) = get("OCF_TRACE_FILE").filter(|f| f.starts_with('/')) {
        return Some(PathBuf::from(file));
    }
    let dir = get("OCF_RESKEY_trace_dir").unwrap_or(DEFAULT_DIR);
    let kind = get("OCF_RESOURCE_TYPE").unwrap_or("pgsql");
    let instance = get("OCF_RESOURCE_INSTANCE")?;
    Some(
        PathBuf::from(dir)
            .join(kind)
            .join(format!("{instance}.{action}.{}", stamp())),
    )
}

/// Start the trace of this action when `trace_ra` asks for one. Call once,
/// early, after the logger.
pub fn init(env: &RawEnv, action: &str) {
    let began = Instant::now();
    let stamp = || super::log::format_now("%F.%T");
    let tracer = destination(env, action, stamp).and_then(|path| {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .ok()?;
        Some(Tracer {
            file: Mutex::new(file),
            began,
        })
    });
    let _ = TRACER.set(tracer);
    event(|| {
        let notify = ["type", "operation"]
            .map(|k| env.get(&format!("{}{k}", crate::ocf::env::NOTIFY_PREFIX)))
            .map(|v| v.map(String::as_str).unwrap_or_default());
        format!(
            "=== {action}{} on {} (pid {})",
            if notify[0].is_empty() {
                String::new()
            } else {
                format!(" {}-{}", notify[0], notify[1])
            },
            env.get("OCF_RESKEY_CRM_meta_on_node")
                .map(String::as_str)
                .unwrap_or("?"),
            std::process::id()
        )
    });
}

/// One line of the trace; `what` is only formatted when tracing is on.
pub fn event(what: impl FnOnce() -> String) {
    let Some(Some(t)) = TRACER.get() else {
        return;
    };
    let line = format!(
        "{} +{} ms {}\n",
        super::log::format_now_ms(),
        t.began.elapsed().as_millis(),
        what()
    );
    if let Ok(mut f) = t.file.lock() {
        let _ = f.write_all(line.as_bytes());
    }
}

/// `event` for a step an executor is about to perform.
pub fn step(step: &impl std::fmt::Debug) {
    event(|| format!("step {step:?}"));
}

/// `event` for something that took `took`: its duration in milliseconds
/// first.
pub fn took(took: Duration, what: impl FnOnce() -> String) {
    event(|| format!("({} ms) {}", took.as_millis(), what()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocf::env::env_of as env;

    #[test]
    fn off_unless_trace_ra_is_true() {
        let base = [("OCF_RESOURCE_INSTANCE", "Postgresql")];
        assert_eq!(destination(&env(&base), "promote", || "d".into()), None);
        let off = [
            ("OCF_RESOURCE_INSTANCE", "Postgresql"),
            ("OCF_RESKEY_trace_ra", "0"),
        ];
        assert_eq!(destination(&env(&off), "promote", || "d".into()), None);
    }

    #[test]
    fn where_ocf_shellfuncs_puts_its_trace() {
        let on = [
            ("OCF_RESOURCE_INSTANCE", "Postgresql"),
            ("OCF_RESOURCE_TYPE", "pgsql"),
            ("OCF_RESKEY_trace_ra", "1"),
        ];
        assert_eq!(
            destination(&env(&on), "promote", || "2026-12-07.10:00:00".into()),
            Some(PathBuf::from(
                "/var/lib/heartbeat/trace_ra/pgsql/Postgresql.promote.2026-12-07.10:00:00"
            ))
        );
        let dir = [&on[..], &[("OCF_RESKEY_trace_dir", "/tmp/t")]].concat();
        assert_eq!(
            destination(&env(&dir), "stop", || "d".into()),
            Some(PathBuf::from("/tmp/t/pgsql/Postgresql.stop.d"))
        );
        // OCF_TRACE_FILE: an absolute path wins; a descriptor number is for
        // shell agents and is ignored.
        let file = [&on[..], &[("OCF_TRACE_FILE", "/tmp/x.trace")]].concat();
        assert_eq!(
            destination(&env(&file), "stop", || "d".into()),
            Some(PathBuf::from("/tmp/x.trace"))
        );
        let fd = [&on[..], &[("OCF_TRACE_FILE", "9")]].concat();
        assert_eq!(
            destination(&env(&fd), "stop", || "d".into()),
            Some(PathBuf::from(
                "/var/lib/heartbeat/trace_ra/pgsql/Postgresql.stop.d"
            ))
        );
    }
}
