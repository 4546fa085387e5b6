//! Placement constraints: node selector terms, node and pod (anti-)affinity, tolerations,
//! taints and topology spread constraints (shared by pods, nodes and persistent volumes).

use std::collections::BTreeSet;

use serde_json::Value;

use super::json::Node;
use super::meta::{validate_label_name, validate_label_selector};
use super::names::{NameRule, invalid_each, label_value_errors};
use crate::api::field_error::FieldError;

const TAINT_EFFECTS: [&str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

/// Upstream's `ValidateNodeSelectorRequirement` (matchExpressions of node selector terms).
fn node_selector_requirement(req: &Node, errs: &mut Vec<FieldError>) {
    let values = req.field("values");
    let n = values.string_list(errs).len();
    let operator = req.field("operator");
    match operator.str(errs) {
        "In" | "NotIn" if n == 0 => errs.push(FieldError::required(
            values.path(),
            "must be specified when `operator` is 'In' or 'NotIn'",
        )),
        "Exists" | "DoesNotExist" if n > 0 => errs.push(FieldError::forbidden(
            values.path(),
            "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
        )),
        "Gt" | "Lt" if n != 1 => errs.push(FieldError::required(
            values.path(),
            "must be specified single value when `operator` is 'Lt' or 'Gt'",
        )),
        "In" | "NotIn" | "Exists" | "DoesNotExist" | "Gt" | "Lt" => {}
        op => errs.push(FieldError::invalid(
            operator.path(),
            &Value::from(op),
            "not a valid selector operator",
        )),
    }
    let key = req.field("key");
    validate_label_name(key.path(), key.str(errs), errs);
}

/// Upstream's `ValidateNodeFieldSelectorRequirement` (matchFields: only `metadata.name`).
fn node_field_selector_requirement(req: &Node, errs: &mut Vec<FieldError>) {
    let values = req.field("values");
    let list = values.string_list(errs);
    let operator = req.field("operator");
    match operator.str(errs) {
        "In" | "NotIn" if list.len() != 1 => errs.push(FieldError::required(
            values.path(),
            "must be only one value when `operator` is 'In' or 'NotIn' for node field selector",
        )),
        "In" | "NotIn" => {}
        op => errs.push(FieldError::invalid(
            operator.path(),
            &Value::from(op),
            "not a valid selector operator",
        )),
    }
    let key = req.field("key");
    let k = key.str(errs);
    if k != "metadata.name" {
        errs.push(FieldError::invalid(
            key.path(),
            &Value::from(k),
            "not a valid field selector key",
        ));
    } else {
        for (i, v) in list.iter().enumerate() {
            errs.extend(invalid_each(
                &values.path().index(i),
                v,
                NameRule::Dns1123Subdomain.errors(v, false),
            ));
        }
    }
}

/// Upstream's `ValidateNodeSelectorTerm`.
pub(crate) fn node_selector_term(term: &Node, errs: &mut Vec<FieldError>) {
    for req in term.field("matchExpressions").items(errs) {
        node_selector_requirement(&req, errs);
    }
    for req in term.field("matchFields").items(errs) {
        node_field_selector_requirement(&req, errs);
    }
}

/// Upstream's `ValidateNodeSelector`: at least one term.
pub(crate) fn node_selector(selector: &Node, errs: &mut Vec<FieldError>) {
    let terms = selector.field("nodeSelectorTerms");
    let items = terms.items(errs);
    if items.is_empty() {
        errs.push(FieldError::required(
            terms.path(),
            "must have at least one node selector term",
        ));
        return;
    }
    for term in items {
        node_selector_term(&term, errs);
    }
}

fn weight(node: &Node, errs: &mut Vec<FieldError>) {
    let w = node.int(errs);
    if !(1..=100).contains(&w) {
        errs.push(FieldError::invalid(
            node.path(),
            &Value::from(w),
            "must be in the range 1-100",
        ));
    }
}

fn label_keys(list: &Node, selector_set: bool, errs: &mut Vec<FieldError>) -> Vec<String> {
    let keys: Vec<String> = list
        .string_list(errs)
        .iter()
        .map(|s| s.to_string())
        .collect();
    if keys.is_empty() {
        return keys;
    }
    if !selector_set {
        errs.push(FieldError::forbidden(
            list.path(),
            "must not be specified when labelSelector is not set",
        ));
        return keys;
    }
    for (i, key) in keys.iter().enumerate() {
        validate_label_name(&list.path().index(i), key, errs);
    }
    keys
}

fn pod_affinity_term(term: &Node, errs: &mut Vec<FieldError>) {
    let selector = term.field("labelSelector");
    validate_label_selector(&selector, false, errs);
    validate_label_selector(&term.field("namespaceSelector"), false, errs);
    for ns in term.field("namespaces").string_list(errs) {
        errs.extend(invalid_each(
            &term.path().child("namespace"),
            ns,
            NameRule::Dns1123Label.errors(ns, false),
        ));
    }
    let match_keys = label_keys(&term.field("matchLabelKeys"), selector.is_set(), errs);
    let mismatch_keys = label_keys(&term.field("mismatchLabelKeys"), selector.is_set(), errs);
    if selector.is_set() {
        let mut ignored = Vec::new();
        let mut selector_keys: BTreeSet<String> = selector
            .field("matchLabels")
            .string_map(&mut ignored)
            .keys()
            .map(|k| k.to_string())
            .collect();
        for expr in selector.field("matchExpressions").items(&mut ignored) {
            let key = expr.field("key").str(&mut ignored).to_string();
            if let Some(i) = match_keys.iter().position(|k| *k == key)
                && selector_keys.contains(&key)
            {
                errs.push(FieldError::invalid(
                    term.path().index(i),
                    &Value::from(key.as_str()),
                    "exists in both matchLabelKeys and labelSelector",
                ));
            }
            selector_keys.insert(key);
        }
    }
    for (i, key) in match_keys.iter().enumerate() {
        if mismatch_keys.contains(key) {
            errs.push(FieldError::invalid(
                term.path().child("matchLabelKeys").index(i),
                &Value::from(key.as_str()),
                "exists in both matchLabelKeys and mismatchLabelKeys",
            ));
        }
    }
    let topology = term.field("topologyKey");
    let key = topology.str(errs);
    if key.is_empty() {
        errs.push(FieldError::required(topology.path(), "can not be empty"));
    }
    validate_label_name(topology.path(), key, errs);
}

fn pod_affinity(node: &Node, errs: &mut Vec<FieldError>) {
    for term in node
        .field("requiredDuringSchedulingIgnoredDuringExecution")
        .items(errs)
    {
        pod_affinity_term(&term, errs);
    }
    for weighted in node
        .field("preferredDuringSchedulingIgnoredDuringExecution")
        .items(errs)
    {
        weight(&weighted.field("weight"), errs);
        pod_affinity_term(&weighted.field("podAffinityTerm"), errs);
    }
}

/// A pod's `affinity`.
pub(crate) fn affinity(node: &Node, errs: &mut Vec<FieldError>) {
    let node_affinity = node.field("nodeAffinity");
    if node_affinity.is_set() {
        let required = node_affinity.field("requiredDuringSchedulingIgnoredDuringExecution");
        if required.is_set() {
            node_selector(&required, errs);
        }
        for term in node_affinity
            .field("preferredDuringSchedulingIgnoredDuringExecution")
            .items(errs)
        {
            weight(&term.field("weight"), errs);
            node_selector_term(&term.field("preference"), errs);
        }
    }
    for key in ["podAffinity", "podAntiAffinity"] {
        let n = node.field(key);
        if n.is_set() {
            pod_affinity(&n, errs);
        }
    }
}

/// A taint effect; `allow_empty` for tolerations.
fn taint_effect(node: &Node, allow_empty: bool, errs: &mut Vec<FieldError>) {
    let effect = node.str(errs);
    if effect.is_empty() && !allow_empty {
        errs.push(FieldError::required(node.path(), ""));
        return;
    }
    if !TAINT_EFFECTS.contains(&effect) {
        errs.push(FieldError::not_supported(
            node.path(),
            &Value::from(effect),
            &TAINT_EFFECTS,
        ));
    }
}

/// Upstream's `ValidateTolerations`.
pub(crate) fn tolerations(list: &Node, errs: &mut Vec<FieldError>) {
    for toleration in list.items(errs) {
        let key = toleration.field("key").str(errs);
        if !key.is_empty() {
            validate_label_name(&toleration.path().child("key"), key, errs);
        }
        let operator_node = toleration.field("operator");
        let operator = operator_node.str(errs);
        if key.is_empty() && operator != "Exists" {
            errs.push(FieldError::invalid(
                operator_node.path(),
                &Value::from(operator),
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        let effect_node = toleration.field("effect");
        let effect = effect_node.str(errs);
        if toleration.field("tolerationSeconds").is_set() && effect != "NoExecute" {
            errs.push(FieldError::invalid(
                effect_node.path(),
                &Value::from(effect),
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        let value = toleration.field("value").str(errs);
        match operator {
            "Equal" | "" => {
                let msgs = label_value_errors(value);
                if !msgs.is_empty() {
                    errs.push(FieldError::invalid(
                        operator_node.path(),
                        &Value::from(value),
                        &msgs.join(";"),
                    ));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.push(FieldError::invalid(
                        operator_node.path(),
                        toleration.value(),
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            _ => errs.push(FieldError::not_supported(
                operator_node.path(),
                &Value::from(operator),
                &["Equal", "Exists"],
            )),
        }
        if !effect.is_empty() {
            taint_effect(&effect_node, true, errs);
        }
    }
}

/// Upstream's `validateNodeTaints`.
pub(crate) fn taints(list: &Node, errs: &mut Vec<FieldError>) {
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    for taint in list.items(errs) {
        let key_node = taint.field("key");
        let key = key_node.str(errs);
        validate_label_name(key_node.path(), key, errs);
        let value_node = taint.field("value");
        let value = value_node.str(errs);
        let msgs = label_value_errors(value);
        if !msgs.is_empty() {
            errs.push(FieldError::invalid(
                value_node.path(),
                &Value::from(value),
                &msgs.join(";"),
            ));
        }
        let effect_node = taint.field("effect");
        taint_effect(&effect_node, false, errs);
        let pair = (effect_node.str(errs).to_string(), key.to_string());
        if !seen.insert(pair) {
            let base = FieldError::duplicate(taint.path(), taint.value());
            errs.push(FieldError {
                message: format!(
                    "{}: taints must be unique by key and effect pair",
                    base.message
                ),
                ..base
            });
        }
    }
}

/// Upstream's `validateTopologySpreadConstraints`.
pub(crate) fn topology_spread_constraints(list: &Node, errs: &mut Vec<FieldError>) {
    let items = list.items(errs);
    let mut ignored = Vec::new();
    for (i, constraint) in items.iter().enumerate() {
        let max_skew = constraint.field("maxSkew");
        let skew = max_skew.int(errs);
        if skew <= 0 {
            errs.push(FieldError::invalid(
                max_skew.path(),
                &Value::from(skew),
                "must be greater than zero",
            ));
        }
        let key_node = constraint.field("topologyKey");
        let key = key_node.str(errs);
        if key.is_empty() {
            errs.push(FieldError::required(key_node.path(), "can not be empty"));
        }
        let when_node = constraint.field("whenUnsatisfiable");
        let when = when_node.str(errs);
        if when != "DoNotSchedule" && when != "ScheduleAnyway" {
            errs.push(FieldError::not_supported(
                when_node.path(),
                &Value::from(when),
                &["DoNotSchedule", "ScheduleAnyway"],
            ));
        }
        let repeated = items[i + 1..].iter().any(|other| {
            other.field("topologyKey").str(&mut ignored) == key
                && other.field("whenUnsatisfiable").str(&mut ignored) == when
        });
        if repeated {
            errs.push(FieldError::duplicate(
                constraint.path().child("{topologyKey, whenUnsatisfiable}"),
                &Value::from(format!("{{{key}, {when}}}")),
            ));
        }
        let min_domains = constraint.field("minDomains");
        if let Some(m) = min_domains.opt_int(errs) {
            if m <= 0 {
                errs.push(FieldError::invalid(
                    min_domains.path(),
                    &Value::from(m),
                    "must be greater than zero",
                ));
            }
            if when != "DoNotSchedule" {
                errs.push(FieldError::invalid(
                    min_domains.path(),
                    &Value::from(m),
                    &format!(
                        "can only use minDomains if whenUnsatisfiable=DoNotSchedule, not {when}"
                    ),
                ));
            }
        }
        for policy in ["nodeAffinityPolicy", "nodeTaintsPolicy"] {
            let node = constraint.field(policy);
            if let Some(p) = node.opt_str(errs)
                && p != "Honor"
                && p != "Ignore"
            {
                errs.push(FieldError::not_supported(
                    node.path(),
                    &Value::from(p),
                    &["Honor", "Ignore"],
                ));
            }
        }
        let selector = constraint.field("labelSelector");
        let keys_node = constraint.field("matchLabelKeys");
        let keys = keys_node.string_list(errs);
        if !keys.is_empty() {
            let mut selector_keys: BTreeSet<&str> = selector
                .field("matchLabels")
                .string_map(&mut ignored)
                .keys()
                .copied()
                .collect();
            for expr in selector.field("matchExpressions").items(&mut ignored) {
                selector_keys.insert(expr.field("key").str(&mut ignored));
            }
            if !selector.is_set() {
                errs.push(FieldError::forbidden(
                    keys_node.path(),
                    "must not be specified when labelSelector is not set",
                ));
            }
            for (j, key) in keys.iter().enumerate() {
                validate_label_name(&keys_node.path().index(j), key, errs);
                if selector_keys.contains(key) {
                    errs.push(FieldError::invalid(
                        keys_node.path().index(j),
                        &Value::from(*key),
                        "exists in both matchLabelKeys and labelSelector",
                    ));
                }
            }
        }
        validate_label_selector(&selector, false, errs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::field_error::Path;
    use serde_json::json;

    fn run(f: fn(&Node, &mut Vec<FieldError>), value: Value, path: &str) -> Vec<String> {
        let mut errs = Vec::new();
        f(&Node::new(&value, Path::root(path)), &mut errs);
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn toleration_rules() {
        assert!(
            run(
                tolerations,
                json!([{"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}]),
                "t"
            )
            .is_empty()
        );
        assert_eq!(
            run(tolerations, json!([{"operator": "Equal"}]), "t"),
            vec![
                "t[0].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\""
            ]
        );
        assert_eq!(
            run(
                tolerations,
                json!([{"key": "k", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 5}]),
                "t"
            ),
            vec![
                "t[0].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set"
            ]
        );
        assert_eq!(
            run(tolerations, json!([{"key": "k", "operator": "Maybe"}]), "t"),
            vec![
                "t[0].operator: Unsupported value: \"Maybe\": supported values: \"Equal\", \"Exists\""
            ]
        );
    }

    #[test]
    fn taint_and_affinity_rules() {
        assert_eq!(
            run(
                taints,
                json!([{"key": "a", "effect": "NoSchedule"}, {"key": "a", "effect": "NoSchedule"}]),
                "spec.taints"
            )
            .last()
            .map(String::as_str),
            Some(
                "spec.taints[1]: Duplicate value: {\"effect\":\"NoSchedule\",\"key\":\"a\"}: taints must be unique by key and effect pair"
            )
        );
        assert_eq!(
            run(
                affinity,
                json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}}),
                "a"
            ),
            vec![
                "a.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms: Required value: must have at least one node selector term"
            ]
        );
        assert_eq!(
            run(
                affinity,
                json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {}}]}}),
                "a"
            ),
            vec![
                "a.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey: Required value: can not be empty",
                "a.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey: Invalid value: \"\": name part must be non-empty",
                "a.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey: Invalid value: \"\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
            ]
        );
    }

    #[test]
    fn topology_spread_rules() {
        assert_eq!(
            run(
                topology_spread_constraints,
                json!([{"maxSkew": 0, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]),
                "c"
            ),
            vec!["c[0].maxSkew: Invalid value: 0: must be greater than zero"]
        );
    }
}
