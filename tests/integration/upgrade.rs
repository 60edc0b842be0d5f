//! Upgrading with the cluster running (docs/install.md, "Upgrade with
//! the cluster running"): three real PostgreSQL 15 servers on a CIB file
//! (cluster.rs), first all on the previous version (the first packaged
//! build, built here from this repository's history), then on this one,
//! either every node at once (the maintenance window) or one node at a time
//! in the documented order: the sync standby, the other standby, the
//! primary in place. At every step each node runs its own version's
//! monitors, and the stock picture holds: one primary, one sync standby
//! that alone may be promoted, one async standby. Then a switchover there
//! and back on the upgraded cluster.

use crate::cluster::{env_refs, AgentKind, Cluster, Notify, RESOURCE};
use crate::replication::{bring_up, in_notify_order, MONITOR, PROMOTED_MONITOR};
use crate::support::Major;
use rustpg::core::replication::Attr;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// The previous version: the first packaged build (0.1.0 of 2026-11-30).
const PREVIOUS_COMMIT: &str = "acd5ed25928f2826597f622427559c66188783f8";

/// The previous version's agent, built once per test process from this
/// repository's history (`git archive`, then cargo) in cargo's scratch
/// directory for tests.
pub fn previous_agent() -> &'static str {
    static BUILT: OnceLock<String> = OnceLock::new();
    BUILT.get_or_init(|| {
        let scratch = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("previous-agent");
        let (src, target) = (scratch.join("src"), scratch.join("target"));
        let binary = target.join("debug/pgsql");
        if !binary.exists() {
            let _ = std::fs::remove_dir_all(&src);
            std::fs::create_dir_all(&src).unwrap();
            run(
                "git archive",
                Command::new("sh").arg("-c").arg(format!(
                    "git -C {} archive {PREVIOUS_COMMIT} | tar -x -C {}",
                    env!("CARGO_MANIFEST_DIR"),
                    src.display()
                )),
                "the previous version's source comes from this repository's git history: \
                 run the tests in a clone",
            );
            // Its own workspace: cargo's scratch directory may lie inside
            // this checkout, whose workspace it is not part of.
            let manifest = src.join("Cargo.toml");
            let text = std::fs::read_to_string(&manifest).unwrap();
            if !text.contains("[workspace]") {
                std::fs::write(&manifest, format!("{text}\n[workspace]\n")).unwrap();
            }
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            run(
                "cargo build",
                Command::new(cargo)
                    .args([
                        "build", "--locked", "--quiet", "-p", "rustpg", "--bin", "pgsql",
                    ])
                    .current_dir(&src)
                    .env("CARGO_TARGET_DIR", &target),
                "the previous version's dependencies come from crates.io",
            );
        }
        binary.display().to_string()
    })
}

fn run(what: &str, cmd: &mut Command, hint: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} of {PREVIOUS_COMMIT} failed ({hint}): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn attr(c: &Cluster, node: &str, a: Attr) -> String {
    c.attribute(node, &a.name(RESOURCE)).unwrap_or_default()
}

/// The nodes upgraded so far run ours, the others the previous version.
struct Versions(BTreeSet<String>);

impl Versions {
    fn of(&self, node: &str) -> AgentKind {
        if self.0.contains(node) {
            AgentKind::Ours
        } else {
            AgentKind::Previous
        }
    }

    fn ok(&self, c: &Cluster, node: &str, action: &str, env: &[(&str, &str)]) {
        let out = c.run(self.of(node), node, action, env);
        assert_eq!(
            out.rc,
            0,
            "{action} on {node} ({:?}): {}",
            self.of(node),
            out.stderr
        );
    }

    fn notify_all(&self, c: &Cluster, n: &Notify) {
        let env = n.env();
        for node in in_notify_order(&c.node_names(), n) {
            self.ok(c, node, "notify", &env_refs(&env));
        }
    }

    /// Two monitor rounds, then the stock picture by role: the primary
    /// PRI/LATEST/1000, `sync` HS:sync/STREAMING|SYNC/100, the third
    /// HS:async/STREAMING|ASYNC/-INFINITY.
    fn settle(&self, c: &Cluster, primary: &str, sync: &str, step: &str) {
        for _ in 0..2 {
            let out = c.run(self.of(primary), primary, "monitor", &PROMOTED_MONITOR);
            assert_eq!(out.rc, 8, "{step}: primary monitor: {}", out.stderr);
            for n in c.node_names().into_iter().filter(|n| *n != primary) {
                self.ok(c, n, "monitor", &MONITOR);
            }
        }
        let third = c
            .node_names()
            .into_iter()
            .find(|n| *n != primary && *n != sync)
            .unwrap();
        let picture =
            |n: &str| [Attr::Status, Attr::DataStatus, Attr::Score].map(|a| attr(c, n, a));
        assert_eq!(
            [picture(primary), picture(sync), picture(third)],
            [
                ["PRI", "LATEST", "1000"],
                ["HS:sync", "STREAMING|SYNC", "100"],
                ["HS:async", "STREAMING|ASYNC", "-INFINITY"],
            ]
            .map(|p| p.map(String::from)),
            "{step}: the picture (primary {primary}, sync {sync}, {third}):\n{}",
            c.attributes_table()
        );
        println!("{step}: healthy\n{}", c.attributes_table());
    }

    /// A planned switchover from `old` to `new` as Pacemaker runs it:
    /// demote with its notifications, promote with its notifications, the
    /// standbys following the VIP. Each node runs its own version.
    fn switchover(&self, c: &Cluster, old: &str, new: &str) {
        let nodes = c.node_names();
        let rest: Vec<&str> = nodes.iter().copied().filter(|n| *n != old).collect();
        let demoting = Notify {
            kind: "pre",
            operation: "demote",
            demote: &[old],
            active: &nodes,
            promoted: &[old],
            unpromoted: &rest,
            all: &nodes,
            ..Notify::default()
        };
        c.set_primary_target(new);
        self.notify_all(c, &demoting);
        let post = Notify {
            kind: "post",
            ..demoting
        };
        self.ok(c, old, "demote", &env_refs(&post.env()));
        c.set_promoted(None);
        self.notify_all(c, &post);
        let all_unpromoted = Notify {
            kind: "pre",
            operation: "promote",
            promote: &[new],
            active: &nodes,
            unpromoted: &nodes,
            all: &nodes,
            ..Notify::default()
        };
        self.notify_all(c, &all_unpromoted);
        self.ok(c, new, "promote", &[]);
        c.set_promoted(Some(new));
        let others: Vec<&str> = nodes.iter().copied().filter(|n| *n != new).collect();
        self.notify_all(
            c,
            &Notify {
                kind: "post",
                promoted: &[new],
                unpromoted: &others,
                ..all_unpromoted
            },
        );
        // A standby that does not stream from the new primary yet is
        // restarted, as the harness does for a moved VIP.
        for n in &others {
            if c.streaming_from(n).as_deref() != Some(new) {
                self.ok(c, n, "stop", &[]);
                self.ok(c, n, "start", &[]);
            }
            c.wait_streaming(n, Duration::from_secs(30));
        }
    }
}

/// The cluster started on the previous version, and the data it wrote.
fn on_the_previous_version() -> (Cluster, String, String, Versions) {
    assert!(Path::new(previous_agent()).exists());
    let c = Cluster::new(Major::V15, &["pg01", "pg02", "pg03"]);
    let primary = bring_up(&c, AgentKind::Previous);
    let (sync, _) = crate::replication::sync_and_potential(&c, &primary);
    let v = Versions(BTreeSet::new());
    v.settle(&c, &primary, &sync, "all on the previous version");
    c.sql(
        &primary,
        "create table upgrade(x int); insert into upgrade values (1)",
    );
    (c, primary, sync, v)
}

/// After the upgrade: a switchover there and back, and every row on
/// every node.
fn upgraded_cluster_works(c: &Cluster, primary: &str, sync: &str, v: &Versions) {
    v.switchover(c, primary, sync);
    c.sql(sync, "insert into upgrade values (2)");
    v.settle(c, sync, primary, "upgraded, after a switchover");
    v.switchover(c, sync, primary);
    v.settle(c, primary, sync, "upgraded, after the switchover back");
    for n in c.node_names() {
        assert_eq!(
            c.sql(n, "select string_agg(x::text, ',' order by x) from upgrade"),
            "1,2"
        );
    }
}

#[test]
fn every_node_upgraded_at_once() {
    let (c, primary, sync, mut v) = on_the_previous_version();
    v.0.extend(c.node_names().into_iter().map(String::from));
    v.settle(&c, &primary, &sync, "every node upgraded at once");
    upgraded_cluster_works(&c, &primary, &sync, &v);
}

#[test]
fn nodes_upgraded_one_at_a_time() {
    let (c, primary, sync, mut v) = on_the_previous_version();
    let third = c
        .node_names()
        .into_iter()
        .find(|n| *n != primary && *n != sync)
        .unwrap()
        .to_string();
    for (node, step) in [
        (&sync, "the sync standby upgraded"),
        (&third, "both standbys upgraded"),
        (&primary, "the primary upgraded in place"),
    ] {
        v.0.insert(node.clone());
        v.settle(&c, &primary, &sync, step);
    }
    upgraded_cluster_works(&c, &primary, &sync, &v);
}
