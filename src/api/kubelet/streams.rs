//! [`NodeStreams`] of a node whose kubelet is not in this process, over its kubelet's HTTPS
//! API: `pods/log` by `/containerLogs/{namespace}/{pod}/{container}` (the log streamed
//! through as it comes); exec and attach by a WebSocket to `/exec/...` and `/attach/...`
//! ([`super::exec`]); port-forward by one to `/portForward/...` ([`super::port_forward`]).

use std::sync::{Arc, Weak};

use bytes::Bytes;
use http::{Request, header};
use http_body_util::{BodyExt, Full};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::proxy;
use crate::api::ApiState;
use crate::api::http::Body;
use crate::api::status::ApiError;
use crate::api::streaming::channel::Protocol;
use crate::api::streaming::{ContainerSession, ExecOptions, LogOptions, NodeStreams};

/// The streams of node `node`, reached over its kubelet's HTTPS API.
pub struct RemoteStreams {
    pub state: Weak<ApiState>,
    pub node: String,
}

/// The kubelet query of `options` (upstream's `PodLogOptions` parameters).
pub fn log_query(options: &LogOptions) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, on) in [
        ("follow", options.follow),
        ("previous", options.previous),
        ("timestamps", options.timestamps),
    ] {
        if on {
            query.append_pair(key, "true");
        }
    }
    if let Some(tail) = options.tail_lines {
        query.append_pair("tailLines", &tail.to_string());
    }
    if let Some(limit) = options.limit_bytes {
        query.append_pair("limitBytes", &limit.to_string());
    }
    if let Some(since) = options.since {
        query.append_pair("sinceTime", &since.to_string());
    }
    query.finish()
}

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn segment(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// `/{verb}/{namespace}/{pod}/{uid}/{container}`: the uid pins the pod's instance.
fn container_path(verb: &str, pod: &Value, container: &str) -> String {
    format!(
        "/{verb}/{}/{}/{}/{}",
        segment(text(pod, "/metadata/namespace")),
        segment(text(pod, "/metadata/name")),
        segment(text(pod, "/metadata/uid")),
        segment(container)
    )
}

/// The error of a kubelet's refusal: its plain-text reason, with its code.
pub fn kubelet_error(node: &str, status: u16, body: &[u8]) -> ApiError {
    let message = String::from_utf8_lossy(body).trim().to_string();
    match status {
        400 => ApiError::bad_request(message),
        404 => ApiError::new(404, "NotFound", message),
        422 => ApiError::new(422, "Invalid", message),
        _ => ApiError::internal(format!(
            "the kubelet of node {node:?} answered {status}: {message}"
        )),
    }
}

/// The error of a kubelet's answer other than the one asked for, from its body.
async fn refusal(node: &str, answer: http::Response<hyper::body::Incoming>) -> ApiError {
    let status = answer.status().as_u16();
    let body = answer
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    kubelet_error(node, status, &body)
}

/// A WebSocket speaking `protocol` to `target` (path and query) on node `node`'s kubelet.
///
/// # Errors
/// The kubelet cannot be reached, refuses the request (its reason), or does not upgrade.
pub async fn open_websocket(
    state: &ApiState,
    node: &str,
    target: String,
    protocol: Protocol,
) -> Result<WebSocketStream<TokioIo<Upgraded>>, ApiError> {
    let request = Request::get(target)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_VERSION, "13")
        .header(
            header::SEC_WEBSOCKET_KEY,
            tokio_tungstenite::tungstenite::handshake::client::generate_key(),
        )
        .header(header::SEC_WEBSOCKET_PROTOCOL, protocol.name())
        .body(Full::new(Bytes::new()))
        .map_err(|e| ApiError::internal(format!("cannot build the kubelet request: {e}")))?;
    let answer = state.kubelet_client.send(state, node, request).await?;
    if answer.status() != http::StatusCode::SWITCHING_PROTOCOLS {
        return Err(refusal(node, answer).await);
    }
    let upgraded = hyper::upgrade::on(answer).await.map_err(|e| {
        ApiError::service_unavailable(format!(
            "the kubelet of node {node:?} did not open the stream: {e}"
        ))
    })?;
    Ok(WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await)
}

impl RemoteStreams {
    fn state(&self) -> Result<Arc<ApiState>, ApiError> {
        self.state
            .upgrade()
            .ok_or_else(|| ApiError::service_unavailable("the API server is shutting down"))
    }
}

#[async_trait::async_trait]
impl NodeStreams for RemoteStreams {
    async fn logs(
        &self,
        pod: &Value,
        container: &str,
        options: &LogOptions,
    ) -> Result<Body, ApiError> {
        let state = self.state()?;
        let mut target = format!(
            "/containerLogs/{}/{}/{}",
            segment(text(pod, "/metadata/namespace")),
            segment(text(pod, "/metadata/name")),
            segment(container)
        );
        let query = log_query(options);
        if !query.is_empty() {
            target = format!("{target}?{query}");
        }
        let request = Request::get(target)
            .body(Full::new(Bytes::new()))
            .map_err(|e| ApiError::internal(format!("cannot build the kubelet request: {e}")))?;
        let answer = state
            .kubelet_client
            .send(&state, &self.node, request)
            .await?;
        if answer.status() != http::StatusCode::OK {
            return Err(refusal(&self.node, answer).await);
        }
        Ok(proxy::stream_body(answer.into_body()))
    }

    async fn exec(
        &self,
        pod: &Value,
        container: &str,
        options: &ExecOptions,
    ) -> Result<ContainerSession, ApiError> {
        let state = self.state()?;
        let path = container_path("exec", pod, container);
        super::exec::session(&state, &self.node, &path, options).await
    }

    async fn attach(
        &self,
        pod: &Value,
        container: &str,
        options: &ExecOptions,
    ) -> Result<ContainerSession, ApiError> {
        let state = self.state()?;
        let path = container_path("attach", pod, container);
        super::exec::session(&state, &self.node, &path, options).await
    }

    async fn port_forward(&self, pod: &Value, port: u16) -> Result<TcpStream, ApiError> {
        let state = self.state()?;
        let path = format!(
            "/portForward/{}/{}/{}",
            segment(text(pod, "/metadata/namespace")),
            segment(text(pod, "/metadata/name")),
            segment(text(pod, "/metadata/uid"))
        );
        super::port_forward::connect(&state, &self.node, &path, port).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_options_become_the_kubelet_query() {
        assert_eq!(log_query(&LogOptions::default()), "");
        let options = LogOptions {
            follow: true,
            previous: false,
            timestamps: true,
            tail_lines: Some(5),
            since: Some("2026-01-01T00:05:00Z".parse().unwrap()),
            limit_bytes: Some(100),
        };
        assert_eq!(
            log_query(&options),
            "follow=true&timestamps=true&tailLines=5&limitBytes=100&sinceTime=2026-01-01T00%3A05%3A00Z"
        );
    }
}
