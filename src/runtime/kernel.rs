//! The kernel boundary of the runtime: mounts, namespaces, cgroup files and signals, behind the
//! [`Kernel`] trait with the Linux implementation ([`LinuxKernel`]) and a recording fake
//! ([`RecordingKernel`]), so sandbox and rootfs logic is unit-tested without root (youki's
//! `Syscall`/`TestHelperSyscall` pattern). libcontainer itself is called only in
//! [`crate::runtime::shim`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

/// The longest `mount(2)` data string the kernel accepts (one page, with its NUL).
pub const MOUNT_DATA_MAX: usize = 4095;

/// Namespaces a sandbox creates, each kept alive by a bind mount of its `nsfs` file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NamespaceFiles {
    pub net: Option<PathBuf>,
    pub ipc: Option<PathBuf>,
    pub uts: Option<PathBuf>,
    /// Set in the new UTS namespace.
    pub hostname: String,
}

/// Every kernel interaction of the runtime outside libcontainer.
pub trait Kernel {
    /// Mounts an overlay of `lower` (top-most first) under `upper` at `target`.
    fn mount_overlay(
        &self,
        lower: &[PathBuf],
        upper: &Path,
        work: &Path,
        target: &Path,
    ) -> io::Result<()>;
    fn bind_mount(&self, source: &Path, target: &Path, read_only: bool) -> io::Result<()>;
    /// Mounts a tmpfs with `nosuid`, `nodev` and `noexec` (a pod's `/dev/shm`, `/run/kedge`).
    fn mount_tmpfs(&self, target: &Path, options: &str) -> io::Result<()>;
    /// Mounts a tmpfs as upstream's kubelet mounts a pod volume in memory (emptyDir of medium
    /// Memory, secret, projected): no flags, so programs a pod puts there can run.
    fn mount_volume_tmpfs(&self, target: &Path, options: &str) -> io::Result<()>;
    /// Lazily unmounts `target` (`MNT_DETACH`); not mounted is not an error.
    fn unmount(&self, target: &Path) -> io::Result<()>;
    /// Creates new namespaces and bind-mounts them on the given (existing) files.
    fn create_namespaces(&self, files: &NamespaceFiles) -> io::Result<()>;
    /// Starts the init of a new PID namespace as a child of the caller (it reaps orphans and
    /// dies with the caller); returns its pid.
    fn start_pid_namespace_holder(&self) -> io::Result<i32>;
    fn kill(&self, pid: i32, signal: i32) -> io::Result<()>;
    /// `mkdir -p` (cgroup directories).
    fn create_dir(&self, path: &Path) -> io::Result<()>;
    /// `rmdir` (cgroup directories); missing is not an error.
    fn remove_dir(&self, path: &Path) -> io::Result<()>;
    fn write(&self, path: &Path, value: &str) -> io::Result<()>;
    fn read(&self, path: &Path) -> io::Result<String>;
    /// The subdirectories of `path` (cgroup children); missing is empty.
    fn list_dirs(&self, path: &Path) -> io::Result<Vec<PathBuf>>;
}

/// The `mount(2)` data for an overlay, and the directory to run the mount from when relative
/// paths were needed to fit in a page.
///
/// # Errors
/// `InvalidInput` when even relative paths do not fit.
pub fn overlay_options(
    lower: &[PathBuf],
    upper: &Path,
    work: &Path,
) -> io::Result<(Option<PathBuf>, String)> {
    let build = |lowers: Vec<String>, upper: String, work: String| {
        format!(
            "lowerdir={},upperdir={upper},workdir={work}",
            lowers.join(":")
        )
    };
    let absolute = build(
        lower.iter().map(|p| p.display().to_string()).collect(),
        upper.display().to_string(),
        work.display().to_string(),
    );
    if absolute.len() <= MOUNT_DATA_MAX {
        return Ok((None, absolute));
    }
    let mut base = upper.to_path_buf();
    let all: Vec<&Path> = lower
        .iter()
        .map(PathBuf::as_path)
        .chain([upper, work])
        .collect();
    while !all.iter().all(|p| p.starts_with(&base)) {
        if !base.pop() {
            break;
        }
    }
    let relative = |p: &Path| -> String {
        match p.strip_prefix(&base) {
            Ok(rel) if rel.as_os_str().is_empty() => ".".to_string(),
            Ok(rel) => rel.display().to_string(),
            Err(_) => p.display().to_string(),
        }
    };
    let short = build(
        lower.iter().map(|p| relative(p)).collect(),
        relative(upper),
        relative(work),
    );
    if short.len() > MOUNT_DATA_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "overlay mount options are {} bytes even with paths relative to {}: more than a page; use fewer or shorter layer paths",
                short.len(),
                base.display()
            ),
        ));
    }
    Ok((Some(base), short))
}

/// The real kernel.
#[derive(Clone, Copy, Debug, Default)]
pub struct LinuxKernel;

/// Where the runtime directory (`/run/kedge`) was found by [`keep_in_memory`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunDir {
    /// On a memory file system already, as `/run` is on a usual host (a tmpfs).
    InMemory,
    /// It was on disk with nothing in it but empty directories: a tmpfs is now mounted on it.
    Mounted,
    /// On disk and holding an earlier run's shim sockets or namespace pins, which
    /// a tmpfs would hide from this run, so it is used as it is.
    OnDiskInUse,
}

/// Whether `path` is on a tmpfs or ramfs.
fn in_memory(path: &Path) -> io::Result<bool> {
    let kind = nix::sys::statfs::statfs(path)
        .map_err(nix_err)?
        .filesystem_type();
    // ramfs's magic number (linux/magic.h), which neither nix nor libc names.
    const RAMFS_MAGIC: i64 = 0x8584_58f6;
    Ok(kind == nix::sys::statfs::TMPFS_MAGIC || kind.0 as i64 == RAMFS_MAGIC)
}

/// Whether `dir` holds anything besides empty directories (those an earlier run leaves).
fn holds_state(dir: &Path) -> io::Result<bool> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() || std::fs::read_dir(entry.path())?.next().is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Keeps the runtime directory in memory. Its files (shim sockets, namespace pins, the pods'
/// libcontainer state) die with the host by design and are created and removed with every
/// pod; where `/run` is a plain directory on disk (some minimal images and VMs), each pod
/// start wrote them to the disk, which on an SD card is wear and on ext4 without a journal
/// slows every later file creation for half a minute. kedge-killall.sh unmounts it.
///
/// # Errors
/// The directory cannot be created, inspected or mounted on.
pub fn keep_in_memory(kernel: &dyn Kernel, dir: &Path) -> io::Result<RunDir> {
    std::fs::create_dir_all(dir)?;
    if in_memory(dir)? {
        return Ok(RunDir::InMemory);
    }
    if holds_state(dir)? {
        return Ok(RunDir::OnDiskInUse);
    }
    kernel.mount_tmpfs(dir, "mode=0755")?;
    Ok(RunDir::Mounted)
}

fn nix_err(error: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(error as i32)
}

impl Kernel for LinuxKernel {
    fn mount_overlay(
        &self,
        lower: &[PathBuf],
        upper: &Path,
        work: &Path,
        target: &Path,
    ) -> io::Result<()> {
        use nix::mount::{MsFlags, mount};
        let (base, data) = overlay_options(lower, upper, work)?;
        let previous = match &base {
            Some(base) => {
                let previous = std::env::current_dir()?;
                std::env::set_current_dir(base)?;
                Some(previous)
            }
            None => None,
        };
        let result = mount(
            Some("overlay"),
            target,
            Some("overlay"),
            MsFlags::empty(),
            Some(data.as_str()),
        )
        .map_err(nix_err);
        if let Some(previous) = previous {
            std::env::set_current_dir(previous)?;
        }
        result
    }

    fn bind_mount(&self, source: &Path, target: &Path, read_only: bool) -> io::Result<()> {
        use nix::mount::{MsFlags, mount};
        mount(
            Some(source),
            target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(nix_err)?;
        if read_only {
            mount(
                None::<&str>,
                target,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                None::<&str>,
            )
            .map_err(nix_err)?;
        }
        Ok(())
    }

    fn mount_tmpfs(&self, target: &Path, options: &str) -> io::Result<()> {
        use nix::mount::{MsFlags, mount};
        mount(
            Some("tmpfs"),
            target,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some(options),
        )
        .map_err(nix_err)
    }

    fn mount_volume_tmpfs(&self, target: &Path, options: &str) -> io::Result<()> {
        use nix::mount::{MsFlags, mount};
        mount(
            Some("tmpfs"),
            target,
            Some("tmpfs"),
            MsFlags::empty(),
            Some(options),
        )
        .map_err(nix_err)
    }

    fn unmount(&self, target: &Path) -> io::Result<()> {
        use nix::mount::{MntFlags, umount2};
        match umount2(target, MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::Error::EINVAL | nix::Error::ENOENT) => Ok(()),
            Err(error) => Err(nix_err(error)),
        }
    }

    fn create_namespaces(&self, files: &NamespaceFiles) -> io::Result<()> {
        use nix::sched::CloneFlags;
        use nix::sys::wait::{WaitStatus, waitpid};
        use nix::unistd::ForkResult;
        let mut flags = CloneFlags::empty();
        let mut binds: Vec<(&'static str, &Path)> = Vec::new();
        for (kind, flag, file) in [
            ("net", CloneFlags::CLONE_NEWNET, &files.net),
            ("ipc", CloneFlags::CLONE_NEWIPC, &files.ipc),
            ("uts", CloneFlags::CLONE_NEWUTS, &files.uts),
        ] {
            if let Some(file) = file {
                flags |= flag;
                binds.push((kind, file.as_path()));
                if !file.exists() {
                    std::fs::File::create(file)?;
                }
            }
        }
        if flags.is_empty() {
            return Ok(());
        }
        let sources: Vec<String> = binds
            .iter()
            .map(|(kind, _)| format!("/proc/self/ns/{kind}"))
            .collect();
        // SAFETY: the shim is single-threaded (its module documents and keeps this invariant),
        // so the child may do anything before it exits; it only calls async-signal-safe
        // syscalls on memory prepared before the fork.
        match unsafe { nix::unistd::fork() }.map_err(nix_err)? {
            ForkResult::Child => {
                let mut ok = nix::sched::unshare(flags).is_ok();
                if ok && files.uts.is_some() {
                    ok = nix::unistd::sethostname(&files.hostname).is_ok();
                }
                for ((_, target), source) in binds.iter().zip(&sources) {
                    ok = ok
                        && nix::mount::mount(
                            Some(source.as_str()),
                            *target,
                            None::<&str>,
                            nix::mount::MsFlags::MS_BIND,
                            None::<&str>,
                        )
                        .is_ok();
                }
                // SAFETY: _exit ends the forked child without running the parent's destructors.
                unsafe { libc::_exit(if ok { 0 } else { 1 }) }
            }
            ForkResult::Parent { child } => match waitpid(child, None).map_err(nix_err)? {
                WaitStatus::Exited(_, 0) => Ok(()),
                status => Err(io::Error::other(format!(
                    "the helper creating namespaces {flags:?} failed ({status:?})"
                ))),
            },
        }
    }

    fn start_pid_namespace_holder(&self) -> io::Result<i32> {
        use nix::sched::{CloneFlags, clone};
        let mut stack = vec![0u8; 64 * 1024];
        let holder = Box::new(|| -> isize { pid_namespace_init() });
        // SAFETY: single-threaded caller; the child runs `pid_namespace_init`, which only
        // makes async-signal-safe syscalls and never returns.
        let pid = unsafe {
            clone(
                holder,
                &mut stack,
                CloneFlags::CLONE_NEWPID,
                Some(libc::SIGCHLD),
            )
        }
        .map_err(nix_err)?;
        Ok(pid.as_raw())
    }

    fn kill(&self, pid: i32, signal: i32) -> io::Result<()> {
        // SAFETY: kill(2) has no memory effects.
        if unsafe { libc::kill(pid, signal) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    fn create_dir(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        match std::fs::remove_dir(path) {
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    fn write(&self, path: &Path, value: &str) -> io::Result<()> {
        std::fs::write(path, value)
    }

    fn read(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn list_dirs(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let entries = match std::fs::read_dir(path) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(error),
        };
        let mut dirs = Vec::new();
        for entry in entries {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                dirs.push(entry.path());
            }
        }
        dirs.sort();
        Ok(dirs)
    }
}

/// The init of a pod's shared PID namespace: dies with the shim, reaps orphans, nothing else.
fn pid_namespace_init() -> isize {
    extern "C" fn on_child(_: libc::c_int) {}
    // SAFETY: plain syscalls on stack memory; this is the only code running in the new child.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        let mut mask: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut mask);
        libc::sigaddset(&mut mask, libc::SIGCHLD);
        libc::sigprocmask(libc::SIG_BLOCK, &mask, std::ptr::null_mut());
        libc::signal(libc::SIGCHLD, on_child as *const () as libc::sighandler_t);
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        loop {
            while libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) > 0 {}
            libc::sigsuspend(&empty);
        }
    }
}

/// One recorded kernel call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    MountOverlay {
        lower: Vec<PathBuf>,
        upper: PathBuf,
        work: PathBuf,
        target: PathBuf,
    },
    BindMount {
        source: PathBuf,
        target: PathBuf,
        read_only: bool,
    },
    MountTmpfs {
        target: PathBuf,
        options: String,
    },
    Unmount(PathBuf),
    CreateNamespaces(NamespaceFiles),
    StartPidNamespaceHolder,
    Kill {
        pid: i32,
        signal: i32,
    },
    CreateDir(PathBuf),
    RemoveDir(PathBuf),
    Write {
        path: PathBuf,
        value: String,
    },
}

/// A fake kernel that records every call, keeps written files in memory for reads, and can be
/// told to fail a kind of call.
#[derive(Debug, Default)]
pub struct RecordingKernel {
    calls: RefCell<Vec<Call>>,
    files: RefCell<HashMap<PathBuf, String>>,
    fail: RefCell<Vec<&'static str>>,
}

impl RecordingKernel {
    pub fn new() -> Self {
        Self::default()
    }

    /// The calls so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.borrow().clone()
    }

    /// Makes every later call of `kind` (the [`Call`] variant's name) fail with `EPERM`.
    pub fn fail_on(&self, kind: &'static str) {
        self.fail.borrow_mut().push(kind);
    }

    /// Presets a file's contents for [`Kernel::read`].
    pub fn set_file(&self, path: impl Into<PathBuf>, value: &str) {
        self.files
            .borrow_mut()
            .insert(path.into(), value.to_string());
    }

    fn record(&self, kind: &'static str, call: Call) -> io::Result<()> {
        self.calls.borrow_mut().push(call);
        if self.fail.borrow().contains(&kind) {
            return Err(io::Error::from_raw_os_error(libc::EPERM));
        }
        Ok(())
    }
}

impl Kernel for RecordingKernel {
    fn mount_overlay(
        &self,
        lower: &[PathBuf],
        upper: &Path,
        work: &Path,
        target: &Path,
    ) -> io::Result<()> {
        overlay_options(lower, upper, work)?;
        self.record(
            "MountOverlay",
            Call::MountOverlay {
                lower: lower.to_vec(),
                upper: upper.into(),
                work: work.into(),
                target: target.into(),
            },
        )
    }

    fn bind_mount(&self, source: &Path, target: &Path, read_only: bool) -> io::Result<()> {
        self.record(
            "BindMount",
            Call::BindMount {
                source: source.into(),
                target: target.into(),
                read_only,
            },
        )
    }

    fn mount_tmpfs(&self, target: &Path, options: &str) -> io::Result<()> {
        self.record(
            "MountTmpfs",
            Call::MountTmpfs {
                target: target.into(),
                options: options.into(),
            },
        )
    }

    fn mount_volume_tmpfs(&self, target: &Path, options: &str) -> io::Result<()> {
        self.mount_tmpfs(target, options)
    }

    fn unmount(&self, target: &Path) -> io::Result<()> {
        self.record("Unmount", Call::Unmount(target.into()))
    }

    fn create_namespaces(&self, files: &NamespaceFiles) -> io::Result<()> {
        self.record("CreateNamespaces", Call::CreateNamespaces(files.clone()))
    }

    fn start_pid_namespace_holder(&self) -> io::Result<i32> {
        self.record("StartPidNamespaceHolder", Call::StartPidNamespaceHolder)?;
        Ok(4242)
    }

    fn kill(&self, pid: i32, signal: i32) -> io::Result<()> {
        self.record("Kill", Call::Kill { pid, signal })
    }

    fn create_dir(&self, path: &Path) -> io::Result<()> {
        self.record("CreateDir", Call::CreateDir(path.into()))
    }

    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        self.record("RemoveDir", Call::RemoveDir(path.into()))
    }

    fn write(&self, path: &Path, value: &str) -> io::Result<()> {
        self.record(
            "Write",
            Call::Write {
                path: path.into(),
                value: value.into(),
            },
        )?;
        self.files.borrow_mut().insert(path.into(), value.into());
        Ok(())
    }

    fn read(&self, path: &Path) -> io::Result<String> {
        self.files
            .borrow()
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn list_dirs(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let mut dirs: Vec<PathBuf> = self
            .calls
            .borrow()
            .iter()
            .filter_map(|call| match call {
                Call::CreateDir(dir) if dir.parent() == Some(path) => Some(dir.clone()),
                _ => None,
            })
            .collect();
        dirs.sort();
        dirs.dedup();
        Ok(dirs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_dir_gets_a_tmpfs_only_when_empty_and_on_disk() {
        // The crate's own directory stands for a disk; skip where it is in memory.
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
        std::fs::create_dir_all(&base).unwrap();
        if in_memory(&base).unwrap() {
            return;
        }
        let tmp = tempfile::tempdir_in(&base).unwrap();
        let kernel = RecordingKernel::default();
        let run = tmp.path().join("run");
        assert_eq!(keep_in_memory(&kernel, &run).unwrap(), RunDir::Mounted);
        assert!(run.is_dir());
        assert_eq!(
            kernel.calls(),
            vec![Call::MountTmpfs {
                target: run.clone(),
                options: "mode=0755".into()
            }]
        );
        // Empty directories an earlier run left do not count; a shim's socket does.
        std::fs::create_dir_all(run.join("netns")).unwrap();
        std::fs::create_dir_all(run.join("shims")).unwrap();
        let kernel = RecordingKernel::default();
        assert_eq!(keep_in_memory(&kernel, &run).unwrap(), RunDir::Mounted);
        std::fs::write(run.join("shims/u1.sock"), "").unwrap();
        let kernel = RecordingKernel::default();
        assert_eq!(keep_in_memory(&kernel, &run).unwrap(), RunDir::OnDiskInUse);
        assert!(kernel.calls().is_empty());
        if in_memory(Path::new("/dev/shm")).unwrap_or(false) {
            let kernel = RecordingKernel::default();
            let shm = Path::new("/dev/shm");
            assert_eq!(keep_in_memory(&kernel, shm).unwrap(), RunDir::InMemory);
            assert!(kernel.calls().is_empty());
        }
    }

    #[test]
    fn short_overlay_options_use_absolute_paths() {
        let (base, data) = overlay_options(
            &[PathBuf::from("/l/2"), PathBuf::from("/l/1")],
            Path::new("/c/upper"),
            Path::new("/c/work"),
        )
        .unwrap();
        assert_eq!(base, None);
        assert_eq!(data, "lowerdir=/l/2:/l/1,upperdir=/c/upper,workdir=/c/work");
    }

    #[test]
    fn long_overlay_options_become_relative_to_the_common_directory() {
        let root = "/var/lib/kedge/agent/snapshots/a-rather-long-directory-name-to-fill-the-page";
        let lower: Vec<PathBuf> = (0..50)
            .map(|i| PathBuf::from(format!("{root}/layers/{i:064}/fs")))
            .collect();
        let upper = PathBuf::from(format!("{root}/pods/u/upper"));
        let work = PathBuf::from(format!("{root}/pods/u/work"));
        let (base, data) = overlay_options(&lower, &upper, &work).unwrap();
        assert_eq!(base, Some(PathBuf::from(root)));
        assert!(data.starts_with(&format!("lowerdir=layers/{:064}/fs:", 0)));
        assert!(data.ends_with(",upperdir=pods/u/upper,workdir=pods/u/work"));
        assert!(data.len() <= MOUNT_DATA_MAX);
    }

    #[test]
    fn hopeless_overlay_options_are_an_error() {
        let lower: Vec<PathBuf> = (0..200)
            .map(|i| PathBuf::from(format!("/a{i}/{:064}", 0)))
            .collect();
        let err = overlay_options(&lower, Path::new("/u"), Path::new("/w")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn the_fake_records_and_fails_on_demand() {
        let kernel = RecordingKernel::new();
        kernel.write(Path::new("/cg/x"), "1").unwrap();
        assert_eq!(kernel.read(Path::new("/cg/x")).unwrap(), "1");
        kernel.fail_on("Unmount");
        assert!(kernel.unmount(Path::new("/m")).is_err());
        assert_eq!(kernel.calls().len(), 2);
    }
}
