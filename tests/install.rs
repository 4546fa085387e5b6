//! install.sh, run as a user runs it, in a scratch root: every path it writes (binary
//! directory, systemd directory, configuration, runtime and data directories) is pointed into
//! a temporary directory, and it neither enables nor starts anything. Its units pass
//! `systemd-analyze verify`, it and the scripts it writes pass shellcheck, a second run
//! changes nothing, downloads are checked against their sha256 sums (served from a loopback
//! HTTP server), and uninstalling leaves nothing behind. kedge-killall.sh is run for real,
//! as root, inside its own mount and network namespaces.
//!
//! Tests that need root or a tool skip without it, except under CI, where they fail.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const INSTALL_SH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/install.sh");

fn in_ci() -> bool {
    std::env::var_os("CI").is_some()
}

/// Whether `tool` is on PATH; a missing tool fails the test under CI, else skips it.
fn have(tool: &str) -> bool {
    if which(tool).is_some() {
        return true;
    }
    assert!(
        !in_ci(),
        "{tool} is missing (scripts/test-tools.sh installs it)"
    );
    eprintln!("skipping: {tool} is not installed");
    false
}

/// Whether the tests run as root; not root fails the test under CI, else skips it.
fn root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    if uid == "0" {
        return true;
    }
    assert!(!in_ci(), "this test needs root, and CI runs as root");
    eprintln!("skipping: needs root");
    false
}

fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A scratch root for one install: `bin/`, `systemd/`, `etc/` and `run/` exist beforehand,
/// as /usr/local/bin, /etc/systemd/system, /etc and /run do on a real machine.
struct Scratch {
    dir: tempfile::TempDir,
    /// A directory of links to the commands install.sh and its scripts use: the PATH they
    /// run with, so that no kubectl, systemctl or sudo of this machine is seen.
    tools: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for system_dir in ["bin", "systemd", "etc", "run"] {
            std::fs::create_dir(dir.path().join(system_dir)).unwrap();
        }
        let tools = tempfile::tempdir().unwrap();
        for tool in [
            "sh",
            "env",
            "sed",
            "awk",
            "cat",
            "cp",
            "mv",
            "rm",
            "chmod",
            "mkdir",
            "mktemp",
            "sha256sum",
            "cmp",
            "cut",
            "sort",
            "id",
            "dirname",
            "uname",
            "readlink",
            "curl",
            "grep",
            "tr",
            "head",
            "ln",
            "sleep",
            "ip",
            "nft",
            "umount",
            "touch",
        ] {
            if let Some(path) = which(tool) {
                std::os::unix::fs::symlink(path, tools.path().join(tool)).unwrap();
            }
        }
        Scratch { dir, tools }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn bin(&self) -> PathBuf {
        self.path("bin")
    }

    /// Places an executable `kedge` that prints a version and provides `commands`.
    fn place_fake_kedge(&self, at: &Path, commands: &[&str]) {
        let mut script = String::from(
            "#!/bin/sh\n# A stand-in for kedge.\ncase \"$1\" in\n  --version) echo 'kedge 0.0.0-test' ;;\n",
        );
        for command in commands {
            script.push_str(&format!("  {command}) exit 0 ;;\n"));
        }
        script.push_str("  *) exit 2 ;;\nesac\n");
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::fs::write(at, script).unwrap();
        std::fs::set_permissions(at, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Runs install.sh (as `sh install.sh ARGS`) with only `env` and the scratch settings in
    /// its environment.
    fn install(&self, env: &[(&str, &str)], args: &[&str]) -> Output {
        let mut command = Command::new("sh");
        command
            .arg(INSTALL_SH)
            .args(args)
            .env_clear()
            .env("PATH", self.tools.path())
            .env("HOME", self.dir.path())
            .env("TMPDIR", self.dir.path().join("tmp"))
            .env("INSTALL_KEDGE_BIN_DIR", self.bin())
            .env("INSTALL_KEDGE_SYSTEMD_DIR", self.path("systemd"))
            .env("INSTALL_KEDGE_CONFIG_DIR", self.path("etc/kedge"))
            .env("INSTALL_KEDGE_RUN_DIR", self.path("run/kedge"))
            .env("INSTALL_KEDGE_OPENRC_DIR", self.path("init.d"))
            .env("INSTALL_KEDGE_LOGROTATE_DIR", self.path("logrotate.d"))
            .env("KEDGE_DATA_DIR", self.path("data"))
            .env("INSTALL_KEDGE_SKIP_ENABLE", "true")
            .env("INSTALL_KEDGE_SKIP_START", "true");
        for (key, value) in env {
            command.env(key, value);
        }
        std::fs::create_dir_all(self.dir.path().join("tmp")).unwrap();
        let output = command.output().unwrap();
        std::fs::remove_dir(self.dir.path().join("tmp")).unwrap();
        output
    }

    fn install_ok(&self, env: &[(&str, &str)], args: &[&str]) -> String {
        let output = self.install(env, args);
        let text = text(&output);
        assert!(output.status.success(), "install.sh failed:\n{text}");
        text
    }

    /// Runs a script the installer wrote (as root), with the scratch PATH, in mount and
    /// network namespaces of its own so that its unmounts and link deletions cannot touch
    /// this machine's.
    fn run_script(&self, script: &Path) -> Output {
        // Found on this process's PATH: the child's PATH is the scratch one.
        let unshare = which("unshare").expect("unshare is on PATH");
        Command::new(unshare)
            .args(["--mount", "--net", "--propagation", "private"])
            .arg(script)
            .env_clear()
            .env("PATH", self.tools.path())
            .output()
            .unwrap()
    }

    /// Every file, directory and link under the root: its type, mode, size, modification
    /// time and content, by path.
    fn snapshot(&self) -> BTreeMap<String, String> {
        let mut found = BTreeMap::new();
        walk(self.dir.path(), self.dir.path(), &mut found);
        found
    }
}

fn walk(root: &Path, dir: &Path, found: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        let what = if meta.file_type().is_symlink() {
            format!("link to {}", std::fs::read_link(&path).unwrap().display())
        } else if meta.is_dir() {
            walk(root, &path, found);
            format!("dir {:o}", meta.mode() & 0o7777)
        } else {
            let content = std::fs::read(&path).unwrap();
            format!(
                "file {:o} {} bytes mtime {}.{} {:x}",
                meta.mode() & 0o7777,
                meta.len(),
                meta.mtime(),
                meta.mtime_nsec(),
                fnv(&content)
            )
        };
        found.insert(rel, what);
    }
}

/// A content fingerprint (FNV-1a): enough to notice a rewrite with other content.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `systemd-analyze verify` on a unit: it must exit 0 and say nothing about the unit.
fn verify_unit(unit: &Path) {
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(unit)
        .output()
        .unwrap();
    let text = text(&output);
    let name = unit.file_name().unwrap().to_string_lossy().to_string();
    println!(
        "systemd-analyze verify {}: exit {:?}, output {text:?}",
        unit.display(),
        output.status.code()
    );
    assert!(
        output.status.success(),
        "systemd-analyze verify failed:\n{text}"
    );
    assert!(
        !text.contains(&name) && !text.contains(&unit.display().to_string()),
        "systemd-analyze verify complains about {name}:\n{text}"
    );
}

fn shellcheck(script: &Path) {
    let output = Command::new("shellcheck").arg(script).output().unwrap();
    println!(
        "shellcheck {}: exit {:?}{}",
        script.display(),
        output.status.code(),
        text(&output)
    );
    assert!(
        output.status.success(),
        "shellcheck {} found problems:\n{}",
        script.display(),
        text(&output)
    );
}

#[test]
fn install_sh_is_shellcheck_clean() {
    if !have("shellcheck") {
        return;
    }
    shellcheck(Path::new(INSTALL_SH));
}

#[test]
fn server_install_writes_a_verified_unit_a_private_env_file_and_scripts() {
    let scratch = Scratch::new();
    scratch.place_fake_kedge(&scratch.bin().join("kedge"), &[]);
    let env = [
        ("INSTALL_KEDGE_SKIP_DOWNLOAD", "true"),
        ("KEDGE_TOKEN", "s3cret with 'quotes' and $dollar"),
        ("KEDGE_NODE_NAME", "edge-1"),
        ("HTTPS_PROXY", "http://proxy:3128"),
        ("UNRELATED", "x"),
    ];
    let first = scratch.install_ok(
        &env,
        &["--tls-san", "edge.example.com", "--disable=traefik"],
    );
    println!("first run:\n{first}");
    assert!(first.contains("needs a restart"), "{first}");
    assert!(first.contains("INSTALL_KEDGE_SKIP_ENABLE=true"), "{first}");

    let unit_path = scratch.path("systemd/kedge.service");
    let unit = read(&unit_path);
    for line in [
        "Type=notify",
        "KillMode=process",
        "Delegate=yes",
        "LimitNOFILE=1048576",
        "LimitNPROC=infinity",
        "LimitCORE=infinity",
        "TasksMax=infinity",
        "TimeoutStartSec=0",
        "Restart=always",
        "RestartSec=5s",
        "WantedBy=multi-user.target",
    ] {
        assert!(
            unit.lines().any(|l| l == line),
            "the unit lacks {line}:\n{unit}"
        );
    }
    assert!(unit.contains("modprobe br_netfilter\n") && unit.contains("modprobe overlay\n"));
    assert!(unit.contains("ExecStartPre=-"), "{unit}");
    assert!(
        unit.contains(&format!(
            "ExecStart={}/kedge \\\n    \"server\" \\\n    \"--tls-san\" \\\n    \"edge.example.com\" \\\n    \"--disable=traefik\"\n",
            scratch.bin().display()
        )),
        "{unit}"
    );
    let env_path = scratch.path("systemd/kedge.service.env");
    assert_eq!(mode(&env_path), 0o600);
    assert_eq!(
        read(&env_path),
        format!(
            "HTTPS_PROXY='http://proxy:3128'\nKEDGE_DATA_DIR='{}'\nKEDGE_NODE_NAME='edge-1'\nKEDGE_TOKEN='s3cret with '\\''quotes'\\'' and $dollar'\n",
            scratch.path("data").display()
        )
    );
    let killall = scratch.bin().join("kedge-killall.sh");
    let uninstall = scratch.bin().join("kedge-uninstall.sh");
    assert_eq!(mode(&killall), 0o755);
    assert_eq!(mode(&uninstall), 0o755);
    if have("systemd-analyze") {
        verify_unit(&unit_path);
    }
    if have("shellcheck") {
        shellcheck(&killall);
        shellcheck(&uninstall);
    }

    // The same install again changes nothing, not even a modification time.
    let before = scratch.snapshot();
    let second = scratch.install_ok(
        &env,
        &["--tls-san", "edge.example.com", "--disable=traefik"],
    );
    println!("second run:\n{second}");
    assert!(
        second.contains(
            "No change to the binary, the unit or the environment: kedge needs no restart"
        ),
        "{second}"
    );
    assert!(!second.contains("Writing"), "{second}");
    assert_eq!(scratch.snapshot(), before);

    // A changed setting is a change.
    let third = scratch.install_ok(
        &[
            ("INSTALL_KEDGE_SKIP_DOWNLOAD", "true"),
            ("KEDGE_NODE_NAME", "edge-2"),
        ],
        &[],
    );
    assert!(third.contains("kedge needs a restart"), "{third}");
    assert!(read(&env_path).contains("KEDGE_NODE_NAME='edge-2'"));
    assert!(!read(&env_path).contains("KEDGE_TOKEN"));
}

#[test]
fn kedge_url_installs_an_agent_that_needs_a_token() {
    let scratch = Scratch::new();
    scratch.place_fake_kedge(&scratch.bin().join("kedge"), &[]);
    let url = ("KEDGE_URL", "https://server.example:6443");
    let skip = ("INSTALL_KEDGE_SKIP_DOWNLOAD", "true");

    let output = scratch.install(&[skip, url], &[]);
    assert!(!output.status.success());
    assert!(
        text(&output).contains("needs KEDGE_TOKEN or KEDGE_TOKEN_FILE"),
        "{}",
        text(&output)
    );
    let output = scratch.install(
        &[
            skip,
            ("KEDGE_URL", "http://server:6443"),
            ("KEDGE_TOKEN", "t"),
        ],
        &[],
    );
    assert!(!output.status.success());
    assert!(
        text(&output).contains("must start with https://"),
        "{}",
        text(&output)
    );

    scratch.install_ok(&[skip, url, ("KEDGE_TOKEN_FILE", "/etc/kedge/token")], &[]);
    let unit_path = scratch.path("systemd/kedge-agent.service");
    let unit = read(&unit_path);
    assert!(unit.contains("\"agent\""), "{unit}");
    assert!(!scratch.path("systemd/kedge.service").exists());
    assert!(scratch.bin().join("kedge-agent-uninstall.sh").exists());
    assert!(
        read(&scratch.path("systemd/kedge-agent.service.env"))
            .contains("KEDGE_URL='https://server.example:6443'")
    );
    if have("systemd-analyze") {
        verify_unit(&unit_path);
    }

    // INSTALL_KEDGE_NAME and INSTALL_KEDGE_EXEC.
    scratch.install_ok(
        &[
            skip,
            ("INSTALL_KEDGE_NAME", "lab"),
            ("INSTALL_KEDGE_EXEC", "server --cluster-init"),
        ],
        &["--node-label", "zone=a"],
    );
    let unit = read(&scratch.path("systemd/kedge-lab.service"));
    assert!(
        unit.contains(
            "\"server\" \\\n    \"--cluster-init\" \\\n    \"--node-label\" \\\n    \"zone=a\"\n"
        ),
        "{unit}"
    );
    let output = scratch.install(&[skip, ("INSTALL_KEDGE_NAME", "a/b")], &[]);
    assert!(!output.status.success());
    let output = scratch.install(&[skip, ("INSTALL_KEDGE_EXEC", "frobnicate")], &[]);
    assert!(
        text(&output).contains("unknown kedge command 'frobnicate'"),
        "{}",
        text(&output)
    );
}

/// A loopback HTTP server over a directory (`python3 -m http.server`), stopped on drop.
struct ReleaseServer {
    child: Child,
    url: String,
}

impl ReleaseServer {
    fn start(dir: &Path) -> Self {
        let mut child = Command::new("python3")
            .args([
                "-u",
                "-m",
                "http.server",
                "0",
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        // "Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ..."
        let port = line
            .split_whitespace()
            .skip_while(|w| *w != "port")
            .nth(1)
            .unwrap_or_else(|| panic!("no port in {line:?}"))
            .to_string();
        ReleaseServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for ReleaseServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sha256(path: &Path) -> String {
    let output = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Publishes a fake kedge as release `version` for both architectures, the way
/// scripts/build-static.sh lays out its files, with `bad` listing a wrong sum for amd64.
fn publish(scratch: &Scratch, releases: &Path, dir: &str, bad: bool) {
    let dir = releases.join(dir);
    for (arch, asset) in [("amd64", "kedge"), ("arm64", "kedge-arm64")] {
        scratch.place_fake_kedge(&dir.join(asset), &[]);
        // Each file its own content, as each build is.
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join(asset))
            .unwrap();
        std::io::Write::write_all(
            &mut file,
            format!("# {}\n", dir.join(asset).display()).as_bytes(),
        )
        .unwrap();
        let sum = if bad && arch == "amd64" {
            "0".repeat(64)
        } else {
            sha256(&dir.join(asset))
        };
        std::fs::write(
            dir.join(format!("sha256sum-{arch}.txt")),
            format!("{sum}  {asset}\n"),
        )
        .unwrap();
    }
}

#[test]
fn downloads_are_verified_against_the_release_sha256_sums() {
    if !have("python3") || !have("curl") {
        return;
    }
    let scratch = Scratch::new();
    let releases = tempfile::tempdir().unwrap();
    publish(&scratch, releases.path(), "download/v0.1.0", false);
    publish(&scratch, releases.path(), "download/v0.0.9-bad", true);
    publish(&scratch, releases.path(), "latest/download", false);
    let server = ReleaseServer::start(releases.path());
    let url = ("INSTALL_KEDGE_RELEASE_URL", server.url.as_str());
    let amd64 = ("INSTALL_KEDGE_ARCH", "x86_64");
    let installed = scratch.bin().join("kedge");

    // A wrong sum: nothing is installed.
    let output = scratch.install(&[url, amd64, ("INSTALL_KEDGE_VERSION", "v0.0.9-bad")], &[]);
    let out = text(&output);
    println!("bad checksum:\n{out}");
    assert!(!output.status.success());
    assert!(out.contains("the download's sha256 is"), "{out}");
    assert!(out.contains("not installing it"), "{out}");
    assert!(!installed.exists());

    let out = scratch.install_ok(&[url, amd64, ("INSTALL_KEDGE_VERSION", "v0.1.0")], &[]);
    println!("good checksum:\n{out}");
    assert!(
        out.contains(&format!("Downloading {}/download/v0.1.0/kedge", server.url)),
        "{out}"
    );
    assert!(out.contains("Verified the download's sha256"), "{out}");
    assert_eq!(
        sha256(&installed),
        sha256(&releases.path().join("download/v0.1.0/kedge"))
    );
    assert_eq!(mode(&installed), 0o755);

    // Again: the installed binary matches the published sum, so nothing is downloaded.
    let out = scratch.install_ok(&[url, amd64, ("INSTALL_KEDGE_VERSION", "v0.1.0")], &[]);
    assert!(out.contains("Skipping the download"), "{out}");
    assert!(out.contains("needs no restart"), "{out}");

    // The latest release, for arm64: kedge-arm64 checked against sha256sum-arm64.txt.
    let out = scratch.install_ok(&[url, ("INSTALL_KEDGE_ARCH", "aarch64")], &[]);
    assert!(
        out.contains(&format!(
            "Downloading {}/latest/download/kedge-arm64",
            server.url
        )),
        "{out}"
    );
    assert_eq!(
        sha256(&installed),
        sha256(&releases.path().join("latest/download/kedge-arm64"))
    );

    let output = scratch.install(&[url, ("INSTALL_KEDGE_ARCH", "riscv64")], &[]);
    assert!(
        text(&output).contains("unsupported architecture riscv64"),
        "{}",
        text(&output)
    );
    let output = scratch.install(&[url, amd64, ("INSTALL_KEDGE_VERSION", "v9.9.9")], &[]);
    assert!(
        text(&output).contains("cannot download"),
        "{}",
        text(&output)
    );
}

#[test]
fn a_local_binary_is_checked_against_the_sums_beside_it() {
    let scratch = Scratch::new();
    let release = tempfile::tempdir().unwrap();
    publish(&scratch, release.path(), "", false);
    let local = release.path().join("kedge");
    let arch = ("INSTALL_KEDGE_ARCH", "amd64");
    let out = scratch.install_ok(
        &[arch, ("INSTALL_KEDGE_BINARY", local.to_str().unwrap())],
        &[],
    );
    assert!(out.contains("Verified"), "{out}");
    assert_eq!(sha256(&scratch.bin().join("kedge")), sha256(&local));

    std::fs::write(
        release.path().join("sha256sum-amd64.txt"),
        format!("{}  kedge\n", "f".repeat(64)),
    )
    .unwrap();
    let output = scratch.install(
        &[arch, ("INSTALL_KEDGE_BINARY", local.to_str().unwrap())],
        &[],
    );
    assert!(!output.status.success());
    assert!(text(&output).contains("lists ffff"), "{}", text(&output));
}

#[test]
fn links_are_made_only_where_the_name_is_free_and_kedge_has_the_command() {
    let scratch = Scratch::new();
    scratch.place_fake_kedge(&scratch.bin().join("kedge"), &["kubectl", "crictl"]);
    std::fs::write(scratch.bin().join("crictl"), "#!/bin/sh\n").unwrap();
    let skip = ("INSTALL_KEDGE_SKIP_DOWNLOAD", "true");
    let out = scratch.install_ok(&[skip], &[]);
    println!("{out}");
    assert_eq!(
        std::fs::read_link(scratch.bin().join("kubectl")).unwrap(),
        Path::new("kedge")
    );
    assert!(out.contains("Not linking"), "{out}");
    assert!(
        !std::fs::symlink_metadata(scratch.bin().join("crictl"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        !scratch.bin().join("ctr").exists(),
        "kedge has no ctr command"
    );
    assert!(out.contains("this kedge has no 'ctr' command"), "{out}");

    // A second run leaves the link alone.
    let before = scratch.snapshot();
    scratch.install_ok(&[skip], &[]);
    assert_eq!(scratch.snapshot(), before);

    scratch.install_ok(&[skip, ("INSTALL_KEDGE_SYMLINK", "force")], &[]);
    assert_eq!(
        std::fs::read_link(scratch.bin().join("crictl")).unwrap(),
        Path::new("kedge")
    );

    let other = Scratch::new();
    other.place_fake_kedge(&other.bin().join("kedge"), &["kubectl"]);
    other.install_ok(&[skip, ("INSTALL_KEDGE_SYMLINK", "skip")], &[]);
    assert!(!other.bin().join("kubectl").exists());
}

#[test]
fn openrc_install_writes_a_clean_init_script() {
    let scratch = Scratch::new();
    scratch.place_fake_kedge(&scratch.bin().join("kedge"), &[]);
    std::fs::create_dir(scratch.path("logrotate.d")).unwrap();
    scratch.install_ok(
        &[
            ("INSTALL_KEDGE_SKIP_DOWNLOAD", "true"),
            ("INSTALL_KEDGE_INIT", "openrc"),
            ("KEDGE_TOKEN", "t0ken"),
        ],
        &["--tls-san", "it's here"],
    );
    let script = scratch.path("init.d/kedge");
    assert_eq!(mode(&script), 0o755);
    let text = read(&script);
    assert!(text.starts_with("#!/sbin/openrc-run\n"), "{text}");
    assert!(text.contains("supervisor=supervise-daemon"), "{text}");
    // openrc evaluates command_args: it must come back as the three words.
    let words = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{}\neval \"set -- $command_args\"; printf '[%s]' \"$@\"",
            text.lines()
                .find(|l| l.starts_with("command_args="))
                .unwrap()
        ))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&words.stdout),
        "[server][--tls-san][it's here]"
    );
    let env = scratch.path("etc/kedge/kedge.env");
    assert_eq!(mode(&env), 0o600);
    assert!(read(&env).contains("KEDGE_TOKEN='t0ken'"));
    assert!(read(&scratch.path("logrotate.d/kedge")).contains("/var/log/kedge.log"));
    if have("shellcheck") {
        shellcheck(&script);
    }
}

#[test]
fn uninstall_leaves_nothing_behind() {
    if !root() || !have("unshare") {
        return;
    }
    let scratch = Scratch::new();
    scratch.place_fake_kedge(&scratch.bin().join("kedge"), &["kubectl"]);
    scratch.install_ok(&[("INSTALL_KEDGE_SKIP_DOWNLOAD", "true")], &[]);
    // What a running kedge leaves: state, configuration, runtime files.
    for file in [
        "data/server/db/state.db",
        "etc/kedge/kedge.yaml",
        "etc/kedge/config.yaml",
        "run/kedge/shims/a.sock",
    ] {
        let path = scratch.path(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "x").unwrap();
    }
    assert!(scratch.bin().join("kubectl").exists());
    let output = scratch.run_script(&scratch.bin().join("kedge-uninstall.sh"));
    println!("{}", text(&output));
    assert!(output.status.success(), "{}", text(&output));
    let left = scratch.snapshot();
    assert_eq!(
        left.keys().collect::<Vec<_>>(),
        ["bin", "etc", "run", "systemd"],
        "uninstall left {left:#?}"
    );
}

#[test]
fn uninstall_keeps_the_binary_while_another_kedge_service_remains() {
    if !root() || !have("unshare") {
        return;
    }
    let scratch = Scratch::new();
    scratch.place_fake_kedge(&scratch.bin().join("kedge"), &[]);
    let skip = ("INSTALL_KEDGE_SKIP_DOWNLOAD", "true");
    scratch.install_ok(&[skip], &[]);
    scratch.install_ok(
        &[skip, ("KEDGE_URL", "https://s:6443"), ("KEDGE_TOKEN", "t")],
        &[],
    );
    let output = scratch.run_script(&scratch.bin().join("kedge-agent-uninstall.sh"));
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("Another kedge service remains"),
        "{}",
        text(&output)
    );
    assert!(scratch.bin().join("kedge").exists());
    assert!(!scratch.path("systemd/kedge-agent.service").exists());
    assert!(!scratch.bin().join("kedge-agent-uninstall.sh").exists());
    assert!(scratch.path("systemd/kedge.service").exists());
}

/// Whether process `pid` is gone (or a zombie waiting to be reaped).
fn dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
        Err(_) => true,
    }
}

/// The pids of the children of `pid`.
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

#[test]
fn killall_stops_kedge_processes_unmounts_and_deletes_links_and_tables() {
    if !root() || !have("unshare") || !have("ip") || !have("nft") {
        return;
    }
    let scratch = Scratch::new();
    // The "kedge" binary is a copy of sh: processes running it stand in for the server and
    // a shim, and the sleeps they start for containers. Another copy elsewhere and the real
    // sh must survive: killall finds kedge by its executable, never by name.
    let sh = which("sh").unwrap();
    let kedge = scratch.bin().join("kedge");
    std::fs::copy(&sh, &kedge).unwrap();
    let other = scratch.path("elsewhere/kedge");
    std::fs::create_dir_all(other.parent().unwrap()).unwrap();
    std::fs::copy(&sh, &other).unwrap();
    scratch.install_ok(&[("INSTALL_KEDGE_SKIP_DOWNLOAD", "true")], &[]);

    let spawn = |program: &Path, script: &str| {
        Command::new(program)
            .args(["-c", script])
            .stdin(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut server = spawn(&kedge, "sleep 1001 & wait");
    let mut shim = spawn(&kedge, "sleep 1002 & sleep 1003 & wait");
    let mut bystander = spawn(&other, "sleep 1004 & wait");
    let mut real_sh = spawn(&sh, "sleep 1005 & wait");
    // Wait for the containers to start.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while children(server.id()).is_empty() || children(shim.id()).len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the sleeps did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let containers: Vec<u32> = children(server.id())
        .into_iter()
        .chain(children(shim.id()))
        .collect();

    let run = scratch.path("run/kedge");
    let data = scratch.path("data");
    let setup = format!(
        r#"set -e
mkdir -p {run} {data}/agent/pods/p1
mount -t tmpfs tmpfs {run}
mkdir -p {run}/netns/pod1
mount -t tmpfs tmpfs {run}/netns/pod1
mount -t tmpfs tmpfs {data}/agent/pods/p1
mount -t tmpfs tmpfs {data}/agent/pods/p1
ip link add kedge0 type bridge
ip link add veth1 type veth peer name veth1p
ip link set veth1 master kedge0
ip link add flannel.1 type vxlan id 1 dstport 8472
ip link add kedgetun type bridge
ip link add other0 type bridge
nft add table inet kedge
nft add table ip kedge-nat
nft add table inet firewall
set +e
PATH={tools} {killall}
echo "== mounts"
grep -F {root} /proc/self/mounts
echo "== links"
ip -o link show | awk -F': ' '{{ print $2 }}' | cut -d@ -f1
echo "== tables"
nft list tables
"#,
        run = run.display(),
        data = data.display(),
        root = scratch.dir.path().display(),
        killall = scratch.bin().join("kedge-killall.sh").display(),
        tools = scratch.tools.path().display(),
    );
    let output = Command::new("unshare")
        .args([
            "--mount",
            "--net",
            "--propagation",
            "private",
            "sh",
            "-c",
            &setup,
        ])
        .output()
        .unwrap();
    let out = text(&output);
    println!("{out}");
    assert!(output.status.success(), "{out}");

    // Processes: kedge's are gone with their containers; the others run on.
    for child in [&mut server, &mut shim] {
        let status = child.wait().unwrap();
        assert!(!status.success(), "killall did not stop {}", child.id());
    }
    for pid in &containers {
        assert!(dead(*pid), "container process {pid} survived killall");
    }
    assert!(
        bystander.try_wait().unwrap().is_none(),
        "another program named kedge was killed"
    );
    assert!(real_sh.try_wait().unwrap().is_none(), "sh was killed");
    let survivors: Vec<u32> = children(bystander.id())
        .into_iter()
        .chain(children(real_sh.id()))
        .collect();
    for child in [&mut bystander, &mut real_sh] {
        child.kill().unwrap();
        child.wait().unwrap();
    }
    for pid in survivors {
        kill_pid(pid);
    }

    let section = |name: &str| -> Vec<String> {
        out.lines()
            .skip_while(|l| *l != format!("== {name}"))
            .skip(1)
            .take_while(|l| !l.starts_with("== "))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(section("mounts"), Vec::<String>::new(), "mounts are left");
    let links = section("links");
    assert_eq!(links, ["lo", "other0"], "{out}");
    let tables = section("tables");
    assert_eq!(tables, ["table inet firewall"], "{out}");
    assert!(!run.exists(), "the runtime directory is left");
}

/// Ends a leftover sleep by pid through the `kill` command.
fn kill_pid(pid: u32) {
    let _ = Command::new("kill").arg(pid.to_string()).status();
}
