//! Order of merged lists. Items the patch names keep the patch's order, items only on the server
//! keep the server's, and the two are interleaved by server position (an item new to the list
//! goes ahead of server-only items it cannot be placed against, as upstream does).
//! `$setElementOrder/<field>`, which `kubectl apply` sends beside every merged list it changes,
//! then fixes the order of the items it names.

use std::collections::VecDeque;

use serde_json::{Map, Value};

use crate::api::patch::schema::{FieldPatchMeta, ListKind, PatchSchema};
use crate::api::patch::strategic::{
    DIRECTIVE, Result, SET_ELEMENT_ORDER, directive_target, fresh_list, merge_key_of, merge_list,
    same_value,
};
use crate::api::patch::strategic_error::{
    GO_LIST, GO_MAP, StrategicMergeError, go_format_list, wrong_type,
};

/// `$setElementOrder/<field>`: merges the field's list (if the patch has one) and orders the
/// result: named items in the directive's order, server-only items kept where they were.
pub(super) fn apply_set_element_orders(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    schema: PatchSchema,
) -> Result<()> {
    let directive_keys: Vec<String> = patch
        .keys()
        .filter(|key| key.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for directive_key in directive_keys {
        let Some(order) = patch.remove(&directive_key) else {
            continue;
        };
        let Value::Array(order) = order else {
            return Err(wrong_type(GO_LIST, &order));
        };
        let name = directive_target(&directive_key, SET_ELEMENT_ORDER)
            .ok_or(StrategicMergeError::SetElementOrderInvalid)?;
        let field = schema.field(name);
        let current = match original.get(name) {
            None => None,
            Some(Value::Array(items)) => Some(items.clone()),
            Some(other) => return Err(wrong_type(GO_LIST, other)),
        };
        let change = match patch.remove(name) {
            None => None,
            Some(Value::Array(items)) => Some(items),
            Some(other) => return Err(wrong_type(GO_LIST, &other)),
        };
        let identity = Identity::of(&field);
        if let Some(change) = &change {
            check_patch_order(change, &order, identity)?;
        }
        let merged = match (current.clone(), change) {
            (None, None) => continue,
            (Some(current), None) => current,
            (None, Some(change)) => fresh_list(change, &field)?,
            (Some(current), Some(change)) => merge_list(current, change, name, field)?,
        };
        let ordered = if field.list == ListKind::Atomic {
            merged
        } else {
            let identity = identity.for_items(&merged);
            let server_order = current.unwrap_or_default();
            arrange(merged, &order, &server_order, identity)?
        };
        original.insert(name.to_string(), Value::Array(ordered));
    }
    Ok(())
}

/// How items of a list are told apart when ordering.
#[derive(Clone, Copy, Debug)]
pub(super) enum Identity<'a> {
    /// Objects, by the value of their merge key.
    Key(&'a str),
    /// Primitives, by value.
    Value,
}

impl Identity<'static> {
    fn of(field: &FieldPatchMeta) -> Identity<'static> {
        match field.list {
            ListKind::Map { keys } => keys
                .first()
                .map_or(Identity::Value, |key| Identity::Key(key)),
            _ => Identity::Value,
        }
    }

    /// Keyed identity only when the items are objects.
    fn for_items(self, items: &[Value]) -> Identity<'static> {
        match self {
            Identity::Key(_) if items.iter().all(Value::is_object) => self,
            _ => Identity::Value,
        }
    }
}

/// The position of `item` in `list`, by `identity`.
fn position(list: &[Value], item: &Value, identity: Identity) -> Option<usize> {
    match identity {
        Identity::Value => list.iter().position(|other| same_value(other, item)),
        Identity::Key(key) => {
            let own = item.get(key);
            list.iter().position(|other| match (own, other.get(key)) {
                (Some(own), Some(theirs)) => same_value(own, theirs),
                (None, None) => true,
                _ => false,
            })
        }
    }
}

/// Every item of `list` must be an object holding the merge key.
fn require_keys(list: &[Value], key: &str) -> Result<()> {
    for item in list {
        let Value::Object(map) = item else {
            return Err(wrong_type(GO_MAP, item));
        };
        merge_key_of(map, key)?;
    }
    Ok(())
}

/// Orders `merged`: items named in `patch_order` in that order, the others in
/// `server_order`'s, interleaved so a server-only item stays before a named item it
/// preceded on the server.
pub(super) fn arrange(
    merged: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    identity: Identity,
) -> Result<Vec<Value>> {
    if let Identity::Key(key) = identity {
        require_keys(&merged, key)?;
        require_keys(patch_order, key)?;
        require_keys(server_order, key)?;
    }
    let (mut named, mut server_only): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|item| position(patch_order, item, identity).is_some());
    named.sort_by_key(|item| position(patch_order, item, identity).unwrap_or(usize::MAX));
    server_only.sort_by_key(|item| position(server_order, item, identity).unwrap_or(usize::MAX));

    let mut named = VecDeque::from(named);
    let mut server_only = VecDeque::from(server_only);
    let mut arranged = Vec::with_capacity(named.len() + server_only.len());
    loop {
        let server_first = match (server_only.front(), named.front()) {
            (Some(left), Some(right)) => matches!(
                (
                    position(server_order, left, identity),
                    position(server_order, right, identity),
                ),
                (Some(l), Some(r)) if l < r
            ),
            (Some(_), None) => true,
            (None, _) => false,
        };
        let next = if server_first {
            server_only.pop_front()
        } else {
            named.pop_front()
        };
        match next {
            Some(item) => arranged.push(item),
            None => break,
        }
    }
    Ok(arranged)
}

/// Upstream's check that a patch list names its items in `$setElementOrder`'s relative order
/// and names none the directive omits (deletion and directive items aside).
fn check_patch_order(patch_list: &[Value], order: &[Value], identity: Identity) -> Result<()> {
    if patch_list.is_empty() || order.is_empty() {
        return Ok(());
    }
    let mut items = Vec::with_capacity(patch_list.len());
    for item in patch_list {
        if let Identity::Key(_) = identity {
            let Value::Object(map) = item else {
                return Err(wrong_type(GO_MAP, item));
            };
            if map.get(DIRECTIVE).and_then(Value::as_str) == Some("delete") {
                continue;
            }
        }
        items.push(item);
    }
    let (mut at_patch, mut at_order) = (0, 0);
    while at_patch < items.len() && at_order < order.len() {
        let item = items[at_patch];
        if item.get(DIRECTIVE).is_some() {
            at_patch += 1;
            continue;
        }
        if same_identity(item, &order[at_order], identity)? {
            at_patch += 1;
        }
        at_order += 1;
    }
    if at_patch < items.len() {
        return Err(StrategicMergeError::SetElementOrderMismatch {
            patch: go_format_list(patch_list),
            order: go_format_list(order),
        });
    }
    Ok(())
}

fn same_identity(left: &Value, right: &Value, identity: Identity) -> Result<bool> {
    let Identity::Key(key) = identity else {
        return Ok(same_value(left, right));
    };
    let (Value::Object(left), Value::Object(right)) = (left, right) else {
        let odd = if left.is_object() { right } else { left };
        return Err(wrong_type(GO_MAP, odd));
    };
    Ok(same_value(
        merge_key_of(left, key)?,
        merge_key_of(right, key)?,
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::api::patch::strategic::strategic_merge;

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
        json!({"metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
               "spec": {"template": {"spec": {"containers": containers}}}})
    }

    #[test]
    fn arrange_interleaves_by_server_order() {
        let server = json!(["a", "b", "c", "d"]);
        let server = server.as_array().map(Vec::as_slice).unwrap_or_default();
        // "d" and "b" named by the patch (in that order), "x" new.
        let merged = vec![json!("a"), json!("b"), json!("c"), json!("d"), json!("x")];
        let patch = [json!("d"), json!("x"), json!("b")];
        let arranged = arrange(merged, &patch, server, Identity::Value);
        assert_eq!(
            arranged,
            Ok(vec![
                json!("a"),
                json!("c"),
                json!("d"),
                json!("x"),
                json!("b")
            ])
        );
    }

    #[test]
    fn arrange_requires_merge_keys() {
        let merged = vec![json!({"name": "a"}), json!({"image": "x"})];
        let error = arrange(merged, &[], &[], Identity::Key("name"));
        assert_eq!(
            error.map_err(|e| e.to_string()),
            Err("map: map[image:x] does not contain declared merge key: name".to_string())
        );
    }

    #[test]
    fn kubectl_apply_adds_and_reorders_containers() {
        let original = deployment(json!([
            {"name": "c1", "image": "a:1"},
            {"name": "c2", "image": "b:1"}
        ]));
        let patch = json!({
            "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "c2"}, {"name": "c3"}, {"name": "c1"}],
                "containers": [{"name": "c3", "image": "c:1"}]
            }}}
        });
        let merged = merge("apps", "Deployment", original, patch);
        let containers = &merged["spec"]["template"]["spec"]["containers"];
        assert_eq!(names(containers), ["c2", "c3", "c1"]);
        assert_eq!(
            merged["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
            "{}"
        );
        assert_eq!(merged["metadata"]["labels"]["tier"], "front");
    }

    #[test]
    fn env_merges_by_name() {
        let original = deployment(json!([{"name": "c", "image": "x", "env": [
            {"name": "A", "value": "1"},
            {"name": "B", "value": "2"}
        ]}]));
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "env": [
            {"name": "B", "value": "two"},
            {"name": "C", "value": "3"}
        ]}]}}}});
        let merged = merge("apps", "Deployment", original.clone(), patch);
        assert_eq!(
            merged["spec"]["template"]["spec"]["containers"][0]["env"],
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": "two"}, {"name": "C", "value": "3"}])
        );

        // Upstream puts a new item ahead of server-only items it has no server position to
        // compare with, so a lone addition lands first.
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "env": [
            {"name": "C", "value": "3"}
        ]}]}}}});
        let merged = merge("apps", "Deployment", original, patch);
        assert_eq!(
            merged["spec"]["template"]["spec"]["containers"][0]["env"],
            json!([{"name": "C", "value": "3"}, {"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
        );
    }

    #[test]
    fn finalizers_merge_as_a_set() {
        let original = json!({"metadata": {"name": "cm", "finalizers": ["a", "b"]}});
        let patch = json!({"metadata": {"finalizers": ["b", "c"]}});
        let merged = merge("", "ConfigMap", original.clone(), patch);
        assert_eq!(merged["metadata"]["finalizers"], json!(["a", "b", "c"]));

        let patch = json!({"metadata": {"finalizers": ["z"]}});
        let merged = merge("", "ConfigMap", original.clone(), patch);
        assert_eq!(merged["metadata"]["finalizers"], json!(["z", "a", "b"]));

        // As kubectl apply sends a removal of "a" and an addition of "c".
        let patch = json!({"metadata": {
            "$deleteFromPrimitiveList/finalizers": ["a"],
            "$setElementOrder/finalizers": ["b", "c"],
            "finalizers": ["c"]
        }});
        let merged = merge("", "ConfigMap", original, patch);
        assert_eq!(
            merged["metadata"],
            json!({"name": "cm", "finalizers": ["b", "c"]})
        );
    }

    #[test]
    fn set_element_order_must_agree_with_the_patch_list() {
        let original =
            deployment(json!([{"name": "c1", "image": "a"}, {"name": "c2", "image": "b"}]));
        let patch = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "c1"}],
            "containers": [{"name": "c2", "image": "z"}]
        }}}});
        let error = merge_error("apps", "Deployment", original.clone(), patch);
        assert_eq!(
            error.to_string(),
            "The order in patch list:\n[map[image:z name:c2]]\n doesn't match $setElementOrder list:\n[map[name:c1]]\n"
        );

        // The directive alone reorders without changing contents.
        let patch = json!({"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "c2"}, {"name": "c1"}]}}}});
        let merged = merge("apps", "Deployment", original, patch);
        assert_eq!(
            names(&merged["spec"]["template"]["spec"]["containers"]),
            ["c2", "c1"]
        );
    }

    #[test]
    fn kubectl_apply_removes_a_container() {
        let original =
            deployment(json!([{"name": "c1", "image": "a"}, {"name": "c2", "image": "b"}]));
        let patch = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "c1"}],
            "containers": [{"$patch": "delete", "name": "c2"}]
        }}}});
        let merged = merge("apps", "Deployment", original, patch);
        assert_eq!(
            merged["spec"]["template"]["spec"]["containers"],
            json!([{"name": "c1", "image": "a"}])
        );
    }
}
