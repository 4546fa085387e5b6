//! What the registry strategies and the default mutating admission plugins store on create,
//! beyond defaulting: the status a new object starts with (a Pod's phase and QoS class, a
//! Namespace's phase, the zero-valued status of workloads), the `kubernetes` finalizer of a
//! Namespace, and a DaemonSet's template generation annotation.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::json::{Object, child, child_or_insert, is_unset};
use super::quantity::Quantity;

/// The finalizer every new Namespace carries until its content is deleted.
const NAMESPACE_FINALIZER: &str = "kubernetes";
/// Annotation in which apps/v1 keeps a DaemonSet's template generation.
const DAEMON_SET_TEMPLATE_GENERATION: &str = "deprecated.daemonset.template.generation";
/// The message of the condition a pod with scheduling gates starts with.
const SCHEDULING_GATED_MESSAGE: &str = "Scheduling is blocked due to non-empty scheduling gates";

/// Applies, to an object about to be created, what upstream's `PrepareForCreate` of its
/// registry strategy sets (status reset to the kind's starting status, Namespace finalizer,
/// DaemonSet template generation; a Pod's priority is [`priority`](crate::api::admission::priority)
/// admission's). `now` is the create time, RFC 3339 in UTC
/// (`2024-05-01T10:00:00Z`), used for the timestamps these set.
///
/// Run it after [`apply_defaults`](super::apply_defaults) and before validation; running
/// [`apply_defaults`](super::apply_defaults) again afterwards changes nothing more except for
/// the Job labels described at [`generate_job_selector`](super::generate_job_selector).
/// Not for updates: there upstream keeps the stored status. Metadata (`uid`, `generation`,
/// timestamps) is not its concern.
pub fn prepare_for_create(group: &str, version: &str, kind: &str, object: &mut Value, now: &str) {
    let Some(object) = object.as_object_mut() else {
        return;
    };
    let status = match (group, version, kind) {
        ("", "v1", "Pod") => {
            prepare_pod(object, now);
            return;
        }
        ("", "v1", "Namespace") => {
            prepare_namespace(object);
            return;
        }
        ("", "v1", "PersistentVolume") => {
            json!({"phase": "Pending", "lastPhaseTransitionTime": now})
        }
        ("", "v1", "PersistentVolumeClaim") => json!({"phase": "Pending"}),
        ("", "v1", "Service") | ("networking.k8s.io", "v1", "Ingress") => {
            json!({"loadBalancer": {}})
        }
        ("", "v1", "ReplicationController") | ("apps", "v1", "ReplicaSet") => {
            json!({"replicas": 0})
        }
        ("", "v1", "ResourceQuota")
        | ("apps", "v1", "Deployment")
        | ("batch", "v1", "Job" | "CronJob")
        | ("certificates.k8s.io", "v1", "CertificateSigningRequest") => json!({}),
        ("apps", "v1", "StatefulSet") => json!({"replicas": 0, "availableReplicas": 0}),
        ("apps", "v1", "DaemonSet") => {
            prepare_daemon_set(object);
            json!({
                "currentNumberScheduled": 0,
                "numberMisscheduled": 0,
                "desiredNumberScheduled": 0,
                "numberReady": 0
            })
        }
        ("autoscaling", "v2", "HorizontalPodAutoscaler") => {
            json!({"currentMetrics": null, "desiredReplicas": 0})
        }
        ("policy", "v1", "PodDisruptionBudget") => json!({
            "disruptionsAllowed": 0,
            "currentHealthy": 0,
            "desiredHealthy": 0,
            "expectedPods": 0
        }),
        _ => return,
    };
    object.insert("status".to_string(), status);
}

/// The Pod strategy's starting status and its scheduling-gated condition.
fn prepare_pod(pod: &mut Object, now: &str) {
    let (qos_class, gated) = match child(pod, "spec") {
        Some(spec) => {
            let gated = spec
                .get("schedulingGates")
                .and_then(Value::as_array)
                .is_some_and(|gates| !gates.is_empty());
            (qos_class(spec), gated)
        }
        None => ("BestEffort", false),
    };
    let status = if gated {
        json!({
            "phase": "Pending",
            "qosClass": qos_class,
            "conditions": [{
                "type": "PodScheduled",
                "status": "False",
                "lastProbeTime": null,
                "lastTransitionTime": now,
                "reason": "SchedulingGated",
                "message": SCHEDULING_GATED_MESSAGE
            }]
        })
    } else {
        json!({"phase": "Pending", "qosClass": qos_class})
    };
    pod.insert("status".to_string(), status);
}

/// The QoS class of a pod (`BestEffort`, `Burstable` or `Guaranteed`), as `ComputePodQOS`
/// decides it from CPU and memory: pod-level resources when they name any, otherwise the sums
/// over containers and init containers, compared as quantities (`1` equals `1000m`).
pub fn pod_qos_class(pod: &Value) -> &'static str {
    match pod.get("spec").and_then(Value::as_object) {
        Some(spec) => qos_class(spec),
        None => "BestEffort",
    }
}

/// [`pod_qos_class`] of a pod spec.
fn qos_class(spec: &Object) -> &'static str {
    let mut requests = BTreeMap::new();
    let mut limits = BTreeMap::new();
    let mut guaranteed = true;
    let pod_level = spec
        .get("resources")
        .and_then(Value::as_object)
        .filter(|resources| sets_pod_level_resources(resources))
        .cloned();
    match pod_level {
        Some(resources) => {
            add_compute_resources(&mut requests, resources.get("requests"));
            let found = add_compute_resources(&mut limits, resources.get("limits"));
            guaranteed &= found.0 && found.1;
        }
        None => {
            let containers = ["containers", "initContainers"]
                .iter()
                .filter_map(|key| spec.get(*key).and_then(Value::as_array))
                .flatten();
            for container in containers {
                let resources = container.get("resources");
                add_compute_resources(
                    &mut requests,
                    resources.and_then(|resources| resources.get("requests")),
                );
                let found = add_compute_resources(
                    &mut limits,
                    resources.and_then(|resources| resources.get("limits")),
                );
                guaranteed &= found.0 && found.1;
            }
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    let all_requests_match = requests.iter().all(|(name, request)| {
        limits.get(name).is_some_and(|limit: &Quantity| {
            limit.compare(request) == Some(std::cmp::Ordering::Equal)
        })
    });
    if guaranteed && all_requests_match && requests.len() == limits.len() {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// Whether pod-level resources name CPU, memory or huge pages.
fn sets_pod_level_resources(resources: &Object) -> bool {
    ["requests", "limits"].iter().any(|key| {
        resources
            .get(*key)
            .and_then(Value::as_object)
            .is_some_and(|list| {
                list.keys()
                    .any(|name| name == "cpu" || name == "memory" || name.starts_with("hugepages-"))
            })
    })
}

/// Adds the positive CPU and memory entries of a resource list into `totals`; tells whether
/// CPU and memory were each found.
fn add_compute_resources(
    totals: &mut BTreeMap<&'static str, Quantity>,
    list: Option<&Value>,
) -> (bool, bool) {
    let mut found = (false, false);
    let Some(list) = list.and_then(Value::as_object) else {
        return found;
    };
    for name in ["cpu", "memory"] {
        let Some(quantity) = list.get(name).and_then(Quantity::from_json) else {
            continue;
        };
        if !quantity.is_positive() {
            continue;
        }
        if name == "cpu" {
            found.0 = true;
        } else {
            found.1 = true;
        }
        let total = match totals.get(name) {
            Some(sum) => sum.checked_add(&quantity).unwrap_or(quantity),
            None => quantity,
        };
        totals.insert(name, total);
    }
    found
}

/// The Namespace strategy: active, with the `kubernetes` finalizer appended when missing.
fn prepare_namespace(namespace: &mut Object) {
    namespace.insert("status".to_string(), json!({"phase": "Active"}));
    let Some(spec) = child_or_insert(namespace, "spec") else {
        return;
    };
    if is_unset(spec, "finalizers") {
        spec.insert("finalizers".to_string(), json!([]));
    }
    if let Some(finalizers) = spec.get_mut("finalizers").and_then(Value::as_array_mut)
        && !finalizers.iter().any(|name| name == NAMESPACE_FINALIZER)
    {
        finalizers.push(json!(NAMESPACE_FINALIZER));
    }
}

/// The DaemonSet strategy starts the template generation at 1; apps/v1 shows it as an
/// annotation. A valid generation the client sent is kept.
fn prepare_daemon_set(daemon_set: &mut Object) {
    let Some(annotations) = child_or_insert(daemon_set, "metadata")
        .and_then(|metadata| child_or_insert(metadata, "annotations"))
    else {
        return;
    };
    let current = annotations
        .get(DAEMON_SET_TEMPLATE_GENERATION)
        .and_then(Value::as_str)
        .and_then(|text| text.parse::<i64>().ok());
    if current.is_none_or(|generation| generation < 1) {
        annotations.insert(DAEMON_SET_TEMPLATE_GENERATION.to_string(), json!("1"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> Object {
        match value {
            Value::Object(fields) => fields,
            _ => Object::new(),
        }
    }

    fn qos(spec: Value) -> &'static str {
        qos_class(&object(spec))
    }

    #[test]
    fn qos_classes() {
        assert_eq!(qos(json!({"containers": [{"name": "a"}]})), "BestEffort");
        assert_eq!(
            qos(json!({"containers": [{"resources": {"requests": {"cpu": "0"}}}]})),
            "BestEffort"
        );
        assert_eq!(
            qos(
                json!({"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1000m", "memory": "1024Mi"}}}]})
            ),
            "Guaranteed"
        );
        assert_eq!(
            qos(
                json!({"containers": [{"resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}}]})
            ),
            "Burstable"
        );
        assert_eq!(
            qos(json!({"containers": [
                {"resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}},
                {"name": "sidecar"}
            ]})),
            "Burstable"
        );
        assert_eq!(
            qos(json!({"containers": [{"resources": {"requests": {"ephemeral-storage": "1Gi"}}}]})),
            "BestEffort"
        );
        assert_eq!(
            qos(json!({
                "resources": {"limits": {"cpu": "2", "memory": "2Gi"}, "requests": {"cpu": "2", "memory": "2Gi"}},
                "containers": [{"resources": {"requests": {"cpu": "100m"}}}]
            })),
            "Guaranteed"
        );
    }

    #[test]
    fn gated_pod_starts_with_a_scheduling_condition() {
        let mut pod = json!({"spec": {"schedulingGates": [{"name": "wait"}], "containers": []}, "status": {"phase": "Running"}});
        prepare_for_create("", "v1", "Pod", &mut pod, "2024-05-01T10:00:00Z");
        assert_eq!(
            pod["status"],
            json!({
                "phase": "Pending",
                "qosClass": "BestEffort",
                "conditions": [{
                    "type": "PodScheduled",
                    "status": "False",
                    "lastProbeTime": null,
                    "lastTransitionTime": "2024-05-01T10:00:00Z",
                    "reason": "SchedulingGated",
                    "message": "Scheduling is blocked due to non-empty scheduling gates"
                }]
            })
        );
    }

    #[test]
    fn namespace_gets_the_kubernetes_finalizer_once() {
        let mut namespace =
            json!({"metadata": {"name": "a"}, "spec": {"finalizers": ["example.com/x"]}});
        prepare_for_create(
            "",
            "v1",
            "Namespace",
            &mut namespace,
            "2024-05-01T10:00:00Z",
        );
        prepare_for_create(
            "",
            "v1",
            "Namespace",
            &mut namespace,
            "2024-05-01T10:00:00Z",
        );
        assert_eq!(
            namespace,
            json!({
                "metadata": {"name": "a"},
                "spec": {"finalizers": ["example.com/x", "kubernetes"]},
                "status": {"phase": "Active"}
            })
        );
    }

    #[test]
    fn workload_statuses_start_at_zero() {
        let mut daemon_set =
            json!({"metadata": {"name": "d"}, "spec": {}, "status": {"numberReady": 4}});
        prepare_for_create(
            "apps",
            "v1",
            "DaemonSet",
            &mut daemon_set,
            "2024-05-01T10:00:00Z",
        );
        assert_eq!(
            daemon_set["metadata"]["annotations"],
            json!({"deprecated.daemonset.template.generation": "1"})
        );
        assert_eq!(daemon_set["status"]["numberReady"], json!(0));
        let mut volume = json!({"spec": {}});
        prepare_for_create(
            "",
            "v1",
            "PersistentVolume",
            &mut volume,
            "2024-05-01T10:00:00Z",
        );
        assert_eq!(
            volume["status"],
            json!({"phase": "Pending", "lastPhaseTransitionTime": "2024-05-01T10:00:00Z"})
        );
        let mut config_map = json!({"data": {}});
        prepare_for_create(
            "",
            "v1",
            "ConfigMap",
            &mut config_map,
            "2024-05-01T10:00:00Z",
        );
        assert_eq!(config_map, json!({"data": {}}));
    }
}
