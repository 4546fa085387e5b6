//! The node-local address of the cluster DNS: a dummy link (`kedge-dns`) holding
//! `--cluster-dns` as a /32, created over rtnetlink; on a kernel without the dummy link type
//! (EOPNOTSUPP, e.g. some container hosts) the /32 goes on the loopback link `lo` instead,
//! which the kernel delivers the same way. Pods reach that address through their
//! default route (the bridge, i.e. the host), and the host delivers it locally — no Service
//! and no service-proxy rule is involved. The DNS removes the address when it stops (without
//! a listener it serves nothing); [`remove`] does the same for tests and uninstalling.
//!
//! The kernel is reached through [`DnsLinkKernel`], with the real [`LinuxDnsLink`] and a
//! recording fake in the tests.

use std::io;
use std::net::Ipv4Addr;

use async_trait::async_trait;
use futures::TryStreamExt;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::{LinkDummy, LinkUnspec};

use crate::agent::network::linux::{is_errno, netlink_err};

/// The name of the link holding the cluster DNS address.
pub const LINK_NAME: &str = "kedge-dns";

/// The link operations the cluster DNS needs.
#[async_trait]
pub trait DnsLinkKernel: Send + Sync {
    /// Creates the dummy link `name` if missing (or falls back to `lo`), gives it
    /// `address`/32 and brings it up; returns the link used.
    async fn ensure(&self, name: &str, address: Ipv4Addr) -> io::Result<String>;
    /// Deletes the link `name` if it exists, and `address`/32 from `lo` if it is there.
    async fn remove(&self, name: &str, address: Ipv4Addr) -> io::Result<()>;
}

/// The loopback link, where the address goes when dummy links are not supported.
pub const FALLBACK_LINK: &str = "lo";

/// The real kernel, over rtnetlink.
#[derive(Clone, Copy, Debug, Default)]
pub struct LinuxDnsLink;

async fn link_index(handle: &rtnetlink::Handle, name: &str) -> io::Result<Option<u32>> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(link) => Ok(link.map(|l| l.header.index)),
        Err(e) if is_errno(&e, libc::ENODEV) => Ok(None),
        Err(e) => Err(netlink_err(&format!("looking up link {name}"), e)),
    }
}

#[async_trait]
impl DnsLinkKernel for LinuxDnsLink {
    async fn ensure(&self, name: &str, address: Ipv4Addr) -> io::Result<String> {
        let (connection, handle, _) = rtnetlink::new_connection()?;
        let connection = tokio::spawn(connection);
        let result = async {
            let mut name = name;
            if link_index(&handle, name).await?.is_none() {
                match handle.link().add(LinkDummy::new(name).build()).execute().await {
                    Ok(()) => {}
                    Err(e) if is_errno(&e, libc::EEXIST) => {}
                    Err(e) if is_errno(&e, libc::EOPNOTSUPP) => name = FALLBACK_LINK,
                    Err(e) => return Err(netlink_err(&format!("creating dummy link {name}"), e)),
                }
            }
            let index = link_index(&handle, name).await?.ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, format!("link {name} vanished"))
            })?;
            let mut existing = handle
                .address()
                .get()
                .set_link_index_filter(index)
                .execute();
            let mut present = false;
            while let Some(message) = existing
                .try_next()
                .await
                .map_err(|e| netlink_err(&format!("listing the addresses of {name}"), e))?
            {
                present |= message.header.prefix_len == 32
                    && message.attributes.iter().any(|a| {
                        matches!(a, AddressAttribute::Address(ip) if *ip == std::net::IpAddr::V4(address))
                    });
            }
            if !present {
                match handle
                    .address()
                    .add(index, address.into(), 32)
                    .execute()
                    .await
                {
                    Ok(()) => {}
                    Err(e) if is_errno(&e, libc::EEXIST) => {}
                    Err(e) => {
                        return Err(netlink_err(
                            &format!("adding {address}/32 to {name}"),
                            e,
                        ));
                    }
                }
            }
            handle
                .link()
                .set(LinkUnspec::new_with_name(name).up().build())
                .execute()
                .await
                .map_err(|e| netlink_err(&format!("bringing {name} up"), e))?;
            Ok(name.to_string())
        }
        .await;
        connection.abort();
        result
    }

    async fn remove(&self, name: &str, address: Ipv4Addr) -> io::Result<()> {
        let (connection, handle, _) = rtnetlink::new_connection()?;
        let connection = tokio::spawn(connection);
        let result = async {
            if let Some(index) = link_index(&handle, name).await? {
                match handle.link().del(index).execute().await {
                    Ok(()) => {}
                    Err(e) if is_errno(&e, libc::ENODEV) => {}
                    Err(e) => return Err(netlink_err(&format!("deleting link {name}"), e)),
                }
            }
            let Some(lo) = link_index(&handle, FALLBACK_LINK).await? else {
                return Ok(());
            };
            let mut addresses = handle.address().get().set_link_index_filter(lo).execute();
            while let Some(message) = addresses
                .try_next()
                .await
                .map_err(|e| netlink_err("listing the addresses of lo", e))?
            {
                let ours = message.header.prefix_len == 32
                    && message.attributes.iter().any(|a| {
                        matches!(a, AddressAttribute::Address(ip) if *ip == std::net::IpAddr::V4(address))
                    });
                if ours {
                    handle
                        .address()
                        .del(message)
                        .execute()
                        .await
                        .map_err(|e| netlink_err(&format!("deleting {address}/32 from lo"), e))?;
                    break;
                }
            }
            Ok(())
        }
        .await;
        connection.abort();
        result
    }
}

/// Deletes the cluster DNS link, or `address` from `lo` where it fell back there (uninstall).
///
/// # Errors
/// When the kernel refuses the deletion.
pub async fn remove(address: Ipv4Addr) -> io::Result<()> {
    LinuxDnsLink.remove(LINK_NAME, address).await
}

#[cfg(test)]
pub mod fake {
    //! A recording fake of [`DnsLinkKernel`].

    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    pub struct RecordingDnsLink {
        pub calls: Mutex<Vec<String>>,
        pub fail: bool,
    }

    #[async_trait]
    impl DnsLinkKernel for RecordingDnsLink {
        async fn ensure(&self, name: &str, address: Ipv4Addr) -> io::Result<String> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("ensure {name} {address}/32"));
            if self.fail {
                return Err(io::Error::from_raw_os_error(libc::EPERM));
            }
            Ok(name.to_string())
        }

        async fn remove(&self, name: &str, _address: Ipv4Addr) -> io::Result<()> {
            self.calls.lock().unwrap().push(format!("remove {name}"));
            Ok(())
        }
    }
}
