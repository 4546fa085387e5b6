//! Cluster DNS, served by kedge itself on every node (in place of CoreDNS pods).
//!
//! - [`link`]: the `--cluster-dns` address on a dummy link of the node, where pods'
//!   `resolv.conf` points;
//! - [`watch`]: Namespaces, Services and EndpointSlices followed into the [`index`];
//! - [`records`]: the answer to one question, as CoreDNS's `kubernetes` plugin gives it;
//! - [`wire`]: DNS messages, EDNS and truncation;
//! - [`forward`]: other names, sent to the node's upstream resolvers;
//! - [`server`]: UDP and TCP port 53.
//!
//! No `kube-dns` Service object exists: the address is the node's own, so the service proxy
//! never handles DNS traffic.

pub mod forward;
pub mod index;
pub mod link;
pub mod records;
pub mod server;
pub mod watch;
pub mod wire;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use ipnet::Ipv4Net;
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use self::link::DnsLinkKernel;

/// The cluster DNS's part of the node configuration.
#[derive(Clone, Debug)]
pub struct DnsConfig {
    /// `--cluster-dns`: the address answered at.
    pub cluster_dns: Ipv4Addr,
    /// `--cluster-domain`, without the trailing dot.
    pub cluster_domain: String,
    pub service_cidr: Ipv4Net,
    pub cluster_cidr: Ipv4Net,
    /// `--resolv-conf`: upstream resolvers taken as written; `None`: the host's.
    pub resolv_conf: Option<PathBuf>,
    /// The port to serve on (53; the tests may choose another).
    pub port: u16,
}

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error(
        "cannot put the cluster DNS address {address}/32 on link {}: {source}",
        link::LINK_NAME
    )]
    LinkSetup {
        address: Ipv4Addr,
        source: std::io::Error,
    },
    #[error("cannot listen for DNS on {transport} {address}: {source} (is another DNS server bound to port {}?)", address.port())]
    Bind {
        transport: &'static str,
        address: SocketAddr,
        source: std::io::Error,
    },
}

/// Serves cluster DNS until `shutdown`: puts the address on the node, binds UDP and TCP, and
/// answers from the watched index; at shutdown, takes the address away again.
///
/// # Errors
/// When the address cannot be set up or the port cannot be bound; answering itself never
/// fails (a query that cannot be answered gets SERVFAIL).
pub async fn run(
    client: kube::Client,
    config: DnsConfig,
    kernel: &dyn DnsLinkKernel,
    shutdown: CancellationToken,
) -> Result<(), DnsError> {
    let link = kernel
        .ensure(link::LINK_NAME, config.cluster_dns)
        .await
        .map_err(|source| DnsError::LinkSetup {
            address: config.cluster_dns,
            source,
        })?;
    let address = SocketAddr::from((config.cluster_dns, config.port));
    let udp = UdpSocket::bind(address)
        .await
        .map_err(|source| DnsError::Bind {
            transport: "UDP",
            address,
            source,
        })?;
    let tcp = TcpListener::bind(address)
        .await
        .map_err(|source| DnsError::Bind {
            transport: "TCP",
            address,
            source,
        })?;

    let upstreams = forward::upstreams(config.resolv_conf.as_deref());
    let upstream_source = forward::source(config.resolv_conf.as_deref());
    if upstreams.is_empty() {
        warn!(
            resolv_conf = %upstream_source.display(),
            "cluster DNS has no upstream resolver (loopback stubs are skipped); names outside the cluster will fail with SERVFAIL; pass --resolv-conf with reachable nameservers"
        );
    }
    let resolver = Arc::new(server::Resolver {
        index: Arc::new(RwLock::new(index::ClusterIndex::default())),
        zone: records::Zone {
            domain: config.cluster_domain.to_lowercase(),
            dns_ip: config.cluster_dns,
            service_cidr: config.service_cidr,
            cluster_cidr: config.cluster_cidr,
        },
        upstreams,
    });
    info!(
        %address,
        %link,
        domain = %config.cluster_domain,
        upstreams = ?resolver.upstreams,
        "cluster DNS is serving"
    );
    tokio::join!(
        watch::run(client, resolver.index.clone(), shutdown.clone()),
        server::serve_udp(resolver.clone(), udp, shutdown.clone()),
        server::serve_tcp(resolver.clone(), tcp, shutdown.clone()),
    );
    // Without a listener the address would only turn pods' queries into refusals; removing
    // it leaves the node as it was.
    if let Err(error) = kernel.remove(link::LINK_NAME, config.cluster_dns).await {
        warn!(%error, "cannot remove the cluster DNS address");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::link::fake::RecordingDnsLink;
    use super::*;

    fn config() -> DnsConfig {
        DnsConfig {
            cluster_dns: Ipv4Addr::new(127, 0, 0, 1),
            cluster_domain: "cluster.local".into(),
            service_cidr: "10.43.0.0/16".parse().unwrap(),
            cluster_cidr: "10.42.0.0/16".parse().unwrap(),
            resolv_conf: None,
            port: 0,
        }
    }

    fn unreachable_client() -> kube::Client {
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        kube::Client::try_from(config).unwrap()
    }

    #[tokio::test]
    async fn sets_up_the_link_first_and_stops_on_shutdown() {
        let kernel = RecordingDnsLink::default();
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        run(unreachable_client(), config(), &kernel, shutdown)
            .await
            .unwrap();
        assert_eq!(
            *kernel.calls.lock().unwrap(),
            vec![
                "ensure kedge-dns 127.0.0.1/32".to_string(),
                "remove kedge-dns".to_string()
            ]
        );
    }

    #[tokio::test]
    async fn a_link_failure_names_the_step() {
        let kernel = RecordingDnsLink {
            fail: true,
            ..RecordingDnsLink::default()
        };
        let error = run(
            unreachable_client(),
            config(),
            &kernel,
            CancellationToken::new(),
        )
        .await
        .unwrap_err();
        assert!(matches!(error, DnsError::LinkSetup { .. }));
        assert!(error.to_string().contains("kedge-dns"), "{error}");
    }
}
