//! Node lifecycle, as upstream's node lifecycle controller: every 5 s, each node whose
//! kubelet has neither renewed its Lease in `kube-node-lease` nor posted a Ready heartbeat
//! for the grace period (40 s) gets its `Ready`, `MemoryPressure`, `DiskPressure` and
//! `PIDPressure` conditions set to `Unknown` ("Kubelet stopped posting node status."), a
//! `NodeNotReady` event, and its pods' `Ready` condition set to False.
//!
//! Taints follow the conditions: `node.kubernetes.io/not-ready` (Ready=False) or
//! `node.kubernetes.io/unreachable` (Ready=Unknown) as NoSchedule and NoExecute, the
//! pressure and `network-unavailable` NoSchedule taints, and `unschedulable` for cordoned
//! nodes; all go when the node recovers. NoExecute taints (which evict pods, see
//! [`super::taint_eviction`]) are held back as upstream's zone disruption rules say: not
//! added in a small zone where more than 55 % of nodes are down, and removed everywhere
//! when every node is down (the control plane is then more likely cut off than the nodes).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::node_ipam::node_reference;
use super::{Context, events, pod_conditions};

/// How long a kubelet may stay silent before its node is Unknown.
pub const GRACE_PERIOD: Duration = Duration::from_secs(40);
/// The grace for a node whose kubelet never posted its status.
const STARTUP_GRACE_PERIOD: Duration = Duration::from_secs(60);
const MONITOR_PERIOD: Duration = Duration::from_secs(5);
pub const LEASE_NAMESPACE: &str = "kube-node-lease";

pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
const UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
/// The conditions a silent kubelet leaves Unknown.
const KUBELET_CONDITIONS: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];
/// NoSchedule taints for conditions that are True.
const CONDITION_TAINTS: [(&str, &str); 4] = [
    ("MemoryPressure", "node.kubernetes.io/memory-pressure"),
    ("DiskPressure", "node.kubernetes.io/disk-pressure"),
    ("PIDPressure", "node.kubernetes.io/pid-pressure"),
    (
        "NetworkUnavailable",
        "node.kubernetes.io/network-unavailable",
    ),
];
/// A zone larger than this keeps evicting (slowly) in partial disruption.
const LARGE_ZONE: usize = 50;
const UNHEALTHY_ZONE_FRACTION: f64 = 0.55;

/// What NoExecute taints a not-ready node may get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eviction {
    /// Add or swap them.
    Add,
    /// Add none, keep those present.
    Hold,
    /// Remove them (every node is down).
    Remove,
}

/// When the kubelet was last heard from.
struct Health {
    lease_renewed: Option<Timestamp>,
    heartbeat: Option<Timestamp>,
    probed: Timestamp,
}

fn condition<'a>(node: &'a Node, kind: &str) -> Option<&'a NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)
}

/// The Ready condition's status ("Unknown" when there is none).
pub fn readiness(node: &Node) -> &str {
    condition(node, "Ready").map_or("Unknown", |c| c.status.as_str())
}

fn zone_of(node: &Node) -> String {
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let get = |keys: [&str; 2]| {
        keys.iter()
            .find_map(|k| labels.get(*k).cloned())
            .unwrap_or_default()
    };
    let region = get([
        "topology.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/region",
    ]);
    let zone = get([
        "topology.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/zone",
    ]);
    format!("{region}:\0:{zone}")
}

/// Sets the kubelet's conditions Unknown; true if any changed.
pub fn mark_unknown(node: &mut Node, now: Timestamp) -> bool {
    let created = node.metadata.creation_timestamp.clone();
    let status = node.status.get_or_insert_with(Default::default);
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    let mut changed = false;
    for kind in KUBELET_CONDITIONS {
        match conditions.iter_mut().find(|c| c.type_ == kind) {
            None => {
                conditions.push(NodeCondition {
                    type_: kind.to_string(),
                    status: "Unknown".to_string(),
                    reason: Some("NodeStatusNeverUpdated".to_string()),
                    message: Some("Kubelet never posted node status.".to_string()),
                    last_heartbeat_time: created.clone(),
                    last_transition_time: Some(Time(now)),
                });
                changed = true;
            }
            Some(existing) if existing.status != "Unknown" => {
                existing.status = "Unknown".to_string();
                existing.reason = Some("NodeStatusUnknown".to_string());
                existing.message = Some("Kubelet stopped posting node status.".to_string());
                existing.last_transition_time = Some(Time(now));
                changed = true;
            }
            Some(_) => {}
        }
    }
    changed
}

/// The taints the node should carry, or None when it carries them already.
pub fn wanted_taints(node: &Node, eviction: Eviction, now: Timestamp) -> Option<Vec<Taint>> {
    let spec = node.spec.clone().unwrap_or_default();
    let current = spec.taints.clone().unwrap_or_default();
    let ready = readiness(node);
    let down_key = match ready {
        "False" => Some(NOT_READY),
        "True" => None,
        _ => Some(UNREACHABLE),
    };
    let mut no_schedule: Vec<&str> = CONDITION_TAINTS
        .iter()
        .filter(|(kind, _)| condition(node, kind).is_some_and(|c| c.status == "True"))
        .map(|(_, key)| *key)
        .collect();
    no_schedule.extend(down_key);
    if spec.unschedulable == Some(true) {
        no_schedule.push(UNSCHEDULABLE);
    }
    let managed_no_schedule = |key: &str| {
        key == NOT_READY
            || key == UNREACHABLE
            || key == UNSCHEDULABLE
            || CONDITION_TAINTS.iter().any(|(_, k)| *k == key)
    };
    let down = |key: &str| key == NOT_READY || key == UNREACHABLE;
    let mut taints: Vec<Taint> = current
        .iter()
        .filter(|t| match t.effect.as_str() {
            "NoSchedule" => !managed_no_schedule(&t.key) || no_schedule.contains(&t.key.as_str()),
            "NoExecute" if down(&t.key) => match (eviction, down_key) {
                (_, None) | (Eviction::Remove, _) => false,
                (Eviction::Add, Some(key)) => t.key == key,
                (Eviction::Hold, Some(_)) => true,
            },
            _ => true,
        })
        .cloned()
        .collect();
    for key in no_schedule {
        if !taints
            .iter()
            .any(|t| t.key == key && t.effect == "NoSchedule")
        {
            taints.push(Taint {
                key: key.to_string(),
                effect: "NoSchedule".to_string(),
                ..Default::default()
            });
        }
    }
    if let (Eviction::Add, Some(key)) = (eviction, down_key)
        && !taints
            .iter()
            .any(|t| t.key == key && t.effect == "NoExecute")
    {
        taints.push(Taint {
            key: key.to_string(),
            effect: "NoExecute".to_string(),
            time_added: Some(Time(now)),
            value: None,
        });
    }
    (taints != current).then_some(taints)
}

/// The NoExecute policy of each zone, from its ready and not-ready nodes.
fn zone_policies(nodes: &[Node]) -> HashMap<String, Eviction> {
    let mut zones: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for node in nodes {
        let entry = zones.entry(zone_of(node)).or_default();
        if readiness(node) == "True" {
            entry.0 += 1;
        } else {
            entry.1 += 1;
        }
    }
    let all_down = !zones.is_empty() && zones.values().all(|(ready, _)| *ready == 0);
    zones
        .into_iter()
        .map(|(zone, (ready, not_ready))| {
            let total = ready + not_ready;
            let partial = not_ready > 2
                && not_ready as f64 / total as f64 >= UNHEALTHY_ZONE_FRACTION
                && ready > 0;
            let policy = if all_down {
                Eviction::Remove
            } else if partial && total <= LARGE_ZONE {
                Eviction::Hold
            } else {
                Eviction::Add
            };
            (zone, policy)
        })
        .collect()
}

struct Monitor {
    ctx: Context,
    nodes: Store<Node>,
    leases: Store<Lease>,
    health: HashMap<String, Health>,
}

impl Monitor {
    /// Whether the node's kubelet has been silent past its grace period.
    fn silent(&mut self, node: &Node, now: Timestamp) -> bool {
        let name = node.metadata.name.clone().unwrap_or_default();
        let lease_renewed = self
            .leases
            .get(&ObjectRef::new(&name).within(LEASE_NAMESPACE))
            .and_then(|l| l.spec.as_ref()?.renew_time.as_ref().map(|t| t.0));
        let ready = condition(node, "Ready");
        let heartbeat = ready.and_then(|c| c.last_heartbeat_time.as_ref().map(|t| t.0));
        let grace = if ready.is_none() {
            STARTUP_GRACE_PERIOD
        } else {
            GRACE_PERIOD
        };
        let created = node
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or(now, |t| t.0);
        let health = self.health.entry(name).or_insert_with(|| Health {
            lease_renewed,
            heartbeat,
            probed: if ready.is_none() { created } else { now },
        });
        if health.heartbeat != heartbeat
            || lease_renewed.is_some_and(|r| health.lease_renewed.is_none_or(|h| r > h))
        {
            health.probed = now;
        }
        health.heartbeat = heartbeat;
        health.lease_renewed = health.lease_renewed.max(lease_renewed);
        now.duration_since(health.probed).as_secs() > grace.as_secs() as i64
    }

    async fn check(&mut self) {
        let now = Timestamp::now();
        let api: Api<Node> = Api::all(self.ctx.client.clone());
        let mut nodes: Vec<Node> = self.nodes.state().iter().map(|n| (**n).clone()).collect();
        for node in &mut nodes {
            let name = node.metadata.name.clone().unwrap_or_default();
            let was = readiness(node).to_string();
            if self.silent(node, now) && mark_unknown(node, now) {
                match api
                    .replace_status(&name, &PostParams::default(), node)
                    .await
                {
                    Ok(updated) => *node = updated,
                    Err(error) => {
                        warn!(%error, node = %name, "cannot mark the node's status unknown");
                        continue;
                    }
                }
                info!(node = %name, "kubelet stopped posting node status");
                if was == "True" {
                    self.ctx.events.normal(
                        &node_reference(&name),
                        "NodeNotReady",
                        &format!("Node {name} status is now: NodeNotReady"),
                    );
                    self.mark_pods_not_ready(&name).await;
                }
            }
        }
        self.health.retain(|name, _| {
            nodes
                .iter()
                .any(|n| n.metadata.name.as_deref() == Some(name))
        });
        let policies = zone_policies(&nodes);
        for node in &nodes {
            let eviction = policies
                .get(&zone_of(node))
                .copied()
                .unwrap_or(Eviction::Add);
            let Some(taints) = wanted_taints(node, eviction, now) else {
                continue;
            };
            let name = node.metadata.name.clone().unwrap_or_default();
            let taints = if taints.is_empty() {
                json!(null)
            } else {
                json!(taints)
            };
            let patch = json!({"metadata": {"resourceVersion": node.metadata.resource_version},
                "spec": {"taints": taints}});
            if let Err(error) = api
                .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                .await
                && !matches!(&error, kube::Error::Api(e) if e.code == 409)
            {
                warn!(%error, node = %name, "cannot update the node's taints");
            }
        }
    }

    /// Sets the `Ready` condition of the node's pods to False.
    async fn mark_pods_not_ready(&self, node: &str) {
        let all: Api<Pod> = Api::all(self.ctx.client.clone());
        let Ok(pods) = all
            .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
            .await
        else {
            return;
        };
        for mut pod in pods.items {
            let Some(mut ready) = pod_conditions::condition(&pod, "Ready").cloned() else {
                continue;
            };
            if ready.status == "False" {
                continue;
            }
            ready.status = "False".to_string();
            ready.last_transition_time = Some(Time(Timestamp::now()));
            pod_conditions::set_condition(&mut pod, ready);
            let namespace = pod.metadata.namespace.clone().unwrap_or_default();
            let name = pod.metadata.name.clone().unwrap_or_default();
            let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &namespace);
            match api
                .replace_status(&name, &PostParams::default(), &pod)
                .await
            {
                Ok(_) => self.ctx.events.warning(
                    &events::reference("v1", "Pod", &pod.metadata),
                    "NodeNotReady",
                    "Node is not ready",
                ),
                Err(error) => warn!(%error, pod = %name, "cannot mark the pod not ready"),
            }
        }
    }
}

/// A store of `K` kept by a reflector running until `shutdown`.
pub(crate) fn reflect<K>(
    api: Api<K>,
    config: watcher::Config,
    shutdown: CancellationToken,
) -> Store<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (store, writer) = reflector::store();
    let stream = reflector::reflector(writer, watcher(api, config).default_backoff())
        .take_until(shutdown.cancelled_owned())
        .for_each(|_| async {});
    tokio::spawn(stream);
    store
}

pub async fn run(ctx: Context, shutdown: CancellationToken) {
    let nodes = reflect(
        Api::<Node>::all(ctx.client.clone()),
        watcher::Config::default(),
        shutdown.clone(),
    );
    let leases = reflect(
        Api::<Lease>::namespaced(ctx.client.clone(), LEASE_NAMESPACE),
        watcher::Config::default(),
        shutdown.clone(),
    );
    let ready = async {
        let _ = nodes.wait_until_ready().await;
        let _ = leases.wait_until_ready().await;
    };
    tokio::select! {
        () = shutdown.cancelled() => return,
        () = ready => {}
    }
    let mut monitor = Monitor {
        ctx,
        nodes,
        leases,
        health: HashMap::new(),
    };
    loop {
        monitor.check().await;
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(MONITOR_PERIOD) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(value: serde_json::Value) -> Node {
        serde_json::from_value(value).unwrap()
    }

    fn keys(taints: &[Taint]) -> Vec<String> {
        taints
            .iter()
            .map(|t| format!("{}:{}", t.key, t.effect))
            .collect()
    }

    #[test]
    fn silent_nodes_become_unknown() {
        let mut n = node(
            serde_json::json!({"metadata": {"name": "n1"}, "status": {"conditions": [
            {"type": "Ready", "status": "True", "reason": "KubeletReady"}]}}),
        );
        assert!(mark_unknown(&mut n, Timestamp::now()));
        let ready = condition(&n, "Ready").unwrap();
        assert_eq!(ready.reason.as_deref(), Some("NodeStatusUnknown"));
        assert_eq!(
            ready.message.as_deref(),
            Some("Kubelet stopped posting node status.")
        );
        let memory = condition(&n, "MemoryPressure").unwrap();
        assert_eq!(memory.reason.as_deref(), Some("NodeStatusNeverUpdated"));
        assert!(!mark_unknown(&mut n, Timestamp::now()));
    }

    #[test]
    fn taints_follow_conditions() {
        let now = Timestamp::now();
        let unknown = node(serde_json::json!({"metadata": {"name": "n1"},
            "spec": {"taints": [{"key": "dedicated", "effect": "NoSchedule"}]},
            "status": {"conditions": [{"type": "Ready", "status": "Unknown"},
                {"type": "DiskPressure", "status": "True"}]}}));
        let taints = wanted_taints(&unknown, Eviction::Add, now).unwrap();
        assert_eq!(
            keys(&taints),
            [
                "dedicated:NoSchedule",
                "node.kubernetes.io/disk-pressure:NoSchedule",
                "node.kubernetes.io/unreachable:NoSchedule",
                "node.kubernetes.io/unreachable:NoExecute"
            ]
        );
        assert!(taints[3].time_added.is_some());
        let held = wanted_taints(&unknown, Eviction::Hold, now).unwrap();
        assert_eq!(held.len(), 3);
        let mut tainted = unknown.clone();
        tainted.spec.as_mut().unwrap().taints = Some(taints);
        assert_eq!(wanted_taints(&tainted, Eviction::Add, now), None);
        // Recovery removes everything the controller added.
        let mut recovered = tainted.clone();
        recovered.status = Some(
            serde_json::from_value(serde_json::json!({"conditions": [
            {"type": "Ready", "status": "True"}]}))
            .unwrap(),
        );
        assert_eq!(
            keys(&wanted_taints(&recovered, Eviction::Add, now).unwrap()),
            ["dedicated:NoSchedule"]
        );
        // Ready=False swaps unreachable for not-ready.
        let mut not_ready = tainted.clone();
        not_ready.status = Some(
            serde_json::from_value(serde_json::json!({"conditions": [
            {"type": "Ready", "status": "False"}]}))
            .unwrap(),
        );
        assert_eq!(
            keys(&wanted_taints(&not_ready, Eviction::Add, now).unwrap()),
            [
                "dedicated:NoSchedule",
                "node.kubernetes.io/not-ready:NoSchedule",
                "node.kubernetes.io/not-ready:NoExecute"
            ]
        );
    }

    #[test]
    fn zone_disruption_holds_back_eviction() {
        let n = |name: &str, ready: &str| {
            node(
                serde_json::json!({"metadata": {"name": name}, "status": {"conditions": [
                {"type": "Ready", "status": ready}]}}),
            )
        };
        let one_of_two = zone_policies(&[n("a", "True"), n("b", "Unknown")]);
        assert_eq!(one_of_two.values().next(), Some(&Eviction::Add));
        let all_down = zone_policies(&[n("a", "Unknown"), n("b", "Unknown")]);
        assert_eq!(all_down.values().next(), Some(&Eviction::Remove));
        let most_down = zone_policies(&[
            n("a", "True"),
            n("b", "Unknown"),
            n("c", "Unknown"),
            n("d", "False"),
        ]);
        assert_eq!(most_down.values().next(), Some(&Eviction::Hold));
    }
}
