//! PodTopologySpread: `DoNotSchedule` constraints as a filter (a node is refused when
//! placing the pod there would make its domain exceed the global minimum by more than
//! `maxSkew`; `minDomains` counts missing domains as empty), `ScheduleAnyway` constraints as
//! a score (fewer matching pods in the node's domain scores higher). Domains are counted
//! over the nodes that the constraint's node inclusion policies admit (`nodeAffinityPolicy`
//! Honor and `nodeTaintsPolicy` Ignore by default), from the cache's match-count indexes.

use std::collections::HashMap;

use super::cache::Cache;
use super::filters::{Code, Rejection};
use super::info::{NamespaceScope, NodeObject, PodInfo, SpreadConstraint};
use super::selectors::untolerated_hard_taint;

pub const REASON_SKEW: &str = "node(s) didn't match pod topology spread constraints";
pub const REASON_MISSING_LABEL: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";
const HOSTNAME: &str = "kubernetes.io/hostname";
const MAX_NODE_SCORE: i64 = 100;

fn index_key(cache: &mut Cache, pod: &PodInfo, c: &SpreadConstraint) -> Option<String> {
    let selector = c.selector.clone()?;
    let scope = NamespaceScope {
        names: [pod.namespace.clone()].into(),
        selector: None,
    };
    Some(cache.ensure_index(&[(scope, selector)]))
}

fn admits(c: &SpreadConstraint, pod: &PodInfo, node: &NodeObject) -> bool {
    (!c.honor_node_affinity || pod.node_affinity.matches(&node.name, &node.labels))
        && (!c.honor_taints || untolerated_hard_taint(&node.taints, &pod.tolerations).is_none())
}

fn has_keys(node: &NodeObject, constraints: &[&SpreadConstraint]) -> bool {
    constraints
        .iter()
        .all(|c| node.labels.contains_key(&c.topology_key))
}

struct HardConstraint {
    key: String,
    max_skew: i64,
    min_domains: Option<i32>,
    self_match: i64,
    counts: HashMap<String, i64>,
    min: i64,
}

/// The `DoNotSchedule` constraints of one pod, counted once per scheduling cycle.
pub struct SpreadFilter {
    constraints: Vec<HardConstraint>,
}

impl SpreadFilter {
    /// `None` when the pod has no `DoNotSchedule` constraint.
    pub fn build(cache: &mut Cache, pod: &PodInfo) -> Option<SpreadFilter> {
        let hard: Vec<&SpreadConstraint> = pod.spread.iter().filter(|c| c.hard).collect();
        if hard.is_empty() {
            return None;
        }
        let keys: Vec<Option<String>> = hard.iter().map(|c| index_key(cache, pod, c)).collect();
        let mut constraints: Vec<HardConstraint> = hard
            .iter()
            .map(|c| HardConstraint {
                key: c.topology_key.clone(),
                max_skew: i64::from(c.max_skew),
                min_domains: c.min_domains,
                self_match: i64::from(c.selector.as_ref().is_some_and(|s| s.matches(&pod.labels))),
                counts: HashMap::new(),
                min: 0,
            })
            .collect();
        for &slot in cache.node_order() {
            let info = cache.slot(slot);
            let Some(node) = &info.node else { continue };
            if !has_keys(node, &hard) {
                continue;
            }
            for (i, c) in hard.iter().enumerate() {
                if !admits(c, pod, node) {
                    continue;
                }
                let count = keys[i]
                    .as_ref()
                    .and_then(|k| cache.index(k))
                    .map_or(0, |index| index.count(slot, false));
                *constraints[i]
                    .counts
                    .entry(node.labels[&c.topology_key].clone())
                    .or_default() += count;
            }
        }
        for c in &mut constraints {
            c.min = c.counts.values().copied().min().unwrap_or(0);
            if c.min_domains.is_some_and(|m| c.counts.len() < m as usize) {
                c.min = 0;
            }
        }
        Some(SpreadFilter { constraints })
    }

    pub fn check(&self, node: &NodeObject) -> Result<(), Rejection> {
        for c in &self.constraints {
            let Some(value) = node.labels.get(&c.key) else {
                return Err(Rejection::new(Code::Unresolvable, REASON_MISSING_LABEL));
            };
            let matching = c.counts.get(value).copied().unwrap_or(0);
            if matching + c.self_match - c.min > c.max_skew {
                return Err(Rejection::new(Code::Unschedulable, REASON_SKEW));
            }
        }
        Ok(())
    }
}

/// Normalized `ScheduleAnyway` scores (0–100) for `feasible` slots, or `None` when the pod
/// has no such constraint.
pub fn score(cache: &mut Cache, pod: &PodInfo, feasible: &[usize]) -> Option<Vec<i64>> {
    let soft: Vec<&SpreadConstraint> = pod.spread.iter().filter(|c| !c.hard).collect();
    if soft.is_empty() {
        return None;
    }
    let keys: Vec<Option<String>> = soft.iter().map(|c| index_key(cache, pod, c)).collect();
    let count_on = |cache: &Cache, i: usize, slot: usize| -> i64 {
        keys[i]
            .as_ref()
            .and_then(|k| cache.index(k))
            .map_or(0, |index| index.count(slot, false))
    };
    // Domains among the feasible nodes that carry every key.
    let ignored: Vec<bool> = feasible
        .iter()
        .map(|slot| {
            cache
                .slot(*slot)
                .node
                .as_ref()
                .is_none_or(|n| !has_keys(n, &soft))
        })
        .collect();
    let considered = ignored.iter().filter(|i| !**i).count();
    let mut pair_counts: Vec<HashMap<String, i64>> = vec![HashMap::new(); soft.len()];
    let mut weights = Vec::with_capacity(soft.len());
    for (i, c) in soft.iter().enumerate() {
        let size = if c.topology_key == HOSTNAME {
            considered
        } else {
            for (slot, skip) in feasible.iter().zip(&ignored) {
                if let (false, Some(node)) = (*skip, &cache.slot(*slot).node) {
                    pair_counts[i].insert(node.labels[&c.topology_key].clone(), 0);
                }
            }
            pair_counts[i].len()
        };
        weights.push(((size + 2) as f64).ln());
    }
    // Matching pods per tracked domain, over every node the policies admit.
    for &slot in cache.node_order() {
        let Some(node) = &cache.slot(slot).node else {
            continue;
        };
        if !has_keys(node, &soft) {
            continue;
        }
        for (i, c) in soft.iter().enumerate() {
            if c.topology_key == HOSTNAME || !admits(c, pod, node) {
                continue;
            }
            if let Some(total) = pair_counts[i].get_mut(&node.labels[&c.topology_key]) {
                *total += count_on(cache, i, slot);
            }
        }
    }
    let raw: Vec<i64> = feasible
        .iter()
        .zip(&ignored)
        .map(|(slot, skip)| {
            if *skip {
                return 0;
            }
            let Some(node) = &cache.slot(*slot).node else {
                return 0;
            };
            let mut total = 0.0;
            for (i, c) in soft.iter().enumerate() {
                let count = if c.topology_key == HOSTNAME {
                    count_on(cache, i, *slot)
                } else {
                    pair_counts[i]
                        .get(&node.labels[&c.topology_key])
                        .copied()
                        .unwrap_or(0)
                };
                total += count as f64 * weights[i] + f64::from(c.max_skew - 1);
            }
            total.round() as i64
        })
        .collect();
    let (mut min, mut max) = (i64::MAX, 0);
    for (score, skip) in raw.iter().zip(&ignored) {
        if !*skip {
            min = min.min(*score);
            max = max.max(*score);
        }
    }
    Some(
        raw.iter()
            .zip(&ignored)
            .map(|(score, skip)| {
                if *skip {
                    0
                } else if max == 0 {
                    MAX_NODE_SCORE
                } else {
                    MAX_NODE_SCORE * (max + min - score) / max
                }
            })
            .collect(),
    )
}
