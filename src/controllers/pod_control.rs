//! What the workload controllers share about pods, after upstream's `controller_utils`:
//! pod states (active, ready, available), pods made from a template and created in slow-start
//! batches with `SuccessfulCreate`/`FailedCreate` events, deletions with
//! `SuccessfulDelete`/`FailedDelete`, the order in which surplus pods are deleted, and
//! int-or-percent arithmetic.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use futures::future::join_all;
use k8s_openapi::api::core::v1::{Pod, PodCondition, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, DeleteParams, PostParams, Preconditions};

use super::Context;
use super::controller_ref::Owner;

/// Upstream creates or deletes at most this many pods per sync.
pub const BURST_REPLICAS: usize = 500;

pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

pub fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

pub fn is_terminal(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// Neither finished nor being deleted.
pub fn is_active(pod: &Pod) -> bool {
    !is_terminal(pod) && !is_terminating(pod)
}

fn ready_condition(pod: &Pod) -> Option<&PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

/// The `Ready` condition is `True`.
pub fn is_ready(pod: &Pod) -> bool {
    ready_condition(pod).is_some_and(|c| c.status == "True")
}

/// Since when the pod has been ready (Unix seconds).
pub fn ready_since(pod: &Pod) -> Option<i64> {
    ready_condition(pod)
        .filter(|c| c.status == "True")
        .and_then(|c| c.last_transition_time.as_ref())
        .map(|t| t.0.as_second())
}

/// Ready for at least `min_ready_seconds` at `now` (Unix seconds).
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: i64) -> bool {
    if !is_ready(pod) {
        return false;
    }
    if min_ready_seconds <= 0 {
        return true;
    }
    ready_since(pod).is_some_and(|since| since + i64::from(min_ready_seconds) < now)
}

/// Seconds until a ready pod becomes available, if it is ready but not yet available.
pub fn seconds_until_available(pod: &Pod, min_ready_seconds: i32, now: i64) -> Option<u64> {
    if !is_ready(pod) || min_ready_seconds <= 0 || is_available(pod, min_ready_seconds, now) {
        return None;
    }
    let since = ready_since(pod).unwrap_or(now);
    Some(u64::try_from(since + i64::from(min_ready_seconds) + 1 - now).unwrap_or(1))
}

pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// A pod for `template`, named `<prefix><5 random characters>` by the API server, controlled
/// by `owner`.
pub fn pod_from_template(template: &PodTemplateSpec, prefix: &str, owner: &OwnerReference) -> Pod {
    let meta = template.metadata.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(prefix.to_string()),
            labels: meta.labels,
            annotations: meta.annotations,
            finalizers: meta.finalizers,
            owner_references: Some(vec![owner.clone()]),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

/// The `generateName` of pods of the controller `name`: `<name>-`.
pub fn pods_prefix(name: &str) -> String {
    format!("{name}-")
}

/// Creates `pods` in slow-start batches (1, 2, 4, …), stopping at the first batch with a
/// failure, and records `SuccessfulCreate` or `FailedCreate` on `owner`. Returns how many
/// were created and the first error's message.
pub async fn create_pods(ctx: &Context, owner: &Owner, pods: Vec<Pod>) -> (usize, Option<String>) {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &owner.namespace);
    let about = owner.reference();
    let mut pending = pods.into_iter();
    let mut batch = 1usize;
    let mut created = 0usize;
    let params = PostParams::default();
    loop {
        let chunk: Vec<Pod> = pending.by_ref().take(batch).collect();
        if chunk.is_empty() {
            return (created, None);
        }
        let results = join_all(chunk.iter().map(|pod| api.create(&params, pod))).await;
        let mut failure = None;
        for result in results {
            match result {
                Ok(pod) => {
                    created += 1;
                    let name = pod.metadata.name.unwrap_or_default();
                    ctx.events
                        .normal(&about, "SuccessfulCreate", &format!("Created pod: {name}"));
                }
                Err(e) => {
                    let message = api_message(&e);
                    ctx.events.warning(
                        &about,
                        "FailedCreate",
                        &format!("Error creating: {message}"),
                    );
                    failure.get_or_insert(message);
                }
            }
        }
        if failure.is_some() {
            return (created, failure);
        }
        batch *= 2;
    }
}

/// Deletes `pods` (each guarded by its uid) and records `SuccessfulDelete` or
/// `FailedDelete` on `owner`. Returns the first error's message.
pub async fn delete_pods(ctx: &Context, owner: &Owner, pods: &[&Pod]) -> Option<String> {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &owner.namespace);
    let about = owner.reference();
    let results = join_all(pods.iter().map(|pod| {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: pod.metadata.uid.clone(),
                resource_version: None,
            }),
            ..Default::default()
        };
        let api = api.clone();
        async move { (api.delete(&name, &params).await, name) }
    }))
    .await;
    let mut failure = None;
    for (result, name) in results {
        match result {
            Ok(_) => ctx
                .events
                .normal(&about, "SuccessfulDelete", &format!("Deleted pod: {name}")),
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => {
                let message = api_message(&e);
                ctx.events.warning(
                    &about,
                    "FailedDelete",
                    &format!("Error deleting: {message}"),
                );
                failure.get_or_insert(message);
            }
        }
    }
    failure
}

/// An API error as upstream prints it: the status message.
pub fn api_message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => status.message.clone(),
        other => other.to_string(),
    }
}

/// A scaled int-or-percent (`"25%"` of `total`, rounded up or down); `None` if malformed.
pub fn scaled_value(value: &IntOrString, total: i32, round_up: bool) -> Option<i32> {
    match value {
        IntOrString::Int(n) => Some(*n),
        IntOrString::String(s) => {
            let percent: i64 = s.strip_suffix('%')?.parse().ok()?;
            let product = percent * i64::from(total);
            let scaled = if round_up {
                (product + 99).div_euclid(100)
            } else {
                product.div_euclid(100)
            };
            i32::try_from(scaled).ok()
        }
    }
}

fn phase_rank(pod: &Pod) -> u8 {
    match phase(pod) {
        "Pending" => 0,
        "Unknown" => 1,
        "Running" => 2,
        _ => 3,
    }
}

fn max_restarts(pod: &Pod) -> i32 {
    let Some(status) = &pod.status else { return 0 };
    status
        .container_statuses
        .iter()
        .chain(status.init_container_statuses.iter())
        .flatten()
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0)
}

fn deletion_cost(pod: &Pod) -> i64 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("controller.kubernetes.io/pod-deletion-cost"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// `⌊log2(now - t)⌋` in nanoseconds, as upstream buckets ages when scaling down.
fn age_bucket(t: i64, now: i64) -> i64 {
    let nanos = (now - t).saturating_mul(1_000_000_000);
    if nanos > 0 {
        i64::from(63 - nanos.leading_zeros())
    } else {
        -1
    }
}

/// Upstream's ordering of pods to delete first: unscheduled before scheduled, pending before
/// unknown before running, not ready before ready, lower deletion cost first, more pods of
/// the same workload on the node first, ready for less time first (by power-of-two age
/// buckets), more container restarts first, newer first.
fn delete_first(a: &Pod, rank_a: usize, b: &Pod, rank_b: usize, now: i64) -> Ordering {
    let node = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default()
    };
    let (node_a, node_b) = (node(a), node(b));
    if node_a != node_b && (node_a.is_empty() || node_b.is_empty()) {
        return if node_a.is_empty() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    let by_phase = phase_rank(a).cmp(&phase_rank(b));
    if by_phase != Ordering::Equal {
        return by_phase;
    }
    if is_ready(a) != is_ready(b) {
        return if is_ready(a) {
            Ordering::Greater
        } else {
            Ordering::Less
        };
    }
    let by_cost = deletion_cost(a).cmp(&deletion_cost(b));
    if by_cost != Ordering::Equal {
        return by_cost;
    }
    if rank_a != rank_b {
        return rank_b.cmp(&rank_a);
    }
    // Newer (or unknown) first, compared by age bucket; a tie falls to the uid.
    let newer_first = |ta: Option<i64>, tb: Option<i64>, uid_tie: bool| -> Ordering {
        match (ta, tb) {
            (Some(x), Some(y)) if x == y => Ordering::Equal,
            (None, None) => Ordering::Equal,
            (None, _) => Ordering::Less,
            (_, None) => Ordering::Greater,
            (Some(x), Some(y)) => {
                let diff = age_bucket(x, now) - age_bucket(y, now);
                if diff == 0 && uid_tie {
                    a.metadata.uid.cmp(&b.metadata.uid)
                } else {
                    diff.cmp(&0)
                }
            }
        }
    };
    if is_ready(a) && is_ready(b) {
        let by_ready = newer_first(ready_since(a), ready_since(b), true);
        if by_ready != Ordering::Equal {
            return by_ready;
        }
    }
    let by_restarts = max_restarts(b).cmp(&max_restarts(a));
    if by_restarts != Ordering::Equal {
        return by_restarts;
    }
    let created = |p: &Pod| {
        p.metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.as_second())
    };
    newer_first(created(a), created(b), true)
}

/// The `count` pods of `pods` to delete first; `related` are all active pods of the same
/// workload (for a ReplicaSet of a Deployment: of all its ReplicaSets), used to prefer nodes
/// running several of them.
pub fn pods_to_delete<'a>(pods: &'a [Pod], related: &[&Pod], count: usize) -> Vec<&'a Pod> {
    let node = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default()
    };
    let mut on_node: HashMap<String, usize> = HashMap::new();
    for pod in related.iter().filter(|p| is_active(p)) {
        *on_node.entry(node(pod)).or_default() += 1;
    }
    let now = now();
    let mut ranked: Vec<(&Pod, usize)> = pods
        .iter()
        .map(|p| (p, on_node.get(&node(p)).copied().unwrap_or(0)))
        .collect();
    ranked.sort_by(|(a, ra), (b, rb)| delete_first(a, *ra, b, *rb, now));
    ranked.into_iter().take(count).map(|(p, _)| p).collect()
}

/// Whether `labels` holds every label of `template` (a "fully labeled" replica).
pub fn has_template_labels(
    labels: Option<&BTreeMap<String, String>>,
    template: Option<&BTreeMap<String, String>>,
) -> bool {
    let Some(template) = template else {
        return true;
    };
    template
        .iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;

    fn pod(name: &str, node: &str, phase: &str, ready: Option<i64>, created: i64) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                uid: Some(name.into()),
                creation_timestamp: Some(Time(jiff::Timestamp::from_second(created).unwrap())),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: (!node.is_empty()).then(|| node.to_string()),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                conditions: ready.map(|t| {
                    vec![PodCondition {
                        type_: "Ready".into(),
                        status: "True".into(),
                        last_transition_time: Some(Time(jiff::Timestamp::from_second(t).unwrap())),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn scales_percentages_like_upstream() {
        let p = IntOrString::String("25%".into());
        assert_eq!(scaled_value(&p, 10, true), Some(3));
        assert_eq!(scaled_value(&p, 10, false), Some(2));
        assert_eq!(scaled_value(&p, 4, false), Some(1));
        assert_eq!(scaled_value(&IntOrString::Int(2), 10, true), Some(2));
        assert_eq!(
            scaled_value(&IntOrString::String("x".into()), 10, true),
            None
        );
    }

    #[test]
    fn availability_honours_min_ready_seconds() {
        let now = 1_000_000;
        let p = pod("a", "n1", "Running", Some(now - 5), now - 60);
        assert!(is_available(&p, 0, now));
        assert!(is_available(&p, 4, now));
        assert!(!is_available(&p, 10, now));
        assert_eq!(seconds_until_available(&p, 10, now), Some(6));
    }

    #[test]
    fn deletes_unscheduled_pending_and_unready_pods_first() {
        let now = now();
        let pods = vec![
            pod(
                "ready-old",
                "n1",
                "Running",
                Some(now - 10_000),
                now - 10_000,
            ),
            pod("unscheduled", "", "Pending", None, now - 100),
            pod("running-unready", "n1", "Running", None, now - 100),
            pod("pending", "n1", "Pending", None, now - 100),
            pod("ready-new", "n2", "Running", Some(now - 2), now - 3),
        ];
        let related: Vec<&Pod> = pods.iter().collect();
        let order: Vec<&str> = pods_to_delete(&pods, &related, 5)
            .iter()
            .map(|p| p.metadata.name.as_deref().unwrap())
            .collect();
        assert_eq!(
            order,
            [
                "unscheduled",
                "pending",
                "running-unready",
                "ready-old",
                "ready-new"
            ]
        );
        // Without doubling up, the newer ready pod goes first.
        let two = vec![pods[0].clone(), pods[4].clone()];
        let related: Vec<&Pod> = Vec::new();
        let first = pods_to_delete(&two, &related, 1);
        assert_eq!(first[0].metadata.name.as_deref(), Some("ready-new"));
    }

    #[test]
    fn fully_labeled_means_every_template_label() {
        let template: BTreeMap<String, String> = [("a".into(), "1".into())].into();
        let both: BTreeMap<String, String> =
            [("a".into(), "1".into()), ("b".into(), "2".into())].into();
        assert!(has_template_labels(Some(&both), Some(&template)));
        assert!(!has_template_labels(None, Some(&template)));
        assert!(has_template_labels(None, None));
    }
}
