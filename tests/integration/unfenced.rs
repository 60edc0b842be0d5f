//! The fault battery without fencing (LAB_FENCING=0), in the
//! stock-compatible configuration (LAB_AUTO_REWIND=0: no auto_rewind, no
//! failure-timeout, as a cluster just migrated from the stock agent runs):
//! the primary partitioned, so that what fencing changes is seen both ways
//! (docs/operations.md, "With and without fencing"), and the kept-out
//! former primary resynchronised by the operator. The long form
//! (FAULTS_REPEAT > 1) adds the primary's node crash and the double fault
//! that needs the operator there.
//!
//! A module of its own so that, in name order, it runs after the tests
//! that share the lab as shipped (`faults`, `nemesis`).

use crate::faults::battery;
use crate::lab::Lab;
use std::sync::Arc;

#[test]
fn faults_without_fencing() {
    let _one_lab_at_a_time = crate::support::lab_guard();
    let lab = Arc::new(Lab::up_with(
        "nofence",
        "nf",
        &[("LAB_FENCING", "0"), ("LAB_AUTO_REWIND", "0")],
    ));
    battery(&lab, |n, repeat| {
        n == 4 || ((n == 2 || n == 9) && repeat > 1)
    });
}
