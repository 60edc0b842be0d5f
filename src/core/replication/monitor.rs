//! monitor of a replicated instance, as ordered steps: a standby's pass
//! (the election or the lock's release, then the divergence check).

use super::diverge::{divergence_check, history_to_check, DivergenceFacts};
use super::election::{standby_monitor, ElectionFiles, StandbyFacts};
use super::plan::{Batch, Plan};
use super::start_stop::NOT_AHEAD;

/// One step of a standby's pass, performed in order by the executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StandbyStep {
    /// The election counter files: written again, or gone.
    Election(ElectionFiles),
    /// `PGSQL.lock` goes, for this reason.
    RemoveLock(&'static str),
    Apply(Batch),
}

/// A standby's pass: its steps, then the failure it reports, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandbyPass {
    pub steps: Vec<StandbyStep>,
    /// The exit reason: its position could not be read for an election
    /// (nothing is written then), or it diverged
    /// ([`divergence_check`], after its writes).
    pub failure: Option<String>,
}

/// A standby's pass, in its monitor and in the post-stop election:
/// [`standby_monitor`] (the election, or the lock's release), then, when
/// [`history_to_check`] names the promoted node, [`divergence_check`]
/// against the history it published (`facts.primary_history`).
pub fn standby_pass(plan: &mut Plan, facts: &StandbyFacts) -> StandbyPass {
    let primary = history_to_check(plan, facts.streaming);
    let outcome = match standby_monitor(plan, facts) {
        Ok(outcome) => outcome,
        Err(reason) => {
            return StandbyPass {
                steps: Vec::new(),
                failure: Some(reason),
            }
        }
    };
    let mut steps = Vec::new();
    if outcome.election != ElectionFiles::Keep {
        steps.push(StandbyStep::Election(outcome.election));
    }
    if outcome.remove_lock {
        steps.push(StandbyStep::RemoveLock(NOT_AHEAD));
    }
    let failure = primary.and_then(|primary| {
        let divergence = DivergenceFacts {
            primary: &primary,
            published: facts.primary_history.as_deref(),
            wal_tli: facts.wal_tli,
            position: facts.location.map(|l| l.lsn),
            streaming: facts.streaming,
            received_tli: facts.received_tli,
        };
        divergence_check(plan, &divergence)
    });
    steps.push(StandbyStep::Apply(plan.take()));
    StandbyPass { steps, failure }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::super::*;
    use crate::config::RepMode;
    use crate::core::lsn::Lsn;

    /// A position that cannot be read fails the monitor and writes nothing,
    /// not even what came before the election.
    #[test]
    fn an_unreadable_position_writes_nothing() {
        let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
        let v = view(&["pg01", "pg02", "pg03"], &[], &[]);
        let mut facts = standby_facts(true);
        facts.location = None;
        let pass = standby_pass(&mut Plan::new(&c, &v), &facts);
        assert_eq!(pass.steps, []);
        assert_eq!(
            pass.failure.as_deref(),
            Some("Failed to show my xlog location.")
        );
    }

    /// Without a promoted node: the election's writes and its counter.
    #[test]
    fn the_election_writes_its_counter_then_its_attributes() {
        let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
        let v = view(&["pg01", "pg02", "pg03"], &[], &[]);
        let pass = standby_pass(&mut Plan::new(&c, &v), &standby_facts(true));
        assert_eq!(pass.failure, None);
        assert!(
            matches!(&pass.steps[..], [StandbyStep::Election(ElectionFiles::Write(_)), StandbyStep::Apply(b)]
                if b.infos.contains(&"Waiting for the position of pg02, pg03 before anyone is promoted.".to_string())),
            "{:?}",
            pass.steps
        );
    }

    /// A rejoined former primary that streams from the new primary past its
    /// clean demote's checkpoint: the lock goes.
    #[test]
    fn a_proven_former_primary_releases_its_lock() {
        let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
        let mut v = view(&["pg01", "pg02", "pg03"], &[], &[]);
        v.promoted = vec!["pg02".into()];
        let mut facts = standby_facts(false);
        facts.lock = Lock::CleanDemote {
            checkpoint: Lsn(400),
            tli: 1,
        };
        let pass = standby_pass(&mut Plan::new(&c, &v), &facts);
        assert_eq!(pass.failure, None);
        assert_eq!(
            pass.steps,
            [
                StandbyStep::RemoveLock(NOT_AHEAD),
                StandbyStep::Apply(Batch::default())
            ]
        );
    }

    /// A standby that does not stream checks the history the promoted node
    /// published: past the fork, it says so and fails, after its writes.
    #[test]
    fn a_diverged_standby_writes_its_verdict_then_fails() {
        let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
        let mut v = view(&["pg01", "pg02", "pg03"], &[], &[]);
        v.promoted = vec!["pg02".into()];
        let mut facts = standby_facts(true);
        facts.location = Some(Location {
            tli: Some(1),
            lsn: at("0/5000100"),
        });
        facts.wal_tli = Some(1);
        facts.primary_history = Some("2:1@0/5000028".into());
        let mut p = Plan::new(&c, &v);
        let pass = standby_pass(&mut p, &facts);
        assert!(pass.failure.unwrap().starts_with("diverged: "));
        let [StandbyStep::Apply(b)] = &pass.steps[..] else {
            panic!("{:?}", pass.steps)
        };
        assert_eq!(
            b.writes.iter().map(|w| w.attr).collect::<Vec<_>>(),
            [Attr::Score, Attr::DataStatus, Attr::Status]
        );
        // Streaming, it follows the primary: no check.
        let streaming = StandbyFacts {
            streaming: true,
            ..facts.clone()
        };
        let pass = standby_pass(&mut Plan::new(&c, &v), &streaming);
        assert_eq!(pass.failure, None);
    }
}
