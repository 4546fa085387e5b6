//! The agent's side of the runtime: start a pod's shim ([`PodSandbox::start`]), talk to it
//! ([`SandboxHandle`]), and find the shims again after the agent restarts ([`recover`]).
//!
//! The client is blocking (std unix sockets): the agent calls it from `spawn_blocking`, and a
//! stream session ([`StreamSession`]) can be split between two threads with
//! [`StreamSession::try_clone`].
//!
//! # Recovery
//! Pod state lives in `<state>/<uid>/`. For each pod found there, [`recover`] checks the shim
//! recorded in `shim.json` (same boot, same pid and start time, socket answering): a live one
//! is reconnected; otherwise the shim died or the host rebooted, and its containers are
//! reported exited — with the exit the shim recorded, or reason `Unknown` (exit code 255) for
//! those it could not record — and [`DeadSandbox::clean_up`] kills what is left in the pod's
//! cgroups and removes its mounts.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::runtime::cgroups::CgroupLayout;
use crate::runtime::config::{ContainerConfig, SandboxConfig};
use crate::runtime::kernel::Kernel;
use crate::runtime::layout::RuntimeDirs;
use crate::runtime::protocol::{self, FrameKind, Request, Response, SandboxStatus};
use crate::runtime::shim::{ShimRecord, sandbox};
use crate::runtime::state::{ContainerStatus, now_rfc3339};

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("invalid pod uid {0:?}: only letters, digits, '-' and '_' are allowed")]
    InvalidUid(String),
    #[error("the pod {0} already has a running shim")]
    AlreadyRunning(String),
    #[error("cannot write the sandbox state {path}: {source}")]
    State { path: PathBuf, source: io::Error },
    #[error("cannot start the shim {binary}: {source}")]
    Spawn { binary: PathBuf, source: io::Error },
    #[error("the shim of pod {uid} failed to start: {message}")]
    ShimFailed { uid: String, message: String },
    #[error("cannot reach the shim of pod {uid} at {socket}: {source}")]
    Connect {
        uid: String,
        socket: PathBuf,
        source: io::Error,
    },
    #[error("talking to the shim of pod {uid}: {source}")]
    Io { uid: String, source: io::Error },
    #[error("the shim of pod {uid} answered: {message}")]
    Shim { uid: String, message: String },
    #[error("the shim of pod {uid} sent an unexpected answer: {answer}")]
    Unexpected { uid: String, answer: String },
}

/// Starts pod sandboxes.
pub struct PodSandbox;

impl PodSandbox {
    /// Starts the shim of a pod, which creates its sandbox, and connects to it.
    ///
    /// Leftovers of an earlier shim of the same pod (dead, or from before a reboot) are
    /// cleaned up first; the caller should have [`recover`]ed their statuses.
    ///
    /// # Errors
    /// An invalid uid, a live shim for the pod, or the shim's own error when the sandbox
    /// could not be created.
    pub fn start(
        dirs: &RuntimeDirs,
        config: &SandboxConfig,
    ) -> Result<SandboxHandle, RuntimeError> {
        let uid = &config.uid;
        if uid.is_empty()
            || !uid
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(RuntimeError::InvalidUid(uid.clone()));
        }
        let state = dirs.pod_state_dir(uid);
        if state.exists() {
            if read_record(dirs, uid).is_some_and(|r| r.is_alive()) {
                return Err(RuntimeError::AlreadyRunning(uid.clone()));
            }
            let cgroups = CgroupLayout::host(&dirs.cgroup_parent);
            let _ = sandbox::tear_down(
                &crate::runtime::kernel::LinuxKernel,
                dirs,
                &cgroups,
                uid,
                None,
            );
            let _ = std::fs::remove_dir_all(&state);
        }
        let state_error = |source| RuntimeError::State {
            path: state.clone(),
            source,
        };
        std::fs::create_dir_all(&state).map_err(state_error)?;
        let json =
            serde_json::to_vec_pretty(config).map_err(|e| state_error(io::Error::other(e)))?;
        std::fs::write(dirs.sandbox_file(uid), json).map_err(state_error)?;

        let mut child = Command::new(&dirs.shim_binary)
            .arg("shim")
            .arg("--uid")
            .arg(uid)
            .arg("--run")
            .arg(&dirs.run)
            .arg("--state")
            .arg(&dirs.state)
            .arg("--logs")
            .arg(&dirs.logs)
            .arg("--cgroup-parent")
            .arg(&dirs.cgroup_parent)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|source| RuntimeError::Spawn {
                binary: dirs.shim_binary.clone(),
                source,
            })?;
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            let _ = BufReader::new(stdout).read_line(&mut line);
        }
        let _ = child.wait();
        let line = line.trim();
        if line != "ready" {
            let message = line.strip_prefix("error: ").unwrap_or(if line.is_empty() {
                "it exited without a word (see its log)"
            } else {
                line
            });
            return Err(RuntimeError::ShimFailed {
                uid: uid.clone(),
                message: message.to_string(),
            });
        }
        SandboxHandle::connect(dirs, uid)
    }
}

fn read_record(dirs: &RuntimeDirs, uid: &str) -> Option<ShimRecord> {
    let text = std::fs::read_to_string(dirs.shim_file(uid)).ok()?;
    serde_json::from_str(&text).ok()
}

/// A connection point to a pod's running shim.
#[derive(Clone, Debug)]
pub struct SandboxHandle {
    uid: String,
    socket: PathBuf,
    /// The shim's pid.
    pub pid: i32,
}

/// An exec or attach session: frames in both directions.
#[derive(Debug)]
pub struct StreamSession {
    stream: UnixStream,
}

/// What a session delivers.
#[derive(Debug, PartialEq, Eq)]
pub enum SessionEvent {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    /// The process (exec) or container (attach) exited; the session is over.
    Exit(i32),
    /// The shim closed the session without an exit (it died).
    Closed,
}

/// Options of an exec.
#[derive(Clone, Debug, Default)]
pub struct ExecOptions {
    pub tty: bool,
    pub stdin: bool,
    pub width: u16,
    pub height: u16,
}

impl SandboxHandle {
    /// Connects to the running shim of pod `uid`.
    ///
    /// # Errors
    /// No shim answers on its socket.
    pub fn connect(dirs: &RuntimeDirs, uid: &str) -> Result<Self, RuntimeError> {
        let mut handle = SandboxHandle {
            uid: uid.to_string(),
            socket: dirs.shim_socket(uid),
            pid: 0,
        };
        let status = handle.status()?;
        handle.pid = status.pid;
        Ok(handle)
    }

    pub fn uid(&self) -> &str {
        &self.uid
    }

    fn open(
        &self,
        request: &Request,
        timeout: Option<Duration>,
    ) -> Result<UnixStream, RuntimeError> {
        let mut stream =
            UnixStream::connect(&self.socket).map_err(|source| RuntimeError::Connect {
                uid: self.uid.clone(),
                socket: self.socket.clone(),
                source,
            })?;
        let io_error = |source| RuntimeError::Io {
            uid: self.uid.clone(),
            source,
        };
        stream.set_read_timeout(timeout).map_err(io_error)?;
        protocol::send(&mut stream, request).map_err(io_error)?;
        Ok(stream)
    }

    fn receive(&self, stream: &mut UnixStream) -> Result<Response, RuntimeError> {
        let io_error = |source| RuntimeError::Io {
            uid: self.uid.clone(),
            source,
        };
        match protocol::read_frame(stream).map_err(io_error)? {
            Some((FrameKind::Control, payload)) => {
                match protocol::parse(&payload).map_err(io_error)? {
                    Response::Error { message } => Err(RuntimeError::Shim {
                        uid: self.uid.clone(),
                        message,
                    }),
                    response => Ok(response),
                }
            }
            Some((kind, _)) => Err(self.unexpected(format!("a {kind:?} frame"))),
            None => Err(io_error(io::Error::from(io::ErrorKind::UnexpectedEof))),
        }
    }

    fn unexpected(&self, answer: String) -> RuntimeError {
        RuntimeError::Unexpected {
            uid: self.uid.clone(),
            answer,
        }
    }

    fn call(&self, request: Request, timeout: Option<Duration>) -> Result<Response, RuntimeError> {
        let mut stream = self.open(&request, timeout)?;
        self.receive(&mut stream)
    }

    fn container(
        &self,
        request: Request,
        timeout: Option<Duration>,
    ) -> Result<ContainerStatus, RuntimeError> {
        match self.call(request, timeout)? {
            Response::Container(status) => Ok(status),
            other => Err(self.unexpected(format!("{other:?}"))),
        }
    }

    /// The sandbox and its containers.
    ///
    /// # Errors
    /// The shim is unreachable.
    pub fn status(&self) -> Result<SandboxStatus, RuntimeError> {
        match self.call(Request::Status, Some(Duration::from_secs(30)))? {
            Response::Status(status) => Ok(status),
            other => Err(self.unexpected(format!("{other:?}"))),
        }
    }

    /// Creates a container (its process waits for [`Self::start_container`]).
    ///
    /// # Errors
    /// The shim's error (bad image user, mount or libcontainer failure...).
    pub fn create_container(
        &self,
        config: &ContainerConfig,
    ) -> Result<ContainerStatus, RuntimeError> {
        self.container(
            Request::CreateContainer {
                config: Box::new(config.clone()),
            },
            Some(Duration::from_secs(120)),
        )
    }

    /// Starts a created container; `id` is `<name>.<attempt>`.
    ///
    /// # Errors
    /// The container is not created, or its process failed to start.
    pub fn start_container(&self, id: &str) -> Result<ContainerStatus, RuntimeError> {
        self.container(
            Request::StartContainer { id: id.into() },
            Some(Duration::from_secs(120)),
        )
    }

    /// Stops a container: its stop signal, `grace` to exit, then SIGKILL. Returns its final
    /// status.
    ///
    /// # Errors
    /// Unknown container or unreachable shim.
    pub fn stop_container(
        &self,
        id: &str,
        grace: Duration,
    ) -> Result<ContainerStatus, RuntimeError> {
        self.container(
            Request::StopContainer {
                id: id.into(),
                timeout_seconds: grace.as_secs(),
            },
            None,
        )
    }

    /// Waits for a container to exit and returns its final status.
    ///
    /// # Errors
    /// Unknown container or unreachable shim.
    pub fn wait_container(&self, id: &str) -> Result<ContainerStatus, RuntimeError> {
        self.container(Request::WaitContainer { id: id.into() }, None)
    }

    /// Forgets an exited container and removes its filesystem (logs stay).
    ///
    /// # Errors
    /// The container is running, or unknown.
    pub fn remove_container(&self, id: &str) -> Result<(), RuntimeError> {
        match self.call(
            Request::RemoveContainer { id: id.into() },
            Some(Duration::from_secs(60)),
        )? {
            Response::Ok => Ok(()),
            other => Err(self.unexpected(format!("{other:?}"))),
        }
    }

    fn session(&self, request: Request) -> Result<StreamSession, RuntimeError> {
        let mut stream = self.open(&request, Some(Duration::from_secs(60)))?;
        match self.receive(&mut stream)? {
            Response::Ok => {
                let _ = stream.set_read_timeout(None);
                Ok(StreamSession { stream })
            }
            other => Err(self.unexpected(format!("{other:?}"))),
        }
    }

    /// Runs `command` in a running container.
    ///
    /// # Errors
    /// The container is not running, or the process could not be started.
    pub fn exec(
        &self,
        id: &str,
        command: &[String],
        options: &ExecOptions,
    ) -> Result<StreamSession, RuntimeError> {
        self.session(Request::Exec {
            id: id.into(),
            command: command.to_vec(),
            tty: options.tty,
            stdin: options.stdin,
            width: options.width,
            height: options.height,
        })
    }

    /// Attaches to a running container's output (and stdin, when it has one).
    ///
    /// # Errors
    /// The container is not running.
    pub fn attach(&self, id: &str, stdin: bool) -> Result<StreamSession, RuntimeError> {
        self.session(Request::Attach {
            id: id.into(),
            stdin,
        })
    }

    /// Stops every container (`grace` each), removes the sandbox and ends the shim.
    ///
    /// # Errors
    /// The shim is unreachable or could not remove everything.
    pub fn shutdown(self, grace: Duration) -> Result<(), RuntimeError> {
        match self.call(
            Request::Shutdown {
                timeout_seconds: grace.as_secs(),
            },
            None,
        )? {
            Response::Ok => Ok(()),
            other => Err(self.unexpected(format!("{other:?}"))),
        }
    }
}

impl StreamSession {
    /// A second handle on the session (one thread writes stdin, another reads output).
    ///
    /// # Errors
    /// The socket cannot be duplicated.
    pub fn try_clone(&self) -> io::Result<StreamSession> {
        Ok(StreamSession {
            stream: self.stream.try_clone()?,
        })
    }

    /// Sends input to the process.
    ///
    /// # Errors
    /// The session is gone.
    pub fn send_stdin(&mut self, data: &[u8]) -> io::Result<()> {
        for chunk in data.chunks(protocol::MAX_FRAME) {
            if !chunk.is_empty() {
                protocol::write_frame(&mut self.stream, FrameKind::Stdin, chunk)?;
            }
        }
        Ok(())
    }

    /// Closes the process's stdin (end of input).
    ///
    /// # Errors
    /// The session is gone.
    pub fn close_stdin(&mut self) -> io::Result<()> {
        protocol::write_frame(&mut self.stream, FrameKind::Stdin, &[])
    }

    /// Resizes the terminal.
    ///
    /// # Errors
    /// The session is gone.
    pub fn resize(&mut self, width: u16, height: u16) -> io::Result<()> {
        protocol::send(&mut self.stream, &Request::Resize { width, height })
    }

    /// The next output or the end.
    ///
    /// # Errors
    /// A malformed frame or a read error.
    pub fn next_event(&mut self) -> io::Result<SessionEvent> {
        Ok(match protocol::read_frame(&mut self.stream)? {
            None => SessionEvent::Closed,
            Some((FrameKind::Stdout, data)) => SessionEvent::Stdout(data),
            Some((FrameKind::Stderr, data)) => SessionEvent::Stderr(data),
            Some((FrameKind::Control, payload)) => match protocol::parse::<Response>(&payload)? {
                Response::Exit { exit_code } => SessionEvent::Exit(exit_code),
                other => {
                    return Err(io::Error::other(format!(
                        "unexpected control message {other:?}"
                    )));
                }
            },
            Some((FrameKind::Stdin, _)) => return Err(io::Error::other("unexpected stdin frame")),
        })
    }

    /// Collects output until the end: (stdout, stderr, exit code; `None` when closed).
    ///
    /// # Errors
    /// A read error.
    pub fn collect(&mut self) -> io::Result<(Vec<u8>, Vec<u8>, Option<i32>)> {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        loop {
            match self.next_event()? {
                SessionEvent::Stdout(data) => out.extend(data),
                SessionEvent::Stderr(data) => err.extend(data),
                SessionEvent::Exit(code) => return Ok((out, err, Some(code))),
                SessionEvent::Closed => return Ok((out, err, None)),
            }
        }
    }

    /// Sets a timeout on reads of this session.
    ///
    /// # Errors
    /// The socket refused it.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(timeout)
    }

    /// Flushes buffered writes.
    ///
    /// # Errors
    /// The session is gone.
    pub fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }

    /// Ends the session from this side: a reader blocked in [`Self::next_event`] (on any
    /// handle of it) sees [`SessionEvent::Closed`].
    ///
    /// # Errors
    /// The socket refused it.
    pub fn shutdown(&self) -> io::Result<()> {
        self.stream.shutdown(std::net::Shutdown::Both)
    }
}

/// A pod found on disk by [`recover`].
#[derive(Debug)]
pub enum RecoveredSandbox {
    /// Its shim runs: carry on.
    Live(SandboxHandle),
    /// Its shim is gone (it died, or the host rebooted).
    Dead(Box<DeadSandbox>),
}

/// The remains of a pod whose shim is gone.
#[derive(Debug)]
pub struct DeadSandbox {
    pub config: SandboxConfig,
    /// Every container, exited: with its recorded exit, or reason `Unknown`.
    pub containers: Vec<ContainerStatus>,
}

impl DeadSandbox {
    /// Kills what is left in the pod's cgroups, unmounts and removes its runtime state; with
    /// `forget`, also its state directory (logs stay).
    ///
    /// # Errors
    /// Something could not be removed.
    pub fn clean_up(
        &self,
        kernel: &dyn Kernel,
        dirs: &RuntimeDirs,
        cgroups: &CgroupLayout,
        forget: bool,
    ) -> io::Result<()> {
        let result = sandbox::tear_down(kernel, dirs, cgroups, &self.config.uid, None);
        if forget {
            std::fs::remove_dir_all(dirs.pod_state_dir(&self.config.uid))?;
        }
        result
    }
}

fn connect_with_retries(dirs: &RuntimeDirs, uid: &str) -> Result<SandboxHandle, RuntimeError> {
    let mut attempt = 0;
    loop {
        match SandboxHandle::connect(dirs, uid) {
            Ok(handle) => return Ok(handle),
            Err(error) if attempt >= 4 => return Err(error),
            Err(_) => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(250 * attempt));
            }
        }
    }
}

/// Finds every pod sandbox on disk: reconnects to live shims and reports the containers of
/// dead ones as exited (recording that in their state). A shim that runs but does not answer
/// is killed and reported dead.
///
/// # Errors
/// The state directory cannot be read.
pub fn recover(dirs: &RuntimeDirs) -> io::Result<Vec<RecoveredSandbox>> {
    let mut found = Vec::new();
    let entries = match std::fs::read_dir(&dirs.state) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(found),
        Err(error) => return Err(error),
    };
    for entry in entries {
        let entry = entry?;
        let uid = entry.file_name().to_string_lossy().into_owned();
        let Ok(text) = std::fs::read_to_string(dirs.sandbox_file(&uid)) else {
            continue;
        };
        let Ok(config) = serde_json::from_str::<SandboxConfig>(&text) else {
            tracing::warn!(uid, "unreadable sandbox state; skipped");
            continue;
        };
        if let Some(record) = read_record(dirs, &uid).filter(ShimRecord::is_alive) {
            match connect_with_retries(dirs, &uid) {
                Ok(handle) => {
                    found.push(RecoveredSandbox::Live(handle));
                    continue;
                }
                Err(error) => {
                    // A shim that runs but does not answer cannot supervise its pod: kill it
                    // (its containers die with it) rather than leave them unsupervised.
                    tracing::warn!(uid, pid = record.pid, %error, "the pod's shim does not answer: killing it");
                    // SAFETY: kill(2) of the recorded shim, checked alive by pid and start time.
                    unsafe { libc::kill(record.pid, libc::SIGKILL) };
                    for _ in 0..100 {
                        if !record.is_alive() {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            }
        }
        let mut containers = Vec::new();
        let dir = dirs.pod_state_dir(&uid).join("containers");
        for container in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let file = container.path().join("status.json");
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            let Ok(mut status) = serde_json::from_str::<ContainerStatus>(&text) else {
                continue;
            };
            status.lost(now_rfc3339());
            if let Ok(json) = serde_json::to_vec_pretty(&status) {
                let _ = std::fs::write(&file, json);
            }
            containers.push(status);
        }
        containers.sort_by(|a, b| (a.name.as_str(), a.attempt).cmp(&(b.name.as_str(), b.attempt)));
        found.push(RecoveredSandbox::Dead(Box::new(DeadSandbox {
            config,
            containers,
        })));
    }
    Ok(found)
}
