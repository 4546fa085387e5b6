//! The datastore contract, run against every implementation of [`Store`].

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;

use super::memory::MemoryStore;
use super::sqlite::SqliteStore;
use super::{
    Error, Event, EventKind, INITIAL_REVISION, KeyValue, ListRequest, Revision, Store, WatchStream,
};

type DynStore = Arc<dyn Store>;

fn v(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

async fn next_event(stream: &mut WatchStream) -> Event {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("a watch event within 10 s")
        .expect("the watch stream to go on")
        .expect("an event, not an error")
}

async fn take_events(stream: &mut WatchStream, n: usize) -> Vec<Event> {
    let mut events = Vec::with_capacity(n);
    for _ in 0..n {
        events.push(next_event(stream).await);
    }
    events
}

async fn assert_quiet(stream: &mut WatchStream) {
    let extra = tokio::time::timeout(Duration::from_millis(200), stream.next()).await;
    assert!(extra.is_err(), "unexpected watch item: {extra:?}");
}

async fn list_all(store: &DynStore, prefix: &str, revision: Option<Revision>) -> Vec<KeyValue> {
    store
        .list(&ListRequest {
            prefix: prefix.into(),
            revision,
            ..Default::default()
        })
        .await
        .unwrap()
        .kvs
}

fn keys(kvs: &[KeyValue]) -> Vec<&str> {
    kvs.iter().map(|kv| kv.key.as_str()).collect()
}

async fn empty_store(store: DynStore) {
    assert_eq!(store.current_revision().await.unwrap(), INITIAL_REVISION);
    assert_eq!(store.compacted_revision().await.unwrap(), 0);
    assert_eq!(store.get("/a").await.unwrap(), None);
    let page = store.list(&ListRequest::prefix("/")).await.unwrap();
    assert!(page.kvs.is_empty());
    assert_eq!(
        (page.count, page.more, page.revision),
        (0, false, INITIAL_REVISION)
    );
}

async fn create_and_get(store: DynStore) {
    let kv = store.create("/a", v("one")).await.unwrap();
    assert_eq!(kv.mod_revision, INITIAL_REVISION + 1);
    assert_eq!(kv.create_revision, kv.mod_revision);
    assert_eq!(store.get("/a").await.unwrap(), Some(kv.clone()));
    match store.create("/a", v("two")).await {
        Err(Error::AlreadyExists { key, current }) => {
            assert_eq!(key, "/a");
            assert_eq!(current, kv);
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    // A failed write takes no revision.
    assert_eq!(store.current_revision().await.unwrap(), kv.mod_revision);
    let b = store.create("/b", v("")).await.unwrap();
    assert_eq!(b.mod_revision, kv.mod_revision + 1);
    assert_eq!(store.get("/b").await.unwrap().unwrap().value, v(""));
}

async fn update_is_compare_and_swap(store: DynStore) {
    let created = store.create("/k", v("1")).await.unwrap();
    let updated = store
        .update("/k", v("2"), created.mod_revision)
        .await
        .unwrap();
    assert_eq!(updated.create_revision, created.create_revision);
    assert!(updated.mod_revision > created.mod_revision);
    match store.update("/k", v("3"), created.mod_revision).await {
        Err(Error::Conflict {
            expected, current, ..
        }) => {
            assert_eq!(expected, created.mod_revision);
            assert_eq!(current, updated);
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert!(matches!(
        store.update("/missing", v("x"), 2).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(store.get("/k").await.unwrap().unwrap().value, v("2"));
}

async fn delete_is_compare_and_swap(store: DynStore) {
    let created = store.create("/k", v("1")).await.unwrap();
    assert!(matches!(
        store.delete("/k", Some(created.mod_revision - 1)).await,
        Err(Error::Conflict { .. })
    ));
    let deleted = store
        .delete("/k", Some(created.mod_revision))
        .await
        .unwrap();
    assert_eq!(deleted.value, v("1"));
    assert_eq!(deleted.mod_revision, created.mod_revision + 1);
    assert_eq!(store.get("/k").await.unwrap(), None);
    assert!(matches!(
        store.delete("/k", None).await,
        Err(Error::NotFound { .. })
    ));
    // A new incarnation gets a new create revision.
    let again = store.create("/k", v("2")).await.unwrap();
    assert_eq!(again.create_revision, again.mod_revision);
    assert!(again.create_revision > deleted.mod_revision);
    store.delete("/k", None).await.unwrap();
    assert_eq!(store.get("/k").await.unwrap(), None);
}

async fn list_prefix_and_pages(store: DynStore) {
    for key in ["/r/b/2", "/r/a", "/r/b/1", "/rx", "/q", "/r/c"] {
        store.create(key, v(key)).await.unwrap();
    }
    let all = list_all(&store, "/r/", None).await;
    assert_eq!(keys(&all), ["/r/a", "/r/b/1", "/r/b/2", "/r/c"]);
    assert!(all.iter().all(|kv| kv.value == v(&kv.key)));
    assert_eq!(
        keys(&list_all(&store, "/r/b/", None).await),
        ["/r/b/1", "/r/b/2"]
    );
    assert_eq!(list_all(&store, "", None).await.len(), 6);

    // Pages of two, read at the first page's revision while writes go on.
    let first = store
        .list(&ListRequest {
            prefix: "/r/".into(),
            limit: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(keys(&first.kvs), ["/r/a", "/r/b/1"]);
    assert_eq!((first.count, first.more), (4, true));
    store.create("/r/b/15", v("late")).await.unwrap();
    store.delete("/r/c", None).await.unwrap();
    let second = store
        .list(&ListRequest {
            prefix: "/r/".into(),
            limit: Some(2),
            start_after: Some("/r/b/1".into()),
            revision: Some(first.revision),
        })
        .await
        .unwrap();
    assert_eq!(keys(&second.kvs), ["/r/b/2", "/r/c"]);
    assert_eq!((second.count, second.more), (2, false));
    assert_eq!(second.revision, first.revision);
    // The current state has the late key and not the deleted one.
    assert_eq!(
        keys(&list_all(&store, "/r/", None).await),
        ["/r/a", "/r/b/1", "/r/b/15", "/r/b/2"]
    );
}

async fn list_at_old_revision(store: DynStore) {
    let a1 = store.create("/o/a", v("a1")).await.unwrap();
    store.create("/o/b", v("b1")).await.unwrap();
    let at = store.current_revision().await.unwrap();
    store
        .update("/o/a", v("a2"), a1.mod_revision)
        .await
        .unwrap();
    store.delete("/o/b", None).await.unwrap();
    store.create("/o/c", v("c1")).await.unwrap();
    let then = list_all(&store, "/o/", Some(at)).await;
    assert_eq!(keys(&then), ["/o/a", "/o/b"]);
    assert_eq!(then[0].value, v("a1"));
    let now = list_all(&store, "/o/", None).await;
    assert_eq!(keys(&now), ["/o/a", "/o/c"]);
    assert_eq!(now[0].value, v("a2"));
    let current = store.current_revision().await.unwrap();
    assert!(matches!(
        store
            .list(&ListRequest {
                prefix: "/o/".into(),
                revision: Some(current + 1),
                ..Default::default()
            })
            .await,
        Err(Error::FutureRevision { .. })
    ));
}

async fn watch_follows_live_writes(store: DynStore) {
    let start = store.current_revision().await.unwrap();
    let mut watch = store.watch("/w/", start).await.unwrap();
    let a = store.create("/w/a", v("1")).await.unwrap();
    store.create("/other", v("x")).await.unwrap();
    let a2 = store.update("/w/a", v("2"), a.mod_revision).await.unwrap();
    let gone = store.delete("/w/a", None).await.unwrap();
    let events = take_events(&mut watch, 3).await;
    assert_eq!(events[0].kind, EventKind::Create);
    assert_eq!(events[0].kv, a);
    assert_eq!(events[0].prev, None);
    assert_eq!(events[1].kind, EventKind::Update);
    assert_eq!(events[1].kv, a2);
    assert_eq!(events[1].prev.as_ref(), Some(&a));
    assert_eq!(events[2].kind, EventKind::Delete);
    assert_eq!(events[2].kv, gone);
    assert_eq!(events[2].kv.value, v("2"));
    assert_eq!(events[2].prev.as_ref(), Some(&a2));
    assert_quiet(&mut watch).await;
}

/// A watch from an old revision replays exactly the history after it, then goes on live.
async fn watch_replays_history(store: DynStore) {
    let mut expected = Vec::new();
    let before = store.create("/h/before", v("0")).await.unwrap();
    let start = before.mod_revision;
    let mut live = store.watch("/h/", start).await.unwrap();
    let x = store.create("/h/x", v("1")).await.unwrap();
    expected.push((EventKind::Create, x.clone()));
    let x2 = store.update("/h/x", v("2"), x.mod_revision).await.unwrap();
    expected.push((EventKind::Update, x2.clone()));
    store.create("/elsewhere", v("")).await.unwrap();
    let y = store.create("/h/y", v("3")).await.unwrap();
    expected.push((EventKind::Create, y));
    let gone = store.delete("/h/x", Some(x2.mod_revision)).await.unwrap();
    expected.push((EventKind::Delete, gone));
    let b2 = store.delete("/h/before", None).await.unwrap();
    expected.push((EventKind::Delete, b2));

    // A watch that starts after all of it replays the same history.
    let mut replay = store.watch("/h/", start).await.unwrap();
    for stream in [&mut live, &mut replay] {
        let events = take_events(stream, expected.len()).await;
        let got: Vec<_> = events.into_iter().map(|e| (e.kind, e.kv)).collect();
        assert_eq!(got, expected);
    }
    let late = store.create("/h/z", v("4")).await.unwrap();
    for stream in [&mut live, &mut replay] {
        assert_eq!(next_event(stream).await.kv, late);
        assert_quiet(stream).await;
    }
    // Starting in the middle replays only what came after.
    let mut middle = store.watch("/h/", x2.mod_revision).await.unwrap();
    let rest = take_events(&mut middle, 4).await;
    assert_eq!(rest[0].kv.key, "/h/y");
    assert_eq!(rest[3].kv, late);
    assert_quiet(&mut middle).await;
}

/// A consumer that stops reading while many writes happen still gets every event, in order.
async fn slow_watcher_loses_nothing(store: DynStore) {
    let start = store.current_revision().await.unwrap();
    let mut watch = store.watch("/s/", start).await.unwrap();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..1500 {
                    store
                        .create(&format!("/s/{w}/{i:05}"), v("x"))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let events = take_events(&mut watch, 6000).await;
    let mut last = start;
    for event in &events {
        assert!(event.revision() > last, "out of order or duplicated");
        last = event.revision();
    }
    assert_quiet(&mut watch).await;
}

async fn concurrent_writers_get_distinct_revisions(store: DynStore) {
    let start = store.current_revision().await.unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut revs = Vec::new();
                for i in 0..50 {
                    let key = format!("/c/{w}/{i}");
                    let kv = store.create(&key, v("1")).await.unwrap();
                    let kv = store.update(&key, v("2"), kv.mod_revision).await.unwrap();
                    revs.push(kv.mod_revision);
                }
                revs
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 16 * 50);
    assert_eq!(store.current_revision().await.unwrap(), start + 16 * 50 * 2);
    assert_eq!(list_all(&store, "/c/", None).await.len(), 16 * 50);
}

async fn compaction_forgets_old_history(store: DynStore) {
    let a = store.create("/p/a", v("1")).await.unwrap();
    let b = store.create("/p/b", v("1")).await.unwrap();
    let a2 = store.update("/p/a", v("2"), a.mod_revision).await.unwrap();
    store.delete("/p/b", None).await.unwrap();
    let keep = store.current_revision().await.unwrap();
    let c = store.create("/p/c", v("1")).await.unwrap();
    store.update("/p/a", v("3"), a2.mod_revision).await.unwrap();

    store.compact(keep).await.unwrap();
    assert_eq!(store.compacted_revision().await.unwrap(), keep);
    // Compacting to an older revision again is a no-op; to a future one an error.
    store.compact(b.mod_revision).await.unwrap();
    assert_eq!(store.compacted_revision().await.unwrap(), keep);
    let current = store.current_revision().await.unwrap();
    assert!(matches!(
        store.compact(current + 1).await,
        Err(Error::FutureRevision { .. })
    ));

    let request = |revision| ListRequest {
        prefix: "/p/".into(),
        revision: Some(revision),
        ..Default::default()
    };
    assert!(matches!(
        store.list(&request(keep - 1)).await,
        Err(Error::Compacted { .. })
    ));
    let at_keep = store.list(&request(keep)).await.unwrap().kvs;
    assert_eq!(keys(&at_keep), ["/p/a"]);
    assert_eq!(at_keep[0].value, v("2"));
    assert!(matches!(
        store.watch("/p/", keep - 1).await,
        Err(Error::Compacted { .. })
    ));
    let mut watch = store.watch("/p/", keep).await.unwrap();
    let events = take_events(&mut watch, 2).await;
    assert_eq!(events[0].kv, c);
    assert_eq!(events[1].prev.as_ref().map(|p| &p.value), Some(&v("2")));
    // Let background compaction run, then check the results are unchanged.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        keys(&store.list(&request(keep)).await.unwrap().kvs),
        ["/p/a"]
    );
    let now = list_all(&store, "/p/", None).await;
    assert_eq!(keys(&now), ["/p/a", "/p/c"]);
    assert_eq!(now[0].value, v("3"));
    assert_eq!(store.get("/p/b").await.unwrap(), None);
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(std::sync::Arc::new(super::MemoryStore::new())).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = super::SqliteStore::open(&dir.path().join("state.db")).unwrap();
                    super::$name(std::sync::Arc::new(store)).await;
                }
            )*
        }
    };
}

contract!(
    empty_store,
    create_and_get,
    update_is_compare_and_swap,
    delete_is_compare_and_swap,
    list_prefix_and_pages,
    list_at_old_revision,
    watch_follows_live_writes,
    watch_replays_history,
    slow_watcher_loses_nothing,
    concurrent_writers_get_distinct_revisions,
    compaction_forgets_old_history,
);
