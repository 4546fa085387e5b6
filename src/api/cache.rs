//! The watch cache: every object of the datastore, held in memory as ready-to-send JSON,
//! grouped in one bucket per storage prefix (`/registry/<group>/<plural>/`), with a window of
//! recent events per bucket so that watches can resume.
//!
//! It is filled by one list of the store at start and then follows one store watch; every
//! list, get and watch of the API is served from it. A read that must be consistent first
//! waits until the cache has applied everything the store had committed when the read began
//! (usually already true: the store publishes before it acknowledges). Objects are kept as
//! serialized JSON with their `resourceVersion` filled in, plus the labels and selectable
//! fields pre-extracted, which keeps memory low and lists fast.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, warn};

use super::registry::Registry;
use super::selector::{FieldSelector, LabelSelector, field_value};
use crate::store::{self, EventKind, KeyValue, ListRequest, Revision, Store};

/// Events kept per bucket at least, and at most.
const HISTORY_MIN: usize = 1000;
const HISTORY_MAX: usize = 100_000;
/// Events younger than this are kept even beyond `HISTORY_MIN`.
const HISTORY_WINDOW: Duration = Duration::from_secs(75);
/// Live events buffered per bucket for slow watchers before they must catch up.
const LIVE_CAPACITY: usize = 256;
/// How often idle history is trimmed.
const TRIM_INTERVAL: Duration = Duration::from_secs(30);
/// Keys read per page while filling the cache.
const FILL_PAGE: usize = 10_000;

/// One object as the cache holds it.
#[derive(Debug)]
pub struct CachedObject {
    pub key: String,
    pub namespace: Option<String>,
    pub name: String,
    pub uid: String,
    pub revision: Revision,
    /// The object as JSON, with `metadata.resourceVersion` set.
    pub json: Bytes,
    /// Labels, sorted by key (a vector: a one-label map would cost a whole tree node).
    pub labels: Vec<(String, String)>,
    /// Selectable field values besides `metadata.name` and `metadata.namespace`.
    pub fields: Vec<(String, String)>,
}

impl CachedObject {
    /// The object, parsed.
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| self.labels[i].1.as_str())
    }

    /// A selectable field's value ("" when absent).
    pub fn field(&self, path: &str) -> &str {
        match path {
            "metadata.name" => &self.name,
            "metadata.namespace" => self.namespace.as_deref().unwrap_or_default(),
            _ => self
                .fields
                .iter()
                .find(|(p, _)| p == path)
                .map_or("", |(_, v)| v.as_str()),
        }
    }

    fn matches(&self, filter: &Filter) -> bool {
        if let Some(ns) = &filter.namespace
            && self.namespace.as_deref() != Some(ns.as_str())
        {
            return false;
        }
        filter.labels.matches_with(|key| self.label(key))
            && filter.fields.matches_with(|path| self.field(path))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change of one object.
#[derive(Debug, Clone)]
pub struct CacheEvent {
    pub kind: EventType,
    /// The object after the change (for a delete: its last state, at the delete's revision).
    pub object: Arc<CachedObject>,
    /// The object before the change.
    pub prev: Option<Arc<CachedObject>>,
    pub revision: Revision,
}

/// Which objects a list or watch wants.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Filter {
    pub fn matches(&self, object: &CachedObject) -> bool {
        object.matches(self)
    }
}

struct Bucket {
    objects: BTreeMap<String, Arc<CachedObject>>,
    history: VecDeque<(Instant, Arc<CacheEvent>)>,
    /// Every event of this bucket after this revision is in `history`.
    history_start: Revision,
    live: broadcast::Sender<Arc<CacheEvent>>,
}

impl Bucket {
    fn new(history_start: Revision) -> Self {
        Bucket {
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            history_start,
            live: broadcast::channel(LIVE_CAPACITY).0,
        }
    }

    fn record(&mut self, event: Arc<CacheEvent>) {
        self.history.push_back((Instant::now(), event.clone()));
        self.trim();
        let _ = self.live.send(event);
    }

    /// Forgets events beyond the minimum that are older than the window; true if any.
    fn trim(&mut self) -> bool {
        let now = Instant::now();
        let before = self.history.len();
        while let Some((at, oldest)) = self.history.front() {
            let full = self.history.len() > HISTORY_MAX;
            let old = self.history.len() > HISTORY_MIN && now.duration_since(*at) > HISTORY_WINDOW;
            if !(full || old) {
                break;
            }
            self.history_start = oldest.revision;
            self.history.pop_front();
        }
        self.history.len() < before
    }
}

struct State {
    revision: Revision,
    buckets: HashMap<String, Bucket>,
}

/// The cache, shared by every request.
pub struct WatchCache {
    state: RwLock<State>,
    revision: watch::Sender<Revision>,
    registry: Arc<Registry>,
}

/// A list page read from the cache or the store.
pub struct Page {
    pub objects: Vec<Arc<CachedObject>>,
    pub revision: Revision,
    /// The last key returned, when more remain.
    pub continue_after: Option<String>,
    /// How many matching objects remain after this page (when known).
    pub remaining: Option<u64>,
}

/// The start of a watch: what to send first, then the live feed.
pub struct WatchStart {
    pub initial: Vec<Arc<CacheEvent>>,
    pub live: broadcast::Receiver<Arc<CacheEvent>>,
    /// The revision the initial events bring the watcher to.
    pub revision: Revision,
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("too old resource version: {requested} ({oldest})")]
    TooOld {
        requested: Revision,
        oldest: Revision,
    },
    #[error("the cache did not catch up with the datastore in time")]
    Stale,
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// Returns freed heap memory to the system. glibc keeps freed memory in its arenas until
/// asked; musl returns it by itself.
fn release_free_memory() {
    #[cfg(target_env = "gnu")]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: malloc_trim only walks glibc's own heap structures under its locks; it has
        // no preconditions on the caller.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// The bucket a key belongs to: its first three path segments (`/registry/apps/deployments/`).
pub fn bucket_of(key: &str) -> Option<&str> {
    let mut slashes = key.match_indices('/').map(|(i, _)| i);
    let end = slashes.nth(3)?;
    Some(&key[..=end])
}

/// Field paths that events.k8s.io/v1 selects on, read from the core/v1 shape events are
/// stored in.
const EVENT_FIELD_ALIASES: &[(&str, &str)] = &[
    ("regarding.kind", "involvedObject.kind"),
    ("regarding.namespace", "involvedObject.namespace"),
    ("regarding.name", "involvedObject.name"),
    ("regarding.uid", "involvedObject.uid"),
    ("regarding.apiVersion", "involvedObject.apiVersion"),
    (
        "regarding.resourceVersion",
        "involvedObject.resourceVersion",
    ),
    ("regarding.fieldPath", "involvedObject.fieldPath"),
    ("reportingController", "reportingComponent"),
];

impl WatchCache {
    pub fn new(registry: Arc<Registry>) -> Arc<Self> {
        Arc::new(WatchCache {
            state: RwLock::new(State {
                revision: 0,
                buckets: HashMap::new(),
            }),
            revision: watch::channel(0).0,
            registry,
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The revision everything in the cache is current to.
    pub fn revision(&self) -> Revision {
        *self.revision.borrow()
    }

    /// Builds the cached form of a stored object.
    pub fn object_from_store(&self, kv: &KeyValue) -> Option<Arc<CachedObject>> {
        self.build(&kv.key, &kv.value, kv.mod_revision)
    }

    fn build(&self, key: &str, value: &[u8], revision: Revision) -> Option<Arc<CachedObject>> {
        let mut object: Value = match serde_json::from_slice(value) {
            Ok(v) => v,
            Err(e) => {
                error!(key, error = %e, "stored object is not JSON; skipped");
                return None;
            }
        };
        let meta = object.get_mut("metadata")?.as_object_mut()?;
        meta.insert(
            "resourceVersion".into(),
            Value::String(revision.to_string()),
        );
        let name = meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let uid = meta
            .get("uid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let namespace = meta
            .get("namespace")
            .and_then(Value::as_str)
            .map(str::to_string);
        let labels = meta
            .get("labels")
            .and_then(Value::as_object)
            .map(|m| {
                // serde_json maps iterate in key order, so the vector is sorted.
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let mut fields: Vec<(String, String)> = Vec::new();
        let bucket = bucket_of(key).unwrap_or_default();
        for info in self
            .registry
            .all()
            .iter()
            .filter(|i| i.storage_prefix == bucket)
        {
            for path in &info.selectable_fields {
                if fields.iter().any(|(p, _)| p == path)
                    || path == "metadata.name"
                    || path == "metadata.namespace"
                {
                    continue;
                }
                let source = EVENT_FIELD_ALIASES
                    .iter()
                    .find(|(alias, _)| alias == path && bucket == "/registry/core/events/")
                    .map_or(path.as_str(), |(_, real)| real);
                fields.push((path.clone(), field_value(&object, source)));
            }
        }
        let mut json = serde_json::to_vec(&object).ok()?;
        // The serializer grows its buffer by doubling; kept objects keep only what they use.
        json.shrink_to_fit();
        let json = Bytes::from(json);
        Some(Arc::new(CachedObject {
            key: key.to_string(),
            namespace,
            name,
            uid,
            revision,
            json,
            labels,
            fields,
        }))
    }

    /// Fills the cache from the store and follows it until `shutdown`.
    ///
    /// # Errors
    /// When the initial list fails.
    pub async fn run(
        self: Arc<Self>,
        store: Arc<dyn Store>,
        shutdown: CancellationToken,
    ) -> Result<(), store::Error> {
        let revision = self.fill(store.as_ref()).await?;
        let mut from = revision;
        loop {
            let stream = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                stream = store.watch("", from) => stream,
            };
            let mut stream = match stream {
                Ok(stream) => stream,
                Err(e) => {
                    // History we need is gone: refill from scratch.
                    warn!(error = %e, "watch cache lost its place in the datastore; refilling");
                    from = self.fill(store.as_ref()).await?;
                    continue;
                }
            };
            let mut trim = tokio::time::interval(TRIM_INTERVAL);
            loop {
                let batch = tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    _ = trim.tick() => {
                        self.trim_history();
                        continue;
                    }
                    batch = stream.next() => batch,
                };
                match batch {
                    Some(Ok(event)) => {
                        from = event.revision();
                        self.apply(event);
                    }
                    Some(Err(e)) => {
                        warn!(error = %e, "datastore watch ended; resuming");
                        break;
                    }
                    None => break,
                }
            }
        }
    }

    /// Drops history older than the window from every bucket (events are otherwise only
    /// trimmed as new ones arrive), and hands the freed memory back to the system.
    fn trim_history(&self) {
        // Every bucket is trimmed (no short-circuit), then freed memory released once.
        let mut freed = false;
        for bucket in self.write().buckets.values_mut() {
            freed |= bucket.trim();
        }
        if freed {
            release_free_memory();
        }
    }

    /// Replaces the cache's contents with the store's current state.
    async fn fill(&self, store: &dyn Store) -> Result<Revision, store::Error> {
        let started = Instant::now();
        let mut request = ListRequest {
            prefix: "/registry/".into(),
            limit: Some(FILL_PAGE),
            ..Default::default()
        };
        let mut buckets: HashMap<String, Bucket> = HashMap::new();
        let mut count = 0usize;
        let revision = loop {
            let page = store.list(&request).await?;
            request.revision = Some(page.revision);
            for kv in &page.kvs {
                let (Some(bucket), Some(object)) = (bucket_of(&kv.key), self.object_from_store(kv))
                else {
                    continue;
                };
                buckets
                    .entry(bucket.to_string())
                    .or_insert_with(|| Bucket::new(page.revision))
                    .objects
                    .insert(kv.key.clone(), object);
                count += 1;
            }
            if !page.more {
                break page.revision;
            }
            request.start_after = page.kvs.last().map(|kv| kv.key.clone());
        };
        for bucket in buckets.values_mut() {
            bucket.history_start = revision;
        }
        {
            let mut state = self.write();
            // Watchers of replaced buckets see their feed close and restart.
            state.buckets = buckets;
            state.revision = revision;
        }
        self.revision.send_replace(revision);
        debug!(objects = count, revision, elapsed = ?started.elapsed(), "watch cache filled");
        Ok(revision)
    }

    fn apply(&self, event: store::Event) {
        let revision = event.revision();
        if let Some(bucket_name) = bucket_of(&event.kv.key) {
            if let Some(object) = self.build(&event.kv.key, &event.kv.value, revision) {
                let mut state = self.write();
                let start = state.revision;
                let bucket = state
                    .buckets
                    .entry(bucket_name.to_string())
                    .or_insert_with(|| Bucket::new(start));
                let (kind, prev) = match event.kind {
                    EventKind::Delete => (EventType::Deleted, bucket.objects.remove(&event.kv.key)),
                    EventKind::Create => (
                        EventType::Added,
                        bucket.objects.insert(event.kv.key.clone(), object.clone()),
                    ),
                    EventKind::Update => (
                        EventType::Modified,
                        bucket.objects.insert(event.kv.key.clone(), object.clone()),
                    ),
                };
                bucket.record(Arc::new(CacheEvent {
                    kind,
                    object,
                    prev,
                    revision,
                }));
                state.revision = revision;
            } else {
                self.write().revision = revision;
            }
        } else {
            self.write().revision = revision;
        }
        self.revision.send_replace(revision);
    }

    /// Waits until the cache holds everything the store has committed.
    ///
    /// # Errors
    /// [`CacheError::Stale`] if that takes more than a few seconds.
    pub async fn wait_fresh(&self, store: &dyn Store) -> Result<Revision, CacheError> {
        let target = store.current_revision().await?;
        self.wait_for(target).await
    }

    /// Waits until the cache is at `revision` or later.
    pub async fn wait_for(&self, revision: Revision) -> Result<Revision, CacheError> {
        let mut rx = self.revision.subscribe();
        let wait = rx.wait_for(|r| *r >= revision);
        match tokio::time::timeout(Duration::from_secs(3), wait).await {
            Ok(Ok(r)) => Ok(*r),
            _ => Err(CacheError::Stale),
        }
    }

    /// One object.
    pub fn get(&self, key: &str) -> Option<Arc<CachedObject>> {
        let state = self.read();
        state
            .buckets
            .get(bucket_of(key)?)?
            .objects
            .get(key)
            .cloned()
    }

    /// A page of matching objects under `prefix`, from the cache's current state.
    pub fn list(
        &self,
        prefix: &str,
        filter: &Filter,
        start_after: Option<&str>,
        limit: Option<usize>,
    ) -> Page {
        let state = self.read();
        let revision = state.revision;
        let Some(bucket) = bucket_of(prefix).and_then(|b| state.buckets.get(b)) else {
            return Page {
                objects: Vec::new(),
                revision,
                continue_after: None,
                remaining: None,
            };
        };
        let lower = match start_after {
            Some(after) => std::ops::Bound::Excluded(after),
            None => std::ops::Bound::Included(prefix),
        };
        let limit = limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        let mut objects = Vec::new();
        let mut remaining = 0u64;
        for (key, object) in bucket
            .objects
            .range::<str, _>((lower, std::ops::Bound::Unbounded))
        {
            if !key.starts_with(prefix) {
                break;
            }
            if !object.matches(filter) {
                continue;
            }
            if objects.len() < limit {
                objects.push(object.clone());
            } else {
                remaining += 1;
            }
        }
        let continue_after = (remaining > 0)
            .then(|| objects.last().map(|o| o.key.clone()))
            .flatten();
        Page {
            objects,
            revision,
            continue_after,
            remaining: (remaining > 0).then_some(remaining),
        }
    }

    /// Starts a watch of `prefix` after `revision` (`None`: send the current objects as
    /// ADDED first, then changes).
    ///
    /// # Errors
    /// [`CacheError::TooOld`] when the events after `revision` are no longer kept.
    pub fn watch(
        &self,
        prefix: &str,
        filter: &Filter,
        revision: Option<Revision>,
    ) -> Result<WatchStart, CacheError> {
        let mut state = self.write();
        let current = state.revision;
        let bucket_name = bucket_of(prefix).unwrap_or(prefix).to_string();
        let bucket = state
            .buckets
            .entry(bucket_name)
            .or_insert_with(|| Bucket::new(current));
        let live = bucket.live.subscribe();
        let initial = match revision {
            None => bucket
                .objects
                .range::<str, _>((
                    std::ops::Bound::Included(prefix),
                    std::ops::Bound::Unbounded,
                ))
                .take_while(|(k, _)| k.starts_with(prefix))
                .filter(|(_, o)| o.matches(filter))
                .map(|(_, o)| {
                    Arc::new(CacheEvent {
                        kind: EventType::Added,
                        object: o.clone(),
                        prev: None,
                        revision: o.revision,
                    })
                })
                .collect(),
            Some(rv) if rv < bucket.history_start => {
                return Err(CacheError::TooOld {
                    requested: rv,
                    oldest: bucket.history_start,
                });
            }
            Some(rv) => bucket
                .history
                .iter()
                .filter(|(_, e)| e.revision > rv && e.object.key.starts_with(prefix))
                .map(|(_, e)| e.clone())
                .collect(),
        };
        Ok(WatchStart {
            initial,
            live,
            revision: current,
        })
    }

    /// Events of `prefix` after `revision` from the history, for a watcher whose live feed
    /// overflowed.
    pub fn events_after(
        &self,
        prefix: &str,
        revision: Revision,
    ) -> Result<Vec<Arc<CacheEvent>>, CacheError> {
        let state = self.read();
        let Some(bucket) = bucket_of(prefix).and_then(|b| state.buckets.get(b)) else {
            return Ok(Vec::new());
        };
        if revision < bucket.history_start {
            return Err(CacheError::TooOld {
                requested: revision,
                oldest: bucket.history_start,
            });
        }
        Ok(bucket
            .history
            .iter()
            .filter(|(_, e)| e.revision > revision && e.object.key.starts_with(prefix))
            .map(|(_, e)| e.clone())
            .collect())
    }

    /// Every cached object, bucket by bucket (a snapshot).
    pub fn all_objects(&self) -> Vec<Arc<CachedObject>> {
        let state = self.read();
        state
            .buckets
            .values()
            .flat_map(|b| b.objects.values().cloned())
            .collect()
    }

    /// A receiver that changes whenever the cache applies a change.
    pub fn changes(&self) -> watch::Receiver<Revision> {
        self.revision.subscribe()
    }

    /// Number of cached objects, for metrics and tests.
    pub fn len(&self) -> usize {
        self.read().buckets.values().map(|b| b.objects.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    fn cm(name: &str, labels: Value) -> Bytes {
        Bytes::from(
            serde_json::to_vec(&serde_json::json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": "default", "labels": labels}
            }))
            .unwrap(),
        )
    }

    #[test]
    fn buckets() {
        assert_eq!(
            bucket_of("/registry/core/pods/default/x"),
            Some("/registry/core/pods/")
        );
        assert_eq!(
            bucket_of("/registry/core/pods/"),
            Some("/registry/core/pods/")
        );
        assert_eq!(bucket_of("/registry/core"), None);
    }

    #[tokio::test]
    async fn fills_follows_and_resumes() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        store
            .create(
                "/registry/core/configmaps/default/a",
                cm("a", serde_json::json!({"app": "x"})),
            )
            .await
            .unwrap();
        let cache = WatchCache::new(Arc::new(Registry::builtin()));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(cache.clone().run(store.clone(), shutdown.clone()));
        cache.wait_fresh(store.as_ref()).await.unwrap();
        let a = cache.get("/registry/core/configmaps/default/a").unwrap();
        assert_eq!(a.value()["metadata"]["resourceVersion"], "2");

        let start = cache.revision();
        let b = store
            .create(
                "/registry/core/configmaps/default/b",
                cm("b", serde_json::json!({"app": "y"})),
            )
            .await
            .unwrap();
        store
            .delete("/registry/core/configmaps/default/a", None)
            .await
            .unwrap();
        cache.wait_fresh(store.as_ref()).await.unwrap();

        let filter = Filter {
            labels: LabelSelector::parse("app=y").unwrap(),
            ..Default::default()
        };
        let page = cache.list("/registry/core/configmaps/", &filter, None, None);
        assert_eq!(page.objects.len(), 1);
        assert_eq!(page.objects[0].revision, b.mod_revision);

        let resumed = cache
            .watch(
                "/registry/core/configmaps/",
                &Filter::default(),
                Some(start),
            )
            .unwrap();
        let kinds: Vec<_> = resumed
            .initial
            .iter()
            .map(|e| (e.kind, e.object.name.clone()))
            .collect();
        assert_eq!(
            kinds,
            [
                (EventType::Added, "b".to_string()),
                (EventType::Deleted, "a".to_string())
            ]
        );
        let deleted = &resumed.initial[1];
        assert_eq!(
            deleted.object.value()["metadata"]["resourceVersion"],
            deleted.revision.to_string()
        );

        let fresh = cache
            .watch(
                "/registry/core/configmaps/default/",
                &Filter::default(),
                None,
            )
            .unwrap();
        assert_eq!(fresh.initial.len(), 1);
        assert!(matches!(
            cache.watch("/registry/core/configmaps/", &Filter::default(), Some(0)),
            Err(CacheError::TooOld { .. })
        ));
        shutdown.cancel();
        task.await.unwrap().unwrap();
    }
}
