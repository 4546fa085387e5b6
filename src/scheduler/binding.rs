//! The scheduler's writes to the API server, in process: `pods/binding`, the `PodScheduled`
//! condition and `nominatedNodeName` of pods it could not place, and the deletion of
//! preemption victims (with a `DisruptionTarget` condition first, as upstream does).

use std::sync::Arc;

use bytes::Bytes;
use http::Method;
use k8s_openapi::api::core::v1::ObjectReference;
use serde_json::{Value, json};

use super::SchedulerError;
use super::info::PodInfo;
use crate::api::ApiState;
use crate::api::auth::UserInfo;
use crate::api::local;
use crate::api::object;

/// The identity the scheduler writes as.
pub fn user() -> UserInfo {
    UserInfo::system("kube-scheduler")
}

/// The `involvedObject` of an event about a pod.
pub fn reference(pod: &PodInfo) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: Some(pod.name.clone()),
        namespace: Some(pod.namespace.clone()),
        uid: Some(pod.uid.clone()),
        resource_version: Some(pod.resource_version.clone()),
        field_path: None,
    }
}

fn pod_uri(pod: &PodInfo) -> String {
    format!("/api/v1/namespaces/{}/pods/{}", pod.namespace, pod.name)
}

fn failure(status: u16, body: &[u8]) -> String {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    parsed
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("HTTP {status}"))
}

/// Binds `pod` to `node` through `pods/binding`.
///
/// # Errors
/// When the API refuses the binding (the pod is gone, already bound, or being deleted).
pub async fn bind(api: &Arc<ApiState>, pod: &PodInfo, node: &str) -> Result<(), SchedulerError> {
    let binding = json!({
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    });
    let (status, body) = local::request(
        api,
        &user(),
        Method::POST,
        &format!("{}/binding", pod_uri(pod)),
        "application/json",
        Bytes::from(binding.to_string()),
    )
    .await;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(SchedulerError::Bind {
            pod: pod.key(),
            node: node.to_string(),
            status,
            message: failure(status, &body),
        })
    }
}

async fn patch_status(
    api: &Arc<ApiState>,
    pod: &PodInfo,
    patch: Value,
) -> Result<(), SchedulerError> {
    let (status, body) = local::request(
        api,
        &user(),
        Method::PATCH,
        &format!("{}/status", pod_uri(pod)),
        "application/strategic-merge-patch+json",
        Bytes::from(patch.to_string()),
    )
    .await;
    if (200..300).contains(&status) || status == 404 {
        Ok(())
    } else {
        Err(SchedulerError::StatusUpdate {
            pod: pod.key(),
            status,
            message: failure(status, &body),
        })
    }
}

/// What to do with a pod's `status.nominatedNodeName`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Nomination {
    Keep,
    Set(String),
    Clear,
}

/// Records that `pod` could not be scheduled: `PodScheduled=False` with `reason` and
/// `message`, and its nomination. Writes nothing when the pod already says so.
///
/// # Errors
/// When the status update is refused.
pub async fn mark_unschedulable(
    api: &Arc<ApiState>,
    pod: &PodInfo,
    reason: &str,
    message: &str,
    nomination: Nomination,
) -> Result<(), SchedulerError> {
    let current = pod.scheduled_condition.as_ref();
    let same_condition =
        current.is_some_and(|(s, r, m)| s == "False" && r == reason && m == message);
    let same_nomination = match &nomination {
        Nomination::Keep => true,
        Nomination::Set(node) => pod.nominated_node.as_deref() == Some(node.as_str()),
        Nomination::Clear => pod.nominated_node.is_none(),
    };
    if same_condition && same_nomination {
        return Ok(());
    }
    let mut condition = json!({
        "type": "PodScheduled",
        "status": "False",
        "reason": reason,
        "message": message,
        "lastProbeTime": null,
    });
    if current.is_none_or(|(s, _, _)| s != "False") {
        condition["lastTransitionTime"] = json!(object::now());
    }
    let mut status = json!({"conditions": [condition]});
    match nomination {
        Nomination::Keep => {}
        Nomination::Set(node) => status["nominatedNodeName"] = json!(node),
        Nomination::Clear => status["nominatedNodeName"] = Value::Null,
    }
    patch_status(api, pod, json!({"status": status})).await
}

/// Clears the nomination of a pod nominated to a node a more important pod preempted on.
///
/// # Errors
/// When the status update is refused.
pub async fn clear_nomination(api: &Arc<ApiState>, pod: &PodInfo) -> Result<(), SchedulerError> {
    patch_status(api, pod, json!({"status": {"nominatedNodeName": null}})).await
}

/// Deletes a preemption victim with its own grace period, after marking it as a
/// disruption target.
///
/// # Errors
/// When the delete is refused (a victim already gone is fine).
pub async fn delete_victim(
    api: &Arc<ApiState>,
    victim: &PodInfo,
    scheduler_name: &str,
) -> Result<(), SchedulerError> {
    let condition = json!({
        "type": "DisruptionTarget",
        "status": "True",
        "reason": "PreemptionByScheduler",
        "message": format!("{scheduler_name}: preempting to accommodate a higher priority pod"),
        "lastTransitionTime": object::now(),
    });
    patch_status(api, victim, json!({"status": {"conditions": [condition]}})).await?;
    let options = json!({
        "apiVersion": "v1",
        "kind": "DeleteOptions",
        "preconditions": {"uid": victim.uid},
    });
    let (status, body) = local::request(
        api,
        &user(),
        Method::DELETE,
        &pod_uri(victim),
        "application/json",
        Bytes::from(options.to_string()),
    )
    .await;
    if (200..300).contains(&status) || status == 404 || status == 409 {
        Ok(())
    } else {
        Err(SchedulerError::Delete {
            pod: victim.key(),
            status,
            message: failure(status, &body),
        })
    }
}
