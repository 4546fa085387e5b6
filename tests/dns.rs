//! Cluster DNS end to end, as root: `kedge server` with its agent answers at `--cluster-dns`
//! (10.43.0.10) for a Deployment's Service, a headless Service and ExternalName Services —
//! asked from a pod with busybox `nslookup` (short, namespaced and fully qualified names
//! through the pod's search path) and from the host with a small UDP/TCP client (SRV, PTR,
//! NXDOMAIN, a deleted Service turning NXDOMAIN). Other names are forwarded to a fake
//! upstream on 127.0.0.77:53, given through `--resolv-conf` (whose nameservers are taken as
//! written, loopback included).
//!
//! Without root this test skips, unless `CI` is set: then it fails. Whatever happens, the
//! pods' shims are stopped (by pid), their logs removed, and the pod network, the fake
//! upstream and the `kedge-dns` link removed.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::node::{Node, is_root};
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};

const DNS: &str = "10.43.0.10:53";
const UPSTREAM: &str = "127.0.0.77:53";
const UPSTREAM_ANSWER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 77);

/// A fake upstream resolver until dropped: names under `example.` have the A record
/// [`UPSTREAM_ANSWER`], others are NXDOMAIN.
struct FakeUpstream {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeUpstream {
    fn start() -> FakeUpstream {
        let socket = UdpSocket::bind(UPSTREAM).expect("binding the fake upstream on 127.0.0.77:53");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buffer = [0u8; 1500];
            while !stopping.load(Ordering::Relaxed) {
                let Ok((n, peer)) = socket.recv_from(&mut buffer) else {
                    continue;
                };
                let Ok(request) = Message::from_vec(&buffer[..n]) else {
                    continue;
                };
                let mut response = Message::response(request.metadata.id, request.metadata.op_code);
                response.add_queries(request.queries.iter().cloned());
                let ours = |q: &Query| q.name().to_ascii().ends_with(".example.");
                if request.queries.first().is_some_and(|q| !ours(q)) {
                    response.metadata.response_code = ResponseCode::NXDomain;
                }
                if let Some(query) = request.queries.first()
                    && ours(query)
                    && query.query_type() == RecordType::A
                {
                    response.add_answer(Record::from_rdata(
                        query.name().clone(),
                        60,
                        RData::A(A(UPSTREAM_ANSWER)),
                    ));
                }
                let _ = socket.send_to(&response.to_vec().unwrap(), peer);
            }
        });
        FakeUpstream {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Asks the cluster DNS one question over UDP (or TCP), retrying while it does not answer.
fn ask(name: &str, qtype: RecordType, tcp: bool) -> Message {
    let mut query = Message::query();
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    let bytes = query.to_vec().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = if tcp {
            ask_tcp(&bytes)
        } else {
            ask_udp(&bytes)
        };
        match answer {
            Ok(answer) => {
                let message = Message::from_vec(&answer).unwrap();
                assert_eq!(message.metadata.id, query.metadata.id);
                return message;
            }
            Err(error) if Instant::now() > deadline => {
                panic!("the cluster DNS did not answer {name} {qtype}: {error}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn ask_udp(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let socket = UdpSocket::bind("0.0.0.0:0")?;
    socket.set_read_timeout(Some(Duration::from_secs(3)))?;
    socket.send_to(bytes, DNS)?;
    let mut buffer = vec![0; 65_535];
    let n = socket.recv(&mut buffer)?;
    buffer.truncate(n);
    Ok(buffer)
}

fn ask_tcp(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let address: SocketAddr = DNS.parse().unwrap();
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(3))?;
    stream.set_read_timeout(Some(Duration::from_secs(3)))?;
    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(bytes);
    stream.write_all(&framed)?;
    let mut length = [0u8; 2];
    stream.read_exact(&mut length)?;
    let mut answer = vec![0; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut answer)?;
    Ok(answer)
}

fn addresses(message: &Message) -> Vec<IpAddr> {
    message
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(A(ip)) => Some(IpAddr::V4(*ip)),
            _ => None,
        })
        .collect()
}

const WORKLOADS: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: kedge.test/busybox:1
        imagePullPolicy: IfNotPresent
        command: ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/etc"]
        ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: web-headless}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{name: http, port: 8080, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: alias}
spec:
  type: ExternalName
  externalName: web.default.svc.cluster.local
---
apiVersion: v1
kind: Service
metadata: {name: outside}
spec:
  type: ExternalName
  externalName: upstream.example
"#;

/// A pod that looks names up through its own resolv.conf with `nslookup`: `lookups` as
/// they are, and `searched` through the resolv.conf's search path the way the C library's
/// resolver applies it to names with fewer than 5 dots (busybox `nslookup` applies the path
/// only to names without a dot, and busybox `wget` cannot resolve in a static build).
fn client_pod(lookups: &[&str], searched: &[&str]) -> String {
    let script: Vec<String> = lookups
        .iter()
        .map(|name| format!("echo \"== {name}\"; /bin/busybox nslookup -type=a {name} 2>&1"))
        .chain(searched.iter().map(|name| {
            format!(
                "echo \"== {name} (searched)\"; for domain in $(/bin/busybox sed -n 's/^search //p' /etc/resolv.conf); do /bin/busybox nslookup -type=a {name}.$domain. 2>&1; done"
            )
        }))
        .collect();
    // busybox nslookup tries every search domain and fails if any is NXDOMAIN: its status
    // says nothing, its output is checked instead.
    let script = format!("cat /etc/resolv.conf; {}; echo done", script.join("; "));
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: client}}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: kedge.test/busybox:1
    imagePullPolicy: IfNotPresent
    command: ["/bin/sh", "-c", {script:?}]
"#
    )
}

#[test]
fn cluster_dns_answers_pods_and_the_host() {
    if !is_root("cluster DNS") {
        return;
    }
    let _upstream = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(&resolv, "nameserver 127.0.0.77\n").unwrap();
    let node = Node::start_with(&["--resolv-conf", resolv.to_str().unwrap()]);

    node.apply(WORKLOADS);
    let cluster_ip: IpAddr = node
        .wait("the web Service's ClusterIP", || {
            Some(node.get("service/web", "{.spec.clusterIP}")).filter(|ip| !ip.is_empty())
        })
        .parse()
        .unwrap();
    let pod_ip: IpAddr = node
        .wait("the web pod to be ready", || {
            let ready = node.get("deployment/web", "{.status.readyReplicas}") == "1";
            let ip = node.get(
                "pods",
                "{.items[?(@.metadata.labels.app==\"web\")].status.podIP}",
            );
            (ready && !ip.is_empty()).then_some(ip)
        })
        .parse()
        .unwrap();

    // From the host: A over UDP and TCP, SRV, PTR, headless, forwarding, NXDOMAIN.
    let web = ask("web.default.svc.cluster.local.", RecordType::A, false);
    assert_eq!(addresses(&web), vec![cluster_ip], "{web:?}");
    assert!(web.metadata.authoritative);
    let web_tcp = ask("web.default.svc.cluster.local.", RecordType::A, true);
    assert_eq!(addresses(&web_tcp), vec![cluster_ip]);
    let aaaa = ask("web.default.svc.cluster.local.", RecordType::AAAA, false);
    assert_eq!(aaaa.metadata.response_code, ResponseCode::NoError);
    assert!(aaaa.answers.is_empty());

    let srv = ask(
        "_http._tcp.web.default.svc.cluster.local.",
        RecordType::SRV,
        false,
    );
    let RData::SRV(record) = &srv.answers.first().expect("an SRV record").data else {
        panic!("an SRV record: {srv:?}");
    };
    assert_eq!(record.port, 80);
    assert_eq!(record.target.to_ascii(), "web.default.svc.cluster.local.");

    let IpAddr::V4(v4) = cluster_ip else {
        panic!("an IPv4 ClusterIP")
    };
    let [a, b, c, d] = v4.octets();
    let ptr = ask(
        &format!("{d}.{c}.{b}.{a}.in-addr.arpa."),
        RecordType::PTR,
        false,
    );
    assert!(
        matches!(&ptr.answers.first().map(|r| &r.data), Some(RData::PTR(p)) if p.0.to_ascii() == "web.default.svc.cluster.local."),
        "{ptr:?}"
    );

    let headless = node.wait("the headless Service to list the pod", || {
        let answer = ask(
            "web-headless.default.svc.cluster.local.",
            RecordType::A,
            false,
        );
        (addresses(&answer) == vec![pod_ip]).then_some(String::new())
    });
    drop(headless);

    let forwarded = ask("upstream.example.", RecordType::A, false);
    assert_eq!(addresses(&forwarded), vec![IpAddr::V4(UPSTREAM_ANSWER)]);
    let outside = ask("outside.default.svc.cluster.local.", RecordType::A, false);
    assert_eq!(
        addresses(&outside),
        vec![IpAddr::V4(UPSTREAM_ANSWER)],
        "{outside:?}"
    );

    let missing = ask("nope.default.svc.cluster.local.", RecordType::A, false);
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
    let namespace = ask("default.svc.cluster.local.", RecordType::A, false);
    assert_eq!(namespace.metadata.response_code, ResponseCode::NoError);

    // From a pod, through its resolv.conf (nameserver 10.43.0.10, the search path).
    node.apply(&client_pod(
        &[
            "web",
            "web.default.svc.cluster.local",
            "web-headless",
            "alias",
        ],
        &["web.default", "web"],
    ));
    let phase = node.wait("the client pod to finish", || {
        let phase = node.get("pod/client", "{.status.phase}");
        (phase == "Succeeded" || phase == "Failed").then_some(phase)
    });
    let uid = node.get("pod/client", "{.metadata.uid}");
    let log = std::fs::read_to_string(format!("/var/log/pods/default_client_{uid}/main/0.log"))
        .expect("the client's CRI log");
    assert_eq!(phase, "Succeeded", "{log}");
    assert!(
        log.contains("can't find web.default.default.svc.cluster.local.: NXDOMAIN"),
        "{log}"
    );
    for name in [
        "web",
        "web.default.svc.cluster.local",
        "alias",
        "web.default (searched)",
    ] {
        let section = log
            .split(&format!("== {name}\n"))
            .nth(1)
            .unwrap_or_default()
            .split("== ")
            .next()
            .unwrap_or_default()
            .to_string();
        assert!(
            section.contains(&format!(" {cluster_ip}\n")),
            "{name} did not resolve to {cluster_ip}:\n{log}"
        );
    }
    assert!(log.contains(&format!(" {pod_ip}\n")), "{log}");

    // A deleted Service stops resolving.
    node.kubectl(&["delete", "service", "web"]);
    node.wait("the deleted Service to be NXDOMAIN", || {
        let answer = ask("web.default.svc.cluster.local.", RecordType::A, false);
        (answer.metadata.response_code == ResponseCode::NXDomain).then_some(String::new())
    });
}

/// `--disable coredns` (k3s's name) leaves the cluster DNS off: once the node's service proxy
/// has programmed the `kubernetes` Service (the DNS starts at the same time), nothing holds
/// the cluster DNS address and nothing answers there.
#[test]
fn disable_coredns_leaves_the_cluster_dns_off() {
    if !is_root("cluster DNS") {
        return;
    }
    let node = Node::start_with(&["--disable", "coredns"]);
    node.wait("the kubernetes Service's rules", || {
        common::node::proxy_table()
            .contains("default/kubernetes/")
            .then_some(())
    });
    let addresses = std::process::Command::new("ip")
        .args(["-4", "-o", "addr", "show"])
        .output()
        .unwrap();
    let addresses = String::from_utf8_lossy(&addresses.stdout);
    assert!(!addresses.contains("10.43.0.10"), "{addresses}");
    let mut query = Message::query();
    query.add_query(Query::query(
        Name::from_ascii("kubernetes.default.svc.cluster.local.").unwrap(),
        RecordType::A,
    ));
    // Nothing may answer as the cluster DNS. Some sandboxes intercept every query to port 53
    // (the one CI runs in answers NXDOMAIN for any address), so an answer from elsewhere is
    // allowed as long as it does not know the cluster's names.
    if let Ok(bytes) = ask_udp(&query.to_vec().unwrap()) {
        let answer = Message::from_vec(&bytes).unwrap();
        assert!(
            answer.answers.is_empty() && answer.metadata.response_code != ResponseCode::NoError,
            "the cluster DNS answered at {DNS} with --disable coredns: {answer:?}"
        );
    }
}
