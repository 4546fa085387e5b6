//! One worker per pod: converges the pod's sandbox and containers on its spec and reports
//! its status. Each pass ([`PodWorker::sync`]) reads what the pod's shim reports and takes
//! the next step:
//!
//! ```text
//! bound ──▶ volumes ──▶ sandbox (+ network) ──▶ init containers, one at a time, in order
//!                                              ──▶ app containers ──▶ restarts per restartPolicy
//!                                                                      (crash-loop back-off)
//! deletionTimestamp ──▶ stop containers within the grace period ──▶ terminal status
//!                   ──▶ remove sandbox, network, volumes ──▶ delete with grace 0
//! ```
//! A pass runs when the pod changes, when a container exits (a thread per running container
//! waits on the shim), when a back-off ends, and every [`RESYNC`] otherwise.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use k8s_openapi::api::core::v1::{Container, ObjectReference, Pod};
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::backoff::Backoff;
use super::containers;
use super::env::{PodAddressing, Sources};
use super::hooks::{HookTarget, kill_container};
use super::images;
use super::network::HostPort;
use super::probes::{PodProbes, Verdict};
use super::status::{self, ImageInfo, Observed, Waiting};
use super::volumes::PodVolumes;
use super::{Kubelet, node};
use crate::runtime::sandbox::{PodSandbox, RuntimeError, SandboxHandle};
use crate::runtime::state::{ContainerState, ContainerStatus};

/// How often a pod is looked at when nothing happens.
pub const RESYNC: Duration = Duration::from_secs(10);
/// How often the content of configMap, secret, downwardAPI and projected volumes is renewed.
const VOLUME_REFRESH: Duration = Duration::from_secs(60);
/// How long a pod waits after a step failed.
const RETRY: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("the runtime failed: {0}")]
    Runtime(#[from] RuntimeError),
    #[error("a runtime call did not finish: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("the API server refused the pod's update: {0}")]
    Api(#[from] kube::Error),
}

/// What a pass decided.
pub(super) enum Next {
    /// Look again after this long (or earlier if something happens).
    After(Duration),
    /// The pod is gone: the worker ends.
    Done,
}

/// A pod's worker.
pub struct PodWorker {
    pub(super) kubelet: Arc<Kubelet>,
    pub(super) pod: Pod,
    pub(super) gone: bool,
    pub(super) sandbox: Option<SandboxHandle>,
    pub(super) pod_ip: Option<IpAddr>,
    pub(super) attached: bool,
    pub(super) volumes: PodVolumes,
    pub(super) volumes_at: Option<Instant>,
    pub(super) backoff: Backoff,
    pub(super) pull_failed_at: HashMap<String, SystemTime>,
    pub(super) waiting: HashMap<String, Waiting>,
    pub(super) images: HashMap<String, ImageInfo>,
    pub(super) waiters: HashSet<String>,
    /// The attempt a BackOff event was recorded for, by container.
    pub(super) backoff_events: HashMap<String, u32>,
    pub(super) probes: PodProbes,
    pub(super) verdicts: HashMap<String, Verdict>,
    pub(super) wake: Arc<Notify>,
    pub(super) reported: Option<Value>,
    pub(super) start_time: String,
    /// Containers of a sandbox whose shim died (from recovery): their attempts count.
    pub(super) lost: Vec<ContainerStatus>,
    /// The pod's updates, for hooks that end when the pod is deleted.
    pub(super) updates: Option<watch::Receiver<Option<Pod>>>,
    /// Why the node failed the pod (reason, message): its status says so.
    pub(super) failure: Option<(String, String)>,
    /// This pod's turn at the runtime, while it sets up its sandbox and containers.
    pub(super) turn: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// The mount of a runtime call on the blocking pool.
pub(super) async fn blocking<T: Send + 'static>(
    handle: &SandboxHandle,
    call: impl FnOnce(&SandboxHandle) -> Result<T, RuntimeError> + Send + 'static,
) -> Result<T, WorkerError> {
    let handle = handle.clone();
    Ok(tokio::task::spawn_blocking(move || call(&handle)).await??)
}

fn parse_time(time: Option<&str>) -> SystemTime {
    time.and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(SystemTime::from)
        .unwrap_or_else(SystemTime::now)
}

/// A duration as Go prints it (`10s`, `1m20s`, `5m0s`), for upstream's messages.
fn go_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s}s")
    } else {
        format!("{}m{}s", s / 60, s % 60)
    }
}

pub(super) fn latest<'a>(all: &'a [ContainerStatus], name: &str) -> Option<&'a ContainerStatus> {
    all.iter()
        .filter(|c| c.name == name)
        .max_by_key(|c| c.attempt)
}

impl PodWorker {
    pub fn new(
        kubelet: Arc<Kubelet>,
        pod: Pod,
        sandbox: Option<SandboxHandle>,
        lost: Vec<ContainerStatus>,
    ) -> Self {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let start_time = pod
            .status
            .as_ref()
            .and_then(|s| s.start_time.as_ref())
            .and_then(|t| serde_json::to_value(t).ok())
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_else(crate::api::object::now);
        PodWorker {
            volumes: PodVolumes::new(&kubelet.config.pods_dir, &uid),
            kubelet,
            pod,
            gone: false,
            sandbox,
            pod_ip: None,
            attached: false,
            volumes_at: None,
            backoff: Backoff::default(),
            pull_failed_at: HashMap::new(),
            waiting: HashMap::new(),
            images: HashMap::new(),
            waiters: HashSet::new(),
            backoff_events: HashMap::new(),
            probes: PodProbes::default(),
            verdicts: HashMap::new(),
            wake: Arc::new(Notify::new()),
            reported: None,
            start_time,
            lost,
            updates: None,
            failure: None,
            turn: None,
        }
    }

    pub(super) fn uid(&self) -> String {
        self.pod.metadata.uid.clone().unwrap_or_default()
    }

    pub(super) fn name(&self) -> String {
        self.pod.metadata.name.clone().unwrap_or_default()
    }

    pub(super) fn namespace(&self) -> String {
        self.pod.metadata.namespace.clone().unwrap_or_default()
    }

    pub(super) fn about(&self, container: Option<&str>) -> ObjectReference {
        let mut reference = crate::controllers::events::reference("v1", "Pod", &self.pod.metadata);
        if let Some(name) = container {
            let init = self
                .pod
                .spec
                .iter()
                .flat_map(|s| s.init_containers.iter().flatten())
                .any(|c| c.name == name);
            reference.field_path = Some(if init {
                format!("spec.initContainers{{{name}}}")
            } else {
                format!("spec.containers{{{name}}}")
            });
        }
        reference
    }

    fn host_network(&self) -> bool {
        self.pod
            .spec
            .as_ref()
            .is_some_and(|s| s.host_network == Some(true))
    }

    pub(super) fn addressing(&self) -> PodAddressing {
        let host_ip = node::node_ip(&self.kubelet);
        PodAddressing {
            host_ip: Some(host_ip),
            pod_ip: if self.host_network() {
                Some(host_ip)
            } else {
                self.pod_ip
            },
        }
    }

    /// Runs until the pod is gone or `shutdown`; `updates` carries the pod's latest state
    /// (`None` once it is deleted from the API).
    pub async fn run(
        mut self,
        mut updates: watch::Receiver<Option<Pod>>,
        shutdown: CancellationToken,
    ) {
        self.updates = Some(updates.clone());
        loop {
            match updates.borrow_and_update().clone() {
                Some(pod) => self.pod = pod,
                None => self.gone = true,
            }
            let synced = self.sync().await;
            self.turn = None;
            let next = match synced {
                Ok(Next::Done) => return,
                Ok(Next::After(after)) => after,
                Err(error) => {
                    warn!(pod = %format!("{}/{}", self.namespace(), self.name()), %error, "pod sync failed; retrying");
                    RETRY
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                changed = updates.changed() => if changed.is_err() { return },
                () = self.wake.notified() => {}
                () = tokio::time::sleep(next) => {}
            }
        }
    }

    async fn sync(&mut self) -> Result<Next, WorkerError> {
        if self.gone {
            self.tear_down().await?;
            return Ok(Next::Done);
        }
        if self.pod.metadata.deletion_timestamp.is_some() {
            return self.terminate().await;
        }
        let phase = self
            .pod
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default();
        if phase == "Succeeded" || phase == "Failed" {
            self.stop_sandbox().await?;
            return Ok(Next::After(Duration::from_secs(3600)));
        }
        let fresh = self.sandbox.is_none();
        let began = Instant::now();
        let mut deadline = RESYNC;
        if self.check_active_deadline(&mut deadline).await?
            || self.check_empty_dir_limits().await?
            || self.check_node_pressure().await?
        {
            return Ok(Next::After(Duration::from_secs(3600)));
        }
        if self
            .volumes_at
            .is_none_or(|at| at.elapsed() >= VOLUME_REFRESH)
        {
            let addressing = self.addressing();
            match self
                .volumes
                .prepare(&self.kubelet.client, &self.pod, &addressing)
                .await
            {
                Ok(()) => self.volumes_at = Some(Instant::now()),
                Err(error) => {
                    let message = format!("MountVolume.SetUp failed for {error}");
                    self.kubelet
                        .events
                        .warning(&self.about(None), "FailedMount", &message);
                    if self.volumes_at.is_none() {
                        self.report(&[]).await?;
                        return Ok(Next::After(Duration::from_secs(10)));
                    }
                }
            }
        }
        let volumes_done = Instant::now();
        if self.sandbox.is_none() || !self.attached {
            self.take_turn().await;
        }
        let turn_done = Instant::now();
        if self.sandbox.is_none() {
            let config = containers::sandbox_config(&self.kubelet, &self.pod);
            let dirs = self.kubelet.config.runtime.clone();
            let started =
                tokio::task::spawn_blocking(move || PodSandbox::start(&dirs, &config)).await?;
            match started {
                Ok(handle) => {
                    info!(pod = %format!("{}/{}", self.namespace(), self.name()), shim = handle.pid, "started the pod's sandbox");
                    self.sandbox = Some(handle);
                }
                Err(error) => {
                    self.kubelet.events.warning(
                        &self.about(None),
                        "FailedCreatePodSandBox",
                        &format!("Failed to create pod sandbox: {error}"),
                    );
                    self.report(&[]).await?;
                    return Ok(Next::After(Duration::from_secs(10)));
                }
            }
        }
        let Some(handle) = self.sandbox.clone() else {
            return Ok(Next::After(RETRY));
        };
        let runtime = match blocking(&handle, |h| h.status()).await {
            Ok(status) => status,
            Err(error) => {
                // The shim is gone: its containers are lost; a new sandbox comes next pass.
                warn!(pod = %self.name(), %error, "the pod's shim does not answer; starting a new sandbox");
                self.sandbox = None;
                self.attached = false;
                return Ok(Next::After(Duration::ZERO));
            }
        };
        let sandbox_done = Instant::now();
        if !self.attached {
            self.attach(runtime.net_namespace.as_deref()).await;
        }
        let network_done = Instant::now();
        let mut seen = self.merged(runtime.containers);
        let mut next = RESYNC;
        let acted = self.converge(&handle, &seen, &mut next).await?;
        if acted {
            seen = self.merged(blocking(&handle, |h| h.status()).await?.containers);
        }
        self.turn = None;
        let containers_done = Instant::now();
        for container in &seen {
            if container.state == ContainerState::Running {
                self.watch_exit(&handle, &container.name, container.attempt);
            }
        }
        self.probe(&handle, &seen, &mut next).await;
        self.remove_old_attempts(&handle, &seen).await;
        let phase = self.report(&seen).await?;
        if fresh {
            // Where a pod's start went (KEDGE_LOG=kedge::agent::kubelet=debug).
            let ms = |from: Instant, to: Instant| (to - from).as_secs_f64() * 1000.0;
            debug!(
                pod = %format!("{}/{}", self.namespace(), self.name()),
                volumes_ms = ms(began, volumes_done),
                turn_ms = ms(volumes_done, turn_done),
                sandbox_ms = ms(turn_done, sandbox_done),
                network_ms = ms(sandbox_done, network_done),
                containers_ms = ms(network_done, containers_done),
                report_ms = ms(containers_done, Instant::now()),
                "pod start"
            );
        }
        if phase == "Succeeded" || phase == "Failed" {
            self.stop_sandbox().await?;
        }
        Ok(Next::After(next.min(deadline)))
    }

    /// Waits for a turn at the runtime's heavy steps (see [`super::RUNTIME_TURNS`]), unless
    /// this worker holds one: a pod keeps its turn from its sandbox to its containers, so
    /// that a burst of pods starts in order instead of all finishing together.
    async fn take_turn(&mut self) {
        if self.turn.is_none() {
            self.turn = self
                .kubelet
                .runtime_turns
                .clone()
                .acquire_owned()
                .await
                .ok();
        }
    }

    /// The runtime's containers and those lost with an earlier shim (the runtime's win).
    pub(super) fn merged(&self, mut runtime: Vec<ContainerStatus>) -> Vec<ContainerStatus> {
        for lost in &self.lost {
            if !runtime
                .iter()
                .any(|c| c.name == lost.name && c.attempt == lost.attempt)
            {
                runtime.push(lost.clone());
            }
        }
        runtime
    }

    async fn attach(&mut self, netns: Option<&std::path::Path>) {
        if self.host_network() {
            self.attached = true;
            return;
        }
        let Some(netns) = netns else {
            return;
        };
        let ports: Vec<HostPort> = self
            .pod
            .spec
            .iter()
            .flat_map(|s| s.containers.iter())
            .flat_map(|c| c.ports.iter().flatten())
            .filter_map(|p| {
                let host_port = u16::try_from(p.host_port?).ok().filter(|p| *p > 0)?;
                Some(HostPort {
                    protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                    host_ip: p.host_ip.as_deref().and_then(|ip| ip.parse().ok()),
                    host_port,
                    container_port: u16::try_from(p.container_port).unwrap_or(0),
                })
            })
            .collect();
        match self
            .kubelet
            .network
            .attach(&self.uid(), netns, &ports)
            .await
        {
            Ok(addresses) => {
                self.pod_ip = addresses.map(|a| a.ip);
                self.attached = true;
            }
            Err(error) => self.kubelet.events.warning(
                &self.about(None),
                "FailedCreatePodSandBox",
                &error.to_string(),
            ),
        }
    }

    /// Starts what should run next; returns whether anything was started.
    async fn converge(
        &mut self,
        handle: &SandboxHandle,
        seen: &[ContainerStatus],
        next: &mut Duration,
    ) -> Result<bool, WorkerError> {
        let spec = self.pod.spec.clone().unwrap_or_default();
        let policy = spec
            .restart_policy
            .clone()
            .unwrap_or_else(|| "Always".into());
        let mut sources = Sources::new(self.kubelet.client.clone(), &self.namespace());
        for container in spec.init_containers.iter().flatten() {
            let sidecar = status::is_sidecar(container);
            let own_policy = if sidecar { "Always" } else { policy.as_str() };
            let init_policy = if own_policy == "Never" {
                "Never"
            } else {
                "OnFailure"
            };
            match latest(seen, &container.name) {
                Some(c) if c.state == ContainerState::Running && sidecar => continue,
                Some(c)
                    if c.state == ContainerState::Exited && c.exit_code == Some(0) && !sidecar =>
                {
                    continue;
                }
                Some(c) if c.state == ContainerState::Exited && init_policy == "Never" => {
                    return Ok(false);
                }
                other => {
                    let other = other.cloned();
                    let policy = if sidecar { "Always" } else { init_policy };
                    return self
                        .step(
                            handle,
                            &mut sources,
                            container,
                            other.as_ref(),
                            policy,
                            next,
                        )
                        .await;
                }
            }
        }
        let mut acted = false;
        for container in &spec.containers {
            let last = latest(seen, &container.name).cloned();
            acted |= self
                .step(
                    handle,
                    &mut sources,
                    container,
                    last.as_ref(),
                    &policy,
                    next,
                )
                .await?;
        }
        Ok(acted)
    }

    /// One container's next step: start it, or restart it after an exit when `policy` says
    /// so and its back-off allows.
    async fn step(
        &mut self,
        handle: &SandboxHandle,
        sources: &mut Sources,
        container: &Container,
        last: Option<&ContainerStatus>,
        policy: &str,
        next: &mut Duration,
    ) -> Result<bool, WorkerError> {
        let name = container.name.clone();
        match last {
            None => {
                self.start(handle, sources, container, 0).await?;
                Ok(true)
            }
            Some(c) if c.state == ContainerState::Running => Ok(false),
            Some(c) if c.state == ContainerState::Created => {
                let id = format!("{}.{}", c.name, c.attempt);
                let _ = blocking(handle, move |h| h.start_container(&id)).await;
                Ok(true)
            }
            Some(c) => {
                let code = c.exit_code.unwrap_or(0);
                let restart = match policy {
                    "Always" => true,
                    "OnFailure" => code != 0,
                    _ => false,
                };
                if !restart {
                    self.waiting.remove(&name);
                    return Ok(false);
                }
                let finished = parse_time(c.finished_at.as_deref());
                let now = SystemTime::now();
                if let Some(remaining) = self.backoff.remaining(&name, finished, now) {
                    let delay = self.backoff.delay(&name).unwrap_or(remaining);
                    let pod = format!("{}_{}({})", self.name(), self.namespace(), self.uid());
                    self.waiting.insert(
                        name.clone(),
                        Waiting {
                            reason: "CrashLoopBackOff".into(),
                            message: format!(
                                "back-off {} restarting failed container={name} pod={pod}",
                                go_duration(delay)
                            ),
                        },
                    );
                    if self.backoff_events.get(&name) != Some(&c.attempt) {
                        self.backoff_events.insert(name.clone(), c.attempt);
                        self.kubelet.events.warning(
                            &self.about(Some(&name)),
                            "BackOff",
                            &format!("Back-off restarting failed container {name} in pod {pod}"),
                        );
                    }
                    *next = (*next).min(remaining + Duration::from_millis(50));
                    return Ok(false);
                }
                self.backoff.next(&name, finished, now);
                self.start(handle, sources, container, c.attempt + 1)
                    .await?;
                Ok(true)
            }
        }
    }

    /// Pulls the image if needed, creates and starts attempt `attempt` of `container`.
    async fn start(
        &mut self,
        handle: &SandboxHandle,
        sources: &mut Sources,
        container: &Container,
        attempt: u32,
    ) -> Result<(), WorkerError> {
        let name = container.name.clone();
        let about = self.about(Some(&name));
        let began = Instant::now();
        if images::will_pull(&self.kubelet, container) {
            // A pull may take minutes: other pods take their turns meanwhile.
            self.turn = None;
        }
        let image = match images::ensure(
            &self.kubelet,
            &self.pod,
            &about,
            container,
            &mut self.backoff,
            &mut self.pull_failed_at,
        )
        .await
        {
            Ok(image) => image,
            Err(waiting) => {
                self.waiting.insert(name, waiting);
                return Ok(());
            }
        };
        let spec_image = container.image.clone().unwrap_or_default();
        self.images
            .insert(name.clone(), images::image_info(&spec_image, &image));
        let addressing = self.addressing();
        let config = match containers::container_config(
            &self.kubelet,
            sources,
            &self.pod,
            container,
            attempt,
            &image,
            &self.volumes,
            &addressing,
        )
        .await
        {
            Ok(config) => config,
            Err(error) => {
                self.kubelet
                    .events
                    .warning(&about, "Failed", &format!("Error: {error}"));
                self.waiting.insert(
                    name,
                    Waiting {
                        reason: "CreateContainerConfigError".into(),
                        message: error.to_string(),
                    },
                );
                return Ok(());
            }
        };
        let _ = self.kubelet.images.mark_used(&image.id);
        self.take_turn().await;
        let configured = Instant::now();
        let created = blocking(handle, move |h| h.create_container(&config)).await;
        let created_at = Instant::now();
        if let Err(error) = created {
            self.kubelet
                .events
                .warning(&about, "Failed", &format!("Error: {error}"));
            self.waiting.insert(
                name,
                Waiting {
                    reason: "CreateContainerError".into(),
                    message: error.to_string(),
                },
            );
            return Ok(());
        }
        self.waiting.remove(&name);
        self.kubelet
            .events
            .normal(&about, "Created", &format!("Created container: {name}"));
        let id = format!("{name}.{attempt}");
        let mut running = false;
        match blocking(handle, move |h| h.start_container(&id)).await {
            Ok(status) if status.state != ContainerState::Exited || status.exit_code.is_some() => {
                running = status.state == ContainerState::Running;
                if status.reason.as_deref() == Some("StartError") {
                    self.kubelet.events.warning(
                        &about,
                        "Failed",
                        &format!("Error: {}", status.message.unwrap_or_default()),
                    );
                } else {
                    self.kubelet.events.normal(
                        &about,
                        "Started",
                        &format!("Started container {name}"),
                    );
                }
            }
            Ok(_) => {}
            Err(error) => self
                .kubelet
                .events
                .warning(&about, "Failed", &format!("Error: {error}")),
        }
        let ms = |from: Instant, to: Instant| (to - from).as_secs_f64() * 1000.0;
        debug!(
            pod = %format!("{}/{}", self.namespace(), self.name()),
            container = %name,
            prepare_ms = ms(began, configured),
            create_ms = ms(configured, created_at),
            start_ms = ms(created_at, Instant::now()),
            "container start"
        );
        if running {
            // A hook may take long: not on the runtime's turn.
            self.turn = None;
            self.post_start(handle, container, attempt).await?;
        }
        Ok(())
    }

    /// Runs the probes that are due of the running containers; kills those a liveness or
    /// startup probe failed (their restart policy then applies).
    async fn probe(
        &mut self,
        handle: &SandboxHandle,
        seen: &[ContainerStatus],
        next: &mut Duration,
    ) {
        let spec = self.pod.spec.clone().unwrap_or_default();
        let ip = self.addressing().pod_ip;
        let mut running = Vec::new();
        let grace = spec.termination_grace_period_seconds.unwrap_or(30).max(0) as u64;
        for container in spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
        {
            let Some(c) =
                latest(seen, &container.name).filter(|c| c.state == ContainerState::Running)
            else {
                self.verdicts.remove(&container.name);
                continue;
            };
            let id = format!("{}.{}", c.name, c.attempt);
            running.push(id.clone());
            if container.startup_probe.is_none()
                && container.liveness_probe.is_none()
                && container.readiness_probe.is_none()
            {
                self.verdicts.remove(&container.name);
                continue;
            }
            let ran_for = SystemTime::now()
                .duration_since(parse_time(c.started_at.as_deref()))
                .unwrap_or_default();
            let started_at = Instant::now()
                .checked_sub(ran_for)
                .unwrap_or_else(Instant::now);
            let (verdict, failure, unhealthy, due) = self
                .probes
                .run(container, handle, &id, started_at, ip)
                .await;
            self.verdicts.insert(container.name.clone(), verdict);
            let about = self.about(Some(&container.name));
            for (kind, message) in unhealthy {
                self.kubelet.events.warning(
                    &about,
                    "Unhealthy",
                    &format!("{} probe failed: {message}", kind.name()),
                );
            }
            if let Some(failure) = failure {
                let message = format!(
                    "Container {} failed {} probe, will be restarted",
                    container.name,
                    failure.kind.name().to_lowercase()
                );
                let target = HookTarget {
                    pod: &self.pod,
                    container,
                    handle,
                    id: id.clone(),
                    pod_ip: ip,
                };
                let grace = Duration::from_secs(grace);
                if let Err(error) =
                    kill_container(&self.kubelet, &about, &target, grace, Some(&message)).await
                {
                    warn!(%error, "cannot stop a container that failed its probe");
                }
                self.wake.notify_one();
            }
            if let Some(due) = due {
                let wait = due.saturating_duration_since(Instant::now());
                *next = (*next).min(wait + Duration::from_millis(10));
            }
        }
        self.probes.retain(&running);
    }

    /// A thread that waits for the container to exit and wakes the worker.
    fn watch_exit(&mut self, handle: &SandboxHandle, name: &str, attempt: u32) {
        let id = format!("{name}.{attempt}");
        if !self.waiters.insert(id.clone()) {
            return;
        }
        let handle = handle.clone();
        let wake = self.wake.clone();
        let spawned = std::thread::Builder::new()
            .name("kubelet-exit".into())
            .stack_size(256 * 1024)
            .spawn(move || {
                let _ = handle.wait_container(&id);
                wake.notify_one();
            });
        if let Err(error) = spawned {
            warn!(%error, "cannot start a thread to wait for a container; relying on resyncs");
        }
    }

    /// Writes the pod's status if it changed; returns the phase.
    pub(super) async fn report(&mut self, seen: &[ContainerStatus]) -> Result<String, WorkerError> {
        let addressing = self.addressing();
        let observed = Observed {
            containers: seen,
            waiting: &self.waiting,
            images: &self.images,
            verdicts: &self.verdicts,
            sandbox_ready: self.sandbox.is_some() && self.attached,
            host_ip: addressing.host_ip,
            pod_ip: addressing.pod_ip,
            start_time: self.start_time.clone(),
            now: crate::api::object::now(),
        };
        let mut status = status::pod_status(&self.pod, &observed);
        if let Some((reason, message)) = &self.failure {
            status["phase"] = json!("Failed");
            status["reason"] = json!(reason);
            status["message"] = json!(message);
            if reason == "Evicted"
                && let Some(conditions) = status["conditions"].as_array_mut()
            {
                conditions.push(status::disruption_target(&self.pod, message, &observed.now));
            }
        }
        let phase = status["phase"].as_str().unwrap_or_default().to_string();
        self.write_status(status).await?;
        Ok(phase)
    }

    async fn write_status(&mut self, status: Value) -> Result<(), WorkerError> {
        if self.reported.as_ref() == Some(&status) {
            return Ok(());
        }
        let pods: Api<Pod> = Api::namespaced(self.kubelet.client.clone(), &self.namespace());
        match pods
            .patch_status(
                &self.name(),
                &PatchParams::default(),
                &Patch::Merge(&json!({"status": status})),
            )
            .await
        {
            Ok(pod) => {
                if pod.metadata.uid == self.pod.metadata.uid {
                    self.pod = pod;
                }
                self.reported = Some(status);
                Ok(())
            }
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(error) => Err(error.into()),
        }
    }
}
