//! autoscaling HorizontalPodAutoscalers (v1 and v2): replica bounds, the scale target
//! reference, metric sources and targets, and scaling behavior.

use serde_json::Value;

use super::json::Node;
use super::meta::{nonnegative, validate_label_selector};
use super::names::{dns1123_label_errors, invalid_each, path_segment_name_errors};
use super::resources::read_quantity;
use crate::api::field_error::FieldError;

const METRIC_TYPES: [&str; 5] = [
    "ContainerResource",
    "External",
    "Object",
    "Pods",
    "Resource",
];
const MAX_PERIOD_SECONDS: i64 = 1800;
const MAX_STABILIZATION_SECONDS: i64 = 3600;

/// Upstream's `ValidateCrossVersionObjectReference`.
fn object_reference(reference: &Node, errs: &mut Vec<FieldError>) {
    for key in ["kind", "name"] {
        let node = reference.field(key);
        let v = node.str(errs);
        if v.is_empty() {
            errs.push(FieldError::required(node.path(), ""));
        } else {
            errs.extend(invalid_each(node.path(), v, path_segment_name_errors(v)));
        }
    }
}

fn metric_identifier(metric: &Node, errs: &mut Vec<FieldError>) {
    let name = metric.field("name");
    let n = name.str(errs);
    if n.is_empty() {
        errs.push(FieldError::required(
            name.path(),
            "must specify a metric name",
        ));
    } else {
        errs.extend(invalid_each(name.path(), n, path_segment_name_errors(n)));
    }
    validate_label_selector(&metric.field("selector"), false, errs);
}

fn metric_target(target: &Node, errs: &mut Vec<FieldError>) {
    let kind = target.field("type");
    let k = kind.str(errs);
    if k.is_empty() {
        errs.push(FieldError::required(
            kind.path(),
            "must specify a metric target type",
        ));
    }
    if !["Utilization", "Value", "AverageValue"].contains(&k) {
        errs.push(FieldError::invalid(
            kind.path(),
            &Value::from(k),
            "must be either Utilization, Value, or AverageValue",
        ));
    }
    for key in ["value", "averageValue"] {
        let node = target.field(key);
        if read_quantity(&node, errs).is_some_and(|q| q.sign() != 1) {
            errs.push(FieldError::invalid(
                node.path(),
                node.value(),
                "must be positive",
            ));
        }
    }
    let utilization = target.field("averageUtilization");
    if let Some(u) = utilization.opt_int(errs)
        && u < 1
    {
        errs.push(FieldError::invalid(
            utilization.path(),
            &Value::from(u),
            "must be greater than 0",
        ));
    }
}

fn resource_source(source: &Node, container: bool, errs: &mut Vec<FieldError>) {
    let name = source.field("name");
    if name.str(errs).is_empty() {
        errs.push(FieldError::required(
            name.path(),
            "must specify a resource name",
        ));
    }
    if container {
        let c = source.field("container");
        let cn = c.str(errs);
        if cn.is_empty() {
            errs.push(FieldError::required(c.path(), "must specify a container"));
        } else {
            errs.extend(invalid_each(c.path(), cn, dns1123_label_errors(cn)));
        }
    }
    let target = source.field("target");
    metric_target(&target, errs);
    let (util, avg) = (
        target.field("averageUtilization"),
        target.field("averageValue"),
    );
    if !util.is_set() && !avg.is_set() {
        errs.push(FieldError::required(
            util.path(),
            "must set either a target raw value or a target utilization",
        ));
    }
    if util.is_set() && avg.is_set() {
        errs.push(FieldError::forbidden(
            avg.path(),
            "may not set both a target raw value and a target utilization",
        ));
    }
}

fn metric_spec(metric: &Node, errs: &mut Vec<FieldError>) {
    let kind = metric.field("type");
    let k = kind.str(errs);
    if k.is_empty() {
        errs.push(FieldError::required(
            kind.path(),
            "must specify a metric source type",
        ));
    }
    if !METRIC_TYPES.contains(&k) {
        errs.push(FieldError::not_supported(
            kind.path(),
            &Value::from(k),
            &METRIC_TYPES,
        ));
    }
    let present: Vec<&str> = [
        "object",
        "external",
        "pods",
        "resource",
        "containerResource",
    ]
    .into_iter()
    .filter(|key| metric.field(key).is_set())
    .collect();
    if let Some(first) = present.first() {
        let source = metric.field(first);
        match *first {
            "object" => {
                object_reference(&source.field("describedObject"), errs);
                metric_identifier(&source.field("metric"), errs);
                let target = source.field("target");
                metric_target(&target, errs);
                if !target.field("value").is_set() && !target.field("averageValue").is_set() {
                    errs.push(FieldError::required(
                        target.path().child("averageValue"),
                        "must set either a target value or averageValue",
                    ));
                }
            }
            "external" => {
                metric_identifier(&source.field("metric"), errs);
                let target = source.field("target");
                metric_target(&target, errs);
                let (value, avg) = (target.field("value"), target.field("averageValue"));
                if !value.is_set() && !avg.is_set() {
                    errs.push(FieldError::required(
                        avg.path(),
                        "must set either a target value for metric or a per-pod target",
                    ));
                }
                if value.is_set() && avg.is_set() {
                    errs.push(FieldError::forbidden(
                        value.path(),
                        "may not set both a target value for metric and a per-pod target",
                    ));
                }
            }
            "pods" => {
                metric_identifier(&source.field("metric"), errs);
                let target = source.field("target");
                metric_target(&target, errs);
                if !target.field("averageValue").is_set() {
                    errs.push(FieldError::required(
                        target.path().child("averageValue"),
                        "must specify a positive target averageValue",
                    ));
                }
            }
            "resource" => resource_source(&source, false, errs),
            _ => resource_source(&source, true, errs),
        }
    }
    let expected = match k {
        "Object" => "object",
        "Pods" => "pods",
        "Resource" => "resource",
        "ContainerResource" => "containerResource",
        "External" => "external",
        _ => "",
    };
    if !expected.is_empty() && !metric.field(expected).is_set() {
        errs.push(FieldError::required(
            metric.path().child(expected),
            "must populate information for the given metric source",
        ));
    }
    if present.len() != 1 {
        for key in present.iter().filter(|p| **p != expected) {
            errs.push(FieldError::forbidden(
                metric.path().child(key),
                "must populate the given metric source only",
            ));
        }
    }
}

fn scaling_rules(rules: &Node, errs: &mut Vec<FieldError>) {
    if !rules.is_set() {
        return;
    }
    let window = rules.field("stabilizationWindowSeconds");
    if let Some(w) = window.opt_int(errs) {
        if w < 0 {
            errs.push(FieldError::invalid(
                window.path(),
                &Value::from(w),
                "must be greater than or equal to zero",
            ));
        }
        if w > MAX_STABILIZATION_SECONDS {
            errs.push(FieldError::invalid(
                window.path(),
                &Value::from(w),
                &format!("must be less than or equal to {MAX_STABILIZATION_SECONDS}"),
            ));
        }
    }
    let select = rules.field("selectPolicy");
    if let Some(s) = select.opt_str(errs)
        && !["Disabled", "Max", "Min"].contains(&s)
    {
        errs.push(FieldError::not_supported(
            select.path(),
            &Value::from(s),
            &["Disabled", "Max", "Min"],
        ));
    }
    let policies = rules.field("policies");
    let items = policies.items(errs);
    if items.is_empty() {
        errs.push(FieldError::required(
            policies.path(),
            "must specify at least one Policy",
        ));
    }
    for policy in items {
        let kind = policy.field("type");
        let k = kind.str(errs);
        if k != "Pods" && k != "Percent" {
            errs.push(FieldError::not_supported(
                kind.path(),
                &Value::from(k),
                &["Percent", "Pods"],
            ));
        }
        let value = policy.field("value");
        let v = value.int(errs);
        if v <= 0 {
            errs.push(FieldError::invalid(
                value.path(),
                &Value::from(v),
                "must be greater than zero",
            ));
        }
        let period = policy.field("periodSeconds");
        let p = period.int(errs);
        if p <= 0 {
            errs.push(FieldError::invalid(
                period.path(),
                &Value::from(p),
                "must be greater than zero",
            ));
        }
        if p > MAX_PERIOD_SECONDS {
            errs.push(FieldError::invalid(
                period.path(),
                &Value::from(p),
                &format!("must be less than or equal to {MAX_PERIOD_SECONDS}"),
            ));
        }
    }
}

/// Upstream's `ValidateHorizontalPodAutoscaler` spec checks (v1's field maps onto v2's).
pub(crate) fn validate_hpa(obj: &Node, errs: &mut Vec<FieldError>) {
    let spec = obj.field("spec");
    let min = spec.field("minReplicas");
    let min_value = min.opt_int(errs);
    if let Some(m) = min_value
        && m < 1
    {
        errs.push(FieldError::invalid(
            min.path(),
            &Value::from(m),
            "must be greater than or equal to 1",
        ));
    }
    let max = spec.field("maxReplicas");
    let mx = max.int(errs);
    if mx < 1 {
        errs.push(FieldError::invalid(
            max.path(),
            &Value::from(mx),
            "must be greater than 0",
        ));
    }
    if min_value.is_some_and(|m| mx < m) {
        errs.push(FieldError::invalid(
            max.path(),
            &Value::from(mx),
            "must be greater than or equal to `minReplicas`",
        ));
    }
    object_reference(&spec.field("scaleTargetRef"), errs);
    for metric in spec.field("metrics").items(errs) {
        metric_spec(&metric, errs);
    }
    let cpu = spec.field("targetCPUUtilizationPercentage");
    if let Some(c) = cpu.opt_int(errs)
        && c < 1
    {
        errs.push(FieldError::invalid(
            cpu.path(),
            &Value::from(c),
            "must be greater than 0",
        ));
    }
    let behavior = spec.field("behavior");
    scaling_rules(&behavior.field("scaleUp"), errs);
    scaling_rules(&behavior.field("scaleDown"), errs);
}

/// An HPA status update: replica counts are non-negative.
pub(crate) fn validate_hpa_status(obj: &Node, errs: &mut Vec<FieldError>) {
    for key in ["currentReplicas", "desiredReplicas"] {
        nonnegative(&obj.at(&["status", key]), errs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hpa_rules() {
        let hpa = json!({"spec": {"minReplicas": 0, "maxReplicas": 0, "scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 0}}}],
            "behavior": {"scaleUp": {"policies": []}}}});
        let mut errs = Vec::new();
        validate_hpa(&Node::root(&hpa), &mut errs);
        let errs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            errs,
            vec![
                "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1",
                "spec.maxReplicas: Invalid value: 0: must be greater than 0",
                "spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be greater than 0",
                "spec.behavior.scaleUp.policies: Required value: must specify at least one Policy",
            ]
        );
    }
}
