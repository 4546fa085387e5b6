//! The kubelet's HTTPS API on port 10250, which the API server calls for `nodes/proxy` and
//! for the logs, exec, attach and port-forward of a node's pods.
//!
//! TLS serves `<data-dir>/agent/serving-kubelet.crt`, issued by the cluster's server CA for
//! the node's names and addresses (k3s's file name). A client must present a certificate of
//! the cluster's client CA, and only the API server's own (`system:apiserver`, k3s's
//! `client-kube-apiserver`) is authorized: no certificate is answered 401, any other user
//! 403, both with upstream's plain-text bodies. Paths are in [`super::server_routes`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use http::{HeaderMap, Method, Request, Response};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use super::Kubelet;
use super::server_routes::{self, ContainerPath, KubeletRoute};
use super::streaming::LocalStreams;
use crate::api::auth::UserInfo;
use crate::api::http::{self as h, Body};
use crate::api::request::Query;
use crate::api::status::ApiError;
use crate::api::streaming::exec::{ExecOptions, Kind};
use crate::api::streaming::{LogOptions, NodeStreams, channel, portforward};
use crate::pki::{APISERVER_KUBELET_CLIENT_USER, ServingNames};

/// The kubelet's port (upstream's and k3s's default).
pub const KUBELET_PORT: u16 = 10250;

#[derive(Debug, thiserror::Error)]
pub enum KubeletServerError {
    #[error("cannot issue the kubelet serving certificate: {0}")]
    Certificate(#[from] crate::pki::PkiError),
    #[error("invalid kubelet TLS material: {0}")]
    Tls(String),
    #[error(
        "cannot listen on {addr} for the kubelet API: {error} (is another kubelet, k3s or kedge running on this machine?)"
    )]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
}

fn tls_err(error: impl std::fmt::Display) -> KubeletServerError {
    KubeletServerError::Tls(error.to_string())
}

/// The names the kubelet serving certificate carries: the node's name, the host's name,
/// `localhost`, the node's addresses and loopback.
fn serving_names(kubelet: &Kubelet) -> ServingNames {
    let node = &kubelet.config.node;
    let mut names = ServingNames {
        dns: vec![
            node.name.clone(),
            crate::host::hostname().to_lowercase(),
            "localhost".into(),
        ],
        ips: vec![IpAddr::from([127, 0, 0, 1]), super::node::node_ip(kubelet)],
    };
    names.ips.extend(node.external_ip);
    names.dns.sort();
    names.dns.dedup();
    names.ips.sort();
    names.ips.dedup();
    names
}

/// The TLS configuration: the serving certificate, and client certificates requested and
/// verified against the client CA (a connection without one is answered 401).
fn tls_config(kubelet: &Kubelet) -> Result<Arc<rustls::ServerConfig>, KubeletServerError> {
    let pki = &kubelet.api.pki;
    let serving = pki.ensure_kubelet_serving(
        &kubelet.config.node.data_dir.agent(),
        &kubelet.config.node.name,
        &serving_names(kubelet),
    )?;
    crate::api::server::tls_with_client_ca(&serving, &pki.client_ca.cert_pem)
        .map_err(KubeletServerError::Tls)
}

/// Issues the serving certificate and binds `0.0.0.0:10250` (as upstream's kubelet), then
/// serves until `shutdown`.
///
/// # Errors
/// The certificate cannot be issued or the port is taken.
pub async fn start(
    kubelet: Arc<Kubelet>,
    shutdown: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, KubeletServerError> {
    let tls = {
        let kubelet = kubelet.clone();
        tokio::task::spawn_blocking(move || tls_config(&kubelet))
            .await
            .map_err(tls_err)??
    };
    let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, KUBELET_PORT));
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|error| KubeletServerError::Bind { addr, error })?;
    info!(%addr, "the kubelet API is listening");
    Ok(tokio::spawn(serve(kubelet, listener, tls, shutdown)))
}

async fn serve(
    kubelet: Arc<Kubelet>,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    shutdown: CancellationToken,
) {
    crate::api::server::serve_https(
        "kubelet API",
        listener,
        tls,
        shutdown,
        move |request, user| {
            let kubelet = kubelet.clone();
            async move { handle(&kubelet, request, user).await }
        },
    )
    .await;
}

fn text(code: u16, message: impl Into<String>) -> Response<Body> {
    let mut message = message.into();
    if !message.ends_with('\n') {
        message.push('\n');
    }
    h::text(code, message)
}

fn error(error: &ApiError) -> Response<Body> {
    text(error.code, error.message.clone())
}

/// Whether `user` may call the kubelet: only the API server's kubelet client identity.
///
/// # Errors
/// Upstream's `Unauthorized` without a user, its `Forbidden (user=…)` message for another.
fn authorize(
    user: Option<&UserInfo>,
    method: &Method,
    route: &KubeletRoute,
) -> Result<(), ApiError> {
    let Some(user) = user else {
        return Err(ApiError::new(
            401,
            "Unauthorized",
            "Unauthorized: the kubelet API requires the API server's client certificate",
        ));
    };
    if user.name == APISERVER_KUBELET_CLIENT_USER {
        return Ok(());
    }
    let subresource = match route {
        KubeletRoute::NotFound => "",
        _ => "proxy",
    };
    Err(ApiError::new(
        403,
        "Forbidden",
        format!(
            "Forbidden (user={}, verb={}, resource=nodes, subresource={subresource})",
            user.name,
            server_routes::verb(method)
        ),
    ))
}

async fn handle(
    kubelet: &Arc<Kubelet>,
    mut request: Request<Incoming>,
    user: Option<UserInfo>,
) -> Response<Body> {
    let route = server_routes::route(request.uri().path());
    if let Err(refused) = authorize(user.as_ref(), request.method(), &route) {
        return error(&refused);
    }
    let upgrade = hyper::upgrade::on(&mut request);
    let query = Query::parse(request.uri().query());
    let headers = request.headers().clone();
    let method = request.method().clone();
    debug!(%method, uri = %request.uri(), "kubelet API request");
    let result = match route {
        KubeletRoute::Healthz => Ok(h::text(200, "ok")),
        KubeletRoute::Pods => pods(kubelet).await,
        KubeletRoute::ContainerLogs {
            namespace,
            pod,
            container,
        } => container_logs(kubelet, &namespace, &pod, &container, &query).await,
        KubeletRoute::Exec(path) => {
            exec(kubelet, &path, Kind::Exec, &query, &headers, upgrade).await
        }
        KubeletRoute::Attach(path) => {
            exec(kubelet, &path, Kind::Attach, &query, &headers, upgrade).await
        }
        KubeletRoute::PortForward {
            namespace,
            pod,
            uid,
        } => {
            port_forward(
                kubelet,
                (&namespace, &pod, uid.as_deref()),
                &query,
                &headers,
                upgrade,
            )
            .await
        }
        KubeletRoute::NotFound => Err(ApiError::new(
            404,
            "NotFound",
            format!("404 page not found: {}", request.uri().path()),
        )),
    };
    result.unwrap_or_else(|e| error(&e))
}

/// The pods bound to this node, as upstream's `/pods` answers them.
async fn pods(kubelet: &Kubelet) -> Result<Response<Body>, ApiError> {
    let pods = kubelet
        .pods_on_node()
        .await
        .map_err(|e| ApiError::internal(format!("cannot list the node's pods: {e}")))?;
    let items = serde_json::to_value(&pods)
        .map_err(|e| ApiError::internal(format!("cannot encode the node's pods: {e}")))?;
    let body = json!({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items});
    Ok(h::json(200, &body))
}

/// Pod `namespace/name` as stored, when it is bound to this node (and is instance `uid`).
async fn bound_pod(
    kubelet: &Kubelet,
    namespace: &str,
    name: &str,
    uid: Option<&str>,
) -> Result<Value, ApiError> {
    let not_found = || {
        ApiError::new(
            404,
            "NotFound",
            format!("pod {namespace}/{name} does not exist"),
        )
    };
    let pod = Api::<Pod>::namespaced(kubelet.client.clone(), namespace)
        .get_opt(name)
        .await
        .map_err(|e| ApiError::internal(format!("cannot read pod {namespace}/{name}: {e}")))?
        .ok_or_else(not_found)?;
    let pod = serde_json::to_value(&pod)
        .map_err(|e| ApiError::internal(format!("cannot encode pod {namespace}/{name}: {e}")))?;
    let node = pod.pointer("/spec/nodeName").and_then(Value::as_str);
    let pod_uid = pod.pointer("/metadata/uid").and_then(Value::as_str);
    if node != Some(kubelet.config.node.name.as_str()) || uid.is_some_and(|u| Some(u) != pod_uid) {
        return Err(not_found());
    }
    Ok(pod)
}

fn has_container(pod: &Value, container: &str) -> bool {
    ["containers", "initContainers", "ephemeralContainers"]
        .iter()
        .filter_map(|list| pod.pointer(&format!("/spec/{list}"))?.as_array())
        .flatten()
        .any(|c| c.get("name").and_then(Value::as_str) == Some(container))
}

fn streams(kubelet: &Kubelet) -> Arc<dyn NodeStreams> {
    Arc::new(LocalStreams {
        dirs: kubelet.config.runtime.clone(),
    })
}

async fn container_logs(
    kubelet: &Kubelet,
    namespace: &str,
    name: &str,
    container: &str,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    let options = LogOptions::parse(query, name, Timestamp::now())?;
    let pod = bound_pod(kubelet, namespace, name, None).await?;
    if !has_container(&pod, container) {
        return Err(ApiError::new(
            404,
            "NotFound",
            format!("container {container:?} not found in pod {namespace}/{name}"),
        ));
    }
    let body = streams(kubelet).logs(&pod, container, &options).await?;
    Ok(h::streaming("text/plain", body))
}

async fn exec(
    kubelet: &Kubelet,
    path: &ContainerPath,
    kind: Kind,
    query: &Query,
    headers: &HeaderMap,
    upgrade: OnUpgrade,
) -> Result<Response<Body>, ApiError> {
    let options = ExecOptions::parse(query, kind)?;
    let pod = bound_pod(kubelet, &path.namespace, &path.pod, path.uid.as_deref()).await?;
    if !has_container(&pod, &path.container) {
        return Err(ApiError::new(
            404,
            "NotFound",
            format!(
                "container {:?} not found in pod {}",
                path.container, path.pod
            ),
        ));
    }
    if !channel::is_websocket(headers) {
        return Err(ApiError::bad_request(
            "Upgrade request required: the kubelet serves exec and attach over WebSocket (v5.channel.k8s.io, v4.channel.k8s.io)",
        ));
    }
    let protocol = channel::negotiate(headers).ok_or_else(|| {
        ApiError::bad_request(format!(
            "none of the offered WebSocket subprotocols is supported; supported: {}",
            channel::PROTOCOLS.join(", ")
        ))
    })?;
    let response = channel::upgrade(headers, protocol)?;
    let first = options.first_channel();
    let streams = streams(kubelet);
    let container = path.container.clone();
    let start = async move {
        match kind {
            Kind::Exec => streams.exec(&pod, &container, &options).await,
            Kind::Attach => streams.attach(&pod, &container, &options).await,
        }
    };
    tokio::spawn(channel::serve(upgrade, protocol, first, start));
    Ok(response)
}

async fn port_forward(
    kubelet: &Kubelet,
    (namespace, name, uid): (&str, &str, Option<&str>),
    query: &Query,
    headers: &HeaderMap,
    upgrade: OnUpgrade,
) -> Result<Response<Body>, ApiError> {
    let pod = bound_pod(kubelet, namespace, name, uid).await?;
    if !(channel::is_websocket(headers) && channel::offers(headers, channel::Protocol::V4)) {
        return Err(ApiError::bad_request(
            "Upgrade request required: the kubelet serves port-forward over WebSocket (v4.channel.k8s.io)",
        ));
    }
    let ports = portforward::ports(query.all("ports"))?;
    let response = channel::upgrade(headers, channel::Protocol::V4)?;
    tokio::spawn(portforward::serve_websocket(
        upgrade,
        streams(kubelet),
        Arc::new(pod),
        ports,
    ));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_api_server_is_authorized() {
        let route = KubeletRoute::Pods;
        let refused = authorize(None, &Method::GET, &route).unwrap_err();
        assert_eq!(refused.code, 401);
        let admin = UserInfo::new("system:admin", vec!["system:masters".into()]);
        let refused = authorize(Some(&admin), &Method::GET, &route).unwrap_err();
        assert_eq!(refused.code, 403);
        assert_eq!(
            refused.message,
            "Forbidden (user=system:admin, verb=get, resource=nodes, subresource=proxy)"
        );
        let apiserver = UserInfo::new("system:apiserver", vec!["system:masters".into()]);
        assert!(authorize(Some(&apiserver), &Method::POST, &route).is_ok());
    }
}
