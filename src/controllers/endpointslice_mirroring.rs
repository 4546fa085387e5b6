//! The EndpointSlice mirroring controller: an `Endpoints` object written by hand for a
//! Service without a selector (pointing a Service at a database outside the cluster, say) is
//! mirrored into EndpointSlices, which is what the service proxy and cluster DNS read — as
//! upstream's `endpointslicemirroring-controller` does.
//!
//! A mirrored slice carries the Endpoints' labels and annotations (not
//! `endpoints.kubernetes.io/last-change-trigger-time` or kubectl's last-applied
//! configuration), `kubernetes.io/service-name`, `endpointslice.kubernetes.io/managed-by:
//! endpointslicemirroring-controller.k8s.io`, and a controller owner reference to the
//! Endpoints, so the garbage collector removes it with them. Addresses become ready
//! endpoints, `notReadyAddresses` endpoints that are not ready, with their `hostname`,
//! `nodeName` and `targetRef`; IPv4 and IPv6 addresses go to slices of their own family.
//! Nothing is mirrored (and what was is deleted) when the Service is missing or has a
//! selector, or the Endpoints are labelled `endpointslice.kubernetes.io/skip-mirror: "true"`
//! (the API server's own `default/kubernetes`) or carry a leader-election annotation.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{EndpointAddress, Endpoints, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::endpoints::TRIGGER_TIME;
use super::endpointslice::{MANAGED_BY_LABEL, SERVICE_NAME_LABEL, plan};
use super::pod_conditions::controller_ref;
use super::{Context, ReconcileError, retry_later};

pub const CONTROLLER_NAME: &str = "endpointslicemirroring-controller.k8s.io";
pub const SKIP_MIRROR_LABEL: &str = "endpointslice.kubernetes.io/skip-mirror";
const LEADER_ANNOTATION: &str = "control-plane.alpha.kubernetes.io/leader";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
const FAMILIES: [&str; 2] = ["IPv4", "IPv6"];

/// Endpoint groups of one address family: ports key → (ports, endpoints), as
/// [`plan`] takes them.
type Groups = BTreeMap<String, (Vec<EndpointPort>, Vec<Endpoint>)>;

/// Whether `endpoints` of `service` are to be mirrored.
fn mirrored(endpoints: &Endpoints, service: Option<&Service>) -> bool {
    let labels = endpoints.metadata.labels.as_ref();
    let skip = labels
        .and_then(|l| l.get(SKIP_MIRROR_LABEL))
        .is_some_and(|v| v == "true");
    let leader = endpoints
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(LEADER_ANNOTATION));
    let selectorless = service.is_some_and(|s| {
        s.spec
            .as_ref()
            .and_then(|spec| spec.selector.as_ref())
            .is_none_or(BTreeMap::is_empty)
    });
    !skip && !leader && selectorless
}

fn family(ip: &str) -> Option<&'static str> {
    match ip.parse::<IpAddr>().ok()? {
        IpAddr::V4(_) => Some("IPv4"),
        IpAddr::V6(_) => Some("IPv6"),
    }
}

fn endpoint(address: &EndpointAddress, ready: bool) -> Endpoint {
    Endpoint {
        addresses: vec![address.ip.clone()],
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            ..Default::default()
        }),
        hostname: address.hostname.clone().filter(|h| !h.is_empty()),
        node_name: address.node_name.clone(),
        target_ref: address.target_ref.clone(),
        ..Default::default()
    }
}

/// The slices' contents for each address family (addresses that are not IPs are skipped).
fn desired(endpoints: &Endpoints) -> BTreeMap<&'static str, Groups> {
    let mut families: BTreeMap<&'static str, Groups> = BTreeMap::new();
    for subset in endpoints.subsets.iter().flatten() {
        let ports: Vec<EndpointPort> = subset
            .ports
            .iter()
            .flatten()
            .map(|p| EndpointPort {
                name: Some(p.name.clone().unwrap_or_default()),
                port: Some(p.port),
                protocol: Some(p.protocol.clone().unwrap_or_else(|| "TCP".to_string())),
                app_protocol: p.app_protocol.clone(),
            })
            .collect();
        let key = super::endpointslice::ports_key(&ports);
        let ready = subset.addresses.iter().flatten().map(|a| (a, true));
        let not_ready = subset
            .not_ready_addresses
            .iter()
            .flatten()
            .map(|a| (a, false));
        for (address, is_ready) in ready.chain(not_ready) {
            let Some(family) = family(&address.ip) else {
                continue;
            };
            families
                .entry(family)
                .or_default()
                .entry(key.clone())
                .or_insert_with(|| (ports.clone(), Vec::new()))
                .1
                .push(endpoint(address, is_ready));
        }
    }
    families
}

/// The metadata of a new mirrored slice.
fn slice_meta(endpoints: &Endpoints) -> ObjectMeta {
    let name = endpoints.metadata.name.clone().unwrap_or_default();
    let mut labels = endpoints.metadata.labels.clone().unwrap_or_default();
    labels.insert(SERVICE_NAME_LABEL.to_string(), name.clone());
    labels.insert(MANAGED_BY_LABEL.to_string(), CONTROLLER_NAME.to_string());
    let mut annotations = endpoints.metadata.annotations.clone().unwrap_or_default();
    annotations.remove(TRIGGER_TIME);
    annotations.remove(LAST_APPLIED);
    ObjectMeta {
        generate_name: Some(format!("{name}-")),
        namespace: endpoints.metadata.namespace.clone(),
        labels: Some(labels),
        annotations: Some(annotations),
        owner_references: Some(vec![controller_ref("v1", "Endpoints", &endpoints.metadata)]),
        ..Default::default()
    }
}

/// Writes, ignoring what another writer changed meanwhile (the next event retries).
fn settle(result: Result<(), kube::Error>, conflicts: &mut bool) -> Result<(), ReconcileError> {
    match result {
        Ok(()) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 || e.code == 404 => {
            *conflicts = true;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

async fn reconcile(object: Arc<Endpoints>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let namespace = object.metadata.namespace.clone().unwrap_or_default();
    let name = object.metadata.name.clone().unwrap_or_default();
    let endpoints_api: Api<Endpoints> = Api::namespaced(ctx.client.clone(), &namespace);
    let services: Api<Service> = Api::namespaced(ctx.client.clone(), &namespace);
    let slices: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), &namespace);
    let existing = slices
        .list(&ListParams::default().labels(&format!(
            "{SERVICE_NAME_LABEL}={name},{MANAGED_BY_LABEL}={CONTROLLER_NAME}"
        )))
        .await?
        .items;
    let endpoints = endpoints_api.get_opt(&name).await?;
    let service = services.get_opt(&name).await?;
    let wanted = match &endpoints {
        Some(e) if mirrored(e, service.as_ref()) => desired(e),
        _ => BTreeMap::new(),
    };
    let mut conflicts = false;
    for family in FAMILIES {
        let (ours, indexes): (Vec<EndpointSlice>, Vec<usize>) = existing
            .iter()
            .enumerate()
            .filter(|(_, s)| s.address_type == family)
            .map(|(i, s)| (s.clone(), i))
            .unzip();
        let Some((endpoints, groups)) = endpoints.as_ref().zip(wanted.get(family)) else {
            // Nothing of this family (upstream keeps no empty placeholder when mirroring).
            for i in indexes {
                let slice_name = existing[i].metadata.name.clone().unwrap_or_default();
                let deleted = slices.delete(&slice_name, &DeleteParams::default()).await;
                settle(deleted.map(|_| ()), &mut conflicts)?;
            }
            continue;
        };
        let meta = slice_meta(endpoints);
        let plan = plan(&ours, groups.clone());
        for (i, ports, members) in plan.update {
            let mut slice = ours[i].clone();
            slice.metadata.labels = meta.labels.clone();
            slice.metadata.annotations = meta.annotations.clone();
            slice.ports = (!ports.is_empty()).then_some(ports);
            slice.endpoints = members;
            let slice_name = slice.metadata.name.clone().unwrap_or_default();
            let replaced = slices
                .replace(&slice_name, &PostParams::default(), &slice)
                .await;
            settle(replaced.map(|_| ()), &mut conflicts)?;
        }
        for (ports, members) in plan.create {
            let slice = EndpointSlice {
                metadata: meta.clone(),
                address_type: family.to_string(),
                endpoints: members,
                ports: (!ports.is_empty()).then_some(ports),
            };
            let created = slices.create(&PostParams::default(), &slice).await;
            settle(created.map(|_| ()), &mut conflicts)?;
        }
        for i in plan.delete {
            let slice_name = ours[i].metadata.name.clone().unwrap_or_default();
            let deleted = slices.delete(&slice_name, &DeleteParams::default()).await;
            settle(deleted.map(|_| ()), &mut conflicts)?;
        }
    }
    debug!(endpoints = %format!("{namespace}/{name}"), "mirrored endpoint slices reconciled");
    Ok(if conflicts {
        Action::requeue(std::time::Duration::from_millis(200))
    } else {
        Action::await_change()
    })
}

pub async fn run(ctx: Context, shutdown: CancellationToken) {
    let endpoints: Api<Endpoints> = Api::all(ctx.client.clone());
    let services: Api<Service> = Api::all(ctx.client.clone());
    let slices: Api<EndpointSlice> = Api::all(ctx.client.clone());
    Controller::new(endpoints, watcher::Config::default())
        .owns(
            slices,
            watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={CONTROLLER_NAME}")),
        )
        // A Service appearing, going, or gaining or losing its selector.
        .watches(services, watcher::Config::default(), |service| {
            let namespace = service.metadata.namespace.clone().unwrap_or_default();
            service
                .metadata
                .name
                .clone()
                .map(|name| ObjectRef::<Endpoints>::new(&name).within(&namespace))
        })
        .graceful_shutdown_on(async move { shutdown.cancelled().await })
        .run(reconcile, retry_later, Arc::new(ctx))
        .for_each(|_| async {})
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn endpoints(value: serde_json::Value) -> Endpoints {
        serde_json::from_value(value).unwrap()
    }

    fn service(selector: Option<serde_json::Value>) -> Service {
        let mut value = json!({"metadata": {"name": "db"}, "spec": {"ports": [{"port": 5432}]}});
        if let Some(selector) = selector {
            value["spec"]["selector"] = selector;
        }
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn only_selectorless_services_without_skip_labels_are_mirrored() {
        let plain = endpoints(json!({"metadata": {"name": "db"}}));
        assert!(mirrored(&plain, Some(&service(None))));
        assert!(mirrored(&plain, Some(&service(Some(json!({}))))));
        assert!(!mirrored(
            &plain,
            Some(&service(Some(json!({"app": "db"}))))
        ));
        assert!(!mirrored(&plain, None));
        let skipped = endpoints(json!({"metadata": {"name": "db",
            "labels": {SKIP_MIRROR_LABEL: "true"}}}));
        assert!(!mirrored(&skipped, Some(&service(None))));
        let leader = endpoints(json!({"metadata": {"name": "db",
            "annotations": {LEADER_ANNOTATION: "{}"}}}));
        assert!(!mirrored(&leader, Some(&service(None))));
    }

    #[test]
    fn addresses_split_by_family_and_readiness_with_their_details() {
        let e = endpoints(json!({"metadata": {"name": "db"}, "subsets": [{
            "addresses": [{"ip": "10.1.2.3", "hostname": "db-0", "nodeName": "n1"},
                          {"ip": "fd00::5"}, {"ip": "not-an-ip"}],
            "notReadyAddresses": [{"ip": "10.1.2.4"}],
            "ports": [{"name": "pg", "port": 5432}],
        }]}));
        let families = desired(&e);
        let v4: Vec<&Endpoint> = families["IPv4"].values().flat_map(|(_, e)| e).collect();
        assert_eq!(v4.len(), 2);
        assert_eq!(v4[0].addresses, ["10.1.2.3"]);
        assert_eq!(v4[0].hostname.as_deref(), Some("db-0"));
        assert_eq!(v4[0].node_name.as_deref(), Some("n1"));
        assert_eq!(v4[0].conditions.as_ref().unwrap().ready, Some(true));
        assert_eq!(v4[1].conditions.as_ref().unwrap().ready, Some(false));
        let (ports, v6) = families["IPv6"].values().next().unwrap();
        assert_eq!(v6[0].addresses, ["fd00::5"]);
        assert_eq!(ports[0].protocol.as_deref(), Some("TCP"));
        assert_eq!(ports[0].name.as_deref(), Some("pg"));
    }

    #[test]
    fn mirrored_slices_carry_labels_and_annotations_but_not_trigger_time() {
        let e = endpoints(
            json!({"metadata": {"name": "db", "namespace": "prod", "uid": "u1",
            "labels": {"team": "data"},
            "annotations": {"note": "x", TRIGGER_TIME: "2024-01-01T00:00:00Z",
                            LAST_APPLIED: "{}"}}}),
        );
        let meta = slice_meta(&e);
        let labels = meta.labels.unwrap();
        assert_eq!(labels["team"], "data");
        assert_eq!(labels[SERVICE_NAME_LABEL], "db");
        assert_eq!(labels[MANAGED_BY_LABEL], CONTROLLER_NAME);
        assert_eq!(
            meta.annotations.unwrap(),
            BTreeMap::from([("note".to_string(), "x".to_string())])
        );
        let owner = &meta.owner_references.unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("Endpoints", "u1")
        );
        assert_eq!(meta.generate_name.as_deref(), Some("db-"));
    }
}
