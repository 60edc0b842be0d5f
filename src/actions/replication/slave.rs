//! rep_mode=slave, as the stock agent defines it: a standalone hot standby
//! that follows `master_ip` (for example a disaster-recovery site fed by
//! another cluster). Not a promotable clone: promote and demote are
//! configuration errors, and it writes no attribute but the WAL receiver's
//! status (`check_wal_receiver`).

use super::*;
use crate::ocf::action::Action;

pub fn slave(action: Action, i: &Instance, env: &RawEnv) -> Result<OcfRc> {
    match action {
        Action::Start => start(i, env),
        Action::Stop => {
            let r = Replica::new(i, env);
            if i.cfg.check_wal_receiver {
                r.crm.set_receiver_status(None);
            }
            lifecycle::stop_server(i, i.cfg.stop_escalate_in_slave).map(|_| OcfRc::Success)
        }
        Action::Monitor => monitor(i, env),
        Action::Status => crate::actions::monitor::status(i),
        Action::Promote | Action::Demote => {
            Err(AgentError::configured("Not in a replication mode."))
        }
        Action::Notify | Action::ReloadAgent => Ok(OcfRc::Success),
        Action::MetaData | Action::Usage | Action::ValidateAll => unreachable!("handled in run"),
    }
}

/// A running server is left as it is (the stock agent's answer); otherwise
/// the standby settings for this major first. Then the plain start.
fn start(i: &Instance, env: &RawEnv) -> Result<OcfRc> {
    if !matches!(postmaster::observe(&i.cfg.pgdata), Postmaster::Alive { .. }) {
        let r = Replica::new(i, env);
        r.files.ensure_tmpdir()?;
        r.files
            .write_standby_config(&r.standby_settings(None), None, r.model())?;
    }
    lifecycle::start(i)
}

/// The plain monitor; with `check_wal_receiver`, the receiver's status too
/// (a monitor that finds the server down reports that alone).
fn monitor(i: &Instance, env: &RawEnv) -> Result<OcfRc> {
    let rc = crate::actions::monitor::monitor(i)?;
    if i.cfg.check_wal_receiver && rc == OcfRc::Success {
        let r = Replica::new(i, env);
        let state = r
            .session(Role::Monitor)
            .and_then(|mut s| r.server_state(&mut s))?;
        let v = rep::receiver_status(state.in_recovery, state.streaming());
        if v == rep::ReceiverStatus::Error {
            crate::warn!("wal receiver process is not running");
        }
        r.crm.set_receiver_status(Some(v));
    }
    Ok(rc)
}
