//! Pod lifecycle features of the kubelet inside `kedge server`, as root, with real pods from
//! the busybox test image: postStart and preStop hooks (exec, httpGet, sleep), with what
//! upstream does when they fail or run long; grpc probes against a real gRPC health server;
//! a pod past its activeDeadlineSeconds; an emptyDir of medium Memory, secret and token volumes in memory; emptyDir sizeLimit
//! eviction; a persistentVolumeClaim bound to a hostPath PV; a node whose data dir's file
//! system fills up reporting DiskPressure, removing an unused image, then evicting the pod
//! that uses the most disk, tainted and refusing new pods until space is freed; the server stopping at once while a pod it
//! is deleting has a long grace period left; service links in the environment;
//! `--kubelet-arg` setting the node's pod capacity, reservations held back from allocatable,
//! and a `pid.available` threshold reporting PIDPressure and evicting a pod.
//!
//! Without root these tests skip, unless `CI` is set: then they fail. Whatever happens, the
//! pods' shims are stopped (by pid, through the runtime's recovery) and their logs removed
//! (the shared harness's Drop).

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use common::node::{Node, is_root};

/// A pod of one container `main` running `script`, with `/out` on `out` and `extra` lines
/// under the container.
fn pod(name: &str, restart: &str, grace: u32, out: &Path, script: &str, extra: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  restartPolicy: {restart}
  terminationGracePeriodSeconds: {grace}
  volumes: [{{name: out, hostPath: {{path: {out}, type: Directory}}}}]
  containers:
  - name: main
    image: kedge.test/busybox:1
    imagePullPolicy: IfNotPresent
    command: ["/bin/sh", "-c", {script:?}]
    volumeMounts: [{{name: out, mountPath: /out}}]
{extra}"#,
        out = out.display()
    )
}

/// A container that writes `term` to `/out/<file>` on its stop signal (the test image's is
/// SIGQUIT) or SIGTERM and exits 0.
fn trapping(file: &str) -> String {
    format!("trap 'echo term >> /out/{file}; exit 0' TERM QUIT; while true; do sleep 0.2; done")
}

/// `reason message` of every event about pod `name`, one a line.
fn events(node: &Node, name: &str) -> String {
    node.kubectl(&[
        "get",
        "events",
        "--field-selector",
        &format!("involvedObject.name={name}"),
        "-o",
        "jsonpath={range .items[*]}{.reason} {.message}{\"\\n\"}{end}",
    ])
}

fn delete(node: &Node, name: &str) {
    node.kubectl(&["delete", "pod", name, "--wait=false"]);
    node.wait(&format!("pod {name} to be deleted"), || {
        node.cluster
            .kubectl(&node.kubectl, &["get", "pod", name])
            .stderr
            .contains("NotFound")
            .then_some(())
    });
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_default()
}

/// An HTTP server on loopback (where the kubelet, in the host's network namespace, sends
/// the hooks' requests) that answers 500 to everything and keeps the request lines.
fn hook_server() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0u8; 2048];
            let n = stream.read(&mut request).unwrap_or(0);
            let text = String::from_utf8_lossy(&request[..n]);
            kept.lock()
                .unwrap()
                .push(text.lines().next().unwrap_or_default().to_string());
            let _ = stream
                .write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
        }
    });
    (port, seen)
}

#[test]
fn lifecycle_hooks_run_around_the_container() {
    if !is_root("pod lifecycle") {
        return;
    }
    let node = Node::start();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path();

    // postStart runs before the container counts as started; preStop runs before SIGTERM.
    node.apply(&pod(
        "exec-hooks",
        "Always",
        30,
        dir,
        &trapping("order"),
        r#"    lifecycle:
      postStart:
        exec: {command: ["/bin/sh", "-c", "sleep 2; echo poststart >> /out/order"]}
      preStop:
        exec: {command: ["/bin/sh", "-c", "echo prestop >> /out/order"]}
"#,
    ));
    node.wait("pod exec-hooks to be running and started", || {
        let status = node.get(
            "pod/exec-hooks",
            "{.status.phase} {.status.containerStatuses[0].started}",
        );
        (status == "Running true").then_some(())
    });
    // Reported running only once the hook had returned.
    assert_eq!(read(dir, "order"), "poststart\n");
    delete(&node, "exec-hooks");
    assert_eq!(read(dir, "order"), "poststart\nprestop\nterm\n");
    // (A FailedScheduling event may come first, while the new node is still tainted
    // not-ready; only a hook's failure counts here.)
    let seen = events(&node, "exec-hooks");
    assert!(
        !seen.contains("FailedPostStartHook") && !seen.contains("FailedPreStopHook"),
        "{seen}"
    );

    // httpGet hooks: any HTTP answer (here 500) is a success.
    let (port, requests) = hook_server();
    node.apply(&pod(
        "http-hooks",
        "Always",
        30,
        dir,
        &trapping("http-order"),
        &format!(
            r#"    lifecycle:
      postStart:
        httpGet: {{host: 127.0.0.1, port: {port}, path: /started}}
      preStop:
        httpGet: {{host: 127.0.0.1, port: {port}, path: stopping}}
"#
        ),
    ));
    node.wait("pod http-hooks to be running", || {
        (node.get("pod/http-hooks", "{.status.phase}") == "Running").then_some(())
    });
    assert_eq!(
        *requests.lock().unwrap(),
        vec!["GET /started HTTP/1.1".to_string()]
    );
    delete(&node, "http-hooks");
    assert_eq!(
        *requests.lock().unwrap(),
        vec![
            "GET /started HTTP/1.1".to_string(),
            "GET /stopping HTTP/1.1".to_string()
        ]
    );
    assert_eq!(read(dir, "http-order"), "term\n");

    // A preStop hook longer than the grace period is cut short: the container is stopped
    // (and the hook with it) when the grace period is used up.
    node.apply(&pod(
        "slow-stop",
        "Always",
        3,
        dir,
        &trapping("slow-term"),
        r#"    lifecycle:
      preStop:
        exec: {command: ["/bin/sh", "-c", "sleep 20; touch /out/late"]}
"#,
    ));
    node.wait("pod slow-stop to be running", || {
        (node.get("pod/slow-stop", "{.status.phase}") == "Running").then_some(())
    });
    delete(&node, "slow-stop");
    assert_eq!(read(dir, "slow-term"), "term\n");
    assert!(
        !dir.join("late").exists(),
        "the preStop hook outlived its pod"
    );

    // The sleep action: SIGTERM comes no earlier than the preStop sleep allows.
    node.apply(&pod(
        "sleep-stop",
        "Always",
        30,
        dir,
        "trap 'date +%s > /out/sleep-term; exit 0' TERM QUIT; while true; do sleep 0.2; done",
        r#"    lifecycle:
      preStop:
        sleep: {seconds: 3}
"#,
    ));
    node.wait("pod sleep-stop to be running", || {
        (node.get("pod/sleep-stop", "{.status.phase}") == "Running").then_some(())
    });
    let asked = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    delete(&node, "sleep-stop");
    let termed: u64 = read(dir, "sleep-term").trim().parse().unwrap();
    assert!(
        termed >= asked + 2,
        "SIGTERM at {termed}, deletion asked at {asked}: the preStop sleep did not hold it"
    );

    // A failing postStart kills the container: FailedPostStartHook, and with
    // restartPolicy Never the pod fails (sh as PID 1 ignores SIGTERM: it is killed).
    node.apply(&pod(
        "bad-start",
        "Never",
        2,
        dir,
        "while true; do sleep 0.2; done",
        r#"    lifecycle:
      postStart:
        exec: {command: ["/bin/sh", "-c", "exit 7"]}
"#,
    ));
    node.wait("pod bad-start to fail", || {
        (node.get("pod/bad-start", "{.status.phase}") == "Failed").then_some(())
    });
    assert_eq!(
        node.get(
            "pod/bad-start",
            "{.status.containerStatuses[0].state.terminated.exitCode}"
        ),
        "137"
    );
    let seen = events(&node, "bad-start");
    assert!(
        seen.contains("FailedPostStartHook PostStartHook failed"),
        "{seen}"
    );
    assert!(seen.contains("Killing FailedPostStartHook"), "{seen}");

    // With restartPolicy Always it is restarted, and waits with the hook's error or in
    // back-off, never ready.
    node.apply(&pod(
        "bad-start-again",
        "Always",
        2,
        dir,
        &trapping("again"),
        r#"    lifecycle:
      postStart:
        exec: {command: ["/bin/sh", "-c", "exit 7"]}
"#,
    ));
    node.wait("pod bad-start-again to be restarted", || {
        let status = node.get(
            "pod/bad-start-again",
            "{.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].state.waiting.reason} {.status.containerStatuses[0].ready}",
        );
        (status.starts_with("1 ") || status.starts_with("2 ")).then_some(status)
    });
    let status = node.get(
        "pod/bad-start-again",
        "{.status.containerStatuses[0].state.waiting.reason}",
    );
    assert!(
        status == "PostStartHookError" || status == "CrashLoopBackOff",
        "{status}"
    );
    assert_eq!(
        node.get(
            "pod/bad-start-again",
            "{.status.containerStatuses[0].ready}"
        ),
        "false"
    );
}

/// A gRPC server of the standard health service (`grpc.health.v1.Health/Check`) over
/// HTTP/2 cleartext on every address of the test's network namespace, written against the
/// protocol, not against the kubelet's client: it answers `status` for the service
/// `kedge.test` and SERVING for any other, and keeps the service names it was asked for.
fn health_server(status: Arc<AtomicU8>) -> (u16, Arc<Mutex<Vec<String>>>) {
    use http_body_util::{BodyExt, StreamBody};
    use hyper::body::{Bytes, Frame, Incoming};
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let listener = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let kept = asked.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((stream, _)) = listener.accept().await {
                let (status, kept) = (status.clone(), kept.clone());
                let service =
                    hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                        let (status, kept) = (status.clone(), kept.clone());
                        async move {
                            let path = request.uri().path().to_string();
                            let body = request.into_body().collect().await?.to_bytes();
                            // [flag, len u32][0x0a, len, service...] (short names only).
                            let name = if body.len() > 7 && body[5] == 0x0a {
                                String::from_utf8_lossy(&body[7..7 + body[6] as usize]).into_owned()
                            } else {
                                String::new()
                            };
                            kept.lock().unwrap().push(name.clone());
                            let mut trailers = hyper::HeaderMap::new();
                            let mut frames = Vec::new();
                            if path == "/grpc.health.v1.Health/Check" {
                                let serving = if name == "kedge.test" {
                                    status.load(Ordering::SeqCst)
                                } else {
                                    1
                                };
                                frames.push(Frame::data(Bytes::from(vec![
                                    0, 0, 0, 0, 2, 0x08, serving,
                                ])));
                                trailers.insert("grpc-status", "0".parse().unwrap());
                            } else {
                                trailers.insert("grpc-status", "12".parse().unwrap());
                            }
                            frames.push(Frame::trailers(trailers));
                            let body = StreamBody::new(futures::stream::iter(
                                frames.into_iter().map(Ok::<_, std::convert::Infallible>),
                            ));
                            let mut response = hyper::Response::new(body);
                            response
                                .headers_mut()
                                .insert("content-type", "application/grpc".parse().unwrap());
                            Ok::<_, hyper::Error>(response)
                        }
                    });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    (port, asked)
}

#[test]
fn grpc_probes_check_a_real_health_server() {
    if !is_root("pod lifecycle") {
        return;
    }
    let node = Node::start();
    let status = Arc::new(AtomicU8::new(1));
    let (port, asked) = health_server(status.clone());
    // A hostNetwork pod: its IP is the node's, where the test's server listens.
    node.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: grpc}}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: kedge.test/busybox:1
    command: ["/bin/sh", "-c", "while true; do sleep 1; done"]
    readinessProbe:
      grpc: {{port: {port}, service: kedge.test}}
      periodSeconds: 1
      failureThreshold: 1
    livenessProbe:
      grpc: {{port: {port}}}
      periodSeconds: 1
"#
    ));
    let ready = |want: &str| {
        node.wait(&format!("pod grpc to have ready={want}"), || {
            (node.get("pod/grpc", "{.status.containerStatuses[0].ready}") == want).then_some(())
        })
    };
    ready("true");
    status.store(2, Ordering::SeqCst);
    ready("false");
    let seen = events(&node, "grpc");
    assert!(
        seen.contains(
            r#"Unhealthy Readiness probe failed: service unhealthy (responded with "NOT_SERVING")"#
        ),
        "{seen}"
    );
    status.store(1, Ordering::SeqCst);
    ready("true");
    assert!(!seen.contains("Liveness probe failed"), "{seen}");
    assert_eq!(
        node.get("pod/grpc", "{.status.containerStatuses[0].restartCount}"),
        "0"
    );
    let asked = asked.lock().unwrap().clone();
    assert!(asked.contains(&"kedge.test".to_string()), "{asked:?}");
    assert!(asked.contains(&String::new()), "{asked:?}");
    node.kubectl(&["delete", "pod", "grpc", "--wait=true"]);
}

#[test]
fn a_pod_past_its_active_deadline_fails() {
    if !is_root("pod lifecycle") {
        return;
    }
    let node = Node::start();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path();
    let manifest = pod("deadline", "Always", 30, dir, &trapping("deadline"), "").replace(
        "  restartPolicy:",
        "  activeDeadlineSeconds: 3\n  restartPolicy:",
    );
    node.apply(&manifest);
    node.wait("pod deadline to fail", || {
        (node.get("pod/deadline", "{.status.phase}") == "Failed").then_some(())
    });
    assert_eq!(
        node.get("pod/deadline", "{.status.reason}|{.status.message}"),
        "DeadlineExceeded|Pod was active on the node longer than the specified deadline"
    );
    // Its container got its stop signal and stays stopped, whatever the restartPolicy.
    node.wait("the container of pod deadline to stop", || {
        (!node
            .get(
                "pod/deadline",
                "{.status.containerStatuses[0].state.terminated.exitCode}",
            )
            .is_empty())
        .then_some(())
    });
    assert_eq!(read(dir, "deadline"), "term\n");
    assert_eq!(
        node.get(
            "pod/deadline",
            "{.status.containerStatuses[0].state.terminated.exitCode} {.status.containerStatuses[0].restartCount}"
        ),
        "0 0"
    );
    let seen = events(&node, "deadline");
    assert!(
        seen.contains(
            "DeadlineExceeded Pod was active on the node longer than the specified deadline"
        ),
        "{seen}"
    );

    // As upstream, the pod is Failed as soon as the deadline passes, not once its containers
    // have stopped: this one ignores its stop signals, so it runs out an 8 s grace period.
    let manifest = pod(
        "stubborn",
        "Never",
        8,
        dir,
        "trap '' TERM QUIT; while true; do sleep 0.2; done",
        "",
    )
    .replace(
        "  restartPolicy:",
        "  activeDeadlineSeconds: 2\n  restartPolicy:",
    );
    node.apply(&manifest);
    node.wait("pod stubborn to fail", || {
        (node.get("pod/stubborn", "{.status.phase}") == "Failed").then_some(())
    });
    assert_eq!(
        node.get(
            "pod/stubborn",
            "{.status.reason} running={.status.containerStatuses[0].state.running.startedAt}"
        )
        .split_once("running=")
        .map(|(reason, started)| (reason.trim().to_string(), !started.is_empty())),
        Some(("DeadlineExceeded".to_string(), true)),
        "the pod should be Failed while its container still runs out its grace period"
    );
    // Once the grace period is over the container is killed and its final state reported.
    node.wait("the container of pod stubborn to be killed", || {
        (node.get(
            "pod/stubborn",
            "{.status.containerStatuses[0].state.terminated.exitCode}",
        ) == "137")
            .then_some(())
    });
}

/// The host's mounts under pod `uid`'s volumes: `mount-point fstype options` lines.
fn pod_mounts(uid: &str) -> String {
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&format!("/{uid}/volumes/")))
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn memory_volumes_secrets_and_tokens_are_tmpfs_mounts() {
    if !is_root("pod lifecycle") {
        return;
    }
    let node = Node::start();
    node.apply(
        r#"
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: hunter2}
---
apiVersion: v1
kind: Pod
metadata: {name: memory}
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - {name: cache, emptyDir: {medium: Memory, sizeLimit: 1Mi}}
  - {name: creds, secret: {secretName: creds}}
  containers:
  - name: main
    image: kedge.test/busybox:1
    command: ["/bin/sh", "-c", "printf '#!/bin/sh\\necho ran\\n' > /cache/hello; chmod +x /cache/hello; /cache/hello > /cache/out 2>&1; while true; do sleep 1; done"]
    volumeMounts: [{name: cache, mountPath: /cache}, {name: creds, mountPath: /creds}]
"#,
    );
    node.wait("pod memory to run", || {
        (node.get("pod/memory", "{.status.phase}") == "Running").then_some(())
    });
    let uid = node.get("pod/memory", "{.metadata.uid}");
    let mounts = pod_mounts(&uid);
    assert!(mounts.contains("/volumes/cache tmpfs "), "{mounts}");
    assert!(mounts.contains("size=1024k"), "{mounts}");
    // Secrets and the service-account token are kept in memory, as upstream keeps them.
    assert!(mounts.contains("/volumes/creds tmpfs "), "{mounts}");
    assert!(
        mounts.contains("/volumes/kube-api-access tmpfs "),
        "{mounts}"
    );
    // A program a pod puts in a memory volume runs (upstream mounts it without noexec).
    assert!(!mounts.contains("noexec"), "{mounts}");
    node.wait("the script in the memory volume to run", || {
        let out = node.run(
            &node.kubectl,
            &[
                "exec",
                "memory",
                "--",
                "cat",
                "/cache/out",
                "/creds/password",
            ],
            None,
        );
        (out.code == 0 && out.stdout == "ran\nhunter2").then_some(())
    });
    // Volumes the kubelet writes are read-only in the container, as upstream mounts them.
    let out = node.run(
        &node.kubectl,
        &["exec", "memory", "--", "touch", "/creds/x"],
        None,
    );
    assert!(out.stderr.contains("Read-only file system"), "{out:?}");
    node.kubectl(&["delete", "pod", "memory", "--wait=true"]);
    node.wait("the tmpfs mounts to be unmounted", || {
        pod_mounts(&uid).is_empty().then_some(())
    });
}

#[test]
fn a_pod_over_its_empty_dir_size_limit_is_evicted() {
    if !is_root("pod lifecycle") {
        return;
    }
    let node = Node::start();
    node.apply(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: hoarder}
spec:
  terminationGracePeriodSeconds: 30
  volumes: [{name: scratch, emptyDir: {sizeLimit: 1Mi}}]
  containers:
  - name: main
    image: kedge.test/busybox:1
    command: ["/bin/sh", "-c", "dd if=/dev/zero of=/scratch/big bs=1024 count=2048; while true; do sleep 1; done"]
    volumeMounts: [{name: scratch, mountPath: /scratch}]
"#,
    );
    node.wait("pod hoarder to be evicted", || {
        (node.get("pod/hoarder", "{.status.phase}") == "Failed").then_some(())
    });
    assert_eq!(
        node.get("pod/hoarder", "{.status.reason}|{.status.message}"),
        r#"Evicted|Usage of EmptyDir volume "scratch" exceeds the limit "1Mi"."#
    );
    assert_eq!(
        node.get(
            "pod/hoarder",
            "{.status.conditions[?(@.type==\"DisruptionTarget\")].status} {.status.conditions[?(@.type==\"DisruptionTarget\")].reason}"
        ),
        "True TerminationByKubelet"
    );
    // Killed at once (the pod is reported Failed first): sh as PID 1 ignores the stop signal,
    // so only SIGKILL ends it.
    node.wait("the container of pod hoarder to be killed", || {
        let code = node.get(
            "pod/hoarder",
            "{.status.containerStatuses[0].state.terminated.exitCode}",
        );
        (!code.is_empty()).then_some(code)
    });
    assert_eq!(
        node.get(
            "pod/hoarder",
            "{.status.containerStatuses[0].state.terminated.exitCode}"
        ),
        "137"
    );
    let seen = events(&node, "hoarder");
    assert!(
        seen.contains(r#"Evicted Usage of EmptyDir volume "scratch" exceeds the limit "1Mi"."#),
        "{seen}"
    );
}

#[test]
fn a_claim_bound_to_a_host_path_volume_is_mounted() {
    if !is_root("pod lifecycle") {
        return;
    }
    let node = Node::start();
    let out = tempfile::tempdir().unwrap();
    // No PV binder runs in kedge yet: the claim is bound by hand, as a binder would.
    node.apply(&format!(
        r#"
apiVersion: v1
kind: PersistentVolume
metadata: {{name: disk}}
spec:
  capacity: {{storage: 1Gi}}
  accessModes: [ReadWriteOnce]
  hostPath: {{path: {}, type: Directory}}
"#,
        out.path().display()
    ));
    node.apply(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\nspec:\n  accessModes: [ReadWriteOnce]\n  volumeName: disk\n  resources: {requests: {storage: 1Gi}}\n",
    );
    let uid = node.get("pvc/data", "{.metadata.uid}");
    node.kubectl(&[
        "patch",
        "pv",
        "disk",
        "--type=merge",
        "-p",
        &format!(
            r#"{{"spec":{{"claimRef":{{"namespace":"default","name":"data","uid":"{uid}"}}}}}}"#
        ),
    ]);
    node.kubectl(&[
        "patch",
        "pvc",
        "data",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Bound"}}"#,
    ]);
    node.apply(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: claimer}
spec:
  restartPolicy: Never
  volumes: [{name: data, persistentVolumeClaim: {claimName: data}}]
  containers:
  - name: main
    image: kedge.test/busybox:1
    command: ["/bin/sh", "-c", "echo stored > /data/file"]
    volumeMounts: [{name: data, mountPath: /data}]
"#,
    );
    node.wait("pod claimer to succeed", || {
        (node.get("pod/claimer", "{.status.phase}") == "Succeeded").then_some(())
    });
    assert_eq!(read(out.path(), "file"), "stored\n");
}

#[test]
fn a_node_short_of_disk_is_tainted_and_takes_no_new_pods() {
    if !is_root("pod lifecycle") {
        return;
    }
    // A second build of the test image with a 4 MiB layer more, imported with `kedge images`
    // before the server starts: not pinned (it is not from agent/images), and unused once the
    // air-gap archive takes its name, so under disk pressure it goes before any pod.
    let spare = tempfile::tempdir().unwrap();
    let built = std::process::Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-test-image.sh"))
        .arg(spare.path())
        .args(["--big", "4"])
        .output()
        .unwrap();
    assert!(built.status.success(), "{built:?}");
    let images = |data: &Path| {
        let out = std::process::Command::new(common::kedge_program())
            .args(["images", "ls", "--data-dir"])
            .arg(data)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let mut spare_id = String::new();
    // The data dir on a small tmpfs of its own, which the test then fills.
    let node = Node::start_prepared(&["--kubelet-arg=minimum-image-ttl-duration=0s"], |data| {
        std::fs::create_dir_all(data).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256m", "kedge-test-data"])
            .arg(data)
            .status()
            .unwrap();
        assert!(
            mounted.success(),
            "cannot mount a tmpfs on {}",
            data.display()
        );
        let imported = std::process::Command::new(common::kedge_program())
            .args(["images", "import", "--data-dir"])
            .arg(data)
            .arg(spare.path().join("busybox-docker.tar"))
            .output()
            .unwrap();
        assert!(imported.status.success(), "{imported:?}");
        spare_id = images(data)
            .lines()
            .find(|l| l.starts_with("kedge.test/busybox:1 "))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap()
            .to_string();
        vec![data.to_path_buf()]
    });
    let data = node.cluster.data_dir();
    node.wait("the air-gap archive to take the image's name", || {
        let listed = images(&data);
        (listed.contains(&spare_id)
            && !listed
                .lines()
                .any(|l| l.starts_with("kedge.test/busybox:1 ") && l.contains(&spare_id)))
        .then_some(())
    });
    let condition = |kind: &str| {
        node.get(
            "nodes",
            &format!("{{.items[0].status.conditions[?(@.type==\"{kind}\")].status}}"),
        )
    };
    let tainted = || {
        node.get("nodes", "{.items[0].spec.taints[*].key}")
            .contains("node.kubernetes.io/disk-pressure")
    };
    node.wait("the node to report no disk pressure", || {
        (condition("DiskPressure") == "False").then_some(())
    });
    // Two pods: one that wrote 30 MiB into its emptyDir, one that wrote nothing.
    let out = tempfile::tempdir().unwrap();
    node.apply(&pod(
        "hog",
        "Always",
        0,
        out.path(),
        "dd if=/dev/zero of=/scratch/blob bs=1048576 count=30 2>/dev/null; touch /out/written; sleep 3600",
        "",
    )
    .replace("  volumes: [", "  volumes: [{name: scratch, emptyDir: {}}, ")
    .replace(
        "    volumeMounts: [",
        "    volumeMounts: [{name: scratch, mountPath: /scratch}, ",
    ));
    node.apply(&pod("quiet", "Always", 0, out.path(), "sleep 3600", ""));
    node.wait("the hog to have written", || {
        (out.path().join("written").exists()
            && node.get("pod/quiet", "{.status.phase}") == "Running")
            .then_some(())
    });

    // Leave 10% free: under upstream's 15% threshold for the image file system.
    let fs = rustix::fs::statvfs(&data).unwrap();
    let total = fs.f_blocks * fs.f_frsize;
    let filler = data.join("filler");
    let size = (fs.f_bfree * fs.f_frsize).saturating_sub(total / 10);
    std::fs::write(&filler, vec![0u8; size as usize]).unwrap();
    node.wait("DiskPressure", || {
        (condition("DiskPressure") == "True").then_some(())
    });
    assert_eq!(
        node.get(
            "nodes",
            "{.items[0].status.conditions[?(@.type==\"DiskPressure\")].reason}"
        ),
        "KubeletHasDiskPressure"
    );
    node.wait("the disk-pressure taint", || tainted().then_some(()));
    // Reclaiming comes first: the unused image goes (the pinned ones stay).
    node.wait("the unused image to be removed", || {
        (!images(&data).contains(&spare_id)).then_some(())
    });
    assert!(images(&data).contains("kedge.test/busybox:1"));
    // Node-pressure eviction: the pod using the most disk goes first, killed at once.
    node.wait("the hog to be evicted", || {
        (node.get("pod/hog", "{.status.phase}") == "Failed").then_some(())
    });
    assert_ne!(
        node.get("pod/quiet", "{.status.reason}"),
        "Evicted",
        "the quiet pod went first"
    );
    assert_eq!(node.get("pod/hog", "{.status.reason}"), "Evicted");
    let message = node.get("pod/hog", "{.status.message}");
    assert!(
        message.starts_with("The node was low on resource: ephemeral-storage."),
        "{message}"
    );
    assert!(events(&node, "hog").contains("Evicted The node was low on resource"));
    assert_eq!(
        node.get(
            "pod/hog",
            "{.status.conditions[?(@.type==\"DisruptionTarget\")].reason}"
        ),
        "TerminationByKubelet"
    );
    node.apply(&pod(
        "late",
        "Always",
        0,
        Path::new("/tmp"),
        "sleep 3600",
        "",
    ));
    // (Upstream 1.35 no longer names the taint in the pod's events.)
    node.wait("the pod to be refused for the taint", || {
        events(&node, "late")
            .contains("1 node(s) had untolerated taint(s)")
            .then_some(())
    });
    assert_eq!(node.get("pod/late", "{.spec.nodeName}"), "");

    // Space again: the condition, then the taint, go, and the pod runs.
    std::fs::remove_file(&filler).unwrap();
    node.wait("no disk pressure again", || {
        (condition("DiskPressure") == "False").then_some(())
    });
    node.wait("the taint to go", || (!tainted()).then_some(()));
    node.wait("the pod to run", || {
        (node.get("pod/late", "{.status.phase}") == "Running").then_some(())
    });
}

#[test]
fn the_server_stops_at_once_while_a_pod_uses_its_grace_period() {
    if !is_root("pod lifecycle") {
        return;
    }
    let mut node = Node::start();
    let out = tempfile::tempdir().unwrap();
    node.apply(&pod(
        "stubborn",
        "Always",
        600,
        out.path(),
        "trap '' TERM QUIT; touch /out/started; while true; do sleep 1; done",
        "",
    ));
    node.wait("the stubborn pod to run", || {
        out.path().join("started").exists().then_some(())
    });
    node.kubectl(&["delete", "pod", "stubborn", "--wait=false"]);
    node.wait("the kubelet to be stopping the container", || {
        events(&node, "stubborn").contains("Killing").then_some(())
    });
    // The container has 600 s to stop; the server does not wait for that (its shim does),
    // and stop() fails the test unless the server exits within 10 s of SIGTERM.
    node.cluster.stop();
}

#[test]
fn service_links_are_in_the_environment() {
    if !is_root("pod lifecycle") {
        return;
    }
    let node = Node::start();
    let out = tempfile::tempdir().unwrap();
    // The conformance test's Service (no selector needed: only its cluster IP matters).
    node.apply(
        r#"
apiVersion: v1
kind: Service
metadata: {name: fooservice}
spec:
  ports: [{port: 8765, targetPort: 8080, protocol: TCP}]
"#,
    );
    let ip = node.get("service/fooservice", "{.spec.clusterIP}");
    assert!(!ip.is_empty());
    node.apply(&pod(
        "linked",
        "Always",
        0,
        out.path(),
        "env > /out/linked.tmp; mv /out/linked.tmp /out/linked; sleep 3600",
        "",
    ));
    node.apply(
        &pod(
            "unlinked",
            "Always",
            0,
            out.path(),
            "env > /out/unlinked.tmp; mv /out/unlinked.tmp /out/unlinked; sleep 3600",
            "",
        )
        .replace("spec:\n", "spec:\n  enableServiceLinks: false\n"),
    );
    node.wait("both pods to have written their environment", || {
        (out.path().join("linked").exists() && out.path().join("unlinked").exists()).then_some(())
    });
    let linked = read(out.path(), "linked");
    for line in [
        format!("FOOSERVICE_SERVICE_HOST={ip}"),
        "FOOSERVICE_SERVICE_PORT=8765".to_string(),
        format!("FOOSERVICE_PORT=tcp://{ip}:8765"),
        format!("FOOSERVICE_PORT_8765_TCP=tcp://{ip}:8765"),
        "FOOSERVICE_PORT_8765_TCP_PROTO=tcp".to_string(),
        "FOOSERVICE_PORT_8765_TCP_PORT=8765".to_string(),
        format!("FOOSERVICE_PORT_8765_TCP_ADDR={ip}"),
        "KUBERNETES_SERVICE_PORT_HTTPS=443".to_string(),
    ] {
        assert!(
            linked.lines().any(|l| l == line),
            "{line} missing from:\n{linked}"
        );
    }
    // enableServiceLinks: false keeps only the kubernetes Service's variables.
    let unlinked = read(out.path(), "unlinked");
    assert!(!unlinked.contains("FOOSERVICE_"), "{unlinked}");
    assert!(unlinked.contains("KUBERNETES_SERVICE_HOST="), "{unlinked}");
}

/// A Kubernetes quantity of bytes as the node reports it (`123Ki` or plain bytes).
fn bytes(quantity: &str) -> u64 {
    match quantity.strip_suffix("Ki") {
        Some(ki) => ki.parse::<u64>().unwrap() * 1024,
        None => quantity.parse().unwrap(),
    }
}

#[test]
fn kubelet_args_set_the_pod_capacity_and_reservations() {
    if !is_root("pod lifecycle") {
        return;
    }
    let node = Node::start_with(&[
        "--kubelet-arg=max-pods=2",
        "--kubelet-arg=system-reserved=cpu=100m,memory=256Mi",
        "--kubelet-arg=--kube-reserved=memory=256Mi,ephemeral-storage=1Gi",
        "--kubelet-arg=eviction-hard=memory.available<100Mi",
    ]);
    let status = |path: &str| node.get("nodes", &format!("{{.items[0].status.{path}}}"));
    node.wait("the node's status", || {
        (!status("capacity.pods").is_empty()).then_some(())
    });
    assert_eq!(status("capacity.pods"), "2");
    assert_eq!(status("allocatable.pods"), "2");
    let cpus: u64 = status("capacity.cpu").parse().unwrap();
    assert_eq!(status("allocatable.cpu"), format!("{}m", cpus * 1000 - 100));
    let mib = 1024 * 1024;
    assert_eq!(
        bytes(&status("allocatable.memory")),
        bytes(&status("capacity.memory")) - 512 * mib - 100 * mib
    );
    // No nodefs.available threshold once eviction-hard names only memory.
    assert_eq!(
        bytes(&status("allocatable.ephemeral-storage")),
        bytes(&status("capacity.ephemeral-storage")) - 1024 * mib
    );
    assert_eq!(
        node.get(
            "nodes",
            "{.items[0].status.conditions[?(@.type==\"PIDPressure\")].status}"
        ),
        "False"
    );

    // Two pods fit; the third is refused for the node's pod capacity.
    let out = tempfile::tempdir().unwrap();
    let pods: Vec<String> = ["one", "two", "three"]
        .iter()
        .map(|name| pod(name, "Always", 0, out.path(), "sleep 3600", ""))
        .collect();
    node.apply(&pods.join("\n---\n"));
    node.wait("two pods to run", || {
        let phases = node.get("pods", "{.items[*].status.phase}");
        (phases.matches("Running").count() == 2).then_some(())
    });
    let pending = node.get(
        "pods",
        "{.items[?(@.status.phase==\"Pending\")].metadata.name}",
    );
    assert_eq!(pending.split_whitespace().count(), 1, "{pending}");
    node.wait("the third pod to be refused for the pod capacity", || {
        events(&node, pending.trim())
            .contains("1 Too many pods")
            .then_some(())
    });
}

#[test]
fn a_pid_threshold_reports_pid_pressure_and_evicts_a_pod() {
    if !is_root("pod lifecycle") {
        return;
    }
    // Every process id counts as short: the node is under PID pressure from the start.
    let node = Node::start_with(&["--kubelet-arg=eviction-hard=pid.available<100%"]);
    let condition = |path: &str| {
        node.get(
            "nodes",
            &format!("{{.items[0].status.conditions[?(@.type==\"PIDPressure\")].{path}}}"),
        )
    };
    node.wait("PIDPressure", || {
        (condition("status") == "True").then_some(())
    });
    assert_eq!(condition("reason"), "KubeletHasInsufficientPID");
    node.wait("the pid-pressure taint", || {
        node.get("nodes", "{.items[0].spec.taints[*].key}")
            .contains("node.kubernetes.io/pid-pressure")
            .then_some(())
    });
    let out = tempfile::tempdir().unwrap();
    node.apply(&pod(
        "tolerant",
        "Always",
        0,
        out.path(),
        "sleep 3600",
        "  tolerations: [{key: node.kubernetes.io/pid-pressure, operator: Exists, effect: NoSchedule}]",
    ));
    node.wait("the pod to be evicted", || {
        (node.get("pod/tolerant", "{.status.reason}") == "Evicted").then_some(())
    });
    assert_eq!(node.get("pod/tolerant", "{.status.phase}"), "Failed");
    let message = node.get("pod/tolerant", "{.status.message}");
    assert!(
        message.starts_with("The node was low on resource: pids.")
            && message.contains("processes, request is 0."),
        "{message}"
    );
}
