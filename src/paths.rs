//! Every on-disk location kedge uses, derived in one place from `--data-dir`, so that tests
//! can run whole clusters in temporary directories.
//!
//! ```text
//! <data-dir>/server/db/state.db     datastore (SQLite, WAL)
//! <data-dir>/server/tls/            cluster CA, serving and client certificates
//! <data-dir>/server/token           the join token
//! <data-dir>/server/manifests/      auto-deployed manifests
//! <data-dir>/agent/images/          air-gap image archives to import
//! <data-dir>/agent/                 image content store, snapshots, pod state (pods/)
//! <data-dir>/agent/kubelet/pods/    pod volumes
//! /run/kedge/                       runtime state: shim sockets, network namespaces (a tmpfs)
//! /var/log/pods/                    container logs
//! ```

use std::path::{Path, PathBuf};

/// The default `--data-dir`.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/kedge";

/// The locations under one data directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn server(&self) -> PathBuf {
        self.root.join("server")
    }

    /// The embedded SQLite datastore.
    pub fn datastore(&self) -> PathBuf {
        self.server().join("db").join("state.db")
    }

    pub fn tls(&self) -> PathBuf {
        self.server().join("tls")
    }

    pub fn token(&self) -> PathBuf {
        self.server().join("token")
    }

    pub fn manifests(&self) -> PathBuf {
        self.server().join("manifests")
    }

    pub fn agent(&self) -> PathBuf {
        self.root.join("agent")
    }

    /// The kubelet's pod directories (volumes): `agent/kubelet/pods/<uid>/`.
    pub fn kubelet_pods(&self) -> PathBuf {
        self.agent().join("kubelet").join("pods")
    }

    /// The pod network's state (the IP allocations).
    pub fn agent_network(&self) -> PathBuf {
        self.agent().join("network")
    }

    /// Air-gap image archives, imported at start and whenever one appears.
    pub fn agent_images(&self) -> PathBuf {
        self.agent().join("images")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_k3s() {
        let dir = DataDir::new("/var/lib/kedge");
        assert_eq!(
            dir.datastore(),
            Path::new("/var/lib/kedge/server/db/state.db")
        );
        assert_eq!(dir.tls(), Path::new("/var/lib/kedge/server/tls"));
        assert_eq!(dir.agent_images(), Path::new("/var/lib/kedge/agent/images"));
    }
}
