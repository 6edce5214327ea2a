//! Micro benchmark of the embedded adapters: durable sequential and concurrent (group-commit)
//! puts, point gets, queries and queue round trips. Prints ops/s and p50/p99 latency in µs.
//! Usage: `cargo run --release -p aos-store --example store_bench [DIR]` (DIR: where the DB goes).

use aos_core::ports::{Condition, Item, OutgoingMessage, Query, Queue, QueueSpec, SkRange, Store};
use aos_store::{Durability, EmbeddedDb, EmbeddedQueue, EmbeddedStore};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn report(name: &str, wall: Duration, mut latencies: Vec<Duration>) {
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)].as_secs_f64() * 1e6;
    println!(
        "{name:<40} {:>9.0} ops/s   p50 {:>7.1} µs   p99 {:>7.1} µs   (n={})",
        latencies.len() as f64 / wall.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        latencies.len()
    );
}

async fn timed<F: std::future::Future<Output = ()>>(latencies: &mut Vec<Duration>, f: F) {
    let start = Instant::now();
    f.await;
    latencies.push(start.elapsed());
}

async fn sequential_puts(store: &EmbeddedStore, n: usize) {
    let mut lat = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let item = Item::new("bench", format!("seq{i:06}"), json!({"i": i, "pad": "x".repeat(200)}));
        timed(&mut lat, async {
            store.put(item, Condition::Always).await.expect("put");
        })
        .await;
    }
    report("put, sequential (one commit each)", start.elapsed(), lat);
}

async fn concurrent_puts(store: &Arc<EmbeddedStore>, writers: usize, per_writer: usize) {
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let store = Arc::clone(store);
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(per_writer);
                for i in 0..per_writer {
                    let item = Item::new("bench", format!("c{w:02}-{i:06}"), json!({"i": i, "pad": "x".repeat(200)}));
                    timed(&mut lat, async {
                        store.put(item, Condition::Always).await.expect("put");
                    })
                    .await;
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for task in tasks {
        lat.extend(task.await.expect("writer task"));
    }
    report(&format!("put, {writers} concurrent (group commit)"), start.elapsed(), lat);
}

async fn gets(store: &EmbeddedStore, keys: usize, n: usize) {
    let mut lat = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let sk = format!("seq{:06}", (i * 7919) % keys);
        timed(&mut lat, async {
            assert!(store.get("bench", &sk).await.expect("get").is_some());
        })
        .await;
    }
    report("get (point lookup)", start.elapsed(), lat);
}

async fn queries(store: &EmbeddedStore, keys: usize, n: usize) {
    let mut lat = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let from = format!("seq{:06}", (i * 7919) % (keys - 10));
        let query = Query { sk: SkRange::Between(from, "seq999999".into()), limit: 10, ..Query::partition("bench") };
        timed(&mut lat, async {
            assert_eq!(store.query(query).await.expect("query").items.len(), 10);
        })
        .await;
    }
    report("query, 10 items", start.elapsed(), lat);
}

async fn round_trips(queue: &Arc<EmbeddedQueue>, name: &str, workers: usize, per_worker: usize) {
    let start = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (queue, name) = (Arc::clone(queue), name.to_string());
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(per_worker);
                for i in 0..per_worker {
                    timed(&mut lat, async {
                        queue.send(&name, vec![OutgoingMessage::new(format!("m{i}"))]).await.expect("send");
                        let got = queue.receive(&name, 1, Duration::from_secs(30), Duration::from_secs(5)).await.expect("receive");
                        queue.delete(&name, &got[0].receipt).await.expect("delete");
                    })
                    .await;
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for task in tasks {
        lat.extend(task.await.expect("queue task"));
    }
    report(&format!("send+receive+delete, {workers} concurrent"), start.elapsed(), lat);
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let dir = match std::env::args().nth(1) {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .expect("temporary directory");
    for durability in [Durability::Fsync, Durability::Relaxed] {
        println!("-- durability {durability:?}");
        let db = EmbeddedDb::open(&dir.path().join(format!("{durability:?}.sqlite")), durability).expect("open");
        let store = Arc::new(EmbeddedStore::new(db.clone()));
        sequential_puts(&store, 2000).await;
        concurrent_puts(&store, 16, 500).await;
        gets(&store, 2000, 100_000).await;
        queries(&store, 2000, 20_000).await;
        let spec = QueueSpec { name: "bench".into(), max_receives: 5, dead_letter: None };
        let queue = Arc::new(EmbeddedQueue::open(db, vec![spec]).expect("queue"));
        round_trips(&queue, "bench", 1, 2000).await;
        round_trips(&queue, "bench", 16, 500).await;
    }
}
