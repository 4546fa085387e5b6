//! networking.k8s.io: Ingresses (rules, paths, backends, TLS hosts, class), IngressClasses
//! (controller, parameters) and NetworkPolicies (ports, peers, IP blocks, policy types).

use serde_json::Value;

use super::json::Node;
use super::meta::{immutable, validate_label_selector};
use super::names::{
    NameRule, cidr_contains, cidr_errors, dns1123_subdomain_errors, domain_prefixed_path_errors,
    invalid_each, parse_cidr, parse_ip, path_segment_name_errors, port_name_errors,
    port_num_errors, wildcard_dns1123_subdomain_errors,
};
use super::service::load_balancer_status;
use crate::api::field_error::{FieldError, Path};

const CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";

fn host_errors(path: &Path, host: &str) -> Vec<FieldError> {
    if host.contains('*') {
        invalid_each(path, host, wildcard_dns1123_subdomain_errors(host))
    } else {
        invalid_each(path, host, dns1123_subdomain_errors(host))
    }
}

/// A `TypedLocalObjectReference` in an Ingress backend or class parameters.
fn typed_reference(reference: &Node, errs: &mut Vec<FieldError>) {
    let group = reference.field("apiGroup");
    if let Some(g) = group.opt_str(errs) {
        errs.extend(invalid_each(group.path(), g, dns1123_subdomain_errors(g)));
    }
    for key in ["kind", "name"] {
        let node = reference.field(key);
        let v = node.str(errs);
        if v.is_empty() {
            errs.push(FieldError::required(
                node.path(),
                &format!("{key} is required"),
            ));
        } else {
            errs.extend(invalid_each(node.path(), v, path_segment_name_errors(v)));
        }
    }
}

fn backend(node: &Node, errs: &mut Vec<FieldError>) {
    let (resource, service) = (node.field("resource"), node.field("service"));
    match (resource.is_set(), service.is_set()) {
        (true, true) => errs.push(FieldError::invalid(
            node.path(),
            &Value::from(""),
            "cannot set both resource and service backends",
        )),
        (true, false) => typed_reference(&resource, errs),
        (false, true) => {
            let name = service.field("name");
            let n = name.str(errs);
            if n.is_empty() {
                errs.push(FieldError::required(name.path(), ""));
            } else {
                errs.extend(invalid_each(
                    name.path(),
                    n,
                    NameRule::Dns1035Label.errors(n, false),
                ));
            }
            let port = service.field("port");
            let port_name = port.field("name");
            let port_number = port.field("number");
            let (pn, num) = (port_name.str(errs), port_number.int(errs));
            match (!pn.is_empty(), num != 0) {
                (true, true) => errs.push(FieldError::invalid(
                    node.path(),
                    &Value::from(""),
                    "cannot set both port name & port number",
                )),
                (true, false) => {
                    errs.extend(invalid_each(port_name.path(), pn, port_name_errors(pn)))
                }
                (false, true) => {
                    for msg in port_num_errors(num) {
                        errs.push(FieldError::invalid(
                            port_number.path(),
                            &Value::from(num),
                            &msg,
                        ));
                    }
                }
                (false, false) => errs.push(FieldError::required(
                    node.path(),
                    "port name or number is required",
                )),
            }
        }
        (false, false) => errs.push(FieldError::invalid(
            node.path(),
            &Value::from(""),
            "resource or service backend is required",
        )),
    }
}

fn http_path(path: &Node, errs: &mut Vec<FieldError>) {
    let kind = path.field("pathType");
    let Some(t) = kind.opt_str(errs) else {
        errs.push(FieldError::required(
            kind.path(),
            "pathType must be specified",
        ));
        return;
    };
    let value_node = path.field("path");
    let p = value_node.str(errs);
    let shown = Value::from(p);
    match t {
        "Exact" | "Prefix" => {
            if !p.starts_with('/') {
                errs.push(FieldError::invalid(
                    value_node.path(),
                    &shown,
                    "must be an absolute path",
                ));
            }
            if !p.is_empty() {
                for seq in ["//", "/./", "/../", "%2f", "%2F"] {
                    if p.contains(seq) {
                        errs.push(FieldError::invalid(
                            value_node.path(),
                            &shown,
                            &format!("must not contain '{seq}'"),
                        ));
                    }
                }
                for suffix in ["/..", "/."] {
                    if p.ends_with(suffix) {
                        errs.push(FieldError::invalid(
                            value_node.path(),
                            &shown,
                            &format!("cannot end with '{suffix}'"),
                        ));
                    }
                }
            }
        }
        "ImplementationSpecific" => {
            if !p.is_empty() && !p.starts_with('/') {
                errs.push(FieldError::invalid(
                    value_node.path(),
                    &shown,
                    "must be an absolute path",
                ));
            }
        }
        other => errs.push(FieldError::not_supported(
            kind.path(),
            &Value::from(other),
            &["Exact", "ImplementationSpecific", "Prefix"],
        )),
    }
    backend(&path.field("backend"), errs);
}

/// Upstream's `validateIngress` (everything but the metadata).
pub(crate) fn validate_ingress(obj: &Node, errs: &mut Vec<FieldError>) {
    let spec = obj.field("spec");
    let rules = spec.field("rules");
    let default_backend = spec.field("defaultBackend");
    if rules.len() == 0 && !default_backend.is_set() {
        errs.push(FieldError::invalid(
            spec.path(),
            rules.value(),
            "either `defaultBackend` or `rules` must be specified",
        ));
    }
    if default_backend.is_set() {
        backend(&default_backend, errs);
    }
    for rule in rules.items(errs) {
        let host = rule.field("host");
        let h = host.str(errs);
        if !h.is_empty() {
            if parse_ip(h).is_some() {
                errs.push(FieldError::invalid(
                    host.path(),
                    &Value::from(h),
                    "must be a DNS name, not an IP address",
                ));
            }
            errs.extend(host_errors(host.path(), h));
        }
        let http = rule.field("http");
        if http.is_set() {
            let paths = http.field("paths");
            if paths.len() == 0 {
                errs.push(FieldError::required(paths.path(), ""));
            }
            for path in paths.items(errs) {
                http_path(&path, errs);
            }
        }
    }
    for tls in spec.field("tls").items(errs) {
        let hosts = tls.field("hosts");
        for (i, host) in hosts.string_list(errs).iter().enumerate() {
            errs.extend(host_errors(&hosts.path().index(i), host));
        }
    }
    let class = spec.field("ingressClassName");
    if let Some(c) = class.opt_str(errs) {
        errs.extend(invalid_each(
            class.path(),
            c,
            NameRule::Dns1123Subdomain.errors(c, false),
        ));
    }
}

/// On create only: the class annotation and field are exclusive.
pub(crate) fn validate_ingress_create(obj: &Node, errs: &mut Vec<FieldError>) {
    validate_ingress(obj, errs);
    let annotations = obj
        .at(&["metadata", "annotations"])
        .string_map(&mut Vec::new());
    if let Some(value) = annotations.get(CLASS_ANNOTATION)
        && obj.at(&["spec", "ingressClassName"]).is_set()
    {
        errs.push(FieldError::invalid(
            Path::root("annotations").child(CLASS_ANNOTATION),
            &Value::from(*value),
            "can not be set when the class field is also set",
        ));
    }
}

/// An Ingress status update.
pub(crate) fn validate_ingress_status(obj: &Node, errs: &mut Vec<FieldError>) {
    load_balancer_status(&obj.at(&["status", "loadBalancer"]), None, errs);
}

/// Upstream's `ValidateIngressClass` (everything but the metadata).
pub(crate) fn validate_ingress_class(obj: &Node, errs: &mut Vec<FieldError>) {
    let spec = obj.field("spec");
    let controller = spec.field("controller");
    let c = controller.str(errs);
    if c.len() > 250 {
        errs.push(FieldError::too_long(controller.path(), 250));
    }
    errs.extend(domain_prefixed_path_errors(controller.path(), c));
    let params = spec.field("parameters");
    if !params.is_set() {
        return;
    }
    typed_reference(&params, errs);
    let scope = params.field("scope");
    let namespace = params.field("namespace");
    match scope.opt_str(errs) {
        None => errs.push(FieldError::required(scope.path(), "")),
        Some("Namespace") => match namespace.opt_str(errs) {
            None => errs.push(FieldError::required(
                namespace.path(),
                "`parameters.scope` is set to 'Namespace'",
            )),
            Some(ns) => errs.extend(invalid_each(
                namespace.path(),
                ns,
                NameRule::Dns1123Label.errors(ns, false),
            )),
        },
        Some("Cluster") => {
            if namespace.is_set() {
                errs.push(FieldError::forbidden(
                    namespace.path(),
                    "`parameters.scope` is set to 'Cluster'",
                ));
            }
        }
        Some(other) => errs.push(FieldError::not_supported(
            scope.path(),
            &Value::from(other),
            &["Cluster", "Namespace"],
        )),
    }
}

/// An IngressClass update: the controller never changes.
pub(crate) fn validate_ingress_class_update(new: &Node, old: &Node, errs: &mut Vec<FieldError>) {
    validate_ingress_class(new, errs);
    immutable(
        &new.at(&["spec", "controller"]),
        &old.at(&["spec", "controller"]),
        errs,
    );
}

fn policy_port(port: &Node, errs: &mut Vec<FieldError>) {
    let protocol = port.field("protocol");
    if let Some(p) = protocol.opt_str(errs)
        && !["TCP", "UDP", "SCTP"].contains(&p)
    {
        errs.push(FieldError::not_supported(
            protocol.path(),
            &Value::from(p),
            &["TCP", "UDP", "SCTP"],
        ));
    }
    let number = port.field("port");
    let end = port.field("endPort");
    let end_value = end.opt_int(errs);
    match number.value() {
        Value::Number(n) => {
            let p = n.as_i64().unwrap_or(0);
            for msg in port_num_errors(p) {
                errs.push(FieldError::invalid(number.path(), &Value::from(p), &msg));
            }
            if let Some(e) = end_value {
                if e < p {
                    errs.push(FieldError::invalid(
                        end.path(),
                        &Value::from(p),
                        "must be greater than or equal to `port`",
                    ));
                }
                for msg in port_num_errors(e) {
                    errs.push(FieldError::invalid(end.path(), &Value::from(e), &msg));
                }
            }
        }
        Value::String(s) => {
            if let Some(e) = end_value {
                errs.push(FieldError::invalid(
                    end.path(),
                    &Value::from(e),
                    "may not be specified when `port` is non-numeric",
                ));
            }
            errs.extend(invalid_each(number.path(), s, port_name_errors(s)));
        }
        _ => {
            if let Some(e) = end_value {
                errs.push(FieldError::invalid(
                    end.path(),
                    &Value::from(e),
                    "may not be specified when `port` is not specified",
                ));
            }
        }
    }
}

fn ip_block(block: &Node, errs: &mut Vec<FieldError>) {
    let cidr = block.field("cidr");
    let c = cidr.str(errs);
    if c.is_empty() {
        errs.push(FieldError::required(cidr.path(), ""));
        return;
    }
    let outer_errs = cidr_errors(cidr.path(), c);
    let outer = parse_cidr(c);
    errs.extend(outer_errs);
    let Some((outer_ip, outer_len, _)) = outer else {
        return;
    };
    let except = block.field("except");
    for (i, e) in except.string_list(errs).iter().enumerate() {
        let path = except.path().index(i);
        let e_errs = cidr_errors(&path, e);
        if !e_errs.is_empty() {
            errs.extend(e_errs);
            return;
        }
        if let Some((ip, len, _)) = parse_cidr(e)
            && (!cidr_contains((outer_ip, outer_len), ip) || outer_len >= len)
        {
            errs.push(FieldError::invalid(
                &path,
                &Value::from(*e),
                "must be a strict subset of `cidr`",
            ));
        }
    }
}

fn policy_peer(peer: &Node, errs: &mut Vec<FieldError>) {
    let mut count = 0;
    for key in ["podSelector", "namespaceSelector"] {
        let selector = peer.field(key);
        if selector.is_set() {
            count += 1;
            validate_label_selector(&selector, false, errs);
        }
    }
    let block = peer.field("ipBlock");
    if block.is_set() {
        count += 1;
        ip_block(&block, errs);
    }
    if count == 0 {
        errs.push(FieldError::required(peer.path(), "must specify a peer"));
    } else if count > 1 && block.is_set() {
        errs.push(FieldError::forbidden(
            peer.path(),
            "may not specify both ipBlock and another peer",
        ));
    }
}

/// Upstream's `ValidateNetworkPolicySpec`.
pub(crate) fn validate_network_policy(obj: &Node, errs: &mut Vec<FieldError>) {
    let spec = obj.field("spec");
    validate_label_selector(&spec.field("podSelector"), false, errs);
    for (rules, peers) in [("ingress", "from"), ("egress", "to")] {
        for rule in spec.field(rules).items(errs) {
            for port in rule.field("ports").items(errs) {
                policy_port(&port, errs);
            }
            for peer in rule.field(peers).items(errs) {
                policy_peer(&peer, errs);
            }
        }
    }
    let types = spec.field("policyTypes");
    let list = types.string_list(errs);
    if list.len() > 2 {
        errs.push(FieldError::invalid(
            types.path(),
            types.value(),
            "may not specify more than two policyTypes",
        ));
        return;
    }
    for (i, t) in list.iter().enumerate() {
        if *t != "Ingress" && *t != "Egress" {
            errs.push(FieldError::not_supported(
                types.path().index(i),
                &Value::from(*t),
                &["Ingress", "Egress"],
            ));
        }
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
    fn ingress_rules() {
        assert_eq!(
            run(validate_ingress, json!({"spec": {}})),
            vec!["spec: Invalid value: null: either `defaultBackend` or `rules` must be specified"]
        );
        let ing = json!({"spec": {"rules": [{"host": "1.2.3.4", "http": {"paths": [
            {"path": "/a", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}},
            {"path": "b", "pathType": "Exact", "backend": {"service": {"name": "web"}}}
        ]}}]}});
        assert_eq!(
            run(validate_ingress, ing),
            vec![
                "spec.rules[0].host: Invalid value: \"1.2.3.4\": must be a DNS name, not an IP address",
                "spec.rules[0].http.paths[1].path: Invalid value: \"b\": must be an absolute path",
                "spec.rules[0].http.paths[1].backend: Required value: port name or number is required",
            ]
        );
    }

    #[test]
    fn network_policy_rules() {
        let np = json!({"spec": {"podSelector": {}, "ingress": [{"from": [{}], "ports": [{"port": 80, "endPort": 70}]}],
            "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["11.0.0.0/16"]}}]}], "policyTypes": ["Sideways"]}});
        assert_eq!(
            run(validate_network_policy, np),
            vec![
                "spec.ingress[0].ports[0].endPort: Invalid value: 80: must be greater than or equal to `port`",
                "spec.ingress[0].from[0]: Required value: must specify a peer",
                "spec.egress[0].to[0].ipBlock.except[0]: Invalid value: \"11.0.0.0/16\": must be a strict subset of `cidr`",
                "spec.policyTypes[0]: Unsupported value: \"Sideways\": supported values: \"Ingress\", \"Egress\"",
            ]
        );
    }

    #[test]
    fn ingress_class_rules() {
        assert_eq!(
            run(
                validate_ingress_class,
                json!({"spec": {"controller": "nginx", "parameters": {"kind": "K", "name": "n", "scope": "Namespace"}}})
            ),
            vec![
                "spec.controller: Invalid value: \"nginx\": must be a domain-prefixed path (such as \"acme.io/foo\")",
                "spec.parameters.namespace: Required value: `parameters.scope` is set to 'Namespace'",
            ]
        );
    }
}
