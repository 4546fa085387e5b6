//! The workload controllers (Deployment, ReplicaSet, ReplicationController, StatefulSet,
//! DaemonSet) against a real `kedge server`, driven by real kubectl, with nodes whose kubelet
//! the test plays (`common::node_sim`); the server's scheduler binds the pods.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::node_sim::{FakeNodes, HOLD, Seen, wait_for};
use common::{Cluster, default_kubectl};
use serde_json::Value;

/// Runs kubectl and returns its stdout, failing the test on error.
#[track_caller]
fn kubectl(cluster: &Cluster, args: &[&str]) -> String {
    cluster.kubectl(&default_kubectl(), args).ok().to_string()
}

/// Runs kubectl with `input` on stdin.
#[track_caller]
fn kubectl_in(cluster: &Cluster, args: &[&str], input: &str) -> String {
    cluster
        .kubectl_with(&default_kubectl(), args, &[], Some(input))
        .ok()
        .to_string()
}

/// `kubectl get … -o json`.
#[track_caller]
fn get(cluster: &Cluster, args: &[&str]) -> Value {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    serde_json::from_str(&kubectl(cluster, &all)).unwrap()
}

/// `kubectl get … -o json`, or `None` when kubectl fails (not found).
fn try_get(cluster: &Cluster, args: &[&str]) -> Option<Value> {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    let out = cluster.kubectl(&default_kubectl(), &all);
    (out.code == 0).then(|| serde_json::from_str(&out.stdout).unwrap())
}

fn items(list: &Value) -> Vec<Value> {
    list["items"].as_array().cloned().unwrap_or_default()
}

fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = items(list)
        .iter()
        .map(|i| {
            i["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    names.sort();
    names
}

/// Pods matching `selector` that are not being deleted.
fn live_pods(cluster: &Cluster, selector: &str) -> Vec<Value> {
    items(&get(cluster, &["pods", "-l", selector]))
        .into_iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .collect()
}

fn events(cluster: &Cluster, reason: &str) -> Vec<String> {
    items(&get(
        cluster,
        &["events", "--field-selector", &format!("reason={reason}")],
    ))
    .iter()
    .map(|e| e["message"].as_str().unwrap_or_default().to_string())
    .collect()
}

/// Waits for `kubectl rollout status` to succeed; returns its output.
#[track_caller]
fn rollout_status(cluster: &Cluster, what: &str) -> String {
    let out = cluster.kubectl(
        &default_kubectl(),
        &["rollout", "status", what, "--timeout=90s"],
    );
    assert_eq!(
        out.code, 0,
        "rollout status {what} failed: {}{}",
        out.stdout, out.stderr
    );
    out.stdout
}

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    kubernetes.io/change-cause: first
spec:
  replicas: 3
  revisionHistoryLimit: 2
  selector:
    matchLabels: {app: web}
  strategy:
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
"#;

fn image_of(cluster: &Cluster, deployment: &str) -> String {
    get(cluster, &["deployment", deployment])["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn deployment_rolls_out_undoes_pauses_and_restarts() {
    let cluster = Cluster::start();
    let _nodes = FakeNodes::start(&cluster, &["node-1", "node-2"]);
    kubectl_in(&cluster, &["apply", "-f", "-"], DEPLOYMENT);
    let out = rollout_status(&cluster, "deployment/web");
    assert!(
        out.contains("deployment \"web\" successfully rolled out"),
        "{out}"
    );

    // The ReplicaSet: named by the template hash, labelled, annotated.
    let sets = items(&get(&cluster, &["rs", "-l", "app=web"]));
    assert_eq!(sets.len(), 1);
    let rs = &sets[0];
    let hash = rs["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .unwrap();
    assert_eq!(rs["metadata"]["name"], format!("web-{hash}"));
    let annotations = &rs["metadata"]["annotations"];
    assert_eq!(annotations["deployment.kubernetes.io/revision"], "1");
    assert_eq!(
        annotations["deployment.kubernetes.io/desired-replicas"],
        "3"
    );
    assert_eq!(annotations["deployment.kubernetes.io/max-replicas"], "4");
    assert_eq!(annotations["kubernetes.io/change-cause"], "first");
    assert_eq!(
        rs["spec"]["selector"]["matchLabels"]["pod-template-hash"],
        hash
    );
    let owner = &rs["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "Deployment");
    assert_eq!(owner["controller"], true);
    assert_eq!(owner["blockOwnerDeletion"], true);
    // Pods: `<rs>-<5 characters>`, owned by the ReplicaSet.
    let pods = live_pods(&cluster, "app=web");
    assert_eq!(pods.len(), 3);
    for pod in &pods {
        let name = pod["metadata"]["name"].as_str().unwrap();
        let suffix = name.strip_prefix(&format!("web-{hash}-")).unwrap();
        assert_eq!(suffix.len(), 5, "{name}");
        assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet");
        assert_eq!(pod["metadata"]["labels"]["pod-template-hash"], hash);
    }
    // Status and conditions.
    let d = get(&cluster, &["deployment", "web"]);
    let status = &d["status"];
    for field in [
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
    ] {
        assert_eq!(status[field], 3, "{field}: {status}");
    }
    assert_eq!(status["observedGeneration"], d["metadata"]["generation"]);
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "1"
    );
    let reason = |d: &Value, kind: &str| -> String {
        d["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == kind)
            .map(|c| c["reason"].as_str().unwrap().to_string())
            .unwrap_or_default()
    };
    assert_eq!(reason(&d, "Available"), "MinimumReplicasAvailable");
    assert_eq!(reason(&d, "Progressing"), "NewReplicaSetAvailable");
    let scaled = events(&cluster, "ScalingReplicaSet");
    assert!(
        scaled.contains(&format!("Scaled up replica set web-{hash} from 0 to 3")),
        "{scaled:?}"
    );

    // A new image: a second ReplicaSet takes over, the first goes to zero.
    kubectl(
        &cluster,
        &["set", "image", "deployment/web", "nginx=nginx:1.26"],
    );
    kubectl(
        &cluster,
        &[
            "annotate",
            "deployment/web",
            "kubernetes.io/change-cause=second",
            "--overwrite",
        ],
    );
    rollout_status(&cluster, "deployment/web");
    let sets = items(&get(&cluster, &["rs", "-l", "app=web"]));
    assert_eq!(sets.len(), 2);
    let old = sets
        .iter()
        .find(|s| s["metadata"]["name"] == format!("web-{hash}"))
        .unwrap();
    assert_eq!(old["spec"]["replicas"], 0);
    let new = sets
        .iter()
        .find(|s| s["metadata"]["name"] != format!("web-{hash}"))
        .unwrap();
    assert_eq!(
        new["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "2"
    );
    assert_eq!(new["spec"]["replicas"], 3);
    let scaled = events(&cluster, "ScalingReplicaSet");
    assert!(
        scaled
            .iter()
            .any(|m| m.starts_with(&format!("Scaled down replica set web-{hash} from"))),
        "{scaled:?}"
    );
    let history = kubectl(&cluster, &["rollout", "history", "deployment/web"]);
    assert!(history.contains("REVISION"), "{history}");
    assert!(
        history
            .lines()
            .any(|l| l.starts_with('1') && l.contains("first")),
        "{history}"
    );
    assert!(
        history
            .lines()
            .any(|l| l.starts_with('2') && l.contains("second")),
        "{history}"
    );

    // Undo: kubectl copies revision 1's template back; its ReplicaSet becomes revision 3.
    let out = kubectl(&cluster, &["rollout", "undo", "deployment/web"]);
    assert!(out.contains("rolled back"), "{out}");
    rollout_status(&cluster, "deployment/web");
    assert_eq!(image_of(&cluster, "web"), "nginx:1.25");
    let first = get(&cluster, &["rs", &format!("web-{hash}")]);
    assert_eq!(first["spec"]["replicas"], 3);
    assert_eq!(
        first["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "3"
    );
    assert_eq!(
        first["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"],
        "1"
    );
    let history = kubectl(&cluster, &["rollout", "history", "deployment/web"]);
    assert!(history.lines().any(|l| l.starts_with('3')), "{history}");
    assert!(!history.lines().any(|l| l.starts_with('1')), "{history}");

    // Paused: template changes wait; the Progressing condition says so.
    kubectl(&cluster, &["rollout", "pause", "deployment/web"]);
    kubectl(
        &cluster,
        &["set", "image", "deployment/web", "nginx=nginx:1.27"],
    );
    let paused = wait_for(30, "the paused condition", || {
        let d = get(&cluster, &["deployment", "web"]);
        (reason(&d, "Progressing") == "DeploymentPaused"
            && d["status"]["observedGeneration"] == d["metadata"]["generation"])
            .then_some(d)
    });
    assert_eq!(paused["status"]["updatedReplicas"], 0);
    assert_eq!(items(&get(&cluster, &["rs", "-l", "app=web"])).len(), 2);
    kubectl(&cluster, &["rollout", "resume", "deployment/web"]);
    rollout_status(&cluster, "deployment/web");
    let live: Vec<String> = live_pods(&cluster, "app=web")
        .iter()
        .map(|p| {
            p["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(live, ["nginx:1.27"; 3]);
    // revisionHistoryLimit 2: three ReplicaSets at most (the new one and two old).
    wait_for(30, "old ReplicaSets cleaned up", || {
        (items(&get(&cluster, &["rs", "-l", "app=web"])).len() == 3).then_some(())
    });

    // Restart: a template annotation, hence a new ReplicaSet.
    kubectl(&cluster, &["rollout", "restart", "deployment/web"]);
    rollout_status(&cluster, "deployment/web");
    let d = get(&cluster, &["deployment", "web"]);
    assert!(
        d["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .is_string()
    );
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "5"
    );
    wait_for(30, "the oldest ReplicaSet cleaned up", || {
        (items(&get(&cluster, &["rs", "-l", "app=web"])).len() == 3).then_some(())
    });
    let described = kubectl(&cluster, &["describe", "deployment", "web"]);
    assert!(described.contains("NewReplicaSetAvailable"), "{described}");
    assert!(described.contains("ScalingReplicaSet"), "{described}");

    // Scaling a Deployment scales its ReplicaSet.
    kubectl(&cluster, &["scale", "deployment/web", "--replicas=5"]);
    rollout_status(&cluster, "deployment/web");
    assert_eq!(live_pods(&cluster, "app=web").len(), 5);

    // Cascading delete: ReplicaSets and pods go with it.
    kubectl(&cluster, &["delete", "deployment", "web"]);
    wait_for(60, "ReplicaSets and pods deleted", || {
        (items(&get(&cluster, &["rs", "-l", "app=web"])).is_empty()
            && items(&get(&cluster, &["pods", "-l", "app=web"])).is_empty())
        .then_some(())
    });
}

#[test]
fn rollout_status_waits_for_ready_pods_and_a_missed_deadline_fails_it() {
    let cluster = Cluster::start();
    let nodes = FakeNodes::start(&cluster, &["node-1"]);
    nodes.set_auto_ready(false);
    kubectl(
        &cluster,
        &[
            "create",
            "deployment",
            "slow",
            "--image=nginx:1.25",
            "--replicas=2",
        ],
    );
    // `rollout status` waits while the pods are not ready...
    let mut waiting = Command::new(&default_kubectl().path)
        .args(["rollout", "status", "deployment/slow", "--timeout=90s"])
        .env("KUBECONFIG", cluster.kubeconfig())
        .env("HOME", cluster.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(30, "pods created", || {
        (live_pods(&cluster, "app=slow").len() == 2).then_some(())
    });
    assert!(
        waiting.try_wait().unwrap().is_none(),
        "rollout status ended early"
    );
    // ...and succeeds once the kubelet reports them ready.
    nodes.set_auto_ready(true);
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = waiting.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "rollout status did not finish");
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = waiting.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(status.success(), "{stdout}");
    assert!(stdout.contains("successfully rolled out"), "{stdout}");

    // Pods that never become ready: the rollout misses its deadline.
    let stuck = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: stuck}
spec:
  replicas: 2
  progressDeadlineSeconds: 2
  strategy: {type: Recreate}
  selector:
    matchLabels: {app: stuck}
  template:
    metadata:
      labels: {app: stuck, kubelet.test/hold: "true"}
    spec:
      containers: [{name: c, image: busybox}]
"#;
    kubectl_in(&cluster, &["apply", "-f", "-"], stuck);
    let out = cluster.kubectl(
        &default_kubectl(),
        &["rollout", "status", "deployment/stuck", "--timeout=90s"],
    );
    out.fails_with("exceeded its progress deadline");
    let d = get(&cluster, &["deployment", "stuck"]);
    let progressing = d["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Progressing")
        .unwrap()
        .clone();
    assert_eq!(progressing["status"], "False");
    assert_eq!(progressing["reason"], "ProgressDeadlineExceeded");
    assert!(
        progressing["message"]
            .as_str()
            .unwrap()
            .ends_with("has timed out progressing."),
        "{progressing}"
    );
    assert_eq!(d["status"]["unavailableReplicas"], 2);
    let available = d["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Available")
        .unwrap()
        .clone();
    assert_eq!(available["reason"], "MinimumReplicasUnavailable");
    assert_eq!(HOLD, "kubelet.test/hold");

    // Recreate: the old pods go before new ones come.
    kubectl(
        &cluster,
        &["set", "image", "deployment/stuck", "c=busybox:2"],
    );
    wait_for(60, "the new ReplicaSet's pods", || {
        let pods = live_pods(&cluster, "app=stuck");
        (pods.len() == 2
            && pods
                .iter()
                .all(|p| p["spec"]["containers"][0]["image"] == "busybox:2"))
        .then_some(())
    });
    let log = nodes.log();
    let new_pods: Vec<String> = live_pods(&cluster, "app=stuck")
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    let first_new = log
        .iter()
        .position(|s| matches!(s, Seen::Added(n) if new_pods.contains(n)))
        .unwrap();
    let old_deleted = log
        .iter()
        .filter(|s| matches!(s, Seen::Deleted(n) if n.starts_with("stuck-")))
        .count();
    assert_eq!(old_deleted, 2, "{log:?}");
    let last_old_deleted = log
        .iter()
        .rposition(|s| matches!(s, Seen::Deleted(n) if n.starts_with("stuck-")))
        .unwrap();
    assert!(last_old_deleted < first_new, "{log:?}");
}

#[test]
fn replica_set_adopts_releases_and_deletes_unready_pods_first() {
    let cluster = Cluster::start();
    let _nodes = FakeNodes::start(&cluster, &["node-1"]);
    kubectl(
        &cluster,
        &[
            "run",
            "orphan",
            "--image=nginx",
            "--labels=app=cache,tier=x",
        ],
    );
    let rs = r#"
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: cache}
spec:
  replicas: 3
  selector:
    matchLabels: {app: cache}
  template:
    metadata:
      labels: {app: cache, tier: backend}
    spec:
      containers: [{name: c, image: redis}]
"#;
    kubectl_in(&cluster, &["apply", "-f", "-"], rs);
    let status = wait_for(60, "three ready replicas", || {
        let rs = get(&cluster, &["rs", "cache"]);
        (rs["status"]["readyReplicas"] == 3 && rs["status"]["availableReplicas"] == 3)
            .then_some(rs["status"].clone())
    });
    // The orphan was adopted: two new pods, not three. It lacks `tier: backend`.
    assert_eq!(status["replicas"], 3);
    assert_eq!(status["fullyLabeledReplicas"], 2);
    let orphan = get(&cluster, &["pod", "orphan"]);
    let owner = &orphan["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "ReplicaSet");
    assert_eq!(owner["name"], "cache");
    assert_eq!(owner["controller"], true);
    assert_eq!(owner["blockOwnerDeletion"], true);
    let created = events(&cluster, "SuccessfulCreate");
    assert_eq!(
        created
            .iter()
            .filter(|m| m.starts_with("Created pod: cache-"))
            .count(),
        2,
        "{created:?}"
    );

    // A pod relabelled out of the selector is released and replaced.
    kubectl(
        &cluster,
        &["label", "pod", "orphan", "app=debug", "--overwrite"],
    );
    wait_for(30, "the pod released", || {
        get(&cluster, &["pod", "orphan"])["metadata"]["ownerReferences"]
            .is_null()
            .then_some(())
    });
    wait_for(60, "a replacement", || {
        (live_pods(&cluster, "app=cache").len() == 3
            && get(&cluster, &["rs", "cache"])["status"]["readyReplicas"] == 3)
            .then_some(())
    });

    // The unready pod goes first when scaling down.
    let victim = live_pods(&cluster, "app=cache")[1]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let unready = r#"{"status":{"conditions":[{"type":"Ready","status":"False"}]}}"#;
    kubectl(
        &cluster,
        &[
            "patch",
            "pod",
            &victim,
            "--subresource=status",
            "--type=merge",
            "-p",
            unready,
        ],
    );
    wait_for(30, "the unready pod counted", || {
        (get(&cluster, &["rs", "cache"])["status"]["readyReplicas"] == 2).then_some(())
    });
    kubectl(&cluster, &["scale", "rs", "cache", "--replicas=2"]);
    wait_for(30, "two pods", || {
        (live_pods(&cluster, "app=cache").len() == 2).then_some(())
    });
    assert!(
        try_get(&cluster, &["pod", &victim])
            .is_none_or(|p| !p["metadata"]["deletionTimestamp"].is_null())
    );
    assert!(
        events(&cluster, "SuccessfulDelete").contains(&format!("Deleted pod: {victim}")),
        "{:?}",
        events(&cluster, "SuccessfulDelete")
    );

    // Orphaning delete keeps the pods, without their owner; a cascading one removes them.
    kubectl(&cluster, &["delete", "rs", "cache", "--cascade=orphan"]);
    wait_for(30, "pods orphaned", || {
        let pods = live_pods(&cluster, "app=cache");
        (pods.len() == 2
            && pods
                .iter()
                .all(|p| p["metadata"]["ownerReferences"].is_null()))
        .then_some(())
    });
    // A new ReplicaSet adopts them again; deleting it takes them along.
    kubectl_in(
        &cluster,
        &["apply", "-f", "-"],
        &rs.replace("replicas: 3", "replicas: 2"),
    );
    wait_for(30, "pods adopted", || {
        let pods = live_pods(&cluster, "app=cache");
        (pods.len() == 2
            && pods
                .iter()
                .all(|p| p["metadata"]["ownerReferences"][0]["name"] == "cache"))
        .then_some(())
    });
    kubectl(&cluster, &["delete", "rs", "cache"]);
    wait_for(60, "pods deleted with their ReplicaSet", || {
        items(&get(&cluster, &["pods", "-l", "app=cache"]))
            .is_empty()
            .then_some(())
    });
}

#[test]
fn replication_controller_keeps_its_replicas() {
    let cluster = Cluster::start();
    let _nodes = FakeNodes::start(&cluster, &["node-1"]);
    let rc = r#"
apiVersion: v1
kind: ReplicationController
metadata: {name: legacy}
spec:
  replicas: 2
  selector: {app: legacy}
  template:
    metadata:
      labels: {app: legacy}
    spec:
      containers: [{name: c, image: nginx}]
"#;
    kubectl_in(&cluster, &["apply", "-f", "-"], rc);
    wait_for(60, "two ready replicas", || {
        let rc = get(&cluster, &["rc", "legacy"]);
        (rc["status"]["readyReplicas"] == 2
            && rc["status"]["observedGeneration"] == rc["metadata"]["generation"])
            .then_some(())
    });
    for pod in live_pods(&cluster, "app=legacy") {
        assert!(
            pod["metadata"]["name"]
                .as_str()
                .unwrap()
                .starts_with("legacy-")
        );
        assert_eq!(
            pod["metadata"]["ownerReferences"][0]["kind"],
            "ReplicationController"
        );
    }
    // A deleted pod is replaced.
    let first = live_pods(&cluster, "app=legacy")[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    kubectl(&cluster, &["delete", "pod", &first, "--wait=false"]);
    wait_for(60, "a replacement", || {
        let pods = live_pods(&cluster, "app=legacy");
        (pods.len() == 2 && pods.iter().all(|p| p["metadata"]["name"] != first.as_str()))
            .then_some(())
    });
    kubectl(&cluster, &["scale", "rc", "legacy", "--replicas=4"]);
    wait_for(60, "four replicas", || {
        (get(&cluster, &["rc", "legacy"])["status"]["availableReplicas"] == 4).then_some(())
    });
    kubectl(&cluster, &["delete", "rc", "legacy"]);
    wait_for(60, "pods deleted with their controller", || {
        items(&get(&cluster, &["pods", "-l", "app=legacy"]))
            .is_empty()
            .then_some(())
    });
}

const STATEFUL_SET: &str = r#"
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 3
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
      - name: c
        image: postgres:16
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
"#;

/// The ordinals of `set`'s pods in the order the kubelet first saw `pick` of them.
fn ordinals(log: &[Seen], set: &str, pick: impl Fn(&Seen) -> Option<&String>) -> Vec<u32> {
    let mut seen = Vec::new();
    for entry in log {
        if let Some(name) = pick(entry)
            && let Some(ordinal) = name
                .strip_prefix(&format!("{set}-"))
                .and_then(|o| o.parse::<u32>().ok())
            && seen.last() != Some(&ordinal)
        {
            seen.push(ordinal);
        }
    }
    seen
}

#[test]
fn stateful_set_scales_up_and_down_in_order() {
    let cluster = Cluster::start();
    let nodes = FakeNodes::start(&cluster, &["node-1"]);
    kubectl_in(&cluster, &["apply", "-f", "-"], STATEFUL_SET);
    // kubectl reads the defaulted `rollingUpdate.partition: 0` as a partitioned roll out.
    let out = rollout_status(&cluster, "statefulset/db");
    assert!(
        out.contains("roll out complete: 3 new pods have been updated"),
        "{out}"
    );

    // One at a time: each pod is created only after the one before is ready.
    let log = nodes.log();
    let added = ordinals(&log, "db", |s| match s {
        Seen::Added(n) => Some(n),
        _ => None,
    });
    assert_eq!(added, [0, 1, 2], "{log:?}");
    for k in 1..3 {
        let created = log
            .iter()
            .position(|s| *s == Seen::Added(format!("db-{k}")))
            .unwrap();
        let previous_ready = log
            .iter()
            .position(|s| *s == Seen::Ready(format!("db-{}", k - 1)))
            .unwrap();
        assert!(
            previous_ready < created,
            "db-{k} before db-{} was ready: {log:?}",
            k - 1
        );
    }

    // Identity: labels, hostname, subdomain, claims.
    let set = get(&cluster, &["sts", "db"]);
    let revision = set["status"]["updateRevision"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(set["status"]["currentRevision"], revision.as_str());
    assert!(revision.starts_with("db-"));
    for ordinal in 0..3 {
        let pod = get(&cluster, &["pod", &format!("db-{ordinal}")]);
        let labels = &pod["metadata"]["labels"];
        assert_eq!(
            labels["statefulset.kubernetes.io/pod-name"],
            format!("db-{ordinal}")
        );
        assert_eq!(labels["apps.kubernetes.io/pod-index"], ordinal.to_string());
        assert_eq!(labels["controller-revision-hash"], revision.as_str());
        assert_eq!(pod["spec"]["hostname"], format!("db-{ordinal}"));
        assert_eq!(pod["spec"]["subdomain"], "db");
        let volume = &pod["spec"]["volumes"][0];
        assert_eq!(volume["name"], "data");
        assert_eq!(
            volume["persistentVolumeClaim"]["claimName"],
            format!("data-db-{ordinal}")
        );
        let claim = get(&cluster, &["pvc", &format!("data-db-{ordinal}")]);
        assert_eq!(claim["metadata"]["labels"]["app"], "db");
    }
    let revisions = items(&get(&cluster, &["controllerrevisions", "-l", "app=db"]));
    assert_eq!(revisions.len(), 1);
    assert_eq!(revisions[0]["metadata"]["name"], revision.as_str());
    assert_eq!(revisions[0]["revision"], 1);
    let created = events(&cluster, "SuccessfulCreate");
    assert!(
        created.contains(&"create Pod db-0 in StatefulSet db successful".to_string()),
        "{created:?}"
    );
    assert!(
        created.contains(&"create Claim data-db-0 Pod db-0 in StatefulSet db success".to_string()),
        "{created:?}"
    );

    // Scale down: highest ordinal first, each after the one above is gone.
    let mark = nodes.log().len();
    kubectl(&cluster, &["scale", "sts", "db", "--replicas=1"]);
    wait_for(60, "one replica", || {
        let set = get(&cluster, &["sts", "db"]);
        (set["status"]["replicas"] == 1 && live_pods(&cluster, "app=db").len() == 1).then_some(())
    });
    wait_for(30, "db-1 gone", || {
        try_get(&cluster, &["pod", "db-1"]).is_none().then_some(())
    });
    let log = nodes.log()[mark..].to_vec();
    let terminated = ordinals(&log, "db", |s| match s {
        Seen::Terminating(n) => Some(n),
        _ => None,
    });
    assert_eq!(terminated, [2, 1], "{log:?}");
    let db2_gone = log
        .iter()
        .position(|s| *s == Seen::Deleted("db-2".into()))
        .unwrap();
    let db1_terminating = log
        .iter()
        .position(|s| *s == Seen::Terminating("db-1".into()))
        .unwrap();
    assert!(db2_gone < db1_terminating, "{log:?}");
    assert!(
        events(&cluster, "SuccessfulDelete")
            .contains(&"delete Pod db-2 in StatefulSet db successful".to_string())
    );
    // Claims stay (the default retention policy), and are reused on the way up.
    assert_eq!(
        names(&get(&cluster, &["pvc"])),
        ["data-db-0", "data-db-1", "data-db-2"]
    );
    kubectl(&cluster, &["scale", "sts", "db", "--replicas=2"]);
    wait_for(60, "two ready replicas", || {
        (get(&cluster, &["sts", "db"])["status"]["readyReplicas"] == 2).then_some(())
    });
    assert_eq!(
        names(&get(&cluster, &["pvc"])),
        ["data-db-0", "data-db-1", "data-db-2"]
    );

    // A rolling update replaces pods from the highest ordinal down.
    let mark = nodes.log().len();
    kubectl(&cluster, &["set", "image", "sts/db", "c=postgres:17"]);
    rollout_status(&cluster, "statefulset/db");
    let set = get(&cluster, &["sts", "db"]);
    let updated = set["status"]["updateRevision"].as_str().unwrap();
    assert_ne!(updated, revision);
    assert_eq!(set["status"]["currentRevision"], updated);
    assert_eq!(set["status"]["updatedReplicas"], 2);
    let log = nodes.log()[mark..].to_vec();
    let replaced = ordinals(&log, "db", |s| match s {
        Seen::Terminating(n) => Some(n),
        _ => None,
    });
    assert_eq!(replaced, [1, 0], "{log:?}");
    let history = kubectl(&cluster, &["rollout", "history", "sts/db"]);
    assert!(history.lines().any(|l| l.starts_with('1')), "{history}");
    assert!(history.lines().any(|l| l.starts_with('2')), "{history}");
    // Undo puts the first template back, as a third revision.
    kubectl(&cluster, &["rollout", "undo", "sts/db"]);
    rollout_status(&cluster, "statefulset/db");
    assert_eq!(
        get(&cluster, &["pod", "db-0"])["spec"]["containers"][0]["image"],
        "postgres:16"
    );
    let set = get(&cluster, &["sts", "db"]);
    assert_eq!(set["status"]["updateRevision"], revision.as_str());

    // Cascading delete: the pods go, the claims stay.
    kubectl(&cluster, &["delete", "sts", "db"]);
    wait_for(60, "pods deleted with their StatefulSet", || {
        items(&get(&cluster, &["pods", "-l", "app=db"]))
            .is_empty()
            .then_some(())
    });
    assert_eq!(names(&get(&cluster, &["pvc"])).len(), 3);
}

#[test]
fn stateful_set_parallel_partition_and_claim_retention() {
    let cluster = Cluster::start();
    let nodes = FakeNodes::start(&cluster, &["node-1"]);
    // Parallel: every pod at once, ready or not.
    let parallel = STATEFUL_SET
        .replace("name: db}", "name: par}")
        .replace("app: db}", "app: par}")
        .replace(
            "serviceName: db",
            "serviceName: par\n  podManagementPolicy: Parallel",
        )
        .replace(
            "labels: {app: par}",
            "labels: {app: par, kubelet.test/hold: \"true\"}",
        );
    kubectl_in(&cluster, &["apply", "-f", "-"], &parallel);
    wait_for(60, "three pods at once", || {
        (names(&get(&cluster, &["pods", "-l", "app=par"])) == ["par-0", "par-1", "par-2"])
            .then_some(())
    });
    assert_eq!(get(&cluster, &["sts", "par"])["status"]["readyReplicas"], 0);
    assert!(
        nodes
            .log()
            .iter()
            .all(|s| !matches!(s, Seen::Ready(n) if n.starts_with("par-")))
    );

    // A partition: only ordinals at or above it get the new template.
    let partitioned = STATEFUL_SET
        .replace("name: db}", "name: part}")
        .replace("app: db}", "app: part}")
        .replace(
            "serviceName: db",
            "serviceName: part\n  updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 2}}\n  persistentVolumeClaimRetentionPolicy: {whenDeleted: Delete, whenScaled: Delete}",
        );
    kubectl_in(&cluster, &["apply", "-f", "-"], &partitioned);
    rollout_status(&cluster, "statefulset/part");
    kubectl(&cluster, &["set", "image", "sts/part", "c=postgres:17"]);
    let out = rollout_status(&cluster, "statefulset/part");
    assert!(
        out.contains("partitioned roll out complete: 1 new pods have been updated"),
        "{out}"
    );
    let image = |n: &str| {
        get(&cluster, &["pod", n])["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(image("part-0"), "postgres:16");
    assert_eq!(image("part-1"), "postgres:16");
    assert_eq!(image("part-2"), "postgres:17");
    let set = get(&cluster, &["sts", "part"]);
    assert_eq!(set["status"]["updatedReplicas"], 1);
    assert_ne!(
        set["status"]["currentRevision"],
        set["status"]["updateRevision"]
    );

    // whenDeleted: Delete — the claims are owned by the set; whenScaled: Delete — scaled-down
    // pods' claims go with them.
    let claim = get(&cluster, &["pvc", "data-part-0"]);
    assert_eq!(
        claim["metadata"]["ownerReferences"][0]["kind"],
        "StatefulSet"
    );
    kubectl(&cluster, &["scale", "sts", "part", "--replicas=1"]);
    wait_for(90, "scaled-down claims deleted", || {
        (names(&get(&cluster, &["pvc", "-l", "app=part"])) == ["data-part-0"]).then_some(())
    });
    kubectl(&cluster, &["delete", "sts", "part"]);
    wait_for(90, "claims deleted with the set", || {
        (items(&get(&cluster, &["pvc", "-l", "app=part"])).is_empty()
            && items(&get(&cluster, &["pods", "-l", "app=part"])).is_empty())
        .then_some(())
    });
}

#[test]
fn daemon_set_runs_one_pod_per_eligible_node_and_rolls() {
    let cluster = Cluster::start();
    let _nodes = FakeNodes::start(&cluster, &["node-a", "node-b", "node-c"]);
    // A control-plane-style taint on node-c keeps daemon pods off it unless tolerated.
    kubectl(
        &cluster,
        &["taint", "node", "node-c", "dedicated=infra:NoSchedule"],
    );
    let ds = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers: [{name: c, image: fluentd:1}]
"#;
    kubectl_in(&cluster, &["apply", "-f", "-"], ds);
    let out = rollout_status(&cluster, "daemonset/agent");
    assert!(
        out.contains("daemon set \"agent\" successfully rolled out"),
        "{out}"
    );
    let status = get(&cluster, &["ds", "agent"])["status"].clone();
    assert_eq!(status["desiredNumberScheduled"], 2, "{status}");
    assert_eq!(status["currentNumberScheduled"], 2);
    assert_eq!(status["numberReady"], 2);
    assert_eq!(status["numberAvailable"], 2);
    assert_eq!(status["updatedNumberScheduled"], 2);
    assert_eq!(status["numberMisscheduled"], 0);
    let pods = live_pods(&cluster, "app=agent");
    let mut on: Vec<String> = pods
        .iter()
        .map(|p| p["spec"]["nodeName"].as_str().unwrap().to_string())
        .collect();
    on.sort();
    assert_eq!(on, ["node-a", "node-b"]);
    for pod in &pods {
        let node = pod["spec"]["nodeName"].as_str().unwrap();
        let term = &pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            ["nodeSelectorTerms"][0];
        assert_eq!(term["matchFields"][0]["key"], "metadata.name");
        assert_eq!(term["matchFields"][0]["values"][0], node);
        let tolerations: Vec<String> = pod["spec"]["tolerations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                format!(
                    "{}:{}",
                    t["key"].as_str().unwrap(),
                    t["effect"].as_str().unwrap()
                )
            })
            .collect();
        for expected in [
            "node.kubernetes.io/not-ready:NoExecute",
            "node.kubernetes.io/unreachable:NoExecute",
            "node.kubernetes.io/disk-pressure:NoSchedule",
            "node.kubernetes.io/memory-pressure:NoSchedule",
            "node.kubernetes.io/pid-pressure:NoSchedule",
            "node.kubernetes.io/unschedulable:NoSchedule",
        ] {
            assert!(
                tolerations.contains(&expected.to_string()),
                "{tolerations:?}"
            );
        }
        assert!(pod["metadata"]["labels"]["controller-revision-hash"].is_string());
        assert_eq!(pod["metadata"]["labels"]["pod-template-generation"], "1");
    }
    // The scheduler (not the test's node simulation) bound them, honouring the pinning above.

    // Tolerating the taint brings the third node in (a template change: a rolling update).
    kubectl(
        &cluster,
        &[
            "patch",
            "ds",
            "agent",
            "--type=merge",
            "-p",
            r#"{"spec":{"template":{"spec":{"tolerations":[{"key":"dedicated","operator":"Exists"}]}}}}"#,
        ],
    );
    rollout_status(&cluster, "daemonset/agent");
    let status = get(&cluster, &["ds", "agent"])["status"].clone();
    assert_eq!(status["desiredNumberScheduled"], 3, "{status}");
    assert_eq!(status["updatedNumberScheduled"], 3);
    assert_eq!(status["numberAvailable"], 3);

    // A new image rolls over every node; history and undo go through ControllerRevisions.
    kubectl(&cluster, &["set", "image", "ds/agent", "c=fluentd:2"]);
    rollout_status(&cluster, "daemonset/agent");
    let pods = live_pods(&cluster, "app=agent");
    assert_eq!(pods.len(), 3);
    assert!(
        pods.iter()
            .all(|p| p["spec"]["containers"][0]["image"] == "fluentd:2")
    );
    let history = kubectl(&cluster, &["rollout", "history", "ds/agent"]);
    assert!(history.lines().any(|l| l.starts_with('3')), "{history}");
    kubectl(&cluster, &["rollout", "undo", "ds/agent"]);
    rollout_status(&cluster, "daemonset/agent");
    let pods = live_pods(&cluster, "app=agent");
    assert!(
        pods.iter()
            .all(|p| p["spec"]["containers"][0]["image"] == "fluentd:1"),
        "{pods:?}"
    );

    // A node whose labels no longer match loses its pod; misplaced pods are counted first.
    kubectl(
        &cluster,
        &[
            "patch",
            "ds",
            "agent",
            "--type=merge",
            "-p",
            r#"{"spec":{"template":{"spec":{"nodeSelector":{"role":"edge"}}}}}"#,
        ],
    );
    kubectl(
        &cluster,
        &["label", "node", "node-a", "node-b", "role=edge"],
    );
    rollout_status(&cluster, "daemonset/agent");
    wait_for(60, "the pod on node-c removed", || {
        let status = get(&cluster, &["ds", "agent"])["status"].clone();
        (status["desiredNumberScheduled"] == 2
            && status["numberMisscheduled"] == 0
            && live_pods(&cluster, "app=agent").len() == 2)
            .then_some(())
    });

    kubectl(&cluster, &["delete", "ds", "agent"]);
    wait_for(60, "pods deleted with their DaemonSet", || {
        items(&get(&cluster, &["pods", "-l", "app=agent"]))
            .is_empty()
            .then_some(())
    });
}

#[test]
fn cascading_delete_of_each_kind() {
    let cluster = Cluster::start();
    let _nodes = FakeNodes::start(&cluster, &["node-a", "node-b", "node-c"]);
    let manifests = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: nginx:1}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 2
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: c, image: postgres:16}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: c, image: fluentd:1}]}
---
apiVersion: v1
kind: ReplicationController
metadata: {name: legacy}
spec:
  replicas: 2
  selector: {app: legacy}
  template:
    metadata: {labels: {app: legacy}}
    spec: {containers: [{name: c, image: nginx:1}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: tick}
spec:
  schedule: "0 0 1 1 *"
  jobTemplate:
    spec:
      template:
        metadata: {labels: {app: tick}}
        spec:
          restartPolicy: Never
          containers: [{name: c, image: busybox:1}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: once}
spec:
  template:
    metadata: {labels: {app: once}}
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox:1}]
"#;
    kubectl_in(&cluster, &["apply", "-f", "-"], manifests);
    // kubectl makes the CronJob the owner of a Job created from it.
    kubectl(
        &cluster,
        &["create", "job", "tick-now", "--from=cronjob/tick"],
    );
    for (app, count) in [
        ("web", 2),
        ("db", 2),
        ("agent", 3),
        ("legacy", 2),
        ("tick", 1),
        ("once", 1),
    ] {
        wait_for(60, &format!("{count} pods of {app}"), || {
            (live_pods(&cluster, &format!("app={app}")).len() == count).then_some(())
        });
    }
    let gone = |kind: &str, selector: &str| {
        wait_for(60, &format!("{kind} with {selector} deleted"), || {
            items(&get(&cluster, &[kind, "-l", selector]))
                .is_empty()
                .then_some(())
        });
    };

    // Background (kubectl's default): the owner goes at once, the collector takes the rest,
    // through every level (Deployment -> ReplicaSet -> pods, CronJob -> Job -> pods).
    kubectl(&cluster, &["delete", "deployment", "web"]);
    gone("replicasets", "app=web");
    gone("pods", "app=web");
    kubectl(&cluster, &["delete", "cronjob", "tick"]);
    wait_for(60, "the CronJob's Job deleted", || {
        try_get(&cluster, &["job", "tick-now"])
            .is_none()
            .then_some(())
    });
    gone("pods", "app=tick");
    kubectl(&cluster, &["delete", "daemonset", "agent"]);
    gone("pods", "app=agent");
    kubectl(&cluster, &["delete", "rc", "legacy"]);
    gone("pods", "app=legacy");

    // Foreground: kubectl waits until the owner is gone, which is after its pods.
    kubectl(
        &cluster,
        &["delete", "statefulset", "db", "--cascade=foreground"],
    );
    assert!(try_get(&cluster, &["statefulset", "db"]).is_none());
    let left = items(&get(&cluster, &["pods", "-l", "app=db"]));
    assert!(
        left.is_empty(),
        "pods outlived their foreground-deleted owner: {left:?}"
    );

    // Orphan: the Job goes, its pod stays without an owner.
    kubectl(&cluster, &["delete", "job", "once", "--cascade=orphan"]);
    assert!(try_get(&cluster, &["job", "once"]).is_none());
    let orphans = live_pods(&cluster, "app=once");
    assert_eq!(orphans.len(), 1);
    assert!(
        orphans[0]["metadata"]["ownerReferences"].is_null(),
        "{}",
        orphans[0]["metadata"]
    );
    // Nothing counts it any more: the Job controller lets it go (it can be deleted).
    wait_for(60, "the orphan's job-tracking finalizer removed", || {
        let pods = live_pods(&cluster, "app=once");
        (pods.len() == 1 && pods[0]["metadata"]["finalizers"].is_null()).then_some(())
    });
}
