//! Pod IP address management over the node's podCIDR, persisted in one JSON file under the
//! network state directory so that pods keep their IPs across restarts of the agent.
//!
//! Like the CNI `host-local` plugin: the network address, the gateway (the first address) and,
//! for IPv4, the broadcast address are never handed out; allocation continues after the last
//! address handed out, so a freed IP is not reused at once. Each record also keeps the pod's
//! hostPort mappings, from which the nftables ruleset is rebuilt after a restart.
//!
//! # Durability
//! The file is replaced (write, rename) on every change but not fsynced: it has to survive a
//! crash or restart of kedge, which the page cache guarantees, while a power loss or kernel
//! crash also ends every pod's network namespace, so every pod is attached again and the
//! allocations start over. A file left empty by such a crash is read as no allocations. (An
//! fsync per pod serialised a burst of pod starts on the disk, and wears SD cards.)

use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::HostPort;

/// The file holding the allocations, inside the state directory.
pub const STATE_FILE: &str = "ipam.json";

/// Failures of the address allocator.
#[derive(Debug, thiserror::Error)]
pub enum IpamError {
    #[error("reading the pod IP allocations {path}: {source}")]
    StateRead { path: PathBuf, source: io::Error },
    #[error(
        "the pod IP allocations {path} are not valid JSON ({source}); move the file away to start over"
    )]
    StateCorrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("writing the pod IP allocations {path}: {source}")]
    StateWrite { path: PathBuf, source: io::Error },
    #[error("the podCIDR {cidr} is too small: it needs room for a gateway and at least one pod")]
    RangeTooSmall { cidr: IpNet },
    #[error(
        "the podCIDR {cidr} has no free address left for pod {uid}; delete pods or use a larger podCIDR"
    )]
    Exhausted { cidr: IpNet, uid: String },
}

/// One pod's allocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodRecord {
    pub ip: IpAddr,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_ports: Vec<HostPort>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    /// The last address handed out; the next search starts after it.
    #[serde(default)]
    last: Option<IpAddr>,
    #[serde(default)]
    pods: BTreeMap<String, PodRecord>,
}

/// The allocations of one node's podCIDR, loaded from and saved to `<state_dir>/ipam.json`.
#[derive(Debug)]
pub struct Ipam {
    cidr: IpNet,
    path: PathBuf,
    state: StateFile,
}

impl Ipam {
    /// Loads the allocations (none when the file does not exist yet).
    ///
    /// # Errors
    /// The range is too small, or the file cannot be read or parsed.
    pub fn load(cidr: IpNet, state_dir: &Path) -> Result<Ipam, IpamError> {
        let cidr = cidr.trunc();
        if host_range(cidr).is_none() {
            return Err(IpamError::RangeTooSmall { cidr });
        }
        let path = state_dir.join(STATE_FILE);
        let state = match std::fs::read(&path) {
            Ok(bytes) if bytes.is_empty() => StateFile::default(),
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| IpamError::StateCorrupt {
                    path: path.clone(),
                    source,
                })?
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => StateFile::default(),
            Err(source) => return Err(IpamError::StateRead { path, source }),
        };
        Ok(Ipam { cidr, path, state })
    }

    /// The gateway: the first address of the range, held by the bridge.
    pub fn gateway(&self) -> IpAddr {
        gateway(self.cidr)
    }

    pub fn cidr(&self) -> IpNet {
        self.cidr
    }

    /// The record of one pod.
    pub fn get(&self, uid: &str) -> Option<&PodRecord> {
        self.state.pods.get(uid)
    }

    /// Every pod's record.
    pub fn records(&self) -> impl Iterator<Item = (&String, &PodRecord)> {
        self.state.pods.iter()
    }

    /// The pod uids holding an IP.
    pub fn uids(&self) -> Vec<String> {
        self.state.pods.keys().cloned().collect()
    }

    /// Returns the pod's IP, allocating one when it has none (or holds one outside the current
    /// range), records its hostPorts, and saves the file.
    ///
    /// # Errors
    /// No free address, or the file cannot be written.
    pub fn allocate(&mut self, uid: &str, host_ports: &[HostPort]) -> Result<IpAddr, IpamError> {
        let existing = self
            .state
            .pods
            .get(uid)
            .map(|r| r.ip)
            .filter(|ip| self.usable(*ip));
        let ip = match existing {
            Some(ip) => ip,
            None => {
                let ip = self.next_free().ok_or_else(|| IpamError::Exhausted {
                    cidr: self.cidr,
                    uid: uid.to_string(),
                })?;
                self.state.last = Some(ip);
                ip
            }
        };
        self.state.pods.insert(
            uid.to_string(),
            PodRecord {
                ip,
                host_ports: host_ports.to_vec(),
            },
        );
        self.save()?;
        Ok(ip)
    }

    /// Frees the pod's IP and saves the file; returns the record it had.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn release(&mut self, uid: &str) -> Result<Option<PodRecord>, IpamError> {
        let record = self.state.pods.remove(uid);
        if record.is_some() {
            self.save()?;
        }
        Ok(record)
    }

    fn usable(&self, ip: IpAddr) -> bool {
        match host_range(self.cidr) {
            Some((first, last)) => {
                let n = to_u128(ip);
                self.cidr.contains(&ip) && n >= first && n <= last
            }
            None => false,
        }
    }

    fn next_free(&self) -> Option<IpAddr> {
        let (first, last) = host_range(self.cidr)?;
        let taken: std::collections::HashSet<u128> =
            self.state.pods.values().map(|r| to_u128(r.ip)).collect();
        let start = match self.state.last.map(to_u128) {
            Some(n) if n >= first && n < last => n + 1,
            _ => first,
        };
        let size = last - first + 1;
        (0..size)
            .map(|offset| first + (start - first + offset) % size)
            .find(|n| !taken.contains(n))
            .map(|n| from_u128(n, self.cidr))
    }

    fn save(&self) -> Result<(), IpamError> {
        let write = || -> io::Result<()> {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let bytes = serde_json::to_vec_pretty(&self.state).map_err(io::Error::other)?;
            let tmp = self.path.with_extension("json.tmp");
            {
                use std::io::Write;
                let mut file = std::fs::File::create(&tmp)?;
                file.write_all(&bytes)?;
            }
            std::fs::rename(&tmp, &self.path)
        };
        write().map_err(|source| IpamError::StateWrite {
            path: self.path.clone(),
            source,
        })
    }
}

/// The first address of the range, the bridge's.
pub fn gateway(cidr: IpNet) -> IpAddr {
    from_u128(to_u128(cidr.network()) + 1, cidr)
}

/// The addresses pods may get, as numbers: after the gateway, before the broadcast (IPv4).
fn host_range(cidr: IpNet) -> Option<(u128, u128)> {
    let network = to_u128(cidr.network());
    let broadcast = to_u128(cidr.broadcast());
    let first = network.checked_add(2)?;
    let last = match cidr {
        IpNet::V4(_) => broadcast.checked_sub(1)?,
        IpNet::V6(_) => broadcast,
    };
    (first <= last).then_some((first, last))
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn from_u128(n: u128, like: IpNet) -> IpAddr {
    match like {
        IpNet::V4(_) => IpAddr::V4(std::net::Ipv4Addr::from(n as u32)),
        IpNet::V6(_) => IpAddr::V6(std::net::Ipv6Addr::from(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::network::Protocol;

    fn cidr(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn skips_network_gateway_and_broadcast() {
        let dir = tempfile::tempdir().unwrap();
        let mut ipam = Ipam::load(cidr("10.42.0.0/30"), dir.path()).unwrap();
        assert_eq!(ipam.gateway(), ip("10.42.0.1"));
        assert_eq!(ipam.allocate("a", &[]).unwrap(), ip("10.42.0.2"));
        assert!(matches!(
            ipam.allocate("b", &[]),
            Err(IpamError::Exhausted { .. })
        ));
    }

    #[test]
    fn a_file_left_empty_by_a_crash_is_no_allocations() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(STATE_FILE), b"").unwrap();
        let mut ipam = Ipam::load(cidr("10.42.0.0/24"), dir.path()).unwrap();
        assert!(ipam.uids().is_empty());
        assert_eq!(ipam.allocate("a", &[]).unwrap(), ip("10.42.0.2"));
    }

    #[test]
    fn too_small_range_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Ipam::load(cidr("10.42.0.0/31"), dir.path()),
            Err(IpamError::RangeTooSmall { .. })
        ));
    }

    #[test]
    fn same_uid_gets_the_same_ip_and_survives_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let port = HostPort {
            host_port: 8080,
            container_port: 80,
            protocol: Protocol::Tcp,
            host_ip: None,
        };
        let mut ipam = Ipam::load(cidr("10.42.0.0/24"), dir.path()).unwrap();
        let a = ipam.allocate("a", &[]).unwrap();
        let b = ipam.allocate("b", std::slice::from_ref(&port)).unwrap();
        assert_eq!(a, ip("10.42.0.2"));
        assert_eq!(b, ip("10.42.0.3"));
        assert_eq!(ipam.allocate("a", &[]).unwrap(), a);

        let mut reloaded = Ipam::load(cidr("10.42.0.0/24"), dir.path()).unwrap();
        assert_eq!(reloaded.uids(), vec!["a".to_string(), "b".to_string()]);
        assert_eq!(reloaded.get("b").unwrap().host_ports, vec![port]);
        assert_eq!(reloaded.allocate("b", &[]).unwrap(), b);
        assert_eq!(reloaded.allocate("c", &[]).unwrap(), ip("10.42.0.4"));
    }

    #[test]
    fn release_frees_without_immediate_reuse() {
        let dir = tempfile::tempdir().unwrap();
        let mut ipam = Ipam::load(cidr("10.42.0.0/29"), dir.path()).unwrap();
        let a = ipam.allocate("a", &[]).unwrap();
        assert_eq!(ipam.release("a").unwrap().map(|r| r.ip), Some(a));
        assert_eq!(ipam.release("a").unwrap(), None);
        assert!(ipam.uids().is_empty());
        // The next allocation continues after the last one, then wraps around.
        assert_eq!(ipam.allocate("b", &[]).unwrap(), ip("10.42.0.3"));
        for uid in ["c", "d", "e"] {
            ipam.allocate(uid, &[]).unwrap();
        }
        assert_eq!(ipam.allocate("f", &[]).unwrap(), a);
        assert!(matches!(
            ipam.allocate("g", &[]),
            Err(IpamError::Exhausted { .. })
        ));
    }

    #[test]
    fn a_record_outside_a_new_range_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let mut old = Ipam::load(cidr("10.42.0.0/24"), dir.path()).unwrap();
        old.allocate("a", &[]).unwrap();
        let mut new = Ipam::load(cidr("10.42.1.0/24"), dir.path()).unwrap();
        assert_eq!(new.allocate("a", &[]).unwrap(), ip("10.42.1.2"));
    }

    #[test]
    fn ipv6_ranges_allocate_too() {
        let dir = tempfile::tempdir().unwrap();
        let mut ipam = Ipam::load(cidr("fd00:42::/64"), dir.path()).unwrap();
        assert_eq!(ipam.gateway(), ip("fd00:42::1"));
        assert_eq!(ipam.allocate("a", &[]).unwrap(), ip("fd00:42::2"));
    }

    #[test]
    fn corrupt_state_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(STATE_FILE), b"{not json").unwrap();
        assert!(matches!(
            Ipam::load(cidr("10.42.0.0/24"), dir.path()),
            Err(IpamError::StateCorrupt { .. })
        ));
    }
}
