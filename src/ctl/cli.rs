//! The operator tool's command line, here rather than in its `main` so
//! that the hand-written man pages (doc/rustpgctl*.8) are checked against
//! it: every command has its page, every option and default is in it.

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
switchover: refused (nothing changed). Manual: rustpgctl(8), and rustpgctl-COMMAND(8) for each \
command."
)]
pub struct Cli {
    /// The ocf:rustpg:pgsql primitive (or its clone); needed only when the
    /// CIB has several.
    #[arg(long, global = true, value_name = "RSC")]
    pub resource: Option<String>,
    /// Print JSON instead of text (status, explain, history and a
    /// switchover's report; metrics and serve ignore it).
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
        #[arg(value_name = "NODE")]
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
        #[arg(long, value_name = "NODE")]
        to: Option<String>,
        /// The most replay lag the target may have: bytes, or a size
        /// with its unit (16MB, 512kB, 1GB).
        #[arg(
            long,
            value_name = "SIZE",
            default_value = "16MB",
            value_parser = crate::core::size::parse_bytes
        )]
        max_lag: u64,
        /// Seconds for the whole move: the CHECKPOINT on the primary,
        /// pausing PgBouncer and waiting for the new primary.
        #[arg(long, value_name = "SECONDS", default_value_t = 120)]
        timeout: u64,
        /// Pause PgBouncer on every online node (NODE:6432, admin user
        /// pgbouncer, its password from the database owner's .pgpass)
        /// while the role moves, and resume it on every path: clients see a
        /// pause, not an error. Use PgBouncer's transaction pooling.
        #[arg(long)]
        pgbouncer: bool,
        /// Seconds all PgBouncers together may take to pause (their
        /// transactions in flight to finish; new ones wait meanwhile)
        /// before the switchover is refused with PgBouncer resumed.
        #[arg(long, value_name = "SECONDS", default_value_t = 5)]
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
        #[arg(long, value_name = "N", default_value_t = 4)]
        workers: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use std::path::Path;

    const MAN_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/doc");

    /// The sections every page has, in man-pages(7)'s order.
    const SECTIONS: &[&str] = &[
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "OPTIONS",
        "EXIT STATUS",
        "FILES",
        "EXAMPLES",
        "SEE ALSO",
    ];

    /// The command line as clap runs it: with `help`, `--help`,
    /// `--version`, and the global options on every command.
    fn built() -> clap::Command {
        let mut cmd = Cli::command();
        cmd.build();
        cmd
    }

    /// Every page, by name, with the command it documents: rustpgctl(8)
    /// and one per command (clap's own `help` is on the main page).
    fn commands() -> Vec<(String, clap::Command)> {
        let root = built();
        let mut out = vec![("rustpgctl".to_string(), root.clone())];
        for sub in root.get_subcommands().filter(|s| s.get_name() != "help") {
            out.push((format!("rustpgctl-{}", sub.get_name()), sub.clone()));
        }
        out
    }

    fn read(name: &str) -> String {
        let path = Path::new(MAN_DIR).join(format!("{name}.8"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("doc/{name}.8: {e}"))
    }

    /// A page's sections in order: heading and roff body.
    fn sections(page: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for line in page.lines() {
            if let Some(h) = line.strip_prefix(".SH ") {
                out.push((h.trim().trim_matches('"').to_string(), String::new()));
            } else if let Some((_, body)) = out.last_mut() {
                body.push_str(line);
                body.push('\n');
            }
        }
        out
    }

    fn section(page: &str, file: &str, name: &str) -> String {
        sections(page)
            .into_iter()
            .find(|(h, _)| h == name)
            .unwrap_or_else(|| panic!("{file} has no {name} section"))
            .1
    }

    /// A macro line's arguments: split at unescaped spaces, quotes
    /// removed.
    fn arguments(line: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut word = String::new();
        let (mut quoted, mut escaped) = (false, false);
        for c in line.chars() {
            match c {
                _ if escaped => {
                    word.push(c);
                    escaped = false;
                }
                '\\' => {
                    word.push(c);
                    escaped = true;
                }
                '"' => quoted = !quoted,
                ' ' if !quoted => {
                    if !word.is_empty() {
                        out.push(std::mem::take(&mut word));
                    }
                }
                c => word.push(c),
            }
        }
        if !word.is_empty() {
            out.push(word);
        }
        out
    }

    /// Roff as a reader sees it, line by line: macro names, font changes
    /// and `\&` gone, the alternating-font macros' arguments joined,
    /// escapes as their characters.
    fn plain(roff: &str) -> String {
        let text = roff
            .lines()
            .filter(|l| !l.starts_with(".\\\""))
            .map(|l| match l.strip_prefix('.') {
                Some(m) => {
                    let (name, rest) = m.split_once(' ').unwrap_or((m, ""));
                    let args = arguments(rest);
                    match name {
                        "BR" | "RB" | "BI" | "IB" | "IR" | "RI" => args.concat(),
                        "B" | "I" => args.join(" "),
                        // Layout only (.TP, .PP, .EX, .IP's bullet ...).
                        _ => String::new(),
                    }
                }
                None => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        let mut out = text;
        for (escape, c) in [
            ("\\fB", ""),
            ("\\fI", ""),
            ("\\fR", ""),
            ("\\fP", ""),
            ("\\&", ""),
            ("\\-", "-"),
            ("\\(aq", "'"),
            ("\\(dq", "\""),
            ("\\(lq", "\""),
            ("\\(rq", "\""),
            ("\\(ti", "~"),
            ("\\(ha", "^"),
            ("\\(ga", "`"),
            ("\\(bu", "*"),
            ("\\ ", " "),
            ("\\e", "\\"),
        ] {
            out = out.replace(escape, c);
        }
        out
    }

    /// The `.TP` entries of a section: tag and text, in plain words.
    fn entries(body: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut lines = body.lines().peekable();
        while let Some(line) = lines.next() {
            if line != ".TP" {
                continue;
            }
            let tag = plain(lines.next().unwrap_or_default());
            let mut text = String::new();
            while let Some(l) = lines.peek() {
                if *l == ".TP" {
                    break;
                }
                text.push_str(l);
                text.push('\n');
                lines.next();
            }
            out.push((tag, plain(&text)));
        }
        out
    }

    /// The words of a text, without the punctuation around them.
    fn words(text: &str) -> Vec<&str> {
        text.split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']')
            .map(|w| w.trim_end_matches(['.', ';', ':']).trim_start_matches('('))
            .filter(|w| !w.is_empty())
            .collect()
    }

    fn value_name(arg: &clap::Arg) -> String {
        arg.get_value_names()
            .and_then(|v| v.first())
            .map_or_else(|| arg.get_id().as_str().to_uppercase(), |v| v.to_string())
    }

    /// The pages are written by hand; these tests keep them true to the
    /// command line. Every command has its page, with the sections an
    /// administrator looks for, under the title and name `man` shows.
    #[test]
    fn every_command_has_its_page() {
        for (name, _) in commands() {
            let file = format!("doc/{name}.8");
            let page = read(&name);
            let title = format!(".TH {} 8 ", name.to_uppercase().replace('-', "\\-"));
            assert!(
                page.starts_with(&title),
                "{file} does not start with {title}"
            );
            // Each once, in order; others (COMMANDS, ENVIRONMENT) between.
            let headings: Vec<String> = sections(&page).into_iter().map(|(h, _)| h).collect();
            let known: Vec<&String> = headings
                .iter()
                .filter(|h| SECTIONS.contains(&h.as_str()))
                .collect();
            assert_eq!(known, SECTIONS, "{file}'s sections are {headings:?}");
            // NAME: one short line, `name \- what it does`.
            let name_section = section(&page, &file, "NAME");
            let lines: Vec<&str> = name_section.lines().collect();
            assert_eq!(lines.len(), 1, "{file}: NAME is one line");
            let line = plain(lines[0]);
            assert!(
                line.starts_with(&format!("{name} - ")),
                "{file}: NAME is {line}"
            );
            assert!(
                line.len() <= 80,
                "{file}: NAME is longer than a line: {line}"
            );
            let synopsis = plain(&section(&page, &file, "SYNOPSIS"));
            assert!(synopsis.starts_with("rustpgctl"), "{file}: {synopsis}");
            if let Some(command) = name.strip_prefix("rustpgctl-") {
                assert!(
                    words(&synopsis).contains(&command),
                    "{file}: the SYNOPSIS does not name {command}"
                );
            }
        }
        // No page for a command that is gone.
        let documented: Vec<String> = commands().into_iter().map(|(n, _)| n).collect();
        for entry in std::fs::read_dir(MAN_DIR).unwrap() {
            let file = entry.unwrap().file_name().into_string().unwrap();
            if let Some(name) = file.strip_suffix(".8") {
                assert!(
                    documented.iter().any(|d| d == name),
                    "doc/{file} documents no command rustpgctl has"
                );
            }
        }
    }

    /// Every option clap accepts for a command (its own and the global
    /// ones) is in its page's OPTIONS with its value's name and clap's
    /// default; its own options are in the SYNOPSIS; an operand is in
    /// both.
    #[test]
    fn every_option_and_default_is_on_its_page() {
        for (name, cmd) in commands() {
            let file = format!("doc/{name}.8");
            let page = read(&name);
            let options = entries(&section(&page, &file, "OPTIONS"));
            let synopsis = plain(&section(&page, &file, "SYNOPSIS"));
            for arg in cmd.get_arguments() {
                let Some(long) = arg.get_long() else {
                    assert!(
                        arg.is_positional(),
                        "{file}: {} has no long name",
                        arg.get_id()
                    );
                    let operand = value_name(arg);
                    assert!(
                        words(&synopsis).contains(&operand.as_str()),
                        "{file}: the SYNOPSIS lacks {operand}"
                    );
                    assert!(
                        options.iter().any(|(tag, _)| *tag == operand),
                        "{file}: OPTIONS has no entry {operand}"
                    );
                    continue;
                };
                let option = format!("--{long}");
                let (tag, text) = options
                    .iter()
                    .find(|(tag, _)| words(tag).contains(&option.as_str()))
                    .unwrap_or_else(|| panic!("{file}: OPTIONS has no entry for {option}"));
                let tag_words = words(tag);
                if let Some(short) = arg.get_short() {
                    let short = format!("-{short}");
                    assert!(
                        tag_words.contains(&short.as_str()),
                        "{file}: {tag} lacks {short}"
                    );
                }
                if arg.get_action().takes_values() {
                    let value = value_name(arg);
                    let at = tag_words.iter().position(|w| *w == option).unwrap();
                    assert_eq!(
                        tag_words.get(at + 1).copied(),
                        Some(value.as_str()),
                        "{file}: the entry {tag} names its value {value}"
                    );
                }
                // A flag's `false` is no default to document.
                let defaults = match arg.get_action().takes_values() {
                    true => arg.get_default_values(),
                    false => &[],
                };
                for default in defaults {
                    let default = default.to_string_lossy();
                    assert!(
                        text.contains("default") && words(text).contains(&default.as_ref()),
                        "{file}: the entry for {option} does not give its default {default}"
                    );
                }
                let own = !arg.is_global_set() && !["help", "version"].contains(&long);
                if own {
                    assert!(
                        words(&synopsis).contains(&option.as_str()),
                        "{file}: the SYNOPSIS lacks {option}"
                    );
                }
            }
        }
    }

    /// The exit statuses are those rustpgctl returns; every page points
    /// to the others, to the agent's page and to Pacemaker's tools.
    #[test]
    fn exit_statuses_and_see_also() {
        let all: Vec<String> = commands().into_iter().map(|(n, _)| n).collect();
        for name in &all {
            let file = format!("doc/{name}.8");
            let page = read(name);
            let statuses: Vec<String> = entries(&section(&page, &file, "EXIT STATUS"))
                .into_iter()
                .map(|(tag, _)| tag)
                .collect();
            for s in &statuses {
                assert!(
                    ["0", "1", "2", "3"].contains(&s.as_str()),
                    "{file}: exit status {s}"
                );
            }
            for s in ["1", "2"] {
                assert!(
                    statuses.iter().any(|t| t == s),
                    "{file}: no exit status {s}"
                );
            }
            let see_also = plain(&section(&page, &file, "SEE ALSO"));
            let mut wanted: Vec<String> = all
                .iter()
                .filter(|other| *other != name)
                .map(|other| format!("{other}(8)"))
                .collect();
            wanted
                .extend(["ocf_rustpg_pgsql(7)", "crm_mon(8)", "crm_resource(8)"].map(String::from));
            for w in wanted {
                assert!(
                    words(&see_also).contains(&w.as_str()),
                    "{file}: SEE ALSO lacks {w}"
                );
            }
        }
        let main = read("rustpgctl");
        let statuses: Vec<String> = entries(&section(&main, "rustpgctl.8", "EXIT STATUS"))
            .into_iter()
            .map(|(tag, _)| tag)
            .collect();
        assert_eq!(statuses, ["0", "1", "2", "3"]);
    }

    /// rustpgctl(8) lists every command clap knows, `help` too.
    #[test]
    fn the_main_page_lists_every_command() {
        let page = read("rustpgctl");
        let listed = entries(&section(&page, "rustpgctl.8", "COMMANDS"));
        for sub in built().get_subcommands() {
            assert!(
                listed
                    .iter()
                    .any(|(tag, _)| words(tag).first() == Some(&sub.get_name())),
                "rustpgctl.8 does not list {}",
                sub.get_name()
            );
        }
    }

    /// rustpgctl-metrics(8) names every family the metrics have, and no
    /// other.
    #[test]
    fn the_metrics_page_names_every_family() {
        use crate::ctl::status::{NodeStatus, ReplicationReport, ServerReport, SlotReport, Status};
        let node = |name: &str, role: &'static str| NodeStatus {
            name: name.into(),
            online: true,
            role,
            score: Some("100".into()),
            status: Some("HS:sync".into()),
            data_status: Some("STREAMING|SYNC".into()),
            fail_count: 0,
            lock: None,
            server: None,
            replication: None,
            promotable: true,
            holds_every_acknowledged_commit: true,
            why: Vec::new(),
        };
        // Everything set, so that every family has a sample.
        let standby = NodeStatus {
            server: Some(ServerReport {
                in_recovery: true,
                timeline: Some(3),
                wal_receiver: Some("streaming".into()),
                ..ServerReport::default()
            }),
            replication: Some(ReplicationReport {
                postgres_says: "STREAMING|SYNC".into(),
                disagreement: None,
                sent_lag_bytes: Some(0),
                flush_lag_bytes: Some(0),
                replay_lag_bytes: Some(0),
                replay_lag_seconds: Some(0.0),
            }),
            ..node("pg02", "Unpromoted")
        };
        let status = Status {
            primary_report_error: None,
            resource: "pgsql".into(),
            clone: Some("pgsql-clone".into()),
            quorum: true,
            maintenance: false,
            dc: Some("pg01".into()),
            dc_idle: Some(true),
            node: "pg02".into(),
            nodes: vec![node("pg01", "Promoted"), standby],
            weak_commits: vec!["role app in every database sets local".into()],
            acknowledged_on: Some("pg01 and pg02".into()),
            sync_standby_names: Some("FIRST 1 (\"pg02\")".into()),
            slots: vec![SlotReport {
                name: "pgsql_pg02".into(),
                active: true,
                wal_held_bytes: Some(0),
                wal_status: Some("reserved".into()),
                safe_wal_bytes: Some(1 << 30),
            }],
            last_promotion_at: Some(1),
        };
        let metrics = crate::ctl::render_metrics(&status);
        let families: Vec<&str> = metrics
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .collect();
        let page = plain(&read("rustpgctl-metrics"));
        let named: Vec<&str> = page
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("rustpg_"))
            .collect();
        for f in &families {
            assert!(named.contains(f), "rustpgctl-metrics.8 does not name {f}");
        }
        for n in named {
            assert!(
                families.contains(&n),
                "rustpgctl-metrics.8 names {n}, which is no family"
            );
        }
    }

    /// rustpgctl-serve(8) names every path serve answers, and no other.
    #[test]
    fn the_serve_page_names_every_path() {
        use crate::ctl::serve::Check;
        let why = Check::parse("/nowhere").unwrap_err();
        let (_, list) = why.split_once(": ").unwrap();
        let paths: Vec<&str> = list
            .split(", ")
            .map(|p| p.split('[').next().unwrap())
            .collect();
        assert!(paths.len() >= 5, "{why}");
        let page = plain(&read("rustpgctl-serve"));
        for p in &paths {
            assert!(
                page.contains(&format!("GET {p}")),
                "rustpgctl-serve.8 lacks GET {p}"
            );
        }
        for (at, _) in page.match_indices("GET /") {
            let url = page[at + 4..].split_whitespace().next().unwrap();
            let url = url
                .trim_end_matches(['.', ',', ';', ')'])
                .replace("SIZE", "16MB");
            assert!(Check::parse(&url).is_ok(), "rustpgctl-serve.8 names {url}");
        }
    }

    /// `groff -ww` finds nothing to warn about (where groff is installed).
    #[test]
    fn the_pages_render_without_warnings() {
        for (name, _) in commands() {
            let path = Path::new(MAN_DIR).join(format!("{name}.8"));
            let Ok(out) = std::process::Command::new("groff")
                .args(["-man", "-Tutf8", "-ww", "-z"])
                .arg(&path)
                .output()
            else {
                eprintln!("groff is not installed: the pages' rendering is not checked");
                return;
            };
            let warnings = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success() && warnings.is_empty(),
                "doc/{name}.8: {warnings}"
            );
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
