//! A pod's status as upstream's kubelet reports it, computed from the spec and what the
//! runtime reports ([`pod_status`]): phase, conditions (PodReadyToStartContainers,
//! Initialized, ContainersReady, Ready; PodScheduled kept from the scheduler), container
//! statuses (state, lastState, ready, started, restartCount, image, imageID, containerID),
//! host and pod IPs, startTime and qosClass.

use std::collections::HashMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Container, Pod};
use serde_json::{Value, json};

use crate::runtime::state::{ContainerState, ContainerStatus};

/// Why a container is waiting, when the kubelet knows better than "ContainerCreating".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting {
    pub reason: String,
    pub message: String,
}

/// The image a container runs, as reported.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageInfo {
    pub image: String,
    pub image_id: String,
}

/// What the kubelet observed of one pod.
#[derive(Debug)]
pub struct Observed<'a> {
    /// Every container the runtime knows of, all attempts.
    pub containers: &'a [ContainerStatus],
    /// Containers waiting for a known reason (back-off, image pull, config error).
    pub waiting: &'a HashMap<String, Waiting>,
    /// Images by container name.
    pub images: &'a HashMap<String, ImageInfo>,
    /// Probe verdicts by container name (containers without probes have none).
    pub verdicts: &'a HashMap<String, super::probes::Verdict>,
    pub sandbox_ready: bool,
    pub host_ip: Option<IpAddr>,
    pub pod_ip: Option<IpAddr>,
    /// When the kubelet first saw the pod (RFC 3339), for `startTime`.
    pub start_time: String,
    pub now: String,
}

/// `2026-01-02T03:04:05.123456789Z` → `2026-01-02T03:04:05Z`.
pub fn seconds(time: &str) -> String {
    match time.parse::<jiff::Timestamp>() {
        Ok(ts) => ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => time.to_string(),
    }
}

fn latest<'a>(
    all: &'a [ContainerStatus],
    name: &str,
) -> (Option<&'a ContainerStatus>, Option<&'a ContainerStatus>) {
    let mut attempts: Vec<&ContainerStatus> = all.iter().filter(|c| c.name == name).collect();
    attempts.sort_by_key(|c| c.attempt);
    let last = attempts.pop();
    (last, attempts.pop())
}

fn terminated(status: &ContainerStatus, container_id: &str) -> Value {
    let mut t = json!({
        "exitCode": status.exit_code.unwrap_or(0),
        "reason": status.reason.clone().unwrap_or_else(|| "Error".into()),
        "startedAt": status.started_at.as_deref().map(seconds),
        "finishedAt": status.finished_at.as_deref().map(seconds),
        "containerID": container_id,
    });
    if let Some(signal) = status.signal {
        t["signal"] = json!(signal);
    }
    if let Some(message) = status.message.as_ref().filter(|m| !m.is_empty()) {
        t["message"] = json!(message);
    }
    t
}

/// The id a container status shows: `kedge://<pod uid>/<name>.<attempt>`.
pub fn container_id(pod_uid: &str, status: &ContainerStatus) -> String {
    format!("kedge://{pod_uid}/{}.{}", status.name, status.attempt)
}

/// One container's status, and whether it counts as stopped (exited, or waiting to restart
/// after an exit), running, or waiting for its first start.
fn container_status(
    pod_uid: &str,
    container: &Container,
    observed: &Observed<'_>,
    default_waiting: &str,
) -> (Value, Kind) {
    let (last, previous) = latest(observed.containers, &container.name);
    let info = observed
        .images
        .get(&container.name)
        .cloned()
        .unwrap_or(ImageInfo {
            image: container.image.clone().unwrap_or_default(),
            image_id: String::new(),
        });
    let waiting = observed.waiting.get(&container.name);
    let (state, last_state, kind) = match last {
        Some(s) if s.state == ContainerState::Running => (
            json!({"running": {"startedAt": s.started_at.as_deref().map(seconds)}}),
            previous.map(|p| json!({"terminated": terminated(p, &container_id(pod_uid, p))})),
            Kind::Running,
        ),
        Some(s) if s.state == ContainerState::Exited => match waiting {
            Some(w) => (
                json!({"waiting": {"reason": w.reason, "message": w.message}}),
                Some(json!({"terminated": terminated(s, &container_id(pod_uid, s))})),
                Kind::Stopped(s.exit_code.unwrap_or(0)),
            ),
            None => (
                json!({"terminated": terminated(s, &container_id(pod_uid, s))}),
                previous.map(|p| json!({"terminated": terminated(p, &container_id(pod_uid, p))})),
                Kind::Stopped(s.exit_code.unwrap_or(0)),
            ),
        },
        _ => {
            let (reason, message) = match waiting {
                Some(w) => (w.reason.clone(), Some(w.message.clone())),
                None => (default_waiting.to_string(), None),
            };
            let mut w = json!({"reason": reason});
            if let Some(message) = message.filter(|m| !m.is_empty()) {
                w["message"] = json!(message);
            }
            let prior = previous.or(last.filter(|l| l.state == ContainerState::Exited));
            (
                json!({"waiting": w}),
                prior.map(|p| json!({"terminated": terminated(p, &container_id(pod_uid, p))})),
                Kind::Waiting,
            )
        }
    };
    let running = kind == Kind::Running;
    let verdict = observed.verdicts.get(&container.name);
    let started = running && verdict.is_none_or(|v| v.started);
    let ready = running
        && verdict.map_or(
            container.readiness_probe.is_none() && container.startup_probe.is_none(),
            |v| v.ready,
        );
    let mut status = json!({
        "name": container.name,
        "state": state,
        "lastState": last_state.unwrap_or_else(|| json!({})),
        "ready": ready,
        "started": started,
        "restartCount": last.map(|l| l.attempt).unwrap_or(0),
        "image": info.image,
        "imageID": info.image_id,
    });
    if let Some(l) = last {
        status["containerID"] = json!(container_id(pod_uid, l));
    }
    (status, kind)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Waiting,
    Running,
    Stopped(i32),
}

fn condition(
    pod: &Pod,
    kind: &str,
    ok: bool,
    reason: Option<&str>,
    message: Option<String>,
    now: &str,
) -> Value {
    let status = if ok { "True" } else { "False" };
    let since = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == kind && c.status == status))
        .and_then(|c| serde_json::to_value(&c.last_transition_time).ok())
        .filter(|v| !v.is_null())
        .unwrap_or_else(|| json!(now));
    let mut c =
        json!({"type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": since});
    if let Some(reason) = reason {
        c["reason"] = json!(reason);
    }
    if let Some(message) = message {
        c["message"] = json!(message);
    }
    c
}

/// The condition upstream adds to a pod the kubelet evicts: `DisruptionTarget`, reason
/// `TerminationByKubelet`, with the eviction's message.
pub fn disruption_target(pod: &Pod, message: &str, now: &str) -> Value {
    condition(
        pod,
        "DisruptionTarget",
        true,
        Some("TerminationByKubelet"),
        Some(message.to_string()),
        now,
    )
}

/// Whether an init container is a sidecar (`restartPolicy: Always`).
pub fn is_sidecar(container: &Container) -> bool {
    container.restart_policy.as_deref() == Some("Always")
}

/// The pod's status, and its phase.
pub fn pod_status(pod: &Pod, observed: &Observed<'_>) -> Value {
    let spec = pod.spec.clone().unwrap_or_default();
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let policy = spec.restart_policy.as_deref().unwrap_or("Always");
    let mut init_statuses = Vec::new();
    let mut pending_init = Vec::new();
    let mut init_failed = false;
    for container in spec.init_containers.iter().flatten() {
        let (status, kind) = container_status(&uid, container, observed, "PodInitializing");
        let done = match kind {
            Kind::Running => is_sidecar(container),
            Kind::Stopped(0) => !is_sidecar(container),
            Kind::Stopped(_) => {
                if policy == "Never" && !is_sidecar(container) {
                    init_failed = true;
                }
                false
            }
            Kind::Waiting => false,
        };
        if !done {
            pending_init.push(container.name.clone());
        }
        init_statuses.push(status);
    }
    let initialized = pending_init.is_empty();
    let default_waiting = if initialized {
        "ContainerCreating"
    } else {
        "PodInitializing"
    };
    let (mut waiting, mut running, mut stopped, mut succeeded) = (0, 0, 0, 0);
    let mut statuses = Vec::new();
    let mut unready = Vec::new();
    for container in &spec.containers {
        let (status, kind) = container_status(&uid, container, observed, default_waiting);
        match kind {
            Kind::Waiting => waiting += 1,
            Kind::Running => running += 1,
            Kind::Stopped(code) => {
                stopped += 1;
                if code == 0 {
                    succeeded += 1;
                }
            }
        }
        if status["ready"] != json!(true) {
            unready.push(container.name.clone());
        }
        statuses.push(status);
    }
    let phase = if init_failed {
        "Failed"
    } else if !initialized || waiting > 0 {
        "Pending"
    } else if running > 0 {
        "Running"
    } else if stopped > 0 {
        match policy {
            "Always" => "Running",
            "OnFailure" if succeeded == stopped => "Succeeded",
            "OnFailure" => "Running",
            _ if succeeded == stopped => "Succeeded",
            _ => "Failed",
        }
    } else {
        "Pending"
    };
    let now = &observed.now;
    let terminal = phase == "Succeeded" || phase == "Failed";
    let mut conditions = vec![condition(
        pod,
        "PodReadyToStartContainers",
        observed.sandbox_ready,
        None,
        None,
        now,
    )];
    conditions.push(if terminal && phase == "Succeeded" {
        condition(pod, "Initialized", true, Some("PodCompleted"), None, now)
    } else if initialized {
        condition(pod, "Initialized", true, None, None, now)
    } else {
        condition(
            pod,
            "Initialized",
            false,
            Some("ContainersNotInitialized"),
            Some(format!(
                "containers with incomplete status: [{}]",
                pending_init.join(" ")
            )),
            now,
        )
    });
    let ready = unready.is_empty() && !terminal;
    for kind in ["Ready", "ContainersReady"] {
        conditions.push(if ready {
            condition(pod, kind, true, None, None, now)
        } else if terminal {
            condition(pod, kind, false, Some("PodCompleted"), None, now)
        } else {
            condition(
                pod,
                kind,
                false,
                Some("ContainersNotReady"),
                Some(format!(
                    "containers with unready status: [{}]",
                    unready.join(" ")
                )),
                now,
            )
        });
    }
    if let Some(scheduled) = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"))
        .and_then(|c| serde_json::to_value(c).ok())
    {
        conditions.push(scheduled);
    }
    let mut status = json!({
        "phase": phase,
        "conditions": conditions,
        "containerStatuses": statuses,
        "startTime": observed.start_time,
        "qosClass": super::containers::qos_class(pod),
    });
    if !init_statuses.is_empty() {
        status["initContainerStatuses"] = json!(init_statuses);
    }
    if let Some(ip) = observed.host_ip {
        status["hostIP"] = json!(ip.to_string());
        status["hostIPs"] = json!([{"ip": ip.to_string()}]);
    }
    if let Some(ip) = observed.pod_ip {
        status["podIP"] = json!(ip.to_string());
        status["podIPs"] = json!([{"ip": ip.to_string()}]);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn pod(policy: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u1"},
            "spec": {"restartPolicy": policy, "containers": [{"name": "app", "image": "busybox"}]},
        }))
        .unwrap()
    }

    fn exited(attempt: u32, code: i32) -> ContainerStatus {
        let mut s = ContainerStatus::created(
            "app",
            attempt,
            PathBuf::from("/x"),
            "2026-01-01T00:00:00.000000001Z".into(),
        );
        s.state = ContainerState::Exited;
        s.started_at = Some("2026-01-01T00:00:01.5Z".into());
        s.finished_at = Some("2026-01-01T00:00:02.5Z".into());
        s.exit_code = Some(code);
        s.reason = Some(if code == 0 { "Completed" } else { "Error" }.into());
        s
    }

    fn observe<'a>(
        containers: &'a [ContainerStatus],
        waiting: &'a HashMap<String, Waiting>,
        images: &'a HashMap<String, ImageInfo>,
    ) -> Observed<'a> {
        static NONE: std::sync::LazyLock<HashMap<String, crate::agent::kubelet::probes::Verdict>> =
            std::sync::LazyLock::new(HashMap::new);
        Observed {
            containers,
            waiting,
            images,
            verdicts: &NONE,
            sandbox_ready: true,
            host_ip: Some("10.0.0.1".parse().unwrap()),
            pod_ip: None,
            start_time: "2026-01-01T00:00:00Z".into(),
            now: "2026-01-01T00:00:03Z".into(),
        }
    }

    #[test]
    fn a_container_that_exits_zero_completes_the_pod() {
        let (waiting, images) = (HashMap::new(), HashMap::new());
        let containers = [exited(0, 0)];
        let status = pod_status(&pod("Never"), &observe(&containers, &waiting, &images));
        assert_eq!(status["phase"], "Succeeded");
        let state = &status["containerStatuses"][0]["state"]["terminated"];
        assert_eq!(state["exitCode"], 0);
        assert_eq!(state["reason"], "Completed");
        assert_eq!(state["startedAt"], "2026-01-01T00:00:01Z");
        assert_eq!(status["conditions"][2]["reason"], "PodCompleted");
    }

    #[test]
    fn a_crash_loop_is_running_and_waiting_with_the_last_exit() {
        let images = HashMap::new();
        let waiting = HashMap::from([(
            "app".to_string(),
            Waiting {
                reason: "CrashLoopBackOff".into(),
                message: "back-off 10s restarting failed container=app pod=p_default(u1)".into(),
            },
        )]);
        let containers = [exited(0, 1), exited(1, 1)];
        let status = pod_status(&pod("Always"), &observe(&containers, &waiting, &images));
        assert_eq!(status["phase"], "Running");
        let c = &status["containerStatuses"][0];
        assert_eq!(c["state"]["waiting"]["reason"], "CrashLoopBackOff");
        assert_eq!(c["lastState"]["terminated"]["exitCode"], 1);
        assert_eq!(c["restartCount"], 1);
        assert_eq!(c["containerID"], "kedge://u1/app.1");
        assert_eq!(status["conditions"][2]["reason"], "ContainersNotReady");
    }

    #[test]
    fn a_failed_container_fails_a_never_restarting_pod() {
        let (waiting, images) = (HashMap::new(), HashMap::new());
        let containers = [exited(0, 3)];
        let status = pod_status(&pod("Never"), &observe(&containers, &waiting, &images));
        assert_eq!(status["phase"], "Failed");
        let status = pod_status(&pod("OnFailure"), &observe(&containers, &waiting, &images));
        assert_eq!(status["phase"], "Running");
    }

    #[test]
    fn nothing_started_yet_is_pending_and_creating() {
        let (waiting, images) = (HashMap::new(), HashMap::new());
        let status = pod_status(&pod("Always"), &observe(&[], &waiting, &images));
        assert_eq!(status["phase"], "Pending");
        assert_eq!(
            status["containerStatuses"][0]["state"]["waiting"]["reason"],
            "ContainerCreating"
        );
        assert_eq!(status["qosClass"], "BestEffort");
    }
}
