//! Taint-based eviction, as upstream's taint eviction controller: a pod on a node with
//! NoExecute taints it does not tolerate is deleted at once; one that tolerates them all is
//! deleted after the smallest `tolerationSeconds` of the tolerations used (counted from
//! when the controller first saw it under the taints), or never if none sets one.
//!
//! Before deleting, the pod gets a `DisruptionTarget` condition (`DeletionByTaintManager`)
//! and a `TaintManagerEviction` event "Marking for deletion Pod ns/name"; a scheduled
//! eviction that no longer applies is cancelled with "Cancelling deletion of Pod ns/name".

use std::collections::HashMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, ObjectReference, Pod, Taint, Toleration};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::watcher;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::node_lifecycle::reflect;
use super::{Context, events};

/// How often tainted nodes' pods are looked at when nothing is due sooner.
const RESCAN: Duration = Duration::from_secs(2);

/// Whether the toleration tolerates the taint (keys, values, effects and operators).
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if toleration
        .effect
        .as_deref()
        .is_some_and(|e| !e.is_empty() && e != taint.effect)
    {
        return false;
    }
    if toleration
        .key
        .as_deref()
        .is_some_and(|k| !k.is_empty() && k != taint.key)
    {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Equal" | "" => {
            toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
        "Exists" => true,
        _ => false,
    }
}

/// What the tolerations say about the NoExecute taints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Some taint is not tolerated: evict now.
    Evict,
    /// Tolerated for this long.
    After(Duration),
    /// Tolerated forever.
    Stay,
}

/// Matches each NoExecute taint with the first toleration that tolerates it.
pub fn judge(taints: &[Taint], tolerations: &[Toleration]) -> Verdict {
    let mut shortest: Option<i64> = None;
    for taint in taints.iter().filter(|t| t.effect == "NoExecute") {
        let Some(used) = tolerations.iter().find(|t| tolerates(t, taint)) else {
            return Verdict::Evict;
        };
        if let Some(seconds) = used.toleration_seconds {
            shortest = Some(shortest.map_or(seconds, |s| s.min(seconds)));
        }
    }
    match shortest {
        None => Verdict::Stay,
        Some(s) if s <= 0 => Verdict::After(Duration::ZERO),
        Some(s) => Verdict::After(Duration::from_secs(s as u64)),
    }
}

/// An eviction waiting for its time.
struct Scheduled {
    reference: ObjectReference,
    since: Timestamp,
}

fn key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

struct Evictor {
    ctx: Context,
    scheduled: HashMap<String, Scheduled>,
}

impl Evictor {
    /// Marks the pod as disrupted, then deletes it.
    async fn evict(&self, pod: &Pod) {
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let reference = events::reference("v1", "Pod", &pod.metadata);
        self.ctx.events.normal(
            &reference,
            "TaintManagerEviction",
            &format!("Marking for deletion Pod {namespace}/{name}"),
        );
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &namespace);
        let condition = json!({"status": {"conditions": [{"type": "DisruptionTarget",
            "status": "True", "reason": "DeletionByTaintManager",
            "message": "Taint manager: deleting due to NoExecute taint",
            "lastTransitionTime": crate::api::object::now()}]}});
        if let Err(error) = api
            .patch_status(&name, &PatchParams::default(), &Patch::Strategic(condition))
            .await
        {
            warn!(%error, pod = %name, "cannot add the DisruptionTarget condition");
        }
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {
                info!(pod = %format!("{namespace}/{name}"), "evicted pod from a NoExecute-tainted node")
            }
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(error) => warn!(%error, pod = %name, "cannot evict the pod"),
        }
    }

    fn cancel(&mut self, key: &str) {
        if let Some(scheduled) = self.scheduled.remove(key) {
            self.ctx.events.normal(
                &scheduled.reference,
                "TaintManagerEviction",
                &format!("Cancelling deletion of Pod {key}"),
            );
        }
    }

    /// Looks at every pod of every NoExecute-tainted node; returns when something is next
    /// due.
    async fn scan(&mut self, nodes: &[std::sync::Arc<Node>]) -> Duration {
        let now = Timestamp::now();
        let mut next = RESCAN;
        let mut seen: Vec<String> = Vec::new();
        let all: Api<Pod> = Api::all(self.ctx.client.clone());
        for node in nodes {
            let taints: Vec<Taint> = node
                .spec
                .as_ref()
                .and_then(|s| s.taints.clone())
                .unwrap_or_default()
                .into_iter()
                .filter(|t| t.effect == "NoExecute")
                .collect();
            if taints.is_empty() {
                continue;
            }
            let name = node.metadata.name.clone().unwrap_or_default();
            let Ok(pods) = all
                .list(&ListParams::default().fields(&format!("spec.nodeName={name}")))
                .await
            else {
                continue;
            };
            for pod in pods.items {
                if pod.metadata.deletion_timestamp.is_some() {
                    continue;
                }
                let key = key(&pod);
                let tolerations = pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.tolerations.clone())
                    .unwrap_or_default();
                match judge(&taints, &tolerations) {
                    Verdict::Stay => self.cancel(&key),
                    Verdict::Evict => {
                        self.scheduled.remove(&key);
                        self.evict(&pod).await;
                    }
                    Verdict::After(wait) => {
                        seen.push(key.clone());
                        let scheduled =
                            self.scheduled
                                .entry(key.clone())
                                .or_insert_with(|| Scheduled {
                                    reference: events::reference("v1", "Pod", &pod.metadata),
                                    since: now,
                                });
                        let elapsed = now.duration_since(scheduled.since);
                        let elapsed = Duration::try_from(elapsed).unwrap_or(Duration::ZERO);
                        if elapsed >= wait {
                            self.scheduled.remove(&key);
                            self.evict(&pod).await;
                        } else {
                            next = next.min(wait - elapsed);
                        }
                    }
                }
            }
        }
        let stale: Vec<String> = self
            .scheduled
            .keys()
            .filter(|k| !seen.contains(k))
            .cloned()
            .collect();
        for key in stale {
            self.cancel(&key);
        }
        next
    }
}

pub async fn run(ctx: Context, shutdown: CancellationToken) {
    let nodes = reflect(
        Api::<Node>::all(ctx.client.clone()),
        watcher::Config::default(),
        shutdown.clone(),
    );
    tokio::select! {
        () = shutdown.cancelled() => return,
        _ = nodes.wait_until_ready() => {}
    }
    let mut evictor = Evictor {
        ctx,
        scheduled: HashMap::new(),
    };
    loop {
        let wait = evictor.scan(&nodes.state()).await;
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(wait.max(Duration::from_millis(200))) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn taint(key: &str, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            effect: effect.into(),
            ..Default::default()
        }
    }

    fn toleration(value: serde_json::Value) -> Toleration {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn tolerations_match_like_upstream() {
        let t = taint("node.kubernetes.io/unreachable", "NoExecute");
        assert!(tolerates(&toleration(json!({"operator": "Exists"})), &t));
        assert!(tolerates(
            &toleration(
                json!({"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"})
            ),
            &t
        ));
        assert!(!tolerates(
            &toleration(
                json!({"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "operator": "Exists"})
            ),
            &t
        ));
        assert!(!tolerates(
            &toleration(json!({"key": "other", "operator": "Exists"})),
            &t
        ));
        assert!(tolerates(
            &toleration(json!({"key": "node.kubernetes.io/unreachable", "value": ""})),
            &t
        ));
    }

    #[test]
    fn the_shortest_toleration_wins() {
        let taints = [
            taint("node.kubernetes.io/unreachable", "NoExecute"),
            taint("node.kubernetes.io/not-ready", "NoExecute"),
            taint("ignored", "NoSchedule"),
        ];
        let both = [
            toleration(
                json!({"key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300}),
            ),
            toleration(
                json!({"key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 5}),
            ),
        ];
        assert_eq!(
            judge(&taints, &both),
            Verdict::After(Duration::from_secs(5))
        );
        assert_eq!(judge(&taints, &both[..1]), Verdict::Evict);
        let forever = [toleration(json!({"operator": "Exists"}))];
        assert_eq!(judge(&taints, &forever), Verdict::Stay);
        assert_eq!(judge(&[], &[]), Verdict::Stay);
    }
}
