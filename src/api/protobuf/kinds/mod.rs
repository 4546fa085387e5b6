//! Field tables of the built-in kinds, one file per API group or concern, and the registry that
//! picks a kind's table from the apiVersion and kind of a protobuf envelope.
//!
//! Field numbers and wire types are upstream facts (`generated.proto` of k8s.io/api and
//! k8s.io/apimachinery 0.36); each row's `Presence` comes from the Go field's type and `json` tag.
//! A kind missing here is answered as unsupported rather than guessed at.

mod admission;
mod apps;
mod auth;
mod autoscaling;
mod core_cluster;
mod core_pod;
mod core_volume;
mod meta;
mod networking;
mod scheduling;
mod storage;

use super::schema::Fields;

/// Every kind a client may send as a protobuf body: (apiVersion, kind, table).
static KINDS: &[(&str, &str, &Fields)] = &[
    ("v1", "Binding", &core_cluster::BINDING),
    ("v1", "ConfigMap", &core_cluster::CONFIG_MAP),
    ("v1", "Endpoints", &core_cluster::ENDPOINTS),
    ("v1", "Event", &core_cluster::EVENT),
    ("v1", "LimitRange", &core_cluster::LIMIT_RANGE),
    ("v1", "Namespace", &core_cluster::NAMESPACE),
    ("v1", "Node", &core_cluster::NODE),
    ("v1", "PersistentVolume", &core_volume::PERSISTENT_VOLUME),
    (
        "v1",
        "PersistentVolumeClaim",
        &core_volume::PERSISTENT_VOLUME_CLAIM,
    ),
    ("v1", "Pod", &core_pod::POD),
    ("v1", "PodTemplate", &core_pod::POD_TEMPLATE),
    (
        "v1",
        "ReplicationController",
        &core_cluster::REPLICATION_CONTROLLER,
    ),
    ("v1", "ResourceQuota", &core_cluster::RESOURCE_QUOTA),
    ("v1", "Secret", &core_cluster::SECRET),
    ("v1", "Service", &core_cluster::SERVICE),
    ("v1", "ServiceAccount", &core_cluster::SERVICE_ACCOUNT),
    ("apps/v1", "ControllerRevision", &apps::CONTROLLER_REVISION),
    ("apps/v1", "DaemonSet", &apps::DAEMON_SET),
    ("apps/v1", "Deployment", &apps::DEPLOYMENT),
    ("apps/v1", "ReplicaSet", &apps::REPLICA_SET),
    ("apps/v1", "StatefulSet", &apps::STATEFUL_SET),
    ("batch/v1", "CronJob", &apps::CRON_JOB),
    ("batch/v1", "Job", &apps::JOB),
    (
        "autoscaling/v1",
        "HorizontalPodAutoscaler",
        &apps::HORIZONTAL_POD_AUTOSCALER,
    ),
    ("autoscaling/v1", "Scale", &apps::SCALE),
    (
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        &autoscaling::HORIZONTAL_POD_AUTOSCALER,
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "ClusterRole",
        &auth::CLUSTER_ROLE,
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        &auth::CLUSTER_ROLE_BINDING,
    ),
    ("rbac.authorization.k8s.io/v1", "Role", &auth::ROLE),
    (
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        &auth::ROLE_BINDING,
    ),
    (
        "authentication.k8s.io/v1",
        "SelfSubjectReview",
        &auth::SELF_SUBJECT_REVIEW,
    ),
    (
        "authentication.k8s.io/v1",
        "TokenRequest",
        &auth::TOKEN_REQUEST,
    ),
    (
        "authentication.k8s.io/v1",
        "TokenReview",
        &auth::TOKEN_REVIEW,
    ),
    (
        "authorization.k8s.io/v1",
        "LocalSubjectAccessReview",
        &auth::LOCAL_SUBJECT_ACCESS_REVIEW,
    ),
    (
        "authorization.k8s.io/v1",
        "SelfSubjectAccessReview",
        &auth::SELF_SUBJECT_ACCESS_REVIEW,
    ),
    (
        "authorization.k8s.io/v1",
        "SelfSubjectRulesReview",
        &auth::SELF_SUBJECT_RULES_REVIEW,
    ),
    (
        "authorization.k8s.io/v1",
        "SubjectAccessReview",
        &auth::SUBJECT_ACCESS_REVIEW,
    ),
    (
        "certificates.k8s.io/v1",
        "CertificateSigningRequest",
        &auth::CERTIFICATE_SIGNING_REQUEST,
    ),
    ("networking.k8s.io/v1", "IPAddress", &networking::IP_ADDRESS),
    ("networking.k8s.io/v1", "Ingress", &networking::INGRESS),
    (
        "networking.k8s.io/v1",
        "IngressClass",
        &networking::INGRESS_CLASS,
    ),
    (
        "networking.k8s.io/v1",
        "NetworkPolicy",
        &networking::NETWORK_POLICY,
    ),
    (
        "networking.k8s.io/v1",
        "ServiceCIDR",
        &networking::SERVICE_CIDR,
    ),
    (
        "discovery.k8s.io/v1",
        "EndpointSlice",
        &networking::ENDPOINT_SLICE,
    ),
    ("policy/v1", "Eviction", &scheduling::EVICTION),
    (
        "policy/v1",
        "PodDisruptionBudget",
        &scheduling::POD_DISRUPTION_BUDGET,
    ),
    (
        "scheduling.k8s.io/v1",
        "PriorityClass",
        &scheduling::PRIORITY_CLASS,
    ),
    ("node.k8s.io/v1", "RuntimeClass", &scheduling::RUNTIME_CLASS),
    ("coordination.k8s.io/v1", "Lease", &scheduling::LEASE),
    ("events.k8s.io/v1", "Event", &scheduling::EVENT),
    ("storage.k8s.io/v1", "CSIDriver", &storage::CSI_DRIVER),
    ("storage.k8s.io/v1", "CSINode", &storage::CSI_NODE),
    (
        "storage.k8s.io/v1",
        "CSIStorageCapacity",
        &storage::CSI_STORAGE_CAPACITY,
    ),
    ("storage.k8s.io/v1", "StorageClass", &storage::STORAGE_CLASS),
    (
        "storage.k8s.io/v1",
        "VolumeAttachment",
        &storage::VOLUME_ATTACHMENT,
    ),
    (
        "storage.k8s.io/v1",
        "VolumeAttributesClass",
        &storage::VOLUME_ATTRIBUTES_CLASS,
    ),
    (
        "admissionregistration.k8s.io/v1",
        "MutatingAdmissionPolicy",
        &admission::MUTATING_ADMISSION_POLICY,
    ),
    (
        "admissionregistration.k8s.io/v1",
        "MutatingAdmissionPolicyBinding",
        &admission::MUTATING_ADMISSION_POLICY_BINDING,
    ),
    (
        "admissionregistration.k8s.io/v1",
        "MutatingWebhookConfiguration",
        &admission::MUTATING_WEBHOOK_CONFIGURATION,
    ),
    (
        "admissionregistration.k8s.io/v1",
        "ValidatingAdmissionPolicy",
        &admission::VALIDATING_ADMISSION_POLICY,
    ),
    (
        "admissionregistration.k8s.io/v1",
        "ValidatingAdmissionPolicyBinding",
        &admission::VALIDATING_ADMISSION_POLICY_BINDING,
    ),
    (
        "admissionregistration.k8s.io/v1",
        "ValidatingWebhookConfiguration",
        &admission::VALIDATING_WEBHOOK_CONFIGURATION,
    ),
    (
        "flowcontrol.apiserver.k8s.io/v1",
        "FlowSchema",
        &admission::FLOW_SCHEMA,
    ),
    (
        "flowcontrol.apiserver.k8s.io/v1",
        "PriorityLevelConfiguration",
        &admission::PRIORITY_LEVEL_CONFIGURATION,
    ),
];

/// The table of `kind` in `api_version`. `DeleteOptions` is accepted in every group version,
/// as upstream registers it in each.
pub(super) fn lookup(api_version: &str, kind: &str) -> Option<Fields> {
    if kind == "DeleteOptions" {
        return Some(meta::DELETE_OPTIONS);
    }
    KINDS
        .iter()
        .find(|(known_version, known_kind, _)| *known_version == api_version && *known_kind == kind)
        .map(|(_, _, fields)| **fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::protobuf::schema::{Presence, Type};
    use std::collections::HashSet;

    /// Every table reachable from the registry, each once.
    fn all_tables() -> Vec<Fields> {
        let mut seen = HashSet::new();
        let mut pending: Vec<Fields> = KINDS.iter().map(|(_, _, fields)| **fields).collect();
        pending.push(meta::DELETE_OPTIONS);
        let mut tables = Vec::new();
        while let Some(fields) = pending.pop() {
            if !seen.insert(fields.as_ptr() as usize) {
                continue;
            }
            for field in fields {
                if let Type::Message(inner) = field.ty {
                    pending.push(*inner);
                }
            }
            tables.push(fields);
        }
        tables
    }

    /// The JSON names a table writes, inlined tables expanded.
    fn json_names(fields: Fields, names: &mut Vec<&'static str>) {
        for field in fields {
            match (field.presence, field.ty) {
                (Presence::Inline, Type::Message(inner)) => json_names(inner, names),
                _ => names.push(field.name),
            }
        }
    }

    #[test]
    fn tables_have_unique_numbers_and_json_names() {
        let tables = all_tables();
        assert!(tables.len() > 300, "only {} tables", tables.len());
        for fields in tables {
            let numbers: HashSet<u32> = fields.iter().map(|field| field.number).collect();
            assert_eq!(
                numbers.len(),
                fields.len(),
                "duplicate number in {fields:?}"
            );
            assert!(!numbers.contains(&0));
            let mut names = Vec::new();
            json_names(fields, &mut names);
            let unique: HashSet<_> = names.iter().collect();
            assert_eq!(
                unique.len(),
                names.len(),
                "duplicate JSON name in {names:?}"
            );
            assert!(names.iter().all(|name| !name.is_empty()));
        }
    }

    #[test]
    fn inline_rows_are_messages() {
        for fields in all_tables() {
            for field in fields
                .iter()
                .filter(|field| field.presence == Presence::Inline)
            {
                assert!(matches!(field.ty, Type::Message(_)), "{}", field.name);
            }
        }
    }

    #[test]
    fn every_registered_kind_has_metadata() {
        for (api_version, kind, fields) in KINDS {
            assert!(
                fields
                    .iter()
                    .any(|field| field.number == 1 && field.name == "metadata"),
                "{api_version} {kind}"
            );
        }
    }

    #[test]
    fn lookup_matches_version_and_kind() {
        assert!(lookup("apps/v1", "Deployment").is_some());
        assert!(lookup("v1", "Deployment").is_none());
        assert!(lookup("authorization.k8s.io/v1", "SelfSubjectAccessReview").is_some());
        assert!(lookup("example.com/v1", "Widget").is_none());
        assert!(lookup("apps/v1", "DeleteOptions").is_some());
    }
}
