//! The Kubernetes API server: HTTPS on `--https-listen-port`, backed by the datastore through
//! the watch cache, answering real kubectl and client libraries.
//!
//! - [`server`]: the TLS listener and the per-connection HTTP service; [`handlers`]: the
//!   request dispatch and one file per verb family;
//! - [`registry`]: the kinds served; [`cache`]: the watch cache that serves reads;
//! - [`request`], [`http`], [`status`]: paths and queries, bodies and content types, errors;
//! - [`auth`]: authentication and service-account tokens;
//! - [`strategy`], [`object`], [`selector`]: per-kind rules and JSON helpers;
//! - [`streaming`]: `pods/log`, `pods/exec` and `pods/attach`, answered by the pod's kubelet;
//!   [`kubelet`]: the calls to kubelets' HTTPS API (`nodes/proxy`, remote nodes' logs).

pub mod admission;
pub mod auth;
pub mod cache;
pub mod convert;
pub mod crd;
pub mod field_error;
pub mod handlers;
pub mod http;
pub mod jsonpath;
pub mod kubelet;
pub mod local;
pub mod object;
pub mod openapi;
pub mod patch;
pub mod protobuf;
pub mod registry;
pub mod request;
pub mod schema;
pub mod selector;
pub mod server;
pub mod services;
pub mod status;
pub mod strategy;
pub mod streaming;
pub mod table;

use std::sync::Arc;

use ipnet::Ipv4Net;

use crate::pki::ClusterPki;
use crate::store::Store;
use auth::tokens::TokenIssuer;
use cache::WatchCache;
use registry::Registry;

/// The Kubernetes version the API server reports: the API kedge implements.
pub const KUBERNETES_VERSION: (u32, u32, u32) = (1, 35, 0);

/// `/version`'s `gitVersion`.
pub fn git_version() -> String {
    let (major, minor, patch) = KUBERNETES_VERSION;
    format!("v{major}.{minor}.{patch}+kedge{}", crate::VERSION)
}

/// The API server's part of the configuration.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    pub cluster_domain: String,
    /// Pod IPs; each node gets a /24 of it (`--cluster-cidr`).
    pub cluster_cidr: Ipv4Net,
    pub service_cidr: Ipv4Net,
    pub node_port_range: (u16, u16),
}

/// Everything a request handler can reach.
pub struct ApiState {
    pub store: Arc<dyn Store>,
    pub registry: Arc<Registry>,
    pub cache: Arc<WatchCache>,
    pub config: ApiConfig,
    pub pki: ClusterPki,
    pub tokens: TokenIssuer,
    pub openapi: handlers::openapi::OpenApiCache,
    pub services: services::ServiceAllocator,
    /// The kubelets that answer `pods/log`, `pods/exec` and `pods/attach`, by node.
    pub nodes: streaming::Nodes,
    /// The HTTPS client for kubelets' API on 10250.
    pub kubelet_client: kubelet::KubeletClient,
}

impl ApiState {
    /// # Errors
    /// When the service-account key cannot be used.
    pub fn new(
        store: Arc<dyn Store>,
        config: ApiConfig,
        pki: ClusterPki,
    ) -> Result<Arc<Self>, auth::tokens::TokenError> {
        let registry = Arc::new(Registry::builtin());
        let issuer = format!("https://kubernetes.default.svc.{}", config.cluster_domain);
        let tokens = TokenIssuer::new(&pki.service_account_key, &issuer)?;
        Ok(Arc::new(ApiState {
            services: services::ServiceAllocator::new(config.service_cidr, config.node_port_range),
            cache: WatchCache::new(registry.clone()),
            store,
            registry,
            config,
            pki,
            tokens,
            openapi: Default::default(),
            nodes: Default::default(),
            kubelet_client: Default::default(),
        }))
    }

    /// What answers the streaming requests of `node`'s pods: its in-process kubelet, else
    /// its kubelet's HTTPS API.
    pub fn node_streams(self: &Arc<Self>, node: &str) -> Arc<dyn streaming::NodeStreams> {
        self.nodes.get(node).unwrap_or_else(|_| {
            Arc::new(kubelet::streams::RemoteStreams {
                state: Arc::downgrade(self),
                node: node.to_string(),
            })
        })
    }
}
