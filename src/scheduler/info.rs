//! What the scheduler keeps of a Pod and of a Node: the fields its filters and scores read,
//! parsed once when the watch delivers the object (requests as numbers, selectors compiled,
//! image names normalized), so that a scheduling cycle does no parsing.

use std::collections::BTreeSet;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod, PodAffinityTerm, Taint, Toleration};

use super::resources::{PodRequests, Resources, pod_requests};
use super::selectors::{LabelSelector, Labels, NodeTerm, RequiredNodeAffinity};

/// The scheduler name pods get by default, and the one this scheduler serves.
pub const DEFAULT_SCHEDULER: &str = "default-scheduler";

/// A host port a pod's container takes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub ip: String,
    pub protocol: String,
    pub port: i32,
}

impl HostPort {
    /// Whether two pods taking these ports could not share a node.
    pub fn conflicts(&self, other: &HostPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip || self.ip == "0.0.0.0" || other.ip == "0.0.0.0")
    }
}

/// Which namespaces an inter-pod affinity term looks in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct NamespaceScope {
    pub names: BTreeSet<String>,
    pub selector: Option<LabelSelector>,
}

impl NamespaceScope {
    pub fn contains(&self, namespace: &str, namespace_labels: Option<&Labels>) -> bool {
        self.names.contains(namespace)
            || self.selector.as_ref().is_some_and(|s| {
                namespace_labels.is_some_and(|l| s.matches(l)) || s.is_everything()
            })
    }

    fn canonical(&self) -> String {
        let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        format!(
            "[{}]{}",
            names.join(","),
            self.selector
                .as_ref()
                .map(|s| format!("ns:{}", s.canonical()))
                .unwrap_or_default()
        )
    }
}

/// A pod (anti-)affinity term: pods in `namespaces` matching `selector`, in the same
/// `topology_key` domain. A term without a label selector matches no pod.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AffinityTerm {
    pub selector: Option<LabelSelector>,
    pub namespaces: NamespaceScope,
    pub topology_key: String,
}

impl AffinityTerm {
    fn compile(term: &PodAffinityTerm, namespace: &str, labels: &Labels) -> AffinityTerm {
        let mut selector = term.label_selector.as_ref().map(LabelSelector::compile);
        if let Some(selector) = &mut selector {
            for key in term.match_label_keys.iter().flatten() {
                if let Some(value) = labels.get(key) {
                    selector.require(key, value, false);
                }
            }
            for key in term.mismatch_label_keys.iter().flatten() {
                if let Some(value) = labels.get(key) {
                    selector.require(key, value, true);
                }
            }
        }
        let mut names: BTreeSet<String> = term.namespaces.iter().flatten().cloned().collect();
        let ns_selector = term.namespace_selector.as_ref().map(LabelSelector::compile);
        if names.is_empty() && ns_selector.is_none() {
            names.insert(namespace.to_string());
        }
        AffinityTerm {
            selector,
            namespaces: NamespaceScope {
                names,
                selector: ns_selector,
            },
            topology_key: term.topology_key.clone(),
        }
    }

    /// Whether `pod` is one of the pods this term selects.
    pub fn matches(&self, pod: &PodInfo, namespace_labels: Option<&Labels>) -> bool {
        self.selector
            .as_ref()
            .is_some_and(|s| s.matches(&pod.labels))
            && self.namespaces.contains(&pod.namespace, namespace_labels)
    }

    /// A stable spelling of what the term selects (not its topology), for indexes.
    pub fn selection_key(&self) -> String {
        match &self.selector {
            Some(s) => format!("{}{}", self.namespaces.canonical(), s.canonical()),
            None => "#nothing".into(),
        }
    }
}

/// A pod's inter-pod affinity and anti-affinity.
#[derive(Clone, Debug, Default)]
pub struct PodAffinity {
    pub required: Vec<AffinityTerm>,
    pub required_anti: Vec<AffinityTerm>,
    pub preferred: Vec<(i32, AffinityTerm)>,
    pub preferred_anti: Vec<(i32, AffinityTerm)>,
}

impl PodAffinity {
    pub fn is_empty(&self) -> bool {
        self.required.is_empty()
            && self.required_anti.is_empty()
            && self.preferred.is_empty()
            && self.preferred_anti.is_empty()
    }
}

/// A topology spread constraint, with upstream's defaults for its policies.
#[derive(Clone, Debug)]
pub struct SpreadConstraint {
    pub max_skew: i32,
    pub topology_key: String,
    /// `whenUnsatisfiable: DoNotSchedule` (a filter) rather than `ScheduleAnyway` (a score).
    pub hard: bool,
    pub selector: Option<LabelSelector>,
    pub min_domains: Option<i32>,
    /// `nodeAffinityPolicy: Honor` (the default).
    pub honor_node_affinity: bool,
    /// `nodeTaintsPolicy: Honor` (the default is Ignore).
    pub honor_taints: bool,
}

/// The scheduler's view of a pod.
#[derive(Clone, Debug, Default)]
pub struct PodInfo {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub resource_version: String,
    pub labels: Labels,
    pub node_name: Option<String>,
    pub scheduler_name: String,
    /// `spec.priority` as admission set it; `None` until a PriorityClass is resolved.
    pub priority: Option<i32>,
    pub priority_class_name: Option<String>,
    pub preemption_never: bool,
    pub requests: PodRequests,
    pub host_ports: Vec<HostPort>,
    pub node_affinity: RequiredNodeAffinity,
    pub preferred_node_affinity: Vec<(i32, NodeTerm)>,
    pub tolerations: Vec<Toleration>,
    pub affinity: PodAffinity,
    pub spread: Vec<SpreadConstraint>,
    /// Normalized image names of init and regular containers.
    pub images: Vec<String>,
    pub terminating: bool,
    pub gated: bool,
    pub nominated_node: Option<String>,
    /// When the pod started (seconds), for picking preemption victims.
    pub start_time: i64,
    /// The pod's `PodScheduled` condition as stored: status, reason, message.
    pub scheduled_condition: Option<(String, String, String)>,
    /// A hash of what scheduling reads (spec and labels); status changes leave it alone.
    pub signature: u64,
}

/// Upstream's image name normalization: a name without tag or digest means `:latest`.
pub fn normalized_image(image: &str) -> String {
    let last_colon = image.rfind(':');
    let last_slash = image.rfind('/');
    let tagged = match (last_colon, last_slash) {
        (Some(c), Some(s)) => c > s,
        (Some(_), None) => true,
        _ => false,
    };
    if tagged || image.contains('@') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

fn spread_constraints(pod: &Pod, labels: &Labels) -> Vec<SpreadConstraint> {
    let Some(spec) = &pod.spec else {
        return Vec::new();
    };
    spec.topology_spread_constraints
        .iter()
        .flatten()
        .map(|c| {
            let mut selector = c.label_selector.as_ref().map(LabelSelector::compile);
            if let Some(selector) = &mut selector {
                for key in c.match_label_keys.iter().flatten() {
                    if let Some(value) = labels.get(key) {
                        selector.require(key, value, false);
                    }
                }
            }
            SpreadConstraint {
                max_skew: c.max_skew,
                topology_key: c.topology_key.clone(),
                hard: c.when_unsatisfiable == "DoNotSchedule",
                selector,
                min_domains: c.min_domains,
                honor_node_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
                honor_taints: c.node_taints_policy.as_deref() == Some("Honor"),
            }
        })
        .collect()
}

fn signature(pod: &Pod) -> u64 {
    let mut hasher = DefaultHasher::new();
    serde_json::to_string(&pod.spec)
        .unwrap_or_default()
        .hash(&mut hasher);
    pod.metadata.labels.hash(&mut hasher);
    hasher.finish()
}

impl PodInfo {
    pub fn from_pod(pod: &Pod) -> PodInfo {
        let meta = &pod.metadata;
        let namespace = meta.namespace.clone().unwrap_or_default();
        let labels: Labels = meta.labels.clone().unwrap_or_default();
        let default_spec = Default::default();
        let spec = pod.spec.as_ref().unwrap_or(&default_spec);
        let mut host_ports = Vec::new();
        let sidecars = spec
            .init_containers
            .iter()
            .flatten()
            .filter(|c| c.restart_policy.as_deref() == Some("Always"));
        for container in spec.containers.iter().chain(sidecars) {
            for port in container.ports.iter().flatten() {
                if let Some(host_port) = port.host_port.filter(|p| *p > 0) {
                    host_ports.push(HostPort {
                        ip: port
                            .host_ip
                            .clone()
                            .filter(|ip| !ip.is_empty())
                            .unwrap_or_else(|| "0.0.0.0".into()),
                        protocol: port.protocol.clone().unwrap_or_else(|| "TCP".into()),
                        port: host_port,
                    });
                }
            }
        }
        let node_affinity = spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref());
        let required_terms = node_affinity
            .and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .map(|s| {
                s.node_selector_terms
                    .iter()
                    .map(NodeTerm::compile)
                    .collect()
            });
        let preferred_node_affinity = node_affinity
            .and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .into_iter()
            .flatten()
            .filter(|p| p.weight != 0)
            .map(|p| (p.weight, NodeTerm::compile(&p.preference)))
            .collect();
        let compile = |terms: Option<&Vec<PodAffinityTerm>>| -> Vec<AffinityTerm> {
            terms
                .into_iter()
                .flatten()
                .map(|t| AffinityTerm::compile(t, &namespace, &labels))
                .collect()
        };
        let pod_affinity = spec.affinity.as_ref().and_then(|a| a.pod_affinity.as_ref());
        let pod_anti = spec
            .affinity
            .as_ref()
            .and_then(|a| a.pod_anti_affinity.as_ref());
        let affinity = PodAffinity {
            required: compile(pod_affinity.and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            required_anti: compile(pod_anti.and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            preferred: pod_affinity
                .and_then(|a| {
                    a.preferred_during_scheduling_ignored_during_execution
                        .as_ref()
                })
                .into_iter()
                .flatten()
                .map(|w| {
                    (
                        w.weight,
                        AffinityTerm::compile(&w.pod_affinity_term, &namespace, &labels),
                    )
                })
                .collect(),
            preferred_anti: pod_anti
                .and_then(|a| {
                    a.preferred_during_scheduling_ignored_during_execution
                        .as_ref()
                })
                .into_iter()
                .flatten()
                .map(|w| {
                    (
                        w.weight,
                        AffinityTerm::compile(&w.pod_affinity_term, &namespace, &labels),
                    )
                })
                .collect(),
        };
        let images = spec
            .init_containers
            .iter()
            .flatten()
            .chain(spec.containers.iter())
            .filter_map(|c| c.image.as_deref())
            .map(normalized_image)
            .collect();
        let status = pod.status.as_ref();
        let scheduled_condition = status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"))
            .map(|c| {
                (
                    c.status.clone(),
                    c.reason.clone().unwrap_or_default(),
                    c.message.clone().unwrap_or_default(),
                )
            });
        let start_time = status
            .and_then(|s| s.start_time.as_ref())
            .or(meta.creation_timestamp.as_ref())
            .map(|t| t.0.as_second())
            .unwrap_or(0);
        PodInfo {
            uid: meta.uid.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            resource_version: meta.resource_version.clone().unwrap_or_default(),
            node_name: spec.node_name.clone().filter(|n| !n.is_empty()),
            scheduler_name: spec
                .scheduler_name
                .clone()
                .unwrap_or_else(|| DEFAULT_SCHEDULER.into()),
            priority: spec.priority,
            priority_class_name: spec.priority_class_name.clone().filter(|n| !n.is_empty()),
            preemption_never: spec.preemption_policy.as_deref() == Some("Never"),
            requests: pod_requests(spec),
            host_ports,
            node_affinity: RequiredNodeAffinity {
                node_selector: spec.node_selector.clone().unwrap_or_default(),
                terms: required_terms,
            },
            preferred_node_affinity,
            tolerations: spec.tolerations.clone().unwrap_or_default(),
            affinity,
            spread: spread_constraints(pod, &labels),
            images,
            terminating: meta.deletion_timestamp.is_some(),
            gated: spec
                .scheduling_gates
                .as_ref()
                .is_some_and(|g| !g.is_empty()),
            nominated_node: status
                .and_then(|s| s.nominated_node_name.clone())
                .filter(|n| !n.is_empty()),
            start_time,
            scheduled_condition,
            signature: signature(pod),
            labels,
            namespace,
        }
    }

    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// The scheduler's view of a Node object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeObject {
    pub name: String,
    pub labels: Labels,
    pub taints: Vec<Taint>,
    pub unschedulable: bool,
    pub allocatable: Resources,
    /// Normalized image names with their sizes.
    pub images: Vec<(String, i64)>,
}

impl NodeObject {
    pub fn from_node(node: &Node) -> NodeObject {
        let spec = node.spec.as_ref();
        let status = node.status.as_ref();
        let mut images = Vec::new();
        for image in status.and_then(|s| s.images.as_ref()).into_iter().flatten() {
            let size = image.size_bytes.unwrap_or(0);
            for name in image.names.iter().flatten() {
                images.push((normalized_image(name), size));
            }
        }
        images.sort();
        images.dedup_by(|a, b| a.0 == b.0);
        NodeObject {
            name: node.metadata.name.clone().unwrap_or_default(),
            labels: node.metadata.labels.clone().unwrap_or_default(),
            taints: spec.and_then(|s| s.taints.clone()).unwrap_or_default(),
            unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
            allocatable: status
                .and_then(|s| s.allocatable.as_ref())
                .map(Resources::from_list)
                .unwrap_or_default(),
            images,
        }
    }

    /// Whether a change from `self` to `new` could let a waiting pod fit (labels, taints,
    /// cordon, allocatable); image or heartbeat changes cannot.
    pub fn scheduling_changed(&self, new: &NodeObject) -> bool {
        self.labels != new.labels
            || self.taints != new.taints
            || self.unschedulable != new.unschedulable
            || self.allocatable != new.allocatable
    }
}

pub type PodRef = Arc<PodInfo>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_without_tag_mean_latest() {
        assert_eq!(normalized_image("nginx"), "nginx:latest");
        assert_eq!(normalized_image("nginx:1.25"), "nginx:1.25");
        assert_eq!(
            normalized_image("localhost:5000/app"),
            "localhost:5000/app:latest"
        );
        assert_eq!(normalized_image("app@sha256:abc"), "app@sha256:abc");
    }

    #[test]
    fn host_ports_conflict_on_wildcard_addresses() {
        let p = |ip: &str, port| HostPort {
            ip: ip.into(),
            protocol: "TCP".into(),
            port,
        };
        assert!(p("0.0.0.0", 80).conflicts(&p("10.0.0.1", 80)));
        assert!(!p("10.0.0.2", 80).conflicts(&p("10.0.0.1", 80)));
        assert!(!p("0.0.0.0", 80).conflicts(&p("0.0.0.0", 81)));
    }
}
