//! Logging with the conventions of `ocf_log` in ocf-shellfuncs, so that our
//! lines land where the stock agent's did and look the same:
//! - stderr is a tty: write to stderr only;
//! - `HA_LOGFACILITY` set (not `none`): syslog with that facility;
//! - `HA_LOGFILE` set: append `<date> <tag>:    LEVEL: msg`;
//! - neither: stderr;
//! - DEBUG only when `HA_debug` is set and not 0, to `HA_DEBUGLOG`/syslog.
//!
//! Logging never fails an action: every write error is ignored.

use crate::error::EXIT_REASON_MAX;
use crate::ocf::env::RawEnv;
use std::io::Write;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Crit,
    Error,
    Warning,
    Info,
    Debug,
}

impl Level {
    pub fn word(self) -> &'static str {
        match self {
            Level::Crit => "CRIT",
            Level::Error => "ERROR",
            Level::Warning => "WARNING",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
        }
    }

    /// The syslog severity (RFC 3164).
    fn severity(self) -> u8 {
        match self {
            Level::Crit => 2,
            Level::Error => 3,
            Level::Warning => 4,
            Level::Info => 6,
            Level::Debug => 7,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Logger {
    tag: String,
    stderr_is_tty: bool,
    facility: Option<u8>,
    logfile: Option<String>,
    debuglog: Option<String>,
    debug: bool,
    date_format: String,
    exit_reason_prefix: String,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Set up the process-wide logger from the environment. Call once, early.
pub fn init(env: &RawEnv) {
    let _ = LOGGER.set(Logger::from_env(
        env,
        nix::unistd::isatty(2).unwrap_or(false),
    ));
}

fn logger() -> &'static Logger {
    LOGGER.get_or_init(Logger::default)
}

pub fn log(level: Level, msg: &str) {
    logger().log(level, msg);
}

/// Print the one-line exit reason Pacemaker collects, and log it as an error.
///
/// Pacemaker keeps [`EXIT_REASON_MAX`] bytes of it. Every exit reason is
/// written to fit; should one still be longer, the log keeps the whole
/// text (on stderr too) and the exit reason is cut to fit, ending with
/// `…` ([`fit_exit_reason`]), rather than mid-character by Pacemaker.
pub fn exit_reason(msg: &str) {
    logger().exit_reason(msg, &mut std::io::stderr());
}

/// An exit reason with the longer text the log keeps
/// ([`crate::error::AgentError::with_detail`]): the detail first, then the
/// exit reason.
pub fn exit_reason_explained(reason: &str, detail: Option<&str>) {
    if let Some(detail) = detail {
        log(Level::Error, detail);
    }
    exit_reason(reason);
}

/// `msg` as it fits in an exit reason: whole when it fits in
/// [`EXIT_REASON_MAX`] bytes, else cut at a character boundary and ended
/// with `…`, to that many bytes at most.
pub fn fit_exit_reason(msg: &str) -> std::borrow::Cow<'_, str> {
    const MORE: &str = "…";
    if msg.len() <= EXIT_REASON_MAX {
        return msg.into();
    }
    let mut cut = EXIT_REASON_MAX - MORE.len();
    while !msg.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{MORE}", msg[..cut].trim_end()).into()
}

#[macro_export]
macro_rules! info { ($($t:tt)*) => { $crate::ocf::log::log($crate::ocf::log::Level::Info, &format!($($t)*)) } }
#[macro_export]
macro_rules! warn { ($($t:tt)*) => { $crate::ocf::log::log($crate::ocf::log::Level::Warning, &format!($($t)*)) } }
#[macro_export]
macro_rules! error { ($($t:tt)*) => { $crate::ocf::log::log($crate::ocf::log::Level::Error, &format!($($t)*)) } }
#[macro_export]
macro_rules! debug { ($($t:tt)*) => { $crate::ocf::log::log($crate::ocf::log::Level::Debug, &format!($($t)*)) } }

/// Syslog facility codes by the names HA_LOGFACILITY uses.
fn facility_code(name: &str) -> Option<u8> {
    let code = match name {
        "kern" => 0,
        "user" => 1,
        "mail" => 2,
        "daemon" => 3,
        "auth" => 4,
        "syslog" => 5,
        "lpr" => 6,
        "news" => 7,
        "uucp" => 8,
        "cron" => 9,
        "authpriv" => 10,
        "ftp" => 11,
        n if n.starts_with("local") => 16 + n[5..].parse::<u8>().ok().filter(|d| *d <= 7)?,
        _ => return None,
    };
    Some(code)
}

impl Logger {
    pub fn from_env(env: &RawEnv, stderr_is_tty: bool) -> Logger {
        let get = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
        let instance = get("OCF_RESOURCE_INSTANCE");
        let tag = get("HA_LOGTAG").unwrap_or_else(|| match instance {
            Some(i) => format!("pgsql({i})[{}]", std::process::id()),
            None => format!("pgsql[{}]", std::process::id()),
        });
        let facility = get("HA_LOGFACILITY")
            .or_else(|| get("HA_logfacility"))
            .filter(|f| f != "none")
            .and_then(|f| facility_code(&f));
        let debug = get("HA_debug")
            .or_else(|| get("HA_DEBUG"))
            .is_some_and(|d| d != "0");
        Logger {
            tag,
            stderr_is_tty,
            facility,
            logfile: get("HA_LOGFILE"),
            debuglog: get("HA_DEBUGLOG"),
            debug,
            date_format: get("HA_DATEFMT").unwrap_or_else(|| "%b %d %T ".to_string()),
            exit_reason_prefix: get("OCF_EXIT_REASON_PREFIX").unwrap_or_default(),
        }
    }

    pub fn log(&self, level: Level, msg: &str) {
        self.write(level, msg, false);
    }

    /// [`exit_reason`], the exit reason line written to `stderr`.
    fn exit_reason(&self, msg: &str, stderr: &mut dyn Write) {
        let prefix = if self.exit_reason_prefix.is_empty() {
            "ocf-exit-reason:"
        } else {
            &self.exit_reason_prefix
        };
        let shown = fit_exit_reason(msg);
        let _ = writeln!(stderr, "{prefix}{shown}");
        self.write(Level::Error, msg, shown.len() == msg.len());
    }

    /// `skip_stderr`: the message was already printed there (exit reasons).
    fn write(&self, level: Level, msg: &str, skip_stderr: bool) {
        if level == Level::Debug && !self.debug {
            return;
        }
        let line = format!("{}: {msg}", level.word());
        if self.stderr_is_tty {
            if !skip_stderr {
                let _ = writeln!(std::io::stderr(), "{}: {line}", self.tag);
            }
            return;
        }
        if let Some(facility) = self.facility {
            self.syslog(facility, level, &line);
        }
        let date = format_now(&self.date_format);
        if level == Level::Debug {
            if let Some(path) = &self.debuglog {
                append(path, &format!("{}:\t{date}{line}\n", self.tag));
            } else if self.facility.is_none() {
                let _ = writeln!(std::io::stderr(), "{}:\t{date}{line}", self.tag);
            }
            return;
        }
        if let Some(path) = &self.logfile {
            append(path, &format!("{date} {}:    {line}\n", self.tag));
        }
        if self.facility.is_none() && self.logfile.is_none() && !skip_stderr {
            let _ = writeln!(std::io::stderr(), "{date}{line}");
        }
        if let Some(path) = self
            .debuglog
            .as_ref()
            .filter(|d| Some(*d) != self.logfile.as_ref())
        {
            append(path, &format!("{}:\t{date}{line}\n", self.tag));
        }
    }

    fn syslog(&self, facility: u8, level: Level, line: &str) {
        let datagram = format!("<{}>{}: {line}", facility * 8 + level.severity(), self.tag);
        if let Ok(sock) = std::os::unix::net::UnixDatagram::unbound() {
            let _ = sock.send_to(datagram.as_bytes(), "/dev/log");
        }
    }
}

fn append(path: &str, text: &str) {
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(text.as_bytes());
    }
}

/// The local time in strftime format, as `date "+$HA_DATEFMT"` prints it.
pub(crate) fn format_now(fmt: &str) -> String {
    // SAFETY: time() with a null pointer only returns the time.
    format_at(fmt, unsafe { libc::time(std::ptr::null_mut()) })
}

/// The local time of day to the millisecond, as Pacemaker's log shows it
/// (`16:31:47.104`).
pub(crate) fn format_now_ms() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = format_at("%T", now.as_secs() as libc::time_t);
    format!("{seconds}.{:03}", now.subsec_millis())
}

/// `secs` since the epoch as local time, in strftime format.
fn format_at(fmt: &str, secs: libc::time_t) -> String {
    let Ok(cfmt) = std::ffi::CString::new(fmt) else {
        return String::new();
    };
    // SAFETY: localtime_r and strftime write only into the buffers we own,
    // and strftime never writes more than buf.len() bytes.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&secs, &mut tm).is_null() {
            return String::new();
        }
        let mut buf = [0u8; 128];
        let n = libc::strftime(buf.as_mut_ptr().cast(), buf.len(), cfmt.as_ptr(), &tm);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocf::env::env_of as env;

    #[test]
    fn tag_names_the_instance_like_ocf_shellfuncs() {
        let l = Logger::from_env(&env(&[("OCF_RESOURCE_INSTANCE", "pg:0")]), false);
        assert!(l.tag.starts_with("pgsql(pg:0)["), "{}", l.tag);
        let l = Logger::from_env(&env(&[("HA_LOGTAG", "mytag")]), false);
        assert_eq!(l.tag, "mytag");
    }

    #[test]
    fn facilities_and_none() {
        assert_eq!(
            Logger::from_env(&env(&[("HA_LOGFACILITY", "daemon")]), false).facility,
            Some(3)
        );
        assert_eq!(
            Logger::from_env(&env(&[("HA_logfacility", "local7")]), false).facility,
            Some(23)
        );
        assert_eq!(
            Logger::from_env(&env(&[("HA_LOGFACILITY", "none")]), false).facility,
            None
        );
        assert_eq!(
            Logger::from_env(&env(&[("HA_LOGFACILITY", "local9")]), false).facility,
            None
        );
    }

    #[test]
    fn debug_needs_ha_debug_other_than_zero() {
        assert!(!Logger::from_env(&env(&[]), false).debug);
        assert!(!Logger::from_env(&env(&[("HA_debug", "0")]), false).debug);
        assert!(Logger::from_env(&env(&[("HA_debug", "1")]), false).debug);
    }

    #[test]
    fn logfile_lines_have_the_ocf_log_shape() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ha.log");
        let debug = dir.path().join("ha-debug.log");
        let l = Logger::from_env(
            &env(&[
                ("HA_LOGFILE", file.to_str().unwrap()),
                ("HA_DEBUGLOG", debug.to_str().unwrap()),
                ("HA_LOGTAG", "t"),
                ("HA_DATEFMT", "D "),
                ("HA_debug", "1"),
            ]),
            false,
        );
        l.log(
            Level::Info,
            "Changing pgsql-status on pg01 : HS:alone->PRI.",
        );
        l.log(Level::Debug, "details");
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            text,
            "D  t:    INFO: Changing pgsql-status on pg01 : HS:alone->PRI.\n"
        );
        let dtext = std::fs::read_to_string(&debug).unwrap();
        assert!(dtext.contains("t:\tD INFO: Changing"), "{dtext}");
        assert!(dtext.contains("t:\tD DEBUG: details"), "{dtext}");
    }

    #[test]
    fn an_exit_reason_that_fits_is_whole() {
        let fits = "x".repeat(EXIT_REASON_MAX);
        assert_eq!(fit_exit_reason(&fits), fits.as_str());
        assert_eq!(fit_exit_reason(""), "");
    }

    #[test]
    fn a_longer_exit_reason_is_cut_at_a_character_and_says_so() {
        let long = "x".repeat(EXIT_REASON_MAX + 1);
        let cut = fit_exit_reason(&long);
        assert_eq!(cut.len(), EXIT_REASON_MAX);
        assert!(cut.ends_with("xx…"), "{cut}");
        // Multi-byte characters across the limit: never cut inside one.
        for pad in 0..4 {
            let long = format!("{}{}", "a".repeat(pad), "é€𝄞".repeat(40));
            let cut = fit_exit_reason(&long);
            assert!(cut.len() <= EXIT_REASON_MAX, "{}", cut.len());
            assert!(cut.len() > EXIT_REASON_MAX - 4 - "…".len(), "{}", cut.len());
            assert!(cut.ends_with('…'));
            assert!(long.starts_with(cut.trim_end_matches('…')));
        }
        // No blank before the mark.
        let spaced = format!("{} {}", "y".repeat(EXIT_REASON_MAX - 4), "z".repeat(10));
        assert_eq!(
            fit_exit_reason(&spaced),
            format!("{}…", "y".repeat(EXIT_REASON_MAX - 4))
        );
    }

    #[test]
    fn the_log_keeps_the_whole_of_an_exit_reason_that_was_cut() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ha.log");
        let l = Logger::from_env(
            &env(&[
                ("HA_LOGFILE", file.to_str().unwrap()),
                ("HA_LOGTAG", "t"),
                ("HA_DATEFMT", "D "),
            ]),
            false,
        );
        let long = format!("{} the end", "w".repeat(EXIT_REASON_MAX));
        let mut stderr = Vec::new();
        l.exit_reason(&long, &mut stderr);
        l.exit_reason("short", &mut stderr);
        let stderr = String::from_utf8(stderr).unwrap();
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(
            lines,
            [
                format!("ocf-exit-reason:{}…", "w".repeat(EXIT_REASON_MAX - 3)).as_str(),
                "ocf-exit-reason:short"
            ]
        );
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            text,
            format!("D  t:    ERROR: {long}\nD  t:    ERROR: short\n")
        );
    }

    #[test]
    fn unwritable_logfile_is_ignored() {
        let l = Logger::from_env(&env(&[("HA_LOGFILE", "/nonexistent/dir/x.log")]), false);
        l.log(Level::Error, "still fine");
    }
}
