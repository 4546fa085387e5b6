//! One container in the shim, and the only calls into libcontainer: create (overlay rootfs,
//! OCI bundle, `ContainerBuilder::as_init`), start, exec (`as_tenant`) and delete.
//!
//! Every process libcontainer starts is a direct child of the shim (its init is cloned with
//! `CLONE_PARENT`), and the [`DieWithShim`] executor sets `PR_SET_PDEATHSIG` to SIGKILL just
//! before the container's process is executed, so a shim that dies takes its containers with
//! it instead of leaving orphans nobody supervises.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use oci_spec::runtime::Spec;

use crate::runtime::cgroups::CgroupLayout;
use crate::runtime::config::ContainerConfig;
use crate::runtime::kernel::Kernel;
use crate::runtime::layout::RuntimeDirs;
use crate::runtime::logs::LogWriter;
use crate::runtime::oci::{self, SpecInputs};
use crate::runtime::shim::sandbox::Sandbox;
use crate::runtime::state::{ContainerStatus, now_rfc3339};
use crate::runtime::users;

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("container {0} already exists in this pod")]
    AlreadyExists(String),
    #[error("no container {0} in this pod")]
    NotFound(String),
    #[error(transparent)]
    Transition(#[from] crate::runtime::state::TransitionError),
    #[error("cannot prepare the container's directory {path}: {source}")]
    Directory { path: PathBuf, source: io::Error },
    #[error("cannot mount the container's root filesystem at {path}: {source}")]
    Rootfs { path: PathBuf, source: io::Error },
    #[error(transparent)]
    User(#[from] users::UserError),
    #[error(transparent)]
    Spec(#[from] oci::SpecError),
    #[error("cannot write the OCI bundle: {0}")]
    Bundle(String),
    #[error("cannot open the container's log {path}: {source}")]
    Log { path: PathBuf, source: io::Error },
    #[error("cannot set up the container's stdio: {0}")]
    Stdio(io::Error),
    #[error("invalid stop signal {0}")]
    StopSignal(String),
    #[error("libcontainer failed to {step}: {message}")]
    Libcontainer { step: &'static str, message: String },
}

/// The executor of every container process: dies with the shim, starts with the signal mask
/// and dispositions a fresh process has (the shim blocks signals for its signalfd, and Rust
/// ignores SIGPIPE; both would survive `execve`), then runs the process as libcontainer's
/// default executor does.
#[derive(Clone, Default)]
pub struct DieWithShim;

impl Executor for DieWithShim {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        // SAFETY: prctl, signal and sigprocmask only change this (container) process's own
        // signal state, on stack memory.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            for signal in 1..32 {
                if signal != libc::SIGKILL && signal != libc::SIGSTOP {
                    libc::signal(signal, libc::SIG_DFL);
                }
            }
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        }
        libcontainer::workload::default::DefaultExecutor {}.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        libcontainer::workload::default::DefaultExecutor {}.validate(spec)
    }
}

/// The shim's own OOM score adjustment: the kernel's OOM killer takes containers first.
pub const SHIM_OOM_SCORE_ADJ: i32 = -998;

/// Puts the shim's OOM score adjustment back: libcontainer writes the container's value to
/// the calling process's `/proc/self/oom_score_adj` (so that the container inherits it).
pub fn restore_shim_oom_score() {
    if let Err(error) = std::fs::write("/proc/self/oom_score_adj", SHIM_OOM_SCORE_ADJ.to_string()) {
        tracing::warn!(%error, "cannot set the shim's oom_score_adj");
    }
}

/// The kernel and paths a shim works with.
pub struct ShimContext<'a> {
    pub kernel: &'a dyn Kernel,
    pub dirs: &'a RuntimeDirs,
    pub cgroups: &'a CgroupLayout,
}

/// The shim's ends of a process's stdio.
#[derive(Debug, Default)]
pub struct Stdio {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    /// The terminal's master side (output and input) for tty processes.
    pub console: Option<OwnedFd>,
}

/// The process ends of stdio handed to libcontainer.
struct ChildStdio {
    stdin: OwnedFd,
    stdout: OwnedFd,
    stderr: OwnedFd,
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (read, write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)?;
    Ok((read, write))
}

/// Makes `fd` non-blocking.
pub fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let flags = OFlag::from_bits_truncate(
        fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL).map_err(io::Error::from)?,
    );
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).map_err(io::Error::from)?;
    Ok(())
}

fn dev_null() -> io::Result<OwnedFd> {
    Ok(std::fs::File::open("/dev/null")?.into())
}

/// Pipes for a non-tty process: ours and the child's ends.
fn pipes(stdin: bool) -> io::Result<(Stdio, ChildStdio)> {
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    set_nonblocking(&out_r)?;
    set_nonblocking(&err_r)?;
    let (ours_in, child_in) = if stdin {
        let (r, w) = pipe()?;
        (Some(w), r)
    } else {
        (None, dev_null()?)
    };
    Ok((
        Stdio {
            stdin: ours_in,
            stdout: Some(out_r),
            stderr: Some(err_r),
            console: None,
        },
        ChildStdio {
            stdin: child_in,
            stdout: out_w,
            stderr: err_w,
        },
    ))
}

/// A listening console socket for a tty process, bound at a short path in the pod's run dir.
fn console_socket(dirs: &RuntimeDirs, uid: &str) -> io::Result<(PathBuf, UnixListener)> {
    let path = dirs.pod_run_dir(uid).join("console.sock");
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    listener.set_nonblocking(true)?;
    Ok((path, listener))
}

/// Receives the terminal master libcontainer sent to the console socket.
fn receive_console(listener: &UnixListener, path: &Path) -> io::Result<OwnedFd> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    use std::os::fd::FromRawFd;
    let (stream, _) = listener.accept()?;
    let _ = std::fs::remove_file(path);
    let mut buf = [0u8; 64];
    let mut iov = [io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(io::Error::from)?;
    for cmsg in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg
            && let Some(fd) = fds.first()
        {
            // SAFETY: the kernel just gave us this descriptor; nothing else owns it.
            let fd = unsafe { OwnedFd::from_raw_fd(*fd) };
            set_nonblocking(&fd)?;
            return Ok(fd);
        }
    }
    Err(io::Error::other("the console socket received no terminal"))
}

/// Sets a terminal's size.
pub fn resize(console: &OwnedFd, width: u16, height: u16) -> io::Result<()> {
    let size = libc::winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize from the pointer, which outlives the call.
    if unsafe { libc::ioctl(console.as_raw_fd(), libc::TIOCSWINSZ, &size) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A signal by name (`SIGTERM`, `TERM`) or number.
///
/// # Errors
/// Not a signal.
pub fn parse_signal(name: &str) -> Result<i32, ContainerError> {
    let name = name.trim();
    if let Ok(n) = name.parse::<i32>() {
        return nix::sys::signal::Signal::try_from(n)
            .map(|s| s as i32)
            .map_err(|_| ContainerError::StopSignal(name.to_string()));
    }
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    nix::sys::signal::Signal::from_str(&full)
        .map(|s| s as i32)
        .map_err(|_| ContainerError::StopSignal(name.to_string()))
}

fn lc_error(
    step: &'static str,
) -> impl Fn(libcontainer::error::LibcontainerError) -> ContainerError {
    move |error| ContainerError::Libcontainer {
        step,
        message: error.to_string(),
    }
}

/// A container owned by the shim.
pub struct Container {
    pub config: ContainerConfig,
    pub status: ContainerStatus,
    pub dir: PathBuf,
    pub cgroup: String,
    pub stop_signal: i32,
    pub log: LogWriter,
    pub stdio: Stdio,
}

impl Container {
    pub fn id(&self) -> String {
        self.config.id()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    /// Mounts the rootfs, writes the bundle and creates the container with libcontainer; its
    /// init waits for `start`.
    ///
    /// # Errors
    /// The failing step; what was mounted is unmounted again.
    pub fn create(
        ctx: &ShimContext<'_>,
        sandbox: &Sandbox,
        config: ContainerConfig,
    ) -> Result<Container, ContainerError> {
        let uid = &sandbox.config.uid;
        let id = config.id();
        let dir = ctx.dirs.container_dir(uid, &id);
        let rootfs = dir.join("rootfs");
        for sub in ["rootfs", "upper", "work"] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path)
                .map_err(|source| ContainerError::Directory { path, source })?;
        }
        let stop_signal = match &config.image.stop_signal {
            Some(name) if !name.is_empty() => parse_signal(name)?,
            _ => libc::SIGTERM,
        };
        ctx.kernel
            .mount_overlay(
                &config.lower_dirs,
                &dir.join("upper"),
                &dir.join("work"),
                &rootfs,
            )
            .map_err(|source| ContainerError::Rootfs {
                path: rootfs.clone(),
                source,
            })?;
        match Self::create_mounted(ctx, sandbox, config, &dir, stop_signal) {
            Ok(container) => Ok(container),
            Err(error) => {
                let _ = ctx.kernel.unmount(&rootfs);
                Err(error)
            }
        }
    }

    fn create_mounted(
        ctx: &ShimContext<'_>,
        sandbox: &Sandbox,
        config: ContainerConfig,
        dir: &Path,
        stop_signal: i32,
    ) -> Result<Container, ContainerError> {
        let uid = &sandbox.config.uid;
        let id = config.id();
        let rootfs = dir.join("rootfs");
        let read = |name: &str| std::fs::read_to_string(rootfs.join("etc").join(name)).ok();
        let (passwd, group) = (read("passwd"), read("group"));
        let security = &config.security;
        let user = users::resolve(
            config.image.user.as_deref(),
            security.run_as_user,
            security.run_as_group,
            &security.supplemental_groups,
            passwd.as_deref(),
            group.as_deref(),
        )?;
        let cgroup = ctx.cgroups.container_path(uid, &id);
        let spec = oci::container_spec(&SpecInputs {
            sandbox: &sandbox.config,
            container: &config,
            rootfs: &rootfs,
            user: &user,
            namespaces: &sandbox.namespaces,
            files: &sandbox.files,
            cgroups_path: &cgroup,
            cgroup_version: ctx.cgroups.version,
        })?;
        spec.save(dir.join("config.json"))
            .map_err(|e| ContainerError::Bundle(e.to_string()))?;

        let log_path = ctx.dirs.container_log(&sandbox.config, &config);
        let log = LogWriter::open(
            &log_path,
            sandbox.config.log_max_size,
            sandbox.config.log_max_files,
        )
        .map_err(|source| ContainerError::Log {
            path: log_path.clone(),
            source,
        })?;

        let lc_root = ctx.dirs.libcontainer_root(uid);
        std::fs::create_dir_all(&lc_root).map_err(|source| ContainerError::Directory {
            path: lc_root.clone(),
            source,
        })?;
        let builder = ContainerBuilder::new(id.clone(), SyscallType::default())
            .with_executor(DieWithShim)
            .with_root_path(&lc_root)
            .map_err(lc_error("set its root path"))?;
        let (stdio, builder, console) = if config.tty {
            let (path, listener) = console_socket(ctx.dirs, uid).map_err(ContainerError::Stdio)?;
            let null = dev_null().map_err(ContainerError::Stdio)?;
            let builder = builder.with_console_socket(Some(&path)).with_stdin(null);
            (Stdio::default(), builder, Some((path, listener)))
        } else {
            let (ours, child) = pipes(config.stdin).map_err(ContainerError::Stdio)?;
            let builder = builder
                .with_stdin(child.stdin)
                .with_stdout(child.stdout)
                .with_stderr(child.stderr);
            (ours, builder, None)
        };
        let lc = builder
            .as_init(dir)
            .with_systemd(false)
            .with_detach(true)
            .build();
        restore_shim_oom_score();
        let lc = lc.map_err(lc_error("create the container"))?;
        let mut stdio = stdio;
        if let Some((path, listener)) = console {
            stdio.console = Some(receive_console(&listener, &path).map_err(ContainerError::Stdio)?);
        }
        let mut status =
            ContainerStatus::created(&config.name, config.attempt, log_path, now_rfc3339());
        status.pid = lc.pid().map(|p| p.as_raw());
        Ok(Container {
            config,
            status,
            dir: dir.to_path_buf(),
            cgroup,
            stop_signal,
            log,
            stdio,
        })
    }

    /// Lets the created init execute the container's process.
    ///
    /// # Errors
    /// The state forbids it, or libcontainer failed.
    pub fn start(&mut self, ctx: &ShimContext<'_>, uid: &str) -> Result<(), ContainerError> {
        self.status.check("start")?;
        let root = ctx.dirs.libcontainer_root(uid).join(self.id());
        let mut lc = libcontainer::container::Container::load(root)
            .map_err(lc_error("load the container"))?;
        lc.start().map_err(lc_error("start the container"))?;
        let pid = lc
            .pid()
            .map(|p| p.as_raw())
            .or(self.status.pid)
            .unwrap_or(0);
        self.status.started(pid, now_rfc3339())?;
        Ok(())
    }

    /// Runs `command` in the running container as another process of it.
    ///
    /// # Errors
    /// The container is not running, or libcontainer failed.
    pub fn exec(
        &self,
        ctx: &ShimContext<'_>,
        uid: &str,
        command: Vec<String>,
        tty: bool,
        stdin: bool,
        serial: u64,
    ) -> Result<(i32, Stdio), ContainerError> {
        self.status.check("exec in")?;
        let spec = Spec::load(self.dir.join("config.json"))
            .map_err(|e| ContainerError::Bundle(e.to_string()))?;
        let mut process = spec.process().clone().unwrap_or_default();
        process.set_args(Some(command));
        process.set_terminal(Some(tty));
        if tty {
            let mut env = process.env().clone().unwrap_or_default();
            if !env.iter().any(|e| e.starts_with("TERM=")) {
                env.push("TERM=xterm".into());
            }
            process.set_env(Some(env));
        }
        let process_file = ctx
            .dirs
            .pod_run_dir(uid)
            .join(format!("exec-{serial}.json"));
        let json =
            serde_json::to_vec(&process).map_err(|e| ContainerError::Bundle(e.to_string()))?;
        std::fs::write(&process_file, json).map_err(|e| ContainerError::Bundle(e.to_string()))?;
        let builder = ContainerBuilder::new(self.id(), SyscallType::default())
            .with_executor(DieWithShim)
            .with_root_path(ctx.dirs.libcontainer_root(uid))
            .map_err(lc_error("set its root path"))?;
        let result = if tty {
            let (path, listener) = console_socket(ctx.dirs, uid).map_err(ContainerError::Stdio)?;
            let null = dev_null().map_err(ContainerError::Stdio)?;
            let pid = builder
                .with_console_socket(Some(&path))
                .with_stdin(null)
                .as_tenant()
                .with_process(Some(&process_file))
                .with_detach(true)
                .build()
                .map_err(lc_error("exec in the container"));
            pid.and_then(|pid| {
                let console = receive_console(&listener, &path).map_err(ContainerError::Stdio)?;
                Ok((
                    pid.as_raw(),
                    Stdio {
                        console: Some(console),
                        ..Stdio::default()
                    },
                ))
            })
        } else {
            let (ours, child) = pipes(stdin).map_err(ContainerError::Stdio)?;
            builder
                .with_stdin(child.stdin)
                .with_stdout(child.stdout)
                .with_stderr(child.stderr)
                .as_tenant()
                .with_process(Some(&process_file))
                .with_detach(true)
                .build()
                .map(|pid| (pid.as_raw(), ours))
                .map_err(lc_error("exec in the container"))
        };
        restore_shim_oom_score();
        let _ = std::fs::remove_file(&process_file);
        result
    }

    /// After the init exited: whether the OOM killer struck, then libcontainer's delete
    /// (which kills what is left and removes the cgroup) and the rootfs unmount.
    pub fn clean_up_after_exit(&mut self, ctx: &ShimContext<'_>, uid: &str) -> bool {
        let oom_killed = ctx.cgroups.oom_kills(ctx.kernel, &self.cgroup) > 0;
        let root = ctx.dirs.libcontainer_root(uid).join(self.id());
        match libcontainer::container::Container::load(root.clone()) {
            Ok(mut lc) => {
                if let Err(error) = lc.delete(true) {
                    tracing::warn!(container = %self.id(), %error, "libcontainer could not delete the container");
                    let _ = std::fs::remove_dir_all(&root);
                }
            }
            Err(error) => {
                tracing::warn!(container = %self.id(), %error, "cannot load the container's libcontainer state")
            }
        }
        if let Err(error) = ctx.kernel.unmount(&self.rootfs()) {
            tracing::warn!(container = %self.id(), %error, "cannot unmount the container's root filesystem");
        }
        oom_killed
    }

    /// Writes `status.json` (atomically).
    pub fn persist(&self) {
        let path = self.dir.join("status.json");
        let tmp = self.dir.join("status.json.tmp");
        let result = serde_json::to_vec_pretty(&self.status)
            .map_err(io::Error::other)
            .and_then(|json| std::fs::write(&tmp, json))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(error) = result {
            tracing::warn!(container = %self.id(), %error, "cannot record the container's status");
        }
    }

    /// Removes an exited container's directory (its logs stay).
    pub fn remove(self, ctx: &ShimContext<'_>) {
        let _ = ctx.kernel.unmount(&self.rootfs());
        if let Err(error) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!(container = %self.id(), %error, "cannot remove the container's directory");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_signals_by_name_or_number() {
        assert_eq!(parse_signal("SIGTERM").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("quit").unwrap(), libc::SIGQUIT);
        assert_eq!(parse_signal("9").unwrap(), libc::SIGKILL);
        assert!(parse_signal("SIGNOPE").is_err());
    }
}
