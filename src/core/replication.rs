//! The stock agent's node-attribute protocol, as pure decisions.
//!
//! A [`Plan`] starts from the cluster snapshot (`crm_mon` read once) and
//! collects the attribute writes an action makes, applying the stock
//! agent's guards: who may write which attribute of which node, and when.
//! The decision functions below fill a plan; `actions::replication`
//! observes, calls them and applies the plan.

use crate::config::RepMode;
use crate::core::crm_mon::ClusterView;
use crate::core::lsn::Lsn;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// Promotion scores, as strings because that is what goes on the wire.
pub const PROMOTE_ME: &str = "1000";
pub const CAN_PROMOTE: &str = "100";
pub const CAN_NOT_PROMOTE: &str = "-INFINITY";

/// `<rsc>-status` values.
pub mod status {
    pub const STOP: &str = "STOP";
    pub const HS_ALONE: &str = "HS:alone";
    pub const HS_ASYNC: &str = "HS:async";
    pub const HS_SYNC: &str = "HS:sync";
    pub const HS_POTENTIAL: &str = "HS:potential";
    pub const HS_CONNECTED: &str = "HS:connected";
    pub const PRI: &str = "PRI";
    pub const UNKNOWN: &str = "UNKNOWN";
}

/// `<rsc>-data-status` values that are not `STATE|SYNC_STATE` pairs.
pub mod data {
    pub const LATEST: &str = "LATEST";
    pub const DISCONNECT: &str = "DISCONNECT";
    pub const STREAMING_SYNC: &str = "STREAMING|SYNC";
    pub const STREAMING_ASYNC: &str = "STREAMING|ASYNC";
    pub const STREAMING_POTENTIAL: &str = "STREAMING|POTENTIAL";
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
    pub fn name(self, rsc: &str) -> String {
        match self {
            Attr::Status => format!("{rsc}-status"),
            Attr::DataStatus => format!("{rsc}-data-status"),
            Attr::XlogLoc => format!("{rsc}-xlog-loc"),
            Attr::XlogTli => format!("{rsc}-xlog-tli"),
            Attr::MasterBaseline => format!("{rsc}-master-baseline"),
            Attr::Score => format!("master-{rsc}"),
        }
    }

    /// Fixed per attribute, as in the stock agent: only data-status survives
    /// a reboot.
    pub fn lifetime(self) -> Lifetime {
        match self {
            Attr::DataStatus => Lifetime::Forever,
            _ => Lifetime::Reboot,
        }
    }
}

/// One attribute write (`value: None` deletes), with the stock agent's log
/// line when it logs one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub node: String,
    pub attr: Attr,
    pub value: Option<String>,
    pub log: Option<String>,
}

/// The replication settings the decisions need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepConfig {
    pub rsc: String,
    pub me: String,
    pub rep_mode: RepMode,
    pub node_list: Vec<String>,
    pub xlog_check_count: u32,
    /// A former primary that should become the sync standby once it streams
    /// (recorded at its demote), so that a switchover can be undone.
    pub sync_preference: Option<String>,
}

impl RepConfig {
    pub fn others(&self) -> impl Iterator<Item = &str> {
        self.node_list
            .iter()
            .map(String::as_str)
            .filter(move |n| *n != self.me)
    }
}

/// A cluster snapshot plus the writes decided so far. Reads see the writes.
#[derive(Debug)]
pub struct Plan<'a> {
    pub cfg: &'a RepConfig,
    view: &'a ClusterView,
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

    /// The current value: what this plan wrote, else what crm_mon showed.
    pub fn current(&self, node: &str, attr: Attr) -> Option<&str> {
        match self.pending.get(&(node.to_string(), attr)) {
            Some(v) => v.as_deref(),
            None => self.view.attribute(node, &attr.name(&self.cfg.rsc)),
        }
    }

    fn record(&mut self, node: &str, attr: Attr, value: Option<&str>, log: Option<String>) {
        self.pending
            .insert((node.to_string(), attr), value.map(str::to_string));
        self.writes.push(Write {
            node: node.to_string(),
            attr,
            value: value.map(str::to_string),
            log,
        });
    }

    /// Set unless it already has that value.
    pub fn set(&mut self, node: &str, attr: Attr, value: &str) {
        if self.current(node, attr) != Some(value) {
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
    pub fn status(&mut self, node: &str, value: &str) {
        if !self.view.online(node) {
            return;
        }
        let old = self.current(node, Attr::Status).map(str::to_string);
        if old.as_deref() == Some(value) {
            return;
        }
        let old_s = old.as_deref().unwrap_or("");
        if matches!(old_s, status::STOP | status::UNKNOWN) && node != self.cfg.me {
            let rsc = &self.cfg.rsc;
            self.warnings.push(format!(
                "Changing {rsc}-status on {node} : {old_s}->{value} by {} is prohibited.",
                self.cfg.me
            ));
            return;
        }
        let log = format!(
            "Changing {} on {node} : {old_s}->{value}.",
            Attr::Status.name(&self.cfg.rsc)
        );
        self.record(node, Attr::Status, Some(value), Some(log));
    }

    /// `change_data_status`: for any node crm_mon knows, only on change.
    pub fn data_status(&mut self, node: &str, value: &str) {
        if !self.view.exists(node) {
            return;
        }
        let old = self
            .current(node, Attr::DataStatus)
            .unwrap_or("")
            .to_string();
        if old != value {
            let log = format!(
                "Changing {} on {node} : {old}->{value}.",
                Attr::DataStatus.name(&self.cfg.rsc)
            );
            self.record(node, Attr::DataStatus, Some(value), Some(log));
        }
    }

    /// Our own promotion score: always written (`ocf_promotion_score`).
    pub fn own_score(&mut self, value: &str) {
        let me = self.cfg.me.clone();
        self.record(&me, Attr::Score, Some(value), None);
    }

    /// `change_master_score` of another node: only when it is online, already
    /// has a score (the probe seeds one), and the value changes.
    pub fn other_score(&mut self, node: &str, value: &str) {
        if !self.view.online(node) {
            return;
        }
        let Some(old) = self.current(node, Attr::Score).map(str::to_string) else {
            return;
        };
        if old != value {
            let log = format!(
                "Changing {} master score on {node} : {old}->{value}.",
                self.cfg.rsc
            );
            self.record(node, Attr::Score, Some(value), Some(log));
        }
    }
}

// --- The primary's view of its standbys --------------------------------------

/// One row of `pg_stat_replication`, upper-cased as the stock agent reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationRow {
    pub application_name: String,
    pub state: String,
    pub sync_state: String,
}

impl ReplicationRow {
    fn data_status(&self) -> String {
        format!("{}|{}", self.state, self.sync_state)
    }
}

/// `synchronous_standby_names` as the agent manages it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncStandbys {
    /// `''`: asynchronous; commits never wait.
    Async,
    /// `FIRST 1 ("a", "b", ...)`: the first connected one in this order is
    /// synchronous, every other connected one is potential.
    First(Vec<String>),
}

impl SyncStandbys {
    /// The setting's value (before quoting for postgresql.conf).
    pub fn value(&self) -> String {
        match self {
            SyncStandbys::Async => String::new(),
            SyncStandbys::First(names) => {
                let quoted: Vec<String> = names
                    .iter()
                    .map(|n| format!("\"{}\"", n.replace('"', "\"\"")))
                    .collect();
                format!("FIRST 1 ({})", quoted.join(", "))
            }
        }
    }

    /// Read the current setting back. The stock agent's single name
    /// (`"node2"`) reads as a one-element list.
    pub fn parse(value: &str) -> Option<SyncStandbys> {
        let v = value.trim();
        if v.is_empty() {
            return Some(SyncStandbys::Async);
        }
        let list = match v.strip_prefix("FIRST 1") {
            Some(rest) => rest.trim().strip_prefix('(')?.strip_suffix(')')?,
            None => v,
        };
        let names: Option<Vec<String>> = list
            .split(',')
            .map(|n| {
                let n = n.trim();
                let inner = n
                    .strip_prefix('"')
                    .and_then(|n| n.strip_suffix('"'))
                    .unwrap_or(n);
                (!inner.is_empty()).then(|| inner.replace("\"\"", "\""))
            })
            .collect();
        Some(SyncStandbys::First(names?))
    }
}

/// The primary's monitor about itself: `LATEST`, `PRI`, and no election
/// positions anywhere: they mean nothing while a primary runs, and a
/// standby probed with no primary in sight may have left some behind.
pub fn primary_self(plan: &mut Plan) {
    let me = plan.cfg.me.clone();
    plan.data_status(&me, data::LATEST);
    plan.status(&me, status::PRI);
    for n in plan.cfg.node_list.clone() {
        plan.delete(&n, Attr::XlogLoc);
        plan.delete(&n, Attr::XlogTli);
    }
}

/// `control_slave_status` on the primary: every other node's data-status,
/// score and status from `pg_stat_replication`. In sync mode it also returns
/// the `synchronous_standby_names` it wants, when that differs from
/// `current`.
pub fn control_standbys(
    plan: &mut Plan,
    rows: &[ReplicationRow],
    current: &SyncStandbys,
) -> Option<SyncStandbys> {
    let cfg = plan.cfg;
    let sync_mode = cfg.rep_mode == RepMode::Sync;
    let few_nodes = cfg.node_list.len() <= 2;
    let row_of = |target: &str| {
        rows.iter()
            .find(|r| r.application_name.to_lowercase() == target)
    };
    for target in cfg.others() {
        let data_status =
            row_of(target).map_or(data::DISCONNECT.to_string(), ReplicationRow::data_status);
        plan.data_status(target, &data_status);
        match data_status.as_str() {
            data::STREAMING_SYNC => {
                plan.other_score(target, CAN_PROMOTE);
                plan.status(target, status::HS_SYNC);
            }
            data::STREAMING_ASYNC => {
                let score = if !sync_mode && few_nodes {
                    CAN_PROMOTE
                } else {
                    CAN_NOT_PROMOTE
                };
                plan.other_score(target, score);
                plan.status(target, status::HS_ASYNC);
            }
            data::STREAMING_POTENTIAL => {
                plan.other_score(target, CAN_NOT_PROMOTE);
                plan.status(target, status::HS_POTENTIAL);
            }
            // Gone: its own agent sets its status when it can.
            data::DISCONNECT => plan.other_score(target, CAN_NOT_PROMOTE),
            _ => {
                plan.other_score(target, CAN_NOT_PROMOTE);
                plan.status(target, status::HS_CONNECTED);
            }
        }
    }
    if !sync_mode {
        return None;
    }
    let wanted = wanted_sync_standbys(cfg, rows);
    (wanted != *current).then_some(wanted)
}

/// Which standbys to name. Nobody streaming: asynchronous, so that commits
/// do not hang (the stock agent's choice). Otherwise every other node: a
/// former primary first while a switchover's preference holds, then the
/// current synchronous standby (so a returning node comes back as potential
/// instead of taking the role back), else the first streaming one, then the
/// rest in node_list order.
pub fn wanted_sync_standbys(cfg: &RepConfig, rows: &[ReplicationRow]) -> SyncStandbys {
    let others: Vec<&str> = cfg.others().collect();
    let row_of = |target: &str| {
        rows.iter()
            .find(|r| r.application_name.to_lowercase() == target)
    };
    let streaming = |n: &str| row_of(n).is_some_and(|r| r.state == "STREAMING");
    if !others.iter().any(|n| streaming(n)) {
        return SyncStandbys::Async;
    }
    let current = others
        .iter()
        .find(|n| row_of(n).is_some_and(|r| r.state == "STREAMING" && r.sync_state == "SYNC"))
        .or_else(|| others.iter().find(|n| streaming(n)))
        .copied();
    let preferred = cfg
        .sync_preference
        .as_deref()
        .filter(|p| others.contains(p));
    let mut names: Vec<String> = Vec::new();
    for n in preferred
        .into_iter()
        .chain(current)
        .chain(others.iter().copied())
    {
        if !names.iter().any(|m| m == n) {
            names.push(n.to_string());
        }
    }
    SyncStandbys::First(names)
}

// --- WAL positions and the election -------------------------------------------

/// A WAL position with its timeline, when known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub tli: Option<u32>,
    pub lsn: Lsn,
}

impl Location {
    /// Timeline first, then LSN; without both timelines, LSN alone (the
    /// stock agent's rule, for peers that publish no timeline).
    pub fn compare(&self, other: &Location) -> Ordering {
        match (self.tli, other.tli) {
            (Some(a), Some(b)) if a != b => a.cmp(&b),
            _ => self.lsn.cmp(&other.lsn),
        }
    }

    /// Read a node's published location from its attributes.
    pub fn from_attrs(hex16: Option<&str>, tli: Option<&str>) -> Option<Location> {
        let lsn = Lsn::from_hex16(hex16?)?;
        Some(Location {
            tli: tli.and_then(|t| t.parse().ok()),
            lsn,
        })
    }
}

/// What every node published in one monitor round, in node_list order.
/// Values are kept as published (`hex16`, timeline) to compare rounds
/// exactly as the stock agent compares its note files.
pub type Sample = Vec<(String, String, Option<String>)>;

/// The election counter the stock agent keeps in `xlog_note.*` files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElectionState {
    /// How many consecutive rounds repeated `sample`.
    pub agreeing: u32,
    pub sample: Sample,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElectionStep {
    /// Keep counting with this state.
    Counting(ElectionState),
    /// Our position is the newest: claim the promotion (score 1000).
    Won,
    /// Someone is newer: data-status DISCONNECT, start again.
    Lost(ElectionState),
}

/// Whether a published (`hex16`, timeline) pair can be compared: 16 hex
/// digits, and a timeline that is a number when there is one.
fn readable((_, hex, tli): &(String, String, Option<String>)) -> bool {
    Lsn::from_hex16(hex).is_some() && tli.as_deref().map_or(true, |t| t.parse::<u32>().is_ok())
}

/// One round of `have_master_right`'s counter: `xlog_check_count` unchanged
/// rounds after the first decide, as in the stock agent (which therefore
/// decides on round `xlog_check_count + 1`). Ties all win.
pub fn election_step(
    prev: Option<&ElectionState>,
    sample: Sample,
    check_count: u32,
    me: &str,
) -> ElectionStep {
    let agreeing = match prev {
        Some(p) if p.sample == sample => p.agreeing + 1,
        _ => {
            return ElectionStep::Counting(ElectionState {
                agreeing: 0,
                sample,
            })
        }
    };
    if agreeing < check_count || sample.iter().any(|e| !readable(e)) {
        // A position we cannot read may be newer than ours: no decision
        // until its node publishes a readable one.
        return ElectionStep::Counting(ElectionState { agreeing, sample });
    }
    // Timelines count only when every node published one: a mixed rule
    // would not be an order (a stock agent peer publishes none).
    let use_tli = sample.iter().all(|(_, _, tli)| tli.is_some());
    let location = |(_, hex, tli): &(String, String, Option<String>)| {
        let l = Location::from_attrs(Some(hex), tli.as_deref())?;
        Some(if use_tli {
            l
        } else {
            Location { tli: None, ..l }
        })
    };
    let mine = sample.iter().find(|(n, ..)| n == me).and_then(location);
    let newest = sample
        .iter()
        .filter_map(location)
        .max_by(|a, b| a.compare(b));
    match (mine, newest) {
        (Some(m), Some(n)) if m.compare(&n) == Ordering::Equal => ElectionStep::Won,
        _ => ElectionStep::Lost(ElectionState {
            agreeing: 0,
            sample,
        }),
    }
}

/// `PGSQL.lock`. The stock agent only tests its existence; a clean demote
/// writes where it shut down into it, which is what lets the node prove
/// later that it is not ahead of the new primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    Absent,
    /// Created at promote (or by the stock agent): the data may be ahead.
    Held,
    /// Demoted with a shutdown checkpoint at `checkpoint` on timeline `tli`.
    CleanDemote {
        checkpoint: Lsn,
        tli: u32,
    },
}

const CLEAN_DEMOTE: &str = "clean demote: shutdown checkpoint ";

impl Lock {
    /// From the lock file's content (`None`: no file).
    pub fn parse(content: Option<&str>) -> Lock {
        let Some(text) = content else {
            return Lock::Absent;
        };
        let parsed = text.trim().strip_prefix(CLEAN_DEMOTE).and_then(|rest| {
            let (lsn, tli) = rest.split_once(" on timeline ")?;
            Some(Lock::CleanDemote {
                checkpoint: lsn.parse().ok()?,
                tli: tli.parse().ok()?,
            })
        });
        parsed.unwrap_or(Lock::Held)
    }

    pub fn clean_demote_text(checkpoint: Lsn, tli: u32) -> String {
        format!("{CLEAN_DEMOTE}{checkpoint} on timeline {tli}\n")
    }

    /// PostgreSQL has proven this cleanly demoted node is not ahead: it
    /// streams on a newer timeline and has replayed past its own shutdown
    /// checkpoint, which PostgreSQL allows only when the new timeline forked
    /// after it.
    pub fn proven_not_ahead(
        &self,
        streaming: bool,
        received_tli: Option<u32>,
        replay: Option<Lsn>,
    ) -> bool {
        match *self {
            Lock::CleanDemote { checkpoint, tli } => {
                streaming
                    && received_tli.is_some_and(|t| t > tli)
                    && replay.is_some_and(|r| r > checkpoint)
            }
            Lock::Absent | Lock::Held => false,
        }
    }
}

/// What a standby knows about itself when its monitor runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandbyFacts<'a> {
    /// Its WAL position (`None`: it could not be read).
    pub location: Option<Location>,
    /// Its WAL receiver streams from a primary.
    pub streaming: bool,
    /// The timeline its WAL receiver receives.
    pub received_tli: Option<u32>,
    /// How far it has replayed.
    pub replay: Option<Lsn>,
    pub lock: Lock,
    /// The election counter from the previous rounds.
    pub election: Option<&'a ElectionState>,
}

/// What to do with the election counter files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElectionFiles {
    Keep,
    Write(ElectionState),
    Clear,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandbyOutcome {
    pub election: ElectionFiles,
    /// Remove PGSQL.lock: [`Lock::proven_not_ahead`].
    pub remove_lock: bool,
}

/// A standby's monitor (`pgsql_replication_monitor` for rc 0). With a
/// promoted instance: `HS:alone` when the primary said `DISCONNECT`, and the
/// lock release of a rejoined former primary. Without one: the election.
/// `Err` carries the exit reason.
pub fn standby_monitor(plan: &mut Plan, facts: &StandbyFacts) -> Result<StandbyOutcome, String> {
    let me = plan.cfg.me.clone();
    if plan.view.promoted_exists() {
        if plan.current(&me, Attr::DataStatus) == Some(data::DISCONNECT) {
            plan.status(&me, status::HS_ALONE);
        }
        let promoted_here = plan.view.promoted.contains(&me);
        let proven = facts
            .lock
            .proven_not_ahead(facts.streaming, facts.received_tli, facts.replay);
        return Ok(StandbyOutcome {
            election: ElectionFiles::Keep,
            remove_lock: proven && !promoted_here,
        });
    }
    plan.infos.push("Master does not exist.".into());
    plan.status(&me, status::HS_ALONE);
    let election = have_master_right(plan, facts)?;
    Ok(StandbyOutcome {
        election,
        remove_lock: false,
    })
}

/// `have_master_right`: the data-status gate, publishing our position,
/// and one round of the election.
fn have_master_right(plan: &mut Plan, facts: &StandbyFacts) -> Result<ElectionFiles, String> {
    let me = plan.cfg.me.clone();
    let data_status = plan
        .current(&me, Attr::DataStatus)
        .unwrap_or("")
        .to_string();
    if !data_allows_promotion(plan.cfg.rep_mode, Some(&data_status)) {
        plan.warnings
            .push(format!("My data is out-of-date. status={data_status}"));
        return Ok(ElectionFiles::Keep);
    }
    plan.infos.push(format!("My data status={data_status}."));
    let location = facts.location.ok_or("Failed to show my xlog location.")?;
    plan.set(&me, Attr::XlogLoc, &location.lsn.to_hex16());
    if let Some(tli) = location.tli {
        plan.set(&me, Attr::XlogTli, &tli.to_string());
    }
    let mut sample = Sample::new();
    for n in &plan.cfg.node_list {
        if let Some(hex) = plan.current(n, Attr::XlogLoc) {
            let tli = plan.current(n, Attr::XlogTli).map(str::to_string);
            sample.push((n.clone(), hex.to_string(), tli));
        }
    }
    for entry @ (n, hex, tli) in &sample {
        plan.infos.push(format!("{n} xlog location : {hex}"));
        if !readable(entry) {
            plan.warnings.push(format!(
                "{n} publishes an unreadable xlog location ({hex:?}, timeline {tli:?}); \
                 no promotion is claimed until it is readable"
            ));
        }
    }
    Ok(
        match election_step(facts.election, sample, plan.cfg.xlog_check_count, &me) {
            ElectionStep::Counting(st) => ElectionFiles::Write(st),
            ElectionStep::Won => {
                plan.infos.push("I have a master right.".into());
                plan.own_score(PROMOTE_ME);
                ElectionFiles::Clear
            }
            ElectionStep::Lost(st) => {
                plan.data_status(&me, data::DISCONNECT);
                plan.infos.push("I don't have correct master data.".into());
                ElectionFiles::Write(st)
            }
        },
    )
}

/// `have_master_right`'s first gate: data a standby may be promoted with.
/// Sync mode: never written, `STREAMING|SYNC` or `LATEST`; async mode also
/// `STREAMING|ASYNC`.
pub fn data_allows_promotion(rep_mode: RepMode, data_status: Option<&str>) -> bool {
    match data_status {
        None | Some("") | Some(data::STREAMING_SYNC) | Some(data::LATEST) => true,
        Some(data::STREAMING_ASYNC) => rep_mode == RepMode::Async,
        Some(_) => false,
    }
}

/// pre-promote on a node that is not the target (sync mode, 3+ nodes): if
/// the target's baseline is older than ours, the target would lose data.
pub fn newer_than_target(
    cfg: &RepConfig,
    target: &str,
    target_baseline: Option<Location>,
    mine: Option<Location>,
) -> bool {
    if cfg.node_list.len() < 3 || cfg.rep_mode != RepMode::Sync || target == cfg.me {
        return false;
    }
    match (target_baseline, mine) {
        (Some(t), Some(m)) => t.compare(&m) == Ordering::Less,
        _ => false,
    }
}

/// Replication slot names: `<name>_<node>` with the node lower-cased and
/// `.`/`-` mapped to `_`.
pub fn slot_name(base: &str, node: &str) -> String {
    let node: String = node
        .to_lowercase()
        .chars()
        .map(|c| if c == '.' || c == '-' { '_' } else { c })
        .collect();
    format!("{base}_{node}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(mode: RepMode, nodes: &[&str]) -> RepConfig {
        RepConfig {
            rsc: "pgsql".into(),
            me: nodes[0].into(),
            rep_mode: mode,
            node_list: nodes.iter().map(|s| s.to_string()).collect(),
            xlog_check_count: 3,
            sync_preference: None,
        }
    }

    fn view(online: &[&str], offline: &[&str], attrs: &[(&str, &str, &str)]) -> ClusterView {
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

    fn row(app: &str, state: &str, sync: &str) -> ReplicationRow {
        ReplicationRow {
            application_name: app.into(),
            state: state.into(),
            sync_state: sync.into(),
        }
    }

    fn written(plan: &Plan, node: &str, attr: Attr) -> Option<Option<String>> {
        plan.writes
            .iter()
            .rev()
            .find(|w| w.node == node && w.attr == attr)
            .map(|w| w.value.clone())
    }

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
        p.status("pg02", status::HS_SYNC); // another node's STOP: prohibited
        p.status("pg03", status::HS_SYNC); // offline: skipped
        p.status("pg01", status::HS_ALONE); // unchanged: skipped
        p.status("pg01", status::PRI);
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
        p.other_score("pg02", CAN_PROMOTE);
        p.other_score("pg03", CAN_PROMOTE); // no score yet: the probe seeds it
        p.other_score("pg04", CAN_PROMOTE); // offline
        p.own_score(PROMOTE_ME);
        p.own_score(PROMOTE_ME); // own score is always written
        let targets: Vec<&str> = p.writes.iter().map(|w| w.node.as_str()).collect();
        assert_eq!(targets, ["pg02", "pg01", "pg01"]);
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
        p.data_status("pg02", data::DISCONNECT);
        p.data_status("pg03", data::DISCONNECT);
        assert_eq!(p.writes.len(), 1);
        assert_eq!(
            p.writes[0].log.as_deref(),
            Some("Changing pgsql-data-status on pg02 : ->DISCONNECT.")
        );
    }

    fn primary_fixture() -> (RepConfig, ClusterView) {
        let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
        let v = view(
            &["pg01", "pg02", "pg03"],
            &[],
            &[
                ("pg02", "master-pgsql", "-INFINITY"),
                ("pg03", "master-pgsql", "-INFINITY"),
                ("pg02", "pgsql-status", "HS:alone"),
                ("pg03", "pgsql-status", "HS:alone"),
            ],
        );
        (c, v)
    }

    #[test]
    fn the_primary_clears_stale_election_positions() {
        let (c, mut v) = primary_fixture();
        v.attributes
            .entry("pg03".into())
            .or_default()
            .insert("pgsql-xlog-loc".into(), "0000000004023E30".into());
        let mut p = Plan::new(&c, &v);
        primary_self(&mut p);
        assert_eq!(written(&p, "pg03", Attr::XlogLoc), Some(None));
        assert_eq!(
            written(&p, "pg02", Attr::XlogLoc),
            None,
            "nothing to delete"
        );
        assert_eq!(written(&p, "pg01", Attr::Status), Some(Some("PRI".into())));
        assert_eq!(
            written(&p, "pg01", Attr::DataStatus),
            Some(Some("LATEST".into()))
        );
    }

    #[test]
    fn sync_and_potential_standbys() {
        let (c, v) = primary_fixture();
        let mut p = Plan::new(&c, &v);
        let rows = [
            row("pg02", "STREAMING", "SYNC"),
            row("pg03", "STREAMING", "POTENTIAL"),
        ];
        let current = SyncStandbys::First(vec!["pg02".into(), "pg03".into()]);
        assert_eq!(control_standbys(&mut p, &rows, &current), None);
        assert_eq!(
            written(&p, "pg02", Attr::DataStatus),
            Some(Some("STREAMING|SYNC".into()))
        );
        assert_eq!(written(&p, "pg02", Attr::Score), Some(Some("100".into())));
        assert_eq!(
            written(&p, "pg02", Attr::Status),
            Some(Some("HS:sync".into()))
        );
        assert_eq!(
            written(&p, "pg03", Attr::DataStatus),
            Some(Some("STREAMING|POTENTIAL".into()))
        );
        assert_eq!(written(&p, "pg03", Attr::Score), None, "already -INFINITY");
        assert_eq!(
            written(&p, "pg03", Attr::Status),
            Some(Some("HS:potential".into()))
        );
    }

    #[test]
    fn first_streaming_standby_becomes_sync_from_async() {
        let (c, v) = primary_fixture();
        let mut p = Plan::new(&c, &v);
        let rows = [
            row("pg03", "STREAMING", "ASYNC"),
            row("pg02", "STREAMING", "ASYNC"),
        ];
        let wanted = control_standbys(&mut p, &rows, &SyncStandbys::Async).unwrap();
        assert_eq!(
            wanted,
            SyncStandbys::First(vec!["pg02".into(), "pg03".into()])
        );
        assert_eq!(
            written(&p, "pg02", Attr::Status),
            Some(Some("HS:async".into()))
        );
        assert_eq!(
            written(&p, "pg02", Attr::Score),
            None,
            "-INFINITY until it is really SYNC"
        );
    }

    #[test]
    fn the_current_sync_standby_stays_first() {
        let (c, _) = primary_fixture();
        // pg02 died, PostgreSQL made pg03 synchronous: keep it there.
        let rows = [row("pg03", "STREAMING", "SYNC")];
        assert_eq!(
            wanted_sync_standbys(&c, &rows),
            SyncStandbys::First(vec!["pg03".into(), "pg02".into()])
        );
        // pg02 is back: it is potential behind pg03.
        let rows = [
            row("pg03", "STREAMING", "SYNC"),
            row("pg02", "STREAMING", "POTENTIAL"),
        ];
        assert_eq!(
            wanted_sync_standbys(&c, &rows),
            SyncStandbys::First(vec!["pg03".into(), "pg02".into()])
        );
    }

    #[test]
    fn nobody_streaming_means_async_and_disconnect() {
        let (c, v) = primary_fixture();
        let mut p = Plan::new(&c, &v);
        let current = SyncStandbys::First(vec!["pg02".into(), "pg03".into()]);
        let rows = [row("pg02", "CATCHUP", "POTENTIAL")];
        assert_eq!(
            control_standbys(&mut p, &rows, &current),
            Some(SyncStandbys::Async)
        );
        assert_eq!(
            written(&p, "pg02", Attr::DataStatus),
            Some(Some("CATCHUP|POTENTIAL".into()))
        );
        assert_eq!(
            written(&p, "pg02", Attr::Status),
            Some(Some("HS:connected".into()))
        );
        assert_eq!(
            written(&p, "pg03", Attr::DataStatus),
            Some(Some("DISCONNECT".into()))
        );
        assert_eq!(
            written(&p, "pg03", Attr::Status),
            None,
            "DISCONNECT leaves status alone"
        );
    }

    #[test]
    fn async_mode_scores_depend_on_the_node_count() {
        let rows = [row("pg02", "STREAMING", "ASYNC")];
        let two = cfg(RepMode::Async, &["pg01", "pg02"]);
        let v = view(
            &["pg01", "pg02"],
            &[],
            &[("pg02", "master-pgsql", "-INFINITY")],
        );
        let mut p = Plan::new(&two, &v);
        assert_eq!(control_standbys(&mut p, &rows, &SyncStandbys::Async), None);
        assert_eq!(written(&p, "pg02", Attr::Score), Some(Some("100".into())));
        let three = cfg(RepMode::Async, &["pg01", "pg02", "pg03"]);
        let mut p = Plan::new(&three, &v);
        control_standbys(&mut p, &rows, &SyncStandbys::Async);
        assert_eq!(
            written(&p, "pg02", Attr::Score),
            None,
            "stays -INFINITY with 3 nodes"
        );
    }

    #[test]
    fn application_names_match_exactly_ignoring_case() {
        let (c, v) = primary_fixture();
        let mut p = Plan::new(&c, &v);
        // "pg020" must not count as pg02; "PG03" is pg03.
        let rows = [
            row("pg020", "STREAMING", "SYNC"),
            row("PG03", "STREAMING", "SYNC"),
        ];
        control_standbys(&mut p, &rows, &SyncStandbys::Async);
        assert_eq!(
            written(&p, "pg02", Attr::DataStatus),
            Some(Some("DISCONNECT".into()))
        );
        assert_eq!(
            written(&p, "pg03", Attr::DataStatus),
            Some(Some("STREAMING|SYNC".into()))
        );
    }

    #[test]
    fn sync_standby_names_round_trip() {
        for s in [
            SyncStandbys::Async,
            SyncStandbys::First(vec!["pg02".into()]),
            SyncStandbys::First(vec!["pg02".into(), "node\"x".into()]),
        ] {
            assert_eq!(
                SyncStandbys::parse(&s.value()),
                Some(s.clone()),
                "{}",
                s.value()
            );
        }
        assert_eq!(
            SyncStandbys::First(vec!["a".into(), "b".into()]).value(),
            r#"FIRST 1 ("a", "b")"#
        );
        // The stock agent's single name.
        assert_eq!(
            SyncStandbys::parse(r#""node2""#),
            Some(SyncStandbys::First(vec!["node2".into()]))
        );
        assert_eq!(SyncStandbys::parse("FIRST 1 ("), None);
    }

    fn sample(entries: &[(&str, u64, Option<u32>)]) -> Sample {
        entries
            .iter()
            .map(|(n, l, t)| (n.to_string(), Lsn(*l).to_hex16(), t.map(|t| t.to_string())))
            .collect()
    }

    #[test]
    fn election_decides_after_check_count_unchanged_rounds() {
        let s = sample(&[("pg01", 100, None), ("pg02", 90, None)]);
        let mut state: Option<ElectionState> = None;
        let mut rounds = 0;
        loop {
            rounds += 1;
            match election_step(state.as_ref(), s.clone(), 3, "pg01") {
                ElectionStep::Counting(st) => state = Some(st),
                ElectionStep::Won => break,
                ElectionStep::Lost(_) => panic!("pg01 is newest"),
            }
        }
        assert_eq!(
            rounds, 4,
            "the stock agent decides on round xlog_check_count + 1"
        );
        let prev = ElectionState {
            agreeing: 2,
            sample: s.clone(),
        };
        assert!(matches!(
            election_step(Some(&prev), s.clone(), 3, "pg02"),
            ElectionStep::Lost(_)
        ));
    }

    /// A position that cannot be read may be the newest: never decide over
    /// it (the attributes are written by any agent, or by hand).
    #[test]
    fn an_unreadable_peer_position_blocks_the_decision() {
        let valid = sample(&[("pg01", 100, Some(1)), ("pg02", 90, Some(1))]);
        let mut hex = valid.clone();
        hex[1].1 = "ZZZZ-not-hex".into();
        let mut tli = valid.clone();
        tli[1].2 = Some("9x".into());
        let mut short = valid.clone();
        short[1].1 = "5A".into();
        for s in [hex, tli, short] {
            let prev = ElectionState {
                agreeing: 5,
                sample: s.clone(),
            };
            assert_eq!(
                election_step(Some(&prev), s.clone(), 3, "pg01"),
                ElectionStep::Counting(ElectionState {
                    agreeing: 6,
                    sample: s.clone()
                }),
                "{s:?}"
            );
        }
        let prev = ElectionState {
            agreeing: 5,
            sample: valid.clone(),
        };
        assert_eq!(
            election_step(Some(&prev), valid, 3, "pg01"),
            ElectionStep::Won
        );
    }

    #[test]
    fn election_restarts_when_positions_move() {
        let prev = ElectionState {
            agreeing: 2,
            sample: sample(&[("pg01", 100, None)]),
        };
        let step = election_step(Some(&prev), sample(&[("pg01", 101, None)]), 3, "pg01");
        assert!(matches!(
            step,
            ElectionStep::Counting(ElectionState { agreeing: 0, .. })
        ));
    }

    #[test]
    fn election_compares_timelines_first() {
        // pg02 has a lower LSN on a newer timeline: it wins, pg01 loses.
        let s = sample(&[("pg01", 500, Some(1)), ("pg02", 400, Some(2))]);
        let prev = ElectionState {
            agreeing: 2,
            sample: s.clone(),
        };
        assert!(matches!(
            election_step(Some(&prev), s.clone(), 3, "pg01"),
            ElectionStep::Lost(_)
        ));
        assert_eq!(election_step(Some(&prev), s, 3, "pg02"), ElectionStep::Won);
        // Without every timeline, LSN alone decides (a stock agent peer).
        let s = sample(&[("pg01", 500, None), ("pg02", 400, Some(2))]);
        let prev = ElectionState {
            agreeing: 2,
            sample: s.clone(),
        };
        assert_eq!(election_step(Some(&prev), s, 3, "pg01"), ElectionStep::Won);
    }

    #[test]
    fn ties_all_win_and_a_missing_own_position_loses() {
        let s = sample(&[("pg01", 7, None), ("pg02", 7, None)]);
        let prev = ElectionState {
            agreeing: 2,
            sample: s.clone(),
        };
        assert_eq!(
            election_step(Some(&prev), s.clone(), 3, "pg01"),
            ElectionStep::Won
        );
        assert_eq!(
            election_step(Some(&prev), s.clone(), 3, "pg02"),
            ElectionStep::Won
        );
        assert!(matches!(
            election_step(Some(&prev), s, 3, "pg03"),
            ElectionStep::Lost(_)
        ));
    }

    #[test]
    fn data_status_gate() {
        for (mode, ds, ok) in [
            (RepMode::Sync, None, true),
            (RepMode::Sync, Some("LATEST"), true),
            (RepMode::Sync, Some("STREAMING|SYNC"), true),
            (RepMode::Sync, Some("STREAMING|ASYNC"), false),
            (RepMode::Sync, Some("STREAMING|POTENTIAL"), false),
            (RepMode::Sync, Some("DISCONNECT"), false),
            (RepMode::Async, Some("STREAMING|ASYNC"), true),
            (RepMode::Async, Some("DISCONNECT"), false),
            (RepMode::Async, Some("garbage"), false),
        ] {
            assert_eq!(data_allows_promotion(mode, ds), ok, "{mode:?} {ds:?}");
        }
    }

    #[test]
    fn pre_promote_baseline_check() {
        let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
        let at = |l: u64| {
            Some(Location {
                tli: None,
                lsn: Lsn(l),
            })
        };
        assert!(newer_than_target(&c, "pg02", at(10), at(20)));
        assert!(!newer_than_target(&c, "pg02", at(20), at(20)));
        assert!(!newer_than_target(&c, "pg02", None, at(20)));
        assert!(!newer_than_target(&c, "pg02", at(10), None));
        assert!(
            !newer_than_target(&c, "pg01", at(10), at(20)),
            "the target itself"
        );
        let two = cfg(RepMode::Sync, &["pg01", "pg02"]);
        assert!(
            !newer_than_target(&two, "pg02", at(10), at(20)),
            "only with 3+ nodes"
        );
    }

    #[test]
    fn lock_contents() {
        assert_eq!(Lock::parse(None), Lock::Absent);
        assert_eq!(Lock::parse(Some("")), Lock::Held);
        assert_eq!(Lock::parse(Some("garbage")), Lock::Held);
        let text = Lock::clean_demote_text(Lsn(0x40C_9EE0), 4);
        assert_eq!(
            text,
            "clean demote: shutdown checkpoint 0/40C9EE0 on timeline 4\n"
        );
        assert_eq!(
            Lock::parse(Some(&text)),
            Lock::CleanDemote {
                checkpoint: Lsn(0x40C_9EE0),
                tli: 4
            }
        );
        assert_eq!(
            Lock::parse(Some("clean demote: shutdown checkpoint zz on timeline 4")),
            Lock::Held
        );
    }

    #[test]
    fn only_streaming_past_the_checkpoint_on_a_newer_timeline_proves_safety() {
        let lock = Lock::CleanDemote {
            checkpoint: Lsn(100),
            tli: 4,
        };
        assert!(lock.proven_not_ahead(true, Some(5), Some(Lsn(101))));
        assert!(
            !lock.proven_not_ahead(false, Some(5), Some(Lsn(101))),
            "not streaming"
        );
        assert!(
            !lock.proven_not_ahead(true, Some(4), Some(Lsn(101))),
            "same timeline"
        );
        assert!(
            !lock.proven_not_ahead(true, Some(5), Some(Lsn(100))),
            "not past the checkpoint"
        );
        assert!(!lock.proven_not_ahead(true, None, Some(Lsn(101))));
        assert!(
            !Lock::Held.proven_not_ahead(true, Some(9), Some(Lsn(999))),
            "a crashed primary's lock"
        );
        assert!(!Lock::Absent.proven_not_ahead(true, Some(9), Some(Lsn(999))));
    }

    #[test]
    fn a_former_primary_is_preferred_as_sync_until_it_is() {
        let mut c = cfg(RepMode::Sync, &["pg02", "pg01", "pg03"]);
        c.sync_preference = Some("pg01".into());
        // pg03 streams first and is sync; pg01 goes first in the list anyway.
        let rows = [row("pg03", "STREAMING", "SYNC")];
        assert_eq!(
            wanted_sync_standbys(&c, &rows),
            SyncStandbys::First(vec!["pg01".into(), "pg03".into()])
        );
        // A preference for a node outside node_list is ignored.
        c.sync_preference = Some("pg09".into());
        assert_eq!(
            wanted_sync_standbys(&c, &rows),
            SyncStandbys::First(vec!["pg03".into(), "pg01".into()])
        );
    }

    #[test]
    fn slot_names() {
        assert_eq!(slot_name("slot", "PG-01.example"), "slot_pg_01_example");
    }

    mod fuzz {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn fuzz_sync_standbys_arbitrary_text_never_panics(s in ".{0,40}") {
                if let Some(SyncStandbys::First(names)) = SyncStandbys::parse(&s) {
                    prop_assert!(names.iter().all(|n| !n.is_empty()));
                }
            }

            /// parse(value(x)) == x for names without a comma or blanks at
            /// either end (quotes included: they are doubled).
            #[test]
            fn fuzz_sync_standbys_value_parse_round_trip(
                names in prop::collection::vec("[a-zA-Z0-9_.\"()İ-]([a-zA-Z0-9_. \"()-]{0,8}[a-zA-Z0-9_.\"()-])?", 1..5),
            ) {
                let s = SyncStandbys::First(names);
                prop_assert_eq!(SyncStandbys::parse(&s.value()), Some(s));
            }

            #[test]
            fn fuzz_lock_parse(text in prop::option::of(".{0,80}"), lsn: u64, tli: u32) {
                let _ = Lock::parse(text.as_deref());
                prop_assert_eq!(
                    Lock::parse(Some(&Lock::clean_demote_text(Lsn(lsn), tli))),
                    Lock::CleanDemote { checkpoint: Lsn(lsn), tli }
                );
            }
        }
    }
}
