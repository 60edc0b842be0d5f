//! The operator tool (`rustpgctl`, src/bin/rustpgctl.rs): what the cluster
//! looks like, why a node is or is not promotable, and a planned
//! switchover. `observe` reads once; `status` and `switchover` act on what
//! it read. It observes through
//! the agent's own seams (`crm_mon` parsed by `core::crm_mon`, the
//! resource's parameters through `Config`, `PGSQL.lock` through
//! `Lock::parse`, the local server through `io::pg`) and explains through
//! `core::explain`, so it cannot disagree with the agent.

pub mod cli;
mod history;
mod metrics;
mod observe;
mod serve;
mod status;
mod switchover;

pub use history::{history, render_history};
pub use metrics::render_metrics;
pub use observe::{observe, observe_within, Observed};
pub use serve::{serve, ServeOptions};
pub use status::{render_explanation, render_status, status, Status};
pub use switchover::{
    pgbouncers, switchover, SwitchoverError, SwitchoverReport, SwitchoverRequest,
};
