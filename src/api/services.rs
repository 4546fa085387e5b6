//! Service IP and NodePort allocation, done by the API server on create and update.
//!
//! A ClusterIP comes from `--service-cidr` (a random free one, or the one requested if it is
//! free and in range); NodePorts from `--service-node-port-range`. What is in use is read
//! from the stored Services themselves (through the watch cache), so nothing needs repair
//! after a restart: there is no separate allocation record to drift. Allocations are
//! serialized by one lock held until the Service is written, and IPs handed out in the last
//! seconds are remembered until the cache shows them.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;
use serde_json::{Value, json};

use super::cache::{Filter, WatchCache};
use super::field_error::FieldError;
use super::registry::ResourceInfo;

const SERVICES: &str = "/registry/core/services/";
/// How long a fresh allocation is remembered while the cache catches up.
const PENDING: Duration = Duration::from_secs(30);

/// The allocator, shared by every request.
pub struct ServiceAllocator {
    pub cidr: Ipv4Net,
    pub node_ports: (u16, u16),
    /// Held from allocation until the Service is stored.
    pub lock: tokio::sync::Mutex<()>,
    pending_ips: Mutex<HashMap<Ipv4Addr, Instant>>,
    pending_ports: Mutex<HashMap<u16, Instant>>,
}

fn random_u64() -> u64 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    u64::from_le_bytes(bytes[..8].try_into().unwrap_or_default())
}

fn is_service(info: &ResourceInfo) -> bool {
    info.group.is_empty() && info.kind == "Service"
}

fn service_type(service: &Value) -> &str {
    service
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
}

fn wants_node_ports(service: &Value) -> bool {
    matches!(service_type(service), "NodePort" | "LoadBalancer")
}

impl ServiceAllocator {
    pub fn new(cidr: Ipv4Net, node_ports: (u16, u16)) -> Self {
        ServiceAllocator {
            cidr,
            node_ports,
            lock: tokio::sync::Mutex::new(()),
            pending_ips: Mutex::new(HashMap::new()),
            pending_ports: Mutex::new(HashMap::new()),
        }
    }

    /// The first address of the range: the `kubernetes` Service's.
    pub fn first_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.cidr.network()) + 1)
    }

    /// IPs and node ports used by stored Services other than `except` (namespace/name).
    fn in_use(
        &self,
        cache: &WatchCache,
        except: Option<(&str, &str)>,
    ) -> (HashSet<Ipv4Addr>, HashSet<u16>) {
        let mut ips = HashSet::new();
        let mut ports = HashSet::new();
        for object in cache.list(SERVICES, &Filter::default(), None, None).objects {
            if except.is_some_and(|(ns, name)| {
                object.namespace.as_deref() == Some(ns) && object.name == name
            }) {
                continue;
            }
            let service = object.value();
            for ip in service
                .pointer("/spec/clusterIPs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(ip) = ip.as_str().and_then(|s| s.parse().ok()) {
                    ips.insert(ip);
                }
            }
            if let Some(ip) = service
                .pointer("/spec/clusterIP")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
            {
                ips.insert(ip);
            }
            for port in service
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(p) = port.get("nodePort").and_then(Value::as_u64) {
                    ports.insert(p as u16);
                }
            }
        }
        let now = Instant::now();
        let mut pending = self.pending_ips.lock().unwrap_or_else(|e| e.into_inner());
        pending.retain(|_, at| now.duration_since(*at) < PENDING);
        ips.extend(pending.keys().copied());
        let mut pending = self.pending_ports.lock().unwrap_or_else(|e| e.into_inner());
        pending.retain(|_, at| now.duration_since(*at) < PENDING);
        ports.extend(pending.keys().copied());
        (ips, ports)
    }

    fn pick_ip(&self, used: &HashSet<Ipv4Addr>) -> Option<Ipv4Addr> {
        let base = u32::from(self.cidr.network());
        // Usable: network+1 … broadcast-1; the first is reserved for `kubernetes`.
        let size = (1u64 << (32 - self.cidr.prefix_len())).saturating_sub(2);
        if size <= 1 {
            return None;
        }
        // As upstream (KEP-3070): the lowest addresses (16 to 256 of them) are kept for
        // Services that ask for one, such as the cluster DNS address (10.43.0.10), and are
        // handed out at random only when the rest are taken.
        let band = (size / 16).clamp(16, 256).min(size);
        let pick = |from: u64, to: u64| {
            let n = to.checked_sub(from).filter(|n| *n > 0)?;
            let start = random_u64() % n;
            (0..n)
                .map(|i| Ipv4Addr::from(base + 1 + (from + (start + i) % n) as u32))
                .find(|ip| *ip != self.first_ip() && !used.contains(ip))
        };
        pick(band, size).or_else(|| pick(0, band))
    }

    fn pick_port(&self, used: &HashSet<u16>) -> Option<u16> {
        let (low, high) = self.node_ports;
        let size = u64::from(high - low) + 1;
        let start = random_u64() % size;
        (0..size)
            .map(|i| low + ((start + i) % size) as u16)
            .find(|p| !used.contains(p))
    }

    /// Fills in `spec.clusterIP(s)`, the IP family fields and node ports of a Service being
    /// created or updated (`old` on update), or says why it cannot.
    pub fn allocate(
        &self,
        info: &ResourceInfo,
        cache: &WatchCache,
        old: Option<&Value>,
        service: &mut Value,
    ) -> Result<(), Vec<FieldError>> {
        if !is_service(info) {
            return Ok(());
        }
        let namespace = service
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let name = service
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let (used_ips, used_ports) = self.in_use(cache, Some((&namespace, &name)));
        let mut errors = Vec::new();
        let external = service_type(service) == "ExternalName";
        let requested = service
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let old_ip = old
            .and_then(|o| o.pointer("/spec/clusterIP"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if external {
            if let Some(spec) = service.get_mut("spec").and_then(Value::as_object_mut) {
                spec.remove("clusterIP");
                spec.remove("clusterIPs");
                spec.remove("ipFamilies");
                spec.remove("ipFamilyPolicy");
            }
        } else if requested == "None" {
            service["spec"]["clusterIPs"] = json!(["None"]);
        } else if !old_ip.is_empty() && (requested.is_empty() || requested == old_ip) {
            service["spec"]["clusterIP"] = json!(old_ip);
            service["spec"]["clusterIPs"] = json!([old_ip]);
        } else if requested.is_empty() {
            match self.pick_ip(&used_ips) {
                Some(ip) => {
                    self.pending_ips
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(ip, Instant::now());
                    service["spec"]["clusterIP"] = json!(ip.to_string());
                    service["spec"]["clusterIPs"] = json!([ip.to_string()]);
                }
                None => errors.push(FieldError::internal(
                    "spec.clusterIPs",
                    &format!(
                        "failed to allocate a serviceIP: range is full ({})",
                        self.cidr
                    ),
                )),
            }
        } else {
            match requested.parse::<Ipv4Addr>() {
                Ok(ip) if !self.cidr.contains(&ip) => errors.push(FieldError::invalid(
                    "spec.clusterIPs",
                    &json!([requested]),
                    &format!("failed to allocate IP {requested}: the provided IP ({requested}) is not in the valid range. The range of valid IPs is {}", self.cidr),
                )),
                Ok(ip) if used_ips.contains(&ip) => errors.push(FieldError::invalid(
                    "spec.clusterIPs",
                    &json!([requested]),
                    &format!("failed to allocate IP {requested}: provided IP is already allocated"),
                )),
                Ok(ip) => {
                    self.pending_ips.lock().unwrap_or_else(|e| e.into_inner()).insert(ip, Instant::now());
                    service["spec"]["clusterIPs"] = json!([requested]);
                }
                // Validation reports malformed IPs.
                Err(_) => {}
            }
        }
        if !external {
            super::admission::defaults::default_service_ip_families(service, "IPv4");
        }
        let node_ports = wants_node_ports(service);
        let old_ports: HashMap<(String, u64), u64> = old
            .and_then(|o| o.pointer("/spec/ports"))
            .and_then(Value::as_array)
            .map(|ports| {
                ports
                    .iter()
                    .filter_map(|p| {
                        let key = (
                            p.get("protocol")?.as_str()?.to_string(),
                            p.get("port")?.as_u64()?,
                        );
                        Some((key, p.get("nodePort")?.as_u64()?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut taken = used_ports;
        if let Some(ports) = service
            .pointer_mut("/spec/ports")
            .and_then(Value::as_array_mut)
        {
            for (i, port) in ports.iter_mut().enumerate() {
                if !node_ports {
                    if let Some(p) = port.as_object_mut() {
                        p.remove("nodePort");
                    }
                    continue;
                }
                let key = (
                    port.get("protocol")
                        .and_then(Value::as_str)
                        .unwrap_or("TCP")
                        .to_string(),
                    port.get("port").and_then(Value::as_u64).unwrap_or(0),
                );
                match port.get("nodePort").and_then(Value::as_u64) {
                    Some(p) if old_ports.get(&key) == Some(&p) => {
                        taken.insert(p as u16);
                    }
                    Some(p) => {
                        let (low, high) = self.node_ports;
                        if p < u64::from(low) || p > u64::from(high) {
                            errors.push(FieldError::invalid(
                                format!("spec.ports[{i}].nodePort"),
                                &json!(p),
                                &format!("provided port is not in the valid range. The range of valid ports is {low}-{high}"),
                            ));
                        } else if taken.contains(&(p as u16)) {
                            errors.push(FieldError::invalid(
                                format!("spec.ports[{i}].nodePort"),
                                &json!(p),
                                "provided port is already allocated",
                            ));
                        } else {
                            taken.insert(p as u16);
                            self.pending_ports
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .insert(p as u16, Instant::now());
                        }
                    }
                    None => {
                        let reuse = old_ports.get(&key).copied();
                        let chosen = reuse.map(|p| p as u16).or_else(|| self.pick_port(&taken));
                        match chosen {
                            Some(p) => {
                                taken.insert(p);
                                self.pending_ports
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .insert(p, Instant::now());
                                port["nodePort"] = json!(p);
                            }
                            None => errors.push(FieldError::internal(
                                format!("spec.ports[{i}].nodePort"),
                                "failed to allocate a nodePort: range is full",
                            )),
                        }
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::registry::Registry;
    use std::sync::Arc;

    #[test]
    fn allocates_ips_and_ports() {
        let registry = Arc::new(Registry::builtin());
        let info = registry.get("", "v1", "services").unwrap();
        let cache = WatchCache::new(registry);
        let allocator = ServiceAllocator::new("10.43.0.0/16".parse().unwrap(), (30000, 32767));
        let mut svc = json!({"metadata": {"name": "a", "namespace": "default"}, "spec": {"type": "NodePort", "ports": [{"port": 80, "protocol": "TCP"}]}});
        allocator.allocate(&info, &cache, None, &mut svc).unwrap();
        let ip: Ipv4Addr = svc["spec"]["clusterIP"].as_str().unwrap().parse().unwrap();
        assert!(allocator.cidr.contains(&ip) && ip != allocator.first_ip());
        assert_eq!(svc["spec"]["ipFamilies"], json!(["IPv4"]));
        let port = svc["spec"]["ports"][0]["nodePort"].as_u64().unwrap();
        assert!((30000..=32767).contains(&port));
        // The same IP again is refused while it is pending.
        let mut second = json!({"metadata": {"name": "b", "namespace": "default"}, "spec": {"clusterIP": ip.to_string(), "ports": [{"port": 80, "protocol": "TCP"}]}});
        let errors = allocator
            .allocate(&info, &cache, None, &mut second)
            .unwrap_err();
        assert!(
            errors[0]
                .message
                .contains("provided IP is already allocated")
        );
        // Random addresses stay out of the static band (10.43.0.1-16) while others are free.
        let used = HashSet::new();
        for _ in 0..200 {
            let ip = allocator.pick_ip(&used).unwrap();
            assert!(
                u32::from(ip) > u32::from(Ipv4Addr::new(10, 43, 0, 16)),
                "{ip}"
            );
        }
        let small = ServiceAllocator::new("10.43.0.0/28".parse().unwrap(), (30000, 32767));
        let taken: HashSet<Ipv4Addr> = (2..14).map(|i| Ipv4Addr::new(10, 43, 0, i)).collect();
        assert_eq!(small.pick_ip(&taken), Some(Ipv4Addr::new(10, 43, 0, 14)));
        let mut outside = json!({"metadata": {"name": "c", "namespace": "default"}, "spec": {"clusterIP": "10.99.0.1"}});
        assert!(
            allocator
                .allocate(&info, &cache, None, &mut outside)
                .unwrap_err()[0]
                .message
                .contains("not in the valid range")
        );
    }
}
