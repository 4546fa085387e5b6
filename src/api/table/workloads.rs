//! Tables of the pod controllers and their helpers: pod templates, replication controllers,
//! deployments, replica sets, stateful sets, daemon sets, controller revisions, jobs, cron jobs,
//! horizontal pod autoscalers and pod disruption budgets.

use serde_json::Value;

use super::Column;
use super::duration::{self, human_duration, parse_timestamp};
use super::fields::{
    age, bool_pointer, container_cells, format_label_selector, format_labels, int, int_opt,
    int_or_string, is_deleting, label_selector_string, list, name, non_empty, text, time_since,
};

const CONTAINERS: Column = Column::wide(
    "Containers",
    "The names of the containers in the pod template.",
);
const IMAGES: Column = Column::wide(
    "Images",
    "The images of the containers in the pod template.",
);
const SELECTOR: Column = Column::wide("Selector", "The label selector of the pods it manages.");

/// Replica counts default to one when unset, as the API server defaults them.
fn replicas(object: &Value) -> i64 {
    int_opt(object, "/spec/replicas").unwrap_or(1)
}

fn template_containers(object: &Value) -> (Value, Value) {
    container_cells(list(object, "/spec/template/spec/containers"))
}

pub(super) const POD_TEMPLATE_COLUMNS: &[Column] = &[
    Column::NAME,
    Column::text("Containers", "The names of the containers in the template."),
    Column::text("Images", "The images of the containers in the template."),
    Column::text(
        "Pod Labels",
        "The labels of the pods made from the template.",
    ),
];

pub(super) fn pod_template(object: &Value, _now: i64) -> Vec<Value> {
    let (names, images) = container_cells(list(object, "/template/spec/containers"));
    vec![
        name(object),
        names,
        images,
        Value::from(format_labels(object.pointer("/template/metadata/labels"))),
    ]
}

pub(super) const REPLICATION_CONTROLLER_COLUMNS: &[Column] = &[
    Column::NAME,
    Column::integer("Desired", "The number of pods wanted."),
    Column::integer("Current", "The number of pods that exist."),
    Column::integer("Ready", "The number of pods that are ready."),
    Column::AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

pub(super) fn replication_controller(object: &Value, now: i64) -> Vec<Value> {
    let (names, images) = template_containers(object);
    vec![
        name(object),
        Value::from(replicas(object)),
        Value::from(int(object, "/status/replicas")),
        Value::from(int(object, "/status/readyReplicas")),
        age(object, now),
        names,
        images,
        Value::from(format_labels(object.pointer("/spec/selector"))),
    ]
}

pub(super) const REPLICA_SET_COLUMNS: &[Column] = REPLICATION_CONTROLLER_COLUMNS;

pub(super) fn replica_set(object: &Value, now: i64) -> Vec<Value> {
    let (names, images) = template_containers(object);
    vec![
        name(object),
        Value::from(replicas(object)),
        Value::from(int(object, "/status/replicas")),
        Value::from(int(object, "/status/readyReplicas")),
        age(object, now),
        names,
        images,
        Value::from(format_label_selector(object.pointer("/spec/selector"))),
    ]
}

pub(super) const DEPLOYMENT_COLUMNS: &[Column] = &[
    Column::NAME,
    Column::text("Ready", "Ready pods out of the pods wanted."),
    Column::text("Up-to-date", "Pods running the latest template."),
    Column::text("Available", "Pods available to serve."),
    Column::AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

pub(super) fn deployment(object: &Value, now: i64) -> Vec<Value> {
    let (names, images) = template_containers(object);
    let selector = label_selector_string(object.pointer("/spec/selector"))
        .unwrap_or_else(|| "<invalid>".to_owned());
    vec![
        name(object),
        Value::from(format!(
            "{}/{}",
            int(object, "/status/readyReplicas"),
            replicas(object)
        )),
        Value::from(int(object, "/status/updatedReplicas")),
        Value::from(int(object, "/status/availableReplicas")),
        age(object, now),
        names,
        images,
        Value::from(selector),
    ]
}

pub(super) const STATEFUL_SET_COLUMNS: &[Column] = &[
    Column::NAME,
    Column::text("Ready", "Ready pods out of the pods wanted."),
    Column::AGE,
    CONTAINERS,
    IMAGES,
];

pub(super) fn stateful_set(object: &Value, now: i64) -> Vec<Value> {
    let (names, images) = template_containers(object);
    vec![
        name(object),
        Value::from(format!(
            "{}/{}",
            int(object, "/status/readyReplicas"),
            replicas(object)
        )),
        age(object, now),
        names,
        images,
    ]
}

pub(super) const DAEMON_SET_COLUMNS: &[Column] = &[
    Column::NAME,
    Column::integer("Desired", "The number of nodes that should run the pod."),
    Column::integer("Current", "The number of nodes running the pod."),
    Column::integer("Ready", "The number of nodes whose pod is ready."),
    Column::integer(
        "Up-to-date",
        "The number of nodes running the latest template.",
    ),
    Column::integer("Available", "The number of nodes whose pod is available."),
    Column::text(
        "Node Selector",
        "The node labels the pods are restricted to.",
    ),
    Column::AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

pub(super) fn daemon_set(object: &Value, now: i64) -> Vec<Value> {
    let (names, images) = template_containers(object);
    vec![
        name(object),
        Value::from(int(object, "/status/desiredNumberScheduled")),
        Value::from(int(object, "/status/currentNumberScheduled")),
        Value::from(int(object, "/status/numberReady")),
        Value::from(int(object, "/status/updatedNumberScheduled")),
        Value::from(int(object, "/status/numberAvailable")),
        Value::from(format_labels(
            object.pointer("/spec/template/spec/nodeSelector"),
        )),
        age(object, now),
        names,
        images,
        Value::from(format_label_selector(object.pointer("/spec/selector"))),
    ]
}

pub(super) const CONTROLLER_REVISION_COLUMNS: &[Column] = &[
    Column::NAME,
    Column::text(
        "Controller",
        "The object that owns the revision, as kind.group/name.",
    ),
    Column::text("Revision", "The revision number."),
    Column::AGE,
];

pub(super) fn controller_revision(object: &Value, now: i64) -> Vec<Value> {
    let controller = list(object, "/metadata/ownerReferences")
        .iter()
        .find(|owner| super::fields::boolean(owner, "/controller", false))
        .map_or_else(|| "<none>".to_owned(), owner_name);
    vec![
        name(object),
        Value::from(controller),
        Value::from(int(object, "/revision")),
        age(object, now),
    ]
}

/// An owner as `kind.group/name` in lower case (`statefulset.apps/web`), or just the name when
/// the owner has no kind.
fn owner_name(owner: &Value) -> String {
    let kind = text(owner, "/kind");
    let owner_name = text(owner, "/name");
    let api_version = text(owner, "/apiVersion");
    let group = api_version.split_once('/').map_or("", |(group, _)| group);
    match (kind.is_empty(), group.is_empty()) {
        (true, true) => owner_name.to_owned(),
        (_, true) => format!("{}/{owner_name}", kind.to_lowercase()),
        (_, false) => format!(
            "{}.{}/{owner_name}",
            kind.to_lowercase(),
            group.to_lowercase()
        ),
    }
}

pub(super) const JOB_COLUMNS: &[Column] = &[
    Column::NAME,
    Column::text(
        "Status",
        "Complete, Failed, Running, Suspended or Terminating.",
    ),
    Column::text(
        "Completions",
        "Succeeded pods out of the completions wanted.",
    ),
    Column::text("Duration", "How long the job ran, or has been running."),
    Column::AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

pub(super) fn job(object: &Value, now: i64) -> Vec<Value> {
    let succeeded = int(object, "/status/succeeded");
    let completions = match (
        int_opt(object, "/spec/completions"),
        int_opt(object, "/spec/parallelism"),
    ) {
        (Some(wanted), _) => format!("{succeeded}/{wanted}"),
        (None, Some(parallelism)) if parallelism > 1 => format!("{succeeded}/1 of {parallelism}"),
        (None, _) => format!("{succeeded}/1"),
    };
    let started = parse_timestamp(object.pointer("/status/startTime"));
    let finished = parse_timestamp(object.pointer("/status/completionTime"));
    let ran = match (started, finished) {
        (None, _) => String::new(),
        (Some(start), None) => {
            human_duration(duration::between(start, i128::from(now) * 1_000_000_000))
        }
        (Some(start), Some(end)) => human_duration(duration::between(start, end)),
    };
    let conditions = list(object, "/status/conditions");
    let status = if has_condition(conditions, "Complete") {
        "Complete"
    } else if has_condition(conditions, "Failed") {
        "Failed"
    } else if is_deleting(object) {
        "Terminating"
    } else if has_condition(conditions, "Suspended") {
        "Suspended"
    } else if has_condition(conditions, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (names, images) = template_containers(object);
    vec![
        name(object),
        Value::from(status),
        Value::from(completions),
        Value::from(ran),
        age(object, now),
        names,
        images,
        Value::from(format_label_selector(object.pointer("/spec/selector"))),
    ]
}

/// Whether the first condition of the type is True.
fn has_condition(conditions: &[Value], kind: &str) -> bool {
    conditions
        .iter()
        .find(|condition| text(condition, "/type") == kind)
        .is_some_and(|condition| text(condition, "/status") == "True")
}

pub(super) const CRON_JOB_COLUMNS: &[Column] = &[
    Column::NAME,
    Column::text("Schedule", "The cron schedule."),
    Column::text("Timezone", "The time zone of the schedule."),
    Column::boolean("Suspend", "Whether new runs are suspended."),
    Column::integer("Active", "The number of running jobs."),
    Column::text("Last Schedule", "Time since a job was last scheduled."),
    Column::AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

pub(super) fn cron_job(object: &Value, now: i64) -> Vec<Value> {
    let last_schedule = match object.pointer("/status/lastScheduleTime") {
        Some(at) if !at.is_null() => time_since(object, "/status/lastScheduleTime", now),
        _ => Value::from("<none>"),
    };
    let suspend = object
        .pointer("/spec/suspend")
        .filter(|found| !found.is_null())
        .unwrap_or(&Value::Bool(false));
    let (names, images) = container_cells(list(
        object,
        "/spec/jobTemplate/spec/template/spec/containers",
    ));
    vec![
        name(object),
        Value::from(text(object, "/spec/schedule")),
        Value::from(non_empty(object, "/spec/timeZone").unwrap_or("<none>")),
        Value::from(bool_pointer(Some(suspend))),
        Value::from(list(object, "/status/active").len()),
        last_schedule,
        age(object, now),
        names,
        images,
        Value::from(format_label_selector(
            object.pointer("/spec/jobTemplate/spec/selector"),
        )),
    ]
}

pub(super) const HPA_COLUMNS: &[Column] = &[
    Column::NAME,
    Column::text("Reference", "The scaled object, as kind/name."),
    Column::text(
        "Targets",
        "Current values of the metrics out of their targets.",
    ),
    Column::text("MinPods", "The fewest replicas the autoscaler scales to."),
    Column::text("MaxPods", "The most replicas the autoscaler scales to."),
    Column::text("Replicas", "The current number of replicas."),
    Column::AGE,
];

pub(super) fn horizontal_pod_autoscaler(object: &Value, now: i64) -> Vec<Value> {
    let reference = format!(
        "{}/{}",
        text(object, "/spec/scaleTargetRef/kind"),
        text(object, "/spec/scaleTargetRef/name")
    );
    let min_pods = int_opt(object, "/spec/minReplicas").unwrap_or(1);
    vec![
        name(object),
        Value::from(reference),
        Value::from(super::metrics::targets(object)),
        Value::from(min_pods.to_string()),
        Value::from(int(object, "/spec/maxReplicas")),
        Value::from(int(object, "/status/currentReplicas")),
        age(object, now),
    ]
}

pub(super) const PDB_COLUMNS: &[Column] = &[
    Column::NAME,
    Column::text(
        "Min Available",
        "Pods that must stay available, a count or a percentage.",
    ),
    Column::text(
        "Max Unavailable",
        "Pods that may be unavailable, a count or a percentage.",
    ),
    Column::integer(
        "Allowed Disruptions",
        "How many pods may be evicted right now.",
    ),
    Column::AGE,
];

pub(super) fn pod_disruption_budget(object: &Value, now: i64) -> Vec<Value> {
    let bound = |pointer: &str| {
        object
            .pointer(pointer)
            .filter(|found| !found.is_null())
            .map_or_else(|| "N/A".to_owned(), int_or_string)
    };
    vec![
        name(object),
        Value::from(bound("/spec/minAvailable")),
        Value::from(bound("/spec/maxUnavailable")),
        Value::from(int(object, "/status/disruptionsAllowed")),
        age(object, now),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// 2024-05-01T11:00:00Z: an hour after the objects below were created.
    const NOW: i64 = 1_714_561_200;

    fn meta(name: &str) -> Value {
        json!({"name": name, "namespace": "default", "creationTimestamp": "2024-05-01T10:00:00Z"})
    }

    fn template() -> Value {
        json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
            {"name": "web", "image": "nginx:1.27"}, {"name": "sidecar", "image": "busybox:1.36"}]}})
    }

    #[test]
    fn deployment_ready_up_to_date_available() {
        let deploy = json!({
            "metadata": meta("web"),
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template()},
            "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}
        });
        assert_eq!(
            deployment(&deploy, NOW),
            vec![
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("60m"),
                json!("web,sidecar"),
                json!("nginx:1.27,busybox:1.36"),
                json!("app=web")
            ]
        );
        let fresh = json!({"metadata": meta("new"), "spec": {"selector": {}}});
        assert_eq!(
            deployment(&fresh, NOW)[1..4],
            [json!("0/1"), json!(0), json!(0)]
        );
        assert_eq!(deployment(&fresh, NOW)[7], json!(""));
        let broken =
            json!({"spec": {"selector": {"matchExpressions": [{"key": "a", "operator": "In"}]}}});
        assert_eq!(deployment(&broken, NOW)[7], json!("<invalid>"));
    }

    #[test]
    fn replica_sets_and_replication_controllers() {
        let rs = json!({
            "metadata": meta("web-7d4b9c"),
            "spec": {"replicas": 2, "template": template(), "selector": {"matchLabels":
                {"app": "web", "pod-template-hash": "7d4b9c"}}},
            "status": {"replicas": 2, "readyReplicas": 1}
        });
        assert_eq!(
            replica_set(&rs, NOW),
            vec![
                json!("web-7d4b9c"),
                json!(2),
                json!(2),
                json!(1),
                json!("60m"),
                json!("web,sidecar"),
                json!("nginx:1.27,busybox:1.36"),
                json!("app=web,pod-template-hash=7d4b9c")
            ]
        );
        let rc = json!({"metadata": meta("legacy"), "spec": {"replicas": 0, "selector": {"app": "legacy"}}});
        assert_eq!(
            replication_controller(&rc, NOW),
            vec![
                json!("legacy"),
                json!(0),
                json!(0),
                json!(0),
                json!("60m"),
                json!(""),
                json!(""),
                json!("app=legacy")
            ]
        );
    }

    #[test]
    fn stateful_and_daemon_sets() {
        let sts = json!({"metadata": meta("db"), "spec": {"replicas": 3, "template": template()},
            "status": {"readyReplicas": 3}});
        assert_eq!(
            stateful_set(&sts, NOW)[..3],
            [json!("db"), json!("3/3"), json!("60m")]
        );
        let ds = json!({
            "metadata": meta("node-exporter"),
            "spec": {"selector": {"matchLabels": {"app": "node-exporter"}}, "template": {"spec": {
                "nodeSelector": {"kubernetes.io/os": "linux"}, "containers": [{"name": "exporter", "image": "prom/node-exporter"}]}}},
            "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
                "updatedNumberScheduled": 3, "numberAvailable": 2}
        });
        assert_eq!(
            daemon_set(&ds, NOW),
            vec![
                json!("node-exporter"),
                json!(3),
                json!(3),
                json!(2),
                json!(3),
                json!(2),
                json!("kubernetes.io/os=linux"),
                json!("60m"),
                json!("exporter"),
                json!("prom/node-exporter"),
                json!("app=node-exporter")
            ]
        );
        assert_eq!(daemon_set(&json!({}), NOW)[6], json!("<none>"));
    }

    #[test]
    fn controller_revisions_name_their_owner() {
        let revision = json!({
            "metadata": {"name": "db-5f7c", "creationTimestamp": "2024-05-01T10:00:00Z", "ownerReferences": [
                {"apiVersion": "v1", "kind": "Pod", "name": "other", "uid": "1"},
                {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "uid": "2", "controller": true}]},
            "revision": 2
        });
        assert_eq!(
            controller_revision(&revision, NOW),
            vec![
                json!("db-5f7c"),
                json!("statefulset.apps/db"),
                json!(2),
                json!("60m")
            ]
        );
        assert_eq!(
            controller_revision(&json!({}), NOW)[1..3],
            [json!("<none>"), json!(0)]
        );
        assert_eq!(
            owner_name(&json!({"apiVersion": "v1", "kind": "Node", "name": "a"})),
            "node/a"
        );
    }

    #[test]
    fn job_status_completions_and_duration() {
        let complete = json!({
            "metadata": meta("pi"),
            "spec": {"completions": 1, "parallelism": 1, "template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}},
                "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "5e1f"}}},
            "status": {"succeeded": 1, "startTime": "2024-05-01T10:00:00Z", "completionTime": "2024-05-01T10:00:42Z",
                "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]}
        });
        assert_eq!(
            job(&complete, NOW),
            vec![
                json!("pi"),
                json!("Complete"),
                json!("1/1"),
                json!("42s"),
                json!("60m"),
                json!("pi"),
                json!("perl"),
                json!("batch.kubernetes.io/controller-uid=5e1f")
            ]
        );
        let running = json!({"metadata": meta("work"), "spec": {"parallelism": 3},
            "status": {"active": 3, "startTime": "2024-05-01T10:50:00Z"}});
        assert_eq!(
            job(&running, NOW)[1..4],
            [json!("Running"), json!("0/1 of 3"), json!("10m")]
        );
        let failed = json!({"spec": {"completions": 5}, "status": {"succeeded": 2, "conditions": [
            {"type": "FailureTarget", "status": "True"}, {"type": "Failed", "status": "True"}]}});
        assert_eq!(
            job(&failed, NOW)[1..4],
            [json!("Failed"), json!("2/5"), json!("")]
        );
        let suspended = json!({"metadata": {"deletionTimestamp": "2024-05-01T10:59:00Z"},
            "status": {"conditions": [{"type": "Suspended", "status": "True"}]}});
        assert_eq!(
            job(&suspended, NOW)[1..3],
            [json!("Terminating"), json!("0/1")]
        );
        let paused = json!({"status": {"conditions": [{"type": "Suspended", "status": "True"}]}});
        assert_eq!(job(&paused, NOW)[1], json!("Suspended"));
    }

    #[test]
    fn cron_job_schedule_and_last_run() {
        let cron = json!({
            "metadata": meta("backup"),
            "spec": {"schedule": "*/5 * * * *", "timeZone": "Europe/Paris", "suspend": false, "jobTemplate": {"spec": {
                "template": {"spec": {"containers": [{"name": "backup", "image": "restic/restic"}]}}}}},
            "status": {"active": [{"name": "backup-28571230"}], "lastScheduleTime": "2024-05-01T10:55:00Z"}
        });
        assert_eq!(
            cron_job(&cron, NOW),
            vec![
                json!("backup"),
                json!("*/5 * * * *"),
                json!("Europe/Paris"),
                json!("False"),
                json!(1),
                json!("5m"),
                json!("60m"),
                json!("backup"),
                json!("restic/restic"),
                json!("<none>")
            ]
        );
        let idle = json!({"spec": {"schedule": "@daily", "suspend": true}});
        assert_eq!(
            cron_job(&idle, NOW)[1..6],
            [
                json!("@daily"),
                json!("<none>"),
                json!("True"),
                json!(0),
                json!("<none>")
            ]
        );
    }

    #[test]
    fn horizontal_pod_autoscaler_row() {
        let hpa = json!({
            "metadata": meta("web"),
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 2, "maxReplicas": 10, "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 80}}}]},
            "status": {"currentReplicas": 3, "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu",
                "current": {"averageUtilization": 45}}}]}
        });
        assert_eq!(
            horizontal_pod_autoscaler(&hpa, NOW),
            vec![
                json!("web"),
                json!("Deployment/web"),
                json!("cpu: 45%/80%"),
                json!("2"),
                json!(10),
                json!(3),
                json!("60m")
            ]
        );
        assert_eq!(
            horizontal_pod_autoscaler(&json!({}), NOW)[1..4],
            [json!("/"), json!("cpu: <unknown>/80%"), json!("1")]
        );
    }

    #[test]
    fn pod_disruption_budgets_and_templates() {
        let pdb = json!({"metadata": meta("web"), "spec": {"minAvailable": "50%"}, "status": {"disruptionsAllowed": 1}});
        assert_eq!(
            pod_disruption_budget(&pdb, NOW),
            vec![
                json!("web"),
                json!("50%"),
                json!("N/A"),
                json!(1),
                json!("60m")
            ]
        );
        let pdb = json!({"spec": {"maxUnavailable": 1}});
        assert_eq!(
            pod_disruption_budget(&pdb, NOW)[1..4],
            [json!("N/A"), json!("1"), json!(0)]
        );
        let pod_template = json!({"metadata": meta("tpl"), "template": template()});
        assert_eq!(
            super::pod_template(&pod_template, NOW),
            vec![
                json!("tpl"),
                json!("web,sidecar"),
                json!("nginx:1.27,busybox:1.36"),
                json!("app=web")
            ]
        );
    }
}
