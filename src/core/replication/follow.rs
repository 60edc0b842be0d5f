//! `replication_hosts` (ours): a standby streams from the promoted node's
//! own address instead of `master_ip`. Every standby points its
//! `primary_conninfo` there when the promotion is notified and reloads
//! (PostgreSQL 13 and later restart the WAL receiver with it at once), so
//! it streams again before the VIP moves, and the new primary's first
//! commit does not wait for a reconnect through the VIP. No rule depends on
//! the upstream: the primary counts and scores only what its own
//! `pg_stat_replication` shows.

use super::plan::RepConfig;

/// The node this standby streams from directly: `promoted` (crm_mon's
/// promoted node, or the one a post-promote notification names), when it
/// is another node that `replication_hosts` gives a host. `None`:
/// `master_ip`.
pub fn followed<'a>(cfg: &RepConfig, promoted: Option<&'a str>) -> Option<&'a str> {
    promoted.filter(|p| *p != cfg.me && cfg.replication_hosts.contains_key(*p))
}

/// The node a running standby must follow now: the one [`followed`]
/// names, when the host its `primary_conninfo` names (`written_host`, from
/// `postgresql.auto.conf`) is another. Never back to `master_ip`: with
/// nobody promoted there is nobody better to follow, and every rewrite
/// restarts the WAL receiver.
pub fn follow_now(
    cfg: &RepConfig,
    promoted: Option<&str>,
    written_host: Option<&str>,
) -> Option<String> {
    let node = followed(cfg, promoted)?;
    let host = cfg.replication_hosts.get(node).map(String::as_str);
    (written_host != host).then(|| node.to_string())
}

#[cfg(test)]
mod tests {
    use super::super::fixture::cfg;
    use super::*;
    use crate::config::RepMode;

    fn with_hosts() -> RepConfig {
        RepConfig {
            replication_hosts: [
                ("pg01", "10.0.0.11"),
                ("pg02", "10.0.0.12"),
                ("pg03", "10.0.0.13"),
            ]
            .map(|(n, h)| (n.to_string(), h.to_string()))
            .into(),
            ..cfg(RepMode::Sync, &["pg02", "pg01", "pg03"])
        }
    }

    #[test]
    fn a_standby_follows_the_promoted_node_once() {
        let c = with_hosts();
        assert_eq!(follow_now(&c, Some("pg01"), None), Some("pg01".into()));
        assert_eq!(
            follow_now(&c, Some("pg01"), Some("10.0.0.100")),
            Some("pg01".into())
        );
        assert_eq!(follow_now(&c, Some("pg01"), Some("10.0.0.11")), None);
        // Nobody promoted, or this node itself: nothing to follow.
        assert_eq!(follow_now(&c, None, Some("10.0.0.11")), None);
        assert_eq!(follow_now(&c, Some("pg02"), Some("10.0.0.11")), None);
        // Without replication_hosts, master_ip as the stock agent.
        let stock = cfg(RepMode::Sync, &["pg02", "pg01", "pg03"]);
        assert_eq!(follow_now(&stock, Some("pg01"), Some("10.0.0.100")), None);
        assert_eq!(followed(&stock, Some("pg01")), None);
        assert_eq!(followed(&c, Some("pg01")), Some("pg01"));
    }
}
