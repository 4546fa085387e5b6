//! `kedge check-config`: whether this machine's kernel and host have what kedge needs —
//! namespaces, cgroups (v1 or v2) with the memory controller, overlayfs, the network pieces
//! (bridge, veth, vxlan, netfilter/nftables, br_netfilter, IP forwarding; the `nft` command
//! is optional: kedge programs nf_tables over netlink) and free ports —
//! with the exact fix for each thing missing.
//!
//! Everything is read from files below a root directory ([`HostRoot`]), so unit tests
//! describe cgroup v1, cgroup v2 and a Raspberry Pi with its memory controller disabled as
//! small trees of fake `/proc` and `/sys` files.

mod host;
mod ports;

use std::collections::BTreeMap;
use std::io::Write;

pub use host::{Availability, HostRoot, Kernel};

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// The heading it is printed under.
    pub group: &'static str,
    pub name: String,
    pub status: Status,
    /// Whether kedge cannot work without it; a required check that is missing makes
    /// `kedge check-config` exit with 1.
    pub required: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Present; the text says how (e.g. "built in", "module, loaded on demand").
    Ok(String),
    /// Absent; the text is the fix.
    Missing(String),
    /// Could not be determined; the text says how to find out or make sure.
    Unknown(String),
}

impl Check {
    fn new(group: &'static str, name: impl Into<String>, required: bool, status: Status) -> Self {
        Check {
            group,
            name: name.into(),
            status,
            required,
        }
    }

    /// A required check that is missing.
    pub fn fails(&self) -> bool {
        self.required && matches!(self.status, Status::Missing(_))
    }
}

/// Runs every check against the host under `host`.
pub fn checks(host: &HostRoot) -> Vec<Check> {
    let kernel = Kernel::read(host);
    let mut checks = Vec::new();
    namespaces(host, &mut checks);
    cgroups(host, &mut checks);
    filesystems(host, &kernel, &mut checks);
    network(host, &kernel, &mut checks);
    checks.extend(ports::checks(host));
    checks
}

/// Prints the report for the host under `host` to `out`.
///
/// # Errors
/// Only when writing to `out` fails. Returns whether every required check passed.
pub fn report(host: &HostRoot, out: &mut impl Write) -> std::io::Result<bool> {
    let kernel = Kernel::read(host);
    writeln!(
        out,
        "kernel {} (configuration: {})",
        kernel.release.as_deref().unwrap_or("unknown"),
        kernel
            .config_source
            .as_deref()
            .unwrap_or("not found; install the kernel's /boot/config-<release>")
    )?;
    let checks = checks(host);
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut group = "";
    for check in &checks {
        if check.group != group {
            group = check.group;
            writeln!(out, "\n{group}")?;
        }
        let (word, text) = match &check.status {
            Status::Ok(how) => ("ok", how),
            Status::Missing(fix) => ("missing", fix),
            Status::Unknown(how) => ("unknown", how),
        };
        let optional = if check.required { "" } else { " (optional)" };
        match &check.status {
            Status::Ok(_) if !text.is_empty() => {
                writeln!(out, "  {:<width$}  {word}{optional}: {text}", check.name)?;
            }
            Status::Ok(_) => writeln!(out, "  {:<width$}  {word}{optional}", check.name)?,
            Status::Missing(_) | Status::Unknown(_) => {
                writeln!(out, "  {:<width$}  {word}{optional}", check.name)?;
                writeln!(out, "  {:<width$}    fix: {text}", "")?;
            }
        }
    }
    let failed = checks.iter().filter(|c| c.fails()).count();
    if failed == 0 {
        writeln!(out, "\nevery required check passed")?;
    } else {
        writeln!(
            out,
            "\n{failed} required check{} missing: apply the fixes above",
            if failed == 1 { " is" } else { "s are" }
        )?;
    }
    Ok(failed == 0)
}

fn namespaces(host: &HostRoot, checks: &mut Vec<Check>) {
    for (ns, what, config, required) in [
        ("mnt", "mount", "NAMESPACES", true),
        ("uts", "UTS", "UTS_NS", true),
        ("ipc", "IPC", "IPC_NS", true),
        ("pid", "PID", "PID_NS", true),
        ("net", "network", "NET_NS", true),
        ("cgroup", "cgroup", "CGROUPS", true),
        ("user", "user", "USER_NS", false),
    ] {
        let status = if host.exists(&format!("/proc/self/ns/{ns}")) {
            Status::Ok(String::new())
        } else {
            Status::Missing(format!(
                "use a kernel built with CONFIG_{config}=y (no /proc/self/ns/{ns})"
            ))
        };
        checks.push(Check::new(
            "Namespaces",
            format!("{what} namespace"),
            required,
            status,
        ));
    }
}

/// How the host's cgroups are mounted, and which controllers are on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CgroupMode {
    /// The unified hierarchy alone at /sys/fs/cgroup; its controllers.
    V2(Vec<String>),
    /// v1 hierarchies (with or without the unified one beside them, "hybrid"); each
    /// controller with its `enabled` column from /proc/cgroups.
    V1 {
        controllers: BTreeMap<String, bool>,
        hybrid: bool,
    },
    /// Neither: no cgroup support.
    None,
}

impl CgroupMode {
    pub fn read(host: &HostRoot) -> Self {
        if let Some(text) = host.read("/sys/fs/cgroup/cgroup.controllers") {
            return CgroupMode::V2(text.split_whitespace().map(str::to_string).collect());
        }
        let Some(text) = host.read("/proc/cgroups") else {
            return CgroupMode::None;
        };
        let controllers = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let fields: Vec<&str> = l.split_whitespace().collect();
                Some((fields.first()?.to_string(), *fields.get(3)? == "1"))
            })
            .collect();
        CgroupMode::V1 {
            controllers,
            hybrid: host.exists("/sys/fs/cgroup/unified/cgroup.controllers"),
        }
    }

    /// Whether `controller` (v2 name) is available and enabled.
    fn has(&self, controller: &str) -> bool {
        match self {
            CgroupMode::V2(controllers) => controllers.iter().any(|c| c == controller),
            CgroupMode::V1 { controllers, .. } => {
                let v1 = if controller == "io" {
                    "blkio"
                } else {
                    controller
                };
                controllers.get(v1).copied().unwrap_or(false)
            }
            CgroupMode::None => false,
        }
    }
}

fn cgroups(host: &HostRoot, checks: &mut Vec<Check>) {
    let mode = CgroupMode::read(host);
    let (group, wanted): (&'static str, &[(&str, bool)]) = match &mode {
        CgroupMode::V2(_) => (
            "Cgroups (v2)",
            &[
                ("cpu", true),
                ("memory", true),
                ("pids", true),
                ("cpuset", false),
                ("io", false),
                ("hugetlb", false),
            ],
        ),
        CgroupMode::V1 { hybrid, .. } => (
            if *hybrid {
                "Cgroups (v1, hybrid)"
            } else {
                "Cgroups (v1)"
            },
            &[
                ("cpu", true),
                ("cpuacct", true),
                ("memory", true),
                ("pids", true),
                ("devices", true),
                ("freezer", true),
                ("cpuset", true),
                ("io", false),
                ("hugetlb", false),
            ],
        ),
        CgroupMode::None => {
            checks.push(Check::new(
                "Cgroups",
                "cgroups",
                true,
                Status::Missing(
                    "use a kernel built with CONFIG_CGROUPS=y and mount the cgroup2 file system at /sys/fs/cgroup (neither /sys/fs/cgroup/cgroup.controllers nor /proc/cgroups exists)"
                        .into(),
                ),
            ));
            return;
        }
    };
    for &(controller, required) in wanted {
        let name = match (&mode, controller) {
            (CgroupMode::V1 { .. }, "io") => "blkio controller".to_string(),
            _ => format!("{controller} controller"),
        };
        let status = if mode.has(controller) {
            Status::Ok(String::new())
        } else if controller == "memory" {
            Status::Missing(memory_fix(host))
        } else {
            Status::Missing(format!(
                "enable the {controller} controller: add `cgroup_enable={controller}` to the kernel command line and reboot (remove any `cgroup_disable={controller}`)"
            ))
        };
        checks.push(Check::new(group, name, required, status));
    }
}

/// The fix for a disabled memory controller: on a Raspberry Pi, the exact file to edit.
pub fn memory_fix(host: &HostRoot) -> String {
    let cmdline = host.read("/proc/cmdline").unwrap_or_default();
    let remove = if cmdline
        .split_whitespace()
        .any(|a| a == "cgroup_disable=memory")
    {
        " and remove `cgroup_disable=memory`"
    } else {
        ""
    };
    if raspberry_pi(host) {
        let file = if host.exists("/boot/firmware/cmdline.txt") {
            "/boot/firmware/cmdline.txt"
        } else {
            "/boot/cmdline.txt"
        };
        format!(
            "the memory cgroup is disabled: append `cgroup_memory=1 cgroup_enable=memory` to the single line in {file}{remove}, then reboot"
        )
    } else {
        format!(
            "the memory cgroup is disabled: add `cgroup_memory=1 cgroup_enable=memory` to the kernel command line{remove} (with GRUB: GRUB_CMDLINE_LINUX in /etc/default/grub, then `update-grub`), then reboot"
        )
    }
}

/// Whether the device tree names a Raspberry Pi.
fn raspberry_pi(host: &HostRoot) -> bool {
    [
        "/proc/device-tree/model",
        "/sys/firmware/devicetree/base/model",
    ]
    .iter()
    .filter_map(|p| host.read(p))
    .any(|model| model.starts_with("Raspberry Pi"))
}

fn filesystems(host: &HostRoot, kernel: &Kernel, checks: &mut Vec<Check>) {
    let registered = host.read("/proc/filesystems").is_some_and(|t| {
        t.lines()
            .any(|l| l.split_whitespace().last() == Some("overlay"))
    });
    let status = if registered {
        Status::Ok(String::new())
    } else {
        module_status(kernel, "overlay", "OVERLAY_FS")
    };
    checks.push(Check::new("Filesystems", "overlayfs", true, status));
}

fn network(host: &HostRoot, kernel: &Kernel, checks: &mut Vec<Check>) {
    for (name, module, config) in [
        ("bridge", "bridge", "BRIDGE"),
        ("veth", "veth", "VETH"),
        ("vxlan", "vxlan", "VXLAN"),
        ("netfilter", "netfilter", "NETFILTER"),
        ("nftables", "nf_tables", "NF_TABLES"),
        ("nftables NAT", "nft_chain_nat", "NFT_NAT"),
        ("nftables masquerade", "nft_masq", "NFT_MASQ"),
        ("connection tracking", "nf_conntrack", "NF_CONNTRACK"),
    ] {
        let status = if module == "netfilter" {
            // Netfilter is never a module; its /proc directory shows it.
            if host.exists("/proc/sys/net/netfilter") || host.exists("/proc/net/netfilter") {
                Status::Ok(String::new())
            } else {
                module_status(kernel, module, config)
            }
        } else {
            module_status(kernel, module, config)
        };
        checks.push(Check::new("Networking", name, true, status));
    }
    let status = if host.exists("/proc/sys/net/bridge/bridge-nf-call-iptables") {
        Status::Ok(String::new())
    } else {
        module_status(kernel, "br_netfilter", "BRIDGE_NETFILTER")
    };
    checks.push(Check::new("Networking", "br_netfilter", true, status));
    let status = match host
        .read("/proc/sys/net/ipv4/ip_forward")
        .map(|v| v.trim().to_string())
    {
        Some(v) if v == "1" => Status::Ok(String::new()),
        Some(_) => Status::Missing(
            "turn on IPv4 forwarding: `sysctl -w net.ipv4.ip_forward=1`, and keep it across reboots: `echo net.ipv4.ip_forward=1 > /etc/sysctl.d/90-kedge.conf`"
                .into(),
        ),
        None => Status::Missing("use a kernel with IPv4 (no /proc/sys/net/ipv4/ip_forward)".into()),
    };
    checks.push(Check::new("Networking", "ip_forward", true, status));
    checks.push(Check::new(
        "Networking",
        "nft command",
        false,
        nft_command(host),
    ));
}

/// Where the `nft` command is looked for.
const NFT_PATHS: &[&str] = &[
    "/usr/sbin/nft",
    "/sbin/nft",
    "/usr/bin/nft",
    "/bin/nft",
    "/usr/local/sbin/nft",
    "/usr/local/bin/nft",
];

/// The pod network and the service proxy program nf_tables over netlink; the `nft` command
/// only shows their rules.
fn nft_command(host: &HostRoot) -> Status {
    match NFT_PATHS.iter().find(|path| host.exists(path)) {
        Some(path) => Status::Ok(format!(
            "{path}: `nft list table ip kedge-proxy` shows the service proxy's rules"
        )),
        None => Status::Missing(
            "not needed (kedge programs nf_tables over netlink); to look at its rules, install nftables (package nftables)".into(),
        ),
    }
}

/// The status of a feature that may be a module.
fn module_status(kernel: &Kernel, module: &str, config: &str) -> Status {
    match kernel.feature(module, config) {
        Availability::Loaded => Status::Ok(String::new()),
        Availability::BuiltIn => Status::Ok("built in".into()),
        Availability::Loadable => Status::Ok(format!(
            "module, not loaded yet: the kedge service loads it at start, or `modprobe {module}`"
        )),
        Availability::Absent => Status::Missing(format!(
            "the kernel lacks CONFIG_{config}: install the kernel's extra modules (Debian/Ubuntu: `apt install linux-modules-extra-$(uname -r)` where it exists) or use a kernel built with CONFIG_{config}=y or =m"
        )),
        Availability::Unknown => Status::Unknown(format!(
            "no kernel configuration or module list to read: `modprobe {module}` tells, or provide /boot/config-$(uname -r)"
        )),
    }
}

#[cfg(test)]
mod tests;
