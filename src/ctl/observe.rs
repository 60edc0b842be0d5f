//! What the tool reads, once per run: the resource and its `Config`,
//! `crm_mon`, this node's lock and server, and the primary's view of its
//! standbys.

use crate::config::Config;
use crate::core::cib;
use crate::core::crm_mon::ClusterView;
use crate::core::explain::{NodeFacts, Role};
use crate::core::lsn::Lsn;
use crate::core::quote::parse_conninfo;
use crate::core::replication::election::{self, Location};
use crate::core::replication::lock::Lock;
use crate::core::replication::plan::{Attr, Plan, RepConfig};
use crate::core::replication::sync::WeakCommit;
use crate::core::replication::Slot;
use crate::core::standby_conf::StandbySettings;
use crate::core::timeline::History;
use crate::io::clock::Deadline;
use crate::io::crm::{self, Crm};
use crate::io::pg::{self, ServerState, Session, StandbyReport};
use crate::io::statefiles::StateFiles;
use crate::io::user::OsUser;
use crate::io::waldir;
use crate::ocf::env::{RawEnv, RESKEY_PREFIX};
use std::time::Duration;

/// The primary's position and its view of every standby, or why it could
/// not be read.
pub type PrimaryReport = Result<(Option<Lsn>, Vec<StandbyReport>), String>;

/// Everything `status` and `explain` read, once.
pub struct Observed {
    pub resource: String,
    pub clone: Option<String>,
    pub repuser: String,
    /// The node the tool runs on.
    pub me: String,
    pub view: ClusterView,
    /// This node's `PGSQL.lock` (other nodes' locks are on their disks).
    pub my_lock: Lock,
    /// This node's server, or why it could not be read.
    pub my_server: Result<ServerState, String>,
    /// The primary's position and its view of every standby, or why it
    /// could not be read.
    pub primary_report: PrimaryReport,
    /// Where the primary's `synchronous_commit` is set below `on` (empty
    /// when the primary could not be read).
    pub weak_commits: Vec<WeakCommit>,
    /// The primary's `synchronous_standby_names` (null when it could not
    /// be read).
    pub sync_standby_names: Option<String>,
    /// The primary's physical replication slots (empty when it could not
    /// be read).
    pub slots: Vec<Slot>,
    /// How this node's standby reaches the primary (through `master_ip`),
    /// as conninfo pairs, or why it cannot.
    pub via_master_ip: Result<Vec<(String, String)>, String>,
    /// The database owner, whom the tool connects as.
    pub owner: OsUser,
    /// With no promoted instance, the nodes whose position the election
    /// waits for.
    pub awaited: Vec<String>,
    /// The DC's controller is idle (no transition in flight); `None`: no
    /// DC, or no answer.
    pub dc_idle: Option<bool>,
    /// This node's timeline and those it descends from (its `pg_wal`
    /// history file), or the promoted node's published history when this
    /// node's server cannot be read.
    pub timelines: Option<History>,
}

/// This node's `primary_conninfo` with the database `postgres`, as
/// `pg_rewind` connects: the way to the primary through `master_ip`.
fn via_master_ip(cfg: &Config, me: &str) -> Result<Vec<(String, String)>, String> {
    let conninfo = StandbySettings::of(cfg, me, None).rewind_source();
    parse_conninfo(&conninfo)
        .ok_or_else(|| format!("primary_conninfo_opt is not valid conninfo: {conninfo}"))
}

/// The primary's report: through this node's own session when this node is
/// the primary, else the way this node's standby reaches it (its
/// `primary_conninfo`, with the database `postgres`), as `pg_rewind` does.
fn read_primary(
    local_primary: Option<&mut Session>,
    owner: &OsUser,
    via_master_ip: &Result<Vec<(String, String)>, String>,
    deadline: Deadline,
) -> PrimarySide {
    let unread = |why: String| PrimarySide {
        report: Err(why),
        weak_commits: Vec::new(),
        sync_standby_names: None,
        slots: Vec::new(),
    };
    let mut remote;
    let session = match local_primary {
        Some(s) => s,
        None => {
            let conninfo = match via_master_ip {
                Ok(c) => c,
                Err(e) => return unread(e.clone()),
            };
            remote = match pg::connect_conninfo(conninfo, owner, deadline) {
                Ok(s) => s,
                Err(e) => return unread(e.message),
            };
            &mut remote
        }
    };
    PrimarySide {
        report: session.standby_report().map_err(|e| e.message),
        weak_commits: session.weak_commit_settings().unwrap_or_default(),
        sync_standby_names: session.setting("synchronous_standby_names").ok(),
        slots: session.slot_report().unwrap_or_default(),
    }
}

/// What [`read_primary`] read through one session.
struct PrimarySide {
    report: PrimaryReport,
    weak_commits: Vec<WeakCommit>,
    sync_standby_names: Option<String>,
    slots: Vec<Slot>,
}

/// The resource's `Config`, exactly as the agent would parse it.
fn config_of(p: &cib::Primitive) -> Result<Config, String> {
    let env: RawEnv = p
        .params
        .iter()
        .map(|(k, v)| (format!("{RESKEY_PREFIX}{k}"), v.clone()))
        .collect();
    Config::from_env(&env).map_err(|e| format!("{}'s parameters: {}", p.id, e.explained()))
}

pub fn observe(resource: Option<&str>, raw: &RawEnv) -> Result<Observed, String> {
    observe_within(resource, raw, Duration::from_secs(30))
}

/// [`observe`], every call it makes within `within`.
pub fn observe_within(
    resource: Option<&str>,
    raw: &RawEnv,
    within: Duration,
) -> Result<Observed, String> {
    let deadline = Deadline::after(within);
    let xml = crm::cib_resources(raw, deadline).map_err(|e| e.explained().to_string())?;
    let primitive = cib::choose(cib::our_primitives(&xml)?, resource)?;
    let cfg = config_of(&primitive)?;
    let me = crm::local_node_name(None, deadline);
    let crm = Crm::new(
        &primitive.id,
        &primitive.id,
        &me,
        raw,
        cfg.crm_attr_timeout,
        deadline,
    );
    let view = crm.cluster_view().map_err(|e| e.explained().to_string())?;
    let owner = OsUser::lookup(&cfg.pgdba).ok_or_else(|| format!("no user {}", cfg.pgdba))?;
    let files = StateFiles {
        tmpdir: &cfg.tmpdir,
        pgdata: &cfg.pgdata,
        owner: &owner,
    };
    let mut local = pg::connect(&cfg, &owner, None, deadline).map_err(|e| e.message);
    let my_server = local
        .as_mut()
        .map_err(|e| e.clone())
        .and_then(|s| s.server_state().map_err(|e| e.message));
    let i_am_primary = my_server.as_ref().is_ok_and(|s| !s.in_recovery);
    let via_master_ip = via_master_ip(&cfg, &me);
    let local_primary = local.as_mut().ok().filter(|_| i_am_primary);
    let primary = read_primary(local_primary, &owner, &via_master_ip, deadline);
    let awaited = awaited(&cfg, &primitive.id, &me, &view);
    let dc_idle = crm.dc_idle(&view);
    let timelines = my_server
        .as_ref()
        .ok()
        .and_then(|s| s.insert_tli.or(s.received_tli).or(s.timeline))
        .and_then(|tli| {
            History::of_primary(tli, waldir::history_file(&cfg.pgdata, tli).as_deref()).ok()
        })
        .or_else(|| {
            let promoted = view.promoted.first()?;
            History::from_wire(&crm.history(promoted)?)
        });
    Ok(Observed {
        resource: primitive.id,
        clone: primitive.clone_id,
        repuser: cfg.repuser.clone(),
        me,
        view,
        my_lock: files.lock_state(),
        my_server,
        primary_report: primary.report,
        weak_commits: primary.weak_commits,
        sync_standby_names: primary.sync_standby_names,
        slots: primary.slots,
        via_master_ip,
        owner,
        awaited,
        dc_idle,
        timelines,
    })
}

/// With no promoted instance, the candidates whose position the election
/// waits for, as the agents compute them; nobody while a promotion is
/// pending (the standbys withhold their positions then).
fn awaited(cfg: &Config, rsc: &str, me: &str, view: &ClusterView) -> Vec<String> {
    let rep = RepConfig::of(cfg, rsc.to_string(), me.to_string(), None);
    let plan = Plan::new(&rep, view);
    if view.promoted_exists() || election::pending_promotion(&plan).is_some() {
        return Vec::new();
    }
    let xlog_loc = Attr::XlogLoc.name(rsc);
    let candidates = election::election_candidates(&plan);
    election::positions_awaited(&candidates, |n| view.attribute(n, &xlog_loc).is_some())
        .into_iter()
        .map(str::to_string)
        .collect()
}

impl Observed {
    pub(super) fn role(&self, node: &str) -> Role {
        if self.view.promoted.iter().any(|n| n == node) {
            Role::Promoted
        } else if self.view.unpromoted.iter().any(|n| n == node) {
            Role::Unpromoted
        } else {
            Role::Stopped
        }
    }

    pub(super) fn attr(&self, node: &str, a: Attr) -> Option<String> {
        self.view
            .attribute(node, &a.name(&self.resource))
            .map(str::to_string)
    }

    /// The primary's row for this standby, when PostgreSQL showed its
    /// details (see `StandbyReport::visible`).
    pub(super) fn standby(&self, node: &str) -> Option<&StandbyReport> {
        let (_, rows) = self.primary_report.as_ref().ok()?;
        rows.iter()
            .find(|r| r.row.application_name == node)
            .filter(|r| r.visible)
    }

    /// How far this standby's replay is behind the primary's current WAL.
    pub(super) fn replay_lag_bytes(&self, node: &str) -> Option<u64> {
        self.behind_primary(self.standby(node)?.replay?)
    }

    /// How far `lsn` is behind the primary's current WAL.
    pub(super) fn behind_primary(&self, lsn: Lsn) -> Option<u64> {
        let current = self.primary_report.as_ref().ok()?.0?;
        Some(current.0.saturating_sub(lsn.0))
    }

    /// What explain needs of every node.
    pub fn facts(&self) -> Vec<NodeFacts> {
        self.view
            .nodes
            .iter()
            .map(|(name, online)| {
                let mine = *name == self.me;
                let server = self.my_server.as_ref().ok().filter(|_| mine);
                NodeFacts {
                    name: name.clone(),
                    online: *online,
                    role: self.role(name),
                    score: self.attr(name, Attr::Score),
                    data_status: self.attr(name, Attr::DataStatus),
                    fail_count: self.view.fail_counts.get(name).copied().unwrap_or(0),
                    lock: mine.then_some(self.my_lock),
                    position: server.and_then(position).or_else(|| {
                        // Another standby: where the primary saw it replay.
                        let lsn = self.standby(name)?.replay?;
                        Some(Location { tli: None, lsn })
                    }),
                    not_streaming_since: None,
                    awaited: self.awaited.contains(name),
                }
            })
            .collect()
    }
}

/// Received WAL on a standby (the newer of received and replayed), the
/// current position on a primary, with the timeline.
fn position(s: &ServerState) -> Option<Location> {
    Some(Location {
        tli: s.received_tli.or(s.timeline),
        lsn: s.location?,
    })
}
