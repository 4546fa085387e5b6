//! The service proxy of the node agent (kube-proxy's job, in its nftables mode): from the
//! Services and EndpointSlices it watches, it renders kedge's own nftables table (`ip
//! kedge-proxy`) whole and applies it in one transaction, so ClusterIPs, NodePorts,
//! externalIPs and LoadBalancer addresses lead to ready endpoints.
//!
//! - [`model`]: Services and EndpointSlices joined into [`model::ServicePort`]s;
//! - [`rules`]: the table's content, a pure function of the Service ports;
//! - [`table`]: the scripts made from it: the whole table, or an update from the last one;
//! - [`nft`]: the kernel boundary ([`nft::RuleApplier`]): for now the `nft` command, `nft -f -`;
//! - [`servicelb`]: the built-in ServiceLB writing LoadBalancer Services' ingress addresses.
//!
//! Bursts of changes are coalesced for [`SYNC_DELAY`], then the whole table is re-rendered and
//! what changed is applied: the whole table at start (and after a failure), else an update of
//! the chains, sets and map elements that differ, one transaction either way. On shutdown the table is left in place: running pods keep their
//! Services until kedge starts again; `kedge-killall.sh` (and so the uninstall script)
//! deletes every table whose name starts with `kedge`, this one included.

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
/// Only when `applier` is unavailable (no `nft` command); watch errors are retried and failed
/// applies tried again after [`RETRY_DELAY`].
pub async fn run(
    client: kube::Client,
    config: ProxyConfig,
    applier: Arc<dyn RuleApplier>,
    shutdown: CancellationToken,
) -> Result<(), ProxyError> {
    info!(
        table = %format!("{} {}", rules::FAMILY, config.table),
        "service proxy starting; it needs the nft command (it programs nftables with `nft -f -`)"
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
    applied: Option<rules::Table>,
}

impl Proxy {
    /// Re-renders and applies the table if it changed, then writes ServiceLB statuses.
    /// Returns false when something must be tried again.
    async fn sync(&mut self) -> bool {
        let started = Instant::now();
        let services = self.services.state();
        let ports = model::service_ports(&services, &self.slices.state(), &self.config.node_name);
        let table = Ruleset {
            table: &self.config.table,
            cluster_cidr: self.config.cluster_cidr,
            ports: &ports,
        }
        .build();
        let mut ok = true;
        if self.applied.as_ref() != Some(&table) {
            let update = self.applied.as_ref().and_then(|t| table.update_script(t));
            let mut result = match &update {
                Some(script) => self.applier.apply(script).await,
                None => self.applier.apply(&table.full_script()).await,
            };
            if let (Some(_), Err(error)) = (&update, &result) {
                warn!(%error, "the service proxy's update failed; replacing the whole table");
                result = self.applier.apply(&table.full_script()).await;
            }
            match result {
                Ok(()) => {
                    debug!(
                        service_ports = ports.len(),
                        full = update.is_none(),
                        elapsed = ?started.elapsed(),
                        "service proxy rules applied"
                    );
                    self.applied = Some(table);
                }
                Err(error) => {
                    error!(%error, "the service proxy cannot apply its nftables rules; retrying in {RETRY_DELAY:?}");
                    self.applied = None;
                    ok = false;
                }
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
