//! Admission of built-in and custom objects: defaulting and validation as upstream applies
//! them, before anything is written; the LimitRange ([`limitrange`]) and ResourceQuota
//! ([`quota`]) admission plugins; the CertificateSigningRequest rules ([`certificates`]).

pub mod certificates;
pub mod decode;
pub mod defaults;
pub mod limitrange;
pub mod priority;
pub mod quota;
pub mod quota_usage;
pub mod validation;

use serde_json::Value;

use super::field_error::FieldError;
use super::object;
use super::registry::ResourceInfo;

fn is_crd(info: &ResourceInfo) -> bool {
    info.group == "apiextensions.k8s.io" && info.kind == "CustomResourceDefinition"
}

/// Fills in upstream's defaults (every create and update): the built-in defaults, or those
/// of a custom resource's schema.
pub fn default(info: &ResourceInfo, object: &mut Value) {
    match &info.custom {
        Some(custom) => {
            if let Some(schema) = &custom.schema {
                super::schema::apply_defaults(schema, object, None);
            }
        }
        None if is_crd(info) => super::schema::default_crd(object),
        None => defaults::apply_defaults(&info.group, &info.version, &info.kind, object),
    }
}

/// Errors of a custom resource against its schema.
fn schema_errors(info: &ResourceInfo, object: &Value) -> Vec<FieldError> {
    info.custom
        .as_ref()
        .and_then(|c| c.schema.as_ref())
        .map(|schema| super::schema::validate(schema, object, None))
        .unwrap_or_default()
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
        let mut errors = validation::validate_metadata_create(object, info.namespaced);
        errors.extend(schema_errors(info, object));
        return errors;
    }
    let mut errors = validation::validate_create(&info.group, &info.version, &info.kind, object);
    if is_crd(info) {
        errors.extend(super::schema::validate_crd(object, None));
    }
    errors
}

pub fn validate_update(info: &ResourceInfo, old: &Value, new: &Value) -> Vec<FieldError> {
    if info.custom.is_some() {
        let mut errors = validation::validate_metadata_update(old, new);
        errors.extend(schema_errors(info, new));
        return errors;
    }
    let mut errors = validation::validate_update(&info.group, &info.version, &info.kind, old, new);
    if is_crd(info) {
        errors.extend(super::schema::validate_crd(new, Some(old)));
    }
    errors
}

pub fn validate_status_update(info: &ResourceInfo, old: &Value, new: &Value) -> Vec<FieldError> {
    if info.custom.is_some() {
        let mut errors = validation::validate_metadata_update(old, new);
        errors.extend(schema_errors(info, new));
        return errors;
    }
    validation::validate_status_update(&info.group, &info.version, &info.kind, old, new)
}
