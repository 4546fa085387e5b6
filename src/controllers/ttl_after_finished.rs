//! TTL after finished: a Job with `spec.ttlSecondsAfterFinished` is deleted (in the
//! foreground, so its pods go first) that many seconds after it completed or failed. The
//! finish time is the `lastTransitionTime` of its `Complete` or `Failed` condition; a sync
//! sleeps until the expiry instead of polling.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, DeleteParams, Preconditions};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::{Context, ReconcileError, retry_later};

/// When the job finished, if it has.
fn finished_at(job: &Job) -> Option<Timestamp> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        .map(|c| {
            c.last_transition_time
                .as_ref()
                .map_or_else(Timestamp::now, |t| t.0)
        })
}

/// How long until the job expires (zero: now), or None if it never does.
fn time_left(job: &Job, now: Timestamp) -> Option<Duration> {
    if job.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let ttl = i64::from(job.spec.as_ref()?.ttl_seconds_after_finished?);
    let finished = finished_at(job)?;
    let left = finished.as_second() + ttl - now.as_second();
    Some(Duration::from_secs(left.max(0) as u64))
}

async fn reconcile(object: Arc<Job>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let Some(left) = time_left(&object, Timestamp::now()) else {
        return Ok(Action::await_change());
    };
    if !left.is_zero() {
        return Ok(Action::requeue(left + Duration::from_millis(100)));
    }
    let namespace = object.metadata.namespace.clone().unwrap_or_default();
    let name = object.metadata.name.clone().unwrap_or_default();
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &namespace);
    // Check again on a fresh read: the TTL may have been changed.
    let Some(fresh) = jobs.get_opt(&name).await? else {
        return Ok(Action::await_change());
    };
    match time_left(&fresh, Timestamp::now()) {
        None => return Ok(Action::await_change()),
        Some(left) if !left.is_zero() => return Ok(Action::requeue(left)),
        Some(_) => {}
    }
    let options = DeleteParams {
        propagation_policy: Some(kube::api::PropagationPolicy::Foreground),
        preconditions: Some(Preconditions {
            uid: fresh.metadata.uid.clone(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match jobs.delete(&name, &options).await {
        Ok(_) => info!(job = %format!("{namespace}/{name}"), "deleted finished job past its TTL"),
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
        Err(error) => return Err(error.into()),
    }
    Ok(Action::await_change())
}

pub async fn run(ctx: Context, shutdown: CancellationToken) {
    let jobs: Api<Job> = Api::all(ctx.client.clone());
    Controller::new(jobs, watcher::Config::default())
        .graceful_shutdown_on(async move { shutdown.cancelled().await })
        .run(reconcile, retry_later, Arc::new(ctx))
        .for_each(|_| async {})
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expiry_counts_from_the_terminal_condition() {
        let job: Job = serde_json::from_value(json!({
            "metadata": {"name": "j"},
            "spec": {"ttlSecondsAfterFinished": 100, "template": {}},
            "status": {"conditions": [{"type": "Complete", "status": "True",
                "lastTransitionTime": "2024-01-01T00:00:00Z"}]}
        }))
        .unwrap();
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(
            time_left(&job, at("2024-01-01T00:00:30Z")),
            Some(Duration::from_secs(70))
        );
        assert_eq!(
            time_left(&job, at("2024-01-01T00:05:00Z")),
            Some(Duration::ZERO)
        );
        let mut running = job.clone();
        running.status = None;
        assert_eq!(time_left(&running, at("2024-01-01T00:05:00Z")), None);
    }
}
