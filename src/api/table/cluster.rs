//! Tables of the kinds outside core and workloads: leases, endpoint slices, ingresses and ingress
//! classes, network policies, RBAC bindings, storage classes, CSI drivers and nodes, volume
//! attachments, priority classes and certificate signing requests.

use serde_json::Value;

use super::Column;
use super::duration::human_duration;
use super::fields::{
    age, annotation, boolean, format_label_selector, int, int_opt, is_set, list, list_with_more,
    load_balancer_ingress, name, non_empty, text, text_or,
};

pub(super) const LEASE_COLUMNS: &[Column] = &[
    Column::NAME,
    Column::text("Holder", "The identity currently holding the lease."),
    Column::AGE,
];

pub(super) fn lease(object: &Value, now: i64) -> Vec<Value> {
    vec![
        name(object),
        Value::from(text(object, "/spec/holderIdentity")),
        age(object, now),
    ]
}

pub(super) const ENDPOINT_SLICE_COLUMNS: &[Column] = &[
    Column::NAME,
    Column::text("AddressType", "IPv4, IPv6 or FQDN."),
    Column::text("Ports", "The port numbers, the first three of them."),
    Column::text(
        "Endpoints",
        "The endpoint addresses, the first three of them.",
    ),
    Column::AGE,
];

pub(super) fn endpoint_slice(object: &Value, now: i64) -> Vec<Value> {
    let ports: Vec<String> = list(object, "/ports")
        .iter()
        .map(|port| match int_opt(port, "/port") {
            Some(number) => number.to_string(),
            None => port
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("*")
                .to_owned(),
        })
        .collect();
    let addresses: Vec<String> = list(object, "/endpoints")
        .iter()
        .flat_map(|endpoint| list(endpoint, "/addresses"))
        .map(|address| address.as_str().unwrap_or("").to_owned())
        .collect();
    vec![
        name(object),
        Value::from(text(object, "/addressType")),
        Value::from(list_with_more(&ports)),
        Value::from(list_with_more(&addresses)),
        age(object, now),
    ]
}

pub(super) const INGRESS_COLUMNS: &[Column] = &[
    Column::NAME,
    Column::text("Class", "The ingress class that handles the ingress."),
    Column::text("Hosts", "The host names routed, the first three of them."),
    Column::text(
        "Address",
        "Where the load balancer serving the ingress is reachable.",
    ),
    Column::text("Ports", "80, and 443 when TLS is configured."),
    Column::AGE,
];

pub(super) fn ingress(object: &Value, now: i64) -> Vec<Value> {
    let ports = if list(object, "/spec/tls").is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        name(object),
        Value::from(non_empty(object, "/spec/ingressClassName").unwrap_or("<none>")),
        Value::from(ingress_hosts(list(object, "/spec/rules"))),
        Value::from(load_balancer_ingress(
            object,
            "/status/loadBalancer/ingress",
        )),
        Value::from(ports),
        age(object, now),
    ]
}

/// The hosts of the first rules, three at most; `*` when no rule names a host.
fn ingress_hosts(rules: &[Value]) -> String {
    const SHOWN: usize = 3;
    let mut hosts: Vec<&str> = Vec::new();
    let mut more = false;
    for rule in rules {
        if hosts.len() == SHOWN {
            more = true;
        }
        if let Some(host) = non_empty(rule, "/host")
            && !more
        {
            hosts.push(host);
        }
    }
    if hosts.is_empty() {
        return "*".to_owned();
    }
    let joined = hosts.join(",");
    if more {
        format!("{joined} + {} more...", rules.len() - SHOWN)
    } else {
        joined
    }
}

pub(super) const INGRESS_CLASS_COLUMNS: &[Column] = &[
    Column::NAME,
    Column::text("Controller", "The controller that implements the class."),
    Column::text(
        "Parameters",
        "The object holding the class's parameters, as kind.group/name.",
    ),
    Column::AGE,
];

pub(super) fn ingress_class(object: &Value, now: i64) -> Vec<Value> {
    let parameters = if is_set(object, "/spec/parameters") {
        let kind = text(object, "/spec/parameters/kind");
        let group = if is_set(object, "/spec/parameters/apiGroup") {
            format!(".{}", text(object, "/spec/parameters/apiGroup"))
        } else {
            String::new()
        };
        format!("{kind}{group}/{}", text(object, "/spec/parameters/name"))
    } else {
        "<none>".to_owned()
    };
    vec![
        name(object),
        Value::from(text(object, "/spec/controller")),
        Value::from(parameters),
        age(object, now),
    ]
}

pub(super) const NETWORK_POLICY_COLUMNS: &[Column] = &[
    Column::NAME,
    Column::text("Pod-Selector", "The pods the policy applies to."),
    Column::AGE,
];

pub(super) fn network_policy(object: &Value, now: i64) -> Vec<Value> {
    let selector = format_label_selector(object.pointer("/spec/podSelector"));
    vec![name(object), Value::from(selector), age(object, now)]
}

pub(super) const ROLE_BINDING_COLUMNS: &[Column] = &[
    Column::NAME,
    Column::text("Role", "The role granted, as kind/name."),
    Column::AGE,
    Column::wide("Users", "The users bound."),
    Column::wide("Groups", "The groups bound."),
    Column::wide(
        "ServiceAccounts",
        "The service accounts bound, as namespace/name.",
    ),
];

pub(super) const CLUSTER_ROLE_BINDING_COLUMNS: &[Column] = ROLE_BINDING_COLUMNS;

pub(super) fn role_binding(object: &Value, now: i64) -> Vec<Value> {
    let mut users: Vec<&str> = Vec::new();
    let mut groups: Vec<&str> = Vec::new();
    let mut accounts: Vec<String> = Vec::new();
    for subject in list(object, "/subjects") {
        let subject_name = text(subject, "/name");
        match text(subject, "/kind") {
            "ServiceAccount" => {
                accounts.push(format!("{}/{subject_name}", text(subject, "/namespace")))
            }
            "User" => users.push(subject_name),
            "Group" => groups.push(subject_name),
            _ => {}
        }
    }
    vec![
        name(object),
        Value::from(format!(
            "{}/{}",
            text(object, "/roleRef/kind"),
            text(object, "/roleRef/name")
        )),
        age(object, now),
        Value::from(users.join(", ")),
        Value::from(groups.join(", ")),
        Value::from(accounts.join(", ")),
    ]
}

pub(super) const STORAGE_CLASS_COLUMNS: &[Column] = &[
    Column::NAME,
    Column::text(
        "Provisioner",
        "The driver that provisions volumes of the class.",
    ),
    Column::text(
        "ReclaimPolicy",
        "What happens to a volume when its claim is deleted.",
    ),
    Column::text(
        "VolumeBindingMode",
        "Whether volumes bind at once or wait for a consuming pod.",
    ),
    Column::text(
        "AllowVolumeExpansion",
        "Whether claims of the class may grow.",
    ),
    Column::AGE,
];

pub(super) fn storage_class(object: &Value, now: i64) -> Vec<Value> {
    let is_default = [
        "storageclass.kubernetes.io/is-default-class",
        "storageclass.beta.kubernetes.io/is-default-class",
    ]
    .iter()
    .any(|key| annotation(object, key) == Some("true"));
    let shown_name = format!(
        "{}{}",
        text(object, "/metadata/name"),
        if is_default { " (default)" } else { "" }
    );
    vec![
        Value::from(shown_name),
        Value::from(text(object, "/provisioner")),
        Value::from(text_or(object, "/reclaimPolicy", "Delete")),
        Value::from(text_or(object, "/volumeBindingMode", "Immediate")),
        Value::from(boolean(object, "/allowVolumeExpansion", false)),
        age(object, now),
    ]
}

pub(super) const CSI_DRIVER_COLUMNS: &[Column] = &[
    Column::NAME,
    Column::boolean(
        "AttachRequired",
        "Whether volumes must be attached before they are mounted.",
    ),
    Column::boolean(
        "PodInfoOnMount",
        "Whether the driver is told about the pod on mount.",
    ),
    Column::boolean(
        "StorageCapacity",
        "Whether the scheduler considers the driver's capacity.",
    ),
    Column::text(
        "TokenRequests",
        "Audiences of the service account tokens passed to the driver.",
    ),
    Column::boolean(
        "RequiresRepublish",
        "Whether volumes are periodically republished.",
    ),
    Column::text("Modes", "The volume lifecycle modes supported."),
    Column::AGE,
];

pub(super) fn csi_driver(object: &Value, now: i64) -> Vec<Value> {
    let token_requests = match object
        .pointer("/spec/tokenRequests")
        .and_then(Value::as_array)
    {
        Some(requests) => requests
            .iter()
            .map(|request| text(request, "/audience"))
            .collect::<Vec<_>>()
            .join(","),
        None => "<unset>".to_owned(),
    };
    let modes: Vec<&str> = list(object, "/spec/volumeLifecycleModes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let modes = if modes.is_empty() {
        "Persistent".to_owned()
    } else {
        modes.join(",")
    };
    vec![
        name(object),
        Value::from(boolean(object, "/spec/attachRequired", true)),
        Value::from(boolean(object, "/spec/podInfoOnMount", false)),
        Value::from(boolean(object, "/spec/storageCapacity", false)),
        Value::from(token_requests),
        Value::from(boolean(object, "/spec/requiresRepublish", false)),
        Value::from(modes),
        age(object, now),
    ]
}

pub(super) const CSI_NODE_COLUMNS: &[Column] = &[
    Column::NAME,
    Column::integer(
        "Drivers",
        "The number of CSI drivers registered on the node.",
    ),
    Column::AGE,
];

pub(super) fn csi_node(object: &Value, now: i64) -> Vec<Value> {
    vec![
        name(object),
        Value::from(list(object, "/spec/drivers").len()),
        age(object, now),
    ]
}

pub(super) const VOLUME_ATTACHMENT_COLUMNS: &[Column] = &[
    Column::NAME,
    Column {
        format: "name",
        ..Column::text("Attacher", "The driver that attaches the volume.")
    },
    Column::text("PV", "The persistent volume attached."),
    Column::text("Node", "The node the volume is attached to."),
    Column::boolean("Attached", "Whether the attachment has completed."),
    Column::AGE,
];

pub(super) fn volume_attachment(object: &Value, now: i64) -> Vec<Value> {
    vec![
        name(object),
        Value::from(text(object, "/spec/attacher")),
        Value::from(text(object, "/spec/source/persistentVolumeName")),
        Value::from(text(object, "/spec/nodeName")),
        Value::from(boolean(object, "/status/attached", false)),
        age(object, now),
    ]
}

pub(super) const PRIORITY_CLASS_COLUMNS: &[Column] = &[
    Column::NAME,
    Column::integer("Value", "The priority given to pods of the class."),
    Column::boolean(
        "Global-Default",
        "Whether pods without a class get this one.",
    ),
    Column::AGE,
    Column::text(
        "PreemptionPolicy",
        "Whether pods of the class may preempt lower-priority pods.",
    ),
];

pub(super) fn priority_class(object: &Value, now: i64) -> Vec<Value> {
    vec![
        name(object),
        Value::from(int(object, "/value")),
        Value::from(boolean(object, "/globalDefault", false)),
        age(object, now),
        Value::from(text_or(object, "/preemptionPolicy", "PreemptLowerPriority")),
    ]
}

pub(super) const CSR_COLUMNS: &[Column] = &[
    Column::NAME,
    Column::AGE,
    Column::text("SignerName", "The signer asked to sign the certificate."),
    Column::text("Requestor", "The user who made the request."),
    Column::text(
        "RequestedDuration",
        "How long the certificate is asked to be valid.",
    ),
    Column::text(
        "Condition",
        "Pending, Approved or Denied, with Failed and Issued.",
    ),
];

pub(super) fn certificate_signing_request(object: &Value, now: i64) -> Vec<Value> {
    let requested = int_opt(object, "/spec/expirationSeconds").map_or_else(
        || "<none>".to_owned(),
        |seconds| human_duration(seconds.saturating_mul(1_000_000_000)),
    );
    vec![
        name(object),
        age(object, now),
        Value::from(non_empty(object, "/spec/signerName").unwrap_or("<none>")),
        Value::from(text(object, "/spec/username")),
        Value::from(requested),
        Value::from(csr_condition(object)),
    ]
}

fn csr_condition(object: &Value) -> String {
    let has = |kind: &str| {
        list(object, "/status/conditions")
            .iter()
            .any(|condition| text(condition, "/type") == kind)
    };
    let mut condition = if has("Denied") {
        "Denied".to_owned()
    } else if has("Approved") {
        "Approved".to_owned()
    } else {
        "Pending".to_owned()
    };
    if has("Failed") {
        condition.push_str(",Failed");
    }
    if non_empty(object, "/status/certificate").is_some() {
        condition.push_str(",Issued");
    }
    condition
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// 2024-05-08T10:00:00Z: a week after the objects below were created.
    const NOW: i64 = 1_715_162_400;

    fn meta(name: &str) -> Value {
        json!({"name": name, "creationTimestamp": "2024-05-01T10:00:00Z"})
    }

    #[test]
    fn lease_holder() {
        let held = json!({"metadata": meta("kube-scheduler"), "spec": {"holderIdentity": "node-a_3c1d", "leaseDurationSeconds": 15}});
        assert_eq!(
            lease(&held, NOW),
            vec![json!("kube-scheduler"), json!("node-a_3c1d"), json!("7d")]
        );
        assert_eq!(
            lease(&json!({}), NOW),
            vec![json!(""), json!(""), json!("<unknown>")]
        );
    }

    #[test]
    fn endpoint_slice_ports_and_addresses() {
        let slice = json!({
            "metadata": meta("web-x7k2p"), "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "metrics"}, {}],
            "endpoints": [{"addresses": ["10.42.0.5"]}, {"addresses": ["10.42.0.6", "10.42.0.7"]}, {"addresses": ["10.42.0.8"]}]
        });
        assert_eq!(
            endpoint_slice(&slice, NOW),
            vec![
                json!("web-x7k2p"),
                json!("IPv4"),
                json!("8080,metrics,*"),
                json!("10.42.0.5,10.42.0.6,10.42.0.7 + 1 more..."),
                json!("7d")
            ]
        );
        assert_eq!(
            endpoint_slice(&json!({}), NOW)[2..4],
            [json!("<unset>"), json!("<unset>")]
        );
    }

    #[test]
    fn ingress_hosts_address_and_ports() {
        let ing = json!({
            "metadata": meta("shop"),
            "spec": {"ingressClassName": "traefik", "tls": [{"hosts": ["shop.example.com"]}], "rules": [
                {"host": "shop.example.com"}, {"http": {}}, {"host": "api.example.com"}, {"host": "admin.example.com"},
                {"host": "old.example.com"}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.168.1.10"}, {"ip": "192.168.1.11"}]}}
        });
        assert_eq!(
            ingress(&ing, NOW),
            vec![
                json!("shop"),
                json!("traefik"),
                json!("shop.example.com,api.example.com,admin.example.com + 2 more..."),
                json!("192.168.1.10,192.168.1.11"),
                json!("80, 443"),
                json!("7d")
            ]
        );
        let catch_all = json!({"spec": {"defaultBackend": {"service": {"name": "web"}}}});
        assert_eq!(
            ingress(&catch_all, NOW)[1..5],
            [json!("<none>"), json!("*"), json!(""), json!("80")]
        );
    }

    #[test]
    fn ingress_class_parameters() {
        let class = json!({"metadata": meta("nginx"), "spec": {"controller": "k8s.io/ingress-nginx",
            "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "external-lb"}}});
        assert_eq!(
            ingress_class(&class, NOW),
            vec![
                json!("nginx"),
                json!("k8s.io/ingress-nginx"),
                json!("IngressParameters.k8s.example.com/external-lb"),
                json!("7d")
            ]
        );
        let core_params = json!({"spec": {"controller": "x", "parameters": {"kind": "ConfigMap", "name": "cfg"}}});
        assert_eq!(ingress_class(&core_params, NOW)[2], json!("ConfigMap/cfg"));
        assert_eq!(ingress_class(&json!({}), NOW)[2], json!("<none>"));
    }

    #[test]
    fn network_policy_selector() {
        let deny = json!({"metadata": meta("deny-all"), "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}});
        assert_eq!(
            network_policy(&deny, NOW),
            vec![json!("deny-all"), json!("<none>"), json!("7d")]
        );
        let web = json!({"spec": {"podSelector": {"matchLabels": {"app": "web"}}}});
        assert_eq!(network_policy(&web, NOW)[1], json!("app=web"));
    }

    #[test]
    fn role_binding_subjects() {
        let binding = json!({
            "metadata": meta("admins"),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
            "subjects": [
                {"kind": "User", "name": "alice"}, {"kind": "User", "name": "bob"}, {"kind": "Group", "name": "ops"},
                {"kind": "ServiceAccount", "name": "deployer", "namespace": "ci"}]
        });
        assert_eq!(
            role_binding(&binding, NOW),
            vec![
                json!("admins"),
                json!("ClusterRole/admin"),
                json!("7d"),
                json!("alice, bob"),
                json!("ops"),
                json!("ci/deployer")
            ]
        );
        assert_eq!(role_binding(&json!({}), NOW)[1], json!("/"));
    }

    #[test]
    fn storage_class_defaults() {
        let class = json!({
            "metadata": {"name": "local-path", "creationTimestamp": "2024-05-01T10:00:00Z",
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "rancher.io/local-path", "reclaimPolicy": "Delete",
            "volumeBindingMode": "WaitForFirstConsumer"
        });
        assert_eq!(
            storage_class(&class, NOW),
            vec![
                json!("local-path (default)"),
                json!("rancher.io/local-path"),
                json!("Delete"),
                json!("WaitForFirstConsumer"),
                json!(false),
                json!("7d")
            ]
        );
        let plain = json!({"metadata": {"name": "fast"}, "provisioner": "csi.example.com", "allowVolumeExpansion": true});
        assert_eq!(
            storage_class(&plain, NOW)[..5],
            [
                json!("fast"),
                json!("csi.example.com"),
                json!("Delete"),
                json!("Immediate"),
                json!(true)
            ]
        );
    }

    #[test]
    fn csi_drivers_and_nodes() {
        let driver = json!({"metadata": meta("secrets-store.csi.k8s.io"), "spec": {"attachRequired": false,
            "podInfoOnMount": true, "tokenRequests": [{"audience": "vault"}, {"audience": "api"}],
            "volumeLifecycleModes": ["Ephemeral"], "requiresRepublish": true}});
        assert_eq!(
            csi_driver(&driver, NOW),
            vec![
                json!("secrets-store.csi.k8s.io"),
                json!(false),
                json!(true),
                json!(false),
                json!("vault,api"),
                json!(true),
                json!("Ephemeral"),
                json!("7d")
            ]
        );
        assert_eq!(
            csi_driver(&json!({}), NOW)[1..7],
            [
                json!(true),
                json!(false),
                json!(false),
                json!("<unset>"),
                json!(false),
                json!("Persistent")
            ]
        );
        let node = json!({"metadata": meta("node-a"), "spec": {"drivers": [{"name": "a"}, {"name": "b"}]}});
        assert_eq!(
            csi_node(&node, NOW),
            vec![json!("node-a"), json!(2), json!("7d")]
        );
    }

    #[test]
    fn volume_attachment_row() {
        let attachment = json!({"metadata": meta("csi-8f2e"), "spec": {"attacher": "ebs.csi.aws.com",
            "source": {"persistentVolumeName": "pvc-3f2a"}, "nodeName": "node-a"}, "status": {"attached": true}});
        assert_eq!(
            volume_attachment(&attachment, NOW),
            vec![
                json!("csi-8f2e"),
                json!("ebs.csi.aws.com"),
                json!("pvc-3f2a"),
                json!("node-a"),
                json!(true),
                json!("7d")
            ]
        );
    }

    #[test]
    fn priority_class_row() {
        let class = json!({"metadata": meta("system-node-critical"), "value": 2000001000, "globalDefault": false,
            "preemptionPolicy": "PreemptLowerPriority"});
        assert_eq!(
            priority_class(&class, NOW),
            vec![
                json!("system-node-critical"),
                json!(2000001000),
                json!(false),
                json!("7d"),
                json!("PreemptLowerPriority")
            ]
        );
        assert_eq!(
            priority_class(&json!({"value": 10, "preemptionPolicy": "Never"}), NOW)[4],
            json!("Never")
        );
    }

    #[test]
    fn certificate_signing_request_condition() {
        let csr = json!({
            "metadata": meta("node-csr-abc"),
            "spec": {"signerName": "kubernetes.io/kube-apiserver-client-kubelet", "username": "system:node:node-a",
                "expirationSeconds": 86400},
            "status": {"conditions": [{"type": "Approved", "status": "True"}], "certificate": "LS0tLS1CRUdJTi=="}
        });
        assert_eq!(
            certificate_signing_request(&csr, NOW),
            vec![
                json!("node-csr-abc"),
                json!("7d"),
                json!("kubernetes.io/kube-apiserver-client-kubelet"),
                json!("system:node:node-a"),
                json!("24h"),
                json!("Approved,Issued")
            ]
        );
        let denied = json!({"status": {"conditions": [{"type": "Approved"}, {"type": "Denied"}, {"type": "Failed"}]}});
        assert_eq!(
            certificate_signing_request(&denied, NOW)[2..6],
            [
                json!("<none>"),
                json!(""),
                json!("<none>"),
                json!("Denied,Failed")
            ]
        );
        assert_eq!(
            certificate_signing_request(&json!({}), NOW)[5],
            json!("Pending")
        );
    }
}
