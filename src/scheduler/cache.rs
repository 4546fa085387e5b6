//! The scheduler's picture of the cluster, kept up to date from watch events rather than
//! recomputed per pod: nodes with their pods and aggregates (requested resources, non-zero
//! requests for scoring, host ports), pods assumed on a node while their binding is in
//! flight, nominated pods, the number of nodes holding each image, namespace labels, and
//! match-count indexes (how many pods on each node a selector matches) that inter-pod
//! affinity and topology spread read instead of scanning every pod.

use std::collections::HashMap;
use std::sync::Arc;

use super::info::{HostPort, NamespaceScope, NodeObject, PodRef};
use super::resources::Resources;
use super::selectors::{LabelSelector, Labels};

/// Most match-count indexes kept; the least recently used goes first.
const MAX_INDEXES: usize = 256;

/// A node slot: the Node object (absent while pods name a node the watch has not shown
/// yet, or after it was deleted) and what its pods add up to.
#[derive(Debug, Default)]
pub struct NodeInfo {
    pub name: String,
    pub node: Option<Arc<NodeObject>>,
    pub pods: Vec<PodRef>,
    pub requested: Resources,
    pub non_zero_milli_cpu: i64,
    pub non_zero_memory: i64,
    pub ports: Vec<HostPort>,
}

impl NodeInfo {
    fn account(&mut self, pod: &PodRef, sign: i64) {
        self.requested.add(&pod.requests.exact, sign);
        self.non_zero_milli_cpu += sign * pod.requests.non_zero_milli_cpu;
        self.non_zero_memory += sign * pod.requests.non_zero_memory;
        if sign > 0 {
            self.ports.extend(pod.host_ports.iter().cloned());
            self.pods.push(pod.clone());
        } else {
            for port in &pod.host_ports {
                if let Some(i) = self.ports.iter().position(|p| p == port) {
                    self.ports.swap_remove(i);
                }
            }
            if let Some(i) = self.pods.iter().position(|p| p.uid == pod.uid) {
                self.pods.swap_remove(i);
            }
        }
    }
}

/// One conjunct of an index: pods in these namespaces matching this selector.
pub type Selection = (NamespaceScope, LabelSelector);

/// How many pods on each node slot match all of `terms` (and how many of those are
/// terminating).
#[derive(Debug)]
pub struct MatchIndex {
    terms: Vec<Selection>,
    matching: Vec<u32>,
    terminating: Vec<u32>,
    last_used: u64,
}

impl MatchIndex {
    /// Matching pods on `slot`, with or without the terminating ones.
    pub fn count(&self, slot: usize, include_terminating: bool) -> i64 {
        let all = i64::from(self.matching.get(slot).copied().unwrap_or(0));
        if include_terminating {
            all
        } else {
            all - i64::from(self.terminating.get(slot).copied().unwrap_or(0))
        }
    }
}

fn selection_matches(
    terms: &[Selection],
    pod: &super::info::PodInfo,
    namespaces: &HashMap<String, Labels>,
) -> bool {
    let ns_labels = namespaces.get(&pod.namespace);
    terms.iter().all(|(scope, selector)| {
        scope.contains(&pod.namespace, ns_labels) && selector.matches(&pod.labels)
    })
}

fn selection_key(terms: &[Selection]) -> String {
    terms
        .iter()
        .map(|(scope, selector)| format!("{scope:?}{}", selector.canonical()))
        .collect::<Vec<_>>()
        .join("&&")
}

/// What a node event changed.
#[derive(Debug, PartialEq, Eq)]
pub enum NodeChange {
    Added,
    /// Labels, taints, cordon or allocatable changed.
    Updated,
    Unchanged,
}

struct PodEntry {
    slot: usize,
    pod: PodRef,
    assumed: bool,
}

/// The cluster as the scheduler sees it.
#[derive(Default)]
pub struct Cache {
    slots: Vec<NodeInfo>,
    by_name: HashMap<String, usize>,
    free: Vec<usize>,
    /// Slots holding a Node object, in the order nodes arrived (the sampling order).
    node_order: Vec<usize>,
    pods: HashMap<String, PodEntry>,
    /// Pods on nodes with any inter-pod (anti-)affinity term, by uid.
    pub with_affinity: HashMap<String, (usize, PodRef)>,
    /// Of those, the ones with a required anti-affinity term.
    pub with_required_anti: HashMap<String, (usize, PodRef)>,
    image_nodes: HashMap<String, usize>,
    pub namespaces: HashMap<String, Labels>,
    indexes: HashMap<String, MatchIndex>,
    clock: u64,
    /// Pods nominated to run on a node (after preempting there), by node name.
    nominated: HashMap<String, Vec<PodRef>>,
    nominated_node: HashMap<String, String>,
}

impl Cache {
    pub fn slot(&self, slot: usize) -> &NodeInfo {
        &self.slots[slot]
    }

    pub fn slot_of(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Slots with a Node object, in arrival order.
    pub fn node_order(&self) -> &[usize] {
        &self.node_order
    }

    pub fn num_nodes(&self) -> usize {
        self.node_order.len()
    }

    /// How many nodes hold `image`.
    pub fn image_nodes(&self, image: &str) -> usize {
        self.image_nodes.get(image).copied().unwrap_or(0)
    }

    fn slot_for(&mut self, name: &str) -> usize {
        if let Some(slot) = self.by_name.get(name) {
            return *slot;
        }
        let info = NodeInfo {
            name: name.to_string(),
            ..Default::default()
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = info;
                slot
            }
            None => {
                self.slots.push(info);
                self.slots.len() - 1
            }
        };
        self.by_name.insert(name.to_string(), slot);
        for index in self.indexes.values_mut() {
            if index.matching.len() <= slot {
                index.matching.resize(slot + 1, 0);
                index.terminating.resize(slot + 1, 0);
            } else {
                index.matching[slot] = 0;
                index.terminating[slot] = 0;
            }
        }
        slot
    }

    fn release_if_empty(&mut self, slot: usize) {
        let info = &self.slots[slot];
        if info.node.is_none() && info.pods.is_empty() {
            self.by_name.remove(&info.name);
            self.slots[slot] = NodeInfo::default();
            self.free.push(slot);
        }
    }

    fn count_images(&mut self, node: &NodeObject, sign: isize) {
        for (image, _) in &node.images {
            let count = self.image_nodes.entry(image.clone()).or_default();
            *count = count.saturating_add_signed(sign);
            if *count == 0 {
                self.image_nodes.remove(image);
            }
        }
    }

    /// Adds or replaces a Node object.
    pub fn upsert_node(&mut self, node: NodeObject) -> NodeChange {
        let slot = self.slot_for(&node.name);
        let old = self.slots[slot].node.take();
        let change = match &old {
            None => NodeChange::Added,
            Some(old) if old.scheduling_changed(&node) => NodeChange::Updated,
            Some(_) => NodeChange::Unchanged,
        };
        if let Some(old) = &old {
            self.count_images(old, -1);
        } else {
            self.node_order.push(slot);
        }
        self.count_images(&node, 1);
        self.slots[slot].node = Some(Arc::new(node));
        change
    }

    pub fn remove_node(&mut self, name: &str) {
        let Some(slot) = self.slot_of(name) else {
            return;
        };
        if let Some(old) = self.slots[slot].node.take() {
            self.count_images(&old, -1);
            self.node_order.retain(|s| *s != slot);
        }
        self.release_if_empty(slot);
    }

    /// Names of every node with a Node object.
    pub fn node_names(&self) -> Vec<String> {
        self.node_order
            .iter()
            .map(|s| self.slots[*s].name.clone())
            .collect()
    }

    /// Adds a pod on its node (`pod.node_name`), replacing an earlier version of it.
    /// `assumed`: placed by this scheduler, binding not yet seen through the watch.
    pub fn add_pod(&mut self, pod: PodRef, assumed: bool) {
        let Some(node) = pod.node_name.clone() else {
            return;
        };
        self.remove_pod(&pod.uid);
        let slot = self.slot_for(&node);
        self.slots[slot].account(&pod, 1);
        self.index_pod(&pod, slot, 1);
        if !pod.affinity.is_empty() {
            self.with_affinity
                .insert(pod.uid.clone(), (slot, pod.clone()));
            if !pod.affinity.required_anti.is_empty() {
                self.with_required_anti
                    .insert(pod.uid.clone(), (slot, pod.clone()));
            }
        }
        self.unnominate(&pod.uid);
        self.pods
            .insert(pod.uid.clone(), PodEntry { slot, pod, assumed });
    }

    pub fn remove_pod(&mut self, uid: &str) -> Option<PodRef> {
        let entry = self.pods.remove(uid)?;
        self.slots[entry.slot].account(&entry.pod, -1);
        self.index_pod(&entry.pod, entry.slot, -1);
        self.with_affinity.remove(uid);
        self.with_required_anti.remove(uid);
        self.release_if_empty(entry.slot);
        Some(entry.pod)
    }

    pub fn is_assumed(&self, uid: &str) -> bool {
        self.pods.get(uid).is_some_and(|e| e.assumed)
    }

    pub fn has_pod(&self, uid: &str) -> bool {
        self.pods.contains_key(uid)
    }

    /// Drops an assumed pod whose binding failed.
    pub fn forget(&mut self, uid: &str) {
        if self.is_assumed(uid) {
            self.remove_pod(uid);
        }
    }

    /// All pods on nodes, by uid.
    pub fn pods(&self) -> impl Iterator<Item = (&PodRef, usize)> {
        self.pods.values().map(|e| (&e.pod, e.slot))
    }

    fn index_pod(&mut self, pod: &PodRef, slot: usize, sign: i32) {
        if self.indexes.is_empty() {
            return;
        }
        let namespaces = &self.namespaces;
        for index in self.indexes.values_mut() {
            if selection_matches(&index.terms, pod, namespaces) {
                if index.matching.len() <= slot {
                    index.matching.resize(slot + 1, 0);
                    index.terminating.resize(slot + 1, 0);
                }
                index.matching[slot] = index.matching[slot].saturating_add_signed(sign);
                if pod.terminating {
                    index.terminating[slot] = index.terminating[slot].saturating_add_signed(sign);
                }
            }
        }
    }

    /// The key of the index counting pods that match all `terms`, built by one scan of
    /// the pods if it does not exist yet.
    pub fn ensure_index(&mut self, terms: &[Selection]) -> String {
        let key = selection_key(terms);
        self.clock += 1;
        if let Some(index) = self.indexes.get_mut(&key) {
            index.last_used = self.clock;
            return key;
        }
        if self.indexes.len() >= MAX_INDEXES
            && let Some(oldest) = self
                .indexes
                .iter()
                .min_by_key(|(_, i)| i.last_used)
                .map(|(k, _)| k.clone())
        {
            self.indexes.remove(&oldest);
        }
        let mut index = MatchIndex {
            terms: terms.to_vec(),
            matching: vec![0; self.slots.len()],
            terminating: vec![0; self.slots.len()],
            last_used: self.clock,
        };
        for entry in self.pods.values() {
            if selection_matches(terms, &entry.pod, &self.namespaces) {
                index.matching[entry.slot] += 1;
                if entry.pod.terminating {
                    index.terminating[entry.slot] += 1;
                }
            }
        }
        self.indexes.insert(key.clone(), index);
        key
    }

    pub fn index(&self, key: &str) -> Option<&MatchIndex> {
        self.indexes.get(key)
    }

    /// Records a namespace's labels; indexes that select namespaces by label start over.
    pub fn set_namespace(&mut self, name: &str, labels: Option<Labels>) -> bool {
        let changed = match &labels {
            Some(l) => self.namespaces.get(name) != Some(l),
            None => self.namespaces.contains_key(name),
        };
        if !changed {
            return false;
        }
        match labels {
            Some(l) => self.namespaces.insert(name.to_string(), l),
            None => self.namespaces.remove(name),
        };
        self.indexes.retain(|_, index| {
            index
                .terms
                .iter()
                .all(|(scope, _)| scope.selector.is_none())
        });
        true
    }

    /// Records that `pod` is nominated to run on `node` (or no longer nominated).
    pub fn nominate(&mut self, pod: &PodRef, node: Option<&str>) {
        self.unnominate(&pod.uid);
        if let Some(node) = node {
            self.nominated
                .entry(node.to_string())
                .or_default()
                .push(pod.clone());
            self.nominated_node
                .insert(pod.uid.clone(), node.to_string());
        }
    }

    pub fn unnominate(&mut self, uid: &str) {
        if let Some(node) = self.nominated_node.remove(uid)
            && let Some(list) = self.nominated.get_mut(&node)
        {
            list.retain(|p| p.uid != uid);
            if list.is_empty() {
                self.nominated.remove(&node);
            }
        }
    }

    /// Pods nominated to run on `node`.
    pub fn nominated_on(&self, node: &str) -> &[PodRef] {
        self.nominated.get(node).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::info::PodInfo;

    fn pod(uid: &str, node: &str, app: &str, cpu: i64) -> PodRef {
        let mut p = PodInfo {
            uid: uid.into(),
            namespace: "default".into(),
            name: uid.into(),
            node_name: Some(node.into()),
            ..Default::default()
        };
        p.labels.insert("app".into(), app.into());
        p.requests.exact.milli_cpu = cpu;
        Arc::new(p)
    }

    fn node(name: &str) -> NodeObject {
        NodeObject {
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn aggregates_follow_pod_events() {
        let mut cache = Cache::default();
        assert_eq!(cache.upsert_node(node("n1")), NodeChange::Added);
        cache.add_pod(pod("a", "n1", "web", 100), true);
        cache.add_pod(pod("b", "n1", "web", 200), false);
        let slot = cache.slot_of("n1").unwrap();
        assert_eq!(cache.slot(slot).requested.milli_cpu, 300);
        // Confirming an assumed pod replaces it rather than counting it twice.
        cache.add_pod(pod("a", "n1", "web", 100), false);
        assert_eq!(cache.slot(slot).requested.milli_cpu, 300);
        cache.remove_pod("b");
        assert_eq!(cache.slot(slot).requested.milli_cpu, 100);
    }

    #[test]
    fn indexes_count_matching_pods_incrementally() {
        let mut cache = Cache::default();
        cache.upsert_node(node("n1"));
        cache.upsert_node(node("n2"));
        cache.add_pod(pod("a", "n1", "web", 0), false);
        let selector = LabelSelector::compile(
            &serde_json::from_value(serde_json::json!({"matchLabels": {"app": "web"}})).unwrap(),
        );
        let scope = NamespaceScope {
            names: ["default".to_string()].into(),
            selector: None,
        };
        let key = cache.ensure_index(&[(scope, selector)]);
        cache.add_pod(pod("b", "n2", "web", 0), false);
        cache.add_pod(pod("c", "n2", "db", 0), false);
        let (n1, n2) = (cache.slot_of("n1").unwrap(), cache.slot_of("n2").unwrap());
        let index = cache.index(&key).unwrap();
        assert_eq!((index.count(n1, true), index.count(n2, true)), (1, 1));
        cache.remove_pod("a");
        assert_eq!(cache.index(&key).unwrap().count(n1, true), 0);
    }

    #[test]
    fn pods_may_arrive_before_their_node() {
        let mut cache = Cache::default();
        cache.add_pod(pod("a", "later", "web", 100), false);
        assert_eq!(cache.num_nodes(), 0);
        assert_eq!(cache.upsert_node(node("later")), NodeChange::Added);
        let slot = cache.slot_of("later").unwrap();
        assert_eq!(cache.slot(slot).requested.milli_cpu, 100);
    }
}
