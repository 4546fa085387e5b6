//! A stand-in for the kubelet, for controller tests run before the node agent exists: it
//! registers a Node, renews its Lease in `kube-node-lease`, optionally binds unscheduled
//! pods to its node (there is no scheduler in these tests), runs the pods bound to it
//! (Running with a pod IP from the node's podCIDR, Ready unless told otherwise), and
//! finishes their graceful deletion as a kubelet does (terminal phase, then a delete with
//! no grace period). It can go silent (no Lease renewals, no pod handling) and come back.
//! The helpers below play the containers: finish a pod, or flip its readiness.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{Value, json};

use super::Cluster;

/// A kube-rs client for the cluster's admin kubeconfig.
pub async fn client(cluster: &Cluster) -> kube::Client {
    let kubeconfig = Kubeconfig::read_from(cluster.kubeconfig()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn now_micro() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S.%6fZ")
        .to_string()
}

/// How the fake kubelet behaves.
#[derive(Clone, Debug)]
pub struct Behaviour {
    /// Bind pods with no `spec.nodeName` (whose nodeSelector this node satisfies) here.
    pub bind: bool,
    /// Pods it starts become Ready at once.
    pub ready: bool,
    /// Finish graceful deletions (terminal phase, then delete with no grace period).
    pub finish_deletions: bool,
    /// Extra node labels (a zone, say).
    pub labels: BTreeMap<String, String>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            bind: true,
            ready: true,
            finish_deletions: true,
            labels: BTreeMap::new(),
        }
    }
}

/// A running fake kubelet; stops when dropped.
pub struct FakeKubelet {
    pub node: String,
    silent: Arc<AtomicBool>,
    client: kube::Client,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeKubelet {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Worker {
    client: kube::Client,
    node: String,
    behaviour: Behaviour,
    next_ip: u32,
}

impl FakeKubelet {
    /// Registers `node` and starts serving it.
    pub async fn start(client: kube::Client, node: &str, behaviour: Behaviour) -> FakeKubelet {
        let mut labels: BTreeMap<String, String> = BTreeMap::from([
            ("kubernetes.io/hostname".to_string(), node.to_string()),
            ("kubernetes.io/os".to_string(), "linux".to_string()),
            ("kubernetes.io/arch".to_string(), "amd64".to_string()),
        ]);
        labels.extend(behaviour.labels.clone());
        let nodes: Api<Node> = Api::all(client.clone());
        let created = nodes
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({
                    "apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": node, "labels": labels},
                }))
                .unwrap(),
            )
            .await
            .expect("node registers");
        post_ready(&client, node, "True").await;
        let uid = created.metadata.uid.unwrap_or_default();
        let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
        leases
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({
                    "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": node, "ownerReferences": [{"apiVersion": "v1",
                        "kind": "Node", "name": node, "uid": uid}]},
                    "spec": {"holderIdentity": node, "leaseDurationSeconds": 40,
                        "renewTime": now_micro()},
                }))
                .unwrap(),
            )
            .await
            .expect("lease is created");
        let silent = Arc::new(AtomicBool::new(false));
        let mut worker = Worker {
            client: client.clone(),
            node: node.to_string(),
            behaviour,
            next_ip: 2,
        };
        let flag = silent.clone();
        let task = tokio::spawn(async move {
            loop {
                if !flag.load(Ordering::SeqCst) {
                    worker.tick().await;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        FakeKubelet {
            node: node.to_string(),
            silent,
            client,
            task,
        }
    }

    /// Stops renewing the Lease and handling pods, as a crashed or cut-off kubelet.
    pub fn go_silent(&self) {
        self.silent.store(true, Ordering::SeqCst);
    }

    /// Comes back: posts Ready and resumes.
    pub async fn resume(&self) {
        post_ready(&self.client, &self.node, "True").await;
        self.silent.store(false, Ordering::SeqCst);
    }
}

/// Posts the node's conditions as a kubelet does (Ready as given, no pressure).
async fn post_ready(client: &kube::Client, node: &str, ready: &str) {
    let nodes: Api<Node> = Api::all(client.clone());
    let t = now();
    let condition = |kind: &str, status: &str, reason: &str, message: &str| {
        json!({"type": kind, "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": t, "lastTransitionTime": t})
    };
    let status = json!({"status": {
        "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "50Gi"},
        "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "50Gi"},
        "addresses": [{"type": "Hostname", "address": node}],
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            condition("Ready", ready, "KubeletReady", "kubelet is posting ready status"),
        ],
    }});
    nodes
        .patch_status(node, &PatchParams::default(), &Patch::Merge(status))
        .await
        .expect("node status is posted");
}

impl Worker {
    async fn tick(&mut self) {
        let leases: Api<Lease> = Api::namespaced(self.client.clone(), "kube-node-lease");
        let renew = json!({"spec": {"renewTime": now_micro()}});
        let _ = leases
            .patch(&self.node, &PatchParams::default(), &Patch::Merge(renew))
            .await;
        if self.behaviour.bind {
            self.bind_unscheduled().await;
        }
        self.run_pods().await;
    }

    async fn bind_unscheduled(&self) {
        let all: Api<Pod> = Api::all(self.client.clone());
        let Ok(pods) = all.list(&ListParams::default()).await else {
            return;
        };
        for pod in pods.items {
            let spec = pod.spec.clone().unwrap_or_default();
            let unscheduled = spec.node_name.as_deref().unwrap_or("").is_empty();
            let fits = spec
                .node_selector
                .as_ref()
                .and_then(|s| s.get("kubernetes.io/hostname"))
                .is_none_or(|h| *h == self.node);
            if !unscheduled || !fits || pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let namespace = pod.metadata.namespace.clone().unwrap_or_default();
            let name = pod.metadata.name.clone().unwrap_or_default();
            let api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
            let binding = json!({"apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": name, "namespace": namespace},
                "target": {"apiVersion": "v1", "kind": "Node", "name": self.node}});
            let _ = api
                .create_subresource::<Value, Value>(
                    "binding",
                    &name,
                    &PostParams::default(),
                    &binding,
                )
                .await;
        }
    }

    async fn pod_ip(&mut self) -> String {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let cidr = nodes
            .get_opt(&self.node)
            .await
            .ok()
            .flatten()
            .and_then(|n| n.spec?.pod_cidr)
            .and_then(|c| c.parse::<ipnet::Ipv4Net>().ok());
        let base = cidr.map_or(u32::from(std::net::Ipv4Addr::new(10, 99, 0, 0)), |c| {
            u32::from(c.network())
        });
        self.next_ip += 1;
        std::net::Ipv4Addr::from(base + self.next_ip).to_string()
    }

    async fn run_pods(&mut self) {
        let all: Api<Pod> = Api::all(self.client.clone());
        let Ok(pods) = all
            .list(&ListParams::default().fields(&format!("spec.nodeName={}", self.node)))
            .await
        else {
            return;
        };
        for pod in pods.items {
            let namespace = pod.metadata.namespace.clone().unwrap_or_default();
            let name = pod.metadata.name.clone().unwrap_or_default();
            let api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
            let phase = pod
                .status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_default();
            if pod.metadata.deletion_timestamp.is_some() {
                if !self.behaviour.finish_deletions {
                    continue;
                }
                if phase != "Succeeded" && phase != "Failed" {
                    let _ = set_status(&self.client, &namespace, &name, "Failed", Some(137)).await;
                }
                let _ = api
                    .delete(&name, &DeleteParams::default().grace_period(0))
                    .await;
                continue;
            }
            if phase.is_empty() || phase == "Pending" {
                let ip = self.pod_ip().await;
                let containers: Vec<Value> = pod
                    .spec
                    .iter()
                    .flat_map(|s| s.containers.iter())
                    .map(|c| {
                        json!({"name": c.name, "image": c.image, "imageID": "",
                        "ready": self.behaviour.ready, "restartCount": 0, "started": true,
                        "state": {"running": {"startedAt": now()}}})
                    })
                    .collect();
                let ready = if self.behaviour.ready {
                    "True"
                } else {
                    "False"
                };
                let status = json!({"status": {"phase": "Running", "podIP": ip,
                    "podIPs": [{"ip": ip}], "hostIP": "192.168.1.10", "startTime": now(),
                    "conditions": [
                        {"type": "PodScheduled", "status": "True", "lastTransitionTime": now()},
                        {"type": "Initialized", "status": "True", "lastTransitionTime": now()},
                        {"type": "ContainersReady", "status": ready, "lastTransitionTime": now()},
                        {"type": "Ready", "status": ready, "lastTransitionTime": now()}],
                    "containerStatuses": containers}});
                let _ = api
                    .patch_status(&name, &PatchParams::default(), &Patch::Merge(status))
                    .await;
            }
        }
    }
}

/// Ends the pod's containers: `phase` Succeeded or Failed, with each container terminated
/// with `exit_code` (0 for Succeeded when None).
pub async fn set_status(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    phase: &str,
    exit_code: Option<i32>,
) -> Result<Pod, kube::Error> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let pod = api.get(name).await?;
    let code = exit_code.unwrap_or(if phase == "Succeeded" { 0 } else { 1 });
    let reason = if code == 0 { "Completed" } else { "Error" };
    let containers: Vec<Value> = pod
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .map(|c| {
            json!({"name": c.name, "image": c.image, "imageID": "", "ready": false,
            "restartCount": 0, "started": false,
            "state": {"terminated": {"exitCode": code, "reason": reason,
                "startedAt": now(), "finishedAt": now()}}})
        })
        .collect();
    let status = json!({"status": {"phase": phase, "containerStatuses": containers,
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now()},
            {"type": "ContainersReady", "status": "False", "reason": "PodCompleted", "lastTransitionTime": now()},
            {"type": "Ready", "status": "False", "reason": "PodCompleted", "lastTransitionTime": now()}]}});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(status))
        .await
}

/// Sets the pod's Ready (and ContainersReady) condition.
pub async fn set_ready(client: &kube::Client, namespace: &str, name: &str, ready: bool) {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let mut pod = api.get(name).await.expect("pod exists");
    let status = pod.status.get_or_insert_with(Default::default);
    let value = if ready { "True" } else { "False" };
    for condition in status.conditions.iter_mut().flatten() {
        if condition.type_ == "Ready" || condition.type_ == "ContainersReady" {
            condition.status = value.to_string();
        }
    }
    api.replace_status(name, &PostParams::default(), &pod)
        .await
        .expect("pod status is replaced");
}

/// Polls `check` every 250 ms until it yields a value, or panics after `limit` with `what`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
