//! Hostile and broken input (issue 5): one table of malformed or hostile
//! `OCF_RESKEY_*` values, broken notify variables, garbage node attributes,
//! unusable `tmpdir`s and a frozen PostgreSQL. Every row states the OCF
//! return code, a substring the exit reason must contain (the parameter or
//! file at fault), and whether the action may change files: rows that must
//! not are checked against a snapshot of `postgresql.conf`,
//! `postgresql.auto.conf`, `standby.signal` and `tmpdir`. No row may run a
//! shell on a value: every `$(...)` and backtick touches [`MARKER`], which
//! must never appear.
//!
//! Two fixtures share the table, one test each (they run in parallel): a
//! standalone PostgreSQL 15 whose data directory is reached through a path
//! with a space, `;` and `'` (rows `On::Solo`), and a two-node `rep_mode=sync`
//! [`Cluster`] on a CIB file (rows `On::Node`). Rows run in table order on a
//! shared server: the ones before the accepted hostile `start` see it
//! stopped, the ones after see it running.

use crate::cluster::{Cluster, RESOURCE};
use crate::support::{AgentOutput, Major, Postgres, AGENT};
use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Every hostile `$(...)` and backtick in the table touches this file.
const MARKER: &str = "/tmp/rustpg-hostile-pwned";

/// Which fixture a row runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum On {
    /// The standalone server (rep_mode=none unless the row says otherwise).
    Solo,
    /// A node of the two-node sync cluster.
    Node(&'static str),
}

/// What is arranged around the run (and undone after it).
#[derive(Debug, Clone, Copy)]
enum Setup {
    Nothing,
    /// `tmpdir` names a regular file (holding "precious").
    TmpdirIsFile,
    /// `chattr +i` on tmpdir: not even root can create a file in it.
    TmpdirImmutable,
    /// tmpdir read-only (a read-only bind mount in a private mount namespace).
    TmpdirReadOnly,
    /// tmpdir on a 64 kB tmpfs filled to the last byte (private namespace).
    TmpdirFull,
    /// Node attributes written into the CIB before the run (`""` deletes).
    Attrs(&'static [(&'static str, &'static str, &'static str)]),
    /// The postmaster is SIGSTOPped for the run.
    Frozen,
}

/// Whether the action may change the snapshot files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Files {
    Unchanged,
    MayChange,
}

struct Row {
    what: &'static str,
    on: On,
    setup: Setup,
    /// `OCF_RESKEY_<name>` overrides. Tokens: `{M}` the marker, `{LONG}`
    /// 100 kB of text, `{ROOT}` the fixture's directory, `{TARGET}` the
    /// cluster's primary port.
    params: &'static [(&'static str, &'static str)],
    /// Other environment overrides (same tokens).
    env: &'static [(&'static str, &'static str)],
    action: &'static str,
    rc: i32,
    /// A substring of the exit reason; `None`: there must be no exit reason.
    reason: Option<&'static str>,
    /// A substring the agent's log (stderr) must contain.
    log: Option<&'static str>,
    files: Files,
    /// Further checks after the run.
    check: Option<fn(&Fixture)>,
}

const R: Row = Row {
    what: "",
    on: On::Solo,
    setup: Setup::Nothing,
    params: &[],
    env: &[],
    action: "start",
    rc: 0,
    reason: None,
    log: None,
    files: Files::Unchanged,
    check: None,
};

const SYNC: &[(&str, &str)] = &[
    ("rep_mode", "sync"),
    ("node_list", "pg01 pg02"),
    ("master_ip", "127.0.0.1"),
];
const PROMOTABLE: (&str, &str) = ("OCF_RESKEY_CRM_meta_promotable", "true");
const QUICK: (&str, &str) = ("OCF_RESKEY_CRM_meta_timeout", "3000");
const MONITOR: (&str, &str) = ("OCF_RESKEY_CRM_meta_interval", "4000");

/// The hostile values the cluster's start must accept and quote.
/// (Shorter than NAMEDATALEN, so that the server's error names it whole.)
const H_REPUSER: &str = "r'u \"x\"$(touch {M})\\";
const H_MASTER_IP: &str = "10.0.0.1'; $(touch {M}) `touch {M}`";
const H_CONNINFO_OPT: &str =
    "host=127.0.0.1 port={TARGET} keepalives_idle=60 passfile='/nonexistent/it\\'s $(touch {M})'";
const H_RESTORE: &str = "cp \"/nonexistent/%f\" '%p' # it's $(touch {M}) `touch {M}`";
const H_CLEANUP: &str = "true # \"$(touch {M})\" it's";
/// The standalone start: a server option with every shell character.
/// start_opt is split on white space, so `${IFS}` stands in for blanks.
const H_CLUSTER_NAME: &str = "it's\"$(touch${IFS}{M})\"`touch${IFS}{M}`;\\";

static ROWS: &[Row] = &[
    // --- Standalone, server stopped: values refused by the parameter table.
    Row {
        what: "pgdata with a double quote",
        params: &[("pgdata", "/srv/pg\"data")],
        rc: 6,
        reason: Some("pgdata"),
        ..R
    },
    Row {
        what: "pgdata with $()",
        params: &[("pgdata", "/srv/$(touch {M})")],
        rc: 6,
        reason: Some("pgdata"),
        ..R
    },
    Row {
        what: "pgdata with backticks",
        params: &[("pgdata", "/srv/`touch {M}`")],
        rc: 6,
        reason: Some("pgdata"),
        ..R
    },
    Row {
        what: "pgdata with a newline",
        params: &[("pgdata", "/srv/pg\n/data")],
        rc: 6,
        reason: Some("pgdata=\"/srv/pg\\n/data\" contains a control character; fix the parameter"),
        ..R
    },
    Row {
        what: "pgdata relative",
        params: &[("pgdata", "srv/pg")],
        rc: 6,
        reason: Some("pgdata"),
        ..R
    },
    Row {
        what: "pgdata with a quote, a space and ; that does not exist",
        params: &[("pgdata", "/nonexistent/it's a;touch {M}")],
        rc: 5,
        reason: Some("pgdata /nonexistent/it's a;touch"),
        ..R
    },
    Row {
        what: "pgdata 100 kB long",
        params: &[("pgdata", "/{LONG}")],
        rc: 5,
        reason: Some("pgdata /aaaa"),
        ..R
    },
    Row {
        what: "pgctl that does not exist",
        params: &[("pgctl", "/nonexistent/bin/pg_ctl")],
        rc: 5,
        reason: Some("pgctl /nonexistent/bin/pg_ctl"),
        ..R
    },
    Row {
        what: "pgctl with $()",
        params: &[("pgctl", "/usr/bin/$(touch {M})")],
        rc: 6,
        reason: Some("pgctl"),
        ..R
    },
    Row {
        what: "config that does not exist, with a space",
        params: &[("config", "/nonexistent/my postgresql.conf")],
        rc: 5,
        reason: Some("Configuration file /nonexistent/my postgresql.conf"),
        ..R
    },
    Row {
        what: "config with a backslash",
        params: &[("config", "/etc/postgresql\\15.conf")],
        rc: 6,
        reason: Some("config"),
        ..R
    },
    Row {
        what: "logfile in a directory that does not exist",
        params: &[("logfile", "/nonexistent/dir/postgresql.log")],
        rc: 4,
        reason: Some("logfile: can't create /nonexistent/dir/postgresql.log"),
        ..R
    },
    Row {
        what: "logfile with a double quote",
        params: &[("logfile", "/tmp/pg\"log")],
        rc: 6,
        reason: Some("logfile"),
        ..R
    },
    Row {
        what: "unknown rep_mode",
        params: &[("rep_mode", "semi-sync")],
        rc: 6,
        reason: Some("rep_mode"),
        ..R
    },
    Row {
        what: "rep_mode in upper case",
        params: &[("rep_mode", "SYNC")],
        rc: 6,
        reason: Some("rep_mode"),
        ..R
    },
    Row {
        what: "rep_mode with a shell command",
        params: &[("rep_mode", "sync;touch {M}")],
        rc: 6,
        reason: Some("rep_mode"),
        ..R
    },
    Row {
        what: "node_list empty with rep_mode=sync",
        params: &[
            ("rep_mode", "sync"),
            ("master_ip", "127.0.0.1"),
            ("node_list", ""),
        ],
        env: &[PROMOTABLE],
        rc: 6,
        reason: Some("node_list can't be empty with rep_mode=sync"),
        ..R
    },
    Row {
        what: "node_list only blanks with rep_mode=sync",
        params: &[
            ("rep_mode", "sync"),
            ("master_ip", "127.0.0.1"),
            ("node_list", " \t "),
        ],
        env: &[PROMOTABLE],
        rc: 6,
        reason: Some("node_list can't be empty"),
        ..R
    },
    Row {
        what: "node_list naming a node twice (case differs)",
        params: &[
            ("rep_mode", "sync"),
            ("master_ip", "127.0.0.1"),
            ("node_list", "pg01 pg02 PG01"),
        ],
        env: &[PROMOTABLE],
        rc: 6,
        reason: Some("node_list names pg01 twice"),
        ..R
    },
    Row {
        what: "rep_mode=sync without master_ip",
        params: &[("rep_mode", "sync"), ("node_list", "pg01 pg02")],
        env: &[PROMOTABLE],
        rc: 6,
        reason: Some("master_ip"),
        ..R
    },
    Row {
        what: "rep_mode=sync outside a promotable clone",
        params: SYNC,
        rc: 6,
        reason: Some("promotable clone"),
        ..R
    },
    Row {
        what: "pgport with ;",
        params: &[("pgport", "5432;touch {M}")],
        rc: 6,
        reason: Some("pgport"),
        ..R
    },
    Row {
        what: "pgport 100 kB of digits",
        params: &[("pgport", "5{LONG}")],
        rc: 6,
        reason: Some("is not a whole number from 1 to 65535"),
        ..R
    },
    Row {
        what: "pgdba with $()",
        params: &[("pgdba", "$(touch {M})")],
        rc: 5,
        reason: Some("User $(touch /tmp/rustpg-hostile-pwned) doesn't exist"),
        ..R
    },
    Row {
        what: "pgdba with quotes and a space",
        params: &[("pgdba", "o'neil \"x\"")],
        rc: 5,
        reason: Some("User o'neil \"x\" doesn't exist"),
        ..R
    },
    Row {
        what: "repuser with a newline",
        params: &[("repuser", "rep\nuser")],
        rc: 6,
        reason: Some("repuser"),
        ..R
    },
    Row {
        what: "replication_slot_name with a quote",
        params: &[("replication_slot_name", "slot';drop table x")],
        rc: 6,
        reason: Some("replication_slot_name"),
        ..R
    },
    Row {
        what: "monitor_password without monitor_user",
        params: &[("monitor_password", "pw'$(touch {M})")],
        rc: 6,
        reason: Some("monitor_user"),
        ..R
    },
    Row {
        what: "crm_attr_timeout garbage",
        params: &[("crm_attr_timeout", "5`touch {M}`")],
        rc: 6,
        reason: Some("crm_attr_timeout"),
        ..R
    },
    Row {
        what: "an unknown action with a shell command",
        action: "start;touch /tmp/rustpg-hostile-pwned",
        rc: 3,
        reason: Some("unknown action"),
        ..R
    },
    Row {
        what: "validate-all at level 10 with a missing config",
        params: &[("config", "/nonexistent/postgresql.conf")],
        env: &[("OCF_CHECK_LEVEL", "10")],
        action: "validate-all",
        rc: 5,
        reason: Some("Configuration file /nonexistent/postgresql.conf"),
        ..R
    },
    Row {
        what: "garbage meta timeout and check level fall back to defaults",
        env: &[
            ("OCF_RESKEY_CRM_meta_timeout", "soon"),
            ("OCF_CHECK_LEVEL", "high"),
        ],
        action: "validate-all",
        ..R
    },
    Row {
        what: "pgport with blanks around it (read as the number; panicked before)",
        params: &[("pgport", " 5432 ")],
        action: "validate-all",
        ..R
    },
    Row {
        what: "stop with an invalid parameter reports success (stock)",
        params: &[("pgport", "abc")],
        action: "stop",
        ..R
    },
    Row {
        what: "probe with an invalid parameter, server stopped: not running",
        params: &[("pgport", "abc")],
        action: "monitor",
        rc: 7,
        ..R
    },
    Row {
        what: "notify with garbage variables (rep_mode=none)",
        env: &[
            ("OCF_RESKEY_CRM_meta_notify_type", "during"),
            ("OCF_RESKEY_CRM_meta_notify_operation", "$(touch {M})"),
        ],
        action: "notify",
        ..R
    },
    // --- Standalone: accepted values. The server starts here, through a
    // pgdata path holding a space, ; and ', with a hostile server option.
    Row {
        what: "start with hostile start_opt, pgdata and config paths (accepted, quoted)",
        params: &[(
            "start_opt",
            "-c rustpg.hostile={H_CLUSTER_NAME} -c cluster_name=it's\"$(touch${IFS}{M})",
        )],
        files: Files::MayChange,
        check: Some(check_solo_started),
        ..R
    },
    Row {
        what: "monitor_sql with ;, quotes and $() (data for SQL)",
        params: &[("monitor_sql", "select 1; select '$(touch {M})' as \"`x`\";")],
        env: &[MONITOR],
        action: "monitor",
        ..R
    },
    Row {
        what: "monitor_sql 100 kB long",
        params: &[("monitor_sql", "select 1 /* {LONG} */")],
        env: &[MONITOR],
        action: "monitor",
        ..R
    },
    Row {
        what: "monitor with an invalid parameter while PostgreSQL runs",
        params: &[("pgport", "abc")],
        env: &[MONITOR],
        action: "monitor",
        rc: 1,
        reason: Some("pgport"),
        ..R
    },
    Row {
        what: "pgdb with quotes",
        params: &[("pgdb", "no'such \"db\"")],
        env: &[MONITOR],
        action: "monitor",
        rc: 1,
        reason: Some("no'such \"db\""),
        ..R
    },
    Row {
        what: "monitor_user with SQL in it",
        params: &[("monitor_user", "x' or '1'='1")],
        env: &[MONITOR],
        action: "monitor",
        rc: 1,
        reason: Some("x' or '1'='1"),
        ..R
    },
    Row {
        what: "frozen postmaster: monitor ends by the watchdog",
        setup: Setup::Frozen,
        env: &[MONITOR, QUICK],
        action: "monitor",
        rc: 1,
        reason: Some("monitor did not finish within its 3.0s timeout"),
        ..R
    },
    Row {
        what: "frozen postmaster: start ends within its timeout",
        setup: Setup::Frozen,
        env: &[QUICK],
        action: "start",
        rc: 1,
        reason: Some("start"),
        ..R
    },
    // --- The sync cluster, pg02 stopped: tmpdir unusable.
    Row {
        what: "tmpdir is a regular file",
        on: On::Node("pg02"),
        setup: Setup::TmpdirIsFile,
        rc: 4,
        reason: Some("tmpdir: can't create directory"),
        ..R
    },
    Row {
        what: "tmpdir not writable (immutable)",
        on: On::Node("pg02"),
        setup: Setup::TmpdirImmutable,
        rc: 4,
        reason: Some("rep_mode.conf: Operation not permitted"),
        ..R
    },
    Row {
        what: "tmpdir read-only",
        on: On::Node("pg02"),
        setup: Setup::TmpdirReadOnly,
        rc: 4,
        reason: Some("rep_mode.conf: Read-only file system"),
        ..R
    },
    Row {
        what: "tmpdir full",
        on: On::Node("pg02"),
        setup: Setup::TmpdirFull,
        rc: 1,
        reason: Some("rep_mode.conf: No space left on device"),
        ..R
    },
    Row {
        what: "start of a replica on an unknown rep_mode stays refused",
        on: On::Node("pg02"),
        params: &[("rep_mode", "Sync")],
        rc: 6,
        reason: Some("rep_mode"),
        ..R
    },
    // --- pg01 starts with hostile values that must be accepted and quoted.
    Row {
        what: "start with hostile repuser, master_ip, primary_conninfo_opt, restore_command",
        on: On::Node("pg01"),
        params: &[
            ("repuser", H_REPUSER),
            ("master_ip", H_MASTER_IP),
            ("primary_conninfo_opt", H_CONNINFO_OPT),
            ("restore_command", H_RESTORE),
            ("archive_cleanup_command", H_CLEANUP),
        ],
        files: Files::MayChange,
        check: Some(check_quoted_standby_settings),
        ..R
    },
    // --- Garbage in the attributes the agent reads (no primary yet).
    Row {
        what: "own data-status is an unknown string: it decides nothing, pg02's silence does",
        on: On::Node("pg01"),
        setup: Setup::Attrs(&[("pg01", "pgsql-data-status", "GARBAGE|$(x)")]),
        params: &[("xlog_check_count", "0")],
        env: &[MONITOR],
        action: "monitor",
        log: Some("Waiting for the position of pg02 before anyone is promoted."),
        files: Files::MayChange,
        check: Some(check_pg01_did_not_claim),
        ..R
    },
    Row {
        what: "unknown own pgsql-status is overwritten",
        on: On::Node("pg01"),
        setup: Setup::Attrs(&[
            ("pg01", "pgsql-data-status", ""),
            ("pg01", "pgsql-status", "WHAT?"),
            ("pg02", "master-pgsql", "banana"),
        ]),
        params: &[("xlog_check_count", "1")],
        env: &[MONITOR],
        action: "monitor",
        files: Files::MayChange,
        check: Some(check_pg01_hs_alone),
        ..R
    },
    Row {
        what: "a peer's non-hex xlog-loc (round 1)",
        on: On::Node("pg01"),
        setup: Setup::Attrs(&[("pg02", "pgsql-xlog-loc", "ZZZZ-not-hex")]),
        params: &[("xlog_check_count", "1")],
        env: &[MONITOR],
        action: "monitor",
        files: Files::MayChange,
        ..R
    },
    Row {
        what: "a peer's non-hex xlog-loc (deciding round): no promotion claimed",
        on: On::Node("pg01"),
        params: &[("xlog_check_count", "1")],
        env: &[MONITOR],
        action: "monitor",
        log: Some("pg02 publishes an unreadable xlog location"),
        files: Files::MayChange,
        check: Some(check_pg01_did_not_claim),
        ..R
    },
    Row {
        what: "a peer's garbage xlog-tli (round 1)",
        on: On::Node("pg01"),
        setup: Setup::Attrs(&[
            ("pg02", "pgsql-xlog-loc", "0000000000000001"),
            ("pg02", "pgsql-xlog-tli", "9x"),
        ]),
        params: &[("xlog_check_count", "1")],
        env: &[MONITOR],
        action: "monitor",
        files: Files::MayChange,
        ..R
    },
    Row {
        what: "a peer's garbage xlog-tli (deciding round): no promotion claimed",
        on: On::Node("pg01"),
        params: &[("xlog_check_count", "1")],
        env: &[MONITOR],
        action: "monitor",
        files: Files::MayChange,
        check: Some(check_pg01_did_not_claim),
        ..R
    },
    Row {
        what: "control: readable positions again (round 1)",
        on: On::Node("pg01"),
        setup: Setup::Attrs(&[("pg02", "pgsql-xlog-tli", "")]),
        params: &[("xlog_check_count", "1")],
        env: &[MONITOR],
        action: "monitor",
        files: Files::MayChange,
        ..R
    },
    Row {
        what: "control: readable positions again (deciding round): pg01 claims",
        on: On::Node("pg01"),
        params: &[("xlog_check_count", "1")],
        env: &[MONITOR],
        action: "monitor",
        log: Some("I have a master right."),
        files: Files::MayChange,
        check: Some(check_pg01_claimed),
        ..R
    },
    Row {
        what: "broken notify: unknown type",
        on: On::Node("pg01"),
        env: &[
            ("OCF_RESKEY_CRM_meta_notify_type", "during"),
            ("OCF_RESKEY_CRM_meta_notify_operation", "promote"),
            ("OCF_RESKEY_CRM_meta_notify_promote_uname", "pg01"),
        ],
        action: "notify",
        ..R
    },
    Row {
        what: "broken notify: unknown operation",
        on: On::Node("pg01"),
        env: &[
            ("OCF_RESKEY_CRM_meta_notify_type", "post"),
            ("OCF_RESKEY_CRM_meta_notify_operation", "migrate;touch {M}"),
        ],
        action: "notify",
        ..R
    },
    Row {
        what: "broken notify: pre-promote of a node that does not exist, garbage lists",
        on: On::Node("pg01"),
        params: &[("node_list", "pg01 pg02 pg03")],
        env: &[
            ("OCF_RESKEY_CRM_meta_notify_type", "pre"),
            ("OCF_RESKEY_CRM_meta_notify_operation", "promote"),
            (
                "OCF_RESKEY_CRM_meta_notify_promote_uname",
                "$(touch {M}) `x`",
            ),
            ("OCF_RESKEY_CRM_meta_notify_promoted_uname", "\n\t "),
            ("OCF_RESKEY_CRM_meta_notify_unpromoted_uname", "{LONG}"),
            ("OCF_RESKEY_CRM_meta_notify_all_uname", "'\"';"),
        ],
        action: "notify",
        ..R
    },
    Row {
        what: "broken notify: post-promote with an empty promote list",
        on: On::Node("pg01"),
        env: &[
            ("OCF_RESKEY_CRM_meta_notify_type", "post"),
            ("OCF_RESKEY_CRM_meta_notify_operation", "promote"),
            ("OCF_RESKEY_CRM_meta_notify_promote_uname", ""),
        ],
        action: "notify",
        files: Files::MayChange,
        ..R
    },
    Row {
        what: "pre-promote against a garbage master-baseline (3 nodes)",
        on: On::Node("pg01"),
        setup: Setup::Attrs(&[
            ("pg02", "pgsql-master-baseline", "not-a-position"),
            ("pg01", "pgsql-master-baseline", "!!!!!!!!!!!!!!!!"),
        ]),
        params: &[("node_list", "pg01 pg02 pg03")],
        env: &[
            ("OCF_RESKEY_CRM_meta_notify_type", "pre"),
            ("OCF_RESKEY_CRM_meta_notify_operation", "promote"),
            ("OCF_RESKEY_CRM_meta_notify_promote_uname", "pg02"),
        ],
        action: "notify",
        ..R
    },
    Row {
        what: "on_node unknown to the cluster: the monitor gives up in time",
        on: On::Node("pg01"),
        // pg01's win (the row before) would make the monitor defer its
        // writes, and the unknown node is found by a write.
        setup: Setup::Attrs(&[("pg01", "master-pgsql", "-INFINITY")]),
        env: &[
            MONITOR,
            ("OCF_RESKEY_CRM_meta_timeout", "4000"),
            ("OCF_RESKEY_CRM_meta_on_node", "nosuchnode"),
        ],
        action: "monitor",
        rc: 1,
        reason: Some("nosuchnode"),
        files: Files::MayChange,
        ..R
    },
    Row {
        what: "frozen standby: monitor ends by the watchdog",
        on: On::Node("pg01"),
        setup: Setup::Frozen,
        env: &[MONITOR, QUICK],
        action: "monitor",
        rc: 1,
        reason: Some("monitor did not finish within its 3.0s timeout"),
        ..R
    },
    Row {
        what: "frozen standby: notify that needs SQL ends by the watchdog",
        on: On::Node("pg01"),
        setup: Setup::Frozen,
        env: &[
            QUICK,
            ("OCF_RESKEY_CRM_meta_notify_type", "post"),
            ("OCF_RESKEY_CRM_meta_notify_operation", "demote"),
            ("OCF_RESKEY_CRM_meta_notify_demote_uname", "pg02"),
        ],
        action: "notify",
        rc: 1,
        reason: Some("notify did not finish within its 3.0s timeout"),
        files: Files::MayChange,
        ..R
    },
    // --- Promote and a primary's monitor over garbage attributes.
    Row {
        what: "promote refused: the peer's published position is garbage",
        on: On::Node("pg01"),
        setup: Setup::Attrs(&[("pg02", "pgsql-position", "9/$(touch {M})")]),
        action: "promote",
        rc: 1,
        reason: Some("promotion refused: pg02 published no WAL position for this promotion; it may be ahead of this node"),
        files: Files::MayChange,
        ..R
    },
    Row {
        what: "promote with garbage status and score on the peer",
        on: On::Node("pg01"),
        setup: Setup::Attrs(&[
            ("pg02", "pgsql-status", "HS:$(touch {M})"),
            ("pg02", "master-pgsql", "banana"),
            ("pg02", "pgsql-data-status", "STREAMING|WHAT"),
            ("pg02", "pgsql-position", "1/0000000000000001"),
        ]),
        action: "promote",
        files: Files::MayChange,
        ..R
    },
    Row {
        what: "primary monitor over garbage attributes",
        on: On::Node("pg01"),
        setup: Setup::Attrs(&[
            ("pg02", "pgsql-data-status", "\"'; GARBAGE"),
            ("pg01", "pgsql-history", "9:$(touch {M})"),
        ]),
        env: &[MONITOR, ("OCF_RESKEY_CRM_meta_role", "Promoted")],
        action: "monitor",
        rc: 8,
        files: Files::MayChange,
        check: Some(check_primary_cleaned_peer),
        ..R
    },
];

// ----- Fixtures -----------------------------------------------------------

enum Fixture {
    Solo {
        pg: Postgres,
        /// The data directory through a path with a space, ; and '.
        pgdata: PathBuf,
    },
    Node {
        c: Cluster,
        node: &'static str,
    },
}

impl Fixture {
    fn root(&self) -> &Path {
        match self {
            Fixture::Solo { pg, .. } => pg.root.path(),
            Fixture::Node { c, .. } => c.root(),
        }
    }

    fn real_pgdata(&self) -> &Path {
        match self {
            Fixture::Solo { pg, .. } => &pg.pgdata,
            Fixture::Node { c, node } => &c.node(node).pgdata,
        }
    }

    fn tmpdir(&self) -> Option<&Path> {
        match self {
            Fixture::Solo { .. } => None,
            Fixture::Node { c, node } => Some(&c.node(node).tmpdir),
        }
    }

    fn cluster(&self) -> &Cluster {
        match self {
            Fixture::Node { c, .. } => c,
            Fixture::Solo { .. } => panic!("not a cluster row"),
        }
    }

    fn subst(&self, v: &str) -> String {
        let mut v = v
            .replace("{M}", MARKER)
            .replace("{LONG}", &"a".repeat(100 * 1024))
            .replace("{ROOT}", self.root().to_str().unwrap())
            .replace("{H_CLUSTER_NAME}", H_CLUSTER_NAME)
            .replace("{M}", MARKER);
        if let Fixture::Node { c, .. } = self {
            v = v.replace("{TARGET}", &c.target_port().to_string());
        }
        v
    }

    /// The environment Pacemaker would give the agent, before the row.
    fn base_env(&self) -> BTreeMap<String, String> {
        match self {
            Fixture::Solo { pg, pgdata } => {
                let mut env = BTreeMap::new();
                for (k, v) in [
                    ("OCF_ROOT", "/usr/lib/ocf"),
                    ("OCF_RESOURCE_INSTANCE", "pgtest"),
                    ("OCF_RESKEY_CRM_meta_timeout", "20000"),
                    ("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
                ] {
                    env.insert(k.to_string(), v.to_string());
                }
                for (k, v) in pg.params() {
                    env.insert(format!("OCF_RESKEY_{k}"), v);
                }
                // config follows pgdata: <pgdata>/postgresql.conf.
                env.insert("OCF_RESKEY_pgdata".into(), pgdata.display().to_string());
                env
            }
            Fixture::Node { c, node } => {
                let mut env = c.env(node);
                env.insert("OCF_RESKEY_CRM_meta_timeout".into(), "20000".into());
                env
            }
        }
    }

    fn postmaster_pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.real_pgdata().join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// psql as postgres on the fixture's server.
    fn sql(&self, sql: &str) -> String {
        match self {
            Fixture::Solo { pg, .. } => pg.sql_as_postgres(sql).trim_end().to_string(),
            Fixture::Node { c, node } => c.sql(node, sql),
        }
    }
}

/// The files an action that fails (or only reads) must leave alone.
fn snapshot(f: &Fixture, extra: Option<&Path>) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut files: Vec<PathBuf> = ["postgresql.conf", "postgresql.auto.conf", "standby.signal"]
        .iter()
        .map(|n| f.real_pgdata().join(n))
        .collect();
    if let Some(dir) = f.tmpdir() {
        files.push(dir.to_path_buf());
        if let Ok(entries) = std::fs::read_dir(dir) {
            files.extend(entries.map(|e| e.unwrap().path()));
        }
    }
    files.extend(extra.map(Path::to_path_buf));
    files
        .into_iter()
        .map(|p| {
            let content = if p.is_dir() {
                Some(b"<dir>".to_vec())
            } else {
                std::fs::read(&p).ok()
            };
            (p, content)
        })
        .collect()
}

/// Write (or delete, for "") a node attribute in the cluster's CIB file.
fn set_attr(c: &Cluster, node: &str, name: &str, value: &str) {
    let lifetime = if name.ends_with("-data-status") {
        "forever"
    } else {
        "reboot"
    };
    let mut args = vec![
        format!("--lifetime={lifetime}"),
        format!("--node={node}"),
        format!("--name={name}"),
    ];
    args.push(if value.is_empty() {
        "--delete".into()
    } else {
        format!("--update={value}")
    });
    let out = Command::new("/usr/sbin/crm_attribute")
        .args(&args)
        .env("CIB_file", &c.cib)
        .output()
        .unwrap();
    assert!(out.status.success(), "crm_attribute {args:?}: {out:?}");
}

/// Undo what a setup did, even when the row's assertions fail.
struct Undo(Vec<Box<dyn FnOnce()>>);

impl Drop for Undo {
    fn drop(&mut self) {
        for f in self.0.drain(..).rev() {
            f();
        }
    }
}

fn signal(pid: i32, sig: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
}

/// `sh` quoting for the paths the namespace scripts use (our own paths).
fn sh(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

/// Run the agent with exactly `env`, optionally inside `/bin/sh -c script`
/// in a private mount namespace (the script ends by running "$@").
fn run_agent(env: &BTreeMap<String, String>, action: &str, ns_script: Option<&str>) -> AgentOutput {
    let dir = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (dir.path().join("out"), dir.path().join("err"));
    let mut cmd = match ns_script {
        None => Command::new(AGENT),
        Some(script) => {
            let mut c = Command::new("/usr/bin/unshare");
            c.args(["-m", "--propagation", "private", "/bin/sh", "-c", script])
                .args(["sh", AGENT]);
            c
        }
    };
    // Files, not pipes: a postmaster started by the agent keeps no pipe open.
    let status = cmd
        .arg(action)
        .env_clear()
        .envs(env)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .status()
        .unwrap();
    AgentOutput {
        rc: status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(err_path).unwrap_or_default(),
    }
}

fn run_row(f: &Fixture, row: &Row) -> String {
    let mut env = f.base_env();
    for (k, v) in row.params {
        env.insert(format!("OCF_RESKEY_{k}"), f.subst(v));
    }
    for (k, v) in row.env {
        env.insert(k.to_string(), f.subst(v));
    }
    let mut undo = Undo(vec![]);
    let mut extra = None;
    let mut script = None;
    let mut full_listing = None;
    match row.setup {
        Setup::Nothing => {}
        Setup::TmpdirIsFile => {
            let file = f.root().join("tmpdir-is-a-file");
            std::fs::write(&file, "precious\n").unwrap();
            env.insert("OCF_RESKEY_tmpdir".into(), file.display().to_string());
            extra = Some(file);
        }
        Setup::TmpdirImmutable => {
            let dir = f.tmpdir().unwrap().to_path_buf();
            chattr(&dir, "+i");
            undo.0.push(Box::new(move || chattr(&dir, "-i")));
        }
        Setup::TmpdirReadOnly => {
            let t = sh(f.tmpdir().unwrap());
            script = Some(format!(
                "set -e; mount --bind {t} {t}; mount -o remount,bind,ro {t}; exec \"$@\""
            ));
        }
        Setup::TmpdirFull => {
            let t = sh(f.tmpdir().unwrap());
            let listing = f.root().join("full-tmpdir-listing");
            let l = sh(&listing);
            script = Some(format!(
                "set -e; mount -t tmpfs -o size=64k,mode=0700 rustpg-full {t}; \
                 chown postgres:postgres {t}; \
                 dd if=/dev/zero of={t}/fill bs=4k 2>/dev/null || true; \
                 set +e; \"$@\"; rc=$?; ls -A {t} > {l}; exit $rc"
            ));
            full_listing = Some(listing);
        }
        Setup::Attrs(attrs) => {
            for (node, name, value) in attrs {
                set_attr(f.cluster(), node, name, &f.subst(value));
            }
        }
        Setup::Frozen => {
            let pid = f.postmaster_pid().expect("a running postmaster to freeze");
            signal(pid, nix::sys::signal::Signal::SIGSTOP);
            undo.0.push(Box::new(move || {
                signal(pid, nix::sys::signal::Signal::SIGCONT)
            }));
        }
    }
    let before = snapshot(f, extra.as_deref());
    let started = Instant::now();
    let out = run_agent(&env, row.action, script.as_deref());
    let took = started.elapsed();
    drop(undo);
    let ctx = format!(
        "row {:?} ({} on {:?}): rc={} stderr:\n{}",
        row.what,
        row.action,
        row.on,
        out.rc,
        out.stderr.chars().take(3000).collect::<String>()
    );
    assert_eq!(out.rc, row.rc, "{ctx}");
    match (row.reason, out.exit_reason()) {
        (None, None) => {}
        (Some(want), Some(got)) => assert!(got.contains(want), "reason lacks {want:?}: {ctx}"),
        (want, got) => panic!("exit reason {got:?}, wanted {want:?}: {ctx}"),
    }
    if let Some(want) = row.log {
        assert!(out.stderr.contains(want), "log lacks {want:?}: {ctx}");
    }
    if row.files == Files::Unchanged {
        let after = snapshot(f, extra.as_deref());
        assert_eq!(before, after, "files changed: {ctx}");
    }
    if let Some(listing) = full_listing {
        let left = std::fs::read_to_string(listing).unwrap();
        assert_eq!(left, "fill\n", "the full tmpdir kept a leftover: {ctx}");
    }
    assert!(
        !Path::new(MARKER).exists(),
        "a value reached a shell: {ctx}"
    );
    if let Some(check) = row.check {
        check(f);
    }
    let reason = out.exit_reason().unwrap_or("").trim();
    let reason: String = reason.chars().take(110).collect();
    format!(
        "{:<72} {:<9} rc={} {:>5.1}s {reason}",
        row.what,
        row.action,
        out.rc,
        took.as_secs_f64()
    )
}

fn chattr(path: &Path, flag: &str) {
    let ok = Command::new("chattr")
        .arg(flag)
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "chattr {flag} {}", path.display());
}

fn run_rows(f: &Fixture, wanted: impl Fn(On) -> bool) {
    let _ = std::fs::remove_file(MARKER);
    for row in ROWS.iter().filter(|r| wanted(r.on)) {
        if let (On::Node(n), Fixture::Node { node, .. }) = (row.on, f) {
            if n != *node {
                continue;
            }
        }
        println!("{}", run_row(f, row));
    }
}

// ----- The two tests ---------------------------------------------------------

#[test]
fn hostile_input_standalone() {
    let pg = Postgres::init(Major::V15);
    let pgdata = pg.root.path().join("da ta;'x");
    std::os::unix::fs::symlink(&pg.pgdata, &pgdata).unwrap();
    let f = Fixture::Solo { pg, pgdata };
    run_rows(&f, |on| on == On::Solo);
}

#[test]
fn hostile_input_replication() {
    let c = Cluster::new(Major::V15, &["pg01", "pg02"]);
    // The written conninfo is checked against a live server: pg01's.
    c.set_primary_target("pg01");
    // The cluster rows run node by node, in table order.
    let mut f = Fixture::Node { c, node: "pg02" };
    run_rows(&f, |on| on == On::Node("pg02"));
    if let Fixture::Node { node, .. } = &mut f {
        *node = "pg01";
    }
    run_rows(&f, |on| on == On::Node("pg01"));
}

// ----- Row checks -------------------------------------------------------------

fn check_solo_started(f: &Fixture) {
    assert!(f.postmaster_pid().is_some(), "started");
    assert_eq!(f.sql("show rustpg.hostile"), f.subst(H_CLUSTER_NAME));
    assert_eq!(
        f.sql("show cluster_name"),
        f.subst("it's\"$(touch${IFS}{M})")
    );
    let Fixture::Solo { pgdata, .. } = f else {
        unreachable!()
    };
    assert_eq!(
        f.sql("show config_file"),
        pgdata.join("postgresql.conf").display().to_string()
    );
}

/// Undo one layer of postgresql.conf string quoting (`'...'`, `''`, `\\`).
fn guc_unquote(v: &str) -> String {
    let inner = v
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .unwrap_or_else(|| panic!("not a quoted GUC string: {v}"));
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next().unwrap() {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                c => out.push(c),
            },
            '\'' => {
                assert_eq!(chars.next(), Some('\''), "lone quote in {v}");
                out.push('\'');
            }
            c => out.push(c),
        }
    }
    out
}

/// A libpq conninfo value, quoted as the agent must quote it.
fn conninfo_value(v: &str) -> String {
    format!("'{}'", v.replace('\\', r"\\").replace('\'', r"\'"))
}

fn check_quoted_standby_settings(f: &Fixture) {
    let c = f.cluster();
    let n = c.node("pg01");
    assert!(c.is_running("pg01"));
    let repuser = f.subst(H_REPUSER);
    let conninfo = format!(
        "host={} port={} user={} application_name='pg01' {}",
        conninfo_value(&f.subst(H_MASTER_IP)),
        conninfo_value(&n.port.to_string()),
        conninfo_value(&repuser),
        f.subst(H_CONNINFO_OPT)
    );
    // What PostgreSQL parsed from postgresql.auto.conf is the exact value.
    assert_eq!(f.sql("show primary_conninfo"), conninfo);
    assert_eq!(f.sql("show restore_command"), f.subst(H_RESTORE));
    assert_eq!(f.sql("show archive_cleanup_command"), f.subst(H_CLEANUP));
    // The stock recovery.conf in tmpdir parses back to the same values.
    let rc = std::fs::read_to_string(n.tmpdir.join("recovery.conf")).unwrap();
    let settings: BTreeMap<&str, String> = rc
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(" = ").unwrap();
            (k, guc_unquote(v))
        })
        .collect();
    assert_eq!(settings["primary_conninfo"], conninfo);
    assert_eq!(settings["restore_command"], f.subst(H_RESTORE));
    assert_eq!(settings["archive_cleanup_command"], f.subst(H_CLEANUP));
    // libpq reads the user name back exactly: the server names it.
    let (uid, gid) = crate::support::postgres_user();
    let out = Command::new(c.major.bindir().join("psql"))
        .arg(format!("{conninfo} dbname=postgres connect_timeout=5"))
        .args(["-XAtqc", "select 1"])
        .uid(uid.as_raw())
        .gid(gid.as_raw())
        .current_dir("/")
        .env_clear()
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("role \"{repuser}\" does not exist")),
        "psql with the written conninfo: {err}"
    );
}

fn check_pg01_did_not_claim(f: &Fixture) {
    let score = f.cluster().attribute("pg01", &format!("master-{RESOURCE}"));
    assert_ne!(score.as_deref(), Some("1000"), "pg01 claimed the promotion");
}

fn check_pg01_claimed(f: &Fixture) {
    let score = f.cluster().attribute("pg01", &format!("master-{RESOURCE}"));
    assert_eq!(score.as_deref(), Some("1000"), "pg01 won the election");
}

fn check_pg01_hs_alone(f: &Fixture) {
    let c = f.cluster();
    assert_eq!(
        c.attribute("pg01", "pgsql-status").as_deref(),
        Some("HS:alone")
    );
    // Another node's garbage score is not ours to fix while no primary exists.
    assert_eq!(
        c.attribute("pg02", "master-pgsql").as_deref(),
        Some("banana")
    );
}

fn check_primary_cleaned_peer(f: &Fixture) {
    let c = f.cluster();
    assert_eq!(c.attribute("pg01", "pgsql-status").as_deref(), Some("PRI"));
    assert_eq!(
        c.attribute("pg02", "pgsql-data-status").as_deref(),
        Some("DISCONNECT")
    );
    assert_eq!(
        c.attribute("pg02", "master-pgsql").as_deref(),
        Some("-INFINITY")
    );
    // Its own published timeline history: the promote just published it
    // and noted so in tmpdir, so a monitor within the minute trusts the
    // note (one process per steady monitor) and leaves the garbage for the
    // next republication; a standby that reads garbage gives no verdict.
    let history = c.attribute("pg01", "pgsql-history").unwrap_or_default();
    assert!(
        history.starts_with("2:1@0/") || history.starts_with("9:$(touch "),
        "{history}"
    );
}
