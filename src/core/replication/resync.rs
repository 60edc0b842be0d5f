//! `auto_resync`: a rewind that did not finish. PostgreSQL's documentation
//! says it plainly: when `pg_rewind` fails while it runs, the target data
//! directory is likely not in a state that can be recovered (its copies,
//! removals and WAL are half done), and a new base backup is the way back.
//! A second fault makes that likely: the former primary rejoins the new
//! one, and the new one crashes while it is the rewind's source.
//!
//! The protocol spans starts, so the agent keeps a record in `tmpdir`
//! ([`RewindRecord`]). `pg_rewind --dry-run` runs first and changes
//! nothing, so a failure there (a refused connection, missing rights) is
//! refused as before and leaves no record. Only then is the record written
//! and the real `pg_rewind` run; it is removed when that succeeded. A start
//! that finds the record knows a rewind of this node started and did not
//! finish, so its data directory is not trusted and `pg_rewind` is not run
//! again on it: with `auto_resync` a new copy replaces it, without it the
//! start refuses and says why.
//!
//! The new copy never costs the old data before it is complete:
//! `pg_basebackup` writes a scratch directory beside the data directory,
//! the two are exchanged in one rename, and the old data is set aside with
//! a label (one generation: an older copy the agent labelled goes first).
//! The label carries the token of its resynchronisation, which the record
//! carries too: a start that finds the labelled old data outside the data
//! directory knows the exchange happened, and finishes the steps after it
//! without reading the new copy as if it were the old data.
//!
//! Data the rewind was discarding was never acknowledged (a rewind runs
//! only for WAL written past the new primary's fork), and nothing started
//! the node since (a start that succeeds forgets the record), so the copy
//! of the promoted node holds every acknowledged commit the old data held.
//! A copy of the primary is not ahead of it: the start goes on without
//! `PGSQL.lock`.

use crate::error::AgentError;

/// The record in `tmpdir` of a rejoin in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewindRecord {
    /// No rewind of this node is unfinished.
    None,
    /// A `pg_rewind` was started and did not succeed.
    Rewinding,
    /// A resynchronisation with this token was started: the scratch
    /// directory is the agent's, and old data labelled with the token is
    /// this resynchronisation's.
    Resyncing(u64),
}

impl RewindRecord {
    pub fn parse(text: Option<&str>) -> RewindRecord {
        let Some(text) = text.map(str::trim) else {
            return RewindRecord::None;
        };
        match text.strip_prefix("resync ").map(|t| t.parse()) {
            Some(Ok(token)) => RewindRecord::Resyncing(token),
            // Any other text: a rewind was started.
            _ => RewindRecord::Rewinding,
        }
    }

    /// The file's text; `None`: no file.
    pub fn text(self) -> Option<String> {
        match self {
            RewindRecord::None => None,
            RewindRecord::Rewinding => Some("rewind\n".into()),
            RewindRecord::Resyncing(token) => Some(format!("resync {token}\n")),
        }
    }
}

/// A directory beside the data directory (the scratch copy, the old data
/// set aside), as the start found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beside {
    Absent,
    /// Labelled by the agent as old data, with this token.
    Labelled(u64),
    /// Anything else (a half copy, a directory the agent did not make).
    Unlabelled,
}

/// What a start with an unfinished rewind knows.
#[derive(Debug, Clone, Copy)]
pub struct UnfinishedFacts {
    pub found: RewindRecord,
    pub auto_resync: bool,
    /// The data directory is a mount point or a symbolic link: a rename
    /// cannot exchange it.
    pub pgdata_fixed: bool,
    /// `pg_tblspc` is not empty: a copy would write into the tablespaces
    /// the old data still uses.
    pub tablespaces: bool,
    /// The old-data label inside the data directory, if any.
    pub pgdata_label: Option<u64>,
    /// `<pgdata>.resync`.
    pub scratch: Beside,
    /// `<pgdata>.before-resync`.
    pub aside: Beside,
    /// A fresh token for a new resynchronisation.
    pub new_token: u64,
}

/// One step of a resynchronisation, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResyncStep {
    /// The promoted node answers through `master_ip` as a primary on the
    /// timeline it published (`rewind_source_ready`): the copy is of it,
    /// not of a standby or of a node a second failover left behind.
    CheckSource,
    /// A scratch directory an earlier resynchronisation left half done.
    RemoveScratch,
    /// An older copy of old data the agent set aside.
    RemoveAside,
    /// Record that the resynchronisation with this token runs.
    RecordResync(u64),
    /// `pg_basebackup` from the primary into the scratch directory.
    BaseBackup,
    /// The node's own top-level `*.conf` files into the copy.
    CopyOwnConfig,
    /// The old data directory labelled with this token.
    LabelOldData(u64),
    /// The data directory and the scratch copy exchanged in one rename.
    Exchange,
    /// The old data (under the scratch name since the exchange) to the
    /// aside name.
    SetOldDataAside,
    /// A copy of the primary is not ahead of it.
    RemoveLock,
    /// Nothing is unfinished.
    ForgetRecord,
}

/// What a start does about an unfinished rewind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unfinished {
    /// No record: the rejoin decides as usual.
    No,
    /// These steps, then a standby start without the lock.
    Steps(Vec<ResyncStep>),
    /// Keep the data and the lock; the exit reason (and its detail).
    Refuse(AgentError),
}

pub fn unfinished_rewind(f: &UnfinishedFacts) -> Unfinished {
    use ResyncStep::*;
    let token = match f.found {
        RewindRecord::None => return Unfinished::No,
        RewindRecord::Rewinding => None,
        RewindRecord::Resyncing(t) => Some(t),
    };
    let ours = |b: Beside| token.is_some_and(|t| b == Beside::Labelled(t));
    if token.is_some() && f.pgdata_label != token && (ours(f.scratch) || ours(f.aside)) {
        // The exchange happened: the data directory is the new copy.
        let mut steps = Vec::new();
        if ours(f.scratch) {
            match f.aside {
                Beside::Absent => {}
                Beside::Labelled(_) => steps.push(RemoveAside),
                Beside::Unlabelled => {
                    return Unfinished::Refuse(
                        AgentError::generic(format!(
                            "a resync stopped after its exchange; {ASIDE} is not the agent's: \
                             move it away (see log)"
                        ))
                        .with_detail(format!(
                            "a resynchronisation stopped after its exchange, and the directory \
                             for the old data ({ASIDE}) exists and is not the agent's; move it \
                             away (the old data is in {SCRATCH})"
                        )),
                    )
                }
            }
            steps.push(SetOldDataAside);
        }
        steps.extend([RemoveLock, ForgetRecord]);
        return Unfinished::Steps(steps);
    }
    let cause = "a pg_rewind of this node started and did not finish, and PostgreSQL cannot \
                 repair the data directory it leaves";
    if !f.auto_resync {
        return Unfinished::Refuse(
            AgentError::generic(
                "an unfinished pg_rewind: resync it (then remove rewind_unfinished in tmpdir) or \
                 set auto_resync=true",
            )
            .with_detail(format!(
                "{cause}: resynchronise it with a new base backup (then remove the record \
                 rewind_unfinished in tmpdir), or set auto_resync=true"
            )),
        );
    }
    let waits = |why: &str, long: &str| {
        Unfinished::Refuse(
            AgentError::generic(format!(
                "unfinished pg_rewind, auto_resync can't run: {why}"
            ))
            .with_detail(format!("{cause}, and auto_resync can't run: {long}")),
        )
    };
    if f.pgdata_fixed {
        return waits(
            "pgdata is a mount point or symlink: resync it by hand",
            "the data directory is a mount point or a symbolic link, which a rename can't \
             exchange with a new copy; resynchronise it by hand",
        );
    }
    if f.tablespaces {
        return waits(
            "pgdata has tablespaces: resync it by hand",
            "the data directory has tablespaces, which a new copy would overwrite; \
             resynchronise it by hand",
        );
    }
    if f.scratch != Beside::Absent && token.is_none() {
        return waits(
            &format!("{SCRATCH} is not the agent's: move it away"),
            &format!("{SCRATCH} exists and is not the agent's; move it away"),
        );
    }
    if f.aside == Beside::Unlabelled {
        return waits(
            &format!("{ASIDE} is not the agent's: move it away"),
            &format!("{ASIDE} exists and is not the agent's; move it away"),
        );
    }
    let mut steps = vec![CheckSource];
    if f.scratch != Beside::Absent {
        steps.push(RemoveScratch);
    }
    if f.aside != Beside::Absent {
        // Before the copy, so that the disk holds two copies at most.
        steps.push(RemoveAside);
    }
    steps.extend([
        RecordResync(f.new_token),
        BaseBackup,
        CopyOwnConfig,
        LabelOldData(f.new_token),
        Exchange,
        SetOldDataAside,
        RemoveLock,
        ForgetRecord,
    ]);
    Unfinished::Steps(steps)
}

/// The names the reasons use for the directories beside the data
/// directory.
const SCRATCH: &str = "<pgdata>.resync";
const ASIDE: &str = "<pgdata>.before-resync";

#[cfg(test)]
mod tests {
    use super::*;
    use ResyncStep::*;

    fn facts(found: RewindRecord) -> UnfinishedFacts {
        UnfinishedFacts {
            found,
            auto_resync: true,
            pgdata_fixed: false,
            tablespaces: false,
            pgdata_label: None,
            scratch: Beside::Absent,
            aside: Beside::Absent,
            new_token: 9,
        }
    }

    const FULL: [ResyncStep; 9] = [
        CheckSource,
        RecordResync(9),
        BaseBackup,
        CopyOwnConfig,
        LabelOldData(9),
        Exchange,
        SetOldDataAside,
        RemoveLock,
        ForgetRecord,
    ];

    fn steps(f: &UnfinishedFacts) -> Vec<ResyncStep> {
        match unfinished_rewind(f) {
            Unfinished::Steps(s) => s,
            other => panic!("{other:?}"),
        }
    }

    fn refusal(f: &UnfinishedFacts) -> String {
        match unfinished_rewind(f) {
            Unfinished::Refuse(why) => {
                let reason = format!("{}{}", super::super::REFUSED, why.reason());
                assert!(reason.len() <= crate::error::EXIT_REASON_MAX, "{reason}");
                why.explained().to_string()
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_record_round_trips() {
        for r in [
            RewindRecord::None,
            RewindRecord::Rewinding,
            RewindRecord::Resyncing(1733500000123),
        ] {
            assert_eq!(RewindRecord::parse(r.text().as_deref()), r);
        }
        assert_eq!(RewindRecord::parse(Some("")), RewindRecord::Rewinding);
        assert_eq!(
            RewindRecord::parse(Some("resync x")),
            RewindRecord::Rewinding
        );
    }

    #[test]
    fn without_a_record_the_rejoin_decides() {
        assert_eq!(
            unfinished_rewind(&facts(RewindRecord::None)),
            Unfinished::No
        );
    }

    #[test]
    fn an_unfinished_rewind_resynchronises_with_the_option_only() {
        assert_eq!(steps(&facts(RewindRecord::Rewinding)), FULL);
        let off = UnfinishedFacts {
            auto_resync: false,
            ..facts(RewindRecord::Rewinding)
        };
        let why = refusal(&off);
        assert!(
            why.contains("did not finish") && why.ends_with("or set auto_resync=true"),
            "{why}"
        );
    }

    #[test]
    fn leftovers_of_the_agent_go_first_and_others_stop_it() {
        let again = UnfinishedFacts {
            scratch: Beside::Unlabelled,
            aside: Beside::Labelled(3),
            ..facts(RewindRecord::Resyncing(5))
        };
        let mut want = vec![CheckSource, RemoveScratch, RemoveAside];
        want.extend(&FULL[1..]);
        assert_eq!(steps(&again), want);
        for f in [
            // A scratch directory found while the record says a rewind
            // (not a resync) ran was not made by this agent.
            UnfinishedFacts {
                scratch: Beside::Unlabelled,
                ..facts(RewindRecord::Rewinding)
            },
            UnfinishedFacts {
                aside: Beside::Unlabelled,
                ..facts(RewindRecord::Resyncing(5))
            },
            UnfinishedFacts {
                pgdata_fixed: true,
                ..facts(RewindRecord::Rewinding)
            },
            UnfinishedFacts {
                tablespaces: true,
                ..facts(RewindRecord::Rewinding)
            },
        ] {
            let why = refusal(&f);
            assert!(why.contains("auto_resync can't run: "), "{why}");
        }
    }

    /// A start after the exchange finishes the steps after it, whichever
    /// it stopped before, and never reads the new copy as old data.
    #[test]
    fn an_exchange_that_happened_is_finished() {
        let found = RewindRecord::Resyncing(5);
        let after_exchange = UnfinishedFacts {
            scratch: Beside::Labelled(5),
            ..facts(found)
        };
        assert_eq!(
            steps(&after_exchange),
            [SetOldDataAside, RemoveLock, ForgetRecord]
        );
        let older_aside = UnfinishedFacts {
            aside: Beside::Labelled(2),
            ..after_exchange
        };
        assert_eq!(
            steps(&older_aside),
            [RemoveAside, SetOldDataAside, RemoveLock, ForgetRecord]
        );
        let set_aside = UnfinishedFacts {
            aside: Beside::Labelled(5),
            ..facts(found)
        };
        assert_eq!(steps(&set_aside), [RemoveLock, ForgetRecord]);
        // Labelled but not exchanged yet: a new resynchronisation.
        let labelled = UnfinishedFacts {
            pgdata_label: Some(5),
            scratch: Beside::Unlabelled,
            ..facts(found)
        };
        assert_eq!(
            steps(&labelled)[..3],
            [CheckSource, RemoveScratch, RecordResync(9)]
        );
        // An older generation's aside does not mean this one exchanged.
        let older_only = UnfinishedFacts {
            aside: Beside::Labelled(2),
            ..facts(found)
        };
        assert_eq!(
            steps(&older_only)[..3],
            [CheckSource, RemoveAside, RecordResync(9)]
        );
        let foreign = UnfinishedFacts {
            aside: Beside::Unlabelled,
            ..after_exchange
        };
        assert!(refusal(&foreign).contains("after its exchange"));
    }

    /// Over every combination: the old data is exchanged only after the
    /// copy is complete and labelled, nothing unlabelled is removed unless
    /// the record says it is the agent's scratch, and the lock goes only
    /// once the data directory is the new copy.
    #[test]
    fn every_plan_keeps_the_old_data_until_the_copy_is_complete() {
        let besides = [
            Beside::Absent,
            Beside::Labelled(5),
            Beside::Labelled(2),
            Beside::Unlabelled,
        ];
        for found in [
            RewindRecord::None,
            RewindRecord::Rewinding,
            RewindRecord::Resyncing(5),
        ] {
            for pgdata_label in [None, Some(5), Some(2)] {
                for scratch in besides {
                    for aside in besides {
                        for (auto_resync, fixed, tablespaces) in [
                            (true, false, false),
                            (false, false, false),
                            (true, true, false),
                            (true, false, true),
                        ] {
                            let f = UnfinishedFacts {
                                found,
                                auto_resync,
                                pgdata_fixed: fixed,
                                tablespaces,
                                pgdata_label,
                                scratch,
                                aside,
                                new_token: 9,
                            };
                            let Unfinished::Steps(steps) = unfinished_rewind(&f) else {
                                continue;
                            };
                            let at = |s: ResyncStep| steps.iter().position(|x| *x == s);
                            assert_ne!(found, RewindRecord::None);
                            if aside == Beside::Unlabelled {
                                assert!(
                                    at(RemoveAside).is_none() && at(SetOldDataAside).is_none(),
                                    "{f:?}"
                                );
                            }
                            if at(RemoveScratch).is_some() {
                                assert_eq!(found, RewindRecord::Resyncing(5), "{f:?}");
                            }
                            if let Some(x) = at(Exchange) {
                                assert!(auto_resync && !fixed && !tablespaces, "{f:?}");
                                assert!(at(BaseBackup) < Some(x) && at(CopyOwnConfig) < Some(x));
                                assert!(at(LabelOldData(9)) < Some(x));
                                assert!(at(RecordResync(9)) < at(BaseBackup));
                                assert!(at(RemoveAside).map_or(true, |r| Some(r) < at(BaseBackup)));
                                assert!(Some(x) < at(SetOldDataAside));
                                assert_eq!(at(CheckSource), Some(0), "{f:?}");
                            } else {
                                // Finishing: the exchange happened.
                                assert!(matches!(found, RewindRecord::Resyncing(5)), "{f:?}");
                                assert_ne!(pgdata_label, Some(5), "{f:?}");
                                assert!(
                                    scratch == Beside::Labelled(5) || aside == Beside::Labelled(5),
                                    "{f:?}"
                                );
                            }
                            assert!(at(RemoveLock) < at(ForgetRecord));
                            assert!(at(SetOldDataAside).map_or(true, |s| Some(s) < at(RemoveLock)));
                            assert_eq!(steps.last(), Some(&ForgetRecord));
                        }
                    }
                }
            }
        }
    }
}
