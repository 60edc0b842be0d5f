//! Diverged standbys: a standby whose WAL went past the point where its
//! timeline ended in the promoted node's history can never follow that
//! primary (PostgreSQL refuses to stream it: "requested starting point ...
//! is not in this server's history"). Without a verdict it would stay
//! Started, `DISCONNECT`, forever. The primary publishes its timeline
//! history (`<rsc>-history`); a standby that does not stream reads it and,
//! when it diverged, says so: its own score `-INFINITY`, its data-status
//! `DIVERGED`, and a monitor failure whose reason names the fork.
//!
//! `DIVERGED` is the node's own verdict. PostgreSQL still streams such a
//! node the old timeline up to the fork, again and again (its WAL receiver
//! asks from the start of a segment), so its rows in `pg_stat_replication`
//! prove nothing: the primary ignores them while the verdict stands
//! ([`super::sync`]), and only the node's own monitor clears it, once it
//! streams on the primary's timeline (after a resynchronisation).

use super::plan::{Attr, DataStatus, Plan, Score, Status};
use crate::core::lsn::Lsn;
use crate::core::timeline::History;

/// Whose published history a standby's monitor reads: the promoted node,
/// when one runs elsewhere and this standby's WAL receiver does not stream
/// (a standby that streams follows the primary's timeline), or its verdict
/// `DIVERGED` stands (to renew or clear it).
pub fn history_to_check(plan: &Plan, streaming: bool) -> Option<String> {
    let me = &plan.cfg.me;
    let primary = plan.view.promoted_elsewhere(me)?;
    let marked = plan.current_data_status(me) == Some(DataStatus::Diverged);
    (!streaming || marked).then(|| primary.to_string())
}

/// A standby that cannot follow the primary's timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Diverged {
    /// Where `my_tli` ended in the primary's history.
    pub fork: Lsn,
    /// The timeline that began at the fork.
    pub began: u32,
    pub my_tli: u32,
    pub my_position: Lsn,
    pub primary_tli: u32,
}

/// The verdict: the standby's WAL is on `my_tli`, an earlier timeline of
/// the primary's history, and reaches past the point where that timeline
/// ended there. At or before that point it is merely behind: PostgreSQL
/// switches it to the newer timeline when it streams again.
pub fn divergence(history: &History, my_tli: u32, my_position: Lsn) -> Option<Diverged> {
    if my_tli >= history.tli {
        return None;
    }
    let (fork, began) = history.end_of(my_tli)?;
    (my_position > fork).then_some(Diverged {
        fork,
        began,
        my_tli,
        my_position,
        primary_tli: history.tli,
    })
}

/// What a standby's monitor read for the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DivergenceFacts<'a> {
    /// The promoted node ([`history_to_check`]).
    pub primary: &'a str,
    /// What it published as `<rsc>-history` (`None`: nothing).
    pub published: Option<&'a str>,
    /// The newest timeline this node holds WAL segments of: the timeline
    /// its WAL is on. (`ServerState::timeline` is not: a standby's WAL
    /// receiver fetches the primary's history files even when PostgreSQL
    /// then refuses to follow them, so a diverged node holds the newer
    /// timeline's history file but no WAL on it.)
    pub wal_tli: Option<u32>,
    /// How far its WAL goes: received or replayed, the newer.
    pub position: Option<Lsn>,
    /// Its WAL receiver streams, on `received_tli`.
    pub streaming: bool,
    pub received_tli: Option<u32>,
}

/// A standby's check. When it diverged, its own score goes to `-INFINITY`
/// (unless it is already), its data-status to `DIVERGED` and its status to
/// `HS:alone`, and the exit reason for its monitor is returned. A standing `DIVERGED` is cleared
/// (to `DISCONNECT`, for the primary to overwrite) once it streams on the
/// primary's timeline. An unknown history, timeline or position changes
/// nothing.
pub fn divergence_check(plan: &mut Plan, facts: &DivergenceFacts) -> Option<String> {
    let history = History::from_wire(facts.published?);
    let Some(history) = history else {
        plan.warnings.push(format!(
            "{} publishes an unreadable timeline history ({:?}): no divergence check",
            facts.primary,
            facts.published.unwrap_or_default()
        ));
        return None;
    };
    let me = plan.cfg.me.clone();
    let verdict = facts
        .wal_tli
        .zip(facts.position)
        .and_then(|(tli, position)| divergence(&history, tli, position));
    let Some(d) = verdict else {
        let marked = plan.current_data_status(&me) == Some(DataStatus::Diverged);
        let follows = facts.streaming && facts.received_tli.is_some_and(|t| t >= history.tli);
        if marked && follows {
            plan.infos.push(format!(
                "I stream on timeline {} of {}: no longer diverged.",
                history.tli, facts.primary
            ));
            plan.set(&me, Attr::DataStatus, &DataStatus::Disconnect.wire());
        }
        return None;
    };
    plan.infos.push(format!(
        "{} publishes its timeline history {}; my WAL is on timeline {} up to {}.",
        facts.primary,
        history.to_wire(),
        d.my_tli,
        d.my_position
    ));
    if plan.current(&me, Attr::Score) != Some(Score::CanNotPromote.wire()) {
        plan.own_score(Score::CanNotPromote);
    }
    plan.data_status(&me, DataStatus::Diverged);
    plan.status(&me, Status::HsAlone);
    Some(format!(
        "diverged: this node is at {} on timeline {}, past the fork at {} where {}'s timeline {} began; \
         resynchronise it (pg_rewind or a new base backup)",
        d.my_position, d.my_tli, d.fork, facts.primary, d.began
    ))
}
