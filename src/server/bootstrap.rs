//! Objects every cluster has from its first start: the `default`, `kube-system`,
//! `kube-public` and `kube-node-lease` namespaces. Created through the API (in process) so
//! they are defaulted and validated like any other object.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request};
use serde_json::json;

use crate::api::ApiState;
use crate::api::auth::UserInfo;
use crate::api::server::handle_local;

pub const SYSTEM_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

/// Creates the system namespaces that do not exist yet.
///
/// # Errors
/// When the API refuses one for another reason than that it exists.
pub async fn system_namespaces(state: &Arc<ApiState>) -> anyhow::Result<()> {
    for name in SYSTEM_NAMESPACES {
        let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        let request = Request::builder()
            .method(Method::POST)
            .uri("/api/v1/namespaces?fieldManager=kedge")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Bytes::from(body.to_string()))?;
        let response = handle_local(state, request, UserInfo::system("kedge-server")).await;
        let status = response.status().as_u16();
        if status != 201 && status != 409 {
            anyhow::bail!("cannot create the {name} namespace: HTTP {status}");
        }
    }
    Ok(())
}
