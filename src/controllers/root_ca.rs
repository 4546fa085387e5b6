//! The `kube-root-ca.crt` ConfigMap of every active namespace: the cluster CA that pods use
//! to verify the API server, kept equal to the server's CA bundle.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use tokio_util::sync::CancellationToken;

use super::{Context, ReconcileError, retry_later};

pub const NAME: &str = "kube-root-ca.crt";
const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

async fn reconcile(namespace: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let name = namespace.metadata.name.clone().unwrap_or_default();
    if namespace.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &name);
    let ca = ctx.api.pki.server_ca.cert_pem.clone();
    let data = BTreeMap::from([("ca.crt".to_string(), ca)]);
    let annotations = BTreeMap::from([(
        "kubernetes.io/description".to_string(),
        DESCRIPTION.to_string(),
    )]);
    let result = match api.get_opt(NAME).await? {
        Some(existing) if existing.data.as_ref() == Some(&data) => {
            return Ok(Action::await_change());
        }
        Some(mut existing) => {
            existing.data = Some(data);
            existing
                .metadata
                .annotations
                .get_or_insert_with(Default::default)
                .extend(annotations);
            api.replace(NAME, &PostParams::default(), &existing)
                .await
                .map(|_| ())
        }
        None => {
            let map = ConfigMap {
                metadata: ObjectMeta {
                    name: Some(NAME.into()),
                    annotations: Some(annotations),
                    ..Default::default()
                },
                data: Some(data),
                ..Default::default()
            };
            api.create(&PostParams::default(), &map).await.map(|_| ())
        }
    };
    match result {
        Ok(()) => Ok(Action::await_change()),
        // Racing with our own earlier write, or the namespace started terminating.
        Err(kube::Error::Api(e)) if e.code == 409 || e.code == 403 || e.code == 404 => {
            Ok(Action::requeue(std::time::Duration::from_secs(1)))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn run(ctx: Context, shutdown: CancellationToken) {
    let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
    let maps: Api<ConfigMap> = Api::all(ctx.client.clone());
    Controller::new(namespaces, watcher::Config::default())
        .watches(
            maps,
            watcher::Config::default().fields(&format!("metadata.name={NAME}")),
            |cm| cm.metadata.namespace.map(|ns| ObjectRef::new(&ns)),
        )
        .graceful_shutdown_on(async move { shutdown.cancelled().await })
        .run(reconcile, retry_later, Arc::new(ctx))
        .for_each(|_| async {})
        .await;
}
