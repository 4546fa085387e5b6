//! Load generator for the cluster DNS (run by `scripts/bench-dns.sh`): several threads, each
//! with its own UDP socket and a window of queries in flight, ask one name for a fixed time
//! and record each answer's latency.
//!
//! Prints one line: `dns: queries/s Q p50 A ms p99 B ms answered N lost L` (a query without an
//! answer within 1 s counts as lost and is sent again).
//!
//! Usage: `bench_dns [--server 10.43.0.10:53] [--name kubernetes.default.svc.cluster.local.]
//! [--seconds 5] [--threads 2] [--window 64]`

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{name} needs a valid value").into()),
    }
}

/// The query with id 0, whose first two bytes are rewritten per send.
fn query(name: &str) -> Result<Vec<u8>> {
    let mut message = Message::query();
    message.metadata.id = 0;
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name)?, RecordType::A));
    Ok(message.to_vec()?)
}

struct Outcome {
    latencies: Vec<Duration>,
    lost: u64,
}

fn run_thread(
    server: SocketAddr,
    template: Vec<u8>,
    window: u16,
    until: Instant,
) -> Result<Outcome> {
    let socket = UdpSocket::bind("0.0.0.0:0")?;
    socket.connect(server)?;
    socket.set_read_timeout(Some(Duration::from_secs(1)))?;
    let mut sent: Vec<Option<Instant>> = vec![None; 65_536];
    let mut packet = template;
    let mut next_id: u16 = 0;
    let mut outcome = Outcome {
        latencies: Vec::with_capacity(1 << 20),
        lost: 0,
    };
    let mut send = |socket: &UdpSocket, sent: &mut Vec<Option<Instant>>| -> Result<()> {
        next_id = next_id.wrapping_add(1);
        packet[..2].copy_from_slice(&next_id.to_be_bytes());
        sent[usize::from(next_id)] = Some(Instant::now());
        socket.send(&packet)?;
        Ok(())
    };
    for _ in 0..window {
        send(&socket, &mut sent)?;
    }
    let mut buffer = [0u8; 1500];
    while Instant::now() < until {
        match socket.recv(&mut buffer) {
            Ok(n) if n >= 2 => {
                let id = u16::from_be_bytes([buffer[0], buffer[1]]);
                if let Some(at) = sent[usize::from(id)].take() {
                    outcome.latencies.push(at.elapsed());
                    send(&socket, &mut sent)?;
                }
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                // The whole window timed out: count it lost and start a fresh one.
                let pending = sent.iter_mut().filter_map(Option::take).count();
                outcome.lost += pending as u64;
                for _ in 0..window {
                    send(&socket, &mut sent)?;
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(outcome)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let server: SocketAddr = arg(&args, "--server", "10.43.0.10:53".parse()?)?;
    let name: String = arg(
        &args,
        "--name",
        "kubernetes.default.svc.cluster.local.".to_string(),
    )?;
    let seconds: u64 = arg(&args, "--seconds", 5)?;
    let threads: usize = arg(&args, "--threads", 2)?;
    let window: u16 = arg(&args, "--window", 64)?;
    let template = query(&name)?;

    // One answer first, so that a server that is not there fails fast and clearly.
    let probe = UdpSocket::bind("0.0.0.0:0")?;
    probe.set_read_timeout(Some(Duration::from_secs(2)))?;
    probe.send_to(&template, server)?;
    let mut buffer = [0u8; 1500];
    let n = probe
        .recv(&mut buffer)
        .map_err(|e| format!("no answer from {server}: {e}"))?;
    let answer = Message::from_vec(&buffer[..n])?;
    if answer.answers.is_empty() {
        return Err(format!(
            "{server} has no A record for {name} ({:?})",
            answer.metadata.response_code
        )
        .into());
    }

    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let template = template.clone();
            std::thread::spawn(move || run_thread(server, template, window, until))
        })
        .collect();
    let mut latencies = Vec::new();
    let mut lost = 0;
    for worker in workers {
        let outcome = worker.join().map_err(|_| "a load thread panicked")??;
        latencies.extend(outcome.latencies);
        lost += outcome.lost;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "dns: queries/s {:.0} p50 {:.3} ms p99 {:.3} ms answered {} lost {} ({threads} threads x {window} in flight, {name})",
        latencies.len() as f64 / elapsed,
        percentile(0.50),
        percentile(0.99),
        latencies.len(),
        lost
    );
    Ok(())
}
