//! `pods/portforward` over SPDY/3.1 (`X-Stream-Protocol-Version: portforward.k8s.io`), as
//! every kubectl speaks it — kubectl 1.31 and later tunnel it in a WebSocket
//! (`SPDY/3.1+portforward.k8s.io`, binary messages carrying the SPDY bytes), and fall back
//! to plain SPDY when that fails.
//!
//! For each connection the client opens two streams with the same `requestID` and `port`
//! headers: `error` (the server writes a message there if the connection fails) and `data`
//! (the bytes both ways). Each data stream is bridged to a connection to the pod's localhost
//! made by its kubelet.
//!
//! The Python client and kube-rs use the WebSocket channel protocol instead
//! (`v4.channel.k8s.io`, `?ports=80,8080`): port `i` has data channel `2i` and error channel
//! `2i+1`, each first announced by a frame holding the port (2 bytes, little-endian).

use std::collections::HashMap;
use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use http::Response;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tracing::debug;

use super::channel;
use super::spdy::{self, Decoder, Frame};
use super::spdy_exec::{self, Outgoing, read_frame, write_frames};
use super::{NodeStreams, node_name};
use crate::api::handlers::Ctx;
use crate::api::handlers::write::current;
use crate::api::http::Body;
use crate::api::status::ApiError;

/// The port-forward protocol over SPDY.
pub const PROTOCOL: &str = "portforward.k8s.io";
/// The WebSocket subprotocol of SPDY tunnelled in a WebSocket (kubectl 1.31+).
pub const TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";

/// Whether a WebSocket handshake offers the SPDY tunnel.
fn offers_tunnel(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == TUNNEL_PROTOCOL)
}

/// Answers `pods/portforward`; `upgrade` is the connection's pending upgrade.
///
/// # Errors
/// The pod is not found or has no reachable kubelet, or the request is not a SPDY upgrade.
pub async fn handle(ctx: &Ctx<'_>, upgrade: Option<OnUpgrade>) -> Result<Response<Body>, ApiError> {
    let Some((_, pod)) = current(ctx, &ctx.key()).await? else {
        return Err(ApiError::not_found(ctx.info.subject(), ctx.name()));
    };
    let node = node_name(&pod).ok_or_else(|| {
        ApiError::bad_request(format!("pod {} does not have a host assigned", ctx.name()))
    })?;
    let kubelet = ctx.state.node_streams(node);
    if channel::is_websocket(ctx.headers) && channel::offers(ctx.headers, channel::Protocol::V4) {
        let ports = ports(ctx.query.all("ports"))?;
        let upgrade = upgrade.ok_or_else(|| {
            ApiError::bad_request("this connection cannot be upgraded (HTTP/1.1 is required)")
        })?;
        let response = channel::upgrade(ctx.headers, channel::Protocol::V4)?;
        tokio::spawn(serve_websocket(upgrade, kubelet, Arc::new(pod), ports));
        return Ok(response);
    }
    if channel::is_websocket(ctx.headers) && offers_tunnel(ctx.headers) {
        let upgrade = upgrade.ok_or_else(|| {
            ApiError::bad_request("this connection cannot be upgraded (HTTP/1.1 is required)")
        })?;
        let mut response = channel::upgrade(ctx.headers, channel::Protocol::V4)?;
        response.headers_mut().insert(
            http::header::SEC_WEBSOCKET_PROTOCOL,
            http::HeaderValue::from_static(TUNNEL_PROTOCOL),
        );
        tokio::spawn(serve_tunnel(upgrade, kubelet, Arc::new(pod)));
        return Ok(response);
    }
    if !spdy_exec::is_spdy(ctx.headers) || !spdy_exec::offers(ctx.headers, PROTOCOL) {
        return Err(ApiError::bad_request(
            "Upgrade request required: port-forward is served over SPDY/3.1 (portforward.k8s.io) and WebSocket (v4.channel.k8s.io)",
        ));
    }
    let upgrade = upgrade.ok_or_else(|| {
        ApiError::bad_request("this connection cannot be upgraded (HTTP/1.1 is required)")
    })?;
    tokio::spawn(serve(upgrade, kubelet, Arc::new(pod)));
    Ok(spdy_exec::upgrade(PROTOCOL))
}

/// One forwarded connection being set up or running.
#[derive(Default)]
struct Pair {
    error: Option<u32>,
    /// Bytes from the client for the pod (`None`: the client closed its side).
    to_pod: Option<mpsc::UnboundedSender<Option<Vec<u8>>>>,
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}

async fn serve(upgrade: OnUpgrade, kubelet: Arc<dyn NodeStreams>, pod: Arc<Value>) {
    match upgrade.await {
        Ok(upgraded) => serve_spdy(TokioIo::new(upgraded), kubelet, pod).await,
        Err(error) => debug!(%error, "the SPDY upgrade failed"),
    }
}

/// Serves SPDY tunnelled in a WebSocket: each binary message carries SPDY bytes.
async fn serve_tunnel(upgrade: OnUpgrade, kubelet: Arc<dyn NodeStreams>, pod: Arc<Value>) {
    let upgraded = match upgrade.await {
        Ok(upgraded) => upgraded,
        Err(error) => {
            debug!(%error, "the WebSocket upgrade failed");
            return;
        }
    };
    let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
    let (mut sink, mut source) = ws.split();
    let (spdy_side, tunnel_side) = tokio::io::duplex(256 * 1024);
    let (mut from_spdy, mut to_spdy) = tokio::io::split(tunnel_side);
    let inbound = async move {
        while let Some(Ok(message)) = source.next().await {
            match message {
                Message::Binary(bytes) if to_spdy.write_all(&bytes).await.is_err() => break,
                Message::Close(_) => break,
                _ => {}
            }
        }
        let _ = to_spdy.shutdown().await;
    };
    let outbound = async move {
        let mut buffer = vec![0u8; 64 * 1024];
        while let Ok(n) = from_spdy.read(&mut buffer).await {
            if n == 0
                || sink
                    .send(Message::Binary(buffer[..n].to_vec().into()))
                    .await
                    .is_err()
            {
                break;
            }
        }
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            })))
            .await;
        let _ = sink.close().await;
    };
    let session = serve_spdy(spdy_side, kubelet, pod);
    tokio::join!(inbound, outbound, session);
}

async fn serve_spdy(
    io: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
    kubelet: Arc<dyn NodeStreams>,
    pod: Arc<Value>,
) {
    let (mut source, sink) = tokio::io::split(io);
    let (out, frames) = mpsc::channel::<Outgoing>(64);
    let writer = tokio::spawn(write_frames(sink, frames));
    let mut decoder = Decoder::default();
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    // Data stream id → its connection's input.
    let mut data_streams: HashMap<u32, mpsc::UnboundedSender<Option<Vec<u8>>>> = HashMap::new();
    loop {
        let frame = match read_frame(&mut source, &mut decoder).await {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(error) => {
                debug!(%error, "reading a SPDY frame failed");
                break;
            }
        };
        match frame {
            Frame::SynStream {
                stream, headers, ..
            } => {
                if out.send(Outgoing::Reply(stream)).await.is_err() {
                    break;
                }
                let request = header(&headers, "requestid").to_string();
                let pair = pairs.entry(request.clone()).or_default();
                match header(&headers, "streamtype") {
                    "error" => pair.error = Some(stream),
                    "data" => {
                        let port = header(&headers, "port").parse::<u16>().unwrap_or(0);
                        let (to_pod, from_client) = mpsc::unbounded_channel();
                        pair.to_pod = Some(to_pod.clone());
                        data_streams.insert(stream, to_pod);
                        tokio::spawn(forward(
                            kubelet.clone(),
                            pod.clone(),
                            port,
                            stream,
                            pair.error,
                            from_client,
                            out.clone(),
                        ));
                    }
                    _ => {
                        let _ = out
                            .send(Outgoing::Frame(spdy::rst_stream(
                                stream,
                                spdy::PROTOCOL_ERROR,
                            )))
                            .await;
                    }
                }
            }
            Frame::Data { stream, fin, data } => {
                if let Some(to_pod) = data_streams.get(&stream) {
                    if !data.is_empty() {
                        let _ = to_pod.send(Some(data));
                    }
                    if fin {
                        let _ = to_pod.send(None);
                    }
                }
            }
            Frame::RstStream { stream, .. } => {
                data_streams.remove(&stream);
            }
            Frame::Ping(id) => {
                let _ = out.send(Outgoing::Frame(spdy::ping(id))).await;
            }
            Frame::GoAway { .. } => break,
            _ => {}
        }
    }
    drop(data_streams);
    drop(pairs);
    drop(out);
    let _ = writer.await;
}

/// Bridges one data stream and a connection to the pod's `port`.
async fn forward(
    kubelet: Arc<dyn NodeStreams>,
    pod: Arc<Value>,
    port: u16,
    data_stream: u32,
    error_stream: Option<u32>,
    mut from_client: mpsc::UnboundedReceiver<Option<Vec<u8>>>,
    out: mpsc::Sender<Outgoing>,
) {
    let connection = match kubelet.port_forward(&pod, port).await {
        Ok(connection) => connection,
        Err(error) => {
            if let Some(stream) = error_stream {
                let _ = out
                    .send(Outgoing::Frame(spdy::data(
                        stream,
                        error.message.as_bytes(),
                        true,
                    )))
                    .await;
            }
            let _ = out
                .send(Outgoing::Frame(spdy::data(data_stream, &[], true)))
                .await;
            return;
        }
    };
    let (mut from_pod, mut to_pod) = connection.into_split();
    let upstream = async move {
        while let Some(Some(data)) = from_client.recv().await {
            if to_pod.write_all(&data).await.is_err() {
                break;
            }
        }
        let _ = to_pod.shutdown().await;
        // Keep reading nothing until the pod side ends.
        std::future::pending::<()>().await;
    };
    let out_data = out.clone();
    let downstream = async move {
        let mut buffer = vec![0u8; 32 * 1024];
        loop {
            match from_pod.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if out_data
                        .send(Outgoing::Frame(spdy::data(
                            data_stream,
                            &buffer[..n],
                            false,
                        )))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    };
    tokio::select! {
        () = upstream => {}
        () = downstream => {}
    }
    let _ = out
        .send(Outgoing::Frame(spdy::data(data_stream, &[], true)))
        .await;
    if let Some(stream) = error_stream {
        let _ = out
            .send(Outgoing::Frame(spdy::data(stream, &[], true)))
            .await;
    }
}

/// The `ports` of a WebSocket port-forward (repeated or comma-separated).
///
/// # Errors
/// None given, or one that is not a port.
pub fn ports(values: Vec<&str>) -> Result<Vec<u16>, ApiError> {
    let ports: Vec<u16> = values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| ApiError::bad_request(format!("invalid port {p:?}")))
        })
        .collect::<Result<_, _>>()?;
    if ports.is_empty() {
        return Err(ApiError::bad_request(
            "query parameter \"port\" is required",
        ));
    }
    Ok(ports)
}

fn channel_frame(channel: u8, data: &[u8]) -> Message {
    let mut bytes = Vec::with_capacity(data.len() + 1);
    bytes.push(channel);
    bytes.extend_from_slice(data);
    Message::Binary(bytes.into())
}

/// Serves a WebSocket port-forward: one connection per port, until they have all ended (also
/// the kubelet API's `/portForward`).
pub async fn serve_websocket(
    upgrade: OnUpgrade,
    kubelet: Arc<dyn NodeStreams>,
    pod: Arc<Value>,
    ports: Vec<u16>,
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
    let (out, mut messages) = mpsc::channel::<Message>(64);
    let writer = tokio::spawn(async move {
        while let Some(message) = messages.recv().await {
            if sink.send(message).await.is_err() {
                return;
            }
        }
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            })))
            .await;
        let _ = sink.close().await;
    });
    let mut inputs = Vec::new();
    let mut forwards = tokio::task::JoinSet::new();
    for (index, port) in ports.iter().copied().enumerate() {
        let data = (index * 2) as u8;
        let _ = out.send(channel_frame(data, &port.to_le_bytes())).await;
        let _ = out.send(channel_frame(data + 1, &port.to_le_bytes())).await;
        let (input, from_client) = mpsc::unbounded_channel::<Option<Vec<u8>>>();
        inputs.push(input);
        forwards.spawn(forward_websocket(
            kubelet.clone(),
            pod.clone(),
            port,
            data,
            from_client,
            out.clone(),
        ));
    }
    drop(out);
    let reader = async {
        while let Some(Ok(message)) = source.next().await {
            match message {
                Message::Binary(bytes) => {
                    if let Some((&channel, payload)) = bytes.split_first()
                        && channel % 2 == 0
                        && let Some(input) = inputs.get(usize::from(channel / 2))
                        && !payload.is_empty()
                    {
                        let _ = input.send(Some(payload.to_vec()));
                    }
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
    };
    tokio::select! {
        () = reader => {}
        () = async { while forwards.join_next().await.is_some() {} } => {}
    }
    forwards.abort_all();
    let _ = writer.await;
}

/// Bridges channel `data` (and its error channel) and a connection to the pod's `port`.
async fn forward_websocket(
    kubelet: Arc<dyn NodeStreams>,
    pod: Arc<Value>,
    port: u16,
    data: u8,
    mut from_client: mpsc::UnboundedReceiver<Option<Vec<u8>>>,
    out: mpsc::Sender<Message>,
) {
    let connection = match kubelet.port_forward(&pod, port).await {
        Ok(connection) => connection,
        Err(error) => {
            let _ = out
                .send(channel_frame(data + 1, error.message.as_bytes()))
                .await;
            return;
        }
    };
    let (mut from_pod, mut to_pod) = connection.into_split();
    let upstream = async move {
        while let Some(Some(bytes)) = from_client.recv().await {
            if to_pod.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = to_pod.shutdown().await;
        std::future::pending::<()>().await;
    };
    let downstream = async move {
        let mut buffer = vec![0u8; 32 * 1024];
        while let Ok(n) = from_pod.read(&mut buffer).await {
            if n == 0 || out.send(channel_frame(data, &buffer[..n])).await.is_err() {
                break;
            }
        }
    };
    tokio::select! {
        () = upstream => {}
        () = downstream => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_repeated_or_comma_separated() {
        assert_eq!(ports(vec!["80,8080", "9090"]).unwrap(), [80, 8080, 9090]);
        assert_eq!(ports(vec![]).unwrap_err().code, 400);
        assert_eq!(ports(vec!["http"]).unwrap_err().code, 400);
        assert_eq!(ports(vec!["0"]).unwrap_err().code, 400);
    }
}
