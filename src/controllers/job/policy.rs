//! How a Job judges its failed pods: `spec.podFailurePolicy` rules (`FailJob`, `Ignore`,
//! `Count`, `FailIndex` on exit codes or pod conditions), the per-index failure counts, and
//! the exponential back-off before replacing failed pods (10 s doubling up to 10 min, the
//! limits of upstream's job controller; failures before the last success do not count).

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{Job, PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

use crate::controllers::pod_conditions::{self, phase};

/// The first back-off after a failure.
pub const BACKOFF_START: Duration = Duration::from_secs(10);
/// The longest back-off.
pub const BACKOFF_MAX: Duration = Duration::from_secs(600);

pub const INDEX_FAILURE_COUNT: &str = "batch.kubernetes.io/job-index-failure-count";
pub const INDEX_IGNORED_FAILURE_COUNT: &str = "batch.kubernetes.io/job-index-ignored-failure-count";

/// A `podFailurePolicy` rule's action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    FailJob,
    FailIndex,
    Ignore,
    Count,
}

/// What the policy says about one failed pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The job's failure message when a `FailJob` rule matched.
    pub fail_job: Option<String>,
    /// Whether the failure counts towards `backoffLimit` (false for `Ignore`).
    pub counts: bool,
    pub action: Option<Action>,
}

const NO_MATCH: Verdict = Verdict {
    fail_job: None,
    counts: true,
    action: None,
};

fn exit_code_matches(code: i32, requirement: &PodFailurePolicyOnExitCodesRequirement) -> bool {
    match requirement.operator.as_str() {
        "In" => requirement.values.contains(&code),
        "NotIn" => !requirement.values.contains(&code),
        _ => false,
    }
}

/// The first terminated container (regular, then init) with a non-zero exit code matching.
fn matching_container<'a>(
    pod: &'a Pod,
    requirement: &PodFailurePolicyOnExitCodesRequirement,
) -> Option<(&'a ContainerStatus, i32)> {
    let status = pod.status.as_ref()?;
    let lists = [
        status.container_statuses.as_deref().unwrap_or_default(),
        status
            .init_container_statuses
            .as_deref()
            .unwrap_or_default(),
    ];
    lists.into_iter().find_map(|list| {
        list.iter().find_map(|c| {
            let code = c.state.as_ref()?.terminated.as_ref()?.exit_code;
            let named = requirement
                .container_name
                .as_ref()
                .is_none_or(|n| *n == c.name);
            (named && code != 0 && exit_code_matches(code, requirement)).then_some((c, code))
        })
    })
}

fn action_of(text: &str) -> Option<Action> {
    match text {
        "FailJob" => Some(Action::FailJob),
        "FailIndex" => Some(Action::FailIndex),
        "Ignore" => Some(Action::Ignore),
        "Count" => Some(Action::Count),
        _ => None,
    }
}

/// Matches a failed pod against the policy's rules, first match wins.
pub fn judge(policy: Option<&PodFailurePolicy>, pod: &Pod) -> Verdict {
    let Some(policy) = policy else {
        return NO_MATCH;
    };
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    for (index, rule) in policy.rules.iter().enumerate() {
        let message = if let Some(requirement) = &rule.on_exit_codes {
            let Some((container, code)) = matching_container(pod, requirement) else {
                continue;
            };
            format!(
                "Container {} for pod {namespace}/{name} failed with exit code {code} matching {} rule at index {index}",
                container.name, rule.action
            )
        } else if let Some(patterns) = &rule.on_pod_conditions {
            let conditions = pod
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_deref())
                .unwrap_or_default();
            let matched = conditions.iter().find(|c| {
                patterns.iter().any(|p| {
                    p.type_ == c.type_ && p.status.as_deref().unwrap_or("True") == c.status
                })
            });
            let Some(condition) = matched else { continue };
            format!(
                "Pod {namespace}/{name} has condition {} matching {} rule at index {index}",
                condition.type_, rule.action
            )
        } else {
            continue;
        };
        return match action_of(&rule.action) {
            Some(Action::FailJob) => Verdict {
                fail_job: Some(message),
                counts: true,
                action: Some(Action::FailJob),
            },
            Some(Action::Ignore) => Verdict {
                fail_job: None,
                counts: false,
                action: Some(Action::Ignore),
            },
            Some(action) => Verdict {
                fail_job: None,
                counts: true,
                action: Some(action),
            },
            // An unknown action matches but does nothing, as upstream's switch.
            None => continue,
        };
    }
    NO_MATCH
}

/// Pods are replaced only once failed (not while terminating): `podReplacementPolicy:
/// Failed`, which a pod failure policy implies.
pub fn only_replace_failed(job: &Job) -> bool {
    let spec = job.spec.as_ref();
    spec.and_then(|s| s.pod_replacement_policy.as_deref()) == Some("Failed")
        || spec.is_some_and(|s| s.pod_failure_policy.is_some())
}

/// Whether the job counts the pod as failed: Failed, or (unless only failed pods are
/// replaced) being deleted without having succeeded.
pub fn is_failed(pod: &Pod, job: &Job) -> bool {
    if only_replace_failed(job) {
        return phase(pod) == "Failed";
    }
    phase(pod) == "Failed" || (pod_conditions::is_deleting(pod) && phase(pod) != "Succeeded")
}

/// When the pod finished: its containers' last exit, else its Ready=False transition, else
/// its deletion, else its creation.
pub fn finished_at(pod: &Pod) -> Timestamp {
    let status = pod.status.as_ref();
    let containers = status
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or_default();
    let from_containers = if containers.is_empty() {
        None
    } else {
        containers.iter().try_fold(None::<Timestamp>, |latest, c| {
            let finished = c
                .state
                .as_ref()?
                .terminated
                .as_ref()?
                .finished_at
                .as_ref()?
                .0;
            Some(Some(latest.map_or(finished, |l| l.max(finished))))
        })
    }
    .flatten();
    from_containers
        .or_else(|| {
            pod_conditions::condition(pod, "Ready")
                .filter(|c| c.status == "False")
                .and_then(|c| c.last_transition_time.as_ref())
                .map(|t| t.0)
        })
        .or_else(|| pod.metadata.deletion_timestamp.as_ref().map(|t| t.0))
        .or_else(|| pod.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .unwrap_or_else(Timestamp::now)
}

/// Failures since the job's last success, which set the back-off before new pods.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backoff {
    pub failures_after_success: u32,
    pub last_failure: Option<Timestamp>,
}

impl Backoff {
    /// The record after newly finished pods (given by their finish times).
    pub fn after(self, succeeded: &[Timestamp], failed: &[Timestamp]) -> Backoff {
        let mut failed = failed.to_vec();
        failed.sort_unstable();
        let Some(last_success) = succeeded.iter().max() else {
            let Some(last) = failed.last() else {
                return self;
            };
            return Backoff {
                failures_after_success: self.failures_after_success + failed.len() as u32,
                last_failure: Some(*last),
            };
        };
        let after: Vec<&Timestamp> = failed.iter().filter(|t| *t > last_success).collect();
        Backoff {
            failures_after_success: after.len() as u32,
            last_failure: after.last().map(|t| **t),
        }
    }

    /// How long to wait before creating pods.
    pub fn remaining(&self, now: Timestamp) -> Duration {
        remaining_for(self.failures_after_success, self.last_failure, now)
    }
}

/// The back-off left after `failures` consecutive failures, the last at `last`.
pub fn remaining_for(failures: u32, last: Option<Timestamp>, now: Timestamp) -> Duration {
    let (Some(last), true) = (last, failures > 0) else {
        return Duration::ZERO;
    };
    let mut backoff = BACKOFF_START;
    for _ in 1..failures {
        backoff = backoff.saturating_mul(2);
        if backoff >= BACKOFF_MAX {
            backoff = BACKOFF_MAX;
            break;
        }
    }
    let elapsed = now.duration_since(last);
    let elapsed = Duration::try_from(elapsed).unwrap_or(Duration::ZERO);
    backoff.saturating_sub(elapsed)
}

fn annotation_count(pod: &Pod, key: &str) -> i32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .and_then(|v| v.parse::<i32>().ok())
        .filter(|v| *v >= 0)
        .unwrap_or(0)
}

/// The pod's `job-index-failure-count` annotation.
pub fn index_failures(pod: &Pod) -> i32 {
    annotation_count(pod, INDEX_FAILURE_COUNT)
}

/// Counted plus ignored failures of the pod's index.
pub fn index_absolute_failures(pod: &Pod) -> i32 {
    index_failures(pod) + annotation_count(pod, INDEX_IGNORED_FAILURE_COUNT)
}

/// The failure counts a replacement of `replaced` carries (counted, ignored).
pub fn replacement_counts(job: &Job, replaced: Option<&Pod>) -> (i32, i32) {
    let Some(pod) = replaced else {
        return (0, 0);
    };
    let (counted, ignored) = (
        index_failures(pod),
        annotation_count(pod, INDEX_IGNORED_FAILURE_COUNT),
    );
    let policy = job
        .spec
        .as_ref()
        .and_then(|s| s.pod_failure_policy.as_ref());
    if judge(policy, pod).counts {
        (counted + 1, ignored)
    } else {
        (counted, ignored + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(value: serde_json::Value) -> Pod {
        serde_json::from_value(value).unwrap()
    }

    fn policy(value: serde_json::Value) -> PodFailurePolicy {
        serde_json::from_value(value).unwrap()
    }

    fn failed_with(code: i32) -> Pod {
        pod(
            json!({"metadata": {"name": "p", "namespace": "ns"}, "status": {"phase": "Failed",
            "conditions": [{"type": "DisruptionTarget", "status": "True"}],
            "containerStatuses": [{"name": "main", "image": "i", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"terminated": {"exitCode": code}}}]}}),
        )
    }

    #[test]
    fn exit_code_rules_match_in_order() {
        let rules = policy(json!({"rules": [
            {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [137]}},
            {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "NotIn", "values": [1]}},
        ]}));
        let ignored = judge(Some(&rules), &failed_with(137));
        assert_eq!(ignored.action, Some(Action::Ignore));
        assert!(!ignored.counts);
        assert_eq!(
            judge(Some(&rules), &failed_with(42)).fail_job.as_deref(),
            Some(
                "Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 1"
            )
        );
        assert_eq!(judge(Some(&rules), &failed_with(1)), NO_MATCH);
    }

    #[test]
    fn condition_rules() {
        let rules = policy(json!({"rules": [
            {"action": "FailJob", "onPodConditions": [{"type": "DisruptionTarget"}]}]}));
        assert_eq!(
            judge(Some(&rules), &failed_with(1)).fail_job.as_deref(),
            Some("Pod ns/p has condition DisruptionTarget matching FailJob rule at index 0")
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets_on_success() {
        let t0 = Timestamp::from_second(1_000_000).unwrap();
        let at = |s: i64| Timestamp::from_second(1_000_000 + s).unwrap();
        assert_eq!(remaining_for(1, Some(t0), at(3)), Duration::from_secs(7));
        assert_eq!(remaining_for(3, Some(t0), t0), Duration::from_secs(40));
        assert_eq!(remaining_for(20, Some(t0), t0), BACKOFF_MAX);
        assert_eq!(remaining_for(1, Some(t0), at(30)), Duration::ZERO);
        let record = Backoff::default().after(&[], &[at(1), at(2)]);
        assert_eq!(record.failures_after_success, 2);
        assert_eq!(record.last_failure, Some(at(2)));
        let record = record.after(&[at(5)], &[at(3), at(7)]);
        assert_eq!(record.failures_after_success, 1);
        assert_eq!(record.last_failure, Some(at(7)));
    }
}
