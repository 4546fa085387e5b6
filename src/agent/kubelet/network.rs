//! The pod network as the kubelet sees it: [`PodNetworking`] attaches a pod's network
//! namespace to the node's pod network and detaches it when the pod goes.
//!
//! The bridge, veth pairs and IPAM live in `crate::agent::network::PodNetwork`; [`NodeNetwork`]
//! sets it up from the Node's podCIDR and implements the trait with it. `hostNetwork` pods are
//! never attached: they use the node's addresses.

use std::net::IpAddr;
use std::path::Path;

/// A `hostPort` mapping of a container port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPort {
    pub protocol: String,
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub container_port: u16,
}

/// What the network gave a pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodAddresses {
    pub ip: IpAddr,
    pub gateway: Option<IpAddr>,
}

#[derive(Debug, thiserror::Error)]
#[error("the pod network failed for pod {pod_uid}: {message}")]
pub struct NetworkError {
    pub pod_uid: String,
    pub message: String,
}

/// Attaches pods to the node's pod network.
#[async_trait::async_trait]
pub trait PodNetworking: Send + Sync {
    /// Gives the pod in `netns` an address (and its host ports); `None` when this
    /// implementation gives pods no address.
    ///
    /// # Errors
    /// The pod could not be attached.
    async fn attach(
        &self,
        pod_uid: &str,
        netns: &Path,
        host_ports: &[HostPort],
    ) -> Result<Option<PodAddresses>, NetworkError>;

    /// Releases what [`PodNetworking::attach`] gave the pod; a pod never attached is fine.
    ///
    /// # Errors
    /// Something could not be released.
    async fn detach(&self, pod_uid: &str) -> Result<(), NetworkError>;
}

/// The node's real pod network ([`crate::agent::network::PodNetwork`]: a bridge, one veth per
/// pod, IPAM kept on disk), set up on first use from the Node's `spec.podCIDR` — which the
/// kubelet registers or the node IPAM controller assigns, so it is only known once the node
/// exists.
pub struct NodeNetwork {
    client: kube::Client,
    node: String,
    cluster_cidr: ipnet::IpNet,
    state_dir: std::path::PathBuf,
    network: tokio::sync::OnceCell<crate::agent::network::PodNetwork>,
}

impl NodeNetwork {
    pub fn new(
        client: kube::Client,
        node: &str,
        cluster_cidr: ipnet::IpNet,
        state_dir: std::path::PathBuf,
    ) -> Self {
        NodeNetwork {
            client,
            node: node.to_string(),
            cluster_cidr,
            state_dir,
            network: tokio::sync::OnceCell::new(),
        }
    }

    async fn network(
        &self,
        pod_uid: &str,
    ) -> Result<&crate::agent::network::PodNetwork, NetworkError> {
        use crate::agent::network::{NetworkConfig, PodNetwork};
        let fail = |message: String| NetworkError {
            pod_uid: pod_uid.to_string(),
            message,
        };
        self.network
            .get_or_try_init(|| async {
                let nodes: kube::Api<k8s_openapi::api::core::v1::Node> =
                    kube::Api::all(self.client.clone());
                let node = nodes
                    .get(&self.node)
                    .await
                    .map_err(|e| fail(format!("cannot read node {}: {e}", self.node)))?;
                let pod_cidr = node
                    .spec
                    .and_then(|s| s.pod_cidr)
                    .filter(|c| !c.is_empty())
                    .ok_or_else(|| fail(format!("node {} has no podCIDR yet", self.node)))?;
                let pod_cidr: ipnet::IpNet = pod_cidr
                    .parse()
                    .map_err(|e| fail(format!("podCIDR {pod_cidr:?}: {e}")))?;
                let config =
                    NetworkConfig::new(pod_cidr, self.cluster_cidr, self.state_dir.clone());
                let network = PodNetwork::setup(config)
                    .await
                    .map_err(|e| fail(e.to_string()))?;
                tracing::info!(node = %self.node, %pod_cidr, "pod network ready");
                Ok(network)
            })
            .await
    }
}

#[async_trait::async_trait]
impl PodNetworking for NodeNetwork {
    async fn attach(
        &self,
        pod_uid: &str,
        netns: &Path,
        host_ports: &[HostPort],
    ) -> Result<Option<PodAddresses>, NetworkError> {
        use crate::agent::network::{HostPort as Mapping, Protocol};
        let fail = |message: String| NetworkError {
            pod_uid: pod_uid.to_string(),
            message,
        };
        let mut mappings = Vec::with_capacity(host_ports.len());
        for port in host_ports {
            let protocol: Protocol = port
                .protocol
                .parse()
                .map_err(|e| fail(format!("hostPort {}: {e}", port.host_port)))?;
            mappings.push(Mapping {
                host_port: port.host_port,
                container_port: port.container_port,
                protocol,
                host_ip: port.host_ip,
            });
        }
        let addresses = self
            .network(pod_uid)
            .await?
            .attach(pod_uid, netns, &mappings)
            .await
            .map_err(|e| fail(e.to_string()))?;
        Ok(Some(PodAddresses {
            ip: addresses.ip,
            gateway: Some(addresses.gateway),
        }))
    }

    async fn detach(&self, pod_uid: &str) -> Result<(), NetworkError> {
        self.network(pod_uid)
            .await?
            .detach(pod_uid)
            .await
            .map_err(|e| NetworkError {
                pod_uid: pod_uid.to_string(),
                message: e.to_string(),
            })
    }
}
