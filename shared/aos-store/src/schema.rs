//! The SQLite schema and connection settings shared by the store, queue and secrets tables.
//! Opening is idempotent; `user_version` guards against files written by a newer schema.

use crate::writer::db_err;
use aos_core::ports::StoreError;
use rusqlite::Connection;
use std::time::Duration;

const SCHEMA_VERSION: i64 = 1;

/// Bytes of WAL kept after a checkpoint.
const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// How long a connection waits for a lock held by another connection (checkpoints, recovery).
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items(
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    data TEXT NOT NULL,
    gsi1pk TEXT,
    gsi1sk TEXT,
    expires_at INTEGER,
    version INTEGER NOT NULL,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_gsi1 ON items(gsi1pk, gsi1sk, pk, sk) WHERE gsi1pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_expiry ON items(expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS messages(
    id TEXT NOT NULL PRIMARY KEY,
    queue TEXT NOT NULL,
    body TEXT NOT NULL,
    visible_at_ms INTEGER NOT NULL,
    receive_count INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS secrets(
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (tenant, name)
) WITHOUT ROWID;
";

/// Pages of WAL between automatic checkpoints (4 KiB pages).
const WAL_AUTOCHECKPOINT_PAGES: i64 = 8192;

/// Statements the writer cycles through (transaction control plus every adapter's writes).
const WRITER_STATEMENT_CACHE: usize = 64;

/// Prepares the write connection: WAL journal, sync level, schema.
pub(crate) fn init_writer(conn: &Connection, fsync: bool) -> Result<(), StoreError> {
    conn.set_prepared_statement_cache_capacity(WRITER_STATEMENT_CACHE);
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db_err)?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0)).map_err(db_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend(format!("could not enable WAL journal (got {mode})")));
    }
    conn.pragma_update(None, "synchronous", if fsync { "FULL" } else { "NORMAL" }).map_err(db_err)?;
    conn.pragma_update(None, "temp_store", "MEMORY").map_err(db_err)?;
    // The WAL is reused in place after each checkpoint (overwriting is cheaper to fsync than
    // appending); only one inflated by an unusually large transaction gets truncated back.
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT).map_err(db_err)?;
    // Checkpoint every ~32 MiB of WAL rather than SQLite's 4 MiB: hot pages (run records,
    // queue rows) are rewritten many times between checkpoints and copied back only once.
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES).map_err(db_err)?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(db_err)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Backend(format!("database schema version {version} is newer than this build supports ({SCHEMA_VERSION})")));
    }
    conn.execute_batch(SCHEMA).map_err(db_err)?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(db_err)
}

/// Problems `PRAGMA quick_check` reports at most (the first ones say enough).
const QUICK_CHECK_ROWS: u32 = 10;

/// `PRAGMA quick_check`: every page of every table and index is read and its structure checked
/// (not whether indexes match their tables, which `integrity_check` adds at several times the
/// cost). `Corrupt` with SQLite's findings when the file is damaged.
pub(crate) fn quick_check(conn: &Connection) -> Result<(), StoreError> {
    let findings = conn
        .prepare(&format!("PRAGMA quick_check({QUICK_CHECK_ROWS})"))
        .and_then(|mut stmt| stmt.query_map([], |row| row.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(db_err)?;
    if findings.len() == 1 && findings[0] == "ok" {
        return Ok(());
    }
    Err(StoreError::Corrupt(findings.join("; ")))
}

/// Statement variants a reader may cache: query shapes (range, cursor, direction, index).
const READER_STATEMENT_CACHE: usize = 64;

pub(crate) fn init_reader(conn: &Connection) -> Result<(), StoreError> {
    conn.set_prepared_statement_cache_capacity(READER_STATEMENT_CACHE);
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db_err)
}
