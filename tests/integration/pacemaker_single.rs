//! The main demo as a test: a one-node Pacemaker + Corosync cluster in
//! private namespaces (`lab/single-node.sh`) runs PostgreSQL 15 through
//! `ocf:rustpg:pgsql`, and Pacemaker recovers a kill -9 of the postmaster.

use crate::support::{install_agent, require_root};
use std::collections::BTreeMap;
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

/// The attributes of the first `<tag ...>` element of `xml` whose text
/// starts with `start` (e.g. `<resource id="pgsql"`), and the text up to its
/// closing tag. Enough for crm_mon's regular output; no XML crate needed.
fn element<'a>(
    xml: &'a str,
    start: &str,
    tag: &str,
) -> Option<(BTreeMap<String, String>, &'a str)> {
    let at = xml.find(start)?;
    let rest = &xml[at..];
    let head_end = rest.find('>')?;
    let head = &rest[1..head_end];
    let body_end = rest.find(&format!("</{tag}>")).unwrap_or(head_end);
    Some((attributes(head), &rest[head_end..body_end]))
}

fn attributes(head: &str) -> BTreeMap<String, String> {
    let mut attrs = BTreeMap::new();
    let mut s = head;
    while let Some(eq) = s.find("=\"") {
        let name = s[..eq]
            .rsplit(|c: char| c.is_whitespace() || c == '<')
            .next()
            .unwrap()
            .to_string();
        let after = &s[eq + 2..];
        let close = after.find('"').unwrap();
        attrs.insert(name, after[..close].to_string());
        s = &after[close + 1..];
    }
    attrs
}

/// The pgsql resource as crm_mon shows it: its attributes and the node(s)
/// it runs on.
fn pgsql_resource(xml: &str) -> Option<(BTreeMap<String, String>, Vec<String>)> {
    let (attrs, body) = element(xml, "<resource id=\"pgsql\"", "resource")?;
    let nodes = body
        .split("<node ")
        .skip(1)
        .filter_map(|n| {
            attributes(n.split('>').next().unwrap())
                .get("name")
                .cloned()
        })
        .collect();
    Some((attrs, nodes))
}

fn is_healthy(xml: &str) -> bool {
    match pgsql_resource(xml) {
        Some((a, nodes)) => {
            a.get("role").map(String::as_str) == Some("Started")
                && a.get("active").map(String::as_str) == Some("true")
                && a.get("failed").map(String::as_str) == Some("false")
                && nodes == ["pg01"]
        }
        None => false,
    }
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
    let (attrs, nodes) =
        pgsql_resource(&xml).unwrap_or_else(|| panic!("no pgsql resource in:\n{xml}"));
    assert_eq!(
        attrs.get("resource_agent").map(String::as_str),
        Some("ocf:rustpg:pgsql"),
        "{xml}"
    );
    assert_eq!(
        attrs.get("role").map(String::as_str),
        Some("Started"),
        "{xml}"
    );
    assert_eq!(
        attrs.get("active").map(String::as_str),
        Some("true"),
        "{xml}"
    );
    assert_eq!(
        attrs.get("failed").map(String::as_str),
        Some("false"),
        "{xml}"
    );
    assert_eq!(nodes, ["pg01"], "{xml}");
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
    let (failure, _) = element(&xml, "<failure ", "failure")
        .unwrap_or_else(|| panic!("no failure recorded:\n{xml}"));
    assert!(
        failure
            .get("op_key")
            .is_some_and(|k| k.starts_with("pgsql_monitor_"))
            && failure.get("node").map(String::as_str) == Some("pg01"),
        "{failure:?}"
    );
    eprintln!("{}", lab.exec(&["crm_mon", "-1", "-Afr"]).1);
}
