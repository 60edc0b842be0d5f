//! Orchestration per action: validate, observe through the seams, decide
//! with the pure core, apply. `run` is the whole agent.

mod lifecycle;
mod monitor;
mod replication;
pub mod validate;

use crate::config::RepMode;
use crate::error::{AgentError, Result};
use crate::ocf::action::Action;
use crate::ocf::env::RawEnv;
use crate::ocf::log::exit_reason;
use crate::ocf::rc::OcfRc;
use crate::params;

const USAGE: &str = "usage: pgsql {start|stop|monitor|promote|demote|notify|reload-agent|meta-data|validate-all|status|usage}";

/// Run one action. `action` is argv[1]; every other argument is ignored.
pub fn run(action: Option<&str>, env: &RawEnv) -> OcfRc {
    let Some(action) = action.and_then(|a| a.parse::<Action>().ok()) else {
        exit_reason(&format!(
            "unknown action {:?}; {USAGE}",
            action.unwrap_or("")
        ));
        return OcfRc::ErrUnimplemented;
    };
    match action {
        // Neither depends on the environment, privileges or configuration.
        Action::MetaData => {
            print!("{}", params::metadata_xml());
            return OcfRc::Success;
        }
        Action::Usage => {
            println!("{USAGE}");
            return OcfRc::Success;
        }
        _ => {}
    }
    match dispatch(action, env) {
        Ok(rc) => rc,
        Err(e) => {
            exit_reason(e.reason());
            e.rc()
        }
    }
}

fn dispatch(action: Action, env: &RawEnv) -> Result<OcfRc> {
    if action == Action::ValidateAll {
        return validate::validate_all(env).map(|_| OcfRc::Success);
    }
    let instance = match validate::instance(action, env) {
        Ok(i) => i,
        Err(e) => return on_invalid(action, env, e),
    };
    match instance.cfg.rep_mode {
        RepMode::None => {}
        RepMode::Async | RepMode::Sync | RepMode::Quorum => {
            return replicated(action, &instance, env)
        }
        RepMode::Slave => return replication::slave(action, &instance, env),
    }
    match action {
        Action::Start => lifecycle::start(&instance),
        Action::Stop => lifecycle::stop(&instance),
        Action::Monitor => monitor::monitor(&instance),
        Action::Status => monitor::status(&instance),
        Action::Promote | Action::Demote => {
            Err(AgentError::configured("Not in a replication mode."))
        }
        // rep_mode=none: notifications carry nothing for us.
        Action::Notify => Ok(OcfRc::Success),
        // Parameters are read afresh by every action: nothing to reload.
        Action::ReloadAgent => Ok(OcfRc::Success),
        Action::MetaData | Action::Usage | Action::ValidateAll => unreachable!("handled above"),
    }
}

/// rep_mode=async/sync.
fn replicated(action: Action, i: &validate::Instance, env: &RawEnv) -> Result<OcfRc> {
    match action {
        Action::Start => replication::start(i, env),
        Action::Stop => replication::stop(i, env),
        Action::Monitor => replication::monitor(i, env),
        Action::Status => monitor::status(i),
        Action::Promote => replication::promote(i, env),
        Action::Demote => replication::demote(i, env),
        Action::Notify => replication::notify(i, env),
        Action::ReloadAgent => Ok(OcfRc::Success),
        Action::MetaData | Action::Usage | Action::ValidateAll => unreachable!("handled in run"),
    }
}

/// The stock agent's answer when validation fails: stop succeeds, monitor
/// and status say "not running", everything else returns the error's code.
/// One strictly safer difference: a monitor that still sees a live
/// postmaster says so (1) instead of claiming it is not running.
fn on_invalid(action: Action, env: &RawEnv, e: AgentError) -> Result<OcfRc> {
    match action {
        Action::Stop => {
            crate::error!(
                "{}; stop reports success as the stock agent does",
                e.reason()
            );
            replication::mark_unknown(env);
            Ok(OcfRc::Success)
        }
        Action::Monitor | Action::Status => {
            if validate::postmaster_alive_anyway(env) {
                Err(AgentError::generic(format!(
                    "{} (and PostgreSQL is running)",
                    e.reason()
                )))
            } else {
                crate::info!("{}; reporting not running", e.reason());
                Ok(OcfRc::NotRunning)
            }
        }
        _ => Err(e),
    }
}
