//! The shim's event loop: one thread, `poll(2)` over the socket, a signalfd (SIGCHLD and the
//! termination signals), the containers' output and the stream sessions, with the stop
//! deadlines as the timeout. Requests are handled to completion in the loop (libcontainer
//! calls block, which is fine: nothing else runs in this process).

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};

use crate::runtime::logs::Stream;
use crate::runtime::protocol::{self, FrameKind, Request, Response, SandboxStatus};
use crate::runtime::shim::container::{Container, ContainerError, ShimContext, Stdio, resize};
use crate::runtime::shim::sandbox::{self, Sandbox};
use crate::runtime::state::{ContainerState, Exit, now_rfc3339};

/// How long a peer may stall one read or write before it is dropped.
const PEER_TIMEOUT: Duration = Duration::from_secs(5);
const READ_CHUNK: usize = 32 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    Listener,
    Signals,
    Client(u64),
    Output(u64, Stream),
    Console(u64),
    SessionPeer(u64),
    SessionOutput(u64, Stream),
    SessionConsole(u64),
}

enum SessionKind {
    Exec {
        pid: i32,
        stdio: Stdio,
        exit: Option<i32>,
    },
    Attach {
        container: String,
        stdin: bool,
    },
}

struct Session {
    peer: UnixStream,
    kind: SessionKind,
}

/// How the loop ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// A `Shutdown` request: the sandbox is gone.
    Shutdown,
    /// A termination signal: containers were killed, their state kept for the agent.
    Signal(i32),
}

pub struct Server<'a> {
    ctx: ShimContext<'a>,
    sandbox: Sandbox,
    listener: UnixListener,
    signals: SignalFd,
    /// Container ids in creation order, and the containers by a stable key.
    containers: BTreeMap<u64, Container>,
    clients: BTreeMap<u64, UnixStream>,
    waiters: Vec<(String, UnixStream)>,
    sessions: BTreeMap<u64, Session>,
    deadlines: Vec<(String, Instant)>,
    shutdown: Option<Option<UnixStream>>,
    next_key: u64,
    ending: Option<Ending>,
}

fn peer_options(stream: &UnixStream) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(PEER_TIMEOUT))?;
    stream.set_write_timeout(Some(PEER_TIMEOUT))
}

/// Reads what `fd` has now: `Ok(None)` at end of file, empty when it would block.
fn read_available(fd: RawFd) -> io::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; READ_CHUNK];
    // SAFETY: reading into a buffer we own, of the length we pass.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        let error = io::Error::last_os_error();
        return match error.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(Some(Vec::new())),
            // A terminal whose other side is closed.
            Some(libc::EIO) => Ok(None),
            _ => Err(error),
        };
    }
    if n == 0 {
        return Ok(None);
    }
    buf.truncate(n as usize);
    Ok(Some(buf))
}

/// Writes all of `data` to a (possibly non-blocking) fd, waiting up to a second for room.
fn write_all_fd(fd: &OwnedFd, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        // SAFETY: writing from a slice we hold, of its length.
        let n = unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
        if n < 0 {
            let error = io::Error::last_os_error();
            if error.raw_os_error() == Some(libc::EAGAIN) {
                let mut pfd = libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                };
                // SAFETY: one pollfd on the stack.
                if unsafe { libc::poll(&mut pfd, 1, 1000) } <= 0 {
                    return Err(io::Error::from(io::ErrorKind::TimedOut));
                }
                continue;
            }
            if error.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(error);
        }
        data = &data[n as usize..];
    }
    Ok(())
}

fn exit_of(status: WaitStatus) -> Option<(i32, Exit)> {
    match status {
        WaitStatus::Exited(pid, code) => Some((pid.as_raw(), Exit::Code(code))),
        WaitStatus::Signaled(pid, signal, _) => Some((pid.as_raw(), Exit::Signal(signal as i32))),
        _ => None,
    }
}

impl<'a> Server<'a> {
    /// Prepares the loop: blocks the signals it handles and routes them to a signalfd.
    ///
    /// # Errors
    /// The signalfd cannot be created.
    pub fn new(ctx: ShimContext<'a>, sandbox: Sandbox, listener: UnixListener) -> io::Result<Self> {
        let mut mask = SigSet::empty();
        for signal in [
            Signal::SIGCHLD,
            Signal::SIGTERM,
            Signal::SIGINT,
            Signal::SIGHUP,
        ] {
            mask.add(signal);
        }
        mask.thread_block().map_err(io::Error::from)?;
        let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            .map_err(io::Error::from)?;
        listener.set_nonblocking(true)?;
        Ok(Server {
            ctx,
            sandbox,
            listener,
            signals,
            containers: BTreeMap::new(),
            clients: BTreeMap::new(),
            waiters: Vec::new(),
            sessions: BTreeMap::new(),
            deadlines: Vec::new(),
            shutdown: None,
            next_key: 0,
            ending: None,
        })
    }

    fn key(&mut self) -> u64 {
        self.next_key += 1;
        self.next_key
    }

    fn find(&self, id: &str) -> Option<u64> {
        self.containers
            .iter()
            .find(|(_, c)| c.id() == id)
            .map(|(k, _)| *k)
    }

    /// Runs until a shutdown request or a termination signal.
    ///
    /// # Errors
    /// `poll` itself failed.
    pub fn run(mut self) -> io::Result<Ending> {
        loop {
            if let Some(ending) = self.ending.take() {
                return Ok(ending);
            }
            let (mut fds, tokens) = self.poll_set();
            let timeout = self
                .deadlines
                .iter()
                .map(|(_, at)| at.saturating_duration_since(Instant::now()).as_millis() as i32 + 1)
                .min()
                .unwrap_or(-1);
            // SAFETY: `fds` is a live vector of pollfd of the length we pass.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
            if n < 0 {
                let error = io::Error::last_os_error();
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(error);
            }
            self.expire_deadlines();
            let ready: Vec<Token> = fds
                .iter()
                .zip(tokens)
                .filter(|(fd, _)| fd.revents != 0)
                .map(|(_, token)| token)
                .collect();
            for token in ready {
                self.dispatch(token);
            }
            self.finish_shutdown();
        }
    }

    fn poll_set(&self) -> (Vec<libc::pollfd>, Vec<Token>) {
        let mut fds = Vec::new();
        let mut tokens = Vec::new();
        let mut add = |fd: RawFd, token: Token| {
            fds.push(libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            });
            tokens.push(token);
        };
        add(self.listener.as_raw_fd(), Token::Listener);
        add(self.signals.as_raw_fd(), Token::Signals);
        for (key, stream) in &self.clients {
            add(stream.as_raw_fd(), Token::Client(*key));
        }
        for (key, container) in &self.containers {
            if let Some(fd) = &container.stdio.stdout {
                add(fd.as_raw_fd(), Token::Output(*key, Stream::Stdout));
            }
            if let Some(fd) = &container.stdio.stderr {
                add(fd.as_raw_fd(), Token::Output(*key, Stream::Stderr));
            }
            if let Some(fd) = &container.stdio.console {
                add(fd.as_raw_fd(), Token::Console(*key));
            }
        }
        for (key, session) in &self.sessions {
            add(session.peer.as_raw_fd(), Token::SessionPeer(*key));
            if let SessionKind::Exec { stdio, .. } = &session.kind {
                if let Some(fd) = &stdio.stdout {
                    add(fd.as_raw_fd(), Token::SessionOutput(*key, Stream::Stdout));
                }
                if let Some(fd) = &stdio.stderr {
                    add(fd.as_raw_fd(), Token::SessionOutput(*key, Stream::Stderr));
                }
                if let Some(fd) = &stdio.console {
                    add(fd.as_raw_fd(), Token::SessionConsole(*key));
                }
            }
        }
        (fds, tokens)
    }

    fn dispatch(&mut self, token: Token) {
        match token {
            Token::Listener => self.accept(),
            Token::Signals => self.on_signals(),
            Token::Client(key) => self.on_client(key),
            Token::Output(key, stream) => self.on_output(key, Some(stream)),
            Token::Console(key) => self.on_output(key, None),
            Token::SessionPeer(key) => self.on_session_peer(key),
            Token::SessionOutput(key, stream) => self.on_session_output(key, Some(stream)),
            Token::SessionConsole(key) => self.on_session_output(key, None),
        }
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if peer_options(&stream).is_ok() {
                        let key = self.key();
                        self.clients.insert(key, stream);
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    return;
                }
            }
        }
    }

    fn on_signals(&mut self) {
        while let Ok(Some(info)) = self.signals.read_signal() {
            let signal = info.ssi_signo as i32;
            if signal == libc::SIGCHLD {
                self.reap();
            } else {
                tracing::info!(signal, "terminating: killing the pod's containers");
                self.kill_everything();
                self.ending = Some(Ending::Signal(signal));
            }
        }
    }

    fn on_client(&mut self, key: u64) {
        let Some(mut stream) = self.clients.remove(&key) else {
            return;
        };
        let request = match protocol::read_frame(&mut stream) {
            Ok(Some((FrameKind::Control, payload))) => match protocol::parse::<Request>(&payload) {
                Ok(request) => request,
                Err(error) => {
                    let _ = protocol::send(
                        &mut stream,
                        &Response::Error {
                            message: error.to_string(),
                        },
                    );
                    return;
                }
            },
            _ => return,
        };
        tracing::debug!(?request, "request");
        self.handle(stream, request);
    }

    fn reply(stream: &mut UnixStream, result: Result<Response, ContainerError>) {
        let response = result.unwrap_or_else(|error| Response::Error {
            message: error.to_string(),
        });
        let _ = protocol::send(stream, &response);
    }

    fn status(&self) -> SandboxStatus {
        SandboxStatus {
            uid: self.sandbox.config.uid.clone(),
            pid: std::process::id() as i32,
            net_namespace: self.sandbox.namespaces.net.clone(),
            containers: self.containers.values().map(|c| c.status.clone()).collect(),
        }
    }

    fn handle(&mut self, mut stream: UnixStream, request: Request) {
        if self.shutdown.is_some() && !matches!(request, Request::Status) {
            let _ = protocol::send(
                &mut stream,
                &Response::Error {
                    message: "the pod sandbox is shutting down".into(),
                },
            );
            return;
        }
        match request {
            Request::Status => Self::reply(&mut stream, Ok(Response::Status(self.status()))),
            Request::CreateContainer { config } => {
                let result = self.create(*config);
                Self::reply(&mut stream, result);
            }
            Request::StartContainer { id } => {
                let result = self.start(&id);
                Self::reply(&mut stream, result);
            }
            Request::StopContainer {
                id,
                timeout_seconds,
            } => match self.find(&id) {
                None => Self::reply(&mut stream, Err(ContainerError::NotFound(id))),
                Some(key) => {
                    self.stop(key, Duration::from_secs(timeout_seconds));
                    self.wait_for(key, stream);
                }
            },
            Request::WaitContainer { id } => match self.find(&id) {
                None => Self::reply(&mut stream, Err(ContainerError::NotFound(id))),
                Some(key) => self.wait_for(key, stream),
            },
            Request::RemoveContainer { id } => {
                let result = self.remove(&id);
                Self::reply(&mut stream, result);
            }
            Request::Exec {
                id,
                command,
                tty,
                stdin,
                width,
                height,
            } => self.exec(stream, id, command, tty, stdin, (width, height)),
            Request::Attach { id, stdin } => self.attach(stream, id, stdin),
            Request::Resize { .. } => Self::reply(
                &mut stream,
                Ok(Response::Error {
                    message: "resize outside a session".into(),
                }),
            ),
            Request::Shutdown { timeout_seconds } => {
                let keys: Vec<u64> = self.containers.keys().copied().collect();
                for key in keys {
                    self.stop(key, Duration::from_secs(timeout_seconds));
                }
                self.shutdown = Some(Some(stream));
            }
        }
    }

    fn create(
        &mut self,
        config: crate::runtime::config::ContainerConfig,
    ) -> Result<Response, ContainerError> {
        let id = config.id();
        if self.find(&id).is_some() {
            return Err(ContainerError::AlreadyExists(id));
        }
        let container =
            Container::create(&self.ctx, &self.sandbox, config).inspect_err(|error| {
                tracing::warn!(container = %id, %error, "create failed");
            })?;
        container.persist();
        let status = container.status.clone();
        let key = self.key();
        self.containers.insert(key, container);
        Ok(Response::Container(status))
    }

    fn start(&mut self, id: &str) -> Result<Response, ContainerError> {
        let key = self
            .find(id)
            .ok_or_else(|| ContainerError::NotFound(id.to_string()))?;
        let uid = self.sandbox.config.uid.clone();
        let ctx = &self.ctx;
        let Some(container) = self.containers.get_mut(&key) else {
            return Err(ContainerError::NotFound(id.to_string()));
        };
        if let Err(error) = container.start(ctx, &uid) {
            if let ContainerError::Transition(_) = error {
                return Err(error);
            }
            tracing::warn!(container = %id, %error, "start failed");
            if let Some(pid) = container.status.pid {
                let _ = ctx.kernel.kill(pid, libc::SIGKILL);
            }
            container
                .status
                .failed_to_start(error.to_string(), now_rfc3339());
            container.clean_up_after_exit(ctx, &uid);
            container.persist();
            return Err(error);
        }
        container.persist();
        Ok(Response::Container(container.status.clone()))
    }

    /// Sends the stop signal now and SIGKILL at the deadline (at once for a container that
    /// never started, or a zero grace period).
    fn stop(&mut self, key: u64, grace: Duration) {
        let Some(container) = self.containers.get(&key) else {
            return;
        };
        if !container.status.can_stop() {
            return;
        }
        let Some(pid) = container.status.pid else {
            return;
        };
        let id = container.id();
        let signal = if container.status.state == ContainerState::Created || grace.is_zero() {
            libc::SIGKILL
        } else {
            container.stop_signal
        };
        tracing::info!(container = %id, signal, ?grace, "stopping");
        let _ = self.ctx.kernel.kill(pid, signal);
        if signal != libc::SIGKILL && !self.deadlines.iter().any(|(d, _)| *d == id) {
            self.deadlines.push((id, Instant::now() + grace));
        }
    }

    fn expire_deadlines(&mut self) {
        let now = Instant::now();
        let (due, pending): (Vec<_>, Vec<_>) =
            self.deadlines.drain(..).partition(|(_, at)| *at <= now);
        self.deadlines = pending;
        for (id, _) in due {
            if let Some(key) = self.find(&id)
                && let Some(pid) = self.containers.get(&key).and_then(|c| c.status.pid)
            {
                tracing::info!(container = %id, "grace period over: SIGKILL");
                let _ = self.ctx.kernel.kill(pid, libc::SIGKILL);
            }
        }
    }

    fn wait_for(&mut self, key: u64, mut stream: UnixStream) {
        let Some(container) = self.containers.get(&key) else {
            return;
        };
        if container.status.state == ContainerState::Exited {
            Self::reply(
                &mut stream,
                Ok(Response::Container(container.status.clone())),
            );
        } else {
            self.waiters.push((container.id(), stream));
        }
    }

    fn remove(&mut self, id: &str) -> Result<Response, ContainerError> {
        let key = self
            .find(id)
            .ok_or_else(|| ContainerError::NotFound(id.to_string()))?;
        if let Some(container) = self.containers.get(&key) {
            container.status.check("remove")?;
        }
        if let Some(container) = self.containers.remove(&key) {
            container.remove(&self.ctx);
        }
        Ok(Response::Ok)
    }

    fn exec(
        &mut self,
        mut stream: UnixStream,
        id: String,
        command: Vec<String>,
        tty: bool,
        stdin: bool,
        size: (u16, u16),
    ) {
        let Some(key) = self.find(&id) else {
            Self::reply(&mut stream, Err(ContainerError::NotFound(id)));
            return;
        };
        let serial = self.key();
        let uid = self.sandbox.config.uid.clone();
        let Some(container) = self.containers.get(&key) else {
            return;
        };
        match container.exec(&self.ctx, &uid, command, tty, stdin, serial) {
            Ok((pid, stdio)) => {
                if let Some(console) = &stdio.console
                    && size.0 > 0
                    && size.1 > 0
                {
                    let _ = resize(console, size.0, size.1);
                }
                if protocol::send(&mut stream, &Response::Ok).is_err() {
                    return;
                }
                self.sessions.insert(
                    serial,
                    Session {
                        peer: stream,
                        kind: SessionKind::Exec {
                            pid,
                            stdio,
                            exit: None,
                        },
                    },
                );
            }
            Err(error) => Self::reply(&mut stream, Err(error)),
        }
    }

    fn attach(&mut self, mut stream: UnixStream, id: String, stdin: bool) {
        let Some(key) = self.find(&id) else {
            Self::reply(&mut stream, Err(ContainerError::NotFound(id)));
            return;
        };
        let Some(container) = self.containers.get(&key) else {
            return;
        };
        if let Err(error) = container.status.check("attach to") {
            Self::reply(&mut stream, Err(error.into()));
            return;
        }
        let stdin = stdin && (container.stdio.stdin.is_some() || container.stdio.console.is_some());
        if protocol::send(&mut stream, &Response::Ok).is_ok() {
            let serial = self.key();
            self.sessions.insert(
                serial,
                Session {
                    peer: stream,
                    kind: SessionKind::Attach {
                        container: id,
                        stdin,
                    },
                },
            );
        }
    }

    /// Container output: to the log, and to every attached session.
    fn on_output(&mut self, key: u64, stream: Option<Stream>) {
        let Some(container) = self.containers.get_mut(&key) else {
            return;
        };
        let id = container.id();
        let slot = match stream {
            Some(Stream::Stdout) => &mut container.stdio.stdout,
            Some(Stream::Stderr) => &mut container.stdio.stderr,
            None => &mut container.stdio.console,
        };
        let Some(fd) = slot else {
            return;
        };
        let log_stream = stream.unwrap_or(Stream::Stdout);
        match read_available(fd.as_raw_fd()) {
            Ok(Some(data)) if !data.is_empty() => {
                if let Err(error) = container.log.write(log_stream, &data) {
                    tracing::warn!(container = %id, %error, "cannot write the container log");
                }
                let kind = match log_stream {
                    Stream::Stdout => FrameKind::Stdout,
                    Stream::Stderr => FrameKind::Stderr,
                };
                let mut gone = Vec::new();
                for (skey, session) in &mut self.sessions {
                    if let SessionKind::Attach { container, .. } = &session.kind
                        && *container == id
                        && protocol::write_frame(&mut session.peer, kind, &data).is_err()
                    {
                        gone.push(*skey);
                    }
                }
                for skey in gone {
                    self.sessions.remove(&skey);
                }
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => {
                *slot = None;
                let _ = container.log.finish(log_stream);
            }
        }
    }

    /// Drains a container's output into its log (after its init exited).
    fn drain(&mut self, key: u64) {
        for stream in [Some(Stream::Stdout), Some(Stream::Stderr), None] {
            for _ in 0..1024 {
                if !self.has_pending(key, stream) {
                    break;
                }
                self.on_output(key, stream);
            }
        }
        if let Some(container) = self.containers.get_mut(&key) {
            let _ = container.log.finish(Stream::Stdout);
            let _ = container.log.finish(Stream::Stderr);
        }
    }

    fn has_pending(&self, key: u64, stream: Option<Stream>) -> bool {
        let Some(c) = self.containers.get(&key) else {
            return false;
        };
        let fd = match stream {
            Some(Stream::Stdout) => &c.stdio.stdout,
            Some(Stream::Stderr) => &c.stdio.stderr,
            None => &c.stdio.console,
        };
        let Some(fd) = fd else {
            return false;
        };
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd on the stack, no waiting.
        unsafe { libc::poll(&mut pfd, 1, 0) > 0 }
    }

    fn on_session_peer(&mut self, key: u64) {
        let Some(session) = self.sessions.get_mut(&key) else {
            return;
        };
        let frame = protocol::read_frame(&mut session.peer);
        let once = match &session.kind {
            SessionKind::Attach { container, .. } => self
                .containers
                .values()
                .any(|c| c.id() == *container && c.config.stdin_once),
            SessionKind::Exec { .. } => true,
        };
        let (stdin_fd, console_fd): (Option<&mut Option<OwnedFd>>, Option<&OwnedFd>) =
            match &mut session.kind {
                SessionKind::Exec { stdio, .. } => {
                    let console = stdio.console.as_ref();
                    (Some(&mut stdio.stdin), console)
                }
                SessionKind::Attach { container, stdin } => {
                    let found = self.containers.values_mut().find(|c| c.id() == *container);
                    match found {
                        Some(c) if *stdin => {
                            let console = c.stdio.console.as_ref();
                            (Some(&mut c.stdio.stdin), console)
                        }
                        _ => (None, None),
                    }
                }
            };
        match frame {
            Ok(Some((FrameKind::Stdin, data))) => {
                if data.is_empty() {
                    // Close stdin: end of input on a terminal is ^D.
                    if let Some(console) = console_fd {
                        let _ = write_all_fd(console, &[4]);
                    } else if let Some(slot) = stdin_fd {
                        *slot = None;
                    }
                } else if let Some(console) = console_fd {
                    let _ = write_all_fd(console, &data);
                } else if let Some(Some(fd)) = stdin_fd {
                    let _ = write_all_fd(fd, &data);
                }
            }
            Ok(Some((FrameKind::Control, payload))) => {
                if let Ok(Request::Resize { width, height }) = protocol::parse::<Request>(&payload)
                    && let Some(console) = console_fd
                {
                    let _ = resize(console, width, height);
                }
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => {
                // The peer went away: close what it fed and forget the session.
                if let Some(slot) = stdin_fd
                    && once
                {
                    *slot = None;
                }
                self.sessions.remove(&key);
            }
        }
    }

    fn on_session_output(&mut self, key: u64, stream: Option<Stream>) {
        let Some(session) = self.sessions.get_mut(&key) else {
            return;
        };
        let SessionKind::Exec { stdio, .. } = &mut session.kind else {
            return;
        };
        let slot = match stream {
            Some(Stream::Stdout) => &mut stdio.stdout,
            Some(Stream::Stderr) => &mut stdio.stderr,
            None => &mut stdio.console,
        };
        let Some(fd) = slot else {
            return;
        };
        let kind = if stream == Some(Stream::Stderr) {
            FrameKind::Stderr
        } else {
            FrameKind::Stdout
        };
        match read_available(fd.as_raw_fd()) {
            Ok(Some(data)) if !data.is_empty() => {
                if protocol::write_frame(&mut session.peer, kind, &data).is_err() {
                    self.sessions.remove(&key);
                    return;
                }
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => *slot = None,
        }
        self.finish_exec(key);
    }

    /// Ends an exec session once its process exited and its output is drained.
    fn finish_exec(&mut self, key: u64) {
        let Some(session) = self.sessions.get_mut(&key) else {
            return;
        };
        let SessionKind::Exec { stdio, exit, .. } = &mut session.kind else {
            return;
        };
        let Some(code) = *exit else {
            return;
        };
        // Drain what is left.
        for (slot, kind) in [
            (&mut stdio.stdout, FrameKind::Stdout),
            (&mut stdio.stderr, FrameKind::Stderr),
            (&mut stdio.console, FrameKind::Stdout),
        ] {
            while let Some(fd) = slot {
                match read_available(fd.as_raw_fd()) {
                    Ok(Some(data)) if !data.is_empty() => {
                        let _ = protocol::write_frame(&mut session.peer, kind, &data);
                    }
                    _ => *slot = None,
                }
            }
        }
        let _ = protocol::send(&mut session.peer, &Response::Exit { exit_code: code });
        let _ = session.peer.flush();
        self.sessions.remove(&key);
    }

    fn reap(&mut self) {
        loop {
            let status = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(status) => status,
            };
            let Some((pid, exit)) = exit_of(status) else {
                continue;
            };
            if let Some(key) = self
                .containers
                .iter()
                .find(|(_, c)| {
                    c.status.pid == Some(pid) && c.status.state != ContainerState::Exited
                })
                .map(|(k, _)| *k)
            {
                self.on_container_exit(key, exit);
            } else if let Some(key) = self
                .sessions
                .iter()
                .find(|(_, s)| matches!(s.kind, SessionKind::Exec { pid: p, .. } if p == pid))
                .map(|(k, _)| *k)
            {
                if let Some(Session {
                    kind: SessionKind::Exec { exit: slot, .. },
                    ..
                }) = self.sessions.get_mut(&key)
                {
                    *slot = Some(exit.code());
                }
                self.finish_exec(key);
            } else if Some(pid) == self.sandbox.pid_holder {
                tracing::error!(pid, "the init of the pod's PID namespace exited");
            }
        }
    }

    fn on_container_exit(&mut self, key: u64, exit: Exit) {
        self.drain(key);
        let uid = self.sandbox.config.uid.clone();
        let Some(container) = self.containers.get_mut(&key) else {
            return;
        };
        let id = container.id();
        let oom_killed = container.clean_up_after_exit(&self.ctx, &uid);
        if let Err(error) = container.status.exited(exit, oom_killed, now_rfc3339()) {
            tracing::warn!(container = %id, %error, "unexpected exit");
        }
        container.stdio.stdin = None;
        container.persist();
        tracing::info!(container = %id, code = exit.code(), oom_killed, "container exited");
        let status = container.status.clone();
        self.deadlines.retain(|(d, _)| *d != id);
        let (done, pending): (Vec<_>, Vec<_>) = self.waiters.drain(..).partition(|(w, _)| *w == id);
        self.waiters = pending;
        for (_, mut stream) in done {
            Self::reply(&mut stream, Ok(Response::Container(status.clone())));
        }
        let attached: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, s)| matches!(&s.kind, SessionKind::Attach { container, .. } if *container == id))
            .map(|(k, _)| *k)
            .collect();
        for skey in attached {
            if let Some(mut session) = self.sessions.remove(&skey) {
                let _ = protocol::send(
                    &mut session.peer,
                    &Response::Exit {
                        exit_code: exit.code(),
                    },
                );
            }
        }
    }

    /// SIGKILLs every container and exec, and records their exits.
    fn kill_everything(&mut self) {
        let pids: Vec<i32> = self
            .containers
            .values()
            .filter(|c| c.status.state != ContainerState::Exited)
            .filter_map(|c| c.status.pid)
            .collect();
        for pid in &pids {
            let _ = self.ctx.kernel.kill(*pid, libc::SIGKILL);
        }
        for pid in pids {
            if let Ok(status) = waitpid(nix::unistd::Pid::from_raw(pid), None)
                && let Some((_, exit)) = exit_of(status)
                && let Some(key) = self
                    .containers
                    .iter()
                    .find(|(_, c)| c.status.pid == Some(pid))
                    .map(|(k, _)| *k)
            {
                self.on_container_exit(key, exit);
            }
        }
        if let Some(pid) = self.sandbox.pid_holder {
            let _ = self.ctx.kernel.kill(pid, libc::SIGKILL);
        }
    }

    /// Once a shutdown's containers have all exited: remove them, tear the sandbox down,
    /// answer and end.
    fn finish_shutdown(&mut self) {
        if self.shutdown.is_none()
            || self
                .containers
                .values()
                .any(|c| c.status.state != ContainerState::Exited)
        {
            return;
        }
        let keys: Vec<u64> = self.containers.keys().copied().collect();
        for key in keys {
            if let Some(container) = self.containers.remove(&key) {
                container.remove(&self.ctx);
            }
        }
        let uid = self.sandbox.config.uid.clone();
        let result = sandbox::tear_down(
            self.ctx.kernel,
            self.ctx.dirs,
            self.ctx.cgroups,
            &uid,
            self.sandbox.pid_holder,
        );
        let _ = std::fs::remove_dir_all(self.ctx.dirs.pod_state_dir(&uid));
        if let Some(Some(mut stream)) = self.shutdown.take() {
            let response = match result {
                Ok(()) => Response::Ok,
                Err(error) => Response::Error {
                    message: format!("the sandbox was removed with an error: {error}"),
                },
            };
            let _ = protocol::send(&mut stream, &response);
        }
        self.ending = Some(Ending::Shutdown);
    }
}
