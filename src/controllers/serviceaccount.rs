//! The `default` ServiceAccount of every active namespace, recreated if deleted.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use tokio_util::sync::CancellationToken;

use super::{Context, ReconcileError, retry_later};

async fn reconcile(namespace: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let name = namespace.metadata.name.clone().unwrap_or_default();
    if namespace.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let api: Api<ServiceAccount> = Api::namespaced(ctx.client.clone(), &name);
    if api.get_opt("default").await?.is_none() {
        let account = ServiceAccount {
            metadata: ObjectMeta {
                name: Some("default".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        match api.create(&PostParams::default(), &account).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 || e.code == 403 || e.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Action::await_change())
}

pub async fn run(ctx: Context, shutdown: CancellationToken) {
    let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
    let accounts: Api<ServiceAccount> = Api::all(ctx.client.clone());
    Controller::new(namespaces, watcher::Config::default())
        .watches(
            accounts,
            watcher::Config::default().fields("metadata.name=default"),
            |sa| sa.metadata.namespace.map(|ns| ObjectRef::new(&ns)),
        )
        .graceful_shutdown_on(async move { shutdown.cancelled().await })
        .run(reconcile, retry_later, Arc::new(ctx))
        .for_each(|_| async {})
        .await;
}
