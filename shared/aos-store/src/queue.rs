//! `EmbeddedQueue`: the `Queue` port with messages durable in the `messages` table and all
//! delivery state (visibility, receive counts, receipts) in memory, so that only `send` and
//! dead-lettering wait for a durable commit.
//!
//! Restart semantics: in-flight state is not persisted, so after a restart every stored message
//! is visible again (delayed ones stay delayed until their stored due time) and receive counts
//! start from zero. That is still at-least-once delivery: a message is only ever lost by a
//! `delete`, which requires a receipt; a restart can only cause an extra delivery, which
//! consumers already tolerate since visibility timeouts cause the same. Receipts issued before a
//! restart are rejected afterwards. Dead-lettering after a restart therefore counts receives
//! from zero, so a poison message gets up to `max_receives` more attempts per restart.
//!
//! Message bodies are kept in memory too: the queue is sized for work in progress, not for an
//! archive of millions of pending messages.

use crate::db::{now_ms, EmbeddedDb};
use crate::queue_state::{Delivery, Message, QueueState};
use crate::writer::db_err;
use aos_core::ports::{OutgoingMessage, Queue, QueueError, QueueSpec, ReceivedMessage, StoreError};
use async_trait::async_trait;
use rusqlite::params;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Longest delay or visibility honoured; longer ones are clamped (SQS caps both at 12 hours).
const MAX_HIDE: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The `Queue` port over an `EmbeddedDb` (see the module documentation for restart semantics).
pub struct EmbeddedQueue {
    db: Arc<EmbeddedDb>,
    queues: HashMap<String, Arc<Slot>>,
    receipts: Receipts,
    relaxed_sends: bool,
}

struct Slot {
    spec: QueueSpec,
    state: Mutex<QueueState>,
    /// Woken whenever a message may have become visible earlier than waiters planned for.
    arrivals: Notify,
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn dead_after(&self) -> Option<u32> {
        self.spec.dead_letter.as_ref().map(|_| self.spec.max_receives)
    }
}

impl std::fmt::Debug for EmbeddedQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedQueue").field("queues", &self.queues.keys().collect::<Vec<_>>()).finish()
    }
}

impl EmbeddedQueue {
    /// Opens the queues described by `specs` and loads their stored messages. A database serves
    /// one `EmbeddedQueue` at a time (two would deliver the same messages concurrently).
    pub fn open(db: Arc<EmbeddedDb>, specs: Vec<QueueSpec>) -> Result<Self, QueueError> {
        let mut queues = HashMap::new();
        for spec in specs {
            let name = spec.name.clone();
            let slot = Slot { spec, state: Mutex::default(), arrivals: Notify::new() };
            if queues.insert(name.clone(), Arc::new(slot)).is_some() {
                return Err(QueueError::Backend(format!("queue {name} is specified twice")));
            }
        }
        for slot in queues.values() {
            if let Some(dead) = &slot.spec.dead_letter {
                if !queues.contains_key(dead) {
                    return Err(QueueError::UnknownQueue(dead.clone()));
                }
            }
        }
        if !db.attach_queue() {
            return Err(QueueError::Backend("this database already has an open EmbeddedQueue".into()));
        }
        let queue = Self { db, queues, receipts: Receipts::new(), relaxed_sends: false };
        queue.load()?;
        Ok(queue)
    }

    /// Commits sends without their own fsync (they still survive a process crash; an OS crash
    /// may lose the last ones). For deployments whose messages can be rebuilt from the store:
    /// AOS's runtime re-derives every lost dispatch and advance from run records at startup, so
    /// `aos serve` pays fsyncs only for the records themselves.
    pub fn relaxed_sends(mut self, relaxed: bool) -> Self {
        self.relaxed_sends = relaxed;
        self
    }

    /// Reads through the writer so that writes still queued by an earlier instance (unawaited
    /// deletes) are applied first and deleted messages do not come back.
    fn load(&self) -> Result<(), QueueError> {
        let rows = self
            .db
            .write_blocking(|conn| {
                let mut stmt =
                    conn.prepare("SELECT id, queue, body, visible_at_ms FROM messages ORDER BY created_at_ms, id").map_err(db_err)?;
                let rows = stmt
                    .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))
                    .and_then(Iterator::collect::<rusqlite::Result<Vec<(String, String, String, i64)>>>)
                    .map_err(db_err)?;
                Ok(rows)
            })
            .map_err(backend)?;
        let (now, now_ms) = (Instant::now(), now_ms());
        let mut orphans = 0usize;
        for (id, queue, body, visible_at_ms) in rows {
            let Some(slot) = self.queues.get(&queue) else {
                orphans += 1;
                continue;
            };
            let delay = Duration::from_millis(u64::try_from(visible_at_ms.saturating_sub(now_ms)).unwrap_or(0));
            slot.lock().push(id, body, after(now, delay), 0);
        }
        if orphans > 0 {
            tracing::warn!(orphans, "stored messages belong to queues not configured; left untouched");
        }
        Ok(())
    }

    fn slot(&self, queue: &str) -> Result<&Arc<Slot>, QueueError> {
        self.queues.get(queue).ok_or_else(|| QueueError::UnknownQueue(queue.to_string()))
    }

    /// Moves messages past their receive limit to the dead-letter queue, durably; on failure they
    /// go back to their queue. The in-memory move happens on the writer thread right after the
    /// commit, so it completes even if the receiving future is dropped meanwhile.
    async fn dead_letter(&self, from: &Arc<Slot>, dead: Vec<Message>) -> Result<(), QueueError> {
        let target = from
            .spec
            .dead_letter
            .as_ref()
            .and_then(|name| self.queues.get(name))
            .ok_or_else(|| QueueError::Backend("dead-letter queue vanished".into()))?;
        let moves: Vec<(String, u32)> = dead.iter().map(|m| (m.id.clone(), m.receive_count)).collect();
        let target_name = target.spec.name.clone();
        let (from, target) = (Arc::clone(from), Arc::clone(target));
        let update = move |conn: &rusqlite::Connection| {
            let mut stmt = conn
                .prepare_cached("UPDATE messages SET queue = ?2, visible_at_ms = ?3, receive_count = ?4 WHERE id = ?1")
                .map_err(db_err)?;
            let now_ms = now_ms();
            for (id, count) in &moves {
                stmt.execute(params![id, target_name, now_ms, count]).map_err(db_err)?;
            }
            Ok(())
        };
        let settle = move |result: Result<(), StoreError>| {
            let now = Instant::now();
            let (slot, reset) = if result.is_ok() { (&target, true) } else { (&from, false) };
            let mut state = slot.lock();
            for msg in dead {
                tracing::debug!(id = %msg.id, queue = %from.spec.name, moved = reset, "dead-lettering message");
                let count = if reset { 0 } else { msg.receive_count };
                state.push(msg.id, msg.body, now, count);
            }
            drop(state);
            slot.arrivals.notify_waiters();
            result
        };
        self.db.write_then(update, settle).await.map_err(backend)
    }
}

impl Drop for EmbeddedQueue {
    fn drop(&mut self) {
        self.db.detach_queue();
    }
}

#[async_trait]
impl Queue for EmbeddedQueue {
    async fn send(&self, queue: &str, messages: Vec<OutgoingMessage>) -> Result<(), QueueError> {
        let slot = Arc::clone(self.slot(queue)?);
        if messages.is_empty() {
            return Ok(());
        }
        let pending: Vec<(String, OutgoingMessage)> = messages.into_iter().map(|m| (uuid::Uuid::new_v4().to_string(), m)).collect();
        let name = queue.to_string();
        let insert = move |conn: &rusqlite::Connection| {
            let mut stmt = conn
                .prepare_cached(
                    "INSERT INTO messages(id, queue, body, visible_at_ms, receive_count, created_at_ms)
                     VALUES (?1, ?2, ?3, ?4, 0, ?5)",
                )
                .map_err(db_err)?;
            let now_ms = now_ms();
            for (id, msg) in &pending {
                let delay_ms = i64::try_from(msg.delay.min(MAX_HIDE).as_millis()).unwrap_or(i64::MAX);
                stmt.execute(params![id, name, msg.body, now_ms.saturating_add(delay_ms), now_ms]).map_err(db_err)?;
            }
            drop(stmt);
            Ok(pending)
        };
        // Made receivable only once committed, on the writer thread, so that a dropped `send`
        // future can never leave a stored message undeliverable until the next restart.
        let settle = move |result: Result<Vec<(String, OutgoingMessage)>, StoreError>| {
            let pending = result?;
            let now = Instant::now();
            let mut state = slot.lock();
            for (id, msg) in pending {
                state.push(id, msg.body, after(now, msg.delay), 0);
            }
            drop(state);
            slot.arrivals.notify_waiters();
            Ok(())
        };
        self.db.write_then_as(insert, settle, self.relaxed_sends).await.map_err(backend)
    }

    async fn receive(&self, queue: &str, max: usize, visibility: Duration, wait: Duration) -> Result<Vec<ReceivedMessage>, QueueError> {
        let slot = self.slot(queue)?;
        if max == 0 {
            return Ok(Vec::new());
        }
        let deadline = after(Instant::now(), wait);
        loop {
            // Registered before looking, so a send between the look and the wait still wakes us.
            let arrival = slot.arrivals.notified();
            tokio::pin!(arrival);
            arrival.as_mut().enable();
            let now = Instant::now();
            let taken = slot.lock().take(now, max, after(now, visibility), slot.dead_after(), || self.receipts.next());
            let dead_lettered = !taken.dead.is_empty();
            if dead_lettered {
                self.dead_letter(slot, taken.dead).await?;
            }
            if !taken.delivered.is_empty() {
                return Ok(taken.delivered.into_iter().map(Delivery::into_received).collect());
            }
            if dead_lettered {
                continue;
            }
            if now >= deadline {
                return Ok(Vec::new());
            }
            let wake = taken.next_due.map_or(deadline, |due| due.min(deadline));
            tokio::select! {
                () = &mut arrival => {}
                () = tokio::time::sleep_until(wake.into()) => {}
            }
        }
    }

    async fn delete(&self, queue: &str, receipt: &str) -> Result<(), QueueError> {
        let slot = self.slot(queue)?;
        let (seq, token) = parse_receipt(receipt)?;
        let msg = slot.lock().remove(seq, token).ok_or(QueueError::BadReceipt)?;
        let id = msg.id;
        // Not awaited and not fsynced on its own: a delete lost in a crash only redelivers.
        self.db
            .write_lazy(move |conn| {
                conn.prepare_cached("DELETE FROM messages WHERE id = ?1").and_then(|mut stmt| stmt.execute([id])).map(drop).map_err(db_err)
            })
            .map_err(backend)
    }

    async fn change_visibility(&self, queue: &str, receipt: &str, visibility: Duration) -> Result<(), QueueError> {
        let slot = self.slot(queue)?;
        let (seq, token) = parse_receipt(receipt)?;
        if !slot.lock().hide(seq, token, after(Instant::now(), visibility)) {
            return Err(QueueError::BadReceipt);
        }
        slot.arrivals.notify_waiters();
        Ok(())
    }

    async fn depth(&self, queue: &str) -> Result<usize, QueueError> {
        Ok(self.slot(queue)?.lock().len())
    }
}

impl Delivery {
    fn into_received(self) -> ReceivedMessage {
        ReceivedMessage {
            id: self.id,
            receipt: format!("{:x}.{:016x}", self.seq, self.token),
            body: self.body,
            receive_count: self.receive_count,
        }
    }
}

fn parse_receipt(receipt: &str) -> Result<(u64, u64), QueueError> {
    let (seq, token) = receipt.split_once('.').ok_or(QueueError::BadReceipt)?;
    let seq = u64::from_str_radix(seq, 16).map_err(|_| QueueError::BadReceipt)?;
    let token = u64::from_str_radix(token, 16).map_err(|_| QueueError::BadReceipt)?;
    Ok((seq, token))
}

fn after(now: Instant, duration: Duration) -> Instant {
    now.checked_add(duration.min(MAX_HIDE)).unwrap_or(now)
}

fn backend(e: StoreError) -> QueueError {
    QueueError::Backend(e.to_string())
}

/// Receipt tokens: distinct within a process (a bijective mix of a counter) and, through a
/// random salt, not reproducible by a later process, so receipts from before a restart fail.
struct Receipts {
    salt: u64,
    counter: AtomicU64,
}

impl Receipts {
    fn new() -> Self {
        Self { salt: uuid::Uuid::new_v4().as_u64_pair().0, counter: AtomicU64::new(0) }
    }

    fn next(&self) -> u64 {
        splitmix64(self.salt.wrapping_add(self.counter.fetch_add(1, Ordering::Relaxed)))
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
