//! The CertificateSigningRequest rules of the write pipeline, as upstream's CSR registry
//! strategies: a create records who asked (`spec.username`, `uid`, `groups`, `extra`, which
//! the approver and signers trust) and cannot arrive pre-approved; the `approval`
//! subresource changes only the `Approved` and `Denied` conditions, timestamped.

use serde_json::{Value, json};

use crate::api::auth::UserInfo;
use crate::api::object;
use crate::api::registry::ResourceInfo;

fn is_csr(info: &ResourceInfo) -> bool {
    info.group == "certificates.k8s.io" && info.kind == "CertificateSigningRequest"
}

/// Stamps the requesting user into a new CSR's spec, replacing whatever the client sent.
pub fn set_requester(info: &ResourceInfo, user: &UserInfo, object: &mut Value) {
    if !is_csr(info) {
        return;
    }
    if !object.get("spec").is_some_and(Value::is_object) {
        object["spec"] = json!({});
    }
    let Some(spec) = object["spec"].as_object_mut() else {
        return;
    };
    for field in ["username", "uid", "groups", "extra"] {
        spec.remove(field);
    }
    spec.insert("username".into(), json!(user.name));
    if !user.uid.is_empty() {
        spec.insert("uid".into(), json!(user.uid));
    }
    if !user.groups.is_empty() {
        spec.insert("groups".into(), json!(user.groups));
    }
    if !user.extra.is_empty() {
        let extra: serde_json::Map<String, Value> = user
            .extra
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        spec.insert("extra".into(), Value::Object(extra));
    }
    if let Some(o) = object.as_object_mut() {
        o.remove("status");
    }
}

fn is_decision(condition: &Value) -> bool {
    matches!(
        condition.get("type").and_then(Value::as_str),
        Some("Approved" | "Denied")
    )
}

fn conditions(object: &Value) -> Vec<Value> {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Upstream's `populateConditionTimestamps`: new conditions get `lastUpdateTime` now, and
/// `lastTransitionTime` from the old condition of the same type and status, else now.
fn timestamp(conditions: &mut [Value], old: &[Value]) {
    let now = object::now();
    for condition in conditions {
        let missing = |field: &str, c: &Value| c.get(field).is_none_or(|v| v.is_null() || v == "");
        if missing("lastUpdateTime", condition) {
            condition["lastUpdateTime"] = json!(now);
        }
        if missing("lastTransitionTime", condition) {
            let previous = old.iter().find(|o| {
                o.get("type") == condition.get("type")
                    && o.get("status") == condition.get("status")
                    && !missing("lastTransitionTime", o)
            });
            condition["lastTransitionTime"] = match previous {
                Some(p) => p["lastTransitionTime"].clone(),
                None => json!(now),
            };
        }
    }
}

/// An update through `approval`: everything but the `Approved`/`Denied` conditions stays
/// as stored.
pub fn prepare_approval(old: &Value, new: &mut Value) {
    let old_conditions = conditions(old);
    let mut merged: Vec<Value> = conditions(new).into_iter().filter(is_decision).collect();
    merged.extend(old_conditions.iter().filter(|c| !is_decision(c)).cloned());
    timestamp(&mut merged, &old_conditions);
    let managed = object::metadata(new)
        .and_then(|m| m.get("managedFields"))
        .cloned();
    *new = old.clone();
    if !new.get("status").is_some_and(Value::is_object) {
        new["status"] = json!({});
    }
    new["status"]["conditions"] = json!(merged);
    if let Some(managed) = managed {
        object::metadata_mut(new).insert("managedFields".into(), managed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approval_changes_only_decisions() {
        let old = json!({"spec": {"username": "u"}, "status": {"certificate": "Y2VydA==",
            "conditions": [{"type": "Failed", "status": "True"}]}});
        let mut new = json!({"spec": {"username": "mallory"}, "status": {"certificate": "",
            "conditions": [{"type": "Approved", "status": "True", "reason": "KubectlApprove"}]}});
        prepare_approval(&old, &mut new);
        assert_eq!(new["spec"]["username"], "u");
        assert_eq!(new["status"]["certificate"], "Y2VydA==");
        let conditions = new["status"]["conditions"].as_array().unwrap();
        assert_eq!(conditions.len(), 2);
        assert_eq!(conditions[0]["type"], "Approved");
        assert!(conditions[0]["lastUpdateTime"].is_string());
        assert!(conditions[0]["lastTransitionTime"].is_string());
        assert_eq!(conditions[1]["type"], "Failed");
    }
}
