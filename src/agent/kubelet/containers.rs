//! What the runtime is asked for, built from the pod spec: the pod's sandbox
//! ([`sandbox_config`]: namespaces, hostname, resolv.conf per `dnsPolicy`, /etc/hosts with
//! `hostAliases`) and each container ([`container_config`]: image layers, command and args
//! with `$(VAR)` expansion, environment, security context, resources as cgroup limits,
//! volume mounts, the OOM score of the pod's QoS class).

use std::net::IpAddr;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::{Container, Pod};

use super::Kubelet;
use super::env::{self, EnvError, PodAddressing, Sources};
use super::volumes::{
    PodVolumes, SERVICE_ACCOUNT_PATH, SERVICE_ACCOUNT_VOLUME, always_read_only,
    wants_service_account,
};
use crate::api::admission::validation::parse_quantity;
use crate::runtime::config::{
    ContainerConfig, ImageConfig, Resources, SandboxConfig, SecurityContext, VolumeMount,
};
use crate::runtime::images::Image;

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("{0}")]
    Env(#[from] EnvError),
    #[error("volume {volume} of volumeMount {mount_path} is not prepared")]
    VolumeMissing { volume: String, mount_path: String },
    #[error("invalid subPath {0:?}")]
    SubPath(String),
    #[error("the image {0} lost a layer: {1}")]
    Layers(String, crate::runtime::images::ImageError),
}

/// The pod's `resolv.conf` per its `dnsPolicy` and `dnsConfig`; `None` copies the host's.
pub fn resolv_conf(kubelet: &Kubelet, pod: &Pod) -> Option<String> {
    let spec = pod.spec.clone().unwrap_or_default();
    let host_network = spec.host_network == Some(true);
    let policy = spec.dns_policy.as_deref().unwrap_or("ClusterFirst");
    let cluster = match policy {
        "ClusterFirstWithHostNet" => true,
        "ClusterFirst" => !host_network,
        _ => false,
    };
    let host = || {
        let path = kubelet
            .config
            .node
            .resolv_conf
            .clone()
            .unwrap_or_else(|| PathBuf::from("/etc/resolv.conf"));
        std::fs::read_to_string(path).unwrap_or_default()
    };
    let (mut servers, mut searches, mut options): (Vec<String>, Vec<String>, Vec<String>) =
        if cluster {
            let ns = pod.metadata.namespace.clone().unwrap_or_default();
            let domain = &kubelet.config.cluster_domain;
            (
                vec![kubelet.config.cluster_dns.to_string()],
                vec![
                    format!("{ns}.svc.{domain}"),
                    format!("svc.{domain}"),
                    domain.clone(),
                ],
                vec!["ndots:5".into()],
            )
        } else if policy == "None" {
            (Vec::new(), Vec::new(), Vec::new())
        } else {
            let text = host();
            let mut parsed = (Vec::new(), Vec::new(), Vec::new());
            for line in text.lines() {
                let mut words = line.split_whitespace();
                match words.next() {
                    Some("nameserver") => parsed.0.extend(words.map(String::from)),
                    Some("search") => parsed.1.extend(words.map(String::from)),
                    Some("options") => parsed.2.extend(words.map(String::from)),
                    _ => {}
                }
            }
            if let Some(dns) = &spec.dns_config {
                if dns.nameservers.is_none() && dns.searches.is_none() && dns.options.is_none() {
                    return None;
                }
            } else {
                return None;
            }
            parsed
        };
    if let Some(dns) = &spec.dns_config {
        servers.extend(dns.nameservers.iter().flatten().cloned());
        searches.extend(dns.searches.iter().flatten().cloned());
        for option in dns.options.iter().flatten() {
            let name = option.name.clone().unwrap_or_default();
            options.retain(|o| o.split(':').next() != Some(name.as_str()));
            options.push(match &option.value {
                Some(value) => format!("{name}:{value}"),
                None => name,
            });
        }
    }
    let mut text = String::new();
    if !searches.is_empty() {
        text.push_str(&format!("search {}\n", searches.join(" ")));
    }
    for server in servers.iter().take(3) {
        text.push_str(&format!("nameserver {server}\n"));
    }
    if !options.is_empty() {
        text.push_str(&format!("options {}\n", options.join(" ")));
    }
    Some(text)
}

/// The pod's `/etc/hosts`: localhost, the pod's own name at `pod_ip`, then `hostAliases`.
pub fn hosts_file(pod: &Pod, hostname: &str, pod_ip: Option<IpAddr>) -> Option<String> {
    let spec = pod.spec.clone().unwrap_or_default();
    if spec.host_network == Some(true) {
        return None;
    }
    let mut text = String::from(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
    );
    if let Some(ip) = pod_ip {
        text.push_str(&format!("{ip}\t{hostname}\n"));
    }
    let aliases = spec.host_aliases.unwrap_or_default();
    if !aliases.is_empty() {
        text.push_str("\n# Entries added by HostAliases.\n");
        for alias in aliases {
            text.push_str(&format!(
                "{}\t{}\n",
                alias.ip,
                alias.hostnames.unwrap_or_default().join("\t")
            ));
        }
    }
    Some(text)
}

/// The sandbox of `pod`.
pub fn sandbox_config(kubelet: &Kubelet, pod: &Pod) -> SandboxConfig {
    let spec = pod.spec.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let host_network = spec.host_network == Some(true);
    let hostname = if host_network {
        crate::host::hostname()
    } else {
        spec.hostname.clone().unwrap_or_else(|| name.clone())
    };
    SandboxConfig {
        uid: pod.metadata.uid.clone().unwrap_or_default(),
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        name,
        hosts_file: hosts_file(pod, &hostname, None),
        hostname,
        host_network,
        host_ipc: spec.host_ipc == Some(true),
        host_pid: spec.host_pid == Some(true),
        share_process_namespace: spec.share_process_namespace == Some(true),
        resolv_conf: resolv_conf(kubelet, pod),
        sysctls: spec
            .security_context
            .iter()
            .flat_map(|s| s.sysctls.iter().flatten())
            .map(|s| (s.name.clone(), s.value.clone()))
            .collect(),
        ..Default::default()
    }
}

fn quantity(
    map: &Option<
        std::collections::BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
    >,
    name: &str,
) -> Option<i128> {
    map.as_ref()?
        .get(name)
        .and_then(|q| parse_quantity(&q.0))
        .map(|q| q.nanos())
}

/// The pod's QoS class, as upstream computes it.
pub fn qos_class(pod: &Pod) -> &'static str {
    let spec = pod.spec.clone().unwrap_or_default();
    let containers: Vec<&Container> = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in &containers {
        let r = c.resources.clone().unwrap_or_default();
        for name in ["cpu", "memory"] {
            let request = quantity(&r.requests, name);
            let limit = quantity(&r.limits, name);
            if request.is_some_and(|v| v != 0) || limit.is_some_and(|v| v != 0) {
                any = true;
            }
            match limit {
                Some(limit) if request.is_none_or(|req| req == limit) => {}
                _ => guaranteed = false,
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// Upstream's OOM score adjustment for a container of a pod of class `qos`.
fn oom_score_adj(qos: &str, container: &Container, memory_capacity: u64) -> i32 {
    match qos {
        "Guaranteed" => -997,
        "BestEffort" => 1000,
        _ => {
            let request = container
                .resources
                .as_ref()
                .and_then(|r| quantity(&r.requests, "memory"))
                .unwrap_or(0)
                / 1_000_000_000;
            if memory_capacity == 0 {
                return 999;
            }
            let adj = 1000 - (1000 * request as i64) / memory_capacity as i64;
            adj.clamp(2, 999) as i32
        }
    }
}

fn memory_capacity() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

fn security(pod: &Pod, container: &Container) -> SecurityContext {
    let pod_sc = pod
        .spec
        .as_ref()
        .and_then(|s| s.security_context.clone())
        .unwrap_or_default();
    let sc = container.security_context.clone().unwrap_or_default();
    let caps = sc.capabilities.clone().unwrap_or_default();
    SecurityContext {
        run_as_user: sc.run_as_user.or(pod_sc.run_as_user).map(|u| u as u32),
        run_as_group: sc.run_as_group.or(pod_sc.run_as_group).map(|g| g as u32),
        supplemental_groups: pod_sc
            .supplemental_groups
            .iter()
            .flatten()
            .chain(pod_sc.fs_group.iter())
            .map(|g| *g as u32)
            .collect(),
        privileged: sc.privileged == Some(true),
        read_only_root_filesystem: sc.read_only_root_filesystem == Some(true),
        allow_privilege_escalation: sc.allow_privilege_escalation,
        capabilities_add: caps.add.unwrap_or_default(),
        capabilities_drop: caps.drop.unwrap_or_default(),
    }
}

fn resources(container: &Container) -> Resources {
    let r = container.resources.clone().unwrap_or_default();
    let millis = |v: Option<i128>| v.map(|n| (n / 1_000_000).max(0) as u64);
    let bytes = |v: Option<i128>| v.map(|n| (n / 1_000_000_000).max(0) as u64);
    Resources {
        cpu_request_millis: millis(quantity(&r.requests, "cpu")),
        cpu_limit_millis: millis(quantity(&r.limits, "cpu")),
        memory_limit_bytes: bytes(quantity(&r.limits, "memory")),
        pids_limit: None,
    }
}

/// The node's allocatable amount of a resource, in nanounits (for `resourceFieldRef`).
pub fn allocatable(name: &str) -> Option<i128> {
    match name {
        "cpu" => std::thread::available_parallelism()
            .ok()
            .map(|n| n.get() as i128 * 1_000_000_000),
        "memory" => Some(memory_capacity() as i128 * 1_000_000_000),
        _ => None,
    }
}

/// The runtime config of attempt `attempt` of `container`.
///
/// # Errors
/// The environment cannot be resolved, a mounted volume is missing, or the image lost a layer.
#[allow(clippy::too_many_arguments)]
pub async fn container_config(
    kubelet: &Kubelet,
    sources: &mut Sources,
    pod: &Pod,
    container: &Container,
    attempt: u32,
    image: &Image,
    volumes: &PodVolumes,
    addressing: &PodAddressing,
) -> Result<ContainerConfig, ContainerError> {
    let service_ip = IpAddr::V4(std::net::Ipv4Addr::from(
        u32::from(kubelet.config.service_cidr.network()) + 1,
    ));
    let namespace_services = match pod.spec.as_ref().and_then(|s| s.enable_service_links) {
        Some(false) => Vec::new(),
        _ => sources.services().await?,
    };
    let service_env = env::service_env(&env::pod_service_links(service_ip, &namespace_services));
    let env = env::resolve(
        sources,
        pod,
        container,
        &service_env,
        addressing,
        &allocatable,
    )
    .await?;
    let lower_dirs = kubelet
        .images
        .layers(image)
        .map_err(|e| ContainerError::Layers(container.image.clone().unwrap_or_default(), e))?;
    let mut mounts = Vec::new();
    for mount in container.volume_mounts.iter().flatten() {
        let base = volumes
            .host_path(&mount.name)
            .ok_or_else(|| ContainerError::VolumeMissing {
                volume: mount.name.clone(),
                mount_path: mount.mount_path.clone(),
            })?;
        let sub = match (&mount.sub_path, &mount.sub_path_expr) {
            (Some(sub), _) if !sub.is_empty() => sub.clone(),
            (_, Some(expr)) if !expr.is_empty() => {
                env::expand_all(std::slice::from_ref(expr), &env)[0].clone()
            }
            _ => String::new(),
        };
        let host_path = if sub.is_empty() {
            base.to_path_buf()
        } else {
            if sub.starts_with('/') || sub.split('/').any(|p| p == "..") {
                return Err(ContainerError::SubPath(sub));
            }
            let path = base.join(&sub);
            if !path.exists() {
                let _ = std::fs::create_dir_all(&path);
            }
            path
        };
        mounts.push(VolumeMount {
            host_path,
            container_path: mount.mount_path.clone(),
            read_only: mount.read_only == Some(true) || always_read_only(pod, &mount.name),
        });
    }
    if wants_service_account(pod)
        && let Some(path) = volumes.host_path(SERVICE_ACCOUNT_VOLUME)
    {
        mounts.push(VolumeMount {
            host_path: path.to_path_buf(),
            container_path: SERVICE_ACCOUNT_PATH.into(),
            read_only: true,
        });
    }
    let image_config = &image.config;
    Ok(ContainerConfig {
        name: container.name.clone(),
        attempt,
        lower_dirs,
        image: ImageConfig {
            entrypoint: image_config.entrypoint.clone().unwrap_or_default(),
            cmd: image_config.cmd.clone().unwrap_or_default(),
            env: image_config.env.clone(),
            working_dir: image_config.working_dir.clone().filter(|d| !d.is_empty()),
            user: image_config.user.clone().filter(|u| !u.is_empty()),
            stop_signal: image_config.stop_signal.clone(),
        },
        command: env::expand_all(container.command.as_deref().unwrap_or_default(), &env),
        args: env::expand_all(container.args.as_deref().unwrap_or_default(), &env),
        env,
        working_dir: container.working_dir.clone().filter(|d| !d.is_empty()),
        security: security(pod, container),
        resources: resources(container),
        mounts,
        stdin: container.stdin == Some(true),
        stdin_once: container.stdin_once == Some(true),
        tty: container.tty == Some(true),
        oom_score_adj: Some(oom_score_adj(qos_class(pod), container, memory_capacity())),
    })
}
