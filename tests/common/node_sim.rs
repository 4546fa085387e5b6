//! Nodes without a kubelet, for controller tests: [`FakeNodes`] registers Node objects, keeps
//! them alive by renewing their Leases in `kube-node-lease`, and plays the kubelet (and, while
//! there is no scheduler, the binder) from a background thread:
//!
//! - a pending pod without `nodeName` is bound through `pods/binding` — to the node its
//!   required node affinity pins it to (`matchFields metadata.name`, as daemon pods are), else
//!   to the test nodes in turn;
//! - a pending pod on one of its nodes becomes `Running` and `Ready` (unless it carries the
//!   [`HOLD`] label, or readiness is switched off with [`FakeNodes::set_auto_ready`]);
//! - a pod being deleted on one of its nodes is removed (a grace-period-0 delete), as a
//!   kubelet does once the containers stopped.
//!
//! Everything it saw and did is kept in order in a log ([`Seen`]), which tests read to check
//! the order controllers acted in.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher;
use serde_json::json;

use super::Cluster;

/// Pods with this label are never made ready.
pub const HOLD: &str = "kubelet.test/hold";

/// One thing the fake kubelet saw or did, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    Added(String),
    Bound(String, String),
    Ready(String),
    Terminating(String),
    Deleted(String),
}

pub struct FakeNodes {
    pub names: Vec<String>,
    log: Arc<Mutex<Vec<Seen>>>,
    auto_ready: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A kube-rs client for the cluster.
pub async fn client(cluster: &Cluster) -> kube::Client {
    let kubeconfig = Kubeconfig::read_from(cluster.kubeconfig()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

fn node(name: &str) -> Node {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
        }},
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                "message": "kubelet is posting ready status",
                "lastHeartbeatTime": now(), "lastTransitionTime": now()}],
            "capacity": {"cpu": "8", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"},
            "allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"},
            "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": name}],
            "nodeInfo": {"kubeletVersion": "v1.35.0", "osImage": "fake", "kernelVersion": "6",
                "containerRuntimeVersion": "fake://1", "kubeProxyVersion": "", "operatingSystem": "linux",
                "architecture": "amd64", "machineID": "", "systemUUID": "", "bootID": ""},
        },
    }))
    .unwrap()
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

/// The node a pending pod is pinned to by its required node affinity.
fn pinned_node(pod: &Pod) -> Option<String> {
    let terms = &pod
        .spec
        .as_ref()?
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    terms.iter().find_map(|t| {
        t.match_fields
            .iter()
            .flatten()
            .find(|r| r.key == "metadata.name" && r.operator == "In")
            .and_then(|r| r.values.as_ref()?.first().cloned())
    })
}

impl FakeNodes {
    /// Registers `names` as Ready nodes and starts playing their kubelet.
    pub fn start(cluster: &Cluster, names: &[&str]) -> FakeNodes {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let log = Arc::new(Mutex::new(Vec::new()));
        let auto_ready = Arc::new(AtomicBool::new(true));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = {
            let (names, log, auto_ready, stop) =
                (names.clone(), log.clone(), auto_ready.clone(), stop.clone());
            let kubeconfig = cluster.kubeconfig();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    let kubeconfig = Kubeconfig::read_from(kubeconfig).unwrap();
                    let config = kube::Config::from_custom_kubeconfig(
                        kubeconfig,
                        &KubeConfigOptions::default(),
                    )
                    .await
                    .unwrap();
                    let client = kube::Client::try_from(config).unwrap();
                    register(&client, &names).await;
                    let _ = ready_tx.send(());
                    let kubelet = Kubelet {
                        client,
                        names,
                        log,
                        auto_ready,
                        stop,
                    };
                    kubelet.run().await;
                });
            })
        };
        ready_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("fake nodes registered");
        FakeNodes {
            names,
            log,
            auto_ready,
            stop,
            thread: Some(thread),
        }
    }

    /// Whether pending pods become ready on their own (default: yes).
    pub fn set_auto_ready(&self, on: bool) {
        self.auto_ready.store(on, Ordering::SeqCst);
    }

    /// Everything seen and done so far, in order.
    pub fn log(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for FakeNodes {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn register(client: &kube::Client, names: &[String]) {
    let nodes: Api<Node> = Api::all(client.clone());
    for name in names {
        let created = nodes
            .create(&PostParams::default(), &node(name))
            .await
            .unwrap();
        // A create drops the status on kinds with a status subresource; set it too.
        let status = json!({"status": serde_json::to_value(node(name).status).unwrap()});
        nodes
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .unwrap();
        let _ = created;
    }
    renew_leases(client, names).await;
}

async fn renew_leases(client: &kube::Client, names: &[String]) {
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    for name in names {
        let lease = json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": now_micro()},
        });
        let params = PatchParams::apply("fake-kubelet").force();
        let _ = leases.patch(name, &params, &Patch::Apply(&lease)).await;
    }
}

struct Kubelet {
    client: kube::Client,
    names: Vec<String>,
    log: Arc<Mutex<Vec<Seen>>>,
    auto_ready: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Kubelet {
    fn record(&self, seen: Seen) {
        self.log.lock().unwrap().push(seen);
    }

    async fn run(&self) {
        let pods: Api<Pod> = Api::all(self.client.clone());
        let mut events = watcher(pods, watcher::Config::default()).boxed();
        let mut known: HashSet<String> = HashSet::new();
        let mut next_node = 0usize;
        let mut renewed = Instant::now();
        // Pods that were held back, looked at again when readiness is switched on.
        let mut pending: Vec<Pod> = Vec::new();
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            if renewed.elapsed() > Duration::from_secs(5) {
                renew_leases(&self.client, &self.names).await;
                renewed = Instant::now();
            }
            if self.auto_ready.load(Ordering::SeqCst) && !pending.is_empty() {
                for pod in std::mem::take(&mut pending) {
                    self.handle(&pod, &mut known, &mut next_node, &mut pending)
                        .await;
                }
            }
            let event = match tokio::time::timeout(Duration::from_millis(200), events.next()).await
            {
                Ok(Some(Ok(event))) => event,
                Ok(Some(Err(_))) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                Ok(None) => return,
                Err(_) => continue,
            };
            match event {
                watcher::Event::Apply(pod) | watcher::Event::InitApply(pod) => {
                    self.handle(&pod, &mut known, &mut next_node, &mut pending)
                        .await;
                }
                watcher::Event::Delete(pod) => {
                    let key = key(&pod);
                    known.remove(&key);
                    pending.retain(|p| self::key(p) != key);
                    self.record(Seen::Deleted(pod.metadata.name.clone().unwrap_or_default()));
                }
                watcher::Event::Init | watcher::Event::InitDone => {}
            }
        }
    }

    async fn handle(
        &self,
        pod: &Pod,
        known: &mut HashSet<String>,
        next_node: &mut usize,
        pending: &mut Vec<Pod>,
    ) {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
        if known.insert(key(pod)) {
            self.record(Seen::Added(name.clone()));
        }
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        let phase = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default();
        if pod.metadata.deletion_timestamp.is_some() {
            if self.names.contains(&node) {
                self.record(Seen::Terminating(name.clone()));
                let _ = api
                    .delete(&name, &DeleteParams::default().grace_period(0))
                    .await;
            }
            return;
        }
        if node.is_empty() {
            let target = match pinned_node(pod) {
                Some(pinned) if self.names.contains(&pinned) => pinned,
                Some(_) => return,
                None => {
                    *next_node += 1;
                    self.names[*next_node % self.names.len()].clone()
                }
            };
            let binding = json!({
                "apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": name, "namespace": namespace},
                "target": {"apiVersion": "v1", "kind": "Node", "name": target},
            });
            let request = http::Request::post(format!(
                "/api/v1/namespaces/{namespace}/pods/{name}/binding"
            ))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&binding).unwrap())
            .unwrap();
            if self.client.request_text(request).await.is_ok() {
                self.record(Seen::Bound(name, target));
            }
            return;
        }
        if !self.names.contains(&node) || phase != "Pending" {
            return;
        }
        let held = pod
            .metadata
            .labels
            .as_ref()
            .is_some_and(|l| l.contains_key(HOLD));
        if held {
            return;
        }
        if !self.auto_ready.load(Ordering::SeqCst) {
            pending.push(pod.clone());
            return;
        }
        let containers: Vec<serde_json::Value> = pod
            .spec
            .as_ref()
            .map(|s| {
                s.containers
                    .iter()
                    .map(|c| {
                        json!({"name": c.name, "image": c.image, "imageID": "", "ready": true,
                            "restartCount": 0, "started": true,
                            "state": {"running": {"startedAt": now()}}})
                    })
                    .collect()
            })
            .unwrap_or_default();
        let status = json!({"status": {
            "phase": "Running",
            "podIP": "10.42.0.10",
            "hostIP": "10.0.0.1",
            "startTime": now(),
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": now()},
                {"type": "Initialized", "status": "True", "lastTransitionTime": now()},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": now()},
                {"type": "Ready", "status": "True", "lastTransitionTime": now()},
            ],
            "containerStatuses": containers,
        }});
        if api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .is_ok()
        {
            self.record(Seen::Ready(name));
        }
    }
}

fn key(pod: &Pod) -> String {
    format!(
        "{}/{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default(),
        pod.metadata.uid.as_deref().unwrap_or_default()
    )
}

/// Polls `check` every 100 ms until it returns `Some`, or panics with `what` after `secs`.
#[track_caller]
pub fn wait_for<T>(secs: u64, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
