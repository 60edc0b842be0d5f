//! crashfs: a FUSE passthrough that forgets unsynced writes on a simulated
//! crash, so that a test lab whose "crash" is killing processes (the host's
//! page cache survives) exercises fsync the way a power loss would.
//!
//! ```text
//! crashfs BACKING MOUNTPOINT [--control SOCKET] [--max-dirty-mb N] [--threads N]
//! crashfs crash TARGET        drop every dirty page, print what was dropped
//! crashfs sync TARGET         write every dirty page back (a clean shutdown's sync)
//! crashfs stats TARGET        dirty bytes held, crashes, bytes dropped, ...
//! crashfs wait TARGET [--timeout SECS]   until the daemon answers (mounted)
//! ```
//!
//! The daemon runs in the foreground, as root, with `--threads` FUSE worker
//! threads (default 4). It mounts with `allow_other` and
//! `default_permissions`: modes, owners and times pass through, and the
//! kernel checks access against them. New files, directories, nodes and
//! symlinks are made by root and then given the caller's uid and gid (the
//! directory's group if it is set-group-ID); the kernel has applied the
//! caller's umask already. BACKING and MOUNTPOINT may be the same directory:
//! crashfs opens BACKING before it mounts on top of it and works through that
//! descriptor, so a lab can keep its paths. Every inode the kernel knows
//! holds a descriptor (RLIMIT_NOFILE is raised to its hard limit).
//!
//! TARGET is the control socket or the mountpoint; the socket defaults to
//! `MOUNTPOINT.crashfs.sock`, beside the mountpoint (mode 0600; a Unix socket
//! path must stay under 108 bytes). The daemon binds the socket once the
//! filesystem is mounted, so `crashfs wait` means ready. SIGTERM, SIGINT or
//! SIGHUP unmount it (EBUSY while files are open there); an unmount by
//! `umount`/`fusermount3 -u` works as well. Either way the daemon writes
//! every dirty page back, syncs and exits 0: unmount is a clean shutdown. If
//! the daemon itself is killed, everything unsynced is lost and the mount
//! answers ENOTCONN until unmounted.
//!
//! # What is durable
//! "Durable" means "in the backing file": the crash only drops crashfs'
//! memory, the backing files stay as they are (the host's own page cache is
//! not part of the simulation; a real fsync still reaches the disk).
//!
//! - `write` puts the data into per-inode dirty pages (4 KiB) in our memory.
//!   `read` and `getattr` see them over the backing file, and the size they
//!   report includes the writes past its end. After a crash a file's size
//!   and content are those of the backing file.
//! - `fsync`/`fdatasync` write the file's dirty pages to the backing file and
//!   fsync it (the backing fsync is skipped when crashfs has written nothing
//!   to the file since its last one). Writes through a handle opened with
//!   `O_SYNC`/`O_DSYNC`, or with `RWF_SYNC`/`RWF_DSYNC`, go straight to the
//!   backing file and are synced before the write returns. The kernel then
//!   sends a FUSE fsync, which has no byte range: such a write makes the
//!   whole file durable, where a real filesystem would sync only its range
//!   (PostgreSQL writes its O_DSYNC WAL files only that way, so this hides
//!   nothing there). `fsyncdir` syncs the backing directory.
//! - `close` (flush/release) makes nothing durable, as on Linux.
//! - Past `--max-dirty-mb` (default 512) of dirty data in total, a write
//!   writes every dirty page back first: that data becomes durable early.
//! - A clean unmount or `crashfs sync` makes everything durable.
//!
//! Known simplifications against a real kernel (and against LazyFS, which
//! can lose metadata too): metadata operations are durable at once, applied
//! to the backing directory before they return: create, mkdir, mknod,
//! symlink, link, unlink, rmdir, rename, chmod, chown, utimens, and truncate
//! (a truncate applies to the backing file at once, size included; the dirty
//! pages past the new size go). `fallocate` (allocation only; hole punching
//! is refused with EOPNOTSUPP) is durable at once too. A rename keeps the
//! dirty pages with the file; the dirty pages of a file whose last name goes
//! (unlink, or replaced by a rename) are discarded once no handle has it
//! open. A crash never tears a write: a page is either all dropped or, once
//! written back, all there. Extended attributes and POSIX locks are not
//! passed through (the kernel keeps locks locally).
//!
//! # The crash
//! `crashfs crash TARGET` drops every dirty page of every file and answers
//! with the bytes (whole pages) and files dropped; the kernel's cached pages
//! and attributes of those files are invalidated, so the next reader sees the
//! backing files. The filesystem stays mounted and usable. File handles opened
//! before the crash are dead: read, write and fsync through them fail with
//! EIO (close succeeds), as no process survives a real crash; the lab kills
//! the node's processes first, then crashes, then starts them again. The
//! `stale_handle_errors` counter of `stats` shows whether anything did
//! survive. `stats` also tells the dirty bytes held now (`dirty_bytes`,
//! whole pages), and what the last crash dropped.
//!
//! # Kernel caching
//! No writeback cache (the kernel would hold writes where we cannot drop
//! them): every write reaches us before it returns. The kernel may keep read
//! pages across opens and cache attributes and names for a second; this is
//! safe because every change goes through us and the crash invalidates what
//! it changes.

mod cache;
mod control;
mod fs;
mod fuse;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};

const USAGE: &str = "usage:
  crashfs BACKING MOUNTPOINT [--control SOCKET] [--max-dirty-mb N] [--threads N]
  crashfs crash|sync|stats TARGET
  crashfs wait TARGET [--timeout SECS]
TARGET: the control socket, or the mountpoint (socket MOUNTPOINT.crashfs.sock)";

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let result = match args.first().and_then(|a| a.to_str()) {
        Some(cmd @ ("crash" | "sync" | "stats")) => client(cmd, &args[1..]),
        Some("wait") => wait(&args[1..]),
        Some("-h" | "--help") | None => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => daemon(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crashfs: {e}");
            ExitCode::FAILURE
        }
    }
}

type Result<T> = std::result::Result<T, String>;

/// Positional arguments and `--name VALUE` options.
struct Args {
    positional: Vec<PathBuf>,
    options: Vec<(String, String)>,
}

impl Args {
    fn parse(args: &[OsString], names: &[&str]) -> Result<Args> {
        let mut parsed = Args {
            positional: Vec::new(),
            options: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            match arg.to_str() {
                Some(name) if name.starts_with("--") => {
                    if !names.contains(&name) {
                        return Err(format!("unknown option {name}\n{USAGE}"));
                    }
                    let value = it
                        .next()
                        .and_then(|v| v.to_str())
                        .ok_or_else(|| format!("{name} needs a value"))?;
                    parsed.options.push((name.to_string(), value.to_string()));
                }
                _ => parsed.positional.push(PathBuf::from(arg)),
            }
        }
        Ok(parsed)
    }

    /// The last value given for `name`.
    fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn number(&self, name: &str, default: u64) -> Result<u64> {
        match self.option(name) {
            Some(v) => v.parse().map_err(|_| format!("{name}: not a number: {v}")),
            None => Ok(default),
        }
    }
}

fn client(command: &str, args: &[OsString]) -> Result<()> {
    let args = Args::parse(args, &[])?;
    let [target] = args.positional.as_slice() else {
        return Err(USAGE.to_string());
    };
    let answer = control::request(&control::resolve(target), command).map_err(|e| e.to_string())?;
    print!("{answer}");
    Ok(())
}

fn wait(args: &[OsString]) -> Result<()> {
    let args = Args::parse(args, &["--timeout"])?;
    let [target] = args.positional.as_slice() else {
        return Err(USAGE.to_string());
    };
    let deadline = Instant::now() + Duration::from_secs(args.number("--timeout", 10)?);
    loop {
        match control::request(&control::resolve(target), "stats") {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return Err(format!("{} not ready: {e}", target.display()))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn daemon(args: &[OsString]) -> Result<()> {
    let args = Args::parse(args, &["--control", "--max-dirty-mb", "--threads"])?;
    let [backing, mountpoint] = args.positional.as_slice() else {
        return Err(USAGE.to_string());
    };
    let socket = match args.option("--control") {
        Some(path) => PathBuf::from(path),
        None => control::default_socket(mountpoint),
    };
    let opts = fs::Options {
        max_dirty_bytes: args.number("--max-dirty-mb", 512)? << 20,
    };
    let threads = args.number("--threads", 4)?.clamp(1, 64) as usize;

    // Modes come from the kernel already masked by the caller's umask.
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    raise_fd_limit();
    let shared = fs::Shared::new(backing, opts)
        .map_err(|e| format!("backing directory {}: {e}", backing.display()))?;

    // Termination signals go to one thread; block them before any thread
    // starts so that every thread inherits the mask.
    let mut signals = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        signals.add(s);
    }
    signals
        .thread_block()
        .map_err(|e| format!("blocking signals: {e}"))?;

    let mut config = fuser::Config::default();
    config.mount_options = vec![
        fuser::MountOption::FSName("crashfs".into()),
        fuser::MountOption::Subtype("crashfs".into()),
        fuser::MountOption::DefaultPermissions,
    ];
    config.acl = fuser::SessionACL::All;
    config.n_threads = Some(threads);
    config.clone_fd = true;
    let fs = fuse::CrashFs {
        shared: shared.clone(),
    };
    let mut session = fuser::Session::new(fs, mountpoint, &config)
        .map_err(|e| format!("mounting {}: {e}", mountpoint.display()))?;
    shared.set_notifier(session.notifier());

    let listener =
        control::bind(&socket).map_err(|e| format!("control socket {}: {e}", socket.display()))?;
    let control_shared = Arc::clone(&shared);
    std::thread::spawn(move || control::serve(listener, control_shared));

    let mut unmounter = session.unmount_callable();
    let shown = mountpoint.display().to_string();
    std::thread::spawn(move || loop {
        if let Ok(signal) = signals.wait() {
            eprintln!("crashfs: {signal}: unmounting {shown}");
            if let Err(e) = unmounter.unmount() {
                eprintln!("crashfs: unmount {shown}: {e}");
            }
        }
    });

    eprintln!(
        "crashfs: {} mounted at {}, control socket {}",
        backing.display(),
        mountpoint.display(),
        socket.display()
    );
    let result = session.run();
    // destroy() has written everything back by now.
    let _ = std::fs::remove_file(&socket);
    result.map_err(|e| format!("session: {e}"))?;
    eprintln!("crashfs: {} unmounted cleanly", mountpoint.display());
    Ok(())
}

/// One descriptor per known inode, plus the open files: PostgreSQL has
/// thousands of files.
fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}
