//! Tables of core/v1 kinds other than pods, pod controllers, events and storage: services,
//! endpoints, config maps, secrets, service accounts, namespaces and nodes.

use std::collections::BTreeSet;

use serde_json::Value;

use super::Column;
use super::fields::{
    age, format_labels, int, list, load_balancer_ingress, map, map_len, name, non_empty, or_none,
    text, text_or,
};

pub(super) const SERVICE_COLUMNS: &[Column] = &[
    Column::NAME,
    Column::text(
        "Type",
        "How the service is exposed: ClusterIP, NodePort, LoadBalancer or ExternalName.",
    ),
    Column::text(
        "Cluster-IP",
        "The virtual IP of the service inside the cluster.",
    ),
    Column::text(
        "External-IP",
        "Addresses the service is reachable at from outside the cluster.",
    ),
    Column::text("Port(s)", "Service ports, with node ports where allocated."),
    Column::AGE,
    Column::wide("Selector", "The labels of the pods traffic is sent to."),
];

pub(super) fn service(object: &Value, now: i64) -> Vec<Value> {
    let kind = text_or(object, "/spec/type", "ClusterIP");
    let cluster_ip = list(object, "/spec/clusterIPs")
        .first()
        .and_then(Value::as_str)
        .or_else(|| non_empty(object, "/spec/clusterIP"))
        .unwrap_or("<none>");
    let ports: Vec<String> = list(object, "/spec/ports")
        .iter()
        .map(|port| {
            let protocol = text_or(port, "/protocol", "TCP");
            match int(port, "/nodePort") {
                node_port if node_port > 0 => {
                    format!("{}:{node_port}/{protocol}", int(port, "/port"))
                }
                _ => format!("{}/{protocol}", int(port, "/port")),
            }
        })
        .collect();
    vec![
        name(object),
        Value::from(kind),
        Value::from(cluster_ip),
        Value::from(service_external_ip(object, kind)),
        Value::from(or_none(ports.join(","))),
        age(object, now),
        Value::from(format_labels(object.pointer("/spec/selector"))),
    ]
}

fn service_external_ip(object: &Value, kind: &str) -> String {
    let external: Vec<&str> = list(object, "/spec/externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    match kind {
        "ClusterIP" | "NodePort" => or_none(external.join(",")),
        "LoadBalancer" => {
            let balancer = load_balancer_ingress(object, "/status/loadBalancer/ingress");
            match (balancer.is_empty(), external.is_empty()) {
                (true, true) => "<pending>".to_owned(),
                (false, true) => balancer,
                (true, false) => external.join(","),
                (false, false) => format!("{balancer},{}", external.join(",")),
            }
        }
        "ExternalName" => text(object, "/spec/externalName").to_owned(),
        _ => "<unknown>".to_owned(),
    }
}

pub(super) const ENDPOINTS_COLUMNS: &[Column] = &[
    Column::NAME,
    Column::text(
        "Endpoints",
        "Ready addresses and ports, the first three of them.",
    ),
    Column::AGE,
];

pub(super) fn endpoints(object: &Value, now: i64) -> Vec<Value> {
    vec![
        name(object),
        Value::from(format_endpoints(object)),
        age(object, now),
    ]
}

/// Ready `ip:port` pairs of all subsets: three at most, then ` + N more...`.
fn format_endpoints(object: &Value) -> String {
    const SHOWN: usize = 3;
    let subsets = list(object, "/subsets");
    if subsets.is_empty() {
        return "<none>".to_owned();
    }
    let mut shown: Vec<String> = Vec::new();
    let mut count = 0;
    for subset in subsets {
        let addresses: Vec<&str> = list(subset, "/addresses")
            .iter()
            .map(|address| text(address, "/ip"))
            .collect();
        let ports = list(subset, "/ports");
        if ports.is_empty() {
            count += addresses.len();
            shown.extend(
                addresses
                    .iter()
                    .take(SHOWN - shown.len())
                    .map(|ip| (*ip).to_owned()),
            );
            continue;
        }
        for port in ports {
            count += addresses.len();
            let number = int(port, "/port");
            let room = SHOWN - shown.len();
            shown.extend(
                addresses
                    .iter()
                    .take(room)
                    .map(|ip| join_host_port(ip, number)),
            );
        }
    }
    let joined = shown.join(",");
    if count > SHOWN {
        format!("{joined} + {} more...", count - SHOWN)
    } else {
        joined
    }
}

fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

pub(super) const CONFIG_MAP_COLUMNS: &[Column] = &[
    Column::NAME,
    Column::text("Data", "The number of keys, text and binary."),
    Column::AGE,
];

pub(super) fn config_map(object: &Value, now: i64) -> Vec<Value> {
    let keys = map_len(object, "/data") + map_len(object, "/binaryData");
    vec![name(object), Value::from(keys), age(object, now)]
}

pub(super) const SECRET_COLUMNS: &[Column] = &[
    Column::NAME,
    Column::text(
        "Type",
        "What the secret holds, e.g. Opaque or kubernetes.io/tls.",
    ),
    Column::text("Data", "The number of keys."),
    Column::AGE,
];

pub(super) fn secret(object: &Value, now: i64) -> Vec<Value> {
    let keys = map_len(object, "/data");
    vec![
        name(object),
        Value::from(text_or(object, "/type", "Opaque")),
        Value::from(keys),
        age(object, now),
    ]
}

pub(super) const SERVICE_ACCOUNT_COLUMNS: &[Column] = &[
    Column::NAME,
    Column::text("Secrets", "The number of secrets listed for the account."),
    Column::AGE,
];

pub(super) fn service_account(object: &Value, now: i64) -> Vec<Value> {
    vec![
        name(object),
        Value::from(list(object, "/secrets").len()),
        age(object, now),
    ]
}

pub(super) const NAMESPACE_COLUMNS: &[Column] = &[
    Column::NAME,
    Column::text(
        "Status",
        "Active, or Terminating while the namespace is deleted.",
    ),
    Column::AGE,
];

pub(super) fn namespace(object: &Value, now: i64) -> Vec<Value> {
    vec![
        name(object),
        Value::from(text_or(object, "/status/phase", "Active")),
        age(object, now),
    ]
}

pub(super) const NODE_COLUMNS: &[Column] = &[
    Column::NAME,
    Column::text(
        "Status",
        "Whether the node is ready, and whether scheduling to it is disabled.",
    ),
    Column::text("Roles", "Roles from the node-role.kubernetes.io/ labels."),
    Column::AGE,
    Column::text("Version", "The kubelet version."),
    Column::wide("Internal-IP", "The first internal address of the node."),
    Column::wide("External-IP", "The first external address of the node."),
    Column::wide("OS-Image", "The operating system the node reports."),
    Column::wide("Kernel-Version", "The kernel version the node reports."),
    Column::wide(
        "Container-Runtime",
        "The container runtime and its version.",
    ),
];

pub(super) fn node(object: &Value, now: i64) -> Vec<Value> {
    let ready = list(object, "/status/conditions")
        .iter()
        .rev()
        .find(|condition| text(condition, "/type") == "Ready");
    let mut status = vec![match ready {
        Some(condition) if text(condition, "/status") == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if super::fields::boolean(object, "/spec/unschedulable", false) {
        status.push("SchedulingDisabled");
    }
    let info = |field: &str| {
        Value::from(text_or(
            object,
            &format!("/status/nodeInfo/{field}"),
            "<unknown>",
        ))
    };
    vec![
        name(object),
        Value::from(status.join(",")),
        Value::from(or_none(node_roles(object).join(","))),
        age(object, now),
        Value::from(text(object, "/status/nodeInfo/kubeletVersion")),
        Value::from(node_address(object, "InternalIP")),
        Value::from(node_address(object, "ExternalIP")),
        info("osImage"),
        info("kernelVersion"),
        info("containerRuntimeVersion"),
    ]
}

/// Roles named by `node-role.kubernetes.io/<role>` label keys or a `kubernetes.io/role` value.
fn node_roles(object: &Value) -> Vec<String> {
    let mut roles = BTreeSet::new();
    for (key, value) in map(object, "/metadata/labels").into_iter().flatten() {
        if let Some(role) = key.strip_prefix("node-role.kubernetes.io/") {
            if !role.is_empty() {
                roles.insert(role.to_owned());
            }
        } else if key == "kubernetes.io/role"
            && let Some(role) = value.as_str().filter(|role| !role.is_empty())
        {
            roles.insert(role.to_owned());
        }
    }
    roles.into_iter().collect()
}

fn node_address<'a>(object: &'a Value, kind: &str) -> &'a str {
    list(object, "/status/addresses")
        .iter()
        .find(|address| text(address, "/type") == kind)
        .map_or("<none>", |address| text(address, "/address"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// 2024-05-03T10:00:00Z: two days after the objects below were created.
    const NOW: i64 = 1_714_730_400;

    fn meta(name: &str) -> Value {
        json!({"name": name, "namespace": "default", "creationTimestamp": "2024-05-01T10:00:00Z"})
    }

    #[test]
    fn cluster_ip_service() {
        let svc = json!({
            "metadata": meta("web"),
            "spec": {"type": "ClusterIP", "clusterIP": "10.43.0.10", "clusterIPs": ["10.43.0.10"],
                "selector": {"app": "web"},
                "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}, {"port": 53, "protocol": "UDP"}]}
        });
        assert_eq!(
            service(&svc, NOW),
            vec![
                json!("web"),
                json!("ClusterIP"),
                json!("10.43.0.10"),
                json!("<none>"),
                json!("80/TCP,53/UDP"),
                json!("2d"),
                json!("app=web")
            ]
        );
    }

    #[test]
    fn node_port_and_load_balancer_services() {
        let node_port = json!({
            "metadata": meta("shop"),
            "spec": {"type": "NodePort", "clusterIPs": ["10.43.1.2"], "externalIPs": ["192.0.2.10"],
                "ports": [{"port": 80, "nodePort": 30080}, {"port": 443, "protocol": "TCP", "nodePort": 30443}]}
        });
        let row = service(&node_port, NOW);
        assert_eq!(row[3], json!("192.0.2.10"));
        assert_eq!(row[4], json!("80:30080/TCP,443:30443/TCP"));
        assert_eq!(row[6], json!("<none>"));

        let mut balancer = json!({
            "metadata": meta("edge"),
            "spec": {"type": "LoadBalancer", "clusterIPs": ["10.43.2.3"], "ports": [{"port": 443, "nodePort": 31443}]},
        });
        assert_eq!(service(&balancer, NOW)[3], json!("<pending>"));
        balancer["status"] = json!({"loadBalancer": {"ingress": [
            {"ip": "203.0.113.9"}, {"hostname": "lb.example.com"}, {"ip": "203.0.113.1"}]}});
        assert_eq!(
            service(&balancer, NOW)[3],
            json!("203.0.113.1,203.0.113.9,lb.example.com")
        );
        balancer["spec"]["externalIPs"] = json!(["192.0.2.1"]);
        assert_eq!(
            service(&balancer, NOW)[3],
            json!("203.0.113.1,203.0.113.9,lb.example.com,192.0.2.1")
        );
    }

    #[test]
    fn headless_external_name_and_bare_services() {
        let headless =
            json!({"metadata": meta("db"), "spec": {"clusterIP": "None", "clusterIPs": ["None"]}});
        let row = service(&headless, NOW);
        assert_eq!(
            (row[1].clone(), row[2].clone(), row[4].clone()),
            (json!("ClusterIP"), json!("None"), json!("<none>"))
        );
        let external = json!({"metadata": meta("mail"), "spec": {"type": "ExternalName", "externalName": "mail.example.com"}});
        let row = service(&external, NOW);
        assert_eq!(
            (row[2].clone(), row[3].clone()),
            (json!("<none>"), json!("mail.example.com"))
        );
    }

    #[test]
    fn endpoints_are_cut_after_three() {
        let many = json!({
            "metadata": meta("web"),
            "subsets": [
                {"addresses": [{"ip": "10.42.0.5"}, {"ip": "10.42.0.6"}], "ports": [{"port": 8080}, {"port": 8443}]},
                {"addresses": [{"ip": "fd00::9"}], "notReadyAddresses": [{"ip": "10.42.0.7"}], "ports": [{"port": 8080}]}
            ]
        });
        assert_eq!(
            endpoints(&many, NOW)[1],
            json!("10.42.0.5:8080,10.42.0.6:8080,10.42.0.5:8443 + 2 more...")
        );
        let few = json!({"subsets": [{"addresses": [{"ip": "fd00::9"}], "ports": [{"port": 53}]},
            {"addresses": [{"ip": "10.0.0.1"}]}]});
        assert_eq!(endpoints(&few, NOW)[1], json!("[fd00::9]:53,10.0.0.1"));
        assert_eq!(
            endpoints(&json!({"subsets": [{"ports": [{"port": 80}]}]}), NOW)[1],
            json!("")
        );
        assert_eq!(
            endpoints(&json!({"metadata": meta("none")}), NOW)[1],
            json!("<none>")
        );
    }

    #[test]
    fn config_maps_secrets_accounts_and_namespaces() {
        let cm = json!({"metadata": meta("settings"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}});
        assert_eq!(
            config_map(&cm, NOW),
            vec![json!("settings"), json!(3), json!("2d")]
        );
        let tls = json!({"metadata": meta("cert"), "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}});
        assert_eq!(
            secret(&tls, NOW),
            vec![
                json!("cert"),
                json!("kubernetes.io/tls"),
                json!(2),
                json!("2d")
            ]
        );
        assert_eq!(
            secret(&json!({"metadata": meta("bare")}), NOW)[1..3],
            [json!("Opaque"), json!(0)]
        );
        let account = json!({"metadata": meta("default"), "secrets": [{"name": "default-token"}]});
        assert_eq!(
            service_account(&account, NOW),
            vec![json!("default"), json!(1), json!("2d")]
        );
        let ns = json!({"metadata": meta("team-a"), "status": {"phase": "Terminating"}});
        assert_eq!(
            namespace(&ns, NOW),
            vec![json!("team-a"), json!("Terminating"), json!("2d")]
        );
        assert_eq!(
            namespace(&json!({"metadata": meta("new")}), NOW)[1],
            json!("Active")
        );
    }

    #[test]
    fn ready_control_plane_node() {
        let ready = json!({
            "metadata": {"name": "node-a", "creationTimestamp": "2024-04-01T10:00:00Z", "labels": {
                "node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/master": "",
                "kubernetes.io/hostname": "node-a"}},
            "status": {
                "conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
                "addresses": [{"type": "InternalIP", "address": "192.168.1.10"}, {"type": "Hostname", "address": "node-a"}],
                "nodeInfo": {"kubeletVersion": "v1.35.0", "osImage": "Debian GNU/Linux 13 (trixie)",
                    "kernelVersion": "6.12.0-1-amd64", "containerRuntimeVersion": "kedge://0.1.0"}
            }
        });
        assert_eq!(
            node(&ready, NOW),
            vec![
                json!("node-a"),
                json!("Ready"),
                json!("control-plane,master"),
                json!("32d"),
                json!("v1.35.0"),
                json!("192.168.1.10"),
                json!("<none>"),
                json!("Debian GNU/Linux 13 (trixie)"),
                json!("6.12.0-1-amd64"),
                json!("kedge://0.1.0")
            ]
        );
    }

    #[test]
    fn cordoned_unready_and_unknown_nodes() {
        let cordoned = json!({
            "metadata": {"name": "node-b", "labels": {"kubernetes.io/role": "worker"}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}
        });
        let row = node(&cordoned, NOW);
        assert_eq!(
            row[1..5],
            [
                json!("NotReady,SchedulingDisabled"),
                json!("worker"),
                json!("<unknown>"),
                json!("")
            ]
        );
        assert_eq!(row[7], json!("<unknown>"));
        let fresh = json!({"metadata": {"name": "node-c"}, "spec": {"unschedulable": true}});
        assert_eq!(
            node(&fresh, NOW)[1..3],
            [json!("Unknown,SchedulingDisabled"), json!("<none>")]
        );
    }
}
