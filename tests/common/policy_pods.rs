//! A stand-in for the kubelet in whole-cluster tests, until kedge has one: it registers a
//! Ready Node, keeps it alive by renewing its Lease in `kube-node-lease`, and sets pod status
//! through the status subresource (Running and Ready, or a terminal phase).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{Cluster, Kubectl, Out};

/// How often the Lease is renewed (the kubelet's default is every 10 s of a 40 s lease).
const RENEW_EVERY: Duration = Duration::from_secs(10);

/// `metav1.MicroTime` of now.
pub fn micro_time() -> String {
    let now = jiff::Timestamp::now();
    let micros = now.as_microsecond();
    let seconds = jiff::Timestamp::from_second(micros.div_euclid(1_000_000)).unwrap();
    format!(
        "{}.{:06}Z",
        seconds.strftime("%Y-%m-%dT%H:%M:%S"),
        micros.rem_euclid(1_000_000)
    )
}

fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A registered node whose Lease is renewed until it is dropped.
pub struct FakeNode {
    pub name: String,
    stop: Arc<AtomicBool>,
    renewer: Option<JoinHandle<()>>,
}

impl FakeNode {
    /// Registers `name` as a Ready node with 4 CPUs, 8Gi of memory and room for 110 pods.
    pub fn register(cluster: &Cluster, kubectl: &Kubectl, name: &str) -> FakeNode {
        let node = serde_json::json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}},
            "status": {
                "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                    "message": "kubelet is posting ready status", "lastHeartbeatTime": now(),
                    "lastTransitionTime": now()}],
            },
        });
        cluster
            .kubectl_with(
                kubectl,
                &["create", "-f", "-"],
                &[],
                Some(&node.to_string()),
            )
            .ok();
        let lease = serde_json::json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": micro_time()},
        });
        cluster
            .kubectl_with(
                kubectl,
                &["create", "-f", "-"],
                &[],
                Some(&lease.to_string()),
            )
            .ok();
        let stop = Arc::new(AtomicBool::new(false));
        let renewer = {
            let stop = stop.clone();
            let (kubectl, kubeconfig, home): (PathBuf, PathBuf, PathBuf) = (
                kubectl.path.clone(),
                cluster.kubeconfig(),
                cluster.dir.path().to_path_buf(),
            );
            let name = name.to_string();
            std::thread::spawn(move || {
                let mut waited = Duration::ZERO;
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(200));
                    waited += Duration::from_millis(200);
                    if waited < RENEW_EVERY {
                        continue;
                    }
                    waited = Duration::ZERO;
                    let patch = format!(r#"{{"spec":{{"renewTime":"{}"}}}}"#, micro_time());
                    let _ = Command::new(&kubectl)
                        .args([
                            "patch",
                            "lease",
                            &name,
                            "-n",
                            "kube-node-lease",
                            "--type=merge",
                            "-p",
                            &patch,
                        ])
                        .env("KUBECONFIG", &kubeconfig)
                        .env("HOME", &home)
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status();
                }
            })
        };
        FakeNode {
            name: name.to_string(),
            stop,
            renewer: Some(renewer),
        }
    }
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(renewer) = self.renewer.take() {
            let _ = renewer.join();
        }
    }
}

/// Sets a pod's status as the kubelet would once its containers run and pass readiness.
pub fn set_running_ready(cluster: &Cluster, kubectl: &Kubectl, namespace: &str, pod: &str) -> Out {
    let status = serde_json::json!({"status": {
        "phase": "Running",
        "startTime": now(),
        "conditions": [
            {"type": "Initialized", "status": "True", "lastTransitionTime": now()},
            {"type": "Ready", "status": "True", "lastTransitionTime": now()},
            {"type": "ContainersReady", "status": "True", "lastTransitionTime": now()},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now()},
        ],
    }});
    cluster.kubectl(
        kubectl,
        &[
            "patch",
            "pod",
            pod,
            "-n",
            namespace,
            "--subresource=status",
            "--type=merge",
            "-p",
            &status.to_string(),
        ],
    )
}

/// Sets a pod's phase (`Succeeded`, `Failed`…) as the kubelet would when it ends.
pub fn set_phase(
    cluster: &Cluster,
    kubectl: &Kubectl,
    namespace: &str,
    pod: &str,
    phase: &str,
) -> Out {
    let status = serde_json::json!({"status": {"phase": phase}});
    cluster.kubectl(
        kubectl,
        &[
            "patch",
            "pod",
            pod,
            "-n",
            namespace,
            "--subresource=status",
            "--type=merge",
            "-p",
            &status.to_string(),
        ],
    )
}
