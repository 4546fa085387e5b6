//! The structural-schema rules a CRD's `openAPIV3Schema` must meet (upstream's
//! `ValidateStructural`): a `type` on every specified node, value validations (`allOf`,
//! `anyOf`, `oneOf`, `not`) that only restrict what the structure already declares and carry
//! no structure of their own, `metadata` restricted to `name`/`generateName` at the root,
//! consistent `x-kubernetes-*` extensions, and patterns that compile.
//!
//! Errors come sorted by their text, as upstream sorts them.

use serde_json::Value;

use super::messages::invalid;
use super::pattern;
use super::walk::{child, flag, is_zero, key, text};
use crate::api::field_error::FieldError;

/// Where a node sits: the root, array items, or an object field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    Root,
    Item,
    Field,
}

fn members<'a>(node: &'a Value, name: &str) -> &'a [Value] {
    node.get(name)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Why upstream cannot even read the schema as structural (`NewStructural` fails), if so.
pub fn unreadable(schema: &Value) -> Option<String> {
    let Value::Object(map) = schema else {
        return None;
    };
    let unsupported = [
        ("id", "id"),
        ("$schema", "schema"),
        ("$ref", "$ref"),
        ("patternProperties", "patternProperties"),
        ("dependencies", "dependencies"),
        ("additionalItems", "additionalItems"),
        ("definitions", "definitions"),
    ];
    for (field, name) in unsupported {
        if !is_zero(map.get(field)) {
            return Some(format!("OpenAPIV3Schema '{name}' is not supported"));
        }
    }
    if map.get("items").is_some_and(Value::is_array) {
        return Some("OpenAPIV3Schema 'items' must be a schema, but is an array".to_string());
    }
    if matches!(
        map.get("x-kubernetes-preserve-unknown-fields"),
        Some(Value::Bool(false))
    ) {
        return Some(
            "internal error: 'x-kubernetes-preserve-unknown-fields' must be true or undefined"
                .to_string(),
        );
    }
    let mut children: Vec<&Value> = Vec::new();
    children.extend(map.get("items").filter(|v| v.is_object()));
    children.extend(map.get("not"));
    children.extend(map.get("additionalProperties").filter(|v| v.is_object()));
    if let Some(Value::Object(props)) = map.get("properties") {
        children.extend(props.values());
    }
    for junctor in ["allOf", "anyOf", "oneOf"] {
        children.extend(members(schema, junctor));
    }
    children.into_iter().find_map(unreadable)
}

/// The structural rules for a schema at `path` (`spec.validation.openAPIV3Schema`), sorted.
pub fn validate_structural(schema: &Value, path: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    invariants(schema, Level::Root, path, &mut errors);
    value_completeness(schema, Some(schema), path, path, &mut errors);
    errors.sort_by_key(ToString::to_string);
    errors
}

fn invariants(s: &Value, level: Level, path: &str, errors: &mut Vec<FieldError>) {
    let ty = text(s, "type");
    let items = s.get("items").filter(|v| v.is_object());
    if ty == "array" && items.is_none() {
        errors.push(FieldError::required(
            child(path, "items"),
            "must be specified",
        ));
    }
    if let Some(items) = items {
        invariants(items, Level::Item, &child(path, "items"), errors);
    }
    let properties = s.get("properties").and_then(Value::as_object);
    for (name, property) in properties.into_iter().flatten() {
        invariants(
            property,
            Level::Field,
            &key(&child(path, "properties"), name),
            errors,
        );
    }
    let additional = s
        .get("additionalProperties")
        .filter(|v| v.is_object() || v.is_boolean());
    if let Some(additional) = additional {
        if level == Level::Root {
            let field = child(path, "additionalProperties");
            errors.push(FieldError::forbidden(field, "must not be used at the root"));
        }
        if additional.is_object() {
            invariants(
                additional,
                Level::Field,
                &child(path, "additionalProperties"),
                errors,
            );
        }
    }
    let int_or_string = flag(s, "x-kubernetes-int-or-string");
    let preserve = flag(s, "x-kubernetes-preserve-unknown-fields");
    let embedded = flag(s, "x-kubernetes-embedded-resource");
    if int_or_string && preserve {
        errors.push(invalid(
            child(path, "x-kubernetes-preserve-unknown-fields"),
            &Value::Bool(true),
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    if int_or_string && embedded {
        errors.push(invalid(
            child(path, "x-kubernetes-embedded-resource"),
            &Value::Bool(true),
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    let skip_any_of = is_int_or_string_any_of(members(s, "anyOf"));
    let skip_first_all_of = members(s, "allOf")
        .first()
        .is_some_and(|first| is_int_or_string_any_of(members(first, "anyOf")));
    value_validation(s, skip_any_of, skip_first_all_of, level, path, errors);

    let shown_type = Value::String(ty.to_string());
    if embedded && ty != "object" {
        let detail = "must be object if x-kubernetes-embedded-resource is true";
        if ty.is_empty() {
            errors.push(FieldError::required(child(path, "type"), detail));
        } else {
            errors.push(invalid(child(path, "type"), &shown_type, detail));
        }
    } else if ty.is_empty() && !int_or_string && !preserve {
        let detail = match level {
            Level::Root => "must not be empty at the root",
            Level::Item => "must not be empty for specified array items",
            Level::Field => "must not be empty for specified object fields",
        };
        errors.push(FieldError::required(child(path, "type"), detail));
    }
    if embedded && additional.is_some() {
        errors.push(FieldError::forbidden(
            child(path, "additionalProperties"),
            "must not be used if x-kubernetes-embedded-resource is set",
        ));
    }
    if level == Level::Root && !ty.is_empty() && ty != "object" {
        errors.push(invalid(
            child(path, "type"),
            &shown_type,
            "must be object at the root",
        ));
    }
    let check_metadata = level == Level::Root || embedded;
    if check_metadata {
        for meta in ["kind", "apiVersion"] {
            if let Some(field) = properties.and_then(|p| p.get(meta)) {
                let field_type = text(field, "type");
                if field_type != "string" {
                    let at = child(&key(&child(path, "properties"), meta), "type");
                    errors.push(invalid(
                        at,
                        &Value::String(field_type.into()),
                        "must be string",
                    ));
                }
            }
        }
    }
    if let Some(metadata) = properties.and_then(|p| p.get("metadata")) {
        let at = key(&child(path, "properties"), "metadata");
        metadata_invariants(metadata, check_metadata, level, &at, errors);
    }
    if embedded && !preserve && properties.is_none_or(|p| p.is_empty()) {
        errors.push(FieldError::required(
            child(path, "properties"),
            "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
        ));
    }
}

fn metadata_invariants(
    s: &Value,
    check_metadata: bool,
    level: Level,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    let ty = text(s, "type");
    if check_metadata && ty != "object" {
        errors.push(invalid(
            child(path, "type"),
            &Value::String(ty.into()),
            "must be object",
        ));
    }
    if level != Level::Root {
        return;
    }
    let Value::Object(map) = s else {
        return;
    };
    let only_names = |props: &serde_json::Map<String, Value>| {
        !props.is_empty() && props.keys().all(|k| k == "name" || k == "generateName")
    };
    let restricted = map.iter().any(|(name, value)| match name.as_str() {
        "type" | "default" => false,
        "properties" => value
            .as_object()
            .is_some_and(|props| !props.is_empty() && !only_names(props)),
        _ => !is_zero(Some(value)),
    });
    if restricted {
        errors.push(FieldError::forbidden(
            path,
            "must not specify anything other than name and generateName, but metadata is implicitly specified",
        ));
    }
}

/// `anyOf: [{type: integer}, {type: string}]` with nothing else in the two members.
fn is_int_or_string_any_of(any_of: &[Value]) -> bool {
    let only_type = |member: &Value, expected: &str| {
        member.as_object().is_some_and(|map| {
            map.get("type").and_then(Value::as_str) == Some(expected)
                && map.iter().all(|(k, v)| k == "type" || is_zero(Some(v)))
        })
    };
    any_of.len() == 2 && only_type(&any_of[0], "integer") && only_type(&any_of[1], "string")
}

fn value_validation(
    v: &Value,
    skip_any_of: bool,
    skip_first_all_of_any_of: bool,
    level: Level,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    if !skip_any_of {
        for (i, member) in members(v, "anyOf").iter().enumerate() {
            let at = format!("{}[{i}]", child(path, "anyOf"));
            nested(member, false, false, level, &at, errors);
        }
    }
    for (i, member) in members(v, "allOf").iter().enumerate() {
        let at = format!("{}[{i}]", child(path, "allOf"));
        nested(
            member,
            skip_first_all_of_any_of && i == 0,
            false,
            level,
            &at,
            errors,
        );
    }
    for (i, member) in members(v, "oneOf").iter().enumerate() {
        let at = format!("{}[{i}]", child(path, "oneOf"));
        nested(member, false, false, level, &at, errors);
    }
    if let Some(not) = v.get("not").filter(|n| n.is_object()) {
        nested(not, false, false, level, &child(path, "not"), errors);
    }
    let pattern_text = text(v, "pattern");
    if !pattern_text.is_empty()
        && let Err(err) = pattern::compile(pattern_text)
    {
        errors.push(invalid(
            child(path, "pattern"),
            &Value::String(pattern_text.into()),
            &format!("must be a valid regular expression, but isn't: {err}"),
        ));
    }
}

/// A member of `allOf`/`anyOf`/`oneOf`/`not`: value validations only.
fn nested(
    v: &Value,
    skip_any_of: bool,
    skip_all_of_any_of: bool,
    level: Level,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    value_validation(v, skip_any_of, skip_all_of_any_of, level, path, errors);
    if let Some(items) = v.get("items").filter(|i| i.is_object()) {
        nested(items, false, false, level, &child(path, "items"), errors);
    }
    let properties = v.get("properties").and_then(Value::as_object);
    for (name, property) in properties.into_iter().flatten() {
        let at = key(&child(path, "properties"), name);
        nested(property, false, false, Level::Field, &at, errors);
    }
    let forbid = |errors: &mut Vec<FieldError>, name: &str, detail: &str| {
        errors.push(FieldError::forbidden(child(path, name), detail));
    };
    if !text(v, "type").is_empty() {
        forbid(errors, "type", "must be empty to be structural");
    }
    if matches!(
        v.get("additionalProperties"),
        Some(Value::Bool(true) | Value::Object(_))
    ) {
        forbid(
            errors,
            "additionalProperties",
            "must be undefined to be structural",
        );
    }
    if v.get("default").is_some_and(|d| !d.is_null()) {
        forbid(errors, "default", "must be undefined to be structural");
    }
    for generic in ["title", "description"] {
        if !text(v, generic).is_empty() {
            forbid(errors, generic, "must be empty to be structural");
        }
    }
    if flag(v, "nullable") {
        forbid(errors, "nullable", "must be false to be structural");
    }
    for extension in [
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-embedded-resource",
        "x-kubernetes-int-or-string",
    ] {
        if flag(v, extension) {
            forbid(errors, extension, "must be false to be structural");
        }
    }
    if !members(v, "x-kubernetes-list-map-keys").is_empty() {
        forbid(
            errors,
            "x-kubernetes-list-map-keys",
            "must be empty to be structural",
        );
    }
    for extension in ["x-kubernetes-list-type", "x-kubernetes-map-type"] {
        if v.get(extension).is_some_and(|x| !x.is_null()) {
            forbid(errors, extension, "must be undefined to be structural");
        }
    }
    if !members(v, "x-kubernetes-validations").is_empty() {
        forbid(
            errors,
            "x-kubernetes-validations",
            "must be empty to be structural",
        );
    }
    if properties.is_some_and(|p| p.contains_key("metadata")) {
        errors.push(FieldError::forbidden(
            key(&child(path, "properties"), "metadata"),
            "must not be specified in a nested context",
        ));
    }
}

/// Every field a root-level value validation names must exist in the structure.
fn value_completeness(
    v: &Value,
    s: Option<&Value>,
    s_path: &str,
    v_path: &str,
    errors: &mut Vec<FieldError>,
) {
    let Some(s) = s else {
        errors.push(FieldError::required(
            s_path,
            &format!("because it is defined in {v_path}"),
        ));
        return;
    };
    if let Some(not) = v.get("not").filter(|n| n.is_object()) {
        nested_completeness(not, Some(s), s_path, &child(v_path, "not"), errors);
    }
    for junctor in ["allOf", "anyOf", "oneOf"] {
        for (i, member) in members(v, junctor).iter().enumerate() {
            let at = format!("{}[{i}]", child(v_path, junctor));
            nested_completeness(member, Some(s), s_path, &at, errors);
        }
    }
}

fn nested_completeness(
    v: &Value,
    s: Option<&Value>,
    s_path: &str,
    v_path: &str,
    errors: &mut Vec<FieldError>,
) {
    let Some(s) = s else {
        errors.push(FieldError::required(
            s_path,
            &format!("because it is defined in {v_path}"),
        ));
        return;
    };
    value_completeness(v, Some(s), s_path, v_path, errors);
    if let Some(items) = v.get("items").filter(|i| i.is_object()) {
        let s_items = s.get("items").filter(|i| i.is_object());
        let (sp, vp) = (child(s_path, "items"), child(v_path, "items"));
        nested_completeness(items, s_items, &sp, &vp, errors);
    }
    let properties = v.get("properties").and_then(Value::as_object);
    for (name, property) in properties.into_iter().flatten() {
        let sp = key(&child(s_path, "properties"), name);
        let vp = key(&child(v_path, "properties"), name);
        match s.get("properties").and_then(|p| p.get(name)) {
            Some(structural) => nested_completeness(property, Some(structural), &sp, &vp, errors),
            None => errors.push(FieldError::required(
                sp,
                &format!("because it is defined in {vp}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ROOT: &str = "spec.validation.openAPIV3Schema";

    fn run(schema: Value) -> Vec<String> {
        validate_structural(&schema, ROOT)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn accepts_a_structural_schema() {
        let schema = json!({"type": "object", "properties": {
            "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 20}}},
            "spec": {"type": "object", "properties": {
                "port": {"x-kubernetes-int-or-string": true,
                         "anyOf": [{"type": "integer"}, {"type": "string"}]},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "list": {"type": "array", "items": {"type": "string"}},
            }, "anyOf": [{"required": ["port"]}, {"required": ["free"]}]},
        }});
        assert!(run(schema).is_empty());
    }

    #[test]
    fn rejects_missing_types_and_nested_structure() {
        let schema = json!({"properties": {
            "spec": {"properties": {"a": {"type": "string"}}},
            "list": {"type": "array"},
            "status": {"type": "object", "anyOf": [{"type": "string", "description": "d",
                "properties": {"metadata": {}}}]},
        }, "additionalProperties": {"type": "string"}});
        assert_eq!(
            run(schema),
            [
                "spec.validation.openAPIV3Schema.additionalProperties: Forbidden: must not be used at the root",
                "spec.validation.openAPIV3Schema.properties[list].items: Required value: must be specified",
                "spec.validation.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields",
                "spec.validation.openAPIV3Schema.properties[status].anyOf[0].description: Forbidden: must be empty to be structural",
                "spec.validation.openAPIV3Schema.properties[status].anyOf[0].properties[metadata]: Forbidden: must not be specified in a nested context",
                "spec.validation.openAPIV3Schema.properties[status].anyOf[0].type: Forbidden: must be empty to be structural",
                "spec.validation.openAPIV3Schema.type: Required value: must not be empty at the root",
            ]
        );
    }

    #[test]
    fn metadata_and_embedded_rules() {
        let schema = json!({"type": "object", "properties": {
            "metadata": {"type": "object", "properties": {"labels": {"type": "object"}}},
            "kind": {"type": "integer"},
            "inner": {"x-kubernetes-embedded-resource": true},
        }});
        assert_eq!(
            run(schema),
            [
                "spec.validation.openAPIV3Schema.properties[inner].properties: Required value: must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
                "spec.validation.openAPIV3Schema.properties[inner].type: Required value: must be object if x-kubernetes-embedded-resource is true",
                r#"spec.validation.openAPIV3Schema.properties[kind].type: Invalid value: "integer": must be string"#,
                "spec.validation.openAPIV3Schema.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified",
            ]
        );
    }

    #[test]
    fn value_validations_must_be_complete_and_patterns_valid() {
        let schema = json!({"type": "object", "properties": {"a": {"type": "string", "pattern": "(unclosed"}},
            "anyOf": [{"properties": {"b": {"minLength": 1}}}]});
        let found = run(schema);
        assert_eq!(found.len(), 2);
        assert!(found[0].starts_with(
            r#"spec.validation.openAPIV3Schema.properties[a].pattern: Invalid value: "(unclosed": must be a valid regular expression, but isn't: error parsing regexp: "#
        ));
        assert_eq!(
            found[1],
            "spec.validation.openAPIV3Schema.properties[b]: Required value: because it is defined in spec.validation.openAPIV3Schema.anyOf[0].properties[b]"
        );
        assert_eq!(
            unreadable(&json!({"type": "object", "properties": {"a": {"$ref": "#/x"}}})),
            Some("OpenAPIV3Schema '$ref' is not supported".to_string())
        );
    }
}
