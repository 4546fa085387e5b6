//! A container's `volumeMounts` and `volumeDevices`: they name declared volumes, use unique
//! paths, do not overlap each other, and keep subPath, propagation and read-only rules.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::container::PodContext;
use super::json::Node;
use super::volumes::{local_descending_path, path_no_backsteps};
use crate::api::field_error::FieldError;

pub(crate) fn validate_volume_mounts(ctr: &Node, ctx: &PodContext, errs: &mut Vec<FieldError>) {
    let mounts = ctr.field("volumeMounts");
    let mut ignored = Vec::new();
    let devices: BTreeMap<&str, &str> = ctr
        .field("volumeDevices")
        .items(&mut ignored)
        .iter()
        .map(|d| {
            (
                d.field("name").str(&mut ignored),
                d.field("devicePath").str(&mut ignored),
            )
        })
        .collect();
    let privileged = ctr
        .at(&["securityContext", "privileged"])
        .bool(&mut ignored);
    let mut mount_points = BTreeSet::new();
    for mount in mounts.items(errs) {
        let name_node = mount.field("name");
        let name = name_node.str(errs);
        if name.is_empty() {
            errs.push(FieldError::required(name_node.path(), ""));
        }
        if !ctx.volumes.contains_key(name) {
            errs.push(FieldError::not_found(name_node.path(), &Value::from(name)));
        }
        let path_node = mount.field("mountPath");
        let mount_path = path_node.str(errs);
        if mount_path.is_empty() {
            errs.push(FieldError::required(path_node.path(), ""));
        }
        if !mount_points.insert(mount_path) {
            errs.push(FieldError::invalid(
                path_node.path(),
                &Value::from(mount_path),
                "must be unique",
            ));
        }
        if devices.contains_key(name) {
            errs.push(FieldError::invalid(
                name_node.path(),
                &Value::from(name),
                "must not already exist in volumeDevices",
            ));
        }
        if devices.values().any(|p| *p == mount_path) {
            errs.push(FieldError::invalid(
                path_node.path(),
                &Value::from(mount_path),
                "must not already exist as a path in volumeDevices",
            ));
        }
        let sub_path = mount.field("subPath").str(errs);
        let sub_expr = mount.field("subPathExpr").str(errs);
        if ctx.volumes.get(name).is_some_and(|v| v.image) {
            if !sub_path.is_empty() {
                errs.push(FieldError::invalid(
                    mount.path().child("subPath"),
                    &Value::from(sub_path),
                    "not allowed in image volume sources",
                ));
            }
            if !sub_expr.is_empty() {
                errs.push(FieldError::invalid(
                    mount.path().child("subPathExpr"),
                    &Value::from(sub_expr),
                    "not allowed in image volume sources",
                ));
            }
        }
        if !sub_path.is_empty() {
            local_descending_path(&mounts.path().child("subPath"), sub_path, errs);
        }
        if !sub_expr.is_empty() {
            if !sub_path.is_empty() {
                errs.push(FieldError::invalid(
                    mount.path().child("subPathExpr"),
                    &Value::from(sub_expr),
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            local_descending_path(&mounts.path().child("subPathExpr"), sub_expr, errs);
        }
        let propagation = mount.field("mountPropagation");
        let prop = propagation.opt_str(errs);
        let propagation_path = mounts.path().child("mountPropagation");
        if let Some(p) = prop {
            const MODES: [&str; 3] = ["Bidirectional", "HostToContainer", "None"];
            if !MODES.contains(&p) {
                errs.push(FieldError::not_supported(
                    &propagation_path,
                    &Value::from(p),
                    &MODES,
                ));
            }
            if p == "Bidirectional" && !privileged {
                errs.push(FieldError::forbidden(
                    &propagation_path,
                    "Bidirectional mount propagation is available only to privileged containers",
                ));
            }
        }
        let rro = mount.field("recursiveReadOnly");
        let rro_path = mounts.path().child("recursiveReadOnly");
        match rro.opt_str(errs) {
            None | Some("Disabled") => {}
            Some("Enabled" | "IfPossible") => {
                if !mount.field("readOnly").bool(errs) {
                    errs.push(FieldError::forbidden(
                        &rro_path,
                        "may only be specified when readOnly is true",
                    ));
                }
                if prop.is_some_and(|p| p != "None") {
                    errs.push(FieldError::forbidden(
                        &rro_path,
                        "may only be specified when mountPropagation is None or not specified",
                    ));
                }
            }
            Some(other) => errs.push(FieldError::not_supported(
                &rro_path,
                &Value::from(other),
                &["Disabled", "Enabled", "IfPossible"],
            )),
        }
    }
}

pub(crate) fn validate_volume_devices(ctr: &Node, ctx: &PodContext, errs: &mut Vec<FieldError>) {
    let devices = ctr.field("volumeDevices");
    let mut ignored = Vec::new();
    let mounts: BTreeMap<&str, &str> = ctr
        .field("volumeMounts")
        .items(&mut ignored)
        .iter()
        .map(|m| {
            (
                m.field("name").str(&mut ignored),
                m.field("mountPath").str(&mut ignored),
            )
        })
        .collect();
    let (mut paths, mut names) = (BTreeSet::new(), BTreeSet::new());
    for device in devices.items(errs) {
        let name_node = device.field("name");
        let name = name_node.str(errs);
        let path_node = device.field("devicePath");
        let path = path_node.str(errs);
        let shown_name = Value::from(name);
        if name.is_empty() {
            errs.push(FieldError::required(name_node.path(), ""));
        }
        if names.contains(name) {
            errs.push(FieldError::invalid(
                name_node.path(),
                &shown_name,
                "must be unique",
            ));
        }
        match ctx.volumes.get(name) {
            Some(v) if !v.claim => errs.push(FieldError::invalid(
                name_node.path(),
                &shown_name,
                "can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode",
            )),
            Some(_) => {}
            None => errs.push(FieldError::not_found(name_node.path(), &shown_name)),
        }
        if path.is_empty() {
            errs.push(FieldError::required(path_node.path(), ""));
        }
        if paths.contains(path) {
            errs.push(FieldError::invalid(
                path_node.path(),
                &Value::from(path),
                "must be unique",
            ));
        }
        let mut backsteps = Vec::new();
        path_no_backsteps(path_node.path(), path, &mut backsteps);
        if !path.is_empty() && !backsteps.is_empty() {
            errs.push(FieldError::invalid(
                path_node.path(),
                &Value::from(path),
                "can not contain backsteps ('..')",
            ));
        } else {
            paths.insert(path);
        }
        if mounts.contains_key(name) {
            errs.push(FieldError::invalid(
                name_node.path(),
                &shown_name,
                "must not already exist in volumeMounts",
            ));
        }
        if mounts.values().any(|p| *p == path) {
            errs.push(FieldError::invalid(
                path_node.path(),
                &Value::from(path),
                "must not already exist as a path in volumeMounts",
            ));
        }
        if !name.is_empty() {
            names.insert(name);
        }
    }
}
