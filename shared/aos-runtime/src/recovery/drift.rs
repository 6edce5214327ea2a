//! Drift: a dependency whose failure rate rises. Per (skill, failure code) of a tenant, the share
//! of the skill's attempts that failed that way in the current window (the last day, or
//! `AOS_RECOVERY_WINDOW_MS`) is compared with the baseline (the seven windows before) by a
//! one-sided two-proportion z-test; a pair drifts
//! when `z ≥ 3`, at least 5 attempts failed that way in the current window, and the rate rose by
//! at least 10 percentage points. Evaluated by the nightly aggregation (every tenant: the `aos_failure_drift` metric and
//! the tenant's notification webhook) and on demand (`GET /api/v1/failures/drift`). Specified in
//! `docs/recovery.md`.

use crate::failures::query::{scan, TimeRange};
use crate::keys;
use aos_core::confidence::two_proportion_z;
use aos_core::failure::FailureKind;
use aos_core::ports::{Condition, Item, Query, SkRange, Store};
use aos_core::DomainError;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Windows in the baseline.
pub const BASELINE_WINDOWS: i64 = 7;
/// A pair drifts at or above this z (one-sided; about 0.13% by chance)…
pub const Z_THRESHOLD: f64 = 3.0;
/// …with at least this many failures in the current window…
pub const MIN_FAILURES: u64 = 5;
/// …and a rate at least this much higher than the baseline's (absolute).
pub const MIN_INCREASE: f64 = 0.10;
/// Pairs kept in a report (the highest z first).
pub const MAX_ITEMS: usize = 50;
/// Attempts of one skill counted at most per window.
const MAX_ATTEMPTS_COUNTED: usize = 200_000;

/// Failures of one kind among a skill's attempts in a window.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default, ToSchema)]
pub struct WindowRate {
    pub failures: u64,
    pub attempts: u64,
    /// `failures / attempts` (0 without attempts).
    pub rate: f64,
}

impl WindowRate {
    fn new(failures: u64, attempts: u64) -> Self {
        let attempts = attempts.max(failures);
        Self { failures, attempts, rate: if attempts == 0 { 0.0 } else { failures as f64 / attempts as f64 } }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct DriftItem {
    pub skill: String,
    /// The catalog entry's code, else the error code.
    pub code: String,
    pub current: WindowRate,
    pub baseline: WindowRate,
    /// The two-proportion z statistic (current against baseline).
    pub z: f64,
    pub drifting: bool,
}

/// One evaluation for one tenant.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct DriftReport {
    pub evaluated_at_ms: i64,
    /// Start of the current window (the baseline ends here and starts 7 windows earlier).
    pub current_from_ms: i64,
    pub baseline_from_ms: i64,
    /// Pairs with failures in either window, the highest z first (at most 50).
    pub items: Vec<DriftItem>,
    /// How many of them drift.
    pub drifting: usize,
}

/// Evaluates the tenant's failure rates at `now_ms`, with windows of `window_ms`.
pub async fn evaluate(store: &dyn Store, tenant: &str, now_ms: i64, window_ms: i64) -> Result<DriftReport, DomainError> {
    let current_from = now_ms - window_ms;
    let baseline_from = current_from - BASELINE_WINDOWS * window_ms;
    let range = TimeRange::new(Some(baseline_from.max(0)), Some(now_ms), now_ms, 0)?;
    // (skill, code) -> (current failures, baseline failures)
    let mut failures: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    scan(store, tenant, &range, 500_000, |r| {
        if r.kind != FailureKind::Attempt {
            return;
        }
        let Some(skill) = r.skill.clone() else { return };
        if failures.len() >= 10_000 && !failures.contains_key(&(skill.clone(), r.label().to_string())) {
            return;
        }
        let e = failures.entry((skill, r.label().to_string())).or_default();
        if r.at_ms >= current_from {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    })
    .await?;
    let mut attempts: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for skill in failures.keys().map(|(s, _)| s.clone()).collect::<std::collections::BTreeSet<_>>() {
        let current = count_attempts(store, tenant, &skill, current_from, now_ms).await?;
        let baseline = count_attempts(store, tenant, &skill, baseline_from, current_from - 1).await?;
        attempts.insert(skill, (current, baseline));
    }
    let mut items: Vec<DriftItem> = failures
        .into_iter()
        .map(|((skill, code), (f1, f0))| {
            let (n1, n0) = attempts.get(&skill).copied().unwrap_or_default();
            let (current, baseline) = (WindowRate::new(f1, n1), WindowRate::new(f0, n0));
            // A pair with no baseline attempts at all is new, not drifting.
            let z = if baseline.attempts == 0 {
                0.0
            } else {
                two_proportion_z(current.failures, current.attempts, baseline.failures, baseline.attempts)
            };
            let drifting = baseline.attempts > 0
                && z >= Z_THRESHOLD
                && current.failures >= MIN_FAILURES
                && current.rate - baseline.rate >= MIN_INCREASE;
            DriftItem { skill, code, current, baseline, z: (z * 100.0).round() / 100.0, drifting }
        })
        .collect();
    items.sort_by(|a, b| b.z.total_cmp(&a.z).then_with(|| (&a.skill, &a.code).cmp(&(&b.skill, &b.code))));
    items.truncate(MAX_ITEMS);
    let drifting = items.iter().filter(|i| i.drifting).count();
    Ok(DriftReport { evaluated_at_ms: now_ms, current_from_ms: current_from, baseline_from_ms: baseline_from, items, drifting })
}

/// Attempts of `skill` that finished between the two times (the skill-history index).
async fn count_attempts(store: &dyn Store, tenant: &str, skill: &str, from_ms: i64, to_ms: i64) -> Result<u64, DomainError> {
    if to_ms < from_ms {
        return Ok(0);
    }
    let mut q = Query {
        pk: keys::skill_history_pk(tenant, skill),
        sk: SkRange::Between(format!("{:013}", from_ms.max(0)), format!("{to_ms:013}~")),
        limit: 1000,
        cursor: None,
        descending: false,
    };
    let mut n = 0;
    loop {
        let page = store.query_index(q.clone()).await?;
        n += page.items.len();
        match page.next {
            Some(next) if n < MAX_ATTEMPTS_COUNTED => q.cursor = Some(next),
            _ => return Ok(n as u64),
        }
    }
}

/// Stores the tenant's latest report (expires with the evaluation after next).
pub async fn store_report(store: &dyn Store, tenant: &str, report: &DriftReport) -> Result<(), DomainError> {
    let item = Item::new(keys::drift_pk(tenant), keys::DRIFT_SK, json!(report)).expiring_at(report.evaluated_at_ms / 1000 + 3 * 86_400);
    store.put(item, Condition::Always).await?;
    Ok(())
}
