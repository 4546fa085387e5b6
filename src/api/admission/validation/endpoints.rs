//! Endpoints: subsets with addresses (valid, non-special IPs), hostnames, node names and ports.

use std::net::IpAddr;

use serde_json::Value;

use super::container::protocol;
use super::json::Node;
use super::names::{
    NameRule, dns1123_label_errors, invalid_each, ip_errors, label_key_errors, parse_ip,
    port_num_errors,
};
use crate::api::field_error::{FieldError, Path};

/// Upstream's `ValidateNonSpecialIP`.
pub(crate) fn non_special_ip(path: &Path, ip: &str, errs: &mut Vec<FieldError>) {
    let shown = Value::from(ip);
    let Some((addr, _)) = parse_ip(ip) else {
        errs.push(FieldError::invalid(
            path,
            &shown,
            "must be a valid IP address",
        ));
        return;
    };
    if addr.is_unspecified() {
        errs.push(FieldError::invalid(
            path,
            &shown,
            &format!("may not be unspecified ({ip})"),
        ));
    }
    if addr.is_loopback() {
        errs.push(FieldError::invalid(
            path,
            &shown,
            "may not be in the loopback range (127.0.0.0/8, ::1/128)",
        ));
    }
    let (link_local, link_local_multicast) = match addr {
        IpAddr::V4(v4) => (v4.is_link_local(), v4.octets()[..3] == [224, 0, 0]),
        IpAddr::V6(v6) => (
            (v6.segments()[0] & 0xffc0) == 0xfe80,
            (v6.segments()[0] & 0xff0f) == 0xff02,
        ),
    };
    if link_local {
        errs.push(FieldError::invalid(
            path,
            &shown,
            "may not be in the link-local range (169.254.0.0/16, fe80::/10)",
        ));
    }
    if link_local_multicast {
        errs.push(FieldError::invalid(
            path,
            &shown,
            "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)",
        ));
    }
}

/// Upstream's `ValidateEndpoints` (everything but the metadata).
pub(crate) fn validate_endpoints(obj: &Node, errs: &mut Vec<FieldError>) {
    for subset in obj.field("subsets").items(errs) {
        let (addresses, not_ready) = (subset.field("addresses"), subset.field("notReadyAddresses"));
        if addresses.len() == 0 && not_ready.len() == 0 {
            errs.push(FieldError::required(
                subset.path(),
                "must specify `addresses` or `notReadyAddresses`",
            ));
        }
        for list in [addresses, not_ready] {
            for address in list.items(errs) {
                let ip_node = address.field("ip");
                let ip = ip_node.str(errs);
                errs.extend(ip_errors(ip_node.path(), ip));
                let hostname = address.field("hostname");
                let h = hostname.str(errs);
                if !h.is_empty() {
                    errs.extend(invalid_each(hostname.path(), h, dns1123_label_errors(h)));
                }
                let node_name = address.field("nodeName");
                if let Some(n) = node_name.opt_str(errs) {
                    errs.extend(invalid_each(
                        node_name.path(),
                        n,
                        NameRule::Dns1123Subdomain.errors(n, false),
                    ));
                }
                non_special_ip(ip_node.path(), ip, errs);
            }
        }
        let ports = subset.field("ports");
        let count = ports.len();
        for port in ports.items(errs) {
            let name_node = port.field("name");
            let name = name_node.str(errs);
            if count > 1 && name.is_empty() {
                errs.push(FieldError::required(name_node.path(), ""));
            } else if !name.is_empty() {
                errs.extend(invalid_each(
                    name_node.path(),
                    name,
                    dns1123_label_errors(name),
                ));
            }
            let port_node = port.field("port");
            let p = port_node.int(errs);
            for msg in port_num_errors(p) {
                errs.push(FieldError::invalid(port_node.path(), &Value::from(p), &msg));
            }
            protocol(&port.field("protocol"), errs);
            let app = port.field("appProtocol");
            if let Some(a) = app.opt_str(errs) {
                errs.extend(invalid_each(app.path(), a, label_key_errors(a)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn endpoints_rules() {
        let ep = json!({"subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"port": 80, "protocol": "TCP"}]}, {}]});
        let mut errs = Vec::new();
        validate_endpoints(&Node::root(&ep), &mut errs);
        let errs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            errs,
            vec![
                "subsets[0].addresses[0].ip: Invalid value: \"127.0.0.1\": may not be in the loopback range (127.0.0.0/8, ::1/128)",
                "subsets[1]: Required value: must specify `addresses` or `notReadyAddresses`",
            ]
        );
    }
}
