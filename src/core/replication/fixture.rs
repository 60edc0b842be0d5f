//! The shared fixture of the replication core's tests: configurations,
//! cluster views, rows and the helpers every module's tests use.

use super::*;
use crate::config::RepMode;
use crate::core::crm_mon::ClusterView;
use crate::core::lsn::Lsn;

/// The shared fixture of the replication core's tests: a configuration
/// seen from `nodes[0]`.
pub(super) fn cfg(mode: RepMode, nodes: &[&str]) -> RepConfig {
    RepConfig {
        rsc: "pgsql".into(),
        me: nodes[0].into(),
        rep_mode: mode,
        node_list: nodes.iter().map(|s| s.to_string()).collect(),
        external_standbys: Vec::new(),
        xlog_check_count: 3,
        check_wal_receiver: false,
        auto_rewind: false,
        archive_recovery: false,
        sync_preference: None,
        quorum_standbys: 1,
        replication_hosts: Default::default(),
        master_ip_host: Some("10.0.0.100".into()),
        reloads_conninfo: true,
        slot_names: Vec::new(),
        slot_wal_keep_mb: None,
    }
}

/// `replication_hosts` for pg01, pg02 and pg03 (10.0.0.11 to .13).
pub(super) fn lab_hosts() -> std::collections::BTreeMap<String, String> {
    [
        ("pg01", "10.0.0.11"),
        ("pg02", "10.0.0.12"),
        ("pg03", "10.0.0.13"),
    ]
    .map(|(n, h)| (n.to_string(), h.to_string()))
    .into()
}

/// A cluster view (no quorum unless set) with these attributes.
pub(super) fn view(online: &[&str], offline: &[&str], attrs: &[(&str, &str, &str)]) -> ClusterView {
    let mut v = ClusterView::default();
    for n in online {
        v.nodes.insert(n.to_string(), true);
    }
    for n in offline {
        v.nodes.insert(n.to_string(), false);
    }
    for (n, k, val) in attrs {
        v.attributes
            .entry(n.to_string())
            .or_default()
            .insert(k.to_string(), val.to_string());
    }
    v
}

/// `v` with one attribute set (a variant of a fixture).
pub(super) fn with_attr(v: &ClusterView, node: &str, key: &str, val: &str) -> ClusterView {
    let mut v = v.clone();
    v.attributes
        .entry(node.to_string())
        .or_default()
        .insert(key.to_string(), val.to_string());
    v
}

pub(super) fn row(app: &str, state: &str, sync: &str) -> ReplicationRow {
    ReplicationRow {
        application_name: app.into(),
        state: SenderState::parse(state).unwrap(),
        sync: SyncRole::parse(sync).unwrap(),
        flush: Some(Lsn(100)),
    }
}

/// The last value `plan` writes to `attr` of `node` (`Some(None)`: deleted).
pub(super) fn written(plan: &Plan, node: &str, attr: Attr) -> Option<Option<String>> {
    plan.writes
        .iter()
        .rev()
        .find(|w| w.node == node && w.attr == attr)
        .map(Write::wire)
}

pub(super) fn primary_fixture() -> (RepConfig, ClusterView) {
    let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
    let mut v = view(
        &["pg01", "pg02", "pg03"],
        &[],
        &[
            ("pg02", "master-pgsql", "-INFINITY"),
            ("pg03", "master-pgsql", "-INFINITY"),
            ("pg02", "pgsql-status", "HS:alone"),
            ("pg03", "pgsql-status", "HS:alone"),
        ],
    );
    v.quorum = true;
    (c, v)
}

/// The safety audit's schedule, seen from pg01: the former primary
/// pg01 crashed and was stopped, pg02 was promoted (pg01 `DISCONNECT`,
/// pg02 `LATEST`, pg03 its sync standby), then pg02's node crashed: crm_mon
/// shows nobody promoted, and pg02's permanent record comes from the CIB
/// ([`ClusterView::with_offline_records`]).
pub(super) fn audit_schedule() -> (RepConfig, ClusterView) {
    let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
    let mut v = view(
        &["pg01", "pg03"],
        &["pg02"],
        &[
            ("pg01", "pgsql-data-status", "DISCONNECT"),
            ("pg03", "pgsql-data-status", "STREAMING|SYNC"),
            ("pg03", "master-pgsql", "100"),
        ],
    )
    .with_offline_records(
        [(
            "pg02".to_string(),
            [("pgsql-data-status".to_string(), "LATEST".to_string())].into(),
        )]
        .into(),
    );
    v.quorum = true;
    (c, v)
}

/// Quorum mode, five nodes, k=2, seen from pg02: pg01 (the last primary,
/// gone) recorded `2 of pg02 pg03 pg04 pg05`, and the voters pg02 and pg03
/// kept their 100. Any two voters may hold a commit, so four minus two plus
/// one = three positions are needed.
pub(super) fn quorum_failover() -> (RepConfig, ClusterView) {
    let mut c = cfg(RepMode::Quorum, &["pg02", "pg01", "pg03", "pg04", "pg05"]);
    c.quorum_standbys = 2;
    let mut v = view(
        &["pg02", "pg03", "pg04", "pg05"],
        &["pg01"],
        &[
            ("pg01", "pgsql-data-status", "LATEST"),
            ("pg01", "pgsql-acked-on-any", "2 of pg02 pg03 pg04 pg05"),
            ("pg02", "master-pgsql", "100"),
            ("pg03", "master-pgsql", "100"),
        ],
    );
    v.quorum = true;
    (c, v)
}

/// Quorum mode, three nodes, k=1, seen from pg02: pg01 (the last
/// primary, gone) recorded `1 of pg02 pg03`. No scores: each test sets
/// the ones it is about.
pub(super) fn quorum_failover_on_three() -> (RepConfig, ClusterView) {
    let mut c = cfg(RepMode::Quorum, &["pg02", "pg01", "pg03"]);
    c.quorum_standbys = 1;
    let mut v = view(
        &["pg02", "pg03"],
        &["pg01"],
        &[
            ("pg01", "pgsql-data-status", "LATEST"),
            ("pg01", "pgsql-acked-on-any", "1 of pg02 pg03"),
        ],
    );
    v.quorum = true;
    (c, v)
}

/// Sync mode, seen from pg01: the last primary pg02 (`LATEST`, recording
/// pg01) and its sync standby pg01 both came back after their nodes'
/// crash and run as standbys beside the asynchronous pg03; nothing is
/// promoted. No scores: each test sets the ones it is about.
pub(super) fn last_primary_and_its_standby_back() -> (RepConfig, ClusterView) {
    let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
    let mut v = view(
        &["pg01", "pg02", "pg03"],
        &[],
        &[
            ("pg02", "pgsql-data-status", "LATEST"),
            ("pg02", "pgsql-acked-also-on", "pg01"),
            ("pg01", "pgsql-data-status", "STREAMING|SYNC"),
            ("pg03", "pgsql-data-status", "STREAMING|ASYNC"),
        ],
    );
    v.unpromoted = vec!["pg01".into(), "pg02".into(), "pg03".into()];
    (c, v)
}

pub(super) fn one(n: &str) -> SyncStandbys {
    SyncStandbys::First(vec![n.into()])
}

/// The primary's pass as this agent runs it on its own: the sync flag
/// proven for this postmaster (so that a score this agent gave and
/// recorded counts as caught up).
pub(super) fn pass(
    p: &mut Plan,
    rows: &[ReplicationRow],
    current: &SyncStandbys,
    ceiling: Option<u64>,
) -> SyncPass {
    pass_with_flag(p, rows, current, ceiling, Some(SyncFlag::Proven))
}

/// The primary's pass with what this postmaster's note says of the sync
/// flag (`None`: no note of this postmaster's, as when this agent has just
/// taken over a primary the stock agent ran).
pub(super) fn pass_with_flag(
    p: &mut Plan,
    rows: &[ReplicationRow],
    current: &SyncStandbys,
    ceiling: Option<u64>,
    sync_flag: Option<SyncFlag>,
) -> SyncPass {
    control_standbys(
        p,
        &PrimaryFacts {
            rows,
            current,
            ceiling: ceiling.map(Lsn),
            sync_flag,
        },
    )
}

// --- diverged standbys ---------------------------------------------------------

pub(super) fn history(wire: &str) -> crate::core::timeline::History {
    crate::core::timeline::History::from_wire(wire).unwrap()
}

pub(super) fn at(s: &str) -> Lsn {
    s.parse().unwrap()
}

pub(super) fn standby_facts(final_: bool) -> StandbyFacts {
    StandbyFacts {
        location: Some(Location {
            tli: Some(2),
            lsn: Lsn(500),
        }),
        streaming: !final_,
        position_final: final_,
        received_tli: Some(2),
        replay: Some(Lsn(500)),
        lock: Lock::Absent,
        election: None,
        wal_tli: None,
        primary_history: None,
        deferred_for: None,
        dc_idle: None,
        written_host: None,
    }
}
