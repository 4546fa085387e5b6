//! Namespace deletion: once a namespace is Terminating, delete everything in it; when
//! nothing is left, remove the `kubernetes` finalizer through `namespaces/<ns>/finalize`,
//! which lets the namespace go. Progress is reported in the namespace's conditions.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::Method;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::{Context, ReconcileError, retry_later};
use crate::api::auth::UserInfo;
use crate::api::local;
use crate::api::object;

fn user() -> UserInfo {
    UserInfo::system("namespace-controller")
}

fn condition(kind: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": kind, "status": status, "lastTransitionTime": object::now(), "reason": reason, "message": message})
}

async fn reconcile(namespace: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    if namespace.metadata.deletion_timestamp.is_none() {
        return Ok(Action::await_change());
    }
    let name = namespace.metadata.name.clone().unwrap_or_default();
    let state = &ctx.api;
    // Everything in the namespace, by resource.
    let mut remaining: BTreeMap<String, usize> = BTreeMap::new();
    let mut finalizers: BTreeMap<String, usize> = BTreeMap::new();
    for cached in state.cache.all_objects() {
        if cached.namespace.as_deref() != Some(name.as_str()) {
            continue;
        }
        let Some(info) = state.registry.for_key(&cached.key) else {
            continue;
        };
        let qualified = info.subject().qualified_resource();
        *remaining.entry(qualified.clone()).or_default() += 1;
        let value = cached.value();
        for f in object::finalizers(&value) {
            *finalizers.entry(f).or_default() += 1;
        }
        if object::is_deleting(&value) {
            continue;
        }
        let uri = format!(
            "{}?propagationPolicy=Background",
            info.path(Some(&name), &cached.name)
        );
        let (status, body) = local::request(
            state,
            &user(),
            Method::DELETE,
            &uri,
            "application/json",
            Bytes::new(),
        )
        .await;
        if status >= 300 && status != 404 && status != 409 {
            return Err(ReconcileError::Request(format!(
                "deleting {qualified} {} in {name}: HTTP {status}: {}",
                cached.name,
                String::from_utf8_lossy(&body)
            )));
        }
    }
    let mut conditions = Vec::new();
    if remaining.is_empty() {
        let finalize = json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "resourceVersion": namespace.metadata.resource_version},
            "spec": {"finalizers": []},
        });
        let uri = format!("/api/v1/namespaces/{name}/finalize");
        let (status, body) = local::request(
            state,
            &user(),
            Method::PUT,
            &uri,
            "application/json",
            Bytes::from(finalize.to_string()),
        )
        .await;
        return match status {
            200..=299 | 404 => Ok(Action::await_change()),
            409 => Ok(Action::requeue(Duration::from_millis(200))),
            _ => Err(ReconcileError::Request(format!(
                "finalizing namespace {name}: HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            ))),
        };
    }
    let summary: Vec<String> = remaining
        .iter()
        .map(|(r, n)| format!("{r} has {n} resource instances"))
        .collect();
    conditions.push(condition(
        "NamespaceContentRemaining",
        "True",
        "SomeResourcesRemain",
        &format!("Some resources are remaining: {}", summary.join(", ")),
    ));
    if !finalizers.is_empty() {
        let summary: Vec<String> = finalizers
            .iter()
            .map(|(f, n)| format!("{f} in {n} resource instances"))
            .collect();
        conditions.push(condition(
            "NamespaceFinalizersRemaining",
            "True",
            "SomeFinalizersRemain",
            &format!(
                "Some content in the namespace has finalizers remaining: {}",
                summary.join(", ")
            ),
        ));
    }
    let current: Vec<(String, String)> = namespace
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .map(|c| {
            c.iter()
                .map(|c| (c.type_.clone(), c.message.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let wanted: Vec<(String, String)> = conditions
        .iter()
        .map(|c| {
            (
                c["type"].as_str().unwrap_or_default().to_string(),
                c["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    if current != wanted {
        let patch = json!({"status": {"phase": "Terminating", "conditions": conditions}});
        let uri = format!("/api/v1/namespaces/{name}/status");
        let _ = local::request(
            state,
            &user(),
            Method::PATCH,
            &uri,
            "application/merge-patch+json",
            Bytes::from(patch.to_string()),
        )
        .await;
    }
    Ok(Action::requeue(Duration::from_secs(1)))
}

pub async fn run(ctx: Context, shutdown: CancellationToken) {
    let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
    Controller::new(namespaces, watcher::Config::default())
        .graceful_shutdown_on(async move { shutdown.cancelled().await })
        .run(reconcile, retry_later, Arc::new(ctx))
        .for_each(|_| async {})
        .await;
}
