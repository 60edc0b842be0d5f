//! The pure core. Architecture invariant: nothing in here does I/O (no
//! `std::fs`, `std::process`, `std::env`, `std::net`, no clock). It takes
//! parsed values and returns decisions, so it is exhaustively unit-tested.

pub mod cib;
pub mod controldata;
pub mod crm_mon;
pub mod decide;
#[cfg(test)]
mod decision_table;
pub mod explain;
pub mod history;
pub mod lsn;
pub mod notify;
pub mod pgpass;
pub mod pidfile;
pub mod quote;
pub mod replication;
pub mod size;
pub mod standby_conf;
pub mod switchover;
pub mod timeline;
pub mod version;
