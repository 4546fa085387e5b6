//! storage.k8s.io: StorageClasses (provisioner, parameters, reclaim policy, binding mode,
//! allowed topologies and what may not change), VolumeAttachments, CSIDrivers and CSINodes.

use std::collections::BTreeSet;

use serde_json::Value;

use super::json::{Node, semantically_equal};
use super::meta::{FIELD_IMMUTABLE, immutable, nonnegative, validate_label_name};
use super::names::{NameRule, inclusive_range_error, invalid_each, label_key_errors};
use super::volumes::csi_driver_name;
use crate::api::field_error::{FieldError, Path};

const MAX_PARAMETERS: usize = 512;
const MAX_PARAMETERS_SIZE: usize = 256 * 1024;

/// Upstream's `ValidateStorageClass` (everything but the metadata).
pub(crate) fn validate_storage_class(obj: &Node, errs: &mut Vec<FieldError>) {
    let provisioner = obj.field("provisioner");
    let p = provisioner.str(errs);
    if p.is_empty() {
        errs.push(FieldError::required(provisioner.path(), ""));
    } else {
        let lower = p.to_lowercase();
        errs.extend(invalid_each(
            provisioner.path(),
            &lower,
            label_key_errors(&lower),
        ));
    }
    let parameters = obj.field("parameters");
    let params = parameters.string_map(errs);
    if params.len() > MAX_PARAMETERS {
        errs.push(FieldError::too_long(parameters.path(), MAX_PARAMETERS));
    } else {
        let mut total = 0;
        for (k, v) in &params {
            if k.is_empty() {
                errs.push(FieldError::invalid(
                    parameters.path(),
                    &Value::from(*k),
                    "field can not be empty.",
                ));
            }
            total += k.len() + v.len();
        }
        if total > MAX_PARAMETERS_SIZE {
            errs.push(FieldError::too_long(parameters.path(), MAX_PARAMETERS_SIZE));
        }
    }
    let reclaim = obj.field("reclaimPolicy");
    if let Some(r) = reclaim.opt_str(errs)
        && !r.is_empty()
        && r != "Delete"
        && r != "Retain"
    {
        errs.push(FieldError::not_supported(
            reclaim.path(),
            &Value::from(r),
            &["Delete", "Retain"],
        ));
    }
    let mode = obj.field("volumeBindingMode");
    match mode.opt_str(errs) {
        None => errs.push(FieldError::required(mode.path(), "")),
        Some("Immediate" | "WaitForFirstConsumer") => {}
        Some(other) => errs.push(FieldError::not_supported(
            mode.path(),
            &Value::from(other),
            &["Immediate", "WaitForFirstConsumer"],
        )),
    }
    let mut seen: Vec<Vec<(String, BTreeSet<String>)>> = Vec::new();
    for term in obj.field("allowedTopologies").items(errs) {
        let exprs = term.field("matchLabelExpressions");
        let mut map: Vec<(String, BTreeSet<String>)> = Vec::new();
        for expr in exprs.items(errs) {
            let values = expr.field("values");
            let list = values.string_list(errs);
            if list.is_empty() {
                errs.push(FieldError::required(values.path(), ""));
            }
            let mut set = BTreeSet::new();
            for (i, v) in list.iter().enumerate() {
                if !set.insert(v.to_string()) {
                    errs.push(FieldError::duplicate(
                        values.path().index(i),
                        &Value::from(*v),
                    ));
                }
            }
            let key = expr.field("key");
            let k = key.str(errs);
            validate_label_name(key.path(), k, errs);
            if map.iter().any(|(existing, _)| existing == k) {
                errs.push(FieldError::duplicate(key.path(), &Value::from(k)));
            }
            map.push((k.to_string(), set));
        }
        map.sort();
        if seen.contains(&map) {
            errs.push(FieldError::duplicate(exprs.path(), &Value::from("")));
        }
        seen.push(map);
    }
}

/// A StorageClass update: parameters, provisioner, reclaimPolicy and volumeBindingMode are fixed.
pub(crate) fn validate_storage_class_update(new: &Node, old: &Node, errs: &mut Vec<FieldError>) {
    validate_storage_class(new, errs);
    let changed = |key: &str| !semantically_equal(new.field(key).value(), old.field(key).value());
    if changed("parameters") {
        errs.push(FieldError::forbidden(
            "parameters",
            "updates to parameters are forbidden.",
        ));
    }
    if changed("provisioner") {
        errs.push(FieldError::forbidden(
            "provisioner",
            "updates to provisioner are forbidden.",
        ));
    }
    if changed("reclaimPolicy") {
        errs.push(FieldError::forbidden(
            "reclaimPolicy",
            "updates to reclaimPolicy are forbidden.",
        ));
    }
    immutable(
        &new.field("volumeBindingMode"),
        &old.field("volumeBindingMode"),
        errs,
    );
}

/// Upstream's `ValidateVolumeAttachment` plus the v1-only checks.
pub(crate) fn validate_volume_attachment(obj: &Node, errs: &mut Vec<FieldError>) {
    let spec = obj.field("spec");
    let attacher = spec.field("attacher");
    if attacher.str(errs).is_empty() {
        errs.push(FieldError::required(attacher.path(), ""));
    }
    let source = spec.field("source");
    let pv = source.field("persistentVolumeName");
    let inline = source.field("inlineVolumeSpec");
    let exactly_one = "must specify exactly one of inlineVolumeSpec and persistentVolumeName";
    match (pv.opt_str(errs), inline.is_set()) {
        (None, false) => errs.push(FieldError::required(source.path(), exactly_one)),
        (Some(_), true) => errs.push(FieldError::forbidden(source.path(), exactly_one)),
        (Some(""), false) => errs.push(FieldError::required(
            pv.path(),
            "must specify non empty persistentVolumeName",
        )),
        _ => {}
    }
    let node_name = spec.field("nodeName");
    let n = node_name.str(errs);
    errs.extend(invalid_each(
        node_name.path(),
        n,
        NameRule::Dns1123Subdomain.errors(n, false),
    ));
    let status = obj.field("status");
    let metadata = status.field("attachmentMetadata");
    let size: usize = metadata
        .string_map(errs)
        .iter()
        .map(|(k, v)| k.len() + v.len())
        .sum();
    if size > 256 * 1024 {
        errs.push(FieldError::too_long(metadata.path(), 256 * 1024));
    }
    for key in ["attachError", "detachError"] {
        let error = status.field(key);
        let message = error.field("message");
        if message.str(errs).len() > 1024 {
            errs.push(FieldError::too_long(message.path(), 256 * 1024));
        }
        let code = error.field("errorCode");
        if let Some(c) = code.opt_int(errs)
            && c < 0
        {
            errs.push(FieldError::invalid(
                code.path(),
                &Value::from(c),
                &inclusive_range_error(0, i64::from(i32::MAX)),
            ));
        }
    }
    csi_driver_name(
        &Node::new(attacher.value(), Path::root("spec.attacher")),
        errs,
    );
    if let Some(name) = pv.opt_str(&mut Vec::new()) {
        errs.extend(invalid_each(
            &Path::root("spec.source.persistentVolumeName"),
            name,
            NameRule::Dns1123Subdomain.errors(name, false),
        ));
    }
}

/// A VolumeAttachment update: the spec is read-only.
pub(crate) fn validate_volume_attachment_update(
    new: &Node,
    old: &Node,
    errs: &mut Vec<FieldError>,
) {
    let (n, o) = (new.field("spec"), old.field("spec"));
    if !semantically_equal(n.value(), o.value()) {
        errs.push(FieldError::invalid(n.path(), n.value(), FIELD_IMMUTABLE));
    }
}

/// A CSIDriver: its name is a CSI driver name; enumerated fields hold known values.
pub(crate) fn validate_csi_driver(obj: &Node, errs: &mut Vec<FieldError>) {
    csi_driver_name(
        &Node::new(obj.at(&["metadata", "name"]).value(), Path::root("name")),
        errs,
    );
    let spec = obj.field("spec");
    for key in [
        "attachRequired",
        "podInfoOnMount",
        "requiresRepublish",
        "storageCapacity",
    ] {
        let node = spec.field(key);
        if !node.is_set() {
            errs.push(FieldError::required(node.path(), ""));
        }
    }
    let modes = spec.field("volumeLifecycleModes");
    for mode in modes.items(errs) {
        let m = mode.str(errs);
        if m != "Persistent" && m != "Ephemeral" {
            errs.push(FieldError::not_supported(
                mode.path(),
                &Value::from(m),
                &["Ephemeral", "Persistent"],
            ));
        }
    }
    let policy = spec.field("fsGroupPolicy");
    if let Some(p) = policy.opt_str(errs) {
        const POLICIES: [&str; 3] = ["File", "None", "ReadWriteOnceWithFSType"];
        if !POLICIES.contains(&p) {
            errs.push(FieldError::not_supported(
                policy.path(),
                &Value::from(p),
                &POLICIES,
            ));
        }
    }
    let mut audiences = BTreeSet::new();
    for token in spec.field("tokenRequests").items(errs) {
        let audience = token.field("audience");
        let a = audience.str(errs);
        if !audiences.insert(a) {
            errs.push(FieldError::duplicate(audience.path(), &Value::from(a)));
        }
        let expiration = token.field("expirationSeconds");
        if let Some(e) = expiration.opt_int(errs) {
            if e < 600 {
                errs.push(FieldError::invalid(
                    expiration.path(),
                    &Value::from(e),
                    "may not specify a duration less than 10 minutes",
                ));
            }
            if e > 1 << 32 {
                errs.push(FieldError::invalid(
                    expiration.path(),
                    &Value::from(e),
                    "may not specify a duration larger than 2^32 seconds",
                ));
            }
        }
    }
}

/// A CSIDriver update: attachRequired and volumeLifecycleModes are fixed.
pub(crate) fn validate_csi_driver_update(new: &Node, old: &Node, errs: &mut Vec<FieldError>) {
    validate_csi_driver(new, errs);
    for key in ["attachRequired", "volumeLifecycleModes"] {
        immutable(&new.at(&["spec", key]), &old.at(&["spec", key]), errs);
    }
}

/// A CSINode: unique driver names, node IDs and topology keys.
pub(crate) fn validate_csi_node(obj: &Node, errs: &mut Vec<FieldError>) {
    let mut names = BTreeSet::new();
    for driver in obj.at(&["spec", "drivers"]).items(errs) {
        let name = driver.field("name");
        csi_driver_name(&name, errs);
        let n = name.str(errs);
        if !names.insert(n) {
            errs.push(FieldError::duplicate(name.path(), &Value::from(n)));
        }
        let node_id = driver.field("nodeID");
        let id = node_id.str(errs);
        if id.is_empty() {
            errs.push(FieldError::required(node_id.path(), ""));
        }
        if id.len() > 256 {
            errs.push(FieldError::invalid(
                node_id.path(),
                &Value::from(id),
                "must be 256 characters or less",
            ));
        }
        let keys = driver.field("topologyKeys");
        let mut seen = BTreeSet::new();
        for (i, key) in keys.string_list(errs).iter().enumerate() {
            if key.is_empty() {
                errs.push(FieldError::required(keys.path(), ""));
            }
            if !seen.insert(*key) {
                errs.push(FieldError::duplicate(
                    keys.path().index(i),
                    &Value::from(*key),
                ));
            }
            validate_label_name(&keys.path().index(i), key, errs);
        }
        nonnegative(&driver.at(&["allocatable", "count"]), errs);
    }
}

/// A CSINode update: an existing driver entry does not change (its allocatable count may).
pub(crate) fn validate_csi_node_update(new: &Node, old: &Node, errs: &mut Vec<FieldError>) {
    validate_csi_node(new, errs);
    let mut ignored = Vec::new();
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Value::Object(m) = &mut v {
            m.remove("allocatable");
        }
        v
    };
    let new_drivers = new.at(&["spec", "drivers"]).items(&mut ignored);
    for old_driver in old.at(&["spec", "drivers"]).items(&mut ignored) {
        let name = old_driver.field("name").str(&mut Vec::new());
        if let Some(n) = new_drivers
            .iter()
            .find(|d| d.field("name").str(&mut Vec::new()) == name)
            && !semantically_equal(&strip(n.value()), &strip(old_driver.value()))
        {
            errs.push(FieldError::invalid(
                Path::root("spec").child("drivers"),
                n.value(),
                FIELD_IMMUTABLE,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn storage_class_rules() {
        let sc =
            json!({"provisioner": "", "reclaimPolicy": "Recycle", "volumeBindingMode": "Later"});
        let mut errs = Vec::new();
        validate_storage_class(&Node::root(&sc), &mut errs);
        let errs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            errs,
            vec![
                "provisioner: Required value",
                "reclaimPolicy: Unsupported value: \"Recycle\": supported values: \"Delete\", \"Retain\"",
                "volumeBindingMode: Unsupported value: \"Later\": supported values: \"Immediate\", \"WaitForFirstConsumer\"",
            ]
        );
        let old = json!({"provisioner": "a.io/x", "parameters": {"a": "1"}, "volumeBindingMode": "Immediate"});
        let new = json!({"provisioner": "a.io/y", "parameters": {"a": "2"}, "volumeBindingMode": "Immediate"});
        let mut errs = Vec::new();
        validate_storage_class_update(&Node::root(&new), &Node::root(&old), &mut errs);
        let errs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            errs,
            vec![
                "parameters: Forbidden: updates to parameters are forbidden.",
                "provisioner: Forbidden: updates to provisioner are forbidden.",
            ]
        );
    }

    #[test]
    fn volume_attachment_rules() {
        let va = json!({"spec": {"attacher": "csi.example.com", "nodeName": "n1", "source": {}}});
        let mut errs = Vec::new();
        validate_volume_attachment(&Node::root(&va), &mut errs);
        assert_eq!(
            errs[0].to_string(),
            "spec.source: Required value: must specify exactly one of inlineVolumeSpec and persistentVolumeName"
        );
    }
}
