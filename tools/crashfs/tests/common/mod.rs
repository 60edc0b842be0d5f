//! Test helpers: a unique temporary directory and a crashfs mount that are
//! both cleaned up on drop, even when the test fails.

#![allow(dead_code)] // each test binary uses a different part

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const BIN: &str = env!("CARGO_BIN_EXE_crashfs");

/// Root runs the daemon; the tests need it (mounting, chown, runuser).
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "crashfs tests need root (mount, chown)"
    );
    assert!(Path::new("/dev/fuse").exists(), "no /dev/fuse");
}

/// Polls `f` until it returns Some, or panics after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(50));
    }
}

/// `/tmp/crashfs-test-<pid>-<n>-<nanos>`, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let path = PathBuf::from(format!(
            "/tmp/crashfs-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        fs::create_dir(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Never follow into a mount that is still there.
        if !is_mounted_below(&self.0) {
            let _ = fs::remove_dir_all(&self.0);
        } else {
            eprintln!(
                "leaving {} behind: something is still mounted there",
                self.0.display()
            );
        }
    }
}

fn is_mounted_below(dir: &Path) -> bool {
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = format!("{}/", dir.display());
    mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|m| m.starts_with(&prefix))
}

pub fn is_mountpoint(dir: &Path) -> bool {
    let dir = dir.display().to_string();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|m| m == dir)
}

/// A running crashfs: `backing` mounted at `mnt`, both inside `dir`.
/// Dropping it unmounts (forcing if needed) and removes the directory.
pub struct Mount {
    pub backing: PathBuf,
    pub mnt: PathBuf,
    child: Option<Child>,
    // Last: dropped after the unmount in Mount::drop.
    pub dir: TempDir,
}

impl Mount {
    pub fn new(tag: &str) -> Mount {
        Mount::with_args(tag, &[])
    }

    pub fn with_args(tag: &str, args: &[&str]) -> Mount {
        Mount::start(tag, args, false)
    }

    /// crashfs mounted over its backing directory (BACKING = MOUNTPOINT).
    pub fn over(tag: &str) -> Mount {
        Mount::start(tag, &[], true)
    }

    fn start(tag: &str, args: &[&str], over: bool) -> Mount {
        require_root();
        let dir = TempDir::new(tag);
        let mnt = dir.path().join("mnt");
        let backing = if over {
            mnt.clone()
        } else {
            dir.path().join("backing")
        };
        fs::create_dir(&mnt).unwrap();
        if !over {
            fs::create_dir(&backing).unwrap();
        }
        let log = fs::File::create(dir.path().join("crashfs.log")).unwrap();
        let child = Command::new(BIN)
            .arg(&backing)
            .arg(&mnt)
            .args(args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start crashfs");
        let mut m = Mount {
            backing,
            mnt,
            child: Some(child),
            dir,
        };
        let status = Command::new(BIN)
            .args(["wait", "--timeout", "20"])
            .arg(&m.mnt)
            .status()
            .unwrap();
        if !status.success() || !is_mountpoint(&m.mnt) {
            let log = fs::read_to_string(m.dir.path().join("crashfs.log")).unwrap_or_default();
            m.unmount();
            panic!("crashfs did not come up; its log:\n{log}");
        }
        m
    }

    /// Runs `crashfs CMD MOUNTPOINT` and parses its `key=value` answer.
    pub fn control(&self, cmd: &str) -> HashMap<String, u64> {
        let out = Command::new(BIN).arg(cmd).arg(&self.mnt).output().unwrap();
        assert!(
            out.status.success(),
            "crashfs {cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
            .collect()
    }

    pub fn crash(&self) -> u64 {
        self.control("crash")["dropped_bytes"]
    }

    pub fn dirty_bytes(&self) -> u64 {
        self.control("stats")["dirty_bytes"]
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("crashfs.log")).unwrap_or_default()
    }

    /// Clean unmount: waits for the daemon to write back and exit; returns
    /// its exit status (None if it had to be killed or was gone already).
    pub fn unmount(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        if is_mountpoint(&self.mnt) {
            let _ = Command::new("umount").arg(&self.mnt).status();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                // Busy or hung: detach the mount and stop the daemon.
                let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- crashfs log ---\n{}", self.log());
        }
        self.unmount();
    }
}
