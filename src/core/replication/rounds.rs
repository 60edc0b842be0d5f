//! The primary's pass over its standbys within one action (its monitor, a
//! post-start/post-stop notification), as a state machine: up to
//! [`StandbyRounds::ROUNDS`] rounds of [`control_standbys`].
//!
//! A round that changes `synchronous_standby_names` has already taken every
//! score away; it waits until the CIB shows that (the barrier,
//! [`revocation_shown`]), and only then sets the list, waits until
//! PostgreSQL has it in effect ([`list_in_effect`]), makes sure committing
//! sessions wait for it ([`RoundWait::SyncFlag`]: a checkpoint, once),
//! reads the primary's flushed position (the ceiling: rule 3), records it,
//! and waits a little for the new standby to reach it ([`reached_ceiling`]). A round that
//! finds the named standby not scored yet and no ceiling known reads one
//! the same way. Then the next round scores a standby that reached it.
//! The third round stops in any case: the next monitor goes on.
//!
//! The executor performs the steps, reads or waits for what
//! [`RoundWait`] says (its bounds are its own), and feeds what it saw back
//! to the matching `on_*` method.

use super::plan::{Attr, AttrValue, Batch, Plan, RepConfig, Score, SyncRole, Write};
use super::quorum::{control_quorum, record_on, QuorumPassFacts, QuorumRecord, QuorumStep};
use super::sync::{
    ceiling_record, control_standbys, dropped_externals, externals_only, recorded_ceiling,
    recorded_sync_flag, sync_flag_note, PrimaryFacts, ReplicationRow, SyncFlag, SyncStandbys,
};
use crate::core::lsn::Lsn;

/// One step of a round, performed in order by the executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoundStep {
    Apply(Batch),
    /// The former primary is the sync standby now: its preference has done
    /// its job, and kept it would take the role back after a loss.
    ForgetFormerPrimary,
    /// `synchronous_standby_names` (and the stock `rep_mode.conf`) to this.
    SetList(SyncStandbys),
    /// The ceiling read for the current list, recorded for the later
    /// monitors ([`recorded_ceiling`]).
    RecordCeiling(String),
    /// What is known of the sync flag, recorded for this postmaster: the
    /// note [`super::sync_flag_note`] wrote.
    RecordSyncFlag(String),
    /// Make every standby reply now: the commits that waited for a lost
    /// standby are released when the new one replies, and an idle one
    /// replies only every `wal_receiver_status_interval` (10 s).
    NudgeStandbys,
}

/// What the rounds wait for next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoundWait {
    /// Read `pg_stat_replication`, then [`StandbyRounds::on_rows`].
    Rows,
    /// Wait until the CIB shows each of these nodes' score taken away
    /// ([`revocation_shown`]), then [`StandbyRounds::on_barrier`] with
    /// whether it did in time.
    Barrier(Vec<String>),
    /// Wait until PostgreSQL shows this list in effect
    /// ([`list_in_effect`]), then [`StandbyRounds::on_in_effect`].
    InEffect(SyncStandbys),
    /// Read when the postmaster started, the sync flag's note in tmpdir
    /// and the redo point of the last completed checkpoint; then
    /// [`StandbyRounds::on_sync_flag`]. Whether a committing session waits
    /// for a standby at all is a flag in shared memory that only the
    /// checkpointer sets, when it takes the reload; it defers that while a
    /// checkpoint runs behind schedule or in its sync phase.
    /// `pg_stat_replication` shows the list in effect before that (the
    /// walsenders and the reading session take the reload themselves), so
    /// after a list that named nobody, commits could still be acknowledged
    /// without the standby. A checkpoint that starts after the list showed
    /// in effect starts after the checkpointer took the reload.
    SyncFlag,
    /// On a new connection (the postmaster has signalled every process
    /// before it accepts one), write a WAL record and run `CHECKPOINT`
    /// (bounded); then [`StandbyRounds::on_checkpointed`] with the
    /// record's end and whether the checkpoint completed.
    Checkpoint,
    /// Read the primary's flushed position, then
    /// [`StandbyRounds::on_flushed`].
    Flushed,
    /// Wait a little until this standby has flushed up to the ceiling
    /// ([`reached_ceiling`]), then [`StandbyRounds::on_standby_waited`].
    StandbyAt { standby: String, ceiling: Lsn },
    /// Quorum mode: wait until the CIB shows this record on the
    /// primary's node (none: no record), then
    /// [`StandbyRounds::on_record_shown`].
    RecordShown(QuorumRecord),
    /// Quorum mode, k raised in the list: every walsender releases commits
    /// with the k it parsed itself, and `pg_stat_replication` shows no k.
    /// End every walsender (the standbys reconnect at once, and a new
    /// walsender parses the list in effect) and wait until each has
    /// exited, then [`StandbyRounds::on_walsenders_restarted`].
    RestartWalsenders,
    /// The pass is over for this action.
    Done,
}

/// The steps to perform, then what to wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Next {
    pub steps: Vec<RoundStep>,
    pub wait: RoundWait,
}

impl Next {
    fn wait(wait: RoundWait) -> Next {
        Next {
            steps: Vec::new(),
            wait,
        }
    }

    fn after(mut steps: Vec<RoundStep>, next: Next) -> Next {
        steps.extend(next.steps);
        Next {
            steps,
            wait: next.wait,
        }
    }
}

/// The primary's rounds over its standbys in one action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandbyRounds {
    /// `synchronous_standby_names` in effect.
    current: SyncStandbys,
    /// The ceiling for `current` (`None`: none read yet).
    ceiling: Option<Lsn>,
    rounds_left: u32,
    /// The list this round changes to, once the barrier is passed.
    wanted: Option<SyncStandbys>,
    /// This round changed the list: the standbys are nudged once the
    /// ceiling is read.
    changed: bool,
    /// When the postmaster started, read with the sync flag: the key of
    /// its note.
    postmaster_start: String,
    /// What this postmaster's note said of the sync flag when the action
    /// began ([`StandbyRounds::with_sync_flag`]), and what the rounds
    /// proved since: a score found on the named standby counts as this
    /// agent's only with it proven ([`control_standbys`]).
    sync_flag: Option<SyncFlag>,
    /// postgresql.auto.conf holds another list than the one in effect (an
    /// action stopped between writing it and the reload): what the next
    /// reload or restart would apply, unchecked by any rule.
    pending: Option<String>,
}

impl StandbyRounds {
    /// The safety stop: a pass that has not settled by then goes on at
    /// the next monitor.
    pub const ROUNDS: u32 = 3;

    /// `sync_standbys`: the setting PostgreSQL has in effect (unreadable:
    /// asynchronous); `ceiling_record`: the ceiling recorded by an earlier
    /// action ([`recorded_ceiling`]).
    pub fn new(sync_standbys: &str, ceiling_record: Option<&str>) -> StandbyRounds {
        let current = SyncStandbys::parse(sync_standbys).unwrap_or(SyncStandbys::Async);
        let ceiling = recorded_ceiling(ceiling_record, &current);
        StandbyRounds {
            current,
            ceiling,
            rounds_left: StandbyRounds::ROUNDS,
            wanted: None,
            changed: false,
            postmaster_start: String::new(),
            sync_flag: None,
            pending: None,
        }
    }

    /// `postmaster_start`: when the postmaster started, as PostgreSQL
    /// reported it; `note`: the sync flag's note in tmpdir
    /// ([`recorded_sync_flag`]: another postmaster's counts as none).
    pub fn with_sync_flag(mut self, postmaster_start: &str, note: Option<&str>) -> StandbyRounds {
        self.postmaster_start = postmaster_start.to_string();
        self.sync_flag = recorded_sync_flag(note, postmaster_start);
        self
    }

    /// `in_file`: the list postgresql.auto.conf holds (`None`: none, or
    /// unreadable), which PostgreSQL applies at its next reload or start.
    pub fn with_file_list(mut self, in_file: Option<&str>) -> StandbyRounds {
        self.pending = in_file
            .filter(|f| SyncStandbys::parse(f).unwrap_or(SyncStandbys::Async) != self.current)
            .map(str::to_string);
        self
    }

    /// The first round. A list in postgresql.auto.conf that is not the one
    /// in effect is first replaced by the one in effect: every rule (the
    /// ceiling, the record of quorum mode) holds for the list in effect
    /// only, and a reload or restart later would apply the other without
    /// them (a restart as primary after a recovery in place, an operator's
    /// reload).
    pub fn begin(&mut self) -> Next {
        let Some(pending) = self.pending.take() else {
            return self.next_round();
        };
        let mut steps = vec![
            RoundStep::Apply(Batch::warning(format!(
                "postgresql.auto.conf holds synchronous_standby_names = '{pending}', which is not in effect (an earlier action stopped before its reload): set back to '{}', the list in effect.",
                self.current.value()
            ))),
            RoundStep::SetList(self.current.clone()),
        ];
        // Setting the list forgets the ceiling recorded for it: the same
        // list, the same ceiling.
        if let Some(c) = self.ceiling {
            steps.push(RoundStep::RecordCeiling(ceiling_record(&self.current, c)));
        }
        Next::after(steps, self.next_round())
    }

    /// One round, with `pg_stat_replication` as read now: the pass
    /// ([`control_standbys`]) and its writes (with whatever the plan held
    /// before: the primary's monitor's own), then the barrier when the list
    /// changes, or a ceiling to read, or the end.
    pub fn on_rows(&mut self, plan: &mut Plan, rows: &[ReplicationRow]) -> Next {
        if plan.cfg.quorum_mode() {
            return self.quorum_round(plan, rows);
        }
        let mut steps = Vec::new();
        if preference_fulfilled(plan.cfg, rows) {
            steps.push(RoundStep::ForgetFormerPrimary);
        }
        let facts = PrimaryFacts {
            rows,
            current: &self.current,
            ceiling: self.ceiling,
            sync_flag: self.sync_flag,
        };
        let pass = control_standbys(plan, &facts);
        let revoked = revoked_scores(&plan.writes);
        steps.push(RoundStep::Apply(plan.take()));
        match pass.change {
            // Only standbys outside the cluster join or leave: the sync
            // standby stays required, its score and ceiling stand (the
            // ceiling's record goes with the old list's file: it is
            // written again). Commits that waited for one that left are
            // released at the next standby reply: nudged now.
            Some(wanted) if externals_only(plan.cfg, &self.current, &wanted) => {
                let dropped = !dropped_externals(&self.current, &wanted).is_empty();
                steps.extend(self.set_list(wanted));
                if let Some(c) = self.ceiling {
                    steps.push(RoundStep::RecordCeiling(ceiling_record(&self.current, c)));
                }
                if dropped {
                    steps.push(RoundStep::NudgeStandbys);
                }
            }
            Some(wanted) => {
                self.wanted = Some(wanted);
                return Next {
                    steps,
                    wait: RoundWait::Barrier(revoked),
                };
            }
            None => {}
        }
        // The named standby keeps a score this agent did not give (the
        // stock agent's, an earlier version's): it stays, unrecorded,
        // until the standby has flushed a ceiling read after this
        // postmaster's checkpoint.
        let record = Attr::AckedAlsoOn.name(&plan.cfg.rsc);
        let kept = |n: &str| plan.has_positive_score(n);
        match (pass.awaiting, self.ceiling) {
            (Some(n), None) => {
                if kept(&n) {
                    steps.push(RoundStep::Apply(Batch::info(format!(
                        "{n} keeps the score it was given before this agent proved that it holds \
                         every acknowledged commit: {record} names it once it has flushed the \
                         primary's position read after a checkpoint."
                    ))));
                }
                Next::after(steps, self.read_ceiling())
            }
            // Not caught up with this ceiling: the next monitor tries again.
            (Some(n), Some(c)) => {
                let line = if kept(&n) {
                    format!("{n} has not flushed up to {c} yet: it keeps its score, and {record} names it once it has.")
                } else {
                    format!("{n} has not flushed up to {c} yet: no score until it has.")
                };
                steps.push(RoundStep::Apply(Batch::info(line)));
                Next {
                    steps,
                    wait: RoundWait::Done,
                }
            }
            (None, _) => Next {
                steps,
                wait: RoundWait::Done,
            },
        }
    }

    /// One round in quorum mode ([`control_quorum`]): the writes, then the
    /// one step of the pair, shown before the next round decides again.
    /// Scores need no barrier here: every change keeps the overlap, and the
    /// check at promotion compares the voters' positions whatever the
    /// scores say.
    fn quorum_round(&mut self, plan: &mut Plan, rows: &[ReplicationRow]) -> Next {
        let list = self.current.as_quorum();
        let facts = QuorumPassFacts {
            rows,
            list: &list,
            ceiling: self.ceiling,
        };
        let step = control_quorum(plan, &facts);
        let mut steps = vec![RoundStep::Apply(plan.take())];
        match step {
            QuorumStep::Record(record) => Next {
                steps,
                wait: RoundWait::RecordShown(record),
            },
            QuorumStep::SetList(wanted) => {
                let raised = !list.standbys.is_empty() && wanted.k > list.k;
                self.changed = true;
                steps.extend(self.set_list(SyncStandbys::Any(wanted)));
                if raised {
                    return Next {
                        steps,
                        wait: RoundWait::RestartWalsenders,
                    };
                }
                Next::after(steps, self.read_ceiling())
            }
            // No ceiling known for the list (a new primary's, one whose
            // wait for it ran out): one is read first, so that the voters
            // can be recorded and scored. A k raised above the record's
            // in an earlier action is proven first: its walsenders may not
            // have been restarted then.
            QuorumStep::Wait(_) | QuorumStep::Settled
                if self.ceiling.is_none() && !list.standbys.is_empty() =>
            {
                let record = record_on(plan, &plan.cfg.me);
                if !record.voters.is_empty() && list.k > record.k {
                    return Next {
                        steps,
                        wait: RoundWait::RestartWalsenders,
                    };
                }
                Next::after(steps, self.read_ceiling())
            }
            QuorumStep::Wait(why) => {
                steps.push(RoundStep::Apply(Batch::info(why)));
                Next {
                    steps,
                    wait: RoundWait::Done,
                }
            }
            QuorumStep::Settled => Next {
                steps,
                wait: RoundWait::Done,
            },
        }
    }

    /// Whether the CIB showed the record in time. Shown: the next round
    /// decides the next step. Not shown: nothing more in this action (a
    /// write not shown is retried by the next monitor, never assumed).
    pub fn on_record_shown(&mut self, shown: bool) -> Next {
        if shown {
            return self.next_round();
        }
        Next {
            steps: vec![RoundStep::Apply(Batch::warning(
                "the CIB does not show the quorum record yet; synchronous_standby_names stays \
                 for now",
            ))],
            wait: RoundWait::Done,
        }
    }

    /// Whether every walsender of the old k has exited. Not all: the list
    /// is not proven in effect, so no ceiling is read.
    pub fn on_walsenders_restarted(&mut self, restarted: bool) -> Next {
        if restarted {
            return self.read_ceiling();
        }
        self.ceiling = None;
        self.rounds_left = 0;
        self.after_ceiling()
    }

    /// Whether the CIB showed the scores taken away in time. Not shown:
    /// the list stays for now (a standby could still be promoted with a
    /// score the scheduler sees). Shown: the list changes.
    pub fn on_barrier(&mut self, shown: bool) -> Next {
        let Some(wanted) = self.wanted.take() else {
            return Next::wait(RoundWait::Done);
        };
        if !shown {
            return Next {
                steps: vec![RoundStep::Apply(Batch::warning(
                    "the CIB does not show the scores taken away yet; synchronous_standby_names \
                     stays for now",
                ))],
                wait: RoundWait::Done,
            };
        }
        self.changed = true;
        let steps = self.set_list(wanted);
        Next::after(steps, self.read_ceiling())
    }

    /// Set the list, and warn about each standby outside the cluster it
    /// no longer names, as the stock agent does.
    fn set_list(&mut self, wanted: SyncStandbys) -> Vec<RoundStep> {
        let mut steps: Vec<RoundStep> = dropped_externals(&self.current, &wanted)
            .into_iter()
            .map(|n| {
                RoundStep::Apply(Batch::warning(format!(
                    "The synchronous connection from {n} was disconnected."
                )))
            })
            .collect();
        steps.push(RoundStep::SetList(wanted.clone()));
        // A list naming nobody clears PostgreSQL's flag (and the note
        // goes with that list's file).
        if wanted.listed().is_empty() {
            self.sync_flag = None;
        }
        self.current = wanted;
        steps
    }

    /// Whether PostgreSQL showed the list in effect in time. A ceiling
    /// read before it took effect may miss commits the standby named
    /// before acknowledged: none is read then (a later monitor reads one).
    pub fn on_in_effect(&mut self, in_effect: bool) -> Next {
        if in_effect {
            return Next::wait(RoundWait::SyncFlag);
        }
        self.ceiling = None;
        self.after_ceiling()
    }

    /// When the postmaster started, the note of its sync flag in tmpdir
    /// ([`super::recorded_sync_flag`]: one written for another postmaster
    /// counts as none), and the redo point of its last completed
    /// checkpoint. Proven once, the flag stays so while the list names
    /// somebody: a standby swapped for another costs no checkpoint.
    /// Pending: the checkpoint asked for is not asked for again (under a
    /// heavy load, one every monitor would never end); a completed one
    /// past the mark proves the flag.
    pub fn on_sync_flag(
        &mut self,
        postmaster_start: &str,
        note: Option<&str>,
        redo: Option<Lsn>,
    ) -> Next {
        self.postmaster_start = postmaster_start.to_string();
        self.sync_flag = recorded_sync_flag(note, postmaster_start);
        match self.sync_flag {
            Some(SyncFlag::Proven) => Next::wait(RoundWait::Flushed),
            Some(SyncFlag::Pending(mark)) if redo.is_some_and(|r| r >= mark) => Next {
                steps: vec![self.record_sync_flag(SyncFlag::Proven)],
                wait: RoundWait::Flushed,
            },
            Some(SyncFlag::Pending(mark)) => self.no_ceiling_yet(vec![], mark),
            None => Next::wait(RoundWait::Checkpoint),
        }
    }

    /// The checkpoint asked for once the list took effect, after a WAL
    /// record ending at `mark` (`None`: none could be written), and
    /// whether it completed in time. Not completed: committing sessions
    /// may not wait for the standby yet, so no ceiling is read and the
    /// pass ends; the checkpoint goes on, and a later monitor finds it
    /// completed.
    pub fn on_checkpointed(&mut self, mark: Option<Lsn>, done: bool) -> Next {
        match (done, mark) {
            (true, _) => Next {
                steps: vec![self.record_sync_flag(SyncFlag::Proven)],
                wait: RoundWait::Flushed,
            },
            (false, Some(mark)) => {
                let record = self.record_sync_flag(SyncFlag::Pending(mark));
                self.no_ceiling_yet(vec![record], mark)
            }
            (false, None) => {
                self.ceiling = None;
                self.rounds_left = 0;
                self.after_ceiling()
            }
        }
    }

    fn record_sync_flag(&mut self, flag: SyncFlag) -> RoundStep {
        self.sync_flag = Some(flag);
        RoundStep::RecordSyncFlag(sync_flag_note(flag, &self.postmaster_start))
    }

    fn no_ceiling_yet(&mut self, mut steps: Vec<RoundStep>, mark: Lsn) -> Next {
        self.ceiling = None;
        self.rounds_left = 0;
        steps.push(RoundStep::Apply(Batch::info(format!(
            "no checkpoint has completed since synchronous_standby_names took effect (at \
             {mark}): no ceiling yet, a later monitor looks again."
        ))));
        Next::after(steps, self.after_ceiling())
    }

    /// The primary's flushed position, read once the list is in effect:
    /// every commit acknowledged so far is at or below it. It is recorded
    /// (lost, a later monitor reads a higher one: later, never unsafe), and
    /// the standby is given a moment to reach it.
    pub fn on_flushed(&mut self, flushed: Option<Lsn>) -> Next {
        self.ceiling = flushed;
        let Some(c) = flushed else {
            return self.after_ceiling();
        };
        let record = RoundStep::RecordCeiling(ceiling_record(&self.current, c));
        match self.current.sole() {
            Some(standby) => Next {
                steps: vec![record],
                wait: RoundWait::StandbyAt {
                    standby: standby.to_string(),
                    ceiling: c,
                },
            },
            // Quorum mode: the next round sees who reached it.
            None => Next::after(vec![record], self.after_ceiling()),
        }
    }

    /// The wait for the standby is over, whether it reached the ceiling
    /// or not: the next round tells.
    pub fn on_standby_waited(&mut self) -> Next {
        self.after_ceiling()
    }

    /// A ceiling is read for a list naming one standby of the cluster,
    /// or for a quorum list naming any.
    fn read_ceiling(&mut self) -> Next {
        let quorum = matches!(&self.current, SyncStandbys::Any(l) if !l.standbys.is_empty());
        if self.current.sole().is_some() || quorum {
            return Next::wait(RoundWait::InEffect(self.current.clone()));
        }
        self.ceiling = None;
        self.after_ceiling()
    }

    fn after_ceiling(&mut self) -> Next {
        let mut steps = Vec::new();
        if std::mem::take(&mut self.changed) {
            steps.push(RoundStep::NudgeStandbys);
            steps.push(RoundStep::Apply(Batch::info(
                "re-controlling standby status.",
            )));
        }
        Next::after(steps, self.next_round())
    }

    fn next_round(&mut self) -> Next {
        if self.rounds_left == 0 {
            return Next::wait(RoundWait::Done);
        }
        self.rounds_left -= 1;
        Next::wait(RoundWait::Rows)
    }
}

/// The nodes whose score these writes take away.
pub fn revoked_scores(writes: &[Write]) -> Vec<String> {
    writes
        .iter()
        .filter(|w| w.value == Some(AttrValue::Score(Score::CanNotPromote)))
        .map(|w| w.node.clone())
        .collect()
}

/// The barrier before the list changes, for one node: the CIB shows its
/// score taken away, or no score at all (a node that left the cluster
/// loses its transient attributes). What this action wrote through attrd
/// is then what the scheduler sees.
pub fn revocation_shown(score: Option<&str>) -> bool {
    score.map_or(true, |v| {
        Score::parse(v) == Some(Score::CanNotPromote.value())
    })
}

/// The walsender of `named` (its application name, ignoring case).
fn row_named<'r>(rows: &'r [ReplicationRow], named: &str) -> Option<&'r ReplicationRow> {
    rows.iter()
        .find(|row| row.application_name.eq_ignore_ascii_case(named))
}

/// The list is in effect: PostgreSQL shows its one standby of the
/// cluster `SYNC`, and every walsender the list does not name async (one
/// still on the old list would show potential or sync). The standbys
/// outside the cluster it names show sync, or nothing when they left.
///
/// A quorum list: every listed walsender shows quorum, or potential
/// while it does not stream yet (either way its own parse of the list gave
/// it a priority), every other one async. A change of k alone shows
/// nowhere: a raise is proven by new walsenders
/// ([`RoundWait::RestartWalsenders`]), a lowering needs no proof.
pub fn list_in_effect(rows: &[ReplicationRow], list: &SyncStandbys) -> bool {
    let names = list.listed();
    let listed = |row: &&ReplicationRow| {
        names
            .iter()
            .any(|n| row.application_name.eq_ignore_ascii_case(n))
    };
    let others_async = rows
        .iter()
        .filter(|row| !listed(row))
        .all(|row| row.sync == SyncRole::Async);
    if let SyncStandbys::Any(quorum) = list {
        let prioritised =
            |row: &ReplicationRow| matches!(row.sync, SyncRole::Quorum | SyncRole::Potential);
        return !quorum.standbys.is_empty()
            && others_async
            && rows.iter().filter(listed).all(prioritised);
    }
    let Some(named) = list.sole() else {
        return false;
    };
    others_async && row_named(rows, named).is_some_and(|row| row.sync == SyncRole::Sync)
}

/// `named` has flushed up to `ceiling`.
pub fn reached_ceiling(rows: &[ReplicationRow], named: &str, ceiling: Lsn) -> bool {
    row_named(rows, named)
        .and_then(|row| row.flush)
        .is_some_and(|f| f >= ceiling)
}

/// The former primary preferred as the sync standby (after a switchover)
/// is the sync standby.
pub fn preference_fulfilled(cfg: &RepConfig, rows: &[ReplicationRow]) -> bool {
    cfg.sync_preference.as_deref().is_some_and(|former| {
        rows.iter().any(|row| {
            row.application_name.eq_ignore_ascii_case(former) && row.sync == SyncRole::Sync
        })
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::super::*;
    use crate::config::RepMode;
    use crate::core::crm_mon::ClusterView;
    use crate::core::lsn::Lsn;
    use crate::core::replication::quorum::{QuorumList, QuorumRecord};

    /// The writes of a list of steps, as `node:attr=value`, and the other
    /// steps by name.
    /// The postmaster's start time the sync flag's notes are keyed by.
    const START: &str = "2026-12-06 12:00:00+00";

    fn note(flag: SyncFlag) -> String {
        sync_flag_note(flag, START)
    }

    fn kinds(steps: &[RoundStep]) -> Vec<String> {
        steps
            .iter()
            .map(|s| match s {
                RoundStep::Apply(b) => {
                    let mut parts: Vec<String> = b.infos.clone();
                    parts.extend(b.warnings.iter().map(|w| format!("warning {w}")));
                    parts.extend(b.writes.iter().map(|w| {
                        format!(
                            "{}:{:?}={}",
                            w.node,
                            w.attr,
                            w.wire().as_deref().unwrap_or("<deleted>")
                        )
                    }));
                    format!("apply [{}]", parts.join(", "))
                }
                other => format!("{other:?}"),
            })
            .collect()
    }

    fn flushed(r: ReplicationRow, at: u64) -> ReplicationRow {
        ReplicationRow {
            flush: Some(Lsn(at)),
            ..r
        }
    }

    /// An action stopped between writing a list and the reload left it in
    /// postgresql.auto.conf: the pass first sets the list in effect again
    /// (and its ceiling, which setting a list forgets), then goes on.
    #[test]
    fn a_list_waiting_in_the_file_is_replaced_by_the_one_in_effect_first() {
        let list = r#"FIRST 1 ("pg02")"#;
        let record = format!("{list}\t0/100\tafter-checkpoint\n");
        let mut rounds =
            StandbyRounds::new(list, Some(&record)).with_file_list(Some(r#"FIRST 1 ("pg03")"#));
        let next = rounds.begin();
        assert_eq!(next.wait, RoundWait::Rows);
        assert_eq!(
            kinds(&next.steps),
            [
                r#"apply [warning postgresql.auto.conf holds synchronous_standby_names = 'FIRST 1 ("pg03")', which is not in effect (an earlier action stopped before its reload): set back to 'FIRST 1 ("pg02")', the list in effect.]"#.to_string(),
                format!("{:?}", RoundStep::SetList(SyncStandbys::parse(list).unwrap())),
                format!("{:?}", RoundStep::RecordCeiling(record)),
            ]
        );
        // Quorum mode alike; no ceiling, none recorded.
        let mut rounds = StandbyRounds::new(r#"ANY 1 ("pg02", "pg03")"#, None)
            .with_file_list(Some(r#"ANY 1 ("pg02", "pg03", "pg04")"#));
        let steps = rounds.begin().steps;
        assert_eq!(steps.len(), 2);
        assert_eq!(
            steps[1],
            RoundStep::SetList(SyncStandbys::parse(r#"ANY 1 ("pg02", "pg03")"#).unwrap())
        );
    }

    /// The file holds the list in effect (written alike or not), or none:
    /// nothing to set back.
    #[test]
    fn the_list_in_effect_in_the_file_is_left_alone() {
        for file in [Some(r#"FIRST 1 ("pg02")"#), Some(r#"first 1 (pg02)"#), None] {
            let mut rounds = StandbyRounds::new(r#"FIRST 1 ("pg02")"#, None).with_file_list(file);
            assert_eq!(rounds.begin(), Next::wait(RoundWait::Rows), "{file:?}");
        }
        let mut rounds = StandbyRounds::new("", None).with_file_list(Some(""));
        assert_eq!(rounds.begin(), Next::wait(RoundWait::Rows));
    }

    /// The proof for a list that names `standby` alone, once it is in
    /// effect: the sync flag (no note of this postmaster's), a checkpoint
    /// ending at 0/1F0, the flag recorded proven, the ceiling read at 0/200
    /// and recorded. The round that read the ceiling.
    fn the_list_proven_with_a_checkpoint(rounds: &mut StandbyRounds, standby: &str) -> Next {
        assert_eq!(rounds.on_in_effect(true), Next::wait(RoundWait::SyncFlag));
        assert_eq!(
            rounds.on_sync_flag(START, None, None),
            Next::wait(RoundWait::Checkpoint)
        );
        assert_eq!(
            rounds.on_checkpointed(Some(Lsn(0x1F0)), true),
            Next {
                steps: vec![RoundStep::RecordSyncFlag(note(SyncFlag::Proven))],
                wait: RoundWait::Flushed
            }
        );
        let next = rounds.on_flushed(Some(Lsn(0x200)));
        assert_eq!(
            next.steps,
            [RoundStep::RecordCeiling(format!(
                "FIRST 1 (\"{standby}\")\t0/200\tafter-checkpoint\n"
            ))]
        );
        next
    }

    /// A steady primary: the named standby scored and recorded already,
    /// the sync flag proven under this postmaster; one round.
    #[test]
    fn a_steady_pass_is_one_round() {
        let (c, v) = primary_fixture();
        let v = with_attr(&v, "pg02", "master-pgsql", "100");
        let v = with_attr(&v, "pg02", "pgsql-data-status", "STREAMING|SYNC");
        let v = with_attr(&v, "pg02", "pgsql-status", "HS:sync");
        let v = with_attr(&v, "pg01", "pgsql-acked-also-on", "pg02");
        let mut p = Plan::new(&c, &v);
        let mut rounds = StandbyRounds::new(r#"FIRST 1 ("pg02")"#, None)
            .with_sync_flag(START, Some(&note(SyncFlag::Proven)));
        assert_eq!(rounds.begin(), Next::wait(RoundWait::Rows));
        let rows = [
            row("pg02", "STREAMING", "SYNC"),
            row("pg03", "STREAMING", "ASYNC"),
        ];
        let next = rounds.on_rows(&mut p, &rows);
        assert_eq!(next.wait, RoundWait::Done);
        assert_eq!(
            kinds(&next.steps),
            ["apply [pg03:DataStatus=STREAMING|ASYNC, pg03:Status=HS:async]"]
        );
    }

    /// The sync standby is lost while pg03 streams: its score goes, the
    /// barrier, the list, the ceiling, the nudge; the second round scores
    /// pg03 once it reached the ceiling.
    #[test]
    fn a_list_change_waits_for_the_barrier_then_scores_in_a_later_round() {
        let (c, v) = primary_fixture();
        let v = with_attr(&v, "pg02", "master-pgsql", "100");
        let v = with_attr(&v, "pg01", "pgsql-acked-also-on", "pg02");
        let mut p = Plan::new(&c, &v);
        let mut rounds = StandbyRounds::new(
            r#"FIRST 1 ("pg02")"#,
            Some("FIRST 1 (\"pg02\")\t0/100\tafter-checkpoint\n"),
        );
        rounds.begin();
        let next = rounds.on_rows(&mut p, &[row("pg03", "STREAMING", "ASYNC")]);
        assert_eq!(
            kinds(&next.steps),
            ["apply [pg02:DataStatus=DISCONNECT, pg02:Score=-INFINITY, \
              pg03:DataStatus=STREAMING|ASYNC, pg03:Score=-INFINITY, pg03:Status=HS:async, \
              pg01:AckedAlsoOn=<deleted>]"]
        );
        // Every score taken away, pg03's too though crm_mon shows it
        // -INFINITY already (an earlier raise may still be on its way).
        assert_eq!(
            next.wait,
            RoundWait::Barrier(vec!["pg02".into(), "pg03".into()])
        );
        let next = rounds.on_barrier(true);
        assert_eq!(next.steps, [RoundStep::SetList(one("pg03"))]);
        assert_eq!(next.wait, RoundWait::InEffect(one("pg03")));
        let next = the_list_proven_with_a_checkpoint(&mut rounds, "pg03");
        assert_eq!(
            next.wait,
            RoundWait::StandbyAt {
                standby: "pg03".into(),
                ceiling: Lsn(0x200)
            }
        );
        let next = rounds.on_standby_waited();
        assert_eq!(
            kinds(&next.steps),
            ["NudgeStandbys", "apply [re-controlling standby status.]"]
        );
        assert_eq!(next.wait, RoundWait::Rows);
        // Round 2: pg03 is SYNC and reached the ceiling: scored, recorded.
        let next = rounds.on_rows(&mut p, &[flushed(row("pg03", "STREAMING", "SYNC"), 0x200)]);
        assert_eq!(
            kinds(&next.steps),
            [
                "apply [pg03:DataStatus=STREAMING|SYNC, pg03:Score=100, pg03:Status=HS:sync, \
              pg01:AckedAlsoOn=pg03]"
            ]
        );
        assert_eq!(next.wait, RoundWait::Done);
    }

    /// This agent's first monitor of a primary the stock agent ran: pg02
    /// has the stock agent's 100 and no record of ours; there is no note of
    /// this postmaster's sync flag. The pass keeps the score, records
    /// nothing, and goes through the proof of a newly named standby (the
    /// list in effect, the checkpoint, the ceiling); the next round records
    /// pg02 once it has flushed the ceiling. The list stays as it is.
    #[test]
    fn a_score_the_stock_agent_gave_is_recorded_only_after_the_checkpoint_and_the_ceiling() {
        let (c, v) = primary_fixture();
        let v = with_attr(&v, "pg02", "master-pgsql", "100");
        let v = with_attr(&v, "pg02", "pgsql-data-status", "STREAMING|SYNC");
        let v = with_attr(&v, "pg02", "pgsql-status", "HS:sync");
        let v = with_attr(&v, "pg03", "pgsql-data-status", "STREAMING|ASYNC");
        let v = with_attr(&v, "pg03", "pgsql-status", "HS:async");
        let mut p = Plan::new(&c, &v);
        let kept = "apply [pg02 keeps the score it was given before this agent proved that it \
                    holds every acknowledged commit: pgsql-acked-also-on names it once it has \
                    flushed the primary's position read after a checkpoint.]";
        // The stock agent's list: its rep_mode.conf says "pg02".
        let mut rounds = StandbyRounds::new(r#""pg02""#, None).with_sync_flag(START, None);
        assert_eq!(rounds.begin(), Next::wait(RoundWait::Rows));
        let rows = [
            row("pg02", "STREAMING", "SYNC"),
            row("pg03", "STREAMING", "ASYNC"),
        ];
        let next = rounds.on_rows(&mut p, &rows);
        assert_eq!(kinds(&next.steps), ["apply []", kept]);
        assert_eq!(next.wait, RoundWait::InEffect(one("pg02")));
        the_list_proven_with_a_checkpoint(&mut rounds, "pg02");
        // The list did not change: nothing to nudge.
        assert_eq!(rounds.on_standby_waited(), Next::wait(RoundWait::Rows));
        // Still behind the ceiling: kept, not recorded, nothing more now.
        let next = rounds.on_rows(&mut p, &rows);
        assert_eq!(
            kinds(&next.steps),
            [
                "apply []",
                "apply [pg02 has not flushed up to 0/200 yet: it keeps its score, and \
                 pgsql-acked-also-on names it once it has.]"
            ]
        );
        assert_eq!(next.wait, RoundWait::Done);
        // The next monitor: the flag proven under this postmaster, the
        // ceiling recorded, pg02 still has no record of ours. Neither the
        // note nor the score is proof that pg02 reached the ceiling.
        let ceiling = "FIRST 1 (\"pg02\")\t0/200\tafter-checkpoint\n";
        let monitor = || {
            let mut r = StandbyRounds::new(r#""pg02""#, Some(ceiling))
                .with_sync_flag(START, Some(&note(SyncFlag::Proven)));
            r.begin();
            r
        };
        let mut p = Plan::new(&c, &v);
        let next = monitor().on_rows(&mut p, &rows);
        assert_eq!(next.wait, RoundWait::Done);
        assert!(p.writes.is_empty(), "{:?}", p.writes);
        assert!(kinds(&next.steps)[1].contains("has not flushed up to 0/200"));
        // pg02 has flushed it: recorded, its score as it was.
        let mut p = Plan::new(&c, &v);
        let next = monitor().on_rows(&mut p, &[flushed(row("pg02", "STREAMING", "SYNC"), 0x200)]);
        assert_eq!(
            kinds(&next.steps),
            ["apply [pg03:DataStatus=DISCONNECT, pg01:AckedAlsoOn=pg02]"]
        );
        assert_eq!(next.wait, RoundWait::Done);
    }

    /// The same takeover under a checkpoint that does not complete within
    /// its bound: pg02 keeps its score through the monitors that wait for
    /// it, and is not recorded before the checkpoint completed and pg02
    /// reached the ceiling read after it.
    #[test]
    fn a_score_the_stock_agent_gave_stays_unrecorded_while_the_checkpoint_runs() {
        let (c, v) = primary_fixture();
        let v = with_attr(&v, "pg02", "master-pgsql", "100");
        let v = with_attr(&v, "pg02", "pgsql-data-status", "STREAMING|SYNC");
        let v = with_attr(&v, "pg02", "pgsql-status", "HS:sync");
        let rows = [flushed(row("pg02", "STREAMING", "SYNC"), 0x300)];
        let mark = Lsn(0x1F0);
        let pending = note(SyncFlag::Pending(mark));
        // First monitor: the checkpoint asked for does not complete.
        let mut p = Plan::new(&c, &v);
        let mut rounds = StandbyRounds::new(r#""pg02""#, None).with_sync_flag(START, None);
        rounds.begin();
        let next = rounds.on_rows(&mut p, &rows);
        assert_eq!(next.wait, RoundWait::InEffect(one("pg02")));
        rounds.on_in_effect(true);
        rounds.on_sync_flag(START, None, None);
        let next = rounds.on_checkpointed(Some(mark), false);
        assert_eq!(next.steps[0], RoundStep::RecordSyncFlag(pending.clone()));
        assert_eq!(next.wait, RoundWait::Done);
        assert_eq!(written(&p, "pg02", Attr::Score), None, "kept");
        assert_eq!(written(&p, "pg01", Attr::AckedAlsoOn), None);
        // A later monitor: the note is pending, no checkpoint has completed
        // past the mark: nothing recorded yet.
        let mut p = Plan::new(&c, &v);
        let mut rounds =
            StandbyRounds::new(r#""pg02""#, None).with_sync_flag(START, Some(&pending));
        rounds.begin();
        assert_eq!(
            rounds.on_rows(&mut p, &rows).wait,
            RoundWait::InEffect(one("pg02"))
        );
        rounds.on_in_effect(true);
        let next = rounds.on_sync_flag(START, Some(&pending), Some(Lsn(0x100)));
        assert_eq!(next.wait, RoundWait::Done);
        assert!(p.writes.is_empty(), "{:?}", p.writes);
        // The checkpoint completed: the ceiling, then the record.
        let mut p = Plan::new(&c, &v);
        let mut rounds =
            StandbyRounds::new(r#""pg02""#, None).with_sync_flag(START, Some(&pending));
        rounds.begin();
        rounds.on_rows(&mut p, &rows);
        rounds.on_in_effect(true);
        let next = rounds.on_sync_flag(START, Some(&pending), Some(Lsn(0x200)));
        assert_eq!(next.wait, RoundWait::Flushed);
        rounds.on_flushed(Some(Lsn(0x280)));
        rounds.on_standby_waited();
        let next = rounds.on_rows(&mut p, &rows);
        assert_eq!(kinds(&next.steps), ["apply [pg01:AckedAlsoOn=pg02]"]);
        assert_eq!(written(&p, "pg02", Attr::Score), None, "kept throughout");
    }

    /// `v` with an unpromoted instance on every node but pg01.
    fn standbys_run(v: &ClusterView) -> ClusterView {
        let mut v = v.clone();
        v.unpromoted = v.nodes.keys().filter(|n| *n != "pg01").cloned().collect();
        v
    }

    fn quorum(c: &RepConfig, k: usize) -> RepConfig {
        RepConfig {
            rep_mode: RepMode::Quorum,
            quorum_standbys: k,
            ..c.clone()
        }
    }

    /// A new primary in quorum mode, its promotion list `ANY 1` of both
    /// standbys and no record: the ceiling is read first, the record
    /// written once a voter holds it (and shown before anything else), and
    /// the voters at the ceiling scored in the next round.
    #[test]
    fn quorum_a_new_primary_records_its_voters_once_one_holds_the_ceiling() {
        let (c, v) = primary_fixture();
        let (c, v) = (quorum(&c, 1), standbys_run(&v));
        let mut p = Plan::new(&c, &v);
        let list = r#"ANY 1 ("pg02", "pg03")"#;
        let mut rounds = StandbyRounds::new(list, None);
        rounds.begin();
        let rows = [
            row("pg02", "STREAMING", "QUORUM"),
            row("pg03", "STREAMING", "QUORUM"),
        ];
        let next = rounds.on_rows(&mut p, &rows);
        assert_eq!(
            kinds(&next.steps),
            [
                "apply [pg02:DataStatus=STREAMING|QUORUM, pg02:Status=HS:quorum, \
              pg03:DataStatus=STREAMING|QUORUM, pg03:Status=HS:quorum]"
            ]
        );
        let any = SyncStandbys::parse(list).unwrap();
        assert_eq!(next.wait, RoundWait::InEffect(any.clone()));
        assert!(list_in_effect(&rows, &any));
        rounds.on_in_effect(true);
        let proven = note(SyncFlag::Proven);
        assert_eq!(
            rounds.on_sync_flag(START, Some(&proven), None),
            Next::wait(RoundWait::Flushed)
        );
        let next = rounds.on_flushed(Some(Lsn(0x200)));
        assert_eq!(
            next.steps,
            [RoundStep::RecordCeiling(format!(
                "{list}\t0/200\tafter-checkpoint\n"
            ))]
        );
        assert_eq!(next.wait, RoundWait::Rows);
        // pg03 reached the ceiling: the record, shown before the next round.
        let rows = [
            row("pg02", "STREAMING", "QUORUM"),
            flushed(row("pg03", "STREAMING", "QUORUM"), 0x200),
        ];
        let next = rounds.on_rows(&mut p, &rows);
        assert_eq!(
            kinds(&next.steps),
            ["apply [pg01:AckedOnAny=1 of pg02 pg03]"]
        );
        let record = QuorumRecord::new(1, &["pg02", "pg03"]);
        assert_eq!(next.wait, RoundWait::RecordShown(record));
        assert_eq!(rounds.on_record_shown(true), Next::wait(RoundWait::Rows));
        // The voter at the ceiling is scored; the pair is settled.
        let next = rounds.on_rows(&mut p, &rows);
        assert_eq!(kinds(&next.steps), ["apply [pg03:Score=100]"]);
        assert_eq!(next.wait, RoundWait::Done);
    }

    /// A voter's node leaves: it leaves the list at once (commits go on
    /// with the other), and the record once the other holds the ceiling
    /// read after that.
    #[test]
    fn quorum_a_voter_that_left_leaves_the_list_then_the_record() {
        let (c, v) = primary_fixture();
        let c = quorum(&c, 1);
        let mut v = standbys_run(&with_attr(
            &v,
            "pg01",
            "pgsql-acked-on-any",
            "1 of pg02 pg03",
        ));
        v.nodes.insert("pg03".into(), false);
        let mut p = Plan::new(&c, &v);
        let list = r#"ANY 1 ("pg02", "pg03")"#;
        let mut rounds =
            StandbyRounds::new(list, Some(&format!("{list}\t0/100\tafter-checkpoint\n")));
        rounds.begin();
        let rows = [flushed(row("pg02", "STREAMING", "QUORUM"), 0x100)];
        let next = rounds.on_rows(&mut p, &rows);
        let narrowed = SyncStandbys::Any(QuorumList::new(1, &["pg02"]));
        assert_eq!(
            next.steps.last(),
            Some(&RoundStep::SetList(narrowed.clone()))
        );
        assert_eq!(next.wait, RoundWait::InEffect(narrowed));
        rounds.on_in_effect(true);
        let proven = note(SyncFlag::Proven);
        rounds.on_sync_flag(START, Some(&proven), None);
        rounds.on_flushed(Some(Lsn(0x300)));
        // Below the new ceiling: pg03 stays recorded.
        let next = rounds.on_rows(&mut p, &rows);
        assert_eq!(next.wait, RoundWait::Done);
        assert!(kinds(&next.steps)[1].contains("pg03 stays a voter"));
        let mut rounds = StandbyRounds::new(
            r#"ANY 1 ("pg02")"#,
            Some("ANY 1 (\"pg02\")\t0/300\tafter-checkpoint\n"),
        );
        rounds.begin();
        let at = [flushed(row("pg02", "STREAMING", "QUORUM"), 0x300)];
        let next = rounds.on_rows(&mut p, &at);
        assert_eq!(
            next.wait,
            RoundWait::RecordShown(QuorumRecord::new(1, &["pg02"]))
        );
    }

    /// Five nodes, `ANY 2` of pg02-pg05 recorded, each with `score`,
    /// pg05's node gone.
    fn five_nodes_without_pg05(score: &str) -> (RepConfig, ClusterView) {
        let c = quorum(
            &cfg(RepMode::Sync, &["pg01", "pg02", "pg03", "pg04", "pg05"]),
            2,
        );
        let mut v = view(
            &["pg01", "pg02", "pg03", "pg04"],
            &["pg05"],
            &[("pg01", "pgsql-acked-on-any", "2 of pg02 pg03 pg04 pg05")],
        );
        v.quorum = true;
        for n in ["pg02", "pg03", "pg04", "pg05"] {
            v = with_attr(&v, n, "master-pgsql", score);
        }
        v.unpromoted = vec!["pg02".into(), "pg03".into(), "pg04".into()];
        (c, v)
    }

    /// The list narrows to pg02-pg04, a new ceiling (0/300) is read, and
    /// the next round sees them flushed `at`: its steps.
    fn narrowed_without_pg05(p: &mut Plan, at: u64) -> Vec<RoundStep> {
        let list = r#"ANY 2 ("pg02", "pg03", "pg04", "pg05")"#;
        let mut rounds =
            StandbyRounds::new(list, Some(&format!("{list}\t0/100\tafter-checkpoint\n")));
        rounds.begin();
        let rows: Vec<ReplicationRow> = ["pg02", "pg03", "pg04"]
            .into_iter()
            .map(|n| flushed(row(n, "STREAMING", "QUORUM"), at))
            .collect();
        rounds.on_rows(p, &rows);
        rounds.on_in_effect(true);
        let proven = note(SyncFlag::Proven);
        rounds.on_sync_flag(START, Some(&proven), None);
        rounds.on_flushed(Some(Lsn(0x300)));
        rounds.on_rows(p, &rows).steps
    }

    /// Third audit N4: a voter that stays listed, recorded and streaming
    /// keeps its score when the list changes, though it reaches the new
    /// ceiling only at the next monitor; one without a score earns it at
    /// the ceiling only.
    #[test]
    fn quorum_a_voter_keeps_its_score_when_the_list_changes() {
        // Unscored, the voters are below the old ceiling too.
        for (score, at, kept) in [("100", 0x100, true), ("-INFINITY", 0xF0, false)] {
            let (c, v) = five_nodes_without_pg05(score);
            let mut p = Plan::new(&c, &v);
            let steps = narrowed_without_pg05(&mut p, at);
            let scored: Vec<String> = kinds(&steps)
                .into_iter()
                .filter(|k| k.contains(":Score"))
                .collect();
            assert_eq!(scored, Vec::<String>::new(), "{score}");
            for n in ["pg02", "pg03", "pg04"] {
                assert_eq!(p.has_positive_score(n), kept, "{score} {n}");
            }
        }
    }

    /// Review R2: a voter is scored only while enough of the record's
    /// voters run to prove its promotion. Three nodes, `1 of pg02 pg03`,
    /// pg03 gone: pg02 at the ceiling is not scored until the record is
    /// narrowed to it (a crash of the primary meanwhile is recovered in
    /// place instead of going to a promotion that gives up).
    #[test]
    fn quorum_no_voter_is_scored_while_the_record_needs_a_gone_one() {
        let (c, v) = primary_fixture();
        let c = quorum(&c, 1);
        let v = with_attr(&v, "pg01", "pgsql-acked-on-any", "1 of pg02 pg03");
        let mut v = standbys_run(&with_attr(&v, "pg02", "master-pgsql", "100"));
        v.nodes.insert("pg03".into(), false);
        v.unpromoted = vec!["pg02".into()];
        let mut p = Plan::new(&c, &v);
        let list = r#"ANY 1 ("pg02")"#;
        let mut rounds =
            StandbyRounds::new(list, Some(&format!("{list}\t0/100\tafter-checkpoint\n")));
        rounds.begin();
        let rows = [flushed(row("pg02", "STREAMING", "QUORUM"), 0x100)];
        let next = rounds.on_rows(&mut p, &rows);
        assert!(
            kinds(&next.steps)[0].contains("pg02:Score=-INFINITY"),
            "{:?}",
            kinds(&next.steps)
        );
        // Once the record names pg02 alone, it is scored.
        let v = with_attr(&v, "pg01", "pgsql-acked-on-any", "1 of pg02");
        let mut p = Plan::new(&c, &v);
        let mut rounds =
            StandbyRounds::new(list, Some(&format!("{list}\t0/100\tafter-checkpoint\n")));
        rounds.begin();
        rounds.on_rows(&mut p, &rows);
        assert!(p.has_positive_score("pg02"));
    }

    /// Wiring audit F1: a standby that caught up is recorded in one
    /// action and listed in the next, whose view shows the record with
    /// quorum: a partition that began meanwhile may have left the record
    /// in this side's CIB alone.
    #[test]
    fn quorum_a_record_written_in_an_action_widens_no_list_in_it() {
        let (c, v) = primary_fixture();
        let c = quorum(&c, 1);
        let v = standbys_run(&with_attr(&v, "pg01", "pgsql-acked-on-any", "1 of pg02"));
        let list = r#"ANY 1 ("pg02")"#;
        let note = format!("{list}\t0/100\tafter-checkpoint\n");
        let rows = [
            flushed(row("pg02", "STREAMING", "QUORUM"), 0x100),
            flushed(row("pg03", "STREAMING", "ASYNC"), 0x100),
        ];
        let mut p = Plan::new(&c, &v);
        let mut rounds = StandbyRounds::new(list, Some(&note));
        rounds.begin();
        let wider = QuorumRecord::new(1, &["pg02", "pg03"]);
        let next = rounds.on_rows(&mut p, &rows);
        assert_eq!(next.wait, RoundWait::RecordShown(wider.clone()));
        assert_eq!(rounds.on_record_shown(true), Next::wait(RoundWait::Rows));
        let next = rounds.on_rows(&mut p, &rows);
        assert!(!next
            .steps
            .iter()
            .any(|s| matches!(s, RoundStep::SetList(_))));
        assert_eq!(next.wait, RoundWait::Done);
        // The next action's view shows it: pg03 is listed.
        let v = with_attr(&v, "pg01", "pgsql-acked-on-any", "1 of pg02 pg03");
        let mut p = Plan::new(&c, &v);
        let mut rounds = StandbyRounds::new(list, Some(&note));
        rounds.begin();
        let next = rounds.on_rows(&mut p, &rows);
        let listed = SyncStandbys::Any(QuorumList::new(1, &["pg02", "pg03"]));
        assert_eq!(next.wait, RoundWait::InEffect(listed));
    }

    /// k raised in the list (five nodes, standbys back): the walsenders
    /// are restarted before the list counts as in effect.
    #[test]
    fn quorum_a_raise_of_k_restarts_the_walsenders() {
        let c = quorum(&cfg(RepMode::Sync, &["pg01", "pg02", "pg03", "pg04"]), 2);
        let mut v = view(
            &["pg01", "pg02", "pg03", "pg04"],
            &[],
            &[("pg01", "pgsql-acked-on-any", "1 of pg02 pg03")],
        );
        v.quorum = true;
        let v = standbys_run(&v);
        let mut p = Plan::new(&c, &v);
        let mut rounds = StandbyRounds::new(r#"ANY 1 ("pg02", "pg03")"#, None);
        rounds.begin();
        let rows = [
            row("pg02", "STREAMING", "QUORUM"),
            row("pg03", "STREAMING", "QUORUM"),
        ];
        let next = rounds.on_rows(&mut p, &rows);
        let raised = SyncStandbys::Any(QuorumList::new(2, &["pg02", "pg03"]));
        assert_eq!(next.steps.last(), Some(&RoundStep::SetList(raised.clone())));
        assert_eq!(next.wait, RoundWait::RestartWalsenders);
        assert_eq!(
            rounds.on_walsenders_restarted(true),
            Next::wait(RoundWait::InEffect(raised))
        );
    }

    /// A settled pair with no ceiling known (the wait for the list's
    /// effect ran out when it changed): one is read, or the voters would
    /// never be scored again until the list changes. A k above the
    /// record's is proven by restarting the walsenders first (the earlier
    /// action's restart may not have finished).
    #[test]
    fn quorum_no_ceiling_is_read_again_and_a_raise_proven_again() {
        let (c, v) = primary_fixture();
        let c = quorum(&c, 1);
        let v = standbys_run(&with_attr(
            &v,
            "pg01",
            "pgsql-acked-on-any",
            "1 of pg02 pg03",
        ));
        let rows = [
            row("pg02", "STREAMING", "QUORUM"),
            row("pg03", "STREAMING", "QUORUM"),
        ];
        let list = r#"ANY 1 ("pg02", "pg03")"#;
        let mut rounds = StandbyRounds::new(list, None);
        rounds.begin();
        let next = rounds.on_rows(&mut Plan::new(&c, &v), &rows);
        assert_eq!(
            next.wait,
            RoundWait::InEffect(SyncStandbys::parse(list).unwrap())
        );
        let c2 = quorum(&c, 2);
        let mut rounds = StandbyRounds::new(r#"ANY 2 ("pg02", "pg03")"#, None);
        rounds.begin();
        let next = rounds.on_rows(&mut Plan::new(&c2, &v), &rows);
        assert_eq!(next.wait, RoundWait::RestartWalsenders);
    }

    fn with_dr(c: &RepConfig) -> RepConfig {
        RepConfig {
            external_standbys: vec!["dr1".into(), "dr2".into()],
            ..c.clone()
        }
    }

    /// A standby outside the cluster starts streaming, then another, then
    /// the first stops: the list follows in the same round each time,
    /// without a barrier, the sync standby keeps its score and its ceiling
    /// record, and a dropped one is warned about in the stock words.
    #[test]
    fn standbys_outside_the_cluster_join_and_leave_without_a_barrier() {
        let (c, v) = primary_fixture();
        let c = with_dr(&c);
        let v = with_attr(&v, "pg02", "master-pgsql", "100");
        let v = with_attr(&v, "pg02", "pgsql-data-status", "STREAMING|SYNC");
        let v = with_attr(&v, "pg02", "pgsql-status", "HS:sync");
        let v = with_attr(&v, "pg03", "pgsql-data-status", "STREAMING|ASYNC");
        let v = with_attr(&v, "pg03", "pgsql-status", "HS:async");
        let v = with_attr(&v, "pg01", "pgsql-acked-also-on", "pg02");
        let record = "FIRST 1 (\"pg02\")\t0/100\tafter-checkpoint\n";
        let cluster_rows = [
            row("pg02", "STREAMING", "SYNC"),
            row("pg03", "STREAMING", "ASYNC"),
        ];
        let steady = |list: &str, rows: &[ReplicationRow]| {
            let mut p = Plan::new(&c, &v);
            let mut rounds = StandbyRounds::new(list, Some(record))
                .with_sync_flag(START, Some(&note(SyncFlag::Proven)));
            rounds.begin();
            assert_eq!(rounds.ceiling, Some(Lsn(0x100)), "{list}");
            let mut all = cluster_rows.to_vec();
            all.extend_from_slice(rows);
            rounds.on_rows(&mut p, &all)
        };
        let dr = |n: &str| row(n, "STREAMING", "ASYNC");
        let with = |externals: &[&str]| SyncStandbys::WithExternals {
            standby: "pg02".into(),
            externals: externals.iter().map(|n| n.to_string()).collect(),
        };
        let kept = format!("{:?}", RoundStep::RecordCeiling(record.into()));
        // dr2 streams (dr1 only catches up): listed alone, the ceiling's
        // record written again.
        let next = steady(
            r#"FIRST 1 ("pg02")"#,
            &[dr("dr2"), row("dr1", "CATCHUP", "ASYNC")],
        );
        assert_eq!(
            kinds(&next.steps),
            [
                "apply []",
                "SetList(WithExternals { standby: \"pg02\", externals: [\"dr2\"] })",
                &kept
            ]
        );
        assert_eq!(next.wait, RoundWait::Done);
        // Not while two connections carry its name (both could fill the
        // list's places without pg02), nor while it has reported no flush.
        let silent = ReplicationRow {
            flush: None,
            ..dr("dr1")
        };
        for rows in [&[dr("dr1"), dr("DR1")][..], &[silent]] {
            assert_eq!(
                kinds(&steady(r#"FIRST 1 ("pg02")"#, rows).steps),
                ["apply []"]
            );
        }
        assert_eq!(with(&["dr2"]).value(), r#"FIRST 2 ("pg02", "dr2")"#);
        // Both stream: in the parameter's order.
        let next = steady(r#"FIRST 2 ("pg02", "dr2")"#, &[dr("dr2"), dr("dr1")]);
        assert!(next
            .steps
            .contains(&RoundStep::SetList(with(&["dr1", "dr2"]))));
        assert_eq!(next.wait, RoundWait::Done);
        // Steady.
        let next = steady(r#"FIRST 3 ("pg02", "dr1", "dr2")"#, &[dr("dr2"), dr("dr1")]);
        assert_eq!(kinds(&next.steps), ["apply []"]);
        // dr1 gone: the warning, the list without it, no score touched,
        // and the commits that waited for it released at once.
        let next = steady(r#"FIRST 3 ("pg02", "dr1", "dr2")"#, &[dr("dr2")]);
        assert_eq!(
            kinds(&next.steps),
            [
                "apply []",
                "apply [warning The synchronous connection from dr1 was disconnected.]",
                "SetList(WithExternals { standby: \"pg02\", externals: [\"dr2\"] })",
                &kept,
                "NudgeStandbys"
            ]
        );
        // Every one gone: back to the sync standby alone.
        let next = steady(r#"FIRST 2 ("pg02", "dr2")"#, &[]);
        assert!(next.steps.contains(&RoundStep::SetList(one("pg02"))));
    }

    /// The sync standby is lost while a standby outside the cluster
    /// streams: the cluster's change goes through the barrier as ever, and
    /// the new list keeps the external one after the new sync standby.
    /// With no standby of the cluster left, the list empties: the externals
    /// never stand in for the cluster's sync standby.
    #[test]
    fn externals_follow_the_sync_standby_and_never_replace_it() {
        let (c, v) = primary_fixture();
        let c = with_dr(&c);
        let v = with_attr(&v, "pg02", "master-pgsql", "100");
        let mut p = Plan::new(&c, &v);
        let mut rounds = StandbyRounds::new(r#"FIRST 2 ("pg02", "dr1")"#, None);
        rounds.begin();
        let dr1 = row("dr1", "STREAMING", "SYNC");
        let next = rounds.on_rows(&mut p, &[row("pg03", "STREAMING", "ASYNC"), dr1.clone()]);
        assert_eq!(
            next.wait,
            RoundWait::Barrier(vec!["pg02".into(), "pg03".into()])
        );
        let next = rounds.on_barrier(true);
        let list = SyncStandbys::WithExternals {
            standby: "pg03".into(),
            externals: vec!["dr1".into()],
        };
        assert_eq!(next.steps, [RoundStep::SetList(list.clone())]);
        assert_eq!(next.wait, RoundWait::InEffect(list.clone()));
        // In effect: pg03 and dr1 both show sync, pg02 (back) async.
        let in_effect = [
            row("pg03", "STREAMING", "SYNC"),
            row("dr1", "STREAMING", "SYNC"),
            row("pg02", "STREAMING", "ASYNC"),
        ];
        assert!(list_in_effect(&in_effect, &list));
        assert!(
            !list_in_effect(&in_effect[..2], &one("pg03")),
            "dr1 is not on that list"
        );
        // pg03 gone too, and stopped by Pacemaker, with quorum: ''.
        let mut v = with_attr(&v, "pg03", "master-pgsql", "-INFINITY");
        v.nodes.insert("pg02".into(), false);
        v.nodes.insert("pg03".into(), false);
        let mut p = Plan::new(&c, &v);
        let mut rounds = StandbyRounds::new(r#"FIRST 2 ("pg03", "dr1")"#, None);
        rounds.begin();
        rounds.on_rows(&mut p, &[dr1]);
        rounds.on_barrier(true);
        assert_eq!(rounds.current, SyncStandbys::Async);
    }

    /// The stock agent's list with a DR standby requires every streaming
    /// node of the cluster too, each scored 100: narrowed to ours, it goes
    /// through the barrier like any change of the cluster's list.
    #[test]
    fn the_stock_list_with_externals_changes_through_the_barrier() {
        let (c, v) = primary_fixture();
        let c = with_dr(&c);
        let v = with_attr(&v, "pg02", "master-pgsql", "100");
        let v = with_attr(&v, "pg03", "master-pgsql", "100");
        let mut p = Plan::new(&c, &v);
        let mut rounds = StandbyRounds::new(r#"FIRST 3 ("pg02", "pg03", "dr1")"#, None);
        rounds.begin();
        let rows = [
            row("pg02", "STREAMING", "SYNC"),
            row("pg03", "STREAMING", "SYNC"),
            row("dr1", "STREAMING", "SYNC"),
        ];
        let next = rounds.on_rows(&mut p, &rows);
        assert_eq!(
            next.wait,
            RoundWait::Barrier(vec!["pg02".into(), "pg03".into()])
        );
        assert!(kinds(&next.steps)[0].contains("pg03:Score=-INFINITY"));
    }

    /// The CIB does not show the score taken away in time: the list stays
    /// (the scheduler might still promote the standby it named).
    #[test]
    fn a_barrier_not_passed_keeps_the_list() {
        let (c, v) = primary_fixture();
        let v = with_attr(&v, "pg02", "master-pgsql", "100");
        let mut p = Plan::new(&c, &v);
        let mut rounds = StandbyRounds::new(r#"FIRST 1 ("pg02")"#, None);
        rounds.begin();
        rounds.on_rows(&mut p, &[row("pg03", "STREAMING", "ASYNC")]);
        let next = rounds.on_barrier(false);
        assert_eq!(
            kinds(&next.steps),
            [
                "apply [warning the CIB does not show the scores taken away yet; \
              synchronous_standby_names stays for now]"
            ]
        );
        assert_eq!(next.wait, RoundWait::Done);
    }

    /// The named standby behind the recorded ceiling: no score until the
    /// next monitor.
    #[test]
    fn a_standby_behind_the_ceiling_waits_for_the_next_monitor() {
        let (c, v) = primary_fixture();
        let mut p = Plan::new(&c, &v);
        let record = "FIRST 1 (\"pg02\")\t0/200\tafter-checkpoint\n";
        let mut rounds = StandbyRounds::new(r#"FIRST 1 ("pg02")"#, Some(record));
        rounds.begin();
        let next = rounds.on_rows(&mut p, &[flushed(row("pg02", "STREAMING", "SYNC"), 0x1FF)]);
        assert_eq!(
            kinds(&next.steps),
            [
                "apply [pg02:DataStatus=STREAMING|SYNC, pg02:Status=HS:sync, \
                 pg03:DataStatus=DISCONNECT]",
                "apply [pg02 has not flushed up to 0/200 yet: no score until it has.]"
            ]
        );
        assert_eq!(next.wait, RoundWait::Done);
    }

    /// No ceiling known and the list never shows in effect: a ceiling is
    /// looked for in each round, and the third round ends the pass (the
    /// safety stop).
    #[test]
    fn the_rounds_stop_after_three() {
        let (c, v) = primary_fixture();
        let mut p = Plan::new(&c, &v);
        let mut rounds = StandbyRounds::new(r#"FIRST 1 ("pg02")"#, None);
        let rows = [row("pg02", "STREAMING", "SYNC")];
        let mut next = rounds.begin();
        let mut seen = 0;
        while next.wait == RoundWait::Rows {
            seen += 1;
            let after = rounds.on_rows(&mut p, &rows);
            assert_eq!(after.wait, RoundWait::InEffect(one("pg02")));
            next = rounds.on_in_effect(false);
            assert!(next.steps.is_empty(), "nothing changed: no nudge");
        }
        assert_eq!(seen, StandbyRounds::ROUNDS);
        assert_eq!(next.wait, RoundWait::Done);
        // No flushed position (none read): no record, the next round.
        let mut rounds = StandbyRounds::new(r#"FIRST 1 ("pg02")"#, None);
        rounds.begin();
        rounds.on_rows(&mut Plan::new(&c, &v), &rows);
        assert_eq!(rounds.on_in_effect(true).wait, RoundWait::SyncFlag);
        assert_eq!(
            rounds
                .on_sync_flag(START, Some(&note(SyncFlag::Proven)), None)
                .wait,
            RoundWait::Flushed
        );
        assert_eq!(rounds.on_flushed(None), Next::wait(RoundWait::Rows));
    }

    /// The list is in effect in pg_stat_replication, but the checkpoint
    /// that proves committing sessions wait for the standby did not
    /// complete: no ceiling is read, so no score, and the pass ends with
    /// the checkpoint pending. A later monitor asks for no new checkpoint:
    /// it reads the ceiling once a completed one is past the mark.
    #[test]
    fn no_ceiling_without_a_checkpoint_after_the_list() {
        let (c, v) = primary_fixture();
        let mut p = Plan::new(&c, &v);
        let rows = [flushed(row("pg02", "STREAMING", "SYNC"), 0x300)];
        let begin = |p: &mut Plan| {
            let mut rounds = StandbyRounds::new(r#"FIRST 1 ("pg02")"#, None);
            rounds.begin();
            assert_eq!(
                rounds.on_rows(p, &rows).wait,
                RoundWait::InEffect(one("pg02"))
            );
            assert_eq!(rounds.on_in_effect(true).wait, RoundWait::SyncFlag);
            rounds
        };
        let mut rounds = begin(&mut p);
        assert_eq!(
            rounds.on_sync_flag(START, None, None).wait,
            RoundWait::Checkpoint
        );
        let next = rounds.on_checkpointed(Some(Lsn(0x2F0)), false);
        assert_eq!(
            kinds(&next.steps),
            [
                "RecordSyncFlag(\"pending\\t2026-12-06 12:00:00+00\\t0/2F0\\n\")",
                "apply [no checkpoint has completed since synchronous_standby_names took effect \
                 (at 0/2F0): no ceiling yet, a later monitor looks again.]"
            ]
        );
        assert_eq!(next.wait, RoundWait::Done);
        let pending = SyncFlag::Pending(Lsn(0x2F0));
        // A later monitor: the last checkpoint is older than the mark.
        let mut rounds = begin(&mut p);
        let next = rounds.on_sync_flag(START, Some(&note(pending)), Some(Lsn(0x200)));
        assert_eq!(next.wait, RoundWait::Done, "no new checkpoint asked for");
        assert!(!kinds(&next.steps).iter().any(|k| k.contains("Score=100")));
        // Then one completed past it: the flag is proven, the ceiling read.
        let mut rounds = begin(&mut p);
        assert_eq!(
            rounds.on_sync_flag(START, Some(&note(pending)), Some(Lsn(0x2F0))),
            Next {
                steps: vec![RoundStep::RecordSyncFlag(note(SyncFlag::Proven))],
                wait: RoundWait::Flushed
            }
        );
    }

    /// A note a former postmaster wrote proves nothing: a restarted
    /// PostgreSQL asks for the checkpoint again.
    #[test]
    fn the_sync_flag_of_another_postmaster_counts_as_none() {
        let (c, v) = primary_fixture();
        let mut p = Plan::new(&c, &v);
        let mut rounds = StandbyRounds::new(r#"FIRST 1 ("pg02")"#, None);
        rounds.begin();
        rounds.on_rows(&mut p, &[flushed(row("pg02", "STREAMING", "SYNC"), 0x300)]);
        rounds.on_in_effect(true);
        let older = sync_flag_note(SyncFlag::Proven, "2026-12-06 11:00:00+00");
        assert_eq!(
            rounds.on_sync_flag(START, Some(&older), None).wait,
            RoundWait::Checkpoint
        );
    }

    /// A ceiling recorded by an earlier version of the agent, read without
    /// the checkpoint, is not trusted: a new one is read.
    #[test]
    fn a_ceiling_recorded_without_the_checkpoint_is_not_trusted() {
        let list = SyncStandbys::parse(r#"FIRST 1 ("pg02")"#).unwrap();
        let old = "FIRST 1 (\"pg02\")\t0/200\n";
        assert_eq!(recorded_ceiling(Some(old), &list), None);
        let now = ceiling_record(&list, Lsn(0x200));
        assert_eq!(recorded_ceiling(Some(&now), &list), Some(Lsn(0x200)));
        let other = SyncStandbys::parse(r#"FIRST 1 ("pg03")"#).unwrap();
        assert_eq!(recorded_ceiling(Some(&now), &other), None);
    }

    #[test]
    fn the_list_in_effect_and_the_ceiling_reached() {
        let rows = [
            flushed(row("PG02", "STREAMING", "SYNC"), 0x200),
            row("pg03", "STREAMING", "ASYNC"),
        ];
        assert!(list_in_effect(&rows, &one("pg02")));
        assert!(!list_in_effect(&rows, &one("pg03")));
        let potential = [
            row("pg02", "STREAMING", "SYNC"),
            row("pg03", "STREAMING", "POTENTIAL"),
        ];
        assert!(
            !list_in_effect(&potential, &one("pg02")),
            "pg03 still on the old list"
        );
        assert!(!list_in_effect(&[], &one("pg02")));
        assert!(reached_ceiling(&rows, "pg02", Lsn(0x200)));
        assert!(!reached_ceiling(&rows, "pg02", Lsn(0x201)));
        assert!(!reached_ceiling(&rows, "pg04", Lsn(0)));
    }

    #[test]
    fn the_barrier_and_the_preference() {
        assert!(revocation_shown(Some("-INFINITY")));
        assert!(revocation_shown(None), "a node that left has no score");
        assert!(!revocation_shown(Some("100")));
        let (mut c, _) = primary_fixture();
        let rows = [
            row("pg02", "STREAMING", "SYNC"),
            row("pg03", "STREAMING", "ASYNC"),
        ];
        assert!(!preference_fulfilled(&c, &rows));
        c.sync_preference = Some("pg03".into());
        assert!(!preference_fulfilled(&c, &rows));
        c.sync_preference = Some("PG02".into());
        assert!(preference_fulfilled(&c, &rows));
        let (c, v) = primary_fixture();
        let v = with_attr(&v, "pg02", "master-pgsql", "100");
        let mut p = Plan::new(&c, &v);
        p.other_score("pg02", Score::CanNotPromote);
        p.other_score("pg03", Score::CanPromote);
        assert_eq!(revoked_scores(&p.writes), ["pg02"]);
    }
}
