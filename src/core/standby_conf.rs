//! The standby configuration the agent writes: `primary_conninfo` and
//! friends, as lines of `postgresql.auto.conf` (which only the command line
//! overrides, so a stale `pg_basebackup -R` entry cannot win over the agent)
//! and as the stock agent's `recovery.conf`/`rep_mode.conf` in tmpdir.

use crate::config::Config;
use crate::core::quote::{conninfo_pair, guc_string};
use crate::core::version::RecoveryModel;

/// Everything that shapes a standby's recovery settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandbySettings<'a> {
    /// What `primary_conninfo` connects to: `master_ip`, or the followed
    /// node's address from `replication_hosts`.
    pub host: &'a str,
    pub port: u16,
    pub repuser: &'a str,
    /// application_name: this node's name, lower-cased.
    pub node: &'a str,
    pub conninfo_opt: Option<&'a str>,
    pub restore_command: Option<&'a str>,
    pub archive_cleanup_command: Option<&'a str>,
    pub recovery_end_command: Option<&'a str>,
    pub slot: Option<String>,
}

/// The settings the agent owns; any other line of postgresql.auto.conf is
/// left alone.
/// A standby that lost its primary tries to reconnect this often
/// (PostgreSQL's default is 5 s): after a failover the new primary's first
/// commit waits for a standby (the durability rule), so that standby must
/// find it fast. A server setting, so it is written to
/// `postgresql.auto.conf` only, never to the stock `recovery.conf`.
pub const RECONNECT: (&str, &str) = ("wal_retrieve_retry_interval", "1s");

pub const MANAGED: &[&str] = &[
    "primary_conninfo",
    "primary_slot_name",
    "restore_command",
    "recovery_target_timeline",
    "archive_cleanup_command",
    "recovery_end_command",
];

impl<'a> StandbySettings<'a> {
    /// This node's settings from the resource's configuration, streaming
    /// from `following`'s address (`replication_hosts`) when it names
    /// another node that has one, else from `master_ip`.
    pub fn of(c: &'a Config, node: &'a str, following: Option<&str>) -> StandbySettings<'a> {
        let followed = following
            .filter(|f| *f != node)
            .and_then(|f| c.replication_hosts.get(f));
        StandbySettings {
            host: followed
                .map(String::as_str)
                .unwrap_or(c.master_ip.as_deref().unwrap_or("")),
            port: c.pgport,
            repuser: &c.repuser,
            node,
            conninfo_opt: c.primary_conninfo_opt.as_deref(),
            restore_command: c.restore_command.as_deref(),
            archive_cleanup_command: c.archive_cleanup_command.as_deref(),
            recovery_end_command: c.recovery_end_command.as_deref(),
            slot: c
                .replication_slot_name
                .as_ref()
                .map(|b| super::replication::slot_name(b, node)),
        }
    }

    /// `host=... port=... user=... application_name=... <opt>`: our own
    /// values quoted; `primary_conninfo_opt` is conninfo already and is
    /// appended as given (later keys win, as in the stock agent).
    pub fn primary_conninfo(&self) -> String {
        let mut s = [
            conninfo_pair("host", self.host),
            conninfo_pair("port", &self.port.to_string()),
            conninfo_pair("user", self.repuser),
            conninfo_pair("application_name", self.node),
        ]
        .join(" ");
        if let Some(opt) = self.conninfo_opt {
            s.push(' ');
            s.push_str(opt);
        }
        s
    }

    /// The host libpq connects to with [`StandbySettings::primary_conninfo`]
    /// (`primary_conninfo_opt` may set one).
    pub fn effective_host(&self) -> Option<String> {
        conninfo_host(&self.primary_conninfo())
    }

    /// `pg_rewind --source-server`: the standby's conninfo to the primary,
    /// with a database to connect to.
    pub fn rewind_source(&self) -> String {
        format!(
            "{} {}",
            self.primary_conninfo(),
            conninfo_pair("dbname", "postgres")
        )
    }

    /// `(name, value)` pairs in the stock agent's order.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            ("primary_conninfo", self.primary_conninfo()),
            (
                "restore_command",
                self.restore_command.unwrap_or("").to_string(),
            ),
            ("recovery_target_timeline", "latest".to_string()),
        ];
        if let Some(c) = self.archive_cleanup_command {
            out.push(("archive_cleanup_command", c.to_string()));
        }
        if let Some(c) = self.recovery_end_command {
            out.push(("recovery_end_command", c.to_string()));
        }
        if let Some(slot) = &self.slot {
            out.push(("primary_slot_name", slot.clone()));
        }
        out
    }

    /// The stock agent's `recovery.conf`, every value quoted: in tmpdir
    /// from 12 on (a copy for operators), in the data directory before 12,
    /// where it also says `standby_mode = 'on'` after the timeline line.
    pub fn recovery_conf(&self, model: RecoveryModel) -> String {
        let mut lines = self.settings();
        if model == RecoveryModel::RecoveryConf {
            lines.insert(3, ("standby_mode", "on".to_string()));
        }
        lines
            .iter()
            .map(|(k, v)| format!("{k} = {}\n", guc_string(v)))
            .collect()
    }

    /// The agent's lines of `postgresql.auto.conf`: the standby settings
    /// (only from 12 on: before, they are not server settings and the
    /// server would refuse to start), the reconnect interval, and
    /// `synchronous_standby_names` when given. Returns the names the agent
    /// owns there (their lines are replaced, so that an upgrade leaves no
    /// line of the other model) and the settings.
    pub fn auto_conf(
        &self,
        model: RecoveryModel,
        sync_standby_names: Option<&str>,
    ) -> (Vec<&'static str>, Vec<(&'static str, String)>) {
        let mut names = MANAGED.to_vec();
        let mut settings = match model {
            RecoveryModel::StandbySignal => self.settings(),
            RecoveryModel::RecoveryConf => Vec::new(),
        };
        names.push(RECONNECT.0);
        settings.push((RECONNECT.0, RECONNECT.1.to_string()));
        if let Some(v) = sync_standby_names {
            names.push("synchronous_standby_names");
            settings.push(("synchronous_standby_names", v.to_string()));
        }
        (names, settings)
    }
}

/// The setting name a postgresql.conf-style line assigns, if any.
fn assigned_name(line: &str) -> Option<&str> {
    let t = line.trim_start();
    if t.starts_with('#') {
        return None;
    }
    let end = t.find(|c: char| c == '=' || c.is_whitespace())?;
    Some(&t[..end]).filter(|n| !n.is_empty())
}

/// The value the last line of a postgresql.conf-style `text` assigns to
/// `name` (what PostgreSQL applies at its next reload or start), unquoted;
/// `None`: no line assigns it, or its value is unreadable.
pub fn conf_setting(text: &str, name: &str) -> Option<String> {
    let line = text
        .lines()
        .rev()
        .find(|l| assigned_name(l).is_some_and(|n| n.eq_ignore_ascii_case(name)))?;
    let rest = line.trim_start()[name.len()..].trim_start();
    let value = rest.strip_prefix('=').unwrap_or(rest).trim();
    if value.starts_with('\'') {
        return crate::core::quote::guc_unquote(value);
    }
    let bare = value
        .split(|c: char| c == '#' || c.is_whitespace())
        .next()?;
    Some(bare.to_string())
}

/// Replace the lines that assign `names` with `settings` (appended), keep
/// every other line. Returns the new text and the lines it replaced.
pub fn rewrite_auto_conf(
    text: &str,
    names: &[&str],
    settings: &[(&str, String)],
) -> (String, Vec<String>) {
    let mut kept = String::new();
    let mut replaced = Vec::new();
    for line in text.lines() {
        match assigned_name(line) {
            Some(n) if names.iter().any(|m| m.eq_ignore_ascii_case(n)) => {
                replaced.push(line.to_string())
            }
            _ => {
                kept.push_str(line);
                kept.push('\n');
            }
        }
    }
    if text.is_empty() {
        kept.push_str("# Do not edit this file manually!\n# It will be overwritten by the ALTER SYSTEM command.\n");
    }
    for (k, v) in settings {
        kept.push_str(&format!("{k} = {}\n", guc_string(v)));
    }
    (kept, replaced)
}

/// The replaced lines ([`rewrite_auto_conf`]) someone else wrote: not one
/// of the agent's lines again, nor `synchronous_standby_names` (always
/// the agent's own there). They are replaced, and the log says so.
pub fn overridden_lines<'r>(after: &str, replaced: &'r [String]) -> Vec<&'r str> {
    replaced
        .iter()
        .map(String::as_str)
        .filter(|l| !after.contains(l) && !l.starts_with("synchronous_standby_names"))
        .collect()
}

/// Where a `recovery.conf` found in the data directory goes from
/// PostgreSQL 12 on, which refuses to start with it: beside it, under
/// this name. It is kept, not deleted: it may hold settings of the
/// operator's.
pub const RECOVERY_CONF_ASIDE: &str = "recovery.conf.before-12";

/// What the data directory holds of the files that make a server start
/// as a standby.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StandbyFilesFound {
    pub recovery_conf: bool,
    /// [`RECOVERY_CONF_ASIDE`].
    pub recovery_conf_aside: bool,
    pub standby_signal: bool,
}

/// One file operation of a standby's configuration, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StandbyFileOp {
    /// The data directory's `recovery.conf` moves to
    /// [`RECOVERY_CONF_ASIDE`].
    MoveRecoveryConfAside,
    /// The stock agent's copy of `recovery.conf` in tmpdir.
    WriteTmpdirRecoveryConf,
    /// An empty `standby.signal`.
    CreateStandbySignal,
    /// `recovery.conf` in the data directory.
    WriteRecoveryConf,
    /// `standby.signal` goes: an empty file that means nothing before 12.
    RemoveStandbySignal,
}

/// Both a `recovery.conf` and [`RECOVERY_CONF_ASIDE`] exist: which one to
/// keep is the operator's call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsideTaken;

/// The files a standby gets for `model`, from what the data directory
/// holds: from 12 on `standby.signal` (kept when it exists) and the stock
/// copy in tmpdir, with a `recovery.conf` moved aside; before 12
/// `recovery.conf`, without a `standby.signal`.
pub fn standby_file_ops(
    model: RecoveryModel,
    found: StandbyFilesFound,
) -> Result<Vec<StandbyFileOp>, AsideTaken> {
    let mut ops = Vec::new();
    match model {
        RecoveryModel::StandbySignal => {
            if found.recovery_conf {
                if found.recovery_conf_aside {
                    return Err(AsideTaken);
                }
                ops.push(StandbyFileOp::MoveRecoveryConfAside);
            }
            ops.push(StandbyFileOp::WriteTmpdirRecoveryConf);
            if !found.standby_signal {
                ops.push(StandbyFileOp::CreateStandbySignal);
            }
        }
        RecoveryModel::RecoveryConf => {
            ops.push(StandbyFileOp::WriteRecoveryConf);
            ops.push(StandbyFileOp::RemoveStandbySignal);
        }
    }
    Ok(ops)
}

/// The host a conninfo connects to: its last `host`, as libpq reads it.
pub fn conninfo_host(conninfo: &str) -> Option<String> {
    crate::core::quote::parse_conninfo(conninfo)?
        .into_iter()
        .rev()
        .find(|(k, _)| k == "host")
        .map(|(_, v)| v)
}

/// The stock agent's `rep_mode.conf` line.
pub fn rep_mode_conf(sync_standby_names: &str) -> String {
    format!(
        "synchronous_standby_names = {}\n",
        guc_string(sync_standby_names)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From 12 on, a recovery.conf is moved aside (never over one moved
    /// before) and standby.signal created once; before 12, recovery.conf
    /// and no standby.signal.
    #[test]
    fn the_files_of_each_recovery_model() {
        use StandbyFileOp::*;
        let found = |recovery_conf, recovery_conf_aside, standby_signal| StandbyFilesFound {
            recovery_conf,
            recovery_conf_aside,
            standby_signal,
        };
        let ops = |model, f| standby_file_ops(model, f);
        assert_eq!(
            ops(RecoveryModel::StandbySignal, found(false, false, false)),
            Ok(vec![WriteTmpdirRecoveryConf, CreateStandbySignal])
        );
        assert_eq!(
            ops(RecoveryModel::StandbySignal, found(true, false, true)),
            Ok(vec![MoveRecoveryConfAside, WriteTmpdirRecoveryConf])
        );
        assert_eq!(
            ops(RecoveryModel::StandbySignal, found(true, true, true)),
            Err(AsideTaken)
        );
        assert_eq!(
            ops(RecoveryModel::StandbySignal, found(false, true, true)),
            Ok(vec![WriteTmpdirRecoveryConf]),
            "an old copy aside alone changes nothing"
        );
        assert_eq!(
            ops(RecoveryModel::RecoveryConf, found(true, true, true)),
            Ok(vec![WriteRecoveryConf, RemoveStandbySignal])
        );
    }

    #[test]
    fn only_lines_of_someone_else_are_said_to_be_overridden() {
        let after = "primary_conninfo = 'host=a'\nrecovery_target_timeline = 'latest'\n";
        let replaced = [
            "primary_conninfo = 'host=a'".to_string(),
            "primary_conninfo = 'host=old'".to_string(),
            "synchronous_standby_names = 'x'".to_string(),
        ];
        assert_eq!(
            overridden_lines(after, &replaced),
            ["primary_conninfo = 'host=old'"]
        );
    }

    fn settings() -> StandbySettings<'static> {
        StandbySettings {
            host: "10.0.0.100",
            port: 5432,
            repuser: "repl",
            node: "pg02",
            conninfo_opt: Some("keepalives_idle=60 passfile=/var/lib/postgresql/.pgpass"),
            restore_command: None,
            archive_cleanup_command: None,
            recovery_end_command: None,
            slot: None,
        }
    }

    /// A standby streams from the node it follows when `replication_hosts`
    /// names its host, else from master_ip; never from itself.
    #[test]
    fn the_host_is_the_followed_node_s() {
        let env: crate::ocf::env::RawEnv = [
            ("rep_mode", "sync"),
            ("node_list", "pg01 pg02"),
            ("master_ip", "10.0.0.100"),
            ("replication_hosts", "pg01=10.0.0.11 pg02=10.0.0.12"),
        ]
        .iter()
        .map(|(k, v)| (format!("OCF_RESKEY_{k}"), v.to_string()))
        .collect();
        let c = Config::from_env(&env).unwrap();
        let host = |following| StandbySettings::of(&c, "pg02", following).host;
        assert_eq!(host(Some("pg01")), "10.0.0.11");
        assert_eq!(host(None), "10.0.0.100");
        assert_eq!(host(Some("pg02")), "10.0.0.100");
        assert_eq!(host(Some("pg09")), "10.0.0.100");
    }

    #[test]
    fn conninfo_is_quoted_and_opt_appended() {
        assert_eq!(
            settings().primary_conninfo(),
            "host='10.0.0.100' port='5432' user='repl' application_name='pg02' \
             keepalives_idle=60 passfile=/var/lib/postgresql/.pgpass"
        );
        let hostile = StandbySettings {
            repuser: "o'neil",
            node: "a b",
            conninfo_opt: None,
            ..settings()
        };
        assert_eq!(
            hostile.primary_conninfo(),
            r"host='10.0.0.100' port='5432' user='o\'neil' application_name='a b'"
        );
    }

    #[test]
    fn recovery_conf_has_the_stock_lines() {
        let s = StandbySettings {
            restore_command: Some("cp /arch/%f %p"),
            slot: Some("slot_pg02".into()),
            ..settings()
        };
        let text = s.recovery_conf(RecoveryModel::StandbySignal);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("primary_conninfo = 'host=''10.0.0.100'' port="),
            "{text}"
        );
        assert_eq!(lines[1], "restore_command = 'cp /arch/%f %p'");
        assert_eq!(lines[2], "recovery_target_timeline = 'latest'");
        assert_eq!(lines[3], "primary_slot_name = 'slot_pg02'");
        assert_eq!(lines.len(), 4);
        // Before 12, as the stock agent writes it into the data directory.
        let text = s.recovery_conf(RecoveryModel::RecoveryConf);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[2], "recovery_target_timeline = 'latest'");
        assert_eq!(lines[3], "standby_mode = 'on'");
        assert_eq!(lines[4], "primary_slot_name = 'slot_pg02'");
    }

    #[test]
    fn auto_conf_holds_the_standby_settings_only_from_12_on() {
        let s = settings();
        let (names, new) = s.auto_conf(RecoveryModel::StandbySignal, Some("pg03"));
        let keys: Vec<&str> = new.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            keys,
            [
                "primary_conninfo",
                "restore_command",
                "recovery_target_timeline",
                "wal_retrieve_retry_interval",
                "synchronous_standby_names"
            ]
        );
        let (old_names, old) = s.auto_conf(RecoveryModel::RecoveryConf, None);
        let keys: Vec<&str> = old.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["wal_retrieve_retry_interval"]);
        // Both own every recovery setting's line, so none survives a change
        // of model.
        for n in MANAGED {
            assert!(names.contains(n) && old_names.contains(n), "{n}");
        }
    }

    #[test]
    fn auto_conf_keeps_foreign_lines_and_replaces_ours() {
        let before = "# Do not edit this file manually!\n\
                      # It will be overwritten by the ALTER SYSTEM command.\n\
                      work_mem = '8MB'\n\
                      primary_conninfo = 'user=postgres application_name=walreceiver'\n\
                      primary_conninfo_x = 'untouched'\n";
        let (after, replaced) =
            rewrite_auto_conf(before, MANAGED, &[("primary_conninfo", "host=a".into())]);
        assert_eq!(
            replaced,
            ["primary_conninfo = 'user=postgres application_name=walreceiver'"]
        );
        assert!(after.contains("work_mem = '8MB'\n"));
        assert!(after.contains("primary_conninfo_x = 'untouched'\n"));
        assert!(after.ends_with("primary_conninfo = 'host=a'\n"), "{after}");
        assert!(after.starts_with("# Do not edit"));
        // Idempotent.
        let (again, replaced) =
            rewrite_auto_conf(&after, MANAGED, &[("primary_conninfo", "host=a".into())]);
        assert_eq!(again, after);
        assert_eq!(replaced, ["primary_conninfo = 'host=a'"]);
    }

    #[test]
    fn empty_auto_conf_gets_the_header() {
        let (after, replaced) =
            rewrite_auto_conf("", MANAGED, &[("restore_command", String::new())]);
        assert!(replaced.is_empty());
        assert!(after.starts_with("# Do not edit this file manually!\n"));
        assert!(after.ends_with("restore_command = ''\n"));
    }

    #[test]
    fn the_last_line_of_a_setting_is_what_postgresql_applies() {
        let text = "# Do not edit this file manually!\n\
                    synchronous_standby_names = 'FIRST 1 (\"pg02\")'\n\
                    primary_conninfo = 'host=a'\n\
                    Synchronous_Standby_Names = 'ANY 1 (\"pg02\", \"it''s\")'\n\
                    wal_keep_size = 64 # MB\n";
        assert_eq!(
            conf_setting(text, "synchronous_standby_names").as_deref(),
            Some(r#"ANY 1 ("pg02", "it's")"#)
        );
        assert_eq!(conf_setting(text, "wal_keep_size").as_deref(), Some("64"));
        assert_eq!(conf_setting(text, "primary_slot_name"), None);
        assert_eq!(conf_setting("x = 'open\n", "x"), None);
        // What rewrite_auto_conf writes reads back.
        let (written, _) = rewrite_auto_conf(
            "",
            &["synchronous_standby_names"],
            &[("synchronous_standby_names", r#"ANY 2 ("a", "b")"#.into())],
        );
        assert_eq!(
            conf_setting(&written, "synchronous_standby_names").as_deref(),
            Some(r#"ANY 2 ("a", "b")"#)
        );
    }

    #[test]
    fn rep_mode_conf_is_the_stock_format() {
        assert_eq!(rep_mode_conf(""), "synchronous_standby_names = ''\n");
        assert_eq!(
            rep_mode_conf("\"node2\""),
            "synchronous_standby_names = '\"node2\"'\n"
        );
    }
}
