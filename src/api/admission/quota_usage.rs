//! What objects cost against a ResourceQuota, as upstream's quota evaluators measure it
//! (`pkg/quota/v1/evaluator/core`): pods (`pods`, `count/pods`, cpu, memory and
//! ephemeral-storage requests and limits, hugepages, extended resources), Services
//! (`services`, `services.nodeports`, `services.loadbalancers`), PersistentVolumeClaims
//! (`persistentvolumeclaims`, `requests.storage`, per storage class), and the object count
//! `count/<resource>[.<group>]` of any resource (with the legacy names `configmaps`,
//! `secrets`, `replicationcontrollers`, `resourcequotas`). Quota scopes (`Terminating`,
//! `NotTerminating`, `BestEffort`, `NotBestEffort`, `PriorityClass`,
//! `CrossNamespacePodAffinity`) apply to pods only.
//!
//! Shared by quota admission ([`super::quota`]) and the ResourceQuota controller, which sums
//! the usage of a namespace with [`calculate_usage`].

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::validation::Quantity;
use crate::api::ApiState;
use crate::api::object;

/// Resource names and amounts, sorted by name (as upstream prints them).
pub type ResourceList = BTreeMap<String, Quantity>;

const NANOS: i128 = 1_000_000_000;
/// Resources a pod is charged for (besides the prefixed ones).
const POD_RESOURCES: [&str; 11] = [
    "count/pods",
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
];
const SERVICE_RESOURCES: [&str; 4] = [
    "count/services",
    "services",
    "services.nodeports",
    "services.loadbalancers",
];
const STORAGE_CLASS_SUFFIX: &str = ".storageclass.storage.k8s.io/";
/// If a quota tracks these, every container must say how much it requests or limits.
const VALIDATION_SET: [&str; 6] = [
    "cpu",
    "memory",
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
];
/// Object counts that have a name without `count/`.
const LEGACY_COUNTS: [&str; 4] = [
    "configmaps",
    "secrets",
    "replicationcontrollers",
    "resourcequotas",
];

/// A zero in the format sums start from.
fn zero() -> Quantity {
    Quantity::from_units(0)
}

fn one() -> Quantity {
    Quantity::from_units(1)
}

/// `a + b`, written as upstream's `Quantity.Add` writes it: in `a`'s format unless `a` is
/// zero.
pub fn add_quantity(a: &Quantity, b: &Quantity) -> Quantity {
    let format = if a.is_zero() { b.format() } else { a.format() };
    Quantity::from_nanos(a.nanos() + b.nanos(), format)
}

fn sub_quantity(a: &Quantity, b: &Quantity) -> Quantity {
    Quantity::from_nanos(a.nanos() - b.nanos(), a.format())
}

/// Upstream's `quota.Add`.
pub fn add(a: &ResourceList, b: &ResourceList) -> ResourceList {
    let mut out = a.clone();
    for (name, q) in b {
        let sum = match out.get(name) {
            Some(existing) => add_quantity(existing, q),
            None => *q,
        };
        out.insert(name.clone(), sum);
    }
    out
}

/// Upstream's `quota.SubtractWithNonNegativeResult`.
pub fn subtract_non_negative(a: &ResourceList, b: &ResourceList) -> ResourceList {
    let mut out = ResourceList::new();
    for (name, q) in a {
        let mut diff = match b.get(name) {
            Some(other) => sub_quantity(q, other),
            None => *q,
        };
        if diff.sign() < 0 {
            diff = Quantity::from_nanos(0, diff.format());
        }
        out.insert(name.clone(), diff);
    }
    for name in b.keys() {
        out.entry(name.clone()).or_insert_with(zero);
    }
    out
}

/// The entries of `list` named in `names`.
pub fn mask<'a>(list: &ResourceList, names: impl IntoIterator<Item = &'a String>) -> ResourceList {
    names
        .into_iter()
        .filter_map(|n| list.get(n).map(|q| (n.clone(), *q)))
        .collect()
}

/// The names whose amount in `a` is above `b`'s (upstream's `quota.LessThanOrEqual`).
pub fn exceeded(a: &ResourceList, b: &ResourceList) -> Vec<String> {
    a.iter()
        .filter(|(name, q)| b.get(*name).is_some_and(|limit| *q > limit))
        .map(|(name, _)| name.clone())
        .collect()
}

pub fn remove_zeros(list: &ResourceList) -> ResourceList {
    list.iter()
        .filter(|(_, q)| !q.is_zero())
        .map(|(n, q)| (n.clone(), *q))
        .collect()
}

/// The names with a negative amount, sorted.
pub fn negative(list: &ResourceList) -> Vec<String> {
    list.iter()
        .filter(|(_, q)| q.sign() < 0)
        .map(|(n, _)| n.clone())
        .collect()
}

/// `name=value,…` sorted by name, as upstream's `prettyPrint`.
pub fn pretty_print(list: &ResourceList) -> String {
    list.iter()
        .map(|(n, q)| format!("{n}={}", q.to_canonical_string()))
        .collect::<Vec<_>>()
        .join(",")
}

/// A resource list as JSON (canonical quantity strings).
pub fn to_json(list: &ResourceList) -> Value {
    Value::Object(
        list.iter()
            .map(|(n, q)| (n.clone(), json!(q.to_canonical_string())))
            .collect(),
    )
}

/// A resource list from JSON; entries that are not quantities are skipped.
pub fn read_list(value: Option<&Value>) -> ResourceList {
    value
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(n, v)| Quantity::from_json(v).map(|q| (n.clone(), q)))
                .collect()
        })
        .unwrap_or_default()
}

/// One scope a quota is limited to (`spec.scopes` entries become `Exists` selectors).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeSelector {
    pub scope: String,
    pub operator: String,
    pub values: Vec<String>,
}

/// Upstream's `getScopeSelectorsFromQuota`.
pub fn scope_selectors(quota: &Value) -> Vec<ScopeSelector> {
    let mut out: Vec<ScopeSelector> = quota
        .pointer("/spec/scopes")
        .and_then(Value::as_array)
        .map(|scopes| {
            scopes
                .iter()
                .filter_map(Value::as_str)
                .map(|s| ScopeSelector {
                    scope: s.to_string(),
                    operator: "Exists".into(),
                    values: Vec::new(),
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(expressions) = quota
        .pointer("/spec/scopeSelector/matchExpressions")
        .and_then(Value::as_array)
    {
        for e in expressions {
            out.push(ScopeSelector {
                scope: str_at(e, "/scopeName").to_string(),
                operator: str_at(e, "/operator").to_string(),
                values: e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|v| {
                        v.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            });
        }
    }
    out
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// `count/<resource>` for the core group, `count/<resource>.<group>` otherwise.
pub fn object_count_name(group: &str, plural: &str) -> String {
    if group.is_empty() {
        format!("count/{plural}")
    } else {
        format!("count/{plural}.{group}")
    }
}

/// How one kind of object is measured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Evaluator {
    Pods,
    Services,
    PersistentVolumeClaims,
    /// Any other resource: its object count, under `count/…` and maybe a legacy name.
    Count {
        count_name: String,
        alias: Option<String>,
    },
}

fn is_native(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

/// Upstream's `IsExtendedResourceName`.
fn is_extended(name: &str) -> bool {
    !is_native(name) && !name.starts_with("requests.")
}

impl Evaluator {
    /// The evaluator of a resource (`group`, `plural`).
    pub fn for_resource(group: &str, plural: &str) -> Evaluator {
        match (group, plural) {
            ("", "pods") => Evaluator::Pods,
            ("", "services") => Evaluator::Services,
            ("", "persistentvolumeclaims") => Evaluator::PersistentVolumeClaims,
            _ => Evaluator::Count {
                count_name: object_count_name(group, plural),
                alias: (group.is_empty() && LEGACY_COUNTS.contains(&plural))
                    .then(|| plural.to_string()),
            },
        }
    }

    /// Whether admission measures this operation (pods and object counts only on create).
    pub fn handles(&self, updating: bool) -> bool {
        !updating
            || matches!(
                self,
                Evaluator::Services | Evaluator::PersistentVolumeClaims
            )
    }

    /// The names among `input` this evaluator measures (upstream's `MatchingResources`).
    pub fn matching_resources<'a>(
        &self,
        input: impl IntoIterator<Item = &'a String>,
    ) -> Vec<String> {
        input
            .into_iter()
            .filter(|name| match self {
                Evaluator::Pods => {
                    POD_RESOURCES.contains(&name.as_str())
                        || name.starts_with("hugepages-")
                        || name.starts_with("requests.hugepages-")
                        || (!is_native(name) && name.starts_with("requests."))
                }
                Evaluator::Services => SERVICE_RESOURCES.contains(&name.as_str()),
                Evaluator::PersistentVolumeClaims => {
                    matches!(
                        name.as_str(),
                        "persistentvolumeclaims"
                            | "count/persistentvolumeclaims"
                            | "requests.storage"
                    ) || name
                        .split_once(STORAGE_CLASS_SUFFIX)
                        .is_some_and(|(class, r)| {
                            !class.is_empty()
                                && (r == "requests.storage" || r == "persistentvolumeclaims")
                        })
                }
                Evaluator::Count { count_name, alias } => {
                    *name == count_name || alias.as_ref() == Some(name)
                }
            })
            .cloned()
            .collect()
    }

    /// Whether `object` falls under every one of `selectors` (only pods have scopes; other
    /// objects match only unscoped quotas).
    pub fn matches_scopes(&self, selectors: &[ScopeSelector], object: &Value) -> bool {
        match self {
            Evaluator::Pods => selectors.iter().all(|s| pod_matches_scope(s, object)),
            _ => selectors.is_empty(),
        }
    }

    /// Upstream's `generic.Matches`: the quota tracks something this evaluator measures
    /// and the object is in the quota's scopes.
    pub fn matches(
        &self,
        hard: &ResourceList,
        selectors: &[ScopeSelector],
        object: &Value,
    ) -> bool {
        !self.matching_resources(hard.keys()).is_empty() && self.matches_scopes(selectors, object)
    }

    /// What `object` costs (`now`: Unix seconds, for pods stuck terminating).
    pub fn usage(&self, object: &Value, now: i64) -> ResourceList {
        match self {
            Evaluator::Pods => pod_usage(object, now),
            Evaluator::Services => service_usage(object),
            Evaluator::PersistentVolumeClaims => claim_usage(object),
            Evaluator::Count { count_name, alias } => {
                let mut out = ResourceList::from([(count_name.clone(), one())]);
                if let Some(alias) = alias {
                    out.insert(alias.clone(), one());
                }
                out
            }
        }
    }

    /// Upstream's `Constraints`: with cpu or memory under quota, every container must state
    /// its request (or limit) for it. The error reads `must specify limits.cpu for: web`.
    pub fn constraints(&self, required: &[String], object: &Value) -> Result<(), String> {
        if *self != Evaluator::Pods {
            return Ok(());
        }
        let required: BTreeSet<&str> = required
            .iter()
            .map(String::as_str)
            .filter(|r| VALIDATION_SET.contains(r))
            .collect();
        if required.is_empty() {
            return Ok(());
        }
        let mut missing: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for container in containers(object, "containers")
            .into_iter()
            .chain(containers(object, "initContainers"))
        {
            let requests = read_list(container.pointer("/resources/requests"));
            let limits = read_list(container.pointer("/resources/limits"));
            let usage = compute_usage(&requests, &limits);
            let name = str_at(container, "/name").to_string();
            for resource in &required {
                if !usage.contains_key(*resource) {
                    missing.entry(resource).or_default().insert(name.clone());
                }
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let parts: Vec<String> = missing
            .iter()
            .map(|(resource, names)| {
                format!(
                    "{resource} for: {}",
                    names.iter().cloned().collect::<Vec<_>>().join(",")
                )
            })
            .collect();
        Err(format!("must specify {}", parts.join("; ")))
    }
}

fn containers<'a>(pod: &'a Value, field: &str) -> Vec<&'a Value> {
    pod.pointer(&format!("/spec/{field}"))
        .and_then(Value::as_array)
        .map(|list| list.iter().collect())
        .unwrap_or_default()
}

fn add_into(list: &mut ResourceList, other: &ResourceList) {
    *list = add(list, other);
}

fn max_into(list: &mut ResourceList, other: &ResourceList) {
    for (name, q) in other {
        if list.get(name).is_none_or(|existing| q > existing) {
            list.insert(name.clone(), *q);
        }
    }
}

/// Upstream's `PodRequests` / `PodLimits` (`field` is `requests` or `limits`): containers
/// summed, init containers as a maximum (sidecars added), pod overhead, and pod-level
/// resources where the pod sets them.
pub fn pod_resources(pod: &Value, field: &str) -> ResourceList {
    let pointer = format!("/resources/{field}");
    let mut total = ResourceList::new();
    for c in containers(pod, "containers") {
        add_into(&mut total, &read_list(c.pointer(&pointer)));
    }
    let mut sidecars = ResourceList::new();
    let mut init = ResourceList::new();
    for c in containers(pod, "initContainers") {
        let own = read_list(c.pointer(&pointer));
        let effective = if str_at(c, "/restartPolicy") == "Always" {
            add_into(&mut total, &own);
            add_into(&mut sidecars, &own);
            sidecars.clone()
        } else {
            add(&own, &sidecars)
        };
        max_into(&mut init, &effective);
    }
    max_into(&mut total, &init);
    let pod_level = read_list(pod.pointer(&format!("/spec/resources/{field}")));
    for name in ["cpu", "memory"] {
        if let Some(q) = pod_level.get(name) {
            total.insert(name.to_string(), *q);
        }
    }
    let overhead = read_list(pod.pointer("/spec/overhead"));
    for (name, q) in &overhead {
        if field == "requests" || total.contains_key(name) {
            let sum = total.get(name).map_or(*q, |t| add_quantity(t, q));
            total.insert(name.clone(), sum);
        }
    }
    total
}

/// Upstream's `podComputeUsageHelper`.
fn compute_usage(requests: &ResourceList, limits: &ResourceList) -> ResourceList {
    let mut out = ResourceList::from([("pods".to_string(), one())]);
    for name in ["cpu", "memory", "ephemeral-storage"] {
        if let Some(q) = requests.get(name) {
            out.insert(name.to_string(), *q);
            out.insert(format!("requests.{name}"), *q);
        }
        if let Some(q) = limits.get(name) {
            out.insert(format!("limits.{name}"), *q);
        }
    }
    for (name, q) in requests {
        if name.starts_with("hugepages-") {
            out.insert(name.clone(), *q);
            out.insert(format!("requests.{name}"), *q);
        }
        if is_extended(name) {
            out.insert(format!("requests.{name}"), *q);
        }
    }
    out
}

/// Upstream's `QuotaV1Pod`: not terminal, and not stuck terminating past its grace period.
pub fn pod_is_charged(pod: &Value, now: i64) -> bool {
    let phase = str_at(pod, "/status/phase");
    if phase == "Succeeded" || phase == "Failed" {
        return false;
    }
    let deletion = object::meta_str(pod, "deletionTimestamp").and_then(object::parse_time);
    let grace = pod
        .pointer("/metadata/deletionGracePeriodSeconds")
        .and_then(Value::as_i64);
    !matches!((deletion, grace), (Some(at), Some(grace)) if now > at + grace)
}

fn pod_usage(pod: &Value, now: i64) -> ResourceList {
    let mut out = ResourceList::from([("count/pods".to_string(), one())]);
    if !pod_is_charged(pod, now) {
        return out;
    }
    let requests = pod_resources(pod, "requests");
    let limits = pod_resources(pod, "limits");
    out = add(&out, &compute_usage(&requests, &limits));
    out
}

/// Whether the pod's QoS class is BestEffort: no positive cpu or memory request or limit.
pub fn is_best_effort(pod: &Value) -> bool {
    let positive = |list: ResourceList| {
        ["cpu", "memory"]
            .iter()
            .any(|r| list.get(*r).is_some_and(|q| q.sign() > 0))
    };
    let all = containers(pod, "containers")
        .into_iter()
        .chain(containers(pod, "initContainers"));
    let mut lists: Vec<ResourceList> = Vec::new();
    for c in all {
        lists.push(read_list(c.pointer("/resources/requests")));
        lists.push(read_list(c.pointer("/resources/limits")));
    }
    lists.push(read_list(pod.pointer("/spec/resources/requests")));
    lists.push(read_list(pod.pointer("/spec/resources/limits")));
    !lists.into_iter().any(positive)
}

fn is_terminating(pod: &Value) -> bool {
    pod.pointer("/spec/activeDeadlineSeconds")
        .and_then(Value::as_i64)
        .is_some_and(|s| s >= 0)
}

fn cross_namespace_affinity(pod: &Value) -> bool {
    let term_is_cross = |term: &Value| {
        term.get("namespaces")
            .and_then(Value::as_array)
            .is_some_and(|n| !n.is_empty())
            || term.get("namespaceSelector").is_some_and(|s| !s.is_null())
    };
    ["podAffinity", "podAntiAffinity"].iter().any(|kind| {
        let Some(affinity) = pod.pointer(&format!("/spec/affinity/{kind}")) else {
            return false;
        };
        let required = affinity
            .get("requiredDuringSchedulingIgnoredDuringExecution")
            .and_then(Value::as_array)
            .is_some_and(|terms| terms.iter().any(term_is_cross));
        let preferred = affinity
            .get("preferredDuringSchedulingIgnoredDuringExecution")
            .and_then(Value::as_array)
            .is_some_and(|terms| {
                terms
                    .iter()
                    .filter_map(|t| t.get("podAffinityTerm"))
                    .any(term_is_cross)
            });
        required || preferred
    })
}

/// Upstream's `podMatchesScopeFunc`.
fn pod_matches_scope(selector: &ScopeSelector, pod: &Value) -> bool {
    match selector.scope.as_str() {
        "Terminating" => is_terminating(pod),
        "NotTerminating" => !is_terminating(pod),
        "BestEffort" => is_best_effort(pod),
        "NotBestEffort" => !is_best_effort(pod),
        "CrossNamespacePodAffinity" => cross_namespace_affinity(pod),
        "PriorityClass" => {
            let class = str_at(pod, "/spec/priorityClassName");
            match selector.operator.as_str() {
                "Exists" => !class.is_empty(),
                "DoesNotExist" => class.is_empty(),
                "In" => !class.is_empty() && selector.values.iter().any(|v| v == class),
                "NotIn" => class.is_empty() || !selector.values.iter().any(|v| v == class),
                _ => false,
            }
        }
        _ => false,
    }
}

fn service_usage(service: &Value) -> ResourceList {
    let ports = service
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut out = ResourceList::from([
        ("count/services".to_string(), one()),
        ("services".to_string(), one()),
        ("services.loadbalancers".to_string(), zero()),
        ("services.nodeports".to_string(), zero()),
    ]);
    let count = |n: usize| Quantity::from_units(i64::try_from(n).unwrap_or(i64::MAX));
    match str_at(service, "/spec/type") {
        "NodePort" => {
            out.insert("services.nodeports".into(), count(ports.len()));
        }
        "LoadBalancer" => {
            let allocate = service
                .pointer("/spec/allocateLoadBalancerNodePorts")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            let nodeports = if allocate {
                ports.len()
            } else {
                ports
                    .iter()
                    .filter(|p| p.get("nodePort").and_then(Value::as_i64).unwrap_or(0) != 0)
                    .count()
            };
            out.insert("services.nodeports".into(), count(nodeports));
            out.insert("services.loadbalancers".into(), one());
        }
        _ => {}
    }
    out
}

/// A quantity rounded up to whole units (storage is counted in whole bytes).
fn whole_units(q: &Quantity) -> Quantity {
    Quantity::from_nanos(i128::from(q.value()) * NANOS, q.format())
}

fn claim_usage(claim: &Value) -> ResourceList {
    let class = claim
        .pointer("/spec/storageClassName")
        .and_then(Value::as_str)
        .or_else(|| {
            claim
                .pointer("/metadata/annotations/volume.beta.kubernetes.io~1storage-class")
                .and_then(Value::as_str)
        })
        .unwrap_or_default();
    let mut out = ResourceList::from([
        ("persistentvolumeclaims".to_string(), one()),
        ("count/persistentvolumeclaims".to_string(), one()),
    ]);
    if !class.is_empty() {
        out.insert(
            format!("{class}{STORAGE_CLASS_SUFFIX}persistentvolumeclaims"),
            one(),
        );
    }
    let requested = read_list(claim.pointer("/spec/resources/requests"))
        .get("storage")
        .map(whole_units);
    let allocated = read_list(claim.pointer("/status/allocatedResources"))
        .get("storage")
        .map(whole_units);
    let storage = match (requested, allocated) {
        (Some(r), Some(a)) if a > r => Some(a),
        (r, _) => r,
    };
    if let Some(storage) = storage {
        out.insert("requests.storage".into(), storage);
        if !class.is_empty() {
            out.insert(
                format!("{class}{STORAGE_CLASS_SUFFIX}requests.storage"),
                storage,
            );
        }
    }
    out
}

/// The evaluators a quota with these hard limits needs, with the resource each measures
/// (`group`, `plural`).
fn evaluators_for(state: &ApiState, hard: &ResourceList) -> Vec<(Evaluator, String, String)> {
    let mut out = vec![
        (Evaluator::Pods, String::new(), "pods".to_string()),
        (Evaluator::Services, String::new(), "services".to_string()),
        (
            Evaluator::PersistentVolumeClaims,
            String::new(),
            "persistentvolumeclaims".to_string(),
        ),
    ];
    let mut counted: BTreeSet<(String, String)> = BTreeSet::new();
    for name in hard.keys() {
        let resource = if let Some(rest) = name.strip_prefix("count/") {
            match rest.split_once('.') {
                Some((plural, group)) => (group.to_string(), plural.to_string()),
                None => (String::new(), rest.to_string()),
            }
        } else if LEGACY_COUNTS.contains(&name.as_str()) {
            (String::new(), name.clone())
        } else {
            continue;
        };
        if matches!(
            (resource.0.as_str(), resource.1.as_str()),
            ("", "pods" | "services" | "persistentvolumeclaims")
        ) {
            continue;
        }
        let known = state
            .registry
            .all()
            .iter()
            .any(|i| i.group == resource.0 && i.plural == resource.1);
        if known {
            counted.insert(resource);
        }
    }
    for (group, plural) in counted {
        out.push((Evaluator::for_resource(&group, &plural), group, plural));
    }
    out
}

/// The storage prefix of `group`/`plural` objects in `namespace`, if the resource exists.
pub fn list_prefix(state: &ApiState, group: &str, plural: &str, namespace: &str) -> Option<String> {
    state
        .registry
        .all()
        .into_iter()
        .find(|i| i.group == group && i.plural == plural)
        .map(|i| i.list_prefix(Some(namespace)))
}

/// Upstream's `quota.CalculateUsage`: what everything in `namespace` under the quota's
/// scopes costs, for each resource of `hard` that can be measured (zero when nothing
/// uses it).
pub fn calculate_usage(
    state: &ApiState,
    namespace: &str,
    hard: &ResourceList,
    selectors: &[ScopeSelector],
) -> ResourceList {
    let now = object::unix_now();
    let mut usage = ResourceList::new();
    let mut matched: BTreeSet<String> = BTreeSet::new();
    for (evaluator, group, plural) in evaluators_for(state, hard) {
        let resources = evaluator.matching_resources(hard.keys());
        if resources.is_empty() {
            continue;
        }
        // Scoped quotas only cover what can be in a scope (pods).
        if !selectors.is_empty() && evaluator != Evaluator::Pods {
            continue;
        }
        let Some(prefix) = list_prefix(state, &group, &plural, namespace) else {
            continue;
        };
        let mut used: ResourceList = resources.iter().map(|r| (r.clone(), zero())).collect();
        let objects = state
            .cache
            .list(&prefix, &Default::default(), None, None)
            .objects;
        for cached in objects {
            let item = match evaluator {
                Evaluator::Count { .. } => Value::Null,
                _ => cached.value(),
            };
            if evaluator.matches_scopes(selectors, &item) {
                used = add(&used, &evaluator.usage(&item, now));
            }
        }
        matched.extend(resources);
        usage = add(&usage, &used);
    }
    mask(&usage, &matched)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[(&str, &str)]) -> ResourceList {
        entries
            .iter()
            .map(|(n, q)| (n.to_string(), Quantity::parse(q).unwrap()))
            .collect()
    }

    fn pod(containers: Value) -> Value {
        json!({"metadata": {"name": "p"}, "spec": {"containers": containers}})
    }

    #[test]
    fn pod_usage_sums_containers_and_counts_the_pod() {
        let p = pod(json!([
            {"name": "a", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"cpu": "500m"}}},
            {"name": "b", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}},
        ]));
        let usage = Evaluator::Pods.usage(&p, 0);
        assert_eq!(
            pretty_print(&usage),
            "count/pods=1,cpu=500m,limits.cpu=500m,memory=128Mi,pods=1,requests.cpu=500m,requests.memory=128Mi"
        );
    }

    #[test]
    fn terminal_pods_only_count_as_objects() {
        let mut p = pod(json!([{"name": "a", "resources": {"requests": {"cpu": "1"}}}]));
        p["status"] = json!({"phase": "Succeeded"});
        assert_eq!(pretty_print(&Evaluator::Pods.usage(&p, 0)), "count/pods=1");
    }

    #[test]
    fn init_containers_count_as_a_maximum() {
        let mut p = pod(json!([{"name": "a", "resources": {"requests": {"cpu": "100m"}}}]));
        p["spec"]["initContainers"] =
            json!([{"name": "i", "resources": {"requests": {"cpu": "1"}}}]);
        assert_eq!(
            pod_resources(&p, "requests")["cpu"].to_canonical_string(),
            "1"
        );
    }

    #[test]
    fn constraints_name_the_containers() {
        let p = pod(json!([
            {"name": "web", "resources": {"requests": {"cpu": "1"}}},
            {"name": "log"},
        ]));
        let required = vec![
            "limits.cpu".to_string(),
            "requests.cpu".to_string(),
            "pods".to_string(),
        ];
        assert_eq!(
            Evaluator::Pods.constraints(&required, &p),
            Err("must specify limits.cpu for: log,web; requests.cpu for: log".into())
        );
    }

    #[test]
    fn scopes_select_pods() {
        let best_effort = pod(json!([{"name": "a"}]));
        let burstable = pod(json!([{"name": "a", "resources": {"requests": {"memory": "1Mi"}}}]));
        let scope = |s: &str| ScopeSelector {
            scope: s.into(),
            operator: "Exists".into(),
            values: vec![],
        };
        assert!(Evaluator::Pods.matches_scopes(&[scope("BestEffort")], &best_effort));
        assert!(!Evaluator::Pods.matches_scopes(&[scope("BestEffort")], &burstable));
        assert!(Evaluator::Pods.matches_scopes(&[scope("NotTerminating")], &burstable));
        assert!(!Evaluator::Services.matches_scopes(&[scope("BestEffort")], &json!({})));
        let mut high = burstable.clone();
        high["spec"]["priorityClassName"] = json!("high");
        let in_high = ScopeSelector {
            scope: "PriorityClass".into(),
            operator: "In".into(),
            values: vec!["high".into()],
        };
        assert!(Evaluator::Pods.matches_scopes(std::slice::from_ref(&in_high), &high));
        assert!(!Evaluator::Pods.matches_scopes(&[in_high], &burstable));
    }

    #[test]
    fn services_count_node_ports_and_load_balancers() {
        let lb = json!({"spec": {"type": "LoadBalancer", "ports": [{"port": 80}, {"port": 443}]}});
        assert_eq!(
            pretty_print(&Evaluator::Services.usage(&lb, 0)),
            "count/services=1,services=1,services.loadbalancers=1,services.nodeports=2"
        );
    }

    #[test]
    fn claims_charge_storage_per_class() {
        let claim = json!({"spec": {"storageClassName": "fast", "resources": {"requests": {"storage": "1Gi"}}}});
        let usage = Evaluator::PersistentVolumeClaims.usage(&claim, 0);
        assert_eq!(usage["requests.storage"].to_canonical_string(), "1Gi");
        assert_eq!(
            usage["fast.storageclass.storage.k8s.io/requests.storage"].to_canonical_string(),
            "1Gi"
        );
    }

    #[test]
    fn exceeded_and_subtraction() {
        let used = list(&[("pods", "3"), ("requests.cpu", "1")]);
        let hard = list(&[("pods", "2"), ("requests.cpu", "2")]);
        assert_eq!(exceeded(&used, &hard), vec!["pods".to_string()]);
        let delta = subtract_non_negative(&list(&[("cpu", "1")]), &list(&[("cpu", "2")]));
        assert!(remove_zeros(&delta).is_empty());
    }

    #[test]
    fn object_counts_know_legacy_names() {
        let e = Evaluator::for_resource("", "configmaps");
        assert_eq!(
            pretty_print(&e.usage(&json!({}), 0)),
            "configmaps=1,count/configmaps=1"
        );
        let d = Evaluator::for_resource("apps", "deployments");
        let names = vec!["count/deployments.apps".to_string(), "pods".to_string()];
        assert_eq!(d.matching_resources(&names), vec!["count/deployments.apps"]);
    }
}
