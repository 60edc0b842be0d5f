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
use std::path::PathBuf;
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

    let owner = OsUser::lookup(&cfg.pgdba).ok_or_else(|| {
        AgentError::installed(format!(
            "User {} doesn't exist; create it or set pgdba to the owner of {}",
            cfg.pgdba,
            cfg.pgdata.display()
        ))
    })?;
    let euid = nix::unistd::Uid::effective();
    if !euid.is_root() && euid != owner.uid {
        return Err(AgentError::perm(format!(
            "the agent runs as uid {euid}; it must run as root or as pgdba ({})",
            cfg.pgdba
        )));
    }

    check_clone_settings(&cfg, &ocf)?;

    let pgdata = &cfg.pgdata;
    let meta = std::fs::metadata(pgdata).map_err(|e| {
        AgentError::installed(format!(
            "pgdata {} is not usable ({e}); create the cluster with initdb or fix pgdata",
            pgdata.display()
        ))
    })?;
    if !meta.is_dir() {
        return Err(AgentError::installed(format!(
            "pgdata {} is not a directory",
            pgdata.display()
        )));
    }
    let major = std::fs::read_to_string(pgdata.join("PG_VERSION"))
        .ok()
        .and_then(|t| PgMajor::parse(&t))
        .ok_or_else(|| {
            AgentError::installed(format!(
                "pgdata {} has no readable PG_VERSION: it is not a PostgreSQL data directory",
                pgdata.display()
            ))
        })?;
    if cfg.rep_mode != RepMode::None && !major.replication_supported() {
        return Err(AgentError::installed(format!(
            "rep_mode={} needs PostgreSQL 10 or later; pgdata {} is PostgreSQL {}",
            cfg.rep_mode.name(),
            pgdata.display(),
            major.0
        )));
    }
    if !cfg.replication_hosts.is_empty() && !major.reloads_primary_conninfo() {
        let problem = format!(
            "replication_hosts needs PostgreSQL 13 or later (a standby reloads primary_conninfo \
             there); pgdata {} is PostgreSQL {}: remove replication_hosts",
            pgdata.display(),
            major.0
        );
        if action == Action::ValidateAll {
            return Err(AgentError::configured(problem));
        }
        cfg.replication_hosts_problem = Some(problem);
        cfg.replication_hosts.clear();
    }
    if let Some(problem) = &cfg.replication_hosts_problem {
        crate::warn!("replication_hosts is not used, standbys stream through master_ip: {problem}");
    }
    if cfg.slot_wal_keep_mb.is_some() && !major.bounds_slot_wal() {
        let problem = format!(
            "max_slot_wal_keep_size needs PostgreSQL 13 or later; pgdata {} is PostgreSQL {}: \
             remove it",
            pgdata.display(),
            major.0
        );
        if action == Action::ValidateAll {
            return Err(AgentError::configured(problem));
        }
        crate::warn!("max_slot_wal_keep_size is not used: {problem}");
        cfg.slot_wal_keep_problem = Some(problem);
        cfg.slot_wal_keep_mb = None;
    }
    if !probe && meta.uid() != owner.uid.as_raw() {
        return Err(AgentError::perm(format!(
            "Directory {} is owned by uid {}, not by pgdba {}; chown it or fix pgdba",
            pgdata.display(),
            meta.uid(),
            cfg.pgdba
        )));
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
        return Err(AgentError::installed(format!(
            "Configuration file {} doesn't exist; fix the config parameter",
            cfg.config.display()
        )));
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
fn missing_program(param: &str, program: &std::path::Path, major: &PgMajor) -> AgentError {
    let what = if program.is_absolute() {
        format!("{param} {} is not an executable file", program.display())
    } else {
        format!("{param} {}: no such program on PATH", program.display())
    };
    AgentError::installed(format!(
        "{what}; install PostgreSQL {} or set {param} to the program's absolute path",
        major.0
    ))
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
