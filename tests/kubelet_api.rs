//! The kubelet's HTTPS API on 10250, as root: `kedge server` with its kubelet runs a busybox
//! pod; `kubectl get --raw /api/v1/nodes/<node>/proxy/...` reaches the kubelet's `/healthz`,
//! `/pods` and `/containerLogs` through the API server; a direct HTTPS call to 10250 is
//! refused without a client certificate (401) and with the admin's (403), and answered with
//! the API server's kubelet client certificate (`server/tls/client-kube-apiserver.crt`), the
//! kubelet's serving certificate verified against the cluster's server CA.
//!
//! The server runs with `KEDGE_KUBELET_STREAMS=https`, so `kubectl logs`, `exec` and
//! `port-forward` are answered by the kubelet over its HTTPS API (the path of a node whose
//! kubelet is not in process).
//!
//! Run it in a private network namespace (it binds 10250 and builds the pod network). Without
//! root this skips, unless `CI` is set: then it fails. Whatever happens, the pod's shim is
//! stopped (by pid), the pod network removed and the pod's logs deleted.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::node::{Node, is_root};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

const POD: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: logger}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: kedge.test/busybox:1
    imagePullPolicy: IfNotPresent
    command: ["/bin/sh", "-c", "echo first; echo second; echo third; exec sleep 3600"]
---
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: kedge.test/busybox:1
    imagePullPolicy: IfNotPresent
    command: ["/bin/sh", "-c", "mkdir -p /www; echo hello-pf > /www/index.html; exec /bin/busybox httpd -f -p 8080 -h /www"]
"#;

/// An HTTP GET of `/` on `port` of this machine's loopback; the answer's body.
fn http_get(port: u16) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
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
fn port_forward(node: &Node, local: u16) -> std::process::Child {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(&node.kubectl.path)
        .args(["port-forward", "pod/web", &format!("{local}:8080")])
        .env("KUBECONFIG", node.cluster.kubeconfig())
        .env("HOME", node.cluster.dir.path())
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

/// An HTTPS GET of `path` on the kubelet at 127.0.0.1:10250, verifying its certificate
/// against the server CA of `tls`, with the client certificate `client` (a file stem under
/// `tls`) if any: the status code and the body.
fn kubelet_get(tls: &Path, client: Option<&str>, path: &str) -> (u16, String) {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(tls.join("server-ca.crt")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        Some(stem) => {
            let chain = CertificateDer::pem_file_iter(tls.join(format!("{stem}.crt")))
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_file(tls.join(format!("{stem}.key"))).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let socket = TcpStream::connect(("127.0.0.1", 10250)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut stream = rustls::StreamOwned::new(connection, socket);
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:10250\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    // The kubelet closes without close_notify on some paths; what was read is the answer.
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let code = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

#[test]
fn kubelet_api_through_the_api_server_and_directly() {
    if !is_root("kubelet API") {
        return;
    }
    // SAFETY: set before any thread of this test starts; the server inherits it.
    unsafe { std::env::set_var("KEDGE_KUBELET_STREAMS", "https") };
    let node = Node::start();
    node.apply(POD);
    node.wait("pods logger and web running", || {
        (node.get("pod/logger", "{.status.phase}") == "Running"
            && node.get("pod/web", "{.status.phase}") == "Running")
            .then_some(())
    });
    let name = node.get("nodes", "{.items[0].metadata.name}");
    assert!(!name.is_empty());
    assert_eq!(
        node.get(
            &format!("node/{name}"),
            "{.status.daemonEndpoints.kubeletEndpoint.Port}"
        ),
        "10250"
    );

    // Through the API server's nodes/proxy.
    let proxy = format!("/api/v1/nodes/{name}/proxy");
    assert_eq!(
        node.kubectl(&["get", "--raw", &format!("{proxy}/healthz")]),
        "ok"
    );
    let pods: serde_json::Value =
        serde_json::from_str(&node.kubectl(&["get", "--raw", &format!("{proxy}/pods")])).unwrap();
    assert_eq!(pods["kind"], "PodList");
    let names: Vec<&str> = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.pointer("/metadata/name")?.as_str())
        .collect();
    assert!(names.contains(&"logger"), "{names:?}");
    let logs = node.wait("the pod's log through nodes/proxy", || {
        let out = node.kubectl(&[
            "get",
            "--raw",
            &format!("{proxy}/containerLogs/default/logger/app?tailLines=2"),
        ]);
        out.contains("third").then_some(out)
    });
    assert_eq!(logs, "second\nthird\n");
    let missing = node.fails(&[
        "get",
        "--raw",
        &format!("{proxy}/containerLogs/default/nope/app"),
    ]);
    assert!(
        missing.contains("NotFound") || missing.contains("not found"),
        "{missing}"
    );
    let unknown = node.fails(&["get", "--raw", "/api/v1/nodes/no-such-node/proxy/healthz"]);
    assert!(unknown.contains("not found"), "{unknown}");

    // `kubectl logs` answered over the kubelet API (KEDGE_KUBELET_STREAMS=https).
    assert_eq!(node.kubectl(&["logs", "logger", "--tail=1"]), "third\n");
    let timestamps = node.kubectl(&["logs", "logger", "--timestamps", "--limit-bytes=40"]);
    assert!(timestamps.contains("Z first"), "{timestamps}");

    // `kubectl exec` bridged to the kubelet's /exec WebSocket: output, exit code, stdin.
    let out = node.run(
        &node.kubectl,
        &[
            "exec",
            "logger",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
        None,
    );
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (3, "out\n"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("err"), "{}", out.stderr);
    let out = node.run(
        &node.kubectl,
        &["exec", "-i", "logger", "--", "cat"],
        Some("hello\n"),
    );
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "hello\n"),
        "{}",
        out.stderr
    );
    let missing = node.fails(&["exec", "logger", "-c", "nope", "--", "true"]);
    assert!(missing.contains("not valid"), "{missing}");

    // `kubectl port-forward` bridged to the kubelet's /portForward WebSocket.
    let local = common::free_port();
    let mut forward = port_forward(&node, local);
    let first = http_get(local);
    let second = http_get(local);
    let _ = forward.kill();
    let _ = forward.wait();
    assert_eq!(
        (first.as_str(), second.as_str()),
        ("hello-pf\n", "hello-pf\n")
    );

    // Directly on 10250.
    let tls = node.cluster.data_dir().join("server").join("tls");
    let (code, body) = kubelet_get(&tls, None, "/healthz");
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("Unauthorized"), "{body}");
    let (code, body) = kubelet_get(&tls, Some("client-admin"), "/pods");
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains("Forbidden (user=system:admin, verb=get, resource=nodes"),
        "{body}"
    );
    let (code, body) = kubelet_get(&tls, Some("client-kube-apiserver"), "/healthz");
    assert_eq!((code, body.as_str()), (200, "ok"));
    let (code, body) = kubelet_get(&tls, Some("client-kube-apiserver"), "/pods");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"logger\""), "{body}");
    let (code, _) = kubelet_get(&tls, Some("client-kube-apiserver"), "/stats/summary");
    assert_eq!(code, 404);
}
