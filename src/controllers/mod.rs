//! The controllers that run inside `kedge server`, each a client of the API server through
//! the in-process transport. One file per controller, each exposing `run`.
//!
//! - [`serviceaccount`]: the `default` ServiceAccount in every namespace;
//! - [`root_ca`]: the `kube-root-ca.crt` ConfigMap in every namespace;
//! - [`namespace`]: deleting a namespace's content, then the namespace;
//! - [`garbage_collector`]: owner references (background, foreground and orphan deletion).

pub mod garbage_collector;
pub mod namespace;
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

/// Starts every controller; they stop at `shutdown`.
pub fn start(
    api: &Arc<ApiState>,
    shutdown: &CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    let ctx = Context {
        api: api.clone(),
        client: crate::api::local::client(api, "kube-controller-manager"),
    };
    vec![
        tokio::spawn(serviceaccount::run(ctx.clone(), shutdown.child_token())),
        tokio::spawn(root_ca::run(ctx.clone(), shutdown.child_token())),
        tokio::spawn(namespace::run(ctx.clone(), shutdown.child_token())),
        tokio::spawn(garbage_collector::run(ctx, shutdown.child_token())),
    ]
}
