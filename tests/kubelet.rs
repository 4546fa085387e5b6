//! The kubelet inside `kedge server`, as root: the server registers itself as a node and runs
//! real pods from the busybox test image (imported from `<data-dir>/agent/images/`), driven
//! by kubectl: a pod that completes, a Deployment reaching Ready, a crash loop backing off,
//! environment and a configMap volume seen in the container's CRI log, graceful deletion, and
//! a restart of `kedge server` that leaves a running pod alone.
//!
//! Without root these tests skip, unless `CI` is set: then they fail. Whatever happens, the
//! pods' shims are stopped (by pid, through the runtime's recovery) and their logs removed.

mod common;

use common::node::{Node, is_root};

fn pod(name: &str, restart: &str, script: &str, extra: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  restartPolicy: {restart}
  terminationGracePeriodSeconds: 30
  containers:
  - name: main
    image: kedge.test/busybox:1
    imagePullPolicy: IfNotPresent
    command: ["/bin/sh", "-c", {script:?}]
{extra}"#
    )
}

#[test]
fn the_server_is_a_node_that_runs_pods() {
    if !is_root("kubelet") {
        return;
    }
    let node = Node::start();
    // Where test pods write through a hostPath volume.
    let written = tempfile::tempdir().unwrap();
    let name = node.wait("the node to be Ready", || {
        let ready = node.get(
            "nodes",
            "{.items[0].metadata.name} {.items[0].status.conditions[?(@.type==\"Ready\")].status}",
        );
        ready
            .ends_with(" True")
            .then(|| ready.split(' ').next().unwrap_or_default().to_string())
    });
    let labels = node.get(&format!("node/{name}"), "{.metadata.labels}");
    assert!(
        labels.contains("\"node-role.kubernetes.io/control-plane\":\"true\""),
        "{labels}"
    );
    assert!(
        labels.contains("\"kubernetes.io/os\":\"linux\""),
        "{labels}"
    );
    assert_eq!(
        node.get(&format!("node/{name}"), "{.status.capacity.pods}"),
        "110"
    );
    let lease = node.kubectl(&[
        "get",
        "lease",
        "-n",
        "kube-node-lease",
        &name,
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]);
    assert_eq!(lease, name);

    // A pod that exits 0, with env (literal, fieldRef, configMapKeyRef, $(VAR)) and a
    // configMap volume, seen in its CRI log.
    node.apply(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {greeting: hello-from-configmap}\n",
    );
    node.apply(&pod(
        "once",
        "Never",
        "echo \"env: $PLAIN $MY_NAME $GREETING $(PLAIN)-expanded\"; echo \"file: $(cat /config/greeting)\"; echo \"ns: $(cat /var/run/secrets/kubernetes.io/serviceaccount/namespace)\"; echo \"k8s: $KUBERNETES_SERVICE_HOST\"",
        r#"    env:
    - {name: PLAIN, value: plain-value}
    - name: MY_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: GREETING
      valueFrom: {configMapKeyRef: {name: settings, key: greeting}}
    volumeMounts: [{name: config, mountPath: /config}]
  volumes: [{name: config, configMap: {name: settings}}]
"#,
    ));
    node.wait("pod once to succeed", || {
        (node.get("pod/once", "{.status.phase}") == "Succeeded").then_some(String::new())
    });
    assert_eq!(
        node.get(
            "pod/once",
            "{.status.containerStatuses[0].state.terminated.exitCode}"
        ),
        "0"
    );
    assert_eq!(
        node.get(
            "pod/once",
            "{.status.containerStatuses[0].state.terminated.reason}"
        ),
        "Completed"
    );
    let uid = node.get("pod/once", "{.metadata.uid}");
    let log = std::fs::read_to_string(format!("/var/log/pods/default_once_{uid}/main/0.log"))
        .expect("the container's CRI log");
    assert!(
        log.contains("stdout F env: plain-value once hello-from-configmap plain-value-expanded"),
        "{log}"
    );
    assert!(log.contains("stdout F file: hello-from-configmap"), "{log}");
    assert!(log.contains("stdout F ns: default"), "{log}");
    assert!(log.contains("stdout F k8s: 10.43.0.1"), "{log}");

    // A Deployment of two replicas on the pod network reaches Ready, each pod with its own
    // IP from the node's podCIDR, serving HTTP that the host reaches.
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
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: kedge.test/busybox:1
        command: ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/etc"]
"#,
    );
    node.wait("the Deployment to be available", || {
        (node.get("deployment/web", "{.status.readyReplicas}") == "2").then_some(String::new())
    });
    let ready = node.get(
        "pods",
        "{.items[*].status.conditions[?(@.type==\"Ready\")].status}",
    );
    assert!(ready.contains("True"), "{ready}");
    let ips = node.wait("both web pods to have an IP", || {
        let ips = node.get(
            "pods",
            "{.items[?(@.metadata.labels.app==\"web\")].status.podIP}",
        );
        (ips.split_whitespace().count() == 2).then_some(ips)
    });
    let ips: Vec<&str> = ips.split_whitespace().collect();
    assert_ne!(ips[0], ips[1]);
    let pod_cidr = node.get(&format!("node/{name}"), "{.spec.podCIDR}");
    for ip in &ips {
        let ip: std::net::Ipv4Addr = ip.parse().unwrap();
        let cidr: ipnet::Ipv4Net = pod_cidr.parse().unwrap();
        assert!(cidr.contains(&ip), "{ip} outside the node's podCIDR {cidr}");
        let served = node.wait(&format!("HTTP from pod {ip}"), || {
            let mut stream = std::net::TcpStream::connect((ip, 8080)).ok()?;
            use std::io::{Read, Write};
            stream.write_all(b"GET /passwd HTTP/1.0\r\n\r\n").ok()?;
            let mut answer = String::new();
            stream.read_to_string(&mut answer).ok()?;
            answer.contains(" 200 OK").then_some(answer)
        });
        assert!(served.contains("root:"), "{served}");
    }

    // A crash loop: restarts counted, then back-off.
    node.apply(&pod("crash", "Always", "echo crashing; exit 3", ""));
    node.wait("pod crash to back off after restarts", || {
        let restarts: u32 = node
            .get("pod/crash", "{.status.containerStatuses[0].restartCount}")
            .parse()
            .unwrap_or(0);
        let reason = node.get(
            "pod/crash",
            "{.status.containerStatuses[0].state.waiting.reason}",
        );
        (restarts >= 2 && reason == "CrashLoopBackOff").then_some(reason)
    });
    assert_eq!(
        node.get(
            "pod/crash",
            "{.status.containerStatuses[0].lastState.terminated.exitCode}"
        ),
        "3"
    );
    assert_eq!(node.get("pod/crash", "{.status.phase}"), "Running");

    // Graceful deletion: the container gets its stop signal and the pod goes.
    let out = written.path().to_str().unwrap().to_string();
    let mount = format!(
        "    volumeMounts: [{{name: out, mountPath: /out}}]\n  volumes: [{{name: out, hostPath: {{path: {out}, type: Directory}}}}]\n"
    );
    node.apply(&pod(
        "graceful",
        "Always",
        "trap 'echo stopped > /out/graceful; exit 0' TERM QUIT; echo started >> /out/graceful-starts; while true; do sleep 1; done",
        &mount,
    ));
    node.wait("pod graceful to run", || {
        (node.get("pod/graceful", "{.status.phase}") == "Running").then_some(String::new())
    });
    node.kubectl(&["delete", "pod", "graceful", "--wait=false"]);
    node.wait("pod graceful to be deleted", || {
        node.cluster
            .kubectl(&node.kubectl, &["get", "pod", "graceful"])
            .stderr
            .contains("NotFound")
            .then_some(String::new())
    });
    assert_eq!(
        std::fs::read_to_string(written.path().join("graceful")).unwrap(),
        "stopped\n"
    );
    let events = node.kubectl(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=graceful",
    ]);
    assert!(events.contains("Stopping container main"), "{events}");

    // Probes: exec readiness and liveness (a failed liveness probe restarts the container),
    // and an httpGet readiness probe against a hostNetwork pod's server.
    node.apply(&pod(
        "probed",
        "Always",
        "sleep 2; touch /tmp/ready; sleep 4; touch /tmp/dead; sleep 1000",
        r#"    readinessProbe:
      exec: {command: [test, -f, /tmp/ready]}
      periodSeconds: 1
    livenessProbe:
      exec: {command: [test, '!', -f, /tmp/dead]}
      periodSeconds: 1
      failureThreshold: 1
"#,
    ));
    node.wait("pod probed to become ready", || {
        (node.get("pod/probed", "{.status.containerStatuses[0].ready}") == "true")
            .then_some(String::new())
    });
    node.wait("pod probed to be restarted by its liveness probe", || {
        let restarts: u32 = node
            .get("pod/probed", "{.status.containerStatuses[0].restartCount}")
            .parse()
            .unwrap_or(0);
        (restarts >= 1).then_some(String::new())
    });
    let events = node.kubectl(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=probed",
    ]);
    assert!(events.contains("Liveness probe failed"), "{events}");
    assert!(
        events.contains("failed liveness probe, will be restarted"),
        "{events}"
    );
    let port = common::free_port();
    node.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: http}}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: kedge.test/busybox:1
    command: ["/bin/busybox", "httpd", "-f", "-p", "127.0.0.1:{port}", "-h", "/etc"]
    readinessProbe:
      httpGet: {{host: 127.0.0.1, port: {port}, path: /passwd}}
      periodSeconds: 1
"#
    ));
    node.wait("pod http to become ready through its httpGet probe", || {
        (node.get("pod/http", "{.status.containerStatuses[0].ready}") == "true")
            .then_some(String::new())
    });
    node.kubectl(&[
        "delete",
        "pod",
        "probed",
        "http",
        "--grace-period=1",
        "--wait=true",
    ]);

    // A restart of kedge server leaves a running pod running.
    node.apply(&pod(
        "survivor",
        "Always",
        "echo started >> /out/survivor-starts; while true; do sleep 1; done",
        &mount,
    ));
    node.wait("pod survivor to be ready", || {
        (node.get(
            "pod/survivor",
            "{.status.conditions[?(@.type==\"Ready\")].status}",
        ) == "True")
            .then_some(String::new())
    });
    let container = node.get("pod/survivor", "{.status.containerStatuses[0].containerID}");
    let mut node = node;
    node.cluster.restart();
    node.wait("the node to renew its lease after the restart", || {
        let renewed = node.kubectl(&[
            "get",
            "lease",
            "-n",
            "kube-node-lease",
            &name,
            "-o",
            "jsonpath={.spec.renewTime}",
        ]);
        (!renewed.is_empty()).then_some(renewed)
    });
    // A change after the restart is seen by the restarted kubelet: the pod's status follows.
    node.kubectl(&["delete", "pod", "once", "--wait=true"]);
    assert_eq!(
        node.get("pod/survivor", "{.status.containerStatuses[0].containerID}"),
        container
    );
    assert_eq!(
        node.get(
            "pod/survivor",
            "{.status.containerStatuses[0].restartCount}"
        ),
        "0"
    );
    assert_eq!(node.get("pod/survivor", "{.status.phase}"), "Running");
    assert_eq!(
        std::fs::read_to_string(written.path().join("survivor-starts")).unwrap(),
        "started\n"
    );
    node.kubectl(&[
        "delete",
        "pod",
        "survivor",
        "crash",
        "--grace-period=1",
        "--wait=true",
    ]);
    node.kubectl(&["delete", "deployment", "web", "--wait=true"]);
    node.wait("every pod to be gone", || {
        node.get("pods", "{.items[*].metadata.name}")
            .is_empty()
            .then_some(String::new())
    });
}
