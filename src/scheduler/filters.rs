//! The filters that decide whether a pod may run on one node, in upstream's order and with
//! upstream's reasons: NodeUnschedulable, NodeName, TaintToleration, NodeAffinity,
//! NodePorts, NodeResourcesFit (PodTopologySpread and InterPodAffinity follow, in
//! [`super::spread`] and [`super::affinity`]). Also the "0/N nodes are available: …"
//! message that sums up why no node fit.

use std::borrow::Cow;
use std::collections::HashMap;

use super::cache::NodeInfo;
use super::info::{HostPort, NodeObject, PodInfo, PodRef};
use super::resources::Resources;
use super::selectors::{tolerated, untolerated_hard_taint};

pub const REASON_UNSCHEDULABLE: &str = "node(s) were unschedulable";
pub const REASON_NODE_NAME: &str = "node(s) didn't match the requested node name";
pub const REASON_TAINTS: &str = "node(s) had untolerated taint(s)";
pub const REASON_NODE_AFFINITY: &str = "node(s) didn't match Pod's node affinity/selector";
pub const REASON_PORTS: &str = "node(s) didn't have free ports for the requested pod ports";
pub const REASON_TOO_MANY_PODS: &str = "Too many pods";
/// The taint that cordoned nodes carry, which a pod may tolerate.
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// How a node failed a filter: `Unresolvable` when removing pods could not help, so
/// preemption skips the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    Unschedulable,
    Unresolvable,
}

/// Why a node cannot take the pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub code: Code,
    pub reasons: Vec<Cow<'static, str>>,
}

impl Rejection {
    pub fn new(code: Code, reason: impl Into<Cow<'static, str>>) -> Rejection {
        Rejection {
            code,
            reasons: vec![reason.into()],
        }
    }
}

/// NodeUnschedulable: a cordoned node takes only pods that tolerate its taint.
fn unschedulable(pod: &PodInfo, node: &NodeObject) -> Result<(), Rejection> {
    if !node.unschedulable {
        return Ok(());
    }
    let taint = k8s_openapi::api::core::v1::Taint {
        key: TAINT_UNSCHEDULABLE.into(),
        effect: "NoSchedule".into(),
        ..Default::default()
    };
    if tolerated(&pod.tolerations, &taint) {
        Ok(())
    } else {
        Err(Rejection::new(Code::Unresolvable, REASON_UNSCHEDULABLE))
    }
}

/// The filters that look at the node alone (before ports and resources).
pub fn node_constraints(pod: &PodInfo, node: &NodeObject) -> Result<(), Rejection> {
    unschedulable(pod, node)?;
    if pod.node_name.as_ref().is_some_and(|n| *n != node.name) {
        return Err(Rejection::new(Code::Unresolvable, REASON_NODE_NAME));
    }
    if untolerated_hard_taint(&node.taints, &pod.tolerations).is_some() {
        return Err(Rejection::new(Code::Unresolvable, REASON_TAINTS));
    }
    if !pod.node_affinity.matches(&node.name, &node.labels) {
        return Err(Rejection::new(Code::Unresolvable, REASON_NODE_AFFINITY));
    }
    Ok(())
}

/// NodePorts: none of the pod's host ports is taken.
pub fn ports_free(pod: &PodInfo, used: &[HostPort]) -> bool {
    pod.host_ports
        .iter()
        .all(|want| !used.iter().any(|have| want.conflicts(have)))
}

/// NodeResourcesFit: what the pod requests against what is left of `allocatable` after
/// `requested` and `pod_count` pods. Every shortage is a reason.
pub fn fit(
    pod: &Resources,
    requested: &Resources,
    pod_count: usize,
    allocatable: &Resources,
) -> Vec<Cow<'static, str>> {
    let mut reasons = Vec::new();
    if pod_count as i64 + 1 > allocatable.pods {
        reasons.push(Cow::Borrowed(REASON_TOO_MANY_PODS));
    }
    if pod.milli_cpu > 0 && pod.milli_cpu > allocatable.milli_cpu - requested.milli_cpu {
        reasons.push(Cow::Borrowed("Insufficient cpu"));
    }
    if pod.memory > 0 && pod.memory > allocatable.memory - requested.memory {
        reasons.push(Cow::Borrowed("Insufficient memory"));
    }
    if pod.ephemeral_storage > 0
        && pod.ephemeral_storage > allocatable.ephemeral_storage - requested.ephemeral_storage
    {
        reasons.push(Cow::Borrowed("Insufficient ephemeral-storage"));
    }
    for (name, amount) in &pod.scalar {
        if *amount > 0 && *amount > allocatable.scalar(name) - requested.scalar(name) {
            reasons.push(Cow::Owned(format!("Insufficient {name}")));
        }
    }
    reasons
}

/// NodePorts and NodeResourcesFit on a node, counting the pods nominated to it with at
/// least the pod's priority as if they ran there.
pub fn ports_and_resources(
    pod: &PodInfo,
    priority: i32,
    info: &NodeInfo,
    node: &NodeObject,
    nominated: &[PodRef],
    priority_of: impl Fn(&PodInfo) -> i32,
) -> Result<(), Rejection> {
    let nominated: Vec<&PodRef> = nominated
        .iter()
        .filter(|p| p.uid != pod.uid && priority_of(p) >= priority)
        .collect();
    if !pod.host_ports.is_empty() {
        let free = ports_free(pod, &info.ports)
            && nominated.iter().all(|n| ports_free(pod, &n.host_ports));
        if !free {
            return Err(Rejection::new(Code::Unschedulable, REASON_PORTS));
        }
    }
    let reasons = if nominated.is_empty() {
        fit(
            &pod.requests.exact,
            &info.requested,
            info.pods.len(),
            &node.allocatable,
        )
    } else {
        let mut requested = info.requested.clone();
        for n in &nominated {
            requested.add(&n.requests.exact, 1);
        }
        fit(
            &pod.requests.exact,
            &requested,
            info.pods.len() + nominated.len(),
            &node.allocatable,
        )
    };
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(Rejection {
            code: Code::Unschedulable,
            reasons,
        })
    }
}

/// Counts of reasons over the nodes that failed, for the "0/N nodes are available" message.
#[derive(Debug, Default)]
pub struct Diagnosis {
    pub reasons: HashMap<Cow<'static, str>, usize>,
}

impl Diagnosis {
    pub fn add(&mut self, rejection: &Rejection) {
        for reason in &rejection.reasons {
            *self.reasons.entry(reason.clone()).or_default() += 1;
        }
    }
}

/// Upstream's `FitError` message: `0/3 nodes are available: 1 Too many pods, 2 Insufficient
/// cpu. preemption: …` — reasons with their counts, sorted as strings.
pub fn fit_error_message(all_nodes: usize, diagnosis: &Diagnosis, post_filter: &str) -> String {
    let mut message = format!("0/{all_nodes} nodes are available:");
    let mut histogram: Vec<String> = diagnosis
        .reasons
        .iter()
        .map(|(reason, count)| format!("{count} {reason}"))
        .collect();
    histogram.sort();
    if !histogram.is_empty() {
        message.push_str(&format!(" {}.", histogram.join(", ")));
    }
    if !post_filter.is_empty() {
        message.push_str(&format!(" {}.", post_filter.trim_end_matches('.')));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_like_upstream() {
        let mut d = Diagnosis::default();
        for _ in 0..3 {
            d.add(&Rejection::new(Code::Unschedulable, "Insufficient cpu"));
        }
        let inner = {
            let mut p = Diagnosis::default();
            for _ in 0..3 {
                p.add(&Rejection::new(
                    Code::Unresolvable,
                    "No preemption victims found for incoming pod",
                ));
            }
            format!("preemption: {}", fit_error_message(3, &p, ""))
        };
        assert_eq!(
            fit_error_message(3, &d, &inner),
            "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
        );
    }

    #[test]
    fn reasons_sort_as_strings() {
        let mut d = Diagnosis::default();
        d.add(&Rejection::new(Code::Unresolvable, REASON_TAINTS));
        for _ in 0..2 {
            d.add(&Rejection::new(Code::Unresolvable, REASON_NODE_AFFINITY));
        }
        assert_eq!(
            fit_error_message(3, &d, ""),
            "0/3 nodes are available: 1 node(s) had untolerated taint(s), 2 node(s) didn't match Pod's node affinity/selector."
        );
    }

    #[test]
    fn fit_lists_every_shortage() {
        let allocatable = Resources {
            milli_cpu: 1000,
            memory: 1 << 30,
            pods: 110,
            ..Default::default()
        };
        let used = Resources {
            milli_cpu: 900,
            ..Default::default()
        };
        let want = Resources {
            milli_cpu: 200,
            memory: 2 << 30,
            ..Default::default()
        };
        assert_eq!(
            fit(&want, &used, 3, &allocatable),
            ["Insufficient cpu", "Insufficient memory"]
        );
        assert_eq!(
            fit(&Resources::default(), &used, 110, &allocatable),
            [REASON_TOO_MANY_PODS]
        );
    }
}
