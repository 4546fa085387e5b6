//! The controllers that run inside `kedge server`, each a client of the API server through
//! the in-process transport. One file per controller, each exposing `run`.
//!
//! - [`serviceaccount`]: the `default` ServiceAccount in every namespace;
//! - [`root_ca`]: the `kube-root-ca.crt` ConfigMap in every namespace;
//! - [`namespace`]: deleting a namespace's content, then the namespace;
//! - [`garbage_collector`]: owner references (background, foreground and orphan deletion);
//! - [`deployment`], [`replicaset`], [`replication_controller`], [`statefulset`],
//!   [`daemonset`]: the workloads (with [`deployment_util`] and [`daemon_pods`]), sharing
//!   [`controller_ref`] (ownership), [`pod_control`] (pod states, creating and deleting pods)
//!   and [`history`] (ControllerRevisions, hashes);
//! - [`disruption`]: PodDisruptionBudget status;
//! - [`resourcequota`]: ResourceQuota usage;
//! - [`podautoscaler`]: HorizontalPodAutoscaler status and replica bounds;
//! - [`certificate_approver`], [`certificate_signer`]: CSR approval and signing;
//! - [`job`], [`cronjob`], [`ttl_after_finished`]: batch workloads;
//! - [`pod_gc`]: terminated, orphaned and unscheduled terminating pods;
//! - [`node_ipam`], [`node_lifecycle`], [`taint_eviction`]: nodes' pod CIDRs, health and
//!   taints, and eviction from NoExecute-tainted nodes;
//! - [`endpoints`], [`endpointslice`]: the addresses behind each Service;
//!   [`endpointslice_mirroring`]: hand-written Endpoints of selectorless Services as slices;
//! - [`events`]: the event recorder they share; [`leader`]: leader election;
//!   [`pod_conditions`]: what they read from pods; [`pod_events`]: the pod watch they share.
//!
//! A controller is `pub async fn run(ctx: Context, shutdown: CancellationToken)`, listed in
//! [`CONTROLLERS`]; they start once this server holds the `kube-controller-manager` lease.

pub mod certificate_approver;
pub mod certificate_signer;
pub mod controller_ref;
pub mod cronjob;
pub mod daemon_pods;
pub mod daemonset;
pub mod deployment;
pub mod deployment_util;
pub mod disruption;
pub mod endpoints;
pub mod endpointslice;
pub mod endpointslice_mirroring;
pub mod events;
pub mod garbage_collector;
pub mod history;
pub mod job;
pub mod leader;
pub mod namespace;
pub mod node_ipam;
pub mod node_lifecycle;
pub mod pod_conditions;
pub mod pod_control;
pub mod pod_events;
pub mod pod_gc;
pub mod podautoscaler;
pub mod replicaset;
pub mod replication_controller;
pub mod resourcequota;
pub mod root_ca;
pub mod serviceaccount;
pub mod statefulset;
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
    /// The pod watch the controllers share.
    pub pods: pod_events::PodEvents,
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
    ("deployment-controller", |c, s| {
        Box::pin(deployment::run(c, s))
    }),
    ("replicaset-controller", |c, s| {
        Box::pin(replicaset::run(c, s))
    }),
    ("replication-controller", |c, s| {
        Box::pin(replication_controller::run(c, s))
    }),
    ("statefulset-controller", |c, s| {
        Box::pin(statefulset::run(c, s))
    }),
    ("daemonset-controller", |c, s| {
        Box::pin(daemonset::run(c, s))
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
    ("endpointslicemirroring-controller", |c, s| {
        Box::pin(endpointslice_mirroring::run(c, s))
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
        if leading.is_cancelled() {
            return;
        }
        let base = Context {
            events: events::Recorder::new(&api, "kube-controller-manager"),
            api: api.clone(),
            client: client.clone(),
            pods: pod_events::PodEvents::default(),
        };
        let mut tasks = vec![tokio::spawn(events::expire(
            api.clone(),
            leading.child_token(),
        ))];
        for (component, run) in CONTROLLERS {
            let ctx = base.for_component(component);
            tasks.push(tokio::spawn(ctx.events.clone().run(leading.child_token())));
            let work = run(ctx, leading.child_token());
            tasks.push(tokio::spawn(stop_with_grace(work, leading.clone())));
        }
        // Every controller has subscribed (as it was set up): the shared watch may begin.
        tasks.push(base.pods.start(client, leading.child_token()));
        for task in tasks {
            let _ = task.await;
        }
    })
}

/// How long a controller may take to finish its reconciles once told to stop.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// Runs `work` until it ends, or until [`STOP_GRACE`] after `stop`. kube-runtime's graceful
/// shutdown waits for requeued objects too, which can be forever for a periodic requeue.
async fn stop_with_grace(work: impl Future<Output = ()>, stop: CancellationToken) {
    tokio::pin!(work);
    tokio::select! {
        () = &mut work => return,
        () = stop.cancelled() => {}
    }
    let _ = tokio::time::timeout(STOP_GRACE, work).await;
}
