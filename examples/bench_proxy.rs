//! Benchmark of the service proxy's rule sync (run by `scripts/bench-services.sh`, as root):
//! renders the table for `--services` Services × `--endpoints` endpoints and applies it as
//! kedge does, over netlink, in a network namespace of its own (nothing on the host is
//! touched, and the namespace goes away with the process), then changes one endpoint among
//! them and syncs again, as the proxy does (only the changed Service port re-rendered, then
//! one transaction with what changed). The same scripts are then applied with the `nft`
//! command, the peer.
//!
//! Prints, as medians over `--iterations` runs: render and apply time of the full sync, and
//! of a sync after one endpoint change, with the nft command's apply time and the ratio; then TCP throughput in the namespace to 127.0.0.2
//! directly and through a ClusterIP DNAT'd to it, with `ratio R` (ClusterIP / direct).
//!
//! Usage: `bench_proxy [--services N] [--endpoints M] [--iterations I]`
//!
//! Between pods (run in their network namespaces by `scripts/bench-services.sh`, with
//! `nsenter`): `bench_proxy --sink ADDR` reads every connection to `ADDR` until its end;
//! `bench_proxy --direct POD_IP:PORT --cluster-ip CLUSTER_IP:PORT` measures TCP connections/s
//! and throughput to a sink directly and through its Service, ending with `ratio R`.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use kedge::agent::proxy::applied::Applied;
use kedge::agent::proxy::model::{Endpoint, Protocol, ServicePort};
use kedge::agent::proxy::nft::NftCommand;
use kedge::agent::proxy::rules::{DEFAULT_TABLE, Ruleset};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn arg(args: &[String], name: &str, default: usize) -> Result<usize> {
    match args.iter().position(|a| a == name) {
        Some(i) => Ok(args.get(i + 1).ok_or("missing value")?.parse()?),
        None => Ok(default),
    }
}

/// `services` ClusterIP Services with a NodePort each and `endpoints` ready endpoints.
fn service_ports(services: usize, endpoints: usize) -> Vec<ServicePort> {
    (0..services)
        .map(|s| {
            let s32 = u32::try_from(s).unwrap_or(0);
            ServicePort {
                namespace: "bench".into(),
                name: format!("svc-{s}"),
                port_name: "http".into(),
                protocol: Protocol::Tcp,
                cluster_ip: Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 43, 0, 10)) + s32),
                port: 80,
                node_port: u16::try_from(30000 + s).ok(),
                external_ips: Vec::new(),
                affinity_timeout: None,
                external_local: false,
                internal_local: false,
                endpoints: (0..endpoints)
                    .map(|e| Endpoint {
                        ip: Ipv4Addr::from(
                            u32::from(Ipv4Addr::new(10, 42, 0, 2))
                                + s32 * 16
                                + u32::try_from(e).unwrap_or(0),
                        ),
                        port: 8080,
                        local: true,
                        ready: true,
                        serving: true,
                        terminating: false,
                    })
                    .collect(),
            }
        })
        .collect()
}

fn render(ports: &[ServicePort]) -> String {
    Ruleset {
        table: DEFAULT_TABLE,
        cluster_cidr: "10.42.0.0/16".parse().unwrap_or_default(),
        ports,
    }
    .render()
}

/// Renders and applies: the whole table when `applied` is `None`, else an update of it;
/// returns the (render, apply) times.
fn sync(
    apply: &dyn Fn(&str) -> std::io::Result<()>,
    ports: &[ServicePort],
    applied: &mut Option<Applied>,
) -> Result<(Duration, Duration)> {
    let started = Instant::now();
    let ruleset = Ruleset {
        table: DEFAULT_TABLE,
        cluster_cidr: "10.42.0.0/16".parse().unwrap_or_default(),
        ports,
    };
    let script = match applied.as_mut().and_then(|a| a.update(&ruleset)) {
        Some(update) => update.script,
        None => {
            let full = Applied::new(&ruleset);
            let script = full.full_script();
            *applied = Some(full);
            script
        }
    };
    let rendered = started.elapsed();
    let started = Instant::now();
    apply(&script)?;
    Ok((rendered, started.elapsed()))
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

fn str_arg<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).map(String::as_str)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(address) = str_arg(&args, "--sink") {
        let address: SocketAddr = address.parse()?;
        sink(&std::net::TcpListener::bind(address)?);
        return Ok(());
    }
    if let (Some(direct), Some(cluster_ip)) =
        (str_arg(&args, "--direct"), str_arg(&args, "--cluster-ip"))
    {
        return between_pods(direct.parse()?, cluster_ip.parse()?);
    }
    let services = arg(&args, "--services", 1000)?;
    let endpoints = arg(&args, "--endpoints", 10)?;
    let iterations = arg(&args, "--iterations", 5)?.max(1);
    // A network namespace of our own: the rules never reach the host's.
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("cannot create a network namespace (run as root): {e}"))?;
    let nft = NftCommand::default();
    let ports = service_ports(services, endpoints);
    let script_size = render(&ports).len();
    let by_nft = |script: &str| nft.run(&["-f", "-"], script).map(|_| ());
    // kedge applies over netlink; the `nft` command is the peer, on the same scripts.
    let kedge = measure(&kedge::nftables::apply, &nft, &ports, iterations)?;
    let peer = measure(&by_nft, &nft, &ports, iterations)?;
    let (direct, cluster_ip) = throughput(&nft)?;
    println!(
        "service proxy sync: {services} Services x {endpoints} endpoints, script {} KiB, medians of {iterations}",
        script_size / 1024
    );
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for (what, i) in [("full sync", 0), ("one endpoint change", 1)] {
        let goal = if i == 1 { " (goal <= 100 ms)" } else { "" };
        let (r, a) = kedge[i];
        println!(
            "{what}: render {:.1} ms + apply {:.1} ms = {:.1} ms{goal}; the nft command applies it in {:.1} ms (netlink/nft ratio {:.2})",
            ms(r),
            ms(a),
            ms(r + a),
            ms(peer[i].1),
            a.as_secs_f64() / peer[i].1.as_secs_f64().max(1e-9)
        );
    }
    println!(
        "throughput over loopback: direct {direct:.0} MB/s, through a ClusterIP {cluster_ip:.0} MB/s, ratio {:.3}",
        cluster_ip / direct
    );
    Ok(())
}

/// Median (render, apply) times of the full sync and of one endpoint change, with `apply`,
/// from an empty namespace each time.
fn measure(
    apply: &dyn Fn(&str) -> std::io::Result<()>,
    nft: &NftCommand,
    ports: &[ServicePort],
    iterations: usize,
) -> Result<[(Duration, Duration); 2]> {
    let mut ports = ports.to_vec();
    let (mut full_render, mut full_apply) = (Vec::new(), Vec::new());
    let (mut one_render, mut one_apply) = (Vec::new(), Vec::new());
    for i in 0..iterations {
        // From an empty namespace: the first sync after start.
        nft.run(&["-f", "-"], "flush ruleset\n")?;
        let mut applied = None;
        let (r, a) = sync(apply, &ports, &mut applied)?;
        full_render.push(r);
        full_apply.push(a);
        // One endpoint of one Service replaced.
        let changed = (i * 7919) % ports.len().max(1);
        if let Some(endpoint) = ports.get_mut(changed).and_then(|p| p.endpoints.first_mut()) {
            endpoint.ip = Ipv4Addr::from(u32::from(endpoint.ip) ^ 0x0001_0000);
        }
        let (r, a) = sync(apply, &ports, &mut applied)?;
        one_render.push(r);
        one_apply.push(a);
    }
    Ok([
        (median(full_render), median(full_apply)),
        (median(one_render), median(one_apply)),
    ])
}

/// The data path's cost in the namespace: TCP throughput to 127.0.0.2:8080 directly and
/// through a ClusterIP (10.43.0.10:80, DNAT to it in the output hook, masquerade), in MB/s.
fn throughput(nft: &NftCommand) -> Result<(f64, f64)> {
    for args in [
        &["link", "set", "lo", "up"][..],
        &[
            "link", "add", "kbench0", "type", "veth", "peer", "name", "kbench1",
        ],
        &["addr", "add", "192.168.255.1/32", "dev", "kbench0"],
        // Loopback's MTU, so that the route the ClusterIP is first looked up by does not
        // set a smaller segment size than the direct path gets.
        &["link", "set", "kbench0", "mtu", "65535", "up"],
        &["route", "add", "10.43.0.0/16", "dev", "kbench0"],
    ] {
        let status = std::process::Command::new("ip").args(args).status()?;
        if !status.success() {
            return Err(format!("ip {} failed", args.join(" ")).into());
        }
    }
    let port = ServicePort {
        endpoints: vec![Endpoint {
            ip: Ipv4Addr::new(127, 0, 0, 2),
            port: 8080,
            local: true,
            ready: true,
            serving: true,
            terminating: false,
        }],
        node_port: None,
        ..service_ports(1, 0).remove(0)
    };
    nft.run(&["-f", "-"], "flush ruleset\n")?;
    nft.run(&["-f", "-"], &render(&[port]))?;
    let listener = std::net::TcpListener::bind("127.0.0.2:8080")?;
    std::thread::spawn(move || sink(&listener));
    // Interleaved, best of three each.
    let (mut direct, mut cluster_ip) = (0f64, 0f64);
    for _ in 0..3 {
        direct = direct.max(send(SocketAddr::from(([127, 0, 0, 2], 8080)), 2 << 30)?);
        cluster_ip = cluster_ip.max(send(SocketAddr::from(([10, 43, 0, 10], 80)), 2 << 30)?);
    }
    Ok((direct, cluster_ip))
}

/// Reads every connection `listener` accepts until its end.
fn sink(listener: &std::net::TcpListener) {
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let mut stream = stream;
            let mut buffer = vec![0u8; 1 << 16];
            while matches!(std::io::Read::read(&mut stream, &mut buffer), Ok(n) if n > 0) {}
        });
    }
}

/// Sends `total` bytes over one connection; MB/s.
fn send(address: SocketAddr, total: usize) -> Result<f64> {
    let mut stream = std::net::TcpStream::connect(address)?;
    let buffer = vec![7u8; 1 << 16];
    let started = Instant::now();
    let mut sent = 0;
    while sent < total {
        std::io::Write::write_all(&mut stream, &buffer)?;
        sent += buffer.len();
    }
    Ok(sent as f64 / started.elapsed().as_secs_f64() / 1e6)
}

/// Connections opened and closed one after the other for `time`; per second.
fn connections(address: SocketAddr, time: Duration) -> Result<f64> {
    let started = Instant::now();
    let mut count = 0u32;
    while started.elapsed() < time {
        drop(std::net::TcpStream::connect(address)?);
        count += 1;
    }
    Ok(f64::from(count) / started.elapsed().as_secs_f64())
}

/// From a client pod to a sink pod: connections/s and throughput directly and through the
/// sink's ClusterIP, best of three interleaved runs each.
fn between_pods(direct: SocketAddr, cluster_ip: SocketAddr) -> Result<()> {
    let (mut direct_cps, mut cluster_ip_cps) = (0f64, 0f64);
    let (mut direct_mbs, mut cluster_ip_mbs) = (0f64, 0f64);
    for _ in 0..3 {
        direct_cps = direct_cps.max(connections(direct, Duration::from_secs(1))?);
        cluster_ip_cps = cluster_ip_cps.max(connections(cluster_ip, Duration::from_secs(1))?);
        direct_mbs = direct_mbs.max(send(direct, 1 << 30)?);
        cluster_ip_mbs = cluster_ip_mbs.max(send(cluster_ip, 1 << 30)?);
    }
    println!(
        "pod to pod: TCP connections/s direct {direct_cps:.0}, through a ClusterIP {cluster_ip_cps:.0}"
    );
    println!(
        "pod to pod: throughput direct {direct_mbs:.0} MB/s, through a ClusterIP {cluster_ip_mbs:.0} MB/s, ratio {:.3}",
        cluster_ip_mbs / direct_mbs
    );
    Ok(())
}
