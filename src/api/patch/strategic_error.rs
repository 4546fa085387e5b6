//! Errors of strategic merge patch, worded as upstream's `strategicpatch`/`mergepatch` word
//! them, with values printed as Go's `%v` prints decoded JSON (`map[image:nginx]`, `[a b]`), and
//! the HTTP status the API server answers each with.

use serde_json::{Map, Value};

/// Go's names of the JSON shapes, as upstream's messages print them.
pub(super) const GO_LIST: &str = "[]interface {}";
pub(super) const GO_MAP: &str = "map[string]interface {}";

/// Why a strategic merge patch could not be applied. Messages are upstream's; `Display` values
/// inside them are printed the way Go's `%v` prints decoded JSON (`map[name:c1]`, `[a b]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StrategicMergeError {
    /// The kind has no patch metadata (custom resources): clients must use a JSON merge patch.
    #[error("strategic merge patch format is not supported")]
    UnsupportedKind,
    /// The stored object or the patch body is not a JSON object.
    #[error("invalid JSON document")]
    NotAnObject,
    /// An item of a keyed list lacks the list's merge key.
    #[error("map: {item} does not contain declared merge key: {key}")]
    MergeKeyMissing { item: String, key: String },
    /// `$patch` holds something other than `replace`, `delete` or `merge`.
    #[error("unknown patch type: {directive} in map: {map}")]
    UnknownDirective { directive: String, map: String },
    /// `$patch: merge` as a list item.
    #[error("merging lists cannot yet be specified in the patch")]
    MergeDirectiveInList,
    /// `$retainKeys` is not a list, or the patch sets a field the list does not name.
    #[error("invalid patch format of retainKeys")]
    RetainKeysInvalid,
    /// A `$deleteFromPrimitiveList` key without `/<field>`.
    #[error("invalid patch format of primitive list")]
    DeleteFromPrimitiveListInvalid,
    /// A `$setElementOrder` key without `/<field>`.
    #[error("invalid patch format of setElementOrder list")]
    SetElementOrderInvalid,
    /// The patch list names items in an order `$setElementOrder` contradicts, or items it omits.
    #[error("The order in patch list:\n{patch}\n doesn't match $setElementOrder list:\n{order}\n")]
    SetElementOrderMismatch { patch: String, order: String },
    /// A directive or keyed list holds a value of the wrong JSON type.
    #[error("expected a {expected}, but received a {actual}")]
    WrongValueType {
        expected: &'static str,
        actual: &'static str,
    },
    /// A list holds lists.
    #[error("lists of lists are not supported")]
    ListOfLists,
    /// A merged list mixes objects, strings, numbers, ….
    #[error("list element types are not identical: {lists}")]
    MixedElementTypes { lists: String },
    /// A list of objects is declared a set (no merge key).
    #[error("cannot merge lists without merge key for {field}")]
    NoMergeKeyDeclared { field: String },
}

impl StrategicMergeError {
    /// The HTTP status upstream answers with: 400 for malformed directives, an unsupported kind
    /// or a non-object body; 422 for lists of lists; 500 (reason left empty) for the rest, which
    /// upstream passes through as plain errors.
    pub fn status_code(&self) -> u16 {
        match self {
            StrategicMergeError::UnsupportedKind
            | StrategicMergeError::NotAnObject
            | StrategicMergeError::RetainKeysInvalid
            | StrategicMergeError::DeleteFromPrimitiveListInvalid
            | StrategicMergeError::SetElementOrderInvalid => 400,
            StrategicMergeError::ListOfLists => 422,
            _ => 500,
        }
    }

    /// The `Status` reason upstream answers with beside [`Self::status_code`]: `BadRequest`,
    /// `Invalid`, or empty (`StatusReasonUnknown`) for the 500s.
    pub fn reason(&self) -> &'static str {
        match self.status_code() {
            400 => "BadRequest",
            422 => "Invalid",
            _ => "",
        }
    }
}

pub(super) fn wrong_type(expected: &'static str, actual: &Value) -> StrategicMergeError {
    StrategicMergeError::WrongValueType {
        expected,
        actual: go_type(actual),
    }
}

/// The Go type upstream decodes a JSON value into.
pub(super) fn go_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => GO_LIST,
        Value::Object(_) => GO_MAP,
    }
}

/// A decoded JSON value as Go's `%v` prints it.
pub(super) fn go_format(value: &Value) -> String {
    match value {
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => go_format_list(items),
        Value::Object(map) => go_format_map(map),
    }
}

pub(super) fn go_format_list(items: &[Value]) -> String {
    let parts: Vec<String> = items.iter().map(go_format).collect();
    format!("[{}]", parts.join(" "))
}

pub(super) fn go_format_map(map: &Map<String, Value>) -> String {
    let parts: Vec<String> = map
        .iter()
        .map(|(key, value)| format!("{key}:{}", go_format(value)))
        .collect();
    format!("map[{}]", parts.join(" "))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn values_print_as_go_prints_them() {
        let value = json!({"name": "c1", "ports": [{"containerPort": 80}, {"containerPort": 1.5}], "x": null, "on": true});
        assert_eq!(
            go_format(&value),
            "map[name:c1 on:true ports:[map[containerPort:80] map[containerPort:1.5]] x:<nil>]"
        );
        assert_eq!(go_type(&json!(1)), "int64");
        assert_eq!(go_type(&json!(1.5)), "float64");
        assert_eq!(go_type(&json!([])), "[]interface {}");
        assert_eq!(go_type(&json!({})), "map[string]interface {}");
    }

    #[test]
    fn messages_and_statuses() {
        let error = StrategicMergeError::MergeKeyMissing {
            item: go_format(&json!({"image": "nginx"})),
            key: "name".to_string(),
        };
        assert_eq!(
            error.to_string(),
            "map: map[image:nginx] does not contain declared merge key: name"
        );
        assert_eq!((error.status_code(), error.reason()), (500, ""));

        let error = wrong_type(GO_LIST, &json!("x"));
        assert_eq!(
            error.to_string(),
            "expected a []interface {}, but received a string"
        );

        let error = StrategicMergeError::SetElementOrderInvalid;
        assert_eq!((error.status_code(), error.reason()), (400, "BadRequest"));
        let error = StrategicMergeError::ListOfLists;
        assert_eq!((error.status_code(), error.reason()), (422, "Invalid"));
    }

    fn merge_error(group: &str, kind: &str, original: Value, patch: Value) -> StrategicMergeError {
        match crate::api::patch::strategic::strategic_merge(group, kind, &original, &patch) {
            Ok(merged) => panic!("patch succeeded: {merged}"),
            Err(error) => error,
        }
    }

    #[test]
    fn missing_merge_key_is_refused() {
        let original = json!({"spec": {"containers": [{"name": "c", "image": "x"}]}});
        let patch = json!({"spec": {"containers": [{"image": "nginx"}]}});
        let error = merge_error("", "Pod", original.clone(), patch);
        assert_eq!(
            error.to_string(),
            "map: map[image:nginx] does not contain declared merge key: name"
        );
        assert_eq!(error.status_code(), 500);

        let patch = json!({"spec": {"containers": [{"$patch": "delete", "image": "nginx"}]}});
        let error = merge_error("", "Pod", original, patch);
        assert_eq!(
            error.to_string(),
            "map: map[$patch:delete image:nginx] does not contain declared merge key: name"
        );
    }

    #[test]
    fn malformed_lists_are_refused() {
        let original = json!({"metadata": {"finalizers": ["a"]}});
        let error = merge_error(
            "",
            "Secret",
            original.clone(),
            json!({"metadata": {"finalizers": [["b"]]}}),
        );
        assert_eq!(error, StrategicMergeError::ListOfLists);
        assert_eq!(error.status_code(), 422);

        let error = merge_error(
            "",
            "Secret",
            original,
            json!({"metadata": {"finalizers": [1]}}),
        );
        assert_eq!(
            error.to_string(),
            "list element types are not identical: [[a] [1]]"
        );
    }

    #[test]
    fn unknown_kinds_and_bodies_are_refused() {
        let error = merge_error("example.com", "Widget", json!({}), json!({}));
        assert_eq!(
            error.to_string(),
            "strategic merge patch format is not supported"
        );
        assert_eq!(error.status_code(), 400);
        let error = merge_error("", "Pod", json!({}), json!([]));
        assert_eq!(error, StrategicMergeError::NotAnObject);
    }
}
