//! The state machine of one container, as the shim records it and reports it to the agent.
//!
//! ```text
//!            start              process exits / stop
//! Created ─────────▶ Running ─────────────────────────▶ Exited
//!    │                                                     ▲
//!    └──────── start fails / stop before start ────────────┘
//! ```
//! `Exited` is final: a restart is a new container with the next attempt number. Every
//! transition stamps its time; a transition the state does not allow is a [`TransitionError`].

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where a container is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContainerState {
    Created,
    Running,
    Exited,
}

impl fmt::Display for ContainerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ContainerState::Created => "created",
            ContainerState::Running => "running",
            ContainerState::Exited => "exited",
        })
    }
}

/// The reason of an exit, as the kubelet reports it in `state.terminated.reason`.
pub mod reason {
    /// Exit code 0.
    pub const COMPLETED: &str = "Completed";
    /// A non-zero exit code or a signal.
    pub const ERROR: &str = "Error";
    /// The kernel's OOM killer killed a process of the container.
    pub const OOM_KILLED: &str = "OOMKilled";
    /// The process could not be started.
    pub const START_ERROR: &str = "StartError";
    /// The shim died or the host rebooted: the exit status is not known.
    pub const UNKNOWN: &str = "Unknown";
}

/// A wrong transition.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("cannot {action} container {container}: it is {state}")]
pub struct TransitionError {
    pub container: String,
    pub action: &'static str,
    pub state: ContainerState,
}

/// How a container's process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// `exit(code)`.
    Code(i32),
    /// Killed by a signal.
    Signal(i32),
}

impl Exit {
    /// The exit code as Kubernetes reports it: the code, or 128 + the signal number.
    pub fn code(self) -> i32 {
        match self {
            Exit::Code(code) => code,
            Exit::Signal(signal) => 128 + signal,
        }
    }
}

/// A container's recorded status: what the agent turns into a `ContainerStatus`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatus {
    pub name: String,
    pub attempt: u32,
    pub state: ContainerState,
    /// The process id of the container's init on the host, while it runs.
    #[serde(default)]
    pub pid: Option<i32>,
    /// RFC 3339 timestamps with nanoseconds.
    pub created_at: String,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub finished_at: Option<String>,
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// The signal that killed the process, if one did.
    #[serde(default)]
    pub signal: Option<i32>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    /// The container's current log file.
    pub log_path: PathBuf,
}

impl ContainerStatus {
    /// A newly created container.
    pub fn created(name: &str, attempt: u32, log_path: PathBuf, now: String) -> Self {
        ContainerStatus {
            name: name.to_string(),
            attempt,
            state: ContainerState::Created,
            pid: None,
            created_at: now,
            started_at: None,
            finished_at: None,
            exit_code: None,
            signal: None,
            reason: None,
            message: None,
            log_path,
        }
    }

    pub fn can_start(&self) -> bool {
        self.state == ContainerState::Created
    }

    pub fn can_stop(&self) -> bool {
        self.state != ContainerState::Exited
    }

    pub fn can_exec(&self) -> bool {
        self.state == ContainerState::Running
    }

    pub fn can_remove(&self) -> bool {
        self.state != ContainerState::Running
    }

    fn refuse(&self, action: &'static str) -> TransitionError {
        TransitionError {
            container: self.name.clone(),
            action,
            state: self.state,
        }
    }

    /// Checks that `action` may be done on the container in its current state.
    ///
    /// # Errors
    /// A [`TransitionError`] naming the state when it may not.
    pub fn check(&self, action: &'static str) -> Result<(), TransitionError> {
        let allowed = match action {
            "start" => self.can_start(),
            "stop" => self.can_stop(),
            "exec in" | "attach to" => self.can_exec(),
            "remove" => self.can_remove(),
            _ => true,
        };
        if allowed {
            Ok(())
        } else {
            Err(self.refuse(action))
        }
    }

    /// Created → Running.
    ///
    /// # Errors
    /// The container is not `Created`.
    pub fn started(&mut self, pid: i32, now: String) -> Result<(), TransitionError> {
        if !self.can_start() {
            return Err(self.refuse("start"));
        }
        self.state = ContainerState::Running;
        self.pid = Some(pid);
        self.started_at = Some(now);
        Ok(())
    }

    /// Running (or Created) → Exited, with the reason Kubernetes would give.
    ///
    /// # Errors
    /// The container has already exited.
    pub fn exited(
        &mut self,
        exit: Exit,
        oom_killed: bool,
        now: String,
    ) -> Result<(), TransitionError> {
        if self.state == ContainerState::Exited {
            return Err(self.refuse("record the exit of"));
        }
        self.state = ContainerState::Exited;
        self.pid = None;
        self.finished_at = Some(now);
        self.exit_code = Some(exit.code());
        self.signal = match exit {
            Exit::Signal(signal) => Some(signal),
            Exit::Code(_) => None,
        };
        self.reason = Some(
            if oom_killed {
                reason::OOM_KILLED
            } else if exit.code() == 0 {
                reason::COMPLETED
            } else {
                reason::ERROR
            }
            .to_string(),
        );
        Ok(())
    }

    /// Created → Exited because the process could not be started.
    pub fn failed_to_start(&mut self, message: String, now: String) {
        self.state = ContainerState::Exited;
        self.pid = None;
        self.finished_at = Some(now);
        self.exit_code = Some(128);
        self.reason = Some(reason::START_ERROR.to_string());
        self.message = Some(message);
    }

    /// Any state → Exited with an unknown status: the shim that owned the container is gone
    /// (it died, or the host rebooted). An exited container keeps its recorded exit.
    pub fn lost(&mut self, now: String) {
        if self.state == ContainerState::Exited {
            return;
        }
        let was_running = self.state == ContainerState::Running;
        self.state = ContainerState::Exited;
        self.pid = None;
        self.finished_at = Some(now);
        self.exit_code = Some(255);
        self.reason = Some(reason::UNKNOWN.to_string());
        self.message = Some(if was_running {
            "the container's shim is gone: the container was killed with it".to_string()
        } else {
            "the container's shim is gone before the container started".to_string()
        });
    }
}

/// Now, as RFC 3339 with nine fractional digits in UTC (the CRI log format's timestamp).
pub fn now_rfc3339() -> String {
    rfc3339(jiff::Timestamp::now())
}

/// `ts` as `2006-01-02T15:04:05.000000000Z`.
pub fn rfc3339(ts: jiff::Timestamp) -> String {
    let dt = jiff::tz::TimeZone::UTC.to_datetime(ts);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.subsec_nanosecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status() -> ContainerStatus {
        ContainerStatus::created("app", 0, PathBuf::from("/l/0.log"), "t0".into())
    }

    #[test]
    fn lifecycle_records_times_and_reason() {
        let mut s = status();
        s.started(42, "t1".into()).unwrap();
        assert_eq!(s.state, ContainerState::Running);
        assert_eq!(s.pid, Some(42));
        s.exited(Exit::Code(3), false, "t2".into()).unwrap();
        assert_eq!(s.exit_code, Some(3));
        assert_eq!(s.reason.as_deref(), Some("Error"));
        assert_eq!(s.pid, None);
        assert_eq!(s.finished_at.as_deref(), Some("t2"));
    }

    #[test]
    fn signals_map_to_128_plus_signal_and_oom_wins() {
        let mut s = status();
        s.started(1, "t".into()).unwrap();
        s.exited(Exit::Signal(9), true, "t".into()).unwrap();
        assert_eq!(s.exit_code, Some(137));
        assert_eq!(s.signal, Some(9));
        assert_eq!(s.reason.as_deref(), Some("OOMKilled"));
        let mut s = status();
        s.started(1, "t".into()).unwrap();
        s.exited(Exit::Code(0), false, "t".into()).unwrap();
        assert_eq!(s.reason.as_deref(), Some("Completed"));
    }

    #[test]
    fn wrong_transitions_are_typed_errors() {
        let mut s = status();
        s.started(1, "t".into()).unwrap();
        let err = s.started(2, "t".into()).unwrap_err();
        assert_eq!(err.state, ContainerState::Running);
        assert_eq!(err.to_string(), "cannot start container app: it is running");
        assert!(s.check("remove").is_err());
        s.exited(Exit::Code(0), false, "t".into()).unwrap();
        assert!(s.exited(Exit::Code(0), false, "t".into()).is_err());
        assert!(s.check("exec in").is_err());
        assert!(s.check("remove").is_ok());
    }

    #[test]
    fn lost_containers_exit_unknown_but_keep_a_recorded_exit() {
        let mut s = status();
        s.started(1, "t".into()).unwrap();
        s.lost("t".into());
        assert_eq!(s.reason.as_deref(), Some("Unknown"));
        assert_eq!(s.exit_code, Some(255));
        let mut s = status();
        s.started(1, "t".into()).unwrap();
        s.exited(Exit::Code(0), false, "t".into()).unwrap();
        s.lost("t2".into());
        assert_eq!(s.reason.as_deref(), Some("Completed"));
    }

    #[test]
    fn timestamps_have_nine_digits() {
        let ts = jiff::Timestamp::new(1_704_067_200, 5).unwrap();
        assert_eq!(rfc3339(ts), "2024-01-01T00:00:00.000000005Z");
    }
}
