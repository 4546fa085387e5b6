//! Cgroups: one cgroup per pod (`<parent>/pod<uid>`, kubelet's naming) with one child per
//! container (`<parent>/pod<uid>/<name>.<attempt>`), on cgroup v1 (and hybrid hosts, which use
//! the v1 controllers) and cgroup v2.
//!
//! libcontainer creates and removes the containers' cgroups from the OCI spec's absolute
//! `cgroupsPath` and `linux.resources` ([`oci_resources`]); this module creates the pod's
//! cgroup with its limits, reads OOM kills, and kills and removes what a dead shim left behind.
//! Files go through [`Kernel`].

use std::io;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::runtime::config::Resources;
use crate::runtime::kernel::Kernel;

/// The CFS period kubelet uses (100 ms).
pub const CPU_PERIOD_US: u64 = 100_000;
/// The smallest cpu shares value (kubelet's `MinShares`, also BestEffort's shares).
pub const MIN_SHARES: u64 = 2;
const MIN_QUOTA_US: u64 = 1000;
/// The v1 hierarchies a pod cgroup gets limits in.
const V1_POD_CONTROLLERS: [&str; 4] = ["cpu", "cpuacct", "memory", "pids"];

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CgroupVersion {
    /// Legacy or hybrid hierarchy: one mount per controller.
    V1,
    /// The unified hierarchy.
    V2,
}

impl CgroupVersion {
    /// The version mounted at `/sys/fs/cgroup` (hybrid hosts count as v1).
    pub fn detect() -> CgroupVersion {
        match nix::sys::statfs::statfs("/sys/fs/cgroup") {
            Ok(fs) if fs.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC => {
                CgroupVersion::V2
            }
            _ => CgroupVersion::V1,
        }
    }
}

/// Where a node's pod cgroups live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupLayout {
    /// The cgroup filesystem root, `/sys/fs/cgroup`.
    pub root: PathBuf,
    pub version: CgroupVersion,
    /// The absolute cgroup under which pods are created, e.g. `/kedge`.
    pub parent: String,
}

/// cpu shares from a cpu request in millicores (kubelet's `MilliCPUToShares`).
pub fn cpu_shares(request_millis: Option<u64>) -> u64 {
    match request_millis {
        None | Some(0) => MIN_SHARES,
        Some(milli) => (milli * 1024 / 1000).max(MIN_SHARES),
    }
}

/// The CFS quota for a cpu limit in millicores (kubelet's `MilliCPUToQuota`); `None` is no quota.
pub fn cpu_quota(limit_millis: Option<u64>) -> Option<u64> {
    match limit_millis {
        None | Some(0) => None,
        Some(milli) => Some((milli * CPU_PERIOD_US / 1000).max(MIN_QUOTA_US)),
    }
}

/// cgroup v2 `cpu.weight` for v1 shares (the conversion runc and libcgroups use).
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + ((shares.saturating_sub(2)) * 9999) / 262_142
}

/// The OCI `linux.resources` for a container's requests and limits.
pub fn oci_resources(resources: &Resources) -> serde_json::Value {
    let mut cpu = json!({ "shares": cpu_shares(resources.cpu_request_millis.or(resources.cpu_limit_millis)) });
    if let Some(quota) = cpu_quota(resources.cpu_limit_millis) {
        cpu["quota"] = json!(quota);
        cpu["period"] = json!(CPU_PERIOD_US);
    }
    let mut value = json!({ "cpu": cpu });
    if let Some(limit) = resources.memory_limit_bytes {
        value["memory"] = json!({ "limit": limit });
    }
    if let Some(limit) = resources.pids_limit {
        value["pids"] = json!({ "limit": limit });
    }
    value
}

impl CgroupLayout {
    /// The host's layout, with pods under `parent`.
    pub fn host(parent: &str) -> Self {
        CgroupLayout {
            root: PathBuf::from("/sys/fs/cgroup"),
            version: CgroupVersion::detect(),
            parent: format!("/{}", parent.trim_matches('/')),
        }
    }

    /// The pod's cgroup, `<parent>/pod<uid>`.
    pub fn pod_path(&self, uid: &str) -> String {
        format!("{}/pod{uid}", self.parent.trim_end_matches('/'))
    }

    /// A container's cgroup (libcontainer's absolute `cgroupsPath`).
    pub fn container_path(&self, uid: &str, container_id: &str) -> String {
        format!("{}/{container_id}", self.pod_path(uid))
    }

    /// The directory of `cgroup` in `controller`'s hierarchy (v1) or in the unified one.
    pub fn dir(&self, controller: &str, cgroup: &str) -> PathBuf {
        let relative = cgroup.trim_start_matches('/');
        match self.version {
            CgroupVersion::V1 => self.root.join(controller).join(relative),
            CgroupVersion::V2 => self.root.join(relative),
        }
    }

    /// Creates the pod's cgroup and sets the pod-level limits.
    ///
    /// # Errors
    /// A directory or a limit that could not be written.
    pub fn create_pod(
        &self,
        kernel: &dyn Kernel,
        uid: &str,
        limits: Option<&Resources>,
    ) -> io::Result<()> {
        let pod = self.pod_path(uid);
        // A missing directory is named: most often the cgroup file system is not mounted
        // where it is looked for (e.g. under `ip netns exec`, which mounts a fresh /sys).
        let create = |dir: &Path| {
            kernel
                .create_dir(dir)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))
        };
        match self.version {
            CgroupVersion::V1 => {
                for controller in V1_POD_CONTROLLERS {
                    create(&self.dir(controller, &pod))?;
                }
                if let Some(limits) = limits {
                    if limits.cpu_request_millis.is_some() || limits.cpu_limit_millis.is_some() {
                        let shares =
                            cpu_shares(limits.cpu_request_millis.or(limits.cpu_limit_millis));
                        kernel.write(
                            &self.dir("cpu", &pod).join("cpu.shares"),
                            &shares.to_string(),
                        )?;
                    }
                    if let Some(quota) = cpu_quota(limits.cpu_limit_millis) {
                        let dir = self.dir("cpu", &pod);
                        kernel.write(&dir.join("cpu.cfs_period_us"), &CPU_PERIOD_US.to_string())?;
                        kernel.write(&dir.join("cpu.cfs_quota_us"), &quota.to_string())?;
                    }
                    if let Some(memory) = limits.memory_limit_bytes {
                        kernel.write(
                            &self.dir("memory", &pod).join("memory.limit_in_bytes"),
                            &memory.to_string(),
                        )?;
                    }
                    if let Some(pids) = limits.pids_limit {
                        kernel
                            .write(&self.dir("pids", &pod).join("pids.max"), &pids.to_string())?;
                    }
                }
            }
            CgroupVersion::V2 => {
                // Enable the controllers on the way down; a controller the host does not offer
                // is left out rather than failing the pod.
                let mut path = String::new();
                let dirs: Vec<&str> = pod.trim_start_matches('/').split('/').collect();
                for part in dirs {
                    let parent = self.dir("", &path);
                    for controller in ["cpu", "memory", "pids"] {
                        let _ = kernel.write(
                            &parent.join("cgroup.subtree_control"),
                            &format!("+{controller}"),
                        );
                    }
                    path = format!("{path}/{part}");
                    create(&self.dir("", &path))?;
                }
                let dir = self.dir("", &pod);
                for controller in ["cpu", "memory", "pids"] {
                    let _ = kernel.write(
                        &dir.join("cgroup.subtree_control"),
                        &format!("+{controller}"),
                    );
                }
                if let Some(limits) = limits {
                    if limits.cpu_request_millis.is_some() || limits.cpu_limit_millis.is_some() {
                        let shares =
                            cpu_shares(limits.cpu_request_millis.or(limits.cpu_limit_millis));
                        kernel.write(
                            &dir.join("cpu.weight"),
                            &shares_to_weight(shares).to_string(),
                        )?;
                    }
                    if let Some(quota) = cpu_quota(limits.cpu_limit_millis) {
                        kernel.write(&dir.join("cpu.max"), &format!("{quota} {CPU_PERIOD_US}"))?;
                    }
                    if let Some(memory) = limits.memory_limit_bytes {
                        kernel.write(&dir.join("memory.max"), &memory.to_string())?;
                    }
                    if let Some(pids) = limits.pids_limit {
                        kernel.write(&dir.join("pids.max"), &pids.to_string())?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The hierarchies to look in for a cgroup's leftovers: every v1 controller mount, or the
    /// unified root.
    fn hierarchies(&self, kernel: &dyn Kernel) -> Vec<String> {
        match self.version {
            CgroupVersion::V2 => vec![String::new()],
            CgroupVersion::V1 => kernel
                .list_dirs(&self.root)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect(),
        }
    }

    /// Every process in the pod's cgroup tree (deduplicated across hierarchies).
    pub fn pod_processes(&self, kernel: &dyn Kernel, uid: &str) -> Vec<i32> {
        let mut pids = Vec::new();
        for hierarchy in self.hierarchies(kernel) {
            collect_procs(
                kernel,
                &self.dir(&hierarchy, &self.pod_path(uid)),
                &mut pids,
            );
        }
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// SIGKILLs every process left in the pod's cgroups, then removes the container cgroups
    /// and the pod cgroup in every hierarchy. Used when the shim is gone.
    ///
    /// # Errors
    /// A cgroup that could not be removed (it still has processes).
    pub fn kill_and_remove_pod(&self, kernel: &dyn Kernel, uid: &str) -> io::Result<()> {
        for pid in self.pod_processes(kernel, uid) {
            let _ = kernel.kill(pid, libc::SIGKILL);
        }
        self.remove_pod(kernel, uid)
    }

    /// Removes the pod's cgroup (and any container cgroup left in it) in every hierarchy.
    ///
    /// # Errors
    /// A cgroup still has processes.
    pub fn remove_pod(&self, kernel: &dyn Kernel, uid: &str) -> io::Result<()> {
        let pod = self.pod_path(uid);
        let mut result = Ok(());
        for hierarchy in self.hierarchies(kernel) {
            let dir = self.dir(&hierarchy, &pod);
            if let Err(error) = remove_tree(kernel, &dir) {
                result = Err(error);
            }
        }
        result
    }

    /// The number of OOM kills in a container's cgroup (`oom_kill` of `memory.events` on v2,
    /// of `memory.oom_control` on v1); 0 when the container has no memory cgroup.
    pub fn oom_kills(&self, kernel: &dyn Kernel, cgroup: &str) -> u64 {
        let file = match self.version {
            CgroupVersion::V1 => self.dir("memory", cgroup).join("memory.oom_control"),
            CgroupVersion::V2 => self.dir("", cgroup).join("memory.events"),
        };
        kernel
            .read(&file)
            .map(|text| parse_oom_kill(&text))
            .unwrap_or(0)
    }
}

fn collect_procs(kernel: &dyn Kernel, dir: &Path, pids: &mut Vec<i32>) {
    if let Ok(text) = kernel.read(&dir.join("cgroup.procs")) {
        pids.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    }
    for child in kernel.list_dirs(dir).unwrap_or_default() {
        collect_procs(kernel, &child, pids);
    }
}

fn remove_tree(kernel: &dyn Kernel, dir: &Path) -> io::Result<()> {
    for child in kernel.list_dirs(dir).unwrap_or_default() {
        remove_tree(kernel, &child)?;
    }
    kernel.remove_dir(dir)
}

/// The `oom_kill N` counter of `memory.events` or `memory.oom_control`.
pub fn parse_oom_kill(text: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::kernel::{Call, RecordingKernel};

    fn layout(version: CgroupVersion) -> CgroupLayout {
        CgroupLayout {
            root: PathBuf::from("/sys/fs/cgroup"),
            version,
            parent: "/kedge".into(),
        }
    }

    #[test]
    fn kubelet_cpu_conversions() {
        assert_eq!(cpu_shares(None), 2);
        assert_eq!(cpu_shares(Some(1)), 2);
        assert_eq!(cpu_shares(Some(250)), 256);
        assert_eq!(cpu_shares(Some(1000)), 1024);
        assert_eq!(cpu_quota(None), None);
        assert_eq!(cpu_quota(Some(500)), Some(50_000));
        assert_eq!(cpu_quota(Some(1)), Some(1000));
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
    }

    #[test]
    fn oci_resources_from_requests_and_limits() {
        let value = oci_resources(&Resources {
            cpu_request_millis: Some(250),
            cpu_limit_millis: Some(500),
            memory_limit_bytes: Some(64 << 20),
            pids_limit: Some(100),
        });
        assert_eq!(
            value,
            json!({"cpu": {"shares": 256, "quota": 50000, "period": 100000},
                   "memory": {"limit": 67108864}, "pids": {"limit": 100}})
        );
        assert_eq!(
            oci_resources(&Resources::default()),
            json!({"cpu": {"shares": 2}})
        );
    }

    #[test]
    fn v1_pod_cgroup_with_limits() {
        let kernel = RecordingKernel::new();
        let limits = Resources {
            memory_limit_bytes: Some(1 << 30),
            ..Default::default()
        };
        layout(CgroupVersion::V1)
            .create_pod(&kernel, "u1", Some(&limits))
            .unwrap();
        let calls = kernel.calls();
        assert!(calls.contains(&Call::CreateDir("/sys/fs/cgroup/memory/kedge/podu1".into())));
        assert!(calls.contains(&Call::Write {
            path: "/sys/fs/cgroup/memory/kedge/podu1/memory.limit_in_bytes".into(),
            value: "1073741824".into()
        }));
    }

    #[test]
    fn a_cgroup_that_cannot_be_made_is_named() {
        let kernel = RecordingKernel::new();
        kernel.fail_on("CreateDir");
        for (version, dir) in [
            (CgroupVersion::V1, "/sys/fs/cgroup/cpu/kedge/podu1"),
            (CgroupVersion::V2, "/sys/fs/cgroup/kedge"),
        ] {
            let error = layout(version).create_pod(&kernel, "u1", None).unwrap_err();
            assert!(
                error.to_string().starts_with(&format!("{dir}: ")),
                "{error}"
            );
        }
    }

    #[test]
    fn v2_pod_cgroup_enables_controllers_on_the_way() {
        let kernel = RecordingKernel::new();
        let limits = Resources {
            cpu_limit_millis: Some(200),
            ..Default::default()
        };
        layout(CgroupVersion::V2)
            .create_pod(&kernel, "u1", Some(&limits))
            .unwrap();
        let calls = kernel.calls();
        assert!(calls.contains(&Call::Write {
            path: "/sys/fs/cgroup/cgroup.subtree_control".into(),
            value: "+memory".into()
        }));
        assert!(calls.contains(&Call::Write {
            path: "/sys/fs/cgroup/kedge/cgroup.subtree_control".into(),
            value: "+pids".into()
        }));
        assert!(calls.contains(&Call::Write {
            path: "/sys/fs/cgroup/kedge/podu1/cpu.max".into(),
            value: "20000 100000".into()
        }));
    }

    #[test]
    fn oom_kills_are_read_per_version() {
        let kernel = RecordingKernel::new();
        kernel.set_file(
            "/sys/fs/cgroup/memory/kedge/podu/c.0/memory.oom_control",
            "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
        );
        assert_eq!(
            layout(CgroupVersion::V1).oom_kills(&kernel, "/kedge/podu/c.0"),
            1
        );
        kernel.set_file(
            "/sys/fs/cgroup/kedge/podu/c.0/memory.events",
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\noom_group_kill 0\n",
        );
        assert_eq!(
            layout(CgroupVersion::V2).oom_kills(&kernel, "/kedge/podu/c.0"),
            2
        );
        assert_eq!(
            layout(CgroupVersion::V2).oom_kills(&kernel, "/kedge/podu/gone"),
            0
        );
    }

    #[test]
    fn leftovers_of_a_dead_shim_are_killed() {
        let kernel = RecordingKernel::new();
        kernel.set_file("/sys/fs/cgroup/kedge/podu/cgroup.procs", "10\n11\n");
        layout(CgroupVersion::V2)
            .kill_and_remove_pod(&kernel, "u")
            .unwrap();
        let calls = kernel.calls();
        assert!(calls.contains(&Call::Kill { pid: 10, signal: 9 }));
        assert!(calls.contains(&Call::RemoveDir("/sys/fs/cgroup/kedge/podu".into())));
    }
}
