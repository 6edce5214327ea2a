//! Runs the port conformance suite against the embedded adapters, plus embedded-only checks:
//! durability across a clean reopen and across a crash (a child process that aborts).

use aos_core::ports::{Condition, Item, OutgoingMessage, Query, Queue, Secrets, Store};
use aos_store::conformance::{self, ConformanceQueues};
use aos_store::{Durability, EmbeddedDb, EmbeddedQueue, EmbeddedSecrets, EmbeddedStore};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn open(path: &Path) -> Arc<EmbeddedDb> {
    EmbeddedDb::open(path, Durability::Fsync).expect("open database")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_conformance() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::new(open(&dir.path().join("db.sqlite")));
    conformance::store_suite(&store).await;
    // Unique prefixes let the suite share a backend with itself.
    futures::join!(conformance::store_suite(&store), conformance::store_suite(&store));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_conformance_relaxed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = EmbeddedDb::open(&dir.path().join("db.sqlite"), Durability::Relaxed).expect("open");
    conformance::store_suite(&EmbeddedStore::new(db)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_conformance() {
    let dir = tempfile::tempdir().expect("tempdir");
    let names = ConformanceQueues::new("conf");
    let queue = EmbeddedQueue::open(open(&dir.path().join("db.sqlite")), names.specs()).expect("open queue");
    conformance::queue_suite(&queue, &names).await;
}

#[tokio::test(flavor = "current_thread")]
async fn queue_conformance_single_threaded_runtime() {
    let dir = tempfile::tempdir().expect("tempdir");
    let names = ConformanceQueues::new("conf");
    let queue = EmbeddedQueue::open(open(&dir.path().join("db.sqlite")), names.specs()).expect("open queue");
    conformance::queue_suite(&queue, &names).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_conformance() {
    let dir = tempfile::tempdir().expect("tempdir");
    conformance::secrets_suite(&EmbeddedSecrets::new(open(&dir.path().join("db.sqlite")))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_rejects_bad_specs_and_a_second_instance() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(&dir.path().join("db.sqlite"));
    let names = ConformanceQueues::new("q");
    let mut specs = names.specs();
    specs[1].dead_letter = Some("missing".into());
    let err = EmbeddedQueue::open(db.clone(), specs).expect_err("unknown dead-letter queue");
    assert_eq!(err, aos_core::ports::QueueError::UnknownQueue("missing".into()));
    let first = EmbeddedQueue::open(db.clone(), names.specs()).expect("first queue");
    assert!(EmbeddedQueue::open(db.clone(), names.specs()).is_err(), "two queues over one database");
    drop(first);
    EmbeddedQueue::open(db, names.specs()).expect("reopen after drop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reaper_only_reclaims_expired_items() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(&dir.path().join("db.sqlite"));
    let store = EmbeddedStore::new(db.clone());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64;
    for i in 0..5 {
        store.put(Item::new("p", format!("old{i}"), json!(i)).expiring_at(now - 1), Condition::Always).await.expect("put");
    }
    store.put(Item::new("p", "live", json!(1)).expiring_at(now + 3600), Condition::Always).await.expect("put");
    store.put(Item::new("p", "forever", json!(1)), Condition::Always).await.expect("put");
    assert_eq!(db.reap_expired().await.expect("reap"), 5);
    assert_eq!(db.reap_expired().await.expect("reap"), 0);
    let page = store.query(Query::partition("p")).await.expect("query");
    assert_eq!(page.items.iter().map(|i| i.sk.as_str()).collect::<Vec<_>>(), ["forever", "live"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_and_undelivered_messages_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db.sqlite");
    let names = ConformanceQueues::new("q");
    {
        let db = open(&path);
        let store = EmbeddedStore::new(db.clone());
        store.put(Item::new("p", "a", json!({"v": 1})).with_index("ix", "k"), Condition::Always).await.expect("put");
        store.increment("p", "n", "count", 3).await.expect("increment");
        EmbeddedSecrets::new(db.clone()).put("t", "key", "secret").await.expect("secret");
        let queue = EmbeddedQueue::open(db, names.specs()).expect("queue");
        let batch = ["kept", "in-flight", "deleted"].map(OutgoingMessage::new).to_vec();
        queue.send(&names.plain, batch).await.expect("send");
        queue.send(&names.plain, vec![OutgoingMessage::new("delayed").delayed(Duration::from_secs(3600))]).await.expect("send");
        let got = queue.receive(&names.plain, 3, Duration::from_secs(3600), Duration::ZERO).await.expect("receive");
        let deleted = got.iter().find(|m| m.body == "deleted").expect("received the message to delete");
        queue.delete(&names.plain, &deleted.receipt).await.expect("delete");
    }
    let db = open(&path);
    let store = EmbeddedStore::new(db.clone());
    let item = store.get("p", "a").await.expect("get").expect("item survived");
    assert_eq!((item.data, item.version, item.gsi1.map(|k| k.sk)), (json!({"v": 1}), 1, Some("k".to_string())));
    assert_eq!(store.increment("p", "n", "count", 1).await.expect("increment"), 4);
    assert_eq!(EmbeddedSecrets::new(db.clone()).get("t", "key").await.expect("secret").as_deref(), Some("secret"));
    let queue = EmbeddedQueue::open(db, names.specs()).expect("queue");
    assert_eq!(queue.depth(&names.plain).await.expect("depth"), 3, "deleted message gone, others kept");
    // In-flight state is not persisted: the in-flight message is visible again, counting from 1;
    // the delayed one keeps its stored due time.
    let got = queue.receive(&names.plain, 10, Duration::from_secs(60), Duration::ZERO).await.expect("receive");
    let mut bodies: Vec<(&str, u32)> = got.iter().map(|m| (m.body.as_str(), m.receive_count)).collect();
    bodies.sort_unstable();
    assert_eq!(bodies, [("in-flight", 1), ("kept", 1)]);
}

const CRASH_ENV: &str = "AOS_STORE_CRASH_DB";

/// The child half of `committed_writes_survive_a_crash`: writes, records that the writes were
/// acknowledged, then aborts without any destructor or clean shutdown running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_child() {
    let Ok(path) = std::env::var(CRASH_ENV) else { return };
    let db = open(Path::new(&path));
    let queue = EmbeddedQueue::open(db.clone(), ConformanceQueues::new("q").specs()).expect("queue");
    let sends = (0..20).map(|i| queue.send("q-plain", vec![OutgoingMessage::new(format!("m{i}"))]));
    for result in futures::future::join_all(sends).await {
        result.expect("send");
    }
    EmbeddedStore::new(db).put(Item::new("p", "a", json!(1)), Condition::Always).await.expect("put");
    std::fs::write(format!("{path}.acked"), b"20").expect("marker");
    std::process::abort();
}

#[test]
fn committed_writes_survive_a_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db.sqlite");
    let status = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["crash_child", "--exact", "--test-threads=1", "--nocapture"])
        .env(CRASH_ENV, &path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run child");
    assert!(!status.success(), "the child must have aborted");
    assert!(Path::new(&format!("{}.acked", path.display())).exists(), "the child crashed before its writes were acked");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let db = open(&path);
        assert!(EmbeddedStore::new(db.clone()).get("p", "a").await.expect("get").is_some(), "acked put lost");
        let queue = EmbeddedQueue::open(db, ConformanceQueues::new("q").specs()).expect("queue");
        assert_eq!(queue.depth("q-plain").await.expect("depth"), 20, "acked sends lost in the crash");
    });
}
