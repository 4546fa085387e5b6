//! Reading printed fields out of JSON objects, and the small formats upstream's printers share:
//! label maps, label selectors, container lists, access modes and list summaries.
//!
//! Every reader tolerates missing or mistyped fields and falls back to the Go zero value (empty
//! string, zero, empty list), which is what upstream prints for an unset field.

use serde_json::{Map, Value};

use super::duration;

/// The string at a JSON pointer, or `""`.
pub fn text<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The string at a JSON pointer, when present and not empty.
pub fn non_empty<'a>(object: &'a Value, pointer: &str) -> Option<&'a str> {
    Some(text(object, pointer)).filter(|found| !found.is_empty())
}

/// The string at a JSON pointer, or `fallback` when missing or empty.
pub fn text_or<'a>(object: &'a Value, pointer: &str, fallback: &'a str) -> &'a str {
    non_empty(object, pointer).unwrap_or(fallback)
}

/// The integer at a JSON pointer, or 0.
pub fn int(object: &Value, pointer: &str) -> i64 {
    object.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// The integer at a JSON pointer, when present.
pub fn int_opt(object: &Value, pointer: &str) -> Option<i64> {
    object.pointer(pointer).and_then(Value::as_i64)
}

/// The boolean at a JSON pointer, or `fallback`.
pub fn boolean(object: &Value, pointer: &str, fallback: bool) -> bool {
    object
        .pointer(pointer)
        .and_then(Value::as_bool)
        .unwrap_or(fallback)
}

/// The array at a JSON pointer, or an empty slice.
pub fn list<'a>(object: &'a Value, pointer: &str) -> &'a [Value] {
    object
        .pointer(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The map at a JSON pointer, when present.
pub fn map<'a>(object: &'a Value, pointer: &str) -> Option<&'a Map<String, Value>> {
    object.pointer(pointer).and_then(Value::as_object)
}

/// The number of entries of the map at a JSON pointer.
pub fn map_len(object: &Value, pointer: &str) -> usize {
    map(object, pointer).map_or(0, Map::len)
}

/// Whether a field is present and not null (a Go pointer that is set).
pub fn is_set(object: &Value, pointer: &str) -> bool {
    object
        .pointer(pointer)
        .is_some_and(|found| !found.is_null())
}

/// The value of an annotation or label.
pub fn annotation<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    map(object, "/metadata/annotations")?.get(key)?.as_str()
}

/// `metadata.name` as a cell.
pub fn name(object: &Value) -> Value {
    Value::from(text(object, "/metadata/name"))
}

/// The AGE cell: time since `metadata.creationTimestamp`.
pub fn age(object: &Value, now: i64) -> Value {
    time_since(object, "/metadata/creationTimestamp", now)
}

/// Time since the timestamp at a JSON pointer, `<unknown>` when unset.
pub fn time_since(object: &Value, pointer: &str, now: i64) -> Value {
    Value::from(duration::translate_timestamp_since(
        object.pointer(pointer),
        now,
    ))
}

/// Whether the object is being deleted.
pub fn is_deleting(object: &Value) -> bool {
    is_set(object, "/metadata/deletionTimestamp")
}

/// Upstream's `FormatLabels`: `k1=v1,k2=v2` in key order, `<none>` when empty.
pub fn format_labels(labels: Option<&Value>) -> String {
    let joined = labels
        .and_then(Value::as_object)
        .map(|entries| {
            entries
                .iter()
                .map(|(key, value)| format!("{key}={}", value.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    or_none(joined)
}

/// Upstream's `FormatLabelSelector`: the selector's string form, `<none>` when it selects
/// everything or nothing, `<error>` when it is malformed.
pub fn format_label_selector(selector: Option<&Value>) -> String {
    match label_selector_string(selector) {
        Some(text) => or_none(text),
        None => "<error>".to_owned(),
    }
}

/// The string form of a `LabelSelector` (`app=web,tier in (a,b),!legacy`), requirements sorted by
/// key; empty for a missing or empty selector; `None` when an expression is malformed.
pub fn label_selector_string(selector: Option<&Value>) -> Option<String> {
    let Some(selector) = selector.filter(|found| !found.is_null()) else {
        return Some(String::new());
    };
    let mut requirements: Vec<(String, String)> = Vec::new();
    if let Some(labels) = map(selector, "/matchLabels") {
        for (key, value) in labels {
            requirements.push((
                key.clone(),
                format!("{key}={}", value.as_str().unwrap_or("")),
            ));
        }
    }
    for expression in list(selector, "/matchExpressions") {
        let key = text(expression, "/key");
        let mut values: Vec<&str> = list(expression, "/values")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        values.sort_unstable();
        let rendered = match text(expression, "/operator") {
            "In" if !values.is_empty() => format!("{key} in ({})", values.join(",")),
            "NotIn" if !values.is_empty() => format!("{key} notin ({})", values.join(",")),
            "Exists" if values.is_empty() => key.to_owned(),
            "DoesNotExist" if values.is_empty() => format!("!{key}"),
            _ => return None,
        };
        requirements.push((key.to_owned(), rendered));
    }
    requirements.sort_by(|left, right| left.0.cmp(&right.0));
    Some(
        requirements
            .into_iter()
            .map(|(_, rendered)| rendered)
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// The CONTAINERS and IMAGES cells of a pod template: names and images joined by commas.
pub fn container_cells(containers: &[Value]) -> (Value, Value) {
    let names: Vec<&str> = containers
        .iter()
        .map(|container| text(container, "/name"))
        .collect();
    let images: Vec<&str> = containers
        .iter()
        .map(|container| text(container, "/image"))
        .collect();
    (Value::from(names.join(",")), Value::from(images.join(",")))
}

/// Access modes abbreviated in upstream's fixed order: `RWO,ROX,RWX,RWOP`.
pub fn access_modes(modes: &[Value]) -> String {
    let has = |mode: &str| modes.iter().any(|found| found.as_str() == Some(mode));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(mode, _)| has(mode))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

/// A Go `*bool` printed as `True`, `False` or `<unset>`.
pub fn bool_pointer(value: Option<&Value>) -> String {
    match value.and_then(Value::as_bool) {
        Some(true) => "True".to_owned(),
        Some(false) => "False".to_owned(),
        None => "<unset>".to_owned(),
    }
}

/// An `IntOrString` as text: `2` or `50%`.
pub fn int_or_string(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        _ => String::new(),
    }
}

/// Up to three entries joined by commas, then ` + N more...`; `<unset>` when there are none.
pub fn list_with_more(entries: &[String]) -> String {
    const SHOWN: usize = 3;
    if entries.len() > SHOWN {
        return format!(
            "{} + {} more...",
            entries[..SHOWN].join(","),
            entries.len() - SHOWN
        );
    }
    if entries.is_empty() {
        return "<unset>".to_owned();
    }
    entries.join(",")
}

/// The text, or `<none>` when it is empty.
pub fn or_none(text: String) -> String {
    if text.is_empty() {
        "<none>".to_owned()
    } else {
        text
    }
}

/// Load-balancer ingress points (IP, else hostname), de-duplicated, sorted and comma-joined.
pub fn load_balancer_ingress(object: &Value, pointer: &str) -> String {
    let mut points: Vec<&str> = list(object, pointer)
        .iter()
        .filter_map(|point| non_empty(point, "/ip").or_else(|| non_empty(point, "/hostname")))
        .collect();
    points.sort_unstable();
    points.dedup();
    points.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_are_sorted_and_none_when_empty() {
        assert_eq!(
            format_labels(Some(&json!({"tier": "web", "app": "shop"}))),
            "app=shop,tier=web"
        );
        assert_eq!(format_labels(Some(&json!({}))), "<none>");
        assert_eq!(format_labels(None), "<none>");
    }

    #[test]
    fn selectors_render_like_upstream() {
        let selector = json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["front", "back"]},
                {"key": "legacy", "operator": "DoesNotExist"},
                {"key": "env", "operator": "NotIn", "values": ["dev"]},
                {"key": "zone", "operator": "Exists"}
            ]
        });
        assert_eq!(
            format_label_selector(Some(&selector)),
            "app=web,env notin (dev),!legacy,tier in (back,front),zone"
        );
        assert_eq!(format_label_selector(Some(&json!({}))), "<none>");
        assert_eq!(format_label_selector(None), "<none>");
        let broken = json!({"matchExpressions": [{"key": "a", "operator": "Near"}]});
        assert_eq!(format_label_selector(Some(&broken)), "<error>");
        assert_eq!(label_selector_string(Some(&broken)), None);
    }

    #[test]
    fn access_modes_keep_upstream_order() {
        let modes = [
            json!("ReadWriteMany"),
            json!("ReadWriteOnce"),
            json!("ReadWriteOnce"),
        ];
        assert_eq!(access_modes(&modes), "RWO,RWX");
        assert_eq!(access_modes(&[]), "");
    }

    #[test]
    fn lists_are_cut_after_three() {
        let entries: Vec<String> = (1..=5).map(|n| n.to_string()).collect();
        assert_eq!(list_with_more(&entries), "1,2,3 + 2 more...");
        assert_eq!(list_with_more(&entries[..2]), "1,2");
        assert_eq!(list_with_more(&[]), "<unset>");
    }

    #[test]
    fn scalar_helpers() {
        assert_eq!(bool_pointer(Some(&json!(true))), "True");
        assert_eq!(bool_pointer(None), "<unset>");
        assert_eq!(int_or_string(&json!(2)), "2");
        assert_eq!(int_or_string(&json!("50%")), "50%");
        let containers = [
            json!({"name": "web", "image": "nginx:1.27"}),
            json!({"name": "log"}),
        ];
        let (names, images) = container_cells(&containers);
        assert_eq!((names, images), (json!("web,log"), json!("nginx:1.27,")));
    }
}
