//! What the agent asks the runtime for: a pod sandbox ([`SandboxConfig`]) and the containers in
//! it ([`ContainerConfig`]), in Kubernetes terms (the fields of a pod spec the runtime needs,
//! already resolved by the kubelet: volumes are host paths, the image is a list of unpacked
//! layer directories plus the values of its config).
//!
//! These types travel as JSON over the shim's socket and are stored beside the pod's state, so
//! every field has a serde default and old state files keep loading.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One pod's sandbox: the namespaces and files its containers share.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SandboxConfig {
    /// `metadata.uid`: names the shim, its socket, the network namespace and the cgroup.
    pub uid: String,
    pub namespace: String,
    pub name: String,
    /// The hostname of every container (`spec.hostname` or the pod name).
    pub hostname: String,
    /// Use the host's network (and UTS) namespace instead of a new one.
    pub host_network: bool,
    /// Use the host's IPC namespace.
    pub host_ipc: bool,
    /// Use the host's PID namespace.
    pub host_pid: bool,
    /// `spec.shareProcessNamespace`: one PID namespace for every container of the pod.
    pub share_process_namespace: bool,
    /// Contents of the pod's `/etc/hosts`; `None` writes localhost entries and the hostname.
    pub hosts_file: Option<String>,
    /// Contents of the pod's `/etc/resolv.conf`; `None` copies the host's.
    pub resolv_conf: Option<String>,
    /// `spec.securityContext.sysctls`, applied in every container.
    pub sysctls: BTreeMap<String, String>,
    /// Limits of the pod's cgroup as a whole (set when every container has limits).
    pub resources: Option<Resources>,
    /// Log rotation: the size at which a container's log is rotated (0: 10 MiB, kubelet's
    /// `containerLogMaxSize` default) and how many files are kept (0: 5).
    pub log_max_size: u64,
    pub log_max_files: u32,
}

/// One container of a pod.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerConfig {
    /// The container's name in the pod spec.
    pub name: String,
    /// The restart count: names the log file (`<attempt>.log`) and the runtime's container id.
    pub attempt: u32,
    /// The image's unpacked layers, top-most first (overlayfs `lowerdir` order).
    pub lower_dirs: Vec<PathBuf>,
    pub image: ImageConfig,
    /// `command` and `args` of the container spec, with Kubernetes' override rules against the
    /// image's entrypoint and cmd.
    pub command: Vec<String>,
    pub args: Vec<String>,
    /// Resolved environment, in order; later entries win and override the image's.
    pub env: Vec<EnvVar>,
    pub working_dir: Option<String>,
    pub security: SecurityContext,
    pub resources: Resources,
    /// Volume mounts, already resolved to host paths.
    pub mounts: Vec<VolumeMount>,
    /// Keep a pipe to the container's stdin (`stdin: true`), closed after the first attach
    /// ends when `stdin_once`.
    pub stdin: bool,
    pub stdin_once: bool,
    /// Give the container a terminal (`tty: true`).
    pub tty: bool,
    /// The OOM score adjustment the kubelet computes from the QoS class (0 when `None`).
    pub oom_score_adj: Option<i32>,
}

/// The values of an image's config the runtime needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ImageConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// `KEY=value` entries.
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    /// `user`, `uid`, `user:group`, `uid:gid` (names are looked up in the image).
    pub user: Option<String>,
    /// `SIGTERM`, `TERM` or a number; `None` is SIGTERM.
    pub stop_signal: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

/// `resources.requests` and `resources.limits` as cgroup inputs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Resources {
    /// `requests.cpu` in millicores: cpu shares (v1) or weight (v2).
    pub cpu_request_millis: Option<u64>,
    /// `limits.cpu` in millicores: CFS quota over a 100 ms period.
    pub cpu_limit_millis: Option<u64>,
    /// `limits.memory` in bytes.
    pub memory_limit_bytes: Option<u64>,
    /// Maximum number of processes (kubelet's `podPidsLimit`).
    pub pids_limit: Option<i64>,
}

/// The container's `securityContext`, merged with the pod's by the caller.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SecurityContext {
    pub run_as_user: Option<u32>,
    pub run_as_group: Option<u32>,
    pub supplemental_groups: Vec<u32>,
    pub privileged: bool,
    pub read_only_root_filesystem: bool,
    /// `None` is Kubernetes' default (allowed, so no `no_new_privs`).
    pub allow_privilege_escalation: Option<bool>,
    /// Capability names with or without `CAP_`, or `ALL`.
    pub capabilities_add: Vec<String>,
    pub capabilities_drop: Vec<String>,
}

/// A volume mount resolved to a host path.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VolumeMount {
    pub host_path: PathBuf,
    pub container_path: String,
    pub read_only: bool,
}

impl SandboxConfig {
    /// `<namespace>_<name>_<uid>`: the pod's log directory name, as the kubelet names it.
    pub fn log_directory_name(&self) -> String {
        format!("{}_{}_{}", self.namespace, self.name, self.uid)
    }
}

impl ContainerConfig {
    /// The runtime's id of this container: its name and attempt (unique within the pod).
    pub fn id(&self) -> String {
        format!("{}.{}", self.name, self.attempt)
    }
}
