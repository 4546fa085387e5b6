//! Nodes against a real `kedge server`: pod CIDRs handed out and kept across a restart, and
//! a node whose kubelet goes silent — Unknown conditions, unreachable taints, its pods
//! marked not ready and evicted (a ReplicaSet's pod replaced), then the taints gone once the
//! kubelet is back.

mod common;

use std::time::Duration;

use common::fake_kubelet::{Behaviour, FakeKubelet, client, eventually};
use common::{Cluster, Kubectl, Out, default_kubectl};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams};

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

async fn pod_cidr(nodes: &Api<Node>, name: &str) -> Option<String> {
    nodes.get(name).await.ok()?.spec?.pod_cidr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_get_pod_cidrs_that_survive_a_restart() {
    let mut cluster = Cluster::start();
    let k = default_kubectl();
    let c = client(&cluster).await;
    let a = FakeKubelet::start(c.clone(), "node-a", Behaviour::default()).await;
    let b = FakeKubelet::start(c.clone(), "node-b", Behaviour::default()).await;
    let nodes: Api<Node> = Api::all(c.clone());
    let cidrs = eventually(
        Duration::from_secs(30),
        "pod CIDRs on both nodes",
        || async {
            Some((
                pod_cidr(&nodes, "node-a").await?,
                pod_cidr(&nodes, "node-b").await?,
            ))
        },
    )
    .await;
    assert_ne!(cidrs.0, cidrs.1);
    for cidr in [&cidrs.0, &cidrs.1] {
        let net: ipnet::Ipv4Net = cidr.parse().unwrap();
        assert_eq!(net.prefix_len(), 24);
        assert!(
            "10.42.0.0/16"
                .parse::<ipnet::Ipv4Net>()
                .unwrap()
                .contains(&net),
            "{cidr}"
        );
    }
    let out = kubectl(
        &cluster,
        &k,
        &[
            "get",
            "node",
            "node-a",
            "-o",
            "jsonpath={.spec.podCIDR} {.spec.podCIDRs[0]}",
        ],
    );
    assert_eq!(out.ok(), format!("{} {}", cidrs.0, cidrs.0));
    drop((a, b));
    cluster.restart();
    let c = client(&cluster).await;
    let nodes: Api<Node> = Api::all(c.clone());
    let _c = FakeKubelet::start(c.clone(), "node-c", Behaviour::default()).await;
    let third = eventually(
        Duration::from_secs(30),
        "a pod CIDR for the new node",
        || async { pod_cidr(&nodes, "node-c").await },
    )
    .await;
    assert_eq!(pod_cidr(&nodes, "node-a").await.unwrap(), cidrs.0);
    assert_eq!(pod_cidr(&nodes, "node-b").await.unwrap(), cidrs.1);
    assert!(third != cidrs.0 && third != cidrs.1, "{third} reused");
}

fn taints(node: &Node) -> Vec<String> {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|t| format!("{}:{}", t.key, t.effect))
        .collect()
}

const VICTIM: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: victim
spec:
  nodeName: node-a
  tolerations:
  - key: node.kubernetes.io/unreachable
    operator: Exists
    effect: NoExecute
    tolerationSeconds: 2
  - key: node.kubernetes.io/not-ready
    operator: Exists
    effect: NoExecute
    tolerationSeconds: 2
  containers:
  - name: main
    image: busybox
"#;

const REPLICATED: &str = r#"apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: replicated
spec:
  replicas: 1
  selector:
    matchLabels:
      app: replicated
  template:
    metadata:
      labels:
        app: replicated
    spec:
      nodeSelector:
        kubernetes.io/hostname: node-a
      tolerations:
      - key: node.kubernetes.io/unreachable
        operator: Exists
        effect: NoExecute
        tolerationSeconds: 2
      containers:
      - name: main
        image: busybox
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_node_is_tainted_and_its_pods_evicted() {
    let cluster = Cluster::start();
    let k = default_kubectl();
    let c = client(&cluster).await;
    let a = FakeKubelet::start(c.clone(), "node-a", Behaviour::default()).await;
    // A second, healthy node: with every node down, eviction would stop (as upstream).
    let _b = FakeKubelet::start(
        c.clone(),
        "node-b",
        Behaviour {
            bind: false,
            ..Behaviour::default()
        },
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    apply(&cluster, &k, VICTIM);
    apply(&cluster, &k, REPLICATED);
    eventually(Duration::from_secs(30), "the victim running", || async {
        let pod = pods.get("victim").await.ok()?;
        (pod.status?.phase.as_deref() == Some("Running")).then_some(())
    })
    .await;
    let replicated = eventually(
        Duration::from_secs(30),
        "the ReplicaSet's pod running",
        || async {
            let list = pods
                .list(&ListParams::default().labels("app=replicated"))
                .await
                .ok()?;
            list.items
                .into_iter()
                .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
                .and_then(|p| p.metadata.name)
        },
    )
    .await;

    a.go_silent();
    let nodes: Api<Node> = Api::all(c.clone());
    let node = eventually(
        Duration::from_secs(90),
        "node-a to become Unknown and tainted",
        || async {
            let node = nodes.get("node-a").await.ok()?;
            let tainted =
                taints(&node).contains(&"node.kubernetes.io/unreachable:NoExecute".to_string());
            tainted.then_some(node)
        },
    )
    .await;
    let ready = node
        .status
        .as_ref()
        .unwrap()
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap()
        .clone();
    assert_eq!(ready.status, "Unknown");
    assert_eq!(ready.reason.as_deref(), Some("NodeStatusUnknown"));
    assert_eq!(
        ready.message.as_deref(),
        Some("Kubelet stopped posting node status.")
    );
    assert!(
        taints(&node).contains(&"node.kubernetes.io/unreachable:NoSchedule".to_string()),
        "{:?}",
        taints(&node)
    );
    let out = kubectl(&cluster, &k, &["get", "node", "node-a"]);
    assert!(out.ok().contains("NotReady"), "{}", out.stdout);
    // The healthy node keeps its pods and gets no taint.
    assert!(taints(&nodes.get("node-b").await.unwrap()).is_empty());

    // Evicted once its 2 s toleration runs out: marked, then deleted (it stays Terminating,
    // as its kubelet is gone).
    let evicted = eventually(Duration::from_secs(30), "the victim's eviction", || async {
        let pod = pods.get("victim").await.ok()?;
        pod.metadata.deletion_timestamp.is_some().then_some(pod)
    })
    .await;
    let conditions = evicted.status.unwrap().conditions.unwrap();
    let disruption = conditions
        .iter()
        .find(|c| c.type_ == "DisruptionTarget")
        .unwrap();
    assert_eq!(disruption.reason.as_deref(), Some("DeletionByTaintManager"));
    let ready = conditions.iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!(ready.status, "False");
    let events = eventually(Duration::from_secs(20), "the eviction events", || async {
        let out = kubectl(
            &cluster,
            &k,
            &[
                "get",
                "events",
                "-A",
                "-o",
                "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}",
            ],
        );
        let text = out.ok().to_string();
        text.contains("TaintManagerEviction").then_some(text)
    })
    .await;
    assert!(
        events.contains("TaintManagerEviction: Marking for deletion Pod default/victim"),
        "{events}"
    );
    assert!(
        events.contains("NodeNotReady: Node node-a status is now: NodeNotReady"),
        "{events}"
    );
    assert!(
        events.contains("NodeNotReady: Node is not ready"),
        "{events}"
    );

    // The ReplicaSet's pod is evicted too, and the ReplicaSet controller replaces it.
    eventually(Duration::from_secs(30), "a replacement pod", || async {
        let list = pods
            .list(&ListParams::default().labels("app=replicated"))
            .await
            .ok()?;
        let evicted = list.items.iter().any(|p| {
            p.metadata.name.as_ref() == Some(&replicated) && p.metadata.deletion_timestamp.is_some()
        });
        let replacement = list.items.iter().any(|p| {
            p.metadata.name.as_ref() != Some(&replicated) && p.metadata.deletion_timestamp.is_none()
        });
        (evicted && replacement).then_some(())
    })
    .await;

    // The kubelet comes back: the taints go.
    a.resume().await;
    eventually(Duration::from_secs(30), "node-a's taints to go", || async {
        let node = nodes.get("node-a").await.ok()?;
        taints(&node).is_empty().then_some(())
    })
    .await;
}
