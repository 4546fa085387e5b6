//! Validation of built-in objects, as kube-apiserver's registry strategies run it after
//! defaulting: every check returns [`FieldError`]s with upstream's field paths and wording, so
//! `kubectl` prints e.g. `The Deployment "x" is invalid:` then
//! `* spec.replicas: Invalid value: -1: must be greater than or equal to 0`.
//!
//! - [`validate_create`], [`validate_update`], [`validate_status_update`]: per kind, by group;
//!   unknown kinds (custom resources) get no checks here.
//! - [`validate_metadata_create`], [`validate_metadata_update`]: the generic `metadata` rules
//!   (for custom resources).
//! - Name and label validators other parts of the API server reuse, and [`parse_quantity`].
//!
//! Objects are JSON as decoded from the request; a field of the wrong JSON type becomes a
//! `FieldValueTypeInvalid` error. Errors are reported once each, in check order.

mod apps;
mod autoscaling;
mod batch;
mod config;
mod container;
mod cron;
mod endpoints;
mod job_policies;
mod json;
mod meta;
mod names;
mod networking;
mod node;
mod others;
mod persistent_volumes;
mod pod;
mod pod_update;
mod probes;
mod projected;
mod quantity;
mod quota;
mod rbac;
mod resources;
mod scheduling;
mod security_context;
mod service;
mod storage;
mod volume_mounts;
mod volumes;

use serde_json::Value;

use self::json::Node;
use self::names::NameRule;
use crate::api::field_error::FieldError;

pub use self::names::{
    dns1123_label_errors, dns1123_subdomain_errors, label_key_errors, label_value_errors,
};
pub use self::quantity::{Quantity, QuantityFormat, parse_quantity};

/// Where a kind's objects live and how their names are checked.
#[derive(Clone, Copy)]
struct KindRule {
    namespaced: bool,
    name: NameRule,
}

fn kind_rule(group: &str, kind: &str) -> Option<KindRule> {
    use NameRule::*;
    let (namespaced, name) = match (group, kind) {
        ("", "Namespace") => (false, Dns1123Label),
        ("", "Service") => (true, Dns1035Label),
        ("", "Node" | "PersistentVolume") => (false, Dns1123Subdomain),
        (
            "",
            "Pod"
            | "PodTemplate"
            | "ReplicationController"
            | "Endpoints"
            | "ConfigMap"
            | "Secret"
            | "ServiceAccount"
            | "PersistentVolumeClaim"
            | "Event"
            | "LimitRange"
            | "ResourceQuota",
        ) => (true, Dns1123Subdomain),
        ("apps", "StatefulSet") => (true, Dns1123Label),
        ("apps", "Deployment" | "ReplicaSet" | "DaemonSet" | "ControllerRevision") => {
            (true, Dns1123Subdomain)
        }
        ("batch", "Job" | "CronJob") => (true, Dns1123Subdomain),
        ("networking.k8s.io", "Ingress" | "NetworkPolicy") => (true, Dns1123Subdomain),
        ("networking.k8s.io", "IngressClass") => (false, Dns1123Subdomain),
        ("rbac.authorization.k8s.io", "Role" | "RoleBinding") => (true, PathSegment),
        ("rbac.authorization.k8s.io", "ClusterRole" | "ClusterRoleBinding") => (false, PathSegment),
        ("storage.k8s.io", "StorageClass" | "VolumeAttachment" | "CSIDriver" | "CSINode") => {
            (false, Dns1123Subdomain)
        }
        ("policy", "PodDisruptionBudget") => (true, Dns1123Subdomain),
        ("scheduling.k8s.io", "PriorityClass") => (false, Dns1123Subdomain),
        ("coordination.k8s.io", "Lease") => (true, Dns1123Subdomain),
        ("discovery.k8s.io", "EndpointSlice") => (true, Dns1123Subdomain),
        ("autoscaling", "HorizontalPodAutoscaler") => (true, Dns1123Subdomain),
        ("certificates.k8s.io", "CertificateSigningRequest") => (false, Any),
        ("events.k8s.io", "Event") => (true, Dns1123Subdomain),
        _ => return None,
    };
    Some(KindRule { namespaced, name })
}

/// Core/v1 Events skip the generic metadata rules (upstream's legacy event validation).
fn skips_metadata(group: &str, kind: &str) -> bool {
    kind == "Event" && (group.is_empty() || group == "events.k8s.io")
}

fn not_an_object(value: &Value) -> Option<Vec<FieldError>> {
    (!value.is_object()).then(|| {
        vec![FieldError::type_invalid(
            "",
            value,
            "must be of type object",
        )]
    })
}

/// Drops repeated errors (same field and message), as upstream's aggregate does.
fn dedup(errs: Vec<FieldError>) -> Vec<FieldError> {
    let mut out: Vec<FieldError> = Vec::with_capacity(errs.len());
    for e in errs {
        if !out
            .iter()
            .any(|o| o.field == e.field && o.message == e.message)
        {
            out.push(e);
        }
    }
    out
}

/// Validates a new object of a built-in kind. `version` is the request's API version (which
/// matters only for the shape of Events; built-in checks are the same across versions).
pub fn validate_create(group: &str, _version: &str, kind: &str, object: &Value) -> Vec<FieldError> {
    if let Some(errs) = not_an_object(object) {
        return errs;
    }
    let Some(rule) = kind_rule(group, kind) else {
        return Vec::new();
    };
    let obj = Node::root(object);
    let mut errs = Vec::new();
    if !skips_metadata(group, kind) {
        meta::validate_object_meta(
            &obj.field("metadata"),
            rule.namespaced,
            rule.name,
            &mut errs,
        );
    }
    create_checks(group, kind, &obj, &mut errs);
    dedup(errs)
}

fn create_checks(group: &str, kind: &str, obj: &Node, errs: &mut Vec<FieldError>) {
    match (group, kind) {
        ("", "Pod") => pod::validate_pod_create(obj, errs),
        ("", "PodTemplate") => pod::validate_pod_template(obj, errs),
        ("", "ReplicationController") | ("apps", _) => apps::validate_workload(kind, obj, errs),
        ("", "Service") => service::validate_service(obj, errs),
        ("", "Endpoints") => endpoints::validate_endpoints(obj, errs),
        ("", "Node") => node::validate_node(obj, errs),
        ("", "Namespace") => config::validate_namespace(obj, errs),
        ("", "ConfigMap") => config::validate_config_map(obj, errs),
        ("", "Secret") => config::validate_secret(obj, errs),
        ("", "PersistentVolume") => persistent_volumes::validate_volume(obj, errs),
        ("", "PersistentVolumeClaim") => persistent_volumes::validate_claim(obj, errs),
        ("", "Event") | ("events.k8s.io", "Event") => node::validate_event_create(obj, group, errs),
        ("", "LimitRange") => quota::validate_limit_range(obj, errs),
        ("", "ResourceQuota") => quota::validate_resource_quota(obj, errs),
        ("batch", "Job") => batch::validate_job(obj, errs),
        ("batch", "CronJob") => batch::validate_cron_job(obj, None, errs),
        ("networking.k8s.io", "Ingress") => networking::validate_ingress_create(obj, errs),
        ("networking.k8s.io", "IngressClass") => networking::validate_ingress_class(obj, errs),
        ("networking.k8s.io", "NetworkPolicy") => networking::validate_network_policy(obj, errs),
        ("rbac.authorization.k8s.io", "Role") => rbac::validate_role(obj, true, errs),
        ("rbac.authorization.k8s.io", "ClusterRole") => rbac::validate_role(obj, false, errs),
        ("rbac.authorization.k8s.io", "RoleBinding") => rbac::validate_binding(obj, true, errs),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            rbac::validate_binding(obj, false, errs)
        }
        ("storage.k8s.io", "StorageClass") => storage::validate_storage_class(obj, errs),
        ("storage.k8s.io", "VolumeAttachment") => storage::validate_volume_attachment(obj, errs),
        ("storage.k8s.io", "CSIDriver") => storage::validate_csi_driver(obj, errs),
        ("storage.k8s.io", "CSINode") => storage::validate_csi_node(obj, errs),
        ("policy", "PodDisruptionBudget") => others::validate_pdb(obj, errs),
        ("scheduling.k8s.io", "PriorityClass") => others::validate_priority_class(obj, errs),
        ("coordination.k8s.io", "Lease") => others::validate_lease(obj, errs),
        ("discovery.k8s.io", "EndpointSlice") => others::validate_endpoint_slice(obj, true, errs),
        ("autoscaling", "HorizontalPodAutoscaler") => autoscaling::validate_hpa(obj, errs),
        ("certificates.k8s.io", "CertificateSigningRequest") => others::validate_csr(obj, errs),
        _ => {}
    }
}

/// Validates an update (`PUT`, or the result of a `PATCH`) of a built-in object's main
/// resource: the metadata rules of updates plus the kind's own update rules.
pub fn validate_update(
    group: &str,
    _version: &str,
    kind: &str,
    old: &Value,
    new: &Value,
) -> Vec<FieldError> {
    if let Some(errs) = not_an_object(new) {
        return errs;
    }
    if kind_rule(group, kind).is_none() {
        return Vec::new();
    }
    let (obj, prev) = (Node::root(new), Node::root(old));
    let mut errs = Vec::new();
    if !skips_metadata(group, kind) {
        meta::validate_object_meta_update(
            &obj.field("metadata"),
            &prev.field("metadata"),
            &mut errs,
        );
    }
    match (group, kind) {
        ("", "Pod") => pod_update::validate_pod_update(&obj, &prev, &mut errs),
        ("", "ReplicationController") | ("apps", _) => {
            apps::validate_workload(kind, &obj, &mut errs);
            apps::validate_workload_update(kind, &obj, &prev, &mut errs);
        }
        ("", "Service") => service::validate_service_update(&obj, &prev, &mut errs),
        ("", "Node") => node::validate_node_update(&obj, &prev, &mut errs),
        ("", "Namespace") => {}
        ("", "ConfigMap") => config::validate_config_map_update(&obj, &prev, &mut errs),
        ("", "Secret") => config::validate_secret_update(&obj, &prev, &mut errs),
        ("", "PersistentVolume") => {
            persistent_volumes::validate_volume_update(&obj, &prev, &mut errs)
        }
        ("", "PersistentVolumeClaim") => {
            persistent_volumes::validate_claim_update(&obj, &prev, &mut errs)
        }
        ("", "Event") | ("events.k8s.io", "Event") => {
            node::validate_event_update(&obj, &prev, group, &mut errs)
        }
        ("", "ResourceQuota") => quota::validate_resource_quota_update(&obj, &prev, &mut errs),
        ("batch", "Job") => batch::validate_job_update(&obj, &prev, &mut errs),
        ("batch", "CronJob") => batch::validate_cron_job(&obj, Some(&prev), &mut errs),
        ("networking.k8s.io", "Ingress") => networking::validate_ingress(&obj, &mut errs),
        ("networking.k8s.io", "IngressClass") => {
            networking::validate_ingress_class_update(&obj, &prev, &mut errs)
        }
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            create_checks(group, kind, &obj, &mut errs);
            rbac::validate_binding_update(&obj, &prev, &mut errs);
        }
        ("storage.k8s.io", "StorageClass") => {
            storage::validate_storage_class_update(&obj, &prev, &mut errs)
        }
        ("storage.k8s.io", "VolumeAttachment") => {
            storage::validate_volume_attachment(&obj, &mut errs);
            storage::validate_volume_attachment_update(&obj, &prev, &mut errs);
        }
        ("storage.k8s.io", "CSIDriver") => {
            storage::validate_csi_driver_update(&obj, &prev, &mut errs)
        }
        ("storage.k8s.io", "CSINode") => storage::validate_csi_node_update(&obj, &prev, &mut errs),
        ("scheduling.k8s.io", "PriorityClass") => {
            others::validate_priority_class_update(&obj, &prev, &mut errs)
        }
        ("discovery.k8s.io", "EndpointSlice") => {
            others::validate_endpoint_slice_update(&obj, &prev, &mut errs)
        }
        _ => create_checks(group, kind, &obj, &mut errs),
    }
    dedup(errs)
}

/// Validates an update of a built-in object's `status` subresource.
pub fn validate_status_update(
    group: &str,
    _version: &str,
    kind: &str,
    old: &Value,
    new: &Value,
) -> Vec<FieldError> {
    if let Some(errs) = not_an_object(new) {
        return errs;
    }
    if kind_rule(group, kind).is_none() {
        return Vec::new();
    }
    let (obj, prev) = (Node::root(new), Node::root(old));
    let mut errs = Vec::new();
    meta::validate_object_meta_update(&obj.field("metadata"), &prev.field("metadata"), &mut errs);
    match (group, kind) {
        ("", "Pod") => pod_update::validate_pod_status(&obj, &prev, &mut errs),
        ("", "ReplicationController") | ("apps", _) => {
            apps::validate_workload_status(kind, &obj, &prev, &mut errs)
        }
        ("", "Service") => service::validate_service_status(&obj, &mut errs),
        ("", "Node") => node::validate_node_update(&obj, &prev, &mut errs),
        ("", "Namespace") => config::validate_namespace_status(&obj, &mut errs),
        ("", "PersistentVolume") => persistent_volumes::validate_volume_status(&obj, &mut errs),
        ("", "PersistentVolumeClaim") => persistent_volumes::validate_claim_status(&obj, &mut errs),
        ("", "ResourceQuota") => quota::validate_resource_quota_status(&obj, &mut errs),
        ("batch", "Job") => batch::validate_job_status(&obj, &prev, &mut errs),
        ("networking.k8s.io", "Ingress") => networking::validate_ingress_status(&obj, &mut errs),
        ("policy", "PodDisruptionBudget") => others::validate_pdb_status(&obj, &mut errs),
        ("autoscaling", "HorizontalPodAutoscaler") => {
            autoscaling::validate_hpa_status(&obj, &mut errs)
        }
        _ => {}
    }
    dedup(errs)
}

/// The generic `metadata` rules of a new object (name as a DNS subdomain), for kinds this
/// module does not know, such as custom resources.
pub fn validate_metadata_create(object: &Value, namespaced: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    meta::validate_object_meta(
        &Node::root(object).field("metadata"),
        namespaced,
        NameRule::Dns1123Subdomain,
        &mut errs,
    );
    dedup(errs)
}

/// The generic `metadata` rules of an update (identity immutable, resourceVersion present…).
pub fn validate_metadata_update(old: &Value, new: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    meta::validate_object_meta_update(
        &Node::root(new).field("metadata"),
        &Node::root(old).field("metadata"),
        &mut errs,
    );
    dedup(errs)
}

#[cfg(test)]
mod tests;
