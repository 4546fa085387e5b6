//! Validation of one CRD schema (`…schema.openAPIV3Schema`) as part of a CRD: the keywords a
//! CRD may not use, the root restrictions when the status subresource is on, the structural
//! rules, `default` values (none in top-level metadata; see [`schema_defaults`](super::schema_defaults)),
//! the list and map extensions ([`crd_lists`](super::crd_lists)), and the static shape of
//! `x-kubernetes-validations` rules.
//!
//! CEL rules are neither compiled nor costed: kedge has no CEL engine.

use serde_json::Value;

use super::crd_lists::{map_and_list_types, map_list_keys_map_set};
use super::messages::{invalid, not_supported};
use super::schema_defaults::validate_defaults;
use super::structural::{unreadable, validate_structural};
use super::walk::{META_FIELDS, Schemas, child, flag, key, present, strings, text};
use crate::api::field_error::FieldError;

const OPENAPI_TYPES: [&str; 6] = ["array", "boolean", "integer", "number", "object", "string"];

/// Root keywords allowed with the status subresource, by upstream's Go field names.
const ALLOWED_AT_ROOT: &str = "[Description Type Format Title Maximum ExclusiveMaximum Minimum ExclusiveMinimum MaxLength MinLength Pattern MaxItems MinItems UniqueItems MultipleOf Required Items Properties ExternalDocs Example XPreserveUnknownFields XValidations]";

/// Root keywords in upstream's struct order, with whether the status subresource allows them.
const ROOT_FIELDS: [(&str, bool); 44] = [
    ("id", false),
    ("$schema", false),
    ("$ref", false),
    ("description", true),
    ("type", true),
    ("nullable", false),
    ("format", true),
    ("title", true),
    ("default", false),
    ("maximum", true),
    ("exclusiveMaximum", true),
    ("minimum", true),
    ("exclusiveMinimum", true),
    ("maxLength", true),
    ("minLength", true),
    ("pattern", true),
    ("maxItems", true),
    ("minItems", true),
    ("uniqueItems", true),
    ("multipleOf", true),
    ("enum", false),
    ("maxProperties", false),
    ("minProperties", false),
    ("required", true),
    ("items", true),
    ("allOf", false),
    ("oneOf", false),
    ("anyOf", false),
    ("not", false),
    ("properties", true),
    ("additionalProperties", false),
    ("patternProperties", false),
    ("dependencies", false),
    ("additionalItems", false),
    ("definitions", false),
    ("externalDocs", true),
    ("example", true),
    ("x-kubernetes-preserve-unknown-fields", true),
    ("x-kubernetes-embedded-resource", false),
    ("x-kubernetes-int-or-string", false),
    ("x-kubernetes-list-map-keys", false),
    ("x-kubernetes-list-type", false),
    ("x-kubernetes-map-type", false),
    ("x-kubernetes-validations", true),
];

const VALIDATION_REASONS: [&str; 4] = [
    "FieldValueDuplicate",
    "FieldValueForbidden",
    "FieldValueInvalid",
    "FieldValueRequired",
];

/// Which rules apply; on update, a rule the old CRD already broke is not enforced.
#[derive(Clone, Copy, Debug)]
pub struct SchemaRules {
    pub require_valid_property_type: bool,
    pub require_structural: bool,
    pub require_pruned_defaults: bool,
    pub require_atomic_set_type: bool,
    pub require_map_list_keys_map_set: bool,
}

impl Default for SchemaRules {
    fn default() -> Self {
        SchemaRules {
            require_valid_property_type: true,
            require_structural: true,
            require_pruned_defaults: true,
            require_atomic_set_type: true,
            require_map_list_keys_map_set: true,
        }
    }
}

fn string(value: &str) -> Value {
    Value::String(value.to_string())
}

/// Validates `validation` (`{"openAPIV3Schema": …}`) found at `path`.
pub fn validate_validation(
    validation: Option<&Value>,
    status_enabled: bool,
    rules: &SchemaRules,
    path: &str,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let Some(schema) = validation.and_then(|v| present(v, "openAPIV3Schema")) else {
        return errors;
    };
    let schema_path = child(path, "openAPIV3Schema");
    if status_enabled {
        root_with_status(schema, &schema_path, &mut errors);
    }
    if flag(schema, "nullable") {
        errors.push(FieldError::forbidden(
            child(&schema_path, "nullable"),
            "nullable cannot be true at the root",
        ));
    }
    let mut unreadable_errors = Vec::new();
    if rules.require_structural {
        if let Some(reason) = unreadable(schema) {
            unreadable_errors.push(invalid(&*schema_path, &string(""), &reason));
        } else {
            let structural = validate_structural(schema, &schema_path);
            if structural.is_empty() {
                errors.extend(validate_defaults(
                    schema,
                    &schema_path,
                    rules.require_pruned_defaults,
                ));
            } else {
                errors.extend(structural);
            }
        }
    }
    let context = Context {
        allow_defaults: true,
        disallow_reason: String::new(),
        inside_meta: false,
    };
    openapi_schema(schema, &schema_path, &context, true, rules, &mut errors);
    if errors.is_empty() {
        errors.extend(unreadable_errors);
    }
    errors
}

fn root_with_status(schema: &Value, path: &str, errors: &mut Vec<FieldError>) {
    for (name, allowed) in ROOT_FIELDS {
        let set = match schema.get(name) {
            None | Some(Value::Null) | Some(Value::Bool(false)) => false,
            Some(Value::String(s)) => !s.is_empty(),
            Some(_) => true,
        };
        if !set {
            continue;
        }
        if name == "type" {
            let ty = text(schema, "type");
            if ty != "object" {
                errors.push(invalid(
                    child(path, "type"),
                    &string(ty),
                    r#"only "object" is allowed as the type at the root of the schema if the status subresource is enabled"#,
                ));
                return;
            }
            continue;
        }
        if !allowed {
            let detail = format!(
                "only {ALLOWED_AT_ROOT} fields are allowed at the root of the schema if the status subresource is enabled"
            );
            errors.push(invalid(path, schema, &detail));
            return;
        }
    }
}

/// What the walk knows about where it is (upstream's `specStandardValidatorV3`).
#[derive(Clone, Debug)]
struct Context {
    allow_defaults: bool,
    disallow_reason: String,
    inside_meta: bool,
}

impl Context {
    fn forbid_defaults(&self, reason: &str) -> Context {
        Context {
            allow_defaults: false,
            disallow_reason: reason.to_string(),
            inside_meta: self.inside_meta,
        }
    }
}

fn openapi_schema(
    s: &Value,
    path: &str,
    ctx: &Context,
    is_root: bool,
    rules: &SchemaRules,
    errors: &mut Vec<FieldError>,
) {
    standard_keywords(s, path, ctx, rules, errors);
    if flag(s, "uniqueItems") {
        errors.push(FieldError::forbidden(
            child(path, "uniqueItems"),
            "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
        ));
    }
    let properties = s.get("properties").and_then(Value::as_object);
    if let Some(additional) = s
        .get("additionalProperties")
        .filter(|a| a.is_object() || a.is_boolean())
    {
        let has_properties = properties.is_some_and(|p| !p.is_empty());
        if has_properties && (additional.is_object() || additional == &Value::Bool(false)) {
            errors.push(FieldError::forbidden(
                child(path, "additionalProperties"),
                "additionalProperties and properties are mutual exclusive",
            ));
        }
        if additional.is_object() {
            let sub = if ctx.inside_meta {
                ctx.forbid_defaults("inside additionalProperties applying to object metadata")
            } else {
                ctx.clone()
            };
            let at = child(path, "additionalProperties");
            openapi_schema(additional, &at, &sub, false, rules, errors);
        }
    }
    for (name, property) in properties.into_iter().flatten() {
        let mut sub = ctx.clone();
        if (is_root || flag(s, "x-kubernetes-embedded-resource"))
            && META_FIELDS.contains(&name.as_str())
        {
            sub.inside_meta = true;
            if is_root {
                sub = sub.forbid_defaults(&format!("in top-level {name}"));
            }
        }
        let at = key(&child(path, "properties"), name);
        openapi_schema(property, &at, &sub, false, rules, errors);
    }
    if let Some(not) = s.get("not").filter(|n| n.is_object()) {
        openapi_schema(not, &child(path, "not"), ctx, false, rules, errors);
    }
    for junctor in ["allOf", "oneOf", "anyOf"] {
        let members = s.get(junctor).and_then(Value::as_array);
        for (i, member) in members.into_iter().flatten().enumerate() {
            let at = format!("{}[{i}]", child(path, junctor));
            openapi_schema(member, &at, ctx, false, rules, errors);
        }
    }
    let definitions = s.get("definitions").and_then(Value::as_object);
    for (name, definition) in definitions.into_iter().flatten() {
        let at = key(&child(path, "definitions"), name);
        openapi_schema(definition, &at, ctx, false, rules, errors);
    }
    match s.get("items") {
        Some(items @ Value::Object(_)) => {
            openapi_schema(items, &child(path, "items"), ctx, false, rules, errors);
        }
        Some(Value::Array(list)) => {
            for (i, items) in list.iter().enumerate() {
                let at = format!("{}[{i}]", child(path, "items"));
                openapi_schema(items, &at, ctx, false, rules, errors);
            }
        }
        _ => {}
    }
    let dependencies = s.get("dependencies").and_then(Value::as_object);
    for (name, dependency) in dependencies.into_iter().flatten() {
        if dependency.is_object() {
            let at = key(&child(path, "dependencies"), name);
            openapi_schema(dependency, &at, ctx, false, rules, errors);
        }
    }
    if s.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(false)) {
        errors.push(invalid(
            child(path, "x-kubernetes-preserve-unknown-fields"),
            &Value::Bool(false),
            "must be true or undefined",
        ));
    }
    map_and_list_types(s, path, rules, errors);
    if rules.require_map_list_keys_map_set {
        errors.extend(map_list_keys_map_set(s, path));
    }
    validation_rules(s, path, errors);
}

/// Upstream's `specStandardValidatorV3.validate`: keywords a CRD schema may not use.
fn standard_keywords(
    s: &Value,
    path: &str,
    ctx: &Context,
    rules: &SchemaRules,
    errors: &mut Vec<FieldError>,
) {
    let ty = text(s, "type");
    if rules.require_valid_property_type && !ty.is_empty() && !OPENAPI_TYPES.contains(&ty) {
        let supported: Vec<String> = OPENAPI_TYPES.iter().map(|t| t.to_string()).collect();
        errors.push(not_supported(child(path, "type"), &string(ty), &supported));
    }
    if present(s, "default").is_some() && !ctx.allow_defaults {
        let mut detail = "must not be set".to_string();
        if !ctx.disallow_reason.is_empty() {
            detail = format!("{detail} {}", ctx.disallow_reason);
        }
        errors.push(FieldError::forbidden(child(path, "default"), &detail));
    }
    let forbid = |errors: &mut Vec<FieldError>, name: &str, detail: &str| {
        errors.push(FieldError::forbidden(child(path, name), detail));
    };
    if !text(s, "id").is_empty() {
        forbid(errors, "id", "id is not supported");
    }
    if present(s, "additionalItems").is_some() {
        forbid(
            errors,
            "additionalItems",
            "additionalItems is not supported",
        );
    }
    if s.get("patternProperties")
        .and_then(Value::as_object)
        .is_some_and(|p| !p.is_empty())
    {
        forbid(
            errors,
            "patternProperties",
            "patternProperties is not supported",
        );
    }
    if s.get("definitions")
        .and_then(Value::as_object)
        .is_some_and(|d| !d.is_empty())
    {
        forbid(errors, "definitions", "definitions is not supported");
    }
    if present(s, "dependencies").is_some() {
        forbid(errors, "dependencies", "dependencies is not supported");
    }
    if present(s, "$ref").is_some() {
        forbid(errors, "$ref", "$ref is not supported");
    }
    if ty == "null" {
        forbid(
            errors,
            "type",
            "type cannot be set to null, use nullable as an alternative",
        );
    }
    if s.get("items")
        .and_then(Value::as_array)
        .is_some_and(|i| !i.is_empty())
    {
        forbid(
            errors,
            "items",
            "items must be a schema object and not an array",
        );
    }
    if ctx.inside_meta && flag(s, "x-kubernetes-embedded-resource") {
        forbid(
            errors,
            "x-kubernetes-embedded-resource",
            "must not be used inside of resource meta",
        );
    }
}

/// The static shape of `x-kubernetes-validations` rules (never compiled nor run).
fn validation_rules(s: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let rules = s.get("x-kubernetes-validations").and_then(Value::as_array);
    for (i, rule) in rules.into_iter().flatten().enumerate() {
        let at = format!("{}[{i}]", child(path, "x-kubernetes-validations"));
        let expression = text(rule, "rule");
        let message = text(rule, "message");
        let message_expression = text(rule, "messageExpression");
        let newlines = |t: &str| t.contains(['\n', '\r']);
        if expression.trim().is_empty() {
            errors.push(FieldError::required(
                child(&at, "rule"),
                "rule is not specified",
            ));
        } else if !message.is_empty() && message.trim().is_empty() {
            errors.push(invalid(
                child(&at, "message"),
                &string(message),
                "must be non-empty if specified",
            ));
        } else if newlines(message.trim()) {
            errors.push(invalid(
                child(&at, "message"),
                &string(message),
                "must not contain line breaks",
            ));
        } else if newlines(expression.trim()) && message.trim().is_empty() {
            errors.push(FieldError::required(
                child(&at, "message"),
                "message must be specified if rule contains line breaks",
            ));
        }
        if !message_expression.is_empty() && message_expression.trim().is_empty() {
            errors.push(FieldError::required(
                child(&at, "messageExpression"),
                "messageExpression must be non-empty if specified",
            ));
        }
        if let Some(reason) = present(rule, "reason") {
            let reason_text = reason.as_str().unwrap_or("");
            if !VALIDATION_REASONS.contains(&reason_text) {
                let supported: Vec<String> =
                    VALIDATION_REASONS.iter().map(|r| r.to_string()).collect();
                errors.push(not_supported(child(&at, "reason"), reason, &supported));
            }
        }
        let field_path = text(rule, "fieldPath");
        let shown = string(field_path);
        if !field_path.is_empty() && field_path.trim().is_empty() {
            errors.push(invalid(
                child(&at, "fieldPath"),
                &shown,
                "must be non-empty if specified",
            ));
        }
        if newlines(field_path) {
            errors.push(invalid(
                child(&at, "fieldPath"),
                &shown,
                "must not contain line breaks",
            ));
        }
        if !field_path.is_empty() && !field_path_valid(s, field_path) {
            errors.push(invalid(
                child(&at, "fieldPath"),
                &shown,
                "must be a valid path",
            ));
        }
    }
}

/// Whether a rule's `fieldPath` (`.spec.x`, `['key']`, `[0]`) names a field of the schema.
fn field_path_valid(schema: &Value, path: &str) -> bool {
    let schemas = Schemas::new(None);
    let mut node = schema;
    let mut rest = path.trim();
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let (segment, index, tail) = if let Some(after) = rest.strip_prefix("['") {
            let Some(end) = after.find("']") else {
                return false;
            };
            (&after[..end], false, &after[end + 2..])
        } else if let Some(after) = rest.strip_prefix('[') {
            let Some(end) = after.find(']') else {
                return false;
            };
            (&after[..end], true, &after[end + 1..])
        } else if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            (&after[..end], false, &after[end..])
        } else {
            return false;
        };
        let next = if index {
            segment
                .parse::<usize>()
                .ok()
                .and_then(|_| schemas.items(node))
        } else {
            (!segment.is_empty())
                .then(|| schemas.field(node, segment))
                .flatten()
        };
        let Some(next) = next else {
            return false;
        };
        node = next;
        rest = tail;
    }
    true
}

/// Whether any node of the schema satisfies `pred` (upstream's `SchemaHas`).
pub fn schema_has(s: &Value, pred: &dyn Fn(&Value) -> bool) -> bool {
    if !s.is_object() {
        return false;
    }
    if pred(s) {
        return true;
    }
    let mut children: Vec<&Value> = Vec::new();
    match s.get("items") {
        Some(Value::Array(list)) => children.extend(list),
        Some(items) => children.push(items),
        None => {}
    }
    for junctor in ["allOf", "anyOf", "oneOf"] {
        children.extend(
            s.get(junctor)
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        );
    }
    children.extend(s.get("not"));
    children.extend(s.get("additionalProperties"));
    children.extend(s.get("additionalItems"));
    for map in [
        "properties",
        "patternProperties",
        "definitions",
        "dependencies",
    ] {
        children.extend(
            s.get(map)
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|m| m.values()),
        );
    }
    children.into_iter().any(|c| schema_has(c, pred))
}

/// Whether a schema uses a Kubernetes extension anywhere (which makes it need to be structural).
pub fn has_kubernetes_extensions(s: &Value) -> bool {
    schema_has(s, &|n| {
        flag(n, "x-kubernetes-embedded-resource")
            || present(n, "x-kubernetes-preserve-unknown-fields").is_some()
            || flag(n, "x-kubernetes-int-or-string")
            || !strings(n.get("x-kubernetes-list-map-keys")).is_empty()
            || present(n, "x-kubernetes-list-type").is_some()
            || n.get("x-kubernetes-validations")
                .and_then(Value::as_array)
                .is_some_and(|v| !v.is_empty())
    })
}

/// Whether a schema is not structural (so an update need not make it structural).
pub fn is_non_structural(s: &Value) -> bool {
    unreadable(s).is_some() || !validate_structural(s, "").is_empty()
}

/// Whether a schema has a `type` outside the OpenAPI types.
pub fn has_invalid_types(s: &Value) -> bool {
    schema_has(s, &|n| {
        let ty = text(n, "type");
        !ty.is_empty() && !OPENAPI_TYPES.contains(&ty)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PATH: &str = "spec.validation";

    fn run(schema: Value, status: bool) -> Vec<String> {
        let validation = json!({"openAPIV3Schema": schema});
        validate_validation(Some(&validation), status, &SchemaRules::default(), PATH)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn forbidden_keywords_and_types() {
        let schema = json!({"type": "object", "properties": {
            "a": {"type": "strin"},
            "b": {"type": "array", "uniqueItems": true, "items": {"type": "string"}},
            "metadata": {"type": "object", "default": {}},
        }});
        assert_eq!(
            run(schema, false),
            [
                r#"spec.validation.openAPIV3Schema.properties[a].type: Unsupported value: "strin": supported values: "array", "boolean", "integer", "number", "object", "string""#,
                "spec.validation.openAPIV3Schema.properties[b].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
                "spec.validation.openAPIV3Schema.properties[metadata].default: Forbidden: must not be set in top-level metadata",
            ]
        );
    }

    #[test]
    fn refs_are_reported_without_structural_noise() {
        let schema = json!({"type": "object", "properties": {"a": {"$ref": "#/definitions/x"}}});
        assert_eq!(
            run(schema, false),
            [
                "spec.validation.openAPIV3Schema.properties[a].$ref: Forbidden: $ref is not supported"
            ]
        );
    }

    #[test]
    fn status_subresource_restricts_the_root() {
        let schema = json!({"type": "object", "anyOf": [{"required": ["spec"]}],
            "properties": {"spec": {"type": "object"}}});
        let found = run(schema, true);
        assert_eq!(found.len(), 1);
        assert!(found[0].starts_with(
            "spec.validation.openAPIV3Schema: Invalid value: map[string]interface {}{"
        ));
        assert!(found[0].ends_with(
            "fields are allowed at the root of the schema if the status subresource is enabled"
        ));
        assert_eq!(
            run(json!({"type": "string"}), true)[0],
            r#"spec.validation.openAPIV3Schema.type: Invalid value: "string": only "object" is allowed as the type at the root of the schema if the status subresource is enabled"#
        );
    }

    #[test]
    fn cel_rules_are_shape_checked_only() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object",
        "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}},
        "x-kubernetes-validations": [
            {"rule": "self.min <= self.max", "message": "min must not exceed max", "fieldPath": ".min"},
            {"rule": " "},
            {"rule": "self.min > 0", "reason": "Nope", "fieldPath": ".nothing"},
        ]}}});
        assert_eq!(
            run(schema, false),
            [
                "spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[1].rule: Required value: rule is not specified",
                r#"spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[2].reason: Unsupported value: "Nope": supported values: "FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid", "FieldValueRequired""#,
                r#"spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[2].fieldPath: Invalid value: ".nothing": must be a valid path"#,
            ]
        );
    }
}
