//! Admission of built-in and custom objects: defaulting and validation as upstream applies
//! them, before anything is written.

pub mod defaults;

use serde_json::Value;

use super::field_error::FieldError;
use super::object;
use super::registry::ResourceInfo;

/// Fills in upstream's defaults (every create and update).
pub fn default(info: &ResourceInfo, object: &mut Value) {
    if info.custom.is_none() {
        defaults::apply_defaults(&info.group, &info.version, &info.kind, object);
    }
}

/// What only a create sets, after defaulting: starting status, the Namespace finalizer, a
/// pod's priority, a Job's generated selector.
pub fn prepare_for_create(info: &ResourceInfo, object: &mut Value) {
    if info.custom.is_some() {
        return;
    }
    if info.group == "batch" && info.kind == "Job" {
        let uid = object::uid(object).to_string();
        defaults::generate_job_selector(object, &uid);
    }
    defaults::prepare_for_create(
        &info.group,
        &info.version,
        &info.kind,
        object,
        &object::now(),
    );
}

fn name_errors(info: &ResourceInfo, object: &Value) -> Vec<FieldError> {
    let name = object::name(object);
    let mut errors = Vec::new();
    if name.is_empty() {
        errors.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else if info.kind != "Namespace"
        && !crate::config::is_dns_subdomain(name)
        && info.group != "rbac.authorization.k8s.io"
    {
        errors.push(FieldError::invalid(
            "metadata.name",
            &Value::String(name.to_string()),
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        ));
    }
    errors
}

pub fn validate_create(info: &ResourceInfo, object: &Value) -> Vec<FieldError> {
    name_errors(info, object)
}

pub fn validate_update(info: &ResourceInfo, old: &Value, new: &Value) -> Vec<FieldError> {
    let _ = old;
    name_errors(info, new)
}

pub fn validate_status_update(info: &ResourceInfo, old: &Value, new: &Value) -> Vec<FieldError> {
    let _ = (info, old, new);
    Vec::new()
}
