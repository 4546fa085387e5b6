//! The pods of a Job: building one from the template (tracking finalizer, controller
//! reference, and for Indexed jobs the completion index annotation, label, hostname and
//! `JOB_COMPLETION_INDEX`), reading its index, and choosing which active pods to remove.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Container, EnvVar, EnvVarSource, ObjectFieldSelector, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::policy::{INDEX_FAILURE_COUNT, INDEX_IGNORED_FAILURE_COUNT};
use crate::controllers::pod_conditions::{self, controller_ref, phase};

pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";
const COMPLETION_INDEX_ENV: &str = "JOB_COMPLETION_INDEX";
/// The longest `generateName` prefix the API server keeps whole.
const MAX_GENERATED_PREFIX: usize = 58;

pub fn is_indexed(job: &Job) -> bool {
    job.spec.as_ref().and_then(|s| s.completion_mode.as_deref()) == Some("Indexed")
}

pub fn has_finalizer(pod: &Pod) -> bool {
    pod.metadata
        .finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|f| f == TRACKING_FINALIZER))
}

/// The pod's completion index, if it carries a valid one.
pub fn completion_index(pod: &Pod) -> Option<i32> {
    pod.metadata
        .annotations
        .as_ref()?
        .get(COMPLETION_INDEX)?
        .parse::<i32>()
        .ok()
        .filter(|i| *i >= 0)
}

/// The pod's index when it is below `completions`.
pub fn valid_index(pod: &Pod, completions: i32) -> Option<i32> {
    completion_index(pod).filter(|i| *i < completions)
}

/// `<job>-<index>-`, shortened so the generated name fits.
fn generate_name_with_index(job: &str, index: i32) -> String {
    let suffix = format!("-{index}-");
    let mut prefix = format!("{job}{suffix}");
    if prefix.len() > MAX_GENERATED_PREFIX {
        let keep = MAX_GENERATED_PREFIX.saturating_sub(suffix.len());
        prefix = format!("{}{suffix}", job.get(..keep).unwrap_or(job));
    }
    prefix
}

fn add_index_env(container: &mut Container) {
    let env = container.env.get_or_insert_with(Vec::new);
    if env.iter().any(|e| e.name == COMPLETION_INDEX_ENV) {
        return;
    }
    env.push(EnvVar {
        name: COMPLETION_INDEX_ENV.to_string(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: format!("metadata.labels['{COMPLETION_INDEX}']"),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
}

/// What a new pod of the job is given beyond the template.
pub struct NewPod {
    pub index: Option<i32>,
    /// Counted and ignored failures of the index so far (with `backoffLimitPerIndex`).
    pub failure_counts: Option<(i32, i32)>,
}

/// A pod for `job` from its template.
pub fn from_template(job: &Job, new: &NewPod) -> Pod {
    let name = job.metadata.name.clone().unwrap_or_default();
    let template = job
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let template_meta = template.metadata.unwrap_or_default();
    let mut labels = template_meta.labels.unwrap_or_default();
    let mut annotations = template_meta.annotations.unwrap_or_default();
    let mut finalizers = template_meta.finalizers.unwrap_or_default();
    if !finalizers.iter().any(|f| f == TRACKING_FINALIZER) {
        finalizers.push(TRACKING_FINALIZER.to_string());
    }
    let mut spec = template.spec.unwrap_or_default();
    let mut generate_name = format!("{name}-");
    if let Some(index) = new.index {
        annotations.insert(COMPLETION_INDEX.to_string(), index.to_string());
        labels.insert(COMPLETION_INDEX.to_string(), index.to_string());
        spec.hostname = Some(format!("{name}-{index}"));
        generate_name = generate_name_with_index(&name, index);
        spec.containers.iter_mut().for_each(add_index_env);
        if let Some(init) = spec.init_containers.as_mut() {
            init.iter_mut().for_each(add_index_env);
        }
        if let Some((counted, ignored)) = new.failure_counts {
            annotations.insert(INDEX_FAILURE_COUNT.to_string(), counted.to_string());
            if ignored > 0 {
                annotations.insert(INDEX_IGNORED_FAILURE_COUNT.to_string(), ignored.to_string());
            }
        }
    }
    let some_map = |m: BTreeMap<String, String>| (!m.is_empty()).then_some(m);
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(generate_name),
            namespace: job.metadata.namespace.clone(),
            labels: some_map(labels),
            annotations: some_map(annotations),
            finalizers: Some(finalizers),
            owner_references: Some(vec![controller_ref("batch/v1", "Job", &job.metadata)]),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    }
}

fn phase_rank(pod: &Pod) -> u8 {
    match phase(pod) {
        "Pending" | "" => 0,
        "Unknown" => 1,
        "Running" => 2,
        _ => 3,
    }
}

fn restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map_or(0, |c| c.iter().map(|c| c.restart_count).max().unwrap_or(0))
}

/// Upstream's `ActivePods` order: pods earlier in their life come first (unscheduled,
/// pending, not ready, ready for less time, more restarts, newer).
pub fn removal_order(a: &Pod, b: &Pod) -> Ordering {
    let assigned = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_some_and(|n| !n.is_empty())
    };
    let ready_since = |p: &Pod| {
        pod_conditions::condition(p, "Ready")
            .filter(|c| c.status == "True")
            .and_then(|c| c.last_transition_time.as_ref())
            .map(|t| t.0)
    };
    let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
    assigned(a)
        .cmp(&assigned(b))
        .then_with(|| phase_rank(a).cmp(&phase_rank(b)))
        .then_with(|| pod_conditions::is_ready(a).cmp(&pod_conditions::is_ready(b)))
        .then_with(|| ready_since(b).cmp(&ready_since(a)))
        .then_with(|| restarts(b).cmp(&restarts(a)))
        .then_with(|| match (created(a), created(b)) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => y.cmp(&x),
        })
}

/// Active pods to delete: for Indexed jobs first the pods without a valid index and all but
/// one pod of each repeated index; then, to reach `at_least`, the earliest in their life.
pub fn for_removal<'a>(
    job: &Job,
    active: &[&'a Pod],
    at_least: usize,
    completions: i32,
) -> Vec<&'a Pod> {
    let mut remove: Vec<&Pod> = Vec::new();
    let mut left: Vec<&Pod> = Vec::new();
    if is_indexed(job) {
        let mut by_index: BTreeMap<i32, Vec<&Pod>> = BTreeMap::new();
        for pod in active {
            match valid_index(pod, completions) {
                Some(index) => by_index.entry(index).or_default().push(pod),
                None => remove.push(pod),
            }
        }
        for (_, mut pods) in by_index {
            pods.sort_by(|a, b| removal_order(a, b));
            if let Some(keep) = pods.pop() {
                left.push(keep);
            }
            remove.extend(pods);
        }
    } else {
        left = active.to_vec();
    }
    if remove.len() < at_least {
        left.sort_by(|a, b| removal_order(a, b));
        let more = (at_least - remove.len()).min(left.len());
        remove.extend(left.into_iter().take(more));
    }
    remove
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(mode: &str) -> Job {
        serde_json::from_value(json!({
            "metadata": {"name": "pi", "namespace": "ns", "uid": "u1"},
            "spec": {"completionMode": mode, "completions": 3, "template": {
                "metadata": {"labels": {"batch.kubernetes.io/job-name": "pi"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}
        }))
        .unwrap()
    }

    #[test]
    fn indexed_pods_carry_their_index() {
        let pod = from_template(
            &job("Indexed"),
            &NewPod {
                index: Some(2),
                failure_counts: None,
            },
        );
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("pi-2-"));
        assert_eq!(completion_index(&pod), Some(2));
        assert_eq!(
            pod.metadata.labels.as_ref().unwrap()[COMPLETION_INDEX],
            "2".to_string()
        );
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.hostname.as_deref(), Some("pi-2"));
        let env = spec.containers[0].env.as_ref().unwrap();
        assert_eq!(env[0].name, "JOB_COMPLETION_INDEX");
        assert!(has_finalizer(&pod));
        let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!((owner.kind.as_str(), owner.uid.as_str()), ("Job", "u1"));
    }

    #[test]
    fn long_names_keep_the_index() {
        let long = "j".repeat(70);
        let prefix = generate_name_with_index(&long, 12);
        assert!(prefix.ends_with("-12-") && prefix.len() == MAX_GENERATED_PREFIX);
    }

    #[test]
    fn removal_prefers_duplicates_then_early_pods() {
        let indexed = job("Indexed");
        let pod = |name: &str, index: &str, node: &str| -> Pod {
            serde_json::from_value(json!({"metadata": {"name": name,
                "annotations": {COMPLETION_INDEX: index}},
                "spec": {"nodeName": node, "containers": []}, "status": {"phase": "Running"}}))
            .unwrap()
        };
        let (a, b, c, d) = (
            pod("a", "0", "n"),
            pod("b", "0", ""),
            pod("c", "7", "n"),
            pod("d", "1", "n"),
        );
        let names: Vec<_> = for_removal(&indexed, &[&a, &b, &c, &d], 0, 3)
            .iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["c", "b"]);
        let plain = job("NonIndexed");
        let names: Vec<_> = for_removal(&plain, &[&a, &b, &d], 1, 3)
            .iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["b"]);
    }
}
