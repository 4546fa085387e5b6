//! The pods bound to this node: recovery of an earlier run's sandboxes, then a watch of
//! `spec.nodeName=<node>` that hands each pod's changes to its [`PodWorker`].
//!
//! # Recovery
//! At start, [`crate::runtime::sandbox::recover`] finds the shims an earlier run left: a live
//! shim is handed to its pod's worker, which carries on with the running containers; the
//! containers of a dead one are reported exited (their attempts keep counting restarts).
//! Sandboxes of pods that no longer exist are removed once the first list is complete.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::volumes::PodVolumes;
use super::worker::PodWorker;
use super::{Kubelet, KubeletError};
use crate::runtime::cgroups::CgroupLayout;
use crate::runtime::kernel::LinuxKernel;
use crate::runtime::sandbox::{self, RecoveredSandbox, SandboxHandle};
use crate::runtime::state::ContainerStatus;

struct Worker {
    updates: watch::Sender<Option<Pod>>,
    task: tokio::task::JoinHandle<()>,
}

/// What an earlier run left.
#[derive(Default)]
struct Recovered {
    live: HashMap<String, SandboxHandle>,
    lost: HashMap<String, Vec<ContainerStatus>>,
}

async fn recover(kubelet: &Kubelet) -> Result<Recovered, KubeletError> {
    let dirs = kubelet.config.runtime.clone();
    let found = tokio::task::spawn_blocking(move || {
        let found = sandbox::recover(&dirs)?;
        let cgroups = CgroupLayout::host(&dirs.cgroup_parent);
        let mut recovered = Recovered::default();
        for sandbox in found {
            match sandbox {
                RecoveredSandbox::Live(handle) => {
                    recovered.live.insert(handle.uid().to_string(), handle);
                }
                RecoveredSandbox::Dead(dead) => {
                    if let Err(error) = dead.clean_up(&LinuxKernel, &dirs, &cgroups, false) {
                        warn!(uid = %dead.config.uid, %error, "cannot clean up a dead sandbox");
                    }
                    recovered
                        .lost
                        .insert(dead.config.uid.clone(), dead.containers.clone());
                }
            }
        }
        Ok::<_, std::io::Error>(recovered)
    })
    .await
    .map_err(|e| KubeletError::Recover(std::io::Error::other(e)))?
    .map_err(KubeletError::Recover)?;
    info!(
        running = found.live.len(),
        lost = found.lost.len(),
        "found the pods of an earlier run"
    );
    Ok(found)
}

/// Removes what is left of a pod that no longer exists.
async fn remove_orphan(kubelet: &Arc<Kubelet>, uid: String, handle: Option<SandboxHandle>) {
    info!(%uid, "removing the sandbox of a pod that no longer exists");
    let dirs = kubelet.config.runtime.clone();
    let pods_dir = kubelet.config.pods_dir.clone();
    let id = uid.clone();
    let result = tokio::task::spawn_blocking(move || {
        if let Some(handle) = handle {
            handle.shutdown(Duration::ZERO).map_err(|e| e.to_string())?;
        }
        let state = dirs.pod_state_dir(&id);
        if state.exists() {
            let _ = std::fs::remove_dir_all(&state);
        }
        PodVolumes::remove(&pods_dir, &id).map_err(|e| e.to_string())
    })
    .await;
    if let Err(error) = kubelet.network.detach(&uid).await {
        warn!(%uid, %error, "cannot release the network of a removed pod");
    }
    match result {
        Ok(Ok(())) => {}
        Ok(Err(error)) => warn!(%uid, %error, "cannot remove an orphaned sandbox"),
        Err(error) => warn!(%uid, %error, "cannot remove an orphaned sandbox"),
    }
}

/// Syncs the node's pods until `shutdown`. Pods keep running afterwards.
///
/// # Errors
/// The pods of an earlier run cannot be looked for.
pub async fn run(kubelet: Arc<Kubelet>, shutdown: CancellationToken) -> Result<(), KubeletError> {
    let mut recovered = recover(&kubelet).await?;
    let pods: Api<Pod> = Api::all(kubelet.client.clone());
    let selector = format!("spec.nodeName={}", kubelet.config.node.name);
    let mut stream = watcher::watcher(pods, watcher::Config::default().fields(&selector))
        .default_backoff()
        .boxed();
    let mut workers: HashMap<String, Worker> = HashMap::new();
    let mut listed: HashSet<String> = HashSet::new();
    loop {
        let event = tokio::select! {
            () = shutdown.cancelled() => break,
            event = stream.next() => event,
        };
        let event = match event {
            Some(Ok(event)) => event,
            Some(Err(error)) => {
                warn!(%error, "the watch of the node's pods failed; retrying");
                continue;
            }
            None => break,
        };
        match event {
            Event::Init => listed.clear(),
            Event::InitApply(pod) => {
                listed.insert(pod.metadata.uid.clone().unwrap_or_default());
                dispatch(&kubelet, &mut workers, &mut recovered, pod, &shutdown);
            }
            Event::Apply(pod) => dispatch(&kubelet, &mut workers, &mut recovered, pod, &shutdown),
            Event::Delete(pod) => {
                let uid = pod.metadata.uid.clone().unwrap_or_default();
                if let Some(worker) = workers.get(&uid) {
                    worker.updates.send_replace(None);
                }
            }
            Event::InitDone => {
                for (uid, worker) in &workers {
                    if !listed.contains(uid) {
                        worker.updates.send_replace(None);
                    }
                }
                for (uid, handle) in recovered.live.drain() {
                    tokio::spawn(remove_orphan_task(kubelet.clone(), uid, Some(handle)));
                }
                for (uid, _) in recovered.lost.drain() {
                    tokio::spawn(remove_orphan_task(kubelet.clone(), uid, None));
                }
            }
        }
        workers.retain(|_, w| !w.task.is_finished());
    }
    // Workers stop at their next await; pods keep running in their shims.
    let tasks = workers.into_values().map(|w| w.task);
    let _ = tokio::time::timeout(Duration::from_secs(1), futures::future::join_all(tasks)).await;
    Ok(())
}

async fn remove_orphan_task(kubelet: Arc<Kubelet>, uid: String, handle: Option<SandboxHandle>) {
    remove_orphan(&kubelet, uid, handle).await;
}

fn dispatch(
    kubelet: &Arc<Kubelet>,
    workers: &mut HashMap<String, Worker>,
    recovered: &mut Recovered,
    pod: Pod,
    shutdown: &CancellationToken,
) {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    if let Some(worker) = workers.get(&uid) {
        if !worker.task.is_finished() {
            worker.updates.send_replace(Some(pod));
        }
        return;
    }
    let live = recovered.live.remove(&uid);
    let lost = recovered.lost.remove(&uid).unwrap_or_default();
    let (updates, receiver) = watch::channel(Some(pod.clone()));
    let worker = PodWorker::new(kubelet.clone(), pod, live, lost);
    let task = tokio::spawn(worker.run(receiver, shutdown.child_token()));
    workers.insert(uid, Worker { updates, task });
}
