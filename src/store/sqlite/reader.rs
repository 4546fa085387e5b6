//! Reads: keys are looked up in the in-memory index, values fetched by revision on a pool of
//! connections in blocking tasks.
//!
//! A value can vanish between the index lookup and the fetch only if compaction removed it,
//! which happens only to versions older than the compacted revision: the read then fails with
//! [`Error::Compacted`] if it asked for such a revision, and is retried otherwise (a `get`
//! that raced with an update and a compaction).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLockReadGuard};

use async_trait::async_trait;
use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension};

use super::{Meta, SharedIndex, key_from_blob, key_range, open_connection, read_meta, schema};
use crate::store::index::KeyIndex;
use crate::store::watch::History;
use crate::store::{Error, Event, EventKind, KeyValue, ListRequest, ListResponse, Revision};

/// Idle connections kept for reuse; more are opened under load and closed afterwards.
const IDLE_READERS: usize = 4;
/// Attempts of a read that keeps racing with compaction.
const ATTEMPTS: usize = 3;

#[derive(Clone)]
pub(super) struct Readers {
    path: Arc<PathBuf>,
    idle: Arc<Mutex<Vec<Connection>>>,
    index: SharedIndex,
}

/// A key found in the index, waiting for its value.
struct Wanted {
    key: String,
    revision: Revision,
    create_revision: Revision,
}

impl Readers {
    pub(super) fn new(path: PathBuf, index: SharedIndex) -> Self {
        Readers {
            path: Arc::new(path),
            idle: Arc::new(Mutex::new(Vec::new())),
            index,
        }
    }

    pub(super) fn index(&self) -> RwLockReadGuard<'_, KeyIndex<()>> {
        self.index.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `read` on a pooled connection in a blocking task.
    async fn with<T, F>(&self, read: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Readers, &mut Connection) -> Result<T, Error> + Send + 'static,
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
            let result = read(&this, &mut conn);
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
        self.with(|_, conn| read_meta(conn)).await
    }

    pub(super) async fn get(&self, key: &str) -> Result<Option<KeyValue>, Error> {
        let key = key.to_string();
        self.with(move |this, conn| {
            for _ in 0..ATTEMPTS {
                let wanted = this.index().latest(&key).map(|f| Wanted {
                    key: key.clone(),
                    revision: f.revision,
                    create_revision: f.create_revision,
                });
                let Some(wanted) = wanted else {
                    return Ok(None);
                };
                if let Some(kv) = fetch(conn, wanted)? {
                    return Ok(Some(kv));
                }
            }
            Err(Error::backend(
                "get",
                format!("{key} kept changing under compaction"),
            ))
        })
        .await
    }

    pub(super) async fn list(&self, request: ListRequest) -> Result<ListResponse, Error> {
        self.with(move |this, conn| {
            'attempt: for _ in 0..ATTEMPTS {
                let (wanted, count, revision) = {
                    let index = this.index();
                    let page = index.list(
                        &request.prefix,
                        request.start_after.as_deref(),
                        request.revision,
                        request.limit,
                    )?;
                    let wanted: Vec<Wanted> = page
                        .found
                        .iter()
                        .map(|f| Wanted {
                            key: f.key.to_string(),
                            revision: f.revision,
                            create_revision: f.create_revision,
                        })
                        .collect();
                    (wanted, page.count, page.revision)
                };
                let tx = conn
                    .transaction()
                    .map_err(|e| Error::backend("begin list", e))?;
                let mut kvs = Vec::with_capacity(wanted.len());
                for w in wanted {
                    match fetch(&tx, w)? {
                        Some(kv) => kvs.push(kv),
                        None => {
                            this.index().check_revision(revision)?;
                            continue 'attempt;
                        }
                    }
                }
                let more = count > kvs.len() as u64;
                return Ok(ListResponse {
                    kvs,
                    revision,
                    count,
                    more,
                });
            }
            Err(Error::backend("list", "kept racing with compaction"))
        })
        .await
    }
}

/// The value of a row found in the index; `None` if compaction removed it meanwhile.
fn fetch(conn: &Connection, wanted: Wanted) -> Result<Option<KeyValue>, Error> {
    let value: Option<Option<Vec<u8>>> = conn
        .prepare_cached(schema::ROW_VALUE)
        .and_then(|mut s| s.query_row([wanted.revision], |r| r.get(0)).optional())
        .map_err(|e| Error::backend("read value", e))?;
    Ok(value.map(|value| KeyValue {
        key: wanted.key,
        value: Bytes::from(value.unwrap_or_default()),
        create_revision: wanted.create_revision,
        mod_revision: wanted.revision,
    }))
}

#[async_trait]
impl History for Readers {
    async fn events_after(
        &self,
        prefix: &str,
        after: Revision,
        limit: usize,
    ) -> Result<Vec<Event>, Error> {
        self.index().check_revision(after)?;
        let prefix = prefix.to_string();
        self.with(move |_, conn| {
            let tx = conn
                .transaction()
                .map_err(|e| Error::backend("begin watch replay", e))?;
            // Checked again in the read's own snapshot: compaction may have moved on.
            let meta = read_meta(&tx)?;
            if after < meta.compacted {
                return Err(Error::Compacted {
                    requested: after,
                    compacted: meta.compacted,
                });
            }
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
