//! `EmbeddedStore`: the `Store` port over the `items` table. Writes run on the group-commit
//! writer, where conditions are judged in the write's own transaction; reads use the read pool.
//! Item expiry (`expires_at`) is judged by the store's clock: the system's unless a test gives
//! another ([`EmbeddedStore::with_clock`]). The reaper, which only reclaims space, keeps the
//! system clock.

use crate::db::{now_secs, EmbeddedDb};
use crate::store_ops::{self, Row, TxOp};
use crate::store_query::{get_item, query_page};
use aos_core::ports::{Clock, Condition, Item, Page, Query, Store, StoreError, WriteOp};
use async_trait::async_trait;
use std::collections::HashSet;
use std::sync::Arc;

/// DynamoDB's `TransactWriteItems` limit, enforced here too so that code developed against the
/// embedded store does not break on the cloud one.
pub const MAX_TRANSACTION_OPS: usize = 100;

/// The `Store` port over an `EmbeddedDb`; cheap to clone.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<EmbeddedDb>,
    /// What "now" is for item expiry; `None`: the system clock.
    clock: Option<Arc<dyn Clock>>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore").field("db", &self.db).field("system_clock", &self.clock.is_none()).finish()
    }
}

/// Pages up to this size are read on the calling thread; larger ones on the blocking pool.
/// The hand-off costs ~15 µs, more than reading a small page (~9 µs for 10 items), while a large
/// page could hold an async worker thread for milliseconds.
const INLINE_PAGE_LIMIT: usize = 100;

impl EmbeddedStore {
    pub fn new(db: Arc<EmbeddedDb>) -> Self {
        Self { db, clock: None }
    }

    /// The same store judging item expiry by `clock` (tests move it instead of sleeping).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Epoch seconds by the store's clock.
    fn now_secs(&self) -> i64 {
        match &self.clock {
            Some(clock) => clock.now_ms().div_euclid(1000),
            None => now_secs(),
        }
    }

    async fn query_page(&self, query: Query, index: bool) -> Result<Page, StoreError> {
        let now = self.now_secs();
        if query.limit <= INLINE_PAGE_LIMIT {
            self.db.read_now(|conn| query_page(conn, &query, index, now))
        } else {
            self.db.read(move |conn| query_page(conn, &query, index, now)).await
        }
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        // A primary-key lookup is bounded (~3 µs): on the calling thread it costs less than the
        // ~15 µs hand-off to the blocking pool.
        let now = self.now_secs();
        self.db.read_now(|conn| get_item(conn, pk, sk, now))
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<u64, StoreError> {
        let (row, now) = (Row::from_item(item)?, self.now_secs());
        self.db.write(move |conn| store_ops::put(conn, &row, &condition, now)).await
    }

    /// Committed in the next group without requiring an fsync of its own; WAL order makes it
    /// durable with the next synced commit.
    async fn put_relaxed(&self, item: Item, condition: Condition) -> Result<u64, StoreError> {
        let (row, now) = (Row::from_item(item)?, self.now_secs());
        self.db.write_then_as(move |conn| store_ops::put(conn, &row, &condition, now), |r| r, true).await
    }

    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        let (pk, sk, now) = (pk.to_owned(), sk.to_owned(), self.now_secs());
        self.db.write(move |conn| store_ops::delete(conn, &pk, &sk, &condition, now)).await
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        self.query_page(query, false).await
    }

    async fn query_index(&self, query: Query) -> Result<Page, StoreError> {
        self.query_page(query, true).await
    }

    async fn transact_write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        if ops.len() > MAX_TRANSACTION_OPS {
            return Err(StoreError::Backend(format!("a transaction holds at most {MAX_TRANSACTION_OPS} operations (got {})", ops.len())));
        }
        let ops = ops
            .into_iter()
            .map(|op| {
                Ok(match op {
                    WriteOp::Put { item, condition } => TxOp::Put(Row::from_item(item)?, condition),
                    WriteOp::Delete { pk, sk, condition } => TxOp::Delete(pk, sk, condition),
                    WriteOp::Check { pk, sk, condition } => TxOp::Check(pk, sk, condition),
                    WriteOp::Add { item, counters } => TxOp::Add(Row::from_item(item)?, counters),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // As in DynamoDB: two operations on one item would make the outcome order-dependent.
        let mut keys = HashSet::with_capacity(ops.len());
        if let Some(dup) = ops.iter().map(TxOp::key).find(|key| !keys.insert(*key)) {
            return Err(StoreError::Backend(format!("a transaction cannot hold two operations on one item ({}, {})", dup.0, dup.1)));
        }
        let now = self.now_secs();
        self.db.write(move |conn| store_ops::transact(conn, &ops, now)).await
    }

    async fn increment(&self, pk: &str, sk: &str, field: &str, delta: i64) -> Result<i64, StoreError> {
        let (pk, sk, field, now) = (pk.to_owned(), sk.to_owned(), field.to_owned(), self.now_secs());
        self.db.write(move |conn| store_ops::increment(conn, &pk, &sk, &field, delta, now)).await
    }
}
