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
//! With `--burst N`, it measures instead N pods started at once, the runtime's share of
//! `kedge server`'s 100-pod burst (issue 6) beside the same burst through runc: N workers
//! (`--parallel P`, default N) take the containers from one queue at the same instant, and each
//! container's time is from that instant to its process running (p50 and p99, then
//! `ratio R` = kedge / runc). A kedge pod is `PodSandbox::start` (a shim, the pod's namespaces
//! and cgroup) + create (overlay root file system) + start of `sleep`; a runc one is the mount
//! of the same overlay + `runc run -d` (new mount, network, IPC, UTS and PID namespaces and a
//! cgroup, as `runc spec` writes them). Neither has a pod network, an API server or a
//! kubelet: this is the floor that container creation alone sets on this machine.
//!
//! Usage: `bench_runtime --kedge PATH --busybox PATH [--iterations N] [--burst N [--parallel P]]`

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// The sample at fraction `q` of the sorted samples (nearest rank).
fn quantile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort();
    let rank = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len());
    samples[rank - 1]
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
    let bundle = runc_spec(work, args[0].trim_start_matches("/bin/"), args)?;
    mount_overlay(layers, &bundle.join("rootfs"))?;
    Ok(bundle)
}

/// Mounts the layers read-only as an overlay on `rootfs`, as a snapshotter would.
fn mount_overlay(layers: &[PathBuf], rootfs: &Path) -> Result<()> {
    let lower: Vec<String> = layers.iter().map(|p| p.display().to_string()).collect();
    nix::mount::mount(
        Some("overlay"),
        rootfs,
        Some("overlay"),
        nix::mount::MsFlags::empty(),
        Some(format!("lowerdir={}", lower.join(":")).as_str()),
    )
    .map_err(|e| format!("cannot mount the runc bundle's rootfs: {e}"))?;
    Ok(())
}

/// A runc bundle named `name` with `runc spec`'s defaults, running `args`; its rootfs is an
/// empty directory.
fn runc_spec(work: &Path, name: &str, args: &[&str]) -> Result<PathBuf> {
    let bundle = work.join(format!("bundle-{name}"));
    std::fs::create_dir_all(bundle.join("rootfs"))?;
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
        serde_json::json!(format!("/kedge-bench-runc/{}/{name}", std::process::id()));
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

/// Removes the benchmark's cgroups, once their processes are gone (v1 and v2).
fn remove_cgroups(dirs: &RuntimeDirs) {
    let mut roots = vec![PathBuf::from("/sys/fs/cgroup")];
    if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
        roots.extend(entries.flatten().map(|e| e.path()));
    }
    for dir in roots {
        let _ = std::fs::remove_dir(dir.join(dirs.cgroup_parent.trim_start_matches('/')));
        let _ = std::fs::remove_dir(dir.join(format!("kedge-bench-runc/{}", std::process::id())));
        let _ = std::fs::remove_dir(dir.join("kedge-bench-runc"));
    }
}

/// Runs `start(i)` for i in 0..n on `parallel` workers that begin at the same instant, and
/// returns each one's time from that instant to its return.
fn burst(
    n: usize,
    parallel: usize,
    start: impl Fn(usize) -> Result<()> + Sync,
) -> Result<Vec<Duration>> {
    let next = AtomicUsize::new(0);
    let t0 = Instant::now();
    let times = std::thread::scope(|s| {
        let workers: Vec<_> = (0..parallel.max(1))
            .map(|_| {
                s.spawn(|| -> std::result::Result<Vec<Duration>, String> {
                    let mut times = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            return Ok(times);
                        }
                        start(i).map_err(|e| format!("container {i}: {e}"))?;
                        times.push(t0.elapsed());
                    }
                })
            })
            .collect();
        let mut all = Vec::new();
        for w in workers {
            all.extend(w.join().map_err(|_| "a worker panicked")??);
        }
        Ok::<_, String>(all)
    })?;
    Ok(times)
}

/// `n` kedge pods started at once: each a shim with its namespaces, then a `sleep` container.
fn kedge_burst(
    dirs: &RuntimeDirs,
    layers: &[PathBuf],
    n: usize,
    parallel: usize,
) -> Result<Vec<Duration>> {
    let pods = std::sync::Mutex::new(Vec::new());
    let times = burst(n, parallel, |i| {
        let pod = PodSandbox::start(dirs, &pod_config(&format!("burst{i}")))?;
        let c = container(layers, "sleep", &["/bin/sleep", "1000"]);
        let created = pod
            .create_container(&c)
            .and_then(|_| pod.start_container(&c.id()));
        pods.lock().unwrap().push(pod);
        created?;
        Ok(())
    });
    for pod in pods.into_inner().unwrap() {
        let _ = pod.shutdown(Duration::ZERO);
    }
    times
}

/// `n` runc containers started at once: each the overlay mount of its root file system and
/// `runc run -d`.
fn runc_burst(work: &Path, layers: &[PathBuf], n: usize, parallel: usize) -> Result<Vec<Duration>> {
    let root = work.join("runc-state");
    let name = |i: usize| format!("burst{i}-{}", std::process::id());
    let bundles = (0..n)
        .map(|i| runc_spec(work, &name(i), &["/bin/sleep", "1000"]))
        .collect::<Result<Vec<_>>>()?;
    let times = burst(n, parallel, |i| {
        mount_overlay(layers, &bundles[i].join("rootfs"))?;
        let status = Command::new("runc")
            .arg("--root")
            .arg(&root)
            .args(["run", "-d", "--bundle"])
            .arg(&bundles[i])
            .arg(name(i))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .status()?;
        if !status.success() {
            return Err(format!("runc run -d failed: {status}").into());
        }
        Ok(())
    });
    for (i, bundle) in bundles.iter().enumerate() {
        let _ = Command::new("runc")
            .arg("--root")
            .arg(&root)
            .args(["delete", "-f", &name(i)])
            .status();
        let _ = nix::mount::umount(&bundle.join("rootfs"));
    }
    times
}

fn print_burst(who: &str, mut times: Vec<Duration>) -> (Duration, Duration) {
    let (p50, p99) = (quantile(&mut times, 0.5), quantile(&mut times, 0.99));
    println!(
        "{who:<5} p50 {:>10}   p99 {:>10}   last {:>10}",
        ms(p50),
        ms(p99),
        ms(*times.last().unwrap())
    );
    (p50, p99)
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

    if let Some(burst) = arg(&args, "--burst") {
        let n: usize = burst.parse()?;
        let parallel: usize = arg(&args, "--parallel")
            .map(|s| s.parse())
            .transpose()?
            .unwrap_or(n);
        let kedge = kedge_burst(&dirs, &layers, n, parallel);
        let runc = runc_burst(work, &layers, n, parallel);
        remove_cgroups(&dirs);
        println!(
            "{n} containers started at once on {parallel} workers, from the start to running:"
        );
        let (k50, k99) = print_burst("kedge", kedge?);
        let (r50, r99) = print_burst("runc", runc?);
        println!(
            "ratio {:.2} at p50, {:.2} at p99 (kedge / runc)",
            k50.as_secs_f64() / r50.as_secs_f64(),
            k99.as_secs_f64() / r99.as_secs_f64()
        );
        return Ok(());
    }

    let (k_running, k_true, k_pod, memory) = kedge(&dirs, &layers, n)?;
    let (r_running, r_true) = runc(work, &layers, n)?;
    remove_cgroups(&dirs);

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
