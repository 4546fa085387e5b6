//! The service proxy of the node agent (kube-proxy's job, in its nftables mode): from the
//! Services and EndpointSlices it watches, it renders kedge's own nftables table (`ip
//! kedge-proxy`) whole and applies it in one transaction, so ClusterIPs, NodePorts,
//! externalIPs and LoadBalancer addresses lead to ready endpoints.
//!
//! - [`model`]: Services and EndpointSlices joined into [`model::ServicePort`]s;
//! - [`rules`]: the table's content, a pure function of the Service ports;
//! - [`table`]: the scripts made from it: the whole table, or the diff of two whole tables;
//! - [`applied`]: the table as applied, per Service port, and the update rendering only the
//!   Service ports whose inputs changed;
//! - [`conntrack`]: clearing the UDP flows of removed endpoints (over ctnetlink);
//! - [`nft`]: the kernel boundary ([`nft::RuleApplier`]): nf_tables over netlink
//!   ([`crate::nftables`]);
//! - [`servicelb`]: the built-in ServiceLB writing LoadBalancer Services' ingress addresses.
//!
//! Bursts of changes are coalesced for [`SYNC_DELAY`], then what changed is applied: the whole
//! table at start (and after a failure), else an update rendered from the Service ports that
//! changed only (their chains and sets, and the map elements whose verdict changed), one
//! transaction either way. On shutdown the table is left in place: running pods keep their
//! Services until kedge starts again; `kedge-killall.sh` (and so the uninstall script)
//! deletes every table whose name starts with `kedge`, this one included.

pub mod applied;
pub mod conntrack;
pub mod model;
pub mod nft;
pub mod rules;
pub mod servicelb;
pub mod table;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use ipnet::Ipv4Net;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use applied::Applied;
use nft::RuleApplier;
use rules::Ruleset;

/// How long changes are collected before the table is re-rendered.
pub const SYNC_DELAY: Duration = Duration::from_millis(50);
/// How long after a failed apply or status write the proxy tries again.
pub const RETRY_DELAY: Duration = Duration::from_secs(5);

/// What the proxy needs to know about its node.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// This node's name: endpoints with this `nodeName` are local.
    pub node_name: String,
    /// The node's InternalIP, which the ServiceLB gives LoadBalancer Services.
    pub node_ip: IpAddr,
    /// The cluster's pod CIDR.
    pub cluster_cidr: Ipv4Net,
    /// The nftables table, [`rules::DEFAULT_TABLE`] by default.
    pub table: String,
    /// Whether the built-in ServiceLB runs (`--disable servicelb` turns it off).
    pub service_lb: bool,
}

/// Why the service proxy stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The rules cannot be applied on this host at all.
    #[error("the service proxy cannot start, so Services are not reachable on this node: {0}")]
    KernelUnavailable(std::io::Error),
}

/// Runs the service proxy until `shutdown` is cancelled.
///
/// # Errors
/// Only when `applier` is unavailable (no nf_tables in the kernel); watch errors are retried
/// and failed applies tried again after [`RETRY_DELAY`].
pub async fn run(
    client: kube::Client,
    config: ProxyConfig,
    applier: Arc<dyn RuleApplier>,
    shutdown: CancellationToken,
) -> Result<(), ProxyError> {
    info!(
        table = %format!("{} {}", rules::FAMILY, config.table),
        "service proxy starting; it programs nf_tables over netlink (no nft command needed)"
    );
    applier
        .available()
        .await
        .map_err(ProxyError::KernelUnavailable)?;

    let (services, services_writer) = reflector::store::<Service>();
    let (slices, slices_writer) = reflector::store::<EndpointSlice>();
    let service_events = reflector::reflector(
        services_writer,
        watcher(
            Api::<Service>::all(client.clone()),
            watcher::Config::default(),
        ),
    )
    .default_backoff();
    let slice_events = reflector::reflector(
        slices_writer,
        watcher(
            Api::<EndpointSlice>::all(client.clone()),
            watcher::Config::default(),
        ),
    )
    .default_backoff();
    let mut service_events = std::pin::pin!(service_events);
    let mut slice_events = std::pin::pin!(slice_events);

    let mut proxy = Proxy {
        client,
        config,
        applier,
        services,
        slices,
        applied: None,
    };
    // Nothing is applied before both lists are complete: an empty first render would take
    // the Services of running pods away.
    let (mut services_listed, mut slices_listed) = (false, false);
    let mut sync_at: Option<tokio::time::Instant> = None;
    loop {
        let due = sync_at.filter(|_| services_listed && slices_listed);
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            Some(event) = service_events.next() => {
                services_listed |= seen(event, "Service");
                sync_at = sync_at.or_else(|| Some(tokio::time::Instant::now() + SYNC_DELAY));
            }
            Some(event) = slice_events.next() => {
                slices_listed |= seen(event, "EndpointSlice");
                sync_at = sync_at.or_else(|| Some(tokio::time::Instant::now() + SYNC_DELAY));
            }
            () = sleep_until(due), if due.is_some() => {
                sync_at = None;
                if !proxy.sync().await {
                    sync_at = Some(tokio::time::Instant::now() + RETRY_DELAY);
                }
            }
        }
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}

/// Logs a failed watch event; returns whether the event ends an initial list.
fn seen<K>(event: Result<watcher::Event<K>, watcher::Error>, kind: &str) -> bool {
    match event {
        Ok(watcher::Event::InitDone) => true,
        Ok(_) => false,
        Err(error) => {
            warn!(%error, kind, "service proxy watch failed; retrying");
            false
        }
    }
}

struct Proxy {
    client: kube::Client,
    config: ProxyConfig,
    applier: Arc<dyn RuleApplier>,
    services: Store<Service>,
    slices: Store<EndpointSlice>,
    /// The table as last applied; `None` before the first sync and after a failure, when
    /// the next sync replaces the whole table.
    applied: Option<Applied>,
}

impl Proxy {
    /// Renders and applies what changed in the table, then writes ServiceLB statuses.
    /// Returns false when something must be tried again.
    async fn sync(&mut self) -> bool {
        let started = Instant::now();
        let services = self.services.state();
        let ports = model::service_ports(&services, &self.slices.state(), &self.config.node_name);
        let table = self.config.table.clone();
        let ruleset = Ruleset {
            table: &table,
            cluster_cidr: self.config.cluster_cidr,
            ports: &ports,
        };
        let mut ok = true;
        // An update from the applied table when it can be one, else the whole table.
        let update = self.applied.as_mut().and_then(|a| a.update(&ruleset));
        let rendered = started.elapsed();
        let mut stale_flows = Vec::new();
        let result = match update {
            Some(update) if update.script.is_empty() => Ok(false),
            Some(update) => {
                stale_flows = update.stale_flows;
                match self.applier.apply(&update.script).await {
                    Ok(()) => Ok(false),
                    Err(error) => {
                        warn!(%error, "the service proxy's update failed; replacing the whole table");
                        self.apply_full(&ruleset).await.map(|()| true)
                    }
                }
            }
            None => self.apply_full(&ruleset).await.map(|()| true),
        };
        match result {
            Ok(full) => debug!(
                service_ports = ports.len(),
                full,
                render = ?rendered,
                elapsed = ?started.elapsed(),
                "service proxy rules synced"
            ),
            Err(error) => {
                error!(%error, "the service proxy cannot apply its nftables rules; retrying in {RETRY_DELAY:?}");
                // The rules may still lead to the old endpoints.
                stale_flows.clear();
                ok = false;
            }
        }
        if !stale_flows.is_empty() {
            // Once the rules no longer lead there: the flows' next datagrams find live endpoints.
            match tokio::task::spawn_blocking(move || conntrack::clear(&stale_flows)).await {
                Ok(Ok(deleted)) => debug!(
                    deleted,
                    "UDP conntrack entries of removed endpoints cleared"
                ),
                Ok(Err(error)) => {
                    warn!(%error, "cannot clear the UDP conntrack entries of removed endpoints; their clients keep sending there until the entries expire")
                }
                Err(error) => warn!(%error, "the conntrack clearing task failed"),
            }
        }
        if self.config.service_lb
            && servicelb::reconcile(&self.client, &services, self.config.node_ip)
                .await
                .is_err()
        {
            ok = false;
        }
        ok
    }

    /// Renders and applies the whole table; the applied state is `None` if that fails.
    async fn apply_full(&mut self, ruleset: &Ruleset<'_>) -> std::io::Result<()> {
        self.applied = None;
        let applied = Applied::new(ruleset);
        self.applier.apply(&applied.full_script()).await?;
        self.applied = Some(applied);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::nft::{RecordingApplier, RuleApplier};

    #[tokio::test]
    async fn an_unavailable_applier_says_what_is_missing() {
        let applier = RecordingApplier {
            unavailable: Some("no nft".into()),
            ..Default::default()
        };
        let error = super::ProxyError::KernelUnavailable(applier.available().await.unwrap_err());
        assert_eq!(
            error.to_string(),
            "the service proxy cannot start, so Services are not reachable on this node: no nft"
        );
    }

    #[test]
    fn only_the_end_of_an_initial_list_counts_as_listed() {
        use kube::runtime::watcher::Event;
        assert!(super::seen::<()>(Ok(Event::InitDone), "Service"));
        assert!(!super::seen::<()>(Ok(Event::Init), "Service"));
        assert!(!super::seen(Ok(Event::Apply(())), "Service"));
    }
}
