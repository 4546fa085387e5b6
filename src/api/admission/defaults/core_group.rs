//! Defaults of the core/v1 kinds other than the pod-carrying ones: Service (including the IP
//! family fields the service REST storage fills once a cluster IP is known), Endpoints, Secret,
//! Namespace, Node, Event, PersistentVolume, PersistentVolumeClaim, LimitRange and
//! ResourceQuota.

use serde_json::{Map, Value, json};

use super::json::{
    Object, child, child_or_insert, children, default_string, default_value, is_empty, is_unset,
    string, string_or_empty,
};
use super::pod::{default_host_path, default_legacy_sources};
use super::quantity::canonicalize_list;

/// `DefaultClientIPServiceAffinitySeconds`: three hours.
const DEFAULT_CLIENT_IP_AFFINITY_SECONDS: i64 = 10800;
/// The label every namespace carries with its own name.
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// `SetDefaults_Service`, the `+default` protocol of service ports, and the IP family fields
/// once `spec.clusterIP` is set.
pub(super) fn default_service(service: &mut Object) {
    let Some(spec) = child_or_insert(service, "spec") else {
        return;
    };
    default_string(spec, "sessionAffinity", "None");
    match string(spec, "sessionAffinity") {
        Some("None") => {
            spec.remove("sessionAffinityConfig");
        }
        Some("ClientIP") => {
            let has_timeout = child(spec, "sessionAffinityConfig")
                .and_then(|config| child(config, "clientIP"))
                .is_some_and(|client_ip| !is_unset(client_ip, "timeoutSeconds"));
            if !has_timeout {
                spec.insert(
                    "sessionAffinityConfig".to_string(),
                    json!({"clientIP": {"timeoutSeconds": DEFAULT_CLIENT_IP_AFFINITY_SECONDS}}),
                );
            }
        }
        _ => {}
    }
    default_string(spec, "type", "ClusterIP");
    for port in children(spec, "ports") {
        default_string(port, "protocol", "TCP");
        let target_unset = match port.get("targetPort") {
            None | Some(Value::Null) => true,
            Some(Value::String(name)) => name.is_empty(),
            Some(Value::Number(number)) => number.as_f64() == Some(0.0),
            Some(_) => false,
        };
        if target_unset
            && let Some(number) = port.get("port").filter(|value| value.is_number()).cloned()
        {
            port.insert("targetPort".to_string(), number);
        }
    }
    let service_type = string_or_empty(spec, "type").to_string();
    let externally_accessible = service_type == "LoadBalancer"
        || service_type == "NodePort"
        || (service_type == "ClusterIP" && !is_empty(spec, "externalIPs"));
    if externally_accessible {
        default_string(spec, "externalTrafficPolicy", "Cluster");
    }
    if matches!(
        service_type.as_str(),
        "NodePort" | "LoadBalancer" | "ClusterIP"
    ) {
        default_value(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if service_type == "LoadBalancer" {
        default_value(spec, "allocateLoadBalancerNodePorts", Value::Bool(true));
        let ingresses = child(service, "status")
            .and_then(|status| child(status, "loadBalancer"))
            .map(|balancer| children(balancer, "ingress").collect::<Vec<_>>())
            .unwrap_or_default();
        for ingress in ingresses {
            if !string_or_empty(ingress, "ip").is_empty() {
                default_value(ingress, "ipMode", json!("VIP"));
            }
        }
    }
    let has_cluster_ip =
        child(service, "spec").is_some_and(|spec| !string_or_empty(spec, "clusterIP").is_empty());
    if has_cluster_ip {
        default_ip_families(service, "IPv4");
    }
}

/// Fills `clusterIPs`, `ipFamilyPolicy` and `ipFamilies` as the service REST storage does on
/// create once `spec.clusterIP` is known (allocated or `None`), for a single-stack cluster whose
/// family is `cluster_family` (`"IPv4"` or `"IPv6"`). ExternalName services get none of them.
///
/// Upstream keeps the old object's policy on update when the new one omits it; callers that
/// need that copy it before calling.
pub fn default_service_ip_families(service: &mut Value, cluster_family: &str) {
    if let Some(service) = service.as_object_mut() {
        default_ip_families(service, cluster_family);
    }
}

fn default_ip_families(service: &mut Object, cluster_family: &str) {
    let Some(spec) = child(service, "spec") else {
        return;
    };
    if string(spec, "type") == Some("ExternalName") {
        return;
    }
    let cluster_ip = string_or_empty(spec, "clusterIP").to_string();
    if is_empty(spec, "clusterIPs") && !cluster_ip.is_empty() {
        spec.insert("clusterIPs".to_string(), json!([cluster_ip]));
    }
    let headless_without_selector = cluster_ip == "None" && is_empty(spec, "selector");
    if is_unset(spec, "ipFamilyPolicy") {
        let policy = if headless_without_selector {
            "RequireDualStack"
        } else {
            "SingleStack"
        };
        spec.insert("ipFamilyPolicy".to_string(), json!(policy));
    }
    let single_stack = string(spec, "ipFamilyPolicy") == Some("SingleStack");
    let addresses: Vec<String> = spec
        .get("clusterIPs")
        .and_then(Value::as_array)
        .map(|ips| {
            ips.iter()
                .map_while(Value::as_str)
                .take_while(|ip| *ip != "None")
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if is_unset(spec, "ipFamilies") {
        spec.insert("ipFamilies".to_string(), json!([]));
    }
    let Some(families) = spec.get_mut("ipFamilies").and_then(Value::as_array_mut) else {
        return;
    };
    for address in addresses.iter().skip(families.len()) {
        families.push(json!(family_of(address)));
    }
    if families.is_empty() {
        families.push(json!(cluster_family));
    }
    if headless_without_selector && !single_stack && families.len() < 2 {
        let other = if families.first() == Some(&json!("IPv6")) {
            "IPv4"
        } else {
            "IPv6"
        };
        families.push(json!(other));
    }
}

/// The family of an IP address as written.
fn family_of(address: &str) -> &'static str {
    if address.contains(':') {
        "IPv6"
    } else {
        "IPv4"
    }
}

/// `SetDefaults_Endpoints`: every subset port's protocol defaults to TCP.
pub(super) fn default_endpoints(endpoints: &mut Object) {
    for subset in children(endpoints, "subsets") {
        for port in children(subset, "ports") {
            default_string(port, "protocol", "TCP");
        }
    }
}

/// `SetDefaults_Secret`.
pub(super) fn default_secret(secret: &mut Object) {
    default_string(secret, "type", "Opaque");
}

/// `SetDefaults_Namespace` (the name label, whenever the name is known) and
/// `SetDefaults_NamespaceStatus`.
pub(super) fn default_namespace(namespace: &mut Object) {
    if let Some(metadata) = child(namespace, "metadata") {
        let name = string_or_empty(metadata, "name").to_string();
        if !name.is_empty()
            && let Some(labels) = child_or_insert(metadata, "labels")
        {
            labels.insert(NAMESPACE_NAME_LABEL.to_string(), Value::String(name));
        }
    }
    if let Some(status) = child_or_insert(namespace, "status") {
        default_string(status, "phase", "Active");
    }
}

/// `SetDefaults_NodeStatus` (allocatable defaults to capacity) and resource list rounding.
pub(super) fn default_node(node: &mut Object) {
    let Some(status) = child(node, "status") else {
        return;
    };
    if is_unset(status, "allocatable")
        && let Some(capacity) = status
            .get("capacity")
            .filter(|value| value.is_object())
            .cloned()
    {
        status.insert("allocatable".to_string(), capacity);
    }
    canonicalize_list(status, "capacity");
    canonicalize_list(status, "allocatable");
}

/// A core/v1 Event has no defaulter, but its plain struct and string fields are always
/// serialized: `involvedObject` and `source` as `{}`, the zero timestamps as `null`, and the
/// reporting fields as `""`.
pub(super) fn default_event(event: &mut Object) {
    default_value(event, "involvedObject", json!({}));
    default_value(event, "source", json!({}));
    for key in ["firstTimestamp", "lastTimestamp", "eventTime"] {
        if !event.contains_key(key) {
            event.insert(key.to_string(), Value::Null);
        }
    }
    default_value(event, "reportingComponent", json!(""));
    default_value(event, "reportingInstance", json!(""));
}

/// `SetDefaults_PersistentVolume` and the defaulters of its volume source.
pub(super) fn default_persistent_volume(volume: &mut Object) {
    if let Some(status) = child_or_insert(volume, "status") {
        default_string(status, "phase", "Pending");
    }
    let Some(spec) = child_or_insert(volume, "spec") else {
        return;
    };
    default_string(spec, "persistentVolumeReclaimPolicy", "Retain");
    default_value(spec, "volumeMode", json!("Filesystem"));
    canonicalize_list(spec, "capacity");
    if let Some(host_path) = child(spec, "hostPath") {
        default_host_path(host_path);
    }
    default_legacy_sources(spec);
}

/// `SetDefaults_PersistentVolumeClaim` and its spec and resource lists.
pub(super) fn default_persistent_volume_claim(claim: &mut Object) {
    if let Some(status) = child_or_insert(claim, "status") {
        default_string(status, "phase", "Pending");
        canonicalize_list(status, "capacity");
        canonicalize_list(status, "allocatedResources");
    }
    if let Some(spec) = child_or_insert(claim, "spec") {
        default_claim_spec(spec);
    }
}

/// `SetDefaults_PersistentVolumeClaimSpec`, wherever a claim spec appears (claims, StatefulSet
/// claim templates, ephemeral volumes). Its `resources` is a plain struct, always serialized.
pub(super) fn default_claim_spec(spec: &mut Object) {
    default_value(spec, "volumeMode", json!("Filesystem"));
    if let Some(resources) = child_or_insert(spec, "resources") {
        canonicalize_list(resources, "limits");
        canonicalize_list(resources, "requests");
    }
}

/// `SetDefaults_LimitRangeItem` for container limits, and resource list rounding.
pub(super) fn default_limit_range(range: &mut Object) {
    let Some(spec) = child(range, "spec") else {
        return;
    };
    for item in children(spec, "limits") {
        for key in [
            "max",
            "min",
            "default",
            "defaultRequest",
            "maxLimitRequestRatio",
        ] {
            canonicalize_list(item, key);
        }
        if string(item, "type") != Some("Container") {
            continue;
        }
        let field = |item: &Object, key: &str| item.get(key).and_then(Value::as_object).cloned();
        let mut limits = field(item, "default").unwrap_or_default();
        fill_missing(&mut limits, field(item, "max"));
        let mut requests = field(item, "defaultRequest").unwrap_or_default();
        fill_missing(&mut requests, Some(limits.clone()));
        fill_missing(&mut requests, field(item, "min"));
        for (key, list) in [("default", limits), ("defaultRequest", requests)] {
            let writable = matches!(item.get(key), None | Some(Value::Null | Value::Object(_)));
            if writable && !list.is_empty() {
                item.insert(key.to_string(), Value::Object(list));
            }
        }
    }
}

/// Copies each entry of `source` that `target` lacks.
fn fill_missing(target: &mut Map<String, Value>, source: Option<Map<String, Value>>) {
    for (name, value) in source.into_iter().flatten() {
        target.entry(name).or_insert(value);
    }
}

/// ResourceQuota has no defaulter beyond rounding its resource lists.
pub(super) fn default_resource_quota(quota: &mut Object) {
    if let Some(spec) = child(quota, "spec") {
        canonicalize_list(spec, "hard");
    }
    if let Some(status) = child(quota, "status") {
        canonicalize_list(status, "hard");
        canonicalize_list(status, "used");
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
    fn load_balancer_service() {
        let mut service = object(json!({
            "spec": {
                "type": "LoadBalancer",
                "sessionAffinity": "ClientIP",
                "ports": [{"port": 443, "targetPort": "https"}, {"port": 80, "targetPort": 0}]
            },
            "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}, {"hostname": "lb"}]}}
        }));
        default_service(&mut service);
        assert_eq!(
            Value::Object(service),
            json!({
                "spec": {
                    "type": "LoadBalancer",
                    "sessionAffinity": "ClientIP",
                    "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
                    "ports": [
                        {"port": 443, "targetPort": "https", "protocol": "TCP"},
                        {"port": 80, "targetPort": 80, "protocol": "TCP"}
                    ],
                    "externalTrafficPolicy": "Cluster",
                    "internalTrafficPolicy": "Cluster",
                    "allocateLoadBalancerNodePorts": true
                },
                "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1", "ipMode": "VIP"}, {"hostname": "lb"}]}}
            })
        );
    }

    #[test]
    fn external_name_service_has_no_traffic_policies_or_families() {
        let mut service = object(json!({
            "spec": {"type": "ExternalName", "externalName": "example.com", "clusterIP": "x"}
        }));
        default_service(&mut service);
        assert_eq!(
            Value::Object(service),
            json!({"spec": {"type": "ExternalName", "externalName": "example.com", "clusterIP": "x", "sessionAffinity": "None"}})
        );
    }

    #[test]
    fn ip_families_follow_the_cluster_ip() {
        let mut service = json!({"spec": {"clusterIP": "fd00::10", "selector": {"a": "b"}}});
        default_service_ip_families(&mut service, "IPv4");
        assert_eq!(service["spec"]["clusterIPs"], json!(["fd00::10"]));
        assert_eq!(service["spec"]["ipFamilies"], json!(["IPv6"]));
        assert_eq!(service["spec"]["ipFamilyPolicy"], json!("SingleStack"));

        let mut headless = json!({"spec": {"clusterIP": "None", "selector": {"a": "b"}}});
        default_service_ip_families(&mut headless, "IPv4");
        assert_eq!(headless["spec"]["ipFamilies"], json!(["IPv4"]));
        assert_eq!(headless["spec"]["ipFamilyPolicy"], json!("SingleStack"));

        let mut selectorless = json!({"spec": {"clusterIP": "None"}});
        default_service_ip_families(&mut selectorless, "IPv4");
        assert_eq!(selectorless["spec"]["ipFamilies"], json!(["IPv4", "IPv6"]));
        assert_eq!(
            selectorless["spec"]["ipFamilyPolicy"],
            json!("RequireDualStack")
        );
    }

    #[test]
    fn namespace_gets_its_name_label_and_phase() {
        let mut namespace = object(
            json!({"metadata": {"name": "team-a", "labels": {"kubernetes.io/metadata.name": "wrong"}}}),
        );
        default_namespace(&mut namespace);
        assert_eq!(
            Value::Object(namespace),
            json!({
                "metadata": {"name": "team-a", "labels": {"kubernetes.io/metadata.name": "team-a"}},
                "status": {"phase": "Active"}
            })
        );
    }

    #[test]
    fn persistent_volume_and_claim() {
        let mut volume = object(
            json!({"spec": {"capacity": {"storage": "1024Mi"}, "hostPath": {"path": "/data"}}}),
        );
        default_persistent_volume(&mut volume);
        assert_eq!(
            Value::Object(volume),
            json!({
                "spec": {
                    "capacity": {"storage": "1Gi"},
                    "hostPath": {"path": "/data", "type": ""},
                    "persistentVolumeReclaimPolicy": "Retain",
                    "volumeMode": "Filesystem"
                },
                "status": {"phase": "Pending"}
            })
        );
        let mut claim = object(
            json!({"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1G"}}}}),
        );
        default_persistent_volume_claim(&mut claim);
        assert_eq!(
            Value::Object(claim),
            json!({
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1G"}}, "volumeMode": "Filesystem"},
                "status": {"phase": "Pending"}
            })
        );
    }

    #[test]
    fn limit_range_defaults_flow_from_max_to_default_to_request() {
        let mut range = object(json!({"spec": {"limits": [
            {"type": "Container", "max": {"cpu": "2", "memory": "1Gi"}, "default": {"memory": "512Mi"}, "min": {"ephemeral-storage": "1Gi"}},
            {"type": "Pod", "max": {"cpu": "4"}}
        ]}}));
        default_limit_range(&mut range);
        assert_eq!(
            range["spec"]["limits"],
            json!([
                {
                    "type": "Container",
                    "max": {"cpu": "2", "memory": "1Gi"},
                    "min": {"ephemeral-storage": "1Gi"},
                    "default": {"cpu": "2", "memory": "512Mi"},
                    "defaultRequest": {"cpu": "2", "memory": "512Mi", "ephemeral-storage": "1Gi"}
                },
                {"type": "Pod", "max": {"cpu": "4"}}
            ])
        );
    }

    #[test]
    fn node_allocatable_defaults_to_capacity() {
        let mut node = object(json!({"status": {"capacity": {"cpu": "4", "memory": "8192Mi"}}}));
        default_node(&mut node);
        assert_eq!(
            node["status"]["allocatable"],
            json!({"cpu": "4", "memory": "8Gi"})
        );
        assert_eq!(
            node["status"]["capacity"],
            json!({"cpu": "4", "memory": "8Gi"})
        );
    }

    #[test]
    fn event_zero_fields_are_serialized() {
        let mut event =
            object(json!({"reason": "Started", "firstTimestamp": "2024-01-01T00:00:00Z"}));
        default_event(&mut event);
        assert_eq!(
            Value::Object(event),
            json!({
                "reason": "Started",
                "firstTimestamp": "2024-01-01T00:00:00Z",
                "lastTimestamp": null,
                "eventTime": null,
                "involvedObject": {},
                "source": {},
                "reportingComponent": "",
                "reportingInstance": ""
            })
        );
    }
}
