//! Port-forward on a remote node: a WebSocket (`v4.channel.k8s.io`, `?ports=<port>`) to the
//! kubelet's `/portForward/{namespace}/{pod}/{uid}`, where channel 0 carries the bytes both
//! ways and channel 1 the kubelet's error, each first announced by the port (2 bytes).
//!
//! [`crate::api::streaming::NodeStreams::port_forward`] hands out a [`TcpStream`], so the
//! WebSocket is bridged to one end of a loopback connection made for it (its peer checked),
//! and the other end is returned.

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tracing::debug;

use super::streams::open_websocket;
use crate::api::ApiState;
use crate::api::status::ApiError;
use crate::api::streaming::channel::Protocol;

fn internal(what: &str, error: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("cannot {what} for the port-forward: {error}"))
}

/// A connected loopback pair: (the end handed out, the end bridged).
async fn loopback_pair() -> Result<(TcpStream, TcpStream), ApiError> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| internal("listen on loopback", e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| internal("listen on loopback", e))?;
    let client = TcpStream::connect(addr)
        .await
        .map_err(|e| internal("connect on loopback", e))?;
    let expected = client
        .local_addr()
        .map_err(|e| internal("connect on loopback", e))?;
    loop {
        let (server, peer) = listener
            .accept()
            .await
            .map_err(|e| internal("accept on loopback", e))?;
        // Only our own connection: anything else that raced to the port is dropped.
        if peer == expected {
            return Ok((client, server));
        }
    }
}

/// A connection to `port` of the pod at `path` (`/portForward/{ns}/{pod}/{uid}`) through
/// node `node`'s kubelet.
///
/// # Errors
/// The kubelet cannot be reached, refuses the request, or does not upgrade.
pub async fn connect(
    state: &ApiState,
    node: &str,
    path: &str,
    port: u16,
) -> Result<TcpStream, ApiError> {
    let ws = open_websocket(state, node, format!("{path}?ports={port}"), Protocol::V4).await?;
    let (handed_out, bridged) = loopback_pair().await?;
    tokio::spawn(bridge(ws, bridged, port));
    Ok(handed_out)
}

async fn bridge<S>(ws: WebSocketStream<S>, socket: TcpStream, port: u16)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut sink, mut source) = ws.split();
    let (mut from_client, mut to_client) = socket.into_split();
    let upstream = async move {
        let mut buffer = vec![0u8; 32 * 1024];
        while let Ok(n) = from_client.read(&mut buffer).await {
            if n == 0 {
                break;
            }
            let mut frame = Vec::with_capacity(n + 1);
            frame.push(0);
            frame.extend_from_slice(&buffer[..n]);
            if sink.send(Message::Binary(frame.into())).await.is_err() {
                return;
            }
        }
        // The client is done sending; the pod's answer may still come (the channel protocol
        // has no half-close), so the bridge ends with the download.
        std::future::pending::<()>().await;
    };
    let downstream = async move {
        let (mut data_announced, mut error_announced) = (false, false);
        while let Some(Ok(message)) = source.next().await {
            let Message::Binary(bytes) = message else {
                if matches!(message, Message::Close(_)) {
                    break;
                }
                continue;
            };
            match bytes.split_first() {
                Some((0, payload)) if !data_announced => data_announced = payload.len() == 2,
                Some((0, payload)) if to_client.write_all(payload).await.is_err() => break,
                Some((1, payload)) if !error_announced => error_announced = payload.len() == 2,
                Some((1, payload)) => {
                    debug!(port, error = %String::from_utf8_lossy(payload), "the kubelet's port-forward failed");
                    break;
                }
                _ => {}
            }
        }
        let _ = to_client.shutdown().await;
    };
    tokio::select! {
        () = upstream => {}
        () = downstream => {}
    }
}
