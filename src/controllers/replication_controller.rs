//! The ReplicationController controller: a ReplicaSet with an equality-based selector (a
//! label map), run through the ReplicaSet controller's [`sync`](super::replicaset::sync) as
//! upstream does, with its status written back in `v1` form.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{
    Pod, ReplicationController, ReplicationControllerCondition, ReplicationControllerStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::controller_ref::{self, Owner};
use super::replicaset::{self, Replicated};
use super::{Context, ReconcileError, retry_later};
use crate::api::selector::LabelSelector;

/// The selector of a ReplicationController: its map, or its template's labels.
fn selector(rc: &ReplicationController) -> Option<LabelSelector> {
    let spec = rc.spec.as_ref()?;
    let labels = spec.selector.clone().or_else(|| {
        spec.template
            .as_ref()
            .and_then(|t| t.metadata.as_ref())
            .and_then(|m| m.labels.clone())
    })?;
    if labels.is_empty() {
        return None;
    }
    LabelSelector::from_object(&json!({ "matchLabels": labels })).ok()
}

async fn reconcile(
    object: Arc<ReplicationController>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    controller_ref::wait_fresh(&ctx).await?;
    let namespace = object.metadata.namespace.clone().unwrap_or_default();
    let name = object.metadata.name.clone().unwrap_or_default();
    let Some(rc) =
        controller_ref::cached_one::<ReplicationController>(&ctx, Some(&namespace), &name)
    else {
        return Ok(Action::await_change());
    };
    let Some(spec) = &rc.spec else {
        return Ok(Action::await_change());
    };
    let target = Replicated {
        owner: Owner::new("v1", "ReplicationController", &rc.metadata),
        selector: selector(&rc),
        replicas: spec.replicas.unwrap_or(1),
        min_ready_seconds: spec.min_ready_seconds.unwrap_or(0),
        template: spec.template.as_ref(),
        controller_uid: None,
    };
    let synced = replicaset::sync(&ctx, &target).await?;
    let old = rc.status.clone().unwrap_or_default();
    let current_failure = old
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "ReplicaFailure");
    let failure =
        replicaset::failure_condition(current_failure, &synced.failure, |reason, message| {
            ReplicationControllerCondition {
                type_: "ReplicaFailure".into(),
                status: "True".into(),
                reason: Some(reason.into()),
                message: Some(message.into()),
                last_transition_time: Some(Time(jiff::Timestamp::now())),
            }
        });
    let mut conditions: Vec<ReplicationControllerCondition> = old
        .conditions
        .iter()
        .flatten()
        .filter(|c| c.type_ != "ReplicaFailure")
        .cloned()
        .collect();
    conditions.extend(failure);
    let status = ReplicationControllerStatus {
        replicas: synced.replicas,
        fully_labeled_replicas: Some(synced.fully_labeled),
        ready_replicas: Some(synced.ready),
        available_replicas: Some(synced.available),
        observed_generation: rc.metadata.generation,
        conditions: (!conditions.is_empty()).then_some(conditions),
    };
    let api: Api<ReplicationController> = Api::namespaced(ctx.client.clone(), &namespace);
    controller_ref::write_status(&api, &name, &old, &status).await?;
    if synced.failure.is_some() {
        return Ok(Action::requeue(Duration::from_secs(5)));
    }
    Ok(synced
        .requeue
        .map_or_else(Action::await_change, Action::requeue))
}

/// The controller; it subscribes to the shared pod events at once, the rest runs when
/// polled.
pub fn run(ctx: Context, shutdown: CancellationToken) -> impl Future<Output = ()> + Send + 'static {
    let pods = ctx.pods.subscribe();
    async move {
        let controllers: Api<ReplicationController> = Api::all(ctx.client.clone());
        let lookup = ctx.clone();
        Controller::new(controllers, watcher::Config::default())
            .watches_shared_stream(pods, move |pod: Arc<Pod>| {
                controller_ref::owners_to_sync(
                    &lookup,
                    &pod.metadata,
                    |rc: &ReplicationController, labels| {
                        selector(rc).is_some_and(|s| s.matches(labels))
                    },
                )
            })
            .graceful_shutdown_on(async move { shutdown.cancelled().await })
            .run(reconcile, retry_later, Arc::new(ctx))
            .for_each(|_| async {})
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_selector_defaults_to_the_template_labels() {
        let rc: ReplicationController = serde_json::from_value(json!({
            "metadata": {"name": "rc"},
            "spec": {"template": {"metadata": {"labels": {"app": "x"}}}},
        }))
        .unwrap();
        let s = selector(&rc).unwrap();
        assert!(s.matches(&[("app".to_string(), "x".to_string())].into()));
        assert!(!s.matches(&Default::default()));
    }
}
