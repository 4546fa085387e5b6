//! Defaulting of built-in objects on create and update, as kube-apiserver does it: the
//! `SetDefaults_*` functions of `pkg/apis/<group>/<version>/defaults.go`, the defaults generated
//! from `+default` markers, the rounding of resource lists, and the always-serialized zero
//! values of plain Go structs (`resources: {}`, a template's `metadata: {}`) that make stored
//! objects look as `kubectl get -o json` shows them upstream (Kubernetes 1.35, default feature
//! gates).
//!
//! Entry points, in the order a create request uses them:
//! 1. [`apply_defaults`] — every create and update, right after decoding.
//! 2. [`default_service_ip_families`] — Services, once the cluster IP is allocated (the same
//!    happens inside [`apply_defaults`] whenever `spec.clusterIP` is already set).
//! 3. [`generate_job_selector`] — Jobs, once the name and UID are assigned.
//! 4. [`prepare_for_create`] — creates only: starting status, Namespace finalizer, Pod priority.
//!
//! Every function is idempotent and total: a field of the wrong JSON type is left alone for
//! validation to report, and nothing panics.
//!
//! | group/version | kinds with defaults |
//! |---|---|
//! | v1 | Pod, PodTemplate, ReplicationController, Service, Endpoints, Secret, Namespace, Node, Event, PersistentVolume, PersistentVolumeClaim, LimitRange, ResourceQuota |
//! | apps/v1 | Deployment, ReplicaSet, StatefulSet, DaemonSet |
//! | batch/v1 | Job, CronJob |
//! | autoscaling/v2 | HorizontalPodAutoscaler |
//! | discovery.k8s.io/v1 | EndpointSlice |
//! | networking.k8s.io/v1 | NetworkPolicy, IngressClass |
//! | storage.k8s.io/v1 | StorageClass, CSIDriver |
//! | scheduling.k8s.io/v1 | PriorityClass |
//! | rbac.authorization.k8s.io/v1 | RoleBinding, ClusterRoleBinding |
//!
//! ConfigMap, ServiceAccount, Lease, events.k8s.io Event, Ingress, PodDisruptionBudget, Role,
//! ClusterRole and CertificateSigningRequest have no defaults upstream.

mod api_groups;
mod core_group;
mod create;
mod json;
mod pod;
mod quantity;
mod workloads;

use serde_json::Value;

pub use self::core_group::default_service_ip_families;
pub use self::create::{pod_qos_class, prepare_for_create};
pub use self::workloads::generate_job_selector;

/// Fills in the defaults upstream fills for `group`/`version`/`kind` (group "" for core).
/// Idempotent: applying twice changes nothing.
pub fn apply_defaults(group: &str, version: &str, kind: &str, object: &mut Value) {
    let Some(object) = object.as_object_mut() else {
        return;
    };
    match (group, version, kind) {
        ("", "v1", "Pod") => pod::default_pod(object),
        ("", "v1", "PodTemplate") => workloads::default_pod_template_object(object),
        ("", "v1", "ReplicationController") => workloads::default_replication_controller(object),
        ("", "v1", "Service") => core_group::default_service(object),
        ("", "v1", "Endpoints") => core_group::default_endpoints(object),
        ("", "v1", "Secret") => core_group::default_secret(object),
        ("", "v1", "Namespace") => core_group::default_namespace(object),
        ("", "v1", "Node") => core_group::default_node(object),
        ("", "v1", "Event") => core_group::default_event(object),
        ("", "v1", "PersistentVolume") => core_group::default_persistent_volume(object),
        ("", "v1", "PersistentVolumeClaim") => core_group::default_persistent_volume_claim(object),
        ("", "v1", "LimitRange") => core_group::default_limit_range(object),
        ("", "v1", "ResourceQuota") => core_group::default_resource_quota(object),
        ("apps", "v1", "Deployment") => workloads::default_deployment(object),
        ("apps", "v1", "ReplicaSet") => workloads::default_replica_set(object),
        ("apps", "v1", "StatefulSet") => workloads::default_stateful_set(object),
        ("apps", "v1", "DaemonSet") => workloads::default_daemon_set(object),
        ("batch", "v1", "Job") => workloads::default_job(object),
        ("batch", "v1", "CronJob") => workloads::default_cron_job(object),
        ("autoscaling", "v2", "HorizontalPodAutoscaler") => {
            api_groups::default_horizontal_pod_autoscaler(object);
        }
        ("discovery.k8s.io", "v1", "EndpointSlice") => api_groups::default_endpoint_slice(object),
        ("networking.k8s.io", "v1", "NetworkPolicy") => api_groups::default_network_policy(object),
        ("networking.k8s.io", "v1", "IngressClass") => api_groups::default_ingress_class(object),
        ("storage.k8s.io", "v1", "StorageClass") => api_groups::default_storage_class(object),
        ("storage.k8s.io", "v1", "CSIDriver") => api_groups::default_csi_driver(object),
        ("scheduling.k8s.io", "v1", "PriorityClass") => api_groups::default_priority_class(object),
        ("rbac.authorization.k8s.io", "v1", "RoleBinding" | "ClusterRoleBinding") => {
            api_groups::default_role_binding(object);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: &str = "2024-05-01T10:00:00Z";

    /// Defaults, strategy and defaults again, as a create goes through upstream.
    fn create(group: &str, version: &str, kind: &str, mut object: Value) -> Value {
        apply_defaults(group, version, kind, &mut object);
        prepare_for_create(group, version, kind, &mut object, NOW);
        apply_defaults(group, version, kind, &mut object);
        object
    }

    #[test]
    fn minimal_deployment_matches_upstream() {
        // What `kubectl create deployment nginx --image=nginx` (1.27-1.33) sends, minus
        // `replicas` and `strategy: {}`.
        let mut deployment = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "nginx", "namespace": "default", "labels": {"app": "nginx"}},
            "spec": {
                "selector": {"matchLabels": {"app": "nginx"}},
                "template": {
                    "metadata": {"creationTimestamp": null, "labels": {"app": "nginx"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx", "resources": {}}]}
                }
            },
            "status": {}
        });
        apply_defaults("apps", "v1", "Deployment", &mut deployment);
        // `kubectl get deploy nginx -o json` on Kubernetes 1.35, without the server-set
        // metadata (uid, resourceVersion, generation, creationTimestamp, revision annotation)
        // and status.
        let expected = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "nginx", "namespace": "default", "labels": {"app": "nginx"}},
            "spec": {
                "progressDeadlineSeconds": 600,
                "replicas": 1,
                "revisionHistoryLimit": 10,
                "selector": {"matchLabels": {"app": "nginx"}},
                "strategy": {
                    "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
                    "type": "RollingUpdate"
                },
                "template": {
                    "metadata": {"labels": {"app": "nginx"}},
                    "spec": {
                        "containers": [{
                            "image": "nginx",
                            "imagePullPolicy": "Always",
                            "name": "nginx",
                            "resources": {},
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File"
                        }],
                        "dnsPolicy": "ClusterFirst",
                        "restartPolicy": "Always",
                        "schedulerName": "default-scheduler",
                        "securityContext": {},
                        "terminationGracePeriodSeconds": 30
                    }
                }
            },
            "status": {}
        });
        assert_eq!(deployment, expected);
    }

    #[test]
    fn pod_matches_upstream() {
        // `kubectl run web --image=nginx:1.25 --port=80` plus limits only and a probe.
        let pod = create(
            "",
            "v1",
            "Pod",
            json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "web", "labels": {"run": "web"}},
                "spec": {
                    "containers": [{
                        "name": "web",
                        "image": "nginx:1.25",
                        "ports": [{"containerPort": 80}],
                        "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}},
                        "readinessProbe": {"httpGet": {"port": 80}}
                    }],
                    "restartPolicy": "Always"
                },
                "status": {"phase": "Running"}
            }),
        );
        let expected = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web", "labels": {"run": "web"}},
            "spec": {
                "containers": [{
                    "image": "nginx:1.25",
                    "imagePullPolicy": "IfNotPresent",
                    "name": "web",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "readinessProbe": {
                        "failureThreshold": 3,
                        "httpGet": {"path": "/", "port": 80, "scheme": "HTTP"},
                        "periodSeconds": 10,
                        "successThreshold": 1,
                        "timeoutSeconds": 1
                    },
                    "resources": {
                        "limits": {"cpu": "500m", "memory": "128Mi"},
                        "requests": {"cpu": "500m", "memory": "128Mi"}
                    },
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File"
                }],
                "dnsPolicy": "ClusterFirst",
                "enableServiceLinks": true,
                "restartPolicy": "Always",
                "schedulerName": "default-scheduler",
                "securityContext": {},
                "terminationGracePeriodSeconds": 30
            },
            "status": {"phase": "Pending", "qosClass": "Guaranteed"}
        });
        assert_eq!(pod, expected);
    }

    #[test]
    fn service_matches_upstream() {
        // `kubectl expose deployment nginx --port=80` on a single-stack IPv4 cluster.
        let mut service = json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "nginx", "labels": {"app": "nginx"}},
            "spec": {"ports": [{"port": 80}], "selector": {"app": "nginx"}}
        });
        apply_defaults("", "v1", "Service", &mut service);
        prepare_for_create("", "v1", "Service", &mut service, NOW);
        // The allocator assigns the address; the IP family fields follow from it.
        if let Some(spec) = service.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert("clusterIP".to_string(), json!("10.43.0.17"));
        }
        default_service_ip_families(&mut service, "IPv4");
        apply_defaults("", "v1", "Service", &mut service);
        let expected = json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "nginx", "labels": {"app": "nginx"}},
            "spec": {
                "clusterIP": "10.43.0.17",
                "clusterIPs": ["10.43.0.17"],
                "internalTrafficPolicy": "Cluster",
                "ipFamilies": ["IPv4"],
                "ipFamilyPolicy": "SingleStack",
                "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
                "selector": {"app": "nginx"},
                "sessionAffinity": "None",
                "type": "ClusterIP"
            },
            "status": {"loadBalancer": {}}
        });
        assert_eq!(service, expected);
    }

    #[test]
    fn job_matches_upstream() {
        // What `kubectl create job pi --image=perl:5.34 -- perl -e 1` sends.
        let mut job = json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "pi", "namespace": "default"},
            "spec": {
                "template": {
                    "metadata": {},
                    "spec": {
                        "containers": [{"name": "pi", "image": "perl:5.34", "command": ["perl", "-e", "1"]}],
                        "restartPolicy": "Never"
                    }
                }
            }
        });
        let uid = "8e4b9a40-5b1c-4a4c-9d55-0f0e6f1c2a3b";
        apply_defaults("batch", "v1", "Job", &mut job);
        generate_job_selector(&mut job, uid);
        prepare_for_create("batch", "v1", "Job", &mut job, NOW);
        apply_defaults("batch", "v1", "Job", &mut job);
        let labels = json!({
            "batch.kubernetes.io/controller-uid": uid,
            "batch.kubernetes.io/job-name": "pi",
            "controller-uid": uid,
            "job-name": "pi"
        });
        let expected = json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "pi", "namespace": "default", "labels": labels},
            "spec": {
                "backoffLimit": 6,
                "completionMode": "NonIndexed",
                "completions": 1,
                "manualSelector": false,
                "parallelism": 1,
                "podReplacementPolicy": "TerminatingOrFailed",
                "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}},
                "suspend": false,
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [{
                            "command": ["perl", "-e", "1"],
                            "image": "perl:5.34",
                            "imagePullPolicy": "IfNotPresent",
                            "name": "pi",
                            "resources": {},
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File"
                        }],
                        "dnsPolicy": "ClusterFirst",
                        "restartPolicy": "Never",
                        "schedulerName": "default-scheduler",
                        "securityContext": {},
                        "terminationGracePeriodSeconds": 30
                    }
                }
            },
            "status": {}
        });
        assert_eq!(job, expected);
    }

    #[test]
    fn cron_job_matches_upstream() {
        // What `kubectl create cronjob hello --image=busybox --schedule='*/1 * * * *'` sends.
        let cron_job = create(
            "batch",
            "v1",
            "CronJob",
            json!({
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "metadata": {"name": "hello"},
                "spec": {
                    "schedule": "*/1 * * * *",
                    "jobTemplate": {
                        "metadata": {"name": "hello"},
                        "spec": {
                            "template": {
                                "metadata": {},
                                "spec": {
                                    "containers": [{"name": "hello", "image": "busybox"}],
                                    "restartPolicy": "OnFailure"
                                }
                            }
                        }
                    }
                }
            }),
        );
        let expected = json!({
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "hello"},
            "spec": {
                "concurrencyPolicy": "Allow",
                "failedJobsHistoryLimit": 1,
                "jobTemplate": {
                    "metadata": {"name": "hello"},
                    "spec": {
                        "template": {
                            "metadata": {},
                            "spec": {
                                "containers": [{
                                    "image": "busybox",
                                    "imagePullPolicy": "Always",
                                    "name": "hello",
                                    "resources": {},
                                    "terminationMessagePath": "/dev/termination-log",
                                    "terminationMessagePolicy": "File"
                                }],
                                "dnsPolicy": "ClusterFirst",
                                "restartPolicy": "OnFailure",
                                "schedulerName": "default-scheduler",
                                "securityContext": {},
                                "terminationGracePeriodSeconds": 30
                            }
                        }
                    }
                },
                "schedule": "*/1 * * * *",
                "successfulJobsHistoryLimit": 3,
                "suspend": false
            },
            "status": {}
        });
        assert_eq!(cron_job, expected);
    }

    /// One object of every kind with defaults, with enough nesting to reach most defaulters.
    fn samples() -> Vec<(&'static str, &'static str, &'static str, Value)> {
        let template = json!({
            "metadata": {"labels": {"app": "x"}},
            "spec": {
                "containers": [{
                    "name": "c", "image": "c",
                    "ports": [{"containerPort": 80}],
                    "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                    "resources": {"limits": {"cpu": 0.5}},
                    "livenessProbe": {"grpc": {"port": 1}}
                }],
                "volumes": [{"name": "v"}, {"name": "p", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}}]
            }
        });
        vec![
            (
                "",
                "v1",
                "Pod",
                json!({"metadata": {"name": "p"}, "spec": template["spec"].clone()}),
            ),
            (
                "",
                "v1",
                "PodTemplate",
                json!({"template": template.clone()}),
            ),
            (
                "",
                "v1",
                "ReplicationController",
                json!({"spec": {"template": template.clone()}}),
            ),
            (
                "",
                "v1",
                "Service",
                json!({"spec": {"type": "NodePort", "ports": [{"port": 80}], "clusterIP": "10.0.0.1"}}),
            ),
            (
                "",
                "v1",
                "Endpoints",
                json!({"subsets": [{"ports": [{"port": 80}]}]}),
            ),
            ("", "v1", "Secret", json!({"data": {}})),
            ("", "v1", "Namespace", json!({"metadata": {"name": "n"}})),
            (
                "",
                "v1",
                "Node",
                json!({"status": {"capacity": {"cpu": "2"}}}),
            ),
            ("", "v1", "Event", json!({"reason": "x"})),
            (
                "",
                "v1",
                "PersistentVolume",
                json!({"spec": {"rbd": {"image": "i"}}}),
            ),
            ("", "v1", "PersistentVolumeClaim", json!({"spec": {}})),
            (
                "",
                "v1",
                "LimitRange",
                json!({"spec": {"limits": [{"type": "Container", "max": {"cpu": "1"}}]}}),
            ),
            (
                "",
                "v1",
                "ResourceQuota",
                json!({"spec": {"hard": {"pods": 10}}}),
            ),
            (
                "apps",
                "v1",
                "Deployment",
                json!({"spec": {"template": template.clone()}}),
            ),
            (
                "apps",
                "v1",
                "ReplicaSet",
                json!({"spec": {"template": template.clone()}}),
            ),
            (
                "apps",
                "v1",
                "StatefulSet",
                json!({"spec": {"template": template.clone(), "volumeClaimTemplates": [{"spec": {}}]}}),
            ),
            (
                "apps",
                "v1",
                "DaemonSet",
                json!({"spec": {"template": template.clone()}}),
            ),
            (
                "batch",
                "v1",
                "Job",
                json!({"metadata": {"name": "j"}, "spec": {"template": template.clone()}}),
            ),
            (
                "batch",
                "v1",
                "CronJob",
                json!({"spec": {"jobTemplate": {"spec": {"template": template}}}}),
            ),
            (
                "autoscaling",
                "v2",
                "HorizontalPodAutoscaler",
                json!({"spec": {"behavior": {}}}),
            ),
            (
                "discovery.k8s.io",
                "v1",
                "EndpointSlice",
                json!({"ports": [{}]}),
            ),
            (
                "networking.k8s.io",
                "v1",
                "NetworkPolicy",
                json!({"spec": {}}),
            ),
            (
                "networking.k8s.io",
                "v1",
                "IngressClass",
                json!({"spec": {"parameters": {"kind": "K", "name": "n"}}}),
            ),
            ("storage.k8s.io", "v1", "StorageClass", json!({})),
            ("storage.k8s.io", "v1", "CSIDriver", json!({})),
            (
                "scheduling.k8s.io",
                "v1",
                "PriorityClass",
                json!({"value": 1}),
            ),
            (
                "rbac.authorization.k8s.io",
                "v1",
                "ClusterRoleBinding",
                json!({"roleRef": {}, "subjects": [{"kind": "User"}]}),
            ),
        ]
    }

    #[test]
    fn defaults_are_idempotent() {
        for (group, version, kind, mut object) in samples() {
            apply_defaults(group, version, kind, &mut object);
            let once = object.clone();
            apply_defaults(group, version, kind, &mut object);
            assert_eq!(object, once, "{group}/{version} {kind}");
            prepare_for_create(group, version, kind, &mut object, NOW);
            let prepared = object.clone();
            apply_defaults(group, version, kind, &mut object);
            prepare_for_create(group, version, kind, &mut object, NOW);
            assert_eq!(object, prepared, "{group}/{version} {kind} after create");
        }
    }

    #[test]
    fn odd_shapes_never_panic() {
        let odd_values = [
            json!(null),
            json!(1),
            json!("text"),
            json!([]),
            json!({"spec": 1, "metadata": [], "status": "x"}),
            json!({"spec": {"template": 1, "ports": {}, "containers": [null, 1, {"resources": 1, "ports": [1], "env": [{"valueFrom": 1}]}], "volumes": [{"name": 1, "projected": {"sources": 1}}], "strategy": [], "updateStrategy": {"type": 1}, "jobTemplate": {"spec": []}, "behavior": {"scaleUp": 1}, "metrics": 1, "subjects": [1], "limits": [{"type": "Container", "max": 1, "default": 2}]}}),
            json!({"spec": {"template": {"spec": {"containers": [{"image": 1, "imagePullPolicy": 1, "resources": {"limits": {"cpu": "bad", "memory": []}}}]}}}}),
        ];
        for (group, version, kind, _) in samples() {
            for odd in &odd_values {
                let mut object = odd.clone();
                apply_defaults(group, version, kind, &mut object);
                prepare_for_create(group, version, kind, &mut object, NOW);
                generate_job_selector(&mut object, "uid");
                default_service_ip_families(&mut object, "IPv4");
                let once = object.clone();
                apply_defaults(group, version, kind, &mut object);
                assert_eq!(object, once, "{group}/{version} {kind} on {odd}");
            }
        }
    }

    #[test]
    fn unknown_kinds_are_untouched() {
        let mut object = json!({"spec": {}});
        apply_defaults("example.com", "v1", "Widget", &mut object);
        apply_defaults("apps", "v1beta1", "Deployment", &mut object);
        assert_eq!(object, json!({"spec": {}}));
    }
}
