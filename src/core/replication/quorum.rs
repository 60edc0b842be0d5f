//! Quorum commit (design/quorum.md; not yet offered as a `rep_mode`): the
//! pair PostgreSQL applies, `ANY k (S)`, the pair the CIB records for an
//! election, "k of V", and the one step that moves them towards what is
//! wanted without ever breaking their invariant ([`overlaps`]).

use super::election::Location;
use super::plan::{Attr, AttrValue, DataStatus, Plan, Score, SenderState};
use super::sync::{counted_row, standby_status, ReplicationRow};
use crate::core::lsn::Lsn;
use std::collections::BTreeSet;

/// `synchronous_standby_names = 'ANY k (…)'`: a commit is acknowledged once
/// any `k` of `standbys` flushed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumList {
    pub k: usize,
    pub standbys: BTreeSet<String>,
}

/// The record of who may hold acknowledged commits: a promotion compares
/// the positions of at least `voters − k + 1` voters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumRecord {
    pub k: usize,
    pub voters: BTreeSet<String>,
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

impl QuorumList {
    pub fn new(k: usize, standbys: &[&str]) -> QuorumList {
        QuorumList {
            k,
            standbys: set(standbys),
        }
    }

    /// The setting's value (before quoting for postgresql.conf); `''`
    /// when it names nobody.
    pub fn value(&self) -> String {
        if self.standbys.is_empty() {
            return String::new();
        }
        let quoted: Vec<String> = self
            .standbys
            .iter()
            .map(|n| crate::core::quote::standby_name(n))
            .collect();
        format!("ANY {} ({})", self.k, quoted.join(", "))
    }

    /// `synchronous_standby_names` as PostgreSQL holds it: `''` names
    /// nobody; `ANY k (…)` is a quorum list; anything else (`FIRST`, a
    /// plain list) is not one.
    pub fn parse(value: &str) -> Option<QuorumList> {
        let v = value.trim();
        if v.is_empty() {
            return Some(QuorumList::new(0, &[]));
        }
        let rest = v
            .get(..3)
            .filter(|p| p.eq_ignore_ascii_case("ANY"))
            .map(|_| v[3..].trim_start())?;
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let k: usize = rest[..digits].parse().ok()?;
        let list = rest[digits..].trim().strip_prefix('(')?.strip_suffix(')')?;
        let standbys: BTreeSet<String> = super::sync::parse_standby_names(list)?
            .into_iter()
            .collect();
        (k >= 1 && k <= standbys.len()).then_some(QuorumList { k, standbys })
    }
}

impl QuorumRecord {
    pub fn new(k: usize, voters: &[&str]) -> QuorumRecord {
        QuorumRecord {
            k,
            voters: set(voters),
        }
    }

    /// Nothing recorded.
    pub fn none() -> QuorumRecord {
        QuorumRecord {
            k: 0,
            voters: BTreeSet::new(),
        }
    }

    /// `2 of pg02 pg03 pg04`, as the CIB holds it.
    pub fn wire(&self) -> String {
        let voters: Vec<&str> = self.voters.iter().map(String::as_str).collect();
        format!("{} of {}", self.k, voters.join(" "))
    }

    pub fn parse(wire: &str) -> Option<QuorumRecord> {
        let (k, voters) = wire.trim().split_once(" of ")?;
        let k: usize = k.parse().ok()?;
        let voters: BTreeSet<String> = voters.split_whitespace().map(str::to_string).collect();
        (k >= 1 && k <= voters.len()).then_some(QuorumRecord { k, voters })
    }

    /// How many voters' positions a promotion compares.
    pub fn positions_needed(&self) -> usize {
        (self.voters.len() + 1).saturating_sub(self.k)
    }
}

/// The invariant: every set of standbys that can acknowledge a commit
/// (`list.k` of `list.standbys`) overlaps every set of voters whose
/// positions a promotion compares (`voters − record.k + 1` of them). It
/// holds when the listed standbys are all voters and the list asks for at
/// least the recorded k: `k_pg + |V| − k_rec + 1 > |V|`. No record means
/// no promotion without the last primary (always safe); a record beside a
/// list naming nobody (the primary acknowledges alone) never is.
pub fn overlaps(list: &QuorumList, record: &QuorumRecord) -> bool {
    if record.voters.is_empty() {
        return true;
    }
    !list.standbys.is_empty()
        && list.k >= 1
        && list.standbys.is_subset(&record.voters)
        && list.k >= record.k
}

/// What the primary knows for one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumFacts<'a> {
    /// The list PostgreSQL has in effect.
    pub list: &'a QuorumList,
    /// The record as the CIB shows it, this action's writes included.
    pub record: &'a QuorumRecord,
    /// The record as the view read at the action's start showed it, with
    /// quorum: one written in this action is not in it.
    pub shown: &'a QuorumRecord,
    /// `quorum_standbys`: the k wanted.
    pub wanted_k: usize,
    /// Standbys that stream and have flushed the ceiling: they may join.
    pub caught_up: &'a BTreeSet<String>,
    /// Standbys whose node left the cluster, or whose instance Pacemaker
    /// stopped: they may leave, and their absence may lower k.
    pub gone: &'a BTreeSet<String>,
    /// Voters that have flushed the ceiling read after the list took
    /// effect: a voter leaves the record only once enough of the others
    /// hold every commit it may have acknowledged.
    pub at_ceiling: &'a BTreeSet<String>,
    /// The primary's partition has quorum. Without it the others only
    /// seem gone (the primary may be the one cut off), and a record
    /// written there reaches only its side's CIB: nothing changes.
    pub quorum: bool,
}

/// The next step, one at a time: each is shown (in the CIB, or in effect
/// in PostgreSQL) before the next is decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuorumStep {
    /// Write this record and wait until the CIB shows it.
    Record(QuorumRecord),
    /// Set this list and wait until PostgreSQL shows it in effect (then
    /// read the ceiling).
    SetList(QuorumList),
    /// Nothing can move yet: the reason, for the log.
    Wait(String),
    /// The pair is what is wanted.
    Settled,
}

/// A record that lets promotions compare fewer positions (a voter removed,
/// k raised, a first record) needs the ceiling: of its voters, at least k
/// have flushed what the primary had flushed once the list in effect took
/// effect. A commit acknowledged earlier by a set the new record does not
/// overlap is then on one of those k, and every compared set (all but
/// k − 1 voters) includes one of them.
///
/// The one step towards the wanted pair: the listed standbys minus the
/// gone ones plus the caught-up ones, `wanted_k` of them (fewer only when
/// fewer are left). Widen the record before the list, narrow the list
/// before the record, lower k in the record before the list and raise it
/// in the list before the record: each step keeps [`overlaps`].
///
/// A list that relies on a record this action wrote (a widened list, a
/// lower k, a list naming nobody) waits for the next action, whose view
/// shows that record with quorum: a partition that began during this
/// action may have left the record in this side's CIB alone (Pacemaker
/// takes attribute writes without quorum), and the side that elects
/// would then compare positions by the older record.
pub fn quorum_step(f: &QuorumFacts) -> QuorumStep {
    match next_step(f) {
        QuorumStep::SetList(l) if !overlaps(&l, f.shown) => QuorumStep::Wait(format!(
            "the list {:?} waits until a view with quorum shows the record {:?}",
            l.value(),
            f.record.wire()
        )),
        step => step,
    }
}

fn next_step(f: &QuorumFacts) -> QuorumStep {
    let (list, record) = (f.list, f.record);
    if !f.quorum {
        return QuorumStep::Wait("no quorum: the list and the record stay".into());
    }
    let wanted: BTreeSet<String> = list
        .standbys
        .iter()
        .chain(f.caught_up.iter())
        .filter(|n| !f.gone.contains(*n))
        .cloned()
        .collect();
    let wanted_k = f.wanted_k.min(wanted.len()).max(1);
    // A record that lets promotions compare fewer positions is written
    // only once k of its voters hold the ceiling (see above).
    let once_held = |r: QuorumRecord, why: String| {
        if r.voters
            .iter()
            .filter(|v| f.at_ceiling.contains(*v))
            .count()
            < r.k
        {
            QuorumStep::Wait(why)
        } else {
            QuorumStep::Record(r)
        }
    };
    if !overlaps(list, record) {
        // Not a state these steps make (a record written by hand, or a
        // list changed behind the agent's back). The primary acknowledging
        // alone: no record may promise otherwise. Else promotions compare
        // more.
        if list.standbys.is_empty() {
            return QuorumStep::Record(QuorumRecord::none());
        }
        let voters: BTreeSet<String> = record.voters.union(&list.standbys).cloned().collect();
        let k = record.k.min(list.k).max(1);
        return QuorumStep::Record(QuorumRecord { k, voters });
    }
    // Remove: k first lowered in the record when fewer are left, then the
    // list, then (once the others hold the ceiling) the record. The last
    // one: the record goes first, then the list names nobody.
    if let Some(x) = list.standbys.difference(&wanted).next() {
        let mut standbys = list.standbys.clone();
        standbys.remove(x);
        if standbys.is_empty() {
            if !record.voters.is_empty() {
                return QuorumStep::Record(QuorumRecord::none());
            }
            return QuorumStep::SetList(QuorumList {
                k: list.k,
                standbys,
            });
        }
        let k = list.k.min(standbys.len());
        if k < record.k {
            return QuorumStep::Record(QuorumRecord {
                k,
                voters: record.voters.clone(),
            });
        }
        return QuorumStep::SetList(QuorumList { k, standbys });
    }
    // A list with no record (a new primary's, or after a primary that ran
    // alone): recorded once enough of it holds the ceiling, so that every
    // commit acknowledged before it took effect is among the positions a
    // promotion compares.
    if record.voters.is_empty() && !list.standbys.is_empty() {
        let covering = QuorumRecord {
            k: list.k,
            voters: list.standbys.clone(),
        };
        let why = format!(
            "{} is recorded once {} of them hold the ceiling",
            covering.wire(),
            covering.k
        );
        return once_held(covering, why);
    }
    // Add: the record first, then the list; from a list naming nobody
    // (no record) the list first, recorded as above.
    if let Some(x) = wanted.difference(&list.standbys).next() {
        if !list.standbys.is_empty() && !record.voters.contains(x) {
            let mut voters = record.voters.clone();
            voters.insert(x.clone());
            return QuorumStep::Record(QuorumRecord {
                k: record.k,
                voters,
            });
        }
        let mut standbys = list.standbys.clone();
        standbys.insert(x.clone());
        return QuorumStep::SetList(QuorumList {
            k: list.k.max(1),
            standbys,
        });
    }
    if let Some(x) = record.voters.difference(&list.standbys).next() {
        let mut voters = record.voters.clone();
        voters.remove(x);
        let k = record.k.min(voters.len()).max(1);
        let shrunk = QuorumRecord { k, voters };
        let why = format!(
            "{x} stays a voter until {} of {} hold every commit it may have acknowledged",
            shrunk.k,
            shrunk.wire()
        );
        return once_held(shrunk, why);
    }
    if list.standbys.is_empty() {
        return QuorumStep::Settled;
    }
    // k: raised in the list first, lowered in the record first.
    if list.k < wanted_k {
        return QuorumStep::SetList(QuorumList {
            k: wanted_k,
            standbys: list.standbys.clone(),
        });
    }
    if record.k < list.k {
        // Fewer positions compared: only once k of the voters hold every
        // commit acknowledged by fewer before the list asked for more.
        let raised = QuorumRecord {
            k: list.k,
            voters: record.voters.clone(),
        };
        let why = format!(
            "{} is recorded once {} of them hold the ceiling",
            raised.wire(),
            raised.k
        );
        return once_held(raised, why);
    }
    if list.k > wanted_k {
        if record.k > wanted_k {
            return QuorumStep::Record(QuorumRecord {
                k: wanted_k,
                voters: record.voters.clone(),
            });
        }
        return QuorumStep::SetList(QuorumList {
            k: wanted_k,
            standbys: list.standbys.clone(),
        });
    }
    QuorumStep::Settled
}

/// What the primary read for one pass over its standbys in quorum mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumPassFacts<'a> {
    pub rows: &'a [ReplicationRow],
    /// The list PostgreSQL has in effect.
    pub list: &'a QuorumList,
    /// The primary's flushed position read once `list` took effect
    /// (`None`: not read yet).
    pub ceiling: Option<Lsn>,
}

/// The record a primary keeps on its node, this action's writes included
/// (an unreadable one, not ours, counts as none).
pub fn record_on(plan: &Plan, node: &str) -> QuorumRecord {
    read_record(plan.current(node, Attr::AckedOnAny))
}

/// The same as the view read at the action's start showed it.
fn shown_record(plan: &Plan, node: &str) -> QuorumRecord {
    read_record(
        plan.view
            .attribute(node, &Attr::AckedOnAny.name(&plan.cfg.rsc)),
    )
}

fn read_record(value: Option<&str>) -> QuorumRecord {
    value
        .and_then(QuorumRecord::parse)
        .unwrap_or_else(QuorumRecord::none)
}

fn own_record(plan: &Plan) -> QuorumRecord {
    record_on(plan, &plan.cfg.me)
}

/// Quorum mode: the record of the last primary, the only node that says
/// `LATEST`, when it is another node and holds one; an election or a
/// promotion then needs the positions of enough of its voters. The voters
/// keep their scores once it is gone (a failover needs one), so unlike
/// [`super::is_last_primary`] a scored node does not hide it. Two `LATEST`
/// (a promotion under way): the new primary has no record yet, and none
/// is read.
pub fn last_record(plan: &Plan) -> Option<QuorumRecord> {
    record_seen_by(plan, &plan.cfg.me)
}

/// [`last_record`] as `node` reads it: none when `node` is the last
/// primary itself.
pub fn record_seen_by(plan: &Plan, node: &str) -> Option<QuorumRecord> {
    if !plan.cfg.quorum_mode() {
        return None;
    }
    let last = only_latest(plan)?;
    let record = record_on(plan, last);
    (last != node && !record.voters.is_empty()).then_some(record)
}

/// The one node that says `LATEST`, when only one does.
pub fn only_latest<'p>(plan: &'p Plan) -> Option<&'p str> {
    let latest: Vec<&String> = plan
        .cfg
        .node_list
        .iter()
        .filter(|n| plan.current_data_status(n) == Some(DataStatus::Latest))
        .collect();
    match latest[..] {
        [last] => Some(last),
        _ => None,
    }
}

/// The primary's pass in quorum mode: every other node's data-status and
/// status from `pg_stat_replication` (a row counts as in sync mode: not a
/// `DIVERGED` node's, nor one whose node left), a score of 100 for the
/// voters that are listed, stream and have flushed the ceiling (Pacemaker
/// then picks among them; the check at promotion decides which one), and
/// the next step of the pair ([`quorum_step`]). A record step is written
/// into the plan here; the executor waits until the CIB shows it.
pub fn control_quorum(plan: &mut Plan, facts: &QuorumPassFacts) -> QuorumStep {
    let cfg = plan.cfg;
    let record = own_record(plan);
    let shown = shown_record(plan, &cfg.me);
    let out = |n: &String| !plan.view.online(n) || !plan.view.runs_instance(n);
    let gone: BTreeSet<String> = facts
        .list
        .standbys
        .iter()
        .chain(&record.voters)
        .filter(|n| out(n))
        .cloned()
        .collect();
    // A voter is scored only while enough of the record's voters run to
    // prove its promotion (`promotion::quorum_proof`): otherwise its score
    // only stops the recovery in place of a crashed primary, which holds
    // every commit, for a promotion that gives up.
    let provable =
        record.voters.iter().filter(|v| !gone.contains(*v)).count() >= record.positions_needed();
    let mut caught_up = BTreeSet::new();
    let mut at_ceiling = BTreeSet::new();
    for target in cfg.others() {
        let row = counted_row(cfg, plan.view, facts.rows, target);
        let data_status = row.map_or(DataStatus::Disconnect, ReplicationRow::data_status);
        plan.data_status(target, data_status);
        if let Some(s) = standby_status(data_status) {
            plan.status(target, s);
        }
        let streaming = row.is_some_and(|r| r.state == SenderState::Streaming);
        let flushed_ceiling = matches!(
            (row.and_then(|r| r.flush), facts.ceiling),
            (Some(f), Some(c)) if f >= c
        );
        if streaming {
            caught_up.insert(target.to_string());
        }
        if streaming && flushed_ceiling {
            at_ceiling.insert(target.to_string());
        }
        let voter = record.voters.contains(target) && facts.list.standbys.contains(target);
        // A voter that stays listed, recorded and streaming keeps a score
        // it has: after a change of the list it reaches the new ceiling
        // under load only at the next monitor, and the score is not the
        // proof here (`promotion::quorum_proof` is). Unscoring every voter
        // at each change would leave a primary lost in that window to the
        // election, which waits for final positions. A voter without a
        // score earns it at the ceiling.
        let kept = plan.has_positive_score(target);
        let score = if voter && provable && streaming && (flushed_ceiling || kept) {
            Score::CanPromote
        } else {
            Score::CanNotPromote
        };
        plan.other_score(target, score);
    }
    let step = quorum_step(&QuorumFacts {
        list: facts.list,
        record: &record,
        shown: &shown,
        wanted_k: cfg.quorum_standbys,
        caught_up: &caught_up,
        gone: &gone,
        at_ceiling: &at_ceiling,
        quorum: plan.view.quorum,
    });
    let me = cfg.me.clone();
    // Sync mode's record means nothing here.
    plan.delete(&me, Attr::AckedAlsoOn);
    if let QuorumStep::Record(r) = &step {
        if r.voters.is_empty() {
            plan.delete(&me, Attr::AckedOnAny);
        } else {
            plan.set(&me, AttrValue::AckedOnAny(r.clone()));
        }
    }
    step
}

/// The election in quorum mode, from the last primary's record and the
/// final positions the voters published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuorumElection {
    /// The most advanced of enough voters' positions (timeline, then LSN;
    /// of equals, the first by name): every commit acknowledged by `k`
    /// voters is on it.
    Promote(String),
    /// Fewer positions than the record asks for: the voters still to
    /// publish one (what `rustpgctl explain` names).
    Waiting { needed: usize, missing: Vec<String> },
}

/// Promote once at least `voters − k + 1` voters published a final
/// position (any set that acknowledged a commit then overlaps the
/// compared one), the most advanced of them; positions of nodes that are
/// not voters do not count.
pub fn quorum_election(
    record: &QuorumRecord,
    positions: &std::collections::BTreeMap<String, Location>,
) -> QuorumElection {
    let published: Vec<(&String, &Location)> = record
        .voters
        .iter()
        .filter_map(|v| positions.get(v).map(|l| (v, l)))
        .collect();
    let needed = record.positions_needed();
    if published.len() < needed || published.is_empty() {
        return QuorumElection::Waiting {
            needed,
            missing: record
                .voters
                .iter()
                .filter(|v| !positions.contains_key(*v))
                .cloned()
                .collect(),
        };
    }
    let mut best = published[0];
    for p in &published[1..] {
        if p.1.compare(best.1) == std::cmp::Ordering::Greater {
            best = *p;
        }
    }
    QuorumElection::Promote(best.0.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quorum_list_reads_back_what_the_agent_writes() {
        for list in [
            QuorumList::new(1, &["pg02", "pg03"]),
            QuorumList::new(2, &["pg02", "pg03", "pg04", "pg05"]),
            QuorumList::new(0, &[]),
        ] {
            assert_eq!(
                QuorumList::parse(&list.value()),
                Some(list.clone()),
                "{}",
                list.value()
            );
        }
        assert_eq!(
            QuorumList::parse(" any 1 (PG02, \"pg03\") "),
            Some(QuorumList::new(1, &["pg02", "pg03"]))
        );
        for not_quorum in [
            "FIRST 1 (pg02)",
            "pg02, pg03",
            "ANY 3 (pg02, pg03)",
            "ANY 0 (pg02)",
            "ANY x (pg02)",
            "ANY 1 (pg02,)",
        ] {
            assert_eq!(QuorumList::parse(not_quorum), None, "{not_quorum}");
        }
    }
    use crate::core::lsn::Lsn;
    use proptest::prelude::*;

    fn names(n: &[&str]) -> BTreeSet<String> {
        set(n)
    }

    #[test]
    fn wire_values() {
        let r = QuorumRecord::new(2, &["pg04", "pg02", "pg03"]);
        assert_eq!(r.wire(), "2 of pg02 pg03 pg04");
        assert_eq!(QuorumRecord::parse(&r.wire()), Some(r.clone()));
        assert_eq!(r.positions_needed(), 2);
        assert_eq!(QuorumRecord::parse("3 of pg02 pg03"), None);
        assert_eq!(QuorumRecord::parse("0 of pg02"), None);
        assert_eq!(
            QuorumList::new(1, &["pg03", "pg02"]).value(),
            r#"ANY 1 ("pg02", "pg03")"#
        );
        assert_eq!(QuorumList::new(1, &[]).value(), "");
    }

    #[test]
    fn the_invariant() {
        let r = QuorumRecord::new(1, &["pg02", "pg03"]);
        assert!(overlaps(&QuorumList::new(1, &["pg02", "pg03"]), &r));
        assert!(overlaps(&QuorumList::new(2, &["pg02", "pg03"]), &r));
        assert!(overlaps(&QuorumList::new(1, &["pg02"]), &r));
        assert!(!overlaps(&QuorumList::new(1, &["pg02", "pg04"]), &r));
        let r2 = QuorumRecord::new(2, &["pg02", "pg03", "pg04"]);
        assert!(!overlaps(&QuorumList::new(1, &["pg02", "pg03"]), &r2));
    }

    fn facts<'a>(
        list: &'a QuorumList,
        record: &'a QuorumRecord,
        k: usize,
        caught_up: &'a BTreeSet<String>,
        gone: &'a BTreeSet<String>,
        at_ceiling: &'a BTreeSet<String>,
    ) -> QuorumFacts<'a> {
        QuorumFacts {
            list,
            record,
            shown: record,
            wanted_k: k,
            caught_up,
            gone,
            at_ceiling,
            quorum: true,
        }
    }

    /// Five nodes, k=2: a new primary's list of every other node, a
    /// standby's node gone: the list narrows first, the record only once
    /// enough of the others hold the ceiling.
    #[test]
    fn a_voter_leaves_the_list_before_the_record() {
        let list = QuorumList::new(2, &["pg02", "pg03", "pg04", "pg05"]);
        let record = QuorumRecord::new(2, &["pg02", "pg03", "pg04", "pg05"]);
        let none = names(&[]);
        let gone = names(&["pg05"]);
        let step = quorum_step(&facts(&list, &record, 2, &none, &gone, &none));
        assert_eq!(
            step,
            QuorumStep::SetList(QuorumList::new(2, &["pg02", "pg03", "pg04"]))
        );
        let list = QuorumList::new(2, &["pg02", "pg03", "pg04"]);
        let one = names(&["pg02"]);
        assert!(matches!(
            quorum_step(&facts(&list, &record, 2, &none, &gone, &one)),
            QuorumStep::Wait(_)
        ));
        let two = names(&["pg02", "pg03"]);
        assert_eq!(
            quorum_step(&facts(&list, &record, 2, &none, &gone, &two)),
            QuorumStep::Record(QuorumRecord::new(2, &["pg02", "pg03", "pg04"]))
        );
    }

    /// A record beside a list naming nobody is deleted (the primary
    /// acknowledges alone); without quorum nothing moves.
    #[test]
    fn repairs_and_no_quorum() {
        let none = names(&[]);
        let empty = QuorumList::new(1, &[]);
        let record = QuorumRecord::new(1, &["pg02"]);
        assert_eq!(
            quorum_step(&facts(&empty, &record, 1, &none, &none, &none)),
            QuorumStep::Record(QuorumRecord::none())
        );
        let list = QuorumList::new(1, &["pg02", "pg03"]);
        let record = QuorumRecord::new(1, &["pg02", "pg03"]);
        let gone = names(&["pg03"]);
        let f = QuorumFacts {
            quorum: false,
            ..facts(&list, &record, 1, &none, &gone, &none)
        };
        assert!(matches!(quorum_step(&f), QuorumStep::Wait(_)));
    }

    /// A list that relies on a record written in this action (widened, a
    /// lower k, naming nobody) waits for a view with quorum that shows
    /// it; a narrower list or a higher k does not.
    #[test]
    fn a_list_relies_only_on_a_record_a_view_with_quorum_showed() {
        let none = names(&[]);
        let up = names(&["pg02", "pg03", "pg04"]);
        let list = QuorumList::new(1, &["pg02", "pg03"]);
        let old = QuorumRecord::new(1, &["pg02", "pg03"]);
        let widened = QuorumRecord::new(1, &["pg02", "pg03", "pg04"]);
        let f = QuorumFacts {
            shown: &old,
            ..facts(&list, &widened, 1, &up, &none, &none)
        };
        assert!(matches!(quorum_step(&f), QuorumStep::Wait(_)));
        assert_eq!(
            quorum_step(&facts(&list, &widened, 1, &up, &none, &none)),
            QuorumStep::SetList(QuorumList::new(1, &["pg02", "pg03", "pg04"]))
        );
        // k lowered in the record in this action: the list follows later.
        let list = QuorumList::new(2, &["pg02", "pg03"]);
        let (two, one) = (
            QuorumRecord::new(2, &["pg02", "pg03"]),
            QuorumRecord::new(1, &["pg02", "pg03"]),
        );
        let gone = names(&["pg03"]);
        let f = QuorumFacts {
            shown: &two,
            ..facts(&list, &one, 1, &none, &gone, &none)
        };
        assert!(matches!(quorum_step(&f), QuorumStep::Wait(_)));
        // The last voter: its record deleted in this action, the list
        // names nobody only once a view shows no record.
        let list = QuorumList::new(1, &["pg02"]);
        let (was, gone) = (QuorumRecord::new(1, &["pg02"]), names(&["pg02"]));
        let deleted = QuorumRecord::none();
        let f = QuorumFacts {
            shown: &was,
            ..facts(&list, &deleted, 1, &none, &gone, &none)
        };
        assert!(matches!(quorum_step(&f), QuorumStep::Wait(_)));
        // Narrowing never waits for the view.
        let list = QuorumList::new(1, &["pg02", "pg03"]);
        let gone = names(&["pg03"]);
        let f = QuorumFacts {
            shown: &old,
            ..facts(&list, &old, 1, &none, &gone, &none)
        };
        assert_eq!(
            quorum_step(&f),
            QuorumStep::SetList(QuorumList::new(1, &["pg02"]))
        );
    }

    /// A standby that caught up joins the record first, then the list.
    #[test]
    fn a_standby_joins_the_record_before_the_list() {
        let list = QuorumList::new(1, &["pg02"]);
        let record = QuorumRecord::new(1, &["pg02"]);
        let none = names(&[]);
        let up = names(&["pg03"]);
        assert_eq!(
            quorum_step(&facts(&list, &record, 1, &up, &none, &none)),
            QuorumStep::Record(QuorumRecord::new(1, &["pg02", "pg03"]))
        );
        let record = QuorumRecord::new(1, &["pg02", "pg03"]);
        assert_eq!(
            quorum_step(&facts(&list, &record, 1, &up, &none, &none)),
            QuorumStep::SetList(QuorumList::new(1, &["pg02", "pg03"]))
        );
        let list = QuorumList::new(1, &["pg02", "pg03"]);
        assert_eq!(
            quorum_step(&facts(&list, &record, 1, &up, &none, &none)),
            QuorumStep::Settled
        );
    }

    fn at(tli: u32, lsn: u64) -> Location {
        Location {
            tli: Some(tli),
            lsn: Lsn(lsn),
        }
    }

    /// Five nodes, k=2: three of the four voters' positions are enough;
    /// the most advanced wins, a non-voter's position does not count.
    #[test]
    fn the_election_waits_for_enough_voters() {
        let record = QuorumRecord::new(2, &["pg02", "pg03", "pg04", "pg05"]);
        let mut positions = std::collections::BTreeMap::new();
        positions.insert("pg02".to_string(), at(3, 0x500));
        positions.insert("pg03".to_string(), at(3, 0x700));
        positions.insert("pg01".to_string(), at(3, 0x900));
        assert_eq!(
            quorum_election(&record, &positions),
            QuorumElection::Waiting {
                needed: 3,
                missing: vec!["pg04".into(), "pg05".into()]
            }
        );
        positions.insert("pg05".to_string(), at(2, 0x9000));
        assert_eq!(
            quorum_election(&record, &positions),
            QuorumElection::Promote("pg03".into()),
            "the newer timeline first, then the LSN"
        );
        positions.insert("pg04".to_string(), at(4, 0x100));
        assert_eq!(
            quorum_election(&record, &positions),
            QuorumElection::Promote("pg04".into())
        );
    }

    const NODES: [&str; 4] = ["pg02", "pg03", "pg04", "pg05"];

    fn subset(bits: u8) -> BTreeSet<String> {
        NODES
            .iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .map(|(_, n)| n.to_string())
            .collect()
    }

    /// A model of the commits: the primary's position, each standby's
    /// flushed position, and the newest acknowledged commit.
    struct Model {
        primary: u64,
        at: std::collections::BTreeMap<String, u64>,
        newest_acked: u64,
        ceiling: u64,
    }

    impl Model {
        /// One commit under `list`: acknowledged once `k` listed standbys
        /// that are not gone flushed it (`order` picks which first), or at
        /// once by the primary alone when the list names nobody.
        fn commit(&mut self, list: &QuorumList, gone: &BTreeSet<String>, order: u8) {
            self.primary += 1;
            if list.standbys.is_empty() {
                self.newest_acked = self.primary;
                return;
            }
            let mut up: Vec<&String> = list
                .standbys
                .iter()
                .filter(|n| !gone.contains(*n))
                .collect();
            let turn = order as usize % up.len().max(1);
            up.rotate_left(turn);
            if up.len() < list.k {
                return; // it waits
            }
            for n in &up[..list.k] {
                self.at.insert(n.to_string(), self.primary);
            }
            self.newest_acked = self.primary;
        }

        fn holding(&self, at: u64) -> BTreeSet<String> {
            self.at
                .iter()
                .filter(|(_, p)| **p >= at)
                .map(|(n, _)| n.clone())
                .collect()
        }

        /// Zero loss: a promotion that compares any `voters − k + 1`
        /// voters sees the newest acknowledged commit, i.e. at least k
        /// voters hold it. No record: elections wait for the primary.
        fn safe(&self, record: &QuorumRecord) -> bool {
            record.voters.is_empty()
                || record
                    .voters
                    .intersection(&self.holding(self.newest_acked))
                    .count()
                    >= record.k
        }

        /// The election among the voters still there (the gone ones
        /// publish nothing) promotes one that holds the newest
        /// acknowledged commit, or waits.
        fn elects_safely(&self, record: &QuorumRecord, gone: &BTreeSet<String>) -> bool {
            if record.voters.is_empty() {
                return true; // it waits for the last primary
            }
            let positions = self
                .at
                .iter()
                .filter(|(n, _)| !gone.contains(*n))
                .map(|(n, p)| {
                    (
                        n.clone(),
                        Location {
                            tli: Some(1),
                            lsn: Lsn(*p),
                        },
                    )
                })
                .collect();
            match quorum_election(record, &positions) {
                QuorumElection::Promote(w) => self.at[&w] >= self.newest_acked,
                QuorumElection::Waiting { .. } => true,
            }
        }
    }

    proptest! {
        /// From any pair, even one these steps never make (written by hand,
        /// or left by an earlier version), the first step makes the pair
        /// overlap or waits, and every later one keeps it.
        #[test]
        fn any_pair_is_repaired_first(
            (list_bits, list_k, record_bits, record_k) in (0u8..16, 1usize..=4, 0u8..16, 1usize..=4),
            k in 1usize..=3,
            caught_up in 0u8..16,
            gone in 0u8..16,
        ) {
            let standbys = subset(list_bits);
            let voters = subset(record_bits);
            let mut list = QuorumList { k: list_k.min(standbys.len().max(1)), standbys };
            let mut record = QuorumRecord {
                k: if voters.is_empty() { 0 } else { record_k.min(voters.len()) },
                voters,
            };
            let (caught_up, gone, at_ceiling) = (subset(caught_up), subset(gone), subset(0b1111));
            for _ in 0..30 {
                let f = facts(&list, &record, k, &caught_up, &gone, &at_ceiling);
                match quorum_step(&f) {
                    QuorumStep::Record(r) => record = r,
                    QuorumStep::SetList(l) => list = l,
                    QuorumStep::Wait(_) | QuorumStep::Settled => break,
                }
                prop_assert!(overlaps(&list, &record), "{:?} with {:?}", list, record);
            }
        }

        /// Commits acknowledged under whatever list is in effect, standbys
        /// that catch up, leave and return between the steps: after every
        /// step, a promotion by the record loses no acknowledged commit.
        #[test]
        fn no_record_ever_loses_an_acknowledged_commit(
            k in 1usize..=3,
            worlds in proptest::collection::vec((0u8..16, 0u8..16, 0u8..4, any::<u8>(), 0u8..8), 1..16),
        ) {
            let mut list = QuorumList { k: 1, standbys: subset(0b0011) };
            let mut record = QuorumRecord { k: 1, voters: subset(0b0011) };
            let mut m = Model {
                primary: 0,
                at: NODES.iter().map(|n| (n.to_string(), 0)).collect(),
                newest_acked: 0,
                ceiling: 0,
            };
            for (gone, catch_up, commits, order, cut) in worlds {
                // One world is one action: its view showed `shown`. With
                // `cut`, a partition began during it, and the records it
                // writes reach only the primary's side: the side that
                // elects keeps `shown` (and the primary stops there).
                let (cut, shown) = (cut == 0, record.clone());
                let gone = subset(gone);
                for i in 0..commits {
                    m.commit(&list, &gone, order.wrapping_add(i));
                }
                for n in subset(catch_up).difference(&gone) {
                    m.at.insert(n.clone(), m.primary);
                }
                prop_assert!(m.safe(&record), "{:?} {:?} {:?}", list, record, m.at);
                for step in 0..30u32 {
                    let streaming: BTreeSet<String> =
                        NODES.iter().map(|n| n.to_string()).filter(|n| !gone.contains(n)).collect();
                    let at_ceiling: BTreeSet<String> =
                        m.holding(m.ceiling).intersection(&streaming).cloned().collect();
                    let f = QuorumFacts {
                        shown: &shown,
                        ..facts(&list, &record, k, &at_ceiling, &gone, &at_ceiling)
                    };
                    match quorum_step(&f) {
                        QuorumStep::Record(r) => record = r,
                        QuorumStep::SetList(l) => {
                            list = l;
                            m.ceiling = m.primary;
                        }
                        QuorumStep::Wait(_) | QuorumStep::Settled => break,
                    }
                    let electing = if cut { &shown } else { &record };
                    prop_assert!(m.safe(electing), "{:?} {:?} {:?}", list, electing, m.at);
                    prop_assert!(m.elects_safely(electing, &gone), "{:?} {:?} {:?}", list, electing, m.at);
                    // Sometimes a commit between two steps, under the list
                    // now in effect.
                    if (order >> (step % 8)) & 1 == 1 {
                        m.commit(&list, &gone, order);
                        prop_assert!(m.safe(electing), "{:?} {:?} {:?}", list, electing, m.at);
                    }
                }
                if cut {
                    break;
                }
            }
        }

        /// Whatever the standbys do between steps (join, leave, catch up,
        /// reach the ceiling), every step keeps the invariant for the
        /// list PostgreSQL may still apply (the old one until the new one
        /// is in effect, so both are checked), and a stable world settles.
        #[test]
        fn every_step_keeps_the_overlap(
            k in 1usize..=3,
            worlds in proptest::collection::vec((0u8..16, 0u8..16, 0u8..16), 1..12),
        ) {
            let mut list = QuorumList { k: 1, standbys: subset(0b0011) };
            let mut record = QuorumRecord { k: 1, voters: subset(0b0011) };
            for (caught_up, gone, at_ceiling) in worlds {
                let (caught_up, gone, at_ceiling) =
                    (subset(caught_up), subset(gone), subset(at_ceiling));
                let mut stopped = false;
                for _ in 0..30 {
                    let f = facts(&list, &record, k, &caught_up, &gone, &at_ceiling);
                    match quorum_step(&f) {
                        QuorumStep::Record(r) => {
                            prop_assert!(overlaps(&list, &r), "{:?} with {:?}", list, r);
                            record = r;
                        }
                        QuorumStep::SetList(l) => {
                            prop_assert!(overlaps(&l, &record), "{:?} with {:?}", l, record);
                            list = l;
                        }
                        QuorumStep::Wait(_) | QuorumStep::Settled => {
                            stopped = true;
                            break;
                        }
                    }
                }
                prop_assert!(stopped, "no rest: {:?} {:?}", list, record);
            }
        }
    }
}
