//! Exec and attach on a remote node: a WebSocket (`v5.channel.k8s.io`) to the kubelet's
//! `/exec/{namespace}/{pod}/{uid}/{container}` or `/attach/...` over HTTPS, bridged to a
//! [`ContainerSession`] — stdin, resize and end of stdin sent on channels 0, 4 and 255;
//! stdout and stderr read from channels 1 and 2; the final `Status` on channel 3 read as the
//! exit code.

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tracing::debug;

use super::streams::open_websocket;
use crate::api::ApiState;
use crate::api::status::ApiError;
use crate::api::streaming::channel::{CLOSE, ERROR, Protocol, RESIZE, STDERR, STDIN, STDOUT};
use crate::api::streaming::{ContainerSession, ExecOptions, OutputEvent, StdinMessage};

/// The kubelet query of an exec or attach.
pub fn exec_query(options: &ExecOptions) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for command in &options.command {
        query.append_pair("command", command);
    }
    for (key, on) in [
        ("stdin", options.stdin),
        ("stdout", options.stdout),
        ("stderr", options.stderr),
        ("tty", options.tty),
    ] {
        if on {
            query.append_pair(key, "true");
        }
    }
    query.finish()
}

/// What the final `Status` of a session says: the exit code, or the failure's message.
pub fn exit_of(status: &Value) -> Result<i32, String> {
    if status.get("status").and_then(Value::as_str) == Some("Success") {
        return Ok(0);
    }
    let code = status
        .pointer("/details/causes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c.get("reason").and_then(Value::as_str) == Some("ExitCode"))
        .and_then(|c| c.get("message")?.as_str()?.parse().ok());
    match code {
        Some(code) if status.get("reason").and_then(Value::as_str) == Some("NonZeroExitCode") => {
            Ok(code)
        }
        _ => Err(status
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("the kubelet ended the session")
            .to_string()),
    }
}

fn input_frame(message: StdinMessage) -> Vec<u8> {
    match message {
        StdinMessage::Data(data) => [&[STDIN][..], &data].concat(),
        StdinMessage::Resize { width, height } => {
            let size = json!({"Width": width, "Height": height}).to_string();
            [&[RESIZE][..], size.as_bytes()].concat()
        }
        StdinMessage::Close => vec![CLOSE, STDIN],
    }
}

/// What a kubelet's message means for the session's output (`None`: nothing, e.g. the empty
/// announcement of the first channel).
fn output_events(data: &[u8]) -> Vec<OutputEvent> {
    let Some((&channel, payload)) = data.split_first() else {
        return Vec::new();
    };
    match channel {
        STDOUT if !payload.is_empty() => vec![OutputEvent::Stdout(Bytes::copy_from_slice(payload))],
        STDERR if !payload.is_empty() => vec![OutputEvent::Stderr(Bytes::copy_from_slice(payload))],
        ERROR if !payload.is_empty() => match serde_json::from_slice::<Value>(payload) {
            Ok(status) => match exit_of(&status) {
                Ok(code) => vec![OutputEvent::Exit(code)],
                Err(message) => vec![
                    OutputEvent::Stderr(Bytes::from(format!("{message}\n"))),
                    OutputEvent::Closed,
                ],
            },
            Err(_) => vec![OutputEvent::Closed],
        },
        _ => Vec::new(),
    }
}

/// Opens an exec (`verb` "exec") or attach session on node `node`'s kubelet at `path`.
///
/// # Errors
/// The kubelet cannot be reached, refuses the request (its reason), or does not upgrade.
pub async fn session(
    state: &ApiState,
    node: &str,
    path: &str,
    options: &ExecOptions,
) -> Result<ContainerSession, ApiError> {
    let target = format!("{path}?{}", exec_query(options));
    let ws = open_websocket(state, node, target, Protocol::V5).await?;
    let (input, input_rx) = mpsc::channel::<StdinMessage>(16);
    let (output_tx, output) = mpsc::channel::<OutputEvent>(16);
    tokio::spawn(bridge(ws, input_rx, output_tx));
    Ok(ContainerSession { input, output })
}

async fn bridge<S>(
    ws: WebSocketStream<S>,
    mut input: mpsc::Receiver<StdinMessage>,
    output: mpsc::Sender<OutputEvent>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut sink, mut source) = ws.split();
    let mut input_open = true;
    loop {
        tokio::select! {
            message = input.recv(), if input_open => {
                let frame = match message {
                    Some(message) => input_frame(message),
                    None => {
                        // The client's side is done: end of stdin.
                        input_open = false;
                        input_frame(StdinMessage::Close)
                    }
                };
                if sink.send(Message::Binary(frame.into())).await.is_err() {
                    let _ = output.send(OutputEvent::Closed).await;
                    return;
                }
            }
            message = source.next() => {
                let events = match message {
                    Some(Ok(Message::Binary(data))) => output_events(&data),
                    Some(Ok(Message::Close(_))) | None => vec![OutputEvent::Closed],
                    Some(Ok(_)) => Vec::new(),
                    Some(Err(error)) => {
                        debug!(%error, "the kubelet's stream ended");
                        vec![OutputEvent::Closed]
                    }
                };
                for event in events {
                    let end = matches!(event, OutputEvent::Exit(_) | OutputEvent::Closed);
                    if output.send(event).await.is_err() || end {
                        let _ = sink.close().await;
                        return;
                    }
                }
            }
            () = output.closed() => {
                let _ = sink.close().await;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::streaming::channel::exit_status;

    #[test]
    fn exit_codes_from_the_final_status() {
        assert_eq!(exit_of(&exit_status(0)), Ok(0));
        assert_eq!(exit_of(&exit_status(3)), Ok(3));
        let failure = json!({"status": "Failure", "message": "container not found (\"x\")"});
        assert_eq!(exit_of(&failure), Err("container not found (\"x\")".into()));
    }

    #[test]
    fn channel_frames() {
        assert_eq!(input_frame(StdinMessage::Data(Bytes::from("hi"))), b"\0hi");
        assert_eq!(input_frame(StdinMessage::Close), [CLOSE, STDIN]);
        let resize = input_frame(StdinMessage::Resize {
            width: 80,
            height: 24,
        });
        assert_eq!(resize[0], RESIZE);
        let size: Value = serde_json::from_slice(&resize[1..]).unwrap();
        assert_eq!(size, json!({"Width": 80, "Height": 24}));
        assert!(output_events(&[STDOUT]).is_empty());
        assert_eq!(
            output_events(b"\x01out"),
            vec![OutputEvent::Stdout(Bytes::from("out"))]
        );
        let status = exit_status(2).to_string();
        assert_eq!(
            output_events(&[&[ERROR][..], status.as_bytes()].concat()),
            vec![OutputEvent::Exit(2)]
        );
    }

    #[test]
    fn exec_queries() {
        let options = ExecOptions {
            command: vec!["sh".into(), "-c".into(), "echo a b".into()],
            stdin: true,
            stdout: true,
            stderr: false,
            tty: true,
        };
        assert_eq!(
            exec_query(&options),
            "command=sh&command=-c&command=echo+a+b&stdin=true&stdout=true&tty=true"
        );
    }
}
