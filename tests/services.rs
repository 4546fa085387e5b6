//! The service proxy inside `kedge server`, as root: a Deployment of two busybox `httpd` pods,
//! each serving its own hostname, behind Services; a client pod reaches the ClusterIP (load
//! spread over both pods, read from its CRI log), the host reaches the NodePort through the
//! node IP and the LoadBalancer address the ServiceLB writes, a Service without endpoints is
//! refused at once, a pod reaches itself through its Service (hairpin), session affinity keeps
//! a client on one pod, a scaled-down endpoint stops receiving traffic, and a deleted
//! Service's rules leave the table. A pod reaches the API server at
//! `https://kubernetes.default.svc` with its mounted service-account token and CA. A pod's
//! UDP datagrams reach hand-written Endpoints of a Service without a selector.
//!
//! Without root these tests skip, unless `CI` is set: then they fail. Whatever happens, the
//! pods' shims are stopped (by pid), the pod network and the proxy's table removed, and the
//! pods' logs deleted.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::node::{Node, is_root, proxy_table};

/// Runs a pod (restartPolicy Never) with `script`, waits for it to succeed, returns its log.
fn run_pod(node: &Node, name: &str, script: &str) -> String {
    node.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: kedge.test/busybox:1
    imagePullPolicy: IfNotPresent
    command: ["/bin/busybox", "sh", "-c", {script:?}]
"#
    ));
    let pod = format!("pod/{name}");
    let phase = node.wait(&format!("pod {name} to finish"), || {
        let phase = node.get(&pod, "{.status.phase}");
        matches!(phase.as_str(), "Succeeded" | "Failed").then_some(phase)
    });
    let uid = node.get(&pod, "{.metadata.uid}");
    let log = std::fs::read_to_string(format!("/var/log/pods/default_{name}_{uid}/main/0.log"))
        .expect("the client pod's CRI log");
    assert_eq!(phase, "Succeeded", "{log}");
    log
}

fn service_ip(node: &Node, name: &str) -> String {
    let ip = node.get(&format!("service/{name}"), "{.spec.clusterIP}");
    assert!(ip.starts_with("10.43."), "{name}: {ip}");
    ip
}

/// An HTTP GET of `/` from the host; the body, trimmed.
fn http_get(ip: &str, port: u16) -> Option<String> {
    let mut stream = std::net::TcpStream::connect((ip, port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    head.contains(" 200 OK").then(|| body.trim().to_string())
}

/// The hostnames a client's log shows, one per `answer: NAME` line.
fn answers(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| {
            l.split_once("stdout F answer: ")
                .map(|(_, name)| name.to_string())
        })
        .collect()
}

/// A shell function `get IP PORT` printing the last line of an HTTP GET of `/` (the body, or
/// nc's error), with busybox `nc` (the test image's `wget` cannot be used: Debian's static
/// busybox crashes in it).
const GET: &str = "get() { printf 'GET / HTTP/1.0\\r\\n\\r\\n' | /bin/busybox nc -w 5 $1 $2 2>&1 | /bin/busybox tail -n 1; }";

/// A client script: `count` GETs of `ip:port`, each printing `answer: <body>` (or the error).
fn get_loop(ip: &str, port: u16, count: u32) -> String {
    format!(
        "{GET}; for i in $(/bin/busybox seq 1 {count}); do echo \"answer: $(get {ip} {port})\"; done"
    )
}

#[test]
fn services_reach_their_endpoints() {
    if !is_root("service proxy") {
        return;
    }
    let node = Node::start();
    node.apply(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: kedge.test/busybox:1
        command: ["/bin/busybox", "sh", "-c", "mkdir -p /www && /bin/hostname > /www/index.html && exec /bin/busybox httpd -f -p 8080 -h /www"]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: lonely}
spec:
  selector: {app: nobody}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: front}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 8088, targetPort: 8080}]
"#,
    );
    node.wait("the Deployment to be available", || {
        (node.get("deployment/web", "{.status.readyReplicas}") == "2").then_some(())
    });
    let pods = node.wait("both web pods", || {
        let names = node.get(
            "pods",
            "{.items[?(@.metadata.labels.app==\"web\")].metadata.name}",
        );
        let names: Vec<String> = names.split_whitespace().map(String::from).collect();
        (names.len() == 2).then_some(names)
    });
    let web = service_ip(&node, "web");
    node.wait("the Service's rules", || {
        proxy_table()
            .matches("chain ep-default/web/tcp/http__")
            .count()
            .eq(&2)
            .then_some(())
    });

    // A client pod reaches the ClusterIP; both endpoints answer.
    let log = run_pod(&node, "client", &get_loop(&web, 80, 20));
    let seen = answers(&log);
    assert_eq!(seen.len(), 20, "{log}");
    for answer in &seen {
        assert!(pods.contains(answer), "unexpected answer {answer:?}: {log}");
    }
    for pod in &pods {
        assert!(seen.contains(pod), "{pod} never answered: {log}");
    }

    // The host reaches the ClusterIP (output hook) and the NodePort through the node's IP.
    let body = node.wait("the ClusterIP from the host", || http_get(&web, 80));
    assert!(pods.contains(&body), "{body}");
    let node_name = node.get("nodes", "{.items[0].metadata.name}");
    let node_ip = node.get(
        &format!("node/{node_name}"),
        "{.status.addresses[?(@.type==\"InternalIP\")].address}",
    );
    let node_port: u16 = node
        .get("service/web", "{.spec.ports[0].nodePort}")
        .parse()
        .unwrap();
    let body = node.wait("the NodePort from the host", || {
        http_get(&node_ip, node_port)
    });
    assert!(pods.contains(&body), "{body}");

    // The ServiceLB gives the LoadBalancer the node's IP and serves its port there.
    let ingress = node.wait("the LoadBalancer ingress", || {
        let ip = node.get("service/front", "{.status.loadBalancer.ingress[0].ip}");
        (!ip.is_empty()).then_some(ip)
    });
    assert_eq!(ingress, node_ip);
    let body = node.wait("the LoadBalancer from the host", || {
        http_get(&ingress, 8088)
    });
    assert!(pods.contains(&body), "{body}");

    // A Service without endpoints is refused at once (not timed out).
    let lonely = service_ip(&node, "lonely");
    node.wait("the reject rule", || {
        proxy_table().contains(&lonely).then_some(())
    });
    let log = run_pod(&node, "refused", &get_loop(&lonely, 80, 1));
    assert!(log.contains("Connection refused"), "{log}");
    let refused = std::net::TcpStream::connect((lonely.as_str(), 80)).unwrap_err();
    assert_eq!(
        refused.kind(),
        std::io::ErrorKind::ConnectionRefused,
        "{refused}"
    );

    // Hairpin: a pod reaches itself through its own Service.
    node.apply(
        "apiVersion: v1\nkind: Service\nmetadata: {name: hairpin}\nspec:\n  selector: {app: hairpin}\n  ports: [{port: 80, targetPort: 8080}]\n",
    );
    let hairpin = service_ip(&node, "hairpin");
    let log = run_pod(
        &node,
        "hairpin",
        &format!(
            "{GET}; mkdir -p /www && echo self > /www/index.html && /bin/busybox httpd -p 8080 -h /www; for i in $(/bin/busybox seq 1 60); do out=$(get {hairpin} 80); if [ \"$out\" = self ]; then echo \"answer: $out\"; exit 0; fi; sleep 1; done; echo \"$out\"; exit 1"
        ),
    );
    assert_eq!(answers(&log), ["self"], "{log}");

    // Session affinity: a client stays with one endpoint.
    node.apply(
        "apiVersion: v1\nkind: Service\nmetadata: {name: sticky}\nspec:\n  selector: {app: web}\n  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}\n  ports: [{port: 80, targetPort: 8080}]\n",
    );
    let sticky = service_ip(&node, "sticky");
    node.wait("the sticky Service's rules", || {
        proxy_table()
            .contains("affinity-default/sticky/")
            .then_some(())
    });
    let log = run_pod(&node, "sticky-client", &get_loop(&sticky, 80, 10));
    let seen = answers(&log);
    assert_eq!(seen.len(), 10, "{log}");
    assert!(pods.contains(&seen[0]), "{log}");
    assert!(seen.iter().all(|a| *a == seen[0]), "{log}");

    // Endpoint removal: scaled to one pod, only that one answers.
    node.kubectl(&["scale", "deployment/web", "--replicas=1"]);
    let left = node.wait("one web pod left", || {
        let names = node.get(
            "pods",
            "{.items[?(@.metadata.labels.app==\"web\")].metadata.name}",
        );
        let names: Vec<&str> = names.split_whitespace().collect();
        (names.len() == 1).then(|| names[0].to_string())
    });
    node.wait("one endpoint in the rules", || {
        proxy_table()
            .matches("chain ep-default/web/tcp/http__")
            .count()
            .eq(&1)
            .then_some(())
    });
    let log = run_pod(&node, "after", &get_loop(&web, 80, 10));
    assert_eq!(
        answers(&log),
        vec![left; 10],
        "{log}\n{}",
        node.kubectl(&["get", "pods", "-o", "wide"])
    );

    // A deleted Service's rules leave the table.
    node.kubectl(&["delete", "service", "web", "front"]);
    node.wait("the Service's rules to go", || {
        let table = proxy_table();
        (table.contains("table ip kedge-proxy")
            && !table.contains("default/web/")
            && !table.contains(&web))
        .then_some(())
    });
    assert!(proxy_table().contains(&lonely));
}

/// The host's `openssl` and exactly the shared libraries `ldd` lists for it, with the dynamic
/// loader: (host path, file name) pairs. The test image has no TLS client (and its static
/// busybox cannot resolve names), so a pod gets these files by hostPath and runs the client
/// through the loader.
fn tls_client_files() -> Vec<(String, String)> {
    let openssl = ["/usr/bin/openssl", "/bin/openssl"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("the openssl command (apt-get install openssl)");
    let out = std::process::Command::new("ldd")
        .arg(openssl)
        .output()
        .unwrap();
    assert!(out.status.success(), "ldd {openssl} failed");
    let mut files = vec![(openssl.to_string(), "openssl".to_string())];
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // `libssl.so.3 => /lib/…/libssl.so.3 (0x…)` or `/lib64/ld-linux-x86-64.so.2 (0x…)`.
        let path = line
            .split_once("=>")
            .map_or(line, |(_, p)| p)
            .split_whitespace()
            .next()
            .unwrap_or_default();
        if path.starts_with('/') {
            // Mounted under the name the loader looks for, from the file a symlink names.
            let name = path.rsplit('/').next().unwrap().to_string();
            let file = std::fs::canonicalize(path).unwrap();
            files.push((file.to_string_lossy().into_owned(), name));
        }
    }
    assert!(
        files.iter().any(|(_, n)| n.starts_with("ld-linux")),
        "no dynamic loader in the ldd output of {openssl}"
    );
    files
}

#[test]
fn a_pod_reaches_the_api_server_through_kubernetes_default_svc() {
    if !is_root("service proxy") {
        return;
    }
    let files = tls_client_files();
    let node = Node::start();
    let loader = &files
        .iter()
        .find(|(_, n)| n.starts_with("ld-linux"))
        .unwrap()
        .1;
    let (mut volumes, mut mounts) = (String::new(), String::new());
    for (i, (path, name)) in files.iter().enumerate() {
        volumes.push_str(&format!(
            "  - {{name: tls{i}, hostPath: {{path: {path:?}, type: File}}}}\n"
        ));
        mounts.push_str(&format!(
            "    - {{name: tls{i}, mountPath: \"/tls/{name}\", readOnly: true}}\n"
        ));
    }
    // An HTTP GET of the pods with the mounted token, over TLS verified with the mounted CA
    // for the name the pod resolves through the cluster DNS; then one with a wrong token.
    let sa = "/var/run/secrets/kubernetes.io/serviceaccount";
    let host = "kubernetes.default.svc";
    let script = format!(
        "get() {{ printf 'GET /api/v1/namespaces/default/pods HTTP/1.1\\r\\nHost: {host}\\r\\nAuthorization: Bearer %s\\r\\nConnection: close\\r\\n\\r\\n' \"$1\" \
         | /tls/{loader} --library-path /tls /tls/openssl s_client -quiet -verify_return_error \
         -CAfile {sa}/ca.crt -verify_hostname {host} -servername {host} -connect {host}:443 2>&1; }}; \
         for i in $(/bin/busybox seq 1 30); do out=$(get \"$(cat {sa}/token)\"); case \"$out\" in *HTTP/1.1*) break;; esac; sleep 1; done; \
         echo '== token'; echo \"$out\"; echo '== wrong token'; get wrong"
    );
    node.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: api-client}}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  volumes:
{volumes}  containers:
  - name: main
    image: kedge.test/busybox:1
    imagePullPolicy: IfNotPresent
    command: ["/bin/busybox", "sh", "-c", {script:?}]
    volumeMounts:
{mounts}"#
    ));
    let phase = node.wait("pod api-client to finish", || {
        let phase = node.get("pod/api-client", "{.status.phase}");
        matches!(phase.as_str(), "Succeeded" | "Failed").then_some(phase)
    });
    let uid = node.get("pod/api-client", "{.metadata.uid}");
    let log = std::fs::read_to_string(format!("/var/log/pods/default_api-client_{uid}/main/0.log"))
        .expect("the client pod's CRI log");
    let lines: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split_once(" stdout F ").map(|(_, text)| text.trim()))
        .collect();
    assert_eq!(phase, "Succeeded", "{log}");
    let wrong = lines
        .iter()
        .position(|l| *l == "== wrong token")
        .unwrap_or_else(|| panic!("{log}"));
    let (with_token, with_wrong) = lines.split_at(wrong);
    assert!(
        with_token.contains(&"HTTP/1.1 200 OK"),
        "a GET with the service-account token:\n{log}"
    );
    let body = with_token.join("\n");
    assert!(
        body.contains("PodList") && body.contains("\"api-client\""),
        "the pod list holds the pod itself:\n{log}"
    );
    assert!(
        with_wrong.iter().any(|l| l.starts_with("HTTP/1.1 401")),
        "a wrong token is refused:\n{log}"
    );
}

/// A Service without a selector, with Endpoints written by hand (as for a database outside
/// the cluster) pointing at a UDP socket of this test on the node's address: the Endpoints
/// are mirrored into an EndpointSlice, and a pod's datagrams to the ClusterIP reach the
/// socket (busybox has no UDP client but `syslogd -R`, which forwards `logger` lines over
/// UDP).
#[test]
fn a_selectorless_service_carries_udp_to_hand_written_endpoints() {
    if !is_root("service proxy") {
        return;
    }
    let node = Node::start();
    let node_name = node.kubectl(&["get", "nodes", "-o", "jsonpath={.items[0].metadata.name}"]);
    let node_ip = node.get(
        &format!("node/{node_name}"),
        "{.status.addresses[?(@.type==\"InternalIP\")].address}",
    );
    let socket = std::net::UdpSocket::bind((node_ip.as_str(), 0)).expect("a UDP socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let port = socket.local_addr().unwrap().port();
    node.apply(&format!(
        r#"
apiVersion: v1
kind: Service
metadata: {{name: outside}}
spec:
  ports: [{{name: syslog, port: 5514, protocol: UDP}}]
---
apiVersion: v1
kind: Endpoints
metadata: {{name: outside}}
subsets:
- addresses: [{{ip: "{node_ip}"}}]
  ports: [{{name: syslog, port: {port}, protocol: UDP}}]
"#
    ));
    node.wait("the mirrored EndpointSlice", || {
        let address = node.kubectl(&[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=outside",
            "-o",
            "jsonpath={.items[0].endpoints[0].addresses[0]}",
        ]);
        (address == node_ip).then_some(())
    });
    let ip = service_ip(&node, "outside");
    let log = run_pod(
        &node,
        "udp-client",
        &format!(
            "/bin/busybox syslogd -n -R {ip}:5514 & sleep 1; \
             for i in 1 2 3 4 5; do /bin/busybox logger -t kedge udp-through-a-service; sleep 1; done; \
             kill $!"
        ),
    );
    let mut buffer = [0u8; 2048];
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let received = loop {
        if let Ok((n, _)) = socket.recv_from(&mut buffer) {
            let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
            if text.contains("udp-through-a-service") {
                break text;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no datagram through the Service reached {node_ip}:{port}; the pod's log: {log}\n{}",
            proxy_table()
        );
    };
    assert!(received.contains("kedge"), "{received}");
}
