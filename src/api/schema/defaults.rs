//! Defaulting: filling `default` values from the schema into a custom resource, as the API
//! server does after pruning when it decodes a request or reads from storage.
//!
//! A default is applied where the field is absent, or `null` while the field is not
//! `nullable`; it is applied to the parent first, so the defaults of a freshly defaulted object
//! (`spec: {default: {}}`) are filled in too. Array items and `additionalProperties` values that
//! are `null` take their schema's default. Each default is pruned against its own schema before
//! it is used, as upstream prunes defaults when it builds a CRD's schema.

use serde_json::Value;

use super::Resolver;
use super::prune::prune_value;
use super::walk::{Additional, Schemas};

/// Applies `default` values from the schema (after pruning the defaults themselves; only
/// where the field is absent, or `null` and not nullable).
///
/// Meant for custom resources: built-in schemas carry `default`s (`{}` on most references)
/// that the API server does not apply this way.
pub fn apply_defaults(schema: &Value, object: &mut Value, resolve: Option<Resolver<'_>>) {
    let schemas = Schemas::new(resolve);
    default_value(&schemas, object, schema);
}

fn default_value(schemas: &Schemas<'_>, value: &mut Value, node: &Value) {
    match value {
        Value::Object(map) => {
            if let Some(properties) = schemas.properties(node) {
                for (name, property) in properties {
                    let Some(default) = schemas.default(property) else {
                        continue;
                    };
                    let missing = match map.get(name) {
                        None => true,
                        Some(current) => current.is_null() && !schemas.nullable(property),
                    };
                    if missing {
                        map.insert(name.clone(), pruned(schemas, default, property));
                    }
                }
            }
            let additional = match schemas.additional(node) {
                Additional::Schema(schema) => Some(schema),
                _ => None,
            };
            for (key, child) in map.iter_mut() {
                if let Some(property) = schemas.property(node, key) {
                    default_value(schemas, child, property);
                } else if let Some(additional) = additional {
                    fill_null(schemas, child, additional);
                    default_value(schemas, child, additional);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schemas.items(node) {
                for item in items.iter_mut() {
                    fill_null(schemas, item, item_schema);
                    default_value(schemas, item, item_schema);
                }
            }
        }
        _ => {}
    }
}

/// A `null` that the schema does not allow takes the schema's default, if it has one.
fn fill_null(schemas: &Schemas<'_>, value: &mut Value, node: &Value) {
    if value.is_null()
        && !schemas.nullable(node)
        && let Some(default) = schemas.default(node)
    {
        *value = pruned(schemas, default, node);
    }
}

/// A copy of a default, pruned against the schema it belongs to.
fn pruned(schemas: &Schemas<'_>, default: &Value, node: &Value) -> Value {
    let mut value = default.clone();
    prune_value(schemas, &mut value, node, false);
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn defaulted(schema: &Value, mut object: Value) -> Value {
        apply_defaults(schema, &mut object, None);
        object
    }

    #[test]
    fn fills_absent_fields_and_non_nullable_nulls() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "replicas": {"type": "integer", "default": 1},
            "mode": {"type": "string", "default": "fast"},
            "note": {"type": "string", "nullable": true, "default": "n"},
        }}}});
        assert_eq!(
            defaulted(&schema, json!({"spec": {"mode": null, "note": null}})),
            json!({"spec": {"replicas": 1, "mode": "fast", "note": null}})
        );
        assert_eq!(
            defaulted(&schema, json!({"spec": {"replicas": 3}})),
            json!({"spec": {"replicas": 3, "mode": "fast", "note": "n"}})
        );
        // No `spec`, no default for it: nothing is created.
        assert_eq!(defaulted(&schema, json!({})), json!({}));
    }

    #[test]
    fn defaults_absent_objects_then_their_fields() {
        let schema = json!({"type": "object", "properties": {"spec": {
            "type": "object", "default": {},
            "properties": {
                "replicas": {"type": "integer", "default": 1},
                "strategy": {"type": "object", "default": {"kind": "Recreate", "junk": 1},
                             "properties": {"kind": {"type": "string"},
                                            "maxSurge": {"type": "integer", "default": 25}}},
            },
        }}});
        assert_eq!(
            defaulted(&schema, json!({})),
            json!({"spec": {"replicas": 1, "strategy": {"kind": "Recreate", "maxSurge": 25}}})
        );
    }

    #[test]
    fn defaults_inside_array_items_and_maps() {
        let schema = json!({"type": "object", "properties": {
            "ports": {"type": "array", "items": {"type": "object", "default": {"port": 80},
                "properties": {"port": {"type": "integer"},
                               "protocol": {"type": "string", "default": "TCP"}}}},
            "limits": {"type": "object", "additionalProperties": {"type": "string", "default": "1"}},
        }});
        assert_eq!(
            defaulted(
                &schema,
                json!({"ports": [{"port": 53}, null], "limits": {"cpu": null, "mem": "2"}})
            ),
            json!({
                "ports": [{"port": 53, "protocol": "TCP"}, {"port": 80, "protocol": "TCP"}],
                "limits": {"cpu": "1", "mem": "2"},
            })
        );
    }

    #[test]
    fn defaults_under_preserved_fields_are_still_applied() {
        let schema = json!({"type": "object", "properties": {"spec": {
            "type": "object", "x-kubernetes-preserve-unknown-fields": true,
            "properties": {"level": {"type": "string", "default": "info"}},
        }}});
        assert_eq!(
            defaulted(&schema, json!({"spec": {"free": {"x": 1}}})),
            json!({"spec": {"free": {"x": 1}, "level": "info"}})
        );
    }
}
