//! A read-only view of a machine's `/proc`, `/sys`, `/boot` and `/lib/modules` under a root
//! directory (`/` for this machine), and what it says about the running kernel: its release,
//! its configuration, and which features are loaded, built in or loadable as modules.
//!
//! Reading through a root lets unit tests describe a host as a tree of small files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The files of one machine, read below `root`.
#[derive(Clone, Debug)]
pub struct HostRoot {
    root: PathBuf,
}

impl HostRoot {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        HostRoot { root: root.into() }
    }

    /// Where the host's absolute path `abs` is under the root.
    pub fn path(&self, abs: &str) -> PathBuf {
        self.root.join(abs.trim_start_matches('/'))
    }

    /// The file's text, or `None` when it cannot be read.
    pub fn read(&self, abs: &str) -> Option<String> {
        std::fs::read_to_string(self.path(abs)).ok()
    }

    pub fn exists(&self, abs: &str) -> bool {
        self.path(abs).exists()
    }

    /// The names in a directory, sorted; empty when it cannot be read.
    pub fn list(&self, abs: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path(abs))
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// A gzip-compressed file's text (`/proc/config.gz`), through the system's `gzip`.
    fn read_gzip(&self, abs: &str) -> Option<String> {
        let path = self.path(abs);
        if !path.is_file() {
            return None;
        }
        let output = std::process::Command::new("gzip")
            .arg("-dc")
            .arg(&path)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

/// Whether the kernel has a feature, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Availability {
    /// In use now: a loaded module, or a built-in one that shows in `/sys/module`.
    Loaded,
    /// Compiled into the kernel.
    BuiltIn,
    /// A module that `modprobe` can load.
    Loadable,
    /// The kernel configuration or module list shows the kernel lacks it.
    Absent,
    /// Neither a kernel configuration nor a module list could be read.
    Unknown,
}

impl Availability {
    pub fn is_available(self) -> bool {
        matches!(
            self,
            Availability::Loaded | Availability::BuiltIn | Availability::Loadable
        )
    }
}

/// What the host's files say about the running kernel.
#[derive(Clone, Debug, Default)]
pub struct Kernel {
    /// `uname -r`.
    pub release: Option<String>,
    /// Where the configuration was read from, when it was.
    pub config_source: Option<String>,
    /// `CONFIG_*` options set to `y` or `m`, by name without the prefix.
    config: Option<BTreeMap<String, String>>,
    /// Modules loaded now (`/proc/modules`, `/sys/module`), with `-` written `_`.
    loaded: BTreeSet<String>,
    /// Modules built in (`modules.builtin`).
    builtin: Option<BTreeSet<String>>,
    /// Modules installed for this kernel (`modules.dep`).
    loadable: Option<BTreeSet<String>>,
}

impl Kernel {
    /// Reads the kernel's release, configuration (`/proc/config.gz`, else
    /// `/boot/config-<release>`) and module lists.
    pub fn read(host: &HostRoot) -> Self {
        let release = host
            .read("/proc/sys/kernel/osrelease")
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty());
        let mut kernel = Kernel {
            release: release.clone(),
            ..Kernel::default()
        };
        let mut sources = vec!["/proc/config.gz".to_string()];
        if let Some(release) = &release {
            sources.push(format!("/boot/config-{release}"));
        }
        for source in sources {
            let text = if source.ends_with(".gz") {
                host.read_gzip(&source)
            } else {
                host.read(&source)
            };
            if let Some(text) = text {
                kernel.config = Some(parse_config(&text));
                kernel.config_source = Some(source);
                break;
            }
        }
        if let Some(modules) = host.read("/proc/modules") {
            kernel.loaded.extend(
                modules
                    .lines()
                    .filter_map(|l| l.split_whitespace().next())
                    .map(module_name),
            );
        }
        kernel
            .loaded
            .extend(host.list("/sys/module").iter().map(|m| module_name(m)));
        if let Some(release) = &release {
            let dir = format!("/lib/modules/{release}");
            kernel.builtin = host
                .read(&format!("{dir}/modules.builtin"))
                .map(|t| module_files(&t));
            kernel.loadable = host
                .read(&format!("{dir}/modules.dep"))
                .map(|t| module_files(&t));
        }
        kernel
    }

    /// Whether the kernel has the feature that `module` provides when built as a module and
    /// `CONFIG_<config>` enables.
    pub fn feature(&self, module: &str, config: &str) -> Availability {
        let module = module_name(module);
        if self.loaded.contains(&module) {
            return Availability::Loaded;
        }
        if let Some(value) = self.config.as_ref().and_then(|c| c.get(config)) {
            return if value == "y" {
                Availability::BuiltIn
            } else {
                Availability::Loadable
            };
        }
        if self.builtin.as_ref().is_some_and(|b| b.contains(&module)) {
            return Availability::BuiltIn;
        }
        if self.loadable.as_ref().is_some_and(|l| l.contains(&module)) {
            return Availability::Loadable;
        }
        if self.config.is_some() || self.builtin.is_some() || self.loadable.is_some() {
            Availability::Absent
        } else {
            Availability::Unknown
        }
    }
}

/// `CONFIG_X=y` / `CONFIG_X=m` lines, keyed by `X`.
fn parse_config(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("CONFIG_"))
        .filter_map(|line| line.split_once('='))
        .filter(|(_, value)| *value == "y" || *value == "m")
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

/// Module names from lines naming module files (`kernel/net/bridge/bridge.ko.xz: deps`).
fn module_files(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| line.split(':').next())
        .filter_map(|path| Path::new(path.trim()).file_name())
        .filter_map(|name| name.to_str())
        .filter_map(|name| name.split(".ko").next())
        .filter(|name| !name.is_empty())
        .map(module_name)
        .collect()
}

/// The kernel treats `-` and `_` in module names alike; `/sys/module` uses `_`.
fn module_name(name: &str) -> String {
    name.replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, abs: &str, text: &str) {
        let path = root.join(abs.trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn config_decides_built_in_or_module() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "/proc/sys/kernel/osrelease", "6.1.0-test\n");
        write(
            dir.path(),
            "/boot/config-6.1.0-test",
            "CONFIG_BRIDGE=m\nCONFIG_VETH=y\n# CONFIG_VXLAN is not set\n",
        );
        write(dir.path(), "/proc/modules", "overlay 151552 0 - Live 0x0\n");
        let kernel = Kernel::read(&HostRoot::new(dir.path()));
        assert_eq!(kernel.release.as_deref(), Some("6.1.0-test"));
        assert_eq!(
            kernel.config_source.as_deref(),
            Some("/boot/config-6.1.0-test")
        );
        assert_eq!(
            kernel.feature("overlay", "OVERLAY_FS"),
            Availability::Loaded
        );
        assert_eq!(kernel.feature("bridge", "BRIDGE"), Availability::Loadable);
        assert_eq!(kernel.feature("veth", "VETH"), Availability::BuiltIn);
        assert_eq!(kernel.feature("vxlan", "VXLAN"), Availability::Absent);
    }

    #[test]
    fn module_lists_stand_in_for_a_missing_config() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "/proc/sys/kernel/osrelease",
            "6.6.31+rpt-rpi-v8\n",
        );
        write(
            dir.path(),
            "/lib/modules/6.6.31+rpt-rpi-v8/modules.builtin",
            "kernel/fs/overlayfs/overlay.ko\n",
        );
        write(
            dir.path(),
            "/lib/modules/6.6.31+rpt-rpi-v8/modules.dep",
            "kernel/net/bridge/br_netfilter.ko.xz: kernel/net/bridge/bridge.ko.xz\nkernel/net/bridge/bridge.ko.xz:\n",
        );
        std::fs::create_dir_all(dir.path().join("sys/module/nf-tables")).unwrap();
        let kernel = Kernel::read(&HostRoot::new(dir.path()));
        assert_eq!(
            kernel.feature("overlay", "OVERLAY_FS"),
            Availability::BuiltIn
        );
        assert_eq!(
            kernel.feature("br_netfilter", "BRIDGE_NETFILTER"),
            Availability::Loadable
        );
        assert_eq!(
            kernel.feature("nf_tables", "NF_TABLES"),
            Availability::Loaded
        );
        assert_eq!(kernel.feature("vxlan", "VXLAN"), Availability::Absent);
    }

    #[test]
    fn nothing_to_read_is_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let kernel = Kernel::read(&HostRoot::new(dir.path()));
        assert_eq!(kernel.feature("vxlan", "VXLAN"), Availability::Unknown);
        assert!(!Availability::Unknown.is_available());
    }
}
