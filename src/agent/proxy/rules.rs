//! The service proxy's nftables table, built whole from the Service ports — a pure function
//! ([`Ruleset::build`], [`Ruleset::render`] for the full script), so every rule is unit-tested
//! without a kernel; [`super::table`] turns it into a script replacing or updating the table.
//!
//! The layout follows kube-proxy's nftables mode, in table `ip kedge-proxy`:
//! - verdict maps keyed by destination: `service-ips` (`ClusterIP|externalIP|LB IP . proto .
//!   port`) and `service-nodeports` (`proto . port`, for any address of the node), jumped to
//!   from the `nat` prerouting and output hooks;
//! - per Service port: `svc-<id>` balancing over all usable endpoints with `numgen random`,
//!   `local-<id>` over this node's (traffic policy Local), `ext-<id>` for NodePort,
//!   externalIPs and LoadBalancer traffic (masquerade for policy Cluster; policy Local keeps the
//!   client's address and only uses local endpoints);
//! - per endpoint: `ep-<id>__<ip>/<port>`: masquerade when a pod reaches itself (hairpin),
//!   remember the client for session affinity (a set with timeout per endpoint), then DNAT;
//! - Service ports without endpoints are rejected at once (TCP reset, else ICMP port
//!   unreachable) by `filter` chains ahead of routing: `no-endpoint-services` and
//!   `no-endpoint-nodeports`;
//! - `masquerading` in postrouting SNATs what was marked, as well as traffic reaching a
//!   ClusterIP from outside the cluster CIDR (the host itself, for example).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::model::{Endpoint, Protocol, ServicePort};
pub use super::table::{Object, Table};

/// The key of maps by destination address.
const IP_KEY: &str = "ipv4_addr . inet_proto . inet_service";
/// The key of maps by port on any node address.
const PORT_KEY: &str = "inet_proto . inet_service";

/// The nftables family of the proxy's table.
pub const FAMILY: &str = "ip";
/// The proxy's table (its name starts with `kedge`, so `kedge-killall.sh` removes it).
pub const DEFAULT_TABLE: &str = "kedge-proxy";
/// The packet mark asking for masquerade (kube-proxy's bit).
pub const MASQUERADE_MARK: u32 = 0x4000;

/// What the table is rendered from.
#[derive(Clone, Debug)]
pub struct Ruleset<'a> {
    pub table: &'a str,
    /// The cluster's pod CIDR: ClusterIP traffic from outside it is masqueraded.
    pub cluster_cidr: Ipv4Net,
    pub ports: &'a [ServicePort],
}

/// The script that deletes the table if it exists.
pub fn delete_script(table: &str) -> String {
    format!("table {FAMILY} {table}\ndelete table {FAMILY} {table}\n")
}

/// What a destination leads to when the port has no usable endpoint for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NoEndpoint {
    /// No endpoint at all: refuse at once.
    Reject,
    /// Endpoints exist, just none allowed by a Local policy: drop, as upstream does.
    Drop,
}

impl NoEndpoint {
    fn verdict(self) -> &'static str {
        match self {
            NoEndpoint::Reject => "goto reject-chain",
            NoEndpoint::Drop => "drop",
        }
    }
}

/// The verdict maps: name and key type, in the order of [`PortRules::elements`]' indices.
pub const MAPS: [(&str, &str); 4] = [
    ("service-ips", IP_KEY),
    ("service-nodeports", PORT_KEY),
    ("no-endpoint-services", IP_KEY),
    ("no-endpoint-nodeports", PORT_KEY),
];
const SERVICE_IPS: usize = 0;
const SERVICE_NODEPORTS: usize = 1;
const NO_ENDPOINT_SERVICES: usize = 2;
const NO_ENDPOINT_NODEPORTS: usize = 3;

/// What one Service port puts in the table: its chains and sets (each defined before it is
/// referenced), and its map elements as (index in [`MAPS`], key, verdict). Where ports claim
/// the same key, the first port by id wins (and within a port, its first claim).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortRules {
    pub objects: Vec<Object>,
    pub elements: Vec<(usize, String, String)>,
}

fn ip_key(ip: Ipv4Addr, protocol: Protocol, port: u16) -> String {
    format!("{ip} . {protocol} . {port}")
}

fn chain(prefix: &str, port: &ServicePort) -> String {
    format!("{prefix}-{}", port.id())
}

fn endpoint_chain(port: &ServicePort, endpoint: &Endpoint) -> String {
    format!("ep-{}__{}/{}", port.id(), endpoint.ip, endpoint.port)
}

fn affinity_set(port: &ServicePort, endpoint: &Endpoint) -> String {
    format!("affinity-{}__{}/{}", port.id(), endpoint.ip, endpoint.port)
}

impl Ruleset<'_> {
    /// The whole script: declare, delete, and define the table, applied as one transaction.
    /// Everything is defined before it is referenced.
    pub fn render(&self) -> String {
        self.build().full_script()
    }

    /// The table as named objects, for a full script or an update from an earlier table.
    pub fn build(&self) -> Table {
        let mut objects = Vec::new();
        let mut maps: [BTreeMap<String, String>; 4] = Default::default();
        for port in self.ports {
            let rules = self.port_rules(port);
            objects.extend(rules.objects);
            for (map, key, verdict) in rules.elements {
                if let Some(elements) = maps.get_mut(map) {
                    elements.entry(key).or_insert(verdict);
                }
            }
        }
        Table::new(self.table, objects, maps)
    }

    /// The chains, sets and map elements of one Service port.
    pub fn port_rules(&self, port: &ServicePort) -> PortRules {
        let mut rules = PortRules::default();
        self.render_port(&mut rules, port);
        rules
    }

    fn render_port(&self, out: &mut PortRules, port: &ServicePort) {
        let objects = &mut out.objects;
        let elements = &mut out.elements;
        let cidr = self.cluster_cidr;
        let all = port.usable_endpoints(false);
        let local = port.usable_endpoints(true);
        let needs_local = port.internal_local || port.external_local;
        // The chain over all endpoints serves ClusterIP traffic (policy Cluster) and external
        // traffic (from pods and the node, always).
        let needs_all = !port.internal_local || port.has_external();

        // Endpoint chains (and their affinity sets) for every endpoint some chain uses.
        let mut used: Vec<Endpoint> = Vec::new();
        if needs_all {
            used.extend(all.iter().copied());
        }
        if needs_local {
            used.extend(local.iter().copied());
        }
        used.sort();
        used.dedup();
        for endpoint in &used {
            if let Some(timeout) = port.affinity_timeout {
                objects.push(Object::AffinitySet {
                    name: affinity_set(port, endpoint),
                    timeout,
                });
            }
            let mut rules = vec![format!("ip saddr {} jump mark-for-masquerade", endpoint.ip)];
            if port.affinity_timeout.is_some() {
                rules.push(format!(
                    "update @{} {{ ip saddr }}",
                    affinity_set(port, endpoint)
                ));
            }
            rules.push(format!(
                "meta l4proto {} dnat to {}:{}",
                port.protocol, endpoint.ip, endpoint.port
            ));
            objects.push(Object::Chain {
                name: endpoint_chain(port, endpoint),
                rules,
            });
        }

        // The balancing chains.
        if needs_all && !all.is_empty() {
            objects.push(self.balancing_chain(&chain("svc", port), port, &all));
        }
        if needs_local && !local.is_empty() {
            objects.push(self.balancing_chain(&chain("local", port), port, &local));
        }

        // ClusterIP.
        let key = ip_key(port.cluster_ip, port.protocol, port.port);
        let internal = if port.internal_local { &local } else { &all };
        if !internal.is_empty() {
            let target = if port.internal_local { "local" } else { "svc" };
            elements.push((SERVICE_IPS, key, format!("goto {}", chain(target, port))));
        } else {
            let verdict = if all.is_empty() {
                NoEndpoint::Reject
            } else {
                NoEndpoint::Drop
            };
            elements.push((NO_ENDPOINT_SERVICES, key, verdict.verdict().to_string()));
        }

        // NodePort, externalIPs, LoadBalancer ingress.
        if !port.has_external() {
            return;
        }
        let reachable = if all.is_empty() {
            None
        } else {
            let ext = chain("ext", port);
            let svc = chain("svc", port);
            let rules = if port.external_local {
                // Pods and the node itself still reach every endpoint; only the node's traffic
                // is masqueraded, so replies come back through it.
                vec![
                    format!("ip saddr {cidr} goto {svc}"),
                    "fib saddr type local jump mark-for-masquerade".to_string(),
                    format!("fib saddr type local goto {svc}"),
                    if local.is_empty() {
                        "drop".to_string()
                    } else {
                        format!("goto {}", chain("local", port))
                    },
                ]
            } else {
                vec![
                    "jump mark-for-masquerade".to_string(),
                    format!("goto {svc}"),
                ]
            };
            objects.push(Object::Chain {
                name: ext.clone(),
                rules,
            });
            Some(ext)
        };
        let proto = port.protocol;
        for ip in &port.external_ips {
            let key = ip_key(*ip, proto, port.port);
            elements.push(match &reachable {
                Some(ext) => (SERVICE_IPS, key, format!("goto {ext}")),
                None => (
                    NO_ENDPOINT_SERVICES,
                    key,
                    NoEndpoint::Reject.verdict().to_string(),
                ),
            });
        }
        if let Some(node_port) = port.node_port {
            let key = format!("{proto} . {node_port}");
            elements.push(match &reachable {
                Some(ext) => (SERVICE_NODEPORTS, key, format!("goto {ext}")),
                None => (
                    NO_ENDPOINT_NODEPORTS,
                    key,
                    NoEndpoint::Reject.verdict().to_string(),
                ),
            });
        }
    }

    /// A chain spreading new connections over `endpoints`: clients with affinity go back to
    /// their endpoint, others to a random one.
    fn balancing_chain(&self, name: &str, port: &ServicePort, endpoints: &[Endpoint]) -> Object {
        let cidr = self.cluster_cidr;
        let mut rules = vec![format!(
            "ip daddr {} ip saddr != {cidr} jump mark-for-masquerade",
            port.cluster_ip
        )];
        if port.affinity_timeout.is_some() {
            for endpoint in endpoints {
                rules.push(format!(
                    "ip saddr @{} goto {}",
                    affinity_set(port, endpoint),
                    endpoint_chain(port, endpoint)
                ));
            }
        }
        let choices: Vec<String> = endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| format!("{i} : goto {}", endpoint_chain(port, e)))
            .collect();
        rules.push(format!(
            "numgen random mod {} vmap {{ {} }}",
            endpoints.len(),
            choices.join(", ")
        ));
        Object::Chain {
            name: name.to_string(),
            rules,
        }
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
