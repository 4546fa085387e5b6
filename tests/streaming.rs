//! Logs, exec, attach and cp through the API server, as root: `kedge server` with its kubelet
//! runs busybox pods from the test image, and every kubectl talks to them — `kubectl logs`
//! with each option, `exec` (exit codes, stderr, stdin), `attach -i`, `cp` both ways and
//! `port-forward` to a busybox httpd.
//!
//! Exec, attach and cp are checked with every kubectl: 1.27–1.29 speak SPDY/3.1, 1.30 and
//! later WebSocket `v5.channel.k8s.io`; port-forward is SPDY, tunnelled in a WebSocket from
//! 1.31. kubectl 1.32 is also run told not to use WebSockets (`KUBECTL_*_WEBSOCKETS=false`,
//! their fallback). The Python client and kube-rs do exec and port-forward over WebSocket
//! channels.
//!
//! Without root this skips, unless `CI` is set: then it fails. Whatever happens, the pods'
//! shims are stopped (by pid, through the runtime's recovery), the pod network removed and
//! the pods' logs deleted.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::node::{Node, is_root};
use common::{Kubectl, kubectls};

/// One busybox container `name` running `script` (busybox has `tar` but no link to it:
/// the scripts make one for `kubectl cp`).
fn container(name: &str, script: &str) -> String {
    format!(
        r#"
  - name: {name}
    image: kedge.test/busybox:1
    imagePullPolicy: IfNotPresent
    command: ["/bin/sh", "-c", {script:?}]"#
    )
}

fn pod(name: &str, restart: &str, extra: &str, containers: &[String]) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec:
  restartPolicy: {restart}
  terminationGracePeriodSeconds: 1
{extra}
  containers:{}
"#,
        containers.concat()
    )
}

/// An HTTP GET of `/` on `port` of this machine's loopback; the answer's body.
fn http_get(port: u16) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default()
}

/// `kubectl port-forward pod/web <local>:8080` until the returned child is killed, once it
/// says it is forwarding.
fn port_forward(node: &Node, kubectl: &Kubectl, local: u16) -> std::process::Child {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(&kubectl.path)
        .args(["port-forward", "pod/web", &format!("{local}:8080")])
        .env("KUBECONFIG", node.cluster.kubeconfig())
        .env("HOME", node.cluster.dir.path())
        .envs(node.env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.starts_with("Forwarding from"), "{first}");
    std::thread::spawn(move || lines.for_each(drop));
    child
}

/// Exec (exit code included) and port-forward with the official Python client, which speaks
/// the WebSocket channel protocol.
const PYTHON: &str = r#"
from kubernetes import client, config
from kubernetes.stream import stream, portforward
config.load_kube_config()
v1 = client.CoreV1Api()
out = stream(v1.connect_get_namespaced_pod_exec, "talk", "default",
             command=["sh", "-c", "echo py-out; echo py-err >&2"],
             stderr=True, stdin=False, stdout=True, tty=False)
assert "py-out" in out and "py-err" in out, out
ws = stream(v1.connect_get_namespaced_pod_exec, "talk", "default", command=["sh", "-c", "exit 4"],
            stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
ws.run_forever(timeout=30)
assert ws.returncode == 4, ws.returncode
pf = portforward(v1.connect_get_namespaced_pod_portforward, "web", "default", ports="8080")
sock = pf.socket(8080)
sock.setblocking(True)
sock.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
data = b""
while True:
    chunk = sock.recv(4096)
    if not chunk:
        break
    data += chunk
sock.close()
assert data.split(b"\r\n\r\n", 1)[1] == b"hello-pf\n", data
assert pf.error(8080) is None, pf.error(8080)
pf.close()
print("python ok")
"#;

fn python_client_available() -> bool {
    let available = Command::new("python3")
        .args(["-c", "import kubernetes"])
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        assert!(
            std::env::var_os("CI").is_none(),
            "the Python client is missing (run scripts/test-tools.sh)"
        );
        eprintln!("skipped the Python client: pip install kubernetes");
    }
    available
}

/// Exec (exit code in the final Status) and port-forward with kube-rs (WebSocket channels).
fn kube_rs_exec_and_port_forward(node: &Node) {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, AttachParams};
    use kube::config::{KubeConfigOptions, Kubeconfig};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let kubeconfig = Kubeconfig::read_from(node.cluster.kubeconfig()).unwrap();
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .unwrap();
        let pods: Api<Pod> = Api::default_namespaced(kube::Client::try_from(config).unwrap());
        let mut process = pods
            .exec(
                "talk",
                ["sh", "-c", "echo kube-rs; exit 6"],
                &AttachParams::default().stderr(false),
            )
            .await
            .unwrap();
        let mut out = String::new();
        process
            .stdout()
            .unwrap()
            .read_to_string(&mut out)
            .await
            .unwrap();
        let status = process.take_status().unwrap().await.unwrap();
        assert_eq!(out, "kube-rs\n");
        assert_eq!(status.reason.as_deref(), Some("NonZeroExitCode"));
        let cause = &status.details.unwrap().causes.unwrap()[0];
        assert_eq!(
            (cause.reason.as_deref(), cause.message.as_deref()),
            (Some("ExitCode"), Some("6"))
        );

        let mut forwarder = pods.portforward("web", &[8080]).await.unwrap();
        let mut stream = forwarder.take_stream(8080).unwrap();
        stream
            .write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.ends_with("\r\n\r\nhello-pf\n"), "{answer}");
        drop(stream);
        forwarder.abort();
    });
}

const WEB: &str =
    "mkdir -p /www; echo hello-pf > /www/index.html; exec /bin/busybox httpd -f -p 8080 -h /www";

const TALK: &str =
    "/bin/busybox ln -s /bin/busybox /bin/tar; echo one; echo two >&2; echo three; exec sleep 3600";

#[test]
fn logs_exec_attach_and_cp_through_the_api_server() {
    if !is_root("streaming") {
        return;
    }
    let mut node = Node::start();
    let manifests = [
        pod("talk", "Always", "", &[container("main", TALK)]),
        pod(
            "duo",
            "Always",
            "",
            &[
                container("a", "echo from-a; exec sleep 3600"),
                container("b", "echo from-b; exec sleep 3600"),
            ],
        ),
        pod("web", "Always", "", &[container("main", WEB)]),
        pod(
            "crash",
            "Always",
            "",
            &[container(
                "main",
                "echo attempt $(cat /proc/uptime); exit 1",
            )],
        ),
    ];
    for manifest in &manifests {
        node.cluster
            .kubectl_with(&node.kubectl, &["apply", "-f", "-"], &[], Some(manifest))
            .ok();
    }
    node.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "pod/talk",
        "pod/duo",
        "--timeout=90s",
    ]);
    node.wait("talk's three lines", || {
        (node.kubectl(&["logs", "talk"]).lines().count() == 3).then_some(())
    });

    // Logs and their options.
    let all = node.kubectl(&["logs", "talk"]);
    let mut lines: Vec<&str> = all.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["one", "three", "two"]);
    assert_eq!(node.kubectl(&["logs", "talk", "--tail=0"]), "");
    assert_eq!(
        node.kubectl(&["logs", "talk", "--tail=1"]).lines().count(),
        1
    );
    let stamped = node.kubectl(&["logs", "talk", "--timestamps"]);
    for line in stamped.lines() {
        let (time, text) = line.split_once(' ').unwrap();
        assert!(time.ends_with('Z') && time.contains('T'), "{line}");
        assert!(["one", "two", "three"].contains(&text), "{line}");
    }
    assert_eq!(node.kubectl(&["logs", "talk", "--limit-bytes=2"]).len(), 2);
    assert_eq!(
        node.kubectl(&["logs", "talk", "--since=1h"])
            .lines()
            .count(),
        3
    );
    assert_eq!(
        node.kubectl(&["logs", "talk", "--since-time=2100-01-01T00:00:00Z"]),
        ""
    );
    // `-f` ends with the container: the last attempt of the crashing pod has ended or will.
    let previous = node.fails(&["logs", "talk", "-p"]);
    assert!(
        previous.contains("previous terminated container \"main\" in pod \"talk\" not found"),
        "{previous}"
    );
    let missing = node.fails(&["logs", "nope"]);
    assert!(missing.contains("pods \"nope\" not found"), "{missing}");
    let raw = node.fails(&["get", "--raw", "/api/v1/namespaces/default/pods/duo/log"]);
    assert!(
        raw.contains("a container name must be specified for pod duo, choose one of: [a b]"),
        "{raw}"
    );
    let both = node.kubectl(&["logs", "duo", "--all-containers"]);
    assert!(both.contains("from-a") && both.contains("from-b"), "{both}");
    let labelled = node.kubectl(&["logs", "-l", "app=duo", "-c", "b"]);
    assert_eq!(labelled, "from-b\n");
    // A container that crashed: its previous attempt's log, and `-f` returns once the
    // current attempt has ended.
    node.wait("the crashing pod to restart", || {
        let count = node.kubectl(&[
            "get",
            "pod",
            "crash",
            "-o",
            "jsonpath={.status.containerStatuses[0].restartCount}",
        ]);
        (count.parse::<u32>().unwrap_or(0) >= 1).then_some(())
    });
    let earlier = node.kubectl(&["logs", "crash", "-p"]);
    assert!(earlier.starts_with("attempt "), "{earlier}");
    let followed = node.kubectl(&["logs", "crash", "-f"]);
    assert!(followed.starts_with("attempt "), "{followed}");

    if python_client_available() {
        let out = node.cluster.run(Path::new("python3"), &["-c", PYTHON]);
        assert_eq!(
            out.code, 0,
            "the Python client: {}{}",
            out.stdout, out.stderr
        );
        assert!(out.stdout.contains("python ok"), "{}", out.stdout);
    }

    kube_rs_exec_and_port_forward(&node);

    // Exec, attach, cp and port-forward with every kubectl.
    let payload: String = (0..2000).map(|i| format!("line {i}\n")).collect();
    let local = node.cluster.dir.path().join("payload.txt");
    std::fs::write(&local, &payload).unwrap();
    let mut runs: Vec<(Kubectl, bool)> = kubectls().into_iter().map(|k| (k, false)).collect();
    // A WebSocket kubectl made to fall back to SPDY.
    if let Some(newer) = runs
        .iter()
        .map(|(k, _)| k.clone())
        .find(|k| k.version == "1.32")
    {
        runs.push((newer, true));
    }
    for (kubectl, fallback) in runs {
        node.env = if fallback {
            &[
                ("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false"),
                ("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false"),
            ]
        } else {
            &[]
        };
        let v = &format!("{}{}", kubectl.version, if fallback { "-spdy" } else { "" });
        let out = node.run(&kubectl, &["exec", "talk", "--", "echo", "hi there"], None);
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (0, "hi there\n"),
            "{v}: {}",
            out.stderr
        );
        let out = node.run(
            &kubectl,
            &[
                "exec",
                "talk",
                "--",
                "sh",
                "-c",
                "echo out; echo err >&2; exit 3",
            ],
            None,
        );
        assert_eq!(out.code, 3, "{v}: {}", out.stderr);
        assert_eq!(out.stdout, "out\n", "{v}");
        assert!(out.stderr.contains("err"), "{v}: {}", out.stderr);
        let out = node.run(
            &kubectl,
            &["exec", "-i", "talk", "--", "cat"],
            Some(&payload),
        );
        assert_eq!(out.code, 0, "{v}: {}", out.stderr);
        assert!(
            out.stdout == payload,
            "{v}: cat returned {} bytes",
            out.stdout.len()
        );

        let remote = format!("talk:/tmp/payload-{v}");
        node.run(&kubectl, &["cp", local.to_str().unwrap(), &remote], None)
            .ok();
        let back = node.cluster.dir.path().join(format!("back-{v}.txt"));
        node.run(&kubectl, &["cp", &remote, back.to_str().unwrap()], None)
            .ok();
        assert!(
            std::fs::read_to_string(&back).unwrap() == payload,
            "{v}: cp"
        );

        let name = format!("reader-{}", v.replace('.', "-"));
        let reader = pod(
            &name,
            "Never",
            "",
            &[format!(
                "{}\n    stdin: true\n    stdinOnce: true",
                container("main", "read x; echo got $x")
            )],
        );
        node.cluster
            .kubectl_with(&node.kubectl, &["apply", "-f", "-"], &[], Some(&reader))
            .ok();
        node.kubectl(&[
            "wait",
            "--for=condition=Ready",
            &format!("pod/{name}"),
            "--timeout=90s",
        ]);
        let out = node.run(&kubectl, &["attach", "-i", &name], Some("hello\n"));
        assert_eq!(out.code, 0, "{v}: {}", out.stderr);
        assert!(out.stdout.contains("got hello"), "{v}: {}", out.stdout);

        // Port-forward: SPDY, tunnelled in a WebSocket from 1.31.
        let local = common::free_port();
        let mut forward = port_forward(&node, &kubectl, local);
        let first = http_get(local);
        let second = http_get(local);
        let _ = forward.kill();
        let _ = forward.wait();
        assert_eq!(
            (first.as_str(), second.as_str()),
            ("hello-pf\n", "hello-pf\n"),
            "{v}"
        );
    }
}
