//! Shared setup of the moto tests: the endpoint (required, never skipped), SDK configuration
//! with dummy credentials, per-test tables and queues, and a shim that serialises writes per item
//! because moto's own writes are not atomic under concurrency.

use aos_aws::SdkConfig;
use aos_aws::{create_queues, create_table, DynamoStore, SqsQueue};
use aos_core::ports::{Condition, Item, Query, QueueSpec, Store, StoreError, WriteOp};
use aos_store::conformance::ConformanceQueues;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The moto endpoint. Missing it is a failure, never a skip: a green run must mean the AWS
/// adapters were exercised.
pub fn endpoint() -> String {
    std::env::var("AOS_TEST_MOTO_URL").unwrap_or_else(|_| {
        panic!(
            "AOS_TEST_MOTO_URL is not set: the aos-aws tests need a moto server. Start one with \
             `bash tests/stack/moto.sh start 5599` and `export AOS_TEST_MOTO_URL=http://127.0.0.1:5599` \
             (stop it afterwards with `bash tests/stack/moto.sh stop 5599`)."
        )
    })
}

/// SDK configuration for moto: built the way every Lambda function builds its own
/// (`aos_aws::env_sdk_config`), from variables set here rather than in the process environment.
pub async fn config() -> SdkConfig {
    let endpoint = endpoint();
    let vars = [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
    ];
    aos_aws::sdk_config_from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())).expect("SDK configuration for moto")
}

pub fn unique(kind: &str) -> String {
    format!("aos-{kind}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

pub fn epoch_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

pub async fn new_store(config: &SdkConfig) -> DynamoStore {
    let client = aws_sdk_dynamodb::Client::new(config);
    let table = unique("table");
    create_table(&client, &table).await.expect("create table");
    create_table(&client, &table).await.expect("create_table is idempotent");
    DynamoStore::new(client, table)
}

/// SQS works in whole seconds and accepts stale receipts (moto even acts on them); moto's counts
/// are exact, so `depth` is checked too.
pub fn sqs_names(prefix: &str) -> ConformanceQueues {
    ConformanceQueues { tick: Duration::from_secs(1), exact_depth: true, stale_receipts_rejected: false, ..ConformanceQueues::new(prefix) }
}

pub async fn new_queue(config: &SdkConfig, specs: &[QueueSpec]) -> (SqsQueue, HashMap<String, String>) {
    let client = aws_sdk_sqs::Client::new(config);
    let urls = create_queues(&client, &format!("{}-", unique("q")), specs).await.expect("create queues");
    (SqsQueue::new(client, urls.clone()), urls)
}

/// Writes to one item, one at a time. DynamoDB applies each write to an item atomically; moto's
/// threaded server does not (its UpdateItem and conditional PutItem read, check and write without
/// a lock, so two concurrent increments can both read 17 and write 18). The suite's concurrency
/// checks go through this shim so that they test the adapter rather than moto's races.
pub struct OneWriterPerItem {
    store: DynamoStore,
    locks: std::sync::Mutex<HashMap<ItemKey, Arc<tokio::sync::Mutex<()>>>>,
}

type ItemKey = (String, String);

impl OneWriterPerItem {
    pub fn new(store: DynamoStore) -> Self {
        Self { store, locks: Default::default() }
    }

    async fn lock(&self, mut keys: Vec<ItemKey>) -> Vec<tokio::sync::OwnedMutexGuard<()>> {
        keys.sort();
        keys.dedup();
        let mutexes: Vec<_> = {
            let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            keys.into_iter().map(|k| locks.entry(k).or_default().clone()).collect()
        };
        let mut guards = Vec::new();
        for m in mutexes {
            guards.push(m.lock_owned().await);
        }
        guards
    }
}

fn key(pk: &str, sk: &str) -> ItemKey {
    (pk.to_string(), sk.to_string())
}

#[async_trait::async_trait]
impl Store for OneWriterPerItem {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.store.get(pk, sk).await
    }
    async fn put(&self, item: Item, condition: Condition) -> Result<u64, StoreError> {
        let _guard = self.lock(vec![key(&item.pk, &item.sk)]).await;
        self.store.put(item, condition).await
    }
    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        let _guard = self.lock(vec![key(pk, sk)]).await;
        self.store.delete(pk, sk, condition).await
    }
    async fn query(&self, query: Query) -> Result<aos_core::ports::Page, StoreError> {
        self.store.query(query).await
    }
    async fn query_index(&self, query: Query) -> Result<aos_core::ports::Page, StoreError> {
        self.store.query_index(query).await
    }
    async fn transact_write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let keys = ops.iter().map(|op| key(op.key().0, op.key().1)).collect();
        let _guard = self.lock(keys).await;
        self.store.transact_write(ops).await
    }
    async fn increment(&self, pk: &str, sk: &str, field: &str, delta: i64) -> Result<i64, StoreError> {
        let _guard = self.lock(vec![key(pk, sk)]).await;
        self.store.increment(pk, sk, field, delta).await
    }
    async fn add(&self, item: Item, counters: Vec<(String, i64)>) -> Result<(), StoreError> {
        let _guard = self.lock(vec![key(&item.pk, &item.sk)]).await;
        self.store.add(item, counters).await
    }
}
