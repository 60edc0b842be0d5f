//! rep_mode=async/sync: a promotable clone with the stock agent's node
//! attributes. Each action gathers its facts once (crm_mon once, one SQL
//! session), asks `core::replication` for its steps, and performs them;
//! where a step waits for something, it feeds back what it saw.

mod monitor;
mod notify;
mod promote;
mod rejoin;
mod slave;
mod start_stop;

pub use monitor::monitor;
pub use notify::notify;
pub use promote::{demote, promote};
pub use slave::slave;
pub use start_stop::{mark_unknown, start, stop};

use monitor::{control_standbys, perform_standby, publish_history, running_primary, standby_facts};
use start_stop::reconcile_slots;

use super::lifecycle::{self, Stopped};
use super::validate::Instance;
use crate::core::decide::{self, Postmaster, SqlProbe};
use crate::core::notify::{Notify, NotifyAction};
use crate::core::replication::{
    self as rep, AfterCrash, AfterElectionRound, Attr, Batch, CrashStep, DeferralNote,
    DemoteShutdown, DemoteStep, DemoteStopFacts, ElectionFiles, Location, Lock, MonitorStep,
    NotifiedPrimary, NotifyStep, OwnPosition, Plan, PromoteDecision, PromoteFacts, PromoteStep,
    RepConfig, RoundStep, RoundWait, RunningPrimary, StandbyFacts, StandbyRounds, StandbyStep,
    StartProtocol, StartStep, Status, StopStep, SyncStandbys,
};
use crate::core::standby_conf::StandbySettings;
use crate::core::timeline::{self, History};
use crate::core::version::RecoveryModel;
use crate::error::{AgentError, Result};
use crate::io::clock::Deadline;
use crate::io::crm::{self, Crm};
use crate::io::pg::{self, Role, ServerState, Session};
use crate::io::postmaster;
use crate::io::statefiles::StateFiles;
use crate::io::waldir;
use crate::ocf::env::{OcfEnv, RawEnv};
use crate::ocf::rc::OcfRc;
use std::collections::BTreeMap;
use std::time::Duration;

/// One invocation's view of the replicated instance.
pub(super) struct Replica<'a> {
    i: &'a Instance,
    rep: RepConfig,
    crm: Crm,
    files: StateFiles<'a>,
}

impl<'a> Replica<'a> {
    fn new(i: &'a Instance, env: &RawEnv) -> Replica<'a> {
        let files = StateFiles {
            tmpdir: &i.cfg.tmpdir,
            pgdata: &i.cfg.pgdata,
            owner: &i.owner,
        };
        let rep = RepConfig::of(
            &i.cfg,
            i.ocf.resource_name.clone(),
            crm::local_node_name(i.ocf.on_node.as_deref(), i.deadline),
            files.former_primary(),
        )
        .for_major(&i.major);
        let crm = Crm::new(
            &rep.rsc,
            &i.ocf.instance,
            &rep.me,
            env,
            i.cfg.crm_attr_timeout,
            i.deadline,
        );
        Replica { i, rep, crm, files }
    }

    /// Apply what a decision decided ([`Plan::take`]): its log lines, then
    /// its attribute writes.
    fn apply(&self, batch: Batch) -> Result<()> {
        for line in &batch.infos {
            crate::info!("{line}");
        }
        for w in &batch.warnings {
            crate::warn!("{w}");
        }
        self.crm.apply_at_once(&batch.writes)
    }

    fn session(&self, role: Role) -> Result<Session> {
        self.session_within(role, Duration::ZERO)
    }

    /// A monitor's session: a server that refuses for now is waited for
    /// ([`decide::refusal_grace`]).
    fn monitor_session(&self) -> Result<Session> {
        let grace = decide::refusal_grace(self.i.deadline.remaining());
        self.session_within(Role::Monitor, grace)
    }

    fn session_within(&self, role: Role, grace: Duration) -> Result<Session> {
        pg::connect_patiently(
            role,
            &self.i.cfg,
            &self.i.owner,
            self.i.passfile.as_deref(),
            self.i.deadline,
            grace,
        )
        .map_err(|e| AgentError::generic(format!("can't connect to PostgreSQL: {}", e.message)))
    }

    fn server_state(&self, s: &mut Session) -> Result<ServerState> {
        s.server_state().map_err(|e| {
            AgentError::generic(format!("can't read the replication state: {}", e.message))
        })
    }

    /// The standby settings, streaming from `following`'s own address
    /// (`replication_hosts`) or from `master_ip` (`None`).
    fn standby_settings(&self, following: Option<&str>) -> StandbySettings<'_> {
        StandbySettings::of(&self.i.cfg, &self.rep.me, following)
    }

    /// Stream from `upstream` from now on (`rep::follow_now`): the
    /// settings rewritten, then a reload, which restarts the WAL receiver
    /// with them (PostgreSQL 13 and later). Only on a server in recovery: a
    /// primary's data directory gets no standby settings. Best effort: a
    /// failure is a warning, and the action goes on; the next monitor tries
    /// again.
    fn follow(&self, upstream: &rep::Upstream) {
        let to = upstream.node().unwrap_or("master_ip");
        let followed = self.session(Role::Monitor).and_then(|mut s| {
            if !self.server_state(&mut s)?.in_recovery {
                crate::info!("PostgreSQL is not in recovery here: it follows nobody.");
                return Ok(());
            }
            let settings = self.standby_settings(upstream.node());
            crate::info!("Streaming from {to} at {} from now on.", settings.host);
            self.files
                .write_standby_config(&settings, None, self.model())?;
            s.reload()
                .map_err(sql_err("Can't reload the configuration"))
        });
        if let Err(e) = followed {
            crate::warn!("not streaming from {to} yet: {e}");
        }
    }

    /// Write the standby configuration, streaming from `following` (see
    /// [`Replica::standby_settings`]); in sync (and quorum) mode commits
    /// start asynchronous ("Set all nodes into async mode.").
    fn prepare_standby(&self, following: Option<&str>) -> Result<()> {
        self.files.ensure_tmpdir()?;
        let sync = self.rep.waits_for_standbys().then_some("");
        if sync.is_some() {
            crate::info!("Set all nodes into async mode.");
            self.files.write_rep_mode_conf("")?;
        }
        self.files
            .write_standby_config(&self.standby_settings(following), sync, self.model())
    }

    fn model(&self) -> RecoveryModel {
        self.i.major.recovery_model()
    }
}

/// The timeline of the newest WAL segment in `pg_wal`: the timeline a
/// standby's WAL is really on. (A diverged standby also holds the history
/// file of the timeline it cannot follow, and its checkpoint timeline lags
/// until its next restartpoint.)
pub(super) fn wal_timeline(r: &Replica) -> Option<u32> {
    let names = waldir::file_names(&r.i.cfg.pgdata)?;
    timeline::newest_segment_timeline(names.iter().map(String::as_str))
}

/// This standby's position for a promotion, once it is settled
/// ([`rep::position_settled`]), read again every 100 ms within `bound`;
/// `None` when it may still move then (or can't be read). The state
/// returned is the one that was settled.
pub(super) fn settled_position(
    r: &Replica,
    s: &mut Session,
    bound: Duration,
) -> Option<(ServerState, Location)> {
    Deadline::after(bound).poll(Duration::from_millis(100), || {
        let state = r.server_state(s).ok()?;
        if !state.in_recovery || !rep::position_settled(&state.replay_facts()) {
            return None;
        }
        let l = Location::of_standby(state.location, state.timeline, wal_timeline(r))?;
        Some((state, l))
    })
}

pub(super) fn sql_err(what: &str) -> impl Fn(pg::SqlError) -> AgentError + '_ {
    move |e| AgentError::generic(format!("{what}: {}", e.message))
}
