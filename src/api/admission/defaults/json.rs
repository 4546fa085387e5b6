//! Reading and filling fields of JSON objects the way Go's decoder sees them: an absent field
//! and a `null` are both unset, `""` and `0` are unset for plain (non-pointer) fields, and a
//! field holding the wrong JSON type is left alone for validation to report.

use serde_json::{Map, Value};

/// A JSON object, as the defaulting functions walk it.
pub(super) type Object = Map<String, Value>;

/// Absent or `null`: a nil pointer, map or slice in Go.
pub(super) fn is_unset(object: &Object, key: &str) -> bool {
    matches!(object.get(key), None | Some(Value::Null))
}

/// Absent, `null`, or an empty array or object: `len(x) == 0` in Go.
pub(super) fn is_empty(object: &Object, key: &str) -> bool {
    match object.get(key) {
        None | Some(Value::Null) => true,
        Some(Value::Array(items)) => items.is_empty(),
        Some(Value::Object(fields)) => fields.is_empty(),
        Some(_) => false,
    }
}

/// Sets a pointer field (or any field where only absence counts as unset).
pub(super) fn default_value(object: &mut Object, key: &str, value: Value) {
    if is_unset(object, key) {
        object.insert(key.to_string(), value);
    }
}

/// Absent, `null` or `""`: an unset plain string field.
pub(super) fn is_blank_string(object: &Object, key: &str) -> bool {
    match object.get(key) {
        None | Some(Value::Null) => true,
        Some(Value::String(text)) => text.is_empty(),
        Some(_) => false,
    }
}

/// Absent, `null` or `0`: an unset plain integer field.
pub(super) fn is_zero_integer(object: &Object, key: &str) -> bool {
    match object.get(key) {
        None | Some(Value::Null) => true,
        Some(Value::Number(number)) => number.as_f64() == Some(0.0),
        Some(_) => false,
    }
}

/// Sets a plain string field: absent, `null` and `""` are unset.
pub(super) fn default_string(object: &mut Object, key: &str, value: &str) {
    if is_blank_string(object, key) {
        object.insert(key.to_string(), Value::String(value.to_string()));
    }
}

/// Sets a plain integer field: absent, `null` and `0` are unset.
pub(super) fn default_integer(object: &mut Object, key: &str, value: i64) {
    if is_zero_integer(object, key) {
        object.insert(key.to_string(), Value::from(value));
    }
}

/// The field as a string, when it is one.
pub(super) fn string<'a>(object: &'a Object, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}

/// The field as a string, with absent, `null` and wrong types read as `""` (Go's zero value).
pub(super) fn string_or_empty<'a>(object: &'a Object, key: &str) -> &'a str {
    string(object, key).unwrap_or("")
}

/// The object under `key`, when present and an object.
pub(super) fn child<'a>(object: &'a mut Object, key: &str) -> Option<&'a mut Object> {
    object.get_mut(key).and_then(Value::as_object_mut)
}

/// The object under `key`, created as `{}` when unset; `None` when it holds another type.
pub(super) fn child_or_insert<'a>(object: &'a mut Object, key: &str) -> Option<&'a mut Object> {
    if is_unset(object, key) {
        object.insert(key.to_string(), Value::Object(Map::new()));
    }
    child(object, key)
}

/// The metadata of an embedded template (pod, job or claim template): a plain struct, so
/// always serialized, as `{}` when empty. A zero `creationTimestamp` is omitted since
/// Kubernetes 1.34, though older clients still send it as `null`.
pub(super) fn default_template_metadata(template: &mut Object) {
    if let Some(metadata) = child_or_insert(template, "metadata")
        && metadata.get("creationTimestamp") == Some(&Value::Null)
    {
        metadata.remove("creationTimestamp");
    }
}

/// The objects in the array under `key`; nothing when the field is not an array. Items that are
/// not objects are skipped.
pub(super) fn children<'a>(
    object: &'a mut Object,
    key: &str,
) -> impl Iterator<Item = &'a mut Object> + use<'a> {
    object
        .get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Object {
        match value {
            Value::Object(fields) => fields,
            _ => Object::new(),
        }
    }

    #[test]
    fn unset_means_absent_or_null() {
        let fields = object(json!({"a": null, "b": 0, "c": ""}));
        assert!(is_unset(&fields, "a"));
        assert!(is_unset(&fields, "missing"));
        assert!(!is_unset(&fields, "b"));
        assert!(!is_unset(&fields, "c"));
    }

    #[test]
    fn plain_fields_treat_zero_values_as_unset() {
        let mut fields = object(json!({"s": "", "n": 0, "keep": "x", "wrong": true}));
        default_string(&mut fields, "s", "filled");
        default_string(&mut fields, "keep", "filled");
        default_string(&mut fields, "wrong", "filled");
        default_integer(&mut fields, "n", 7);
        assert_eq!(
            Value::Object(fields),
            json!({"s": "filled", "n": 7, "keep": "x", "wrong": true})
        );
    }

    #[test]
    fn pointer_fields_keep_explicit_zero() {
        let mut fields = object(json!({"replicas": 0}));
        default_value(&mut fields, "replicas", json!(1));
        default_value(&mut fields, "other", json!(1));
        assert_eq!(Value::Object(fields), json!({"replicas": 0, "other": 1}));
    }

    #[test]
    fn child_or_insert_refuses_wrong_types() {
        let mut fields = object(json!({"spec": "text", "status": null}));
        assert!(child_or_insert(&mut fields, "spec").is_none());
        assert!(child_or_insert(&mut fields, "status").is_some());
        assert_eq!(fields.get("status"), Some(&json!({})));
    }

    #[test]
    fn template_metadata_is_present_without_null_timestamp() {
        let mut template = object(json!({"spec": {}}));
        default_template_metadata(&mut template);
        assert_eq!(template.get("metadata"), Some(&json!({})));
        let mut template =
            object(json!({"metadata": {"creationTimestamp": null, "labels": {"a": "b"}}}));
        default_template_metadata(&mut template);
        assert_eq!(
            template.get("metadata"),
            Some(&json!({"labels": {"a": "b"}}))
        );
    }

    #[test]
    fn children_skips_non_objects() {
        let mut fields = object(json!({"items": [1, {"a": 1}, "x"], "other": {}}));
        assert_eq!(children(&mut fields, "items").count(), 1);
        assert_eq!(children(&mut fields, "other").count(), 0);
        assert_eq!(children(&mut fields, "missing").count(), 0);
    }
}
