//! rustpg: an OCF resource agent for PostgreSQL, a drop-in for
//! `ocf:heartbeat:pgsql`. See ARCHITECTURE.md for the map.

pub mod actions;
pub mod config;
pub mod core;
pub mod ctl;
pub mod error;
pub mod io;
pub mod ocf;
pub mod params;

pub use actions::run;
