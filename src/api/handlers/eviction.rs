//! PodDisruptionBudgets at the `pods/eviction` subresource, as upstream's eviction REST
//! handler: an eviction that would leave a budget short is refused with 429
//! (`Cannot evict pod as it would violate the pod's disruption budget.`, cause
//! `DisruptionBudget`); an allowed one takes one from `status.disruptionsAllowed` and
//! records the pod in `status.disruptedPods` before the pod is deleted.
//!
//! # Guarantees
//! The budget is decremented with compare-and-swap, retried on conflict against the
//! stored budget, so concurrent evictions cannot spend the same disruption twice.

use serde_json::{Value, json};

use super::Ctx;
use super::write::current;
use crate::api::object;
use crate::api::selector::LabelSelector;
use crate::api::status::ApiError;
use crate::store;

/// Conflicts tolerated while decrementing a budget.
const ATTEMPTS: usize = 20;
/// Upstream's `MaxDisruptedPodSize`.
const MAX_DISRUPTED_PODS: usize = 2000;
const REFUSED: &str = "Cannot evict pod as it would violate the pod's disruption budget.";

/// 429 with a `DisruptionBudget` cause.
fn too_many_requests(cause: String) -> ApiError {
    ApiError {
        code: 429,
        reason: "TooManyRequests",
        message: REFUSED.to_string(),
        details: Some(json!({"causes": [{"reason": "DisruptionBudget", "message": cause}]})),
    }
}

/// Upstream's `createTooManyRequestsError`: the budget is not processed yet.
pub(crate) fn budget_pending(name: &str) -> ApiError {
    too_many_requests(format!(
        "The disruption budget {name} is still being processed by the server."
    ))
}

fn pdb_forbidden(name: &str, why: &str) -> ApiError {
    ApiError {
        code: 403,
        reason: "Forbidden",
        message: format!("poddisruptionbudget.policy {name:?} is forbidden: {why}"),
        details: Some(json!({"name": name, "group": "policy", "kind": "poddisruptionbudget"})),
    }
}

fn phase(pod: &Value) -> &str {
    pod.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

pub(crate) fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|conditions| {
            conditions.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Ready")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

fn int(value: &Value, pointer: &str) -> i64 {
    value.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// The budgets whose (non-empty) selector matches the pod's labels.
fn budgets_for(ctx: &Ctx<'_>, pod: &Value) -> Vec<(String, Value)> {
    let Some(info) = ctx
        .state
        .registry
        .get("policy", "v1", "poddisruptionbudgets")
    else {
        return Vec::new();
    };
    let namespace = object::namespace(pod).unwrap_or_default();
    let labels: std::collections::BTreeMap<String, String> = pod
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    ctx.state
        .cache
        .list(
            &info.list_prefix(Some(namespace)),
            &Default::default(),
            None,
            None,
        )
        .objects
        .into_iter()
        .filter_map(|cached| {
            let pdb = cached.value();
            let selector = LabelSelector::from_object(pdb.pointer("/spec/selector")?).ok()?;
            // A budget with an empty selector matches nothing here.
            (!selector.is_empty() && selector.matches(&labels)).then(|| (cached.key.clone(), pdb))
        })
        .collect()
}

/// The resourceVersion a pod must still have when it is deleted, because the eviction was
/// allowed for the pod as it was then; `budget` names the budget that decided.
pub(crate) struct Pin {
    pub resource_version: String,
    pub budget: Option<String>,
}

/// Checks the pod's disruption budget and, when it allows the eviction, takes one
/// disruption from it (unless `dry_run`). Answers how the pod must still be when it is
/// deleted, if the decision depended on it.
///
/// # Errors
/// 429 when the budget allows no disruption (or has not been processed yet); 500 when
/// several budgets cover the pod; 404 when the pod does not exist.
pub(crate) async fn check_budgets(
    ctx: &Ctx<'_>,
    pod_key: &str,
    dry_run: bool,
) -> Result<Option<Pin>, ApiError> {
    let Some((kv, pod)) = current(ctx, pod_key).await? else {
        return Err(ApiError::not_found(ctx.info.subject(), ctx.name()));
    };
    let pod_rv = kv.mod_revision.to_string();
    let terminal = matches!(phase(&pod), "Succeeded" | "Failed");
    // Pods that are done, not started or already going need no budget.
    if terminal || phase(&pod) == "Pending" || object::is_deleting(&pod) {
        let enforce = !terminal && !object::is_deleting(&pod);
        return Ok(enforce.then_some(Pin {
            resource_version: pod_rv,
            budget: None,
        }));
    }
    let mut budgets = budgets_for(ctx, &pod);
    if budgets.len() > 1 {
        return Err(ApiError::new(
            500,
            "",
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
        ));
    }
    let Some((key, mut pdb)) = budgets.pop() else {
        return Ok(None);
    };
    let name = object::name(&pdb).to_string();
    let ready = is_ready(&pod);
    if !ready {
        let always = pdb
            .pointer("/spec/unhealthyPodEvictionPolicy")
            .and_then(Value::as_str)
            == Some("AlwaysAllow");
        let desired = int(&pdb, "/status/desiredHealthy");
        if always || (int(&pdb, "/status/currentHealthy") >= desired && desired > 0) {
            return Ok(Some(Pin {
                resource_version: pod_rv,
                budget: Some(name),
            }));
        }
    }
    let mut revision = ctx.state.cache.get(&key).map_or(0, |c| c.revision);
    for attempt in 0..ATTEMPTS {
        if attempt > 0 || revision == 0 {
            let Some((stored, fresh)) = current(ctx, &key).await? else {
                return Ok(None);
            };
            revision = stored.mod_revision;
            pdb = fresh;
        }
        let generation = pdb
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if int(&pdb, "/status/observedGeneration") < generation {
            return Err(budget_pending(&name));
        }
        let allowed = int(&pdb, "/status/disruptionsAllowed");
        if allowed < 0 {
            return Err(pdb_forbidden(&name, "pdb disruptions allowed is negative"));
        }
        let disrupted = pdb
            .pointer("/status/disruptedPods")
            .and_then(Value::as_object)
            .map_or(0, serde_json::Map::len);
        if disrupted > MAX_DISRUPTED_PODS {
            return Err(pdb_forbidden(
                &name,
                "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
            ));
        }
        if allowed == 0 {
            return Err(too_many_requests(format!(
                "The disruption budget {name} needs {} healthy pods and has {} currently",
                int(&pdb, "/status/desiredHealthy"),
                int(&pdb, "/status/currentHealthy")
            )));
        }
        if dry_run {
            return Ok(None);
        }
        let mut updated = pdb.clone();
        updated["status"]["disruptionsAllowed"] = json!(allowed - 1);
        if allowed == 1 {
            set_insufficient(&mut updated);
        }
        if !updated["status"]
            .get("disruptedPods")
            .is_some_and(Value::is_object)
        {
            updated["status"]["disruptedPods"] = json!({});
        }
        updated["status"]["disruptedPods"][object::name(&pod)] = json!(object::now());
        match ctx
            .state
            .store
            .update(&key, object::for_storage(&updated).into(), revision)
            .await
        {
            Ok(_) => return Ok(None),
            Err(store::Error::Conflict { .. }) => continue,
            Err(store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(ApiError::from_store(e)),
        }
    }
    Err(ApiError::timeout(format!(
        "couldn't update PodDisruptionBudget {name:?} due to conflicts"
    )))
}

/// The `DisruptionAllowed` condition once no disruption is left (upstream's
/// `UpdateDisruptionAllowedCondition`).
fn set_insufficient(pdb: &mut Value) {
    let observed = int(pdb, "/status/observedGeneration");
    let mut conditions: Vec<Value> = pdb
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let existing = conditions
        .iter()
        .position(|c| c.get("type").and_then(Value::as_str) == Some("DisruptionAllowed"));
    let transition = match existing.map(|i| &conditions[i]) {
        Some(c) if c.get("status").and_then(Value::as_str) == Some("False") => c
            .get("lastTransitionTime")
            .cloned()
            .unwrap_or(json!(object::now())),
        _ => json!(object::now()),
    };
    let condition = json!({"type": "DisruptionAllowed", "status": "False",
        "reason": "InsufficientPods", "message": "", "observedGeneration": observed,
        "lastTransitionTime": transition});
    match existing {
        Some(i) => conditions[i] = condition,
        None => conditions.push(condition),
    }
    pdb["status"]["conditions"] = json!(conditions);
}
