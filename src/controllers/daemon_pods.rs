//! Which nodes a DaemonSet's pods belong on, and how such a pod is made, as upstream's
//! daemon controller decides: the template's `nodeSelector` and required node affinity must
//! match the node, and every `NoSchedule`/`NoExecute` taint must be tolerated (a pod already
//! running stays while its `NoExecute` taints are tolerated). Daemon pods tolerate the node
//! condition taints automatically and are pinned to their node by a required node affinity on
//! `metadata.name`, which the scheduler honours when it binds them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod,
    PodSpec, Taint, Toleration,
};

/// The tolerations upstream adds to every daemon pod: `(key, effect)`, operator `Exists`.
const DAEMON_TOLERATIONS: &[(&str, &str)] = &[
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
];
/// Added too for pods on the host network.
const NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";

/// Whether a daemon pod should run on a node, and whether one already there may stay.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Placement {
    pub should_run: bool,
    pub should_continue: bool,
}

/// Adds the daemon tolerations the spec lacks.
pub fn add_daemon_tolerations(spec: &mut PodSpec) {
    let host_network = spec.host_network.unwrap_or(false);
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    let extra = DAEMON_TOLERATIONS
        .iter()
        .copied()
        .chain(host_network.then_some((NETWORK_UNAVAILABLE, "NoSchedule")));
    for (key, effect) in extra {
        let present = tolerations.iter().any(|t| {
            t.key.as_deref() == Some(key)
                && t.effect.as_deref() == Some(effect)
                && t.operator.as_deref() == Some("Exists")
        });
        if !present {
            tolerations.push(Toleration {
                key: Some(key.into()),
                operator: Some("Exists".into()),
                effect: Some(effect.into()),
                ..Default::default()
            });
        }
    }
}

/// Replaces the required node affinity with one that selects exactly `node`.
pub fn pin_to_node(spec: &mut PodSpec, node: &str) {
    let term = NodeSelectorTerm {
        match_expressions: None,
        match_fields: Some(vec![NodeSelectorRequirement {
            key: "metadata.name".into(),
            operator: "In".into(),
            values: Some(vec![node.to_string()]),
        }]),
    };
    let affinity = spec.affinity.get_or_insert_with(Affinity::default);
    let node_affinity = affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default);
    node_affinity.required_during_scheduling_ignored_during_execution = Some(NodeSelector {
        node_selector_terms: vec![term],
    });
}

/// The node a daemon pod is for: its `nodeName`, or the node its affinity pins it to.
pub fn target_node(pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    if let Some(node) = spec.node_name.as_ref().filter(|n| !n.is_empty()) {
        return Some(node.clone());
    }
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    terms.iter().find_map(|t| {
        t.match_fields.iter().flatten().find_map(|r| {
            (r.key == "metadata.name" && r.operator == "In")
                .then(|| r.values.as_ref()?.first().cloned())
                .flatten()
        })
    })
}

fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.clone().unwrap_or_default();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (
                value.and_then(|v| v.parse::<i64>().ok()),
                values.first().and_then(|b| b.parse::<i64>().ok()),
            ) else {
                return false;
            };
            if r.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

/// A node selector term: every expression on labels and every field requirement hold; an
/// empty term matches nothing.
fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    let expressions = term.match_expressions.clone().unwrap_or_default();
    let fields = term.match_fields.clone().unwrap_or_default();
    if expressions.is_empty() && fields.is_empty() {
        return false;
    }
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let name = node.metadata.name.clone().unwrap_or_default();
    expressions
        .iter()
        .all(|r| requirement_matches(r, labels.get(&r.key).map(String::as_str)))
        && fields.iter().all(|r| {
            let value = (r.key == "metadata.name").then_some(name.as_str());
            requirement_matches(r, value)
        })
}

/// The template's `nodeSelector` and required node affinity match the node.
pub fn fits_node_affinity(spec: &PodSpec, node: &Node) -> bool {
    let labels: BTreeMap<String, String> = node.metadata.labels.clone().unwrap_or_default();
    let selector_ok = spec
        .node_selector
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let affinity_ok = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .is_none_or(|required| {
            required
                .node_selector_terms
                .iter()
                .any(|t| term_matches(t, node))
        });
    selector_ok && affinity_ok
}

/// Whether `toleration` tolerates `taint`.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = toleration.effect.as_deref().filter(|e| !e.is_empty())
        && effect != taint.effect
    {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or_default();
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => {
            toleration.value.as_deref().unwrap_or_default()
                == taint.value.as_deref().unwrap_or_default()
        }
        _ => false,
    }
}

fn untolerated(spec: &PodSpec, node: &Node, effects: &[&str]) -> bool {
    let tolerations = spec.tolerations.clone().unwrap_or_default();
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .filter(|t| effects.contains(&t.effect.as_str()))
        .any(|taint| !tolerations.iter().any(|t| tolerates(t, taint)))
}

/// Upstream's `NodeShouldRunDaemonPod` for a template spec (with the daemon tolerations
/// already added).
pub fn placement(spec: &PodSpec, node: &Node) -> Placement {
    let name = node.metadata.name.as_deref().unwrap_or_default();
    let no = Placement {
        should_run: false,
        should_continue: false,
    };
    if spec
        .node_name
        .as_deref()
        .is_some_and(|n| !n.is_empty() && n != name)
    {
        return no;
    }
    if !fits_node_affinity(spec, node) {
        return no;
    }
    if untolerated(spec, node, &["NoSchedule", "NoExecute"]) {
        return Placement {
            should_run: false,
            should_continue: !untolerated(spec, node, &["NoExecute"]),
        };
    }
    Placement {
        should_run: true,
        should_continue: true,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn node(name: &str, labels: serde_json::Value, taints: serde_json::Value) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": labels},
            "spec": {"taints": taints},
        }))
        .unwrap()
    }

    fn spec(value: serde_json::Value) -> PodSpec {
        let mut spec: PodSpec = serde_json::from_value(value).unwrap();
        add_daemon_tolerations(&mut spec);
        spec
    }

    #[test]
    fn selectors_and_affinity_choose_nodes() {
        let s = spec(json!({"containers": [], "nodeSelector": {"disk": "ssd"}}));
        assert!(placement(&s, &node("a", json!({"disk": "ssd"}), json!([]))).should_run);
        assert!(!placement(&s, &node("b", json!({}), json!([]))).should_continue);
        let s = spec(json!({"containers": [], "affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["x"]}]},
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["c"]}]},
        ]}}}}));
        assert!(placement(&s, &node("a", json!({"zone": "x"}), json!([]))).should_run);
        assert!(placement(&s, &node("c", json!({}), json!([]))).should_run);
        assert!(!placement(&s, &node("d", json!({"zone": "y"}), json!([]))).should_run);
    }

    #[test]
    fn taints_need_tolerations_but_condition_taints_are_tolerated() {
        let s = spec(json!({"containers": []}));
        let master = node(
            "m",
            json!({}),
            json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]),
        );
        assert_eq!(
            placement(&s, &master),
            Placement {
                should_run: false,
                should_continue: true
            }
        );
        let evicting = node("e", json!({}), json!([{"key": "x", "effect": "NoExecute"}]));
        assert!(!placement(&s, &evicting).should_continue);
        let cordoned = node(
            "u",
            json!({}),
            json!([{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
                   {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}]),
        );
        assert!(placement(&s, &cordoned).should_run);
        let tolerant = spec(json!({"containers": [], "tolerations": [{"operator": "Exists"}]}));
        assert!(placement(&tolerant, &evicting).should_run);
    }

    #[test]
    fn pods_are_pinned_to_their_node() {
        let mut s = spec(json!({"containers": [], "affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["x"]}]}]}}}}));
        pin_to_node(&mut s, "n1");
        let pod = Pod {
            spec: Some(s),
            ..Default::default()
        };
        assert_eq!(target_node(&pod).as_deref(), Some("n1"));
        let n1 = node("n1", json!({}), json!([]));
        assert!(fits_node_affinity(pod.spec.as_ref().unwrap(), &n1));
        let host = spec(json!({"containers": [], "hostNetwork": true}));
        assert_eq!(host.tolerations.unwrap().len(), 7);
    }
}
