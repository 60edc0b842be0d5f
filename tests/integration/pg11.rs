//! The end-to-end scenarios of `e2e` on PostgreSQL 11: recovery.conf,
//! `pg_ctl promote`, its own pg_control layout (the operator tool's
//! scenarios, which do not depend on the major, run once, in `e2e`), in
//! the stock-compatible configuration (no auto_rewind, no
//! failure-timeout), as a migrated cluster runs, without fencing (none of
//! these scenarios needs it). The lab is shared with the fault battery
//! without fencing (`unfenced`), which runs next: the crashed primary the
//! scenarios leave out is resynchronised at the end. A module of its own so
//! that it runs after the tests that share the shipped lab (tests run in
//! the order of their names).

use crate::e2e::{end_to_end, OperatorTool};
use crate::lab::SharedLab;

#[test]
fn three_node_cluster_end_to_end() {
    let _one_lab_at_a_time = crate::support::lab_guard();
    let shared = SharedLab::stock_compatible_on_11();
    end_to_end(&shared.lab, OperatorTool::Skipped);
    // The crashed primary stays out behind PGSQL.lock in this
    // configuration: the operator resynchronises it, as docs/operations.md
    // says, and the lab is whole again for the next test.
    crate::operator::restore(&shared.lab);
}
