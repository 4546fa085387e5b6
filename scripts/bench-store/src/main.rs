//! Runs one datastore workload against kedge's SQLite store and against etcd, and prints
//! writes/s, latency percentiles, list time, bytes written to disk, and the ratio.
//!
//! Workload (the same for both): `writers` concurrent tasks; each creates `count / writers`
//! keys with 1 KiB values (create = "only if absent"), then updates each of them once as a
//! compare-and-swap on its modification revision — the two writes the Kubernetes API server
//! makes. Then the whole prefix (all `count` keys) is listed `lists` times.
//!
//! kedge is driven in-process through its `Store` trait, which is how its API server uses it;
//! etcd is driven over gRPC on loopback, which is how kube-apiserver uses etcd.
//!
//! Usage: bench-store --kedge-dir DIR --etcd URL --etcd-pid PID [--count N] [--writers W] [--lists L]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use etcd_client::{Client, Compare, CompareOp, GetOptions, Txn, TxnOp};
use kedge::store::sqlite::SqliteStore;
use kedge::store::{ListRequest, Store};

struct Args {
    kedge_dir: String,
    etcd: String,
    etcd_pid: u32,
    count: usize,
    writers: usize,
    lists: usize,
    value_size: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        kedge_dir: String::new(),
        etcd: String::new(),
        etcd_pid: 0,
        count: 10_000,
        writers: 16,
        lists: 20,
        value_size: 1024,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--kedge-dir" => args.kedge_dir = value,
            "--etcd" => args.etcd = value,
            "--etcd-pid" => args.etcd_pid = value.parse().expect("--etcd-pid takes a pid"),
            "--count" => args.count = value.parse().expect("--count takes a number"),
            "--writers" => args.writers = value.parse().expect("--writers takes a number"),
            "--lists" => args.lists = value.parse().expect("--lists takes a number"),
            "--value-size" => args.value_size = value.parse().expect("--value-size takes bytes"),
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(
        !args.kedge_dir.is_empty() && !args.etcd.is_empty(),
        "need --kedge-dir and --etcd"
    );
    args
}

/// What one store did under the workload.
struct Report {
    name: &'static str,
    writes: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    list_times: Vec<Duration>,
    listed: usize,
    disk_bytes: u64,
}

impl Report {
    fn writes_per_second(&self) -> f64 {
        self.writes as f64 / self.elapsed.as_secs_f64()
    }

    fn print(&mut self) {
        self.latencies.sort();
        self.list_times.sort();
        println!(
            "{:<6} writes: {:>6} in {:>7.3} s = {:>8.0} writes/s   latency p50 {:>7.2} ms  p99 {:>7.2} ms   list of {} keys: p50 {:>6.1} ms  p99 {:>6.1} ms   disk written {:.1} MiB ({:.0} B/write)",
            self.name,
            self.writes,
            self.elapsed.as_secs_f64(),
            self.writes_per_second(),
            ms(percentile(&self.latencies, 0.50)),
            ms(percentile(&self.latencies, 0.99)),
            self.listed,
            ms(percentile(&self.list_times, 0.50)),
            ms(percentile(&self.list_times, 0.99)),
            self.disk_bytes as f64 / 1048576.0,
            self.disk_bytes as f64 / self.writes as f64,
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Bytes a process has caused to be written to storage (`/proc/<pid>/io` write_bytes).
fn disk_written(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .ok()
        .and_then(|io| {
            io.lines()
                .find_map(|l| l.strip_prefix("write_bytes: "))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

fn key(writer: usize, i: usize) -> String {
    format!("/registry/bench/w{writer:02}-{i:06}")
}

async fn bench_kedge(args: &Args) -> Report {
    let path = std::path::Path::new(&args.kedge_dir).join("server/db/state.db");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).expect("open kedge store"));
    let value = Bytes::from(vec![b'x'; args.value_size]);
    let per_writer = args.count / args.writers;
    let disk_before = disk_written("self");
    let start = Instant::now();
    let tasks: Vec<_> = (0..args.writers)
        .map(|w| {
            let store = store.clone();
            let value = value.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_writer * 2);
                let mut revisions = Vec::with_capacity(per_writer);
                for i in 0..per_writer {
                    let t = Instant::now();
                    let kv = store
                        .create(&key(w, i), value.clone())
                        .await
                        .expect("create");
                    latencies.push(t.elapsed());
                    revisions.push(kv.mod_revision);
                }
                for (i, rev) in revisions.into_iter().enumerate() {
                    let t = Instant::now();
                    store
                        .update(&key(w, i), value.clone(), rev)
                        .await
                        .expect("update");
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = start.elapsed();
    let disk_bytes = disk_written("self") - disk_before;
    let mut list_times = Vec::new();
    let mut listed = 0;
    for _ in 0..args.lists {
        let t = Instant::now();
        let page = store
            .list(&ListRequest::prefix("/registry/bench/"))
            .await
            .expect("list");
        list_times.push(t.elapsed());
        listed = page.kvs.len();
    }
    Report {
        name: "kedge",
        writes: latencies.len(),
        elapsed,
        latencies,
        list_times,
        listed,
        disk_bytes,
    }
}

async fn bench_etcd(args: &Args) -> Report {
    let client = Client::connect([args.etcd.as_str()], None)
        .await
        .expect("connect to etcd");
    let value = vec![b'x'; args.value_size];
    let per_writer = args.count / args.writers;
    let pid = args.etcd_pid.to_string();
    let disk_before = disk_written(&pid);
    let start = Instant::now();
    let tasks: Vec<_> = (0..args.writers)
        .map(|w| {
            let mut kv = client.kv_client();
            let value = value.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_writer * 2);
                let mut revisions = Vec::with_capacity(per_writer);
                for i in 0..per_writer {
                    let k = key(w, i);
                    let t = Instant::now();
                    // Create only if absent, as kube-apiserver does.
                    let txn = Txn::new()
                        .when([Compare::mod_revision(k.as_str(), CompareOp::Equal, 0)])
                        .and_then([TxnOp::put(k.as_str(), value.clone(), None)]);
                    let resp = kv.txn(txn).await.expect("etcd create");
                    latencies.push(t.elapsed());
                    assert!(resp.succeeded(), "etcd create of {k} found the key");
                    revisions.push(resp.header().expect("header").revision());
                }
                for (i, rev) in revisions.into_iter().enumerate() {
                    let k = key(w, i);
                    let t = Instant::now();
                    let txn = Txn::new()
                        .when([Compare::mod_revision(k.as_str(), CompareOp::Equal, rev)])
                        .and_then([TxnOp::put(k.as_str(), value.clone(), None)]);
                    let resp = kv.txn(txn).await.expect("etcd update");
                    latencies.push(t.elapsed());
                    assert!(resp.succeeded(), "etcd update of {k} conflicted");
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = start.elapsed();
    let disk_bytes = disk_written(&pid) - disk_before;
    // kube-apiserver raises gRPC's 4 MiB receive limit the same way.
    let mut kv = client.kv_client().max_decoding_message_size(usize::MAX);
    let mut list_times = Vec::new();
    let mut listed = 0;
    for _ in 0..args.lists {
        let t = Instant::now();
        let resp = kv
            .get("/registry/bench/", Some(GetOptions::new().with_prefix()))
            .await
            .expect("etcd list");
        list_times.push(t.elapsed());
        listed = resp.kvs().len();
    }
    Report {
        name: "etcd",
        writes: latencies.len(),
        elapsed,
        latencies,
        list_times,
        listed,
        disk_bytes,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = parse_args();
    println!(
        "workload: {} writers, {} creates + {} compare-and-swap updates of {}-byte values, then {} lists of the prefix",
        args.writers, args.count, args.count, args.value_size, args.lists
    );
    println!(
        "kedge: embedded SQLite store, in-process (as its API server calls it), WAL, synchronous=FULL"
    );
    println!(
        "etcd:  etcd-server {} over gRPC on loopback (as kube-apiserver calls it), default fsync",
        etcd_version()
    );
    let mut etcd = bench_etcd(&args).await;
    let mut kedge = bench_kedge(&args).await;
    etcd.print();
    kedge.print();
    let ratio = kedge.writes_per_second() / etcd.writes_per_second();
    let list_ratio =
        ms(percentile(&etcd.list_times, 0.5)) / ms(percentile(&kedge.list_times, 0.5)).max(1e-9);
    println!(
        "list speed-up (etcd p50 / kedge p50): {list_ratio:.2}; disk bytes per write, kedge / etcd: {:.2}",
        (kedge.disk_bytes as f64 / kedge.writes as f64)
            / (etcd.disk_bytes as f64 / etcd.writes as f64).max(1e-9)
    );
    println!("ratio {ratio:.2} (kedge writes/s / etcd writes/s; goal >= 2)");
}

fn etcd_version() -> String {
    std::process::Command::new("etcd")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| {
            s.lines()
                .next()
                .map(|l| l.trim_start_matches("etcd Version: ").to_string())
        })
        .unwrap_or_else(|| "?".into())
}
