//! The node's Lease in `kube-node-lease`: the heartbeat the node lifecycle controller reads,
//! renewed every [`RENEW_INTERVAL`] (upstream's kubelet: 10 s, lease duration 40 s).

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::Kubelet;

/// How often the Lease is renewed.
pub const RENEW_INTERVAL: Duration = Duration::from_secs(10);
/// `spec.leaseDurationSeconds` (upstream's `nodeLeaseDurationSeconds`).
pub const LEASE_DURATION_SECONDS: i64 = 40;

/// Renews the node's Lease until `shutdown`, creating it (owned by the Node) when missing.
pub async fn run(kubelet: std::sync::Arc<Kubelet>, node_uid: String, shutdown: CancellationToken) {
    let leases: Api<Lease> = Api::namespaced(kubelet.client.clone(), "kube-node-lease");
    let name = kubelet.config.node.name.clone();
    loop {
        if let Err(error) = renew(&leases, &name, &node_uid).await {
            warn!(node = %name, %error, "cannot renew the node's lease; retrying");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(RENEW_INTERVAL) => {}
        }
    }
}

async fn renew(leases: &Api<Lease>, name: &str, node_uid: &str) -> Result<(), kube::Error> {
    let now = crate::api::object::now_micro();
    let patch = json!({"spec": {"holderIdentity": name, "renewTime": now}});
    match leases
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => {
            let lease: Lease = serde_json::from_value(json!({
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {
                    "name": name,
                    "namespace": "kube-node-lease",
                    "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": name, "uid": node_uid}],
                },
                "spec": {
                    "holderIdentity": name,
                    "leaseDurationSeconds": LEASE_DURATION_SECONDS,
                    "renewTime": now,
                },
            }))
            .map_err(kube::Error::SerdeError)?;
            leases
                .create(&PostParams::default(), &lease)
                .await
                .map(|_| ())
        }
        Err(error) => Err(error),
    }
}
