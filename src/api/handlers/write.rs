//! Create, update (PUT) and patch, through one pipeline: decode, convert to the storage
//! version, prepare per the kind's strategy, default, validate, track managed fields, then
//! write with compare-and-swap. Also the subresources that write: `status`, `scale`,
//! `pods/binding`, `pods/eviction`, `serviceaccounts/token`, and the review kinds.

use std::sync::Arc;

use http::Response;
use serde_json::{Value, json};

use super::Ctx;
use crate::api::admission;
use crate::api::convert;
use crate::api::http::{self as h, Body};
use crate::api::object;
use crate::api::patch;
use crate::api::registry::ResourceInfo;
use crate::api::status::ApiError;
use crate::api::strategy;
use crate::store::{self, KeyValue};

/// Attempts of a patch or unconditional update that keeps losing compare-and-swap races.
const WRITE_ATTEMPTS: usize = 16;

/// Whether the request is a dry run (`dryRun=All`). Its value was checked by
/// [`check_options`].
pub(crate) fn dry_run(ctx: &Ctx<'_>) -> Result<bool, ApiError> {
    Ok(ctx.query.all("dryRun") == ["All"])
}

/// Validates the write options of the query as upstream validates `CreateOptions`,
/// `UpdateOptions`, `PatchOptions` and `DeleteOptions`: 422 naming the options kind.
pub(crate) fn check_options(
    ctx: &Ctx<'_>,
    options_kind: &str,
    apply: bool,
) -> Result<(), ApiError> {
    use crate::api::field_error::FieldError;
    let mut errors = Vec::new();
    for value in ctx.query.all("dryRun") {
        if value != "All" {
            errors.push(FieldError::not_supported("dryRun", &json!(value), &["All"]));
        }
    }
    if options_kind != "DeleteOptions" {
        let manager = ctx.query.get("fieldManager").unwrap_or_default();
        if apply && manager.is_empty() {
            errors.push(FieldError::required(
                "fieldManager",
                "is required for apply patch",
            ));
        }
        if manager.len() > 128 {
            errors.push(FieldError::too_long("fieldManager", 128));
        }
        if ctx.query.get("force").is_some() && !apply {
            errors.push(FieldError::forbidden(
                "force",
                "may not be specified for non-apply patch",
            ));
        }
        crate::api::admission::decode::FieldValidation::parse(ctx.query.get("fieldValidation"))?;
    }
    if errors.is_empty() {
        return Ok(());
    }
    let subject = crate::api::status::Subject {
        group: "meta.k8s.io",
        plural: "",
        kind: options_kind,
    };
    Err(ApiError::invalid(subject, "", &errors))
}

/// Drops unknown fields and checks value types, recording warnings for the response.
pub(crate) fn decode(ctx: &Ctx<'_>, object: Value) -> Result<Value, ApiError> {
    use crate::api::admission::decode::{self as d, FieldValidation};
    let validation = FieldValidation::parse(ctx.query.get("fieldValidation"))?;
    let decoded = d::decode(&ctx.info, object, validation)?;
    ctx.warn(decoded.warnings);
    Ok(decoded.object)
}

/// The field manager of a write: `fieldManager`, else the user agent's product name.
pub(crate) fn field_manager(ctx: &Ctx<'_>) -> Result<String, ApiError> {
    if let Some(manager) = ctx.query.get("fieldManager").filter(|m| !m.is_empty()) {
        if manager.len() > 128 {
            return Err(ApiError::bad_request(
                "fieldManager: Too long: may not be more than 128 bytes",
            ));
        }
        return Ok(manager.to_string());
    }
    let agent = ctx
        .headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown");
    Ok(agent
        .split('/')
        .next()
        .unwrap_or(agent)
        .chars()
        .take(128)
        .collect())
}

pub(crate) fn parse_stored(kv: &KeyValue) -> Result<Value, ApiError> {
    let mut value: Value = serde_json::from_slice(&kv.value)
        .map_err(|e| ApiError::internal(format!("stored object {} is corrupt: {e}", kv.key)))?;
    object::set_resource_version(&mut value, kv.mod_revision);
    Ok(value)
}

/// The stored object of the request's key, if any, from the datastore.
pub(crate) async fn current(
    ctx: &Ctx<'_>,
    key: &str,
) -> Result<Option<(KeyValue, Value)>, ApiError> {
    match ctx
        .state
        .store
        .get(key)
        .await
        .map_err(ApiError::from_store)?
    {
        Some(kv) => {
            let value = parse_stored(&kv)?;
            Ok(Some((kv, value)))
        }
        None => Ok(None),
    }
}

/// The object of the request's key for attempt `attempt` of a compare-and-swap loop: the
/// watch cache's copy first (a write built on a stale copy fails its compare-and-swap, or,
/// when it changes nothing, [`update_object`]'s check of the copy's revision, and is
/// retried), then the datastore's.
pub(crate) async fn current_for_write(
    ctx: &Ctx<'_>,
    key: &str,
    attempt: usize,
) -> Result<Option<(KeyValue, Value)>, ApiError> {
    if attempt == 0
        && let Some(cached) = ctx.state.cache.get(key)
    {
        let value = cached.value();
        let kv = KeyValue {
            key: key.to_string(),
            value: bytes::Bytes::new(),
            create_revision: 0,
            mod_revision: cached.revision,
        };
        return Ok(Some((kv, value)));
    }
    current(ctx, key).await
}

/// Whether `kv` is [`current_for_write`]'s stand-in for the watch cache's copy (the store's
/// revisions start at 1, and its values are never empty).
fn from_watch_cache(kv: &KeyValue) -> bool {
    kv.create_revision == 0 && kv.value.is_empty()
}

/// The answer for a written object, in the version the request addressed.
pub(crate) fn object_response(ctx: &Ctx<'_>, status: u16, object: Value) -> Response<Body> {
    h::json(status, &convert::to_request_version(&ctx.info, object))
}

/// Checks and completes `apiVersion`, `kind`, `metadata.namespace` and the name of a body.
fn check_identity(
    ctx: &Ctx<'_>,
    object: &mut Value,
    expect_name: Option<&str>,
) -> Result<(), ApiError> {
    let info = &ctx.info;
    let api_version = info.api_version();
    match object.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => object["apiVersion"] = json!(api_version),
        Some(v) if v != api_version => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({api_version})"
            )));
        }
        Some(_) => {}
    }
    match object.get("kind").and_then(Value::as_str) {
        None | Some("") => object["kind"] = json!(info.kind),
        Some(k) if k != info.kind => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                info.kind
            )));
        }
        Some(_) => {}
    }
    if !object.get("metadata").is_none_or(Value::is_object) {
        return Err(ApiError::bad_request("metadata must be an object"));
    }
    let url_namespace = ctx.namespace().map(str::to_string);
    let meta = object::metadata_mut(object);
    match (
        url_namespace,
        meta.get("namespace")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty()),
    ) {
        (Some(url), Some(body)) if url != body => {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        (Some(url), _) => {
            meta.insert("namespace".into(), json!(url));
        }
        (None, _) => {
            meta.remove("namespace");
        }
    }
    if let Some(url_name) = expect_name {
        match meta
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            Some(name) if name != url_name => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({name}) does not match the name on the URL ({url_name})"
                )));
            }
            Some(_) => {}
            None => {
                meta.insert("name".into(), json!(url_name));
            }
        }
    }
    Ok(())
}

/// Refuses writes into a namespace that does not exist or is being deleted.
async fn check_namespace(ctx: &Ctx<'_>, creating: bool) -> Result<(), ApiError> {
    let Some(namespace) = ctx.namespace() else {
        return Ok(());
    };
    let registry = &ctx.state.registry;
    let Some(namespaces) = registry.get("", "v1", "namespaces") else {
        return Ok(());
    };
    let key = namespaces.key(None, namespace);
    // The cache answers almost always; the datastore only when the cache does not know the
    // namespace yet (it may have been created a moment ago).
    let ns = match ctx.state.cache.get(&key) {
        Some(cached) => cached.value(),
        None => match ctx
            .state
            .store
            .get(&key)
            .await
            .map_err(ApiError::from_store)?
        {
            Some(kv) => parse_stored(&kv)?,
            None => return Err(ApiError::not_found(namespaces.subject(), namespace)),
        },
    };
    if creating
        && object::is_deleting(&ns)
        && !(ctx.info.group.is_empty() && ctx.info.kind == "Event")
    {
        let name = ctx
            .body_object()
            .map(|b| object::name(&b).to_string())
            .unwrap_or_default();
        return Err(ApiError::forbidden(format!(
            "{} {name:?} is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
            ctx.info.subject().qualified_resource(),
        )));
    }
    Ok(())
}

/// Defaults, validates and tracks managed fields of an object about to be created.
fn admit_create(
    ctx: &Ctx<'_>,
    object: &mut Value,
    manager: &str,
    applied: bool,
) -> Result<(), ApiError> {
    let info = &ctx.info;
    strategy::prepare_for_create(info, object);
    admission::default(info, object);
    // Mutating admission: the requester of a CSR, LimitRange defaults (and limits), a pod's
    // priority from its PriorityClass.
    admission::certificates::set_requester(info, ctx.user, object);
    admission::limitrange::admit(ctx, object, None)?;
    admission::priority::admit(ctx, object)?;
    admission::prepare_for_create(info, object);
    if let Err(errors) = ctx
        .state
        .services
        .allocate(info, &ctx.state.cache, None, object)
    {
        return Err(ApiError::invalid(
            info.subject(),
            object::name(object),
            &errors,
        ));
    }
    let errors = admission::validate_create(info, object);
    if !errors.is_empty() {
        return Err(ApiError::invalid(
            info.subject(),
            object::name(object),
            &errors,
        ));
    }
    if applied {
        // Server-side apply already recorded the applier's fields.
        return Ok(());
    }
    patch::track_update(info, None, object, manager, ctx.path.subresource.as_deref())
}

pub async fn create(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    match ctx.path.subresource.as_deref() {
        Some("binding") => return super::subresources::bind(ctx).await,
        Some("eviction") => return super::subresources::evict(ctx).await,
        Some("token") => return super::subresources::token_request(ctx).await,
        Some(_) => {
            return Err(ApiError::method_not_allowed(
                "the server does not allow this method on the requested resource",
            ));
        }
        None => {}
    }
    if let Some(response) = super::subresources::review(ctx).await? {
        return Ok(response);
    }
    check_options(ctx, "CreateOptions", false)?;
    let mut object = ctx.body_object()?;
    check_identity(ctx, &mut object, None)?;
    let object = decode(ctx, convert::to_storage_version(&ctx.info, object))?;
    create_object(ctx, object, false).await
}

/// Creates `object` (already in the storage version).
pub(crate) async fn create_object(
    ctx: &Ctx<'_>,
    object: Value,
    applied: bool,
) -> Result<Response<Body>, ApiError> {
    let manager = field_manager(ctx)?;
    let generate = object::meta_str(&object, "generateName")
        .filter(|_| object::name(&object).is_empty())
        .map(str::to_string);
    if object::name(&object).is_empty() && generate.is_none() {
        return Err(ApiError::invalid(
            ctx.info.subject(),
            "",
            &[crate::api::field_error::FieldError::required(
                "metadata.name",
                "name or generateName is required",
            )],
        ));
    }
    check_namespace(ctx, true).await?;
    let dry = dry_run(ctx)?;
    // LimitRange admission reads the cache: one created a moment ago must apply.
    admission::limitrange::wait_for_cache(ctx).await?;
    // Service allocations stay reserved until the Service is written.
    let _allocating = if ctx.info.group.is_empty() && ctx.info.kind == "Service" {
        Some(ctx.state.services.lock.lock().await)
    } else {
        None
    };
    for _ in 0..8 {
        let mut candidate = object.clone();
        if let Some(prefix) = &generate {
            object::metadata_mut(&mut candidate)
                .insert("name".into(), json!(object::generate_name(prefix)));
        }
        admit_create(ctx, &mut candidate, &manager, applied)?;
        // ResourceQuota admission: checked and charged last, just before the write.
        admission::quota::admit(ctx, &candidate, None, dry).await?;
        let name = object::name(&candidate).to_string();
        let key = ctx.info.key(ctx.namespace(), &name);
        if dry {
            if ctx
                .state
                .store
                .get(&key)
                .await
                .map_err(ApiError::from_store)?
                .is_some()
            {
                return Err(ApiError::already_exists(ctx.info.subject(), &name));
            }
            return Ok(object_response(ctx, 201, candidate));
        }
        match ctx
            .state
            .store
            .create(&key, object::for_storage(&candidate).into())
            .await
        {
            Ok(kv) => {
                object::set_resource_version(&mut candidate, kv.mod_revision);
                return Ok(object_response(ctx, 201, candidate));
            }
            Err(store::Error::AlreadyExists { .. }) if generate.is_some() => continue,
            Err(store::Error::AlreadyExists { .. }) => {
                return Err(ApiError::already_exists(ctx.info.subject(), &name));
            }
            Err(e) => return Err(ApiError::from_store(e)),
        }
    }
    Err(ApiError::new(
        409,
        "AlreadyExists",
        "could not generate a unique name after 8 attempts",
    ))
}

/// What an update pipeline did.
pub(crate) enum Written {
    Updated(Value),
    Unchanged(Value),
    Deleted(Value),
}

/// Writes `new` over the stored `(kv, old)`: the second half of PUT and PATCH.
pub(crate) async fn update_object(
    ctx: &Ctx<'_>,
    kv: &KeyValue,
    old: &Value,
    mut new: Value,
    manager: &str,
    applied: bool,
) -> Result<Result<Written, store::Error>, ApiError> {
    let info: &Arc<ResourceInfo> = &ctx.info;
    let sub = ctx.path.subresource.as_deref();
    let _allocating = if info.group.is_empty() && info.kind == "Service" && sub.is_none() {
        Some(ctx.state.services.lock.lock().await)
    } else {
        None
    };
    // An update without a resourceVersion is unconditional: it applies to what is stored.
    object::set_resource_version(&mut new, kv.mod_revision);
    strategy::prepare_for_update(info, sub, old, &mut new);
    admission::default(info, &mut new);
    admission::limitrange::admit(ctx, &mut new, Some(old))?;
    if sub.is_none()
        && let Err(errors) =
            ctx.state
                .services
                .allocate(info, &ctx.state.cache, Some(old), &mut new)
    {
        return Err(ApiError::invalid(
            info.subject(),
            object::name(&new),
            &errors,
        ));
    }
    let errors = if sub == Some("status") {
        admission::validate_status_update(info, old, &new)
    } else {
        admission::validate_update(info, old, &new)
    };
    if !errors.is_empty() {
        return Err(ApiError::invalid(
            info.subject(),
            object::name(&new),
            &errors,
        ));
    }
    if !applied {
        patch::track_update(info, Some(old), &mut new, manager, sub)?;
    }
    object::set_resource_version(&mut new, kv.mod_revision);
    if new == *old {
        // A write that changes nothing is not written, so no compare-and-swap checks the copy
        // it was built on. The watch cache's copy may lag a write already answered (even the
        // same client's): a no-op against it could be a change against the store, which the
        // retry then makes from the store's copy.
        if from_watch_cache(kv) {
            match ctx.state.store.get(&kv.key).await {
                Ok(Some(current)) if current.mod_revision != kv.mod_revision => {
                    return Ok(Err(store::Error::Conflict {
                        key: kv.key.clone(),
                        expected: kv.mod_revision,
                        current,
                    }));
                }
                Ok(Some(_)) => {}
                Ok(None) => {
                    return Ok(Err(store::Error::NotFound {
                        key: kv.key.clone(),
                    }));
                }
                Err(e) => return Err(ApiError::from_store(e)),
            }
        }
        return Ok(Ok(Written::Unchanged(new)));
    }
    admission::quota::admit(ctx, &new, Some(old), dry_run(ctx)?).await?;
    if dry_run(ctx)? {
        return Ok(Ok(Written::Updated(new)));
    }
    // Removing the last finalizer of an object being deleted completes the delete.
    if object::is_deleting(&new)
        && object::finalizers(&new).is_empty()
        && super::delete::deletable_now(info, &new)
    {
        return Ok(
            match ctx.state.store.delete(&kv.key, Some(kv.mod_revision)).await {
                Ok(deleted) => {
                    object::set_resource_version(&mut new, deleted.mod_revision);
                    Ok(Written::Deleted(new))
                }
                Err(e) => Err(e),
            },
        );
    }
    Ok(
        match ctx
            .state
            .store
            .update(&kv.key, object::for_storage(&new).into(), kv.mod_revision)
            .await
        {
            Ok(written) => {
                object::set_resource_version(&mut new, written.mod_revision);
                Ok(Written::Updated(new))
            }
            Err(e) => Err(e),
        },
    )
}

fn written_response(ctx: &Ctx<'_>, written: Written) -> Result<Response<Body>, ApiError> {
    Ok(match written {
        Written::Updated(object) | Written::Unchanged(object) | Written::Deleted(object) => {
            if ctx.path.subresource.as_deref() == Some("scale") {
                return scale_response(ctx, &object);
            }
            object_response(ctx, 200, object)
        }
    })
}

pub async fn update(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let sub = ctx.path.subresource.as_deref();
    check_options(ctx, "UpdateOptions", false)?;
    let mut body = ctx.body_object()?;
    if sub == Some("scale") {
        return update_scale(ctx, body).await;
    }
    check_identity(ctx, &mut body, Some(ctx.name()))?;
    let body = decode(ctx, convert::to_storage_version(&ctx.info, body))?;
    let precondition = object::resource_version(&body).map(str::to_string);
    let manager = field_manager(ctx)?;
    let key = ctx.key();
    for attempt in 0..WRITE_ATTEMPTS {
        let Some((kv, old)) =
            current_for_write(ctx, &key, if precondition.is_some() { 1 } else { attempt }).await?
        else {
            if sub.is_none() && strategy::allows_create_on_update(&ctx.info) {
                let mut object = body.clone();
                object::metadata_mut(&mut object).remove("resourceVersion");
                return create_object(ctx, object, false).await;
            }
            return Err(ApiError::not_found(ctx.info.subject(), ctx.name()));
        };
        if let Some(rv) = &precondition
            && *rv != kv.mod_revision.to_string()
        {
            return Err(ApiError::conflict(ctx.info.subject(), ctx.name()));
        }
        match update_object(ctx, &kv, &old, body.clone(), &manager, false).await? {
            Ok(written) => return written_response(ctx, written),
            Err(store::Error::Conflict { .. } | store::Error::NotFound { .. })
                if precondition.is_none() =>
            {
                continue;
            }
            Err(store::Error::Conflict { .. }) => {
                return Err(ApiError::conflict(ctx.info.subject(), ctx.name()));
            }
            Err(store::Error::NotFound { .. }) => {
                return Err(ApiError::not_found(ctx.info.subject(), ctx.name()));
            }
            Err(e) => return Err(ApiError::from_store(e)),
        }
    }
    Err(ApiError::conflict(ctx.info.subject(), ctx.name()))
}

pub async fn patch(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let content_type = h::content_type(ctx.headers);
    let kind = patch::PatchKind::from_content_type(&content_type, &ctx.info)?;
    check_options(ctx, "PatchOptions", kind == patch::PatchKind::Apply)?;
    let manager = field_manager(ctx)?;
    let key = ctx.key();
    let sub = ctx.path.subresource.as_deref();
    for attempt in 0..WRITE_ATTEMPTS {
        // A patch that names a resourceVersion is checked against the datastore's copy.
        let pinned = ctx.body.windows(15).any(|w| w == b"resourceVersion");
        let Some((kv, old)) =
            current_for_write(ctx, &key, if pinned { 1 } else { attempt }).await?
        else {
            if kind == patch::PatchKind::Apply && sub.is_none() {
                let mut object = patch::apply_create(ctx, &manager)?;
                check_identity(ctx, &mut object, Some(ctx.name()))?;
                let object = decode(ctx, convert::to_storage_version(&ctx.info, object))?;
                return create_object(ctx, object, true).await;
            }
            return Err(ApiError::not_found(ctx.info.subject(), ctx.name()));
        };
        // Patches apply to the object as the request's version shows it.
        let view = if sub == Some("scale") {
            scale_of(ctx, &old)?
        } else {
            convert::to_request_version(&ctx.info, old.clone())
        };
        let mut patched = patch::apply_patch(ctx, kind, &view, &ctx.body, &manager)?;
        if let Some(rv) = object::resource_version(&patched)
            && rv != kv.mod_revision.to_string()
        {
            return Err(ApiError::conflict(ctx.info.subject(), ctx.name()));
        }
        let new = if sub == Some("scale") {
            with_scale(ctx, &old, &patched)?
        } else {
            check_identity(ctx, &mut patched, Some(ctx.name()))?;
            decode(ctx, convert::to_storage_version(&ctx.info, patched))?
        };
        match update_object(
            ctx,
            &kv,
            &old,
            new,
            &manager,
            kind == patch::PatchKind::Apply,
        )
        .await?
        {
            Ok(written) => return written_response(ctx, written),
            Err(store::Error::Conflict { .. } | store::Error::NotFound { .. }) => continue,
            Err(e) => return Err(ApiError::from_store(e)),
        }
    }
    Err(ApiError::conflict(ctx.info.subject(), ctx.name()))
}

/// Where a kind keeps its replica count and selector for the scale subresource.
fn scale_paths(info: &ResourceInfo) -> (String, String, Option<String>) {
    match &info.custom.as_ref().and_then(|c| c.scale.clone()) {
        Some(scale) => (
            scale.spec_replicas.clone(),
            scale.status_replicas.clone(),
            scale.label_selector.clone(),
        ),
        None => (".spec.replicas".into(), ".status.replicas".into(), None),
    }
}

fn pointer(path: &str) -> String {
    path.trim_start_matches('.')
        .split('.')
        .fold(String::new(), |mut acc, part| {
            acc.push('/');
            acc.push_str(part);
            acc
        })
}

/// The `autoscaling/v1` Scale of an object.
fn scale_of(ctx: &Ctx<'_>, object: &Value) -> Result<Value, ApiError> {
    let (spec_path, status_path, selector_path) = scale_paths(&ctx.info);
    let replicas = object
        .pointer(&pointer(&spec_path))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let status_replicas = object
        .pointer(&pointer(&status_path))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let selector = match selector_path {
        Some(path) => object
            .pointer(&pointer(&path))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        None => object
            .pointer("/spec/selector")
            .map(|s| {
                if s.get("matchLabels").is_some() || s.get("matchExpressions").is_some() {
                    crate::api::selector::LabelSelector::from_object(s)
                        .map(|l| l.to_query())
                        .unwrap_or_default()
                } else {
                    // ReplicationController selectors are plain maps.
                    s.as_object()
                        .map(|m| {
                            m.iter()
                                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                                .collect::<Vec<_>>()
                                .join(",")
                        })
                        .unwrap_or_default()
                }
            })
            .unwrap_or_default(),
    };
    let meta = object::metadata(object).cloned().unwrap_or_default();
    let mut scale_meta = serde_json::Map::new();
    for field in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = meta.get(field) {
            scale_meta.insert(field.into(), v.clone());
        }
    }
    let mut status = json!({"replicas": status_replicas});
    if !selector.is_empty() {
        status["selector"] = json!(selector);
    }
    Ok(json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": scale_meta,
        "spec": {"replicas": replicas},
        "status": status,
    }))
}

pub(crate) fn scale_response(ctx: &Ctx<'_>, object: &Value) -> Result<Response<Body>, ApiError> {
    Ok(h::json(200, &scale_of(ctx, object)?))
}

/// `object` with the replica count of `scale`.
fn with_scale(ctx: &Ctx<'_>, object: &Value, scale: &Value) -> Result<Value, ApiError> {
    // Clients written in Go drop a zero count (`omitempty`): missing means 0.
    let replicas = scale
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if replicas < 0 {
        return Err(ApiError::invalid(
            ctx.info.subject(),
            ctx.name(),
            &[crate::api::field_error::FieldError::invalid(
                "spec.replicas",
                &json!(replicas),
                "must be greater than or equal to 0",
            )],
        ));
    }
    let (spec_path, _, _) = scale_paths(&ctx.info);
    let mut new = object.clone();
    let pointer = pointer(&spec_path);
    let (parent, field) = pointer.rsplit_once('/').unwrap_or(("", "replicas"));
    let mut target = &mut new;
    for part in parent.split('/').filter(|p| !p.is_empty()) {
        if !target.get(part).is_some_and(Value::is_object) {
            target[part] = json!({});
        }
        target = &mut target[part];
    }
    target[field] = json!(replicas);
    Ok(new)
}

async fn update_scale(ctx: &Ctx<'_>, scale: Value) -> Result<Response<Body>, ApiError> {
    let manager = field_manager(ctx)?;
    let key = ctx.key();
    let precondition = object::resource_version(&scale).map(str::to_string);
    for attempt in 0..WRITE_ATTEMPTS {
        let Some((kv, old)) =
            current_for_write(ctx, &key, if precondition.is_some() { 1 } else { attempt }).await?
        else {
            return Err(ApiError::not_found(ctx.info.subject(), ctx.name()));
        };
        if let Some(rv) = &precondition
            && *rv != kv.mod_revision.to_string()
        {
            return Err(ApiError::conflict(ctx.info.subject(), ctx.name()));
        }
        let new = with_scale(ctx, &old, &scale)?;
        match update_object(ctx, &kv, &old, new, &manager, false).await? {
            Ok(written) => return written_response(ctx, written),
            Err(store::Error::Conflict { .. }) if precondition.is_none() => continue,
            Err(store::Error::Conflict { .. }) => {
                return Err(ApiError::conflict(ctx.info.subject(), ctx.name()));
            }
            Err(e) => return Err(ApiError::from_store(e)),
        }
    }
    Err(ApiError::conflict(ctx.info.subject(), ctx.name()))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
    use kube::api::{Api, Patch, PatchParams, PostParams};
    use serde_json::json;
    use tokio_util::sync::CancellationToken;

    use crate::api::{ApiConfig, ApiState};
    use crate::pki::{ClusterPki, ServingNames};
    use crate::store::Store;
    use crate::store::memory::MemoryStore;

    fn greeting(store_value: &[u8]) -> String {
        let object: serde_json::Value = serde_json::from_slice(store_value).unwrap();
        object["data"]["greeting"].as_str().unwrap().to_string()
    }

    #[tokio::test]
    async fn a_patch_that_changes_nothing_in_a_stale_cache_still_reaches_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let pki = ClusterPki::ensure(dir.path(), &ServingNames::default()).unwrap();
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let state = ApiState::new(
            store.clone(),
            ApiConfig {
                cluster_domain: "cluster.local".into(),
                cluster_cidr: "10.42.0.0/16".parse().unwrap(),
                service_cidr: "10.43.0.0/16".parse().unwrap(),
                node_port_range: (30000, 32767),
            },
            pki,
        )
        .unwrap();
        let following = CancellationToken::new();
        let cache = tokio::spawn(state.cache.clone().run(store.clone(), following.clone()));
        let client = crate::api::local::client(&state, "test");
        let namespace: Namespace =
            serde_json::from_value(json!({"metadata": {"name": "default"}})).unwrap();
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .unwrap();
        let api: Api<ConfigMap> = Api::namespaced(client, "default");
        let object: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": "conf"},
            "data": {"greeting": "one"}
        }))
        .unwrap();
        api.create(&PostParams::default(), &object).await.unwrap();
        state.cache.wait_fresh(store.as_ref()).await.unwrap();
        // The cache stops following the store: from here on its copy lags, as it does for
        // a moment after every write.
        following.cancel();
        cache.await.unwrap().unwrap();

        let set = |value: &str| Patch::Merge(json!({"data": {"greeting": value}}));
        let params = PatchParams::default();
        api.patch("conf", &params, &set("two")).await.unwrap();
        let key = "/registry/core/configmaps/default/conf";
        assert_eq!(
            greeting(&store.get(key).await.unwrap().unwrap().value),
            "two"
        );
        // Against the cache's copy ("one") this patch changes nothing; against the store's it
        // changes "two" back to "one".
        let answered = api.patch("conf", &params, &set("one")).await.unwrap();
        assert_eq!(answered.data.unwrap()["greeting"], "one");
        let stored = store.get(key).await.unwrap().unwrap();
        assert_eq!(greeting(&stored.value), "one");
        assert_eq!(
            answered.metadata.resource_version.unwrap(),
            stored.mod_revision.to_string()
        );
    }
}
