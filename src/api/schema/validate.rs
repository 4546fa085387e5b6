//! Value validation of an object against its schema, as kube-apiserver validates a custom
//! resource: kube-openapi's schema validator (walk order, keyword rules, `allOf`/`anyOf`/`oneOf`/
//! `not`), its findings turned into field errors the way apiextensions turns them, then the
//! embedded-resource and `x-kubernetes-list-type` checks of [`super::lists`].
//!
//! `x-kubernetes-validations` rules are not evaluated (no CEL engine).

use serde_json::Value;

use super::Resolver;
use super::formats;
use super::keywords::{self, Num, NumberRules};
use super::lists;
use super::messages;
use super::walk::{Additional, Schemas, is_ref, join};
use crate::api::field_error::FieldError;

/// Which check a kube-openapi finding comes from (its error code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    InvalidType,
    Required,
    TooLong,
    TooShort,
    Pattern,
    Enum,
    MultipleOf,
    MultipleOfMustBePositive,
    Maximum,
    Minimum,
    Unique,
    MaxItems,
    MinItems,
    TooFewProperties,
    TooManyProperties,
    PropertyNotAllowed,
}

/// One kube-openapi error, before it becomes a field error.
#[derive(Clone, Debug)]
pub enum Finding {
    /// A validation error about the value at `name` (kube-openapi's dotted path; a root
    /// `additionalProperties` key shows as `.key`).
    Field {
        code: Code,
        name: String,
        value: Option<Value>,
        /// The bound of a length, item or property count.
        limit: Option<i64>,
        /// The listed values of a failed `enum`.
        allowed: Vec<Value>,
        message: String,
    },
    /// Any other error (junctor summaries, number range errors): reported at the base path.
    Plain(String),
}

impl Finding {
    pub fn message(&self) -> &str {
        match self {
            Finding::Field { message, .. } | Finding::Plain(message) => message,
        }
    }
}

/// The findings of one validator run, and kube-openapi's match count (how far validation got),
/// which picks the best failing branch of `anyOf`/`oneOf`.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub findings: Vec<Finding>,
    pub matches: usize,
}

impl Outcome {
    /// Adds a finding unless one with the same message is already there.
    pub fn add(&mut self, finding: Finding) {
        if !self
            .findings
            .iter()
            .any(|f| f.message() == finding.message())
        {
            self.findings.push(finding);
        }
    }

    pub fn add_opt(&mut self, finding: Option<Finding>) {
        if let Some(finding) = finding {
            self.add(finding);
        }
    }

    pub fn merge(&mut self, other: Outcome) {
        for finding in other.findings {
            self.add(finding);
        }
        self.matches += other.matches;
    }

    pub fn is_valid(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Validates an object against the schema: type (incl. x-kubernetes-int-or-string), nullable,
/// enum, pattern, format, number bounds, string lengths, item and property counts,
/// uniqueItems, required, additionalProperties, allOf/anyOf/oneOf/not; then embedded
/// resources' `apiVersion`/`kind` and `x-kubernetes-list-type` set/map uniqueness.
///
/// Field paths are upstream's for a custom resource: `spec.replicas`; errors without a field
/// (junctor summaries) carry the field `<nil>`, as kube-apiserver prints them.
pub fn validate(schema: &Value, object: &Value, resolve: Option<Resolver<'_>>) -> Vec<FieldError> {
    let schemas = Schemas::new(resolve);
    let engine = Engine { schemas };
    let mut errors = to_field_errors(None, engine.validate_node(schema, object, ""));
    errors.extend(lists::validate_embedded(&schemas, schema, object, ""));
    errors.extend(lists::validate_list_types(&schemas, schema, object, ""));
    errors
}

/// Validates a value against a schema node, reporting below `base` (used for `default`
/// values: `spec.validation.openAPIV3Schema.properties[x].default`).
pub fn validate_at(
    schemas: &Schemas<'_>,
    node: &Value,
    value: &Value,
    base: &str,
) -> Vec<FieldError> {
    let engine = Engine { schemas: *schemas };
    to_field_errors(Some(base), engine.validate_node(node, value, ""))
}

/// Turns kube-openapi findings into field errors as apiextensions does.
pub fn to_field_errors(base: Option<&str>, outcome: Outcome) -> Vec<FieldError> {
    let base_field = base.unwrap_or("<nil>").to_string();
    let empty = Value::String(String::new());
    outcome
        .findings
        .into_iter()
        .map(|finding| match finding {
            Finding::Plain(message) => messages::invalid(base_field.clone(), &empty, &message),
            Finding::Field {
                code,
                name,
                value,
                limit,
                allowed,
                message,
            } => {
                let trimmed = name.trim_start_matches('.');
                let field = if name.is_empty() || name == "." {
                    base_field.clone()
                } else {
                    match base {
                        Some(base) => join(base, trimmed),
                        None => trimmed.to_string(),
                    }
                };
                let value = value.unwrap_or_else(|| empty.clone());
                match code {
                    Code::Required => FieldError::required(field, ""),
                    Code::Enum => {
                        let names: Vec<String> = allowed
                            .iter()
                            .map(|v| match v {
                                Value::String(s) => s.clone(),
                                other => other.to_string(),
                            })
                            .collect();
                        messages::not_supported(field, &value, &names)
                    }
                    Code::TooLong => messages::too_long(field, limit.unwrap_or(-1)),
                    Code::MaxItems | Code::TooManyProperties => {
                        messages::too_many(field, value.as_i64().unwrap_or(-1), limit.unwrap_or(-1))
                    }
                    Code::InvalidType => messages::type_invalid(field, &value, &message),
                    _ => messages::invalid(field, &value, &message),
                }
            }
        })
        .collect()
}

/// kube-openapi's `SchemaValidator`, over JSON schema nodes.
struct Engine<'r> {
    schemas: Schemas<'r>,
}

impl<'r> Engine<'r> {
    fn validate_node<'n>(&self, node: &'n Value, data: &Value, path: &str) -> Outcome
    where
        'r: 'n,
    {
        let s = &self.schemas;
        let mut outcome = Outcome::default();
        let types = self.types(node);
        let format = self.format(node, &types);
        let typed = !types.is_empty() || !format.is_empty();
        if data.is_null() {
            if typed {
                outcome.merge(keywords::check_type(
                    &types,
                    s.nullable(node),
                    format,
                    data,
                    path,
                ));
            }
            outcome.add_opt(keywords::check_enum(self.enum_values(node), data, path));
            return outcome;
        }
        if typed {
            outcome.merge(keywords::check_type(
                &types,
                s.nullable(node),
                format,
                data,
                path,
            ));
            outcome.matches += 1;
        }
        outcome.merge(self.junctors(node, data, path));
        outcome.matches += 1;
        if let Value::String(text) = data {
            outcome.add_opt(keywords::check_string(
                self.int(node, "maxLength"),
                self.int(node, "minLength"),
                s.get(node, "pattern").and_then(Value::as_str),
                text,
                path,
            ));
            outcome.matches += 1;
            if formats::is_string_format(format) {
                outcome.add_opt(keywords::check_format(format, text, path));
                outcome.matches += 1;
            }
        }
        if let Value::Number(n) = data {
            let single = if types.len() == 1 { types[0] } else { "" };
            let type_name = if single == "integer" || single == "number" {
                single
            } else {
                ""
            };
            let rules = NumberRules {
                type_name,
                format: match (type_name, format) {
                    ("integer", "int32" | "int64") | ("number", "float" | "double") => format,
                    _ => "",
                },
                multiple_of: self.float(node, "multipleOf"),
                maximum: self.float(node, "maximum"),
                exclusive_maximum: s.flag(node, "exclusiveMaximum"),
                minimum: self.float(node, "minimum"),
                exclusive_minimum: s.flag(node, "exclusiveMinimum"),
            };
            outcome.merge(keywords::check_number(&rules, Num::of(n), path));
            outcome.matches += 1;
        }
        if let Value::Array(items) = data {
            outcome.merge(self.array(node, items, path));
            outcome.matches += 1;
        }
        outcome.add_opt(keywords::check_enum(self.enum_values(node), data, path));
        outcome.matches += 1;
        if let Value::Object(_) = data {
            outcome.merge(self.object(node, data, path));
            outcome.matches += 1;
        }
        outcome.matches += 1;
        outcome
    }

    /// The node's type list as kube-openapi sees it (`["integer","string"]` for int-or-string).
    fn types<'n>(&self, node: &'n Value) -> Vec<&'n str>
    where
        'r: 'n,
    {
        if self.schemas.int_or_string(node) {
            return vec!["integer", "string"];
        }
        match self.schemas.type_name(node) {
            "" => Vec::new(),
            name => vec![name],
        }
    }

    fn format<'n>(&self, node: &'n Value, types: &[&str]) -> &'n str
    where
        'r: 'n,
    {
        let format = self
            .schemas
            .get(node, "format")
            .and_then(Value::as_str)
            .unwrap_or("");
        formats::effective(format, types).unwrap_or("")
    }

    fn int(&self, node: &Value, key: &str) -> Option<i64> {
        let value = self.schemas.get(node, key)?;
        value.as_i64().or_else(|| value.as_f64().map(|f| f as i64))
    }

    fn float(&self, node: &Value, key: &str) -> Option<f64> {
        self.schemas.get(node, key).and_then(Value::as_f64)
    }

    fn enum_values<'n>(&self, node: &'n Value) -> &'n [Value]
    where
        'r: 'n,
    {
        self.schemas
            .get(node, "enum")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    /// Members of a junctor keyword; `$ref` members of `allOf` are part of the node already.
    fn members<'n>(&self, node: &'n Value, key: &str) -> Vec<&'n Value>
    where
        'r: 'n,
    {
        let Some(list) = self.schemas.get(node, key).and_then(Value::as_array) else {
            return Vec::new();
        };
        list.iter()
            .filter_map(|member| {
                if !is_ref(member) {
                    Some(member)
                } else if key == "allOf" {
                    None
                } else {
                    self.schemas.ref_target(member)
                }
            })
            .collect()
    }

    /// `anyOf`, `oneOf`, `allOf`, `not`: kube-openapi's `schemaPropsValidator`.
    fn junctors<'n>(&self, node: &'n Value, data: &Value, path: &str) -> Outcome
    where
        'r: 'n,
    {
        let mut outcome = Outcome::default();
        let quoted = messages::go_quote(path);
        let any_of = self.members(node, "anyOf");
        if !any_of.is_empty() {
            let mut best: Option<Outcome> = None;
            let mut success: Option<Outcome> = None;
            for member in any_of {
                let result = self.validate_node(member, data, path);
                if result.is_valid() {
                    best = None;
                    success = Some(result);
                    break;
                }
                if best.as_ref().is_none_or(|b| result.matches > b.matches) {
                    best = Some(result);
                }
            }
            if success.is_none() {
                outcome.add(Finding::Plain(format!(
                    "{quoted} must validate at least one schema (anyOf)"
                )));
            }
            if let Some(chosen) = best.or(success) {
                outcome.merge(chosen);
            }
        }
        let one_of = self.members(node, "oneOf");
        if !one_of.is_empty() {
            let mut best: Option<Outcome> = None;
            let mut success: Option<Outcome> = None;
            let mut validated = 0;
            for member in one_of {
                let result = self.validate_node(member, data, path);
                if result.is_valid() {
                    validated += 1;
                    best = None;
                    if success.is_none() {
                        success = Some(result);
                    }
                    continue;
                }
                if validated == 0 && best.as_ref().is_none_or(|b| result.matches > b.matches) {
                    best = Some(result);
                }
            }
            if validated != 1 {
                let detail = if validated == 0 {
                    "Found none valid".to_string()
                } else {
                    format!("Found {validated} valid alternatives")
                };
                outcome.add(Finding::Plain(format!(
                    "{quoted} must validate one and only one schema (oneOf). {detail}"
                )));
                if let Some(best) = best {
                    outcome.merge(best);
                }
            } else if let Some(success) = success {
                outcome.merge(success);
            }
        }
        let all_of = self.members(node, "allOf");
        if !all_of.is_empty() {
            let total = all_of.len();
            let mut validated = 0;
            for member in all_of {
                let result = self.validate_node(member, data, path);
                if result.is_valid() {
                    validated += 1;
                }
                outcome.merge(result);
            }
            if validated != total {
                let detail = if validated == 0 {
                    ". None validated"
                } else {
                    ""
                };
                outcome.add(Finding::Plain(format!(
                    "{quoted} must validate all the schemas (allOf){detail}"
                )));
            }
        }
        if let Some(not) = self.schemas.get(node, "not").filter(|n| n.is_object())
            && self.validate_node(not, data, path).is_valid()
        {
            outcome.add(Finding::Plain(format!(
                "{quoted} must not validate the schema (not)"
            )));
        }
        outcome.matches += 1;
        outcome
    }

    /// `items`, `minItems`, `maxItems`, `uniqueItems`.
    fn array<'n>(&self, node: &'n Value, items: &[Value], path: &str) -> Outcome
    where
        'r: 'n,
    {
        let mut outcome = Outcome::default();
        if let Some(item_schema) = self.schemas.items(node) {
            for (i, item) in items.iter().enumerate() {
                outcome.merge(self.validate_node(item_schema, item, &format!("{path}[{i}]")));
            }
        }
        let size = items.len() as i64;
        if let Some(min) = self.int(node, "minItems").filter(|min| size < *min) {
            outcome.add(Finding::Field {
                code: Code::MinItems,
                name: path.to_string(),
                value: Some(Value::from(size)),
                limit: Some(min),
                allowed: Vec::new(),
                message: format!("{path} in body should have at least {min} items"),
            });
        }
        if let Some(max) = self.int(node, "maxItems").filter(|max| size > *max) {
            outcome.add(Finding::Field {
                code: Code::MaxItems,
                name: path.to_string(),
                value: Some(Value::from(size)),
                limit: Some(max),
                allowed: Vec::new(),
                message: format!("{path} in body should have at most {max} items"),
            });
        }
        if self.schemas.flag(node, "uniqueItems") {
            let duplicated = items
                .iter()
                .enumerate()
                .any(|(i, item)| items[..i].contains(item));
            if duplicated {
                outcome.add(Finding::Field {
                    code: Code::Unique,
                    name: path.to_string(),
                    value: None,
                    limit: None,
                    allowed: Vec::new(),
                    message: format!("{path} in body shouldn't contain duplicates"),
                });
            }
        }
        outcome.matches += 1;
        outcome
    }

    /// Property counts, `additionalProperties`, `properties`, `required`.
    fn object<'n>(&self, node: &'n Value, data: &Value, path: &str) -> Outcome
    where
        'r: 'n,
    {
        let mut outcome = Outcome::default();
        let Some(map) = data.as_object() else {
            return outcome;
        };
        let s = &self.schemas;
        let count = map.len() as i64;
        if let Some(min) = self.int(node, "minProperties").filter(|min| count < *min) {
            outcome.add(Finding::Field {
                code: Code::TooFewProperties,
                name: path.to_string(),
                value: Some(Value::from(count)),
                limit: Some(min),
                allowed: Vec::new(),
                message: format!("{path} in body should have at least {min} properties"),
            });
        }
        if let Some(max) = self.int(node, "maxProperties").filter(|max| count > *max) {
            outcome.add(Finding::Field {
                code: Code::TooManyProperties,
                name: path.to_string(),
                value: Some(Value::from(count)),
                limit: Some(max),
                allowed: Vec::new(),
                message: format!("{path} in body should have at most {max} properties"),
            });
        }
        let properties = s.properties(node);
        let declared = |key: &str| properties.is_some_and(|p| p.contains_key(key));
        match s.additional(node) {
            Additional::Allows(false) => {
                for key in map.keys().filter(|k| !declared(k)) {
                    outcome.add(Finding::Field {
                        code: Code::PropertyNotAllowed,
                        name: path.to_string(),
                        value: Some(Value::String(key.clone())),
                        limit: None,
                        allowed: Vec::new(),
                        message: format!("{path}.{key} in body is a forbidden property"),
                    });
                }
            }
            Additional::Schema(additional) => {
                for (key, value) in map.iter().filter(|(k, _)| !declared(k)) {
                    outcome.merge(self.validate_node(additional, value, &format!("{path}.{key}")));
                }
            }
            Additional::Absent | Additional::Allows(true) => {}
        }
        if let Some(properties) = properties {
            for (name, property) in properties {
                if let Some(value) = map.get(name) {
                    outcome.merge(self.validate_node(property, value, &join(path, name)));
                }
            }
        }
        let required = s.get(node, "required").and_then(Value::as_array);
        for key in required.into_iter().flatten().filter_map(Value::as_str) {
            if !map.contains_key(key) {
                outcome.add(Finding::Field {
                    code: Code::Required,
                    name: format!("{path}.{key}"),
                    value: None,
                    limit: None,
                    allowed: Vec::new(),
                    message: format!("{path}.{key} in body is required"),
                });
            }
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(schema: Value, object: Value) -> Vec<String> {
        validate(&schema, &object, None)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn spec_schema(properties: Value) -> Value {
        json!({"type": "object", "properties": {"spec": {"type": "object", "properties": properties}}})
    }

    #[test]
    fn type_errors_are_worded_as_upstream() {
        let schema = spec_schema(json!({"replicas": {"type": "integer"}}));
        assert_eq!(
            errors(schema, json!({"spec": {"replicas": "string"}})),
            [
                r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#
            ]
        );
        let schema = spec_schema(json!({"port": {"x-kubernetes-int-or-string": true}}));
        assert!(errors(schema.clone(), json!({"spec": {"port": 80}})).is_empty());
        assert!(errors(schema.clone(), json!({"spec": {"port": "http"}})).is_empty());
        assert_eq!(
            errors(schema, json!({"spec": {"port": [1]}})),
            [
                r#"spec.port: Invalid value: "array": spec.port in body must be of type integer,string: "array""#
            ]
        );
    }

    #[test]
    fn nullable_and_required() {
        let schema = json!({"type": "object", "required": ["spec"], "properties": {
            "spec": {"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string"},
                "note": {"type": "string", "nullable": true},
                "other": {"type": "string"},
            }},
        }});
        assert_eq!(errors(schema.clone(), json!({})), ["spec: Required value"]);
        assert_eq!(
            errors(
                schema,
                json!({"spec": {"name": "x", "note": null, "other": null}})
            ),
            [
                r#"spec.other: Invalid value: "null": spec.other in body must be of type string: "null""#
            ]
        );
    }

    #[test]
    fn enum_pattern_and_lengths() {
        let schema = spec_schema(json!({
            "mode": {"type": "string", "enum": ["a", "b"]},
            "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5},
            "short": {"type": "string", "minLength": 3},
        }));
        assert_eq!(
            errors(
                schema,
                json!({"spec": {"mode": "x", "name": "ABC", "short": "ab"}})
            ),
            [
                r#"spec.mode: Unsupported value: "x": supported values: "a", "b""#,
                r#"spec.name: Invalid value: "ABC": spec.name in body should match '^[a-z]+$'"#,
                r#"spec.short: Invalid value: "ab": spec.short in body should be at least 3 chars long"#,
            ]
        );
        let long = spec_schema(json!({"name": {"type": "string", "maxLength": 2}}));
        assert_eq!(
            errors(long, json!({"spec": {"name": "abc"}})),
            ["spec.name: Too long: must have at most 2 bytes"]
        );
    }

    #[test]
    fn numbers_and_formats() {
        let schema = spec_schema(json!({
            "replicas": {"type": "integer", "minimum": 1, "maximum": 10},
            "ratio": {"type": "number", "exclusiveMaximum": true, "maximum": 1.5, "multipleOf": 0.5},
            "when": {"type": "string", "format": "date-time"},
            "id": {"type": "string", "format": "uuid"},
            "small": {"type": "integer", "format": "int32"},
        }));
        assert_eq!(
            errors(
                schema,
                json!({"spec": {"replicas": 0, "ratio": 1.5, "when": "yesterday", "id": "nope", "small": 3_000_000_000_i64}})
            ),
            [
                r#"spec.id: Invalid value: "nope": spec.id in body must be of type uuid: "nope""#,
                r#"spec.ratio: Invalid value: 1.5: spec.ratio in body should be less than 1.5"#,
                r#"spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1"#,
                r#"<nil>: Invalid value: "": Checked value must be of type integer with format int32 in spec.small"#,
                r#"spec.when: Invalid value: "yesterday": spec.when in body must be of type date-time: "yesterday""#,
            ]
        );
    }

    #[test]
    fn items_and_properties_counts() {
        let schema = spec_schema(json!({
            "list": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string"}},
            "tags": {"type": "object", "maxProperties": 1, "minProperties": 1,
                     "additionalProperties": {"type": "string"}},
            "empty": {"type": "object", "minProperties": 1},
            "uniq": {"type": "array", "uniqueItems": true, "items": {"type": "integer"}},
        }));
        assert_eq!(
            errors(
                schema,
                json!({"spec": {"list": ["a", 2, "c"], "tags": {"a": "x", "b": 1}, "empty": {}, "uniq": [1, 1]}})
            ),
            [
                r#"spec.empty: Invalid value: 0: spec.empty in body should have at least 1 properties"#,
                r#"spec.list[1]: Invalid value: "integer": spec.list[1] in body must be of type string: "integer""#,
                r#"spec.list: Too many: 3: must have at most 2 items"#,
                r#"spec.tags: Too many: 2: must have at most 1 items"#,
                r#"spec.tags.b: Invalid value: "integer": spec.tags.b in body must be of type string: "integer""#,
                r#"spec.uniq: Invalid value: "": spec.uniq in body shouldn't contain duplicates"#,
            ]
        );
    }

    #[test]
    fn min_items_closed_objects_and_string_formats() {
        let schema = spec_schema(json!({
            "list": {"type": "array", "minItems": 1, "items": {"type": "string"}},
            "closed": {"type": "object", "properties": {"a": {"type": "string"}},
                       "additionalProperties": false},
            "data": {"type": "string", "format": "byte"},
            "day": {"type": "string", "format": "date"},
            "ignored": {"type": "string", "format": "no-such-format"},
        }));
        assert_eq!(
            errors(
                schema,
                json!({"spec": {"list": [], "closed": {"a": "x", "b": 1}, "data": "%%%",
                                "day": "2023-02-30", "ignored": "anything"}})
            ),
            [
                r#"spec.closed: Invalid value: "b": spec.closed.b in body is a forbidden property"#,
                r#"spec.data: Invalid value: "%%%": spec.data in body must be of type byte: "%%%""#,
                r#"spec.day: Invalid value: "2023-02-30": spec.day in body must be of type date: "2023-02-30""#,
                "spec.list: Invalid value: 0: spec.list in body should have at least 1 items",
            ]
        );
    }

    #[test]
    fn junctors() {
        let schema = spec_schema(json!({
            "a": {"type": "integer", "anyOf": [{"minimum": 10}, {"maximum": 0}]},
            "b": {"type": "integer", "oneOf": [{"minimum": 0}, {"maximum": 10}]},
            "c": {"type": "string", "allOf": [{"minLength": 2}, {"maxLength": 3}]},
            "d": {"type": "string", "not": {"enum": ["x"]}},
        }));
        assert_eq!(
            errors(
                schema,
                json!({"spec": {"a": 5, "b": 5, "c": "a", "d": "x"}})
            ),
            [
                r#"<nil>: Invalid value: "": "spec.a" must validate at least one schema (anyOf)"#,
                r#"spec.a: Invalid value: 5: spec.a in body should be greater than or equal to 10"#,
                r#"<nil>: Invalid value: "": "spec.b" must validate one and only one schema (oneOf). Found 2 valid alternatives"#,
                r#"spec.c: Invalid value: "a": spec.c in body should be at least 2 chars long"#,
                r#"<nil>: Invalid value: "": "spec.c" must validate all the schemas (allOf)"#,
                r#"<nil>: Invalid value: "": "spec.d" must not validate the schema (not)"#,
            ]
        );
    }

    #[test]
    fn built_in_schemas_follow_refs() {
        let components = json!({
            "#/components/schemas/Spec": {"type": "object", "properties": {"replicas": {"type": "integer"}}},
        });
        let resolve = |name: &str| components.get(name);
        let schema = json!({"type": "object", "properties": {
            "spec": {"allOf": [{"$ref": "#/components/schemas/Spec"}], "default": {}},
        }});
        let found = validate(&schema, &json!({"spec": {"replicas": "x"}}), Some(&resolve));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].field, "spec.replicas");
    }
}
