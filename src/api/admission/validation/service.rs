//! Services: ports (ranges, protocols, names unique and required when several), types and
//! traffic policies, cluster IPs (and what may change of them on update), external IPs, and
//! load-balancer fields and status (the latter shared with Ingresses).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::container::protocol;
use super::endpoints::non_special_ip;
use super::json::Node;
use super::meta::{FIELD_IMMUTABLE, validate_labels};
use super::names::cidr_errors;
use super::names::{
    dns1123_label_errors, dns1123_subdomain_errors, invalid_each, ip_errors, label_key_errors,
    parse_ip, port_num_errors,
};
use super::probes::port_num_or_name;
use crate::api::field_error::{FieldError, Path};

const KUBELET_PORT: i64 = 10250;
const MAX_AFFINITY_SECONDS: i64 = 86400;
const SOURCE_RANGES_ANNOTATION: &str = "service.beta.kubernetes.io/load-balancer-source-ranges";
const TOPOLOGY_HINTS_ANNOTATION: &str = "service.kubernetes.io/topology-aware-hints";
const TOPOLOGY_MODE_ANNOTATION: &str = "service.kubernetes.io/topology-mode";

fn spec_path() -> Path {
    Path::root("spec")
}

fn cluster_ips<'a>(spec: &Node<'a>) -> Vec<&'a str> {
    spec.field("clusterIPs").string_list(&mut Vec::new())
}

fn is_headless(spec: &Node) -> bool {
    cluster_ips(spec) == ["None"]
}

fn service_port(
    port: &Node,
    require_name: bool,
    names: &mut BTreeSet<String>,
    errs: &mut Vec<FieldError>,
) {
    let name_node = port.field("name");
    let name = name_node.str(errs);
    if require_name && name.is_empty() {
        errs.push(FieldError::required(name_node.path(), ""));
    } else if !name.is_empty() {
        errs.extend(invalid_each(
            name_node.path(),
            name,
            dns1123_label_errors(name),
        ));
        if !names.insert(name.to_string()) {
            errs.push(FieldError::duplicate(name_node.path(), &Value::from(name)));
        }
    }
    let port_node = port.field("port");
    let p = port_node.int(errs);
    for msg in port_num_errors(p) {
        errs.push(FieldError::invalid(port_node.path(), &Value::from(p), &msg));
    }
    protocol(&port.field("protocol"), errs);
    port_num_or_name(&port.field("targetPort"), errs);
    let app = port.field("appProtocol");
    if let Some(a) = app.opt_str(errs) {
        errs.extend(invalid_each(app.path(), a, label_key_errors(a)));
    }
}

fn externally_accessible(spec: &Node) -> bool {
    let mut ignored = Vec::new();
    let kind = spec.field("type").str(&mut ignored);
    kind == "LoadBalancer"
        || kind == "NodePort"
        || (kind == "ClusterIP" && spec.field("externalIPs").len() > 0)
}

fn needs_health_check(spec: &Node) -> bool {
    let mut ignored = Vec::new();
    spec.field("type").str(&mut ignored) == "LoadBalancer"
        && spec.field("externalTrafficPolicy").str(&mut ignored) == "Local"
}

fn cluster_ip_fields(spec: &Node, errs: &mut Vec<FieldError>) {
    let mut ignored = Vec::new();
    if spec.field("type").str(&mut ignored) == "ExternalName" {
        return;
    }
    let ips_node = spec.field("clusterIPs");
    let ips = cluster_ips(spec);
    let cluster_ip = spec.field("clusterIP").str(errs);
    if !cluster_ip.is_empty() {
        if ips.is_empty() {
            errs.push(FieldError::required(ips_node.path(), ""));
        } else if ips[0] != cluster_ip {
            errs.push(FieldError::invalid(
                ips_node.path(),
                ips_node.value(),
                "first value must match `clusterIP`",
            ));
        }
    } else if !ips.is_empty() {
        errs.push(FieldError::invalid(
            ips_node.path(),
            ips_node.value(),
            "must be empty when `clusterIP` is not specified",
        ));
    }
    let families_node = spec.field("ipFamilies");
    let families = families_node.string_list(errs);
    let mut seen = BTreeSet::new();
    for (i, family) in families.iter().enumerate() {
        if *family != "IPv4" && *family != "IPv6" {
            errs.push(FieldError::not_supported(
                families_node.path().index(i),
                &Value::from(*family),
                &["IPv4", "IPv6"],
            ));
        }
        if !seen.insert(*family) {
            errs.push(FieldError::duplicate(
                families_node.path().index(i),
                &Value::from(*family),
            ));
        }
    }
    let policy = spec.field("ipFamilyPolicy");
    if let Some(p) = policy.opt_str(errs) {
        const POLICIES: [&str; 3] = ["PreferDualStack", "RequireDualStack", "SingleStack"];
        if !POLICIES.contains(&p) {
            errs.push(FieldError::not_supported(
                policy.path(),
                &Value::from(p),
                &POLICIES,
            ));
        }
    }
    let mut invalid = false;
    for (i, ip) in ips.iter().enumerate() {
        if i == 0 && *ip == "None" {
            if ips.len() > 1 {
                invalid = true;
                errs.push(FieldError::invalid(
                    ips_node.path(),
                    ips_node.value(),
                    "'None' must be the first and only value",
                ));
            }
            continue;
        }
        let ip_errs = ip_errors(&ips_node.path().index(i), ip);
        invalid |= !ip_errs.is_empty();
        errs.extend(ip_errs);
    }
    if ips.len() > 2 {
        errs.push(FieldError::invalid(
            ips_node.path(),
            ips_node.value(),
            "may only hold up to 2 values",
        ));
    }
    if invalid {
        return;
    }
    let v6 = |ip: &str| parse_ip(ip).is_some_and(|(a, _)| a.is_ipv6());
    if ips.len() > 1 && v6(ips[0]) == v6(ips[1]) {
        errs.push(FieldError::invalid(
            ips_node.path(),
            ips_node.value(),
            "may specify no more than one IP for each IP family",
        ));
    }
    if !is_headless(spec) {
        for (i, (ip, family)) in ips.iter().zip(families.iter()).enumerate() {
            if *family == "IPv4" && v6(ip) {
                errs.push(FieldError::invalid(
                    ips_node.path().index(i),
                    &Value::from(*ip),
                    &format!("expected an IPv4 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
            if *family == "IPv6" && !v6(ip) {
                errs.push(FieldError::invalid(
                    ips_node.path().index(i),
                    &Value::from(*ip),
                    &format!("expected an IPv6 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
        }
    }
}

/// Upstream's `ValidateService` (everything but the metadata).
pub(crate) fn validate_service(obj: &Node, errs: &mut Vec<FieldError>) {
    let annotations = obj
        .at(&["metadata", "annotations"])
        .string_map(&mut Vec::new());
    if let (Some(hints), Some(mode)) = (
        annotations.get(TOPOLOGY_HINTS_ANNOTATION),
        annotations.get(TOPOLOGY_MODE_ANNOTATION),
    ) && hints != mode
    {
        errs.push(FieldError::invalid(
            Path::root("metadata")
                .child("annotations")
                .key(TOPOLOGY_MODE_ANNOTATION),
            &Value::from(*mode),
            &format!("must match annotations[{TOPOLOGY_HINTS_ANNOTATION}] when both are specified"),
        ));
    }
    let spec = obj.field("spec");
    if spec.is_set() && spec.object(errs).is_none() {
        return;
    }
    let kind = spec.field("type").str(errs);
    let ports_node = spec.field("ports");
    let ports = ports_node.items(errs);
    let headless = is_headless(&spec);
    let ips_path = spec_path().child("clusterIPs");
    if ports.is_empty() && !headless && kind != "ExternalName" {
        errs.push(FieldError::required(ports_node.path(), ""));
    }
    match kind {
        "LoadBalancer" | "NodePort" => {
            if kind == "LoadBalancer" {
                for port in &ports {
                    let p = port.field("port").int(&mut Vec::new());
                    if p == KUBELET_PORT {
                        errs.push(FieldError::invalid(
                            port.path(),
                            &Value::from(p),
                            &format!("may not expose port {KUBELET_PORT} externally since it is used by kubelet"),
                        ));
                    }
                }
            }
            if headless {
                errs.push(FieldError::invalid(
                    ips_path.index(0),
                    &Value::from("None"),
                    &format!("may not be set to 'None' for {kind} services"),
                ));
            }
        }
        "ExternalName" => {
            for key in ["clusterIPs", "ipFamilies"] {
                if spec.field(key).len() > 0 {
                    errs.push(FieldError::forbidden(
                        spec_path().child(key),
                        "may not be set for ExternalName services",
                    ));
                }
            }
            if spec.field("ipFamilyPolicy").is_set() {
                errs.push(FieldError::forbidden(
                    spec_path().child("ipFamilyPolicy"),
                    "may not be set for ExternalName services",
                ));
            }
            let external = spec.field("externalName");
            let cname = external.str(errs);
            let cname = cname.strip_suffix('.').unwrap_or(cname);
            if cname.is_empty() {
                errs.push(FieldError::required(external.path(), ""));
            } else {
                errs.extend(invalid_each(
                    external.path(),
                    cname,
                    dns1123_subdomain_errors(cname),
                ));
            }
        }
        _ => {}
    }
    let mut names = BTreeSet::new();
    for port in &ports {
        service_port(port, ports.len() > 1, &mut names, errs);
    }
    let selector = spec.field("selector");
    if selector.is_set() {
        validate_labels(&selector, errs);
    }
    let affinity = spec.field("sessionAffinity");
    let affinity_kind = affinity.str(errs);
    match affinity_kind {
        "" => errs.push(FieldError::required(affinity.path(), "")),
        "ClientIP" | "None" => {}
        other => errs.push(FieldError::not_supported(
            affinity.path(),
            &Value::from(other),
            &["ClientIP", "None"],
        )),
    }
    let config = spec.field("sessionAffinityConfig");
    if affinity_kind == "ClientIP" {
        let when = "when session affinity type is ClientIP";
        let client_ip = config.field("clientIP");
        let timeout = client_ip.field("timeoutSeconds");
        if !config.is_set() {
            errs.push(FieldError::required(config.path(), when));
        } else if !client_ip.is_set() {
            errs.push(FieldError::required(client_ip.path(), when));
        } else if !timeout.is_set() {
            errs.push(FieldError::required(timeout.path(), when));
        } else {
            let t = timeout.int(errs);
            if t <= 0 || t > MAX_AFFINITY_SECONDS {
                errs.push(FieldError::invalid(
                    timeout.path(),
                    &Value::from(t),
                    &format!("must be greater than 0 and less than {MAX_AFFINITY_SECONDS}"),
                ));
            }
        }
    } else if affinity_kind == "None" && config.is_set() {
        errs.push(FieldError::forbidden(
            config.path(),
            "must not be set when session affinity is None",
        ));
    }
    cluster_ip_fields(&spec, errs);
    let external_ips = spec.field("externalIPs");
    for (i, ip) in external_ips.string_list(errs).iter().enumerate() {
        let path = external_ips.path().index(i);
        let ip_errs = ip_errors(&path, ip);
        if ip_errs.is_empty() {
            non_special_ip(&path, ip, errs);
        }
        errs.extend(ip_errs);
    }
    let type_node = spec.field("type");
    const TYPES: [&str; 4] = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
    if kind.is_empty() {
        errs.push(FieldError::required(type_node.path(), ""));
    } else if !TYPES.contains(&kind) {
        errs.push(FieldError::not_supported(
            type_node.path(),
            &Value::from(kind),
            &TYPES,
        ));
    }
    let mut node_ports = BTreeSet::new();
    let mut port_keys = BTreeSet::new();
    let mut ignored = Vec::new();
    for port in &ports {
        let node_port = port.field("nodePort").int(&mut ignored);
        let proto = port.field("protocol").str(&mut ignored);
        if kind == "ClusterIP" && node_port != 0 {
            errs.push(FieldError::forbidden(
                port.path().child("nodePort"),
                "may not be used when `type` is 'ClusterIP'",
            ));
        }
        if node_port != 0 && !node_ports.insert((proto, node_port)) {
            errs.push(FieldError::duplicate(
                port.path().child("nodePort"),
                &Value::from(node_port),
            ));
        }
        let number = port.field("port").int(&mut ignored);
        if !port_keys.insert((proto, number)) {
            errs.push(FieldError::duplicate(
                port.path(),
                &json!({"protocol": proto, "port": number}),
            ));
        }
    }
    let ranges = spec.field("loadBalancerSourceRanges");
    let range_path = spec_path().child("LoadBalancerSourceRanges");
    let only_lb = "may only be used when `type` is 'LoadBalancer'";
    if ranges.len() > 0 {
        if kind != "LoadBalancer" {
            errs.push(FieldError::forbidden(&range_path, only_lb));
        }
        for (i, r) in ranges.string_list(errs).iter().enumerate() {
            errs.extend(cidr_errors(&range_path.index(i), r.trim()));
        }
    } else if let Some(value) = annotations.get(SOURCE_RANGES_ANNOTATION) {
        let path = Path::root("metadata")
            .child("annotations")
            .key(SOURCE_RANGES_ANNOTATION);
        if kind != "LoadBalancer" {
            errs.push(FieldError::forbidden(&path, only_lb));
        }
        let value = value.trim();
        if !value.is_empty() {
            for cidr in value.split(',') {
                errs.extend(cidr_errors(&path, cidr.trim()));
            }
        }
    }
    let allocate = spec.field("allocateLoadBalancerNodePorts");
    if allocate.is_set() && kind != "LoadBalancer" {
        errs.push(FieldError::forbidden(allocate.path(), only_lb));
    }
    if kind == "LoadBalancer" && !allocate.is_set() {
        errs.push(FieldError::required("allocateLoadBalancerNodePorts", ""));
    }
    let lb_class = spec.field("loadBalancerClass");
    if let Some(class) = lb_class.opt_str(errs) {
        if kind == "LoadBalancer" {
            errs.extend(invalid_each(
                lb_class.path(),
                class,
                label_key_errors(class),
            ));
        } else {
            errs.push(FieldError::forbidden(lb_class.path(), only_lb));
        }
    }
    traffic_policies(&spec, errs);
}

fn traffic_policies(spec: &Node, errs: &mut Vec<FieldError>) {
    let etp = spec.field("externalTrafficPolicy");
    let policy = etp.str(errs);
    if !externally_accessible(spec) {
        if !policy.is_empty() {
            errs.push(FieldError::invalid(
                etp.path(),
                &Value::from(policy),
                "may only be set for externally-accessible services",
            ));
        }
    } else if policy.is_empty() {
        errs.push(FieldError::required(etp.path(), ""));
    } else if policy != "Cluster" && policy != "Local" {
        errs.push(FieldError::not_supported(
            etp.path(),
            &Value::from(policy),
            &["Cluster", "Local"],
        ));
    }
    let hc = spec.field("healthCheckNodePort");
    let port = hc.int(errs);
    if !needs_health_check(spec) {
        if port != 0 {
            errs.push(FieldError::invalid(
                hc.path(),
                &Value::from(port),
                "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
            ));
        }
    } else if port == 0 {
        errs.push(FieldError::required(hc.path(), ""));
    } else {
        for msg in port_num_errors(port) {
            errs.push(FieldError::invalid(hc.path(), &Value::from(port), &msg));
        }
    }
    let itp = spec.field("internalTrafficPolicy");
    let mut ignored = Vec::new();
    let kind = spec.field("type").str(&mut ignored);
    match itp.opt_str(errs) {
        None if ["NodePort", "LoadBalancer", "ClusterIP"].contains(&kind) => {
            errs.push(FieldError::required(itp.path(), ""))
        }
        Some(p) if p != "Cluster" && p != "Local" => errs.push(FieldError::not_supported(
            itp.path(),
            &Value::from(p),
            &["Cluster", "Local"],
        )),
        _ => {}
    }
    let distribution = spec.field("trafficDistribution");
    if let Some(d) = distribution.opt_str(errs) {
        const SUPPORTED: [&str; 3] = ["PreferClose", "PreferSameZone", "PreferSameNode"];
        if !SUPPORTED.contains(&d) {
            errs.push(FieldError::not_supported(
                distribution.path(),
                &Value::from(d),
                &SUPPORTED,
            ));
        }
    }
}

/// Upstream's `ValidateServiceUpdate` (the metadata is checked by the caller).
pub(crate) fn validate_service_update(new: &Node, old: &Node, errs: &mut Vec<FieldError>) {
    let (spec, old_spec) = (new.field("spec"), old.field("spec"));
    let mut ignored = Vec::new();
    let kind = spec.field("type").str(&mut ignored);
    let old_kind = old_spec.field("type").str(&mut ignored);
    let ips_path = spec_path().child("clusterIPs");
    if kind != "ExternalName"
        && old_kind != "ExternalName"
        && !(is_headless(&spec) && is_headless(&old_spec))
    {
        let (ips, old_ips) = (cluster_ips(&spec), cluster_ips(&old_spec));
        let shown = spec.field("clusterIPs").value();
        let single_stack = spec.field("ipFamilyPolicy").str(&mut ignored) == "SingleStack";
        if ips.len() == old_ips.len() {
            for (i, (a, b)) in ips.iter().zip(old_ips.iter()).enumerate() {
                if a != b {
                    errs.push(FieldError::invalid(
                        ips_path.index(i),
                        shown,
                        "may not change once set",
                    ));
                }
            }
        } else if old_ips.len() > ips.len() {
            if ips.is_empty() {
                errs.push(FieldError::invalid(
                    ips_path.index(0),
                    shown,
                    "primary clusterIP can not be unset",
                ));
            }
            if !ips.is_empty() && ips[0] != old_ips[0] {
                errs.push(FieldError::invalid(
                    ips_path.index(0),
                    shown,
                    "may not change once set",
                ));
            }
            if ips.len() == 1 && !single_stack {
                errs.push(FieldError::invalid(
                    spec_path().child("ipFamilyPolicy"),
                    spec.field("ipFamilyPolicy").value(),
                    "must be set to 'SingleStack' when releasing the secondary clusterIP",
                ));
            }
        } else if !old_ips.is_empty() && ips[0] != old_ips[0] {
            errs.push(FieldError::invalid(
                ips_path.index(0),
                shown,
                "may not change once set",
            ));
        }
    }
    if kind != "ExternalName"
        && old_kind != "ExternalName"
        && is_headless(&spec) == is_headless(&old_spec)
        && !is_headless(&spec)
    {
        let families = spec.field("ipFamilies").string_list(&mut ignored);
        let old_families = old_spec.field("ipFamilies").string_list(&mut ignored);
        let path = spec_path().child("ipFamilies").index(0);
        let shown = spec.field("ipFamilies").value();
        if families.len() == old_families.len() {
            if families != old_families {
                errs.push(FieldError::invalid(&path, shown, "may not change once set"));
            }
        } else if old_families.len() > families.len() {
            if cluster_ips(&spec).is_empty() {
                errs.push(FieldError::invalid(
                    &path,
                    shown,
                    "primary ipFamily can not be unset",
                ));
            }
            if !families.is_empty() && families[0] != old_families[0] {
                errs.push(FieldError::invalid(
                    &path,
                    spec.field("clusterIPs").value(),
                    "may not change once set",
                ));
            }
            if families.len() == 1
                && spec.field("ipFamilyPolicy").str(&mut ignored) != "SingleStack"
            {
                errs.push(FieldError::invalid(
                    spec_path().child("ipFamilyPolicy"),
                    spec.field("ipFamilyPolicy").value(),
                    "must be set to 'SingleStack' when releasing the secondary ipFamily",
                ));
            }
        } else if !old_families.is_empty() && !families.is_empty() && families[0] != old_families[0]
        {
            errs.push(FieldError::invalid(
                &path,
                spec.field("clusterIPs").value(),
                "may not change once set",
            ));
        }
    }
    if kind == "LoadBalancer" && old_kind == "LoadBalancer" {
        let (c, o) = (
            spec.field("loadBalancerClass"),
            old_spec.field("loadBalancerClass"),
        );
        if c.value() != o.value() {
            errs.push(FieldError::invalid(
                c.path(),
                c.value(),
                "may not change once set",
            ));
        }
    }
    if needs_health_check(&spec) && needs_health_check(&old_spec) {
        let port = spec.field("healthCheckNodePort").int(&mut ignored);
        if port != old_spec.field("healthCheckNodePort").int(&mut ignored) {
            errs.push(FieldError::forbidden(
                spec_path().child("healthCheckNodePort"),
                FIELD_IMMUTABLE,
            ));
        }
    }
    validate_service(new, errs);
}

/// A Service status update: the load balancer ingress list.
pub(crate) fn validate_service_status(new: &Node, errs: &mut Vec<FieldError>) {
    let mut ignored = Vec::new();
    let is_lb = new.at(&["spec", "type"]).str(&mut ignored) == "LoadBalancer";
    load_balancer_status(&new.at(&["status", "loadBalancer"]), Some(is_lb), errs);
}

/// Upstream's `ValidateLoadBalancerStatus`; `is_lb` is `None` for Ingresses.
pub(crate) fn load_balancer_status(status: &Node, is_lb: Option<bool>, errs: &mut Vec<FieldError>) {
    let ingress = status.field("ingress");
    if is_lb == Some(false) && ingress.len() > 0 {
        errs.push(FieldError::forbidden(
            ingress.path(),
            "may only be used when `spec.type` is 'LoadBalancer'",
        ));
        return;
    }
    for item in ingress.items(errs) {
        let ip = item.field("ip").str(errs);
        if !ip.is_empty() {
            errs.extend(ip_errors(&item.path().child("ip"), ip));
        }
        let mode = item.field("ipMode");
        match mode.opt_str(errs) {
            Some(_) if ip.is_empty() => errs.push(FieldError::forbidden(
                mode.path(),
                "may not be set when `ip` is not set",
            )),
            Some(m) if m != "Proxy" && m != "VIP" => errs.push(FieldError::not_supported(
                mode.path(),
                &Value::from(m),
                &["Proxy", "VIP"],
            )),
            None if !ip.is_empty() && is_lb.is_some() => errs.push(FieldError::required(
                mode.path(),
                "must be specified when `ip` is set",
            )),
            _ => {}
        }
        let hostname = item.field("hostname");
        let h = hostname.str(errs);
        if !h.is_empty() {
            errs.extend(invalid_each(
                hostname.path(),
                h,
                dns1123_subdomain_errors(h),
            ));
            if parse_ip(h).is_some() {
                errs.push(FieldError::invalid(
                    hostname.path(),
                    &Value::from(h),
                    "must be a DNS name, not an IP address",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(spec: Value) -> Value {
        json!({"metadata": {"name": "web", "namespace": "default"}, "spec": spec})
    }

    fn base_spec() -> Value {
        json!({
            "type": "ClusterIP", "sessionAffinity": "None", "internalTrafficPolicy": "Cluster",
            "clusterIP": "10.0.0.10", "clusterIPs": ["10.0.0.10"], "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
            "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}]
        })
    }

    fn check(obj: &Value) -> Vec<String> {
        let mut errs = Vec::new();
        validate_service(&Node::root(obj), &mut errs);
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn a_defaulted_service_is_valid() {
        assert_eq!(check(&svc(base_spec())), Vec::<String>::new());
    }

    #[test]
    fn port_rules() {
        let mut spec = base_spec();
        spec["ports"] = json!([{"port": 80, "protocol": "TCP", "targetPort": 80}, {"name": "b", "port": 0, "protocol": "ICMP", "targetPort": "http"}]);
        assert_eq!(
            check(&svc(spec)),
            vec![
                "spec.ports[0].name: Required value",
                "spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive",
                "spec.ports[1].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
            ]
        );
        let mut spec = base_spec();
        spec["ports"] = json!([]);
        assert_eq!(check(&svc(spec)), vec!["spec.ports: Required value"]);
        let mut spec = base_spec();
        spec["type"] = json!("Magic");
        assert_eq!(
            check(&svc(spec)),
            vec![
                "spec.type: Unsupported value: \"Magic\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""
            ]
        );
    }

    #[test]
    fn cluster_ip_is_immutable() {
        let old = svc(base_spec());
        let mut new_spec = base_spec();
        new_spec["clusterIP"] = json!("10.0.0.11");
        new_spec["clusterIPs"] = json!(["10.0.0.11"]);
        let new = svc(new_spec);
        let mut errs = Vec::new();
        validate_service_update(&Node::root(&new), &Node::root(&old), &mut errs);
        let errs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            errs,
            vec!["spec.clusterIPs[0]: Invalid value: [\"10.0.0.11\"]: may not change once set"]
        );
    }
}
