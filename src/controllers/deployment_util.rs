//! The arithmetic and bookkeeping of Deployment rollouts, as upstream's `deployment/util`
//! defines them: surge and unavailability budgets, which ReplicaSet is new, the revision
//! and replica annotations, proportional scaling, and the `Progressing`/`Available`
//! conditions. Pure functions; [`deployment`](super::deployment) does the writing.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet, ReplicaSetCondition,
};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::pod_control::scaled_value;

pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// Deployment annotations never copied to its ReplicaSets.
const NOT_COPIED: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];
/// The longest `revision-history` annotation kept.
const MAX_REVISION_HISTORY_CHARS: usize = 2000;

// Condition types and reasons, as kubectl and users read them.
pub const PROGRESSING: &str = "Progressing";
pub const AVAILABLE: &str = "Available";
pub const REPLICA_FAILURE: &str = "ReplicaFailure";
pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
pub const RS_UPDATED: &str = "ReplicaSetUpdated";
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub const PAUSED: &str = "DeploymentPaused";
pub const RESUMED: &str = "DeploymentResumed";
pub const FAILED_RS_CREATE: &str = "ReplicaSetCreateError";
pub const MIN_AVAILABLE: &str = "MinimumReplicasAvailable";
pub const MIN_UNAVAILABLE: &str = "MinimumReplicasUnavailable";

pub fn desired(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

pub fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

pub fn rs_available(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

pub fn is_rolling(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        != Some("Recreate")
}

/// The surge and unavailability budgets of a rolling update of `desired` replicas: surge
/// rounds up, unavailability down, and both zero means one unavailable.
fn fenceposts(d: &Deployment) -> (i32, i32) {
    let rolling = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref());
    let quarter = IntOrString::String("25%".into());
    let surge = rolling
        .and_then(|r| r.max_surge.as_ref())
        .unwrap_or(&quarter);
    let unavailable = rolling
        .and_then(|r| r.max_unavailable.as_ref())
        .unwrap_or(&quarter);
    let desired = desired(d);
    let surge = scaled_value(surge, desired, true).unwrap_or(0);
    let unavailable = scaled_value(unavailable, desired, false).unwrap_or(0);
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

pub fn max_surge(d: &Deployment) -> i32 {
    if !is_rolling(d) {
        return 0;
    }
    fenceposts(d).0
}

pub fn max_unavailable(d: &Deployment) -> i32 {
    if !is_rolling(d) || desired(d) == 0 {
        return 0;
    }
    fenceposts(d).1.min(desired(d))
}

pub fn revision(rs: &ReplicaSet) -> i64 {
    annotation(rs, REVISION)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

pub fn annotation<'a>(rs: &'a ReplicaSet, key: &str) -> Option<&'a str> {
    rs.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

pub fn max_revision(sets: &[ReplicaSet]) -> i64 {
    sets.iter().map(revision).max().unwrap_or(0)
}

/// Two templates equal but for the `pod-template-hash` label.
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    let strip = |t: &PodTemplateSpec| {
        let mut t = t.clone();
        if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            labels.remove(POD_TEMPLATE_HASH);
            if labels.is_empty()
                && let Some(m) = t.metadata.as_mut()
            {
                m.labels = None;
            }
        }
        serde_json::to_value(t).unwrap_or_default()
    };
    strip(a) == strip(b)
}

/// Oldest first, ties by name.
pub fn by_creation(sets: &mut [ReplicaSet]) {
    sets.sort_by(|a, b| {
        a.metadata
            .creation_timestamp
            .cmp(&b.metadata.creation_timestamp)
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
}

/// Splits a Deployment's ReplicaSets into the new one (the oldest whose template is the
/// Deployment's) and the old ones.
pub fn split_new(
    d: &Deployment,
    mut sets: Vec<ReplicaSet>,
) -> (Option<ReplicaSet>, Vec<ReplicaSet>) {
    by_creation(&mut sets);
    let template = d.spec.as_ref().map(|s| &s.template);
    let position = sets.iter().position(|rs| {
        let rs_template = rs.spec.as_ref().and_then(|s| s.template.as_ref());
        matches!((template, rs_template), (Some(a), Some(b)) if equal_ignore_hash(a, b))
    });
    match position {
        Some(i) => {
            let new = sets.remove(i);
            (Some(new), sets)
        }
        None => (None, sets),
    }
}

/// The size of the new ReplicaSet in this step: all at once for Recreate; for a rolling
/// update as far as the surge budget allows.
pub fn new_rs_new_replicas(d: &Deployment, all: &[&ReplicaSet], new: &ReplicaSet) -> i32 {
    if !is_rolling(d) {
        return desired(d);
    }
    let current: i32 = all.iter().map(|rs| rs_replicas(rs)).sum();
    let max_total = desired(d) + max_surge(d);
    if current >= max_total {
        return rs_replicas(new);
    }
    let up = (max_total - current).min(desired(d) - rs_replicas(new));
    rs_replicas(new) + up
}

fn set_annotation(annotations: &mut BTreeMap<String, String>, key: &str, value: String) -> bool {
    if annotations.get(key) == Some(&value) {
        return false;
    }
    annotations.insert(key.to_string(), value);
    true
}

/// Sets `desired-replicas` and `max-replicas`; true if they changed.
pub fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let a = set_annotation(annotations, DESIRED_REPLICAS, desired.to_string());
    let b = set_annotation(annotations, MAX_REPLICAS, max.to_string());
    a || b
}

pub fn desired_annotation(rs: &ReplicaSet) -> Option<i32> {
    annotation(rs, DESIRED_REPLICAS).and_then(|v| v.parse().ok())
}

/// Copies the Deployment's annotations (not the rollout bookkeeping ones) to the new
/// ReplicaSet, raises its revision to `new_revision` (keeping the one it replaces in
/// `revision-history`), and for a ReplicaSet about to be created sets the replica
/// annotations. True if anything changed.
pub fn set_new_rs_annotations(
    d: &Deployment,
    rs: &mut ReplicaSet,
    new_revision: i64,
    exists: bool,
) -> bool {
    let mut changed = false;
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    for (k, v) in d.metadata.annotations.iter().flatten() {
        if NOT_COPIED.contains(&k.as_str()) {
            continue;
        }
        changed |= set_annotation(annotations, k, v.clone());
    }
    let old_text = annotations.get(REVISION).cloned();
    let old_revision: i64 = match old_text.as_deref() {
        None | Some("") => 0,
        Some(text) => match text.parse() {
            Ok(n) => n,
            Err(_) => return changed,
        },
    };
    if old_revision < new_revision {
        annotations.insert(REVISION.into(), new_revision.to_string());
        changed = true;
        if let Some(old) = old_text.filter(|t| !t.is_empty()) {
            let history = annotations
                .get(REVISION_HISTORY)
                .cloned()
                .unwrap_or_default();
            let mut entries: Vec<&str> = history.split(',').filter(|s| !s.is_empty()).collect();
            entries.push(&old);
            while entries.join(",").len() > MAX_REVISION_HISTORY_CHARS && entries.len() > 1 {
                entries.remove(0);
            }
            let joined = entries.join(",");
            annotations.insert(REVISION_HISTORY.into(), joined);
        }
    }
    if !exists {
        let max = desired(d) + max_surge(d);
        changed |= set_replicas_annotations(rs, desired(d), max);
    }
    changed
}

/// The new ReplicaSet is at full size and fully available.
pub fn is_saturated(d: &Deployment, rs: Option<&ReplicaSet>) -> bool {
    let Some(rs) = rs else { return false };
    rs_replicas(rs) == desired(d)
        && desired_annotation(rs) == Some(desired(d))
        && rs_available(rs) == desired(d)
}

/// This ReplicaSet's share of `to_add` replicas (negative when removing), bounded by what
/// is left after `added`.
pub fn proportion(rs: &ReplicaSet, d: &Deployment, to_add: i32, added: i32) -> i32 {
    if rs_replicas(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = fraction(rs, d);
    let allowed = to_add - added;
    if to_add > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}

fn fraction(rs: &ReplicaSet, d: &Deployment) -> i32 {
    if desired(d) == 0 {
        return -rs_replicas(rs);
    }
    let total = desired(d) + max_surge(d);
    let annotated = annotation(rs, MAX_REPLICAS)
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or_else(|| d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0));
    if annotated == 0 {
        return 0;
    }
    let size = f64::from(rs_replicas(rs)) * f64::from(total) / f64::from(annotated);
    // Rounded half away from zero, as Go's math.Round.
    #[allow(clippy::cast_possible_truncation)]
    let rounded = size.round() as i32;
    rounded - rs_replicas(rs)
}

pub fn has_progress_deadline(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .is_some_and(|s| s != i32::MAX)
}

pub fn progress_deadline(d: &Deployment) -> i64 {
    i64::from(
        d.spec
            .as_ref()
            .and_then(|s| s.progress_deadline_seconds)
            .unwrap_or(600),
    )
}

pub fn condition<'a>(status: &'a DeploymentStatus, kind: &str) -> Option<&'a DeploymentCondition> {
    status.conditions.iter().flatten().find(|c| c.type_ == kind)
}

pub fn now_time() -> Time {
    Time(jiff::Timestamp::from_second(jiff::Timestamp::now().as_second()).unwrap_or_default())
}

pub fn new_condition(kind: &str, status: &str, reason: &str, message: &str) -> DeploymentCondition {
    DeploymentCondition {
        type_: kind.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_update_time: Some(now_time()),
        last_transition_time: Some(now_time()),
    }
}

/// Sets a condition as upstream does: a condition with the same status and reason is left
/// alone; one with the same status keeps its transition time.
pub fn set_condition(status: &mut DeploymentStatus, mut new: DeploymentCondition) {
    if let Some(current) = condition(status, &new.type_) {
        if current.status == new.status && current.reason == new.reason {
            return;
        }
        if current.status == new.status {
            new.last_transition_time = current.last_transition_time.clone();
        }
    }
    remove_condition(status, &new.type_);
    status.conditions.get_or_insert_with(Vec::new).push(new);
}

pub fn remove_condition(status: &mut DeploymentStatus, kind: &str) {
    if let Some(conditions) = status.conditions.as_mut() {
        conditions.retain(|c| c.type_ != kind);
        if conditions.is_empty() {
            status.conditions = None;
        }
    }
}

/// Every ReplicaSet at the desired count, all updated and available, and observed.
pub fn complete(d: &Deployment, status: &DeploymentStatus) -> bool {
    let want = desired(d);
    status.updated_replicas.unwrap_or(0) == want
        && status.replicas.unwrap_or(0) == want
        && status.available_replicas.unwrap_or(0) == want
        && status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
}

/// Any sign of progress since the last status.
pub fn progressing(d: &Deployment, new: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let n = |v: Option<i32>| v.unwrap_or(0);
    let old_old = n(old.replicas) - n(old.updated_replicas);
    let new_old = n(new.replicas) - n(new.updated_replicas);
    n(new.updated_replicas) > n(old.updated_replicas)
        || new_old < old_old
        || n(new.ready_replicas) > n(old.ready_replicas)
        || n(new.available_replicas) > n(old.available_replicas)
}

/// No progress for `progressDeadlineSeconds` since the `Progressing` condition was last
/// updated.
pub fn timed_out(d: &Deployment, status: &DeploymentStatus, now: i64) -> bool {
    if !has_progress_deadline(d) {
        return false;
    }
    let Some(cond) = condition(status, PROGRESSING) else {
        return false;
    };
    match cond.reason.as_deref() {
        Some(NEW_RS_AVAILABLE) => false,
        Some(TIMED_OUT) => true,
        _ => cond
            .last_update_time
            .as_ref()
            .is_some_and(|t| t.0.as_second() + progress_deadline(d) < now),
    }
}

/// The Deployment condition a ReplicaSet's `ReplicaFailure` becomes.
pub fn replica_failure(c: &ReplicaSetCondition) -> DeploymentCondition {
    DeploymentCondition {
        type_: REPLICA_FAILURE.into(),
        status: c.status.clone(),
        reason: c.reason.clone(),
        message: c.message.clone(),
        last_update_time: c.last_transition_time.clone(),
        last_transition_time: c.last_transition_time.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment(
        replicas: i32,
        surge: serde_json::Value,
        unavailable: serde_json::Value,
    ) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "annotations": {"kubernetes.io/change-cause": "v2", REVISION: "3"}},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
            },
        }))
        .unwrap()
    }

    fn rs(name: &str, replicas: i32, annotations: serde_json::Value) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": name, "annotations": annotations},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}},
        }))
        .unwrap()
    }

    #[test]
    fn budgets_round_like_upstream() {
        let d = deployment(10, json!("25%"), json!("25%"));
        assert_eq!((max_surge(&d), max_unavailable(&d)), (3, 2));
        let d = deployment(3, json!(0), json!("10%"));
        assert_eq!((max_surge(&d), max_unavailable(&d)), (0, 1));
        let d = deployment(2, json!(1), json!(5));
        assert_eq!(max_unavailable(&d), 2);
    }

    #[test]
    fn the_new_replica_set_grows_within_the_surge() {
        let d = deployment(4, json!(1), json!(0));
        let old = rs("old", 4, json!({}));
        let new = rs("new", 0, json!({}));
        assert_eq!(new_rs_new_replicas(&d, &[&old, &new], &new), 1);
        let new = rs("new", 1, json!({}));
        assert_eq!(new_rs_new_replicas(&d, &[&old, &new], &new), 1);
        let old = rs("old", 3, json!({}));
        assert_eq!(new_rs_new_replicas(&d, &[&old, &new], &new), 2);
    }

    #[test]
    fn annotations_carry_revisions_and_history() {
        let d = deployment(3, json!(1), json!(0));
        let mut new = rs("new", 0, json!({}));
        assert!(set_new_rs_annotations(&d, &mut new, 1, false));
        assert_eq!(annotation(&new, REVISION), Some("1"));
        assert_eq!(annotation(&new, DESIRED_REPLICAS), Some("3"));
        assert_eq!(annotation(&new, MAX_REPLICAS), Some("4"));
        assert_eq!(annotation(&new, "kubernetes.io/change-cause"), Some("v2"));
        // A rollback to it: the revision moves up, the old one goes to the history.
        assert!(set_new_rs_annotations(&d, &mut new, 4, true));
        assert_eq!(annotation(&new, REVISION), Some("4"));
        assert_eq!(annotation(&new, REVISION_HISTORY), Some("1"));
        assert!(!set_new_rs_annotations(&d, &mut new, 4, true));
    }

    #[test]
    fn proportional_scaling_follows_max_replicas() {
        let d = deployment(15, json!(3), json!(0));
        let a = rs("a", 5, json!({MAX_REPLICAS: "13"}));
        // 5 * 18 / 13 = 6.9 -> 7, so +2.
        assert_eq!(proportion(&a, &d, 5, 0), 2);
        assert_eq!(proportion(&a, &d, 1, 0), 1);
    }

    #[test]
    fn conditions_keep_transition_times() {
        let mut status = DeploymentStatus::default();
        let mut first = new_condition(PROGRESSING, "True", NEW_RS_CREATED, "a");
        first.last_transition_time = Some(Time(jiff::Timestamp::from_second(1).unwrap()));
        set_condition(&mut status, first);
        set_condition(
            &mut status,
            new_condition(PROGRESSING, "True", RS_UPDATED, "b"),
        );
        let c = condition(&status, PROGRESSING).unwrap();
        assert_eq!(c.reason.as_deref(), Some(RS_UPDATED));
        assert_eq!(c.last_transition_time.as_ref().unwrap().0.as_second(), 1);
        set_condition(
            &mut status,
            new_condition(PROGRESSING, "False", TIMED_OUT, "c"),
        );
        let c = condition(&status, PROGRESSING).unwrap();
        assert_ne!(c.last_transition_time.as_ref().unwrap().0.as_second(), 1);
    }

    #[test]
    fn the_new_replica_set_is_the_one_with_the_template() {
        let d = deployment(3, json!(1), json!(0));
        let mut same = rs("same", 1, json!({}));
        let mut template = d.spec.as_ref().unwrap().template.clone();
        template
            .metadata
            .as_mut()
            .unwrap()
            .labels
            .as_mut()
            .unwrap()
            .insert(POD_TEMPLATE_HASH.into(), "abc".into());
        same.spec.as_mut().unwrap().template = Some(template);
        let other = rs("other", 1, json!({}));
        let (new, old) = split_new(&d, vec![other, same]);
        assert_eq!(new.unwrap().metadata.name.as_deref(), Some("same"));
        assert_eq!(old.len(), 1);
    }
}
