//! PATCH bodies and managed fields.
//!
//! - JSON patch (RFC 6902) and JSON merge patch (RFC 7386) come from the `json-patch` crate;
//! - [`strategic`]: strategic merge patch, with the list metadata of [`schema`];
//! - [`apply`]: server-side apply and `metadata.managedFields` tracking for every write.

pub mod apply;
mod element_order;
mod fieldset;
mod last_applied;
mod managed_fields;
pub mod schema;
pub mod strategic;
mod strategic_error;
mod structure;
mod update;
mod walk;

use serde_json::Value;

use super::handlers::Ctx;
use super::registry::ResourceInfo;
use super::status::ApiError;

/// The four patch types, by their content types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchKind {
    /// # Errors
    /// 415 for an unknown content type, or a strategic merge patch of a custom resource.
    pub fn from_content_type(content_type: &str, info: &ResourceInfo) -> Result<Self, ApiError> {
        let kind = match content_type {
            "application/json-patch+json" => PatchKind::Json,
            "application/merge-patch+json" => PatchKind::Merge,
            "application/strategic-merge-patch+json" => PatchKind::Strategic,
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => PatchKind::Apply,
            _ => return Err(unsupported(info)),
        };
        if kind == PatchKind::Strategic
            && (info.custom.is_some() || !schema::is_known(&info.group, &info.kind))
        {
            return Err(unsupported(info));
        }
        Ok(kind)
    }
}

/// 415 listing the patch types the kind accepts, as upstream words it.
fn unsupported(info: &ResourceInfo) -> ApiError {
    let mut types = vec![
        "application/json-patch+json",
        "application/merge-patch+json",
    ];
    if info.custom.is_none() && schema::is_known(&info.group, &info.kind) {
        types.push("application/strategic-merge-patch+json");
    }
    types.push("application/apply-patch+yaml");
    ApiError::new(
        415,
        "UnsupportedMediaType",
        format!(
            "the body of the request was in an unknown format - accepted media types include: {}",
            types.join(", ")
        ),
    )
}

fn patch_error(message: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        422,
        "Invalid",
        format!("the server rejected our request due to an error in our request: {message}"),
    )
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body of the request could not be decoded as JSON: {e}"
        ))
    })
}

/// The apply configuration of an `apply-patch+yaml` body (YAML, of which JSON is a subset).
fn parse_apply(body: &[u8]) -> Result<Value, ApiError> {
    let value: Value = serde_yaml_ng::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "the apply configuration must be an object",
        ));
    }
    Ok(value)
}

/// Applies a patch body to `current` (the object as the request's version shows it).
///
/// # Errors
/// Malformed patches (400/422), and server-side apply conflicts (409).
pub fn apply_patch(
    ctx: &Ctx<'_>,
    kind: PatchKind,
    current: &Value,
    body: &[u8],
    manager: &str,
) -> Result<Value, ApiError> {
    let info = &ctx.info;
    match kind {
        PatchKind::Json => {
            let patch: json_patch::Patch = serde_json::from_slice(body).map_err(|e| {
                ApiError::bad_request(format!(
                    "the body of the request was not a valid JSON patch: {e}"
                ))
            })?;
            let mut patched = current.clone();
            json_patch::patch(&mut patched, &patch).map_err(patch_error)?;
            Ok(patched)
        }
        PatchKind::Merge => {
            let patch = parse_json(body)?;
            let mut patched = current.clone();
            json_patch::merge(&mut patched, &patch);
            Ok(patched)
        }
        PatchKind::Strategic => {
            let patch = parse_json(body)?;
            strategic::strategic_merge(&info.group, &info.kind, current, &patch)
                .map_err(|e| ApiError::new(e.status_code(), e.reason(), e.to_string()))
        }
        PatchKind::Apply => {
            let config = parse_apply(body)?;
            let force = ctx.query.flag("force");
            with_field_manager(info, ctx.path.subresource.as_deref(), |fm| {
                fm.apply(
                    Some(current),
                    &config,
                    manager,
                    force,
                    &super::object::now(),
                )
            })
            .map_err(apply_error)
        }
    }
}

/// Runs `f` with the field manager of the kind (and subresource) a request addresses.
fn with_field_manager<T>(
    info: &ResourceInfo,
    subresource: Option<&str>,
    f: impl FnOnce(&apply::FieldManager<'_>) -> T,
) -> T {
    let api_version = info.api_version();
    let schema = info.custom.as_ref().and_then(|c| c.schema.clone());
    let lookup = |names: &[&str]| {
        schema
            .as_ref()
            .and_then(|s| apply::custom_node_type(s, names))
    };
    let status_only: &[&[&str]] = &[&["spec"]];
    let main_only: &[&[&str]] = &[&["status"]];
    let mut fm = apply::FieldManager::new(&info.group, &info.kind, &api_version);
    fm.subresource = subresource.unwrap_or_default();
    fm.reset_fields = match subresource {
        Some("status") => status_only,
        None if info.has_status() => main_only,
        _ => &[],
    };
    if info.custom.is_some() {
        fm.custom_schema = Some(&lookup);
    }
    f(&fm)
}

/// The `Status` of a refused apply.
fn apply_error(error: apply::ApplyError) -> ApiError {
    match &error {
        apply::ApplyError::Conflicts(conflicts) => {
            let causes: Vec<Value> = conflicts
                .iter()
                .map(|c| serde_json::json!({"reason": "FieldManagerConflict", "message": c.message(), "field": c.field}))
                .collect();
            let mut e = ApiError::new(409, "Conflict", error.to_string());
            e.details = Some(serde_json::json!({"causes": causes}));
            e
        }
        apply::ApplyError::Invalid(message) => ApiError::bad_request(message.clone()),
        apply::ApplyError::ManagedFieldsCorrupt(_) => ApiError::internal(error.to_string()),
    }
}

/// The object a server-side apply creates when none exists, with its managed fields.
///
/// # Errors
/// A malformed apply configuration.
pub fn apply_create(ctx: &Ctx<'_>, manager: &str) -> Result<Value, ApiError> {
    let config = parse_apply(&ctx.body)?;
    let force = ctx.query.flag("force");
    with_field_manager(&ctx.info, None, |fm| {
        fm.apply(None, &config, manager, force, &super::object::now())
    })
    .map_err(apply_error)
}

/// Records in `metadata.managedFields` what a write by `manager` changed.
///
/// # Errors
/// When the live object's managed fields cannot be read.
pub fn track_update(
    info: &ResourceInfo,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Option<&str>,
) -> Result<(), ApiError> {
    with_field_manager(info, subresource, |fm| {
        fm.track_update(old, new, manager, &super::object::now())
    })
    .map_err(apply_error)
}
