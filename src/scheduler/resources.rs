//! Resource amounts as the scheduler counts them: a pod's requests (upstream's
//! `resource.PodRequests`: containers summed, init containers by the max rule with sidecars
//! added, pod-level requests, overhead), the "non-zero" requests that scoring uses for
//! containers that request nothing, and a node's allocatable resources.
//!
//! Quantities are parsed by the API server's own parser
//! ([`crate::api::admission::validation::parse_quantity`]); CPU is held in millicores,
//! everything else in whole units (bytes, counts).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::api::admission::validation::parse_quantity;

/// CPU counted for a container that requests none, when scoring (upstream: 100m).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Memory counted for a container that requests none, when scoring (upstream: 200 MB).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// Amounts of the resources a pod requests or a node offers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    /// Pods a node may hold (allocatable only).
    pub pods: i64,
    /// Extended resources, hugepages and any other named resource, sorted by name.
    pub scalar: Vec<(String, i64)>,
}

impl Resources {
    /// Amounts from a resource list (`requests`, `allocatable`, `overhead`).
    pub fn from_list(list: &BTreeMap<String, Quantity>) -> Resources {
        let mut resources = Resources::default();
        for (name, quantity) in list {
            let Some(q) = parse_quantity(&quantity.0) else {
                continue;
            };
            match name.as_str() {
                "cpu" => resources.milli_cpu = q.milli_value(),
                "memory" => resources.memory = q.value(),
                "ephemeral-storage" => resources.ephemeral_storage = q.value(),
                "pods" => resources.pods = q.value(),
                other => resources.set_scalar(other, q.value()),
            }
        }
        resources
    }

    pub fn scalar(&self, name: &str) -> i64 {
        self.scalar
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, v)| *v)
    }

    fn set_scalar(&mut self, name: &str, value: i64) {
        match self.scalar.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
            Ok(i) => self.scalar[i].1 = value,
            Err(i) => self.scalar.insert(i, (name.to_string(), value)),
        }
    }

    /// Adds `other` (`sign` 1) or takes it away (`sign` -1).
    pub fn add(&mut self, other: &Resources, sign: i64) {
        self.milli_cpu += sign * other.milli_cpu;
        self.memory += sign * other.memory;
        self.ephemeral_storage += sign * other.ephemeral_storage;
        self.pods += sign * other.pods;
        for (name, value) in &other.scalar {
            let current = self.scalar(name);
            self.set_scalar(name, current + sign * value);
        }
    }

    /// Each resource at the larger of the two.
    pub fn max_with(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        self.pods = self.pods.max(other.pods);
        for (name, value) in &other.scalar {
            let current = self.scalar(name);
            self.set_scalar(name, current.max(*value));
        }
    }
}

/// A pod's requests: exact, and with the scoring defaults for containers that request no
/// CPU or memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodRequests {
    pub exact: Resources,
    pub non_zero_milli_cpu: i64,
    pub non_zero_memory: i64,
}

fn container_requests(container: &Container) -> Resources {
    container
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .map(Resources::from_list)
        .unwrap_or_default()
}

/// The container's requests with the scoring defaults filled in.
fn non_zero(container: &Container) -> Resources {
    let requests = container
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref());
    let mut exact = requests.map(Resources::from_list).unwrap_or_default();
    if !requests.is_some_and(|r| r.contains_key("cpu")) {
        exact.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
    }
    if !requests.is_some_and(|r| r.contains_key("memory")) {
        exact.memory = DEFAULT_MEMORY_REQUEST;
    }
    exact
}

/// Upstream's aggregation: regular containers and sidecars (restartable init containers)
/// add up; each ordinary init container runs alone beside the sidecars started before it;
/// the pod needs the larger of the two.
fn aggregate(spec: &PodSpec, per_container: fn(&Container) -> Resources) -> Resources {
    let mut sum = Resources::default();
    for container in &spec.containers {
        sum.add(&per_container(container), 1);
    }
    let mut sidecars = Resources::default();
    let mut init_max = Resources::default();
    for container in spec.init_containers.iter().flatten() {
        let requests = per_container(container);
        let running = if container.restart_policy.as_deref() == Some("Always") {
            sum.add(&requests, 1);
            sidecars.add(&requests, 1);
            sidecars.clone()
        } else {
            let mut alone = requests;
            alone.add(&sidecars, 1);
            alone
        };
        init_max.max_with(&running);
    }
    sum.max_with(&init_max);
    sum
}

/// What a pod requests, overhead included.
pub fn pod_requests(spec: &PodSpec) -> PodRequests {
    let mut exact = aggregate(spec, container_requests);
    let mut with_defaults = aggregate(spec, non_zero);
    // Pod-level requests, when given, replace the containers' sums for CPU and memory.
    if let Some(pod_level) = spec.resources.as_ref().and_then(|r| r.requests.as_ref()) {
        let level = Resources::from_list(pod_level);
        if pod_level.contains_key("cpu") {
            exact.milli_cpu = level.milli_cpu;
            with_defaults.milli_cpu = level.milli_cpu;
        }
        if pod_level.contains_key("memory") {
            exact.memory = level.memory;
            with_defaults.memory = level.memory;
        }
    }
    if let Some(overhead) = &spec.overhead {
        let overhead = Resources::from_list(overhead);
        exact.add(&overhead, 1);
        with_defaults.add(&overhead, 1);
    }
    exact.pods = 0;
    PodRequests {
        exact,
        non_zero_milli_cpu: with_defaults.milli_cpu,
        non_zero_memory: with_defaults.memory,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(value: serde_json::Value) -> PodSpec {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn sums_containers_and_applies_the_init_container_max_rule() {
        let s = spec(serde_json::json!({
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}},
                {"name": "b", "resources": {"requests": {"cpu": "200m"}}},
            ],
            "initContainers": [
                {"name": "init", "resources": {"requests": {"cpu": "1", "memory": "1Mi"}}},
            ],
            "overhead": {"cpu": "10m"},
        }));
        let r = pod_requests(&s);
        assert_eq!(r.exact.milli_cpu, 1010);
        assert_eq!(r.exact.memory, 64 << 20);
        // b requests no memory: scoring counts 200 MB for it.
        assert_eq!(r.non_zero_memory, (64 << 20) + DEFAULT_MEMORY_REQUEST);
    }

    #[test]
    fn sidecars_add_to_the_containers_and_to_later_init_containers() {
        let s = spec(serde_json::json!({
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "500m"}}}],
            "initContainers": [
                {"name": "side", "restartPolicy": "Always", "resources": {"requests": {"cpu": "300m"}}},
                {"name": "init", "resources": {"requests": {"cpu": "600m"}}},
            ],
        }));
        // Containers + sidecar = 800m; init + sidecar = 900m.
        assert_eq!(pod_requests(&s).exact.milli_cpu, 900);
    }

    #[test]
    fn extended_resources_are_scalars() {
        let s = spec(serde_json::json!({
            "containers": [{"name": "a", "resources": {"requests": {"example.com/gpu": "2"}}}],
        }));
        assert_eq!(pod_requests(&s).exact.scalar("example.com/gpu"), 2);
    }
}
