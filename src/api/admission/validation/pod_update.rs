//! Pod updates and status updates: only images, `activeDeadlineSeconds` (down, never unset),
//! added tolerations, removed scheduling gates and a negative grace period's fix may change;
//! status keeps terminated containers terminated and IPs one per family.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::json::{Node, describe_diff, semantically_equal};
use super::meta::validate_object_meta_update;
use super::names::{NameRule, inclusive_range_error, invalid_each, ip_errors, label_key_errors};
use super::pod::{
    APPARMOR_PREFIX, MAX_INT32, MIRROR_ANNOTATION, UPDATABLE_FIELDS, validate_pod_metadata_and_spec,
};
use crate::api::field_error::{FieldError, Path};

fn annotation_updates(new: &Node, old: &Node, errs: &mut Vec<FieldError>) {
    let path = Path::root("metadata").child("annotations");
    let mut ignored = Vec::new();
    let new_map = new
        .at(&["metadata", "annotations"])
        .string_map(&mut ignored);
    let old_map = old
        .at(&["metadata", "annotations"])
        .string_map(&mut ignored);
    for (key, old_value) in &old_map {
        if new_map.get(key) == Some(old_value) {
            continue;
        }
        if key.starts_with(APPARMOR_PREFIX) {
            errs.push(FieldError::forbidden(
                path.key(key),
                "may not remove or update AppArmor annotations",
            ));
        }
        if *key == MIRROR_ANNOTATION {
            errs.push(FieldError::forbidden(
                path.key(key),
                "may not remove or update mirror pod annotation",
            ));
        }
    }
    for key in new_map.keys() {
        if old_map.contains_key(key) {
            continue;
        }
        if key.starts_with(APPARMOR_PREFIX) {
            errs.push(FieldError::forbidden(
                path.key(key),
                "may not add AppArmor annotations",
            ));
        }
        if *key == MIRROR_ANNOTATION {
            errs.push(FieldError::forbidden(
                path.key(key),
                "may not add mirror pod annotation",
            ));
        }
    }
}

fn without_key(value: &Value, key: &str) -> Value {
    let mut v = value.clone();
    if let Value::Object(map) = &mut v {
        map.remove(key);
    }
    v
}

/// Whether every old toleration survives in `new` (only tolerationSeconds may differ).
fn only_added_tolerations(new: &Node, old: &Node) -> bool {
    let mut ignored = Vec::new();
    let new_items: Vec<Value> = new
        .items(&mut ignored)
        .iter()
        .map(|t| without_key(t.value(), "tolerationSeconds"))
        .collect();
    old.items(&mut ignored).iter().all(|t| {
        let o = without_key(t.value(), "tolerationSeconds");
        new_items.iter().any(|n| semantically_equal(n, &o))
    })
}

/// A Pod update (upstream `ValidatePodUpdate`).
pub(crate) fn validate_pod_update(new: &Node, old: &Node, errs: &mut Vec<FieldError>) {
    validate_object_meta_update(&new.field("metadata"), &old.field("metadata"), errs);
    validate_pod_metadata_and_spec(new, errs);
    annotation_updates(new, old, errs);
    let (spec, old_spec) = (new.field("spec"), old.field("spec"));
    let mut ignored = Vec::new();
    for list in ["containers", "initContainers"] {
        let (n, o) = (spec.field(list), old_spec.field(list));
        if n.len() != o.len() {
            errs.push(FieldError::forbidden(
                n.path(),
                "pod updates may not add or remove containers",
            ));
            return;
        }
    }
    let deadline = spec.field("activeDeadlineSeconds");
    let old_deadline = old_spec
        .field("activeDeadlineSeconds")
        .opt_int(&mut ignored);
    match deadline.opt_int(&mut ignored) {
        Some(d) if !(0..=MAX_INT32).contains(&d) => {
            errs.push(FieldError::invalid(
                deadline.path(),
                &Value::from(d),
                &inclusive_range_error(0, MAX_INT32),
            ));
            return;
        }
        Some(d) if old_deadline.is_some_and(|o| o < d) => {
            errs.push(FieldError::invalid(
                deadline.path(),
                &Value::from(d),
                "must be less than or equal to previous value",
            ));
            return;
        }
        None if old_deadline.is_some() => errs.push(FieldError::invalid(
            deadline.path(),
            &Value::Null,
            "must not update from a positive integer to nil value",
        )),
        _ => {}
    }
    let tols = spec.field("tolerations");
    if !only_added_tolerations(&tols, &old_spec.field("tolerations")) {
        errs.push(FieldError::forbidden(
            tols.path(),
            "existing toleration can not be modified except its tolerationSeconds",
        ));
    }
    let old_gates: BTreeSet<&str> = old_spec
        .field("schedulingGates")
        .items(&mut ignored)
        .iter()
        .map(|g| g.field("name").str(&mut Vec::new()))
        .collect();
    for gate in spec.field("schedulingGates").items(&mut ignored) {
        let name = gate.field("name").str(&mut Vec::new());
        if !old_gates.contains(name) {
            errs.push(FieldError::forbidden(
                gate.path().child("name"),
                &format!("only deletion is allowed, but found new scheduling gate '{name}'"),
            ));
        }
    }
    let munged = munge_updatable(&spec, &old_spec);
    if !semantically_equal(&munged, old_spec.value()) {
        errs.push(FieldError::forbidden(
            "spec",
            &format!(
                "pod updates may not change fields other than {UPDATABLE_FIELDS}\n{}",
                describe_diff("core.PodSpec", old_spec.value(), &munged)
            ),
        ));
    }
}

/// The new spec with every field an update may change put back to its old value.
fn munge_updatable(spec: &Node, old_spec: &Node) -> Value {
    let mut munged = spec.value().clone();
    let mut ignored = Vec::new();
    let Value::Object(map) = &mut munged else {
        return munged;
    };
    for list in ["containers", "initContainers"] {
        let old_items = old_spec.field(list).items(&mut ignored);
        if let Some(Value::Array(items)) = map.get_mut(list) {
            for (item, old_item) in items.iter_mut().zip(old_items.iter()) {
                if let Value::Object(ctr) = item {
                    match old_item.field("image").value() {
                        Value::Null => ctr.remove("image"),
                        image => ctr.insert("image".into(), image.clone()),
                    };
                }
            }
        }
    }
    for key in ["activeDeadlineSeconds", "schedulingGates", "tolerations"] {
        match old_spec.field(key).value() {
            Value::Null => map.remove(key),
            v => map.insert(key.into(), v.clone()),
        };
    }
    let old_grace = old_spec
        .field("terminationGracePeriodSeconds")
        .opt_int(&mut ignored);
    let new_grace = spec
        .field("terminationGracePeriodSeconds")
        .opt_int(&mut ignored);
    if old_grace.is_some_and(|g| g < 0) && new_grace == Some(1) {
        map.insert(
            "terminationGracePeriodSeconds".into(),
            Value::from(old_grace.unwrap_or(0)),
        );
    }
    let gated = old_spec.field("schedulingGates").len() > 0;
    if gated {
        let old_selector = old_spec.field("nodeSelector").string_map(&mut ignored);
        let new_selector = spec.field("nodeSelector").string_map(&mut ignored);
        let only_additions = old_selector
            .iter()
            .all(|(k, v)| new_selector.get(k) == Some(v));
        if only_additions {
            match old_spec.field("nodeSelector").value() {
                Value::Null => map.remove("nodeSelector"),
                v => map.insert("nodeSelector".into(), v.clone()),
            };
        }
        let old_affinity = old_spec.at(&["affinity", "nodeAffinity"]).value().clone();
        if let Some(Value::Object(aff)) = map.get_mut("affinity") {
            if old_affinity.is_null() {
                aff.remove("nodeAffinity");
            } else {
                aff.insert("nodeAffinity".into(), old_affinity);
            }
        }
    }
    munged
}

/// A Pod status update (upstream `ValidatePodStatusUpdate`).
pub(crate) fn validate_pod_status(new: &Node, old: &Node, errs: &mut Vec<FieldError>) {
    validate_object_meta_update(&new.field("metadata"), &old.field("metadata"), errs);
    annotation_updates(new, old, errs);
    let status = new.field("status");
    for (i, condition) in status.field("conditions").items(errs).iter().enumerate() {
        let kind = condition.field("type").str(errs);
        if !["PodScheduled", "Ready", "Initialized"].contains(&kind) {
            let path = Path::root("metadata")
                .child("conditions")
                .index(i)
                .child("Type");
            errs.extend(invalid_each(&path, kind, label_key_errors(kind)));
        }
    }
    let mut ignored = Vec::new();
    if new.at(&["spec", "nodeName"]).str(&mut ignored)
        != old.at(&["spec", "nodeName"]).str(&mut ignored)
    {
        errs.push(FieldError::forbidden(
            Path::root("status").child("nodeName"),
            "may not be changed directly",
        ));
    }
    let nominated = status.field("nominatedNodeName");
    let nom = nominated.str(errs);
    if !nom.is_empty() && nom != old.at(&["status", "nominatedNodeName"]).str(&mut ignored) {
        errs.extend(invalid_each(
            nominated.path(),
            nom,
            NameRule::Dns1123Subdomain.errors(nom, false),
        ));
    }
    let restart = old.at(&["spec", "restartPolicy"]).str(&mut ignored);
    let restartable_init: BTreeSet<&str> = old
        .at(&["spec", "initContainers"])
        .items(&mut ignored)
        .iter()
        .filter(|c| c.field("restartPolicy").str(&mut Vec::new()) == "Always")
        .map(|c| c.field("name").str(&mut Vec::new()))
        .collect();
    for (key, policy) in [
        ("containerStatuses", restart),
        ("initContainerStatuses", restart),
        ("ephemeralContainerStatuses", "Never"),
    ] {
        state_transitions(
            &status.field(key),
            &old.at(&["status", key]),
            policy,
            &restartable_init,
            errs,
        );
    }
    pod_ips(&status, "podIPs", errs);
    pod_ips(&status, "hostIPs", errs);
    let host_ips = status.field("hostIPs").items(&mut ignored);
    if let Some(first) = host_ips.first() {
        let ip = first.field("ip").str(&mut ignored);
        if status.field("hostIP").str(&mut ignored) != ip {
            errs.push(FieldError::invalid(
                first.path().child("ip"),
                &Value::from(ip),
                "must be equal to `hostIP`",
            ));
        }
    }
}

fn state_transitions(
    new: &Node,
    old: &Node,
    restart: &str,
    restartable: &BTreeSet<&str>,
    errs: &mut Vec<FieldError>,
) {
    if restart == "Always" {
        return;
    }
    let mut ignored = Vec::new();
    let new_items = new.items(&mut ignored);
    for (i, old_status) in old.items(&mut ignored).iter().enumerate() {
        let terminated = old_status.at(&["state", "terminated"]);
        if !terminated.is_set() {
            continue;
        }
        if terminated.field("exitCode").int(&mut ignored) != 0 && restart == "OnFailure" {
            continue;
        }
        let name = old_status.field("name").str(&mut ignored);
        if restartable.contains(name) && new.path().as_str().ends_with("initContainerStatuses") {
            continue;
        }
        let reopened = new_items.iter().any(|n| {
            n.field("name").str(&mut Vec::new()) == name && !n.at(&["state", "terminated"]).is_set()
        });
        if reopened {
            errs.push(FieldError::forbidden(
                new.path().index(i).child("state"),
                "may not be transitioned to non-terminated state",
            ));
        }
    }
}

fn pod_ips(status: &Node, key: &str, errs: &mut Vec<FieldError>) {
    let list = status.field(key);
    let items = list.items(errs);
    let mut seen = BTreeSet::new();
    let mut families = BTreeMap::new();
    for item in &items {
        let ip = item.field("ip").str(errs);
        errs.extend(ip_errors(item.path(), ip));
        if !seen.insert(ip) {
            errs.push(FieldError::duplicate(item.path(), item.value()));
        }
        if let Some((addr, _)) = super::names::parse_ip(ip) {
            *families.entry(addr.is_ipv4()).or_insert(0) += 1;
        }
    }
    if items.len() > 1 && (families.len() != 2 || items.len() > 2) {
        errs.push(FieldError::invalid(
            list.path(),
            list.value(),
            "may specify no more than one IP for each IP family",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::admission::validation::pod::tests::pod;
    use serde_json::json;

    fn update(new: &Value, old: &Value) -> Vec<String> {
        let mut errs = Vec::new();
        validate_pod_update(&Node::root(new), &Node::root(old), &mut errs);
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn updates_may_change_images_only() {
        let old = pod();
        let mut new = pod();
        new["spec"]["containers"][0]["image"] = json!("nginx:2");
        assert!(update(&new, &old).is_empty());
        new["spec"]["nodeName"] = json!("node-1");
        let errs = update(&new, &old);
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with(&format!(
            "spec: Forbidden: pod updates may not change fields other than {UPDATABLE_FIELDS}\n"
        )));
        assert!(errs[0].contains("+ \tNodeName: \"node-1\","));
        let mut new = pod();
        new["spec"]["activeDeadlineSeconds"] = json!(10);
        let mut with_deadline = pod();
        with_deadline["spec"]["activeDeadlineSeconds"] = json!(5);
        assert_eq!(
            update(&new, &with_deadline),
            vec![
                "spec.activeDeadlineSeconds: Invalid value: 10: must be less than or equal to previous value"
            ]
        );
        let mut tolerated = pod();
        tolerated["spec"]["tolerations"] = json!([{"key": "a", "operator": "Exists"}]);
        assert_eq!(
            update(&pod(), &tolerated),
            vec![
                "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"
            ]
        );
        assert!(update(&tolerated, &pod()).is_empty());
    }
}
