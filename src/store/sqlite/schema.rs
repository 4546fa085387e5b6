//! The SQLite schema and every statement the store runs. The only file with SQL in it.
//!
//! One append-only table `log` holds every write: its revision is the primary key, so the
//! log is also the watch history. A delete is a row with `deleted = 1` and no value, pointing
//! at the row it deleted through `prev_rev`. The index on `(key, rev, deleted)` answers "the
//! latest row of each key at revision R" from the index alone. Compaction removes the rows
//! that a later row at or before the compacted revision superseded, and deletes themselves.
//! `meta` holds the current and compacted revisions and how far compaction got.

/// Applied to every connection.
pub const CONNECTION_PRAGMAS: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
PRAGMA busy_timeout = 10000;
PRAGMA cache_size = -8000;
PRAGMA journal_size_limit = 33554432;
PRAGMA wal_autocheckpoint = 2000;
";

/// Must run before the first table exists: lets `incremental_vacuum` return free pages.
pub const CREATE_PRAGMAS: &str = "PRAGMA auto_vacuum = INCREMENTAL;";

pub const SCHEMA_VERSION: i64 = 1;

pub const CREATE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    schema_version INTEGER NOT NULL,
    current_rev INTEGER NOT NULL,
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
CREATE INDEX IF NOT EXISTS log_key_rev ON log (key, rev, deleted);
";

pub const INIT_META: &str = "INSERT OR IGNORE INTO meta (id, schema_version, current_rev, compact_rev, compact_progress) VALUES (1, ?1, ?2, 0, 0)";

pub const READ_META: &str =
    "SELECT schema_version, current_rev, compact_rev, compact_progress FROM meta WHERE id = 1";

pub const SET_CURRENT: &str = "UPDATE meta SET current_rev = ?1 WHERE id = 1";

pub const SET_COMPACT: &str = "UPDATE meta SET compact_rev = ?1 WHERE id = 1";

pub const SET_COMPACT_PROGRESS: &str = "UPDATE meta SET compact_progress = ?1 WHERE id = 1";

/// The latest row of a key: `rev, create_rev, deleted, value`.
pub const LATEST: &str =
    "SELECT rev, create_rev, deleted, value FROM log WHERE key = ?1 ORDER BY rev DESC LIMIT 1";

pub const INSERT: &str = "INSERT INTO log (rev, key, create_rev, prev_rev, deleted, value) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/// For each key in `[?1, ?2)`, its latest row at or before revision `?3`: `key, rev, deleted`.
/// SQLite fills the bare column `deleted` from the row holding `MAX(rev)`.
pub const LIST_LATEST: &str = "SELECT key, MAX(rev), deleted FROM log WHERE key >= ?1 AND key < ?2 AND rev <= ?3 GROUP BY key ORDER BY key";

/// The value of one row: `create_rev, value`.
pub const ROW_VALUE: &str = "SELECT create_rev, value FROM log WHERE rev = ?1";

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
