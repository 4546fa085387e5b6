//! Node IPAM: each node gets a /24 of `--cluster-cidr` as `spec.podCIDR` (and
//! `spec.podCIDRs`), as upstream's range allocator does. The ranges in use are learnt from
//! the nodes themselves whenever the watch (re)starts, so a restart keeps every node's
//! range; a deleted node's range is released. Allocation goes round the range from the last
//! one handed out, so a released range is not reused at once.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use futures::StreamExt;
use ipnet::Ipv4Net;
use k8s_openapi::api::core::v1::{Node, ObjectReference};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::Context;

/// The size of each node's range.
pub const NODE_MASK: u8 = 24;

/// The ranges of a cluster CIDR, which are taken.
#[derive(Debug)]
pub struct CidrSet {
    cluster: Ipv4Net,
    mask: u8,
    count: u32,
    used: HashSet<u32>,
    next: u32,
}

impl CidrSet {
    pub fn new(cluster: Ipv4Net, mask: u8) -> CidrSet {
        let mask = mask.max(cluster.prefix_len()).min(32);
        CidrSet {
            cluster,
            mask,
            count: 1u32 << (mask - cluster.prefix_len()).min(31),
            used: HashSet::new(),
            next: 0,
        }
    }

    fn index_of(&self, net: &Ipv4Net) -> Option<u32> {
        if net.prefix_len() != self.mask || !self.cluster.contains(net) {
            return None;
        }
        let offset = u32::from(net.network()) - u32::from(self.cluster.network());
        Some(offset >> (32 - u32::from(self.mask)))
    }

    fn net_at(&self, index: u32) -> Option<Ipv4Net> {
        let base = u32::from(self.cluster.network()) + (index << (32 - u32::from(self.mask)));
        Ipv4Net::new(Ipv4Addr::from(base), self.mask).ok()
    }

    /// Marks `net` taken; false if it is not one of this set's ranges.
    pub fn occupy(&mut self, net: &Ipv4Net) -> bool {
        match self.index_of(net) {
            Some(index) => {
                self.used.insert(index);
                true
            }
            None => false,
        }
    }

    pub fn release(&mut self, net: &Ipv4Net) {
        if let Some(index) = self.index_of(net) {
            self.used.remove(&index);
        }
    }

    /// The next free range after the last one handed out.
    pub fn allocate(&mut self) -> Option<Ipv4Net> {
        for step in 0..self.count {
            let index = (self.next + step) % self.count;
            if !self.used.contains(&index) {
                self.used.insert(index);
                self.next = (index + 1) % self.count;
                return self.net_at(index);
            }
        }
        None
    }
}

fn pod_cidr(node: &Node) -> Option<Ipv4Net> {
    let spec = node.spec.as_ref()?;
    spec.pod_cidr
        .as_deref()
        .or_else(|| spec.pod_cidrs.as_ref()?.first().map(String::as_str))
        .filter(|c| !c.is_empty())?
        .parse()
        .ok()
}

/// Events about a node name it, with its name as uid, as upstream records them.
pub fn node_reference(name: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".to_string()),
        kind: Some("Node".to_string()),
        name: Some(name.to_string()),
        uid: Some(name.to_string()),
        ..Default::default()
    }
}

struct Allocator {
    ctx: Context,
    api: Api<Node>,
    set: CidrSet,
    /// The range of each node.
    owners: HashMap<String, Ipv4Net>,
    /// Nodes seen without a range during the initial list.
    waiting: Vec<String>,
    listing: bool,
}

impl Allocator {
    fn reset(&mut self) {
        self.set = CidrSet::new(self.ctx.api.config.cluster_cidr, NODE_MASK);
        self.owners.clear();
        self.waiting.clear();
        self.listing = true;
    }

    /// Takes note of a node's range, or gives it one.
    async fn observe(&mut self, node: &Node) {
        let name = node.metadata.name.clone().unwrap_or_default();
        if let Some(net) = pod_cidr(node) {
            if self.owners.get(&name) != Some(&net) {
                if !self.set.occupy(&net) {
                    warn!(node = %name, cidr = %net, cluster = %self.set.cluster, "node's podCIDR is outside the cluster CIDR");
                }
                self.owners.insert(name, net);
            }
            return;
        }
        if self.owners.contains_key(&name) {
            // Our patch is on its way.
            return;
        }
        if self.listing {
            self.waiting.push(name);
        } else {
            self.assign(&name).await;
        }
    }

    async fn assign(&mut self, name: &str) {
        let Some(net) = self.set.allocate() else {
            warn!(node = name, "no pod CIDR left for the node");
            self.ctx.events.normal(
                &node_reference(name),
                "CIDRNotAvailable",
                &format!("Node {name} status is now: CIDRNotAvailable"),
            );
            return;
        };
        let patch = json!({"spec": {"podCIDR": net.to_string(), "podCIDRs": [net.to_string()]}});
        match self
            .api
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
        {
            Ok(_) => {
                info!(node = name, cidr = %net, "assigned the node's pod CIDR");
                self.owners.insert(name.to_string(), net);
            }
            Err(error) => {
                warn!(%error, node = name, "cannot set the node's pod CIDR");
                self.set.release(&net);
            }
        }
    }

    fn forget(&mut self, node: &Node) {
        let name = node.metadata.name.clone().unwrap_or_default();
        if let Some(net) = self.owners.remove(&name).or_else(|| pod_cidr(node)) {
            info!(node = %name, cidr = %net, "released the deleted node's pod CIDR");
            self.set.release(&net);
        }
    }
}

pub async fn run(ctx: Context, shutdown: CancellationToken) {
    let api: Api<Node> = Api::all(ctx.client.clone());
    let mut allocator = Allocator {
        set: CidrSet::new(ctx.api.config.cluster_cidr, NODE_MASK),
        ctx,
        api: api.clone(),
        owners: HashMap::new(),
        waiting: Vec::new(),
        listing: true,
    };
    let events = watcher(api, watcher::Config::default()).default_backoff();
    let mut events = std::pin::pin!(events.take_until(shutdown.cancelled_owned()));
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Init) => allocator.reset(),
            Ok(watcher::Event::InitApply(node) | watcher::Event::Apply(node)) => {
                allocator.observe(&node).await;
            }
            Ok(watcher::Event::InitDone) => {
                allocator.listing = false;
                for name in std::mem::take(&mut allocator.waiting) {
                    allocator.assign(&name).await;
                }
            }
            Ok(watcher::Event::Delete(node)) => allocator.forget(&node),
            Err(error) => warn!(%error, "node watch failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_each_range_once_going_round() {
        let mut set = CidrSet::new("10.42.0.0/22".parse().unwrap(), 24);
        assert!(set.occupy(&"10.42.1.0/24".parse().unwrap()));
        assert!(!set.occupy(&"10.43.0.0/24".parse().unwrap()));
        let first = set.allocate().unwrap();
        let second = set.allocate().unwrap();
        assert_eq!(
            (first.to_string(), second.to_string()),
            ("10.42.0.0/24".into(), "10.42.2.0/24".into())
        );
        set.release(&first);
        assert_eq!(set.allocate().unwrap().to_string(), "10.42.3.0/24");
        assert_eq!(set.allocate().unwrap().to_string(), "10.42.0.0/24");
        assert_eq!(set.allocate(), None);
    }
}
