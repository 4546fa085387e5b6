//! The cluster DNS's in-memory view of the cluster: Namespaces, Services and EndpointSlices,
//! reduced to what names are answered from. Kept by the watchers in [`super::watch`], read by
//! every query through [`super::records::lookup`]; a pure data structure, so that lookups are
//! unit-tested without a cluster.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// The label that ties an EndpointSlice to its Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// `(namespace, name)`.
pub type ObjectKey = (String, String);

/// One port of a Service or an EndpointSlice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortRecord {
    /// Empty for an unnamed port.
    pub name: String,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    pub port: u16,
}

/// How a Service is answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceKind {
    /// Its ClusterIPs.
    ClusterIp(Vec<IpAddr>),
    /// `clusterIP: None`: its ready endpoints' addresses.
    Headless,
    /// A CNAME to this name.
    ExternalName(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRecord {
    pub kind: ServiceKind,
    pub ports: Vec<PortRecord>,
}

/// One ready endpoint of an EndpointSlice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointRecord {
    pub addresses: Vec<IpAddr>,
    /// `hostname` (StatefulSet pods and pods with `spec.subdomain`).
    pub hostname: Option<String>,
}

impl EndpointRecord {
    /// The label this endpoint is known by under its Service: its hostname, or its address
    /// with `.` (or `:`) replaced by `-`.
    pub fn label(&self, address: IpAddr) -> String {
        match &self.hostname {
            Some(hostname) => hostname.clone(),
            None => address.to_string().replace(['.', ':'], "-"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SliceRecord {
    pub service: String,
    /// Ready endpoints only (a missing `ready` condition counts as ready).
    pub endpoints: Vec<EndpointRecord>,
    pub ports: Vec<PortRecord>,
}

/// Which watched kind an update is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Namespace,
    Service,
    EndpointSlice,
}

/// The whole view. Names are stored lowercase; lookups lowercase the query first.
#[derive(Clone, Debug, Default)]
pub struct ClusterIndex {
    namespaces: HashSet<String>,
    services: HashMap<ObjectKey, ServiceRecord>,
    /// Keyed by `(namespace, slice name)`.
    slices: HashMap<ObjectKey, SliceRecord>,
    /// `(namespace, service)` → its slices' names.
    slices_by_service: HashMap<ObjectKey, BTreeSet<String>>,
    /// Kinds whose initial list has been applied; names are not denied before all are.
    synced: HashSet<Kind>,
    /// Bumped on every change: the SOA serial.
    generation: u32,
}

impl ClusterIndex {
    /// Whether every kind has been listed once, so that a missing name really is missing.
    pub fn is_synced(&self) -> bool {
        self.synced.len() == 3
    }

    pub fn mark_synced(&mut self, kind: Kind) {
        self.synced.insert(kind);
    }

    pub fn generation(&self) -> u32 {
        self.generation
    }

    pub fn has_namespace(&self, namespace: &str) -> bool {
        self.namespaces.contains(namespace)
    }

    pub fn service(&self, namespace: &str, name: &str) -> Option<&ServiceRecord> {
        self.services
            .get(&(namespace.to_string(), name.to_string()))
    }

    /// The ready endpoints of a Service with their slice's ports, slice by slice.
    pub fn endpoints(
        &self,
        namespace: &str,
        service: &str,
    ) -> impl Iterator<Item = (&EndpointRecord, &[PortRecord])> {
        let key = (namespace.to_string(), service.to_string());
        self.slices_by_service
            .get(&key)
            .into_iter()
            .flatten()
            .filter_map(move |slice| self.slices.get(&(namespace.to_string(), slice.clone())))
            .flat_map(|slice| {
                slice
                    .endpoints
                    .iter()
                    .map(move |e| (e, slice.ports.as_slice()))
            })
    }

    /// The name a reverse lookup of `ip` answers, relative to the cluster domain:
    /// `<svc>.<ns>.svc` for a ClusterIP, `<endpoint>.<svc>.<ns>.svc` for a ready endpoint.
    pub fn reverse(&self, ip: IpAddr) -> Option<String> {
        let mut services: Vec<_> = self.services.iter().collect();
        services.sort_by(|a, b| a.0.cmp(b.0));
        for ((namespace, name), service) in services {
            if let ServiceKind::ClusterIp(ips) = &service.kind
                && ips.contains(&ip)
            {
                return Some(format!("{name}.{namespace}.svc"));
            }
        }
        let mut slices: Vec<_> = self.slices.iter().collect();
        slices.sort_by(|a, b| a.0.cmp(b.0));
        for ((namespace, _), slice) in slices {
            for endpoint in &slice.endpoints {
                if endpoint.addresses.contains(&ip) {
                    return Some(format!(
                        "{}.{}.{namespace}.svc",
                        endpoint.label(ip),
                        slice.service
                    ));
                }
            }
        }
        None
    }

    /// Replaces everything known of `kind` with `objects` (a fresh list after a (re)watch).
    pub fn replace_all<T: Indexed>(&mut self, objects: &[T]) {
        T::clear(self);
        for object in objects {
            object.upsert(self);
        }
        self.mark_synced(T::KIND);
        self.generation = self.generation.wrapping_add(1);
    }

    pub fn upsert<T: Indexed>(&mut self, object: &T) {
        object.upsert(self);
        self.generation = self.generation.wrapping_add(1);
    }

    pub fn remove<T: Indexed>(&mut self, object: &T) {
        object.remove(self);
        self.generation = self.generation.wrapping_add(1);
    }

    fn remove_slice(&mut self, key: &ObjectKey) {
        if let Some(old) = self.slices.remove(key) {
            let service_key = (key.0.clone(), old.service);
            if let Some(names) = self.slices_by_service.get_mut(&service_key) {
                names.remove(&key.1);
                if names.is_empty() {
                    self.slices_by_service.remove(&service_key);
                }
            }
        }
    }
}

/// An object the index is kept from.
pub trait Indexed {
    const KIND: Kind;
    fn upsert(&self, index: &mut ClusterIndex);
    fn remove(&self, index: &mut ClusterIndex);
    fn clear(index: &mut ClusterIndex);
}

fn key_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> ObjectKey {
    (
        meta.namespace.clone().unwrap_or_default().to_lowercase(),
        meta.name.clone().unwrap_or_default().to_lowercase(),
    )
}

impl Indexed for Namespace {
    const KIND: Kind = Kind::Namespace;

    fn upsert(&self, index: &mut ClusterIndex) {
        if let Some(name) = &self.metadata.name {
            index.namespaces.insert(name.to_lowercase());
        }
    }

    fn remove(&self, index: &mut ClusterIndex) {
        if let Some(name) = &self.metadata.name {
            index.namespaces.remove(&name.to_lowercase());
        }
    }

    fn clear(index: &mut ClusterIndex) {
        index.namespaces.clear();
    }
}

/// What a Service is answered with, or `None` for one that has no DNS records (no ClusterIP
/// yet).
pub fn service_record(service: &Service) -> Option<ServiceRecord> {
    let spec = service.spec.as_ref()?;
    let ports = spec
        .ports
        .iter()
        .flatten()
        .filter_map(|p| {
            Some(PortRecord {
                name: p.name.clone().unwrap_or_default().to_lowercase(),
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                port: u16::try_from(p.port).ok()?,
            })
        })
        .collect();
    let kind = if spec.type_.as_deref() == Some("ExternalName") {
        ServiceKind::ExternalName(spec.external_name.clone()?.trim_end_matches('.').into())
    } else if spec.cluster_ip.as_deref() == Some("None") {
        ServiceKind::Headless
    } else {
        let mut ips: Vec<IpAddr> = spec
            .cluster_ips
            .iter()
            .flatten()
            .chain(spec.cluster_ip.iter())
            .filter_map(|ip| ip.parse().ok())
            .collect();
        ips.dedup();
        if ips.is_empty() {
            return None;
        }
        ServiceKind::ClusterIp(ips)
    };
    Some(ServiceRecord { kind, ports })
}

impl Indexed for Service {
    const KIND: Kind = Kind::Service;

    fn upsert(&self, index: &mut ClusterIndex) {
        let key = key_of(&self.metadata);
        match service_record(self) {
            Some(record) => index.services.insert(key, record),
            None => index.services.remove(&key),
        };
    }

    fn remove(&self, index: &mut ClusterIndex) {
        index.services.remove(&key_of(&self.metadata));
    }

    fn clear(index: &mut ClusterIndex) {
        index.services.clear();
    }
}

/// The ready endpoints and ports of a slice, or `None` for one without a Service label or of
/// the `FQDN` address type.
pub fn slice_record(slice: &EndpointSlice) -> Option<SliceRecord> {
    if slice.address_type == "FQDN" {
        return None;
    }
    let service = slice
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SERVICE_NAME_LABEL))?
        .to_lowercase();
    let endpoints = slice
        .endpoints
        .iter()
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true))
        .map(|e| EndpointRecord {
            addresses: e.addresses.iter().filter_map(|a| a.parse().ok()).collect(),
            hostname: e.hostname.as_ref().map(|h| h.to_lowercase()),
        })
        .collect();
    let ports = slice
        .ports
        .iter()
        .flatten()
        .filter_map(|p| {
            Some(PortRecord {
                name: p.name.clone().unwrap_or_default().to_lowercase(),
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                port: u16::try_from(p.port?).ok()?,
            })
        })
        .collect();
    Some(SliceRecord {
        service,
        endpoints,
        ports,
    })
}

impl Indexed for EndpointSlice {
    const KIND: Kind = Kind::EndpointSlice;

    fn upsert(&self, index: &mut ClusterIndex) {
        let key = key_of(&self.metadata);
        index.remove_slice(&key);
        if let Some(record) = slice_record(self) {
            index
                .slices_by_service
                .entry((key.0.clone(), record.service.clone()))
                .or_default()
                .insert(key.1.clone());
            index.slices.insert(key, record);
        }
    }

    fn remove(&self, index: &mut ClusterIndex) {
        index.remove_slice(&key_of(&self.metadata));
    }

    fn clear(index: &mut ClusterIndex) {
        index.slices.clear();
        index.slices_by_service.clear();
    }
}

/// Counts for the start-up log.
pub fn summary(index: &ClusterIndex) -> BTreeMap<&'static str, usize> {
    BTreeMap::from([
        ("namespaces", index.namespaces.len()),
        ("services", index.services.len()),
        ("endpointslices", index.slices.len()),
    ])
}
