//! Five nodes (`LAB_NODES=5`): a standby kept away past
//! `max_slot_wal_keep_size` (`slots`), the fault battery's short form and one
//! randomized schedule in quorum mode (`ANY 2` of four voters,
//! `quorum_standbys=2`), then the battery's short form in sync mode after
//! the operator's `rep_mode` change, in crm-examples' configuration as shipped (fencing,
//! auto_rewind, failure-timeout) with the lab's disks that forget unsynced
//! writes. The long forms run by hand: `FAULTS_REPEAT=N` for every
//! scenario in both modes, `NEMESIS_NODES=5 scripts/nemesis-long.sh` for
//! the schedules (docs/faults.md).
//!
//! A module of its own, named so that it runs after the tests that share
//! the lab as shipped and before those that share the PostgreSQL 11 lab
//! (the lab tests run one after another in name order).

use crate::faults::{battery, QUORUM_ON_FIVE, SYNC_ON_FIVE};
use crate::lab::{crashfs_binary, Lab};
use crate::load::create_faults_table;
use crate::nemesis::{hands_off, run_schedules};
use crate::support::env_number;
use std::sync::Arc;

#[test]
fn quorum_then_sync_under_faults() {
    let _one_lab_at_a_time = crate::support::lab_guard();
    let crashfs = crashfs_binary();
    let lab = Arc::new(Lab::up_with(
        "five",
        "fv",
        &[
            ("LAB_NODES", "5"),
            ("LAB_REP_MODE", "quorum"),
            ("LAB_CRASHFS", &crashfs),
        ],
    ));
    create_faults_table(&lab);
    // Its primary keeps a slot per standby: one that stays away too long
    // cannot fill the disk (max_slot_wal_keep_size).
    crate::slots::a_standby_away_loses_its_slot_and_comes_back(&lab);
    // The schedules' seeds follow the three-node lab's (NEMESIS_SEED, 1019
    // and 1020 in the suite).
    let seed = env_number("NEMESIS_SEED", crate::load::now_ms()) + 2;
    battery(&lab, 1_000_000, |n, repeat| {
        QUORUM_ON_FIVE.contains(&n) || repeat > 1
    });
    let hands_off = hands_off(true);
    let tally = run_schedules(&lab, seed, 1, 3, 100_000_000, hands_off);
    lab.set_rep_mode("sync");
    battery(&lab, 50_000_000, |n, repeat| {
        SYNC_ON_FIVE.contains(&n) || repeat > 1
    });
    // Sync mode's schedules run on three nodes (nemesis), and on five in
    // the long form (NEMESIS_NODES=5 scripts/nemesis-long.sh).
    tally.check(&lab, 1, true);
}
