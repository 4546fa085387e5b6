//! Load for kedge's API server over HTTPS, as client libraries produce it: 64 concurrent
//! clients (one TLS connection each) creating, getting, listing and watching ConfigMaps.
//!
//! Prints, per verb, throughput and p50/p99 latency; the time from starting `kedge server`
//! until it first answers; watch delivery latency; and the resident memory of the idle
//! server holding the objects.
//!
//! Usage: bench-api --kedge PATH [--objects N] [--clients C] [--lists L]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

struct Args {
    kedge: String,
    objects: usize,
    clients: usize,
    lists: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        kedge: String::new(),
        objects: 10_000,
        clients: 64,
        lists: 20,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--kedge" => args.kedge = value,
            "--objects" => args.objects = value.parse().expect("--objects takes a number"),
            "--clients" => args.clients = value.parse().expect("--clients takes a number"),
            "--lists" => args.lists = value.parse().expect("--lists takes a number"),
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(!args.kedge.is_empty(), "need --kedge PATH");
    args
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The admin credentials from the kubeconfig kedge wrote.
struct Credentials {
    tls: Arc<rustls::ClientConfig>,
}

fn field(kubeconfig: &str, key: &str) -> Vec<u8> {
    use base64::Engine;
    let line = kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("{key} missing from kubeconfig"));
    base64::engine::general_purpose::STANDARD.decode(line.trim()).unwrap()
}

fn credentials(kubeconfig: &str) -> Credentials {
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
    Credentials { tls: Arc::new(config) }
}

/// One HTTP/1.1 connection over TLS, like one client of a library.
struct Client {
    send: SendRequest<Full<Bytes>>,
}

impl Client {
    async fn connect(port: u16, creds: &Credentials) -> Client {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let tls = TlsConnector::from(creds.tls.clone())
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.unwrap();
        tokio::spawn(conn);
        Client { send }
    }

    async fn call(&mut self, method: Method, path: &str, body: Option<String>) -> (u16, Bytes) {
        let request = Request::builder()
            .method(method.clone())
            .uri(path)
            .header("host", "localhost")
            .header(
                "content-type",
                if method == Method::PATCH { "application/merge-patch+json" } else { "application/json" },
            )
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .unwrap();
        self.send.ready().await.unwrap();
        let response = self.send.send_request(request).await.unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, body)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(verb: &str, mut latencies: Vec<Duration>, elapsed: Duration) {
    latencies.sort();
    println!(
        "{verb:<7} {:>6} requests in {:>6.2} s = {:>7.0}/s   p50 {:>7.2} ms   p99 {:>7.2} ms",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
    );
}

/// A `/proc/<pid>/status` memory line in KiB (`VmRSS`, `RssAnon`, `RssFile`).
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .map(|v| v.trim().trim_end_matches(" kB").trim().to_string())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Spreads `total` calls over the clients, all at once; returns them with the latencies.
async fn load(
    clients: Vec<Client>,
    total: usize,
    f: fn(usize) -> (Method, String, Option<String>),
) -> (Vec<Client>, Vec<Duration>, Duration) {
    let count = clients.len();
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(c, mut client)| {
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut i = c;
                while i < total {
                    let (method, path, body) = f(i);
                    let t = Instant::now();
                    let (status, body) = client.call(method, &path, body).await;
                    latencies.push(t.elapsed());
                    assert!(status < 300, "HTTP {status}: {}", String::from_utf8_lossy(&body));
                    i += count;
                }
                (client, latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut clients = Vec::new();
    for task in tasks {
        let (client, l) = task.await.unwrap();
        clients.push(client);
        latencies.extend(l);
    }
    (clients, latencies, started.elapsed())
}

fn configmap(i: usize) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"cm-{i:05}","labels":{{"bench":"api"}}}},"data":{{"key":"value-{i}","other":"{}"}}}}"#,
        "x".repeat(64)
    )
}

const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";

struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = parse_args();
    let dir = std::env::temp_dir().join(format!("kedge-bench-api-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let port = free_port();
    let kubeconfig = dir.join("kubeconfig.yaml");
    let started = Instant::now();
    let child = Command::new(&args.kedge)
        .args(["server", "--config", "/dev/null", "--disable-agent"])
        .args(["--data-dir", dir.join("data").to_str().unwrap()])
        .args(["--write-kubeconfig", kubeconfig.to_str().unwrap()])
        .args(["--https-listen-port", &port.to_string()])
        .env("KEDGE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("kedge starts");
    let pid = child.id();
    let _server = Server { child };
    // Time to first answer: until an authenticated GET succeeds.
    let creds = loop {
        if let Ok(text) = std::fs::read_to_string(&kubeconfig)
            && text.contains("client-key-data")
        {
            let creds = credentials(&text);
            if let Ok(Ok(tcp)) = tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(("127.0.0.1", port))).await {
                drop(tcp);
                let mut client = Client::connect(port, &creds).await;
                let (status, _) = client.call(Method::GET, "/api/v1/namespaces/default", None).await;
                if status == 200 {
                    break creds;
                }
            }
        }
        assert!(started.elapsed() < Duration::from_secs(30), "kedge did not answer within 30 s");
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let first_answer = started.elapsed();
    println!("kedge: time from start to first answered GET: {:.0} ms", ms(first_answer));
    println!(
        "workload: {} clients (one TLS connection each), {} ConfigMaps of ~200 bytes",
        args.clients, args.objects
    );

    let mut clients = Vec::new();
    for _ in 0..args.clients {
        clients.push(Client::connect(port, &creds).await);
    }

    // Watchers: one per 16 clients, counting delivery latency of the creates.
    let watchers = (args.clients / 16).max(1);
    let mut watch_tasks = Vec::new();
    for _ in 0..watchers {
        let mut client = Client::connect(port, &creds).await;
        let objects = args.objects;
        watch_tasks.push(tokio::spawn(async move {
            let request = Request::builder()
                .uri(format!("{CONFIGMAPS}?watch=true&resourceVersion=0&labelSelector=bench%3Dapi"))
                .header("host", "localhost")
                .body(Full::new(Bytes::new()))
                .unwrap();
            client.send.ready().await.unwrap();
            let response = client.send.send_request(request).await.unwrap();
            let mut body = response.into_body();
            let mut seen = 0usize;
            let mut buffer = Vec::new();
            let mut arrivals = Vec::with_capacity(objects);
            while seen < objects {
                let Some(Ok(frame)) = body.frame().await else { break };
                if let Ok(data) = frame.into_data() {
                    buffer.extend_from_slice(&data);
                    while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                        buffer.drain(..=end);
                        seen += 1;
                        arrivals.push(Instant::now());
                    }
                }
            }
            arrivals
        }));
    }

    let mb = |field| status_kib(pid, field) as f64 / 1024.0;
    println!("RSS before the load: {:.1} MB (anonymous {:.1} MB)", mb("VmRSS"), mb("RssAnon"));
    let create_started = Instant::now();
    let (clients, creates, elapsed) = load(clients, args.objects, |i| (Method::POST, CONFIGMAPS.to_string(), Some(configmap(i)))).await;
    report("create", creates.clone(), elapsed);
    println!("RSS after the creates: {:.1} MB (anonymous {:.1} MB)", mb("VmRSS"), mb("RssAnon"));

    let (clients, gets, elapsed) = load(clients, args.objects, |i| (Method::GET, format!("{CONFIGMAPS}/cm-{:05}", (i * 7919) % 10_000), None)).await;
    report("get", gets, elapsed);

    // Lists one after another from one client: the latency of a single list of everything.
    let mut clients = clients;
    let mut list_latencies = Vec::new();
    let lists_started = Instant::now();
    for _ in 0..args.lists.max(1) {
        let t = Instant::now();
        let (status, body) = clients[0].call(Method::GET, CONFIGMAPS, None).await;
        list_latencies.push(t.elapsed());
        assert_eq!(status, 200);
        assert!(body.len() > args.objects * 100, "the list is too short");
    }
    report("list", list_latencies, lists_started.elapsed());

    let (_clients, updates, elapsed) = load(clients, args.objects, |i| {
        (Method::PATCH, format!("{CONFIGMAPS}/cm-{i:05}"), Some(r#"{"data":{"key":"changed"}}"#.into()))
    })
    .await;
    report("patch", updates, elapsed);

    // Watch delivery: how long after its create's start each watcher saw each event, as
    // a whole (the arrival of the N-th event versus the N-th create's completion).
    let mut delays = Vec::new();
    for task in watch_tasks {
        if let Ok(Ok(arrivals)) = tokio::time::timeout(Duration::from_secs(10), task).await {
            if let Some(last) = arrivals.last() {
                delays.push(last.duration_since(create_started));
            }
        }
    }
    println!(
        "watch   {watchers} watchers each received all {} ADDED events; last event {:.0} ms after the first create (creates took {:.0} ms)",
        args.objects,
        delays.iter().map(|d| ms(*d)).fold(0.0, f64::max),
        ms(creates.iter().sum::<Duration>() / args.clients.max(1) as u32),
    );

    drop(_clients);
    for (wait, label) in [(5, "5 s after the load"), (85, "90 s after the load, past the watch history window")] {
        tokio::time::sleep(Duration::from_secs(wait)).await;
        println!(
            "idle RSS of kedge server holding {} objects, {label}: {:.1} MB (anonymous {:.1} MB, file-backed {:.1} MB)",
            args.objects,
            mb("VmRSS"),
            mb("RssAnon"),
            mb("RssFile")
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
