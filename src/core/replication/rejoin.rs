//! `auto_rewind`: a former primary, or a diverged standby, rejoins by
//! itself. At `start`, when its lock is a crash lock (it was the primary
//! when it stopped) or it says `DIVERGED`, and a promoted instance runs
//! elsewhere, the agent makes its data consistent (crash recovery), and
//! decides here from its pg_control and the promoted node's published
//! timeline history:
//! - with its last checkpoint before the point where its timeline ended in
//!   that history, it can follow the primary as it is;
//! - past it, the WAL after the fork was never acknowledged (the new
//!   primary held every acknowledged commit when it was promoted), so
//!   `pg_rewind` discards it;
//! - anything a fork cannot explain is refused, and the lock and the data
//!   stay.
//!
//! Either way it starts as a standby with a lock that says where streaming
//! proves it is not ahead ([`Lock::CleanDemote`]), removed once it does.

use super::lock::Lock;
use super::plan::DataStatus;
use crate::core::controldata::ControlFile;
use crate::core::lsn::Lsn;
use crate::core::timeline::History;
use crate::error::AgentError;

/// Whether this start rejoins at all: only with `auto_rewind`, only when a
/// promoted instance runs elsewhere to rejoin, and only for a node the
/// start would otherwise refuse or leave diverged.
pub fn should_rejoin(
    auto_rewind: bool,
    lock: Lock,
    my_data_status: Option<DataStatus>,
    promoted_elsewhere: bool,
) -> bool {
    auto_rewind
        && promoted_elsewhere
        && (lock == Lock::Held || my_data_status == Some(DataStatus::Diverged))
}

/// Whether a primary asks for an immediate checkpoint so that it can be
/// the source of a rewind: its pg_control still names an older timeline
/// than the one it writes WAL on (PostgreSQL's first checkpoint after a
/// promotion is a spread one, minutes long). pg_rewind reads the source's
/// timeline from there, and a node rewound from it before then cannot
/// start ("requested timeline N does not contain minimum recovery point").
pub fn checkpoint_for_rewinds(
    auto_rewind: bool,
    checkpoint_tli: u32,
    insert_tli: Option<u32>,
) -> bool {
    auto_rewind && insert_tli.is_some_and(|t| checkpoint_tli < t)
}

/// What the exit reason of a refused rejoin begins with; the refusals
/// here ([`Rejoin::Refuse`], [`rewind_source_ready`], and
/// [`super::Unfinished::Refuse`] for `auto_resync`) leave room for it.
pub const REFUSED: &str = "auto_rewind refused: ";

/// What the rejoin does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejoin {
    /// PostgreSQL can follow the primary as the data is: start as a
    /// standby behind this lock.
    Follow { lock: Lock },
    /// `pg_rewind` from the primary discards the WAL from `fork` to `end`
    /// (when known) on timeline `tli`; then start as a standby behind this
    /// lock.
    Rewind {
        fork: Lsn,
        end: Option<Lsn>,
        tli: u32,
        lock: Lock,
    },
    /// Keep the lock and the data; the exit reason (and its detail).
    Refuse(AgentError),
}

/// What the start read for the rejoin.
#[derive(Debug, Clone, Copy)]
pub struct RejoinFacts<'a> {
    /// pg_control after crash recovery. For a former primary its
    /// checkpoint is the shutdown checkpoint at the end of its WAL; a
    /// standby's lags (its last restartpoint).
    pub control: &'a ControlFile,
    /// This node's own verdict (`DIVERGED`, made from its live position).
    pub diverged: bool,
    /// The timeline of its newest WAL segment (a diverged standby's WAL is
    /// on it; its pg_control may say an older one).
    pub wal_tli: Option<u32>,
    pub primary: &'a str,
    /// What `primary` published as `<rsc>-history`.
    pub published: Option<&'a str>,
}

/// Whether `pg_rewind` may read the promoted node now: it takes the
/// source's timeline from its control file, which a promotion updates only
/// at its first checkpoint on the new timeline. Read before that, pg_rewind
/// rewinds to the old timeline's history and records a recovery point on
/// it past the new timeline's fork: PostgreSQL then refuses every start
/// ("requested timeline N is not a child of this server's history"), and
/// only a resynchronisation helps. `published_tli`: the timeline the
/// promoted node published; `in_recovery`, `checkpoint_tli`: what it
/// answers. Not ready, the start fails and Pacemaker retries it (the new
/// primary's first pass asks for a checkpoint).
pub fn rewind_source_ready(
    primary: &str,
    published_tli: u32,
    in_recovery: bool,
    checkpoint_tli: u32,
) -> Result<(), AgentError> {
    if in_recovery {
        return Err(AgentError::generic(format!(
            "{primary} is still in recovery: its promotion is not over"
        )));
    }
    if checkpoint_tli < published_tli {
        return Err(AgentError::generic(format!(
            "{primary} has no checkpoint on its timeline {published_tli} yet; a later start rewinds"
        ))
        .with_detail(format!(
            "{primary} has no checkpoint on its timeline {published_tli} yet (its control file \
             says {checkpoint_tli}), which pg_rewind would take for its timeline; a later start \
             rewinds"
        )));
    }
    Ok(())
}

pub fn rejoin_plan(facts: &RejoinFacts) -> Rejoin {
    let RejoinFacts {
        control,
        diverged,
        wal_tli,
        primary,
        published,
    } = *facts;
    let refuse = |reason: String, detail: String| {
        Rejoin::Refuse(AgentError::generic(reason).with_detail(detail))
    };
    if !control.cleanly_shut_down() {
        let state = control.state.words();
        return refuse(
            format!("the data directory is inconsistent after crash recovery ({state})"),
            format!(
                "the data directory is not consistent after crash recovery (cluster state: \
                 {state})"
            ),
        );
    }
    let Some(history) = published.and_then(History::from_wire) else {
        return refuse(
            format!("{primary} published no readable timeline history; can't tell if this node diverged"),
            format!(
                "{primary} published no readable timeline history: can't tell whether this \
                 node diverged from it"
            ),
        );
    };
    let no_hints = !control.wal_log_hints && !control.data_checksums;
    let hints_refusal = || {
        refuse(
            "past the fork without wal_log_hints or data checksums, which pg_rewind needs: \
             resync it"
                .into(),
            "this node went past the fork, and pg_rewind needs wal_log_hints = on or data \
             checksums, which it has neither of: resynchronise it with a new base backup"
                .into(),
        )
    };
    if diverged {
        // Its monitor saw its WAL past the fork: rewind from there.
        let tli = wal_tli.unwrap_or(control.timeline);
        let Some((fork, _)) = history.end_of(tli) else {
            return refuse(
                format!("this diverged node's timeline {tli} is not in {primary}'s history"),
                format!(
                    "this diverged node's timeline {tli} is not in {primary}'s history {}",
                    history.to_wire()
                ),
            );
        };
        if no_hints {
            return hints_refusal();
        }
        return Rejoin::Rewind {
            fork,
            end: None,
            tli,
            lock: Lock::CleanDemote {
                checkpoint: fork,
                tli,
            },
        };
    }
    let (tli, end) = (control.timeline, control.checkpoint);
    let behind_proof = Lock::CleanDemote {
        checkpoint: end,
        tli,
    };
    if tli > history.tli {
        let why = format!(
            "this node is on timeline {tli}, newer than {primary}'s timeline {}: a rewind \
             cannot explain that",
            history.tli
        );
        return refuse(why.clone(), why);
    }
    if tli == history.tli {
        // The primary's own timeline: streaming proves the rest.
        return Rejoin::Follow { lock: behind_proof };
    }
    if history.end_of(tli).is_none() {
        return refuse(
            format!("timeline {tli} of this node is not in {primary}'s history: no rewind explains that"),
            format!(
                "timeline {tli} of this node is not in {primary}'s history {}: a rewind cannot \
                 explain that",
                history.to_wire()
            ),
        );
    }
    match checkpoint_past_fork(&history, tli, end) {
        None => Rejoin::Follow { lock: behind_proof },
        Some(_) if no_hints => hints_refusal(),
        Some(fork) => Rejoin::Rewind {
            fork,
            end: Some(end),
            tli,
            lock: Lock::CleanDemote {
                checkpoint: fork,
                tli,
            },
        },
    }
}

/// The fork, when a checkpoint at `checkpoint` on `tli` is past the point
/// where `tli` ended in the history. pg_control names where the checkpoint
/// record begins, so one that begins at the fork is past it already:
/// PostgreSQL follows a newer timeline only from a checkpoint before the
/// fork. (A former primary whose WAL ended exactly at the fork gets such a
/// checkpoint from its own crash recovery.)
fn checkpoint_past_fork(history: &History, tli: u32, checkpoint: Lsn) -> Option<Lsn> {
    let (fork, _) = history.end_of(tli)?;
    (checkpoint >= fork).then_some(fork)
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use crate::core::lsn::Lsn;

    // --- auto_rewind -----------------------------------------------------------------

    /// A refusal's exit reason fits after [`REFUSED`], with the worst-case
    /// values of a real cluster ([`crate::core::decision_table::widened`]);
    /// the log's text.
    fn fits(why: &crate::error::AgentError) -> String {
        let wide = crate::core::decision_table::widened(&format!("{REFUSED}{}", why.reason()));
        assert!(
            wide.len() <= crate::error::EXIT_REASON_MAX,
            "{} bytes: {wide}",
            wide.len()
        );
        why.explained().to_string()
    }

    fn control(tli: u32, checkpoint: u64, hints: bool) -> crate::core::controldata::ControlFile {
        crate::core::controldata::ControlFile {
            version: 1300,
            state: crate::core::controldata::DbState::ShutDown,
            checkpoint: Lsn(checkpoint),
            timeline: tli,
            wal_log_hints: hints,
            data_checksums: false,
        }
    }

    #[test]
    fn who_rejoins_at_start() {
        let diverged = Some(DataStatus::Diverged);
        assert!(should_rejoin(true, Lock::Held, None, true));
        assert!(should_rejoin(true, Lock::Absent, diverged, true));
        assert!(!should_rejoin(false, Lock::Held, None, true), "opt-in");
        assert!(
            !should_rejoin(true, Lock::Held, None, false),
            "nothing to rejoin"
        );
        assert!(
            !should_rejoin(true, Lock::Absent, None, true),
            "an ordinary standby"
        );
        let clean = Lock::CleanDemote {
            checkpoint: Lsn(1),
            tli: 1,
        };
        assert!(
            !should_rejoin(true, clean, None, true),
            "a clean demote proves itself"
        );
    }

    fn plan_for(
        control: &crate::core::controldata::ControlFile,
        primary: &str,
        published: Option<&str>,
    ) -> Rejoin {
        rejoin_plan(&RejoinFacts {
            control,
            diverged: false,
            wal_tli: None,
            primary,
            published,
        })
    }

    /// The primary's history: timeline 2 ended at 0/5000000, timeline 3 runs.
    const PRIMARY: &str = "3:1@0/3000000 2@0/5000000";

    #[test]
    fn a_node_past_the_fork_is_rewound_and_one_before_it_follows() {
        let fork = Lsn(0x500_0000);
        assert_eq!(
            plan_for(&control(2, 0x500_0100, true), "pg02", Some(PRIMARY)),
            Rejoin::Rewind {
                fork,
                end: Some(Lsn(0x500_0100)),
                tli: 2,
                lock: Lock::CleanDemote {
                    checkpoint: fork,
                    tli: 2
                },
            }
        );
        assert_eq!(
            plan_for(&control(2, 0x400_0000, false), "pg02", Some(PRIMARY)),
            Rejoin::Follow {
                lock: Lock::CleanDemote {
                    checkpoint: Lsn(0x400_0000),
                    tli: 2
                }
            },
            "behind the fork: no rewind, no hints needed"
        );
        assert!(matches!(
            plan_for(&control(3, 0x600_0000, false), "pg02", Some(PRIMARY)),
            Rejoin::Follow { .. }
        ));
    }

    /// A former primary whose WAL ended exactly at the fork: its crash recovery
    /// wrote a shutdown checkpoint whose record begins at the fork, which the
    /// new timeline does not hold. PostgreSQL refuses to follow from it
    /// ("requested timeline 3 is not a child of this server's history"), so it
    /// is rewound (found in the lab: a partitioned primary, fenced).
    #[test]
    fn a_checkpoint_that_begins_at_the_fork_is_past_it() {
        let fork = Lsn(0x500_0000);
        assert_eq!(
            plan_for(&control(2, 0x500_0000, true), "pg02", Some(PRIMARY)),
            Rejoin::Rewind {
                fork,
                end: Some(fork),
                tli: 2,
                lock: Lock::CleanDemote {
                    checkpoint: fork,
                    tli: 2
                },
            }
        );
        assert!(matches!(
            plan_for(&control(2, 0x4FF_FFD8, false), "pg02", Some(PRIMARY)),
            Rejoin::Follow { .. }
        ));
    }

    #[test]
    fn what_a_rewind_cannot_explain_is_refused() {
        let refused = |c, published| match plan_for(&c, "pg02", published) {
            Rejoin::Refuse(why) => fits(&why),
            other => panic!("{other:?}"),
        };
        assert!(refused(control(2, 0x500_0100, false), Some(PRIMARY))
            .contains("needs wal_log_hints = on or data checksums"));
        assert!(refused(control(4, 0x100, true), Some(PRIMARY))
            .contains("newer than pg02's timeline 3"));
        assert!(refused(control(2, 0x100, true), Some("3:1@0/3000000"))
            .contains("timeline 2 of this node is not in pg02's history"));
        assert!(refused(control(2, 0x100, true), None)
            .contains("published no readable timeline history"));
        assert!(refused(control(2, 0x100, true), Some("garbage")).contains("no readable"));
        let mut crashed = control(2, 0x100, true);
        crashed.state = crate::core::controldata::DbState::InProduction;
        assert!(refused(crashed, Some(PRIMARY)).contains("not consistent after crash recovery"));
    }

    /// A diverged standby's pg_control lags (its last restartpoint); its own
    /// verdict and the timeline of its WAL decide.
    #[test]
    fn a_diverged_standby_is_rewound_from_the_end_of_its_timeline() {
        let c = control(2, 0x400_0000, true);
        let facts = RejoinFacts {
            control: &c,
            diverged: true,
            wal_tli: Some(2),
            primary: "pg02",
            published: Some(PRIMARY),
        };
        let fork = Lsn(0x500_0000);
        assert_eq!(
            rejoin_plan(&facts),
            Rejoin::Rewind {
                fork,
                end: None,
                tli: 2,
                lock: Lock::CleanDemote {
                    checkpoint: fork,
                    tli: 2
                },
            }
        );
        let c = control(2, 0x400_0000, false);
        assert!(matches!(
            rejoin_plan(&RejoinFacts {
                control: &c,
                ..facts
            }),
            Rejoin::Refuse(_)
        ));
        let Rejoin::Refuse(why) = rejoin_plan(&RejoinFacts {
            wal_tli: Some(7),
            ..facts
        }) else {
            panic!("timeline 7 is not in the history")
        };
        assert!(
            fits(&why).contains("timeline 7 is not in pg02's history 3:"),
            "{why:?}"
        );
    }

    #[test]
    fn a_primary_checkpoints_for_rewinds_only_until_its_checkpoint_is_on_its_timeline() {
        assert!(checkpoint_for_rewinds(true, 4, Some(5)), "just promoted");
        assert!(!checkpoint_for_rewinds(true, 5, Some(5)));
        assert!(!checkpoint_for_rewinds(true, 4, None), "timeline unknown");
        assert!(
            !checkpoint_for_rewinds(false, 4, Some(5)),
            "only with auto_rewind"
        );
    }

    /// pg_rewind reads the source's timeline from its control file: not
    /// before the promoted node's first checkpoint on its new timeline
    /// (seed 6113 of the long form), nor while it is still in recovery.
    #[test]
    fn a_rewind_waits_for_the_new_primary_s_first_checkpoint() {
        assert_eq!(rewind_source_ready("pg02", 113, false, 113), Ok(()));
        assert_eq!(rewind_source_ready("pg02", 113, false, 114), Ok(()));
        let early = rewind_source_ready("pg02", 113, false, 112).unwrap_err();
        fits(&early);
        // auto_resync's check of the source, too.
        fits(
            &early
                .clone()
                .in_context(|r| format!("auto_resync: {r}"), |d| d.into()),
        );
        assert!(
            early.reason().contains("no checkpoint on its timeline 113"),
            "{early}"
        );
        assert!(
            early.explained().contains("its control file says 112"),
            "{early:?}"
        );
        let promoting = rewind_source_ready("pg02", 113, true, 112).unwrap_err();
        fits(&promoting);
        assert!(
            promoting.reason().contains("still in recovery"),
            "{promoting}"
        );
    }
}
