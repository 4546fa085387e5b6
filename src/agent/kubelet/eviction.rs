//! Pods the node itself ends, as upstream's kubelet does: a pod active longer than its
//! `activeDeadlineSeconds` (counted from its `startTime`) has its containers stopped (preStop
//! hooks first, within its termination grace period) and ends `Failed` with reason
//! `DeadlineExceeded`, with a `DeadlineExceeded` event; a pod whose disk emptyDir holds more
//! than its `sizeLimit` is evicted (containers killed at once, `Failed` with reason `Evicted`,
//! event `Evicted`). The usage is measured on each of the pod's syncs (at least every resync,
//! 10 s), only for pods that set a limit. A pod node-pressure eviction chose
//! ([`super::pressure`]) is evicted the same way. [`PodWorker::fail_pod`] is the shared step: stop
//! everything, report the terminal status with the reason and message, stop the sandbox.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::worker::{PodWorker, WorkerError, blocking};
use crate::api::admission::validation::parse_quantity;

/// Upstream's message for a pod past its `activeDeadlineSeconds`.
pub const DEADLINE_MESSAGE: &str = "Pod was active on the node longer than the specified deadline";

/// When a pod that started at `start` (RFC 3339) runs out of `seconds`.
pub fn deadline(start: &str, seconds: i64) -> Option<SystemTime> {
    let start = start.parse::<jiff::Timestamp>().ok()?;
    Some(SystemTime::from(start) + Duration::from_secs(seconds.max(0) as u64))
}

/// How long until `deadline`; `None` once it passed.
pub fn time_left(deadline: SystemTime, now: SystemTime) -> Option<Duration> {
    deadline
        .duration_since(now)
        .ok()
        .filter(|left| !left.is_zero())
}

/// The bytes `dir` takes on disk (allocated blocks, as `du -x`), not following links nor
/// entering other mounts: the tmpfs of a volume kept in memory is memory, not disk.
pub fn disk_usage(dir: &Path) -> u64 {
    let Ok(device) = std::fs::symlink_metadata(dir).map(|m| m.dev()) else {
        return 0;
    };
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.dev() != device {
            continue;
        }
        total += meta.blocks() * 512;
        if meta.is_dir() {
            pending.extend(
                std::fs::read_dir(&path)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path()),
            );
        }
    }
    total
}

impl PodWorker {
    /// Evicts the pod when one of its disk emptyDirs holds more than its `sizeLimit`.
    /// Returns whether it was evicted.
    ///
    /// # Errors
    /// The terminal status cannot be written.
    pub(super) async fn check_empty_dir_limits(&mut self) -> Result<bool, WorkerError> {
        let limited: Vec<(String, String, u64, PathBuf)> = self
            .pod
            .spec
            .iter()
            .flat_map(|s| s.volumes.iter().flatten())
            .filter_map(|v| {
                let empty_dir = v.empty_dir.as_ref()?;
                if empty_dir.medium.as_deref() == Some("Memory") {
                    return None;
                }
                let limit = empty_dir.size_limit.as_ref()?;
                let bytes = parse_quantity(&limit.0)?.nanos() / 1_000_000_000;
                let path = self.volumes.host_path(&v.name)?.to_path_buf();
                Some((v.name.clone(), limit.0.clone(), bytes.max(0) as u64, path))
            })
            .collect();
        for (name, limit, bytes, path) in limited {
            let used = tokio::task::spawn_blocking(move || disk_usage(&path)).await?;
            if used > bytes {
                let message =
                    format!("Usage of EmptyDir volume {name:?} exceeds the limit {limit:?}.");
                self.kubelet
                    .events
                    .warning(&self.about(None), "Evicted", &message);
                self.fail_pod("Evicted", &message, Some(Duration::ZERO))
                    .await?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Evicts the pod when node-pressure eviction chose it ([`super::pressure`]): its
    /// containers are killed at once. Returns whether it was evicted.
    ///
    /// # Errors
    /// The terminal status cannot be written.
    pub(super) async fn check_node_pressure(&mut self) -> Result<bool, WorkerError> {
        let Some(message) = self.kubelet.evictions.take(&self.uid()) else {
            return Ok(false);
        };
        self.kubelet
            .events
            .warning(&self.about(None), "Evicted", &message);
        self.fail_pod("Evicted", &message, Some(Duration::ZERO))
            .await?;
        Ok(true)
    }

    /// Ends the pod when it is past its `activeDeadlineSeconds`; otherwise lowers `next` so
    /// that the pod is looked at again when the deadline comes. Returns whether it ended.
    ///
    /// # Errors
    /// The terminal status cannot be written.
    pub(super) async fn check_active_deadline(
        &mut self,
        next: &mut Duration,
    ) -> Result<bool, WorkerError> {
        let Some(seconds) = self
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.active_deadline_seconds)
        else {
            return Ok(false);
        };
        let Some(deadline) = deadline(&self.start_time, seconds) else {
            return Ok(false);
        };
        if let Some(left) = time_left(deadline, SystemTime::now()) {
            *next = (*next).min(left + Duration::from_millis(10));
            return Ok(false);
        }
        self.kubelet
            .events
            .normal(&self.about(None), "DeadlineExceeded", DEADLINE_MESSAGE);
        self.fail_pod("DeadlineExceeded", DEADLINE_MESSAGE, None)
            .await?;
        Ok(true)
    }

    /// Reports the pod `Failed` with `reason` and `message`, stops its containers within
    /// `grace` (the pod's termination grace period when `None`), reports their final states
    /// and stops the sandbox.
    ///
    /// # Errors
    /// The terminal status cannot be written.
    pub(super) async fn fail_pod(
        &mut self,
        reason: &str,
        message: &str,
        grace: Option<Duration>,
    ) -> Result<(), WorkerError> {
        let grace = grace.unwrap_or_else(|| {
            Duration::from_secs(
                self.pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.termination_grace_period_seconds)
                    .unwrap_or(30)
                    .max(0) as u64,
            )
        });
        self.failure = Some((reason.to_string(), message.to_string()));
        // As upstream, the pod is Failed from now on, while its containers stop within the
        // grace period (which a container ignoring SIGTERM uses up in full).
        if let Some(handle) = self.sandbox.clone()
            && let Ok(status) = blocking(&handle, |h| h.status()).await
        {
            let current = self.merged(status.containers);
            self.report_terminal(&current).await?;
        }
        let seen = self.stop_all(grace).await;
        self.report_terminal(&seen).await?;
        self.stop_sandbox().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_counts_from_the_start_time() {
        let at = deadline("2026-01-01T00:00:00Z", 30).unwrap();
        let start = SystemTime::from("2026-01-01T00:00:00Z".parse::<jiff::Timestamp>().unwrap());
        assert_eq!(at, start + Duration::from_secs(30));
        assert_eq!(
            time_left(at, start + Duration::from_secs(10)),
            Some(Duration::from_secs(20))
        );
        assert_eq!(time_left(at, start + Duration::from_secs(30)), None);
        assert_eq!(time_left(at, start + Duration::from_secs(31)), None);
        assert!(deadline("not a time", 30).is_none());
    }

    #[test]
    fn disk_usage_counts_the_blocks_of_every_file() {
        let dir = tempfile::tempdir().unwrap();
        let empty = disk_usage(dir.path());
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/big"), vec![1u8; 256 * 1024]).unwrap();
        let used = disk_usage(dir.path());
        assert!(used >= empty + 256 * 1024, "{used}");
    }
}
