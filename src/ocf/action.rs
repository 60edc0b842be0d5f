//! The actions Pacemaker can ask for: argv[1], nothing else.

use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    Monitor,
    /// Legacy alias kept by the stock agent: a pid-file check only.
    Status,
    Promote,
    Demote,
    Notify,
    MetaData,
    ValidateAll,
    ReloadAgent,
    /// `usage` / `help`: print the list of actions.
    Usage,
}

impl Action {
    pub const ALL: [Action; 11] = [
        Action::Start,
        Action::Stop,
        Action::Monitor,
        Action::Status,
        Action::Promote,
        Action::Demote,
        Action::Notify,
        Action::MetaData,
        Action::ValidateAll,
        Action::ReloadAgent,
        Action::Usage,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Monitor => "monitor",
            Action::Status => "status",
            Action::Promote => "promote",
            Action::Demote => "demote",
            Action::Notify => "notify",
            Action::MetaData => "meta-data",
            Action::ValidateAll => "validate-all",
            Action::ReloadAgent => "reload-agent",
            Action::Usage => "usage",
        }
    }
}

impl FromStr for Action {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        if s == "help" {
            return Ok(Action::Usage);
        }
        Action::ALL.into_iter().find(|a| a.name() == s).ok_or(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_round_trips_through_its_name() {
        for a in Action::ALL {
            assert_eq!(a.name().parse::<Action>(), Ok(a));
        }
        assert_eq!("help".parse::<Action>(), Ok(Action::Usage));
    }

    #[test]
    fn unknown_and_prefixed_names_are_rejected() {
        for bad in ["", "startfoo", "Start", "methods", "reload", " start"] {
            assert!(bad.parse::<Action>().is_err(), "{bad:?}");
        }
    }
}
