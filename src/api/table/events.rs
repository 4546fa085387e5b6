//! Tables of events, core/v1 and events.k8s.io/v1 alike: upstream serves both from one store and
//! prints them with the same columns, reading each field wherever its version keeps it.

use serde_json::Value;

use super::Column;
use super::duration::{self, translate_timestamp_since};
use super::fields::{int, is_set, name, non_empty, text, time_since};

pub(super) const EVENT_COLUMNS: &[Column] = &[
    Column::text("Last Seen", "Time since the event last occurred."),
    Column::text("Type", "Normal or Warning."),
    Column::text("Reason", "A short machine-readable cause."),
    Column::text("Object", "The object the event is about, as kind/name."),
    Column::wide(
        "Subobject",
        "The part of the object concerned, e.g. a container.",
    ),
    Column::wide(
        "Source",
        "The component, and host, that reported the event.",
    ),
    Column::text("Message", "What happened, in words."),
    Column::wide("First Seen", "Time since the event first occurred."),
    Column::wide("Count", "How many times the event occurred."),
    Column::NAME.only_wide(),
];

/// Where each event field lives: core/v1 and events.k8s.io/v1 name them differently.
struct EventFields {
    object: &'static str,
    message: &'static str,
    first: &'static str,
    last: &'static str,
    count: &'static str,
    component: &'static str,
    host: &'static str,
}

const CORE_EVENT: EventFields = EventFields {
    object: "/involvedObject",
    message: "/message",
    first: "/firstTimestamp",
    last: "/lastTimestamp",
    count: "/count",
    component: "/source/component",
    host: "/source/host",
};

const EVENTS_EVENT: EventFields = EventFields {
    object: "/regarding",
    message: "/note",
    first: "/deprecatedFirstTimestamp",
    last: "/deprecatedLastTimestamp",
    count: "/deprecatedCount",
    component: "/deprecatedSource/component",
    host: "/deprecatedSource/host",
};

pub(super) fn event(object: &Value, now: i64) -> Vec<Value> {
    event_cells(object, now, &CORE_EVENT)
}

pub(super) fn events_event(object: &Value, now: i64) -> Vec<Value> {
    event_cells(object, now, &EVENTS_EVENT)
}

fn event_cells(object: &Value, now: i64, at: &EventFields) -> Vec<Value> {
    let first = match duration::parse_timestamp(object.pointer(at.first)) {
        Some(_) => time_since(object, at.first, now),
        None => time_since(object, "/eventTime", now),
    };
    let mut last = match duration::parse_timestamp(object.pointer(at.last)) {
        Some(_) => time_since(object, at.last, now),
        None => first.clone(),
    };
    let mut count = int(object, at.count);
    if is_set(object, "/series") {
        last = Value::from(translate_timestamp_since(
            object.pointer("/series/lastObservedTime"),
            now,
        ));
        count = int(object, "/series/count");
    } else if count == 0 {
        count = 1;
    }
    let kind = text(object, &format!("{}/kind", at.object)).to_lowercase();
    let target = match non_empty(object, &format!("{}/name", at.object)) {
        Some(involved) => format!("{kind}/{involved}"),
        None => kind,
    };
    let component = non_empty(object, at.component).unwrap_or(text(object, "/reportingController"));
    let host = non_empty(object, at.host).unwrap_or(text(object, "/reportingInstance"));
    let source = if host.is_empty() {
        component.to_owned()
    } else {
        format!("{component}, {host}")
    };
    vec![
        last,
        Value::from(text(object, "/type")),
        Value::from(text(object, "/reason")),
        Value::from(target),
        Value::from(text(object, &format!("{}/fieldPath", at.object))),
        Value::from(source),
        Value::from(text(object, at.message).trim()),
        first,
        Value::from(count),
        name(object),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// 2024-05-03T10:00:00Z.
    const NOW: i64 = 1_714_730_400;

    #[test]
    fn core_event_columns() {
        let warning = json!({
            "metadata": {"name": "web-0.17c9a", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web-0", "fieldPath": "spec.containers{web}"},
            "reason": "BackOff", "type": "Warning", "message": "Back-off restarting failed container\n",
            "source": {"component": "kubelet", "host": "node-a"},
            "firstTimestamp": "2024-05-03T09:00:00Z", "lastTimestamp": "2024-05-03T09:55:00Z", "count": 12
        });
        assert_eq!(
            event(&warning, NOW),
            vec![
                json!("5m"),
                json!("Warning"),
                json!("BackOff"),
                json!("pod/web-0"),
                json!("spec.containers{web}"),
                json!("kubelet, node-a"),
                json!("Back-off restarting failed container"),
                json!("60m"),
                json!(12),
                json!("web-0.17c9a")
            ]
        );
    }

    #[test]
    fn new_style_events_fall_back_to_event_time_and_series() {
        let core_style = json!({
            "metadata": {"name": "web.1"}, "involvedObject": {"kind": "Deployment", "name": "web"},
            "reason": "ScalingReplicaSet", "type": "Normal", "message": "Scaled up",
            "eventTime": "2024-05-03T09:59:15.123456Z", "reportingController": "deployment-controller",
            "reportingInstance": "kedge-server"
        });
        let row = event(&core_style, NOW);
        assert_eq!(row[0], json!("44s"));
        assert_eq!(row[5], json!("deployment-controller, kedge-server"));
        assert_eq!(row[7], json!("44s"));
        assert_eq!(row[8], json!(1));

        let events_style = json!({
            "metadata": {"name": "web.2"}, "regarding": {"kind": "Node"},
            "reason": "Starting", "type": "Normal", "note": "  Starting kubelet.  ",
            "eventTime": "2024-05-03T08:00:00.000000Z", "reportingController": "kubelet",
            "series": {"count": 4, "lastObservedTime": "2024-05-03T09:30:00.000000Z"}
        });
        let row = events_event(&events_style, NOW);
        assert_eq!(
            row[..4],
            [
                json!("30m"),
                json!("Normal"),
                json!("Starting"),
                json!("node")
            ]
        );
        assert_eq!(
            row[5..9],
            [
                json!("kubelet"),
                json!("Starting kubelet."),
                json!("120m"),
                json!(4)
            ]
        );
        assert_eq!(event(&json!({}), NOW)[..2], [json!("<unknown>"), json!("")]);
    }
}
