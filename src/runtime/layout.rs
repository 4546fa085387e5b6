//! Where the runtime keeps things, derived in one place (roots are configurable so tests run
//! in temporary directories):
//!
//! ```text
//! <run>/shims/<uid>.sock                  the pod's shim socket
//! <run>/netns/<uid>                       the pod's network namespace (bind-mounted nsfs)
//! <run>/pods/<uid>/ns/{ipc,uts}           its IPC and UTS namespaces
//! <run>/pods/<uid>/shm/                   its /dev/shm (tmpfs)
//! <run>/pods/<uid>/lc/                    libcontainer's state
//! <state>/<uid>/sandbox.json              the SandboxConfig the shim was started with
//! <state>/<uid>/shim.json                 the shim's pid, start time and boot id
//! <state>/<uid>/shim.log                  the shim's own log
//! <state>/<uid>/{hosts,resolv.conf,hostname}
//! <state>/<uid>/containers/<id>/          config.json (the OCI bundle), status.json,
//!                                         rootfs/ (overlay), upper/, work/
//! <logs>/<ns>_<pod>_<uid>/<name>/<attempt>.log
//! ```
//! `<run>` (`/run/kedge`) is a tmpfs and goes away at a reboot; `<state>`
//! (`<data-dir>/agent/pods`) stays, which is how containers are reported exited after one.

use std::path::PathBuf;

use crate::runtime::config::{ContainerConfig, SandboxConfig};

/// The runtime's roots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeDirs {
    /// Runtime state that dies with the host: `/run/kedge`.
    pub run: PathBuf,
    /// Pod state that survives reboots: `<data-dir>/agent/pods`.
    pub state: PathBuf,
    /// Container logs: `/var/log/pods`.
    pub logs: PathBuf,
    /// The absolute cgroup pods are created under, `/kedge`.
    pub cgroup_parent: String,
    /// The `kedge` executable shims are started from.
    pub shim_binary: PathBuf,
}

impl RuntimeDirs {
    /// The production layout for a data directory.
    pub fn for_data_dir(data_dir: &crate::paths::DataDir, shim_binary: PathBuf) -> Self {
        RuntimeDirs {
            run: PathBuf::from("/run/kedge"),
            state: data_dir.agent().join("pods"),
            logs: PathBuf::from("/var/log/pods"),
            cgroup_parent: "/kedge".into(),
            shim_binary,
        }
    }

    pub fn shim_socket(&self, uid: &str) -> PathBuf {
        self.run.join("shims").join(format!("{uid}.sock"))
    }

    pub fn net_namespace(&self, uid: &str) -> PathBuf {
        self.run.join("netns").join(uid)
    }

    pub fn pod_run_dir(&self, uid: &str) -> PathBuf {
        self.run.join("pods").join(uid)
    }

    pub fn libcontainer_root(&self, uid: &str) -> PathBuf {
        self.pod_run_dir(uid).join("lc")
    }

    pub fn pod_state_dir(&self, uid: &str) -> PathBuf {
        self.state.join(uid)
    }

    pub fn sandbox_file(&self, uid: &str) -> PathBuf {
        self.pod_state_dir(uid).join("sandbox.json")
    }

    pub fn shim_file(&self, uid: &str) -> PathBuf {
        self.pod_state_dir(uid).join("shim.json")
    }

    pub fn container_dir(&self, uid: &str, id: &str) -> PathBuf {
        self.pod_state_dir(uid).join("containers").join(id)
    }

    pub fn pod_log_dir(&self, sandbox: &SandboxConfig) -> PathBuf {
        self.logs.join(sandbox.log_directory_name())
    }

    pub fn container_log(&self, sandbox: &SandboxConfig, container: &ContainerConfig) -> PathBuf {
        self.pod_log_dir(sandbox)
            .join(&container.name)
            .join(format!("{}.log", container.attempt))
    }
}
