//! Benchmark of the service proxy's rule sync (run by `scripts/bench-services.sh`, as root):
//! renders the table for `--services` Services × `--endpoints` endpoints and applies it with
//! `nft -f -` in a network namespace of its own (nothing on the host is touched, and the
//! namespace goes away with the process), then changes one endpoint among them and syncs
//! again, as the proxy does (a whole re-render, then one transaction with what changed).
//!
//! Prints, as medians over `--iterations` runs: render and apply time of the full sync, and
//! of a sync after one endpoint change; then TCP throughput in the namespace to 127.0.0.2
//! directly and through a ClusterIP DNAT'd to it, with `ratio R` (ClusterIP / direct).
//!
//! Usage: `bench_proxy [--services N] [--endpoints M] [--iterations I]`

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use kedge::agent::proxy::model::{Endpoint, Protocol, ServicePort};
use kedge::agent::proxy::nft::NftCommand;
use kedge::agent::proxy::rules::{DEFAULT_TABLE, Ruleset, Table};

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

/// Renders and applies (an update from `applied` if given); returns the table and the
/// (render, apply) times.
fn sync(
    nft: &NftCommand,
    ports: &[ServicePort],
    applied: Option<&Table>,
) -> Result<(Table, Duration, Duration)> {
    let started = Instant::now();
    let table = Ruleset {
        table: DEFAULT_TABLE,
        cluster_cidr: "10.42.0.0/16".parse().unwrap_or_default(),
        ports,
    }
    .build();
    let script = applied
        .and_then(|a| table.update_script(a))
        .unwrap_or_else(|| table.full_script());
    let rendered = started.elapsed();
    let started = Instant::now();
    nft.run(&["-f", "-"], &script)?;
    Ok((table, rendered, started.elapsed()))
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let services = arg(&args, "--services", 1000)?;
    let endpoints = arg(&args, "--endpoints", 10)?;
    let iterations = arg(&args, "--iterations", 5)?.max(1);
    // A network namespace of our own: the rules never reach the host's.
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("cannot create a network namespace (run as root): {e}"))?;
    let nft = NftCommand::default();
    let mut ports = service_ports(services, endpoints);
    let script_size = render(&ports).len();
    let (mut full_render, mut full_apply) = (Vec::new(), Vec::new());
    let (mut one_render, mut one_apply) = (Vec::new(), Vec::new());
    for i in 0..iterations {
        // From an empty namespace: the first sync after start.
        nft.run(&["-f", "-"], "flush ruleset\n")?;
        let (table, r, a) = sync(&nft, &ports, None)?;
        full_render.push(r);
        full_apply.push(a);
        // One endpoint of one Service replaced.
        let changed = (i * 7919) % ports.len().max(1);
        if let Some(endpoint) = ports.get_mut(changed).and_then(|p| p.endpoints.first_mut()) {
            endpoint.ip = Ipv4Addr::from(u32::from(endpoint.ip) ^ 0x0001_0000);
        }
        let (_, r, a) = sync(&nft, &ports, Some(&table))?;
        one_render.push(r);
        one_apply.push(a);
    }
    let (direct, cluster_ip) = throughput(&nft)?;
    println!(
        "service proxy sync: {services} Services x {endpoints} endpoints, script {} KiB, medians of {iterations}",
        script_size / 1024
    );
    let (r, a) = (median(full_render), median(full_apply));
    println!(
        "full sync: render {:.1} ms + apply {:.1} ms = {:.1} ms",
        r.as_secs_f64() * 1e3,
        a.as_secs_f64() * 1e3,
        (r + a).as_secs_f64() * 1e3
    );
    let (r, a) = (median(one_render), median(one_apply));
    println!(
        "one endpoint change: render {:.1} ms + apply {:.1} ms = {:.1} ms (goal <= 100 ms)",
        r.as_secs_f64() * 1e3,
        a.as_secs_f64() * 1e3,
        (r + a).as_secs_f64() * 1e3
    );
    println!(
        "throughput over loopback: direct {direct:.0} MB/s, through a ClusterIP {cluster_ip:.0} MB/s, ratio {:.3}",
        cluster_ip / direct
    );
    Ok(())
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
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buffer = vec![0u8; 1 << 16];
                while matches!(std::io::Read::read(&mut stream, &mut buffer), Ok(n) if n > 0) {}
            });
        }
    });
    let send = |address: (Ipv4Addr, u16)| -> Result<f64> {
        let mut stream = std::net::TcpStream::connect(address)?;
        let buffer = vec![7u8; 1 << 16];
        let total: usize = 2 << 30;
        let started = Instant::now();
        let mut sent = 0;
        while sent < total {
            std::io::Write::write_all(&mut stream, &buffer)?;
            sent += buffer.len();
        }
        Ok(sent as f64 / started.elapsed().as_secs_f64() / 1e6)
    };
    // Interleaved, best of three each.
    let (mut direct, mut cluster_ip) = (0f64, 0f64);
    for _ in 0..3 {
        direct = direct.max(send((Ipv4Addr::new(127, 0, 0, 2), 8080))?);
        cluster_ip = cluster_ip.max(send((Ipv4Addr::new(10, 43, 0, 10), 80))?);
    }
    Ok((direct, cluster_ip))
}
