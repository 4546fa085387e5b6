//! LimitRange admission, as upstream's `LimitRanger` plugin: a new pod's containers get the
//! namespace's default requests and limits where they state none (recorded in the
//! `kubernetes.io/limit-ranger` annotation), then pods and PersistentVolumeClaims are checked
//! against the min, max and maxLimitRequestRatio of each LimitRange, refused with 403 worded
//! as upstream (`maximum cpu usage per Container is 500m, but limit is 1`).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::quota::forbidden;
use super::quota_usage::{self as usage, ResourceList, pod_resources, read_list};
use super::validation::Quantity;
use crate::api::handlers::Ctx;
use crate::api::object;
use crate::api::status::ApiError;

const ANNOTATION: &str = "kubernetes.io/limit-ranger";
/// Upstream's `resource.MaxMilliValue`.
const MAX_MILLI_VALUE: i64 = i64::MAX / 1000;

/// The LimitRanges of `namespace`, by name.
fn limit_ranges(ctx: &Ctx<'_>, namespace: &str) -> Vec<Value> {
    let Some(prefix) = usage::list_prefix(ctx.state, "", "limitranges", namespace) else {
        return Vec::new();
    };
    ctx.state
        .cache
        .list(&prefix, &Default::default(), None, None)
        .objects
        .into_iter()
        .map(|c| c.value())
        .collect()
}

fn limits(range: &Value) -> Vec<&Value> {
    range
        .pointer("/spec/limits")
        .and_then(Value::as_array)
        .map(|l| l.iter().collect())
        .unwrap_or_default()
}

fn limit_type(item: &Value) -> &str {
    item.get("type").and_then(Value::as_str).unwrap_or_default()
}

/// Waits until the watch cache holds every committed LimitRange, before a pod or claim is
/// admitted (one created a moment ago must apply).
///
/// # Errors
/// 504 when the cache lags by more than a few seconds.
pub async fn wait_for_cache(ctx: &Ctx<'_>) -> Result<(), ApiError> {
    let pod_or_claim = ctx.info.group.is_empty()
        && matches!(ctx.info.kind.as_str(), "Pod" | "PersistentVolumeClaim");
    if !pod_or_claim || ctx.path.subresource.is_some() {
        return Ok(());
    }
    ctx.state
        .cache
        .wait_fresh(ctx.state.store.as_ref())
        .await
        .map(|_| ())
        .map_err(|e| {
            ApiError::timeout(format!(
                "the LimitRanges of the namespace cannot be read: {e}"
            ))
        })
}

/// Applies defaults to a pod being created and checks pods and claims; `old` is the stored
/// object of an update.
///
/// # Errors
/// 403 naming every violated constraint of the first LimitRange the object breaks.
pub fn admit(ctx: &Ctx<'_>, object: &mut Value, old: Option<&Value>) -> Result<(), ApiError> {
    if ctx.path.subresource.is_some() || !ctx.info.group.is_empty() {
        return Ok(());
    }
    let pod = ctx.info.kind == "Pod";
    let claim = ctx.info.kind == "PersistentVolumeClaim";
    // Pod containers cannot change after creation: pods are only admitted on create.
    if !(pod && old.is_none() || claim) {
        return Ok(());
    }
    if old.is_some_and(object::is_deleting) {
        return Ok(());
    }
    let Some(namespace) = ctx.namespace() else {
        return Ok(());
    };
    let ranges = limit_ranges(ctx, namespace);
    if pod {
        for range in &ranges {
            apply_defaults(range, object);
        }
    }
    for range in &ranges {
        let errors = if pod {
            validate_pod(range, object)
        } else {
            validate_claim(range, object)
        };
        match errors.len() {
            0 => {}
            1 => return Err(forbidden(ctx, object, &errors[0])),
            _ => {
                return Err(forbidden(ctx, object, &format!("[{}]", errors.join(", "))));
            }
        }
    }
    Ok(())
}

/// Upstream's `defaultContainerResourceRequirements`: the `Container` items' defaults.
fn container_defaults(range: &Value) -> (ResourceList, ResourceList) {
    let (mut requests, mut limits) = (ResourceList::new(), ResourceList::new());
    for item in limits_of_type(range, "Container") {
        requests.extend(read_list(item.get("defaultRequest")));
        limits.extend(read_list(item.get("default")));
    }
    (requests, limits)
}

fn limits_of_type<'a>(range: &'a Value, kind: &'a str) -> impl Iterator<Item = &'a Value> {
    limits(range)
        .into_iter()
        .filter(move |i| limit_type(i) == kind)
}

/// Upstream's `mergePodResourceRequirements`: fills in what containers leave unset, and
/// says so in the `kubernetes.io/limit-ranger` annotation.
fn apply_defaults(range: &Value, pod: &mut Value) {
    let (requests, limits) = container_defaults(range);
    if requests.is_empty() && limits.is_empty() {
        return;
    }
    let mut notes = Vec::new();
    for (field, label) in [
        ("containers", "container"),
        ("initContainers", "init container"),
    ] {
        let Some(list) = pod
            .pointer_mut(&format!("/spec/{field}"))
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for container in list {
            let name = container
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let set_limits = merge(container, "limits", &limits);
            let set_requests = merge(container, "requests", &requests);
            if !set_requests.is_empty() {
                notes.push(format!(
                    "{} request for {label} {name}",
                    set_requests.join(", ")
                ));
            }
            if !set_limits.is_empty() {
                notes.push(format!(
                    "{} limit for {label} {name}",
                    set_limits.join(", ")
                ));
            }
        }
    }
    if !notes.is_empty() {
        let meta = object::metadata_mut(pod);
        let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
        if !annotations.is_object() {
            *annotations = json!({});
        }
        annotations[ANNOTATION] = json!(format!("LimitRanger plugin set: {}", notes.join("; ")));
    }
}

/// Sets the defaults a container's `resources.<field>` lacks; the names set, sorted.
fn merge(container: &mut Value, field: &str, defaults: &ResourceList) -> Vec<String> {
    if defaults.is_empty() {
        return Vec::new();
    }
    if !container.get("resources").is_some_and(Value::is_object) {
        container["resources"] = json!({});
    }
    let resources = &mut container["resources"];
    if !resources.get(field).is_some_and(Value::is_object) {
        resources[field] = json!({});
    }
    let mut set = Vec::new();
    if let Some(list) = resources[field].as_object_mut() {
        for (name, q) in defaults {
            if !list.contains_key(name) {
                list.insert(name.clone(), json!(q.to_canonical_string()));
                set.push(name.clone());
            }
        }
    }
    set
}

/// Upstream's `requestLimitEnforcedValues`: values at a common precision (milli-units
/// unless that would overflow). A missing quantity counts as zero.
fn comparable(
    request: Option<&Quantity>,
    limit: Option<&Quantity>,
    enforced: &Quantity,
) -> (i64, i64, i64) {
    let value = |q: Option<&Quantity>| q.map_or(0, Quantity::value);
    let milli = |q: Option<&Quantity>| q.map_or(0, Quantity::milli_value);
    let (r, l, e) = (value(request), value(limit), enforced.value());
    if r <= MAX_MILLI_VALUE && l <= MAX_MILLI_VALUE && e <= MAX_MILLI_VALUE {
        (milli(request), milli(limit), enforced.milli_value())
    } else {
        (r, l, e)
    }
}

fn min_constraint(
    kind: &str,
    resource: &str,
    enforced: &Quantity,
    requests: &ResourceList,
    limits: &ResourceList,
) -> Option<String> {
    let (request, limit) = (requests.get(resource), limits.get(resource));
    let (r, l, e) = comparable(request, limit, enforced);
    let Some(request) = request else {
        return Some(format!(
            "minimum {resource} usage per {kind} is {enforced}.  No request is specified"
        ));
    };
    if r < e {
        return Some(format!(
            "minimum {resource} usage per {kind} is {enforced}, but request is {request}"
        ));
    }
    if let Some(limit) = limit
        && l < e
    {
        return Some(format!(
            "minimum {resource} usage per {kind} is {enforced}, but limit is {limit}"
        ));
    }
    None
}

fn max_constraint(
    kind: &str,
    resource: &str,
    enforced: &Quantity,
    requests: &ResourceList,
    limits: &ResourceList,
) -> Option<String> {
    let (request, limit) = (requests.get(resource), limits.get(resource));
    let (r, l, e) = comparable(request, limit, enforced);
    let Some(limit) = limit else {
        return Some(format!(
            "maximum {resource} usage per {kind} is {enforced}.  No limit is specified"
        ));
    };
    if l > e {
        return Some(format!(
            "maximum {resource} usage per {kind} is {enforced}, but limit is {limit}"
        ));
    }
    if let Some(request) = request
        && r > e
    {
        return Some(format!(
            "maximum {resource} usage per {kind} is {enforced}, but request is {request}"
        ));
    }
    None
}

/// Upstream's `maxRequestConstraint` (claims have no limits).
fn max_request_constraint(
    kind: &str,
    resource: &str,
    enforced: &Quantity,
    requests: &ResourceList,
) -> Option<String> {
    let request = requests.get(resource);
    let (r, _, e) = comparable(request, None, enforced);
    let Some(request) = request else {
        return Some(format!(
            "maximum {resource} usage per {kind} is {enforced}.  No request is specified"
        ));
    };
    (r > e).then(|| {
        format!("maximum {resource} usage per {kind} is {enforced}, but request is {request}")
    })
}

fn ratio_constraint(
    kind: &str,
    resource: &str,
    enforced: &Quantity,
    requests: &ResourceList,
    limits: &ResourceList,
) -> Option<String> {
    let (request, limit) = (requests.get(resource), limits.get(resource));
    let (r, l, _) = comparable(request, limit, enforced);
    if request.is_none() || r == 0 {
        return Some(format!(
            "{resource} max limit to request ratio per {kind} is {enforced}, but no request is specified or request is 0"
        ));
    }
    if limit.is_none() || l == 0 {
        return Some(format!(
            "{resource} max limit to request ratio per {kind} is {enforced}, but no limit is specified or limit is 0"
        ));
    }
    let observed = l as f64 / r as f64;
    let (scaled, max) = if enforced.value() <= MAX_MILLI_VALUE {
        (observed * 1000.0, enforced.milli_value() as f64)
    } else {
        (observed, enforced.value() as f64)
    };
    (scaled > max).then(|| {
        format!(
            "{resource} max limit to request ratio per {kind} is {enforced}, but provided ratio is {observed:.6}"
        )
    })
}

/// The min, max and ratio checks of one limit item against one set of requests and limits.
fn check_item(
    item: &Value,
    kind: &str,
    requests: &ResourceList,
    limits: &ResourceList,
) -> Vec<String> {
    let mut errors = Vec::new();
    let bounds = |field: &str| -> BTreeMap<String, Quantity> { read_list(item.get(field)) };
    for (resource, q) in bounds("min") {
        errors.extend(min_constraint(kind, &resource, &q, requests, limits));
    }
    for (resource, q) in bounds("max") {
        errors.extend(max_constraint(kind, &resource, &q, requests, limits));
    }
    for (resource, q) in bounds("maxLimitRequestRatio") {
        errors.extend(ratio_constraint(kind, &resource, &q, requests, limits));
    }
    errors
}

/// Upstream's `PodValidateLimitFunc`.
fn validate_pod(range: &Value, pod: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    for item in limits(range) {
        match limit_type(item) {
            "Container" => {
                for field in ["containers", "initContainers"] {
                    let Some(list) = pod
                        .pointer(&format!("/spec/{field}"))
                        .and_then(Value::as_array)
                    else {
                        continue;
                    };
                    for container in list {
                        let requests = read_list(container.pointer("/resources/requests"));
                        let limits = read_list(container.pointer("/resources/limits"));
                        errors.extend(check_item(item, "Container", &requests, &limits));
                    }
                }
            }
            "Pod" => {
                let requests = pod_resources(pod, "requests");
                let limits = pod_resources(pod, "limits");
                errors.extend(check_item(item, "Pod", &requests, &limits));
            }
            _ => {}
        }
    }
    errors
}

/// Upstream's `PersistentVolumeClaimValidateLimitFunc`: min and max of the storage request.
fn validate_claim(range: &Value, claim: &Value) -> Vec<String> {
    let requests = read_list(claim.pointer("/spec/resources/requests"));
    let mut errors = Vec::new();
    for item in limits_of_type(range, "PersistentVolumeClaim") {
        for (resource, q) in read_list(item.get("min")) {
            errors.extend(min_constraint(
                "PersistentVolumeClaim",
                &resource,
                &q,
                &requests,
                &ResourceList::new(),
            ));
        }
        for (resource, q) in read_list(item.get("max")) {
            errors.extend(max_request_constraint(
                "PersistentVolumeClaim",
                &resource,
                &q,
                &requests,
            ));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range() -> Value {
        json!({"spec": {"limits": [{
            "type": "Container",
            "default": {"cpu": "500m", "memory": "128Mi"},
            "defaultRequest": {"cpu": "250m", "memory": "64Mi"},
            "max": {"cpu": "500m"},
        }]}})
    }

    #[test]
    fn defaults_fill_what_containers_leave_out() {
        let mut pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "web"},
            {"name": "log", "resources": {"limits": {"cpu": "100m"}, "requests": {"cpu": "100m"}}},
        ]}});
        apply_defaults(&range(), &mut pod);
        assert_eq!(
            pod["spec"]["containers"][0]["resources"],
            json!({
                "limits": {"cpu": "500m", "memory": "128Mi"},
                "requests": {"cpu": "250m", "memory": "64Mi"},
            })
        );
        assert_eq!(
            pod["spec"]["containers"][1]["resources"]["limits"]["memory"],
            "128Mi"
        );
        assert_eq!(
            pod["metadata"]["annotations"][ANNOTATION],
            "LimitRanger plugin set: cpu, memory request for container web; cpu, memory limit for container web; memory request for container log; memory limit for container log"
        );
        assert!(validate_pod(&range(), &pod).is_empty());
    }

    #[test]
    fn violations_are_worded_as_upstream() {
        let pod = json!({"spec": {"containers": [
            {"name": "web", "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}},
        ]}});
        assert_eq!(
            validate_pod(&range(), &pod),
            vec!["maximum cpu usage per Container is 500m, but limit is 1".to_string()]
        );
        let ratio = json!({"spec": {"limits": [{"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}}]}});
        let pod = json!({"spec": {"containers": [
            {"name": "web", "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "250m"}}},
        ]}});
        assert_eq!(
            validate_pod(&ratio, &pod),
            vec![
                "cpu max limit to request ratio per Container is 2, but provided ratio is 4.000000"
                    .to_string()
            ]
        );
        let claims = json!({"spec": {"limits": [{"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}}]}});
        let claim = json!({"spec": {"resources": {"requests": {"storage": "500Mi"}}}});
        assert_eq!(
            validate_claim(&claims, &claim),
            vec![
                "minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi"
                    .to_string()
            ]
        );
    }
}
