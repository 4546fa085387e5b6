//! ConfigMaps, Secrets, Namespaces and ServiceAccounts: data keys, the 1 MiB size limit,
//! per-type Secret requirements, `immutable: true`, and namespace finalizers and phases.

use serde_json::Value;

use super::json::{Node, semantically_equal};
use super::meta::{FIELD_IMMUTABLE, validate_kube_finalizer_name};
use super::names::{config_map_key_errors, invalid_each, label_key_errors};
use crate::api::field_error::{FieldError, Path};

/// Upstream's `MaxSecretSize` (also the ConfigMap limit).
const MAX_SIZE: usize = 1024 * 1024;
const IMMUTABLE_SET: &str = "field is immutable when `immutable` is set";

/// Decodes standard base64 (with or without padding); `None` when malformed.
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buf, mut bits) = (0u32, 0u32);
    let trimmed = text.trim_end_matches('=');
    if text.len() - trimmed.len() > 2 {
        return None;
    }
    for c in trimmed.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        buf = (buf << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    if bits >= 6 {
        return None;
    }
    Some(out)
}

/// The decoded values of a `map[string][]byte` field, by key; undecodable ones reported.
fn byte_map<'a>(node: &Node<'a>, errs: &mut Vec<FieldError>) -> Vec<(&'a str, Vec<u8>)> {
    let mut out = Vec::new();
    for (key, value) in node.entries(errs) {
        match value.opt_str(errs) {
            Some(text) => match decode_base64(text) {
                Some(bytes) => out.push((key, bytes)),
                None => errs.push(FieldError::type_invalid(
                    value.path(),
                    value.value(),
                    "must be base64-encoded",
                )),
            },
            None => out.push((key, Vec::new())),
        }
    }
    out.sort_by(|a, b| a.0.cmp(b.0));
    out
}

/// A Secret's `data` with `stringData` merged in, as the API server sees it after conversion.
fn secret_data<'a>(obj: &Node<'a>, errs: &mut Vec<FieldError>) -> Vec<(&'a str, Vec<u8>)> {
    let mut data = byte_map(&obj.field("data"), errs);
    for (key, value) in obj.field("stringData").entries(errs) {
        let bytes = value.str(errs).as_bytes().to_vec();
        match data.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = bytes,
            None => data.push((key, bytes)),
        }
    }
    data.sort_by(|a, b| a.0.cmp(b.0));
    data
}

/// Upstream's `ValidateSecret` (everything but the metadata).
pub(crate) fn validate_secret(obj: &Node, errs: &mut Vec<FieldError>) {
    let data_path = Path::root("data");
    let data = secret_data(obj, errs);
    let mut total = 0;
    for (key, value) in &data {
        errs.extend(invalid_each(
            &data_path.key(key),
            key,
            config_map_key_errors(key),
        ));
        total += value.len();
    }
    if total > MAX_SIZE {
        errs.push(FieldError::too_long(&data_path, MAX_SIZE));
    }
    let get = |key: &str| data.iter().find(|(k, _)| *k == key).map(|(_, v)| v);
    let required = |key: &str, errs: &mut Vec<FieldError>| {
        errs.push(FieldError::required(data_path.key(key), ""))
    };
    let json_object = |key: &str, errs: &mut Vec<FieldError>| match get(key) {
        None => required(key, errs),
        Some(bytes) => {
            if let Err(e) = serde_json::from_slice::<serde_json::Map<String, Value>>(bytes) {
                errs.push(FieldError::invalid(
                    data_path.key(key),
                    &Value::from("<secret contents redacted>"),
                    &e.to_string(),
                ));
            }
        }
    };
    match obj.field("type").str(errs) {
        "kubernetes.io/service-account-token" => {
            let annotations = obj
                .at(&["metadata", "annotations"])
                .string_map(&mut Vec::new());
            if annotations
                .get("kubernetes.io/service-account.name")
                .is_none_or(|v| v.is_empty())
            {
                errs.push(FieldError::required(
                    Path::root("metadata")
                        .child("annotations")
                        .key("kubernetes.io/service-account.name"),
                    "",
                ));
            }
        }
        "kubernetes.io/dockercfg" => json_object(".dockercfg", errs),
        "kubernetes.io/dockerconfigjson" => json_object(".dockerconfigjson", errs),
        "kubernetes.io/basic-auth" if get("username").is_none() && get("password").is_none() => {
            required("username", errs);
            required("password", errs);
        }
        "kubernetes.io/ssh-auth" if get("ssh-privatekey").is_none_or(|v| v.is_empty()) => {
            required("ssh-privatekey", errs);
        }
        "kubernetes.io/tls" => {
            for key in ["tls.crt", "tls.key"] {
                if get(key).is_none() {
                    required(key, errs);
                }
            }
        }
        _ => {}
    }
}

fn immutable_contents(new: &Node, old: &Node, keys: &[&str], errs: &mut Vec<FieldError>) {
    if old.field("immutable").opt_bool(&mut Vec::new()) != Some(true) {
        return;
    }
    if new.field("immutable").opt_bool(&mut Vec::new()) != Some(true) {
        errs.push(FieldError::forbidden("immutable", IMMUTABLE_SET));
    }
    for key in keys {
        if !semantically_equal(new.field(key).value(), old.field(key).value()) {
            errs.push(FieldError::forbidden(*key, IMMUTABLE_SET));
        }
    }
}

/// Upstream's `ValidateSecretUpdate`: the type never changes; an immutable Secret's data neither.
pub(crate) fn validate_secret_update(new: &Node, old: &Node, errs: &mut Vec<FieldError>) {
    let (t, o) = (new.field("type"), old.field("type"));
    if t.value() != o.value() {
        errs.push(FieldError::invalid("type", t.value(), FIELD_IMMUTABLE));
    }
    immutable_contents(new, old, &["data"], errs);
    validate_secret(new, errs);
}

/// Upstream's `ValidateConfigMap` (everything but the metadata).
pub(crate) fn validate_config_map(obj: &Node, errs: &mut Vec<FieldError>) {
    let data = obj.field("data");
    let binary = byte_map(&obj.field("binaryData"), errs);
    let mut total = 0;
    for (key, value) in data.string_map(errs) {
        let path = data.path().key(key);
        errs.extend(invalid_each(&path, key, config_map_key_errors(key)));
        if binary.iter().any(|(k, _)| *k == key) {
            errs.push(FieldError::invalid(
                &path,
                &Value::from(key),
                "duplicate of key present in binaryData",
            ));
        }
        total += value.len();
    }
    for (key, value) in &binary {
        errs.extend(invalid_each(
            &Path::root("binaryData").key(key),
            key,
            config_map_key_errors(key),
        ));
        total += value.len();
    }
    if total > MAX_SIZE {
        errs.push(FieldError::too_long("", MAX_SIZE));
    }
}

/// Upstream's `ValidateConfigMapUpdate`.
pub(crate) fn validate_config_map_update(new: &Node, old: &Node, errs: &mut Vec<FieldError>) {
    immutable_contents(new, old, &["data", "binaryData"], errs);
    validate_config_map(new, errs);
}

/// A Namespace's `spec.finalizers`.
pub(crate) fn validate_namespace(obj: &Node, errs: &mut Vec<FieldError>) {
    let finalizers = obj.at(&["spec", "finalizers"]);
    for name in finalizers.string_list(errs) {
        errs.extend(invalid_each(
            finalizers.path(),
            name,
            label_key_errors(name),
        ));
        validate_kube_finalizer_name(finalizers.path(), name, errs);
    }
}

/// A Namespace status update: the phase follows `deletionTimestamp`.
pub(crate) fn validate_namespace_status(new: &Node, errs: &mut Vec<FieldError>) {
    let phase_node = new.at(&["status", "phase"]);
    let phase = phase_node.str(errs);
    let path = Path::root("status").child("Phase");
    if !new.at(&["metadata", "deletionTimestamp"]).is_set() {
        if phase != "Active" {
            errs.push(FieldError::invalid(
                path,
                &Value::from(phase),
                "may only be 'Active' if `deletionTimestamp` is empty",
            ));
        }
    } else if phase != "Terminating" {
        errs.push(FieldError::invalid(
            path,
            &Value::from(phase),
            "may only be 'Terminating' if `deletionTimestamp` is not empty",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(f: fn(&Node, &mut Vec<FieldError>), obj: Value) -> Vec<String> {
        let mut errs = Vec::new();
        f(&Node::root(&obj), &mut errs);
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn base64_round_trips() {
        assert_eq!(decode_base64("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(decode_base64("aGVsbG8"), Some(b"hello".to_vec()));
        assert_eq!(decode_base64("a"), None);
        assert_eq!(decode_base64("!!"), None);
    }

    #[test]
    fn config_map_keys_and_size() {
        assert!(run(validate_config_map, json!({"data": {"a.txt": "x"}})).is_empty());
        assert_eq!(
            run(validate_config_map, json!({"data": {"a b": "x"}})),
            vec![
                "data[a b]: Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
            ]
        );
        let big = "x".repeat(MAX_SIZE + 1);
        assert_eq!(
            run(validate_config_map, json!({"data": {"a": big}})),
            vec!["Too long: may not be more than 1048576 bytes"]
        );
    }

    #[test]
    fn secret_types_and_immutability() {
        assert_eq!(
            run(
                validate_secret,
                json!({"type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="}})
            ),
            vec!["data[tls.key]: Required value"]
        );
        assert!(
            run(
                validate_secret,
                json!({"type": "kubernetes.io/basic-auth", "stringData": {"username": "u"}})
            )
            .is_empty()
        );
        let old = json!({"type": "Opaque", "immutable": true, "data": {"a": "eA=="}});
        let new = json!({"type": "kubernetes.io/tls", "immutable": true, "data": {"a": "eQ=="}});
        let mut errs = Vec::new();
        validate_secret_update(&Node::root(&new), &Node::root(&old), &mut errs);
        let errs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            errs[0],
            "type: Invalid value: \"kubernetes.io/tls\": field is immutable"
        );
        assert_eq!(
            errs[1],
            "data: Forbidden: field is immutable when `immutable` is set"
        );
    }
}
