//! `kedge check-config` against fake hosts: a cgroup v1 (hybrid) machine, a cgroup v2
//! machine, and Raspberry Pis whose memory controller is off.

use std::path::Path;

use super::*;

fn write(root: &Path, abs: &str, text: &str) {
    let path = root.join(abs.trim_start_matches('/'));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const V1_CGROUPS: &str = "#subsys_name\thierarchy\tnum_cgroups\tenabled
cpuset\t3\t1\t1
cpu\t1\t1\t1
cpuacct\t2\t1\t1
blkio\t7\t1\t1
memory\t4\t30\t1
devices\t5\t1\t1
freezer\t6\t1\t1
pids\t8\t1\t1
";

const CONFIG: &str = "CONFIG_OVERLAY_FS=m
CONFIG_BRIDGE=m
CONFIG_VETH=m
CONFIG_VXLAN=m
CONFIG_NETFILTER=y
CONFIG_NF_TABLES=m
CONFIG_NFT_NAT=m
CONFIG_NFT_MASQ=m
CONFIG_NF_CONNTRACK=m
CONFIG_BRIDGE_NETFILTER=m
";

/// A healthy Debian-like host with every module loadable, IP forwarding on, ports free.
fn healthy(root: &Path) {
    for ns in ["mnt", "uts", "ipc", "pid", "net", "cgroup", "user"] {
        write(root, &format!("/proc/self/ns/{ns}"), "");
    }
    write(root, "/proc/sys/kernel/osrelease", "6.1.0-21-amd64\n");
    write(root, "/boot/config-6.1.0-21-amd64", CONFIG);
    write(root, "/proc/filesystems", "nodev\tsysfs\nnodev\tcgroup2\n");
    write(root, "/proc/sys/net/ipv4/ip_forward", "1\n");
    write(root, "/usr/sbin/nft", "");
    write(
        root,
        "/proc/cmdline",
        "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet\n",
    );
    let header = "  sl  local_address rem_address   st\n";
    for table in ["tcp", "tcp6", "udp", "udp6"] {
        write(root, &format!("/proc/net/{table}"), header);
    }
}

fn find<'a>(checks: &'a [Check], name: &str) -> &'a Check {
    checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check named {name:?} in {checks:#?}"))
}

fn report_text(root: &Path) -> (bool, String) {
    let mut out = Vec::new();
    let passed = report(&HostRoot::new(root), &mut out).unwrap();
    (passed, String::from_utf8(out).unwrap())
}

#[test]
fn cgroup_v1_hybrid_host_passes() {
    let dir = tempfile::tempdir().unwrap();
    healthy(dir.path());
    write(dir.path(), "/proc/cgroups", V1_CGROUPS);
    write(dir.path(), "/sys/fs/cgroup/unified/cgroup.controllers", "");
    let checks = checks(&HostRoot::new(dir.path()));
    assert!(checks.iter().all(|c| !c.fails()), "{checks:#?}");
    let memory = find(&checks, "memory controller");
    assert_eq!(memory.group, "Cgroups (v1, hybrid)");
    assert_eq!(memory.status, Status::Ok(String::new()));
    assert!(
        matches!(&find(&checks, "overlayfs").status, Status::Ok(how) if how.contains("modprobe overlay"))
    );
    let (passed, text) = report_text(dir.path());
    assert!(passed);
    assert!(text.contains("every required check passed"), "{text}");
    assert!(
        text.contains("kernel 6.1.0-21-amd64 (configuration: /boot/config-6.1.0-21-amd64)"),
        "{text}"
    );
}

#[test]
fn cgroup_v2_host_reads_the_unified_controllers() {
    let dir = tempfile::tempdir().unwrap();
    healthy(dir.path());
    write(
        dir.path(),
        "/sys/fs/cgroup/cgroup.controllers",
        "cpuset cpu io memory hugetlb pids rdma misc\n",
    );
    // A v2 host still has /proc/cgroups; its hierarchy column is 0 and it must not be read
    // as v1.
    write(
        dir.path(),
        "/proc/cgroups",
        "#subsys_name\thierarchy\tnum_cgroups\tenabled\nmemory\t0\t90\t1\n",
    );
    let host = HostRoot::new(dir.path());
    assert!(matches!(CgroupMode::read(&host), CgroupMode::V2(_)));
    let checks = checks(&host);
    assert!(checks.iter().all(|c| !c.fails()), "{checks:#?}");
    assert_eq!(find(&checks, "memory controller").group, "Cgroups (v2)");
    assert!(checks.iter().all(|c| c.name != "cpuacct controller"));
}

#[test]
fn raspberry_pi_on_cgroup_v2_without_memory_gets_the_firmware_cmdline_fix() {
    let dir = tempfile::tempdir().unwrap();
    healthy(dir.path());
    write(
        dir.path(),
        "/sys/fs/cgroup/cgroup.controllers",
        "cpuset cpu io pids\n",
    );
    write(
        dir.path(),
        "/proc/device-tree/model",
        "Raspberry Pi 4 Model B Rev 1.4\0",
    );
    write(
        dir.path(),
        "/boot/firmware/cmdline.txt",
        "console=serial0,115200 root=PARTUUID=1 rootwait\n",
    );
    write(
        dir.path(),
        "/proc/cmdline",
        "coherent_pool=1M cgroup_disable=memory console=tty1\n",
    );
    let checks = checks(&HostRoot::new(dir.path()));
    let memory = find(&checks, "memory controller");
    assert!(memory.fails());
    assert_eq!(
        memory.status,
        Status::Missing(
            "the memory cgroup is disabled: append `cgroup_memory=1 cgroup_enable=memory` to the single line in /boot/firmware/cmdline.txt and remove `cgroup_disable=memory`, then reboot".into()
        )
    );
    let (passed, text) = report_text(dir.path());
    assert!(!passed);
    assert!(text.contains("1 required check is missing"), "{text}");
    assert!(text.contains("memory controller"), "{text}");
}

#[test]
fn older_raspberry_pi_on_cgroup_v1_gets_the_boot_cmdline_fix() {
    let dir = tempfile::tempdir().unwrap();
    healthy(dir.path());
    write(
        dir.path(),
        "/proc/cgroups",
        &V1_CGROUPS.replace("memory\t4\t30\t1", "memory\t0\t1\t0"),
    );
    write(
        dir.path(),
        "/sys/firmware/devicetree/base/model",
        "Raspberry Pi 3 Model B Plus Rev 1.3\0",
    );
    write(
        dir.path(),
        "/boot/cmdline.txt",
        "console=tty1 root=/dev/mmcblk0p2\n",
    );
    let checks = checks(&HostRoot::new(dir.path()));
    let memory = find(&checks, "memory controller");
    assert_eq!(memory.group, "Cgroups (v1)");
    assert!(
        matches!(&memory.status, Status::Missing(fix) if fix.contains("to the single line in /boot/cmdline.txt, then reboot"))
    );
}

#[test]
fn a_pc_without_memory_cgroup_gets_the_grub_fix() {
    let dir = tempfile::tempdir().unwrap();
    healthy(dir.path());
    write(
        dir.path(),
        "/sys/fs/cgroup/cgroup.controllers",
        "cpu pids\n",
    );
    let checks = checks(&HostRoot::new(dir.path()));
    assert!(
        matches!(&find(&checks, "memory controller").status, Status::Missing(fix) if fix.contains("GRUB_CMDLINE_LINUX"))
    );
}

#[test]
fn missing_kernel_features_ports_and_forwarding_fail_with_fixes() {
    let dir = tempfile::tempdir().unwrap();
    healthy(dir.path());
    write(dir.path(), "/proc/cgroups", V1_CGROUPS);
    write(
        dir.path(),
        "/boot/config-6.1.0-21-amd64",
        &CONFIG.replace("CONFIG_VXLAN=m\n", ""),
    );
    std::fs::remove_file(dir.path().join("proc/self/ns/net")).unwrap();
    write(dir.path(), "/proc/sys/net/ipv4/ip_forward", "0\n");
    write(
        dir.path(),
        "/proc/net/tcp6",
        "  sl  local_address rem_address   st\n   0: 00000000000000000000000000000000:192B 00000000000000000000000000000000:0000 0A 0\n",
    );
    let checks = checks(&HostRoot::new(dir.path()));
    for name in [
        "network namespace",
        "vxlan",
        "ip_forward",
        "port 6443/tcp (API server)",
    ] {
        assert!(
            find(&checks, name).fails(),
            "{name} should fail: {checks:#?}"
        );
    }
    assert!(
        matches!(&find(&checks, "vxlan").status, Status::Missing(fix) if fix.contains("CONFIG_VXLAN"))
    );
    assert!(!find(&checks, "port 10250/tcp (kubelet)").fails());
    assert!(!find(&checks, "port 8472/udp (VXLAN pod network)").fails());
    let (passed, text) = report_text(dir.path());
    assert!(!passed);
    assert!(text.contains("4 required checks are missing"), "{text}");
    assert!(text.contains("fix: turn on IPv4 forwarding"), "{text}");
}

#[test]
fn loaded_modules_and_proc_entries_count_without_a_config() {
    let dir = tempfile::tempdir().unwrap();
    healthy(dir.path());
    write(dir.path(), "/proc/cgroups", V1_CGROUPS);
    std::fs::remove_file(dir.path().join("boot/config-6.1.0-21-amd64")).unwrap();
    write(dir.path(), "/proc/filesystems", "nodev\toverlay\n");
    write(
        dir.path(),
        "/proc/sys/net/bridge/bridge-nf-call-iptables",
        "1\n",
    );
    write(
        dir.path(),
        "/proc/modules",
        "vxlan 1 0 - Live 0\nbridge 1 0 - Live 0\n",
    );
    let checks = checks(&HostRoot::new(dir.path()));
    assert_eq!(find(&checks, "overlayfs").status, Status::Ok(String::new()));
    assert_eq!(
        find(&checks, "br_netfilter").status,
        Status::Ok(String::new())
    );
    assert_eq!(find(&checks, "vxlan").status, Status::Ok(String::new()));
    // Nothing says whether veth exists: unknown, which does not fail.
    let veth = find(&checks, "veth");
    assert!(matches!(veth.status, Status::Unknown(_)));
    assert!(!veth.fails());
}

#[test]
fn no_cgroups_at_all_fails() {
    let dir = tempfile::tempdir().unwrap();
    healthy(dir.path());
    let checks = checks(&HostRoot::new(dir.path()));
    assert!(find(&checks, "cgroups").fails());
}

#[test]
fn the_nft_command_is_optional() {
    let dir = tempfile::tempdir().unwrap();
    healthy(dir.path());
    let present = checks(&HostRoot::new(dir.path()));
    assert!(
        matches!(&find(&present, "nft command").status, Status::Ok(how) if how.contains("nft list table"))
    );
    std::fs::remove_file(dir.path().join("usr/sbin/nft")).unwrap();
    let absent = checks(&HostRoot::new(dir.path()));
    let nft = find(&absent, "nft command");
    assert!(!nft.fails());
    assert!(matches!(&nft.status, Status::Missing(fix) if fix.contains("not needed")));
}
