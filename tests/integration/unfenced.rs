//! The fault battery without fencing (LAB_FENCING=0), in the
//! stock-compatible configuration (LAB_AUTO_REWIND=0: no auto_rewind, no
//! failure-timeout, as a cluster just migrated from the stock agent runs):
//! the primary partitioned, so that what fencing changes is seen both ways
//! (docs/operations.md, "With and without fencing"), and the kept-out
//! former primary resynchronised by the operator. The long form
//! (FAULTS_REPEAT > 1) adds the primary's node crash and the double fault
//! that needs the operator there. On the PostgreSQL 11 lab the end to end
//! scenarios on 11 leave (`pg11`, which runs before it in name order; a
//! fresh lab when that one failed or runs alone).
//!
//! A module of its own so that, in name order, it runs after the tests
//! that share the lab as shipped (`faults`, `nemesis`).

use crate::faults::battery;
use crate::lab::SharedLab;

#[test]
fn faults_without_fencing() {
    let _one_lab_at_a_time = crate::support::lab_guard();
    let shared = SharedLab::stock_compatible_on_11();
    battery(&shared.lab, 1_000_000, |n, repeat| {
        n == 4 || ((n == 2 || n == 9) && repeat > 1)
    });
    shared.release();
}
