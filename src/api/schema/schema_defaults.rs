//! The `default` values of a CRD schema (upstream's `ValidateDefaults`): each must already be
//! pruned (no field its schema would drop) and valid against its own schema, including the
//! `apiVersion`/`kind` of embedded resources. Defaults under `additionalProperties` are not
//! checked, as upstream does not check them.

use serde_json::{Map, Value};

use super::crd_schema::{is_non_structural, schema_has};
use super::lists;
use super::messages::invalid;
use super::prune::prune_value;
use super::validate::validate_at;
use super::walk::{META_FIELDS, Schemas, child, flag, key, present};
use crate::api::field_error::FieldError;

/// Upstream's `ValidateDefaults`: each `default` (under `properties` and `items`) is pruned
/// already and valid against its own schema.
pub fn validate_defaults(schema: &Value, path: &str, require_pruned: bool) -> Vec<FieldError> {
    let mut errors = Vec::new();
    defaults_walk(schema, path, true, false, require_pruned, &mut errors);
    errors
}

fn defaults_walk(
    s: &Value,
    path: &str,
    is_root: bool,
    inside_meta: bool,
    require_pruned: bool,
    errors: &mut Vec<FieldError>,
) {
    let schemas = Schemas::new(None);
    let embedded = is_root || flag(s, "x-kubernetes-embedded-resource");
    let inside_meta = inside_meta && !embedded;
    if let Some(default) = present(s, "default") {
        let at = child(path, "default");
        if inside_meta {
            errors.extend(validate_at(&schemas, s, default, &at));
        } else {
            if require_pruned {
                let mut pruned = default.clone();
                prune_value(&schemas, &mut pruned, s, embedded);
                if &pruned != default {
                    errors.push(invalid(&*at, default, "must not have unknown fields"));
                }
            }
            let meta = lists::validate_embedded(&schemas, s, default, &at);
            if meta.is_empty() {
                errors.extend(validate_at(&schemas, s, default, &at));
            } else {
                errors.extend(meta);
            }
        }
    }
    if let Some(items) = s.get("items").filter(|i| i.is_object()) {
        defaults_walk(
            items,
            &child(path, "items"),
            false,
            inside_meta,
            require_pruned,
            errors,
        );
    }
    let properties: Option<&Map<String, Value>> = s.get("properties").and_then(Value::as_object);
    for (name, property) in properties.into_iter().flatten() {
        let sub_meta = inside_meta || (embedded && META_FIELDS.contains(&name.as_str()));
        let at = key(&child(path, "properties"), name);
        defaults_walk(property, &at, false, sub_meta, require_pruned, errors);
    }
}

/// Whether a schema has a `default` anywhere.
pub fn has_defaults(s: &Value) -> bool {
    schema_has(s, &|n| present(n, "default").is_some())
}

/// Whether some default would change if pruned (only for structural schemas).
pub fn has_unpruned_defaults(s: &Value) -> bool {
    if !has_defaults(s) || is_non_structural(s) {
        return false;
    }
    validate_defaults(s, "", true)
        .iter()
        .any(|e| e.message.ends_with("must not have unknown fields"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::schema::crd_schema::{SchemaRules, validate_validation};
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
    fn defaults_must_be_pruned_and_valid() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "replicas": {"type": "integer", "default": "one"},
            "opts": {"type": "object", "default": {"known": 1, "extra": 2},
                     "properties": {"known": {"type": "integer"}}},
        }}}});
        assert_eq!(
            run(schema),
            [
                r#"spec.validation.openAPIV3Schema.properties[spec].properties[opts].default: Invalid value: map[string]interface {}{"extra":2, "known":1}: must not have unknown fields"#,
                r#"spec.validation.openAPIV3Schema.properties[spec].properties[replicas].default: Invalid value: "string":  in body must be of type integer: "string""#,
            ]
        );
    }

    #[test]
    fn finds_unpruned_defaults() {
        let schema = json!({"type": "object", "properties": {"a": {"type": "object",
            "default": {"x": 1}, "properties": {"y": {"type": "integer"}}}}});
        assert!(has_defaults(&schema));
        assert!(has_unpruned_defaults(&schema));
        assert!(!has_unpruned_defaults(&json!({"type": "object"})));
    }
}
