//! Nodes (taints, capacity, pod CIDRs and what an update may change) and Events, both the
//! core/v1 shape and the events.k8s.io/v1 one (whose fields map onto the same checks).

use std::collections::BTreeSet;

use serde_json::Value;

use super::json::{Node, semantically_equal};
use super::meta::{FIELD_IMMUTABLE, validate_object_meta, validate_object_meta_update};
use super::names::{
    NameRule, cidr_errors, dns1123_subdomain_errors, invalid_each, label_key_errors, parse_cidr,
};
use super::resources::{read_resource_list, validate_resource_quantity_value};
use super::scheduling::taints;
use crate::api::field_error::{FieldError, Path};

fn node_resources(obj: &Node, errs: &mut Vec<FieldError>) {
    for list in ["capacity", "allocatable"] {
        for (name, _, q) in read_resource_list(&obj.at(&["status", list]), errs) {
            let path = Path::root("status").child(list).child(name);
            validate_resource_quantity_value(&path, name, &q, errs);
        }
    }
}

/// Upstream's `ValidateNode` (everything but the metadata).
pub(crate) fn validate_node(obj: &Node, errs: &mut Vec<FieldError>) {
    let spec_taints = obj.at(&["spec", "taints"]);
    taints(
        &Node::new(spec_taints.value(), Path::root("metadata").child("taints")),
        errs,
    );
    node_resources(obj, errs);
    let cidrs_node = obj.at(&["spec", "podCIDRs"]);
    let cidrs = cidrs_node.string_list(errs);
    for (i, cidr) in cidrs.iter().enumerate() {
        errs.extend(cidr_errors(&cidrs_node.path().index(i), cidr));
    }
    if cidrs.len() > 1 {
        let families: BTreeSet<bool> = cidrs
            .iter()
            .filter_map(|c| parse_cidr(c))
            .map(|(ip, _, _)| ip.is_ipv4())
            .collect();
        if families.len() != 2 || cidrs.len() > 2 {
            errs.push(FieldError::invalid(
                cidrs_node.path(),
                cidrs_node.value(),
                "may specify no more than one CIDR for each IP family",
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, cidr) in cidrs.iter().enumerate() {
            if !seen.insert(*cidr) {
                errs.push(FieldError::duplicate(
                    cidrs_node.path().index(i),
                    &Value::from(*cidr),
                ));
            }
        }
    }
}

/// Upstream's `ValidateNodeUpdate` (also used for status updates).
pub(crate) fn validate_node_update(new: &Node, old: &Node, errs: &mut Vec<FieldError>) {
    node_resources(new, errs);
    let mut seen: Vec<&Value> = Vec::new();
    for address in new.at(&["status", "addresses"]).items(errs) {
        if seen.contains(&address.value()) {
            errs.push(FieldError::duplicate(address.path(), address.value()));
        }
        seen.push(address.value());
    }
    let mut ignored = Vec::new();
    let old_cidrs = old.at(&["spec", "podCIDRs"]).string_list(&mut ignored);
    let new_cidrs = new.at(&["spec", "podCIDRs"]).string_list(&mut ignored);
    let cidr_msg = "node updates may not change podCIDR except from \"\" to valid";
    if !old_cidrs.is_empty() {
        if old_cidrs.len() != new_cidrs.len() {
            errs.push(FieldError::forbidden(
                Path::root("spec").child("podCIDRs"),
                cidr_msg,
            ));
        } else {
            for (a, b) in old_cidrs.iter().zip(new_cidrs.iter()) {
                if a != b {
                    errs.push(FieldError::forbidden(
                        Path::root("spec").child("podCIDRs"),
                        cidr_msg,
                    ));
                }
            }
        }
    }
    let old_provider = old.at(&["spec", "providerID"]).str(&mut ignored);
    if !old_provider.is_empty() && old_provider != new.at(&["spec", "providerID"]).str(&mut ignored)
    {
        errs.push(FieldError::forbidden(
            Path::root("spec").child("providerID"),
            "node updates may not change providerID except from \"\" to valid",
        ));
    }
    let spec_taints = new.at(&["spec", "taints"]);
    taints(
        &Node::new(spec_taints.value(), Path::root("metadata").child("taints")),
        errs,
    );
    if new.at(&["spec", "externalID"]).value() != old.at(&["spec", "externalID"]).value() {
        errs.push(FieldError::forbidden(
            Path::root("spec").child("externalID"),
            "may not be updated",
        ));
    }
}

/// Where each internal Event field lives in the request's JSON.
struct EventFields {
    v1: bool,
    involved_object: &'static str,
    message: &'static str,
    source: &'static str,
    first_timestamp: &'static str,
    last_timestamp: &'static str,
    count: &'static str,
    reporting_controller: &'static str,
}

fn event_fields(group: &str) -> EventFields {
    if group == "events.k8s.io" {
        EventFields {
            v1: false,
            involved_object: "regarding",
            message: "note",
            source: "deprecatedSource",
            first_timestamp: "deprecatedFirstTimestamp",
            last_timestamp: "deprecatedLastTimestamp",
            count: "deprecatedCount",
            reporting_controller: "reportingController",
        }
    } else {
        EventFields {
            v1: true,
            involved_object: "involvedObject",
            message: "message",
            source: "source",
            first_timestamp: "firstTimestamp",
            last_timestamp: "lastTimestamp",
            count: "count",
            reporting_controller: "reportingComponent",
        }
    }
}

fn legacy_event(obj: &Node, f: &EventFields, errs: &mut Vec<FieldError>) {
    let mut ignored = Vec::new();
    let namespace = obj.at(&["metadata", "namespace"]).str(&mut ignored);
    let involved_ns = obj.at(&[f.involved_object, "namespace"]).str(&mut ignored);
    let ns_path = Path::root("involvedObject").child("namespace");
    let mismatch = || {
        FieldError::invalid(
            &ns_path,
            &Value::from(involved_ns),
            "does not match event.namespace",
        )
    };
    if !obj.field("eventTime").is_set() {
        if involved_ns.is_empty() {
            if !namespace.is_empty() && namespace != "default" {
                errs.push(mismatch());
            }
        } else if namespace != involved_ns {
            errs.push(mismatch());
        }
    } else {
        if involved_ns.is_empty() && namespace != "default" && namespace != "kube-system" {
            errs.push(mismatch());
        }
        let controller_name = if f.v1 {
            "reportingComponent"
        } else {
            "reportingController"
        };
        let controller = obj.field(f.reporting_controller).str(errs);
        if controller.is_empty() {
            errs.push(FieldError::required(controller_name, ""));
        }
        errs.extend(invalid_each(
            &Path::root(controller_name),
            controller,
            label_key_errors(controller),
        ));
        let blank = Value::from("");
        for (key, limit) in [("reportingInstance", 128), ("action", 128), ("reason", 128)] {
            let value = obj.field(key).str(errs);
            if value.is_empty() {
                errs.push(FieldError::required(key, ""));
            }
            if value.len() > limit {
                errs.push(FieldError::invalid(
                    key,
                    &blank,
                    &format!("can have at most {limit} characters"),
                ));
            }
        }
        if obj.field(f.message).str(errs).len() > 1024 {
            errs.push(FieldError::invalid(
                "message",
                &blank,
                "can have at most 1024 characters",
            ));
        }
    }
    errs.extend(invalid_each(
        &Path::root("namespace"),
        namespace,
        dns1123_subdomain_errors(namespace),
    ));
}

fn event_series(obj: &Node, errs: &mut Vec<FieldError>) {
    let series = obj.field("series");
    if series.is_set() {
        if series.field("count").int(errs) < 2 {
            errs.push(FieldError::invalid(
                "series.count",
                &Value::from(""),
                "should be at least 2",
            ));
        }
        if !series.field("lastObservedTime").is_set() {
            errs.push(FieldError::required("series.lastObservedTime", ""));
        }
    }
}

/// Upstream's `ValidateEventCreate`; `group` picks the JSON shape (core or events.k8s.io).
pub(crate) fn validate_event_create(obj: &Node, group: &str, errs: &mut Vec<FieldError>) {
    let f = event_fields(group);
    legacy_event(obj, &f, errs);
    if f.v1 {
        return;
    }
    validate_object_meta(
        &obj.field("metadata"),
        true,
        NameRule::Dns1123Subdomain,
        errs,
    );
    event_series(obj, errs);
    if !obj.field("eventTime").is_set() {
        errs.push(FieldError::required("eventTime", ""));
    }
    let kind = obj.field("type").str(errs);
    if kind != "Normal" && kind != "Warning" {
        errs.push(FieldError::invalid(
            "type",
            &Value::from(""),
            &format!("has invalid value: {kind}"),
        ));
    }
    let blank = Value::from("");
    for (key, path) in [
        (f.first_timestamp, "firstTimestamp"),
        (f.last_timestamp, "lastTimestamp"),
    ] {
        if obj.field(key).is_set() {
            errs.push(FieldError::invalid(path, &blank, "needs to be unset"));
        }
    }
    if obj.field(f.count).int(errs) != 0 {
        errs.push(FieldError::invalid("count", &blank, "needs to be unset"));
    }
    let source = obj.field(f.source);
    if !source.field("component").str(errs).is_empty() || !source.field("host").str(errs).is_empty()
    {
        errs.push(FieldError::invalid("source", &blank, "needs to be unset"));
    }
}

/// Upstream's `ValidateEventUpdate`.
pub(crate) fn validate_event_update(
    new: &Node,
    old: &Node,
    group: &str,
    errs: &mut Vec<FieldError>,
) {
    let f = event_fields(group);
    legacy_event(new, &f, errs);
    if f.v1 {
        return;
    }
    validate_object_meta_update(&new.field("metadata"), &old.field("metadata"), errs);
    if !semantically_equal(new.field("series").value(), old.field("series").value()) {
        event_series(new, errs);
    }
    let fields = [
        (f.involved_object, "involvedObject"),
        ("reason", "reason"),
        (f.message, "message"),
        (f.source, "source"),
        (f.first_timestamp, "firstTimestamp"),
        (f.last_timestamp, "lastTimestamp"),
        (f.count, "count"),
        ("reason", "reason"),
        ("type", "type"),
        ("eventTime", "eventTime"),
        ("action", "action"),
        ("related", "related"),
        ("reportingController", "reportingController"),
        ("reportingInstance", "reportingInstance"),
    ];
    for (key, path) in fields {
        let (n, o) = (new.field(key), old.field(key));
        if !semantically_equal(n.value(), o.value()) {
            errs.push(FieldError::invalid(path, n.value(), FIELD_IMMUTABLE));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn node_rules() {
        let node = json!({"spec": {"podCIDRs": ["10.0.0.0/24", "10.1.0.0/24"], "taints": [{"key": "k", "effect": "Sometimes"}]}, "status": {"capacity": {"cpu": "-1"}}});
        let mut errs = Vec::new();
        validate_node(&Node::root(&node), &mut errs);
        let errs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            errs,
            vec![
                "metadata.taints[0].effect: Unsupported value: \"Sometimes\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"",
                "status.capacity.cpu: Invalid value: \"-1\": must be greater than or equal to 0",
                "spec.podCIDRs: Invalid value: [\"10.0.0.0/24\",\"10.1.0.0/24\"]: may specify no more than one CIDR for each IP family",
            ]
        );
    }

    #[test]
    fn core_events_check_the_involved_namespace() {
        let event = json!({"metadata": {"name": "e", "namespace": "a"}, "involvedObject": {"namespace": "b"}});
        let mut errs = Vec::new();
        validate_event_create(&Node::root(&event), "", &mut errs);
        assert_eq!(
            errs[0].to_string(),
            "involvedObject.namespace: Invalid value: \"b\": does not match event.namespace"
        );
    }

    #[test]
    fn events_v1_need_reporting_fields() {
        let event = json!({"metadata": {"name": "e", "namespace": "default"}, "eventTime": "2024-01-01T00:00:00.000000Z", "type": "Normal", "regarding": {}});
        let mut errs = Vec::new();
        validate_event_create(&Node::root(&event), "events.k8s.io", &mut errs);
        let errs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(errs[0], "reportingController: Required value");
        assert!(errs.contains(&"action: Required value".to_string()));
    }
}
