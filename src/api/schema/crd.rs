//! Validation of a `CustomResourceDefinition` (`apiextensions.k8s.io/v1`) on create and update,
//! as kube-apiserver validates it.
//!
//! Upstream validates the internal form of the object, into which a v1 CRD converts by hoisting
//! each of `schema`, `subresources`, `additionalPrinterColumns` and `selectableFields` to the
//! top of the spec when all versions carry the same value. Errors about them are then reported
//! at `spec.validation.openAPIV3Schema…`, `spec.subresources…` and
//! `spec.additionalPrinterColumns[i]…` (always so for a single-version CRD); otherwise at
//! `spec.versions[i].schema.openAPIV3Schema…` and so on. This module reproduces that.
//!
//! Not covered here: generic `ObjectMeta` rules other than the CRD's name, `caBundle` contents,
//! CEL rule compilation and cost.

use serde_json::Value;

use super::crd_lists::{has_invalid_map_list_keys, has_non_atomic_set_type};
use super::crd_parts::{
    enum_string, validate_api_approval, validate_column, validate_conversion,
    validate_deprecation_warning, validate_names, validate_selectable_fields,
    validate_stored_versions, validate_subresources,
};
use super::crd_schema::{
    SchemaRules, has_invalid_types, has_kubernetes_extensions, is_non_structural,
    validate_validation,
};
use super::messages::invalid;
use super::names::{is_dns1035_label, is_dns1123_subdomain, name_is_dns_subdomain};
use super::schema_defaults::{has_defaults, has_unpruned_defaults};
use super::walk::{flag, present, strings, text};
use crate::api::field_error::FieldError;

fn list<'a>(node: &'a Value, name: &str) -> &'a [Value] {
    node.get(name)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn string(value: &str) -> Value {
    Value::String(value.to_string())
}

/// One `spec.versions` entry, with the parts not hoisted to the top of the spec.
struct Version<'a> {
    raw: &'a Value,
    name: &'a str,
    served: bool,
    storage: bool,
    schema: Option<&'a Value>,
    subresources: Option<&'a Value>,
    columns: &'a [Value],
    selectable: &'a [Value],
}

/// A v1 CRD spec in upstream's internal shape.
struct Spec<'a> {
    raw: &'a Value,
    group: &'a str,
    scope: &'a str,
    names: Option<&'a Value>,
    versions: Vec<Version<'a>>,
    validation: Option<&'a Value>,
    subresources: Option<&'a Value>,
    columns: &'a [Value],
    selectable: &'a [Value],
    preserve_unknown_fields: bool,
    conversion: Option<&'a Value>,
}

impl<'a> Spec<'a> {
    fn read(crd: &'a Value) -> Spec<'a> {
        let raw = crd.get("spec").unwrap_or(&Value::Null);
        let mut versions: Vec<Version<'a>> = list(raw, "versions")
            .iter()
            .map(|v| Version {
                raw: v,
                name: text(v, "name"),
                served: flag(v, "served"),
                storage: flag(v, "storage"),
                schema: present(v, "schema"),
                subresources: present(v, "subresources"),
                columns: list(v, "additionalPrinterColumns"),
                selectable: list(v, "selectableFields"),
            })
            .collect();
        let mut spec = Spec {
            raw,
            group: text(raw, "group"),
            scope: text(raw, "scope"),
            names: present(raw, "names"),
            versions: Vec::new(),
            validation: None,
            subresources: None,
            columns: &[],
            selectable: &[],
            preserve_unknown_fields: flag(raw, "preserveUnknownFields"),
            conversion: present(raw, "conversion"),
        };
        if let Some(first) = versions.first() {
            let (schema, subresources) = (first.schema, first.subresources);
            let (columns, selectable) = (first.columns, first.selectable);
            if versions.iter().all(|v| v.schema == schema) {
                spec.validation = schema;
                versions.iter_mut().for_each(|v| v.schema = None);
            }
            if versions.iter().all(|v| v.subresources == subresources) {
                spec.subresources = subresources;
                versions.iter_mut().for_each(|v| v.subresources = None);
            }
            if versions.iter().all(|v| v.columns == columns) {
                spec.columns = columns;
                versions.iter_mut().for_each(|v| v.columns = &[]);
            }
            if versions.iter().all(|v| v.selectable == selectable) {
                spec.selectable = selectable;
                versions.iter_mut().for_each(|v| v.selectable = &[]);
            }
        }
        spec.versions = versions;
        spec
    }

    /// Every schema in the spec, hoisted or per version.
    fn schemas(&self) -> impl Iterator<Item = &'a Value> + '_ {
        self.validation
            .into_iter()
            .chain(self.versions.iter().filter_map(|v| v.schema))
            .filter_map(|validation| present(validation, "openAPIV3Schema"))
    }

    fn any_schema(&self, pred: fn(&Value) -> bool) -> bool {
        self.schemas().any(pred)
    }

    fn status_enabled(subresources: Option<&Value>) -> bool {
        subresources.is_some_and(|s| present(s, "status").is_some())
    }

    fn any_status(&self) -> bool {
        Self::status_enabled(self.subresources)
            || self
                .versions
                .iter()
                .any(|v| Self::status_enabled(v.subresources))
    }

    /// A version's subresources: its own, unless no version has its own.
    fn subresources_for(&self, version: &Version<'a>) -> Option<&'a Value> {
        if self.versions.iter().any(|v| v.subresources.is_some()) {
            version.subresources
        } else {
            self.subresources
        }
    }

    fn all_versions_have_schemas(&self) -> bool {
        self.validation
            .is_some_and(|v| present(v, "openAPIV3Schema").is_some())
            || self.versions.iter().all(|v| {
                v.schema
                    .is_some_and(|s| present(s, "openAPIV3Schema").is_some())
            })
    }
}

/// What the rules require; on update some follow what the old object already had.
struct Options {
    require_open_api_schema: bool,
    require_recognized_review_version: bool,
    require_immutable_names: bool,
    schema: SchemaRules,
}

impl Options {
    fn for_create() -> Options {
        Options {
            require_open_api_schema: true,
            require_recognized_review_version: true,
            require_immutable_names: false,
            schema: SchemaRules::default(),
        }
    }

    fn for_update(old_crd: &Value) -> Options {
        let old = Spec::read(old_crd);
        let review_versions = strings(
            old.conversion
                .and_then(|c| c.get("webhook"))
                .and_then(|w| w.get("conversionReviewVersions")),
        );
        Options {
            require_open_api_schema: old.all_versions_have_schemas(),
            require_recognized_review_version: review_versions.is_empty()
                || review_versions
                    .iter()
                    .any(|v| *v == "v1" || *v == "v1beta1"),
            require_immutable_names: is_established(old_crd),
            schema: SchemaRules {
                require_valid_property_type: !old.any_schema(has_invalid_types),
                require_structural: !old.any_schema(is_non_structural),
                require_pruned_defaults: !old.any_schema(has_unpruned_defaults),
                require_atomic_set_type: !old.any_schema(has_non_atomic_set_type),
                require_map_list_keys_map_set: !old.any_schema(has_invalid_map_list_keys),
            },
        }
    }
}

fn is_established(crd: &Value) -> bool {
    let conditions = crd.get("status").map_or(&[][..], |s| list(s, "conditions"));
    conditions
        .iter()
        .any(|c| text(c, "type") == "Established" && text(c, "status") == "True")
}

/// Validates a CustomResourceDefinition object itself (create when `old` is `None`, else
/// update): the `<plural>.<group>` name, group, scope, names, versions (exactly one storage
/// version, unique DNS-1035 names), each schema (structural, no forbidden keywords, pruned and
/// valid defaults), subresources, printer columns, selectable fields, conversion,
/// `status.storedVersions`, API approval for protected groups, and on update the immutable
/// group, plural (and scope and kind once established).
pub fn validate_crd(crd: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let spec = Spec::read(crd);
    let mut errors = Vec::new();
    let options = match old {
        None => {
            errors.extend(validate_name(crd, &spec));
            Options::for_create()
        }
        Some(old) => Options::for_update(old),
    };
    errors.extend(validate_spec(&spec, &options));
    if let Some(old) = old {
        errors.extend(validate_immutable(&spec, &Spec::read(old), &options));
    }
    let status = crd.get("status").unwrap_or(&Value::Null);
    errors.extend(validate_names(
        present(status, "acceptedNames"),
        "status.acceptedNames",
    ));
    let versions: Vec<(&str, bool)> = spec.versions.iter().map(|v| (v.name, v.storage)).collect();
    errors.extend(validate_stored_versions(status, &versions));
    errors.extend(validate_api_approval(crd, old));
    let old_preserves = old.is_some_and(|o| Spec::read(o).preserve_unknown_fields);
    if !old_preserves && spec.preserve_unknown_fields {
        errors.push(invalid(
            "spec.preserveUnknownFields",
            &Value::Bool(true),
            "cannot set to true, set x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead",
        ));
    }
    errors
}

/// `metadata.name` (and `generateName`) must be `<spec.names.plural>.<spec.group>`.
fn validate_name(crd: &Value, spec: &Spec<'_>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let metadata = crd.get("metadata").unwrap_or(&Value::Null);
    let plural = spec.names.map_or("", |n| text(n, "plural"));
    let required = format!("{plural}.{}", spec.group);
    let rules = |name: &str, prefix: bool| {
        let mut problems = name_is_dns_subdomain(name, prefix);
        if name != required {
            problems.push(r#"must be spec.names.plural+"."+spec.group"#.to_string());
        }
        problems
    };
    let generate_name = text(metadata, "generateName");
    if !generate_name.is_empty() {
        for problem in rules(generate_name, true) {
            errors.push(invalid(
                "metadata.generateName",
                &string(generate_name),
                &problem,
            ));
        }
    }
    let name = text(metadata, "name");
    if name.is_empty() {
        errors.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        for problem in rules(name, false) {
            errors.push(invalid("metadata.name", &string(name), &problem));
        }
    }
    errors
}

fn validate_spec(spec: &Spec<'_>, options: &Options) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if spec.group.is_empty() {
        errors.push(FieldError::required("spec.group", ""));
    } else {
        let problems = is_dns1123_subdomain(spec.group);
        if !problems.is_empty() {
            errors.push(invalid(
                "spec.group",
                &string(spec.group),
                &problems.join(","),
            ));
        } else if spec.group.split('.').count() < 2 {
            errors.push(invalid(
                "spec.group",
                &string(spec.group),
                "should be a domain with at least one dot",
            ));
        }
    }
    errors.extend(enum_string(
        "spec.scope",
        spec.scope,
        &["Cluster", "Namespaced"],
        true,
    ));

    let mut rules = options.schema;
    if !spec.preserve_unknown_fields {
        rules.require_structural = true;
    }
    let top_schema = spec.validation.and_then(|v| present(v, "openAPIV3Schema"));
    if top_schema.is_none() {
        for (i, version) in spec.versions.iter().enumerate() {
            let missing = version
                .schema
                .and_then(|s| present(s, "openAPIV3Schema"))
                .is_none();
            let at = format!("spec.versions[{i}].schema.openAPIV3Schema");
            if options.require_open_api_schema && missing {
                errors.push(FieldError::required(at, ""));
            } else if !options.require_open_api_schema
                && !spec.preserve_unknown_fields
                && version.served
                && missing
            {
                errors.push(FieldError::required(
                    at,
                    "because otherwise all fields are pruned",
                ));
            }
        }
    }
    if spec.any_schema(has_defaults) {
        rules.require_structural = true;
        if spec.preserve_unknown_fields {
            errors.push(invalid(
                "spec.preserveUnknownFields",
                &Value::Bool(true),
                "must be false in order to use defaults in the schema",
            ));
        }
    }
    if spec.any_schema(has_kubernetes_extensions) {
        rules.require_structural = true;
    }

    let mut storage = 0;
    let mut seen: Vec<&str> = Vec::new();
    let mut unique = true;
    for (i, version) in spec.versions.iter().enumerate() {
        let at = format!("spec.versions[{i}]");
        storage += usize::from(version.storage);
        if seen.contains(&version.name) {
            unique = false;
        } else {
            seen.push(version.name);
        }
        let problems = is_dns1035_label(version.name);
        if !problems.is_empty() {
            errors.push(invalid(
                format!("{at}.name"),
                &string(version.name),
                &problems.join(","),
            ));
        }
        errors.extend(validate_deprecation_warning(version.raw, &at));
        let status = Spec::status_enabled(spec.subresources_for(version));
        errors.extend(validate_validation(
            version.schema,
            status,
            &rules,
            &format!("{at}.schema"),
        ));
        errors.extend(validate_subresources(
            version.subresources,
            &format!("{at}.subresources"),
        ));
        for (j, column) in version.columns.iter().enumerate() {
            errors.extend(validate_column(
                column,
                &format!("{at}.additionalPrinterColumns[{j}]"),
            ));
        }
        if !version.selectable.is_empty() {
            let path = format!("{at}.selectableFields");
            match version.schema.and_then(|s| present(s, "openAPIV3Schema")) {
                None => errors.push(invalid(
                    path,
                    &string(""),
                    "may only be set when `version.schema.openAPIV3Schema` is not included",
                )),
                Some(schema) => {
                    errors.extend(validate_selectable_fields(
                        version.selectable,
                        schema,
                        &path,
                    ));
                }
            }
        }
    }
    let versions_value = spec.raw.get("versions").cloned().unwrap_or(Value::Null);
    if !unique {
        errors.push(invalid(
            "spec.versions",
            &versions_value,
            "must contain unique version names",
        ));
    }
    if storage != 1 {
        errors.push(invalid(
            "spec.versions",
            &versions_value,
            "must have exactly one version marked as storage version",
        ));
    }
    if let Some(first) = spec.versions.first().filter(|v| !v.name.is_empty()) {
        let problems = is_dns1035_label(first.name);
        if !problems.is_empty() {
            errors.push(invalid(
                "spec.version",
                &string(first.name),
                &problems.join(","),
            ));
        }
    }
    let names = spec.names.unwrap_or(&Value::Null);
    for field in ["plural", "singular", "kind", "listKind"] {
        if text(names, field).is_empty() {
            errors.push(FieldError::required(format!("spec.names.{field}"), ""));
        }
    }
    errors.extend(validate_names(spec.names, "spec.names"));
    errors.extend(validate_validation(
        spec.validation,
        spec.any_status(),
        &rules,
        "spec.validation",
    ));
    errors.extend(validate_subresources(
        spec.subresources,
        "spec.subresources",
    ));
    for (i, column) in spec.columns.iter().enumerate() {
        errors.extend(validate_column(
            column,
            &format!("spec.additionalPrinterColumns[{i}]"),
        ));
    }
    if !spec.selectable.is_empty() {
        match top_schema {
            None => errors.push(invalid(
                "spec.selectableFields",
                &string(""),
                "may only be set when validations.schema is included",
            )),
            Some(schema) => errors.extend(validate_selectable_fields(
                spec.selectable,
                schema,
                "spec.selectableFields",
            )),
        }
    }
    let strategy = spec.conversion.map_or("", |c| text(c, "strategy"));
    if spec.conversion.is_some() && strategy != "None" && spec.preserve_unknown_fields {
        errors.push(invalid(
            "spec.conversion.strategy",
            &string(strategy),
            "must be None if spec.preserveUnknownFields is true",
        ));
    }
    errors.extend(validate_conversion(
        spec.conversion,
        options.require_recognized_review_version,
        "spec.conversion",
    ));
    errors
}

fn validate_immutable(spec: &Spec<'_>, old: &Spec<'_>, options: &Options) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let name = |s: &Spec<'_>, field: &str| s.names.map_or("", |n| text(n, field)).to_string();
    let mut check = |path: &str, new: String, was: String| {
        if new != was {
            errors.push(invalid(path, &Value::String(new), "field is immutable"));
        }
    };
    if options.require_immutable_names {
        check("spec.scope", spec.scope.to_string(), old.scope.to_string());
        check("spec.names.kind", name(spec, "kind"), name(old, "kind"));
    }
    check("spec.group", spec.group.to_string(), old.group.to_string());
    check(
        "spec.names.plural",
        name(spec, "plural"),
        name(old, "plural"),
    );
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::schema::{apply_defaults, default_crd, prune, validate};
    use serde_json::json;

    fn crontab() -> Value {
        let mut crd = json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "crontabs.stable.example.com"},
            "spec": {
                "group": "stable.example.com",
                "scope": "Namespaced",
                "names": {"plural": "crontabs", "kind": "CronTab", "shortNames": ["ct"]},
                "versions": [{
                    "name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                        "spec": {"type": "object", "properties": {
                            "cronSpec": {"type": "string",
                                         "pattern": r"^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$"},
                            "image": {"type": "string"},
                            "replicas": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
                        }},
                        "status": {"type": "object", "properties": {
                            "replicas": {"type": "integer"},
                            "labelSelector": {"type": "string"},
                        }},
                    }}},
                    "subresources": {"status": {}, "scale": {
                        "specReplicasPath": ".spec.replicas",
                        "statusReplicasPath": ".status.replicas",
                        "labelSelectorPath": ".status.labelSelector",
                    }},
                    "additionalPrinterColumns": [
                        {"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"},
                        {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                }],
            },
        });
        default_crd(&mut crd);
        crd
    }

    fn shown(errors: Vec<FieldError>) -> Vec<String> {
        errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_realistic_crontab_is_valid() {
        let crd = crontab();
        assert_eq!(shown(validate_crd(&crd, None)), Vec::<String>::new());
        assert_eq!(shown(validate_crd(&crd, Some(&crd))), Vec::<String>::new());
    }

    #[test]
    fn crontab_objects_are_pruned_defaulted_and_validated() {
        let crd = crontab();
        let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        let mut object = json!({
            "apiVersion": "stable.example.com/v1", "kind": "CronTab",
            "metadata": {"name": "my-cron"},
            "spec": {"cronSpec": "* * * * */5", "image": "my-cron-image", "color": "blue"},
        });
        assert_eq!(prune(schema, &mut object, None), ["spec.color"]);
        apply_defaults(schema, &mut object, None);
        assert_eq!(object["spec"]["replicas"], 1);
        assert!(validate(schema, &object, None).is_empty());

        object["spec"]["cronSpec"] = json!("every minute");
        object["spec"]["replicas"] = json!(11);
        assert_eq!(
            shown(validate(schema, &object, None)),
            [
                r#"spec.cronSpec: Invalid value: "every minute": spec.cronSpec in body should match '^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$'"#,
                "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10",
            ]
        );
    }

    #[test]
    fn a_non_structural_schema_is_rejected() {
        let mut crd = crontab();
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
            .as_object_mut()
            .map(|spec| spec.remove("type"));
        assert_eq!(
            shown(validate_crd(&crd, None)),
            [
                "spec.validation.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields"
            ]
        );
        // With per-version schemas that differ, errors point into the version.
        let mut second = crd["spec"]["versions"][0].clone();
        second["name"] = json!("v2");
        second["storage"] = json!(false);
        second["schema"] = json!({"openAPIV3Schema": {"type": "object"}});
        if let Some(v) = crd["spec"]["versions"].as_array_mut() {
            v.push(second)
        }
        assert_eq!(
            shown(validate_crd(&crd, None)),
            [
                "spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields"
            ]
        );
    }

    #[test]
    fn spec_level_rules() {
        let crd = json!({
            "metadata": {"name": "crontabs.example"},
            "spec": {
                "group": "example", "scope": "Everywhere",
                "names": {"plural": "crontabs", "kind": "CronTab"},
                "versions": [
                    {"name": "v1", "served": true, "storage": false, "schema": {"openAPIV3Schema": {"type": "object"}}},
                    {"name": "v1", "served": true, "storage": false},
                ],
            },
            "status": {"storedVersions": ["v1", "v0"]},
        });
        let found = shown(validate_crd(&crd, None));
        assert_eq!(
            found[0],
            r#"spec.group: Invalid value: "example": should be a domain with at least one dot"#
        );
        assert_eq!(
            found[1],
            r#"spec.scope: Unsupported value: "Everywhere": supported values: "Cluster", "Namespaced""#
        );
        assert_eq!(
            found[2],
            "spec.versions[1].schema.openAPIV3Schema: Required value"
        );
        assert!(
            found[3].starts_with(
                "spec.versions: Invalid value: []interface {}{map[string]interface {}{"
            )
        );
        assert!(found[3].ends_with(": must contain unique version names"));
        assert!(found[4].ends_with(": must have exactly one version marked as storage version"));
        assert_eq!(
            &found[5..],
            [
                "spec.names.singular: Required value",
                "spec.names.listKind: Required value",
                "status.storedVersions[1]: Invalid value: \"v0\": missing from spec.versions; v0 was previously a storage version, and must remain in spec.versions until a storage migration ensures no data remains persisted in v0 and removes v0 from status.storedVersions",
            ]
        );
    }

    #[test]
    fn version_names_are_dns_labels() {
        let mut crd = crontab();
        crd["spec"]["versions"][0]["name"] = json!("V1");
        crd["status"]["storedVersions"] = json!(["V1"]);
        let label = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
        assert_eq!(
            shown(validate_crd(&crd, None)),
            [
                format!(r#"spec.versions[0].name: Invalid value: "V1": {label}"#),
                format!(r#"spec.version: Invalid value: "V1": {label}"#),
            ]
        );
    }

    #[test]
    fn name_must_be_plural_dot_group() {
        let mut crd = crontab();
        crd["metadata"]["name"] = json!("crontab.stable.example.com");
        assert_eq!(
            shown(validate_crd(&crd, None)),
            [
                r#"metadata.name: Invalid value: "crontab.stable.example.com": must be spec.names.plural+"."+spec.group"#
            ]
        );
        crd["metadata"] = json!({});
        assert_eq!(
            shown(validate_crd(&crd, None)),
            ["metadata.name: Required value: name or generateName is required"]
        );
    }

    #[test]
    fn storage_version_must_be_stored() {
        let mut crd = crontab();
        crd["status"]["storedVersions"] = json!([]);
        assert_eq!(
            shown(validate_crd(&crd, None)),
            [
                "status.storedVersions: Invalid value: []string{}: must have at least one stored version"
            ]
        );
        crd["status"]["storedVersions"] = json!(["v1beta1"]);
        let found = shown(validate_crd(&crd, None));
        assert_eq!(
            found[0],
            r#"status.storedVersions: Invalid value: []string{"v1beta1"}: must have the storage version v1"#
        );
    }

    #[test]
    fn update_rules() {
        let old = crontab();
        let mut new = old.clone();
        new["spec"]["group"] = json!("other.example.com");
        new["spec"]["names"]["plural"] = json!("crons");
        new["spec"]["scope"] = json!("Cluster");
        let found = shown(validate_crd(&new, Some(&old)));
        assert_eq!(
            found,
            [
                r#"spec.group: Invalid value: "other.example.com": field is immutable"#,
                r#"spec.names.plural: Invalid value: "crons": field is immutable"#,
            ]
        );
        let mut established = old.clone();
        established["status"]["conditions"] = json!([{"type": "Established", "status": "True"}]);
        let mut scoped = old.clone();
        scoped["spec"]["scope"] = json!("Cluster");
        assert_eq!(
            shown(validate_crd(&scoped, Some(&established))),
            [r#"spec.scope: Invalid value: "Cluster": field is immutable"#]
        );
    }

    #[test]
    fn protected_groups_need_approval_and_preserve_unknown_fields_is_refused() {
        let mut crd = crontab();
        crd["spec"]["group"] = json!("stable.k8s.io");
        crd["metadata"]["name"] = json!("crontabs.stable.k8s.io");
        assert_eq!(
            shown(validate_crd(&crd, None)),
            [
                r#"metadata.annotations[api-approved.kubernetes.io]: Required value: protected groups must have approval annotation "api-approved.kubernetes.io", see https://github.com/kubernetes/enhancements/pull/1111"#
            ]
        );
        crd["metadata"]["annotations"] = json!({"api-approved.kubernetes.io": "https://github.com/kubernetes/kubernetes/pull/1"});
        assert!(validate_crd(&crd, None).is_empty());

        let mut open = crontab();
        open["spec"]["preserveUnknownFields"] = json!(true);
        assert_eq!(
            shown(validate_crd(&open, None)),
            [
                "spec.preserveUnknownFields: Invalid value: true: must be false in order to use defaults in the schema",
                "spec.preserveUnknownFields: Invalid value: true: cannot set to true, set x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead",
            ]
        );
    }
}
