//! `/api/v1/nodes/{name}/proxy/{path}`: the request, its method, query, body and headers
//! (less the client's credentials and hop-by-hop headers) forwarded to `{path}` on the node's
//! kubelet, and the kubelet's answer streamed back as it is — what
//! `kubectl get --raw /api/v1/nodes/N/proxy/pods` reads. Upgrades (exec through the node
//! proxy) are not forwarded.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, header};
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Incoming;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tracing::debug;

use crate::api::ApiState;
use crate::api::http::Body;
use crate::api::status::ApiError;

/// Headers a proxy never forwards: hop-by-hop ones and the client's own credentials.
const DROPPED: &[&str] = &[
    "host",
    "authorization",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

fn forwarded(name: &header::HeaderName) -> bool {
    let name = name.as_str();
    !DROPPED.contains(&name) && !name.starts_with("impersonate-")
}

/// The kubelet path of a `nodes/proxy` request path: what follows `nodes/{name}/proxy`
/// (`/` when nothing does), kept as the client encoded it.
pub fn kubelet_path(request_path: &str) -> Option<String> {
    let segments: Vec<&str> = request_path.split('/').collect();
    let nodes = segments.iter().position(|s| *s == "nodes")?;
    if segments.get(nodes + 2) != Some(&"proxy") {
        return None;
    }
    let rest = segments.get(nodes + 3..).unwrap_or_default().join("/");
    Some(format!("/{rest}"))
}

/// The kubelet's answer as a streamed body; an error mid-way ends it.
pub fn stream_body(mut body: Incoming) -> Body {
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(16);
    tokio::spawn(async move {
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => {
                    if frame.is_data() && tx.send(Ok(frame)).await.is_err() {
                        return;
                    }
                }
                Err(error) => {
                    debug!(%error, "the kubelet's answer ended early");
                    return;
                }
            }
        }
    });
    StreamBody::new(ReceiverStream::new(rx)).boxed()
}

/// Answers `nodes/{name}/proxy/...`.
///
/// # Errors
/// The node is unknown, has no kubelet endpoint, or its kubelet is not reachable
/// (`ServiceUnavailable` naming the node).
pub async fn handle(
    state: &ApiState,
    name: &str,
    method: &Method,
    uri: &http::Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response<Body>, ApiError> {
    let path = kubelet_path(uri.path()).ok_or_else(ApiError::path_not_found)?;
    let target = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    let mut request = Request::builder().method(method.clone()).uri(target);
    for (key, value) in headers.iter().filter(|(k, _)| forwarded(k)) {
        request = request.header(key, value);
    }
    let request = request
        .body(Full::new(body))
        .map_err(|e| ApiError::bad_request(format!("cannot forward the request: {e}")))?;
    let answer = state.kubelet_client.send(state, name, request).await?;
    let (parts, body) = answer.into_parts();
    let mut response = Response::new(stream_body(body));
    *response.status_mut() = parts.status;
    for (key, value) in parts.headers.iter().filter(|(k, _)| forwarded(k)) {
        response.headers_mut().append(key, value.clone());
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubelet_path_follows_proxy() {
        assert_eq!(
            kubelet_path("/api/v1/nodes/n1/proxy/healthz").as_deref(),
            Some("/healthz")
        );
        assert_eq!(
            kubelet_path("/api/v1/nodes/n1/proxy/containerLogs/default/p/app").as_deref(),
            Some("/containerLogs/default/p/app")
        );
        assert_eq!(kubelet_path("/api/v1/nodes/n1/proxy").as_deref(), Some("/"));
        assert_eq!(
            kubelet_path("/api/v1/nodes/n1/proxy/pods/").as_deref(),
            Some("/pods/")
        );
        assert_eq!(kubelet_path("/api/v1/nodes/n1/status"), None);
    }

    #[test]
    fn credentials_are_not_forwarded() {
        for dropped in ["authorization", "impersonate-user", "upgrade", "host"] {
            assert!(!forwarded(&header::HeaderName::from_static(dropped)));
        }
        assert!(forwarded(&header::ACCEPT));
    }
}
