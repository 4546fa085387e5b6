//! The disruption controller: the status of every PodDisruptionBudget, as upstream's
//! (`pkg/controller/disruption`) computes it — `expectedPods`, `currentHealthy`,
//! `desiredHealthy`, `disruptionsAllowed`, `observedGeneration`, the `DisruptionAllowed`
//! condition (`SufficientPods` / `InsufficientPods`, `SyncFailed` when the budget cannot be
//! computed) and the bookkeeping of `disruptedPods` that the eviction subresource records.
//!
//! A budget is recomputed when it or any pod of its namespace changes, and when a pod
//! recorded as disrupted should have been deleted by now. Pods and their controllers are
//! read from the watch cache.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::Method;
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::{Context, ReconcileError, retry_later};
use crate::api::auth::UserInfo;
use crate::api::cache::CachedObject;
use crate::api::handlers::eviction::is_ready;
use crate::api::local;
use crate::api::object;
use crate::api::selector::LabelSelector;

/// How long a pod recorded by an eviction is expected to take to be deleted (upstream's
/// `DeletionTimeout`).
const DELETION_TIMEOUT: i64 = 120;

fn user() -> UserInfo {
    UserInfo::system("disruption-controller")
}

fn int(value: &Value, pointer: &str) -> i64 {
    value.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn reference(kind: &str, api_version: &str, value: &Value) -> ObjectReference {
    ObjectReference {
        api_version: Some(api_version.into()),
        kind: Some(kind.into()),
        name: Some(object::name(value).to_string()),
        namespace: object::namespace(value).map(str::to_string),
        uid: Some(object::uid(value).to_string()),
        resource_version: object::resource_version(value).map(str::to_string),
        field_path: None,
    }
}

/// Upstream's `GetScaledValueFromIntOrPercent` (rounding up).
fn scaled(value: &Value, total: i64) -> Result<i64, String> {
    match value {
        Value::Number(n) => Ok(n.as_i64().unwrap_or(0)),
        Value::String(s) => {
            let percent: i64 = s
                .strip_suffix('%')
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| format!("invalid value for IntOrString: invalid value {s:?}"))?;
            Ok((percent * total + 99) / 100)
        }
        _ => Ok(0),
    }
}

/// Go's `%v` of a `*metav1.LabelSelector`, as upstream's `UnmanagedPods` event prints it.
fn go_selector(selector: &Value) -> String {
    let labels: Vec<String> = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}: {},", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let expressions: Vec<String> = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|e| {
                    let values: Vec<&str> = e
                        .get("values")
                        .and_then(Value::as_array)
                        .map(|v| v.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    format!(
                        "LabelSelectorRequirement{{Key:{},Operator:{},Values:[{}],}}",
                        e.get("key").and_then(Value::as_str).unwrap_or_default(),
                        e.get("operator")
                            .and_then(Value::as_str)
                            .unwrap_or_default(),
                        values.join(" ")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    format!(
        "&LabelSelector{{MatchLabels:map[string]string{{{}}},MatchExpressions:[]LabelSelectorRequirement{{{}}},}}",
        labels.join(""),
        expressions.join(",")
    )
}

/// The pods a budget covers: none without a selector, all of the namespace with an empty
/// one.
fn pods_for(ctx: &Context, pdb: &Value, namespace: &str) -> Vec<Value> {
    let Some(selector) = pdb.pointer("/spec/selector").filter(|s| !s.is_null()) else {
        return Vec::new();
    };
    let Ok(selector) = LabelSelector::from_object(selector) else {
        return Vec::new();
    };
    let Some(pods) = ctx.api.registry.get("", "v1", "pods") else {
        return Vec::new();
    };
    ctx.api
        .cache
        .list(
            &pods.list_prefix(Some(namespace)),
            &Default::default(),
            None,
            None,
        )
        .objects
        .into_iter()
        .filter(|p| selector.matches_with(|k| p.label(k)))
        .map(|p| p.value())
        .collect()
}

fn cached(ctx: &Context, group: &str, plural: &str, namespace: &str, name: &str) -> Option<Value> {
    let info = ctx
        .api
        .registry
        .all()
        .into_iter()
        .find(|i| i.group == group && i.plural == plural)?;
    ctx.api
        .cache
        .get(&info.key(Some(namespace), name))
        .map(|c: Arc<CachedObject>| c.value())
}

fn controller_of(value: &Value) -> Option<&Value> {
    value
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
}

fn field<'a>(value: &'a Value, name: &str) -> &'a str {
    value.get(name).and_then(Value::as_str).unwrap_or_default()
}

/// The controller of a pod and its scale (upstream's finders: ReplicationController,
/// Deployment through its ReplicaSet, ReplicaSet, StatefulSet, anything with a scale).
fn scale_of(ctx: &Context, reference: &Value, namespace: &str) -> Option<(String, i64)> {
    let (api_version, kind, name, uid) = (
        field(reference, "apiVersion"),
        field(reference, "kind"),
        field(reference, "name"),
        field(reference, "uid"),
    );
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let replicas = |v: &Value| {
        v.pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1)
    };
    let found = |v: Value| (object::uid(&v) == uid).then_some(v);
    match (group, kind) {
        ("", "ReplicationController") => {
            let rc = found(cached(ctx, "", "replicationcontrollers", namespace, name)?)?;
            Some((uid.to_string(), replicas(&rc)))
        }
        ("apps", "ReplicaSet") => {
            let rs = found(cached(ctx, "apps", "replicasets", namespace, name)?)?;
            if let Some(owner) = controller_of(&rs).filter(|o| field(o, "kind") == "Deployment") {
                let deployment =
                    cached(ctx, "apps", "deployments", namespace, field(owner, "name"))?;
                if object::uid(&deployment) != field(owner, "uid") {
                    return None;
                }
                return Some((object::uid(&deployment).to_string(), replicas(&deployment)));
            }
            Some((uid.to_string(), replicas(&rs)))
        }
        ("apps", "StatefulSet") => {
            let set = found(cached(ctx, "apps", "statefulsets", namespace, name)?)?;
            Some((uid.to_string(), replicas(&set)))
        }
        _ => {
            let version = api_version.rsplit_once('/').map_or(api_version, |(_, v)| v);
            let info = ctx.api.registry.by_kind(group, version, kind)?;
            info.subresource("scale")?;
            let owner = found(ctx.api.cache.get(&info.key(Some(namespace), name))?.value())?;
            let path = info
                .custom
                .as_ref()
                .and_then(|c| c.scale.as_ref())
                .map_or(".spec.replicas".to_string(), |s| s.spec_replicas.clone());
            let pointer = path.trim_start_matches('.').replace('.', "/");
            let count = owner
                .pointer(&format!("/{pointer}"))
                .and_then(Value::as_i64)?;
            Some((uid.to_string(), count))
        }
    }
}

/// Upstream's `getExpectedScale`: the summed scale of the pods' controllers, and the pods
/// that have none.
fn expected_scale(
    ctx: &Context,
    pods: &[Value],
    namespace: &str,
) -> Result<(i64, Vec<String>), String> {
    let mut scales: HashMap<String, i64> = HashMap::new();
    let mut unmanaged = Vec::new();
    for pod in pods {
        let Some(reference) = controller_of(pod) else {
            unmanaged.push(object::name(pod).to_string());
            continue;
        };
        if scales.contains_key(field(reference, "uid")) {
            continue;
        }
        match scale_of(ctx, reference, namespace) {
            Some((uid, scale)) => {
                scales.insert(uid, scale);
            }
            None => {
                return Err(format!(
                    "found no controllers for pod {:?}",
                    object::name(pod)
                ));
            }
        }
    }
    Ok((scales.values().sum(), unmanaged))
}

/// Upstream's `getExpectedPodCount`: `(expectedPods, desiredHealthy, unmanaged pods)`.
fn expected_counts(
    ctx: &Context,
    pdb: &Value,
    pods: &[Value],
    namespace: &str,
) -> Result<(i64, i64, Vec<String>), String> {
    let spec = pdb.get("spec").cloned().unwrap_or(Value::Null);
    if let Some(max) = spec.get("maxUnavailable").filter(|v| !v.is_null()) {
        let (expected, unmanaged) = expected_scale(ctx, pods, namespace)?;
        let max = scaled(max, expected)?;
        return Ok((expected, (expected - max).max(0), unmanaged));
    }
    match spec.get("minAvailable") {
        Some(Value::Number(n)) => {
            let pods = i64::try_from(pods.len()).unwrap_or(i64::MAX);
            Ok((pods, n.as_i64().unwrap_or(0), Vec::new()))
        }
        Some(min @ Value::String(_)) => {
            let (expected, unmanaged) = expected_scale(ctx, pods, namespace)?;
            Ok((expected, scaled(min, expected)?, unmanaged))
        }
        _ => Ok((0, 0, Vec::new())),
    }
}

/// Upstream's `apimeta.SetStatusCondition` for the `DisruptionAllowed` condition.
fn set_condition(
    conditions: &mut Vec<Value>,
    status: &str,
    reason: &str,
    message: &str,
    observed: i64,
) {
    let existing = conditions
        .iter()
        .position(|c| c.get("type").and_then(Value::as_str) == Some("DisruptionAllowed"));
    let transition = match existing.map(|i| &conditions[i]) {
        Some(c) if field(c, "status") == status => c
            .get("lastTransitionTime")
            .cloned()
            .unwrap_or_else(|| json!(object::now())),
        _ => json!(object::now()),
    };
    let condition = json!({"type": "DisruptionAllowed", "status": status, "reason": reason,
        "message": message, "observedGeneration": observed, "lastTransitionTime": transition});
    match existing {
        Some(i) => conditions[i] = condition,
        None => conditions.push(condition),
    }
}

fn conditions_of(pdb: &Value) -> Vec<Value> {
    pdb.pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Writes `status` through the status subresource, unless it is what the budget has.
async fn write_status(ctx: &Context, pdb: &Value, status: Value) -> Result<Action, ReconcileError> {
    if pdb.get("status") == Some(&status) {
        return Ok(Action::await_change());
    }
    let mut updated = pdb.clone();
    updated["status"] = status;
    let uri = format!(
        "/apis/policy/v1/namespaces/{}/poddisruptionbudgets/{}/status",
        object::namespace(pdb).unwrap_or_default(),
        object::name(pdb)
    );
    let (code, body) = local::request(
        &ctx.api,
        &user(),
        Method::PUT,
        &uri,
        "application/json",
        Bytes::from(updated.to_string()),
    )
    .await;
    match code {
        200..=299 | 404 => Ok(Action::await_change()),
        // An eviction or our own earlier write got there first: compute again.
        409 => Ok(Action::requeue(Duration::from_millis(100))),
        _ => Err(ReconcileError::Request(format!(
            "updating the status of PodDisruptionBudget {}: HTTP {code}: {}",
            object::name(pdb),
            String::from_utf8_lossy(&body)
        ))),
    }
}

async fn reconcile(
    budget: Arc<PodDisruptionBudget>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let namespace = budget.metadata.namespace.clone().unwrap_or_default();
    let name = budget.metadata.name.clone().unwrap_or_default();
    let Some(info) = ctx.api.registry.get("policy", "v1", "poddisruptionbudgets") else {
        return Ok(Action::await_change());
    };
    // The freshest copy: evictions write the budget directly.
    let Some(pdb) = ctx
        .api
        .cache
        .get(&info.key(Some(&namespace), &name))
        .map(|c| c.value())
    else {
        return Ok(Action::await_change());
    };
    if object::is_deleting(&pdb) {
        return Ok(Action::await_change());
    }
    let about = reference("PodDisruptionBudget", "policy/v1", &pdb);
    let generation = int(&pdb, "/metadata/generation");
    let pods = pods_for(&ctx, &pdb, &namespace);
    if pods.is_empty() {
        ctx.events
            .normal(&about, "NoPods", "No matching pods found");
    }
    let (expected, desired, unmanaged) = match expected_counts(&ctx, &pdb, &pods, &namespace) {
        Ok(counts) => counts,
        Err(error) => {
            ctx.events.warning(
                &about,
                "CalculateExpectedPodCountFailed",
                &format!("Failed to calculate the number of expected pods: {error}"),
            );
            // Upstream's fail-safe: no disruption allowed while the budget is unknown.
            let mut status = pdb.get("status").cloned().unwrap_or_else(|| json!({}));
            status["disruptionsAllowed"] = json!(0);
            let mut conditions = conditions_of(&pdb);
            set_condition(
                &mut conditions,
                "False",
                "SyncFailed",
                &error,
                int(&pdb, "/status/observedGeneration"),
            );
            status["conditions"] = json!(conditions);
            write_status(&ctx, &pdb, status).await?;
            return Err(ReconcileError::Request(error));
        }
    };
    if !unmanaged.is_empty() {
        let selector = pdb
            .pointer("/spec/selector")
            .cloned()
            .unwrap_or(Value::Null);
        ctx.events.warning(
            &about,
            "UnmanagedPods",
            &format!(
                "Pods selected by this PodDisruptionBudget (selector: {}) were found to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. To account for these pods please set \".spec.minAvailable\" field of the PDB to an integer value.",
                go_selector(&selector)
            ),
        );
    }
    // Upstream's `buildDisruptedPodMap`: pods an eviction is deleting, until they go.
    let now = object::unix_now();
    let recorded: BTreeMap<String, Value> = pdb
        .pointer("/status/disruptedPods")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let mut disrupted = serde_json::Map::new();
    let mut recheck: Option<i64> = None;
    for pod in &pods {
        if object::is_deleting(pod) {
            continue;
        }
        let Some(at) = recorded.get(object::name(pod)) else {
            continue;
        };
        let Some(since) = at.as_str().and_then(object::parse_time) else {
            continue;
        };
        let due = since + DELETION_TIMEOUT;
        if due < now {
            ctx.events.warning(
                &reference("Pod", "v1", pod),
                "NotDeleted",
                &format!("Pod was expected by PDB {namespace}/{name} to be deleted but it wasn't"),
            );
        } else {
            recheck = Some(recheck.map_or(due, |r| r.min(due)));
            disrupted.insert(object::name(pod).to_string(), at.clone());
        }
    }
    let healthy = pods
        .iter()
        .filter(|p| {
            !object::is_deleting(p) && !disrupted.contains_key(object::name(p)) && is_ready(p)
        })
        .count();
    let healthy = i64::try_from(healthy).unwrap_or(i64::MAX);
    let mut allowed = healthy - desired;
    if expected <= 0 || allowed <= 0 {
        allowed = 0;
    }
    let mut status = json!({
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "expectedPods": expected,
        "disruptionsAllowed": allowed,
        "observedGeneration": generation,
    });
    if !disrupted.is_empty() {
        status["disruptedPods"] = Value::Object(disrupted);
    }
    let mut conditions = conditions_of(&pdb);
    if allowed > 0 {
        set_condition(&mut conditions, "True", "SufficientPods", "", generation);
    } else {
        set_condition(&mut conditions, "False", "InsufficientPods", "", generation);
    }
    status["conditions"] = json!(conditions);
    let action = write_status(&ctx, &pdb, status).await?;
    Ok(match recheck {
        Some(due) => Action::requeue(Duration::from_secs(
            u64::try_from(due - now).unwrap_or(0) + 1,
        )),
        None => action,
    })
}

/// The controller; it subscribes to the shared pod events at once, the rest runs when
/// polled.
pub fn run(ctx: Context, shutdown: CancellationToken) -> impl Future<Output = ()> + Send + 'static {
    let pods = ctx.pods.subscribe();
    async move {
        let budgets: Api<PodDisruptionBudget> = Api::all(ctx.client.clone());
        let controller = Controller::new(budgets, watcher::Config::default());
        let store = controller.store();
        controller
            .watches_shared_stream(pods, move |pod: Arc<Pod>| {
                let namespace = pod.metadata.namespace.clone();
                store
                    .state()
                    .into_iter()
                    .filter(|b| b.metadata.namespace == namespace)
                    .map(|b| ObjectRef::from_obj(&*b))
                    .collect::<Vec<_>>()
            })
            .graceful_shutdown_on(async move { shutdown.cancelled().await })
            .run(reconcile, retry_later, Arc::new(ctx))
            .for_each(|_| async {})
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_up() {
        assert_eq!(scaled(&json!("50%"), 3), Ok(2));
        assert_eq!(scaled(&json!("10%"), 10), Ok(1));
        assert_eq!(scaled(&json!(2), 10), Ok(2));
        assert!(scaled(&json!("x"), 10).is_err());
    }

    #[test]
    fn selectors_print_as_go_does() {
        assert_eq!(
            go_selector(&json!({"matchLabels": {"app": "web"}})),
            "&LabelSelector{MatchLabels:map[string]string{app: web,},MatchExpressions:[]LabelSelectorRequirement{},}"
        );
    }

    #[test]
    fn the_condition_keeps_its_transition_time() {
        let mut conditions = vec![json!({"type": "DisruptionAllowed", "status": "False",
            "reason": "InsufficientPods", "lastTransitionTime": "2020-01-01T00:00:00Z"})];
        set_condition(&mut conditions, "False", "InsufficientPods", "", 2);
        assert_eq!(conditions[0]["lastTransitionTime"], "2020-01-01T00:00:00Z");
        assert_eq!(conditions[0]["observedGeneration"], 2);
        set_condition(&mut conditions, "True", "SufficientPods", "", 2);
        assert_ne!(conditions[0]["lastTransitionTime"], "2020-01-01T00:00:00Z");
    }
}
