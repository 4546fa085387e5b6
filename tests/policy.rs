//! Policy controllers and admission against a real `kedge server`, driven by kubectl:
//! PodDisruptionBudget status and evictions (also through `kubectl drain`), ResourceQuota
//! usage and refusals, LimitRange defaults and limits, HorizontalPodAutoscaler conditions
//! without metrics, and CertificateSigningRequest approval and signing.

mod common;

use std::time::{Duration, Instant};

use common::policy_pods::{FakeNode, set_phase, set_running_ready};
use common::{Cluster, Kubectl, default_kubectl};
use serde_json::{Value, json};

/// Polls `probe` until it answers, for at most a minute.
#[track_caller]
fn wait_until<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn get_json(cluster: &Cluster, k: &Kubectl, args: &[&str]) -> Value {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    serde_json::from_str(cluster.kubectl(k, &all).ok()).expect("kubectl prints JSON")
}

fn apply(cluster: &Cluster, k: &Kubectl, object: &Value) -> common::Out {
    cluster.kubectl_with(k, &["apply", "-f", "-"], &[], Some(&object.to_string()))
}

fn evict(cluster: &Cluster, k: &Kubectl, namespace: &str, pod: &str) -> common::Out {
    let eviction = json!({"apiVersion": "policy/v1", "kind": "Eviction",
        "metadata": {"name": pod, "namespace": namespace}});
    let path = format!("/api/v1/namespaces/{namespace}/pods/{pod}/eviction");
    cluster.kubectl_with(
        k,
        &["create", "--raw", &path, "-f", "-"],
        &[],
        Some(&eviction.to_string()),
    )
}

fn run_pod(
    cluster: &Cluster,
    k: &Kubectl,
    namespace: &str,
    name: &str,
    spec: Value,
) -> common::Out {
    let mut pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": name, "image": "nginx"}]}});
    if let (Some(target), Some(extra)) = (pod["spec"].as_object_mut(), spec.as_object()) {
        for (key, value) in extra {
            target.insert(key.clone(), value.clone());
        }
    }
    cluster.kubectl_with(k, &["create", "-f", "-"], &[], Some(&pod.to_string()))
}

fn condition<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

#[test]
fn disruption_budget_status_and_evictions() {
    let cluster = Cluster::start();
    let k = default_kubectl();
    let _node = FakeNode::register(&cluster, &k, "edge-1");
    cluster.kubectl(&k, &["create", "namespace", "shop"]).ok();
    for i in 1..=3 {
        let name = format!("web-{i}");
        run_pod(&cluster, &k, "shop", &name, json!({"nodeName": "edge-1"})).ok();
        set_running_ready(&cluster, &k, "shop", &name).ok();
    }
    cluster
        .kubectl(
            &k,
            &[
                "create",
                "pdb",
                "web",
                "-n",
                "shop",
                "--selector=app=web",
                "--min-available=2",
            ],
        )
        .ok();
    let pdb = wait_until("the budget's status", || {
        let pdb = get_json(&cluster, &k, &["pdb", "web", "-n", "shop"]);
        (pdb["status"]["currentHealthy"] == 3).then_some(pdb)
    });
    let status = &pdb["status"];
    assert_eq!(status["expectedPods"], 3);
    assert_eq!(status["desiredHealthy"], 2);
    assert_eq!(status["disruptionsAllowed"], 1);
    assert_eq!(status["observedGeneration"], 1);
    let allowed = condition(&pdb, "DisruptionAllowed").expect("DisruptionAllowed condition");
    assert_eq!(allowed["status"], "True");
    assert_eq!(allowed["reason"], "SufficientPods");
    let table = cluster
        .kubectl(&k, &["get", "pdb", "-n", "shop"])
        .ok()
        .to_string();
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()[..4] == ["web", "2", "N/A", "1"]),
        "{table}"
    );

    // One disruption is allowed: the first eviction deletes its pod and spends it.
    assert!(
        evict(&cluster, &k, "shop", "web-1")
            .ok()
            .contains("Success")
    );
    let pdb = wait_until("the budget to be spent", || {
        let pdb = get_json(&cluster, &k, &["pdb", "web", "-n", "shop"]);
        (pdb["status"]["currentHealthy"] == 2).then_some(pdb)
    });
    assert_eq!(pdb["status"]["disruptionsAllowed"], 0);
    let allowed = condition(&pdb, "DisruptionAllowed").unwrap();
    assert_eq!(
        (&allowed["status"], &allowed["reason"]),
        (&json!("False"), &json!("InsufficientPods"))
    );
    let web1 = get_json(&cluster, &k, &["pod", "web-1", "-n", "shop"]);
    assert!(web1["metadata"]["deletionTimestamp"].is_string(), "{web1}");

    // The next one would leave the budget short.
    evict(&cluster, &k, "shop", "web-2").fails_with(
        "Error from server (TooManyRequests): Cannot evict pod as it would violate the pod's disruption budget.",
    );
    assert!(
        get_json(&cluster, &k, &["pod", "web-2", "-n", "shop"])["metadata"]["deletionTimestamp"]
            .is_null()
    );

    // kubectl drain meets the same refusal, and keeps retrying until its timeout.
    let drain = cluster.kubectl(
        &k,
        &[
            "drain",
            "edge-1",
            "--force",
            "--ignore-daemonsets",
            "--timeout=7s",
        ],
    );
    assert_ne!(drain.code, 0, "{drain:?}");
    assert!(
        drain
            .stderr
            .contains("(will retry after 5s): Cannot evict pod as it would violate the pod's disruption budget."),
        "{drain:?}"
    );
    assert_eq!(
        get_json(&cluster, &k, &["node", "edge-1"])["spec"]["unschedulable"],
        true
    );

    // A budget over pods without a controller cannot use maxUnavailable.
    cluster.kubectl(&k, &["create", "namespace", "solo"]).ok();
    run_pod(&cluster, &k, "solo", "lone", json!({"nodeName": "edge-1"})).ok();
    set_running_ready(&cluster, &k, "solo", "lone").ok();
    cluster
        .kubectl(
            &k,
            &[
                "create",
                "pdb",
                "lone",
                "-n",
                "solo",
                "--selector=app=web",
                "--max-unavailable=1",
            ],
        )
        .ok();
    let described = wait_until("the UnmanagedPods event", || {
        let out = cluster
            .kubectl(&k, &["describe", "pdb", "lone", "-n", "solo"])
            .ok()
            .to_string();
        out.contains("UnmanagedPods").then_some(out)
    });
    assert!(
        described.contains("Pods selected by this PodDisruptionBudget (selector: &LabelSelector{MatchLabels:map[string]string{app: web,},MatchExpressions:[]LabelSelectorRequirement{},}) were found to be unmanaged."),
        "{described}"
    );
    let pdb = get_json(&cluster, &k, &["pdb", "lone", "-n", "solo"]);
    assert_eq!(pdb["status"]["expectedPods"], 0);
    assert_eq!(pdb["status"]["disruptionsAllowed"], 0);
}

fn quota_used(cluster: &Cluster, k: &Kubectl, namespace: &str, name: &str) -> Value {
    get_json(cluster, k, &["quota", name, "-n", namespace])["status"]["used"].clone()
}

fn wait_used(
    cluster: &Cluster,
    k: &Kubectl,
    namespace: &str,
    name: &str,
    resource: &str,
    value: &str,
) {
    wait_until(&format!("{resource}={value} in quota {name}"), || {
        (quota_used(cluster, k, namespace, name)[resource] == value).then_some(())
    });
}

fn pod_resources(cpu: &str, memory: &str) -> Value {
    json!({"containers": [{"name": "app", "image": "nginx",
        "resources": {"requests": {"cpu": cpu}, "limits": {"memory": memory}}}]})
}

#[test]
fn resource_quota_usage_and_admission() {
    let cluster = Cluster::start();
    let k = default_kubectl();
    cluster.kubectl(&k, &["create", "namespace", "team"]).ok();
    apply(
        &cluster,
        &k,
        &json!({"apiVersion": "v1", "kind": "ResourceQuota",
        "metadata": {"name": "q", "namespace": "team"},
        "spec": {"hard": {"pods": "2", "requests.cpu": "1", "limits.memory": "1Gi",
            "configmaps": "3", "services.nodeports": "1"}}}),
    )
    .ok();
    wait_used(&cluster, &k, "team", "q", "pods", "0");
    // The namespace's kube-root-ca.crt is counted.
    wait_used(&cluster, &k, "team", "q", "configmaps", "1");

    cluster
        .kubectl(&k, &["run", "p0", "-n", "team", "--image=nginx"])
        .fails_with(r#"pods "p0" is forbidden: failed quota: q: must specify limits.memory for: p0; requests.cpu for: p0"#);
    run_pod(&cluster, &k, "team", "p1", pod_resources("400m", "256Mi")).ok();
    run_pod(&cluster, &k, "team", "p2", pod_resources("400m", "256Mi")).ok();
    run_pod(&cluster, &k, "team", "p3", pod_resources("100m", "256Mi"))
        .fails_with(r#"pods "p3" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2"#);
    let described = cluster
        .kubectl(&k, &["describe", "quota", "q", "-n", "team"])
        .ok()
        .to_string();
    for row in [
        ["pods", "2", "2"],
        ["requests.cpu", "800m", "1"],
        ["limits.memory", "512Mi", "1Gi"],
    ] {
        assert!(
            described
                .lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == row),
            "{row:?} missing from:\n{described}"
        );
    }

    // Finished and deleted pods stop costing.
    set_phase(&cluster, &k, "team", "p2", "Succeeded").ok();
    wait_used(&cluster, &k, "team", "q", "pods", "1");
    cluster
        .kubectl(
            &k,
            &[
                "delete",
                "pod",
                "p1",
                "-n",
                "team",
                "--grace-period=0",
                "--force",
            ],
        )
        .ok();
    wait_used(&cluster, &k, "team", "q", "pods", "0");
    assert_eq!(quota_used(&cluster, &k, "team", "q")["requests.cpu"], "0");

    cluster
        .kubectl(
            &k,
            &[
                "create",
                "service",
                "nodeport",
                "s1",
                "-n",
                "team",
                "--tcp=80:80",
            ],
        )
        .ok();
    cluster
        .kubectl(&k, &["create", "service", "nodeport", "s2", "-n", "team", "--tcp=80:80"])
        .fails_with(r#"services "s2" is forbidden: exceeded quota: q, requested: services.nodeports=1, used: services.nodeports=1, limited: services.nodeports=1"#);
    cluster
        .kubectl(
            &k,
            &[
                "create",
                "service",
                "clusterip",
                "s3",
                "-n",
                "team",
                "--tcp=80:80",
            ],
        )
        .ok();

    // Object counts of any resource.
    cluster.kubectl(&k, &["create", "namespace", "apps"]).ok();
    apply(
        &cluster,
        &k,
        &json!({"apiVersion": "v1", "kind": "ResourceQuota",
        "metadata": {"name": "objects", "namespace": "apps"},
        "spec": {"hard": {"count/deployments.apps": "1"}}}),
    )
    .ok();
    wait_used(
        &cluster,
        &k,
        "apps",
        "objects",
        "count/deployments.apps",
        "0",
    );
    cluster
        .kubectl(
            &k,
            &["create", "deployment", "d1", "-n", "apps", "--image=nginx"],
        )
        .ok();
    cluster
        .kubectl(&k, &["create", "deployment", "d2", "-n", "apps", "--image=nginx"])
        .fails_with(r#"deployments.apps "d2" is forbidden: exceeded quota: objects, requested: count/deployments.apps=1, used: count/deployments.apps=1, limited: count/deployments.apps=1"#);
    cluster
        .kubectl(&k, &["delete", "deployment", "d1", "-n", "apps"])
        .ok();
    wait_used(
        &cluster,
        &k,
        "apps",
        "objects",
        "count/deployments.apps",
        "0",
    );
    cluster
        .kubectl(
            &k,
            &["create", "deployment", "d2", "-n", "apps", "--image=nginx"],
        )
        .ok();

    // Scopes: a BestEffort quota counts only pods without requests or limits.
    cluster.kubectl(&k, &["create", "namespace", "scoped"]).ok();
    apply(
        &cluster,
        &k,
        &json!({"apiVersion": "v1", "kind": "ResourceQuota",
        "metadata": {"name": "best-effort", "namespace": "scoped"},
        "spec": {"hard": {"pods": "1"}, "scopes": ["BestEffort"]}}),
    )
    .ok();
    wait_used(&cluster, &k, "scoped", "best-effort", "pods", "0");
    run_pod(&cluster, &k, "scoped", "free-1", json!({})).ok();
    run_pod(&cluster, &k, "scoped", "free-2", json!({})).fails_with(
        "exceeded quota: best-effort, requested: pods=1, used: pods=1, limited: pods=1",
    );
    run_pod(
        &cluster,
        &k,
        "scoped",
        "paid",
        pod_resources("100m", "64Mi"),
    )
    .ok();

    // Racing creates cannot overshoot a quota.
    cluster.kubectl(&k, &["create", "namespace", "race"]).ok();
    apply(
        &cluster,
        &k,
        &json!({"apiVersion": "v1", "kind": "ResourceQuota",
        "metadata": {"name": "three", "namespace": "race"}, "spec": {"hard": {"pods": "3"}}}),
    )
    .ok();
    wait_used(&cluster, &k, "race", "three", "pods", "0");
    // Eight kubectl processes at once, each creating one pod.
    let children: Vec<_> = (0..8)
        .map(|i| {
            let pod = json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("r{i}"), "namespace": "race"},
                "spec": {"containers": [{"name": "app", "image": "nginx"}]}});
            let file = cluster.dir.path().join(format!("r{i}.json"));
            std::fs::write(&file, pod.to_string()).unwrap();
            std::process::Command::new(&k.path)
                .args(["create", "-f", file.to_str().unwrap()])
                .env("KUBECONFIG", cluster.kubeconfig())
                .env("HOME", cluster.dir.path())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let created = children
        .into_iter()
        .filter_map(|mut c| c.wait().ok())
        .filter(|status| status.success())
        .count();
    assert_eq!(created, 3);
    assert_eq!(quota_used(&cluster, &k, "race", "three")["pods"], "3");
    let pods = get_json(&cluster, &k, &["pods", "-n", "race"]);
    assert_eq!(pods["items"].as_array().unwrap().len(), 3);
}

#[test]
fn limit_range_defaults_and_limits() {
    let cluster = Cluster::start();
    let k = default_kubectl();
    cluster.kubectl(&k, &["create", "namespace", "lr"]).ok();
    apply(
        &cluster,
        &k,
        &json!({"apiVersion": "v1", "kind": "LimitRange",
        "metadata": {"name": "limits", "namespace": "lr"},
        "spec": {"limits": [
            {"type": "Container", "default": {"cpu": "500m", "memory": "128Mi"},
             "defaultRequest": {"cpu": "250m"}, "max": {"cpu": "500m"}},
            {"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}},
        ]}}),
    )
    .ok();
    cluster
        .kubectl(&k, &["run", "web", "-n", "lr", "--image=nginx"])
        .ok();
    let pod = get_json(&cluster, &k, &["pod", "web", "-n", "lr"]);
    // The memory request defaults to the memory limit (LimitRange defaulting).
    assert_eq!(
        pod["spec"]["containers"][0]["resources"],
        json!({"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "250m", "memory": "128Mi"}})
    );
    assert_eq!(
        pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"],
        "LimitRanger plugin set: cpu, memory request for container web; cpu, memory limit for container web"
    );
    assert_eq!(pod["status"]["qosClass"], "Burstable");

    let big = json!({"containers": [{"name": "big", "image": "nginx", "resources": {"limits": {"cpu": "1"}}}]});
    run_pod(&cluster, &k, "lr", "big", big).fails_with(
        r#"pods "big" is forbidden: maximum cpu usage per Container is 500m, but limit is 1"#,
    );

    let claim = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "small", "namespace": "lr"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "500Mi"}}}});
    cluster
        .kubectl_with(&k, &["create", "-f", "-"], &[], Some(&claim.to_string()))
        .fails_with(r#"persistentvolumeclaims "small" is forbidden: minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi"#);
}

#[test]
fn autoscaler_conditions_without_metrics() {
    let cluster = Cluster::start();
    let k = default_kubectl();
    cluster.kubectl(&k, &["create", "namespace", "hpa"]).ok();
    cluster
        .kubectl(
            &k,
            &[
                "create",
                "deployment",
                "web",
                "-n",
                "hpa",
                "--image=nginx",
                "--replicas=1",
            ],
        )
        .ok();
    apply(
        &cluster,
        &k,
        &json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "hpa"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 2, "maxReplicas": 5,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 50}}}]}}),
    )
    .ok();
    // Below its minimum, the target is scaled up through its scale subresource.
    wait_until("the deployment to be scaled to 2", || {
        (get_json(&cluster, &k, &["deployment", "web", "-n", "hpa"])["spec"]["replicas"] == 2)
            .then_some(())
    });
    let described = wait_until("ScalingActive in kubectl describe", || {
        let out = cluster
            .kubectl(&k, &["describe", "hpa", "web", "-n", "hpa"])
            .ok()
            .to_string();
        (out.contains("ScalingActive") && out.contains("FailedComputeMetricsReplicas"))
            .then_some(out)
    });
    let has_line = |parts: &[&str]| {
        described
            .lines()
            .any(|l| parts.iter().all(|p| l.contains(p)))
    };
    assert!(
        has_line(&[
            "AbleToScale",
            "True",
            "SucceededGetScale",
            "the HPA controller was able to get the target's current scale"
        ]),
        "{described}"
    );
    assert!(
        has_line(&[
            "ScalingActive",
            "False",
            "FailedGetResourceMetric",
            "the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu: no metrics returned from resource metrics API"
        ]),
        "{described}"
    );
    assert!(
        has_line(&["resource cpu on pods", "<unknown> / 50%"]),
        "{described}"
    );
    assert!(
        has_line(&[
            "SuccessfulRescale",
            "New size: 2; reason: Current number of replicas below Spec.MinReplicas"
        ]),
        "{described}"
    );
    assert!(
        has_line(&[
            "FailedGetResourceMetric",
            "failed to get cpu utilization: unable to get metrics for resource cpu: no metrics returned from resource metrics API"
        ]),
        "{described}"
    );
    assert!(
        has_line(&[
            "FailedComputeMetricsReplicas",
            "invalid metrics (1 invalid out of 1), first error is: failed to get cpu resource metric value:"
        ]),
        "{described}"
    );
    let hpa = get_json(&cluster, &k, &["hpa", "web", "-n", "hpa"]);
    assert_eq!(hpa["status"]["currentReplicas"], 2);
    assert_eq!(hpa["status"]["desiredReplicas"], 2);

    // Above its maximum, it is scaled down.
    cluster
        .kubectl(
            &k,
            &["scale", "deployment", "web", "-n", "hpa", "--replicas=9"],
        )
        .ok();
    wait_until("the deployment to be scaled to 5", || {
        (get_json(&cluster, &k, &["deployment", "web", "-n", "hpa"])["spec"]["replicas"] == 5)
            .then_some(())
    });
}

fn request_pem(common_name: &str, organization: &str, dns: &[&str]) -> (String, String) {
    use rcgen::{CertificateParams, DnType, KeyPair};
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(dns.iter().map(|d| d.to_string()).collect::<Vec<_>>()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params
        .distinguished_name
        .push(DnType::OrganizationName, organization);
    let pem = params.serialize_request(&key).unwrap().pem().unwrap();
    (pem, key.serialize_pem())
}

fn csr(name: &str, pem: &str, signer: &str, usages: &[&str], seconds: Option<i64>) -> Value {
    use base64::Engine;
    let mut csr = json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
        "metadata": {"name": name},
        "spec": {"request": base64::engine::general_purpose::STANDARD.encode(pem),
            "signerName": signer, "usages": usages}});
    if let Some(seconds) = seconds {
        csr["spec"]["expirationSeconds"] = json!(seconds);
    }
    csr
}

fn issued_certificate(cluster: &Cluster, k: &Kubectl, name: &str) -> String {
    use base64::Engine;
    let encoded = wait_until(&format!("a certificate for {name}"), || {
        let csr = get_json(cluster, k, &["csr", name]);
        csr["status"]["certificate"].as_str().map(str::to_string)
    });
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn certificate_signing_requests_are_approved_and_signed() {
    use x509_parser::pem::parse_x509_pem;
    let cluster = Cluster::start();
    let k = default_kubectl();

    // A client certificate, approved with kubectl.
    let (pem, key) = request_pem("alice", "devs", &[]);
    apply(
        &cluster,
        &k,
        &csr(
            "alice",
            &pem,
            "kubernetes.io/kube-apiserver-client",
            &["client auth"],
            Some(3600),
        ),
    )
    .ok();
    let listed = cluster
        .kubectl(&k, &["get", "csr", "alice"])
        .ok()
        .to_string();
    assert!(
        listed.contains("kubernetes.io/kube-apiserver-client") && listed.contains("Pending"),
        "{listed}"
    );
    let requested = get_json(&cluster, &k, &["csr", "alice"]);
    assert_eq!(requested["spec"]["username"], "system:admin");
    cluster
        .kubectl(&k, &["certificate", "approve", "alice"])
        .ok();
    let certificate = issued_certificate(&cluster, &k, "alice");
    let listed = cluster
        .kubectl(&k, &["get", "csr", "alice"])
        .ok()
        .to_string();
    assert!(listed.contains("Approved,Issued"), "{listed}");

    // Signed by the client CA, for the requested hour, as a leaf.
    let ca_pem = std::fs::read(cluster.data_dir().join("server/tls/client-ca.crt")).unwrap();
    let (_, ca) = parse_x509_pem(&ca_pem).unwrap();
    let ca = ca.parse_x509().unwrap();
    let (_, leaf) = parse_x509_pem(certificate.as_bytes()).unwrap();
    let leaf = leaf.parse_x509().unwrap();
    assert_eq!(leaf.issuer(), ca.subject());
    leaf.verify_signature(Some(ca.public_key()))
        .expect("signed by the client CA");
    let validity = leaf.validity();
    assert_eq!(
        validity.not_after.timestamp() - validity.not_before.timestamp(),
        3600
    );
    assert!(!leaf.is_ca());
    assert_eq!(leaf.subject().to_string(), "CN=alice, O=devs");

    // The certificate logs in as alice.
    let dir = cluster.dir.path();
    std::fs::write(dir.join("alice.crt"), &certificate).unwrap();
    std::fs::write(dir.join("alice.key"), key).unwrap();
    let whoami = cluster.kubectl(
        &k,
        &[
            "--kubeconfig=/dev/null",
            &format!("--server={}", cluster.url()),
            &format!(
                "--certificate-authority={}",
                cluster
                    .data_dir()
                    .join("server/tls/server-ca.crt")
                    .display()
            ),
            &format!("--client-certificate={}", dir.join("alice.crt").display()),
            &format!("--client-key={}", dir.join("alice.key").display()),
            "auth",
            "whoami",
        ],
    );
    let whoami = whoami.ok();
    assert!(
        whoami.contains("alice") && whoami.contains("devs"),
        "{whoami}"
    );

    // A kubelet client certificate is approved automatically.
    let (pem, _) = request_pem("system:node:edge-1", "system:nodes", &[]);
    apply(
        &cluster,
        &k,
        &csr(
            "node-csr-edge-1",
            &pem,
            "kubernetes.io/kube-apiserver-client-kubelet",
            &["digital signature", "client auth"],
            None,
        ),
    )
    .ok();
    issued_certificate(&cluster, &k, "node-csr-edge-1");
    let node_csr = get_json(&cluster, &k, &["csr", "node-csr-edge-1"]);
    let approved = condition(&node_csr, "Approved").expect("Approved");
    assert_eq!(approved["reason"], "AutoApproved");
    assert_eq!(
        approved["message"],
        "Auto approving kubelet client certificate after SubjectAccessReview."
    );

    // A kubelet serving request that breaks its signer's rules fails once approved.
    let (pem, _) = request_pem("edge-1", "devs", &["edge-1"]);
    apply(
        &cluster,
        &k,
        &csr(
            "serving-bad",
            &pem,
            "kubernetes.io/kubelet-serving",
            &["digital signature", "key encipherment", "server auth"],
            None,
        ),
    )
    .ok();
    cluster
        .kubectl(&k, &["certificate", "approve", "serving-bad"])
        .ok();
    let failed = wait_until("the Failed condition", || {
        let csr = get_json(&cluster, &k, &["csr", "serving-bad"]);
        condition(&csr, "Failed").cloned()
    });
    assert_eq!(failed["reason"], "SignerValidationFailure");
    assert_eq!(
        failed["message"],
        "subject organization is not system:nodes"
    );
    // A valid serving request is signed by the server CA.
    let (pem, _) = request_pem("system:node:edge-1", "system:nodes", &["edge-1"]);
    apply(
        &cluster,
        &k,
        &csr(
            "serving-good",
            &pem,
            "kubernetes.io/kubelet-serving",
            &["digital signature", "key encipherment", "server auth"],
            None,
        ),
    )
    .ok();
    cluster
        .kubectl(&k, &["certificate", "approve", "serving-good"])
        .ok();
    let serving = issued_certificate(&cluster, &k, "serving-good");
    let server_ca = std::fs::read(cluster.data_dir().join("server/tls/server-ca.crt")).unwrap();
    let (_, server_ca) = parse_x509_pem(&server_ca).unwrap();
    let server_ca = server_ca.parse_x509().unwrap();
    let (_, leaf) = parse_x509_pem(serving.as_bytes()).unwrap();
    let leaf = leaf.parse_x509().unwrap();
    leaf.verify_signature(Some(server_ca.public_key()))
        .expect("signed by the server CA");
}
