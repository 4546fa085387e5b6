//! Image garbage collection on the node, as upstream's kubelet runs it: every
//! [`IMAGE_GC_PERIOD`], when the data dir's file system is more than
//! `image-gc-high-threshold`% used (85), unused images go, least recently used first, until
//! it is at most `image-gc-low-threshold`% (80) used; under disk pressure, node-pressure
//! eviction first removes every unused image ([`free_disk`]) and evicts a pod only if that
//! was not enough.
//!
//! An image is in use while any pod bound to this node names it (whatever the pod's phase),
//! and is kept for 2 minutes (`--kubelet-arg=minimum-image-ttl-duration`, upstream's
//! `imageMinimumGCAge`) after it last entered the store or served a container, so that a pod
//! created just now does not lose its image.
//! Images from the air-gap directory are never removed (see
//! [`crate::runtime::images::ImageStore::pinned`]).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::Kubelet;
use crate::runtime::images::{GcReport, ImageId, ImageStore};

/// How often usage is checked against the thresholds (upstream's `ImageGCPeriod`).
pub const IMAGE_GC_PERIOD: Duration = Duration::from_secs(300);

/// The images named by `pods`, and those that entered the store or were used less than
/// `minimum_age` seconds before `now`.
pub fn kept(store: &ImageStore, pods: &[Pod], now: u64, minimum_age: u64) -> HashSet<ImageId> {
    let named = pods
        .iter()
        .filter_map(|p| p.spec.as_ref())
        .flat_map(|spec| {
            let init = spec.init_containers.iter().flatten();
            let ephemeral = spec.ephemeral_containers.iter().flatten();
            spec.containers
                .iter()
                .chain(init)
                .filter_map(|c| c.image.clone())
                .chain(ephemeral.filter_map(|c| c.image.clone()))
        })
        .filter_map(|name| store.get(&name))
        .map(|image| image.id);
    let recent = store
        .list()
        .into_iter()
        .filter(|i| now.saturating_sub(i.last_used.max(i.created_at)) < minimum_age)
        .map(|image| image.id);
    named.chain(recent).collect()
}

/// Removes unused images (none that `pods`, this node's pods, name) while usage is above
/// `high`% until it is at most `low`%; `None` when the collection failed.
pub async fn collect(kubelet: &Kubelet, pods: Vec<Pod>, high: u8, low: u8) -> Option<GcReport> {
    let store = kubelet.images.clone();
    let minimum_age = kubelet.config.node.kubelet.image_minimum_age.as_secs();
    let outcome = tokio::task::spawn_blocking(move || {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        store.collect(high, low, &kept(&store, &pods, now, minimum_age))
    })
    .await;
    match outcome {
        Ok(Ok(report)) => {
            if !report.removed.is_empty() {
                info!(
                    removed = report.removed.len(),
                    freed = report.freed,
                    usage_before = report.usage_before,
                    usage_after = report.usage_after,
                    "image garbage collection"
                );
            }
            Some(report)
        }
        Ok(Err(error)) => {
            warn!(%error, "image garbage collection failed");
            None
        }
        Err(error) => {
            warn!(%error, "image garbage collection stopped");
            None
        }
    }
}

/// Under disk pressure: removes every unused image, whatever the usage (upstream's
/// reclaiming of node-level resources before it evicts pods).
pub async fn free_disk(kubelet: &Kubelet, pods: Vec<Pod>) -> Option<GcReport> {
    collect(kubelet, pods, 0, 0).await
}

/// Collects by the node's thresholds every [`IMAGE_GC_PERIOD`] until `shutdown`.
pub async fn run(kubelet: Arc<Kubelet>, shutdown: CancellationToken) {
    let args = &kubelet.config.node.kubelet;
    let (high, low) = (args.image_gc_high, args.image_gc_low);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(IMAGE_GC_PERIOD) => {}
        }
        match kubelet.pods_on_node().await {
            Ok(pods) => {
                collect(&kubelet, pods, high, low).await;
            }
            Err(error) => warn!(%error, "image garbage collection: cannot list this node's pods"),
        }
    }
}
