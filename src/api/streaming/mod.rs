//! The streaming subresources of pods — `pods/log`, `pods/exec`, `pods/attach`,
//! `pods/portforward` — answered by
//! the kubelet of the pod's node.
//!
//! The API server resolves the pod and its container, then hands the request to the
//! [`NodeStreams`] registered for the pod's node in [`Nodes`]: the kubelet inside
//! `kedge server` registers (in process); any other node is reached over its kubelet's HTTPS
//! API on 10250 ([`crate::api::kubelet::streams`]). A pod whose node's kubelet cannot be
//! reached is answered with a `ServiceUnavailable` Status naming the node.
//!
//! - [`logs`]: `pods/log` options and handler;
//! - [`exec`]: `pods/exec` and `pods/attach` options and handler;
//! - [`channel`]: the WebSocket channel protocol (`v4`/`v5.channel.k8s.io`);
//! - [`spdy`]: SPDY/3.1 framing; [`spdy_exec`]: exec and attach over it; [`portforward`]:
//!   port-forward over it.

pub mod channel;
pub mod exec;
pub mod logs;
pub mod portforward;
pub mod spdy;
pub mod spdy_exec;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::http::Body;
use super::status::ApiError;
pub use exec::ExecOptions;
pub use logs::LogOptions;

/// Input to a running exec or attach session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StdinMessage {
    Data(Bytes),
    /// End of input.
    Close,
    /// The terminal's new size.
    Resize {
        width: u16,
        height: u16,
    },
}

/// What a session delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputEvent {
    Stdout(Bytes),
    Stderr(Bytes),
    /// The process (exec) or container (attach) exited with this code; the end.
    Exit(i32),
    /// The session ended without an exit code (the runtime went away).
    Closed,
}

/// A running exec or attach session: dropping `input` closes stdin, dropping `output` ends
/// the session.
#[derive(Debug)]
pub struct ContainerSession {
    pub input: mpsc::Sender<StdinMessage>,
    pub output: mpsc::Receiver<OutputEvent>,
}

/// What a node's kubelet answers for the pods bound to it. `pod` is the pod as stored and
/// `container` a container of its spec, both checked by the API server.
#[async_trait::async_trait]
pub trait NodeStreams: Send + Sync {
    /// The container's log, as `text/plain` bytes (streamed while `follow`ing).
    async fn logs(
        &self,
        pod: &Value,
        container: &str,
        options: &LogOptions,
    ) -> Result<Body, ApiError>;

    /// Runs `options.command` in the running container.
    async fn exec(
        &self,
        pod: &Value,
        container: &str,
        options: &ExecOptions,
    ) -> Result<ContainerSession, ApiError>;

    /// Attaches to the running container's process.
    async fn attach(
        &self,
        pod: &Value,
        container: &str,
        options: &ExecOptions,
    ) -> Result<ContainerSession, ApiError>;

    /// A connection to `port` on the pod's localhost (inside its network namespace).
    async fn port_forward(&self, pod: &Value, port: u16) -> Result<TcpStream, ApiError>;
}

/// The kubelets reachable for streaming, by node name.
#[derive(Default)]
pub struct Nodes {
    nodes: RwLock<HashMap<String, Arc<dyn NodeStreams>>>,
}

impl Nodes {
    /// Registers (or replaces) the kubelet of `node`.
    pub fn register(&self, node: &str, streams: Arc<dyn NodeStreams>) {
        self.nodes
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(node.to_string(), streams);
    }

    pub fn unregister(&self, node: &str) {
        self.nodes
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(node);
    }

    /// The kubelet of `node`, or the Status a client sees when there is none.
    ///
    /// # Errors
    /// No kubelet of that node is reachable.
    pub fn get(&self, node: &str) -> Result<Arc<dyn NodeStreams>, ApiError> {
        self.nodes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(node)
            .cloned()
            .ok_or_else(|| {
                ApiError::service_unavailable(format!(
                    "no kubelet of node {node:?} is reachable from the API server"
                ))
            })
    }
}

/// The names of a list of containers (`spec.containers`, `spec.initContainers`...).
fn container_names(pod: &Value, list: &str) -> Vec<String> {
    pod.pointer(&format!("/spec/{list}"))
        .and_then(Value::as_array)
        .map(|containers| {
            containers
                .iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The container a request addresses: `requested`, or the pod's only container; upstream's
/// Bad Request otherwise.
///
/// # Errors
/// No container named and several to choose from, or the named one is not the pod's.
pub fn pick_container(pod: &Value, requested: Option<&str>) -> Result<String, ApiError> {
    let name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let containers = container_names(pod, "containers");
    let init = container_names(pod, "initContainers");
    let ephemeral = container_names(pod, "ephemeralContainers");
    match requested.filter(|c| !c.is_empty()) {
        Some(container) => {
            if containers
                .iter()
                .chain(&init)
                .chain(&ephemeral)
                .any(|c| c == container)
            {
                Ok(container.to_string())
            } else {
                Err(ApiError::bad_request(format!(
                    "container {container} is not valid for pod {name}"
                )))
            }
        }
        None => match containers.as_slice() {
            [only] => Ok(only.clone()),
            [] => Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}"
            ))),
            several => {
                let mut message = format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    several.join(" ")
                );
                if !init.is_empty() {
                    message.push_str(&format!(
                        " or one of the init containers: [{}]",
                        init.join(" ")
                    ));
                }
                Err(ApiError::bad_request(message))
            }
        },
    }
}

/// The pod's node, when it is bound to one.
pub fn node_name(pod: &Value) -> Option<&str> {
    pod.pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn container_defaults_to_the_only_one() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "app"}]}});
        assert_eq!(pick_container(&pod, None).unwrap(), "app");
        assert_eq!(pick_container(&pod, Some("")).unwrap(), "app");
        let error = pick_container(&pod, Some("nope")).unwrap_err();
        assert_eq!(error.code, 400);
        assert_eq!(error.message, "container nope is not valid for pod p");
    }

    #[test]
    fn ambiguous_container_names_the_choices() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {
            "initContainers": [{"name": "init"}],
            "containers": [{"name": "a"}, {"name": "b"}],
        }});
        let error = pick_container(&pod, None).unwrap_err();
        assert_eq!(
            error.message,
            "a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [init]"
        );
        assert_eq!(pick_container(&pod, Some("init")).unwrap(), "init");
    }

    #[test]
    fn missing_kubelet_names_the_node() {
        let nodes = Nodes::default();
        let Err(error) = nodes.get("n1") else {
            panic!("no kubelet was registered")
        };
        assert_eq!(error.code, 503);
        assert!(error.message.contains("\"n1\""));
    }
}
