//! Damaged storage: a file with a corrupt page is refused at open with a message saying what to
//! do, a record that does not decode is `StoreError::Corrupt` (not a retryable backend error),
//! and the database files are private to their owner.

use aos_core::ports::{Condition, Item, Query, Store, StoreError};
use aos_store::{Durability, EmbeddedDb, EmbeddedStore};
use serde_json::json;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

const PAGE: u64 = 4096;

/// A database of a few hundred pages, closed (so the WAL is checkpointed into the file).
async fn filled(path: &Path) {
    let db = EmbeddedDb::open(path, Durability::Relaxed).expect("open");
    let store = EmbeddedStore::new(db.clone());
    let filler = "x".repeat(400);
    for i in 0..3000 {
        let item =
            Item::new(format!("p{}", i % 10), format!("s{i:05}"), json!({"i": i, "filler": filler})).with_index("g", format!("{i:05}"));
        store.put(item, Condition::Always).await.expect("put");
    }
    drop(store);
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_page_is_refused_at_open_with_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("aos.db");
    filled(&path).await;
    let len = std::fs::metadata(&path).expect("metadata").len();
    assert!(len > 100 * PAGE, "{len} bytes");
    // Overwrite a few whole pages in the middle of the file (b-tree pages of the items table or
    // its indexes) with garbage, as a torn write or a bad disk sector would.
    let mut f = std::fs::OpenOptions::new().write(true).open(&path).expect("open file");
    f.seek(SeekFrom::Start((len / 2 / PAGE) * PAGE)).expect("seek");
    f.write_all(&vec![0xA5; 4 * PAGE as usize]).expect("write");
    f.sync_all().expect("sync");
    drop(f);

    let err = EmbeddedDb::open(&path, Durability::Fsync).expect_err("a damaged file must not open");
    let StoreError::Corrupt(message) = &err else { panic!("expected Corrupt, got {err:?}") };
    let shown = path.display().to_string();
    assert!(message.contains(&shown), "names the file: {message}");
    assert!(message.contains("backup") && message.contains(".recover"), "says what to do: {message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_not_a_database_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("aos.db");
    std::fs::write(&path, vec![0x42; 8 * PAGE as usize]).expect("write");
    let err = EmbeddedDb::open(&path, Durability::Fsync).expect_err("not a database");
    assert!(matches!(&err, StoreError::Corrupt(m) if m.contains(".recover")), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_that_does_not_decode_is_corrupt_not_unavailable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("aos.db");
    let db = EmbeddedDb::open(&path, Durability::Fsync).expect("open");
    let store = EmbeddedStore::new(db.clone());
    store.put(Item::new("p", "bad", json!({"ok": true})), Condition::Always).await.expect("put");
    store.put(Item::new("p", "good", json!({"ok": true})), Condition::Always).await.expect("put");
    // Damage the record behind the store's back, as a bug or a hand edit would.
    let conn = rusqlite::Connection::open(&path).expect("second connection");
    conn.busy_timeout(std::time::Duration::from_secs(5)).expect("busy timeout");
    conn.execute("UPDATE items SET data = '{\"ok\": tru' WHERE pk = 'p' AND sk = 'bad'", []).expect("damage");
    drop(conn);

    let err = store.get("p", "bad").await.expect_err("undecodable");
    assert!(matches!(&err, StoreError::Corrupt(m) if m.contains("(p, bad)")), "{err:?}");
    assert!(err.to_string().starts_with("corrupt record: "), "{err}");
    let err = store.query(Query::partition("p")).await.expect_err("a page holding it");
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    let err = store.increment("p", "bad", "n", 1).await.expect_err("increment reads it too");
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    assert!(store.get("p", "good").await.expect("other records still read").is_some());
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("aos.db");
    let db = EmbeddedDb::open(&path, Durability::Fsync).expect("open");
    let store = EmbeddedStore::new(db.clone());
    store.put(Item::new("p", "s", json!({})), Condition::Always).await.expect("put");
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{}{suffix}", path.display());
        let mode = std::fs::metadata(&file).unwrap_or_else(|e| panic!("{file}: {e}")).permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file} has mode {mode:o}");
    }
    drop(store);
    drop(db);

    // A file an older version left world-readable is restricted when opened.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let db = EmbeddedDb::open(&path, Durability::Fsync).expect("reopen");
    assert_eq!(std::fs::metadata(&path).expect("metadata").permissions().mode() & 0o777, 0o600);
    drop(db);
}
