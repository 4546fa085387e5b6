//! Node-pressure eviction, as upstream's kubelet does it with its hard thresholds (upstream's
//! defaults, or `--kubelet-arg=eviction-hard=…`, see [`super::args`]): by default the node is
//! under memory pressure when less than 100 MiB is available (`MemAvailable`), under disk
//! pressure when less than 15% of the data dir's file system (or 5% of its inodes) is free,
//! and under PID pressure only when a `pid.available` threshold is given. Unlike upstream,
//! which counts the blocks left to unprivileged users, the free share is what root may still
//! use (blocks reserved for root count as free): kedge writes everything as root, and a file
//! system with a large reservation (this project's CI machines keep 64% back, so that only
//! 13% is "available") would otherwise be under pressure while most of it is empty. The
//! node's conditions say so ([`Pressure`], read by [`super::node`]; the node lifecycle
//! controller then taints the node), and every [`EVICTION_INTERVAL`] while the pressure
//! lasts one pod is evicted ([`run`]): killed at once and reported `Failed` with reason
//! `Evicted`, by its worker, which [`Evictions`] tells. Under disk pressure the unused images
//! are removed first ([`image_gc::free_disk`]), and a pod evicted only if that did not end it.
//!
//! The victim is chosen as upstream ranks pods: those using more of the short resource than
//! they request first, then the lowest priority, then the largest use above the request.
//! Memory use is the pod cgroup's working set (usage less inactive file pages); disk use is
//! the containers' writable layers, the pod's volumes and its logs; process use is the pod
//! cgroup's task count. Mirror pods and pods of priority `system-node-critical` and above
//! are never evicted.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::Kubelet;
use super::args::{Threshold, Thresholds};
use super::eviction::disk_usage;
use super::image_gc;
use crate::api::admission::validation::parse_quantity;
use crate::runtime::cgroups::{CgroupLayout, CgroupVersion};

/// How often the signals are checked and at most one pod evicted (upstream's
/// `evictionMonitoringPeriod`).
pub const EVICTION_INTERVAL: Duration = Duration::from_secs(10);
/// Pods of this priority or above (`system-node-critical`) are never evicted.
const CRITICAL_PRIORITY: i32 = 2_000_001_000;

/// What the node is short of.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pressure {
    pub memory: bool,
    pub disk: bool,
    pub pid: bool,
}

/// The node's eviction signals as measured; `None` where a signal could not be read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Signals {
    /// `MemAvailable` and `MemTotal`, in KiB.
    pub memory_ki: Option<(u64, u64)>,
    /// The data dir's file system: (bytes free, bytes, inodes free, inodes).
    pub fs: Option<(u64, u64, u64, u64)>,
    /// Process ids: (the most there may be, in use).
    pub pids: Option<(u64, u64)>,
}

impl Signals {
    /// From `/proc/meminfo` (`MemAvailable`, upstream's `memory.available` on a host), the
    /// file system holding `data_dir`, and the kernel's process count against the lower of
    /// `pid_max` and `threads-max` (upstream's `pid.available`, which counts tasks as this
    /// does).
    pub fn measure(data_dir: &Path) -> Signals {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mut probe = data_dir.to_path_buf();
        while !probe.exists() && probe.pop() {}
        let fs = rustix::fs::statvfs(&probe).ok();
        let limit =
            |file: &str| -> Option<u64> { std::fs::read_to_string(file).ok()?.trim().parse().ok() };
        let max_pids = match (
            limit("/proc/sys/kernel/pid_max"),
            limit("/proc/sys/kernel/threads-max"),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // The fourth field of /proc/loadavg is running/total tasks, what sysinfo counts.
        let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let tasks = loadavg
            .split_whitespace()
            .nth(3)
            .and_then(|f| f.split_once('/'))
            .and_then(|(_, total)| total.parse::<u64>().ok());
        Signals {
            memory_ki: meminfo_ki(&meminfo, "MemAvailable:").zip(meminfo_ki(&meminfo, "MemTotal:")),
            fs: fs.map(|s| {
                (
                    s.f_bfree.saturating_mul(s.f_frsize),
                    s.f_blocks.saturating_mul(s.f_frsize),
                    s.f_ffree,
                    s.f_files,
                )
            }),
            pids: max_pids.zip(tasks),
        }
    }
}

impl Pressure {
    /// Measures the signals and compares them with `thresholds`.
    pub fn measure(data_dir: &Path, thresholds: &Thresholds) -> Pressure {
        Pressure::from_signals(&Signals::measure(data_dir), thresholds)
    }

    /// The pressure `signals` show against `thresholds`; an unknown signal is no pressure.
    /// kedge keeps images and pods on one file system (the data dir's), so its node and
    /// image file system thresholds both apply to it.
    pub fn from_signals(signals: &Signals, thresholds: &Thresholds) -> Pressure {
        let crossed = |threshold: Option<Threshold>, available: u64, capacity: u64| {
            threshold.is_some_and(|t| t.crossed(available, capacity))
        };
        Pressure {
            memory: signals.memory_ki.is_some_and(|(available, total)| {
                crossed(thresholds.memory_available, available * 1024, total * 1024)
            }),
            disk: signals.fs.is_some_and(|(bfree, blocks, ffree, files)| {
                crossed(thresholds.nodefs_available, bfree, blocks)
                    || crossed(thresholds.imagefs_available, bfree, blocks)
                    || crossed(thresholds.nodefs_inodes_free, ffree, files)
                    || crossed(thresholds.imagefs_inodes_free, ffree, files)
            }),
            pid: signals.pids.is_some_and(|(max, running)| {
                crossed(thresholds.pid_available, max.saturating_sub(running), max)
            }),
        }
    }
}

/// A value of `/proc/meminfo` (or of a cgroup's `memory.stat` with its unit-less lines).
pub fn meminfo_ki(meminfo: &str, key: &str) -> Option<u64> {
    meminfo
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Pods the eviction loop has chosen, by uid, with the message of their status: their
/// workers take them on their next pass.
#[derive(Default)]
pub struct Evictions(Mutex<HashMap<String, String>>);

impl Evictions {
    fn insert(&self, uid: &str, message: String) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(uid.to_string(), message);
        }
    }

    /// The message if pod `uid` is to be evicted (once).
    pub fn take(&self, uid: &str) -> Option<String> {
        self.0.lock().ok()?.remove(uid)
    }
}

/// A pod that may be evicted, with what ranks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub uid: String,
    pub name: String,
    pub priority: i32,
    /// Bytes of the short resource the pod uses, and requests.
    pub usage: u64,
    pub request: u64,
}

/// Sorts `candidates` in upstream's eviction order (the first is evicted first).
pub fn rank(candidates: &mut [Candidate]) {
    candidates.sort_by_key(|c| {
        (
            c.usage <= c.request,
            c.priority,
            std::cmp::Reverse(c.usage.saturating_sub(c.request)),
        )
    });
}

/// The resource the node is short of, as upstream names it in its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resource {
    Memory,
    EphemeralStorage,
    Pids,
}

impl Resource {
    fn name(self) -> &'static str {
        match self {
            Resource::Memory => "memory",
            Resource::EphemeralStorage => "ephemeral-storage",
            Resource::Pids => "pids",
        }
    }

    /// What its amounts count, for the eviction message.
    fn unit(self) -> &'static str {
        match self {
            Resource::Memory | Resource::EphemeralStorage => "bytes",
            Resource::Pids => "processes",
        }
    }
}

/// The pod's working set: its cgroup's memory use less inactive file pages.
fn memory_usage(cgroups: &CgroupLayout, uid: &str) -> u64 {
    let dir = cgroups.dir("memory", &cgroups.pod_path(uid));
    let read = |file: &str| std::fs::read_to_string(dir.join(file)).unwrap_or_default();
    let (usage, inactive_key) = match cgroups.version {
        CgroupVersion::V1 => (read("memory.usage_in_bytes"), "total_inactive_file "),
        CgroupVersion::V2 => (read("memory.current"), "inactive_file "),
    };
    let usage: u64 = usage.trim().parse().unwrap_or(0);
    let inactive = meminfo_ki(&read("memory.stat"), inactive_key).unwrap_or(0);
    usage.saturating_sub(inactive)
}

/// The pod's tasks (processes and threads), as its cgroup counts them.
fn pid_usage(cgroups: &CgroupLayout, uid: &str) -> u64 {
    let dir = cgroups.dir("pids", &cgroups.pod_path(uid));
    std::fs::read_to_string(dir.join("pids.current"))
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// The disk the pod takes: its containers' writable layers (not their mounted root file
/// systems), its volumes and its logs.
fn ephemeral_usage(kubelet: &Kubelet, pod: &Pod, uid: &str) -> u64 {
    let containers = kubelet.config.runtime.pod_state_dir(uid).join("containers");
    let uppers: Vec<PathBuf> = std::fs::read_dir(&containers)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("upper"))
        .collect();
    let logs = kubelet.config.runtime.logs.join(format!(
        "{}_{}_{uid}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    ));
    let volumes = kubelet.config.pods_dir.join(uid).join("volumes");
    uppers
        .iter()
        .chain([&logs, &volumes])
        .map(|dir| disk_usage(dir))
        .sum()
}

/// The sum of the pod's containers' requests of `resource`, in bytes.
fn request(pod: &Pod, resource: Resource) -> u64 {
    pod.spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .filter_map(|c| {
            c.resources
                .as_ref()?
                .requests
                .as_ref()?
                .get(resource.name())
        })
        .filter_map(|q| parse_quantity(&q.0))
        .map(|q| (q.nanos() / 1_000_000_000).max(0) as u64)
        .sum()
}

fn evictable(pod: &Pod) -> bool {
    let active = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .is_none_or(|p| p == "Pending" || p == "Running");
    let mirror = pod
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"));
    let critical = pod
        .spec
        .as_ref()
        .and_then(|s| s.priority)
        .is_some_and(|p| p >= CRITICAL_PRIORITY);
    active && pod.metadata.deletion_timestamp.is_none() && !mirror && !critical
}

/// The node's pressure against its hard eviction thresholds, measured off the runtime.
async fn measure(kubelet: &Kubelet) -> Pressure {
    let data_dir = kubelet.config.node.data_dir.root().to_path_buf();
    let thresholds = kubelet.config.node.kubelet.eviction_hard;
    tokio::task::spawn_blocking(move || Pressure::measure(&data_dir, &thresholds))
        .await
        .unwrap_or_default()
}

/// Checks the node's signals every [`EVICTION_INTERVAL`] until `shutdown`; under disk
/// pressure, first removes the unused images; under pressure still, has one pod evicted, and
/// waits for it to have ended before it chooses another.
pub async fn run(kubelet: Arc<Kubelet>, shutdown: CancellationToken) {
    let cgroups = CgroupLayout::host(&kubelet.config.runtime.cgroup_parent);
    let mut pending: Option<String> = None;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(EVICTION_INTERVAL) => {}
        }
        let mut pressure = measure(&kubelet).await;
        if pressure == Pressure::default() {
            pending = None;
            continue;
        }
        let list = match kubelet.pods_on_node().await {
            Ok(list) => list,
            Err(error) => {
                warn!(%error, "node pressure: cannot list this node's pods");
                continue;
            }
        };
        // Unused images go before any pod does.
        if pressure.disk
            && pending.is_none()
            && image_gc::free_disk(&kubelet, list.clone())
                .await
                .is_some_and(|report| !report.removed.is_empty())
        {
            pressure = measure(&kubelet).await;
        }
        let resource = match pressure {
            Pressure { memory: true, .. } => Resource::Memory,
            Pressure { disk: true, .. } => Resource::EphemeralStorage,
            Pressure { pid: true, .. } => Resource::Pids,
            _ => {
                pending = None;
                continue;
            }
        };
        let active: Vec<Pod> = list.into_iter().filter(evictable).collect();
        let uid_of = |p: &Pod| p.metadata.uid.clone().unwrap_or_default();
        if let Some(uid) = &pending
            && active.iter().any(|p| &uid_of(p) == uid)
        {
            continue;
        }
        let kubelet_for_usage = kubelet.clone();
        let cgroups = cgroups.clone();
        let mut candidates = tokio::task::spawn_blocking(move || {
            active
                .iter()
                .map(|pod| {
                    let uid = uid_of(pod);
                    let usage = match resource {
                        Resource::Memory => memory_usage(&cgroups, &uid),
                        Resource::EphemeralStorage => {
                            ephemeral_usage(&kubelet_for_usage, pod, &uid)
                        }
                        Resource::Pids => pid_usage(&cgroups, &uid),
                    };
                    Candidate {
                        name: format!(
                            "{}/{}",
                            pod.metadata.namespace.as_deref().unwrap_or_default(),
                            pod.metadata.name.as_deref().unwrap_or_default()
                        ),
                        priority: pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0),
                        request: request(pod, resource),
                        usage,
                        uid,
                    }
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        rank(&mut candidates);
        let Some(victim) = candidates.first() else {
            continue;
        };
        let message = format!(
            "The node was low on resource: {}. The pod was using {} {}, request is {}.",
            resource.name(),
            victim.usage,
            resource.unit(),
            victim.request
        );
        info!(pod = %victim.name, resource = resource.name(), usage = victim.usage, "evicting a pod under node pressure");
        kubelet.evictions.insert(&victim.uid, message);
        pending = Some(victim.uid.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pressure_follows_upstreams_default_thresholds() {
        let defaults = Thresholds::default();
        let at = |memory_ki: Option<(u64, u64)>, fs| {
            Pressure::from_signals(
                &Signals {
                    memory_ki,
                    fs,
                    pids: Some((1000, 999)),
                },
                &defaults,
            )
        };
        let roomy = Some((50, 100, 50, 100));
        let total = 4 * 1024 * 1024;
        assert_eq!(
            at(Some((2 * 1024 * 1024, total)), roomy),
            Pressure::default()
        );
        // memory.available < 100Mi
        assert!(at(Some((100 * 1024 - 1, total)), roomy).memory);
        assert!(!at(Some((100 * 1024, total)), roomy).memory);
        // less than 15% of the blocks, or 5% of the inodes, free
        assert!(at(None, Some((14, 100, 50, 100))).disk);
        assert!(!at(None, Some((15, 100, 50, 100))).disk);
        assert!(at(None, Some((50, 100, 4, 100))).disk);
        // no pid threshold by default; unknown signals are no pressure
        assert_eq!(at(None, None), Pressure::default());
        assert!(!at(None, Some((0, 0, 0, 0))).disk);
    }

    #[test]
    fn given_thresholds_replace_the_defaults() {
        let thresholds = super::super::args::KubeletArgs::parse(&[
            "eviction-hard=memory.available<10%,nodefs.available<1Gi,pid.available<20%".into(),
        ])
        .unwrap()
        .eviction_hard;
        let gib = 1 << 30;
        let check = |signals: Signals| Pressure::from_signals(&signals, &thresholds);
        // 10% of 4 GiB of memory, 1 GiB of disk, 20% of 1,000 pids.
        let roomy = Signals {
            memory_ki: Some((500 * 1024, 4 * 1024 * 1024)),
            fs: Some((gib, 10 * gib, 0, 100)),
            pids: Some((1000, 800)),
        };
        assert_eq!(
            check(roomy),
            Pressure::default(),
            "inodes have no threshold now"
        );
        let short = Signals {
            memory_ki: Some((400 * 1024, 4 * 1024 * 1024)),
            fs: Some((gib - 1, 10 * gib, 0, 100)),
            pids: Some((1000, 801)),
        };
        assert_eq!(
            check(short),
            Pressure {
                memory: true,
                disk: true,
                pid: true
            }
        );
    }

    #[test]
    fn signals_are_read_from_this_machine() {
        let signals = Signals::measure(Path::new("/"));
        let (available, total) = signals.memory_ki.unwrap();
        assert!(available <= total && total > 0);
        let (max, running) = signals.pids.unwrap();
        assert!(running > 0 && running < max);
        assert!(signals.fs.unwrap().1 > 0);
    }

    #[test]
    fn meminfo_values_are_read_by_key() {
        let text = "MemTotal:       16384 kB\nMemFree:  100 kB\nMemAvailable:    8192 kB\n";
        assert_eq!(meminfo_ki(text, "MemAvailable:"), Some(8192));
        assert_eq!(meminfo_ki(text, "MemTotal:"), Some(16384));
        assert_eq!(meminfo_ki(text, "SwapTotal:"), None);
        let stat = "cache 10\ntotal_inactive_file 4096\ninactive_file 2048\n";
        assert_eq!(meminfo_ki(stat, "total_inactive_file "), Some(4096));
        assert_eq!(meminfo_ki(stat, "inactive_file "), Some(2048));
    }

    fn candidate(name: &str, priority: i32, usage: u64, request: u64) -> Candidate {
        Candidate {
            uid: name.into(),
            name: name.into(),
            priority,
            usage,
            request,
        }
    }

    #[test]
    fn pods_over_their_request_go_first_then_by_priority_then_by_excess() {
        let mut pods = vec![
            candidate("within-request", 0, 50, 100),
            candidate("over-high-priority", 1000, 300, 100),
            candidate("over-small", 0, 120, 100),
            candidate("over-large", 0, 900, 100),
            candidate("no-request", 0, 10, 0),
        ];
        rank(&mut pods);
        let order: Vec<&str> = pods.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            order,
            [
                "over-large",
                "over-small",
                "no-request",
                "over-high-priority",
                "within-request"
            ]
        );
    }

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn mirror_critical_finished_and_deleted_pods_are_spared() {
        let base = serde_json::json!({"metadata": {"name": "p"}, "spec": {"containers": []},
            "status": {"phase": "Running"}});
        assert!(evictable(&pod(base.clone())));
        let mut mirror = base.clone();
        mirror["metadata"]["annotations"] = serde_json::json!({"kubernetes.io/config.mirror": "x"});
        assert!(!evictable(&pod(mirror)));
        let mut critical = base.clone();
        critical["spec"]["priority"] = serde_json::json!(2_000_001_000);
        assert!(!evictable(&pod(critical)));
        let mut done = base.clone();
        done["status"]["phase"] = serde_json::json!("Succeeded");
        assert!(!evictable(&pod(done)));
        let mut deleted = base;
        deleted["metadata"]["deletionTimestamp"] = serde_json::json!("2026-01-01T00:00:00Z");
        assert!(!evictable(&pod(deleted)));
    }

    #[test]
    fn requests_add_up_over_the_containers() {
        let p = pod(
            serde_json::json!({"metadata": {"name": "p"}, "spec": {"containers": [
                {"name": "a", "resources": {"requests": {"memory": "64Mi", "ephemeral-storage": "1Gi"}}},
                {"name": "b", "resources": {"requests": {"memory": "1Mi"}}},
                {"name": "c"}
            ]}}),
        );
        assert_eq!(request(&p, Resource::Memory), 65 * 1024 * 1024);
        assert_eq!(request(&p, Resource::EphemeralStorage), 1024 * 1024 * 1024);
    }
}
