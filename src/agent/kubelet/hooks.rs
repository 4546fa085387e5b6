//! Container lifecycle hooks as upstream's kubelet runs them: `postStart` right after a
//! container starts (the container counts as started only once the hook returns; a failing
//! hook kills it, event `FailedPostStartHook`, and its restartPolicy applies) and `preStop`
//! before a container is stopped (within the grace period, which the hook uses up; event
//! `FailedPreStopHook`). Handlers: `exec` (through the pod's shim), `httpGet` (a GET to the
//! pod's IP; any HTTP answer is a success, only a failed request fails) and `sleep`.
//!
//! [`kill_container`] is the one way the kubelet stops a container: the `Killing` event,
//! the preStop hook, then the stop signal with what is left of the grace period (at least
//! upstream's minimum of 2 s when there is a grace period at all).

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, LifecycleHandler, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::sync::watch;
use tracing::warn;

use super::Kubelet;
use super::probes::{http_get, port_of};
use super::status::Waiting;
use super::worker::{PodWorker, WorkerError, blocking};
use crate::runtime::sandbox::{ExecOptions, SandboxHandle};
use crate::runtime::state::ContainerStatus;

/// Upstream's shortest stop window for a container that has a grace period.
const MINIMUM_GRACE: Duration = Duration::from_secs(2);

/// The container a hook runs for.
pub struct HookTarget<'a> {
    pub pod: &'a Pod,
    pub container: &'a Container,
    pub handle: &'a SandboxHandle,
    /// The runtime's id of the attempt (`<name>.<attempt>`).
    pub id: String,
    pub pod_ip: Option<IpAddr>,
}

/// `name_namespace(uid)`, as upstream names a pod in messages.
fn pod_name(pod: &Pod) -> String {
    format!(
        "{}_{}({})",
        pod.metadata.name.as_deref().unwrap_or_default(),
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.uid.as_deref().unwrap_or_default()
    )
}

/// A list as Go's `%v` prints it: `[sh -c exit 1]`.
fn go_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

/// Runs `handler` for `target` until it ends or `cancel` completes; the error is upstream's
/// message for the failed hook.
///
/// # Errors
/// The command exited non-zero or could not run, the HTTP request failed, or the hook was
/// cancelled (the pod is going away).
pub async fn run_hook(
    handler: &LifecycleHandler,
    target: &HookTarget<'_>,
    cancel: impl Future<Output = ()>,
) -> Result<(), String> {
    let container = &target.container.name;
    let pod = pod_name(target.pod);
    if let Some(exec) = &handler.exec {
        let command = exec.command.clone().unwrap_or_default();
        let (handle, id, argv) = (target.handle.clone(), target.id.clone(), command.clone());
        let run = tokio::task::spawn_blocking(move || {
            let mut session = handle
                .exec(&id, &argv, &ExecOptions::default())
                .map_err(|e| e.to_string())?;
            session.collect().map_err(|e| e.to_string())
        });
        let (error, output) = tokio::select! {
            () = cancel => ("the container is being stopped".to_string(), String::new()),
            ran = run => match ran {
                Ok(Ok((_, _, Some(0)))) => return Ok(()),
                Ok(Ok((out, err, code))) => (
                    format!(
                        "command '{}' exited with {}: {}",
                        command.join(" "),
                        code.unwrap_or(-1),
                        String::from_utf8_lossy(&err)
                    ),
                    String::from_utf8_lossy(&out).into_owned(),
                ),
                Ok(Err(e)) => (e, String::new()),
                Err(e) => (e.to_string(), String::new()),
            },
        };
        return Err(format!(
            "Exec lifecycle hook ({}) for Container {container:?} in Pod {pod:?} failed - error: {error}, message: {output:?}",
            go_list(&command)
        ));
    }
    if let Some(http) = &handler.http_get {
        let path = http.path.clone().unwrap_or_default();
        let result = async {
            let host = match http.host.as_deref().filter(|h| !h.is_empty()) {
                Some(host) => host
                    .parse::<IpAddr>()
                    .map_err(|_| format!("cannot resolve host {host:?}"))?,
                None => target
                    .pod_ip
                    .ok_or("failed to find networking container: the pod has no IP")?,
            };
            let port = match &http.port {
                IntOrString::String(s) if s.is_empty() => 80,
                port => port_of(port, target.container)
                    .ok_or_else(|| format!("couldn't find port: {port:?}"))?,
            };
            if http.scheme.as_deref() == Some("HTTPS") {
                return Err("HTTPS lifecycle hooks are not supported".to_string());
            }
            let addr = SocketAddr::new(host, port);
            let path = if path.starts_with('/') {
                path.clone()
            } else {
                format!("/{path}")
            };
            let headers: Vec<(String, String)> = http
                .http_headers
                .iter()
                .flatten()
                .map(|h| (h.name.clone(), h.value.clone()))
                .collect();
            // Any answer will do: upstream fails an HTTP hook only when the request fails.
            http_get(addr, &addr.to_string(), &path, &headers)
                .await
                .map(|_| ())
        };
        let error = tokio::select! {
            () = cancel => "the container is being stopped".to_string(),
            done = result => match done {
                Ok(()) => return Ok(()),
                Err(e) => e,
            },
        };
        return Err(format!(
            "HTTP lifecycle hook ({path}) for Container {container:?} in Pod {pod:?} failed - error: {error}"
        ));
    }
    if let Some(sleep) = &handler.sleep {
        let seconds = sleep.seconds.max(0);
        tokio::select! {
            () = cancel => Err(format!(
                "Sleep lifecycle hook ({seconds}) for Container {container:?} in Pod {pod:?} failed - error: container terminated before sleep hook finished"
            )),
            () = tokio::time::sleep(Duration::from_secs(seconds as u64)) => Ok(()),
        }
    } else {
        Err(format!(
            "Cannot run handler: invalid handler for Container {container:?} in Pod {pod:?}"
        ))
    }
}

/// Completes when the pod is deleted (gone from the API or given a deletionTimestamp);
/// never when the kubelet itself stops (the pod keeps running then).
pub async fn pod_deleted(mut updates: watch::Receiver<Option<Pod>>) {
    loop {
        if updates
            .borrow_and_update()
            .as_ref()
            .is_none_or(|p| p.metadata.deletion_timestamp.is_some())
        {
            return;
        }
        if updates.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl PodWorker {
    /// Runs the postStart hook of attempt `attempt` of `container`, which has just started;
    /// the pod's sync waits for it, so the container is reported running only afterwards.
    /// A failed hook kills the container (its restartPolicy then applies) and leaves it
    /// waiting with reason `PostStartHookError`, as upstream.
    ///
    /// # Errors
    /// The shim cannot stop the container after a failed hook.
    pub(super) async fn post_start(
        &mut self,
        handle: &SandboxHandle,
        container: &Container,
        attempt: u32,
    ) -> Result<(), WorkerError> {
        let Some(hook) = container
            .lifecycle
            .as_ref()
            .and_then(|l| l.post_start.as_ref())
        else {
            return Ok(());
        };
        let target = HookTarget {
            pod: &self.pod,
            container,
            handle,
            id: format!("{}.{attempt}", container.name),
            pod_ip: self.addressing().pod_ip,
        };
        let updates = self.updates.clone();
        let cancel = async move {
            match updates {
                Some(updates) => pod_deleted(updates).await,
                None => std::future::pending().await,
            }
        };
        let Err(message) = run_hook(hook, &target, cancel).await else {
            return Ok(());
        };
        let about = self.about(Some(&container.name));
        warn!(container = %container.name, error = %message, "the postStart hook failed");
        // Upstream keeps the message out of the event so that secrets do not leak.
        self.kubelet
            .events
            .warning(&about, "FailedPostStartHook", "PostStartHook failed");
        let deleted = self.updates.as_ref().is_some_and(|u| {
            u.borrow()
                .as_ref()
                .is_none_or(|p| p.metadata.deletion_timestamp.is_some())
        });
        if !deleted {
            // The pod's deletion stops it otherwise, with the deletion's grace period.
            let grace = self
                .pod
                .spec
                .as_ref()
                .and_then(|s| s.termination_grace_period_seconds)
                .unwrap_or(30)
                .max(0) as u64;
            kill_container(
                &self.kubelet,
                &about,
                &target,
                Duration::from_secs(grace),
                Some("FailedPostStartHook"),
            )
            .await?;
        }
        // A container that will be restarted waits with the hook's error meanwhile.
        let restarts = super::status::is_sidecar(container)
            || self
                .pod
                .spec
                .as_ref()
                .and_then(|s| s.restart_policy.as_deref())
                != Some("Never");
        if restarts {
            self.waiting.insert(
                container.name.clone(),
                Waiting {
                    reason: "PostStartHookError".into(),
                    message,
                },
            );
        }
        self.wake.notify_one();
        Ok(())
    }
}

/// The grace period left after a preStop hook that ran for `used`.
fn grace_after_hook(grace: Duration, used: Duration) -> Duration {
    if grace.is_zero() {
        return grace;
    }
    let left = grace.saturating_sub(Duration::from_secs(used.as_secs()));
    left.max(MINIMUM_GRACE)
}

/// Stops a running container: the `Killing` event (`message`, or upstream's "Stopping
/// container"), its preStop hook if it has one and `grace` is not zero (bounded by
/// `grace`), then its stop signal with the rest of `grace`. Returns its final status.
///
/// # Errors
/// The shim cannot stop the container.
pub async fn kill_container(
    kubelet: &Kubelet,
    about: &ObjectReference,
    target: &HookTarget<'_>,
    grace: Duration,
    message: Option<&str>,
) -> Result<ContainerStatus, WorkerError> {
    let name = &target.container.name;
    let message = message
        .map(String::from)
        .unwrap_or_else(|| format!("Stopping container {name}"));
    kubelet.events.normal(about, "Killing", &message);
    let mut grace = grace;
    if let Some(pre_stop) = target
        .container
        .lifecycle
        .as_ref()
        .and_then(|l| l.pre_stop.as_ref())
        .filter(|_| !grace.is_zero())
    {
        let started = Instant::now();
        match run_hook(pre_stop, target, tokio::time::sleep(grace)).await {
            Ok(()) => {}
            Err(error) => {
                warn!(container = %name, %error, "the preStop hook failed");
                // Upstream keeps the message out of the event so that secrets do not leak.
                kubelet
                    .events
                    .warning(about, "FailedPreStopHook", "PreStopHook failed");
            }
        }
        grace = grace_after_hook(grace, started.elapsed());
    }
    let id = target.id.clone();
    blocking(target.handle, move |h| h.stop_container(&id, grace)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pre_stop_hook_uses_up_the_grace_period_down_to_the_minimum() {
        let s = Duration::from_secs;
        assert_eq!(grace_after_hook(s(30), Duration::from_millis(5500)), s(25));
        assert_eq!(grace_after_hook(s(5), s(4)), s(2));
        assert_eq!(grace_after_hook(s(5), s(9)), s(2));
        assert_eq!(grace_after_hook(Duration::ZERO, s(1)), Duration::ZERO);
    }

    #[test]
    fn messages_name_the_pod_and_the_command_as_upstream() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
        }))
        .unwrap();
        assert_eq!(pod_name(&pod), "p_ns(u1)");
        assert_eq!(
            go_list(&["sh".into(), "-c".into(), "exit 1".into()]),
            "[sh -c exit 1]"
        );
    }

    #[tokio::test]
    async fn deletion_ends_the_wait_and_a_stopping_kubelet_does_not() {
        let pod: Pod =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}})).unwrap();
        let (tx, rx) = watch::channel(Some(pod.clone()));
        let mut waiting = Box::pin(pod_deleted(rx.clone()));
        assert!(futures::poll!(waiting.as_mut()).is_pending());
        let mut deleted = pod.clone();
        deleted.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now()),
        );
        tx.send_replace(Some(deleted));
        waiting.await;
        let (tx, rx) = watch::channel(Some(pod));
        drop(tx);
        let mut stopping = Box::pin(pod_deleted(rx));
        assert!(futures::poll!(stopping.as_mut()).is_pending());
    }
}
