//! `pg_wal`, read only: a timeline's history file and the names of the
//! files there. The agent runs as root and reads them directly, so nothing
//! depends on what the monitor user may call in SQL (`pg_ls_waldir`).

use std::path::Path;

fn dir(pgdata: &Path) -> std::path::PathBuf {
    pgdata.join("pg_wal")
}

/// The text of `pg_wal/<8 hex tli>.history` (`None`: absent or unreadable).
pub fn history_file(pgdata: &Path, tli: u32) -> Option<String> {
    let path = dir(pgdata).join(format!("{tli:08X}.history"));
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                crate::warn!("can't read {}: {e}", path.display());
            }
            None
        }
    }
}

/// The names of the files in `pg_wal` (`None`: it can't be listed).
pub fn file_names(pgdata: &Path) -> Option<Vec<String>> {
    let path = dir(pgdata);
    let entries = match std::fs::read_dir(&path) {
        Ok(entries) => entries,
        Err(e) => {
            crate::warn!("can't list {}: {e}", path.display());
            return None;
        }
    };
    Some(
        entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect(),
    )
}
