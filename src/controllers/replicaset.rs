//! The ReplicaSet controller: keeps `spec.replicas` active pods made from the template,
//! creating them in slow-start batches and deleting surplus pods in upstream's order; adopts
//! orphans its selector matches and releases pods that stop matching; reports `replicas`,
//! `fullyLabeledReplicas`, `readyReplicas`, `availableReplicas` (ready for
//! `minReadySeconds`), `terminatingReplicas` and the `ReplicaFailure` condition.
//!
//! [`sync`] is shared with the ReplicationController controller, which upstream also runs
//! as a ReplicaSet controller over converted objects.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use tokio_util::sync::CancellationToken;

use super::controller_ref::{self, Owner};
use super::pod_control::{self, BURST_REPLICAS};
use super::{Context, ReconcileError, retry_later};
use crate::api::selector::LabelSelector;

/// What a replicated workload asks for.
pub struct Replicated<'a> {
    pub owner: Owner,
    /// `None` when the selector cannot be parsed: nothing is selected.
    pub selector: Option<LabelSelector>,
    pub replicas: i32,
    pub min_ready_seconds: i32,
    pub template: Option<&'a PodTemplateSpec>,
    /// The uid of the workload's own controller (a ReplicaSet's Deployment), whose other
    /// ReplicaSets' pods count when choosing which pods to delete.
    pub controller_uid: Option<String>,
}

/// What one sync found and did.
#[derive(Debug, Default)]
pub struct Synced {
    pub replicas: i32,
    pub fully_labeled: i32,
    pub ready: i32,
    pub available: i32,
    pub terminating: i32,
    /// The `ReplicaFailure` condition's reason and message, when creating or deleting failed.
    pub failure: Option<(String, String)>,
    /// When to look again (a pod becoming available after `minReadySeconds`).
    pub requeue: Option<Duration>,
}

/// Claims the workload's pods, creates or deletes pods towards `replicas` (unless the
/// workload is being deleted), and counts them.
///
/// # Errors
/// When the cache is stale or claiming fails; failed creates and deletes are reported in
/// [`Synced::failure`] instead.
pub async fn sync(ctx: &Context, target: &Replicated<'_>) -> Result<Synced, ReconcileError> {
    let owner = &target.owner;
    let Some(selector) = &target.selector else {
        return Ok(Synced::default());
    };
    let namespace = owner.namespace.as_str();
    let all: Vec<Pod> = controller_ref::cached(ctx, Some(namespace), |o| {
        controller_ref::may_belong(o, &owner.uid, selector)
    });
    let matches = |p: &Pod| selector.matches(&p.metadata.labels.clone().unwrap_or_default());
    let terminating = all
        .iter()
        .filter(|p| pod_control::is_terminating(p) && !pod_control::is_terminal(p))
        .filter(|p| controller_ref::is_controlled_by(&p.metadata, &owner.uid) && matches(p))
        .count();
    let active: Vec<Pod> = all.into_iter().filter(pod_control::is_active).collect();
    let pods = controller_ref::claim(ctx, owner, active, matches).await?;

    let mut failure = None;
    if !owner.deleting {
        let have = pods.len();
        let want = usize::try_from(target.replicas.max(0)).unwrap_or(0);
        if have < want {
            let count = (want - have).min(BURST_REPLICAS);
            if let Some(template) = target.template {
                let prefix = pod_control::pods_prefix(&owner.name);
                let reference = owner.controller_ref();
                let new: Vec<Pod> = (0..count)
                    .map(|_| pod_control::pod_from_template(template, &prefix, &reference))
                    .collect();
                let (_, error) = pod_control::create_pods(ctx, owner, new).await;
                failure = error.map(|e| ("FailedCreate".to_string(), e));
            }
        } else if have > want {
            let count = (have - want).min(BURST_REPLICAS);
            let related = related_pods(ctx, target, &pods);
            let related_refs: Vec<&Pod> = related.iter().collect();
            let doomed = pod_control::pods_to_delete(&pods, &related_refs, count);
            let error = pod_control::delete_pods(ctx, owner, &doomed).await;
            failure = error.map(|e| ("FailedDelete".to_string(), e));
        }
    }

    let now = pod_control::now();
    let template_labels = target
        .template
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.as_ref());
    let mut synced = Synced {
        replicas: count(pods.len()),
        terminating: count(terminating),
        failure,
        ..Default::default()
    };
    let mut soonest: Option<u64> = None;
    for pod in &pods {
        if pod_control::has_template_labels(pod.metadata.labels.as_ref(), template_labels) {
            synced.fully_labeled += 1;
        }
        if pod_control::is_ready(pod) {
            synced.ready += 1;
            if pod_control::is_available(pod, target.min_ready_seconds, now) {
                synced.available += 1;
            } else if let Some(wait) =
                pod_control::seconds_until_available(pod, target.min_ready_seconds, now)
            {
                soonest = Some(soonest.map_or(wait, |s| s.min(wait)));
            }
        }
    }
    synced.requeue = soonest.map(Duration::from_secs);
    Ok(synced)
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The pods of every ReplicaSet sharing this one's controller (or just its own pods).
fn related_pods(ctx: &Context, target: &Replicated<'_>, own: &[Pod]) -> Vec<Pod> {
    let Some(controller) = &target.controller_uid else {
        return own.to_vec();
    };
    let namespace = target.owner.namespace.as_str();
    let siblings: Vec<String> = controller_ref::cached::<ReplicaSet>(ctx, Some(namespace), |o| {
        o.json
            .windows(controller.len())
            .any(|w| w == controller.as_bytes())
    })
    .into_iter()
    .filter(|rs| controller_ref::is_controlled_by(&rs.metadata, controller))
    .filter_map(|rs| rs.metadata.uid)
    .collect();
    controller_ref::cached::<Pod>(ctx, Some(namespace), |o| {
        siblings
            .iter()
            .any(|uid| o.json.windows(uid.len()).any(|w| w == uid.as_bytes()))
    })
    .into_iter()
    .filter(|p| {
        controller_ref::controller_of(&p.metadata).is_some_and(|r| siblings.contains(&r.uid))
    })
    .collect()
}

/// The `ReplicaFailure` condition after a sync: set (once) on failure, removed on success.
pub fn failure_condition<C: Clone>(
    current: Option<&C>,
    failure: &Option<(String, String)>,
    make: impl Fn(&str, &str) -> C,
) -> Option<C> {
    match (current, failure) {
        (Some(existing), Some(_)) => Some(existing.clone()),
        (None, Some((reason, message))) => Some(make(reason, message)),
        (_, None) => None,
    }
}

async fn reconcile(object: Arc<ReplicaSet>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    controller_ref::wait_fresh(&ctx).await?;
    let namespace = object.metadata.namespace.clone().unwrap_or_default();
    let name = object.metadata.name.clone().unwrap_or_default();
    // The newest state, not the controller's possibly older copy.
    let Some(rs) = controller_ref::cached_one::<ReplicaSet>(&ctx, Some(&namespace), &name) else {
        return Ok(Action::await_change());
    };
    let Some(spec) = &rs.spec else {
        return Ok(Action::await_change());
    };
    let target = Replicated {
        owner: Owner::new("apps/v1", "ReplicaSet", &rs.metadata),
        selector: controller_ref::selector(&spec.selector),
        replicas: spec.replicas.unwrap_or(1),
        min_ready_seconds: spec.min_ready_seconds.unwrap_or(0),
        template: spec.template.as_ref(),
        controller_uid: controller_ref::controller_of(&rs.metadata).map(|r| r.uid.clone()),
    };
    let synced = sync(&ctx, &target).await?;
    let old = rs.status.clone().unwrap_or_default();
    let current_failure = old
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "ReplicaFailure");
    let failure = failure_condition(current_failure, &synced.failure, |reason, message| {
        ReplicaSetCondition {
            type_: "ReplicaFailure".into(),
            status: "True".into(),
            reason: Some(reason.into()),
            message: Some(message.into()),
            last_transition_time: Some(Time(jiff::Timestamp::now())),
        }
    });
    let mut conditions: Vec<ReplicaSetCondition> = old
        .conditions
        .iter()
        .flatten()
        .filter(|c| c.type_ != "ReplicaFailure")
        .cloned()
        .collect();
    conditions.extend(failure);
    let status = ReplicaSetStatus {
        replicas: synced.replicas,
        fully_labeled_replicas: Some(synced.fully_labeled),
        ready_replicas: Some(synced.ready),
        available_replicas: Some(synced.available),
        terminating_replicas: Some(synced.terminating),
        observed_generation: rs.metadata.generation,
        conditions: (!conditions.is_empty()).then_some(conditions),
    };
    let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &namespace);
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
        let sets: Api<ReplicaSet> = Api::all(ctx.client.clone());
        let lookup = ctx.clone();
        Controller::new(sets, watcher::Config::default())
            .watches_shared_stream(pods, move |pod: Arc<Pod>| {
                controller_ref::owners_to_sync(&lookup, &pod.metadata, |rs: &ReplicaSet, labels| {
                    rs.spec
                        .as_ref()
                        .and_then(|s| controller_ref::selector(&s.selector))
                        .is_some_and(|s| s.matches(labels))
                })
            })
            .graceful_shutdown_on(async move { shutdown.cancelled().await })
            .run(reconcile, retry_later, Arc::new(ctx))
            .for_each(|_| async {})
            .await;
    }
}
