//! File-level semantics of crashfs: what survives a crash and what does not.
//! Needs root and /dev/fuse; run with `cargo test -p crashfs`.

mod common;

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::process::Command;

use common::Mount;

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| seed.wrapping_add((i % 251) as u8))
        .collect()
}

fn write_new(path: &std::path::Path, data: &[u8]) -> File {
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    f.write_all(data).unwrap();
    f
}

#[test]
fn unsynced_write_is_lost_and_the_size_goes_back_to_the_synced_size() {
    let m = Mount::new("unsynced");
    let path = m.mnt.join("f");
    let f = write_new(&path, &pattern(1, 10_000));
    f.sync_all().unwrap();
    f.write_all_at(&pattern(2, 5000), 10_000).unwrap();
    f.write_all_at(b"overwritten", 0).unwrap();
    assert_eq!(fs::metadata(&path).unwrap().len(), 15_000);
    assert_eq!(fs::metadata(m.backing.join("f")).unwrap().len(), 10_000);
    drop(f);

    let dropped = m.crash();
    assert!(dropped > 0, "the crash dropped nothing");
    assert_eq!(fs::metadata(&path).unwrap().len(), 10_000);
    assert_eq!(fs::read(&path).unwrap(), pattern(1, 10_000));
    assert_eq!(m.dirty_bytes(), 0);
}

#[test]
fn fsynced_and_fdatasynced_writes_survive() {
    let m = Mount::new("fsynced");
    let a = write_new(&m.mnt.join("a"), &pattern(3, 100_000));
    a.sync_all().unwrap();
    let b = write_new(&m.mnt.join("b"), &pattern(4, 8192));
    b.sync_data().unwrap();
    drop((a, b));
    assert_eq!(m.crash(), 0, "nothing was left to drop");
    assert_eq!(fs::read(m.mnt.join("a")).unwrap(), pattern(3, 100_000));
    assert_eq!(fs::read(m.mnt.join("b")).unwrap(), pattern(4, 8192));
}

#[test]
fn a_closed_but_unsynced_file_loses_its_data_but_not_its_name() {
    let m = Mount::new("closed");
    let path = m.mnt.join("f");
    drop(write_new(&path, &pattern(5, 20_000)));
    // Reopening still sees the data: it lives in crashfs' memory.
    assert_eq!(fs::read(&path).unwrap(), pattern(5, 20_000));
    assert!(m.dirty_bytes() >= 20_000);
    assert!(m.crash() >= 20_000);
    // Metadata is durable at once here: the file exists, empty.
    assert_eq!(fs::metadata(&path).unwrap().len(), 0);
}

#[test]
fn o_dsync_and_o_sync_writes_survive() {
    let m = Mount::new("dsync");
    for (name, flag) in [("dsync", libc::O_DSYNC), ("sync", libc::O_SYNC)] {
        let mut f = OpenOptions::new()
            .create(true)
            .write(true)
            .custom_flags(flag)
            .open(m.mnt.join(name))
            .unwrap();
        f.write_all(&pattern(6, 3 * 8192 + 100)).unwrap();
    }
    assert_eq!(
        m.dirty_bytes(),
        0,
        "O_DSYNC/O_SYNC writes must not stay dirty"
    );
    m.crash();
    for name in ["dsync", "sync"] {
        assert_eq!(
            fs::read(m.mnt.join(name)).unwrap(),
            pattern(6, 3 * 8192 + 100)
        );
    }
}

/// FUSE's fsync has no byte range, and the kernel follows an O_DSYNC write
/// with one: the write makes the whole file durable, not only its bytes (a
/// real filesystem syncs the range). PostgreSQL opens WAL files with O_DSYNC
/// (wal_sync_method=open_datasync) and writes them only that way, so this
/// never makes it look safer than it is.
#[test]
fn an_o_dsync_write_makes_the_whole_file_durable() {
    let m = Mount::new("dsync-mix");
    let path = m.mnt.join("f");
    let f = write_new(&path, &pattern(7, 2 * 4096));
    let g = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DSYNC)
        .open(&path)
        .unwrap();
    g.write_all_at(b"synced", 4096 + 10).unwrap();
    let mut expect = pattern(7, 2 * 4096);
    expect[4106..4112].copy_from_slice(b"synced");
    assert_eq!(fs::read(&path).unwrap(), expect);
    assert_eq!(m.dirty_bytes(), 0);
    drop((f, g));
    m.crash();
    assert_eq!(fs::read(&path).unwrap(), expect);
}

#[test]
fn rename_after_fsync_and_fsyncdir_survives_and_keeps_dirty_pages_with_the_file() {
    let m = Mount::new("rename");
    let tmp = m.mnt.join("state.tmp");
    let f = write_new(&tmp, b"durable state");
    f.sync_all().unwrap();
    drop(f);
    fs::rename(&tmp, m.mnt.join("state")).unwrap();
    File::open(&m.mnt).unwrap().sync_all().unwrap();

    // A second file renamed while dirty: its pages move with it.
    drop(write_new(&m.mnt.join("dirty.tmp"), b"not yet"));
    fs::rename(m.mnt.join("dirty.tmp"), m.mnt.join("dirty")).unwrap();
    assert_eq!(fs::read(m.mnt.join("dirty")).unwrap(), b"not yet");
    let f = File::open(m.mnt.join("dirty")).unwrap();
    f.sync_all().unwrap();
    drop(f);

    m.crash();
    assert_eq!(fs::read(m.mnt.join("state")).unwrap(), b"durable state");
    assert_eq!(fs::read(m.mnt.join("dirty")).unwrap(), b"not yet");
    assert!(!tmp.exists());
}

#[test]
fn handles_opened_before_the_crash_get_eio() {
    let m = Mount::new("stale");
    let path = m.mnt.join("f");
    let f = write_new(&path, b"x");
    f.sync_all().unwrap();
    m.crash();
    let mut buf = [0u8; 1];
    let err = f.read_at(&mut buf, 0).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO));
    let err = f.write_at(b"y", 0).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO));
    drop(f);
    // A new open works.
    assert_eq!(fs::read(&path).unwrap(), b"x");
    assert!(m.control("stats")["stale_handle_errors"] >= 2);
}

#[test]
fn a_clean_unmount_writes_everything_back() {
    let mut m = Mount::new("unmount");
    drop(write_new(&m.mnt.join("f"), &pattern(8, 50_000)));
    assert_eq!(fs::metadata(m.backing.join("f")).unwrap().len(), 0);
    let status = m.unmount().expect("the daemon exits after an unmount");
    assert!(status.success(), "{}", m.log());
    assert_eq!(fs::read(m.backing.join("f")).unwrap(), pattern(8, 50_000));
}

#[test]
fn sync_command_writes_everything_back() {
    let m = Mount::new("sync");
    drop(write_new(&m.mnt.join("f"), &pattern(9, 9000)));
    let written = m.control("sync")["written_bytes"];
    assert!(written >= 9000);
    assert_eq!(m.crash(), 0);
    assert_eq!(fs::read(m.mnt.join("f")).unwrap(), pattern(9, 9000));
}

#[test]
fn truncate_is_consistent_with_pending_writes() {
    let m = Mount::new("truncate");
    let path = m.mnt.join("f");
    let f = write_new(&path, &pattern(10, 3 * 4096));
    f.set_len(100).unwrap();
    assert_eq!(fs::metadata(&path).unwrap().len(), 100);
    // Extending again must show zeros, not the truncated data.
    f.write_all_at(b"end", 10_000).unwrap();
    let data = fs::read(&path).unwrap();
    assert_eq!(data.len(), 10_003);
    assert_eq!(&data[..100], &pattern(10, 100)[..]);
    assert!(data[100..10_000].iter().all(|&b| b == 0));
    f.sync_all().unwrap();
    drop(f);
    m.crash();
    assert_eq!(fs::read(&path).unwrap(), data);

    // A truncate is durable at once (metadata), the data written after it
    // is not.
    let f = OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(50).unwrap();
    f.write_all_at(b"lost", 50).unwrap();
    drop(f);
    m.crash();
    assert_eq!(fs::read(&path).unwrap(), &pattern(10, 50)[..]);
}

#[test]
fn unlink_drops_dirty_pages_once_the_file_is_closed() {
    let m = Mount::new("unlink");
    let path = m.mnt.join("f");
    drop(write_new(&path, &pattern(11, 40_000)));
    fs::remove_file(&path).unwrap();
    assert_eq!(m.dirty_bytes(), 0);
    assert!(m.control("stats")["discarded_unlinked_bytes"] >= 40_000);

    // Open and unlinked: still readable through the handle.
    let f = write_new(&path, &pattern(12, 10_000));
    fs::remove_file(&path).unwrap();
    let mut back = vec![0u8; 10_000];
    f.read_exact_at(&mut back, 0).unwrap();
    assert_eq!(back, pattern(12, 10_000));
    drop(f);
    common::wait_for(
        "the unlinked file's pages to go",
        std::time::Duration::from_secs(10),
        || (m.dirty_bytes() == 0).then_some(()),
    );
}

#[test]
fn hard_links_share_dirty_pages() {
    let m = Mount::new("link");
    let a = m.mnt.join("a");
    drop(write_new(&a, b"shared"));
    fs::hard_link(&a, m.mnt.join("b")).unwrap();
    assert_eq!(fs::read(m.mnt.join("b")).unwrap(), b"shared");
    fs::remove_file(&a).unwrap();
    // The file still has a name: its pages stay.
    assert!(m.dirty_bytes() > 0);
    File::open(m.mnt.join("b")).unwrap().sync_all().unwrap();
    m.crash();
    assert_eq!(fs::read(m.mnt.join("b")).unwrap(), b"shared");
}

#[test]
fn ownership_and_modes_pass_through() {
    let m = Mount::new("owner");
    let data = m.mnt.join("data");
    fs::create_dir(&data).unwrap();
    Command::new("chown")
        .args(["postgres:postgres"])
        .arg(&data)
        .status()
        .unwrap();
    fs::set_permissions(&data, fs::Permissions::from_mode(0o700)).unwrap();
    let meta = fs::metadata(m.backing.join("data")).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o700);
    let (uid, gid) = (meta.uid(), meta.gid());
    assert_ne!(uid, 0);

    // Files made by postgres belong to postgres, with the mode asked for.
    let as_postgres = |args: &[&str]| {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .args(args)
            .status()
            .unwrap()
            .success()
    };
    let file = data.join("PG_VERSION");
    assert!(as_postgres(&[
        "sh",
        "-c",
        "umask 077 && echo 15 > \"$0\"",
        file.to_str().unwrap()
    ]));
    assert!(as_postgres(&[
        "mkdir",
        "-m",
        "0750",
        data.join("base").to_str().unwrap()
    ]));
    assert!(as_postgres(&[
        "ln",
        "-s",
        "PG_VERSION",
        data.join("link").to_str().unwrap()
    ]));
    for (name, mode) in [("PG_VERSION", 0o600), ("base", 0o750)] {
        let meta = fs::metadata(m.backing.join("data").join(name)).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (uid, gid), "{name}");
        assert_eq!(meta.mode() & 0o7777, mode, "{name}");
        let seen = fs::metadata(data.join(name)).unwrap();
        assert_eq!(
            (seen.uid(), seen.gid(), seen.mode()),
            (uid, gid, meta.mode()),
            "{name}"
        );
    }
    let link = fs::symlink_metadata(m.backing.join("data/link")).unwrap();
    assert_eq!(link.uid(), uid);
    assert_eq!(
        fs::read_link(data.join("link")).unwrap().to_str(),
        Some("PG_VERSION")
    );

    // In a set-group-ID directory new files take the directory's group.
    let shared = m.mnt.join("shared");
    fs::create_dir(&shared).unwrap();
    assert!(Command::new("chgrp")
        .arg("daemon")
        .arg(&shared)
        .status()
        .unwrap()
        .success());
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o2777)).unwrap();
    let daemon_gid = fs::metadata(&shared).unwrap().gid();
    assert!(as_postgres(&["touch", shared.join("f").to_str().unwrap()]));
    let meta = fs::metadata(m.backing.join("shared/f")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (uid, daemon_gid));

    // The kernel enforces the modes: nobody else gets into the 0700 directory.
    assert!(!Command::new("runuser")
        .args(["-u", "nobody", "--", "ls"])
        .arg(&data)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success());
}

#[test]
fn concurrent_wal_like_writers_keep_exactly_what_they_synced() {
    const SEGMENT: usize = 16 << 20;
    const BLOCK: usize = 8192;
    let m = Mount::new("wal");
    let writers: Vec<_> = (0..4u8)
        .map(|w| {
            let path = m.mnt.join(format!("seg{w}"));
            std::thread::spawn(move || {
                let f = write_new(&path, &[]);
                let data = pattern(w * 40, SEGMENT);
                // fsync every 32 blocks, except for the last stretch.
                for (i, block) in data.chunks(BLOCK).enumerate() {
                    f.write_all_at(block, (i * BLOCK) as u64).unwrap();
                    if i % 32 == 31 && (i + 1) * BLOCK < SEGMENT - 64 * BLOCK {
                        f.sync_data().unwrap();
                    }
                }
                data
            })
        })
        .collect();
    let written: Vec<Vec<u8>> = writers.into_iter().map(|t| t.join().unwrap()).collect();
    for (w, data) in written.iter().enumerate() {
        assert_eq!(&fs::read(m.mnt.join(format!("seg{w}"))).unwrap(), data);
    }
    let dropped = m.crash();
    assert!(dropped >= 4 * 64 * BLOCK as u64, "dropped {dropped}");
    for (w, data) in written.iter().enumerate() {
        let after = fs::read(m.mnt.join(format!("seg{w}"))).unwrap();
        let synced = after.len();
        assert_eq!(synced % (32 * BLOCK), 0, "synced up to a sync point");
        assert!(synced <= SEGMENT - 64 * BLOCK && synced > 0);
        assert_eq!(&after[..], &data[..synced]);
    }
}

#[test]
fn past_the_dirty_cap_writes_are_flushed_early() {
    let m = Mount::with_args("cap", &["--max-dirty-mb", "1"]);
    let path = m.mnt.join("f");
    drop(write_new(&path, &pattern(13, 3 << 20)));
    let stats = m.control("stats");
    assert!(stats["cap_flushes"] >= 1);
    assert!(stats["dirty_bytes"] <= 1 << 20);
    m.crash();
    let after = fs::read(&path).unwrap();
    assert!(after.len() >= 2 << 20, "flushed early: {}", after.len());
    assert_eq!(&after[..], &pattern(13, 3 << 20)[..after.len()]);
}

#[test]
fn the_filesystem_stays_usable_after_a_crash() {
    let m = Mount::new("reuse");
    for round in 0..3u8 {
        let dir = m.mnt.join(format!("d{round}"));
        fs::create_dir(&dir).unwrap();
        let f = write_new(&dir.join("kept"), &pattern(round, 5000));
        f.sync_all().unwrap();
        drop(write_new(&dir.join("lost"), &pattern(round, 5000)));
        assert!(m.crash() > 0);
        assert_eq!(fs::read(dir.join("kept")).unwrap(), pattern(round, 5000));
        assert_eq!(fs::read(dir.join("lost")).unwrap(), b"");
    }
    let names: Vec<_> = fs::read_dir(&m.mnt)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 3);
    assert_eq!(
        fs::read_dir(m.mnt.join("nope")).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn large_directories_list_completely() {
    let m = Mount::new("readdir");
    let dir = m.mnt.join("many");
    fs::create_dir(&dir).unwrap();
    for i in 0..700 {
        drop(File::create(dir.join(format!("file-with-a-long-name-{i:04}"))).unwrap());
    }
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 700);
    assert_eq!(names[0], "file-with-a-long-name-0000");
    assert_eq!(names[699], "file-with-a-long-name-0699");
    // `ls -a` shows the dot entries too.
    let out = Command::new("ls").arg("-a").arg(&dir).output().unwrap();
    let listing = String::from_utf8(out.stdout).unwrap();
    assert_eq!(listing.lines().count(), 702);
}

/// The lab can mount crashfs over the very directory it bind-mounts into a
/// node: crashfs opens the backing directory before mounting on top of it.
#[test]
fn crashfs_can_be_mounted_over_its_own_backing_directory() {
    let mut m = Mount::over("over");
    assert_eq!(m.backing, m.mnt);
    let f = write_new(&m.mnt.join("synced"), b"kept");
    f.sync_all().unwrap();
    drop(f);
    drop(write_new(&m.mnt.join("unsynced"), b"lost"));
    assert!(m.crash() > 0);
    assert_eq!(fs::read(m.mnt.join("unsynced")).unwrap(), b"");
    drop(write_new(&m.mnt.join("at-unmount"), b"written back"));
    assert!(m.unmount().expect("daemon exit").success(), "{}", m.log());
    // Now the path shows the directory underneath.
    assert!(!common::is_mountpoint(&m.mnt));
    assert_eq!(fs::read(m.mnt.join("synced")).unwrap(), b"kept");
    assert_eq!(fs::read(m.mnt.join("unsynced")).unwrap(), b"");
    assert_eq!(fs::read(m.mnt.join("at-unmount")).unwrap(), b"written back");
}

/// Random writes, O_DSYNC writes, truncates, fsyncs and crashes on a few
/// files, checked after every step against a model: what a reader sees, and
/// what a crash leaves (the last fsync, plus truncates, which are durable at
/// once here).
#[test]
fn random_operations_match_the_model() {
    struct File2 {
        normal: File,
        dsync: File,
        visible: Vec<u8>,
        durable: Vec<u8>,
    }
    let open = |path: &std::path::Path, flags: i32| {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .custom_flags(flags)
            .open(path)
            .unwrap()
    };
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("seed {seed}");
    let mut state = seed;
    let mut rand = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let m = Mount::new("random");
    let paths: Vec<_> = (0..3).map(|i| m.mnt.join(format!("f{i}"))).collect();
    let mut files: Vec<File2> = paths
        .iter()
        .map(|p| File2 {
            normal: open(p, 0),
            dsync: open(p, libc::O_DSYNC),
            visible: Vec::new(),
            durable: Vec::new(),
        })
        .collect();
    for step in 0..1500 {
        let i = rand(3) as usize;
        let f = &mut files[i];
        let what = rand(100);
        let context = format!("seed {seed}, step {step}, file {i}, op {what}");
        if what < 55 {
            let offset = rand(64 * 1024) as usize;
            let len = 1 + rand(20_000) as usize;
            let data = pattern(rand(256) as u8, len);
            let dsync = what >= 50;
            let handle = if dsync { &f.dsync } else { &f.normal };
            handle.write_all_at(&data, offset as u64).unwrap();
            if f.visible.len() < offset + len {
                f.visible.resize(offset + len, 0);
            }
            f.visible[offset..offset + len].copy_from_slice(&data);
            if dsync {
                // The kernel follows it with a (whole-file) fsync.
                f.durable = f.visible.clone();
            }
        } else if what < 65 {
            let size = rand(80 * 1024) as usize;
            f.normal.set_len(size as u64).unwrap();
            f.visible.resize(size, 0);
            f.durable.resize(size, 0);
        } else if what < 80 {
            f.normal.sync_data().unwrap();
            f.durable = f.visible.clone();
        } else if what < 84 {
            m.crash();
            for (f, p) in files.iter_mut().zip(&paths) {
                f.visible = f.durable.clone();
                f.normal = open(p, 0);
                f.dsync = open(p, libc::O_DSYNC);
            }
        }
        for (j, f) in files.iter().enumerate() {
            let seen = fs::read(&paths[j]).unwrap();
            assert_eq!(seen.len(), f.visible.len(), "size of f{j}: {context}");
            assert!(seen == f.visible, "content of f{j}: {context}");
        }
    }
    m.crash();
    for (j, f) in files.iter().enumerate() {
        assert!(
            fs::read(&paths[j]).unwrap() == f.durable,
            "f{j} after the last crash, seed {seed}"
        );
    }
}
