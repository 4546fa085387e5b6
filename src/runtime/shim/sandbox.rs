//! Setting up and tearing down a pod's sandbox: the namespaces every container joins (network,
//! IPC and UTS, each kept by a bind mount of its nsfs file, so no pause process is needed), the
//! shared PID namespace's init when the pod asks for one, `/dev/shm`, the `/etc/hosts`,
//! `/etc/resolv.conf` and `/etc/hostname` files, and the pod cgroup. Everything goes through
//! [`Kernel`]; teardown is also what the agent runs for a shim that died.

use std::io;
use std::path::{Path, PathBuf};

use crate::runtime::cgroups::CgroupLayout;
use crate::runtime::config::SandboxConfig;
use crate::runtime::kernel::{Kernel, NamespaceFiles};
use crate::runtime::layout::RuntimeDirs;
use crate::runtime::oci::{SandboxFiles, SandboxNamespaces};

/// The size of a pod's `/dev/shm` (containerd's default).
pub const SHM_OPTIONS: &str = "mode=1777,size=65536k";

/// The hosts file the kubelet writes when the pod gives none (the pod's IP line is added by
/// the caller once the network knows it).
pub const DEFAULT_HOSTS: &str = "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n";

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot create the sandbox directory {path}: {source}")]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("cannot write the pod file {path}: {source}")]
    WriteFile { path: PathBuf, source: io::Error },
    #[error("cannot create the pod's namespaces: {0}")]
    Namespaces(io::Error),
    #[error("cannot mount the pod's /dev/shm at {path}: {source}")]
    Shm { path: PathBuf, source: io::Error },
    #[error("cannot start the init of the pod's shared PID namespace: {0}")]
    PidNamespace(io::Error),
    #[error(
        "cannot create the pod cgroup: {0} (is the cgroup file system mounted at /sys/fs/cgroup? `kedge check-config` checks)"
    )]
    Cgroup(io::Error),
}

/// A set-up sandbox.
#[derive(Clone, Debug)]
pub struct Sandbox {
    pub config: SandboxConfig,
    pub namespaces: SandboxNamespaces,
    pub files: SandboxFiles,
    /// The init of the shared PID namespace.
    pub pid_holder: Option<i32>,
}

fn create_dir(path: &Path) -> Result<(), SandboxError> {
    std::fs::create_dir_all(path).map_err(|source| SandboxError::CreateDir {
        path: path.to_path_buf(),
        source,
    })
}

fn write_file(path: &Path, contents: &str) -> Result<(), SandboxError> {
    std::fs::write(path, contents).map_err(|source| SandboxError::WriteFile {
        path: path.to_path_buf(),
        source,
    })
}

/// Creates the sandbox of `config`.
///
/// # Errors
/// The first step that failed; what was done before it is left for [`tear_down`].
pub fn set_up(
    kernel: &dyn Kernel,
    dirs: &RuntimeDirs,
    cgroups: &CgroupLayout,
    config: SandboxConfig,
) -> Result<Sandbox, SandboxError> {
    let uid = config.uid.clone();
    let run = dirs.pod_run_dir(&uid);
    let state = dirs.pod_state_dir(&uid);
    for dir in [
        run.join("ns"),
        state.join("containers"),
        dirs.run.join("netns"),
        dirs.run.join("shims"),
    ] {
        create_dir(&dir)?;
    }

    let files = SandboxFiles {
        hosts: state.join("hosts"),
        resolv_conf: state.join("resolv.conf"),
        hostname: state.join("hostname"),
        shm: (!config.host_ipc).then(|| run.join("shm")),
    };
    write_file(
        &files.hosts,
        config.hosts_file.as_deref().unwrap_or(DEFAULT_HOSTS),
    )?;
    let resolv = match &config.resolv_conf {
        Some(contents) => contents.clone(),
        None => std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
    };
    write_file(&files.resolv_conf, &resolv)?;
    write_file(&files.hostname, &format!("{}\n", config.hostname))?;

    let ns_files = NamespaceFiles {
        net: (!config.host_network).then(|| dirs.net_namespace(&uid)),
        ipc: (!config.host_ipc).then(|| run.join("ns").join("ipc")),
        uts: (!config.host_network).then(|| run.join("ns").join("uts")),
        hostname: config.hostname.clone(),
    };
    kernel
        .create_namespaces(&ns_files)
        .map_err(SandboxError::Namespaces)?;
    if let Some(shm) = &files.shm {
        create_dir(shm)?;
        kernel
            .mount_tmpfs(shm, SHM_OPTIONS)
            .map_err(|source| SandboxError::Shm {
                path: shm.clone(),
                source,
            })?;
    }
    let mut namespaces = SandboxNamespaces {
        net: ns_files.net,
        ipc: ns_files.ipc,
        uts: ns_files.uts,
        pid: None,
    };
    let mut pid_holder = None;
    if config.share_process_namespace && !config.host_pid {
        let pid = kernel
            .start_pid_namespace_holder()
            .map_err(SandboxError::PidNamespace)?;
        pid_holder = Some(pid);
        namespaces.pid = Some(PathBuf::from(format!("/proc/{pid}/ns/pid")));
    }
    cgroups
        .create_pod(kernel, &uid, config.resources.as_ref())
        .map_err(SandboxError::Cgroup)?;
    Ok(Sandbox {
        config,
        namespaces,
        files,
        pid_holder,
    })
}

/// Removes everything of a sandbox but its state directory and logs: kills what is left in
/// its cgroups, unmounts container root filesystems, `/dev/shm` and the namespace files, and
/// removes the pod cgroup and the run directory. Safe to repeat; missing pieces are skipped.
///
/// # Errors
/// The first failure; the other steps are still tried.
pub fn tear_down(
    kernel: &dyn Kernel,
    dirs: &RuntimeDirs,
    cgroups: &CgroupLayout,
    uid: &str,
    pid_holder: Option<i32>,
) -> io::Result<()> {
    let mut result = Ok(());
    let mut note = |r: io::Result<()>| {
        if let Err(error) = r
            && result.is_ok()
        {
            result = Err(error);
        }
    };
    if let Some(pid) = pid_holder {
        note(kernel.kill(pid, libc::SIGKILL));
    }
    note(cgroups.kill_and_remove_pod(kernel, uid));
    let containers = dirs.pod_state_dir(uid).join("containers");
    if let Ok(entries) = std::fs::read_dir(&containers) {
        for entry in entries.flatten() {
            note(kernel.unmount(&entry.path().join("rootfs")));
        }
    }
    let run = dirs.pod_run_dir(uid);
    note(kernel.unmount(&run.join("shm")));
    for file in [
        dirs.net_namespace(uid),
        run.join("ns").join("ipc"),
        run.join("ns").join("uts"),
    ] {
        note(kernel.unmount(&file));
        let _ = std::fs::remove_file(&file);
    }
    let _ = std::fs::remove_file(dirs.shim_socket(uid));
    let _ = std::fs::remove_dir(run.join("shm"));
    let _ = std::fs::remove_dir_all(&run);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::cgroups::CgroupVersion;
    use crate::runtime::kernel::{Call, RecordingKernel};

    fn fixture() -> (tempfile::TempDir, RuntimeDirs, CgroupLayout) {
        let dir = tempfile::tempdir().unwrap();
        let dirs = RuntimeDirs {
            run: dir.path().join("run"),
            state: dir.path().join("state"),
            logs: dir.path().join("logs"),
            cgroup_parent: "/kedge".into(),
            shim_binary: "/bin/false".into(),
        };
        let cgroups = CgroupLayout {
            root: "/sys/fs/cgroup".into(),
            version: CgroupVersion::V2,
            parent: "/kedge".into(),
        };
        (dir, dirs, cgroups)
    }

    fn config() -> SandboxConfig {
        SandboxConfig {
            uid: "u1".into(),
            namespace: "default".into(),
            name: "web".into(),
            hostname: "web-0".into(),
            resolv_conf: Some("nameserver 10.43.0.10\n".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_pod_gets_its_namespaces_shm_files_and_cgroup() {
        let (_tmp, dirs, cgroups) = fixture();
        let kernel = RecordingKernel::new();
        let sandbox = set_up(&kernel, &dirs, &cgroups, config()).unwrap();
        let calls = kernel.calls();
        assert_eq!(
            calls[0],
            Call::CreateNamespaces(NamespaceFiles {
                net: Some(dirs.run.join("netns/u1")),
                ipc: Some(dirs.run.join("pods/u1/ns/ipc")),
                uts: Some(dirs.run.join("pods/u1/ns/uts")),
                hostname: "web-0".into(),
            })
        );
        assert_eq!(
            calls[1],
            Call::MountTmpfs {
                target: dirs.run.join("pods/u1/shm"),
                options: SHM_OPTIONS.into()
            }
        );
        assert!(calls.contains(&Call::CreateDir("/sys/fs/cgroup/kedge/podu1".into())));
        assert_eq!(sandbox.pid_holder, None);
        assert_eq!(
            std::fs::read_to_string(&sandbox.files.hostname).unwrap(),
            "web-0\n"
        );
        assert_eq!(
            std::fs::read_to_string(&sandbox.files.resolv_conf).unwrap(),
            "nameserver 10.43.0.10\n"
        );
        assert!(
            std::fs::read_to_string(&sandbox.files.hosts)
                .unwrap()
                .contains("127.0.0.1\tlocalhost")
        );
    }

    #[test]
    fn host_namespaces_and_a_shared_pid_namespace() {
        let (_tmp, dirs, cgroups) = fixture();
        let kernel = RecordingKernel::new();
        let mut config = config();
        config.host_network = true;
        config.share_process_namespace = true;
        let sandbox = set_up(&kernel, &dirs, &cgroups, config).unwrap();
        assert_eq!(sandbox.namespaces.net, None);
        assert_eq!(sandbox.namespaces.uts, None);
        assert!(sandbox.namespaces.ipc.is_some());
        assert_eq!(sandbox.pid_holder, Some(4242));
        assert_eq!(
            sandbox.namespaces.pid,
            Some(PathBuf::from("/proc/4242/ns/pid"))
        );
    }

    #[test]
    fn a_failed_step_is_reported_and_teardown_undoes_the_rest() {
        let (_tmp, dirs, cgroups) = fixture();
        let kernel = RecordingKernel::new();
        kernel.fail_on("MountTmpfs");
        let err = set_up(&kernel, &dirs, &cgroups, config()).unwrap_err();
        assert!(matches!(err, SandboxError::Shm { .. }), "{err}");
        let kernel = RecordingKernel::new();
        tear_down(&kernel, &dirs, &cgroups, "u1", Some(77)).unwrap();
        let calls = kernel.calls();
        assert_eq!(calls[0], Call::Kill { pid: 77, signal: 9 });
        assert!(calls.contains(&Call::Unmount(dirs.run.join("netns/u1"))));
        assert!(calls.contains(&Call::Unmount(dirs.run.join("pods/u1/shm"))));
        assert!(!dirs.pod_run_dir("u1").exists());
    }
}
