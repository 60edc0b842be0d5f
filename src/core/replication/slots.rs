//! The primary's physical replication slots (`replication_slot_name`):
//! the bound on the WAL they keep (`max_slot_wal_keep_size`, ours), and the
//! slots that lost WAL their standby needs, which the primary creates anew
//! so that the standby, once rewound or resynchronised, streams through
//! one again.

use crate::core::lsn::Lsn;
use crate::core::size::parse_bytes;

/// One physical slot of `pg_replication_slots`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub name: String,
    pub active: bool,
    /// The oldest WAL it keeps (null: none yet, or invalidated).
    pub restart: Option<Lsn>,
    /// PostgreSQL 13+: `reserved`, `extended`, `unreserved` or `lost`.
    pub wal_status: Option<String>,
    /// PostgreSQL 13+: bytes of WAL that can still be written before the
    /// slot is lost to `max_slot_wal_keep_size` (null: no bound).
    pub safe_wal_size: Option<i64>,
}

impl Slot {
    /// It lost WAL its standby needs (PostgreSQL 13+).
    pub fn lost(&self) -> bool {
        self.wal_status.as_deref() == Some("lost")
    }
}

/// The value to set `max_slot_wal_keep_size` to (`NMB`), when the
/// configuration wants a bound and the server runs with another
/// (`running` as `current_setting` shows it: `-1` is none; `None`: it
/// could not be read, and nothing is set).
pub fn slot_bound_to_set(wanted_mb: Option<u64>, running: Option<&str>) -> Option<String> {
    let wanted = wanted_mb?;
    let running = running?;
    let running_mb = Some(running)
        .filter(|r| r.trim() != "-1")
        .and_then(|r| parse_bytes(r).ok())
        .map(|b| b.div_ceil(1 << 20));
    (running_mb != Some(wanted)).then(|| format!("{wanted}MB"))
}

/// The primary's housekeeping of its slots.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SlotRepair {
    /// Lost WAL and no standby uses them: dropped, then created anew.
    pub lost: Vec<String>,
    /// Not there (dropped by hand, or a creation that failed): created.
    pub missing: Vec<String>,
}

/// What to repair of this primary's slots (`ours`), from the slots it has
/// (`None`: they could not be read, and nothing is done).
pub fn slot_repair(ours: &[String], slots: Option<&[Slot]>) -> Option<SlotRepair> {
    let slots = slots?;
    let repair = SlotRepair {
        lost: slots
            .iter()
            .filter(|s| s.lost() && !s.active && ours.contains(&s.name))
            .map(|s| s.name.clone())
            .collect(),
        missing: ours
            .iter()
            .filter(|o| !slots.iter().any(|s| s.name == **o))
            .cloned()
            .collect(),
    };
    (repair != SlotRepair::default()).then_some(repair)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(name: &str, active: bool, status: Option<&str>) -> Slot {
        Slot {
            name: name.into(),
            active,
            restart: None,
            wal_status: status.map(str::to_string),
            safe_wal_size: None,
        }
    }

    #[test]
    fn the_bound_is_set_only_when_it_differs() {
        assert_eq!(slot_bound_to_set(None, Some("-1")), None);
        assert_eq!(
            slot_bound_to_set(Some(1024), Some("-1")),
            Some("1024MB".into())
        );
        assert_eq!(slot_bound_to_set(Some(1024), Some("1GB")), None);
        assert_eq!(
            slot_bound_to_set(Some(1024), Some("512MB")),
            Some("1024MB".into())
        );
        assert_eq!(
            slot_bound_to_set(Some(16), None),
            None,
            "unread: nothing set"
        );
    }

    #[test]
    fn only_our_lost_unused_slots_are_renewed_and_missing_ones_created() {
        let ours = vec![
            "rs_pg02".to_string(),
            "rs_pg03".to_string(),
            "rs_pg04".to_string(),
        ];
        let slots = [
            slot("rs_pg02", false, Some("lost")),
            slot("rs_pg03", true, Some("lost")),
            slot("someone_elses", false, Some("lost")),
        ];
        assert_eq!(
            slot_repair(&ours, Some(&slots)),
            Some(SlotRepair {
                lost: vec!["rs_pg02".into()],
                missing: vec!["rs_pg04".into()],
            })
        );
        let fine = [
            slot("rs_pg02", false, None),
            slot("rs_pg03", true, Some("reserved")),
            slot("rs_pg04", false, Some("reserved")),
        ];
        assert_eq!(slot_repair(&ours, Some(&fine)), None);
        assert_eq!(slot_repair(&ours, None), None, "unread: nothing done");
    }
}
