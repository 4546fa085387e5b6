//! The pod network as root: a bridge and nftables table with names unique to the test, two
//! network namespaces bind-mounted under a temp dir (as the runtime keeps them), pods attached
//! and reaching each other and the host (ICMP through busybox `ping` under `nsenter`, TCP from
//! sockets opened inside the namespaces), IPs kept across a second setup, detach, hostPorts
//! through 127.0.0.1 and the gateway, and teardown.
//!
//! Without root these tests skip, unless `CI` is set: then they fail. Traffic goes only to
//! loopback, the test's bridge and the test's namespaces. Every test removes what it created
//! (namespaces, links, its nftables table) in a drop guard, even when it fails.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use kedge::agent::network::{HostPort, NetworkConfig, PodNetwork, Protocol, host_interface};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        assert!(
            std::env::var_os("CI").is_none(),
            "the pod network tests need root in CI"
        );
        eprintln!("skipped: the pod network tests need root");
    }
    root
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// One test's bridge, table, namespaces and pods; removes them all when dropped.
struct Fixture {
    dir: tempfile::TempDir,
    config: NetworkConfig,
    runtime: tokio::runtime::Runtime,
    namespaces: Vec<PathBuf>,
    pods: Vec<String>,
    /// Distinguishes this fixture's names, subnet and ports from the other tests'.
    n: u32,
    /// The third octet of the fixture's 10.213.x.0/24 podCIDR and 10.215.x.0/30 "outside".
    subnet: u32,
    /// Host links the test made itself.
    links: Vec<String>,
    /// Processes the test started (killed by their handle, so by pid).
    children: Vec<std::process::Child>,
}

impl Fixture {
    fn new() -> Fixture {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let name = format!("kt{}x{n}", pid % 10_000_000);
        // A /24 per fixture, from a range unlikely to be used on the host.
        let subnet = (pid % 60) * 4 + n;
        let dir = tempfile::tempdir().unwrap();
        let mut config = NetworkConfig::new(
            format!("10.213.{subnet}.0/24").parse().unwrap(),
            format!("10.213.{subnet}.0/24").parse().unwrap(),
            dir.path().join("agent/network"),
        );
        config.bridge = name.clone();
        config.table = name;
        Fixture {
            dir,
            config,
            runtime: tokio::runtime::Runtime::new().unwrap(),
            namespaces: Vec::new(),
            pods: Vec::new(),
            n,
            subnet,
            links: Vec::new(),
            children: Vec::new(),
        }
    }

    fn setup(&self) -> PodNetwork {
        self.runtime
            .block_on(PodNetwork::setup(self.config.clone()))
            .unwrap()
    }

    /// A new network namespace bind-mounted at `<tmp>/netns/<name>`.
    fn namespace(&mut self, name: &str) -> PathBuf {
        let dir = self.dir.path().join("netns");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::File::create(&path).unwrap();
        self.namespaces.push(path.clone());
        let status = Command::new("unshare")
            .arg(format!("--net={}", path.display()))
            .arg("true")
            .status()
            .unwrap();
        assert!(status.success(), "unshare --net failed");
        path
    }

    fn attach(
        &mut self,
        network: &PodNetwork,
        uid: &str,
        netns: &Path,
        ports: &[HostPort],
    ) -> IpAddr {
        let uid = self.uid(uid);
        self.pods.push(uid.clone());
        self.runtime
            .block_on(network.attach(&uid, netns, ports))
            .unwrap()
            .ip
    }

    /// A pod uid unique to this fixture (veth names derive from it).
    fn uid(&self, name: &str) -> String {
        format!("{}-{name}", self.config.table)
    }

    fn table(&self) -> String {
        let out = Command::new("nft")
            .args(["list", "table", "inet", &self.config.table])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for path in &self.namespaces {
            let _ = nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH);
        }
        for link in &self.links {
            let _ = Command::new("ip")
                .args(["link", "del", link])
                .stderr(std::process::Stdio::null())
                .status();
        }
        for uid in &self.pods {
            let _ = Command::new("ip")
                .args(["link", "del", &host_interface(uid)])
                .stderr(std::process::Stdio::null())
                .status();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.config.bridge])
            .stderr(std::process::Stdio::null())
            .status();
        let _ = Command::new("nft")
            .args(["delete", "table", "inet", &self.config.table])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Runs `f` on a new thread that has joined the network namespace at `netns`.
fn in_namespace<T: Send + 'static>(netns: &Path, f: impl FnOnce() -> T + Send + 'static) -> T {
    let file = std::fs::File::open(netns).unwrap();
    std::thread::spawn(move || {
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        f()
    })
    .join()
    .unwrap()
}

/// A TCP server in a namespace answering every connection with a greeting; stopped (and its
/// socket, which keeps the namespace alive, closed) when dropped.
struct Server {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn serve(netns: &Path, port: u16, greeting: &'static str) -> Server {
    serve_with(netns, port, move |_| greeting.to_string())
}

/// A TCP server in a namespace answering each connection with `reply(peer address)`.
fn serve_with(
    netns: &Path,
    port: u16,
    reply: impl Fn(SocketAddr) -> String + Send + 'static,
) -> Server {
    let listener = in_namespace(netns, move || TcpListener::bind(("0.0.0.0", port)).unwrap());
    listener.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let thread = std::thread::spawn(move || {
        while !stopped.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((mut stream, peer)) => {
                    let _ = stream.set_nonblocking(false);
                    let _ = stream.write_all(reply(peer).as_bytes());
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    Server {
        stop,
        thread: Some(thread),
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Connects (from the current namespace) and reads what the server says.
fn fetch(address: SocketAddr) -> String {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("connecting to {address}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
}

fn ping(netns: Option<&Path>, ip: IpAddr) -> bool {
    let mut command = match netns {
        Some(ns) => {
            let mut c = Command::new("nsenter");
            c.arg(format!("--net={}", ns.display())).arg("busybox");
            c
        }
        None => Command::new("busybox"),
    };
    command
        .args(["ping", "-c", "1", "-W", "5", &ip.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap()
        .success()
}

fn in_ns_output(netns: &Path, args: &[&str]) -> String {
    let out = Command::new("nsenter")
        .arg(format!("--net={}", netns.display()))
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn pods_reach_each_other_and_the_host() {
    if !is_root() {
        return;
    }
    let mut fx = Fixture::new();
    let network = fx.setup();
    let gateway = network.gateway();
    assert_eq!(gateway, fx.config.pod_cidr.hosts().next().unwrap());
    let ns_a = fx.namespace("a");
    let ns_b = fx.namespace("b");
    let a = fx.attach(&network, "pod-a", &ns_a, &[]);
    let b = fx.attach(&network, "pod-b", &ns_b, &[]);
    assert_ne!(a, b);

    // Inside the pod: eth0 with the IP and MTU, lo up, a default route via the gateway.
    let links = in_ns_output(&ns_a, &["ip", "-o", "link"]);
    assert!(links.contains("eth0@if"), "{links}");
    assert!(links.contains(&format!("mtu {}", network.mtu())), "{links}");
    assert!(links.contains("lo: <LOOPBACK,UP"), "{links}");
    let addrs = in_ns_output(&ns_a, &["ip", "-o", "addr", "show", "eth0"]);
    assert!(addrs.contains(&format!("{a}/24")), "{addrs}");
    let routes = in_ns_output(&ns_a, &["ip", "route"]);
    assert!(
        routes.contains(&format!("default via {gateway} dev eth0")),
        "{routes}"
    );
    // On the host: the veth is a bridge port in hairpin mode.
    let hairpin = std::fs::read_to_string(format!(
        "/sys/class/net/{}/brport/hairpin_mode",
        host_interface(&fx.uid("pod-a"))
    ))
    .unwrap();
    assert_eq!(hairpin.trim(), "1");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
            .unwrap()
            .trim(),
        "1"
    );

    assert!(ping(Some(&ns_a), b), "pod a cannot ping pod b");
    assert!(ping(Some(&ns_b), a), "pod b cannot ping pod a");
    assert!(ping(None, a), "the host cannot ping pod a");
    assert!(ping(None, b), "the host cannot ping pod b");
    assert!(ping(Some(&ns_a), gateway), "pod a cannot ping the gateway");

    let _server_a = serve(&ns_a, 8080, "hello from a");
    let _server_b = serve(&ns_b, 8080, "hello from b");
    assert_eq!(fetch(SocketAddr::new(a, 8080)), "hello from a");
    assert_eq!(fetch(SocketAddr::new(b, 8080)), "hello from b");
    assert_eq!(
        in_namespace(&ns_b, move || fetch(SocketAddr::new(a, 8080))),
        "hello from a"
    );
    assert_eq!(
        in_namespace(&ns_a, move || fetch(SocketAddr::new(b, 8080))),
        "hello from b"
    );

    let table = fx.table();
    let cidr = fx.config.cluster_cidr;
    assert!(
        table.contains(&format!("ip saddr {cidr} masquerade fully-random")),
        "{table}"
    );
    assert!(
        table.contains(&format!("iifname \"{}\" accept", fx.config.bridge)),
        "{table}"
    );
}

#[test]
fn ips_survive_a_second_setup_and_detach_frees_them() {
    if !is_root() {
        return;
    }
    let mut fx = Fixture::new();
    let ns_a = fx.namespace("a");
    let ns_b = fx.namespace("b");
    let (a, b) = {
        let network = fx.setup();
        let a = fx.attach(&network, "pod-a", &ns_a, &[]);
        let b = fx.attach(&network, "pod-b", &ns_b, &[]);
        (a, b)
    };

    // Restart: the bridge, veths and allocations are kept.
    let network = fx.setup();
    assert_eq!(network.allocated(), vec![fx.uid("pod-a"), fx.uid("pod-b")]);
    assert!(ping(None, a), "pod a lost its network on the second setup");
    assert_eq!(fx.attach(&network, "pod-a", &ns_a, &[]), a);
    assert!(
        ping(Some(&ns_b), a),
        "pod a unreachable after being attached again"
    );

    // Detach frees the IP and removes the veth; twice is fine.
    let veth_a = PathBuf::from(format!(
        "/sys/class/net/{}",
        host_interface(&fx.uid("pod-a"))
    ));
    assert!(veth_a.exists());
    fx.runtime
        .block_on(network.detach(&fx.uid("pod-a")))
        .unwrap();
    assert!(!veth_a.exists());
    assert_eq!(network.allocated(), vec![fx.uid("pod-b")]);
    assert!(
        in_ns_output(&ns_a, &["ip", "-o", "link"])
            .lines()
            .all(|l| !l.contains("eth0"))
    );
    fx.runtime
        .block_on(network.detach(&fx.uid("pod-a")))
        .unwrap();

    // Detach after the namespace is gone (the kernel removed the veth pair with it).
    nix::mount::umount2(&ns_b, nix::mount::MntFlags::MNT_DETACH).unwrap();
    let veth_b = PathBuf::from(format!(
        "/sys/class/net/{}",
        host_interface(&fx.uid("pod-b"))
    ));
    for _ in 0..100 {
        if !veth_b.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    fx.runtime
        .block_on(network.detach(&fx.uid("pod-b")))
        .unwrap();
    assert!(network.allocated().is_empty());
    assert!(!veth_b.exists());

    // A new pod gets a fresh address, not the one just freed.
    let ns_c = fx.namespace("c");
    let c = fx.attach(&network, "pod-c", &ns_c, &[]);
    assert_ne!(c, a);
    assert_ne!(c, b);
    assert!(ping(None, c));
}

#[test]
fn host_ports_reach_a_pod() {
    if !is_root() {
        return;
    }
    let mut fx = Fixture::new();
    let network = fx.setup();
    let ns_a = fx.namespace("a");
    let host_port = 18_000 + (std::process::id() % 1000) as u16 * 10 + fx.n as u16;
    let mapping = HostPort {
        host_port,
        container_port: 8080,
        protocol: Protocol::Tcp,
        host_ip: None,
    };
    let a = fx.attach(&network, "pod-a", &ns_a, &[mapping]);
    let _server = serve(&ns_a, 8080, "hello through the host port");

    let table = fx.table();
    assert!(
        table.contains(&format!("tcp dport {host_port} dnat ip to {a}:8080")),
        "{table}"
    );
    assert!(table.contains("masquerade"), "{table}");
    let loopback = SocketAddr::new("127.0.0.1".parse().unwrap(), host_port);
    assert_eq!(fetch(loopback), "hello through the host port");
    assert_eq!(
        fetch(SocketAddr::new(network.gateway(), host_port)),
        "hello through the host port"
    );

    // Hairpin: the pod reaches itself through the node's address.
    let gateway = network.gateway();
    assert_eq!(
        in_namespace(&ns_a, move || fetch(SocketAddr::new(gateway, host_port))),
        "hello through the host port"
    );

    // The mapping survives a second setup, and goes with the pod.
    let network = fx.setup();
    assert!(fx.table().contains(&format!("dport {host_port}")));
    assert_eq!(fetch(loopback), "hello through the host port");
    fx.runtime
        .block_on(network.detach(&fx.uid("pod-a")))
        .unwrap();
    assert!(!fx.table().contains(&format!("dport {host_port}")));
    assert!(TcpStream::connect_timeout(&loopback, Duration::from_secs(2)).is_err());
}

#[test]
fn teardown_removes_table_and_bridge() {
    if !is_root() {
        return;
    }
    let mut fx = Fixture::new();
    let network = fx.setup();
    let ns_a = fx.namespace("a");
    fx.attach(&network, "pod-a", &ns_a, &[]);
    let bridge = PathBuf::from(format!("/sys/class/net/{}", fx.config.bridge));
    assert!(bridge.exists());
    assert!(!fx.table().is_empty());
    fx.runtime
        .block_on(PodNetwork::teardown(&fx.config))
        .unwrap();
    assert!(!bridge.exists());
    assert!(
        !PathBuf::from(format!(
            "/sys/class/net/{}",
            host_interface(&fx.uid("pod-a"))
        ))
        .exists()
    );
    assert!(fx.table().is_empty());
    // Twice is fine.
    fx.runtime
        .block_on(PodNetwork::teardown(&fx.config))
        .unwrap();
}

/// A pod reaching an address outside the cluster CIDR (a namespace of the test's, routed
/// through the host) is masqueraded to the host's address on that link.
#[test]
fn egress_is_masqueraded() {
    if !is_root() {
        return;
    }
    let mut fx = Fixture::new();
    let network = fx.setup();
    let ns_a = fx.namespace("a");
    let outside = fx.namespace("outside");
    fx.attach(&network, "pod-a", &ns_a, &[]);

    // The "outside" namespace: a veth from the host, 10.215.x.1 (host) - 10.215.x.2 (outside).
    let host_end = format!("{}o", fx.config.bridge);
    let holder = Command::new("nsenter")
        .arg(format!("--net={}", outside.display()))
        .args(["sleep", "60"])
        .spawn()
        .unwrap();
    let holder_pid = holder.id();
    fx.children.push(holder);
    // Wait until nsenter has joined the namespace (the same nsfs inode).
    let wanted = std::fs::metadata(&outside).unwrap().ino();
    let in_outside =
        || std::fs::metadata(format!("/proc/{holder_pid}/ns/net")).is_ok_and(|m| m.ino() == wanted);
    let mut joined = in_outside();
    for _ in 0..500 {
        if joined {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
        joined = in_outside();
    }
    assert!(joined, "nsenter did not join the outside namespace");
    fx.links.push(host_end.clone());
    let x = fx.subnet;
    let steps: Vec<Vec<String>> = vec![
        format!("link add {host_end} type veth peer name eth0 netns {holder_pid}"),
        format!("addr add 10.215.{x}.1/30 dev {host_end}"),
        format!("link set {host_end} up"),
    ]
    .into_iter()
    .map(|s| s.split(' ').map(String::from).collect())
    .collect();
    for args in steps {
        assert!(
            Command::new("ip").args(&args).status().unwrap().success(),
            "ip {args:?}"
        );
    }
    for mut holder in fx.children.drain(..) {
        let _ = holder.kill();
        let _ = holder.wait();
    }
    for args in [
        format!("addr add 10.215.{x}.2/30 dev eth0"),
        "link set eth0 up".to_string(),
        "link set lo up".to_string(),
    ] {
        let status = Command::new("nsenter")
            .arg(format!("--net={}", outside.display()))
            .arg("ip")
            .args(args.split(' '))
            .status()
            .unwrap();
        assert!(status.success(), "ip {args} in the outside namespace");
    }

    let _server = serve_with(&outside, 8080, |peer| peer.ip().to_string());
    let target = SocketAddr::new(format!("10.215.{x}.2").parse().unwrap(), 8080);
    let seen = in_namespace(&ns_a, move || fetch(target));
    assert_eq!(
        seen,
        format!("10.215.{x}.1"),
        "the pod's traffic was not masqueraded"
    );
}

/// A burst of pods attached at once (as the kubelet does when many pods land together) gets
/// distinct IPs, and every pod is reachable.
#[test]
fn concurrent_attaches_get_distinct_reachable_ips() {
    if !is_root() {
        return;
    }
    let mut fx = Fixture::new();
    let network = fx.setup();
    let names: Vec<String> = (0..16).map(|i| format!("burst-{i}")).collect();
    let namespaces: Vec<PathBuf> = names.iter().map(|n| fx.namespace(n)).collect();
    let uids: Vec<String> = names.iter().map(|n| fx.uid(n)).collect();
    fx.pods.extend(uids.iter().cloned());
    let started = std::time::Instant::now();
    let results = fx.runtime.block_on(futures::future::join_all(
        uids.iter()
            .zip(&namespaces)
            .map(|(uid, ns)| network.attach(uid, ns, &[])),
    ));
    eprintln!(
        "attached {} pods concurrently in {:?}",
        uids.len(),
        started.elapsed()
    );
    let ips: Vec<IpAddr> = results.into_iter().map(|r| r.unwrap().ip).collect();
    let distinct: std::collections::HashSet<&IpAddr> = ips.iter().collect();
    assert_eq!(distinct.len(), ips.len(), "{ips:?}");
    for ip in &ips {
        assert!(fx.config.pod_cidr.contains(ip));
        assert!(ping(None, *ip), "the host cannot ping {ip}");
    }
    assert!(ping(Some(&namespaces[0]), ips[15]));
    let mut allocated = network.allocated();
    allocated.sort();
    let mut expected = uids.clone();
    expected.sort();
    assert_eq!(allocated, expected);
}
