//! The operator tool (`rustpgctl`, src/bin/rustpgctl.rs): what the cluster
//! looks like and why a node is or is not promotable. It observes through
//! the agent's own seams (`crm_mon` parsed by `core::crm_mon`, the
//! resource's parameters through `Config`, `PGSQL.lock` through
//! `Lock::parse`, the local server through `io::pg`) and explains through
//! `core::explain`, so it cannot disagree with the agent.

pub mod cli;

use crate::config::Config;
use crate::core::cib;
use crate::core::crm_mon::ClusterView;
use crate::core::explain::{self, Explanation, NodeFacts, Role};
use crate::core::lsn::Lsn;
use crate::core::quote::parse_conninfo;
use crate::core::replication::election::Location;
use crate::core::replication::lock::Lock;
use crate::core::replication::plan::Attr;
use crate::core::standby_conf::StandbySettings;
use crate::core::switchover::{self, TargetLag};
use crate::io::clock::Deadline;
use crate::io::crm::{self, Crm};
use crate::io::pg::{self, ServerState, StandbyReport};
use crate::io::statefiles::StateFiles;
use crate::io::user::OsUser;
use crate::ocf::env::{RawEnv, RESKEY_PREFIX};
use serde::Serialize;
use std::time::Duration;

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
    pub primary_report: Result<(Option<Lsn>, Vec<StandbyReport>), String>,
}

/// The primary's report: locally when this node is the primary, else the
/// way this node's standby reaches it (its `primary_conninfo`, with the
/// database `postgres`), as `pg_rewind` does.
fn read_primary(
    cfg: &Config,
    owner: &OsUser,
    me: &str,
    i_am_primary: bool,
    deadline: Deadline,
) -> Result<(Option<Lsn>, Vec<StandbyReport>), String> {
    let session = if i_am_primary {
        pg::connect(cfg, owner, None, deadline)
    } else {
        let conninfo = StandbySettings::of(cfg, me).rewind_source();
        let pairs = parse_conninfo(&conninfo)
            .ok_or_else(|| format!("primary_conninfo_opt is not valid conninfo: {conninfo}"))?;
        pg::connect_conninfo(&pairs, owner, deadline)
    };
    session
        .and_then(|mut s| s.standby_report())
        .map_err(|e| e.message)
}

/// The resource's `Config`, exactly as the agent would parse it.
fn config_of(p: &cib::Primitive) -> Result<Config, String> {
    let env: RawEnv = p
        .params
        .iter()
        .map(|(k, v)| (format!("{RESKEY_PREFIX}{k}"), v.clone()))
        .collect();
    Config::from_env(&env).map_err(|e| format!("{}'s parameters: {}", p.id, e.reason()))
}

pub fn observe(resource: Option<&str>, raw: &RawEnv) -> Result<Observed, String> {
    let deadline = Deadline::after(Duration::from_secs(30));
    let xml = crm::cib_resources(raw, deadline).map_err(|e| e.reason().to_string())?;
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
    let view = crm.cluster_view().map_err(|e| e.reason().to_string())?;
    let owner = OsUser::lookup(&cfg.pgdba).ok_or_else(|| format!("no user {}", cfg.pgdba))?;
    let files = StateFiles {
        tmpdir: &cfg.tmpdir,
        pgdata: &cfg.pgdata,
        owner: &owner,
    };
    let my_server = pg::connect(&cfg, &owner, None, deadline)
        .and_then(|mut s| s.server_state())
        .map_err(|e| e.message);
    let i_am_primary = my_server.as_ref().is_ok_and(|s| !s.in_recovery);
    let primary_report = read_primary(&cfg, &owner, &me, i_am_primary, deadline);
    Ok(Observed {
        resource: primitive.id,
        clone: primitive.clone_id,
        repuser: cfg.repuser.clone(),
        me,
        view,
        my_lock: files.lock_state(),
        my_server,
        primary_report,
    })
}

impl Observed {
    fn role(&self, node: &str) -> Role {
        if self.view.promoted.iter().any(|n| n == node) {
            Role::Promoted
        } else if self.view.unpromoted.iter().any(|n| n == node) {
            Role::Unpromoted
        } else {
            Role::Stopped
        }
    }

    fn attr(&self, node: &str, a: Attr) -> Option<String> {
        self.view
            .attribute(node, &a.name(&self.resource))
            .map(str::to_string)
    }

    /// The primary's row for this standby.
    fn standby(&self, node: &str) -> Option<&StandbyReport> {
        let (_, rows) = self.primary_report.as_ref().ok()?;
        rows.iter().find(|r| r.row.application_name == node)
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
                        let lsn = self.standby(name).filter(|r| r.visible)?.replay?;
                        Some(Location { tli: None, lsn })
                    }),
                    not_streaming_since: None,
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

/// One node in `status`.
#[derive(Debug, Serialize)]
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
    pub why: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ReplicationReport {
    /// `STATE|SYNC_STATE` as PostgreSQL reports it, in data-status words.
    pub postgres_says: String,
    /// Set when the published data-status says something else (it is
    /// updated at the primary's monitor, so a moment's difference is
    /// normal).
    pub disagreement: Option<String>,
    pub replay_lag_bytes: Option<u64>,
    pub replay_lag_seconds: Option<f64>,
}

#[derive(Debug, Serialize)]
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
                in_recovery: false,
                timeline: None,
                received: None,
                replayed: None,
                current: None,
                wal_receiver: None,
                error: Some(e.clone()),
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
    pub node: String,
    pub nodes: Vec<NodeStatus>,
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
    let nodes = facts
        .iter()
        .map(|f| {
            let e: Explanation = explain::explain(f, &facts);
            let server = (f.name == o.me).then(|| ServerReport::from(&o.my_server));
            let replication = o.standby(&f.name).filter(|r| r.visible).map(|r| {
                let says = r.row.data_status().wire();
                let current = o.primary_report.as_ref().ok().and_then(|(c, _)| *c);
                ReplicationReport {
                    disagreement: (f.data_status.as_deref() != Some(&says)).then(|| {
                        format!(
                            "data-status is {}, PostgreSQL says {says}",
                            f.data_status.as_deref().unwrap_or("unset")
                        )
                    }),
                    postgres_says: says,
                    replay_lag_bytes: current.zip(r.replay).map(|(c, p)| c.0.saturating_sub(p.0)),
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
        node: o.me.clone(),
        nodes,
    }
}

/// `status` for a terminal: one line per node, then this node's server.
pub fn render_status(s: &Status) -> String {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mut out = format!(
        "{}{}: quorum {}, maintenance mode {}\n",
        s.resource,
        s.clone
            .as_deref()
            .map(|c| format!(" (clone {c})"))
            .unwrap_or_default(),
        if s.quorum { "yes" } else { "NO" },
        if s.maintenance { "ON" } else { "off" },
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

/// Why a switchover did not happen: refused by the checks (nothing was
/// changed), or failed on the way (the message says what is left).
#[derive(Debug)]
pub enum SwitchoverError {
    Refused(String),
    Failed(String),
}

/// How a switchover went, for the operator.
#[derive(Debug, Serialize)]
pub struct SwitchoverReport {
    pub from: String,
    pub to: String,
    pub seconds: f64,
}

/// A planned switchover: the checks of `core::switchover`, then a ban of
/// the promoted role on the primary (with a lifetime, so that even a killed
/// tool leaves nothing for long), a bounded wait for the target promoted and
/// the old primary a standby again, and the ban cleared on every path.
pub fn switchover(
    o: &Observed,
    raw: &RawEnv,
    target: Option<&str>,
    max_lag_bytes: u64,
    timeout: Duration,
) -> Result<SwitchoverReport, SwitchoverError> {
    use SwitchoverError::{Failed, Refused};
    let clone = o.clone.as_deref().ok_or_else(|| {
        Refused(format!(
            "{} is not a clone: there is no promoted role to move",
            o.resource
        ))
    })?;
    let lag = |to: &str| {
        let current = o.primary_report.as_ref().ok().and_then(|(c, _)| *c);
        let replay = o.standby(to).filter(|r| r.visible).and_then(|r| r.replay);
        current.zip(replay).map(|(c, r)| c.0.saturating_sub(r.0))
    };
    // The target decides the lag checked, so plan twice: once to learn it.
    let unchecked = TargetLag {
        replay_bytes: Some(0),
        max_bytes: max_lag_bytes,
    };
    let to = switchover::plan(&o.view, &o.resource, target, unchecked)
        .map_err(Refused)?
        .to;
    let plan = switchover::plan(
        &o.view,
        &o.resource,
        Some(&to),
        TargetLag {
            replay_bytes: lag(&to),
            max_bytes: max_lag_bytes,
        },
    )
    .map_err(Refused)?;
    let deadline = Deadline::after(timeout);
    let crm = Crm::new(&o.resource, &o.resource, &o.me, raw, 10, deadline);
    let start = std::time::Instant::now();
    crm.ban_promoted(clone, &plan.from, "PT10M")
        .map_err(|e| Failed(e.reason().to_string()))?;
    let moved = deadline.poll(Duration::from_millis(500), || {
        let v = crm.cluster_view().ok()?;
        (v.promoted == [plan.to.clone()] && v.runs_standby(&plan.from)).then_some(())
    });
    // Its own time: the wait may have used all of the switchover's.
    let clearer = Crm::new(
        &o.resource,
        &o.resource,
        &o.me,
        raw,
        10,
        Deadline::after(Duration::from_secs(30)),
    );
    let cleared = clearer.clear(clone, &plan.from);
    match (moved, cleared) {
        (Some(()), Ok(())) => Ok(SwitchoverReport {
            from: plan.from,
            to: plan.to,
            seconds: start.elapsed().as_secs_f64(),
        }),
        (None, cleared) => Err(Failed(format!(
            "{} was not promoted with {} back as a standby within {} s; {}",
            plan.to,
            plan.from,
            timeout.as_secs(),
            match cleared {
                Ok(()) => "the ban is cleared".to_string(),
                Err(e) => format!("the ban could NOT be cleared: {}", e.reason()),
            }
        ))),
        (Some(()), Err(e)) => Err(Failed(format!(
            "{} is the primary, but the ban on {} could not be cleared: {}; run crm_resource --clear --resource {clone} --node {}",
            plan.to,
            plan.from,
            e.reason(),
            plan.from
        ))),
    }
}
