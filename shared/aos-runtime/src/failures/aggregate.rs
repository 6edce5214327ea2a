//! The failure aggregation job: reads the last N days of failure records of every tenant that had
//! failures, folds them into catalog candidates (`candidates`), and stores one result per tenant
//! (its own failures and examples only) plus the platform-wide export (every tenant, with tenant
//! counts). Run nightly by `aos serve` and by the `aggregator` Lambda, and on demand through
//! `POST /api/v1/failures/aggregate`.
//!
//! Which tenants had failures on which day comes from a small index written with the records:
//! `faildays#<day>` holds one item per tenant (sort key = tenant), written once per process per
//! tenant and day, before the records themselves (so it may name a tenant with no records, never
//! miss one). A result is stored as a head item plus one item per candidate under a generation,
//! so no item nears DynamoDB's 400 KB and readers page through it with the store's cursor.

use super::candidates::{CandidateFold, FailureCandidate, FoldConfig, DEFAULT_WINDOW_DAYS};
use super::days::{day_label, day_number, label_of_day, DAY_MS};
use super::query::{scan, TimeRange};
use super::record::FailureRecord;
use super::FailureLog;
use crate::keys::{failure_candidates_pk as tenant_candidates_pk, failure_days_pk as days_index_pk, PLATFORM_CANDIDATES_PK};
use aos_core::ports::{Condition, Item, Query, SkRange, StoreError};
use aos_core::{DomainError, FieldError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeSet;
use utoipa::ToSchema;

pub const DAYS_ENV: &str = "AOS_AGGREGATE_DAYS";
pub const LOW_CONFIDENCE_ENV: &str = "AOS_AGGREGATE_LOW_CONFIDENCE";
/// The longest window one aggregation may read.
pub const MAX_WINDOW_DAYS: u32 = 366;
const HEAD_SK: &str = "head";
/// Index entries remembered per process before the memory is cleared.
const MAX_NOTED: usize = 10_000;

/// What one aggregation reads and keeps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AggregateOptions {
    /// Days back from now (1 to 366).
    pub days: u32,
    pub fold: FoldConfig,
}

impl Default for AggregateOptions {
    fn default() -> Self {
        Self { days: DEFAULT_WINDOW_DAYS, fold: FoldConfig::default() }
    }
}

fn invalid(field: &str, message: String) -> DomainError {
    DomainError::invalid(FieldError::new("INVALID_QUERY", message).field(field))
}

impl AggregateOptions {
    /// The defaults with `days` and `low_confidence` checked (query parameters or environment).
    pub fn new(days: Option<u32>, low_confidence: Option<f64>) -> Result<Self, DomainError> {
        let mut o = Self::default();
        if let Some(d) = days {
            if !(1..=MAX_WINDOW_DAYS).contains(&d) {
                return Err(invalid("days", format!("days must be from 1 to {MAX_WINDOW_DAYS}")));
            }
            o.days = d;
        }
        if let Some(c) = low_confidence {
            if !(c > 0.0 && c <= 1.0) {
                return Err(invalid("low_confidence", "low_confidence must be above 0 and at most 1".into()));
            }
            o.fold.low_confidence = c;
        }
        Ok(o)
    }

    /// `AOS_AGGREGATE_DAYS` (default 7) and `AOS_AGGREGATE_LOW_CONFIDENCE` (default 0.75).
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let days = match var(DAYS_ENV) {
            Some(v) => Some(v.trim().parse::<u32>().map_err(|_| format!("{DAYS_ENV} must be a number of days, not `{v}`"))?),
            None => None,
        };
        let low = match var(LOW_CONFIDENCE_ENV) {
            Some(v) => Some(v.trim().parse::<f64>().map_err(|_| format!("{LOW_CONFIDENCE_ENV} must be a number, not `{v}`"))?),
            None => None,
        };
        Self::new(days, low).map_err(|e| match e {
            DomainError::Invalid(f) => {
                format!("{}: {}", if f[0].field.as_deref() == Some("days") { DAYS_ENV } else { LOW_CONFIDENCE_ENV }, f[0].message)
            }
            other => other.to_string(),
        })
    }
}

/// The time window an aggregation read, both ends inclusive.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct AggregationWindow {
    pub from_ms: i64,
    pub to_ms: i64,
    pub days: u32,
}

/// A stored aggregation result, without its candidates.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct CandidatesHead {
    /// When the aggregation ran (ms since the epoch).
    pub generated_at_ms: i64,
    pub window: AggregationWindow,
    /// Matched failures below this confidence were candidates (unmatched ones always are).
    pub low_confidence: f64,
    /// Failure records read.
    pub scanned: u64,
    /// Records that were candidates (unmatched or low-confidence; runs' own failures excluded).
    pub considered: u64,
    /// Whether more signatures were seen than the fold tracks, so counts may be overestimates
    /// (by at most each candidate's `count_error`).
    pub approximate: bool,
    /// Candidates stored.
    pub total: usize,
    #[serde(skip_serializing, default)]
    #[schema(ignore)]
    pub generation: String,
}

/// A result: the head and its candidates, most frequent first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct CandidateReport {
    #[serde(flatten)]
    pub head: CandidatesHead,
    pub candidates: Vec<FailureCandidate>,
}

/// A page of a tenant's stored candidates.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct CandidatePage {
    /// When the candidates were computed; `null` before the first aggregation.
    #[schema(required = true)]
    pub generated_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<AggregationWindow>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low_confidence: Option<f64>,
    /// Candidates in the whole result.
    pub total: usize,
    pub candidates: Vec<FailureCandidate>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// What one run of the job did.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AggregateSummary {
    pub generated_at_ms: i64,
    pub window: AggregationWindow,
    pub tenants: usize,
    pub scanned: u64,
    pub considered: u64,
    /// Candidates in the platform-wide export.
    pub candidates: usize,
    /// Recovery candidates proposed from the tenants' failures of the same window
    /// (`GET /api/v1/recovery/candidates`).
    #[serde(default)]
    pub recovery_candidates: usize,
}

/// The result of one run: its summary, the platform-wide export, and the result of the tenant
/// the run was asked for (`also`).
#[derive(Debug, Clone)]
pub struct AggregateRun {
    pub summary: AggregateSummary,
    pub export: CandidateReport,
    pub requested: Option<CandidateReport>,
    /// The tenants whose failures were read.
    pub tenants: Vec<String>,
}

fn storage(e: StoreError) -> DomainError {
    match e {
        StoreError::BadCursor => bad_cursor("cursor is not valid"),
        other => DomainError::from(other),
    }
}

fn bad_cursor(message: &str) -> DomainError {
    DomainError::invalid(FieldError::new("INVALID_CURSOR", message).field("cursor"))
}

#[derive(Serialize, Deserialize)]
struct Cursor {
    g: String,
    c: String,
}

impl FailureLog {
    /// Writes the day index entries of these records that this process has not written yet.
    pub async fn note_days(&self, records: &[FailureRecord]) -> Result<(), StoreError> {
        for r in records {
            let day = day_label(r.at_ms);
            let key = format!("{day}#{}", r.tenant);
            if self.noted.lock().map(|n| n.contains(&key)).unwrap_or(false) {
                continue;
            }
            let expires = (day_number(r.at_ms) + 1) * (DAY_MS / 1000) + i64::from(self.retention_days) * 86_400;
            let item = Item::new(days_index_pk(&day), &r.tenant, json!({"tenant": r.tenant, "day": day})).expiring_at(expires);
            self.store.put_relaxed(item, Condition::Always).await?;
            if let Ok(mut n) = self.noted.lock() {
                if n.len() >= MAX_NOTED {
                    n.clear();
                }
                n.insert(key);
            }
        }
        Ok(())
    }

    /// The tenants with failures in the window (one string per tenant is the one part of the
    /// job's memory that grows: with the number of tenants, not of records).
    async fn tenants_in(&self, range: &TimeRange) -> Result<BTreeSet<String>, DomainError> {
        let mut out = BTreeSet::new();
        for day in day_number(range.from_ms)..=day_number(range.to_ms) {
            let mut q = Query::partition(days_index_pk(&label_of_day(day)));
            loop {
                let page = self.store.query(q.clone()).await.map_err(storage)?;
                out.extend(page.items.iter().map(|i| i.sk.clone()));
                match page.next {
                    Some(c) => q.cursor = Some(c),
                    None => break,
                }
            }
        }
        Ok(out)
    }

    /// Runs the aggregation over every tenant with failures in the window (and `also`, so that a
    /// caller's result is refreshed even when it had none), stores each tenant's result and the
    /// platform-wide export, and returns the export with a summary. Concurrent runs in one process
    /// wait for each other.
    pub async fn aggregate(&self, opts: &AggregateOptions, now: i64, also: Option<&str>) -> Result<AggregateRun, DomainError> {
        let _one_at_a_time = self.aggregating.lock().await;
        let range = TimeRange::new(Some((now - i64::from(opts.days) * DAY_MS).max(0)), Some(now), now, 0)?;
        let window = AggregationWindow { from_ms: range.from_ms, to_ms: range.to_ms, days: opts.days };
        let mut tenants = self.tenants_in(&range).await?;
        tenants.extend(also.map(str::to_string));
        let mut platform = CandidateFold::new(opts.fold);
        let mut requested = None;
        for (ordinal, tenant) in tenants.iter().enumerate() {
            let mut own = CandidateFold::new(opts.fold);
            scan(self.store.as_ref(), tenant, &range, usize::MAX, |r| {
                own.add(0, &r);
                platform.add(ordinal as u32, &r);
            })
            .await?;
            let report = report(own, now, window, opts, false);
            self.store_report(&tenant_candidates_pk(tenant), &report).await?;
            if Some(tenant.as_str()) == also {
                requested = Some(report);
            }
        }
        let export = report(platform, now, window, opts, true);
        self.store_report(PLATFORM_CANDIDATES_PK, &export).await?;
        let summary = AggregateSummary {
            generated_at_ms: now,
            window,
            tenants: tenants.len(),
            scanned: export.head.scanned,
            considered: export.head.considered,
            candidates: export.candidates.len(),
            recovery_candidates: 0,
        };
        tracing::info!(
            tenants = summary.tenants,
            scanned = summary.scanned,
            considered = summary.considered,
            candidates = summary.candidates,
            "failure aggregation finished"
        );
        crate::telemetry::aggregation_finished(now as f64 / 1000.0);
        Ok(AggregateRun { summary, export, requested, tenants: tenants.into_iter().collect() })
    }

    /// Replaces the result stored at `pk`: the new generation's candidates, then the head that
    /// points at them, then the previous generation is deleted. Items expire with the records.
    async fn store_report(&self, pk: &str, report: &CandidateReport) -> Result<(), DomainError> {
        let previous = self.store.get(pk, HEAD_SK).await.map_err(storage)?.and_then(|i| i.data["generation"].as_str().map(str::to_string));
        let expires = report.head.generated_at_ms / 1000 + i64::from(self.retention_days) * 86_400;
        let generation = &report.head.generation;
        for (rank, c) in report.candidates.iter().enumerate() {
            let data = serde_json::to_value(c).map_err(|e| DomainError::Storage(e.to_string()))?;
            self.store
                .put(Item::new(pk, format!("g#{generation}#{rank:05}"), data).expiring_at(expires), Condition::Always)
                .await
                .map_err(storage)?;
        }
        let mut head = serde_json::to_value(&report.head).map_err(|e| DomainError::Storage(e.to_string()))?;
        head["generation"] = json!(generation);
        self.store.put(Item::new(pk, HEAD_SK, head).expiring_at(expires), Condition::Always).await.map_err(storage)?;
        if let Some(old) = previous.filter(|g| g != generation) {
            let mut q = Query { sk: SkRange::Prefix(format!("g#{old}#")), ..Query::partition(pk) };
            loop {
                let page = self.store.query(q.clone()).await.map_err(storage)?;
                for item in &page.items {
                    self.store.delete(pk, &item.sk, Condition::Always).await.map_err(storage)?;
                }
                match page.next {
                    Some(c) => q.cursor = Some(c),
                    None => break,
                }
            }
        }
        Ok(())
    }

    async fn head(&self, pk: &str) -> Result<Option<CandidatesHead>, DomainError> {
        let Some(item) = self.store.get(pk, HEAD_SK).await.map_err(storage)? else { return Ok(None) };
        let mut head: CandidatesHead =
            serde_json::from_value(item.data.clone()).map_err(|e| DomainError::Storage(format!("stored candidates: {e}")))?;
        head.generation = item.data["generation"].as_str().unwrap_or_default().to_string();
        Ok(Some(head))
    }

    /// A page of the tenant's latest candidates, most frequent first.
    pub async fn candidates(&self, tenant: &str, limit: usize, cursor: Option<&str>) -> Result<CandidatePage, DomainError> {
        self.candidates_at(&tenant_candidates_pk(tenant), limit, cursor).await
    }

    /// The whole platform-wide export, if an aggregation ran (for operators; never served to a tenant).
    pub async fn platform_export(&self) -> Result<Option<CandidateReport>, DomainError> {
        let Some(head) = self.head(PLATFORM_CANDIDATES_PK).await? else { return Ok(None) };
        let mut candidates = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.candidates_at(PLATFORM_CANDIDATES_PK, 1000, cursor.as_deref()).await?;
            candidates.extend(page.candidates);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        Ok(Some(CandidateReport { head, candidates }))
    }

    async fn candidates_at(&self, pk: &str, limit: usize, cursor: Option<&str>) -> Result<CandidatePage, DomainError> {
        let empty = CandidatePage {
            generated_at_ms: None,
            window: None,
            low_confidence: None,
            total: 0,
            candidates: Vec::new(),
            next_cursor: None,
        };
        let head = self.head(pk).await?;
        let inner = match cursor {
            Some(text) => {
                let c: Cursor = hex::decode(text)
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .ok_or_else(|| bad_cursor("cursor is not valid"))?;
                if head.as_ref().map(|h| &h.generation) != Some(&c.g) {
                    return Err(bad_cursor("the candidates were computed again since this cursor was given; start from the first page"));
                }
                Some(c.c)
            }
            None => None,
        };
        let Some(head) = head else { return Ok(empty) };
        let q =
            Query { pk: pk.to_string(), sk: SkRange::Prefix(format!("g#{}#", head.generation)), limit, cursor: inner, descending: false };
        let page = self.store.query(q).await.map_err(storage)?;
        let candidates = page.items.iter().filter_map(|i| serde_json::from_value(i.data.clone()).ok()).collect();
        let next_cursor = page.next.map(|c| hex::encode(serde_json::to_vec(&Cursor { g: head.generation.clone(), c }).unwrap_or_default()));
        Ok(CandidatePage {
            generated_at_ms: Some(head.generated_at_ms),
            window: Some(head.window),
            low_confidence: Some(head.low_confidence),
            total: head.total,
            candidates,
            next_cursor,
        })
    }
}

fn report(fold: CandidateFold, now: i64, window: AggregationWindow, opts: &AggregateOptions, with_tenants: bool) -> CandidateReport {
    let (scanned, considered, approximate) = (fold.scanned, fold.considered, fold.evictions > 0);
    let candidates = fold.finish(with_tenants);
    let generation = format!("{now:013}{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let head = CandidatesHead {
        generated_at_ms: now,
        window,
        low_confidence: opts.fold.low_confidence,
        scanned,
        considered,
        approximate,
        total: candidates.len(),
        generation,
    };
    CandidateReport { head, candidates }
}
