//! The controllers that run inside `kedge server`, each a client of the API server through
//! the in-process transport. One file per controller, each exposing `run`.
//!
//! - [`serviceaccount`]: the `default` ServiceAccount in every namespace;
//! - [`root_ca`]: the `kube-root-ca.crt` ConfigMap in every namespace;
//! - [`namespace`]: deleting a namespace's content, then the namespace;
//! - [`garbage_collector`]: owner references (background, foreground and orphan deletion);
//! - [`disruption`]: PodDisruptionBudget status;
//! - [`resourcequota`]: ResourceQuota usage;
//! - [`podautoscaler`]: HorizontalPodAutoscaler status and replica bounds;
//! - [`certificate_approver`], [`certificate_signer`]: CSR approval and signing;
//! - [`events`]: the event recorder they share; [`leader`]: leader election.
//!
//! A controller is `pub async fn run(ctx: Context, shutdown: CancellationToken)`, listed in
//! [`CONTROLLERS`]; they start once this server holds the `kube-controller-manager` lease.

pub mod certificate_approver;
pub mod certificate_signer;
pub mod disruption;
pub mod events;
pub mod garbage_collector;
pub mod leader;
pub mod namespace;
pub mod podautoscaler;
pub mod resourcequota;
pub mod root_ca;
pub mod serviceaccount;

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
    // Upstream's disruption controller records its events as `controllermanager`.
    ("controllermanager", |c, s| Box::pin(disruption::run(c, s))),
    ("resourcequota-controller", |c, s| {
        Box::pin(resourcequota::run(c, s))
    }),
    ("horizontal-pod-autoscaler", |c, s| {
        Box::pin(podautoscaler::run(c, s))
    }),
    ("csrapproving", |c, s| {
        Box::pin(certificate_approver::run(c, s))
    }),
    ("csrsigning", |c, s| Box::pin(certificate_signer::run(c, s))),
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
