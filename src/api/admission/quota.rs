//! ResourceQuota admission, as upstream's `ResourceQuota` plugin: a create (or, for
//! Services and PersistentVolumeClaims, an update) that would take a quota's usage past its
//! hard limit is refused with 403 (`pods "x" is forbidden: exceeded quota: q, requested:
//! pods=1, used: pods=2, limited: pods=2`); pods in a namespace whose quota tracks cpu or
//! memory must state them (`failed quota: q: must specify limits.cpu for: web`).
//!
//! # Guarantees
//! The check and the charge are one compare-and-swap on each quota's `status.used`, written
//! before the object: two requests racing for the last unit cannot both pass — the loser's
//! write fails, and it re-checks against the winner's usage, as upstream's quota evaluator
//! does. A charged object whose own write then fails stays charged until the ResourceQuota
//! controller recounts (it recounts on deletions and every few minutes).

use serde_json::{Value, json};

use super::quota_usage::{self as usage, Evaluator, ResourceList};
use crate::api::handlers::Ctx;
use crate::api::object;
use crate::api::status::ApiError;
use crate::store;

/// Re-checks after losing a race on a quota's usage.
const ATTEMPTS: usize = 8;

/// 403 as upstream's `admission.NewForbidden` words it: `<resource> "<name>" is forbidden:
/// <why>`.
pub(crate) fn forbidden(ctx: &Ctx<'_>, object: &Value, why: &str) -> ApiError {
    let subject = ctx.info.subject();
    let name = match object::name(object) {
        "" => object::meta_str(object, "generateName").unwrap_or("Unknown"),
        name => name,
    };
    let mut details = json!({"name": name, "kind": subject.plural});
    if !subject.group.is_empty() {
        details["group"] = json!(subject.group);
    }
    ApiError {
        code: 403,
        reason: "Forbidden",
        message: format!(
            "{} {name:?} is forbidden: {why}",
            subject.qualified_resource()
        ),
        details: Some(details),
    }
}

/// A quota of the namespace as admission sees it.
struct Quota {
    name: String,
    key: String,
    revision: i64,
    value: Value,
    hard: ResourceList,
    used: ResourceList,
}

impl Quota {
    fn from_value(key: String, revision: i64, value: Value) -> Quota {
        Quota {
            name: object::name(&value).to_string(),
            key,
            revision,
            hard: usage::read_list(value.pointer("/status/hard")),
            used: usage::read_list(value.pointer("/status/used")),
            value,
        }
    }
}

fn quotas_of(ctx: &Ctx<'_>, namespace: &str) -> Vec<Quota> {
    let Some(prefix) = usage::list_prefix(ctx.state, "", "resourcequotas", namespace) else {
        return Vec::new();
    };
    ctx.state
        .cache
        .list(&prefix, &Default::default(), None, None)
        .objects
        .into_iter()
        .map(|c| Quota::from_value(c.key.clone(), c.revision, c.value()))
        .collect()
}

async fn reload(ctx: &Ctx<'_>, key: &str) -> Result<Option<Quota>, ApiError> {
    let Some(kv) = ctx
        .state
        .store
        .get(key)
        .await
        .map_err(ApiError::from_store)?
    else {
        return Ok(None);
    };
    let value: Value = serde_json::from_slice(&kv.value)
        .map_err(|e| ApiError::internal(format!("stored quota {key} is corrupt: {e}")))?;
    Ok(Some(Quota::from_value(
        key.to_string(),
        kv.mod_revision,
        value,
    )))
}

/// The new usage of each quota `object` falls under, or why it may not be admitted
/// (upstream's `CheckRequest`).
fn check(
    ctx: &Ctx<'_>,
    evaluator: &Evaluator,
    quotas: &[Quota],
    object: &Value,
    old: Option<&Value>,
) -> Result<Vec<(usize, ResourceList)>, ApiError> {
    let mut interesting = Vec::new();
    for (i, quota) in quotas.iter().enumerate() {
        let selectors = usage::scope_selectors(&quota.value);
        if !evaluator.matches(&quota.hard, &selectors, object) {
            continue;
        }
        let restricted = evaluator.matching_resources(quota.hard.keys());
        if let Err(why) = evaluator.constraints(&restricted, object) {
            return Err(forbidden(
                ctx,
                object,
                &format!("failed quota: {}: {why}", quota.name),
            ));
        }
        if restricted.iter().any(|r| !quota.used.contains_key(r)) {
            let mut names = restricted.clone();
            names.sort();
            return Err(forbidden(
                ctx,
                object,
                &format!(
                    "status unknown for quota: {}, resources: {}",
                    quota.name,
                    names.join(",")
                ),
            ));
        }
        interesting.push(i);
    }
    if interesting.is_empty() {
        return Ok(Vec::new());
    }
    let now = object::unix_now();
    let input = evaluator.usage(object, now);
    let negative = usage::negative(&input);
    if !negative.is_empty() {
        return Err(forbidden(
            ctx,
            object,
            &format!(
                "quota usage is negative for resource(s): {}",
                negative.join(",")
            ),
        ));
    }
    let mut charges = Vec::new();
    for i in interesting {
        let quota = &quotas[i];
        let mut delta = input.clone();
        if let Some(old) = old {
            let selectors = usage::scope_selectors(&quota.value);
            if evaluator.matches(&quota.hard, &selectors, old) {
                delta = usage::subtract_non_negative(&input, &evaluator.usage(old, now));
            }
        }
        let delta = usage::remove_zeros(&delta);
        if delta.is_empty() {
            continue;
        }
        let requested = usage::mask(&delta, quota.hard.keys());
        if requested.is_empty() {
            continue;
        }
        let new_used = usage::add(&quota.used, &requested);
        let exceeded = usage::exceeded(&usage::mask(&new_used, requested.keys()), &quota.hard);
        if !exceeded.is_empty() {
            return Err(forbidden(
                ctx,
                object,
                &format!(
                    "exceeded quota: {}, requested: {}, used: {}, limited: {}",
                    quota.name,
                    usage::pretty_print(&usage::mask(&requested, &exceeded)),
                    usage::pretty_print(&usage::mask(&quota.used, &exceeded)),
                    usage::pretty_print(&usage::mask(&quota.hard, &exceeded)),
                ),
            ));
        }
        charges.push((i, new_used));
    }
    Ok(charges)
}

/// Admits `object` (being created, or updated from `old`) against the quotas of its
/// namespace and charges them, unless `dry_run`.
///
/// # Errors
/// 403 when a quota would be exceeded or a pod lacks a required request or limit; 409 when
/// the quota keeps changing under the request.
pub async fn admit(
    ctx: &Ctx<'_>,
    object: &Value,
    old: Option<&Value>,
    dry_run: bool,
) -> Result<(), ApiError> {
    if ctx.path.subresource.is_some() {
        return Ok(());
    }
    let Some(namespace) = ctx.namespace() else {
        return Ok(());
    };
    let evaluator = Evaluator::for_resource(&ctx.info.group, &ctx.info.plural);
    if !evaluator.handles(old.is_some()) {
        return Ok(());
    }
    // A quota created a moment ago applies.
    ctx.state
        .cache
        .wait_fresh(ctx.state.store.as_ref())
        .await
        .map_err(|e| {
            ApiError::timeout(format!(
                "the ResourceQuotas of the namespace cannot be read: {e}"
            ))
        })?;
    let mut quotas = quotas_of(ctx, namespace);
    if quotas.is_empty() {
        return Ok(());
    }
    // A create of a name that exists fails anyway; do not charge for it.
    if old.is_none()
        && ctx
            .state
            .cache
            .get(&ctx.info.key(Some(namespace), object::name(object)))
            .is_some()
    {
        return Ok(());
    }
    for _ in 0..ATTEMPTS {
        let charges = check(ctx, &evaluator, &quotas, object, old)?;
        if dry_run || charges.is_empty() {
            return Ok(());
        }
        let mut lost = Vec::new();
        for (i, used) in charges {
            let quota = &quotas[i];
            let mut updated = quota.value.clone();
            updated["status"]["used"] = usage::to_json(&used);
            match ctx
                .state
                .store
                .update(
                    &quota.key,
                    object::for_storage(&updated).into(),
                    quota.revision,
                )
                .await
            {
                Ok(_) => {}
                Err(store::Error::Conflict { .. } | store::Error::NotFound { .. }) => {
                    lost.push(quota.key.clone());
                }
                Err(e) => return Err(ApiError::from_store(e)),
            }
        }
        if lost.is_empty() {
            return Ok(());
        }
        // Re-check only the quotas whose usage changed under us, at their current state.
        quotas.clear();
        for key in lost {
            if let Some(fresh) = reload(ctx, &key).await? {
                quotas.push(fresh);
            }
        }
    }
    Err(ApiError::conflict(ctx.info.subject(), object::name(object)))
}
