//! Conversion between the version a request addresses and the version objects are stored
//! in: `events.k8s.io/v1` Events are stored as `v1` Events (upstream stores both as one
//! resource), and custom resources with several versions are stored in the CRD's storage
//! version (conversion strategy `None`: only `apiVersion` changes).

use serde_json::{Map, Value, json};

use super::registry::ResourceInfo;

/// Field renames between `v1` Event (left) and `events.k8s.io/v1` Event (right).
const EVENT_FIELDS: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("reportingComponent", "reportingController"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
];

fn is_new_event(info: &ResourceInfo) -> bool {
    info.group == "events.k8s.io" && info.kind == "Event"
}

pub fn needs_conversion(info: &ResourceInfo) -> bool {
    is_new_event(info)
        || info
            .custom
            .as_ref()
            .is_some_and(|c| c.storage_version != info.version)
}

fn rename(object: Value, from_left: bool) -> Value {
    let Value::Object(map) = object else {
        return object;
    };
    let mut out = Map::new();
    for (key, value) in map {
        let renamed = EVENT_FIELDS.iter().find_map(|(left, right)| {
            if from_left && key == *left {
                Some(*right)
            } else if !from_left && key == *right {
                Some(*left)
            } else {
                None
            }
        });
        out.insert(renamed.map_or(key, str::to_string), value);
    }
    Value::Object(out)
}

/// The stored object as the requested version shows it.
pub fn to_request_version(info: &ResourceInfo, object: Value) -> Value {
    if is_new_event(info) {
        let mut event = rename(object, true);
        event["apiVersion"] = json!("events.k8s.io/v1");
        return event;
    }
    if needs_conversion(info) {
        let mut object = object;
        object["apiVersion"] = json!(info.api_version());
        return object;
    }
    object
}

/// The requested version's object as it is stored.
pub fn to_storage_version(info: &ResourceInfo, object: Value) -> Value {
    if is_new_event(info) {
        let mut event = rename(object, false);
        event["apiVersion"] = json!("v1");
        return event;
    }
    if let Some(custom) = info
        .custom
        .as_ref()
        .filter(|c| c.storage_version != info.version)
    {
        let mut object = object;
        object["apiVersion"] = json!(format!("{}/{}", info.group, custom.storage_version));
        return object;
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::registry::Registry;

    #[test]
    fn events_round_trip() {
        let registry = Registry::builtin();
        let info = registry.get("events.k8s.io", "v1", "events").unwrap();
        let stored = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
            "involvedObject": {"kind": "Pod", "name": "p"}, "message": "hi", "reason": "Started", "count": 2});
        let shown = to_request_version(&info, stored.clone());
        assert_eq!(shown["regarding"]["name"], "p");
        assert_eq!(shown["note"], "hi");
        assert_eq!(shown["deprecatedCount"], 2);
        assert_eq!(shown["apiVersion"], "events.k8s.io/v1");
        assert_eq!(to_storage_version(&info, shown), stored);
    }
}
