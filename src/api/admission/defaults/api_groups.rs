//! Defaults of the non-core API groups that do not carry pod templates: autoscaling/v2
//! HorizontalPodAutoscaler, discovery.k8s.io/v1 EndpointSlice, networking.k8s.io/v1
//! NetworkPolicy and IngressClass, storage.k8s.io/v1 StorageClass and CSIDriver,
//! scheduling.k8s.io/v1 PriorityClass, and rbac.authorization.k8s.io/v1 role bindings.

use serde_json::{Value, json};

use super::json::{
    Object, child, child_or_insert, children, default_string, default_value, is_blank_string,
    is_empty, string,
};

/// The API group of RBAC roles, the default of role references and user/group subjects.
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
/// `autoscaling.DefaultCPUUtilization`: the target of an HPA that names no metric.
const DEFAULT_CPU_UTILIZATION: i64 = 80;

/// `SetDefaults_HorizontalPodAutoscaler` (autoscaling/v2): one minimum replica, an 80% CPU
/// target when no metric is given, and the full scaling rules once `behavior` is present.
pub(super) fn default_horizontal_pod_autoscaler(autoscaler: &mut Object) {
    let Some(spec) = child_or_insert(autoscaler, "spec") else {
        return;
    };
    default_value(spec, "minReplicas", json!(1));
    if is_empty(spec, "metrics") {
        spec.insert(
            "metrics".to_string(),
            json!([{
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION}
                }
            }]),
        );
    }
    if let Some(behavior) = child(spec, "behavior") {
        let scale_up = json!({
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [
                {"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15}
            ]
        });
        // The scale-down window stays unset: the controller's flag decides it.
        let scale_down = json!({
            "selectPolicy": "Max",
            "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]
        });
        for (key, defaults) in [("scaleUp", scale_up), ("scaleDown", scale_down)] {
            if let Some(rules) = child_or_insert(behavior, key)
                && let Value::Object(defaults) = defaults
            {
                for (field, value) in defaults {
                    default_value(rules, &field, value);
                }
            }
        }
    }
}

/// `SetDefaults_EndpointPort`: each port's name defaults to `""` and protocol to TCP.
pub(super) fn default_endpoint_slice(slice: &mut Object) {
    for port in children(slice, "ports") {
        default_value(port, "name", json!(""));
        default_value(port, "protocol", json!("TCP"));
    }
}

/// `SetDefaults_NetworkPolicy` and `SetDefaults_NetworkPolicyPort`.
pub(super) fn default_network_policy(policy: &mut Object) {
    let Some(spec) = child_or_insert(policy, "spec") else {
        return;
    };
    for direction in ["ingress", "egress"] {
        for rule in children(spec, direction) {
            for port in children(rule, "ports") {
                default_value(port, "protocol", json!("TCP"));
            }
        }
    }
    if is_empty(spec, "policyTypes") {
        let mut types = vec![json!("Ingress")];
        if !is_empty(spec, "egress") {
            types.push(json!("Egress"));
        }
        spec.insert("policyTypes".to_string(), Value::Array(types));
    }
}

/// `SetDefaults_IngressClass`: parameters are cluster-scoped unless said otherwise.
pub(super) fn default_ingress_class(class: &mut Object) {
    if let Some(parameters) = child(class, "spec").and_then(|spec| child(spec, "parameters")) {
        default_value(parameters, "scope", json!("Cluster"));
    }
}

/// `SetDefaults_StorageClass`.
pub(super) fn default_storage_class(class: &mut Object) {
    default_value(class, "reclaimPolicy", json!("Delete"));
    default_value(class, "volumeBindingMode", json!("Immediate"));
}

/// `SetDefaults_CSIDriver`, with its feature gates at their defaults.
pub(super) fn default_csi_driver(driver: &mut Object) {
    let Some(spec) = child_or_insert(driver, "spec") else {
        return;
    };
    default_value(spec, "attachRequired", Value::Bool(true));
    default_value(spec, "podInfoOnMount", Value::Bool(false));
    default_value(spec, "storageCapacity", Value::Bool(false));
    default_value(spec, "fsGroupPolicy", json!("ReadWriteOnceWithFSType"));
    if is_empty(spec, "volumeLifecycleModes") {
        spec.insert("volumeLifecycleModes".to_string(), json!(["Persistent"]));
    }
    default_value(spec, "requiresRepublish", Value::Bool(false));
    default_value(spec, "seLinuxMount", Value::Bool(false));
}

/// `SetDefaults_PriorityClass`.
pub(super) fn default_priority_class(class: &mut Object) {
    default_value(class, "preemptionPolicy", json!("PreemptLowerPriority"));
}

/// `SetDefaults_RoleBinding` / `SetDefaults_ClusterRoleBinding` and `SetDefaults_Subject`.
pub(super) fn default_role_binding(binding: &mut Object) {
    if let Some(role_ref) = child(binding, "roleRef") {
        default_string(role_ref, "apiGroup", RBAC_GROUP);
    }
    for subject in children(binding, "subjects") {
        if !is_blank_string(subject, "apiGroup") {
            continue;
        }
        match string(subject, "kind") {
            Some("ServiceAccount") => {
                subject.insert("apiGroup".to_string(), json!(""));
            }
            Some("User" | "Group") => {
                subject.insert("apiGroup".to_string(), json!(RBAC_GROUP));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> Object {
        match value {
            Value::Object(fields) => fields,
            _ => Object::new(),
        }
    }

    #[test]
    fn autoscaler_without_metrics_targets_cpu() {
        let mut autoscaler = object(
            json!({"spec": {"maxReplicas": 5, "scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"}}}),
        );
        default_horizontal_pod_autoscaler(&mut autoscaler);
        assert_eq!(
            Value::Object(autoscaler),
            json!({"spec": {
                "maxReplicas": 5,
                "minReplicas": 1,
                "scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
            }})
        );
    }

    #[test]
    fn autoscaler_behavior_is_completed() {
        let mut autoscaler = object(
            json!({"spec": {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}, "metrics": [{"type": "Pods"}]}}),
        );
        default_horizontal_pod_autoscaler(&mut autoscaler);
        assert_eq!(
            autoscaler["spec"]["behavior"],
            json!({
                "scaleUp": {
                    "stabilizationWindowSeconds": 0,
                    "selectPolicy": "Max",
                    "policies": [
                        {"type": "Pods", "value": 4, "periodSeconds": 15},
                        {"type": "Percent", "value": 100, "periodSeconds": 15}
                    ]
                },
                "scaleDown": {
                    "stabilizationWindowSeconds": 60,
                    "selectPolicy": "Max",
                    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]
                }
            })
        );
    }

    #[test]
    fn network_policy_types_follow_the_rules() {
        let mut policy =
            object(json!({"spec": {"podSelector": {}, "egress": [{"ports": [{"port": 53}]}]}}));
        default_network_policy(&mut policy);
        assert_eq!(policy["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
        assert_eq!(
            policy["spec"]["egress"][0]["ports"][0]["protocol"],
            json!("TCP")
        );
        let mut ingress_only = object(json!({"spec": {"podSelector": {}}}));
        default_network_policy(&mut ingress_only);
        assert_eq!(ingress_only["spec"]["policyTypes"], json!(["Ingress"]));
    }

    #[test]
    fn storage_defaults() {
        let mut class = object(json!({"provisioner": "rancher.io/local-path"}));
        default_storage_class(&mut class);
        assert_eq!(class["reclaimPolicy"], json!("Delete"));
        assert_eq!(class["volumeBindingMode"], json!("Immediate"));
        let mut driver = object(json!({"spec": {"attachRequired": false}}));
        default_csi_driver(&mut driver);
        assert_eq!(
            driver["spec"],
            json!({
                "attachRequired": false,
                "podInfoOnMount": false,
                "storageCapacity": false,
                "fsGroupPolicy": "ReadWriteOnceWithFSType",
                "volumeLifecycleModes": ["Persistent"],
                "requiresRepublish": false,
                "seLinuxMount": false
            })
        );
    }

    #[test]
    fn role_binding_groups() {
        let mut binding = object(json!({
            "roleRef": {"kind": "ClusterRole", "name": "view"},
            "subjects": [
                {"kind": "User", "name": "alice"},
                {"kind": "ServiceAccount", "name": "builder", "namespace": "ci"},
                {"kind": "Group", "name": "devs", "apiGroup": "example.com"}
            ]
        }));
        default_role_binding(&mut binding);
        assert_eq!(
            binding["roleRef"]["apiGroup"],
            json!("rbac.authorization.k8s.io")
        );
        assert_eq!(
            binding["subjects"][0]["apiGroup"],
            json!("rbac.authorization.k8s.io")
        );
        assert_eq!(binding["subjects"][1]["apiGroup"], json!(""));
        assert_eq!(binding["subjects"][2]["apiGroup"], json!("example.com"));
    }

    #[test]
    fn endpoint_slice_ports() {
        let mut slice = object(
            json!({"ports": [{"port": 80}, {"name": "dns", "port": 53, "protocol": "UDP"}]}),
        );
        default_endpoint_slice(&mut slice);
        assert_eq!(
            slice["ports"],
            json!([{"name": "", "port": 80, "protocol": "TCP"}, {"name": "dns", "port": 53, "protocol": "UDP"}])
        );
    }
}
