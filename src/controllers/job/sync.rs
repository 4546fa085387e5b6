//! One sync of one Job: count its pods, decide whether it has finished (and how), create or
//! delete pods, then record finished pods in the status before releasing their finalizers.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobSpec, JobStatus, UncountedTerminatedPods};
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::controller::Action;
use tracing::{debug, info};

use super::indexes::Intervals;
use super::pods::{self, NewPod, has_finalizer, valid_index};
use super::policy::{self, Backoff};
use super::{Shared, release};
use crate::controllers::ReconcileError;
use crate::controllers::pod_conditions::{self, is_active, is_ready, phase};

/// At most this many pods are recorded in `uncountedTerminatedPods` per sync.
const MAX_UNCOUNTED: usize = 500;
/// At most this many pods are created or deleted per sync.
const MAX_CREATE_DELETE: usize = 500;
/// Retries of a delayed sync come no sooner than this.
const MIN_DELAY: Duration = Duration::from_secs(1);

fn condition(kind: &str, reason: &str, message: &str, now: Timestamp) -> JobCondition {
    JobCondition {
        type_: kind.to_string(),
        status: "True".to_string(),
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

fn find<'a>(status: &'a JobStatus, kind: &str) -> Option<&'a JobCondition> {
    status
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind && c.status == "True")
}

/// Upstream's `ensureJobConditionStatus`: sets a condition's status, reason and message
/// (a `False` one is not added when absent). True if the list changed.
fn ensure_condition(
    status: &mut JobStatus,
    kind: &str,
    value: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> bool {
    let list = status.conditions.get_or_insert_with(Vec::new);
    let mut wanted = condition(kind, reason, message, now);
    wanted.status = value.to_string();
    match list.iter_mut().find(|c| c.type_ == kind) {
        Some(existing) => {
            let same = existing.status == value
                && existing.reason.as_deref() == Some(reason)
                && existing.message.as_deref() == Some(message);
            if !same {
                *existing = wanted;
            }
            !same
        }
        None if value != "False" => {
            list.push(wanted);
            true
        }
        None => false,
    }
}

fn count(value: Option<i32>) -> i32 {
    value.unwrap_or(0)
}

/// The working state of one sync.
pub(super) struct JobSync<'a> {
    shared: &'a Shared,
    jobs: Api<Job>,
    pods_api: Api<Pod>,
    key: String,
    about: ObjectReference,
    now: Timestamp,
    job: Job,
    spec: JobSpec,
    pods: Vec<Pod>,
    uncounted_succeeded: HashSet<String>,
    uncounted_failed: HashSet<String>,
    finished: Option<JobCondition>,
    succeeded: i32,
    failed: i32,
    prev_succeeded: Intervals,
    succeeded_indexes: Intervals,
    failed_indexes: Option<Intervals>,
    /// Per index, the failed pod whose deletion waits for its replacement (with
    /// `backoffLimitPerIndex`, so the replacement can carry the failure count).
    delayed: HashMap<i32, usize>,
    terminating: i32,
    ready: i32,
    backoff: Backoff,
    requeue: Option<Duration>,
}

fn uid(pod: &Pod) -> &str {
    pod.metadata.uid.as_deref().unwrap_or_default()
}

impl<'a> JobSync<'a> {
    pub(super) fn new(
        shared: &'a Shared,
        jobs: Api<Job>,
        pods_api: Api<Pod>,
        mut job: Job,
        pods: Vec<Pod>,
        key: String,
    ) -> Self {
        let status = job.status.get_or_insert_with(Default::default);
        let uncounted = status
            .uncounted_terminated_pods
            .get_or_insert_with(Default::default);
        let set = |list: &Option<Vec<String>>| -> HashSet<String> {
            list.iter().flatten().cloned().collect()
        };
        let (uncounted_succeeded, uncounted_failed) =
            (set(&uncounted.succeeded), set(&uncounted.failed));
        JobSync {
            shared,
            jobs,
            pods_api,
            about: crate::controllers::events::reference("batch/v1", "Job", &job.metadata),
            now: Timestamp::now(),
            spec: job.spec.clone().unwrap_or_default(),
            job,
            pods,
            key,
            uncounted_succeeded,
            uncounted_failed,
            finished: None,
            succeeded: 0,
            failed: 0,
            prev_succeeded: Intervals::default(),
            succeeded_indexes: Intervals::default(),
            failed_indexes: None,
            delayed: HashMap::new(),
            terminating: 0,
            ready: 0,
            backoff: Backoff::default(),
            requeue: None,
        }
    }

    fn status(&mut self) -> &mut JobStatus {
        self.job.status.get_or_insert_with(Default::default)
    }

    fn name(&self) -> String {
        self.job.metadata.name.clone().unwrap_or_default()
    }

    fn suspended(&self) -> bool {
        self.spec.suspend == Some(true)
    }

    fn indexed(&self) -> bool {
        pods::is_indexed(&self.job)
    }

    fn completions(&self) -> i32 {
        self.spec.completions.unwrap_or(0)
    }

    fn has_backoff_per_index(&self) -> bool {
        self.spec.backoff_limit_per_index.is_some() && self.indexed()
    }

    fn requeue_after(&mut self, delay: Duration) {
        let delay = delay.max(MIN_DELAY);
        self.requeue = Some(self.requeue.map_or(delay, |d| d.min(delay)));
    }

    fn active(&self) -> Vec<usize> {
        (0..self.pods.len())
            .filter(|i| is_active(&self.pods[*i]))
            .collect()
    }

    /// Pods that carry the finalizer, are not yet uncounted, have a valid index when
    /// Indexed, and pass `filter`.
    fn new_finished(
        &self,
        uncounted: &HashSet<String>,
        filter: impl Fn(&Pod) -> bool,
    ) -> Vec<usize> {
        (0..self.pods.len())
            .filter(|i| {
                let pod = &self.pods[*i];
                has_finalizer(pod)
                    && !uncounted.contains(uid(pod))
                    && (!self.indexed() || valid_index(pod, self.completions()).is_some())
                    && filter(pod)
            })
            .collect()
    }

    fn is_failed(&self, pod: &Pod) -> bool {
        policy::is_failed(pod, &self.job)
    }

    fn judge(&self, pod: &Pod) -> policy::Verdict {
        policy::judge(self.spec.pod_failure_policy.as_ref(), pod)
    }

    fn fail_job_message(&self) -> Option<String> {
        self.spec.pod_failure_policy.as_ref()?;
        self.pods
            .iter()
            .filter(|p| self.is_failed(p))
            .find_map(|p| self.judge(p).fail_job)
    }

    /// With `restartPolicy: OnFailure`, the container restarts of running pods count.
    fn past_backoff_limit_on_failure(&self, limit: i32) -> bool {
        let template = self.spec.template.spec.as_ref();
        if template.and_then(|s| s.restart_policy.as_deref()) != Some("OnFailure") {
            return false;
        }
        let restarts: i32 = self
            .pods
            .iter()
            .filter(|p| matches!(phase(p), "Running" | "Pending"))
            .filter_map(|p| p.status.as_ref())
            .flat_map(|s| {
                s.init_container_statuses
                    .iter()
                    .flatten()
                    .chain(s.container_statuses.iter().flatten())
            })
            .map(|c| c.restart_count)
            .sum();
        if limit == 0 {
            restarts > 0
        } else {
            restarts >= limit
        }
    }

    fn past_deadline(&self) -> Option<bool> {
        let deadline = self.spec.active_deadline_seconds?;
        if self.suspended() {
            return None;
        }
        let started = self.job.status.as_ref()?.start_time.as_ref()?.0;
        let elapsed = self.now.duration_since(started).as_secs();
        Some(elapsed >= deadline)
    }

    fn failure(&self, reason: &str, message: &str) -> JobCondition {
        condition("FailureTarget", reason, message, self.now)
    }

    /// The whole sync; the returned action schedules the next one.
    pub(super) async fn run(mut self) -> Result<Action, ReconcileError> {
        let active = self.active();
        self.ready = active.iter().filter(|i| is_ready(&self.pods[**i])).count() as i32;
        self.terminating = self
            .pods
            .iter()
            .filter(|p| pod_conditions::is_terminating(p))
            .count() as i32;
        let new_succeeded =
            self.new_finished(&self.uncounted_succeeded, |p| phase(p) == "Succeeded");
        let new_failed = self.new_finished(&self.uncounted_failed, |p| self.is_failed(p));
        let counted_failures = new_failed
            .iter()
            .filter(|i| self.judge(&self.pods[**i]).counts)
            .count() as i32;
        let status = self.job.status.clone().unwrap_or_default();
        self.succeeded = count(status.succeeded)
            + new_succeeded.len() as i32
            + self.uncounted_succeeded.len() as i32;
        self.failed = count(status.failed) + counted_failures + self.uncounted_failed.len() as i32;
        let mut started_now = false;
        if status.start_time.is_none() && !self.suspended() {
            self.status().start_time = Some(Time(self.now));
            started_now = true;
        }
        let finish_times = |list: &[usize]| -> Vec<Timestamp> {
            list.iter()
                .map(|i| policy::finished_at(&self.pods[*i]))
                .collect()
        };
        self.backoff = self
            .shared
            .backoff(&self.key)
            .after(&finish_times(&new_succeeded), &finish_times(&new_failed));

        self.decide_failure(&status);
        if self.indexed() {
            self.count_indexes(&status);
        }

        let before = (count(status.active), status.ready, status.terminating);
        let mut active_count = active.len() as i32;
        let mut suspend_changed = false;
        if self.finished.is_some() {
            let (deleted_ready, deleted) = self.delete_pods(&active, false).await;
            if deleted != active_count {
                // Some pod could not be deleted: not finished yet.
                self.finished = None;
            }
            active_count -= deleted;
            self.terminating += deleted;
            self.ready -= deleted_ready;
        } else {
            let mut managed = false;
            if self.job.metadata.deletion_timestamp.is_none() {
                active_count = self.manage(&active).await;
                managed = true;
            }
            let complete = match self.spec.completions {
                None => self.succeeded > 0 && active_count == 0,
                Some(completions) => self.succeeded >= completions && active_count == 0,
            };
            if complete {
                self.finished = Some(condition(
                    "SuccessCriteriaMet",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    self.now,
                ));
            } else if managed {
                suspend_changed = self.note_suspension();
            }
        }
        let (ready, terminating) = (self.ready, self.terminating);
        let status = self.status();
        status.active = Some(active_count);
        status.ready = Some(ready);
        status.terminating = Some(terminating);
        let needs_update = suspend_changed
            || started_now
            || before != (active_count, Some(ready), Some(terminating));
        self.track(needs_update).await?;
        Ok(match self.requeue {
            Some(delay) => Action::requeue(delay),
            None => Action::await_change(),
        })
    }

    /// Failure (or an earlier success verdict) decided from the counters, policy, limits
    /// and deadline.
    fn decide_failure(&mut self, status: &JobStatus) {
        self.finished = find(status, "SuccessCriteriaMet").cloned();
        if self.finished.is_none() {
            if let Some(target) = find(status, "FailureTarget") {
                let mut failed = target.clone();
                failed.type_ = "Failed".to_string();
                failed.last_transition_time = Some(Time(self.now));
                failed.last_probe_time = Some(Time(self.now));
                self.finished = Some(failed);
            } else if let Some(message) = self.fail_job_message() {
                self.finished = Some(self.failure("PodFailurePolicy", &message));
            }
        }
        if self.finished.is_some() {
            return;
        }
        let limit = self.spec.backoff_limit.unwrap_or(6);
        if self.failed > limit || self.past_backoff_limit_on_failure(limit) {
            self.finished = Some(self.failure(
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            ));
        } else if self.past_deadline() == Some(true) {
            self.finished = Some(self.failure(
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
            ));
        } else if let (Some(deadline), Some(false)) =
            (self.spec.active_deadline_seconds, self.past_deadline())
        {
            let started = status
                .start_time
                .as_ref()
                .map_or(self.now, |t| t.0)
                .as_second();
            let left = (started + deadline - self.now.as_second()).max(0) as u64;
            self.requeue_after(Duration::from_secs(left));
        }
    }

    /// Succeeded and failed indexes, and the verdicts they lead to.
    fn count_indexes(&mut self, status: &JobStatus) {
        let completions = self.completions();
        self.prev_succeeded = Intervals::parse(
            status.completed_indexes.as_deref().unwrap_or(""),
            completions,
        );
        let mut newly: Vec<i32> = self
            .pods
            .iter()
            .filter(|p| phase(p) == "Succeeded" && has_finalizer(p))
            .filter_map(|p| valid_index(p, completions))
            .collect();
        newly.sort_unstable();
        newly.dedup();
        self.succeeded_indexes = self.prev_succeeded.with_indexes(&newly);
        self.succeeded = self.succeeded_indexes.total();
        if self.has_backoff_per_index() {
            let failed = self.failed_indexes(status);
            if self.finished.is_none() {
                if self
                    .spec
                    .max_failed_indexes
                    .is_some_and(|max| failed.total() > max)
                {
                    self.finished = Some(self.failure(
                        "MaxFailedIndexesExceeded",
                        "Job has exceeded the specified maximal number of failed indexes",
                    ));
                } else if failed.total() > 0
                    && failed.total() + self.succeeded_indexes.total() >= completions
                {
                    self.finished = Some(self.failure("FailedIndexes", "Job has failed indexes"));
                }
            }
            self.failed_indexes = Some(failed);
            self.delayed = self.delayed_deletions();
        }
        if self.finished.is_none()
            && let Some(message) = self.success_policy_met()
        {
            self.finished = Some(condition(
                "SuccessCriteriaMet",
                "SuccessPolicy",
                &message,
                self.now,
            ));
        }
    }

    fn index_failed(&self, pod: &Pod) -> bool {
        if !self.is_failed(pod) {
            return false;
        }
        let verdict = self.judge(pod);
        if verdict.action == Some(policy::Action::FailIndex) {
            return true;
        }
        verdict.counts
            && policy::index_failures(pod) >= self.spec.backoff_limit_per_index.unwrap_or(0)
    }

    fn failed_indexes(&self, status: &JobStatus) -> Intervals {
        let completions = self.completions();
        let previous =
            Intervals::parse(status.failed_indexes.as_deref().unwrap_or(""), completions);
        let mut newly: Vec<i32> = self
            .pods
            .iter()
            .filter(|p| has_finalizer(p) && self.index_failed(p))
            .filter_map(|p| valid_index(p, completions))
            .collect();
        newly.sort_unstable();
        newly.dedup();
        previous.with_indexes(&newly)
    }

    fn delayed_deletions(&self) -> HashMap<i32, usize> {
        let completions = self.completions();
        let active: HashSet<i32> = self
            .pods
            .iter()
            .filter(|p| is_active(p))
            .filter_map(pods::completion_index)
            .collect();
        let failed = self.failed_indexes.clone().unwrap_or_default();
        let mut delayed: HashMap<i32, usize> = HashMap::new();
        for i in self.new_finished(&HashSet::new(), |p| self.is_failed(p)) {
            let pod = &self.pods[i];
            let Some(index) = valid_index(pod, completions) else {
                continue;
            };
            if self.succeeded_indexes.has(index) || failed.has(index) || active.contains(&index) {
                continue;
            }
            let replace = match delayed.get(&index) {
                Some(&last) => {
                    let last = &self.pods[last];
                    policy::index_absolute_failures(last) <= policy::index_absolute_failures(pod)
                        && policy::finished_at(pod) >= policy::finished_at(last)
                }
                None => true,
            };
            if replace {
                delayed.insert(index, i);
            }
        }
        delayed
    }

    /// The message of the first `successPolicy` rule the succeeded indexes meet.
    fn success_policy_met(&self) -> Option<String> {
        let rules = &self.spec.success_policy.as_ref()?.rules;
        if self.succeeded_indexes.is_empty() {
            return None;
        }
        let completions = self.completions();
        rules.iter().enumerate().find_map(|(index, rule)| {
            let met = match &rule.succeeded_indexes {
                Some(text) => {
                    let required = Intervals::parse(text, completions);
                    !required.is_empty()
                        && self
                            .succeeded_indexes
                            .covers(&required, rule.succeeded_count)
                }
                None => rule
                    .succeeded_count
                    .is_some_and(|c| self.succeeded_indexes.total() >= c),
            };
            met.then(|| format!("Matched rules at index {index}"))
        })
    }

    /// The `Suspended` condition and its events; resuming restarts the deadline clock.
    fn note_suspension(&mut self) -> bool {
        let now = self.now;
        if self.suspended() {
            let changed = ensure_condition(
                self.status(),
                "Suspended",
                "True",
                "JobSuspended",
                "Job suspended",
                now,
            );
            if changed {
                self.event_normal("Suspended", "Job suspended");
            }
            changed
        } else {
            let changed = ensure_condition(
                self.status(),
                "Suspended",
                "False",
                "JobResumed",
                "Job resumed",
                now,
            );
            if changed {
                self.event_normal("Resumed", "Job resumed");
                self.status().start_time = Some(Time(now));
            }
            changed
        }
    }

    fn event_normal(&self, reason: &str, message: &str) {
        self.shared.ctx.events.normal(&self.about, reason, message);
    }

    fn event_warning(&self, reason: &str, message: &str) {
        self.shared.ctx.events.warning(&self.about, reason, message);
    }

    /// Creates or deletes pods towards the wanted number of active ones; returns how many
    /// are active afterwards.
    async fn manage(&mut self, active: &[usize]) -> i32 {
        let mut active_count = active.len() as i32;
        if self.suspended() {
            if !active.is_empty() {
                info!(job = %self.key, active = active_count, "deleting active pods of a suspended job");
            }
            let (ready, removed) = self.delete_pods(active, true).await;
            self.terminating += removed;
            self.ready -= ready;
            return active_count - removed;
        }
        let parallelism = self.spec.parallelism.unwrap_or(1);
        let want = match self.spec.completions {
            None if self.succeeded > 0 => active_count,
            None => parallelism,
            Some(completions) => (completions - self.succeeded).clamp(0, parallelism),
        };
        let active_pods: Vec<&Pod> = active.iter().map(|i| &self.pods[*i]).collect();
        let surplus = (active_count - want).max(0) as usize;
        let mut remove: Vec<usize> =
            pods::for_removal(&self.job, &active_pods, surplus, self.completions())
                .into_iter()
                .filter_map(|p| {
                    active
                        .iter()
                        .copied()
                        .find(|i| uid(&self.pods[*i]) == uid(p))
                })
                .collect();
        remove.truncate(MAX_CREATE_DELETE);
        if !remove.is_empty() {
            info!(job = %self.key, delete = remove.len(), want, active = active_count, "deleting excess pods");
            let (ready, removed) = self.delete_pods(&remove, true).await;
            self.terminating += removed;
            self.ready -= ready;
            return active_count - removed;
        }
        let terminating = if policy::only_replace_failed(&self.job) {
            self.terminating
        } else {
            0
        };
        let mut missing = (want - terminating - active_count).max(0) as usize;
        if missing == 0 {
            return active_count;
        }
        if !self.has_backoff_per_index() {
            let wait = self.backoff.remaining(self.now);
            if !wait.is_zero() {
                debug!(job = %self.key, ?wait, "delaying pod creation for back-off");
                self.requeue_after(wait);
                return active_count;
            }
        }
        missing = missing.min(MAX_CREATE_DELETE);
        let mut new_pods: Vec<NewPod> = Vec::new();
        if self.indexed() {
            let indexes = self.pending_indexes(missing);
            for index in indexes {
                let replaced = self.delayed.get(&index).map(|i| &self.pods[*i]);
                let failure_counts = self
                    .has_backoff_per_index()
                    .then(|| policy::replacement_counts(&self.job, replaced));
                if let (Some(pod), Some(_)) = (replaced, failure_counts) {
                    let failures = policy::index_absolute_failures(pod) as u32 + 1;
                    let wait =
                        policy::remaining_for(failures, Some(policy::finished_at(pod)), self.now);
                    if !wait.is_zero() {
                        self.requeue_after(wait);
                        continue;
                    }
                }
                new_pods.push(NewPod {
                    index: Some(index),
                    failure_counts,
                });
            }
        } else {
            new_pods = (0..missing)
                .map(|_| NewPod {
                    index: None,
                    failure_counts: None,
                })
                .collect();
        }
        if new_pods.is_empty() {
            return active_count;
        }
        info!(job = %self.key, create = new_pods.len(), want, active = active_count, "creating pods");
        active_count += self.create_pods(new_pods).await;
        active_count
    }

    /// The first `count` indexes with no succeeded, failed, active (or, when only failed
    /// pods are replaced, terminating) pod.
    fn pending_indexes(&self, count: usize) -> Vec<i32> {
        let mut taken: Vec<i32> = self
            .pods
            .iter()
            .filter(|p| {
                is_active(p)
                    || (policy::only_replace_failed(&self.job) && pod_conditions::is_terminating(p))
            })
            .filter_map(pods::completion_index)
            .collect();
        taken.sort_unstable();
        taken.dedup();
        let mut busy = self.succeeded_indexes.with_indexes(&taken);
        if let Some(failed) = &self.failed_indexes {
            busy = busy.merge(failed);
        }
        busy.first_missing(count, self.completions())
    }

    /// Creates pods in batches of 1, 2, 4, … stopping at the first failing batch, as
    /// upstream's slow start; returns how many were created.
    async fn create_pods(&self, mut new_pods: Vec<NewPod>) -> i32 {
        let mut created = 0;
        let mut batch = 1;
        while !new_pods.is_empty() {
            let rest = new_pods.split_off(batch.min(new_pods.len()));
            let results = futures::future::join_all(new_pods.iter().map(|new| async move {
                let pod = pods::from_template(&self.job, new);
                self.pods_api.create(&PostParams::default(), &pod).await
            }))
            .await;
            let mut failures = 0;
            for result in results {
                match result {
                    Ok(pod) => {
                        created += 1;
                        let name = pod.metadata.name.unwrap_or_default();
                        self.event_normal("SuccessfulCreate", &format!("Created pod: {name}"));
                    }
                    Err(kube::Error::Api(e)) if e.message.contains("being terminated") => {
                        // The namespace is going away; so will the job.
                        failures += 1;
                    }
                    Err(error) => {
                        failures += 1;
                        self.event_warning("FailedCreate", &format!("Error creating: {error}"));
                    }
                }
            }
            if failures > 0 {
                break;
            }
            new_pods = rest;
            batch *= 2;
        }
        created
    }

    /// Deletes pods (first releasing their finalizer when `release_first`); returns how
    /// many ready pods and how many pods in all were deleted.
    async fn delete_pods(&self, which: &[usize], release_first: bool) -> (i32, i32) {
        let results = futures::future::join_all(which.iter().map(|i| async move {
            let pod = &self.pods[*i];
            let name = pod.metadata.name.clone().unwrap_or_default();
            if release_first && !release(&self.pods_api, pod).await {
                return (false, is_ready(pod), name, None);
            }
            let result = self.pods_api.delete(&name, &DeleteParams::default()).await;
            let error = match result {
                Ok(_) => None,
                Err(kube::Error::Api(e)) if e.code == 404 => None,
                Err(error) => Some(error.to_string()),
            };
            (error.is_none(), is_ready(pod), name, error)
        }))
        .await;
        let (mut ready, mut deleted) = (0, 0);
        for (ok, was_ready, name, error) in results {
            if ok {
                deleted += 1;
                ready += i32::from(was_ready);
                self.event_normal("SuccessfulDelete", &format!("Deleted pod: {name}"));
            } else if let Some(error) = error {
                self.event_warning("FailedDelete", &format!("Error deleting: {error}"));
            }
        }
        (ready, deleted)
    }

    /// Whether the pod's finalizer may go now.
    fn can_release(&self, index: usize, failed: bool) -> bool {
        let pod = &self.pods[index];
        if self.job.metadata.deletion_timestamp.is_some()
            || self.finished.is_some()
            || phase(pod) == "Succeeded"
        {
            return true;
        }
        if !failed {
            return false;
        }
        if self.has_backoff_per_index()
            && let Some(ix) = pods::completion_index(pod)
            && self.delayed.get(&ix) == Some(&index)
        {
            return false;
        }
        true
    }

    /// Moves uncounted pods whose finalizer is gone into the counters.
    fn count_released(&mut self, with_finalizer: &HashSet<String>) -> bool {
        let status = self.status();
        let uncounted = status
            .uncounted_terminated_pods
            .get_or_insert_with(UncountedTerminatedPods::default);
        let mut changed = false;
        let mut moved = (0, 0);
        for (list, moved) in [
            (&mut uncounted.succeeded, &mut moved.0),
            (&mut uncounted.failed, &mut moved.1),
        ] {
            let before = list.as_ref().map_or(0, Vec::len);
            if let Some(uids) = list.as_mut() {
                uids.retain(|u| with_finalizer.contains(u));
            }
            let after = list.as_ref().map_or(0, Vec::len);
            if after != before {
                changed = true;
                *moved = (before - after) as i32;
            }
        }
        status.succeeded = Some(count(status.succeeded) + moved.0);
        status.failed = Some(count(status.failed) + moved.1);
        changed
    }

    async fn write_status(&mut self) -> Result<(), ReconcileError> {
        let name = self.name();
        self.job = self
            .jobs
            .replace_status(&name, &PostParams::default(), &self.job)
            .await?;
        Ok(())
    }

    /// Records finished pods as uncounted, releases finalizers, counts the released pods,
    /// and finishes the job when nothing is left uncounted or terminating.
    async fn track(&mut self, mut needs_flush: bool) -> Result<(), ReconcileError> {
        let indexed = self.indexed();
        let completions = self.completions();
        let mut with_finalizer: HashSet<String> = self
            .pods
            .iter()
            .filter(|p| has_finalizer(p))
            .map(|p| uid(p).to_string())
            .collect();
        needs_flush |= self.count_released(&with_finalizer);
        let mut order: Vec<usize> = (0..self.pods.len()).collect();
        if indexed {
            order.sort_by_key(|i| pods::completion_index(&self.pods[*i]).unwrap_or(-1));
        }
        let failing_everything = self
            .finished
            .as_ref()
            .is_some_and(|c| c.type_ != "SuccessCriteriaMet");
        let mut to_release: Vec<usize> = Vec::new();
        let mut new_indexes: Vec<i32> = Vec::new();
        let (mut add_succeeded, mut add_failed) = (Vec::new(), Vec::new());
        let mut capped = false;
        for i in order {
            let pod = &self.pods[i];
            if !has_finalizer(pod) {
                continue;
            }
            let failed = self.is_failed(pod);
            if !self.can_release(i, failed) {
                continue;
            }
            to_release.push(i);
            let pod_uid = uid(pod).to_string();
            if phase(pod) == "Succeeded" && !self.uncounted_failed.contains(&pod_uid) {
                if indexed {
                    if let Some(ix) = valid_index(pod, completions)
                        && !self.prev_succeeded.has(ix)
                    {
                        new_indexes.push(ix);
                        needs_flush = true;
                    }
                } else if !self.uncounted_succeeded.contains(&pod_uid) {
                    add_succeeded.push(pod_uid);
                    needs_flush = true;
                }
            } else if (failed || failing_everything)
                && !self.uncounted_failed.contains(&pod_uid)
                && (!indexed || valid_index(pod, completions).is_some())
                && self.judge(pod).counts
            {
                add_failed.push(pod_uid);
                needs_flush = true;
            }
            if new_indexes.len() + add_succeeded.len() + add_failed.len() >= MAX_UNCOUNTED {
                capped = true;
                break;
            }
        }
        {
            let uncounted = self
                .status()
                .uncounted_terminated_pods
                .get_or_insert_with(UncountedTerminatedPods::default);
            uncounted
                .succeeded
                .get_or_insert_with(Vec::new)
                .extend(add_succeeded);
            uncounted
                .failed
                .get_or_insert_with(Vec::new)
                .extend(add_failed);
        }
        if indexed {
            new_indexes.sort_unstable();
            new_indexes.dedup();
            self.succeeded_indexes = self.succeeded_indexes.with_indexes(&new_indexes);
            let text = self.succeeded_indexes.to_string();
            let total = self.succeeded_indexes.total();
            let failed_text = self.failed_indexes.as_ref().map(ToString::to_string);
            let status = self.status();
            if status.completed_indexes.as_deref().unwrap_or("") != text {
                needs_flush = true;
            }
            status.succeeded = Some(total);
            status.completed_indexes = Some(text);
            if status.failed_indexes != failed_text {
                status.failed_indexes = failed_text;
                needs_flush = true;
            }
        }
        // The interim conditions are written before any finalizer goes.
        if let Some(finished) = self.finished.clone() {
            let kind = finished.type_.as_str();
            if kind == "FailureTarget" {
                self.status()
                    .conditions
                    .get_or_insert_with(Vec::new)
                    .push(finished.clone());
                needs_flush = true;
                let mut failed = finished;
                failed.type_ = "Failed".to_string();
                self.finished = Some(failed);
            } else if kind == "SuccessCriteriaMet" {
                let status = self.job.status.clone().unwrap_or_default();
                if find(&status, "SuccessCriteriaMet").is_none() {
                    self.status()
                        .conditions
                        .get_or_insert_with(Vec::new)
                        .push(finished.clone());
                    needs_flush = true;
                }
                let mut complete = finished;
                complete.type_ = "Complete".to_string();
                complete.last_transition_time = Some(Time(self.now));
                complete.last_probe_time = Some(Time(self.now));
                self.finished = Some(complete);
            }
        }
        if needs_flush {
            self.write_status().await?;
            self.shared.set_backoff(&self.key, self.backoff);
            needs_flush = false;
        }
        let mut release_failed = false;
        for i in to_release {
            if release(&self.pods_api, &self.pods[i]).await {
                with_finalizer.remove(uid(&self.pods[i]));
            } else {
                release_failed = true;
            }
        }
        needs_flush |= self.count_released(&with_finalizer);
        if release_failed {
            if needs_flush {
                self.write_status().await?;
            }
            return Err(ReconcileError::Request(format!(
                "cannot remove the tracking finalizer from some pods of job {}",
                self.key
            )));
        }
        let finished = !capped && self.enact_finished();
        if finished || needs_flush {
            self.write_status().await?;
            if finished {
                self.record_finished();
            }
        }
        Ok(())
    }

    /// Adds `Complete` or `Failed` once no pod is uncounted or terminating.
    fn enact_finished(&mut self) -> bool {
        let Some(finished) = self.finished.clone() else {
            return false;
        };
        let status = self.status();
        let uncounted = status.uncounted_terminated_pods.as_ref().map_or(0, |u| {
            u.succeeded.as_ref().map_or(0, Vec::len) + u.failed.as_ref().map_or(0, Vec::len)
        });
        if uncounted > 0 || count(status.terminating) > 0 {
            return false;
        }
        let now = Timestamp::now();
        ensure_condition(
            status,
            &finished.type_,
            "True",
            finished.reason.as_deref().unwrap_or_default(),
            finished.message.as_deref().unwrap_or_default(),
            now,
        );
        if finished.type_ == "Complete" {
            status.completion_time = Some(Time(now));
        }
        true
    }

    fn record_finished(&self) {
        let Some(finished) = &self.finished else {
            return;
        };
        if finished.type_ == "Complete" {
            let succeeded = self.job.status.as_ref().and_then(|s| s.succeeded);
            if let (Some(completions), Some(succeeded)) = (self.spec.completions, succeeded)
                && succeeded > completions
            {
                self.event_warning(
                    "TooManySucceededPods",
                    "Too many succeeded pods running after completion count reached",
                );
            }
            self.event_normal("Completed", "Job completed");
            info!(job = %self.key, "job completed");
        } else {
            let reason = finished.reason.as_deref().unwrap_or_default();
            let message = finished.message.as_deref().unwrap_or_default();
            self.event_warning(reason, message);
            info!(job = %self.key, reason, "job failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suspension_condition_is_added_only_when_true() {
        let now = Timestamp::now();
        let mut status = JobStatus::default();
        assert!(!ensure_condition(
            &mut status,
            "Suspended",
            "False",
            "JobResumed",
            "Job resumed",
            now
        ));
        assert!(ensure_condition(
            &mut status,
            "Suspended",
            "True",
            "JobSuspended",
            "Job suspended",
            now
        ));
        assert!(!ensure_condition(
            &mut status,
            "Suspended",
            "True",
            "JobSuspended",
            "Job suspended",
            now
        ));
        assert!(ensure_condition(
            &mut status,
            "Suspended",
            "False",
            "JobResumed",
            "Job resumed",
            now
        ));
        let conditions = status.conditions.unwrap();
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].status, "False");
    }
}
