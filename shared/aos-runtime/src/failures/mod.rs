//! Failures as data: every failed attempt, step, run and rejected submission is classified against
//! the failure catalog and recorded per tenant and UTC day, with what became of its recovery, for
//! listing and statistics. The orchestrator writes records in the same transaction that saves the
//! run state deciding them, so a record exists exactly when its decision does.

pub mod aggregate;
pub mod candidates;
pub mod catalog;
pub mod classify;
pub mod days;
pub mod query;
pub mod record;
pub mod stats;

use crate::runs::now_ms;
use aos_core::failure::FailureKind;
use aos_core::outcome::{Category, StepError};
use aos_core::plan::Plan;
use aos_core::ports::{Condition, Store};
use aos_core::{DomainError, FieldError};
use aos_failures::FailureInput;
use query::{FailureFilter, TimeRange};
use record::{FailureRecord, Subject};
use stats::FailureStats;
use std::sync::Arc;

/// How long failure records are kept unless configured.
pub const DEFAULT_RETENTION_DAYS: u32 = 30;
/// The environment variable that sets the retention in days.
pub const RETENTION_ENV: &str = "AOS_FAILURE_RETENTION_DAYS";

/// Reads `AOS_FAILURE_RETENTION_DAYS` (1 to 3650; unset or empty: 30).
pub fn retention_from_env() -> Result<u32, String> {
    match std::env::var(RETENTION_ENV) {
        Ok(v) if !v.trim().is_empty() => parse_retention(&v),
        _ => Ok(DEFAULT_RETENTION_DAYS),
    }
}

pub fn parse_retention(v: &str) -> Result<u32, String> {
    match v.trim().parse::<u32>() {
        Ok(d) if (1..=3650).contains(&d) => Ok(d),
        _ => Err(format!("{RETENTION_ENV} must be a number of days from 1 to 3650, not `{v}`")),
    }
}

/// Failure records over the `Store` port (so the same code serves the embedded store and DynamoDB).
#[derive(Clone)]
pub struct FailureLog {
    pub store: Arc<dyn Store>,
    pub retention_days: u32,
    /// Day index entries this process wrote (`aggregate::note_days`).
    noted: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    /// Held while an aggregation runs, so that runs in one process do not overlap.
    aggregating: Arc<tokio::sync::Mutex<()>>,
}

impl FailureLog {
    pub fn new(store: Arc<dyn Store>, retention_days: u32) -> Self {
        Self { store, retention_days, noted: Default::default(), aggregating: Default::default() }
    }

    /// Records a refused submission (its first problem, classified) as a failure with no run.
    /// Best effort: the caller still answers 422 when the record cannot be written.
    pub async fn record_rejection(&self, tenant: &str, errors: &[FieldError], plan: Option<&Plan>) {
        let Some(first) = errors.first() else { return };
        let skill = first.step_id.as_deref().and_then(|id| plan.and_then(|p| p.step(id))).map(|s| s.skill.as_str());
        let message = match errors.len() {
            1 => first.message.clone(),
            n => format!("{} (and {} more problems)", first.message, n - 1),
        };
        let error = StepError::new(first.code.clone(), Category::Validation, false, message);
        let mut input = FailureInput::message(&error.message).with_code(&error.code);
        input.skill = skill;
        let matched = classify::classify_input(&input);
        let id = format!("rej_{}", uuid::Uuid::new_v4().simple());
        let subject = Subject {
            kind: FailureKind::Rejected,
            tenant,
            subject: &id,
            run_id: None,
            step_id: first.step_id.as_deref(),
            attempt: 0,
            skill,
            at_ms: now_ms(),
        };
        let record = FailureRecord::new(&subject, &error, &matched, self.retention_days);
        crate::telemetry::run_finished("rejected");
        let indexed = self.note_days(std::slice::from_ref(&record)).await;
        if let Err(e) = indexed.and(self.store.put(record.item(), Condition::NotExists).await.map(|_| ())) {
            tracing::warn!(tenant, error = %e, "could not record a rejected submission");
        }
    }

    /// A page of the tenant's failures, newest first.
    pub async fn list(
        &self,
        tenant: &str,
        range: &TimeRange,
        filter: &FailureFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<(Vec<FailureRecord>, Option<String>), DomainError> {
        query::list(self.store.as_ref(), tenant, range, filter, limit, cursor).await
    }

    pub async fn stats(
        &self,
        tenant: &str,
        range: &TimeRange,
        bucket_ms: i64,
        filter: &FailureFilter,
    ) -> Result<FailureStats, DomainError> {
        stats::stats(self.store.as_ref(), tenant, range, bucket_ms, filter).await
    }
}
