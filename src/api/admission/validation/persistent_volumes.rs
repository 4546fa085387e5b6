//! PersistentVolumes and PersistentVolumeClaims: access modes, capacity and storage requests,
//! exactly one volume source, and what may change on update (a bound claim's storage request
//! may grow; a volume's source never changes).

use serde_json::Value;

use super::json::{Node, describe_diff, semantically_equal};
use super::meta::{FIELD_IMMUTABLE, validate_label_selector};
use super::names::{NameRule, dns1123_subdomain_errors, invalid_each};
use super::resources::{read_quantity, read_resource_list, validate_resource_quantity_value};
use super::scheduling::node_selector;
use super::volumes::{csi_driver_name, path_no_backsteps};
use crate::api::field_error::{FieldError, Path};

const ACCESS_MODES: [&str; 4] = [
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOnce",
    "ReadWriteOncePod",
];
const VOLUME_MODES: [&str; 2] = ["Block", "Filesystem"];
const STORAGE_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";
const PV_SOURCES: [&str; 22] = [
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "glusterfs",
    "flocker",
    "nfs",
    "rbd",
    "quobyte",
    "cephfs",
    "iscsi",
    "cinder",
    "fc",
    "flexVolume",
    "azureFile",
    "vsphereVolume",
    "photonPersistentDisk",
    "portworxVolume",
    "azureDisk",
    "scaleIO",
    "local",
    "storageos",
    "csi",
];

fn access_modes(node: &Node, errs: &mut Vec<FieldError>) {
    let modes = node.string_list(errs);
    let (mut rwop, mut other) = (false, false);
    for mode in &modes {
        if !ACCESS_MODES.contains(mode) {
            errs.push(FieldError::not_supported(
                node.path(),
                &Value::from(*mode),
                &ACCESS_MODES,
            ));
        } else if *mode == "ReadWriteOncePod" {
            rwop = true;
        } else {
            other = true;
        }
    }
    if rwop && other {
        errs.push(FieldError::forbidden(
            node.path(),
            "may not use ReadWriteOncePod with other access modes",
        ));
    }
}

fn class_name(node: &Node, errs: &mut Vec<FieldError>) {
    let name = node.str(errs);
    if !name.is_empty() {
        errs.extend(invalid_each(
            node.path(),
            name,
            dns1123_subdomain_errors(name),
        ));
    }
}

fn volume_mode(node: &Node, errs: &mut Vec<FieldError>) {
    if let Some(mode) = node.opt_str(errs)
        && !VOLUME_MODES.contains(&mode)
    {
        errs.push(FieldError::not_supported(
            node.path(),
            &Value::from(mode),
            &VOLUME_MODES,
        ));
    }
}

fn data_source(node: &Node, with_namespace: bool, errs: &mut Vec<FieldError>) {
    for key in ["name", "kind"] {
        let field = node.field(key);
        if field.str(errs).is_empty() {
            errs.push(FieldError::required(field.path(), ""));
        }
    }
    let kind = node.field("kind").str(errs);
    let group_node = node.field("apiGroup");
    let group = group_node.str(errs);
    if group.is_empty() && kind != "PersistentVolumeClaim" {
        errs.push(FieldError::invalid(
            node.path(),
            &Value::from(kind),
            "must be 'PersistentVolumeClaim' when referencing the default apiGroup",
        ));
    }
    if !group.is_empty() {
        errs.extend(invalid_each(
            group_node.path(),
            group,
            dns1123_subdomain_errors(group),
        ));
    }
    if with_namespace {
        let ns_node = node.field("namespace");
        let ns = ns_node.str(errs);
        if !ns.is_empty() {
            errs.extend(invalid_each(
                ns_node.path(),
                ns,
                NameRule::Dns1123Label.errors(ns, false),
            ));
        }
    }
}

/// Upstream's `ValidatePersistentVolumeClaimSpec` (also used by ephemeral volume templates).
pub(crate) fn validate_claim_spec(spec: &Node, errs: &mut Vec<FieldError>) {
    let modes = spec.field("accessModes");
    if modes.len() == 0 {
        errs.push(FieldError::required(
            modes.path(),
            "at least 1 access mode is required",
        ));
    }
    let selector = spec.field("selector");
    if selector.is_set() {
        validate_label_selector(&selector, false, errs);
    }
    access_modes(&modes, errs);
    let storage_path = spec.path().child("resources").key("storage");
    match read_quantity(&spec.at(&["resources", "requests", "storage"]), errs) {
        None => errs.push(FieldError::required(&storage_path, "")),
        Some(q) if q.sign() <= 0 => errs.push(FieldError::invalid(
            &storage_path,
            &Value::from(q.to_canonical_string()),
            "must be greater than zero",
        )),
        Some(q) => validate_resource_quantity_value(&storage_path, "storage", &q, errs),
    }
    class_name(&spec.field("storageClassName"), errs);
    volume_mode(&spec.field("volumeMode"), errs);
    let source = spec.field("dataSource");
    let source_ref = spec.field("dataSourceRef");
    if source.is_set() {
        data_source(&source, false, errs);
    }
    if source_ref.is_set() {
        data_source(&source_ref, true, errs);
    }
    let mut ignored = Vec::new();
    let ref_namespace = source_ref.field("namespace").str(&mut ignored);
    if !ref_namespace.is_empty() {
        if source.is_set() {
            errs.push(FieldError::invalid(
                spec.path(),
                &Value::from(source.path().as_str()),
                "may not be specified when dataSourceRef.namespace is specified",
            ));
        }
    } else if source.is_set() && source_ref.is_set() {
        let same = ["apiGroup", "kind", "name"]
            .iter()
            .all(|k| semantically_equal(source.field(k).value(), source_ref.field(k).value()));
        if !same {
            errs.push(FieldError::invalid(
                spec.path(),
                &Value::from(source.path().as_str()),
                "must match dataSourceRef",
            ));
        }
    }
    class_name(&spec.field("volumeAttributesClassName"), errs);
}

/// A new PersistentVolumeClaim's spec.
pub(crate) fn validate_claim(obj: &Node, errs: &mut Vec<FieldError>) {
    validate_claim_spec(&obj.field("spec"), errs);
}

/// What may change in a claim: a bound claim's storage request (growing, or shrinking above
/// its capacity), its volumeAttributesClassName, a volumeName still unset, and the move from
/// the beta storage-class annotation to `storageClassName`.
pub(crate) fn validate_claim_update(new: &Node, old: &Node, errs: &mut Vec<FieldError>) {
    validate_claim(new, errs);
    let mut ignored = Vec::new();
    let new_spec = new.field("spec");
    let old_spec = old.field("spec");
    let mut cmp_new = new_spec.value().clone();
    let mut cmp_old = old_spec.value().clone();
    if old_spec.field("volumeName").str(&mut ignored).is_empty() {
        set(
            &mut cmp_old,
            "volumeName",
            new_spec.field("volumeName").value().clone(),
        );
    }
    let annotation = |obj: &Node| {
        obj.at(&["metadata", "annotations"])
            .string_map(&mut Vec::new())
            .get(STORAGE_CLASS_ANNOTATION)
            .map(|s| s.to_string())
    };
    let (old_ann, new_ann) = (annotation(old), annotation(new));
    let old_sc = old_spec.field("storageClassName").opt_str(&mut ignored);
    let new_sc = new_spec.field("storageClassName").opt_str(&mut ignored);
    let upgrade = old_ann.is_some()
        && old_sc.is_none()
        && new_sc.is_some_and(|sc| Some(sc) == old_ann.as_deref())
        && (new_ann.is_none() || new_ann == old_ann);
    if upgrade {
        set(&mut cmp_new, "storageClassName", Value::Null);
    } else {
        if new_ann != old_ann {
            errs.push(FieldError::invalid(
                Path::root("metadata")
                    .child("annotations")
                    .child(STORAGE_CLASS_ANNOTATION),
                &Value::from(new_ann.unwrap_or_default()),
                FIELD_IMMUTABLE,
            ));
        }
        if new_sc.is_some()
            && old_sc.is_none()
            && (old_ann.is_none() || new_sc == old_ann.as_deref())
        {
            set(
                &mut cmp_new,
                "storageClassName",
                old_spec.field("storageClassName").value().clone(),
            );
        }
    }
    let bound = new.at(&["status", "phase"]).str(&mut ignored) == "Bound";
    if bound {
        let old_storage = old_spec
            .at(&["resources", "requests", "storage"])
            .value()
            .clone();
        if let Some(requests) = cmp_new
            .get_mut("resources")
            .and_then(|r| r.get_mut("requests"))
        {
            set(requests, "storage", old_storage);
        }
        set(
            &mut cmp_new,
            "volumeAttributesClassName",
            old_spec.field("volumeAttributesClassName").value().clone(),
        );
    }
    if !semantically_equal(&cmp_new, &cmp_old) {
        errs.push(FieldError::forbidden(
            "spec",
            &format!(
                "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n{}",
                describe_diff("core.PersistentVolumeClaimSpec", &cmp_old, &cmp_new)
            ),
        ));
    }
    let size = |spec: &Node| {
        read_quantity(
            &spec.at(&["resources", "requests", "storage"]),
            &mut Vec::new(),
        )
    };
    let capacity = read_quantity(&old.at(&["status", "capacity", "storage"]), &mut ignored);
    if let (Some(new_size), Some(old_size)) = (size(&new_spec), size(&old_spec))
        && new_size < old_size
        && capacity.is_none_or(|c| new_size <= c)
    {
        errs.push(FieldError::forbidden(
            Path::root("spec")
                .child("resources")
                .child("requests")
                .child("storage"),
            "field can not be less than status.capacity",
        ));
    }
    let (nm, om) = (new_spec.field("volumeMode"), old_spec.field("volumeMode"));
    if !semantically_equal(nm.value(), om.value()) {
        errs.push(FieldError::invalid(
            "volumeMode",
            nm.value(),
            FIELD_IMMUTABLE,
        ));
    }
    let (nv, ov) = (
        new_spec.field("volumeAttributesClassName"),
        old_spec.field("volumeAttributesClassName"),
    );
    if ov.is_set() && !semantically_equal(nv.value(), ov.value()) {
        let path = Path::root("spec").child("volumeAttributesClassName");
        if !nv.is_set() {
            errs.push(FieldError::forbidden(
                path,
                "update from non-nil value to nil is forbidden",
            ));
        } else if nv.str(&mut ignored).is_empty() {
            errs.push(FieldError::forbidden(
                path,
                "update from non-nil value to an empty string is forbidden",
            ));
        }
    }
}

fn set(obj: &mut Value, key: &str, value: Value) {
    if let Value::Object(map) = obj {
        if value.is_null() {
            map.remove(key);
        } else {
            map.insert(key.to_string(), value);
        }
    }
}

/// A claim's status update: resourceVersion and access modes present, capacities sane.
pub(crate) fn validate_claim_status(new: &Node, errs: &mut Vec<FieldError>) {
    if new
        .at(&["metadata", "resourceVersion"])
        .str(errs)
        .is_empty()
    {
        errs.push(FieldError::required("resourceVersion", ""));
    }
    if new.at(&["spec", "accessModes"]).len() == 0 {
        errs.push(FieldError::required("Spec.accessModes", ""));
    }
    basic_resources(&new.at(&["status", "capacity"]), errs);
}

fn basic_resources(list: &Node, errs: &mut Vec<FieldError>) {
    for (_, path, q) in read_resource_list(list, errs) {
        if q.value() < 0 {
            errs.push(FieldError::invalid(
                &path,
                &Value::from(q.value()),
                "must be a valid resource quantity",
            ));
        }
    }
}

fn pv_source(key: &str, source: &Node, errs: &mut Vec<FieldError>) {
    let required = |keys: &[&str], errs: &mut Vec<FieldError>| {
        for k in keys {
            let f = source.field(k);
            let empty = match f.value() {
                Value::Array(a) => a.is_empty(),
                _ => f.str(errs).is_empty(),
            };
            if empty {
                errs.push(FieldError::required(f.path(), ""));
            }
        }
    };
    match key {
        "hostPath" => {
            let path = source.field("path");
            let p = path.str(errs);
            if p.is_empty() {
                errs.push(FieldError::required(path.path(), ""));
            } else {
                path_no_backsteps(path.path(), p, errs);
            }
        }
        "local" => {
            let path = source.field("path");
            let p = path.str(errs);
            if p.is_empty() {
                errs.push(FieldError::required(path.path(), ""));
            } else {
                path_no_backsteps(path.path(), p, errs);
            }
        }
        "csi" => {
            csi_driver_name(&source.field("driver"), errs);
            required(&["volumeHandle"], errs);
        }
        "nfs" => {
            required(&["server", "path"], errs);
            let path = source.field("path");
            let p = path.str(errs);
            if !p.starts_with('/') {
                errs.push(FieldError::invalid(
                    path.path(),
                    &Value::from(p),
                    "must be an absolute path",
                ));
            }
        }
        "gcePersistentDisk" => required(&["pdName"], errs),
        "awsElasticBlockStore" | "cinder" | "portworxVolume" => required(&["volumeID"], errs),
        "glusterfs" => required(&["endpoints", "path"], errs),
        "rbd" => required(&["monitors", "image"], errs),
        "quobyte" => required(&["registry", "volume"], errs),
        "cephfs" => required(&["monitors"], errs),
        "iscsi" => required(&["targetPortal", "iqn"], errs),
        "flexVolume" => required(&["driver"], errs),
        "azureFile" => required(&["secretName", "shareName"], errs),
        "vsphereVolume" => required(&["volumePath"], errs),
        "photonPersistentDisk" => required(&["pdID"], errs),
        "azureDisk" => required(&["diskName", "diskURI"], errs),
        "scaleIO" => required(&["gateway", "system", "volumeName"], errs),
        "storageos" => required(&["volumeName"], errs),
        _ => {}
    }
}

/// Upstream's `ValidatePersistentVolumeSpec` for a PersistentVolume object.
pub(crate) fn validate_volume(obj: &Node, errs: &mut Vec<FieldError>) {
    let spec = obj.field("spec");
    let modes = spec.field("accessModes");
    if modes.len() == 0 {
        errs.push(FieldError::required(modes.path(), ""));
    }
    access_modes(&modes, errs);
    let capacity = spec.field("capacity");
    if capacity.len() == 0 {
        errs.push(FieldError::required(capacity.path(), ""));
    }
    let mut ignored = Vec::new();
    let names: Vec<&str> = capacity
        .entries(&mut ignored)
        .iter()
        .map(|(k, _)| *k)
        .collect();
    if !names.contains(&"storage") || names.len() > 1 {
        errs.push(FieldError::not_supported(
            capacity.path(),
            capacity.value(),
            &["storage"],
        ));
    }
    for (_, path, q) in read_resource_list(&capacity, errs) {
        if q.value() < 0 {
            errs.push(FieldError::invalid(
                &path,
                &Value::from(q.value()),
                "must be a valid resource quantity",
            ));
        }
        if q.sign() <= 0 {
            errs.push(FieldError::invalid(
                &path,
                &Value::from(q.to_canonical_string()),
                "must be greater than zero",
            ));
        }
    }
    let policy_node = spec.field("persistentVolumeReclaimPolicy");
    let policy = policy_node.str(errs);
    if !policy.is_empty() && !["Delete", "Recycle", "Retain"].contains(&policy) {
        errs.push(FieldError::not_supported(
            policy_node.path(),
            &Value::from(policy),
            &["Delete", "Recycle", "Retain"],
        ));
    }
    let affinity = spec.field("nodeAffinity");
    if affinity.is_set() {
        let required = affinity.field("required");
        if required.is_set() {
            node_selector(&required, errs);
        } else {
            errs.push(FieldError::required(
                required.path(),
                "must specify required node constraints",
            ));
        }
    }
    let mut count = 0;
    for key in PV_SOURCES {
        let source = spec.field(key);
        if !source.is_set() {
            continue;
        }
        if count > 0 {
            errs.push(FieldError::forbidden(
                source.path(),
                "may not specify more than 1 volume type",
            ));
            continue;
        }
        count += 1;
        pv_source(key, &source, errs);
        if key == "local" && !affinity.is_set() {
            errs.push(FieldError::required(
                affinity.path(),
                "Local volume requires node affinity",
            ));
        }
    }
    if count == 0 {
        errs.push(FieldError::required(
            spec.path(),
            "must specify a volume type",
        ));
    }
    let host_path = spec.at(&["hostPath", "path"]).str(&mut ignored);
    if !host_path.is_empty() && host_path.trim_end_matches('/').is_empty() && policy == "Recycle" {
        errs.push(FieldError::forbidden(
            policy_node.path(),
            "may not be 'recycle' for a hostPath mount of '/'",
        ));
    }
    class_name(&spec.field("storageClassName"), errs);
    volume_mode(&spec.field("volumeMode"), errs);
    let vac = spec.field("volumeAttributesClassName");
    if let Some(name) = vac.opt_str(errs) {
        if name.is_empty() {
            errs.push(FieldError::required(
                vac.path(),
                "an empty string is disallowed",
            ));
        } else {
            errs.extend(invalid_each(
                vac.path(),
                name,
                dns1123_subdomain_errors(name),
            ));
        }
        if !spec.field("csi").is_set() {
            errs.push(FieldError::required(
                spec.path().child("csi"),
                "has to be specified when using volumeAttributesClassName",
            ));
        }
    }
}

/// A PersistentVolume update: the volume source and volumeMode never change.
pub(crate) fn validate_volume_update(new: &Node, old: &Node, errs: &mut Vec<FieldError>) {
    validate_volume(new, errs);
    let source_of = |obj: &Node| {
        let mut map = serde_json::Map::new();
        for key in PV_SOURCES {
            let v = obj.at(&["spec", key]).value();
            if !v.is_null() {
                map.insert(key.to_string(), v.clone());
            }
        }
        Value::Object(map)
    };
    let (mut new_source, old_source) = (source_of(new), source_of(old));
    let old_has_expand = old
        .at(&["spec", "csi", "controllerExpandSecretRef"])
        .is_set();
    if !old_has_expand && let Some(csi) = new_source.get_mut("csi").and_then(Value::as_object_mut) {
        csi.remove("controllerExpandSecretRef");
    }
    if !semantically_equal(&new_source, &old_source) {
        errs.push(FieldError::forbidden(
            Path::root("spec").child("persistentvolumesource"),
            &format!(
                "spec.persistentvolumesource is immutable after creation\n{}",
                describe_diff("core.PersistentVolumeSource", &old_source, &new_source)
            ),
        ));
    }
    let (nm, om) = (
        new.at(&["spec", "volumeMode"]),
        old.at(&["spec", "volumeMode"]),
    );
    if !semantically_equal(nm.value(), om.value()) {
        errs.push(FieldError::invalid(
            "volumeMode",
            nm.value(),
            FIELD_IMMUTABLE,
        ));
    }
    let (nv, ov) = (
        new.at(&["spec", "volumeAttributesClassName"]),
        old.at(&["spec", "volumeAttributesClassName"]),
    );
    if ov.is_set() && !nv.is_set() {
        errs.push(FieldError::forbidden(
            Path::root("spec").child("volumeAttributesClassName"),
            "update from non-nil value to nil is forbidden",
        ));
    }
}

/// A PersistentVolume status update: only resourceVersion is required.
pub(crate) fn validate_volume_status(new: &Node, errs: &mut Vec<FieldError>) {
    if new
        .at(&["metadata", "resourceVersion"])
        .str(errs)
        .is_empty()
    {
        errs.push(FieldError::required("resourceVersion", ""));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claim(spec: Value) -> Vec<String> {
        let obj = json!({"spec": spec});
        let mut errs = Vec::new();
        validate_claim(&Node::root(&obj), &mut errs);
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn claims_need_modes_and_storage() {
        assert!(claim(json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}})).is_empty());
        assert_eq!(
            claim(json!({"resources": {"requests": {"storage": "0"}}})),
            vec![
                "spec.accessModes: Required value: at least 1 access mode is required",
                "spec.resources[storage]: Invalid value: \"0\": must be greater than zero",
            ]
        );
        assert_eq!(claim(json!({"accessModes": ["Sometimes"]})).len(), 2);
    }

    #[test]
    fn bound_claims_may_grow_but_not_change_class() {
        let old = json!({"spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "a", "volumeName": "pv", "resources": {"requests": {"storage": "1Gi"}}}, "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}}});
        let mut grown = old.clone();
        grown["spec"]["resources"]["requests"]["storage"] = json!("2Gi");
        let mut errs = Vec::new();
        validate_claim_update(&Node::root(&grown), &Node::root(&old), &mut errs);
        assert!(errs.is_empty(), "{errs:?}");
        let mut reclassed = old.clone();
        reclassed["spec"]["storageClassName"] = json!("b");
        validate_claim_update(&Node::root(&reclassed), &Node::root(&old), &mut errs);
        assert_eq!(errs.len(), 1);
        assert!(errs[0].to_string().starts_with("spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n"));
    }

    #[test]
    fn volumes_need_one_source_and_capacity() {
        let obj =
            json!({"spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}});
        let mut errs = Vec::new();
        validate_volume(&Node::root(&obj), &mut errs);
        assert_eq!(
            errs[0].to_string(),
            "spec: Required value: must specify a volume type"
        );
    }
}
