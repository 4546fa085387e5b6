//! The EndpointSlice controller: for every Service with a selector (not ExternalName),
//! `discovery.k8s.io/v1` EndpointSlices of at most 100 endpoints, one family of slices per
//! set of resolved ports, each endpoint with its `ready`/`serving`/`terminating` conditions
//! (terminating pods stay, marked), `nodeName`, `zone` (the node's
//! `topology.kubernetes.io/zone`), `hostname` for headless subdomains and a `targetRef`.
//! Slices carry `kubernetes.io/service-name`, `endpointslice.kubernetes.io/managed-by:
//! endpointslice-controller.k8s.io` and the Service's labels, and a controller owner
//! reference to the Service, so the garbage collector removes them with it. A service with
//! no endpoints keeps one empty placeholder slice. Endpoints stay in the slice they are in
//! while they last, so a pod's change rewrites one slice, not all.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::endpoints::{
    Members, TRIGGER_TIME, find_port, hostname, include, pod_ip, pod_reference, selected_pods,
    selector, service_controller, service_labels,
};
use super::node_lifecycle::reflect;
use super::pod_conditions::{self, controller_ref};
use super::{Context, ReconcileError, retry_later};

pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
pub const CONTROLLER_NAME: &str = "endpointslice-controller.k8s.io";
/// Endpoints per slice (upstream's `--max-endpoints-per-slice` default).
pub const MAX_ENDPOINTS: usize = 100;
const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

pub fn ports_key(ports: &[EndpointPort]) -> String {
    let mut keys: Vec<String> = ports
        .iter()
        .map(|p| {
            format!(
                "{}/{}/{}/{}",
                p.name.as_deref().unwrap_or(""),
                p.port.unwrap_or(0),
                p.protocol.as_deref().unwrap_or(""),
                p.app_protocol.as_deref().unwrap_or("")
            )
        })
        .collect();
    keys.sort();
    keys.join(",")
}

fn endpoint_key(endpoint: &Endpoint) -> String {
    endpoint
        .target_ref
        .as_ref()
        .and_then(|r| r.uid.clone())
        .unwrap_or_else(|| endpoint.addresses.join(","))
}

/// The desired endpoints of the service, grouped by port set: key → (ports, endpoints).
pub fn desired(
    service: &Service,
    pods: &[Pod],
    zone_of: impl Fn(&str) -> Option<String>,
) -> BTreeMap<String, (Vec<EndpointPort>, Vec<Endpoint>)> {
    let spec = service.spec.clone().unwrap_or_default();
    let publish = spec.publish_not_ready_addresses == Some(true);
    let service_ports = spec.ports.clone().unwrap_or_default();
    let mut groups: BTreeMap<String, (Vec<EndpointPort>, Vec<Endpoint>)> = BTreeMap::new();
    let mut sorted: Vec<&Pod> = pods.iter().filter(|p| include(p, true)).collect();
    sorted.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    for pod in sorted {
        let Some(ip) = pod_ip(pod) else { continue };
        let ports: Vec<EndpointPort> = service_ports
            .iter()
            .filter_map(|port| {
                Some(EndpointPort {
                    name: Some(port.name.clone().unwrap_or_default()),
                    port: Some(find_port(pod, port)?),
                    protocol: Some(port.protocol.clone().unwrap_or_else(|| "TCP".to_string())),
                    app_protocol: port.app_protocol.clone(),
                })
            })
            .collect();
        let serving = publish || pod_conditions::is_ready(pod);
        let terminating = pod_conditions::is_deleting(pod);
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .filter(|n| !n.is_empty());
        let endpoint = Endpoint {
            addresses: vec![ip],
            conditions: Some(EndpointConditions {
                ready: Some(publish || (serving && !terminating)),
                serving: Some(serving),
                terminating: Some(terminating),
            }),
            hostname: hostname(pod, service),
            zone: node.as_deref().and_then(&zone_of),
            node_name: node,
            target_ref: Some(pod_reference(pod)),
            ..Default::default()
        };
        groups
            .entry(ports_key(&ports))
            .or_insert_with(|| (ports, Vec::new()))
            .1
            .push(endpoint);
    }
    groups
}

/// What to write: slices to update (by index into the existing ones), to create, to delete.
#[derive(Debug, Default)]
pub struct Plan {
    pub update: Vec<(usize, Vec<EndpointPort>, Vec<Endpoint>)>,
    pub create: Vec<(Vec<EndpointPort>, Vec<Endpoint>)>,
    pub delete: Vec<usize>,
}

/// Fits the desired endpoints into the existing slices, keeping each endpoint where it is
/// when it can, filling slices before making new ones, and leaving one placeholder slice
/// when there is nothing at all.
pub fn plan(
    existing: &[EndpointSlice],
    desired: BTreeMap<String, (Vec<EndpointPort>, Vec<Endpoint>)>,
) -> Plan {
    let mut plan = Plan::default();
    // The endpoints each existing slice keeps.
    let mut kept: Vec<Option<(String, Vec<Endpoint>)>> = vec![None; existing.len()];
    let mut remaining: BTreeMap<String, (Vec<EndpointPort>, Vec<Endpoint>)> = desired;
    let mut placed: HashSet<String> = HashSet::new();
    for (i, slice) in existing.iter().enumerate() {
        let key = ports_key(slice.ports.as_deref().unwrap_or_default());
        let Some((_, wanted)) = remaining.get(&key) else {
            continue;
        };
        let by_key: HashMap<String, &Endpoint> =
            wanted.iter().map(|e| (endpoint_key(e), e)).collect();
        let keep: Vec<Endpoint> = slice
            .endpoints
            .iter()
            .filter_map(|e| {
                let k = endpoint_key(e);
                (!placed.contains(&k)).then(|| by_key.get(&k).map(|w| (*w).clone()))?
            })
            .take(MAX_ENDPOINTS)
            .collect();
        placed.extend(keep.iter().map(endpoint_key));
        kept[i] = Some((key, keep));
    }
    for (_, (_, endpoints)) in remaining.iter_mut() {
        endpoints.retain(|e| !placed.contains(&endpoint_key(e)));
    }
    // Fill the slices of each group, then create more.
    for (key, (ports, mut left)) in remaining {
        for (slice_key, endpoints) in kept.iter_mut().flatten() {
            if *slice_key != key {
                continue;
            }
            let room = MAX_ENDPOINTS
                .saturating_sub(endpoints.len())
                .min(left.len());
            endpoints.extend(left.drain(..room));
        }
        while !left.is_empty() {
            let take = left.len().min(MAX_ENDPOINTS);
            plan.create
                .push((ports.clone(), left.drain(..take).collect()));
        }
    }
    let mut survivors = 0;
    for (i, entry) in kept.into_iter().enumerate() {
        match entry {
            Some((_, endpoints)) if !endpoints.is_empty() => {
                survivors += 1;
                let ports = existing[i].ports.clone().unwrap_or_default();
                if endpoints != existing[i].endpoints {
                    plan.update.push((i, ports, endpoints));
                }
            }
            _ => plan.delete.push(i),
        }
    }
    if survivors == 0 && plan.create.is_empty() {
        // A placeholder: an existing empty slice if there is one, else a new one.
        let reusable = plan.delete.iter().position(|i| {
            existing[*i].endpoints.is_empty()
                && existing[*i].ports.as_ref().is_none_or(Vec::is_empty)
        });
        match reusable {
            Some(at) => {
                plan.delete.remove(at);
            }
            None => plan.create.push((Vec::new(), Vec::new())),
        }
    }
    plan
}

struct Shared {
    ctx: Context,
    members: Members,
    nodes: Store<Node>,
}

fn slice_meta(service: &Service) -> ObjectMeta {
    let name = service.metadata.name.clone().unwrap_or_default();
    let mut labels = service_labels(service);
    labels.remove(super::endpoints::MANAGED_BY_LABEL);
    labels.insert(SERVICE_NAME_LABEL.to_string(), name.clone());
    labels.insert(MANAGED_BY_LABEL.to_string(), CONTROLLER_NAME.to_string());
    ObjectMeta {
        generate_name: Some(format!("{name}-")),
        namespace: service.metadata.namespace.clone(),
        labels: Some(labels),
        annotations: Some(BTreeMap::from([(
            TRIGGER_TIME.to_string(),
            crate::api::object::now(),
        )])),
        owner_references: Some(vec![controller_ref("v1", "Service", &service.metadata)]),
        ..Default::default()
    }
}

async fn reconcile(service: Arc<Service>, shared: Arc<Shared>) -> Result<Action, ReconcileError> {
    let Some(selector) = selector(&service) else {
        return Ok(Action::await_change());
    };
    let spec = service.spec.as_ref();
    if spec.and_then(|s| s.type_.as_deref()) == Some("ExternalName")
        || service.metadata.deletion_timestamp.is_some()
    {
        return Ok(Action::await_change());
    }
    let ctx = &shared.ctx;
    let namespace = service.metadata.namespace.clone().unwrap_or_default();
    let name = service.metadata.name.clone().unwrap_or_default();
    let pods = selected_pods(ctx, &service, &selector).await?;
    shared.members.set(&service, &pods);
    let nodes = shared.nodes.clone();
    let zone_of = |node: &str| {
        nodes
            .get(&ObjectRef::new(node))
            .and_then(|n| n.metadata.labels.as_ref()?.get(ZONE_LABEL).cloned())
    };
    let wanted = desired(&service, &pods, zone_of);
    let api: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), &namespace);
    let existing: Vec<EndpointSlice> = api
        .list(&ListParams::default().labels(&format!(
            "{SERVICE_NAME_LABEL}={name},{MANAGED_BY_LABEL}={CONTROLLER_NAME}"
        )))
        .await?
        .items;
    let plan = plan(&existing, wanted);
    let meta = slice_meta(&service);
    let mut conflicts = false;
    let mut note = |result: Result<(), kube::Error>| -> Result<(), ReconcileError> {
        match result {
            Ok(()) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 409 || e.code == 404 => {
                conflicts = true;
                Ok(())
            }
            Err(kube::Error::Api(e)) if e.code == 403 => Ok(()),
            Err(e) => Err(e.into()),
        }
    };
    let mut touched: HashSet<usize> = HashSet::new();
    for (i, ports, endpoints) in plan.update {
        touched.insert(i);
        let mut slice = existing[i].clone();
        slice.metadata.labels = meta.labels.clone();
        slice.metadata.owner_references = meta.owner_references.clone();
        slice
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .extend(meta.annotations.clone().unwrap_or_default());
        slice.ports = (!ports.is_empty()).then_some(ports);
        slice.endpoints = endpoints;
        let slice_name = slice.metadata.name.clone().unwrap_or_default();
        note(
            api.replace(&slice_name, &PostParams::default(), &slice)
                .await
                .map(|_| ()),
        )?;
    }
    // Labels follow the service even when the endpoints do not change.
    for (i, slice) in existing.iter().enumerate() {
        if touched.contains(&i) || plan.delete.contains(&i) || slice.metadata.labels == meta.labels
        {
            continue;
        }
        let mut slice = slice.clone();
        slice.metadata.labels = meta.labels.clone();
        let slice_name = slice.metadata.name.clone().unwrap_or_default();
        note(
            api.replace(&slice_name, &PostParams::default(), &slice)
                .await
                .map(|_| ()),
        )?;
    }
    for (ports, endpoints) in plan.create {
        let slice = EndpointSlice {
            metadata: meta.clone(),
            address_type: "IPv4".to_string(),
            endpoints,
            ports: (!ports.is_empty()).then_some(ports),
        };
        note(api.create(&PostParams::default(), &slice).await.map(|_| ()))?;
    }
    for i in plan.delete {
        let slice_name = existing[i].metadata.name.clone().unwrap_or_default();
        note(
            api.delete(&slice_name, &DeleteParams::default())
                .await
                .map(|_| ()),
        )?;
    }
    debug!(service = %format!("{namespace}/{name}"), "endpoint slices reconciled");
    Ok(if conflicts {
        Action::requeue(std::time::Duration::from_millis(200))
    } else {
        Action::await_change()
    })
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
        let nodes = reflect(
            Api::<Node>::all(ctx.client.clone()),
            watcher::Config::default(),
            shutdown.clone(),
        );
        controller
            .graceful_shutdown_on(async move { shutdown.cancelled().await })
            .run(
                reconcile,
                retry,
                Arc::new(Shared {
                    ctx,
                    members,
                    nodes,
                }),
            )
            .for_each(|_| async {})
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(uid: &str) -> Endpoint {
        Endpoint {
            addresses: vec![format!("10.0.0.{}", uid.len())],
            target_ref: Some(k8s_openapi::api::core::v1::ObjectReference {
                uid: Some(uid.to_string()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn port(number: i32) -> EndpointPort {
        EndpointPort {
            name: Some(String::new()),
            port: Some(number),
            protocol: Some("TCP".into()),
            app_protocol: None,
        }
    }

    fn slice(ports: Vec<EndpointPort>, endpoints: Vec<Endpoint>) -> EndpointSlice {
        EndpointSlice {
            metadata: ObjectMeta::default(),
            address_type: "IPv4".into(),
            endpoints,
            ports: Some(ports),
        }
    }

    fn group(
        ports: Vec<EndpointPort>,
        uids: &[String],
    ) -> BTreeMap<String, (Vec<EndpointPort>, Vec<Endpoint>)> {
        BTreeMap::from([(
            ports_key(&ports),
            (ports, uids.iter().map(|u| endpoint(u)).collect()),
        )])
    }

    #[test]
    fn splits_at_one_hundred_endpoints() {
        let uids: Vec<String> = (0..250).map(|i| format!("u{i}")).collect();
        let plan = plan(&[], group(vec![port(80)], &uids));
        let sizes: Vec<usize> = plan.create.iter().map(|(_, e)| e.len()).collect();
        assert_eq!(sizes, [100, 100, 50]);
    }

    #[test]
    fn keeps_endpoints_in_place_and_fills_before_creating() {
        let existing = [slice(vec![port(80)], vec![endpoint("a"), endpoint("b")])];
        let uids: Vec<String> = ["a", "c"].iter().map(|s| s.to_string()).collect();
        let plan = plan(&existing, group(vec![port(80)], &uids));
        assert!(plan.create.is_empty() && plan.delete.is_empty());
        let keys: Vec<String> = plan.update[0].2.iter().map(endpoint_key).collect();
        assert_eq!(keys, ["a", "c"]);
    }

    #[test]
    fn port_changes_replace_slices_and_empty_services_keep_a_placeholder() {
        let existing = [slice(vec![port(80)], vec![endpoint("a")])];
        let uids = vec!["a".to_string()];
        let moved = plan(&existing, group(vec![port(81)], &uids));
        assert_eq!(moved.delete, [0]);
        assert_eq!(moved.create.len(), 1);
        let emptied = plan(&existing, BTreeMap::new());
        assert_eq!(emptied.delete, [0]);
        assert_eq!(emptied.create.len(), 1);
        assert!(emptied.create[0].1.is_empty());
        let placeholder = [slice(Vec::new(), Vec::new())];
        let kept = plan(&placeholder, BTreeMap::new());
        assert!(kept.delete.is_empty() && kept.create.is_empty() && kept.update.is_empty());
    }
}
