//! `DynamoStore`: the `Store` port over one DynamoDB table (layout in `item.rs`, key design and
//! access patterns in `docs/dynamodb.md`). Expired items are hidden on every read and count as
//! absent in every condition, since the TTL reaper deletes them only eventually.

mod expr;
mod item;
mod query;
mod table;
mod tx;
mod write;

pub use table::create_table;

use aos_core::ports::{Condition, Item, Page, Query, Store, StoreError, WriteOp};
use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::Client;
use std::time::{SystemTime, UNIX_EPOCH};

/// How often a write retries when a concurrent writer keeps changing the item between its
/// conditional steps (each retry means someone else made progress).
const MAX_RACES: usize = 16;

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The stored attributes at (pk, sk), expired or not (strongly consistent).
    async fn get_attrs(&self, pk: &str, sk: &str) -> Result<Option<item::Attrs>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(item::key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        Ok(out.item)
    }
}

pub(crate) fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

pub(crate) fn backend<E: std::error::Error + 'static, R: std::fmt::Debug>(e: SdkError<E, R>) -> StoreError {
    StoreError::Backend(DisplayErrorContext(&e).to_string())
}

/// A failed ConditionExpression becomes `ConditionFailed`; anything else is a backend error.
pub(crate) fn write_err<E, R>(e: SdkError<E, R>, condition_failed: impl Fn(&E) -> bool) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if e.as_service_error().is_some_and(condition_failed) {
        StoreError::ConditionFailed
    } else {
        backend(e)
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        match self.get_attrs(pk, sk).await? {
            Some(attrs) if !item::expired(&attrs, now()) => item::from_attrs(attrs).map(Some),
            _ => Ok(None),
        }
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<u64, StoreError> {
        self.put_item(&item, &condition).await
    }

    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        let mut e = expr::Expr::default();
        let cond = e.condition(&condition, now());
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(item::key(pk, sk)))
            .set_condition_expression(cond)
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .send()
            .await
            .map(drop)
            .map_err(|e| write_err(e, |s| s.is_conditional_check_failed_exception()))
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        self.page(query, false).await
    }

    async fn query_index(&self, query: Query) -> Result<Page, StoreError> {
        self.page(query, true).await
    }

    async fn transact_write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.transact(ops).await
    }

    async fn increment(&self, pk: &str, sk: &str, field: &str, delta: i64) -> Result<i64, StoreError> {
        self.increment_field(pk, sk, field, delta).await
    }

    async fn add(&self, item: Item, counters: Vec<(String, i64)>) -> Result<(), StoreError> {
        self.add_counters(&item, &counters).await
    }
}
