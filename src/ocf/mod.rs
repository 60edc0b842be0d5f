//! OCF plumbing with no PostgreSQL knowledge: actions, return codes, the
//! environment, logging, `trace_ra` and meta-data rendering.

pub mod action;
pub mod env;
pub mod log;
pub mod metadata;
pub mod rc;
pub mod trace;
