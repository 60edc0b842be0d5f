//! `replication_hosts` (ours): a standby streams from the promoted node's
//! own address instead of `master_ip`. Every standby points its
//! `primary_conninfo` there when the promotion is notified and reloads
//! (PostgreSQL 13 and later restart the WAL receiver with it at once), so
//! it streams again before the VIP moves, and the new primary's first
//! commit does not wait for a reconnect through the VIP. No rule depends on
//! the upstream: the primary counts and scores only what its own
//! `pg_stat_replication` shows.

use super::plan::RepConfig;

/// Where a standby's `primary_conninfo` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    /// This node's own address (`replication_hosts`).
    Node(String),
    /// `master_ip`, as the stock agent's standbys.
    MasterIp,
}

impl Upstream {
    /// The node followed, if any.
    pub fn node(&self) -> Option<&str> {
        match self {
            Upstream::Node(n) => Some(n),
            Upstream::MasterIp => None,
        }
    }
}

/// The node this standby streams from directly: `promoted` (crm_mon's
/// promoted node, or the one a post-promote notification names), when it
/// is another node that `replication_hosts` gives a host. `None`:
/// `master_ip`.
pub fn followed<'a>(cfg: &RepConfig, promoted: Option<&'a str>) -> Option<&'a str> {
    promoted.filter(|p| *p != cfg.me && cfg.replication_hosts.contains_key(*p))
}

/// Where a running standby must point its `primary_conninfo` now, when
/// the host it names (`written_host`, from `postgresql.auto.conf`) is not
/// that one's: the node [`followed`] names, else `master_ip`. With nobody
/// promoted, a standby left on a node's own address would stream through
/// that node once it runs as a standby (a demoted or restarted former
/// primary), and its position would never be final for the election:
/// `master_ip`, which nobody holds then, ends that. Only where a reload
/// applies the change (PostgreSQL 13 and later).
pub fn follow_now(
    cfg: &RepConfig,
    promoted: Option<&str>,
    written_host: Option<&str>,
) -> Option<Upstream> {
    if !cfg.reloads_conninfo {
        return None;
    }
    let (upstream, host) = match followed(cfg, promoted) {
        Some(node) => (
            Upstream::Node(node.to_string()),
            cfg.replication_hosts.get(node),
        ),
        None => (Upstream::MasterIp, cfg.master_ip_host.as_ref()),
    };
    let host = host?;
    // A standby whose settings do not name a host at all (not written by
    // this agent yet) is left to its next start.
    (written_host.is_some_and(|w| w != host)).then_some(upstream)
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{cfg, lab_hosts};
    use super::*;
    use crate::config::RepMode;

    fn with_hosts() -> RepConfig {
        RepConfig {
            replication_hosts: lab_hosts(),
            ..cfg(RepMode::Sync, &["pg02", "pg01", "pg03"])
        }
    }

    #[test]
    fn a_standby_follows_the_promoted_node_once() {
        let c = with_hosts();
        let pg01 = Some(Upstream::Node("pg01".into()));
        assert_eq!(follow_now(&c, Some("pg01"), Some("10.0.0.100")), pg01);
        assert_eq!(follow_now(&c, Some("pg01"), Some("10.0.0.13")), pg01);
        assert_eq!(follow_now(&c, Some("pg01"), Some("10.0.0.11")), None);
        assert_eq!(follow_now(&c, Some("pg01"), None), None);
        // Nobody promoted, or this node itself: master_ip, which nobody
        // holds, rather than a former primary that runs as a standby.
        for promoted in [None, Some("pg02")] {
            assert_eq!(
                follow_now(&c, promoted, Some("10.0.0.11")),
                Some(Upstream::MasterIp)
            );
            assert_eq!(follow_now(&c, promoted, Some("10.0.0.100")), None);
        }
        assert_eq!(followed(&c, Some("pg01")), Some("pg01"));
        // Before PostgreSQL 13 a reload would not apply it: never.
        let old = RepConfig {
            reloads_conninfo: false,
            ..c
        };
        assert_eq!(follow_now(&old, Some("pg01"), Some("10.0.0.100")), None);
        assert_eq!(follow_now(&old, None, Some("10.0.0.11")), None);
    }

    /// Without replication_hosts, master_ip as the stock agent; a standby
    /// left on a node's address (the parameter deleted) goes back to it.
    #[test]
    fn without_replication_hosts_master_ip() {
        let stock = cfg(RepMode::Sync, &["pg02", "pg01", "pg03"]);
        assert_eq!(stock.master_ip_host.as_deref(), Some("10.0.0.100"));
        assert_eq!(followed(&stock, Some("pg01")), None);
        for promoted in [None, Some("pg01")] {
            assert_eq!(follow_now(&stock, promoted, Some("10.0.0.100")), None);
            assert_eq!(
                follow_now(&stock, promoted, Some("10.0.0.11")),
                Some(Upstream::MasterIp)
            );
        }
    }
}
