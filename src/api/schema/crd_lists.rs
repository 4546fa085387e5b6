//! The list and map extensions of a CRD schema: `x-kubernetes-map-type` on objects,
//! `x-kubernetes-list-type` on arrays (`atomic`, `set` with atomic items, `map` with
//! `x-kubernetes-list-map-keys` naming scalar, non-nullable, required-or-defaulted item
//! properties).

use serde_json::Value;

use super::crd_schema::{SchemaRules, schema_has};
use super::messages::{go_strings, invalid, invalid_printed, not_supported};
use super::walk::{child, flag, key, present, strings, text};
use crate::api::field_error::FieldError;

fn string(value: &str) -> Value {
    Value::String(value.to_string())
}

/// The map-type and list-type rules of one schema node.
pub fn map_and_list_types(
    s: &Value,
    path: &str,
    rules: &SchemaRules,
    errors: &mut Vec<FieldError>,
) {
    let ty = text(s, "type");
    let map_type = present(s, "x-kubernetes-map-type").map(|m| m.as_str().unwrap_or(""));
    let list_type = present(s, "x-kubernetes-list-type").map(|l| l.as_str().unwrap_or(""));
    let type_is = |errors: &mut Vec<FieldError>, expected: &str, detail: &str| {
        if ty.is_empty() {
            errors.push(FieldError::required(child(path, "type"), detail));
        } else if ty != expected {
            errors.push(invalid(child(path, "type"), &string(ty), detail));
        }
    };
    if let Some(map_type) = map_type {
        type_is(
            errors,
            "object",
            "must be object if x-kubernetes-map-type is specified",
        );
        if map_type != "atomic" && map_type != "granular" {
            let supported = ["atomic".to_string(), "granular".to_string()];
            errors.push(not_supported(
                child(path, "x-kubernetes-map-type"),
                &string(map_type),
                &supported,
            ));
        }
    }
    let items = s.get("items");
    let item_schema = items.filter(|i| i.is_object());
    if let Some(list_type) = list_type {
        if ty != "array" {
            type_is(
                errors,
                "array",
                "must be array if x-kubernetes-list-type is specified",
            );
        } else if rules.require_atomic_set_type
            && list_type == "set"
            && let Some(item) = item_schema
        {
            set_items_atomic(item, path, errors);
        }
        if !["atomic", "set", "map"].contains(&list_type) {
            let supported = ["atomic", "set", "map"].map(String::from);
            errors.push(not_supported(
                child(path, "x-kubernetes-list-type"),
                &string(list_type),
                &supported,
            ));
        }
    }
    let keys = strings(s.get("x-kubernetes-list-map-keys"));
    if !keys.is_empty() {
        let detail = "must be map if x-kubernetes-list-map-keys is non-empty";
        match list_type {
            None => errors.push(FieldError::required(
                child(path, "x-kubernetes-list-type"),
                detail,
            )),
            Some(lt) if lt != "map" => {
                errors.push(invalid(
                    child(path, "x-kubernetes-list-type"),
                    &string(lt),
                    detail,
                ));
            }
            Some(_) => {}
        }
    }
    if list_type != Some("map") {
        return;
    }
    let keys_path = child(path, "x-kubernetes-list-map-keys");
    if keys.is_empty() {
        errors.push(FieldError::required(
            &*keys_path,
            "must not be empty if x-kubernetes-list-type is map",
        ));
    }
    match items {
        None | Some(Value::Null) => errors.push(FieldError::required(
            child(path, "items"),
            "must have a schema if x-kubernetes-list-type is map",
        )),
        Some(list @ Value::Array(_)) => errors.push(invalid(
            child(path, "items"),
            list,
            "must only have a single schema if x-kubernetes-list-type is map",
        )),
        Some(item) => {
            let item_type = text(item, "type");
            let items_path = child(path, "items");
            if item_type != "object" {
                errors.push(invalid(
                    child(&items_path, "type"),
                    &string(item_type),
                    "must be object if parent array's x-kubernetes-list-type is map",
                ));
                return;
            }
            let shown_keys = go_strings(&keys);
            let mut seen: Vec<&str> = Vec::new();
            for k in &keys {
                match item.get("properties").and_then(|p| p.get(*k)) {
                    Some(property) => {
                        let property_type = text(property, "type");
                        if property_type == "array" || property_type == "object" {
                            let at = child(&key(&child(&items_path, "properties"), k), "type");
                            errors.push(invalid(
                                at,
                                &string(item_type),
                                "must be a scalar type if parent array's x-kubernetes-list-type is map",
                            ));
                        }
                    }
                    None => errors.push(invalid_printed(
                        &keys_path,
                        &shown_keys,
                        "entries must all be names of item properties",
                    )),
                }
                if seen.contains(k) {
                    errors.push(invalid_printed(
                        &keys_path,
                        &shown_keys,
                        "must not contain duplicate entries",
                    ));
                }
                seen.push(k);
            }
        }
    }
}

/// Items of a `set` list must be atomic.
fn set_items_atomic(item: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let item_list_type = present(item, "x-kubernetes-list-type");
    let detail = "must be atomic as item of a list with x-kubernetes-list-type=set";
    let items_path = child(path, "items");
    let shown = item_list_type.cloned().unwrap_or(Value::Null);
    match text(item, "type") {
        "array" if item_list_type.is_some_and(|lt| lt.as_str() != Some("atomic")) => {
            errors.push(invalid(
                child(&items_path, "x-kubernetes-list-type"),
                &shown,
                detail,
            ));
        }
        "object" if text(item, "x-kubernetes-map-type") != "atomic" => {
            errors.push(invalid(
                child(&items_path, "x-kubernetes-map-type"),
                &shown,
                detail,
            ));
        }
        _ => {}
    }
}

/// Items of `set`/`map` lists may not be nullable; map keys need a default or `required`.
pub fn map_list_keys_map_set(s: &Value, path: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let Some(item) = s.get("items").filter(|i| i.is_object()) else {
        return errors;
    };
    let list_type = text(s, "x-kubernetes-list-type");
    if list_type != "set" && list_type != "map" {
        return errors;
    }
    let items_path = child(path, "items");
    if flag(item, "nullable") {
        errors.push(FieldError::forbidden(
            child(&items_path, "nullable"),
            &format!("cannot be nullable when x-kubernetes-list-type is {list_type}"),
        ));
    }
    if list_type != "map" {
        return errors;
    }
    let required = strings(item.get("required"));
    for k in strings(s.get("x-kubernetes-list-map-keys")) {
        let Some(property) = item.get("properties").and_then(|p| p.get(k)) else {
            continue;
        };
        let at = key(&child(&items_path, "properties"), k);
        if !required.contains(&k) && present(property, "default").is_none() {
            errors.push(FieldError::required(
                child(&at, "default"),
                "this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",
            ));
        }
        if flag(property, "nullable") {
            errors.push(FieldError::forbidden(
                child(&at, "nullable"),
                "this property is in x-kubernetes-list-map-keys, so it cannot be nullable",
            ));
        }
    }
    errors
}

/// Whether a schema has a `set` list whose items are not atomic.
pub fn has_non_atomic_set_type(s: &Value) -> bool {
    schema_has(s, &|n| {
        let mut errors = Vec::new();
        if text(n, "x-kubernetes-list-type") == "set"
            && let Some(item) = n.get("items").filter(|i| i.is_object())
        {
            set_items_atomic(item, "", &mut errors);
        }
        !errors.is_empty()
    })
}

/// Whether a schema breaks the `set`/`map` item rules somewhere.
pub fn has_invalid_map_list_keys(s: &Value) -> bool {
    schema_has(s, &|n| !map_list_keys_map_set(n, "").is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::schema::crd_schema::validate_validation;
    use serde_json::json;

    fn run(schema: Value) -> Vec<String> {
        let validation = json!({"openAPIV3Schema": schema});
        validate_validation(
            Some(&validation),
            false,
            &SchemaRules::default(),
            "spec.validation",
        )
        .iter()
        .map(ToString::to_string)
        .collect()
    }

    #[test]
    fn list_and_map_extensions() {
        let schema = json!({"type": "object", "properties": {
            "ports": {"type": "array", "x-kubernetes-list-type": "map",
                      "x-kubernetes-list-map-keys": ["name", "missing"],
                      "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
            "tags": {"type": "object", "x-kubernetes-list-type": "set"},
            "m": {"type": "object", "x-kubernetes-map-type": "weird"},
        }});
        assert_eq!(
            run(schema),
            [
                r#"spec.validation.openAPIV3Schema.properties[m].x-kubernetes-map-type: Unsupported value: "weird": supported values: "atomic", "granular""#,
                r#"spec.validation.openAPIV3Schema.properties[ports].x-kubernetes-list-map-keys: Invalid value: []string{"name", "missing"}: entries must all be names of item properties"#,
                "spec.validation.openAPIV3Schema.properties[ports].items.properties[name].default: Required value: this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",
                r#"spec.validation.openAPIV3Schema.properties[tags].type: Invalid value: "object": must be array if x-kubernetes-list-type is specified"#,
            ]
        );
    }
}
