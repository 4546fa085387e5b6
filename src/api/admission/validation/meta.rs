//! `metadata` on create and update (upstream `ValidateObjectMeta` / `ValidateObjectMetaUpdate`
//! plus core's finalizer-name rule), labels, annotations, owner references, managed fields, and
//! label selectors (their validation and their matching).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::json::{Node, semantically_equal};
use super::names::{NameRule, label_key_errors, label_value_errors};
use crate::api::field_error::{FieldError, Path};

/// Upstream's `FieldImmutableErrorMsg`.
pub(crate) const FIELD_IMMUTABLE: &str = "field is immutable";
/// Upstream's `IsNegativeErrorMsg`.
pub(crate) const IS_NEGATIVE: &str = "must be greater than or equal to 0";
const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;
const STANDARD_FINALIZERS: [&str; 3] = ["kubernetes", "orphan", "foregroundDeletion"];

/// `Invalid value: N: must be greater than or equal to 0` when negative.
pub(crate) fn nonnegative(node: &Node, errs: &mut Vec<FieldError>) {
    if let Some(v) = node.opt_int(errs)
        && v < 0
    {
        errs.push(FieldError::invalid(
            node.path(),
            &Value::from(v),
            IS_NEGATIVE,
        ));
    }
}

/// `Invalid value: <new>: field is immutable` when the values differ (zero values as absent).
pub(crate) fn immutable(new: &Node, old: &Node, errs: &mut Vec<FieldError>) {
    if !semantically_equal(new.value(), old.value()) {
        errs.push(FieldError::invalid(
            new.path(),
            new.value(),
            FIELD_IMMUTABLE,
        ));
    }
}

/// Label keys and values, errors at the map's own path (as upstream reports them).
pub(crate) fn validate_labels(labels: &Node, errs: &mut Vec<FieldError>) {
    for (key, value) in labels.string_map(errs) {
        validate_label_name(labels.path(), key, errs);
        for msg in label_value_errors(value) {
            errs.push(FieldError::invalid(
                labels.path(),
                &Value::from(value),
                &msg,
            ));
        }
    }
}

/// A label key (`ValidateLabelName`).
pub(crate) fn validate_label_name(path: &Path, key: &str, errs: &mut Vec<FieldError>) {
    for msg in label_key_errors(key) {
        errs.push(FieldError::invalid(path, &Value::from(key), &msg));
    }
}

/// Annotation keys (checked lower-cased) and their total size.
pub(crate) fn validate_annotations(annotations: &Node, errs: &mut Vec<FieldError>) {
    let map = annotations.string_map(errs);
    let mut total = 0usize;
    for (key, value) in &map {
        for msg in label_key_errors(&key.to_lowercase()) {
            errs.push(FieldError::invalid(
                annotations.path(),
                &Value::from(*key),
                &msg,
            ));
        }
        total += key.len() + value.len();
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(
            annotations.path(),
            TOTAL_ANNOTATION_SIZE_LIMIT,
        ));
    }
}

fn validate_owner_references(refs: &Node, errs: &mut Vec<FieldError>) {
    let mut first_controller: Option<String> = None;
    for item in refs.items(errs) {
        let api_version = item.field("apiVersion").str(errs);
        let kind = item.field("kind").str(errs);
        let (group, version) = parse_api_version(api_version);
        if version.is_empty() {
            errs.push(FieldError::invalid(
                refs.path().child("apiVersion"),
                &Value::from(api_version),
                "version must not be empty",
            ));
        }
        if kind.is_empty() {
            errs.push(FieldError::invalid(
                refs.path().child("kind"),
                &Value::from(kind),
                "must not be empty",
            ));
        }
        let name = item.field("name").str(errs);
        if name.is_empty() {
            errs.push(FieldError::invalid(
                refs.path().child("name"),
                &Value::from(name),
                "must not be empty",
            ));
        }
        let uid = item.field("uid").str(errs);
        if uid.is_empty() {
            errs.push(FieldError::invalid(
                refs.path().child("uid"),
                &Value::from(uid),
                "must not be empty",
            ));
        }
        if group.is_empty() && version == "v1" && kind == "Event" {
            errs.push(FieldError::invalid(
                refs.path(),
                item.value(),
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if item.field("controller").bool(errs) {
            let current = format!("{kind}/{name}");
            match &first_controller {
                Some(first) => errs.push(FieldError::invalid(
                    refs.path(),
                    refs.value(),
                    &format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {current}"
                    ),
                )),
                None => first_controller = Some(current),
            }
        }
    }
}

/// `group/version` → (group, version); `v1` → ("", "v1"); malformed → ("", "").
pub(crate) fn parse_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split('/').collect::<Vec<_>>().as_slice() {
        [""] => ("", ""),
        [version] => ("", version),
        [group, version] if !version.is_empty() => (group, version),
        _ => ("", ""),
    }
}

fn validate_finalizers(finalizers: &Node, errs: &mut Vec<FieldError>) {
    let names = finalizers.string_list(errs);
    for name in &names {
        for msg in label_key_errors(name) {
            errs.push(FieldError::invalid(
                finalizers.path(),
                &Value::from(*name),
                &msg,
            ));
        }
    }
    if names.contains(&"orphan") && names.contains(&"foregroundDeletion") {
        errs.push(FieldError::invalid(
            finalizers.path(),
            finalizers.value(),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
}

/// Core's extra rule: an unqualified finalizer must be one of the standard ones.
pub(crate) fn validate_kube_finalizer_name(path: &Path, name: &str, errs: &mut Vec<FieldError>) {
    if !name.contains('/') && !STANDARD_FINALIZERS.contains(&name) {
        errs.push(FieldError::invalid(
            path,
            &Value::from(name),
            "name is neither a standard finalizer name nor is it fully qualified",
        ));
    }
}

fn validate_kube_finalizers(finalizers: &Node, errs: &mut Vec<FieldError>) {
    let names = finalizers.string_list(&mut Vec::new());
    for (i, name) in names.iter().enumerate() {
        validate_kube_finalizer_name(&finalizers.path().index(i), name, errs);
    }
}

fn validate_field_manager(node: &Node, errs: &mut Vec<FieldError>) {
    let manager = node.str(errs);
    if manager.len() > 128 {
        errs.push(FieldError::too_long(node.path(), 128));
    }
    for (i, c) in manager.char_indices() {
        if c.is_control() {
            errs.push(FieldError::invalid(
                node.path(),
                node.value(),
                &format!("invalid character U+{:04X} (at position {i})", c as u32),
            ));
        }
    }
}

fn validate_managed_fields(fields: &Node, errs: &mut Vec<FieldError>) {
    for entry in fields.items(errs) {
        let operation = entry.field("operation");
        let op = operation.str(errs);
        if op != "Apply" && op != "Update" {
            errs.push(FieldError::invalid(
                operation.path(),
                &Value::from(op),
                "must be `Apply` or `Update`",
            ));
        }
        let fields_type = entry.field("fieldsType");
        let ft = fields_type.str(errs);
        if !ft.is_empty() && ft != "FieldsV1" {
            errs.push(FieldError::invalid(
                fields_type.path(),
                &Value::from(ft),
                "must be `FieldsV1`",
            ));
        }
        validate_field_manager(&entry.field("manager"), errs);
        let subresource = entry.field("subresource");
        if subresource.str(errs).len() > 256 {
            errs.push(FieldError::too_long(subresource.path(), 256));
        }
    }
}

/// `metadata` of a new object. `namespaced` says whether the kind lives in a namespace.
pub(crate) fn validate_object_meta(
    meta: &Node,
    namespaced: bool,
    rule: NameRule,
    errs: &mut Vec<FieldError>,
) {
    if meta.is_set() && meta.object(errs).is_none() {
        return;
    }
    let generate_name = meta.field("generateName");
    let gen_name = generate_name.str(errs);
    if !gen_name.is_empty() {
        for msg in rule.errors(gen_name, true) {
            errs.push(FieldError::invalid(
                generate_name.path(),
                &Value::from(gen_name),
                &msg,
            ));
        }
    }
    let name_node = meta.field("name");
    let name = name_node.str(errs);
    if name.is_empty() {
        errs.push(FieldError::required(
            name_node.path(),
            "name or generateName is required",
        ));
    } else {
        for msg in rule.errors(name, false) {
            errs.push(FieldError::invalid(
                name_node.path(),
                &Value::from(name),
                &msg,
            ));
        }
    }
    validate_meta_common(meta, namespaced, errs);
    validate_kube_finalizers(&meta.field("finalizers"), errs);
}

fn validate_meta_common(meta: &Node, namespaced: bool, errs: &mut Vec<FieldError>) {
    let ns_node = meta.field("namespace");
    let namespace = ns_node.str(errs);
    if namespaced {
        if namespace.is_empty() {
            errs.push(FieldError::required(ns_node.path(), ""));
        } else {
            for msg in NameRule::Dns1123Label.errors(namespace, false) {
                errs.push(FieldError::invalid(
                    ns_node.path(),
                    &Value::from(namespace),
                    &msg,
                ));
            }
        }
    } else if !namespace.is_empty() {
        errs.push(FieldError::forbidden(
            ns_node.path(),
            "not allowed on this type",
        ));
    }
    nonnegative(&meta.field("generation"), errs);
    validate_labels(&meta.field("labels"), errs);
    validate_annotations(&meta.field("annotations"), errs);
    validate_owner_references(&meta.field("ownerReferences"), errs);
    validate_finalizers(&meta.field("finalizers"), errs);
    validate_managed_fields(&meta.field("managedFields"), errs);
}

/// `metadata` of an update: immutable identity, resourceVersion present, no new finalizers
/// while deleting, and the create-time checks of labels, annotations and references.
pub(crate) fn validate_object_meta_update(new: &Node, old: &Node, errs: &mut Vec<FieldError>) {
    if new.is_set() && new.object(errs).is_none() {
        return;
    }
    let mut ignored = Vec::new();
    if old.field("deletionTimestamp").is_set() {
        let new_finalizers: BTreeSet<&str> = new
            .field("finalizers")
            .string_list(&mut ignored)
            .into_iter()
            .collect();
        let old_finalizers: BTreeSet<&str> = old
            .field("finalizers")
            .string_list(&mut ignored)
            .into_iter()
            .collect();
        let extra: Vec<String> = new_finalizers
            .difference(&old_finalizers)
            .map(|f| format!("{f:?}"))
            .collect();
        if !extra.is_empty() {
            errs.push(FieldError::forbidden(
                new.path().child("finalizers"),
                &format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                    extra.join(", ")
                ),
            ));
        }
    }
    let rv = new.field("resourceVersion");
    if rv.str(errs).is_empty() {
        errs.push(FieldError::invalid(
            rv.path(),
            &Value::from(""),
            "must be specified for an update",
        ));
    }
    let generation = new.field("generation");
    let (new_gen, old_gen) = (
        generation.int(errs),
        old.field("generation").int(&mut ignored),
    );
    if new_gen < old_gen {
        errs.push(FieldError::invalid(
            generation.path(),
            &Value::from(new_gen),
            "must not be decremented",
        ));
    }
    for key in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        let (n, o) = (new.field(key), old.field(key));
        if !semantically_equal(n.value(), o.value()) {
            let shown = match (n.is_set(), key) {
                (true, _) => n.value().clone(),
                (false, "name" | "namespace" | "uid") => Value::from(""),
                (false, _) => Value::Null,
            };
            errs.push(FieldError::invalid(n.path(), &shown, FIELD_IMMUTABLE));
        }
    }
    validate_labels(&new.field("labels"), errs);
    validate_annotations(&new.field("annotations"), errs);
    validate_owner_references(&new.field("ownerReferences"), errs);
    validate_managed_fields(&new.field("managedFields"), errs);
    validate_kube_finalizers(&new.field("finalizers"), errs);
}

/// `metadata` of an embedded template (PVC templates): only labels and annotations may be set.
pub(crate) fn validate_template_object_meta(meta: &Node, errs: &mut Vec<FieldError>) {
    validate_annotations(&meta.field("annotations"), errs);
    validate_labels(&meta.field("labels"), errs);
    if let Value::Object(map) = meta.value() {
        for (key, value) in map {
            if key != "labels" && key != "annotations" && super::json::normalized(value).is_some() {
                errs.push(FieldError::forbidden(
                    meta.path().child(key),
                    "cannot be set",
                ));
            }
        }
    }
}

/// One requirement of a label selector.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Requirement {
    In(String, BTreeSet<String>),
    NotIn(String, BTreeSet<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed `LabelSelector`; an empty one selects everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Selector {
    requirements: Vec<Requirement>,
}

impl Selector {
    /// Whether the selector has no requirements (selects everything).
    pub(crate) fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether `labels` satisfy every requirement.
    pub(crate) fn matches(&self, labels: &BTreeMap<&str, &str>) -> bool {
        self.requirements.iter().all(|req| match req {
            Requirement::In(k, vs) => labels.get(k.as_str()).is_some_and(|v| vs.contains(*v)),
            Requirement::NotIn(k, vs) => labels.get(k.as_str()).is_none_or(|v| !vs.contains(*v)),
            Requirement::Exists(k) => labels.contains_key(k.as_str()),
            Requirement::DoesNotExist(k) => !labels.contains_key(k.as_str()),
        })
    }

    /// The selector of a `map[string]string` selector (Services, ReplicationControllers).
    pub(crate) fn from_map(map: &BTreeMap<&str, &str>) -> Selector {
        Selector {
            requirements: map
                .iter()
                .map(|(k, v)| Requirement::In(k.to_string(), BTreeSet::from([v.to_string()])))
                .collect(),
        }
    }
}

/// Upstream's `LabelSelectorAsSelector`: `Ok(None)` for an absent selector (selects nothing),
/// `Err(())` when a requirement cannot be built (bad key, value or operator).
pub(crate) fn parse_label_selector(node: &Node) -> Result<Option<Selector>, ()> {
    let mut errs = Vec::new();
    if !node.is_set() {
        return Ok(None);
    }
    let mut requirements = Vec::new();
    for (key, value) in node.field("matchLabels").string_map(&mut errs) {
        if !label_key_errors(key).is_empty() || !label_value_errors(value).is_empty() {
            return Err(());
        }
        requirements.push(Requirement::In(
            key.to_string(),
            BTreeSet::from([value.to_string()]),
        ));
    }
    for expr in node.field("matchExpressions").items(&mut errs) {
        let key = expr.field("key").str(&mut errs).to_string();
        let values: BTreeSet<String> = expr
            .field("values")
            .string_list(&mut errs)
            .iter()
            .map(|v| v.to_string())
            .collect();
        if !label_key_errors(&key).is_empty()
            || values.iter().any(|v| !label_value_errors(v).is_empty())
        {
            return Err(());
        }
        let req = match expr.field("operator").str(&mut errs) {
            "In" if !values.is_empty() => Requirement::In(key, values),
            "NotIn" if !values.is_empty() => Requirement::NotIn(key, values),
            "Exists" if values.is_empty() => Requirement::Exists(key),
            "DoesNotExist" if values.is_empty() => Requirement::DoesNotExist(key),
            _ => return Err(()),
        };
        requirements.push(req);
    }
    if !errs.is_empty() {
        return Err(());
    }
    Ok(Some(Selector { requirements }))
}

/// Upstream's `ValidateLabelSelector`. `allow_invalid_values` skips checking `values`.
pub(crate) fn validate_label_selector(
    node: &Node,
    allow_invalid_values: bool,
    errs: &mut Vec<FieldError>,
) {
    if !node.is_set() || node.object(errs).is_none() {
        return;
    }
    validate_labels(&node.field("matchLabels"), errs);
    for expr in node.field("matchExpressions").items(errs) {
        let values = expr.field("values");
        let list = values.string_list(errs);
        let operator = expr.field("operator");
        match operator.str(errs) {
            "In" | "NotIn" => {
                if list.is_empty() {
                    errs.push(FieldError::required(
                        values.path(),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !list.is_empty() {
                    errs.push(FieldError::forbidden(
                        values.path(),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            op => errs.push(FieldError::invalid(
                operator.path(),
                &Value::from(op),
                "not a valid selector operator",
            )),
        }
        let key = expr.field("key");
        validate_label_name(key.path(), key.str(errs), errs);
        if !allow_invalid_values {
            for (i, value) in list.iter().enumerate() {
                for msg in label_value_errors(value) {
                    errs.push(FieldError::invalid(
                        values.path().index(i),
                        &Value::from(*value),
                        &msg,
                    ));
                }
            }
        }
    }
}

/// Whether a `LabelSelector` JSON has neither matchLabels nor matchExpressions.
pub(crate) fn selector_has_no_terms(node: &Node) -> bool {
    node.field("matchLabels").len() + node.field("matchExpressions").len() == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta_errs(meta: Value, namespaced: bool, rule: NameRule) -> Vec<String> {
        let obj = json!({ "metadata": meta });
        let mut errs = Vec::new();
        validate_object_meta(
            &Node::root(&obj).field("metadata"),
            namespaced,
            rule,
            &mut errs,
        );
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn name_is_required_and_checked() {
        assert_eq!(
            meta_errs(
                json!({"namespace": "default"}),
                true,
                NameRule::Dns1123Subdomain
            ),
            vec!["metadata.name: Required value: name or generateName is required"]
        );
        let errs = meta_errs(
            json!({"name": "Bad_Name", "namespace": "default"}),
            true,
            NameRule::Dns1123Subdomain,
        );
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with(
            "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"
        ));
        assert_eq!(
            meta_errs(json!({"name": "x"}), true, NameRule::Dns1123Subdomain),
            vec!["metadata.namespace: Required value"]
        );
        assert_eq!(
            meta_errs(
                json!({"name": "x", "namespace": "a"}),
                false,
                NameRule::Dns1123Subdomain
            ),
            vec!["metadata.namespace: Forbidden: not allowed on this type"]
        );
    }

    #[test]
    fn labels_annotations_and_finalizers() {
        let errs = meta_errs(
            json!({"name": "x", "labels": {"-bad": "ok", "good": "not ok!"}, "finalizers": ["custom"]}),
            false,
            NameRule::Dns1123Subdomain,
        );
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs[0].starts_with("metadata.labels: Invalid value: \"-bad\": name part must consist of alphanumeric characters"));
        assert!(errs[1].starts_with(
            "metadata.labels: Invalid value: \"not ok!\": a valid label must be an empty string"
        ));
        assert_eq!(
            errs[2],
            "metadata.finalizers[0]: Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified"
        );
        let big = "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT);
        assert_eq!(
            meta_errs(
                json!({"name": "x", "annotations": {"a": big}}),
                false,
                NameRule::Dns1123Subdomain
            ),
            vec!["metadata.annotations: Too long: may not be more than 262144 bytes"]
        );
    }

    #[test]
    fn owner_references() {
        let errs = meta_errs(
            json!({"name": "x", "ownerReferences": [
                {"apiVersion": "", "kind": "", "name": "", "uid": ""},
                {"apiVersion": "v1", "kind": "Event", "name": "e", "uid": "u"}
            ]}),
            false,
            NameRule::Dns1123Subdomain,
        );
        assert_eq!(
            errs[0],
            "metadata.ownerReferences.apiVersion: Invalid value: \"\": version must not be empty"
        );
        assert_eq!(
            errs[3],
            "metadata.ownerReferences.uid: Invalid value: \"\": must not be empty"
        );
        assert!(errs[4].ends_with("/v1, Kind=Event is disallowed from being an owner"));
    }

    #[test]
    fn update_keeps_identity_immutable() {
        let old = json!({"metadata": {"name": "a", "namespace": "ns", "uid": "1", "resourceVersion": "5"}});
        let new = json!({"metadata": {"name": "b", "namespace": "ns", "uid": "2", "resourceVersion": ""}});
        let mut errs = Vec::new();
        validate_object_meta_update(
            &Node::root(&new).field("metadata"),
            &Node::root(&old).field("metadata"),
            &mut errs,
        );
        let errs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            errs,
            vec![
                "metadata.resourceVersion: Invalid value: \"\": must be specified for an update",
                "metadata.name: Invalid value: \"b\": field is immutable",
                "metadata.uid: Invalid value: \"2\": field is immutable",
            ]
        );
    }

    #[test]
    fn selectors_parse_validate_and_match() {
        let sel = json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]});
        let parsed = parse_label_selector(&Node::root(&sel)).ok().flatten();
        let labels = BTreeMap::from([("app", "web"), ("tier", "front")]);
        assert!(parsed.as_ref().is_some_and(|s| s.matches(&labels)));
        assert!(parsed.is_some_and(|s| !s.matches(&BTreeMap::from([("app", "db")]))));
        let bad = json!({"matchExpressions": [{"key": "a", "operator": "Within"}]});
        assert!(parse_label_selector(&Node::root(&bad)).is_err());
        let mut errs = Vec::new();
        validate_label_selector(
            &Node::new(&bad, Path::root("spec").child("selector")),
            false,
            &mut errs,
        );
        assert_eq!(
            errs[0].to_string(),
            "spec.selector.matchExpressions[0].operator: Invalid value: \"Within\": not a valid selector operator"
        );
    }
}
