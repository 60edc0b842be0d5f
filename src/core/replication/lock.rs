//! `PGSQL.lock`: what start and demote decide from it. The stock agent
//! only tests the lock's existence; a clean demote writes where it shut
//! down into it, which is what lets the node prove later that it is not
//! ahead of the new primary. And a crashed primary's recovery in place.

use super::plan::{Attr, DataStatus, Plan, Score, Status, Write};
use crate::core::lsn::Lsn;
use crate::error::AgentError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    Absent,
    /// Created at promote (or by the stock agent): the data may be ahead.
    Held,
    /// Demoted with a shutdown checkpoint at `checkpoint` on timeline `tli`.
    CleanDemote {
        checkpoint: Lsn,
        tli: u32,
    },
}

const CLEAN_DEMOTE: &str = "clean demote: shutdown checkpoint ";

impl Lock {
    /// From the lock file's content (`None`: no file).
    pub fn parse(content: Option<&str>) -> Lock {
        let Some(text) = content else {
            return Lock::Absent;
        };
        let parsed = text.trim().strip_prefix(CLEAN_DEMOTE).and_then(|rest| {
            let (lsn, tli) = rest.split_once(" on timeline ")?;
            Some(Lock::CleanDemote {
                checkpoint: lsn.parse().ok()?,
                tli: tli.parse().ok()?,
            })
        });
        parsed.unwrap_or(Lock::Held)
    }

    pub fn clean_demote_text(checkpoint: Lsn, tli: u32) -> String {
        format!("{CLEAN_DEMOTE}{checkpoint} on timeline {tli}\n")
    }

    /// PostgreSQL has proven this cleanly demoted node is not ahead: it
    /// streams on a newer timeline and has replayed past its own shutdown
    /// checkpoint, which PostgreSQL allows only when the new timeline forked
    /// after it.
    pub fn proven_not_ahead(
        &self,
        streaming: bool,
        received_tli: Option<u32>,
        replay: Option<Lsn>,
    ) -> bool {
        match *self {
            Lock::CleanDemote { checkpoint, tli } => {
                streaming
                    && received_tli.is_some_and(|t| t > tli)
                    && replay.is_some_and(|r| r > checkpoint)
            }
            Lock::Absent | Lock::Held => false,
        }
    }
}

/// A crash lock (`Held`: this node was a primary and did not demote
/// cleanly, so it may hold WAL nobody else has) that a record proves
/// harmless: `named`, a primary's `acked-also-on` names this node (and the
/// caller's fact that it has stayed a standby since). That primary wrote
/// the record in its own tenure (a new primary deletes its own before it
/// leaves recovery), in the pass that scored this node: it streamed that
/// primary's timeline as the sync standby past a ceiling read after the
/// fork. PostgreSQL lets a crashed primary follow a newer timeline only
/// after replaying all its own WAL and finding the fork at or after its
/// end, so none of its WAL is unknown to that primary. Kept, the lock
/// would refuse the start of the node the records name the holder of every
/// acknowledged commit. Not with `restore_command`: a shared archive can
/// hand the node the newer timeline's history before it has replayed its
/// own WAL, and it then follows that timeline past the fork unchecked; nor
/// on a node that said `DIVERGED`.
pub fn crash_lock_answered_by_record(plan: &Plan, lock: Lock, named: bool) -> bool {
    lock == Lock::Held
        && named
        && !plan.cfg.archive_recovery
        && plan.current_data_status(&plan.cfg.me) != Some(DataStatus::Diverged)
}

/// What `start` does about the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartGate {
    /// No lock: start as a standby.
    Standby,
    /// A lock from a promote (a crash, or the stock agent): refuse, as the
    /// stock agent does.
    Refuse,
    /// A clean demote, and a primary runs elsewhere: start as a standby and
    /// wait for the streaming proof, else stop and refuse.
    StandbyThenProve,
    /// A clean demote and nobody promoted since (the whole cluster
    /// stopped), or the crashed last primary with nobody promoted since:
    /// nothing can be ahead of it; start and keep the lock.
    StandbyKeepLock,
}

/// `last_primary`: [`last_primary`]. A crashed primary whose node comes
/// back while nobody was promoted after it (its node crashed while no
/// other node could be promoted) starts as a standby: replaying its own
/// WAL gives its real position, and the election, which waits for every
/// node's final position, promotes it again; it holds every acknowledged
/// commit. Otherwise its lock refuses the start, as the stock agent's.
pub fn start_gate(lock: Lock, promoted_elsewhere: bool, last_primary: bool) -> StartGate {
    match lock {
        Lock::Absent => StartGate::Standby,
        Lock::Held if last_primary && !promoted_elsewhere => StartGate::StandbyKeepLock,
        Lock::Held => StartGate::Refuse,
        Lock::CleanDemote { .. } if promoted_elsewhere => StartGate::StandbyThenProve,
        Lock::CleanDemote { .. } => StartGate::StandbyKeepLock,
    }
}

/// How a demote's shutdown went, from `pg_ctl` and `global/pg_control`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoteShutdown {
    /// pg_ctl had to use `-m immediate`.
    pub immediate: bool,
    /// pg_control says `shut down`.
    pub clean: bool,
    pub checkpoint: Lsn,
    pub tli: u32,
    pub lock_exists: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterDemote {
    /// No shutdown checkpoint: stay stopped behind the lock (the stock
    /// behaviour), with this exit reason.
    StayStopped,
    /// Start again as a standby; write this into the lock first.
    RestartAsStandby { record: Option<String> },
}

/// Demote's stay-stopped rule: only a shutdown checkpoint lets the node
/// prove later that it is not ahead; without one it stays stopped.
pub fn after_demote(s: DemoteShutdown) -> AfterDemote {
    if s.immediate || !s.clean {
        return AfterDemote::StayStopped;
    }
    let record = s
        .lock_exists
        .then(|| Lock::clean_demote_text(s.checkpoint, s.tli));
    AfterDemote::RestartAsStandby { record }
}

/// One step of a demote, performed in order by the executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DemoteStep {
    /// Attribute writes that may land in any order: made at once, all of
    /// them before the next step.
    Records(Vec<Write>),
    /// Stop PostgreSQL (`-m fast`, escalated to immediate after
    /// `stop_escalate`, or after `fast_secs` when given); what it found
    /// goes back to [`after_demote_stop`].
    Stop { fast_secs: Option<u64> },
    /// No standby is left: the lock goes (the stock agent's rule).
    RemoveLock,
    /// Write the clean-demote record into `PGSQL.lock`.
    MarkCleanDemote(String),
    /// The standby settings, then start PostgreSQL as a standby: it shut
    /// down cleanly at `checkpoint`.
    StartAsStandby { checkpoint: Lsn },
    /// Done: the demote succeeds, with this failure's exit reason (and
    /// detail) reported when there is one (PostgreSQL stays stopped).
    Done { exit_reason: Option<AgentError> },
}

/// What a demote's stop found, for [`after_demote_stop`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoteStopFacts {
    /// `None`: nothing was running (or only a stale `postmaster.pid`).
    pub shutdown: Option<DemoteShutdown>,
    /// The notification says no unpromoted instance is left.
    pub no_standby_left: bool,
    /// `pg_control`'s cluster state, in words, and where `PGSQL.lock` is:
    /// for the exit reason (and its detail) when PostgreSQL stays stopped.
    pub cluster_state: String,
    pub lock_path: String,
}

/// The demote's first steps: the score and the baseline go, then the stop.
///
/// Without quorum (`no-quorum-policy=stop` demotes a primary cut off from
/// the others) the fast shutdown gets [`CUT_OFF_FAST_SECS`], then
/// PostgreSQL stops at once (`-m immediate`). A fast shutdown has its
/// walsenders send everything to the standbys: those it still reaches get
/// it within that time (in async mode the commits it acknowledged alone
/// are among it), while one it is cut off from held the shutdown, and the
/// VIP, until `wal_sender_timeout` (60 s by default), as the others
/// promoted a new primary. What an unreachable standby lacks was never
/// acknowledged in sync and quorum modes, the others do not wait for it,
/// and the node stays behind its lock until it rejoins (`auto_rewind`) or
/// is resynchronised.
pub fn demote_begin(plan: &mut Plan) -> Vec<DemoteStep> {
    let me = plan.cfg.me.clone();
    plan.own_score(Score::CanNotPromote);
    plan.delete(&me, Attr::MasterBaseline);
    vec![
        DemoteStep::Records(std::mem::take(&mut plan.writes)),
        DemoteStep::Stop {
            fast_secs: (!plan.view.quorum).then_some(CUT_OFF_FAST_SECS),
        },
    ]
}

/// How long a demote without quorum lets the fast shutdown send WAL to
/// the standbys it still reaches ([`demote_begin`]).
pub const CUT_OFF_FAST_SECS: u64 = 5;

/// The rest of a demote once PostgreSQL stopped: `STOP`, then either stay
/// stopped (nothing ran, or no shutdown checkpoint: [`after_demote`]) or
/// start again as a standby, `HS:alone`.
pub fn after_demote_stop(plan: &mut Plan, facts: &DemoteStopFacts) -> Vec<DemoteStep> {
    let me = plan.cfg.me.clone();
    let mut steps = Vec::new();
    if facts.no_standby_left {
        steps.push(DemoteStep::RemoveLock);
    }
    plan.status(&me, Status::Stop);
    steps.push(DemoteStep::Records(std::mem::take(&mut plan.writes)));
    let Some(mut shutdown) = facts.shutdown else {
        steps.push(DemoteStep::Done { exit_reason: None });
        return steps;
    };
    // A lock removed above gets no clean-demote record.
    shutdown.lock_exists &= !facts.no_standby_left;
    match after_demote(shutdown) {
        // Cut off from the others: it may be the only node holding every
        // acknowledged commit, and nobody may be promoted yet.
        AfterDemote::StayStopped if !plan.view.quorum => steps.push(DemoteStep::Done {
            exit_reason: Some(
                AgentError::generic(
                    "demoted without quorum or a shutdown checkpoint: stopped behind PGSQL.lock \
                     until it rejoins (auto_rewind) or is resynced",
                )
                .with_detail(format!(
                    "demoted without quorum, stopped without a shutdown checkpoint (cluster \
                     state: {}); PostgreSQL stays stopped behind {} until it rejoins \
                     (auto_rewind) or another node is promoted and it is resynchronised",
                    facts.cluster_state, facts.lock_path
                )),
            ),
        }),
        AfterDemote::StayStopped => steps.push(DemoteStep::Done {
            exit_reason: Some(
                AgentError::generic(format!(
                    "demoted without a shutdown checkpoint ({}); stopped behind PGSQL.lock: \
                     resync this node, then remove the lock",
                    facts.cluster_state
                ))
                .with_detail(format!(
                    "demoted without a shutdown checkpoint (cluster state: {}); PostgreSQL stays \
                     stopped behind {}: resynchronise this node, then remove the lock",
                    facts.cluster_state, facts.lock_path
                )),
            ),
        }),
        AfterDemote::RestartAsStandby { record } => {
            steps.extend(record.map(DemoteStep::MarkCleanDemote));
            steps.push(DemoteStep::StartAsStandby {
                checkpoint: shutdown.checkpoint,
            });
            plan.status(&me, Status::HsAlone);
            steps.push(DemoteStep::Records(std::mem::take(&mut plan.writes)));
            steps.push(DemoteStep::Done { exit_reason: None });
        }
    }
    steps
}

/// A primary whose PostgreSQL crashed (its monitor finds `postmaster.pid`
/// naming a dead process) while no other node can be promoted: it runs
/// crash recovery where it is, instead of leaving the cluster without a
/// primary until an operator comes. It holds every acknowledged commit:
/// it flushed each one before acknowledging it, and nothing was promoted
/// since (it is still the promoted instance). When another node has a
/// positive score, the failover is the way back and the monitor fails as
/// usual. `recently`: it already recovered in place a short while ago; a
/// primary that keeps crashing is left to Pacemaker's failure policy.
pub fn recover_in_place(plan: &Plan, recently: bool) -> Result<(), String> {
    let me = &plan.cfg.me;
    if !plan.view.promoted.contains(me) {
        return Err("this node is not the promoted instance".into());
    }
    if !plan.view.quorum {
        return Err("this partition has no quorum".into());
    }
    if let Some(n) = plan.cfg.others().find(|n| plan.may_be_promoted(n)) {
        return Err(format!("{n} can be promoted instead"));
    }
    if recently {
        return Err("it already recovered in place a short while ago".into());
    }
    Ok(())
}

/// This node was the last primary: its data-status is still `LATEST` and no
/// other node's is (a promotion writes `LATEST` for the new primary and
/// `DISCONNECT` for every other node), and nobody may be promoted instead.
pub fn last_primary(plan: &Plan) -> bool {
    is_last_primary(plan, &plan.cfg.me)
}

/// [`last_primary`], for any node of node_list. A second `LATEST` is
/// allowed only when its `acked-also-on` names `node`: the former primary
/// of a promotion under way (or one that stopped before its records
/// ended), whose recorded holder `node` is. In quorum mode, when its
/// record (`acked-on-any`) names `node` a voter: a voter says `LATEST`
/// only once its check at promotion compared enough voters' positions.
pub fn is_last_primary(plan: &Plan, node: &str) -> bool {
    let names_node = |n: &str| {
        plan.current(n, Attr::AckedAlsoOn) == Some(node)
            || super::quorum::record_on(plan, n).voters.contains(node)
    };
    plan.current_data_status(node) == Some(DataStatus::Latest)
        && plan.cfg.node_list.iter().filter(|n| *n != node).all(|n| {
            let latest = plan.current_data_status(n) == Some(DataStatus::Latest);
            (!latest || names_node(n)) && !plan.may_be_promoted(n)
        })
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::super::*;
    use crate::core::crm_mon::ClusterView;
    use crate::core::lsn::Lsn;

    #[test]
    fn lock_contents() {
        assert_eq!(Lock::parse(None), Lock::Absent);
        assert_eq!(Lock::parse(Some("")), Lock::Held);
        assert_eq!(Lock::parse(Some("garbage")), Lock::Held);
        let text = Lock::clean_demote_text(Lsn(0x40C_9EE0), 4);
        assert_eq!(
            text,
            "clean demote: shutdown checkpoint 0/40C9EE0 on timeline 4\n"
        );
        assert_eq!(
            Lock::parse(Some(&text)),
            Lock::CleanDemote {
                checkpoint: Lsn(0x40C_9EE0),
                tli: 4
            }
        );
        assert_eq!(
            Lock::parse(Some("clean demote: shutdown checkpoint zz on timeline 4")),
            Lock::Held
        );
    }

    #[test]
    fn only_streaming_past_the_checkpoint_on_a_newer_timeline_proves_safety() {
        let lock = Lock::CleanDemote {
            checkpoint: Lsn(100),
            tli: 4,
        };
        assert!(lock.proven_not_ahead(true, Some(5), Some(Lsn(101))));
        assert!(
            !lock.proven_not_ahead(false, Some(5), Some(Lsn(101))),
            "not streaming"
        );
        assert!(
            !lock.proven_not_ahead(true, Some(4), Some(Lsn(101))),
            "same timeline"
        );
        assert!(
            !lock.proven_not_ahead(true, Some(5), Some(Lsn(100))),
            "not past the checkpoint"
        );
        assert!(!lock.proven_not_ahead(true, None, Some(Lsn(101))));
        assert!(
            !Lock::Held.proven_not_ahead(true, Some(9), Some(Lsn(999))),
            "a crashed primary's lock"
        );
        assert!(!Lock::Absent.proven_not_ahead(true, Some(9), Some(Lsn(999))));
    }

    #[test]
    fn the_lock_at_start() {
        let clean = Lock::CleanDemote {
            checkpoint: Lsn(1),
            tli: 1,
        };
        assert_eq!(start_gate(Lock::Absent, true, false), StartGate::Standby);
        assert_eq!(start_gate(Lock::Held, false, false), StartGate::Refuse);
        assert_eq!(start_gate(Lock::Held, true, true), StartGate::Refuse);
        assert_eq!(
            start_gate(Lock::Held, false, true),
            StartGate::StandbyKeepLock
        );
        assert_eq!(start_gate(clean, true, false), StartGate::StandbyThenProve);
        assert_eq!(start_gate(clean, false, false), StartGate::StandbyKeepLock);
    }

    #[test]
    fn demote_stays_stopped_without_a_shutdown_checkpoint() {
        let s = DemoteShutdown {
            immediate: false,
            clean: true,
            checkpoint: Lsn(0x3000028),
            tli: 3,
            lock_exists: true,
        };
        assert_eq!(
            after_demote(s),
            AfterDemote::RestartAsStandby {
                record: Some("clean demote: shutdown checkpoint 0/3000028 on timeline 3\n".into())
            }
        );
        assert_eq!(
            after_demote(DemoteShutdown {
                lock_exists: false,
                ..s
            }),
            AfterDemote::RestartAsStandby { record: None }
        );
        assert_eq!(
            after_demote(DemoteShutdown {
                immediate: true,
                ..s
            }),
            AfterDemote::StayStopped
        );
        assert_eq!(
            after_demote(DemoteShutdown { clean: false, ..s }),
            AfterDemote::StayStopped
        );
    }

    /// The demote's steps: score and baseline, the stop, then STOP and either
    /// the restart as a standby (with the clean-demote record while the lock
    /// stays) or the stay behind the lock with its reason.
    #[test]
    fn the_demote_steps() {
        let (c, mut v) = primary_fixture();
        v.attributes
            .entry("pg01".into())
            .or_default()
            .insert("pgsql-master-baseline".into(), "0000000003000028".into());
        let mut p = Plan::new(&c, &v);
        let begin = demote_begin(&mut p);
        assert!(
            matches!(&begin[..], [DemoteStep::Records(w), DemoteStep::Stop { fast_secs: None }]
            if w.len() == 2 && w[0].attr == Attr::Score && w[1].attr == Attr::MasterBaseline)
        );
        // Cut off from the others (no quorum): PostgreSQL stops soon.
        let mut lonely = v.clone();
        lonely.quorum = false;
        let begin = demote_begin(&mut Plan::new(&c, &lonely));
        let fast_secs = Some(CUT_OFF_FAST_SECS);
        assert_eq!(begin.last(), Some(&DemoteStep::Stop { fast_secs }));
        let kinds = |steps: &[DemoteStep]| -> Vec<String> {
            steps
                .iter()
                .map(|s| match s {
                    DemoteStep::Records(w) => format!(
                        "records {}",
                        w.iter()
                            .map(|w| w.wire().unwrap_or_default())
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                    DemoteStep::MarkCleanDemote(_) => "mark".into(),
                    DemoteStep::StartAsStandby { checkpoint } => {
                        assert_eq!(*checkpoint, Lsn(0x3000028));
                        "StartAsStandby".into()
                    }
                    DemoteStep::Done { exit_reason } => format!("done {}", exit_reason.is_some()),
                    other => format!("{other:?}"),
                })
                .collect()
        };
        let clean = DemoteShutdown {
            immediate: false,
            clean: true,
            checkpoint: Lsn(0x3000028),
            tli: 3,
            lock_exists: true,
        };
        let facts = |shutdown, no_standby_left| DemoteStopFacts {
            shutdown,
            no_standby_left,
            cluster_state: "shut down".into(),
            lock_path: "/tmp/PGSQL.lock".into(),
        };
        let after = |f: &DemoteStopFacts| kinds(&after_demote_stop(&mut Plan::new(&c, &v), f));
        assert_eq!(
            after(&facts(Some(clean), false)),
            [
                "records STOP",
                "mark",
                "StartAsStandby",
                "records HS:alone",
                "done false"
            ]
        );
        // The lock goes when no standby is left: no record is written into it.
        assert_eq!(
            after(&facts(Some(clean), true)),
            [
                "RemoveLock",
                "records STOP",
                "StartAsStandby",
                "records HS:alone",
                "done false"
            ]
        );
        let dirty = DemoteShutdown {
            clean: false,
            ..clean
        };
        assert_eq!(
            after(&facts(Some(dirty), false)),
            ["records STOP", "done true"]
        );
        assert_eq!(after(&facts(None, false)), ["records STOP", "done false"]);
    }

    /// A demote that leaves PostgreSQL stopped says why and what to do in
    /// an exit reason that fits, whatever the cluster state; the log gives
    /// the lock's path.
    #[test]
    fn a_demote_that_stays_stopped_says_so_in_an_exit_reason_that_fits() {
        let (c, v) = primary_fixture();
        let mut lonely = v.clone();
        lonely.quorum = false;
        let dirty = DemoteShutdown {
            immediate: true,
            clean: false,
            checkpoint: Lsn(0x1F_ABCD_EF01),
            tli: 123,
            lock_exists: true,
        };
        let lock_path = "/var/lib/postgresql/15/main/tmp/PGSQL.lock";
        let mut reasons = Vec::new();
        use crate::core::controldata::DbState;
        for state in (0..).map_while(DbState::from_raw) {
            for view in [&v, &lonely] {
                let facts = DemoteStopFacts {
                    shutdown: Some(dirty),
                    no_standby_left: false,
                    cluster_state: state.words().into(),
                    lock_path: lock_path.into(),
                };
                let steps = after_demote_stop(&mut Plan::new(&c, view), &facts);
                let Some(DemoteStep::Done {
                    exit_reason: Some(why),
                }) = steps.last()
                else {
                    panic!("{steps:?}")
                };
                assert!(why.reason().len() <= crate::error::EXIT_REASON_MAX, "{why}");
                assert!(why.explained().contains(lock_path), "{why:?}");
                reasons.push(why.reason().to_string());
            }
        }
        assert!(reasons.contains(
            &"demoted without a shutdown checkpoint (in production); stopped behind PGSQL.lock: \
              resync this node, then remove the lock"
                .to_string()
        ));
        assert!(reasons.contains(
            &"demoted without quorum or a shutdown checkpoint: stopped behind PGSQL.lock until it \
              rejoins (auto_rewind) or is resynced"
                .to_string()
        ));
    }

    /// A crashed primary recovers in place only while it is the promoted
    /// instance, with quorum, when no other node can be promoted, and not
    /// again right after doing so.
    #[test]
    fn a_crashed_primary_recovers_in_place_only_when_nobody_else_can_be_promoted() {
        let (c, mut v) = primary_fixture();
        v.promoted = vec!["pg01".into()];
        let verdict = |v: &ClusterView, recently| recover_in_place(&Plan::new(&c, v), recently);
        assert_eq!(verdict(&v, false), Ok(()));
        assert!(verdict(&v, true).unwrap_err().contains("a short while ago"));
        let scored = with_attr(&v, "pg02", "master-pgsql", "100");
        assert_eq!(
            verdict(&scored, false),
            Err("pg02 can be promoted instead".into())
        );
        // A score kept by an instance that failed does not count: a stopped
        // one with a fail count stays stopped, a failed one is being stopped.
        let mut stopped_after_failing = scored.clone();
        stopped_after_failing.fail_counts.insert("pg02".into(), 1);
        assert_eq!(verdict(&stopped_after_failing, false), Ok(()));
        let mut failing = scored.clone();
        failing.unpromoted = vec!["pg02".into()];
        failing.failed = vec!["pg02".into()];
        assert_eq!(verdict(&failing, false), Ok(()));
        // Running with an old failure, it can still be promoted.
        let mut running = stopped_after_failing.clone();
        running.unpromoted = vec!["pg02".into()];
        assert_eq!(
            verdict(&running, false),
            Err("pg02 can be promoted instead".into())
        );
        let mut no_quorum = v.clone();
        no_quorum.quorum = false;
        assert!(verdict(&no_quorum, false).unwrap_err().contains("quorum"));
        let mut standby = v.clone();
        standby.promoted.clear();
        assert!(verdict(&standby, false)
            .unwrap_err()
            .contains("not the promoted"));
    }

    /// The crashed last primary: its own data-status still LATEST, nobody
    /// else's, nobody scored.
    #[test]
    fn the_last_primary_is_known_by_its_data_status() {
        let (c, mut v) = primary_fixture();
        let last = |v: &ClusterView| last_primary(&Plan::new(&c, v));
        assert!(!last(&v), "no data-status");
        v.attributes
            .entry("pg01".into())
            .or_default()
            .insert("pgsql-data-status".into(), "LATEST".into());
        assert!(last(&v));
        let promoted_since = with_attr(&v, "pg02", "pgsql-data-status", "LATEST");
        assert!(!last(&promoted_since), "pg02 was promoted after it");
        let scored = with_attr(&v, "pg03", "master-pgsql", "100");
        assert!(!last(&scored), "pg03 can be promoted");
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn fuzz_lock_parse(text in prop::option::of(".{0,80}"), lsn: u64, tli: u32) {
                let _ = Lock::parse(text.as_deref());
                prop_assert_eq!(
                    Lock::parse(Some(&Lock::clean_demote_text(Lsn(lsn), tli))),
                    Lock::CleanDemote { checkpoint: Lsn(lsn), tli }
                );
            }
        }
    }
}
