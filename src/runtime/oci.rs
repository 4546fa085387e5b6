//! The OCI runtime spec of a container, generated from its [`ContainerConfig`], its pod's
//! [`SandboxConfig`] and what the shim prepared (rootfs, namespaces, pod files, cgroup).
//!
//! The defaults follow containerd's CRI plugin, so images behave as under containerd: its
//! default capability set, masked and read-only paths, `/dev`, `/dev/pts`, `/dev/mqueue`,
//! `/sys` and `/sys/fs/cgroup` mounts, the pod's `/dev/shm`, `/etc/hosts`, `/etc/resolv.conf`
//! and `/etc/hostname` bind mounts, and a deny-all device cgroup (libcgroups adds the standard
//! allowed devices). The spec is written as the OCI JSON document and then checked by
//! deserializing it into `oci_spec::runtime::Spec`, so it reads like the `config.json` it
//! becomes and the types still catch mistakes.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use serde_json::{Value, json};

use crate::runtime::cgroups::{CgroupVersion, oci_resources};
use crate::runtime::config::{ContainerConfig, SandboxConfig};
use crate::runtime::users::ResolvedUser;

/// The PATH a container gets when neither the image nor the pod sets one.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// containerd's (and Docker's) default capabilities.
pub const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability the kernel defines (through `CAP_CHECKPOINT_RESTORE`, Linux 5.9).
pub const ALL_CAPABILITIES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// containerd's default masked paths.
pub const MASKED_PATHS: [&str; 11] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// containerd's default read-only paths.
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The pod-level namespaces a container joins; `None` for a kind means a new namespace of its
/// own (pid) or the host's (net, ipc, uts when the pod uses the host's).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SandboxNamespaces {
    pub net: Option<PathBuf>,
    pub ipc: Option<PathBuf>,
    pub uts: Option<PathBuf>,
    /// The shared PID namespace (`shareProcessNamespace`).
    pub pid: Option<PathBuf>,
}

/// The pod's files every container mounts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SandboxFiles {
    pub hosts: PathBuf,
    pub resolv_conf: PathBuf,
    pub hostname: PathBuf,
    /// The pod's `/dev/shm` (a tmpfs), or `None` for the host IPC namespace's.
    pub shm: Option<PathBuf>,
}

/// Everything the spec is made from.
#[derive(Clone, Copy, Debug)]
pub struct SpecInputs<'a> {
    pub sandbox: &'a SandboxConfig,
    pub container: &'a ContainerConfig,
    /// The mounted overlay (absolute).
    pub rootfs: &'a Path,
    pub user: &'a ResolvedUser,
    pub namespaces: &'a SandboxNamespaces,
    pub files: &'a SandboxFiles,
    /// The container's absolute cgroup.
    pub cgroups_path: &'a str,
    pub cgroup_version: CgroupVersion,
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("container {0} has no command: neither the pod nor the image gives one")]
    NoCommand(String),
    #[error("unknown capability {0}")]
    UnknownCapability(String),
    #[error("the generated OCI spec is not valid: {0}")]
    Invalid(#[from] serde_json::Error),
}

/// The command line by Kubernetes' rules: `command` replaces the entrypoint (and drops the
/// image's cmd), `args` replaces the cmd.
pub fn command_line(container: &ContainerConfig) -> Vec<String> {
    let (entrypoint, cmd) = if !container.command.is_empty() {
        (&container.command, &container.args)
    } else if !container.args.is_empty() {
        (&container.image.entrypoint, &container.args)
    } else {
        (&container.image.entrypoint, &container.image.cmd)
    };
    entrypoint.iter().chain(cmd).cloned().collect()
}

/// The environment: the image's, then the container's (a name set again replaces the earlier
/// value in place), plus `PATH`, `HOSTNAME` and, with a tty, `TERM` when missing.
pub fn environment(sandbox: &SandboxConfig, container: &ContainerConfig) -> Vec<String> {
    let mut env: Vec<(String, String)> = Vec::new();
    let mut set = |name: &str, value: &str| match env.iter_mut().find(|(n, _)| n == name) {
        Some(entry) => entry.1 = value.to_string(),
        None => env.push((name.to_string(), value.to_string())),
    };
    for entry in &container.image.env {
        let (name, value) = entry.split_once('=').unwrap_or((entry, ""));
        set(name, value);
    }
    for var in &container.env {
        set(&var.name, &var.value);
    }
    let has = |env: &[(String, String)], name: &str| env.iter().any(|(n, _)| n == name);
    if !has(&env, "PATH") {
        env.insert(0, ("PATH".into(), DEFAULT_PATH.into()));
    }
    if !has(&env, "HOSTNAME") {
        env.push(("HOSTNAME".into(), sandbox.hostname.clone()));
    }
    if container.tty && !has(&env, "TERM") {
        env.push(("TERM".into(), "xterm".into()));
    }
    env.into_iter().map(|(n, v)| format!("{n}={v}")).collect()
}

fn normalize_capability(name: &str) -> Result<String, SpecError> {
    let upper = name.trim().to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    if ALL_CAPABILITIES.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(SpecError::UnknownCapability(name.to_string()))
    }
}

/// The container's capabilities: containerd's defaults, `add` (`ALL` for every one), then
/// `drop` (`ALL` keeps only what `add` names explicitly); every one for privileged containers.
///
/// # Errors
/// A capability name the kernel does not know.
pub fn capabilities(container: &ContainerConfig) -> Result<Vec<String>, SpecError> {
    let security = &container.security;
    if security.privileged {
        return Ok(ALL_CAPABILITIES.iter().map(|c| c.to_string()).collect());
    }
    let is_all = |c: &String| c.eq_ignore_ascii_case("ALL");
    let added: Vec<String> = security
        .capabilities_add
        .iter()
        .filter(|c| !is_all(c))
        .map(|c| normalize_capability(c))
        .collect::<Result<_, _>>()?;
    let dropped: Vec<String> = security
        .capabilities_drop
        .iter()
        .filter(|c| !is_all(c))
        .map(|c| normalize_capability(c))
        .collect::<Result<_, _>>()?;
    let mut caps: Vec<String> = if security.capabilities_add.iter().any(is_all) {
        ALL_CAPABILITIES.iter().map(|c| c.to_string()).collect()
    } else {
        DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect()
    };
    if security.capabilities_drop.iter().any(is_all) {
        caps.clear();
    } else {
        caps.retain(|c| !dropped.contains(c));
    }
    for cap in added {
        if !caps.contains(&cap) {
            caps.push(cap);
        }
    }
    Ok(caps)
}

fn bind(destination: &str, source: &Path, read_only: bool) -> Value {
    let mut options = vec!["rbind", "rprivate"];
    options.push(if read_only { "ro" } else { "rw" });
    json!({ "destination": destination, "type": "bind", "source": source, "options": options })
}

fn mounts(inputs: &SpecInputs<'_>) -> Vec<Value> {
    let SpecInputs {
        container, files, ..
    } = inputs;
    let privileged = container.security.privileged;
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", if privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", if privileged { "rw" } else { "ro" }]}),
    ];
    match &files.shm {
        Some(shm) => mounts.push(bind("/dev/shm", shm, false)),
        None => mounts.push(json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]})),
    }
    let read_only = container.security.read_only_root_filesystem;
    let volume_at = |path: &str| container.mounts.iter().any(|m| m.container_path == path);
    for (destination, source) in [
        ("/etc/hosts", &files.hosts),
        ("/etc/resolv.conf", &files.resolv_conf),
        ("/etc/hostname", &files.hostname),
    ] {
        if !volume_at(destination) {
            mounts.push(bind(destination, source, read_only));
        }
    }
    for volume in &container.mounts {
        mounts.push(bind(
            &volume.container_path,
            &volume.host_path,
            volume.read_only,
        ));
    }
    mounts
}

fn namespaces(inputs: &SpecInputs<'_>) -> Vec<Value> {
    let ns = inputs.namespaces;
    let mut list = vec![json!({"type": "mount"})];
    match &ns.pid {
        Some(path) => list.push(json!({"type": "pid", "path": path})),
        None if inputs.sandbox.host_pid => {}
        None => list.push(json!({"type": "pid"})),
    }
    for (kind, path) in [("network", &ns.net), ("ipc", &ns.ipc), ("uts", &ns.uts)] {
        if let Some(path) = path {
            list.push(json!({"type": kind, "path": path}));
        }
    }
    if inputs.cgroup_version == CgroupVersion::V2 {
        list.push(json!({"type": "cgroup"}));
    }
    list
}

/// The OCI spec of a container.
///
/// # Errors
/// No command, an unknown capability, or a document the OCI types reject.
pub fn container_spec(inputs: &SpecInputs<'_>) -> Result<Spec, SpecError> {
    let SpecInputs {
        sandbox,
        container,
        rootfs,
        user,
        cgroups_path,
        ..
    } = *inputs;
    let args = command_line(container);
    if args.is_empty() {
        return Err(SpecError::NoCommand(container.name.clone()));
    }
    let caps = capabilities(container)?;
    let privileged = container.security.privileged;
    let no_new_privileges =
        !privileged && container.security.allow_privilege_escalation == Some(false);
    let cwd = container
        .working_dir
        .clone()
        .or_else(|| container.image.working_dir.clone())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/".to_string());
    let mut resources = oci_resources(&container.resources);
    resources["devices"] = if privileged {
        json!([{"allow": true, "access": "rwm"}])
    } else {
        json!([{"allow": false, "access": "rwm"}])
    };
    let mut linux = json!({
        "namespaces": namespaces(inputs),
        "cgroupsPath": cgroups_path,
        "resources": resources,
        "sysctl": sandbox.sysctls,
    });
    if !privileged {
        linux["maskedPaths"] = json!(MASKED_PATHS);
        linux["readonlyPaths"] = json!(READONLY_PATHS);
    }
    let mut document = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": container.tty,
            "user": {
                "uid": user.uid,
                "gid": user.gid,
                "additionalGids": user.additional_gids,
            },
            "args": args,
            "env": environment(sandbox, container),
            "cwd": cwd,
            "capabilities": {
                "bounding": caps,
                "effective": caps,
                "permitted": caps,
            },
            "noNewPrivileges": no_new_privileges,
            "oomScoreAdj": container.oom_score_adj.unwrap_or(0),
        },
        "root": { "path": rootfs, "readonly": container.security.read_only_root_filesystem },
        "mounts": mounts(inputs),
        "linux": linux,
    });
    // The hostname can only be set in a UTS namespace of the pod's own: a pod on the host's
    // network shares the host's (and its name), and libcontainer refuses to set one there.
    if inputs.namespaces.uts.is_some() {
        document["hostname"] = json!(sandbox.hostname);
    }
    Ok(serde_json::from_value(document)?)
}

#[cfg(test)]
mod tests {
    use oci_spec::runtime::LinuxNamespaceType;

    use super::*;
    use crate::runtime::config::{EnvVar, ImageConfig, SecurityContext, VolumeMount};

    fn sandbox() -> SandboxConfig {
        SandboxConfig {
            uid: "u1".into(),
            namespace: "default".into(),
            name: "web".into(),
            hostname: "web".into(),
            sysctls: [(
                "net.ipv4.ip_unprivileged_port_start".to_string(),
                "0".to_string(),
            )]
            .into(),
            ..Default::default()
        }
    }

    fn container() -> ContainerConfig {
        ContainerConfig {
            name: "app".into(),
            image: ImageConfig {
                entrypoint: vec!["/bin/server".into()],
                cmd: vec!["--port".into(), "80".into()],
                env: vec!["PATH=/opt/bin".into(), "MODE=image".into()],
                working_dir: Some("/srv".into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn spec_of(sandbox: &SandboxConfig, container: &ContainerConfig) -> Spec {
        let user = ResolvedUser {
            uid: 1000,
            gid: 1000,
            additional_gids: vec![1000, 29],
            name: None,
        };
        let namespaces = SandboxNamespaces {
            net: Some("/run/kedge/netns/u1".into()),
            ipc: Some("/p/ns/ipc".into()),
            uts: Some("/p/ns/uts".into()),
            pid: None,
        };
        let files = SandboxFiles {
            hosts: "/p/hosts".into(),
            resolv_conf: "/p/resolv.conf".into(),
            hostname: "/p/hostname".into(),
            shm: Some("/p/shm".into()),
        };
        container_spec(&SpecInputs {
            sandbox,
            container,
            rootfs: Path::new("/p/c/rootfs"),
            user: &user,
            namespaces: &namespaces,
            files: &files,
            cgroups_path: "/kedge/podu1/app.0",
            cgroup_version: CgroupVersion::V1,
        })
        .unwrap()
    }

    #[test]
    fn host_network_pods_keep_the_hosts_name() {
        let sandbox = sandbox();
        let container = ContainerConfig {
            name: "app".into(),
            command: vec!["/bin/true".into()],
            ..Default::default()
        };
        let user = ResolvedUser {
            uid: 0,
            gid: 0,
            additional_gids: vec![],
            name: None,
        };
        let spec = container_spec(&SpecInputs {
            sandbox: &sandbox,
            container: &container,
            rootfs: Path::new("/p/c/rootfs"),
            user: &user,
            namespaces: &SandboxNamespaces::default(),
            files: &SandboxFiles::default(),
            cgroups_path: "/kedge/podu1/app.0",
            cgroup_version: CgroupVersion::V1,
        })
        .unwrap();
        assert_eq!(spec.hostname(), &None);
    }

    #[test]
    fn kubernetes_command_rules() {
        let mut c = container();
        assert_eq!(command_line(&c), ["/bin/server", "--port", "80"]);
        c.args = vec!["-v".into()];
        assert_eq!(command_line(&c), ["/bin/server", "-v"]);
        c.command = vec!["/bin/sh".into()];
        assert_eq!(command_line(&c), ["/bin/sh", "-v"]);
        c.args.clear();
        assert_eq!(command_line(&c), ["/bin/sh"]);
    }

    #[test]
    fn environment_merges_image_and_pod() {
        let mut c = container();
        c.env = vec![EnvVar {
            name: "MODE".into(),
            value: "pod".into(),
        }];
        c.tty = true;
        assert_eq!(
            environment(&sandbox(), &c),
            ["PATH=/opt/bin", "MODE=pod", "HOSTNAME=web", "TERM=xterm"]
        );
        c.image.env.clear();
        assert_eq!(
            environment(&sandbox(), &c)[0],
            format!("PATH={DEFAULT_PATH}")
        );
    }

    #[test]
    fn capabilities_add_and_drop() {
        let mut c = container();
        assert_eq!(capabilities(&c).unwrap().len(), 14);
        c.security.capabilities_drop = vec!["ALL".into()];
        c.security.capabilities_add = vec!["net_bind_service".into()];
        assert_eq!(capabilities(&c).unwrap(), ["CAP_NET_BIND_SERVICE"]);
        c.security.capabilities_drop = vec!["NET_RAW".into()];
        c.security.capabilities_add = vec!["SYS_ADMIN".into()];
        let caps = capabilities(&c).unwrap();
        assert!(!caps.contains(&"CAP_NET_RAW".to_string()));
        assert!(caps.contains(&"CAP_SYS_ADMIN".to_string()));
        c.security.capabilities_add = vec!["ALL".into()];
        c.security.capabilities_drop.clear();
        assert_eq!(capabilities(&c).unwrap().len(), ALL_CAPABILITIES.len());
        c.security.capabilities_add = vec!["CAP_TELEPATHY".into()];
        assert!(matches!(
            capabilities(&c),
            Err(SpecError::UnknownCapability(_))
        ));
    }

    #[test]
    fn a_default_container_spec() {
        let spec = spec_of(&sandbox(), &container());
        let process = spec.process().as_ref().unwrap();
        assert_eq!(
            process.args().as_ref().unwrap(),
            &["/bin/server", "--port", "80"]
        );
        assert_eq!(process.cwd(), Path::new("/srv"));
        assert_eq!(process.user().uid(), 1000);
        assert_eq!(
            process.user().additional_gids().as_ref().unwrap(),
            &[1000, 29]
        );
        assert_eq!(process.no_new_privileges(), Some(false));
        assert_eq!(spec.hostname().as_deref(), Some("web"));
        let linux = spec.linux().as_ref().unwrap();
        assert_eq!(
            linux.cgroups_path().as_deref(),
            Some(Path::new("/kedge/podu1/app.0"))
        );
        assert_eq!(
            linux.masked_paths().as_ref().unwrap().len(),
            MASKED_PATHS.len()
        );
        assert_eq!(
            linux.readonly_paths().as_ref().unwrap().len(),
            READONLY_PATHS.len()
        );
        assert_eq!(
            linux
                .sysctl()
                .as_ref()
                .unwrap()
                .get("net.ipv4.ip_unprivileged_port_start")
                .map(String::as_str),
            Some("0")
        );
        let namespaces = linux.namespaces().as_ref().unwrap();
        let net = namespaces
            .iter()
            .find(|n| n.typ() == LinuxNamespaceType::Network)
            .unwrap();
        assert_eq!(
            net.path().as_deref(),
            Some(Path::new("/run/kedge/netns/u1"))
        );
        let pid = namespaces
            .iter()
            .find(|n| n.typ() == LinuxNamespaceType::Pid)
            .unwrap();
        assert_eq!(pid.path(), &None);
        let mounts = spec.mounts().as_ref().unwrap();
        let hosts = mounts
            .iter()
            .find(|m| m.destination() == Path::new("/etc/hosts"))
            .unwrap();
        assert_eq!(hosts.source().as_deref(), Some(Path::new("/p/hosts")));
        assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(false));
    }

    #[test]
    fn security_settings_reach_the_spec() {
        let mut c = container();
        c.security = SecurityContext {
            read_only_root_filesystem: true,
            allow_privilege_escalation: Some(false),
            ..Default::default()
        };
        c.mounts = vec![VolumeMount {
            host_path: "/var/lib/kedge/agent/pods/u1/volumes/data".into(),
            container_path: "/data".into(),
            read_only: true,
        }];
        let spec = spec_of(&sandbox(), &c);
        assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(true));
        assert_eq!(
            spec.process().as_ref().unwrap().no_new_privileges(),
            Some(true)
        );
        let data = spec
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.destination() == Path::new("/data"))
            .unwrap();
        assert!(data.options().as_ref().unwrap().contains(&"ro".to_string()));

        c.security.privileged = true;
        let spec = spec_of(&sandbox(), &c);
        let linux = spec.linux().as_ref().unwrap();
        assert!(linux.masked_paths().is_none());
        let caps = spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .as_ref()
            .unwrap();
        assert_eq!(
            caps.bounding().as_ref().unwrap().len(),
            ALL_CAPABILITIES.len()
        );
        assert_eq!(
            spec.process().as_ref().unwrap().no_new_privileges(),
            Some(false)
        );
    }

    #[test]
    fn shared_and_host_namespaces() {
        let mut s = sandbox();
        s.host_pid = true;
        let spec = spec_of(&s, &container());
        let namespaces = spec.linux().as_ref().unwrap().namespaces().clone().unwrap();
        assert!(
            !namespaces
                .iter()
                .any(|n| n.typ() == LinuxNamespaceType::Pid)
        );
    }

    #[test]
    fn no_command_is_an_error() {
        let mut c = container();
        c.image.entrypoint.clear();
        c.image.cmd.clear();
        let user = ResolvedUser::default();
        let result = container_spec(&SpecInputs {
            sandbox: &sandbox(),
            container: &c,
            rootfs: Path::new("/r"),
            user: &user,
            namespaces: &SandboxNamespaces::default(),
            files: &SandboxFiles::default(),
            cgroups_path: "/k",
            cgroup_version: CgroupVersion::V2,
        });
        assert!(matches!(result, Err(SpecError::NoCommand(_))));
    }
}
