//! kedge's nftables table for the pod network, rendered as one `nft -f` script that replaces the
//! whole table in a single transaction (so a re-render is atomic and idempotent).
//!
//! One `inet` table (default `kedge`) with:
//! - `forward`: accept traffic to and from the bridge and the cluster CIDR;
//! - `postrouting`: flannel's masquerade rules — pod traffic staying in the cluster CIDR or going
//!   to multicast is left alone, pod traffic leaving the cluster CIDR is masqueraded (fully
//!   random); hostPort traffic that came from 127.0.0.0/8 or hairpins back to its own pod is
//!   masqueraded too, as the CNI `portmap` plugin does;
//! - `prerouting`/`output` jumping to `hostports` for packets addressed to the node itself,
//!   where each hostPort mapping is one DNAT rule.

use std::fmt::Write;
use std::net::IpAddr;

use ipnet::IpNet;

use super::{HostPort, Protocol};

/// The nftables family of kedge's table.
pub const FAMILY: &str = "inet";

/// One pod's hostPort mappings, with the pod's IP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodHostPorts {
    pub pod_ip: IpAddr,
    pub host_ports: Vec<HostPort>,
}

/// What the table is rendered from.
#[derive(Clone, Debug)]
pub struct Ruleset<'a> {
    pub table: &'a str,
    pub bridge: &'a str,
    pub cluster_cidr: IpNet,
    pub pods: Vec<PodHostPorts>,
}

/// The script that deletes the table if it exists (`nft` has no `delete table` that tolerates
/// a missing table, so it is declared first).
pub fn delete_script(table: &str) -> String {
    format!("table {FAMILY} {table}\ndelete table {FAMILY} {table}\n")
}

fn ip_keyword(net: IpNet) -> &'static str {
    match net {
        IpNet::V4(_) => "ip",
        IpNet::V6(_) => "ip6",
    }
}

fn addr_keyword(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "ip",
        IpAddr::V6(_) => "ip6",
    }
}

fn protocol_keyword(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    }
}

/// `ip:port`, bracketed for IPv6.
fn socket(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}

impl Ruleset<'_> {
    /// The whole script: declare, delete, and define the table, applied as one transaction.
    pub fn render(&self) -> String {
        let table = self.table;
        let bridge = self.bridge;
        let cluster = self.cluster_cidr;
        let ipk = ip_keyword(cluster);
        let multicast = match cluster {
            IpNet::V4(_) => "224.0.0.0/4",
            IpNet::V6(_) => "ff00::/8",
        };
        let mut out = delete_script(table);
        let _ = writeln!(out, "table {FAMILY} {table} {{");

        let _ = writeln!(out, "\tchain forward {{");
        let _ = writeln!(
            out,
            "\t\ttype filter hook forward priority filter; policy accept;"
        );
        let _ = writeln!(out, "\t\tiifname \"{bridge}\" accept");
        let _ = writeln!(out, "\t\toifname \"{bridge}\" accept");
        let _ = writeln!(out, "\t\t{ipk} saddr {cluster} accept");
        let _ = writeln!(out, "\t\t{ipk} daddr {cluster} accept");
        let _ = writeln!(out, "\t}}");

        let _ = writeln!(out, "\tchain postrouting {{");
        let _ = writeln!(
            out,
            "\t\ttype nat hook postrouting priority srcnat; policy accept;"
        );
        if matches!(cluster, IpNet::V4(_)) {
            let _ = writeln!(
                out,
                "\t\toifname \"{bridge}\" ip saddr 127.0.0.0/8 ct status dnat masquerade"
            );
        }
        for pod in &self.pods {
            if !pod.host_ports.is_empty() {
                let k = addr_keyword(pod.pod_ip);
                let ip = pod.pod_ip;
                let _ = writeln!(
                    out,
                    "\t\t{k} saddr {ip} {k} daddr {ip} ct status dnat masquerade"
                );
            }
        }
        let _ = writeln!(
            out,
            "\t\t{ipk} saddr {cluster} {ipk} daddr {cluster} return"
        );
        let _ = writeln!(
            out,
            "\t\t{ipk} saddr {cluster} {ipk} daddr {multicast} return"
        );
        let _ = writeln!(out, "\t\t{ipk} saddr {cluster} masquerade fully-random");
        let _ = writeln!(out, "\t}}");

        // `dstnat` (-100) is spelled as a number: older nft accepts the keyword only on
        // prerouting.
        for hook in ["prerouting", "output"] {
            let _ = writeln!(out, "\tchain {hook} {{");
            let _ = writeln!(
                out,
                "\t\ttype nat hook {hook} priority -100; policy accept;"
            );
            let _ = writeln!(out, "\t\tfib daddr type local jump hostports");
            let _ = writeln!(out, "\t}}");
        }

        let _ = writeln!(out, "\tchain hostports {{");
        for pod in &self.pods {
            for port in &pod.host_ports {
                let _ = writeln!(out, "\t\t{}", hostport_rule(pod.pod_ip, port));
            }
        }
        let _ = writeln!(out, "\t}}");
        let _ = writeln!(out, "}}");
        out
    }
}

/// One DNAT rule: `[ip daddr HOST] tcp dport P dnat ip to POD:C`. A host IP of another family
/// than the pod's, or unspecified (`0.0.0.0`), means every address of the node.
fn hostport_rule(pod_ip: IpAddr, port: &HostPort) -> String {
    let k = addr_keyword(pod_ip);
    let proto = protocol_keyword(port.protocol);
    let mut rule = String::new();
    if let Some(host_ip) = port.host_ip
        && !host_ip.is_unspecified()
        && host_ip.is_ipv4() == pod_ip.is_ipv4()
    {
        let _ = write!(rule, "{k} daddr {host_ip} ");
    }
    // `meta nfproto` keeps an IPv4 mapping from matching IPv6 packets in the inet table.
    let nfproto = if pod_ip.is_ipv4() { "ipv4" } else { "ipv6" };
    let _ = write!(
        rule,
        "meta nfproto {nfproto} {proto} dport {} dnat {k} to {}",
        port.host_port,
        socket(pod_ip, port.container_port)
    );
    rule
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ruleset(pods: Vec<PodHostPorts>) -> String {
        Ruleset {
            table: "kedge",
            bridge: "cni0",
            cluster_cidr: "10.42.0.0/16".parse().unwrap(),
            pods,
        }
        .render()
    }

    #[test]
    fn replaces_the_table_in_one_script() {
        let script = ruleset(Vec::new());
        assert!(
            script.starts_with("table inet kedge\ndelete table inet kedge\ntable inet kedge {\n")
        );
        assert!(script.contains("iifname \"cni0\" accept"));
        assert!(script.contains("ip saddr 10.42.0.0/16 ip daddr 10.42.0.0/16 return"));
        assert!(script.contains("ip saddr 10.42.0.0/16 ip daddr 224.0.0.0/4 return"));
        assert!(script.contains("ip saddr 10.42.0.0/16 masquerade fully-random"));
        assert!(script.contains("fib daddr type local jump hostports"));
        assert!(script.ends_with("\tchain hostports {\n\t}\n}\n"));
    }

    #[test]
    fn host_ports_become_dnat_rules() {
        let pod_ip: IpAddr = "10.42.0.5".parse().unwrap();
        let script = ruleset(vec![PodHostPorts {
            pod_ip,
            host_ports: vec![
                HostPort {
                    host_port: 8080,
                    container_port: 80,
                    protocol: Protocol::Tcp,
                    host_ip: None,
                },
                HostPort {
                    host_port: 5353,
                    container_port: 53,
                    protocol: Protocol::Udp,
                    host_ip: Some("192.0.2.2".parse().unwrap()),
                },
            ],
        }]);
        assert!(script.contains("\t\tmeta nfproto ipv4 tcp dport 8080 dnat ip to 10.42.0.5:80\n"));
        assert!(script.contains(
            "\t\tip daddr 192.0.2.2 meta nfproto ipv4 udp dport 5353 dnat ip to 10.42.0.5:53\n"
        ));
        assert!(script.contains("ip saddr 10.42.0.5 ip daddr 10.42.0.5 ct status dnat masquerade"));
    }

    #[test]
    fn ipv6_uses_ip6_matches() {
        let script = Ruleset {
            table: "kt1",
            bridge: "kt1",
            cluster_cidr: "fd00:42::/56".parse().unwrap(),
            pods: vec![PodHostPorts {
                pod_ip: "fd00:42::5".parse().unwrap(),
                host_ports: vec![HostPort {
                    host_port: 8080,
                    container_port: 80,
                    protocol: Protocol::Sctp,
                    host_ip: Some("0.0.0.0".parse().unwrap()),
                }],
            }],
        }
        .render();
        assert!(script.contains("ip6 saddr fd00:42::/56 masquerade fully-random"));
        assert!(script.contains("ip6 daddr ff00::/8 return"));
        assert!(script.contains("meta nfproto ipv6 sctp dport 8080 dnat ip6 to [fd00:42::5]:80"));
        assert!(!script.contains("127.0.0.0/8"));
    }

    /// The table applied over netlink lists exactly as the one `nft -f` makes, for IPv4
    /// and IPv6 pods with host ports, and both delete scripts remove it. Needs root and the
    /// `nft` command (to list); skips without root, fails in CI.
    #[test]
    fn netlink_makes_the_table_nft_makes() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            assert!(std::env::var_os("CI").is_none(), "needs root in CI");
            eprintln!("skipped: needs root");
            return;
        }
        let port = |host_port, protocol, host_ip: Option<&str>| HostPort {
            host_port,
            container_port: 80,
            protocol,
            host_ip: host_ip.map(|ip| ip.parse().unwrap()),
        };
        let v4 = ruleset(vec![PodHostPorts {
            pod_ip: "10.42.0.5".parse().unwrap(),
            host_ports: vec![
                port(8080, Protocol::Tcp, None),
                port(5353, Protocol::Udp, Some("192.0.2.2")),
                port(9090, Protocol::Sctp, Some("0.0.0.0")),
            ],
        }]);
        let v6 = Ruleset {
            table: "kedge",
            bridge: "cni0",
            cluster_cidr: "fd00:42::/56".parse().unwrap(),
            pods: vec![PodHostPorts {
                pod_ip: "fd00:42::5".parse().unwrap(),
                host_ports: vec![port(8080, Protocol::Tcp, Some("fd00::1"))],
            }],
        }
        .render();
        let scripts = vec![
            ruleset(Vec::new()),
            v4,
            v6,
            delete_script("kedge"),
            delete_script("kedge"),
        ];
        let nft = |script: &str| {
            use std::io::Write;
            let mut child = std::process::Command::new("nft")
                .args(["-f", "-"])
                .stdin(std::process::Stdio::piped())
                .spawn()?;
            child.stdin.take().unwrap().write_all(script.as_bytes())?;
            match child.wait()?.success() {
                true => Ok(()),
                false => Err(std::io::Error::other("nft failed")),
            }
        };
        let by_nft = crate::nftables::listings(&scripts, "inet kedge", nft);
        let by_netlink = crate::nftables::listings(&scripts, "inet kedge", crate::nftables::apply);
        assert!(
            by_nft[1].contains("dnat ip to 10.42.0.5:80"),
            "{}",
            by_nft[1]
        );
        assert_eq!(by_nft[3], "");
        assert_eq!(by_nft, by_netlink);
    }

    #[test]
    fn delete_script_tolerates_a_missing_table() {
        assert_eq!(
            delete_script("kt42"),
            "table inet kt42\ndelete table inet kt42\n"
        );
    }
}
