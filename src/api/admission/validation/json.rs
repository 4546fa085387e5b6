//! Reading an object's JSON the way upstream's typed decoder sees it: a missing field and
//! `null` read as the zero value, and a field of the wrong JSON type becomes a
//! `FieldValueTypeInvalid` error at its path instead of a panic.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::api::field_error::{FieldError, Path};

static NULL: Value = Value::Null;

/// A position in the object being validated: the value there (`null` when absent) and its path.
#[derive(Clone, Debug)]
pub(crate) struct Node<'a> {
    value: &'a Value,
    path: Path,
}

impl<'a> Node<'a> {
    pub(crate) fn new(value: &'a Value, path: Path) -> Self {
        Node { value, path }
    }

    /// The object itself, at the root path (`""`), so fields read as `metadata`, `spec`…
    pub(crate) fn root(value: &'a Value) -> Self {
        Node::new(value, Path::default())
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn value(&self) -> &'a Value {
        self.value
    }

    /// The field `key` of this object (`null` when this is not an object or lacks it).
    pub(crate) fn field(&self, key: &str) -> Node<'a> {
        let value = self.value.get(key).unwrap_or(&NULL);
        Node::new(value, self.path.child(key))
    }

    /// Shorthand for `field(a).field(b)…`.
    pub(crate) fn at(&self, keys: &[&str]) -> Node<'a> {
        keys.iter().fold(self.clone(), |node, key| node.field(key))
    }

    /// Whether the field is present and not `null`.
    pub(crate) fn is_set(&self) -> bool {
        !self.value.is_null()
    }

    fn wrong_type(&self, expected: &str, errs: &mut Vec<FieldError>) {
        errs.push(FieldError::type_invalid(
            &self.path,
            self.value,
            &format!("must be of type {expected}"),
        ));
    }

    /// The string here; `None` when absent, an error when of another type.
    pub(crate) fn opt_str(&self, errs: &mut Vec<FieldError>) -> Option<&'a str> {
        match self.value {
            Value::Null => None,
            Value::String(s) => Some(s),
            _ => {
                self.wrong_type("string", errs);
                None
            }
        }
    }

    /// The string here, `""` when absent.
    pub(crate) fn str(&self, errs: &mut Vec<FieldError>) -> &'a str {
        self.opt_str(errs).unwrap_or("")
    }

    /// The integer here; `None` when absent, an error when of another type.
    pub(crate) fn opt_int(&self, errs: &mut Vec<FieldError>) -> Option<i64> {
        match self.value {
            Value::Null => None,
            Value::Number(n) => match n.as_i64() {
                Some(i) => Some(i),
                None => {
                    self.wrong_type("integer", errs);
                    None
                }
            },
            _ => {
                self.wrong_type("integer", errs);
                None
            }
        }
    }

    /// The integer here, 0 when absent.
    pub(crate) fn int(&self, errs: &mut Vec<FieldError>) -> i64 {
        self.opt_int(errs).unwrap_or(0)
    }

    /// The boolean here; `None` when absent, an error when of another type.
    pub(crate) fn opt_bool(&self, errs: &mut Vec<FieldError>) -> Option<bool> {
        match self.value {
            Value::Null => None,
            Value::Bool(b) => Some(*b),
            _ => {
                self.wrong_type("boolean", errs);
                None
            }
        }
    }

    /// The boolean here, false when absent.
    pub(crate) fn bool(&self, errs: &mut Vec<FieldError>) -> bool {
        self.opt_bool(errs).unwrap_or(false)
    }

    /// The object here, when present and an object (an error when of another type).
    pub(crate) fn object(&self, errs: &mut Vec<FieldError>) -> Option<Node<'a>> {
        match self.value {
            Value::Null => None,
            Value::Object(_) => Some(self.clone()),
            _ => {
                self.wrong_type("object", errs);
                None
            }
        }
    }

    /// The elements of the array here, each at its `[i]` path; empty when absent.
    pub(crate) fn items(&self, errs: &mut Vec<FieldError>) -> Vec<Node<'a>> {
        match self.value {
            Value::Null => Vec::new(),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| Node::new(v, self.path.index(i)))
                .collect(),
            _ => {
                self.wrong_type("array", errs);
                Vec::new()
            }
        }
    }

    /// The entries of the map here, keyed by name, each at its `[key]` path.
    pub(crate) fn entries(&self, errs: &mut Vec<FieldError>) -> Vec<(&'a str, Node<'a>)> {
        match self.value {
            Value::Null => Vec::new(),
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| (k.as_str(), Node::new(v, self.path.key(k))))
                .collect(),
            _ => {
                self.wrong_type("object", errs);
                Vec::new()
            }
        }
    }

    /// A `map[string]string` (labels, annotations, selectors), sorted by key.
    pub(crate) fn string_map(&self, errs: &mut Vec<FieldError>) -> BTreeMap<&'a str, &'a str> {
        let mut out = BTreeMap::new();
        for (key, node) in self.entries(errs) {
            match node.value {
                Value::String(s) => {
                    out.insert(key, s.as_str());
                }
                Value::Null => {
                    out.insert(key, "");
                }
                _ => node.wrong_type("string", errs),
            }
        }
        out
    }

    /// A `[]string`.
    pub(crate) fn string_list(&self, errs: &mut Vec<FieldError>) -> Vec<&'a str> {
        self.items(errs)
            .into_iter()
            .filter_map(|item| item.opt_str(errs))
            .collect()
    }

    /// The number of elements of an array (0 when absent or of another type).
    pub(crate) fn len(&self) -> usize {
        match self.value {
            Value::Array(items) => items.len(),
            Value::Object(map) => map.len(),
            _ => 0,
        }
    }
}

/// Whether two optional JSON values are the same once `null`, `{}`, `[]`, `""`, `0` and
/// `false` (Go's zero values, which it omits) are taken as absent.
pub(crate) fn semantically_equal(a: &Value, b: &Value) -> bool {
    normalized(a) == normalized(b)
}

/// The value with zero-valued fields dropped, recursively (`None` when it is itself zero).
pub(crate) fn normalized(value: &Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::Bool(false) => None,
        Value::String(s) if s.is_empty() => None,
        Value::Number(n) if n.as_f64() == Some(0.0) => None,
        Value::Array(items) if items.is_empty() => None,
        Value::Array(items) => Some(Value::Array(
            items
                .iter()
                .map(|v| normalized(v).unwrap_or(Value::Null))
                .collect(),
        )),
        Value::Object(map) => {
            let kept: serde_json::Map<String, Value> = map
                .iter()
                .filter_map(|(k, v)| normalized(v).map(|v| (k.clone(), v)))
                .collect();
            if kept.is_empty() {
                None
            } else {
                Some(Value::Object(kept))
            }
        }
        other => Some(other.clone()),
    }
}

/// A short rendering of how two objects differ, in the spirit of the `cmp.Diff` upstream
/// appends to "immutable" messages (theirs prints Go structs; ours prints the differing
/// top-level fields as JSON, so it is an approximation of the wording, not of the facts).
pub(crate) fn describe_diff(type_name: &str, old: &Value, new: &Value) -> String {
    let empty = serde_json::Map::new();
    let old_map = old.as_object().unwrap_or(&empty);
    let new_map = new.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = old_map.keys().chain(new_map.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = format!("  {type_name}{{\n");
    let mut identical = 0;
    for key in keys {
        let (o, n) = (old_map.get(key.as_str()), new_map.get(key.as_str()));
        let (o, n) = (o.unwrap_or(&NULL), n.unwrap_or(&NULL));
        if semantically_equal(o, n) {
            identical += 1;
            continue;
        }
        let go_name = go_field_name(key);
        if normalized(o).is_some() {
            out.push_str(&format!("- \t{go_name}: {o},\n"));
        }
        if normalized(n).is_some() {
            out.push_str(&format!("+ \t{go_name}: {n},\n"));
        }
    }
    if identical > 0 {
        out.push_str(&format!("  \t... // {identical} identical fields\n"));
    }
    out.push_str("  }");
    out
}

fn go_field_name(key: &str) -> String {
    let mut chars = key.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::field_error::CauseReason;
    use serde_json::json;

    #[test]
    fn reads_fields_and_reports_wrong_types() {
        let obj = json!({"spec": {"replicas": "three", "paused": true, "names": ["a", 1]}});
        let root = Node::root(&obj);
        let mut errs = Vec::new();
        assert_eq!(root.at(&["spec", "replicas"]).opt_int(&mut errs), None);
        assert!(root.at(&["spec", "paused"]).bool(&mut errs));
        assert_eq!(
            root.at(&["spec", "names"]).string_list(&mut errs),
            vec!["a"]
        );
        assert_eq!(root.at(&["spec", "missing"]).str(&mut errs), "");
        assert_eq!(errs.len(), 2);
        assert_eq!(errs[0].reason, CauseReason::TypeInvalid);
        assert_eq!(
            errs[0].to_string(),
            "spec.replicas: Invalid value: \"three\": must be of type integer"
        );
        assert_eq!(errs[1].field, "spec.names[1]");
    }

    #[test]
    fn diff_names_changed_fields() {
        let d = describe_diff(
            "core.PodSpec",
            &json!({"nodeName": "a", "x": 1}),
            &json!({"nodeName": "b", "x": 1}),
        );
        assert_eq!(
            d,
            "  core.PodSpec{\n- \tNodeName: \"a\",\n+ \tNodeName: \"b\",\n  \t... // 1 identical fields\n  }"
        );
    }

    #[test]
    fn zero_values_compare_equal_to_absent() {
        assert!(semantically_equal(&json!({"a": "", "b": []}), &json!({})));
        assert!(!semantically_equal(&json!({"a": "x"}), &json!({})));
        assert!(semantically_equal(&Value::Null, &json!({"x": {"y": null}})));
    }
}
