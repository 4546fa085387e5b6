//! Request dispatch: from a parsed route and method to the handler of each verb.
//!
//! - [`read`]: get and list (also as Tables); [`watch`]: watch streams;
//! - [`write`]: create, update and patch, and the shared write pipeline;
//! - [`delete`]: delete and deletecollection, with finalizers and graceful deletion;
//! - [`discovery`]: version, health, and the discovery documents.

pub mod delete;
pub mod discovery;
pub mod eviction;
pub mod openapi;
pub mod read;
pub mod subresources;
pub mod table_view;
pub mod watch;
pub mod write;

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response};
use serde_json::Value;

use super::ApiState;
use super::auth::UserInfo;
use super::http::{self as h, Body};
use super::protobuf;
use super::registry::ResourceInfo;
use super::request::{Query, ResourcePath, Route, route};
use super::status::ApiError;

/// One resource request, resolved.
pub struct Ctx<'a> {
    pub state: &'a Arc<ApiState>,
    pub user: &'a UserInfo,
    pub method: &'a Method,
    pub headers: &'a HeaderMap,
    pub query: Query,
    pub path: ResourcePath,
    pub info: Arc<ResourceInfo>,
    pub body: Bytes,
    /// Warnings for the response's `Warning` headers.
    pub warnings: std::sync::Mutex<Vec<String>>,
    /// The connection's pending upgrade (exec and attach switch to a WebSocket).
    pub upgrade: std::sync::Mutex<Option<hyper::upgrade::OnUpgrade>>,
}

impl Ctx<'_> {
    /// Records warnings for the response.
    pub fn warn(&self, warnings: Vec<String>) {
        if !warnings.is_empty() {
            self.warnings
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(warnings);
        }
    }

    /// The object's name from the path (item requests always have one).
    pub fn name(&self) -> &str {
        self.path.name.as_deref().unwrap_or_default()
    }

    pub fn namespace(&self) -> Option<&str> {
        if self.info.namespaced {
            self.path.namespace.as_deref()
        } else {
            None
        }
    }

    pub fn key(&self) -> String {
        self.info.key(self.namespace(), self.name())
    }

    /// The request body as a JSON object, whatever format it came in.
    pub fn body_object(&self) -> Result<Value, ApiError> {
        decode_body(self.headers, &self.body)
    }
}

/// Decodes a JSON, YAML or protobuf request body.
pub fn decode_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let content_type = h::content_type(headers);
    let value: Value = match content_type.as_str() {
        "" | "application/json" | "*/*" => serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!(
                "the body of the request could not be decoded as JSON: {e}"
            ))
        })?,
        "application/yaml" | "application/x-yaml" | "text/yaml" => serde_yaml_ng::from_slice(body)
            .map_err(|e| {
                ApiError::bad_request(format!(
                    "the body of the request could not be decoded as YAML: {e}"
                ))
            })?,
        protobuf::MEDIA_TYPE => protobuf::decode_body(body).map_err(|e| match e {
            protobuf::ProtobufError::UnsupportedKind { .. } => {
                ApiError::unsupported_media_type(&content_type)
            }
            other => ApiError::bad_request(format!(
                "the body of the request could not be decoded as protobuf: {other}"
            )),
        })?,
        other => return Err(ApiError::unsupported_media_type(other)),
    };
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    Ok(value)
}

/// Handles one authenticated-or-anonymous request whose body has been read.
pub async fn handle(
    state: &Arc<ApiState>,
    request: Request<Bytes>,
    user: Option<UserInfo>,
) -> Response<Body> {
    let (mut parts, body) = request.into_parts();
    let upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
    let route = route(parts.uri.path());
    let query = Query::parse(parts.uri.query());
    let public = matches!(
        route,
        Route::Version | Route::Health(_) | Route::CaCerts | Route::Ping
    );
    let user = match user {
        Some(user) => impersonated(&parts.headers).unwrap_or(user),
        None if public => UserInfo::new("system:anonymous", vec!["system:unauthenticated".into()]),
        None => return h::error(&ApiError::unauthorized()),
    };
    let result = match route {
        Route::Resource(path)
            if path.group.is_empty()
                && path.plural == "nodes"
                && path.subresource.as_deref() == Some("proxy") =>
        {
            let name = path.name.as_deref().unwrap_or_default();
            crate::api::kubelet::proxy::handle(
                state,
                name,
                &parts.method,
                &parts.uri,
                &parts.headers,
                body,
            )
            .await
        }
        Route::Resource(path) => {
            let Some(info) = state.registry.get(&path.group, &path.version, &path.plural) else {
                return h::error(&ApiError::path_not_found());
            };
            let ctx = Ctx {
                state,
                user: &user,
                method: &parts.method,
                headers: &parts.headers,
                query,
                path,
                info,
                body,
                warnings: Default::default(),
                upgrade: std::sync::Mutex::new(upgrade),
            };
            let result = resource(&ctx).await;
            let warnings =
                std::mem::take(&mut *ctx.warnings.lock().unwrap_or_else(|e| e.into_inner()));
            result.map(|mut response| {
                for warning in warnings {
                    let text = format!("299 - {:?}", warning);
                    if let Ok(value) = http::HeaderValue::from_str(&text) {
                        response.headers_mut().append(http::header::WARNING, value);
                    }
                }
                response
            })
        }
        other => discovery::handle(state, &parts.method, &parts.headers, &query, other).await,
    };
    match result {
        Ok(response) => response,
        Err(error) => h::error(&error),
    }
}

/// The user an authenticated request impersonates (`Impersonate-User`, `Impersonate-Group`,
/// `Impersonate-Uid`, `Impersonate-Extra-<key>`), as `kubectl --as` sends. Without
/// authorization every authenticated user may impersonate, as administrators may upstream.
fn impersonated(headers: &http::HeaderMap) -> Option<UserInfo> {
    let name = headers.get("impersonate-user")?.to_str().ok()?.to_string();
    let groups: Vec<String> = headers
        .get_all("impersonate-group")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    let mut user = if name == "system:anonymous" {
        UserInfo {
            name,
            groups,
            ..Default::default()
        }
    } else {
        UserInfo::new(name, groups)
    };
    if let Some(uid) = headers.get("impersonate-uid").and_then(|v| v.to_str().ok()) {
        user.uid = uid.to_string();
    }
    for (key, value) in headers {
        if let Some(extra) = key.as_str().strip_prefix("impersonate-extra-")
            && let Ok(value) = value.to_str()
        {
            match user.extra.iter_mut().find(|(k, _)| k == extra) {
                Some((_, values)) => values.push(value.to_string()),
                None => user
                    .extra
                    .push((extra.to_string(), vec![value.to_string()])),
            }
        }
    }
    Some(user)
}

async fn resource(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let sub = ctx.path.subresource.as_deref();
    if let Some(sub) = sub
        && ctx.info.subresource(sub).is_none()
    {
        return Err(ApiError::path_not_found());
    }
    if ctx.info.namespaced && ctx.path.name.is_some() && ctx.path.namespace.is_none() {
        return Err(ApiError::path_not_found());
    }
    if !ctx.info.namespaced && ctx.path.namespace.is_some() {
        return Err(ApiError::path_not_found());
    }
    let watch = ctx.path.watch_prefix || ctx.query.flag("watch");
    let verb = match (ctx.method, ctx.path.name.is_some()) {
        (&Method::GET, false) if watch => "watch",
        (&Method::GET, false) => "list",
        (&Method::GET, true) if watch => "watch",
        (&Method::GET, true) => "get",
        (&Method::POST, false) => "create",
        (&Method::POST, true) if sub.is_some() => "create",
        (&Method::PUT, true) => "update",
        (&Method::PATCH, true) => "patch",
        (&Method::DELETE, true) => "delete",
        (&Method::DELETE, false) => "deletecollection",
        _ => "",
    };
    let allowed = match sub.and_then(|s| ctx.info.subresource(s)) {
        Some(s) => s.verbs.iter().any(|v| v == verb),
        None => ctx.info.has_verb(verb),
    };
    if !allowed {
        return Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        ));
    }
    if ctx.info.kind == "Pod" && ctx.info.group.is_empty() {
        use crate::api::streaming::{exec, logs, portforward};
        let upgrade = || ctx.upgrade.lock().unwrap_or_else(|e| e.into_inner()).take();
        match sub {
            Some("log") => return logs::handle(ctx).await,
            Some("exec") => return exec::handle(ctx, exec::Kind::Exec, upgrade()).await,
            Some("attach") => return exec::handle(ctx, exec::Kind::Attach, upgrade()).await,
            Some("portforward") => return portforward::handle(ctx, upgrade()).await,
            _ => {}
        }
    }
    match verb {
        "watch" => watch::watch(ctx).await,
        "list" => read::list(ctx).await,
        "get" => read::get(ctx).await,
        "create" => write::create(ctx).await,
        "update" => write::update(ctx).await,
        "patch" => write::patch(ctx).await,
        "delete" => delete::delete(ctx).await,
        "deletecollection" => delete::delete_collection(ctx).await,
        _ => Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        )),
    }
}
