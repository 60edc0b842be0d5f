//! A planned switchover (`rustpgctl switchover`): whether the cluster may
//! move the promoted role now, and to which node. Only the standby the
//! agent proved synchronous (data-status `STREAMING|SYNC` and a positive
//! score) holds every acknowledged commit, so it is the only target (in
//! quorum mode a voter the primary scored, `STREAMING|QUORUM`: the check
//! at promotion then compares the voters' positions); and it must have
//! replayed what it received, or the promotion waits for it.

use super::crm_mon::ClusterView;
use super::explain::bytes;
use super::replication::plan::{Attr, DataStatus, Score, SenderState, SyncRole};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switchover {
    pub from: String,
    pub to: String,
}

/// Plan the switchover, or say in one line why not. `replay_lag` says how
/// far a standby's replay is behind the primary's current WAL
/// (`pg_stat_replication.replay_lsn`), when known; the target may be at
/// most `max_lag_bytes` behind.
pub fn plan(
    view: &ClusterView,
    rsc: &str,
    wanted: Option<&str>,
    max_lag_bytes: u64,
    replay_lag: impl Fn(&str) -> Option<u64>,
) -> Result<Switchover, String> {
    if view.maintenance {
        return Err("the cluster is in maintenance mode: Pacemaker would move nothing".into());
    }
    if !view.quorum {
        return Err("this partition has no quorum".into());
    }
    let from = match view.promoted.as_slice() {
        [p] if view.online(p) => p.clone(),
        [] => return Err("no node is promoted: there is nothing to switch over".into()),
        [p] => return Err(format!("the primary {p} is offline")),
        many => return Err(format!("several nodes are promoted ({})", many.join(", "))),
    };
    let data = |n: &str| {
        view.attribute(n, &Attr::DataStatus.name(rsc))
            .and_then(DataStatus::parse)
    };
    let acknowledges = |n: &str| {
        let quorum = DataStatus::Sender(SenderState::Streaming, SyncRole::Quorum);
        matches!(data(n), Some(d) if d == DataStatus::STREAMING_SYNC || d == quorum)
    };
    let proven_sync = |n: &str| {
        view.runs_standby(n)
            && acknowledges(n)
            && Score::is_positive(view.attribute(n, &Attr::Score.name(rsc)))
    };
    let to = match wanted {
        Some(t) => {
            let t = t.to_lowercase();
            if !view.exists(&t) {
                return Err(format!("no node {t} in the cluster"));
            }
            if t == from {
                return Err(format!("{t} is already the primary"));
            }
            if !view.runs_standby(&t) {
                return Err(format!(
                    "{t} runs no standby (offline, or its instance is stopped)"
                ));
            }
            if !acknowledges(&t) {
                let d = data(&t).map_or("none".to_string(), |d| d.wire());
                return Err(format!(
                    "{t} is not the synchronous standby (data-status {d}): only a standby that acknowledged every commit may be promoted"
                ));
            }
            if !proven_sync(&t) {
                let score = view.attribute(&t, &Attr::Score.name(rsc)).unwrap_or("none");
                return Err(format!(
                    "{t} streams synchronously, but its score is {score}: the primary has not confirmed it yet"
                ));
            }
            t
        }
        None => view
            .unpromoted
            .iter()
            .find(|n| proven_sync(n))
            .cloned()
            .ok_or("no standby is proven synchronous (STREAMING|SYNC with a positive score)")?,
    };
    match replay_lag(&to) {
        Some(b) if b > max_lag_bytes => Err(format!(
            "{to} has not caught up: its replay is {} behind {from} (at most {} accepted)",
            bytes(b),
            bytes(max_lag_bytes)
        )),
        None => Err(format!(
            "{to}'s replay position is unknown: {from} does not list it in pg_stat_replication"
        )),
        Some(_) => Ok(Switchover { from, to }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn healthy() -> ClusterView {
        let attrs = |score: &str, data: &str| {
            BTreeMap::from([
                ("master-pgsql".to_string(), score.to_string()),
                ("pgsql-data-status".to_string(), data.to_string()),
            ])
        };
        ClusterView {
            nodes: ["pg01", "pg02", "pg03"]
                .map(|n| (n.to_string(), true))
                .into(),
            promoted: vec!["pg01".into()],
            unpromoted: vec!["pg02".into(), "pg03".into()],
            attributes: BTreeMap::from([
                ("pg01".to_string(), attrs("1000", "LATEST")),
                ("pg02".to_string(), attrs("100", "STREAMING|SYNC")),
                ("pg03".to_string(), attrs("-INFINITY", "STREAMING|ASYNC")),
            ]),
            quorum: true,
            ..ClusterView::default()
        }
    }

    /// The target's replay lag, in bytes (16 MB accepted).
    type Lag = Option<u64>;
    const CAUGHT_UP: Lag = Some(0);

    fn go(view: &ClusterView, to: Option<&str>, lag: Lag) -> Result<Switchover, String> {
        plan(view, "pgsql", to, 16 << 20, |_| lag)
    }

    #[test]
    fn to_the_sync_standby_by_default_or_by_name() {
        let want = Switchover {
            from: "pg01".into(),
            to: "pg02".into(),
        };
        assert_eq!(go(&healthy(), None, CAUGHT_UP), Ok(want.clone()));
        assert_eq!(go(&healthy(), Some("PG02"), CAUGHT_UP), Ok(want));
    }

    /// Quorum mode: a voter the primary scored is a target.
    #[test]
    fn to_a_scored_voter_in_quorum_mode() {
        let mut v = healthy();
        for n in ["pg02", "pg03"] {
            let attrs = v.attributes.get_mut(n).unwrap();
            attrs.insert("pgsql-data-status".into(), "STREAMING|QUORUM".into());
        }
        v.attributes
            .get_mut("pg02")
            .unwrap()
            .insert("master-pgsql".into(), "-INFINITY".into());
        v.attributes
            .get_mut("pg03")
            .unwrap()
            .insert("master-pgsql".into(), "100".into());
        assert_eq!(go(&v, None, CAUGHT_UP).map(|s| s.to), Ok("pg03".into()));
        assert!(go(&v, Some("pg02"), CAUGHT_UP)
            .unwrap_err()
            .contains("the primary has not confirmed it yet"));
    }

    #[test]
    fn refusals_say_why() {
        let v = healthy();
        let refused = |v: &ClusterView, to: Option<&str>, lag: Lag| go(v, to, lag).unwrap_err();
        assert_eq!(
            refused(&v, Some("pg03"), CAUGHT_UP),
            "pg03 is not the synchronous standby (data-status STREAMING|ASYNC): only a standby that acknowledged every commit may be promoted"
        );
        assert_eq!(
            refused(&v, Some("pg01"), CAUGHT_UP),
            "pg01 is already the primary"
        );
        assert_eq!(
            refused(&v, Some("pg09"), CAUGHT_UP),
            "no node pg09 in the cluster"
        );
        let lagging = Some(20 << 20);
        assert_eq!(
            refused(&v, None, lagging),
            "pg02 has not caught up: its replay is 20.0 MB behind pg01 (at most 16.0 MB accepted)"
        );
        let unknown = None;
        assert!(refused(&v, None, unknown).starts_with("pg02's replay position is unknown"));

        let mut m = healthy();
        m.maintenance = true;
        assert!(refused(&m, None, CAUGHT_UP).starts_with("the cluster is in maintenance mode"));
        let mut q = healthy();
        q.quorum = false;
        assert_eq!(refused(&q, None, CAUGHT_UP), "this partition has no quorum");
        let mut s = healthy();
        s.unpromoted.retain(|n| n != "pg02");
        assert_eq!(
            refused(&s, Some("pg02"), CAUGHT_UP),
            "pg02 runs no standby (offline, or its instance is stopped)"
        );
        assert_eq!(
            refused(&s, None, CAUGHT_UP),
            "no standby is proven synchronous (STREAMING|SYNC with a positive score)"
        );
        let mut z = healthy();
        z.attributes
            .get_mut("pg02")
            .unwrap()
            .insert("master-pgsql".into(), "-INFINITY".into());
        assert_eq!(
            refused(&z, Some("pg02"), CAUGHT_UP),
            "pg02 streams synchronously, but its score is -INFINITY: the primary has not confirmed it yet"
        );
        let mut none = healthy();
        none.promoted.clear();
        assert_eq!(
            refused(&none, None, CAUGHT_UP),
            "no node is promoted: there is nothing to switch over"
        );
    }
}
