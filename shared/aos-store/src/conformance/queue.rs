//! `Queue` conformance checks: delivery, delay, visibility, receipts, long polling,
//! dead-lettering and at-least-once delivery under concurrent receivers. Timings are multiples
//! of `ConformanceQueues::tick`, so slow backends (SQS: whole seconds) can use a larger unit.

use super::ok;
use aos_core::ports::{OutgoingMessage, Queue, QueueError, QueueSpec, ReceivedMessage};
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The queues the suite uses. They must be empty when the suite starts and used by nothing else
/// while it runs; every check leaves them empty.
#[derive(Debug, Clone)]
pub struct ConformanceQueues {
    /// A queue without dead-lettering.
    pub plain: String,
    /// A queue whose messages move to `dead_letter` after `max_receives` receives.
    pub limited: String,
    pub dead_letter: String,
    pub max_receives: u32,
    /// Time unit of delays and visibility timeouts.
    pub tick: Duration,
    /// Whether `depth` is exact right after a change (SQS's approximate counts lag).
    pub exact_depth: bool,
    /// Whether a stale receipt (of a message received again since) is rejected with `BadReceipt`.
    /// SQS accepts it: the request succeeds and, per AWS, leaves the message alone, while moto
    /// acts on it; so when false, stale receipts need only not fail otherwise.
    pub stale_receipts_rejected: bool,
}

impl ConformanceQueues {
    /// Names under `prefix`, two receives before dead-lettering, a 50 ms tick, exact depth.
    pub fn new(prefix: &str) -> Self {
        Self {
            plain: format!("{prefix}-plain"),
            limited: format!("{prefix}-limited"),
            dead_letter: format!("{prefix}-dead"),
            max_receives: 2,
            tick: Duration::from_millis(50),
            exact_depth: true,
            stale_receipts_rejected: true,
        }
    }

    /// The specs to create these queues with.
    pub fn specs(&self) -> Vec<QueueSpec> {
        let spec = |name: &str, dead_letter: Option<&str>| QueueSpec {
            name: name.to_string(),
            max_receives: self.max_receives,
            dead_letter: dead_letter.map(str::to_string),
        };
        vec![spec(&self.plain, None), spec(&self.limited, Some(&self.dead_letter)), spec(&self.dead_letter, None)]
    }

    fn ticks(&self, n: u32) -> Duration {
        self.tick * n
    }
}

/// Every `Queue` check, in order.
pub async fn queue_suite(queue: &dyn Queue, q: &ConformanceQueues) {
    unknown_queue(queue).await;
    send_receive_delete(queue, q).await;
    delay(queue, q).await;
    visibility_timeout(queue, q).await;
    change_visibility(queue, q).await;
    long_poll_wakes_on_send(queue, q).await;
    stale_receipt(queue, q).await;
    dead_letter(queue, q).await;
    concurrent_receivers(queue, q).await;
}

fn messages(bodies: &[&str]) -> Vec<OutgoingMessage> {
    bodies.iter().map(|b| OutgoingMessage::new(*b)).collect()
}

/// Receives until `n` messages arrived or `patience` passed (a backend may return fewer than
/// available per call).
async fn receive_n(queue: &dyn Queue, name: &str, n: usize, visibility: Duration, patience: Duration, what: &str) -> Vec<ReceivedMessage> {
    let deadline = Instant::now() + patience;
    let mut got = Vec::new();
    while got.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let max = (n - got.len()).min(10);
        got.extend(ok(queue.receive(name, max, visibility, left).await, what));
    }
    got
}

async fn expect_empty(queue: &dyn Queue, name: &str, wait: Duration, what: &str) {
    let got = ok(queue.receive(name, 10, Duration::from_secs(60), wait).await, what);
    assert!(got.is_empty(), "{what}: expected no visible message in {name}, got {:?}", bodies(&got));
}

async fn expect_depth(queue: &dyn Queue, q: &ConformanceQueues, name: &str, depth: usize, what: &str) {
    if q.exact_depth {
        assert_eq!(ok(queue.depth(name).await, what), depth, "{what}: depth of {name}");
    }
}

fn bodies(messages: &[ReceivedMessage]) -> Vec<&str> {
    messages.iter().map(|m| m.body.as_str()).collect()
}

async fn delete_all(queue: &dyn Queue, name: &str, messages: &[ReceivedMessage], what: &str) {
    for m in messages {
        ok(queue.delete(name, &m.receipt).await, &format!("{what}: delete"));
    }
}

pub async fn unknown_queue(queue: &dyn Queue) {
    let name = super::unique("no-such-queue");
    let unknown = Err(QueueError::UnknownQueue(name.clone()));
    assert_eq!(queue.send(&name, messages(&["x"])).await, unknown, "unknown_queue: send");
    let received = queue.receive(&name, 1, Duration::from_secs(1), Duration::ZERO).await;
    assert_eq!(received.map(|_| ()), unknown, "unknown_queue: receive");
    assert_eq!(queue.depth(&name).await.map(|_| ()), unknown, "unknown_queue: depth");
}

pub async fn send_receive_delete(queue: &dyn Queue, q: &ConformanceQueues) {
    let what = "send_receive_delete";
    ok(queue.send(&q.plain, messages(&["m1", "m2", "m3"])).await, what);
    ok(queue.send(&q.plain, Vec::new()).await, &format!("{what}: empty send"));
    expect_depth(queue, q, &q.plain, 3, what).await;
    let first = ok(queue.receive(&q.plain, 2, q.ticks(100), q.ticks(20)).await, what);
    assert!(!first.is_empty() && first.len() <= 2, "{what}: receive honours max (got {})", first.len());
    let rest = receive_n(queue, &q.plain, 3 - first.len(), q.ticks(100), q.ticks(40), what).await;
    let all: Vec<ReceivedMessage> = first.into_iter().chain(rest).collect();
    let got: HashSet<&str> = bodies(&all).into_iter().collect();
    assert_eq!(got, HashSet::from(["m1", "m2", "m3"]), "{what}: bodies");
    assert!(all.iter().all(|m| m.receive_count == 1), "{what}: first receive counts 1");
    assert_eq!(all.iter().map(|m| &m.id).collect::<HashSet<_>>().len(), 3, "{what}: distinct ids");
    assert_eq!(all.iter().map(|m| &m.receipt).collect::<HashSet<_>>().len(), 3, "{what}: distinct receipts");
    expect_depth(queue, q, &q.plain, 3, &format!("{what}: in-flight messages count")).await;
    expect_empty(queue, &q.plain, Duration::ZERO, &format!("{what}: in-flight messages are hidden")).await;
    delete_all(queue, &q.plain, &all, what).await;
    expect_depth(queue, q, &q.plain, 0, what).await;
    expect_empty(queue, &q.plain, Duration::ZERO, &format!("{what}: after delete")).await;
}

pub async fn delay(queue: &dyn Queue, q: &ConformanceQueues) {
    let what = "delay";
    let start = Instant::now();
    ok(queue.send(&q.plain, vec![OutgoingMessage::new("later").delayed(q.ticks(4))]).await, what);
    expect_depth(queue, q, &q.plain, 1, &format!("{what}: delayed messages count")).await;
    expect_empty(queue, &q.plain, Duration::ZERO, &format!("{what}: delayed message visible early")).await;
    let got = receive_n(queue, &q.plain, 1, q.ticks(100), q.ticks(40), what).await;
    let elapsed = start.elapsed();
    assert_eq!(bodies(&got), ["later"], "{what}: delayed message never came");
    assert!(elapsed >= q.ticks(4), "{what}: delivered after {elapsed:?}, before its delay");
    assert!(elapsed < q.ticks(24), "{what}: delivered only after {elapsed:?}");
    delete_all(queue, &q.plain, &got, what).await;
}

pub async fn visibility_timeout(queue: &dyn Queue, q: &ConformanceQueues) {
    let what = "visibility_timeout";
    ok(queue.send(&q.plain, messages(&["v"])).await, what);
    let first = receive_n(queue, &q.plain, 1, q.ticks(4), q.ticks(40), what).await;
    assert_eq!(first.len(), 1, "{what}: first receive");
    let hidden_at = Instant::now();
    expect_empty(queue, &q.plain, Duration::ZERO, &format!("{what}: visible during its timeout")).await;
    let again = receive_n(queue, &q.plain, 1, q.ticks(100), q.ticks(40), what).await;
    assert_eq!(bodies(&again), ["v"], "{what}: message did not come back");
    assert!(hidden_at.elapsed() < q.ticks(24), "{what}: came back only after {:?}", hidden_at.elapsed());
    assert_eq!((again[0].id.as_str(), again[0].receive_count), (first[0].id.as_str(), 2), "{what}: same id, count 2");
    assert_ne!(again[0].receipt, first[0].receipt, "{what}: a new receive has a new receipt");
    delete_all(queue, &q.plain, &again, what).await;
    expect_depth(queue, q, &q.plain, 0, what).await;
}

pub async fn change_visibility(queue: &dyn Queue, q: &ConformanceQueues) {
    let what = "change_visibility";
    ok(queue.send(&q.plain, messages(&["c"])).await, what);
    let first = receive_n(queue, &q.plain, 1, q.ticks(1000), q.ticks(40), what).await;
    assert_eq!(first.len(), 1, "{what}: first receive");
    ok(queue.change_visibility(&q.plain, &first[0].receipt, Duration::ZERO).await, what);
    let again = receive_n(queue, &q.plain, 1, q.ticks(2), q.ticks(4), what).await;
    assert_eq!(again.iter().map(|m| m.receive_count).collect::<Vec<_>>(), [2], "{what}: zero visibility releases it");
    ok(queue.change_visibility(&q.plain, &again[0].receipt, q.ticks(1000)).await, what);
    expect_empty(queue, &q.plain, q.ticks(6), &format!("{what}: extended visibility")).await;
    delete_all(queue, &q.plain, &again, what).await;
    expect_depth(queue, q, &q.plain, 0, what).await;
}

pub async fn long_poll_wakes_on_send(queue: &dyn Queue, q: &ConformanceQueues) {
    let what = "long_poll_wakes_on_send";
    let start = Instant::now();
    let receiving = queue.receive(&q.plain, 10, q.ticks(100), q.ticks(200));
    let sending = async {
        tokio::time::sleep(q.ticks(2)).await;
        ok(queue.send(&q.plain, messages(&["poll"])).await, what);
    };
    let (got, ()) = futures::join!(receiving, sending);
    let got = ok(got, what);
    let elapsed = start.elapsed();
    assert_eq!(bodies(&got), ["poll"], "{what}: long poll returned without the message");
    assert!(elapsed < q.ticks(20), "{what}: woke only after {elapsed:?}");
    delete_all(queue, &q.plain, &got, what).await;
}

pub async fn stale_receipt(queue: &dyn Queue, q: &ConformanceQueues) {
    let what = "stale_receipt";
    ok(queue.send(&q.plain, messages(&["s"])).await, what);
    let first = receive_n(queue, &q.plain, 1, q.ticks(2), q.ticks(40), what).await;
    let second = receive_n(queue, &q.plain, 1, q.ticks(1000), q.ticks(40), what).await;
    assert_eq!((first.len(), second.len()), (1, 1), "{what}: two receives of one message");
    let stale = &first[0].receipt;
    assert_eq!(queue.delete(&q.plain, "garbage").await, Err(QueueError::BadReceipt), "{what}: malformed receipt");
    if !q.stale_receipts_rejected {
        let tolerated = |r: Result<(), QueueError>| matches!(r, Ok(()) | Err(QueueError::BadReceipt));
        assert!(tolerated(queue.delete(&q.plain, stale).await), "{what}: delete with a stale receipt");
        assert!(tolerated(queue.change_visibility(&q.plain, stale, Duration::ZERO).await), "{what}: stale change_visibility");
        ok(queue.delete(&q.plain, &second[0].receipt).await, &format!("{what}: delete with the current receipt"));
        assert!(tolerated(queue.delete(&q.plain, &second[0].receipt).await), "{what}: double delete");
        expect_empty(queue, &q.plain, Duration::ZERO, what).await;
        expect_depth(queue, q, &q.plain, 0, what).await;
        return;
    }
    assert_eq!(queue.delete(&q.plain, stale).await, Err(QueueError::BadReceipt), "{what}: delete with a stale receipt");
    assert_eq!(
        queue.change_visibility(&q.plain, stale, Duration::ZERO).await,
        Err(QueueError::BadReceipt),
        "{what}: change_visibility with a stale receipt"
    );
    expect_depth(queue, q, &q.plain, 1, &format!("{what}: stale delete removed the message")).await;
    delete_all(queue, &q.plain, &second, what).await;
    assert_eq!(queue.delete(&q.plain, &second[0].receipt).await, Err(QueueError::BadReceipt), "{what}: double delete");
    expect_depth(queue, q, &q.plain, 0, what).await;
}

pub async fn dead_letter(queue: &dyn Queue, q: &ConformanceQueues) {
    let what = "dead_letter";
    ok(queue.send(&q.limited, messages(&["poison"])).await, what);
    let mut id = None;
    for n in 1..=q.max_receives {
        let got = receive_n(queue, &q.limited, 1, q.ticks(2), q.ticks(40), what).await;
        assert_eq!(got.iter().map(|m| m.receive_count).collect::<Vec<_>>(), [n], "{what}: receive {n}");
        id = Some(got[0].id.clone());
    }
    expect_empty(queue, &q.limited, q.ticks(8), &format!("{what}: delivered past max_receives")).await;
    let dead = receive_n(queue, &q.dead_letter, 1, q.ticks(100), q.ticks(40), what).await;
    assert_eq!(bodies(&dead), ["poison"], "{what}: message not in the dead-letter queue");
    assert_eq!(Some(&dead[0].id), id.as_ref(), "{what}: dead-lettering keeps the message id");
    expect_depth(queue, q, &q.limited, 0, what).await;
    delete_all(queue, &q.dead_letter, &dead, what).await;
    expect_depth(queue, q, &q.dead_letter, 0, what).await;
}

pub async fn concurrent_receivers(queue: &dyn Queue, q: &ConformanceQueues) {
    let what = "concurrent_receivers";
    let sent: Vec<String> = (0..40).map(|i| format!("job-{i}")).collect();
    for chunk in sent.chunks(10) {
        let batch = chunk.iter().map(|b| OutgoingMessage::new(b.clone())).collect();
        ok(queue.send(&q.plain, batch).await, what);
    }
    let seen = Mutex::new(Vec::<String>::new());
    let deadline = Instant::now() + q.ticks(400);
    let receiver = || async {
        while Instant::now() < deadline && seen.lock().map_or(0, |s| s.len()) < sent.len() {
            // The visibility outlasts the run: any second delivery would be a double delivery.
            let got = ok(queue.receive(&q.plain, 5, q.ticks(2000), q.ticks(2)).await, what);
            for m in &got {
                seen.lock().unwrap_or_else(|e| e.into_inner()).push(m.body.clone());
                ok(queue.delete(&q.plain, &m.receipt).await, what);
            }
        }
    };
    futures::join!(receiver(), receiver(), receiver(), receiver());
    let mut seen = seen.into_inner().unwrap_or_else(|e| e.into_inner());
    seen.sort();
    let mut expected = sent.clone();
    expected.sort();
    assert_eq!(seen, expected, "{what}: every message exactly once across concurrent receivers");
    expect_depth(queue, q, &q.plain, 0, what).await;
}
