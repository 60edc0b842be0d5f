//! The imperative shell: every seam to the outside world (processes, users,
//! files, PostgreSQL). Small modules, each wrapping one kind of I/O.

pub mod binaries;
pub mod clock;
pub mod command;
pub mod crm;
pub mod fsutil;
pub mod pg;
pub mod pgbouncer;
pub mod postmaster;
pub mod statefiles;
pub mod user;
pub mod waldir;
