//! The `kedge` executable as a user runs it: help, version, errors, config file precedence,
//! and a server that starts, holds its datastore and stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn kedge() -> Command {
    // KEDGE_TEST_BIN: the static release binary, when scripts/test.sh built one.
    let program =
        std::env::var_os("KEDGE_TEST_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_kedge").into());
    let mut command = Command::new(program);
    // Keep the host's config and environment out of the tests.
    command
        .env_remove("KEDGE_CONFIG_FILE")
        .env_remove("KEDGE_TOKEN")
        .env_remove("KEDGE_URL")
        .env_remove("KEDGE_DATA_DIR")
        .env("KEDGE_LOG", "info");
    command
}

fn run(args: &[&str]) -> Output {
    kedge().args(args).output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn version_and_help() {
    let output = run(&["--version"]);
    assert!(output.status.success());
    assert_eq!(
        stdout(&output).trim(),
        format!("kedge {}", env!("CARGO_PKG_VERSION"))
    );

    let output = run(&["server", "--help"]);
    assert!(output.status.success());
    let help = stdout(&output);
    for flag in [
        "--data-dir",
        "--https-listen-port",
        "--bind-address",
        "--advertise-address",
        "--tls-san",
        "--write-kubeconfig",
        "--write-kubeconfig-mode",
        "--disable-agent",
        "--node-name",
        "--node-ip",
        "--node-label",
        "--node-taint",
        "--cluster-cidr",
        "--service-cidr",
        "--cluster-dns",
        "--cluster-domain",
        "--token",
        "--server",
        "--datastore-endpoint",
        "--disable",
        "--config",
    ] {
        assert!(help.contains(flag), "kedge server --help lacks {flag}");
    }
    assert!(help.contains("KEDGE_TOKEN"));

    let output = run(&["agent", "--help"]);
    assert!(output.status.success());
    let help = stdout(&output);
    for flag in [
        "--server",
        "--token",
        "--node-name",
        "--node-label",
        "--data-dir",
        "KEDGE_URL",
    ] {
        assert!(help.contains(flag), "kedge agent --help lacks {flag}");
    }
}

#[test]
fn errors_are_one_clear_line() {
    let output = run(&["agent", "--config", "/dev/null"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("pass --server https://HOST:6443 or set KEDGE_URL"));

    let output = run(&[
        "server",
        "--config",
        "/dev/null",
        "--cluster-cidr",
        "banana",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("invalid --cluster-cidr \"banana\""),
        "{}",
        stderr(&output)
    );

    // A kubelet flag kedge does not take is refused with the ones it does, as the
    // kubelet refuses an unknown flag.
    let output = run(&[
        "server",
        "--config",
        "/dev/null",
        "--kubelet-arg=cgroup-driver=systemd",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains("invalid --kubelet-arg \"cgroup-driver=systemd\": kedge's kubelet does not take \"cgroup-driver\"; it takes max-pods, eviction-hard"),
        "{message}"
    );

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "write-kubeconfig-mode: \"644\"\nnodename: x\n").unwrap();
    let output = run(&["server", "--config", config.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("unknown key \"nodename\""), "{message}");
    assert_eq!(message.trim().lines().count(), 1, "{message}");

    let output = run(&["sever"]);
    assert_eq!(output.status.code(), Some(2));
}

/// A running server: killed on drop if the test did not stop it.
struct Server {
    child: Child,
    log: std::sync::mpsc::Receiver<String>,
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    /// Starts `kedge server` on a free port, writing its kubeconfig into `dir`.
    fn start(args: &[&str], envs: &[(&str, &str)]) -> Server {
        let kubeconfig = std::env::temp_dir().join(format!("kedge-cli-test-{}.yaml", free_port()));
        let mut child = kedge()
            .arg("server")
            .args(["--https-listen-port", &free_port().to_string()])
            .args(["--write-kubeconfig", kubeconfig.to_str().unwrap()])
            .args(args)
            .envs(envs.iter().copied())
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, log) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Server { child, log }
    }

    /// Log lines until one contains `needle`.
    fn wait_for(&self, needle: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            if let Ok(line) = self.log.recv_timeout(Duration::from_millis(100)) {
                let done = line.contains(needle);
                seen.push(line);
                if done {
                    return seen;
                }
            }
        }
        panic!("server never logged {needle:?}; log so far: {seen:#?}");
    }

    fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "server did not stop within 10 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn server_opens_its_datastore_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    let server = Server::start(
        &[
            "--config",
            "/dev/null",
            "--data-dir",
            data_arg,
            "--disable-agent",
            "--disable",
            "traefik",
        ],
        &[],
    );
    let log = server.wait_for("kedge server is ready").join("\n");
    assert!(
        log.contains(
            "--disable traefik: kedge does not ship traefik, so there is nothing to disable"
        ),
        "{log}"
    );
    assert!(data.join("server/db/state.db").exists());

    // A second server on the same data dir is refused with a reason.
    let output = run(&[
        "server",
        "--config",
        "/dev/null",
        "--data-dir",
        data_arg,
        "--https-listen-port",
        &free_port().to_string(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("in use by another process"),
        "{}",
        stderr(&output)
    );

    let status = server.stop();
    assert!(status.success(), "server exited with {status}");
}

#[test]
fn config_file_beats_environment_and_flags_beat_both() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    let from_file = dir.path().join("from-file");
    let from_env = dir.path().join("from-env");
    let from_flag = dir.path().join("from-flag");
    std::fs::write(&config, format!("data-dir: {}\n", from_file.display())).unwrap();
    let env = [("KEDGE_DATA_DIR", from_env.to_str().unwrap())];

    let server = Server::start(&["--config", config.to_str().unwrap()], &env);
    server.wait_for("kedge server is ready");
    assert!(server.stop().success());
    assert!(
        db_exists(&from_file) && !db_exists(&from_env),
        "the file must win over the environment, as in k3s"
    );

    let server = Server::start(
        &[
            "--config",
            config.to_str().unwrap(),
            "-d",
            from_flag.to_str().unwrap(),
        ],
        &env,
    );
    server.wait_for("kedge server is ready");
    assert!(server.stop().success());
    assert!(db_exists(&from_flag) && !db_exists(&from_env));

    // KEDGE_CONFIG_FILE names the file too.
    let server = Server::start(&[], &[("KEDGE_CONFIG_FILE", config.to_str().unwrap())]);
    let log = server.wait_for("kedge server is ready").join("\n");
    assert!(log.contains(&from_file.display().to_string()), "{log}");
    assert!(server.stop().success());
}

fn db_exists(data_dir: &Path) -> bool {
    data_dir.join("server/db/state.db").exists()
}

#[test]
fn check_config_reports_each_check_and_fails_on_a_missing_memory_cgroup() {
    let root = tempfile::tempdir().unwrap();
    let write = |abs: &str, text: &str| {
        let path = root.path().join(abs.trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    // A Raspberry Pi on cgroup v2 whose memory controller is off.
    write("/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io pids\n");
    write(
        "/proc/device-tree/model",
        "Raspberry Pi 5 Model B Rev 1.0\0",
    );
    write(
        "/boot/firmware/cmdline.txt",
        "console=tty1 root=PARTUUID=1\n",
    );
    write("/proc/sys/kernel/osrelease", "6.6.51+rpt-rpi-2712\n");
    write(
        "/boot/config-6.6.51+rpt-rpi-2712",
        "CONFIG_OVERLAY_FS=m\nCONFIG_BRIDGE=m\n",
    );
    // A config file with server settings must not trouble check-config.
    let config = root.path().join("config.yaml");
    std::fs::write(&config, "data-dir: /srv/kedge\n").unwrap();
    let output = kedge()
        .args(["check-config", "--root", root.path().to_str().unwrap()])
        .env("KEDGE_CONFIG_FILE", &config)
        .output()
        .unwrap();
    let report = stdout(&output);
    println!("{report}");
    assert_eq!(output.status.code(), Some(1), "{report}{}", stderr(&output));
    assert!(report.contains("Cgroups (v2)"), "{report}");
    assert!(
        report.contains("append `cgroup_memory=1 cgroup_enable=memory` to the single line in /boot/firmware/cmdline.txt"),
        "{report}"
    );
    assert!(report.contains("vxlan"), "{report}");
    assert!(
        report.contains("missing: apply the fixes above"),
        "{report}"
    );

    // This machine: every line is ok, missing or unknown, and the exit code says which.
    let output = run(&["check-config"]);
    let report = stdout(&output);
    println!("{report}");
    assert!(report.contains("memory controller"), "{report}");
    let failed = report.contains("required check") && report.contains("missing: apply");
    assert_eq!(
        output.status.code(),
        Some(if failed { 1 } else { 0 }),
        "{report}"
    );
}

#[test]
fn server_tells_systemd_it_is_ready() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let data = dir.path().join("data");
    let server = Server::start(
        &[
            "--config",
            "/dev/null",
            "--disable-agent",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[("NOTIFY_SOCKET", socket_path.to_str().unwrap())],
    );
    // kedge notifies right after it logs that it is ready; the datagram waits in the socket.
    let log = server.wait_for("kedge server is ready").join("\n");
    let mut buf = [0u8; 256];
    let n = socket
        .recv(&mut buf)
        .unwrap_or_else(|e| panic!("no sd_notify message from kedge server ({e}); log:\n{log}"));
    assert_eq!(&buf[..n], b"READY=1");
    assert!(server.stop().success());
}

/// In a network namespace with only loopback (no default route, no interface address), the
/// server has no address to advertise: it says so and names the flags that fix it, instead of
/// advertising 127.0.0.1, which Endpoints may not hold. Needs root (`unshare --net`); skips
/// without it unless `CI` is set.
#[test]
fn server_without_any_address_names_the_fix() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(
            std::env::var_os("CI").is_none(),
            "this test needs root in CI"
        );
        eprintln!("skipped: needs root for unshare --net");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let program = kedge().get_program().to_owned();
    let output = Command::new("unshare")
        .arg("--net")
        .arg(program)
        .args(["server", "--config", "/dev/null", "--disable-agent"])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--write-kubeconfig")
        .arg(dir.path().join("kubeconfig"))
        .env_remove("KEDGE_CONFIG_FILE")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let err = stderr(&output);
    assert!(
        err.contains("no default route and no non-loopback IPv4 address")
            && err.contains("--node-ip"),
        "{err}"
    );
}
