//! The end of a pod on the node: graceful deletion ([`PodWorker::terminate`]: run the
//! containers' preStop hooks and stop them within the grace period, report the terminal
//! status, remove the sandbox, network, volumes and logs, then delete the pod with grace 0,
//! as upstream's kubelet does), a pod removed from the API without that
//! ([`PodWorker::tear_down`]), the sandbox of a pod that finished
//! ([`PodWorker::stop_sandbox`]), and a container's exited attempts beyond the last two
//! ([`PodWorker::remove_old_attempts`]).

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod};
use kube::api::{Api, DeleteParams, Preconditions};
use tracing::{debug, info, warn};

use super::hooks::{HookTarget, kill_container};
use super::volumes::PodVolumes;
use super::worker::{Next, PodWorker, WorkerError, blocking};
use crate::runtime::sandbox::SandboxHandle;
use crate::runtime::state::{ContainerState, ContainerStatus};

impl PodWorker {
    /// Stops the sandbox of a pod that finished (its containers have exited).
    pub(super) async fn stop_sandbox(&mut self) -> Result<(), WorkerError> {
        if let Some(handle) = self.sandbox.take() {
            blocking(&handle, |h| h.clone().shutdown(Duration::ZERO)).await?;
            if let Err(error) = self.kubelet.network.detach(&self.uid()).await {
                warn!(%error, "cannot release the pod's network");
            }
        }
        Ok(())
    }

    /// Stops every running container (preStop hooks first, all at once) within `grace`;
    /// returns what the runtime then reports.
    pub(super) async fn stop_all(&mut self, grace: Duration) -> Vec<ContainerStatus> {
        let mut seen = self.lost.clone();
        if let Some(handle) = self.sandbox.clone()
            && let Ok(status) = blocking(&handle, |h| h.status()).await
        {
            let running: Vec<ContainerStatus> = status
                .containers
                .iter()
                .filter(|c| c.state != ContainerState::Exited)
                .cloned()
                .collect();
            let spec = self.pod.spec.clone().unwrap_or_default();
            let specs: Vec<Container> = spec
                .containers
                .iter()
                .chain(spec.init_containers.iter().flatten())
                .cloned()
                .collect();
            let unknown: Vec<Container> = running
                .iter()
                .map(|c| Container {
                    name: c.name.clone(),
                    ..Container::default()
                })
                .collect();
            let pod_ip = self.addressing().pod_ip;
            let mut stops = Vec::new();
            for (c, fallback) in running.iter().zip(&unknown) {
                let container = specs.iter().find(|s| s.name == c.name).unwrap_or(fallback);
                let about = self.about(Some(&c.name));
                let target = HookTarget {
                    pod: &self.pod,
                    container,
                    handle: &handle,
                    id: format!("{}.{}", c.name, c.attempt),
                    pod_ip,
                };
                let kubelet = &self.kubelet;
                stops.push(
                    async move { kill_container(kubelet, &about, &target, grace, None).await },
                );
            }
            for result in futures::future::join_all(stops).await {
                if let Err(error) = result {
                    warn!(%error, "cannot stop a container");
                }
            }
            if let Ok(status) = blocking(&handle, |h| h.status()).await {
                seen = self.merged(status.containers);
            }
        }
        seen
    }

    /// Reports the pod's terminal status from `seen`: whatever its restartPolicy, nothing
    /// restarts any more (as upstream).
    pub(super) async fn report_terminal(
        &mut self,
        seen: &[ContainerStatus],
    ) -> Result<(), WorkerError> {
        self.waiting.clear();
        let mut terminal = self.pod.clone();
        if let Some(spec) = terminal.spec.as_mut() {
            spec.restart_policy = Some("Never".into());
        }
        let original = std::mem::replace(&mut self.pod, terminal);
        let reported = self.report(seen).await;
        let latest = std::mem::replace(&mut self.pod, original);
        if latest.metadata.uid == self.pod.metadata.uid {
            self.pod.status = latest.status;
        }
        reported.map(|_| ())
    }

    /// Graceful deletion: stop every container within the pod's grace period, report the
    /// terminal status, remove the sandbox and volumes, then delete the pod for good.
    pub(super) async fn terminate(&mut self) -> Result<Next, WorkerError> {
        let grace = self
            .pod
            .metadata
            .deletion_grace_period_seconds
            .unwrap_or(30)
            .max(0) as u64;
        let seen = self.stop_all(Duration::from_secs(grace)).await;
        self.report_terminal(&seen).await?;
        self.tear_down().await?;
        let pods: Api<Pod> = Api::namespaced(self.kubelet.client.clone(), &self.namespace());
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: self.pod.metadata.uid.clone(),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match pods.delete(&self.name(), &params).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
            Err(error) => return Err(error.into()),
        }
        info!(pod = %format!("{}/{}", self.namespace(), self.name()), "the pod was deleted");
        Ok(Next::Done)
    }

    /// Removes exited attempts older than the last two of each container.
    pub(super) async fn remove_old_attempts(
        &self,
        handle: &SandboxHandle,
        seen: &[ContainerStatus],
    ) {
        for c in seen {
            let newest = super::worker::latest(seen, &c.name)
                .map(|l| l.attempt)
                .unwrap_or(0);
            if c.state == ContainerState::Exited
                && c.attempt + 1 < newest
                && !self
                    .lost
                    .iter()
                    .any(|l| l.name == c.name && l.attempt == c.attempt)
            {
                let id = format!("{}.{}", c.name, c.attempt);
                if let Err(error) = blocking(handle, move |h| h.remove_container(&id)).await {
                    debug!(%error, "cannot remove an old container");
                }
            }
        }
    }

    /// Removes everything the pod has on the node.
    pub(super) async fn tear_down(&mut self) -> Result<(), WorkerError> {
        if let Some(handle) = self.sandbox.take() {
            blocking(&handle, |h| h.clone().shutdown(Duration::ZERO)).await?;
        }
        if let Err(error) = self.kubelet.network.detach(&self.uid()).await {
            warn!(%error, "cannot release the pod's network");
        }
        let dir = self.kubelet.config.pods_dir.clone();
        let uid = self.uid();
        // The container logs go with the pod, as upstream's kubelet removes them.
        let logs = self.kubelet.config.runtime.logs.join(format!(
            "{}_{}_{}",
            self.namespace(),
            self.name(),
            uid
        ));
        let _ = tokio::task::spawn_blocking(move || {
            let _ = std::fs::remove_dir_all(logs);
            PodVolumes::remove(&dir, &uid)
        })
        .await;
        Ok(())
    }
}
