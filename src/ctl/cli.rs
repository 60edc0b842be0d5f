//! The operator tool's command line, here rather than in its `main` so
//! that the man pages (doc/rustpgctl*.8) are generated from it and checked.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "rustpgctl",
    version,
    about = "The operator's tool for ocf:rustpg:pgsql clusters",
    long_about = "The operator's tool for Pacemaker clusters whose PostgreSQL runs through \
ocf:rustpg:pgsql: every node's role, attributes and fail count, and why a node is or is not \
promotable. Run it as root on a cluster node; it reads the CIB (CIB_file is honoured), \
crm_mon, this node's PGSQL.lock and this node's PostgreSQL.",
    after_help = "Exit status: 0 done (explain: the node is promotable); 1 the tool could \
not do it (the message says why); 2 bad usage; 3 explain: the node is not promotable now, \
switchover: refused (nothing changed)."
)]
pub struct Cli {
    /// The ocf:rustpg:pgsql primitive (or its clone); needed only when the
    /// CIB has several.
    #[arg(long, global = true)]
    pub resource: Option<String>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Every node's role, attributes and fail count, whether it is
    /// promotable, this node's lock and server, and whether Pacemaker's
    /// DC runs a transition.
    Status,
    /// Every timeline the cluster's data went through, oldest first: where
    /// it forked from its parent (the LSN), and the promotion that began it
    /// as the new primary recorded it: which node, when, the primary
    /// before it, and why (switchover, failover or election).
    History,
    /// What status reports, in Prometheus's text exposition format: every
    /// node's role, score, data-status, fail count and whether it is
    /// promotable; each standby's lag; the primary's record, list and
    /// replication slots. For node_exporter's textfile collector.
    Metrics,
    /// Why NODE is or is not promotable now, and what would change that.
    /// Exits 0 when it is, 3 when it is not.
    Explain {
        /// A node name, as `crm_node -n` prints it.
        node: String,
    },
    /// Move the primary role to the synchronous standby (or --to NODE,
    /// which must be it) once it has caught up: ban the promoted role on
    /// the primary, wait for the target to be promoted, the old primary to
    /// be a standby and master_ip to answer as a primary, clear the ban.
    /// With --pgbouncer, PgBouncer is paused around the move. Exits 0 when
    /// done, 3 when refused (nothing changed), 1 when it failed on the way.
    Switchover {
        /// The node to promote; default: the synchronous standby.
        #[arg(long)]
        to: Option<String>,
        /// The most replay lag the target may have: bytes, or a size
        /// with its unit (16MB, 512kB, 1GB).
        #[arg(long, default_value = "16MB", value_parser = crate::core::size::parse_bytes)]
        max_lag: u64,
        /// Seconds for the whole move: pausing PgBouncer and waiting for
        /// the new primary.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
        /// Pause PgBouncer on every online node (NODE:6432, admin user
        /// pgbouncer, its password from the database owner's .pgpass)
        /// while the role moves, and resume it on every path: clients see a
        /// pause, not an error. Use PgBouncer's transaction pooling.
        #[arg(long)]
        pgbouncer: bool,
        /// Seconds every PgBouncer may take to pause (its transactions in
        /// flight to finish; new ones wait meanwhile) before the switchover
        /// is refused with PgBouncer resumed.
        #[arg(long, default_value_t = 5)]
        pause_timeout: u64,
        /// A PgBouncer to pause instead, as libpq conninfo of its admin
        /// console, for example "host=10.0.0.5 port=6432 user=pgbouncer"
        /// (repeat for each; implies --pgbouncer).
        #[arg(long, value_name = "CONNINFO")]
        pgbouncer_at: Vec<String>,
    },
    /// A read-only HTTP server for load balancers and Prometheus on
    /// ADDRESS:PORT: GET /metrics (as the metrics command), /primary (200
    /// only on the promoted node, writable), /replica[?lag=SIZE] (200 on a
    /// streaming standby, within SIZE of the primary when given), /sync
    /// (200 on the standby the primary records as holding every
    /// acknowledged commit), /health (200 while PostgreSQL answers); else
    /// 503, with the node's row of status --json as the body. Runs until
    /// stopped.
    Serve {
        /// The address and port to listen on, for example
        /// 10.0.0.11:8008 (the node's own address, not 0.0.0.0, unless
        /// every network that reaches it may read the cluster's state).
        #[arg(long, value_name = "ADDRESS:PORT")]
        listen: std::net::SocketAddr,
        /// Requests answered at once; more wait for a free worker.
        #[arg(long, default_value_t = 4)]
        workers: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    const MAN_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/doc");

    fn render(cmd: clap::Command) -> String {
        let mut out = Vec::new();
        clap_mangen::Man::new(cmd)
            .section("8")
            .render(&mut out)
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    /// The man pages the package installs (rustpgctl(8) and one per
    /// command, which it names) are the command line's own, reviewed as
    /// diffs (`UPDATE_SNAPSHOTS=1 cargo test` rewrites them).
    #[test]
    fn the_man_pages_are_current() {
        let root = Cli::command();
        let mut pages = vec![("rustpgctl.8".to_string(), render(root.clone()))];
        for sub in root.get_subcommands().filter(|s| s.get_name() != "help") {
            let name = format!("rustpgctl-{}", sub.get_name());
            let page = render(sub.clone().name(&*name.clone().leak()));
            pages.push((format!("{name}.8"), page));
        }
        for (file, page) in pages {
            let path = std::path::Path::new(MAN_DIR).join(&file);
            if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
                std::fs::create_dir_all(MAN_DIR).unwrap();
                std::fs::write(&path, &page).unwrap();
            }
            let reviewed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                reviewed == page,
                "doc/{file} is stale: run UPDATE_SNAPSHOTS=1 cargo test and review its diff"
            );
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
