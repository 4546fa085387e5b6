//! The embedded SQLite datastore at `<data-dir>/server/db/state.db`.
//!
//! Writes go to one writer thread ([`writer`]) that commits them in groups: everything queued
//! while the previous commit's fsync ran is committed together, so concurrent writers share an
//! fsync and a write is acknowledged only once it is durable (WAL with `synchronous = FULL`).
//! The key index is in memory ([`KeyIndex`]), rebuilt from the log at open and updated by the
//! writer after each commit; reads look keys up there and fetch values by revision on a small
//! pool of connections in blocking tasks. WAL gives each read a snapshot, so reads never wait
//! for writes or for compaction. A lock file next to the database keeps a second process from
//! opening it.

mod reader;
mod schema;
mod writer;

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use async_trait::async_trait;
use bytes::Bytes;
use rusqlite::{Connection, OpenFlags};

use super::index::{KeyIndex, Version};
use super::watch::{self, EventHub};
use super::{Error, KeyValue, ListRequest, ListResponse, Revision, Store, WatchStream};
use reader::Readers;
use writer::{Op, Reply, Request};

/// The SQLite-backed store. Cheap to clone; the database closes when the last clone drops,
/// after every queued write has been committed.
#[derive(Clone)]
pub struct SqliteStore {
    shared: Arc<Shared>,
}

struct Shared {
    requests: Option<std::sync::mpsc::Sender<Request>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    readers: Readers,
    hub: EventHub,
    path: PathBuf,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Closing the queue lets the writer finish what is queued and close the database.
        drop(self.requests.take());
        let handle = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    ///
    /// # Errors
    /// Fails when the directory cannot be created, another process holds the database, or
    /// the file is not a kedge database of a schema this version understands.
    pub fn open(path: &Path) -> Result<SqliteStore, Error> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::backend("create database directory", with_path(dir, e)))?;
        }
        let lock = lock_database(path)?;
        let conn = open_connection(path)?;
        init_schema(&conn)?;
        vacuum_if_mostly_free(&conn)?;
        let meta = read_meta(&conn)?;
        let index: SharedIndex = Arc::new(RwLock::new(load_index(&conn, &meta)?));
        let hub = EventHub::default();
        let (requests, queue) = std::sync::mpsc::channel();
        let writer = writer::Writer::new(conn, hub.clone(), index.clone(), meta);
        let handle = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || {
                writer.run(queue);
                // The lock outlives the writer's connection.
                drop(lock);
            })
            .map_err(|e| Error::backend("start writer thread", e))?;
        Ok(SqliteStore {
            shared: Arc::new(Shared {
                requests: Some(requests),
                writer: Mutex::new(Some(handle)),
                readers: Readers::new(path.to_path_buf(), index),
                hub,
                path: path.to_path_buf(),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Database size in bytes: the main file plus its write-ahead log.
    pub fn disk_usage(&self) -> u64 {
        let wal = self.shared.path.with_extension("db-wal");
        [self.shared.path.as_path(), wal.as_path()]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }

    /// Whether compaction still has rows to remove (it runs in the background).
    ///
    /// # Errors
    /// When the metadata cannot be read.
    pub async fn compaction_pending(&self) -> Result<bool, Error> {
        let meta = self.shared.readers.meta().await?;
        Ok(meta.compact_progress < meta.compacted)
    }

    async fn write(&self, op: Op) -> Reply {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let requests = self.shared.requests.as_ref().ok_or(Error::Closed)?;
        requests
            .send(Request { op, reply })
            .map_err(|_| Error::Closed)?;
        answer.await.map_err(|_| Error::Closed)?
    }

    /// A write that changes a key, and so always answers with one.
    async fn write_key(&self, op: Op) -> Result<KeyValue, Error> {
        self.write(op)
            .await?
            .ok_or_else(|| Error::backend("write", "the writer returned no key"))
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn current_revision(&self) -> Result<Revision, Error> {
        Ok(self.shared.readers.index().current())
    }

    async fn compacted_revision(&self) -> Result<Revision, Error> {
        Ok(self.shared.readers.index().compacted())
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>, Error> {
        self.shared.readers.get(key).await
    }

    async fn list(&self, request: &ListRequest) -> Result<ListResponse, Error> {
        self.shared.readers.list(request.clone()).await
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue, Error> {
        self.write_key(Op::Create {
            key: key.to_string(),
            value,
        })
        .await
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue, Error> {
        self.write_key(Op::Update {
            key: key.to_string(),
            value,
            expected,
        })
        .await
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue, Error> {
        self.write_key(Op::Delete {
            key: key.to_string(),
            expected,
        })
        .await
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, Error> {
        watch::watch(
            &self.shared.hub,
            Arc::new(self.shared.readers.clone()),
            prefix.to_string(),
            after,
        )
        .await
    }

    async fn compact(&self, revision: Revision) -> Result<(), Error> {
        self.write(Op::Compact { revision }).await.map(|_| ())
    }
}

fn with_path(path: &Path, error: std::io::Error) -> std::io::Error {
    std::io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

/// Takes an exclusive lock on `<db>.lock`, held for as long as the store is open.
fn lock_database(path: &Path) -> Result<File, Error> {
    let lock_path = path.with_extension("db.lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| Error::backend("open lock file", with_path(&lock_path, e)))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::backend(
            "lock database",
            format!(
                "{} is in use by another process (is another kedge server running with this data dir?)",
                path.display()
            ),
        )),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(Error::backend("lock database", with_path(&lock_path, e)))
        }
    }
}

fn open_connection(path: &Path) -> Result<Connection, Error> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn =
        Connection::open_with_flags(path, flags).map_err(|e| Error::backend("open database", e))?;
    conn.execute_batch(schema::CONNECTION_PRAGMAS)
        .map_err(|e| Error::backend("configure connection", e))?;
    Ok(conn)
}

fn init_schema(conn: &Connection) -> Result<(), Error> {
    conn.execute_batch(schema::CREATE_PRAGMAS)
        .map_err(|e| Error::backend("configure new database", e))?;
    conn.execute_batch(schema::CREATE_SCHEMA)
        .map_err(|e| Error::backend("create schema", e))?;
    conn.execute(schema::INIT_META, [schema::SCHEMA_VERSION])
        .map_err(|e| Error::backend("initialise metadata", e))?;
    let version: i64 = conn
        .query_row(schema::READ_META, [], |row| row.get(0))
        .map_err(|e| Error::backend("read metadata", e))?;
    if version != schema::SCHEMA_VERSION {
        return Err(Error::backend(
            "check schema version",
            format!(
                "the database has schema version {version}, this kedge understands {}; use a kedge release that matches the data",
                schema::SCHEMA_VERSION
            ),
        ));
    }
    Ok(())
}

/// Free space worth a `VACUUM` at open: at least this many bytes, and half the file.
const VACUUM_THRESHOLD_BYTES: i64 = 16 << 20;

/// Gives free pages back to the file system when they are most of the file, as after a
/// mass deletion. Done at open, before anything else uses the database.
fn vacuum_if_mostly_free(conn: &Connection) -> Result<(), Error> {
    let pragma = |sql: &str| -> Result<i64, Error> {
        conn.query_row(sql, [], |r| r.get(0))
            .map_err(|e| Error::backend("read database size", e))
    };
    let free = pragma(schema::FREE_PAGES)?;
    let total = pragma(schema::PAGE_COUNT)?;
    let page_size = pragma(schema::PAGE_SIZE)?;
    tracing::debug!(free, total, page_size, "datastore pages");
    if free * page_size >= VACUUM_THRESHOLD_BYTES && free * 2 >= total {
        tracing::info!(
            free_bytes = free * page_size,
            "returning free space of the datastore to the file system"
        );
        conn.execute_batch(schema::VACUUM)
            .map_err(|e| Error::backend("vacuum", e))?;
    }
    Ok(())
}

/// The key index shared by the writer (which updates it after each commit) and the readers.
type SharedIndex = Arc<RwLock<KeyIndex<()>>>;

/// Rebuilds the key index from the log.
fn load_index(conn: &Connection, meta: &Meta) -> Result<KeyIndex<()>, Error> {
    let mut index = KeyIndex::default();
    let mut stmt = conn
        .prepare(schema::LOAD_INDEX)
        .map_err(|e| Error::backend("load key index", e))?;
    let mut rows = stmt
        .query([])
        .map_err(|e| Error::backend("load key index", e))?;
    let mut last = 0;
    while let Some(row) = rows
        .next()
        .map_err(|e| Error::backend("load key index", e))?
    {
        let (rev, key, create_rev, deleted): (i64, Vec<u8>, i64, bool) =
            (|| Ok::<_, rusqlite::Error>((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))()
                .map_err(|e| Error::backend("load key index", e))?;
        index.record(
            &key_from_blob(key)?,
            Version {
                revision: rev,
                create_revision: create_rev,
                value: (!deleted).then_some(()),
            },
        );
        last = rev;
    }
    // Compaction may have removed the last rows (deletes), but never past its revision.
    index.restore(last.max(meta.compacted), meta.compacted);
    Ok(index)
}

/// What `meta` holds.
#[derive(Clone, Copy, Debug)]
struct Meta {
    compacted: Revision,
    compact_progress: Revision,
}

fn read_meta(conn: &Connection) -> Result<Meta, Error> {
    conn.prepare_cached(schema::READ_META)
        .and_then(|mut s| {
            s.query_row([], |row| {
                Ok(Meta {
                    compacted: row.get(1)?,
                    compact_progress: row.get(2)?,
                })
            })
        })
        .map_err(|e| Error::backend("read metadata", e))
}

/// The key range `[start, end)` of a prefix, as the blobs stored in the `key` column.
/// Keys are UTF-8, which never contains the byte 0xff, so `[0xff]` bounds every key.
fn key_range(prefix: &str) -> (Vec<u8>, Vec<u8>) {
    let start = prefix.as_bytes().to_vec();
    let end = super::prefix_end(&start).unwrap_or_else(|| vec![0xff]);
    (start, end)
}

fn key_from_blob(blob: Vec<u8>) -> Result<String, Error> {
    String::from_utf8(blob).map_err(|e| Error::backend("decode key", e))
}
