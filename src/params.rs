//! The parameter table: the single source of truth for every parameter's
//! name, default, type, validation and documentation. Defaults and meanings
//! are those of the stock `ocf:heartbeat:pgsql` agent (resource-agents 4.12).

use crate::ocf::metadata::{render, ActionSpec, AgentInfo};

/// What values a parameter takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text (paths, SQL, conninfo fragments).
    Str,
    /// An absolute path. pg_ctl pastes paths into a `/bin/sh` command line
    /// inside double quotes, so characters special there are refused.
    Path,
    /// A program: an absolute path, or a bare name looked up on `PATH` (the
    /// stock agent's `check_binary`). The same characters are refused.
    Program,
    /// A whole number within `min..=max`.
    Int { min: i64, max: i64 },
    /// An OCF boolean (`ocf_is_true` words, or their negations).
    Bool,
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
}

impl Kind {
    /// The OCF meta-data content type.
    pub fn content_type(self) -> &'static str {
        match self {
            Kind::Str | Kind::Path | Kind::Program | Kind::Choice(_) => "string",
            Kind::Int { .. } => "integer",
            Kind::Bool => "boolean",
        }
    }
}

#[derive(Debug)]
pub struct ParamSpec {
    pub name: &'static str,
    pub kind: Kind,
    pub default: &'static str,
    pub shortdesc: &'static str,
    pub longdesc: &'static str,
    /// Changed on a running resource, Pacemaker asks the agent to reload
    /// (`reload-agent`) instead of restarting it: for a parameter only
    /// read when an action runs (every action reads its parameters
    /// afresh) and meaningful without a restart.
    pub reloadable: bool,
}

const SECONDS: Kind = Kind::Int {
    min: 0,
    max: 86_400,
};

pub const REP_MODES: &[&str] = &["none", "async", "sync", "quorum", "slave"];

pub static PARAMS: &[ParamSpec] = &[
    // --- The instance -----------------------------------------------------
    ParamSpec {
        name: "pgctl",
        reloadable: false,
        kind: Kind::Program,
        default: "/usr/bin/pg_ctl",
        shortdesc: "pg_ctl path",
        longdesc: "Path to pg_ctl, or a program name found on PATH. When the default does not exist or is Debian's pg_wrapper, \
                   the agent uses /usr/lib/postgresql/<PG_VERSION>/bin/pg_ctl for the major \
                   version of pgdata and logs that choice.",
    },
    ParamSpec {
        name: "start_opt",
        reloadable: false,
        kind: Kind::Str,
        default: "",
        shortdesc: "Options for the postgres server",
        longdesc: "Extra command-line options for the postgres server, passed through \
                   pg_ctl -o. Split on white space; each word reaches the server verbatim \
                   (the agent quotes it for the shell pg_ctl uses).",
    },
    ParamSpec {
        name: "ctl_opt",
        reloadable: false,
        kind: Kind::Str,
        default: "",
        shortdesc: "Additional pg_ctl options",
        longdesc:
            "Extra options for pg_ctl start, split on white space (for example --core-files). \
                   The agent itself passes -D, -l, -o, -w and -t.",
    },
    ParamSpec {
        name: "psql",
        reloadable: false,
        kind: Kind::Program,
        default: "/usr/bin/psql",
        shortdesc: "psql path",
        longdesc: "Path to psql, or a program name found on PATH. Accepted for compatibility: \
                   this agent speaks the PostgreSQL protocol itself and does not run psql, but \
                   a psql set explicitly must exist, as the stock agent requires.",
    },
    ParamSpec {
        name: "pgdata",
        reloadable: false,
        kind: Kind::Path,
        default: "/var/lib/pgsql/data",
        shortdesc: "Data directory",
        longdesc: "The PostgreSQL data directory (PGDATA). postmaster.pid, PG_VERSION, \
                   global/pg_control and a standby's standby.signal (recovery.conf before \
                   PostgreSQL 12) live here.",
    },
    ParamSpec {
        name: "pgdba",
        reloadable: false,
        kind: Kind::Str,
        default: "postgres",
        shortdesc: "Database owner",
        longdesc: "The operating-system user that owns the data directory. Every PostgreSQL \
                   command runs as this user, with its supplementary groups.",
    },
    ParamSpec {
        name: "pghost",
        reloadable: false,
        kind: Kind::Str,
        default: "",
        shortdesc: "Host to connect to",
        longdesc: "Host name, address or socket directory the agent connects to for SQL. A \
                   host name or address (not a directory) is also passed to the server as -h, \
                   its listen address. Empty: use socketdir, else the default socket \
                   directory.",
    },
    ParamSpec {
        name: "pgport",
        reloadable: false,
        kind: Kind::Int {
            min: 1,
            max: 65_535,
        },
        default: "5432",
        shortdesc: "Port",
        longdesc: "The port PostgreSQL listens on. In replication modes it is also the port in \
                   primary_conninfo, so every node must use the same port.",
    },
    ParamSpec {
        name: "pglibs",
        reloadable: false,
        kind: Kind::Str,
        default: "/usr/lib",
        shortdesc: "Library directory",
        longdesc: "Appended to LD_LIBRARY_PATH for the PostgreSQL programs the agent runs.",
    },
    ParamSpec {
        name: "monitor_user",
        reloadable: false,
        kind: Kind::Str,
        default: "",
        shortdesc: "User for monitoring",
        longdesc: "The database user the agent connects as for its SQL. Empty: pgdba.",
    },
    ParamSpec {
        name: "monitor_password",
        reloadable: false,
        kind: Kind::Str,
        default: "",
        shortdesc: "Password for monitor_user",
        longdesc: "Password for monitor_user. Empty: the .pgpass file of pgdba (or PGPASSFILE) \
                   is consulted, then password-less authentication is tried.",
    },
    ParamSpec {
        name: "monitor_sql",
        reloadable: false,
        kind: Kind::Str,
        default: "select now();",
        shortdesc: "Liveness query",
        longdesc: "The SQL the monitor runs to decide that PostgreSQL answers.",
    },
    ParamSpec {
        name: "config",
        reloadable: false,
        kind: Kind::Path,
        default: "/var/lib/pgsql/data/postgresql.conf",
        shortdesc: "postgresql.conf path",
        longdesc: "Path to postgresql.conf, passed to the server as config_file. When unset it \
                   is <pgdata>/postgresql.conf. On Debian it is usually \
                   /etc/postgresql/<version>/<cluster>/postgresql.conf.",
    },
    ParamSpec {
        name: "pgdb",
        reloadable: false,
        kind: Kind::Str,
        default: "template1",
        shortdesc: "Database for monitoring",
        longdesc: "The database the agent connects to.",
    },
    ParamSpec {
        name: "logfile",
        reloadable: false,
        kind: Kind::Path,
        default: "/dev/null",
        shortdesc: "Server log file",
        longdesc: "Where pg_ctl sends the server's output (pg_ctl -l). Created and given to \
                   pgdba when missing.",
    },
    ParamSpec {
        name: "socketdir",
        reloadable: false,
        kind: Kind::Path,
        default: "",
        shortdesc: "Unix socket directory",
        longdesc: "The Unix socket directory. Created (mode 2775, owned by pgdba) when \
                   missing; the agent connects through it when pghost is empty. Needed when \
                   the server's socket is in neither /var/run/postgresql nor /tmp.",
    },
    ParamSpec {
        name: "stop_escalate",
        reloadable: false,
        kind: SECONDS,
        default: "90",
        shortdesc: "Seconds of fast shutdown before immediate",
        longdesc: "How long stop waits after pg_ctl stop -m fast before it escalates to \
                   -m immediate. Capped so that the stop ends inside its operation timeout.",
    },
    ParamSpec {
        name: "check_wal_receiver",
        reloadable: false,
        kind: Kind::Bool,
        default: "false",
        shortdesc: "Publish the WAL receiver status",
        longdesc: "When true, the monitor publishes <resource>-receiver-status \
                   (normal, normal (master), ERROR).",
    },
    // --- Replication ------------------------------------------------------
    ParamSpec {
        name: "rep_mode",
        reloadable: false,
        kind: Kind::Choice(REP_MODES),
        default: "none",
        shortdesc: "Replication mode",
        longdesc: "none: a single instance. async or sync: a promotable clone with streaming \
                   replication, sync naming a synchronous standby. quorum (not in the stock \
                   agent): a promotable clone whose commits wait for any quorum_standbys of the \
                   standbys (quorum commit), so that one standby's loss does not hold commits \
                   up; it needs fencing. slave: a standby outside a promotable clone.",
    },
    ParamSpec {
        name: "node_list",
        reloadable: false,
        kind: Kind::Str,
        default: "",
        shortdesc: "All node names",
        longdesc: "Space-separated names of every node that can run PostgreSQL, as crm_node -n \
                   prints them. Required for async and sync.",
    },
    ParamSpec {
        name: "quorum_standbys",
        reloadable: true,
        kind: Kind::Int { min: 1, max: 31 },
        default: "1",
        shortdesc: "Standbys that must hold a commit (rep_mode=quorum)",
        longdesc: "Not in the stock agent; used only with rep_mode=quorum. A commit is \
                   acknowledged once any quorum_standbys of the standbys that stream have \
                   flushed it (synchronous_standby_names = 'ANY k (...)'), and a failover \
                   compares the positions of enough standbys to find every such commit. At \
                   most the number of nodes minus one: 1 suits three nodes (either standby \
                   may be lost without commits waiting), 2 suits five. With 2 or more, \
                   replication_slot_name is required (one connection per standby). Changing \
                   it restarts nothing: the primary moves to it in steps that keep every \
                   acknowledged commit findable (reloadable).",
    },
    ParamSpec {
        name: "external_standby_node_list",
        reloadable: true,
        kind: Kind::Str,
        default: "",
        shortdesc: "Synchronous standbys outside the cluster",
        longdesc: "Space-separated application_name values of standbys outside the Pacemaker \
                   cluster (a disaster-recovery site) that stream from the primary. Requires \
                   rep_mode=sync. While one streams, the primary lists it in \
                   synchronous_standby_names after the cluster's own synchronous standby \
                   (FIRST n, n the number listed), so commits wait for both; one that stops \
                   streaming is dropped at the next monitor, with a warning. The cluster's \
                   synchronous standby stays required, and a standby outside the cluster is \
                   never promoted.",
    },
    ParamSpec {
        name: "restore_command",
        reloadable: false,
        kind: Kind::Str,
        default: "",
        shortdesc: "restore_command for standbys",
        longdesc: "restore_command written into the standby configuration.",
    },
    ParamSpec {
        name: "archive_cleanup_command",
        reloadable: false,
        kind: Kind::Str,
        default: "",
        shortdesc: "archive_cleanup_command for standbys",
        longdesc: "archive_cleanup_command written into the standby configuration.",
    },
    ParamSpec {
        name: "recovery_end_command",
        reloadable: false,
        kind: Kind::Str,
        default: "",
        shortdesc: "recovery_end_command for standbys",
        longdesc: "recovery_end_command written into the standby configuration.",
    },
    ParamSpec {
        name: "master_ip",
        reloadable: false,
        kind: Kind::Str,
        default: "",
        shortdesc: "Primary address for standbys",
        longdesc: "The address standbys connect to (host= in primary_conninfo): normally a \
                   virtual IP that follows the promoted instance. Required for async, sync and \
                   slave.",
    },
    ParamSpec {
        name: "repuser",
        reloadable: false,
        kind: Kind::Str,
        default: "postgres",
        shortdesc: "Replication user",
        longdesc: "The user standbys replicate as (user= in primary_conninfo).",
    },
    ParamSpec {
        name: "primary_conninfo_opt",
        reloadable: false,
        kind: Kind::Str,
        default: "",
        shortdesc: "Extra primary_conninfo options",
        longdesc: "Extra key=value options appended to primary_conninfo, for example \
                   keepalives_idle=60 or passfile=/var/lib/postgresql/.pgpass.",
    },
    ParamSpec {
        name: "replication_hosts",
        reloadable: true,
        kind: Kind::Str,
        default: "",
        shortdesc: "Each node's address for replication",
        longdesc: "Not in the stock agent; empty by default (standbys connect to master_ip, as \
                   the stock agent's do). Space-separated node=host pairs, one for every node \
                   of node_list, for example \"pg01=10.0.0.11 pg02=10.0.0.12 pg03=10.0.0.13\". \
                   When set, a standby streams from the promoted node's host instead of \
                   master_ip: every standby points its primary_conninfo there when the \
                   promotion is notified, and reloads, so it streams again before the VIP \
                   moves and the new primary's first commit does not wait for its reconnect \
                   through the VIP. Needs PostgreSQL 13 or later (primary_conninfo is reloaded \
                   there) and no host in primary_conninfo_opt. Changing it restarts nothing: \
                   each standby follows at its next monitor (reloadable).",
    },
    ParamSpec {
        name: "restart_on_promote",
        reloadable: false,
        kind: Kind::Bool,
        default: "false",
        shortdesc: "Restart instead of promote",
        longdesc: "Promote by restarting PostgreSQL without standby.signal (recovery.conf \
                   before 12) instead of a promotion (legacy: keeps the timeline). Refused \
                   with rep_mode=async or sync: the checks against a stale primary and a \
                   diverged standby compare timelines.",
    },
    ParamSpec {
        name: "auto_rewind",
        reloadable: true,
        kind: Kind::Bool,
        default: "false",
        shortdesc: "Rejoin a former primary by pg_rewind",
        longdesc: "Not in the stock agent; off by default. When true, a start that finds a crash \
                   PGSQL.lock (the node was the primary when it stopped) or a DIVERGED standby, \
                   while a promoted instance runs elsewhere, runs crash recovery, rewinds the \
                   node from master_ip with pg_rewind when its WAL went past the new primary's \
                   fork (logging the discarded range), and starts it as a standby; the lock goes \
                   once it streams. It refuses, keeping the lock and the data, without \
                   wal_log_hints or data checksums, without a reachable primary, when pg_rewind \
                   fails or is missing, or when the node is ahead in a way a fork cannot explain. \
                   repuser needs the rights pg_rewind asks of its source. Changing it on a \
                   running cluster restarts nothing (reloadable).",
    },
    ParamSpec {
        name: "auto_resync",
        reloadable: true,
        kind: Kind::Bool,
        default: "false",
        shortdesc: "A new base backup when a rewind cannot finish",
        longdesc: "Not in the stock agent; off by default; needs auto_rewind=true. A pg_rewind \
                   that fails while it runs (its source crashed, say) leaves a data directory \
                   PostgreSQL cannot repair. When true, a start whose pg_rewind fails after an \
                   earlier pg_rewind of this node did not finish copies the primary with \
                   pg_basebackup (through master_ip, as repuser, which needs a replication \
                   entry in pg_hba.conf) into <pgdata>.resync, exchanges it with the data \
                   directory once complete, and keeps the old data as <pgdata>.before-resync \
                   (replacing an older one the agent set aside). The disk must hold two copies. \
                   It refuses, keeping the data, when the data directory is a mount point or \
                   has tablespaces. Changing it restarts nothing (reloadable).",
    },
    ParamSpec {
        name: "replication_slot_name",
        reloadable: false,
        kind: Kind::Str,
        default: "",
        shortdesc: "Replication slot base name",
        longdesc: "When set, the primary keeps one physical slot per standby, named \
                   <name>_<node> (node lower-cased, . and - mapped to _). Only lower-case \
                   letters, digits and _ are allowed.",
    },
    ParamSpec {
        name: "max_slot_wal_keep_size",
        reloadable: true,
        kind: Kind::Str,
        default: "",
        shortdesc: "The most WAL the primary keeps for a standby's slot",
        longdesc: "Not in the stock agent; empty by default (a slot keeps WAL for as long as \
                   its standby is away, as with the stock agent, until the disk is full). \
                   PostgreSQL 13 or later, with replication_slot_name: a size (16GB, 512MB, or \
                   bytes) that the primary's monitor sets as PostgreSQL's \
                   max_slot_wal_keep_size. A standby away for longer than that much WAL loses \
                   its slot (the primary keeps running); the monitor then creates the slot \
                   anew, and the standby must be rewound or resynchronised before it streams \
                   again.",
    },
    ParamSpec {
        name: "tmpdir",
        reloadable: false,
        kind: Kind::Path,
        default: "/var/lib/pgsql/tmp",
        shortdesc: "Agent state directory",
        longdesc: "Directory for rep_mode.conf, PGSQL.lock and the election notes. Created, \
                   owned by pgdba, mode 700.",
    },
    ParamSpec {
        name: "xlog_check_count",
        reloadable: false,
        kind: Kind::Int { min: 0, max: 1_000 },
        default: "3",
        shortdesc: "Election samples",
        longdesc: "With no primary, while some node publishes its WAL position without a \
                   timeline (the stock agent, during a migration), how many more unchanged \
                   samples a standby needs before it claims promotion. When every node \
                   publishes its timeline (this agent), positions are final and the election \
                   decides in one round.",
    },
    ParamSpec {
        name: "crm_attr_timeout",
        reloadable: false,
        kind: SECONDS,
        default: "5",
        shortdesc: "Timeout of one crm_attribute call",
        longdesc: "Seconds one crm_attribute call may take before it is killed and retried.",
    },
    ParamSpec {
        name: "stop_escalate_in_slave",
        reloadable: false,
        kind: SECONDS,
        default: "90",
        shortdesc: "stop_escalate for standbys",
        longdesc: "As stop_escalate, for stopping a standby in replication modes.",
    },
];

pub const AGENT_SHORTDESC: &str =
    "Manages a PostgreSQL instance or a promotable replicated cluster";

pub const AGENT_LONGDESC: &str =
    "Starts, stops, monitors, promotes and demotes PostgreSQL. A drop-in \
replacement for ocf:heartbeat:pgsql: the same parameters with the same defaults, and the same \
node attributes with the same values: <resource>-status, <resource>-data-status, \
<resource>-xlog-loc, <resource>-master-baseline, master-<resource> (the promotion score) and, \
with check_wal_receiver=true, <resource>-receiver-status. It adds, on the primary's node, \
<resource>-acked-also-on (the standby that holds every commit the primary acknowledged), \
<resource>-acked-on-any (rep_mode=quorum: the voters among which any k hold them) and \
<resource>-promotions (its last promotions, for rustpgctl history), all three permanent; on a \
standby, <resource>-xlog-tli (the timeline of <resource>-xlog-loc); and, kept by attrd alone \
and shown by no crm_mon, <resource>-position (a standby's position for a promotion) and \
<resource>-history (the primary's timeline history). With rep_mode=none it runs one instance; \
with rep_mode=async, sync or quorum it runs a promotable clone of a primary and streaming \
standbys, and with rep_mode=slave a standalone standby of master_ip. PostgreSQL 10 to 18: \
recovery.conf before 12, standby.signal from 12 on.";

/// The actions advertised in the meta-data, with the stock agent's timeouts.
/// Neither `status` nor `methods` is advertised: pcs would turn them into
/// real operations in the CIB.
pub static ACTIONS: &[ActionSpec] = &[
    ActionSpec::new("start", 120),
    ActionSpec::new("stop", 120),
    ActionSpec {
        interval_secs: Some(30),
        depth: Some(0),
        ..ActionSpec::new("monitor", 30)
    },
    ActionSpec {
        interval_secs: Some(29),
        depth: Some(0),
        role: Some("Promoted"),
        ..ActionSpec::new("monitor", 30)
    },
    ActionSpec::new("promote", 120),
    ActionSpec::new("demote", 120),
    ActionSpec::new("notify", 90),
    ActionSpec::new("reload-agent", 20),
    ActionSpec::new("meta-data", 5),
    ActionSpec::new("validate-all", 5),
];

/// The advertised timeout of an action, used when Pacemaker gives none.
pub fn default_timeout_secs(action: &str) -> u32 {
    ACTIONS
        .iter()
        .find(|a| a.name == action)
        .map_or(60, |a| a.timeout_secs)
}

/// The meta-data XML, rendered from the tables above.
pub fn metadata_xml() -> String {
    render(&AgentInfo {
        name: "pgsql",
        version: env!("CARGO_PKG_VERSION"),
        shortdesc: AGENT_SHORTDESC,
        longdesc: AGENT_LONGDESC,
        params: PARAMS,
        actions: ACTIONS,
    })
}

/// Look a parameter up by name.
pub fn spec(name: &str) -> Option<&'static ParamSpec> {
    PARAMS.iter().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Every parameter of resource-agents 4.12's pgsql, with its default.
    const STOCK: &[(&str, &str)] = &[
        ("pgctl", "/usr/bin/pg_ctl"),
        ("start_opt", ""),
        ("ctl_opt", ""),
        ("psql", "/usr/bin/psql"),
        ("pgdata", "/var/lib/pgsql/data"),
        ("pgdba", "postgres"),
        ("pghost", ""),
        ("pgport", "5432"),
        ("pglibs", "/usr/lib"),
        ("monitor_user", ""),
        ("monitor_password", ""),
        ("monitor_sql", "select now();"),
        ("config", "/var/lib/pgsql/data/postgresql.conf"),
        ("pgdb", "template1"),
        ("logfile", "/dev/null"),
        ("socketdir", ""),
        ("stop_escalate", "90"),
        ("rep_mode", "none"),
        ("node_list", ""),
        ("restore_command", ""),
        ("archive_cleanup_command", ""),
        ("recovery_end_command", ""),
        ("master_ip", ""),
        ("repuser", "postgres"),
        ("primary_conninfo_opt", ""),
        ("restart_on_promote", "false"),
        ("replication_slot_name", ""),
        ("tmpdir", "/var/lib/pgsql/tmp"),
        ("xlog_check_count", "3"),
        ("crm_attr_timeout", "5"),
        ("stop_escalate_in_slave", "90"),
        ("check_wal_receiver", "false"),
        // resource-agents 2026-07 (pull request 2142).
        ("external_standby_node_list", ""),
    ];

    /// The agent's description names every attribute it writes: those
    /// through the CIB, those kept by attrd alone, and the stock
    /// receiver status.
    #[test]
    fn the_description_names_every_attribute_the_agent_writes() {
        use crate::core::replication::{receiver_status_attr, Attr, PrivateAttr};
        for a in Attr::ALL {
            // A new attribute fails to compile here until it is listed.
            match a {
                Attr::Status
                | Attr::DataStatus
                | Attr::XlogLoc
                | Attr::XlogTli
                | Attr::MasterBaseline
                | Attr::Score
                | Attr::AckedAlsoOn
                | Attr::AckedOnAny
                | Attr::Promotions => {}
            }
        }
        let names = Attr::ALL
            .iter()
            .map(|a| a.name("<resource>"))
            .chain(PrivateAttr::ALL.iter().map(|a| a.name("<resource>")))
            .chain([receiver_status_attr("<resource>")]);
        for name in names {
            assert!(
                AGENT_LONGDESC.contains(&name),
                "the meta-data does not name {name}"
            );
        }
        for p in PrivateAttr::ALL {
            match p {
                PrivateAttr::Position | PrivateAttr::History => {}
            }
        }
    }

    #[test]
    fn every_stock_parameter_is_here_with_the_stock_default() {
        for (name, default) in STOCK {
            let p = spec(name).unwrap_or_else(|| panic!("missing parameter {name}"));
            assert_eq!(p.default, *default, "default of {name}");
        }
        // Ours only, each off by default, so that a drop-in changes nothing
        // (quorum_standbys is read only with rep_mode=quorum, ours too).
        const OURS: &[&str] = &["auto_rewind", "auto_resync"];
        for name in OURS {
            assert_eq!(spec(name).map(|p| p.default), Some("false"), "{name}");
        }
        const OURS_EMPTY: &[&str] = &["replication_hosts", "max_slot_wal_keep_size"];
        for name in OURS_EMPTY {
            assert_eq!(spec(name).map(|p| p.default), Some(""), "{name}");
        }
        const OURS_FOR_OUR_MODE: &[&str] = &["quorum_standbys"];
        assert_eq!(
            PARAMS.len(),
            STOCK.len() + OURS.len() + OURS_EMPTY.len() + OURS_FOR_OUR_MODE.len(),
            "a parameter neither the stock agent nor OURS has"
        );
    }

    #[test]
    fn names_are_unique_and_defaults_valid_for_their_kind() {
        let names: BTreeSet<_> = PARAMS.iter().map(|p| p.name).collect();
        assert_eq!(names.len(), PARAMS.len());
        for p in PARAMS {
            match p.kind {
                Kind::Int { min, max } => {
                    let v: i64 = p.default.parse().unwrap();
                    assert!((min..=max).contains(&v), "{}", p.name);
                }
                Kind::Bool => assert!(crate::ocf::env::is_false(p.default), "{}", p.name),
                Kind::Choice(words) => assert!(words.contains(&p.default), "{}", p.name),
                Kind::Path => assert!(p.default.is_empty() || p.default.starts_with('/')),
                Kind::Program => assert!(p.default.starts_with('/'), "{}", p.name),
                Kind::Str => {}
            }
        }
    }
}
