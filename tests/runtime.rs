//! The container runtime as root: pod sandboxes run by `kedge shim`, containers from a busybox
//! root filesystem (Debian's `busybox-static`, laid out as two overlay layers), lifecycle and
//! exit codes, OOM kills, cgroup limits, exec with a terminal, logs, and the shim surviving
//! (or not) its agent.
//!
//! Without root these tests skip, unless `CI` is set: then they fail. Each test cleans up
//! what it created (shims by pid, mounts, cgroups, namespaces) even when it fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kedge::runtime::cgroups::{CgroupLayout, CgroupVersion};
use kedge::runtime::config::{ContainerConfig, ImageConfig, Resources, SandboxConfig, VolumeMount};
use kedge::runtime::kernel::LinuxKernel;
use kedge::runtime::layout::RuntimeDirs;
use kedge::runtime::logs;
use kedge::runtime::sandbox::{
    ExecOptions, PodSandbox, RecoveredSandbox, SandboxHandle, SessionEvent, recover,
};
use kedge::runtime::shim::ShimRecord;
use kedge::runtime::state::ContainerState;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        assert!(
            std::env::var_os("CI").is_none(),
            "the runtime tests need root in CI"
        );
        eprintln!("skipped: the runtime tests need root");
    }
    root
}

/// Two layers: busybox (from the installed `busybox-static` package) and a layer with
/// `/etc/passwd` and `/etc/group`.
fn busybox_layers(dir: &Path) -> Vec<PathBuf> {
    let base = dir.join("layer-busybox");
    let etc = dir.join("layer-etc");
    for d in ["bin", "tmp", "proc", "sys", "dev", "etc"] {
        std::fs::create_dir_all(base.join(d)).unwrap();
    }
    std::fs::create_dir_all(etc.join("etc")).unwrap();
    let listed = Command::new("dpkg")
        .args(["-L", "busybox-static"])
        .output()
        .unwrap();
    let busybox = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .find(|l| l.ends_with("/bin/busybox"))
        .map(PathBuf::from)
        .expect("busybox-static is not installed: run scripts/test-tools.sh");
    std::fs::copy(&busybox, base.join("bin/busybox")).unwrap();
    let applets = Command::new(&busybox).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&applets.stdout).lines() {
        if applet != "busybox" {
            std::os::unix::fs::symlink("busybox", base.join("bin").join(applet)).unwrap();
        }
    }
    std::fs::write(
        etc.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        etc.join("etc/group"),
        "root:x:0:\napp:x:1000:\naudio:x:29:app\n",
    )
    .unwrap();
    vec![etc, base]
}

struct Fixture {
    _tmp: tempfile::TempDir,
    dirs: RuntimeDirs,
    layers: Vec<PathBuf>,
    uids: Vec<String>,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::Builder::new()
            .prefix("kr")
            .tempdir_in("/tmp")
            .unwrap();
        let dirs = RuntimeDirs {
            run: tmp.path().join("run"),
            state: tmp.path().join("state"),
            logs: tmp.path().join("logs"),
            cgroup_parent: format!("/kedge-test-{}-{}", std::process::id(), fastrand::u32(..)),
            shim_binary: PathBuf::from(env!("CARGO_BIN_EXE_kedge")),
        };
        let layers = busybox_layers(tmp.path());
        Fixture {
            _tmp: tmp,
            dirs,
            layers,
            uids: Vec::new(),
        }
    }

    fn sandbox_config(&mut self, name: &str) -> SandboxConfig {
        let uid = format!("{name}-{}", fastrand::u32(..));
        self.uids.push(uid.clone());
        SandboxConfig {
            uid,
            namespace: "default".into(),
            name: name.into(),
            hostname: name.into(),
            resolv_conf: Some("nameserver 10.43.0.10\nsearch default.svc.cluster.local\n".into()),
            ..Default::default()
        }
    }

    fn start(&mut self, name: &str) -> SandboxHandle {
        let config = self.sandbox_config(name);
        PodSandbox::start(&self.dirs, &config).unwrap()
    }

    fn container(&self, name: &str, script: &str) -> ContainerConfig {
        ContainerConfig {
            name: name.into(),
            lower_dirs: self.layers.clone(),
            image: ImageConfig {
                entrypoint: vec!["/bin/sh".into(), "-c".into()],
                cmd: vec![script.into()],
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn cgroups(&self) -> CgroupLayout {
        CgroupLayout::host(&self.dirs.cgroup_parent)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let kernel = LinuxKernel;
        let cgroups = self.cgroups();
        for uid in &self.uids {
            if let Ok(text) = std::fs::read_to_string(self.dirs.shim_file(uid))
                && let Ok(record) = serde_json::from_str::<ShimRecord>(&text)
                && record.is_alive()
            {
                // SAFETY: kill(2) of the shim this test started, identified by pid and start time.
                unsafe { libc::kill(record.pid, libc::SIGKILL) };
                wait_until(Duration::from_secs(10), || !record.is_alive());
            }
            let _ =
                kedge::runtime::shim::sandbox::tear_down(&kernel, &self.dirs, &cgroups, uid, None);
        }
        // The test's cgroup parent, in every hierarchy.
        let parent = self.dirs.cgroup_parent.trim_start_matches('/');
        match cgroups.version {
            CgroupVersion::V2 => {
                let _ = std::fs::remove_dir(Path::new("/sys/fs/cgroup").join(parent));
            }
            CgroupVersion::V1 => {
                for hierarchy in std::fs::read_dir("/sys/fs/cgroup")
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    let _ = std::fs::remove_dir(hierarchy.path().join(parent));
                }
            }
        }
    }
}

fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done()
}

fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}

fn run_to_exit(
    pod: &SandboxHandle,
    config: &ContainerConfig,
) -> kedge::runtime::state::ContainerStatus {
    let id = config.id();
    pod.create_container(config).unwrap();
    pod.start_container(&id).unwrap();
    pod.wait_container(&id).unwrap()
}

#[test]
fn lifecycle_and_exit_codes() {
    if !is_root() {
        return;
    }
    let mut f = Fixture::new();
    let pod = f.start("life");

    let c = f.container("ok", "exit 0");
    let created = pod.create_container(&c).unwrap();
    assert_eq!(created.state, ContainerState::Created);
    let running = pod.start_container(&c.id()).unwrap();
    assert_eq!(running.state, ContainerState::Running);
    assert!(running.started_at.is_some());
    let exited = pod.wait_container(&c.id()).unwrap();
    assert_eq!(exited.state, ContainerState::Exited);
    assert_eq!(exited.exit_code, Some(0));
    assert_eq!(exited.reason.as_deref(), Some("Completed"));
    assert!(exited.finished_at.is_some());
    let err = pod.start_container(&c.id()).unwrap_err().to_string();
    assert!(
        err.contains("cannot start container ok: it is exited"),
        "{err}"
    );

    let status = run_to_exit(&pod, &f.container("three", "exit 3"));
    assert_eq!(
        (status.exit_code, status.reason.as_deref()),
        (Some(3), Some("Error"))
    );

    // A signal from inside the container cannot kill its init (PID 1 of its namespace).
    let status = run_to_exit(&pod, &f.container("immune", "kill -9 $$; exit 4"));
    assert_eq!(status.exit_code, Some(4));

    // A process that handles SIGTERM exits on its own within the grace period.
    let c = f.container(
        "graceful",
        "trap 'exit 0' TERM; echo trapped; while true; do sleep 0.1; done",
    );
    pod.create_container(&c).unwrap();
    let started = pod.start_container(&c.id()).unwrap();
    // Stop only once the handler is in place: a SIGTERM before it is ignored by PID 1.
    assert!(
        wait_until(Duration::from_secs(30), || {
            std::fs::read_to_string(&started.log_path).is_ok_and(|log| log.contains("trapped"))
        }),
        "the container never installed its SIGTERM handler"
    );
    let stopped = pod
        .stop_container(&c.id(), Duration::from_secs(30))
        .unwrap();
    assert_eq!(stopped.exit_code, Some(0));

    // PID 1 ignores SIGTERM without a handler: SIGKILL after the grace period.
    let mut c = f.container("stubborn", "sleep 1000");
    c.image.stop_signal = Some("SIGTERM".into());
    pod.create_container(&c).unwrap();
    pod.start_container(&c.id()).unwrap();
    let stopped = pod.stop_container(&c.id(), Duration::from_secs(1)).unwrap();
    assert_eq!((stopped.exit_code, stopped.signal), (Some(137), Some(9)));

    // The image's user by name, with its groups; a read-only root; a volume.
    let volume = f._tmp.path().join("volume");
    std::fs::create_dir_all(&volume).unwrap();
    let mut c = f.container(
        "ident",
        "id > /data/id; hostname >> /data/id; touch /ro 2>/dev/null || echo ro >> /data/id",
    );
    c.image.user = Some("app".into());
    c.security.read_only_root_filesystem = true;
    c.mounts = vec![VolumeMount {
        host_path: volume.clone(),
        container_path: "/data".into(),
        read_only: false,
    }];
    std::fs::set_permissions(&volume, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let status = run_to_exit(&pod, &c);
    assert_eq!(status.exit_code, Some(0), "{status:?}");
    let id = std::fs::read_to_string(volume.join("id")).unwrap();
    // The kernel sorts supplementary groups.
    assert!(
        id.starts_with("uid=1000(app) gid=1000(app) groups=29(audio),1000(app)"),
        "{id}"
    );
    assert!(id.contains("\nlife\nro\n"), "{id}");

    for name in [
        "ok.0",
        "three.0",
        "immune.0",
        "graceful.0",
        "stubborn.0",
        "ident.0",
    ] {
        pod.remove_container(name).unwrap();
    }
    assert!(pod.status().unwrap().containers.is_empty());
    pod.shutdown(Duration::from_secs(5)).unwrap();
    assert!(!f.dirs.pod_state_dir(&f.uids[0]).exists());
}

#[test]
fn oom_kill_is_reported() {
    if !is_root() {
        return;
    }
    let mut f = Fixture::new();
    let pod = f.start("oom");
    let mut c = f.container("hog", "tail /dev/zero");
    c.resources.memory_limit_bytes = Some(16 << 20);
    let status = run_to_exit(&pod, &c);
    assert_eq!(status.reason.as_deref(), Some("OOMKilled"), "{status:?}");
    assert_eq!(status.exit_code, Some(137));
    pod.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn cgroup_limits_are_applied() {
    if !is_root() {
        return;
    }
    let mut f = Fixture::new();
    let pod = f.start("limits");
    let uid = f.uids[0].clone();
    let mut c = f.container("limited", "sleep 1000");
    c.resources = Resources {
        cpu_request_millis: Some(250),
        cpu_limit_millis: Some(500),
        memory_limit_bytes: Some(64 << 20),
        pids_limit: Some(100),
    };
    pod.create_container(&c).unwrap();
    pod.start_container(&c.id()).unwrap();
    let cgroups = f.cgroups();
    let path = cgroups.container_path(&uid, &c.id());
    let read = |controller: &str, file: &str| {
        std::fs::read_to_string(cgroups.dir(controller, &path).join(file))
            .unwrap_or_else(|e| panic!("{controller}/{file}: {e}"))
            .trim()
            .to_string()
    };
    let inside = |file: &str| {
        let mut session = pod
            .exec(
                &c.id(),
                &["cat".into(), file.into()],
                &ExecOptions::default(),
            )
            .unwrap();
        let (out, _, code) = session.collect().unwrap();
        assert_eq!(code, Some(0), "cat {file}");
        String::from_utf8_lossy(&out).trim().to_string()
    };
    match cgroups.version {
        CgroupVersion::V1 => {
            assert_eq!(read("cpu", "cpu.shares"), "256");
            assert_eq!(read("cpu", "cpu.cfs_quota_us"), "50000");
            assert_eq!(read("cpu", "cpu.cfs_period_us"), "100000");
            assert_eq!(read("memory", "memory.limit_in_bytes"), "67108864");
            assert_eq!(read("pids", "pids.max"), "100");
            // The container sees its own cgroup at /sys/fs/cgroup.
            assert_eq!(
                inside("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
                "67108864"
            );
            assert_eq!(inside("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), "50000");
            assert_eq!(inside("/sys/fs/cgroup/pids/pids.max"), "100");
        }
        CgroupVersion::V2 => {
            assert_eq!(read("", "cpu.max"), "50000 100000");
            assert_eq!(read("", "memory.max"), "67108864");
            assert_eq!(read("", "pids.max"), "100");
            assert_eq!(inside("/sys/fs/cgroup/memory.max"), "67108864");
        }
    }
    pod.shutdown(Duration::from_secs(0)).unwrap();
    assert!(!cgroups.dir("memory", &cgroups.pod_path(&uid)).exists());
}

#[test]
fn exec_with_a_terminal_stdin_and_attach() {
    if !is_root() {
        return;
    }
    let mut f = Fixture::new();
    let pod = f.start("exec");
    let mut c = f.container("main", "while read line; do echo \"got $line\"; done");
    c.stdin = true;
    pod.create_container(&c).unwrap();
    pod.start_container(&c.id()).unwrap();

    // A terminal: the size follows a resize.
    let options = ExecOptions {
        tty: true,
        stdin: true,
        width: 80,
        height: 24,
    };
    let mut shell = pod.exec(&c.id(), &["/bin/sh".into()], &options).unwrap();
    shell
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    shell.resize(123, 45).unwrap();
    shell.send_stdin(b"stty size; tty; exit 5\n").unwrap();
    let (out, _, code) = shell.collect().unwrap();
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains("45 123"), "{out}");
    assert!(out.contains("/dev/pts/"), "{out}");
    assert_eq!(code, Some(5));

    // Pipes: stdin, and stdout and stderr apart.
    let options = ExecOptions {
        stdin: true,
        ..Default::default()
    };
    let mut cat = pod.exec(&c.id(), &["cat".into()], &options).unwrap();
    cat.send_stdin(b"hello through stdin\n").unwrap();
    cat.close_stdin().unwrap();
    let (out, _, code) = cat.collect().unwrap();
    assert_eq!(
        (String::from_utf8_lossy(&out).as_ref(), code),
        ("hello through stdin\n", Some(0))
    );
    let mut both = pod
        .exec(
            &c.id(),
            &[
                "sh".into(),
                "-c".into(),
                "echo out; echo err >&2; exit 7".into(),
            ],
            &ExecOptions::default(),
        )
        .unwrap();
    let (out, err, code) = both.collect().unwrap();
    assert_eq!(
        (out, err, code),
        (b"out\n".to_vec(), b"err\n".to_vec(), Some(7))
    );

    // Attach: the container's stdin and output.
    let mut attached = pod.attach(&c.id(), true).unwrap();
    attached
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    attached.send_stdin(b"ping\n").unwrap();
    match attached.next_event().unwrap() {
        SessionEvent::Stdout(data) => assert_eq!(data, b"got ping\n"),
        other => panic!("{other:?}"),
    }
    attached.close_stdin().unwrap();
    match attached.next_event().unwrap() {
        SessionEvent::Exit(code) => assert_eq!(code, 0),
        other => panic!("{other:?}"),
    }
    let status = pod.wait_container(&c.id()).unwrap();
    assert_eq!(status.exit_code, Some(0));
    let err = pod
        .exec(&c.id(), &["true".into()], &ExecOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("it is exited"), "{err}");
    pod.shutdown(Duration::from_secs(0)).unwrap();
}

#[test]
fn logs_in_cri_format_with_rotation() {
    if !is_root() {
        return;
    }
    let mut f = Fixture::new();
    let mut config = f.sandbox_config("logs");
    config.log_max_size = 2048;
    config.log_max_files = 3;
    let pod = PodSandbox::start(&f.dirs, &config).unwrap();

    let c = f.container("talk", "echo one; echo two >&2; printf partial");
    let status = run_to_exit(&pod, &c);
    assert_eq!(
        status.log_path,
        f.dirs
            .logs
            .join(format!("default_logs_{}", config.uid))
            .join("talk/0.log")
    );
    let text = std::fs::read_to_string(&status.log_path).unwrap();
    let lines: Vec<(String, String, String)> = text
        .lines()
        .map(|l| {
            let (s, t, c) = logs::parse_line(l).unwrap();
            (s.into(), t.into(), c.into())
        })
        .collect();
    assert!(
        lines.contains(&("stdout".into(), "F".into(), "one".into())),
        "{text}"
    );
    assert!(
        lines.contains(&("stderr".into(), "F".into(), "two".into())),
        "{text}"
    );
    assert!(
        lines.contains(&("stdout".into(), "F".into(), "partial".into())),
        "{text}"
    );
    let first = text.lines().next().unwrap();
    assert!(first[..30].parse::<jiff::Timestamp>().is_ok(), "{first}");

    let c = f.container(
        "chatty",
        "i=0; while [ $i -lt 300 ]; do echo line $i; i=$((i+1)); done",
    );
    let status = run_to_exit(&pod, &c);
    let rotated = logs::rotated_files(&status.log_path).unwrap();
    assert_eq!(rotated.len(), 2, "{rotated:?}");
    assert!(std::fs::metadata(&status.log_path).unwrap().len() <= 2048);
    let last = std::fs::read_to_string(&status.log_path).unwrap();
    assert!(last.trim_end().ends_with("stdout F line 299"), "{last}");
    pod.shutdown(Duration::from_secs(0)).unwrap();
}

#[test]
fn containers_survive_the_agent_and_die_with_their_shim() {
    if !is_root() {
        return;
    }
    let mut f = Fixture::new();
    let pod = f.start("survive");
    let uid = pod.uid().to_string();
    let shim = pod.pid;
    let c = f.container("long", "sleep 1000");
    pod.create_container(&c).unwrap();
    let pid = pod.start_container(&c.id()).unwrap().pid.unwrap();
    // The shim is not our child: it was double-forked away.
    let stat = std::fs::read_to_string(format!("/proc/{shim}/stat")).unwrap();
    let ppid: i32 = stat[stat.rfind(')').unwrap() + 2..]
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(ppid, std::process::id() as i32);

    // The agent goes away (its handle is dropped) and comes back: it finds the shim again.
    drop(pod);
    let found = recover(&f.dirs).unwrap();
    assert_eq!(found.len(), 1);
    let RecoveredSandbox::Live(pod) = found.into_iter().next().unwrap() else {
        panic!("the shim should be live");
    };
    assert_eq!(pod.pid, shim);
    let status = pod.status().unwrap();
    assert_eq!(status.containers[0].state, ContainerState::Running);
    assert_eq!(status.containers[0].pid, Some(pid));
    assert!(alive(pid));

    // The shim is killed: its containers die with it and are reported exited.
    // SAFETY: kill(2) of the shim this test started.
    unsafe { libc::kill(shim, libc::SIGKILL) };
    assert!(
        wait_until(Duration::from_secs(10), || !alive(pid)),
        "the container outlived its shim"
    );
    let found = recover(&f.dirs).unwrap();
    let RecoveredSandbox::Dead(dead) = found.into_iter().next().unwrap() else {
        panic!("the shim should be dead");
    };
    assert_eq!(dead.config.uid, uid);
    assert_eq!(dead.containers.len(), 1);
    assert_eq!(dead.containers[0].state, ContainerState::Exited);
    assert_eq!(dead.containers[0].reason.as_deref(), Some("Unknown"));
    dead.clean_up(&LinuxKernel, &f.dirs, &f.cgroups(), true)
        .unwrap();
    assert!(!f.dirs.net_namespace(&uid).exists());
    assert!(recover(&f.dirs).unwrap().is_empty());
}

#[test]
fn a_shim_stopped_by_sigterm_records_its_containers_exits() {
    if !is_root() {
        return;
    }
    let mut f = Fixture::new();
    let pod = f.start("term");
    let c = f.container("long", "sleep 1000");
    pod.create_container(&c).unwrap();
    let pid = pod.start_container(&c.id()).unwrap().pid.unwrap();
    // SAFETY: kill(2) of the shim this test started.
    unsafe { libc::kill(pod.pid, libc::SIGTERM) };
    assert!(wait_until(Duration::from_secs(10), || !alive(pod.pid)));
    assert!(!alive(pid));
    let RecoveredSandbox::Dead(dead) = recover(&f.dirs).unwrap().into_iter().next().unwrap() else {
        panic!("the shim should be dead");
    };
    assert_eq!(dead.containers[0].exit_code, Some(137));
    assert_eq!(dead.containers[0].reason.as_deref(), Some("Error"));
    dead.clean_up(&LinuxKernel, &f.dirs, &f.cgroups(), true)
        .unwrap();
}

#[test]
fn shared_pid_namespace_and_sandbox_files() {
    if !is_root() {
        return;
    }
    let mut f = Fixture::new();
    let mut config = f.sandbox_config("shared");
    config.share_process_namespace = true;
    let pod = PodSandbox::start(&f.dirs, &config).unwrap();
    let a = f.container("a", "sleep 1000");
    pod.create_container(&a).unwrap();
    pod.start_container(&a.id()).unwrap();
    let b = f.container("b", "ps; cat /etc/resolv.conf; hostname");
    let status = run_to_exit(&pod, &b);
    assert_eq!(status.exit_code, Some(0));
    let log = std::fs::read_to_string(&status.log_path).unwrap();
    assert!(log.contains("sleep 1000"), "{log}");
    assert!(log.contains("stdout F nameserver 10.43.0.10"), "{log}");
    assert!(log.contains("stdout F shared"), "{log}");
    pod.shutdown(Duration::from_secs(0)).unwrap();
}

/// After a reboot the run directory is empty and no shim runs: recorded containers are
/// reported exited. (No root needed: nothing is started.)
#[test]
fn state_from_before_a_reboot_is_reported_exited() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = RuntimeDirs {
        run: tmp.path().join("run"),
        state: tmp.path().join("state"),
        logs: tmp.path().join("logs"),
        cgroup_parent: "/kedge-none".into(),
        shim_binary: PathBuf::from("/bin/false"),
    };
    let uid = "rebooted";
    let config = SandboxConfig {
        uid: uid.into(),
        namespace: "default".into(),
        name: "p".into(),
        ..Default::default()
    };
    std::fs::create_dir_all(dirs.container_dir(uid, "app.0")).unwrap();
    std::fs::write(dirs.sandbox_file(uid), serde_json::to_vec(&config).unwrap()).unwrap();
    let record = ShimRecord {
        pid: std::process::id() as i32,
        start_time: 1,
        boot_id: "an-earlier-boot".into(),
    };
    std::fs::write(dirs.shim_file(uid), serde_json::to_vec(&record).unwrap()).unwrap();
    let mut status =
        kedge::runtime::state::ContainerStatus::created("app", 0, "/l/0.log".into(), "t0".into());
    status.started(1234, "t1".into()).unwrap();
    std::fs::write(
        dirs.container_dir(uid, "app.0").join("status.json"),
        serde_json::to_vec(&status).unwrap(),
    )
    .unwrap();
    let found = recover(&dirs).unwrap();
    let RecoveredSandbox::Dead(dead) = &found[0] else {
        panic!("a shim from an earlier boot cannot be live");
    };
    assert_eq!(dead.containers[0].state, ContainerState::Exited);
    assert_eq!(dead.containers[0].exit_code, Some(255));
    assert_eq!(dead.containers[0].reason.as_deref(), Some("Unknown"));
}
