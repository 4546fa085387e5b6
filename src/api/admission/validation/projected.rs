//! The downward API (`fieldRef`, `resourceFieldRef`, for env vars and volume files) and
//! projected volumes (secrets, configMaps, downward API, service account tokens, trust bundles).

use std::collections::BTreeSet;

use serde_json::Value;

use super::json::Node;
use super::meta::validate_label_selector;
use super::names::{invalid_each, label_key_errors};
use super::resources::read_quantity;
use super::volumes::{file_mode, key_to_path, local_non_reserved_path};
use crate::api::field_error::{FieldError, Path};

const VOLUME_DOWNWARD_FIELDS: [&str; 5] = [
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
];
pub(crate) const ENV_DOWNWARD_FIELDS: [&str; 9] = [
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];
const RESOURCE_FIELD_PATHS: [&str; 6] = [
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];
/// Field paths the v1 downward API converts (upstream `ConvertDownwardAPIFieldLabel`).
const CONVERTIBLE_FIELD_PATHS: [&str; 14] = [
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.serviceAccountName",
    "spec.schedulerName",
    "status.phase",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

/// A downward API `fieldRef`: known field paths, or labels/annotations subscripts.
pub(crate) fn object_field_selector(selector: &Node, allowed: &[&str], errs: &mut Vec<FieldError>) {
    let api_version = selector.field("apiVersion");
    let version = api_version.str(errs);
    if version.is_empty() {
        errs.push(FieldError::required(api_version.path(), ""));
        return;
    }
    let field_path = selector.field("fieldPath");
    let fp = field_path.str(errs);
    if fp.is_empty() {
        errs.push(FieldError::required(field_path.path(), ""));
        return;
    }
    let (path, subscript) = match fp.split_once('[') {
        Some((p, rest)) => {
            let sub = rest
                .strip_suffix(']')
                .and_then(|s| s.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')));
            (p, sub)
        }
        None => (fp, None),
    };
    if version != "v1" {
        errs.push(FieldError::invalid(
            field_path.path(),
            &Value::from(fp),
            &format!("error converting fieldPath: unsupported pod version: {version}"),
        ));
        return;
    }
    if !CONVERTIBLE_FIELD_PATHS.contains(&path) || (fp.contains('[') && subscript.is_none()) {
        errs.push(FieldError::invalid(
            field_path.path(),
            &Value::from(fp),
            &format!("error converting fieldPath: field label not supported: {fp}"),
        ));
        return;
    }
    match subscript {
        Some(sub) => match path {
            "metadata.annotations" => errs.extend(invalid_each(
                selector.path(),
                &sub.to_lowercase(),
                label_key_errors(&sub.to_lowercase()),
            )),
            "metadata.labels" => {
                errs.extend(invalid_each(selector.path(), sub, label_key_errors(sub)))
            }
            _ => errs.push(FieldError::invalid(
                selector.path(),
                &Value::from(path),
                "does not support subscript",
            )),
        },
        None if !allowed.contains(&path) => {
            errs.push(FieldError::not_supported(
                field_path.path(),
                &Value::from(path),
                allowed,
            ));
        }
        None => {}
    }
}

/// A `resourceFieldRef` (container resources exposed through the downward API).
pub(crate) fn resource_field_selector(
    selector: &Node,
    in_volume: bool,
    errs: &mut Vec<FieldError>,
) {
    let container = selector.field("containerName");
    let resource = selector.field("resource");
    let name = resource.str(errs);
    if in_volume && container.str(errs).is_empty() {
        errs.push(FieldError::required(container.path(), ""));
    } else if name.is_empty() {
        errs.push(FieldError::required(resource.path(), ""));
    } else if !RESOURCE_FIELD_PATHS.contains(&name)
        && !name.starts_with("requests.hugepages-")
        && !name.starts_with("limits.hugepages-")
    {
        errs.push(FieldError::not_supported(
            resource.path(),
            &Value::from(name),
            &RESOURCE_FIELD_PATHS,
        ));
    }
    let divisor_node = selector.field("divisor");
    let Some(divisor) = read_quantity(&divisor_node, errs) else {
        return;
    };
    if divisor.is_zero() {
        return;
    }
    let d = divisor.to_canonical_string();
    let memory_like = [
        "1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei",
    ];
    let divisor_path = selector.path().child("divisor");
    let bad = |what: &str| {
        FieldError::invalid(
            &divisor_path,
            &Value::from(name),
            &format!(
                "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the {what}"
            ),
        )
    };
    match name {
        "limits.cpu" | "requests.cpu" if d != "1m" && d != "1" => errs.push(FieldError::invalid(
            &divisor_path,
            &Value::from(name),
            "only divisor's values 1m and 1 are supported with the cpu resource",
        )),
        "limits.memory" | "requests.memory" if !memory_like.contains(&d.as_str()) => {
            errs.push(bad("memory resource"))
        }
        "limits.ephemeral-storage" | "requests.ephemeral-storage"
            if !memory_like.contains(&d.as_str()) =>
        {
            errs.push(bad("local ephemeral storage resource"))
        }
        _ if (name.starts_with("requests.hugepages-") || name.starts_with("limits.hugepages-"))
            && !memory_like.contains(&d.as_str()) =>
        {
            errs.push(bad("hugepages resource"))
        }
        _ => {}
    }
}

/// One downward API file. Upstream reports its fields under the source's path, not the item's
/// (`downwardAPI.fieldRef`, not `downwardAPI.items[0].fieldRef`); so do we.
pub(crate) fn downward_api_file(file: &Node, parent: &Path, errs: &mut Vec<FieldError>) {
    let file = Node::new(file.value(), parent.clone());
    let path = file.field("path");
    let p = path.str(errs);
    if p.is_empty() {
        errs.push(FieldError::required(path.path(), ""));
    }
    local_non_reserved_path(path.path(), p, errs);
    let field_ref = file.field("fieldRef");
    let resource_ref = file.field("resourceFieldRef");
    if field_ref.is_set() {
        object_field_selector(&field_ref, &VOLUME_DOWNWARD_FIELDS, errs);
        if resource_ref.is_set() {
            errs.push(FieldError::invalid(
                parent,
                &Value::from("resource"),
                "fieldRef and resourceFieldRef can not be specified simultaneously",
            ));
        }
    } else if resource_ref.is_set() {
        resource_field_selector(&resource_ref, true, errs);
    } else {
        errs.push(FieldError::required(
            parent,
            "one of fieldRef and resourceFieldRef is required",
        ));
    }
    file_mode(&file.field("mode"), errs);
}

pub(crate) fn projection_sources(projected: &Node, errs: &mut Vec<FieldError>) {
    let mut all_paths: BTreeSet<String> = BTreeSet::new();
    let mut note_path = |p: &str, shown: &str, errs: &mut Vec<FieldError>| {
        if !p.is_empty() && !all_paths.insert(p.to_string()) {
            errs.push(FieldError::invalid(
                projected.path(),
                &Value::from(shown),
                "conflicting duplicate paths",
            ));
        }
    };
    for source in projected.field("sources").items(errs) {
        let mut count = 0;
        for kind in ["secret", "configMap"] {
            let src = source.field(kind);
            if !src.is_set() {
                continue;
            }
            count += 1;
            let src_name = src.field("name").str(errs);
            if src_name.is_empty() {
                errs.push(FieldError::required(src.path().child("name"), ""));
            }
            for item in src.field("items").items(errs) {
                key_to_path(&item, errs);
                let p = item.field("path").str(errs);
                note_path(p, src_name, errs);
            }
        }
        let downward = source.field("downwardAPI");
        if downward.is_set() {
            count += 1;
            for item in downward.field("items").items(errs) {
                downward_api_file(&item, downward.path(), errs);
                let p = item.field("path").str(errs);
                note_path(p, p, errs);
            }
        }
        let token = source.field("serviceAccountToken");
        if token.is_set() {
            count += 1;
            let seconds = token.field("expirationSeconds");
            let s = seconds.int(errs);
            if s < 600 {
                errs.push(FieldError::invalid(
                    seconds.path(),
                    &Value::from(s),
                    "may not specify a duration less than 10 minutes",
                ));
            }
            if s > 1 << 32 {
                errs.push(FieldError::invalid(
                    seconds.path(),
                    &Value::from(s),
                    "may not specify a duration larger than 2^32 seconds",
                ));
            }
            let p = token.field("path").str(errs);
            if p.is_empty() {
                errs.push(FieldError::required(projected.path().child("path"), ""));
            } else {
                local_non_reserved_path(&projected.path().child("path"), p, errs);
            }
        }
        let bundle = source.field("clusterTrustBundle");
        if bundle.is_set() {
            count += 1;
            let (name, signer) = (bundle.field("name"), bundle.field("signerName"));
            match (name.opt_str(errs), signer.opt_str(errs)) {
                (Some(_), Some(_)) => errs.push(FieldError::invalid(
                    bundle.path(),
                    bundle.value(),
                    "only one of name and signerName may be used",
                )),
                (Some(""), None) => errs.push(FieldError::required(
                    name.path(),
                    "must be a valid object name",
                )),
                (None, Some("")) => errs.push(FieldError::required(
                    signer.path(),
                    "must be a valid signer name",
                )),
                (None, None) => errs.push(FieldError::required(
                    bundle.path(),
                    "either name or signerName must be specified",
                )),
                _ => {}
            }
            validate_label_selector(&bundle.field("labelSelector"), false, errs);
            let path = bundle.field("path");
            let p = path.str(errs);
            if p.is_empty() {
                errs.push(FieldError::required(path.path(), ""));
            }
            local_non_reserved_path(path.path(), p, errs);
            note_path(p, p, errs);
        }
        let pod_cert = source.field("podCertificate");
        if pod_cert.is_set() {
            count += 1;
        }
        if count > 1 {
            errs.push(FieldError::forbidden(
                source.path(),
                "may not specify more than 1 volume type per source",
            ));
        }
    }
}
