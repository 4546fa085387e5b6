//! Smaller API groups: policy PodDisruptionBudgets, scheduling PriorityClasses, coordination
//! Leases, discovery EndpointSlices and certificates CertificateSigningRequests.

use std::collections::BTreeSet;

use serde_json::Value;

use super::config::decode_base64;
use super::container::protocol;
use super::json::Node;
use super::meta::{
    FIELD_IMMUTABLE, immutable, nonnegative, validate_label_name, validate_label_selector,
    validate_labels,
};
use super::names::{
    NameRule, dns1123_label_errors, dns1123_subdomain_errors, invalid_each, label_key_errors,
    label_value_errors, parse_ip, percent_errors,
};
use crate::api::field_error::{FieldError, Path};

fn int_or_percent(node: &Node, errs: &mut Vec<FieldError>) {
    match node.value() {
        Value::String(s) => {
            let msgs = percent_errors(s);
            if msgs.is_empty() {
                if s.trim_end_matches('%').parse::<i64>().unwrap_or(0) > 100 {
                    errs.push(FieldError::invalid(
                        node.path(),
                        node.value(),
                        "must not be greater than 100%",
                    ));
                }
            } else {
                for msg in msgs {
                    errs.push(FieldError::invalid(node.path(), node.value(), &msg));
                }
            }
        }
        Value::Number(_) => nonnegative(node, errs),
        _ => {}
    }
}

/// Upstream's `ValidatePodDisruptionBudgetSpec`.
pub(crate) fn validate_pdb(obj: &Node, errs: &mut Vec<FieldError>) {
    let spec = obj.field("spec");
    let (min, max) = (spec.field("minAvailable"), spec.field("maxUnavailable"));
    if min.is_set() && max.is_set() {
        errs.push(FieldError::invalid(
            spec.path(),
            spec.value(),
            "minAvailable and maxUnavailable cannot be both set",
        ));
    }
    int_or_percent(&min, errs);
    int_or_percent(&max, errs);
    validate_label_selector(&spec.field("selector"), false, errs);
    let policy = spec.field("unhealthyPodEvictionPolicy");
    if let Some(p) = policy.opt_str(errs)
        && p != "AlwaysAllow"
        && p != "IfHealthyBudget"
    {
        errs.push(FieldError::not_supported(
            policy.path(),
            &Value::from(p),
            &["AlwaysAllow", "IfHealthyBudget"],
        ));
    }
}

/// metav1 `ValidateConditions` (PDB status and other standard conditions).
pub(crate) fn validate_conditions(list: &Node, errs: &mut Vec<FieldError>) {
    let mut seen = BTreeSet::new();
    for condition in list.items(errs) {
        let kind = condition.field("type");
        let k = kind.str(errs);
        if !seen.insert(k) {
            errs.push(FieldError::duplicate(kind.path(), &Value::from(k)));
        }
        validate_label_name(kind.path(), k, errs);
        let status = condition.field("status");
        let s = status.str(errs);
        if !["False", "True", "Unknown"].contains(&s) {
            errs.push(FieldError::not_supported(
                status.path(),
                &Value::from(s),
                &["False", "True", "Unknown"],
            ));
        }
        let generation = condition.field("observedGeneration");
        if let Some(g) = generation.opt_int(errs)
            && g < 0
        {
            errs.push(FieldError::invalid(
                generation.path(),
                &Value::from(g),
                "must be greater than or equal to zero",
            ));
        }
        if !condition.field("lastTransitionTime").is_set() {
            errs.push(FieldError::required(
                condition.path().child("lastTransitionTime"),
                "",
            ));
        }
        let reason = condition.field("reason");
        let r = reason.str(errs);
        if r.is_empty() {
            errs.push(FieldError::required(reason.path(), ""));
        } else {
            let ok = r.starts_with(|c: char| c.is_ascii_alphabetic())
                && r.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_,:".contains(c))
                && r.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                errs.push(FieldError::invalid(
                    reason.path(),
                    &Value::from(r),
                    &super::names::regex_error(
                        "a condition reason must start with alphabetic character, optionally followed by a string of alphanumeric characters or '_,:', and must end with an alphanumeric character or '_'",
                        "[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?",
                        &["my_name", "MY_NAME", "MyName", "ReasonA,ReasonB", "ReasonA:ReasonB"],
                    ),
                ));
            }
            if r.len() > 1024 {
                errs.push(FieldError::too_long(reason.path(), 1024));
            }
        }
        let message = condition.field("message");
        if message.str(errs).len() > 32 * 1024 {
            errs.push(FieldError::too_long(message.path(), 32 * 1024));
        }
    }
}

/// A PodDisruptionBudget status update.
pub(crate) fn validate_pdb_status(obj: &Node, errs: &mut Vec<FieldError>) {
    let status = obj.field("status");
    validate_conditions(&status.field("conditions"), errs);
    for key in [
        "disruptionsAllowed",
        "currentHealthy",
        "desiredHealthy",
        "expectedPods",
    ] {
        nonnegative(&status.field(key), errs);
    }
}

const HIGHEST_USER_PRIORITY: i64 = 1_000_000_000;

fn preemption_policy(node: &Node, errs: &mut Vec<FieldError>) {
    if let Some(p) = node.opt_str(errs) {
        match p {
            "PreemptLowerPriority" | "Never" => {}
            "" => errs.push(FieldError::required(node.path(), "")),
            other => errs.push(FieldError::not_supported(
                node.path(),
                &Value::from(other),
                &["PreemptLowerPriority", "Never"],
            )),
        }
    }
}

/// Upstream's `ValidatePriorityClass` (everything but the metadata).
pub(crate) fn validate_priority_class(obj: &Node, errs: &mut Vec<FieldError>) {
    let mut ignored = Vec::new();
    let name = obj.at(&["metadata", "name"]).str(&mut ignored);
    let value = obj.field("value").int(errs);
    let global_default = obj.field("globalDefault").bool(errs);
    if name.starts_with("system-") {
        let system = crate::api::admission::priority::SYSTEM_CLASSES
            .iter()
            .find(|(n, ..)| *n == name);
        let problem = match system {
            None => Some(format!("{name} is not a known system priority class")),
            Some((n, v, _)) if *v != value => {
                Some(format!("value of {n} PriorityClass must be {v}"))
            }
            Some((n, ..)) if global_default => {
                Some(format!("globalDefault of {n} PriorityClass must be false"))
            }
            Some(_) => None,
        };
        if let Some(err) = problem {
            errs.push(FieldError::forbidden(
                Path::root("metadata").child("name"),
                &format!("priority class names with 'system-' prefix are reserved for system use only. error: {err}"),
            ));
        }
    } else if value > HIGHEST_USER_PRIORITY {
        errs.push(FieldError::forbidden(
            "value",
            &format!("maximum allowed value of a user defined priority is {HIGHEST_USER_PRIORITY}"),
        ));
    }
    preemption_policy(&obj.field("preemptionPolicy"), errs);
}

/// A PriorityClass update: value and preemptionPolicy never change.
pub(crate) fn validate_priority_class_update(new: &Node, old: &Node, errs: &mut Vec<FieldError>) {
    let mut ignored = Vec::new();
    if new.field("value").int(&mut ignored) != old.field("value").int(&mut ignored) {
        errs.push(FieldError::forbidden(
            "value",
            "may not be changed in an update.",
        ));
    }
    immutable(
        &new.field("preemptionPolicy"),
        &old.field("preemptionPolicy"),
        errs,
    );
}

/// Upstream's `ValidateLeaseSpec`.
pub(crate) fn validate_lease(obj: &Node, errs: &mut Vec<FieldError>) {
    let spec = obj.field("spec");
    let duration = spec.field("leaseDurationSeconds");
    if let Some(d) = duration.opt_int(errs)
        && d <= 0
    {
        errs.push(FieldError::invalid(
            duration.path(),
            &Value::from(d),
            "must be greater than 0",
        ));
    }
    let transitions = spec.field("leaseTransitions");
    if let Some(t) = transitions.opt_int(errs)
        && t < 0
    {
        errs.push(FieldError::invalid(
            transitions.path(),
            &Value::from(t),
            "must be greater than or equal to 0",
        ));
    }
    let preferred = spec.field("preferredHolder").str(errs);
    if !preferred.is_empty() && spec.field("strategy").str(errs).is_empty() {
        errs.push(FieldError::forbidden(
            spec.path().child("preferredHolder"),
            "may only be specified if `strategy` is defined",
        ));
    }
}

fn fqdn_errors(path: &Path, name: &str) -> Vec<FieldError> {
    if name.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    let msgs = dns1123_subdomain_errors(trimmed);
    if !msgs.is_empty() {
        return vec![FieldError::invalid(
            path,
            &Value::from(trimmed),
            &msgs.join(","),
        )];
    }
    if trimmed.split('.').count() < 2 {
        return vec![FieldError::invalid(
            path,
            &Value::from(trimmed),
            "should be a domain with at least two segments separated by dots",
        )];
    }
    for label in trimmed.split('.') {
        let msgs = dns1123_label_errors(label);
        if !msgs.is_empty() {
            return vec![FieldError::invalid(
                path,
                &Value::from(label),
                &msgs.join(","),
            )];
        }
    }
    Vec::new()
}

/// Upstream's `ValidateEndpointSlice` (everything but the metadata); `create` adds the
/// addressType check.
pub(crate) fn validate_endpoint_slice(obj: &Node, create: bool, errs: &mut Vec<FieldError>) {
    let address_type = obj.field("addressType").str(errs);
    let endpoints = obj.field("endpoints");
    let items = endpoints.items(errs);
    if items.len() > 1000 {
        errs.push(FieldError::too_many(endpoints.path(), items.len(), 1000));
    } else {
        for endpoint in items {
            let addresses = endpoint.field("addresses");
            let list = addresses.string_list(errs);
            if list.is_empty() {
                errs.push(FieldError::required(
                    addresses.path(),
                    "must contain at least 1 address",
                ));
            } else if list.len() > 100 {
                errs.push(FieldError::too_many(addresses.path(), list.len(), 100));
            }
            for (i, address) in list.iter().enumerate() {
                let path = addresses.path().index(i);
                let parsed = parse_ip(address).map(|(ip, _)| ip);
                match address_type {
                    "IPv4" if !parsed.is_some_and(|ip| ip.is_ipv4()) => {
                        errs.push(FieldError::invalid(
                            &path,
                            &Value::from(*address),
                            "must be a valid IPv4 address",
                        ))
                    }
                    "IPv6" if !parsed.is_some_and(|ip| ip.is_ipv6()) => {
                        errs.push(FieldError::invalid(
                            &path,
                            &Value::from(*address),
                            "must be a valid IPv6 address",
                        ))
                    }
                    "FQDN" => errs.extend(fqdn_errors(&path, address)),
                    _ => {}
                }
            }
            let node_name = endpoint.field("nodeName");
            if let Some(n) = node_name.opt_str(errs) {
                errs.extend(invalid_each(
                    node_name.path(),
                    n,
                    NameRule::Dns1123Subdomain.errors(n, false),
                ));
            }
            let topology = endpoint.field("deprecatedTopology");
            if topology.len() > 16 {
                errs.push(FieldError::too_many(topology.path(), topology.len(), 16));
            }
            validate_labels(&topology, errs);
            let hostname = endpoint.field("hostname");
            if let Some(h) = hostname.opt_str(errs) {
                errs.extend(invalid_each(hostname.path(), h, dns1123_label_errors(h)));
            }
            let zones = endpoint.at(&["hints", "forZones"]);
            let zone_items = zones.items(errs);
            if zone_items.len() > 8 {
                errs.push(FieldError::too_many(zones.path(), zone_items.len(), 8));
            } else {
                let mut seen = BTreeSet::new();
                for zone in zone_items {
                    let name = zone.field("name");
                    let z = name.str(errs);
                    if !seen.insert(z) {
                        errs.push(FieldError::duplicate(name.path(), &Value::from(z)));
                    }
                    errs.extend(invalid_each(name.path(), z, label_value_errors(z)));
                }
            }
        }
    }
    let ports = obj.field("ports");
    let port_items = ports.items(errs);
    if port_items.len() > 20000 {
        errs.push(FieldError::too_many(ports.path(), port_items.len(), 20000));
    } else {
        let mut names = BTreeSet::new();
        for port in port_items {
            let name = port.field("name");
            let n = name.str(errs);
            if !n.is_empty() {
                errs.extend(invalid_each(name.path(), n, dns1123_label_errors(n)));
            }
            if !names.insert(n) {
                errs.push(FieldError::duplicate(name.path(), &Value::from(n)));
            }
            protocol(&port.field("protocol"), errs);
            let app = port.field("appProtocol");
            if let Some(a) = app.opt_str(errs) {
                errs.extend(invalid_each(app.path(), a, label_key_errors(a)));
            }
        }
    }
    if create {
        let kind = obj.field("addressType");
        if address_type.is_empty() {
            errs.push(FieldError::required(kind.path(), ""));
        } else if !["FQDN", "IPv4", "IPv6"].contains(&address_type) {
            errs.push(FieldError::not_supported(
                kind.path(),
                &Value::from(address_type),
                &["FQDN", "IPv4", "IPv6"],
            ));
        }
    }
}

/// An EndpointSlice update: addressType never changes.
pub(crate) fn validate_endpoint_slice_update(new: &Node, old: &Node, errs: &mut Vec<FieldError>) {
    validate_endpoint_slice(new, false, errs);
    let (n, o) = (new.field("addressType"), old.field("addressType"));
    if n.value() != o.value() {
        errs.push(FieldError::invalid(n.path(), n.value(), FIELD_IMMUTABLE));
    }
}

const KEY_USAGES: [&str; 23] = [
    "any",
    "cert sign",
    "client auth",
    "code signing",
    "content commitment",
    "crl sign",
    "data encipherment",
    "decipher only",
    "digital signature",
    "email protection",
    "encipher only",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "key agreement",
    "key encipherment",
    "microsoft sgc",
    "netscape sgc",
    "ocsp signing",
    "s/mime",
    "server auth",
    "signing",
    "timestamping",
];

/// Upstream's `ValidateSignerName`.
pub(crate) fn signer_name(node: &Node, errs: &mut Vec<FieldError>) {
    let name = node.str(errs);
    if name.is_empty() {
        errs.push(FieldError::required(node.path(), ""));
        return;
    }
    let Some((domain, path)) = name.split_once('/').filter(|(_, p)| !p.contains('/')) else {
        errs.push(FieldError::invalid(
            node.path(),
            &Value::from(name),
            "must be a fully qualified domain and path of the form 'example.com/signer-name'",
        ));
        return;
    };
    if domain.len() > 253 {
        errs.push(FieldError::too_long(node.path(), 253));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if let Some((label, msgs)) = labels
        .iter()
        .map(|l| (l, dns1123_label_errors(l)))
        .find(|(_, m)| !m.is_empty())
    {
        for msg in msgs {
            errs.push(FieldError::invalid(
                node.path(),
                &Value::from(domain),
                &format!("validating label {label:?}: {msg}"),
            ));
        }
    }
    if labels.len() < 2 {
        errs.push(FieldError::invalid(
            node.path(),
            &Value::from(domain),
            "should be a domain with at least two segments separated by dots",
        ));
    }
    if let Some((label, msgs)) = path
        .split('.')
        .map(|l| (l, dns1123_subdomain_errors(l)))
        .find(|(_, m)| !m.is_empty())
    {
        for msg in msgs {
            errs.push(FieldError::invalid(
                node.path(),
                &Value::from(path),
                &format!("validating label {label:?}: {msg}"),
            ));
        }
    }
    if name.len() > 253 + 253 + 63 + 2 {
        errs.push(FieldError::too_long(node.path(), 253 + 253 + 63 + 2));
    }
}

/// Upstream's `validateCertificateSigningRequest` for certificates.k8s.io/v1 (the PEM block
/// type is checked; the request's own signature is not).
pub(crate) fn validate_csr(obj: &Node, errs: &mut Vec<FieldError>) {
    let spec = obj.field("spec");
    let request = spec.field("request");
    let pem = request
        .opt_str(errs)
        .and_then(decode_base64)
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    if !pem.is_some_and(|p| p.contains("-----BEGIN CERTIFICATE REQUEST-----")) {
        errs.push(FieldError::invalid(
            request.path(),
            request.value(),
            "PEM block type must be CERTIFICATE REQUEST",
        ));
    }
    let usages = spec.field("usages");
    let list = usages.string_list(errs);
    if list.is_empty() {
        errs.push(FieldError::required(usages.path(), ""));
    }
    let mut seen = BTreeSet::new();
    for (i, usage) in list.iter().enumerate() {
        if !KEY_USAGES.contains(usage) {
            errs.push(FieldError::not_supported(
                usages.path().index(i),
                &Value::from(*usage),
                &KEY_USAGES,
            ));
        }
        if !seen.insert(*usage) {
            errs.push(FieldError::duplicate(
                usages.path().index(i),
                &Value::from(*usage),
            ));
        }
    }
    let signer = spec.field("signerName");
    let mut ignored = Vec::new();
    if signer.str(&mut ignored) == "kubernetes.io/legacy-unknown" {
        errs.push(FieldError::invalid(
            signer.path(),
            signer.value(),
            "the legacy signerName is not allowed via this API version",
        ));
    } else {
        signer_name(&signer, errs);
    }
    let expiration = spec.field("expirationSeconds");
    if let Some(e) = expiration.opt_int(errs)
        && e < 600
    {
        errs.push(FieldError::invalid(
            expiration.path(),
            &Value::from(e),
            "may not specify a duration less than 600 seconds (10 minutes)",
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
    fn pdb_rules() {
        assert_eq!(
            run(
                validate_pdb,
                json!({"spec": {"minAvailable": 1, "maxUnavailable": "150%"}})
            ),
            vec![
                "spec: Invalid value: {\"maxUnavailable\":\"150%\",\"minAvailable\":1}: minAvailable and maxUnavailable cannot be both set",
                "spec.maxUnavailable: Invalid value: \"150%\": must not be greater than 100%",
            ]
        );
    }

    #[test]
    fn priority_class_rules() {
        let pc = json!({"metadata": {"name": "system-mine"}, "value": 5});
        assert_eq!(
            run(validate_priority_class, pc),
            vec![
                "metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: system-mine is not a known system priority class"
            ]
        );
        assert_eq!(
            run(
                validate_priority_class,
                json!({"metadata": {"name": "high"}, "value": 2000000000})
            ),
            vec![
                "value: Forbidden: maximum allowed value of a user defined priority is 1000000000"
            ]
        );
        let mut errs = Vec::new();
        let (new, old) = (json!({"value": 2}), json!({"value": 1}));
        validate_priority_class_update(&Node::root(&new), &Node::root(&old), &mut errs);
        assert_eq!(
            errs[0].to_string(),
            "value: Forbidden: may not be changed in an update."
        );
    }

    #[test]
    fn lease_slice_and_csr_rules() {
        assert_eq!(
            run(validate_lease, json!({"spec": {"leaseDurationSeconds": 0}})),
            vec!["spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"]
        );
        let slice = json!({"addressType": "IPv4", "endpoints": [{"addresses": ["fe80::1"]}], "ports": [{"name": "http", "protocol": "TCP", "port": 80}]});
        let mut errs = Vec::new();
        validate_endpoint_slice(&Node::root(&slice), true, &mut errs);
        assert_eq!(
            errs[0].to_string(),
            "endpoints[0].addresses[0]: Invalid value: \"fe80::1\": must be a valid IPv4 address"
        );
        let csr = json!({"spec": {"request": "bm90IGEgcGVt", "usages": ["server auth", "server auth"], "signerName": "example.com/signer"}});
        let errs = run(validate_csr, csr);
        assert_eq!(
            errs[0],
            "spec.request: Invalid value: \"bm90IGEgcGVt\": PEM block type must be CERTIFICATE REQUEST"
        );
        assert_eq!(errs[1], "spec.usages[1]: Duplicate value: \"server auth\"");
    }
}
