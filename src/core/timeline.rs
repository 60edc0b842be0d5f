//! Timelines: PostgreSQL's timeline history files
//! (`pg_wal/<8 hex TLI>.history`), the compact form a primary publishes
//! them in (`<rsc>-history`), and the timeline in a WAL segment's name.

use crate::core::lsn::Lsn;

/// One earlier timeline of a history: `tli` ended at `end`, where the next
/// timeline of the history began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fork {
    pub tli: u32,
    pub end: Lsn,
}

/// A server's timeline and every earlier timeline it descends from, oldest
/// first, with the point where each ended. Timelines increase, and so do
/// (not strictly) their ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    pub tli: u32,
    pub forks: Vec<Fork>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HistoryError(pub String);

impl History {
    /// PostgreSQL's history file of timeline `tli`: a line per earlier
    /// timeline, `parentTLI<TAB>switchpoint<TAB>reason`; blank lines and
    /// lines starting with `#` (after blanks) are ignored, as
    /// `readTimeLineHistory` does. Timelines must increase and stay below
    /// `tli`; switchpoints must not go back.
    pub fn parse_file(tli: u32, text: &str) -> Result<History, HistoryError> {
        let mut forks = Vec::new();
        for line in text.lines() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let err = |what: &str| HistoryError(format!("{what} in history line {line:?}"));
            let parent = fields
                .next()
                .and_then(|t| t.parse::<u32>().ok())
                .ok_or_else(|| err("no numeric timeline ID"))?;
            let end = fields
                .next()
                .and_then(|l| l.parse::<Lsn>().ok())
                .ok_or_else(|| err("no switchpoint location"))?;
            forks.push(Fork { tli: parent, end });
        }
        History::checked(tli, forks)
    }

    /// The history of a primary on timeline `tli` from its history file
    /// (`None`: there is none). Timeline 1 has no history file; any other
    /// timeline must have one.
    pub fn of_primary(tli: u32, file: Option<&str>) -> Result<History, HistoryError> {
        match file {
            Some(text) => History::parse_file(tli, text),
            None if tli == 1 => History::checked(1, Vec::new()),
            None => Err(HistoryError(format!("no history file for timeline {tli}"))),
        }
    }

    fn checked(tli: u32, forks: Vec<Fork>) -> Result<History, HistoryError> {
        if tli == 0 {
            return Err(HistoryError("timeline 0 does not exist".into()));
        }
        let mut previous: Option<Fork> = None;
        for f in &forks {
            if f.tli == 0 {
                return Err(HistoryError("timeline 0 does not exist".into()));
            }
            if let Some(p) = previous {
                if f.tli <= p.tli {
                    return Err(HistoryError(format!(
                        "timeline {} follows timeline {}: timelines must increase",
                        f.tli, p.tli
                    )));
                }
                if f.end < p.end {
                    return Err(HistoryError(format!(
                        "timeline {} ends at {}, before timeline {} did ({})",
                        f.tli, f.end, p.tli, p.end
                    )));
                }
            }
            previous = Some(*f);
        }
        if let Some(p) = previous {
            if p.tli >= tli {
                return Err(HistoryError(format!(
                    "timeline {} in the history of timeline {tli}: it must be older",
                    p.tli
                )));
            }
        }
        Ok(History { tli, forks })
    }

    /// The published form: `TLI:` then `tli@end` for every earlier
    /// timeline, separated by spaces (`3:1@0/3000060 2@0/5000028`).
    pub fn to_wire(&self) -> String {
        let forks: Vec<String> = self
            .forks
            .iter()
            .map(|f| format!("{}@{}", f.tli, f.end))
            .collect();
        format!("{}:{}", self.tli, forks.join(" "))
    }

    /// Read the published form back; anything malformed is `None`.
    pub fn from_wire(v: &str) -> Option<History> {
        let (tli, forks) = v.trim().split_once(':')?;
        let tli = tli.parse().ok()?;
        let forks: Option<Vec<Fork>> = forks
            .split_whitespace()
            .map(|f| {
                let (t, end) = f.split_once('@')?;
                Some(Fork {
                    tli: t.parse().ok()?,
                    end: end.parse().ok()?,
                })
            })
            .collect();
        History::checked(tli, forks?).ok()
    }

    /// Where timeline `tli` ended in this history, and the timeline that
    /// began there (`None`: `tli` is not an earlier timeline of it).
    pub fn end_of(&self, tli: u32) -> Option<(Lsn, u32)> {
        let i = self.forks.iter().position(|f| f.tli == tli)?;
        let next = self.forks.get(i + 1).map_or(self.tli, |f| f.tli);
        Some((self.forks[i].end, next))
    }
}

/// The timeline in a WAL segment file's name (24 upper-case hex digits:
/// timeline, log, segment, as PostgreSQL's `IsXLogFileName`); `None` for
/// any other name (history, backup and partial files, `archive_status`).
pub fn segment_timeline(name: &str) -> Option<u32> {
    let hex = |b: u8| b.is_ascii_digit() || (b'A'..=b'F').contains(&b);
    if name.len() != 24 || !name.bytes().all(hex) {
        return None;
    }
    u32::from_str_radix(&name[..8], 16).ok().filter(|t| *t > 0)
}

/// The newest timeline among WAL segment file names.
pub fn newest_segment_timeline<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<u32> {
    names.into_iter().filter_map(segment_timeline).max()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lsn(s: &str) -> Lsn {
        s.parse().unwrap()
    }

    #[test]
    fn a_history_file_as_postgresql_writes_it() {
        let text = "1\t0/3000060\tno recovery target specified\n\n\
                    2\t0/5000028\tno recovery target specified\n";
        let h = History::parse_file(3, text).unwrap();
        assert_eq!(
            h,
            History {
                tli: 3,
                forks: vec![
                    Fork {
                        tli: 1,
                        end: lsn("0/3000060")
                    },
                    Fork {
                        tli: 2,
                        end: lsn("0/5000028")
                    },
                ],
            }
        );
        assert_eq!(h.to_wire(), "3:1@0/3000060 2@0/5000028");
        assert_eq!(History::from_wire(&h.to_wire()), Some(h.clone()));
        assert_eq!(h.end_of(1), Some((lsn("0/3000060"), 2)));
        assert_eq!(h.end_of(2), Some((lsn("0/5000028"), 3)));
        assert_eq!(h.end_of(3), None);
        assert_eq!(h.end_of(4), None);
    }

    #[test]
    fn comments_blanks_and_reasons_are_ignored() {
        let text = "# a comment\n   \n  1 0/3000060 before 2000-01-01 00:00:00+00\n";
        let h = History::parse_file(2, text).unwrap();
        assert_eq!(h.to_wire(), "2:1@0/3000060");
    }

    #[test]
    fn timeline_one_has_no_history_file() {
        let h = History::of_primary(1, None).unwrap();
        assert_eq!(h.to_wire(), "1:");
        assert_eq!(History::from_wire("1:"), Some(h));
        assert!(History::of_primary(2, None).is_err());
    }

    #[test]
    fn malformed_histories_are_refused() {
        for (tli, text) in [
            (2, "x\t0/1\n"),
            (2, "1\n"),
            (2, "1\tzz\n"),
            (3, "2\t0/5\n1\t0/6\n"),
            (3, "1\t0/5\n1\t0/6\n"),
            (3, "1\t0/6\n2\t0/5\n"),
            (2, "2\t0/5\n"),
            (2, "0\t0/5\n"),
            (0, ""),
        ] {
            assert!(History::parse_file(tli, text).is_err(), "{tli} {text:?}");
        }
        for bad in [
            "",
            "2",
            ":",
            "x:",
            "2:1",
            "2:1@",
            "2:@0/1",
            "2:1@0/1@2",
            "2:2@0/1",
            "3:2@0/1 1@0/2",
            "-1:",
            "0:",
        ] {
            assert_eq!(History::from_wire(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn segment_names() {
        assert_eq!(segment_timeline("000000020000000000000005"), Some(2));
        assert_eq!(segment_timeline("0000000A0000000100000005"), Some(10));
        for other in [
            "00000002.history",
            "000000010000000000000005.partial",
            "000000010000000000000002.00000028.backup",
            "archive_status",
            "0000000a0000000000000005",
            "000000000000000000000005",
            "00000001000000000000005",
        ] {
            assert_eq!(segment_timeline(other), None, "{other}");
        }
        let names = [
            "000000010000000000000004",
            "00000003.history",
            "000000020000000000000005",
            "archive_status",
        ];
        assert_eq!(newest_segment_timeline(names), Some(2));
        assert_eq!(newest_segment_timeline(["00000002.history"]), None);
    }

    mod fuzz {
        use super::super::*;
        use proptest::prelude::*;

        /// A valid history: increasing timelines below `tli`, ends that do
        /// not go back.
        fn history() -> impl Strategy<Value = History> {
            prop::collection::vec((1u32..4, 0u64..0x1_0000_0000_0000), 0..5).prop_map(|steps| {
                let mut tli = 0;
                let mut end = 0;
                let forks: Vec<Fork> = steps
                    .into_iter()
                    .map(|(dt, de)| {
                        tli += dt;
                        end += de;
                        Fork { tli, end: Lsn(end) }
                    })
                    .collect();
                let last = forks.last().map_or(0, |f| f.tli);
                History {
                    tli: last + 1,
                    forks,
                }
            })
        }

        proptest! {
            #[test]
            fn fuzz_history_file_arbitrary_text_never_panics(tli: u32, text in ".{0,200}") {
                if let Ok(h) = History::parse_file(tli, &text) {
                    prop_assert_eq!(History::from_wire(&h.to_wire()), Some(h));
                }
            }

            #[test]
            fn fuzz_history_wire_arbitrary_text_never_panics(
                text in prop_oneof![".{0,60}", "[0-9:@/ A-F]{0,40}"],
            ) {
                if let Some(h) = History::from_wire(&text) {
                    prop_assert_eq!(History::from_wire(&h.to_wire()), Some(h));
                }
            }

            /// The file PostgreSQL would write parses to the history, and
            /// the published form reads back to it.
            #[test]
            fn fuzz_history_round_trips(h in history()) {
                let file: String = h
                    .forks
                    .iter()
                    .map(|f| format!("{}\t{}\tno recovery target specified\n", f.tli, f.end))
                    .collect();
                prop_assert_eq!(History::parse_file(h.tli, &file), Ok(h.clone()));
                prop_assert_eq!(History::from_wire(&h.to_wire()), Some(h));
            }

            #[test]
            fn fuzz_segment_names(name in "[0-9A-Fa-f.a-z]{0,30}", tli in 1u32.., log: u32, seg: u32) {
                let _ = segment_timeline(&name);
                let real = format!("{tli:08X}{log:08X}{seg:08X}");
                prop_assert_eq!(segment_timeline(&real), Some(tli));
            }
        }
    }
}
