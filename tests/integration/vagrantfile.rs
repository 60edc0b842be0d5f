//! The Vagrantfile (the demo's three-node cluster on real VMs) cannot run
//! here: check that Ruby parses it and that it provisions the same
//! configuration as the lab, crm-examples/cluster.crm.

use std::path::Path;
use std::process::Command;

fn vagrantfile() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("Vagrantfile")
}

#[test]
fn vagrantfile_is_valid_ruby() {
    let out = Command::new("ruby")
        .arg("-c")
        .arg(vagrantfile())
        .output()
        .expect("ruby is missing: run scripts/install-deps.sh");
    assert!(
        out.status.success(),
        "ruby -c Vagrantfile failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Syntax OK"));
}

#[test]
fn vagrantfile_provisions_the_lab_configuration() {
    let text = std::fs::read_to_string(vagrantfile()).unwrap();
    assert!(
        text.contains("crm-examples/cluster.crm"),
        "the Vagrantfile must load crm-examples/cluster.crm"
    );
    assert!(text.contains("debian/bookworm64"));
    for node in ["pg01", "pg02", "pg03"] {
        assert!(
            text.contains(node),
            "{node} is missing from the Vagrantfile"
        );
    }
    let crm = Path::new(env!("CARGO_MANIFEST_DIR")).join("crm-examples/cluster.crm");
    assert!(crm.is_file(), "{} is missing", crm.display());
}
