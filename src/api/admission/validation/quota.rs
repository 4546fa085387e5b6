//! LimitRanges (limit types, resource names, min ≤ default request ≤ default ≤ max, ratios)
//! and ResourceQuotas (resource names, values, scopes and scope selectors).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::json::Node;
use super::meta::FIELD_IMMUTABLE;
use super::names::{invalid_each, label_key_errors};
use super::quantity::Quantity;
use super::resources::{
    is_overcommit_allowed, is_pod_compute_resource, is_standard_quota_resource, read_resource_list,
    validate_container_resource_name, validate_quota_resource_name, validate_resource_name,
    validate_resource_quantity_value,
};
use crate::api::field_error::{FieldError, Path};

const LIMIT_TYPES: [&str; 3] = ["Pod", "Container", "PersistentVolumeClaim"];
const QUOTA_SCOPES: [&str; 7] = [
    "Terminating",
    "NotTerminating",
    "BestEffort",
    "NotBestEffort",
    "PriorityClass",
    "CrossNamespacePodAffinity",
    "VolumeAttributesClass",
];

type Quantities<'a> = BTreeMap<&'a str, Quantity>;

fn limit_resources<'a>(
    limit: &Node<'a>,
    key: &str,
    kind: &str,
    keys: &mut BTreeSet<&'a str>,
    errs: &mut Vec<FieldError>,
) -> Quantities<'a> {
    let mut out = BTreeMap::new();
    for (name, path, q) in read_resource_list(&limit.field(key), errs) {
        if kind == "Pod" || kind == "Container" {
            validate_container_resource_name(&path, name, errs);
        } else {
            validate_resource_name(&path, name, errs);
        }
        keys.insert(name);
        out.insert(name, q);
    }
    out
}

/// Upstream's `ValidateLimitRange` (everything but the metadata).
pub(crate) fn validate_limit_range(obj: &Node, errs: &mut Vec<FieldError>) {
    let mut types = BTreeSet::new();
    for limit in obj.at(&["spec", "limits"]).items(errs) {
        let type_node = limit.field("type");
        let kind = type_node.str(errs);
        let msgs = label_key_errors(kind);
        if !msgs.is_empty() {
            errs.extend(invalid_each(type_node.path(), kind, msgs));
        } else if !kind.contains('/') && !LIMIT_TYPES.contains(&kind) {
            errs.push(FieldError::invalid(
                type_node.path(),
                &Value::from(kind),
                "must be a standard limit type or fully qualified",
            ));
        }
        if !types.insert(kind) {
            errs.push(FieldError::duplicate(type_node.path(), &Value::from(kind)));
        }
        let mut keys = BTreeSet::new();
        let max = limit_resources(&limit, "max", kind, &mut keys, errs);
        let min = limit_resources(&limit, "min", kind, &mut keys, errs);
        let (mut defaults, mut requests) = (BTreeMap::new(), BTreeMap::new());
        if kind == "Pod" {
            for key in ["default", "defaultRequest"] {
                if limit.field(key).len() > 0 {
                    errs.push(FieldError::forbidden(
                        limit.path().child(key),
                        "may not be specified when `type` is 'Pod'",
                    ));
                }
            }
        } else {
            defaults = limit_resources(&limit, "default", kind, &mut keys, errs);
            requests = limit_resources(&limit, "defaultRequest", kind, &mut keys, errs);
        }
        if kind == "PersistentVolumeClaim"
            && !min.contains_key("storage")
            && !max.contains_key("storage")
        {
            errs.push(FieldError::required(
                limit.path().child("limits"),
                "either minimum or maximum storage value is required, but neither was provided",
            ));
        }
        let ratios = limit_resources(&limit, "maxLimitRequestRatio", kind, &mut keys, errs);
        for key in keys {
            let at = |field: &str| limit.path().child(field).key(key);
            let shown = |q: &Quantity| Value::from(q.to_canonical_string());
            let (mn, mx, df, dr, ratio) = (
                min.get(key),
                max.get(key),
                defaults.get(key),
                requests.get(key),
                ratios.get(key),
            );
            if let (Some(mn), Some(mx)) = (mn, mx)
                && mn > mx
            {
                errs.push(FieldError::invalid(
                    at("min"),
                    &shown(mn),
                    &format!("min value {mn} is greater than max value {mx}"),
                ));
            }
            if let (Some(dr), Some(mn)) = (dr, mn)
                && mn > dr
            {
                errs.push(FieldError::invalid(
                    at("defaultRequest"),
                    &shown(dr),
                    &format!("min value {mn} is greater than default request value {dr}"),
                ));
            }
            if let (Some(dr), Some(mx)) = (dr, mx)
                && dr > mx
            {
                errs.push(FieldError::invalid(
                    at("defaultRequest"),
                    &shown(dr),
                    &format!("default request value {dr} is greater than max value {mx}"),
                ));
            }
            if let (Some(dr), Some(df)) = (dr, df)
                && dr > df
            {
                errs.push(FieldError::invalid(
                    at("defaultRequest"),
                    &shown(dr),
                    &format!("default request value {dr} is greater than default limit value {df}"),
                ));
            }
            if let (Some(df), Some(mn)) = (df, mn)
                && mn > df
            {
                errs.push(FieldError::invalid(
                    at("default"),
                    &shown(mn),
                    &format!("min value {mn} is greater than default value {df}"),
                ));
            }
            if let (Some(df), Some(mx)) = (df, mx)
                && df > mx
            {
                errs.push(FieldError::invalid(
                    at("default"),
                    &shown(mx),
                    &format!("default value {df} is greater than max value {mx}"),
                ));
            }
            if let Some(ratio) = ratio {
                if *ratio < Quantity::from_units(1) {
                    errs.push(FieldError::invalid(
                        at("maxLimitRequestRatio"),
                        &shown(ratio),
                        &format!("ratio {ratio} is less than 1"),
                    ));
                }
                if let (Some(mn), Some(mx)) = (mn, mx) {
                    let limit_ratio = mx.milli_value() as f64 / mn.milli_value() as f64;
                    if (ratio.milli_value() as f64 / 1000.0) > limit_ratio {
                        errs.push(FieldError::invalid(
                            at("maxLimitRequestRatio"),
                            &shown(ratio),
                            &format!("ratio {ratio} is greater than max/min = {limit_ratio:.6}"),
                        ));
                    }
                }
            }
            if let (Some(df), Some(dr)) = (df, dr)
                && !is_overcommit_allowed(key)
                && df != dr
            {
                errs.push(FieldError::invalid(
                    at("defaultRequest"),
                    &shown(dr),
                    &format!("default value {df} must equal to defaultRequest value {dr} in {key}"),
                ));
            }
        }
    }
}

fn quota_list(list: &Node, errs: &mut Vec<FieldError>) {
    for (name, path, q) in read_resource_list(list, errs) {
        validate_quota_resource_name(&path, name, errs);
        validate_resource_quantity_value(&path, name, &q, errs);
    }
}

fn scope_valid_for(scope: &str, resource: &str) -> bool {
    match scope {
        "Terminating"
        | "NotTerminating"
        | "NotBestEffort"
        | "PriorityClass"
        | "CrossNamespacePodAffinity" => resource == "pods" || is_pod_compute_resource(resource),
        "BestEffort" => resource == "pods",
        _ => true,
    }
}

fn conflicting(scopes: &BTreeSet<&str>) -> bool {
    (scopes.contains("BestEffort") && scopes.contains("NotBestEffort"))
        || (scopes.contains("Terminating") && scopes.contains("NotTerminating"))
}

fn quota_spec(spec: &Node, errs: &mut Vec<FieldError>) {
    let hard = spec.field("hard");
    quota_list(&hard, errs);
    let mut ignored = Vec::new();
    let hard_names: Vec<&str> = hard.entries(&mut ignored).iter().map(|(k, _)| *k).collect();
    let scopes_node = spec.field("scopes");
    let scopes = scopes_node.string_list(errs);
    let mut set = BTreeSet::new();
    for scope in &scopes {
        if !QUOTA_SCOPES.contains(scope) {
            errs.push(FieldError::invalid(
                scopes_node.path(),
                scopes_node.value(),
                "unsupported scope",
            ));
        }
        for name in &hard_names {
            if is_standard_quota_resource(name) && !scope_valid_for(scope, name) {
                errs.push(FieldError::invalid(
                    scopes_node.path(),
                    scopes_node.value(),
                    "unsupported scope applied to resource",
                ));
            }
        }
        set.insert(*scope);
    }
    if conflicting(&set) {
        errs.push(FieldError::invalid(
            scopes_node.path(),
            scopes_node.value(),
            "conflicting scopes",
        ));
    }
    let selector = spec.field("scopeSelector");
    if !selector.is_set() {
        return;
    }
    let exprs_path = selector.path().child("matchExpressions");
    let mut selected = BTreeSet::new();
    for req in selector.field("matchExpressions").items(errs) {
        let name_node = req.field("scopeName");
        let scope = name_node.str(errs);
        if !QUOTA_SCOPES.contains(&scope) {
            errs.push(FieldError::invalid(
                exprs_path.child("scopeName"),
                &Value::from(scope),
                "unsupported scope",
            ));
        }
        for name in &hard_names {
            if is_standard_quota_resource(name) && !scope_valid_for(scope, name) {
                errs.push(FieldError::invalid(
                    &exprs_path,
                    selector.value(),
                    "unsupported scope applied to resource",
                ));
            }
        }
        let operator = req.field("operator").str(errs);
        if [
            "BestEffort",
            "NotBestEffort",
            "Terminating",
            "NotTerminating",
            "CrossNamespacePodAffinity",
        ]
        .contains(&scope)
            && operator != "Exists"
        {
            errs.push(FieldError::invalid(
                exprs_path.child("operator"),
                &Value::from(operator),
                "must be 'Exists' when scope is any of ResourceQuotaScopeTerminating, ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort, ResourceQuotaScopeNotBestEffort or ResourceQuotaScopeCrossNamespacePodAffinity",
            ));
        }
        let values = req.field("values");
        match operator {
            "In" | "NotIn" if values.len() == 0 => errs.push(FieldError::required(
                exprs_path.child("values"),
                "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector",
            )),
            "Exists" | "DoesNotExist" if values.len() != 0 => errs.push(FieldError::invalid(
                exprs_path.child("values"),
                values.value(),
                "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => errs.push(FieldError::invalid(
                exprs_path.child("operator"),
                &Value::from(other),
                "not a valid selector operator",
            )),
        }
        selected.insert(scope);
    }
    if conflicting(&selected) {
        errs.push(FieldError::invalid(
            &exprs_path,
            scopes_node.value(),
            "conflicting scopes",
        ));
    }
}

/// Upstream's `ValidateResourceQuota` (everything but the metadata).
pub(crate) fn validate_resource_quota(obj: &Node, errs: &mut Vec<FieldError>) {
    quota_spec(&obj.field("spec"), errs);
    quota_list(&obj.at(&["status", "hard"]), errs);
    quota_list(&obj.at(&["status", "used"]), errs);
}

/// Upstream's `ValidateResourceQuotaUpdate`: scopes never change.
pub(crate) fn validate_resource_quota_update(new: &Node, old: &Node, errs: &mut Vec<FieldError>) {
    quota_spec(&new.field("spec"), errs);
    let mut ignored = Vec::new();
    let scopes: BTreeSet<&str> = new
        .at(&["spec", "scopes"])
        .string_list(&mut ignored)
        .into_iter()
        .collect();
    let old_scopes: BTreeSet<&str> = old
        .at(&["spec", "scopes"])
        .string_list(&mut ignored)
        .into_iter()
        .collect();
    if scopes != old_scopes {
        errs.push(FieldError::invalid(
            Path::root("spec").child("scopes"),
            new.at(&["spec", "scopes"]).value(),
            FIELD_IMMUTABLE,
        ));
    }
}

/// Upstream's `ValidateResourceQuotaStatusUpdate`.
pub(crate) fn validate_resource_quota_status(new: &Node, errs: &mut Vec<FieldError>) {
    if new
        .at(&["metadata", "resourceVersion"])
        .str(errs)
        .is_empty()
    {
        errs.push(FieldError::required("resourceVersion", ""));
    }
    quota_list(&new.at(&["status", "hard"]), errs);
    quota_list(&new.at(&["status", "used"]), errs);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(f: fn(&Node, &mut Vec<FieldError>), obj: Value) -> Vec<String> {
        let mut errs = Vec::new();
        f(&Node::root(&obj), &mut errs);
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn limit_range_ordering() {
        let lr = json!({"spec": {"limits": [{"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}}]}});
        assert_eq!(
            run(validate_limit_range, lr),
            vec![
                "spec.limits[0].min[cpu]: Invalid value: \"2\": min value 2 is greater than max value 1"
            ]
        );
        let lr = json!({"spec": {"limits": [{"type": "Pod", "default": {"cpu": "1"}}]}});
        assert_eq!(
            run(validate_limit_range, lr),
            vec!["spec.limits[0].default: Forbidden: may not be specified when `type` is 'Pod'"]
        );
    }

    #[test]
    fn quota_names_and_scopes() {
        assert!(
            run(
                validate_resource_quota,
                json!({"spec": {"hard": {"pods": "10", "requests.cpu": "4"}}})
            )
            .is_empty()
        );
        assert_eq!(
            run(
                validate_resource_quota,
                json!({"spec": {"hard": {"pods": "1.5"}}})
            ),
            vec!["spec.hard[pods]: Invalid value: \"1500m\": must be an integer"]
        );
        assert_eq!(
            run(
                validate_resource_quota,
                json!({"spec": {"hard": {"widgets": "1"}}})
            ),
            vec![
                "spec.hard[widgets]: Invalid value: \"widgets\": must be a standard resource type or fully qualified",
                "spec.hard[widgets]: Invalid value: \"widgets\": must be a standard resource for quota",
            ]
        );
        assert_eq!(
            run(
                validate_resource_quota,
                json!({"spec": {"hard": {"pods": "1"}, "scopes": ["BestEffort", "NotBestEffort"]}})
            ),
            vec![
                "spec.scopes: Invalid value: [\"BestEffort\",\"NotBestEffort\"]: conflicting scopes"
            ]
        );
    }
}
