//! Pod garbage collection, every 20 s as upstream's PodGC:
//!
//! - terminated pods (Succeeded or Failed) beyond 12,500 go, evicted and oldest first;
//! - pods bound to a node that no longer exists (still missing after 40 s of quarantine
//!   and a fresh read) are marked Failed with a `DisruptionTarget` condition
//!   (`DeletionByPodGC`, "PodGC: node no longer exists") and force-deleted;
//! - terminating pods never scheduled, and terminating pods on a not-ready node tainted
//!   `node.kubernetes.io/out-of-service`, are marked Failed and force-deleted.
//!
//! Pods and nodes are read from the watch cache, whose selectable fields (`status.phase`,
//! `spec.nodeName`) answer most questions without parsing each pod.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::Context;
use crate::api::cache::Filter;

/// Terminated pods kept before the oldest are collected (upstream's default).
pub const TERMINATED_THRESHOLD: usize = 12_500;
const PERIOD: Duration = Duration::from_secs(20);
/// How long a node must stay missing before its pods are collected.
const QUARANTINE: Duration = Duration::from_secs(40);
const OUT_OF_SERVICE: &str = "node.kubernetes.io/out-of-service";

/// What the collector needs to know about one pod.
#[derive(Clone, Debug)]
pub struct PodInfo {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub phase: String,
    pub node: String,
    pub deleting: bool,
    pub evicted: bool,
    pub created: Option<Timestamp>,
}

impl PodInfo {
    fn terminated(&self) -> bool {
        matches!(self.phase.as_str(), "Succeeded" | "Failed")
    }
}

/// The terminated pods beyond `threshold`: evicted first, then oldest, then by name.
pub fn excess_terminated(pods: &[PodInfo], threshold: usize) -> Vec<&PodInfo> {
    let mut terminated: Vec<&PodInfo> = pods.iter().filter(|p| p.terminated()).collect();
    let excess = terminated.len().saturating_sub(threshold);
    if excess == 0 {
        return Vec::new();
    }
    terminated.sort_by(|a, b| {
        b.evicted
            .cmp(&a.evicted)
            .then_with(|| a.created.cmp(&b.created))
            .then_with(|| a.name.cmp(&b.name))
    });
    terminated.truncate(excess);
    terminated
}

/// Reads every pod from the watch cache.
fn pods(ctx: &Context) -> Vec<PodInfo> {
    let Some(info) = ctx.api.registry.get("", "v1", "pods") else {
        return Vec::new();
    };
    let page = ctx
        .api
        .cache
        .list(&info.list_prefix(None), &Filter::default(), None, None);
    page.objects
        .iter()
        .map(|cached| {
            let phase = cached.field("status.phase").to_string();
            let deleting = cached
                .json
                .windows(b"\"deletionTimestamp\"".len())
                .any(|w| w == b"\"deletionTimestamp\"");
            let mut pod = PodInfo {
                namespace: cached.namespace.clone().unwrap_or_default(),
                name: cached.name.clone(),
                uid: cached.uid.clone(),
                node: cached.field("spec.nodeName").to_string(),
                deleting,
                evicted: false,
                created: None,
                phase,
            };
            if pod.terminated() {
                let value = cached.value();
                pod.evicted =
                    value.pointer("/status/reason").and_then(|r| r.as_str()) == Some("Evicted");
                pod.created = value
                    .pointer("/metadata/creationTimestamp")
                    .and_then(|t| t.as_str())
                    .and_then(|t| t.parse().ok());
            }
            pod
        })
        .collect()
}

/// Every node's name, and whether it is not ready with the out-of-service taint.
fn nodes(ctx: &Context) -> HashMap<String, bool> {
    let Some(info) = ctx.api.registry.get("", "v1", "nodes") else {
        return HashMap::new();
    };
    let page = ctx
        .api
        .cache
        .list(&info.list_prefix(None), &Filter::default(), None, None);
    page.objects
        .iter()
        .map(|cached| {
            let out_of_service = cached
                .json
                .windows(OUT_OF_SERVICE.len())
                .any(|w| w == OUT_OF_SERVICE.as_bytes())
                && serde_json::from_slice::<Node>(&cached.json).is_ok_and(|node| {
                    let spec = node.spec.unwrap_or_default();
                    let tainted = spec
                        .taints
                        .iter()
                        .flatten()
                        .any(|t| t.key == OUT_OF_SERVICE);
                    let ready = node
                        .status
                        .and_then(|s| s.conditions)
                        .unwrap_or_default()
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.status == "True");
                    tainted && !ready
                });
            (cached.name.clone(), out_of_service)
        })
        .collect()
}

/// Marks the pod Failed (with `condition`, if any) unless it is terminal, then deletes it
/// with no grace period.
async fn force_delete(ctx: &Context, pod: &PodInfo, condition: Option<(&str, &str)>) {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &pod.namespace);
    if !pod.terminated() {
        let mut status = json!({"phase": "Failed"});
        if let Some((reason, message)) = condition {
            status["conditions"] = json!([{"type": "DisruptionTarget", "status": "True",
                "reason": reason, "message": message,
                "lastTransitionTime": crate::api::object::now()}]);
        }
        let patch = json!({"metadata": {"uid": pod.uid}, "status": status});
        if let Err(error) = api
            .patch_status(&pod.name, &PatchParams::default(), &Patch::Strategic(patch))
            .await
        {
            if !matches!(&error, kube::Error::Api(e) if e.code == 404) {
                warn!(%error, pod = %pod.name, "pod GC cannot mark the pod failed");
            }
            return;
        }
    }
    info!(pod = %format!("{}/{}", pod.namespace, pod.name), "PodGC is force deleting Pod");
    match api
        .delete(&pod.name, &DeleteParams::default().grace_period(0))
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 => {}
        Err(error) => warn!(%error, pod = %pod.name, "pod GC cannot delete the pod"),
    }
}

/// One collection pass; `missing` remembers since when each absent node was missed.
async fn collect(ctx: &Context, missing: &mut HashMap<String, Instant>) {
    let pods = pods(ctx);
    let nodes = nodes(ctx);
    for pod in excess_terminated(&pods, TERMINATED_THRESHOLD) {
        force_delete(ctx, pod, None).await;
    }
    for pod in pods
        .iter()
        .filter(|p| p.deleting && nodes.get(&p.node) == Some(&true))
    {
        force_delete(ctx, pod, None).await;
    }
    // Orphans: nodes missing for the whole quarantine, confirmed by a fresh read.
    let absent: HashSet<&str> = pods
        .iter()
        .map(|p| p.node.as_str())
        .filter(|n| !n.is_empty() && !nodes.contains_key(*n))
        .collect();
    missing.retain(|node, _| absent.contains(node.as_str()));
    let now = Instant::now();
    let mut gone: HashSet<String> = HashSet::new();
    let node_api: Api<Node> = Api::all(ctx.client.clone());
    for node in absent {
        let since = *missing.entry(node.to_string()).or_insert(now);
        if now.duration_since(since) >= QUARANTINE
            && matches!(node_api.get_opt(node).await, Ok(None))
        {
            gone.insert(node.to_string());
        }
    }
    for pod in pods.iter().filter(|p| gone.contains(&p.node)) {
        info!(pod = %format!("{}/{}", pod.namespace, pod.name), node = %pod.node, "found orphaned pod assigned to a deleted node");
        force_delete(
            ctx,
            pod,
            Some(("DeletionByPodGC", "PodGC: node no longer exists")),
        )
        .await;
    }
    for pod in pods.iter().filter(|p| p.deleting && p.node.is_empty()) {
        force_delete(ctx, pod, None).await;
    }
}

pub async fn run(ctx: Context, shutdown: CancellationToken) {
    let mut missing = HashMap::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(PERIOD) => {}
        }
        collect(&ctx, &mut missing).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, phase: &str, evicted: bool, created: i64) -> PodInfo {
        PodInfo {
            namespace: "ns".into(),
            name: name.into(),
            uid: name.into(),
            phase: phase.into(),
            node: "n".into(),
            deleting: false,
            evicted,
            created: Timestamp::from_second(created).ok(),
        }
    }

    #[test]
    fn collects_evicted_then_oldest_terminated_pods_beyond_the_threshold() {
        let pods = vec![
            pod("new", "Succeeded", false, 300),
            pod("old", "Failed", false, 100),
            pod("running", "Running", false, 50),
            pod("evicted", "Failed", true, 400),
        ];
        let names: Vec<&str> = excess_terminated(&pods, 1)
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(names, ["evicted", "old"]);
        assert!(excess_terminated(&pods, 3).is_empty());
    }
}
