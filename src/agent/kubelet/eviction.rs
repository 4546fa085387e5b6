//! Pods the node itself ends, as upstream's kubelet does: a pod active longer than its
//! `activeDeadlineSeconds` (counted from its `startTime`) has its containers stopped (preStop
//! hooks first, within its termination grace period) and ends `Failed` with reason
//! `DeadlineExceeded`, with a `DeadlineExceeded` event. [`PodWorker::fail_pod`] is the
//! shared step: stop everything, report the terminal status with the reason and message,
//! stop the sandbox.

use std::time::{Duration, SystemTime};

use super::worker::{PodWorker, WorkerError};

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

impl PodWorker {
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

    /// Stops the pod's containers within `grace` (the pod's termination grace period when
    /// `None`) and reports it `Failed` with `reason` and `message`; its sandbox stops.
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
}
