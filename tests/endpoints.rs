//! Endpoints and EndpointSlices against a real `kedge server`: they follow pod readiness
//! and deletion, resolve named target ports, carry the upstream labels and owner
//! references, and leave selectorless Services alone.

mod common;

use std::time::Duration;

use common::fake_kubelet::{Behaviour, FakeKubelet, client, eventually, set_ready};
use common::{Cluster, Kubectl, Out, default_kubectl};
use k8s_openapi::api::core::v1::{Endpoints, Pod};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams};

fn kubectl(cluster: &Cluster, kubectl: &Kubectl, args: &[&str]) -> Out {
    tokio::task::block_in_place(|| cluster.kubectl(kubectl, args))
}

fn apply(cluster: &Cluster, kubectl: &Kubectl, yaml: &str) {
    tokio::task::block_in_place(|| {
        cluster
            .kubectl_with(kubectl, &["apply", "-f", "-"], &[], Some(yaml))
            .ok()
            .to_string()
    });
}

fn pod_yaml(name: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels:
    app: web
spec:
  containers:
  - name: main
    image: nginx
    ports:
    - name: http
      containerPort: 8080
"#
    )
}

const SERVICE: &str = r#"apiVersion: v1
kind: Service
metadata:
  name: web
  labels:
    tier: front
spec:
  selector:
    app: web
  ports:
  - name: http
    port: 80
    targetPort: http
"#;

/// Ready and not-ready IPs of the `web` Endpoints.
async fn addresses(api: &Api<Endpoints>) -> Option<(Vec<String>, Vec<String>)> {
    let endpoints = api.get("web").await.ok()?;
    let mut ready = Vec::new();
    let mut not_ready = Vec::new();
    for subset in endpoints.subsets.unwrap_or_default() {
        ready.extend(
            subset
                .addresses
                .unwrap_or_default()
                .into_iter()
                .map(|a| a.ip),
        );
        not_ready.extend(
            subset
                .not_ready_addresses
                .unwrap_or_default()
                .into_iter()
                .map(|a| a.ip),
        );
    }
    ready.sort();
    not_ready.sort();
    Some((ready, not_ready))
}

/// The `web` slices' endpoints as (pod name, ready, serving, terminating).
async fn slice_endpoints(api: &Api<EndpointSlice>) -> Vec<(String, bool, bool, bool)> {
    let slices = api
        .list(&ListParams::default().labels("kubernetes.io/service-name=web"))
        .await
        .unwrap()
        .items;
    let mut result: Vec<(String, bool, bool, bool)> = slices
        .into_iter()
        .flat_map(|s| s.endpoints)
        .map(|e| {
            let c = e.conditions.unwrap_or_default();
            (
                e.target_ref.and_then(|r| r.name).unwrap_or_default(),
                c.ready == Some(true),
                c.serving == Some(true),
                c.terminating == Some(true),
            )
        })
        .collect();
    result.sort();
    result
}

fn ip_of(pod: &Pod) -> String {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_follow_pod_readiness() {
    let cluster = Cluster::start();
    let k = default_kubectl();
    let c = client(&cluster).await;
    // Pods start not ready, and stay Terminating when deleted (no kubelet finishing it).
    let _kubelet = FakeKubelet::start(
        c.clone(),
        "node-1",
        Behaviour {
            ready: false,
            finish_deletions: false,
            labels: [(
                "topology.kubernetes.io/zone".to_string(),
                "zone-a".to_string(),
            )]
            .into(),
            ..Behaviour::default()
        },
    )
    .await;
    apply(&cluster, &k, SERVICE);
    apply(&cluster, &k, &pod_yaml("web-1"));
    apply(&cluster, &k, &pod_yaml("web-2"));
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    let (ip1, ip2) = eventually(Duration::from_secs(30), "both pods running", || async {
        let one = ip_of(&pods.get("web-1").await.ok()?);
        let two = ip_of(&pods.get("web-2").await.ok()?);
        (!one.is_empty() && !two.is_empty()).then_some((one, two))
    })
    .await;
    let endpoints: Api<Endpoints> = Api::namespaced(c.clone(), "default");
    let slices: Api<EndpointSlice> = Api::namespaced(c.clone(), "default");
    let mut both = vec![ip1.clone(), ip2.clone()];
    both.sort();
    eventually(
        Duration::from_secs(30),
        "two not-ready addresses",
        || async { (addresses(&endpoints).await? == (vec![], both.clone())).then_some(()) },
    )
    .await;
    eventually(
        Duration::from_secs(30),
        "two not-ready slice endpoints",
        || async {
            let want = vec![
                ("web-1".to_string(), false, false, false),
                ("web-2".to_string(), false, false, false),
            ];
            (slice_endpoints(&slices).await == want).then_some(())
        },
    )
    .await;

    set_ready(&c, "default", "web-1", true).await;
    eventually(
        Duration::from_secs(30),
        "web-1 ready in Endpoints",
        || async {
            (addresses(&endpoints).await? == (vec![ip1.clone()], vec![ip2.clone()])).then_some(())
        },
    )
    .await;
    eventually(
        Duration::from_secs(30),
        "web-1 ready in the slice",
        || async {
            let want = vec![
                ("web-1".to_string(), true, true, false),
                ("web-2".to_string(), false, false, false),
            ];
            (slice_endpoints(&slices).await == want).then_some(())
        },
    )
    .await;
    let out = kubectl(
        &cluster,
        &k,
        &[
            "get",
            "endpoints",
            "web",
            "-o",
            "jsonpath={.subsets[0].ports[0].port} {.subsets[0].ports[0].name} {.metadata.labels.endpoints\\.kubernetes\\.io/managed-by}",
        ],
    );
    assert_eq!(out.ok(), "8080 http endpoint-controller");

    // A ready pod being deleted: gone from Endpoints, terminating (still serving) in slices.
    pods.delete("web-1", &DeleteParams::default())
        .await
        .unwrap();
    eventually(
        Duration::from_secs(30),
        "web-1 out of Endpoints",
        || async { (addresses(&endpoints).await? == (vec![], vec![ip2.clone()])).then_some(()) },
    )
    .await;
    eventually(
        Duration::from_secs(30),
        "web-1 terminating in the slice",
        || async {
            let want = vec![
                ("web-1".to_string(), false, true, true),
                ("web-2".to_string(), false, false, false),
            ];
            (slice_endpoints(&slices).await == want).then_some(())
        },
    )
    .await;

    // The slice's shape, as kube-proxy and kubectl read it.
    let slice = slices
        .list(&ListParams::default().labels("kubernetes.io/service-name=web"))
        .await
        .unwrap()
        .items
        .pop()
        .unwrap();
    let labels = slice.metadata.labels.clone().unwrap();
    assert_eq!(
        labels["endpointslice.kubernetes.io/managed-by"],
        "endpointslice-controller.k8s.io"
    );
    assert_eq!(labels["tier"], "front");
    let owner = &slice.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("Service", "web", Some(true))
    );
    assert_eq!(slice.address_type, "IPv4");
    let port = &slice.ports.as_ref().unwrap()[0];
    assert_eq!(
        (port.name.as_deref(), port.port),
        (Some("http"), Some(8080))
    );
    let endpoint = &slice.endpoints[0];
    assert_eq!(endpoint.node_name.as_deref(), Some("node-1"));
    assert_eq!(endpoint.zone.as_deref(), Some("zone-a"));
    let table = kubectl(
        &cluster,
        &k,
        &[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=web",
        ],
    );
    assert!(table.ok().contains("8080"), "{}", table.stdout);

    // The API server's own Service is not ours to manage.
    let kubernetes = endpoints.get_opt("kubernetes").await.unwrap();
    assert!(kubernetes.is_none_or(|e| {
        !e.metadata
            .labels
            .unwrap_or_default()
            .contains_key("endpoints.kubernetes.io/managed-by")
    }));
    // Deleting the Service removes its Endpoints (and the collector its slices).
    kubectl(&cluster, &k, &["delete", "service", "web"]).ok();
    eventually(Duration::from_secs(30), "the Endpoints to go", || async {
        endpoints.get_opt("web").await.ok()?.is_none().then_some(())
    })
    .await;
    eventually(Duration::from_secs(40), "the slices to go", || async {
        slice_endpoints(&slices).await.is_empty().then_some(())
    })
    .await;
}

/// The mirrored slices of `db`: (addresses, ready) of each endpoint and the ports, sorted.
async fn mirrored(api: &Api<EndpointSlice>) -> Vec<(String, Vec<String>, Vec<i32>)> {
    let Ok(list) = api
        .list(&ListParams::default().labels(
            "kubernetes.io/service-name=db,endpointslice.kubernetes.io/managed-by=endpointslicemirroring-controller.k8s.io",
        ))
        .await
    else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<String>, Vec<i32>)> = list
        .items
        .into_iter()
        .map(|s| {
            let mut addresses: Vec<String> = s
                .endpoints
                .iter()
                .map(|e| {
                    let ready = e.conditions.as_ref().and_then(|c| c.ready) == Some(true);
                    format!(
                        "{}{}",
                        e.addresses.join(","),
                        if ready { "" } else { " (not ready)" }
                    )
                })
                .collect();
            addresses.sort();
            let ports = s.ports.iter().flatten().filter_map(|p| p.port).collect();
            (s.address_type, addresses, ports)
        })
        .collect();
    out.sort();
    out
}

/// Upstream's EndpointSliceMirroring conformance behaviour: a hand-written Endpoints of a
/// selectorless Service is mirrored into slices through create, update and delete; a
/// Service that gains a selector loses its mirrored slices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_of_selectorless_services_are_mirrored_into_slices() {
    let cluster = Cluster::start();
    let k = default_kubectl();
    let c = client(&cluster).await;
    let slices: Api<EndpointSlice> = Api::namespaced(c.clone(), "default");
    let endpoints = |ip: &str, port: u16| {
        format!(
            r#"apiVersion: v1
kind: Endpoints
metadata:
  name: db
  labels: {{team: data}}
subsets:
- addresses: [{{ip: {ip}}}, {{ip: "fd00::7"}}]
  notReadyAddresses: [{{ip: 10.9.9.9}}]
  ports: [{{name: pg, port: {port}}}]
"#
        )
    };
    apply(
        &cluster,
        &k,
        "apiVersion: v1\nkind: Service\nmetadata: {name: db}\nspec: {ports: [{name: pg, port: 5432}]}\n",
    );
    apply(&cluster, &k, &endpoints("10.1.2.3", 5432));
    let want = |ip: &str, port: i32| {
        vec![
            (
                "IPv4".to_string(),
                vec![ip.to_string(), "10.9.9.9 (not ready)".to_string()],
                vec![port],
            ),
            ("IPv6".to_string(), vec!["fd00::7".to_string()], vec![port]),
        ]
    };
    eventually(Duration::from_secs(30), "the mirrored slices", || async {
        (mirrored(&slices).await == want("10.1.2.3", 5432)).then_some(())
    })
    .await;
    let list = slices
        .list(&ListParams::default().labels("kubernetes.io/service-name=db"))
        .await
        .unwrap();
    let meta = &list.items[0].metadata;
    assert_eq!(meta.labels.as_ref().unwrap()["team"], "data");
    let owner = &meta.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Endpoints", "db")
    );

    // An update is mirrored.
    apply(&cluster, &k, &endpoints("10.2.3.4", 8080));
    eventually(Duration::from_secs(30), "the updated slices", || async {
        (mirrored(&slices).await == want("10.2.3.4", 8080)).then_some(())
    })
    .await;

    // A selector makes the Service the EndpointSlice controller's: the mirrors go.
    kubectl(
        &cluster,
        &k,
        &[
            "patch",
            "service",
            "db",
            "-p",
            r#"{"spec":{"selector":{"app":"db"}}}"#,
        ],
    )
    .ok();
    eventually(Duration::from_secs(30), "the mirrors to go", || async {
        mirrored(&slices).await.is_empty().then_some(())
    })
    .await;
    kubectl(
        &cluster,
        &k,
        &[
            "patch",
            "service",
            "db",
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/spec/selector"}]"#,
        ],
    )
    .ok();
    apply(&cluster, &k, &endpoints("10.3.4.5", 5432));
    eventually(
        Duration::from_secs(30),
        "the slices mirrored again",
        || async { (mirrored(&slices).await == want("10.3.4.5", 5432)).then_some(()) },
    )
    .await;

    // Deleting the Endpoints deletes the slices (they are owned by it).
    kubectl(&cluster, &k, &["delete", "endpoints", "db"]).ok();
    eventually(
        Duration::from_secs(40),
        "the slices to go with it",
        || async { mirrored(&slices).await.is_empty().then_some(()) },
    )
    .await;
}
