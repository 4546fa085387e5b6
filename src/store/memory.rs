//! An in-memory [`Store`] with the same contract as the SQLite one, for tests of the layers
//! above the datastore. Nothing survives the process.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::Bytes;

use super::watch::{self, EventHub, History};
use super::{
    Error, Event, EventKind, INITIAL_REVISION, KeyValue, ListRequest, ListResponse, Revision,
    Store, WatchStream,
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

struct State {
    current: Revision,
    compacted: Revision,
    /// Every retained version of every key, oldest first.
    keys: BTreeMap<String, Vec<Version>>,
    /// Every event after `compacted`, in revision order.
    log: Vec<Event>,
}

impl Default for State {
    fn default() -> Self {
        State {
            current: INITIAL_REVISION,
            compacted: 0,
            keys: BTreeMap::new(),
            log: Vec::new(),
        }
    }
}

#[derive(Clone)]
struct Version {
    revision: Revision,
    create_revision: Revision,
    /// `None` marks a delete.
    value: Option<Bytes>,
}

impl State {
    fn latest(&self, key: &str) -> Option<KeyValue> {
        self.at(key, self.current)
    }

    fn at(&self, key: &str, revision: Revision) -> Option<KeyValue> {
        let version = self
            .keys
            .get(key)?
            .iter()
            .rev()
            .find(|v| v.revision <= revision)?;
        Some(KeyValue {
            key: key.to_string(),
            value: version.value.clone()?,
            create_revision: version.create_revision,
            mod_revision: version.revision,
        })
    }

    fn check_revision(&self, revision: Revision) -> Result<(), Error> {
        if revision < self.compacted {
            return Err(Error::Compacted {
                requested: revision,
                compacted: self.compacted,
            });
        }
        if revision > self.current {
            return Err(Error::FutureRevision {
                requested: revision,
                current: self.current,
            });
        }
        Ok(())
    }

    /// Records a write that has passed its checks and publishes it.
    fn commit(&mut self, hub: &EventHub, event: Event) -> KeyValue {
        self.current = event.revision();
        let kv = event.kv.clone();
        let value = (event.kind != EventKind::Delete).then(|| kv.value.clone());
        self.keys.entry(kv.key.clone()).or_default().push(Version {
            revision: kv.mod_revision,
            create_revision: kv.create_revision,
            value,
        });
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

    fn existing(state: &State, key: &str, expected: Option<Revision>) -> Result<KeyValue, Error> {
        let current = state.latest(key).ok_or_else(|| Error::NotFound {
            key: key.to_string(),
        })?;
        match expected {
            Some(expected) if expected != current.mod_revision => Err(Error::Conflict {
                key: key.to_string(),
                expected,
                current,
            }),
            _ => Ok(current),
        }
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
        state.check_revision(after)?;
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
        Ok(self.state().current)
    }

    async fn compacted_revision(&self) -> Result<Revision, Error> {
        Ok(self.state().compacted)
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>, Error> {
        Ok(self.state().latest(key))
    }

    async fn list(&self, request: &ListRequest) -> Result<ListResponse, Error> {
        let state = self.state();
        let revision = request.revision.unwrap_or(state.current);
        state.check_revision(revision)?;
        let start = match &request.start_after {
            Some(after) if after.as_str() >= request.prefix.as_str() => {
                std::ops::Bound::Excluded(after.clone())
            }
            _ => std::ops::Bound::Included(request.prefix.clone()),
        };
        let matching = state
            .keys
            .range((start, std::ops::Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(&request.prefix))
            .filter_map(|(key, _)| state.at(key, revision));
        let mut kvs = Vec::new();
        let mut count = 0u64;
        let limit = request.limit.unwrap_or(usize::MAX);
        for kv in matching {
            count += 1;
            if kvs.len() < limit {
                kvs.push(kv);
            }
        }
        let more = count > kvs.len() as u64;
        Ok(ListResponse {
            kvs,
            revision,
            count,
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
        let revision = state.current + 1;
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
        let current = Self::existing(&state, key, Some(expected))?;
        let event = Event {
            kind: EventKind::Update,
            kv: KeyValue {
                key: key.to_string(),
                value,
                create_revision: current.create_revision,
                mod_revision: state.current + 1,
            },
            prev: Some(current),
        };
        Ok(state.commit(&self.inner.hub, event))
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue, Error> {
        let mut state = self.state();
        let current = Self::existing(&state, key, expected)?;
        let event = Event {
            kind: EventKind::Delete,
            kv: KeyValue {
                mod_revision: state.current + 1,
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
        if revision <= state.compacted {
            return Ok(());
        }
        state.check_revision(revision)?;
        state.compacted = revision;
        let start = state.log.partition_point(|e| e.revision() <= revision);
        state.log.drain(..start);
        state.keys.retain(|_, versions| {
            // Keep the version current at `revision` (unless it is a delete) and newer ones.
            let newer = versions.partition_point(|v| v.revision <= revision);
            let keep_from = match newer.checked_sub(1) {
                Some(i) if versions[i].value.is_some() => i,
                _ => newer,
            };
            versions.drain(..keep_from);
            !versions.is_empty()
        });
        Ok(())
    }
}
