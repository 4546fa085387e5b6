//! Decoding checks of request objects, as upstream's decoder applies them before anything
//! else: values of the wrong type are refused (400), and fields the kind does not have are
//! dropped — reported per `fieldValidation` (`Strict`: 400; `Warn`, the default: a warning
//! each; `Ignore`: silently).
//!
//! Built-in kinds are checked by decoding into their `k8s-openapi` type and comparing: a
//! field present in the request but absent after the round trip is unknown. Custom
//! resources are pruned against their CRD's structural schema.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::super::registry::ResourceInfo;
use super::super::schema;
use super::super::status::ApiError;

/// How unknown fields are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Strict,
    Warn,
    Ignore,
}

impl FieldValidation {
    /// # Errors
    /// 400 for a value other than Strict, Warn or Ignore.
    pub fn parse(value: Option<&str>) -> Result<Self, ApiError> {
        match value {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation: Unsupported value: {other:?}: supported values: \"Ignore\", \"Strict\", \"Warn\""
            ))),
        }
    }
}

fn round_trip<T: DeserializeOwned + Serialize>(object: &Value) -> Result<Value, serde_json::Error> {
    let typed: T = serde_json::from_value(object.clone())?;
    serde_json::to_value(typed)
}

/// Decodes `object` as its built-in type and back, if the kind is one k8s-openapi has.
fn built_in_round_trip(
    info: &ResourceInfo,
    object: &Value,
) -> Option<Result<Value, serde_json::Error>> {
    use k8s_openapi::api::{
        apps::v1 as apps, autoscaling::v2 as autoscaling, batch::v1 as batch,
        certificates::v1 as certificates, coordination::v1 as coordination, core::v1 as core,
        discovery::v1 as discovery, events::v1 as events, networking::v1 as networking,
        policy::v1 as policy, rbac::v1 as rbac, scheduling::v1 as scheduling,
        storage::v1 as storage,
    };
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
    macro_rules! kinds {
        ($($group:literal $kind:literal => $ty:ty),* $(,)?) => {
            match (info.group.as_str(), info.kind.as_str()) {
                $(($group, $kind) => Some(round_trip::<$ty>(object)),)*
                _ => None,
            }
        };
    }
    kinds! {
        "" "ConfigMap" => core::ConfigMap,
        "" "Endpoints" => core::Endpoints,
        "" "Event" => core::Event,
        "" "LimitRange" => core::LimitRange,
        "" "Namespace" => core::Namespace,
        "" "Node" => core::Node,
        "" "PersistentVolume" => core::PersistentVolume,
        "" "PersistentVolumeClaim" => core::PersistentVolumeClaim,
        "" "Pod" => core::Pod,
        "" "PodTemplate" => core::PodTemplate,
        "" "ReplicationController" => core::ReplicationController,
        "" "ResourceQuota" => core::ResourceQuota,
        "" "Secret" => core::Secret,
        "" "Service" => core::Service,
        "" "ServiceAccount" => core::ServiceAccount,
        "apps" "ControllerRevision" => apps::ControllerRevision,
        "apps" "DaemonSet" => apps::DaemonSet,
        "apps" "Deployment" => apps::Deployment,
        "apps" "ReplicaSet" => apps::ReplicaSet,
        "apps" "StatefulSet" => apps::StatefulSet,
        "autoscaling" "HorizontalPodAutoscaler" => autoscaling::HorizontalPodAutoscaler,
        "batch" "CronJob" => batch::CronJob,
        "batch" "Job" => batch::Job,
        "certificates.k8s.io" "CertificateSigningRequest" => certificates::CertificateSigningRequest,
        "coordination.k8s.io" "Lease" => coordination::Lease,
        "discovery.k8s.io" "EndpointSlice" => discovery::EndpointSlice,
        "events.k8s.io" "Event" => events::Event,
        "networking.k8s.io" "Ingress" => networking::Ingress,
        "networking.k8s.io" "IngressClass" => networking::IngressClass,
        "networking.k8s.io" "NetworkPolicy" => networking::NetworkPolicy,
        "policy" "PodDisruptionBudget" => policy::PodDisruptionBudget,
        "rbac.authorization.k8s.io" "ClusterRole" => rbac::ClusterRole,
        "rbac.authorization.k8s.io" "ClusterRoleBinding" => rbac::ClusterRoleBinding,
        "rbac.authorization.k8s.io" "Role" => rbac::Role,
        "rbac.authorization.k8s.io" "RoleBinding" => rbac::RoleBinding,
        "scheduling.k8s.io" "PriorityClass" => scheduling::PriorityClass,
        "storage.k8s.io" "CSIDriver" => storage::CSIDriver,
        "storage.k8s.io" "CSINode" => storage::CSINode,
        "storage.k8s.io" "StorageClass" => storage::StorageClass,
        "storage.k8s.io" "VolumeAttachment" => storage::VolumeAttachment,
        "apiextensions.k8s.io" "CustomResourceDefinition" => apiextensions::CustomResourceDefinition,
    }
}

/// Paths (`spec.foo`, `spec.containers[0].bar`) present in `input` but not in `known`.
fn unknown_paths(input: &Value, known: &Value, path: &str, out: &mut Vec<String>) {
    match (input, known) {
        (Value::Object(i), Value::Object(k)) => {
            for (key, value) in i {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match k.get(key) {
                    Some(known_value) => unknown_paths(value, known_value, &child, out),
                    None if value.is_null() => {}
                    None => out.push(child),
                }
            }
        }
        (Value::Array(i), Value::Array(k)) => {
            for (index, (value, known_value)) in i.iter().zip(k).enumerate() {
                unknown_paths(value, known_value, &format!("{path}[{index}]"), out);
            }
        }
        _ => {}
    }
}

/// The outcome of decoding: the object with unknown fields removed, and the warnings to
/// send back.
pub struct Decoded {
    pub object: Value,
    pub warnings: Vec<String>,
}

fn remove_path(object: &mut Value, path: &str) {
    // Paths come from `unknown_paths`: dotted keys with `[i]` indexes; keys never contain
    // dots at the positions we split (Kubernetes field names do not).
    let mut current = object;
    let parts: Vec<&str> = path.split('.').collect();
    for (n, part) in parts.iter().enumerate() {
        let (name, indexes) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (*part, ""),
        };
        let last = n + 1 == parts.len();
        if last && indexes.is_empty() {
            if let Some(map) = current.as_object_mut() {
                map.remove(name);
            }
            return;
        }
        let Some(next) = current.get_mut(name) else {
            return;
        };
        current = next;
        for index in indexes.split(['[', ']']).filter(|s| !s.is_empty()) {
            let Some(next) = index.parse::<usize>().ok().and_then(|i| current.get_mut(i)) else {
                return;
            };
            current = next;
        }
    }
}

/// Checks types and unknown fields of a request object (in the storage version).
///
/// # Errors
/// 400 when a value has the wrong type, or when `Strict` finds unknown fields.
pub fn decode(
    info: &ResourceInfo,
    object: Value,
    validation: FieldValidation,
) -> Result<Decoded, ApiError> {
    let handled_as = || {
        format!(
            "{} in version {:?} cannot be handled as a {}",
            info.kind, info.version, info.kind
        )
    };
    let mut object = object;
    let unknown = match &info.custom {
        Some(custom) => match &custom.schema {
            Some(schema) => schema::prune(schema, &mut object, None),
            None => Vec::new(),
        },
        None => match built_in_round_trip(info, &object) {
            None => Vec::new(),
            Some(Ok(known)) => {
                let mut unknown = Vec::new();
                unknown_paths(&object, &known, "", &mut unknown);
                for path in &unknown {
                    remove_path(&mut object, path);
                }
                unknown
            }
            // A missing required field is for validation to report (422), as upstream's
            // decoder, which fills zero values, lets it through.
            Some(Err(e)) if e.to_string().starts_with("missing field") => Vec::new(),
            Some(Err(e)) => return Err(ApiError::bad_request(format!("{}: {e}", handled_as()))),
        },
    };
    if unknown.is_empty() {
        return Ok(Decoded {
            object,
            warnings: Vec::new(),
        });
    }
    let messages: Vec<String> = unknown
        .iter()
        .map(|p| format!("unknown field {p:?}"))
        .collect();
    match validation {
        FieldValidation::Strict => Err(ApiError::bad_request(format!(
            "{}: strict decoding error: {}",
            handled_as(),
            messages.join(", ")
        ))),
        FieldValidation::Warn => Ok(Decoded {
            object,
            warnings: messages,
        }),
        FieldValidation::Ignore => Ok(Decoded {
            object,
            warnings: Vec::new(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::registry::Registry;
    use serde_json::json;

    #[test]
    fn unknown_fields_of_built_in_kinds() {
        let registry = Registry::builtin();
        let info = registry.get("apps", "v1", "deployments").unwrap();
        let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "bogus": 1},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "replicaz": 3, "template": {"metadata": {"labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "i", "imagePullPolicyy": "Always"}]}}}});
        let strict = decode(&info, deploy.clone(), FieldValidation::Strict)
            .err()
            .unwrap();
        assert_eq!(strict.code, 400);
        assert!(
            strict
                .message
                .contains("strict decoding error: unknown field \"metadata.bogus\""),
            "{}",
            strict.message
        );
        assert!(
            strict
                .message
                .contains("unknown field \"spec.template.spec.containers[0].imagePullPolicyy\"")
        );
        let warned = decode(&info, deploy, FieldValidation::Warn).unwrap();
        assert_eq!(warned.warnings.len(), 3);
        assert!(warned.object["spec"].get("replicaz").is_none());
        assert!(
            warned.object["spec"]["template"]["spec"]["containers"][0]
                .get("imagePullPolicyy")
                .is_none()
        );
        assert_eq!(
            warned.object["spec"]["template"]["spec"]["containers"][0]["image"],
            "i"
        );
    }

    #[test]
    fn wrong_types_are_bad_requests_and_missing_fields_pass() {
        let registry = Registry::builtin();
        let info = registry.get("apps", "v1", "deployments").unwrap();
        let bad = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": "three"}});
        let error = decode(&info, bad, FieldValidation::Warn).err().unwrap();
        assert!(
            error
                .message
                .starts_with("Deployment in version \"v1\" cannot be handled as a Deployment"),
            "{}",
            error.message
        );
        let pod = registry.get("", "v1", "pods").unwrap();
        let missing =
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}});
        assert!(decode(&pod, missing, FieldValidation::Strict).is_ok());
    }
}
