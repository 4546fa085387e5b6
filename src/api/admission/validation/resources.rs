//! Resource names and quantities: container `resources` (requests ≤ limits, standard and
//! extended names, hugepages), and the name rules quota and limit ranges reuse.

use std::collections::BTreeSet;

use serde_json::Value;

use super::json::Node;
use super::meta::IS_NEGATIVE;
use super::names::{dns1123_label_errors, invalid_each, label_key_errors};
use super::quantity::{QUANTITY_FORMAT_ERROR, Quantity};
use crate::api::field_error::{FieldError, Path};

const STANDARD_CONTAINER_RESOURCES: [&str; 3] = ["cpu", "memory", "ephemeral-storage"];
const STANDARD_RESOURCES: [&str; 20] = [
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
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "storage",
    "requests.storage",
    "services.nodeports",
    "services.loadbalancers",
];
const STANDARD_QUOTA_RESOURCES: [&str; 19] = [
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.storage",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "persistentvolumeclaims",
    "configmaps",
    "services.nodeports",
    "services.loadbalancers",
];
const INTEGER_RESOURCES: [&str; 9] = [
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
];

/// Reads a quantity at `node`; reports one that does not parse.
pub(crate) fn read_quantity(node: &Node, errs: &mut Vec<FieldError>) -> Option<Quantity> {
    if !node.is_set() {
        return None;
    }
    let parsed = Quantity::from_json(node.value());
    if parsed.is_none() {
        errs.push(FieldError::type_invalid(
            node.path(),
            node.value(),
            QUANTITY_FORMAT_ERROR,
        ));
    }
    parsed
}

/// A `ResourceList` (`map[name]quantity`) as (name, path, quantity) triples, sorted by name.
pub(crate) fn read_resource_list<'a>(
    node: &Node<'a>,
    errs: &mut Vec<FieldError>,
) -> Vec<(&'a str, Path, Quantity)> {
    let mut out: Vec<(&'a str, Path, Quantity)> = node
        .entries(errs)
        .into_iter()
        .filter_map(|(name, value)| {
            read_quantity(&value, errs).map(|q| (name, value.path().clone(), q))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(b.0));
    out
}

pub(crate) fn is_hugepages(name: &str) -> bool {
    name.starts_with("hugepages-")
}

fn is_quota_hugepages(name: &str) -> bool {
    name.starts_with("hugepages-") || name.starts_with("requests.hugepages-")
}

/// Unprefixed names, and those under `kubernetes.io/`, are native.
pub(crate) fn is_native_resource(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

/// Device-plugin style names such as `example.com/gpu`.
pub(crate) fn is_extended_resource(name: &str) -> bool {
    !is_native_resource(name)
        && !name.starts_with("requests.")
        && label_key_errors(&format!("requests.{name}")).is_empty()
}

/// Native resources other than hugepages may be overcommitted (request < limit).
pub(crate) fn is_overcommit_allowed(name: &str) -> bool {
    is_native_resource(name) && !is_hugepages(name)
}

fn is_integer_resource(name: &str) -> bool {
    INTEGER_RESOURCES.contains(&name) || is_extended_resource(name)
}

/// Upstream's `validateResourceName`.
pub(crate) fn validate_resource_name(path: &Path, name: &str, errs: &mut Vec<FieldError>) -> bool {
    let msgs = label_key_errors(name);
    if !msgs.is_empty() {
        errs.extend(invalid_each(path, name, msgs));
        return false;
    }
    if !(name.contains('/') || STANDARD_RESOURCES.contains(&name) || is_quota_hugepages(name)) {
        errs.push(FieldError::invalid(
            path,
            &Value::from(name),
            "must be a standard resource type or fully qualified",
        ));
        return false;
    }
    true
}

/// Upstream's `validateContainerResourceName`.
pub(crate) fn validate_container_resource_name(
    path: &Path,
    name: &str,
    errs: &mut Vec<FieldError>,
) {
    validate_resource_name(path, name, errs);
    if !name.contains('/') {
        if !(STANDARD_CONTAINER_RESOURCES.contains(&name) || is_hugepages(name)) {
            errs.push(FieldError::invalid(
                path,
                &Value::from(name),
                "must be a standard resource for containers",
            ));
        }
    } else if !is_native_resource(name) && !is_extended_resource(name) {
        errs.push(FieldError::invalid(
            path,
            &Value::from(name),
            "doesn't follow extended resource name standard",
        ));
    }
}

/// Upstream's `ValidateResourceQuotaResourceName`.
pub(crate) fn validate_quota_resource_name(path: &Path, name: &str, errs: &mut Vec<FieldError>) {
    validate_resource_name(path, name, errs);
    if !(name.contains('/') || STANDARD_QUOTA_RESOURCES.contains(&name) || is_quota_hugepages(name))
    {
        errs.push(FieldError::invalid(
            path,
            &Value::from(name),
            "must be a standard resource for quota",
        ));
    }
}

/// Whether a quota applies to pod compute resources (for the quota scope checks).
pub(crate) fn is_pod_compute_resource(name: &str) -> bool {
    [
        "cpu",
        "memory",
        "limits.cpu",
        "limits.memory",
        "requests.cpu",
        "requests.memory",
    ]
    .contains(&name)
}

pub(crate) fn is_standard_quota_resource(name: &str) -> bool {
    STANDARD_QUOTA_RESOURCES.contains(&name) || is_quota_hugepages(name)
}

/// Upstream's `ValidateNonnegativeQuantity`.
pub(crate) fn validate_nonnegative_quantity(path: &Path, q: &Quantity, errs: &mut Vec<FieldError>) {
    if q.sign() < 0 {
        errs.push(FieldError::invalid(
            path,
            &Value::from(q.to_canonical_string()),
            IS_NEGATIVE,
        ));
    }
}

/// Upstream's `ValidateResourceQuantityValue`: not negative, and whole for countable names.
pub(crate) fn validate_resource_quantity_value(
    path: &Path,
    name: &str,
    q: &Quantity,
    errs: &mut Vec<FieldError>,
) {
    validate_nonnegative_quantity(path, q, errs);
    if is_integer_resource(name) && q.milli_value() % 1000 != 0 {
        errs.push(FieldError::invalid(
            path,
            &Value::from(q.to_canonical_string()),
            "must be an integer",
        ));
    }
}

fn hugepages_error(name: &str, q: &Quantity) -> Option<String> {
    let page = name.strip_prefix("hugepages-").and_then(Quantity::parse);
    let divisible = page
        .is_some_and(|p| p.sign() > 0 && p.milli_value() % 1000 == 0 && q.value() % p.value() == 0);
    (!divisible).then(|| {
        format!(
            "{} is not positive integer multiple of {name}",
            q.to_canonical_string()
        )
    })
}

/// A container's (or the pod overhead's) `resources`: names, values, requests ≤ limits,
/// hugepages rules and resource claims.
pub(crate) fn validate_resource_requirements(
    node: &Node,
    pod_claim_names: &BTreeSet<String>,
    errs: &mut Vec<FieldError>,
) {
    let limits_node = node.field("limits");
    let requests_node = node.field("requests");
    let limits = read_resource_list(&limits_node, errs);
    let requests = read_resource_list(&requests_node, errs);
    let (mut lim_cpu_mem, mut req_cpu_mem, mut hugepages) = (false, false, false);
    for (name, path, q) in &limits {
        validate_container_resource_name(path, name, errs);
        validate_resource_quantity_value(path, name, q, errs);
        if is_hugepages(name) {
            hugepages = true;
            if let Some(msg) = hugepages_error(name, q) {
                errs.push(FieldError::invalid(
                    path,
                    &Value::from(q.to_canonical_string()),
                    &msg,
                ));
            }
        }
        lim_cpu_mem |= *name == "cpu" || *name == "memory";
    }
    for (name, path, q) in &requests {
        validate_container_resource_name(path, name, errs);
        validate_resource_quantity_value(path, name, q, errs);
        let shown = Value::from(q.to_canonical_string());
        match limits.iter().find(|(l, _, _)| l == name) {
            Some((_, _, limit)) => {
                if q != limit && !is_overcommit_allowed(name) {
                    errs.push(FieldError::invalid(
                        requests_node.path(),
                        &shown,
                        &format!("must be equal to {name} limit of {limit}"),
                    ));
                } else if q > limit {
                    errs.push(FieldError::invalid(
                        requests_node.path(),
                        &shown,
                        &format!("must be less than or equal to {name} limit of {limit}"),
                    ));
                }
            }
            None if !is_overcommit_allowed(name) => errs.push(FieldError::required(
                limits_node.path(),
                "Limit must be set for non overcommitable resources",
            )),
            None => {}
        }
        if is_hugepages(name) {
            hugepages = true;
            if let Some(msg) = hugepages_error(name, q) {
                errs.push(FieldError::invalid(path, &shown, &msg));
            }
        }
        req_cpu_mem |= *name == "cpu" || *name == "memory";
    }
    if hugepages && !lim_cpu_mem && !req_cpu_mem {
        errs.push(FieldError::forbidden(
            node.path(),
            "HugePages require cpu or memory",
        ));
    }
    validate_resource_claim_names(&node.field("claims"), pod_claim_names, errs);
}

fn validate_resource_claim_names(
    claims: &Node,
    pod_claim_names: &BTreeSet<String>,
    errs: &mut Vec<FieldError>,
) {
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for claim in claims.items(errs) {
        let name = claim.field("name").str(errs);
        if name.is_empty() {
            errs.push(FieldError::required(claim.path(), ""));
            continue;
        }
        let request_node = claim.field("request");
        let request = request_node.str(errs);
        if seen.contains(name) {
            errs.push(FieldError::duplicate(claim.path(), &Value::from(name)));
        } else {
            let mut key = name.to_string();
            if !request.is_empty() {
                errs.extend(invalid_each(
                    request_node.path(),
                    request,
                    dns1123_label_errors(request),
                ));
                key = format!("{name}/{request}");
            }
            if seen.contains(&key) {
                errs.push(FieldError::duplicate(
                    claim.path(),
                    &Value::from(key.as_str()),
                ));
            } else if request.is_empty()
                && seen
                    .iter()
                    .any(|k| k.split_once('/').is_some_and(|(n, _)| n == name))
            {
                errs.push(FieldError::duplicate(claim.path(), &Value::from(name)));
            }
            seen.insert(key);
        }
        if !pod_claim_names.contains(name) {
            let detail = if pod_claim_names.is_empty() {
                "must be one of the names in pod.spec.resourceClaims which is empty".to_string()
            } else {
                let names: Vec<&str> = pod_claim_names.iter().map(String::as_str).collect();
                format!(
                    "must be one of the names in pod.spec.resourceClaims: {}",
                    names.join(", ")
                )
            };
            let base = FieldError::not_found(claim.path(), &Value::from(name));
            errs.push(FieldError {
                message: format!("{}: {detail}", base.message),
                ..base
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(resources: Value) -> Vec<String> {
        let mut errs = Vec::new();
        let node = Node::new(&resources, Path::root("resources"));
        validate_resource_requirements(&node, &BTreeSet::new(), &mut errs);
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn requests_must_not_exceed_limits() {
        assert!(check(json!({"limits": {"cpu": "1"}, "requests": {"cpu": "500m"}})).is_empty());
        assert_eq!(
            check(json!({"limits": {"cpu": "500m"}, "requests": {"cpu": "1"}})),
            vec![
                "resources.requests: Invalid value: \"1\": must be less than or equal to cpu limit of 500m"
            ]
        );
        assert_eq!(
            check(json!({"limits": {"memory": "-1"}})),
            vec![
                "resources.limits[memory]: Invalid value: \"-1\": must be greater than or equal to 0"
            ]
        );
    }

    #[test]
    fn names_and_extended_resources() {
        assert_eq!(
            check(json!({"limits": {"foo": "1"}})),
            vec![
                "resources.limits[foo]: Invalid value: \"foo\": must be a standard resource type or fully qualified",
                "resources.limits[foo]: Invalid value: \"foo\": must be a standard resource for containers",
            ]
        );
        assert_eq!(
            check(json!({"requests": {"example.com/gpu": "1"}})),
            vec![
                "resources.limits: Required value: Limit must be set for non overcommitable resources"
            ]
        );
        assert_eq!(
            check(json!({"limits": {"example.com/gpu": "500m"}})),
            vec!["resources.limits[example.com/gpu]: Invalid value: \"500m\": must be an integer"]
        );
        assert_eq!(
            check(json!({"limits": {"hugepages-2Mi": "3Mi"}})),
            vec![
                "resources.limits[hugepages-2Mi]: Invalid value: \"3Mi\": 3Mi is not positive integer multiple of hugepages-2Mi",
                "resources: Forbidden: HugePages require cpu or memory",
            ]
        );
        assert_eq!(check(json!({"limits": {"cpu": "lots"}})).len(), 1);
    }
}
