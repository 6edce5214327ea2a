//! Ports: the storage, queue, secrets, metric-totals and clock capabilities the runtime needs,
//! shaped after DynamoDB and SQS semantics so that the embedded (SQLite) adapters and the AWS
//! adapters are interchangeable. Every store, queue and secrets adapter must pass the same
//! conformance suite (`aos-store::conformance`); [`Ports`] is what a deployment hands the runtime.

use crate::skill::SkillRegistry;
use async_trait::async_trait;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The adapters and skills registry a deployment provides (`aos serve`: SQLite; AWS: DynamoDB,
/// SQS, Secrets Manager).
#[derive(Clone)]
pub struct Ports {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn Queue>,
    pub secrets: Arc<dyn Secrets>,
    pub skills: Arc<SkillRegistry>,
}

// ---------------------------------------------------------------------------------------------
// Store: a single-table key-value store (partition key + sort key), DynamoDB-shaped.
// ---------------------------------------------------------------------------------------------

/// A stored item. `pk`/`sk` are the primary key; `data` is the document; `gsi1` an optional
/// secondary-index key; `expires_at` (epoch seconds) makes the item invisible once passed, even
/// before any reaper deletes it; `version` is maintained by the store (1 on first write, +1 on
/// each write) for optimistic concurrency.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub pk: String,
    pub sk: String,
    pub data: Value,
    pub gsi1: Option<IndexKey>,
    pub expires_at: Option<i64>,
    pub version: u64,
}

impl Item {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>, data: Value) -> Self {
        Self { pk: pk.into(), sk: sk.into(), data, gsi1: None, expires_at: None, version: 0 }
    }
    pub fn with_index(mut self, pk: impl Into<String>, sk: impl Into<String>) -> Self {
        self.gsi1 = Some(IndexKey { pk: pk.into(), sk: sk.into() });
        self
    }
    pub fn expiring_at(mut self, epoch_seconds: i64) -> Self {
        self.expires_at = Some(epoch_seconds);
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexKey {
    pub pk: String,
    pub sk: String,
}

/// A write condition, evaluated atomically with the write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    Always,
    /// No (unexpired) item exists at the key — `attribute_not_exists(pk)`.
    NotExists,
    /// An (unexpired) item exists at the key.
    Exists,
    /// The item exists with exactly this version.
    VersionIs(u64),
}

/// Sort-key selection within one partition (or one index partition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkRange {
    All,
    Prefix(String),
    /// Inclusive on both ends, compared bytewise.
    Between(String, String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub pk: String,
    pub sk: SkRange,
    /// Page size (at most this many items per call).
    pub limit: usize,
    /// Opaque cursor from a previous page's `next`.
    pub cursor: Option<String>,
    pub descending: bool,
}

impl Query {
    pub fn partition(pk: impl Into<String>) -> Self {
        Self { pk: pk.into(), sk: SkRange::All, limit: 1000, cursor: None, descending: false }
    }
    pub fn prefix(pk: impl Into<String>, prefix: impl Into<String>) -> Self {
        Self { sk: SkRange::Prefix(prefix.into()), ..Self::partition(pk) }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<Item>,
    /// Cursor for the next page; `None` when this is the last one.
    pub next: Option<String>,
}

/// One operation of a transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    Put {
        item: Item,
        condition: Condition,
    },
    Delete {
        pk: String,
        sk: String,
        condition: Condition,
    },
    /// Checks a condition without writing (DynamoDB `ConditionCheck`).
    Check {
        pk: String,
        sk: String,
        condition: Condition,
    },
    /// Adds to counters, creating the item when there is none (an expired one counts as none):
    /// afterwards the item's `data` is `item.data` (an object) with each counter field holding its
    /// previous value (0 when absent) plus its delta, and the item's index key and expiry are
    /// `item`'s. Atomic and unconditional (DynamoDB `SET … ADD …`; SQLite an upsert), so concurrent
    /// additions all count. Counter fields must not also be fields of `item.data`; an item written
    /// by `Add` is written only by `Add` (a `Put` over it replaces its counters).
    Add {
        item: Item,
        counters: Vec<(String, i64)>,
    },
}

impl WriteOp {
    /// The key of the item the operation is about.
    pub fn key(&self) -> (&str, &str) {
        match self {
            WriteOp::Put { item, .. } | WriteOp::Add { item, .. } => (&item.pk, &item.sk),
            WriteOp::Delete { pk, sk, .. } | WriteOp::Check { pk, sk, .. } => (pk, sk),
        }
    }
}

/// Why one operation of a cancelled transaction failed (`None` for operations that were fine).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelReason {
    ConditionalCheckFailed,
    Other(String),
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum StoreError {
    #[error("condition failed")]
    ConditionFailed,
    #[error("transaction cancelled: {reasons:?}")]
    TransactionCanceled { reasons: Vec<Option<CancelReason>> },
    #[error("invalid cursor")]
    BadCursor,
    #[error("store backend: {0}")]
    Backend(String),
    /// A record or the database itself is damaged (undecodable data, SQLite's
    /// `SQLITE_CORRUPT`/`SQLITE_NOTADB`): retrying cannot help, restoring the data does.
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

#[async_trait]
pub trait Store: Send + Sync {
    /// The item at (pk, sk), unless absent or expired.
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError>;
    /// Writes the item if `condition` holds; returns the new version.
    async fn put(&self, item: Item, condition: Condition) -> Result<u64, StoreError>;
    /// `put` for writes that can be re-derived after a crash: the adapter may acknowledge before
    /// the write is safe from an OS crash (it must survive a process crash), and writes become
    /// durable in order, so any later durable write makes this one durable too. Adapters without
    /// such a mode keep the default, a plain `put`.
    async fn put_relaxed(&self, item: Item, condition: Condition) -> Result<u64, StoreError> {
        self.put(item, condition).await
    }
    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError>;
    /// Items of one partition in sort-key order, paginated.
    async fn query(&self, query: Query) -> Result<Page, StoreError>;
    /// Items whose `gsi1.pk` equals `query.pk`, in `gsi1.sk` order, paginated.
    async fn query_index(&self, query: Query) -> Result<Page, StoreError>;
    /// All operations or none; on a failed condition, `TransactionCanceled` with one reason per op.
    async fn transact_write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError>;
    /// Atomically adds `delta` to the integer at `data[field]` (creating the item and field at 0)
    /// and returns the new value.
    async fn increment(&self, pk: &str, sk: &str, field: &str, delta: i64) -> Result<i64, StoreError>;
    /// One [`WriteOp::Add`] on its own.
    async fn add(&self, item: Item, counters: Vec<(String, i64)>) -> Result<(), StoreError> {
        self.transact_write(vec![WriteOp::Add { item, counters }]).await
    }
}

// ---------------------------------------------------------------------------------------------
// Queue: SQS-shaped at-least-once delivery with delay, visibility timeout and dead-lettering.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingMessage {
    pub body: String,
    /// Invisible until this much time has passed (SQS `DelaySeconds`, here with ms precision).
    pub delay: Duration,
}

impl OutgoingMessage {
    pub fn new(body: impl Into<String>) -> Self {
        Self { body: body.into(), delay: Duration::ZERO }
    }
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedMessage {
    pub id: String,
    /// Handle for `delete`/`change_visibility`; valid for this receipt only.
    pub receipt: String,
    pub body: String,
    /// How many times this message has been received, this time included.
    pub receive_count: u32,
}

/// Per-queue settings. After `max_receives` receives without deletion, the message moves to
/// `dead_letter` (if set) instead of being delivered again.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSpec {
    pub name: String,
    pub max_receives: u32,
    pub dead_letter: Option<String>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum QueueError {
    #[error("unknown queue {0}")]
    UnknownQueue(String),
    #[error("receipt handle is not valid")]
    BadReceipt,
    #[error("queue backend: {0}")]
    Backend(String),
}

#[async_trait]
pub trait Queue: Send + Sync {
    async fn send(&self, queue: &str, messages: Vec<OutgoingMessage>) -> Result<(), QueueError>;
    /// Up to `max` visible messages, each then hidden for `visibility`. Waits up to `wait` for
    /// at least one (long polling).
    async fn receive(&self, queue: &str, max: usize, visibility: Duration, wait: Duration) -> Result<Vec<ReceivedMessage>, QueueError>;
    async fn delete(&self, queue: &str, receipt: &str) -> Result<(), QueueError>;
    async fn change_visibility(&self, queue: &str, receipt: &str, visibility: Duration) -> Result<(), QueueError>;
    /// Approximate number of messages (visible + in flight + delayed), for operations and tests.
    async fn depth(&self, queue: &str) -> Result<usize, QueueError>;
}

// ---------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------

#[async_trait]
pub trait Secrets: Send + Sync {
    async fn get(&self, tenant: &str, name: &str) -> Result<Option<String>, StoreError>;
    async fn put(&self, tenant: &str, name: &str, value: &str) -> Result<(), StoreError>;
    async fn names(&self, tenant: &str) -> Result<Vec<String>, StoreError>;
}

// ---------------------------------------------------------------------------------------------
// Metric totals: series kept outside the process, for deployments where no process lives long
// enough to be scraped (the Lambdas). Series are process-wide aggregates, never per tenant.
// ---------------------------------------------------------------------------------------------

/// One metric series: a name, its labels, and a value that is a delta when added and a total when
/// read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: SeriesValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SeriesValue {
    /// Increments (a delta) or the running total.
    Counter(u64),
    /// The last value set; a write replaces it.
    Gauge(f64),
    /// `buckets` are cumulative counts by upper bound (`le`), ascending; the `+Inf` bucket is
    /// `count`. Cumulative counts add up: the total of the deltas' buckets is the total's bucket.
    Histogram { buckets: Vec<(f64, u64)>, sum: f64, count: u64 },
}

impl SeriesValue {
    pub fn kind(&self) -> &'static str {
        match self {
            SeriesValue::Counter(_) => "counter",
            SeriesValue::Gauge(_) => "gauge",
            SeriesValue::Histogram { .. } => "histogram",
        }
    }
}

/// Partition of a metric's series in the single table (no tenant prefix: these are not tenant data).
pub fn series_pk(name: &str) -> String {
    format!("metrics#{name}")
}

/// Sort key of one series: its labels as canonical JSON (keys sorted, no spaces), so every process
/// names the same series the same way whatever order it passed the labels in.
pub fn series_sk(labels: &BTreeMap<String, String>) -> String {
    serde_json::to_string(labels).unwrap_or_else(|_| "{}".into())
}

/// Where metric totals live: atomic additions from many processes at once, read back by name.
#[async_trait]
pub trait MetricStore: Send + Sync {
    /// Adds a delta to the stored series (creating it at zero first); a gauge is overwritten.
    /// Concurrent additions to one series must all count.
    async fn add(&self, delta: &Series) -> Result<(), StoreError>;
    /// Every stored series of the metric `name`, in label order.
    async fn series(&self, name: &str) -> Result<Vec<Series>, StoreError>;
}

// ---------------------------------------------------------------------------------------------
// Clock
// ---------------------------------------------------------------------------------------------

/// Wall-clock time as the runtime and the embedded store see it: claim leases, API-key expiry,
/// item expiry (retention, idempotency records), long polls and periodic jobs all read it, so a
/// test can move time forward instead of sleeping. The system clock is `aos_runtime::clock::SystemClock`;
/// `aos_runtime::clock::ManualClock` is the one tests move by hand.
#[async_trait]
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
    /// Returns once [`Clock::now_ms`] has reached `at_ms` (at once when it already has).
    async fn sleep_until(&self, at_ms: i64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sort_key_does_not_depend_on_label_order() {
        let a: BTreeMap<String, String> =
            [("code", "X"), ("category", "TRANSIENT")].into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        let b: BTreeMap<String, String> =
            [("category", "TRANSIENT"), ("code", "X")].into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        assert_eq!(series_sk(&a), series_sk(&b));
        assert_eq!(series_sk(&a), r#"{"category":"TRANSIENT","code":"X"}"#);
        assert_eq!(series_sk(&BTreeMap::new()), "{}");
        assert_eq!(series_pk("runs_total"), "metrics#runs_total");
    }
}
