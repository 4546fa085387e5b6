//! The datastore: a revisioned key-value store behind one small trait.
//!
//! Every write gets the next cluster-wide revision (it becomes the Kubernetes
//! `resourceVersion`). Keys are strings such as `/registry/pods/default/web-0`; values are
//! opaque bytes. Updates and deletes are compare-and-swap on the key's modification revision,
//! and a watch replays every change after a revision, in order, then follows live changes.
//!
//! Two implementations:
//! - [`sqlite::SqliteStore`], the embedded default at `<data-dir>/server/db/state.db`: one
//!   writer thread with group commit (concurrent writes share an fsync; a write is
//!   acknowledged only once durable), a pool of reader connections, and incremental
//!   compaction that never blocks readers.
//! - [`memory::MemoryStore`], the same contract in memory, for unit tests.
//!
//! Both are checked against one contract suite (`contract.rs`).

pub mod compactor;
mod error;
mod index;
pub mod memory;
pub mod sqlite;
mod watch;

#[cfg(test)]
mod contract;

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;

pub use error::{BackendError, Error};
pub use watch::{EventHub, History};

/// A store revision: increases by one with every successful write, across all keys.
pub type Revision = i64;

/// The revision of an empty store. The first write gets `INITIAL_REVISION + 1`, as in etcd.
pub const INITIAL_REVISION: Revision = 1;

/// One key at one revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    /// The revision that created this incarnation of the key.
    pub create_revision: Revision,
    /// The revision of the last write to the key (for a delete event: the delete's revision).
    pub mod_revision: Revision,
}

/// What a write did to a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Create,
    Update,
    Delete,
}

/// One committed write, as seen by a watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    /// The key after the write. For a delete: the last value the key had, with
    /// `mod_revision` set to the revision of the delete.
    pub kv: KeyValue,
    /// The key before the write (`None` for a create).
    pub prev: Option<KeyValue>,
}

impl Event {
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }
}

/// What to list: keys starting with `prefix`, after `start_after` (exclusive; the last key of
/// the previous page), as of `revision` (`None` = the current revision), at most `limit` keys.
#[derive(Clone, Debug, Default)]
pub struct ListRequest {
    pub prefix: String,
    pub start_after: Option<String>,
    pub revision: Option<Revision>,
    pub limit: Option<usize>,
}

impl ListRequest {
    pub fn prefix(prefix: impl Into<String>) -> Self {
        ListRequest {
            prefix: prefix.into(),
            ..Default::default()
        }
    }
}

/// One page of a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListResponse {
    /// The keys, in byte order of their names.
    pub kvs: Vec<KeyValue>,
    /// The revision the list was read at; pass it back to read the next page consistently.
    pub revision: Revision,
    /// How many keys match from `start_after` onwards, this page included.
    pub count: u64,
    /// Whether keys remain after this page.
    pub more: bool,
}

/// A stream of events from a watch. It ends with an `Err` when the watch cannot go on (the
/// store closed, or the history it needed was compacted while it lagged); never silently.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<Event, Error>> + Send>>;

/// The datastore contract. The API server is its only user.
///
/// # Guarantees
/// - Every `Ok` from a write means the write is durable (for stores that persist) and visible
///   to every read and watch that starts afterwards.
/// - Revisions are strictly increasing; a watch delivers every event after its start
///   revision that matches its prefix, in revision order, with none lost or duplicated.
#[async_trait]
pub trait Store: Send + Sync {
    /// The revision of the last write.
    async fn current_revision(&self) -> Result<Revision, Error>;

    /// The revision up to which history has been compacted.
    async fn compacted_revision(&self) -> Result<Revision, Error>;

    /// The current value of `key`, if it exists.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, Error>;

    /// Keys under a prefix at a revision.
    ///
    /// # Errors
    /// [`Error::Compacted`] when `revision` is older than the compacted revision,
    /// [`Error::FutureRevision`] when it is newer than the current one.
    async fn list(&self, request: &ListRequest) -> Result<ListResponse, Error>;

    /// Creates `key`.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`] when the key exists.
    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue, Error>;

    /// Replaces the value of `key` if its modification revision is still `expected`.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the key does not exist, [`Error::Conflict`] (carrying the
    /// current value) when it was modified since `expected`.
    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue, Error>;

    /// Deletes `key`, if `expected` is `None` or still its modification revision. Returns the
    /// deleted value with `mod_revision` set to the revision of the delete.
    ///
    /// # Errors
    /// As for [`Store::update`].
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue, Error>;

    /// Every change under `prefix` after revision `after`, then live changes.
    ///
    /// # Errors
    /// [`Error::Compacted`] when history after `after` is no longer complete,
    /// [`Error::FutureRevision`] when `after` is newer than the current revision.
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, Error>;

    /// Forgets history up to and including `revision`: lists and watches at or after it keep
    /// working, older ones fail with [`Error::Compacted`]. Space is reclaimed in the
    /// background without stalling readers or writers.
    async fn compact(&self, revision: Revision) -> Result<(), Error>;
}

/// The compare-and-swap check shared by update and delete: the key's live value if it exists
/// and, when `expected` is given, was last modified at that revision.
pub(crate) fn check_expected(
    key: &str,
    current: Option<KeyValue>,
    expected: Option<Revision>,
) -> Result<KeyValue, Error> {
    let current = current.ok_or_else(|| Error::NotFound {
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

/// The first key after every key that starts with `prefix` (`None`: no upper bound).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}
