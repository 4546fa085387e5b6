//! An in-memory [`Store`] with the same contract as the SQLite one, for tests of the layers
//! above the datastore. Nothing survives the process.

use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::Bytes;

use super::index::{Found, KeyIndex, Version};
use super::watch::{self, EventHub, History};
use super::{
    Error, Event, EventKind, KeyValue, ListRequest, ListResponse, Revision, Store, WatchStream,
    check_expected,
};

/// A store held in memory.
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    state: Mutex<State>,
    hub: EventHub,
}

#[derive(Default)]
struct State {
    index: KeyIndex<Bytes>,
    /// Every event after the compacted revision, in revision order.
    log: Vec<Event>,
}

fn key_value(found: Found<'_, Bytes>) -> KeyValue {
    KeyValue {
        key: found.key.to_string(),
        value: found.value.clone(),
        create_revision: found.create_revision,
        mod_revision: found.revision,
    }
}

impl State {
    fn latest(&self, key: &str) -> Option<KeyValue> {
        self.index.latest(key).map(key_value)
    }

    /// Records a write that has passed its checks and publishes it.
    fn commit(&mut self, hub: &EventHub, event: Event) -> KeyValue {
        let kv = event.kv.clone();
        self.index.record(
            &kv.key,
            Version {
                revision: kv.mod_revision,
                create_revision: kv.create_revision,
                value: (event.kind != EventKind::Delete).then(|| kv.value.clone()),
            },
        );
        self.log.push(event.clone());
        hub.publish(vec![event]);
        kv
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data: every mutation is completed
        // before the next statement that could panic.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl History for MemoryStore {
    async fn events_after(
        &self,
        prefix: &str,
        after: Revision,
        limit: usize,
    ) -> Result<Vec<Event>, Error> {
        let state = self.state();
        state.index.check_revision(after)?;
        let start = state.log.partition_point(|e| e.revision() <= after);
        Ok(state.log[start..]
            .iter()
            .filter(|e| e.kv.key.starts_with(prefix))
            .take(limit)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn current_revision(&self) -> Result<Revision, Error> {
        Ok(self.state().index.current())
    }

    async fn compacted_revision(&self) -> Result<Revision, Error> {
        Ok(self.state().index.compacted())
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>, Error> {
        Ok(self.state().latest(key))
    }

    async fn list(&self, request: &ListRequest) -> Result<ListResponse, Error> {
        let state = self.state();
        let page = state.index.list(
            &request.prefix,
            request.start_after.as_deref(),
            request.revision,
            request.limit,
        )?;
        let more = page.count > page.found.len() as u64;
        Ok(ListResponse {
            kvs: page.found.into_iter().map(key_value).collect(),
            revision: page.revision,
            count: page.count,
            more,
        })
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue, Error> {
        let mut state = self.state();
        if let Some(current) = state.latest(key) {
            return Err(Error::AlreadyExists {
                key: key.to_string(),
                current,
            });
        }
        let revision = state.index.current() + 1;
        let event = Event {
            kind: EventKind::Create,
            kv: KeyValue {
                key: key.to_string(),
                value,
                create_revision: revision,
                mod_revision: revision,
            },
            prev: None,
        };
        Ok(state.commit(&self.inner.hub, event))
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue, Error> {
        let mut state = self.state();
        let current = check_expected(key, state.latest(key), Some(expected))?;
        let event = Event {
            kind: EventKind::Update,
            kv: KeyValue {
                key: key.to_string(),
                value,
                create_revision: current.create_revision,
                mod_revision: state.index.current() + 1,
            },
            prev: Some(current),
        };
        Ok(state.commit(&self.inner.hub, event))
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue, Error> {
        let mut state = self.state();
        let current = check_expected(key, state.latest(key), expected)?;
        let event = Event {
            kind: EventKind::Delete,
            kv: KeyValue {
                mod_revision: state.index.current() + 1,
                ..current.clone()
            },
            prev: Some(current),
        };
        Ok(state.commit(&self.inner.hub, event))
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, Error> {
        watch::watch(
            &self.inner.hub,
            Arc::new(self.clone()),
            prefix.to_string(),
            after,
        )
        .await
    }

    async fn compact(&self, revision: Revision) -> Result<(), Error> {
        let mut state = self.state();
        if revision <= state.index.compacted() {
            return Ok(());
        }
        state.index.check_revision(revision)?;
        state.index.compact(revision);
        let start = state.log.partition_point(|e| e.revision() <= revision);
        state.log.drain(..start);
        Ok(())
    }
}
