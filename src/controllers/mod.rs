//! The controllers that run inside `kedge server`, each a client of the API server through
//! the in-process transport. One file per controller, each exposing `run`.
//!
//! - [`serviceaccount`]: the `default` ServiceAccount in every namespace;
//! - [`root_ca`]: the `kube-root-ca.crt` ConfigMap in every namespace;
//! - [`namespace`]: deleting a namespace's content, then the namespace;
//! - [`garbage_collector`]: owner references (background, foreground and orphan deletion);
//! - [`job`], [`cronjob`], [`ttl_after_finished`]: batch workloads;
//! - [`pod_gc`]: terminated, orphaned and unscheduled terminating pods;
//! - [`node_ipam`], [`node_lifecycle`], [`taint_eviction`]: nodes' pod CIDRs, health and
//!   taints, and eviction from NoExecute-tainted nodes;
//! - [`endpoints`], [`endpointslice`]: the addresses behind each Service;
//! - [`events`]: the event recorder they share; [`leader`]: leader election;
//!   [`pod_conditions`]: what they read from pods.
//!
//! A controller is `pub async fn run(ctx: Context, shutdown: CancellationToken)`, listed in
//! [`CONTROLLERS`]; they start once this server holds the `kube-controller-manager` lease.

pub mod cronjob;
pub mod endpoints;
pub mod endpointslice;
pub mod events;
pub mod garbage_collector;
pub mod job;
pub mod leader;
pub mod namespace;
pub mod node_ipam;
pub mod node_lifecycle;
pub mod pod_conditions;
pub mod pod_gc;
pub mod root_ca;
pub mod serviceaccount;
pub mod taint_eviction;
pub mod ttl_after_finished;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::api::ApiState;

/// What every controller gets.
#[derive(Clone)]
pub struct Context {
    pub api: Arc<ApiState>,
    pub client: kube::Client,
    pub events: events::Recorder,
}

impl Context {
    /// A context whose events come from `component`.
    pub fn for_component(&self, component: &str) -> Context {
        Context {
            events: events::Recorder::new(&self.api, component),
            ..self.clone()
        }
    }
}

/// A reconcile failure: logged, then retried after a pause.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("{0}")]
    Api(#[from] kube::Error),
    #[error("{0}")]
    Request(String),
}

/// The error policy shared by the controllers: retry in 5 s.
pub fn retry_later<K>(
    _object: Arc<K>,
    error: &ReconcileError,
    _ctx: Arc<Context>,
) -> kube::runtime::controller::Action {
    warn!(%error, "reconcile failed; retrying in 5 s");
    kube::runtime::controller::Action::requeue(Duration::from_secs(5))
}

type Run = fn(Context, CancellationToken) -> futures::future::BoxFuture<'static, ()>;

/// Every controller, with the component name its events carry.
pub const CONTROLLERS: &[(&str, Run)] = &[
    ("service-account-controller", |c, s| {
        Box::pin(serviceaccount::run(c, s))
    }),
    ("root-ca-cert-publisher", |c, s| {
        Box::pin(root_ca::run(c, s))
    }),
    ("namespace-controller", |c, s| {
        Box::pin(namespace::run(c, s))
    }),
    ("garbage-collector-controller", |c, s| {
        Box::pin(garbage_collector::run(c, s))
    }),
    ("job-controller", |c, s| Box::pin(job::run(c, s))),
    ("cronjob-controller", |c, s| Box::pin(cronjob::run(c, s))),
    ("ttl-after-finished-controller", |c, s| {
        Box::pin(ttl_after_finished::run(c, s))
    }),
    ("pod-garbage-collector", |c, s| Box::pin(pod_gc::run(c, s))),
    ("cidrAllocator", |c, s| Box::pin(node_ipam::run(c, s))),
    ("node-controller", |c, s| {
        Box::pin(node_lifecycle::run(c, s))
    }),
    ("taint-eviction-controller", |c, s| {
        Box::pin(taint_eviction::run(c, s))
    }),
    ("endpoint-controller", |c, s| Box::pin(endpoints::run(c, s))),
    ("endpoint-slice-controller", |c, s| {
        Box::pin(endpointslice::run(c, s))
    }),
];

/// Starts the controllers once this server leads; they stop at `shutdown` (or when
/// leadership is lost).
pub fn start(api: &Arc<ApiState>, shutdown: &CancellationToken) -> tokio::task::JoinHandle<()> {
    let api = api.clone();
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        let client = crate::api::local::client(&api, "kube-controller-manager");
        // Stable across restarts, so a restarted server resumes its lease at once.
        let identity = crate::host::hostname();
        let Some(leading) = leader::lead(
            client.clone(),
            "kube-controller-manager",
            &identity,
            shutdown,
        )
        .await
        else {
            return;
        };
        let base = Context {
            events: events::Recorder::new(&api, "kube-controller-manager"),
            api: api.clone(),
            client,
        };
        let mut tasks = vec![tokio::spawn(events::expire(
            api.clone(),
            leading.child_token(),
        ))];
        for (component, run) in CONTROLLERS {
            let ctx = base.for_component(component);
            tasks.push(tokio::spawn(ctx.events.clone().run(leading.child_token())));
            tasks.push(tokio::spawn(run(ctx, leading.child_token())));
        }
        for task in tasks {
            let _ = task.await;
        }
    })
}
