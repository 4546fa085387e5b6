//! InterPodAffinity: required pod affinity and anti-affinity as a filter (the pod's own
//! terms, and the required anti-affinity of pods already placed), preferred terms as a
//! score (the pod's preferred terms, and the terms of placed pods that select it). Counts
//! are per topology domain (`topologyKey` = value), from the cache's match-count indexes
//! for the incoming pod's terms and from the short list of placed pods with affinity.

use std::collections::HashMap;

use super::cache::{Cache, Selection};
use super::filters::{Code, Rejection};
use super::info::{AffinityTerm, NodeObject, PodInfo};

pub const REASON_AFFINITY: &str = "node(s) didn't match pod affinity rules";
pub const REASON_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
pub const REASON_EXISTING_ANTI_AFFINITY: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";
/// Weight of placed pods' required affinity terms in the score (upstream's default).
const HARD_POD_AFFINITY_WEIGHT: i64 = 1;
const MAX_NODE_SCORE: i64 = 100;

/// Counts by topology key, then value.
type DomainCounts = HashMap<String, HashMap<String, i64>>;

fn add(counts: &mut DomainCounts, key: &str, value: &str, n: i64) {
    *counts
        .entry(key.to_string())
        .or_default()
        .entry(value.to_string())
        .or_default() += n;
}

fn get(counts: &DomainCounts, key: &str, value: &str) -> i64 {
    counts
        .get(key)
        .and_then(|v| v.get(value))
        .copied()
        .unwrap_or(0)
}

fn selection(term: &AffinityTerm) -> Option<Selection> {
    term.selector.clone().map(|s| (term.namespaces.clone(), s))
}

/// Per-slot counts of pods matching all of `terms` (none when a term selects nothing).
fn matching_index(cache: &mut Cache, terms: &[&AffinityTerm]) -> Option<String> {
    let selections: Option<Vec<Selection>> = terms.iter().map(|t| selection(t)).collect();
    selections.map(|s| cache.ensure_index(&s))
}

/// The required inter-pod constraints of one pod, counted once per scheduling cycle.
pub struct AffinityFilter {
    required: Vec<AffinityTerm>,
    required_anti: Vec<AffinityTerm>,
    affinity_counts: DomainCounts,
    anti_counts: DomainCounts,
    existing_anti: DomainCounts,
    matches_own_terms: bool,
}

impl AffinityFilter {
    /// `None` when neither the pod nor any placed pod has a required term that applies.
    pub fn build(cache: &mut Cache, pod: &PodInfo) -> Option<AffinityFilter> {
        if pod.affinity.required.is_empty()
            && pod.affinity.required_anti.is_empty()
            && cache.with_required_anti.is_empty()
        {
            return None;
        }
        let own_labels = cache.namespaces.get(&pod.namespace).cloned();
        let mut existing_anti = DomainCounts::new();
        for (slot, placed) in cache.with_required_anti.values() {
            let Some(node) = &cache.slot(*slot).node else {
                continue;
            };
            for term in &placed.affinity.required_anti {
                if term.matches(pod, own_labels.as_ref())
                    && let Some(value) = node.labels.get(&term.topology_key)
                {
                    add(&mut existing_anti, &term.topology_key, value, 1);
                }
            }
        }
        let mut affinity_counts = DomainCounts::new();
        if !pod.affinity.required.is_empty() {
            let terms: Vec<&AffinityTerm> = pod.affinity.required.iter().collect();
            if let Some(key) = matching_index(cache, &terms) {
                for &slot in cache.node_order() {
                    let count = cache.index(&key).map_or(0, |i| i.count(slot, true));
                    let Some(node) = &cache.slot(slot).node else {
                        continue;
                    };
                    if count == 0 {
                        continue;
                    }
                    for term in &terms {
                        if let Some(value) = node.labels.get(&term.topology_key) {
                            add(&mut affinity_counts, &term.topology_key, value, count);
                        }
                    }
                }
            }
        }
        let mut anti_counts = DomainCounts::new();
        for term in &pod.affinity.required_anti {
            let Some(key) = matching_index(cache, &[term]) else {
                continue;
            };
            for &slot in cache.node_order() {
                let count = cache.index(&key).map_or(0, |i| i.count(slot, true));
                if count == 0 {
                    continue;
                }
                if let Some(node) = &cache.slot(slot).node
                    && let Some(value) = node.labels.get(&term.topology_key)
                {
                    add(&mut anti_counts, &term.topology_key, value, count);
                }
            }
        }
        let matches_own_terms = pod
            .affinity
            .required
            .iter()
            .all(|t| t.matches(pod, own_labels.as_ref()));
        Some(AffinityFilter {
            required: pod.affinity.required.clone(),
            required_anti: pod.affinity.required_anti.clone(),
            affinity_counts,
            anti_counts,
            existing_anti,
            matches_own_terms,
        })
    }

    pub fn check(&self, node: &NodeObject) -> Result<(), Rejection> {
        if !self.required.is_empty() {
            let mut pods_exist = true;
            for term in &self.required {
                let Some(value) = node.labels.get(&term.topology_key) else {
                    return Err(Rejection::new(Code::Unresolvable, REASON_AFFINITY));
                };
                if get(&self.affinity_counts, &term.topology_key, value) <= 0 {
                    pods_exist = false;
                }
            }
            // The first pod of a group whose members attract each other may go anywhere
            // that has the topology.
            let first_of_group = self.affinity_counts.is_empty() && self.matches_own_terms;
            if !pods_exist && !first_of_group {
                return Err(Rejection::new(Code::Unresolvable, REASON_AFFINITY));
            }
        }
        for term in &self.required_anti {
            if let Some(value) = node.labels.get(&term.topology_key)
                && get(&self.anti_counts, &term.topology_key, value) > 0
            {
                return Err(Rejection::new(Code::Unschedulable, REASON_ANTI_AFFINITY));
            }
        }
        for (key, values) in &self.existing_anti {
            if let Some(value) = node.labels.get(key)
                && values.get(value).is_some_and(|n| *n > 0)
            {
                return Err(Rejection::new(
                    Code::Unschedulable,
                    REASON_EXISTING_ANTI_AFFINITY,
                ));
            }
        }
        Ok(())
    }
}

/// Normalized preferred-affinity scores (0–100) for `feasible` slots, or `None` when no
/// preferred or placed term applies.
pub fn score(cache: &mut Cache, pod: &PodInfo, feasible: &[usize]) -> Option<Vec<i64>> {
    let has_own = !pod.affinity.preferred.is_empty() || !pod.affinity.preferred_anti.is_empty();
    if !has_own && cache.with_affinity.is_empty() {
        return None;
    }
    let mut topology = DomainCounts::new();
    let own_terms = pod
        .affinity
        .preferred
        .iter()
        .map(|(w, t)| (i64::from(*w), t))
        .chain(
            pod.affinity
                .preferred_anti
                .iter()
                .map(|(w, t)| (-i64::from(*w), t)),
        );
    for (weight, term) in own_terms.collect::<Vec<_>>() {
        let Some(key) = matching_index(cache, &[term]) else {
            continue;
        };
        for &slot in cache.node_order() {
            let count = cache.index(&key).map_or(0, |i| i.count(slot, true));
            if count == 0 {
                continue;
            }
            if let Some(node) = &cache.slot(slot).node
                && let Some(value) = node.labels.get(&term.topology_key)
            {
                add(&mut topology, &term.topology_key, value, weight * count);
            }
        }
    }
    let own_labels = cache.namespaces.get(&pod.namespace);
    for (slot, placed) in cache.with_affinity.values() {
        let Some(node) = &cache.slot(*slot).node else {
            continue;
        };
        let terms = placed
            .affinity
            .required
            .iter()
            .map(|t| (HARD_POD_AFFINITY_WEIGHT, t))
            .chain(
                placed
                    .affinity
                    .preferred
                    .iter()
                    .map(|(w, t)| (i64::from(*w), t)),
            )
            .chain(
                placed
                    .affinity
                    .preferred_anti
                    .iter()
                    .map(|(w, t)| (-i64::from(*w), t)),
            );
        for (weight, term) in terms {
            if term.matches(pod, own_labels)
                && let Some(value) = node.labels.get(&term.topology_key)
            {
                add(&mut topology, &term.topology_key, value, weight);
            }
        }
    }
    if topology.is_empty() {
        return None;
    }
    let raw: Vec<i64> = feasible
        .iter()
        .map(|slot| {
            let Some(node) = &cache.slot(*slot).node else {
                return 0;
            };
            topology
                .iter()
                .filter_map(|(key, values)| node.labels.get(key).and_then(|v| values.get(v)))
                .sum()
        })
        .collect();
    let min = raw.iter().copied().min().unwrap_or(0);
    let max = raw.iter().copied().max().unwrap_or(0);
    Some(
        raw.iter()
            .map(|s| {
                if max > min {
                    MAX_NODE_SCORE * (s - min) / (max - min)
                } else {
                    0
                }
            })
            .collect(),
    )
}
