//! The Linux implementation of [`NetworkKernel`]: links, addresses and routes over rtnetlink
//! (pure Rust netlink, one short-lived connection per operation), sysctls through `/proc/sys`,
//! and nftables over netlink ([`crate::nftables`], one transaction per script).
//!
//! Work inside a pod's network namespace uses a netlink socket opened by a short-lived thread
//! that first joins the namespace (`setns`): a netlink socket stays bound to the namespace it
//! was created in, so the thread can end at once and no tokio worker ever changes namespace.

use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::path::Path;

use async_trait::async_trait;
use futures::TryStreamExt;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVeth, LinkAttribute, LinkMessage};
use rtnetlink::packet_route::route::{RouteAttribute, RouteMessage};
use rtnetlink::{Handle, LinkBridge, LinkBridgePort, LinkMessageBuilder, LinkUnspec, LinkVeth};

use super::kernel::{BridgeSpec, NetworkKernel, PodInterfaceSpec};

/// The pod's end of its veth pair.
pub const POD_INTERFACE: &str = "eth0";

/// The real kernel.
#[derive(Clone, Copy, Debug, Default)]
pub struct LinuxNetwork;

/// An rtnetlink error as an `io::Error`, keeping the errno of a kernel refusal.
pub(crate) fn netlink_err(step: &str, error: rtnetlink::Error) -> io::Error {
    match &error {
        rtnetlink::Error::NetlinkError(message) if message.raw_code() != 0 => {
            let errno = message.to_io();
            io::Error::new(errno.kind(), format!("{step}: {errno}"))
        }
        _ => io::Error::other(format!("{step}: {error}")),
    }
}

/// Whether the kernel refused with `errno`.
pub(crate) fn is_errno(error: &rtnetlink::Error, errno: i32) -> bool {
    matches!(error, rtnetlink::Error::NetlinkError(m) if m.raw_code() == -errno)
}

/// A connection in the agent's own network namespace.
fn connect() -> io::Result<Handle> {
    let (connection, handle, _) = rtnetlink::new_connection()?;
    tokio::spawn(connection);
    Ok(handle)
}

/// A connection in the network namespace bind-mounted at `netns`.
async fn connect_in(netns: &Path) -> io::Result<Handle> {
    let file = std::fs::File::open(netns).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("opening the network namespace {}: {e}", netns.display()),
        )
    })?;
    let runtime = tokio::runtime::Handle::current();
    let joined = std::thread::spawn(move || {
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| io::Error::from_raw_os_error(e as i32))?;
        let _entered = runtime.enter();
        rtnetlink::new_connection()
    });
    let (connection, handle, _) = tokio::task::spawn_blocking(move || joined.join())
        .await
        .map_err(io::Error::other)?
        .map_err(|_| {
            io::Error::other("the thread joining the pod's network namespace panicked")
        })??;
    tokio::spawn(connection);
    Ok(handle)
}

/// The link called `name`, if any.
async fn link_by_name(handle: &Handle, name: &str) -> io::Result<Option<LinkMessage>> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(link) => Ok(link),
        Err(e) if is_errno(&e, libc::ENODEV) => Ok(None),
        Err(e) => Err(netlink_err(&format!("looking up link {name}"), e)),
    }
}

async fn link_index(handle: &Handle, name: &str) -> io::Result<u32> {
    link_by_name(handle, name)
        .await?
        .map(|l| l.header.index)
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("link {name} not found")))
}

async fn set_up(handle: &Handle, name: &str) -> io::Result<()> {
    handle
        .link()
        .set(LinkUnspec::new_with_name(name).up().build())
        .execute()
        .await
        .map_err(|e| netlink_err(&format!("bringing {name} up"), e))
}

/// Adds `address` to link `index` unless it is there already.
async fn ensure_address(handle: &Handle, index: u32, address: ipnet::IpNet) -> io::Result<()> {
    let mut existing = handle
        .address()
        .get()
        .set_link_index_filter(index)
        .execute();
    while let Some(message) = existing
        .try_next()
        .await
        .map_err(|e| netlink_err("listing addresses", e))?
    {
        let has = message.header.prefix_len == address.prefix_len()
            && message
                .attributes
                .iter()
                .any(|a| matches!(a, AddressAttribute::Address(ip) if *ip == address.addr()));
        if has {
            return Ok(());
        }
    }
    handle
        .address()
        .add(index, address.addr(), address.prefix_len())
        .execute()
        .await
        .map_err(|e| netlink_err(&format!("adding address {address}"), e))
}

/// A random locally administered unicast MAC, so the bridge keeps one address whatever ports
/// join or leave (otherwise it takes the lowest port's and pods' ARP entries go stale).
fn random_mac() -> Vec<u8> {
    let mut mac: Vec<u8> = (0..6).map(|_| fastrand::u8(..)).collect();
    mac[0] = (mac[0] & 0xfe) | 0x02;
    mac
}

#[async_trait]
impl NetworkKernel for LinuxNetwork {
    async fn default_route_mtu(&self) -> io::Result<Option<u32>> {
        let handle = connect()?;
        let mut routes = handle
            .route()
            .get(rtnetlink::RouteMessageBuilder::<std::net::Ipv4Addr>::new().build())
            .execute();
        let mut oif = None;
        while let Some(route) = routes
            .try_next()
            .await
            .map_err(|e| netlink_err("listing routes", e))?
        {
            if is_default(&route)
                && let Some(index) = route.attributes.iter().find_map(|a| match a {
                    RouteAttribute::Oif(i) => Some(*i),
                    _ => None,
                })
            {
                oif = Some(index);
                break;
            }
        }
        let Some(index) = oif else {
            return Ok(None);
        };
        let mut links = handle.link().get().match_index(index).execute();
        let link = links
            .try_next()
            .await
            .map_err(|e| netlink_err("reading the default route's link", e))?;
        Ok(link.and_then(|l| {
            l.attributes.iter().find_map(|a| match a {
                LinkAttribute::Mtu(mtu) => Some(*mtu),
                _ => None,
            })
        }))
    }

    async fn ensure_bridge(&self, bridge: &BridgeSpec) -> io::Result<()> {
        let handle = connect()?;
        let name = bridge.name.as_str();
        if link_by_name(&handle, name).await?.is_none() {
            let message = LinkBridge::new(name)
                .mtu(bridge.mtu)
                .address(random_mac())
                .build();
            match handle.link().add(message).execute().await {
                Ok(()) => {}
                // Created meanwhile by someone else: configure that one.
                Err(e) if is_errno(&e, libc::EEXIST) => {}
                Err(e) => return Err(netlink_err(&format!("creating bridge {name}"), e)),
            }
        } else {
            handle
                .link()
                .set(LinkUnspec::new_with_name(name).mtu(bridge.mtu).build())
                .execute()
                .await
                .map_err(|e| netlink_err(&format!("setting the MTU of {name}"), e))?;
        }
        let index = link_index(&handle, name).await?;
        ensure_address(&handle, index, bridge.gateway).await?;
        set_up(&handle, name).await
    }

    async fn delete_bridge(&self, name: &str) -> io::Result<()> {
        let handle = connect()?;
        let Some(bridge) = link_by_name(&handle, name).await? else {
            return Ok(());
        };
        let index = bridge.header.index;
        let mut ports = Vec::new();
        let mut links = handle.link().get().execute();
        while let Some(link) = links
            .try_next()
            .await
            .map_err(|e| netlink_err("listing links", e))?
        {
            if link
                .attributes
                .iter()
                .any(|a| matches!(a, LinkAttribute::Controller(c) if *c == index))
            {
                ports.push(link.header.index);
            }
        }
        for port in ports.into_iter().chain([index]) {
            match handle.link().del(port).execute().await {
                Ok(()) => {}
                Err(e) if is_errno(&e, libc::ENODEV) => {}
                Err(e) => return Err(netlink_err(&format!("deleting link {port} of {name}"), e)),
            }
        }
        Ok(())
    }

    async fn write_sysctl(&self, path: &str, value: &str) -> io::Result<()> {
        let file = Path::new("/proc/sys").join(path);
        tokio::fs::write(&file, value).await.map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("writing {value} to {}: {e}", file.display()),
            )
        })
    }

    async fn apply_nftables(&self, script: &str) -> io::Result<()> {
        let script = script.to_string();
        tokio::task::spawn_blocking(move || crate::nftables::apply(&script))
            .await
            .map_err(io::Error::other)?
    }

    async fn create_pod_interface(&self, spec: &PodInterfaceSpec) -> io::Result<()> {
        let host = connect()?;
        let name = spec.host_name.as_str();
        if let Some(old) = link_by_name(&host, name).await? {
            host.link()
                .del(old.header.index)
                .execute()
                .await
                .map_err(|e| netlink_err(&format!("deleting the old {name}"), e))?;
        }
        let bridge = link_index(&host, &spec.bridge).await?;
        let netns = std::fs::File::open(&spec.netns).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "opening the network namespace {}: {e}",
                    spec.netns.display()
                ),
            )
        })?;
        let peer = LinkMessageBuilder::<LinkUnspec>::new()
            .name(POD_INTERFACE.to_string())
            .mtu(spec.mtu)
            .setns_by_fd(netns.as_raw_fd())
            .build();
        let veth = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
            .name(name.to_string())
            .mtu(spec.mtu)
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
            .build();
        host.link()
            .add(veth)
            .execute()
            .await
            .map_err(|e| netlink_err(&format!("creating veth {name} with eth0 in the pod"), e))?;
        drop(netns);

        let index = link_index(&host, name).await?;
        host.link()
            .set(LinkUnspec::new_with_index(index).controller(bridge).build())
            .execute()
            .await
            .map_err(|e| netlink_err(&format!("attaching {name} to {}", spec.bridge), e))?;
        host.link()
            .set_port(LinkBridgePort::new(index).hairpin(true).build())
            .execute()
            .await
            .map_err(|e| netlink_err(&format!("turning hairpin mode on for {name}"), e))?;
        set_up(&host, name).await?;

        let pod = connect_in(&spec.netns).await?;
        set_up(&pod, "lo").await?;
        let eth0 = link_index(&pod, POD_INTERFACE).await?;
        ensure_address(&pod, eth0, spec.address).await?;
        set_up(&pod, POD_INTERFACE).await?;
        let default = match spec.gateway {
            IpAddr::V4(_) => ipnet::IpNet::V4(ipnet::Ipv4Net::default()),
            IpAddr::V6(_) => ipnet::IpNet::V6(ipnet::Ipv6Net::default()),
        };
        let route = rtnetlink::RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(default.addr(), 0)
            .and_then(|r| r.gateway(spec.gateway))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?
            .output_interface(eth0)
            .build();
        pod.route()
            .add(route)
            .replace()
            .execute()
            .await
            .map_err(|e| netlink_err(&format!("adding the default route via {}", spec.gateway), e))
    }

    async fn delete_link(&self, name: &str) -> io::Result<bool> {
        let handle = connect()?;
        let Some(link) = link_by_name(&handle, name).await? else {
            return Ok(false);
        };
        match handle.link().del(link.header.index).execute().await {
            Ok(()) => Ok(true),
            Err(e) if is_errno(&e, libc::ENODEV) => Ok(false),
            Err(e) => Err(netlink_err(&format!("deleting link {name}"), e)),
        }
    }
}

fn is_default(route: &RouteMessage) -> bool {
    route.header.destination_prefix_length == 0
        && route.header.table == rtnetlink::packet_route::route::RouteHeader::RT_TABLE_MAIN
}
