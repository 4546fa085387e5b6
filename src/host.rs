//! Facts about this machine that configuration defaults depend on: its hostname and the
//! address it is reached at (its default route's, else its first interface address).

use std::net::{IpAddr, Ipv4Addr, UdpSocket};

/// The kernel's hostname.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The address this machine is reached at when none is configured: the default route's
/// source address, else (an air-gapped machine may have no default route) the first global
/// IPv4 address of an interface that is up; `None` when it has only loopback addresses.
pub fn node_ip() -> Option<IpAddr> {
    default_route_ip().or_else(first_interface_ip)
}

/// The first global IPv4 address of an interface that is up, loopback excluded.
fn first_interface_ip() -> Option<IpAddr> {
    use nix::net::if_::InterfaceFlags;
    let addresses = nix::ifaddrs::getifaddrs().ok()?;
    addresses
        .filter(|a| {
            a.flags.contains(InterfaceFlags::IFF_UP)
                && !a.flags.contains(InterfaceFlags::IFF_LOOPBACK)
        })
        .filter_map(|a| a.address?.as_sockaddr_in().map(|s| s.ip()))
        .find(|ip| !ip.is_loopback() && !ip.is_link_local() && !ip.is_unspecified())
        .map(IpAddr::V4)
}

/// The source address of the default route, found by connecting (not sending) a UDP socket;
/// `None` when the machine has no default route.
pub fn default_route_ip() -> Option<IpAddr> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    socket.connect((Ipv4Addr::new(203, 0, 113, 1), 9)).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}
