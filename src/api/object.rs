//! Small accessors for objects as JSON: metadata fields, timestamps, UIDs, generated names.

use serde_json::{Map, Value, json};

pub fn metadata(object: &Value) -> Option<&Map<String, Value>> {
    object.get("metadata")?.as_object()
}

/// `metadata`, created if missing (the object must be a JSON object).
pub fn metadata_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.get("metadata").is_some_and(Value::is_object) {
        object["metadata"] = json!({});
    }
    object["metadata"]
        .as_object_mut()
        .unwrap_or_else(|| unreachable!("metadata was just made an object"))
}

pub fn meta_str<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    metadata(object)?.get(field)?.as_str()
}

pub fn name(object: &Value) -> &str {
    meta_str(object, "name").unwrap_or_default()
}

pub fn namespace(object: &Value) -> Option<&str> {
    meta_str(object, "namespace").filter(|n| !n.is_empty())
}

pub fn resource_version(object: &Value) -> Option<&str> {
    meta_str(object, "resourceVersion").filter(|v| !v.is_empty())
}

pub fn uid(object: &Value) -> &str {
    meta_str(object, "uid").unwrap_or_default()
}

pub fn finalizers(object: &Value) -> Vec<String> {
    metadata(object)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|f| {
            f.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn is_deleting(object: &Value) -> bool {
    metadata(object).is_some_and(|m| m.get("deletionTimestamp").is_some_and(|t| !t.is_null()))
}

/// The current time as Kubernetes writes `metav1.Time` (seconds, UTC).
pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The current time as `metav1.MicroTime`.
pub fn now_micro() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S.%6fZ")
        .to_string()
}

/// A time `seconds` from now, as `metav1.Time`.
pub fn time_after(seconds: i64) -> String {
    let t = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_secs(seconds))
        .unwrap_or_else(|_| jiff::Timestamp::now());
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub fn unix_now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Parses an RFC 3339 time to Unix seconds.
pub fn parse_time(text: &str) -> Option<i64> {
    text.parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
}

pub fn new_uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `generateName` plus five random characters from upstream's alphabet (no vowels, no
/// look-alikes).
pub fn generate_name(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    // Upstream trims the prefix so the whole name fits in 63 characters.
    let prefix: String = prefix.chars().take(58).collect();
    let suffix: String = bytes[..5]
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    format!("{prefix}{suffix}")
}

/// The object without the fields the datastore does not hold (`resourceVersion` is the
/// store's revision, filled in on every read).
pub fn for_storage(object: &Value) -> Vec<u8> {
    let mut object = object.clone();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
        meta.remove("selfLink");
    }
    serde_json::to_vec(&object).unwrap_or_default()
}

/// Sets `metadata.resourceVersion`.
pub fn set_resource_version(object: &mut Value, revision: i64) {
    metadata_mut(object).insert(
        "resourceVersion".into(),
        Value::String(revision.to_string()),
    );
}

/// Drops metadata fields left empty (`labels: {}` after removing the last label), which
/// upstream never stores (they are `omitempty`).
pub fn drop_empty_metadata(object: &mut Value) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.retain(|key, value| {
            let empty = match value {
                Value::Object(m) => m.is_empty(),
                Value::Array(a) => a.is_empty(),
                Value::Null => true,
                _ => false,
            };
            !(empty
                && matches!(
                    key.as_str(),
                    "labels" | "annotations" | "finalizers" | "ownerReferences"
                ))
        });
    }
}

/// Everything but `metadata` and `status`: what `metadata.generation` counts changes of.
pub fn spec_part(object: &Value) -> Map<String, Value> {
    object
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| {
                    !matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind")
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_and_times() {
        let name = generate_name("web-");
        assert_eq!(name.len(), 9);
        assert!(name.starts_with("web-"));
        assert!(
            name[4..]
                .bytes()
                .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b))
        );
        let t = now();
        assert_eq!(t.len(), 20, "{t}");
        assert!(parse_time(&t).is_some());
        assert!(now_micro().ends_with('Z'));
    }

    #[test]
    fn storage_form_drops_resource_version() {
        let object = json!({"metadata": {"name": "a", "resourceVersion": "5"}});
        let stored: Value = serde_json::from_slice(&for_storage(&object)).unwrap();
        assert_eq!(stored, json!({"metadata": {"name": "a"}}));
    }
}
