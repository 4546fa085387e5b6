//! The Job controller: runs a Job's pods to completion as upstream's job controller does.
//!
//! - `completions` and `parallelism` (NonIndexed, or Indexed with one pod per completion
//!   index: [`pods`]); suspend and resume; `activeDeadlineSeconds`; `backoffLimit` with an
//!   exponential back-off before replacing failed pods; `podFailurePolicy`,
//!   `backoffLimitPerIndex`, `maxFailedIndexes` and `successPolicy` ([`policy`]).
//! - Job tracking with finalizers: each pod carries `batch.kubernetes.io/job-tracking`; a
//!   finished pod's uid is first recorded in `status.uncountedTerminatedPods`, then its
//!   finalizer removed, then it is moved into the `succeeded`/`failed` counters, so no pod
//!   is counted twice or lost, even across restarts ([`sync`]).
//! - Terminal conditions come in two steps: `SuccessCriteriaMet`/`FailureTarget` first,
//!   `Complete`/`Failed` once no pod is terminating; events `SuccessfulCreate`,
//!   `SuccessfulDelete`, `Completed`, `BackoffLimitExceeded`, `DeadlineExceeded`, …
//!
//! Every sync reads the Job and its pods fresh from the API server (in process, consistent
//! reads), so no expectations of in-flight creations are needed.

mod indexes;
mod pods;
mod policy;
mod sync;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::pod_conditions::controller_of;
use super::{Context, ReconcileError};
pub use pods::{COMPLETION_INDEX, TRACKING_FINALIZER};

/// The label every job's pods carry (the generated selector).
const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
/// `spec.managedBy` value of this controller.
const MANAGED_BY: &str = "kubernetes.io/job-controller";

/// What the syncs share: the context and the back-off records, by `namespace/name`.
pub(crate) struct Shared {
    pub ctx: Context,
    backoff: Mutex<HashMap<String, policy::Backoff>>,
}

impl Shared {
    fn backoff(&self, key: &str) -> policy::Backoff {
        let records = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
        records.get(key).copied().unwrap_or_default()
    }

    fn set_backoff(&self, key: &str, record: policy::Backoff) {
        let mut records = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
        records.insert(key.to_string(), record);
    }

    fn forget(&self, key: &str) {
        let mut records = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
        records.remove(key);
    }
}

/// Complete or Failed.
pub fn is_finished(job: &Job) -> bool {
    finished_condition(job).is_some()
}

/// `Complete` or `Failed`, whichever is true.
pub fn finished_condition(job: &Job) -> Option<&str> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        .map(|c| c.type_.as_str())
}

/// The pods the job controls (matching its selector, with it as controller).
async fn owned_pods(api: &Api<Pod>, job: &Job) -> Result<Vec<Pod>, ReconcileError> {
    let uid = job.metadata.uid.as_deref().unwrap_or_default();
    let selector = job
        .spec
        .as_ref()
        .and_then(|s| s.selector.clone())
        .map(kube::core::Selector::try_from)
        .transpose()
        .map_err(|e| ReconcileError::Request(format!("invalid job selector: {e}")))?
        .unwrap_or_default();
    let list = api
        .list(&kube::api::ListParams::default().labels_from(&selector))
        .await?;
    Ok(list
        .items
        .into_iter()
        .filter(|p| controller_of(&p.metadata).is_some_and(|r| r.uid == uid))
        .collect())
}

/// Removes the tracking finalizer from the pod; true if it is gone (or the pod is).
async fn release(api: &Api<Pod>, pod: &Pod) -> bool {
    let Some(at) = pod
        .metadata
        .finalizers
        .as_ref()
        .and_then(|f| f.iter().position(|f| f == TRACKING_FINALIZER))
    else {
        return true;
    };
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let patch: json_patch::Patch = match serde_json::from_value(serde_json::json!([
        {"op": "test", "path": format!("/metadata/finalizers/{at}"), "value": TRACKING_FINALIZER},
        {"op": "remove", "path": format!("/metadata/finalizers/{at}")},
    ])) {
        Ok(patch) => patch,
        Err(_) => return false,
    };
    match api
        .patch(name, &PatchParams::default(), &Patch::<()>::Json(patch))
        .await
    {
        Ok(_) => true,
        Err(kube::Error::Api(e)) if e.code == 404 => true,
        Err(error) => {
            debug!(%error, pod = name, "cannot remove the job tracking finalizer");
            false
        }
    }
}

async fn reconcile(object: Arc<Job>, shared: Arc<Shared>) -> Result<Action, ReconcileError> {
    let namespace = object.metadata.namespace.clone().unwrap_or_default();
    let name = object.metadata.name.clone().unwrap_or_default();
    let key = format!("{namespace}/{name}");
    let jobs: Api<Job> = Api::namespaced(shared.ctx.client.clone(), &namespace);
    let pods: Api<Pod> = Api::namespaced(shared.ctx.client.clone(), &namespace);
    let Some(job) = jobs.get_opt(&name).await? else {
        shared.forget(&key);
        return Ok(Action::await_change());
    };
    if is_finished(&job) {
        shared.forget(&key);
        for pod in owned_pods(&pods, &job).await? {
            release(&pods, &pod).await;
        }
        return Ok(Action::await_change());
    }
    let spec = job.spec.as_ref();
    if spec
        .and_then(|s| s.managed_by.as_deref())
        .is_some_and(|m| m != MANAGED_BY)
    {
        return Ok(Action::await_change());
    }
    if !matches!(
        spec.and_then(|s| s.completion_mode.as_deref()),
        None | Some("NonIndexed" | "Indexed")
    ) {
        let about = super::events::reference("batch/v1", "Job", &job.metadata);
        shared.ctx.events.warning(
            &about,
            "UnknownCompletionMode",
            "Skipped Job sync because completion mode is unknown",
        );
        return Ok(Action::await_change());
    }
    let owned = owned_pods(&pods, &job).await?;
    sync::JobSync::new(&shared, jobs, pods, job, owned, key)
        .run()
        .await
}

/// Waits until the Controller's job cache has its first list; false at `shutdown`.
///
/// kube-runtime's `Store::wait_until_ready` wakes only one of the tasks waiting on a store
/// (its one-shot channel keeps one waker), and the Controller waits on this store too: the
/// wait is polled again every 100 ms rather than trusted to wake (without that the orphan
/// release sometimes never started).
async fn wait_ready(jobs: &Store<Job>, shutdown: &CancellationToken) -> bool {
    loop {
        match tokio::time::timeout(Duration::from_millis(100), jobs.wait_until_ready()).await {
            Ok(ready) => return ready.is_ok(),
            Err(_) if shutdown.is_cancelled() => return false,
            Err(_) => {}
        }
    }
}

/// Removes the tracking finalizer from pods whose job is gone or finished, and from pods
/// orphaned by their job (the job's own syncs stop once it is deleted), as upstream's
/// `syncOrphanPod`.
async fn release_orphans(ctx: Context, jobs: Store<Job>, shutdown: CancellationToken) {
    let pods: Api<Pod> = Api::all(ctx.client.clone());
    if !wait_ready(&jobs, &shutdown).await {
        return;
    }
    let stream = watcher(
        pods.clone(),
        watcher::Config::default().labels(CONTROLLER_UID_LABEL),
    )
    .default_backoff()
    .applied_objects();
    let mut stream = std::pin::pin!(stream.take_until(shutdown.cancelled_owned()));
    while let Some(event) = stream.next().await {
        let pod = match event {
            Ok(pod) => pod,
            Err(error) => {
                warn!(%error, "job pod watch failed");
                continue;
            }
        };
        if !pods::has_finalizer(&pod) {
            continue;
        }
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let namespaced: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
        let owner = match controller_of(&pod.metadata) {
            // Orphaned (`--cascade=orphan`): nothing will count it any more.
            None => {
                release(&namespaced, &pod).await;
                continue;
            }
            Some(owner) if owner.kind == "Job" => owner,
            Some(_) => continue,
        };
        // A terminating pod is checked with the API server even when the cached job is
        // alive: the garbage collector deletes the pods of a deleted job, and this watch may
        // see that before the job cache sees the job go, with no later event to retry on.
        let cached = jobs.get(&ObjectRef::new(&owner.name).within(&namespace));
        if pod.metadata.deletion_timestamp.is_none()
            && cached
                .is_some_and(|j| j.metadata.uid.as_deref() == Some(&owner.uid) && !is_finished(&j))
        {
            continue;
        }
        // Confirm with a consistent read before letting the pod go.
        let api: Api<Job> = Api::namespaced(ctx.client.clone(), &namespace);
        let orphaned = match api.get_opt(&owner.name).await {
            Ok(None) => true,
            Ok(Some(job)) => job.metadata.uid.as_deref() != Some(&owner.uid) || is_finished(&job),
            Err(_) => false,
        };
        if orphaned {
            release(&namespaced, &pod).await;
        }
    }
}

/// Failed syncs (API errors, write conflicts) are retried after a second.
fn retry(_job: Arc<Job>, error: &ReconcileError, _shared: Arc<Shared>) -> Action {
    debug!(%error, "job sync failed; retrying in 1 s");
    Action::requeue(Duration::from_secs(1))
}

pub async fn run(ctx: Context, shutdown: CancellationToken) {
    let jobs: Api<Job> = Api::all(ctx.client.clone());
    let pods: Api<Pod> = Api::all(ctx.client.clone());
    let controller = Controller::new(jobs, watcher::Config::default()).owns(
        pods,
        watcher::Config::default().labels(CONTROLLER_UID_LABEL),
    );
    let orphans = tokio::spawn(release_orphans(
        ctx.clone(),
        controller.store(),
        shutdown.clone(),
    ));
    let shared = Arc::new(Shared {
        ctx,
        backoff: Mutex::new(HashMap::new()),
    });
    controller
        .graceful_shutdown_on(async move { shutdown.cancelled().await })
        .run(reconcile, retry, shared)
        .for_each(|_| async {})
        .await;
    let _ = orphans.await;
}
