//! Whether the ports kedge listens on are free, read from the kernel's socket tables
//! (`/proc/net/{tcp,tcp6,udp,udp6}`) rather than by binding, so the check needs no privilege
//! and reads a fake tree in tests.

use super::{Check, HostRoot, Status};

/// A port kedge needs, and what uses it.
struct Port {
    number: u16,
    udp: bool,
    what: &'static str,
    flag: &'static str,
}

const PORTS: [Port; 3] = [
    Port {
        number: 6443,
        udp: false,
        what: "API server",
        flag: "--https-listen-port",
    },
    Port {
        number: 10250,
        udp: false,
        what: "kubelet",
        flag: "",
    },
    Port {
        number: 8472,
        udp: true,
        what: "VXLAN pod network",
        flag: "",
    },
];

pub(super) fn checks(host: &HostRoot) -> Vec<Check> {
    PORTS
        .iter()
        .map(|port| {
            let proto = if port.udp { "udp" } else { "tcp" };
            let name = format!("port {}/{proto} ({})", port.number, port.what);
            let tables = if port.udp {
                ["/proc/net/udp", "/proc/net/udp6"]
            } else {
                ["/proc/net/tcp", "/proc/net/tcp6"]
            };
            let used = tables
                .iter()
                .filter_map(|t| host.read(t))
                .any(|t| in_use(&t, port.number, port.udp));
            let status = if used {
                let ss = if port.udp { "-lunp" } else { "-ltnp" };
                let other = if port.flag.is_empty() {
                    String::new()
                } else {
                    format!(", or give kedge another port with {}", port.flag)
                };
                Status::Missing(format!(
                    "the port is in use (by kedge itself if it is running): find the owner with `ss {ss} 'sport = :{}'` and stop it{other}",
                    port.number
                ))
            } else {
                Status::Ok(String::new())
            };
            Check::new("Ports", name, true, status)
        })
        .collect()
}

/// Whether a socket table has a socket on local port `port`: listening (TCP state 0A), or
/// bound at all (UDP).
fn in_use(table: &str, port: u16, udp: bool) -> bool {
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(local), Some(state)) = (fields.get(1), fields.get(3)) else {
            return false;
        };
        let local_port = local
            .rsplit_once(':')
            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
        local_port == Some(port) && (udp || *state == "0A")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:192B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:2802 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1
";

    #[test]
    fn listening_tcp_is_in_use_but_a_connection_is_not() {
        // 0x192B = 6443 listening; 0x2802 = 10242 connected, not listening.
        assert!(in_use(TCP, 6443, false));
        assert!(!in_use(TCP, 10242, false));
        assert!(!in_use(TCP, 10250, false));
    }

    #[test]
    fn any_bound_udp_socket_is_in_use() {
        let udp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  12: 00000000:2118 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 3 2 0 0
";
        assert!(in_use(udp, 8472, true));
        assert!(!in_use(udp, 8473, true));
    }
}
