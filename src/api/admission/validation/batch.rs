//! Jobs and CronJobs: counts, completion modes, the generated selector, restart policies, what
//! an update may change (the template only while suspended and never started), status
//! consistency, and CronJob schedules (pod failure and success policies: `job_policies`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::cron::{parse_schedule, time_zone_errors};
use super::job_policies::{invalid_omitted, pod_failure_policy, success_policy};
use super::json::{Node, semantically_equal};
use super::meta::{
    FIELD_IMMUTABLE, immutable, nonnegative, parse_label_selector, validate_label_selector,
};
use super::names::dns1123_label_errors;
use super::names::domain_prefixed_path_errors;
use super::pod::validate_pod_template_spec;
use crate::api::field_error::{FieldError, Path};

const MAX_PARALLELISM_INDEXED: i64 = 100_000;
const MAX_FAILED_INDEXES: i64 = 100_000;
const COMPLETIONS_SOFT_LIMIT: i64 = 100_000;
const PARALLELISM_HIGH_COMPLETIONS: i64 = 10_000;
const MAX_FAILED_INDEXES_HIGH_COMPLETIONS: i64 = 10_000;

fn has_label(template: &Node, key: &str, expected: &str, errs: &mut Vec<FieldError>) {
    let labels_node = template.at(&["metadata", "labels"]);
    let labels = labels_node.string_map(&mut Vec::new());
    let path = template.path().child("metadata").child("labels").key(key);
    match labels.get(key) {
        None => errs.push(FieldError::required(path, &format!("must be '{expected}'"))),
        Some(v) if *v != expected => errs.push(FieldError::invalid(
            path,
            labels_node.value(),
            &format!("must be '{expected}'"),
        )),
        Some(_) => {}
    }
}

/// Upstream's `validateGeneratedSelector` (skipped for `manualSelector: true`).
fn generated_selector(obj: &Node, errs: &mut Vec<FieldError>) {
    let spec = obj.field("spec");
    let mut ignored = Vec::new();
    if spec.field("manualSelector").bool(&mut ignored) || !spec.field("selector").is_set() {
        return;
    }
    let uid = obj.at(&["metadata", "uid"]).str(&mut ignored);
    let name = obj.at(&["metadata", "name"]).str(&mut ignored);
    if uid.is_empty() {
        errs.push(FieldError::required(
            Path::root("metadata").child("uid"),
            "",
        ));
    }
    let template = spec.field("template");
    let expected = [
        ("controller-uid", uid),
        ("job-name", name),
        ("batch.kubernetes.io/controller-uid", uid),
        ("batch.kubernetes.io/job-name", name),
    ];
    for (key, value) in expected {
        has_label(&template, key, value, errs);
    }
    let labels: BTreeMap<&str, &str> = expected.into_iter().collect();
    if let Ok(Some(selector)) = parse_label_selector(&spec.field("selector"))
        && !selector.matches(&labels)
    {
        errs.push(FieldError::invalid(
            Path::root("spec").child("selector"),
            spec.field("selector").value(),
            "`selector` not auto-generated",
        ));
    }
}

/// Upstream's `validateJobSpec` (shared by Jobs and CronJob job templates).
fn job_spec(spec: &Node, errs: &mut Vec<FieldError>) {
    for key in [
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
        "backoffLimitPerIndex",
    ] {
        nonnegative(&spec.field(key), errs);
    }
    let (per_index, max_failed) = (
        spec.field("backoffLimitPerIndex"),
        spec.field("maxFailedIndexes"),
    );
    if max_failed.is_set() {
        nonnegative(&max_failed, errs);
        if !per_index.is_set() {
            errs.push(FieldError::required(
                per_index.path(),
                "when maxFailedIndexes is specified",
            ));
        }
    }
    let managed_by = spec.field("managedBy");
    if let Some(m) = managed_by.opt_str(errs) {
        errs.extend(domain_prefixed_path_errors(managed_by.path(), m));
        if m.len() > 63 {
            errs.push(FieldError::too_long(managed_by.path(), 63));
        }
    }
    let mut ignored = Vec::new();
    let mode_node = spec.field("completionMode");
    let mode = mode_node.opt_str(errs);
    let (completions, parallelism) = (
        spec.field("completions").opt_int(&mut ignored),
        spec.field("parallelism").opt_int(&mut ignored),
    );
    let max_failed_value = max_failed.opt_int(&mut ignored);
    if let Some(m) = mode
        && m != "NonIndexed"
        && m != "Indexed"
    {
        errs.push(FieldError::not_supported(
            mode_node.path(),
            &Value::from(m),
            &["NonIndexed", "Indexed"],
        ));
    }
    if mode == Some("Indexed") {
        if completions.is_none() {
            errs.push(FieldError::required(
                spec.path().child("completions"),
                "when completion mode is Indexed",
            ));
        }
        if let Some(p) = parallelism.filter(|p| *p > MAX_PARALLELISM_INDEXED) {
            errs.push(FieldError::invalid(spec.path().child("parallelism"), &Value::from(p), &format!("must be less than or equal to {MAX_PARALLELISM_INDEXED} when completion mode is Indexed")));
        }
        if let (Some(c), Some(m)) = (completions, max_failed_value)
            && m > c
        {
            errs.push(FieldError::invalid(
                max_failed.path(),
                &Value::from(m),
                "must be less than or equal to completions",
            ));
        }
        if let Some(m) = max_failed_value.filter(|m| *m > MAX_FAILED_INDEXES) {
            errs.push(FieldError::invalid(
                max_failed.path(),
                &Value::from(m),
                &format!("must be less than or equal to {MAX_FAILED_INDEXES}"),
            ));
        }
        if completions.is_some_and(|c| c > COMPLETIONS_SOFT_LIMIT) && per_index.is_set() {
            if max_failed_value.is_none() {
                errs.push(FieldError::required(
                    max_failed.path(),
                    &format!(
                        "must be specified when completions is above {COMPLETIONS_SOFT_LIMIT}"
                    ),
                ));
            }
            let suffix = format!(
                "when completions are above {COMPLETIONS_SOFT_LIMIT} and used with backoff limit per index"
            );
            if let Some(p) = parallelism.filter(|p| *p > PARALLELISM_HIGH_COMPLETIONS) {
                errs.push(FieldError::invalid(
                    spec.path().child("parallelism"),
                    &Value::from(p),
                    &format!(
                        "must be less than or equal to {PARALLELISM_HIGH_COMPLETIONS} {suffix}"
                    ),
                ));
            }
            if let Some(m) = max_failed_value.filter(|m| *m > MAX_FAILED_INDEXES_HIGH_COMPLETIONS) {
                errs.push(FieldError::invalid(max_failed.path(), &Value::from(m), &format!("must be less than or equal to {MAX_FAILED_INDEXES_HIGH_COMPLETIONS} {suffix}")));
            }
        }
    } else {
        for node in [&per_index, &max_failed] {
            if let Some(v) = node.opt_int(&mut ignored) {
                errs.push(FieldError::invalid(
                    node.path(),
                    &Value::from(v),
                    "requires indexed completion mode",
                ));
            }
        }
    }
    let has_failure_policy = spec.field("podFailurePolicy").is_set();
    if has_failure_policy {
        pod_failure_policy(spec, errs);
    }
    let success = spec.field("successPolicy");
    if success.is_set() {
        if mode != Some("Indexed") {
            errs.push(FieldError::invalid(
                success.path(),
                success.value(),
                "requires indexed completion mode",
            ));
        } else {
            success_policy(spec, errs);
        }
    }
    let replacement = spec.field("podReplacementPolicy");
    if let Some(r) = replacement.opt_str(errs) {
        if has_failure_policy && r != "Failed" {
            errs.push(FieldError::not_supported(
                replacement.path(),
                &Value::from(r),
                &["Failed"],
            ));
        } else if r != "Failed" && r != "TerminatingOrFailed" {
            errs.push(FieldError::not_supported(
                replacement.path(),
                &Value::from(r),
                &["Failed", "TerminatingOrFailed"],
            ));
        }
    }
    let template = spec.field("template");
    validate_pod_template_spec(&template, errs);
    let restart = template.at(&["spec", "restartPolicy"]);
    match restart.str(&mut ignored) {
        "Always" | "" => errs.push(FieldError::required(
            restart.path(),
            "valid values: \"OnFailure\", \"Never\"",
        )),
        "OnFailure" if has_failure_policy => errs.push(FieldError::invalid(
            restart.path(),
            &Value::from("OnFailure"),
            "only \"Never\" is supported when podFailurePolicy is specified",
        )),
        "OnFailure" | "Never" => {}
        other => errs.push(FieldError::not_supported(
            restart.path(),
            &Value::from(other),
            &["OnFailure", "Never"],
        )),
    }
}

/// Upstream's `ValidateJobSpec`: the shared checks plus a required selector matching the template.
fn job_spec_with_selector(spec: &Node, errs: &mut Vec<FieldError>) {
    job_spec(spec, errs);
    let selector = spec.field("selector");
    if !selector.is_set() {
        errs.push(FieldError::required(selector.path(), ""));
    } else {
        validate_label_selector(&selector, false, errs);
    }
    if let Ok(sel) = parse_label_selector(&selector) {
        let labels = spec.at(&["template", "metadata", "labels"]);
        if !sel.is_some_and(|s| s.matches(&labels.string_map(&mut Vec::new()))) {
            errs.push(FieldError::invalid(
                spec.path()
                    .child("template")
                    .child("metadata")
                    .child("labels"),
                labels.value(),
                "`selector` does not match template `labels`",
            ));
        }
    }
}

/// A new Job (everything but the metadata).
pub(crate) fn validate_job(obj: &Node, errs: &mut Vec<FieldError>) {
    generated_selector(obj, errs);
    let spec = obj.field("spec");
    job_spec_with_selector(&spec, errs);
    let mut ignored = Vec::new();
    if spec.field("completionMode").str(&mut ignored) == "Indexed"
        && let Some(c) = spec
            .field("completions")
            .opt_int(&mut ignored)
            .filter(|c| *c > 0)
    {
        let name = obj.at(&["metadata", "name"]).str(&mut ignored);
        let hostname = format!("{name}-{}", c - 1);
        if !dns1123_label_errors(&hostname).is_empty() {
            errs.push(FieldError::invalid(
                Path::root("metadata").child("name"),
                &Value::from(name),
                &format!("will not able to create pod with invalid DNS label: {hostname}"),
            ));
        }
    }
}

fn without(value: &Value, paths: &[&[&str]]) -> Value {
    let mut v = value.clone();
    for path in paths {
        let Some((last, parents)) = path.split_last() else {
            continue;
        };
        let pointer: String = parents.iter().map(|p| format!("/{p}")).collect();
        if let Some(Value::Object(map)) = v.pointer_mut(&pointer) {
            map.remove(*last);
        }
    }
    v
}

/// A Job update: selector, completion mode, policies and (unless suspended and never
/// started) the template are fixed; indexed jobs may scale completions with parallelism.
pub(crate) fn validate_job_update(new: &Node, old: &Node, errs: &mut Vec<FieldError>) {
    let (spec, old_spec) = (new.field("spec"), old.field("spec"));
    job_spec_with_selector(&spec, errs);
    let mut ignored = Vec::new();
    let completions = spec.field("completions");
    if !semantically_equal(completions.value(), old_spec.field("completions").value()) {
        let indexed = spec.field("completionMode").str(&mut ignored) == "Indexed";
        if !indexed {
            errs.push(FieldError::invalid(
                completions.path(),
                completions.value(),
                FIELD_IMMUTABLE,
            ));
        } else if let Some(c) = completions.opt_int(&mut ignored)
            && Some(c) != spec.field("parallelism").opt_int(&mut ignored)
        {
            errs.push(FieldError::invalid(
                completions.path(),
                &Value::from(c),
                "can only be modified in tandem with spec.parallelism",
            ));
        }
    }
    immutable(&spec.field("selector"), &old_spec.field("selector"), errs);
    let template = spec.field("template");
    let mutable_scheduling =
        spec.field("suspend").bool(&mut ignored) && !old.at(&["status", "startTime"]).is_set();
    let (new_t, old_t) = if mutable_scheduling {
        let ignored_paths: &[&[&str]] = &[
            &["spec", "affinity", "nodeAffinity"],
            &["spec", "nodeSelector"],
            &["spec", "tolerations"],
            &["metadata", "annotations"],
            &["metadata", "labels"],
            &["spec", "schedulingGates"],
        ];
        (
            without(template.value(), ignored_paths),
            without(old_spec.field("template").value(), ignored_paths),
        )
    } else {
        (
            template.value().clone(),
            old_spec.field("template").value().clone(),
        )
    };
    if !semantically_equal(&new_t, &old_t) {
        errs.push(FieldError::invalid(
            template.path(),
            template.value(),
            FIELD_IMMUTABLE,
        ));
    }
    for key in [
        "completionMode",
        "podFailurePolicy",
        "backoffLimitPerIndex",
        "managedBy",
        "successPolicy",
    ] {
        immutable(&spec.field(key), &old_spec.field(key), errs);
    }
}

fn condition_true(status: &Node, kind: &str) -> bool {
    let mut ignored = Vec::new();
    status
        .field("conditions")
        .items(&mut ignored)
        .iter()
        .any(|c| {
            c.field("type").str(&mut Vec::new()) == kind
                && c.field("status").str(&mut Vec::new()) == "True"
        })
}

/// A Job status update: counters, uncounted pods, and consistent terminal conditions.
pub(crate) fn validate_job_status(new: &Node, old: &Node, errs: &mut Vec<FieldError>) {
    let status = new.field("status");
    for key in ["active", "succeeded", "failed", "ready", "terminating"] {
        nonnegative(&status.field(key), errs);
    }
    let uncounted = status.field("uncountedTerminatedPods");
    let mut seen = BTreeSet::new();
    for list in ["succeeded", "failed"] {
        for uid in uncounted.field(list).items(errs) {
            let u = uid.str(errs);
            if u.is_empty() {
                errs.push(FieldError::invalid(
                    uid.path(),
                    &Value::from(u),
                    "must not be empty",
                ));
            } else if !seen.insert(u) {
                errs.push(FieldError::duplicate(uid.path(), &Value::from(u)));
            }
        }
    }
    let conditions = status.path().child("conditions");
    let (complete, failed) = (
        condition_true(&status, "Complete"),
        condition_true(&status, "Failed"),
    );
    if complete && failed {
        errs.push(invalid_omitted(
            &conditions,
            "cannot set Complete=True and Failed=true conditions",
        ));
    }
    let completion_time = status.field("completionTime");
    if completion_time.is_set() && !complete {
        errs.push(FieldError::invalid(
            completion_time.path(),
            completion_time.value(),
            "cannot set completionTime when there is no Complete=True condition",
        ));
    }
    if complete && !completion_time.is_set() {
        errs.push(FieldError::required(
            completion_time.path(),
            "completionTime is required for Complete jobs",
        ));
    }
    let mut ignored = Vec::new();
    let active = status.field("active").int(&mut ignored);
    if (complete || failed) && active > 0 {
        errs.push(FieldError::invalid(
            status.path().child("active"),
            &Value::from(active),
            "active>0 is invalid for finished job",
        ));
    }
    if let Some(ready) = status.field("ready").opt_int(&mut ignored)
        && ready > active
    {
        errs.push(FieldError::invalid(
            status.path().child("ready"),
            &Value::from(ready),
            "cannot set more ready pods than active",
        ));
    }
    let old_status = old.field("status");
    for kind in ["Failed", "Complete", "FailureTarget"] {
        if condition_true(&old_status, kind) && !condition_true(&status, kind) {
            errs.push(invalid_omitted(
                &conditions,
                &format!("cannot disable the terminal {kind}=True condition"),
            ));
        }
    }
    for key in ["failed", "succeeded"] {
        let (n, o) = (
            status.field(key).int(&mut ignored),
            old_status.field(key).int(&mut ignored),
        );
        if n < o {
            errs.push(FieldError::invalid(
                status.path().child(key),
                &Value::from(n),
                &format!("cannot decrease the {key} counter"),
            ));
        }
    }
}

fn job_template(template: &Node, errs: &mut Vec<FieldError>) {
    let spec = template.field("spec");
    job_spec(&spec, errs);
    let selector = spec.field("selector");
    if selector.is_set() {
        errs.push(FieldError::invalid(
            selector.path(),
            selector.value(),
            "`selector` will be auto-generated",
        ));
    }
    let manual = spec.field("manualSelector");
    if manual.opt_bool(errs) == Some(true) {
        errs.push(FieldError::not_supported(
            manual.path(),
            &Value::from(true),
            &["nil", "false"],
        ));
    }
}

/// CronJob spec checks; `old` is the previous object on update.
pub(crate) fn validate_cron_job(obj: &Node, old: Option<&Node>, errs: &mut Vec<FieldError>) {
    let spec = obj.field("spec");
    let mut ignored = Vec::new();
    let old_spec = old.map(|o| o.field("spec"));
    let schedule_node = spec.field("schedule");
    let schedule = schedule_node.str(errs);
    let time_zone = spec.field("timeZone");
    if schedule.is_empty() {
        errs.push(FieldError::required(schedule_node.path(), ""));
    } else {
        let allow_tz = old_spec
            .as_ref()
            .is_some_and(|o| o.field("schedule").str(&mut ignored).contains("TZ"));
        let shown = Value::from(schedule);
        if let Err(e) = parse_schedule(schedule) {
            errs.push(FieldError::invalid(schedule_node.path(), &shown, &e));
        }
        if allow_tz && schedule.contains("TZ") && time_zone.is_set() {
            errs.push(FieldError::invalid(
                schedule_node.path(),
                &shown,
                "cannot use both timeZone field and TZ or CRON_TZ in schedule",
            ));
        } else if !allow_tz && schedule.contains("TZ") {
            errs.push(FieldError::invalid(
                schedule_node.path(),
                &shown,
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            ));
        }
    }
    nonnegative(&spec.field("startingDeadlineSeconds"), errs);
    let tz_changed = old_spec
        .as_ref()
        .is_none_or(|o| o.field("timeZone").value() != time_zone.value());
    if tz_changed && let Some(tz) = time_zone.opt_str(errs) {
        for msg in time_zone_errors(tz) {
            errs.push(FieldError::invalid(
                time_zone.path(),
                &Value::from(tz),
                &msg,
            ));
        }
    }
    let policy = spec.field("concurrencyPolicy");
    match policy.str(errs) {
        "Allow" | "Forbid" | "Replace" => {}
        "" => errs.push(FieldError::required(policy.path(), "")),
        other => errs.push(FieldError::not_supported(
            policy.path(),
            &Value::from(other),
            &["Allow", "Forbid", "Replace"],
        )),
    }
    job_template(&spec.field("jobTemplate"), errs);
    nonnegative(&spec.field("successfulJobsHistoryLimit"), errs);
    nonnegative(&spec.field("failedJobsHistoryLimit"), errs);
    if old.is_none() {
        let name = obj.at(&["metadata", "name"]).str(&mut ignored);
        if name.len() > 52 {
            errs.push(FieldError::invalid(
                Path::root("metadata").child("name"),
                &Value::from(name),
                "must be no more than 52 characters",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod_template(labels: Value, restart: &str) -> Value {
        json!({
            "metadata": {"labels": labels},
            "spec": {
                "containers": [{"name": "c", "image": "busybox", "imagePullPolicy": "Always", "terminationMessagePolicy": "File"}],
                "restartPolicy": restart, "dnsPolicy": "ClusterFirst", "terminationGracePeriodSeconds": 30
            }
        })
    }

    fn job() -> Value {
        let labels = json!({"controller-uid": "u1", "job-name": "pi", "batch.kubernetes.io/controller-uid": "u1", "batch.kubernetes.io/job-name": "pi"});
        json!({
            "metadata": {"name": "pi", "namespace": "default", "uid": "u1"},
            "spec": {
                "backoffLimit": 6, "completions": 1, "parallelism": 1, "completionMode": "NonIndexed", "suspend": false,
                "podReplacementPolicy": "TerminatingOrFailed", "manualSelector": false,
                "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}},
                "template": pod_template(labels, "Never")
            }
        })
    }

    fn check(obj: &Value) -> Vec<String> {
        let mut errs = Vec::new();
        validate_job(&Node::root(obj), &mut errs);
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn job_rules() {
        assert_eq!(check(&job()), Vec::<String>::new());
        let mut j = job();
        j["spec"]["template"]["spec"]["restartPolicy"] = json!("Always");
        j["spec"]["backoffLimit"] = json!(-1);
        assert_eq!(
            check(&j),
            vec![
                "spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0",
                "spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\"",
            ]
        );
    }

    #[test]
    fn job_template_is_immutable_unless_suspended() {
        let old = job();
        let mut new = job();
        new["spec"]["template"]["spec"]["nodeSelector"] = json!({"zone": "a"});
        let mut errs = Vec::new();
        validate_job_update(&Node::root(&new), &Node::root(&old), &mut errs);
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0]
                .to_string()
                .starts_with("spec.template: Invalid value: {")
        );
        assert!(errs[0].to_string().ends_with("}: field is immutable"));
        new["spec"]["suspend"] = json!(true);
        let mut errs = Vec::new();
        validate_job_update(&Node::root(&new), &Node::root(&old), &mut errs);
        assert!(errs.is_empty(), "{errs:?}");
    }

    #[test]
    fn cron_job_rules() {
        let cj = json!({
            "metadata": {"name": "tick", "namespace": "default"},
            "spec": {"schedule": "TZ=UTC * * * * *", "concurrencyPolicy": "Sometimes", "timeZone": "Nowhere/Land",
                     "jobTemplate": {"spec": {"template": pod_template(json!({}), "OnFailure")}}}
        });
        let mut errs = Vec::new();
        validate_cron_job(&Node::root(&cj), None, &mut errs);
        let errs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            errs,
            vec![
                "spec.schedule: Invalid value: \"TZ=UTC * * * * *\": cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
                "spec.timeZone: Invalid value: \"Nowhere/Land\": unknown time zone Nowhere/Land",
                "spec.concurrencyPolicy: Unsupported value: \"Sometimes\": supported values: \"Allow\", \"Forbid\", \"Replace\"",
            ]
        );
    }
}
