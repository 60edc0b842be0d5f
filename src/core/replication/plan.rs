//! The attribute protocol's wire values and the [`Plan`]: a cluster
//! snapshot (`crm_mon` read once) plus the attribute writes an action
//! decided, with the stock agent's guards on who may write what.

use super::quorum::QuorumRecord;
use crate::config::{Config, RepMode};
use crate::core::crm_mon::ClusterView;
use crate::core::lsn::Lsn;
use std::collections::BTreeMap;

/// `master-<rsc>`: the promotion score Pacemaker reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Score {
    /// 1000: the primary itself, or the winner of an election.
    PromoteMe,
    /// 100: the proven synchronous standby (or the one standby of a
    /// two-node asynchronous cluster, as the stock agent scores it).
    CanPromote,
    /// -INFINITY: never promote this node now.
    CanNotPromote,
}

impl Score {
    pub fn wire(self) -> &'static str {
        match self {
            Score::PromoteMe => "1000",
            Score::CanPromote => "100",
            Score::CanNotPromote => "-INFINITY",
        }
    }

    /// The score as read back.
    pub fn value(self) -> ScoreValue {
        match self {
            Score::PromoteMe => ScoreValue::Points(1000),
            Score::CanPromote => ScoreValue::Points(100),
            Score::CanNotPromote => ScoreValue::MinusInfinity,
        }
    }

    /// A score as the CIB holds it, whoever wrote it: any integer, or
    /// `INFINITY` (`+INFINITY`), or `-INFINITY`. `None`: none of those.
    pub fn parse(wire: &str) -> Option<ScoreValue> {
        match wire.trim() {
            "INFINITY" | "+INFINITY" => Some(ScoreValue::Infinity),
            "-INFINITY" => Some(ScoreValue::MinusInfinity),
            v => v.parse().ok().map(ScoreValue::Points),
        }
    }

    /// Whether a score read from the CIB lets Pacemaker promote the node
    /// (any positive number, or `INFINITY`, whoever wrote it).
    pub fn is_positive(wire: Option<&str>) -> bool {
        wire.and_then(Score::parse)
            .is_some_and(ScoreValue::is_positive)
    }
}

/// A promotion score read from the CIB ([`Score::parse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreValue {
    Infinity,
    MinusInfinity,
    Points(i64),
}

impl ScoreValue {
    /// Pacemaker may promote a node with this score.
    pub fn is_positive(self) -> bool {
        match self {
            ScoreValue::Infinity => true,
            ScoreValue::MinusInfinity => false,
            ScoreValue::Points(n) => n > 0,
        }
    }
}

/// `<rsc>-status`: what a node's own agent (or the primary) says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Stop,
    HsAlone,
    HsAsync,
    HsSync,
    HsPotential,
    HsConnected,
    /// A voter of quorum commit (design/quorum.md; not yet offered).
    HsQuorum,
    Pri,
    Unknown,
}

impl Status {
    pub fn wire(self) -> &'static str {
        match self {
            Status::Stop => "STOP",
            Status::HsAlone => "HS:alone",
            Status::HsAsync => "HS:async",
            Status::HsSync => "HS:sync",
            Status::HsPotential => "HS:potential",
            Status::HsConnected => "HS:connected",
            Status::HsQuorum => "HS:quorum",
            Status::Pri => "PRI",
            Status::Unknown => "UNKNOWN",
        }
    }
}

/// `pg_stat_replication.state`, as the stock agent upper-cases it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderState {
    Startup,
    Catchup,
    Streaming,
    Backup,
    Stopping,
}

/// `pg_stat_replication.sync_state`, upper-cased.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncRole {
    Sync,
    Async,
    Potential,
    Quorum,
}

const SENDER_STATES: [(SenderState, &str); 5] = [
    (SenderState::Startup, "STARTUP"),
    (SenderState::Catchup, "CATCHUP"),
    (SenderState::Streaming, "STREAMING"),
    (SenderState::Backup, "BACKUP"),
    (SenderState::Stopping, "STOPPING"),
];
const SYNC_ROLES: [(SyncRole, &str); 4] = [
    (SyncRole::Sync, "SYNC"),
    (SyncRole::Async, "ASYNC"),
    (SyncRole::Potential, "POTENTIAL"),
    (SyncRole::Quorum, "QUORUM"),
];

fn word_of<T: PartialEq + Copy>(table: &[(T, &'static str)], v: T) -> &'static str {
    table.iter().find(|(t, _)| *t == v).map_or("", |(_, w)| w)
}

fn parse_word<T: Copy>(table: &[(T, &'static str)], w: &str) -> Option<T> {
    table
        .iter()
        .find(|(_, s)| s.eq_ignore_ascii_case(w.trim()))
        .map(|(t, _)| *t)
}

impl SenderState {
    pub fn wire(self) -> &'static str {
        word_of(&SENDER_STATES, self)
    }
    pub fn parse(w: &str) -> Option<SenderState> {
        parse_word(&SENDER_STATES, w)
    }
}

impl SyncRole {
    pub fn wire(self) -> &'static str {
        word_of(&SYNC_ROLES, self)
    }
    pub fn parse(w: &str) -> Option<SyncRole> {
        parse_word(&SYNC_ROLES, w)
    }
}

/// `<rsc>-data-status`: `LATEST` on the primary, `DISCONNECT` for a node
/// the primary does not see, else the primary's `STATE|SYNC_STATE` of it.
/// Our addition: `DIVERGED`, a standby's own verdict that its WAL went past
/// the point where the primary's timeline forked from its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataStatus {
    Latest,
    Disconnect,
    Diverged,
    Sender(SenderState, SyncRole),
}

impl DataStatus {
    pub const STREAMING_SYNC: DataStatus =
        DataStatus::Sender(SenderState::Streaming, SyncRole::Sync);
    pub const STREAMING_ASYNC: DataStatus =
        DataStatus::Sender(SenderState::Streaming, SyncRole::Async);

    pub fn wire(self) -> String {
        match self {
            DataStatus::Latest => "LATEST".into(),
            DataStatus::Disconnect => "DISCONNECT".into(),
            DataStatus::Diverged => "DIVERGED".into(),
            DataStatus::Sender(s, r) => format!("{}|{}", s.wire(), r.wire()),
        }
    }

    pub fn parse(w: &str) -> Option<DataStatus> {
        match w.trim() {
            "LATEST" => Some(DataStatus::Latest),
            "DISCONNECT" => Some(DataStatus::Disconnect),
            "DIVERGED" => Some(DataStatus::Diverged),
            other => {
                let (s, r) = other.split_once('|')?;
                Some(DataStatus::Sender(
                    SenderState::parse(s)?,
                    SyncRole::parse(r)?,
                ))
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Attr {
    Status,
    DataStatus,
    XlogLoc,
    /// Our addition: the timeline of `XlogLoc`, so that elections compare
    /// timelines first (deleted with it).
    XlogTli,
    MasterBaseline,
    Score,
    /// Our addition, on the primary's own node: the standby it scored 100,
    /// which has flushed every commit this primary acknowledged. Written
    /// and taken away with that score (ARCHITECTURE.md rules 2 and 7), but
    /// it survives the standby's node leaving the cluster, which erases
    /// the score.
    AckedAlsoOn,
    /// Our addition, quorum mode (design/quorum.md), on the primary's own
    /// node: `k of v1 v2 …`, the voters among whom any k hold every commit
    /// it acknowledged. Permanent, as `AckedAlsoOn`.
    AckedOnAny,
    /// Our addition, on a primary's own node: its last promotions
    /// ([`crate::core::history::recorded`]), for `rustpgctl history`.
    /// Permanent; no decision reads it.
    Promotions,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    Reboot,
    Forever,
}

impl Lifetime {
    pub fn as_str(self) -> &'static str {
        match self {
            Lifetime::Reboot => "reboot",
            Lifetime::Forever => "forever",
        }
    }
}

impl Attr {
    /// Every attribute the agent writes through the CIB.
    pub const ALL: [Attr; 9] = [
        Attr::Status,
        Attr::DataStatus,
        Attr::XlogLoc,
        Attr::XlogTli,
        Attr::MasterBaseline,
        Attr::Score,
        Attr::AckedAlsoOn,
        Attr::AckedOnAny,
        Attr::Promotions,
    ];

    /// The attributes that outlive their node's membership
    /// ([`Lifetime::Forever`]).
    pub const ALL_FOREVER: [Attr; 4] = [
        Attr::DataStatus,
        Attr::AckedAlsoOn,
        Attr::AckedOnAny,
        Attr::Promotions,
    ];

    pub fn name(self, rsc: &str) -> String {
        match self {
            Attr::Status => format!("{rsc}-status"),
            Attr::DataStatus => format!("{rsc}-data-status"),
            Attr::XlogLoc => format!("{rsc}-xlog-loc"),
            Attr::XlogTli => format!("{rsc}-xlog-tli"),
            Attr::MasterBaseline => format!("{rsc}-master-baseline"),
            Attr::Score => format!("master-{rsc}"),
            Attr::AckedAlsoOn => format!("{rsc}-acked-also-on"),
            Attr::AckedOnAny => format!("{rsc}-acked-on-any"),
            Attr::Promotions => format!("{rsc}-promotions"),
        }
    }

    /// Fixed per attribute, as in the stock agent: only data-status survives
    /// a reboot (and our `acked-also-on`, whose point is to survive one).
    pub fn lifetime(self) -> Lifetime {
        if Attr::ALL_FOREVER.contains(&self) {
            Lifetime::Forever
        } else {
            Lifetime::Reboot
        }
    }
}

/// The attributes kept by attrd alone (`attrd_updater -p`): never in the
/// CIB, so crm_mon does not show them and no scheduler reacts to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivateAttr {
    /// `timeline/LSN`, published by a standby in the pre-promote
    /// notification and read by `promote` (PAF's `lsn_location`).
    Position,
    /// The primary's timeline history
    /// ([`crate::core::timeline::History::to_wire`]), read by a standby that
    /// does not stream to tell whether it diverged.
    History,
}

impl PrivateAttr {
    pub const ALL: [PrivateAttr; 2] = [PrivateAttr::Position, PrivateAttr::History];

    pub fn name(self, rsc: &str) -> String {
        match self {
            PrivateAttr::Position => format!("{rsc}-position"),
            PrivateAttr::History => format!("{rsc}-history"),
        }
    }
}

/// `<rsc>-receiver-status` (`check_wal_receiver`): a transient attribute
/// the stock agent writes through attrd ([`super::receiver_status`]).
pub fn receiver_status_attr(rsc: &str) -> String {
    format!("{rsc}-receiver-status")
}

/// The value of one of the protocol's attributes ([`Attr`]), typed until
/// `io::crm` writes it ([`AttrValue::wire`]: the stock bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrValue {
    Status(Status),
    DataStatus(DataStatus),
    /// A standby's final position for the election (16 hex digits).
    XlogLoc(Lsn),
    /// Its timeline.
    XlogTli(u32),
    /// A standby's WAL location, for the pre-promote check (16 hex
    /// digits).
    MasterBaseline(Lsn),
    Score(Score),
    /// The standby the primary scored, which holds every commit it
    /// acknowledged.
    AckedAlsoOn(String),
    /// Quorum mode: the voters among whom any k hold every commit the
    /// primary acknowledged.
    AckedOnAny(QuorumRecord),
    /// A primary's last promotions ([`crate::core::history::recorded`]).
    Promotions(String),
    /// A value of `attr` as the CIB held it, whoever wrote it, written
    /// back unchanged (a promotion that failed before its request).
    AsFound(Attr, String),
}

impl AttrValue {
    /// The attribute this is a value of.
    pub fn attr(&self) -> Attr {
        match self {
            AttrValue::Status(_) => Attr::Status,
            AttrValue::DataStatus(_) => Attr::DataStatus,
            AttrValue::XlogLoc(_) => Attr::XlogLoc,
            AttrValue::XlogTli(_) => Attr::XlogTli,
            AttrValue::MasterBaseline(_) => Attr::MasterBaseline,
            AttrValue::Score(_) => Attr::Score,
            AttrValue::AckedAlsoOn(_) => Attr::AckedAlsoOn,
            AttrValue::AckedOnAny(_) => Attr::AckedOnAny,
            AttrValue::Promotions(_) => Attr::Promotions,
            AttrValue::AsFound(attr, _) => *attr,
        }
    }

    /// The stock agent's bytes.
    pub fn wire(&self) -> String {
        match self {
            AttrValue::Status(s) => s.wire().to_string(),
            AttrValue::DataStatus(d) => d.wire(),
            AttrValue::XlogLoc(lsn) | AttrValue::MasterBaseline(lsn) => lsn.to_hex16(),
            AttrValue::XlogTli(tli) => tli.to_string(),
            AttrValue::Score(s) => s.wire().to_string(),
            AttrValue::AckedAlsoOn(node) => node.clone(),
            AttrValue::AckedOnAny(record) => record.wire(),
            AttrValue::Promotions(v) | AttrValue::AsFound(_, v) => v.clone(),
        }
    }
}

/// One attribute write (`value: None` deletes), with the stock agent's log
/// line when it logs one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub node: String,
    pub attr: Attr,
    /// Of `attr` ([`AttrValue::attr`]).
    pub value: Option<AttrValue>,
    pub log: Option<String>,
}

impl Write {
    /// The bytes this write puts in the CIB (`None`: it deletes).
    pub fn wire(&self) -> Option<String> {
        self.value.as_ref().map(AttrValue::wire)
    }

    /// `node:Attr=value` (or `<deleted>`): how tests and the decision
    /// table show a write.
    #[cfg(test)]
    pub fn summary(&self) -> String {
        format!(
            "{}:{:?}={}",
            self.node,
            self.attr,
            self.wire().as_deref().unwrap_or("<deleted>")
        )
    }
}

/// What a plan decided since it was last taken ([`Plan::take`]): log
/// lines in the stock agent's words, then attribute writes, which the
/// executor applies together (at once when no attribute is written twice).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    pub infos: Vec<String>,
    /// Warnings for the log (guards that refused a write, among others).
    pub warnings: Vec<String>,
    pub writes: Vec<Write>,
}

impl Batch {
    /// One informational line, nothing written.
    pub fn info(line: impl Into<String>) -> Batch {
        Batch {
            infos: vec![line.into()],
            ..Batch::default()
        }
    }

    /// One warning, nothing written.
    pub fn warning(line: impl Into<String>) -> Batch {
        Batch {
            warnings: vec![line.into()],
            ..Batch::default()
        }
    }
}

/// The replication settings the decisions need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepConfig {
    pub rsc: String,
    pub me: String,
    pub rep_mode: RepMode,
    pub node_list: Vec<String>,
    /// `external_standby_node_list`: standbys outside the cluster, listed
    /// after the sync standby while they stream, never candidates.
    pub external_standbys: Vec<String>,
    pub xlog_check_count: u32,
    /// `check_wal_receiver`: publish `<rsc>-receiver-status`.
    pub check_wal_receiver: bool,
    /// `auto_rewind`: a former primary rejoins by itself.
    pub auto_rewind: bool,
    /// `restore_command` is set: a standby may read a newer timeline's
    /// history from the archive before it has replayed its own WAL, so
    /// following that timeline proves nothing about its WAL's end.
    pub archive_recovery: bool,
    /// A former primary that should become the sync standby once it streams
    /// (recorded at its demote), so that a switchover can be undone.
    pub sync_preference: Option<String>,
    /// Quorum mode: k, how many standbys must flush a commit before it is
    /// acknowledged (`ANY k (…)`).
    pub quorum_standbys: usize,
    /// `replication_hosts`: node → the host its standbys stream from while
    /// it is promoted ([`super::follow`]); empty: `master_ip`.
    pub replication_hosts: std::collections::BTreeMap<String, String>,
    /// The host a standby's `primary_conninfo` names when it streams
    /// through `master_ip` (`primary_conninfo_opt` may name another).
    pub master_ip_host: Option<String>,
    /// PostgreSQL applies a changed `primary_conninfo` at a reload (13 and
    /// later): a running standby may be pointed elsewhere.
    pub reloads_conninfo: bool,
    /// The primary's per-standby slots (`replication_slot_name`), one for
    /// each other node: empty without.
    pub slot_names: Vec<String>,
    /// `max_slot_wal_keep_size` (ours), in MB.
    pub slot_wal_keep_mb: Option<u64>,
}

impl RepConfig {
    /// The resource's replication settings, as this node runs it (see
    /// [`RepConfig::for_major`]).
    pub fn of(cfg: &Config, rsc: String, me: String, sync_preference: Option<String>) -> RepConfig {
        RepConfig {
            rsc,
            rep_mode: cfg.rep_mode,
            node_list: cfg.node_list.clone(),
            external_standbys: cfg.external_standbys.clone(),
            xlog_check_count: cfg.xlog_check_count,
            check_wal_receiver: cfg.check_wal_receiver,
            auto_rewind: cfg.auto_rewind,
            archive_recovery: cfg.restore_command.is_some(),
            sync_preference,
            quorum_standbys: cfg.quorum_standbys,
            replication_hosts: cfg.replication_hosts.clone(),
            master_ip_host: crate::core::standby_conf::StandbySettings::of(cfg, &me, None)
                .effective_host(),
            reloads_conninfo: false,
            slot_names: match &cfg.replication_slot_name {
                Some(base) => cfg
                    .node_list
                    .iter()
                    .filter(|n| **n != me)
                    .map(|n| super::slot_name(base, n))
                    .collect(),
                None => Vec::new(),
            },
            slot_wal_keep_mb: cfg.slot_wal_keep_mb,
            me,
        }
    }

    /// For a data directory of PostgreSQL `major`: whether a running
    /// standby may be pointed elsewhere ([`super::follow_now`]).
    pub fn for_major(self, major: &crate::core::version::PgMajor) -> RepConfig {
        RepConfig {
            reloads_conninfo: major.reloads_primary_conninfo(),
            ..self
        }
    }

    pub fn others(&self) -> impl Iterator<Item = &str> {
        self.node_list
            .iter()
            .map(String::as_str)
            .filter(move |n| *n != self.me)
    }

    pub fn sync_mode(&self) -> bool {
        self.rep_mode == RepMode::Sync
    }

    pub fn quorum_mode(&self) -> bool {
        self.rep_mode == RepMode::Quorum
    }

    /// The data-status the primary gives a standby every acknowledged
    /// commit may have waited for: `STREAMING|SYNC` for the named sync
    /// standby, `STREAMING|QUORUM` for a voter of quorum mode.
    pub fn waited_for(&self) -> Option<DataStatus> {
        let role = match self.rep_mode {
            RepMode::Sync => SyncRole::Sync,
            RepMode::Quorum => SyncRole::Quorum,
            _ => return None,
        };
        Some(DataStatus::Sender(SenderState::Streaming, role))
    }

    /// sync and quorum: commits wait for standbys
    /// (`synchronous_standby_names` names some).
    pub fn waits_for_standbys(&self) -> bool {
        self.sync_mode() || self.quorum_mode()
    }
}

/// A cluster snapshot plus the writes decided so far. Reads see the writes.
#[derive(Debug)]
pub struct Plan<'a> {
    pub cfg: &'a RepConfig,
    pub view: &'a ClusterView,
    pending: BTreeMap<(String, Attr), Option<String>>,
    pub writes: Vec<Write>,
    /// Warnings for the log (guards that refused a write).
    pub warnings: Vec<String>,
    /// Informational log lines, in the stock agent's words.
    pub infos: Vec<String>,
}

impl<'a> Plan<'a> {
    pub fn new(cfg: &'a RepConfig, view: &'a ClusterView) -> Plan<'a> {
        Plan {
            cfg,
            view,
            pending: BTreeMap::new(),
            writes: Vec::new(),
            warnings: Vec::new(),
            infos: Vec::new(),
        }
    }

    /// What this plan decided since the last call: its log lines and
    /// writes, for the executor. The plan keeps its view of the values, so
    /// later decisions see these writes.
    pub fn take(&mut self) -> Batch {
        Batch {
            infos: std::mem::take(&mut self.infos),
            warnings: std::mem::take(&mut self.warnings),
            writes: std::mem::take(&mut self.writes),
        }
    }

    /// The current value: what this plan wrote, else what crm_mon showed.
    pub fn current(&self, node: &str, attr: Attr) -> Option<&str> {
        match self.pending.get(&(node.to_string(), attr)) {
            Some(v) => v.as_deref(),
            None => self.view.attribute(node, &attr.name(&self.cfg.rsc)),
        }
    }

    /// The view as it will be once this plan's writes are in: for the rest
    /// of an action that made them.
    pub fn view_with_writes(&self) -> ClusterView {
        let mut view = self.view.clone();
        for ((node, attr), value) in &self.pending {
            let shown = view.attributes.entry(node.clone()).or_default();
            let name = attr.name(&self.cfg.rsc);
            match value {
                Some(v) => shown.insert(name, v.clone()),
                None => shown.remove(&name),
            };
        }
        view
    }

    pub fn current_data_status(&self, node: &str) -> Option<DataStatus> {
        self.current(node, Attr::DataStatus)
            .and_then(DataStatus::parse)
    }

    /// A node's promotion score as the CIB will hold it (`None`: none, or
    /// not a score).
    pub fn score(&self, node: &str) -> Option<ScoreValue> {
        self.current(node, Attr::Score).and_then(Score::parse)
    }

    pub fn has_positive_score(&self, node: &str) -> bool {
        Score::is_positive(self.current(node, Attr::Score))
    }

    /// Pacemaker may promote `node` instead of this one: it has a positive
    /// score, and its instance has not failed. A stopped instance with a
    /// fail count stays stopped under `migration-threshold=1`, whatever
    /// score it kept (the sync standby keeps its own through a restart,
    /// R27).
    pub fn may_be_promoted(&self, node: &str) -> bool {
        let v = &self.view;
        let failed = v.failed.iter().any(|n| n == node)
            || (!v.runs_instance(node) && v.fail_counts.contains_key(node));
        self.has_positive_score(node) && !failed
    }

    /// Note a write. `pending` keeps what the CIB will show (the bytes,
    /// compared with crm_mon's), `writes` the typed value.
    fn record(&mut self, node: &str, attr: Attr, value: Option<AttrValue>, log: Option<String>) {
        self.pending.insert(
            (node.to_string(), attr),
            value.as_ref().map(AttrValue::wire),
        );
        self.writes.push(Write {
            node: node.to_string(),
            attr,
            value,
            log,
        });
    }

    /// Set unless it already has that value.
    pub fn set(&mut self, node: &str, value: AttrValue) {
        let attr = value.attr();
        if self.current(node, attr) != Some(value.wire().as_str()) {
            self.record(node, attr, Some(value), None);
        }
    }

    /// Delete unless it is already absent.
    pub fn delete(&mut self, node: &str, attr: Attr) {
        if self.current(node, attr).is_some() {
            self.record(node, attr, None, None);
        }
    }

    /// `change_pgsql_status`: only for an online node, only on change, and
    /// never over another node's `STOP` or `UNKNOWN` (its own agent knows
    /// better than we do).
    pub fn status(&mut self, node: &str, value: Status) {
        if !self.view.online(node) {
            return;
        }
        let typed = AttrValue::Status(value);
        let value = value.wire();
        let old = self.current(node, Attr::Status).map(str::to_string);
        if old.as_deref() == Some(value) {
            return;
        }
        let old_s = old.as_deref().unwrap_or("");
        let owned_by_its_agent = [Status::Stop.wire(), Status::Unknown.wire()].contains(&old_s);
        if owned_by_its_agent && node != self.cfg.me {
            self.warnings.push(format!(
                "Changing {} on {node} : {old_s}->{value} by {} is prohibited.",
                Attr::Status.name(&self.cfg.rsc),
                self.cfg.me
            ));
            return;
        }
        let log = format!(
            "Changing {} on {node} : {old_s}->{value}.",
            Attr::Status.name(&self.cfg.rsc)
        );
        self.record(node, Attr::Status, Some(typed), Some(log));
    }

    /// `change_data_status`: for any node crm_mon knows, only on change.
    /// `DIVERGED` is a node's own verdict: no other node overwrites it, and
    /// `DISCONNECT` never replaces it; the node's own agent clears it once
    /// it streams on the primary's timeline ([`super::diverge`]).
    pub fn data_status(&mut self, node: &str, value: DataStatus) {
        if !self.view.exists(node) {
            return;
        }
        let old = self
            .current(node, Attr::DataStatus)
            .unwrap_or("")
            .to_string();
        let verdict_stands = value == DataStatus::Disconnect || node != self.cfg.me;
        if verdict_stands && DataStatus::parse(&old) == Some(DataStatus::Diverged) {
            return;
        }
        let wire = value.wire();
        if old != wire {
            let log = format!(
                "Changing {} on {node} : {old}->{wire}.",
                Attr::DataStatus.name(&self.cfg.rsc)
            );
            self.record(
                node,
                Attr::DataStatus,
                Some(AttrValue::DataStatus(value)),
                Some(log),
            );
        }
    }

    /// Our own promotion score (`ocf_promotion_score`), written only when
    /// it changes: the stock agent writes it at every monitor, one
    /// `crm_attribute` process each time for nothing.
    pub fn own_score(&mut self, value: Score) {
        let me = self.cfg.me.clone();
        self.set(&me, AttrValue::Score(value));
    }

    /// Take another node's score away whatever crm_mon shows, in a pass
    /// that changes `synchronous_standby_names` or a promotion: a raise an
    /// earlier pass wrote may not be in the CIB yet (attrd writes it when
    /// the CIB takes writes again), and only a write after it leaves
    /// `-INFINITY` last.
    /// Only where [`Plan::other_score`] would write (online, scored).
    pub fn revoke_score(&mut self, node: &str) {
        let Some(old) = self.score_of_online(node) else {
            return;
        };
        let value = Score::CanNotPromote;
        let log = format!(
            "Changing {} master score on {node} : {old}->{} (whatever the CIB shows: an earlier raise may still be on its way).",
            self.cfg.rsc,
            value.wire()
        );
        self.record(node, Attr::Score, Some(AttrValue::Score(value)), Some(log));
    }

    /// The score of another node that may be written: it is online and
    /// already has one (the probe seeds one).
    fn score_of_online(&self, node: &str) -> Option<String> {
        if !self.view.online(node) {
            return None;
        }
        self.current(node, Attr::Score).map(str::to_string)
    }

    /// `change_master_score` of another node: only when it is online, already
    /// has a score (the probe seeds one), and the value changes.
    pub fn other_score(&mut self, node: &str, value: Score) {
        let Some(old) = self.score_of_online(node) else {
            return;
        };
        if old != value.wire() {
            let log = format!(
                "Changing {} master score on {node} : {old}->{}.",
                self.cfg.rsc,
                value.wire()
            );
            self.record(node, Attr::Score, Some(AttrValue::Score(value)), Some(log));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::super::*;
    use crate::config::RepMode;
    use crate::core::lsn::Lsn;

    #[test]
    fn attribute_names_and_lifetimes_match_the_stock_agent() {
        assert_eq!(Attr::Status.name("pgsql"), "pgsql-status");
        assert_eq!(Attr::DataStatus.name("pgsql"), "pgsql-data-status");
        assert_eq!(Attr::XlogLoc.name("pgsql"), "pgsql-xlog-loc");
        assert_eq!(Attr::MasterBaseline.name("pgsql"), "pgsql-master-baseline");
        assert_eq!(Attr::Score.name("pgsql"), "master-pgsql");
        assert_eq!(Attr::DataStatus.lifetime(), Lifetime::Forever);
        for a in [
            Attr::Status,
            Attr::XlogLoc,
            Attr::XlogTli,
            Attr::MasterBaseline,
            Attr::Score,
        ] {
            assert_eq!(a.lifetime(), Lifetime::Reboot);
        }
    }

    #[test]
    fn status_guards() {
        let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
        let v = view(
            &["pg01", "pg02"],
            &["pg03"],
            &[
                ("pg02", "pgsql-status", "STOP"),
                ("pg01", "pgsql-status", "HS:alone"),
            ],
        );
        let mut p = Plan::new(&c, &v);
        p.status("pg02", Status::HsSync); // another node's STOP: prohibited
        p.status("pg03", Status::HsSync); // offline: skipped
        p.status("pg01", Status::HsAlone); // unchanged: skipped
        p.status("pg01", Status::Pri);
        assert_eq!(p.writes.len(), 1, "{:?}", p.writes);
        assert_eq!(
            p.writes[0].log.as_deref(),
            Some("Changing pgsql-status on pg01 : HS:alone->PRI.")
        );
        assert_eq!(
            p.warnings,
            ["Changing pgsql-status on pg02 : STOP->HS:sync by pg01 is prohibited."]
        );
    }

    #[test]
    fn score_guards_for_other_nodes() {
        let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03", "pg04"]);
        let v = view(
            &["pg01", "pg02", "pg03"],
            &["pg04"],
            &[
                ("pg02", "master-pgsql", "-INFINITY"),
                ("pg04", "master-pgsql", "-INFINITY"),
            ],
        );
        let mut p = Plan::new(&c, &v);
        p.other_score("pg02", Score::CanPromote);
        p.other_score("pg03", Score::CanPromote); // no score yet: the probe seeds it
        p.other_score("pg04", Score::CanPromote); // offline
        p.own_score(Score::PromoteMe);
        p.own_score(Score::PromoteMe); // written once: only a change is written
        let targets: Vec<&str> = p.writes.iter().map(|w| w.node.as_str()).collect();
        assert_eq!(targets, ["pg02", "pg01"]);
        assert_eq!(
            p.writes[0].log.as_deref(),
            Some("Changing pgsql master score on pg02 : -INFINITY->100.")
        );
    }

    #[test]
    fn data_status_is_written_for_offline_nodes_but_not_unknown_ones() {
        let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
        let v = view(&["pg01"], &["pg02"], &[]);
        let mut p = Plan::new(&c, &v);
        p.data_status("pg02", DataStatus::Disconnect);
        p.data_status("pg03", DataStatus::Disconnect);
        assert_eq!(p.writes.len(), 1);
        assert_eq!(
            p.writes[0].log.as_deref(),
            Some("Changing pgsql-data-status on pg02 : ->DISCONNECT.")
        );
    }

    #[test]
    fn wire_values_are_the_stock_bytes() {
        assert_eq!(
            [Score::PromoteMe, Score::CanPromote, Score::CanNotPromote].map(Score::wire),
            ["1000", "100", "-INFINITY"]
        );
        for s in [
            "STREAMING|SYNC",
            "STREAMING|ASYNC",
            "STREAMING|POTENTIAL",
            "STREAMING|QUORUM",
            "CATCHUP|ASYNC",
            "LATEST",
            "DISCONNECT",
            "DIVERGED",
        ] {
            assert_eq!(DataStatus::parse(s).unwrap().wire(), s);
        }
        assert_eq!(DataStatus::parse("STREAMING|WHATEVER"), None);
        assert_eq!(Status::HsPotential.wire(), "HS:potential");
        assert_eq!(Status::HsQuorum.wire(), "HS:quorum");
        let record = crate::core::replication::quorum::QuorumRecord::new(1, &["pg03", "pg02"]);
        assert_eq!(AttrValue::AckedOnAny(record).wire(), "1 of pg02 pg03");
        assert_eq!(Attr::AckedOnAny.name("pgsql"), "pgsql-acked-on-any");
        assert_eq!(Attr::AckedOnAny.lifetime(), Lifetime::Forever);
        assert!(Score::is_positive(Some("100")) && Score::is_positive(Some("INFINITY")));
        assert!(!Score::is_positive(Some("-INFINITY")) && !Score::is_positive(Some("0")));
        assert!(!Score::is_positive(None) && !Score::is_positive(Some("x")));
    }

    /// The CIB may hold any score, written by anyone: every one of ours
    /// reads back as itself, any integer and both infinities parse.
    #[test]
    fn scores_read_back_from_the_cib() {
        for s in [Score::PromoteMe, Score::CanPromote, Score::CanNotPromote] {
            assert_eq!(Score::parse(s.wire()), Some(s.value()));
        }
        assert_eq!(Score::parse("+INFINITY"), Some(ScoreValue::Infinity));
        assert_eq!(Score::parse(" INFINITY "), Some(ScoreValue::Infinity));
        assert_eq!(Score::parse("-5"), Some(ScoreValue::Points(-5)));
        assert_eq!(Score::parse("0"), Some(ScoreValue::Points(0)));
        assert_eq!(Score::parse("infinity"), None);
        assert_eq!(Score::parse(""), None);
        assert!(ScoreValue::Infinity.is_positive() && ScoreValue::Points(1).is_positive());
        assert!(!ScoreValue::MinusInfinity.is_positive() && !ScoreValue::Points(0).is_positive());
    }

    #[test]
    fn attribute_values_render_the_stock_bytes() {
        let lsn = Lsn(0x3000028);
        for (v, attr, wire) in [
            (AttrValue::Status(Status::HsSync), Attr::Status, "HS:sync"),
            (
                AttrValue::DataStatus(DataStatus::STREAMING_ASYNC),
                Attr::DataStatus,
                "STREAMING|ASYNC",
            ),
            (AttrValue::XlogLoc(lsn), Attr::XlogLoc, "0000000003000028"),
            (AttrValue::XlogTli(4), Attr::XlogTli, "4"),
            (
                AttrValue::MasterBaseline(lsn),
                Attr::MasterBaseline,
                "0000000003000028",
            ),
            (
                AttrValue::Score(Score::CanNotPromote),
                Attr::Score,
                "-INFINITY",
            ),
            (
                AttrValue::AckedAlsoOn("pg02".into()),
                Attr::AckedAlsoOn,
                "pg02",
            ),
            (
                AttrValue::AsFound(Attr::Score, "+5".into()),
                Attr::Score,
                "+5",
            ),
        ] {
            assert_eq!((v.attr(), v.wire().as_str()), (attr, wire));
        }
    }
}
