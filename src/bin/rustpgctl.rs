//! rustpgctl, the operator's side of ocf:rustpg:pgsql: what the cluster
//! looks like, and why a node is or is not promotable. The work is in
//! `rustpg::ctl`; this is the command line.
//!
//! Exit codes: 0 done (for `explain`: the node is promotable), 1 the tool
//! could not do it (the message says why), 2 bad usage (clap), 3 `explain`:
//! the node is not promotable now; `switchover`: refused, nothing changed.

use anyhow::{anyhow, bail, Result};
use clap::Parser;
use rustpg::ctl::cli::{Cli, Command};
use rustpg::ctl::{SwitchoverError, SwitchoverRequest};
use std::process::ExitCode;

fn run(cli: Cli) -> Result<ExitCode> {
    let raw: rustpg::ocf::env::RawEnv = std::env::vars().collect();
    if let Command::Serve { listen, workers } = cli.command {
        let opts = rustpg::ctl::ServeOptions {
            listen,
            workers,
            resource: cli.resource,
        };
        rustpg::ctl::serve(&opts, &raw).map_err(|e| anyhow!(e))?;
        return Ok(ExitCode::SUCCESS);
    }
    let observed = rustpg::ctl::observe(cli.resource.as_deref(), &raw).map_err(|e| anyhow!(e))?;
    match cli.command {
        Command::Status => {
            let s = rustpg::ctl::status(&observed);
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                print!("{}", rustpg::ctl::render_status(&s));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { .. } => unreachable!("served above"),
        Command::History => {
            let h = rustpg::ctl::history(&observed);
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&h)?);
            } else {
                print!("{}", rustpg::ctl::render_history(&h));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Metrics => {
            print!(
                "{}",
                rustpg::ctl::render_metrics(&rustpg::ctl::status(&observed))
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain { node } => {
            let node = node.to_lowercase();
            let facts = observed.facts();
            let Some(me) = facts.iter().find(|f| f.name == node) else {
                bail!("no node {node} in the cluster");
            };
            let e = rustpg::core::explain::explain(me, &facts);
            if cli.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "node": node,
                        "promotable": e.promotable,
                        "why": e.why,
                        "would_change": e.would_change,
                    }))?
                );
            } else {
                print!("{}", rustpg::ctl::render_explanation(&node, &e));
            }
            Ok(if e.promotable {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            })
        }
        Command::Switchover {
            to,
            max_lag,
            timeout,
            pgbouncer,
            pause_timeout,
            pgbouncer_at,
        } => {
            let req = SwitchoverRequest {
                target: to.as_deref(),
                max_lag_bytes: max_lag,
                timeout: std::time::Duration::from_secs(timeout),
                pause_timeout: std::time::Duration::from_secs(pause_timeout),
                pgbouncers: rustpg::ctl::pgbouncers(&observed, pgbouncer, &pgbouncer_at)
                    .map_err(|e| anyhow!(e))?,
            };
            let done = rustpg::ctl::switchover(&observed, &raw, &req);
            if let Ok(Some(w)) = done.as_ref().map(|r| r.checkpoint_warning.as_ref()) {
                eprintln!("rustpgctl: warning: {w}");
            }
            match done {
                Ok(r) if cli.json => println!("{}", serde_json::to_string_pretty(&r)?),
                Ok(r) if r.paused.is_empty() => println!(
                    "switched over: {} -> {} in {:.1} s",
                    r.from, r.to, r.seconds
                ),
                Ok(r) => println!(
                    "switched over: {} -> {} in {:.1} s, with PgBouncer paused at {}",
                    r.from,
                    r.to,
                    r.seconds,
                    r.paused.join(", ")
                ),
                Err(e @ SwitchoverError::Refused(_)) => {
                    eprintln!("rustpgctl: {e}");
                    return Ok(ExitCode::from(3));
                }
                Err(e) => return Err(e.into()),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rustpgctl: {e:#}");
            ExitCode::from(1)
        }
    }
}
