//! The release binaries as they ship: `scripts/build-static.sh` builds them and
//! `scripts/test.sh` passes their paths in `KEDGE_TEST_BIN` (x86_64, which the whole-cluster
//! tests also run) and `KEDGE_ARM64_BIN` (aarch64). Each must be a statically linked ELF for
//! its machine, at most 40 MiB; the aarch64 one must print its version and serve `/readyz`
//! as `kedge server --disable-agent` under `qemu-aarch64-static`.
//!
//! Without the binaries these tests skip, unless `CI` is set: then they fail.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The size every shipped binary must stay within (k3s is about 65 MB).
const MAX_BYTES: u64 = 40 * 1024 * 1024;

/// ELF `e_machine` values.
const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;
/// The program header type naming a dynamic loader.
const PT_INTERP: u32 = 3;

fn binary(var: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(path) => Some(PathBuf::from(path)),
        None => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{var} is not set: scripts/test.sh builds the static binaries and sets it"
            );
            eprintln!("skipped: {var} is not set (scripts/test.sh sets it)");
            None
        }
    }
}

/// The machine an ELF file is for, and whether it asks for a dynamic loader.
fn elf_machine_and_interp(path: &Path) -> (u16, bool) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[..4],
        b"\x7fELF",
        "{} is not an ELF file",
        path.display()
    );
    assert_eq!(bytes[4], 2, "{} is not a 64-bit ELF", path.display());
    assert_eq!(bytes[5], 1, "{} is not little-endian", path.display());
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    let machine = u16_at(18);
    let phoff = u64_at(32) as usize;
    let phentsize = u16_at(54) as usize;
    let phnum = u16_at(56) as usize;
    let interp = (0..phnum).any(|i| u32_at(phoff + i * phentsize) == PT_INTERP);
    (machine, interp)
}

fn check_shipped(path: &Path, machine: u16) {
    let size = std::fs::metadata(path).unwrap().len();
    println!(
        "{}: {size} bytes ({:.1} MiB)",
        path.display(),
        size as f64 / 1_048_576.0
    );
    let (found, interp) = elf_machine_and_interp(path);
    assert_eq!(
        found,
        machine,
        "{} is for the wrong machine",
        path.display()
    );
    assert!(
        !interp,
        "{} asks for a dynamic loader: it is not static",
        path.display()
    );
    assert!(
        size <= MAX_BYTES,
        "{} is {size} bytes, more than 40 MiB",
        path.display()
    );
}

#[test]
fn the_x86_64_binary_is_static_and_small() {
    if let Some(path) = binary("KEDGE_TEST_BIN") {
        check_shipped(&path, EM_X86_64);
    }
}

#[test]
fn the_aarch64_binary_is_static_and_small() {
    if let Some(path) = binary("KEDGE_ARM64_BIN") {
        check_shipped(&path, EM_AARCH64);
    }
}

fn qemu() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("qemu-aarch64-static"))
            .find(|path| path.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "qemu-aarch64-static is missing (scripts/test-tools.sh installs qemu-user-static)"
        );
        eprintln!("skipped: qemu-aarch64-static is missing");
    }
    found
}

/// Ends the emulated server by its pid, whatever happens to the test.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_aarch64_binary_runs_a_control_plane_under_qemu() {
    let Some(path) = binary("KEDGE_ARM64_BIN") else {
        return;
    };
    let Some(qemu) = qemu() else { return };

    let version = Command::new(&qemu)
        .arg(&path)
        .arg("--version")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&version.stdout);
    assert!(version.status.success(), "--version failed: {version:?}");
    assert!(
        printed.starts_with("kedge "),
        "--version printed {printed:?}"
    );
    println!(
        "qemu-aarch64-static {} --version: {printed}",
        path.display()
    );

    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    let mut server = Server(
        Command::new(&qemu)
            .arg(&path)
            .args(["server", "--config", "/dev/null", "--disable-agent"])
            .args(["--bind-address", "127.0.0.1"])
            .arg("--https-listen-port")
            .arg(port.to_string())
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--write-kubeconfig")
            .arg(dir.path().join("kubeconfig"))
            .env_remove("KEDGE_CONFIG_FILE")
            .env_remove("KEDGE_TOKEN")
            .env_remove("KEDGE_URL")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );

    // Emulation is slow: allow the server minutes, not seconds, to come up.
    let url = format!("https://127.0.0.1:{port}/readyz");
    let deadline = Instant::now() + Duration::from_secs(180);
    let answer = loop {
        let curl = Command::new("curl")
            .args(["-sk", "--max-time", "5", &url])
            .output()
            .unwrap();
        let body = String::from_utf8_lossy(&curl.stdout).to_string();
        if curl.status.success() && body == "ok" {
            break body;
        }
        if let Some(status) = server.0.try_wait().unwrap() {
            let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
            panic!("the aarch64 server exited with {status}:\n{log}");
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
            panic!("the aarch64 server did not answer /readyz (last {body:?}):\n{log}");
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    println!("GET /readyz from the aarch64 server under qemu: {answer}");
}
