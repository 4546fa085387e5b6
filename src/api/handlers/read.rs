//! GET of one object and of collections, served from the watch cache (or from the datastore
//! for exact past revisions and continued pages), as objects, lists or Tables.
//!
//! `resourceVersion` semantics follow upstream: unset means a consistent read (the cache
//! first catches up with the datastore), `0` means any cached state, `N` means at least `N`,
//! and `resourceVersionMatch=Exact` means exactly `N`.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::{BufMut, BytesMut};
use http::Response;
use serde_json::{Value, json};

use super::Ctx;
use super::table_view as table;
use crate::api::cache::{CacheError, CachedObject, Filter, Page};
use crate::api::http::{self as h, Body};
use crate::api::selector::{FieldSelector, LabelSelector};
use crate::api::status::ApiError;
use crate::store::{ListRequest, Revision};

pub(crate) fn cache_error(error: CacheError) -> ApiError {
    match error {
        CacheError::TooOld { requested, oldest } => {
            ApiError::expired(format!("too old resource version: {requested} ({oldest})"))
        }
        CacheError::Stale => {
            ApiError::timeout("Too large resource version: the cache is not caught up")
        }
        CacheError::Store(e) => ApiError::from_store(e),
    }
}

/// The filter a list or watch asks for.
pub(crate) fn filter(ctx: &Ctx<'_>) -> Result<Filter, ApiError> {
    let labels = LabelSelector::parse(ctx.query.get("labelSelector").unwrap_or_default())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let fields = FieldSelector::parse(ctx.query.get("fieldSelector").unwrap_or_default())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    for term in &fields.terms {
        let known = matches!(term.path.as_str(), "metadata.name" | "metadata.namespace")
            || ctx.info.selectable_fields.contains(&term.path);
        if !known {
            return Err(ApiError::bad_request(format!(
                "field label not supported: {}",
                term.path
            )));
        }
    }
    Ok(Filter {
        namespace: ctx.namespace().map(str::to_string),
        labels,
        fields,
    })
}

/// Parses a `resourceVersion` parameter.
pub(crate) fn parse_revision(value: &str) -> Result<Revision, ApiError> {
    value
        .parse::<Revision>()
        .ok()
        .filter(|r| *r >= 0)
        .ok_or_else(|| ApiError::bad_request(format!("invalid resource version {value:?}")))
}

/// A continue token: base64 of `{"v":"meta.k8s.io/v1","rv":R,"start":"<last key>"}`.
fn encode_continue(revision: Revision, last_key: &str) -> String {
    B64.encode(json!({"v": "meta.k8s.io/v1", "rv": revision, "start": last_key}).to_string())
}

fn decode_continue(token: &str, prefix: &str) -> Result<(Revision, String), ApiError> {
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let decoded = B64.decode(token).map_err(|_| bad())?;
    let value: Value = serde_json::from_slice(&decoded).map_err(|_| bad())?;
    let revision = value.get("rv").and_then(Value::as_i64).ok_or_else(bad)?;
    let start = value.get("start").and_then(Value::as_str).ok_or_else(bad)?;
    if !start.starts_with(prefix) {
        return Err(bad());
    }
    Ok((revision, start.to_string()))
}

/// A page read from the datastore at an exact past revision.
async fn page_from_store(
    ctx: &Ctx<'_>,
    prefix: &str,
    filter: &Filter,
    revision: Revision,
    start_after: Option<String>,
    limit: Option<usize>,
) -> Result<Page, ApiError> {
    let state = ctx.state;
    let mut objects = Vec::new();
    let mut request = ListRequest {
        prefix: prefix.to_string(),
        start_after,
        revision: Some(revision),
        limit: Some(limit.unwrap_or(500).max(50)),
    };
    loop {
        let page = state.store.list(&request).await.map_err(|e| match e {
            crate::store::Error::Compacted { .. } => ApiError::expired(
                "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
            ),
            other => ApiError::from_store(other),
        })?;
        for kv in &page.kvs {
            if let Some(object) = state.cache.object_from_store(kv)
                && filter.matches(&object)
            {
                objects.push(object);
            }
            if limit.is_some_and(|l| objects.len() >= l) {
                let more = page.more
                    || kv.key != page.kvs.last().map(|k| k.key.clone()).unwrap_or_default();
                let last = objects.last().map(|o| o.key.clone());
                return Ok(Page {
                    objects,
                    revision,
                    continue_after: if more { last } else { None },
                    remaining: None,
                });
            }
        }
        if !page.more {
            return Ok(Page {
                objects,
                revision,
                continue_after: None,
                remaining: None,
            });
        }
        request.start_after = page.kvs.last().map(|kv| kv.key.clone());
    }
}

pub async fn list(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let filter = filter(ctx)?;
    let prefix = ctx.info.list_prefix(ctx.namespace());
    let limit = ctx
        .query
        .int("limit")?
        .filter(|l| *l > 0)
        .map(|l| l as usize);
    let cache = &ctx.state.cache;
    let page = if let Some(token) = ctx.query.get("continue").filter(|t| !t.is_empty()) {
        let (revision, start) = decode_continue(token, &prefix)?;
        if revision == cache.revision() {
            cache.list(&prefix, &filter, Some(&start), limit)
        } else {
            page_from_store(ctx, &prefix, &filter, revision, Some(start), limit).await?
        }
    } else {
        match (
            ctx.query.get("resourceVersion").filter(|v| !v.is_empty()),
            ctx.query.get("resourceVersionMatch"),
        ) {
            (None, Some(m)) if !m.is_empty() => {
                return Err(ApiError::bad_request(
                    "resourceVersionMatch is forbidden unless resourceVersion is provided",
                ));
            }
            (None, _) => {
                cache
                    .wait_fresh(ctx.state.store.as_ref())
                    .await
                    .map_err(cache_error)?;
                cache.list(&prefix, &filter, None, limit)
            }
            (Some("0"), _) => cache.list(&prefix, &filter, None, limit),
            (Some(rv), Some("Exact")) => {
                let revision = parse_revision(rv)?;
                page_from_store(ctx, &prefix, &filter, revision, None, limit).await?
            }
            (Some(rv), None | Some("" | "NotOlderThan")) => {
                let revision = parse_revision(rv)?;
                cache.wait_for(revision).await.map_err(cache_error)?;
                cache.list(&prefix, &filter, None, limit)
            }
            (Some(_), Some(other)) => {
                return Err(ApiError::bad_request(format!(
                    "resourceVersionMatch: Unsupported value: {other:?}: supported values: \"Exact\", \"NotOlderThan\""
                )));
            }
        }
    };
    let continue_token = page
        .continue_after
        .as_deref()
        .map(|last| encode_continue(page.revision, last));
    if h::wants_table(ctx.headers) {
        let include = ctx.query.get("includeObject").unwrap_or("Metadata");
        let table = table::list_table(
            &ctx.info,
            &page.objects,
            page.revision,
            continue_token.as_deref(),
            page.remaining,
            include,
        );
        return Ok(h::json(200, &table));
    }
    if h::wants_metadata_only(ctx.headers).is_some() {
        let items: Vec<Value> = page
            .objects
            .iter()
            .map(|o| table::partial_metadata(&o.value()))
            .collect();
        let mut meta = json!({"resourceVersion": page.revision.to_string()});
        if let Some(token) = &continue_token {
            meta["continue"] = json!(token);
        }
        return Ok(h::json(
            200,
            &json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "items": items}),
        ));
    }
    Ok(h::json_bytes(
        200,
        list_bytes(
            ctx,
            &page.objects,
            page.revision,
            continue_token.as_deref(),
            page.remaining,
        ),
    ))
}

/// A `<Kind>List` assembled from the cached objects' bytes without re-serializing them.
pub(crate) fn list_bytes(
    ctx: &Ctx<'_>,
    objects: &[Arc<CachedObject>],
    revision: Revision,
    continue_token: Option<&str>,
    remaining: Option<u64>,
) -> bytes::Bytes {
    let mut meta = json!({"resourceVersion": revision.to_string()});
    if let Some(token) = continue_token {
        meta["continue"] = json!(token);
    }
    if let Some(remaining) = remaining {
        meta["remainingItemCount"] = json!(remaining);
    }
    let head = json!({"kind": ctx.info.list_kind(), "apiVersion": ctx.info.api_version(), "metadata": meta});
    let head = head.to_string();
    let size: usize = objects.iter().map(|o| o.json.len() + 1).sum();
    let mut out = BytesMut::with_capacity(head.len() + size + 16);
    // `{"apiVersion":…,"metadata":{…}` then `,"items":[…]}`.
    out.put_slice(&head.as_bytes()[..head.len() - 1]);
    out.put_slice(b",\"items\":[");
    for (i, object) in objects.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        out.put_slice(&crate::api::handlers::watch::versioned(ctx, object));
    }
    out.put_slice(b"]}");
    out.freeze()
}

pub async fn get(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let cache = &ctx.state.cache;
    match ctx.query.get("resourceVersion").filter(|v| !v.is_empty()) {
        None => {
            cache
                .wait_fresh(ctx.state.store.as_ref())
                .await
                .map_err(cache_error)?;
        }
        Some("0") => {}
        Some(rv) => {
            cache
                .wait_for(parse_revision(rv)?)
                .await
                .map_err(cache_error)?;
        }
    }
    let object = cache
        .get(&ctx.key())
        .ok_or_else(|| ApiError::not_found(ctx.info.subject(), ctx.name()))?;
    match ctx.path.subresource.as_deref() {
        Some("scale") => return crate::api::handlers::write::scale_response(ctx, &object.value()),
        Some("status") | None => {}
        Some(other) => {
            return Err(ApiError::service_unavailable(format!(
                "the {other} subresource is served by the node agent, which is not running"
            )));
        }
    }
    if h::wants_table(ctx.headers) {
        let include = ctx.query.get("includeObject").unwrap_or("Metadata");
        let table = table::list_table(
            &ctx.info,
            std::slice::from_ref(&object),
            object.revision,
            None,
            None,
            include,
        );
        return Ok(h::json(200, &table));
    }
    if h::wants_metadata_only(ctx.headers).is_some() {
        return Ok(h::json(200, &table::partial_metadata(&object.value())));
    }
    Ok(h::json_bytes(
        200,
        crate::api::handlers::watch::versioned(ctx, &object),
    ))
}
