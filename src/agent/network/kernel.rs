//! The kernel boundary of the pod network: links, addresses, routes, sysctls and nftables behind
//! the [`NetworkKernel`] trait, with the Linux implementation in [`super::linux`] and a
//! recording fake ([`RecordingNetworkKernel`]) so the logic in [`super::PodNetwork`] is
//! unit-tested without root.

use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Mutex;

use async_trait::async_trait;
use ipnet::IpNet;

/// The node's bridge, with the gateway address (and the podCIDR's prefix length).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeSpec {
    pub name: String,
    pub gateway: IpNet,
    pub mtu: u32,
}

/// One pod's veth pair: `host_name` on the bridge, its peer `eth0` in the pod's namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodInterfaceSpec {
    pub host_name: String,
    pub bridge: String,
    /// The bind-mounted network namespace file.
    pub netns: PathBuf,
    /// The pod's address with the podCIDR's prefix length.
    pub address: IpNet,
    pub gateway: IpAddr,
    pub mtu: u32,
}

/// Every kernel interaction of the pod network.
#[async_trait]
pub trait NetworkKernel: Send + Sync {
    /// The MTU of the link the default route leaves by; `None` without a default route.
    async fn default_route_mtu(&self) -> io::Result<Option<u32>>;
    /// Creates the bridge if missing, sets its MTU, adds the gateway address if missing, and
    /// brings it up.
    async fn ensure_bridge(&self, bridge: &BridgeSpec) -> io::Result<()>;
    /// Deletes every link attached to the bridge, then the bridge; missing is not an error.
    async fn delete_bridge(&self, name: &str) -> io::Result<()>;
    /// Writes a value under `/proc/sys/` (`path` relative to it, e.g. `net/ipv4/ip_forward`).
    async fn write_sysctl(&self, path: &str, value: &str) -> io::Result<()>;
    /// Runs an nftables script as one transaction.
    async fn apply_nftables(&self, script: &str) -> io::Result<()>;
    /// Creates the pod's veth pair (replacing a host end of the same name), configures the
    /// pod's end (eth0, address, MTU, default route, lo up) and the host's end (bridge port,
    /// hairpin, up).
    async fn create_pod_interface(&self, spec: &PodInterfaceSpec) -> io::Result<()>;
    /// Deletes a link by name; returns whether it existed.
    async fn delete_link(&self, name: &str) -> io::Result<bool>;
}

/// A call recorded by [`RecordingNetworkKernel`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetworkCall {
    DefaultRouteMtu,
    EnsureBridge(BridgeSpec),
    DeleteBridge(String),
    WriteSysctl { path: String, value: String },
    ApplyNftables(String),
    CreatePodInterface(PodInterfaceSpec),
    DeleteLink(String),
}

/// A fake kernel that records calls; `fail_on` makes every call of that kind fail.
#[derive(Debug, Default)]
pub struct RecordingNetworkKernel {
    pub calls: Mutex<Vec<NetworkCall>>,
    /// The MTU reported for the default route.
    pub default_mtu: Option<u32>,
    /// Calls whose `Debug` form starts with this fail with `EIO`.
    pub fail_on: Option<&'static str>,
    /// Link names `delete_link` reports as existing.
    pub links: Mutex<Vec<String>>,
}

impl RecordingNetworkKernel {
    fn record(&self, call: NetworkCall) -> io::Result<()> {
        let failing = self
            .fail_on
            .is_some_and(|prefix| format!("{call:?}").starts_with(prefix));
        self.calls
            .lock()
            .map_err(|_| io::Error::other("recording kernel lock poisoned"))?
            .push(call);
        if failing {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        Ok(())
    }

    /// The calls so far.
    pub fn calls(&self) -> Vec<NetworkCall> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl NetworkKernel for RecordingNetworkKernel {
    async fn default_route_mtu(&self) -> io::Result<Option<u32>> {
        self.record(NetworkCall::DefaultRouteMtu)?;
        Ok(self.default_mtu)
    }

    async fn ensure_bridge(&self, bridge: &BridgeSpec) -> io::Result<()> {
        self.record(NetworkCall::EnsureBridge(bridge.clone()))
    }

    async fn delete_bridge(&self, name: &str) -> io::Result<()> {
        self.record(NetworkCall::DeleteBridge(name.to_string()))
    }

    async fn write_sysctl(&self, path: &str, value: &str) -> io::Result<()> {
        self.record(NetworkCall::WriteSysctl {
            path: path.to_string(),
            value: value.to_string(),
        })
    }

    async fn apply_nftables(&self, script: &str) -> io::Result<()> {
        self.record(NetworkCall::ApplyNftables(script.to_string()))
    }

    async fn create_pod_interface(&self, spec: &PodInterfaceSpec) -> io::Result<()> {
        self.record(NetworkCall::CreatePodInterface(spec.clone()))?;
        if let Ok(mut links) = self.links.lock() {
            links.push(spec.host_name.clone());
        }
        Ok(())
    }

    async fn delete_link(&self, name: &str) -> io::Result<bool> {
        self.record(NetworkCall::DeleteLink(name.to_string()))?;
        let mut links = self
            .links
            .lock()
            .map_err(|_| io::Error::other("recording kernel lock poisoned"))?;
        let existed = links.iter().any(|l| l == name);
        links.retain(|l| l != name);
        Ok(existed)
    }
}
