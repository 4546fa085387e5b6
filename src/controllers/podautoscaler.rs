//! The HorizontalPodAutoscaler controller (`autoscaling/v2`), as upstream's
//! `pkg/controller/podautoscaler` behaves while no metrics API answers — kedge has no pod
//! metrics yet:
//!
//! - the target's scale is read through its `scale` subresource (`AbleToScale`:
//!   `SucceededGetScale`, or `FailedGetScale` with an event);
//! - a target outside `minReplicas`..`maxReplicas` is scaled into range (`SuccessfulRescale`
//!   event, `AbleToScale` `SucceededRescale`), and one at zero replicas is left alone
//!   (`ScalingActive` `ScalingDisabled`);
//! - otherwise every metric fails as upstream's do without a metrics API: `ScalingActive`
//!   False with `FailedGetResourceMetric` (or the reason of the metric's type) and the
//!   events `FailedGetResourceMetric` and `FailedComputeMetricsReplicas`.
//!
//! Each autoscaler is looked at when it changes and every 15 s, as upstream's sync period.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::Method;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::{Context, ReconcileError, retry_later};
use crate::api::auth::UserInfo;
use crate::api::local;
use crate::api::object;

/// Upstream's `--horizontal-pod-autoscaler-sync-period`.
const SYNC_PERIOD: Duration = Duration::from_secs(15);
const NO_RESOURCE_METRICS: &str = "no metrics returned from resource metrics API";
const NO_CUSTOM_METRICS: &str = "unable to fetch metrics from custom metrics API: no custom metrics API (custom.metrics.k8s.io) registered";
const NO_EXTERNAL_METRICS: &str = "unable to fetch metrics from external metrics API: no external metrics API (external.metrics.k8s.io) registered";

fn user() -> UserInfo {
    UserInfo::system("horizontal-pod-autoscaler")
}

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Upstream's `setConditionInList`: the transition time moves only with the status.
fn set_condition(status: &mut Value, kind: &str, state: &str, reason: &str, message: &str) {
    let mut conditions: Vec<Value> = status
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let index = match conditions.iter().position(|c| text(c, "/type") == kind) {
        Some(i) => i,
        None => {
            conditions.push(json!({"type": kind}));
            conditions.len() - 1
        }
    };
    let condition = &mut conditions[index];
    if text(condition, "/status") != state {
        condition["lastTransitionTime"] = json!(object::now());
    }
    condition["status"] = json!(state);
    condition["reason"] = json!(reason);
    condition["message"] = json!(message);
    status["conditions"] = json!(conditions);
}

/// Why one metric cannot be computed: `(reason, error, wrapped error)` as upstream's
/// `computeReplicasForMetric` reports them when its metrics client gets nothing.
fn metric_failure(metric: &Value) -> (&'static str, String, String) {
    match text(metric, "/type") {
        "Resource" => {
            let name = text(metric, "/resource/name");
            let error = format!(
                "failed to get {name} utilization: unable to get metrics for resource {name}: {NO_RESOURCE_METRICS}"
            );
            let wrapped = format!("failed to get {name} resource metric value: {error}");
            ("FailedGetResourceMetric", error, wrapped)
        }
        "ContainerResource" => {
            let name = text(metric, "/containerResource/name");
            let error = format!(
                "failed to get {name} utilization: unable to get metrics for resource {name}: {NO_RESOURCE_METRICS}"
            );
            let wrapped = format!("failed to get {name} container metric value: {error}");
            ("FailedGetContainerResourceMetric", error, wrapped)
        }
        "Pods" => {
            let name = text(metric, "/pods/metric/name");
            let error = format!("unable to get metric {name}: {NO_CUSTOM_METRICS}");
            let wrapped = format!("failed to get pods metric value: {error}");
            ("FailedGetPodsMetric", error, wrapped)
        }
        "Object" => {
            let name = text(metric, "/object/metric/name");
            let error = format!("unable to get metric {name}: {NO_CUSTOM_METRICS}");
            let wrapped = format!("failed to get object metric value: {error}");
            ("FailedGetObjectMetric", error, wrapped)
        }
        "External" => {
            let name = text(metric, "/external/metric/name");
            let error = format!("unable to get external metric {name}: {NO_EXTERNAL_METRICS}");
            let wrapped = format!("failed to get {name} external metric value: {error}");
            ("FailedGetExternalMetric", error, wrapped)
        }
        other => {
            let error = format!("unknown metric source type {other:?}");
            ("InvalidMetricSourceType", error.clone(), error)
        }
    }
}

/// An answer of the API: its status and JSON body.
async fn call(ctx: &Context, method: Method, uri: &str, body: Option<&Value>) -> (u16, Value) {
    let (code, answer) = local::request(
        &ctx.api,
        &user(),
        method,
        uri,
        "application/json",
        body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string())),
    )
    .await;
    (code, serde_json::from_slice(&answer).unwrap_or(Value::Null))
}

/// The message of a failed API answer.
fn failure(code: u16, answer: &Value) -> String {
    answer
        .get("message")
        .and_then(Value::as_str)
        .map_or_else(|| format!("HTTP {code}"), str::to_string)
}

/// Where the scale of the autoscaler's target lives, or why it cannot be found.
fn scale_path(ctx: &Context, hpa: &Value, namespace: &str) -> Result<String, String> {
    let api_version = text(hpa, "/spec/scaleTargetRef/apiVersion");
    let kind = text(hpa, "/spec/scaleTargetRef/kind");
    let name = text(hpa, "/spec/scaleTargetRef/name");
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let info = ctx
        .api
        .registry
        .by_kind(group, version, kind)
        .ok_or_else(|| format!("no matches for kind {kind:?} in group {group:?}"))?;
    if info.subresource("scale").is_none() {
        return Err(format!(
            "the server could not find the requested resource ({}.{} does not have a scale subresource)",
            info.plural, info.group
        ));
    }
    Ok(format!("{}/scale", info.path(Some(namespace), name)))
}

async fn write_status(ctx: &Context, hpa: &Value, status: Value) -> Result<(), ReconcileError> {
    if hpa.get("status") == Some(&status) {
        return Ok(());
    }
    let mut updated = hpa.clone();
    updated["status"] = status;
    let uri = format!(
        "/apis/autoscaling/v2/namespaces/{}/horizontalpodautoscalers/{}/status",
        object::namespace(hpa).unwrap_or_default(),
        object::name(hpa)
    );
    let (code, answer) = call(ctx, Method::PUT, &uri, Some(&updated)).await;
    match code {
        200..=299 | 404 | 409 => Ok(()),
        _ => Err(ReconcileError::Request(format!(
            "updating the status of HorizontalPodAutoscaler {}: {}",
            object::name(hpa),
            failure(code, &answer)
        ))),
    }
}

async fn reconcile(
    autoscaler: Arc<HorizontalPodAutoscaler>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let namespace = autoscaler.metadata.namespace.clone().unwrap_or_default();
    let name = autoscaler.metadata.name.clone().unwrap_or_default();
    let Some(info) = ctx
        .api
        .registry
        .get("autoscaling", "v2", "horizontalpodautoscalers")
    else {
        return Ok(Action::await_change());
    };
    let Some(hpa) = ctx
        .api
        .cache
        .get(&info.key(Some(&namespace), &name))
        .map(|c| c.value())
    else {
        return Ok(Action::await_change());
    };
    if object::is_deleting(&hpa) {
        return Ok(Action::await_change());
    }
    let about = ObjectReference {
        api_version: Some("autoscaling/v2".into()),
        kind: Some("HorizontalPodAutoscaler".into()),
        name: Some(name.clone()),
        namespace: Some(namespace.clone()),
        uid: Some(object::uid(&hpa).to_string()),
        resource_version: object::resource_version(&hpa).map(str::to_string),
        field_path: None,
    };
    let mut status = hpa.get("status").cloned().unwrap_or_else(|| json!({}));
    if !status.is_object() {
        status = json!({});
    }
    let reference = format!(
        "{}/{namespace}/{}",
        text(&hpa, "/spec/scaleTargetRef/kind"),
        text(&hpa, "/spec/scaleTargetRef/name")
    );

    // The target's current scale.
    let scale = match scale_path(&ctx, &hpa, &namespace) {
        Ok(path) => match call(&ctx, Method::GET, &path, None).await {
            (200, scale) => Ok((path, scale)),
            (code, answer) => Err(failure(code, &answer)),
        },
        Err(e) => Err(e),
    };
    let (path, mut scale) = match scale {
        Ok(found) => found,
        Err(error) => {
            ctx.events.warning(&about, "FailedGetScale", &error);
            set_condition(
                &mut status,
                "AbleToScale",
                "False",
                "FailedGetScale",
                &format!(
                    "the HPA controller was unable to get the target's current scale: {error}"
                ),
            );
            write_status(&ctx, &hpa, status).await?;
            return Err(ReconcileError::Request(format!(
                "failed to query scale subresource for {reference}: {error}"
            )));
        }
    };
    set_condition(
        &mut status,
        "AbleToScale",
        "True",
        "SucceededGetScale",
        "the HPA controller was able to get the target's current scale",
    );
    let current = scale
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let min = hpa
        .pointer("/spec/minReplicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let max = hpa
        .pointer("/spec/maxReplicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);

    let (desired, reason) = if current == 0 && min != 0 {
        set_condition(
            &mut status,
            "ScalingActive",
            "False",
            "ScalingDisabled",
            "scaling is disabled since the replica count of the target is zero",
        );
        (current, None)
    } else if current > max {
        (
            max,
            Some("Current number of replicas above Spec.MaxReplicas"),
        )
    } else if current < min {
        (
            min,
            Some("Current number of replicas below Spec.MinReplicas"),
        )
    } else {
        // What the metrics say: nothing, as no metrics API answers.
        if text(&scale, "/status/selector").is_empty() {
            ctx.events
                .warning(&about, "SelectorRequired", "selector is required");
            set_condition(
                &mut status,
                "ScalingActive",
                "False",
                "InvalidSelector",
                "the HPA target's scale is missing a selector",
            );
        } else {
            let metrics: Vec<Value> = hpa
                .pointer("/spec/metrics")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut first: Option<(&'static str, String, String)> = None;
            for metric in &metrics {
                let (reason, error, wrapped) = metric_failure(metric);
                ctx.events.warning(&about, reason, &error);
                if first.is_none() {
                    first = Some((reason, error, wrapped));
                }
            }
            if let Some((reason, error, wrapped)) = first {
                set_condition(
                    &mut status,
                    "ScalingActive",
                    "False",
                    reason,
                    &format!("the HPA was unable to compute the replica count: {error}"),
                );
                status["currentReplicas"] = json!(current);
                write_status(&ctx, &hpa, status).await?;
                ctx.events.warning(
                    &about,
                    "FailedComputeMetricsReplicas",
                    &format!(
                        "invalid metrics ({n} invalid out of {n}), first error is: {wrapped}",
                        n = metrics.len()
                    ),
                );
                return Ok(Action::requeue(SYNC_PERIOD));
            }
        }
        (current, None)
    };

    let mut rescaled = false;
    if let Some(reason) = reason
        && desired != current
    {
        scale["spec"]["replicas"] = json!(desired);
        match call(&ctx, Method::PUT, &path, Some(&scale)).await {
            (200..=299, _) => {
                set_condition(
                    &mut status,
                    "AbleToScale",
                    "True",
                    "SucceededRescale",
                    &format!("the HPA controller was able to update the target scale to {desired}"),
                );
                ctx.events.normal(
                    &about,
                    "SuccessfulRescale",
                    &format!("New size: {desired}; reason: {reason}"),
                );
                rescaled = true;
            }
            (code, answer) => {
                let error = failure(code, &answer);
                ctx.events.warning(
                    &about,
                    "FailedRescale",
                    &format!("New size: {desired}; reason: {reason}; error: {error}"),
                );
                set_condition(
                    &mut status,
                    "AbleToScale",
                    "False",
                    "FailedUpdateScale",
                    &format!("the HPA controller was unable to update the target scale: {error}"),
                );
                status["currentReplicas"] = json!(current);
                write_status(&ctx, &hpa, status).await?;
                return Err(ReconcileError::Request(format!(
                    "failed to rescale {reference}: {error}"
                )));
            }
        }
    }
    status["currentReplicas"] = json!(current);
    status["desiredReplicas"] = json!(desired);
    if rescaled {
        status["lastScaleTime"] = json!(object::now());
    }
    write_status(&ctx, &hpa, status).await?;
    Ok(Action::requeue(SYNC_PERIOD))
}

pub async fn run(ctx: Context, shutdown: CancellationToken) {
    let autoscalers: Api<HorizontalPodAutoscaler> = Api::all(ctx.client.clone());
    Controller::new(autoscalers, watcher::Config::default())
        .graceful_shutdown_on(async move { shutdown.cancelled().await })
        .run(reconcile, retry_later, Arc::new(ctx))
        .for_each(|_| async {})
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_metrics_fail_as_without_a_metrics_api() {
        let metric = json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}});
        let (reason, error, wrapped) = metric_failure(&metric);
        assert_eq!(reason, "FailedGetResourceMetric");
        assert_eq!(
            error,
            "failed to get cpu utilization: unable to get metrics for resource cpu: no metrics returned from resource metrics API"
        );
        assert!(
            wrapped.starts_with(
                "failed to get cpu resource metric value: failed to get cpu utilization"
            )
        );
    }

    #[test]
    fn conditions_keep_their_transition_time() {
        let mut status = json!({"conditions": [{"type": "AbleToScale", "status": "True",
            "lastTransitionTime": "2020-01-01T00:00:00Z", "reason": "SucceededGetScale", "message": ""}]});
        set_condition(&mut status, "AbleToScale", "True", "SucceededRescale", "m");
        assert_eq!(
            status["conditions"][0]["lastTransitionTime"],
            "2020-01-01T00:00:00Z"
        );
        assert_eq!(status["conditions"][0]["reason"], "SucceededRescale");
        set_condition(
            &mut status,
            "ScalingActive",
            "False",
            "FailedGetResourceMetric",
            "m",
        );
        assert_eq!(status["conditions"][1]["type"], "ScalingActive");
    }
}
