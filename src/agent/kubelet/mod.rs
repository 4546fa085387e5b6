//! The kubelet: makes this machine a node of the cluster and runs the pods bound to it.
//!
//! - [`args`]: the upstream kubelet flags `--kubelet-arg` sets;
//! - [`node`]: registration and the node's status; [`lease`]: the node's heartbeat Lease;
//! - [`network`]: the pod network behind a trait ([`network::PodNetworking`]);
//! - [`pods`]: the watch of the node's pods and one worker per pod ([`worker`]) that
//!   converges the pod's sandbox and containers on its spec, with [`containers`] (the
//!   runtime's container configs), [`images`] (pull policies; [`image_gc`] removes unused
//!   images), [`env`] (environment),
//!   [`volumes`] (volume contents),
//!   [`status`] (the pod's status as upstream reports it), [`probes`] (startup, liveness,
//!   readiness; [`grpc_probe`] for gRPC), [`hooks`] (postStart and preStop), [`termination`]
//!   (graceful deletion), [`eviction`] (activeDeadlineSeconds) and [`backoff`] (crash loops);
//! - [`streaming`]: logs, exec and attach for the API server, with [`log_reader`];
//! - [`server`]: the kubelet's HTTPS API on 10250 ([`server_routes`]), which only the API
//!   server's client certificate may call.
//!
//! Inside `kedge server` the kubelet reaches the API server through the in-process transport
//! as `system:node:<name>`, so the server's own node needs no tunnel.

pub mod args;
pub mod backoff;
pub mod containers;
pub mod env;
pub mod eviction;
pub mod grpc_probe;
pub mod hooks;
pub mod image_gc;
pub mod images;
pub mod lease;
pub mod log_reader;
pub mod network;
pub mod node;
pub mod pods;
pub mod pressure;
pub mod probes;
pub mod server;
pub mod server_routes;
pub mod status;
pub mod streaming;
pub mod termination;
pub mod volumes;
pub mod worker;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;

use ipnet::Ipv4Net;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams};
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::api::ApiState;
use crate::config::NodeConfig;
use crate::controllers::events::Recorder;
use crate::runtime::images::ImageStore;
use crate::runtime::layout::RuntimeDirs;

/// What the kubelet needs to know.
#[derive(Clone, Debug)]
pub struct KubeletConfig {
    pub node: NodeConfig,
    /// This node runs the control plane (`kedge server`).
    pub control_plane: bool,
    pub cluster_cidr: Ipv4Net,
    pub service_cidr: Ipv4Net,
    pub cluster_dns: Ipv4Addr,
    pub cluster_domain: String,
    pub runtime: RuntimeDirs,
    /// Pod volumes: `<data-dir>/agent/kubelet/pods/<uid>/volumes/<name>`.
    pub pods_dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum KubeletError {
    #[error("cannot register the node: {0}")]
    Register(String),
    #[error("cannot open the image store: {0}")]
    ImageStore(#[from] crate::runtime::images::ImageError),
    #[error("cannot recover the pods of an earlier run: {0}")]
    Recover(std::io::Error),
    #[error("cannot start the kubelet API: {0}")]
    Server(#[from] server::KubeletServerError),
}

/// What every part of the kubelet shares.
pub struct Kubelet {
    pub config: KubeletConfig,
    pub client: kube::Client,
    pub api: Arc<ApiState>,
    pub events: Recorder,
    pub images: ImageStore,
    pub network: Arc<dyn network::PodNetworking>,
    /// Turns for the runtime's heavy steps: starting a sandbox and its network, creating and
    /// starting a container (see [`RUNTIME_TURNS`]).
    pub runtime_turns: Arc<tokio::sync::Semaphore>,
    /// Pods node-pressure eviction chose, for their workers.
    pub evictions: pressure::Evictions,
}

impl Kubelet {
    /// The pods bound to this node, listed from the API server.
    ///
    /// # Errors
    /// The list failed.
    pub async fn pods_on_node(&self) -> kube::Result<Vec<Pod>> {
        let on_node =
            ListParams::default().fields(&format!("spec.nodeName={}", self.config.node.name));
        Ok(Api::<Pod>::all(self.client.clone())
            .list(&on_node)
            .await?
            .items)
    }
}

/// How many sandboxes or containers are set up at once. Their set-up serialises in the
/// kernel (the mount table's lock above all, which libcontainer's reads of
/// `/proc/self/mountinfo` wait for behind every other container's mounts): with a hundred at
/// once each waits behind all the others and they all finish late; taking turns, the first
/// ones are done at once. Measured on 2 cores (`scripts/bench-pods.sh`, 100 pods): 2 turns
/// p50 2.1 s, 4 turns 1.3 s, 8 turns 2.0 s, no limit 2.0–2.7 s.
pub const RUNTIME_TURNS: usize = 4;

/// Runs the kubelet until `shutdown`. Start-up order:
/// 1. open the image store and watch the air-gap directory `<data-dir>/agent/images`;
/// 2. register the Node (and its podCIDR);
/// 3. serve the kubelet API on 10250 (logs, exec, port-forward, `nodes/proxy`);
/// 4. renew the Lease and keep the node's status fresh;
/// 5. recover the pods of an earlier run, then sync the pods bound to this node.
///
/// Pods keep running when the kubelet stops: their shims outlive it, and the next run finds
/// them again.
///
/// # Errors
/// The image store cannot be opened, the node cannot be registered, or the kubelet API
/// cannot listen.
pub async fn run(
    api: Arc<ApiState>,
    config: KubeletConfig,
    network: Arc<dyn network::PodNetworking>,
    shutdown: CancellationToken,
) -> Result<(), KubeletError> {
    let root = config.node.data_dir.agent();
    let images = tokio::task::spawn_blocking(move || ImageStore::open(&root))
        .await
        .map_err(|e| KubeletError::Register(e.to_string()))??;
    if let Ok(registries) = crate::runtime::images::Registries::load(&config.node.private_registry)
    {
        images.set_registries(registries);
    }
    let import = tokio::spawn({
        let images = images.clone();
        let dir = config.node.data_dir.agent_images();
        let shutdown = shutdown.clone();
        async move {
            if let Err(error) = images.watch_import_dir(&dir, shutdown).await {
                tracing::error!(%error, "the air-gap image directory watcher stopped");
            }
        }
    });
    let name = config.node.name.clone();
    let kubelet = Arc::new(Kubelet {
        client: crate::api::local::client(&api, &format!("node:{name}")),
        events: Recorder::new(&api, "kubelet"),
        api,
        images,
        network,
        config,
        runtime_turns: Arc::new(tokio::sync::Semaphore::new(RUNTIME_TURNS)),
        evictions: pressure::Evictions::default(),
    });
    let pod_cidr = node::register(&kubelet).await?;
    let node_uid = Api::<Node>::all(kubelet.client.clone())
        .get(&name)
        .await
        .map_err(|e| KubeletError::Register(e.to_string()))?
        .metadata
        .uid
        .unwrap_or_default();
    let api = server::start(kubelet.clone(), shutdown.clone()).await?;
    info!(node = %name, %pod_cidr, "the kubelet is running");
    // Logs, exec, attach and port-forward of this node's pods, for the API server: in
    // process, unless `KEDGE_KUBELET_STREAMS=https` has the API server use this kubelet's
    // HTTPS API as it would a remote node's (to exercise that path on one machine).
    if std::env::var("KEDGE_KUBELET_STREAMS").as_deref() == Ok("https") {
        info!(node = %name, "streaming for this node's pods goes through the kubelet API");
    } else {
        kubelet.api.nodes.register(
            &name,
            Arc::new(streaming::LocalStreams {
                dirs: kubelet.config.runtime.clone(),
            }),
        );
    }
    let lease = tokio::spawn(lease::run(kubelet.clone(), node_uid, shutdown.clone()));
    let status = tokio::spawn(node::run_status(kubelet.clone(), shutdown.clone()));
    let pressure = tokio::spawn(pressure::run(kubelet.clone(), shutdown.clone()));
    let image_gc = tokio::spawn(image_gc::run(kubelet.clone(), shutdown.clone()));
    let pods = pods::run(kubelet.clone(), shutdown.clone()).await;
    let _ = tokio::join!(lease, status, pressure, image_gc, import, api);
    kubelet.api.nodes.unregister(&name);
    pods
}
