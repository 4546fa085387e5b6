//! The pod network as the kubelet sees it: [`PodNetworking`] attaches a pod's network
//! namespace to the node's pod network and detaches it when the pod goes.
//!
//! The bridge, veth pairs and IPAM live in `crate::agent::network::PodNetwork` (built on
//! another branch); it plugs in here by implementing this trait. Until then the kubelet runs
//! with [`HostNetworkOnly`]: `hostNetwork` pods get the node's IP, other pods get a network
//! namespace with only loopback and no pod IP in their status.

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

/// The network until the pod network is plugged in: nothing to attach (hostNetwork pods use
/// the node's addresses, which the kubelet reports itself).
#[derive(Debug, Default)]
pub struct HostNetworkOnly;

#[async_trait::async_trait]
impl PodNetworking for HostNetworkOnly {
    async fn attach(
        &self,
        _pod_uid: &str,
        _netns: &Path,
        _host_ports: &[HostPort],
    ) -> Result<Option<PodAddresses>, NetworkError> {
        Ok(None)
    }

    async fn detach(&self, _pod_uid: &str) -> Result<(), NetworkError> {
        Ok(())
    }
}
