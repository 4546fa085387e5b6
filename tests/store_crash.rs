//! Kills a process that is writing to the SQLite datastore with SIGKILL at random moments and
//! checks that every write it had acknowledged survived and that the database opens cleanly.
//!
//! The test binary re-runs itself as the writer (selected by an environment variable). The
//! writer prints one line per acknowledged write, after the acknowledgement, so every line the
//! parent reads is a write the store promised was durable.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kedge::store::sqlite::SqliteStore;
use kedge::store::{Error, ListRequest, Store};

const WRITER_ENV: &str = "KEDGE_TEST_CRASH_WRITER_DB";
const ROUNDS: usize = 24;
const WRITERS: usize = 16;

#[test]
fn acknowledged_writes_survive_sigkill() {
    if let Ok(db) = std::env::var(WRITER_ENV) {
        return writer(Path::new(&db));
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server/db/state.db");
    // Creates: key -> value. Updates of per-writer counters: key -> (revision, value).
    let mut created: HashMap<String, String> = HashMap::new();
    let mut counters: HashMap<String, (i64, String)> = HashMap::new();
    let mut max_acked = 0i64;
    for round in 0..ROUNDS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "acknowledged_writes_survive_sigkill",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(WRITER_ENV, &db)
            .env("KEDGE_TEST_CRASH_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (first_ack, writing) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stdout).split(b'\n') {
                let Ok(line) = line else { break };
                if line.starts_with(b"ack ") {
                    let _ = first_ack.send(());
                }
                lines.push(String::from_utf8_lossy(&line).into_owned());
            }
            lines
        });
        // Kill at a random moment once the writer is writing.
        writing
            .recv_timeout(Duration::from_secs(30))
            .expect("the writer starts writing");
        std::thread::sleep(Duration::from_millis(fastrand::u64(20..400)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let lines = reader.join().unwrap();
        let mut acked = 0;
        for line in lines {
            // A line cut short by the kill has fewer fields and is ignored.
            let fields: Vec<&str> = line.split(' ').collect();
            if fields.len() != 5 || fields[0] != "ack" || fields[4] != "end" {
                continue;
            }
            let rev: i64 = fields[2].parse().unwrap();
            max_acked = max_acked.max(rev);
            acked += 1;
            if fields[1].starts_with("/counter/") {
                let entry = counters
                    .entry(fields[1].to_string())
                    .or_insert((0, String::new()));
                if rev > entry.0 {
                    *entry = (rev, fields[3].to_string());
                }
            } else {
                created.insert(fields[1].to_string(), fields[3].to_string());
            }
        }
        assert!(
            acked > 0,
            "the writer acknowledged nothing in round {round}"
        );
        verify(&db, round, &created, &counters, max_acked);
    }
    assert!(
        created.len() > 100,
        "too few writes were exercised: {}",
        created.len()
    );
}

/// Opens the database after a kill and checks every acknowledged write.
fn verify(
    db: &Path,
    round: usize,
    created: &HashMap<String, String>,
    counters: &HashMap<String, (i64, String)>,
    max_acked: i64,
) {
    assert_eq!(integrity_check(db), "ok", "integrity check failed");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = SqliteStore::open(db).expect("the database opens after a kill");
        assert!(store.current_revision().await.unwrap() >= max_acked);
        let all = store.list(&ListRequest::prefix("/")).await.unwrap();
        let values: HashMap<&str, &Bytes> = all
            .kvs
            .iter()
            .map(|kv| (kv.key.as_str(), &kv.value))
            .collect();
        for (key, value) in created {
            assert_eq!(
                values.get(key.as_str()).map(|v| v.as_ref()),
                Some(value.as_bytes()),
                "acknowledged create of {key} was lost"
            );
        }
        for (key, (rev, value)) in counters {
            let kv = store
                .get(key)
                .await
                .unwrap()
                .expect("acknowledged counter lost");
            assert!(
                kv.mod_revision >= *rev,
                "{key} went back from {rev} to {}",
                kv.mod_revision
            );
            if kv.mod_revision == *rev {
                assert_eq!(kv.value.as_ref(), value.as_bytes());
            }
        }
        // The store keeps working: the next write gets a newer revision.
        let kv = store
            .create(&format!("/probe/{round}"), Bytes::new())
            .await
            .unwrap();
        assert!(kv.mod_revision > max_acked);
        drop(store);
    });
}

/// SQLite's own check of the database file.
fn integrity_check(db: &Path) -> String {
    let conn = rusqlite::Connection::open(db).expect("the database file opens");
    conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("integrity_check runs")
}

/// The writer: 16 tasks creating unique keys and updating a counter each, printing each
/// acknowledged write.
fn writer(db: &Path) {
    let round: usize = std::env::var("KEDGE_TEST_CRASH_ROUND")
        .unwrap()
        .parse()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(db).unwrap());
        let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
        let tasks: Vec<_> = (0..WRITERS)
            .map(|w| {
                let store = store.clone();
                let out = out.clone();
                tokio::spawn(async move {
                    let counter = format!("/counter/{w}");
                    for i in 0.. {
                        let key = format!("/data/{round}/{w}/{i}");
                        let value =
                            format!("v{round}-{w}-{i}-{}", "x".repeat(fastrand::usize(0..2048)));
                        let kv = store
                            .create(&key, Bytes::from(value.clone()))
                            .await
                            .unwrap();
                        ack(&out, &key, kv.mod_revision, &value);
                        let value = format!("c{round}-{i}");
                        let kv = match store.get(&counter).await.unwrap() {
                            None => store.create(&counter, Bytes::from(value.clone())).await,
                            Some(current) => {
                                store
                                    .update(
                                        &counter,
                                        Bytes::from(value.clone()),
                                        current.mod_revision,
                                    )
                                    .await
                            }
                        };
                        match kv {
                            Ok(kv) => ack(&out, &counter, kv.mod_revision, &value),
                            Err(Error::Conflict { .. } | Error::AlreadyExists { .. }) => {}
                            Err(error) => panic!("{error}"),
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
}

fn ack(out: &std::sync::Mutex<std::io::Stdout>, key: &str, rev: i64, value: &str) {
    let mut out = out.lock().unwrap();
    writeln!(out, "ack {key} {rev} {value} end").unwrap();
    out.flush().unwrap();
}
