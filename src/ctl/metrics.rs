//! `metrics`: what `status` reports, in Prometheus's text exposition
//! format (0.0.4), for node_exporter's textfile collector or a scrape of
//! `serve`. Every family is a gauge: names carry the unit (`_bytes`,
//! `_seconds`), a state is a `1` on the series whose label names it, and a
//! text is an `_info` series with the text as a label.

use super::status::{NodeStatus, Status};
use crate::core::quote::prometheus_label;
use crate::core::replication::plan::{DataStatus, Score, ScoreValue, SenderState, SyncRole};

/// Pacemaker's INFINITY, as a number.
const INFINITY: f64 = 1_000_000.0;

/// The families in the order they are printed.
#[derive(Default)]
struct Exposition {
    out: String,
}

type Labels<'a> = Vec<(&'static str, &'a str)>;

impl Exposition {
    /// One gauge family with its samples; none: the family is left out.
    fn gauge<'a>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels<'a>, f64)>,
    ) {
        let samples: Vec<(Labels, f64)> = samples.into_iter().collect();
        if samples.is_empty() {
            return;
        }
        self.out.push_str(&format!("# HELP {name} {help}\n"));
        self.out.push_str(&format!("# TYPE {name} gauge\n"));
        for (labels, value) in samples {
            let labels: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}={}", prometheus_label(v)))
                .collect();
            let labels = if labels.is_empty() {
                String::new()
            } else {
                format!("{{{}}}", labels.join(","))
            };
            self.out.push_str(&format!("{name}{labels} {value}\n"));
        }
    }
}

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// A Pacemaker score as a number (`-INFINITY` is -1000000), read as the
/// agent reads one ([`Score::parse`]).
fn score(s: &str) -> Option<f64> {
    Some(match Score::parse(s)? {
        ScoreValue::Infinity => INFINITY,
        ScoreValue::MinusInfinity => -INFINITY,
        ScoreValue::Points(n) => n as f64,
    })
}

/// The node's part in replication: `primary`, `sync`, `quorum`, `async`
/// (a potential standby too), `standby` (running, not streaming), or
/// `stopped`.
pub fn replication_role(n: &NodeStatus) -> &'static str {
    match n.role {
        "Promoted" => "primary",
        "Stopped" => "stopped",
        _ => match n.data_status.as_deref().and_then(DataStatus::parse) {
            Some(DataStatus::Sender(SenderState::Streaming, role)) => match role {
                SyncRole::Sync => "sync",
                SyncRole::Quorum => "quorum",
                SyncRole::Async | SyncRole::Potential => "async",
            },
            _ => "standby",
        },
    }
}

/// The exposition of `s`.
pub fn render_metrics(s: &Status) -> String {
    let mut e = Exposition::default();
    let nodes = &s.nodes;
    let by_node = |f: &dyn Fn(&NodeStatus) -> Option<f64>| -> Vec<(Labels, f64)> {
        nodes
            .iter()
            .filter_map(|n| Some((vec![("node", n.name.as_str())], f(n)?)))
            .collect()
    };
    e.gauge(
        "rustpg_cluster_quorum",
        "1 when the partition of the node that answers has quorum.",
        [(vec![], flag(s.quorum))],
    );
    e.gauge(
        "rustpg_cluster_maintenance",
        "1 while the cluster is in maintenance mode (Pacemaker moves nothing).",
        [(vec![], flag(s.maintenance))],
    );
    e.gauge(
        "rustpg_node_online",
        "1 when the node is an online cluster member.",
        by_node(&|n| Some(flag(n.online))),
    );
    e.gauge(
        "rustpg_node_role",
        "1 on the node's part in replication: primary, sync, quorum, async, standby (running, not streaming) or stopped.",
        nodes
            .iter()
            .map(|n| (vec![("node", n.name.as_str()), ("role", replication_role(n))], 1.0)),
    );
    e.gauge(
        "rustpg_node_promotion_score",
        "The node's promotion score (master-<resource>); INFINITY is 1000000.",
        by_node(&|n| n.score.as_deref().and_then(score)),
    );
    e.gauge(
        "rustpg_node_data_status",
        "1 on the node's pgsql-data-status, as the stock agent writes it.",
        nodes.iter().filter_map(|n| {
            let d = n.data_status.as_deref()?;
            Some((vec![("node", n.name.as_str()), ("data_status", d)], 1.0))
        }),
    );
    e.gauge(
        "rustpg_node_failures",
        "The resource's fail count (Pacemaker's fail-count) on the node.",
        by_node(&|n| Some(f64::from(n.fail_count))),
    );
    e.gauge(
        "rustpg_node_promotable",
        "1 when the node could be promoted now (rustpgctl explain NODE says why or why not).",
        by_node(&|n| Some(flag(n.promotable))),
    );
    e.gauge(
        "rustpg_node_holds_every_acknowledged_commit",
        "1 on the primary and on the standby its record names (sync mode): they hold every commit the primary acknowledged.",
        by_node(&|n| Some(flag(n.holds_every_acknowledged_commit))),
    );
    let lag = |pick: fn(&super::status::ReplicationReport) -> Option<u64>| {
        move |n: &NodeStatus| Some(pick(n.replication.as_ref()?)? as f64)
    };
    e.gauge(
        "rustpg_standby_lag_bytes",
        "Bytes of the primary's WAL a standby has not yet been sent, flushed or replayed.",
        ["sent", "flushed", "replayed"]
            .into_iter()
            .flat_map(|position| {
                let of = match position {
                    "sent" => lag(|r| r.sent_lag_bytes),
                    "flushed" => lag(|r| r.flush_lag_bytes),
                    _ => lag(|r| r.replay_lag_bytes),
                };
                nodes.iter().filter_map(move |n| {
                    Some((
                        vec![("node", n.name.as_str()), ("position", position)],
                        of(n)?,
                    ))
                })
            }),
    );
    e.gauge(
        "rustpg_standby_replay_lag_seconds",
        "The primary's replay_lag for a standby (0 once it replayed everything and the primary is idle).",
        by_node(&|n| Some(n.replication.as_ref()?.replay_lag_seconds.unwrap_or(0.0))),
    );
    let me = nodes.iter().find(|n| n.name == s.node);
    let server = me.and_then(|n| Some((n.name.as_str(), n.server.as_ref()?)));
    e.gauge(
        "rustpg_server_up",
        "1 when the answering node's PostgreSQL could be queried.",
        server.map(|(n, srv)| (vec![("node", n)], flag(srv.error.is_none()))),
    );
    let readable = server.filter(|(_, srv)| srv.error.is_none());
    e.gauge(
        "rustpg_server_in_recovery",
        "1 when the answering node's PostgreSQL is a standby.",
        readable.map(|(n, srv)| (vec![("node", n)], flag(srv.in_recovery))),
    );
    e.gauge(
        "rustpg_server_timeline",
        "The timeline of the answering node's PostgreSQL (a standby: the one it receives).",
        readable.and_then(|(n, srv)| Some((vec![("node", n)], f64::from(srv.timeline?)))),
    );
    e.gauge(
        "rustpg_wal_receiver_streaming",
        "1 when the answering node's WAL receiver streams (a standby only).",
        readable.filter(|(_, srv)| srv.in_recovery).map(|(n, srv)| {
            let streaming = srv.wal_receiver.as_deref() == Some("streaming");
            (vec![("node", n)], flag(streaming))
        }),
    );
    e.gauge(
        "rustpg_primary_readable",
        "1 when the primary's pg_stat_replication could be read (the figures about standbys and slots come from it).",
        [(vec![], flag(s.primary_report_error.is_none()))],
    );
    e.gauge(
        "rustpg_acknowledged_record_info",
        "The primary's record of the nodes that hold every commit it acknowledged.",
        s.acknowledged_on
            .as_deref()
            .map(|r| (vec![("record", r)], 1.0)),
    );
    e.gauge(
        "rustpg_sync_standby_names_info",
        "The primary's synchronous_standby_names.",
        s.sync_standby_names
            .as_deref()
            .map(|v| (vec![("value", v)], 1.0)),
    );
    e.gauge(
        "rustpg_weak_commit_settings",
        "Settings of synchronous_commit below on (a role, a database or the server's): commits a failover can lose.",
        [(vec![], s.weak_commits.len() as f64)],
    );
    e.gauge(
        "rustpg_last_promotion_timestamp_seconds",
        "When the last promotion a node recorded happened (rustpgctl history lists them).",
        s.last_promotion_at.map(|at| (vec![], at as f64)),
    );
    let slots = &s.slots;
    e.gauge(
        "rustpg_slot_active",
        "1 while a standby streams through the primary's replication slot.",
        slots
            .iter()
            .map(|sl| (vec![("slot", sl.name.as_str())], flag(sl.active))),
    );
    e.gauge(
        "rustpg_slot_wal_held_bytes",
        "WAL the primary keeps on its disk for the slot.",
        slots
            .iter()
            .filter_map(|sl| Some((vec![("slot", sl.name.as_str())], sl.wal_held_bytes? as f64))),
    );
    e.gauge(
        "rustpg_slot_safe_wal_bytes",
        "WAL the primary can still write before the slot is lost to max_slot_wal_keep_size (PostgreSQL 13+, with a bound).",
        slots.iter().filter_map(|sl| {
            Some((vec![("slot", sl.name.as_str())], sl.safe_wal_bytes? as f64))
        }),
    );
    e.gauge(
        "rustpg_slot_lost",
        "1 when the slot lost WAL its standby needs (wal_status lost, PostgreSQL 13+).",
        slots.iter().filter_map(|sl| {
            let status = sl.wal_status.as_deref()?;
            Some((vec![("slot", sl.name.as_str())], flag(status == "lost")))
        }),
    );
    e.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_and_label_values_as_the_format_wants_them() {
        assert_eq!(score("-INFINITY"), Some(-INFINITY));
        assert_eq!(score("+INFINITY"), Some(INFINITY));
        assert_eq!(score("100"), Some(100.0));
        assert_eq!(score("x"), None);
        assert_eq!(prometheus_label("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
    }

    #[test]
    fn an_empty_family_is_left_out_and_a_family_has_its_help_and_type() {
        let mut e = Exposition::default();
        e.gauge("rustpg_none", "nothing", Vec::<(Labels, f64)>::new());
        e.gauge("rustpg_x", "one", [(vec![("node", "pg\"1")], 0.5)]);
        assert_eq!(
            e.out,
            "# HELP rustpg_x one\n# TYPE rustpg_x gauge\nrustpg_x{node=\"pg\\\"1\"} 0.5\n"
        );
    }
}
