//! The writer thread: the only connection that writes.
//!
//! It takes the first queued request, then everything else already queued (up to
//! [`MAX_BATCH`]), applies them in order in one transaction and commits once: one fsync for the
//! whole group. Only after the commit does it record the writes in the key index, publish the
//! batch's events and answer the writers, so an acknowledged write is durable and already
//! visible to reads and watches. A request whose precondition fails (exists, missing,
//! conflict) writes nothing and does not disturb the others; a database failure fails the
//! whole group, which is rolled back.
//!
//! Between groups, and whenever it is idle, the writer removes compacted rows one chunk at a
//! time, in small transactions, so neither writers nor readers ever wait long for it.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, TryRecvError};

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, Transaction};
use tokio::sync::oneshot;
use tracing::{debug, warn};

use super::{Meta, SharedIndex, schema};
use crate::store::index::{KeyIndex, Version};
use crate::store::watch::EventHub;
use crate::store::{Error, Event, EventKind, KeyValue, Revision, check_expected};

/// Most requests committed together.
const MAX_BATCH: usize = 1024;
/// Log rows examined per compaction transaction.
const COMPACT_CHUNK: i64 = 1000;

pub(super) enum Op {
    Create {
        key: String,
        value: Bytes,
    },
    Update {
        key: String,
        value: Bytes,
        expected: Revision,
    },
    Delete {
        key: String,
        expected: Option<Revision>,
    },
    Compact {
        revision: Revision,
    },
}

/// A write's answer: the key after the write (none for a compaction).
pub(super) type Reply = Result<Option<KeyValue>, Error>;

pub(super) struct Request {
    pub op: Op,
    pub reply: oneshot::Sender<Reply>,
}

pub(super) struct Writer {
    conn: Connection,
    hub: EventHub,
    index: SharedIndex,
    /// The compaction state on disk.
    meta: Meta,
}

/// A batch in progress: its revision counter and what it wrote so far, which later requests
/// of the same batch must see before the index does.
struct Batch<'a> {
    index: &'a KeyIndex<()>,
    current: Revision,
    compacted: Revision,
    written: HashMap<String, Version<()>>,
    events: Vec<Event>,
}

impl Batch<'_> {
    /// The key's latest version: `(revision, create_revision, live)`.
    fn latest(&self, key: &str) -> Option<(Revision, Revision, bool)> {
        match self.written.get(key) {
            Some(v) => Some((v.revision, v.create_revision, v.value.is_some())),
            None => self
                .index
                .latest(key)
                .map(|f| (f.revision, f.create_revision, true)),
        }
    }
}

impl Writer {
    pub(super) fn new(conn: Connection, hub: EventHub, index: SharedIndex, meta: Meta) -> Self {
        Writer {
            conn,
            hub,
            index,
            meta,
        }
    }

    fn maintenance_due(&self) -> bool {
        self.meta.compact_progress < self.meta.compacted
    }

    /// Serves the queue until every sender is gone.
    pub(super) fn run(mut self, queue: Receiver<Request>) {
        loop {
            let first = if self.maintenance_due() {
                match queue.try_recv() {
                    Ok(request) => request,
                    Err(TryRecvError::Empty) => {
                        self.maintain();
                        continue;
                    }
                    Err(TryRecvError::Disconnected) => break,
                }
            } else {
                match queue.recv() {
                    Ok(request) => request,
                    Err(_) => break,
                }
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
            self.commit(batch);
            if self.maintenance_due() {
                self.maintain();
            }
        }
        if let Err(error) = self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);") {
            warn!(%error, "final checkpoint of the datastore failed");
        }
    }

    fn commit(&mut self, requests: Vec<Request>) {
        let (ops, senders): (Vec<Op>, Vec<oneshot::Sender<Reply>>) =
            requests.into_iter().map(|r| (r.op, r.reply)).unzip();
        let shared = self.index.clone();
        // Only this thread changes the index, so reading it across the commit is consistent.
        let index = shared.read().unwrap_or_else(|e| e.into_inner());
        let mut attempt = 1;
        let (outcome, events, compacted) = loop {
            let mut batch = Batch {
                current: index.current(),
                compacted: index.compacted(),
                index: &index,
                written: HashMap::new(),
                events: Vec::new(),
            };
            let outcome = (|| -> rusqlite::Result<Vec<Reply>> {
                let tx = self.conn.transaction()?;
                let mut replies = Vec::with_capacity(ops.len());
                for op in &ops {
                    replies.push(apply(&tx, &mut batch, op)?);
                }
                if batch.compacted != self.meta.compacted {
                    tx.prepare_cached(schema::SET_COMPACT)?
                        .execute([batch.compacted])?;
                }
                tx.commit()?;
                Ok(replies)
            })();
            // This thread is the only writer, so a busy database is a passing lock held by
            // SQLite itself (a reader connection opening or closing): the group is redone
            // rather than failed.
            if let Err(error) = &outcome
                && is_busy(error)
                && attempt < BUSY_ATTEMPTS
            {
                warn!(?error, attempt, "datastore busy; retrying the commit");
                attempt += 1;
                std::thread::sleep(BUSY_PAUSE);
                continue;
            }
            break (outcome, batch.events, batch.compacted);
        };
        drop(index);
        match outcome {
            Ok(replies) => {
                {
                    let mut index = shared.write().unwrap_or_else(|e| e.into_inner());
                    for event in &events {
                        index.record(&event.kv.key, version_of(event));
                    }
                    index.compact(compacted);
                }
                self.meta.compacted = compacted;
                self.hub.publish(events);
                for (sender, reply) in senders.into_iter().zip(replies) {
                    let _ = sender.send(reply);
                }
            }
            Err(error) => {
                warn!(%error, ?error, writes = senders.len(), "datastore commit failed; the group was rolled back");
                for sender in senders {
                    let _ = sender.send(Err(Error::backend("commit", error.to_string())));
                }
            }
        }
    }

    /// One step of background work: a chunk of compaction.
    fn maintain(&mut self) {
        if let Err(error) = self.compact_chunk() {
            warn!(%error, "datastore compaction failed; it will be retried");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Removes rows superseded at or before the compacted revision, for the next chunk of
    /// rows written since the last chunk: each such row makes the row it replaced obsolete,
    /// and a delete row is obsolete itself once compacted.
    fn compact_chunk(&mut self) -> rusqlite::Result<()> {
        // Losing a compaction chunk to a power cut is harmless: it is redone on restart.
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        let result = (|| -> rusqlite::Result<Revision> {
            let tx = self.conn.transaction()?;
            let rows: Vec<(i64, i64, bool)> = tx
                .prepare_cached(schema::COMPACT_SCAN)?
                .query_map(
                    (
                        self.meta.compact_progress,
                        self.meta.compacted,
                        COMPACT_CHUNK,
                    ),
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )?
                .collect::<rusqlite::Result<_>>()?;
            let progress = if (rows.len() as i64) < COMPACT_CHUNK {
                self.meta.compacted
            } else {
                rows.last().map_or(self.meta.compacted, |r| r.0)
            };
            {
                let mut delete = tx.prepare_cached(schema::DELETE_ROW)?;
                for (rev, prev_rev, deleted) in &rows {
                    if *prev_rev > 0 {
                        delete.execute([prev_rev])?;
                    }
                    if *deleted {
                        delete.execute([rev])?;
                    }
                }
            }
            tx.prepare_cached(schema::SET_COMPACT_PROGRESS)?
                .execute([progress])?;
            tx.commit()?;
            debug!(
                rows = rows.len(),
                progress, "compacted a chunk of the datastore"
            );
            Ok(progress)
        })();
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        self.meta.compact_progress = result?;
        Ok(())
    }
}

fn version_of(event: &Event) -> Version<()> {
    Version {
        revision: event.kv.mod_revision,
        create_revision: event.kv.create_revision,
        value: (event.kind != EventKind::Delete).then_some(()),
    }
}

/// The value of a row written earlier (in this batch or before).
fn value_at(tx: &Transaction<'_>, rev: Revision) -> rusqlite::Result<Bytes> {
    let value: Option<Option<Vec<u8>>> = tx
        .prepare_cached(schema::ROW_VALUE)?
        .query_row([rev], |row| row.get(0))
        .optional()?;
    Ok(Bytes::from(value.flatten().unwrap_or_default()))
}

/// The key's live value, read through the batch.
fn live(tx: &Transaction<'_>, batch: &Batch<'_>, key: &str) -> rusqlite::Result<Option<KeyValue>> {
    match batch.latest(key) {
        Some((rev, create_rev, true)) => Ok(Some(KeyValue {
            key: key.to_string(),
            value: value_at(tx, rev)?,
            create_revision: create_rev,
            mod_revision: rev,
        })),
        _ => Ok(None),
    }
}

/// Writes an event's row and records it in the batch.
fn insert(tx: &Transaction<'_>, batch: &mut Batch<'_>, event: Event) -> rusqlite::Result<Reply> {
    let kv = &event.kv;
    let deleted = event.kind == EventKind::Delete;
    let prev_rev = event.prev.as_ref().map_or(0, |p| p.mod_revision);
    tx.prepare_cached(schema::INSERT)?.execute((
        kv.mod_revision,
        kv.key.as_bytes(),
        kv.create_revision,
        prev_rev,
        deleted,
        (!deleted).then_some(kv.value.as_ref()),
    ))?;
    batch.current = kv.mod_revision;
    batch.written.insert(kv.key.clone(), version_of(&event));
    let reply = Ok(Some(kv.clone()));
    batch.events.push(event);
    Ok(reply)
}

/// Applies one request inside the batch's transaction. The `Err` is a database failure (the
/// batch fails); the `Reply` is this request's own answer.
/// How often a group is tried while the database reports itself busy, and the pause between.
const BUSY_ATTEMPTS: u32 = 5;
const BUSY_PAUSE: std::time::Duration = std::time::Duration::from_millis(20);

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn apply(tx: &Transaction<'_>, batch: &mut Batch<'_>, op: &Op) -> rusqlite::Result<Reply> {
    let rev = batch.current + 1;
    let event = match op {
        Op::Create { key, value } => {
            if let Some(current) = live(tx, batch, key)? {
                return Ok(Err(Error::AlreadyExists {
                    key: key.clone(),
                    current,
                }));
            }
            Event {
                kind: EventKind::Create,
                kv: KeyValue {
                    key: key.clone(),
                    value: value.clone(),
                    create_revision: rev,
                    mod_revision: rev,
                },
                prev: None,
            }
        }
        Op::Update {
            key,
            value,
            expected,
        } => {
            let current = match check_expected(key, live(tx, batch, key)?, Some(*expected)) {
                Ok(current) => current,
                Err(error) => return Ok(Err(error)),
            };
            Event {
                kind: EventKind::Update,
                kv: KeyValue {
                    key: key.clone(),
                    value: value.clone(),
                    create_revision: current.create_revision,
                    mod_revision: rev,
                },
                prev: Some(current),
            }
        }
        Op::Delete { key, expected } => {
            let current = match check_expected(key, live(tx, batch, key)?, *expected) {
                Ok(current) => current,
                Err(error) => return Ok(Err(error)),
            };
            Event {
                kind: EventKind::Delete,
                kv: KeyValue {
                    mod_revision: rev,
                    ..current.clone()
                },
                prev: Some(current),
            }
        }
        Op::Compact { revision } => {
            if *revision > batch.current {
                return Ok(Err(Error::FutureRevision {
                    requested: *revision,
                    current: batch.current,
                }));
            }
            batch.compacted = batch.compacted.max(*revision);
            return Ok(Ok(None));
        }
    };
    insert(tx, batch, event)
}
