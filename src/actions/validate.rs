//! validate-all, and the checks every action runs first. Level 0 checks the
//! parameters against each other only (so `pcs resource create` works
//! anywhere); level 10 and every real action also look at this host: user,
//! data directory, programs, configuration file, clone settings.
//! Validation never writes anything.

use crate::config::{Config, RepMode};
use crate::core::version::PgMajor;
use crate::error::{AgentError, Result};
use crate::io::binaries;
use crate::io::clock::{self, Deadline};
use crate::io::user::OsUser;
use crate::ocf::action::Action;
use crate::ocf::env::{OcfEnv, RawEnv};
use crate::params;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything an action needs, checked.
#[derive(Debug)]
pub struct Instance {
    pub cfg: Config,
    pub ocf: OcfEnv,
    pub owner: OsUser,
    pub pgctl: PathBuf,
    pub major: PgMajor,
    pub deadline: Deadline,
    /// PGPASSFILE from the environment, if any.
    pub passfile: Option<PathBuf>,
}

pub fn validate_all(env: &RawEnv) -> Result<()> {
    let cfg = Config::from_env(env)?;
    if let Some(problem) = &cfg.replication_hosts_problem {
        return Err(AgentError::configured(problem.clone()));
    }
    let ocf = OcfEnv::from_raw(env);
    if ocf.check_level >= 10 {
        check_host(cfg, ocf, env, Action::ValidateAll)?;
    }
    Ok(())
}

pub fn instance(action: Action, env: &RawEnv) -> Result<Instance> {
    let cfg = Config::from_env(env)?;
    check_host(cfg, OcfEnv::from_raw(env), env, action)
}

/// For a monitor whose validation failed: is a postmaster running anyway?
pub fn postmaster_alive_anyway(env: &RawEnv) -> bool {
    let pgdata = Config::raw_param(env, "pgdata").filter(|p| p.starts_with('/'));
    let pgdata =
        PathBuf::from(pgdata.map_or(params::spec("pgdata").map_or("", |p| p.default), |p| p));
    matches!(
        crate::io::postmaster::observe(&pgdata),
        crate::core::decide::Postmaster::Alive { .. }
    )
}

fn check_host(mut cfg: Config, ocf: OcfEnv, env: &RawEnv, action: Action) -> Result<Instance> {
    let probe = action == Action::Monitor && ocf.is_probe();
    let timeout = ocf.timeout_ms.map_or(
        Duration::from_secs(params::default_timeout_secs(action.name()).into()),
        Duration::from_millis,
    );
    let (deadline, watchdog) = clock::budget(timeout);
    if action != Action::ValidateAll {
        clock::arm_watchdog(watchdog, timeout, action.name());
    }

    let owner = OsUser::lookup(&cfg.pgdba).ok_or_else(|| reason::no_user(&cfg))?;
    let euid = nix::unistd::Uid::effective();
    if !euid.is_root() && euid != owner.uid {
        return Err(reason::wrong_uid(euid.as_raw(), &cfg));
    }

    check_clone_settings(&cfg, &ocf)?;

    let pgdata = &cfg.pgdata;
    let meta = std::fs::metadata(pgdata).map_err(|e| reason::pgdata_unusable(pgdata, &e))?;
    if !meta.is_dir() {
        return Err(reason::pgdata_no_directory(pgdata));
    }
    let major = std::fs::read_to_string(pgdata.join("PG_VERSION"))
        .ok()
        .and_then(|t| PgMajor::parse(&t))
        .ok_or_else(|| reason::no_pg_version(pgdata))?;
    if cfg.rep_mode != RepMode::None && !major.replication_supported() {
        return Err(reason::major_without_replication(&cfg, &major));
    }
    if !cfg.replication_hosts.is_empty() && !major.reloads_primary_conninfo() {
        let problem = reason::replication_hosts_major(pgdata, &major);
        if action == Action::ValidateAll {
            return Err(problem);
        }
        cfg.replication_hosts_problem = Some(problem.explained().to_string());
        cfg.replication_hosts.clear();
    }
    if let Some(problem) = &cfg.replication_hosts_problem {
        crate::warn!("replication_hosts is not used, standbys stream through master_ip: {problem}");
    }
    if cfg.slot_wal_keep_mb.is_some() && !major.bounds_slot_wal() {
        let problem = reason::slot_wal_major(pgdata, &major);
        if action == Action::ValidateAll {
            return Err(AgentError::configured(problem));
        }
        crate::warn!("max_slot_wal_keep_size is not used: {problem}");
        cfg.slot_wal_keep_problem = Some(problem);
        cfg.slot_wal_keep_mb = None;
    }
    if !probe && meta.uid() != owner.uid.as_raw() {
        return Err(reason::not_owned(pgdata, meta.uid(), &cfg.pgdba));
    }

    let (pgctl, note) = binaries::resolve("pgctl", &cfg.pgctl, "/usr/bin/pg_ctl", Some(&major));
    if let Some(note) = note {
        // Logged where an operator looks, not on every monitor.
        match action {
            Action::Start | Action::ValidateAll => crate::info!("{note}"),
            _ => crate::debug!("{note}"),
        }
    }
    if !binaries::is_executable(&pgctl) {
        return Err(missing_program("pgctl", &pgctl, &major));
    }
    // The agent never runs psql, but one set explicitly must exist (the
    // stock check_binary): a wrong value is a configuration mistake.
    let psql_default = params::spec("psql").map_or("", |p| p.default);
    if cfg.psql != std::path::Path::new(psql_default) {
        let (psql, _) = binaries::resolve("psql", &cfg.psql, psql_default, Some(&major));
        if !binaries::is_executable(&psql) {
            return Err(missing_program("psql", &psql, &major));
        }
    }
    if !probe && !cfg.config.is_file() {
        return Err(reason::no_config(&cfg.config));
    }

    Ok(Instance {
        cfg,
        ocf,
        owner,
        pgctl,
        major,
        deadline,
        passfile: env
            .get("PGPASSFILE")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from),
    })
}

/// `OCF_ERR_INSTALLED` for a program parameter that names no program.
fn missing_program(param: &str, program: &Path, major: &PgMajor) -> AgentError {
    let what = if program.is_absolute() {
        format!("{param} {} is not executable", program.display())
    } else {
        format!("{param} {}: no such program on PATH", program.display())
    };
    AgentError::installed(format!(
        "{what}; install PostgreSQL {} or set {param} to its path",
        major.0
    ))
}

/// The exit reasons of [`check_host`], from the values they name.
mod reason {
    use super::*;

    pub(super) fn no_user(cfg: &Config) -> AgentError {
        AgentError::installed(format!(
            "User {} doesn't exist; create it or set pgdba to the owner of {}",
            cfg.pgdba,
            cfg.pgdata.display()
        ))
    }

    pub(super) fn wrong_uid(euid: u32, cfg: &Config) -> AgentError {
        AgentError::perm(format!(
            "the agent runs as uid {euid}; it must run as root or as pgdba ({})",
            cfg.pgdba
        ))
    }

    pub(super) fn pgdata_unusable(pgdata: &Path, e: &std::io::Error) -> AgentError {
        AgentError::installed(format!(
            "pgdata {}: {e}; run initdb or fix pgdata",
            pgdata.display()
        ))
    }

    pub(super) fn pgdata_no_directory(pgdata: &Path) -> AgentError {
        AgentError::installed(format!("pgdata {} is not a directory", pgdata.display()))
    }

    pub(super) fn no_pg_version(pgdata: &Path) -> AgentError {
        AgentError::installed(format!(
            "pgdata {} has no readable PG_VERSION: not a PostgreSQL data directory",
            pgdata.display()
        ))
    }

    pub(super) fn major_without_replication(cfg: &Config, major: &PgMajor) -> AgentError {
        AgentError::installed(format!(
            "rep_mode={} needs PostgreSQL 10 or later; pgdata {} is PostgreSQL {}",
            cfg.rep_mode.name(),
            cfg.pgdata.display(),
            major.0
        ))
    }

    /// validate-all's exit reason; a warning for the other actions.
    pub(super) fn replication_hosts_major(pgdata: &Path, major: &PgMajor) -> AgentError {
        let needs = "replication_hosts needs PostgreSQL 13 or later";
        let (pgdata, major) = (pgdata.display(), &major.0);
        AgentError::configured(format!(
            "{needs}; pgdata {pgdata} is PostgreSQL {major}: remove it"
        ))
        .with_detail(format!(
            "{needs} (a standby reloads primary_conninfo there); pgdata {pgdata} is PostgreSQL \
             {major}: remove replication_hosts"
        ))
    }

    /// validate-all's exit reason; a warning for the other actions.
    pub(super) fn slot_wal_major(pgdata: &Path, major: &PgMajor) -> String {
        format!(
            "max_slot_wal_keep_size needs PostgreSQL 13 or later; pgdata {} is PostgreSQL {}: \
             remove it",
            pgdata.display(),
            major.0
        )
    }

    pub(super) fn not_owned(pgdata: &Path, uid: u32, pgdba: &str) -> AgentError {
        AgentError::perm(format!(
            "pgdata {} is owned by uid {uid}, not by pgdba {pgdba}: chown it or fix pgdba",
            pgdata.display()
        ))
    }

    pub(super) fn no_config(config: &Path) -> AgentError {
        AgentError::installed(format!(
            "Configuration file {} doesn't exist; fix the config parameter",
            config.display()
        ))
    }
}

/// async/sync need a promotable clone; slave must not be one. Only checked
/// when Pacemaker tells us how the resource is configured.
fn check_clone_settings(cfg: &Config, ocf: &OcfEnv) -> Result<()> {
    match cfg.rep_mode {
        m if m.is_replication() && !ocf.promotable => Err(AgentError::configured(
            "Replication(rep_mode=async or sync) requires Master/Slave configuration; \
             make the resource a promotable clone",
        )),
        RepMode::Slave if ocf.promotable => Err(AgentError::configured(
            "Replication(rep_mode=slave) does not support Master/Slave configuration; \
             use a plain primitive",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::VALIDATION_REASON_MAX;
    use crate::error::EXIT_REASON_MAX;

    /// Every exit reason of the host checks fits, with room for what a
    /// monitor adds ([`VALIDATION_REASON_MAX`]; validate-all's own, in
    /// [`EXIT_REASON_MAX`]), with worst-case values: 16-character names,
    /// typical paths of the longer kind, a long error, big numbers.
    #[test]
    fn host_check_reasons_fit_with_worst_case_values() {
        let user = "node-name-16char";
        let pgdata = Path::new("/var/lib/postgresql/15/main");
        let mut cfg = Config::from_env(&RawEnv::new()).unwrap();
        cfg.pgdba = user.into();
        cfg.pgdata = pgdata.into();
        cfg.rep_mode = RepMode::Quorum;
        let old = PgMajor::parse("9.6").unwrap();
        let major = PgMajor::parse("15").unwrap();
        let gone = std::io::Error::from_raw_os_error(2);
        let validation = [
            reason::no_user(&cfg),
            reason::wrong_uid(4_294_967_294, &cfg),
            reason::pgdata_unusable(pgdata, &gone),
            reason::pgdata_unusable(pgdata, &std::io::Error::from_raw_os_error(13)),
            reason::pgdata_no_directory(pgdata),
            reason::no_pg_version(pgdata),
            reason::major_without_replication(&cfg, &old),
            reason::not_owned(pgdata, 65_534, user),
            reason::no_config(Path::new("/var/lib/postgresql/15/main/postgresql.conf")),
            missing_program(
                "pgctl",
                Path::new("/usr/lib/postgresql/15/bin/pg_ctl"),
                &major,
            ),
            missing_program("pgctl", Path::new("pg_ctl"), &major),
            missing_program("psql", Path::new("/usr/lib/postgresql/15/bin/psql"), &major),
        ];
        let mut long: Vec<String> = validation
            .iter()
            .map(|e| e.reason().to_string())
            .filter(|r| r.len() > VALIDATION_REASON_MAX)
            .collect();
        let v12 = PgMajor::parse("12").unwrap();
        for r in [
            reason::replication_hosts_major(pgdata, &v12)
                .reason()
                .to_string(),
            reason::slot_wal_major(pgdata, &v12),
        ] {
            if r.len() > EXIT_REASON_MAX {
                long.push(r);
            }
        }
        for promotable in [false, true] {
            for mode in [RepMode::Async, RepMode::Slave] {
                let c = Config {
                    rep_mode: mode,
                    ..cfg.clone()
                };
                let ocf = OcfEnv {
                    promotable,
                    ..OcfEnv::from_raw(&RawEnv::new())
                };
                if let Err(e) = check_clone_settings(&c, &ocf) {
                    if e.reason().len() > VALIDATION_REASON_MAX {
                        long.push(e.reason().into());
                    }
                }
            }
        }
        assert!(long.is_empty(), "{long:#?}");
    }
}
