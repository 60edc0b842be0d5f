//! Replication slots that cannot fill the disk, on the lab
//! (docs/operations.md, "Replication slots that cannot fill the disk"):
//! with `max_slot_wal_keep_size` set live, a standby kept away while the
//! primary writes more WAL than that loses its slot, the primary goes on
//! and creates the slot anew, and the standby comes back as the operator's
//! guide says: kept out, resynchronised, let in again.

use crate::lab::{text, Lab};
use crate::operator::{crm, resync};
use std::time::{Duration, Instant};

const BOUND: &str = "48MB";

/// The scenario, on a lab whose primary keeps a slot per standby
/// (`replication_slot_name=lab`). It leaves the lab healthy and unbounded.
pub fn a_standby_away_loses_its_slot_and_comes_back(lab: &Lab) {
    let long = Duration::from_secs(180);
    let p = lab.wait_for("healthy before the slot scenario", long, |p| lab.healthy(p));
    let primary = p.primary().unwrap().to_string();
    // The standby the fewest commits wait for.
    let away = p.standbys_ranked().last().unwrap().clone();
    let slot = format!("lab_{away}");
    let param = ["crm", "resource", "param", "Postgresql"];
    crm(
        lab,
        &[&param[..], &["set", "max_slot_wal_keep_size", BOUND]].concat(),
    );
    let setting = || lab.sql_on(&primary, "select current_setting('max_slot_wal_keep_size')");
    wait(&format!("the primary's monitor sets {BOUND}"), || {
        setting() == BOUND
    });
    // Kept out while the primary writes more WAL than the bound.
    crm(
        lab,
        &[
            "crm_resource",
            "--ban",
            "-r",
            "msPostgresql",
            "-N",
            &away,
            "--quiet",
        ],
    );
    lab.wait_for(&format!("{away} stopped"), long, |p| {
        !p.view.unpromoted.contains(&away) && p.primary() == Some(primary.as_str())
    });
    lab.sql("create table if not exists slot_filler(x int)")
        .unwrap();
    let renewed = format!("replication slot {slot} lost WAL its standby needs");
    let log = || {
        text(&lab.run(&[
            "exec",
            &primary,
            "grep",
            "-a",
            &renewed,
            "/var/log/pacemaker/pacemaker.log",
        ]))
    };
    wait(
        &format!("{slot} lost and created anew by {primary}"),
        || {
            if log().contains(&renewed) {
                return true;
            }
            for _ in 0..4 {
                lab.sql("insert into slot_filler values (1); select pg_switch_wal()")
                    .unwrap();
            }
            lab.sql("checkpoint").unwrap();
            false
        },
    );
    // The primary went on all along.
    let p = lab.picture().unwrap();
    assert_eq!(p.primary(), Some(primary.as_str()), "the primary changed");
    lab.sql("insert into slot_filler values (2)")
        .unwrap_or_else(|e| panic!("the primary takes no write after the slot was lost: {e}"));
    // Back: resynchronised, then let in (the ban cleared), it streams
    // through its new slot.
    resync(lab, &away);
    crm(
        lab,
        &[
            "crm_resource",
            "--clear",
            "-r",
            "msPostgresql",
            "-N",
            &away,
            "--quiet",
        ],
    );
    lab.wait_for(&format!("{away} streams again"), long, |p| lab.healthy(p));
    let active = lab.sql_on(
        &primary,
        &format!("select active from pg_replication_slots where slot_name = '{slot}'"),
    );
    assert_eq!(active, "t", "{away} does not stream through {slot}");
    // Unbounded again for what runs next on this lab.
    crm(
        lab,
        &[&param[..], &["delete", "max_slot_wal_keep_size"]].concat(),
    );
    lab.sql_on(&primary, "alter system reset max_slot_wal_keep_size");
    lab.sql_on(&primary, "select pg_reload_conf()");
    println!("slots: {slot} lost past {BOUND}, created anew, {away} resynchronised and streaming");
}

/// Until `ok`, within two minutes.
fn wait(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{what}: not within 120 s"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    println!("{what}: after {:.1?}", start.elapsed());
}
