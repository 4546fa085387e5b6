//! The service proxy's nftables table, rendered whole from the Service ports as one `nft -f`
//! script that replaces the table in a single transaction — a pure function
//! ([`Ruleset::render`]), so every rule is unit-tested without a kernel.
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
use std::fmt::Write;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::model::{Endpoint, Protocol, ServicePort};

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

/// The verdict maps, keyed by their element's key text.
#[derive(Default)]
struct Maps {
    service_ips: BTreeMap<String, String>,
    service_nodeports: BTreeMap<String, String>,
    no_endpoint_services: BTreeMap<String, String>,
    no_endpoint_nodeports: BTreeMap<String, String>,
}

impl Maps {
    /// Adds `key : verdict` unless the key is taken (the first Service port, by id, wins).
    fn add(map: &mut BTreeMap<String, String>, key: String, verdict: String) {
        map.entry(key).or_insert(verdict);
    }
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
        let table = self.table;
        let mut out = delete_script(table);
        let _ = writeln!(out, "table {FAMILY} {table} {{");

        let _ = writeln!(out, "\tchain reject-chain {{");
        let _ = writeln!(out, "\t\tmeta l4proto tcp reject with tcp reset");
        let _ = writeln!(out, "\t\treject");
        let _ = writeln!(out, "\t}}");
        let _ = writeln!(out, "\tchain mark-for-masquerade {{");
        let _ = writeln!(out, "\t\tmeta mark set meta mark | {MASQUERADE_MARK:#x}");
        let _ = writeln!(out, "\t}}");
        let _ = writeln!(out, "\tchain masquerading {{");
        let _ = writeln!(out, "\t\tmeta mark & {MASQUERADE_MARK:#x} == 0 return");
        let _ = writeln!(out, "\t\tmeta mark set meta mark ^ {MASQUERADE_MARK:#x}");
        let _ = writeln!(out, "\t\tmasquerade fully-random");
        let _ = writeln!(out, "\t}}");

        let mut maps = Maps::default();
        for port in self.ports {
            self.render_port(&mut out, &mut maps, port);
        }

        write_map(
            &mut out,
            "service-ips",
            "ipv4_addr . inet_proto . inet_service",
            &maps.service_ips,
        );
        write_map(
            &mut out,
            "service-nodeports",
            "inet_proto . inet_service",
            &maps.service_nodeports,
        );
        write_map(
            &mut out,
            "no-endpoint-services",
            "ipv4_addr . inet_proto . inet_service",
            &maps.no_endpoint_services,
        );
        write_map(
            &mut out,
            "no-endpoint-nodeports",
            "inet_proto . inet_service",
            &maps.no_endpoint_nodeports,
        );

        let _ = writeln!(out, "\tchain services {{");
        let _ = writeln!(
            out,
            "\t\tip daddr . meta l4proto . th dport vmap @service-ips"
        );
        let _ = writeln!(
            out,
            "\t\tfib daddr type local meta l4proto . th dport vmap @service-nodeports"
        );
        let _ = writeln!(out, "\t}}");
        let _ = writeln!(out, "\tchain service-endpoints-check {{");
        let _ = writeln!(
            out,
            "\t\tip daddr . meta l4proto . th dport vmap @no-endpoint-services"
        );
        let _ = writeln!(out, "\t}}");
        let _ = writeln!(out, "\tchain nodeport-endpoints-check {{");
        let _ = writeln!(
            out,
            "\t\tfib daddr type local meta l4proto . th dport vmap @no-endpoint-nodeports"
        );
        let _ = writeln!(out, "\t}}");

        // Priorities as numbers (dstnat -100, srcnat 100; filter chains at -110, ahead of
        // DNAT): older nft accepts the keywords only on some hooks.
        for (name, hook, jump) in [
            ("filter-forward", "forward", "service-endpoints-check"),
            ("filter-output", "output", "service-endpoints-check"),
            ("filter-input", "input", "nodeport-endpoints-check"),
        ] {
            let _ = writeln!(out, "\tchain {name} {{");
            let _ = writeln!(
                out,
                "\t\ttype filter hook {hook} priority -110; policy accept;"
            );
            let _ = writeln!(out, "\t\tct state new jump {jump}");
            let _ = writeln!(out, "\t}}");
        }
        for (name, hook) in [("nat-prerouting", "prerouting"), ("nat-output", "output")] {
            let _ = writeln!(out, "\tchain {name} {{");
            let _ = writeln!(
                out,
                "\t\ttype nat hook {hook} priority -100; policy accept;"
            );
            let _ = writeln!(out, "\t\tjump services");
            let _ = writeln!(out, "\t}}");
        }
        let _ = writeln!(out, "\tchain nat-postrouting {{");
        let _ = writeln!(
            out,
            "\t\ttype nat hook postrouting priority 100; policy accept;"
        );
        let _ = writeln!(out, "\t\tjump masquerading");
        let _ = writeln!(out, "\t}}");
        let _ = writeln!(out, "}}");
        out
    }

    /// The chains of one Service port, and its entries in the verdict maps.
    fn render_port(&self, out: &mut String, maps: &mut Maps, port: &ServicePort) {
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
                let _ = writeln!(out, "\tset {} {{", affinity_set(port, endpoint));
                let _ = writeln!(out, "\t\ttype ipv4_addr");
                let _ = writeln!(out, "\t\tflags dynamic,timeout");
                let _ = writeln!(out, "\t\ttimeout {timeout}s");
                let _ = writeln!(out, "\t}}");
            }
            let _ = writeln!(out, "\tchain {} {{", endpoint_chain(port, endpoint));
            let _ = writeln!(out, "\t\tip saddr {} jump mark-for-masquerade", endpoint.ip);
            if port.affinity_timeout.is_some() {
                let _ = writeln!(
                    out,
                    "\t\tupdate @{} {{ ip saddr }}",
                    affinity_set(port, endpoint)
                );
            }
            let _ = writeln!(
                out,
                "\t\tmeta l4proto {} dnat to {}:{}",
                port.protocol, endpoint.ip, endpoint.port
            );
            let _ = writeln!(out, "\t}}");
        }

        // The balancing chains.
        if needs_all && !all.is_empty() {
            self.balancing_chain(out, &chain("svc", port), port, &all);
        }
        if needs_local && !local.is_empty() {
            self.balancing_chain(out, &chain("local", port), port, &local);
        }

        // ClusterIP.
        let key = ip_key(port.cluster_ip, port.protocol, port.port);
        let internal = if port.internal_local { &local } else { &all };
        if !internal.is_empty() {
            let target = if port.internal_local { "local" } else { "svc" };
            Maps::add(
                &mut maps.service_ips,
                key,
                format!("goto {}", chain(target, port)),
            );
        } else {
            let verdict = if all.is_empty() {
                NoEndpoint::Reject
            } else {
                NoEndpoint::Drop
            };
            Maps::add(
                &mut maps.no_endpoint_services,
                key,
                verdict.verdict().to_string(),
            );
        }

        // NodePort, externalIPs, LoadBalancer ingress.
        if !port.has_external() {
            return;
        }
        let reachable = if all.is_empty() {
            None
        } else if port.external_local {
            let ext = chain("ext", port);
            let _ = writeln!(out, "\tchain {ext} {{");
            // Pods and the node itself still reach every endpoint; only their traffic from
            // the host is masqueraded, so replies come back through it.
            let _ = writeln!(out, "\t\tip saddr {cidr} goto {}", chain("svc", port));
            let _ = writeln!(out, "\t\tfib saddr type local jump mark-for-masquerade");
            let _ = writeln!(out, "\t\tfib saddr type local goto {}", chain("svc", port));
            if local.is_empty() {
                let _ = writeln!(out, "\t\tdrop");
            } else {
                let _ = writeln!(out, "\t\tgoto {}", chain("local", port));
            }
            let _ = writeln!(out, "\t}}");
            Some(ext)
        } else {
            let ext = chain("ext", port);
            let _ = writeln!(out, "\tchain {ext} {{");
            let _ = writeln!(out, "\t\tjump mark-for-masquerade");
            let _ = writeln!(out, "\t\tgoto {}", chain("svc", port));
            let _ = writeln!(out, "\t}}");
            Some(ext)
        };
        let proto = port.protocol;
        for ip in &port.external_ips {
            let key = ip_key(*ip, proto, port.port);
            match &reachable {
                Some(ext) => Maps::add(&mut maps.service_ips, key, format!("goto {ext}")),
                None => Maps::add(
                    &mut maps.no_endpoint_services,
                    key,
                    NoEndpoint::Reject.verdict().to_string(),
                ),
            }
        }
        if let Some(node_port) = port.node_port {
            let key = format!("{proto} . {node_port}");
            match &reachable {
                Some(ext) => Maps::add(&mut maps.service_nodeports, key, format!("goto {ext}")),
                None => Maps::add(
                    &mut maps.no_endpoint_nodeports,
                    key,
                    NoEndpoint::Reject.verdict().to_string(),
                ),
            }
        }
    }

    /// A chain spreading new connections over `endpoints`: clients with affinity go back to
    /// their endpoint, others to a random one.
    fn balancing_chain(
        &self,
        out: &mut String,
        name: &str,
        port: &ServicePort,
        endpoints: &[Endpoint],
    ) {
        let cidr = self.cluster_cidr;
        let _ = writeln!(out, "\tchain {name} {{");
        let _ = writeln!(
            out,
            "\t\tip daddr {} ip saddr != {cidr} jump mark-for-masquerade",
            port.cluster_ip
        );
        if port.affinity_timeout.is_some() {
            for endpoint in endpoints {
                let _ = writeln!(
                    out,
                    "\t\tip saddr @{} goto {}",
                    affinity_set(port, endpoint),
                    endpoint_chain(port, endpoint)
                );
            }
        }
        let choices: Vec<String> = endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| format!("{i} : goto {}", endpoint_chain(port, e)))
            .collect();
        let _ = writeln!(
            out,
            "\t\tnumgen random mod {} vmap {{ {} }}",
            endpoints.len(),
            choices.join(", ")
        );
        let _ = writeln!(out, "\t}}");
    }
}

fn write_map(out: &mut String, name: &str, key_type: &str, elements: &BTreeMap<String, String>) {
    let _ = writeln!(out, "\tmap {name} {{");
    let _ = writeln!(out, "\t\ttype {key_type} : verdict");
    if !elements.is_empty() {
        let _ = writeln!(out, "\t\telements = {{");
        for (key, verdict) in elements {
            let _ = writeln!(out, "\t\t\t{key} : {verdict},");
        }
        let _ = writeln!(out, "\t\t}}");
    }
    let _ = writeln!(out, "\t}}");
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
