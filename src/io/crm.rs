//! Pacemaker's command-line tools: `crm_mon` (read once per invocation),
//! `crm_attribute` (one call per changed attribute), `crm_resource`,
//! `attrd_updater`, `crm_node`. Every call has the `crm_attr_timeout` and is
//! retried, once a second, until the operation's deadline.

use crate::core::crm_mon::{self, ClusterView};
use crate::core::replication::{self as rep, Attr, Location, PrivateAttr, ReceiverStatus, Write};
use crate::error::{AgentError, Result};
use crate::io::clock::Deadline;
use crate::io::command::{self, Cmd, Output};
use crate::ocf::env::RawEnv;
use std::time::Duration;

/// Environment variables the Pacemaker tools honour and that we pass on
/// (`CIB_file` points them at a file instead of the live cluster).
const PASSTHROUGH: &[&str] = &[
    "CIB_file",
    "CIB_shadow",
    "CIB_shadow_dir",
    "CIB_user",
    "PCMK_logfile",
];

fn passthrough(raw: &RawEnv) -> Vec<(String, String)> {
    PASSTHROUGH
        .iter()
        .filter_map(|k| raw.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect()
}

fn with_env(mut cmd: Cmd, env: &[(String, String)]) -> Cmd {
    for (k, v) in env {
        cmd = cmd.env(k, v.clone());
    }
    cmd
}

pub struct Crm {
    rsc: String,
    /// `OCF_RESOURCE_INSTANCE`, for our own promotion score.
    instance: String,
    /// This node, whose score goes through `--promotion`.
    me: String,
    env: Vec<(String, String)>,
    call_timeout: Duration,
    deadline: Deadline,
}

impl Crm {
    pub fn new(
        rsc: &str,
        instance: &str,
        me: &str,
        raw: &RawEnv,
        crm_attr_timeout: u64,
        deadline: Deadline,
    ) -> Crm {
        let env = passthrough(raw);
        Crm {
            rsc: rsc.to_string(),
            instance: instance.to_string(),
            me: me.to_string(),
            env,
            call_timeout: Duration::from_secs(crm_attr_timeout.max(1)),
            deadline,
        }
    }

    fn cmd(&self, program: &str) -> Cmd {
        with_env(Cmd::new(format!("/usr/sbin/{program}")), &self.env)
    }

    /// Run until it succeeds (or `accept` says the failure is an answer),
    /// retrying within the operation deadline.
    fn run(&self, cmd: &Cmd, accept: impl Fn(&Output) -> bool) -> Result<Output> {
        loop {
            let call_deadline = Deadline::after(self.call_timeout.min(self.deadline.remaining()));
            let last = match command::run(cmd, None, call_deadline) {
                Ok(out) if out.success() || accept(&out) => return Ok(out),
                // 105 (no such object: an unknown node or resource) does not
                // go away by retrying.
                Ok(out) if out.code == Some(105) => {
                    return Err(command::failed(cmd, out.last_line()))
                }
                Ok(out) => format!("exit {:?}: {}", out.code, out.last_line()),
                Err(e) => e.reason().to_string(),
            };
            if self.deadline.remaining() < Duration::from_secs(1) {
                let giving_up = |what: String| format!("giving up executing {what}: {last}");
                return Err(AgentError::generic(giving_up(cmd.name()))
                    .with_detail(giving_up(cmd.display())));
            }
            crate::warn!("Retrying. \"{}\" failed: {last}.", cmd.display());
            self.deadline.sleep(Duration::from_secs(1));
        }
    }

    /// The whole cluster picture, nodes and attributes, in one `crm_mon`
    /// call; when a node is offline, a second read (`cibadmin -Q -o nodes`)
    /// adds the permanent attributes crm_mon does not show for it
    /// ([`ClusterView::with_offline_records`]).
    pub fn cluster_view(&self) -> Result<ClusterView> {
        let out = self.run(
            &self.cmd("crm_mon").args(["-1", "-A", "--output-as=xml"]),
            |_| false,
        )?;
        let view = crm_mon::parse(&out.stdout, &self.rsc).map_err(|e| AgentError::generic(e.0))?;
        if !view.has_offline_nodes() {
            return Ok(view);
        }
        // Without them the view hides records, which only makes the
        // election wait for more nodes: safe, so a failure is logged only.
        let nodes = self.run(&self.cmd("cibadmin").args(["-Q", "-o", "nodes"]), |_| false);
        match nodes.and_then(|out| {
            crm_mon::permanent_attributes(&out.stdout).map_err(|e| AgentError::generic(e.0))
        }) {
            Ok(permanent) => Ok(view.with_offline_records(permanent)),
            Err(e) => {
                crate::warn!("can't read the offline nodes' permanent attributes: {e}");
                Ok(view)
            }
        }
    }

    /// Whether the DC's controller is idle (`crmadmin -S <dc>`): no
    /// transition in flight. `None`: not known (no DC, a CIB file, the
    /// call failed). One try: the answer only shortens a deferral.
    pub fn dc_idle(&self, view: &ClusterView) -> Option<bool> {
        if self.on_cib_file() {
            return None;
        }
        let dc = view.dc.as_deref()?;
        let cmd = self.cmd("crmadmin").args(["-S", dc, "--output-as=xml"]);
        let deadline = Deadline::after(self.call_timeout.min(self.deadline.remaining()));
        let out = command::run(&cmd, None, deadline).ok()?;
        crm_mon::controller_idle(&out.stdout).filter(|_| out.success())
    }

    /// One attribute write or delete.
    pub fn apply(&self, w: &Write) -> Result<()> {
        if let Some(line) = &w.log {
            crate::info!("{line}");
        }
        self.run(&self.write_cmd(w), |_| false).map(drop)
    }

    /// One attribute write, tried once within `crm_attr_timeout`: for a
    /// record no decision reads, which must not take an action's time.
    pub fn apply_once(&self, w: &Write) -> Result<()> {
        if let Some(line) = &w.log {
            crate::info!("{line}");
        }
        let cmd = self.write_cmd(w);
        let d = Deadline::after(self.call_timeout.min(self.deadline.remaining()));
        let out = command::run(&cmd, None, d)?;
        if out.success() {
            Ok(())
        } else {
            Err(command::failed(&cmd, out.last_line()))
        }
    }

    /// The `crm_attribute` call that makes `w`.
    fn write_cmd(&self, w: &Write) -> Cmd {
        // Our own score the way ocf_promotion_score sets it (the promotion
        // attribute of OCF_RESOURCE_INSTANCE); other nodes' by name.
        let name = if w.attr == Attr::Score && w.node == self.me {
            format!("--promotion={}", self.instance)
        } else {
            format!("--name={}", w.attr.name(&self.rsc))
        };
        let cmd = self.cmd("crm_attribute").args([
            format!("--lifetime={}", w.attr.lifetime().as_str()),
            format!("--node={}", w.node),
            name,
        ]);
        // `--update=VALUE` in one word: Pacemaker 2.1.5 misreads
        // `-p -v -INFINITY` as options.
        match w.wire() {
            Some(v) => cmd.arg(format!("--update={v}")),
            None => cmd.arg("--delete"),
        }
    }

    /// Writes whose order does not matter, made at once: one
    /// `crm_attribute` each (tens of ms), concurrently; every one is waited
    /// for, and the first failure is the answer. One after another on a
    /// CIB file (no daemon serialises its writers) and when an attribute
    /// is written twice (its order is kept).
    pub fn apply_at_once(&self, writes: &[Write]) -> Result<()> {
        if writes.len() < 2 || self.on_cib_file() || !distinct_attributes(writes) {
            return writes.iter().try_for_each(|w| self.apply(w));
        }
        std::thread::scope(|scope| {
            let running: Vec<_> = writes
                .iter()
                .map(|w| scope.spawn(|| self.apply(w)))
                .collect();
            let done: Vec<Result<()>> = running
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(AgentError::generic("crm_attribute writer panicked"))
                    })
                })
                .collect();
            done.into_iter().collect()
        })
    }

    /// Read one attribute directly (when the snapshot is not enough).
    pub fn query(&self, node: &str, attr: Attr) -> Result<Option<String>> {
        let cmd = self.cmd("crm_attribute").args([
            format!("--lifetime={}", attr.lifetime().as_str()),
            format!("--node={node}"),
            format!("--name={}", attr.name(&self.rsc)),
            "--query".into(),
            "--quiet".into(),
        ]);
        // 105: no such attribute.
        let out = self.run(&cmd, |o| o.code == Some(105))?;
        Ok(out
            .success()
            .then(|| out.stdout.trim().to_string())
            .filter(|v| !v.is_empty()))
    }

    /// `crm_resource --ban --promoted`: a location constraint that keeps
    /// the promoted role of `clone` off `node`. (No `--lifetime`: Pacemaker
    /// 2.1.5 then writes the ban as a rule, and the rule bans the whole
    /// instance, not just its promoted role: the old primary stayed stopped
    /// instead of following as a standby.)
    pub fn ban_promoted(&self, clone: &str, node: &str) -> Result<()> {
        self.crm_resource(&["--ban", "--promoted"], clone, node)
    }

    /// `crm_resource --clear`: remove the constraints `--ban` and `--move`
    /// left for `clone` on `node`.
    pub fn clear(&self, clone: &str, node: &str) -> Result<()> {
        self.crm_resource(&["--clear"], clone, node)
    }

    fn crm_resource(&self, what: &[&str], clone: &str, node: &str) -> Result<()> {
        let cmd = self.cmd("crm_resource").args(what).args([
            "--resource",
            clone,
            "--node",
            node,
            "--quiet",
        ]);
        self.run(&cmd, |_| false).map(drop)
    }

    /// The tools work on a CIB file (`CIB_file`), not a live cluster.
    pub fn on_cib_file(&self) -> bool {
        self.env.iter().any(|(k, _)| k == "CIB_file")
    }

    /// On a CIB file, where no attrd runs: this node's transient attribute.
    fn file_transient(&self, name: &str, value: Option<&str>) -> Cmd {
        let c = self.cmd("crm_attribute").args([
            "--lifetime=reboot".to_string(),
            format!("--node={}", self.me),
            format!("--name={name}"),
        ]);
        match value {
            Some(v) => c.arg(format!("--update={v}")),
            None => c.arg("--delete"),
        }
    }

    /// This node's position for a promotion (`<rsc>-position`, private):
    /// published, or withdrawn (`None`).
    pub fn set_position(&self, position: Option<Location>) {
        let value = position.map(Location::to_wire);
        self.set_private(PrivateAttr::Position, value.as_deref());
    }

    /// The position `node` published for a promotion (`None`: nothing, or
    /// nothing readable).
    pub fn position(&self, node: &str) -> Option<Location> {
        self.private(node, PrivateAttr::Position)
            .as_deref()
            .and_then(Location::from_wire)
    }

    /// This primary's timeline history (`<rsc>-history`, private), in its
    /// compact form ([`crate::core::timeline::History::to_wire`]).
    pub fn set_history(&self, history: &str) {
        self.set_private(PrivateAttr::History, Some(history));
    }

    /// What `node` published as its history, as it is (the core reads it).
    pub fn history(&self, node: &str) -> Option<String> {
        self.private(node, PrivateAttr::History)
    }

    /// Set (or delete) a private transient attribute of this node: kept by
    /// attrd, never written to the CIB, so crm_mon does not show it. On a
    /// CIB file (tests), where no attrd runs, a transient attribute instead.
    /// Best effort: a reader that finds nothing treats it as unknown.
    fn set_private(&self, attr: PrivateAttr, value: Option<&str>) {
        let name = attr.name(&self.rsc);
        let cmd = if self.on_cib_file() {
            self.file_transient(&name, value)
        } else {
            let c = self
                .cmd("attrd_updater")
                .args(["-p", "-N", &self.me, "-n", &name]);
            match value {
                Some(v) => c.args(["-U", v]),
                None => c.arg("-D"),
            }
        };
        if let Err(e) = self.run(&cmd, |_| false) {
            crate::warn!("can't publish {name}: {e}");
        }
    }

    /// A node's private attribute (see [`Crm::set_private`]).
    fn private(&self, node: &str, attr: PrivateAttr) -> Option<String> {
        let name = attr.name(&self.rsc);
        let d = Deadline::after(self.call_timeout.min(self.deadline.remaining()));
        if self.on_cib_file() {
            let cmd = self.cmd("crm_attribute").args([
                "--lifetime=reboot".to_string(),
                format!("--node={node}"),
                format!("--name={name}"),
                "--query".into(),
                "--quiet".into(),
            ]);
            let out = command::run(&cmd, None, d).ok()?;
            return out
                .success()
                .then(|| out.stdout.trim().to_string())
                .filter(|v| !v.is_empty());
        }
        let cmd = self
            .cmd("attrd_updater")
            .args(["-Q", "-p", "-N", node, "-n", &name]);
        let out = command::run(&cmd, None, d).ok()?;
        if !out.success() {
            return None;
        }
        crate::core::crm_mon::attrd_value(&out.stdout)
    }

    /// `<rsc>-receiver-status` (`check_wal_receiver`), a transient
    /// attribute through attrd as the stock agent writes it (`None`
    /// deletes it); on a CIB file (tests) a transient attribute. Best
    /// effort.
    pub fn set_receiver_status(&self, status: Option<ReceiverStatus>) {
        let name = rep::receiver_status_attr(&self.rsc);
        let value = status.map(ReceiverStatus::wire);
        let cmd = if self.on_cib_file() {
            self.file_transient(&name, value)
        } else {
            match value {
                Some(v) => self.cmd("attrd_updater").args(["-n", &name, "-v", v]),
                None => self.cmd("attrd_updater").args(["-n", &name, "-D"]),
            }
        };
        let d = Deadline::after(self.call_timeout.min(self.deadline.remaining()));
        if let Err(e) = command::run(&cmd, None, d) {
            crate::debug!("{}: {e}", cmd.display());
        }
    }
}

/// The CIB's `<resources>` section (`cibadmin -Q -o resources`), for the
/// operator tool; `CIB_file` and friends from `raw` are honoured.
pub fn cib_resources(raw: &RawEnv, deadline: Deadline) -> Result<String> {
    let cmd = with_env(
        Cmd::new("/usr/sbin/cibadmin").args(["-Q", "-o", "resources"]),
        &passthrough(raw),
    );
    let out = command::run(&cmd, None, deadline)?;
    if out.success() {
        Ok(out.stdout)
    } else {
        Err(command::failed(&cmd, out.last_line()))
    }
}

/// This node's name, lower-cased as the stock agent compares names:
/// Pacemaker's `on_node`, else `crm_node -n`, else the host name.
pub fn local_node_name(on_node: Option<&str>, deadline: Deadline) -> String {
    if let Some(n) = on_node {
        return n.to_lowercase();
    }
    let d = Deadline::after(Duration::from_secs(5).min(deadline.remaining()));
    if let Ok(out) = command::run(&Cmd::new("/usr/sbin/crm_node").arg("-n"), None, d) {
        if out.success() && !out.stdout.trim().is_empty() {
            return out.stdout.trim().to_lowercase();
        }
    }
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().to_lowercase())
        .unwrap_or_default()
}

/// No attribute of a node is written twice.
fn distinct_attributes(writes: &[Write]) -> bool {
    let mut seen = std::collections::BTreeSet::new();
    writes
        .iter()
        .all(|w| seen.insert((w.node.as_str(), w.attr)))
}
