//! crm-examples/: the crmsh file the lab loads into a live cluster (e2e.rs)
//! and the pcs commands must configure the same cluster. Both are loaded
//! into CIB files here and compared fact by fact (ids differ between the
//! tools; what Pacemaker acts on must not). production.crm must load too.
//! Both tools check `ocf:rustpg:pgsql` against its meta-data, so every test
//! installs the agent under test first.

use crate::support::install_agent;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("crm-examples")
}

fn empty_cib(dir: &Path, name: &str) -> PathBuf {
    let cib = dir.join(name);
    let out = Command::new("cibadmin").arg("--empty").output().unwrap();
    std::fs::write(&cib, out.stdout).unwrap();
    cib
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn load_crm(file: &str, dir: &Path) -> String {
    let cib = empty_cib(dir, &format!("{file}.xml"));
    run(Command::new("crm")
        .args(["-F", "configure", "load", "update"])
        .arg(examples().join(file))
        .env("CIB_file", &cib)
        .env("HOME", dir));
    std::fs::read_to_string(cib).unwrap()
}

fn load_pcs(dir: &Path) -> String {
    let cib = empty_cib(dir, "pcs.xml");
    run(Command::new(examples().join("cluster-pcs.sh"))
        .arg(&cib)
        .env("HOME", dir));
    std::fs::read_to_string(cib).unwrap()
}

fn nvpairs(node: roxmltree::Node) -> BTreeMap<String, String> {
    node.descendants()
        .filter(|n| n.has_tag_name("nvpair"))
        .map(|n| {
            (
                n.attribute("name").unwrap().to_string(),
                n.attribute("value").unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// What Pacemaker acts on, without the ids the tools invent.
fn facts(xml: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(xml).unwrap();
    let config = doc
        .descendants()
        .find(|n| n.has_tag_name("configuration"))
        .unwrap();
    let mut out = Vec::new();
    for n in config.descendants().filter(|n| n.is_element()) {
        let a = |k: &str| n.attribute(k).unwrap_or("").to_string();
        match n.tag_name().name() {
            "cluster_property_set" => out.push(format!("property {:?}", nvpairs(n))),
            "rsc_defaults" => out.push(format!("rsc_defaults {:?}", nvpairs(n))),
            "primitive" => {
                let params = n
                    .children()
                    .find(|c| c.has_tag_name("instance_attributes"))
                    .map(nvpairs)
                    .unwrap_or_default();
                out.push(format!(
                    "primitive {} {}:{}:{} {params:?}",
                    a("id"),
                    a("class"),
                    a("provider"),
                    a("type")
                ));
                for op in n.descendants().filter(|o| o.has_tag_name("op")) {
                    let o = |k: &str| op.attribute(k).unwrap_or("").to_string();
                    let interval = o("interval").trim_end_matches('s').to_string();
                    out.push(format!(
                        "  op {} {} interval={} timeout={} role={} on-fail={}",
                        a("id"),
                        o("name"),
                        if interval.is_empty() {
                            "0".into()
                        } else {
                            interval
                        },
                        o("timeout"),
                        o("role"),
                        o("on-fail")
                    ));
                }
            }
            "clone" => {
                let meta = n
                    .children()
                    .find(|c| c.has_tag_name("meta_attributes"))
                    .map(nvpairs)
                    .unwrap_or_default();
                let child = n
                    .children()
                    .find(|c| c.has_tag_name("primitive"))
                    .map(|c| c.attribute("id").unwrap_or(""))
                    .unwrap_or("");
                out.push(format!("clone {} of {child} {meta:?}", a("id")));
            }
            "rsc_colocation" => out.push(format!(
                "colocation {} with {} role={}/{} score={}",
                a("rsc"),
                a("with-rsc"),
                // The default role is Started; pcs writes it, crmsh does not.
                if a("rsc-role").is_empty() {
                    "Started".into()
                } else {
                    a("rsc-role")
                },
                a("with-rsc-role").replace("Master", "Promoted"),
                a("score")
            )),
            "rsc_order" => out.push(format!(
                "order {} {} then {} {} kind={} symmetrical={}",
                a("first"),
                a("first-action"),
                a("then"),
                a("then-action"),
                if a("kind").is_empty() && a("score") == "0" {
                    "Optional".into()
                } else {
                    a("kind")
                },
                a("symmetrical")
            )),
            _ => {}
        }
    }
    out.sort();
    out
}

#[test]
fn crmsh_and_pcs_configure_the_same_cluster() {
    install_agent();
    let dir = tempfile::tempdir().unwrap();
    let crm = facts(&load_crm("cluster.crm", dir.path()));
    let pcs = facts(&load_pcs(dir.path()));
    assert!(
        crm.iter()
            .any(|f| f.starts_with("primitive Postgresql ocf:rustpg:pgsql")),
        "{crm:#?}"
    );
    assert!(
        crm.iter()
            .any(|f| f.starts_with("clone msPostgresql of Postgresql")),
        "{crm:#?}"
    );
    assert_eq!(crm, pcs, "cluster.crm and cluster-pcs.sh differ");
}

#[test]
fn production_example_loads() {
    install_agent();
    let dir = tempfile::tempdir().unwrap();
    let xml = load_crm("production.crm", dir.path());
    let facts = facts(&xml);
    assert!(
        facts
            .iter()
            .any(|f| f.contains("stonith-enabled") && f.contains("\"true\"")),
        "{facts:#?}"
    );
    assert!(
        facts
            .iter()
            .any(|f| f.contains(":stonith") || f.contains("stonith:")),
        "a fence device: {facts:#?}"
    );
    // A failed stop fences the node instead of blocking the instance.
    assert!(
        facts
            .iter()
            .any(|f| f.starts_with("  op Postgresql stop ") && f.ends_with(" on-fail=fence")),
        "{facts:#?}"
    );
}
