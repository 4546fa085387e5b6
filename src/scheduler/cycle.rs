//! One scheduling cycle, as upstream's `schedulePod`: resolve the pod's priority, try its
//! nominated node first, filter the nodes (starting where the last cycle stopped, and
//! stopping once enough feasible nodes are found, like `percentageOfNodesToScore`), score
//! the feasible ones and pick the best; when none fits, try preemption and word the
//! failure as upstream does.

use std::collections::HashMap;
use std::sync::Arc;

use super::affinity::{self, AffinityFilter};
use super::binding::Nomination;
use super::cache::Cache;
use super::filters::{self, Code, Diagnosis, Rejection};
use super::info::{PodInfo, PodRef};
use super::preemption::{self, Attempt, Outcome};
use super::queue::{Rejections, SchedulingQueue};
use super::scores;
use super::spread::{self, SpreadFilter};

/// Upstream's message when the cluster has no nodes.
pub const NO_NODES: &str = "no nodes available to schedule pods";
/// Below this many nodes, every node is looked at.
const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
const MIN_FEASIBLE_NODES_PERCENT: usize = 5;

/// The built-in PriorityClasses, which exist without objects.
const SYSTEM_CLASSES: [(&str, i32); 2] = [
    ("system-node-critical", 2_000_001_000),
    ("system-cluster-critical", 2_000_000_000),
];

/// What to do with a pod after its cycle.
#[derive(Debug)]
pub enum Decision {
    /// Bind it to the node.
    Bind(String),
    /// It stays pending.
    Unschedulable(Unschedulable),
}

#[derive(Debug)]
pub struct Unschedulable {
    pub message: String,
    pub rejections: Rejections,
    pub nomination: Nomination,
    /// Pods to delete so that this one fits on its nominated node.
    pub victims: Vec<PodRef>,
    /// Lower-priority pods nominated to that node, which lose their nomination.
    pub denominated: Vec<PodRef>,
}

/// Upstream's adaptive `percentageOfNodesToScore`: how many feasible nodes to find
/// before scoring.
pub fn feasible_nodes_to_find(all: usize) -> usize {
    if all < MIN_FEASIBLE_NODES_TO_FIND {
        return all;
    }
    let percent = (50usize.saturating_sub(all / 125)).max(MIN_FEASIBLE_NODES_PERCENT);
    (all * percent / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// A pod's priority: `spec.priority`, else its PriorityClass's value, else 0.
pub fn priority(classes: &HashMap<String, (i32, bool)>, pod: &PodInfo) -> i32 {
    if let Some(p) = pod.priority {
        return p;
    }
    let Some(class) = &pod.priority_class_name else {
        return 0;
    };
    classes
        .get(class)
        .map(|(value, _)| *value)
        .or_else(|| {
            SYSTEM_CLASSES
                .iter()
                .find(|(name, _)| name == class)
                .map(|(_, v)| *v)
        })
        .unwrap_or(0)
}

/// The scheduler's state between cycles.
#[derive(Default)]
pub struct Scheduler {
    pub cache: Cache,
    pub queue: SchedulingQueue,
    /// PriorityClasses: value, and whether their preemption policy is Never.
    pub classes: HashMap<String, (i32, bool)>,
    next_start: usize,
}

struct Filters {
    spread: Option<SpreadFilter>,
    affinity: Option<AffinityFilter>,
}

impl Scheduler {
    pub fn priority_of(&self, pod: &PodInfo) -> i32 {
        priority(&self.classes, pod)
    }

    /// Whether the pod may not preempt: its own policy, or its class's.
    fn preemption_never(&self, pod: &PodInfo) -> bool {
        pod.preemption_never
            || pod
                .priority_class_name
                .as_ref()
                .and_then(|c| self.classes.get(c))
                .is_some_and(|(_, never)| pod.priority.is_none() && *never)
    }

    fn check(
        &self,
        pod: &PodInfo,
        priority: i32,
        slot: usize,
        filters: &Filters,
    ) -> Result<(), Rejection> {
        let info = self.cache.slot(slot);
        let Some(node) = &info.node else {
            return Err(Rejection::new(
                Code::Unresolvable,
                filters::REASON_NODE_NAME,
            ));
        };
        filters::node_constraints(pod, node)?;
        filters::ports_and_resources(
            pod,
            priority,
            info,
            node,
            self.cache.nominated_on(&node.name),
            |p| self.priority_of(p),
        )?;
        if let Some(spread) = &filters.spread {
            spread.check(node)?;
        }
        if let Some(affinity) = &filters.affinity {
            affinity.check(node)?;
        }
        Ok(())
    }

    /// Decides where `pod` goes.
    pub fn schedule(&mut self, pod: &PodRef) -> Decision {
        let priority = self.priority_of(pod);
        let all = self.cache.num_nodes();
        if all == 0 {
            return Decision::Unschedulable(Unschedulable {
                message: NO_NODES.into(),
                rejections: Rejections::default(),
                nomination: Nomination::Keep,
                victims: Vec::new(),
                denominated: Vec::new(),
            });
        }
        let filters = Filters {
            spread: SpreadFilter::build(&mut self.cache, pod),
            affinity: AffinityFilter::build(&mut self.cache, pod),
        };
        if let Some(nominated) = &pod.nominated_node
            && let Some(slot) = self.cache.slot_of(nominated)
            && self.check(pod, priority, slot, &filters).is_ok()
        {
            return Decision::Bind(nominated.clone());
        }
        let to_find = feasible_nodes_to_find(all);
        let mut feasible = Vec::with_capacity(to_find.min(all));
        let mut statuses = Vec::new();
        let mut diagnosis = Diagnosis::default();
        let mut by_pods = false;
        let mut processed = 0;
        let order = self.cache.node_order();
        for i in 0..all {
            let slot = order[(self.next_start + i) % all];
            processed += 1;
            match self.check(pod, priority, slot, &filters) {
                Ok(()) => {
                    feasible.push(slot);
                    if feasible.len() >= to_find {
                        break;
                    }
                }
                Err(rejection) => {
                    by_pods |= rejection.reasons.iter().any(|r| {
                        [
                            spread::REASON_SKEW,
                            affinity::REASON_AFFINITY,
                            affinity::REASON_ANTI_AFFINITY,
                            affinity::REASON_EXISTING_ANTI_AFFINITY,
                        ]
                        .contains(&r.as_ref())
                    });
                    diagnosis.add(&rejection);
                    statuses.push((slot, rejection.code));
                }
            }
        }
        self.next_start = (self.next_start + processed) % all;
        if feasible.is_empty() {
            return Decision::Unschedulable(
                self.preempt(pod, priority, all, &statuses, diagnosis, by_pods, &filters),
            );
        }
        let chosen = if feasible.len() == 1 {
            feasible[0]
        } else {
            let scores = scores::score(&mut self.cache, pod, &feasible);
            feasible[scores::select(&scores).unwrap_or(0)]
        };
        Decision::Bind(self.cache.slot(chosen).name.clone())
    }

    #[allow(clippy::too_many_arguments)]
    fn preempt(
        &mut self,
        pod: &PodRef,
        priority: i32,
        all: usize,
        statuses: &[(usize, Code)],
        diagnosis: Diagnosis,
        by_pods: bool,
        filters: &Filters,
    ) -> Unschedulable {
        let mut candidate_pod;
        let attempt_pod: &PodInfo = if self.preemption_never(pod) && !pod.preemption_never {
            candidate_pod = (**pod).clone();
            candidate_pod.preemption_never = true;
            &candidate_pod
        } else {
            pod
        };
        let attempt = Attempt {
            pod: attempt_pod,
            priority,
            statuses,
            spread: filters.spread.as_ref(),
            affinity: filters.affinity.as_ref(),
        };
        let outcome = preemption::preempt(&self.cache, &attempt, &|p| self.priority_of(p));
        let rejections = Rejections { by_pods };
        match outcome {
            Outcome::Preempt(candidate) => {
                let denominated: Vec<PodRef> = self
                    .cache
                    .nominated_on(&candidate.node)
                    .iter()
                    .filter(|p| p.uid != pod.uid && self.priority_of(p) < priority)
                    .cloned()
                    .collect();
                for p in &denominated {
                    self.cache.unnominate(&p.uid);
                }
                self.cache.nominate(pod, Some(&candidate.node));
                Unschedulable {
                    message: filters::fit_error_message(all, &diagnosis, ""),
                    rejections,
                    nomination: Nomination::Set(candidate.node),
                    victims: candidate.victims,
                    denominated,
                }
            }
            Outcome::Refused(post) => {
                let nomination = if post.starts_with("not eligible") {
                    Nomination::Keep
                } else {
                    self.cache.nominate(pod, None);
                    Nomination::Clear
                };
                let post = if post.starts_with("preemption:") {
                    post
                } else {
                    format!("preemption: {post}")
                };
                Unschedulable {
                    message: filters::fit_error_message(all, &diagnosis, &post),
                    rejections,
                    nomination,
                    victims: Vec::new(),
                    denominated: Vec::new(),
                }
            }
        }
    }

    /// Places `pod` on `node` in the cache until the watch shows it bound.
    pub fn assume(&mut self, pod: &PodRef, node: &str) -> PodRef {
        let mut assumed = (**pod).clone();
        assumed.node_name = Some(node.to_string());
        let assumed = Arc::new(assumed);
        self.cache.add_pod(assumed.clone(), true);
        assumed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::info::NodeObject;
    use crate::scheduler::resources::Resources;
    use crate::scheduler::selectors::Labels;

    fn node(name: &str, zone: &str, cpu: i64) -> NodeObject {
        let mut labels = Labels::new();
        labels.insert("kubernetes.io/hostname".into(), name.into());
        labels.insert("topology.kubernetes.io/zone".into(), zone.into());
        NodeObject {
            name: name.into(),
            labels,
            allocatable: Resources {
                milli_cpu: cpu,
                memory: 8 << 30,
                pods: 110,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn pod(uid: &str, value: serde_json::Value) -> PodRef {
        let mut object = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": uid, "namespace": "default", "uid": uid, "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx",
                "resources": {"requests": {"cpu": "500m"}}}]},
        });
        if let Some(spec) = value.as_object() {
            for (k, v) in spec {
                object["spec"][k] = v.clone();
            }
        }
        Arc::new(PodInfo::from_pod(&serde_json::from_value(object).unwrap()))
    }

    fn bind_all(s: &mut Scheduler, pods: &[PodRef]) -> Vec<String> {
        pods.iter()
            .map(|p| match s.schedule(p) {
                Decision::Bind(node) => {
                    s.assume(p, &node);
                    node
                }
                Decision::Unschedulable(u) => u.message,
            })
            .collect()
    }

    #[test]
    fn sampling_follows_upstream_percentages() {
        assert_eq!(feasible_nodes_to_find(50), 50);
        assert_eq!(feasible_nodes_to_find(1000), 420);
        assert_eq!(feasible_nodes_to_find(5000), 500);
        assert_eq!(feasible_nodes_to_find(150), 100);
    }

    #[test]
    fn resources_spread_pods_and_then_run_out() {
        let mut s = Scheduler::default();
        s.cache.upsert_node(node("a", "z1", 1000));
        s.cache.upsert_node(node("b", "z2", 1000));
        let pods: Vec<PodRef> = (0..5)
            .map(|i| pod(&format!("p{i}"), serde_json::json!({})))
            .collect();
        let placed = bind_all(&mut s, &pods);
        assert_eq!(placed.iter().filter(|n| *n == "a").count(), 2);
        assert_eq!(placed.iter().filter(|n| *n == "b").count(), 2);
        assert!(
            placed[4].starts_with("0/2 nodes are available: 2 Insufficient cpu."),
            "{}",
            placed[4]
        );
    }

    #[test]
    fn anti_affinity_keeps_pods_apart() {
        let mut s = Scheduler::default();
        for (n, z) in [("a", "z1"), ("b", "z1"), ("c", "z2")] {
            s.cache.upsert_node(node(n, z, 4000));
        }
        let anti = serde_json::json!({"affinity": {"podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [{
                "labelSelector": {"matchLabels": {"app": "web"}},
                "topologyKey": "topology.kubernetes.io/zone"}]}}});
        let pods: Vec<PodRef> = (0..3)
            .map(|i| pod(&format!("p{i}"), anti.clone()))
            .collect();
        let placed = bind_all(&mut s, &pods);
        let zones: Vec<&str> = placed[..2]
            .iter()
            .map(|n| if n == "c" { "z2" } else { "z1" })
            .collect();
        assert_ne!(zones[0], zones[1]);
        assert!(
            placed[2].contains("3 node(s) didn't match pod anti-affinity rules"),
            "{}",
            placed[2]
        );
    }

    #[test]
    fn spread_honours_max_skew_across_zones() {
        let mut s = Scheduler::default();
        for (n, z) in [("a", "z1"), ("b", "z1"), ("c", "z2")] {
            s.cache.upsert_node(node(n, z, 64000));
        }
        let spread = serde_json::json!({"topologySpreadConstraints": [{
            "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "web"}}}]});
        let pods: Vec<PodRef> = (0..6)
            .map(|i| pod(&format!("p{i}"), spread.clone()))
            .collect();
        let placed = bind_all(&mut s, &pods);
        let z2 = placed.iter().filter(|n| *n == "c").count();
        assert_eq!(z2, 3, "{placed:?}");
    }

    #[test]
    fn required_affinity_follows_the_first_pod() {
        let mut s = Scheduler::default();
        for (n, z) in [("a", "z1"), ("b", "z2")] {
            s.cache.upsert_node(node(n, z, 64000));
        }
        let affinity = serde_json::json!({"affinity": {"podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [{
                "labelSelector": {"matchLabels": {"app": "web"}},
                "topologyKey": "topology.kubernetes.io/zone"}]}}});
        let pods: Vec<PodRef> = (0..4)
            .map(|i| pod(&format!("p{i}"), affinity.clone()))
            .collect();
        let placed = bind_all(&mut s, &pods);
        assert!(placed.iter().all(|n| *n == placed[0]), "{placed:?}");
    }
}
