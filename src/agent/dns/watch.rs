//! Keeps the [`ClusterIndex`] current: one kube-rs watcher per kind (Namespaces, Services,
//! EndpointSlices) through the in-process client. Each event is applied as it arrives, so an
//! answer reflects a change as soon as the API server has stored it; a relist replaces the
//! kind's whole content at once.

use std::fmt::Debug;
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use kube::runtime::watcher::{self, Event};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::index::{ClusterIndex, Indexed};

/// The shared index: one writer per kind, every query a reader.
pub type SharedIndex = Arc<RwLock<ClusterIndex>>;

/// Follows the three kinds until `shutdown`.
pub async fn run(client: kube::Client, index: SharedIndex, shutdown: CancellationToken) {
    tokio::join!(
        follow(
            Api::<Namespace>::all(client.clone()),
            index.clone(),
            shutdown.clone()
        ),
        follow(
            Api::<Service>::all(client.clone()),
            index.clone(),
            shutdown.clone()
        ),
        follow(Api::<EndpointSlice>::all(client), index, shutdown),
    );
}

fn write(index: &SharedIndex, f: impl FnOnce(&mut ClusterIndex)) {
    // A poisoned lock only means a writer panicked mid-update: the next relist repairs it.
    let mut guard = index
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    f(&mut guard);
}

async fn follow<K>(api: Api<K>, index: SharedIndex, shutdown: CancellationToken)
where
    K: kube::Resource + Indexed + Clone + DeserializeOwned + Debug + Send + 'static,
    K::DynamicType: Default,
{
    let kind = K::KIND;
    let mut stream = watcher::watcher(api, watcher::Config::default()).boxed();
    let mut listing: Vec<K> = Vec::new();
    loop {
        let event = tokio::select! {
            () = shutdown.cancelled() => return,
            event = stream.next() => event,
        };
        match event {
            None => return,
            Some(Ok(Event::Apply(object))) => write(&index, |i| i.upsert(&object)),
            Some(Ok(Event::Delete(object))) => write(&index, |i| i.remove(&object)),
            Some(Ok(Event::Init)) => listing.clear(),
            Some(Ok(Event::InitApply(object))) => listing.push(object),
            Some(Ok(Event::InitDone)) => {
                debug!(?kind, count = listing.len(), "cluster DNS listed");
                let objects = std::mem::take(&mut listing);
                write(&index, |i| i.replace_all(&objects));
            }
            Some(Err(error)) => {
                warn!(?kind, %error, "the cluster DNS watch failed; retrying");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
                }
            }
        }
    }
}
