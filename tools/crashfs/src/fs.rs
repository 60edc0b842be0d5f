//! The FUSE filesystem: a passthrough of the backing directory whose file data
//! writes stay in memory (`cache::Dirty`) until synced.
//!
//! Inodes: every inode the kernel knows holds an `O_PATH` descriptor of its
//! backing object, so renames need no path bookkeeping and a backing inode
//! number cannot be reused while we know it. Inodes are keyed by the backing
//! `(st_dev, st_ino)`: hard links share one inode and its dirty pages. An inode
//! with dirty pages stays in the table after the kernel forgets it, so that
//! the pages are neither lost nor detached from a later lookup of the file.
//!
//! Locks: the table lock, then one inode's state lock, never the other way.
//! A writeback holds the state lock while it writes the pages to the backing
//! file (so no write interleaves) and fsyncs after releasing it.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{DirEntryExt, FileExt, FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{FileAttr, FileHandle, FileType, INodeNo, Notifier, TimeOrNow};
use nix::fcntl::{openat, renameat2, AtFlags, OFlag, AT_FDCWD};
use nix::sys::stat::{fstat, fstatat, mkdirat, mknodat, FileStat, Mode, SFlag};
use nix::unistd::{fchownat, linkat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};

use crate::cache::{Dirty, PAGE};

const ROOT: u64 = INodeNo::ROOT.0;

/// Settings from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// Past this much dirty data in total, a write flushes every dirty page to
    /// the backing files (which makes them durable early).
    pub max_dirty_bytes: u64,
}

/// Who creates a file: the FUSE request's caller.
#[derive(Debug, Clone, Copy)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

/// File handles carry the crash epoch they were opened in and the sync mode
/// of the open (`O_SYNC`, `O_DSYNC`): no handle table is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum SyncMode {
    None = 0,
    Data = 1,
    Full = 2,
}

impl SyncMode {
    fn of(flags: i32) -> SyncMode {
        // O_SYNC includes the O_DSYNC bit.
        if flags & libc::O_SYNC == libc::O_SYNC {
            SyncMode::Full
        } else if flags & libc::O_DSYNC != 0 {
            SyncMode::Data
        } else {
            SyncMode::None
        }
    }
}

fn file_handle(epoch: u64, sync: SyncMode) -> FileHandle {
    FileHandle(epoch << 2 | sync as u64)
}

fn handle_epoch(fh: FileHandle) -> u64 {
    fh.0 >> 2
}

fn handle_sync(fh: FileHandle) -> SyncMode {
    match fh.0 & 3 {
        2 => SyncMode::Full,
        1 => SyncMode::Data,
        _ => SyncMode::None,
    }
}

/// One backing object the kernel knows (or that still has dirty pages).
#[derive(Debug)]
struct Inode {
    id: u64,
    key: (u64, u64),
    /// `O_PATH` descriptor of the backing object.
    path_fd: OwnedFd,
    /// Lookups the kernel holds (`forget` returns them).
    nlookup: AtomicU64,
    /// Open file handles (`release` closes them).
    opens: AtomicU64,
    /// Bumped on every change we make to the backing file's data or size;
    /// `synced` is the value an fsync covered. A file we never wrote needs no
    /// backing fsync (PostgreSQL fsyncs every file after a crash).
    writes: AtomicU64,
    synced: AtomicU64,
    state: Mutex<FileState>,
}

#[derive(Debug, Default)]
struct FileState {
    dirty: Option<Dirty>,
    /// Backing file opened for I/O, read-only until the first write (a
    /// read-write descriptor would make executing the file fail).
    file: Option<Arc<File>>,
    writable: bool,
}

impl Inode {
    fn proc_path(&self) -> String {
        format!("/proc/self/fd/{}", self.path_fd.as_raw_fd())
    }

    fn stat(&self) -> io::Result<FileStat> {
        Ok(fstat(&self.path_fd)?)
    }

    fn lock(&self) -> MutexGuard<'_, FileState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn open_backing(&self, write: bool) -> io::Result<Arc<File>> {
        let file = File::options()
            .read(true)
            .write(write)
            .custom_flags(libc::O_CLOEXEC)
            .open(self.proc_path())?;
        Ok(Arc::new(file))
    }
}

impl FileState {
    fn reader(&mut self, inode: &Inode) -> io::Result<Arc<File>> {
        if self.file.is_none() {
            self.file = Some(inode.open_backing(false)?);
            self.writable = false;
        }
        Ok(self.file.clone().expect("just opened"))
    }

    fn writer(&mut self, inode: &Inode) -> io::Result<Arc<File>> {
        if !self.writable {
            self.file = Some(inode.open_backing(true)?);
            self.writable = true;
        }
        Ok(self.file.clone().expect("just opened"))
    }
}

#[derive(Debug, Default)]
struct Table {
    by_id: HashMap<u64, Arc<Inode>>,
    by_key: HashMap<(u64, u64), u64>,
    next_id: u64,
}

/// Counters for `crashfs stats`.
#[derive(Debug, Default)]
struct Counters {
    crashes: AtomicU64,
    last_crash_dropped_bytes: AtomicU64,
    last_crash_dropped_files: AtomicU64,
    dropped_bytes_total: AtomicU64,
    written_back_bytes_total: AtomicU64,
    cap_flushes: AtomicU64,
    stale_handle_errors: AtomicU64,
    discarded_unlinked_bytes: AtomicU64,
}

/// What a crash dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    pub bytes: u64,
    pub files: u64,
}

/// The state shared by the FUSE threads and the control socket.
#[derive(Debug)]
pub struct Shared {
    opts: Options,
    table: Mutex<Table>,
    /// Incremented by each crash; handles from an older epoch get EIO.
    epoch: AtomicU64,
    /// Sum of the dirty pages of all inodes, in bytes.
    dirty_bytes: AtomicU64,
    /// Serialises whole-filesystem writebacks (cap, sync).
    flush_all: Mutex<()>,
    dirs: Mutex<HashMap<u64, Arc<Vec<DirEnt>>>>,
    next_dir: AtomicU64,
    notifier: OnceLock<Notifier>,
    counters: Counters,
}

#[derive(Debug)]
pub struct DirEnt {
    pub ino: u64,
    pub kind: FileType,
    pub name: OsString,
}

impl Shared {
    /// Opens the backing directory; `root` must be a directory.
    pub fn new(root: &Path, opts: Options) -> io::Result<Arc<Shared>> {
        let fd = openat(
            AT_FDCWD,
            root,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let st = fstat(&fd)?;
        let root = Arc::new(Inode {
            id: ROOT,
            key: (st.st_dev, st.st_ino),
            path_fd: fd,
            nlookup: AtomicU64::new(1),
            opens: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            state: Mutex::default(),
        });
        let mut table = Table {
            next_id: ROOT + 1,
            ..Table::default()
        };
        table.by_key.insert(root.key, ROOT);
        table.by_id.insert(ROOT, root);
        Ok(Arc::new(Shared {
            opts,
            table: Mutex::new(table),
            epoch: AtomicU64::new(0),
            dirty_bytes: AtomicU64::new(0),
            flush_all: Mutex::new(()),
            dirs: Mutex::default(),
            next_dir: AtomicU64::new(1),
            notifier: OnceLock::new(),
            counters: Counters::default(),
        }))
    }

    /// Gives the crash a way to invalidate the kernel's caches.
    pub fn set_notifier(&self, notifier: Notifier) {
        let _ = self.notifier.set(notifier);
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn inode(&self, id: INodeNo) -> io::Result<Arc<Inode>> {
        self.table()
            .by_id
            .get(&id.0)
            .cloned()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ESTALE))
    }

    fn all_inodes(&self) -> Vec<Arc<Inode>> {
        self.table().by_id.values().cloned().collect()
    }

    /// Registers a lookup of the backing object `fd` (or counts one more
    /// lookup of the inode we already have for it).
    fn intern(&self, fd: OwnedFd, st: &FileStat) -> Arc<Inode> {
        let key = (st.st_dev, st.st_ino);
        let mut table = self.table();
        if let Some(inode) = table.by_key.get(&key).map(|id| table.by_id[id].clone()) {
            inode.nlookup.fetch_add(1, SeqCst);
            return inode;
        }
        let id = table.next_id;
        table.next_id += 1;
        let inode = Arc::new(Inode {
            id,
            key,
            path_fd: fd,
            nlookup: AtomicU64::new(1),
            opens: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            state: Mutex::default(),
        });
        table.by_key.insert(key, id);
        table.by_id.insert(id, inode.clone());
        inode
    }

    /// Drops the inode from the table once nothing refers to it: no kernel
    /// lookup, no open handle, no dirty page.
    fn maybe_evict(&self, id: u64) {
        let mut table = self.table();
        let Some(inode) = table.by_id.get(&id) else {
            return;
        };
        if id == ROOT
            || inode.nlookup.load(SeqCst) > 0
            || inode.opens.load(SeqCst) > 0
            || inode.lock().dirty.is_some()
        {
            return;
        }
        let key = inode.key;
        table.by_id.remove(&id);
        table.by_key.remove(&key);
    }

    fn attr(&self, inode: &Inode, st: &FileStat) -> FileAttr {
        let mut attr = file_attr(inode.id, st);
        if let Some(dirty) = &inode.lock().dirty {
            attr.size = dirty.size;
            attr.blocks = attr.blocks.max(dirty.size.div_ceil(512));
            attr.mtime = attr.mtime.max(dirty.mtime);
        }
        attr
    }

    fn lookup_child(&self, parent: &Inode, name: &OsStr) -> io::Result<FileAttr> {
        let fd = openat(
            &parent.path_fd,
            name,
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let st = fstat(&fd)?;
        let inode = self.intern(fd, &st);
        Ok(self.attr(&inode, &st))
    }

    /// The owner of a new object in `parent`: the caller, with the
    /// directory's group instead when it is set-group-ID (the group it got
    /// already), as the kernel would do.
    fn new_owner(&self, parent: &Inode, owner: Owner) -> io::Result<(Uid, Option<Gid>)> {
        let parent_sgid = parent.stat()?.st_mode & libc::S_ISGID != 0;
        Ok((
            Uid::from_raw(owner.uid),
            (!parent_sgid).then(|| Gid::from_raw(owner.gid)),
        ))
    }

    /// Gives a new object (made by us, root) the caller's ownership.
    fn chown_new(&self, parent: &Inode, name: &OsStr, owner: Owner) -> io::Result<()> {
        let (uid, gid) = self.new_owner(parent, owner)?;
        fchownat(
            &parent.path_fd,
            name,
            Some(uid),
            gid,
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )?;
        Ok(())
    }

    /// Checks that a handle was opened since the last crash; must be called
    /// under the inode's state lock so that a crash cannot slip in between.
    fn check_epoch(&self, fh: FileHandle) -> io::Result<()> {
        if handle_epoch(fh) == self.epoch.load(SeqCst) {
            Ok(())
        } else {
            self.counters.stale_handle_errors.fetch_add(1, SeqCst);
            Err(io::Error::from_raw_os_error(libc::EIO))
        }
    }

    pub fn read(
        &self,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
    ) -> io::Result<Vec<u8>> {
        let inode = &*self.inode(ino)?;
        let file = {
            let mut st = inode.lock();
            self.check_epoch(fh)?;
            let file = st.reader(inode)?;
            if let Some(dirty) = &st.dirty {
                let len = (size as u64).min(dirty.size.saturating_sub(offset)) as usize;
                let mut buf = vec![0u8; len];
                read_full(&file, &mut buf, offset)?;
                dirty.overlay(offset, &mut buf);
                return Ok(buf);
            }
            file
        };
        // Clean file: the backing file is the truth, read it unlocked.
        let mut buf = vec![0u8; size as usize];
        let n = read_full(&file, &mut buf, offset)?;
        buf.truncate(n);
        Ok(buf)
    }

    /// `flags`: the write's own flags (the kernel passes the handle's, plus
    /// a per-write RWF_DSYNC/RWF_SYNC).
    pub fn write(
        &self,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        flags: i32,
    ) -> io::Result<()> {
        let inode = &*self.inode(ino)?;
        let sync = handle_sync(fh).max(SyncMode::of(flags));
        let mut st = inode.lock();
        self.check_epoch(fh)?;
        let file = st.writer(inode)?;
        if sync != SyncMode::None {
            // O_SYNC / O_DSYNC: straight to the backing file. Dirty pages
            // over the same bytes take the new data too.
            file.write_all_at(data, offset)?;
            if let Some(dirty) = &mut st.dirty {
                dirty.patch(offset, data);
            }
            inode.writes.fetch_add(1, SeqCst);
            drop(st);
            return self.sync_backing(inode, &file, sync == SyncMode::Data);
        }
        if st.dirty.is_none() {
            st.dirty = Some(Dirty::new(file.metadata()?.len()));
        }
        let dirty = st.dirty.as_mut().expect("just created");
        let added = match dirty.write(offset, data, |index, page| {
            read_full(&file, page, index * PAGE).map(|_| ())
        }) {
            Ok(pages) => pages * PAGE,
            Err(e) => {
                // A failed fill changed nothing, but the Dirty may be new.
                if dirty.is_empty() {
                    st.dirty = None;
                }
                return Err(e);
            }
        };
        let total = self.dirty_bytes.fetch_add(added, SeqCst) + added;
        drop(st);
        if total > self.opts.max_dirty_bytes {
            self.flush_for_cap();
        }
        Ok(())
    }

    /// Writes the inode's dirty pages to the backing file (not fsynced).
    /// Called with the state lock held; on failure the pages stay dirty.
    fn writeback_locked(&self, inode: &Inode, st: &mut FileState) -> io::Result<u64> {
        let Some(mut dirty) = st.dirty.take() else {
            return Ok(0);
        };
        let bytes = dirty.bytes();
        let size = dirty.size;
        let runs = dirty.take_runs();
        let result = (|| {
            let file = st.writer(inode)?;
            for (offset, data) in &runs {
                file.write_all_at(data, *offset)?;
            }
            // The size may come from a page we did not write (a truncate
            // made it, so the backing file has it), but make sure.
            if file.metadata()?.len() < size {
                file.set_len(size)?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            dirty.restore_runs(runs);
            st.dirty = Some(dirty);
            return Err(e);
        }
        inode.writes.fetch_add(1, SeqCst);
        self.dirty_bytes.fetch_sub(bytes, SeqCst);
        self.counters
            .written_back_bytes_total
            .fetch_add(bytes, SeqCst);
        Ok(bytes)
    }

    /// fsyncs the backing file unless we wrote nothing to it since the last
    /// fsync.
    fn sync_backing(&self, inode: &Inode, file: &File, datasync: bool) -> io::Result<()> {
        let writes = inode.writes.load(SeqCst);
        if writes == inode.synced.load(SeqCst) {
            return Ok(());
        }
        if datasync {
            file.sync_data()?;
        } else {
            file.sync_all()?;
        }
        inode.synced.fetch_max(writes, SeqCst);
        Ok(())
    }

    pub fn fsync(&self, ino: INodeNo, fh: FileHandle, datasync: bool) -> io::Result<()> {
        let inode = &*self.inode(ino)?;
        let file = {
            let mut st = inode.lock();
            self.check_epoch(fh)?;
            self.writeback_locked(inode, &mut st)?;
            st.reader(inode)?
        };
        self.sync_backing(inode, &file, datasync)
    }

    /// Writes every dirty page to the backing files (the dirty cap, `sync`,
    /// unmount). Returns the bytes written.
    fn writeback_all(&self) -> io::Result<u64> {
        let _serial = self.flush_all.lock().unwrap_or_else(|e| e.into_inner());
        self.writeback_all_serialised()
    }

    fn writeback_all_serialised(&self) -> io::Result<u64> {
        let mut total = 0;
        let mut first_error = None;
        for inode in self.all_inodes() {
            let mut st = inode.lock();
            match self.writeback_locked(&inode, &mut st) {
                Ok(n) => total += n,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(total),
        }
    }

    fn flush_for_cap(&self) {
        let _serial = self.flush_all.lock().unwrap_or_else(|e| e.into_inner());
        // Writers that waited here find the work done.
        if self.dirty_bytes.load(SeqCst) <= self.opts.max_dirty_bytes {
            return;
        }
        self.counters.cap_flushes.fetch_add(1, SeqCst);
        if let Err(e) = self.writeback_all_serialised() {
            eprintln!("crashfs: writeback at the dirty cap failed: {e}");
        }
    }

    /// A clean shutdown's sync: every dirty page to the backing files, and
    /// an fsync of each file crashfs wrote to since its last one (not a
    /// syncfs: the backing filesystem may be the host's root, busy with
    /// others' data). Returns the bytes written back.
    pub fn sync_all(&self) -> io::Result<u64> {
        let bytes = self.writeback_all()?;
        let mut first_error = None;
        for inode in self.all_inodes() {
            if inode.writes.load(SeqCst) == inode.synced.load(SeqCst) {
                continue;
            }
            let file = inode.lock().reader(&inode);
            let synced = file.and_then(|file| self.sync_backing(&inode, &file, false));
            if let Err(e) = synced {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(bytes),
        }
    }

    /// The simulated crash: forgets every dirty page. Handles opened before
    /// it get EIO from now on. The kernel's cached data and attributes of the
    /// files concerned are invalidated, so readers see the backing files.
    pub fn crash(&self) -> Dropped {
        self.epoch.fetch_add(1, SeqCst);
        let mut dropped = Dropped { bytes: 0, files: 0 };
        let mut ids = Vec::new();
        for inode in self.all_inodes() {
            if let Some(dirty) = inode.lock().dirty.take() {
                self.dirty_bytes.fetch_sub(dirty.bytes(), SeqCst);
                dropped.bytes += dirty.bytes();
                dropped.files += 1;
                ids.push(inode.id);
            }
        }
        if let Some(notifier) = self.notifier.get() {
            for &id in &ids {
                // ENOENT: the kernel no longer caches the inode; nothing to do.
                let _ = notifier.inval_inode(INodeNo(id), 0, 0);
            }
        }
        for id in ids {
            self.maybe_evict(id);
        }
        let c = &self.counters;
        c.crashes.fetch_add(1, SeqCst);
        c.last_crash_dropped_bytes.store(dropped.bytes, SeqCst);
        c.last_crash_dropped_files.store(dropped.files, SeqCst);
        c.dropped_bytes_total.fetch_add(dropped.bytes, SeqCst);
        dropped
    }

    /// `key=value` lines for `crashfs stats`.
    pub fn stats(&self) -> String {
        let inodes = self.all_inodes();
        let dirty_files = inodes.iter().filter(|i| i.lock().dirty.is_some()).count();
        let c = &self.counters;
        let lines = [
            ("dirty_bytes", self.dirty_bytes.load(SeqCst)),
            ("dirty_files", dirty_files as u64),
            ("max_dirty_bytes", self.opts.max_dirty_bytes),
            ("crashes", c.crashes.load(SeqCst)),
            (
                "last_crash_dropped_bytes",
                c.last_crash_dropped_bytes.load(SeqCst),
            ),
            (
                "last_crash_dropped_files",
                c.last_crash_dropped_files.load(SeqCst),
            ),
            ("dropped_bytes_total", c.dropped_bytes_total.load(SeqCst)),
            (
                "written_back_bytes_total",
                c.written_back_bytes_total.load(SeqCst),
            ),
            ("cap_flushes", c.cap_flushes.load(SeqCst)),
            ("stale_handle_errors", c.stale_handle_errors.load(SeqCst)),
            (
                "discarded_unlinked_bytes",
                c.discarded_unlinked_bytes.load(SeqCst),
            ),
            ("inodes", inodes.len() as u64),
        ];
        lines.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
    }

    /// A file whose last name is gone and that nobody has open can never be
    /// read again, not even after a crash: its dirty pages are discarded.
    fn discard_if_orphan(&self, key: (u64, u64)) {
        let inode = {
            let table = self.table();
            match table.by_key.get(&key) {
                Some(id) => table.by_id[id].clone(),
                None => return,
            }
        };
        if inode.opens.load(SeqCst) > 0 || inode.stat().map_or(true, |st| st.st_nlink > 0) {
            return;
        }
        {
            let mut st = inode.lock();
            if let Some(dirty) = st.dirty.take() {
                self.dirty_bytes.fetch_sub(dirty.bytes(), SeqCst);
                self.counters
                    .discarded_unlinked_bytes
                    .fetch_add(dirty.bytes(), SeqCst);
            }
            st.file = None;
            st.writable = false;
        }
        self.maybe_evict(inode.id);
    }

    fn truncate(&self, inode: &Inode, size: u64) -> io::Result<()> {
        let mut st = inode.lock();
        let file = st.writer(inode)?;
        file.set_len(size)?;
        inode.writes.fetch_add(1, SeqCst);
        if let Some(dirty) = &mut st.dirty {
            let removed = dirty.truncate(size);
            self.dirty_bytes.fetch_sub(removed * PAGE, SeqCst);
            if dirty.is_empty() {
                st.dirty = None;
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub fn setattr(
        &self,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
    ) -> io::Result<FileAttr> {
        let inode = &*self.inode(ino)?;
        let is_symlink = inode.stat()?.st_mode & libc::S_IFMT == libc::S_IFLNK;
        if uid.is_some() || gid.is_some() {
            fchownat(
                &inode.path_fd,
                "",
                uid.map(Uid::from_raw),
                gid.map(Gid::from_raw),
                AtFlags::AT_EMPTY_PATH | AtFlags::AT_SYMLINK_NOFOLLOW,
            )?;
        }
        // Linux has no mode or times on a symlink to set through its fd.
        if let Some(mode) = mode.filter(|_| !is_symlink) {
            std::fs::set_permissions(
                inode.proc_path(),
                std::os::unix::fs::PermissionsExt::from_mode(mode & 0o7777),
            )?;
        }
        if let Some(size) = size {
            self.truncate(inode, size)?;
        }
        if (atime.is_some() || mtime.is_some()) && !is_symlink {
            set_times(&inode.proc_path(), atime, mtime)?;
        }
        let st = inode.stat()?;
        Ok(self.attr(inode, &st))
    }

    pub fn create(
        &self,
        owner: Owner,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        flags: i32,
    ) -> io::Result<(FileAttr, FileHandle)> {
        let parent = &*self.inode(parent)?;
        let open = |extra: OFlag| {
            openat(
                &parent.path_fd,
                name,
                OFlag::O_CREAT | OFlag::O_RDWR | OFlag::O_CLOEXEC | extra,
                Mode::from_bits_truncate(mode),
            )
        };
        // O_EXCL tells whether we made the file (then it gets the caller's
        // ownership) or another open raced us to it.
        let (fd, created) = match open(OFlag::O_EXCL) {
            Ok(fd) => (fd, true),
            Err(nix::errno::Errno::EEXIST) if flags & libc::O_EXCL == 0 => {
                (open(OFlag::empty())?, false)
            }
            Err(e) => return Err(e.into()),
        };
        if created {
            let (uid, gid) = self.new_owner(parent, owner)?;
            nix::unistd::fchown(&fd, Some(uid), gid)?;
        }
        let file = File::from(fd);
        let path_fd = openat(
            AT_FDCWD,
            format!("/proc/self/fd/{}", file.as_raw_fd()).as_str(),
            OFlag::O_PATH | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let st = fstat(&path_fd)?;
        let inode = self.intern(path_fd, &st);
        inode.opens.fetch_add(1, SeqCst);
        {
            let mut state = inode.lock();
            if !state.writable {
                state.file = Some(Arc::new(file));
                state.writable = true;
            }
        }
        if !created && flags & libc::O_TRUNC != 0 {
            self.truncate(&inode, 0)?;
        }
        let attr = self.attr(&inode, &inode.stat()?);
        let fh = file_handle(self.epoch.load(SeqCst), SyncMode::of(flags));
        Ok((attr, fh))
    }

    pub fn release(&self, ino: INodeNo) {
        let Ok(inode) = self.inode(ino) else {
            return;
        };
        if inode.opens.fetch_sub(1, SeqCst) == 1 {
            let mut st = inode.lock();
            // Close the backing descriptor unless a writeback still needs it.
            if st.dirty.is_none() {
                st.file = None;
                st.writable = false;
            }
        }
        self.discard_if_orphan(inode.key);
        self.maybe_evict(inode.id);
    }

    /// Directory handles: the listing is read when `readdir` asks for offset
    /// 0 (the first call, or after a rewinddir) and served from memory for
    /// the later offsets. Entries made or removed meanwhile may or may not
    /// show, as POSIX allows.
    pub fn opendir(&self) -> FileHandle {
        let id = self.next_dir.fetch_add(1, SeqCst);
        self.dirs().insert(id, Arc::new(Vec::new()));
        FileHandle(id)
    }

    pub fn readdir(
        &self,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
    ) -> io::Result<Arc<Vec<DirEnt>>> {
        if offset == 0 {
            let entries = Arc::new(self.read_dir(&*self.inode(ino)?)?);
            self.dirs().insert(fh.0, entries.clone());
            return Ok(entries);
        }
        self.dirs()
            .get(&fh.0)
            .cloned()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))
    }

    pub fn releasedir(&self, fh: FileHandle) {
        self.dirs().remove(&fh.0);
    }

    fn dirs(&self) -> MutexGuard<'_, HashMap<u64, Arc<Vec<DirEnt>>>> {
        self.dirs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn read_dir(&self, inode: &Inode) -> io::Result<Vec<DirEnt>> {
        let mut entries = vec![
            DirEnt {
                ino: inode.id,
                kind: FileType::Directory,
                name: ".".into(),
            },
            DirEnt {
                ino: inode.id,
                kind: FileType::Directory,
                name: "..".into(),
            },
        ];
        for entry in std::fs::read_dir(inode.proc_path())? {
            let entry = entry?;
            let kind = match entry.file_type() {
                Ok(t) => std_file_type(t),
                Err(_) => continue, // removed meanwhile
            };
            entries.push(DirEnt {
                ino: entry.ino(),
                kind,
                name: entry.file_name(),
            });
        }
        Ok(entries)
    }

    pub fn fallocate(&self, ino: INodeNo, offset: u64, length: u64, mode: i32) -> io::Result<()> {
        let inode = &*self.inode(ino)?;
        // Allocation only: it changes no data, so it needs no dirty-page
        // bookkeeping beyond the size. Punching holes would; it is refused.
        if mode & !libc::FALLOC_FL_KEEP_SIZE != 0 {
            return Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP));
        }
        let mut st = inode.lock();
        let file = st.writer(inode)?;
        let flags = nix::fcntl::FallocateFlags::from_bits_truncate(mode);
        nix::fcntl::fallocate(&file, flags, offset as i64, length as i64)?;
        inode.writes.fetch_add(1, SeqCst);
        if mode == 0 {
            if let Some(dirty) = &mut st.dirty {
                dirty.size = dirty.size.max(offset + length);
            }
        }
        Ok(())
    }
}

/// The operations that only touch the backing directory (and the table).
impl Shared {
    pub fn lookup(&self, parent: INodeNo, name: &OsStr) -> io::Result<FileAttr> {
        self.lookup_child(&*self.inode(parent)?, name)
    }

    pub fn forget(&self, ino: INodeNo, nlookup: u64) {
        if let Ok(inode) = self.inode(ino) {
            let _ = inode
                .nlookup
                .fetch_update(SeqCst, SeqCst, |n| Some(n.saturating_sub(nlookup)));
            self.maybe_evict(ino.0);
        }
    }

    pub fn getattr(&self, ino: INodeNo) -> io::Result<FileAttr> {
        let inode = self.inode(ino)?;
        Ok(self.attr(&inode, &inode.stat()?))
    }

    pub fn readlink(&self, ino: INodeNo) -> io::Result<OsString> {
        Ok(nix::fcntl::readlinkat(&self.inode(ino)?.path_fd, "")?)
    }

    pub fn mknod(
        &self,
        owner: Owner,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        rdev: u32,
    ) -> io::Result<FileAttr> {
        let parent = self.inode(parent)?;
        mknodat(
            &parent.path_fd,
            name,
            SFlag::from_bits_truncate(mode & libc::S_IFMT),
            Mode::from_bits_truncate(mode & 0o7777),
            rdev as libc::dev_t,
        )?;
        self.chown_new(&parent, name, owner)?;
        self.lookup_child(&parent, name)
    }

    pub fn mkdir(
        &self,
        owner: Owner,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
    ) -> io::Result<FileAttr> {
        let parent = self.inode(parent)?;
        mkdirat(
            &parent.path_fd,
            name,
            Mode::from_bits_truncate(mode & 0o7777),
        )?;
        self.chown_new(&parent, name, owner)?;
        self.lookup_child(&parent, name)
    }

    pub fn symlink(
        &self,
        owner: Owner,
        parent: INodeNo,
        name: &OsStr,
        target: &Path,
    ) -> io::Result<FileAttr> {
        let parent = self.inode(parent)?;
        symlinkat(target, &parent.path_fd, name)?;
        self.chown_new(&parent, name, owner)?;
        self.lookup_child(&parent, name)
    }

    pub fn link(&self, ino: INodeNo, newparent: INodeNo, newname: &OsStr) -> io::Result<FileAttr> {
        let inode = self.inode(ino)?;
        let newparent = self.inode(newparent)?;
        linkat(
            &inode.path_fd,
            "",
            &newparent.path_fd,
            newname,
            AtFlags::AT_EMPTY_PATH,
        )?;
        self.lookup_child(&newparent, newname)
    }

    pub fn unlink(&self, parent: INodeNo, name: &OsStr) -> io::Result<()> {
        let parent = self.inode(parent)?;
        let st = fstatat(&parent.path_fd, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
        unlinkat(&parent.path_fd, name, UnlinkatFlags::NoRemoveDir)?;
        self.discard_if_orphan((st.st_dev, st.st_ino));
        Ok(())
    }

    pub fn rmdir(&self, parent: INodeNo, name: &OsStr) -> io::Result<()> {
        let parent = self.inode(parent)?;
        Ok(unlinkat(&parent.path_fd, name, UnlinkatFlags::RemoveDir)?)
    }

    pub fn rename(
        &self,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: u32,
    ) -> io::Result<()> {
        let parent = self.inode(parent)?;
        let newparent = self.inode(newparent)?;
        // The file a rename replaces may lose its last name.
        let replaced = fstatat(&newparent.path_fd, newname, AtFlags::AT_SYMLINK_NOFOLLOW)
            .ok()
            .map(|st| (st.st_dev, st.st_ino));
        renameat2(
            &parent.path_fd,
            name,
            &newparent.path_fd,
            newname,
            nix::fcntl::RenameFlags::from_bits_truncate(flags),
        )?;
        if let Some(key) = replaced {
            self.discard_if_orphan(key);
        }
        Ok(())
    }

    /// A new handle: it carries the current crash epoch and the open's sync
    /// mode. The backing file is opened on first use.
    pub fn open(&self, ino: INodeNo, flags: i32) -> io::Result<FileHandle> {
        self.inode(ino)?.opens.fetch_add(1, SeqCst);
        Ok(file_handle(self.epoch.load(SeqCst), SyncMode::of(flags)))
    }

    /// Directory changes are in the backing directory already (metadata is
    /// durable at once here); this syncs it for the real disk's sake.
    pub fn fsyncdir(&self, ino: INodeNo, datasync: bool) -> io::Result<()> {
        let dir = File::open(self.inode(ino)?.proc_path())?;
        if datasync {
            dir.sync_data()
        } else {
            dir.sync_all()
        }
    }

    pub fn statfs(&self, ino: INodeNo) -> io::Result<nix::sys::statvfs::Statvfs> {
        Ok(nix::sys::statvfs::fstatvfs(&self.inode(ino)?.path_fd)?)
    }
}

/// Reads until `buf` is full or the file ends; returns the bytes read (the
/// rest of `buf` is left as it was, zeros for our callers).
fn read_full(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

fn set_times(path: &str, atime: Option<TimeOrNow>, mtime: Option<TimeOrNow>) -> io::Result<()> {
    let spec = |t: Option<TimeOrNow>| match t {
        None => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        Some(TimeOrNow::Now) => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_NOW,
        },
        Some(TimeOrNow::SpecificTime(t)) => {
            let (sec, nsec) = match t.duration_since(UNIX_EPOCH) {
                Ok(d) => (d.as_secs() as i64, d.subsec_nanos() as i64),
                Err(e) => {
                    let d = e.duration();
                    let (s, n) = (d.as_secs() as i64, d.subsec_nanos() as i64);
                    if n == 0 {
                        (-s, 0)
                    } else {
                        (-s - 1, 1_000_000_000 - n)
                    }
                }
            };
            libc::timespec {
                tv_sec: sec,
                tv_nsec: nsec,
            }
        }
    };
    let times = [spec(atime), spec(mtime)];
    let path = std::ffi::CString::new(path).expect("no NUL in a /proc path");
    // SAFETY: a valid C string and an array of two timespecs.
    let rc = unsafe { libc::utimensat(libc::AT_FDCWD, path.as_ptr(), times.as_ptr(), 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn system_time(sec: i64, nsec: i64) -> SystemTime {
    if sec >= 0 {
        UNIX_EPOCH + Duration::new(sec as u64, nsec as u32)
    } else {
        UNIX_EPOCH - Duration::from_secs(sec.unsigned_abs()) + Duration::from_nanos(nsec as u64)
    }
}

fn mode_file_type(mode: u32) -> FileType {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => FileType::Directory,
        libc::S_IFLNK => FileType::Symlink,
        libc::S_IFIFO => FileType::NamedPipe,
        libc::S_IFCHR => FileType::CharDevice,
        libc::S_IFBLK => FileType::BlockDevice,
        libc::S_IFSOCK => FileType::Socket,
        _ => FileType::RegularFile,
    }
}

fn std_file_type(t: std::fs::FileType) -> FileType {
    if t.is_dir() {
        FileType::Directory
    } else if t.is_symlink() {
        FileType::Symlink
    } else if t.is_fifo() {
        FileType::NamedPipe
    } else if t.is_char_device() {
        FileType::CharDevice
    } else if t.is_block_device() {
        FileType::BlockDevice
    } else if t.is_socket() {
        FileType::Socket
    } else {
        FileType::RegularFile
    }
}

/// The backing object's attributes under our inode number.
fn file_attr(id: u64, st: &FileStat) -> FileAttr {
    let mtime = system_time(st.st_mtime, st.st_mtime_nsec);
    FileAttr {
        ino: INodeNo(id),
        size: st.st_size as u64,
        blocks: st.st_blocks as u64,
        atime: system_time(st.st_atime, st.st_atime_nsec),
        mtime,
        ctime: system_time(st.st_ctime, st.st_ctime_nsec),
        crtime: mtime,
        kind: mode_file_type(st.st_mode),
        perm: (st.st_mode & 0o7777) as u16,
        nlink: st.st_nlink as u32,
        uid: st.st_uid,
        gid: st.st_gid,
        rdev: st.st_rdev as u32,
        blksize: st.st_blksize as u32,
        flags: 0,
    }
}
