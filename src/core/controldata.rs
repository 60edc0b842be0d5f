//! `pg_controldata` output (run with `LC_ALL=C`): `Key:   value` lines.

use crate::core::lsn::Lsn;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlData(BTreeMap<String, String>);

impl ControlData {
    pub fn parse(text: &str) -> ControlData {
        let map = text
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        ControlData(map)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// `shut down` (a primary) or `shut down in recovery` (a standby): the
    /// last stop wrote a shutdown checkpoint.
    pub fn cleanly_shut_down(&self) -> bool {
        matches!(
            self.get("Database cluster state"),
            Some("shut down" | "shut down in recovery")
        )
    }

    pub fn checkpoint(&self) -> Option<Lsn> {
        self.get("Latest checkpoint location")?.parse().ok()
    }

    pub fn timeline(&self) -> Option<u32> {
        self.get("Latest checkpoint's TimeLineID")?.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PG15: &str = "\
pg_control version number:            1300
Catalog version number:               202209061
Database system identifier:           7441234567890123456
Database cluster state:               shut down
pg_control last modified:             Fri 27 Nov 2026 04:00:00 AM UTC
Latest checkpoint location:           0/3000028
Latest checkpoint's REDO location:    0/3000028
Latest checkpoint's TimeLineID:       2
Latest checkpoint's full_page_writes: on
";

    #[test]
    fn reads_state_checkpoint_and_timeline() {
        let c = ControlData::parse(PG15);
        assert!(c.cleanly_shut_down());
        assert_eq!(c.checkpoint(), Some("0/3000028".parse().unwrap()));
        assert_eq!(c.timeline(), Some(2));
        // A value with a colon keeps everything after the first one.
        assert_eq!(
            c.get("pg_control last modified"),
            Some("Fri 27 Nov 2026 04:00:00 AM UTC")
        );
    }

    #[test]
    fn crashed_and_garbage() {
        let c = ControlData::parse("Database cluster state:               in production\n");
        assert!(!c.cleanly_shut_down());
        let c = ControlData::parse("no colons here\n\n");
        assert!(!c.cleanly_shut_down());
        assert_eq!(c.checkpoint(), None);
        assert_eq!(
            ControlData::parse("Latest checkpoint location: zz/1\n").checkpoint(),
            None
        );
    }

    mod fuzz {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn fuzz_controldata_arbitrary_text_never_panics(text in ".{0,300}") {
                let c = ControlData::parse(&text);
                let _ = (c.cleanly_shut_down(), c.checkpoint(), c.timeline());
            }

            /// `Key:   value` lines read back: keys and values trimmed, the
            /// value keeps every colon after the first.
            #[test]
            fn fuzz_controldata_lines_read_back(
                // Keys start and end with a letter: pg_controldata's never have
                // blanks around them, and " m" and "m" would be one key.
                lines in prop::collection::btree_map("[A-Za-z]([A-Za-z'_ ]{0,6}[A-Za-z])?", "[ -~]{0,20}", 0..6),
                pad in " {0,12}",
            ) {
                let text: String = lines.iter().map(|(k, v)| format!("{k}:{pad}{v}\n")).collect();
                let c = ControlData::parse(&text);
                for (k, v) in &lines {
                    prop_assert_eq!(c.get(k.trim()), Some(v.trim()));
                }
            }
        }
    }
}
