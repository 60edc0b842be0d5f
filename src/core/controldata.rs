//! `global/pg_control`, read by the agent itself rather than through
//! `pg_controldata`: a tool of another major misreads it, sometimes
//! silently (Debian 15's `pg_controldata` prints a wrong timeline for a
//! PostgreSQL 10 data directory), and no registry ships the tool for 10 or
//! 12. Only the head of `ControlFileData` is read: its layout per
//! `pg_control_version` is below, and the CRC-32C that PostgreSQL stores
//! after the struct is checked, so a layout we do not know is refused, not
//! misread. The file is in the byte order of the machine that wrote it,
//! which is this one.

use crate::core::lsn::Lsn;

/// `DBState`: what the last writer of pg_control was doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbState {
    StartingUp,
    ShutDown,
    ShutDownInRecovery,
    ShuttingDown,
    InCrashRecovery,
    InArchiveRecovery,
    InProduction,
}

impl DbState {
    /// PostgreSQL's `DBState` values, the same from 10 to 18 (0, 1, ...:
    /// every state, in order).
    pub(crate) fn from_raw(v: u32) -> Option<DbState> {
        Some(match v {
            0 => DbState::StartingUp,
            1 => DbState::ShutDown,
            2 => DbState::ShutDownInRecovery,
            3 => DbState::ShuttingDown,
            4 => DbState::InCrashRecovery,
            5 => DbState::InArchiveRecovery,
            6 => DbState::InProduction,
            _ => return None,
        })
    }

    /// `pg_controldata`'s words, for messages.
    pub fn words(self) -> &'static str {
        match self {
            DbState::StartingUp => "starting up",
            DbState::ShutDown => "shut down",
            DbState::ShutDownInRecovery => "shut down in recovery",
            DbState::ShuttingDown => "shutting down",
            DbState::InCrashRecovery => "in crash recovery",
            DbState::InArchiveRecovery => "in archive recovery",
            DbState::InProduction => "in production",
        }
    }
}

/// What the agent needs from pg_control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlFile {
    pub version: u32,
    pub state: DbState,
    /// `checkPoint`: the latest checkpoint record.
    pub checkpoint: Lsn,
    /// `checkPointCopy.ThisTimeLineID`: that checkpoint's timeline.
    pub timeline: u32,
    /// `wal_log_hints` as the server last started with it.
    pub wal_log_hints: bool,
    /// `data_checksum_version` is not 0.
    pub data_checksums: bool,
}

/// Byte offsets in `ControlFileData`. Common head: `system_identifier`
/// (u64) at 0, `pg_control_version` at 8, `catalog_version_no` at 12,
/// `state` at 16, `time` (i64) at 24, `checkPoint` at 32. PostgreSQL 10
/// still had `prevCheckPoint` at 40, so its `checkPointCopy` (`redo` u64,
/// then `ThisTimeLineID`) starts at 48 instead of 40. `crc` follows the
/// last field, which differs by version; `wal_log_hints`,
/// `data_checksum_version` and `crc` were measured on each major's files
/// (docs/postgresql-majors.md).
struct Layout {
    timeline: usize,
    wal_log_hints: usize,
    checksums: usize,
    crc: usize,
}

fn layout(version: u32) -> Option<Layout> {
    let (timeline, wal_log_hints, checksums, crc) = match version {
        1002 => (56, 176, 252, 288), // 10
        1100 => (48, 168, 244, 280), // 11
        1201 => (48, 176, 252, 288), // 12
        1300 => (48, 176, 252, 288), // 13 to 16
        1700 => (48, 176, 252, 288), // 17
        1800 => (48, 176, 252, 292), // 18
        _ => return None,
    };
    Some(Layout {
        timeline,
        wal_log_hints,
        checksums,
        crc,
    })
}

const VERSION_AT: usize = 8;
const STATE_AT: usize = 16;
const CHECKPOINT_AT: usize = 32;

impl ControlFile {
    /// The last postmaster in this data directory ran in recovery: it
    /// shut down in recovery, or stopped (crashed) in archive recovery.
    pub fn ran_as_standby(&self) -> bool {
        matches!(
            self.state,
            DbState::ShutDownInRecovery | DbState::InArchiveRecovery
        )
    }

    pub fn parse(bytes: &[u8]) -> Result<ControlFile, String> {
        let u32_at = |at: usize| {
            bytes
                .get(at..at + 4)
                .map(|b| u32::from_ne_bytes(b.try_into().unwrap()))
        };
        let u64_at = |at: usize| {
            bytes
                .get(at..at + 8)
                .map(|b| u64::from_ne_bytes(b.try_into().unwrap()))
        };
        let version = u32_at(VERSION_AT).ok_or("pg_control is truncated")?;
        let l = layout(version).ok_or_else(|| {
            format!("pg_control version {version} is not one the agent knows (PostgreSQL 10 to 18)")
        })?;
        let stored = u32_at(l.crc).ok_or("pg_control is truncated")?;
        if crc32c(&bytes[..l.crc]) != stored {
            return Err(format!(
                "pg_control has an incorrect checksum (version {version}): it is corrupt"
            ));
        }
        let state = u32_at(STATE_AT)
            .and_then(DbState::from_raw)
            .ok_or("pg_control has an unknown cluster state")?;
        Ok(ControlFile {
            version,
            state,
            checkpoint: Lsn(u64_at(CHECKPOINT_AT).ok_or("pg_control is truncated")?),
            timeline: u32_at(l.timeline).ok_or("pg_control is truncated")?,
            wal_log_hints: bytes.get(l.wal_log_hints).is_some_and(|b| *b != 0),
            data_checksums: u32_at(l.checksums).is_some_and(|v| v != 0),
        })
    }

    /// `shut down` (a primary) or `shut down in recovery` (a standby): the
    /// last stop wrote a shutdown checkpoint.
    pub fn cleanly_shut_down(&self) -> bool {
        matches!(self.state, DbState::ShutDown | DbState::ShutDownInRecovery)
    }
}

/// CRC-32C (Castagnoli, reflected), PostgreSQL's `pg_crc32c`.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0x82F6_3B78 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pg_control image of `version` as PostgreSQL writes it.
    fn image(version: u32, state: u32, checkpoint: u64, tli: u32) -> Vec<u8> {
        let l = layout(version).unwrap();
        let mut b = vec![0u8; 8192];
        b[VERSION_AT..VERSION_AT + 4].copy_from_slice(&version.to_ne_bytes());
        b[STATE_AT..STATE_AT + 4].copy_from_slice(&state.to_ne_bytes());
        b[CHECKPOINT_AT..CHECKPOINT_AT + 8].copy_from_slice(&checkpoint.to_ne_bytes());
        b[l.timeline..l.timeline + 4].copy_from_slice(&tli.to_ne_bytes());
        b[l.wal_log_hints] = 1;
        let crc = crc32c(&b[..l.crc]);
        b[l.crc..l.crc + 4].copy_from_slice(&crc.to_ne_bytes());
        b
    }

    #[test]
    fn crc32c_check_value() {
        // The standard check value of CRC-32C.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn reads_every_known_layout() {
        for version in [1002, 1100, 1201, 1300, 1700, 1800] {
            let c = ControlFile::parse(&image(version, 1, 0x300_0028, 7)).unwrap();
            assert_eq!(
                c,
                ControlFile {
                    version,
                    state: DbState::ShutDown,
                    checkpoint: Lsn(0x300_0028),
                    timeline: 7,
                    wal_log_hints: true,
                    data_checksums: false,
                }
            );
            assert!(c.cleanly_shut_down());
        }
        let c = ControlFile::parse(&image(1300, 6, 1, 1)).unwrap();
        assert_eq!(c.state.words(), "in production");
        assert!(!c.cleanly_shut_down());
    }

    #[test]
    fn refuses_what_it_cannot_vouch_for() {
        let mut b = image(1300, 1, 0x300_0028, 2);
        b[40] ^= 1;
        assert!(ControlFile::parse(&b)
            .unwrap_err()
            .contains("incorrect checksum"));
        let b = image(1300, 1, 0x300_0028, 2);
        let mut other = b.clone();
        other[VERSION_AT..VERSION_AT + 4].copy_from_slice(&960u32.to_ne_bytes());
        assert!(ControlFile::parse(&other)
            .unwrap_err()
            .contains("version 960 is not one the agent knows"));
        assert!(ControlFile::parse(&b[..20]).is_err());
        assert!(ControlFile::parse(&[]).is_err());
        let bad_state = image(1300, 9, 1, 1);
        assert!(ControlFile::parse(&bad_state).is_err());
    }
}
