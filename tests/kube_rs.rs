//! kube-rs against kedge: the default and streaming-list watchers, server-side apply as an
//! upsert, and a reflector that stays in sync through a restart of kedge.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::Cluster;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::{WatchStreamExt, reflector, watcher};

async fn client(cluster: &Cluster) -> kube::Client {
    let kubeconfig = Kubeconfig::read_from(cluster.kubeconfig()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

fn configmap(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"suite": "kube-rs"}},
        "data": {"value": value},
    }))
    .unwrap()
}

/// Collects watcher events until `done` says enough, or fails after 20 s.
async fn until<S, T>(stream: &mut S, mut done: impl FnMut(&T) -> bool) -> Vec<T>
where
    S: futures::Stream<Item = Result<T, watcher::Error>> + Unpin,
    T: std::fmt::Debug,
{
    let mut seen = Vec::new();
    let result = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(item) = stream.next().await {
            let item = item.expect("watch event");
            let stop = done(&item);
            seen.push(item);
            if stop {
                return;
            }
        }
    })
    .await;
    assert!(result.is_ok(), "timed out; saw {seen:#?}");
    seen
}

async fn watcher_sees_initial_state_and_changes(config: watcher::Config) {
    let cluster = Cluster::start();
    let client = client(&cluster).await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &configmap("before", "1"))
        .await
        .unwrap();
    let mut events = watcher(api.clone(), config.labels("suite=kube-rs")).boxed();
    let initial = until(&mut events, |e| matches!(e, watcher::Event::InitDone)).await;
    let names: Vec<_> = initial
        .iter()
        .filter_map(|e| match e {
            watcher::Event::InitApply(cm) => cm.metadata.name.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["before"]);
    api.create(&PostParams::default(), &configmap("after", "2"))
        .await
        .unwrap();
    api.delete("before", &DeleteParams::default())
        .await
        .unwrap();
    let changes = until(&mut events, |e| matches!(e, watcher::Event::Delete(_))).await;
    assert!(changes.iter().any(
        |e| matches!(e, watcher::Event::Apply(cm) if cm.metadata.name.as_deref() == Some("after"))
    ));
    assert!(
        matches!(changes.last(), Some(watcher::Event::Delete(cm)) if cm.metadata.name.as_deref() == Some("before"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_watcher() {
    watcher_sees_initial_state_and_changes(watcher::Config::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_list_watcher() {
    watcher_sees_initial_state_and_changes(watcher::Config::default().streaming_lists()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_upserts() {
    let cluster = Cluster::start();
    let api: Api<ConfigMap> = Api::namespaced(client(&cluster).await, "default");
    let params = PatchParams::apply("kube-rs-test");
    let created = api
        .patch("ssa", &params, &Patch::Apply(configmap("ssa", "1")))
        .await
        .unwrap();
    assert_eq!(created.data.unwrap()["value"], "1");
    let updated = api
        .patch("ssa", &params, &Patch::Apply(configmap("ssa", "2")))
        .await
        .unwrap();
    assert_eq!(updated.data.unwrap()["value"], "2");
    let managers: Vec<_> = updated
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            (
                m.manager.unwrap_or_default(),
                m.operation.unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        managers,
        [("kube-rs-test".to_string(), "Apply".to_string())]
    );
    // Another applier setting the same field to another value conflicts, until forced.
    let other = PatchParams::apply("other-manager");
    let conflict = api
        .patch("ssa", &other, &Patch::Apply(configmap("ssa", "3")))
        .await
        .unwrap_err();
    assert!(
        matches!(&conflict, kube::Error::Api(s) if s.code == 409),
        "{conflict:?}"
    );
    let forced = api
        .patch("ssa", &other.force(), &Patch::Apply(configmap("ssa", "3")))
        .await
        .unwrap();
    assert_eq!(forced.data.unwrap()["value"], "3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflector_stays_in_sync_through_a_restart() {
    let mut cluster = Cluster::start();
    let api: Api<ConfigMap> = Api::namespaced(client(&cluster).await, "default");
    for i in 0..5 {
        api.create(&PostParams::default(), &configmap(&format!("r{i}"), "x"))
            .await
            .unwrap();
    }
    let (reader, writer) = reflector::store();
    let stream = reflector(
        writer,
        watcher(
            api.clone(),
            watcher::Config::default().labels("suite=kube-rs"),
        ),
    )
    .default_backoff()
    .applied_objects();
    // Errors (the connection dropping during the restart) are yielded and retried with
    // back-off; the stream itself goes on.
    let task = tokio::spawn(stream.for_each(|_| async {}));
    let names = |reader: &reflector::Store<ConfigMap>| -> BTreeSet<String> {
        reader
            .state()
            .iter()
            .filter_map(|cm| cm.metadata.name.clone())
            .collect()
    };
    tokio::time::timeout(Duration::from_secs(20), reader.wait_until_ready())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(names(&reader).len(), 5);

    cluster.restart();
    let api: Api<ConfigMap> = Api::namespaced(client(&cluster).await, "default");
    api.create(&PostParams::default(), &configmap("after-restart", "y"))
        .await
        .unwrap();
    api.delete("r0", &DeleteParams::default()).await.unwrap();
    let expected: BTreeSet<String> = ["r1", "r2", "r3", "r4", "after-restart"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let synced = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if names(&reader) == expected {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        synced.is_ok(),
        "reflector has {:?}, want {expected:?}",
        names(&reader)
    );
    task.abort();
}
