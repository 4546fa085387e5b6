//! The TARGETS cell of a HorizontalPodAutoscaler: each metric's current value out of its target
//! (`cpu: 45%/80%`, `memory: 200Mi/500Mi`, `1k/500 (avg)`), two at most, then ` + N more...`.
//!
//! Reads autoscaling/v2 objects, and autoscaling/v1 ones (`targetCPUUtilizationPercentage`). An
//! autoscaler without metrics gets the API server's default, CPU at 80% utilisation.

use serde_json::{Value, json};

use super::fields::{int_opt, is_set, list, text};
use super::quantity;

/// Metrics shown before the list is cut.
const SHOWN: usize = 2;

/// The CPU utilisation the API server defaults an autoscaler without metrics to.
const DEFAULT_CPU_UTILIZATION: i64 = 80;

pub(super) fn targets(object: &Value) -> String {
    let (specs, statuses) = metrics(object);
    if specs.is_empty() {
        return "<none>".to_owned();
    }
    let shown: Vec<String> = specs
        .iter()
        .take(SHOWN)
        .enumerate()
        .map(|(index, spec)| format_metric(spec, statuses.get(index)))
        .collect();
    let joined = shown.join(", ");
    if specs.len() > SHOWN {
        format!("{joined} + {} more...", specs.len() - SHOWN)
    } else {
        joined
    }
}

/// The metric specs and statuses in autoscaling/v2 form.
fn metrics(object: &Value) -> (Vec<Value>, Vec<Value>) {
    if let Some(target) = int_opt(object, "/spec/targetCPUUtilizationPercentage") {
        let statuses = int_opt(object, "/status/currentCPUUtilizationPercentage")
            .map(|current| vec![json!({"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": current}}})])
            .unwrap_or_default();
        return (vec![cpu_utilization(target)], statuses);
    }
    let specs = list(object, "/spec/metrics");
    let statuses = list(object, "/status/currentMetrics").to_vec();
    if specs.is_empty() {
        (vec![cpu_utilization(DEFAULT_CPU_UTILIZATION)], statuses)
    } else {
        (specs.to_vec(), statuses)
    }
}

fn cpu_utilization(target: i64) -> Value {
    json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}})
}

fn format_metric(spec: &Value, status: Option<&Value>) -> String {
    let source = |field: &str| {
        status
            .and_then(|found| found.get(field))
            .filter(|found| !found.is_null())
    };
    match text(spec, "/type") {
        "External" => value_or_average(spec, "external", source("external")),
        "Object" => value_or_average(spec, "object", source("object")),
        "Pods" => {
            let current = source("pods").map_or_else(
                || "<unknown>".to_owned(),
                |found| quantity::or_nil(found.pointer("/current/averageValue")),
            );
            format!(
                "{current}/{}",
                quantity::or_nil(spec.pointer("/pods/target/averageValue"))
            )
        }
        "Resource" => resource(spec, "resource", source("resource")),
        "ContainerResource" => resource(spec, "containerResource", source("containerResource")),
        _ => "<unknown type>".to_owned(),
    }
}

/// External and object metrics: `current/target`, or `current/target (avg)` for averages.
fn value_or_average(spec: &Value, field: &str, status: Option<&Value>) -> String {
    if is_set(spec, &format!("/{field}/target/averageValue")) {
        let current = status
            .and_then(|found| found.pointer("/current/averageValue"))
            .filter(|found| !found.is_null())
            .map_or_else(
                || "<unknown>".to_owned(),
                |found| quantity::or_nil(Some(found)),
            );
        let target = quantity::or_nil(spec.pointer(&format!("/{field}/target/averageValue")));
        return format!("{current}/{target} (avg)");
    }
    let current = status.map_or_else(
        || "<unknown>".to_owned(),
        |found| quantity::or_nil(found.pointer("/current/value")),
    );
    format!(
        "{current}/{}",
        quantity::or_nil(spec.pointer(&format!("/{field}/target/value")))
    )
}

/// Resource metrics: `cpu: 45%/80%` for utilisation, `memory: 200Mi/500Mi` for average values.
fn resource(spec: &Value, field: &str, status: Option<&Value>) -> String {
    let resource_name = text(spec, &format!("/{field}/name"));
    if is_set(spec, &format!("/{field}/target/averageValue")) {
        let current = status.map_or_else(
            || "<unknown>".to_owned(),
            |found| quantity::or_nil(found.pointer("/current/averageValue")),
        );
        let target = quantity::or_nil(spec.pointer(&format!("/{field}/target/averageValue")));
        return format!("{resource_name}: {current}/{target}");
    }
    let current = status
        .and_then(|found| int_opt(found, "/current/averageUtilization"))
        .map_or_else(|| "<unknown>".to_owned(), |percent| format!("{percent}%"));
    let target = int_opt(spec, &format!("/{field}/target/averageUtilization"))
        .map_or_else(|| "<auto>".to_owned(), |percent| format!("{percent}%"));
    format!("{resource_name}: {current}/{target}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hpa(metrics: Value, current: Value) -> Value {
        json!({"spec": {"metrics": metrics}, "status": {"currentMetrics": current}})
    }

    #[test]
    fn utilisation_and_average_value() {
        let object = hpa(
            json!([
                {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}},
                {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "500Mi"}}}
            ]),
            json!([
                {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 45, "averageValue": "90m"}}},
                {"type": "Resource", "resource": {"name": "memory", "current": {"averageValue": "209715200"}}}
            ]),
        );
        assert_eq!(targets(&object), "cpu: 45%/80%, memory: 209715200/500Mi");
    }

    #[test]
    fn missing_current_values_are_unknown() {
        let object = hpa(
            json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]),
            Value::Null,
        );
        assert_eq!(targets(&object), "cpu: <unknown>/50%");
        let no_target = hpa(
            json!([{"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "app",
            "target": {"type": "Utilization"}}}]),
            Value::Null,
        );
        assert_eq!(targets(&no_target), "cpu: <unknown>/<auto>");
    }

    #[test]
    fn pods_object_and_external_metrics_cut_after_two() {
        let object = hpa(
            json!([
                {"type": "Pods", "pods": {"metric": {"name": "rps"}, "target": {"type": "AverageValue", "averageValue": "1k"}}},
                {"type": "External", "external": {"metric": {"name": "queue"}, "target": {"type": "AverageValue", "averageValue": "30"}}},
                {"type": "Object", "object": {"metric": {"name": "hits"}, "target": {"type": "Value", "value": "2k"}}}
            ]),
            json!([{"type": "Pods", "pods": {"current": {"averageValue": "1500m"}}}]),
        );
        assert_eq!(targets(&object), "1500m/1k, <unknown>/30 (avg) + 1 more...");
        let single = hpa(
            json!([{"type": "Object", "object": {"target": {"type": "Value", "value": "2k"}}}, {"type": "Weird"}]),
            json!([{"type": "Object", "object": {"current": {"value": "2500"}}}]),
        );
        assert_eq!(targets(&single), "2500/2k, <unknown type>");
    }

    #[test]
    fn defaults_and_autoscaling_v1() {
        assert_eq!(targets(&json!({"spec": {}})), "cpu: <unknown>/80%");
        let v1 = json!({"spec": {"targetCPUUtilizationPercentage": 70}, "status": {"currentCPUUtilizationPercentage": 12}});
        assert_eq!(targets(&v1), "cpu: 12%/70%");
    }
}
