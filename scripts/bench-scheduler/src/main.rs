//! Scheduler load for kedge, through its HTTPS API as real clients send it: 1,000 nodes
//! (their Leases renewed every 10 s, as kubelets do), 10,000 pods created by 32 clients, and
//! a light simulated kubelet that watches bound pods and marks them Running and Ready.
//!
//! Prints pods scheduled per second, placement quality (pods per node, max − min; whether
//! any node holds more than its allocatable), and the server's CPU time and RSS. Then, if
//! this build has a Deployment controller, the time for a 1,000-replica Deployment to
//! become available.
//!
//! Usage: bench-scheduler --kedge PATH [--nodes N] [--pods P] [--clients C]

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::TlsConnector;

const NODE_CPU_MILLI: u64 = 8000;
const NODE_PODS: usize = 110;
const POD_CPU_MILLI: u64 = 100;
const ZONES: usize = 10;
const DEPLOYMENT_REPLICAS: usize = 1000;

struct Args {
    kedge: String,
    nodes: usize,
    pods: usize,
    clients: usize,
}

fn parse_args() -> Args {
    let mut args = Args { kedge: String::new(), nodes: 1000, pods: 10_000, clients: 32 };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--kedge" => args.kedge = value,
            "--nodes" => args.nodes = value.parse().expect("--nodes takes a number"),
            "--pods" => args.pods = value.parse().expect("--pods takes a number"),
            "--clients" => args.clients = value.parse().expect("--clients takes a number"),
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(!args.kedge.is_empty(), "need --kedge PATH");
    args
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn field(kubeconfig: &str, key: &str) -> Vec<u8> {
    use base64::Engine;
    let line = kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("{key} missing from kubeconfig"));
    base64::engine::general_purpose::STANDARD.decode(line.trim()).unwrap()
}

fn tls_config(kubeconfig: &str) -> Arc<rustls::ClientConfig> {
    let ca = field(kubeconfig, "certificate-authority-data");
    let cert = field(kubeconfig, "client-certificate-data");
    let key = field(kubeconfig, "client-key-data");
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&ca) {
        roots.add(c.unwrap()).unwrap();
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert).map(|c| c.unwrap()).collect();
    let key = PrivateKeyDer::from_pem_slice(&key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    Arc::new(config)
}

/// One HTTP/1.1 connection over TLS.
struct Client {
    send: SendRequest<Full<Bytes>>,
}

impl Client {
    async fn connect(port: u16, tls: &Arc<rustls::ClientConfig>) -> Client {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let tls = TlsConnector::from(tls.clone())
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.unwrap();
        tokio::spawn(conn);
        Client { send }
    }

    async fn call(&mut self, method: Method, path: &str, content_type: &str, body: String) -> (u16, Bytes) {
        self.try_call(method, path, content_type, body).await.expect("the server answers")
    }

    /// `None` once the server has gone away.
    async fn try_call(&mut self, method: Method, path: &str, content_type: &str, body: String) -> Option<(u16, Bytes)> {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost")
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        self.send.ready().await.ok()?;
        let response = self.send.send_request(request).await.ok()?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.ok()?.to_bytes();
        Some((status, body))
    }

    async fn must(&mut self, method: Method, path: &str, content_type: &str, body: String) -> Bytes {
        let (status, body) = self.call(method.clone(), path, content_type, body).await;
        assert!(status < 300, "{method} {path}: HTTP {status}: {}", String::from_utf8_lossy(&body));
        body
    }
}

/// A pool of connections that runs `count` calls made by `f`, `clients` at a time.
async fn run_all<F>(port: u16, tls: &Arc<rustls::ClientConfig>, clients: usize, count: usize, f: F) -> Duration
where
    F: Fn(usize) -> (Method, String, &'static str, String) + Send + Sync + 'static,
{
    let f = Arc::new(f);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients.min(count.max(1)) {
        let f = f.clone();
        let mut client = Client::connect(port, tls).await;
        tasks.push(tokio::spawn(async move {
            let mut i = c;
            while i < count {
                let (method, path, content_type, body) = f(i);
                client.must(method, &path, content_type, body).await;
                i += clients;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    started.elapsed()
}

fn now() -> String {
    // RFC 3339 in UTC without a date library: from the Unix time.
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

fn micro_now() -> String {
    now().replace('Z', ".000000Z")
}

fn node_body(i: usize) -> (String, Value) {
    let name = format!("node-{i:04}");
    let resources = json!({"cpu": format!("{}m", NODE_CPU_MILLI), "memory": "32Gi", "pods": NODE_PODS.to_string(), "ephemeral-storage": "100Gi"});
    let status = json!({
        "capacity": resources, "allocatable": resources,
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
            "message": "kubelet is posting ready status", "lastHeartbeatTime": now(), "lastTransitionTime": now()}],
        "images": [{"names": ["registry.example/bench:1"], "sizeBytes": 50_000_000}],
    });
    let node = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
            "topology.kubernetes.io/zone": format!("zone-{}", i % ZONES)}},
        "status": status,
    });
    (name, node)
}

fn pod_body(i: usize) -> String {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("pod-{i:05}"), "labels": {"app": "bench"}},
        "spec": {"containers": [{"name": "app", "image": "registry.example/bench:1",
            "resources": {"requests": {"cpu": format!("{POD_CPU_MILLI}m"), "memory": "128Mi"}}}],
            "terminationGracePeriodSeconds": 0},
    })
    .to_string()
}

fn running_status() -> String {
    let t = now();
    json!({"status": {"phase": "Running", "startTime": t, "podIP": "10.42.0.2",
        "conditions": [
            {"type": "Initialized", "status": "True", "lastTransitionTime": t},
            {"type": "Ready", "status": "True", "lastTransitionTime": t},
            {"type": "ContainersReady", "status": "True", "lastTransitionTime": t}]}})
    .to_string()
}

/// What the simulated kubelet saw: when each pod was first seen bound, and where.
#[derive(Default)]
struct Bindings {
    bound_at: HashMap<String, (Instant, String)>,
    running: usize,
}

/// Watches bound pods; records each binding and marks the pod Running and Ready through
/// `workers` connections.
async fn kubelet(port: u16, tls: Arc<rustls::ClientConfig>, workers: usize, seen: Arc<Mutex<Bindings>>) {
    let (tx, rx) = mpsc::unbounded_channel::<(String, String)>();
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    for _ in 0..workers {
        let rx = rx.clone();
        let seen = seen.clone();
        let mut client = Client::connect(port, &tls).await;
        tokio::spawn(async move {
            loop {
                let next = rx.lock().await.recv().await;
                let Some((namespace, name)) = next else { return };
                let path = format!("/api/v1/namespaces/{namespace}/pods/{name}/status");
                let Some((status, _)) = client.try_call(Method::PATCH, &path, "application/strategic-merge-patch+json", running_status()).await else { return };
                if status < 300 {
                    seen.lock().unwrap().running += 1;
                }
            }
        });
    }
    let mut client = Client::connect(port, &tls).await;
    let request = Request::builder()
        .uri("/api/v1/pods?watch=true&resourceVersion=0&fieldSelector=spec.nodeName%21%3D")
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap();
    client.send.ready().await.unwrap();
    let response = client.send.send_request(request).await.unwrap();
    let mut body = response.into_body();
    let mut buffer = Vec::new();
    while let Some(Ok(frame)) = body.frame().await {
        let Ok(data) = frame.into_data() else { continue };
        buffer.extend_from_slice(&data);
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            let Ok(event) = serde_json::from_slice::<Value>(&line) else { continue };
            let pod = &event["object"];
            let name = pod["metadata"]["name"].as_str().unwrap_or_default().to_string();
            let namespace = pod["metadata"]["namespace"].as_str().unwrap_or_default().to_string();
            let node = pod["spec"]["nodeName"].as_str().unwrap_or_default().to_string();
            if event["type"] != "ADDED" || node.is_empty() {
                continue;
            }
            let mut s = seen.lock().unwrap();
            if !s.bound_at.contains_key(&name) {
                s.bound_at.insert(name.clone(), (Instant::now(), node));
                let _ = tx.send((namespace, name));
            }
        }
    }
}

/// The server's CPU time (user + system) in seconds, from `/proc/<pid>/stat`.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = [11, 12].iter().filter_map(|i| fields.get(*i)?.parse::<f64>().ok()).sum();
    let hz = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
        .unwrap_or(100.0);
    ticks / hz
}

fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmRSS:").map(|v| v.trim().trim_end_matches(" kB").trim().to_string())))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while !done() {
        if started.elapsed() > limit {
            println!("gave up waiting for {what} after {} s", limit.as_secs());
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = parse_args();
    let dir = std::env::temp_dir().join(format!("kedge-bench-scheduler-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let port = free_port();
    let kubeconfig = dir.join("kubeconfig.yaml");
    let server = start_server(&args.kedge, &dir, port, &[]);
    let pid = server.child.id();
    let started = Instant::now();
    let tls = loop {
        if let Ok(text) = std::fs::read_to_string(&kubeconfig)
            && text.contains("client-key-data")
            && TcpStream::connect(("127.0.0.1", port)).await.is_ok()
        {
            break tls_config(&text);
        }
        assert!(started.elapsed() < Duration::from_secs(30), "kedge did not start within 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    println!("workload: {} nodes ({} zones, {}m CPU, {} pods each), {} pods of {}m CPU, {} client connections",
        args.nodes, ZONES, NODE_CPU_MILLI, NODE_PODS, args.pods, POD_CPU_MILLI, args.clients);

    // Nodes, their status, their Leases.
    let nodes = args.nodes;
    let elapsed = run_all(port, &tls, args.clients, nodes, |i| {
        let (_, node) = node_body(i);
        (Method::POST, "/api/v1/nodes".into(), "application/json", node.to_string())
    })
    .await;
    run_all(port, &tls, args.clients, nodes, |i| {
        let (name, node) = node_body(i);
        (Method::PATCH, format!("/api/v1/nodes/{name}/status"), "application/merge-patch+json", json!({"status": node["status"]}).to_string())
    })
    .await;
    let lease = |i: usize| {
        let name = format!("node-{i:04}");
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": micro_now()}})
        .to_string()
    };
    run_all(port, &tls, args.clients, nodes, move |i| {
        (Method::POST, "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases".into(), "application/json", lease(i))
    })
    .await;
    println!("created {nodes} nodes with status and Leases in {:.1} s", elapsed.as_secs_f64());
    renew_leases(port, &tls, nodes).await;

    let seen = Arc::new(Mutex::new(Bindings::default()));
    tokio::spawn(kubelet(port, tls.clone(), 8, seen.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Pods.
    let cpu_before = cpu_seconds(pid);
    let create_started = Instant::now();
    let created = run_all(port, &tls, args.clients, args.pods, |i| {
        (Method::POST, "/api/v1/namespaces/default/pods".into(), "application/json", pod_body(i))
    })
    .await;
    println!("created {} pods in {:.2} s = {:.0} pods/s", args.pods, created.as_secs_f64(), args.pods as f64 / created.as_secs_f64());
    let total = args.pods;
    let all_bound = wait_until("every pod to be bound", Duration::from_secs(600), || seen.lock().unwrap().bound_at.len() >= total).await;
    let cpu_after = cpu_seconds(pid);
    let bindings = std::mem::take(&mut seen.lock().unwrap().bound_at);
    let last = bindings.values().map(|(t, _)| *t).max().unwrap_or(create_started);
    let first = bindings.values().map(|(t, _)| *t).min().unwrap_or(create_started);
    let window = last.duration_since(create_started).as_secs_f64();
    println!(
        "scheduled {} pods in {:.2} s from the first create = {:.0} pods/s (bindings ran from {:.2} s to {:.2} s: {:.0} pods/s while binding){}",
        bindings.len(),
        window,
        bindings.len() as f64 / window,
        first.duration_since(create_started).as_secs_f64(),
        window,
        bindings.len() as f64 / last.duration_since(first).as_secs_f64().max(0.001),
        if all_bound { "" } else { " — NOT ALL BOUND" }
    );
    // Throughput per second of the run, as upstream's SchedulingThroughput samples it.
    let mut per_second: Vec<usize> = vec![0; window.ceil() as usize + 1];
    for (t, _) in bindings.values() {
        per_second[t.duration_since(create_started).as_secs() as usize] += 1;
    }
    per_second.retain(|n| *n > 0);
    per_second.sort();
    if !per_second.is_empty() {
        println!(
            "pods bound per second: median {} max {} (over {} seconds with bindings)",
            per_second[per_second.len() / 2],
            per_second[per_second.len() - 1],
            per_second.len()
        );
    }
    let mut per_node: HashMap<&str, usize> = HashMap::new();
    for (_, node) in bindings.values() {
        *per_node.entry(node.as_str()).or_default() += 1;
    }
    let counts: Vec<usize> = (0..nodes).map(|i| per_node.get(format!("node-{i:04}").as_str()).copied().unwrap_or(0)).collect();
    let (min, max) = (counts.iter().min().copied().unwrap_or(0), counts.iter().max().copied().unwrap_or(0));
    let over = counts.iter().filter(|c| **c > NODE_PODS || **c as u64 * POD_CPU_MILLI > NODE_CPU_MILLI).count();
    println!("placement: pods per node min {min} max {max} (spread max-min = {}); nodes over allocatable: {over}", max - min);
    println!(
        "server CPU while scheduling: {:.1} s over {:.1} s = {:.2} cores; RSS {:.0} MB",
        cpu_after - cpu_before,
        window,
        (cpu_after - cpu_before) / window.max(0.001),
        rss_mb(pid)
    );
    let running_done = wait_until("the simulated kubelet", Duration::from_secs(300), || seen.lock().unwrap().running >= total).await;
    println!(
        "simulated kubelet marked {} pods Running and Ready in {:.1} s from the first create{}",
        seen.lock().unwrap().running,
        create_started.elapsed().as_secs_f64(),
        if running_done { "" } else { " (not all)" }
    );
    println!("RSS after {} pods: {:.0} MB", total, rss_mb(pid));

    // The Deployment, if this build has a Deployment controller.
    let mut client = Client::connect(port, &tls).await;
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "bench"},
        "spec": {"replicas": DEPLOYMENT_REPLICAS, "selector": {"matchLabels": {"app": "deploy-bench"}},
            "template": {"metadata": {"labels": {"app": "deploy-bench"}},
                "spec": {"containers": [{"name": "app", "image": "registry.example/bench:1",
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}], "terminationGracePeriodSeconds": 0}}}});
    let deploy_started = Instant::now();
    client.must(Method::POST, "/apis/apps/v1/namespaces/default/deployments", "application/json", deployment.to_string()).await;
    let mut has_controller = false;
    while deploy_started.elapsed() < Duration::from_secs(20) {
        let (_, body) = client.call(Method::GET, "/apis/apps/v1/namespaces/default/replicasets?labelSelector=app%3Ddeploy-bench", "application/json", String::new()).await;
        let list: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if list["items"].as_array().is_some_and(|items| !items.is_empty()) {
            has_controller = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !has_controller {
        println!("deployment of {DEPLOYMENT_REPLICAS} replicas: skipped: no deployment controller in this build");
    } else {
        let mut available = 0;
        while deploy_started.elapsed() < Duration::from_secs(600) {
            let (_, body) = client.call(Method::GET, "/apis/apps/v1/namespaces/default/deployments/bench", "application/json", String::new()).await;
            let d: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            available = d["status"]["availableReplicas"].as_u64().unwrap_or(0) as usize;
            if available >= DEPLOYMENT_REPLICAS {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        println!(
            "deployment of {DEPLOYMENT_REPLICAS} replicas: {available} available after {:.1} s{}",
            deploy_started.elapsed().as_secs_f64(),
            if available >= DEPLOYMENT_REPLICAS { "" } else { " (gave up)" }
        );
    }
    println!("RSS at the end: {:.0} MB", rss_mb(pid));
    drop(client);
    backlog(&args, &dir, port, &tls, server).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The scheduler alone, without the pace of pod creation: `args.pods` more pods are created
/// while the server runs with `--disable-scheduler`, then the server restarts with its
/// scheduler and the time until all of them are bound is measured.
async fn backlog(args: &Args, dir: &std::path::Path, port: u16, tls: &Arc<rustls::ClientConfig>, server: Server) {
    drop(server);
    let held = start_server(&args.kedge, dir, port, &["--disable-scheduler"]);
    wait_ready(port, tls).await;
    renew_leases(port, tls, args.nodes).await;
    run_all(port, tls, args.clients, args.pods, |i| {
        let body = pod_body(i).replace("\"pod-", "\"backlog-");
        (Method::POST, "/api/v1/namespaces/default/pods".into(), "application/json", body)
    })
    .await;
    drop(held);
    let started = Instant::now();
    let server = start_server(&args.kedge, dir, port, &[]);
    wait_ready(port, tls).await;
    renew_leases(port, tls, args.nodes).await;
    let seen = Arc::new(Mutex::new(Bindings::default()));
    tokio::spawn(kubelet(port, tls.clone(), 8, seen.clone()));
    let total = args.pods;
    let count = |seen: &Bindings| seen.bound_at.keys().filter(|n| n.starts_with("backlog-")).count();
    let all = wait_until("the backlog to be bound", Duration::from_secs(600), || count(&seen.lock().unwrap()) >= total).await;
    let seen = seen.lock().unwrap();
    let times: Vec<Instant> = seen.bound_at.iter().filter(|(n, _)| n.starts_with("backlog-")).map(|(_, (t, _))| *t).collect();
    let (Some(first), Some(last)) = (times.iter().min(), times.iter().max()) else {
        println!("backlog: no pod was bound");
        return;
    };
    println!(
        "backlog of {total} pods created without a scheduler: {} bound {:.2} s after the restart, {:.2} s from the first binding to the last = {:.0} pods/s scheduled{}",
        times.len(),
        last.duration_since(started).as_secs_f64(),
        last.duration_since(*first).as_secs_f64(),
        times.len() as f64 / last.duration_since(*first).as_secs_f64().max(0.001),
        if all { "" } else { " — NOT ALL BOUND" }
    );
    drop(server);
}

fn start_server(kedge: &str, dir: &std::path::Path, port: u16, extra: &[&str]) -> Server {
    let child = Command::new(kedge)
        .args(["server", "--config", "/dev/null", "--disable-agent"])
        .args(["--data-dir", dir.join("data").to_str().unwrap()])
        .args(["--write-kubeconfig", dir.join("kubeconfig.yaml").to_str().unwrap()])
        .args(["--https-listen-port", &port.to_string()])
        .args(extra)
        .env("KEDGE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("kedge starts");
    Server { child }
}

async fn wait_ready(port: u16, tls: &Arc<rustls::ClientConfig>) {
    let started = Instant::now();
    loop {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            let mut client = Client::connect(port, tls).await;
            if let Some((200, _)) = client.try_call(Method::GET, "/readyz", "application/json", String::new()).await {
                return;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(30), "kedge did not become ready within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Renews every Lease every 10 s, spread over the period, as 1,000 kubelets would, until
/// the server goes away.
async fn renew_leases(port: u16, tls: &Arc<rustls::ClientConfig>, nodes: usize) {
    let mut client = Client::connect(port, tls).await;
    tokio::spawn(async move {
        let pause = Duration::from_secs(10) / nodes.max(1) as u32;
        loop {
            for i in 0..nodes {
                let body = json!({"spec": {"renewTime": micro_now()}}).to_string();
                let path = format!("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-{i:04}");
                if client.try_call(Method::PATCH, &path, "application/merge-patch+json", body).await.is_none() {
                    return;
                }
                tokio::time::sleep(pause).await;
            }
        }
    });
}
