//! Nodes without a kubelet, for tests of the scheduler and controllers: Node objects with
//! capacity, labels, taints and a Ready condition, kept alive by renewing their Leases in
//! `kube-node-lease`; and the kubelet's part played by hand (pods marked Running and Ready,
//! terminating pods finally deleted).
#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{Value, json};

use super::Cluster;

/// A kube-rs client with the cluster's admin credentials.
pub async fn client(cluster: &Cluster) -> kube::Client {
    let kubeconfig = Kubeconfig::read_from(cluster.kubeconfig()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

/// What a fake node looks like.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    pub name: String,
    pub cpu: String,
    pub memory: String,
    pub pods: String,
    pub labels: Vec<(String, String)>,
    /// `key=value:Effect` or `key:Effect`.
    pub taints: Vec<String>,
    pub unschedulable: bool,
}

impl NodeSpec {
    pub fn new(name: &str, cpu: &str) -> NodeSpec {
        NodeSpec {
            name: name.into(),
            cpu: cpu.into(),
            memory: "8Gi".into(),
            pods: "110".into(),
            labels: Vec::new(),
            taints: Vec::new(),
            unschedulable: false,
        }
    }

    pub fn label(mut self, key: &str, value: &str) -> NodeSpec {
        self.labels.push((key.into(), value.into()));
        self
    }

    pub fn taint(mut self, taint: &str) -> NodeSpec {
        self.taints.push(taint.into());
        self
    }

    pub fn cordoned(mut self) -> NodeSpec {
        self.unschedulable = true;
        self
    }
}

fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn micro_now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        .to_string()
}

fn taint_json(taint: &str) -> Value {
    let (kv, effect) = taint.split_once(':').expect("taint needs an effect");
    match kv.split_once('=') {
        Some((k, v)) => json!({"key": k, "value": v, "effect": effect}),
        None => json!({"key": kv, "effect": effect}),
    }
}

/// Creates the node (Ready, with its capacity as allocatable) and its Lease.
pub async fn create_node(client: &kube::Client, spec: &NodeSpec) {
    let mut labels = serde_json::Map::new();
    labels.insert("kubernetes.io/hostname".into(), json!(spec.name));
    labels.insert("kubernetes.io/os".into(), json!("linux"));
    for (k, v) in &spec.labels {
        labels.insert(k.clone(), json!(v));
    }
    let taints: Vec<Value> = spec.taints.iter().map(|t| taint_json(t)).collect();
    let resources = json!({"cpu": spec.cpu, "memory": spec.memory, "pods": spec.pods, "ephemeral-storage": "100Gi"});
    let status = json!({
        "capacity": resources,
        "allocatable": resources,
        "conditions": [{
            "type": "Ready", "status": "True", "reason": "KubeletReady",
            "message": "kubelet is posting ready status",
            "lastHeartbeatTime": now(), "lastTransitionTime": now(),
        }],
        "nodeInfo": {
            "architecture": "amd64", "bootID": "", "containerRuntimeVersion": "fake://1",
            "kernelVersion": "6.1", "kubeProxyVersion": "", "kubeletVersion": "v1.35.0",
            "machineID": "", "operatingSystem": "linux", "osImage": "fake", "systemUUID": "",
        },
    });
    let node: Node = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": spec.name, "labels": labels},
        "spec": {"taints": taints, "unschedulable": spec.unschedulable},
        "status": status,
    }))
    .unwrap();
    let nodes: Api<Node> = Api::all(client.clone());
    nodes.create(&PostParams::default(), &node).await.unwrap();
    nodes
        .patch_status(
            &spec.name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await
        .unwrap();
    renew_lease(client, &spec.name).await;
}

/// Creates or renews the node's Lease, as a kubelet does every 10 s.
pub async fn renew_lease(client: &kube::Client, node: &str) {
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let lease = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": node, "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": micro_now()},
    });
    leases
        .patch(
            node,
            &PatchParams::apply("fake-kubelet").force(),
            &Patch::Apply(lease),
        )
        .await
        .unwrap();
}

/// Renews the Leases of `nodes` every 10 s until dropped.
pub struct LeaseKeeper {
    task: tokio::task::JoinHandle<()>,
}

impl LeaseKeeper {
    pub fn start(client: &kube::Client, nodes: Vec<String>) -> LeaseKeeper {
        let client = client.clone();
        LeaseKeeper {
            task: tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    for node in &nodes {
                        renew_lease(&client, node).await;
                    }
                }
            }),
        }
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Creates every node and keeps them alive.
pub async fn create_nodes(client: &kube::Client, specs: &[NodeSpec]) -> LeaseKeeper {
    for spec in specs {
        create_node(client, spec).await;
    }
    LeaseKeeper::start(client, specs.iter().map(|s| s.name.clone()).collect())
}

/// Plays the kubelet: the pod is Running with its containers ready.
pub async fn mark_running(client: &kube::Client, namespace: &str, name: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let status = json!({"status": {
        "phase": "Running",
        "startTime": now(),
        "podIP": "10.42.0.10",
        "conditions": [
            {"type": "Initialized", "status": "True", "lastTransitionTime": now()},
            {"type": "Ready", "status": "True", "lastTransitionTime": now()},
            {"type": "ContainersReady", "status": "True", "lastTransitionTime": now()},
        ],
    }});
    pods.patch_status(name, &PatchParams::default(), &Patch::Strategic(status))
        .await
        .unwrap();
}

/// Plays the kubelet finishing a graceful deletion.
pub async fn finish_deletion(client: &kube::Client, namespace: &str, name: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let _ = pods
        .delete(name, &DeleteParams::default().grace_period(0))
        .await;
}

/// Polls `check` every 100 ms until it gives a value; panics after 60 s.
pub async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
