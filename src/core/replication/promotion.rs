//! `promote`: the records written around the one step that cannot be
//! undone, the request that makes PostgreSQL leave recovery.
//!
//! Before the request, every other node is marked `DISCONNECT` with no
//! score, and this node's own record from an earlier time as the primary
//! goes: once it acknowledges commits, none of those may stand for "holds
//! every acknowledged commit". Those writes must precede the request (a
//! crash right after it must not leave the former primary the only
//! `LATEST`), so a failure before the request rolls them back
//! ([`PromotionRecords::undo`]): otherwise no node would be `LATEST`, the
//! election would wait for every node, and a crashed former primary's
//! start would be refused for ever. A failure once the request was made
//! leaves this node `LATEST` ([`after_failed_request`]): PostgreSQL may
//! finish the promotion by itself, and the check at promotion proved this
//! node holds every acknowledged commit.

use super::plan::{Attr, DataStatus, Plan, Score, Status, Write};

/// What [`before_promotion`] changed, and how to take it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionRecords {
    /// The records' previous values, to write back when the promotion
    /// fails before it was requested. Scores are not restored: a standby
    /// earns one again from the primary's pass or the election.
    pub undo: Vec<Write>,
}

/// Whether a promotion may start at all: only in a partition with quorum.
/// Without it (`no-quorum-policy=ignore`, or a node left alone) another
/// partition may hold or elect a primary, and two would acknowledge
/// commits the other lacks.
pub fn promotion_allowed(plan: &Plan) -> Result<(), String> {
    if plan.view.quorum {
        Ok(())
    } else {
        Err(
            "this partition has no quorum (set no-quorum-policy=stop, or use \
             Corosync's two_node for a two-node cluster)"
                .into(),
        )
    }
}

/// The records written before the promotion is requested.
pub fn before_promotion(plan: &mut Plan) -> PromotionRecords {
    let me = plan.cfg.me.clone();
    let mut undo = Vec::new();
    let remember = |plan: &Plan, node: &str, attr: Attr| {
        let value = plan.current(node, attr).map(str::to_string);
        let log = format!(
            "The promotion failed before it was requested: {} on {node} back to {}.",
            attr.name(&plan.cfg.rsc),
            value.as_deref().unwrap_or("(none)")
        );
        Write {
            node: node.to_string(),
            attr,
            value,
            log: Some(log),
        }
    };
    let others: Vec<String> = plan.cfg.others().map(str::to_string).collect();
    for target in &others {
        undo.push(remember(plan, target, Attr::DataStatus));
        plan.data_status(target, DataStatus::Disconnect);
        plan.other_score(target, Score::CanNotPromote);
    }
    // A record from an earlier time as the primary: no longer true once
    // this node acknowledges commits again, so gone before it can.
    undo.push(remember(plan, &me, Attr::AckedAlsoOn));
    plan.delete(&me, Attr::AckedAlsoOn);
    // Only what this plan really changes is taken back.
    let changed: Vec<(String, Attr)> = plan
        .writes
        .iter()
        .map(|w| (w.node.clone(), w.attr))
        .collect();
    undo.retain(|u| changed.contains(&(u.node.clone(), u.attr)));
    PromotionRecords { undo }
}

/// The request was made but did not complete: this node may now be the
/// primary, and it is the one proven to hold every acknowledged commit.
pub fn after_failed_request(plan: &mut Plan) {
    let me = plan.cfg.me.clone();
    plan.data_status(&me, DataStatus::Latest);
}

/// PostgreSQL left recovery: the stock agent's attributes of a primary.
pub fn after_promotion(plan: &mut Plan) {
    let me = plan.cfg.me.clone();
    plan.data_status(&me, DataStatus::Latest);
    plan.own_score(Score::PromoteMe);
    plan.status(&me, Status::Pri);
}

#[cfg(test)]
mod tests {
    use super::super::tests::{cfg, view, written};
    use super::*;
    use crate::config::RepMode;

    /// pg02 is being promoted after pg01 (the last primary, `LATEST`,
    /// recording pg02) crashed; pg03 streamed asynchronously.
    fn failover() -> (super::super::RepConfig, crate::core::crm_mon::ClusterView) {
        let c = cfg(RepMode::Sync, &["pg02", "pg01", "pg03"]);
        let mut v = view(
            &["pg02", "pg03"],
            &["pg01"],
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
        (c, v)
    }

    #[test]
    fn the_records_before_the_request_can_be_taken_back() {
        let (c, v) = failover();
        let mut p = Plan::new(&c, &v);
        let records = before_promotion(&mut p);
        for n in ["pg01", "pg03"] {
            assert_eq!(
                written(&p, n, Attr::DataStatus),
                Some(Some("DISCONNECT".into()))
            );
        }
        // Only what changed is restored, with its previous value.
        let undo: Vec<(&str, Attr, Option<&str>)> = records
            .undo
            .iter()
            .map(|w| (w.node.as_str(), w.attr, w.value.as_deref()))
            .collect();
        assert_eq!(
            undo,
            [
                ("pg01", Attr::DataStatus, Some("LATEST")),
                ("pg03", Attr::DataStatus, Some("STREAMING|ASYNC")),
            ]
        );
        // Nothing this node becomes is written before the request.
        assert_eq!(written(&p, "pg02", Attr::DataStatus), None);
        assert_eq!(written(&p, "pg02", Attr::Score), None);
    }

    #[test]
    fn an_own_record_from_an_earlier_time_as_primary_goes_and_can_come_back() {
        let (c, v) = failover();
        let v = super::super::tests::with_attr(&v, "pg02", "pgsql-acked-also-on", "pg03");
        let mut p = Plan::new(&c, &v);
        let records = before_promotion(&mut p);
        assert_eq!(written(&p, "pg02", Attr::AckedAlsoOn), Some(None));
        assert!(records.undo.iter().any(|w| w.node == "pg02"
            && w.attr == Attr::AckedAlsoOn
            && w.value.as_deref() == Some("pg03")));
    }

    #[test]
    fn a_failed_request_leaves_this_node_latest_a_promotion_the_primary_attributes() {
        let (c, v) = failover();
        let mut p = Plan::new(&c, &v);
        before_promotion(&mut p);
        after_failed_request(&mut p);
        assert_eq!(
            written(&p, "pg02", Attr::DataStatus),
            Some(Some("LATEST".into()))
        );
        assert_eq!(written(&p, "pg02", Attr::Score), None);
        let mut p = Plan::new(&c, &v);
        after_promotion(&mut p);
        assert_eq!(written(&p, "pg02", Attr::Score), Some(Some("1000".into())));
        assert_eq!(written(&p, "pg02", Attr::Status), Some(Some("PRI".into())));
    }

    #[test]
    fn no_promotion_without_quorum() {
        let (c, mut v) = failover();
        assert!(promotion_allowed(&Plan::new(&c, &v)).is_ok());
        v.quorum = false;
        let why = promotion_allowed(&Plan::new(&c, &v)).unwrap_err();
        assert!(why.contains("no quorum"), "{why}");
    }
}
