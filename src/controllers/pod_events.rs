//! One watch of every pod, shared by the controllers that react to pods (ReplicaSet,
//! Deployment, StatefulSet, DaemonSet, ReplicationController, disruption budgets, Endpoints
//! and EndpointSlices): each pod event is decoded once and handed to all of them as the same
//! `Arc<Pod>`, where each used to hold a watch of its own and decode every event again — with
//! thousands of pods changing at once that decoding was most of the controllers' work.
//!
//! Controllers [`PodEvents::subscribe`] while they are being set up, before
//! [`PodEvents::start`], so none misses the first list. A subscriber sees every pod created,
//! changed or deleted (a deleted pod in its last state), and every pod again when the watch
//! lists anew. Delivery waits for slow subscribers rather than dropping events: a controller
//! only maps a pod to the objects to reconcile, which is quick.

use std::sync::{Arc, Mutex};

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// Events a subscriber may have waiting before delivery waits for it.
const BUFFER: usize = 1024;

/// The shared pod watch; clones share it.
#[derive(Clone, Default)]
pub struct PodEvents {
    subscribers: Arc<Mutex<Vec<mpsc::Sender<Arc<Pod>>>>>,
}

impl PodEvents {
    /// Every pod as it changes, from the first list on (subscribe before [`Self::start`]).
    pub fn subscribe(&self) -> impl Stream<Item = Arc<Pod>> + Send + use<> {
        let (sender, receiver) = mpsc::channel(BUFFER);
        if let Ok(mut subscribers) = self.subscribers.lock() {
            subscribers.push(sender);
        }
        ReceiverStream::new(receiver)
    }

    /// Watches every pod through `client` until `shutdown`, handing each event to the
    /// subscribers; one that has gone away is forgotten.
    pub fn start(
        &self,
        client: kube::Client,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let subscribers = self.subscribers.clone();
        tokio::spawn(async move {
            let pods: Api<Pod> = Api::all(client);
            let stream = watcher(pods, watcher::Config::default())
                .default_backoff()
                .touched_objects()
                .take_until(shutdown.cancelled_owned());
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                let pod = match event {
                    Ok(pod) => Arc::new(pod),
                    Err(error) => {
                        warn!(%error, "the controllers' pod watch failed; it restarts");
                        continue;
                    }
                };
                let current: Vec<_> = subscribers.lock().map(|s| s.clone()).unwrap_or_default();
                let mut gone = false;
                for subscriber in &current {
                    gone |= subscriber.send(pod.clone()).await.is_err();
                }
                if gone && let Ok(mut subscribers) = subscribers.lock() {
                    subscribers.retain(|s| !s.is_closed());
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    fn pod(name: &str) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.name = Some(name.to_string());
        pod
    }

    #[tokio::test]
    async fn every_subscriber_gets_the_same_pod() {
        let events = PodEvents::default();
        let mut a = Box::pin(events.subscribe());
        let mut b = Box::pin(events.subscribe());
        let senders = events.subscribers.lock().unwrap().clone();
        let sent = Arc::new(pod("p"));
        for sender in &senders {
            sender.send(sent.clone()).await.unwrap();
        }
        let (got_a, got_b) = (a.next().await.unwrap(), b.next().await.unwrap());
        assert!(Arc::ptr_eq(&got_a, &sent) && Arc::ptr_eq(&got_b, &sent));
        assert!(a.next().now_or_never().is_none());
    }
}
