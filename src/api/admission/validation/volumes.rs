//! A pod's `volumes`: unique DNS-label names, exactly one source each, and the rules of each
//! source (secret, configMap, projected, downwardAPI, hostPath, emptyDir, persistentVolumeClaim,
//! ephemeral, csi, image and the in-tree network/cloud volumes); projected and downward API
//! sources live in `projected`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::json::Node;
use super::meta::validate_template_object_meta;
use super::names::{NameRule, dns1123_label_errors, dns1123_subdomain_errors, invalid_each};
use super::persistent_volumes::validate_claim_spec;
use super::projected::{downward_api_file, projection_sources};
use super::resources::read_quantity;
use crate::api::field_error::{FieldError, Path};

const FILE_MODE_ERROR: &str = "must be a number between 0 and 0777 (octal), both inclusive";
/// What later checks need to know of a declared volume.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct VolumeKind {
    /// persistentVolumeClaim or ephemeral: may back a block device.
    pub claim: bool,
    /// An image volume: no subPath.
    pub image: bool,
}

/// Source keys in upstream's checking order, with the path upstream names a second source by.
const SOURCES: [(&str, &str); 30] = [
    ("emptyDir", "emptyDir"),
    ("hostPath", "hostPath"),
    ("gitRepo", "gitRepo"),
    ("gcePersistentDisk", "gcePersistentDisk"),
    ("awsElasticBlockStore", "awsElasticBlockStore"),
    ("secret", "secret"),
    ("nfs", "nfs"),
    ("iscsi", "iscsi"),
    ("glusterfs", "glusterfs"),
    ("flocker", "flocker"),
    ("persistentVolumeClaim", "persistentVolumeClaim"),
    ("rbd", "rbd"),
    ("cinder", "cinder"),
    ("cephfs", "cephFS"),
    ("quobyte", "quobyte"),
    ("downwardAPI", "downwarAPI"),
    ("fc", "fc"),
    ("flexVolume", "flexVolume"),
    ("configMap", "configMap"),
    ("azureFile", "azureFile"),
    ("vsphereVolume", "vsphereVolume"),
    ("photonPersistentDisk", "photonPersistentDisk"),
    ("portworxVolume", "portworxVolume"),
    ("azureDisk", "azureDisk"),
    ("storageos", "storageos"),
    ("projected", "projected"),
    ("scaleIO", "scaleIO"),
    ("csi", "csi"),
    ("ephemeral", "ephemeral"),
    ("image", "image"),
];

/// Validates `spec.volumes`; returns the valid volumes by name for the mount checks.
pub(crate) fn validate_volumes(
    volumes: &Node,
    pod_name: Option<&str>,
    errs: &mut Vec<FieldError>,
) -> BTreeMap<String, VolumeKind> {
    let mut ignored = Vec::new();
    let created_claims: BTreeSet<String> = match pod_name.filter(|n| !n.is_empty()) {
        Some(pod) => volumes
            .items(&mut ignored)
            .iter()
            .filter(|v| v.field("ephemeral").is_set())
            .map(|v| format!("{pod}-{}", v.field("name").str(&mut ignored)))
            .collect(),
        None => BTreeSet::new(),
    };
    let mut valid = BTreeMap::new();
    for volume in volumes.items(errs) {
        let name_node = volume.field("name");
        let name = name_node.str(errs);
        let mut own = Vec::new();
        validate_volume_source(&volume, name, pod_name, &mut own);
        if name.is_empty() {
            own.push(FieldError::required(name_node.path(), ""));
        } else {
            own.extend(invalid_each(
                name_node.path(),
                name,
                dns1123_label_errors(name),
            ));
        }
        if valid.contains_key(name) {
            own.push(FieldError::duplicate(name_node.path(), &Value::from(name)));
        }
        if own.is_empty() {
            let kind = VolumeKind {
                claim: volume.field("persistentVolumeClaim").is_set()
                    || volume.field("ephemeral").is_set(),
                image: volume.field("image").is_set(),
            };
            valid.insert(name.to_string(), kind);
        } else {
            errs.extend(own);
        }
        let claim = volume.at(&["persistentVolumeClaim", "claimName"]);
        let claim_name = claim.str(&mut ignored);
        if created_claims.contains(claim_name) {
            errs.push(FieldError::invalid(
                claim.path(),
                &Value::from(claim_name),
                "must not reference a PVC that gets created for an ephemeral volume",
            ));
        }
    }
    valid
}

fn validate_volume_source(
    volume: &Node,
    name: &str,
    pod_name: Option<&str>,
    errs: &mut Vec<FieldError>,
) {
    let mut count = 0;
    for (key, forbidden_name) in SOURCES {
        let source = volume.field(key);
        if !source.is_set() {
            continue;
        }
        if count > 0 {
            errs.push(FieldError::forbidden(
                volume.path().child(forbidden_name),
                "may not specify more than 1 volume type",
            ));
            continue;
        }
        count += 1;
        if source.object(errs).is_none() {
            continue;
        }
        validate_source(key, &source, name, pod_name, errs);
    }
    if count == 0 {
        errs.push(FieldError::required(
            volume.path(),
            "must specify a volume type",
        ));
    }
}

fn required(node: &Node, keys: &[&str], errs: &mut Vec<FieldError>) {
    for key in keys {
        let field = node.field(key);
        let empty = match field.value() {
            Value::Array(items) => items.is_empty(),
            _ => field.str(errs).is_empty(),
        };
        if empty {
            errs.push(FieldError::required(field.path(), ""));
        }
    }
}

pub(crate) fn file_mode(node: &Node, errs: &mut Vec<FieldError>) {
    if let Some(mode) = node.opt_int(errs)
        && !(0..=0o777).contains(&mode)
    {
        errs.push(FieldError::invalid(
            node.path(),
            &Value::from(mode),
            FILE_MODE_ERROR,
        ));
    }
}

fn validate_source(
    key: &str,
    source: &Node,
    name: &str,
    pod_name: Option<&str>,
    errs: &mut Vec<FieldError>,
) {
    match key {
        "emptyDir" => {
            let limit = source.field("sizeLimit");
            if read_quantity(&limit, errs).is_some_and(|q| q.sign() < 0) {
                errs.push(FieldError::forbidden(
                    limit.path(),
                    "SizeLimit field must be a valid resource quantity",
                ));
            }
        }
        "hostPath" => {
            let path = source.field("path");
            let p = path.str(errs);
            if p.is_empty() {
                errs.push(FieldError::required(path.path(), ""));
                return;
            }
            path_no_backsteps(path.path(), p, errs);
            let kind = source.field("type");
            if let Some(t) = kind.opt_str(errs) {
                const TYPES: [&str; 8] = [
                    "",
                    "BlockDevice",
                    "CharDevice",
                    "Directory",
                    "DirectoryOrCreate",
                    "File",
                    "FileOrCreate",
                    "Socket",
                ];
                if !TYPES.contains(&t) {
                    errs.push(FieldError::not_supported(
                        kind.path(),
                        &Value::from(t),
                        &TYPES,
                    ));
                }
            }
        }
        "gitRepo" => {
            required(source, &["repository"], errs);
            let dir = source.field("directory");
            local_descending_path(dir.path(), dir.str(errs), errs);
        }
        "gcePersistentDisk" => {
            required(source, &["pdName"], errs);
            partition(&source.field("partition"), errs);
        }
        "awsElasticBlockStore" => {
            required(source, &["volumeID"], errs);
            partition(&source.field("partition"), errs);
        }
        "secret" => {
            required(source, &["secretName"], errs);
            file_mode(&source.field("defaultMode"), errs);
            for item in source.field("items").items(errs) {
                key_to_path(&item, errs);
            }
        }
        "configMap" => {
            required(source, &["name"], errs);
            file_mode(&source.field("defaultMode"), errs);
            for item in source.field("items").items(errs) {
                key_to_path(&item, errs);
            }
        }
        "nfs" => {
            required(source, &["server", "path"], errs);
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
        "iscsi" => {
            required(source, &["targetPortal", "iqn"], errs);
            let lun = source.field("lun");
            let l = lun.int(errs);
            if !(0..=255).contains(&l) {
                errs.push(FieldError::invalid(
                    lun.path(),
                    &Value::from(l),
                    &super::names::inclusive_range_error(0, 255),
                ));
            }
            let iqn = source.field("iqn");
            let q = iqn.str(errs);
            if !(q.is_empty()
                || q.starts_with("iqn")
                || q.starts_with("eui")
                || q.starts_with("naa"))
            {
                errs.push(FieldError::invalid(
                    iqn.path(),
                    &Value::from(q),
                    "must be valid format starting with iqn, eui, or naa",
                ));
            }
            let chap = source.field("chapAuthDiscovery").bool(errs)
                || source.field("chapAuthSession").bool(errs);
            if chap && !source.field("secretRef").is_set() {
                errs.push(FieldError::required(source.path().child("secretRef"), ""));
            }
            let portal = source.field("targetPortal").str(errs);
            if source.field("initiatorName").is_set() && name.len() + 1 + portal.len() > 64 {
                errs.push(FieldError::invalid(
                    source.path().parent_child("name"),
                    &Value::from(name),
                    "Total length of <volume name>:<iscsi.targetPortal> must be under 64 characters if iscsi.initiatorName is specified.",
                ));
            }
        }
        "glusterfs" => required(source, &["endpoints", "path"], errs),
        "flocker" => {
            let (dn, du) = (
                source.field("datasetName").str(errs),
                source.field("datasetUUID").str(errs),
            );
            if dn.is_empty() && du.is_empty() {
                errs.push(FieldError::required(
                    source.path(),
                    "one of datasetName and datasetUUID is required",
                ));
            }
            if !dn.is_empty() && !du.is_empty() {
                errs.push(FieldError::invalid(
                    source.path(),
                    &Value::from("resource"),
                    "datasetName and datasetUUID can not be specified simultaneously",
                ));
            }
            if dn.contains('/') {
                errs.push(FieldError::invalid(
                    source.path().child("datasetName"),
                    &Value::from(dn),
                    "must not contain '/'",
                ));
            }
        }
        "persistentVolumeClaim" => required(source, &["claimName"], errs),
        "rbd" => required(source, &["monitors", "image"], errs),
        "cinder" => {
            required(source, &["volumeID"], errs);
            let secret = source.field("secretRef");
            if secret.is_set() && secret.field("name").str(errs).is_empty() {
                errs.push(FieldError::required(
                    source.path().child("secretRef").child("name"),
                    "",
                ));
            }
        }
        "cephfs" => required(source, &["monitors"], errs),
        "quobyte" => required(source, &["registry", "volume"], errs),
        "downwardAPI" => {
            file_mode(&source.field("defaultMode"), errs);
            for item in source.field("items").items(errs) {
                downward_api_file(&item, source.path(), errs);
            }
        }
        "fc" => {
            let wwns = source.field("targetWWNs");
            let (n_wwns, n_wwids) = (wwns.len(), source.field("wwids").len());
            if n_wwns == 0 && n_wwids == 0 {
                errs.push(FieldError::required(
                    wwns.path(),
                    "must specify either targetWWNs or wwids, but not both",
                ));
            }
            if n_wwns != 0 && n_wwids != 0 {
                errs.push(FieldError::invalid(
                    wwns.path(),
                    wwns.value(),
                    "targetWWNs and wwids can not be specified simultaneously",
                ));
            }
            if n_wwns != 0 {
                let lun = source.field("lun");
                match lun.opt_int(errs) {
                    None => errs.push(FieldError::required(
                        lun.path(),
                        "lun is required if targetWWNs is specified",
                    )),
                    Some(l) if !(0..=255).contains(&l) => errs.push(FieldError::invalid(
                        lun.path(),
                        &Value::from(l),
                        &super::names::inclusive_range_error(0, 255),
                    )),
                    Some(_) => {}
                }
            }
        }
        "flexVolume" => {
            required(source, &["driver"], errs);
            for (k, node) in source.field("options").entries(errs) {
                let namespace = k.split_once('/').map_or(k, |(ns, _)| ns);
                let normalized = format!(".{}", namespace.to_lowercase());
                if normalized.ends_with(".kubernetes.io") || normalized.ends_with(".k8s.io") {
                    errs.push(FieldError::invalid(
                        node.path(),
                        &Value::from(k),
                        "kubernetes.io and k8s.io namespaces are reserved",
                    ));
                }
            }
        }
        "azureFile" => required(source, &["secretName", "shareName"], errs),
        "vsphereVolume" => required(source, &["volumePath"], errs),
        "photonPersistentDisk" => required(source, &["pdID"], errs),
        "portworxVolume" => required(source, &["volumeID"], errs),
        "azureDisk" => required(source, &["diskName", "diskURI"], errs),
        "storageos" => required(source, &["volumeName"], errs),
        "scaleIO" => required(source, &["gateway", "system", "volumeName"], errs),
        "projected" => {
            file_mode(&source.field("defaultMode"), errs);
            projection_sources(source, errs);
        }
        "csi" => {
            csi_driver_name(&source.field("driver"), errs);
            let secret = source.field("nodePublishSecretRef");
            if secret.is_set() {
                let name_node = secret.field("name");
                let secret_name = name_node.str(errs);
                if secret_name.is_empty() {
                    errs.push(FieldError::required(name_node.path(), ""));
                } else {
                    errs.extend(invalid_each(
                        &source.path().child("name"),
                        secret_name,
                        dns1123_subdomain_errors(secret_name),
                    ));
                }
            }
        }
        "ephemeral" => {
            let template = source.field("volumeClaimTemplate");
            if !template.is_set() {
                errs.push(FieldError::required(template.path(), ""));
            } else {
                validate_template_object_meta(&template.field("metadata"), errs);
                validate_claim_spec(&template.field("spec"), errs);
                if let Some(pod) = pod_name.filter(|p| !p.is_empty() && !name.is_empty()) {
                    let pvc_name = format!("{pod}-{name}");
                    for msg in NameRule::Dns1123Subdomain.errors(&pvc_name, false) {
                        errs.push(FieldError::invalid(
                            source.path().parent_child("name"),
                            &Value::from(name),
                            &format!("PVC name {pvc_name:?}: {msg}"),
                        ));
                    }
                }
            }
        }
        "image" => {
            let reference = source.field("reference");
            if reference.str(errs).is_empty() {
                errs.push(FieldError::required(reference.path(), ""));
            }
            let policy = source.field("pullPolicy");
            if let Some(p) = policy.opt_str(errs)
                && !["Always", "IfNotPresent", "Never"].contains(&p)
            {
                errs.push(FieldError::not_supported(
                    policy.path(),
                    &Value::from(p),
                    &["Always", "IfNotPresent", "Never"],
                ));
            }
        }
        _ => {}
    }
}

trait ParentChild {
    /// The sibling `name` of this path's last element (`volumes[0].iscsi` → `volumes[0].name`).
    fn parent_child(&self, name: &str) -> Path;
}

impl ParentChild for Path {
    fn parent_child(&self, name: &str) -> Path {
        let s = self.as_str();
        match s.rfind('.') {
            Some(i) => Path::root(&s[..i]).child(name),
            None => Path::root(name),
        }
    }
}

fn partition(node: &Node, errs: &mut Vec<FieldError>) {
    let p = node.int(errs);
    if !(0..=255).contains(&p) {
        errs.push(FieldError::invalid(
            node.path(),
            &Value::from(p),
            &super::names::inclusive_range_error(1, 255),
        ));
    }
}

/// Upstream's `ValidateCSIDriverName`.
pub(crate) fn csi_driver_name(node: &Node, errs: &mut Vec<FieldError>) {
    let driver = node.str(errs);
    if driver.is_empty() {
        errs.push(FieldError::required(node.path(), ""));
    }
    if driver.len() > 63 {
        errs.push(FieldError::too_long(node.path(), 63));
    }
    errs.extend(invalid_each(
        node.path(),
        driver,
        dns1123_subdomain_errors(&driver.to_lowercase()),
    ));
}

pub(crate) fn key_to_path(item: &Node, errs: &mut Vec<FieldError>) {
    required(item, &["key", "path"], errs);
    let path = item.field("path");
    local_non_reserved_path(path.path(), path.str(errs), errs);
    file_mode(&item.field("mode"), errs);
}

/// Rejects `..` as a path element.
pub(crate) fn path_no_backsteps(path: &Path, value: &str, errs: &mut Vec<FieldError>) {
    if value.replace('\\', "/").split('/').any(|part| part == "..") {
        errs.push(FieldError::invalid(
            path,
            &Value::from(value),
            "must not contain '..'",
        ));
    }
}

/// A relative path without `..` elements (upstream `validateLocalDescendingPath`).
pub(crate) fn local_descending_path(path: &Path, value: &str, errs: &mut Vec<FieldError>) {
    if value.starts_with('/') {
        errs.push(FieldError::invalid(
            path,
            &Value::from(value),
            "must be a relative path",
        ));
    }
    path_no_backsteps(path, value, errs);
}

pub(crate) fn local_non_reserved_path(path: &Path, value: &str, errs: &mut Vec<FieldError>) {
    local_descending_path(path, value, errs);
    if value.starts_with("..") && !value.starts_with("../") {
        errs.push(FieldError::invalid(
            path,
            &Value::from(value),
            "must not start with '..'",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(volumes: Value) -> Vec<String> {
        let mut errs = Vec::new();
        validate_volumes(
            &Node::new(&volumes, Path::root("spec").child("volumes")),
            Some("pod"),
            &mut errs,
        );
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn names_unique_and_one_source() {
        assert!(
            check(
                json!([{"name": "a", "emptyDir": {}}, {"name": "b", "secret": {"secretName": "s"}}])
            )
            .is_empty()
        );
        assert_eq!(
            check(json!([{"name": "a", "emptyDir": {}}, {"name": "a", "emptyDir": {}}])),
            vec!["spec.volumes[1].name: Duplicate value: \"a\""]
        );
        assert_eq!(
            check(json!([{"name": "a"}])),
            vec!["spec.volumes[0]: Required value: must specify a volume type"]
        );
        assert_eq!(
            check(json!([{"name": "a", "emptyDir": {}, "hostPath": {"path": "/x"}}])),
            vec!["spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type"]
        );
        assert_eq!(check(json!([{"name": "A", "emptyDir": {}}])).len(), 1);
    }

    #[test]
    fn source_rules() {
        assert_eq!(
            check(
                json!([{"name": "a", "configMap": {"name": "c", "defaultMode": 1024, "items": [{"key": "k", "path": "../x"}]}}])
            ),
            vec![
                "spec.volumes[0].configMap.defaultMode: Invalid value: 1024: must be a number between 0 and 0777 (octal), both inclusive",
                "spec.volumes[0].configMap.items[0].path: Invalid value: \"../x\": must not contain '..'",
            ]
        );
        assert_eq!(
            check(json!([{"name": "a", "nfs": {"server": "s", "path": "rel"}}])),
            vec!["spec.volumes[0].nfs.path: Invalid value: \"rel\": must be an absolute path"]
        );
        assert_eq!(
            check(
                json!([{"name": "a", "downwardAPI": {"items": [{"path": "p", "fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}]}}])
            ),
            vec![
                "spec.volumes[0].downwardAPI.fieldRef.fieldPath: Unsupported value: \"spec.nodeName\": supported values: \"metadata.annotations\", \"metadata.labels\", \"metadata.name\", \"metadata.namespace\", \"metadata.uid\""
            ]
        );
    }
}
