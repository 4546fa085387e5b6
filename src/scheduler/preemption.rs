//! DefaultPreemption: when no node fits a pod, look for a node where deleting pods of
//! lower priority would make room. On each node that failed for a reason removing pods can
//! cure, all lower-priority pods are taken away, the pod is fitted, then as many of them as
//! possible are given back, most important first; the rest are the victims. The node whose
//! victims matter least wins (lowest highest priority, lowest sum of priorities, fewest
//! victims, most recently started). Victims are deleted by the caller and the pod is
//! nominated to the node.
//!
//! Removing pods frees resources and host ports; the inter-pod anti-affinity and spread
//! counts are not recomputed without the victims, so a node refused only for those is not
//! a candidate (upstream updates them too).

use super::affinity::AffinityFilter;
use super::cache::{Cache, NodeInfo};
use super::filters::{self, Code, Diagnosis, Rejection};
use super::info::{HostPort, NodeObject, PodInfo, PodRef};
use super::resources::Resources;
use super::spread::SpreadFilter;

pub const REASON_NO_VICTIMS: &str = "No preemption victims found for incoming pod";
pub const REASON_NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
/// Candidates looked at: 10 % of the nodes, at least 100.
const MIN_CANDIDATES_PERCENT: usize = 10;
const MIN_CANDIDATES: usize = 100;

/// A node and the pods to delete there.
#[derive(Debug)]
pub struct Candidate {
    pub node: String,
    pub victims: Vec<PodRef>,
}

/// What preemption decided.
#[derive(Debug)]
pub enum Outcome {
    /// Delete the victims and nominate the pod to the node.
    Preempt(Candidate),
    /// No preemption; the message goes after the filter reasons (`preemption: …`).
    Refused(String),
}

/// What a scheduling cycle knows when it tries preemption.
pub struct Attempt<'a> {
    pub pod: &'a PodInfo,
    pub priority: i32,
    /// Each node looked at, with how it failed.
    pub statuses: &'a [(usize, Code)],
    pub spread: Option<&'a SpreadFilter>,
    pub affinity: Option<&'a AffinityFilter>,
}

/// Whether `a` is more important than `b`: higher priority, then started earlier.
fn more_important(a: &PodInfo, b: &PodInfo, priority_of: &dyn Fn(&PodInfo) -> i32) -> bool {
    let (pa, pb) = (priority_of(a), priority_of(b));
    pa > pb || (pa == pb && a.start_time < b.start_time)
}

struct NodeState<'a> {
    requested: Resources,
    count: usize,
    ports: Vec<HostPort>,
    node: &'a NodeObject,
}

impl NodeState<'_> {
    fn change(&mut self, pod: &PodInfo, sign: i64) {
        self.requested.add(&pod.requests.exact, sign);
        if sign > 0 {
            self.count += 1;
            self.ports.extend(pod.host_ports.iter().cloned());
        } else {
            self.count -= 1;
            for port in &pod.host_ports {
                if let Some(i) = self.ports.iter().position(|p| p == port) {
                    self.ports.swap_remove(i);
                }
            }
        }
    }

    fn fits(&self, pod: &PodInfo) -> Result<(), Rejection> {
        if !filters::ports_free(pod, &self.ports) {
            return Err(Rejection::new(Code::Unschedulable, filters::REASON_PORTS));
        }
        let reasons = filters::fit(
            &pod.requests.exact,
            &self.requested,
            self.count,
            &self.node.allocatable,
        );
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(Rejection {
                code: Code::Unschedulable,
                reasons,
            })
        }
    }
}

/// The fewest victims on one node that make room for the pod, most important first.
fn select_victims(
    attempt: &Attempt<'_>,
    info: &NodeInfo,
    node: &NodeObject,
    nominated: &[PodRef],
    priority_of: &dyn Fn(&PodInfo) -> i32,
) -> Result<Vec<PodRef>, Rejection> {
    let mut state = NodeState {
        requested: info.requested.clone(),
        count: info.pods.len(),
        ports: info.ports.clone(),
        node,
    };
    for n in nominated {
        if n.uid != attempt.pod.uid && priority_of(n) >= attempt.priority {
            state.change(n, 1);
        }
    }
    let mut lower: Vec<PodRef> = info
        .pods
        .iter()
        .filter(|p| priority_of(p) < attempt.priority)
        .cloned()
        .collect();
    if lower.is_empty() {
        return Err(Rejection::new(Code::Unresolvable, REASON_NO_VICTIMS));
    }
    for p in &lower {
        state.change(p, -1);
    }
    state.fits(attempt.pod)?;
    if let Some(spread) = attempt.spread {
        spread.check(node)?;
    }
    if let Some(affinity) = attempt.affinity {
        affinity.check(node)?;
    }
    lower.sort_by(|a, b| {
        if more_important(a, b, priority_of) {
            std::cmp::Ordering::Less
        } else if more_important(b, a, priority_of) {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    });
    let mut victims = Vec::new();
    for p in lower {
        state.change(&p, 1);
        if state.fits(attempt.pod).is_err() {
            state.change(&p, -1);
            victims.push(p);
        }
    }
    Ok(victims)
}

/// Upstream's `pickOneNodeForPreemption` without disruption budgets.
fn pick(candidates: Vec<Candidate>, priority_of: &dyn Fn(&PodInfo) -> i32) -> Option<Candidate> {
    let keys = |c: &Candidate| {
        let highest = c
            .victims
            .first()
            .map_or(i64::MIN, |v| i64::from(priority_of(v)));
        let sum: i64 = c
            .victims
            .iter()
            .map(|v| i64::from(priority_of(v)) + i64::from(i32::MAX) + 1)
            .sum();
        // The earliest start among the highest-priority victims; later is better.
        let earliest = c
            .victims
            .iter()
            .filter(|v| i64::from(priority_of(v)) == highest)
            .map(|v| v.start_time)
            .min()
            .unwrap_or(i64::MIN);
        (highest, sum, c.victims.len(), std::cmp::Reverse(earliest))
    };
    let mut best: Option<(Candidate, _)> = None;
    for c in candidates {
        let k = keys(&c);
        if best.as_ref().is_none_or(|(_, bk)| k < *bk) {
            best = Some((c, k));
        }
    }
    best.map(|(c, _)| c)
}

/// Tries preemption for a pod no node fits.
pub fn preempt(
    cache: &Cache,
    attempt: &Attempt<'_>,
    priority_of: &dyn Fn(&PodInfo) -> i32,
) -> Outcome {
    let pod = attempt.pod;
    if pod.preemption_never {
        return Outcome::Refused("not eligible due to preemptionPolicy=Never.".into());
    }
    if let Some(nominated) = &pod.nominated_node
        && let Some(slot) = cache.slot_of(nominated)
    {
        let unresolvable = attempt
            .statuses
            .iter()
            .any(|(s, code)| *s == slot && *code == Code::Unresolvable);
        let terminating = cache
            .slot(slot)
            .pods
            .iter()
            .any(|p| p.terminating && priority_of(p) < attempt.priority);
        if !unresolvable && terminating {
            return Outcome::Refused(
                "not eligible due to a terminating pod on the nominated node.".into(),
            );
        }
    }
    let potential: Vec<usize> = attempt
        .statuses
        .iter()
        .filter(|(_, code)| *code == Code::Unschedulable)
        .map(|(slot, _)| *slot)
        .collect();
    let mut diagnosis = Diagnosis::default();
    let mut candidates = Vec::new();
    let wanted = (potential.len() * MIN_CANDIDATES_PERCENT / 100)
        .max(MIN_CANDIDATES)
        .min(potential.len());
    let offset = if potential.is_empty() {
        0
    } else {
        fastrand::usize(0..potential.len())
    };
    let mut evaluated = 0;
    for i in 0..potential.len() {
        if candidates.len() >= wanted {
            break;
        }
        let slot = potential[(offset + i) % potential.len()];
        let info = cache.slot(slot);
        let Some(node) = &info.node else { continue };
        evaluated += 1;
        match select_victims(
            attempt,
            info,
            node,
            cache.nominated_on(&info.name),
            priority_of,
        ) {
            Ok(victims) if !victims.is_empty() => candidates.push(Candidate {
                node: info.name.clone(),
                victims,
            }),
            Ok(_) => {}
            Err(rejection) => diagnosis.add(&rejection),
        }
    }
    if let Some(best) = pick(candidates, priority_of) {
        return Outcome::Preempt(best);
    }
    let all = cache.num_nodes();
    let not_helpful = all.saturating_sub(evaluated);
    if not_helpful > 0 {
        diagnosis
            .reasons
            .insert(REASON_NOT_HELPFUL.into(), not_helpful);
    }
    Outcome::Refused(format!(
        "preemption: {}",
        filters::fit_error_message(all, &diagnosis, "")
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn pod(uid: &str, node: &str, priority: i32, cpu: i64) -> PodRef {
        let mut p = PodInfo {
            uid: uid.into(),
            name: uid.into(),
            namespace: "default".into(),
            node_name: Some(node.into()),
            priority: Some(priority),
            ..Default::default()
        };
        p.requests.exact.milli_cpu = cpu;
        Arc::new(p)
    }

    fn cache_with(pods: &[PodRef]) -> Cache {
        let mut cache = Cache::default();
        cache.upsert_node(NodeObject {
            name: "n1".into(),
            allocatable: Resources {
                milli_cpu: 1000,
                memory: 1 << 30,
                pods: 110,
                ..Default::default()
            },
            ..Default::default()
        });
        for p in pods {
            cache.add_pod(p.clone(), false);
        }
        cache
    }

    fn priority_of(p: &PodInfo) -> i32 {
        p.priority.unwrap_or(0)
    }

    #[test]
    fn evicts_the_fewest_lower_priority_pods() {
        let cache = cache_with(&[
            pod("low-a", "n1", 0, 400),
            pod("low-b", "n1", 0, 400),
            pod("high", "n1", 1000, 200),
        ]);
        let incoming = pod("new", "", 500, 400);
        let slot = cache.slot_of("n1").unwrap();
        let attempt = Attempt {
            pod: &incoming,
            priority: 500,
            statuses: &[(slot, Code::Unschedulable)],
            spread: None,
            affinity: None,
        };
        match preempt(&cache, &attempt, &priority_of) {
            Outcome::Preempt(c) => {
                assert_eq!(c.node, "n1");
                assert_eq!(c.victims.len(), 1);
            }
            other => panic!("expected preemption, got {other:?}"),
        }
    }

    #[test]
    fn says_when_nothing_can_be_preempted() {
        let cache = cache_with(&[pod("high", "n1", 1000, 900)]);
        let incoming = pod("new", "", 0, 400);
        let slot = cache.slot_of("n1").unwrap();
        let attempt = Attempt {
            pod: &incoming,
            priority: 0,
            statuses: &[(slot, Code::Unschedulable)],
            spread: None,
            affinity: None,
        };
        match preempt(&cache, &attempt, &priority_of) {
            Outcome::Refused(message) => assert_eq!(
                message,
                "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
            ),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}
