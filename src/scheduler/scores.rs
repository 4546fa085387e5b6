//! Scoring the nodes that passed the filters, with upstream's default plugins and weights:
//! TaintToleration (3), NodeAffinity (2), PodTopologySpread (2), InterPodAffinity (2),
//! NodeResourcesFit with LeastAllocated (1), NodeResourcesBalancedAllocation (1),
//! ImageLocality (1). Each plugin scores 0–100 after its normalization; the node with the
//! highest weighted sum wins, ties broken at random.

use k8s_openapi::api::core::v1::Toleration;

use super::cache::{Cache, NodeInfo};
use super::info::{NodeObject, PodInfo};
use super::selectors::tolerated;
use super::{affinity, spread};

pub const MAX_NODE_SCORE: i64 = 100;
const WEIGHT_TAINT_TOLERATION: i64 = 3;
const WEIGHT_NODE_AFFINITY: i64 = 2;
const WEIGHT_TOPOLOGY_SPREAD: i64 = 2;
const WEIGHT_INTER_POD_AFFINITY: i64 = 2;
const WEIGHT_FIT: i64 = 1;
const WEIGHT_BALANCED: i64 = 1;
const WEIGHT_IMAGE_LOCALITY: i64 = 1;

const MB: i64 = 1024 * 1024;
const IMAGE_MIN_THRESHOLD: i64 = 23 * MB;
const IMAGE_MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

/// LeastAllocated over CPU and memory (weight 1 each), with the non-zero requests.
fn least_allocated(pod: &PodInfo, info: &NodeInfo, node: &NodeObject) -> i64 {
    let score = |requested: i64, capacity: i64| {
        if capacity == 0 || requested > capacity {
            0
        } else {
            (capacity - requested) * MAX_NODE_SCORE / capacity
        }
    };
    let cpu = score(
        info.non_zero_milli_cpu + pod.requests.non_zero_milli_cpu,
        node.allocatable.milli_cpu,
    );
    let memory = score(
        info.non_zero_memory + pod.requests.non_zero_memory,
        node.allocatable.memory,
    );
    (cpu + memory) / 2
}

/// BalancedAllocation: 100 × (1 − the standard deviation of the CPU and memory fractions),
/// with the exact requests.
fn balanced_allocation(pod: &PodInfo, info: &NodeInfo, node: &NodeObject) -> i64 {
    let mut fractions = Vec::with_capacity(2);
    for (requested, allocatable) in [
        (
            info.requested.milli_cpu + pod.requests.exact.milli_cpu,
            node.allocatable.milli_cpu,
        ),
        (
            info.requested.memory + pod.requests.exact.memory,
            node.allocatable.memory,
        ),
    ] {
        if allocatable == 0 {
            continue;
        }
        fractions.push((requested as f64 / allocatable as f64).min(1.0));
    }
    let std = if fractions.len() == 2 {
        ((fractions[0] - fractions[1]) / 2.0).abs()
    } else {
        0.0
    };
    ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
}

fn preferred_node_affinity(pod: &PodInfo, node: &NodeObject) -> i64 {
    pod.preferred_node_affinity
        .iter()
        .filter(|(_, term)| term.matches(&node.name, &node.labels))
        .map(|(weight, _)| i64::from(*weight))
        .sum()
}

/// The tolerations that can tolerate a `PreferNoSchedule` taint.
fn prefer_no_schedule_tolerations(pod: &PodInfo) -> Vec<Toleration> {
    pod.tolerations
        .iter()
        .filter(|t| {
            t.effect
                .as_deref()
                .is_none_or(|e| e.is_empty() || e == "PreferNoSchedule")
        })
        .cloned()
        .collect()
}

/// Untolerated `PreferNoSchedule` taints (fewer is better).
fn intolerable_taints(tolerations: &[Toleration], node: &NodeObject) -> i64 {
    node.taints
        .iter()
        .filter(|t| t.effect == "PreferNoSchedule" && !tolerated(tolerations, t))
        .count() as i64
}

/// ImageLocality: the sizes of the pod's images present on the node, scaled by how many
/// nodes hold each, between 23 MB and 1000 MB per container.
fn image_locality(cache: &Cache, pod: &PodInfo, node: &NodeObject) -> i64 {
    if pod.images.is_empty() {
        return 0;
    }
    let total = cache.num_nodes().max(1) as f64;
    let mut sum = 0i64;
    for image in &pod.images {
        if let Ok(i) = node
            .images
            .binary_search_by(|(name, _)| name.as_str().cmp(image))
        {
            let spread = cache.image_nodes(image) as f64 / total;
            sum += (node.images[i].1 as f64 * spread) as i64;
        }
    }
    let max = IMAGE_MAX_CONTAINER_THRESHOLD * pod.images.len() as i64;
    let clamped = sum.clamp(IMAGE_MIN_THRESHOLD, max);
    MAX_NODE_SCORE * (clamped - IMAGE_MIN_THRESHOLD) / (max - IMAGE_MIN_THRESHOLD)
}

/// Upstream's `DefaultNormalizeScore`: scaled so the highest is 100 (reversed: 100 − that).
fn normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.fill(MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores.iter_mut() {
        *s = *s * MAX_NODE_SCORE / max;
        if reverse {
            *s = MAX_NODE_SCORE - *s;
        }
    }
}

/// The weighted total score of each of `feasible` (slots), in the same order.
pub fn score(cache: &mut Cache, pod: &PodInfo, feasible: &[usize]) -> Vec<i64> {
    let spread = spread::score(cache, pod, feasible);
    let affinity = affinity::score(cache, pod, feasible);
    let cache = &*cache;
    let n = feasible.len();
    let mut taints = Vec::with_capacity(n);
    let mut node_affinity = Vec::with_capacity(n);
    let mut totals = Vec::with_capacity(n);
    let balanced = pod.requests.exact.milli_cpu != 0 || pod.requests.exact.memory != 0;
    let tolerations = prefer_no_schedule_tolerations(pod);
    for &slot in feasible {
        let info = cache.slot(slot);
        let Some(node) = &info.node else {
            taints.push(0);
            node_affinity.push(0);
            totals.push(0);
            continue;
        };
        taints.push(intolerable_taints(&tolerations, node));
        node_affinity.push(preferred_node_affinity(pod, node));
        let mut total = WEIGHT_FIT * least_allocated(pod, info, node)
            + WEIGHT_IMAGE_LOCALITY * image_locality(cache, pod, node);
        if balanced {
            total += WEIGHT_BALANCED * balanced_allocation(pod, info, node);
        }
        totals.push(total);
    }
    normalize(&mut taints, true);
    normalize(&mut node_affinity, false);
    for i in 0..n {
        totals[i] += WEIGHT_TAINT_TOLERATION * taints[i] + WEIGHT_NODE_AFFINITY * node_affinity[i];
        if let Some(s) = &spread {
            totals[i] += WEIGHT_TOPOLOGY_SPREAD * s[i];
        }
        if let Some(a) = &affinity {
            totals[i] += WEIGHT_INTER_POD_AFFINITY * a[i];
        }
    }
    totals
}

/// The index of the highest score, a tie broken uniformly at random.
pub fn select(scores: &[i64]) -> Option<usize> {
    let mut best: Option<usize> = None;
    let mut ties = 0u32;
    for (i, s) in scores.iter().enumerate() {
        match best {
            Some(b) if *s < scores[b] => {}
            Some(b) if *s == scores[b] => {
                ties += 1;
                if fastrand::u32(0..=ties) == 0 {
                    best = Some(i);
                }
            }
            _ => {
                best = Some(i);
                ties = 0;
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::resources::Resources;

    fn node(cpu: i64, memory: i64) -> NodeObject {
        NodeObject {
            name: "n".into(),
            allocatable: Resources {
                milli_cpu: cpu,
                memory,
                pods: 110,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn least_allocated_prefers_the_emptier_node() {
        let mut pod = PodInfo::default();
        pod.requests.non_zero_milli_cpu = 1000;
        pod.requests.non_zero_memory = 1 << 30;
        let empty = NodeInfo::default();
        let busy = NodeInfo {
            non_zero_milli_cpu: 2000,
            non_zero_memory: 2 << 30,
            ..Default::default()
        };
        let n = node(4000, 4 << 30);
        assert_eq!(least_allocated(&pod, &empty, &n), 75);
        assert_eq!(least_allocated(&pod, &busy, &n), 25);
    }

    #[test]
    fn balanced_allocation_penalizes_lopsided_use() {
        let mut pod = PodInfo::default();
        pod.requests.exact.milli_cpu = 2000;
        let n = node(4000, 4 << 30);
        // CPU at 50 %, memory at 0 %: std 0.25.
        assert_eq!(balanced_allocation(&pod, &NodeInfo::default(), &n), 75);
    }

    #[test]
    fn normalization_matches_upstream() {
        let mut s = [0, 2, 4];
        normalize(&mut s, false);
        assert_eq!(s, [0, 50, 100]);
        let mut t = [0, 1, 2];
        normalize(&mut t, true);
        assert_eq!(t, [100, 50, 0]);
        let mut z = [0, 0];
        normalize(&mut z, true);
        assert_eq!(z, [100, 100]);
    }

    #[test]
    fn select_picks_the_maximum() {
        assert_eq!(select(&[1, 5, 3]), Some(1));
        assert_eq!(select(&[]), None);
        for _ in 0..20 {
            assert!(matches!(select(&[7, 7, 1]), Some(0 | 1)));
        }
    }
}
