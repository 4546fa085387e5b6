//! The non-resource endpoints: `/version`, health checks, `/cacerts`, `/ping`, OpenAPI, and
//! discovery, legacy (`APIVersions`, `APIGroupList`, `APIGroup`, `APIResourceList`) and
//! aggregated (`APIGroupDiscoveryList` v2 and v2beta1, chosen by exact content negotiation:
//! answering a version the client did not ask for breaks kubectl).

use std::sync::Arc;

use http::{HeaderMap, Method, Response};
use serde_json::{Value, json};

use crate::api::http::{self as h, Body};
use crate::api::registry::ResourceInfo;
use crate::api::request::{Query, Route};
use crate::api::status::ApiError;
use crate::api::{ApiState, KUBERNETES_VERSION, git_version};

fn version() -> Value {
    let (major, minor, _) = KUBERNETES_VERSION;
    json!({
        "major": major.to_string(),
        "minor": minor.to_string(),
        "emulationMajor": major.to_string(),
        "emulationMinor": minor.to_string(),
        "gitVersion": git_version(),
        "gitCommit": option_env!("KEDGE_GIT_COMMIT").unwrap_or(""),
        "gitTreeState": "clean",
        "buildDate": option_env!("KEDGE_BUILD_DATE").unwrap_or("1970-01-01T00:00:00Z"),
        "goVersion": "n/a (Rust)",
        "compiler": "rustc",
        "platform": format!("linux/{}", match std::env::consts::ARCH { "x86_64" => "amd64", "aarch64" => "arm64", other => other }),
    })
}

/// The aggregated discovery version the client asked for first, if any.
fn aggregated_version(headers: &HeaderMap) -> Option<&'static str> {
    h::accepts(headers).iter().find_map(|r| {
        if r.param("g") != Some("apidiscovery.k8s.io")
            || r.param("as") != Some("APIGroupDiscoveryList")
        {
            return None;
        }
        match r.param("v") {
            Some("v2") => Some("v2"),
            Some("v2beta1") => Some("v2beta1"),
            _ => None,
        }
    })
}

fn scope(info: &ResourceInfo) -> &'static str {
    if info.namespaced {
        "Namespaced"
    } else {
        "Cluster"
    }
}

/// `APIResourceList` entries for one kind and its subresources.
fn legacy_entries(info: &ResourceInfo) -> Vec<Value> {
    let mut entry = json!({
        "name": info.plural,
        "singularName": info.singular,
        "namespaced": info.namespaced,
        "kind": info.kind,
        "verbs": info.verbs,
    });
    if !info.short_names.is_empty() {
        entry["shortNames"] = json!(info.short_names);
    }
    if !info.categories.is_empty() {
        entry["categories"] = json!(info.categories);
    }
    let mut entries = vec![entry];
    for sub in &info.subresources {
        let mut e = json!({
            "name": format!("{}/{}", info.plural, sub.name),
            "singularName": "",
            "namespaced": info.namespaced,
            "kind": sub.kind,
            "verbs": sub.verbs,
        });
        if sub.group != info.group || sub.version != info.version {
            e["group"] = json!(sub.group);
            e["version"] = json!(sub.version);
        }
        entries.push(e);
    }
    entries
}

fn resource_list(state: &ApiState, group: &str, version: &str) -> Option<Value> {
    let resources = state.registry.resources(group, version);
    if resources.is_empty() {
        return None;
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let entries: Vec<Value> = resources.iter().flat_map(|r| legacy_entries(r)).collect();
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": entries}),
    )
}

fn group_object(name: &str, versions: &[String]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({"name": name, "versions": versions, "preferredVersion": versions.first().cloned().unwrap_or(Value::Null)})
}

fn aggregated_resource(info: &ResourceInfo) -> Value {
    let mut entry = json!({
        "resource": info.plural,
        "responseKind": {"group": info.group, "version": info.version, "kind": info.kind},
        "scope": scope(info),
        "singularResource": info.singular,
        "verbs": info.verbs,
    });
    if !info.short_names.is_empty() {
        entry["shortNames"] = json!(info.short_names);
    }
    if !info.categories.is_empty() {
        entry["categories"] = json!(info.categories);
    }
    if !info.subresources.is_empty() {
        entry["subresources"] = info
            .subresources
            .iter()
            .map(|s| {
                json!({
                    "subresource": s.name,
                    "responseKind": {"group": s.group, "version": s.version, "kind": s.kind},
                    "verbs": s.verbs,
                })
            })
            .collect();
    }
    entry
}

fn aggregated(state: &ApiState, core: bool, version: &str) -> Value {
    let items: Vec<Value> = state
        .registry
        .groups()
        .iter()
        .filter(|g| g.name.is_empty() == core)
        .map(|g| {
            let versions: Vec<Value> = g
                .versions
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = state
                        .registry
                        .resources(&g.name, v)
                        .iter()
                        .map(|r| aggregated_resource(r))
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            let mut metadata = json!({"creationTimestamp": null});
            if !core {
                metadata["name"] = json!(g.name);
            }
            json!({"metadata": metadata, "versions": versions})
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": items,
    })
}

fn aggregated_response(state: &ApiState, core: bool, version: &str) -> Response<Body> {
    let content_type =
        format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList");
    let mut response = h::json_as(200, &content_type, &aggregated(state, core, version));
    response
        .headers_mut()
        .insert(http::header::VARY, http::HeaderValue::from_static("Accept"));
    response
}

fn health(kind: &str, query: &Query) -> Response<Body> {
    if query.get("verbose").is_some() {
        let checks = [
            "ping",
            "log",
            "etcd",
            "informer-sync",
            "poststarthook/start-kube-apiserver-admission-initializer",
        ];
        let mut text: String = checks.iter().map(|c| format!("[+]{c} ok\n")).collect();
        text.push_str(&format!("{kind} check passed\n"));
        return h::text(200, text);
    }
    h::text(200, "ok")
}

pub async fn handle(
    state: &Arc<ApiState>,
    method: &Method,
    headers: &HeaderMap,
    query: &Query,
    route: Route,
) -> Result<Response<Body>, ApiError> {
    if method != Method::GET && method != Method::HEAD {
        return Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        ));
    }
    match route {
        Route::Version => Ok(h::json(200, &version())),
        Route::Health(kind) => Ok(health(kind, query)),
        Route::Ping => Ok(h::text(200, "pong")),
        Route::CaCerts => Ok(h::bytes(
            200,
            "text/plain",
            state.pki.server_ca.cert_pem.clone(),
        )),
        Route::LegacyVersions => match aggregated_version(headers) {
            Some(v) => Ok(aggregated_response(state, true, v)),
            None => Ok(h::json(
                200,
                &json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]}),
            )),
        },
        Route::LegacyResources => resource_list(state, "", "v1")
            .map(|l| h::json(200, &l))
            .ok_or_else(ApiError::path_not_found),
        Route::Groups => match aggregated_version(headers) {
            Some(v) => Ok(aggregated_response(state, false, v)),
            None => {
                let groups: Vec<Value> = state
                    .registry
                    .groups()
                    .iter()
                    .filter(|g| !g.name.is_empty())
                    .map(|g| group_object(&g.name, &g.versions))
                    .collect();
                Ok(h::json(
                    200,
                    &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
                ))
            }
        },
        Route::Group(name) => state
            .registry
            .groups()
            .iter()
            .find(|g| g.name == name && !name.is_empty())
            .map(|g| {
                let mut group = group_object(&g.name, &g.versions);
                group["kind"] = json!("APIGroup");
                group["apiVersion"] = json!("v1");
                h::json(200, &group)
            })
            .ok_or_else(ApiError::path_not_found),
        Route::GroupResources(group, version) => resource_list(state, &group, &version)
            .map(|l| h::json(200, &l))
            .ok_or_else(ApiError::path_not_found),
        Route::OpenApiV2 => Ok(state.openapi.v2(state)),
        Route::OpenApiV3Index => Ok(state.openapi.v3_index(state)),
        Route::OpenApiV3Document(name) => state.openapi.v3_document(state, &name),
        Route::NotFound | Route::Resource(_) => Err(ApiError::path_not_found()),
    }
}
