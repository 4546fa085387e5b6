//! The writer thread: the only connection that writes.
//!
//! It takes the first queued request, then everything else already queued (up to
//! [`MAX_BATCH`]), applies them in order in one transaction and commits once: one fsync for the
//! whole group. Only after the commit does it publish the batch's events and answer the
//! writers, so an acknowledged write is durable and already visible to watches. A request
//! whose precondition fails (exists, missing, conflict) writes nothing and does not disturb
//! the others; a database failure fails the whole group, which is rolled back.
//!
//! Between groups, and whenever it is idle, the writer advances compaction one chunk at a
//! time, in small transactions, so neither writers nor readers ever wait long for it.

use std::sync::mpsc::{Receiver, TryRecvError};

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, Transaction};
use tokio::sync::oneshot;
use tracing::{debug, warn};

use super::{Meta, read_meta, schema};
use crate::store::watch::EventHub;
use crate::store::{Error, Event, EventKind, KeyValue, Revision};

/// Most requests committed together.
const MAX_BATCH: usize = 1024;
/// Log rows examined per compaction transaction.
const COMPACT_CHUNK: i64 = 1000;
/// Pages returned to the file system per vacuum transaction.
const VACUUM_CHUNK: i64 = 512;

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
    meta: Meta,
    /// Set when compaction finished and free pages may be worth returning.
    vacuum_due: bool,
}

/// The latest row of a key, as the writer needs it.
struct Latest {
    rev: Revision,
    create_rev: Revision,
    deleted: bool,
    value: Bytes,
}

impl Latest {
    fn into_kv(self, key: &str) -> KeyValue {
        KeyValue {
            key: key.to_string(),
            value: self.value,
            create_revision: self.create_rev,
            mod_revision: self.rev,
        }
    }
}

enum Applied {
    Event(Event),
    Compacted,
}

impl Writer {
    pub(super) fn new(conn: Connection, hub: EventHub) -> Result<Self, Error> {
        let meta = read_meta(&conn)?;
        Ok(Writer {
            conn,
            hub,
            meta,
            vacuum_due: true,
        })
    }

    fn maintenance_due(&self) -> bool {
        self.meta.compact_progress < self.meta.compacted || self.vacuum_due
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

    fn commit(&mut self, batch: Vec<Request>) {
        let (ops, senders): (Vec<Op>, Vec<oneshot::Sender<Reply>>) =
            batch.into_iter().map(|r| (r.op, r.reply)).unzip();
        let mut meta = self.meta;
        let mut events = Vec::new();
        let outcome = (|| -> rusqlite::Result<Vec<Reply>> {
            let tx = self.conn.transaction()?;
            let mut replies = Vec::with_capacity(ops.len());
            for op in &ops {
                replies.push(match apply(&tx, &mut meta, op)? {
                    Ok(Applied::Event(event)) => {
                        let kv = event.kv.clone();
                        events.push(event);
                        Ok(Some(kv))
                    }
                    Ok(Applied::Compacted) => Ok(None),
                    Err(error) => Err(error),
                });
            }
            if meta.current != self.meta.current {
                tx.prepare_cached(schema::SET_CURRENT)?
                    .execute([meta.current])?;
            }
            if meta.compacted != self.meta.compacted {
                tx.prepare_cached(schema::SET_COMPACT)?
                    .execute([meta.compacted])?;
            }
            tx.commit()?;
            Ok(replies)
        })();
        match outcome {
            Ok(replies) => {
                self.meta = meta;
                self.hub.publish(events);
                for (sender, reply) in senders.into_iter().zip(replies) {
                    let _ = sender.send(reply);
                }
            }
            Err(error) => {
                warn!(%error, writes = senders.len(), "datastore commit failed; the group was rolled back");
                for sender in senders {
                    let _ = sender.send(Err(Error::backend("commit", error.to_string())));
                }
            }
        }
    }

    /// One step of background work: a compaction chunk, or a vacuum chunk.
    fn maintain(&mut self) {
        let result = if self.meta.compact_progress < self.meta.compacted {
            self.compact_chunk()
        } else {
            self.vacuum_chunk()
        };
        if let Err(error) = result {
            warn!(%error, "datastore maintenance failed; it will be retried");
            self.vacuum_due = false;
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
        if self.meta.compact_progress >= self.meta.compacted {
            self.vacuum_due = true;
        }
        Ok(())
    }

    /// Returns free pages to the file system once they are a quarter of the file.
    fn vacuum_chunk(&mut self) -> rusqlite::Result<()> {
        let free: i64 = self.conn.query_row(schema::FREE_PAGES, [], |r| r.get(0))?;
        let total: i64 = self.conn.query_row(schema::PAGE_COUNT, [], |r| r.get(0))?;
        if free < VACUUM_CHUNK || free * 4 < total {
            self.vacuum_due = false;
            return Ok(());
        }
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        let result = self
            .conn
            .execute_batch(&format!("PRAGMA incremental_vacuum({VACUUM_CHUNK});"));
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        result
    }
}

fn latest(tx: &Transaction<'_>, key: &str) -> rusqlite::Result<Option<Latest>> {
    tx.prepare_cached(schema::LATEST)?
        .query_row([key.as_bytes()], |row| {
            Ok(Latest {
                rev: row.get(0)?,
                create_rev: row.get(1)?,
                deleted: row.get(2)?,
                value: Bytes::from(row.get::<_, Option<Vec<u8>>>(3)?.unwrap_or_default()),
            })
        })
        .optional()
}

fn insert(
    tx: &Transaction<'_>,
    rev: Revision,
    key: &str,
    create_rev: Revision,
    prev_rev: Revision,
    value: Option<&[u8]>,
) -> rusqlite::Result<()> {
    tx.prepare_cached(schema::INSERT)?.execute((
        rev,
        key.as_bytes(),
        create_rev,
        prev_rev,
        value.is_none(),
        value,
    ))?;
    Ok(())
}

/// The key's live value, or the error a write that needs one gets.
fn existing(
    tx: &Transaction<'_>,
    key: &str,
    expected: Option<Revision>,
) -> rusqlite::Result<Result<KeyValue, Error>> {
    let current = match latest(tx, key)? {
        Some(row) if !row.deleted => row.into_kv(key),
        _ => {
            return Ok(Err(Error::NotFound {
                key: key.to_string(),
            }));
        }
    };
    Ok(match expected {
        Some(expected) if expected != current.mod_revision => Err(Error::Conflict {
            key: key.to_string(),
            expected,
            current,
        }),
        _ => Ok(current),
    })
}

/// Applies one request inside the batch's transaction. The outer `Result` is a database
/// failure (the batch fails); the inner one is this request's own answer.
fn apply(
    tx: &Transaction<'_>,
    meta: &mut Meta,
    op: &Op,
) -> rusqlite::Result<Result<Applied, Error>> {
    let rev = meta.current + 1;
    let event = match op {
        Op::Create { key, value } => {
            if let Some(row) = latest(tx, key)?
                && !row.deleted
            {
                return Ok(Err(Error::AlreadyExists {
                    key: key.clone(),
                    current: row.into_kv(key),
                }));
            }
            insert(tx, rev, key, rev, 0, Some(value))?;
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
            let current = match existing(tx, key, Some(*expected))? {
                Ok(current) => current,
                Err(error) => return Ok(Err(error)),
            };
            insert(
                tx,
                rev,
                key,
                current.create_revision,
                current.mod_revision,
                Some(value),
            )?;
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
            let current = match existing(tx, key, *expected)? {
                Ok(current) => current,
                Err(error) => return Ok(Err(error)),
            };
            insert(
                tx,
                rev,
                key,
                current.create_revision,
                current.mod_revision,
                None,
            )?;
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
            if *revision > meta.current {
                return Ok(Err(Error::FutureRevision {
                    requested: *revision,
                    current: meta.current,
                }));
            }
            meta.compacted = meta.compacted.max(*revision);
            return Ok(Ok(Applied::Compacted));
        }
    };
    meta.current = rev;
    Ok(Ok(Applied::Event(event)))
}
