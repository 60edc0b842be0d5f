//! Drop-in (issue 4): the lab's cluster started with the stock
//! `ocf:heartbeat:pgsql` (`LAB_AGENT=stock`: crm-examples/cluster.crm with
//! only the provider changed), then switched to ours by changing only the
//! provider of the live primitive (`lab/cluster.sh switch-provider rustpg`,
//! the procedure of docs/migration.md). Nothing restarts, nothing fails
//! over, and every node attribute keeps its value except the differences
//! docs/compatibility.md lists.

use crate::lab::{healthy, picture_is_healthy, text, Agent, Lab, Picture, NODES, RSC};
use rustpg::core::replication::Status;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The stock agent's healthy picture (`lab::picture_is_healthy`).
fn stock_healthy(p: &Picture) -> bool {
    picture_is_healthy(p, Agent::Stock)
}

/// Per role ("primary", "sync standby", "other standby"): a node, or its
/// attributes.
type ByRole<T> = BTreeMap<&'static str, T>;
type Attributes = BTreeMap<String, String>;

/// Every node attribute crm_mon shows, keyed by the node's role: "primary",
/// "sync standby" (the node whose status is HS:sync) and "other standby".
fn by_role(p: &Picture) -> (ByRole<String>, ByRole<Attributes>) {
    let primary = p.primary().expect("one primary").to_string();
    let sync = p.node_with_status(Status::HsSync).expect("a sync standby");
    let other = p
        .view
        .nodes
        .keys()
        .find(|n| **n != primary && **n != sync)
        .expect("a third node")
        .clone();
    let mut nodes = BTreeMap::new();
    let mut attrs = BTreeMap::new();
    for (role, node) in [
        ("primary", primary),
        ("sync standby", sync),
        ("other standby", other),
    ] {
        attrs.insert(
            role,
            p.view.attributes.get(&node).cloned().unwrap_or_default(),
        );
        nodes.insert(role, node);
    }
    (nodes, attrs)
}

fn print_table(title: &str, attrs: &ByRole<Attributes>) {
    println!("{title}:");
    for (role, a) in attrs {
        let line: Vec<String> = a.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("  {role:14} {}", line.join(" "));
    }
}

/// (role, attribute, stock value, our value) for every attribute whose
/// value differs or that only one agent shows.
type Difference = (String, String, Option<String>, Option<String>);

fn differences(stock: &ByRole<Attributes>, ours: &ByRole<Attributes>) -> Vec<Difference> {
    let mut out = Vec::new();
    for (role, s) in stock {
        let o = &ours[role];
        let names: std::collections::BTreeSet<&String> = s.keys().chain(o.keys()).collect();
        for name in names {
            if s.get(name) != o.get(name) {
                out.push((
                    role.to_string(),
                    name.clone(),
                    s.get(name).cloned(),
                    o.get(name).cloned(),
                ));
            }
        }
    }
    out
}

fn postmaster_pids(lab: &Lab) -> BTreeMap<&'static str, String> {
    NODES.iter().map(|n| (*n, lab.postmaster_pid(n))).collect()
}

/// The agents crm_mon shows for the instances of Postgresql.
fn agents(lab: &Lab) -> Vec<String> {
    let xml = lab.exec("pg01", &["crm_mon", "-1", "--output-as=xml"]);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let mut agents: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("resource") && n.attribute("id") == Some(RSC))
        .filter_map(|n| n.attribute("resource_agent").map(str::to_string))
        .collect();
    agents.dedup();
    agents
}

/// Failed actions crm_mon lists (`<failures>`), as text.
fn failures(lab: &Lab) -> Vec<String> {
    let xml = lab.exec("pg01", &["crm_mon", "-1", "--output-as=xml"]);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name("failure"))
        .map(|n| {
            n.attributes()
                .map(|a| format!("{}={}", a.name(), a.value()))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// Every node's pacemaker.log and PostgreSQL log, kept for a post-mortem
/// (the lab goes down with the test); the directory.
/// Each node's log lines about promotion scores, promotions and demotions,
/// and the agent's own last lines: for a failure to explain itself in the
/// CI log.
fn print_decisions(lab: &Lab) {
    let tail = |text: &str, wanted: &dyn Fn(&str) -> bool, last: usize| {
        let lines: Vec<&str> = text.lines().filter(|l| wanted(l)).collect();
        for l in &lines[lines.len().saturating_sub(last)..] {
            println!("{l}");
        }
    };
    for n in NODES {
        let [pcmk, agent] =
            LOGS.map(|path| String::from_utf8_lossy(&node_log(lab, n, path)).into_owned());
        println!("--- {n}: pacemaker.log (promotion lines, last 60)");
        let promotion = |l: &str| {
            [
                "promote",
                "demote",
                "master-Postgresql",
                "Postgresql-status",
            ]
            .iter()
            .any(|w| l.contains(w))
        };
        tail(&pcmk, &promotion, 60);
        println!("--- {n}: pgsql-ra.log (last 40)");
        tail(&agent, &|_| true, 40);
    }
}

/// The logs a failure here is explained by, on every node.
const LOGS: [&str; 2] = [
    "/var/log/pacemaker/pacemaker.log",
    "/var/log/postgresql/pgsql-ra.log",
];

fn node_log(lab: &Lab, node: &str, path: &str) -> Vec<u8> {
    lab.run(&["exec", node, "cat", path]).stdout
}

fn save_logs(lab: &Lab) -> String {
    let dir = format!("/tmp/rustpg-dropin-logs-{}", std::process::id());
    std::fs::create_dir_all(&dir).unwrap();
    for n in NODES {
        for path in LOGS {
            let name = path.rsplit('/').next().unwrap();
            std::fs::write(format!("{dir}/{n}-{name}"), node_log(lab, n, path)).unwrap();
        }
    }
    dir
}

fn rows_on(lab: &Lab, node: &str, expected: &str) {
    let start = Instant::now();
    loop {
        let got = lab.sql_on(
            node,
            "select string_agg(id::text, ',' order by id) from e2e",
        );
        if got == expected {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{node} has rows [{got}], expected [{expected}]"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn stock_agent_replaced_by_changing_the_provider() {
    let _one_lab_at_a_time = crate::support::lab_guard();
    let started = Instant::now();

    // The stock agent, on the lab's configuration with only the provider
    // changed.
    let lab = Lab::up_with("dropin", "rd", &[("LAB_AGENT", "stock")]);
    let up = started.elapsed();
    let long = Duration::from_secs(120);
    let p = lab.wait_for("stock agent: steady state", long, stock_healthy);
    // The patched ocf-shellfuncs is mounted inside the nodes only.
    let host = std::fs::read_to_string("/usr/lib/ocf/lib/heartbeat/ocf-shellfuncs").unwrap();
    assert!(host.contains("${HA_SBIN_DIR}/crm_attribute -p $@"));
    assert!(lab
        .exec(
            "pg01",
            &["cat", "/usr/lib/ocf/lib/heartbeat/ocf-shellfuncs"]
        )
        .contains("${HA_SBIN_DIR}/crm_attribute \"$@\" -p"));
    assert_eq!(agents(&lab), ["ocf:heartbeat:pgsql"]);

    lab.sql("create table e2e(id int primary key, at timestamptz)")
        .unwrap();
    lab.write_through_vip(1, Duration::from_secs(10));
    // Let the standbys replay it and a monitor round or two pass.
    for n in NODES {
        rows_on(&lab, n, "1");
    }
    std::thread::sleep(Duration::from_secs(5));
    let p = lab.wait_for("stock agent: steady state", long, |q| {
        stock_healthy(q) && q.primary() == p.primary()
    });
    let (stock_nodes, stock_attrs) = by_role(&p);
    print_table("stock ocf:heartbeat:pgsql", &stock_attrs);
    let pids = postmaster_pids(&lab);
    assert_eq!(
        failures(&lab),
        Vec::<String>::new(),
        "failed actions under the stock agent"
    );

    // Switch the provider, as docs/migration.md says.
    let switch = Instant::now();
    let out = lab.run(&["switch-provider", "rustpg"]);
    println!("{}", text(&out));
    if !out.status.success() {
        panic!("switch-provider rustpg failed; logs in {}", save_logs(&lab));
    }
    let p = lab.wait_for("ours: steady state", long, healthy);
    let switched = switch.elapsed();
    // Two more monitor rounds: nothing may drift afterwards.
    std::thread::sleep(Duration::from_secs(8));
    let p2 = lab.wait_for("ours: steady state", long, healthy);
    assert_eq!(p.view.attributes, p2.view.attributes, "attributes drifted");
    assert_eq!(agents(&lab), ["ocf:rustpg:pgsql"]);
    let (our_nodes, our_attrs) = by_role(&p2);
    print_table("ours ocf:rustpg:pgsql", &our_attrs);

    // The same nodes in the same roles, nothing restarted, nothing failed.
    if stock_nodes != our_nodes {
        // Once in a CI run the promoted role moved with no failed action:
        // what decided it is in these lines.
        print_decisions(&lab);
    }
    assert_eq!(stock_nodes, our_nodes, "the roles moved during the switch");
    assert_eq!(pids, postmaster_pids(&lab), "a postmaster restarted");
    assert_eq!(p2.vip_on.as_deref(), Some(stock_nodes["primary"].as_str()));
    assert_eq!(
        failures(&lab),
        Vec::<String>::new(),
        "failed actions after the switch"
    );

    // Both agents name one sync standby: the attributes are identical, but
    // for our primary's record of it (docs/compatibility.md R31).
    let documented: Vec<Difference> = vec![(
        "primary".into(),
        format!("{RSC}-acked-also-on"),
        None,
        Some(our_nodes["sync standby"].clone()),
    )];
    let diffs = differences(&stock_attrs, &our_attrs);
    println!("differences (role, attribute, stock, ours): {diffs:#?}");
    if diffs != documented {
        let logs = save_logs(&lab);
        assert_eq!(
            diffs, documented,
            "differences not documented in docs/compatibility.md; logs in {logs}"
        );
    }

    // The row written under the stock agent is there; writes go on.
    lab.write_through_vip(2, Duration::from_secs(10));
    for n in NODES {
        rows_on(&lab, n, "1,2");
    }

    // Then the configuration crm-examples ship, with docs/operations.md's
    // commands ("When the cluster waits for you"): nothing restarts.
    let primary = &our_nodes["primary"];
    for cmd in [
        "crm configure property maintenance-mode=true",
        "crm_resource --wait --timeout=60s",
        "crm configure rsc_defaults failure-timeout=10s",
        "crm resource param Postgresql set auto_rewind true",
        &format!("crm resource refresh Postgresql {primary}"),
        "crm_resource --wait --timeout=60s",
        &format!(
            "crm resource refresh Postgresql {}",
            our_nodes["sync standby"]
        ),
        &format!(
            "crm resource refresh Postgresql {}",
            our_nodes["other standby"]
        ),
        "crm_resource --wait --timeout=60s",
        "crm configure property maintenance-mode=false",
    ] {
        let out = lab.run(&["exec", "pg01", "sh", "-c", cmd]);
        assert!(out.status.success(), "{cmd}:\n{}", text(&out));
    }
    let resources = lab.exec("pg01", &["cibadmin", "-Q", "-o", "resources"]);
    assert!(resources.contains("name=\"auto_rewind\" value=\"true\""));
    let defaults = lab.exec("pg01", &["cibadmin", "-Q", "-o", "rsc_defaults"]);
    assert!(defaults.contains("name=\"failure-timeout\" value=\"10s\""));
    // Two monitor rounds: a restart would show in the pids or a failure.
    std::thread::sleep(Duration::from_secs(8));
    lab.wait_for("ours, self-healing: steady state", long, |q| {
        healthy(q)
            && q.primary() == p2.primary()
            // No standby was probed without a promoted instance (the
            // primary was refreshed first): none published a position.
            && NODES
                .iter()
                .all(|n| q.attr(n, &format!("{RSC}-xlog-loc")).is_none())
    });
    assert_eq!(pids, postmaster_pids(&lab), "a postmaster restarted");
    assert_eq!(failures(&lab), Vec::<String>::new(), "failed actions");
    lab.write_through_vip(3, Duration::from_secs(10));
    println!(
        "drop-in: stock up in {:.0}s, switch to ours healthy after {:.1}s, total {:.0}s",
        up.as_secs_f64(),
        switched.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    for n in NODES {
        println!(
            "{n}: tmpdir [{}]; postgresql.conf includes: {}",
            lab.exec(n, &["ls", "/var/lib/pgsql/tmp"])
                .replace('\n', " "),
            lab.exec(
                n,
                &[
                    "grep",
                    "-c",
                    "added by pgsql RA",
                    "/var/lib/pgsql/data/postgresql.conf"
                ]
            )
        );
    }
}
