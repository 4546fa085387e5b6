//! The WebSocket channel protocol of exec and attach (`v4.channel.k8s.io`,
//! `v5.channel.k8s.io`): binary messages whose first byte names the channel — 0 stdin,
//! 1 stdout, 2 stderr, 3 error (the final `Status`), 4 resize (`{"Width":..,"Height":..}`);
//! `v5` adds 255, by which a client closes a channel (`[255, 0]`: end of stdin).
//!
//! [`upgrade`] answers the handshake (101 with `Sec-WebSocket-Accept` and the chosen
//! subprotocol); [`serve`] then bridges the WebSocket and a [`ContainerSession`].

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tracing::debug;

use super::{ContainerSession, OutputEvent, StdinMessage};
use crate::api::http::{self as h, Body};
use crate::api::status::ApiError;

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const ERROR: u8 = 3;
pub const RESIZE: u8 = 4;
pub const CLOSE: u8 = 255;

/// The subprotocols served, preferred first.
pub const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

/// The channel protocol a client and the server agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    V4,
    V5,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::V4 => "v4.channel.k8s.io",
            Protocol::V5 => "v5.channel.k8s.io",
        }
    }
}

/// Whether the request asks for a WebSocket.
pub fn is_websocket(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// The best subprotocol of the client's `Sec-WebSocket-Protocol` offers.
pub fn negotiate(headers: &HeaderMap) -> Option<Protocol> {
    [Protocol::V5, Protocol::V4]
        .into_iter()
        .find(|p| offers(headers, *p))
}

/// Whether the client offers `protocol` in `Sec-WebSocket-Protocol`.
pub fn offers(headers: &HeaderMap, protocol: Protocol) -> bool {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == protocol.name())
}

/// Checks a WebSocket handshake and builds the 101 answer choosing `protocol`.
///
/// # Errors
/// The request is not a WebSocket handshake.
pub fn upgrade(headers: &HeaderMap, protocol: Protocol) -> Result<Response<Body>, ApiError> {
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or_else(|| ApiError::bad_request("the WebSocket handshake has no Sec-WebSocket-Key"))?;
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut response = Response::new(h::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(protocol.name()),
    );
    let accept = HeaderValue::from_str(&accept)
        .map_err(|_| ApiError::internal("the WebSocket accept key is not a header value"))?;
    headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    Ok(response)
}

/// The `Status` ending a session: success, or the exit code as upstream's kubelet reports it.
pub fn exit_status(code: i32) -> Value {
    if code == 0 {
        json!({"metadata": {}, "status": "Success"})
    } else {
        json!({
            "metadata": {},
            "status": "Failure",
            "message": format!("command terminated with non-zero exit code: exit status {code}"),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TerminalSize {
    width: u16,
    height: u16,
}

/// What a client's message means for the session (`None`: nothing).
pub fn client_message(protocol: Protocol, data: &[u8]) -> Option<StdinMessage> {
    let (&channel, payload) = data.split_first()?;
    match channel {
        STDIN if !payload.is_empty() => Some(StdinMessage::Data(Bytes::copy_from_slice(payload))),
        RESIZE => serde_json::from_slice::<TerminalSize>(payload)
            .ok()
            .map(|size| StdinMessage::Resize {
                width: size.width,
                height: size.height,
            }),
        CLOSE if protocol == Protocol::V5 && payload.first() == Some(&STDIN) => {
            Some(StdinMessage::Close)
        }
        _ => None,
    }
}

/// A normal close: clients read it as the end of every channel (a close without a code is an
/// error to client-go).
fn normal_close() -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    }))
}

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut bytes = Vec::with_capacity(data.len() + 1);
    bytes.push(channel);
    bytes.extend_from_slice(data);
    Message::Binary(bytes.into())
}

/// What a session leads to: the session, or the error to report on the error channel.
pub type Started = Result<ContainerSession, ApiError>;

/// Serves one upgraded connection: announces the first output channel, starts the session
/// (`start`), then bridges client messages to stdin and output to the client, ending with a
/// `Status` on the error channel.
pub async fn serve(
    upgrade: OnUpgrade,
    protocol: Protocol,
    first_channel: u8,
    start: impl Future<Output = Started> + Send,
) {
    let upgraded = match upgrade.await {
        Ok(upgraded) => upgraded,
        Err(error) => {
            debug!(%error, "the WebSocket upgrade failed");
            return;
        }
    };
    let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
    let (mut sink, mut source) = ws.split();
    // Upstream's kubelet writes an empty message to tell the client the streams are open.
    if sink.send(frame(first_channel, &[])).await.is_err() {
        return;
    }
    let session = match start.await {
        Ok(session) => session,
        Err(error) => {
            let _ = sink
                .send(frame(ERROR, error.to_status().to_string().as_bytes()))
                .await;
            let _ = sink.send(normal_close()).await;
            let _ = sink.close().await;
            return;
        }
    };
    let ContainerSession { input, mut output } = session;
    let reader = async move {
        while let Some(message) = source.next().await {
            match message {
                Ok(Message::Binary(data)) => {
                    if let Some(message) = client_message(protocol, &data) {
                        // Input after the process closed its stdin is dropped.
                        let _ = input.send(message).await;
                    }
                }
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
        // The client closed the connection: the session ends with it.
    };
    let writer = async move {
        let status = loop {
            match output.recv().await {
                Some(OutputEvent::Stdout(data)) => {
                    if sink.send(frame(STDOUT, &data)).await.is_err() {
                        return;
                    }
                }
                Some(OutputEvent::Stderr(data)) => {
                    if sink.send(frame(STDERR, &data)).await.is_err() {
                        return;
                    }
                }
                Some(OutputEvent::Exit(code)) => break exit_status(code),
                Some(OutputEvent::Closed) | None => {
                    break ApiError::internal("the container's session ended without an exit code")
                        .to_status();
                }
            }
        };
        let _ = sink.send(frame(ERROR, status.to_string().as_bytes())).await;
        let _ = sink.send(normal_close()).await;
        let _ = sink.close().await;
    };
    tokio::select! {
        () = reader => {}
        () = writer => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_prefers_v5() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("v4.channel.k8s.io, v5.channel.k8s.io"),
        );
        assert_eq!(negotiate(&headers), Some(Protocol::V5));
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("channel.k8s.io,v4.channel.k8s.io"),
        );
        assert_eq!(negotiate(&headers), Some(Protocol::V4));
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("base64.channel.k8s.io"),
        );
        assert_eq!(negotiate(&headers), None);
    }

    #[test]
    fn handshake_answer() {
        let mut headers = HeaderMap::new();
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(
            header::SEC_WEBSOCKET_KEY,
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        assert!(is_websocket(&headers));
        let response = upgrade(&headers, Protocol::V4).unwrap();
        assert_eq!(response.status(), 101);
        assert_eq!(
            response.headers()[header::SEC_WEBSOCKET_ACCEPT],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(
            response.headers()[header::SEC_WEBSOCKET_PROTOCOL],
            "v4.channel.k8s.io"
        );
    }

    #[test]
    fn client_messages() {
        assert_eq!(
            client_message(Protocol::V5, b"\x00hi"),
            Some(StdinMessage::Data(Bytes::from_static(b"hi")))
        );
        assert_eq!(
            client_message(Protocol::V5, b"\x04{\"Width\":100,\"Height\":30}"),
            Some(StdinMessage::Resize {
                width: 100,
                height: 30
            })
        );
        assert_eq!(
            client_message(Protocol::V5, &[CLOSE, STDIN]),
            Some(StdinMessage::Close)
        );
        assert_eq!(client_message(Protocol::V4, &[CLOSE, STDIN]), None);
        assert_eq!(client_message(Protocol::V5, b""), None);
        assert_eq!(client_message(Protocol::V5, b"\x00"), None);
    }

    #[test]
    fn exit_codes_as_upstream() {
        assert_eq!(exit_status(0)["status"], "Success");
        let failure = exit_status(3);
        assert_eq!(failure["reason"], "NonZeroExitCode");
        assert_eq!(failure["details"]["causes"][0]["reason"], "ExitCode");
        assert_eq!(failure["details"]["causes"][0]["message"], "3");
    }
}
