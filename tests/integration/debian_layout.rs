//! The Debian layout: a cluster made by pg_createcluster, configuration in
//! /etc/postgresql/15/<name>, socket in /var/run/postgresql, ssl on with the
//! snakeoil key that only the ssl-cert group may read, and the stock
//! default pgctl (/usr/bin/pg_ctl, absent on Debian).

use crate::support::{require_root, Agent};
use std::path::Path;
use std::process::Command;

struct DebianCluster {
    name: String,
}

impl DebianCluster {
    fn create(port: u16) -> DebianCluster {
        let name = format!("rustpg{}", std::process::id());
        // A fresh Debian machine has these; a container image may not.
        if !Path::new("/etc/ssl/private/ssl-cert-snakeoil.key").exists() {
            run("make-ssl-cert", &["generate-default-snakeoil"]);
        }
        std::fs::create_dir_all("/var/run/postgresql").unwrap();
        crate::support::chown_to_postgres(Path::new("/var/run/postgresql"));
        run(
            "pg_createcluster",
            &["15", &name, "-p", &port.to_string(), "--", "--no-sync"],
        );
        DebianCluster { name }
    }

    fn agent(&self, port: u16) -> Agent {
        Agent::new()
            .param("pgdata", &format!("/var/lib/postgresql/15/{}", self.name))
            .param(
                "config",
                &format!("/etc/postgresql/15/{}/postgresql.conf", self.name),
            )
            .param("socketdir", "/var/run/postgresql")
            .param("pgport", &port.to_string())
    }
}

impl Drop for DebianCluster {
    fn drop(&mut self) {
        let _ = Command::new("pg_dropcluster")
            .args(["--stop", "15", &self.name])
            .output();
    }
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn debian_cluster_runs_through_the_stock_defaults() {
    require_root();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cluster = DebianCluster::create(port);
    let conf = std::fs::read_to_string(format!(
        "/etc/postgresql/15/{}/postgresql.conf",
        cluster.name
    ))
    .unwrap();
    assert!(
        conf.contains("ssl = on"),
        "the test needs ssl on to check supplementary groups"
    );

    let agent = cluster.agent(port);
    assert_eq!(agent.run("monitor").rc, 7);
    let log = tempfile::NamedTempFile::new().unwrap();
    let out = agent
        .clone()
        .env("HA_LOGFILE", log.path().to_str().unwrap())
        .run("start");
    assert_eq!(
        out.rc, 0,
        "start (reading the ssl-cert key needs the supplementary group): {}",
        out.stderr
    );
    let ha_log = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        ha_log.contains("using /usr/lib/postgresql/15/bin/pg_ctl (PG_VERSION 15)"),
        "the choice of pg_ctl is logged: {ha_log}"
    );
    assert_eq!(agent.run("monitor").rc, 0);
    assert_eq!(agent.run("start").rc, 0);
    assert_eq!(agent.run("stop").rc, 0);
    assert_eq!(agent.run("monitor").rc, 7);
}
