//! The CronJob controller: creates a Job at each scheduled time ([`schedule`]), named
//! `<cronjob>-<scheduled time in minutes since the epoch>` so a time is never run twice;
//! `concurrencyPolicy` Allow/Forbid/Replace, `startingDeadlineSeconds`, `suspend`,
//! `spec.timeZone`, the successful and failed history limits, and `status.active`,
//! `lastScheduleTime` and `lastSuccessfulTime`, with upstream's events.
//!
//! A sync ends by asking to run again just after the next scheduled time, so the
//! controller sleeps between activations instead of polling.

pub mod schedule;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use super::job::finished_condition;
use super::pod_conditions::{controller_of, controller_ref};
use super::{Context, ReconcileError, events, retry_later};
use schedule::{Missed, Schedule};

/// The annotation on a created Job holding its scheduled time.
pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
/// A sync runs this long after the scheduled time it waits for.
const AFTER_SCHEDULE: Duration = Duration::from_millis(100);

/// The Job name for a scheduled time.
pub fn job_name(cronjob: &str, scheduled: Timestamp) -> String {
    format!("{cronjob}-{}", scheduled.as_second().div_euclid(60))
}

/// Go's `time.RFC3339` of the time in `zone` (`Z` for a zero offset).
fn rfc3339_in(time: Timestamp, zone: &jiff::tz::TimeZone) -> String {
    let zoned = time.to_zoned(zone.clone());
    if zoned.offset().seconds() == 0 {
        zoned.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        zoned.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }
}

/// Go's `time.RFC1123Z` in UTC, as upstream writes missed times.
fn rfc1123z(time: Timestamp) -> String {
    time.to_zoned(jiff::tz::TimeZone::UTC)
        .strftime("%a, %d %b %Y %H:%M:%S %z")
        .to_string()
}

fn reference(job: &Job) -> ObjectReference {
    events::reference("batch/v1", "Job", &job.metadata)
}

fn in_active(status: &CronJobStatus, uid: &str) -> bool {
    status
        .active
        .iter()
        .flatten()
        .any(|r| r.uid.as_deref() == Some(uid))
}

fn remove_active(status: &mut CronJobStatus, uid: &str) {
    if let Some(active) = status.active.as_mut() {
        active.retain(|r| r.uid.as_deref() != Some(uid));
    }
}

/// One sync of one CronJob.
struct CronSync<'a> {
    ctx: &'a Context,
    cronjob: CronJob,
    status: CronJobStatus,
    jobs: Api<Job>,
    about: ObjectReference,
    now: Timestamp,
}

impl CronSync<'_> {
    fn name(&self) -> &str {
        self.cronjob.metadata.name.as_deref().unwrap_or_default()
    }

    fn warning(&self, reason: &str, message: &str) {
        self.ctx.events.warning(&self.about, reason, message);
    }

    fn normal(&self, reason: &str, message: &str) {
        self.ctx.events.normal(&self.about, reason, message);
    }

    /// Follows the children: finished ones leave `active`, missing ones too.
    async fn follow_children(&mut self, children: &[Job]) -> Result<(), ReconcileError> {
        for job in children {
            let uid = job.metadata.uid.as_deref().unwrap_or_default();
            let job_name = job.metadata.name.as_deref().unwrap_or_default();
            let found = in_active(&self.status, uid);
            let finished = finished_condition(job);
            match (found, finished) {
                (false, None) => self.warning(
                    "UnexpectedJob",
                    &format!("Saw a job that the controller did not create or forgot: {job_name}"),
                ),
                (true, Some(condition)) => {
                    remove_active(&mut self.status, uid);
                    self.normal(
                        "SawCompletedJob",
                        &format!("Saw completed job: {job_name}, condition: {condition}"),
                    );
                }
                _ => {}
            }
            if finished == Some("Complete")
                && let Some(done) = job.status.as_ref().and_then(|s| s.completion_time.clone())
                && self
                    .status
                    .last_successful_time
                    .as_ref()
                    .is_none_or(|last| done.0 > last.0)
            {
                self.status.last_successful_time = Some(done);
            }
        }
        let known: Vec<&str> = children
            .iter()
            .filter_map(|j| j.metadata.uid.as_deref())
            .collect();
        for reference in self.status.active.clone().unwrap_or_default() {
            let uid = reference.uid.clone().unwrap_or_default();
            if known.contains(&uid.as_str()) {
                continue;
            }
            let job_name = reference.name.clone().unwrap_or_default();
            if self.jobs.get_opt(&job_name).await?.is_none() {
                self.normal(
                    "MissingJob",
                    &format!("Active job went missing: {job_name}"),
                );
                remove_active(&mut self.status, &uid);
            }
        }
        Ok(())
    }

    /// The schedule, with the spec's time zone applied, or why there is none.
    fn schedule(&self) -> Option<(Schedule, jiff::tz::TimeZone)> {
        let spec = self.cronjob.spec.as_ref()?;
        let mut zone = jiff::tz::TimeZone::UTC;
        let mut text = spec.schedule.clone();
        if spec.schedule.contains("TZ") {
            self.warning(
                "UnsupportedSchedule",
                &format!(
                    "CRON_TZ or TZ used in schedule {:?} is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details",
                    spec.schedule
                ),
            );
        } else if let Some(name) = &spec.time_zone {
            match schedule::zone(name) {
                Ok(found) => {
                    zone = found;
                    text = format!("TZ={name} {}", spec.schedule);
                }
                Err(error) => {
                    self.warning(
                        "UnknownTimeZone",
                        &format!("invalid timeZone: {name:?}: {error}"),
                    );
                    return None;
                }
            }
        }
        match Schedule::parse(&text) {
            Ok(parsed) => Some((parsed, zone)),
            Err(error) => {
                self.warning(
                    "UnparseableSchedule",
                    &format!("unparseable schedule: {:?} : {error}", spec.schedule),
                );
                None
            }
        }
    }

    fn earliest(&self) -> Timestamp {
        self.status
            .last_schedule_time
            .as_ref()
            .or(self.cronjob.metadata.creation_timestamp.as_ref())
            .map_or(self.now, |t| t.0)
    }

    /// How long until just after the next activation.
    fn next_delay(&self, schedule: &Schedule) -> Duration {
        let earliest = self.earliest();
        let base = match schedule::most_recent(schedule, earliest, self.now) {
            Err(_) => self.now,
            Ok((Some(latest), _)) => latest,
            Ok((None, Missed::None)) => earliest,
            Ok((None, _)) => self.now,
        };
        let next = schedule.next(base).unwrap_or(self.now);
        let wait = Duration::try_from(next.duration_since(self.now)).unwrap_or(Duration::ZERO);
        wait + AFTER_SCHEDULE
    }

    /// Starts the Job due now, if any; returns when to sync again.
    async fn start_due(&mut self) -> Result<Option<Duration>, ReconcileError> {
        let Some(spec) = self.cronjob.spec.clone() else {
            return Ok(None);
        };
        if spec.suspend == Some(true) {
            debug!(cronjob = self.name(), "suspended");
            return Ok(None);
        }
        let Some((schedule, zone)) = self.schedule() else {
            return Ok(None);
        };
        let mut earliest = self.earliest();
        if let Some(deadline) = spec.starting_deadline_seconds {
            earliest = earliest
                .max(Timestamp::from_second(self.now.as_second() - deadline).unwrap_or(earliest));
        }
        let scheduled = match schedule::most_recent(&schedule, earliest, self.now) {
            Err(error) => {
                self.warning(
                    "InvalidSchedule",
                    &format!("invalid schedule: {} : {error}", spec.schedule),
                );
                return Ok(None);
            }
            Ok((latest, missed)) => {
                if missed == Missed::Many {
                    self.warning(
                        "TooManyMissedTimes",
                        "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew",
                    );
                }
                match latest {
                    Some(t) => t,
                    None => return Ok(Some(self.next_delay(&schedule))),
                }
            }
        };
        if let Some(deadline) = spec.starting_deadline_seconds
            && scheduled.as_second() + deadline < self.now.as_second()
        {
            self.warning(
                "MissSchedule",
                &format!(
                    "Missed scheduled time to start a job: {}",
                    rfc1123z(scheduled)
                ),
            );
            return Ok(Some(self.next_delay(&schedule)));
        }
        let name = job_name(self.name(), scheduled);
        let processed = self
            .status
            .active
            .iter()
            .flatten()
            .any(|r| r.name.as_deref() == Some(&name))
            || self
                .status
                .last_schedule_time
                .as_ref()
                .is_some_and(|t| t.0 == scheduled);
        if processed {
            return Ok(Some(self.next_delay(&schedule)));
        }
        let policy = spec.concurrency_policy.as_deref().unwrap_or("Allow");
        let active = self.status.active.clone().unwrap_or_default();
        if policy == "Forbid" && !active.is_empty() {
            self.normal(
                "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy is Forbid",
            );
            return Ok(Some(self.next_delay(&schedule)));
        }
        if policy == "Replace" {
            for reference in &active {
                let job_name = reference.name.clone().unwrap_or_default();
                match self.jobs.get_opt(&job_name).await {
                    Ok(Some(job)) => self.delete_job(&job).await?,
                    Ok(None) => {}
                    Err(error) => {
                        self.warning("FailedGet", &format!("Get job: {error}"));
                        return Err(error.into());
                    }
                }
            }
        }
        let job = self.job_for(&name, scheduled, &zone);
        let created = match self.jobs.create(&PostParams::default(), &job).await {
            Ok(created) => {
                self.normal("SuccessfulCreate", &format!("Created job {name}"));
                info!(cronjob = self.name(), job = %name, "created job");
                created
            }
            Err(kube::Error::Api(e)) if e.code == 409 => {
                let Some(existing) = self.jobs.get_opt(&name).await? else {
                    return Ok(Some(Duration::from_secs(1)));
                };
                let ours = controller_of(&existing.metadata)
                    .is_some_and(|r| Some(&r.uid) == self.cronjob.metadata.uid.as_ref());
                let uid = existing.metadata.uid.clone().unwrap_or_default();
                if !ours || in_active(&self.status, &uid) {
                    return Ok(None);
                }
                existing
            }
            Err(kube::Error::Api(e)) if e.message.contains("being terminated") => {
                return Err(ReconcileError::Api(kube::Error::Api(e)));
            }
            Err(error) => {
                self.warning("FailedCreate", &format!("Error creating job: {error}"));
                return Err(error.into());
            }
        };
        self.status
            .active
            .get_or_insert_with(Vec::new)
            .push(reference(&created));
        self.status.last_schedule_time = Some(Time(scheduled));
        Ok(Some(self.next_delay(&schedule)))
    }

    /// The Job for `scheduled` from the template.
    fn job_for(&self, name: &str, scheduled: Timestamp, zone: &jiff::tz::TimeZone) -> Job {
        let template = self
            .cronjob
            .spec
            .as_ref()
            .map(|s| s.job_template.clone())
            .unwrap_or_default();
        let meta = template.metadata.unwrap_or_default();
        let mut annotations = meta.annotations.unwrap_or_default();
        annotations.insert(SCHEDULED_TIMESTAMP.to_string(), rfc3339_in(scheduled, zone));
        Job {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: self.cronjob.metadata.namespace.clone(),
                labels: meta.labels,
                annotations: Some(annotations),
                owner_references: Some(vec![controller_ref(
                    "batch/v1",
                    "CronJob",
                    &self.cronjob.metadata,
                )]),
                ..Default::default()
            },
            spec: template.spec,
            status: None,
        }
    }

    async fn delete_job(&mut self, job: &Job) -> Result<(), ReconcileError> {
        let name = job.metadata.name.clone().unwrap_or_default();
        match self.jobs.delete(&name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(error) => {
                self.warning("FailedDelete", &format!("Deleted job: {error}"));
                return Err(error.into());
            }
        }
        remove_active(
            &mut self.status,
            job.metadata.uid.as_deref().unwrap_or_default(),
        );
        self.normal("SuccessfulDelete", &format!("Deleted job {name}"));
        Ok(())
    }

    /// Deletes the oldest finished Jobs beyond the history limits.
    async fn clean_history(&mut self, children: &[Job]) -> Result<(), ReconcileError> {
        let Some(spec) = self.cronjob.spec.clone() else {
            return Ok(());
        };
        if spec.successful_jobs_history_limit.is_none() && spec.failed_jobs_history_limit.is_none()
        {
            return Ok(());
        }
        for (kind, limit) in [
            ("Complete", spec.successful_jobs_history_limit),
            ("Failed", spec.failed_jobs_history_limit),
        ] {
            let Some(limit) = limit else { continue };
            let mut finished: Vec<&Job> = children
                .iter()
                .filter(|j| finished_condition(j) == Some(kind))
                .collect();
            let excess = finished.len().saturating_sub(limit.max(0) as usize);
            if excess == 0 {
                continue;
            }
            // Oldest start first; jobs that never started sort last.
            finished.sort_by(|a, b| {
                let start = |j: &Job| {
                    j.status
                        .as_ref()
                        .and_then(|s| s.start_time.clone())
                        .map(|t| t.0)
                };
                match (start(a), start(b)) {
                    (Some(x), Some(y)) => x
                        .cmp(&y)
                        .then_with(|| a.metadata.name.cmp(&b.metadata.name)),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => a.metadata.name.cmp(&b.metadata.name),
                }
            });
            for job in finished.into_iter().take(excess) {
                self.delete_job(job).await?;
            }
        }
        Ok(())
    }
}

async fn reconcile(object: Arc<CronJob>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let namespace = object.metadata.namespace.clone().unwrap_or_default();
    let name = object.metadata.name.clone().unwrap_or_default();
    let cronjobs: Api<CronJob> = Api::namespaced(ctx.client.clone(), &namespace);
    let Some(cronjob) = cronjobs.get_opt(&name).await? else {
        return Ok(Action::await_change());
    };
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &namespace);
    let uid = cronjob.metadata.uid.clone().unwrap_or_default();
    let children: Vec<Job> = jobs
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|j| controller_of(&j.metadata).is_some_and(|r| r.uid == uid))
        .collect();
    let status = cronjob.status.clone().unwrap_or_default();
    let mut sync = CronSync {
        ctx: &ctx,
        about: events::reference("batch/v1", "CronJob", &cronjob.metadata),
        status: status.clone(),
        cronjob,
        jobs,
        now: Timestamp::now(),
    };
    sync.follow_children(&children).await?;
    let deleting = sync.cronjob.metadata.deletion_timestamp.is_some();
    let next = if deleting {
        None
    } else {
        sync.start_due().await?
    };
    if !deleting {
        sync.clean_history(&children).await?;
    }
    if sync.status != status {
        let mut updated = sync.cronjob.clone();
        updated.status = Some(sync.status.clone());
        match cronjobs
            .replace_status(&name, &PostParams::default(), &updated)
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {
                return Ok(Action::requeue(Duration::from_millis(200)));
            }
            Err(error) => return Err(error.into()),
        }
    }
    Ok(match next {
        Some(delay) => Action::requeue(delay),
        None => Action::await_change(),
    })
}

pub async fn run(ctx: Context, shutdown: CancellationToken) {
    let cronjobs: Api<CronJob> = Api::all(ctx.client.clone());
    let jobs: Api<Job> = Api::all(ctx.client.clone());
    Controller::new(cronjobs, watcher::Config::default())
        .owns(jobs, watcher::Config::default())
        .graceful_shutdown_on(async move { shutdown.cancelled().await })
        .run(reconcile, retry_later, Arc::new(ctx))
        .for_each(|_| async {})
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_names_and_times_read_like_upstream() {
        let t: Timestamp = "2024-05-01T10:01:00Z".parse().unwrap();
        assert_eq!(job_name("hello", t), "hello-28575961");
        assert_eq!(
            rfc3339_in(t, &jiff::tz::TimeZone::UTC),
            "2024-05-01T10:01:00Z"
        );
        let berlin = jiff::tz::db().get("Europe/Berlin").unwrap();
        assert_eq!(rfc3339_in(t, &berlin), "2024-05-01T12:01:00+02:00");
        assert_eq!(rfc1123z(t), "Wed, 01 May 2024 10:01:00 +0000");
    }
}
