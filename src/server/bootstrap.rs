//! Objects every cluster has from its first start: the `default`, `kube-system`,
//! `kube-public` and `kube-node-lease` namespaces, the `system-node-critical` and
//! `system-cluster-critical` PriorityClasses, and the `default/kubernetes` Service. Created
//! through the API (in process) so they are defaulted and validated like any other object.

use std::sync::Arc;

use bytes::Bytes;
use http::Method;
use serde_json::json;

use crate::api::ApiState;
use crate::api::auth::UserInfo;

pub const SYSTEM_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

/// Creates the system namespaces that do not exist yet.
///
/// # Errors
/// When the API refuses one for another reason than that it exists.
pub async fn system_namespaces(state: &Arc<ApiState>) -> anyhow::Result<()> {
    for name in SYSTEM_NAMESPACES {
        let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        create_if_missing(state, "/api/v1/namespaces", body).await?;
    }
    Ok(())
}

/// Creates the system PriorityClasses that do not exist yet (a deleted one comes back at the
/// next start, as upstream's API server does it).
///
/// # Errors
/// When the API refuses one for another reason than that it exists.
pub async fn system_priority_classes(state: &Arc<ApiState>) -> anyhow::Result<()> {
    for (name, value, description) in crate::api::admission::priority::SYSTEM_CLASSES {
        let body = json!({
            "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": name}, "value": value, "description": description,
        });
        create_if_missing(state, "/apis/scheduling.k8s.io/v1/priorityclasses", body).await?;
    }
    Ok(())
}

/// POSTs `object` to the collection at `uri` unless it exists.
async fn create_if_missing(
    state: &Arc<ApiState>,
    uri: &str,
    object: serde_json::Value,
) -> anyhow::Result<()> {
    let (status, body) = crate::api::local::request(
        state,
        &UserInfo::system("kedge-server"),
        Method::POST,
        &format!("{uri}?fieldManager=kedge"),
        "application/json",
        Bytes::from(object.to_string()),
    )
    .await;
    if status != 201 && status != 409 {
        anyhow::bail!(
            "cannot create {uri}/{}: HTTP {status}: {}",
            object["metadata"]["name"].as_str().unwrap_or_default(),
            String::from_utf8_lossy(&body)
        );
    }
    Ok(())
}

/// Server-side applies `object` at `uri` as the API server's own field manager.
async fn apply(state: &Arc<ApiState>, uri: &str, object: serde_json::Value) -> anyhow::Result<()> {
    let (status, body) = crate::api::local::request(
        state,
        &UserInfo::system("kedge-server"),
        Method::PATCH,
        &format!("{uri}?fieldManager=kube-apiserver&force=true"),
        "application/apply-patch+yaml",
        Bytes::from(object.to_string()),
    )
    .await;
    if status >= 300 {
        anyhow::bail!(
            "cannot apply {uri}: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(())
}

/// The `default/kubernetes` Service at the first service IP, and its Endpoints and
/// EndpointSlice pointing at this API server (`address:port`), brought up to date at every
/// start.
///
/// # Errors
/// When the API refuses one of them.
pub async fn kubernetes_service(
    state: &Arc<ApiState>,
    address: std::net::IpAddr,
    port: u16,
) -> anyhow::Result<()> {
    let ip = state.services.first_ip().to_string();
    apply(
        state,
        "/api/v1/namespaces/default/services/kubernetes",
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": ip, "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}],
                     "sessionAffinity": "None", "type": "ClusterIP"},
        }),
    )
    .await?;
    apply(
        state,
        "/api/v1/namespaces/default/endpoints/kubernetes",
        json!({
            "apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{"addresses": [{"ip": address.to_string()}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
        }),
    )
    .await?;
    let family = if address.is_ipv4() { "IPv4" } else { "IPv6" };
    apply(
        state,
        "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes",
        json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"kubernetes.io/service-name": "kubernetes"}},
            "addressType": family,
            "endpoints": [{"addresses": [address.to_string()], "conditions": {"ready": true}}],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
        }),
    )
    .await
}
