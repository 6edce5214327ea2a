//! Run persistence over the `Store` port: the run item, its attempt items, idempotency records,
//! the active-run markers the sweeper reads, and listing by the tenant index.
//!
//! Each record carries its format version in `v` (absent in records written before versions were
//! written: version 1). A reader takes every version up to its own and refuses a newer one as a
//! corrupt record naming the version; the rule for changing a format is in docs/contributing.md.

use crate::keys;
use aos_core::ports::{CancelReason, Condition, Item, Query, SkRange, Store, StoreError, WriteOp};
use aos_core::run::{AttemptRecord, Run, RunStatus};
use aos_core::DomainError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;

/// The run record's format version this release writes and reads (absent = 1).
pub const RUN_RECORD_VERSION: u32 = 1;
/// The attempt item's format version this release writes and reads (absent = 1).
pub const ATTEMPT_RECORD_VERSION: u32 = 1;
/// The idempotency record's format version this release writes and reads (absent = 1).
pub const IDEMPOTENCY_RECORD_VERSION: u32 = 1;

/// The format version of a stored record's data: its `v`, 1 when absent. A version above `known`
/// was written by a newer release this one cannot read: a corrupt record, as far as this
/// release can tell, whose message names the version.
pub fn record_version(what: &str, data: &Value, known: u32) -> Result<u32, DomainError> {
    let v = match data.get("v") {
        None => 1,
        Some(v) => v
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| DomainError::corrupt(what, format!("format version {v} is not a number")))?,
    };
    if v > known {
        return Err(DomainError::corrupt(
            what,
            format!("format version {v} was written by a newer release; this release reads versions up to {known}"),
        ));
    }
    Ok(v)
}

/// An attempt item: claimed (a side-effecting attempt in progress) or done (with its record).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "state", rename_all = "snake_case")]
// Items are decoded one at a time and moved into records at once: boxing would cost an allocation each.
#[allow(clippy::large_enum_variant)]
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
/// The hash of what was asked for: the plan as submitted (before recovery policies compiled into
/// it, which may differ between two submissions) and the inputs.
/// A rerun or redrive also stands for the run it restarts (absent for a plain submission, so
/// the hashes of earlier records are unchanged).
fn request_hash(run: &Run) -> String {
    let plan = aos_core::policy::submitted_plan(&run.plan, &run.applied_policies);
    let mut request = json!({"plan": plan, "inputs": run.inputs});
    if let Some(of) = &run.rerun_of {
        request["rerun_of"] = json!(of);
    }
    if let Some(of) = &run.redrive_of {
        request["redrive_of"] = json!(of);
    }
    aos_core::canonical::hash_value(&request)
}

/// The domain's reading of a store error (see `From<StoreError> for DomainError`).
pub fn storage(e: StoreError) -> DomainError {
    e.into()
}

/// An unfinished run as the sweeper finds it: its active marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveRun {
    pub tenant: String,
    pub run_id: String,
    /// When a sweep first found the run's record corrupt (and reported it); `None` otherwise.
    pub corrupt_since_ms: Option<i64>,
}

impl RunRepo {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    fn run_item(run: &Run) -> Result<Item, DomainError> {
        let mut data = serde_json::to_value(run).map_err(|e| DomainError::Storage(e.to_string()))?;
        data["v"] = json!(RUN_RECORD_VERSION);
        data["tenant"] = json!(run.tenant);
        Ok(Item::new(keys::run_pk(&run.tenant, &run.run_id), keys::RUN_SK, data)
            .with_index(keys::runs_index_pk(&run.tenant), keys::runs_index_sk(run.created_at_ms, &run.run_id)))
    }

    fn parse_run(item: &Item) -> Result<Run, DomainError> {
        let what = || format!("run record ({}, {})", item.pk, item.sk);
        record_version(&what(), &item.data, RUN_RECORD_VERSION)?;
        // Read from the borrowed value: no copy of the whole record first.
        let mut run = Run::deserialize(&item.data).map_err(|e| DomainError::corrupt(what(), e))?;
        run.tenant = item.data["tenant"].as_str().unwrap_or_default().to_string();
        Ok(run)
    }

    /// Creates the run, its active marker and (if given) its idempotency record, atomically.
    pub async fn create(&self, run: &Run) -> Result<Created, DomainError> {
        self.create_with(run, Vec::new()).await
    }

    /// `create`, with more writes in the same transaction: the first advance of a run that this
    /// process ran before the run was ever written (its inline attempts' and failures' records).
    /// A run created already finished has no active marker.
    pub async fn create_with(&self, run: &Run, extra: Vec<WriteOp>) -> Result<Created, DomainError> {
        let mut ops = vec![WriteOp::Put { item: Self::run_item(run)?, condition: Condition::NotExists }];
        if !run.status.is_terminal() {
            ops.push(WriteOp::Put {
                item: Item::new(keys::active_pk(keys::active_shard(&run.run_id)), &run.run_id, json!({"tenant": run.tenant})),
                condition: Condition::Always,
            });
        }
        let key_at = ops.len();
        if let Some(key) = &run.idempotency_key {
            ops.push(WriteOp::Put {
                item: Item::new(
                    keys::idempotency_pk(&run.tenant, key),
                    keys::IDEMPOTENCY_SK,
                    json!({"v": IDEMPOTENCY_RECORD_VERSION, "run_id": run.run_id, "request_hash": request_hash(run)}),
                )
                .expiring_at(run.created_at_ms / 1000 + 7 * 24 * 3600),
                condition: Condition::NotExists,
            });
        }
        ops.extend(extra);
        match self.store.transact_write(ops).await {
            Ok(()) => Ok(Created::New),
            Err(StoreError::TransactionCanceled { reasons })
                if run.idempotency_key.is_some() && reasons.get(key_at) == Some(&Some(CancelReason::ConditionalCheckFailed)) =>
            {
                let key = run.idempotency_key.as_deref().unwrap_or_default();
                let item = self.store.get(&keys::idempotency_pk(&run.tenant, key), keys::IDEMPOTENCY_SK).await.map_err(storage)?;
                let Some(data) = item.map(|i| i.data) else {
                    return Err(DomainError::Conflict("idempotency key is being used concurrently; retry".into()));
                };
                let what = format!("idempotency record of key `{key}`");
                record_version(&what, &data, IDEMPOTENCY_RECORD_VERSION)?;
                let id = data["run_id"].as_str().map(str::to_string).ok_or_else(|| DomainError::corrupt(&what, "no run id"))?;
                // Records written before the hash existed match any request.
                match data["request_hash"].as_str() {
                    Some(hash) if hash != request_hash(run) => Ok(Created::Mismatch(id)),
                    _ => Ok(Created::Existing(id)),
                }
            }
            Err(e) => Err(storage(e)),
        }
    }

    /// Whether the tenant's idempotency key is already taken (by a run created or being created).
    pub async fn idempotency_taken(&self, tenant: &str, key: &str) -> Result<bool, DomainError> {
        Ok(self.store.get(&keys::idempotency_pk(tenant, key), keys::IDEMPOTENCY_SK).await.map_err(storage)?.is_some())
    }

    /// Writes the attempts a redrive copies into its new run, before the run itself exists (so
    /// the run never advances without them). Each is written only if absent and without the
    /// skill-history index entry: the attempt was not executed again, so it is no new latency or
    /// cost observation. A crash before the run is created leaves them under a run id that
    /// never comes to exist.
    pub async fn put_seeded_attempts(&self, tenant: &str, run_id: &str, attempts: &[AttemptRecord]) -> Result<(), DomainError> {
        for chunk in attempts.chunks(8) {
            futures::future::try_join_all(chunk.iter().map(|record| self.put_seeded_attempt(tenant, run_id, record))).await?;
        }
        Ok(())
    }

    async fn put_seeded_attempt(&self, tenant: &str, run_id: &str, record: &AttemptRecord) -> Result<(), DomainError> {
        let item = AttemptItem::Done { record: record.clone() };
        let mut data = serde_json::to_value(&item).map_err(|e| DomainError::Storage(e.to_string()))?;
        data["v"] = json!(ATTEMPT_RECORD_VERSION);
        let item = Item::new(keys::run_pk(tenant, run_id), keys::attempt_sk(&record.step_id, record.attempt), data);
        self.store.put(item, Condition::NotExists).await.map(drop).map_err(storage)
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
                    match parse_attempt(item) {
                        Ok(AttemptItem::Done { record }) => attempts.push(record),
                        Ok(AttemptItem::Claimed { .. }) => {
                            let mut parts = item.sk.splitn(3, '#').skip(1);
                            if let (Some(step), Some(n)) = (parts.next(), parts.next().and_then(|n| n.parse().ok())) {
                                claimed.push((step.to_string(), n));
                            }
                        }
                        Err(e) => return Err(e),
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
            ops.push(WriteOp::Delete {
                pk: keys::active_pk(keys::active_shard(&run.run_id)),
                sk: run.run_id.clone(),
                condition: Condition::Always,
            });
        }
        ops.extend(extra);
        match self.store.transact_write(ops).await {
            Err(StoreError::TransactionCanceled { reasons }) if reasons.first() == Some(&Some(CancelReason::ConditionalCheckFailed)) => {
                Err(StoreError::ConditionFailed)
            }
            other => other,
        }
    }

    /// The attempt item, if any. One that does not decode is `StoreError::Corrupt` (never taken
    /// for absent, which would let a worker claim and run the attempt again).
    pub async fn get_attempt(
        &self,
        tenant: &str,
        run_id: &str,
        step: &str,
        attempt: u32,
    ) -> Result<Option<(AttemptItem, u64)>, StoreError> {
        let Some(item) = self.store.get(&keys::run_pk(tenant, run_id), &keys::attempt_sk(step, attempt)).await? else { return Ok(None) };
        match parse_attempt(&item) {
            Ok(a) => Ok(Some((a, item.version))),
            Err(DomainError::Corrupt(m)) => Err(StoreError::Corrupt(m)),
            Err(e) => Err(StoreError::Backend(e.to_string())),
        }
    }

    /// The stored item of an attempt (a finished one is indexed in its skill's history).
    pub(crate) fn attempt_item(tenant: &str, run_id: &str, step: &str, attempt: u32, value: &AttemptItem) -> Result<Item, StoreError> {
        let mut data = serde_json::to_value(value).map_err(|e| StoreError::Backend(e.to_string()))?;
        data["v"] = json!(ATTEMPT_RECORD_VERSION);
        let mut item = Item::new(keys::run_pk(tenant, run_id), keys::attempt_sk(step, attempt), data);
        if let AttemptItem::Done { record } = value {
            item = item.with_index(
                keys::skill_history_pk(tenant, &record.skill),
                keys::skill_history_sk(record.finished_at_ms, run_id, step, attempt),
            );
        }
        Ok(item)
    }

    /// Writes an attempt item. `relaxed` suits outcomes of pure skills, which recovery can
    /// recompute by running the attempt again (see `Store::put_relaxed`).
    #[allow(clippy::too_many_arguments)] // the attempt's full key, the item and how to write it
    pub async fn put_attempt(
        &self,
        tenant: &str,
        run_id: &str,
        step: &str,
        attempt: u32,
        value: &AttemptItem,
        condition: Condition,
        relaxed: bool,
    ) -> Result<u64, StoreError> {
        let item = Self::attempt_item(tenant, run_id, step, attempt, value)?;
        if relaxed {
            self.store.put_relaxed(item, condition).await
        } else {
            self.store.put(item, condition).await
        }
    }

    /// A page of the tenant's runs, newest first, optionally filtered by status and creation time.
    pub async fn list(
        &self,
        tenant: &str,
        filter: &RunFilter,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<(Vec<Run>, Option<String>), DomainError> {
        let lo = keys::runs_index_sk(filter.created_after_ms.unwrap_or(0), "");
        let hi = keys::runs_index_sk(filter.created_before_ms.unwrap_or(9_999_999_999_999), "~");
        let mut q = Query { pk: keys::runs_index_pk(tenant), sk: SkRange::Between(lo, hi), limit, cursor, descending: true };
        let mut out = Vec::new();
        // A status filter is applied after the index read (like a DynamoDB FilterExpression), so a
        // page may need several index pages to fill.
        loop {
            let page = self.store.query_index(q.clone()).await.map_err(|e| match e {
                StoreError::BadCursor => {
                    DomainError::invalid(aos_core::FieldError::new("INVALID_CURSOR", "cursor is not valid").field("cursor"))
                }
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

    /// Unfinished runs (tenant, run id).
    pub async fn active(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self.active_runs().await?.into_iter().map(|a| (a.tenant, a.run_id)).collect())
    }

    /// Unfinished runs as their active markers say, for the sweeper.
    pub async fn active_runs(&self) -> Result<Vec<ActiveRun>, StoreError> {
        let mut out = Vec::new();
        for shard in 0..keys::ACTIVE_SHARDS {
            let mut q = Query::partition(keys::active_pk(shard));
            loop {
                let page = self.store.query(q.clone()).await?;
                out.extend(page.items.iter().map(|i| ActiveRun {
                    tenant: i.data["tenant"].as_str().unwrap_or_default().to_string(),
                    run_id: i.sk.clone(),
                    corrupt_since_ms: i.data["corrupt_since_ms"].as_i64(),
                }));
                match page.next {
                    Some(c) => q.cursor = Some(c),
                    None => break,
                }
            }
        }
        Ok(out)
    }

    /// Marks an active run's record as found corrupt since `since_ms` (or clears the mark), on
    /// its marker, only while the marker exists (a finished run's is gone). Best effort: an
    /// unwritten mark only means the next sweep reports the run again.
    pub async fn mark_corrupt(&self, run: &ActiveRun, since_ms: Option<i64>) {
        let mut data = json!({"tenant": run.tenant});
        if let Some(since) = since_ms {
            data["corrupt_since_ms"] = json!(since);
        }
        let marker = Item::new(keys::active_pk(keys::active_shard(&run.run_id)), &run.run_id, data);
        match self.store.put(marker, Condition::Exists).await {
            Ok(_) | Err(StoreError::ConditionFailed) => {}
            Err(e) => tracing::warn!(run_id = %run.run_id, error = %e, "could not mark the run's active marker"),
        }
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

/// The system clock's time (ms since the epoch). The runtime's own paths read its injected
/// clock instead (`Runtime::now_ms`); this is for code outside it.
pub fn now_ms() -> i64 {
    crate::clock::system_now_ms()
}

/// An attempt item's contents, checked against the versions this release reads.
fn parse_attempt(item: &Item) -> Result<AttemptItem, DomainError> {
    let what = || format!("attempt item ({}, {})", item.pk, item.sk);
    record_version(&what(), &item.data, ATTEMPT_RECORD_VERSION)?;
    AttemptItem::deserialize(&item.data).map_err(|e| DomainError::corrupt(what(), e))
}

pub fn to_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_data() -> Value {
        json!({"run_id": "r1", "plan": {"name": "p", "steps": []}, "inputs": {}, "seed": 1, "status": "queued", "created_at_ms": 5, "steps": {}, "cost_usd": 0.0, "tenant": "t"})
    }

    #[test]
    fn records_without_a_version_are_version_1_and_newer_ones_are_refused() {
        let item = |data: Value| Item::new(keys::run_pk("t", "r1"), keys::RUN_SK, data);
        // Written by the previous release: no `v`.
        let old = RunRepo::parse_run(&item(run_data())).expect("version 1 reads");
        assert_eq!((old.run_id.as_str(), old.tenant.as_str()), ("r1", "t"));
        // Written now: `v` is the current version, and reads back the same.
        let written = RunRepo::run_item(&old).unwrap();
        assert_eq!(written.data["v"], json!(RUN_RECORD_VERSION));
        assert_eq!(RunRepo::parse_run(&written).unwrap(), old);
        // Written by a newer release: refused as a corrupt record that says why.
        let mut newer = run_data();
        newer["v"] = json!(RUN_RECORD_VERSION + 1);
        let e = RunRepo::parse_run(&item(newer)).expect_err("newer");
        assert!(matches!(&e, DomainError::Corrupt(m) if m.contains("newer release")), "{e}");
        // Damaged: corrupt, not unavailable.
        assert!(matches!(RunRepo::parse_run(&item(json!({"run_id": 7}))), Err(DomainError::Corrupt(_))));
        assert!(matches!(record_version("x", &json!({"v": "2"}), 1), Err(DomainError::Corrupt(_))));
    }

    #[test]
    fn attempt_items_carry_their_version() {
        let claimed = AttemptItem::Claimed { owner: "o".into(), lease_until_ms: 1 };
        let mut data = serde_json::to_value(&claimed).unwrap();
        let item = Item::new("pk", "att#a#0001", data.clone());
        assert_eq!(parse_attempt(&item).unwrap(), claimed, "no `v`: version 1");
        data["v"] = json!(ATTEMPT_RECORD_VERSION + 1);
        assert!(matches!(parse_attempt(&Item::new("pk", "att#a#0001", data)), Err(DomainError::Corrupt(_))));
    }
}
