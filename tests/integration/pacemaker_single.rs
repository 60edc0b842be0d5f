//! The main demo as a test: a one-node Pacemaker + Corosync cluster in
//! private namespaces (`lab/single-node.sh`) runs PostgreSQL 15 through
//! `ocf:rustpg:pgsql`, and Pacemaker recovers a kill -9 of the postmaster.

use crate::support::{install_agent, require_root};
use rustpg::core::crm_mon::{self, Instance};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const PSQL: &str = "/usr/lib/postgresql/15/bin/psql";

/// One lab with its own state dir and network namespace; `down` on drop,
/// whatever the test did.
struct Lab {
    root: PathBuf,
    netns: String,
}

impl Lab {
    fn new() -> Lab {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let tag = format!("{}-{nanos:x}", std::process::id());
        Lab {
            root: PathBuf::from(format!("/var/tmp/rustpg-test-lab-{tag}")),
            netns: format!("rpgt-{tag}"),
        }
    }

    fn script(&self, args: &[&str]) -> Output {
        Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("lab/single-node.sh"))
            .args(args)
            .env("LAB_ROOT", &self.root)
            .env("LAB_NETNS", &self.netns)
            .current_dir("/")
            .output()
            .unwrap()
    }

    /// A command inside the node: (success, stdout, stderr).
    fn exec(&self, cmd: &[&str]) -> (bool, String, String) {
        let mut args = vec!["exec"];
        args.extend_from_slice(cmd);
        let out = self.script(&args);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn crm_mon_xml(&self) -> String {
        self.exec(&["crm_mon", "-1", "--output-as=xml"]).1
    }

    fn select_1(&self) -> Result<String, String> {
        let (ok, out, err) = self.exec(&[
            "runuser",
            "-u",
            "postgres",
            "--",
            PSQL,
            "-XAtq",
            "-h",
            "/run/postgresql",
            "-d",
            "postgres",
            "-c",
            "select 1",
        ]);
        if ok {
            Ok(out.trim().to_string())
        } else {
            Err(err)
        }
    }

    /// The postmaster's pid (in the node's pid namespace), from postmaster.pid.
    fn postmaster_pid(&self) -> Option<String> {
        let text =
            std::fs::read_to_string(self.root.join("node/pgsql/data/postmaster.pid")).ok()?;
        Some(text.lines().next()?.trim().to_string()).filter(|p| p.parse::<u32>().is_ok())
    }

    /// What to print when an assertion fails.
    fn diagnostics(&self) -> String {
        let mon = self.exec(&["crm_mon", "-1", "-Afr"]).1;
        let log = std::fs::read_to_string(self.root.join("node/pacemaker-log/pacemaker.log"))
            .unwrap_or_default();
        let tail: Vec<&str> = log.lines().filter(|l| l.contains("pgsql")).collect();
        format!(
            "crm_mon -1 -Afr:\n{mon}\npacemaker.log (pgsql lines, tail):\n{}",
            tail[tail.len().saturating_sub(20)..].join("\n")
        )
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let out = self.script(&["down"]);
        if !out.status.success() {
            eprintln!(
                "lab down failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// The pgsql resource's instances as crm_mon shows them.
fn pgsql_instances(xml: &str) -> Vec<Instance> {
    let view = crm_mon::parse(xml, "pgsql").unwrap_or_else(|e| panic!("{}: {xml}", e.0));
    view.instances
        .into_iter()
        .filter(|i| i.resource == "pgsql")
        .collect()
}

/// Started on pg01, active, not failed, run by our agent.
fn is_healthy(xml: &str) -> bool {
    let healthy = Instance {
        resource: "pgsql".into(),
        agent: "ocf:rustpg:pgsql".into(),
        role: "Started".into(),
        node: Some("pg01".into()),
        failed: false,
        managed: true,
    };
    pgsql_instances(xml) == [healthy]
}

#[test]
fn pacemaker_runs_and_recovers_postgres_in_a_one_node_cluster() {
    let _one_lab_at_a_time = crate::support::lab_guard();
    require_root();
    install_agent();
    let lab = Lab::new();

    let t0 = Instant::now();
    let up = lab.script(&["up"]);
    let up_text = format!(
        "{}{}",
        String::from_utf8_lossy(&up.stdout),
        String::from_utf8_lossy(&up.stderr)
    );
    assert!(
        up.status.success(),
        "lab up failed:\n{up_text}\n{}",
        lab.diagnostics()
    );
    eprintln!("lab up in {:.1} s:\n{up_text}", t0.elapsed().as_secs_f64());

    // crm_mon's view: Started on pg01, run by our agent.
    let xml = lab.crm_mon_xml();
    assert!(is_healthy(&xml), "{:?}\n{xml}", pgsql_instances(&xml));
    assert_eq!(lab.select_1(), Ok("1".to_string()), "{}", lab.diagnostics());

    // kill -9 of the postmaster: the next monitor sees it, Pacemaker recovers.
    let old = lab.postmaster_pid().expect("postmaster.pid with a pid");
    let (ok, _, err) = lab.exec(&["kill", "-9", &old]);
    assert!(ok, "kill -9 {old} in the node: {err}");
    let killed = Instant::now();
    let recovered = loop {
        let new = lab.postmaster_pid();
        if new.is_some() && new.as_deref() != Some(old.as_str()) && is_healthy(&lab.crm_mon_xml()) {
            if let Ok(one) = lab.select_1() {
                break one;
            }
        }
        assert!(
            killed.elapsed() < Duration::from_secs(60),
            "PostgreSQL was not recovered within 60 s of kill -9 {old}\n{}",
            lab.diagnostics()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(recovered, "1");
    eprintln!(
        "recovered {:.1} s after kill -9",
        killed.elapsed().as_secs_f64()
    );

    // The recovery was Pacemaker's doing: it recorded the failed monitor.
    let xml = lab.crm_mon_xml();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let failure = doc
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .unwrap_or_else(|| panic!("no failure recorded:\n{xml}"));
    assert!(
        failure
            .attribute("op_key")
            .is_some_and(|k| k.starts_with("pgsql_monitor_"))
            && failure.attribute("node") == Some("pg01"),
        "{xml}"
    );
    eprintln!("{}", lab.exec(&["crm_mon", "-1", "-Afr"]).1);
}
