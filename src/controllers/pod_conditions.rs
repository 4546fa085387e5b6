//! What several controllers read from pods and write about their owners: the pod's phase,
//! readiness and termination, its conditions, and controller owner references.

use k8s_openapi::api::core::v1::{Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};

/// The pod's `status.phase` ("" when unset).
pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

/// Succeeded or Failed: its containers will not run again.
pub fn is_terminal(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// Marked for deletion.
pub fn is_deleting(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// Neither terminal nor being deleted (upstream's `FilterActivePods`).
pub fn is_active(pod: &Pod) -> bool {
    !is_terminal(pod) && !is_deleting(pod)
}

/// Being deleted but not yet terminal (upstream's terminating pods).
pub fn is_terminating(pod: &Pod) -> bool {
    is_deleting(pod) && !is_terminal(pod)
}

/// The pod's condition of type `kind`.
pub fn condition<'a>(pod: &'a Pod, kind: &str) -> Option<&'a PodCondition> {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == kind))
}

/// The `Ready` condition is `True`.
pub fn is_ready(pod: &Pod) -> bool {
    condition(pod, "Ready").is_some_and(|c| c.status == "True")
}

/// Sets the pod condition `new` (replacing one of its type); the transition time moves only
/// when the status changes. True if anything changed.
pub fn set_condition(pod: &mut Pod, mut new: PodCondition) -> bool {
    let status = pod.status.get_or_insert_with(Default::default);
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(old) => {
            if old.status == new.status {
                new.last_transition_time = old.last_transition_time.clone();
            }
            let changed =
                old.status != new.status || old.reason != new.reason || old.message != new.message;
            *old = new;
            changed
        }
        None => {
            conditions.push(new);
            true
        }
    }
}

/// A pod condition of `kind` with status, reason and message, transitioned now.
pub fn new_condition(kind: &str, status: &str, reason: &str, message: &str) -> PodCondition {
    PodCondition {
        type_: kind.to_string(),
        status: status.to_string(),
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
        last_transition_time: Some(Time(jiff::Timestamp::now())),
        ..Default::default()
    }
}

/// The uid of the object's controller (the owner reference with `controller: true`).
pub fn controller_uid(meta: &ObjectMeta) -> Option<&str> {
    controller_of(meta).map(|r| r.uid.as_str())
}

/// The object's controller reference.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true))
}

/// A controller reference to `owner`, blocking its foreground deletion, as upstream's
/// controllers set on what they create.
pub fn controller_ref(api_version: &str, kind: &str, owner: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        name: owner.name.clone().unwrap_or_default(),
        uid: owner.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(value: serde_json::Value) -> Pod {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn phases_and_readiness() {
        let running = pod(
            json!({"metadata": {"name": "a"}, "status": {"phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}]}}),
        );
        assert!(is_active(&running) && is_ready(&running) && !is_terminal(&running));
        let deleting = pod(json!({"metadata": {"name": "a",
            "deletionTimestamp": "2024-01-01T00:00:00Z"}, "status": {"phase": "Running"}}));
        assert!(is_terminating(&deleting) && !is_active(&deleting));
        let done = pod(json!({"metadata": {"name": "a"}, "status": {"phase": "Failed"}}));
        assert!(is_terminal(&done) && !is_terminating(&done));
    }

    #[test]
    fn conditions_keep_their_transition_time_unless_the_status_changes() {
        let mut p = pod(json!({"metadata": {"name": "a"}, "status": {"conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"}]}}));
        let mut same = new_condition("Ready", "True", "", "");
        same.reason = None;
        same.message = None;
        assert!(!set_condition(&mut p, same));
        assert_eq!(
            condition(&p, "Ready")
                .and_then(|c| c.last_transition_time.clone())
                .map(|t| t.0.as_second()),
            Some(1_704_067_200)
        );
        assert!(set_condition(
            &mut p,
            new_condition("Ready", "False", "", "")
        ));
        assert!(!is_ready(&p));
    }
}
