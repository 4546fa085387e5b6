//! The scheduler against a real `kedge server`, with nodes the tests create and keep alive
//! (`common::fake_nodes`): placement by resources, nodeSelector, node affinity, taints and
//! tolerations, cordoned nodes, host ports, anti-affinity, topology spread across zones;
//! the unschedulable condition and event as `kubectl describe` shows them; a retry when a
//! node appears; priorities resolved from PriorityClasses at admission and preemption of a
//! lower-priority pod.

mod common;

use std::collections::BTreeMap;

use common::fake_nodes::{NodeSpec, client, create_node, create_nodes, finish_deletion, wait_for};
use common::{Cluster, default_kubectl};
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::api::{Api, ListParams, PostParams};
use serde_json::{Value, json};

const ZONE: &str = "topology.kubernetes.io/zone";

fn pod(name: &str, cpu: &str, extra: Value) -> Pod {
    let mut object = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27",
            "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}]},
    });
    if let Some(fields) = extra.as_object() {
        for (k, v) in fields {
            if k == "labels" {
                object["metadata"]["labels"] = v.clone();
            } else if k == "ports" {
                object["spec"]["containers"][0]["ports"] = v.clone();
            } else {
                object["spec"][k] = v.clone();
            }
        }
    }
    serde_json::from_value(object).unwrap()
}

async fn create(pods: &Api<Pod>, pod: Pod) {
    pods.create(&PostParams::default(), &pod).await.unwrap();
}

/// Waits until the pod is bound; returns its node.
async fn node_of(pods: &Api<Pod>, name: &str) -> String {
    wait_for(&format!("pod {name} to be scheduled"), || async {
        pods.get(name)
            .await
            .ok()
            .and_then(|p| p.spec.and_then(|s| s.node_name))
    })
    .await
}

/// Waits until the pod is marked unschedulable; returns the condition's message.
async fn unschedulable(pods: &Api<Pod>, name: &str) -> String {
    wait_for(
        &format!("pod {name} to be marked unschedulable"),
        || async {
            let pod = pods.get(name).await.ok()?;
            let condition = pod
                .status?
                .conditions?
                .into_iter()
                .find(|c| c.type_ == "PodScheduled")?;
            (condition.status == "False" && condition.reason.as_deref() == Some("Unschedulable"))
                .then(|| condition.message.unwrap_or_default())
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_decide_placement_and_failures_read_like_upstream() {
    let cluster = Cluster::start();
    let client = client(&cluster).await;
    let specs: Vec<NodeSpec> = (1..=3)
        .map(|i| NodeSpec::new(&format!("n{i}"), "1"))
        .collect();
    let _nodes = create_nodes(&client, &specs).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for i in 0..3 {
        create(&pods, pod(&format!("p{i}"), "600m", json!({}))).await;
    }
    let mut placed = Vec::new();
    for i in 0..3 {
        placed.push(node_of(&pods, &format!("p{i}")).await);
    }
    placed.sort();
    assert_eq!(placed, ["n1", "n2", "n3"], "one 600m pod per 1-CPU node");

    create(&pods, pod("big", "600m", json!({}))).await;
    let expected = "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.";
    assert_eq!(unschedulable(&pods, "big").await, expected);

    let kubectl = default_kubectl();
    let describe = wait_for("the FailedScheduling event", || async {
        let out = cluster.kubectl(&kubectl, &["describe", "pod", "big"]);
        out.stdout
            .contains("FailedScheduling")
            .then_some(out.stdout)
    })
    .await;
    assert!(describe.contains("default-scheduler"), "{describe}");
    assert!(describe.contains(expected), "{describe}");
    assert!(
        describe.contains("PodScheduled   False"),
        "describe shows the condition:\n{describe}"
    );
    let describe = wait_for("the Scheduled event", || async {
        let out = cluster.kubectl(&kubectl, &["describe", "pod", "p0"]);
        out.stdout.contains("Scheduled").then_some(out.stdout)
    })
    .await;
    let node = pods
        .get("p0")
        .await
        .unwrap()
        .spec
        .unwrap()
        .node_name
        .unwrap();
    assert!(
        describe.contains(&format!("Successfully assigned default/p0 to {node}")),
        "{describe}"
    );

    // A node that appears lets the waiting pod in, without any change to the pod.
    create_node(&client, &NodeSpec::new("n4", "1")).await;
    assert_eq!(node_of(&pods, "big").await, "n4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selectors_affinity_taints_and_cordons() {
    let cluster = Cluster::start();
    let client = client(&cluster).await;
    let _nodes = create_nodes(
        &client,
        &[
            NodeSpec::new("ssd", "4")
                .label("disk", "ssd")
                .label("cores", "8"),
            NodeSpec::new("gpu", "4").taint("dedicated=gpu:NoSchedule"),
            NodeSpec::new("old", "4").label("cores", "2").cordoned(),
        ],
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    create(
        &pods,
        pod("selector", "100m", json!({"nodeSelector": {"disk": "ssd"}})),
    )
    .await;
    assert_eq!(node_of(&pods, "selector").await, "ssd");

    let cores_gt = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["4"]}]}]}}}});
    create(&pods, pod("gt", "100m", cores_gt)).await;
    assert_eq!(node_of(&pods, "gt").await, "ssd");

    let on_gpu = |tolerate: bool| {
        let mut spec = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["gpu"]}]}]}}}});
        if tolerate {
            spec["tolerations"] = json!([{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]);
        }
        spec
    };
    create(&pods, pod("tolerates", "100m", on_gpu(true))).await;
    assert_eq!(node_of(&pods, "tolerates").await, "gpu");
    create(&pods, pod("intolerant", "100m", on_gpu(false))).await;
    assert_eq!(
        unschedulable(&pods, "intolerant").await,
        "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint(s), 1 node(s) were unschedulable. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    );

    // A cordoned node takes nothing; uncordoning it lets the waiting pod in.
    let kubectl = default_kubectl();
    let only_old = json!({"nodeSelector": {"kubernetes.io/hostname": "old"}});
    create(&pods, pod("waits", "100m", only_old)).await;
    let message = unschedulable(&pods, "waits").await;
    assert!(
        message.contains("1 node(s) were unschedulable"),
        "{message}"
    );
    cluster.kubectl(&kubectl, &["uncordon", "old"]).ok();
    assert_eq!(node_of(&pods, "waits").await, "old");
    cluster.kubectl(&kubectl, &["cordon", "ssd"]).ok();
    create(
        &pods,
        pod(
            "after-cordon",
            "100m",
            json!({"nodeSelector": {"disk": "ssd"}}),
        ),
    )
    .await;
    let message = unschedulable(&pods, "after-cordon").await;
    assert!(
        message.starts_with("0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint(s), 1 node(s) were unschedulable."),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_ports_anti_affinity_and_spread_across_zones() {
    let cluster = Cluster::start();
    let client = client(&cluster).await;
    let specs: Vec<NodeSpec> = [("a1", "a"), ("a2", "a"), ("b1", "b"), ("b2", "b")]
        .iter()
        .map(|(n, z)| NodeSpec::new(n, "8").label(ZONE, z))
        .collect();
    let _nodes = create_nodes(&client, &specs).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    // Host ports: one pod per node, the fifth finds no free port.
    let port =
        json!({"labels": {"app": "port"}, "ports": [{"containerPort": 80, "hostPort": 8080}]});
    for i in 0..5 {
        create(&pods, pod(&format!("port{i}"), "100m", port.clone())).await;
    }
    let mut nodes = Vec::new();
    for i in 0..4 {
        nodes.push(node_of(&pods, &format!("port{i}")).await);
    }
    nodes.sort();
    assert_eq!(nodes, ["a1", "a2", "b1", "b2"]);
    let message = unschedulable(&pods, "port4").await;
    assert!(
        message.starts_with(
            "0/4 nodes are available: 4 node(s) didn't have free ports for the requested pod ports."
        ),
        "{message}"
    );

    // Anti-affinity by zone: one pod per zone, the third waits.
    let anti = json!({"labels": {"app": "solo"}, "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
        "labelSelector": {"matchLabels": {"app": "solo"}}, "topologyKey": ZONE}]}}});
    for i in 0..3 {
        create(&pods, pod(&format!("solo{i}"), "100m", anti.clone())).await;
    }
    let first = node_of(&pods, "solo0").await;
    let second = node_of(&pods, "solo1").await;
    assert_ne!(
        first.chars().next(),
        second.chars().next(),
        "different zones"
    );
    let message = unschedulable(&pods, "solo2").await;
    assert!(
        message.contains("4 node(s) didn't match pod anti-affinity rules"),
        "{message}"
    );

    // Topology spread: maxSkew 1 over zones puts three pods in each zone.
    let spread = json!({"labels": {"app": "spread"}, "topologySpreadConstraints": [{
        "maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "spread"}}}]});
    let mut per_zone: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..6 {
        create(&pods, pod(&format!("spread{i}"), "100m", spread.clone())).await;
        // One at a time: each placement counts the ones before it.
        let node = node_of(&pods, &format!("spread{i}")).await;
        *per_zone.entry(node[..1].to_string()).or_default() += 1;
    }
    assert_eq!(per_zone, BTreeMap::from([("a".into(), 3), ("b".into(), 3)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn higher_priority_pods_preempt_lower_priority_ones() {
    let cluster = Cluster::start();
    let client = client(&cluster).await;
    let _nodes = create_nodes(&client, &[NodeSpec::new("only", "1")]).await;
    let classes: Api<PriorityClass> = Api::all(client.clone());
    for (name, value) in [("low", 10), ("high", 1000)] {
        let class: PriorityClass = serde_json::from_value(json!({
            "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": name}, "value": value,
        }))
        .unwrap();
        classes
            .create(&PostParams::default(), &class)
            .await
            .unwrap();
    }
    // Every cluster has the system classes; a pod's priority is resolved as it is admitted.
    let critical = classes.get("system-node-critical").await.unwrap();
    assert_eq!(critical.value, 2_000_001_000);
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let refused = pods
        .create(
            &PostParams::default(),
            &pod("nameless", "1m", json!({"priorityClassName": "missing"})),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(status) = refused else {
        panic!("not an API error: {refused}")
    };
    assert_eq!(
        (status.code, status.message.as_str()),
        (
            403,
            "pods \"nameless\" is forbidden: no PriorityClass with name missing was found"
        )
    );
    create(
        &pods,
        pod("victim", "800m", json!({"priorityClassName": "low"})),
    )
    .await;
    let spec = pods.get("victim").await.unwrap().spec.unwrap();
    assert_eq!(
        (spec.priority, spec.preemption_policy.as_deref()),
        (Some(10), Some("PreemptLowerPriority"))
    );
    assert_eq!(node_of(&pods, "victim").await, "only");
    create(
        &pods,
        pod("vip", "800m", json!({"priorityClassName": "high"})),
    )
    .await;

    // The victim is deleted gracefully and marked as a disruption target; the preemptor
    // is nominated to the node meanwhile.
    let victim = wait_for("the victim to be terminating", || async {
        pods.get("victim")
            .await
            .ok()
            .filter(|p| p.metadata.deletion_timestamp.is_some())
    })
    .await;
    let conditions = victim.status.unwrap().conditions.unwrap();
    assert!(
        conditions.iter().any(|c| c.type_ == "DisruptionTarget"
            && c.reason.as_deref() == Some("PreemptionByScheduler"))
    );
    let nominated = wait_for("the preemptor to be nominated", || async {
        pods.get("vip")
            .await
            .ok()
            .and_then(|p| p.status?.nominated_node_name)
    })
    .await;
    assert_eq!(nominated, "only");
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    wait_for("the Preempted event", || async {
        let list = events
            .list(&ListParams::default().fields("involvedObject.name=victim"))
            .await
            .ok()?;
        list.items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("Preempted"))
    })
    .await;

    // The kubelet finishes the victim's termination: the preemptor gets the node.
    finish_deletion(&client, "default", "victim").await;
    assert_eq!(node_of(&pods, "vip").await, "only");
}
