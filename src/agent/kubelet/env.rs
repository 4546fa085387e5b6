//! A container's environment as upstream's kubelet builds it: the service links (for the
//! `kubernetes` Service, and unless the pod sets `enableServiceLinks: false`, for every
//! Service of its namespace that has a cluster IP: `<NAME>_SERVICE_HOST`, `_SERVICE_PORT`,
//! `_SERVICE_PORT_<PORT NAME>` and Docker's link variables `<NAME>_PORT`,
//! `<NAME>_PORT_<port>_<PROTO>[_PROTO|_PORT|_ADDR]`), then `envFrom` (ConfigMaps and Secrets, with their
//! prefix), then `env` in order — literal values with `$(VAR)` references expanded against
//! what came before, or `valueFrom` a field of the pod, a resource of the container, a
//! ConfigMap key or a Secret key. Later entries win.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret, Service};
use kube::api::{Api, ListParams};

use crate::runtime::config::EnvVar;

#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("{kind} {namespace}/{name} not found (container {container})")]
    SourceMissing {
        kind: &'static str,
        namespace: String,
        name: String,
        container: String,
    },
    #[error("couldn't find key {key} in {kind} {namespace}/{name}")]
    KeyMissing {
        kind: &'static str,
        namespace: String,
        name: String,
        key: String,
    },
    #[error("cannot read {kind} {namespace}/{name}: {source}")]
    Read {
        kind: &'static str,
        namespace: String,
        name: String,
        source: Box<kube::Error>,
    },
    #[error("cannot list the Services of namespace {namespace} for the service links: {source}")]
    ListServices {
        namespace: String,
        source: Box<kube::Error>,
    },
    #[error("unsupported fieldRef {0:?}")]
    FieldPath(String),
    #[error("unsupported resourceFieldRef {0:?}")]
    Resource(String),
}

/// Expands `$(VAR)` references in `input` with `lookup`; `$$` is a literal `$`; references
/// to unknown variables stay as they are (upstream's `expansion.Expand`).
pub fn expand(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && i + 1 < bytes.len() {
            match bytes[i + 1] {
                b'$' => {
                    out.push('$');
                    i += 2;
                    continue;
                }
                b'(' => {
                    if let Some(end) = input[i + 2..].find(')') {
                        let name = &input[i + 2..i + 2 + end];
                        match lookup(name) {
                            Some(value) => out.push_str(&value),
                            None => out.push_str(&input[i..i + 3 + end]),
                        }
                        i += 3 + end;
                        continue;
                    }
                }
                _ => {}
            }
        }
        let ch = input[i..].chars().next().unwrap_or('$');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// A Service as its link variables need it: name, cluster IP, ports (name, port, protocol).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceLink {
    pub name: String,
    pub cluster_ip: String,
    pub ports: Vec<(String, i32, String)>,
}

impl ServiceLink {
    /// The link of `service`, if it has a cluster IP (headless and ExternalName Services
    /// have none) and a port.
    pub fn of(service: &Service) -> Option<ServiceLink> {
        let spec = service.spec.as_ref()?;
        let ip = spec
            .cluster_ip
            .as_deref()
            .filter(|ip| !ip.is_empty() && *ip != "None")?;
        let ports: Vec<(String, i32, String)> = spec
            .ports
            .iter()
            .flatten()
            .map(|p| {
                (
                    p.name.clone().unwrap_or_default(),
                    p.port,
                    p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                )
            })
            .collect();
        let name = service.metadata.name.clone()?;
        (!ports.is_empty()).then(|| ServiceLink {
            name,
            cluster_ip: ip.to_string(),
            ports,
        })
    }

    /// The `kubernetes` Service at `ip`:443 (port `https`).
    pub fn kubernetes(ip: IpAddr) -> ServiceLink {
        ServiceLink {
            name: "kubernetes".into(),
            cluster_ip: ip.to_string(),
            ports: vec![("https".into(), 443, "TCP".into())],
        }
    }
}

/// Upstream's variables for `links` (`envvars.FromServices`), in the order given.
pub fn service_env(links: &[ServiceLink]) -> Vec<EnvVar> {
    let var = |name: String, value: String| EnvVar { name, value };
    let env_name = |s: &str| s.replace('-', "_").to_uppercase();
    let mut out = Vec::new();
    for link in links {
        let prefix = env_name(&link.name);
        let ip = &link.cluster_ip;
        out.push(var(format!("{prefix}_SERVICE_HOST"), ip.clone()));
        out.push(var(
            format!("{prefix}_SERVICE_PORT"),
            link.ports[0].1.to_string(),
        ));
        for (name, port, _) in link.ports.iter().filter(|p| !p.0.is_empty()) {
            out.push(var(
                format!("{prefix}_SERVICE_PORT_{}", env_name(name)),
                port.to_string(),
            ));
        }
        for (i, (_, port, protocol)) in link.ports.iter().enumerate() {
            let lower = protocol.to_lowercase();
            let host_port = match ip.parse::<IpAddr>() {
                Ok(IpAddr::V6(_)) => format!("[{ip}]:{port}"),
                _ => format!("{ip}:{port}"),
            };
            if i == 0 {
                out.push(var(
                    format!("{prefix}_PORT"),
                    format!("{lower}://{host_port}"),
                ));
            }
            let port_prefix = format!("{prefix}_PORT_{port}_{}", protocol.to_uppercase());
            out.push(var(port_prefix.clone(), format!("{lower}://{host_port}")));
            out.push(var(format!("{port_prefix}_PROTO"), lower));
            out.push(var(format!("{port_prefix}_PORT"), port.to_string()));
            out.push(var(format!("{port_prefix}_ADDR"), ip.clone()));
        }
    }
    out
}

/// The links a pod's containers get: the namespace's Services (`namespace_services`, empty
/// when the pod sets `enableServiceLinks: false`) sorted by name, with `kubernetes` (the
/// default namespace's, at `kubernetes_ip`) unless the namespace has a Service of that name.
pub fn pod_service_links(
    kubernetes_ip: IpAddr,
    namespace_services: &[Service],
) -> Vec<ServiceLink> {
    let mut links: Vec<ServiceLink> = namespace_services
        .iter()
        .filter_map(ServiceLink::of)
        .collect();
    if !links.iter().any(|l| l.name == "kubernetes") {
        links.push(ServiceLink::kubernetes(kubernetes_ip));
    }
    links.sort_by(|a, b| a.name.cmp(&b.name));
    links
}

/// ConfigMaps and Secrets read once per sync.
pub struct Sources {
    client: kube::Client,
    namespace: String,
    config_maps: HashMap<String, Option<BTreeMap<String, String>>>,
    secrets: HashMap<String, Option<BTreeMap<String, String>>>,
    services: Option<Vec<Service>>,
}

impl Sources {
    pub fn new(client: kube::Client, namespace: &str) -> Self {
        Sources {
            client,
            namespace: namespace.to_string(),
            config_maps: HashMap::new(),
            secrets: HashMap::new(),
            services: None,
        }
    }

    /// The Services of the namespace (listed once per sync), for service links.
    ///
    /// # Errors
    /// The API server failed.
    pub async fn services(&mut self) -> Result<Vec<Service>, EnvError> {
        if let Some(found) = &self.services {
            return Ok(found.clone());
        }
        let api: Api<Service> = Api::namespaced(self.client.clone(), &self.namespace);
        let list =
            api.list(&ListParams::default())
                .await
                .map_err(|source| EnvError::ListServices {
                    namespace: self.namespace.clone(),
                    source: Box::new(source),
                })?;
        self.services = Some(list.items.clone());
        Ok(list.items)
    }

    /// The data of ConfigMap `name` (text and binary keys), `None` if it does not exist.
    ///
    /// # Errors
    /// The API server failed.
    pub async fn config_map(
        &mut self,
        name: &str,
    ) -> Result<Option<BTreeMap<String, String>>, EnvError> {
        if let Some(found) = self.config_maps.get(name) {
            return Ok(found.clone());
        }
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.namespace);
        let found = api.get_opt(name).await.map_err(|source| EnvError::Read {
            kind: "configmap",
            namespace: self.namespace.clone(),
            name: name.into(),
            source: Box::new(source),
        })?;
        let data = found.map(|cm| {
            let mut data = cm.data.unwrap_or_default();
            for (key, value) in cm.binary_data.unwrap_or_default() {
                data.insert(key, String::from_utf8_lossy(&value.0).into_owned());
            }
            data
        });
        self.config_maps.insert(name.into(), data.clone());
        Ok(data)
    }

    /// The raw data of ConfigMap `name` as bytes (for volumes).
    ///
    /// # Errors
    /// The API server failed.
    pub async fn config_map_bytes(
        &mut self,
        name: &str,
    ) -> Result<Option<BTreeMap<String, Vec<u8>>>, EnvError> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.namespace);
        let found = api.get_opt(name).await.map_err(|source| EnvError::Read {
            kind: "configmap",
            namespace: self.namespace.clone(),
            name: name.into(),
            source: Box::new(source),
        })?;
        Ok(found.map(|cm| {
            let mut data: BTreeMap<String, Vec<u8>> = cm
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.into_bytes()))
                .collect();
            for (key, value) in cm.binary_data.unwrap_or_default() {
                data.insert(key, value.0);
            }
            data
        }))
    }

    /// The decoded data of Secret `name` as bytes, `None` if it does not exist.
    ///
    /// # Errors
    /// The API server failed.
    pub async fn secret_bytes(
        &mut self,
        name: &str,
    ) -> Result<Option<BTreeMap<String, Vec<u8>>>, EnvError> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &self.namespace);
        let found = api.get_opt(name).await.map_err(|source| EnvError::Read {
            kind: "secret",
            namespace: self.namespace.clone(),
            name: name.into(),
            source: Box::new(source),
        })?;
        Ok(found.map(|secret| {
            let mut data: BTreeMap<String, Vec<u8>> = secret
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect();
            for (key, value) in secret.string_data.unwrap_or_default() {
                data.insert(key, value.into_bytes());
            }
            data
        }))
    }

    async fn secret(&mut self, name: &str) -> Result<Option<BTreeMap<String, String>>, EnvError> {
        if let Some(found) = self.secrets.get(name) {
            return Ok(found.clone());
        }
        let data = self.secret_bytes(name).await?.map(|data| {
            data.into_iter()
                .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
                .collect()
        });
        self.secrets.insert(name.into(), data.clone());
        Ok(data)
    }
}

/// Addresses known when a container starts.
#[derive(Clone, Debug, Default)]
pub struct PodAddressing {
    pub host_ip: Option<IpAddr>,
    pub pod_ip: Option<IpAddr>,
}

/// The value of a pod field (`fieldRef.fieldPath`).
///
/// # Errors
/// [`EnvError::FieldPath`] for a path upstream does not support either.
pub fn field_value(pod: &Pod, path: &str, addressing: &PodAddressing) -> Result<String, EnvError> {
    let meta = &pod.metadata;
    let spec = pod.spec.clone().unwrap_or_default();
    let keyed = |prefix: &str, map: &Option<BTreeMap<String, String>>| {
        path.strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix("']"))
            .map(|key| {
                map.as_ref()
                    .and_then(|m| m.get(key).cloned())
                    .unwrap_or_default()
            })
    };
    if let Some(value) = keyed("metadata.labels['", &meta.labels) {
        return Ok(value);
    }
    if let Some(value) = keyed("metadata.annotations['", &meta.annotations) {
        return Ok(value);
    }
    let lines = |map: &Option<BTreeMap<String, String>>| {
        map.iter()
            .flatten()
            .map(|(k, v)| format!("{k}={}", serde_json::Value::String(v.clone())))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let ip = |ip: Option<IpAddr>| ip.map(|ip| ip.to_string()).unwrap_or_default();
    Ok(match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "metadata.labels" => lines(&meta.labels),
        "metadata.annotations" => lines(&meta.annotations),
        "spec.nodeName" => spec.node_name.unwrap_or_default(),
        "spec.serviceAccountName" => spec.service_account_name.unwrap_or_default(),
        "status.hostIP" | "status.hostIPs" => ip(addressing.host_ip),
        "status.podIP" | "status.podIPs" => ip(addressing.pod_ip),
        other => return Err(EnvError::FieldPath(other.into())),
    })
}

/// The value of `resource` (`limits.cpu`, `requests.memory`, …) of `container`, divided by
/// `divisor` and rounded up; a missing limit is the node's allocatable amount.
///
/// # Errors
/// [`EnvError::Resource`] for an unknown resource.
pub fn resource_value(
    container: &Container,
    resource: &str,
    divisor: Option<&str>,
    allocatable: &(dyn Fn(&str) -> Option<i128> + Sync),
) -> Result<String, EnvError> {
    use crate::api::admission::validation::parse_quantity;
    let (kind, name) = resource
        .split_once('.')
        .ok_or_else(|| EnvError::Resource(resource.into()))?;
    let resources = container.resources.clone().unwrap_or_default();
    let map = match kind {
        "limits" => resources.limits.clone(),
        "requests" => resources.requests.clone(),
        _ => return Err(EnvError::Resource(resource.into())),
    };
    let nanos = map
        .as_ref()
        .and_then(|m| m.get(name))
        .and_then(|q| parse_quantity(&q.0))
        .map(|q| q.nanos())
        .or_else(|| {
            // requests default to the limit, limits to the node's allocatable.
            if kind == "requests" {
                resources
                    .limits
                    .as_ref()
                    .and_then(|m| m.get(name))
                    .and_then(|q| parse_quantity(&q.0))
                    .map(|q| q.nanos())
            } else {
                None
            }
        })
        .or_else(|| allocatable(name))
        .unwrap_or(0);
    let default_divisor = "1";
    let divisor = parse_quantity(divisor.unwrap_or(default_divisor))
        .map(|q| q.nanos())
        .filter(|d| *d > 0)
        .ok_or_else(|| EnvError::Resource(format!("{resource} divisor")))?;
    let value = (nanos + divisor - 1) / divisor;
    Ok(value.max(if nanos > 0 { 1 } else { 0 }).to_string())
}

/// The environment of `container`, in order (see the module's comment).
///
/// # Errors
/// A referenced ConfigMap, Secret or key is missing (and not optional), or a field or
/// resource reference is unsupported.
pub async fn resolve(
    sources: &mut Sources,
    pod: &Pod,
    container: &Container,
    service_env: &[EnvVar],
    addressing: &PodAddressing,
    allocatable: &(dyn Fn(&str) -> Option<i128> + Sync),
) -> Result<Vec<EnvVar>, EnvError> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let mut env: Vec<EnvVar> = service_env.to_vec();
    let set = |env: &mut Vec<EnvVar>, name: String, value: String| {
        env.retain(|v| v.name != name);
        env.push(EnvVar { name, value });
    };
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        let (kind, name, optional, data) = if let Some(cm) = &from.config_map_ref {
            let name = cm.name.clone();
            (
                "configmap",
                name.clone(),
                cm.optional,
                sources.config_map(&name).await?,
            )
        } else if let Some(secret) = &from.secret_ref {
            let name = secret.name.clone();
            (
                "secret",
                name.clone(),
                secret.optional,
                sources.secret(&name).await?,
            )
        } else {
            continue;
        };
        match data {
            Some(data) => {
                for (key, value) in data {
                    let name = format!("{prefix}{key}");
                    if is_env_name(&name) {
                        set(&mut env, name, value);
                    }
                }
            }
            None if optional == Some(true) => {}
            None => {
                return Err(EnvError::SourceMissing {
                    kind,
                    namespace,
                    name,
                    container: container.name.clone(),
                });
            }
        }
    }
    for var in container.env.iter().flatten() {
        let value = if let Some(from) = &var.value_from {
            if let Some(field) = &from.field_ref {
                Some(field_value(pod, &field.field_path, addressing)?)
            } else if let Some(resource) = &from.resource_field_ref {
                let target = match resource.container_name.as_deref() {
                    Some(name) if !name.is_empty() => pod
                        .spec
                        .iter()
                        .flat_map(|s| s.containers.iter())
                        .find(|c| c.name == name)
                        .unwrap_or(container),
                    _ => container,
                };
                let divisor = resource.divisor.as_ref().map(|q| q.0.as_str());
                Some(resource_value(
                    target,
                    &resource.resource,
                    divisor,
                    allocatable,
                )?)
            } else if let Some(key) = &from.config_map_key_ref {
                let data = sources.config_map(&key.name).await?;
                keyed(
                    data,
                    "configmap",
                    &namespace,
                    &key.name,
                    &key.key,
                    key.optional,
                )?
            } else if let Some(key) = &from.secret_key_ref {
                let data = sources.secret(&key.name).await?;
                keyed(
                    data,
                    "secret",
                    &namespace,
                    &key.name,
                    &key.key,
                    key.optional,
                )?
            } else {
                None
            }
        } else {
            let current = env.clone();
            let lookup = move |name: &str| {
                current
                    .iter()
                    .rev()
                    .find(|v| v.name == name)
                    .map(|v| v.value.clone())
            };
            Some(expand(var.value.as_deref().unwrap_or_default(), &lookup))
        };
        if let Some(value) = value {
            set(&mut env, var.name.clone(), value);
        }
    }
    Ok(env)
}

fn keyed(
    data: Option<BTreeMap<String, String>>,
    kind: &'static str,
    namespace: &str,
    name: &str,
    key: &str,
    optional: Option<bool>,
) -> Result<Option<String>, EnvError> {
    match data.as_ref().and_then(|d| d.get(key)) {
        Some(value) => Ok(Some(value.clone())),
        None if optional == Some(true) => Ok(None),
        None if data.is_none() => Err(EnvError::SourceMissing {
            kind,
            namespace: namespace.into(),
            name: name.into(),
            container: String::new(),
        }),
        None => Err(EnvError::KeyMissing {
            kind,
            namespace: namespace.into(),
            name: name.into(),
            key: key.into(),
        }),
    }
}

/// Upstream's rule for names that `envFrom` may set (C identifiers and more: any printable
/// ASCII but `=`).
fn is_env_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| (32..127).contains(&b) && b != b'=')
}

/// `command` and `args` with `$(VAR)` references expanded against `env`.
pub fn expand_all(values: &[String], env: &[EnvVar]) -> Vec<String> {
    let lookup = |name: &str| {
        env.iter()
            .rev()
            .find(|v| v.name == name)
            .map(|v| v.value.clone())
    };
    values.iter().map(|v| expand(v, &lookup)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_follows_upstream() {
        let lookup = |name: &str| match name {
            "A" => Some("a".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        assert_eq!(expand("x$(A)y", &lookup), "xay");
        assert_eq!(expand("$(B)", &lookup), "$(B)");
        assert_eq!(expand("$$(A)", &lookup), "$(A)");
        assert_eq!(expand("$(EMPTY)-", &lookup), "-");
        assert_eq!(expand("$(A", &lookup), "$(A");
        assert_eq!(expand("cost: $5 é", &lookup), "cost: $5 é");
    }

    fn names_and_values(env: &[EnvVar]) -> Vec<(String, String)> {
        env.iter()
            .map(|v| (v.name.clone(), v.value.clone()))
            .collect()
    }

    #[test]
    fn kubernetes_service_variables() {
        let env = service_env(&[ServiceLink::kubernetes("10.43.0.1".parse().unwrap())]);
        let expected = [
            ("KUBERNETES_SERVICE_HOST", "10.43.0.1"),
            ("KUBERNETES_SERVICE_PORT", "443"),
            ("KUBERNETES_SERVICE_PORT_HTTPS", "443"),
            ("KUBERNETES_PORT", "tcp://10.43.0.1:443"),
            ("KUBERNETES_PORT_443_TCP", "tcp://10.43.0.1:443"),
            ("KUBERNETES_PORT_443_TCP_PROTO", "tcp"),
            ("KUBERNETES_PORT_443_TCP_PORT", "443"),
            ("KUBERNETES_PORT_443_TCP_ADDR", "10.43.0.1"),
        ];
        assert_eq!(
            names_and_values(&env),
            expected
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        );
    }

    fn service(json: serde_json::Value) -> Service {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn service_links_as_upstream_names_them() {
        // The conformance test's fooservice, plus a named UDP port and a dashed name.
        let services = [
            service(serde_json::json!({"metadata": {"name": "fooservice"},
                "spec": {"clusterIP": "10.43.0.50", "ports": [{"port": 8765, "protocol": "TCP"}]}})),
            service(serde_json::json!({"metadata": {"name": "my-dns"},
                "spec": {"clusterIP": "10.43.0.60", "ports": [
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
                    {"name": "dns", "port": 53, "protocol": "UDP"}]}})),
            service(serde_json::json!({"metadata": {"name": "headless"},
                "spec": {"clusterIP": "None", "ports": [{"port": 80}]}})),
            service(serde_json::json!({"metadata": {"name": "external"},
                "spec": {"type": "ExternalName", "externalName": "example.com"}})),
        ];
        let links = pod_service_links("10.43.0.1".parse().unwrap(), &services);
        let names: Vec<&str> = links.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["fooservice", "kubernetes", "my-dns"]);
        let env: std::collections::HashMap<String, String> =
            names_and_values(&service_env(&links)).into_iter().collect();
        for (name, value) in [
            ("FOOSERVICE_SERVICE_HOST", "10.43.0.50"),
            ("FOOSERVICE_SERVICE_PORT", "8765"),
            ("FOOSERVICE_PORT", "tcp://10.43.0.50:8765"),
            ("FOOSERVICE_PORT_8765_TCP", "tcp://10.43.0.50:8765"),
            ("FOOSERVICE_PORT_8765_TCP_PROTO", "tcp"),
            ("FOOSERVICE_PORT_8765_TCP_PORT", "8765"),
            ("FOOSERVICE_PORT_8765_TCP_ADDR", "10.43.0.50"),
            ("MY_DNS_SERVICE_PORT", "53"),
            ("MY_DNS_SERVICE_PORT_DNS_TCP", "53"),
            ("MY_DNS_SERVICE_PORT_DNS", "53"),
            ("MY_DNS_PORT", "tcp://10.43.0.60:53"),
            ("MY_DNS_PORT_53_UDP", "udp://10.43.0.60:53"),
            ("MY_DNS_PORT_53_UDP_PROTO", "udp"),
            ("KUBERNETES_SERVICE_HOST", "10.43.0.1"),
        ] {
            assert_eq!(env.get(name).map(String::as_str), Some(value), "{name}");
        }
        assert!(
            !env.keys()
                .any(|k| k.starts_with("HEADLESS_") || k.starts_with("EXTERNAL_"))
        );
    }

    #[test]
    fn a_namespace_service_called_kubernetes_replaces_the_default_one() {
        let own = service(serde_json::json!({"metadata": {"name": "kubernetes"},
            "spec": {"clusterIP": "10.43.0.9", "ports": [{"port": 80}]}}));
        let links = pod_service_links("10.43.0.1".parse().unwrap(), &[own]);
        assert_eq!(links.len(), 1);
        assert_eq!(links[0].cluster_ip, "10.43.0.9");
    }
}
