//! Admission of built-in and custom objects: defaulting and validation as upstream applies
//! them, before anything is written.

pub mod defaults;
pub mod validation;

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

pub fn validate_create(info: &ResourceInfo, object: &Value) -> Vec<FieldError> {
    if info.custom.is_some() {
        return validation::validate_metadata_create(object, info.namespaced);
    }
    validation::validate_create(&info.group, &info.version, &info.kind, object)
}

pub fn validate_update(info: &ResourceInfo, old: &Value, new: &Value) -> Vec<FieldError> {
    if info.custom.is_some() {
        return validation::validate_metadata_update(old, new);
    }
    validation::validate_update(&info.group, &info.version, &info.kind, old, new)
}

pub fn validate_status_update(info: &ResourceInfo, old: &Value, new: &Value) -> Vec<FieldError> {
    if info.custom.is_some() {
        return validation::validate_metadata_update(old, new);
    }
    validation::validate_status_update(&info.group, &info.version, &info.kind, old, new)
}
