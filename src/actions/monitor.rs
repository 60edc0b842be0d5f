//! monitor and status.

use super::validate::Instance;
use crate::core::decide::{self, Postmaster};
use crate::error::Result;
use crate::io::{pg, postmaster};
use crate::ocf::rc::OcfRc;

pub fn monitor(i: &Instance) -> Result<OcfRc> {
    let pm = postmaster::observe(&i.cfg.pgdata);
    let sql = decide::needs_sql(pm).then(|| {
        let grace = decide::refusal_grace(i.deadline.remaining());
        pg::probe(&i.cfg, &i.owner, i.passfile.as_deref(), i.deadline, grace)
    });
    decide::monitor_standalone(pm, sql.as_ref()).into()
}

/// The legacy `status`: the process check alone, no SQL.
pub fn status(i: &Instance) -> Result<OcfRc> {
    match postmaster::observe(&i.cfg.pgdata) {
        Postmaster::Absent => Ok(OcfRc::NotRunning),
        Postmaster::Alive { .. } => Ok(OcfRc::Success),
        dead @ Postmaster::Dead { .. } => decide::monitor_standalone(dead, None).into(),
    }
}
