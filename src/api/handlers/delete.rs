//! DELETE of one object and of collections.
//!
//! A delete removes the object at once unless something must happen first: finalizers
//! (including `orphan` and `foregroundDeletion`, added per the propagation policy for the
//! garbage collector), a pod's graceful termination (its kubelet finishes the delete), or a
//! namespace's content removal (`spec.finalizers`). Then the object gets a
//! `deletionTimestamp` and stays until those are done.

use http::Response;
use serde_json::{Value, json};

use super::Ctx;
use super::read::cache_error;
use super::write::{current, dry_run, object_response};
use crate::api::http::{self as h, Body};
use crate::api::object;
use crate::api::registry::ResourceInfo;
use crate::api::status::ApiError;
use crate::api::strategy;
use crate::store;

const ATTEMPTS: usize = 16;

/// `DeleteOptions` from the body and the query.
#[derive(Debug, Default, Clone)]
pub(crate) struct DeleteOptions {
    pub grace_period: Option<i64>,
    pub propagation: Option<String>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    /// `dryRun: ["All"]` in the body (kubectl sends it there) or the query.
    pub dry_run: bool,
}

pub(crate) fn options(ctx: &Ctx<'_>) -> Result<DeleteOptions, ApiError> {
    let body: Value = if ctx.body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        super::decode_body(ctx.headers, &ctx.body)?
    };
    let mut options = DeleteOptions {
        grace_period: body.get("gracePeriodSeconds").and_then(Value::as_i64),
        propagation: body
            .get("propagationPolicy")
            .and_then(Value::as_str)
            .map(str::to_string),
        precondition_uid: body
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_string),
        precondition_rv: body
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string),
        dry_run: false,
    };
    let body_dry_run: Vec<&str> = body
        .get("dryRun")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(other) = body_dry_run.iter().find(|v| **v != "All") {
        return Err(ApiError::invalid(
            crate::api::status::Subject {
                group: "meta.k8s.io",
                plural: "",
                kind: "DeleteOptions",
            },
            "",
            &[crate::api::field_error::FieldError::not_supported(
                "dryRun",
                &serde_json::json!(other),
                &["All"],
            )],
        ));
    }
    options.dry_run = !body_dry_run.is_empty() || dry_run(ctx)?;
    if let Some(orphan) = body.get("orphanDependents").and_then(Value::as_bool) {
        options
            .propagation
            .get_or_insert_with(|| if orphan { "Orphan" } else { "Background" }.into());
    }
    if let Some(grace) = ctx.query.int("gracePeriodSeconds")? {
        options.grace_period = Some(grace);
    }
    if let Some(policy) = ctx.query.get("propagationPolicy").filter(|p| !p.is_empty()) {
        options.propagation = Some(policy.to_string());
    }
    if let Some(orphan) = ctx.query.get("orphanDependents") {
        options.propagation.get_or_insert_with(|| {
            if orphan == "true" {
                "Orphan"
            } else {
                "Background"
            }
            .into()
        });
    }
    if let Some(policy) = &options.propagation
        && !matches!(policy.as_str(), "Orphan" | "Background" | "Foreground")
    {
        return Err(ApiError::bad_request(format!(
            "propagationPolicy: Unsupported value: {policy:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""
        )));
    }
    if options.grace_period.is_some_and(|g| g < 0) {
        options.grace_period = Some(0);
    }
    Ok(options)
}

/// Whether an object being deleted may leave storage now that its finalizers are gone
/// (a pod with a grace period left waits for its kubelet).
pub(crate) fn deletable_now(info: &ResourceInfo, object: &Value) -> bool {
    if info.group.is_empty() && info.kind == "Namespace" {
        return object
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_none_or(|f| f.is_empty());
    }
    if info.group.is_empty() && info.kind == "Pod" {
        return object
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            == 0;
    }
    true
}

fn success_status(info: &ResourceInfo, object: &Value) -> Value {
    let mut details =
        json!({"name": object::name(object), "kind": info.plural, "uid": object::uid(object)});
    if !info.group.is_empty() {
        details["group"] = json!(info.group);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}

/// The grace period a pod's delete gets.
fn pod_grace(options: &DeleteOptions, pod: &Value) -> i64 {
    let unscheduled = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .is_empty();
    let finished = matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    );
    if unscheduled || finished {
        return 0;
    }
    options.grace_period.unwrap_or_else(|| {
        pod.pointer("/spec/terminationGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(30)
    })
}

/// The outcome of deleting one object.
pub(crate) enum Deleted {
    /// Gone from storage; its last state.
    Now(Value),
    /// Marked for deletion; its current state.
    Pending(Value),
}

/// Deletes one object by key, retrying compare-and-swap races.
pub(crate) async fn delete_one(
    ctx: &Ctx<'_>,
    key: &str,
    name: &str,
    options: &DeleteOptions,
) -> Result<Deleted, ApiError> {
    let info = &ctx.info;
    let dry = options.dry_run;
    for _ in 0..ATTEMPTS {
        let Some((kv, old)) = current(ctx, key).await? else {
            return Err(ApiError::not_found(info.subject(), name));
        };
        if let Some(uid) = &options.precondition_uid
            && uid != object::uid(&old)
        {
            return Err(ApiError::conflict_because(
                info.subject(),
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    object::uid(&old)
                ),
            ));
        }
        if let Some(rv) = &options.precondition_rv
            && *rv != kv.mod_revision.to_string()
        {
            return Err(ApiError::conflict_because(
                info.subject(),
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    kv.mod_revision
                ),
            ));
        }
        let mut new = old.clone();
        let mut finalizers = object::finalizers(&old);
        match options.propagation.as_deref() {
            Some("Orphan") => {
                finalizers.retain(|f| f != "foregroundDeletion");
                if !finalizers.iter().any(|f| f == "orphan") {
                    finalizers.push("orphan".into());
                }
            }
            Some("Foreground") => {
                finalizers.retain(|f| f != "orphan");
                if !finalizers.iter().any(|f| f == "foregroundDeletion") {
                    finalizers.push("foregroundDeletion".into());
                }
            }
            Some("Background") => finalizers.retain(|f| f != "orphan" && f != "foregroundDeletion"),
            _ => {}
        }
        let is_pod = info.group.is_empty() && info.kind == "Pod";
        let grace = if is_pod { pod_grace(options, &old) } else { 0 };
        let namespace_pending = info.group.is_empty()
            && info.kind == "Namespace"
            && old
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|f| !f.is_empty());
        let must_wait = !finalizers.is_empty() || grace > 0 || namespace_pending;
        if !must_wait {
            if dry {
                return Ok(Deleted::Now(old));
            }
            match ctx.state.store.delete(key, Some(kv.mod_revision)).await {
                Ok(deleted) => {
                    let mut last = old;
                    object::set_resource_version(&mut last, deleted.mod_revision);
                    return Ok(Deleted::Now(last));
                }
                Err(store::Error::Conflict { .. }) => continue,
                Err(store::Error::NotFound { .. }) => {
                    return Err(ApiError::not_found(info.subject(), name));
                }
                Err(e) => return Err(ApiError::from_store(e)),
            }
        }
        let meta = object::metadata_mut(&mut new);
        if finalizers.is_empty() {
            meta.remove("finalizers");
        } else {
            meta.insert("finalizers".into(), json!(finalizers));
        }
        let already = meta.get("deletionTimestamp").is_some_and(|t| !t.is_null());
        let current_grace = meta
            .get("deletionGracePeriodSeconds")
            .and_then(Value::as_i64);
        // A later delete may shorten a pod's grace period, never lengthen it.
        if !already || current_grace.is_some_and(|g| grace < g) {
            meta.insert("deletionTimestamp".into(), json!(object::time_after(grace)));
            meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
        }
        if namespace_pending {
            new["status"]["phase"] = json!("Terminating");
        }
        if new == old {
            return Ok(Deleted::Pending(old));
        }
        if dry {
            return Ok(Deleted::Pending(new));
        }
        match ctx
            .state
            .store
            .update(key, object::for_storage(&new).into(), kv.mod_revision)
            .await
        {
            Ok(written) => {
                object::set_resource_version(&mut new, written.mod_revision);
                return Ok(Deleted::Pending(new));
            }
            Err(store::Error::Conflict { .. }) => continue,
            Err(store::Error::NotFound { .. }) => {
                return Err(ApiError::not_found(info.subject(), name));
            }
            Err(e) => return Err(ApiError::from_store(e)),
        }
    }
    Err(ApiError::conflict(info.subject(), name))
}

pub async fn delete(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    super::write::check_options(ctx, "DeleteOptions", false)?;
    let options = options(ctx)?;
    let key = ctx.key();
    match delete_one(ctx, &key, ctx.name(), &options).await? {
        Deleted::Now(object) if strategy::returns_deleted_object(&ctx.info) => {
            Ok(object_response(ctx, 200, object))
        }
        Deleted::Now(object) => Ok(h::json(200, &success_status(&ctx.info, &object))),
        Deleted::Pending(object) => {
            let status = if options.propagation.as_deref() == Some("Foreground") {
                202
            } else {
                200
            };
            Ok(object_response(ctx, status, object))
        }
    }
}

pub async fn delete_collection(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    super::write::check_options(ctx, "DeleteOptions", false)?;
    let options = options(ctx)?;
    let filter = super::read::filter(ctx)?;
    let cache = &ctx.state.cache;
    cache
        .wait_fresh(ctx.state.store.as_ref())
        .await
        .map_err(cache_error)?;
    let prefix = ctx.info.list_prefix(ctx.namespace());
    let page = cache.list(&prefix, &filter, None, None);
    let mut items = Vec::new();
    for object in &page.objects {
        match delete_one(ctx, &object.key, &object.name, &options).await {
            Ok(Deleted::Now(o) | Deleted::Pending(o)) => {
                items.push(crate::api::convert::to_request_version(&ctx.info, o));
            }
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(h::json(
        200,
        &json!({
            "kind": ctx.info.list_kind(),
            "apiVersion": ctx.info.api_version(),
            "metadata": {"resourceVersion": cache.revision().to_string()},
            "items": items,
        }),
    ))
}
