//! Embedded-adapter behaviour beyond the port contract: group-commit isolation, ordering of
//! unawaited deletes across a queue reopen, timer-driven wakeups and durable dead-lettering.

use aos_core::ports::{Condition, Item, OutgoingMessage, Queue, QueueSpec, Store, StoreError, WriteOp};
use aos_store::{Durability, EmbeddedDb, EmbeddedQueue, EmbeddedStore};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn open(path: &Path) -> Arc<EmbeddedDb> {
    EmbeddedDb::open(path, Durability::Fsync).expect("open database")
}

fn specs() -> Vec<QueueSpec> {
    vec![
        QueueSpec { name: "work".into(), max_receives: 1, dead_letter: Some("dead".into()) },
        QueueSpec { name: "dead".into(), max_receives: 10, dead_letter: None },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_conditions_in_a_commit_group_do_not_roll_back_the_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::new(open(&dir.path().join("db.sqlite")));
    let racing = (0..64).map(|i| store.put(Item::new("p", "contended", json!(i)), Condition::NotExists));
    let independent = (0..64).map(|i| store.put(Item::new("p", format!("own{i}"), json!(i)), Condition::NotExists));
    let (racing, independent) = futures::join!(futures::future::join_all(racing), futures::future::join_all(independent));
    assert_eq!(racing.iter().filter(|r| r.is_ok()).count(), 1, "exactly one NotExists put wins");
    assert!(racing.iter().all(|r| matches!(r, Ok(1) | Err(StoreError::ConditionFailed))));
    assert!(independent.iter().all(|r| *r == Ok(1)), "independent puts must all commit");
    for i in 0..64 {
        assert!(store.get("p", &format!("own{i}")).await.expect("get").is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_transactions_are_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::new(open(&dir.path().join("db.sqlite")));
    let ops = (0..101).map(|i| WriteOp::Put { item: Item::new("p", format!("k{i}"), json!(i)), condition: Condition::Always }).collect();
    assert!(matches!(store.transact_write(ops).await, Err(StoreError::Backend(_))));
    assert_eq!(store.get("p", "k0").await.expect("get"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unawaited_deletes_are_applied_before_a_queue_reopens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(&dir.path().join("db.sqlite"));
    for round in 0..5 {
        let queue = EmbeddedQueue::open(db.clone(), specs()).expect("queue");
        assert_eq!(queue.depth("work").await.expect("depth"), 0, "round {round}: deleted messages came back");
        let batch = (0..10).map(|i| OutgoingMessage::new(format!("m{i}"))).collect();
        queue.send("work", batch).await.expect("send");
        let got = queue.receive("work", 10, Duration::from_secs(60), Duration::ZERO).await.expect("receive");
        assert_eq!(got.len(), 10);
        for m in got {
            queue.delete("work", &m.receipt).await.expect("delete");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_receivers_wake_when_visibility_expires() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = EmbeddedQueue::open(open(&dir.path().join("db.sqlite")), specs()).expect("queue");
    queue.send("dead", vec![OutgoingMessage::new("x")]).await.expect("send");
    let first = queue.receive("dead", 1, Duration::from_millis(150), Duration::ZERO).await.expect("receive");
    assert_eq!(first.len(), 1);
    let start = Instant::now();
    let again = queue.receive("dead", 1, Duration::from_secs(60), Duration::from_secs(5)).await.expect("receive");
    let waited = start.elapsed();
    assert_eq!(again.len(), 1, "the message must come back within the wait");
    assert!(waited >= Duration::from_millis(100), "came back early, after {waited:?}");
    assert!(waited < Duration::from_millis(600), "woke late, after {waited:?}: waiters must sleep until the due time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_lettering_is_durable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db.sqlite");
    {
        let queue = EmbeddedQueue::open(open(&path), specs()).expect("queue");
        queue.send("work", vec![OutgoingMessage::new("poison")]).await.expect("send");
        let first = queue.receive("work", 1, Duration::ZERO, Duration::ZERO).await.expect("receive");
        assert_eq!(first.len(), 1);
        let second = queue.receive("work", 1, Duration::ZERO, Duration::ZERO).await.expect("receive");
        assert!(second.is_empty(), "max_receives = 1: the second receive dead-letters instead");
        assert_eq!(queue.depth("dead").await.expect("depth"), 1);
    }
    let queue = EmbeddedQueue::open(open(&path), specs()).expect("queue");
    assert_eq!(queue.depth("work").await.expect("depth"), 0);
    let dead = queue.receive("dead", 1, Duration::from_secs(60), Duration::ZERO).await.expect("receive");
    assert_eq!(dead.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["poison"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_send_still_becomes_receivable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = EmbeddedQueue::open(open(&dir.path().join("db.sqlite")), specs()).expect("queue");
    // Polled once (so the write is queued), then dropped before the commit is acknowledged.
    let mut send = Box::pin(queue.send("dead", vec![OutgoingMessage::new("orphan")]));
    assert!(futures::poll!(send.as_mut()).is_pending());
    drop(send);
    let got = queue.receive("dead", 1, Duration::from_secs(60), Duration::from_secs(5)).await.expect("receive");
    assert_eq!(got.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["orphan"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_close_checkpoints_the_wal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db.sqlite");
    {
        let store = EmbeddedStore::new(open(&path));
        store.put(Item::new("p", "a", json!(1)), Condition::Always).await.expect("put");
        assert!(store.get("p", "a").await.expect("get").is_some());
    }
    assert!(!dir.path().join("db.sqlite-wal").exists(), "the WAL should be folded into the database on close");
    let store = EmbeddedStore::new(open(&path));
    assert!(store.get("p", "a").await.expect("get").is_some());
}

/// A clock that stands where the test puts it.
struct StandingClock(std::sync::atomic::AtomicI64);

#[async_trait::async_trait]
impl aos_core::ports::Clock for StandingClock {
    fn now_ms(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
    async fn sleep_until(&self, _at_ms: i64) {
        unreachable!("the store never sleeps")
    }
}

/// Expiry is judged by the store's clock: an item is visible up to its second and gone after,
/// for reads, queries and conditions alike, without waiting.
#[tokio::test]
async fn items_expire_by_the_stores_clock() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Near the system's time: the reaper, which only reclaims space, keeps the system clock.
    let now_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let clock = Arc::new(StandingClock(std::sync::atomic::AtomicI64::new(now_s * 1000)));
    let store = EmbeddedStore::new(open(&dir.path().join("db.sqlite"))).with_clock(clock.clone());
    store.put(Item::new("p", "s", json!(1)).expiring_at(now_s + 3600), Condition::NotExists).await.expect("put");
    let set = |ms: i64| clock.0.store(ms, std::sync::atomic::Ordering::SeqCst);
    set((now_s + 3600) * 1000 - 1);
    assert!(store.get("p", "s").await.expect("get").is_some(), "up to its second");
    set((now_s + 3600) * 1000);
    assert!(store.get("p", "s").await.expect("get").is_none(), "expired");
    assert!(store.query(aos_core::ports::Query::partition("p")).await.expect("query").items.is_empty());
    assert_eq!(store.put(Item::new("p", "s", json!(2)), Condition::NotExists).await, Ok(1), "an expired item counts as absent");
}
