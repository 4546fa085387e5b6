//! End-to-end checks of the public entry points with whole objects, as the API server calls them.

use serde_json::{Value, json};

use super::*;
use crate::api::field_error::CauseReason;

fn lines(errs: &[FieldError]) -> Vec<String> {
    errs.iter().map(|e| e.to_string()).collect()
}

fn pod_spec() -> Value {
    json!({
        "containers": [{"name": "web", "image": "nginx", "imagePullPolicy": "Always", "terminationMessagePolicy": "File"}],
        "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "terminationGracePeriodSeconds": 30
    })
}

fn deployment(replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "x", "namespace": "default", "resourceVersion": "7", "uid": "u"},
        "spec": {
            "replicas": replicas, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
            "selector": {"matchLabels": {"app": "x"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "template": {"metadata": {"labels": {"app": "x"}}, "spec": pod_spec()}
        }
    })
}

#[test]
fn deployment_replicas_message_matches_kubectl_output() {
    assert!(validate_create("apps", "v1", "Deployment", &deployment(1)).is_empty());
    let errs = validate_create("apps", "v1", "Deployment", &deployment(-1));
    assert_eq!(
        lines(&errs),
        vec!["spec.replicas: Invalid value: -1: must be greater than or equal to 0"]
    );
    assert_eq!(errs[0].reason, CauseReason::Invalid);
    assert_eq!(errs[0].field, "spec.replicas");
}

#[test]
fn wrong_json_types_are_reported_not_panicked() {
    let mut d = deployment(1);
    d["spec"]["replicas"] = json!("three");
    d["spec"]["template"]["spec"]["containers"] = json!({"name": "oops"});
    let errs = validate_create("apps", "v1", "Deployment", &d);
    assert!(
        errs.iter()
            .any(|e| e.reason == CauseReason::TypeInvalid && e.field == "spec.replicas")
    );
    assert!(errs.iter().any(
        |e| e.reason == CauseReason::TypeInvalid && e.field == "spec.template.spec.containers"
    ));
    assert_eq!(
        validate_create("", "v1", "Pod", &json!([1, 2]))[0].reason,
        CauseReason::TypeInvalid
    );
    let garbage = json!({"metadata": 5, "spec": "no"});
    for kind in [
        "Pod",
        "Service",
        "ConfigMap",
        "Secret",
        "Node",
        "Namespace",
        "PersistentVolumeClaim",
    ] {
        let _ = validate_create("", "v1", kind, &garbage);
        let _ = validate_update("", "v1", kind, &garbage, &garbage);
        let _ = validate_status_update("", "v1", kind, &garbage, &garbage);
    }
}

#[test]
fn names_follow_each_kinds_rule() {
    let ns = json!({"metadata": {"name": "my.ns"}});
    assert_eq!(
        lines(&validate_create("", "v1", "Namespace", &ns)),
        vec!["metadata.name: Invalid value: \"my.ns\": must not contain dots"]
    );
    let svc = json!({"metadata": {"name": "1web", "namespace": "d"}, "spec": {"type": "ExternalName", "externalName": "example.com", "sessionAffinity": "None"}});
    let errs = lines(&validate_create("", "v1", "Service", &svc));
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("metadata.name: Invalid value: \"1web\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character"));
    let role = json!({"metadata": {"name": "system:controller:x", "namespace": "d"}, "rules": []});
    assert!(validate_create("rbac.authorization.k8s.io", "v1", "Role", &role).is_empty());
    let role = json!({"metadata": {"name": "a/b", "namespace": "d"}});
    assert_eq!(
        lines(&validate_create(
            "rbac.authorization.k8s.io",
            "v1",
            "Role",
            &role
        )),
        vec!["metadata.name: Invalid value: \"a/b\": may not contain '/'"]
    );
    let generated = json!({"metadata": {"generateName": "web-", "name": "web-abcde", "namespace": "d"}, "data": {}});
    assert!(validate_create("", "v1", "ConfigMap", &generated).is_empty());
}

#[test]
fn unknown_kinds_pass_and_generic_metadata_is_available() {
    assert!(validate_create("example.com", "v1", "Widget", &json!({"metadata": {}})).is_empty());
    assert_eq!(
        lines(&validate_metadata_create(
            &json!({"metadata": {"namespace": "d"}}),
            true
        )),
        vec!["metadata.name: Required value: name or generateName is required"]
    );
    let old = json!({"metadata": {"name": "a", "resourceVersion": "1"}});
    let new = json!({"metadata": {"name": "b", "resourceVersion": "1"}});
    assert_eq!(
        lines(&validate_metadata_update(&old, &new)),
        vec!["metadata.name: Invalid value: \"b\": field is immutable"]
    );
}

#[test]
fn updates_check_identity_and_selector() {
    let old = deployment(1);
    let mut new = deployment(3);
    new["metadata"]["namespace"] = json!("other");
    new["spec"]["selector"] = json!({"matchLabels": {"app": "x", "tier": "web"}});
    new["spec"]["template"]["metadata"]["labels"] = json!({"app": "x", "tier": "web"});
    assert_eq!(
        lines(&validate_update("apps", "v1", "Deployment", &old, &new)),
        vec![
            "metadata.namespace: Invalid value: \"other\": field is immutable",
            "spec.selector: Invalid value: {\"matchLabels\":{\"app\":\"x\",\"tier\":\"web\"}}: field is immutable",
        ]
    );
}

#[test]
fn pod_update_message_lists_updatable_fields() {
    let old = json!({"metadata": {"name": "p", "namespace": "d", "resourceVersion": "1"}, "spec": pod_spec()});
    let mut new = old.clone();
    new["spec"]["restartPolicy"] = json!("Never");
    let errs = validate_update("", "v1", "Pod", &old, &new);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].reason, CauseReason::Forbidden);
    assert!(errs[0].message.starts_with(
        "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n  core.PodSpec{\n"
    ));
    assert!(
        errs[0]
            .message
            .contains("- \tRestartPolicy: \"Always\",\n+ \tRestartPolicy: \"Never\",\n")
    );
}

#[test]
fn status_updates_use_status_rules() {
    let old = deployment(1);
    let mut new = deployment(1);
    new["status"] = json!({"replicas": -2});
    assert_eq!(
        lines(&validate_status_update(
            "apps",
            "v1",
            "Deployment",
            &old,
            &new
        )),
        vec![
            "status.replicas: Invalid value: -2: must be greater than or equal to 0",
            "status.updatedReplicas: Invalid value: 0: cannot be greater than status.replicas",
            "status.readyReplicas: Invalid value: 0: cannot be greater than status.replicas",
            "status.availableReplicas: Invalid value: 0: cannot be greater than status.replicas",
        ]
    );
    let ns_old =
        json!({"metadata": {"name": "n", "resourceVersion": "1"}, "status": {"phase": "Active"}});
    let mut ns_new = ns_old.clone();
    ns_new["status"]["phase"] = json!("Terminating");
    assert_eq!(
        lines(&validate_status_update(
            "",
            "v1",
            "Namespace",
            &ns_old,
            &ns_new
        )),
        vec![
            "status.Phase: Invalid value: \"Terminating\": may only be 'Active' if `deletionTimestamp` is empty"
        ]
    );
}

#[test]
fn immutable_config_maps_keep_their_data() {
    let old = json!({"metadata": {"name": "c", "namespace": "d", "resourceVersion": "1"}, "immutable": true, "data": {"a": "1"}});
    let mut new = old.clone();
    new["data"]["a"] = json!("2");
    assert_eq!(
        lines(&validate_update("", "v1", "ConfigMap", &old, &new)),
        vec!["data: Forbidden: field is immutable when `immutable` is set"]
    );
}

#[test]
fn errors_are_reported_once() {
    let pod = json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {
        "containers": [{"name": "a", "image": "i", "imagePullPolicy": "Always", "terminationMessagePolicy": "File",
            "volumeMounts": [{"name": "v", "mountPath": "/x"}, {"name": "v", "mountPath": "/x"}]}],
        "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "terminationGracePeriodSeconds": 30}});
    let errs = lines(&validate_create("", "v1", "Pod", &pod));
    assert_eq!(
        errs,
        vec![
            "spec.containers[0].volumeMounts[0].name: Not found: \"v\"",
            "spec.containers[0].volumeMounts[1].name: Not found: \"v\"",
            "spec.containers[0].volumeMounts[1].mountPath: Invalid value: \"/x\": must be unique",
        ]
    );
}

#[test]
fn cron_jobs_and_jobs_dispatch() {
    let cj = json!({"metadata": {"name": "c", "namespace": "d"}, "spec": {"schedule": "@hourly", "concurrencyPolicy": "Allow",
        "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "i", "imagePullPolicy": "Always", "terminationMessagePolicy": "File"}],
            "restartPolicy": "OnFailure", "dnsPolicy": "ClusterFirst", "terminationGracePeriodSeconds": 30}}}}}});
    assert!(validate_create("batch", "v1", "CronJob", &cj).is_empty());
    let mut bad = cj.clone();
    bad["spec"]["schedule"] = json!("* * * *");
    assert_eq!(
        lines(&validate_create("batch", "v1", "CronJob", &bad)),
        vec![
            "spec.schedule: Invalid value: \"* * * *\": expected exactly 5 fields, found 4: [* * * *]"
        ]
    );
}

#[test]
fn public_name_validators() {
    assert!(dns1123_subdomain_errors("a.b-c").is_empty());
    assert_eq!(dns1123_label_errors("a.b"), vec!["must not contain dots"]);
    assert!(label_key_errors("example.com/x").is_empty());
    assert!(!label_value_errors("a b").is_empty());
    assert_eq!(parse_quantity("250m").map(|q| q.milli_value()), Some(250));
}

/// Every path of `value`, as JSON pointers.
fn pointers(value: &Value, prefix: String, out: &mut Vec<String>) {
    out.push(prefix.clone());
    match value {
        Value::Object(map) => map
            .iter()
            .for_each(|(k, v)| pointers(v, format!("{prefix}/{k}"), out)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| pointers(v, format!("{prefix}/{i}"), out)),
        _ => {}
    }
}

#[test]
fn any_field_of_any_type_yields_errors_not_panics() {
    let kinds = [
        ("", "Pod"),
        ("", "PodTemplate"),
        ("", "ReplicationController"),
        ("", "Service"),
        ("", "Endpoints"),
        ("", "Node"),
        ("", "Namespace"),
        ("", "ConfigMap"),
        ("", "Secret"),
        ("", "ServiceAccount"),
        ("", "PersistentVolume"),
        ("", "PersistentVolumeClaim"),
        ("", "Event"),
        ("", "LimitRange"),
        ("", "ResourceQuota"),
        ("apps", "Deployment"),
        ("apps", "StatefulSet"),
        ("apps", "DaemonSet"),
        ("apps", "ReplicaSet"),
        ("apps", "ControllerRevision"),
        ("batch", "Job"),
        ("batch", "CronJob"),
        ("networking.k8s.io", "Ingress"),
        ("networking.k8s.io", "IngressClass"),
        ("networking.k8s.io", "NetworkPolicy"),
        ("rbac.authorization.k8s.io", "Role"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("storage.k8s.io", "StorageClass"),
        ("storage.k8s.io", "VolumeAttachment"),
        ("storage.k8s.io", "CSIDriver"),
        ("storage.k8s.io", "CSINode"),
        ("policy", "PodDisruptionBudget"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("coordination.k8s.io", "Lease"),
        ("discovery.k8s.io", "EndpointSlice"),
        ("autoscaling", "HorizontalPodAutoscaler"),
        ("certificates.k8s.io", "CertificateSigningRequest"),
        ("events.k8s.io", "Event"),
    ];
    let mut base = deployment(1);
    base["spec"]["template"]["spec"]["volumes"] = json!([{"name": "v", "projected": {"sources": [{"downwardAPI": {"items": [{"path": "p", "fieldRef": {"fieldPath": "metadata.labels['a']"}}]}}]}}]);
    base["spec"]["template"]["spec"]["containers"][0]["resources"] =
        json!({"limits": {"cpu": "1"}, "requests": {"cpu": "1"}});
    base["spec"]["template"]["spec"]["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "k", "operator": "In", "values": ["v"]}]}]}}});
    base["status"] =
        json!({"replicas": 1, "conditions": [{"type": "Available", "status": "True"}]});
    let mut pod = json!({"metadata": {"name": "p", "namespace": "d", "annotations": {"kubernetes.io/config.mirror": "x"}}, "spec": base["spec"]["template"]["spec"].clone()});
    pod["spec"]["initContainers"] = pod["spec"]["containers"].clone();
    pod["spec"]["ephemeralContainers"] = pod["spec"]["containers"].clone();
    pod["status"] = json!({"podIPs": [{"ip": "10.0.0.1"}], "containerStatuses": [{"name": "web", "state": {"terminated": {"exitCode": 0}}}]});
    let service = json!({"metadata": {"name": "s", "namespace": "d"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "targetPort": "http", "nodePort": 30000}],
        "clusterIPs": ["10.0.0.1", "fd00::1"], "externalIPs": ["1.2.3.4"], "sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 5}},
        "loadBalancerSourceRanges": ["10.0.0.0/8"], "ipFamilies": ["IPv4", "IPv6"]}, "status": {"loadBalancer": {"ingress": [{"ip": "1.1.1.1", "ipMode": "VIP"}]}}});
    let storage = json!({"metadata": {"name": "v"}, "spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}, "hostPath": {"path": "/x"},
        "resources": {"requests": {"storage": "1Gi"}}, "dataSource": {"kind": "K", "name": "n"}, "limits": [{"type": "Container", "max": {"cpu": "1"}}],
        "hard": {"pods": "1"}, "scopeSelector": {"matchExpressions": [{"scopeName": "BestEffort", "operator": "Exists"}]}},
        "data": {"a": "eA=="}, "rules": [{"verbs": ["get"]}], "subjects": [{"kind": "User", "name": "u"}], "subsets": [{"addresses": [{"ip": "10.0.0.1"}]}]});
    let replacements = [
        json!(null),
        json!(7),
        json!(-1),
        json!("x"),
        json!(true),
        json!([1, "a"]),
        json!({"k": [null]}),
    ];
    for base in [base, pod, service, storage] {
        let mut paths = Vec::new();
        pointers(&base, String::new(), &mut paths);
        for path in paths.iter().filter(|p| !p.is_empty()) {
            for replacement in &replacements {
                let mut obj = base.clone();
                if let Some(slot) = obj.pointer_mut(path) {
                    *slot = replacement.clone();
                }
                for (group, kind) in kinds {
                    let _ = validate_create(group, "v1", kind, &obj);
                    let _ = validate_update(group, "v1", kind, &base, &obj);
                    let _ = validate_status_update(group, "v1", kind, &obj, &base);
                }
            }
        }
    }
}
