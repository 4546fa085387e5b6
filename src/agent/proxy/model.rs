//! What the proxy programs, in Kubernetes terms: every port of every Service with a ClusterIP,
//! joined with its EndpointSlices into a [`ServicePort`] (a pure translation, unit-tested here).
//!
//! Endpoints follow kube-proxy's choice: ready endpoints; when a Service port has none, the
//! ones still serving while terminating (so a rolling update keeps answering); with a Local
//! traffic policy, only the endpoints on this node, by the same rule.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// The label linking an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// A Service port's protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// From the API's spelling; `None` (the default) is TCP.
    pub fn parse(value: Option<&str>) -> Option<Protocol> {
        match value.unwrap_or("TCP") {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }

    /// The nftables keyword (also an `inet_proto` value).
    pub fn keyword(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// One backend of a Service port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: Ipv4Addr,
    pub port: u16,
    /// Whether the endpoint runs on this node.
    pub local: bool,
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
}

/// One port of one Service, with everything its rules need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePort {
    pub namespace: String,
    pub name: String,
    /// The port's name, or its number when unnamed.
    pub port_name: String,
    pub protocol: Protocol,
    pub cluster_ip: Ipv4Addr,
    pub port: u16,
    pub node_port: Option<u16>,
    /// `spec.externalIPs` and `status.loadBalancer.ingress[].ip`, served on `port`.
    pub external_ips: Vec<Ipv4Addr>,
    /// `sessionAffinity: ClientIP`: how long a client stays with its endpoint, in seconds.
    pub affinity_timeout: Option<u32>,
    /// `externalTrafficPolicy: Local`.
    pub external_local: bool,
    /// `internalTrafficPolicy: Local`.
    pub internal_local: bool,
    pub endpoints: Vec<Endpoint>,
}

/// kube-proxy's default `sessionAffinityConfig.clientIP.timeoutSeconds` (3 hours).
pub const DEFAULT_AFFINITY_TIMEOUT: u32 = 10_800;

impl ServicePort {
    /// `namespace/name/protocol/port`: unique, and what chain names are made of.
    pub fn id(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.namespace, self.name, self.protocol, self.port_name
        )
    }

    /// Whether the port is reached at addresses other than its ClusterIP.
    pub fn has_external(&self) -> bool {
        self.node_port.is_some() || !self.external_ips.is_empty()
    }

    /// The endpoints traffic may go to: only this node's when `local_only`; the ready ones,
    /// or, when none is ready, the serving terminating ones.
    pub fn usable_endpoints(&self, local_only: bool) -> Vec<Endpoint> {
        let candidates: Vec<Endpoint> = self
            .endpoints
            .iter()
            .filter(|e| e.local || !local_only)
            .copied()
            .collect();
        let ready: Vec<Endpoint> = candidates.iter().filter(|e| e.ready).copied().collect();
        if !ready.is_empty() {
            return ready;
        }
        candidates
            .into_iter()
            .filter(|e| e.serving && e.terminating)
            .collect()
    }
}

/// Every Service port to program, sorted by id: Services with an IPv4 ClusterIP (not
/// headless, not ExternalName), joined with their IPv4 EndpointSlices; `node` is this node's
/// name.
pub fn service_ports(
    services: &[Arc<Service>],
    slices: &[Arc<EndpointSlice>],
    node: &str,
) -> Vec<ServicePort> {
    let mut by_service: BTreeMap<(&str, &str), Vec<&EndpointSlice>> = BTreeMap::new();
    for slice in slices {
        if slice.address_type != "IPv4" {
            continue;
        }
        let (Some(namespace), Some(service)) = (
            slice.metadata.namespace.as_deref(),
            slice
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SERVICE_NAME_LABEL)),
        ) else {
            continue;
        };
        by_service
            .entry((namespace, service.as_str()))
            .or_default()
            .push(slice);
    }
    let mut ports = Vec::new();
    for service in services {
        let (Some(namespace), Some(name), Some(spec)) = (
            service.metadata.namespace.as_deref(),
            service.metadata.name.as_deref(),
            service.spec.as_ref(),
        ) else {
            continue;
        };
        if spec.type_.as_deref() == Some("ExternalName") {
            continue;
        }
        let Some(cluster_ip) = spec
            .cluster_ip
            .as_deref()
            .and_then(|ip| ip.parse::<Ipv4Addr>().ok())
        else {
            continue;
        };
        let mut external_ips: Vec<Ipv4Addr> = spec
            .external_ips
            .iter()
            .flatten()
            .filter_map(|ip| ip.parse().ok())
            .collect();
        if spec.type_.as_deref() == Some("LoadBalancer") {
            external_ips.extend(
                service
                    .status
                    .as_ref()
                    .and_then(|s| s.load_balancer.as_ref())
                    .and_then(|lb| lb.ingress.as_ref())
                    .into_iter()
                    .flatten()
                    .filter_map(|i| i.ip.as_deref()?.parse::<Ipv4Addr>().ok()),
            );
        }
        external_ips.sort();
        external_ips.dedup();
        let affinity_timeout = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
            spec.session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds)
                .and_then(|t| u32::try_from(t).ok())
                .filter(|t| *t > 0)
                .unwrap_or(DEFAULT_AFFINITY_TIMEOUT)
        });
        let node_ports_on = matches!(spec.type_.as_deref(), Some("NodePort" | "LoadBalancer"));
        let slices = by_service
            .get(&(namespace, name))
            .map(Vec::as_slice)
            .unwrap_or_default();
        for port in spec.ports.iter().flatten() {
            let (Some(protocol), Ok(number)) = (
                Protocol::parse(port.protocol.as_deref()),
                u16::try_from(port.port),
            ) else {
                continue;
            };
            let port_name = port.name.clone().unwrap_or_default();
            ports.push(ServicePort {
                namespace: namespace.to_string(),
                name: name.to_string(),
                port_name: if port_name.is_empty() {
                    number.to_string()
                } else {
                    port_name.clone()
                },
                protocol,
                cluster_ip,
                port: number,
                node_port: port
                    .node_port
                    .filter(|_| node_ports_on)
                    .and_then(|p| u16::try_from(p).ok())
                    .filter(|p| *p != 0),
                external_ips: external_ips.clone(),
                affinity_timeout,
                external_local: spec.external_traffic_policy.as_deref() == Some("Local")
                    && (node_ports_on || !external_ips.is_empty()),
                internal_local: spec.internal_traffic_policy.as_deref() == Some("Local"),
                endpoints: endpoints(slices, &port_name, protocol, node),
            });
        }
    }
    ports.sort_by_key(ServicePort::id);
    ports.dedup_by_key(|p| p.id());
    ports
}

/// The endpoints of the slices' port named `port_name` (the empty name for the single unnamed
/// port), deduplicated by address and port.
fn endpoints(
    slices: &[&EndpointSlice],
    port_name: &str,
    protocol: Protocol,
    node: &str,
) -> Vec<Endpoint> {
    let mut found = BTreeMap::new();
    for slice in slices {
        let Some(port) = slice.ports.iter().flatten().find(|p| {
            p.name.as_deref().unwrap_or_default() == port_name
                && Protocol::parse(p.protocol.as_deref()) == Some(protocol)
        }) else {
            continue;
        };
        let Some(number) = port.port.and_then(|p| u16::try_from(p).ok()) else {
            continue;
        };
        for endpoint in &slice.endpoints {
            let conditions = endpoint.conditions.as_ref();
            // Unset conditions mean ready (and serving when ready), as upstream reads them.
            let ready = conditions.and_then(|c| c.ready).unwrap_or(true);
            let serving = conditions.and_then(|c| c.serving).unwrap_or(ready);
            let terminating = conditions.and_then(|c| c.terminating).unwrap_or(false);
            let local = endpoint.node_name.as_deref() == Some(node);
            for address in &endpoint.addresses {
                let Ok(ip) = address.parse::<Ipv4Addr>() else {
                    continue;
                };
                found.entry((ip, number)).or_insert(Endpoint {
                    ip,
                    port: number,
                    local,
                    ready,
                    serving,
                    terminating,
                });
            }
        }
    }
    found.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(value: serde_json::Value) -> Arc<Service> {
        Arc::new(serde_json::from_value(value).unwrap())
    }

    fn slice(value: serde_json::Value) -> Arc<EndpointSlice> {
        Arc::new(serde_json::from_value(value).unwrap())
    }

    fn web() -> Arc<Service> {
        service(json!({
            "metadata": {"namespace": "default", "name": "web"},
            "spec": {
                "type": "NodePort",
                "clusterIP": "10.43.0.20",
                "ports": [
                    {"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080},
                    {"name": "dns", "port": 53, "protocol": "UDP"}
                ],
                "externalIPs": ["192.0.2.7"],
                "sessionAffinity": "ClientIP",
                "externalTrafficPolicy": "Local"
            }
        }))
    }

    fn web_slice() -> Arc<EndpointSlice> {
        slice(json!({
            "metadata": {
                "namespace": "default",
                "name": "web-abc",
                "labels": {SERVICE_NAME_LABEL: "web"}
            },
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [
                {"addresses": ["10.42.0.7"], "nodeName": "node1",
                 "conditions": {"ready": true, "serving": true, "terminating": false}},
                {"addresses": ["10.42.1.9"], "nodeName": "node2"},
                {"addresses": ["10.42.0.8"], "nodeName": "node1",
                 "conditions": {"ready": false, "serving": true, "terminating": true}}
            ]
        }))
    }

    #[test]
    fn joins_services_with_their_slices() {
        let ports = service_ports(&[web()], &[web_slice()], "node1");
        assert_eq!(ports.len(), 2);
        let dns = &ports[1];
        assert_eq!(dns.id(), "default/web/udp/dns");
        assert!(dns.endpoints.is_empty());
        let http = &ports[0];
        assert_eq!(http.id(), "default/web/tcp/http");
        assert_eq!(http.cluster_ip, Ipv4Addr::new(10, 43, 0, 20));
        assert_eq!(http.node_port, Some(30080));
        assert_eq!(http.external_ips, [Ipv4Addr::new(192, 0, 2, 7)]);
        assert_eq!(http.affinity_timeout, Some(DEFAULT_AFFINITY_TIMEOUT));
        assert!(http.external_local);
        assert!(!http.internal_local);
        let addresses: Vec<_> = http.endpoints.iter().map(|e| (e.ip, e.port)).collect();
        assert_eq!(
            addresses,
            [
                (Ipv4Addr::new(10, 42, 0, 7), 8080),
                (Ipv4Addr::new(10, 42, 0, 8), 8080),
                (Ipv4Addr::new(10, 42, 1, 9), 8080)
            ]
        );
        assert!(http.endpoints[2].ready, "unset conditions mean ready");
        assert!(!http.endpoints[2].local);
    }

    #[test]
    fn ready_endpoints_first_then_serving_terminating_ones() {
        let ports = service_ports(&[web()], &[web_slice()], "node1");
        let http = &ports[0];
        let all: Vec<_> = http.usable_endpoints(false).iter().map(|e| e.ip).collect();
        assert_eq!(
            all,
            [Ipv4Addr::new(10, 42, 0, 7), Ipv4Addr::new(10, 42, 1, 9)]
        );
        let local: Vec<_> = http.usable_endpoints(true).iter().map(|e| e.ip).collect();
        assert_eq!(local, [Ipv4Addr::new(10, 42, 0, 7)]);
        let mut terminating = http.clone();
        terminating.endpoints.retain(|e| !e.ready);
        let left: Vec<_> = terminating
            .usable_endpoints(false)
            .iter()
            .map(|e| e.ip)
            .collect();
        assert_eq!(left, [Ipv4Addr::new(10, 42, 0, 8)]);
    }

    #[test]
    fn skips_headless_external_name_and_foreign_slices() {
        let headless = service(json!({
            "metadata": {"namespace": "default", "name": "db"},
            "spec": {"clusterIP": "None", "ports": [{"port": 5432}]}
        }));
        let external = service(json!({
            "metadata": {"namespace": "default", "name": "ext"},
            "spec": {"type": "ExternalName", "externalName": "example.com"}
        }));
        assert!(service_ports(&[headless, external], &[], "node1").is_empty());
        let other_namespace = slice(json!({
            "metadata": {"namespace": "other", "name": "web-x",
                         "labels": {SERVICE_NAME_LABEL: "web"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080}],
            "endpoints": [{"addresses": ["10.42.0.99"]}]
        }));
        let ports = service_ports(&[web()], &[other_namespace], "node1");
        assert!(ports.iter().all(|p| p.endpoints.is_empty()));
    }

    #[test]
    fn load_balancer_ingress_is_served_and_cluster_ip_services_have_no_node_port() {
        let lb = service(json!({
            "metadata": {"namespace": "default", "name": "lb"},
            "spec": {"type": "LoadBalancer", "clusterIP": "10.43.0.30",
                     "ports": [{"port": 443, "nodePort": 31443}],
                     "sessionAffinity": "ClientIP",
                     "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}}},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.168.1.5"}]}}
        }));
        let plain = service(json!({
            "metadata": {"namespace": "default", "name": "plain"},
            "spec": {"clusterIP": "10.43.0.31", "ports": [{"port": 80, "nodePort": 30001}],
                     "internalTrafficPolicy": "Local", "externalTrafficPolicy": "Local"}
        }));
        let ports = service_ports(&[lb, plain], &[], "node1");
        assert_eq!(ports[0].id(), "default/lb/tcp/443");
        assert_eq!(ports[0].external_ips, [Ipv4Addr::new(192, 168, 1, 5)]);
        assert_eq!(ports[0].node_port, Some(31443));
        assert_eq!(ports[0].affinity_timeout, Some(60));
        assert_eq!(ports[1].node_port, None);
        assert!(ports[1].internal_local);
        assert!(
            !ports[1].external_local,
            "no external address to apply it to"
        );
    }
}
