//! The pod network on one node, as k3s's flannel + bridge CNI set it up: a bridge (default
//! `cni0`) holding the gateway, the first address of the node's podCIDR; one veth pair per pod,
//! its `eth0` in the pod's network namespace with an IP from the podCIDR and a default route
//! via the gateway; hairpin mode on every bridge port; forwarding on; and kedge's nftables table
//! (masquerade of pod traffic leaving the cluster CIDR, forward accept, hostPort DNAT).
//!
//! - [`ipam`]: IP allocation, persisted under the network state directory;
//! - [`nftables`]: the nftables script, rendered whole and applied as one transaction;
//! - [`kernel`]: the kernel boundary ([`kernel::NetworkKernel`]) and its recording fake;
//! - [`linux`]: the real kernel (rtnetlink, `/proc/sys`, `nft -f -`).
//!
//! Pods with `hostNetwork` are not attached at all: they use the node's namespace.

pub mod ipam;
pub mod kernel;
pub mod linux;
pub mod nftables;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use ipam::{Ipam, IpamError};
use kernel::{BridgeSpec, NetworkKernel, PodInterfaceSpec};
use nftables::{PodHostPorts, Ruleset};

/// The bridge k3s's flannel uses, and kedge by default.
pub const DEFAULT_BRIDGE: &str = "cni0";
/// kedge's nftables table, in the `inet` family.
pub const DEFAULT_TABLE: &str = "kedge";
/// Room left for VXLAN headers when the MTU is derived from the default route (as flannel).
pub const VXLAN_OVERHEAD: u32 = 50;
/// The smallest MTU derived from the default route (IPv4's minimum datagram).
const MIN_MTU: u32 = 576;
/// The MTU used when no default route tells one.
const FALLBACK_LINK_MTU: u32 = 1500;

/// The node's pod network configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkConfig {
    /// The node's podCIDR, e.g. `10.42.0.0/24`.
    pub pod_cidr: IpNet,
    /// The whole cluster's pod CIDR, e.g. `10.42.0.0/16`.
    pub cluster_cidr: IpNet,
    /// The bridge's name (`cni0` by default).
    pub bridge: String,
    /// The pods' MTU; 0 means the default-route link's MTU minus [`VXLAN_OVERHEAD`].
    pub mtu: u32,
    /// `<data-dir>/agent/network`: the IP allocations.
    pub state_dir: PathBuf,
    /// kedge's nftables table (`inet` family), [`DEFAULT_TABLE`] by default.
    pub table: String,
}

impl NetworkConfig {
    /// The defaults (bridge `cni0`, table `kedge`, MTU from the default route).
    pub fn new(pod_cidr: IpNet, cluster_cidr: IpNet, state_dir: PathBuf) -> Self {
        NetworkConfig {
            pod_cidr,
            cluster_cidr,
            bridge: DEFAULT_BRIDGE.to_string(),
            mtu: 0,
            state_dir,
            table: DEFAULT_TABLE.to_string(),
        }
    }
}

/// A hostPort mapping's protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Protocol {
    #[serde(rename = "TCP")]
    Tcp,
    #[serde(rename = "UDP")]
    Udp,
    #[serde(rename = "SCTP")]
    Sctp,
}

impl std::str::FromStr for Protocol {
    type Err = NetworkError;

    /// The Kubernetes spelling (`TCP`, `UDP`, `SCTP`); empty is `TCP`, the API's default.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "" | "TCP" => Ok(Protocol::Tcp),
            "UDP" => Ok(Protocol::Udp),
            "SCTP" => Ok(Protocol::Sctp),
            other => Err(NetworkError::InvalidConfig(format!(
                "unknown port protocol {other:?}: expected TCP, UDP or SCTP"
            ))),
        }
    }
}

/// One container port published on the node (`ports[].hostPort`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HostPort {
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Protocol,
    /// Only this node address; `None` (or unspecified) for all of them.
    pub host_ip: Option<IpAddr>,
}

/// The addresses a pod got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PodAddresses {
    pub ip: IpAddr,
    pub gateway: IpAddr,
}

/// Failures of the pod network, named after the step that failed.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("invalid pod network configuration: {0}")]
    InvalidConfig(String),
    #[error("pod IP allocation: {0}")]
    Ipam(#[from] IpamError),
    #[error("reading the default route's MTU: {0}")]
    DefaultRouteMtu(#[source] std::io::Error),
    #[error("setting up bridge {bridge}: {source}")]
    BridgeSetup {
        bridge: String,
        source: std::io::Error,
    },
    #[error("enabling forwarding ({path}): {source}")]
    Sysctl {
        path: String,
        source: std::io::Error,
    },
    #[error("applying nftables table {table}: {source}")]
    Nftables {
        table: String,
        source: std::io::Error,
    },
    #[error("attaching pod {uid} to the pod network: {source}")]
    PodInterface { uid: String, source: std::io::Error },
    #[error("removing interface {interface} of pod {uid}: {source}")]
    PodInterfaceDelete {
        uid: String,
        interface: String,
        source: std::io::Error,
    },
    #[error("removing bridge {bridge}: {source}")]
    BridgeDelete {
        bridge: String,
        source: std::io::Error,
    },
    #[error("the pod network's state lock was poisoned by a panic")]
    Poisoned,
}

/// The node's pod network, set up; attaches and detaches pods.
pub struct PodNetwork {
    config: NetworkConfig,
    kernel: Arc<dyn NetworkKernel>,
    gateway: IpAddr,
    mtu: u32,
    ipam: Mutex<Ipam>,
    /// Serializes rendering + applying the nftables table, so the last one applied is the
    /// latest state.
    nftables: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for PodNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodNetwork")
            .field("config", &self.config)
            .field("gateway", &self.gateway)
            .field("mtu", &self.mtu)
            .finish_non_exhaustive()
    }
}

/// The host end of a pod's veth pair: `veth` and 11 hex digits of the SHA-256 of the uid
/// (15 characters, the kernel's limit), stable across restarts.
pub fn host_interface(pod_uid: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, pod_uid.as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("veth{}", &hex[..11])
}

impl PodNetwork {
    /// Creates/updates the bridge (gateway = first address of the podCIDR), enables
    /// forwarding, and installs kedge's nftables table.
    ///
    /// # Guarantees
    /// Idempotent, and safe on restart with pods attached: their veths, addresses and
    /// allocations are kept, and the table is rebuilt with their hostPorts.
    ///
    /// # Errors
    /// The configuration is invalid, or a step fails (named by the error variant).
    pub async fn setup(config: NetworkConfig) -> Result<PodNetwork, NetworkError> {
        Self::setup_with(config, Arc::new(linux::LinuxNetwork)).await
    }

    /// [`PodNetwork::setup`] on a given kernel (the recording fake in unit tests).
    ///
    /// # Errors
    /// As [`PodNetwork::setup`].
    pub async fn setup_with(
        config: NetworkConfig,
        kernel: Arc<dyn NetworkKernel>,
    ) -> Result<PodNetwork, NetworkError> {
        validate(&config)?;
        let ipam = Ipam::load(config.pod_cidr, &config.state_dir)?;
        let gateway = ipam.gateway();
        let mtu = match config.mtu {
            0 => {
                let link = kernel
                    .default_route_mtu()
                    .await
                    .map_err(NetworkError::DefaultRouteMtu)?
                    .unwrap_or(FALLBACK_LINK_MTU);
                link.saturating_sub(VXLAN_OVERHEAD).max(MIN_MTU)
            }
            mtu => mtu,
        };
        let bridge = BridgeSpec {
            name: config.bridge.clone(),
            gateway: IpNet::new(gateway, config.pod_cidr.prefix_len())
                .map_err(|e| NetworkError::InvalidConfig(e.to_string()))?,
            mtu,
        };
        kernel
            .ensure_bridge(&bridge)
            .await
            .map_err(|source| NetworkError::BridgeSetup {
                bridge: config.bridge.clone(),
                source,
            })?;
        let mut sysctls = vec![match config.pod_cidr {
            IpNet::V4(_) => "net/ipv4/ip_forward".to_string(),
            IpNet::V6(_) => "net/ipv6/conf/all/forwarding".to_string(),
        }];
        if config.pod_cidr.addr().is_ipv4() {
            // hostPorts reached through 127.0.0.1 are routed out of the bridge.
            sysctls.push(format!("net/ipv4/conf/{}/route_localnet", config.bridge));
        }
        for path in sysctls {
            kernel
                .write_sysctl(&path, "1")
                .await
                .map_err(|source| NetworkError::Sysctl { path, source })?;
        }
        let network = PodNetwork {
            config,
            kernel,
            gateway,
            mtu,
            ipam: Mutex::new(ipam),
            nftables: tokio::sync::Mutex::new(()),
        };
        network.sync_nftables().await?;
        tracing::info!(
            bridge = %network.config.bridge,
            gateway = %network.gateway,
            mtu = network.mtu,
            table = %network.config.table,
            "pod network ready"
        );
        Ok(network)
    }

    /// The gateway (the bridge's address).
    pub fn gateway(&self) -> IpAddr {
        self.gateway
    }

    /// The pods' MTU.
    pub fn mtu(&self) -> u32 {
        self.mtu
    }

    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    fn ipam(&self) -> Result<std::sync::MutexGuard<'_, Ipam>, NetworkError> {
        self.ipam.lock().map_err(|_| NetworkError::Poisoned)
    }

    /// Allocates the pod's IP (the same again for the same uid), creates its veth pair with
    /// `eth0` in the namespace bind-mounted at `netns`, and publishes its hostPorts.
    ///
    /// # Errors
    /// No free IP, or a kernel step fails; the IP stays allocated to the uid (so a retry
    /// gets the same one) until [`PodNetwork::detach`].
    pub async fn attach(
        &self,
        pod_uid: &str,
        netns: &Path,
        host_ports: &[HostPort],
    ) -> Result<PodAddresses, NetworkError> {
        let (ip, ports_changed) = {
            let mut ipam = self.ipam()?;
            let before = ipam.get(pod_uid).map(|r| r.host_ports.clone());
            let ip = ipam.allocate(pod_uid, host_ports)?;
            let changed = before.unwrap_or_default() != host_ports;
            (ip, changed)
        };
        let spec = PodInterfaceSpec {
            host_name: host_interface(pod_uid),
            bridge: self.config.bridge.clone(),
            netns: netns.to_path_buf(),
            address: IpNet::new(ip, self.config.pod_cidr.prefix_len())
                .map_err(|e| NetworkError::InvalidConfig(e.to_string()))?,
            gateway: self.gateway,
            mtu: self.mtu,
        };
        self.kernel
            .create_pod_interface(&spec)
            .await
            .map_err(|source| NetworkError::PodInterface {
                uid: pod_uid.to_string(),
                source,
            })?;
        if ports_changed {
            self.sync_nftables().await?;
        }
        tracing::debug!(pod_uid, %ip, interface = %spec.host_name, "pod attached");
        Ok(PodAddresses {
            ip,
            gateway: self.gateway,
        })
    }

    /// Removes the pod's veth (if any) and hostPort rules, and frees its IP.
    ///
    /// # Guarantees
    /// Idempotent; works when the pod's namespace is already gone (the kernel then deleted
    /// the veth pair with it).
    ///
    /// # Errors
    /// The veth cannot be deleted, the allocations cannot be saved, or the table cannot be
    /// rebuilt.
    pub async fn detach(&self, pod_uid: &str) -> Result<(), NetworkError> {
        let interface = host_interface(pod_uid);
        self.kernel
            .delete_link(&interface)
            .await
            .map_err(|source| NetworkError::PodInterfaceDelete {
                uid: pod_uid.to_string(),
                interface: interface.clone(),
                source,
            })?;
        let record = self.ipam()?.release(pod_uid)?;
        if record.is_some_and(|r| !r.host_ports.is_empty()) {
            self.sync_nftables().await?;
        }
        tracing::debug!(pod_uid, "pod detached");
        Ok(())
    }

    /// The uids holding an IP, to reconcile after a restart.
    pub fn allocated(&self) -> Vec<String> {
        self.ipam.lock().map(|i| i.uids()).unwrap_or_default()
    }

    /// The IP allocated to a pod, if any.
    pub fn pod_ip(&self, pod_uid: &str) -> Option<IpAddr> {
        self.ipam.lock().ok()?.get(pod_uid).map(|r| r.ip)
    }

    /// Removes kedge's nftables table and the bridge with every port still on it.
    ///
    /// # Errors
    /// `nft` or netlink fails.
    pub async fn teardown(config: &NetworkConfig) -> Result<(), NetworkError> {
        Self::teardown_with(config, &linux::LinuxNetwork).await
    }

    /// [`PodNetwork::teardown`] on a given kernel.
    ///
    /// # Errors
    /// As [`PodNetwork::teardown`].
    pub async fn teardown_with(
        config: &NetworkConfig,
        kernel: &dyn NetworkKernel,
    ) -> Result<(), NetworkError> {
        kernel
            .apply_nftables(&nftables::delete_script(&config.table))
            .await
            .map_err(|source| NetworkError::Nftables {
                table: config.table.clone(),
                source,
            })?;
        kernel
            .delete_bridge(&config.bridge)
            .await
            .map_err(|source| NetworkError::BridgeDelete {
                bridge: config.bridge.clone(),
                source,
            })
    }

    /// Renders the table from the current allocations and applies it.
    async fn sync_nftables(&self) -> Result<(), NetworkError> {
        let _serial = self.nftables.lock().await;
        let script = {
            let ipam = self.ipam()?;
            let pods = ipam
                .records()
                .filter(|(_, r)| !r.host_ports.is_empty())
                .map(|(_, r)| PodHostPorts {
                    pod_ip: r.ip,
                    host_ports: r.host_ports.clone(),
                })
                .collect();
            Ruleset {
                table: &self.config.table,
                bridge: &self.config.bridge,
                cluster_cidr: self.config.cluster_cidr,
                pods,
            }
            .render()
        };
        self.kernel
            .apply_nftables(&script)
            .await
            .map_err(|source| NetworkError::Nftables {
                table: self.config.table.clone(),
                source,
            })
    }
}

/// Names the kernel and `nft` accept, and CIDRs that fit together.
fn validate(config: &NetworkConfig) -> Result<(), NetworkError> {
    let name_ok = |name: &str, max: usize| {
        !name.is_empty()
            && name.len() <= max
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if !name_ok(&config.bridge, 15) {
        return Err(NetworkError::InvalidConfig(format!(
            "bridge name {:?} must be 1-15 letters, digits, '-' or '_'",
            config.bridge
        )));
    }
    if !name_ok(&config.table, 64) {
        return Err(NetworkError::InvalidConfig(format!(
            "nftables table name {:?} must be letters, digits, '-' or '_'",
            config.table
        )));
    }
    if config.pod_cidr.addr().is_ipv4() != config.cluster_cidr.addr().is_ipv4() {
        return Err(NetworkError::InvalidConfig(format!(
            "podCIDR {} and cluster CIDR {} are of different IP families",
            config.pod_cidr, config.cluster_cidr
        )));
    }
    if !config.cluster_cidr.contains(&config.pod_cidr) {
        return Err(NetworkError::InvalidConfig(format!(
            "podCIDR {} is not inside the cluster CIDR {}",
            config.pod_cidr, config.cluster_cidr
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
