//! The parts of a CRD spec validated on their own: `names`, `subresources` (scale paths),
//! `additionalPrinterColumns`, `selectableFields`, `conversion` (None or Webhook with its
//! client config and review versions), a version's `deprecationWarning`,
//! `status.storedVersions`, and the API approval annotation of protected groups.

use serde_json::Value;

use super::messages::{duplicate, go_strings, invalid, invalid_printed, not_supported, too_many};
use super::names::{is_dns1035_label, validate_webhook_service, validate_webhook_url};
use super::walk::{Schemas, strings, text};
use crate::api::field_error::FieldError;

const COLUMN_TYPES: &str = "boolean,date,integer,number,string";
const COLUMN_FORMATS: &str = "byte,date,date-time,double,float,int32,int64,password";
const MAX_SELECTABLE_FIELDS: usize = 8;
const APPROVAL_ANNOTATION: &str = "api-approved.kubernetes.io";

fn string(value: &str) -> Value {
    Value::String(value.to_string())
}

/// Upstream's `validateEnumStrings`.
pub fn enum_string(path: &str, value: &str, accepted: &[&str], required: bool) -> Vec<FieldError> {
    if value.is_empty() {
        return if required {
            vec![FieldError::required(path, "")]
        } else {
            Vec::new()
        };
    }
    if accepted.contains(&value) {
        return Vec::new();
    }
    let supported: Vec<String> = accepted.iter().map(|s| s.to_string()).collect();
    vec![not_supported(path, &string(value), &supported)]
}

/// `names` (spec or `status.acceptedNames`): DNS-1035 plural, singular, short names,
/// categories; kinds that may be mixed case; `kind` and `listKind` differ.
pub fn validate_names(names: Option<&Value>, path: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let empty = Value::Null;
    let names = names.unwrap_or(&empty);
    for field in ["plural", "singular"] {
        let value = text(names, field);
        let problems = is_dns1035_label(value);
        if !value.is_empty() && !problems.is_empty() {
            errors.push(invalid(
                format!("{path}.{field}"),
                &string(value),
                &problems.join(","),
            ));
        }
    }
    for field in ["kind", "listKind"] {
        let value = text(names, field);
        let problems = is_dns1035_label(&value.to_lowercase());
        if !value.is_empty() && !problems.is_empty() {
            let detail = format!(
                "may have mixed case, but should otherwise match: {}",
                problems.join(",")
            );
            errors.push(invalid(format!("{path}.{field}"), &string(value), &detail));
        }
    }
    for (i, short) in strings(names.get("shortNames")).iter().enumerate() {
        let problems = is_dns1035_label(short);
        if !problems.is_empty() {
            let at = format!("{path}.shortNames[{i}]");
            errors.push(invalid(at, &string(short), &problems.join(",")));
        }
    }
    let (kind, list_kind) = (text(names, "kind"), text(names, "listKind"));
    if !kind.is_empty() && kind == list_kind {
        errors.push(invalid(
            format!("{path}.listKind"),
            &string(list_kind),
            "kind and listKind may not be the same",
        ));
    }
    for (i, category) in strings(names.get("categories")).iter().enumerate() {
        let problems = is_dns1035_label(category);
        if !problems.is_empty() {
            let at = format!("{path}.categories[{i}]");
            errors.push(invalid(at, &string(category), &problems.join(",")));
        }
    }
    errors
}

/// Upstream's `validateSimpleJSONPath`.
fn simple_json_path(value: &str, path: &str) -> Vec<FieldError> {
    if value.is_empty() {
        vec![invalid(path, &string(value), "must not be empty")]
    } else if !value.starts_with('.') {
        vec![invalid(
            path,
            &string(value),
            "must be a simple json path starting with .",
        )]
    } else {
        Vec::new()
    }
}

/// `subresources`: the scale paths point into `.spec` and `.status`.
pub fn validate_subresources(subresources: Option<&Value>, path: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let Some(scale) = subresources
        .and_then(|s| s.get("scale"))
        .filter(|s| !s.is_null())
    else {
        return errors;
    };
    for (field, prefix, detail) in [
        (
            "specReplicasPath",
            ".spec.",
            "should be a json path under .spec",
        ),
        (
            "statusReplicasPath",
            ".status.",
            "should be a json path under .status",
        ),
    ] {
        let at = format!("{path}.scale.{field}");
        let value = text(scale, field);
        if value.is_empty() {
            errors.push(FieldError::required(at, ""));
            continue;
        }
        let problems = simple_json_path(value, &at);
        if !problems.is_empty() {
            errors.extend(problems);
        } else if !value.starts_with(prefix) {
            errors.push(invalid(at, &string(value), detail));
        }
    }
    let selector = text(scale, "labelSelectorPath");
    if !selector.is_empty() {
        let at = format!("{path}.scale.labelSelectorPath");
        let problems = simple_json_path(selector, &at);
        if !problems.is_empty() {
            errors.extend(problems);
        } else if !selector.starts_with(".spec.") && !selector.starts_with(".status.") {
            errors.push(invalid(
                at,
                &string(selector),
                "should be a json path under either .spec or .status",
            ));
        }
    }
    errors
}

/// One `additionalPrinterColumns` entry.
pub fn validate_column(column: &Value, path: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if text(column, "name").is_empty() {
        errors.push(FieldError::required(format!("{path}.name"), ""));
    }
    let ty = text(column, "type");
    let type_detail = format!("must be one of {COLUMN_TYPES}");
    if ty.is_empty() {
        errors.push(FieldError::required(format!("{path}.type"), &type_detail));
    } else if !COLUMN_TYPES.split(',').any(|t| t == ty) {
        errors.push(invalid(format!("{path}.type"), &string(ty), &type_detail));
    }
    let format = text(column, "format");
    if !format.is_empty() && !COLUMN_FORMATS.split(',').any(|f| f == format) {
        let detail = format!("must be one of {COLUMN_FORMATS}");
        errors.push(invalid(format!("{path}.format"), &string(format), &detail));
    }
    let json_path = text(column, "jsonPath");
    let at = format!("{path}.JSONPath");
    if json_path.is_empty() {
        errors.push(FieldError::required(at, ""));
    } else {
        errors.extend(simple_json_path(json_path, &at));
    }
    errors
}

/// `selectableFields`: paths (dot notation, no arrays) to string, boolean or integer fields
/// outside `metadata`, unique, at most eight.
pub fn validate_selectable_fields(fields: &[Value], schema: &Value, path: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let schemas = Schemas::new(None);
    let mut unique: Vec<String> = Vec::new();
    for (i, field) in fields.iter().enumerate() {
        let at = format!("{path}[{i}].jsonPath");
        let json_path = text(field, "jsonPath");
        if json_path.is_empty() {
            errors.push(FieldError::required(at, ""));
            continue;
        }
        let shown = string(json_path);
        let Some(segments) = json_path
            .strip_prefix('.')
            .map(|p| p.split('.').collect::<Vec<_>>())
        else {
            errors.push(invalid(
                at,
                &shown,
                "is an invalid path: must start with '.'",
            ));
            continue;
        };
        let mut node = Some(schema);
        for segment in &segments {
            node = node.and_then(|n| (!segment.is_empty()).then(|| schemas.field(n, segment))?);
        }
        let Some(target) = node else {
            errors.push(invalid(
                at,
                &shown,
                "is an invalid path: does not refer to a valid field",
            ));
            continue;
        };
        if segments.first() == Some(&"metadata") {
            errors.push(invalid(
                &*at,
                &shown,
                "must not point to fields in metadata",
            ));
        }
        if !["string", "boolean", "integer"].contains(&schemas.type_name(target)) {
            errors.push(invalid(
                &*at,
                &shown,
                "must point to a field of type string, boolean or integer. Enum string fields and strings with formats are allowed.",
            ));
        }
        let normalized = segments.join(".");
        if unique.contains(&normalized) {
            errors.push(duplicate(at, &shown));
        } else {
            unique.push(normalized);
        }
    }
    if unique.len() > MAX_SELECTABLE_FIELDS {
        errors.push(too_many(
            path,
            unique.len() as i64,
            MAX_SELECTABLE_FIELDS as i64,
        ));
    }
    errors
}

/// `conversion`: strategy `None`, or `Webhook` with a client config and review versions.
/// `caBundle` contents are not checked.
pub fn validate_conversion(
    conversion: Option<&Value>,
    require_recognized_version: bool,
    path: &str,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let Some(conversion) = conversion else {
        return errors;
    };
    let strategy = text(conversion, "strategy");
    errors.extend(enum_string(
        &format!("{path}.strategy"),
        strategy,
        &["None", "Webhook"],
        true,
    ));
    let webhook = conversion.get("webhook").filter(|w| !w.is_null());
    let client_config = webhook
        .and_then(|w| w.get("clientConfig"))
        .filter(|c| !c.is_null());
    let review_versions = strings(webhook.and_then(|w| w.get("conversionReviewVersions")));
    let config_path = format!("{path}.webhookClientConfig");
    let versions_path = format!("{path}.conversionReviewVersions");
    if strategy != "Webhook" {
        let detail = "should not be set when strategy is not set to Webhook";
        if client_config.is_some() {
            errors.push(FieldError::forbidden(config_path, detail));
        }
        if !review_versions.is_empty() {
            errors.push(FieldError::forbidden(versions_path, detail));
        }
        return errors;
    }
    match client_config {
        None => errors.push(FieldError::required(
            config_path,
            "required when strategy is set to Webhook",
        )),
        Some(config) => {
            let url = config.get("url").and_then(Value::as_str);
            let service = config.get("service").filter(|s| !s.is_null());
            match (url, service) {
                (Some(url), None) => {
                    errors.extend(validate_webhook_url(&format!("{config_path}.url"), url));
                }
                (None, Some(service)) => errors.extend(validate_webhook_service(
                    &format!("{config_path}.service"),
                    text(service, "name"),
                    text(service, "namespace"),
                    service.get("path").and_then(Value::as_str),
                    service.get("port").and_then(Value::as_i64).unwrap_or(443),
                )),
                _ => errors.push(FieldError::required(
                    config_path,
                    "exactly one of url or service is required",
                )),
            }
        }
    }
    errors.extend(review_versions_errors(
        &review_versions,
        require_recognized_version,
        &versions_path,
    ));
    errors
}

fn review_versions_errors(
    versions: &[&str],
    require_recognized: bool,
    path: &str,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if versions.is_empty() {
        errors.push(FieldError::required(path, ""));
        return errors;
    }
    let mut seen: Vec<&str> = Vec::new();
    let mut recognized = false;
    for (i, version) in versions.iter().enumerate() {
        let at = format!("{path}[{i}]");
        if seen.contains(version) {
            errors.push(invalid(at, &string(version), "duplicate version"));
            continue;
        }
        seen.push(version);
        for problem in is_dns1035_label(version) {
            errors.push(invalid(&*at, &string(version), &problem));
        }
        recognized |= *version == "v1" || *version == "v1beta1";
    }
    if require_recognized && !recognized {
        errors.push(invalid_printed(
            path,
            &go_strings(versions),
            "must include at least one of v1, v1beta1",
        ));
    }
    errors
}

/// A version's `deprecationWarning`: only on deprecated versions, 1-256 printable characters.
pub fn validate_deprecation_warning(version: &Value, path: &str) -> Vec<FieldError> {
    let Some(warning) = version.get("deprecationWarning").and_then(Value::as_str) else {
        return Vec::new();
    };
    let shown = string(warning);
    let at = format!("{path}.deprecationWarning");
    let deprecated = matches!(version.get("deprecated"), Some(Value::Bool(true)));
    if !deprecated {
        return vec![invalid(
            at,
            &shown,
            "can only be set for deprecated versions",
        )];
    }
    let mut problems = Vec::new();
    if warning.len() > 256 {
        problems.push("must be <= 256 characters long".to_string());
    }
    if warning.is_empty() {
        problems.push("must not be an empty string".to_string());
    }
    for (i, c) in warning.char_indices() {
        let printable = c == ' ' || !(c.is_whitespace() || c.is_control());
        if !printable {
            let kind = if c.is_control() {
                "control"
            } else {
                "non-printable"
            };
            problems.push(format!(
                "must only contain printable UTF-8 characters; {kind} character found at index {i}"
            ));
            break;
        }
    }
    problems
        .iter()
        .map(|problem| invalid(&*at, &shown, problem))
        .collect()
}

/// `status.storedVersions`: not empty, holds the storage version, and names only versions
/// still in `spec.versions` (given as name and storage flag).
pub fn validate_stored_versions(status: &Value, versions: &[(&str, bool)]) -> Vec<FieldError> {
    let path = "status.storedVersions";
    let stored_value = status.get("storedVersions").filter(|v| !v.is_null());
    let stored = strings(stored_value);
    let shown = match stored_value {
        None => "[]string(nil)".to_string(),
        Some(_) => go_strings(&stored),
    };
    let mut errors = Vec::new();
    let printed = |detail: &str| invalid_printed(path, &shown, detail);
    if stored.is_empty() {
        errors.push(printed("must have at least one stored version"));
        return errors;
    }
    for (name, storage) in versions {
        if *storage && !stored.contains(name) {
            errors.push(printed(&format!("must have the storage version {name}")));
        }
    }
    for (i, name) in stored.iter().enumerate() {
        let last = stored.iter().rposition(|s| s == name) == Some(i);
        if last && !versions.iter().any(|(v, _)| v == name) {
            errors.push(invalid(
                format!("{path}[{i}]"),
                &string(name),
                &format!(
                    "missing from spec.versions; {name} was previously a storage version, and must remain in spec.versions until a storage migration ensures no data remains persisted in {name} and removes {name} from status.storedVersions"
                ),
            ));
        }
    }
    errors
}

/// How an `api-approved.kubernetes.io` annotation reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Approval {
    Missing,
    Bypassed,
    Approved,
    Invalid,
}

fn approval_of(crd: &Value) -> (Approval, &str) {
    let annotation = crd
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(APPROVAL_ANNOTATION))
        .and_then(Value::as_str)
        .unwrap_or("");
    let state = if annotation.is_empty() {
        Approval::Missing
    } else if annotation.starts_with("unapproved") {
        Approval::Bypassed
    } else if is_absolute_url(annotation) {
        Approval::Approved
    } else {
        Approval::Invalid
    };
    (state, annotation)
}

fn is_absolute_url(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once("://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && !host.is_empty()
        && !text.contains(char::is_whitespace)
}

/// Groups under `k8s.io` and `kubernetes.io` need the API approval annotation.
pub fn validate_api_approval(crd: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let group = text(crd.get("spec").unwrap_or(&Value::Null), "group");
    let protected = ["k8s.io", "kubernetes.io"]
        .iter()
        .any(|g| group == *g || group.ends_with(&format!(".{g}")));
    if !protected {
        return Vec::new();
    }
    let (state, annotation) = approval_of(crd);
    if old.is_some_and(|o| approval_of(o).0 == state) {
        return Vec::new();
    }
    let path = format!("metadata.annotations[{APPROVAL_ANNOTATION}]");
    match state {
        Approval::Approved | Approval::Bypassed => Vec::new(),
        Approval::Missing => vec![FieldError::required(
            path,
            &format!(
                "protected groups must have approval annotation {APPROVAL_ANNOTATION:?}, see https://github.com/kubernetes/enhancements/pull/1111"
            ),
        )],
        Approval::Invalid => vec![invalid(
            path,
            &string(annotation),
            &format!(
                r#"protected groups must have approval annotation {APPROVAL_ANNOTATION:?} with either a URL or a reason starting with "unapproved", see https://github.com/kubernetes/enhancements/pull/1111"#
            ),
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shown(errors: Vec<FieldError>) -> Vec<String> {
        errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn names_rules() {
        let names = json!({"plural": "CronTabs", "kind": "Cron_Tab", "listKind": "Cron_Tab",
                           "shortNames": ["ct", "c t"]});
        let found = shown(validate_names(Some(&names), "spec.names"));
        assert_eq!(found.len(), 5);
        assert!(
            found[0]
                .starts_with(r#"spec.names.plural: Invalid value: "CronTabs": a DNS-1035 label"#)
        );
        assert!(found[1].starts_with(r#"spec.names.kind: Invalid value: "Cron_Tab": may have mixed case, but should otherwise match: a DNS-1035 label"#));
        assert!(found[3].starts_with(r#"spec.names.shortNames[1]: Invalid value: "c t""#));
        assert_eq!(
            found[4],
            r#"spec.names.listKind: Invalid value: "Cron_Tab": kind and listKind may not be the same"#
        );
    }

    #[test]
    fn scale_paths_and_columns() {
        let subresources = json!({"status": {}, "scale": {
            "specReplicasPath": ".status.replicas", "statusReplicasPath": "status.replicas",
            "labelSelectorPath": ".metadata.labels"}});
        assert_eq!(
            shown(validate_subresources(
                Some(&subresources),
                "spec.subresources"
            )),
            [
                r#"spec.subresources.scale.specReplicasPath: Invalid value: ".status.replicas": should be a json path under .spec"#,
                r#"spec.subresources.scale.statusReplicasPath: Invalid value: "status.replicas": must be a simple json path starting with ."#,
                r#"spec.subresources.scale.labelSelectorPath: Invalid value: ".metadata.labels": should be a json path under either .spec or .status"#,
            ]
        );
        let column = json!({"type": "time", "format": "hex", "jsonPath": ""});
        assert_eq!(
            shown(validate_column(&column, "spec.additionalPrinterColumns[0]")),
            [
                "spec.additionalPrinterColumns[0].name: Required value",
                r#"spec.additionalPrinterColumns[0].type: Invalid value: "time": must be one of boolean,date,integer,number,string"#,
                r#"spec.additionalPrinterColumns[0].format: Invalid value: "hex": must be one of byte,date,date-time,double,float,int32,int64,password"#,
                "spec.additionalPrinterColumns[0].JSONPath: Required value",
            ]
        );
    }

    #[test]
    fn conversion_rules() {
        assert!(
            validate_conversion(Some(&json!({"strategy": "None"})), true, "spec.conversion")
                .is_empty()
        );
        assert_eq!(
            shown(validate_conversion(
                Some(&json!({"strategy": "Magic"})),
                true,
                "spec.conversion"
            )),
            [
                r#"spec.conversion.strategy: Unsupported value: "Magic": supported values: "None", "Webhook""#
            ]
        );
        assert_eq!(
            shown(validate_conversion(
                Some(&json!({"strategy": "Webhook"})),
                true,
                "spec.conversion"
            )),
            [
                "spec.conversion.webhookClientConfig: Required value: required when strategy is set to Webhook",
                "spec.conversion.conversionReviewVersions: Required value",
            ]
        );
        let webhook = json!({"strategy": "Webhook", "webhook": {
            "clientConfig": {"service": {"name": "conv", "namespace": "default", "path": "/convert"}},
            "conversionReviewVersions": ["v2"]}});
        assert_eq!(
            shown(validate_conversion(Some(&webhook), true, "spec.conversion")),
            [
                r#"spec.conversion.conversionReviewVersions: Invalid value: []string{"v2"}: must include at least one of v1, v1beta1"#
            ]
        );
        let stray = json!({"strategy": "None", "webhook": {"conversionReviewVersions": ["v1"]}});
        assert_eq!(
            shown(validate_conversion(Some(&stray), true, "spec.conversion")),
            [
                "spec.conversion.conversionReviewVersions: Forbidden: should not be set when strategy is not set to Webhook"
            ]
        );
    }

    #[test]
    fn selectable_fields_and_deprecation() {
        let schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {"color": {"type": "string"},
                                                    "list": {"type": "array", "items": {"type": "string"}}}},
            "metadata": {"type": "object"}}});
        let fields = json!([{"jsonPath": ".spec.color"}, {"jsonPath": ".spec.color"},
                            {"jsonPath": ".spec.list"}, {"jsonPath": ".spec.nope"}]);
        assert_eq!(
            shown(validate_selectable_fields(
                fields.as_array().map_or(&[], Vec::as_slice),
                &schema,
                "spec.versions[0].selectableFields"
            )),
            [
                r#"spec.versions[0].selectableFields[1].jsonPath: Duplicate value: ".spec.color""#,
                r#"spec.versions[0].selectableFields[2].jsonPath: Invalid value: ".spec.list": must point to a field of type string, boolean or integer. Enum string fields and strings with formats are allowed."#,
                r#"spec.versions[0].selectableFields[3].jsonPath: Invalid value: ".spec.nope": is an invalid path: does not refer to a valid field"#,
            ]
        );
        let version = json!({"name": "v1", "deprecationWarning": "old"});
        assert_eq!(
            shown(validate_deprecation_warning(&version, "spec.versions[0]")),
            [
                r#"spec.versions[0].deprecationWarning: Invalid value: "old": can only be set for deprecated versions"#
            ]
        );
    }
}
