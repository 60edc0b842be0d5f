//! The lab's healthy picture, defined once: what `crm_mon` must show before
//! a lab cluster (`lab/cluster.sh`) counts as whole. One primary with the
//! VIP; every other named node a streaming standby, one of them the sync
//! standby; every attribute as the agent publishes it; PgBouncer on every
//! named node with its VIP on one of them; nothing failed or unmanaged.
//!
//! Read through the agent's own parser (`rustpg::core::crm_mon`) and wire
//! types. The lab tests link this crate; `lab/cluster.sh` runs the
//! `labview` binary on crm_mon's XML.

use rustpg::core::crm_mon::{self, ClusterView, CrmMonError};
use rustpg::core::replication::{
    Attr, DataStatus, Score, ScoreValue, SenderState, Status, SyncRole,
};
use std::collections::BTreeSet;

/// The lab's promotable resource (and the stock attribute prefix).
pub const RSC: &str = "Postgresql";
const VIP: &str = "PostgresqlVIP";
const BOUNCER: &str = "PgBouncer";
const BOUNCER_VIP: &str = "PgBouncerVIP";
/// The lab's three nodes.
pub const NODES: [&str; 3] = ["pg01", "pg02", "pg03"];

/// Which agent manages the lab's clone (`LAB_AGENT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agent {
    /// `ocf:rustpg:pgsql`: the stock picture, plus the primary's record
    /// of its sync standby (`acked-also-on`).
    Ours,
    /// `ocf:heartbeat:pgsql`.
    Stock,
    /// `ocf:heartbeat:pgsqlms`: roles and scores only, no status
    /// attributes (the lab reads PAF's streaming from PostgreSQL).
    Paf,
}

impl Agent {
    /// `LAB_AGENT`'s words.
    pub fn parse(word: &str) -> Option<Agent> {
        match word {
            "ours" => Some(Agent::Ours),
            "stock" => Some(Agent::Stock),
            "paf" => Some(Agent::Paf),
            _ => None,
        }
    }

    /// The agent that runs the clone, as crm_mon shows it: `None` when no
    /// instance or instances of several agents (a change of provider under
    /// way) are shown.
    pub fn shown(p: &Picture) -> Option<Agent> {
        let agents: BTreeSet<&str> = p
            .view
            .instances
            .iter()
            .filter(|i| i.resource == RSC)
            .map(|i| i.agent.as_str())
            .collect();
        match agents.into_iter().collect::<Vec<_>>().as_slice() {
            [one] => [Agent::Ours, Agent::Stock, Agent::Paf]
                .into_iter()
                .find(|a| a.resource_agent() == *one),
            _ => None,
        }
    }

    /// crm_mon's `resource_agent`.
    fn resource_agent(self) -> &'static str {
        match self {
            Agent::Ours => "ocf:rustpg:pgsql",
            Agent::Stock => "ocf:heartbeat:pgsql",
            Agent::Paf => "ocf:heartbeat:pgsqlms",
        }
    }
}

/// What the picture must show.
#[derive(Debug, Clone)]
pub struct Expected {
    /// The nodes that must be online and in the picture; others are not
    /// looked at.
    pub nodes: Vec<String>,
    pub agent: Agent,
    pub mode: Mode,
}

/// The lab's `rep_mode` (`LAB_REP_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One sync standby, recorded by the primary; the others async.
    Sync,
    /// No sync standby.
    Async,
    /// Ours: every standby a voter, `ANY k` (`quorum_standbys`),
    /// recorded by the primary.
    Quorum(usize),
}

impl Mode {
    /// `sync`, `async`, `quorum` (k = 1) or `quorum:K`.
    pub fn parse(word: &str) -> Option<Mode> {
        match word.split_once(':') {
            None => match word {
                "sync" => Some(Mode::Sync),
                "async" => Some(Mode::Async),
                "quorum" => Some(Mode::Quorum(1)),
                _ => None,
            },
            Some(("quorum", k)) => k.parse().ok().filter(|k| *k >= 1).map(Mode::Quorum),
            Some(_) => None,
        }
    }

    /// The status of a standby that may acknowledge commits: the sync
    /// standby (`HS:sync`) or a voter (`HS:quorum`); none in async mode.
    pub fn acknowledging(self) -> Option<Status> {
        match self {
            Mode::Sync => Some(Status::HsSync),
            Mode::Quorum(_) => Some(Status::HsQuorum),
            Mode::Async => None,
        }
    }

    /// The status of a standby that returns after a fault: a voter again
    /// in quorum mode; otherwise async (another standby took the sync
    /// role meanwhile).
    pub fn returning(self) -> Status {
        match self {
            Mode::Quorum(_) => Status::HsQuorum,
            Mode::Sync | Mode::Async => Status::HsAsync,
        }
    }

    /// `sync`, `async` or `quorum:K`, as in the lab's logs.
    pub fn word(self) -> String {
        match self {
            Mode::Sync => "sync".into(),
            Mode::Async => "async".into(),
            Mode::Quorum(k) => format!("quorum:{k}"),
        }
    }
}

/// The lab's node names for `count` nodes: pg01, pg02, ...
pub fn node_names(count: usize) -> Vec<String> {
    (1..=count).map(|i| format!("pg{i:02}")).collect()
}

impl Expected {
    /// All three nodes, synchronous replication.
    pub fn lab(agent: Agent) -> Expected {
        Expected {
            nodes: node_names(NODES.len()),
            agent,
            mode: Mode::Sync,
        }
    }
}

/// What crm_mon says, as the agent parses it.
#[derive(Debug)]
pub struct Picture {
    pub view: ClusterView,
    /// Where the VIP runs.
    pub vip_on: Option<String>,
}

impl Picture {
    pub fn parse(xml: &str) -> Result<Picture, CrmMonError> {
        let view = crm_mon::parse(xml, RSC)?;
        let vip_on = match started_on(&view, VIP).as_slice() {
            [one] => Some(one.to_string()),
            _ => None,
        };
        Ok(Picture { view, vip_on })
    }

    pub fn attr(&self, node: &str, name: &str) -> Option<&str> {
        self.view.attribute(node, name)
    }

    /// One of the protocol's attributes of `node`.
    pub fn get(&self, node: &str, attr: Attr) -> Option<&str> {
        self.attr(node, &attr.name(RSC))
    }

    /// The one promoted node.
    pub fn primary(&self) -> Option<&str> {
        match self.view.promoted.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    /// The node whose status is `status`.
    pub fn node_with_status(&self, status: Status) -> Option<String> {
        self.view
            .nodes
            .keys()
            .find(|n| self.get(n, Attr::Status) == Some(status.wire()))
            .cloned()
    }

    /// The nodes other than the primary, those that hold every
    /// acknowledged commit first: the sync standby, then the voters, then
    /// the others; by name within each. A fault aimed at "the first
    /// standby" means the same node in every mode.
    pub fn standbys_ranked(&self) -> Vec<String> {
        let rank = |n: &str| match self.get(n, Attr::Status) {
            Some(s) if s == Status::HsSync.wire() => 0,
            Some(s) if s == Status::HsQuorum.wire() => 1,
            _ => 2,
        };
        let mut standbys: Vec<String> = self
            .view
            .nodes
            .keys()
            .filter(|n| Some(n.as_str()) != self.primary())
            .cloned()
            .collect();
        standbys.sort_by_key(|n| rank(n));
        standbys
    }

    /// The clone's role on `node`: `Promoted`, `Unpromoted` or `Stopped`.
    pub fn role(&self, node: &str) -> &'static str {
        if self.view.promoted.iter().any(|n| n == node) {
            "Promoted"
        } else if self.view.unpromoted.iter().any(|n| n == node) {
            "Unpromoted"
        } else {
            "Stopped"
        }
    }
}

/// The nodes where `resource` (or an instance of its clone) is started.
fn started_on<'v>(view: &'v ClusterView, resource: &str) -> Vec<&'v str> {
    view.instances
        .iter()
        .filter(|i| i.resource == resource && i.role == "Started")
        .filter_map(|i| i.node.as_deref())
        .collect()
}

/// Whether the picture is whole.
pub fn is_healthy(p: &Picture, want: &Expected) -> bool {
    missing(p, want).is_empty()
}

/// What keeps the picture from being whole, in words (empty: nothing).
pub fn missing(p: &Picture, want: &Expected) -> Vec<String> {
    let mut missing = vec![];
    let offline: Vec<&str> = want
        .nodes
        .iter()
        .map(String::as_str)
        .filter(|n| !p.view.online(n))
        .collect();
    if !offline.is_empty() {
        missing.push(format!("offline: {}", offline.join(" ")));
    }
    match p.primary() {
        None => missing.push(format!("promoted: [{}]", p.view.promoted.join(" "))),
        Some(primary) => {
            if p.vip_on.as_deref() != Some(primary) {
                missing.push(format!(
                    "VIP on [{}], not {primary}",
                    p.vip_on.as_deref().unwrap_or_default()
                ));
            }
            let standbys: Vec<&str> = want
                .nodes
                .iter()
                .map(String::as_str)
                .filter(|n| *n != primary)
                .collect();
            if want.agent == Agent::Paf {
                missing.extend(paf_roles_and_scores(p, &standbys, &want.nodes));
            } else {
                missing.extend(attributes(p, primary, &standbys, want));
            }
        }
    }
    let bouncers = started_on(&p.view, BOUNCER);
    let no_bouncer: Vec<&str> = want
        .nodes
        .iter()
        .map(String::as_str)
        .filter(|n| !bouncers.contains(n))
        .collect();
    if !no_bouncer.is_empty() {
        missing.push(format!("PgBouncer not running on {}", no_bouncer.join(" ")));
    }
    match started_on(&p.view, BOUNCER_VIP).as_slice() {
        [one] if bouncers.contains(one) => {}
        on => missing.push(format!("PgBouncerVIP on [{}]", on.join(" "))),
    }
    if !p.view.failed.is_empty() {
        missing.push(format!("failed instance on {}", p.view.failed.join(" ")));
    }
    let ours: Vec<_> = p
        .view
        .instances
        .iter()
        .filter(|i| i.resource == RSC)
        .collect();
    let agents: BTreeSet<&str> = ours.iter().map(|i| i.agent.as_str()).collect();
    if agents != BTreeSet::from([want.agent.resource_agent()]) {
        missing.push(format!(
            "agents: {}",
            agents.into_iter().collect::<Vec<_>>().join(" ")
        ));
    }
    if ours.iter().any(|i| !i.managed) {
        missing.push("unmanaged (maintenance mode?)".to_string());
    }
    missing
}

/// PAF publishes no status attributes: its roles and promotion scores.
fn paf_roles_and_scores(p: &Picture, standbys: &[&str], nodes: &[String]) -> Vec<String> {
    let mut missing = vec![];
    for n in standbys {
        if p.role(n) != "Unpromoted" {
            missing.push(format!("{n}: {}", p.role(n)));
        }
    }
    for n in nodes {
        let score = p.get(n, Attr::Score);
        if !matches!(score.and_then(Score::parse), Some(ScoreValue::Points(s)) if s > 0) {
            missing.push(format!("{n}: score {}", score.unwrap_or("none")));
        }
    }
    missing
}

/// The attribute protocol's picture: the primary `PRI`/`LATEST`/1000 with
/// a baseline, one standby `HS:sync`/`STREAMING|SYNC`/100 (none in async
/// mode), the others `HS:async`/`STREAMING|ASYNC`/`-INFINITY`; in quorum
/// mode every standby `HS:quorum`/`STREAMING|QUORUM`/100, and the
/// primary's record `k of` all of them.
fn attributes(p: &Picture, primary: &str, standbys: &[&str], want: &Expected) -> Vec<String> {
    if let Mode::Quorum(k) = want.mode {
        return quorum_attributes(p, primary, standbys, k);
    }
    let mut missing = primary_attributes(p, primary);
    let shows =
        |n: &str, status: Status, data: DataStatus, score: Score| shows(p, n, status, data, score);
    let shown = |n: &str| shown(p, n);
    // The stock agent right after a change of provider may still list
    // several names: the others then show potential.
    let potential = DataStatus::Sender(SenderState::Streaming, SyncRole::Potential);
    let mut sync = vec![];
    for &n in standbys {
        let standby = p.role(n) == "Unpromoted";
        if standby
            && shows(
                n,
                Status::HsSync,
                DataStatus::STREAMING_SYNC,
                Score::CanPromote,
            )
        {
            sync.push(n);
        } else if !standby
            || !(shows(
                n,
                Status::HsAsync,
                DataStatus::STREAMING_ASYNC,
                Score::CanNotPromote,
            ) || want.agent == Agent::Stock
                && shows(n, Status::HsPotential, potential, Score::CanNotPromote))
        {
            missing.push(shown(n));
        }
    }
    let sync_wanted = usize::from(want.mode == Mode::Sync && !standbys.is_empty());
    if sync.len() != sync_wanted {
        missing.push(format!("{} sync standbys", sync.len()));
    } else if want.agent == Agent::Ours {
        if let [standby] = sync.as_slice() {
            if p.get(primary, Attr::AckedAlsoOn) != Some(standby) {
                missing.push(format!("{primary}: acked-also-on not {standby}"));
            }
        }
    }
    missing
}

/// `node` shows this status, data-status and score.
fn shows(p: &Picture, n: &str, status: Status, data: DataStatus, score: Score) -> bool {
    p.get(n, Attr::Status) == Some(status.wire())
        && p.get(n, Attr::DataStatus) == Some(data.wire().as_str())
        && p.get(n, Attr::Score) == Some(score.wire())
}

/// What `node` shows, for a line of what is missing.
fn shown(p: &Picture, n: &str) -> String {
    let get = |a| p.get(n, a).unwrap_or("none");
    format!(
        "{n}: {} {} {} {}",
        p.role(n),
        get(Attr::Status),
        get(Attr::DataStatus),
        get(Attr::Score)
    )
}

/// The primary: `PRI`/`LATEST`/1000 with a baseline.
fn primary_attributes(p: &Picture, primary: &str) -> Vec<String> {
    let mut missing = vec![];
    if !shows(
        p,
        primary,
        Status::Pri,
        DataStatus::Latest,
        Score::PromoteMe,
    ) {
        missing.push(shown(p, primary));
    }
    let baseline = p.get(primary, Attr::MasterBaseline).unwrap_or_default();
    if baseline.len() != 16
        || !baseline
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'A'..=b'F'))
    {
        missing.push(format!("{primary}: no master-baseline"));
    }
    missing
}

/// Quorum mode: the primary as in [`attributes`], every standby a voter
/// the primary scored, and its record naming them all with k (fewer when
/// fewer standbys are named, as the primary records it).
fn quorum_attributes(p: &Picture, primary: &str, standbys: &[&str], k: usize) -> Vec<String> {
    let mut missing = primary_attributes(p, primary);
    let voter = DataStatus::Sender(SenderState::Streaming, SyncRole::Quorum);
    for &n in standbys {
        let unpromoted = p.role(n) == "Unpromoted";
        if !unpromoted || !shows(p, n, Status::HsQuorum, voter, Score::CanPromote) {
            missing.push(shown(p, n));
        }
    }
    let mut voters = standbys.to_vec();
    voters.sort_unstable();
    let k = k.min(voters.len()).max(1);
    let record = format!("{k} of {}", voters.join(" "));
    if !standbys.is_empty() && p.get(primary, Attr::AckedOnAny) != Some(record.as_str()) {
        missing.push(format!("{primary}: acked-on-any not {record}"));
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    /// crm_mon of a whole lab under our agent (pg02 primary, pg01 sync,
    /// pg03 async), captured from a lab.
    const HEALTHY: &str = include_str!("healthy.xml");

    fn missing_in(xml: &str, want: &Expected) -> Vec<String> {
        missing(&Picture::parse(xml).unwrap(), want)
    }

    /// The healthy XML with one attribute's value changed (`None`: removed).
    fn with_attr(node: &str, name: &str, value: Option<&str>) -> String {
        let open = format!("<node name=\"{node}\">");
        let (head, tail) = HEALTHY.split_at(HEALTHY.find(&open).unwrap());
        let at = tail.find(&format!("<attribute name=\"{name}\"")).unwrap();
        let end = at + tail[at..].find("/>").unwrap() + 2;
        let new = value.map_or(String::new(), |v| {
            format!("<attribute name=\"{name}\" value=\"{v}\"/>")
        });
        format!("{head}{}{new}{}", &tail[..at], &tail[end..])
    }

    #[test]
    fn the_captured_lab_is_whole() {
        let p = Picture::parse(HEALTHY).unwrap();
        assert_eq!(
            missing(&p, &Expected::lab(Agent::Ours)),
            Vec::<String>::new()
        );
        assert_eq!(p.primary(), Some("pg02"));
        assert_eq!(p.vip_on.as_deref(), Some("pg02"));
        assert_eq!(p.role("pg01"), "Unpromoted");
        assert_eq!(p.node_with_status(Status::HsSync).as_deref(), Some("pg01"));
    }

    #[test]
    fn each_attribute_out_of_place_is_named() {
        let ours = Expected::lab(Agent::Ours);
        for (node, attr, value, why) in [
            (
                "pg01",
                "master-Postgresql",
                Some("-INFINITY"),
                "pg01: Unpromoted HS:sync",
            ),
            (
                "pg03",
                "master-Postgresql",
                Some("100"),
                "pg03: Unpromoted HS:async",
            ),
            (
                "pg03",
                "Postgresql-status",
                Some("HS:alone"),
                "pg03: Unpromoted HS:alone",
            ),
            (
                "pg02",
                "Postgresql-data-status",
                None,
                "pg02: Promoted PRI none 1000",
            ),
            (
                "pg02",
                "Postgresql-master-baseline",
                Some("0/42EA4A0"),
                "pg02: no master-baseline",
            ),
            (
                "pg02",
                "Postgresql-acked-also-on",
                None,
                "pg02: acked-also-on not pg01",
            ),
            (
                "pg02",
                "Postgresql-acked-also-on",
                Some("pg03"),
                "pg02: acked-also-on not pg01",
            ),
        ] {
            let got = missing_in(&with_attr(node, attr, value), &ours);
            assert!(
                got.iter().any(|m| m.starts_with(why)),
                "{node} {attr}={value:?}: {got:?}"
            );
        }
    }

    #[test]
    fn the_stock_agent_keeps_no_record_of_its_sync_standby() {
        let stock = with_attr("pg02", "Postgresql-acked-also-on", None)
            .replace("ocf:rustpg:pgsql", "ocf:heartbeat:pgsql");
        assert!(missing_in(&stock, &Expected::lab(Agent::Stock)).is_empty());
        assert_eq!(
            missing_in(&stock, &Expected::lab(Agent::Ours)),
            [
                "pg02: acked-also-on not pg01",
                "agents: ocf:heartbeat:pgsql"
            ]
        );
    }

    #[test]
    fn the_agent_is_read_from_the_clone() {
        let p = Picture::parse(HEALTHY).unwrap();
        assert_eq!(Agent::shown(&p), Some(Agent::Ours));
        let stock = HEALTHY.replace("ocf:rustpg:pgsql", "ocf:heartbeat:pgsql");
        assert_eq!(
            Agent::shown(&Picture::parse(&stock).unwrap()),
            Some(Agent::Stock)
        );
        let mixed = HEALTHY.replacen("ocf:rustpg:pgsql", "ocf:heartbeat:pgsql", 1);
        assert_eq!(Agent::shown(&Picture::parse(&mixed).unwrap()), None);
    }

    #[test]
    fn the_nodes_not_named_are_not_looked_at() {
        let two = Expected {
            nodes: vec!["pg02".into(), "pg01".into()],
            ..Expected::lab(Agent::Ours)
        };
        let xml = with_attr("pg03", "Postgresql-status", Some("HS:alone"));
        assert!(missing_in(&xml, &two).is_empty());
        assert!(!missing_in(&xml, &Expected::lab(Agent::Ours)).is_empty());
    }

    #[test]
    fn asynchronous_replication_has_no_sync_standby() {
        let xml = with_attr("pg01", "Postgresql-status", Some("HS:async"));
        let xml = xml.replace("STREAMING|SYNC", "STREAMING|ASYNC").replace(
            "name=\"master-Postgresql\" value=\"100\"",
            "name=\"master-Postgresql\" value=\"-INFINITY\"",
        );
        let asynchronous = Expected {
            mode: Mode::Async,
            ..Expected::lab(Agent::Ours)
        };
        assert!(missing_in(&xml, &asynchronous).is_empty());
        assert_eq!(missing_in(HEALTHY, &asynchronous), ["1 sync standbys"]);
    }

    /// Quorum mode: both standbys voters the primary scored, and its
    /// record naming both.
    #[test]
    fn quorum_replication_has_every_standby_a_voter() {
        let xml = HEALTHY
            .replace("STREAMING|SYNC", "STREAMING|QUORUM")
            .replace("STREAMING|ASYNC", "STREAMING|QUORUM")
            .replace("\"HS:sync\"", "\"HS:quorum\"")
            .replace("\"HS:async\"", "\"HS:quorum\"")
            .replace(
                "name=\"master-Postgresql\" value=\"-INFINITY\"",
                "name=\"master-Postgresql\" value=\"100\"",
            )
            .replace(
                "name=\"Postgresql-acked-also-on\" value=\"pg01\"",
                "name=\"Postgresql-acked-on-any\" value=\"1 of pg01 pg03\"",
            );
        let quorum = Expected {
            mode: Mode::Quorum(1),
            ..Expected::lab(Agent::Ours)
        };
        assert_eq!(missing_in(&xml, &quorum), Vec::<String>::new());
        assert_eq!(
            missing_in(HEALTHY, &quorum),
            [
                "pg01: Unpromoted HS:sync STREAMING|SYNC 100",
                "pg03: Unpromoted HS:async STREAMING|ASYNC -INFINITY",
                "pg02: acked-on-any not 1 of pg01 pg03"
            ]
        );
        // k = 2: the record says so.
        let two = Expected {
            mode: Mode::Quorum(2),
            ..quorum.clone()
        };
        assert_eq!(
            missing_in(&xml, &two),
            ["pg02: acked-on-any not 2 of pg01 pg03"]
        );
        let xml = xml.replace("\"1 of pg01 pg03\"", "\"2 of pg01 pg03\"");
        assert_eq!(missing_in(&xml, &two), Vec::<String>::new());
    }

    #[test]
    fn standbys_are_ranked_sync_then_voters_then_the_others() {
        let p = Picture::parse(HEALTHY).unwrap();
        assert_eq!(p.standbys_ranked(), ["pg01", "pg03"]);
        let xml = HEALTHY
            .replace("\"HS:async\"", "\"HS:quorum\"")
            .replace("\"HS:sync\"", "\"HS:async\"");
        let p = Picture::parse(&xml).unwrap();
        assert_eq!(p.get("pg03", Attr::Status), Some("HS:quorum"));
        assert_eq!(p.standbys_ranked(), ["pg03", "pg01"]);
    }

    #[test]
    fn modes_and_node_names_are_read_as_the_lab_script_writes_them() {
        assert_eq!(Mode::parse("quorum"), Some(Mode::Quorum(1)));
        assert_eq!(Mode::parse("quorum:2"), Some(Mode::Quorum(2)));
        assert_eq!(Mode::parse("quorum:0"), None);
        assert_eq!(Mode::parse("sync:2"), None);
        assert_eq!(Mode::parse("sync"), Some(Mode::Sync));
        assert_eq!(node_names(5), ["pg01", "pg02", "pg03", "pg04", "pg05"]);
    }

    #[test]
    fn resources_around_the_clone_count() {
        let no_bouncer = HEALTHY.replacen(
            "resource id=\"PgBouncer\" resource_agent=\"lsb:pgbouncer\" role=\"Started\"",
            "resource id=\"PgBouncer\" resource_agent=\"lsb:pgbouncer\" role=\"Stopped\"",
            1,
        );
        let ours = Expected::lab(Agent::Ours);
        assert_eq!(
            missing_in(&no_bouncer, &ours),
            ["PgBouncer not running on pg01"]
        );
        let vip_elsewhere = HEALTHY.replacen(
            "<node name=\"pg02\" id=\"2\" cached",
            "<node name=\"pg03\" id=\"2\" cached",
            1,
        );
        assert_eq!(
            missing_in(&vip_elsewhere, &ours),
            ["VIP on [pg03], not pg02"]
        );
        let failed = HEALTHY.replacen("role=\"Promoted\" active=\"true\" orphaned=\"false\" blocked=\"false\" managed=\"true\" failed=\"false\"", "role=\"Promoted\" active=\"true\" orphaned=\"false\" blocked=\"false\" managed=\"false\" failed=\"true\"", 1);
        assert_eq!(
            missing_in(&failed, &ours),
            ["failed instance on pg02", "unmanaged (maintenance mode?)"]
        );
    }

    #[test]
    fn paf_shows_roles_and_scores_only() {
        let mut xml = HEALTHY.replace("ocf:rustpg:pgsql", "ocf:heartbeat:pgsqlms");
        for (node, score) in [("pg01", "1001"), ("pg02", "1003"), ("pg03", "990")] {
            let open = format!("<node name=\"{node}\">");
            let at = xml.find(&open).unwrap() + open.len();
            let end = at + xml[at..].find("</node>").unwrap();
            xml.replace_range(
                at..end,
                &format!("<attribute name=\"master-Postgresql\" value=\"{score}\"/>"),
            );
        }
        assert!(missing_in(&xml, &Expected::lab(Agent::Paf)).is_empty());
        let xml = xml.replace("value=\"990\"", "value=\"-INFINITY\"");
        assert_eq!(
            missing_in(&xml, &Expected::lab(Agent::Paf)),
            ["pg03: score -INFINITY"]
        );
    }
}
