//! Reads: a pool of connections used from blocking tasks. Each multi-statement read runs in
//! one read transaction, so it sees a single snapshot of the log and of `meta`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension};

use super::{Meta, key_from_blob, key_range, open_connection, read_meta, schema};
use crate::store::watch::History;
use crate::store::{Error, Event, EventKind, KeyValue, ListRequest, ListResponse, Revision};

/// Idle connections kept for reuse; more are opened under load and closed afterwards.
const IDLE_READERS: usize = 4;

#[derive(Clone)]
pub(super) struct Readers {
    path: Arc<PathBuf>,
    idle: Arc<Mutex<Vec<Connection>>>,
}

impl Readers {
    pub(super) fn new(path: PathBuf) -> Self {
        Readers {
            path: Arc::new(path),
            idle: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Runs `read` on a pooled connection in a blocking task.
    async fn with<T, F>(&self, read: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, Error> + Send + 'static,
    {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = this.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let mut conn = match pooled {
                Some(conn) => conn,
                None => {
                    let conn = open_connection(&this.path)?;
                    conn.pragma_update(None, "query_only", true)
                        .map_err(|e| Error::backend("configure reader", e))?;
                    conn
                }
            };
            let result = read(&mut conn);
            let mut idle = this.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < IDLE_READERS {
                idle.push(conn);
            }
            result
        })
        .await
        .map_err(|e| Error::backend("run read task", e))?
    }

    pub(super) async fn meta(&self) -> Result<Meta, Error> {
        self.with(|conn| read_meta(conn)).await
    }

    pub(super) async fn get(&self, key: &str) -> Result<Option<KeyValue>, Error> {
        let key = key.to_string();
        self.with(move |conn| {
            let row = conn
                .prepare_cached(schema::LATEST)
                .and_then(|mut s| {
                    s.query_row([key.as_bytes()], |row| {
                        Ok((
                            row.get::<_, i64>(0)?,
                            row.get::<_, i64>(1)?,
                            row.get::<_, bool>(2)?,
                            row.get::<_, Option<Vec<u8>>>(3)?,
                        ))
                    })
                    .optional()
                })
                .map_err(|e| Error::backend("get", e))?;
            Ok(match row {
                Some((rev, create_rev, false, value)) => Some(KeyValue {
                    key,
                    value: Bytes::from(value.unwrap_or_default()),
                    create_revision: create_rev,
                    mod_revision: rev,
                }),
                _ => None,
            })
        })
        .await
    }

    pub(super) async fn list(&self, request: ListRequest) -> Result<ListResponse, Error> {
        self.with(move |conn| {
            let tx = conn
                .transaction()
                .map_err(|e| Error::backend("begin list", e))?;
            let meta = read_meta(&tx)?;
            let revision = request.revision.unwrap_or(meta.current);
            check_revision(&meta, revision)?;
            let (mut start, end) = key_range(&request.prefix);
            if let Some(after) = &request.start_after {
                // The smallest key after `after` is `after` followed by a zero byte.
                let mut next = after.as_bytes().to_vec();
                next.push(0);
                start = start.max(next);
            }
            let limit = request.limit.unwrap_or(usize::MAX);
            let mut latest = tx
                .prepare_cached(schema::LIST_LATEST)
                .map_err(|e| Error::backend("list", e))?;
            let mut value_of = tx
                .prepare_cached(schema::ROW_VALUE)
                .map_err(|e| Error::backend("list", e))?;
            let mut rows = latest
                .query((start, end, revision))
                .map_err(|e| Error::backend("list", e))?;
            let mut kvs = Vec::new();
            let mut count = 0u64;
            while let Some(row) = rows.next().map_err(|e| Error::backend("list", e))? {
                let deleted: bool = row.get(2).map_err(|e| Error::backend("list", e))?;
                if deleted {
                    continue;
                }
                count += 1;
                if kvs.len() >= limit {
                    continue;
                }
                let key: Vec<u8> = row.get(0).map_err(|e| Error::backend("list", e))?;
                let rev: i64 = row.get(1).map_err(|e| Error::backend("list", e))?;
                let (create_revision, value) = value_of
                    .query_row([rev], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, Option<Vec<u8>>>(1)?))
                    })
                    .map_err(|e| Error::backend("list", e))?;
                kvs.push(KeyValue {
                    key: key_from_blob(key)?,
                    value: Bytes::from(value.unwrap_or_default()),
                    create_revision,
                    mod_revision: rev,
                });
            }
            let more = count > kvs.len() as u64;
            Ok(ListResponse {
                kvs,
                revision,
                count,
                more,
            })
        })
        .await
    }
}

fn check_revision(meta: &Meta, revision: Revision) -> Result<(), Error> {
    if revision < meta.compacted {
        return Err(Error::Compacted {
            requested: revision,
            compacted: meta.compacted,
        });
    }
    if revision > meta.current {
        return Err(Error::FutureRevision {
            requested: revision,
            current: meta.current,
        });
    }
    Ok(())
}

#[async_trait]
impl History for Readers {
    async fn events_after(
        &self,
        prefix: &str,
        after: Revision,
        limit: usize,
    ) -> Result<Vec<Event>, Error> {
        let prefix = prefix.to_string();
        self.with(move |conn| {
            let tx = conn
                .transaction()
                .map_err(|e| Error::backend("begin watch replay", e))?;
            let meta = read_meta(&tx)?;
            check_revision(&meta, after)?;
            let (start, end) = key_range(&prefix);
            let mut stmt = tx
                .prepare_cached(schema::EVENTS_AFTER)
                .map_err(|e| Error::backend("watch replay", e))?;
            let rows = stmt
                .query_map((after, start, end, limit as i64), event_row)
                .map_err(|e| Error::backend("watch replay", e))?;
            let mut events = Vec::new();
            for row in rows {
                let row = row.map_err(|e| Error::backend("watch replay", e))?;
                events.push(row.into_event()?);
            }
            Ok(events)
        })
        .await
    }
}

struct EventRow {
    rev: i64,
    key: Vec<u8>,
    create_rev: i64,
    prev_rev: i64,
    deleted: bool,
    value: Option<Vec<u8>>,
    prev_create_rev: Option<i64>,
    prev_value: Option<Vec<u8>>,
}

fn event_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<EventRow> {
    Ok(EventRow {
        rev: row.get(0)?,
        key: row.get(1)?,
        create_rev: row.get(2)?,
        prev_rev: row.get(3)?,
        deleted: row.get(4)?,
        value: row.get(5)?,
        prev_create_rev: row.get(6)?,
        prev_value: row.get(7)?,
    })
}

impl EventRow {
    fn into_event(self) -> Result<Event, Error> {
        let key = key_from_blob(self.key)?;
        let prev = match (self.prev_rev, self.prev_create_rev) {
            (0, _) => None,
            (prev_rev, Some(create_revision)) => Some(KeyValue {
                key: key.clone(),
                value: Bytes::from(self.prev_value.unwrap_or_default()),
                create_revision,
                mod_revision: prev_rev,
            }),
            (prev_rev, None) => {
                return Err(Error::backend(
                    "watch replay",
                    format!("row {} points at missing row {prev_rev}", self.rev),
                ));
            }
        };
        let (kind, kv) = if self.deleted {
            let last = prev.clone().ok_or_else(|| {
                Error::backend(
                    "watch replay",
                    format!("delete row {} has no previous row", self.rev),
                )
            })?;
            (
                EventKind::Delete,
                KeyValue {
                    mod_revision: self.rev,
                    ..last
                },
            )
        } else {
            let kind = if prev.is_some() {
                EventKind::Update
            } else {
                EventKind::Create
            };
            (
                kind,
                KeyValue {
                    key,
                    value: Bytes::from(self.value.unwrap_or_default()),
                    create_revision: self.create_rev,
                    mod_revision: self.rev,
                },
            )
        };
        Ok(Event { kind, kv, prev })
    }
}
