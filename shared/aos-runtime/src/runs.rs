//! Run persistence over the `Store` port: the run item, its attempt items, idempotency records,
//! the active-run markers the sweeper reads, and listing by the tenant index.

use crate::keys;
use aos_core::ports::{CancelReason, Condition, Item, Query, SkRange, Store, StoreError, WriteOp};
use aos_core::run::{AttemptRecord, Run, RunStatus};
use aos_core::DomainError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;

/// An attempt item: claimed (a side-effecting attempt in progress) or done (with its record).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AttemptItem {
    Claimed { owner: String, lease_until_ms: i64 },
    Done { record: AttemptRecord },
}

/// A run as loaded: its record, the store version (for optimistic concurrency) and attempts.
pub struct LoadedRun {
    pub run: Run,
    pub version: u64,
    pub attempts: Vec<AttemptRecord>,
    /// Attempts claimed but not finished: (step, attempt).
    pub claimed: Vec<(String, u32)>,
}

#[derive(Clone)]
pub struct RunRepo {
    pub store: Arc<dyn Store>,
}

pub enum Created {
    New,
    /// The idempotency key was used before: this is the earlier run's id.
    Existing(String),
    /// The idempotency key was used before for a different request (another plan or inputs).
    Mismatch(String),
}

/// What an idempotency key stands for: the plan and the inputs (canonical hash), so reusing a
/// key for a different request is refused instead of silently answered with the earlier run.
fn request_hash(run: &Run) -> String {
    aos_core::canonical::hash_value(&json!({"plan": run.plan, "inputs": run.inputs}))
}

pub fn storage(e: StoreError) -> DomainError {
    DomainError::Storage(e.to_string())
}

impl RunRepo {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    fn run_item(run: &Run) -> Result<Item, DomainError> {
        let mut data = serde_json::to_value(run).map_err(|e| DomainError::Storage(e.to_string()))?;
        data["tenant"] = json!(run.tenant);
        Ok(Item::new(keys::run_pk(&run.tenant, &run.run_id), keys::RUN_SK, data)
            .with_index(keys::runs_index_pk(&run.tenant), keys::runs_index_sk(run.created_at_ms, &run.run_id)))
    }

    fn parse_run(item: &Item) -> Result<Run, DomainError> {
        let mut run: Run = serde_json::from_value(item.data.clone()).map_err(|e| DomainError::Storage(format!("corrupt run record: {e}")))?;
        run.tenant = item.data["tenant"].as_str().unwrap_or_default().to_string();
        Ok(run)
    }

    /// Creates the run, its active marker and (if given) its idempotency record, atomically.
    pub async fn create(&self, run: &Run) -> Result<Created, DomainError> {
        let mut ops = vec![
            WriteOp::Put { item: Self::run_item(run)?, condition: Condition::NotExists },
            WriteOp::Put {
                item: Item::new(keys::active_pk(keys::active_shard(&run.run_id)), &run.run_id, json!({"tenant": run.tenant})),
                condition: Condition::Always,
            },
        ];
        if let Some(key) = &run.idempotency_key {
            ops.push(WriteOp::Put {
                item: Item::new(keys::idempotency_pk(&run.tenant, key), keys::IDEMPOTENCY_SK, json!({"run_id": run.run_id, "request_hash": request_hash(run)}))
                    .expiring_at(run.created_at_ms / 1000 + 7 * 24 * 3600),
                condition: Condition::NotExists,
            });
        }
        match self.store.transact_write(ops).await {
            Ok(()) => Ok(Created::New),
            Err(StoreError::TransactionCanceled { reasons }) if reasons.get(2) == Some(&Some(CancelReason::ConditionalCheckFailed)) => {
                let key = run.idempotency_key.as_deref().unwrap_or_default();
                let item = self.store.get(&keys::idempotency_pk(&run.tenant, key), keys::IDEMPOTENCY_SK).await.map_err(storage)?;
                let Some(data) = item.map(|i| i.data) else {
                    return Err(DomainError::Conflict("idempotency key is being used concurrently; retry".into()));
                };
                let id = data["run_id"].as_str().map(str::to_string).ok_or_else(|| DomainError::Storage("idempotency record without a run id".into()))?;
                // Records written before the hash existed match any request.
                match data["request_hash"].as_str() {
                    Some(hash) if hash != request_hash(run) => Ok(Created::Mismatch(id)),
                    _ => Ok(Created::Existing(id)),
                }
            }
            Err(e) => Err(storage(e)),
        }
    }

    pub async fn get(&self, tenant: &str, run_id: &str) -> Result<Option<(Run, u64)>, DomainError> {
        match self.store.get(&keys::run_pk(tenant, run_id), keys::RUN_SK).await.map_err(storage)? {
            None => Ok(None),
            Some(item) => Ok(Some((Self::parse_run(&item)?, item.version))),
        }
    }

    /// The run with every attempt, in one partition query.
    pub async fn load(&self, tenant: &str, run_id: &str) -> Result<Option<LoadedRun>, DomainError> {
        // Pages of 100 are read inline by the embedded store (no thread hand-off).
        let mut q = Query { limit: 100, ..Query::partition(keys::run_pk(tenant, run_id)) };
        let mut run = None;
        let mut attempts = Vec::new();
        let mut claimed = Vec::new();
        loop {
            let page = self.store.query(q.clone()).await.map_err(storage)?;
            for item in &page.items {
                if item.sk == keys::RUN_SK {
                    run = Some((Self::parse_run(item)?, item.version));
                } else if item.sk.starts_with(keys::ATTEMPT_PREFIX) {
                    match serde_json::from_value::<AttemptItem>(item.data.clone()) {
                        Ok(AttemptItem::Done { record }) => attempts.push(record),
                        Ok(AttemptItem::Claimed { .. }) => {
                            let mut parts = item.sk.splitn(3, '#').skip(1);
                            if let (Some(step), Some(n)) = (parts.next(), parts.next().and_then(|n| n.parse().ok())) {
                                claimed.push((step.to_string(), n));
                            }
                        }
                        Err(e) => return Err(DomainError::Storage(format!("corrupt attempt {}: {e}", item.sk))),
                    }
                }
            }
            match page.next {
                Some(c) => q.cursor = Some(c),
                None => break,
            }
        }
        Ok(run.map(|(run, version)| LoadedRun { run, version, attempts, claimed }))
    }

    /// Saves the run if nobody else changed it since `version`; clears the active marker when it finished.
    pub async fn save(&self, run: &Run, version: u64) -> Result<(), StoreError> {
        self.save_with(run, version, Vec::new()).await
    }

    /// `save`, with more writes that must happen exactly when the save does (the failure records
    /// of the decision being saved), all in one transaction.
    pub async fn save_with(&self, run: &Run, version: u64, extra: Vec<WriteOp>) -> Result<(), StoreError> {
        let item = Self::run_item(run).map_err(|e| StoreError::Backend(e.to_string()))?;
        if !run.status.is_terminal() && extra.is_empty() {
            return self.store.put(item, Condition::VersionIs(version)).await.map(drop);
        }
        let mut ops = vec![WriteOp::Put { item, condition: Condition::VersionIs(version) }];
        if run.status.is_terminal() {
            ops.push(WriteOp::Delete { pk: keys::active_pk(keys::active_shard(&run.run_id)), sk: run.run_id.clone(), condition: Condition::Always });
        }
        ops.extend(extra);
        match self.store.transact_write(ops).await {
            Err(StoreError::TransactionCanceled { reasons }) if reasons.first() == Some(&Some(CancelReason::ConditionalCheckFailed)) => Err(StoreError::ConditionFailed),
            other => other,
        }
    }

    pub async fn get_attempt(&self, tenant: &str, run_id: &str, step: &str, attempt: u32) -> Result<Option<(AttemptItem, u64)>, StoreError> {
        let item = self.store.get(&keys::run_pk(tenant, run_id), &keys::attempt_sk(step, attempt)).await?;
        Ok(item.and_then(|i| serde_json::from_value(i.data).ok().map(|a| (a, i.version))))
    }

    /// Writes an attempt item. `relaxed` suits outcomes of pure skills, which recovery can
    /// recompute by running the attempt again (see `Store::put_relaxed`).
    pub async fn put_attempt(&self, tenant: &str, run_id: &str, step: &str, attempt: u32, value: &AttemptItem, condition: Condition, relaxed: bool) -> Result<u64, StoreError> {
        let data = serde_json::to_value(value).map_err(|e| StoreError::Backend(e.to_string()))?;
        let mut item = Item::new(keys::run_pk(tenant, run_id), keys::attempt_sk(step, attempt), data);
        if let AttemptItem::Done { record } = value {
            item = item.with_index(
                keys::skill_history_pk(tenant, &record.skill),
                keys::skill_history_sk(record.finished_at_ms, run_id, step, attempt),
            );
        }
        if relaxed {
            self.store.put_relaxed(item, condition).await
        } else {
            self.store.put(item, condition).await
        }
    }

    /// A page of the tenant's runs, newest first, optionally filtered by status and creation time.
    pub async fn list(&self, tenant: &str, filter: &RunFilter, limit: usize, cursor: Option<String>) -> Result<(Vec<Run>, Option<String>), DomainError> {
        let lo = keys::runs_index_sk(filter.created_after_ms.unwrap_or(0), "");
        let hi = keys::runs_index_sk(filter.created_before_ms.unwrap_or(9_999_999_999_999), "~");
        let mut q = Query { pk: keys::runs_index_pk(tenant), sk: SkRange::Between(lo, hi), limit, cursor, descending: true };
        let mut out = Vec::new();
        // A status filter is applied after the index read (like a DynamoDB FilterExpression), so a
        // page may need several index pages to fill.
        loop {
            let page = self.store.query_index(q.clone()).await.map_err(|e| match e {
                StoreError::BadCursor => DomainError::invalid(aos_core::FieldError::new("INVALID_CURSOR", "cursor is not valid").field("cursor")),
                other => storage(other),
            })?;
            for item in &page.items {
                let run = Self::parse_run(item)?;
                if filter.status.is_none_or(|s| s == run.status) {
                    out.push(run);
                }
            }
            match page.next {
                Some(c) if out.len() < limit => {
                    // Never read past what the page can hold, so the cursor stays exact.
                    q.cursor = Some(c);
                    q.limit = limit - out.len();
                }
                next => return Ok((out, next)),
            }
        }
    }

    /// Unfinished runs (tenant, run id), for the sweeper.
    pub async fn active(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut out = Vec::new();
        for shard in 0..keys::ACTIVE_SHARDS {
            let mut q = Query::partition(keys::active_pk(shard));
            loop {
                let page = self.store.query(q.clone()).await?;
                out.extend(page.items.iter().map(|i| (i.data["tenant"].as_str().unwrap_or_default().to_string(), i.sk.clone())));
                match page.next {
                    Some(c) => q.cursor = Some(c),
                    None => break,
                }
            }
        }
        Ok(out)
    }

    /// The tenant's most recent finished attempts of one skill (newest first).
    pub async fn skill_history(&self, tenant: &str, skill: &str, limit: usize) -> Result<Vec<AttemptRecord>, StoreError> {
        let q = Query { pk: keys::skill_history_pk(tenant, skill), sk: SkRange::All, limit, cursor: None, descending: true };
        let page = self.store.query_index(q).await?;
        Ok(page
            .items
            .into_iter()
            .filter_map(|i| match serde_json::from_value::<AttemptItem>(i.data) {
                Ok(AttemptItem::Done { record }) => Some(record),
                _ => None,
            })
            .collect())
    }
}

#[derive(Debug, Default, Clone)]
pub struct RunFilter {
    pub status: Option<RunStatus>,
    pub created_after_ms: Option<i64>,
    pub created_before_ms: Option<i64>,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

pub fn to_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}
