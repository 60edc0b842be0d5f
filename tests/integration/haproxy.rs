//! HAProxy in front of `rustpgctl serve`, as operators put it in front of
//! Patroni's REST API: `rustpgctl serve` on every node (on its own
//! address), Debian's haproxy on the lab's client host with `option
//! httpchk GET /primary` in front of every node's PostgreSQL, and a load
//! writing through it beside a load through the VIP. `Routed` starts them
//! and, for each move of the primary role, how long each way took to
//! write again; at the end no write through HAProxy reached a standby and
//! none acknowledged is lost.

use crate::lab::Lab;
use crate::load::{assert_no_loss, create_faults_table, Attempt, Load, Via};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Where HAProxy listens in the client host (its loopback).
pub const HAPROXY_PORT: u16 = 5433;
/// Where `rustpgctl serve` listens on every node.
const SERVE_PORT: u16 = 8008;
const CTL: &str = env!("CARGO_BIN_EXE_rustpgctl");

/// A node's own address (its eth0's first one: the VIP comes after it).
fn node_address(lab: &Lab, node: &str) -> String {
    let out = lab.exec(node, &["ip", "-4", "-o", "addr", "show", "dev", "eth0"]);
    out.split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .unwrap_or_else(|| panic!("no address on {node}'s eth0: {out}"))
        .to_string()
}

/// HAProxy's configuration: TCP to PostgreSQL, health from /primary.
fn config(backends: &[(String, String)]) -> String {
    let mut c = format!(
        "global\n    maxconn 200\n\ndefaults\n    mode tcp\n    timeout connect 2s\n    \
         timeout client 60s\n    timeout server 60s\n    timeout check 2s\n\n\
         listen postgres\n    bind 127.0.0.1:{HAPROXY_PORT}\n    option httpchk GET /primary\n    \
         http-check expect status 200\n    \
         default-server inter 500ms fall 1 rise 1 on-marked-down shutdown-sessions port {SERVE_PORT}\n"
    );
    for (node, address) in backends {
        c.push_str(&format!("    server {node} {address}:5432 check\n"));
    }
    c
}

/// `rustpgctl serve` on every node and HAProxy on the client host; both
/// stopped when dropped.
pub struct HaProxy<'l> {
    lab: &'l Lab,
    haproxy: Child,
    serving: Vec<String>,
}

impl<'l> HaProxy<'l> {
    pub fn start(lab: &'l Lab) -> HaProxy<'l> {
        let mut backends = Vec::new();
        for node in lab.nodes() {
            let address = node_address(lab, node);
            let listen = format!("{address}:{SERVE_PORT}");
            // Detached inside the node, its output nowhere, so that
            // `lab/cluster.sh exec` returns (the words are arguments, not
            // shell text).
            let detached = "exec setsid -f \"$0\" serve --listen \"$1\" --workers 2 \
                            </dev/null >/dev/null 2>&1";
            lab.exec(node, &["sh", "-c", detached, CTL, &listen]);
            backends.push((node.to_string(), address));
        }
        let file = PathBuf::from(lab.root()).join("haproxy.cfg");
        std::fs::write(&file, config(&backends)).unwrap();
        let haproxy = Command::new("ip")
            .args(["netns", "exec", &lab.switch_ns(), "haproxy", "-db", "-f"])
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("haproxy (Debian's haproxy; scripts/install-deps.sh)");
        HaProxy {
            lab,
            haproxy,
            serving: lab.nodes().iter().map(|n| n.to_string()).collect(),
        }
    }
}

impl Drop for HaProxy<'_> {
    fn drop(&mut self) {
        let _ = self.haproxy.kill();
        let _ = self.haproxy.wait();
        for node in &self.serving {
            self.lab
                .run(&["exec", node, "pkill", "-f", &format!("{CTL} serve")]);
        }
    }
}

/// How long one move of the primary role took to write again, each way.
pub struct Move {
    pub what: String,
    pub via_vip: Option<f64>,
    pub via_haproxy: Option<f64>,
}

/// HAProxy and two loads, one through it and one through the VIP.
pub struct Routed<'l> {
    _proxy: HaProxy<'l>,
    through_vip: Load,
    through_haproxy: Load,
    pub moves: Vec<Move>,
}

/// The first ids of the two loads, apart from every other load's.
const FIRST_ID_VIP: i64 = 900_000_000;
const FIRST_ID_HAPROXY: i64 = 910_000_000;

impl<'l> Routed<'l> {
    pub fn start(lab: &'l Lab) -> Routed<'l> {
        create_faults_table(lab);
        let proxy = HaProxy::start(lab);
        // Load::start waits for its first commits: through HAProxy, that is
        // also the wait for its first checks.
        let through_haproxy = Load::start(lab, Via::HaProxy, "haproxy", FIRST_ID_HAPROXY, 900);
        let through_vip = Load::start(lab, Via::Vip, "haproxy-vip", FIRST_ID_VIP, 900);
        Routed {
            _proxy: proxy,
            through_vip,
            through_haproxy,
            moves: Vec::new(),
        }
    }

    /// The role moved away from `old` at `t0` (ms): the first write each
    /// way on another node.
    pub fn moved(&mut self, what: &str, old: &str, t0: u64) {
        let wait = Duration::from_secs(60);
        let via_vip = self.through_vip.first_write_after(t0, Some(old), wait);
        let via_haproxy = self.through_haproxy.first_write_after(t0, Some(old), wait);
        let m = Move {
            what: what.to_string(),
            via_vip: via_vip.map(|v| v.0),
            via_haproxy: via_haproxy.map(|v| v.0),
        };
        let s = |v: Option<f64>| v.map_or("never".into(), |s| format!("{s:.2} s"));
        println!(
            "haproxy: {}: first write through the VIP after {}, through HAProxy after {}",
            m.what,
            s(m.via_vip),
            s(m.via_haproxy)
        );
        self.moves.push(m);
    }

    /// Stop both loads: no write through HAProxy reached a standby (which
    /// would refuse it as read-only), every move wrote again both ways,
    /// and no acknowledged write is lost on `nodes`.
    pub fn finish(self, lab: &Lab, nodes: &[String]) {
        let proxied: Vec<Attempt> = self.through_haproxy.stop();
        let direct: Vec<Attempt> = self.through_vip.stop();
        let on_standby: Vec<&Attempt> = proxied
            .iter()
            .filter(|a| !a.ok && a.msg.contains("read-only"))
            .collect();
        assert!(
            on_standby.is_empty(),
            "writes through HAProxy reached a standby: {on_standby:?}"
        );
        for m in &self.moves {
            assert!(
                m.via_vip.is_some() && m.via_haproxy.is_some(),
                "{}: no write again within 60 s",
                m.what
            );
        }
        assert_no_loss(lab, "through HAProxy", &proxied, FIRST_ID_HAPROXY, nodes);
        assert_no_loss(lab, "through the VIP", &direct, FIRST_ID_VIP, nodes);
        let ok = proxied.iter().filter(|a| a.ok).count();
        println!(
            "haproxy: {ok} writes acknowledged through HAProxy, {} failed, none on a standby",
            proxied.len() - ok
        );
    }
}
