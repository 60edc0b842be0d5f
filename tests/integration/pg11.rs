//! The end-to-end scenarios of `e2e` on PostgreSQL 11: recovery.conf,
//! `pg_ctl promote`, its own pg_control layout (the operator tool's
//! scenarios, which do not depend on the major, run once, in `e2e`), in
//! the stock-compatible configuration (no auto_rewind, no
//! failure-timeout), as a migrated cluster runs. A module of its own so
//! that it runs after the tests that share the shipped lab (tests run in
//! the order of their names).

use crate::e2e::{end_to_end, OperatorTool};
use crate::lab::Lab;

#[test]
fn three_node_cluster_end_to_end() {
    let _one_lab_at_a_time = crate::support::lab_guard();
    end_to_end(
        &Lab::up_with(
            "pg11",
            "el",
            &[("LAB_PG_MAJOR", "11"), ("LAB_AUTO_REWIND", "0")],
        ),
        OperatorTool::Skipped,
    );
}
