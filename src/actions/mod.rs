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
use crate::ocf::log::{exit_reason, exit_reason_explained};
use crate::ocf::rc::OcfRc;
use crate::params;

const USAGE: &str = "usage: pgsql {start|stop|monitor|promote|demote|notify|reload-agent|meta-data|validate-all|status|usage}";

/// Run one action. `action` is argv[1]; every other argument is ignored.
pub fn run(action: Option<&str>, env: &RawEnv) -> OcfRc {
    let Some(action) = action.and_then(|a| a.parse::<Action>().ok()) else {
        exit_reason(&unknown_action(action.unwrap_or("")));
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
            exit_reason_explained(e.reason(), e.detail());
            e.rc()
        }
    }
}

/// The exit reason for an action the agent does not know: the name as
/// given (its start, when a long one would push the list out of the exit
/// reason), and the actions.
fn unknown_action(given: &str) -> String {
    let actions = USAGE.trim_start_matches("usage: ");
    let room = crate::error::EXIT_REASON_MAX - "unknown action ; ".len() - actions.len();
    let shown = crate::config::echo(given, room);
    format!("unknown action {shown}; {actions}")
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

/// What a monitor's exit reason adds to a failed validation while
/// PostgreSQL runs: every validation's exit reason leaves room for it.
pub(crate) const STILL_RUNNING: &str = " (PostgreSQL runs)";

/// The stock agent's answer when validation fails: stop succeeds, monitor
/// and status say "not running", everything else returns the error's code.
/// One strictly safer difference: a monitor that still sees a live
/// postmaster says so (1) instead of claiming it is not running.
fn on_invalid(action: Action, env: &RawEnv, e: AgentError) -> Result<OcfRc> {
    match action {
        Action::Stop => {
            crate::error!(
                "{}; stop reports success as the stock agent does",
                e.explained()
            );
            replication::mark_unknown(env);
            Ok(OcfRc::Success)
        }
        Action::Monitor | Action::Status => {
            if validate::postmaster_alive_anyway(env) {
                Err(e
                    .in_context(
                        |r| format!("{r}{STILL_RUNNING}"),
                        |d| format!("{d} (and PostgreSQL is running)"),
                    )
                    .into_generic())
            } else {
                crate::info!("{}; reporting not running", e.explained());
                Ok(OcfRc::NotRunning)
            }
        }
        _ => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::EXIT_REASON_MAX;

    #[test]
    fn an_unknown_action_is_named_with_the_actions() {
        assert_eq!(
            unknown_action("migrate_from"),
            "unknown action \"migrate_from\"; pgsql {start|stop|monitor|promote|demote|notify|\
             reload-agent|meta-data|validate-all|status|usage}"
        );
        assert_eq!(unknown_action("migrate_from").len(), EXIT_REASON_MAX);
        let long = unknown_action(&"x".repeat(200));
        assert!(long.len() <= EXIT_REASON_MAX, "{long}");
        assert!(
            long.starts_with("unknown action \"xxxxxxxxx\"...; pgsql {start|"),
            "{long}"
        );
        assert!(long.ends_with("|status|usage}"), "{long}");
    }

    /// A monitor's failed validation while PostgreSQL runs keeps the exit
    /// reason (every validation leaves room), and the log says the rest.
    #[test]
    fn a_failed_validation_while_postgresql_runs_fits() {
        let e = AgentError::configured("x".repeat(crate::config::VALIDATION_REASON_MAX))
            .with_detail("the whole story");
        let e = e
            .in_context(
                |r| format!("{r}{STILL_RUNNING}"),
                |d| format!("{d} (and PostgreSQL is running)"),
            )
            .into_generic();
        assert_eq!(e.reason().len(), EXIT_REASON_MAX);
        assert_eq!(e.rc(), OcfRc::ErrGeneric);
        assert_eq!(
            e.detail(),
            Some("the whole story (and PostgreSQL is running)")
        );
    }
}
