//! The installed agent as Pacemaker's and the shells' tools see it.

use crate::support::install_agent;
use std::process::Command;

fn tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn crm_resource_shows_the_metadata() {
    install_agent();
    let md = tool("crm_resource", &["--show-metadata", "ocf:rustpg:pgsql"]);
    let ours = crate::support::Agent::new().run("meta-data").stdout;
    assert_eq!(md.trim_end(), ours.trim_end());
}

#[test]
fn crmsh_ra_info_lists_parameters_and_operations() {
    install_agent();
    let info = tool("crm", &["ra", "info", "ocf:rustpg:pgsql"]);
    assert!(info.contains("(ocf:rustpg:pgsql)"), "{info}");
    assert!(
        info.contains("pgdata (string, [/var/lib/pgsql/data])"),
        "{info}"
    );
    assert!(info.contains("rep_mode (string, [none])"), "{info}");
    assert!(info.contains("promote"), "{info}");
}

#[test]
fn pcs_describes_and_creates_the_resource() {
    install_agent();
    let desc = tool("pcs", &["resource", "describe", "ocf:rustpg:pgsql"]);
    assert!(
        desc.contains("ocf:rustpg:pgsql - Manages a PostgreSQL"),
        "{desc}"
    );
    assert!(desc.contains("node_list:"), "{desc}");

    // pcs writes every advertised action into the CIB: no status or methods.
    let dir = tempfile::tempdir().unwrap();
    let cib = dir.path().join("cib.xml");
    std::fs::write(&cib, tool("cibadmin", &["--empty"])).unwrap();
    let cib = cib.to_str().unwrap();
    tool(
        "pcs",
        &[
            "-f",
            cib,
            "resource",
            "create",
            "pg",
            "ocf:rustpg:pgsql",
            "pgdata=/srv/pg",
            "pgport=5433",
        ],
    );
    let config = tool("pcs", &["-f", cib, "resource", "config", "pg"]);
    assert!(config.contains("pgdata=/srv/pg"), "{config}");
    assert!(config.contains("role=Promoted"), "{config}");
    assert!(
        !config.contains("methods") && !config.contains("status:"),
        "{config}"
    );
}
