//! A `kedge server` that is also a node — its kubelet, pod network, service proxy and cluster
//! DNS — for the end-to-end tests that run real pods as root (tests/kubelet.rs, services.rs,
//! dns.rs, streaming.rs). The busybox test image from `scripts/build-test-image.sh` is placed
//! in its `agent/images/`. On drop the server stops, every pod sandbox it left is shut down
//! (by pid, through the runtime's recovery), and the pod network, the service proxy's
//! nftables table, the cluster DNS address and the pods' logs are removed, as
//! `kedge-killall.sh` would.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kedge::runtime::layout::RuntimeDirs;
use kedge::runtime::sandbox::{RecoveredSandbox, recover};

use super::{Cluster, Kubectl, Out, default_kubectl};

/// The service proxy's table.
pub const PROXY_TABLE: &str = "kedge-proxy";

/// Whether the tests may run pods: they need root; without it they skip, unless `CI` is set.
pub fn is_root(what: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        assert!(
            std::env::var_os("CI").is_none(),
            "the {what} tests need root in CI"
        );
        eprintln!("skipped: the {what} tests need root");
    }
    root
}

/// The busybox test image as a docker-save archive, built by `scripts/build-test-image.sh`.
pub fn test_image(dir: &Path) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-test-image.sh");
    let out = Command::new("bash").arg(script).arg(dir).output().unwrap();
    assert!(
        out.status.success(),
        "build-test-image.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("busybox-docker.tar")
}

/// `nft list table ip kedge-proxy`, or why not.
pub fn proxy_table() -> String {
    match Command::new("nft")
        .args(["list", "table", "ip", PROXY_TABLE])
        .output()
    {
        Ok(out) => format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => format!("cannot run nft: {e}"),
    }
}

pub struct Node {
    pub cluster: Cluster,
    /// The kubectl of [`Node::kubectl`] and friends.
    pub kubectl: Kubectl,
    /// Environment for the kubectls of [`Node::run`] (e.g. to force SPDY).
    pub env: &'static [(&'static str, &'static str)],
    _images: tempfile::TempDir,
}

impl Node {
    /// A server on the embedded defaults with the test image.
    pub fn start() -> Node {
        Node::start_with(&[])
    }

    /// A server with `extra` flags and the test image.
    pub fn start_with(extra: &[&str]) -> Node {
        let images = tempfile::tempdir().unwrap();
        let archive = test_image(images.path());
        Node {
            cluster: Cluster::start_with_agent(extra, &[&archive]),
            kubectl: default_kubectl(),
            env: &[],
            _images: images,
        }
    }

    /// A server with `extra` flags and the test image, whose data dir `prepare` sets up
    /// first (see [`Cluster::start_with_agent_prepared`]).
    pub fn start_prepared(extra: &[&str], prepare: impl FnOnce(&Path) -> Vec<PathBuf>) -> Node {
        let images = tempfile::tempdir().unwrap();
        let archive = test_image(images.path());
        Node {
            cluster: Cluster::start_with_agent_prepared(extra, &[&archive], prepare),
            kubectl: default_kubectl(),
            env: &[],
            _images: images,
        }
    }

    /// kubectl (the default one), which must succeed; its stdout.
    pub fn kubectl(&self, args: &[&str]) -> String {
        self.cluster.kubectl(&self.kubectl, args).ok().to_string()
    }

    /// `kubectl` with [`Node::env`] and optional stdin; its outcome.
    pub fn run(&self, kubectl: &Kubectl, args: &[&str], stdin: Option<&str>) -> Out {
        self.cluster.kubectl_with(kubectl, args, self.env, stdin)
    }

    /// kubectl (the default one), which must fail; its stderr.
    #[track_caller]
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.cluster.kubectl(&self.kubectl, args);
        assert_ne!(out.code, 0, "kubectl {args:?} succeeded: {}", out.stdout);
        out.stderr
    }

    pub fn apply(&self, manifest: &str) {
        self.cluster
            .kubectl_with(&self.kubectl, &["apply", "-f", "-"], &[], Some(manifest))
            .ok();
    }

    /// A JSONPath of one object; empty when it cannot be read.
    pub fn get(&self, what: &str, path: &str) -> String {
        let out = self.cluster.kubectl(
            &self.kubectl,
            &["get", what, "-o", &format!("jsonpath={path}")],
        );
        if out.code == 0 {
            out.stdout
        } else {
            String::new()
        }
    }

    /// Polls `check` until it gives a value; fails with `what`, the pods, the events and the
    /// service proxy's table.
    #[track_caller]
    pub fn wait<T>(&self, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(value) = check() {
                return value;
            }
            if Instant::now() > deadline {
                let pods = self
                    .cluster
                    .kubectl(&self.kubectl, &["get", "pods", "-o", "wide"]);
                let events = self.cluster.kubectl(&self.kubectl, &["get", "events"]);
                panic!(
                    "timed out waiting for {what}\n{}\n{}\n{}",
                    pods.stdout,
                    events.stdout,
                    proxy_table()
                );
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    pub fn runtime_dirs(&self) -> RuntimeDirs {
        RuntimeDirs::for_data_dir(
            &kedge::paths::DataDir::new(self.cluster.data_dir()),
            PathBuf::from(env!("CARGO_BIN_EXE_kedge")),
        )
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // Every pod the cluster knows (finished pods have no sandbox left), then the server.
        let known = self.cluster.kubectl(
            &self.kubectl,
            &[
                "get",
                "pods",
                "-A",
                "-o",
                "jsonpath={.items[*].metadata.uid}",
            ],
        );
        self.cluster.stop();
        let dirs = self.runtime_dirs();
        let mut uids: Vec<String> = known.stdout.split_whitespace().map(String::from).collect();
        uids.extend(
            std::fs::read_dir(&dirs.state)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned()),
        );
        for sandbox in recover(&dirs).unwrap_or_default() {
            match sandbox {
                RecoveredSandbox::Live(handle) => {
                    let _ = handle.shutdown(Duration::ZERO);
                }
                RecoveredSandbox::Dead(dead) => {
                    let _ = dead.clean_up(
                        &kedge::runtime::kernel::LinuxKernel,
                        &dirs,
                        &kedge::runtime::cgroups::CgroupLayout::host(&dirs.cgroup_parent),
                        true,
                    );
                }
            }
        }
        // The kubelet's volume mounts (the token's, secrets' and memory emptyDirs' tmpfs),
        // which outlive a stopped server with its pods as kedge-killall.sh's unmounting
        // expects; left mounted, the data dir could not be removed either.
        unmount_under(&self.cluster.data_dir());
        // The pod network's bridge and nftables table (the pods' veths went with them).
        let network = kedge::agent::network::NetworkConfig::new(
            "10.42.0.0/24".parse().unwrap(),
            "10.42.0.0/16".parse().unwrap(),
            self.cluster.data_dir().join("agent/network"),
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        if let Err(error) = runtime.block_on(kedge::agent::network::PodNetwork::teardown(&network))
        {
            eprintln!("cannot remove the pod network: {error}");
        }
        // The cluster DNS removes its address when it stops; this covers a server that died.
        let dns = std::net::Ipv4Addr::new(10, 43, 0, 10);
        if let Err(error) = runtime.block_on(kedge::agent::dns::link::remove(dns)) {
            eprintln!("cannot remove the cluster DNS link: {error}");
        }
        // The proxy leaves its table on a plain stop (pods keep their Services).
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", PROXY_TABLE])
            .status();
        for entry in std::fs::read_dir(&dirs.logs)
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if uids.iter().any(|uid| name.ends_with(&format!("_{uid}"))) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// Lazily unmounts everything mounted below `dir`, deepest first.
fn unmount_under(dir: &Path) {
    let Ok(table) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut targets: Vec<PathBuf> = table
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|target| PathBuf::from(target.replace("\\040", " ")))
        .filter(|target| target.starts_with(dir) && target != dir)
        .collect();
    targets.sort_by_key(|t| std::cmp::Reverse(t.components().count()));
    for target in targets {
        let _ = Command::new("umount").arg("-l").arg(&target).status();
    }
}
