//! The API server's calls to kubelets over their HTTPS API (port 10250,
//! [`crate::agent::kubelet::server`]), as upstream's `--kubelet-client-certificate` does:
//! TLS with the API server's kubelet client certificate (`system:apiserver`), the kubelet's
//! serving certificate verified against the cluster's server CA, and the node's address
//! from its status (InternalIP, then ExternalIP, then Hostname, k3s's preference) and
//! `daemonEndpoints.kubeletEndpoint.Port`.
//!
//! - [`proxy`]: the `nodes/proxy` subresource;
//! - [`streams`]: [`crate::api::streaming::NodeStreams`] for nodes without an in-process
//!   kubelet, with [`exec`] (exec and attach) and [`port_forward`], each a WebSocket to the
//!   kubelet.

pub mod exec;
pub mod port_forward;
pub mod proxy;
pub mod streams;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;

use super::ApiState;
use super::status::ApiError;
use crate::pki::ClusterPki;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The HTTPS client for kubelets, built on first use from the cluster's certificates.
#[derive(Default)]
pub struct KubeletClient {
    client: OnceLock<Result<HttpsClient, String>>,
}

fn build(pki: &ClusterPki) -> Result<HttpsClient, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pki.server_ca.cert_pem.as_bytes()) {
        roots
            .add(cert.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let identity = &pki.apiserver_kubelet_client;
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(identity.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
    let key =
        PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes()).map_err(|e| e.to_string())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| e.to_string())?;
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    http.set_nodelay(true);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector))
}

/// Where a node's kubelet listens: `https://<address>:<port>`.
///
/// # Errors
/// The node reports no address or no kubelet port.
pub fn endpoint(node: &Value) -> Result<String, ApiError> {
    let name = node
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let addresses = node
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let address = ["InternalIP", "ExternalIP", "Hostname"]
        .iter()
        .find_map(|kind| {
            addresses
                .iter()
                .filter(|a| a.get("type").and_then(Value::as_str) == Some(kind))
                .find_map(|a| a.get("address").and_then(Value::as_str))
                .filter(|a| !a.is_empty())
        })
        .ok_or_else(|| {
            ApiError::service_unavailable(format!(
                "no preferred addresses found for node {name:?}; known addresses: []"
            ))
        })?;
    let port = node
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_u64)
        .filter(|p| (1..=65535).contains(p))
        .ok_or_else(|| {
            ApiError::service_unavailable(format!(
                "node {name:?} reports no kubelet port (status.daemonEndpoints.kubeletEndpoint.Port)"
            ))
        })?;
    let host = match address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => format!("[{v6}]"),
        _ => address.to_string(),
    };
    Ok(format!("https://{host}:{port}"))
}

/// The stored node `name`, from the watch cache.
///
/// # Errors
/// Upstream's NotFound for nodes.
pub fn node(state: &ApiState, name: &str) -> Result<Value, ApiError> {
    let info = state
        .registry
        .get("", "v1", "nodes")
        .ok_or_else(|| ApiError::internal("the nodes resource is not registered"))?;
    state
        .cache
        .get(&info.key(None, name))
        .map(|cached| cached.value())
        .ok_or_else(|| ApiError::not_found(info.subject(), name))
}

impl KubeletClient {
    /// Sends `request` (its URI relative: path and query) to the kubelet of node `name`.
    ///
    /// # Errors
    /// The node is unknown or has no endpoint, or its kubelet cannot be reached
    /// (`ServiceUnavailable` naming the node).
    pub async fn send(
        &self,
        state: &ApiState,
        name: &str,
        mut request: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, ApiError> {
        let node = node(state, name)?;
        let base = endpoint(&node)?;
        let client = self
            .client
            .get_or_init(|| build(&state.pki))
            .as_ref()
            .map_err(|e| {
                ApiError::internal(format!("cannot build the kubelet client's TLS: {e}"))
            })?;
        let target = request
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let uri: http::Uri = format!("{base}{target}").parse().map_err(|e| {
            ApiError::bad_request(format!("cannot address the kubelet of node {name:?}: {e}"))
        })?;
        *request.uri_mut() = uri;
        client.request(request).await.map_err(|error| {
            use std::error::Error;
            let mut cause = error.to_string();
            let mut source = error.source();
            while let Some(inner) = source {
                cause = format!("{cause}: {inner}");
                source = inner.source();
            }
            ApiError::service_unavailable(format!(
                "the kubelet of node {name:?} at {base} is not reachable: {cause}"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn endpoint_prefers_the_internal_ip() {
        let node = json!({"metadata": {"name": "n1"}, "status": {
            "addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "10.0.0.5"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        }});
        assert_eq!(endpoint(&node).unwrap(), "https://10.0.0.5:10250");
        let v6 = json!({"metadata": {"name": "n1"}, "status": {
            "addresses": [{"type": "InternalIP", "address": "fd00::5"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        }});
        assert_eq!(endpoint(&v6).unwrap(), "https://[fd00::5]:10250");
        let portless = json!({"metadata": {"name": "n1"}, "status": {
            "addresses": [{"type": "InternalIP", "address": "10.0.0.5"}],
        }});
        let error = endpoint(&portless).unwrap_err();
        assert_eq!(error.code, 503);
        assert!(error.message.contains("\"n1\""), "{}", error.message);
        assert_eq!(
            endpoint(&json!({"metadata": {"name": "n1"}}))
                .unwrap_err()
                .code,
            503
        );
    }
}
