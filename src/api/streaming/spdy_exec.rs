//! Exec and attach over SPDY/3.1, as kubectl 1.27–1.29 ask for them (and later ones when the
//! WebSocket fails): the request carries `Upgrade: SPDY/3.1` and the protocols it speaks in
//! `X-Stream-Protocol-Version`; the answer is 101 with the one chosen (`v4.channel.k8s.io`).
//! The client then opens one stream per channel, named by its `streamType` header (`error`,
//! `stdin`, `stdout`, `stderr`, `resize`). Once all the options ask for are open, the session
//! starts; it ends with the `Status` on the error stream, every stream closed and a GOAWAY.

use std::collections::HashMap;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::channel::{Started, exit_status};
use super::spdy::{self, Decoder, Encoder, Frame, HEADER_LEN, MAX_FRAME};
use super::{ContainerSession, ExecOptions, OutputEvent, StdinMessage};
use crate::api::http::{self as h, Body};
use crate::api::status::ApiError;

/// The remote-command protocol served over SPDY.
pub const PROTOCOL: &str = "v4.channel.k8s.io";
const STREAM_PROTOCOL_HEADER: &str = "x-stream-protocol-version";

/// Whether the request asks for SPDY/3.1.
pub fn is_spdy(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("SPDY/3.1"))
}

/// Whether the client offers `protocol` in `X-Stream-Protocol-Version`.
pub fn offers(headers: &HeaderMap, protocol: &str) -> bool {
    headers
        .get_all(STREAM_PROTOCOL_HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == protocol)
}

/// The 101 answer switching to SPDY/3.1 with `protocol` (empty: none named, port-forward).
pub fn upgrade(protocol: &str) -> Response<Body> {
    let mut response = Response::new(h::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("SPDY/3.1"));
    if let Ok(value) = HeaderValue::from_str(protocol)
        && !protocol.is_empty()
    {
        headers.insert(STREAM_PROTOCOL_HEADER, value);
    }
    response
}

/// What the writer task sends.
pub enum Outgoing {
    /// A SYN_REPLY accepting a stream.
    Reply(u32),
    /// An encoded frame.
    Frame(Vec<u8>),
}

/// Writes frames until every sender is gone, then closes the connection.
pub async fn write_frames(
    mut sink: impl tokio::io::AsyncWrite + Unpin,
    mut frames: mpsc::Receiver<Outgoing>,
) {
    let mut encoder = Encoder::default();
    while let Some(outgoing) = frames.recv().await {
        let bytes = match outgoing {
            Outgoing::Frame(bytes) => bytes,
            Outgoing::Reply(stream) => match encoder.syn_reply(stream, &[], false) {
                Ok(bytes) => bytes,
                Err(error) => {
                    debug!(%error, "cannot answer a SPDY stream");
                    break;
                }
            },
        };
        if sink.write_all(&bytes).await.is_err() || sink.flush().await.is_err() {
            return;
        }
    }
    let _ = sink.shutdown().await;
}

/// Reads the next frame; `None` at the end of the connection.
///
/// # Errors
/// A read failure or a malformed frame.
pub async fn read_frame(
    source: &mut (impl AsyncRead + Unpin),
    decoder: &mut Decoder,
) -> Result<Option<Frame>, std::io::Error> {
    let mut header = [0u8; HEADER_LEN];
    match source.read_exact(&mut header).await {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(error),
    }
    let len = spdy::payload_len(&header);
    let mut payload = vec![0u8; len.min(MAX_FRAME)];
    source.read_exact(&mut payload).await?;
    decoder
        .decode(&header, &payload)
        .map(Some)
        .map_err(std::io::Error::other)
}

/// Sends `data` on `stream` in frames of at most 32 KiB.
async fn send_data(out: &mpsc::Sender<Outgoing>, stream: u32, data: &[u8]) -> bool {
    for chunk in data.chunks(32 * 1024) {
        if out
            .send(Outgoing::Frame(spdy::data(stream, chunk, false)))
            .await
            .is_err()
        {
            return false;
        }
    }
    true
}

/// The streams a session needs, by `streamType`.
fn expected(options: &ExecOptions) -> Vec<&'static str> {
    let mut kinds = vec!["error"];
    if options.stdin {
        kinds.push("stdin");
    }
    if options.stdout {
        kinds.push("stdout");
    }
    if options.stderr {
        kinds.push("stderr");
    }
    if options.tty {
        kinds.push("resize");
    }
    kinds
}

/// Forwards the session's output, then ends every stream with the final `Status`.
async fn pump(
    mut output: mpsc::Receiver<OutputEvent>,
    streams: HashMap<String, u32>,
    out: mpsc::Sender<Outgoing>,
    done: CancellationToken,
) {
    let status = loop {
        let (kind, data) = match output.recv().await {
            Some(OutputEvent::Stdout(data)) => ("stdout", data),
            Some(OutputEvent::Stderr(data)) => ("stderr", data),
            Some(OutputEvent::Exit(code)) => break exit_status(code),
            Some(OutputEvent::Closed) | None => {
                break ApiError::internal("the container's session ended without an exit code")
                    .to_status();
            }
        };
        if let Some(&stream) = streams.get(kind)
            && !send_data(&out, stream, &data).await
        {
            done.cancel();
            return;
        }
    };
    finish(&out, &streams, &status.to_string()).await;
    done.cancel();
}

/// Closes the output streams, writes `status` on the error stream, and says GOAWAY.
async fn finish(out: &mpsc::Sender<Outgoing>, streams: &HashMap<String, u32>, status: &str) {
    for kind in ["stdout", "stderr"] {
        if let Some(&stream) = streams.get(kind) {
            let _ = out
                .send(Outgoing::Frame(spdy::data(stream, &[], true)))
                .await;
        }
    }
    if let Some(&stream) = streams.get("error") {
        let _ = out
            .send(Outgoing::Frame(spdy::data(stream, status.as_bytes(), true)))
            .await;
    }
    let last = streams.values().copied().max().unwrap_or(0);
    let _ = out.send(Outgoing::Frame(spdy::goaway(last))).await;
}

/// Serves one upgraded SPDY connection of an exec or attach.
pub async fn serve(
    upgrade: OnUpgrade,
    options: ExecOptions,
    start: impl Future<Output = Started> + Send,
) {
    let upgraded = match upgrade.await {
        Ok(upgraded) => upgraded,
        Err(error) => {
            debug!(%error, "the SPDY upgrade failed");
            return;
        }
    };
    let (mut source, sink) = tokio::io::split(TokioIo::new(upgraded));
    let (out, frames) = mpsc::channel::<Outgoing>(64);
    let writer = tokio::spawn(write_frames(sink, frames));
    let mut decoder = Decoder::default();
    let wanted = expected(&options);
    let mut streams: HashMap<String, u32> = HashMap::new();
    let mut start = Some(start);
    let mut input: Option<mpsc::Sender<StdinMessage>> = None;
    let mut resize_buffer = Vec::new();
    let done = CancellationToken::new();
    loop {
        let frame = tokio::select! {
            () = done.cancelled() => break,
            frame = read_frame(&mut source, &mut decoder) => frame,
        };
        let frame = match frame {
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
                let kind = headers
                    .iter()
                    .find(|(name, _)| name == "streamtype")
                    .map(|(_, value)| value.clone())
                    .unwrap_or_default();
                if out.send(Outgoing::Reply(stream)).await.is_err() {
                    break;
                }
                streams.insert(kind, stream);
                if wanted.iter().all(|k| streams.contains_key(*k))
                    && let Some(start) = start.take()
                {
                    match start.await {
                        Ok(ContainerSession {
                            input: session_input,
                            output,
                        }) => {
                            input = Some(session_input);
                            tokio::spawn(pump(output, streams.clone(), out.clone(), done.clone()));
                        }
                        Err(error) => {
                            finish(&out, &streams, &error.to_status().to_string()).await;
                            break;
                        }
                    }
                }
            }
            Frame::Data { stream, fin, data } => {
                let Some(input) = &input else { continue };
                let message = if streams.get("stdin") == Some(&stream) {
                    if !data.is_empty() {
                        let _ = input.send(StdinMessage::Data(Bytes::from(data))).await;
                    }
                    fin.then_some(StdinMessage::Close)
                } else if streams.get("resize") == Some(&stream) {
                    resize_buffer.extend_from_slice(&data);
                    take_resize(&mut resize_buffer)
                } else {
                    None
                };
                if let Some(message) = message {
                    let _ = input.send(message).await;
                }
            }
            Frame::Ping(id) => {
                let _ = out.send(Outgoing::Frame(spdy::ping(id))).await;
            }
            Frame::GoAway { .. } => break,
            Frame::RstStream { stream, .. } if streams.get("error") == Some(&stream) => break,
            _ => {}
        }
    }
    drop(input);
    drop(out);
    let _ = writer.await;
}

/// The last complete terminal size in `buffer` (client-go writes JSON objects one after the
/// other); what is complete is consumed.
fn take_resize(buffer: &mut Vec<u8>) -> Option<StdinMessage> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Size {
        width: u16,
        height: u16,
    }
    let mut last = None;
    let mut consumed = 0;
    let mut stream = serde_json::Deserializer::from_slice(buffer).into_iter::<Size>();
    while let Some(Ok(size)) = stream.next() {
        consumed = stream.byte_offset();
        last = Some(StdinMessage::Resize {
            width: size.width,
            height: size.height,
        });
    }
    buffer.drain(..consumed);
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake() {
        let mut headers = HeaderMap::new();
        headers.insert(header::UPGRADE, HeaderValue::from_static("SPDY/3.1"));
        headers.append(
            STREAM_PROTOCOL_HEADER,
            HeaderValue::from_static("v4.channel.k8s.io"),
        );
        headers.append(
            STREAM_PROTOCOL_HEADER,
            HeaderValue::from_static("v3.channel.k8s.io"),
        );
        assert!(is_spdy(&headers));
        assert!(offers(&headers, PROTOCOL));
        let response = upgrade(PROTOCOL);
        assert_eq!(response.status(), 101);
        assert_eq!(response.headers()[STREAM_PROTOCOL_HEADER], PROTOCOL);
    }

    #[test]
    fn streams_expected_per_options() {
        let options = ExecOptions {
            stdin: true,
            stdout: true,
            tty: true,
            ..Default::default()
        };
        assert_eq!(expected(&options), ["error", "stdin", "stdout", "resize"]);
    }

    #[test]
    fn resize_objects_back_to_back() {
        let mut buffer = br#"{"Width":80,"Height":24}{"Width":100,"Hei"#.to_vec();
        assert_eq!(
            take_resize(&mut buffer),
            Some(StdinMessage::Resize {
                width: 80,
                height: 24
            })
        );
        buffer.extend_from_slice(br#"ght":30}"#);
        assert_eq!(
            take_resize(&mut buffer),
            Some(StdinMessage::Resize {
                width: 100,
                height: 30
            })
        );
        assert!(buffer.is_empty());
    }

    #[tokio::test]
    async fn an_exec_session_over_frames() {
        let (client, server) = tokio::io::duplex(1 << 20);
        let (mut server_read, server_write) = tokio::io::split(server);
        let (out, frames) = mpsc::channel(8);
        let writer = tokio::spawn(write_frames(server_write, frames));
        let (mut client_read, mut client_write) = tokio::io::split(client);
        let mut encoder = Encoder::default();
        client_write
            .write_all(
                &encoder
                    .syn_stream(1, &[("streamType", "error")], false)
                    .unwrap(),
            )
            .await
            .unwrap();
        let mut decoder = Decoder::default();
        let frame = read_frame(&mut server_read, &mut decoder).await.unwrap();
        assert!(matches!(frame, Some(Frame::SynStream { stream: 1, .. })));
        out.send(Outgoing::Reply(1)).await.unwrap();
        out.send(Outgoing::Frame(spdy::data(1, b"{}", true)))
            .await
            .unwrap();
        drop(out);
        writer.await.unwrap();
        let mut client_decoder = Decoder::default();
        let reply = read_frame(&mut client_read, &mut client_decoder)
            .await
            .unwrap();
        assert!(matches!(reply, Some(Frame::SynReply { stream: 1, .. })));
        let data = read_frame(&mut client_read, &mut client_decoder)
            .await
            .unwrap();
        assert_eq!(
            data,
            Some(Frame::Data {
                stream: 1,
                fin: true,
                data: b"{}".to_vec()
            })
        );
    }
}
