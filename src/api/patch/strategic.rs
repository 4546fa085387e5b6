//! Strategic merge patch (`application/strategic-merge-patch+json`), the PATCH body kubectl sends
//! for `apply` on built-in kinds, `edit`, `patch`, `set image` and `rollout restart`.
//!
//! Objects merge recursively and `null` deletes a key. Lists follow the kind's metadata
//! ([`super::schema`]): keyed lists merge item by item on their merge key, primitive merge lists
//! union as sets, all others are replaced. Directives: `$patch: replace|delete|merge` on an
//! object, `$patch: replace|delete` as a list item, `$retainKeys`,
//! `$deleteFromPrimitiveList/<field>` and `$setElementOrder/<field>`. The result never holds a
//! directive key, and content that lands where nothing was before (new keys, new list items,
//! replacements) is cleaned of directives and `null`s the same way.
//!
//! List order and `$setElementOrder` are in [`super::element_order`], errors in
//! [`super::strategic_error`].

use serde_json::{Map, Value};

use crate::api::patch::element_order::{Identity, apply_set_element_orders, arrange};
use crate::api::patch::schema::{FieldPatchMeta, ListKind, PatchSchema};
pub use crate::api::patch::strategic_error::StrategicMergeError;
use crate::api::patch::strategic_error::{
    GO_LIST, GO_MAP, go_format, go_format_list, go_format_map, go_type, wrong_type,
};

pub(super) const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
pub(super) const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
pub(super) const SET_ELEMENT_ORDER: &str = "$setElementOrder";

pub(super) type Result<T> = std::result::Result<T, StrategicMergeError>;

/// Applies strategic merge `patch` to `original`, an object of built-in `group`/`kind`
/// (`""` for core), and returns the merged object. Neither input is modified.
///
/// # Errors
/// [`StrategicMergeError::UnsupportedKind`] for kinds without metadata (custom resources);
/// the other variants for malformed patches, see each variant.
pub fn strategic_merge(group: &str, kind: &str, original: &Value, patch: &Value) -> Result<Value> {
    let schema = PatchSchema::for_kind(group, kind).ok_or(StrategicMergeError::UnsupportedKind)?;
    let original = match original {
        Value::Object(map) => map.clone(),
        Value::Null => Map::new(),
        _ => return Err(StrategicMergeError::NotAnObject),
    };
    let Value::Object(patch) = patch else {
        return Err(StrategicMergeError::NotAnObject);
    };
    merge_map(original, patch.clone(), schema).map(Value::Object)
}

/// What a `$patch` directive asks of the object it sits in.
#[derive(Clone, Copy)]
enum MapDirective {
    Replace,
    Delete,
    Merge,
}

/// Removes `$patch` from `patch` and reads it.
fn take_directive(patch: &mut Map<String, Value>) -> Result<Option<MapDirective>> {
    let Some(value) = patch.get(DIRECTIVE) else {
        return Ok(None);
    };
    let directive = match value.as_str() {
        Some("replace") => MapDirective::Replace,
        Some("delete") => MapDirective::Delete,
        Some("merge") => MapDirective::Merge,
        _ => {
            return Err(StrategicMergeError::UnknownDirective {
                directive: go_format(value),
                map: go_format_map(patch),
            });
        }
    };
    patch.remove(DIRECTIVE);
    Ok(Some(directive))
}

/// Merges `patch` into `original`, both objects of type `schema`.
fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    schema: PatchSchema,
) -> Result<Map<String, Value>> {
    match take_directive(&mut patch)? {
        Some(MapDirective::Delete) => return Ok(Map::new()),
        Some(MapDirective::Replace) => original = Map::new(),
        Some(MapDirective::Merge) | None => {}
    }
    apply_retain_keys(&mut original, &mut patch)?;
    apply_set_element_orders(&mut original, &mut patch, schema)?;

    let mut deletions = Vec::new();
    for (key, value) in patch {
        if key.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
            deletions.push((key, value));
            continue;
        }
        if value.is_null() {
            original.remove(&key);
            continue;
        }
        let field = schema.field(&key);
        let merged = match (original.remove(&key), value) {
            (Some(Value::Object(current)), Value::Object(change)) if !field.replace => {
                Some(Value::Object(merge_map(current, change, field.schema)?))
            }
            (Some(Value::Array(current)), Value::Array(change)) => {
                Some(Value::Array(merge_list(current, change, &key, field)?))
            }
            (_, value) => fresh_value(value, &field)?,
        };
        if let Some(merged) = merged {
            original.insert(key, merged);
        }
    }
    for (key, value) in deletions {
        delete_from_primitive_list(&mut original, &key, value)?;
    }
    Ok(original)
}

/// `$retainKeys`: checks every field the patch sets is listed, then clears the unlisted ones.
fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<()> {
    let Some(retained) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retained) = retained else {
        return Err(StrategicMergeError::RetainKeysInvalid);
    };
    let listed = |key: &str| retained.iter().any(|name| name.as_str() == Some(key));
    let unlisted = patch.iter().any(|(key, value)| {
        !value.is_null()
            && !key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            && !key.starts_with(SET_ELEMENT_ORDER)
            && !listed(key)
    });
    if unlisted {
        return Err(StrategicMergeError::RetainKeysInvalid);
    }
    original.retain(|key, _| listed(key));
    Ok(())
}

/// `$deleteFromPrimitiveList/<field>`: removes the listed values from the field's list.
fn delete_from_primitive_list(
    original: &mut Map<String, Value>,
    directive_key: &str,
    values: Value,
) -> Result<()> {
    let field = directive_target(directive_key, DELETE_FROM_PRIMITIVE_LIST)
        .ok_or(StrategicMergeError::DeleteFromPrimitiveListInvalid)?;
    let values = match values {
        Value::Array(values) => values,
        Value::Null => return Ok(()),
        other => return Err(wrong_type(GO_LIST, &other)),
    };
    match original.get_mut(field) {
        None => Ok(()),
        Some(Value::Array(items)) => {
            items.retain(|item| !values.iter().any(|value| same_value(item, value)));
            Ok(())
        }
        Some(other) => Err(wrong_type(GO_LIST, other)),
    }
}

/// The field a `$prefix/<field>` directive key names.
pub(super) fn directive_target<'a>(key: &'a str, prefix: &str) -> Option<&'a str> {
    key.split_once('/')
        .filter(|(head, _)| *head == prefix)
        .map(|(_, field)| field)
}

/// Merges list `change` into list `current` as `field` says; `name` is the field's name.
pub(super) fn merge_list(
    current: Vec<Value>,
    change: Vec<Value>,
    name: &str,
    field: FieldPatchMeta,
) -> Result<Vec<Value>> {
    let merge_key = match field.list {
        ListKind::Atomic => return fresh_list(change, &field),
        ListKind::Set => None,
        ListKind::Map { keys } => keys.first().copied(),
    };
    if current.is_empty() && change.is_empty() {
        return Ok(current);
    }
    if !same_element_types(&current, &change)? {
        return Ok(merge_primitive_set(current, change));
    }
    let Some(merge_key) = merge_key else {
        return Err(StrategicMergeError::NoMergeKeyDeclared {
            field: name.to_string(),
        });
    };

    // Directive items first: deletions act on the server list, `replace` discards it.
    let mut server = current;
    let mut items = Vec::with_capacity(change.len());
    let mut replace = false;
    for item in change {
        let Value::Object(item) = item else {
            continue;
        };
        let Some(directive) = item.get(DIRECTIVE) else {
            items.push(item);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let value = merge_key_of(&item, merge_key)?;
                server.retain(|existing| !has_key_value(existing, merge_key, value));
            }
            Some("replace") => replace = true,
            Some("merge") => return Err(StrategicMergeError::MergeDirectiveInList),
            _ => {
                return Err(StrategicMergeError::UnknownDirective {
                    directive: go_format(directive),
                    map: go_format_map(&item),
                });
            }
        }
    }
    if replace {
        let mut replaced = Vec::with_capacity(items.len());
        for item in items {
            merge_key_of(&item, merge_key)?;
            replaced.push(Value::Object(merge_map(Map::new(), item, field.schema)?));
        }
        return Ok(replaced);
    }

    let mut merged = server.clone();
    let mut patch_order = Vec::with_capacity(items.len());
    for item in items {
        let value = merge_key_of(&item, merge_key)?.clone();
        let position = merged
            .iter()
            .position(|existing| has_key_value(existing, merge_key, &value));
        patch_order.push(Value::Object(item.clone()));
        match position {
            Some(index) => {
                let existing = match std::mem::take(&mut merged[index]) {
                    Value::Object(existing) => existing,
                    _ => Map::new(),
                };
                merged[index] = Value::Object(merge_map(existing, item, field.schema)?);
            }
            None => merged.push(Value::Object(merge_map(Map::new(), item, field.schema)?)),
        }
    }
    arrange(merged, &patch_order, &server, Identity::Key(merge_key))
}

/// Unions two lists of primitives, the patch's items in the patch's order.
fn merge_primitive_set(current: Vec<Value>, change: Vec<Value>) -> Vec<Value> {
    let mut merged: Vec<Value> = Vec::with_capacity(current.len() + change.len());
    for item in current.iter().chain(&change) {
        if !merged.iter().any(|seen| same_value(seen, item)) {
            merged.push(item.clone());
        }
    }
    // Primitives compare by value, so arranging cannot fail.
    arrange(merged.clone(), &change, &current, Identity::Value).unwrap_or(merged)
}

/// Checks both lists hold one JSON type; `true` for objects, `false` for primitives.
fn same_element_types(current: &[Value], change: &[Value]) -> Result<bool> {
    let mut first: Option<&'static str> = None;
    for item in current.iter().chain(change) {
        if item.is_array() {
            return Err(StrategicMergeError::ListOfLists);
        }
        let shape = go_type(item);
        match first {
            None => first = Some(shape),
            Some(seen) if seen == shape || (is_number(seen) && is_number(shape)) => {}
            Some(_) => {
                return Err(StrategicMergeError::MixedElementTypes {
                    lists: format!("[{} {}]", go_format_list(current), go_format_list(change)),
                });
            }
        }
    }
    Ok(first == Some(GO_MAP))
}

fn is_number(go_type: &str) -> bool {
    go_type == "int64" || go_type == "float64"
}

/// Content that lands where nothing (or a value of another JSON type) was: directives are
/// applied against nothing and `null`s dropped. `None` when nothing remains.
fn fresh_value(value: Value, field: &FieldPatchMeta) -> Result<Option<Value>> {
    match value {
        Value::Null => Ok(None),
        Value::Object(mut map) => match take_directive(&mut map)? {
            Some(MapDirective::Delete) => Ok(None),
            _ => merge_map(Map::new(), map, field.schema).map(|map| Some(Value::Object(map))),
        },
        Value::Array(items) => Ok(Some(Value::Array(fresh_list(items, field)?))),
        scalar => Ok(Some(scalar)),
    }
}

/// A list that replaces (or lands where there was no list): items are kept as given, minus
/// directive items, each cleaned like [`fresh_value`].
pub(super) fn fresh_list(items: Vec<Value>, field: &FieldPatchMeta) -> Result<Vec<Value>> {
    let mut kept = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Value::Object(mut map) => {
                if take_directive(&mut map)?.is_none() {
                    kept.push(Value::Object(merge_map(Map::new(), map, field.schema)?));
                }
            }
            other => kept.push(other),
        }
    }
    Ok(kept)
}

pub(super) fn merge_key_of<'a>(item: &'a Map<String, Value>, key: &str) -> Result<&'a Value> {
    item.get(key)
        .ok_or_else(|| StrategicMergeError::MergeKeyMissing {
            item: go_format_map(item),
            key: key.to_string(),
        })
}

fn has_key_value(item: &Value, key: &str, value: &Value) -> bool {
    item.get(key).is_some_and(|own| same_value(own, value))
}

/// JSON equality with numbers compared by value (`80` equals `80.0`).
pub(super) fn same_value(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Number(l), Value::Number(r)) => l == r || l.as_f64() == r.as_f64(),
        _ => left == right,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn merge(group: &str, kind: &str, original: Value, patch: Value) -> Value {
        match strategic_merge(group, kind, &original, &patch) {
            Ok(merged) => merged,
            Err(error) => panic!("patch failed: {error}"),
        }
    }

    fn merge_error(group: &str, kind: &str, original: Value, patch: Value) -> StrategicMergeError {
        match strategic_merge(group, kind, &original, &patch) {
            Ok(merged) => panic!("patch succeeded: {merged}"),
            Err(error) => error,
        }
    }

    fn names(list: &Value) -> Vec<&str> {
        list.as_array()
            .map(|items| items.iter().filter_map(|i| i["name"].as_str()).collect())
            .unwrap_or_default()
    }

    fn deployment(containers: Value) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
            "spec": {
                "replicas": 2,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": containers}
                }
            }
        })
    }

    #[test]
    fn kubectl_apply_patch_on_a_pod() {
        let pod = json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c1", "image": "nginx:1.1", "ports": [{"containerPort": 80}]}]}
        });
        let patch = json!({"spec": {
            "$setElementOrder/containers": [{"name": "c1"}],
            "containers": [{"image": "nginx:1.2", "name": "c1"}]
        }});
        let merged = merge("", "Pod", pod, patch);
        assert_eq!(
            merged["spec"],
            json!({"containers": [{"name": "c1", "image": "nginx:1.2", "ports": [{"containerPort": 80}]}]})
        );
    }

    #[test]
    fn set_image_keeps_the_rest_of_the_container() {
        let original = deployment(json!([
            {"name": "nginx", "image": "nginx:1", "args": ["-g"], "env": [{"name": "A", "value": "1"}]},
            {"name": "sidecar", "image": "busybox"}
        ]));
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"image": "nginx:2", "name": "nginx"}]}}}});
        let merged = merge("apps", "Deployment", original, patch);
        let containers = &merged["spec"]["template"]["spec"]["containers"];
        assert_eq!(names(containers), ["nginx", "sidecar"]);
        assert_eq!(
            containers[0],
            json!({"name": "nginx", "image": "nginx:2", "args": ["-g"], "env": [{"name": "A", "value": "1"}]})
        );
    }

    #[test]
    fn rollout_restart_adds_a_template_annotation() {
        let original = deployment(json!([{"name": "c", "image": "x"}]));
        let patch = json!({"spec": {"template": {"metadata": {"annotations": {
            "kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"
        }}}}});
        let merged = merge("apps", "Deployment", original, patch);
        assert_eq!(
            merged["spec"]["template"]["metadata"],
            json!({"labels": {"app": "web"}, "annotations": {"kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"}})
        );
    }

    #[test]
    fn ports_merge_by_container_port() {
        let original = json!({"spec": {"containers": [{"name": "c", "ports": [
            {"containerPort": 80, "protocol": "TCP"},
            {"containerPort": 443, "protocol": "TCP"}
        ]}]}});
        let patch = json!({"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80, "name": "http"}]}]}});
        let merged = merge("", "Pod", original, patch);
        assert_eq!(
            merged["spec"]["containers"][0]["ports"],
            json!([{"containerPort": 80, "protocol": "TCP", "name": "http"}, {"containerPort": 443, "protocol": "TCP"}])
        );
    }

    #[test]
    fn a_new_port_list_keeps_items_sharing_a_merge_key() {
        let original = json!({"spec": {"containers": [{"name": "c"}]}});
        let ports = json!([{"containerPort": 53, "protocol": "TCP"}, {"containerPort": 53, "protocol": "UDP"}]);
        let patch = json!({"spec": {"containers": [{"name": "c", "ports": ports}]}});
        let merged = merge("", "Pod", original, patch);
        assert_eq!(merged["spec"]["containers"][0]["ports"], ports);
    }

    #[test]
    fn volume_mounts_merge_by_mount_path() {
        let original = json!({"spec": {"containers": [{"name": "c", "volumeMounts": [
            {"name": "data", "mountPath": "/data"},
            {"name": "cfg", "mountPath": "/etc/cfg"}
        ]}]}});
        let patch = json!({"spec": {"containers": [{"name": "c", "volumeMounts": [
            {"mountPath": "/data", "readOnly": true},
            {"$patch": "delete", "mountPath": "/etc/cfg"}
        ]}]}});
        let merged = merge("", "Pod", original, patch);
        assert_eq!(
            merged["spec"]["containers"][0]["volumeMounts"],
            json!([{"name": "data", "mountPath": "/data", "readOnly": true}])
        );
    }

    #[test]
    fn delete_directive_removes_a_list_item() {
        let original =
            deployment(json!([{"name": "c1", "image": "a"}, {"name": "c2", "image": "b"}]));
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"$patch": "delete", "name": "c1"}]}}}});
        let merged = merge("apps", "Deployment", original, patch);
        assert_eq!(
            merged["spec"]["template"]["spec"]["containers"],
            json!([{"name": "c2", "image": "b"}])
        );
    }

    #[test]
    fn replace_directive_in_a_list_replaces_it() {
        let original =
            deployment(json!([{"name": "c1", "image": "a"}, {"name": "c2", "image": "b"}]));
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "c3", "image": "c", "env": [{"name": "X", "value": null}]},
            {"$patch": "replace"}
        ]}}}});
        let merged = merge("apps", "Deployment", original, patch);
        assert_eq!(
            merged["spec"]["template"]["spec"]["containers"],
            json!([{"name": "c3", "image": "c", "env": [{"name": "X"}]}])
        );
    }

    #[test]
    fn map_directives_replace_and_delete() {
        let original = deployment(json!([{"name": "c", "image": "x"}]));
        let patch = json!({"metadata": {"labels": {"$patch": "replace", "app": "new"}}});
        let merged = merge("apps", "Deployment", original.clone(), patch);
        assert_eq!(merged["metadata"]["labels"], json!({"app": "new"}));

        let patch = json!({"metadata": {"labels": {"$patch": "delete"}}});
        let merged = merge("apps", "Deployment", original.clone(), patch);
        assert_eq!(merged["metadata"]["labels"], json!({}));

        let patch = json!({"metadata": {"labels": {"$patch": "merge", "extra": "1"}}});
        let merged = merge("apps", "Deployment", original, patch);
        assert_eq!(
            merged["metadata"]["labels"],
            json!({"app": "web", "tier": "front", "extra": "1"})
        );
    }

    #[test]
    fn retain_keys_switches_a_volume_source() {
        let original = json!({"spec": {"volumes": [
            {"name": "data", "emptyDir": {}},
            {"name": "other", "secret": {"secretName": "s"}}
        ]}});
        let patch = json!({"spec": {
            "$setElementOrder/volumes": [{"name": "data"}, {"name": "other"}],
            "volumes": [{"$retainKeys": ["configMap", "name"], "configMap": {"name": "cfg"}, "name": "data"}]
        }});
        let merged = merge("", "Pod", original, patch);
        assert_eq!(
            merged["spec"]["volumes"],
            json!([{"name": "data", "configMap": {"name": "cfg"}}, {"name": "other", "secret": {"secretName": "s"}}])
        );
    }

    #[test]
    fn retain_keys_switches_a_deployment_strategy() {
        let original = deployment(json!([{"name": "c", "image": "x"}]));
        let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
        let merged = merge("apps", "Deployment", original, patch);
        assert_eq!(merged["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn retain_keys_must_name_every_patched_field() {
        let original = deployment(json!([]));
        let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "RollingUpdate", "rollingUpdate": {}}}});
        let error = merge_error("apps", "Deployment", original.clone(), patch);
        assert_eq!(error, StrategicMergeError::RetainKeysInvalid);
        assert_eq!(error.to_string(), "invalid patch format of retainKeys");
        assert_eq!(error.status_code(), 400);

        let patch = json!({"spec": {"strategy": {"$retainKeys": "type"}}});
        let error = merge_error("apps", "Deployment", original, patch);
        assert_eq!(error, StrategicMergeError::RetainKeysInvalid);
    }

    #[test]
    fn delete_from_primitive_list_errors_and_edges() {
        let original = json!({"spec": {"podCIDRs": ["10.0.0.0/24", "fd00::/64"]}});
        let patch = json!({"spec": {"$deleteFromPrimitiveList/podCIDRs": ["fd00::/64"]}});
        let merged = merge("", "Node", original.clone(), patch);
        assert_eq!(merged["spec"]["podCIDRs"], json!(["10.0.0.0/24"]));

        let patch = json!({"spec": {"$deleteFromPrimitiveList/taints": ["x"]}});
        assert_eq!(merge("", "Node", original.clone(), patch), original);

        let patch = json!({"spec": {"$deleteFromPrimitiveList": ["x"]}});
        let error = merge_error("", "Node", original.clone(), patch);
        assert_eq!(error.to_string(), "invalid patch format of primitive list");

        let patch = json!({"spec": {"$deleteFromPrimitiveList/podCIDRs": "x"}});
        let error = merge_error("", "Node", original, patch);
        assert_eq!(
            error.to_string(),
            "expected a []interface {}, but received a string"
        );
    }

    #[test]
    fn null_removes_labels_and_fields() {
        let original = deployment(json!([{"name": "c", "image": "x"}]));
        let patch = json!({"metadata": {"labels": {"tier": null, "missing": null}}, "spec": {"replicas": null}});
        let merged = merge("apps", "Deployment", original, patch);
        assert_eq!(merged["metadata"]["labels"], json!({"app": "web"}));
        assert!(merged["spec"].get("replicas").is_none());
    }

    #[test]
    fn cron_job_pod_spec_merges_by_name() {
        let original = json!({"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "job", "image": "busybox:1", "command": ["date"]}]
        }}}}}});
        let patch = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"name": "job", "image": "busybox:2", "env": [{"name": "TZ", "value": "UTC"}]}]
        }}}}}});
        let merged = merge("batch", "CronJob", original, patch);
        assert_eq!(
            merged["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            json!({"restartPolicy": "Never", "containers": [{
                "name": "job", "image": "busybox:2", "command": ["date"], "env": [{"name": "TZ", "value": "UTC"}]
            }]})
        );
    }

    #[test]
    fn atomic_lists_are_replaced() {
        let original = json!({"spec": {
            "tolerations": [{"key": "a", "operator": "Exists"}],
            "containers": [{"name": "c", "args": ["x", "y"]}]
        }});
        let patch = json!({"spec": {
            "tolerations": [{"key": "b", "operator": "Exists", "effect": null}],
            "containers": [{"name": "c", "args": ["z"]}]
        }});
        let merged = merge("", "Pod", original, patch);
        assert_eq!(
            merged["spec"]["tolerations"],
            json!([{"key": "b", "operator": "Exists"}])
        );
        assert_eq!(merged["spec"]["containers"][0]["args"], json!(["z"]));
    }

    #[test]
    fn owner_references_and_conditions_merge_by_key() {
        let original = json!({
            "metadata": {"ownerReferences": [{"uid": "1", "name": "a"}, {"uid": "2", "name": "b"}]},
            "status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}]}
        });
        let patch = json!({
            "metadata": {"ownerReferences": [{"uid": "2", "controller": true}]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        });
        let merged = merge("", "Pod", original, patch);
        assert_eq!(
            merged["metadata"]["ownerReferences"],
            json!([{"uid": "1", "name": "a"}, {"uid": "2", "name": "b", "controller": true}])
        );
        assert_eq!(
            merged["status"]["conditions"],
            json!([{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}])
        );
    }

    #[test]
    fn replace_strategy_object_is_replaced() {
        let original =
            json!({"spec": {"selector": {"matchLabels": {"a": "1"}}, "minAvailable": 1}});
        let patch = json!({"spec": {"selector": {"matchLabels": {"b": "2"}}}});
        let merged = merge("policy", "PodDisruptionBudget", original, patch);
        assert_eq!(
            merged["spec"],
            json!({"selector": {"matchLabels": {"b": "2"}}, "minAvailable": 1})
        );
    }

    #[test]
    fn directives_never_leak_into_new_content() {
        let original = json!({"metadata": {"name": "p"}, "spec": {}});
        let patch = json!({"spec": {
            "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
            "containers": [
                {"name": "b", "image": "y", "resources": {"$patch": "delete"}},
                {"name": "gone", "$patch": "delete"},
                {"name": "a", "image": "x", "$setElementOrder/env": [{"name": "E"}], "env": [{"name": "E", "value": "1"}]}
            ],
            "volumes": [{"name": "v", "$retainKeys": ["name", "emptyDir"], "emptyDir": {"medium": null}}],
            "affinity": {"$patch": "replace", "nodeAffinity": {}}
        }});
        let merged = merge("", "Pod", original, patch);
        assert_eq!(
            merged["spec"],
            json!({
                "containers": [
                    {"name": "b", "image": "y"},
                    {"name": "a", "image": "x", "env": [{"name": "E", "value": "1"}]}
                ],
                "volumes": [{"name": "v", "emptyDir": {}}],
                "affinity": {"nodeAffinity": {}}
            })
        );
    }

    #[test]
    fn type_changes_take_the_patch_value() {
        let original = json!({"spec": {"replicas": 1, "template": "odd"}});
        let patch = json!({"spec": {"replicas": "x", "template": {"metadata": {"labels": {"a": "1", "b": null}}}}});
        let merged = merge("apps", "ReplicaSet", original, patch);
        assert_eq!(
            merged["spec"],
            json!({"replicas": "x", "template": {"metadata": {"labels": {"a": "1"}}}})
        );
    }

    #[test]
    fn unknown_and_misplaced_directives_are_refused() {
        let original = deployment(json!([{"name": "c", "image": "x"}]));
        let patch = json!({"metadata": {"labels": {"$patch": "nope"}}});
        let error = merge_error("apps", "Deployment", original.clone(), patch);
        assert_eq!(
            error.to_string(),
            "unknown patch type: nope in map: map[$patch:nope]"
        );

        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "$patch": "merge"}]}}}});
        let error = merge_error("apps", "Deployment", original.clone(), patch);
        assert_eq!(error, StrategicMergeError::MergeDirectiveInList);

        let patch = json!({"spec": {"template": {"spec": {"$setElementOrder": []}}}});
        let error = merge_error("apps", "Deployment", original, patch);
        assert_eq!(
            error.to_string(),
            "invalid patch format of setElementOrder list"
        );
    }

    #[test]
    fn top_level_directives() {
        let original = json!({"metadata": {"name": "cm"}, "data": {"a": "1"}});
        assert_eq!(
            merge(
                "",
                "ConfigMap",
                original.clone(),
                json!({"$patch": "delete"})
            ),
            json!({})
        );
        assert_eq!(
            merge(
                "",
                "ConfigMap",
                original,
                json!({"$patch": "replace", "data": {"b": "2"}})
            ),
            json!({"data": {"b": "2"}})
        );
    }

    #[test]
    fn numbers_match_merge_keys_by_value() {
        let original = json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}]}});
        let patch = json!({"spec": {"ports": [{"port": 80.0, "name": "http"}]}});
        let merged = merge("", "Service", original, patch);
        assert_eq!(merged["spec"]["ports"].as_array().map(Vec::len), Some(1));
        assert_eq!(merged["spec"]["ports"][0]["name"], "http");
        assert_eq!(merged["spec"]["ports"][0]["targetPort"], 8080);
    }
}
