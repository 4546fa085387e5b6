//! The Pod table: READY, STATUS and RESTARTS summarised from container statuses the way
//! upstream's pod printer does (init progress `Init:0/1`, waiting reasons such as
//! `CrashLoopBackOff`, `Completed`, `Terminating`, sidecar init containers, restarts with
//! `(5m ago)`), plus the wide columns IP, NODE, NOMINATED NODE and READINESS GATES.

use serde_json::{Value, json};

use super::Column;
use super::duration::{self, parse_timestamp};
use super::fields::{age, boolean, int, is_deleting, list, name, non_empty, text};

pub(super) const COLUMNS: &[Column] = &[
    Column::NAME,
    Column::text(
        "Ready",
        "Ready containers out of all containers of the pod.",
    ),
    Column::text(
        "Status",
        "A one-word summary of the pod and its containers.",
    ),
    Column::text(
        "Restarts",
        "Container restarts, and how long ago the last one was.",
    ),
    Column::AGE,
    Column::wide("IP", "The first IP address of the pod."),
    Column::wide("Node", "The node the pod is bound to."),
    Column::wide(
        "Nominated Node",
        "The node the scheduler wants to preempt pods on for this pod.",
    ),
    Column::wide(
        "Readiness Gates",
        "Readiness gates whose condition is True, out of all gates.",
    ),
];

/// The reason a pod on an unreachable node is given when its node is lost.
const NODE_LOST: &str = "NodeLost";

/// Restart count and the latest termination among a set of containers.
#[derive(Default)]
struct Restarts {
    count: i64,
    last: Option<i128>,
}

impl Restarts {
    fn add(&mut self, status: &Value) {
        self.count = self.count.saturating_add(int(status, "/restartCount"));
        let finished = parse_timestamp(status.pointer("/lastState/terminated/finishedAt"));
        if let Some(finished) = finished
            && self.last.is_none_or(|last| last < finished)
        {
            self.last = Some(finished);
        }
    }

    /// `5`, or `5 (3m ago)` when the last termination is known.
    fn cell(&self, now: i64) -> String {
        match self.last {
            Some(last) if self.count != 0 => {
                let since = duration::between(last, i128::from(now) * 1_000_000_000);
                format!("{} ({} ago)", self.count, duration::human_duration(since))
            }
            _ => self.count.to_string(),
        }
    }
}

/// What the init container statuses add up to.
#[derive(Default)]
struct InitProgress {
    /// Started sidecars (init containers that keep running) that are ready.
    ready_sidecars: usize,
    /// Restarts of every init container looked at.
    all: Restarts,
    /// Restarts of the sidecars only.
    sidecars: Restarts,
    /// `Init:…` while initialisation is under way or failed.
    reason: Option<String>,
}

pub(super) fn cells(pod: &Value, now: i64) -> Vec<Value> {
    let phase = non_empty(pod, "/status/phase").unwrap_or("Pending");
    let conditions = list(pod, "/status/conditions");
    let mut reason = non_empty(pod, "/status/reason").unwrap_or(phase).to_owned();
    if conditions.iter().any(|condition| {
        text(condition, "/type") == "PodScheduled"
            && text(condition, "/reason") == "SchedulingGated"
    }) {
        reason = "SchedulingGated".to_owned();
    }

    let sidecars = list(pod, "/spec/initContainers")
        .iter()
        .filter(|container| is_sidecar(container))
        .count();
    let total = list(pod, "/spec/containers").len() + sidecars;

    let init = init_progress(pod);
    let mut ready = init.ready_sidecars;
    let initializing = init.reason.is_some();
    if let Some(init_reason) = init.reason {
        reason = init_reason;
    }
    let restarts = if !initializing || condition_is_true(conditions, "Initialized") {
        let (ready_containers, restarts) = app_progress(pod, init.sidecars, &mut reason);
        ready += ready_containers;
        restarts
    } else {
        init.all
    };

    if is_deleting(pod) {
        if text(pod, "/status/reason") == NODE_LOST {
            reason = "Unknown".to_owned();
        } else if phase != "Succeeded" && phase != "Failed" {
            reason = "Terminating".to_owned();
        }
    }

    vec![
        name(pod),
        Value::from(format!("{ready}/{total}")),
        Value::from(reason),
        Value::from(restarts.cell(now)),
        age(pod, now),
        Value::from(pod_ip(pod)),
        Value::from(non_empty(pod, "/spec/nodeName").unwrap_or("<none>")),
        Value::from(non_empty(pod, "/status/nominatedNodeName").unwrap_or("<none>")),
        Value::from(readiness_gates(pod, conditions)),
    ]
}

/// Walks the init container statuses up to the first one that has not finished.
fn init_progress(pod: &Value) -> InitProgress {
    let init_containers = list(pod, "/spec/initContainers");
    let mut progress = InitProgress::default();
    for (index, status) in list(pod, "/status/initContainerStatuses")
        .iter()
        .enumerate()
    {
        let status_name = text(status, "/name");
        let sidecar = init_containers
            .iter()
            .any(|container| text(container, "/name") == status_name && is_sidecar(container));
        progress.all.add(status);
        if sidecar {
            progress.sidecars.add(status);
        }
        let terminated = state(status, "terminated");
        if terminated.is_some_and(|finished| int(finished, "/exitCode") == 0) {
            continue;
        }
        if sidecar && boolean(status, "/started", false) {
            if boolean(status, "/ready", false) {
                progress.ready_sidecars += 1;
            }
            continue;
        }
        let waiting = non_empty(status, "/state/waiting/reason");
        progress.reason = Some(match (terminated, waiting) {
            (Some(finished), _) => termination_reason(finished, "Init:"),
            (None, Some(why)) if why != "PodInitializing" => format!("Init:{why}"),
            _ => format!("Init:{index}/{}", init_containers.len()),
        });
        break;
    }
    progress
}

/// Walks the app container statuses, last first, so that the first container's state wins the
/// STATUS column. Returns the ready containers and the restarts, sidecars' included.
fn app_progress(pod: &Value, mut restarts: Restarts, reason: &mut String) -> (usize, Restarts) {
    let mut ready = 0;
    for status in list(pod, "/status/containerStatuses").iter().rev() {
        restarts.add(status);
        if let Some(why) = non_empty(status, "/state/waiting/reason") {
            *reason = why.to_owned();
        } else if let Some(finished) = state(status, "terminated") {
            *reason = termination_reason(finished, "");
        } else if boolean(status, "/ready", false) && state(status, "running").is_some() {
            ready += 1;
        }
    }
    // A finished container beside running ones: the pod as a whole is still running.
    if reason == "Completed" && ready > 0 {
        let pod_ready = list(pod, "/status/conditions").iter().any(|condition| {
            text(condition, "/type") == "Ready" && text(condition, "/status") == "True"
        });
        *reason = if pod_ready { "Running" } else { "NotReady" }.to_owned();
    }
    (ready, restarts)
}

/// A container state (`waiting`, `running`, `terminated`) when set.
fn state<'a>(status: &'a Value, which: &str) -> Option<&'a Value> {
    status
        .get("state")?
        .get(which)
        .filter(|found| !found.is_null())
}

/// The reason of a terminated state, else `Signal:N` or `ExitCode:N`, after `prefix`.
fn termination_reason(terminated: &Value, prefix: &str) -> String {
    match (non_empty(terminated, "/reason"), int(terminated, "/signal")) {
        (Some(why), _) => format!("{prefix}{why}"),
        (None, 0) => format!("{prefix}ExitCode:{}", int(terminated, "/exitCode")),
        (None, signal) => format!("{prefix}Signal:{signal}"),
    }
}

/// An init container that keeps running beside the app containers.
fn is_sidecar(container: &Value) -> bool {
    text(container, "/restartPolicy") == "Always"
}

/// The row conditions upstream attaches to finished pods.
pub(super) fn row_conditions(pod: &Value) -> Option<Value> {
    let (reason, message) = match text(pod, "/status/phase") {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return None,
    };
    Some(json!([{"type": "Completed", "status": "True", "reason": reason, "message": message}]))
}

fn condition_is_true(conditions: &[Value], kind: &str) -> bool {
    conditions
        .iter()
        .find(|condition| text(condition, "/type") == kind)
        .is_some_and(|condition| text(condition, "/status") == "True")
}

fn pod_ip(pod: &Value) -> &str {
    list(pod, "/status/podIPs")
        .first()
        .map(|entry| text(entry, "/ip"))
        .or_else(|| non_empty(pod, "/status/podIP"))
        .filter(|ip| !ip.is_empty())
        .unwrap_or("<none>")
}

fn readiness_gates(pod: &Value, conditions: &[Value]) -> String {
    let gates = list(pod, "/spec/readinessGates");
    if gates.is_empty() {
        return "<none>".to_owned();
    }
    let passed = gates
        .iter()
        .filter(|gate| {
            let wanted = text(gate, "/conditionType");
            conditions
                .iter()
                .find(|condition| text(condition, "/type") == wanted)
                .is_some_and(|condition| text(condition, "/status") == "True")
        })
        .count();
    format!("{passed}/{}", gates.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-05-01T10:10:00Z: ten minutes after the pods below were created.
    const NOW: i64 = 1_714_558_200;

    fn pod(spec: Value, status: Value) -> Value {
        json!({
            "metadata": {"name": "web-0", "namespace": "default", "creationTimestamp": "2024-05-01T10:00:00Z"},
            "spec": spec,
            "status": status,
        })
    }

    fn summary(pod: &Value) -> (String, String, String) {
        let row = cells(pod, NOW);
        let cell = |index: usize| row[index].as_str().unwrap_or_default().to_owned();
        (cell(1), cell(2), cell(3))
    }

    fn owned(ready: &str, status: &str, restarts: &str) -> (String, String, String) {
        (ready.to_owned(), status.to_owned(), restarts.to_owned())
    }

    #[test]
    fn running_pod_shows_every_column() {
        let running = pod(
            json!({"nodeName": "node-a", "containers": [{"name": "web", "image": "nginx"}]}),
            json!({
                "phase": "Running",
                "podIP": "10.42.0.7",
                "podIPs": [{"ip": "10.42.0.7"}, {"ip": "fd00::7"}],
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": "web", "ready": true, "restartCount": 0,
                    "state": {"running": {"startedAt": "2024-05-01T10:00:05Z"}}}]
            }),
        );
        assert_eq!(
            cells(&running, NOW),
            vec![
                json!("web-0"),
                json!("1/1"),
                json!("Running"),
                json!("0"),
                json!("10m"),
                json!("10.42.0.7"),
                json!("node-a"),
                json!("<none>"),
                json!("<none>")
            ]
        );
    }

    #[test]
    fn pending_pod_without_status() {
        let pending = pod(
            json!({"containers": [{"name": "a"}, {"name": "b"}]}),
            json!({}),
        );
        assert_eq!(
            cells(&pending, NOW)[1..],
            [
                json!("0/2"),
                json!("Pending"),
                json!("0"),
                json!("10m"),
                json!("<none>"),
                json!("<none>"),
                json!("<none>"),
                json!("<none>")
            ]
        );
    }

    #[test]
    fn crash_loop_shows_restarts_with_time_since_last() {
        let crashing = pod(
            json!({"containers": [{"name": "app"}]}),
            json!({
                "phase": "Running",
                "containerStatuses": [{"name": "app", "ready": false, "restartCount": 5,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                        "finishedAt": "2024-05-01T10:05:00Z"}}}]
            }),
        );
        assert_eq!(
            summary(&crashing),
            owned("0/1", "CrashLoopBackOff", "5 (5m ago)")
        );
    }

    #[test]
    fn init_containers_report_progress_and_failures() {
        let spec = json!({"initContainers": [{"name": "migrate"}, {"name": "seed"}], "containers": [{"name": "app"}]});
        let first_running = pod(
            spec.clone(),
            json!({"phase": "Pending", "initContainerStatuses": [
                {"name": "migrate", "state": {"running": {}}},
                {"name": "seed", "state": {"waiting": {"reason": "PodInitializing"}}}]}),
        );
        assert_eq!(summary(&first_running), owned("0/1", "Init:0/2", "0"));

        let second_waiting = pod(
            spec.clone(),
            json!({"phase": "Pending", "initContainerStatuses": [
                {"name": "migrate", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                {"name": "seed", "state": {"waiting": {"reason": "PodInitializing"}}}]}),
        );
        assert_eq!(summary(&second_waiting), owned("0/1", "Init:1/2", "0"));

        let failed = pod(
            spec.clone(),
            json!({"phase": "Pending", "initContainerStatuses": [
                {"name": "migrate", "restartCount": 3, "state": {"terminated": {"exitCode": 2}}}]}),
        );
        assert_eq!(summary(&failed), owned("0/1", "Init:ExitCode:2", "3"));

        let backoff = pod(
            spec,
            json!({"phase": "Pending", "initContainerStatuses": [
                {"name": "migrate", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}),
        );
        assert_eq!(
            summary(&backoff),
            owned("0/1", "Init:CrashLoopBackOff", "0")
        );
    }

    #[test]
    fn sidecar_init_containers_count_as_containers() {
        let sidecar = pod(
            json!({"initContainers": [{"name": "proxy", "restartPolicy": "Always"}], "containers": [{"name": "app"}]}),
            json!({
                "phase": "Running",
                "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
                "initContainerStatuses": [{"name": "proxy", "started": true, "ready": true, "restartCount": 1,
                    "state": {"running": {}},
                    "lastState": {"terminated": {"exitCode": 137, "finishedAt": "2024-05-01T10:08:00Z"}}}],
                "containerStatuses": [{"name": "app", "ready": true, "state": {"running": {}}}]
            }),
        );
        assert_eq!(summary(&sidecar), owned("2/2", "Running", "1 (2m ago)"));
    }

    #[test]
    fn finished_pods_show_completed_or_the_failure() {
        let completed = pod(
            json!({"containers": [{"name": "job"}]}),
            json!({"phase": "Succeeded", "containerStatuses": [{"name": "job",
                "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
        );
        assert_eq!(summary(&completed), owned("0/1", "Completed", "0"));
        assert_eq!(
            row_conditions(&completed).map(|found| found[0]["reason"].clone()),
            Some(json!("Succeeded"))
        );

        let killed = pod(
            json!({"containers": [{"name": "job"}]}),
            json!({"phase": "Failed", "containerStatuses": [{"name": "job",
                "state": {"terminated": {"exitCode": 137, "signal": 9}}}]}),
        );
        assert_eq!(summary(&killed), owned("0/1", "Signal:9", "0"));
        assert_eq!(
            row_conditions(&pod(json!({}), json!({"phase": "Running"}))),
            None
        );
    }

    #[test]
    fn completed_container_beside_a_running_one() {
        let mixed = pod(
            json!({"containers": [{"name": "main"}, {"name": "helper"}]}),
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [
                    {"name": "main", "ready": true, "state": {"running": {}}},
                    {"name": "helper", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
        );
        assert_eq!(summary(&mixed), owned("1/2", "NotReady", "0"));
    }

    #[test]
    fn deleting_pods_are_terminating_or_unknown() {
        let mut deleting = pod(
            json!({"containers": [{"name": "a"}]}),
            json!({"phase": "Running"}),
        );
        deleting["metadata"]["deletionTimestamp"] = json!("2024-05-01T10:09:00Z");
        assert_eq!(summary(&deleting).1, "Terminating");
        deleting["status"]["reason"] = json!("NodeLost");
        assert_eq!(summary(&deleting).1, "Unknown");
        deleting["status"] = json!({"phase": "Succeeded"});
        assert_eq!(summary(&deleting).1, "Succeeded");
    }

    #[test]
    fn scheduling_gated_and_readiness_gates() {
        let gated = pod(
            json!({"containers": [{"name": "a"}], "readinessGates": [
                {"conditionType": "example.com/lb"}, {"conditionType": "example.com/dns"}]}),
            json!({"phase": "Pending", "nominatedNodeName": "node-b", "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"},
                {"type": "example.com/lb", "status": "True"}]}),
        );
        let row = cells(&gated, NOW);
        assert_eq!(row[2], json!("SchedulingGated"));
        assert_eq!(row[7], json!("node-b"));
        assert_eq!(row[8], json!("1/2"));
    }

    #[test]
    fn first_container_state_wins() {
        let pulling = pod(
            json!({"containers": [{"name": "app"}, {"name": "proxy"}]}),
            json!({"phase": "Pending", "containerStatuses": [
                {"name": "app", "state": {"waiting": {"reason": "ImagePullBackOff"}}},
                {"name": "proxy", "state": {"waiting": {"reason": "ContainerCreating"}}}]}),
        );
        assert_eq!(summary(&pulling), owned("0/2", "ImagePullBackOff", "0"));

        let init_error = pod(
            json!({"initContainers": [{"name": "migrate"}], "containers": [{"name": "app"}]}),
            json!({"phase": "Pending", "initContainerStatuses": [{"name": "migrate", "restartCount": 2,
                "state": {"terminated": {"exitCode": 1, "reason": "Error"}},
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2024-05-01T10:09:30Z"}}}],
                "containerStatuses": [{"name": "app", "state": {"waiting": {"reason": "PodInitializing"}}}]}),
        );
        assert_eq!(
            summary(&init_error),
            owned("0/1", "Init:Error", "2 (30s ago)")
        );
    }

    #[test]
    fn evicted_pod_keeps_its_reason() {
        let evicted = pod(
            json!({"containers": [{"name": "a"}]}),
            json!({"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory."}),
        );
        assert_eq!(summary(&evicted), owned("0/1", "Evicted", "0"));
    }
}
