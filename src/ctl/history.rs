//! `history`: every timeline the cluster's data went through, with the
//! promotion that began it when the new primary recorded one
//! (`core::history`).

use super::observe::Observed;
use crate::core::history::{self, Promotion, Timeline};
use crate::core::replication::plan::Attr;
use serde::Serialize;

/// One timeline, for `history --json`.
#[derive(Debug, Serialize)]
pub struct TimelineReport {
    pub timeline: u32,
    /// The parent timeline, and the LSN where it ended and this one began.
    pub forked_from: Option<u32>,
    pub fork_lsn: Option<String>,
    /// The node promoted to begin it, when it recorded its promotion.
    pub promoted: Option<String>,
    pub at: Option<u64>,
    pub at_utc: Option<String>,
    pub from: Option<String>,
    /// `switchover`, `failover` or `election`.
    pub cause: Option<String>,
}

/// Every promotion the nodes recorded (`<rsc>-promotions`).
pub(super) fn recorded_promotions(o: &Observed) -> Vec<Promotion> {
    o.view
        .nodes
        .keys()
        .filter_map(|n| Some(history::parse_records(n, &o.attr(n, Attr::Promotions)?)))
        .flatten()
        .collect()
}

/// Every timeline, oldest first.
pub fn history(o: &Observed) -> Vec<TimelineReport> {
    history::timelines(o.timelines.as_ref(), recorded_promotions(o))
        .into_iter()
        .map(|t: Timeline| {
            let p = t.promotion.as_ref();
            TimelineReport {
                timeline: t.tli,
                forked_from: t.forked_from.map(|(tli, _)| tli),
                fork_lsn: t.forked_from.map(|(_, lsn)| lsn.to_string()),
                promoted: p.map(|p| p.node.clone()),
                at: p.map(|p| p.at),
                at_utc: p.map(|p| history::utc(p.at)),
                from: p.and_then(|p| p.from.clone()),
                cause: p.map(|p| p.cause.wire().to_string()),
            }
        })
        .collect()
}

/// `history` for a terminal: a line per timeline.
pub fn render_history(timelines: &[TimelineReport]) -> String {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mut out = format!(
        "{:<9} {:<24} {:<10} {:<24} {:<10} {}\n",
        "TIMELINE", "FORKED FROM", "PROMOTED", "AT", "FROM", "WHY"
    );
    for t in timelines {
        let fork = match (t.forked_from, &t.fork_lsn) {
            (Some(parent), Some(lsn)) => format!("{parent} at {lsn}"),
            _ => "-".into(),
        };
        out.push_str(&format!(
            "{:<9} {:<24} {:<10} {:<24} {:<10} {}\n",
            t.timeline,
            fork,
            dash(&t.promoted),
            dash(&t.at_utc),
            dash(&t.from),
            dash(&t.cause),
        ));
    }
    if timelines
        .iter()
        .any(|t| t.promoted.is_none() && t.forked_from.is_some())
    {
        out.push_str(
            "\nA timeline without a promotion on record began before this agent recorded them, \
             or its node keeps only its last three.\n",
        );
    }
    out
}
