//! kubectl's client-side apply next to server-side apply: `kubectl apply --server-side`
//! (manager `kubectl`) may take over the fields client-side apply set, as long as nobody
//! changed them since (they still match the `last-applied-configuration` annotation), and it
//! keeps that annotation current so that a later client-side apply still works.

use serde_json::Value;

use super::fieldset::FieldSet;
use super::structure::Structure;

/// kubectl's record of what client-side apply last applied.
pub(super) const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The manager name of `kubectl apply --server-side`, which may take over fields that
/// client-side apply set, and keeps [`LAST_APPLIED`] current.
pub(super) const KUBECTL: &str = "kubectl";

/// Upstream's limit on the total size of an object's annotations.
const ANNOTATIONS_SIZE_LIMIT: usize = 256 * 1024;

/// The fields of kubectl's last-applied configuration still as it set them: these may be
/// taken over from client-side apply without conflict.
pub(super) fn unchanged_since_last_applied(
    structure: &Structure,
    api_version: &str,
    live: &Value,
) -> Option<FieldSet> {
    let last: Value = serde_json::from_str(last_applied(live)?).ok()?;
    if last.get("apiVersion").and_then(Value::as_str) != Some(api_version) {
        return None;
    }
    structure.validate(&last).ok()?;
    let changes = structure.compare(&last, live);
    Some(
        structure
            .field_set(&last)
            .difference(&changes.modified)
            .difference(&changes.added)
            .difference(&changes.removed),
    )
}

pub(super) fn last_applied(object: &Value) -> Option<&str> {
    let text = object
        .get("metadata")?
        .get("annotations")?
        .get(LAST_APPLIED)?
        .as_str()?;
    (!text.is_empty()).then_some(text)
}

/// Sets [`LAST_APPLIED`] to `config` (without that annotation), encoded as Go's JSON encoder
/// writes it, unless that would make the annotations too large.
pub(super) fn record_last_applied(object: &mut Value, config: &Value) {
    let mut config = config.clone();
    if let Some(annotations) = config
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        annotations.remove(LAST_APPLIED);
    }
    let mut text = config
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029");
    text.push('\n');
    let Some(annotations) = object
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    annotations.insert(LAST_APPLIED.to_string(), Value::String(text));
    let size: usize = annotations
        .iter()
        .map(|(key, value)| key.len() + value.as_str().map_or(0, str::len))
        .sum();
    if size > ANNOTATIONS_SIZE_LIMIT {
        annotations.remove(LAST_APPLIED);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::patch::apply::FieldManager;
    use crate::api::patch::apply::tests::{
        T0, T1, T2, config_map, config_maps, conflicts, deployment, fields_of, stored,
    };
    use serde_json::json;

    /// `kubectl apply` (client-side) creates the object, then another tool applies.
    fn created_by_client_side_apply(data: Value) -> Value {
        let mut object = config_map(data);
        let last = format!("{}\n", object);
        object["metadata"]["annotations"] = json!({LAST_APPLIED: last});
        config_maps()
            .track_update(None, &mut object, "kubectl-client-side-apply", T0)
            .unwrap();
        stored(object)
    }

    #[test]
    fn server_side_apply_after_client_side_apply_conflicts() {
        let live = created_by_client_side_apply(json!({"k": "v1"}));
        assert_eq!(
            fields_of(&live, "kubectl-client-side-apply", "Update"),
            json!({
                "f:data": {".": {}, "f:k": {}},
                "f:metadata": {"f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}}}
            })
        );
        let config = config_map(json!({"k": "v2"}));
        let (list, message) =
            conflicts(config_maps().apply(Some(&live), &config, "kube-rs", false, T1));
        assert_eq!(
            list[0].message(),
            r#"conflict with "kubectl-client-side-apply" using v1"#
        );
        assert_eq!(list[0].field, ".data.k");
        assert_eq!(
            message,
            r#"Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using v1: .data.k"#
        );
        let forced = config_maps()
            .apply(Some(&live), &config, "kube-rs", true, T1)
            .unwrap();
        assert_eq!(forced["data"]["k"], "v2");
        assert_eq!(
            fields_of(&forced, "kubectl-client-side-apply", "Update")["f:data"],
            json!({})
        );
    }

    #[test]
    fn kubectl_takes_over_what_client_side_apply_last_set() {
        let live = created_by_client_side_apply(json!({"k": "v1", "other": "x"}));
        let config = config_map(json!({"k": "v2", "other": "x"}));
        let applied = config_maps()
            .apply(Some(&live), &config, "kubectl", false, T1)
            .unwrap();
        assert_eq!(applied["data"]["k"], "v2");
        assert_eq!(
            fields_of(&applied, "kubectl", "Apply"),
            json!({"f:data": {"f:k": {}, "f:other": {}}})
        );
        let last = applied["metadata"]["annotations"][LAST_APPLIED]
            .as_str()
            .unwrap();
        assert_eq!(last, format!("{config}\n"));

        // A value changed since the last client-side apply still conflicts.
        let mut edited = live.clone();
        edited["data"]["k"] = json!("edited");
        config_maps()
            .track_update(Some(&live), &mut edited, "kubectl-edit", T1)
            .unwrap();
        let (list, _) =
            conflicts(config_maps().apply(Some(&edited), &config, "kubectl", false, T2));
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].manager, "kubectl-edit");
    }

    #[test]
    fn kubectl_may_only_take_over_fields_unchanged_since_last_applied() {
        let fm = FieldManager::new("apps", "Deployment", "apps/v1");
        let last =
            deployment(json!([{"name": "app", "image": "v1"}, {"name": "helper", "image": "h1"}]));
        let mut live = deployment(json!([{"name": "app", "image": "v2"}]));
        live["spec"]["replicas"] = json!(5);
        live["metadata"]["labels"] = json!({"tier": "front"});
        live["metadata"]["annotations"] = json!({LAST_APPLIED: last.to_string()});
        fm.track_update(None, &mut live, "kubectl-client-side-apply", T0)
            .unwrap();
        let live = stored(live);
        let mut config = deployment(json!([{"name": "app", "image": "v3"}]));
        config["spec"]["replicas"] = json!(7);
        config["spec"]["selector"] = json!({"matchLabels": {"app": "web2"}});
        config["spec"]["template"]["metadata"]["labels"] = json!({"app": "web2"});
        config["metadata"]["labels"] = json!({"tier": "back"});
        let (list, _) = conflicts(fm.apply(Some(&live), &config, "kubectl", false, T1));
        let fields: Vec<&str> = list.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                ".metadata.labels.tier",
                ".spec.replicas",
                r#".spec.template.spec.containers[name="app"].image"#
            ]
        );
        let forced = fm.apply(Some(&live), &config, "kubectl", true, T1).unwrap();
        assert_eq!(forced["spec"]["selector"], config["spec"]["selector"]);
    }

    #[test]
    fn annotation_is_encoded_as_go_does_and_dropped_when_too_large() {
        let mut object = config_map(json!({}));
        object["metadata"]["annotations"] = json!({LAST_APPLIED: "old"});
        let config = config_map(json!({"html": "<a & b>"}));
        record_last_applied(&mut object, &config);
        let text = last_applied(&object).unwrap();
        assert!(text.ends_with("}\n"));
        assert!(text.contains(r#""html":"\u003ca \u0026 b\u003e""#));
        object["metadata"]["annotations"]["big"] = json!("x".repeat(ANNOTATIONS_SIZE_LIMIT));
        record_last_applied(&mut object, &config);
        assert_eq!(last_applied(&object), None);
    }
}
