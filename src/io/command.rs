//! Running programs: argv only (never a shell), a clean `LC_ALL=C`
//! environment, an optional switch to the database owner that keeps its
//! supplementary groups, and a deadline.

use crate::error::{AgentError, Result};
use crate::io::clock::Deadline;
use crate::io::user::OsUser;
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Cmd {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub cwd: Option<PathBuf>,
    pub env: Vec<(String, String)>,
}

impl Cmd {
    pub fn new(program: impl Into<PathBuf>) -> Cmd {
        Cmd {
            program: program.into(),
            args: Vec::new(),
            cwd: None,
            env: Vec::new(),
        }
    }
    pub fn arg(mut self, a: impl Into<OsString>) -> Cmd {
        self.args.push(a.into());
        self
    }
    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, a: I) -> Cmd {
        self.args.extend(a.into_iter().map(Into::into));
        self
    }
    pub fn cwd(mut self, dir: &Path) -> Cmd {
        self.cwd = Some(dir.to_path_buf());
        self
    }
    pub fn env(mut self, k: &str, v: impl Into<String>) -> Cmd {
        self.env.push((k.to_string(), v.into()));
        self
    }

    /// The program's name, for exit reasons (the whole command line,
    /// [`Cmd::display`], is for the log).
    pub fn name(&self) -> String {
        self.program
            .file_name()
            .unwrap_or(self.program.as_os_str())
            .to_string_lossy()
            .into_owned()
    }

    /// The command line for logs and traces, with any conninfo password
    /// (`password=...` in `--source-server`, say) hidden.
    pub fn display(&self) -> String {
        let mut s = self.program.display().to_string();
        for a in &self.args {
            s.push(' ');
            s.push_str(&hide_passwords(&a.to_string_lossy()));
        }
        s
    }
}

/// `cmd` failed, saying `why` (its output's last line, say): the exit
/// reason names the program, the log has the whole command line.
pub fn failed(cmd: &Cmd, why: &str) -> AgentError {
    AgentError::generic(format!("{} failed: {why}", cmd.name()))
        .with_detail(format!("{} failed: {why}", cmd.display()))
}

/// `text` with the value of every `password=` conninfo pair replaced by
/// `***` (a value is a word, or a single-quoted string with `\'`
/// escapes).
fn hide_passwords(text: &str) -> String {
    const KEY: &str = "password=";
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(KEY) {
        out.push_str(&rest[..at + KEY.len()]);
        out.push_str("***");
        let value = &rest[at + KEY.len()..];
        let mut chars = value.char_indices();
        let end = match chars.next() {
            Some((_, '\'')) => {
                let mut escaped = false;
                chars
                    .find(|&(_, c)| {
                        let close = c == '\'' && !escaped;
                        escaped = c == '\\' && !escaped;
                        close
                    })
                    .map_or(value.len(), |(i, _)| i + 1)
            }
            _ => value.find(char::is_whitespace).unwrap_or(value.len()),
        };
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

#[derive(Debug, Clone)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The last non-empty line of stderr (else stdout), for exit reasons.
    pub fn last_line(&self) -> &str {
        fn pick(s: &str) -> Option<&str> {
            s.lines().rev().map(str::trim).find(|l| !l.is_empty())
        }
        pick(&self.stderr)
            .or_else(|| pick(&self.stdout))
            .unwrap_or("no output")
    }
}

const BASE_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// Run `cmd`, as `user` when given, killing it at `deadline`.
pub fn run(cmd: &Cmd, user: Option<&OsUser>, deadline: Deadline) -> Result<Output> {
    let mut c = Command::new(&cmd.program);
    c.args(&cmd.args)
        .env_clear()
        .env("PATH", BASE_PATH)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = &cmd.cwd {
        c.current_dir(dir);
    }
    if let Some(u) = user {
        c.env("HOME", &u.home)
            .env("USER", &u.name)
            .env("LOGNAME", &u.name);
        if u.needs_switch() {
            let (uid, gid, groups) = (u.uid, u.gid, u.groups.clone());
            // SAFETY: between fork and exec we only make the three
            // async-signal-safe set*id syscalls; `groups` was built before
            // the fork. std's `Command::uid` would clear the supplementary
            // groups, which Debian's postgres needs (ssl-cert).
            unsafe {
                c.pre_exec(move || {
                    nix::unistd::setgroups(&groups)?;
                    nix::unistd::setgid(gid)?;
                    nix::unistd::setuid(uid)?;
                    Ok(())
                });
            }
        }
    }
    for (k, v) in &cmd.env {
        c.env(k, v);
    }
    crate::debug!("running {}", cmd.display());
    let started = std::time::Instant::now();
    let mut child = c
        .spawn()
        .map_err(|e| AgentError::generic(format!("cannot run {}: {e}", cmd.program.display())))?;
    let out_reader = read_in_background(child.stdout.take());
    let err_reader = read_in_background(child.stderr.take());
    // Waited for in a thread of its own: we learn of the exit at once,
    // not at the next poll (an action runs a dozen programs in a row).
    // WNOWAIT leaves the child unreaped, so it stays ours to kill or reap.
    let pid = child.id() as libc::id_t;
    let (tx, exited) = std::sync::mpsc::channel();
    std::thread::spawn(move || loop {
        // SAFETY: waitid writes only into the siginfo we own.
        let rc = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(libc::P_PID, pid, &mut info, libc::WEXITED | libc::WNOWAIT)
        };
        if rc == 0 {
            let _ = tx.send(());
        }
        if rc == 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return;
        }
    });
    let exited = exited.recv_timeout(deadline.remaining()).is_ok();
    crate::ocf::trace::took(started.elapsed(), || cmd.display());
    let status = if exited { child.wait().ok() } else { None };
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        let late = |what: String| format!("{what} did not finish within the operation timeout");
        return Err(AgentError::generic(late(cmd.name())).with_detail(late(cmd.display())));
    };
    // A daemon started by the command may keep the pipes open: read what is
    // there, without waiting for an end of file that may never come.
    let collect = |r: std::sync::mpsc::Receiver<String>| {
        r.recv_timeout(Duration::from_millis(200))
            .unwrap_or_default()
    };
    Ok(Output {
        code: status.code(),
        stdout: collect(out_reader),
        stderr: collect(err_reader),
    })
}

fn read_in_background(
    pipe: Option<impl Read + Send + 'static>,
) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    if let Some(mut p) = pipe {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = p.read_to_end(&mut buf);
            let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
        });
    }
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn soon() -> Deadline {
        Deadline::after(Duration::from_secs(10))
    }

    #[test]
    fn a_failed_program_is_named_the_log_has_its_command_line() {
        let cmd = Cmd::new("/usr/sbin/crm_attribute").args([
            "--lifetime=reboot",
            "--node=node-name-16char",
            "--name=postgresql-data-status",
            "--update=STREAMING|ASYNC",
        ]);
        assert_eq!(cmd.name(), "crm_attribute");
        let e = failed(
            &cmd,
            "Error performing operation: No such device or address",
        );
        assert_eq!(
            e.reason(),
            "crm_attribute failed: Error performing operation: No such device or address"
        );
        assert_eq!(
            e.detail(),
            Some(
                "/usr/sbin/crm_attribute --lifetime=reboot --node=node-name-16char \
                 --name=postgresql-data-status --update=STREAMING|ASYNC failed: Error performing \
                 operation: No such device or address"
            )
        );
    }

    #[test]
    fn runs_argv_without_a_shell() {
        let out = run(&Cmd::new("/bin/echo").arg("$(id)").arg("a b"), None, soon()).unwrap();
        assert!(out.success());
        assert_eq!(out.stdout, "$(id) a b\n");
    }

    #[test]
    fn environment_is_clean_and_c_locale() {
        let out = run(&Cmd::new("/usr/bin/env").env("X", "1"), None, soon()).unwrap();
        let mut lines: Vec<&str> = out.stdout.lines().collect();
        lines.sort();
        assert_eq!(
            lines,
            ["LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "X=1"]
        );
    }

    #[test]
    fn logs_and_traces_never_show_a_password() {
        let cmd = Cmd::new("/usr/bin/pg_rewind")
            .arg("--source-server=host=10.0.0.1 password=s3cret dbname=postgres")
            .arg("password='a b\\'c' x")
            .arg("nopassword");
        assert_eq!(
            cmd.display(),
            "/usr/bin/pg_rewind --source-server=host=10.0.0.1 password=*** dbname=postgres \
             password=*** x nopassword"
        );
    }

    #[test]
    fn deadline_kills_a_hung_command() {
        let d = Deadline::after(Duration::from_millis(200));
        let e = run(&Cmd::new("/bin/sleep").arg("30"), None, d).unwrap_err();
        assert!(e.reason().contains("did not finish"), "{e}");
    }

    #[test]
    fn failure_keeps_the_last_line() {
        let out = run(
            &Cmd::new("/bin/sh").args(["-c", "echo one >&2; echo two >&2; exit 3"]),
            None,
            soon(),
        )
        .unwrap();
        assert_eq!(out.code, Some(3));
        assert_eq!(out.last_line(), "two");
    }

    #[test]
    fn missing_program_is_an_error() {
        assert!(run(&Cmd::new("/nonexistent/prog"), None, soon()).is_err());
    }
}
