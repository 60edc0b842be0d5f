//! A multi-node replication harness on one host, without a running cluster.
//!
//! Both agents (the stock `ocf:heartbeat:pgsql` shell script and our binary)
//! are driven through the same environment so that their results can be
//! compared ("differential test oracle", stock-agent-contract.md §6).
//!
//! What a [`Cluster`] is:
//!
//! * Per node: a pgdata, a socket dir, a logfile, the agent's `tmpdir` and a
//!   TCP port on 127.0.0.1. The port and socket dir live in a per-node
//!   `harness-node.conf` included from `postgresql.conf`, so each server
//!   listens on its own port whoever starts it (the agents also export
//!   `PGPORT`=`pgport`, which agrees with it).
//! * A CIB file (`CIB_file`). `crm_attribute`, `crm_mon` and `crm_resource`
//!   all work against it offline: reboot-lifetime attributes land in
//!   `status/node_state/transient_attributes`, forever ones in
//!   `configuration/nodes/node/instance_attributes`. The clone's role as seen
//!   by `crm_mon` is faked by injecting operation results with
//!   `crm_simulate` ([`Cluster::set_promoted`], [`Cluster::set_online`]).
//! * For the stock agent: fake `uname` and `crm_node` first in `PATH` that
//!   print `OCF_RESKEY_CRM_meta_on_node` for `-n` (see `install_stock_shims`
//!   for why `uname` is the one really used), and a private copy of
//!   `ocf-shellfuncs` whose `ocf_promotion_score` puts `-p` last: Pacemaker
//!   2.1.5 parses `crm_attribute -p -v -INFINITY` as `-I -N FINITY`
//!   (lab-findings.md §5.1). `crm_attribute -p` finds the node from
//!   `OCF_RESKEY_CRM_meta_on_node`, so no `-N` is needed. `crm_resource -B`
//!   (pre-promote ban) writes a `cli-ban-*` constraint into the file.
//!   `attrd_updater` is only called with `check_wal_receiver=true` and
//!   fails offline ("Connection refused", rc 102); it is not faked.
//!
//! Replication topology. Every agent start writes `primary_conninfo` with
//! `host=<master_ip> port=<pgport>`, i.e. the node's *own* port, because the
//! stock agent assumes one port for all nodes. The harness therefore appends
//! `host=127.0.0.1 port=<target port>` through `primary_conninfo_opt` (later
//! keys win in libpq), where the target is [`Cluster::set_primary_target`].
//! The conninfo is only written at `start`, so a standby that should follow a
//! different node must be stopped and started again through the agent
//! ([`Cluster::repoint_standbys`]). A standby that already streams from the
//! node being promoted follows the promotion by itself
//! (`recovery_target_timeline = 'latest'`). Before any promotion, every node
//! is a standby pointing nowhere (port 1, where nothing listens), as in a
//! real cluster whose VIP is down while nobody is promoted: no standby
//! cascades from another, so their positions are final for the election.
//!
//! Election quirk worth knowing: with equal LSNs the stock agent's counter
//! restarts whenever the set of published `-xlog-loc` values changes, so
//! when monitors run in node order the *last* node is the first to collect
//! `xlog_check_count` unchanged samples and claims 1000 in round 4.

use crate::support::{chown_to_postgres, require_root, run_as_postgres, AgentOutput, Major, AGENT};
use rustpg::core::crm_mon::{self, ClusterView};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The stock shell agent this project replaces.
pub const STOCK_AGENT: &str = "/usr/lib/ocf/resource.d/heartbeat/pgsql";
/// The resource (primitive) id; also `OCF_RESOURCE_INSTANCE`.
pub const RESOURCE: &str = "pgsql";
/// The promotable clone wrapping [`RESOURCE`].
pub const CLONE: &str = "msPostgresql";

/// Which agent [`Cluster::run`] executes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentKind {
    /// resource-agents 4.12 `heartbeat/pgsql`, with the offline shims above.
    Stock,
    /// This crate's binary (`CARGO_BIN_EXE_pgsql`).
    Ours,
    /// The previous version's binary, built from this repository's
    /// history ([`crate::upgrade::previous_agent`]).
    Previous,
}

/// The notify variables Pacemaker passes for one notification, under both
/// the legacy (`master`/`slave`) and the current (`promoted`/`unpromoted`)
/// names. Lists are node names joined by spaces; an empty list is a single
/// space, which the stock agent tests for (`notify_slave_uname = " "`).
#[derive(Debug, Clone, Default)]
pub struct Notify<'a> {
    /// "pre" or "post".
    pub kind: &'a str,
    /// "start", "stop", "promote" or "demote".
    pub operation: &'a str,
    pub start: &'a [&'a str],
    pub stop: &'a [&'a str],
    pub promote: &'a [&'a str],
    pub demote: &'a [&'a str],
    pub active: &'a [&'a str],
    pub promoted: &'a [&'a str],
    pub unpromoted: &'a [&'a str],
    pub all: &'a [&'a str],
}

impl Notify<'_> {
    /// The `OCF_RESKEY_CRM_meta_notify_*` pairs, for [`Cluster::run`]
    /// through [`env_refs`].
    pub fn env(&self) -> Vec<(String, String)> {
        let list = |nodes: &[&str]| {
            if nodes.is_empty() {
                " ".to_string()
            } else {
                nodes.join(" ")
            }
        };
        let mut pairs = vec![
            ("type".to_string(), self.kind.to_string()),
            ("operation".to_string(), self.operation.to_string()),
        ];
        for (name, nodes) in [
            ("start", self.start),
            ("stop", self.stop),
            ("promote", self.promote),
            ("demote", self.demote),
            ("active", self.active),
            ("master", self.promoted),
            ("promoted", self.promoted),
            ("slave", self.unpromoted),
            ("unpromoted", self.unpromoted),
            ("all", self.all),
        ] {
            pairs.push((format!("{name}_uname"), list(nodes)));
        }
        pairs
            .into_iter()
            .map(|(k, v)| (format!("OCF_RESKEY_CRM_meta_notify_{k}"), v))
            .collect()
    }
}

/// Borrow owned environment pairs as [`Cluster::run`] takes them.
pub fn env_refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

impl AgentKind {
    pub fn program(self) -> &'static str {
        match self {
            AgentKind::Stock => STOCK_AGENT,
            AgentKind::Ours => AGENT,
            AgentKind::Previous => crate::upgrade::previous_agent(),
        }
    }
}

/// One simulated node: its name and private paths.
#[derive(Debug)]
pub struct Node {
    pub name: String,
    pub pgdata: PathBuf,
    pub socketdir: PathBuf,
    pub logfile: PathBuf,
    pub tmpdir: PathBuf,
    pub port: u16,
}

/// Attributes of the CIB: (node, name) -> (lifetime "reboot"|"forever", value).
pub type Attributes = BTreeMap<(String, String), (String, String)>;

/// N PostgreSQL data dirs (one primary-to-be, N-1 base backups of it) plus
/// a CIB file and the environment to run either agent on any node.
/// Everything lives under one temp root, removed on drop after every server
/// is stopped (`-m immediate`).
pub struct Cluster {
    pub major: Major,
    pub nodes: Vec<Node>,
    /// The CIB file exported as `CIB_file`.
    pub cib: PathBuf,
    /// Private copy of /usr/lib/ocf/lib/heartbeat (`OCF_FUNCTIONS_DIR`).
    ocf_lib: PathBuf,
    /// Fake binaries placed first in `PATH`.
    bin: PathBuf,
    primary_target: RefCell<String>,
    /// Parameter overrides for every node (`set_param`).
    params: RefCell<BTreeMap<String, String>>,
    /// Standbys outside the cluster ([`Cluster::start_external`]).
    externals: RefCell<Vec<Node>>,
    // Last: removed after Drop::drop has stopped the servers.
    root: tempfile::TempDir,
}

impl Cluster {
    /// Build the data dirs and the CIB; all servers end stopped, the first
    /// one cleanly shut down, the others fresh base backups (backup_label).
    pub fn new(major: Major, names: &[&str]) -> Cluster {
        require_root();
        assert!(!names.is_empty(), "a cluster needs nodes");
        let root = tempfile::Builder::new()
            .prefix("rustpg-cluster-")
            .tempdir_in("/tmp")
            .unwrap();
        // postgres must be able to traverse into its directories.
        set_mode(root.path(), 0o755);
        let ports = free_ports(names.len());
        let nodes: Vec<Node> = names
            .iter()
            .zip(ports)
            .map(|(name, port)| make_node_dirs(root.path(), name, port))
            .collect();
        let ocf_lib = root.path().join("ocf-lib");
        let bin = root.path().join("bin");
        let cluster = Cluster {
            major,
            cib: root.path().join("cib.xml"),
            ocf_lib,
            bin,
            primary_target: RefCell::new(String::new()),
            params: RefCell::new(BTreeMap::new()),
            externals: RefCell::new(Vec::new()),
            nodes,
            root,
        };
        cluster.init_data_dirs();
        cluster.install_stock_shims();
        cluster.init_cib();
        cluster
    }

    /// The temp root holding everything.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    pub fn node(&self, name: &str) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    }

    pub fn node_names(&self) -> Vec<&str> {
        self.nodes.iter().map(|n| n.name.as_str()).collect()
    }

    /// A server program (initdb, pg_ctl) or a client one (psql,
    /// pg_basebackup) of the cluster's major.
    pub fn bin(&self, program: &str) -> PathBuf {
        match program {
            "initdb" | "pg_ctl" | "postgres" => self.major.bindir().join(program),
            _ => self.major.client_bindir().join(program),
        }
    }

    // ----- PostgreSQL set-up -------------------------------------------

    fn init_data_dirs(&self) {
        let first = &self.nodes[0];
        let pgdata = first.pgdata.to_str().unwrap();
        let mut args = vec!["-D", pgdata, "-A", "trust", "-U", "postgres"];
        args.extend(self.major.initdb_quiet());
        run_as_postgres(&self.bin("initdb"), &args);
        // initdb -A trust already trusts local and 127.0.0.1 (replication
        // included); say it explicitly so the harness does not depend on it.
        std::fs::write(
            first.pgdata.join("pg_hba.conf"),
            "local all all trust\nlocal replication all trust\n\
             host all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n",
        )
        .unwrap();
        crate::support::append(
            &first.pgdata.join("postgresql.conf"),
            &format!(
                "\n# rustpg cluster harness\nwal_level = replica\nmax_wal_senders = 10\n\
                 max_replication_slots = 10\nhot_standby = on\nwal_log_hints = on\n{}\n\
                 fsync = off\nshared_buffers = 16MB\nmax_connections = 30\n\
                 listen_addresses = '127.0.0.1'\n\
                 # port and unix_socket_directories differ per node\n\
                 include 'harness-node.conf'\n",
                self.major.wal_keep_64mb()
            ),
        );
        self.write_node_conf(first);
        let pg_ctl = self.bin("pg_ctl");
        let log = first.logfile.to_str().unwrap();
        run_as_postgres(&pg_ctl, &["-D", pgdata, "-l", log, "-w", "start"]);
        for node in &self.nodes[1..] {
            self.base_backup_into(node, first.port);
        }
        run_as_postgres(&pg_ctl, &["-D", pgdata, "-m", "fast", "-w", "stop"]);
    }

    /// The per-node settings; a base backup copied the first node's file.
    /// A new base backup of the server on `port` into the node's (empty)
    /// data directory, with the node's own port and socket directory. No
    /// -R: the agents write primary_conninfo themselves, and -R's
    /// postgresql.auto.conf line would override theirs (§4.1).
    fn base_backup_into(&self, node: &Node, port: u16) {
        run_as_postgres(
            &self.bin("pg_basebackup"),
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                "-D",
                node.pgdata.to_str().unwrap(),
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ],
        );
        self.write_node_conf(node);
    }

    /// A standby outside the cluster, as a DR site runs one: a new base
    /// backup of `from`, streaming from it with `name` as its
    /// application_name, started by hand (no agent runs it). PostgreSQL 12
    /// and later (standby.signal).
    pub fn start_external(&self, name: &str, from: &str) {
        let port = free_ports(1)[0];
        let node = make_node_dirs(self.root(), name, port);
        let from_port = self.node(from).port;
        self.base_backup_into(&node, from_port);
        // Its own settings only: the backup brought the agent's for `from`.
        let auto_conf = node.pgdata.join("postgresql.auto.conf");
        std::fs::write(
            &auto_conf,
            format!(
                "primary_conninfo = 'host=127.0.0.1 port={from_port} user=postgres \
                 application_name={name}'\nrecovery_target_timeline = 'latest'\n"
            ),
        )
        .unwrap();
        chown_to_postgres(&auto_conf);
        let signal = node.pgdata.join("standby.signal");
        std::fs::write(&signal, "").unwrap();
        chown_to_postgres(&signal);
        let (pgdata, log) = (
            node.pgdata.to_str().unwrap(),
            node.logfile.to_str().unwrap(),
        );
        run_as_postgres(
            &self.bin("pg_ctl"),
            &["-D", pgdata, "-l", log, "-w", "start"],
        );
        self.externals.borrow_mut().push(node);
    }

    /// Stop a standby outside the cluster at once (`-m immediate`): its
    /// connection to the primary goes with it.
    pub fn stop_external(&self, name: &str) {
        let externals = self.externals.borrow();
        let node = externals
            .iter()
            .find(|n| n.name == name)
            .expect("no such external");
        self.stop_immediately(&node.pgdata);
    }

    fn stop_immediately(&self, pgdata: &Path) {
        if !running(pgdata) {
            return;
        }
        let (uid, gid) = crate::support::postgres_user();
        let _ = Command::new(self.bin("pg_ctl"))
            .args([
                "-D",
                pgdata.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ])
            .uid(uid.as_raw())
            .gid(gid.as_raw())
            .current_dir("/")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// Resynchronise a stopped node as an operator would: empty its data
    /// directory and take a new base backup of `from`.
    pub fn resynchronise(&self, node: &str, from: &str) {
        let n = self.node(node);
        for entry in std::fs::read_dir(&n.pgdata).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                std::fs::remove_dir_all(&path).unwrap();
            } else {
                std::fs::remove_file(&path).unwrap();
            }
        }
        self.base_backup_into(n, self.node(from).port);
    }

    fn write_node_conf(&self, node: &Node) {
        let path = node.pgdata.join("harness-node.conf");
        std::fs::write(
            &path,
            format!(
                "port = {}\nunix_socket_directories = '{}'\n",
                node.port,
                node.socketdir.display()
            ),
        )
        .unwrap();
        chown_to_postgres(&path);
    }

    // ----- Stock agent shims -------------------------------------------

    fn install_stock_shims(&self) {
        // ocf-shellfuncs sources its siblings from OCF_FUNCTIONS_DIR, so copy
        // the whole directory and patch one line.
        let dst = self.ocf_lib.join("heartbeat");
        std::fs::create_dir_all(&dst).unwrap();
        for entry in std::fs::read_dir("/usr/lib/ocf/lib/heartbeat").unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                std::fs::copy(entry.path(), dst.join(entry.file_name())).unwrap();
            }
        }
        let funcs = dst.join("ocf-shellfuncs");
        let text = std::fs::read_to_string(&funcs).unwrap();
        let broken = "${HA_SBIN_DIR}/crm_attribute -p $@";
        assert!(
            text.contains(broken),
            "ocf_promotion_score changed upstream"
        );
        std::fs::write(
            &funcs,
            text.replace(broken, "${HA_SBIN_DIR}/crm_attribute \"$@\" -p"),
        )
        .unwrap();

        // The node name comes from the OCF environment, not the host. On
        // 2.1.5 ocf_local_nodename misparses `pacemakerd -$` (its grep also
        // matches "...the Pacemaker project contributors") and falls back to
        // `uname -n`, so both are faked; crm_node for other versions.
        std::fs::create_dir_all(&self.bin).unwrap();
        for (program, flag, real) in [
            ("crm_node", "-n|--name", "/usr/sbin/crm_node"),
            ("uname", "-n|--nodename", "/usr/bin/uname"),
        ] {
            let path = self.bin.join(program);
            let script = format!(
                "#!/bin/sh\n# rustpg cluster harness: node name from the OCF environment\n\
                 case \"$*\" in {flag}) echo \"$OCF_RESKEY_CRM_meta_on_node\"; exit 0;; esac\n\
                 exec {real} \"$@\"\n"
            );
            std::fs::write(&path, script).unwrap();
            set_mode(&path, 0o755);
        }
    }

    // ----- CIB -----------------------------------------------------------

    fn init_cib(&self) {
        // A DC with quorum, as in a healthy live cluster: crm_mon then says
        // `with_quorum="true"`, which the primary needs before it stops
        // waiting for standbys that left.
        let empty = tool("cibadmin", &["--empty"], &[]).replacen(
            "<cib ",
            "<cib have-quorum=\"1\" dc-uuid=\"1\" ",
            1,
        );
        std::fs::write(&self.cib, empty).unwrap();
        let cib = [("CIB_file", self.cib.to_str().unwrap())];
        for (i, n) in self.nodes.iter().enumerate() {
            let xml = format!("<node id=\"{}\" uname=\"{}\"/>", i + 1, n.name);
            tool("cibadmin", &["-C", "-o", "nodes", "-X", &xml], &cib);
        }
        for (k, v) in [("stonith-enabled", "false"), ("no-quorum-policy", "ignore")] {
            tool(
                "crm_attribute",
                &["-t", "crm_config", "-n", k, "-v", v],
                &cib,
            );
        }
        let clone = format!(
            "<clone id=\"{CLONE}\">\
               <meta_attributes id=\"{CLONE}-meta\">\
                 <nvpair id=\"{CLONE}-meta-promotable\" name=\"promotable\" value=\"true\"/>\
                 <nvpair id=\"{CLONE}-meta-promoted-max\" name=\"promoted-max\" value=\"1\"/>\
                 <nvpair id=\"{CLONE}-meta-notify\" name=\"notify\" value=\"true\"/>\
               </meta_attributes>\
               <primitive id=\"{RESOURCE}\" class=\"ocf\" provider=\"heartbeat\" type=\"pgsql\">\
                 <operations>\
                   <op id=\"{RESOURCE}-monitor-4s\" name=\"monitor\" interval=\"4s\" timeout=\"60s\"/>\
                   <op id=\"{RESOURCE}-monitor-3s\" name=\"monitor\" interval=\"3s\" timeout=\"60s\" role=\"Promoted\"/>\
                 </operations>\
               </primitive>\
             </clone>"
        );
        tool("cibadmin", &["-C", "-o", "resources", "-X", &clone], &cib);
        // Bring every node up and run the transition once: probes and starts
        // are "executed" (faked), so every instance shows Unpromoted.
        let mut args = vec![];
        for n in &self.nodes {
            args.extend(["--node-up", n.name.as_str()]);
        }
        args.push("-S");
        self.simulate(&args);
        for n in &self.nodes {
            assert!(self.is_online(&n.name), "{} not online in crm_mon", n.name);
        }
        assert_eq!(self.promoted(), None);
    }

    /// `crm_simulate -x cib <args> -O cib`, through a temp file.
    fn simulate(&self, args: &[&str]) {
        let out = self.root().join("cib.new.xml");
        let mut all = vec!["-x", self.cib.to_str().unwrap()];
        all.extend_from_slice(args);
        all.extend(["-O", out.to_str().unwrap()]);
        tool("crm_simulate", &all, &[]);
        std::fs::rename(out, &self.cib).unwrap();
    }

    /// `crm_mon -1 --output-as=xml` against the CIB file, as the agent sees it.
    pub fn crm_mon_xml(&self) -> String {
        tool(
            "crm_mon",
            &["-1", "--output-as=xml"],
            &[("CIB_file", self.cib.to_str().unwrap())],
        )
    }

    /// The node crm_mon shows the resource Promoted on, if any.
    pub fn promoted(&self) -> Option<String> {
        let mut promoted = self.promoted_nodes();
        assert!(promoted.len() <= 1, "several promoted: {promoted:?}");
        promoted.pop()
    }

    /// Every node crm_mon shows the resource Promoted on.
    pub fn promoted_nodes(&self) -> Vec<String> {
        self.crm_mon().promoted
    }

    /// Whether crm_mon shows the node `online="true"`.
    pub fn is_online(&self, node: &str) -> bool {
        self.crm_mon().online(node)
    }

    /// crm_mon's XML as the agent parses it.
    fn crm_mon(&self) -> ClusterView {
        crm_mon::parse(&self.crm_mon_xml(), RESOURCE).unwrap()
    }

    /// Make crm_mon show the instance Promoted on `node` and Unpromoted on
    /// the other online nodes (`None`: nowhere promoted). Done by injecting
    /// successful demote/promote results; a probe returning 8 would also
    /// work but adds fail-count attributes. Checked against crm_mon.
    pub fn set_promoted(&self, node: Option<&str>) {
        self.set_promoted_on(node.as_slice());
    }

    /// [`Cluster::set_promoted`] on several nodes at once (two primaries,
    /// as Pacemaker shows them when a partition heals).
    pub fn set_promoted_on(&self, nodes: &[&str]) {
        let mut injects = vec![];
        for n in &self.nodes {
            if !self.is_online(&n.name) {
                continue;
            }
            let op = if nodes.contains(&n.name.as_str()) {
                "promote"
            } else {
                "demote"
            };
            injects.push(format!("{RESOURCE}_{op}_0@{}=0", n.name));
        }
        let mut args = vec![];
        for i in &injects {
            args.extend(["-i", i.as_str()]);
        }
        self.simulate(&args);
        let mut want: Vec<String> = nodes.iter().map(|n| n.to_string()).collect();
        let mut shown = self.promoted_nodes();
        want.sort();
        shown.sort();
        assert_eq!(shown, want, "crm_mon after set_promoted");
    }

    /// Take a node offline (Pacemaker then forgets its transient
    /// attributes and resource history, as crm_simulate does) or bring it
    /// back with the instance started (Unpromoted).
    pub fn set_online(&self, node: &str, online: bool) {
        if online {
            let start = format!("{RESOURCE}_start_0@{node}=0");
            self.simulate(&["--node-up", node, "-i", &start]);
        } else {
            self.simulate(&["--node-down", node]);
        }
        assert_eq!(self.is_online(node), online, "crm_mon after set_online");
    }

    /// Set a node's transient attribute, as another agent would.
    /// The primitive's provider in the CIB (the harness defines it as
    /// `heartbeat`; `rustpgctl` reads only `ocf:rustpg:pgsql` primitives).
    pub fn set_provider(&self, provider: &str) {
        let xml = format!("<primitive id=\"{RESOURCE}\" provider=\"{provider}\"/>");
        let cib = [("CIB_file", self.cib.to_str().unwrap())];
        tool(
            "cibadmin",
            &["--modify", "-o", "resources", "-X", &xml],
            &cib,
        );
    }

    pub fn set_attribute(&self, node: &str, name: &str, value: &str) {
        self.transient(node, name, &["--update", value]);
    }

    /// Set a node's permanent attribute (the `nodes` section), as the agent
    /// writes its records.
    pub fn set_permanent_attribute(&self, node: &str, name: &str, value: &str) {
        tool(
            "crm_attribute",
            &[
                "--lifetime=forever",
                "--node",
                node,
                "--name",
                name,
                "--update",
                value,
            ],
            &[("CIB_file", self.cib.to_str().unwrap())],
        );
    }

    /// The note by which a standby's monitor bounds its deferral of the
    /// election while a promotion is pending.
    pub fn deferral_note(&self, node: &str) -> PathBuf {
        self.node(node).tmpdir.join("election_deferred")
    }

    /// Age `node`'s deferral note past its 20 s bound, as if the promotion
    /// it waited for had never come.
    /// The note holds the boot's id and the boot clock's reading in ms.
    pub fn expire_deferral(&self, node: &str) {
        let note = self.deferral_note(node);
        let text = std::fs::read_to_string(&note).unwrap();
        let (boot, at) = text.trim().split_once(' ').unwrap();
        let at: u64 = at.parse().unwrap();
        std::fs::write(&note, format!("{boot} {}\n", at - 25_000)).unwrap();
    }

    /// Make crm_mon show `node`'s instance failed and stopped, as after a
    /// start that failed (its fail count set).
    pub fn fail_instance(&self, node: &str) {
        self.simulate(&["-i", &format!("{RESOURCE}_start_0@{node}=1")]);
    }

    /// Delete a node's transient attribute (as a restarted attrd forgets a
    /// private one).
    pub fn delete_attribute(&self, node: &str, name: &str) {
        self.transient(node, name, &["--delete"]);
    }

    fn transient(&self, node: &str, name: &str, op: &[&str]) {
        let mut args = vec!["--lifetime=reboot", "--node", node, "--name", name];
        args.extend_from_slice(op);
        tool(
            "crm_attribute",
            &args,
            &[("CIB_file", self.cib.to_str().unwrap())],
        );
    }

    /// Every node attribute in the CIB file. Reboot lifetime: the status
    /// section's `transient_attributes`; forever: the `nodes` section.
    pub fn attributes(&self) -> Attributes {
        let xml = std::fs::read_to_string(&self.cib).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let mut out = Attributes::new();
        for pair in doc.descendants().filter(|n| n.has_tag_name("nvpair")) {
            let path: Vec<&str> = pair
                .ancestors()
                .skip(1)
                .take(3)
                .map(|n| n.tag_name().name())
                .collect();
            let (lifetime, owner) = match path.as_slice() {
                ["instance_attributes", "node", "nodes"] => {
                    ("forever", pair.parent().unwrap().parent())
                }
                ["instance_attributes", "transient_attributes", "node_state"] => {
                    ("reboot", pair.parent().unwrap().parent().unwrap().parent())
                }
                _ => continue,
            };
            let uname = owner.and_then(|n| n.attribute("uname")).unwrap_or_default();
            out.insert(
                (
                    uname.to_string(),
                    pair.attribute("name").unwrap().to_string(),
                ),
                (
                    lifetime.into(),
                    pair.attribute("value").unwrap_or_default().to_string(),
                ),
            );
        }
        out
    }

    /// One attribute's value, whatever its lifetime.
    pub fn attribute(&self, node: &str, name: &str) -> Option<String> {
        self.attributes()
            .remove(&(node.to_string(), name.to_string()))
            .map(|(_, v)| v)
    }

    /// The attribute map as an aligned table, for test output.
    pub fn attributes_table(&self) -> String {
        self.attributes()
            .iter()
            .map(|((node, name), (life, value))| format!("{node:6} {name:24} {life:8} {value}\n"))
            .collect()
    }

    // ----- Agent environment and runs ------------------------------------

    /// Set a cluster property (`crm_config`), e.g. `stonith-enabled`.
    pub fn set_cluster_option(&self, name: &str, value: &str) {
        let cib = [("CIB_file", self.cib.to_str().unwrap())];
        tool(
            "crm_attribute",
            &["-t", "crm_config", "-n", name, "-v", value],
            &cib,
        );
    }

    /// Override (or add) an agent parameter on every node for later runs.
    pub fn set_param(&self, name: &str, value: &str) {
        self.params
            .borrow_mut()
            .insert(name.to_string(), value.to_string());
    }

    /// Take a parameter set by [`Cluster::set_param`] away again.
    pub fn unset_param(&self, name: &str) {
        self.params.borrow_mut().remove(name);
    }

    /// Point standbys (at their next agent `start`) at this node.
    pub fn set_primary_target(&self, node: &str) {
        let _ = self.node(node);
        *self.primary_target.borrow_mut() = node.to_string();
    }

    /// Standbys stream from nowhere (port 1), as when no node holds the VIP.
    pub fn clear_primary_target(&self) {
        self.primary_target.borrow_mut().clear();
    }

    pub fn primary_target(&self) -> String {
        self.primary_target.borrow().clone()
    }

    /// The port standbys stream from: the primary target's, or port 1
    /// (where nothing listens) before there is one.
    pub fn target_port(&self) -> u16 {
        match self.primary_target.borrow().as_str() {
            "" => 1,
            t => self.node(t).port,
        }
    }

    /// The environment Pacemaker's execd would give an agent on `node`.
    pub fn env(&self, node: &str) -> BTreeMap<String, String> {
        let n = self.node(node);
        let target = self.target_port();
        let node_list = self.node_names().join(" ");
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        let mut set = |k: &str, v: &str| {
            env.insert(k.to_string(), v.to_string());
        };
        set("OCF_ROOT", "/usr/lib/ocf");
        set("OCF_RESOURCE_INSTANCE", RESOURCE);
        set("OCF_RESKEY_crm_feature_set", "3.16.1");
        set("OCF_RESKEY_CRM_meta_on_node", node);
        set("OCF_RESKEY_CRM_meta_promotable", "true");
        set("OCF_RESKEY_CRM_meta_notify", "true");
        set(
            "OCF_RESKEY_CRM_meta_clone_max",
            &self.nodes.len().to_string(),
        );
        set("OCF_RESKEY_CRM_meta_clone_node_max", "1");
        set("OCF_RESKEY_CRM_meta_promoted_max", "1");
        set("OCF_RESKEY_CRM_meta_master_max", "1");
        set("OCF_RESKEY_CRM_meta_promoted_node_max", "1");
        set("OCF_RESKEY_CRM_meta_master_node_max", "1");
        set("OCF_RESKEY_CRM_meta_timeout", "60000");
        set("CIB_file", self.cib.to_str().unwrap());
        let path = format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", self.bin.display());
        set("PATH", &path);
        set("LC_ALL", "C");

        let mut param = |k: &str, v: &str| set(&format!("OCF_RESKEY_{k}"), v);
        param("pgctl", self.bin("pg_ctl").to_str().unwrap());
        param("psql", self.bin("psql").to_str().unwrap());
        if self.major != Major::V15 {
            param("pglibs", self.major.libdir().to_str().unwrap());
        }
        param("pgdata", n.pgdata.to_str().unwrap());
        param("config", n.pgdata.join("postgresql.conf").to_str().unwrap());
        param("socketdir", n.socketdir.to_str().unwrap());
        param("pgport", &n.port.to_string());
        param("logfile", n.logfile.to_str().unwrap());
        param("tmpdir", n.tmpdir.to_str().unwrap());
        param("rep_mode", "sync");
        param("node_list", &node_list);
        param("master_ip", "127.0.0.1");
        param("repuser", "postgres");
        param("stop_escalate", "5");
        // With replication_hosts the host is theirs (every one of them
        // reaches 127.0.0.1); the port is always the primary target's.
        let host = if self.params.borrow().contains_key("replication_hosts") {
            ""
        } else {
            "host=127.0.0.1 "
        };
        param("primary_conninfo_opt", &format!("{host}port={target}"));
        for (k, v) in self.params.borrow().iter() {
            param(k, v);
        }
        env
    }

    /// Run `action` of an agent on `node` with [`Cluster::env`] plus
    /// `extra_env` (which wins; use it for `OCF_RESKEY_CRM_meta_interval`,
    /// notify variables, or per-call parameters). Both agents get the same
    /// treatment: cleared environment, cwd /, and the op timeout enforced by
    /// killing the process group, as Pacemaker does.
    /// The environment `run` gives an agent on `node` (public for the
    /// benchmarks, which run the agents themselves).
    pub fn agent_env(
        &self,
        agent: AgentKind,
        node: &str,
        extra_env: &[(&str, &str)],
    ) -> BTreeMap<String, String> {
        let mut env = self.env(node);
        for (k, v) in extra_env {
            env.insert(k.to_string(), v.to_string());
        }
        if agent == AgentKind::Stock {
            let dir = self.ocf_lib.join("heartbeat");
            env.insert("OCF_FUNCTIONS_DIR".into(), dir.display().to_string());
        }
        env
    }

    pub fn run(
        &self,
        agent: AgentKind,
        node: &str,
        action: &str,
        extra_env: &[(&str, &str)],
    ) -> AgentOutput {
        let env = self.agent_env(agent, node, extra_env);
        let timeout_ms: u64 = env["OCF_RESKEY_CRM_meta_timeout"].parse().unwrap();
        // Files, not pipes: a daemon forked by the agent may keep a pipe open.
        let logs = self.root().join("runs");
        std::fs::create_dir_all(&logs).unwrap();
        let (out_path, err_path) = (logs.join("stdout"), logs.join("stderr"));
        let started = Instant::now();
        let mut child = Command::new(agent.program())
            .arg(action)
            .env_clear()
            .envs(&env)
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .process_group(0)
            .spawn()
            .unwrap();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if started.elapsed() > Duration::from_millis(timeout_ms) {
                let pgid = nix::unistd::Pid::from_raw(-(child.id() as i32));
                let _ = nix::sys::signal::kill(pgid, nix::sys::signal::SIGKILL);
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let out = AgentOutput {
            // Like Pacemaker, report a timeout as a generic error.
            rc: status.and_then(|s| s.code()).unwrap_or(1),
            stdout: std::fs::read_to_string(out_path).unwrap_or_default(),
            stderr: std::fs::read_to_string(err_path).unwrap_or_default(),
        };
        println!(
            "[{agent:?} {node} {action}{}] rc={} {:.2}s{}",
            extra_env
                .iter()
                .filter(|(k, _)| k.contains("notify_type") || k.contains("notify_operation"))
                .map(|(_, v)| format!(" {v}"))
                .collect::<String>(),
            out.rc,
            started.elapsed().as_secs_f64(),
            if status.is_none() { " TIMEOUT" } else { "" }
        );
        out
    }

    /// `stop` then `start` through the agent on every standby that does not
    /// stream from the primary target yet: the conninfo is only written at
    /// start. Waits until each of them streams from the target.
    pub fn repoint_standbys(&self, agent: AgentKind) {
        let target = self.primary_target();
        for n in &self.nodes {
            if n.name == target || self.streaming_from(&n.name).as_deref() == Some(&target) {
                continue;
            }
            for action in ["stop", "start"] {
                let out = self.run(agent, &n.name, action, &[]);
                assert_eq!(out.rc, 0, "{action} on {}: {}", n.name, out.stderr);
            }
        }
        for n in &self.nodes {
            if n.name != target {
                self.wait_streaming(&n.name, Duration::from_secs(20));
            }
        }
    }

    // ----- SQL -------------------------------------------------------------

    /// psql as postgres through the node's socket; panics on failure.
    pub fn sql(&self, node: &str, sql: &str) -> String {
        self.try_sql(node, sql)
            .unwrap_or_else(|e| panic!("{node}: {sql}: {e}"))
    }

    /// psql as postgres through the node's socket; Err(stderr) on failure.
    pub fn try_sql(&self, node: &str, sql: &str) -> Result<String, String> {
        let out = self.psql(node, sql);
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// What psql printed, warnings included: a commit whose wait for the
    /// sync standby was cancelled succeeds with only a warning.
    pub fn sql_with_warnings(&self, node: &str, sql: &str) -> (String, String) {
        let out = self.psql(node, sql);
        assert!(
            out.status.success(),
            "{node}: {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = |b: &[u8]| String::from_utf8_lossy(b).trim_end().to_string();
        (text(&out.stdout), text(&out.stderr))
    }

    fn psql(&self, node: &str, sql: &str) -> std::process::Output {
        let n = self.node(node);
        let (uid, gid) = crate::support::postgres_user();
        Command::new(self.bin("psql"))
            .args(["-XAtq", "-h", n.socketdir.to_str().unwrap()])
            .args(["-p", &n.port.to_string(), "-d", "postgres", "-c", sql])
            .uid(uid.as_raw())
            .gid(gid.as_raw())
            .current_dir("/")
            .env("LC_ALL", "C")
            .env("PGCONNECT_TIMEOUT", "3")
            .output()
            .unwrap()
    }

    /// Whether the node's walreceiver is streaming (from anyone).
    pub fn is_streaming(&self, standby: &str) -> bool {
        self.try_sql(standby, "select status from pg_stat_wal_receiver")
            .is_ok_and(|s| s == "streaming")
    }

    /// The node a standby streams from (matched by sender port).
    pub fn streaming_from(&self, standby: &str) -> Option<String> {
        // `sender_port` exists only from 11 on; the conninfo's last port
        // wins (10 shows it as written, quotes and all).
        let sql = "select conninfo from pg_stat_wal_receiver where status = 'streaming'";
        let conninfo = self.try_sql(standby, sql).ok()?;
        let port: u16 = conninfo
            .split_whitespace()
            .rev()
            .find_map(|kv| kv.strip_prefix("port="))?
            .trim_matches('\'')
            .parse()
            .ok()?;
        self.nodes
            .iter()
            .find(|n| n.port == port)
            .map(|n| n.name.clone())
    }

    /// Wait until the standby streams from the primary target.
    pub fn wait_streaming(&self, standby: &str, timeout: Duration) {
        let start = Instant::now();
        let target = self.primary_target();
        while self.streaming_from(standby).as_deref() != Some(&target) {
            assert!(
                start.elapsed() < timeout,
                "{standby} does not stream from {target} (from {:?}): {:?}",
                self.streaming_from(standby),
                self.try_sql(standby, "select status, conninfo from pg_stat_wal_receiver")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether the node's postmaster (per postmaster.pid) is alive.
    pub fn is_running(&self, node: &str) -> bool {
        running(&self.node(node).pgdata)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Never leave a server behind, whatever the test did; no asserts
        // here (a panic while unwinding would abort).
        for n in self.nodes.iter().chain(self.externals.borrow().iter()) {
            self.stop_immediately(&n.pgdata);
        }
        // RUSTPG_KEEP_FAILED=1: a failed test's logs and data stay for a look.
        if std::thread::panicking() && std::env::var_os("RUSTPG_KEEP_FAILED").is_some() {
            let kept = std::mem::replace(&mut self.root, tempfile::tempdir().unwrap()).keep();
            eprintln!("kept {}", kept.display());
        }
    }
}

// ----- Helpers -------------------------------------------------------------

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Distinct free loopback ports: hold every listener until all are chosen.
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

fn make_node_dirs(root: &Path, name: &str, port: u16) -> Node {
    let dir = root.join(name);
    std::fs::create_dir(&dir).unwrap();
    set_mode(&dir, 0o755);
    let node = Node {
        name: name.to_string(),
        pgdata: dir.join("data"),
        socketdir: dir.join("sock"),
        logfile: dir.join("postgresql.log"),
        tmpdir: dir.join("tmp"),
        port,
    };
    for (d, mode) in [
        (&node.pgdata, 0o700),
        (&node.socketdir, 0o755),
        (&node.tmpdir, 0o700),
    ] {
        std::fs::create_dir(d).unwrap();
        chown_to_postgres(d);
        set_mode(d, mode);
    }
    // pg_ctl runs as postgres and cannot create files in a root-owned dir.
    std::fs::write(&node.logfile, "").unwrap();
    chown_to_postgres(&node.logfile);
    node
}

fn running(pgdata: &Path) -> bool {
    postmaster_pid(pgdata)
        .is_some_and(|pid| nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok())
}

fn postmaster_pid(pgdata: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(pgdata.join("postmaster.pid")).ok()?;
    text.lines().next()?.trim().parse().ok()
}

/// Run a Pacemaker CLI as root, insist on success, return stdout.
fn tool(program: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .env("LC_ALL", "C")
        .current_dir("/")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// The harness's own proof, kept beside it so main.rs needs one line only.
#[cfg(test)]
#[path = "stock_agent.rs"]
mod stock_agent;
