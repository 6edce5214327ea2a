//! `EmbeddedStore`: the `Store` port over the `items` table. Writes run on the group-commit
//! writer, where conditions are judged in the write's own transaction; reads use the read pool.

use crate::db::{now_secs, EmbeddedDb};
use crate::store_ops::{self, Row, TxOp};
use crate::store_query::{get_item, query_page};
use aos_core::ports::{Condition, Item, Page, Query, Store, StoreError, WriteOp};
use async_trait::async_trait;
use std::collections::HashSet;
use std::sync::Arc;

/// DynamoDB's `TransactWriteItems` limit, enforced here too so that code developed against the
/// embedded store does not break on the cloud one.
pub const MAX_TRANSACTION_OPS: usize = 100;

/// The `Store` port over an `EmbeddedDb`; cheap to clone.
#[derive(Debug, Clone)]
pub struct EmbeddedStore {
    db: Arc<EmbeddedDb>,
}

/// Pages up to this size are read on the calling thread; larger ones on the blocking pool.
/// The hand-off costs ~15 µs, more than reading a small page (~9 µs for 10 items), while a large
/// page could hold an async worker thread for milliseconds.
const INLINE_PAGE_LIMIT: usize = 100;

impl EmbeddedStore {
    pub fn new(db: Arc<EmbeddedDb>) -> Self {
        Self { db }
    }

    async fn query_page(&self, query: Query, index: bool) -> Result<Page, StoreError> {
        if query.limit <= INLINE_PAGE_LIMIT {
            self.db.read_now(|conn| query_page(conn, &query, index, now_secs()))
        } else {
            self.db.read(move |conn| query_page(conn, &query, index, now_secs())).await
        }
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        // A primary-key lookup is bounded (~3 µs): on the calling thread it costs less than the
        // ~15 µs hand-off to the blocking pool.
        self.db.read_now(|conn| get_item(conn, pk, sk, now_secs()))
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<u64, StoreError> {
        let row = Row::from_item(item)?;
        self.db.write(move |conn| store_ops::put(conn, &row, &condition, now_secs())).await
    }

    /// Committed in the next group without requiring an fsync of its own; WAL order makes it
    /// durable with the next synced commit.
    async fn put_relaxed(&self, item: Item, condition: Condition) -> Result<u64, StoreError> {
        let row = Row::from_item(item)?;
        self.db.write_then_as(move |conn| store_ops::put(conn, &row, &condition, now_secs()), |r| r, true).await
    }

    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        let (pk, sk) = (pk.to_owned(), sk.to_owned());
        self.db.write(move |conn| store_ops::delete(conn, &pk, &sk, &condition, now_secs())).await
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        self.query_page(query, false).await
    }

    async fn query_index(&self, query: Query) -> Result<Page, StoreError> {
        self.query_page(query, true).await
    }

    async fn transact_write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        if ops.len() > MAX_TRANSACTION_OPS {
            return Err(StoreError::Backend(format!(
                "a transaction holds at most {MAX_TRANSACTION_OPS} operations (got {})",
                ops.len()
            )));
        }
        let ops = ops
            .into_iter()
            .map(|op| {
                Ok(match op {
                    WriteOp::Put { item, condition } => TxOp::Put(Row::from_item(item)?, condition),
                    WriteOp::Delete { pk, sk, condition } => TxOp::Delete(pk, sk, condition),
                    WriteOp::Check { pk, sk, condition } => TxOp::Check(pk, sk, condition),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // As in DynamoDB: two operations on one item would make the outcome order-dependent.
        let mut keys = HashSet::with_capacity(ops.len());
        if let Some(dup) = ops.iter().map(TxOp::key).find(|key| !keys.insert(*key)) {
            return Err(StoreError::Backend(format!(
                "a transaction cannot hold two operations on one item ({}, {})",
                dup.0, dup.1
            )));
        }
        self.db.write(move |conn| store_ops::transact(conn, &ops, now_secs())).await
    }

    async fn increment(&self, pk: &str, sk: &str, field: &str, delta: i64) -> Result<i64, StoreError> {
        let (pk, sk, field) = (pk.to_owned(), sk.to_owned(), field.to_owned());
        self.db.write(move |conn| store_ops::increment(conn, &pk, &sk, &field, delta, now_secs())).await
    }
}
