//! The SQLite datastore across restarts and under churn.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use kedge::store::sqlite::SqliteStore;
use kedge::store::{EventKind, ListRequest, Store};

fn value(n: usize) -> Bytes {
    Bytes::from(vec![b'v'; n])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_and_history_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let store = SqliteStore::open(&db).unwrap();
    let a = store.create("/r/a", value(10)).await.unwrap();
    let start = a.mod_revision;
    let a2 = store
        .update("/r/a", value(20), a.mod_revision)
        .await
        .unwrap();
    store.create("/r/b", value(30)).await.unwrap();
    store.delete("/r/b", None).await.unwrap();
    let last = store.current_revision().await.unwrap();
    drop(store);

    let store = SqliteStore::open(&db).unwrap();
    assert_eq!(store.current_revision().await.unwrap(), last);
    assert_eq!(store.get("/r/a").await.unwrap(), Some(a2.clone()));
    // A watch from before the restart replays exactly what happened after its revision.
    let mut watch = store.watch("/r/", start).await.unwrap();
    let mut kinds = Vec::new();
    for _ in 0..3 {
        let event = tokio::time::timeout(Duration::from_secs(5), watch.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        kinds.push((event.kind, event.kv.key.clone(), event.kv.mod_revision));
    }
    assert_eq!(
        kinds,
        [
            (EventKind::Update, "/r/a".to_string(), a2.mod_revision),
            (EventKind::Create, "/r/b".to_string(), a2.mod_revision + 1),
            (EventKind::Delete, "/r/b".to_string(), last),
        ]
    );
    let next = store.create("/r/c", value(1)).await.unwrap();
    assert_eq!(next.mod_revision, last + 1);
}

#[tokio::test]
async fn a_second_process_cannot_open_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let _store = SqliteStore::open(&db).unwrap();
    let error = SqliteStore::open(&db)
        .err()
        .expect("second open must fail")
        .to_string();
    assert!(error.contains("in use by another process"), "{error}");
}

#[tokio::test]
async fn a_foreign_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    std::fs::write(
        &db,
        b"this is not a database, just some text that is long enough",
    )
    .unwrap();
    assert!(SqliteStore::open(&db).is_err());
}

/// Churn with periodic compaction keeps the database bounded: the space of compacted
/// history is reused and returned, so size tracks live data plus retained history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_bounds_the_database_under_churn() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let store = SqliteStore::open(&db).unwrap();
    const KEYS: usize = 100;
    const ROUNDS: usize = 30;
    const WRITES_PER_ROUND: usize = 2000;
    let mut revs = vec![0i64; KEYS];
    for (k, rev) in revs.iter_mut().enumerate() {
        *rev = store
            .create(&format!("/churn/{k}"), value(1024))
            .await
            .unwrap()
            .mod_revision;
    }
    let mut sizes = Vec::new();
    for round in 0..ROUNDS {
        // Sixteen concurrent writers, each owning the keys k with k % 16 == lane.
        let mut tasks = Vec::new();
        for lane in 0..16 {
            let store = store.clone();
            let mut current: std::collections::HashMap<usize, i64> =
                (lane..KEYS).step_by(16).map(|k| (k, revs[k])).collect();
            let mine: Vec<usize> = (0..WRITES_PER_ROUND)
                .map(|i| (round * WRITES_PER_ROUND + i) % KEYS)
                .filter(|k| k % 16 == lane)
                .collect();
            tasks.push(tokio::spawn(async move {
                for k in mine {
                    let kv = store
                        .update(&format!("/churn/{k}"), value(1024), current[&k])
                        .await
                        .unwrap();
                    current.insert(k, kv.mod_revision);
                }
                current
            }));
        }
        for task in tasks {
            for (k, rev) in task.await.unwrap() {
                revs[k] = rev;
            }
        }
        // Compact to the previous round's end, as the periodic compactor does.
        let current = store.current_revision().await.unwrap();
        store
            .compact(current - WRITES_PER_ROUND as i64)
            .await
            .unwrap();
        while store.compaction_pending().await.unwrap() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        sizes.push(store.disk_usage());
    }
    let live = store.list(&ListRequest::prefix("/churn/")).await.unwrap();
    assert_eq!(live.kvs.len(), KEYS);
    let written = (ROUNDS * WRITES_PER_ROUND * 1024) as u64;
    let peak = *sizes.iter().max().unwrap();
    let last = *sizes.last().unwrap();
    eprintln!("wrote {written} bytes of values; database sizes per round: {sizes:?}");
    // Without compaction the file would hold every version: ~60 MB here.
    assert!(
        last < written / 3,
        "database grew to {last} bytes after writing {written}"
    );
    // And it stops growing: the second half of the run does not exceed the first half's peak
    // by more than the write-ahead log's slack.
    let first_half_peak = *sizes[..ROUNDS / 2].iter().max().unwrap();
    assert!(
        peak <= first_half_peak + 4 * 1024 * 1024,
        "database kept growing: {sizes:?}"
    );
}

/// After a mass deletion, the next open gives the free space back to the file system.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_space_is_returned_at_open_after_a_mass_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let store = SqliteStore::open(&db).unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..1500 {
                    let key = format!("/mass/{w}/{i}");
                    store.create(&key, value(1024)).await.unwrap();
                    store.delete(&key, None).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    store
        .compact(store.current_revision().await.unwrap())
        .await
        .unwrap();
    while store.compaction_pending().await.unwrap() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(store);
    let before = std::fs::metadata(&db).unwrap().len();

    let store = SqliteStore::open(&db).unwrap();
    let after = std::fs::metadata(&db).unwrap().len();
    eprintln!("database file: {before} bytes before reopening, {after} after");
    assert!(before > 16 << 20, "the test wrote too little: {before}");
    assert!(
        after < 1 << 20,
        "free space was not returned: {after} bytes"
    );
    assert!(
        store
            .list(&ListRequest::prefix("/mass/"))
            .await
            .unwrap()
            .kvs
            .is_empty()
    );
}
