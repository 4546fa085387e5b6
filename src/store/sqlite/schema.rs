//! The SQLite schema and every statement the store runs. The only file with SQL in it.
//!
//! One append-only table `log` holds every write: its revision is the primary key, so new
//! rows land on the last page and a commit writes little more than the bytes of its values.
//! A delete is a row with `deleted = 1` and no value, pointing at the row it deleted through
//! `prev_rev`; an update points at the row it replaced the same way. There is deliberately no
//! index on `key`: the key index lives in memory (`store/index.rs`), rebuilt from this table at
//! open, so that commits touch no scattered index pages (SD cards wear by pages written).
//! Compaction removes the rows that a later row at or before the compacted revision
//! superseded, and deletes themselves. `meta` holds the compacted revision and how far the
//! removal got; it is written only by compaction.

/// Applied to every connection.
pub const CONNECTION_PRAGMAS: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
PRAGMA busy_timeout = 10000;
PRAGMA cache_size = -2000;
PRAGMA journal_size_limit = 33554432;
PRAGMA wal_autocheckpoint = 2000;
";

/// Must run before the first table exists. No auto-vacuum: its pointer-map pages would be
/// rewritten by every commit that grows the file. Pages freed by compaction are reused by
/// later writes, and [`VACUUM`] at open returns them when most of the file is free.
pub const CREATE_PRAGMAS: &str = "PRAGMA auto_vacuum = NONE;";

/// Rewrites the file without its free pages. In WAL mode the file shrinks only when the
/// rewrite is checkpointed, hence the checkpoint.
pub const VACUUM: &str = "VACUUM; PRAGMA wal_checkpoint(TRUNCATE);";

pub const SCHEMA_VERSION: i64 = 1;

pub const CREATE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    schema_version INTEGER NOT NULL,
    compact_rev INTEGER NOT NULL,
    compact_progress INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS log (
    rev INTEGER PRIMARY KEY,
    key BLOB NOT NULL,
    create_rev INTEGER NOT NULL,
    prev_rev INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    value BLOB
);
";

pub const INIT_META: &str = "INSERT OR IGNORE INTO meta (id, schema_version, compact_rev, compact_progress) VALUES (1, ?1, 0, 0)";

pub const READ_META: &str =
    "SELECT schema_version, compact_rev, compact_progress FROM meta WHERE id = 1";

pub const SET_COMPACT: &str = "UPDATE meta SET compact_rev = ?1 WHERE id = 1";

pub const SET_COMPACT_PROGRESS: &str = "UPDATE meta SET compact_progress = ?1 WHERE id = 1";

/// Every row in revision order, for rebuilding the key index: `rev, key, create_rev, deleted`.
pub const LOAD_INDEX: &str = "SELECT rev, key, create_rev, deleted FROM log ORDER BY rev";

pub const INSERT: &str = "INSERT INTO log (rev, key, create_rev, prev_rev, deleted, value) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/// The value of one row.
pub const ROW_VALUE: &str = "SELECT value FROM log WHERE rev = ?1";

/// Events after revision `?1` for keys in `[?2, ?3)`, with the row each one replaced.
pub const EVENTS_AFTER: &str = "
SELECT l.rev, l.key, l.create_rev, l.prev_rev, l.deleted, l.value, p.create_rev, p.value
FROM log l LEFT JOIN log p ON p.rev = l.prev_rev
WHERE l.rev > ?1 AND l.key >= ?2 AND l.key < ?3
ORDER BY l.rev LIMIT ?4";

/// The next rows to compact: `rev, prev_rev, deleted` in `(?1, ?2]`.
pub const COMPACT_SCAN: &str =
    "SELECT rev, prev_rev, deleted FROM log WHERE rev > ?1 AND rev <= ?2 ORDER BY rev LIMIT ?3";

pub const DELETE_ROW: &str = "DELETE FROM log WHERE rev = ?1";

pub const FREE_PAGES: &str = "PRAGMA freelist_count";

pub const PAGE_COUNT: &str = "PRAGMA page_count";

pub const PAGE_SIZE: &str = "PRAGMA page_size";
