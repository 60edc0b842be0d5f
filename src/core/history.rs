//! The cluster's promotions, for `rustpgctl history`. A new primary
//! records its promotion on its own node (`<rsc>-promotions`, permanent,
//! its last [`KEPT`]): the timeline it began, when, which node was the
//! primary before it and why it was promoted. `promote` notes what it knows
//! before the request ([`PromotionNote`]: the timeline is PostgreSQL's
//! choice, known only after), the new primary's first monitor writes the
//! record; `history` merges every node's records with the timeline history
//! (where each timeline forked from its parent).

use crate::core::lsn::Lsn;
use crate::core::timeline::History;

/// How many promotions a node keeps on record.
pub const KEPT: usize = 3;

/// Why a node was promoted, as its promote saw the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The former primary was online and had not failed: it was demoted
    /// on purpose (a ban, `rustpgctl switchover`, a move).
    Switchover,
    /// The former primary had failed (its fail count) or its node had left
    /// the cluster.
    Failover,
    /// No other node was recorded as the primary: the cluster started
    /// with nobody promoted and elected this node.
    Election,
}

const CAUSES: [(Cause, &str); 3] = [
    (Cause::Switchover, "switchover"),
    (Cause::Failover, "failover"),
    (Cause::Election, "election"),
];

impl Cause {
    pub fn wire(self) -> &'static str {
        CAUSES
            .iter()
            .find(|(c, _)| *c == self)
            .map_or("", |(_, w)| w)
    }

    pub fn parse(s: &str) -> Option<Cause> {
        CAUSES.iter().find(|(_, w)| *w == s).map(|(c, _)| *c)
    }
}

/// What promote knows of its promotion: when (seconds since the epoch),
/// from which node, why. Kept in tmpdir until the first monitor records
/// it with the new timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionNote {
    pub at: u64,
    pub from: Option<String>,
    pub cause: Cause,
}

impl PromotionNote {
    /// `AT FROM CAUSE`, `-` for no node.
    pub fn to_text(&self) -> String {
        format!(
            "{} {} {}",
            self.at,
            self.from.as_deref().unwrap_or("-"),
            self.cause.wire()
        )
    }

    pub fn parse(text: &str) -> Option<PromotionNote> {
        let mut w = text.split_whitespace();
        let at = w.next()?.parse().ok()?;
        let from = match w.next()? {
            "-" => None,
            n => Some(n.to_string()),
        };
        let cause = Cause::parse(w.next()?)?;
        Some(PromotionNote { at, from, cause })
    }
}

/// One recorded promotion: `node` began timeline `tli`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promotion {
    pub tli: u32,
    pub node: String,
    pub at: u64,
    pub from: Option<String>,
    pub cause: Cause,
}

/// `<rsc>-promotions` with this promotion added: entries `TLI:AT:FROM:CAUSE`
/// separated by spaces, oldest first, the last [`KEPT`]; an entry of the
/// same timeline is replaced (a monitor that recorded it and failed before
/// forgetting its note).
pub fn recorded(previous: Option<&str>, tli: u32, note: &PromotionNote) -> String {
    let mut entries: Vec<String> = previous
        .unwrap_or("")
        .split_whitespace()
        .filter(|e| e.split(':').next() != Some(tli.to_string().as_str()))
        .map(str::to_string)
        .collect();
    entries.push(format!(
        "{tli}:{}:{}:{}",
        note.at,
        note.from.as_deref().unwrap_or("-"),
        note.cause.wire()
    ));
    let skip = entries.len().saturating_sub(KEPT);
    entries[skip..].join(" ")
}

/// The promotions `node` recorded (entries it cannot read are left out).
pub fn parse_records(node: &str, value: &str) -> Vec<Promotion> {
    value
        .split_whitespace()
        .filter_map(|e| {
            let mut f = e.split(':');
            let tli = f.next()?.parse().ok()?;
            let at = f.next()?.parse().ok()?;
            let from = match f.next()? {
                "-" => None,
                n => Some(n.to_string()),
            };
            let cause = Cause::parse(f.next()?)?;
            Some(Promotion {
                tli,
                node: node.to_string(),
                at,
                from,
                cause,
            })
        })
        .collect()
}

/// One timeline of the cluster's history: where it forked from its parent
/// (none for the first), and its promotion when one was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    pub tli: u32,
    /// The parent timeline and where it ended.
    pub forked_from: Option<(u32, Lsn)>,
    pub promotion: Option<Promotion>,
}

/// Every timeline of `chain` (the current primary's history), oldest
/// first, each with its recorded promotion; a record of a timeline not in
/// the chain (a branch that was abandoned) is listed too, without a fork.
pub fn timelines(chain: Option<&History>, mut records: Vec<Promotion>) -> Vec<Timeline> {
    records.sort_by_key(|p| (p.tli, p.at));
    let mut out: Vec<Timeline> = Vec::new();
    if let Some(h) = chain {
        let mut parent: Option<(u32, Lsn)> = None;
        for fork in &h.forks {
            out.push(Timeline {
                tli: fork.tli,
                forked_from: parent,
                promotion: None,
            });
            parent = Some((fork.tli, fork.end));
        }
        out.push(Timeline {
            tli: h.tli,
            forked_from: parent,
            promotion: None,
        });
    }
    for p in records {
        match out.iter_mut().find(|t| t.tli == p.tli) {
            Some(t) => t.promotion = Some(p),
            None => out.push(Timeline {
                tli: p.tli,
                forked_from: None,
                promotion: Some(p),
            }),
        }
    }
    out.sort_by_key(|t| t.tli);
    out
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM:SS UTC` (the proleptic
/// Gregorian calendar, days from the civil-from-days algorithm).
pub fn utc(at: u64) -> String {
    let days = (at / 86_400) as i64;
    let secs = at % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::timeline::Fork;

    fn note(from: Option<&str>, cause: Cause) -> PromotionNote {
        PromotionNote {
            at: 1_800_000_000,
            from: from.map(str::to_string),
            cause,
        }
    }

    #[test]
    fn times_in_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_796_679_553), "2026-12-07 21:39:13 UTC");
        assert_eq!(utc(4_107_542_399), "2100-02-28 23:59:59 UTC");
    }

    #[test]
    fn a_note_and_the_records_read_back() {
        let n = note(Some("pg01"), Cause::Failover);
        assert_eq!(n.to_text(), "1800000000 pg01 failover");
        assert_eq!(PromotionNote::parse(&n.to_text()), Some(n.clone()));
        let e = note(None, Cause::Election);
        assert_eq!(PromotionNote::parse(&e.to_text()), Some(e));
        assert_eq!(PromotionNote::parse("soon pg01 failover"), None);
        let value = recorded(Some("3:1:pg02:switchover junk"), 5, &n);
        assert_eq!(value, "3:1:pg02:switchover junk 5:1800000000:pg01:failover");
        let read = parse_records("pg03", &value);
        assert_eq!(read.len(), 2, "the unreadable entry is left out");
        assert_eq!(
            read[1],
            Promotion {
                tli: 5,
                node: "pg03".into(),
                at: 1_800_000_000,
                from: Some("pg01".into()),
                cause: Cause::Failover
            }
        );
    }

    #[test]
    fn a_node_keeps_its_last_promotions_once_each() {
        let n = note(None, Cause::Election);
        let mut v = None;
        for tli in 2..=6 {
            v = Some(recorded(v.as_deref(), tli, &n));
        }
        let v = v.unwrap();
        assert_eq!(
            v.split(' ').map(|e| &e[..1]).collect::<Vec<_>>(),
            ["4", "5", "6"]
        );
        // The same timeline again replaces its entry.
        let again = recorded(Some(&v), 6, &note(Some("pg01"), Cause::Switchover));
        assert_eq!(
            again,
            "4:1800000000:-:election 5:1800000000:-:election 6:1800000000:pg01:switchover"
        );
    }

    #[test]
    fn the_chain_with_its_recorded_promotions() {
        let chain = History {
            tli: 3,
            forks: vec![
                Fork {
                    tli: 1,
                    end: Lsn(0x100),
                },
                Fork {
                    tli: 2,
                    end: Lsn(0x200),
                },
            ],
        };
        let records = vec![
            parse_records("pg02", "3:20:pg01:switchover")[0].clone(),
            // A branch nobody followed.
            parse_records("pg03", "4:30:pg02:failover")[0].clone(),
        ];
        let t = timelines(Some(&chain), records);
        let summary: Vec<String> = t
            .iter()
            .map(|t| {
                let fork = t.forked_from.map(|(p, l)| format!(" from {p} at {l}"));
                let node = t.promotion.as_ref().map(|p| format!(" by {}", p.node));
                format!(
                    "{}{}{}",
                    t.tli,
                    fork.unwrap_or_default(),
                    node.unwrap_or_default()
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                "1",
                "2 from 1 at 0/100",
                "3 from 2 at 0/200 by pg02",
                "4 by pg03"
            ]
        );
        assert!(timelines(None, Vec::new()).is_empty());
    }
}
