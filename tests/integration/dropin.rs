//! Drop-in, both ways: the lab's cluster started with the stock
//! `ocf:heartbeat:pgsql` (`LAB_AGENT=stock`: crm-examples/cluster.crm with
//! only the provider changed), switched to ours and back with crmsh, then
//! again with pcs (`lab/cluster.sh switch-provider`, the commands of
//! docs/migration.md, which must show each one), while four clients write
//! through the VIP. No write fails, nothing restarts, nothing fails over;
//! under ours every node attribute keeps its value but for the differences
//! docs/compatibility.md lists, and back on the stock agent the cluster is
//! as it was: the same attributes, the same parameters, none of our
//! server settings or files.

use crate::lab::{picture_is_healthy, text, Agent, Lab, Picture, NODES, RSC};
use crate::load::{assert_no_loss, create_faults_table, Attempt, Load, Via};
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

/// Wait until `node` replays the load's table.
fn rows_on(lab: &Lab, node: &str) {
    let start = Instant::now();
    while lab
        .try_sql_on(node, "select count(*) > 0 from faults")
        .map_or(true, |t| t.trim() != "t")
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{node} has none of the load's rows"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Which way a switch goes, and with which tool.
#[derive(Clone, Copy)]
struct Switch {
    to: Agent,
    tool: &'static str,
    as_shipped: bool,
}

/// The operator commands `switch-provider` printed (`cluster: $ ...`), in
/// the form docs/migration.md shows them: a node named as an argument
/// (`pg02`, `node=pg02`) replaced by `<primary>` or `<standby>`, the node a
/// command ran on left out.
fn printed_commands(out: &str, primary: &str) -> Vec<String> {
    let placeholder = |word: &str| {
        let (key, node) = word.split_at(if word.starts_with("node=") { 5 } else { 0 });
        if node == primary {
            format!("{key}<primary>")
        } else if NODES.contains(&node) {
            format!("{key}<standby>")
        } else {
            word.to_string()
        }
    };
    out.lines()
        .filter_map(|l| l.strip_prefix("cluster: $ "))
        .map(|c| {
            let c = c.split("   # on ").next().unwrap_or(c).trim_end();
            c.split(' ').map(placeholder).collect::<Vec<_>>().join(" ")
        })
        .collect()
}

/// Every command the switch ran is in docs/migration.md (a `<node>` there
/// stands for either placeholder).
fn assert_documented(commands: &[String]) {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/migration.md")).unwrap();
    let missing: Vec<&String> = commands
        .iter()
        .filter(|c| {
            let generic = c
                .replace("<primary>", "<node>")
                .replace("<standby>", "<node>");
            !doc.contains(c.as_str()) && !doc.contains(&generic)
        })
        .collect();
    assert!(
        missing.is_empty(),
        "docs/migration.md does not show these commands the switch ran: {missing:#?}"
    );
}

/// Our settings in a node's postgresql.auto.conf and our notes in its
/// tmpdir: none may be left after the way back.
fn our_traces(lab: &Lab, node: &str) -> Vec<String> {
    let auto = lab.exec(node, &["cat", "/var/lib/pgsql/data/postgresql.auto.conf"]);
    let settings = auto
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains(" = "))
        .map(|l| format!("postgresql.auto.conf: {l}"));
    const NOTES: [&str; 9] = [
        "election_deferred",
        "former_primary",
        "history_published",
        "promotion_note",
        "recovered_in_place",
        "rewind_unfinished",
        "sync_ceiling",
        "sync_flag",
        "weak_commits",
    ];
    let files = lab.exec(node, &["ls", "/var/lib/pgsql/tmp"]);
    let notes = files
        .split_whitespace()
        .filter(|f| NOTES.contains(f) || f.starts_with("own_config."))
        .map(|f| format!("tmpdir: {f}"));
    settings.chain(notes).collect()
}

/// Stop the load: not one write failed, and every acknowledged one is on
/// every node. The number of writes.
fn no_write_failed(lab: &Lab, load: Load, what: &str) -> usize {
    let first_id = load.first_id;
    let attempts = load.stop();
    let failed: Vec<&Attempt> = attempts.iter().filter(|a| !a.ok).collect();
    assert!(
        failed.is_empty(),
        "{what}: {} of {} writes through the VIP failed: {:?}",
        failed.len(),
        attempts.len(),
        &failed[..failed.len().min(5)]
    );
    let all: Vec<String> = NODES.iter().map(|n| n.to_string()).collect();
    assert_no_loss(lab, what, &attempts, first_id, &all);
    attempts.len()
}

fn primitive(lab: &Lab) -> String {
    lab.exec(
        "pg01",
        &[
            "cibadmin",
            "--query",
            "--xpath",
            "//primitive[@id='Postgresql']",
        ],
    )
}

#[test]
fn round_trip_from_the_stock_agent_with_crmsh_and_pcs() {
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

    // Four clients write through the VIP from here to the end, but for
    // the switchovers below.
    create_faults_table(&lab);
    let mut load = Load::start(&lab, Via::Vip, "dropin", 1, 900);
    for n in NODES {
        rows_on(&lab, n);
    }
    let p = lab.wait_for("stock agent: steady state", long, |q| {
        stock_healthy(q) && q.primary() == p.primary()
    });
    let (stock_nodes, stock_attrs) = by_role(&p);
    print_table("stock ocf:heartbeat:pgsql", &stock_attrs);
    let mut pids = postmaster_pids(&lab);
    let stock_primitive = primitive(&lab);
    let stock_traces: Vec<Vec<String>> = NODES.iter().map(|n| our_traces(&lab, n)).collect();
    assert_eq!(
        failures(&lab),
        Vec::<String>::new(),
        "failed actions under the stock agent"
    );

    let trips = [
        Switch {
            to: Agent::Ours,
            tool: "crm",
            as_shipped: true,
        },
        Switch {
            to: Agent::Stock,
            tool: "crm",
            as_shipped: false,
        },
        Switch {
            to: Agent::Ours,
            tool: "pcs",
            as_shipped: false,
        },
        Switch {
            to: Agent::Stock,
            tool: "pcs",
            as_shipped: false,
        },
    ];
    let mut took = Vec::new();
    let mut writes = 0;
    // Where the primary is: a switchover under ours moves it.
    let mut primary = stock_nodes["primary"].clone();
    for s in trips {
        let provider = match s.to {
            Agent::Ours => "rustpg",
            _ => "heartbeat",
        };
        let what = format!("{} to ocf:{provider}:pgsql", s.tool);
        let t = Instant::now();
        if s.to == Agent::Stock && primitive(&lab).contains("name=\"replication_hosts\"") {
            // Before going back, still on ours: the standbys stream from
            // master_ip again. Pacemaker may restart a standby for it (an
            // instance whose history holds only the probe of the switch
            // to ours): never the primary.
            let out = lab.run(&["before-going-back", s.tool]);
            let out_text = text(&out);
            println!("{out_text}");
            assert!(out.status.success(), "before-going-back failed");
            assert_documented(&printed_commands(&out_text, &primary));
            let now = postmaster_pids(&lab);
            assert_eq!(
                now[primary.as_str()],
                pids[primary.as_str()],
                "the primary restarted"
            );
            pids = now;
        }
        let mut args = vec!["switch-provider", provider, s.tool];
        if s.as_shipped {
            args.push("--as-shipped");
        }
        let out = lab.run(&args);
        let out_text = text(&out);
        println!("{out_text}");
        if !out.status.success() {
            panic!("{what} failed; logs in {}", save_logs(&lab));
        }
        let settled =
            |q: &Picture| picture_is_healthy(q, s.to) && q.primary() == Some(primary.as_str());
        let q = lab.wait_for(&format!("{what}: steady state"), long, settled);
        took.push((what.clone(), t.elapsed()));
        // On ours, a monitor round or two: nothing may drift afterwards
        // (a standby probed without a promoted instance would leave a
        // position behind).
        let q = if s.to == Agent::Ours {
            std::thread::sleep(Duration::from_secs(5));
            let q2 = lab.wait_for(&format!("{what}: steady state"), long, settled);
            assert_eq!(
                q.view.attributes, q2.view.attributes,
                "{what}: attributes drifted"
            );
            q2
        } else {
            q
        };
        let (nodes, attrs) = by_role(&q);
        print_table(&what, &attrs);
        if primary != nodes["primary"] {
            // Once in a CI run the promoted role moved with no failed
            // action: what decided it is in these lines.
            print_decisions(&lab);
        }
        assert_eq!(primary, nodes["primary"], "{what}: the primary moved");
        assert_eq!(
            pids,
            postmaster_pids(&lab),
            "{what}: a postmaster restarted"
        );
        assert_eq!(q.vip_on.as_deref(), Some(primary.as_str()));
        assert_eq!(
            failures(&lab),
            Vec::<String>::new(),
            "{what}: failed actions"
        );
        assert_documented(&printed_commands(&out_text, &primary));
        // The attributes that differ from the stock agent's at the start,
        // but for the position of the last promotion, which the
        // switchovers moved.
        let baseline = format!("{RSC}-master-baseline");
        let moved = |d: &Difference| d.1 == baseline && d.2.is_some() && d.3.is_some();
        let diffs: Vec<Difference> = differences(&stock_attrs, &attrs)
            .into_iter()
            .filter(|d| !moved(d))
            .collect();
        match s.to {
            Agent::Ours => {
                assert_eq!(agents(&lab), ["ocf:rustpg:pgsql"]);
                // Both agents name one sync standby: the attributes are
                // identical, but for our primary's record of it
                // (docs/compatibility.md R31).
                let documented: Vec<Difference> = vec![(
                    "primary".into(),
                    format!("{RSC}-acked-also-on"),
                    None,
                    Some(nodes["sync standby"].clone()),
                )];
                println!("differences (role, attribute, stock, ours): {diffs:#?}");
                if diffs != documented {
                    let logs = save_logs(&lab);
                    assert_eq!(
                        diffs, documented,
                        "{what}: differences not documented in docs/compatibility.md; logs in {logs}"
                    );
                }
                if s.as_shipped {
                    assert!(primitive(&lab).contains("name=\"auto_rewind\" value=\"true\""));
                    assert!(primitive(&lab).contains("name=\"replication_hosts\""));
                    let defaults = lab.exec("pg01", &["cibadmin", "-Q", "-o", "rsc_defaults"]);
                    assert!(defaults.contains("name=\"failure-timeout\" value=\"10s\""));
                    // A planned switchover, as a cluster that ran on ours
                    // for a while has had: the standby ours started (the
                    // old primary) and the primary ours promoted keep our
                    // settings in postgresql.auto.conf, and our records,
                    // which the way back must take out. Clients see
                    // errors while the primary moves: the load pauses.
                    writes += no_write_failed(&lab, load, &what);
                    let to = nodes["sync standby"].clone();
                    let out = lab.run(&["switchover", &to]);
                    assert!(out.status.success(), "switchover to {to}:\n{}", text(&out));
                    lab.wait_for("ours after the switchover", long, |q| {
                        picture_is_healthy(q, Agent::Ours) && q.primary() == Some(to.as_str())
                    });
                    load = Load::start(&lab, Via::Vip, "dropin", 1_000_000, 900);
                    pids = postmaster_pids(&lab);
                    primary = to;
                    for n in [&nodes["primary"], &nodes["sync standby"]] {
                        assert!(
                            !our_traces(&lab, n).is_empty(),
                            "{n}: none of our settings after the switchover"
                        );
                    }
                }
            }
            _ => {
                // Back where it started: the same attributes, parameters,
                // and none of our settings or notes.
                assert_eq!(agents(&lab), ["ocf:heartbeat:pgsql"]);
                assert_eq!(diffs, Vec::<Difference>::new(), "{what}: attributes");
                assert_eq!(
                    primitive(&lab),
                    stock_primitive,
                    "{what}: the primitive is not as it was under the stock agent"
                );
                let traces: Vec<Vec<String>> = NODES.iter().map(|n| our_traces(&lab, n)).collect();
                assert_eq!(traces, stock_traces, "{what}: our settings or notes left");
            }
        }
    }

    writes += no_write_failed(&lab, load, "the way back");
    println!(
        "drop-in: stock up in {:.0}s; {writes} writes through the VIP, none failed; {}; total {:.0}s",
        up.as_secs_f64(),
        took.iter()
            .map(|(w, d)| format!("{w} healthy after {:.1}s", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", "),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn printed_commands_name_nodes_by_role() {
    let out = "cluster: $ crm resource refresh Postgresql pg01\n\
               cluster: $ pcs resource refresh Postgresql node=pg02\n\
               cluster: $ crm resource param Postgresql set replication_hosts 'pg01=10.0.0.1 pg02=10.0.0.2'\n\
               cluster: $ rm -f x   # on pg03\n\
               cluster: probed after 3 s\n";
    assert_eq!(
        printed_commands(out, "pg01"),
        [
            "crm resource refresh Postgresql <primary>",
            "pcs resource refresh Postgresql node=<standby>",
            "crm resource param Postgresql set replication_hosts 'pg01=10.0.0.1 pg02=10.0.0.2'",
            "rm -f x",
        ]
    );
}
