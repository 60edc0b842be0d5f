//! Who may become the primary: the standbys' election when no instance is
//! promoted, the check `promote` makes before it leaves recovery, and the
//! stock agent's pre-promote baseline check.

use super::lock::{crash_lock_answered_by_record, is_last_primary, Lock};
use super::plan::{Attr, AttrValue, DataStatus, Plan, RepConfig, Score, Status};
use super::quorum::{last_record, only_latest, QuorumRecord};
use crate::core::crm_mon::ClusterView;
use crate::core::lsn::Lsn;
use std::cmp::Ordering;
use std::time::Duration;

/// A WAL position with its timeline, when known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub tli: Option<u32>,
    pub lsn: Lsn,
}

impl Location {
    /// Timeline first, then LSN; without both timelines, LSN alone (the
    /// stock agent's rule, for peers that publish no timeline).
    pub fn compare(&self, other: &Location) -> Ordering {
        match (self.tli, other.tli) {
            (Some(a), Some(b)) if a != b => a.cmp(&b),
            _ => self.lsn.cmp(&other.lsn),
        }
    }

    /// On a newer timeline than `other`; never when either timeline is
    /// unknown.
    pub fn on_newer_timeline_than(&self, other: &Location) -> bool {
        matches!((self.tli, other.tli), (Some(a), Some(b)) if a > b)
    }

    /// On the same timeline as `other`; never when either is unknown.
    pub fn on_same_timeline_as(&self, other: &Location) -> bool {
        self.tli.is_some() && self.tli == other.tli
    }

    /// A standby's position: its WAL location on the newest of the
    /// timeline PostgreSQL reports and the timeline its WAL segments are
    /// on (`None`: no location).
    pub fn of_standby(
        lsn: Option<Lsn>,
        reported_tli: Option<u32>,
        wal_tli: Option<u32>,
    ) -> Option<Location> {
        Some(Location {
            tli: reported_tli.max(wal_tli),
            lsn: lsn?,
        })
    }

    /// Read a node's published location from its attributes.
    pub fn from_attrs(hex16: Option<&str>, tli: Option<&str>) -> Option<Location> {
        let lsn = Lsn::from_hex16(hex16?)?;
        Some(Location {
            tli: tli.and_then(|t| t.parse().ok()),
            lsn,
        })
    }

    /// The private position attribute's value: `TIMELINE/HEX16`.
    pub fn to_wire(self) -> String {
        format!("{}/{}", self.tli.unwrap_or(0), self.lsn.to_hex16())
    }

    /// For people: `timeline 3, 0/5000028` (`timeline ?` when unknown).
    pub fn shown(self) -> String {
        match self.tli {
            Some(tli) => format!("timeline {tli}, {}", self.lsn),
            None => format!("timeline ?, {}", self.lsn),
        }
    }

    pub fn from_wire(v: &str) -> Option<Location> {
        let (tli, hex) = v.trim().split_once('/')?;
        let tli: u32 = tli.parse().ok()?;
        Some(Location {
            tli: (tli > 0).then_some(tli),
            lsn: Lsn::from_hex16(hex)?,
        })
    }
}

/// What every node published in one monitor round, in node_list order.
/// Values are kept as published (`hex16`, timeline) to compare rounds
/// exactly as the stock agent compares its note files.
pub type Sample = Vec<(String, String, Option<String>)>;

/// The election counter the stock agent keeps in `xlog_note.*` files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElectionState {
    /// How many consecutive rounds repeated `sample`.
    pub agreeing: u32,
    pub sample: Sample,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElectionStep {
    /// Keep counting with this state.
    Counting(ElectionState),
    /// Our position is the newest: claim the promotion (score 1000).
    Won,
    /// Someone is newer: data-status DISCONNECT, start again.
    Lost(ElectionState),
}

/// The position a sample entry publishes (`None`: unreadable).
fn entry_location((_, hex, tli): &(String, String, Option<String>)) -> Option<Location> {
    Location::from_attrs(Some(hex), tli.as_deref())
}

/// Whether a published (`hex16`, timeline) pair can be compared: 16 hex
/// digits, and a timeline that is a number when there is one.
fn readable((_, hex, tli): &(String, String, Option<String>)) -> bool {
    Lsn::from_hex16(hex).is_some() && tli.as_deref().map_or(true, |t| t.parse::<u32>().is_ok())
}

/// The nodes that must have published a position before anyone may win.
/// Sync mode: every node of node_list, because only the newest of all of
/// them is sure to hold every acknowledged commit (a node that cannot
/// publish, such as a crashed primary, blocks the election). Async mode,
/// where the configuration accepts losing the primary's last commits:
/// every node where Pacemaker runs an unpromoted instance, and this one.
/// Never a node that says `DIVERGED`: its WAL past the fork is on a
/// timeline the cluster left, so it holds nothing acknowledged since.
///
/// Except when nodes that hold every acknowledged commit
/// ([`holds_every_acked`]) run as standbys: their positions alone are
/// awaited. Another node may tie with them or be ahead by WAL nobody
/// acknowledged, never hold an acknowledged commit they lack. Otherwise a
/// former primary kept out by its failed monitor, which never publishes,
/// would leave the cluster without a primary until an operator comes.
/// When none of them runs this changes nothing: sync mode waits for every
/// node, async mode for the running ones.
pub fn election_candidates(plan: &Plan) -> Vec<String> {
    let (cfg, view) = (plan.cfg, plan.view);
    let holders = running_holders(plan);
    if !holders.is_empty() {
        return holders;
    }
    if let Some(record) = last_record(plan) {
        return quorum_candidates(plan, &record);
    }
    cfg.node_list
        .iter()
        .filter(|n| cfg.waits_for_standbys() || n.as_str() == cfg.me || view.runs_standby(n))
        .filter(|n| !diverged(cfg, view, n))
        .cloned()
        .collect()
}

/// The [`acked_holders`] that run as standbys (this node counts), but a
/// diverged one.
fn running_holders(plan: &Plan) -> Vec<String> {
    let (cfg, view) = (plan.cfg, plan.view);
    let holding = acked_holders(plan);
    cfg.node_list
        .iter()
        .filter(|n| holding.contains(&n.as_str()))
        .filter(|n| n.as_str() == cfg.me || view.runs_standby(n))
        .filter(|n| !diverged(cfg, view, n))
        .cloned()
        .collect()
}

/// The positions an election among holders is decided on: the holders',
/// those on a newer timeline than every holder's, and unreadable ones
/// (they block until readable). A node ahead of a holder on its timeline
/// holds only WAL nobody acknowledged. Letting it win gave the promotion
/// to a node whose own check fails while a voter is gone, and made the
/// last primary give up its `LATEST`, the only proof left: no primary
/// until the voter returned. The holder's check at promotion still hands
/// over to such a node when that node's check will pass
/// ([`super::promotion::compared_peers`]).
fn holders_sample(sample: Sample, holders: &[String]) -> Sample {
    let held: Vec<Location> = sample
        .iter()
        .filter(|(n, ..)| holders.contains(n))
        .filter_map(entry_location)
        .collect();
    sample
        .into_iter()
        .filter(|e| {
            holders.contains(&e.0)
                || !readable(e)
                || entry_location(e)
                    .is_some_and(|l| held.iter().all(|h| l.on_newer_timeline_than(h)))
        })
        .collect()
}

/// Quorum mode, from the last primary's record: any `k` voters may hold
/// an acknowledged commit, so the positions of `voters − k + 1` of them
/// (every such set overlaps every acknowledging one) are enough. Once
/// that many published, those are the candidates (the newest of them
/// holds every acknowledged commit); before, every voter is, and the
/// election names the missing ones. A diverged voter's position does not
/// count.
fn quorum_candidates(plan: &Plan, record: &QuorumRecord) -> Vec<String> {
    let (cfg, view) = (plan.cfg, plan.view);
    let voters: Vec<String> = cfg
        .node_list
        .iter()
        .filter(|n| record.voters.contains(*n) && !diverged(cfg, view, n))
        .cloned()
        .collect();
    let published: Vec<String> = voters
        .iter()
        .filter(|n| plan.current(n, Attr::XlogLoc).is_some())
        .cloned()
        .collect();
    if published.len() >= record.positions_needed() {
        published
    } else {
        voters
    }
}

/// The nodes that hold every commit a client saw acknowledged: the last
/// primary ([`is_last_primary`]: it flushed each commit it acknowledged,
/// and its own promotion proved it held every earlier one), and the
/// standby it records as holding them ([`Attr::AckedAlsoOn`]: the sync
/// standby it scored, which it never took back, because it stopped before
/// its next pass). None without a last primary; there is at most one, the
/// only `LATEST`.
pub fn acked_holders<'p>(plan: &'p Plan) -> Vec<&'p str> {
    let Some(last) = last_primary_for_election(plan) else {
        return Vec::new();
    };
    let mut holders = vec![last];
    holders.extend(plan.current(last, Attr::AckedAlsoOn));
    holders
}

/// The last primary as the election reads it: [`is_last_primary`], or the
/// only `LATEST` while the one other node that may be promoted is the
/// standby it recorded (`acked-also-on`), with a 1000 (its win in the
/// holders' election, or a promotion handed to it: it holds every
/// acknowledged commit either way). Both hold every acknowledged commit, so that
/// election stays in force until one of them is promoted; otherwise the
/// win made the next rounds elect among every node, give a second node
/// 1000, and erase the last primary's `LATEST`. Any other positive score
/// hides it, as it hides it from the start gate (the recorded standby's
/// 100 too: Pacemaker promotes it without an election).
fn last_primary_for_election<'p>(plan: &'p Plan) -> Option<&'p str> {
    if let Some(last) = plan.cfg.node_list.iter().find(|n| is_last_primary(plan, n)) {
        return Some(last);
    }
    let last = only_latest(plan)?;
    let recorded = plan.current(last, Attr::AckedAlsoOn);
    let won = |n: &str| {
        Some(n) == recorded && plan.current(n, Attr::Score) == Some(Score::PromoteMe.wire())
    };
    plan.cfg
        .node_list
        .iter()
        .filter(|n| n.as_str() != last && !won(n))
        .all(|n| !plan.may_be_promoted(n))
        .then_some(last)
}

/// Whether `node` is one of the [`acked_holders`].
pub fn holds_every_acked(plan: &Plan, node: &str) -> bool {
    acked_holders(plan).contains(&node)
}

/// The candidates whose position is not published yet: nobody is promoted
/// before every candidate's is (in sync mode every node of node_list is
/// one, even offline: it may hold commits the others lack).
pub fn positions_awaited(candidates: &[String], published: impl Fn(&str) -> bool) -> Vec<&str> {
    candidates
        .iter()
        .map(String::as_str)
        .filter(|c| !published(c))
        .collect()
}

/// The node's own verdict ([`super::diverge`]).
fn diverged(cfg: &RepConfig, view: &ClusterView, node: &str) -> bool {
    let name = Attr::DataStatus.name(&cfg.rsc);
    view.attribute(node, &name).and_then(DataStatus::parse) == Some(DataStatus::Diverged)
}

/// The peers `promote` waits for in the check at promotion: every other
/// node running an unpromoted instance, except one that says `DIVERGED`
/// (it can never be handed the promotion).
pub fn promotion_peers(cfg: &RepConfig, view: &ClusterView) -> Vec<String> {
    cfg.others()
        .filter(|n| view.runs_standby(n) && !diverged(cfg, view, n))
        .map(str::to_string)
        .collect()
}

/// The wait for the peers' positions at a promotion
/// ([`promotion_peers`]) is over: each one published a position.
pub fn every_position_published(published: &[(String, Option<Location>)]) -> bool {
    published.iter().all(|(_, l)| l.is_some())
}

/// Whether an election is needed now: no instance is promoted and no node
/// has a positive score that Pacemaker could promote it with
/// ([`Plan::may_be_promoted`]: a failed instance, or one kept stopped by
/// its fail count, cannot be, whatever score it kept).
pub fn election_needed(cfg: &RepConfig, view: &ClusterView) -> bool {
    let seen = Plan::new(cfg, view);
    !view.promoted_exists() && !cfg.node_list.iter().any(|n| seen.may_be_promoted(n))
}

/// How long a standby's monitor withholds its election writes while a
/// promotion is pending ([`pending_promotion`]). Every change to a
/// transient attribute aborts Pacemaker's transition in flight, so a
/// position published between the demote and the promote cancels the
/// notifications and the promote that were to follow. The longest
/// legitimate window is about 17 s (the target's own position, the early
/// wait, a hand-over and a second round); past the bound the election runs
/// as before, for a promotion Pacemaker never schedules (a ban, a node in
/// standby keeping its score).
pub const ELECTION_DEFERRAL: Duration = Duration::from_secs(20);

/// The node Pacemaker is about to promote: nobody is promoted, and an
/// online node whose instance has not failed (this one included) holds a
/// positive score ([`Plan::may_be_promoted`], on the plan, so that a
/// probe's own score counts). An offline node's lingering score does not
/// count. The opposite of [`election_needed`] among online nodes.
pub fn pending_promotion(plan: &Plan) -> Option<String> {
    if plan.view.promoted_exists() {
        return None;
    }
    plan.cfg
        .node_list
        .iter()
        .find(|n| plan.view.online(n) && plan.may_be_promoted(n))
        .cloned()
}

/// Whether a pending promotion still defers the election: the note is
/// young (or not made yet), and the DC's controller is not known to be
/// idle. Idle with nobody promoted, Pacemaker planned no promotion (a ban,
/// a node in standby keeping its score): no transition is in flight for a
/// write to abort, and the election is the way out.
fn still_deferring(deferred_for: Option<Duration>, dc_idle: Option<bool>) -> bool {
    deferred_for.map_or(true, |age| age < ELECTION_DEFERRAL) && dc_idle != Some(true)
}

/// Whether a standby's monitor needs to ask the DC whether it is idle
/// ([`StandbyFacts::dc_idle`]): only when a promotion is pending and the
/// note would defer the election.
pub fn asks_the_dc(plan: &Plan, deferred_for: Option<Duration>) -> bool {
    pending_promotion(plan).is_some() && still_deferring(deferred_for, None)
}

/// The note that bounds a deferral ([`ELECTION_DEFERRAL`]): made when the
/// first monitor defers, gone once nothing is pending. A deferral that ran
/// out while the promotion is still pending keeps its note, so that it
/// does not start again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeferralNote {
    Begin,
    Clear,
}

/// The score `stop`, `start` and a standby's probe leave on this node:
/// `-INFINITY`, as the stock agent writes, except that the named
/// synchronous standby keeps its
/// 100. It holds every acknowledged commit whether its PostgreSQL runs or
/// not (a killed server keeps what it flushed), and only the primary takes
/// that score away, before it names another standby (rule 2). Clearing it
/// would forbid the failover when the primary's PostgreSQL and then the
/// sync standby's fail in a row: Pacemaker restarts the standby, and no
/// node could prove it holds every commit. A voter of quorum mode keeps its
/// 100 as well (the check at promotion, not the score, proves who is
/// newest). `None`: leave it as it is.
pub fn score_at_stop_or_start(plan: &Plan) -> Option<Score> {
    let me = &plan.cfg.me;
    let named_sync = plan.cfg.waited_for().is_some()
        && plan.current_data_status(me) == plan.cfg.waited_for()
        // The exact bytes the primary writes: a score spelled otherwise
        // is nobody's proof, and goes.
        && plan.current(me, Attr::Score) == Some(Score::CanPromote.wire());
    (!named_sync).then_some(Score::CanNotPromote)
}

/// One round of the election. Our agents publish a position (with its
/// timeline) only once it is final: the WAL receiver is gone and replay
/// has caught up. So when every candidate has published one, the newest is
/// known at once, in one round. A peer that publishes no timeline (the
/// stock agent, during a migration) may still be moving: then the stock
/// rule holds, `check_count` unchanged rounds after the first. Ties all
/// win. Nobody wins while a candidate has published nothing readable.
pub fn election_step(
    prev: Option<&ElectionState>,
    sample: Sample,
    candidates: &[String],
    check_count: u32,
    me: &str,
) -> ElectionStep {
    let complete = candidates
        .iter()
        .all(|c| sample.iter().any(|(n, ..)| n == c))
        && sample.iter().all(readable);
    let all_final = sample.iter().all(|(_, _, tli)| tli.is_some());
    let agreeing = match prev {
        Some(p) if p.sample == sample => p.agreeing + 1,
        _ => 0,
    };
    if !complete || (!all_final && agreeing < check_count) {
        return ElectionStep::Counting(ElectionState { agreeing, sample });
    }
    // Timelines count only when every node published one: a mixed rule
    // would not be an order.
    let location = |e: &(String, String, Option<String>)| {
        let l = entry_location(e)?;
        Some(if all_final {
            l
        } else {
            Location { tli: None, ..l }
        })
    };
    let mine = sample.iter().find(|(n, ..)| n == me).and_then(location);
    let newest = sample
        .iter()
        .filter_map(location)
        .max_by(|a, b| a.compare(b));
    match (mine, newest) {
        (Some(m), Some(n)) if m.compare(&n) == Ordering::Equal => ElectionStep::Won,
        _ => ElectionStep::Lost(ElectionState {
            agreeing: 0,
            sample,
        }),
    }
}

/// Where a standby's replay stands, as PostgreSQL reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replay {
    /// A WAL receiver streams from a primary.
    pub streaming: bool,
    /// `pg_last_wal_replay_lsn()`.
    pub replay: Option<Lsn>,
    /// `pg_last_wal_receive_lsn()`: `None` until this server's startup
    /// process first asked for streaming (it is not persisted across a
    /// restart).
    pub received: Option<Lsn>,
    /// The startup process waits for new WAL: it replayed everything it
    /// has, from `pg_wal` and from the receiver.
    pub replay_waits: bool,
}

/// A standby's position is final when it can no longer move: no WAL
/// receiver streams, and either the startup process waits for WAL (it
/// replayed all it has) or replay has reached what was received. Nothing
/// received is *not* "caught up": after a restart the receive position is
/// unknown until the startup process has replayed the local `pg_wal` and
/// asks for streaming, and meanwhile the replay position still moves. A
/// position published then could lose an election it should have won.
pub fn position_final(r: &Replay) -> bool {
    let caught_up = match (r.replay, r.received) {
        (Some(replay), Some(received)) => replay >= received,
        (_, None) | (None, Some(_)) => false,
    };
    !r.streaming && (caught_up || r.replay_waits)
}

/// A standby's position is settled for a promotion when only a running
/// primary could still move it: WAL was received (the receive position is
/// then past everything in the local `pg_wal`, since streaming is asked
/// for only once replay ran out of it), or the startup process waits for
/// WAL. In the pre-promote notification and in `promote` no primary runs
/// (Pacemaker stops the promoted instance before it promotes another), so
/// a receiver that still says `streaming` to a primary whose node died is
/// no reason to wait; a standby just restarted, replaying its `pg_wal`, is.
pub fn position_settled(r: &Replay) -> bool {
    r.received.is_some() || r.replay_waits || position_final(r)
}

/// What a standby knows about itself when its monitor runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandbyFacts {
    /// Its WAL position (`None`: it could not be read).
    pub location: Option<Location>,
    /// Its WAL receiver streams from a primary.
    pub streaming: bool,
    /// No more WAL can arrive: no WAL receiver streams, and replay has
    /// caught up with what was received.
    pub position_final: bool,
    /// The timeline its WAL receiver receives.
    pub received_tli: Option<u32>,
    /// How far it has replayed.
    pub replay: Option<Lsn>,
    pub lock: Lock,
    /// The election counter from the previous rounds.
    pub election: Option<ElectionState>,
    /// The timeline of its newest WAL segment ([`super::DivergenceFacts::wal_tli`]).
    pub wal_tli: Option<u32>,
    /// What the promoted node published as `<rsc>-history`, read when
    /// [`super::history_to_check`] names it.
    pub primary_history: Option<String>,
    /// The age of the deferral note ([`DeferralNote`]); `None`: there is
    /// none. An unreadable age reads as [`Duration::MAX`]: expired.
    pub deferred_for: Option<Duration>,
    /// The DC's controller is idle, asked only when [`asks_the_dc`];
    /// `None`: not asked, or no answer.
    pub dc_idle: Option<bool>,
    /// The host its `primary_conninfo` names in `postgresql.auto.conf`
    /// ([`super::follow_now`]).
    pub written_host: Option<String>,
}

/// What to do with the election counter files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElectionFiles {
    Keep,
    Write(ElectionState),
    Clear,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandbyOutcome {
    pub election: ElectionFiles,
    /// Remove PGSQL.lock: [`Lock::proven_not_ahead`].
    pub remove_lock: bool,
    pub deferral: Option<DeferralNote>,
}

/// A standby's monitor. With a promoted instance: `HS:alone` when the
/// primary said `DISCONNECT` (or it diverged); no positive score unless it
/// can prove it is current; the lock release of a rejoined former primary.
/// Without one: nothing while a promotion is pending, for
/// [`ELECTION_DEFERRAL`] at most; then the election. `Err` carries the exit
/// reason.
pub fn standby_monitor(plan: &mut Plan, facts: &StandbyFacts) -> Result<StandbyOutcome, String> {
    let note = facts.deferred_for;
    let clear_note = note.map(|_| DeferralNote::Clear);
    if plan.view.promoted_exists() {
        return Ok(StandbyOutcome {
            election: ElectionFiles::Keep,
            remove_lock: beside_a_primary(plan, facts),
            deferral: clear_note,
        });
    }
    let deferral = match pending_promotion(plan) {
        Some(node) if still_deferring(note, facts.dc_idle) => {
            // A promotion needs none of these writes (the check at
            // promotion reads the positions published for it), and each
            // would abort the transition that promotes.
            plan.infos.push(format!(
                "{node} is to be promoted: my election position waits (at most {} s).",
                ELECTION_DEFERRAL.as_secs()
            ));
            return Ok(StandbyOutcome {
                election: ElectionFiles::Keep,
                remove_lock: false,
                deferral: note.is_none().then_some(DeferralNote::Begin),
            });
        }
        Some(_) => None,
        None => clear_note,
    };
    let me = plan.cfg.me.clone();
    plan.infos.push("Master does not exist.".into());
    plan.status(&me, Status::HsAlone);
    let election = have_master_right(plan, facts)?;
    Ok(StandbyOutcome {
        election,
        remove_lock: false,
        deferral,
    })
}

/// A standby's monitor beside a promoted instance; whether the lock goes.
fn beside_a_primary(plan: &mut Plan, facts: &StandbyFacts) -> bool {
    let me = plan.cfg.me.clone();
    let data_status = plan.current_data_status(&me);
    if matches!(
        data_status,
        Some(DataStatus::Disconnect | DataStatus::Diverged)
    ) {
        plan.status(&me, Status::HsAlone);
    }
    // The named synchronous standby is current even when its receiver
    // is down: no commit is acknowledged without it, and the primary
    // takes its score away before it names another. Any other standby
    // that does not stream may be behind. A voter of quorum mode keeps
    // its score too: the check at promotion compares enough voters'
    // positions whatever the scores say, and a failover needs one.
    let named_sync = plan.cfg.waited_for().is_some() && data_status == plan.cfg.waited_for();
    if !facts.streaming && !named_sync && plan.has_positive_score(&me) {
        plan.infos.push(
            "My WAL receiver does not stream: I may be behind, so I can not be promoted.".into(),
        );
        plan.own_score(Score::CanNotPromote);
    }
    let promoted_here = plan.view.promoted.contains(&me);
    let proven = facts
        .lock
        .proven_not_ahead(facts.streaming, facts.received_tli, facts.replay)
        || named_by_the_primary(plan, facts);
    proven && !promoted_here
}

/// A crash lock goes while this node streams as the standby the promoted
/// primary's `acked-also-on` names ([`crash_lock_answered_by_record`]).
fn named_by_the_primary(plan: &Plan, facts: &StandbyFacts) -> bool {
    let me = plan.cfg.me.as_str();
    let [primary] = &plan.view.promoted[..] else {
        return false;
    };
    let named =
        facts.streaming && primary != me && plan.current(primary, Attr::AckedAlsoOn) == Some(me);
    crash_lock_answered_by_record(plan, facts.lock, named)
}

/// `have_master_right`: publish our final position, and one round of the
/// election.
fn have_master_right(plan: &mut Plan, facts: &StandbyFacts) -> Result<ElectionFiles, String> {
    let me = plan.cfg.me.clone();
    let location = facts.location.ok_or("Failed to show my xlog location.")?;
    if plan.current_data_status(&me) == Some(DataStatus::Diverged) {
        plan.infos
            .push("I diverged from the last primary's timeline: not a candidate.".into());
        return Ok(ElectionFiles::Keep);
    }
    if !facts.position_final {
        plan.infos.push(
            "My position is not final yet (WAL receiver running or replay behind): \
             not published."
                .into(),
        );
        return Ok(ElectionFiles::Keep);
    }
    let data_status = plan
        .current(&me, Attr::DataStatus)
        .unwrap_or("")
        .to_string();
    plan.infos.push(format!("My data status={data_status}."));
    plan.set(&me, AttrValue::XlogLoc(location.lsn));
    if let Some(tli) = location.tli {
        plan.set(&me, AttrValue::XlogTli(tli));
    }
    let mut sample = Sample::new();
    for n in &plan.cfg.node_list {
        if let Some(hex) = plan.current(n, Attr::XlogLoc) {
            let tli = plan.current(n, Attr::XlogTli).map(str::to_string);
            sample.push((n.clone(), hex.to_string(), tli));
        }
    }
    for entry @ (n, hex, tli) in &sample {
        plan.infos.push(format!("{n} xlog location : {hex}"));
        if !readable(entry) {
            plan.warnings.push(format!(
                "{n} publishes an unreadable xlog location ({hex:?}, timeline {tli:?}); \
                 no promotion is claimed until it is readable"
            ));
        }
    }
    let candidates = election_candidates(plan);
    let missing = positions_awaited(&candidates, |c| sample.iter().any(|(n, ..)| n == c));
    if !missing.is_empty() {
        plan.infos.push(format!(
            "Waiting for the position of {} before anyone is promoted.",
            missing.join(", ")
        ));
    }
    // A newer timeline than this node's proves its `LATEST` stale.
    let newer_timeline_published = sample
        .iter()
        .filter_map(entry_location)
        .any(|l| l.on_newer_timeline_than(&location));
    let keeps_latest = !newer_timeline_published
        && (only_latest(plan) == Some(me.as_str()) || is_last_primary(plan, &me));
    let holders = running_holders(plan);
    let sample = if holders.is_empty() {
        sample
    } else {
        holders_sample(sample, &holders)
    };
    Ok(
        match election_step(
            facts.election.as_ref(),
            sample,
            &candidates,
            plan.cfg.xlog_check_count,
            &me,
        ) {
            ElectionStep::Counting(st) => ElectionFiles::Write(st),
            ElectionStep::Won => {
                plan.infos.push("I have a master right.".into());
                plan.own_score(Score::PromoteMe);
                ElectionFiles::Clear
            }
            // The last primary keeps its `LATEST`, the proof that it
            // holds every acknowledged commit, until the winner's
            // promotion marks it: should that promotion fail, the proof
            // is still there. Not when a newer timeline exists: a
            // promotion since then was not recorded, and its winner must
            // not be checked against this stale record.
            ElectionStep::Lost(st) if keeps_latest => {
                plan.infos.push(
                    "I don't have the newest data; I stay LATEST until the newest node is \
                     promoted."
                        .into(),
                );
                ElectionFiles::Write(st)
            }
            ElectionStep::Lost(st) => {
                plan.data_status(&me, DataStatus::Disconnect);
                plan.infos.push("I don't have correct master data.".into());
                ElectionFiles::Write(st)
            }
        },
    )
}

/// What `promote` does once the other standbys published their positions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromotionCheck {
    Go,
    /// Another standby is ahead: give it the promotion, refuse ours.
    HandOver {
        to: String,
        reason: String,
    },
    /// Nobody is known to be ahead, but we cannot prove it: refuse.
    Refuse(String),
}

/// The check at promotion. `peers` are the other nodes running an
/// unpromoted instance, each with the position it published in the
/// pre-promote notification (`None`: nothing within the bound). A peer
/// that published nothing may be ahead; the newest position wins (ties are
/// ours). Nodes that run no instance cannot publish; a positive score
/// already proves they hold nothing acknowledged that we lack (the sync
/// rule, or an election all of node_list took part in).
pub fn promotion_check(mine: Location, peers: &[(String, Option<Location>)]) -> PromotionCheck {
    if let Some((n, _)) = peers.iter().find(|(_, l)| l.is_none()) {
        return PromotionCheck::Refuse(format!(
            "{n} published no WAL position for this promotion; it may be ahead of this node"
        ));
    }
    let newest = peers
        .iter()
        .filter_map(|(n, l)| Some((n, (*l)?)))
        .max_by(|a, b| a.1.compare(&b.1));
    match newest {
        Some((n, l)) if l.compare(&mine) == Ordering::Greater => PromotionCheck::HandOver {
            to: n.clone(),
            reason: format!(
                "{n} is ahead ({} > {}): it is promoted instead",
                l.shown(),
                mine.shown()
            ),
        },
        _ => PromotionCheck::Go,
    }
}

/// Whether this node's pre-promote compares its baseline with the
/// target's: on a node that is not the target, in a mode that waits for
/// standbys, with 3+ nodes. Elsewhere the baselines are not even read.
pub fn compares_baselines(cfg: &RepConfig, target: &str) -> bool {
    cfg.node_list.len() >= 3 && cfg.waits_for_standbys() && target != cfg.me
}

/// pre-promote on a node that is not the target (sync mode, 3+ nodes): the
/// target's baseline is older than ours (the stock check; the target's
/// check at promotion then hands the promotion over, R18).
pub fn newer_than_target(
    cfg: &RepConfig,
    target: &str,
    target_baseline: Option<Location>,
    mine: Option<Location>,
) -> bool {
    if !compares_baselines(cfg, target) {
        return false;
    }
    match (target_baseline, mine) {
        (Some(t), Some(m)) => t.compare(&m) == Ordering::Less,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::super::*;
    use crate::config::RepMode;
    use crate::core::crm_mon::ClusterView;
    use crate::core::lsn::Lsn;
    use std::time::Duration;

    /// Quorum mode, five nodes: pg01 (the last primary) is gone with its
    /// record `2 of pg02 pg03 pg04 pg05`. The election names every voter
    /// until three published, then only those three: the newest of them
    /// holds every acknowledged commit. The voters' kept scores do not
    /// hide the record.
    #[test]
    fn quorum_the_election_waits_for_enough_voters_not_for_all() {
        let (c, v) = quorum_failover();
        let v = with_attr(&v, "pg02", "pgsql-xlog-loc", "0000000000000500");
        let mut v = with_attr(&v, "pg03", "pgsql-xlog-loc", "0000000000000400");
        v.unpromoted = vec!["pg02".into(), "pg03".into(), "pg04".into(), "pg05".into()];
        let voters = ["pg02", "pg03", "pg04", "pg05"];
        assert_eq!(election_candidates(&Plan::new(&c, &v)), voters);
        let v = with_attr(&v, "pg05", "pgsql-xlog-loc", "0000000000000300");
        assert_eq!(
            election_candidates(&Plan::new(&c, &v)),
            ["pg02", "pg03", "pg05"]
        );
        // A diverged voter's position does not count.
        let diverged = with_attr(&v, "pg05", "pgsql-data-status", "DIVERGED");
        assert_eq!(
            election_candidates(&Plan::new(&c, &diverged)),
            ["pg02", "pg03", "pg04"]
        );
        // No record (a new primary that had not written one): everyone.
        let mut none = v.clone();
        none.attributes
            .get_mut("pg01")
            .unwrap()
            .remove("pgsql-acked-on-any");
        assert_eq!(
            election_candidates(&Plan::new(&c, &none)),
            ["pg02", "pg01", "pg03", "pg04", "pg05"]
        );
        // A voter keeps its score when it stops and starts again.
        let kept = with_attr(&v, "pg02", "pgsql-data-status", "STREAMING|QUORUM");
        assert_eq!(score_at_stop_or_start(&Plan::new(&c, &kept)), None);
        assert_eq!(
            score_at_stop_or_start(&Plan::new(&c, &v)),
            Some(Score::CanNotPromote)
        );
    }

    /// Seeds 1168, 1233 and 1252: the primary's PostgreSQL killed, its sync
    /// standby's node lost (its score with it) before the primary's next pass.
    /// The standby the last primary recorded holds every acknowledged commit:
    /// its position alone is awaited, not the kept-out primary's.
    #[test]
    fn the_recorded_sync_standby_is_elected_without_the_kept_out_primary() {
        let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
        let mut v = view(
            &["pg01", "pg02", "pg03"],
            &[],
            &[
                ("pg01", "pgsql-data-status", "STREAMING|SYNC"),
                ("pg01", "master-pgsql", "-INFINITY"),
                ("pg02", "pgsql-data-status", "LATEST"),
                ("pg02", "pgsql-acked-also-on", "pg01"),
                ("pg03", "pgsql-data-status", "STREAMING|ASYNC"),
            ],
        );
        v.unpromoted = vec!["pg01".into(), "pg03".into()];
        v.fail_counts.insert("pg02".into(), 1);
        assert_eq!(election_candidates(&Plan::new(&c, &v)), ["pg01"]);
        assert!(holds_every_acked(&Plan::new(&c, &v), "pg02"));
        assert!(!holds_every_acked(&Plan::new(&c, &v), "pg03"));
        // The last primary runs again too: both are awaited, the newest wins.
        let mut both = v.clone();
        both.unpromoted.push("pg02".into());
        both.fail_counts.clear();
        assert_eq!(election_candidates(&Plan::new(&c, &both)), ["pg01", "pg02"]);
        // The recorded standby does not run: everyone, as before.
        let mut gone = v.clone();
        gone.unpromoted = vec!["pg03".into()];
        let c3 = cfg(RepMode::Sync, &["pg03", "pg01", "pg02"]);
        assert_eq!(
            election_candidates(&Plan::new(&c3, &gone)),
            ["pg03", "pg01", "pg02"]
        );
        // A record proves nothing unless its writer is the last primary: once
        // another node was promoted after it (a second LATEST here), or may be
        // promoted instead, everyone is awaited.
        let after = with_attr(&v, "pg03", "pgsql-data-status", "LATEST");
        assert_eq!(
            election_candidates(&Plan::new(&c, &after)),
            ["pg01", "pg02", "pg03"]
        );
        let scored = with_attr(&v, "pg03", "master-pgsql", "100");
        assert_eq!(
            election_candidates(&Plan::new(&c, &scored)),
            ["pg01", "pg02", "pg03"]
        );
        // A recorded node that says DIVERGED is never a candidate.
        let diverged = with_attr(&v, "pg01", "pgsql-data-status", "DIVERGED");
        assert_eq!(
            election_candidates(&Plan::new(&c, &diverged)),
            ["pg02", "pg03"]
        );
    }

    fn sample(entries: &[(&str, u64, Option<u32>)]) -> Sample {
        entries
            .iter()
            .map(|(n, l, t)| (n.to_string(), Lsn(*l).to_hex16(), t.map(|t| t.to_string())))
            .collect()
    }

    #[test]
    fn election_decides_after_check_count_unchanged_rounds() {
        let s = sample(&[("pg01", 100, None), ("pg02", 90, None)]);
        let mut state: Option<ElectionState> = None;
        let mut rounds = 0;
        loop {
            rounds += 1;
            match election_step(state.as_ref(), s.clone(), &[], 3, "pg01") {
                ElectionStep::Counting(st) => state = Some(st),
                ElectionStep::Won => break,
                ElectionStep::Lost(_) => panic!("pg01 is newest"),
            }
        }
        assert_eq!(
            rounds, 4,
            "the stock agent decides on round xlog_check_count + 1"
        );
        let prev = ElectionState {
            agreeing: 2,
            sample: s.clone(),
        };
        assert!(matches!(
            election_step(Some(&prev), s.clone(), &[], 3, "pg02"),
            ElectionStep::Lost(_)
        ));
    }

    /// A position that cannot be read may be the newest: never decide over
    /// it (the attributes are written by any agent, or by hand).
    #[test]
    fn an_unreadable_peer_position_blocks_the_decision() {
        let valid = sample(&[("pg01", 100, Some(1)), ("pg02", 90, Some(1))]);
        let mut hex = valid.clone();
        hex[1].1 = "ZZZZ-not-hex".into();
        let mut tli = valid.clone();
        tli[1].2 = Some("9x".into());
        let mut short = valid.clone();
        short[1].1 = "5A".into();
        for s in [hex, tli, short] {
            let prev = ElectionState {
                agreeing: 5,
                sample: s.clone(),
            };
            assert_eq!(
                election_step(Some(&prev), s.clone(), &[], 3, "pg01"),
                ElectionStep::Counting(ElectionState {
                    agreeing: 6,
                    sample: s.clone()
                }),
                "{s:?}"
            );
        }
        let prev = ElectionState {
            agreeing: 5,
            sample: valid.clone(),
        };
        assert_eq!(
            election_step(Some(&prev), valid, &[], 3, "pg01"),
            ElectionStep::Won
        );
    }

    #[test]
    fn election_restarts_when_positions_move() {
        let prev = ElectionState {
            agreeing: 2,
            sample: sample(&[("pg01", 100, None)]),
        };
        let step = election_step(Some(&prev), sample(&[("pg01", 101, None)]), &[], 3, "pg01");
        assert!(matches!(
            step,
            ElectionStep::Counting(ElectionState { agreeing: 0, .. })
        ));
    }

    #[test]
    fn election_compares_timelines_first() {
        // pg02 has a lower LSN on a newer timeline: it wins, pg01 loses.
        let s = sample(&[("pg01", 500, Some(1)), ("pg02", 400, Some(2))]);
        let prev = ElectionState {
            agreeing: 2,
            sample: s.clone(),
        };
        assert!(matches!(
            election_step(Some(&prev), s.clone(), &[], 3, "pg01"),
            ElectionStep::Lost(_)
        ));
        assert_eq!(
            election_step(Some(&prev), s, &[], 3, "pg02"),
            ElectionStep::Won
        );
        // Without every timeline, LSN alone decides (a stock agent peer).
        let s = sample(&[("pg01", 500, None), ("pg02", 400, Some(2))]);
        let prev = ElectionState {
            agreeing: 2,
            sample: s.clone(),
        };
        assert_eq!(
            election_step(Some(&prev), s, &[], 3, "pg01"),
            ElectionStep::Won
        );
    }

    #[test]
    fn ties_all_win_and_a_missing_own_position_loses() {
        let s = sample(&[("pg01", 7, None), ("pg02", 7, None)]);
        let prev = ElectionState {
            agreeing: 2,
            sample: s.clone(),
        };
        assert_eq!(
            election_step(Some(&prev), s.clone(), &[], 3, "pg01"),
            ElectionStep::Won
        );
        assert_eq!(
            election_step(Some(&prev), s.clone(), &[], 3, "pg02"),
            ElectionStep::Won
        );
        assert!(matches!(
            election_step(Some(&prev), s, &[], 3, "pg03"),
            ElectionStep::Lost(_)
        ));
    }

    /// One round: positions published with a timeline are final, so once
    /// every candidate published, the newest wins at once.
    #[test]
    fn final_positions_decide_in_one_round() {
        let all: Vec<String> = ["pg01", "pg02", "pg03"].map(String::from).to_vec();
        let s = sample(&[
            ("pg01", 500, Some(2)),
            ("pg02", 400, Some(2)),
            ("pg03", 450, Some(2)),
        ]);
        assert_eq!(
            election_step(None, s.clone(), &all, 3, "pg01"),
            ElectionStep::Won
        );
        assert!(matches!(
            election_step(None, s, &all, 3, "pg03"),
            ElectionStep::Lost(_)
        ));
        // A candidate that published nothing blocks everyone.
        let s = sample(&[("pg01", 500, Some(2)), ("pg02", 400, Some(2))]);
        assert!(matches!(
            election_step(None, s, &all, 3, "pg01"),
            ElectionStep::Counting(ElectionState { agreeing: 0, .. })
        ));
    }

    #[test]
    fn sync_mode_waits_for_every_node_async_mode_for_running_ones() {
        let c = cfg(RepMode::Sync, &["pg02", "pg01", "pg03"]);
        let mut v = view(&["pg02", "pg03"], &["pg01"], &[]);
        v.unpromoted = vec!["pg02".into(), "pg03".into()];
        assert_eq!(
            election_candidates(&Plan::new(&c, &v)),
            ["pg02", "pg01", "pg03"]
        );
        let c = cfg(RepMode::Async, &["pg02", "pg01", "pg03"]);
        assert_eq!(election_candidates(&Plan::new(&c, &v)), ["pg02", "pg03"]);
        v.unpromoted = vec!["pg02".into()];
        assert_eq!(
            election_candidates(&Plan::new(&c, &v)),
            ["pg02"],
            "pg03 runs no instance"
        );
    }

    /// Seen from pg01, sync mode: pg02 is the last primary (the only
    /// `LATEST`) and runs as a standby beside pg03; pg01, a former primary,
    /// is kept out by its failed monitor.
    fn the_last_primary_and_a_kept_out_one() -> (RepConfig, ClusterView) {
        let c = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
        let mut v = view(
            &["pg01", "pg02", "pg03"],
            &[],
            &[
                ("pg01", "pgsql-data-status", "DISCONNECT"),
                ("pg02", "pgsql-data-status", "LATEST"),
                ("pg03", "pgsql-data-status", "DISCONNECT"),
            ],
        );
        v.unpromoted = vec!["pg02".into(), "pg03".into()];
        v.fail_counts.insert("pg01".into(), 1);
        (c, v)
    }

    /// `v` with these positions published for the election: node, xlog-loc,
    /// timeline.
    fn with_positions(v: &ClusterView, positions: &[(&str, &str, &str)]) -> ClusterView {
        let mut v = v.clone();
        for (n, loc, tli) in positions {
            let a = v.attributes.entry(n.to_string()).or_default();
            a.insert("pgsql-xlog-loc".into(), loc.to_string());
            a.insert("pgsql-xlog-tli".into(), tli.to_string());
        }
        v
    }

    /// `me`'s standby monitor (sync mode, pg01-pg03) with a final position
    /// at `tli`/`lsn`: its election files, the scores and data-statuses it
    /// writes, and what it logs.
    fn election_monitor(
        me: &str,
        v: &ClusterView,
        tli: u32,
        lsn: u64,
    ) -> (ElectionFiles, Vec<String>, Vec<String>) {
        let (out, writes, infos) = monitor_with_note(me, v, tli, lsn, None);
        (out.election, scores_and_statuses(&writes), infos)
    }

    /// [`election_monitor`] with a deferral note this old (`None`: none):
    /// the whole outcome and every write.
    fn monitor_with_note(
        me: &str,
        v: &ClusterView,
        tli: u32,
        lsn: u64,
        deferred_for: Option<Duration>,
    ) -> (StandbyOutcome, Vec<Write>, Vec<String>) {
        let mut order = vec![me];
        order.extend(["pg01", "pg02", "pg03"].iter().filter(|n| **n != me));
        let c = cfg(RepMode::Sync, &order);
        let mut facts = standby_facts(true);
        facts.location = Some(Location {
            tli: Some(tli),
            lsn: Lsn(lsn),
        });
        facts.deferred_for = deferred_for;
        let mut p = Plan::new(&c, v);
        let out = standby_monitor(&mut p, &facts).unwrap();
        (out, p.writes, p.infos)
    }

    /// The score and data-status writes, as `node:Attr=value`.
    fn scores_and_statuses(writes: &[Write]) -> Vec<String> {
        writes
            .iter()
            .filter(|w| matches!(w.attr, Attr::Score | Attr::DataStatus))
            .map(Write::summary)
            .collect()
    }

    fn summaries(writes: &[Write]) -> Vec<String> {
        writes.iter().map(Write::summary).collect()
    }

    /// A deferral that ran out: the monitor decides as if it never
    /// deferred.
    const EXPIRED: Option<Duration> = Some(ELECTION_DEFERRAL);

    /// The last primary (the only LATEST, nobody promotable instead) is the
    /// only candidate awaited: a former primary kept out by its failed monitor
    /// (seed 1080: killed, its successor's node crashed and came back) never
    /// publishes. A score kept by a failed instance does not count.
    #[test]
    fn the_last_primary_is_elected_without_waiting_for_the_kept_out() {
        let (c, v) = the_last_primary_and_a_kept_out_one();
        assert_eq!(election_candidates(&Plan::new(&c, &v)), ["pg02"]);
        // A kept score on the failed, stopped node does not block it either.
        let kept = with_attr(&v, "pg01", "master-pgsql", "100");
        assert_eq!(election_candidates(&Plan::new(&c, &kept)), ["pg02"]);
        // A node that may be promoted instead, or a second LATEST: everyone.
        let scored = with_attr(&v, "pg03", "master-pgsql", "100");
        assert_eq!(
            election_candidates(&Plan::new(&c, &scored)),
            ["pg01", "pg02", "pg03"]
        );
        let two = with_attr(&v, "pg01", "pgsql-data-status", "LATEST");
        assert_eq!(
            election_candidates(&Plan::new(&c, &two)),
            ["pg01", "pg02", "pg03"]
        );
        // A last primary that runs no instance (its node is down): sync mode
        // waits for it as for everyone, async mode elects among the running.
        let mut down = v.clone();
        down.unpromoted = vec!["pg03".into()];
        down.nodes.insert("pg02".into(), false);
        assert_eq!(
            election_candidates(&Plan::new(&c, &down)),
            ["pg01", "pg02", "pg03"]
        );
        let c_async = cfg(RepMode::Async, &["pg01", "pg02", "pg03"]);
        assert_eq!(
            election_candidates(&Plan::new(&c_async, &down)),
            ["pg01", "pg03"]
        );
        // pg03's monitor waits for pg02 alone, and loses to it.
        let v3 = with_positions(
            &v,
            &[
                ("pg02", "000000000A048178", "6"),
                ("pg03", "000000000A047FB0", "6"),
            ],
        );
        let (election, writes, infos) = election_monitor("pg03", &v3, 6, 0x0A047FB0);
        assert!(matches!(election, ElectionFiles::Write(_)), "{election:?}");
        assert!(infos
            .iter()
            .any(|i| i == "I don't have correct master data."));
        assert_eq!(writes, Vec::<String>::new());
        // pg02's own monitor wins at once.
        let (election, writes, _) = election_monitor("pg02", &v3, 6, 0x0A048178);
        assert_eq!(election, ElectionFiles::Clear);
        assert_eq!(writes, ["pg02:Score=1000"]);
    }

    /// Fourth audit A1: the last primary pg02 (the only `LATEST`) restarted
    /// after its node's crash and replayed complete records only; pg03
    /// received part of a record beyond them and publishes a position
    /// ahead on the same timeline. pg03 holds nothing acknowledged beyond
    /// pg02: it neither wins nor makes pg02 give up its `LATEST`. A node on
    /// a newer timeline still wins.
    #[test]
    fn a_holder_does_not_lose_to_a_same_timeline_peer_ahead() {
        let (c, v) = the_last_primary_and_a_kept_out_one();
        let published = |pg03_tli: &str| {
            with_positions(
                &v,
                &[
                    ("pg02", "000000000A048178", "6"),
                    ("pg03", "000000000A048200", pg03_tli),
                ],
            )
        };
        let same = published("6");
        let (election, writes, _) = election_monitor("pg02", &same, 6, 0x0A048178);
        assert_eq!(election, ElectionFiles::Clear);
        assert_eq!(writes, ["pg02:Score=1000"]);
        let (election, writes, _) = election_monitor("pg03", &same, 6, 0x0A048200);
        assert!(matches!(election, ElectionFiles::Write(_)), "{election:?}");
        assert_eq!(writes, Vec::<String>::new());
        // pg03 on a newer timeline: it wins, and pg02's LATEST, which a
        // promotion since then proves stale (fifth audit B3), goes.
        let newer = published("7");
        let (election, writes, _) = election_monitor("pg03", &newer, 7, 0x0A048200);
        assert_eq!(election, ElectionFiles::Clear);
        assert_eq!(writes, ["pg03:Score=1000"]);
        let (election, writes, _) = election_monitor("pg02", &newer, 6, 0x0A048178);
        assert!(matches!(election, ElectionFiles::Write(_)), "{election:?}");
        assert_eq!(writes, ["pg02:DataStatus=DISCONNECT"]);
        assert_eq!(election_candidates(&Plan::new(&c, &newer)), ["pg02"]);
    }

    /// Fifth audit B1 (sync mode): the last primary pg02 and its recorded
    /// sync standby pg01 both came back after their nodes' crash; pg01
    /// received part of a record pg02 never finished, the async pg03 more.
    /// pg01 wins among the two holders, and its 1000 keeps that election
    /// in force: pg03 wins no second 1000 and pg02 keeps its `LATEST`, also
    /// when both holders won (a tie).
    #[test]
    fn the_recorded_holder_s_win_keeps_the_holders_election() {
        let (c, v) = last_primary_and_its_standby_back();
        let v = with_positions(
            &v,
            &[
                ("pg02", "000000000A048178", "6"),
                ("pg01", "000000000A048200", "6"),
                ("pg03", "000000000A048300", "6"),
            ],
        );
        assert_eq!(election_candidates(&Plan::new(&c, &v)), ["pg01", "pg02"]);
        let (_, writes, _) = election_monitor("pg01", &v, 6, 0x0A048200);
        assert_eq!(writes, ["pg01:Score=1000"]);
        let won = with_attr(&v, "pg01", "master-pgsql", "1000");
        let tie = with_attr(&won, "pg02", "master-pgsql", "1000");
        for v in [&won, &tie] {
            assert_eq!(election_candidates(&Plan::new(&c, v)), ["pg01", "pg02"]);
            // While Pacemaker is to promote pg01, nobody publishes; once
            // the deferral ran out, the election keeps the holders'.
            for me in ["pg02", "pg03"] {
                let (out, writes, _) = monitor_with_note(me, v, 6, 0x0A048300, None);
                assert_eq!(out.deferral, Some(DeferralNote::Begin));
                assert_eq!(writes, []);
            }
            let (_, writes, _) = monitor_with_note("pg02", v, 6, 0x0A048178, EXPIRED);
            assert_eq!(scores_and_statuses(&writes), Vec::<String>::new());
            let (_, writes, _) = monitor_with_note("pg03", v, 6, 0x0A048300, EXPIRED);
            assert_eq!(scores_and_statuses(&writes), ["pg03:DataStatus=DISCONNECT"]);
        }
        // pg01's 100 (kept through its restart) does not keep that
        // election: Pacemaker promotes pg01 without one, and in the plain
        // election once the deferral ran out pg02 keeps its LATEST.
        let v100 = with_attr(&v, "pg01", "master-pgsql", "100");
        assert_eq!(
            election_candidates(&Plan::new(&c, &v100)),
            ["pg01", "pg02", "pg03"]
        );
        let (out, writes, _) = monitor_with_note("pg03", &v100, 6, 0x0A048300, None);
        assert_eq!((out.deferral, writes), (Some(DeferralNote::Begin), vec![]));
        let (_, writes, _) = monitor_with_note("pg03", &v100, 6, 0x0A048300, EXPIRED);
        assert_eq!(scores_and_statuses(&writes), ["pg03:Score=1000"]);
        let (_, writes, _) = monitor_with_note("pg02", &v100, 6, 0x0A048178, EXPIRED);
        assert_eq!(scores_and_statuses(&writes), Vec::<String>::new());
        // pg01 won, then failed and stopped: the last primary wins alone.
        let mut failed = won.clone();
        failed.unpromoted.retain(|n| n != "pg01");
        failed.fail_counts.insert("pg01".into(), 1);
        let (_, writes, _) = election_monitor("pg02", &failed, 6, 0x0A048178);
        assert_eq!(writes, ["pg02:Score=1000"]);
        let (_, writes, _) = election_monitor("pg03", &failed, 6, 0x0A048300);
        assert_eq!(writes, ["pg03:DataStatus=DISCONNECT"]);
        // Handed over to pg03 (pg01 gave its score up): pg03's 1000 hides
        // the last primary, and the election is among every node again.
        let handed = with_attr(&won, "pg01", "master-pgsql", "-INFINITY");
        let handed = with_attr(&handed, "pg03", "master-pgsql", "1000");
        assert_eq!(
            election_candidates(&Plan::new(&c, &handed)),
            ["pg01", "pg02", "pg03"]
        );
    }

    /// A node that says DIVERGED is no candidate and no peer at promotion: its
    /// WAL past the fork is on a timeline the cluster left. It publishes no
    /// position and keeps its verdict.
    #[test]
    fn a_diverged_node_takes_no_part_in_elections_or_promotions() {
        let c = cfg(RepMode::Sync, &["pg02", "pg01", "pg03"]);
        let mut v = view(
            &["pg01", "pg02", "pg03"],
            &[],
            &[("pg03", "pgsql-data-status", "DIVERGED")],
        );
        v.unpromoted = vec!["pg01".into(), "pg02".into(), "pg03".into()];
        assert_eq!(election_candidates(&Plan::new(&c, &v)), ["pg02", "pg01"]);
        let c1 = cfg(RepMode::Sync, &["pg01", "pg02", "pg03"]);
        assert_eq!(promotion_peers(&c1, &v), ["pg02"]);
        let c3 = cfg(RepMode::Sync, &["pg03", "pg01", "pg02"]);
        let mut p = Plan::new(&c3, &v);
        let out = standby_monitor(&mut p, &standby_facts(true)).unwrap();
        assert_eq!(out.election, ElectionFiles::Keep);
        assert_eq!(written(&p, "pg03", Attr::XlogLoc), None);
        assert_eq!(written(&p, "pg03", Attr::DataStatus), None);
        assert_eq!(written(&p, "pg03", Attr::Score), None);
    }

    /// stop and start clear the node's score, as the stock agent does, except
    /// the named sync standby's (only the primary takes that away).
    #[test]
    fn stop_and_start_keep_only_the_named_sync_standbys_score() {
        for (mode, data_status, score, kept) in [
            (RepMode::Sync, "STREAMING|SYNC", "100", true),
            // Not the primary's bytes: nobody's proof.
            (RepMode::Sync, "STREAMING|SYNC", "+100", false),
            (RepMode::Sync, "STREAMING|SYNC", "0100", false),
            (RepMode::Sync, "STREAMING|SYNC", "-INFINITY", false),
            (RepMode::Sync, "DISCONNECT", "100", false),
            (RepMode::Sync, "LATEST", "1000", false),
            (RepMode::Async, "STREAMING|ASYNC", "100", false),
        ] {
            let c = cfg(mode, &["pg01", "pg02"]);
            let v = view(
                &["pg01", "pg02"],
                &[],
                &[
                    ("pg01", "master-pgsql", score),
                    ("pg01", "pgsql-data-status", data_status),
                ],
            );
            let expect = (!kept).then_some(Score::CanNotPromote);
            assert_eq!(
                score_at_stop_or_start(&Plan::new(&c, &v)),
                expect,
                "{mode:?} {data_status} {score}"
            );
        }
    }

    #[test]
    fn a_standby_publishes_only_a_final_position() {
        let c = cfg(RepMode::Async, &["pg01", "pg02"]);
        let v = view(&["pg01", "pg02"], &[], &[]);
        let mut p = Plan::new(&c, &v);
        let out = standby_monitor(&mut p, &standby_facts(false)).unwrap();
        assert_eq!(out.election, ElectionFiles::Keep);
        assert_eq!(written(&p, "pg01", Attr::XlogLoc), None);
        let mut p = Plan::new(&c, &v);
        let out = standby_monitor(&mut p, &standby_facts(true)).unwrap();
        assert_eq!(written(&p, "pg01", Attr::XlogTli), Some(Some("2".into())));
        // pg02 is online but runs no instance: pg01 alone decides, and wins.
        assert_eq!(out.election, ElectionFiles::Clear);
        assert_eq!(written(&p, "pg01", Attr::Score), Some(Some("1000".into())));
    }

    /// A position is final only once it can no longer move. After a restart
    /// nothing is received yet while the startup process still replays the
    /// local `pg_wal`: that position is not final, although no receiver
    /// streams and replay is "past" the (unknown) receive position.
    #[test]
    fn a_position_is_final_only_when_it_can_no_longer_move() {
        let lsn = |n: u64| Some(Lsn(n));
        let r = |streaming, replay, received, replay_waits| Replay {
            streaming,
            replay,
            received,
            replay_waits,
        };
        // (streaming, replay, received, replay_waits) -> (final, settled)
        let cases = [
            // Streaming from a primary whose node died: settled for a
            // promotion (nothing more can arrive), never final for an election.
            (r(true, lsn(9), lsn(9), true), (false, true)),
            (r(true, lsn(5), lsn(9), false), (false, true)),
            // Restarted, replaying pg_wal: neither.
            (r(false, lsn(5), None, false), (false, false)),
            (r(true, lsn(5), None, false), (false, false)),
            // Replayed it all, no primary to ask.
            (r(false, lsn(5), None, true), (true, true)),
            (r(false, lsn(5), lsn(9), false), (false, true)), // catching up
            (r(false, lsn(9), lsn(9), false), (true, true)),
            (r(false, lsn(9), lsn(8), false), (true, true)), // from a segment start
            (r(false, None, lsn(9), false), (false, true)),
            (r(false, None, None, false), (false, false)),
        ];
        for (facts, (fin, settled)) in cases {
            assert_eq!(position_final(&facts), fin, "final: {facts:?}");
            assert_eq!(position_settled(&facts), settled, "settled: {facts:?}");
        }
    }

    /// A standby that does not stream clears its own score, unless it is the
    /// named sync standby (nothing is acknowledged without it).
    #[test]
    fn a_standby_that_does_not_stream_clears_its_score() {
        for (mode, data_status, cleared) in [
            (RepMode::Async, "STREAMING|ASYNC", true),
            (RepMode::Sync, "DISCONNECT", true),
            (RepMode::Sync, "STREAMING|SYNC", false),
        ] {
            let c = cfg(mode, &["pg01", "pg02"]);
            let mut v = view(
                &["pg01", "pg02"],
                &[],
                &[
                    ("pg01", "master-pgsql", "100"),
                    ("pg01", "pgsql-data-status", data_status),
                ],
            );
            v.promoted.push("pg02".into());
            let mut p = Plan::new(&c, &v);
            standby_monitor(&mut p, &standby_facts(true)).unwrap();
            let expected = cleared.then(|| Some("-INFINITY".to_string()));
            assert_eq!(
                written(&p, "pg01", Attr::Score),
                expected,
                "{mode:?} {data_status}"
            );
            let mut p = Plan::new(&c, &v);
            standby_monitor(&mut p, &standby_facts(false)).unwrap();
            assert_eq!(written(&p, "pg01", Attr::Score), None, "streaming: kept");
        }
    }

    #[test]
    fn promotion_hands_over_to_a_newer_standby_and_refuses_a_silent_one() {
        let at = |tli, lsn| {
            Some(Location {
                tli: Some(tli),
                lsn: Lsn(lsn),
            })
        };
        let mine = at(2, 500).unwrap();
        assert_eq!(promotion_check(mine, &[]), PromotionCheck::Go);
        assert_eq!(
            promotion_check(mine, &[("pg03".into(), at(2, 500))]),
            PromotionCheck::Go
        );
        assert_eq!(
            promotion_check(mine, &[("pg03".into(), at(1, 900))]),
            PromotionCheck::Go
        );
        assert!(matches!(
            promotion_check(mine, &[("pg02".into(), at(2, 400)), ("pg03".into(), at(2, 501))]),
            PromotionCheck::HandOver { to, .. } if to == "pg03"
        ));
        assert!(matches!(
            promotion_check(mine, &[("pg03".into(), None)]),
            PromotionCheck::Refuse(r) if r.contains("pg03")
        ));
        assert_eq!(Location::from_wire(&mine.to_wire()), Some(mine));
        assert_eq!(Location::from_wire("x/1"), None);
    }

    #[test]
    fn pre_promote_baseline_check() {
        let c = cfg(RepMode::Sync, &["pg03", "pg01", "pg02"]);
        let at = |l| {
            Some(Location {
                tli: None,
                lsn: Lsn(l),
            })
        };
        assert!(newer_than_target(&c, "pg02", at(100), at(200)));
        assert!(!newer_than_target(&c, "pg02", at(300), at(200)));
        assert!(
            !newer_than_target(&c, "pg03", at(100), at(200)),
            "target is me"
        );
        assert!(!newer_than_target(&c, "pg02", None, at(200)));
        let two = cfg(RepMode::Sync, &["pg01", "pg02"]);
        assert!(!newer_than_target(&two, "pg02", at(100), at(200)));
        // Where the check can never warn, the baselines are not read: on
        // the target itself, on two nodes, in async mode.
        assert!(compares_baselines(&c, "pg02"));
        assert!(!compares_baselines(&c, "pg03"), "target is me");
        assert!(!compares_baselines(&two, "pg02"));
        let not_waiting = cfg(RepMode::Async, &["pg03", "pg01", "pg02"]);
        assert!(!compares_baselines(&not_waiting, "pg02"));
    }

    /// A failover in flight, seen by pg03: pg01's PostgreSQL was killed
    /// and its instance demoted and stopped (a fail count), its record
    /// `LATEST` with `acked-also-on` pg02; pg02, the named sync standby,
    /// keeps its 100 and runs unpromoted; pg03 is at a final position.
    fn a_failover_in_flight() -> ClusterView {
        let mut v = view(
            &["pg01", "pg02", "pg03"],
            &[],
            &[
                ("pg01", "pgsql-data-status", "LATEST"),
                ("pg01", "pgsql-acked-also-on", "pg02"),
                ("pg02", "pgsql-data-status", "STREAMING|SYNC"),
                ("pg02", "master-pgsql", "100"),
                ("pg03", "pgsql-data-status", "STREAMING|ASYNC"),
                ("pg03", "master-pgsql", "-INFINITY"),
            ],
        );
        v.quorum = true;
        v.unpromoted = vec!["pg02".into(), "pg03".into()];
        v.fail_counts.insert("pg01".into(), 1);
        v
    }

    fn secs(n: u64) -> Option<Duration> {
        Some(Duration::from_secs(n))
    }

    /// Between the demote and the promote, a monitor writes nothing: each
    /// write would abort the transition that promotes pg02. The first one
    /// makes the note, the next ones leave it; past the bound the election
    /// runs as it did before, and the note stays.
    #[test]
    fn a_monitor_writes_nothing_while_a_promotion_is_pending() {
        let v = a_failover_in_flight();
        assert_eq!(
            pending_promotion(&Plan::new(
                &cfg(RepMode::Sync, &["pg03", "pg01", "pg02"]),
                &v
            )),
            Some("pg02".into())
        );
        for (age, note) in [(None, Some(DeferralNote::Begin)), (secs(5), None)] {
            let (out, writes, infos) = monitor_with_note("pg03", &v, 2, 0x300_0000, age);
            assert_eq!(
                (out.election, out.remove_lock, out.deferral, writes),
                (ElectionFiles::Keep, false, note, vec![])
            );
            assert_eq!(
                infos,
                ["pg02 is to be promoted: my election position waits (at most 20 s)."]
            );
        }
        let (out, writes, _) = monitor_with_note("pg03", &v, 2, 0x300_0000, secs(25));
        assert!(matches!(out.election, ElectionFiles::Write(_)), "{out:?}");
        assert_eq!(out.deferral, None);
        let published = [
            "pg03:Status=HS:alone",
            "pg03:XlogLoc=0000000003000000",
            "pg03:XlogTli=2",
        ];
        assert_eq!(summaries(&writes), published);
        // The DC idle with nobody promoted: Pacemaker planned no promotion
        // (a ban, say), and no transition is in flight to abort.
        let c = cfg(RepMode::Sync, &["pg03", "pg01", "pg02"]);
        let plan = Plan::new(&c, &v);
        assert!(asks_the_dc(&plan, secs(5)) && !asks_the_dc(&plan, secs(25)));
        let mut p = Plan::new(&c, &v);
        let facts = StandbyFacts {
            deferred_for: secs(5),
            dc_idle: Some(true),
            location: Some(Location {
                tli: Some(2),
                lsn: Lsn(0x300_0000),
            }),
            ..standby_facts(true)
        };
        let out = standby_monitor(&mut p, &facts).unwrap();
        assert_eq!(
            (out.deferral, summaries(&p.writes)),
            (None, published.map(String::from).to_vec())
        );
    }

    /// Nothing is pending once the scored node can no longer be promoted,
    /// or is offline, or once an instance is promoted: the monitor does
    /// what it did before, and the note goes.
    #[test]
    fn the_deferral_ends_when_nobody_promotable_is_scored() {
        let v = a_failover_in_flight();
        let mut failed = v.clone();
        failed.failed.push("pg02".into());
        let mut stopped_failed = v.clone();
        stopped_failed.unpromoted.retain(|n| n != "pg02");
        stopped_failed.fail_counts.insert("pg02".into(), 1);
        let refused = with_attr(&v, "pg02", "master-pgsql", "-INFINITY");
        let mut offline = v.clone();
        offline.nodes.insert("pg02".into(), false);
        offline.unpromoted.retain(|n| n != "pg02");
        let mut promoted = v.clone();
        promoted.unpromoted.retain(|n| n != "pg02");
        promoted.promoted.push("pg02".into());
        for v in [failed, stopped_failed, refused, offline, promoted] {
            let (young, young_writes, _) = monitor_with_note("pg03", &v, 2, 0x300_0000, secs(5));
            let (old, old_writes, _) = monitor_with_note("pg03", &v, 2, 0x300_0000, EXPIRED);
            assert_eq!(young.deferral, Some(DeferralNote::Clear), "{v:?}");
            assert_eq!((young.election, young_writes), (old.election, old_writes));
            let (none, _, _) = monitor_with_note("pg03", &v, 2, 0x300_0000, None);
            assert_eq!(none.deferral, None);
        }
    }

    /// Its own kept score defers a monitor too: a voter of quorum mode
    /// (or the named sync standby) is the node to be promoted.
    #[test]
    fn own_kept_score_defers() {
        let v = with_attr(
            &a_failover_in_flight(),
            "pg02",
            "pgsql-data-status",
            "STREAMING|QUORUM",
        );
        let (out, writes, infos) = monitor_with_note("pg02", &v, 2, 0x200_0000, None);
        assert_eq!((out.deferral, writes), (Some(DeferralNote::Begin), vec![]));
        assert!(infos[0].starts_with("pg02 is to be promoted"), "{infos:?}");
    }

    /// Rule 8: the sync standby's PostgreSQL failed too and Pacemaker
    /// restarted it; stopped with its kept 100 and no fail count, it is
    /// still the node to be promoted, and pg03 waits for it.
    #[test]
    fn a_stopped_sync_standby_with_its_kept_score_defers() {
        let mut v = a_failover_in_flight();
        v.unpromoted.retain(|n| n != "pg02");
        let (out, writes, _) = monitor_with_note("pg03", &v, 2, 0x300_0000, None);
        assert_eq!((out.deferral, writes), (Some(DeferralNote::Begin), vec![]));
    }
}
