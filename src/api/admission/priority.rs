//! Priority admission, as upstream's `Priority` plugin: a new pod's `spec.priority` and
//! `spec.preemptionPolicy` are resolved from the PriorityClass it names, or from the global
//! default class when it names none (priority 0 and `PreemptLowerPriority` when there is no
//! default). A pod naming a class that does not exist is refused with 403
//! (`pods "x" is forbidden: no PriorityClass with name fast was found`), as is one whose
//! stated priority or preemption policy differs from its class's.
//!
//! Resolving at admission means every reader — the scheduler, the kubelet's eviction order,
//! `kubectl get pod -o yaml` — sees the same number, fixed when the pod was created, however
//! late its own copy of the PriorityClasses is.

use serde_json::{Value, json};

use super::quota::forbidden;
use super::quota_usage::list_prefix;
use crate::api::handlers::Ctx;
use crate::api::status::ApiError;

/// Upstream's `scheduling.DefaultPriorityWhenNoDefaultClassExists`.
const NO_DEFAULT_PRIORITY: i64 = 0;
const PREEMPT_LOWER: &str = "PreemptLowerPriority";

/// The system classes every cluster has (created at start; listed here too so a pod naming
/// one is admitted before they are).
pub const SYSTEM_CLASSES: [(&str, i64, &str); 2] = [
    (
        "system-node-critical",
        2_000_001_000,
        "Used for system critical pods that must not be moved from their current node.",
    ),
    (
        "system-cluster-critical",
        2_000_000_000,
        "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
    ),
];

/// What a class gives the pods that use it.
#[derive(Debug, PartialEq)]
struct Resolved {
    class: Option<String>,
    priority: i64,
    preemption_policy: String,
}

impl Resolved {
    fn from_class(class: &Value) -> Self {
        Self {
            class: class
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(str::to_string),
            priority: class.get("value").and_then(Value::as_i64).unwrap_or(0),
            preemption_policy: class
                .get("preemptionPolicy")
                .and_then(Value::as_str)
                .unwrap_or(PREEMPT_LOWER)
                .to_string(),
        }
    }
}

/// Upstream's `getDefaultPriorityClass`: of the global defaults, the highest value.
fn global_default(classes: &[Value]) -> Option<&Value> {
    classes
        .iter()
        .filter(|c| c.get("globalDefault").and_then(Value::as_bool) == Some(true))
        .max_by_key(|c| c.get("value").and_then(Value::as_i64).unwrap_or(0))
}

/// What `pod` gets from `classes`; `Err` carries why it is refused.
fn resolve(classes: &[Value], pod: &Value) -> Result<Resolved, String> {
    let named = pod
        .pointer("/spec/priorityClassName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty());
    let resolved = match named {
        None => global_default(classes).map_or_else(
            || Resolved {
                class: None,
                priority: NO_DEFAULT_PRIORITY,
                preemption_policy: PREEMPT_LOWER.to_string(),
            },
            Resolved::from_class,
        ),
        Some(name) => {
            let stored = classes
                .iter()
                .find(|c| c.pointer("/metadata/name").and_then(Value::as_str) == Some(name));
            match stored {
                Some(class) => Resolved::from_class(class),
                None => SYSTEM_CLASSES
                    .iter()
                    .find(|(system, ..)| *system == name)
                    .map(|(system, value, _)| Resolved {
                        class: Some((*system).to_string()),
                        priority: *value,
                        preemption_policy: PREEMPT_LOWER.to_string(),
                    })
                    .ok_or_else(|| format!("no PriorityClass with name {name} was found"))?,
            }
        }
    };
    let spec = pod.get("spec");
    if let Some(stated) = spec.and_then(|s| s.get("priority")).and_then(Value::as_i64)
        && stated != resolved.priority
    {
        return Err(format!(
            "the integer value of priority ({stated}) must not be provided in pod spec; priority admission controller computed {} from the given PriorityClass name",
            resolved.priority
        ));
    }
    if let Some(stated) = spec
        .and_then(|s| s.get("preemptionPolicy"))
        .and_then(Value::as_str)
        && stated != resolved.preemption_policy
    {
        return Err(format!(
            "the string value of PreemptionPolicy ({stated}) must not be provided in pod spec; priority admission controller computed {} from the given PriorityClass name",
            resolved.preemption_policy
        ));
    }
    Ok(resolved)
}

/// Sets a pod's priority, preemption policy and (from the global default) class name as it is
/// created; other kinds and updates pass untouched.
///
/// # Errors
/// 403 when the named class does not exist or the pod states a different priority or policy.
pub fn admit(ctx: &Ctx<'_>, pod: &mut Value) -> Result<(), ApiError> {
    if ctx.path.subresource.is_some() || !ctx.info.group.is_empty() || ctx.info.kind != "Pod" {
        return Ok(());
    }
    let classes: Vec<Value> =
        match list_prefix(ctx.state, "scheduling.k8s.io", "priorityclasses", "") {
            Some(prefix) => ctx
                .state
                .cache
                .list(&prefix, &Default::default(), None, None)
                .objects
                .into_iter()
                .map(|c| c.value())
                .collect(),
            None => Vec::new(),
        };
    let resolved = resolve(&classes, pod).map_err(|why| forbidden(ctx, pod, &why))?;
    apply(pod, resolved);
    Ok(())
}

fn apply(pod: &mut Value, resolved: Resolved) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(class) = resolved.class {
        spec.insert("priorityClassName".into(), json!(class));
    }
    spec.insert("priority".into(), json!(resolved.priority));
    spec.insert("preemptionPolicy".into(), json!(resolved.preemption_policy));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(name: &str, value: i64, default: bool, policy: Option<&str>) -> Value {
        let mut class =
            json!({"metadata": {"name": name}, "value": value, "globalDefault": default});
        if let Some(policy) = policy {
            class["preemptionPolicy"] = json!(policy);
        }
        class
    }

    fn admitted(classes: &[Value], mut pod: Value) -> Result<Value, String> {
        let resolved = resolve(classes, &pod)?;
        apply(&mut pod, resolved);
        Ok(pod["spec"].clone())
    }

    #[test]
    fn a_named_class_gives_its_value_and_policy() {
        let classes = [class("high", 1000, false, Some("Never"))];
        let spec = admitted(&classes, json!({"spec": {"priorityClassName": "high"}})).unwrap();
        assert_eq!(spec["priority"], 1000);
        assert_eq!(spec["preemptionPolicy"], "Never");
    }

    #[test]
    fn no_class_takes_the_highest_global_default_or_zero() {
        let spec = admitted(&[], json!({"spec": {}})).unwrap();
        assert_eq!(
            spec,
            json!({"priority": 0, "preemptionPolicy": PREEMPT_LOWER})
        );
        let classes = [
            class("a", 5, true, None),
            class("b", 7, true, None),
            class("c", 100, false, None),
        ];
        let spec = admitted(&classes, json!({"spec": {"priorityClassName": ""}})).unwrap();
        assert_eq!(spec["priorityClassName"], "b");
        assert_eq!(spec["priority"], 7);
    }

    #[test]
    fn system_classes_resolve_before_they_are_stored() {
        let spec = admitted(
            &[],
            json!({"spec": {"priorityClassName": "system-node-critical"}}),
        )
        .unwrap();
        assert_eq!(spec["priority"], 2_000_001_000);
    }

    #[test]
    fn unknown_classes_and_contradictions_are_refused_as_upstream_words_them() {
        let classes = [class("high", 1000, false, None)];
        assert_eq!(
            admitted(&classes, json!({"spec": {"priorityClassName": "fast"}})).unwrap_err(),
            "no PriorityClass with name fast was found"
        );
        assert_eq!(
            admitted(
                &classes,
                json!({"spec": {"priorityClassName": "high", "priority": 3}})
            )
            .unwrap_err(),
            "the integer value of priority (3) must not be provided in pod spec; priority admission controller computed 1000 from the given PriorityClass name"
        );
        assert!(
            admitted(
                &classes,
                json!({"spec": {"priorityClassName": "high", "preemptionPolicy": "Never"}})
            )
            .unwrap_err()
            .starts_with("the string value of PreemptionPolicy (Never)")
        );
        // Stating what the class gives is fine (a pod copied from another's spec).
        assert!(
            admitted(
                &classes,
                json!({"spec": {"priorityClassName": "high", "priority": 1000}})
            )
            .is_ok()
        );
    }
}
