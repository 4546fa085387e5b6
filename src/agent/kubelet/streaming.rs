//! The kubelet's answers to `pods/log`, `pods/exec`, `pods/attach` and `pods/portforward`: registered with the
//! API server in process ([`crate::api::streaming::Nodes`]) for this node.
//!
//! Logs are read from the CRI files the shim writes; which attempt's file follows upstream's
//! kubelet (the running container, else the last terminated one; `previous` the one before).
//! Exec and attach are sessions of the pod's shim, bridged to channels by two threads;
//! port-forward connects to the pod's localhost from a thread that joins its network
//! namespace.

use std::convert::Infallible;
use std::path::PathBuf;

use bytes::Bytes;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tracing::debug;

use super::log_reader;
use crate::api::http::Body;
use crate::api::status::ApiError;
use crate::api::streaming::{
    ContainerSession, ExecOptions, LogOptions, NodeStreams, OutputEvent, StdinMessage,
};
use crate::runtime::layout::RuntimeDirs;
use crate::runtime::sandbox::{self, SandboxHandle, SessionEvent, StreamSession};
use crate::runtime::state::ContainerState;

/// The in-process kubelet's streaming answers.
pub struct LocalStreams {
    pub dirs: RuntimeDirs,
}

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The container's status in the pod's status (regular, init or ephemeral).
fn container_status<'a>(pod: &'a Value, container: &str) -> Option<&'a Value> {
    [
        "containerStatuses",
        "initContainerStatuses",
        "ephemeralContainerStatuses",
    ]
    .iter()
    .filter_map(|list| pod.pointer(&format!("/status/{list}"))?.as_array())
    .flatten()
    .find(|s| s.get("name").and_then(Value::as_str) == Some(container))
}

/// The attempt of a container id `kedge://<pod uid>/<name>.<attempt>`.
fn attempt_of(container_id: &str) -> Option<u32> {
    container_id.rsplit_once('.')?.1.parse().ok()
}

/// Which attempt's log a request reads, and whether that attempt is running, as upstream's
/// kubelet decides it from the pod's status.
///
/// # Errors
/// Upstream's Bad Request when there is no such log.
pub fn log_attempt(pod: &Value, container: &str, previous: bool) -> Result<(u32, bool), ApiError> {
    let name = text(pod, "/metadata/name");
    let Some(status) = container_status(pod, container) else {
        // No status yet: the kubelet has not reported the pod's containers (upstream's own
        // status would say ContainerCreating).
        let phase = text(pod, "/status/phase");
        return Err(ApiError::bad_request(if matches!(phase, "" | "Pending") {
            format!(
                "container {container:?} in pod {name:?} is waiting to start: ContainerCreating"
            )
        } else {
            format!("container {container:?} in pod {name:?} is not available")
        }));
    };
    let id = |state: &str| {
        Some(text(status, &format!("/{state}/terminated/containerID"))).filter(|s| !s.is_empty())
    };
    let last = id("lastState");
    let terminated_error = || {
        ApiError::bad_request(format!(
            "container {container:?} in pod {name:?} is terminated"
        ))
    };
    let chosen = if previous {
        (
            last.ok_or_else(|| {
                ApiError::bad_request(format!(
                    "previous terminated container {container:?} in pod {name:?} not found"
                ))
            })?,
            false,
        )
    } else if status.pointer("/state/running").is_some() {
        (text(status, "/containerID"), true)
    } else if status.pointer("/state/terminated").is_some() {
        (id("state").or(last).ok_or_else(terminated_error)?, false)
    } else if status.pointer("/lastState/terminated").is_some() {
        (last.ok_or_else(terminated_error)?, false)
    } else {
        let reason = text(status, "/state/waiting/reason");
        let message = match reason {
            "ErrImagePull" => "image can't be pulled",
            "ImagePullBackOff" => "trying and failing to pull image",
            other => other,
        };
        return Err(ApiError::bad_request(format!(
            "container {container:?} in pod {name:?} is waiting to start: {message}"
        )));
    };
    let attempt = attempt_of(chosen.0).ok_or_else(|| {
        ApiError::internal(format!("container id {:?} names no attempt", chosen.0))
    })?;
    Ok((attempt, chosen.1))
}

impl LocalStreams {
    fn log_path(&self, pod: &Value, container: &str, attempt: u32) -> PathBuf {
        let directory = format!(
            "{}_{}_{}",
            text(pod, "/metadata/namespace"),
            text(pod, "/metadata/name"),
            text(pod, "/metadata/uid")
        );
        self.dirs
            .logs
            .join(directory)
            .join(container)
            .join(format!("{attempt}.log"))
    }

    /// The pod's shim and the running container's runtime id (`<name>.<attempt>`).
    async fn running_container(
        &self,
        pod: &Value,
        container: &str,
    ) -> Result<(SandboxHandle, String), ApiError> {
        let dirs = self.dirs.clone();
        let uid = text(pod, "/metadata/uid").to_string();
        let name = container.to_string();
        tokio::task::spawn_blocking(move || {
            let not_found = || ApiError::bad_request(format!("container not found ({name:?})"));
            let handle = SandboxHandle::connect(&dirs, &uid).map_err(|_| not_found())?;
            let status = handle
                .status()
                .map_err(|e| ApiError::internal(e.to_string()))?;
            let running = status
                .containers
                .iter()
                .filter(|c| c.name == name && c.state == ContainerState::Running)
                .max_by_key(|c| c.attempt)
                .ok_or_else(not_found)?;
            let id = format!("{}.{}", running.name, running.attempt);
            Ok((handle, id))
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
    }
}

/// Whether container `id` of pod `uid` still runs (false when its shim is gone).
fn still_running(dirs: &RuntimeDirs, uid: &str, id: &str) -> bool {
    SandboxHandle::connect(dirs, uid)
        .and_then(|handle| handle.status())
        .is_ok_and(|status| {
            status.containers.iter().any(|c| {
                format!("{}.{}", c.name, c.attempt) == id && c.state == ContainerState::Running
            })
        })
}

/// Bridges a shim session to channels: one thread reads its output, one writes its input.
fn bridge(session: StreamSession) -> Result<ContainerSession, ApiError> {
    let mut writer = session
        .try_clone()
        .map_err(|e| ApiError::internal(format!("cannot share the session: {e}")))?;
    let (input, mut input_rx) = mpsc::channel::<StdinMessage>(16);
    let (output_tx, output) = mpsc::channel::<OutputEvent>(16);
    let mut reader = session;
    std::thread::spawn(move || {
        loop {
            let event = match reader.next_event() {
                Ok(SessionEvent::Stdout(data)) => OutputEvent::Stdout(Bytes::from(data)),
                Ok(SessionEvent::Stderr(data)) => OutputEvent::Stderr(Bytes::from(data)),
                Ok(SessionEvent::Exit(code)) => OutputEvent::Exit(code),
                Ok(SessionEvent::Closed) | Err(_) => OutputEvent::Closed,
            };
            let end = matches!(event, OutputEvent::Exit(_) | OutputEvent::Closed);
            if output_tx.blocking_send(event).is_err() || end {
                break;
            }
        }
        // Unblocks the input thread's session too.
        let _ = reader.shutdown();
    });
    std::thread::spawn(move || {
        while let Some(message) = input_rx.blocking_recv() {
            let sent = match message {
                StdinMessage::Data(data) => writer.send_stdin(&data),
                StdinMessage::Close => writer.close_stdin(),
                StdinMessage::Resize { width, height } => writer.resize(width, height),
            };
            if let Err(error) = sent.and_then(|()| writer.flush()) {
                debug!(%error, "the session's input ended");
                break;
            }
        }
        // The client is gone: end the session, which ends the output thread.
        let _ = writer.shutdown();
    });
    Ok(ContainerSession { input, output })
}

fn runtime_error(error: sandbox::RuntimeError) -> ApiError {
    ApiError::internal(format!("error executing command in container: {error}"))
}

#[async_trait::async_trait]
impl NodeStreams for LocalStreams {
    async fn logs(
        &self,
        pod: &Value,
        container: &str,
        options: &LogOptions,
    ) -> Result<Body, ApiError> {
        let (attempt, running) = log_attempt(pod, container, options.previous)?;
        let path = self.log_path(pod, container, attempt);
        let file_missing = !tokio::fs::try_exists(&path).await.unwrap_or(false);
        if file_missing {
            return Err(ApiError::bad_request(format!(
                "the log of container {container:?} (attempt {attempt}) is not on the node"
            )));
        }
        let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(16);
        let options = options.clone();
        let dirs = self.dirs.clone();
        let uid = text(pod, "/metadata/uid").to_string();
        let id = format!("{container}.{attempt}");
        tokio::task::spawn_blocking(move || {
            let mut write = |bytes: Vec<u8>| {
                if bytes.is_empty() {
                    return !tx.is_closed();
                }
                tx.blocking_send(Ok(Frame::data(Bytes::from(bytes))))
                    .is_ok()
            };
            let mut check = || running && still_running(&dirs, &uid, &id);
            if let Err(error) = log_reader::stream(&path, &options, &mut write, &mut check) {
                debug!(path = %path.display(), %error, "reading a container log failed");
            }
        });
        Ok(StreamBody::new(ReceiverStream::new(rx)).boxed())
    }

    async fn exec(
        &self,
        pod: &Value,
        container: &str,
        options: &ExecOptions,
    ) -> Result<ContainerSession, ApiError> {
        let (handle, id) = self.running_container(pod, container).await?;
        let command = options.command.clone();
        let exec = sandbox::ExecOptions {
            tty: options.tty,
            stdin: options.stdin,
            width: 80,
            height: 24,
        };
        let session = tokio::task::spawn_blocking(move || handle.exec(&id, &command, &exec))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(runtime_error)?;
        bridge(session)
    }

    async fn attach(
        &self,
        pod: &Value,
        container: &str,
        options: &ExecOptions,
    ) -> Result<ContainerSession, ApiError> {
        let (handle, id) = self.running_container(pod, container).await?;
        let stdin = options.stdin;
        let session = tokio::task::spawn_blocking(move || handle.attach(&id, stdin))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(runtime_error)?;
        bridge(session)
    }

    async fn port_forward(&self, pod: &Value, port: u16) -> Result<TcpStream, ApiError> {
        let dirs = self.dirs.clone();
        let uid = text(pod, "/metadata/uid").to_string();
        let (tx, rx) = tokio::sync::oneshot::channel();
        // A thread of its own: it joins the pod's network namespace and ends with the
        // connection made (the socket stays in that namespace).
        let pod_uid = uid.clone();
        std::thread::spawn(move || {
            let _ = tx.send(connect_in_pod(&dirs, &pod_uid, port));
        });
        let stream = rx
            .await
            .map_err(|_| ApiError::internal("the port-forward thread ended without an answer"))?
            .map_err(|error| {
                ApiError::new(500, "InternalError", format!(
                    "error forwarding port {port} to pod {uid}: failed to connect to localhost:{port} inside the pod's network namespace: {error}"
                ))
            })?;
        stream
            .set_nonblocking(true)
            .and_then(|()| TcpStream::from_std(stream))
            .map_err(|e| ApiError::internal(format!("cannot use the forwarded connection: {e}")))
    }
}

/// Connects to `port` on localhost inside pod `uid`'s network namespace (the host's, for
/// host-network pods). Must run on a thread of its own, which stays in that namespace.
fn connect_in_pod(
    dirs: &RuntimeDirs,
    uid: &str,
    port: u16,
) -> std::io::Result<std::net::TcpStream> {
    let status = SandboxHandle::connect(dirs, uid)
        .and_then(|handle| handle.status())
        .map_err(std::io::Error::other)?;
    if let Some(netns) = status.net_namespace {
        let file = std::fs::File::open(&netns)?;
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(std::io::Error::from)?;
    }
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        std::time::Duration::from_secs(10),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(status: Value) -> Value {
        json!({"metadata": {"name": "p"}, "status": {"containerStatuses": [status]}})
    }

    #[test]
    fn running_and_previous_attempts() {
        let p = pod(json!({
            "name": "app",
            "containerID": "kedge://u/app.2",
            "state": {"running": {}},
            "lastState": {"terminated": {"containerID": "kedge://u/app.1", "exitCode": 1}},
        }));
        assert_eq!(log_attempt(&p, "app", false).unwrap(), (2, true));
        assert_eq!(log_attempt(&p, "app", true).unwrap(), (1, false));
    }

    #[test]
    fn errors_as_upstream() {
        let waiting =
            pod(json!({"name": "app", "state": {"waiting": {"reason": "ContainerCreating"}}}));
        assert_eq!(
            log_attempt(&waiting, "app", false).unwrap_err().message,
            "container \"app\" in pod \"p\" is waiting to start: ContainerCreating"
        );
        let first =
            pod(json!({"name": "app", "containerID": "kedge://u/app.0", "state": {"running": {}}}));
        let error = log_attempt(&first, "app", true).unwrap_err();
        assert_eq!(error.code, 400);
        assert_eq!(
            error.message,
            "previous terminated container \"app\" in pod \"p\" not found"
        );
        assert_eq!(
            log_attempt(&first, "other", false).unwrap_err().message,
            "container \"other\" in pod \"p\" is waiting to start: ContainerCreating"
        );
        let mut running = first.clone();
        running["status"]["phase"] = json!("Running");
        assert_eq!(
            log_attempt(&running, "other", false).unwrap_err().message,
            "container \"other\" in pod \"p\" is not available"
        );
        let done = pod(
            json!({"name": "app", "state": {"terminated": {"containerID": "kedge://u/app.3"}}}),
        );
        assert_eq!(log_attempt(&done, "app", false).unwrap(), (3, false));
    }
}
