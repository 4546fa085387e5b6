//! Clearing the UDP flows of endpoints a Service port no longer uses, as kube-proxy does: UDP
//! has no connection end, so a client that keeps sending from one socket (a resolver, a
//! syslog sender) stays in its conntrack entry, DNAT'd to the endpoint that is gone, for as
//! long as it keeps sending. Deleting the entry makes its next packet a new flow, which the
//! rules send to a live endpoint.
//!
//! [`stale_flows`] is pure (which endpoints a change leaves behind); [`clear`] talks to the
//! kernel over ctnetlink (`NETLINK_NETFILTER`, no `conntrack` command): a dump of the IPv4
//! entries, then a delete of each UDP entry sent to the Service port whose reply comes from
//! a stale endpoint.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{MsgFlags, recv, send};

use super::model::{Endpoint, Protocol, ServicePort};
use crate::nftables::netlink;

/// UDP flows to an endpoint a Service port no longer uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaleFlows {
    /// The addresses the Service port is reached at (ClusterIP, externalIPs), on `port`.
    pub service_ips: Vec<Ipv4Addr>,
    pub port: u16,
    pub node_port: Option<u16>,
    /// The endpoint that is gone, as DNAT'd to.
    pub endpoint: (Ipv4Addr, u16),
}

fn used(port: &ServicePort) -> Vec<Endpoint> {
    let mut used = port.usable_endpoints(false);
    used.extend(port.usable_endpoints(true));
    used
}

/// The UDP flows that the change of a Service port from `before` to `after` (`None`: gone)
/// leaves pointing at endpoints no longer used.
pub fn stale_flows(before: &ServicePort, after: Option<&ServicePort>) -> Vec<StaleFlows> {
    if before.protocol != Protocol::Udp {
        return Vec::new();
    }
    let now = after.map(used).unwrap_or_default();
    let mut stale: Vec<(Ipv4Addr, u16)> = used(before)
        .into_iter()
        .filter(|e| !now.iter().any(|n| n.ip == e.ip && n.port == e.port))
        .map(|e| (e.ip, e.port))
        .collect();
    stale.sort();
    stale.dedup();
    let mut service_ips = vec![before.cluster_ip];
    service_ips.extend(&before.external_ips);
    stale
        .into_iter()
        .map(|endpoint| StaleFlows {
            service_ips: service_ips.clone(),
            port: before.port,
            node_port: before.node_port,
            endpoint,
        })
        .collect()
}

/// One direction of a conntrack entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tuple {
    pub src: Option<Ipv4Addr>,
    pub dst: Option<Ipv4Addr>,
    pub protocol: u8,
    pub src_port: u16,
    pub dst_port: u16,
}

/// A conntrack entry as dumped: its tuples, and its original tuple's attribute as is (what
/// a delete names it by).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    pub original: Tuple,
    pub reply: Tuple,
    original_attribute: Vec<u8>,
}

const UDP: u8 = 17;

impl StaleFlows {
    /// Whether `entry` is a UDP flow sent to this Service port and answered by the endpoint.
    pub fn matches(&self, entry: &Entry) -> bool {
        let (o, r) = (&entry.original, &entry.reply);
        let to_service = o.dst.is_some_and(|d| self.service_ips.contains(&d))
            && o.dst_port == self.port
            || self.node_port == Some(o.dst_port);
        o.protocol == UDP
            && to_service
            && r.src == Some(self.endpoint.0)
            && r.src_port == self.endpoint.1
    }
}

// Netlink and ctnetlink numbers (linux/netlink.h, linux/netfilter/nfnetlink*.h).
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_GET: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_SRC_PORT: u16 = 2;
const CTA_PROTO_DST_PORT: u16 = 3;
const AF_INET: u8 = 2;

/// The attributes in `data`: (type without flags, payload, the whole attribute).
fn attributes(mut data: &[u8]) -> Vec<(u16, &[u8], &[u8])> {
    let mut out = Vec::new();
    while data.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([data[0], data[1]]));
        let kind = u16::from_ne_bytes([data[2], data[3]]) & 0x3fff;
        if len < 4 || len > data.len() {
            break;
        }
        out.push((kind, &data[4..len], &data[..len]));
        data = data.get((len + 3) & !3..).unwrap_or_default();
    }
    out
}

fn tuple(data: &[u8]) -> Tuple {
    let mut tuple = Tuple::default();
    let ip = |b: &[u8]| <[u8; 4]>::try_from(b).ok().map(Ipv4Addr::from);
    let port = |b: &[u8]| <[u8; 2]>::try_from(b).map_or(0, u16::from_be_bytes);
    for (kind, payload, _) in attributes(data) {
        match kind {
            CTA_TUPLE_IP => {
                for (kind, payload, _) in attributes(payload) {
                    match kind {
                        CTA_IP_V4_SRC => tuple.src = ip(payload),
                        CTA_IP_V4_DST => tuple.dst = ip(payload),
                        _ => {}
                    }
                }
            }
            CTA_TUPLE_PROTO => {
                for (kind, payload, _) in attributes(payload) {
                    match kind {
                        CTA_PROTO_NUM => tuple.protocol = payload.first().copied().unwrap_or(0),
                        CTA_PROTO_SRC_PORT => tuple.src_port = port(payload),
                        CTA_PROTO_DST_PORT => tuple.dst_port = port(payload),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    tuple
}

/// A conntrack entry from the attributes of a ctnetlink message (after its `nfgenmsg`).
pub fn parse_entry(data: &[u8]) -> Entry {
    let mut entry = Entry::default();
    for (kind, payload, whole) in attributes(data) {
        match kind {
            CTA_TUPLE_ORIG => {
                entry.original = tuple(payload);
                entry.original_attribute = whole.to_vec();
            }
            CTA_TUPLE_REPLY => entry.reply = tuple(payload),
            _ => {}
        }
    }
    entry
}

/// A ctnetlink socket.
struct Ctnetlink {
    fd: OwnedFd,
    sequence: u32,
}

impl Ctnetlink {
    fn open() -> io::Result<Ctnetlink> {
        let fd = crate::nftables::netfilter_socket("ctnetlink")?;
        Ok(Ctnetlink { fd, sequence: 0 })
    }

    /// Sends a request and reads the answers until the end of a dump or an acknowledgement;
    /// `each` gets every message's payload after `nfgenmsg`.
    fn exchange(
        &mut self,
        message: u16,
        flags: u16,
        attributes: &[u8],
        mut each: impl FnMut(&[u8]),
    ) -> io::Result<()> {
        self.sequence = self.sequence.wrapping_add(1);
        let packet = netlink::request(
            NFNL_SUBSYS_CTNETLINK,
            message,
            flags,
            self.sequence,
            AF_INET,
            attributes,
        );
        send(self.fd.as_raw_fd(), &packet, MsgFlags::empty())
            .map_err(|e| io::Error::other(format!("ctnetlink send: {e}")))?;
        let mut buffer = vec![0u8; 1 << 16];
        loop {
            let n = recv(self.fd.as_raw_fd(), &mut buffer, MsgFlags::empty())
                .map_err(|e| io::Error::other(format!("ctnetlink receive: {e}")))?;
            for message in netlink::received(buffer.get(..n).unwrap_or_default()) {
                match message.error_code() {
                    Some(0) => return Ok(()),
                    Some(code) => return Err(io::Error::from_raw_os_error(-code)),
                    None if message.kind == netlink::NLMSG_DONE => return Ok(()),
                    None => each(message.body.get(4..).unwrap_or_default()),
                }
            }
        }
    }
}

/// Every IPv4 conntrack entry of this network namespace.
pub fn dump() -> io::Result<Vec<Entry>> {
    let mut socket = Ctnetlink::open()?;
    let mut entries = Vec::new();
    socket.exchange(IPCTNL_MSG_CT_GET, NLM_F_DUMP, &[], |body| {
        entries.push(parse_entry(body));
    })?;
    Ok(entries)
}

/// Deletes the conntrack entries of `flows`; returns how many went.
///
/// # Errors
/// When ctnetlink cannot be used (the dump or a delete fails other than with "gone already").
pub fn clear(flows: &[StaleFlows]) -> io::Result<usize> {
    if flows.is_empty() {
        return Ok(0);
    }
    let entries = dump()?;
    let mut socket = Ctnetlink::open()?;
    let mut deleted = 0;
    for entry in entries
        .iter()
        .filter(|e| flows.iter().any(|f| f.matches(e)))
    {
        match socket.exchange(
            IPCTNL_MSG_CT_DELETE,
            NLM_F_ACK,
            &entry.original_attribute,
            |_| {},
        ) {
            Ok(()) => deleted += 1,
            Err(error) if error.raw_os_error() == Some(libc::ENOENT) => {}
            Err(error) => {
                return Err(io::Error::new(
                    error.kind(),
                    format!("cannot delete the conntrack entry {entry:?}: {error}"),
                ));
            }
        }
    }
    Ok(deleted)
}

#[cfg(test)]
#[path = "conntrack_tests.rs"]
mod tests;
