//! Failure statistics over a time range: totals, match rate, counts by code, catalog entry,
//! category, skill and kind, recovery success per mode, and a time series, all computed from the
//! records in one pass.

use super::query::{scan, FailureFilter, TimeRange};
use super::record::FailureRecord;
use aos_core::ports::Store;
use aos_core::DomainError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Records one statistics request reads at most (`truncated` says when there were more).
pub const MAX_STATS_RECORDS: usize = 100_000;
/// Buckets one time series may have at most.
pub const MAX_BUCKETS: i64 = 1000;

/// Recoveries of some failures and how they ended.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct RecoveryStats {
    /// Failures followed by a retry or a fallback.
    pub attempted: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// Attempted, outcome not known yet.
    pub pending: u64,
    /// `succeeded / (succeeded + failed)`; `null` while no outcome is known.
    #[schema(required = true)]
    pub success_rate: Option<f64>,
}

impl RecoveryStats {
    fn add(&mut self, r: &FailureRecord) {
        self.attempted += 1;
        match r.recovery_succeeded {
            Some(true) => self.succeeded += 1,
            Some(false) => self.failed += 1,
            None => self.pending += 1,
        }
        let known = self.succeeded + self.failed;
        self.success_rate = (known > 0).then(|| self.succeeded as f64 / known as f64);
    }
}

/// One interval of the time series.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct FailureBucket {
    /// Start of the interval (ms since the epoch); it lasts `bucket_ms`.
    pub start_ms: i64,
    pub total: u64,
    pub matched: u64,
    /// Failures whose recovery succeeded.
    pub recovered: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct FailureStats {
    pub from_ms: i64,
    pub to_ms: i64,
    pub bucket_ms: i64,
    pub total: u64,
    pub matched: u64,
    /// `matched / total`; 0 when there is no failure.
    pub match_rate: f64,
    /// By record kind: `attempt`, `step`, `run`, `rejected`.
    pub by_kind: BTreeMap<String, u64>,
    /// By error code (`HTTP_503`).
    pub by_code: BTreeMap<String, u64>,
    /// By catalog entry (`HTTP_SERVICE_UNAVAILABLE`), matched failures only.
    pub by_catalog_code: BTreeMap<String, u64>,
    pub by_category: BTreeMap<String, u64>,
    /// By skill, for failures that have one.
    pub by_skill: BTreeMap<String, u64>,
    pub recovery: RecoveryStats,
    /// Recoveries by the mode carried out (`retry_exponential`, `fallback`, ...).
    pub recovery_by_mode: BTreeMap<String, RecoveryStats>,
    /// Every interval of `bucket_ms` from `from_ms` on, oldest first (empty ones included).
    pub buckets: Vec<FailureBucket>,
    /// More than 100000 records were in range; the figures cover the oldest 100000.
    pub truncated: bool,
}

/// Checks the bucket size against the range: positive, and at most `MAX_BUCKETS` buckets.
pub fn check_bucket(range: &TimeRange, bucket_ms: i64) -> Result<(), DomainError> {
    let span = range.to_ms - range.from_ms + 1;
    if bucket_ms <= 0 || (span + bucket_ms - 1) / bucket_ms > MAX_BUCKETS {
        let msg = format!("bucket_ms must be positive and make at most {MAX_BUCKETS} buckets of the range ({span} ms)");
        return Err(DomainError::invalid(aos_core::FieldError::new("INVALID_QUERY", msg).field("bucket_ms")));
    }
    Ok(())
}

pub async fn stats(
    store: &dyn Store,
    tenant: &str,
    range: &TimeRange,
    bucket_ms: i64,
    filter: &FailureFilter,
) -> Result<FailureStats, DomainError> {
    check_bucket(range, bucket_ms)?;
    let span = range.to_ms - range.from_ms + 1;
    let n = (span + bucket_ms - 1) / bucket_ms;
    let mut s = FailureStats {
        from_ms: range.from_ms,
        to_ms: range.to_ms,
        bucket_ms,
        buckets: (0..n).map(|i| FailureBucket { start_ms: range.from_ms + i * bucket_ms, ..Default::default() }).collect(),
        ..Default::default()
    };
    let truncated = scan(store, tenant, range, MAX_STATS_RECORDS, |r| {
        if filter.accepts(&r) {
            add(&mut s, &r);
        }
    })
    .await?;
    s.truncated = truncated;
    s.match_rate = if s.total > 0 { s.matched as f64 / s.total as f64 } else { 0.0 };
    Ok(s)
}

fn add(s: &mut FailureStats, r: &FailureRecord) {
    s.total += 1;
    *s.by_kind.entry(r.kind.as_str().to_string()).or_default() += 1;
    *s.by_code.entry(r.code.clone()).or_default() += 1;
    *s.by_category.entry(r.category.as_str().to_string()).or_default() += 1;
    if let Some(skill) = &r.skill {
        *s.by_skill.entry(skill.clone()).or_default() += 1;
    }
    if r.matched {
        s.matched += 1;
        if let Some(code) = &r.catalog_code {
            *s.by_catalog_code.entry(code.clone()).or_default() += 1;
        }
    }
    if r.recovery_attempted {
        s.recovery.add(r);
        let mode = r.recovery_mode.map(|m| m.as_str()).unwrap_or("unknown");
        s.recovery_by_mode.entry(mode.to_string()).or_default().add(r);
    }
    let i = ((r.at_ms - s.from_ms) / s.bucket_ms) as usize;
    if let Some(b) = s.buckets.get_mut(i) {
        b.total += 1;
        b.matched += u64::from(r.matched);
        b.recovered += u64::from(r.recovery_succeeded == Some(true));
    }
}
