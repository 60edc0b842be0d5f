//! `serve`: a small read-only HTTP server for load balancers and
//! Prometheus, over what `status` reports:
//! - `GET /metrics`: [`super::render_metrics`];
//! - `GET /primary`: 200 only on the promoted node whose PostgreSQL is out
//!   of recovery; `GET /replica[?lag=SIZE]`: 200 on a streaming standby
//!   (within SIZE of the primary's WAL when given); `GET /sync`: 200 on a
//!   standby the primary's record names as holding every acknowledged
//!   commit; `GET /health`: 200 while PostgreSQL answers. Else 503; the
//!   body is the node's row of `status --json`.
//!
//! Bounded: a fixed number of workers (each answers one request at a
//! time; the others wait in the listen queue), one observation at a time
//! with its own deadline, reused for [`FRESH_FOR`] by the requests that
//! come meanwhile. Nothing it serves changes anything.

use super::status::{NodeStatus, Status};
use crate::ocf::env::RawEnv;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long one observation answers requests: a load balancer's checks
/// of several paths, and Prometheus's scrape, share it.
pub const FRESH_FOR: Duration = Duration::from_millis(500);

/// What an observation may take (`crm_mon`, the CIB, PostgreSQL).
const OBSERVE_WITHIN: Duration = Duration::from_secs(5);

/// What the operator asked for.
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// Requests answered at once.
    pub workers: usize,
    pub resource: Option<String>,
}

/// What a path asks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Check {
    Metrics,
    Primary,
    Replica { max_lag: Option<u64> },
    Sync,
    Health,
}

impl Check {
    /// The check a request's path and query name, or why not (404).
    pub fn parse(url: &str) -> Result<Check, String> {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let max_lag = query
            .split('&')
            .filter_map(|kv| kv.strip_prefix("lag="))
            .map(|v| crate::core::size::parse_bytes(v).map_err(|e| format!("lag: {e}")))
            .next()
            .transpose()?;
        match path {
            "/metrics" => Ok(Check::Metrics),
            "/primary" => Ok(Check::Primary),
            "/replica" => Ok(Check::Replica { max_lag }),
            "/sync" => Ok(Check::Sync),
            "/health" => Ok(Check::Health),
            _ => Err(format!(
                "no such path {path}: /metrics, /primary, /replica[?lag=SIZE], /sync, /health"
            )),
        }
    }

    /// Whether this node passes the check, by its row of `status`.
    pub fn passes(self, me: &NodeStatus) -> bool {
        let server = me.server.as_ref().filter(|s| s.error.is_none());
        let in_recovery = server.map(|s| s.in_recovery);
        match self {
            Check::Metrics => true,
            Check::Health => server.is_some(),
            Check::Primary => me.role == "Promoted" && in_recovery == Some(false),
            Check::Replica { max_lag } => {
                let streaming = server.and_then(|s| s.wal_receiver.as_deref()) == Some("streaming");
                let lag = me.replication.as_ref().and_then(|r| r.replay_lag_bytes);
                me.role == "Unpromoted"
                    && in_recovery == Some(true)
                    && streaming
                    && max_lag.map_or(true, |max| lag.is_some_and(|l| l <= max))
            }
            Check::Sync => {
                Check::Replica { max_lag: None }.passes(me) && me.holds_every_acknowledged_commit
            }
        }
    }
}

/// The last observation, and when it was made.
struct Snapshot {
    at: Instant,
    status: Result<Status, String>,
}

/// Observations, one at a time, each reused for [`FRESH_FOR`].
struct Observer<'a> {
    resource: Option<&'a str>,
    raw: &'a RawEnv,
    last: Mutex<Option<Snapshot>>,
}

impl Observer<'_> {
    /// `f` of a fresh enough observation: the one in hand, or a new one
    /// (requests that come meanwhile wait for it, not make their own).
    fn with<T>(&self, f: impl FnOnce(&Result<Status, String>) -> T) -> T {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if !last.as_ref().is_some_and(|s| s.at.elapsed() < FRESH_FOR) {
            let status = super::observe_within(self.resource, self.raw, OBSERVE_WITHIN)
                .map(|o| super::status(&o));
            *last = Some(Snapshot {
                at: Instant::now(),
                status,
            });
        }
        f(&last.as_ref().expect("just observed").status)
    }
}

/// An answer: status code, content type, body.
type Answer = (u16, &'static str, String);

const JSON: &str = "application/json";

fn answer(check: Check, status: &Result<Status, String>) -> Answer {
    let error = |why: &str| (503, JSON, serde_json::json!({ "error": why }).to_string());
    let s = match status {
        Ok(s) => s,
        Err(why) => return error(why),
    };
    if check == Check::Metrics {
        return (
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            super::render_metrics(s),
        );
    }
    let Some(me) = s.nodes.iter().find(|n| n.name == s.node) else {
        return error(&format!("this node ({}) is not in the cluster", s.node));
    };
    let code = if check.passes(me) { 200 } else { 503 };
    let body = serde_json::to_string(me).unwrap_or_default();
    (code, JSON, body)
}

fn respond(request: tiny_http::Request, observer: &Observer) {
    let (code, kind, body) = match (request.method(), Check::parse(request.url())) {
        (tiny_http::Method::Get | tiny_http::Method::Head, Ok(check)) => {
            observer.with(|status| answer(check, status))
        }
        (tiny_http::Method::Get | tiny_http::Method::Head, Err(why)) => {
            (404, JSON, serde_json::json!({ "error": why }).to_string())
        }
        _ => (405, JSON, r#"{"error":"only GET and HEAD"}"#.to_string()),
    };
    let header = tiny_http::Header::from_bytes("Content-Type", kind).expect("a valid header");
    let response = tiny_http::Response::from_string(body)
        .with_status_code(code)
        .with_header(header);
    // A client that went away is its own business.
    let _ = request.respond(response);
}

/// Serve until the process is stopped.
pub fn serve(opts: &ServeOptions, raw: &RawEnv) -> Result<(), String> {
    let server = tiny_http::Server::http(opts.listen)
        .map_err(|e| format!("can't listen on {}: {e}", opts.listen))?;
    let observer = Observer {
        resource: opts.resource.as_deref(),
        raw,
        last: Mutex::new(None),
    };
    std::thread::scope(|scope| {
        for _ in 0..opts.workers.max(1) {
            scope.spawn(|| {
                while let Ok(request) = server.recv() {
                    respond(request, &observer);
                }
            });
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctl::status::{ReplicationReport, ServerReport};

    fn node(role: &'static str, in_recovery: bool, receiver: Option<&str>) -> NodeStatus {
        NodeStatus {
            name: "pg02".into(),
            online: true,
            role,
            score: None,
            status: None,
            data_status: None,
            fail_count: 0,
            lock: None,
            server: Some(ServerReport {
                in_recovery,
                wal_receiver: receiver.map(str::to_string),
                ..ServerReport::default()
            }),
            replication: Some(ReplicationReport {
                postgres_says: "STREAMING|SYNC".into(),
                disagreement: None,
                sent_lag_bytes: Some(0),
                flush_lag_bytes: Some(100),
                replay_lag_bytes: Some(4096),
                replay_lag_seconds: None,
            }),
            promotable: true,
            holds_every_acknowledged_commit: false,
            why: Vec::new(),
        }
    }

    #[test]
    fn paths_and_their_queries() {
        assert_eq!(Check::parse("/primary"), Ok(Check::Primary));
        assert_eq!(
            Check::parse("/replica?lag=16MB"),
            Ok(Check::Replica {
                max_lag: Some(16 * 1024 * 1024)
            })
        );
        assert_eq!(
            Check::parse("/replica"),
            Ok(Check::Replica { max_lag: None })
        );
        assert!(Check::parse("/replica?lag=lots").is_err());
        assert!(Check::parse("/").unwrap_err().contains("no such path /"));
    }

    #[test]
    fn who_passes_which_check() {
        let primary = node("Promoted", false, None);
        let standby = node("Unpromoted", true, Some("streaming"));
        let catching_up = node("Unpromoted", true, Some("startup"));
        let mut holder = standby.clone();
        holder.holds_every_acknowledged_commit = true;
        // Promoted in Pacemaker but still in recovery: not yet writable.
        let promoting = node("Promoted", true, Some("streaming"));
        let mut down = standby.clone();
        down.server = Some(ServerReport {
            error: Some("connection refused".into()),
            ..ServerReport::default()
        });
        let replica = |lag| Check::Replica { max_lag: lag };
        for (n, name, expect) in [
            (&primary, "primary", [true, false, false, true]),
            (&promoting, "promoting", [false, false, false, true]),
            (&standby, "standby", [false, true, false, true]),
            (&holder, "recorded standby", [false, true, true, true]),
            (&catching_up, "not streaming", [false, false, false, true]),
            (&down, "PostgreSQL down", [false, false, false, false]),
        ] {
            let got = [
                Check::Primary.passes(n),
                replica(None).passes(n),
                Check::Sync.passes(n),
                Check::Health.passes(n),
            ];
            assert_eq!(got, expect, "{name}: primary, replica, sync, health");
        }
        assert!(replica(Some(4096)).passes(&standby));
        assert!(!replica(Some(4095)).passes(&standby));
    }
}
