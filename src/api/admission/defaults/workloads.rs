//! Defaults of the kinds that carry a pod template: PodTemplate and ReplicationController
//! (core/v1), Deployment, ReplicaSet, StatefulSet and DaemonSet (apps/v1), Job and CronJob
//! (batch/v1); plus the selector and labels the Job strategy generates from the Job's UID.

use serde_json::{Value, json};

use super::core_group::default_claim_spec;
use super::json::{
    Object, child, child_or_insert, children, default_string, default_template_metadata,
    default_value, is_empty, is_unset, string,
};
use super::pod::default_pod_template;

/// Label on a Job's pods naming the Job.
const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
/// The unprefixed label the Job strategy still writes beside [`JOB_NAME_LABEL`].
const LEGACY_JOB_NAME_LABEL: &str = "job-name";
/// Label on a Job's pods carrying the Job's UID; the generated selector matches it.
const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
/// The unprefixed label the Job strategy still writes beside [`CONTROLLER_UID_LABEL`].
const LEGACY_CONTROLLER_UID_LABEL: &str = "controller-uid";

/// `SetObjectDefaults_PodTemplate`: only the template's pod spec.
pub(super) fn default_pod_template_object(pod_template: &mut Object) {
    if let Some(template) = child_or_insert(pod_template, "template") {
        default_pod_template(template);
    }
}

/// `SetDefaults_ReplicationController`: selector and labels from the template's labels, one
/// replica (a `+default` marker), and the template's pod spec.
pub(super) fn default_replication_controller(controller: &mut Object) {
    let template_labels = controller
        .get("spec")
        .and_then(|spec| spec.get("template"))
        .and_then(|template| template.get("metadata"))
        .and_then(|metadata| metadata.get("labels"))
        .filter(|labels| labels.is_object())
        .cloned();
    if let Some(labels) = template_labels {
        if let Some(spec) = child(controller, "spec")
            && is_empty(spec, "selector")
        {
            spec.insert("selector".to_string(), labels.clone());
        }
        copy_labels_if_empty(controller, labels);
    }
    let Some(spec) = child_or_insert(controller, "spec") else {
        return;
    };
    default_value(spec, "replicas", json!(1));
    if let Some(template) = child(spec, "template") {
        default_pod_template(template);
    }
}

/// Sets `metadata.labels` to `labels` when the object has none.
fn copy_labels_if_empty(object: &mut Object, labels: Value) {
    let Some(metadata) = child_or_insert(object, "metadata") else {
        return;
    };
    if is_empty(metadata, "labels") {
        metadata.insert("labels".to_string(), labels);
    }
}

/// `SetDefaults_Deployment`.
pub(super) fn default_deployment(deployment: &mut Object) {
    let Some(spec) = child_or_insert(deployment, "spec") else {
        return;
    };
    default_value(spec, "replicas", json!(1));
    if let Some(strategy) = child_or_insert(spec, "strategy") {
        default_string(strategy, "type", "RollingUpdate");
        if string(strategy, "type") == Some("RollingUpdate")
            && let Some(rolling) = child_or_insert(strategy, "rollingUpdate")
        {
            default_value(rolling, "maxUnavailable", json!("25%"));
            default_value(rolling, "maxSurge", json!("25%"));
        }
    }
    default_value(spec, "revisionHistoryLimit", json!(10));
    default_value(spec, "progressDeadlineSeconds", json!(600));
    default_template(spec);
}

/// `SetDefaults_ReplicaSet`.
pub(super) fn default_replica_set(replica_set: &mut Object) {
    let Some(spec) = child_or_insert(replica_set, "spec") else {
        return;
    };
    default_value(spec, "replicas", json!(1));
    default_template(spec);
}

/// `SetDefaults_DaemonSet`.
pub(super) fn default_daemon_set(daemon_set: &mut Object) {
    let Some(spec) = child_or_insert(daemon_set, "spec") else {
        return;
    };
    if let Some(strategy) = child_or_insert(spec, "updateStrategy") {
        default_string(strategy, "type", "RollingUpdate");
        if string(strategy, "type") == Some("RollingUpdate")
            && let Some(rolling) = child_or_insert(strategy, "rollingUpdate")
        {
            default_value(rolling, "maxUnavailable", json!(1));
            default_value(rolling, "maxSurge", json!(0));
        }
    }
    default_value(spec, "revisionHistoryLimit", json!(10));
    default_template(spec);
}

/// `SetDefaults_StatefulSet` (with `MaxUnavailableStatefulSet` and `StatefulSetAutoDeletePVC`
/// on, as they are by default), the claim templates' defaults, and the `apiVersion`/`kind`
/// output conversion writes into each claim template.
pub(super) fn default_stateful_set(stateful_set: &mut Object) {
    let Some(spec) = child_or_insert(stateful_set, "spec") else {
        return;
    };
    default_string(spec, "podManagementPolicy", "OrderedReady");
    if let Some(strategy) = child_or_insert(spec, "updateStrategy") {
        let type_unset = match strategy.get("type") {
            None | Some(Value::Null) => true,
            Some(Value::String(kind)) => kind.is_empty(),
            Some(_) => false,
        };
        if type_unset {
            strategy.insert("type".to_string(), json!("RollingUpdate"));
            default_value(strategy, "rollingUpdate", json!({}));
        }
        if string(strategy, "type") == Some("RollingUpdate")
            && let Some(rolling) = child(strategy, "rollingUpdate")
        {
            default_value(rolling, "partition", json!(0));
            default_value(rolling, "maxUnavailable", json!(1));
        }
    }
    if let Some(policy) = child_or_insert(spec, "persistentVolumeClaimRetentionPolicy") {
        default_string(policy, "whenDeleted", "Retain");
        default_string(policy, "whenScaled", "Retain");
    }
    default_value(spec, "replicas", json!(1));
    default_value(spec, "revisionHistoryLimit", json!(10));
    default_template(spec);
    for claim in children(spec, "volumeClaimTemplates") {
        claim.insert("apiVersion".to_string(), json!("v1"));
        claim.insert("kind".to_string(), json!("PersistentVolumeClaim"));
        default_template_metadata(claim);
        if let Some(claim_spec) = child_or_insert(claim, "spec") {
            default_claim_spec(claim_spec);
        }
        if let Some(status) = child_or_insert(claim, "status") {
            default_string(status, "phase", "Pending");
        }
    }
}

/// `SetDefaults_Job`, with `JobPodReplacementPolicy` on as it is by default.
pub(super) fn default_job(job: &mut Object) {
    let template_labels = job
        .get("spec")
        .and_then(|spec| spec.get("template"))
        .and_then(|template| template.get("metadata"))
        .and_then(|metadata| metadata.get("labels"))
        .filter(|labels| labels.is_object())
        .cloned();
    if let Some(labels) = template_labels {
        copy_labels_if_empty(job, labels);
    }
    let Some(spec) = child_or_insert(job, "spec") else {
        return;
    };
    if is_unset(spec, "completions") && is_unset(spec, "parallelism") {
        spec.insert("completions".to_string(), json!(1));
        spec.insert("parallelism".to_string(), json!(1));
    }
    default_value(spec, "parallelism", json!(1));
    let backoff_limit = if is_unset(spec, "backoffLimitPerIndex") {
        6
    } else {
        i64::from(i32::MAX)
    };
    default_value(spec, "backoffLimit", json!(backoff_limit));
    default_value(spec, "completionMode", json!("NonIndexed"));
    default_value(spec, "suspend", Value::Bool(false));
    let replacement = if is_unset(spec, "podFailurePolicy") {
        "TerminatingOrFailed"
    } else {
        "Failed"
    };
    default_value(spec, "podReplacementPolicy", json!(replacement));
    default_value(spec, "manualSelector", Value::Bool(false));
    default_job_spec_types(spec);
}

/// The defaulters that apply to every `JobSpec`, also inside a CronJob's job template:
/// pod failure policy condition patterns and the pod template.
fn default_job_spec_types(spec: &mut Object) {
    if let Some(policy) = child(spec, "podFailurePolicy") {
        for rule in children(policy, "rules") {
            for pattern in children(rule, "onPodConditions") {
                default_string(pattern, "status", "True");
            }
        }
    }
    default_template(spec);
}

/// `SetDefaults_CronJob`, and the job template's nested defaults (`SetDefaults_Job` itself
/// applies to Jobs only, not to the template).
pub(super) fn default_cron_job(cron_job: &mut Object) {
    let Some(spec) = child_or_insert(cron_job, "spec") else {
        return;
    };
    default_string(spec, "concurrencyPolicy", "Allow");
    default_value(spec, "suspend", Value::Bool(false));
    default_value(spec, "successfulJobsHistoryLimit", json!(3));
    default_value(spec, "failedJobsHistoryLimit", json!(1));
    if let Some(job_template) = child_or_insert(spec, "jobTemplate") {
        default_template_metadata(job_template);
        if let Some(job_spec) = child_or_insert(job_template, "spec") {
            default_job_spec_types(job_spec);
        }
    }
}

/// The pod template under `spec.template`, which is a plain struct and so always present.
fn default_template(spec: &mut Object) {
    if let Some(template) = child_or_insert(spec, "template") {
        default_pod_template(template);
    }
}

/// Adds the labels and selector the Job strategy generates on create unless
/// `spec.manualSelector` is true: `batch.kubernetes.io/job-name` and `job-name` set to the
/// Job's name and `batch.kubernetes.io/controller-uid` and `controller-uid` set to `uid` on the
/// pod template (labels already present are kept, validation reports conflicts), and a
/// `spec.selector.matchLabels` entry for `batch.kubernetes.io/controller-uid`.
///
/// Call it after the name is generated and the UID assigned. Upstream applies defaults again
/// when it reads the object back, so a Job created without labels also gets the template's
/// labels as its own; this function does that too.
pub fn generate_job_selector(job: &mut Value, uid: &str) {
    let Some(job) = job.as_object_mut() else {
        return;
    };
    let name = job
        .get("metadata")
        .and_then(|metadata| metadata.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let Some(spec) = child_or_insert(job, "spec") else {
        return;
    };
    if spec.get("manualSelector") == Some(&Value::Bool(true)) {
        return;
    }
    let Some(labels) = child_or_insert(spec, "template")
        .and_then(|template| child_or_insert(template, "metadata"))
        .and_then(|metadata| child_or_insert(metadata, "labels"))
    else {
        return;
    };
    for (key, value) in [
        (LEGACY_JOB_NAME_LABEL, name.as_str()),
        (JOB_NAME_LABEL, name.as_str()),
        (LEGACY_CONTROLLER_UID_LABEL, uid),
        (CONTROLLER_UID_LABEL, uid),
    ] {
        labels
            .entry(key.to_string())
            .or_insert_with(|| Value::String(value.to_string()));
    }
    let template_labels = Value::Object(labels.clone());
    if let Some(match_labels) = child_or_insert(spec, "selector")
        .and_then(|selector| child_or_insert(selector, "matchLabels"))
    {
        match_labels
            .entry(CONTROLLER_UID_LABEL.to_string())
            .or_insert_with(|| Value::String(uid.to_string()));
    }
    copy_labels_if_empty(job, template_labels);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> Object {
        match value {
            Value::Object(fields) => fields,
            _ => Object::new(),
        }
    }

    #[test]
    fn recreate_deployment_gets_no_rolling_update() {
        let mut deployment =
            object(json!({"spec": {"strategy": {"type": "Recreate"}, "replicas": 0}}));
        default_deployment(&mut deployment);
        assert_eq!(deployment["spec"]["strategy"], json!({"type": "Recreate"}));
        assert_eq!(deployment["spec"]["replicas"], json!(0));
    }

    #[test]
    fn daemon_set_defaults() {
        let mut daemon_set = object(json!({"spec": {"template": {"spec": {"containers": []}}}}));
        default_daemon_set(&mut daemon_set);
        assert_eq!(
            daemon_set["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
        );
        assert_eq!(daemon_set["spec"]["revisionHistoryLimit"], json!(10));
    }

    #[test]
    fn stateful_set_defaults() {
        let mut stateful_set = object(json!({"spec": {
            "serviceName": "web",
            "template": {"spec": {"containers": []}},
            "volumeClaimTemplates": [{"metadata": {"name": "www"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1024Mi"}}}}]
        }}));
        default_stateful_set(&mut stateful_set);
        let spec = &stateful_set["spec"];
        assert_eq!(spec["podManagementPolicy"], json!("OrderedReady"));
        assert_eq!(
            spec["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0, "maxUnavailable": 1}})
        );
        assert_eq!(
            spec["persistentVolumeClaimRetentionPolicy"],
            json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
        );
        assert_eq!(spec["replicas"], json!(1));
        assert_eq!(spec["revisionHistoryLimit"], json!(10));
        assert_eq!(
            spec["volumeClaimTemplates"],
            json!([{
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": "www"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, "volumeMode": "Filesystem"},
                "status": {"phase": "Pending"}
            }])
        );
    }

    #[test]
    fn stateful_set_on_delete_strategy_is_kept() {
        let mut stateful_set = object(json!({"spec": {"updateStrategy": {"type": "OnDelete"}}}));
        default_stateful_set(&mut stateful_set);
        assert_eq!(
            stateful_set["spec"]["updateStrategy"],
            json!({"type": "OnDelete"})
        );
    }

    #[test]
    fn explicit_rolling_update_without_parameters_stays_bare() {
        let mut stateful_set =
            object(json!({"spec": {"updateStrategy": {"type": "RollingUpdate"}}}));
        default_stateful_set(&mut stateful_set);
        assert_eq!(
            stateful_set["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate"})
        );
    }

    #[test]
    fn replication_controller_takes_selector_and_labels_from_template() {
        let mut controller = object(
            json!({"metadata": {"name": "rc"}, "spec": {"template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": []}}}}),
        );
        default_replication_controller(&mut controller);
        assert_eq!(controller["metadata"]["labels"], json!({"app": "x"}));
        assert_eq!(controller["spec"]["selector"], json!({"app": "x"}));
        assert_eq!(controller["spec"]["replicas"], json!(1));
        assert_eq!(
            controller["spec"]["template"]["spec"]["restartPolicy"],
            json!("Always")
        );
    }

    #[test]
    fn job_with_parallelism_only_leaves_completions_unset() {
        let mut job = object(
            json!({"spec": {"parallelism": 3, "backoffLimitPerIndex": 1, "completionMode": "Indexed", "completions": null}}),
        );
        default_job(&mut job);
        assert_eq!(job["spec"]["completions"], Value::Null);
        assert_eq!(job["spec"]["parallelism"], json!(3));
        assert_eq!(job["spec"]["backoffLimit"], json!(2147483647));
        assert_eq!(job["spec"]["completionMode"], json!("Indexed"));
    }

    #[test]
    fn job_pod_failure_policy_defaults() {
        let mut job = object(
            json!({"spec": {"podFailurePolicy": {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}}}),
        );
        default_job(&mut job);
        assert_eq!(job["spec"]["podReplacementPolicy"], json!("Failed"));
        assert_eq!(
            job["spec"]["podFailurePolicy"]["rules"][0]["onPodConditions"][0]["status"],
            json!("True")
        );
    }

    #[test]
    fn manual_selector_is_respected() {
        let mut job = json!({"metadata": {"name": "j"}, "spec": {"manualSelector": true, "selector": {"matchLabels": {"a": "b"}}}});
        let before = job.clone();
        generate_job_selector(&mut job, "uid-1");
        assert_eq!(job, before);
    }
}
