//! The resource parameters, parsed and type-checked through the parameter
//! table (`params.rs`) into one typed `Config`. Only consistency checks live
//! here; checks that look at the host are in `actions::validate`.

use crate::error::{AgentError, Result, EXIT_REASON_MAX};
use crate::ocf::env::{is_false, is_true, RawEnv, RESKEY_PREFIX};
use crate::params::{Kind, ParamSpec, PARAMS};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepMode {
    None,
    Async,
    Sync,
    /// Quorum commit, `ANY k (…)` (ours): commits wait for any
    /// `quorum_standbys` standbys.
    Quorum,
    Slave,
}

impl RepMode {
    fn parse(s: &str) -> RepMode {
        match s {
            "async" => RepMode::Async,
            "sync" => RepMode::Sync,
            "quorum" => RepMode::Quorum,
            "slave" => RepMode::Slave,
            _ => RepMode::None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            RepMode::None => "none",
            RepMode::Async => "async",
            RepMode::Sync => "sync",
            RepMode::Quorum => "quorum",
            RepMode::Slave => "slave",
        }
    }

    /// async, sync and quorum run a promotable clone.
    pub fn is_replication(self) -> bool {
        matches!(self, RepMode::Async | RepMode::Sync | RepMode::Quorum)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub pgctl: PathBuf,
    pub start_opt: Vec<String>,
    pub ctl_opt: Vec<String>,
    pub psql: PathBuf,
    pub pgdata: PathBuf,
    pub pgdba: String,
    pub pghost: Option<String>,
    pub pgport: u16,
    pub pglibs: String,
    pub monitor_user: Option<String>,
    pub monitor_password: Option<String>,
    pub monitor_sql: String,
    pub config: PathBuf,
    pub pgdb: String,
    pub logfile: PathBuf,
    pub socketdir: Option<PathBuf>,
    pub stop_escalate: u64,
    pub check_wal_receiver: bool,
    pub rep_mode: RepMode,
    /// `quorum_standbys`: k of quorum mode.
    pub quorum_standbys: usize,
    /// Lower-cased, as the stock agent compares them.
    pub node_list: Vec<String>,
    /// `external_standby_node_list`, lower-cased: standbys outside the
    /// cluster listed beside the sync standby while they stream.
    pub external_standbys: Vec<String>,
    pub restore_command: Option<String>,
    pub archive_cleanup_command: Option<String>,
    pub recovery_end_command: Option<String>,
    pub master_ip: Option<String>,
    pub repuser: String,
    pub primary_conninfo_opt: Option<String>,
    /// `replication_hosts` (ours): node (lower-cased) → the host a standby
    /// streams from while that node is promoted; empty: master_ip.
    pub replication_hosts: BTreeMap<String, String>,
    /// Why `replication_hosts` cannot be used (then it is empty): only
    /// validate-all fails on it. It is reloadable, and a value that every
    /// action refused would stop the resource on every node.
    pub replication_hosts_problem: Option<String>,
    pub restart_on_promote: bool,
    /// Ours: rejoin a former primary by pg_rewind (`core::replication::rejoin`).
    pub auto_rewind: bool,
    /// Ours: a new base backup when a rewind cannot finish
    /// (`core::replication::resync`).
    pub auto_resync: bool,
    pub replication_slot_name: Option<String>,
    /// `max_slot_wal_keep_size` (ours), in MB: the bound the primary sets
    /// on the WAL its slots keep.
    pub slot_wal_keep_mb: Option<u64>,
    /// Why it cannot be used (then it is `None`): the major.
    pub slot_wal_keep_problem: Option<String>,
    pub tmpdir: PathBuf,
    pub xlog_check_count: u32,
    pub crm_attr_timeout: u64,
    pub stop_escalate_in_slave: u64,
}

/// Parameter values after the table's defaults and type checks.
struct Values(BTreeMap<&'static str, String>);

impl Values {
    fn from_env(env: &RawEnv) -> Result<Values> {
        let mut values = BTreeMap::new();
        for spec in PARAMS {
            // An empty value means the default: Pacemaker never passes one on
            // purpose, and an empty pgdata or pgdba is never meant.
            let value = match Config::raw_param(env, spec.name) {
                None | Some("") => spec.default,
                Some(v) => v,
            };
            check_kind(spec, value)?;
            values.insert(spec.name, value.to_string());
        }
        Ok(Values(values))
    }

    fn str(&self, name: &str) -> String {
        self.0[name].clone()
    }
    fn opt(&self, name: &str) -> Option<String> {
        Some(self.str(name)).filter(|v| !v.trim().is_empty())
    }
    fn path(&self, name: &str) -> PathBuf {
        PathBuf::from(self.str(name))
    }
    fn int(&self, name: &str) -> i64 {
        // check_kind accepts blanks around the number.
        self.0[name].trim().parse().expect("checked by check_kind")
    }
    fn bool(&self, name: &str) -> bool {
        is_true(&self.0[name])
    }
    fn words(&self, name: &str) -> Vec<String> {
        self.0[name]
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    /// Node names, lower-cased as the stock agent compares them.
    fn node_names(&self, name: &str) -> Vec<String> {
        self.words(name).iter().map(|n| n.to_lowercase()).collect()
    }
}

/// `replication_hosts`' words, `node=host` each: node lower-cased, a host
/// name or address (letters, digits, `.`, `-`, `_`, `:` for IPv6), each
/// node once.
fn replication_hosts(words: &[String]) -> Result<BTreeMap<String, String>> {
    let mut hosts = BTreeMap::new();
    for word in words {
        let pair = word.split_once('=').filter(|(n, h)| {
            !n.is_empty()
                && !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'))
        });
        let Some((node, host)) = pair else {
            return Err(AgentError::configured(format!(
                "replication_hosts: {} is not node=host (a name or address), e.g. \
                 pg01=10.0.0.11",
                echo(word, ECHO_MAX)
            )));
        };
        if hosts
            .insert(node.to_lowercase(), host.to_string())
            .is_some()
        {
            return Err(AgentError::configured(format!(
                "replication_hosts names {node} twice; give each node one host"
            )));
        }
    }
    Ok(hosts)
}

/// Characters that mean something inside a double-quoted `/bin/sh` word.
const SHELL_SPECIAL_IN_DQUOTES: &[char] = &['"', '$', '`', '\\'];

/// How much of a bad value an exit reason echoes, in bytes with its
/// quotes ([`echo`]): what is left of the exit reason says what is
/// wrong with it.
const ECHO_MAX: usize = 32;

/// The exit reason of a failed validation leaves room for what a
/// monitor adds while PostgreSQL runs ([`crate::actions::STILL_RUNNING`]).
pub(crate) const VALIDATION_REASON_MAX: usize =
    EXIT_REASON_MAX - crate::actions::STILL_RUNNING.len();

/// `value` quoted as `{:?}` quotes it, in `max` bytes at most: when
/// longer, its start and then `...`. Exit reasons echo what was given, and
/// must fit in [`EXIT_REASON_MAX`].
pub fn echo(value: &str, max: usize) -> String {
    let whole = format!("{value:?}");
    if whole.len() <= max {
        return whole;
    }
    let mut shown = String::from("\"");
    for c in value.chars() {
        let quoted = format!("{:?}", c.to_string());
        let piece = &quoted[1..quoted.len() - 1];
        if shown.len() + piece.len() + "\"...".len() > max {
            break;
        }
        shown.push_str(piece);
    }
    shown + "\"..."
}

/// Whether `value` is one `spec` accepts (its kind alone: no other
/// parameter is consulted), with the exit reason when not.
pub fn check_kind(spec: &ParamSpec, value: &str) -> Result<()> {
    let name = spec.name;
    let shown = echo(value, ECHO_MAX);
    let bad = |what: String| Err(AgentError::configured(format!("{name}={shown} {what}")));
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return bad("contains a control character; fix the parameter".into());
    }
    match spec.kind {
        Kind::Str => Ok(()),
        Kind::Path if value.is_empty() => Ok(()),
        Kind::Path if !value.starts_with('/') => {
            bad("is not an absolute path; start it with /".into())
        }
        Kind::Program if value.is_empty() => bad("is empty; set it to a program".into()),
        Kind::Program if value.contains('/') && !value.starts_with('/') => {
            bad("is a relative path; give an absolute path or a program on PATH".into())
        }
        Kind::Path | Kind::Program => {
            match value.chars().find(|c| SHELL_SPECIAL_IN_DQUOTES.contains(c)) {
                Some(c) => bad(format!(
                    "contains {c:?}, which pg_ctl passes to /bin/sh; avoid \" $ ` \\"
                )),
                None => Ok(()),
            }
        }
        Kind::Int { min, max } => match value.trim().parse::<i64>() {
            Ok(v) if (min..=max).contains(&v) => Ok(()),
            _ => bad(format!("is not a whole number from {min} to {max}")),
        },
        Kind::Bool if is_true(value) || is_false(value) => Ok(()),
        Kind::Bool => bad("is not a boolean; set it to true or false".into()),
        Kind::Choice(words) if words.contains(&value) => Ok(()),
        Kind::Choice(words) => bad(format!("is not one of {}", words.join(", "))),
    }
}

impl Config {
    /// Parse every `OCF_RESKEY_*` parameter through the table, then check the
    /// parameters' consistency with each other (OCF_CHECK_LEVEL 0).
    pub fn from_env(env: &RawEnv) -> Result<Config> {
        let v = Values::from_env(env)?;
        let pgdata = v.path("pgdata");
        // The stock agent derives config from pgdata when it is not given.
        let config = match Config::raw_param(env, "config") {
            Some(c) if !c.is_empty() => PathBuf::from(c),
            _ => pgdata.join("postgresql.conf"),
        };
        let mut cfg = Config {
            pgctl: v.path("pgctl"),
            start_opt: v.words("start_opt"),
            ctl_opt: v.words("ctl_opt"),
            psql: v.path("psql"),
            pgdata,
            pgdba: v.str("pgdba"),
            pghost: v.opt("pghost"),
            pgport: u16::try_from(v.int("pgport")).expect("range-checked"),
            pglibs: v.str("pglibs"),
            monitor_user: v.opt("monitor_user"),
            monitor_password: v.opt("monitor_password"),
            monitor_sql: v.str("monitor_sql"),
            config,
            pgdb: v.str("pgdb"),
            logfile: v.path("logfile"),
            socketdir: v.opt("socketdir").map(PathBuf::from),
            stop_escalate: v.int("stop_escalate") as u64,
            check_wal_receiver: v.bool("check_wal_receiver"),
            rep_mode: RepMode::parse(&v.str("rep_mode")),
            quorum_standbys: v.int("quorum_standbys") as usize,
            node_list: v.node_names("node_list"),
            external_standbys: v.node_names("external_standby_node_list"),
            restore_command: v.opt("restore_command"),
            archive_cleanup_command: v.opt("archive_cleanup_command"),
            recovery_end_command: v.opt("recovery_end_command"),
            master_ip: v.opt("master_ip"),
            repuser: v.str("repuser"),
            primary_conninfo_opt: v.opt("primary_conninfo_opt"),
            replication_hosts: BTreeMap::new(),
            replication_hosts_problem: None,
            restart_on_promote: v.bool("restart_on_promote"),
            auto_rewind: v.bool("auto_rewind"),
            auto_resync: v.bool("auto_resync"),
            replication_slot_name: v.opt("replication_slot_name"),
            slot_wal_keep_mb: None,
            slot_wal_keep_problem: None,
            tmpdir: v.path("tmpdir"),
            xlog_check_count: v.int("xlog_check_count") as u32,
            crm_attr_timeout: v.int("crm_attr_timeout") as u64,
            stop_escalate_in_slave: v.int("stop_escalate_in_slave") as u64,
        };
        cfg.check_consistency()?;
        cfg.slot_wal_keep_mb = cfg.slot_wal_bound(v.opt("max_slot_wal_keep_size").as_deref())?;
        let hosts = replication_hosts(&v.words("replication_hosts"))
            .and_then(|hosts| cfg.check_replication_hosts(&hosts).map(|()| hosts));
        match hosts {
            Ok(hosts) => cfg.replication_hosts = hosts,
            Err(e) => cfg.replication_hosts_problem = Some(e.reason().to_string()),
        }
        Ok(cfg)
    }

    /// `max_slot_wal_keep_size` in MB (rounded up), with the slots it
    /// bounds.
    fn slot_wal_bound(&self, size: Option<&str>) -> Result<Option<u64>> {
        // PostgreSQL's own -1: no bound, as empty.
        let Some(size) = size.filter(|s| s.trim() != "-1") else {
            return Ok(None);
        };
        let bytes = crate::core::size::parse_bytes(size).map_err(|e| {
            // parse_bytes quotes the whole value (and its unit): a long one,
            // only its start.
            let reason = format!("max_slot_wal_keep_size: {e}");
            AgentError::configured(if reason.len() <= VALIDATION_REASON_MAX {
                reason
            } else {
                format!(
                    "max_slot_wal_keep_size={} is not a size (say 16GB or 512MB)",
                    echo(size, ECHO_MAX)
                )
            })
        })?;
        if bytes == 0 {
            return Err(AgentError::configured(
                "max_slot_wal_keep_size=0 would lose every slot at the next checkpoint; give a \
                 size (16GB) or leave it empty",
            )
            .with_detail(
                "max_slot_wal_keep_size=0 would lose every slot at the next checkpoint; give \
                 a size such as 16GB, or leave it empty for no bound",
            ));
        }
        if self.replication_slot_name.is_none() {
            return Err(AgentError::configured(
                "max_slot_wal_keep_size bounds the WAL slots keep, and there are none: set \
                 replication_slot_name or remove it",
            )
            .with_detail(
                "max_slot_wal_keep_size bounds the WAL replication slots keep, and there are \
                 none: set replication_slot_name, or remove max_slot_wal_keep_size",
            ));
        }
        Ok(Some(bytes.div_ceil(1 << 20)))
    }

    /// The parsed `replication_hosts` against the other parameters: every
    /// node of node_list has a host, and only nodes of node_list do; a
    /// replicating mode; no host of primary_conninfo_opt to override it.
    fn check_replication_hosts(&self, hosts: &BTreeMap<String, String>) -> Result<()> {
        if hosts.is_empty() {
            return Ok(());
        }
        if !matches!(
            self.rep_mode,
            RepMode::Async | RepMode::Sync | RepMode::Quorum
        ) {
            return Err(AgentError::configured(format!(
                "replication_hosts needs rep_mode async, sync or quorum (rep_mode={}); remove it",
                self.rep_mode.name()
            )));
        }
        if let Some(stranger) = hosts.keys().find(|n| !self.node_list.contains(n)) {
            return Err(AgentError::configured(format!(
                "replication_hosts names {stranger}, which is not in node_list; name the nodes of node_list"
            )));
        }
        if let Some(missing) = self.node_list.iter().find(|n| !hosts.contains_key(*n)) {
            return Err(AgentError::configured(format!(
                "replication_hosts gives no host for {missing}; give every node of node_list one"
            )));
        }
        let opt_host = self
            .primary_conninfo_opt
            .as_deref()
            .and_then(crate::core::quote::parse_conninfo)
            .is_some_and(|pairs| pairs.iter().any(|(k, _)| k == "host" || k == "hostaddr"));
        if opt_host {
            return Err(AgentError::configured(
                "primary_conninfo_opt sets a host, which would override replication_hosts; remove one of them",
            ));
        }
        Ok(())
    }

    fn check_consistency(&self) -> Result<()> {
        if self.monitor_password.is_some() && self.monitor_user.is_none() {
            return Err(AgentError::configured(
                "monitor_user has to be set if monitor_password is set",
            ));
        }
        if self.monitor_sql.trim().is_empty() {
            return Err(AgentError::configured(
                "monitor_sql is empty; give it a query such as select now();",
            ));
        }
        for (name, list) in [
            ("node_list", &self.node_list),
            ("external_standby_node_list", &self.external_standbys),
        ] {
            let mut seen = std::collections::BTreeSet::new();
            if let Some(dup) = list.iter().find(|n| !seen.insert(n.as_str())) {
                return Err(AgentError::configured(format!(
                    "{name} names {dup} twice; list every node once"
                )));
            }
        }
        if !self.external_standbys.is_empty() && self.rep_mode != RepMode::Sync {
            return Err(AgentError::configured(
                "external_standby_node_list requires rep_mode=sync.",
            ));
        }
        if let Some(odd) = self.external_standbys.iter().find(|n| {
            !n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        }) {
            return Err(AgentError::configured(format!(
                "external_standby_node_list: {}: use only letters, digits, '_', '-', '.'",
                echo(odd, ECHO_MAX)
            ))
            .with_detail(format!(
                "external_standby_node_list: {odd} is not a plain standby name; use letters, \
                 digits, '_', '-' and '.' (a '*' would match every standby)"
            )));
        }
        if let Some(both) = self
            .external_standbys
            .iter()
            .find(|n| self.node_list.contains(n))
        {
            return Err(AgentError::configured(format!(
                "{both} is in both node_list and external_standby_node_list: remove it from the \
                 latter"
            ))
            .with_detail(format!(
                "{both} is in both node_list and external_standby_node_list; a node of the \
                 cluster is never listed as a standby outside it"
            )));
        }
        if self.rep_mode.is_replication() && self.node_list.is_empty() {
            return Err(AgentError::configured(format!(
                "node_list can't be empty with rep_mode={}; list every node name as crm_node -n prints it",
                self.rep_mode.name()
            )));
        }
        if self.rep_mode != RepMode::None && self.master_ip.is_none() {
            return Err(AgentError::configured(format!(
                "master_ip can't be empty with rep_mode={}; set it to the address standbys connect to",
                self.rep_mode.name()
            )));
        }
        if self.rep_mode.is_replication() && self.restart_on_promote {
            let mode = self.rep_mode.name();
            return Err(AgentError::configured(format!(
                "restart_on_promote=true is not for rep_mode={mode} (stale-primary checks need a \
                 new timeline); set it to false"
            ))
            .with_detail(format!(
                "restart_on_promote=true can't be used with rep_mode={mode}: a restart keeps the \
                 timeline, which the checks against a stale primary rely on; set it to false"
            )));
        }
        if self.rep_mode == RepMode::Quorum {
            self.check_quorum()?;
        }
        if self.auto_resync && !self.auto_rewind {
            return Err(AgentError::configured(
                "auto_resync=true needs auto_rewind=true (it resyncs a failed rewind); turn \
                 auto_rewind on or auto_resync off",
            )
            .with_detail(
                "auto_resync=true needs auto_rewind=true: it resynchronises only a node whose \
                 rewind could not finish; set auto_rewind=true or auto_resync=false",
            ));
        }
        if let Some(slot) = &self.replication_slot_name {
            if !slot
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(AgentError::configured(format!(
                    "Invalid replication_slot_name({}): use only lower case letters, digits and \
                     '_'",
                    echo(slot, ECHO_MAX)
                )));
            }
        }
        Ok(())
    }

    /// k must leave a standby to lose (at most the nodes minus one), and
    /// with k ≥ 2 each standby must count once: PostgreSQL counts
    /// connections, and a slot allows one per standby.
    fn check_quorum(&self) -> Result<()> {
        let k = self.quorum_standbys;
        let standbys = self.node_list.len().saturating_sub(1);
        if k > standbys {
            return Err(AgentError::configured(format!(
                "quorum_standbys={k} needs at least {} nodes in node_list ({} listed); lower \
                 quorum_standbys or list every node",
                k + 1,
                self.node_list.len()
            )));
        }
        if k >= 2 && self.replication_slot_name.is_none() {
            return Err(AgentError::configured(format!(
                "quorum_standbys={k} needs replication_slot_name: without a slot, PostgreSQL \
                 could count one standby twice"
            ))
            .with_detail(format!(
                "quorum_standbys={k} needs replication_slot_name: PostgreSQL counts \
                 connections, and without a slot one standby could count twice"
            )));
        }
        Ok(())
    }

    /// One parameter as Pacemaker passed it: what the parameter table
    /// reads, and what the actions that must go on when the whole
    /// configuration did not validate read (a monitor that still looks for
    /// a postmaster, a stop that marks the node).
    pub fn raw_param<'e>(env: &'e RawEnv, name: &str) -> Option<&'e str> {
        env.get(&format!("{RESKEY_PREFIX}{name}"))
            .map(String::as_str)
    }

    /// The database user the agent connects as.
    pub fn sql_user(&self) -> &str {
        self.monitor_user.as_deref().unwrap_or(&self.pgdba)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocf::rc::OcfRc;

    fn env(pairs: &[(&str, &str)]) -> RawEnv {
        pairs
            .iter()
            .map(|(k, v)| (format!("{RESKEY_PREFIX}{k}"), v.to_string()))
            .collect()
    }

    fn err(pairs: &[(&str, &str)]) -> AgentError {
        Config::from_env(&env(pairs)).unwrap_err()
    }

    #[test]
    fn defaults_are_the_stock_defaults() {
        let c = Config::from_env(&RawEnv::new()).unwrap();
        assert_eq!(c.pgctl, PathBuf::from("/usr/bin/pg_ctl"));
        assert_eq!(c.pgdata, PathBuf::from("/var/lib/pgsql/data"));
        assert_eq!(
            c.config,
            PathBuf::from("/var/lib/pgsql/data/postgresql.conf")
        );
        assert_eq!(c.pgdba, "postgres");
        assert_eq!(c.pgport, 5432);
        assert_eq!(c.monitor_sql, "select now();");
        assert_eq!(c.pgdb, "template1");
        assert_eq!(c.logfile, PathBuf::from("/dev/null"));
        assert_eq!(c.stop_escalate, 90);
        assert_eq!(c.rep_mode, RepMode::None);
        assert_eq!(c.tmpdir, PathBuf::from("/var/lib/pgsql/tmp"));
        assert_eq!(c.xlog_check_count, 3);
        assert_eq!(c.repuser, "postgres");
        assert!(!c.restart_on_promote && !c.check_wal_receiver);
        assert_eq!(c.sql_user(), "postgres");
        assert_eq!((c.pghost, c.socketdir, c.master_ip), (None, None, None));
    }

    #[test]
    fn config_follows_pgdata_unless_given() {
        let c = Config::from_env(&env(&[("pgdata", "/srv/pg")])).unwrap();
        assert_eq!(c.config, PathBuf::from("/srv/pg/postgresql.conf"));
        let c =
            Config::from_env(&env(&[("pgdata", "/srv/pg"), ("config", "/etc/pg.conf")])).unwrap();
        assert_eq!(c.config, PathBuf::from("/etc/pg.conf"));
    }

    #[test]
    fn unknown_parameters_are_ignored() {
        let mut e = env(&[("no_such_thing", "1")]);
        e.insert("OCF_RESKEY_CRM_meta_interval".into(), "10000".into());
        assert!(Config::from_env(&e).is_ok());
    }

    #[test]
    fn typed_values_are_parsed() {
        let c = Config::from_env(&env(&[
            ("pgport", "5433"),
            ("stop_escalate", "5"),
            ("node_list", " PG01  pg02\tpg03 "),
            ("rep_mode", "sync"),
            ("master_ip", "10.0.0.1"),
            ("start_opt", "-c work_mem=8MB  -c shared_buffers=64MB"),
            ("monitor_user", "mon"),
        ]))
        .unwrap();
        assert_eq!(c.pgport, 5433);
        assert_eq!(c.stop_escalate, 5);
        assert_eq!(c.node_list, ["pg01", "pg02", "pg03"]);
        assert_eq!(c.rep_mode, RepMode::Sync);
        assert_eq!(
            c.start_opt,
            ["-c", "work_mem=8MB", "-c", "shared_buffers=64MB"]
        );
        assert_eq!(c.sql_user(), "mon");
    }

    const SYNC_ABC: [(&str, &str); 3] = [
        ("rep_mode", "sync"),
        ("node_list", "a b c"),
        ("master_ip", "10.0.0.1"),
    ];

    #[test]
    fn replication_hosts_name_every_node() {
        let mut e = SYNC_ABC.to_vec();
        e.push((
            "replication_hosts",
            " A=10.0.0.11 b=db-b.example.org c=fd00::13 ",
        ));
        let c = Config::from_env(&env(&e)).unwrap();
        assert_eq!(
            c.replication_hosts,
            [
                ("a", "10.0.0.11"),
                ("b", "db-b.example.org"),
                ("c", "fd00::13")
            ]
            .map(|(n, h)| (n.to_string(), h.to_string()))
            .into()
        );
        // Refused by validate-all only (the reason is kept); every other
        // action uses master_ip.
        let refused = |hosts: &str, extra: &[(&'static str, &'static str)]| {
            let mut e = SYNC_ABC.to_vec();
            e.extend_from_slice(extra);
            e.push(("replication_hosts", hosts));
            let c = Config::from_env(&env(&e)).unwrap();
            assert!(c.replication_hosts.is_empty(), "{hosts}");
            c.replication_hosts_problem.unwrap()
        };
        assert!(refused("a=1 b=2", &[]).contains("no host for c"));
        assert!(refused("a=1 b=2 c=3 d=4", &[]).contains("d, which is not in node_list"));
        assert!(refused("a=1 b=2 c=3 A=5", &[]).contains("names A twice"));
        assert!(refused("a=1 b=2 c", &[]).contains("\"c\" is not node=host"));
        assert!(refused("a=1 b=2 c=x'y", &[]).contains("is not node=host"));
        assert!(refused("a=1 b=2 c=3", &[("rep_mode", "none")]).contains("rep_mode"));
        assert!(
            refused("a=1 b=2 c=3", &[("primary_conninfo_opt", "host=x")])
                .contains("primary_conninfo_opt sets a host")
        );
    }

    /// Each bad value gets OCF_ERR_CONFIGURED and a reason naming the parameter.
    #[test]
    fn bad_values_name_the_parameter() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("pgport", "abc")], "pgport"),
            (&[("pgport", "0")], "pgport"),
            (&[("pgport", "70000")], "pgport"),
            (&[("stop_escalate", "-1")], "stop_escalate"),
            (&[("xlog_check_count", "3.5")], "xlog_check_count"),
            (&[("rep_mode", "semi")], "rep_mode"),
            (
                &[
                    ("rep_mode", "quorum"),
                    ("node_list", "a b c"),
                    ("master_ip", "10.0.0.1"),
                    ("quorum_standbys", "3"),
                ],
                "quorum_standbys=3 needs at least 4 nodes",
            ),
            (
                &[
                    ("rep_mode", "quorum"),
                    ("node_list", "a b c d e"),
                    ("master_ip", "10.0.0.1"),
                    ("quorum_standbys", "2"),
                ],
                "needs replication_slot_name",
            ),
            (
                &[
                    ("rep_mode", "quorum"),
                    ("node_list", "a b c"),
                    ("master_ip", "10.0.0.1"),
                    ("external_standby_node_list", "dr1"),
                ],
                "external_standby_node_list requires rep_mode=sync",
            ),
            (&[("restart_on_promote", "maybe")], "restart_on_promote"),
            (
                &[
                    ("restart_on_promote", "yes"),
                    ("rep_mode", "async"),
                    ("node_list", "a b"),
                    ("master_ip", "10.0.0.1"),
                ],
                "restart_on_promote",
            ),
            (&[("auto_resync", "true")], "auto_resync"),
            (&[("pgdata", "relative/dir")], "pgdata"),
            (&[("pgdata", "/srv/$(touch x)")], "pgdata"),
            (&[("logfile", "/tmp/a\"b")], "logfile"),
            (&[("config", "/etc/`id`.conf")], "config"),
            (&[("tmpdir", "/tmp/x\\y")], "tmpdir"),
            (&[("repuser", "a\nb")], "repuser"),
            (&[("monitor_password", "pw")], "monitor_user"),
            (&[("monitor_sql", "   ")], "monitor_sql"),
            (
                &[("rep_mode", "sync"), ("master_ip", "1.2.3.4")],
                "node_list",
            ),
            (&[("rep_mode", "async"), ("node_list", "a b")], "master_ip"),
            (&[("node_list", "a b A")], "node_list"),
            (
                &[
                    ("rep_mode", "async"),
                    ("node_list", "a b"),
                    ("master_ip", "10.0.0.1"),
                    ("external_standby_node_list", "dr1"),
                ],
                "external_standby_node_list",
            ),
            (
                &[
                    ("rep_mode", "sync"),
                    ("node_list", "a b"),
                    ("master_ip", "10.0.0.1"),
                    ("external_standby_node_list", "dr1 B"),
                ],
                "external_standby_node_list",
            ),
            (
                &[
                    ("rep_mode", "sync"),
                    ("node_list", "a b"),
                    ("master_ip", "10.0.0.1"),
                    ("external_standby_node_list", "dr1 DR1"),
                ],
                "external_standby_node_list",
            ),
            (
                &[
                    ("rep_mode", "sync"),
                    ("node_list", "a b"),
                    ("master_ip", "10.0.0.1"),
                    ("external_standby_node_list", "dr1 *"),
                ],
                "external_standby_node_list",
            ),
            (
                &[
                    ("rep_mode", "sync"),
                    ("node_list", "a b"),
                    ("master_ip", "10.0.0.1"),
                    ("external_standby_node_list", "dr,1"),
                ],
                "external_standby_node_list",
            ),
            (
                &[("replication_slot_name", "Bad-Name")],
                "replication_slot_name",
            ),
            (
                &[("max_slot_wal_keep_size", "16GB")],
                "max_slot_wal_keep_size bounds the WAL slots keep, and there are none",
            ),
            (
                &[
                    ("replication_slot_name", "rs"),
                    ("max_slot_wal_keep_size", "lots"),
                ],
                "max_slot_wal_keep_size: \"lots\" is not a size",
            ),
            (
                &[
                    ("replication_slot_name", "rs"),
                    ("max_slot_wal_keep_size", "0"),
                ],
                "max_slot_wal_keep_size=0",
            ),
        ];
        for (pairs, param) in cases {
            let e = err(pairs);
            assert_eq!(e.rc(), OcfRc::ErrConfigured, "{pairs:?}");
            assert!(e.reason().contains(param), "{pairs:?}: {}", e.reason());
            assert!(!e.reason().contains('\n'));
        }
    }

    /// Every exit reason of a bad parameter fits, with room for what a
    /// monitor adds ([`VALIDATION_REASON_MAX`]), whatever the value (long,
    /// escaped, multi-byte) and with 16-character node names.
    #[test]
    fn validation_reasons_fit_with_worst_case_values() {
        let long = |unit: &str| unit.repeat(200);
        let mut reasons = Vec::new();
        for spec in PARAMS {
            for value in [
                long("x"),
                long("é"),
                long("\u{1}"),
                long("\""),
                format!("a/{}", long("x")),
                format!("/{}$", long("x")),
                format!("/{}\"", long("\\")),
                String::new(),
            ] {
                if let Err(e) = check_kind(spec, &value) {
                    reasons.push(e.reason().to_string());
                }
            }
        }
        let node = "node-name-16char";
        let other = "node-name-16chas";
        let nodes = format!("{node} {other} node-name-16chat");
        let many: Vec<String> = (0..1000).map(|n| format!("node-name-{n:06}")).collect();
        let many = many.join(" ");
        let quorum = |extra: &[(&'static str, String)]| {
            let mut e = vec![
                ("rep_mode", "quorum".to_string()),
                ("node_list", nodes.clone()),
                ("master_ip", "10.0.0.100".into()),
            ];
            e.extend(extra.iter().cloned());
            e
        };
        let slot = ("replication_slot_name", "rs".to_string());
        let cases: Vec<Vec<(&str, String)>> = vec![
            vec![("node_list", format!("{node} {}", node.to_uppercase()))],
            vec![("external_standby_node_list", format!("{node} {node}"))],
            vec![("external_standby_node_list", node.into())],
            quorum(&[("external_standby_node_list", node.into())]),
            vec![
                ("rep_mode", "sync".into()),
                ("node_list", nodes.clone()),
                ("master_ip", "10.0.0.100".into()),
                ("external_standby_node_list", format!("{}*", long("x"))),
            ],
            vec![
                ("rep_mode", "sync".into()),
                ("node_list", nodes.clone()),
                ("master_ip", "10.0.0.100".into()),
                ("external_standby_node_list", node.into()),
            ],
            vec![("rep_mode", "quorum".into())],
            vec![("rep_mode", "quorum".into()), ("node_list", nodes.clone())],
            quorum(&[("restart_on_promote", "true".into())]),
            vec![("auto_resync", "true".into())],
            vec![("replication_slot_name", long("X"))],
            vec![("replication_slot_name", long("é"))],
            quorum(&[("quorum_standbys", "1000".into())]),
            vec![
                ("rep_mode", "quorum".into()),
                ("node_list", many),
                ("master_ip", "10.0.0.100".into()),
                ("quorum_standbys", "999".into()),
            ],
            vec![("monitor_password", "pw".into())],
            vec![("monitor_sql", " ".into())],
            vec![slot.clone(), ("max_slot_wal_keep_size", long("x"))],
            vec![
                slot.clone(),
                ("max_slot_wal_keep_size", format!("16{}", long("Q"))),
            ],
            vec![slot.clone(), ("max_slot_wal_keep_size", "16 QB".into())],
            vec![
                slot.clone(),
                ("max_slot_wal_keep_size", "99999999999TB".into()),
            ],
            vec![slot.clone(), ("max_slot_wal_keep_size", "0".into())],
            vec![("max_slot_wal_keep_size", "16GB".into())],
        ];
        for pairs in &cases {
            let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            reasons.push(err(&pairs).reason().to_string());
        }
        // replication_hosts: refused by validate-all only, with this reason.
        for (hosts, mode) in [
            (long("x"), "quorum"),
            (format!("{node}=a {node}=b"), "quorum"),
            (
                format!("{node}=a {other}=b node-name-16chat=c node-name-16chau=d"),
                "quorum",
            ),
            (format!("{node}=a"), "quorum"),
            (format!("{node}=a {other}=b node-name-16chat=c"), "slave"),
        ] {
            let pairs = [
                ("rep_mode", mode),
                ("node_list", nodes.as_str()),
                ("master_ip", "10.0.0.100"),
                ("replication_hosts", hosts.as_str()),
            ];
            let c = Config::from_env(&env(&pairs)).unwrap();
            reasons.push(c.replication_hosts_problem.expect("refused"));
        }
        assert!(reasons.len() > 100, "{}", reasons.len());
        let long: Vec<String> = reasons
            .iter()
            .filter(|r| r.len() > VALIDATION_REASON_MAX)
            .map(|r| format!("{} bytes: {r}", r.len()))
            .collect();
        assert!(long.is_empty(), "{long:#?}");
    }

    #[test]
    fn echo_quotes_the_start_of_a_long_value() {
        assert_eq!(echo("pg01", 40), "\"pg01\"");
        assert_eq!(echo("a\"b", 40), "\"a\\\"b\"");
        let cut = echo(&"é".repeat(100), 20);
        assert_eq!(cut, format!("\"{}\"...", "é".repeat(7)));
        let cut = echo(&"\u{1}".repeat(100), 20);
        assert_eq!(cut, "\"\\u{1}\\u{1}\\u{1}\"...");
    }

    #[test]
    fn the_slot_bound_in_megabytes() {
        let bound = |v: &str| {
            Config::from_env(&env(&[
                ("replication_slot_name", "rs"),
                ("max_slot_wal_keep_size", v),
            ]))
            .unwrap()
            .slot_wal_keep_mb
        };
        assert_eq!(bound("16GB"), Some(16 * 1024));
        assert_eq!(bound("1500kB"), Some(2), "rounded up");
        assert_eq!(bound(""), None);
        assert_eq!(bound("-1"), None, "PostgreSQL's no bound");
    }

    /// Found by fuzz_config_from_env: `pgport="1 "` passed the check but
    /// panicked when read.
    #[test]
    fn blanks_around_numbers_are_accepted() {
        let c = Config::from_env(&env(&[
            ("pgport", "1 "),
            ("stop_escalate", "\t5"),
            ("xlog_check_count", " 2 "),
        ]))
        .unwrap();
        assert_eq!((c.pgport, c.stop_escalate, c.xlog_check_count), (1, 5, 2));
    }

    #[test]
    fn empty_values_mean_the_default() {
        let c = Config::from_env(&env(&[("pgdata", ""), ("pgport", ""), ("pgdba", "")])).unwrap();
        assert_eq!(c.pgdata, PathBuf::from("/var/lib/pgsql/data"));
        assert_eq!(c.pgport, 5432);
        assert_eq!(c.pgdba, "postgres");
    }

    #[test]
    fn hostile_strings_are_accepted_where_they_are_only_data() {
        // These reach SQL or conninfo only through quoting, never a shell.
        let c = Config::from_env(&env(&[
            ("repuser", "o'brien; drop table x"),
            ("monitor_sql", "select 1; -- $(reboot)"),
            (
                "primary_conninfo_opt",
                "sslmode=require application_name='x y'",
            ),
        ]))
        .unwrap();
        assert_eq!(c.repuser, "o'brien; drop table x");
    }

    mod fuzz {
        use super::super::*;
        use crate::ocf::env::OcfEnv;
        use crate::ocf::rc::OcfRc;
        use proptest::prelude::*;

        /// Values that are often valid, often hostile, sometimes random.
        fn value() -> impl Strategy<Value = String> {
            prop_oneof![
                Just(String::new()),
                Just("sync".to_string()),
                Just("async".to_string()),
                Just("true".to_string()),
                Just("5432".to_string()),
                Just("127.0.0.1".to_string()),
                "[0-9]{1,6}",
                "/[a-z ;'\"$`\\\\]{0,10}",
                "( ?[A-Za-z0-9İ]{1,4}){0,4} ?",
                ".{0,16}",
                "[ -~\t\n]{0,16}",
            ]
        }

        fn env() -> impl Strategy<Value = RawEnv> {
            let key = prop_oneof![
                prop::sample::select(PARAMS.iter().map(|p| p.name).collect::<Vec<_>>())
                    .prop_map(|n| format!("{RESKEY_PREFIX}{n}")),
                prop::sample::select(vec![
                    "OCF_RESOURCE_INSTANCE",
                    "OCF_CHECK_LEVEL",
                    "OCF_RESKEY_CRM_meta_interval",
                    "OCF_RESKEY_CRM_meta_timeout",
                    "OCF_RESKEY_CRM_meta_promotable",
                    "OCF_RESKEY_CRM_meta_master_max",
                    "OCF_RESKEY_CRM_meta_on_node",
                ])
                .prop_map(str::to_string),
                ".{0,12}",
            ];
            prop::collection::btree_map(key, value(), 0..12)
        }

        fn clean_path(p: &std::path::Path) -> bool {
            p.to_str().unwrap().starts_with('/') && clean_program(p)
        }

        /// An absolute path or a bare program name.
        fn clean_program(p: &std::path::Path) -> bool {
            let s = p.to_str().unwrap();
            !s.is_empty()
                && (s.starts_with('/') || !s.contains('/'))
                && !s.contains(['"', '$', '`', '\\'])
                && !s.chars().any(|c| c.is_control() && c != '\t')
        }

        proptest! {
            /// Config::from_env never panics, and every accepted config holds
            /// the documented invariants.
            #[test]
            fn fuzz_config_from_env(env in env()) {
                let _ = OcfEnv::from_raw(&env);
                let c = match Config::from_env(&env) {
                    Ok(c) => c,
                    Err(e) => {
                        prop_assert_eq!(e.rc(), OcfRc::ErrConfigured);
                        prop_assert!(!e.reason().contains('\n'));
                        return Ok(());
                    }
                };
                for p in [&c.pgctl, &c.psql] {
                    prop_assert!(clean_program(p), "{}", p.display());
                }
                for p in [&c.pgdata, &c.config, &c.logfile, &c.tmpdir] {
                    prop_assert!(clean_path(p), "{}", p.display());
                }
                if let Some(s) = &c.socketdir {
                    prop_assert!(clean_path(s), "{}", s.display());
                }
                prop_assert!(c.pgport >= 1);
                let mut seen = std::collections::BTreeSet::new();
                for n in &c.node_list {
                    prop_assert!(!n.is_empty() && !n.contains(char::is_whitespace), "{n:?}");
                    prop_assert_eq!(n, &n.to_lowercase());
                    prop_assert!(seen.insert(n), "{n} twice");
                }
                if c.rep_mode.is_replication() {
                    prop_assert!(!c.node_list.is_empty() && c.master_ip.is_some());
                }
                for w in c.start_opt.iter().chain(&c.ctl_opt) {
                    prop_assert!(!w.is_empty() && !w.contains(char::is_whitespace));
                }
                if let Some(s) = &c.replication_slot_name {
                    prop_assert!(s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
                }
                for s in [&c.repuser, &c.pgdba, &c.monitor_sql, &c.pgdb] {
                    prop_assert!(!s.chars().any(|ch| ch.is_control() && ch != '\t'), "{s:?}");
                }
                prop_assert!(c.stop_escalate <= 86_400 && c.xlog_check_count <= 1_000);
            }
        }
    }
}
