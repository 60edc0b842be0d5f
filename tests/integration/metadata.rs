//! Meta-data: the checked-in copy is the binary's output, and it validates
//! against both schemas the tools use.

use crate::support::Agent;
use std::io::Write;
use std::process::{Command, Stdio};

fn metadata() -> String {
    let out = Agent::new().run("meta-data");
    assert_eq!(out.rc, 0);
    out.stdout
}

#[test]
fn checked_in_copy_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/ocf-metadata/pgsql.xml");
    let checked_in = std::fs::read_to_string(path).unwrap();
    assert!(
        checked_in == metadata(),
        "ocf-metadata/pgsql.xml is stale: run `target/debug/pgsql meta-data > ocf-metadata/pgsql.xml`"
    );
}

fn xmllint(args: &[&str], cwd: &str, input: &str) -> (bool, String) {
    let mut child = Command::new("xmllint")
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xmllint (libxml2-utils) is installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// As ocf-tester checks it: `xmllint --valid` against ra-api-1.dtd, which
/// the DOCTYPE names (its internal subset adds OCF 1.1's reload-agent).
#[test]
fn validates_against_ra_api_1_dtd() {
    let (ok, err) = xmllint(
        &["--noout", "--valid", "-"],
        "/usr/share/resource-agents",
        &metadata(),
    );
    assert!(ok, "{err}");
    assert!(err.is_empty(), "{err}");
}

#[test]
fn validates_against_the_ocf_1_1_relaxng() {
    let (ok, err) = xmllint(
        &[
            "--noout",
            "--relaxng",
            "/usr/share/pcs/data/ocf-1.1.rng",
            "-",
        ],
        "/",
        &metadata(),
    );
    assert!(ok, "{err}");
}

/// resource-agents 4.12's schema predates OCF 1.1's `reloadable`
/// parameter attribute (the OCF 1.1 schema above has it, and Pacemaker 2.1
/// reads it): everything else must pass it as it is.
#[test]
fn validates_against_resource_agents_metadata_rng() {
    let md = metadata();
    assert!(md.contains(" reloadable=\"1\">"));
    let (ok, err) = xmllint(
        &[
            "--noout",
            "--relaxng",
            "/usr/share/resource-agents/metadata.rng",
            "-",
        ],
        "/",
        &md.replace(" reloadable=\"1\">", ">"),
    );
    assert!(ok, "{err}");
}

#[test]
fn advertises_the_ocf_1_1_actions_and_roles() {
    let md = metadata();
    assert!(md.contains("<version>1.1</version>"));
    assert!(md.contains("<action name=\"reload-agent\""));
    assert!(md.contains("role=\"Promoted\""));
    for legacy in ["\"methods\"", "\"status\"", "Master", "Slave"] {
        assert!(!md.contains(legacy), "meta-data mentions {legacy}");
    }
    // The two monitors differ in interval, as Pacemaker requires.
    assert!(md.contains("<action name=\"monitor\" timeout=\"30s\" interval=\"30s\""));
    assert!(md.contains(
        "<action name=\"monitor\" timeout=\"30s\" interval=\"29s\" depth=\"0\" role=\"Promoted\""
    ));
}
