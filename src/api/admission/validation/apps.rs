//! Workloads: Deployments, ReplicaSets, StatefulSets, DaemonSets, ControllerRevisions and
//! (core) ReplicationControllers — selectors that match their templates, replica counts,
//! update strategies, what an update may change, and status counters.

use serde_json::Value;

use super::json::{Node, semantically_equal};
use super::meta::{
    IS_NEGATIVE, Selector, immutable, nonnegative, parse_label_selector, selector_has_no_terms,
    validate_label_selector,
};
use super::meta::{validate_annotations, validate_labels};
use super::names::percent_errors;
use super::pod::{pod_specific_annotations, validate_pod_template_spec};
use crate::api::field_error::{FieldError, Path};

const SELECTOR_MISMATCH: &str = "`selector` does not match template `labels`";

fn spec_path() -> Path {
    Path::root("spec")
}

/// The template's labels must satisfy a non-empty selector.
fn selector_matches_template(
    selector: &Option<Selector>,
    template: &Node,
    errs: &mut Vec<FieldError>,
) {
    let labels_node = template.at(&["metadata", "labels"]);
    let labels = labels_node.string_map(&mut Vec::new());
    let matches = match selector {
        None => false,
        Some(s) => s.is_empty() || s.matches(&labels),
    };
    if !matches {
        errs.push(FieldError::invalid(
            template.path().child("metadata").child("labels"),
            labels_node.value(),
            SELECTOR_MISMATCH,
        ));
    }
}

/// `restartPolicy: Always` and no `activeDeadlineSeconds` in a controller's template.
fn always_restart(template: &Node, owner: &str, errs: &mut Vec<FieldError>) {
    let mut ignored = Vec::new();
    let restart = template.at(&["spec", "restartPolicy"]);
    let policy = restart.str(&mut ignored);
    if policy != "Always" {
        errs.push(FieldError::not_supported(
            restart.path(),
            &Value::from(policy),
            &["Always"],
        ));
    }
    let deadline = template.at(&["spec", "activeDeadlineSeconds"]);
    if deadline.is_set() {
        errs.push(FieldError::forbidden(
            deadline.path(),
            &format!("activeDeadlineSeconds in {owner} is not Supported"),
        ));
    }
}

/// A required, strictly valid, non-empty label selector; returns it parsed for matching.
fn required_selector(
    spec: &Node,
    kind: &str,
    errs: &mut Vec<FieldError>,
) -> Option<Option<Selector>> {
    let selector = spec.field("selector");
    if !selector.is_set() {
        errs.push(FieldError::required(selector.path(), ""));
    } else {
        validate_label_selector(&selector, false, errs);
        if selector_has_no_terms(&selector) {
            errs.push(FieldError::invalid(
                selector.path(),
                selector.value(),
                &format!("empty selector is invalid for {kind}"),
            ));
        }
    }
    parse_label_selector(&selector).ok()
}

fn int_or_percent_value(node: &Node) -> i64 {
    match node.value() {
        Value::String(s) if percent_errors(s).is_empty() => {
            s.trim_end_matches('%').parse().unwrap_or(0)
        }
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

/// Upstream's `ValidatePositiveIntOrPercent`.
fn positive_int_or_percent(node: &Node, errs: &mut Vec<FieldError>) {
    match node.value() {
        Value::String(s) => {
            for msg in percent_errors(s) {
                errs.push(FieldError::invalid(node.path(), node.value(), &msg));
            }
        }
        Value::Number(n) => {
            if n.as_i64().is_some_and(|v| v < 0) {
                errs.push(FieldError::invalid(node.path(), node.value(), IS_NEGATIVE));
            }
        }
        Value::Null => {}
        other => errs.push(FieldError::invalid(
            node.path(),
            other,
            "must be an integer or percentage (e.g '5%')",
        )),
    }
}

/// Upstream's `IsNotMoreThan100Percent`.
fn not_more_than_100_percent(node: &Node, errs: &mut Vec<FieldError>) {
    if let Value::String(s) = node.value()
        && percent_errors(s).is_empty()
        && int_or_percent_value(node) > 100
    {
        errs.push(FieldError::invalid(
            node.path(),
            node.value(),
            "must not be greater than 100%",
        ));
    }
}

fn deployment_strategy(strategy: &Node, errs: &mut Vec<FieldError>) {
    let rolling = strategy.field("rollingUpdate");
    match strategy.field("type").str(errs) {
        "Recreate" => {
            if rolling.is_set() {
                errs.push(FieldError::forbidden(
                    rolling.path(),
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => {
            if !rolling.is_set() {
                errs.push(FieldError::required(
                    rolling.path(),
                    "this should be defaulted and never be nil",
                ));
                return;
            }
            let (unavailable, surge) = (rolling.field("maxUnavailable"), rolling.field("maxSurge"));
            positive_int_or_percent(&unavailable, errs);
            positive_int_or_percent(&surge, errs);
            if int_or_percent_value(&unavailable) == 0 && int_or_percent_value(&surge) == 0 {
                errs.push(FieldError::invalid(
                    unavailable.path(),
                    unavailable.value(),
                    "may not be 0 when `maxSurge` is 0",
                ));
            }
            not_more_than_100_percent(&unavailable, errs);
        }
        _ => errs.push(FieldError::not_supported(
            strategy.path(),
            strategy.value(),
            &["Recreate", "RollingUpdate"],
        )),
    }
}

/// Deployment and ReplicaSet specs (upstream `ValidateDeploymentSpec` / `ValidateReplicaSetSpec`).
fn replica_set_like_spec(spec: &Node, deployment: bool, errs: &mut Vec<FieldError>) {
    nonnegative(&spec.field("replicas"), errs);
    if !deployment {
        nonnegative(&spec.field("minReadySeconds"), errs);
    }
    let selector = required_selector(spec, "deployment", errs);
    let template = spec.field("template");
    match selector {
        None => errs.push(FieldError::invalid(
            spec.path().child("selector"),
            spec.field("selector").value(),
            "invalid label selector",
        )),
        Some(sel) => {
            if template.is_set() {
                selector_matches_template(&sel, &template, errs);
            }
            validate_pod_template_spec(&template, errs);
            if template.is_set() {
                always_restart(&template, "ReplicaSet", errs);
            }
        }
    }
    if !deployment {
        return;
    }
    deployment_strategy(&spec.field("strategy"), errs);
    nonnegative(&spec.field("minReadySeconds"), errs);
    nonnegative(&spec.field("revisionHistoryLimit"), errs);
    let deadline = spec.field("progressDeadlineSeconds");
    if let Some(d) = deadline.opt_int(errs) {
        nonnegative(&deadline, errs);
        if d <= spec.field("minReadySeconds").int(&mut Vec::new()) {
            errs.push(FieldError::invalid(
                deadline.path(),
                &Value::from(d),
                "must be greater than minReadySeconds",
            ));
        }
    }
}

fn statefulset_spec(spec: &Node, errs: &mut Vec<FieldError>) {
    let policy = spec.field("podManagementPolicy");
    match policy.str(errs) {
        "" => errs.push(FieldError::required(policy.path(), "")),
        "OrderedReady" | "Parallel" => {}
        other => errs.push(FieldError::invalid(
            policy.path(),
            &Value::from(other),
            "must be 'OrderedReady' or 'Parallel'",
        )),
    }
    let strategy = spec.field("updateStrategy");
    let rolling = strategy.field("rollingUpdate");
    match strategy.field("type").str(errs) {
        "" => errs.push(FieldError::required(strategy.path(), "")),
        "OnDelete" => {
            if rolling.is_set() {
                errs.push(FieldError::invalid(
                    rolling.path(),
                    rolling.value(),
                    "only allowed for updateStrategy 'RollingUpdate'",
                ));
            }
        }
        "RollingUpdate" => {
            if rolling.is_set() {
                nonnegative(&rolling.field("partition"), errs);
                let unavailable = rolling.field("maxUnavailable");
                if unavailable.is_set() {
                    positive_int_or_percent(&unavailable, errs);
                    if int_or_percent_value(&unavailable) == 0 {
                        errs.push(FieldError::invalid(
                            unavailable.path(),
                            unavailable.value(),
                            "cannot be 0",
                        ));
                    }
                    not_more_than_100_percent(&unavailable, errs);
                }
            }
        }
        _ => errs.push(FieldError::invalid(
            strategy.path(),
            strategy.value(),
            "must be 'RollingUpdate' or 'OnDelete'",
        )),
    }
    let retention = spec.field("persistentVolumeClaimRetentionPolicy");
    if retention.is_set() {
        for key in ["whenDeleted", "whenScaled"] {
            let node = retention.field(key);
            let v = node.str(errs);
            if v != "Retain" && v != "Delete" {
                errs.push(FieldError::not_supported(
                    node.path(),
                    &Value::from(v),
                    &["Retain", "Delete"],
                ));
            }
        }
    }
    nonnegative(&spec.field("replicas"), errs);
    nonnegative(&spec.field("minReadySeconds"), errs);
    let ordinals = spec.field("ordinals");
    if ordinals.is_set() {
        nonnegative(
            &Node::new(
                ordinals.field("start").value(),
                spec.path().child("ordinals.start"),
            ),
            errs,
        );
    }
    let selector = required_selector(spec, "statefulset", errs);
    let template = spec.field("template");
    match selector {
        None => errs.push(FieldError::invalid(
            spec.path().child("selector"),
            spec.field("selector").value(),
            "",
        )),
        Some(sel) => {
            if sel.as_ref().is_none_or(|s| !s.is_empty()) {
                selector_matches_template(&sel, &template, errs);
            }
            let meta = template.field("metadata");
            validate_labels(
                &Node::new(
                    meta.field("labels").value(),
                    template.path().child("labels"),
                ),
                errs,
            );
            let annotations = Node::new(
                meta.field("annotations").value(),
                template.path().child("annotations"),
            );
            validate_annotations(&annotations, errs);
            pod_specific_annotations(&annotations, &template.field("spec"), errs);
        }
    }
    always_restart(&template, "StatefulSet", errs);
}

fn daemonset_spec(spec: &Node, errs: &mut Vec<FieldError>) {
    let selector_node = spec.field("selector");
    validate_label_selector(&selector_node, false, errs);
    let template = spec.field("template");
    if let Ok(sel) = parse_label_selector(&selector_node) {
        let labels = template.at(&["metadata", "labels"]);
        let matches = sel.is_some_and(|s| s.matches(&labels.string_map(&mut Vec::new())));
        if !matches {
            errs.push(FieldError::invalid(
                template.path().child("metadata").child("labels"),
                labels.value(),
                SELECTOR_MISMATCH,
            ));
        }
    }
    if selector_node.is_set() && selector_has_no_terms(&selector_node) {
        errs.push(FieldError::invalid(
            selector_node.path(),
            selector_node.value(),
            "empty selector is invalid for daemonset",
        ));
    }
    validate_pod_template_spec(&template, errs);
    always_restart(&template, "DaemonSet", errs);
    nonnegative(&spec.field("minReadySeconds"), errs);
    let strategy = spec.field("updateStrategy");
    match strategy.field("type").str(errs) {
        "OnDelete" => {}
        "RollingUpdate" => {
            let rolling = strategy.field("rollingUpdate");
            if !rolling.is_set() {
                errs.push(FieldError::required(rolling.path(), ""));
            } else {
                let (unavailable, surge) =
                    (rolling.field("maxUnavailable"), rolling.field("maxSurge"));
                positive_int_or_percent(&unavailable, errs);
                positive_int_or_percent(&surge, errs);
                not_more_than_100_percent(&unavailable, errs);
                not_more_than_100_percent(&surge, errs);
                let has_unavailable = int_or_percent_value(&unavailable) != 0;
                let has_surge = int_or_percent_value(&surge) != 0;
                if has_unavailable && has_surge {
                    errs.push(FieldError::invalid(
                        surge.path(),
                        surge.value(),
                        "may not be set when maxUnavailable is non-zero",
                    ));
                } else if !has_unavailable && !has_surge {
                    errs.push(FieldError::required(
                        unavailable.path(),
                        "cannot be 0 when maxSurge is 0",
                    ));
                }
            }
        }
        _ => errs.push(FieldError::not_supported(
            strategy.path(),
            strategy.value(),
            &["RollingUpdate", "OnDelete"],
        )),
    }
    nonnegative(&spec.field("revisionHistoryLimit"), errs);
}

fn rc_spec(spec: &Node, errs: &mut Vec<FieldError>) {
    nonnegative(&spec.field("minReadySeconds"), errs);
    let selector = spec.field("selector");
    let map = selector.string_map(errs);
    if map.is_empty() {
        errs.push(FieldError::required(selector.path(), ""));
    }
    nonnegative(&spec.field("replicas"), errs);
    let template = spec.field("template");
    if !template.is_set() {
        errs.push(FieldError::required(template.path(), ""));
        return;
    }
    if !map.is_empty() {
        selector_matches_template(&Some(Selector::from_map(&map)), &template, errs);
    }
    validate_pod_template_spec(&template, errs);
    always_restart(&template, "ReplicationController", errs);
}

/// The spec checks of a workload kind, on create and update alike.
pub(crate) fn validate_workload(kind: &str, obj: &Node, errs: &mut Vec<FieldError>) {
    let spec = obj.field("spec");
    if spec.is_set() && spec.object(errs).is_none() {
        return;
    }
    match kind {
        "Deployment" => replica_set_like_spec(&spec, true, errs),
        "ReplicaSet" => replica_set_like_spec(&spec, false, errs),
        "StatefulSet" => statefulset_spec(&spec, errs),
        "DaemonSet" => daemonset_spec(&spec, errs),
        "ReplicationController" => rc_spec(&spec, errs),
        "ControllerRevision" => {
            if !obj.field("data").is_set() {
                errs.push(FieldError::required("data", "data is mandatory"));
            }
            nonnegative(&obj.field("revision"), errs);
        }
        _ => {}
    }
}

/// What an update of a workload may not change.
pub(crate) fn validate_workload_update(
    kind: &str,
    new: &Node,
    old: &Node,
    errs: &mut Vec<FieldError>,
) {
    let (spec, old_spec) = (new.field("spec"), old.field("spec"));
    match kind {
        "Deployment" | "ReplicaSet" | "DaemonSet" => {
            immutable(&spec.field("selector"), &old_spec.field("selector"), errs)
        }
        "StatefulSet" => {
            let mut a = spec.value().clone();
            let mut b = old_spec.value().clone();
            for key in [
                "replicas",
                "ordinals",
                "template",
                "updateStrategy",
                "persistentVolumeClaimRetentionPolicy",
                "minReadySeconds",
            ] {
                for v in [&mut a, &mut b] {
                    if let Value::Object(map) = v {
                        map.remove(key);
                    }
                }
            }
            if !semantically_equal(&a, &b) {
                errs.push(FieldError::forbidden(
                    spec_path(),
                    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
                ));
            }
        }
        "ControllerRevision" => immutable(&new.field("data"), &old.field("data"), errs),
        _ => {}
    }
}

/// Status counters: non-negative, bounded by `replicas`, collisionCount never decreasing.
pub(crate) fn validate_workload_status(
    kind: &str,
    new: &Node,
    old: &Node,
    errs: &mut Vec<FieldError>,
) {
    let status = new.field("status");
    let counters: &[&str] = match kind {
        "Deployment" => &[
            "observedGeneration",
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
            "unavailableReplicas",
            "collisionCount",
        ],
        "ReplicaSet" | "ReplicationController" => &[
            "replicas",
            "fullyLabeledReplicas",
            "readyReplicas",
            "availableReplicas",
            "observedGeneration",
        ],
        "StatefulSet" => &[
            "replicas",
            "readyReplicas",
            "currentReplicas",
            "updatedReplicas",
            "availableReplicas",
            "observedGeneration",
            "collisionCount",
        ],
        "DaemonSet" => &[
            "currentNumberScheduled",
            "numberMisscheduled",
            "desiredNumberScheduled",
            "numberReady",
            "observedGeneration",
            "updatedNumberScheduled",
            "numberAvailable",
            "numberUnavailable",
            "collisionCount",
        ],
        _ => &[],
    };
    for key in counters {
        nonnegative(&status.field(key), errs);
    }
    let mut ignored = Vec::new();
    let value = |key: &str| status.field(key).int(&mut Vec::new());
    let replicas = value("replicas");
    let bounded: &[&str] = match kind {
        "Deployment" => &["updatedReplicas", "readyReplicas", "availableReplicas"],
        "ReplicaSet" | "ReplicationController" => {
            &["fullyLabeledReplicas", "readyReplicas", "availableReplicas"]
        }
        "StatefulSet" => &[
            "readyReplicas",
            "currentReplicas",
            "updatedReplicas",
            "availableReplicas",
        ],
        _ => &[],
    };
    for key in bounded {
        let v = value(key);
        if v > replicas {
            errs.push(FieldError::invalid(
                status.path().child(key),
                &Value::from(v),
                "cannot be greater than status.replicas",
            ));
        }
    }
    if !bounded.is_empty() && value("availableReplicas") > value("readyReplicas") {
        let msg = if kind == "StatefulSet" {
            "cannot be greater than status.readyReplicas"
        } else {
            "cannot be greater than readyReplicas"
        };
        errs.push(FieldError::invalid(
            status.path().child("availableReplicas"),
            &Value::from(value("availableReplicas")),
            msg,
        ));
    }
    if ["Deployment", "StatefulSet", "DaemonSet"].contains(&kind) {
        let new_count = status.field("collisionCount").opt_int(&mut ignored);
        let old_count = old.at(&["status", "collisionCount"]).opt_int(&mut ignored);
        let decremented = match (new_count, old_count) {
            (None, Some(_)) => true,
            (Some(n), Some(o)) => n < o,
            _ => false,
        };
        if decremented {
            errs.push(FieldError::invalid(
                Path::root("status").child("collisionCount"),
                &Value::from(new_count.unwrap_or(0)),
                "cannot be decremented",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn deployment() -> Value {
        json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "replicas": 1, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [{"name": "c", "image": "nginx", "imagePullPolicy": "Always", "terminationMessagePolicy": "File"}],
                        "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "terminationGracePeriodSeconds": 30
                    }
                }
            }
        })
    }

    fn check(kind: &str, obj: &Value) -> Vec<String> {
        let mut errs = Vec::new();
        validate_workload(kind, &Node::root(obj), &mut errs);
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn deployment_rules() {
        assert_eq!(check("Deployment", &deployment()), Vec::<String>::new());
        let mut d = deployment();
        d["spec"]["replicas"] = json!(-1);
        d["spec"]["template"]["metadata"]["labels"] = json!({"app": "other"});
        assert_eq!(
            check("Deployment", &d),
            vec![
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
                "spec.template.metadata.labels: Invalid value: {\"app\":\"other\"}: `selector` does not match template `labels`",
            ]
        );
        let mut d = deployment();
        d["spec"]["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "0%"}});
        assert_eq!(
            check("Deployment", &d),
            vec![
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"
            ]
        );
        let mut d = deployment();
        d["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        assert_eq!(
            check("Deployment", &d),
            vec![
                "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""
            ]
        );
    }

    #[test]
    fn selector_is_required_and_immutable() {
        let mut d = deployment();
        d["spec"].as_object_mut().map(|s| s.remove("selector"));
        assert_eq!(
            check("Deployment", &d),
            vec![
                "spec.selector: Required value",
                "spec.template.metadata.labels: Invalid value: {\"app\":\"web\"}: `selector` does not match template `labels`",
            ]
        );
        let old = deployment();
        let mut new = deployment();
        new["spec"]["selector"] = json!({"matchLabels": {"app": "web", "x": "y"}});
        let mut errs = Vec::new();
        validate_workload_update(
            "Deployment",
            &Node::root(&new),
            &Node::root(&old),
            &mut errs,
        );
        assert_eq!(
            errs[0].to_string(),
            "spec.selector: Invalid value: {\"matchLabels\":{\"app\":\"web\",\"x\":\"y\"}}: field is immutable"
        );
    }

    #[test]
    fn statefulset_and_status_rules() {
        let mut s = deployment();
        s["spec"].as_object_mut().map(|m| m.remove("strategy"));
        s["spec"]["podManagementPolicy"] = json!("Sometimes");
        s["spec"]["updateStrategy"] = json!({"type": "OnDelete"});
        assert_eq!(
            check("StatefulSet", &s),
            vec![
                "spec.podManagementPolicy: Invalid value: \"Sometimes\": must be 'OrderedReady' or 'Parallel'"
            ]
        );
        let new = json!({"status": {"replicas": 1, "readyReplicas": 2, "collisionCount": 1}});
        let old = json!({"status": {"collisionCount": 2}});
        let mut errs = Vec::new();
        validate_workload_status(
            "Deployment",
            &Node::root(&new),
            &Node::root(&old),
            &mut errs,
        );
        let errs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            errs,
            vec![
                "status.readyReplicas: Invalid value: 2: cannot be greater than status.replicas",
                "status.collisionCount: Invalid value: 1: cannot be decremented",
            ]
        );
    }
}
