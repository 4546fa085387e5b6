//! What whole-cluster tests share: a `kedge server` in a temporary directory on a free port,
//! and the real clients to drive it (every kubectl found on the machine, helm, Python);
//! [`fake_nodes`], [`node_sim`], [`policy_pods`] and [`fake_kubelet`]: nodes whose kubelet
//! the test plays; [`node`]: a server that is also a node running real pods, as root.
#![allow(dead_code)]

pub mod fake_kubelet;
pub mod fake_nodes;
pub mod node;
pub mod node_sim;
pub mod policy_pods;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// A kubectl binary and its minor version ("1.27").
#[derive(Clone, Debug)]
pub struct Kubectl {
    pub version: String,
    pub path: PathBuf,
}

/// Where `scripts/test-tools.sh` puts kubectl 1.35 and helm.
pub fn tools_dir() -> PathBuf {
    std::env::var_os("KEDGE_TEST_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/kedge-test-tools")
        })
}

fn in_ci() -> bool {
    std::env::var_os("CI").is_some()
}

/// Every kubectl on the machine: the `kubectl.1.*` beside `kubectl`, and kubectl 1.35 from
/// the test tools. In CI all of 1.27–1.33 and 1.35 must be present.
pub fn kubectls() -> Vec<Kubectl> {
    let mut found = Vec::new();
    let mut dirs = vec![tools_dir()];
    if let Ok(out) = Command::new("sh")
        .args(["-c", "readlink -f \"$(command -v kubectl)\""])
        .output()
    {
        let real = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if let Some(dir) = Path::new(&real).parent() {
            dirs.push(dir.to_path_buf());
        }
    }
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if let Some(version) = name.strip_prefix("kubectl.")
                && !found.iter().any(|k: &Kubectl| k.version == version)
            {
                found.push(Kubectl {
                    version: version.to_string(),
                    path: entry.path(),
                });
            }
        }
    }
    found.sort_by_key(|k| {
        k.version
            .split('.')
            .nth(1)
            .and_then(|m| m.parse::<u32>().ok())
            .unwrap_or(0)
    });
    if in_ci() {
        for minor in [27, 28, 29, 30, 31, 32, 33, 35] {
            assert!(
                found.iter().any(|k| k.version == format!("1.{minor}")),
                "kubectl 1.{minor} is missing (run scripts/test-tools.sh); found {found:?}"
            );
        }
    }
    assert!(!found.is_empty(), "no kubectl found");
    found
}

/// The kubectl that plain `kubectl` is (1.32 on these machines), or the newest found.
pub fn default_kubectl() -> Kubectl {
    let all = kubectls();
    all.iter()
        .find(|k| k.version == "1.32")
        .cloned()
        .unwrap_or_else(|| all.last().cloned().expect("a kubectl"))
}

pub fn helm() -> Option<PathBuf> {
    let path = tools_dir().join("helm");
    if path.exists() {
        return Some(path);
    }
    assert!(!in_ci(), "helm is missing (run scripts/test-tools.sh)");
    None
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A command's outcome, with helpers for asserting on it.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    fn from(output: Output) -> Out {
        Out {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code, 0,
            "command failed:\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        &self.stdout
    }

    /// Asserts failure with `needle` in stderr.
    #[track_caller]
    pub fn fails_with(&self, needle: &str) {
        assert_ne!(
            self.code, 0,
            "command succeeded unexpectedly:\n{}",
            self.stdout
        );
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\nstdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
    }
}

/// The kedge executable the tests run: KEDGE_TEST_BIN (scripts/test.sh points it at the
/// static release binary, so the whole-cluster tests run what ships), else the debug build.
pub fn kedge_program() -> std::ffi::OsString {
    std::env::var_os("KEDGE_TEST_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_kedge").into())
}

/// A running `kedge server`, stopped (SIGKILL) when dropped.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub port: u16,
    extra: Vec<String>,
    /// Run the node agent (the kubelet) too: no `--disable-agent`.
    agent: bool,
    child: Option<Child>,
    log: Option<Receiver<String>>,
    /// File systems a test mounted in the data dir: detached once the server has stopped.
    mounts: Vec<PathBuf>,
    /// Held while a server with the agent runs: such a server owns the network namespace's
    /// pod network (cni0 and 10.42.0.0/24), port 10250, the nft tables and the cluster DNS
    /// address, so the tests of one binary that start one take turns. Declared last: it is
    /// released after the server has stopped.
    _node: Option<std::sync::MutexGuard<'static, ()>>,
}

/// See [`Cluster::_node`].
static NODE_TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Cluster {
    pub fn start() -> Cluster {
        Self::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Cluster {
        Self::start_full(extra, false, &[], |_| Vec::new())
    }

    /// A server that is also a node (its kubelet runs pods), with the image archives
    /// `images` dropped into `<data-dir>/agent/images/` before it starts.
    pub fn start_with_agent(extra: &[&str], images: &[&Path]) -> Cluster {
        Self::start_full(extra, true, images, |_| Vec::new())
    }

    /// [`Cluster::start_with_agent`], with `prepare` called on the data dir (which does not
    /// exist yet) before anything is put there; it returns the file systems it mounted, which
    /// are detached when the cluster is dropped, after the server has stopped.
    pub fn start_with_agent_prepared(
        extra: &[&str],
        images: &[&Path],
        prepare: impl FnOnce(&Path) -> Vec<PathBuf>,
    ) -> Cluster {
        Self::start_full(extra, true, images, prepare)
    }

    fn start_full(
        extra: &[&str],
        agent: bool,
        images: &[&Path],
        prepare: impl FnOnce(&Path) -> Vec<PathBuf>,
    ) -> Cluster {
        // A test that failed while holding the turn poisons the lock; the next one may go.
        let turn = agent.then(|| NODE_TURN.lock().unwrap_or_else(|e| e.into_inner()));
        let mut cluster = Cluster {
            dir: tempfile::tempdir().unwrap(),
            port: free_port(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            agent,
            child: None,
            log: None,
            mounts: Vec::new(),
            _node: turn,
        };
        cluster.mounts = prepare(&cluster.data_dir());
        let drop_dir = cluster.data_dir().join("agent").join("images");
        for image in images {
            std::fs::create_dir_all(&drop_dir).unwrap();
            std::fs::copy(image, drop_dir.join(image.file_name().unwrap())).unwrap();
        }
        cluster.spawn();
        cluster
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig.yaml")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let program = kedge_program();
        let agent: &[&str] = if self.agent {
            &[]
        } else {
            &["--disable-agent"]
        };
        let mut child = Command::new(program)
            .args(["server", "--config", "/dev/null"])
            .args(agent)
            .args(["--data-dir", self.data_dir().to_str().unwrap()])
            .args(["--write-kubeconfig", self.kubeconfig().to_str().unwrap()])
            .args(["--https-listen-port", &self.port.to_string()])
            .args(&self.extra)
            .env(
                "KEDGE_LOG",
                std::env::var("KEDGE_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kedge starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = channel();
        let echo = std::env::var_os("KEDGE_TEST_ECHO").is_some();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if echo {
                    eprintln!("kedge: {line}");
                }
                let _ = tx.send(line);
            }
        });
        self.child = Some(child);
        self.log = Some(rx);
        self.wait_for_log("kedge server is ready");
    }

    /// Waits until the server logs a line containing `needle`.
    pub fn wait_for_log(&self, needle: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        let log = self.log.as_ref().unwrap();
        while Instant::now() < deadline {
            match log.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    let done = line.contains(needle);
                    seen.push(line);
                    if done {
                        return seen;
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("kedge exited before logging {needle:?}: {seen:#?}")
                }
                Err(_) => {}
            }
        }
        panic!("kedge never logged {needle:?}: {seen:#?}");
    }

    /// Stops the server with SIGTERM and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if child.try_wait().unwrap().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            panic!("kedge did not stop within 10 s of SIGTERM");
        }
    }

    /// Stops and starts the server on the same data and port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Runs a kubectl against this cluster.
    pub fn kubectl(&self, kubectl: &Kubectl, args: &[&str]) -> Out {
        self.kubectl_with(kubectl, args, &[], None)
    }

    /// Runs a kubectl with extra environment and optional standard input.
    pub fn kubectl_with(
        &self,
        kubectl: &Kubectl,
        args: &[&str],
        env: &[(&str, &str)],
        stdin: Option<&str>,
    ) -> Out {
        let mut command = Command::new(&kubectl.path);
        command
            .args(args)
            .env("KUBECONFIG", self.kubeconfig())
            .env("HOME", self.dir.path())
            .envs(env.iter().copied())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("kubectl runs");
        if let Some(input) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        Out::from(child.wait_with_output().unwrap())
    }

    /// Runs any command with KUBECONFIG pointing at this cluster.
    pub fn run(&self, program: &Path, args: &[&str]) -> Out {
        Out::from(
            Command::new(program)
                .args(args)
                .env("KUBECONFIG", self.kubeconfig())
                .env("HOME", self.dir.path())
                .output()
                .unwrap(),
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for mount in self.mounts.iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(mount).status();
        }
    }
}
