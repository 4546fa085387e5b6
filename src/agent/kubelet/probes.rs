//! Container probes as upstream's kubelet runs them: startup, liveness and readiness, each
//! `exec` (through the pod's shim), `httpGet` (HTTP/1.1 GET, success on 200–399),
//! `tcpSocket` (a connection) or `grpc` (the standard health check, [`super::grpc_probe`]),
//! with `initialDelaySeconds`, `periodSeconds`, `timeoutSeconds`, `successThreshold` and
//! `failureThreshold`. Until a startup probe succeeds the other two do not run; a container
//! with a readiness probe is not ready until it succeeds.
//!
//! `httpGet`, `tcpSocket` and `grpc` reach the pod's IP (the node's for `hostNetwork` pods);
//! a pod without an IP is not probed over the network.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::runtime::sandbox::{ExecOptions, SandboxHandle};

/// Which probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Startup,
    Liveness,
    Readiness,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Startup => "Startup",
            Kind::Liveness => "Liveness",
            Kind::Readiness => "Readiness",
        }
    }
}

/// The state of one probe of one container attempt.
#[derive(Debug, Default)]
struct Tracker {
    next: Option<Instant>,
    successes: i32,
    failures: i32,
    /// The probe's verdict so far (`true` once `successThreshold` successes are seen).
    passed: bool,
}

/// What a probe pass found for a container.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub started: bool,
    pub ready: bool,
}

/// A probe that failed `failureThreshold` times: the container must be killed.
#[derive(Debug)]
pub struct Failure {
    pub kind: Kind,
    pub message: String,
}

/// The probes of one pod, by container id (`<name>.<attempt>`).
#[derive(Debug, Default)]
pub struct PodProbes {
    trackers: HashMap<(String, Kind), Tracker>,
}

/// Where a network probe goes.
pub(super) fn port_of(port: &IntOrString, container: &Container) -> Option<u16> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).ok(),
        IntOrString::String(name) => container
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok()),
    }
}

/// An HTTP/1.1 GET of `path` at `addr`; the response's status code.
pub(super) async fn http_get(
    addr: SocketAddr,
    host: &str,
    path: &str,
    headers: &[(String, String)],
) -> Result<u16, String> {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("Get \"http://{addr}{path}\": dial tcp {addr}: {e}"))?;
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: kube-probe/1.35\r\nAccept: */*\r\nConnection: close\r\n"
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut head = vec![0u8; 1024];
    let n = stream.read(&mut head).await.map_err(|e| e.to_string())?;
    let line = String::from_utf8_lossy(&head[..n]);
    let code: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("malformed HTTP response from {addr}"))?;
    Ok(code)
}

/// Runs `probe` once; `Ok(None)` when it cannot run (no address yet).
async fn run_once(
    probe: &Probe,
    container: &Container,
    handle: &SandboxHandle,
    id: &str,
    ip: Option<IpAddr>,
) -> Result<Option<()>, String> {
    let timeout = Duration::from_secs(probe.timeout_seconds.unwrap_or(1).max(1) as u64);
    if let Some(exec) = &probe.exec {
        let command = exec.command.clone().unwrap_or_default();
        let (handle, id) = (handle.clone(), id.to_string());
        let run = tokio::task::spawn_blocking(move || {
            let mut session = handle
                .exec(&id, &command, &ExecOptions::default())
                .map_err(|e| e.to_string())?;
            let _ = session.set_read_timeout(Some(timeout));
            session.collect().map_err(|e| e.to_string())
        });
        return match tokio::time::timeout(timeout + Duration::from_secs(1), run).await {
            Err(_) => Err(format!("command timed out after {}s", timeout.as_secs())),
            Ok(Err(e)) => Err(e.to_string()),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Ok(Ok((_, _, Some(0))))) => Ok(Some(())),
            Ok(Ok(Ok((out, err, code)))) => Err(format!(
                "command exited with {}: {}{}",
                code.unwrap_or(-1),
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&err)
            )),
        };
    }
    let Some(ip) = ip else { return Ok(None) };
    if let Some(http) = &probe.http_get {
        let port = port_of(&http.port, container).ok_or("unknown probe port")?;
        let host = http
            .host
            .as_deref()
            .and_then(|h| h.parse().ok())
            .unwrap_or(ip);
        let headers: Vec<(String, String)> = http
            .http_headers
            .iter()
            .flatten()
            .map(|h| (h.name.clone(), h.value.clone()))
            .collect();
        let path = http
            .path
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/".into());
        let addr = SocketAddr::new(host, port);
        return match tokio::time::timeout(
            timeout,
            http_get(addr, &addr.to_string(), &path, &headers),
        )
        .await
        {
            Err(_) => Err(format!(
                "Get \"http://{addr}{path}\": context deadline exceeded"
            )),
            Ok(Err(e)) => Err(e),
            Ok(Ok(code)) if (200..400).contains(&code) => Ok(Some(())),
            Ok(Ok(code)) => Err(format!("HTTP probe failed with statuscode: {code}")),
        };
    }
    if let Some(grpc) = &probe.grpc {
        let port = u16::try_from(grpc.port).map_err(|_| "invalid probe port")?;
        let service = grpc.service.clone().unwrap_or_default();
        return super::grpc_probe::check(SocketAddr::new(ip, port), &service, timeout)
            .await
            .map(Some);
    }
    if let Some(tcp) = &probe.tcp_socket {
        let port = port_of(&tcp.port, container).ok_or("unknown probe port")?;
        let host = tcp
            .host
            .as_deref()
            .and_then(|h| h.parse().ok())
            .unwrap_or(ip);
        let addr = SocketAddr::new(host, port);
        return match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
            Err(_) => Err(format!("dial tcp {addr}: i/o timeout")),
            Ok(Err(e)) => Err(format!("dial tcp {addr}: {e}")),
            Ok(Ok(_)) => Ok(Some(())),
        };
    }
    Ok(None)
}

impl PodProbes {
    /// Forgets the probes of attempts that no longer run.
    pub fn retain(&mut self, running: &[String]) {
        self.trackers.retain(|(id, _), _| running.contains(id));
    }

    /// Runs the probes of a running container that are due; returns its verdict, a
    /// failure that must kill it, the messages of failed probes (for Unhealthy events) and
    /// when a probe is next due.
    pub async fn run(
        &mut self,
        container: &Container,
        handle: &SandboxHandle,
        id: &str,
        started_at: Instant,
        ip: Option<IpAddr>,
    ) -> (
        Verdict,
        Option<Failure>,
        Vec<(Kind, String)>,
        Option<Instant>,
    ) {
        let mut unhealthy = Vec::new();
        let mut failure = None;
        let mut next_due: Option<Instant> = None;
        let startup_done = match &container.startup_probe {
            None => true,
            Some(_) => self.passed(id, Kind::Startup),
        };
        let probes = [
            (Kind::Startup, &container.startup_probe, !startup_done),
            (Kind::Liveness, &container.liveness_probe, startup_done),
            (Kind::Readiness, &container.readiness_probe, startup_done),
        ];
        for (kind, probe, active) in probes {
            let Some(probe) = probe.as_ref().filter(|_| active) else {
                continue;
            };
            let now = Instant::now();
            let tracker = self
                .trackers
                .entry((id.to_string(), kind))
                .or_insert_with(|| Tracker {
                    next: Some(
                        started_at
                            + Duration::from_secs(
                                probe.initial_delay_seconds.unwrap_or(0).max(0) as u64
                            ),
                    ),
                    // Liveness holds until proven otherwise; the others must succeed first.
                    passed: kind == Kind::Liveness,
                    ..Tracker::default()
                });
            let period = Duration::from_secs(probe.period_seconds.unwrap_or(10).max(1) as u64);
            if tracker.next.is_some_and(|at| at <= now) {
                tracker.next = Some(now + period);
                match run_once(probe, container, handle, id, ip).await {
                    Ok(Some(())) => {
                        tracker.failures = 0;
                        tracker.successes += 1;
                        if tracker.successes >= probe.success_threshold.unwrap_or(1).max(1) {
                            tracker.passed = true;
                        }
                    }
                    Ok(None) => {}
                    Err(message) => {
                        tracker.successes = 0;
                        tracker.failures += 1;
                        unhealthy.push((kind, message.clone()));
                        if tracker.failures >= probe.failure_threshold.unwrap_or(3).max(1) {
                            tracker.passed = false;
                            if kind != Kind::Readiness {
                                failure = Some(Failure { kind, message });
                            }
                        }
                    }
                }
            }
            if let Some(at) = tracker.next {
                next_due = Some(next_due.map_or(at, |n: Instant| n.min(at)));
            }
        }
        let verdict = Verdict {
            started: container.startup_probe.is_none() || self.passed(id, Kind::Startup),
            ready: (container.startup_probe.is_none() || self.passed(id, Kind::Startup))
                && (container.readiness_probe.is_none() || self.passed(id, Kind::Readiness)),
        };
        (verdict, failure, unhealthy, next_due)
    }

    fn passed(&self, id: &str, kind: Kind) -> bool {
        self.trackers
            .get(&(id.to_string(), kind))
            .is_some_and(|t| t.passed)
    }
}
