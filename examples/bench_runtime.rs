//! Benchmark of kedge's container runtime against `runc run` on the same root filesystem (run
//! by `scripts/bench-runtime.sh`, as root).
//!
//! Measures, as medians over `--iterations` runs:
//! - create → running: kedge's `CreateContainer` + `StartContainer` through a pod's shim
//!   (the pod's namespaces already exist), and `runc run -d` (which returns once the process
//!   runs);
//! - start + exit of `/bin/true`: kedge's create + start + wait for the exit, and a
//!   foreground `runc run`;
//! - a whole pod: `PodSandbox::start` (shim + namespaces) + create + start of `/bin/true` +
//!   its exit;
//! - the shim's private memory (`Private_Dirty` of `/proc/<pid>/smaps_rollup`) with one
//!   container running.
//!
//! Usage: `bench_runtime --kedge PATH --busybox PATH [--iterations N]`

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kedge::runtime::config::{ContainerConfig, ImageConfig, SandboxConfig};
use kedge::runtime::layout::RuntimeDirs;
use kedge::runtime::sandbox::{PodSandbox, SandboxHandle};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Two layers: busybox with its applets, and /etc.
fn layers(work: &Path, busybox: &Path) -> Result<Vec<PathBuf>> {
    let base = work.join("layer-busybox");
    let etc = work.join("layer-etc");
    for d in ["bin", "tmp", "proc", "sys", "dev", "etc"] {
        std::fs::create_dir_all(base.join(d))?;
    }
    std::fs::create_dir_all(etc.join("etc"))?;
    std::fs::copy(busybox, base.join("bin/busybox"))?;
    let list = Command::new(busybox).arg("--list").output()?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            std::os::unix::fs::symlink("busybox", base.join("bin").join(applet))?;
        }
    }
    std::fs::write(etc.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")?;
    std::fs::write(etc.join("etc/group"), "root:x:0:\n")?;
    Ok(vec![etc, base])
}

fn container(layers: &[PathBuf], name: &str, args: &[&str]) -> ContainerConfig {
    ContainerConfig {
        name: name.into(),
        lower_dirs: layers.to_vec(),
        image: ImageConfig {
            entrypoint: args.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn pod_config(name: &str) -> SandboxConfig {
    SandboxConfig {
        uid: format!("bench-{name}-{}", std::process::id()),
        namespace: "bench".into(),
        name: name.into(),
        hostname: name.into(),
        resolv_conf: Some(String::new()),
        ..Default::default()
    }
}

fn private_dirty_kb(pid: i32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("Private_Dirty:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn kedge(
    dirs: &RuntimeDirs,
    layers: &[PathBuf],
    n: usize,
) -> Result<(Duration, Duration, Duration, u64)> {
    let pod: SandboxHandle = PodSandbox::start(dirs, &pod_config("main"))?;
    let mut running = Vec::new();
    let mut true_runs = Vec::new();
    for i in 0..n {
        let c = container(layers, &format!("sleep{i}"), &["/bin/sleep", "1000"]);
        let start = Instant::now();
        pod.create_container(&c)?;
        pod.start_container(&c.id())?;
        running.push(start.elapsed());
        pod.stop_container(&c.id(), Duration::ZERO)?;
        pod.remove_container(&c.id())?;

        let c = container(layers, &format!("true{i}"), &["/bin/true"]);
        let start = Instant::now();
        pod.create_container(&c)?;
        pod.start_container(&c.id())?;
        let status = pod.wait_container(&c.id())?;
        true_runs.push(start.elapsed());
        assert_eq!(status.exit_code, Some(0));
        pod.remove_container(&c.id())?;
    }
    let c = container(layers, "resident", &["/bin/sleep", "1000"]);
    pod.create_container(&c)?;
    pod.start_container(&c.id())?;
    let memory = private_dirty_kb(pod.pid).unwrap_or(0);
    pod.shutdown(Duration::ZERO)?;

    let mut pods = Vec::new();
    for i in 0..n.min(10) {
        let start = Instant::now();
        let pod = PodSandbox::start(dirs, &pod_config(&format!("pod{i}")))?;
        let c = container(layers, "true", &["/bin/true"]);
        pod.create_container(&c)?;
        pod.start_container(&c.id())?;
        pod.wait_container(&c.id())?;
        pods.push(start.elapsed());
        pod.shutdown(Duration::ZERO)?;
    }
    Ok((median(running), median(true_runs), median(pods), memory))
}

fn runc_bundle(work: &Path, layers: &[PathBuf], args: &[&str]) -> Result<PathBuf> {
    let bundle = work.join(format!("bundle-{}", args[0].trim_start_matches("/bin/")));
    let rootfs = bundle.join("rootfs");
    std::fs::create_dir_all(&rootfs)?;
    let lower: Vec<String> = layers.iter().map(|p| p.display().to_string()).collect();
    let status = Command::new("mount")
        .args([
            "-t",
            "overlay",
            "overlay",
            "-o",
            &format!("lowerdir={}", lower.join(":")),
        ])
        .arg(&rootfs)
        .status()?;
    if !status.success() {
        return Err("cannot mount the runc bundle's rootfs".into());
    }
    let status = Command::new("runc")
        .arg("spec")
        .current_dir(&bundle)
        .status()?;
    if !status.success() {
        return Err("runc spec failed".into());
    }
    let path = bundle.join("config.json");
    let mut spec: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    spec["process"]["terminal"] = serde_json::json!(false);
    spec["process"]["args"] = serde_json::json!(args);
    spec["linux"]["cgroupsPath"] =
        serde_json::json!(format!("/kedge-bench-runc/{}", std::process::id()));
    std::fs::write(&path, serde_json::to_vec_pretty(&spec)?)?;
    Ok(bundle)
}

fn runc(work: &Path, layers: &[PathBuf], n: usize) -> Result<(Duration, Duration)> {
    let root = work.join("runc-state");
    let sleep = runc_bundle(work, layers, &["/bin/sleep", "1000"])?;
    let truth = runc_bundle(work, layers, &["/bin/true"])?;
    let runc = |args: &[&str], bundle: &Path| -> Result<()> {
        let status = Command::new("runc")
            .arg("--root")
            .arg(&root)
            .args(args)
            .arg("--bundle")
            .arg(bundle)
            .arg(format!("bench-{}", std::process::id()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("runc {args:?} failed: {status}").into())
        }
    };
    let delete = || {
        let _ = Command::new("runc")
            .arg("--root")
            .arg(&root)
            .args(["delete", "-f", &format!("bench-{}", std::process::id())])
            .status();
    };
    let mut running = Vec::new();
    let mut true_runs = Vec::new();
    for _ in 0..n {
        let start = Instant::now();
        runc(&["run", "-d"], &sleep)?;
        running.push(start.elapsed());
        delete();
        let start = Instant::now();
        runc(&["run"], &truth)?;
        true_runs.push(start.elapsed());
    }
    for bundle in [sleep, truth] {
        let _ = Command::new("umount").arg(bundle.join("rootfs")).status();
    }
    Ok((median(running), median(true_runs)))
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let kedge_binary = PathBuf::from(arg(&args, "--kedge").ok_or("--kedge PATH is required")?);
    let busybox = PathBuf::from(arg(&args, "--busybox").ok_or("--busybox PATH is required")?);
    let n: usize = arg(&args, "--iterations")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20);
    let tmp = tempfile::Builder::new().prefix("kb").tempdir_in("/tmp")?;
    let work = tmp.path();
    let dirs = RuntimeDirs {
        run: work.join("run"),
        state: work.join("state"),
        logs: work.join("logs"),
        cgroup_parent: format!("/kedge-bench-{}", std::process::id()),
        shim_binary: kedge_binary,
    };
    let layers = layers(work, &busybox)?;

    let (k_running, k_true, k_pod, memory) = kedge(&dirs, &layers, n)?;
    let (r_running, r_true) = runc(work, &layers, n)?;
    for dir in std::fs::read_dir("/sys/fs/cgroup")?.flatten() {
        let _ = std::fs::remove_dir(dir.path().join(dirs.cgroup_parent.trim_start_matches('/')));
        let _ = std::fs::remove_dir(
            dir.path()
                .join(format!("kedge-bench-runc/{}", std::process::id())),
        );
        let _ = std::fs::remove_dir(dir.path().join("kedge-bench-runc"));
    }
    let _ = std::fs::remove_dir(
        Path::new("/sys/fs/cgroup").join(dirs.cgroup_parent.trim_start_matches('/')),
    );

    println!("medians over {n} runs");
    println!(
        "create -> running      kedge {:>10}   runc run -d {:>10}",
        ms(k_running),
        ms(r_running)
    );
    println!(
        "start + exit /bin/true kedge {:>10}   runc run    {:>10}",
        ms(k_true),
        ms(r_true)
    );
    println!(
        "whole pod (shim + namespaces + /bin/true to its exit): kedge {}",
        ms(k_pod)
    );
    println!(
        "ratio {:.2} (kedge / runc, create -> running; goal <= 0.5)",
        k_running.as_secs_f64() / r_running.as_secs_f64()
    );
    println!(
        "ratio {:.2} (kedge / runc, start + exit of /bin/true)",
        k_true.as_secs_f64() / r_true.as_secs_f64()
    );
    println!(
        "shim private memory {:.2} MB (Private_Dirty, one container running; goal <= 2 MB)",
        memory as f64 / 1024.0
    );
    Ok(())
}
