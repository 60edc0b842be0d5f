//! Notification variables. Pacemaker 2.1 sets both the current names
//! (`promoted`, `unpromoted`) and the deprecated ones (`master`, `slave`);
//! we read the current name first and fall back to the legacy one.

use crate::ocf::env::RawEnv;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyType {
    Pre,
    Post,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyOp {
    Start,
    Stop,
    Promote,
    Demote,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    pub kind: NotifyType,
    pub op: NotifyOp,
    /// Lower-cased node names, in Pacemaker's order.
    pub promote: Vec<String>,
    pub demote: Vec<String>,
    /// Nodes whose instance stops (`stop_uname`).
    pub stop: Vec<String>,
    pub promoted: Vec<String>,
    /// `None` when Pacemaker set neither `unpromoted_uname` nor
    /// `slave_uname`: the stock agent then assumes standbys remain.
    pub unpromoted: Option<Vec<String>>,
}

use crate::ocf::env::NOTIFY_PREFIX as PREFIX;

/// The raw value of a notify list, current name first.
fn raw<'a>(env: &'a RawEnv, current: &str, legacy: Option<&str>) -> Option<&'a str> {
    env.get(&format!("{PREFIX}{current}_uname"))
        .or_else(|| legacy.and_then(|l| env.get(&format!("{PREFIX}{l}_uname"))))
        .map(String::as_str)
}

fn names(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_lowercase)
        .collect()
}

impl Notify {
    /// `None` when the type or operation is missing or unknown.
    pub fn from_env(env: &RawEnv) -> Option<Notify> {
        let kind = match env.get(&format!("{PREFIX}type"))?.as_str() {
            "pre" => NotifyType::Pre,
            "post" => NotifyType::Post,
            _ => return None,
        };
        let op = match env.get(&format!("{PREFIX}operation"))?.as_str() {
            "start" => NotifyOp::Start,
            "stop" => NotifyOp::Stop,
            "promote" => NotifyOp::Promote,
            "demote" => NotifyOp::Demote,
            _ => return None,
        };
        Some(Notify {
            kind,
            op,
            promote: names(raw(env, "promote", None)),
            demote: names(raw(env, "demote", None)),
            stop: names(raw(env, "stop", None)),
            promoted: names(raw(env, "promoted", Some("master"))),
            unpromoted: raw(env, "unpromoted", Some("slave")).map(|v| names(Some(v))),
        })
    }

    /// The stock agent takes the first name of a list.
    pub fn first_promote(&self) -> Option<&str> {
        self.promote.first().map(String::as_str)
    }
    pub fn first_demote(&self) -> Option<&str> {
        self.demote.first().map(String::as_str)
    }
    pub fn first_promoted(&self) -> Option<&str> {
        self.promoted.first().map(String::as_str)
    }

    /// The stock lock rule: the unpromoted list is present and empty (Pacemaker
    /// passes a single space).
    pub fn no_unpromoted_left(&self) -> bool {
        self.unpromoted.as_ref().is_some_and(Vec::is_empty)
    }
}

/// What a notification asks of this node (the stock agent's `pgsql_notify`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyAction {
    /// pre-promote: compare our baseline with the target's.
    CheckTargetBaseline {
        target: String,
    },
    /// post-promote: delete our xlog-loc, and our baseline unless we are the
    /// promoted node; a standby follows the promoted node.
    ForgetElection {
        keep_baseline: bool,
        promoted: Option<String>,
    },
    /// post-demote on a standby that stays: record our baseline, `HS:alone`.
    RecordBaseline,
    /// post-start/post-stop on the primary: look at the standbys now.
    ControlStandbys,
    /// post-stop on a standby that stays (the primary's instance may be the
    /// one that stopped): if no instance is promoted and nobody may be,
    /// run the election now instead of at the next monitor.
    Elect,
    Nothing,
}

impl Notify {
    pub fn action(&self, me: &str) -> NotifyAction {
        match (self.kind, self.op) {
            (NotifyType::Pre, NotifyOp::Promote) => match self.first_promote() {
                Some(target) => NotifyAction::CheckTargetBaseline {
                    target: target.to_string(),
                },
                None => NotifyAction::Nothing,
            },
            (NotifyType::Post, NotifyOp::Promote) => NotifyAction::ForgetElection {
                keep_baseline: self.first_promote() == Some(me),
                promoted: self.first_promote().map(str::to_string),
            },
            (NotifyType::Post, NotifyOp::Demote) => {
                if self.first_demote() == Some(me) || self.promoted.iter().any(|p| p == me) {
                    NotifyAction::Nothing
                } else {
                    NotifyAction::RecordBaseline
                }
            }
            (NotifyType::Post, NotifyOp::Start | NotifyOp::Stop)
                if self.first_promoted() == Some(me) =>
            {
                NotifyAction::ControlStandbys
            }
            (NotifyType::Post, NotifyOp::Stop) if !self.stop.iter().any(|n| n == me) => {
                NotifyAction::Elect
            }
            _ => NotifyAction::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocf::env::env_of;

    #[test]
    fn current_names_win_over_legacy_ones() {
        let n = Notify::from_env(&env_of(&[
            ("OCF_RESKEY_CRM_meta_notify_type", "post"),
            ("OCF_RESKEY_CRM_meta_notify_operation", "promote"),
            ("OCF_RESKEY_CRM_meta_notify_promote_uname", "PG02 "),
            ("OCF_RESKEY_CRM_meta_notify_promoted_uname", "pg02"),
            ("OCF_RESKEY_CRM_meta_notify_master_uname", "pg01"),
            ("OCF_RESKEY_CRM_meta_notify_slave_uname", "pg01 pg03"),
        ]))
        .unwrap();
        assert_eq!((n.kind, n.op), (NotifyType::Post, NotifyOp::Promote));
        assert_eq!(n.first_promote(), Some("pg02"));
        assert_eq!(n.first_promoted(), Some("pg02"));
        assert_eq!(
            n.unpromoted,
            Some(vec!["pg01".to_string(), "pg03".to_string()])
        );
    }

    #[test]
    fn legacy_names_alone_are_enough() {
        let n = Notify::from_env(&env_of(&[
            ("OCF_RESKEY_CRM_meta_notify_type", "pre"),
            ("OCF_RESKEY_CRM_meta_notify_operation", "demote"),
            ("OCF_RESKEY_CRM_meta_notify_demote_uname", "pg01"),
            ("OCF_RESKEY_CRM_meta_notify_master_uname", "pg01"),
            ("OCF_RESKEY_CRM_meta_notify_slave_uname", " "),
        ]))
        .unwrap();
        assert_eq!(n.first_demote(), Some("pg01"));
        assert_eq!(n.first_promoted(), Some("pg01"));
        assert!(n.no_unpromoted_left());
    }

    #[test]
    fn missing_unpromoted_list_means_standbys_may_remain() {
        let n = Notify::from_env(&env_of(&[
            ("OCF_RESKEY_CRM_meta_notify_type", "post"),
            ("OCF_RESKEY_CRM_meta_notify_operation", "stop"),
        ]))
        .unwrap();
        assert_eq!(n.unpromoted, None);
        assert!(!n.no_unpromoted_left());
        assert_eq!(n.first_promoted(), None);
    }

    #[test]
    fn broken_variables_are_no_notification() {
        for (t, o) in [
            ("pre", "migrate"),
            ("during", "start"),
            ("", ""),
            ("post", ""),
        ] {
            let env = env_of(&[
                ("OCF_RESKEY_CRM_meta_notify_type", t),
                ("OCF_RESKEY_CRM_meta_notify_operation", o),
            ]);
            assert_eq!(Notify::from_env(&env), None, "{t} {o}");
        }
        assert_eq!(Notify::from_env(&RawEnv::new()), None);
    }

    mod fuzz {
        use super::super::*;
        use proptest::prelude::*;

        fn list() -> impl Strategy<Value = String> {
            prop_oneof![
                Just(" ".to_string()),
                Just(String::new()),
                "( ?[A-Za-z0-9İ'\"$;]{1,5}){0,4}[ \t\n]?",
                ".{0,20}",
            ]
        }

        proptest! {
            /// Arbitrary notify variables never panic; names come out
            /// lower-cased, non-empty and without blanks.
            #[test]
            fn fuzz_notify_from_env(
                kind in prop_oneof![Just("pre".to_string()), Just("post".to_string()), ".{0,5}"],
                op in prop_oneof![
                    Just("start".to_string()), Just("stop".to_string()),
                    Just("promote".to_string()), Just("demote".to_string()), ".{0,8}",
                ],
                lists in prop::collection::btree_map(
                    prop::sample::select(vec![
                        "promote", "demote", "promoted", "master",
                        "unpromoted", "slave", "start", "stop", "active", "all",
                    ]),
                    list(),
                    0..10,
                ),
                me in "[a-z0-9]{0,4}",
            ) {
                let mut env = RawEnv::new();
                env.insert(format!("{PREFIX}type"), kind);
                env.insert(format!("{PREFIX}operation"), op);
                for (k, v) in &lists {
                    env.insert(format!("{PREFIX}{k}_uname"), v.clone());
                }
                let Some(n) = Notify::from_env(&env) else { return Ok(()) };
                let all = n.promote.iter().chain(&n.demote).chain(&n.promoted)
                    .chain(n.unpromoted.iter().flatten());
                for name in all {
                    prop_assert!(!name.is_empty() && !name.contains(char::is_whitespace), "{name:?}");
                    prop_assert_eq!(name, &name.to_lowercase());
                }
                let _ = n.action(&me);
                let _ = n.no_unpromoted_left();
            }
        }
    }
}
