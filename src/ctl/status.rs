//! `status` and `explain`: the observations as reports and text.

use super::observe::Observed;
use crate::core::explain::{self, Explanation, Role};
use crate::core::replication::lock::Lock;
use crate::core::replication::plan::Attr;
use crate::core::replication::sync::WeakCommit;
use crate::io::pg::ServerState;
use serde::Serialize;

/// One node in `status`.
#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    pub name: String,
    pub online: bool,
    pub role: &'static str,
    pub score: Option<String>,
    pub status: Option<String>,
    pub data_status: Option<String>,
    pub fail_count: u32,
    /// `PGSQL.lock`'s content: "absent", "held" (from a promote: may be
    /// ahead), "clean demote at LSN on timeline T", or null where the tool
    /// cannot read it (another node's disk).
    pub lock: Option<String>,
    /// This node only: what its server reports.
    pub server: Option<ServerReport>,
    /// A standby, as the primary's `pg_stat_replication` shows it.
    pub replication: Option<ReplicationReport>,
    pub promotable: bool,
    /// The primary, or the standby its record names (sync mode): holds
    /// every commit the primary acknowledged.
    pub holds_every_acknowledged_commit: bool,
    pub why: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplicationReport {
    /// `STATE|SYNC_STATE` as PostgreSQL reports it, in data-status words.
    pub postgres_says: String,
    /// Set when the published data-status says something else (it is
    /// updated at the primary's monitor, so a moment's difference is
    /// normal).
    pub disagreement: Option<String>,
    /// Bytes of the primary's WAL not yet sent to it, not yet flushed on
    /// its disk, not yet replayed.
    pub sent_lag_bytes: Option<u64>,
    pub flush_lag_bytes: Option<u64>,
    pub replay_lag_bytes: Option<u64>,
    pub replay_lag_seconds: Option<f64>,
}

/// One of the primary's physical replication slots.
#[derive(Debug, Serialize)]
pub struct SlotReport {
    pub name: String,
    pub active: bool,
    /// The WAL it keeps on the primary's disk, from its restart point.
    pub wal_held_bytes: Option<u64>,
    /// PostgreSQL 13+: `reserved`, `extended`, `unreserved` or `lost`.
    pub wal_status: Option<String>,
    /// PostgreSQL 13+: WAL that can still be written before the slot is
    /// lost to `max_slot_wal_keep_size` (null: no bound).
    pub safe_wal_bytes: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerReport {
    pub in_recovery: bool,
    pub timeline: Option<u32>,
    pub received: Option<String>,
    pub replayed: Option<String>,
    pub current: Option<String>,
    pub wal_receiver: Option<String>,
    pub error: Option<String>,
}

impl From<&Result<ServerState, String>> for ServerReport {
    fn from(r: &Result<ServerState, String>) -> ServerReport {
        match r {
            Ok(s) => ServerReport {
                in_recovery: s.in_recovery,
                timeline: s.received_tli.or(s.timeline),
                received: s.received.map(|l| l.to_string()),
                replayed: s.replay.map(|l| l.to_string()),
                current: s.location.filter(|_| !s.in_recovery).map(|l| l.to_string()),
                wal_receiver: s.receiver.clone(),
                error: None,
            },
            Err(e) => ServerReport {
                error: Some(e.clone()),
                ..ServerReport::default()
            },
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Status {
    /// Why the primary's view is missing, when it is.
    pub primary_report_error: Option<String>,
    pub resource: String,
    pub clone: Option<String>,
    pub quorum: bool,
    pub maintenance: bool,
    /// The DC's node name, and whether its controller is idle (no
    /// transition in flight: with nobody promoted, Pacemaker planned no
    /// promotion); null when not known.
    pub dc: Option<String>,
    pub dc_idle: Option<bool>,
    pub node: String,
    pub nodes: Vec<NodeStatus>,
    /// Where the primary's `synchronous_commit` is below `on` (`role x in
    /// database y sets local`): commits acknowledged before the sync
    /// standby flushed them.
    pub weak_commits: Vec<String>,
    /// What the last primary recorded as holding every commit it
    /// acknowledged: `pg02` (sync mode's `acked-also-on`) or `any 1 of
    /// pg02 pg03` (quorum mode's `acked-on-any`); null when nothing is.
    pub acknowledged_on: Option<String>,
    /// The primary's `synchronous_standby_names` (null when it could not be
    /// read).
    pub sync_standby_names: Option<String>,
    pub slots: Vec<SlotReport>,
    /// When the last promotion a node recorded happened, in seconds since
    /// the epoch (`rustpgctl history` lists them).
    pub last_promotion_at: Option<u64>,
}

/// The record of the primary (the promoted node, else the only
/// `LATEST`): the primary, and the standby it recorded (sync mode) or its
/// quorum record.
fn acknowledgement_record(o: &Observed) -> Option<(String, Option<String>, Option<String>)> {
    let latest: Vec<&String> = o
        .view
        .nodes
        .keys()
        .filter(|n| o.attr(n, Attr::DataStatus).as_deref() == Some("LATEST"))
        .collect();
    let primary = match (o.view.promoted.as_slice(), latest.as_slice()) {
        ([p], _) => p.clone(),
        ([], [l]) => (*l).clone(),
        _ => return None,
    };
    let any = o.attr(&primary, Attr::AckedOnAny);
    let also_on = o.attr(&primary, Attr::AckedAlsoOn);
    Some((primary, also_on, any))
}

/// [`acknowledgement_record`] in words.
fn acknowledged_on(o: &Observed) -> Option<String> {
    let (primary, also_on, any) = acknowledgement_record(o)?;
    any.map(|r| format!("any {r}"))
        .or(also_on)
        .map(|holders| format!("{primary} and {holders}"))
}

/// The nodes recorded as holding every acknowledged commit: the primary
/// and, in sync mode, the standby it recorded.
fn recorded_holders(o: &Observed) -> Vec<String> {
    match acknowledgement_record(o) {
        Some((primary, also_on, None)) => [Some(primary), also_on].into_iter().flatten().collect(),
        Some((primary, _, Some(_))) => vec![primary],
        None => Vec::new(),
    }
}

fn role_word(r: Role) -> &'static str {
    match r {
        Role::Promoted => "Promoted",
        Role::Unpromoted => "Unpromoted",
        Role::Stopped => "Stopped",
    }
}

fn lock_word(l: Lock) -> String {
    match l {
        Lock::Absent => "absent".into(),
        Lock::Held => "held (from a promote: this node may be ahead)".into(),
        Lock::CleanDemote { checkpoint, tli } => {
            format!("clean demote at {checkpoint} on timeline {tli}")
        }
    }
}

pub fn status(o: &Observed) -> Status {
    let facts = o.facts();
    let holders = recorded_holders(o);
    let nodes = facts
        .iter()
        .map(|f| {
            let e: Explanation = explain::explain(f, &facts);
            let server = (f.name == o.me).then(|| ServerReport::from(&o.my_server));
            let replication = o.standby(&f.name).map(|r| {
                let says = r.row.data_status().wire();
                ReplicationReport {
                    disagreement: (f.data_status.as_deref() != Some(&says)).then(|| {
                        format!(
                            "data-status is {}, PostgreSQL says {says}",
                            f.data_status.as_deref().unwrap_or("unset")
                        )
                    }),
                    postgres_says: says,
                    sent_lag_bytes: r.sent.and_then(|l| o.behind_primary(l)),
                    flush_lag_bytes: r.row.flush.and_then(|l| o.behind_primary(l)),
                    replay_lag_bytes: o.replay_lag_bytes(&f.name),
                    replay_lag_seconds: r.replay_lag_seconds,
                }
            });
            NodeStatus {
                name: f.name.clone(),
                online: f.online,
                role: role_word(f.role),
                score: f.score.clone(),
                status: o.attr(&f.name, Attr::Status),
                data_status: f.data_status.clone(),
                fail_count: f.fail_count,
                lock: f.lock.map(lock_word),
                server,
                replication,
                promotable: e.promotable,
                holds_every_acknowledged_commit: holders.contains(&f.name),
                why: e.why,
            }
        })
        .collect();
    Status {
        primary_report_error: match &o.primary_report {
            Err(e) => Some(e.clone()),
            Ok((_, rows)) if rows.iter().any(|r| !r.visible) => Some(format!(
                "the replication user sees no details of pg_stat_replication: run rustpgctl on the primary, or GRANT pg_read_all_stats TO {}",
                o.repuser
            )),
            Ok(_) => None,
        },
        resource: o.resource.clone(),
        clone: o.clone.clone(),
        quorum: o.view.quorum,
        maintenance: o.view.maintenance,
        dc: o.view.dc.clone(),
        dc_idle: o.dc_idle,
        node: o.me.clone(),
        nodes,
        weak_commits: o.weak_commits.iter().map(WeakCommit::words).collect(),
        acknowledged_on: acknowledged_on(o),
        sync_standby_names: o.sync_standby_names.clone(),
        last_promotion_at: super::history::recorded_promotions(o)
            .iter()
            .map(|p| p.at)
            .max(),
        slots: o
            .slots
            .iter()
            .map(|slot| SlotReport {
                name: slot.name.clone(),
                active: slot.active,
                wal_held_bytes: slot.restart.and_then(|l| o.behind_primary(l)),
                wal_status: slot.wal_status.clone(),
                safe_wal_bytes: slot.safe_wal_size,
            })
            .collect(),
    }
}

/// `status` for a terminal: one line per node, then this node's server.
pub fn render_status(s: &Status) -> String {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mut out = format!(
        "{}{}: quorum {}, maintenance mode {}, DC {}\n",
        s.resource,
        s.clone
            .as_deref()
            .map(|c| format!(" (clone {c})"))
            .unwrap_or_default(),
        if s.quorum { "yes" } else { "NO" },
        if s.maintenance { "ON" } else { "off" },
        match (&s.dc, s.dc_idle) {
            (None, _) => "none".to_string(),
            (Some(dc), Some(true)) => format!("{dc} (idle)"),
            (Some(dc), Some(false)) => format!("{dc} (a transition is in flight)"),
            (Some(dc), None) => dc.clone(),
        },
    );
    out.push_str(&format!(
        "{:<10} {:<7} {:<11} {:<10} {:<11} {:<22} {:<6} {}\n",
        "NODE", "ONLINE", "ROLE", "SCORE", "STATUS", "DATA-STATUS", "FAILS", "PROMOTABLE"
    ));
    for n in &s.nodes {
        out.push_str(&format!(
            "{:<10} {:<7} {:<11} {:<10} {:<11} {:<22} {:<6} {}\n",
            n.name,
            if n.online { "yes" } else { "NO" },
            n.role,
            dash(&n.score),
            dash(&n.status),
            dash(&n.data_status),
            n.fail_count,
            match (n.role, n.promotable) {
                ("Promoted", _) => "-",
                (_, true) => "yes",
                (_, false) => "no",
            },
        ));
    }
    if let Some(on) = &s.acknowledged_on {
        out.push_str(&format!(
            "\nEvery acknowledged commit is on {on} (the primary's record).\n"
        ));
    }
    out.push_str("\nAs the primary sees its standbys (pg_stat_replication):\n");
    match &s.primary_report_error {
        Some(e) => out.push_str(&format!("  not readable: {e}\n")),
        None => {
            for n in &s.nodes {
                let Some(r) = &n.replication else { continue };
                out.push_str(&format!(
                    "  {:<10} {:<20} replay lag {}, {}{}\n",
                    n.name,
                    r.postgres_says,
                    r.replay_lag_bytes.map_or("-".into(), explain::bytes),
                    r.replay_lag_seconds
                        .map_or("0 s".into(), |t| format!("{t:.1} s")),
                    r.disagreement
                        .as_ref()
                        .map(|d| format!("  DIFFERS: {d}"))
                        .unwrap_or_default(),
                ));
            }
        }
    }
    if let Some(names) = &s.sync_standby_names {
        out.push_str(&format!("  synchronous_standby_names = '{names}'\n"));
    }
    if !s.slots.is_empty() {
        out.push_str("\nReplication slots on the primary:\n");
        for slot in &s.slots {
            out.push_str(&format!(
                "  {:<20} {:<8} holds {}{}\n",
                slot.name,
                if slot.active { "active" } else { "inactive" },
                slot.wal_held_bytes.map_or("-".into(), explain::bytes),
                match (&slot.wal_status, slot.safe_wal_bytes) {
                    (Some(st), Some(safe)) => format!(
                        " ({st}; lost after {} more)",
                        explain::bytes(u64::try_from(safe).unwrap_or(0))
                    ),
                    (Some(st), None) => format!(" ({st})"),
                    (None, _) => String::new(),
                },
            ));
        }
    }
    if !s.weak_commits.is_empty() {
        out.push_str(
            "\nsynchronous_commit below on (acknowledged before the sync standby flushed them; \
             a failover can lose these commits):\n",
        );
        for w in &s.weak_commits {
            out.push_str(&format!("  {w}\n"));
        }
    }
    if let Some(n) = s.nodes.iter().find(|n| n.name == s.node) {
        out.push_str(&format!("\nThis node, {}:\n", n.name));
        if let Some(l) = &n.lock {
            out.push_str(&format!("  PGSQL.lock: {l}\n"));
        }
        if let Some(srv) = &n.server {
            out.push_str(&match &srv.error {
                Some(e) => format!("  PostgreSQL: not readable ({e})\n"),
                None if srv.in_recovery => format!(
                    "  PostgreSQL: standby on timeline {}, received {}, replayed {}, WAL receiver {}\n",
                    srv.timeline.map_or("-".into(), |t| t.to_string()),
                    dash(&srv.received),
                    dash(&srv.replayed),
                    dash(&srv.wal_receiver),
                ),
                None => format!(
                    "  PostgreSQL: primary on timeline {}, at {}\n",
                    srv.timeline.map_or("-".into(), |t| t.to_string()),
                    dash(&srv.current),
                ),
            });
        }
    }
    out
}

/// `explain NODE` for a terminal.
pub fn render_explanation(node: &str, e: &Explanation) -> String {
    let mut out = format!("{node}:\n");
    for w in &e.why {
        out.push_str(&format!("  {w}\n"));
    }
    if !e.would_change.is_empty() {
        out.push_str("What would change that:\n");
        for w in &e.would_change {
            out.push_str(&format!("  {w}\n"));
        }
    }
    out
}
