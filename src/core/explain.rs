//! Why a node is or is not promotable now, in plain words, for the operator
//! tool (`rustpgctl explain`). It reads what the agents decided (the score,
//! status and data-status they published, the lock) and the positions the
//! tool measured; it decides nothing itself, so it cannot disagree with the
//! agent.

use super::replication::election::Location;
use super::replication::lock::Lock;
use super::replication::plan::{DataStatus, Score, SenderState, SyncRole};

/// Where Pacemaker runs the node's instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Promoted,
    Unpromoted,
    Stopped,
}

/// What the operator tool observed about one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFacts {
    pub name: String,
    pub online: bool,
    pub role: Role,
    /// `master-<rsc>` as published.
    pub score: Option<String>,
    /// `<rsc>-data-status` as published.
    pub data_status: Option<String>,
    pub fail_count: u32,
    /// `PGSQL.lock`, when the tool could read it (on its own node).
    pub lock: Option<Lock>,
    /// Received WAL on a standby, current WAL on the primary, when measured.
    pub position: Option<Location>,
    /// When the WAL receiver last got a message from the primary, when the
    /// node is not streaming now (`pg_stat_wal_receiver.latest_end_time`).
    pub not_streaming_since: Option<String>,
    /// No instance is promoted and the election waits for this node's
    /// position (`election::positions_awaited`).
    pub awaited: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub promotable: bool,
    /// Why, most important first.
    pub why: Vec<String>,
    /// What would change the answer.
    pub would_change: Vec<String>,
}

/// Bytes in the units an operator reads: B, kB, MB, GB (1024-based, as
/// PostgreSQL's `pg_size_pretty`).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "kB", "MB", "GB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// The newest other candidate (a running, unpromoted, online node) when it
/// is ahead of `node`, with by how much (on the same timeline).
fn ahead_of<'a>(node: &NodeFacts, all: &'a [NodeFacts]) -> Option<(&'a NodeFacts, Option<u64>)> {
    let mine = node.position?;
    all.iter()
        .filter(|n| n.name != node.name && n.online && n.role == Role::Unpromoted)
        .filter_map(|n| n.position.map(|p| (n, p)))
        .filter(|(_, p)| p.compare(&mine).is_gt())
        .max_by(|(_, a), (_, b)| a.compare(b))
        .map(|(n, p)| {
            // On another timeline only when both are known and differ (a
            // position the primary reports for a standby has none).
            let newer_tli = matches!((p.tli, mine.tli), (Some(a), Some(b)) if a != b);
            (n, (!newer_tli).then(|| p.lsn.0 - mine.lsn.0))
        })
}

/// Explain `node` among `all` (which includes it).
pub fn explain(node: &NodeFacts, all: &[NodeFacts]) -> Explanation {
    let mut why = Vec::new();
    let mut would_change = Vec::new();
    let primary = all.iter().find(|n| n.role == Role::Promoted && n.online);
    if !node.online {
        why.push(format!(
            "{} is offline: the cluster does not see it",
            node.name
        ));
        would_change.push("bring the node back into the cluster".into());
        return Explanation {
            promotable: false,
            why,
            would_change,
        };
    }
    if node.role == Role::Promoted {
        why.push(format!("{} is the primary", node.name));
        return Explanation {
            promotable: false,
            why,
            would_change,
        };
    }
    match node.lock {
        Some(Lock::Held) => {
            why.push("PGSQL.lock is there: this node was a primary that did not demote cleanly, and may hold WAL no other node has".into());
            would_change.push(
                "resynchronise it from the primary and remove PGSQL.lock, or set auto_rewind=true"
                    .into(),
            );
        }
        Some(Lock::CleanDemote { checkpoint, tli }) => {
            why.push(format!(
                "PGSQL.lock from a clean demote (shutdown checkpoint {checkpoint} on timeline {tli}): it goes once the node streams past it"
            ));
        }
        Some(Lock::Absent) | None => {}
    }
    if node.role == Role::Stopped {
        why.push(if node.fail_count > 0 {
            format!(
                "PostgreSQL is not running here under Pacemaker ({} failures)",
                node.fail_count
            )
        } else {
            "PostgreSQL is not running here under Pacemaker".into()
        });
        if node.fail_count > 0 {
            would_change.push(format!(
                "fix the cause in the agent's log, then `crm_resource --cleanup --node {}`",
                node.name
            ));
        }
    }
    match node.data_status.as_deref().and_then(DataStatus::parse) {
        Some(DataStatus::Diverged) => {
            why.push(
                "diverged: its WAL went past the point where the primary's timeline forked".into(),
            );
            would_change.push("resynchronise it (pg_rewind or a new base backup)".into());
        }
        Some(DataStatus::Disconnect) => why.push(match &node.not_streaming_since {
            Some(t) => format!("not streaming since {t} (data-status DISCONNECT)"),
            None => "not streaming: the primary does not see it (data-status DISCONNECT)".into(),
        }),
        Some(DataStatus::Sender(SenderState::Streaming, SyncRole::Sync)) => {
            why.push("the synchronous standby: it holds every acknowledged commit".into())
        }
        Some(DataStatus::Sender(SenderState::Streaming, SyncRole::Quorum)) => why.push(
            "a voter of quorum commit: commits are acknowledged once enough voters hold them, \
             and a promotion compares enough voters' positions"
                .into(),
        ),
        Some(DataStatus::Sender(SenderState::Streaming, role)) => why.push(format!(
            "streams as {} standby: commits are not acknowledged by it",
            role.wire()
        )),
        Some(DataStatus::Sender(state, _)) => {
            why.push(format!("the primary sees it {}", state.wire()))
        }
        Some(DataStatus::Latest) if primary.is_some() => why.push(
            "data-status LATEST from when it was the primary: it was not seen streaming since"
                .into(),
        ),
        Some(DataStatus::Latest) | None => {}
    }
    let awaited: Vec<&NodeFacts> = all.iter().filter(|n| n.awaited).collect();
    if primary.is_none() && !awaited.is_empty() {
        let list = awaited
            .iter()
            .map(|n| match n.online {
                true => n.name.clone(),
                false => format!("{} (offline)", n.name),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let it = if awaited.len() == 1 { "it" } else { "they" };
        why.push(format!(
            "no primary: waiting for the position of {list} before anyone is promoted ({it} may hold commits the others lack)"
        ));
        let offline: Vec<&str> = awaited
            .iter()
            .filter(|n| !n.online)
            .map(|n| n.name.as_str())
            .collect();
        if !offline.is_empty() {
            would_change.push(format!(
                "bring {} back into the cluster: {} who is promoted",
                offline.join(", "),
                if offline.len() == 1 {
                    "its position decides"
                } else {
                    "their positions decide"
                }
            ));
        }
    }
    if let Some((other, by)) = ahead_of(node, all) {
        why.push(match by {
            Some(b) => format!("behind {} by {}", other.name, bytes(b)),
            None => format!("behind {}, which is on a newer timeline", other.name),
        });
    }
    // Pacemaker promotes a running, unpromoted instance with a positive score.
    let promotable = Score::is_positive(node.score.as_deref()) && node.role == Role::Unpromoted;
    let score = node.score.as_deref().unwrap_or("none");
    if promotable {
        why.insert(0, format!("promotable: score {score}"));
    } else if Score::is_positive(node.score.as_deref()) {
        why.insert(
            0,
            format!("not promotable now: score {score}, but no instance runs here"),
        );
    } else {
        why.insert(0, format!("not promotable now: score {score}"));
        if why.len() == 1 {
            would_change.push(match primary {
                Some(p) => format!(
                    "the primary ({}) names it synchronous once it streams and has caught up",
                    p.name
                ),
                None => "an election: every standby publishes its position".into(),
            });
        }
    }
    Explanation {
        promotable,
        why,
        would_change,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::lsn::Lsn;

    fn at(tli: u32, lsn: u64) -> Option<Location> {
        Some(Location {
            tli: Some(tli),
            lsn: Lsn(lsn),
        })
    }

    fn node(name: &str, role: Role, score: &str, data: &str) -> NodeFacts {
        NodeFacts {
            name: name.into(),
            online: true,
            role,
            score: (!score.is_empty()).then(|| score.into()),
            data_status: (!data.is_empty()).then(|| data.into()),
            fail_count: 0,
            lock: None,
            position: None,
            not_streaming_since: None,
            awaited: false,
        }
    }

    fn healthy() -> Vec<NodeFacts> {
        vec![
            NodeFacts {
                position: at(3, 0x5000000),
                ..node("pg01", Role::Promoted, "1000", "LATEST")
            },
            NodeFacts {
                position: at(3, 0x5000000),
                ..node("pg02", Role::Unpromoted, "100", "STREAMING|SYNC")
            },
            NodeFacts {
                position: at(3, 0x4ED0000),
                ..node("pg03", Role::Unpromoted, "-INFINITY", "STREAMING|POTENTIAL")
            },
        ]
    }

    #[test]
    fn the_sync_standby_is_promotable() {
        let all = healthy();
        let e = explain(&all[1], &all);
        assert!(e.promotable);
        assert_eq!(
            e.why,
            [
                "promotable: score 100",
                "the synchronous standby: it holds every acknowledged commit"
            ]
        );
    }

    #[test]
    fn a_potential_standby_is_behind_by_an_amount() {
        let all = healthy();
        let e = explain(&all[2], &all);
        assert!(!e.promotable);
        assert_eq!(
            e.why,
            [
                "not promotable now: score -INFINITY",
                "streams as POTENTIAL standby: commits are not acknowledged by it",
                "behind pg02 by 1.2 MB"
            ]
        );
    }

    #[test]
    fn the_primary_and_an_offline_node() {
        let mut all = healthy();
        assert_eq!(explain(&all[0], &all).why, ["pg01 is the primary"]);
        all[2].online = false;
        let e = explain(&all[2], &all);
        assert!(!e.promotable);
        assert_eq!(e.would_change, ["bring the node back into the cluster"]);
    }

    #[test]
    fn a_crashed_primary_says_how_to_get_it_back() {
        let mut all = healthy();
        all[0].role = Role::Stopped;
        all[0].score = Some("-INFINITY".into());
        all[0].fail_count = 1;
        all[0].lock = Some(Lock::Held);
        all[1].role = Role::Promoted;
        let e = explain(&all[0], &all);
        assert!(!e.promotable);
        assert!(e.why[1].starts_with("PGSQL.lock is there"), "{e:?}");
        assert_eq!(
            e.would_change,
            [
                "resynchronise it from the primary and remove PGSQL.lock, or set auto_rewind=true",
                "fix the cause in the agent's log, then `crm_resource --cleanup --node pg01`"
            ]
        );
    }

    #[test]
    fn a_score_on_a_stopped_instance_is_not_enough() {
        let mut all = healthy();
        all[1].role = Role::Stopped;
        let e = explain(&all[1], &all);
        assert!(!e.promotable);
        assert_eq!(
            e.why[..2],
            [
                "not promotable now: score 100, but no instance runs here",
                "PostgreSQL is not running here under Pacemaker"
            ]
        );
    }

    #[test]
    fn a_disconnected_standby_says_since_when() {
        let mut all = healthy();
        all[2].data_status = Some("DISCONNECT".into());
        all[2].not_streaming_since = Some("12:03:11".into());
        let e = explain(&all[2], &all);
        assert_eq!(
            e.why[1],
            "not streaming since 12:03:11 (data-status DISCONNECT)"
        );
    }

    #[test]
    fn a_newer_timeline_is_ahead_whatever_the_lsn() {
        let mut all = healthy();
        all[1].position = at(4, 0x100);
        let e = explain(&all[2], &all);
        assert_eq!(e.why[2], "behind pg02, which is on a newer timeline");
    }

    #[test]
    fn without_a_primary_the_awaited_position_is_named() {
        let mut all = healthy();
        all[0].role = Role::Unpromoted;
        all[0].score = Some("-INFINITY".into());
        all[1].online = false;
        all[1].awaited = true;
        let e = explain(&all[0], &all);
        assert_eq!(
            e.why[1..],
            ["no primary: waiting for the position of pg02 (offline) before anyone is promoted (it may hold commits the others lack)"]
        );
        assert_eq!(
            e.would_change,
            ["bring pg02 back into the cluster: its position decides who is promoted"]
        );
    }

    #[test]
    fn an_unknown_timeline_compares_by_lsn() {
        // The primary reports a standby's replay position without its
        // timeline; the node the tool runs on knows its own.
        let mut all = healthy();
        all[2].position = Some(Location {
            tli: None,
            lsn: Lsn(0x4ED0000),
        });
        let e = explain(&all[2], &all);
        assert_eq!(e.why[2], "behind pg02 by 1.2 MB");
    }

    #[test]
    fn bytes_read_as_postgres_prints_them() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 kB");
        assert_eq!(bytes(0x130000), "1.2 MB");
        assert_eq!(bytes(3 << 30), "3.0 GB");
    }
}
