//! The Endpoints controller: for every Service with a selector, an `Endpoints` object of the
//! same name listing the selected pods' addresses, ready ones in `addresses` and the others
//! in `notReadyAddresses` (all in `addresses` with `publishNotReadyAddresses`), with each
//! service port resolved per pod (named target ports looked up in the pod's containers),
//! grouped into subsets by port set, at most 1,000 addresses (then marked
//! `endpoints.kubernetes.io/over-capacity: truncated`). Services without a selector —
//! `default/kubernetes` among them — are left to whoever writes their Endpoints (which
//! [`super::endpointslice_mirroring`] copies into EndpointSlices).
//!
//! The Service and pod watching shared with [`super::endpointslice`] lives here too.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, ObjectReference, Pod, Service,
    ServicePort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::core::{Selector, SelectorExt};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::{Context, ReconcileError, pod_conditions, retry_later};

pub const MANAGED_BY_LABEL: &str = "endpoints.kubernetes.io/managed-by";
pub const CONTROLLER_NAME: &str = "endpoint-controller";
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";
pub const TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";
const OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";
const MAX_CAPACITY: usize = 1000;

/// The service's selector, if it has one (services without one are not managed).
pub fn selector(service: &Service) -> Option<Selector> {
    let map = service.spec.as_ref()?.selector.clone()?;
    Some(map.into_iter().collect())
}

pub fn is_headless(service: &Service) -> bool {
    service.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
}

/// The pod's IPv4 address, if it has one.
pub fn pod_ip(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    status
        .pod_ips
        .iter()
        .flatten()
        .map(|ip| ip.ip.clone())
        .chain(status.pod_ip.clone())
        .find(|ip| ip.parse::<std::net::Ipv4Addr>().is_ok())
}

/// Whether the pod is an endpoint at all: not terminal, with an address, and (unless
/// `include_terminating`) not being deleted.
pub fn include(pod: &Pod, include_terminating: bool) -> bool {
    !pod_conditions::is_terminal(pod)
        && pod_ip(pod).is_some()
        && (include_terminating || !pod_conditions::is_deleting(pod))
}

/// The port number the service port reaches on this pod: a number as is, a name through
/// the pod's (and its sidecars') container ports of the same protocol.
pub fn find_port(pod: &Pod, port: &ServicePort) -> Option<i32> {
    let protocol = port.protocol.as_deref().unwrap_or("TCP");
    match &port.target_port {
        None => Some(port.port),
        Some(IntOrString::Int(number)) => Some(*number),
        Some(IntOrString::String(name)) => {
            if let Ok(number) = name.parse::<i32>() {
                return Some(number);
            }
            let spec = pod.spec.as_ref()?;
            let sidecars = spec
                .init_containers
                .iter()
                .flatten()
                .filter(|c| c.restart_policy.as_deref() == Some("Always"));
            spec.containers
                .iter()
                .chain(sidecars)
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| {
                    p.name.as_deref() == Some(name.as_str())
                        && p.protocol.as_deref().unwrap_or("TCP") == protocol
                })
                .map(|p| p.container_port)
        }
    }
}

/// The pod's hostname, when it is in the service's subdomain.
pub fn hostname(pod: &Pod, service: &Service) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let host = spec.hostname.clone().filter(|h| !h.is_empty())?;
    let same_ns = pod.metadata.namespace == service.metadata.namespace;
    (spec.subdomain.as_deref() == service.metadata.name.as_deref() && same_ns).then_some(host)
}

pub fn pod_reference(pod: &Pod) -> ObjectReference {
    ObjectReference {
        kind: Some("Pod".to_string()),
        namespace: pod.metadata.namespace.clone(),
        name: pod.metadata.name.clone(),
        uid: pod.metadata.uid.clone(),
        ..Default::default()
    }
}

/// The labels a managed object of the service carries: the service's, with the headless
/// label set or removed.
pub fn service_labels(service: &Service) -> BTreeMap<String, String> {
    let mut labels = service.metadata.labels.clone().unwrap_or_default();
    if is_headless(service) {
        labels.insert(HEADLESS_LABEL.to_string(), String::new());
    } else {
        labels.remove(HEADLESS_LABEL);
    }
    labels
}

fn port_key(ports: &[EndpointPort]) -> String {
    let mut keys: Vec<String> = ports
        .iter()
        .map(|p| {
            format!(
                "{}/{}/{}",
                p.name.as_deref().unwrap_or(""),
                p.port,
                p.protocol.as_deref().unwrap_or("")
            )
        })
        .collect();
    keys.sort();
    keys.join(",")
}

fn address_order(a: &EndpointAddress, b: &EndpointAddress) -> std::cmp::Ordering {
    a.ip.cmp(&b.ip).then_with(|| {
        let uid = |x: &EndpointAddress| x.target_ref.as_ref().and_then(|r| r.uid.clone());
        uid(a).cmp(&uid(b))
    })
}

/// The subsets for the service's pods, and whether addresses were dropped over capacity.
pub fn subsets(service: &Service, pods: &[Pod]) -> (Vec<EndpointSubset>, bool) {
    let spec = service.spec.clone().unwrap_or_default();
    let publish = spec.publish_not_ready_addresses == Some(true);
    let ports = spec.ports.clone().unwrap_or_default();
    // Port set → (ports, ready, not ready).
    type Group = (
        Vec<EndpointPort>,
        Vec<EndpointAddress>,
        Vec<EndpointAddress>,
    );
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let mut add = |pod: &Pod, address: EndpointAddress, endpoint_ports: Vec<EndpointPort>| {
        let group = groups
            .entry(port_key(&endpoint_ports))
            .or_insert_with(|| (endpoint_ports, Vec::new(), Vec::new()));
        if publish || pod_conditions::is_ready(pod) {
            group.1.push(address);
        } else {
            group.2.push(address);
        }
    };
    for pod in pods.iter().filter(|p| include(p, publish)) {
        let Some(ip) = pod_ip(pod) else { continue };
        let address = EndpointAddress {
            ip,
            hostname: hostname(pod, service),
            node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            target_ref: Some(pod_reference(pod)),
        };
        if ports.is_empty() {
            if is_headless(service) {
                add(pod, address, Vec::new());
            }
            continue;
        }
        for port in &ports {
            let Some(number) = find_port(pod, port) else {
                continue;
            };
            let endpoint_port = EndpointPort {
                name: port.name.clone().filter(|n| !n.is_empty()),
                port: number,
                protocol: Some(port.protocol.clone().unwrap_or_else(|| "TCP".to_string())),
                app_protocol: port.app_protocol.clone(),
            };
            add(pod, address.clone(), vec![endpoint_port]);
        }
    }
    // Addresses with the same ports across service ports merge into one subset.
    let mut by_address: BTreeMap<String, (Vec<EndpointPort>, bool, EndpointAddress)> =
        BTreeMap::new();
    for (_, (ports, ready, not_ready)) in groups {
        for (address, is_ready) in ready
            .into_iter()
            .map(|a| (a, true))
            .chain(not_ready.into_iter().map(|a| (a, false)))
        {
            let uid = address
                .target_ref
                .as_ref()
                .and_then(|r| r.uid.clone())
                .unwrap_or_default();
            let entry = by_address
                .entry(format!("{}/{uid}/{is_ready}", address.ip))
                .or_insert_with(|| (Vec::new(), is_ready, address));
            entry.0.extend(ports.iter().cloned());
        }
    }
    let mut packed: BTreeMap<String, EndpointSubset> = BTreeMap::new();
    let mut total = 0;
    let mut truncated = false;
    for (_, (mut ports, ready, address)) in by_address {
        if total >= MAX_CAPACITY {
            truncated = true;
            continue;
        }
        total += 1;
        ports.sort_by_key(|a| (a.name.clone(), a.port));
        ports.dedup();
        let subset = packed
            .entry(port_key(&ports))
            .or_insert_with(|| EndpointSubset {
                ports: (!ports.is_empty()).then_some(ports),
                ..Default::default()
            });
        let list = if ready {
            subset.addresses.get_or_insert_with(Vec::new)
        } else {
            subset.not_ready_addresses.get_or_insert_with(Vec::new)
        };
        list.push(address);
    }
    let mut result: Vec<EndpointSubset> = packed.into_values().collect();
    for subset in &mut result {
        for list in [&mut subset.addresses, &mut subset.not_ready_addresses]
            .into_iter()
            .flatten()
        {
            list.sort_by(address_order);
        }
    }
    (result, truncated)
}

/// The pods the service selects, read fresh.
pub async fn selected_pods(
    ctx: &Context,
    service: &Service,
    selector: &Selector,
) -> Result<Vec<Pod>, ReconcileError> {
    let namespace = service.metadata.namespace.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let pods = api
        .list(&ListParams::default().labels_from(selector))
        .await?;
    Ok(pods.items)
}

/// Which services each pod was last found in, so a pod that stops matching a selector
/// still wakes the services it left.
#[derive(Clone, Default)]
pub struct Members(Arc<Mutex<HashMap<String, HashSet<String>>>>);

impl Members {
    /// Records the service's current pods (by `namespace/name`).
    pub fn set(&self, service: &Service, pods: &[Pod]) {
        let namespace = service.metadata.namespace.clone().unwrap_or_default();
        let name = service.metadata.name.clone().unwrap_or_default();
        let current: HashSet<String> = pods
            .iter()
            .map(|p| {
                format!(
                    "{namespace}/{}",
                    p.metadata.name.as_deref().unwrap_or_default()
                )
            })
            .collect();
        let mut members = self.0.lock().unwrap_or_else(|e| e.into_inner());
        members.retain(|pod, services| {
            if !current.contains(pod) {
                services.remove(&name);
            }
            !services.is_empty()
        });
        for pod in current {
            members.entry(pod).or_default().insert(name.clone());
        }
    }

    fn of(&self, pod: &str) -> Vec<String> {
        let members = self.0.lock().unwrap_or_else(|e| e.into_inner());
        members
            .get(pod)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// A controller over Services that also runs for every pod change, for the services that
/// select the pod or held it before.
pub fn service_controller(ctx: &Context, members: Members) -> Controller<Service> {
    let services: Api<Service> = Api::all(ctx.client.clone());
    let controller = Controller::new(services, watcher::Config::default());
    let store = controller.store();
    controller.watches_shared_stream(ctx.pods.subscribe(), move |pod: Arc<Pod>| {
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        let key = format!(
            "{namespace}/{}",
            pod.metadata.name.as_deref().unwrap_or_default()
        );
        let mut wake: Vec<ObjectRef<Service>> = store
            .state()
            .iter()
            .filter(|s| s.metadata.namespace.as_deref() == Some(namespace.as_str()))
            .filter(|s| selector(s).is_some_and(|sel| sel.matches(&labels)))
            .map(|s| ObjectRef::from_obj(s.as_ref()))
            .collect();
        wake.extend(
            members
                .of(&key)
                .into_iter()
                .map(|name| ObjectRef::new(&name).within(&namespace)),
        );
        wake
    })
}

fn wanted(
    service: &Service,
    existing: Option<&Endpoints>,
    subsets: Vec<EndpointSubset>,
    truncated: bool,
) -> Endpoints {
    let mut labels = service_labels(service);
    labels.insert(MANAGED_BY_LABEL.to_string(), CONTROLLER_NAME.to_string());
    let mut annotations = existing
        .and_then(|e| e.metadata.annotations.clone())
        .unwrap_or_default();
    annotations.insert(TRIGGER_TIME.to_string(), crate::api::object::now());
    if truncated {
        annotations.insert(OVER_CAPACITY.to_string(), "truncated".to_string());
    } else {
        annotations.remove(OVER_CAPACITY);
    }
    Endpoints {
        metadata: ObjectMeta {
            name: service.metadata.name.clone(),
            namespace: service.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: Some(annotations),
            resource_version: existing.and_then(|e| e.metadata.resource_version.clone()),
            ..existing.map(|e| e.metadata.clone()).unwrap_or_default()
        },
        subsets: (!subsets.is_empty()).then_some(subsets),
    }
}

fn unchanged(existing: &Endpoints, wanted: &Endpoints) -> bool {
    let over = |e: &Endpoints| {
        e.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(OVER_CAPACITY).cloned())
    };
    existing.subsets.clone().unwrap_or_default() == wanted.subsets.clone().unwrap_or_default()
        && existing.metadata.labels == wanted.metadata.labels
        && over(existing) == over(wanted)
}

struct Shared {
    ctx: Context,
    members: Members,
}

async fn reconcile(service: Arc<Service>, shared: Arc<Shared>) -> Result<Action, ReconcileError> {
    let Some(selector) = selector(&service) else {
        return Ok(Action::await_change());
    };
    let ctx = &shared.ctx;
    let namespace = service.metadata.namespace.clone().unwrap_or_default();
    let name = service.metadata.name.clone().unwrap_or_default();
    if service.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let pods = selected_pods(ctx, &service, &selector).await?;
    shared.members.set(&service, &pods);
    let (subsets, truncated) = subsets(&service, &pods);
    let api: Api<Endpoints> = Api::namespaced(ctx.client.clone(), &namespace);
    let existing = api.get_opt(&name).await?;
    let desired = wanted(&service, existing.as_ref(), subsets, truncated);
    let result = match &existing {
        Some(current) if unchanged(current, &desired) => return Ok(Action::await_change()),
        Some(_) => api
            .replace(&name, &PostParams::default(), &desired)
            .await
            .map(|_| ()),
        None => api
            .create(&PostParams::default(), &desired)
            .await
            .map(|_| ()),
    };
    match result {
        Ok(()) => {
            debug!(service = %format!("{namespace}/{name}"), "endpoints updated");
            Ok(Action::await_change())
        }
        Err(kube::Error::Api(e)) if e.code == 409 => {
            Ok(Action::requeue(std::time::Duration::from_millis(200)))
        }
        Err(kube::Error::Api(e)) if e.code == 403 || e.code == 404 => Ok(Action::await_change()),
        Err(e) => Err(e.into()),
    }
}

/// Deletes our Endpoints when their Service goes, and leftovers found at start.
async fn collect_leftovers(ctx: Context, shutdown: CancellationToken) {
    let services: Api<Service> = Api::all(ctx.client.clone());
    let all: Api<Endpoints> = Api::all(ctx.client.clone());
    let delete = |namespace: String, name: String| {
        let api: Api<Endpoints> = Api::namespaced(ctx.client.clone(), &namespace);
        async move {
            let managed = match api.get_opt(&name).await {
                Ok(Some(e)) => {
                    e.metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(MANAGED_BY_LABEL))
                        .map(String::as_str)
                        == Some(CONTROLLER_NAME)
                }
                _ => false,
            };
            if managed
                && let Err(error) = api.delete(&name, &DeleteParams::default()).await
                && !matches!(&error, kube::Error::Api(e) if e.code == 404)
            {
                warn!(%error, endpoints = %name, "cannot delete endpoints of a deleted service");
            }
        }
    };
    let events = watcher(services, watcher::Config::default()).default_backoff();
    let mut events = std::pin::pin!(events.take_until(shutdown.cancelled_owned()));
    let mut listed: HashSet<(String, String)> = HashSet::new();
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Init) => listed.clear(),
            Ok(watcher::Event::InitApply(s)) => {
                listed.insert((
                    s.metadata.namespace.unwrap_or_default(),
                    s.metadata.name.unwrap_or_default(),
                ));
            }
            Ok(watcher::Event::InitDone) => {
                let Ok(endpoints) = all
                    .list(
                        &ListParams::default()
                            .labels(&format!("{MANAGED_BY_LABEL}={CONTROLLER_NAME}")),
                    )
                    .await
                else {
                    continue;
                };
                for e in endpoints.items {
                    let key = (
                        e.metadata.namespace.unwrap_or_default(),
                        e.metadata.name.unwrap_or_default(),
                    );
                    if !listed.contains(&key) {
                        delete(key.0, key.1).await;
                    }
                }
            }
            Ok(watcher::Event::Delete(s)) => {
                delete(
                    s.metadata.namespace.unwrap_or_default(),
                    s.metadata.name.unwrap_or_default(),
                )
                .await;
            }
            Ok(watcher::Event::Apply(_)) => {}
            Err(error) => warn!(%error, "service watch failed"),
        }
    }
}

fn retry(service: Arc<Service>, error: &ReconcileError, shared: Arc<Shared>) -> Action {
    retry_later(service, error, Arc::new(shared.ctx.clone()))
}

/// The controller; it subscribes to the shared pod events at once, the rest runs when
/// polled.
pub fn run(ctx: Context, shutdown: CancellationToken) -> impl Future<Output = ()> + Send + 'static {
    let members = Members::default();
    let controller = service_controller(&ctx, members.clone());
    async move {
        let leftovers = tokio::spawn(collect_leftovers(ctx.clone(), shutdown.clone()));
        controller
            .graceful_shutdown_on(async move { shutdown.cancelled().await })
            .run(reconcile, retry, Arc::new(Shared { ctx, members }))
            .for_each(|_| async {})
            .await;
        let _ = leftovers.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(value: serde_json::Value) -> Service {
        serde_json::from_value(value).unwrap()
    }

    fn pod(name: &str, ip: &str, ready: bool, extra: serde_json::Value) -> Pod {
        let mut value = json!({"metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}")},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": [
                {"name": "http", "containerPort": 8080, "protocol": "TCP"}]}]},
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}});
        if let (Some(target), Some(extra)) = (value.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                if let Some(existing) = target.get_mut(k).and_then(|e| e.as_object_mut()) {
                    for (k2, v2) in v.as_object().into_iter().flatten() {
                        existing.insert(k2.clone(), v2.clone());
                    }
                } else {
                    target.insert(k.clone(), v.clone());
                }
            }
        }
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn ready_and_not_ready_addresses_with_named_ports() {
        let svc = service(json!({"metadata": {"name": "web", "namespace": "ns"},
            "spec": {"selector": {"app": "web"}, "ports": [
                {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}}));
        let pods = [
            pod("b", "10.42.0.5", true, json!({})),
            pod("a", "10.42.0.4", false, json!({})),
            pod(
                "gone",
                "10.42.0.6",
                true,
                json!({"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"}}),
            ),
            pod(
                "done",
                "10.42.0.7",
                true,
                json!({"status": {"phase": "Succeeded"}}),
            ),
        ];
        let (subsets, truncated) = subsets(&svc, &pods);
        assert!(!truncated);
        assert_eq!(subsets.len(), 1);
        let subset = &subsets[0];
        let ips = |l: &Option<Vec<EndpointAddress>>| -> Vec<String> {
            l.iter().flatten().map(|a| a.ip.clone()).collect()
        };
        assert_eq!(ips(&subset.addresses), ["10.42.0.5"]);
        assert_eq!(ips(&subset.not_ready_addresses), ["10.42.0.4"]);
        let ports = subset.ports.as_ref().unwrap();
        assert_eq!(
            (ports[0].port, ports[0].name.as_deref()),
            (8080, Some("http"))
        );
    }

    #[test]
    fn publish_not_ready_and_headless_hostnames() {
        let svc = service(json!({"metadata": {"name": "db", "namespace": "ns"},
            "spec": {"selector": {"app": "db"}, "clusterIP": "None", "publishNotReadyAddresses": true}}));
        let pods = [pod(
            "db-0",
            "10.42.0.9",
            false,
            json!({"spec": {"hostname": "db-0", "subdomain": "db"}}),
        )];
        let (subsets, _) = subsets(&svc, &pods);
        let address = &subsets[0].addresses.as_ref().unwrap()[0];
        assert_eq!(address.hostname.as_deref(), Some("db-0"));
        assert!(subsets[0].ports.is_none());
        assert_eq!(
            service_labels(&svc).get(HEADLESS_LABEL).map(String::as_str),
            Some("")
        );
    }

    #[test]
    fn unresolvable_named_ports_leave_the_pod_out_of_that_port() {
        let svc = service(json!({"metadata": {"name": "web", "namespace": "ns"},
            "spec": {"selector": {"app": "web"}, "ports": [
                {"name": "metrics", "port": 9090, "targetPort": "metrics"},
                {"name": "http", "port": 80, "targetPort": 8080}]}}));
        let (subsets, _) = subsets(&svc, &[pod("a", "10.42.0.4", true, json!({}))]);
        assert_eq!(subsets.len(), 1);
        let ports = subsets[0].ports.as_ref().unwrap();
        assert_eq!(ports.len(), 1);
        assert_eq!(ports[0].name.as_deref(), Some("http"));
    }
}
