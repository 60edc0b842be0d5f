//! The files replication mode keeps: in `tmpdir` the stock agent's
//! `PGSQL.lock`, `rep_mode.conf`, `recovery.conf` and `xlog_note.*`; in the
//! data directory `standby.signal` and the agent's lines of
//! `postgresql.auto.conf`. Everything is written atomically and owned by
//! the database owner.

use crate::core::history::PromotionNote;
use crate::core::replication::{Beside, ElectionState, Lock, RewindRecord, Sample};
use crate::core::standby_conf::{
    self, AsideTaken, StandbyFileOp, StandbyFilesFound, StandbySettings,
};
use crate::core::version::RecoveryModel;
use crate::error::{AgentError, Result};
use crate::io::user::OsUser;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// tmpdir notes: the ceiling recorded for the current list, and what the
/// primary last said about `synchronous_commit`.
const SYNC_CEILING: &str = "sync_ceiling";
const SYNC_FLAG: &str = "sync_flag";
const WEAK_COMMITS: &str = "weak_commits";
/// What promote knew of its promotion, until the first monitor records it
/// (`core::history::PromotionNote`).
const PROMOTION_NOTE: &str = "promotion_note";
/// The record of a rejoin in progress (`core::replication::resync`).
const REWIND_RECORD: &str = "rewind_unfinished";
/// The note in a data directory the agent set aside.
const OLD_DATA_LABEL: &str = "RUSTPG_OLD_DATA";
/// The prefix of the configuration files kept while a rewind runs.
const STASHED_CONFIG: &str = "own_config.";

pub struct StateFiles<'a> {
    pub tmpdir: &'a Path,
    pub pgdata: &'a Path,
    pub owner: &'a OsUser,
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> AgentError {
    AgentError::generic(format!("can't {what} {}: {e}", path.display()))
}

/// A failed write names the file meant (not the temporary one). A directory
/// that refuses writes (permissions, immutable, read-only file system) is
/// OCF_ERR_PERM, as the stock agent's unusable tmpdir; anything else (a full
/// file system) is OCF_ERR_GENERIC.
fn write_err(path: &Path, e: std::io::Error) -> AgentError {
    let reason = format!("can't write {}: {e}", path.display());
    let refused =
        e.kind() == std::io::ErrorKind::PermissionDenied || e.raw_os_error() == Some(libc::EROFS);
    if refused {
        AgentError::perm(reason)
    } else {
        AgentError::generic(reason)
    }
}

/// Write `content` to `path` through a temporary file and a rename, owned by
/// `owner` with `mode`: a crash never leaves half a file behind, and a failed
/// write leaves no temporary file. The file and then its directory are
/// fsynced before this returns, so that what a promote or demote recorded
/// (the lock, the clean-demote record) survives a power loss.
pub fn write_atomically(path: &Path, content: &str, owner: &OsUser, mode: u32) -> Result<()> {
    let tmp = path.with_extension(format!("rustpg-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut file, content.as_bytes())?;
        std::os::unix::fs::fchown(&file, Some(owner.uid.as_raw()), Some(owner.gid.as_raw()))?;
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_dir(path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        write_err(path, e)
    })
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err("remove", path, e)),
        _ => Ok(()),
    }
}

/// A path in /proc/self/mountinfo: space, tab, newline and backslash are
/// written as octal escapes.
fn unescape_mount_path(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        });
        match (bytes[i], octal) {
            (b'\\', Some(b)) => {
                out.push(b);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// fsync the directory that holds `path`, so that a rename or a removal in
/// it is durable.
fn sync_dir(path: &Path) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::File::open(dir)?.sync_all()
}

impl StateFiles<'_> {
    pub fn lock(&self) -> PathBuf {
        self.tmpdir.join("PGSQL.lock")
    }
    fn rep_mode_conf(&self) -> PathBuf {
        self.tmpdir.join("rep_mode.conf")
    }
    fn recovery_conf(&self) -> PathBuf {
        self.tmpdir.join("recovery.conf")
    }
    fn auto_conf(&self) -> PathBuf {
        self.pgdata.join("postgresql.auto.conf")
    }
    fn standby_signal(&self) -> PathBuf {
        self.pgdata.join("standby.signal")
    }

    /// tmpdir, created as the stock agent does (owner pgdba, mode 700).
    pub fn ensure_tmpdir(&self) -> Result<()> {
        crate::io::fsutil::ensure_dir(self.tmpdir, self.owner, 0o700, "tmpdir")
    }

    pub fn lock_exists(&self) -> bool {
        self.lock().exists()
    }

    /// The lock and what it says (see [`Lock`]).
    pub fn lock_state(&self) -> Lock {
        match std::fs::read_to_string(self.lock()) {
            Ok(text) => Lock::parse(Some(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Lock::Absent,
            // Unreadable: it exists, and we cannot prove anything.
            Err(_) => Lock::Held,
        }
    }

    pub fn create_lock(&self) -> Result<()> {
        crate::info!("Creating {}.", self.lock().display());
        write_atomically(&self.lock(), "", self.owner, 0o600)
    }

    /// Record in the lock where a clean demote shut down.
    pub fn mark_clean_demote(&self, text: &str) -> Result<()> {
        write_atomically(&self.lock(), text, self.owner, 0o600)
    }

    fn history_note(&self) -> PathBuf {
        self.tmpdir.join("history_published")
    }

    /// What this primary last published as its timeline history, if that
    /// was less than `max_age` ago.
    pub fn published_history(&self, max_age: std::time::Duration) -> Option<String> {
        let path = self.history_note();
        let age = std::fs::metadata(&path)
            .ok()?
            .modified()
            .ok()?
            .elapsed()
            .ok()?;
        (age < max_age).then(|| std::fs::read_to_string(&path).ok())?
    }

    /// Forget what was published: the next monitor compares with attrd.
    pub fn forget_published_history(&self) {
        let _ = std::fs::remove_file(self.history_note());
    }

    pub fn set_published_history(&self, history: &str) {
        if let Err(e) = write_atomically(&self.history_note(), history, self.owner, 0o600) {
            crate::debug!("{e}");
        }
    }

    /// The data directory's own top-level `*.conf` files but
    /// `postgresql.auto.conf`, which `pg_rewind` would replace with the
    /// source's.
    pub fn own_config_files(&self) -> Result<Vec<(PathBuf, String)>> {
        let dir = std::fs::read_dir(self.pgdata).map_err(|e| io_err("read", self.pgdata, e))?;
        let mut files = Vec::new();
        for entry in dir.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".conf") || name == "postgresql.auto.conf" || !path.is_file() {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|e| io_err("read", &path, e))?;
            files.push((path, text));
        }
        Ok(files)
    }

    pub fn restore_config_files(&self, files: &[(PathBuf, String)]) -> Result<()> {
        files
            .iter()
            .try_for_each(|(path, text)| write_atomically(path, text, self.owner, 0o600))
    }

    pub fn rewind_record(&self) -> RewindRecord {
        match std::fs::read_to_string(self.tmpdir.join(REWIND_RECORD)) {
            Ok(text) => RewindRecord::parse(Some(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => RewindRecord::None,
            // Unreadable: it exists, and nothing proves the rewind finished.
            Err(_) => RewindRecord::Rewinding,
        }
    }

    /// Write the record, or remove it with the configuration files kept
    /// for it.
    pub fn set_rewind_record(&self, record: RewindRecord) -> Result<()> {
        let path = self.tmpdir.join(REWIND_RECORD);
        match record.text() {
            Some(text) => write_atomically(&path, &text, self.owner, 0o600),
            None => {
                let stashed = self.stashed_config();
                if stashed.is_empty() && !path.exists() {
                    return Ok(());
                }
                for (stashed, _) in stashed {
                    remove_if_present(&stashed)?;
                }
                remove_if_present(&path)?;
                sync_dir(&path).map_err(|e| io_err("sync the directory of", &path, e))
            }
        }
    }

    /// The node's own configuration files, kept in tmpdir while a rewind
    /// runs: a rewind stopped half way leaves the source's in the data
    /// directory.
    pub fn stash_config(&self, files: &[(PathBuf, String)]) -> Result<()> {
        files.iter().try_for_each(|(path, text)| {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            write_atomically(
                &self.tmpdir.join(format!("{STASHED_CONFIG}{name}")),
                text,
                self.owner,
                0o600,
            )
        })
    }

    /// The kept files: (path in tmpdir, text).
    fn stashed_config(&self) -> Vec<(PathBuf, String)> {
        let Ok(dir) = std::fs::read_dir(self.tmpdir) else {
            return Vec::new();
        };
        dir.flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .strip_prefix(STASHED_CONFIG)
                    .is_some_and(|n| n.ends_with(".conf"))
            })
            .filter_map(|e| Some((e.path(), std::fs::read_to_string(e.path()).ok()?)))
            .collect()
    }

    /// `<pgdata><suffix>`, beside the data directory.
    fn beside_pgdata(&self, suffix: &str) -> PathBuf {
        // Components drop a trailing slash, which would put it inside.
        let mut path = self
            .pgdata
            .components()
            .collect::<PathBuf>()
            .into_os_string();
        path.push(suffix);
        PathBuf::from(path)
    }

    /// Where a resynchronisation's base backup goes.
    pub fn resync_scratch(&self) -> PathBuf {
        self.beside_pgdata(".resync")
    }

    /// Where the old data goes after a resynchronisation.
    pub fn resync_aside(&self) -> PathBuf {
        self.beside_pgdata(".before-resync")
    }

    /// The token of the agent's old-data label in `dir` (a symbolic link
    /// is never labelled).
    pub fn old_data_label(dir: &Path) -> Option<u64> {
        if !std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir()) {
            return None;
        }
        let text = std::fs::read_to_string(dir.join(OLD_DATA_LABEL)).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("token: "))
            .and_then(|t| t.trim().parse().ok())
    }

    /// A directory beside the data directory, as found.
    pub fn beside(dir: &Path) -> Beside {
        if std::fs::symlink_metadata(dir).is_err() {
            Beside::Absent
        } else {
            Self::old_data_label(dir).map_or(Beside::Unlabelled, Beside::Labelled)
        }
    }

    /// Label the data directory as old data the agent sets aside.
    pub fn label_old_data(&self, token: u64) -> Result<()> {
        write_atomically(
            &self.pgdata.join(OLD_DATA_LABEL),
            &format!(
                "The PostgreSQL agent set this data directory aside: a pg_rewind of it did \
                 not finish, and a new base backup replaced it. Nothing reads it; remove it \
                 when it is no longer wanted.\ntoken: {token}\n"
            ),
            self.owner,
            0o600,
        )
    }

    /// Whether the data directory is a symbolic link or a mount point
    /// (then a rename can't exchange it).
    pub fn pgdata_fixed(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        if std::fs::symlink_metadata(self.pgdata).map_or(true, |m| m.file_type().is_symlink()) {
            return true;
        }
        let parent = self.pgdata.parent().unwrap_or(Path::new("/"));
        let other_device = match (std::fs::metadata(self.pgdata), std::fs::metadata(parent)) {
            (Ok(dir), Ok(up)) => dir.dev() != up.dev(),
            _ => true,
        };
        // A bind mount can stay on the parent's device.
        let canonical = std::fs::canonicalize(self.pgdata).unwrap_or_default();
        let mounted = std::fs::read_to_string("/proc/self/mountinfo").is_ok_and(|info| {
            info.lines()
                .filter_map(|l| l.split(' ').nth(4))
                .any(|m| Path::new(&unescape_mount_path(m)) == canonical)
        });
        other_device || mounted
    }

    /// Whether `pg_tblspc` names a tablespace.
    pub fn has_tablespaces(&self) -> bool {
        std::fs::read_dir(self.pgdata.join("pg_tblspc"))
            .is_ok_and(|mut entries| entries.next().is_some())
    }

    /// Remove a directory the core proved the agent's (by the record or
    /// the label). The label goes last, so that a removal stopped half way
    /// still carries it.
    pub fn remove_own_dir(&self, dir: &Path) -> Result<()> {
        crate::info!("auto_resync: removing {}.", dir.display());
        let remove = || -> std::io::Result<()> {
            if std::fs::symlink_metadata(dir)?.file_type().is_symlink() {
                // Never what it links to.
                return Err(std::io::Error::other("it is a symbolic link"));
            }
            for entry in std::fs::read_dir(dir)? {
                let entry = entry?;
                if entry.file_name() == OLD_DATA_LABEL {
                    continue;
                }
                if entry.file_type()?.is_dir() {
                    std::fs::remove_dir_all(entry.path())?;
                } else {
                    std::fs::remove_file(entry.path())?;
                }
            }
            std::fs::remove_dir_all(dir)?;
            sync_dir(dir)
        };
        remove().map_err(|e| io_err("remove", dir, e))
    }

    /// The node's own configuration files (those kept while the rewind
    /// ran, else the data directory's), written into `dir`.
    pub fn copy_own_config_into(&self, dir: &Path) -> Result<()> {
        let stashed = self.stashed_config();
        let files = if stashed.is_empty() {
            self.own_config_files()?
        } else {
            stashed
        };
        for (path, text) in files {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let name = name.strip_prefix(STASHED_CONFIG).unwrap_or(&name);
            write_atomically(&dir.join(name), &text, self.owner, 0o600)?;
        }
        Ok(())
    }

    /// Exchange the data directory and the scratch copy in one rename:
    /// either name always holds a whole directory.
    pub fn exchange_with_scratch(&self) -> Result<()> {
        let scratch = self.resync_scratch();
        nix::fcntl::renameat2(
            None,
            self.pgdata,
            None,
            &scratch,
            nix::fcntl::RenameFlags::RENAME_EXCHANGE,
        )
        .map_err(std::io::Error::from)
        .and_then(|()| sync_dir(self.pgdata))
        .map_err(|e| io_err("exchange with its new copy", self.pgdata, e))
    }

    /// The old data, under the scratch name since the exchange, to the
    /// aside name.
    pub fn set_old_data_aside(&self) -> Result<()> {
        let (scratch, aside) = (self.resync_scratch(), self.resync_aside());
        std::fs::rename(&scratch, &aside)
            .and_then(|()| sync_dir(&aside))
            .map_err(|e| io_err("set aside", &scratch, e))
    }

    fn in_place_note(&self) -> PathBuf {
        self.tmpdir.join("recovered_in_place")
    }

    /// How long ago this primary last recovered in place
    /// (`replication::after_crash`); `None`: not known to.
    pub fn recovered_in_place_ago(&self) -> Option<Duration> {
        std::fs::metadata(self.in_place_note())
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
    }

    pub fn note_recovered_in_place(&self) -> Result<()> {
        write_atomically(&self.in_place_note(), "", self.owner, 0o600)
    }

    fn deferral_note(&self) -> PathBuf {
        self.tmpdir.join("election_deferred")
    }

    /// How long this standby's monitor has withheld its election writes
    /// (`replication::standby_monitor`); `None`: it does not. Measured on
    /// the boot clock, which a step of the wall clock does not move. An
    /// age that cannot be read (another boot, an unreadable note) is
    /// `Duration::MAX`, as if the deferral had run out: it never lasts
    /// longer than its bound.
    pub fn deferred_for(&self) -> Option<Duration> {
        let text = match std::fs::read_to_string(self.deferral_note()) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(_) => return Some(Duration::MAX),
            Ok(text) => text,
        };
        let age = || {
            let (boot, at) = text.trim().split_once(' ')?;
            let (now_boot, now) = boot_clock()?;
            (boot == now_boot).then_some(())?;
            now.checked_sub(Duration::from_millis(at.parse().ok()?))
        };
        Some(age().unwrap_or(Duration::MAX))
    }

    /// Made once, when the deferral begins (the boot and the boot clock's
    /// reading): never written again while it lasts, so its age is the
    /// deferral's. Without a boot clock, a note that reads as run out.
    pub fn begin_deferral(&self) -> Result<()> {
        let text = boot_clock().map_or(String::new(), |(boot, now)| {
            format!("{boot} {}\n", now.as_millis())
        });
        write_atomically(&self.deferral_note(), &text, self.owner, 0o600)
    }

    pub fn end_deferral(&self) {
        let _ = std::fs::remove_file(self.deferral_note());
    }

    fn former_primary_file(&self) -> PathBuf {
        self.tmpdir.join("former_primary")
    }

    /// The node demoted last, recorded by post-demote on the standbys.
    pub fn former_primary(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.former_primary_file()).ok()?;
        Some(text.trim().to_string()).filter(|n| !n.is_empty())
    }

    pub fn set_former_primary(&self, node: &str) -> Result<()> {
        write_atomically(
            &self.former_primary_file(),
            &format!("{node}\n"),
            self.owner,
            0o600,
        )
    }

    pub fn clear_former_primary(&self) {
        let _ = std::fs::remove_file(self.former_primary_file());
    }

    pub fn remove_lock(&self, why: &str) -> Result<()> {
        if !self.lock_exists() {
            return Ok(());
        }
        crate::info!("Removing {}: {why}", self.lock().display());
        std::fs::remove_file(self.lock())
            .and_then(|()| sync_dir(&self.lock()))
            .map_err(|e| io_err("remove", &self.lock(), e))
    }

    /// The stock agent's rep_mode.conf, for clusters whose postgresql.conf
    /// still includes it. The ceiling recorded for the previous list goes
    /// with it, and, when the list names nobody, what was known of the
    /// sync flag (`core::replication::SyncFlag`: PostgreSQL clears it).
    pub fn write_rep_mode_conf(&self, sync_standby_names: &str) -> Result<()> {
        let text = standby_conf::rep_mode_conf(sync_standby_names);
        let _ = std::fs::remove_file(self.tmpdir.join(SYNC_CEILING));
        if sync_standby_names.trim().is_empty() {
            let _ = std::fs::remove_file(self.tmpdir.join(SYNC_FLAG));
        }
        write_atomically(&self.rep_mode_conf(), &text, self.owner, 0o600)
    }

    /// A small note of the agent's own in tmpdir (`None`: absent).
    fn note(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.tmpdir.join(name)).ok()
    }

    fn set_note(&self, name: &str, text: &str) -> Result<()> {
        write_atomically(&self.tmpdir.join(name), text, self.owner, 0o600)
    }

    /// What the primary last warned about `synchronous_commit` settings
    /// (`core::replication::weak_commit_warning`).
    pub fn weak_commits_note(&self) -> Option<String> {
        self.note(WEAK_COMMITS)
    }

    pub fn set_weak_commits_note(&self, note: &str) -> Result<()> {
        self.set_note(WEAK_COMMITS, note)
    }

    /// The promotion this node's first monitor as the primary is to
    /// record (`core::history::PromotionNote`).
    pub fn promotion_note(&self) -> Option<PromotionNote> {
        PromotionNote::parse(&self.note(PROMOTION_NOTE)?)
    }

    pub fn set_promotion_note(&self, note: &PromotionNote) -> Result<()> {
        self.set_note(PROMOTION_NOTE, &note.to_text())
    }

    pub fn forget_promotion_note(&self) {
        let _ = std::fs::remove_file(self.tmpdir.join(PROMOTION_NOTE));
    }

    /// The value postgresql.auto.conf assigns to `name` (`None`: none, or
    /// unreadable): what PostgreSQL applies at its next reload or start.
    pub fn auto_conf_setting(&self, name: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.auto_conf()).ok()?;
        standby_conf::conf_setting(&text, name)
    }

    /// The host `primary_conninfo` names in postgresql.auto.conf.
    pub fn written_primary_host(&self) -> Option<String> {
        standby_conf::conninfo_host(&self.auto_conf_setting("primary_conninfo")?)
    }

    /// The primary's record of the ceiling read when the list took its
    /// value (`core::replication::recorded_ceiling`).
    pub fn sync_ceiling(&self) -> Option<String> {
        self.note(SYNC_CEILING)
    }

    pub fn set_sync_ceiling(&self, record: &str) -> Result<()> {
        self.set_note(SYNC_CEILING, record)
    }

    /// The ceiling recorded under a postmaster that crashed: gone.
    pub fn forget_sync_ceiling(&self) -> Result<()> {
        let path = self.tmpdir.join(SYNC_CEILING);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err("remove", &path, e)),
            _ => sync_dir(&path).map_err(|e| io_err("sync the directory of", &path, e)),
        }
    }

    /// The primary's note of its sync flag
    /// (`core::replication::recorded_sync_flag`).
    pub fn sync_flag(&self) -> Option<String> {
        self.note(SYNC_FLAG)
    }

    pub fn set_sync_flag(&self, note: &str) -> Result<()> {
        self.set_note(SYNC_FLAG, note)
    }

    /// A standby's settings for `model`: the agent's lines of
    /// `postgresql.auto.conf` (replacing any other line that sets them,
    /// e.g. from `pg_basebackup -R`), with `synchronous_standby_names`
    /// when given; then the files `core::standby_conf::standby_file_ops`
    /// says, from what the data directory holds.
    pub fn write_standby_config(
        &self,
        s: &StandbySettings,
        sync_standby_names: Option<&str>,
        model: RecoveryModel,
    ) -> Result<()> {
        let (names, settings) = s.auto_conf(model, sync_standby_names);
        let auto = self.auto_conf();
        let before = match std::fs::read_to_string(&auto) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io_err("read", &auto, e)),
        };
        let (after, replaced) = standby_conf::rewrite_auto_conf(&before, &names, &settings);
        for line in standby_conf::overridden_lines(&after, &replaced) {
            crate::warn!(
                "{}: replacing `{line}` with the agent's setting",
                auto.display()
            );
        }
        if after != before {
            write_atomically(&auto, &after, self.owner, 0o600)?;
        }
        let in_pgdata = self.pgdata.join("recovery.conf");
        let aside = self.pgdata.join(standby_conf::RECOVERY_CONF_ASIDE);
        let found = StandbyFilesFound {
            recovery_conf: in_pgdata.exists(),
            recovery_conf_aside: aside.exists(),
            standby_signal: self.standby_signal().exists(),
        };
        let ops = standby_conf::standby_file_ops(model, found).map_err(|AsideTaken| {
            AgentError::generic(format!(
                "{}: recovery.conf stops PostgreSQL 12+ from starting and {} exists: remove one",
                self.pgdata.display(),
                standby_conf::RECOVERY_CONF_ASIDE
            ))
            .with_detail(format!(
                "{} stops PostgreSQL 12 and later from starting, and {} exists already: remove \
                 one of them",
                in_pgdata.display(),
                aside.display()
            ))
        })?;
        for op in ops {
            match op {
                StandbyFileOp::MoveRecoveryConfAside => {
                    crate::warn!(
                        "{} is not read from PostgreSQL 12 on and stops the server from starting: \
                         moved to {}",
                        in_pgdata.display(),
                        aside.display()
                    );
                    std::fs::rename(&in_pgdata, &aside)
                        .map_err(|e| io_err("rename", &in_pgdata, e))?;
                }
                StandbyFileOp::WriteTmpdirRecoveryConf => write_atomically(
                    &self.recovery_conf(),
                    &s.recovery_conf(model),
                    self.owner,
                    0o600,
                )?,
                StandbyFileOp::CreateStandbySignal => {
                    write_atomically(&self.standby_signal(), "", self.owner, 0o600)?
                }
                StandbyFileOp::WriteRecoveryConf => {
                    write_atomically(&in_pgdata, &s.recovery_conf(model), self.owner, 0o600)?
                }
                StandbyFileOp::RemoveStandbySignal => remove_if_present(&self.standby_signal())?,
            }
        }
        Ok(())
    }

    /// Remove the file that starts the server as a standby (the agent's
    /// own): `standby.signal`, or before 12 `recovery.conf` in the data
    /// directory, as the stock agent does for `restart_on_promote`.
    pub fn leave_recovery(&self, model: RecoveryModel) -> Result<()> {
        match model {
            RecoveryModel::StandbySignal => remove_if_present(&self.standby_signal()),
            RecoveryModel::RecoveryConf => remove_if_present(&self.pgdata.join("recovery.conf")),
        }
    }

    /// Forget the stock agent's per-start state (`rm -f xlog_note.*
    /// rep_mode.conf recovery.conf`).
    pub fn clear_start_state(&self) {
        self.clear_election();
        self.clear_former_primary();
        self.end_deferral();
        self.forget_promotion_note();
        for f in [
            self.rep_mode_conf(),
            self.recovery_conf(),
            self.history_note(),
        ] {
            let _ = std::fs::remove_file(f);
        }
    }

    fn notes(&self) -> Vec<(u32, PathBuf)> {
        let Ok(dir) = std::fs::read_dir(self.tmpdir) else {
            return Vec::new();
        };
        let mut notes: Vec<(u32, PathBuf)> = dir
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let n = name.strip_prefix("xlog_note.")?.parse().ok()?;
                Some((n, e.path()))
            })
            .collect();
        notes.sort();
        notes
    }

    pub fn clear_election(&self) {
        for (_, path) in self.notes() {
            let _ = std::fs::remove_file(path);
        }
    }

    /// The election counter, stored as the stock agent does: the newest
    /// `xlog_note.N` holds the sample seen N rounds in a row.
    pub fn read_election(&self) -> Option<ElectionState> {
        let (agreeing, path) = self.notes().pop()?;
        let text = std::fs::read_to_string(path).ok()?;
        let sample: Sample = text
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                Some((
                    f.next()?.to_string(),
                    f.next()?.to_string(),
                    f.next().map(str::to_string),
                ))
            })
            .collect();
        Some(ElectionState { agreeing, sample })
    }

    pub fn write_election(&self, state: &ElectionState) -> Result<()> {
        self.clear_election();
        let text: String = state
            .sample
            .iter()
            .map(|(n, hex, tli)| match tli {
                Some(t) => format!("{n} {hex} {t}\n"),
                None => format!("{n} {hex}\n"),
            })
            .collect();
        let path = self.tmpdir.join(format!("xlog_note.{}", state.agreeing));
        write_atomically(&path, &text, self.owner, 0o600)
    }
}

/// This boot's id and the time since it began (`CLOCK_BOOTTIME`, which
/// counts suspended time and which no wall-clock step moves).
fn boot_clock() -> Option<(String, Duration)> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME).ok()?;
    Some((boot.trim().to_string(), Duration::from(now)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocf::rc::OcfRc;
    use std::io::{Error, ErrorKind};

    fn me() -> OsUser {
        OsUser {
            name: "me".into(),
            uid: nix::unistd::Uid::effective(),
            gid: nix::unistd::Gid::effective(),
            home: PathBuf::from("/"),
            groups: vec![],
        }
    }

    #[test]
    fn refused_writes_are_err_perm_and_name_the_file() {
        let path = Path::new("/var/lib/pgsql/tmp/rep_mode.conf");
        for (e, rc) in [
            (Error::from(ErrorKind::PermissionDenied), OcfRc::ErrPerm),
            (Error::from_raw_os_error(libc::EPERM), OcfRc::ErrPerm),
            (Error::from_raw_os_error(libc::EROFS), OcfRc::ErrPerm),
            (Error::from_raw_os_error(libc::ENOSPC), OcfRc::ErrGeneric),
            (Error::from_raw_os_error(libc::ENOTDIR), OcfRc::ErrGeneric),
        ] {
            let err = write_err(path, e);
            assert_eq!(err.rc(), rc, "{err}");
            assert!(err
                .reason()
                .starts_with("can't write /var/lib/pgsql/tmp/rep_mode.conf: "));
        }
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        // The rename fails: the target is a directory that is not empty.
        let target = dir.path().join("rep_mode.conf");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("keep"), "x").unwrap();
        let err = write_atomically(&target, "text", &me(), 0o600).unwrap_err();
        assert!(err.reason().contains("rep_mode.conf: "), "{err}");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["rep_mode.conf"]);
        // A directory that does not exist: nothing is created.
        let missing = dir.path().join("no/such/file");
        assert!(write_atomically(&missing, "x", &me(), 0o600).is_err());
        assert!(!dir.path().join("no").exists());
    }

    #[test]
    fn a_deferral_is_timed_on_the_boot_clock() {
        let dir = tempfile::tempdir().unwrap();
        let (owner, pgdata) = (me(), dir.path().join("pgdata"));
        let files = StateFiles {
            tmpdir: dir.path(),
            pgdata: &pgdata,
            owner: &owner,
        };
        assert_eq!(files.deferred_for(), None);
        files.begin_deferral().unwrap();
        assert!(files.deferred_for().unwrap() < Duration::from_secs(5));
        let (boot, now) = boot_clock().unwrap();
        let note = dir.path().join("election_deferred");
        let ago = now.as_millis() - 25_000;
        std::fs::write(&note, format!("{boot} {ago}\n")).unwrap();
        let age = files.deferred_for().unwrap();
        assert!(
            age >= Duration::from_secs(25) && age < Duration::from_secs(30),
            "{age:?}"
        );
        // Another boot's note, a garbled one, one from the future: run out.
        for text in [
            format!("another-boot {ago}"),
            "garbled".into(),
            format!("{boot} {}", now.as_millis() + 60_000),
        ] {
            std::fs::write(&note, text).unwrap();
            assert_eq!(files.deferred_for(), Some(Duration::MAX));
        }
        files.end_deferral();
        assert_eq!(files.deferred_for(), None);
    }
}
