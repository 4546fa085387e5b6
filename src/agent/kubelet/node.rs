//! The Node object: registration ([`register`]), the node's status (capacity, addresses,
//! nodeInfo, conditions, images) and the loop that keeps it fresh ([`run_status`]): the
//! status is written when it changes and at least every [`STATUS_REPORT_FREQUENCY`] (the
//! heartbeat upstream's kubelet sends even when nothing changed), while liveness is the
//! Lease's job ([`super::lease`]).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::args::{KubeletArgs, Threshold};
use super::pressure::{Pressure, meminfo_ki};
use super::{Kubelet, KubeletError};
use crate::api::admission::validation::{Quantity, QuantityFormat};
use crate::runtime::images::ImageStore;

/// How often the node's status is computed (upstream's `nodeStatusUpdateFrequency`).
pub const STATUS_UPDATE_FREQUENCY: Duration = Duration::from_secs(10);
/// How often the status is written even when unchanged (upstream's `nodeStatusReportFrequency`).
pub const STATUS_REPORT_FREQUENCY: Duration = Duration::from_secs(300);
/// Images listed in the node's status (upstream's `nodeStatusMaxImages`).
const MAX_IMAGES: usize = 50;

/// The `kubernetes.io/arch` value of this machine.
pub fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "riscv64" => "riscv64",
        "s390x" => "s390x",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// The node's labels: the well-known ones, then `--node-label` (which may override them).
pub fn labels(kubelet: &Kubelet) -> BTreeMap<String, String> {
    let config = &kubelet.config;
    let mut labels = BTreeMap::new();
    let name = config.node.name.clone();
    for (key, value) in [
        ("kubernetes.io/hostname", name.as_str()),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", arch()),
        ("beta.kubernetes.io/os", "linux"),
        ("beta.kubernetes.io/arch", arch()),
    ] {
        labels.insert(key.to_string(), value.to_string());
    }
    if config.control_plane {
        // k3s labels its servers `…/control-plane=true` (kubeadm uses an empty value).
        labels.insert(
            "node-role.kubernetes.io/control-plane".into(),
            "true".into(),
        );
    }
    for (key, value) in &config.node.labels {
        labels.insert(key.clone(), value.clone());
    }
    labels
}

fn taints(kubelet: &Kubelet) -> Vec<Value> {
    kubelet
        .config
        .node
        .taints
        .iter()
        .map(|t| {
            let mut taint = json!({"key": t.key, "effect": t.effect});
            if !t.value.is_empty() {
                taint["value"] = json!(t.value);
            }
            taint
        })
        .collect()
}

/// The podCIDR this node asks for when the node IPAM controller has not assigned one.
fn default_pod_cidr(kubelet: &Kubelet) -> String {
    // A single-node server takes the first /24 of --cluster-cidr. With several nodes the node
    // IPAM controller assigns each node its own /24 and this fallback is never used.
    let cidr = kubelet.config.cluster_cidr;
    format!("{}/24", cidr.network())
}

/// Registers the node, or adopts an existing Node object of the same name (after a restart):
/// its labels are brought up to date, missing `--node-taint` taints are added and an empty
/// podCIDR is filled in. Returns the node's podCIDR.
///
/// # Errors
/// The API server refused the Node.
pub async fn register(kubelet: &Kubelet) -> Result<String, KubeletError> {
    let nodes: Api<Node> = Api::all(kubelet.client.clone());
    let name = &kubelet.config.node.name;
    let pod_cidr = default_pod_cidr(kubelet);
    let node: Node = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels(kubelet),
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr], "taints": taints(kubelet)},
    }))
    .map_err(|e| KubeletError::Register(e.to_string()))?;
    match nodes.create(&PostParams::default(), &node).await {
        Ok(_) => {
            info!(node = %name, %pod_cidr, "registered the node");
            return Ok(pod_cidr);
        }
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(error) => return Err(KubeletError::Register(error.to_string())),
    }
    let existing = nodes
        .get(name)
        .await
        .map_err(|e| KubeletError::Register(e.to_string()))?;
    let spec = existing.spec.clone().unwrap_or_default();
    let mut patch = json!({"metadata": {"labels": labels(kubelet)}});
    let mut merged: Vec<Value> = spec
        .taints
        .iter()
        .flatten()
        .filter_map(|t| serde_json::to_value(t).ok())
        .collect();
    let mut taints_changed = false;
    for taint in taints(kubelet) {
        if !merged
            .iter()
            .any(|t| t["key"] == taint["key"] && t["effect"] == taint["effect"])
        {
            merged.push(taint);
            taints_changed = true;
        }
    }
    if taints_changed {
        patch["spec"] = json!({"taints": merged});
    }
    let cidr = match spec.pod_cidr.filter(|c| !c.is_empty()) {
        Some(cidr) => cidr,
        None => {
            patch["spec"]["podCIDR"] = json!(pod_cidr);
            patch["spec"]["podCIDRs"] = json!([pod_cidr]);
            pod_cidr
        }
    };
    nodes
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| KubeletError::Register(e.to_string()))?;
    info!(node = %name, pod_cidr = %cidr, "the node was registered before; updated it");
    Ok(cidr)
}

/// The node's IP: `--node-ip`, else the default route's source address, else loopback.
pub fn node_ip(kubelet: &Kubelet) -> IpAddr {
    kubelet
        .config
        .node
        .ip
        .or_else(crate::host::node_ip)
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn memory_total_ki() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    meminfo_ki(&meminfo, "MemTotal:").unwrap_or(0)
}

fn os_image() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| "Linux".into())
}

/// Capacity of the node's file system holding `path`, in KiB.
fn storage_ki(path: &std::path::Path) -> u64 {
    let mut probe = path.to_path_buf();
    while !probe.exists() {
        if !probe.pop() {
            return 0;
        }
    }
    rustix::fs::statvfs(&probe)
        .map(|s| s.f_blocks * s.f_frsize / 1024)
        .unwrap_or(0)
}

/// The parts of the status that describe the machine (they change rarely).
fn machine_status(kubelet: &Kubelet) -> Value {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let memory = memory_total_ki();
    let storage = storage_ki(kubelet.config.node.data_dir.root());
    let args = &kubelet.config.node.kubelet;
    let hugepages = hugepages(Path::new("/sys/kernel/mm/hugepages"));
    let mut capacity = json!({
        "cpu": cpus.to_string(),
        "memory": format!("{memory}Ki"),
        "ephemeral-storage": format!("{storage}Ki"),
        "pods": args.max_pods.to_string(),
    });
    for (name, bytes) in hugepages {
        capacity[name] = json!(binary_quantity(bytes));
    }
    let mut addresses =
        vec![json!({"type": "InternalIP", "address": node_ip(kubelet).to_string()})];
    if let Some(external) = kubelet.config.node.external_ip {
        addresses.push(json!({"type": "ExternalIP", "address": external.to_string()}));
    }
    addresses.push(json!({"type": "Hostname", "address": kubelet.config.node.name}));
    json!({
        "capacity": capacity,
        "allocatable": allocatable(args, cpus as u64, memory * 1024, storage * 1024, &hugepages),
        "addresses": addresses,
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": read_trimmed("/etc/machine-id"),
            "systemUUID": read_trimmed("/sys/class/dmi/id/product_uuid"),
            "bootID": read_trimmed("/proc/sys/kernel/random/boot_id"),
            "kernelVersion": read_trimmed("/proc/sys/kernel/osrelease"),
            "osImage": os_image(),
            "containerRuntimeVersion": format!("kedge://{}", crate::VERSION),
            "kubeletVersion": crate::api::git_version(),
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": arch(),
        },
    })
}

/// Pre-allocated huge pages, in bytes, by resource name (`hugepages-2Mi`, `hugepages-1Gi`):
/// `nr_hugepages` of each size under `/sys/kernel/mm/hugepages`, 0 where the size is absent.
fn hugepages(root: &Path) -> [(&'static str, u64); 2] {
    [("hugepages-1Gi", 1 << 30), ("hugepages-2Mi", 2 << 20)].map(|(name, size)| {
        let count = std::fs::read_to_string(
            root.join(format!("hugepages-{}kB", size / 1024))
                .join("nr_hugepages"),
        )
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
        (name, count * size)
    })
}

/// Bytes as the API spells a binary quantity (`20Mi`, `1Gi`, `0`).
fn binary_quantity(bytes: u64) -> String {
    Quantity::from_nanos(i128::from(bytes) * 1_000_000_000, QuantityFormat::BinarySI)
        .to_canonical_string()
}

/// Allocatable as upstream computes it: capacity less the system and kube reservations and
/// the hard eviction thresholds of memory and of the node's file system; pre-allocated huge
/// pages are not allocatable memory.
fn allocatable(
    args: &KubeletArgs,
    cpus: u64,
    memory: u64,
    storage: u64,
    hugepages: &[(&str, u64)],
) -> Value {
    let reserved = args.reserved();
    let hard = &args.eviction_hard;
    let held =
        |threshold: Option<Threshold>, capacity: u64| threshold.map_or(0, |t| t.amount(capacity));
    let cpu = (cpus * 1000).saturating_sub(reserved.cpu_millis);
    let memory = memory
        .saturating_sub(reserved.memory)
        .saturating_sub(held(hard.memory_available, memory))
        .saturating_sub(hugepages.iter().map(|(_, bytes)| bytes).sum());
    let storage = storage
        .saturating_sub(reserved.ephemeral_storage)
        .saturating_sub(held(hard.nodefs_available, storage));
    let mut allocatable = json!({
        "cpu": if cpu.is_multiple_of(1000) { (cpu / 1000).to_string() } else { format!("{cpu}m") },
        "memory": if memory.is_multiple_of(1024) { format!("{}Ki", memory / 1024) } else { memory.to_string() },
        "ephemeral-storage": storage.to_string(),
        "pods": args.max_pods.to_string(),
    });
    for (name, bytes) in hugepages {
        allocatable[*name] = json!(binary_quantity(*bytes));
    }
    allocatable
}

fn images(store: &ImageStore) -> Vec<Value> {
    let mut images = store.list();
    images.sort_by_key(|image| std::cmp::Reverse(image.size));
    images
        .iter()
        .take(MAX_IMAGES)
        .map(|image| {
            let mut names: Vec<&String> = image.repo_digests.iter().collect();
            names.extend(image.names.iter());
            json!({"names": names, "sizeBytes": image.size})
        })
        .collect()
}

/// The node's conditions, without timestamps: (type, status, reason, message).
fn conditions(pressure: Pressure) -> [(&'static str, &'static str, &'static str, &'static str); 4] {
    [
        if pressure.memory {
            (
                "MemoryPressure",
                "True",
                "KubeletHasInsufficientMemory",
                "kubelet has insufficient memory available",
            )
        } else {
            (
                "MemoryPressure",
                "False",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            )
        },
        if pressure.disk {
            (
                "DiskPressure",
                "True",
                "KubeletHasDiskPressure",
                "kubelet has disk pressure",
            )
        } else {
            (
                "DiskPressure",
                "False",
                "KubeletHasNoDiskPressure",
                "kubelet has no disk pressure",
            )
        },
        if pressure.pid {
            (
                "PIDPressure",
                "True",
                "KubeletHasInsufficientPID",
                "kubelet has insufficient PID available",
            )
        } else {
            (
                "PIDPressure",
                "False",
                "KubeletHasSufficientPID",
                "kubelet has sufficient PID available",
            )
        },
        (
            "Ready",
            "True",
            "KubeletReady",
            "kubelet is posting ready status",
        ),
    ]
}

/// The node's status without heartbeat times, to tell whether anything changed.
fn observed(kubelet: &Kubelet) -> Value {
    let mut status = machine_status(kubelet);
    status["images"] = json!(images(&kubelet.images));
    status["conditions"] = json!(
        conditions(Pressure::measure(
            kubelet.config.node.data_dir.root(),
            &kubelet.config.node.kubelet.eviction_hard,
        ))
        .iter()
        .map(|(t, s, r, m)| json!({"type": t, "status": s, "reason": r, "message": m}))
        .collect::<Vec<_>>()
    );
    status
}

/// Keeps the node's status fresh until `shutdown`: computed every
/// [`STATUS_UPDATE_FREQUENCY`], written when it changed or [`STATUS_REPORT_FREQUENCY`] passed.
pub async fn run_status(kubelet: std::sync::Arc<Kubelet>, shutdown: CancellationToken) {
    let nodes: Api<Node> = Api::all(kubelet.client.clone());
    let name = kubelet.config.node.name.clone();
    let mut last: Option<(Value, Instant)> = None;
    // The time each condition last changed, kept across writes.
    let mut transitions: BTreeMap<String, (String, String)> = BTreeMap::new();
    loop {
        let status = observed(&kubelet);
        let due = match &last {
            Some((previous, at)) => *previous != status || at.elapsed() >= STATUS_REPORT_FREQUENCY,
            None => true,
        };
        if due {
            let now = crate::api::object::now();
            let mut body = status.clone();
            if let Some(list) = body["conditions"].as_array_mut() {
                for condition in list {
                    let kind = condition["type"].as_str().unwrap_or_default().to_string();
                    let value = condition["status"].as_str().unwrap_or_default().to_string();
                    let entry = transitions
                        .entry(kind)
                        .or_insert_with(|| (value.clone(), now.clone()));
                    if entry.0 != value {
                        *entry = (value, now.clone());
                    }
                    condition["lastHeartbeatTime"] = json!(now);
                    condition["lastTransitionTime"] = json!(entry.1);
                }
            }
            match nodes
                .patch_status(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(&json!({"status": body})),
                )
                .await
            {
                Ok(_) => last = Some((status, Instant::now())),
                Err(error) => {
                    warn!(node = %name, %error, "cannot update the node's status; retrying")
                }
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(STATUS_UPDATE_FREQUENCY) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_say_what_the_node_is_short_of() {
        let short = conditions(Pressure {
            memory: true,
            disk: true,
            pid: true,
        });
        assert_eq!(
            short[0],
            (
                "MemoryPressure",
                "True",
                "KubeletHasInsufficientMemory",
                "kubelet has insufficient memory available"
            )
        );
        assert_eq!(short[1].1, "True");
        assert_eq!(short[1].2, "KubeletHasDiskPressure");
        assert_eq!(
            short[2],
            (
                "PIDPressure",
                "True",
                "KubeletHasInsufficientPID",
                "kubelet has insufficient PID available"
            )
        );
        let fine = conditions(Pressure::default());
        assert!(fine[..3].iter().all(|c| c.1 == "False"));
        assert_eq!(
            fine[3],
            (
                "Ready",
                "True",
                "KubeletReady",
                "kubelet is posting ready status"
            )
        );
    }

    #[test]
    fn allocatable_holds_back_reservations_and_hard_thresholds() {
        let gib: u64 = 1 << 30;
        let none = [("hugepages-1Gi", 0), ("hugepages-2Mi", 0)];
        let defaults = allocatable(&KubeletArgs::default(), 2, 4 * gib, 100 * gib, &none);
        assert_eq!(
            defaults,
            json!({"cpu": "2", "memory": "4091904Ki", "ephemeral-storage": (90 * gib).to_string(),
                "hugepages-1Gi": "0", "hugepages-2Mi": "0", "pods": "110"})
        );
        // Pre-allocated huge pages leave allocatable memory.
        let some = [("hugepages-1Gi", gib), ("hugepages-2Mi", 10 << 20)];
        let with_pages = allocatable(&KubeletArgs::default(), 2, 4 * gib, 100 * gib, &some);
        assert_eq!(
            with_pages["memory"],
            format!("{}Ki", (3 * gib - (110 << 20)) / 1024)
        );
        assert_eq!(with_pages["hugepages-1Gi"], "1Gi");
        assert_eq!(with_pages["hugepages-2Mi"], "10Mi");
        let args = KubeletArgs::parse(&[
            "max-pods=7".into(),
            "system-reserved=cpu=500m,memory=1Gi".into(),
            "kube-reserved=memory=512Mi,ephemeral-storage=10Gi".into(),
            "eviction-hard=memory.available<512Mi".into(),
        ])
        .unwrap();
        let reserved = allocatable(&args, 2, 4 * gib, 100 * gib, &none);
        assert_eq!(reserved["cpu"], "1500m");
        assert_eq!(reserved["memory"], format!("{}Ki", 2 * gib / 1024));
        // No nodefs.available threshold once eviction-hard is given without one.
        assert_eq!(reserved["ephemeral-storage"], (90 * gib).to_string());
        assert_eq!(reserved["pods"], "7");
    }

    #[test]
    fn huge_pages_are_counted_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let two_mi = dir.path().join("hugepages-2048kB");
        std::fs::create_dir_all(&two_mi).unwrap();
        std::fs::write(two_mi.join("nr_hugepages"), "16\n").unwrap();
        assert_eq!(
            hugepages(dir.path()),
            [("hugepages-1Gi", 0), ("hugepages-2Mi", 32 << 20)]
        );
        assert_eq!(binary_quantity(32 << 20), "32Mi");
        assert_eq!(binary_quantity(0), "0");
    }
}
