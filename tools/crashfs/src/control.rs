//! The control socket: one command per connection (`crash`, `sync`, `stats`),
//! answered with `ok` or `error: ...` on the first line, then `key=value`
//! lines. Commands run one at a time, and the answer comes once the command
//! is done: when `crash` answers, the dirty pages are gone.

use std::ffi::OsString;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::fs::Shared;

/// The control socket a daemon mounted at `mountpoint` uses by default:
/// `MOUNTPOINT.crashfs.sock`, beside the mountpoint.
pub fn default_socket(mountpoint: &Path) -> PathBuf {
    // components() drops a trailing slash, which would put the socket inside.
    let mut s: OsString = mountpoint.components().collect::<PathBuf>().into();
    s.push(".crashfs.sock");
    s.into()
}

/// What a client names: the socket itself, or a mountpoint with the default
/// socket.
pub fn resolve(target: &Path) -> PathBuf {
    match std::fs::metadata(target) {
        Ok(m) if m.file_type().is_socket() => target.to_path_buf(),
        _ => default_socket(target),
    }
}

/// Binds the socket (root only: a crash destroys data). A socket left by a
/// daemon that died is replaced; one that answers is not.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    if std::fs::symlink_metadata(path).is_ok() {
        if UnixStream::connect(path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{} is served by a running crashfs", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serves commands until the process ends.
pub fn serve(listener: UnixListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                if let Err(e) = handle(stream, &shared) {
                    eprintln!("crashfs: control connection: {e}");
                }
            }
            Err(e) => eprintln!("crashfs: control socket: {e}"),
        }
    }
}

fn handle(stream: UnixStream, shared: &Shared) -> io::Result<()> {
    let mut line = String::new();
    BufReader::new((&stream).take(256)).read_line(&mut line)?;
    let answer = match line.trim() {
        "crash" => {
            let d = shared.crash();
            eprintln!(
                "crashfs: crash: dropped {} bytes of {} files",
                d.bytes, d.files
            );
            format!("ok\ndropped_bytes={}\ndropped_files={}\n", d.bytes, d.files)
        }
        "sync" => match shared.sync_all() {
            Ok(bytes) => format!("ok\nwritten_bytes={bytes}\n"),
            Err(e) => format!("error: sync: {e}\n"),
        },
        "stats" => format!("ok\n{}", shared.stats()),
        other => format!("error: unknown command {other:?}\n"),
    };
    (&stream).write_all(answer.as_bytes())
}

/// Sends one command and returns the answer after its `ok` line; an `error:`
/// answer becomes an error.
pub fn request(socket: &Path, command: &str) -> io::Result<String> {
    let mut stream = UnixStream::connect(socket)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", socket.display())))?;
    stream.write_all(format!("{command}\n").as_bytes())?;
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    match answer.strip_prefix("ok\n") {
        Some(rest) => Ok(rest.to_string()),
        None => Err(io::Error::other(answer.trim().to_string())),
    }
}
