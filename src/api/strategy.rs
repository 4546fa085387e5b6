//! Per-kind rules of the generic handlers, as upstream's registry strategies define them:
//! what a create resets, which kinds count `metadata.generation`, which may be created by a
//! PUT, which answer a delete with the object, and how the status subresource splits from
//! the main resource.

use serde_json::{Value, json};

use super::object;
use super::registry::ResourceInfo;

fn is(info: &ResourceInfo, group: &str, kind: &str) -> bool {
    info.group == group && info.kind == kind
}

/// Whether the kind keeps `metadata.generation`, bumped on every change of its spec.
pub fn tracks_generation(info: &ResourceInfo) -> bool {
    if info.custom.is_some() {
        return true;
    }
    matches!(
        (info.group.as_str(), info.kind.as_str()),
        (
            "apps",
            "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet"
        ) | ("", "ReplicationController" | "Pod")
            | ("batch", "Job" | "CronJob")
            | ("autoscaling", "HorizontalPodAutoscaler")
            | ("policy", "PodDisruptionBudget")
            | ("networking.k8s.io", "Ingress" | "NetworkPolicy")
            | ("apiextensions.k8s.io", "CustomResourceDefinition")
    )
}

/// Whether a PUT of a missing object creates it.
pub fn allows_create_on_update(info: &ResourceInfo) -> bool {
    matches!(
        (info.group.as_str(), info.kind.as_str()),
        ("", "Endpoints" | "Event")
            | ("coordination.k8s.io", "Lease")
            | ("rbac.authorization.k8s.io", _)
            | ("events.k8s.io", "Event")
    )
}

/// Whether a completed delete answers with the deleted object (else a `Status`).
pub fn returns_deleted_object(info: &ResourceInfo) -> bool {
    info.custom.is_none()
        && matches!(
            (info.group.as_str(), info.kind.as_str()),
            ("", "Pod" | "Service" | "Namespace" | "ServiceAccount")
                | ("apiextensions.k8s.io", "CustomResourceDefinition")
        )
}

/// A Secret's `stringData` is write-only: merged into `data` (base64), winning over a key
/// of the same name, and never stored.
pub fn merge_string_data(info: &ResourceInfo, object: &mut Value) {
    use base64::Engine;
    if !is(info, "", "Secret") {
        return;
    }
    let Some(string_data) = object.as_object_mut().and_then(|o| o.remove("stringData")) else {
        return;
    };
    let Some(entries) = string_data.as_object() else {
        return;
    };
    if !object.get("data").is_some_and(Value::is_object) {
        object["data"] = json!({});
    }
    for (key, value) in entries {
        let text = value.as_str().unwrap_or_default();
        object["data"][key] = json!(base64::engine::general_purpose::STANDARD.encode(text));
    }
}

/// Fields a create sets or resets before defaulting and validation.
pub fn prepare_for_create(info: &ResourceInfo, object: &mut Value) {
    merge_string_data(info, object);
    object::drop_empty_metadata(object);
    let generation = tracks_generation(info);
    let meta = object::metadata_mut(object);
    meta.insert("uid".into(), json!(object::new_uid()));
    meta.insert("creationTimestamp".into(), json!(object::now()));
    for field in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
    ] {
        meta.remove(field);
    }
    if generation {
        meta.insert("generation".into(), json!(1));
    } else {
        meta.remove("generation");
    }
    if is(info, "apiextensions.k8s.io", "CustomResourceDefinition") {
        let mut finalizers = object::finalizers(object);
        if !finalizers
            .iter()
            .any(|f| f == super::crd::CLEANUP_FINALIZER)
        {
            finalizers.push(super::crd::CLEANUP_FINALIZER.into());
        }
        object::metadata_mut(object).insert("finalizers".into(), json!(finalizers));
    }
    // Kinds with a status subresource start with an empty status, except where the
    // creator's status is part of the contract.
    if info.has_status()
        && !is(info, "", "Node")
        && let Some(o) = object.as_object_mut()
    {
        o.remove("status");
    }
}

/// Carries over from `old` what an update of the main resource (or of its status) must not
/// change, and bumps the generation when the spec changed.
pub fn prepare_for_update(
    info: &ResourceInfo,
    subresource: Option<&str>,
    old: &Value,
    new: &mut Value,
) {
    merge_string_data(info, new);
    object::drop_empty_metadata(new);
    match subresource {
        Some("approval") => super::admission::certificates::prepare_approval(old, new),
        Some("finalize") => {
            // Only `spec.finalizers` changes.
            let finalizers = new.pointer("/spec/finalizers").cloned();
            let managed = object::metadata(new)
                .and_then(|m| m.get("managedFields"))
                .cloned();
            *new = old.clone();
            match finalizers {
                Some(f) => new["spec"]["finalizers"] = f,
                None => {
                    if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
                        spec.remove("finalizers");
                    }
                }
            }
            if let Some(managed) = managed {
                object::metadata_mut(new).insert("managedFields".into(), managed);
            }
        }
        Some("status") => {
            // Only the status changes; everything else stays as it was.
            let status = new.get("status").cloned();
            let managed = object::metadata(new)
                .and_then(|m| m.get("managedFields"))
                .cloned();
            *new = old.clone();
            match status {
                Some(status) => new["status"] = status,
                None => {
                    if let Some(o) = new.as_object_mut() {
                        o.remove("status");
                    }
                }
            }
            if let Some(managed) = managed {
                object::metadata_mut(new).insert("managedFields".into(), managed);
            }
        }
        _ => {
            if is(info, "apps", "DaemonSet") {
                bump_template_generation(old, new);
            }
            if info.has_status() {
                match old.get("status") {
                    Some(status) => new["status"] = status.clone(),
                    None => {
                        if let Some(o) = new.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
            }
        }
    }
    let old_meta = object::metadata(old).cloned().unwrap_or_default();
    let meta = object::metadata_mut(new);
    for field in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match old_meta.get(field) {
            Some(v) => {
                meta.insert(field.into(), v.clone());
            }
            None => {
                meta.remove(field);
            }
        }
    }
    meta.remove("selfLink");
    if tracks_generation(info) && object::spec_part(old) != object::spec_part(new) {
        let generation = old_meta
            .get("generation")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            + 1;
        object::metadata_mut(new).insert("generation".into(), json!(generation));
    }
}

/// A DaemonSet's template generation (kept in an annotation in `apps/v1`) is the server's:
/// carried over from the stored object, and raised by one when the pod template changes.
fn bump_template_generation(old: &Value, new: &mut Value) {
    const KEY: &str = "deprecated.daemonset.template.generation";
    let Some(current) = object::metadata(old)
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(KEY))
        .and_then(Value::as_str)
        .and_then(|g| g.parse::<i64>().ok())
    else {
        return;
    };
    let changed = old.pointer("/spec/template") != new.pointer("/spec/template");
    let generation = if changed { current + 1 } else { current };
    let meta = object::metadata_mut(new);
    if !meta.get("annotations").is_some_and(Value::is_object) {
        meta.insert("annotations".into(), json!({}));
    }
    if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
        annotations.insert(KEY.into(), json!(generation.to_string()));
    }
}
