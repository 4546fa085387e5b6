//! The watches that keep the scheduler's cache and queue current: nodes, pods bound to a
//! node (`spec.nodeName!=`, for accounting), pods waiting for one (`spec.nodeName=`),
//! namespaces (labels, for namespace selectors) and PriorityClasses. Each watch converts
//! objects to the scheduler's view in its own task and sends [`Update`]s to the scheduling
//! loop; after every (re)list it says which objects exist, so the loop drops the rest.

use std::collections::HashSet;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::info::{NodeObject, PodInfo, PodRef};
use super::selectors::Labels;

/// Which watch an update came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    Nodes,
    AssignedPods,
    PendingPods,
    Namespaces,
    PriorityClasses,
}

/// A change the scheduling loop applies.
pub enum Update {
    Node(NodeObject),
    NodeGone(String),
    Assigned(PodRef),
    AssignedGone(String),
    Pending(PodRef),
    PendingGone(String),
    Namespace(String, Labels),
    NamespaceGone(String),
    /// A PriorityClass: name, value, and whether its preemption policy is Never.
    PriorityClass(String, i32, bool),
    PriorityClassGone(String),
    /// A (re)list finished: the keys (node and namespace names, pod uids, class names)
    /// that exist now.
    Synced(Source, HashSet<String>),
}

/// Terminated pods hold no resources; upstream's informers leave them out too.
const NOT_TERMINATED: &str = "status.phase!=Succeeded,status.phase!=Failed";

/// How one watch turns objects into updates.
struct Conversion<K> {
    source: Source,
    key: fn(&K) -> String,
    applied: fn(&K) -> Update,
    deleted: fn(&K) -> Update,
}

async fn follow<K>(
    api: Api<K>,
    config: watcher::Config,
    conversion: Conversion<K>,
    tx: UnboundedSender<Update>,
    shutdown: CancellationToken,
) where
    K: kube::Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let Conversion {
        source,
        key,
        applied,
        deleted,
    } = conversion;
    let mut stream = watcher(api, config).default_backoff().boxed();
    let mut seen = HashSet::new();
    loop {
        let event = tokio::select! {
            () = shutdown.cancelled() => return,
            event = stream.next() => event,
        };
        let Some(event) = event else { return };
        let update = match event {
            Ok(watcher::Event::Apply(object)) => applied(&object),
            Ok(watcher::Event::Delete(object)) => deleted(&object),
            Ok(watcher::Event::Init) => {
                seen.clear();
                continue;
            }
            Ok(watcher::Event::InitApply(object)) => {
                seen.insert(key(&object));
                applied(&object)
            }
            Ok(watcher::Event::InitDone) => Update::Synced(source, std::mem::take(&mut seen)),
            Err(error) => {
                debug!(%error, ?source, "scheduler watch failed; retrying");
                continue;
            }
        };
        if tx.send(update).is_err() {
            return;
        }
    }
}

fn pod_uid(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

fn name_of<K: kube::Resource>(object: &K) -> String {
    object.meta().name.clone().unwrap_or_default()
}

/// Starts every watch; they stop at `shutdown` or when the loop goes away.
pub fn start(
    client: &kube::Client,
    tx: &UnboundedSender<Update>,
    shutdown: &CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::all(client.clone());
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let classes: Api<PriorityClass> = Api::all(client.clone());
    let assigned = format!("spec.nodeName!=,{NOT_TERMINATED}");
    let pending = format!("spec.nodeName=,{NOT_TERMINATED}");
    vec![
        tokio::spawn(follow(
            nodes,
            watcher::Config::default(),
            Conversion {
                source: Source::Nodes,
                key: name_of,
                applied: |n| Update::Node(NodeObject::from_node(n)),
                deleted: |n| Update::NodeGone(name_of(n)),
            },
            tx.clone(),
            shutdown.clone(),
        )),
        tokio::spawn(follow(
            pods.clone(),
            watcher::Config::default().fields(&assigned),
            Conversion {
                source: Source::AssignedPods,
                key: pod_uid,
                applied: |p| Update::Assigned(Arc::new(PodInfo::from_pod(p))),
                deleted: |p| Update::AssignedGone(pod_uid(p)),
            },
            tx.clone(),
            shutdown.clone(),
        )),
        tokio::spawn(follow(
            pods,
            watcher::Config::default().fields(&pending),
            Conversion {
                source: Source::PendingPods,
                key: pod_uid,
                applied: |p| Update::Pending(Arc::new(PodInfo::from_pod(p))),
                deleted: |p| Update::PendingGone(pod_uid(p)),
            },
            tx.clone(),
            shutdown.clone(),
        )),
        tokio::spawn(follow(
            namespaces,
            watcher::Config::default(),
            Conversion {
                source: Source::Namespaces,
                key: name_of,
                applied: |n| {
                    Update::Namespace(name_of(n), n.metadata.labels.clone().unwrap_or_default())
                },
                deleted: |n| Update::NamespaceGone(name_of(n)),
            },
            tx.clone(),
            shutdown.clone(),
        )),
        tokio::spawn(follow(
            classes,
            watcher::Config::default(),
            Conversion {
                source: Source::PriorityClasses,
                key: name_of,
                applied: |c| {
                    Update::PriorityClass(
                        name_of(c),
                        c.value,
                        c.preemption_policy.as_deref() == Some("Never"),
                    )
                },
                deleted: |c| Update::PriorityClassGone(name_of(c)),
            },
            tx.clone(),
            shutdown.clone(),
        )),
    ]
}
