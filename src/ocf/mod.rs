//! OCF plumbing with no PostgreSQL knowledge: actions, return codes, the
//! environment, logging, `trace_ra`, and meta-data and man page rendering
//! (`manpage` also holds the words of ocf:rustpg:pgsql's own page, beside
//! the renderer that checks them against the tables).

pub mod action;
pub mod env;
pub mod log;
pub mod manpage;
pub mod metadata;
pub mod rc;
pub mod trace;
