//! The checks apiextensions runs after the schema validator: embedded resources
//! (`x-kubernetes-embedded-resource`) need a valid `apiVersion` and `kind`, and lists with
//! `x-kubernetes-list-type: set|map` need unique items or unique map keys.
//!
//! The embedded resource's `metadata` is not validated here (upstream runs full ObjectMeta
//! validation on it).

use serde_json::{Map, Value};

use super::messages::{duplicate, invalid};
use super::names::is_dns1035_label;
use super::walk::{Additional, Schemas};
use crate::api::field_error::FieldError;

/// `parent.key` as `field.Path.Child` prints it from a nil root.
fn child(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// Embedded resources in `object` below `path`: `apiVersion` and `kind` required and valid.
pub fn validate_embedded(
    schemas: &Schemas<'_>,
    node: &Value,
    object: &Value,
    path: &str,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    embedded_walk(schemas, Some(node), object, path, &mut errors);
    errors
}

fn embedded_walk(
    schemas: &Schemas<'_>,
    node: Option<&Value>,
    object: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    let Some(node) = node else {
        return;
    };
    match object {
        Value::Object(map) => {
            if schemas.embedded(node) {
                errors.extend(embedded_type_meta(map, path));
            }
            for (key, value) in map {
                if let Some(property) = schemas.property(node, key) {
                    embedded_walk(schemas, Some(property), value, &child(path, key), errors);
                } else if let Additional::Schema(additional) = schemas.additional(node) {
                    let keyed = format!("{path}[{key}]");
                    embedded_walk(schemas, Some(additional), value, &keyed, errors);
                }
            }
        }
        Value::Array(items) => {
            let item_schema = schemas.items(node);
            for (i, item) in items.iter().enumerate() {
                embedded_walk(schemas, item_schema, item, &format!("{path}[{i}]"), errors);
            }
        }
        _ => {}
    }
}

/// `apiVersion` and `kind` of one embedded object.
pub fn embedded_type_meta(map: &Map<String, Value>, path: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let api_version_path = child(path, "apiVersion");
    let kind_path = child(path, "kind");
    if !map.contains_key("apiVersion") {
        errors.push(FieldError::required(&*api_version_path, ""));
    }
    if !map.contains_key("kind") {
        errors.push(FieldError::required(&*kind_path, ""));
    }
    if let Some(value) = map.get("apiVersion") {
        match value.as_str() {
            None => errors.push(invalid(&*api_version_path, value, "must be a string")),
            Some("") => errors.push(invalid(&*api_version_path, value, "must not be empty")),
            Some(text) if text != "/" && text.matches('/').count() > 1 => errors.push(invalid(
                &*api_version_path,
                value,
                &format!("unexpected GroupVersion string: {text}"),
            )),
            Some(_) => {}
        }
    }
    if let Some(value) = map.get("kind") {
        match value.as_str() {
            None => errors.push(invalid(&*kind_path, value, "must be a string")),
            Some("") => errors.push(invalid(&*kind_path, value, "must not be empty")),
            Some(kind) => {
                let problems = is_dns1035_label(&kind.to_lowercase());
                if !problems.is_empty() {
                    let detail = format!(
                        "may have mixed case, but should otherwise match: {}",
                        problems.join(",")
                    );
                    errors.push(invalid(&*kind_path, value, &detail));
                }
            }
        }
    }
    errors
}

/// `x-kubernetes-list-type: set` and `map` uniqueness below `path`.
pub fn validate_list_types(
    schemas: &Schemas<'_>,
    node: &Value,
    object: &Value,
    path: &str,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Value::Object(map) = object {
        list_types_in_object(schemas, node, map, path, &mut errors);
    }
    errors
}

fn list_types_in_object(
    schemas: &Schemas<'_>,
    node: &Value,
    map: &Map<String, Value>,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    if let Additional::Schema(additional) = schemas.additional(node) {
        for (key, value) in map {
            list_types_in_value(
                schemas,
                additional,
                value,
                &format!("{path}[{key}]"),
                errors,
            );
        }
    }
    if schemas.properties(node).is_some() {
        for (key, value) in map {
            if let Some(property) = schemas.property(node, key) {
                list_types_in_value(schemas, property, value, &child(path, key), errors);
            }
        }
    }
}

fn list_types_in_value(
    schemas: &Schemas<'_>,
    node: &Value,
    value: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    match value {
        Value::Array(items) => {
            match schemas.list_type(node) {
                Some("set") => {
                    for i in non_unique(items) {
                        errors.push(duplicate(format!("{path}[{i}]"), &items[i]));
                    }
                }
                Some("map") => list_map_duplicates(schemas, node, items, path, errors),
                _ => {}
            }
            if let Some(item_schema) = schemas.items(node) {
                for (i, item) in items.iter().enumerate() {
                    list_types_in_value(
                        schemas,
                        item_schema,
                        item,
                        &format!("{path}[{i}]"),
                        errors,
                    );
                }
            }
        }
        Value::Object(map) => list_types_in_object(schemas, node, map, path, errors),
        _ => {}
    }
}

fn list_map_duplicates(
    schemas: &Schemas<'_>,
    node: &Value,
    items: &[Value],
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    for (i, item) in items.iter().enumerate() {
        if !item.is_null() && !item.is_object() {
            errors.push(invalid(
                format!("{path}[{i}]"),
                item,
                "must be an object for an array of list-type map",
            ));
            return;
        }
    }
    let key_fields = schemas.list_map_keys(node);
    let keys: Vec<Value> = items
        .iter()
        .map(|item| {
            let mut key = Map::new();
            for field in &key_fields {
                if let Some(value) = item.get(*field) {
                    key.insert((*field).to_string(), value.clone());
                }
            }
            Value::Object(key)
        })
        .collect();
    for i in non_unique(&keys) {
        errors.push(duplicate(format!("{path}[{i}]"), &keys[i]));
    }
}

/// Indices of the second occurrence of each repeated value; compounds compare by their JSON
/// encoding (Go's `json.Marshal`), scalars by type and value.
fn non_unique(items: &[Value]) -> Vec<usize> {
    let mut seen: Vec<(String, usize)> = Vec::new();
    let mut repeated = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let key = identity(item);
        match seen.iter_mut().find(|(k, _)| *k == key) {
            Some((_, times)) => {
                *times += 1;
                if *times == 2 {
                    repeated.push(i);
                }
            }
            None => seen.push((key, 1)),
        }
    }
    repeated
}

/// How Go tells list items apart: compounds by JSON text (integral floats print as integers),
/// scalars by Go type and value.
fn identity(value: &Value) -> String {
    match value {
        Value::Object(_) | Value::Array(_) => format!("c:{}", go_json(value)),
        Value::Number(n) if n.as_i64().is_some() => format!("i:{n}"),
        Value::Number(n) => format!("f:{}", n.as_f64().unwrap_or(f64::NAN)),
        other => format!("s:{other}"),
    }
}

fn go_json(value: &Value) -> String {
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.as_i64().is_none() && f.fract() == 0.0 && f.abs() < 1e21 => {
                format!("{f:.0}")
            }
            _ => n.to_string(),
        },
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(go_json).collect();
            format!("[{}]", inner.join(","))
        }
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), go_json(v)))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(schema: Value, object: Value) -> Vec<String> {
        let schemas = Schemas::new(None);
        let mut all = validate_embedded(&schemas, &schema, &object, "");
        all.extend(validate_list_types(&schemas, &schema, &object, ""));
        all.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn set_and_map_lists_must_be_unique() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "ports": {"type": "array", "x-kubernetes-list-type": "map",
                      "x-kubernetes-list-map-keys": ["name"],
                      "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
        }}}});
        let object = json!({"spec": {
            "tags": ["a", "b", "a", "a"],
            "ports": [{"name": "http"}, {"name": "http", "port": 1}, {}],
        }});
        assert_eq!(
            run(schema, object),
            [
                r#"spec.ports[1]: Duplicate value: map[string]interface {}{"name":"http"}"#,
                r#"spec.tags[2]: Duplicate value: "a""#,
            ]
        );
    }

    #[test]
    fn map_lists_need_objects() {
        let schema = json!({"type": "object", "properties": {"l": {
            "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k"],
            "items": {"type": "object"}}}});
        assert_eq!(
            run(schema, json!({"l": [{"k": 1}, 5]})),
            ["l[1]: Invalid value: 5: must be an object for an array of list-type map"]
        );
    }

    #[test]
    fn embedded_resources_need_type_meta() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                         "x-kubernetes-preserve-unknown-fields": true},
        }}}});
        assert_eq!(
            run(
                schema.clone(),
                json!({"spec": {"template": {"kind": "Foo_Bar"}}})
            ),
            [
                "spec.template.apiVersion: Required value",
                r#"spec.template.kind: Invalid value: "Foo_Bar": may have mixed case, but should otherwise match: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"#,
            ]
        );
        assert!(
            run(
                schema,
                json!({"spec": {"template": {"apiVersion": "v1", "kind": "Pod"}}})
            )
            .is_empty()
        );
    }
}
