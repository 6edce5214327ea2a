//! Failure records: one per failed attempt, per step that failed before any attempt, per failed
//! run and per rejected submission, each with its catalog match and what became of its recovery.
//! Built here from the engine's failure events (for the orchestrator's save) and from rejections.

use super::days::day_label;
use crate::keys;
use aos_core::failure::{FailureEvent, FailureKind, FailureMatch, FailureNote, MatchType, RecoveryMode, Severity};
use aos_core::outcome::{Category, StepError};
use aos_core::ports::{Condition, Item, WriteOp};
use aos_core::run::{AttemptRecord, Run};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Messages are cut to this many characters in records (the attempt keeps the whole one).
pub const MAX_MESSAGE_CHARS: usize = 2000;

/// One recorded failure.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct FailureRecord {
    /// The record's id, unique within the tenant.
    pub id: String,
    pub kind: FailureKind,
    #[serde(skip_serializing, default)]
    #[schema(ignore)]
    pub tenant: String,
    /// Absent for rejected submissions (they never became runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_id: Option<String>,
    /// The attempt number; 0 when the failure was not an attempt's.
    pub attempt: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill: Option<String>,
    /// The error code, e.g. `HTTP_503`, `STEP_TIMEOUT`, `PLAN_UNKNOWN_SKILL`.
    pub code: String,
    /// The error message, secret values redacted, cut to 2000 characters.
    pub message: String,
    /// Groups recurring failures: skill, code and normalized message, hashed (16 hex digits).
    pub signature: String,
    pub matched: bool,
    /// The matching catalog entry, e.g. `HTTP_SERVICE_UNAVAILABLE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_code: Option<String>,
    pub confidence: f64,
    pub match_type: MatchType,
    /// The catalog entry's category, or the error's own when nothing matched.
    pub category: Category,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// The recovery the catalog advises.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advised_recovery: Option<RecoveryMode>,
    /// Whether a retry or the plan's fallback followed this failure.
    pub recovery_attempted: bool,
    /// The recovery that followed (`retry_*` or `fallback`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_mode: Option<RecoveryMode>,
    /// Whether the step eventually succeeded: `null` until known, and when nothing was attempted.
    #[schema(required = true)]
    pub recovery_succeeded: Option<bool>,
    /// When the failure happened (ms since the epoch).
    pub at_ms: i64,
    /// When the record expires (seconds since the epoch).
    pub expires_at: i64,
}

/// What a failure is about, besides its error and match.
pub struct Subject<'a> {
    pub kind: FailureKind,
    pub tenant: &'a str,
    /// The run id, or for a rejection the id given to the rejected submission.
    pub subject: &'a str,
    pub run_id: Option<&'a str>,
    pub step_id: Option<&'a str>,
    pub attempt: u32,
    pub skill: Option<&'a str>,
    pub at_ms: i64,
}

impl FailureRecord {
    pub fn new(s: &Subject<'_>, error: &StepError, m: &FailureMatch, retention_days: u32) -> Self {
        let step = match s.kind {
            FailureKind::Run | FailureKind::Rejected => keys::NO_STEP,
            FailureKind::Attempt | FailureKind::Step => s.step_id.unwrap_or(keys::NO_STEP),
        };
        FailureRecord {
            id: keys::failure_sk(s.at_ms, s.subject, step, s.attempt),
            kind: s.kind,
            tenant: s.tenant.to_string(),
            run_id: s.run_id.map(str::to_string),
            step_id: s.step_id.map(str::to_string),
            attempt: s.attempt,
            skill: s.skill.map(str::to_string),
            code: error.code.clone(),
            message: truncate(&error.message, MAX_MESSAGE_CHARS),
            signature: m.signature.clone(),
            matched: m.matched,
            catalog_code: m.code.clone(),
            confidence: m.confidence,
            match_type: m.match_type,
            // A guess (`MatchType::Inferred`) does not overrule the skill's own category.
            category: m.category.filter(|_| m.matched).unwrap_or(error.category),
            severity: m.severity,
            advised_recovery: m.recovery_mode,
            recovery_attempted: false,
            recovery_mode: None,
            recovery_succeeded: None,
            at_ms: s.at_ms,
            expires_at: s.at_ms.div_euclid(1000) + i64::from(retention_days) * 86_400,
        }
    }

    /// The store item: one partition per tenant and UTC day, expiring after the retention.
    pub fn item(&self) -> Item {
        let mut data = serde_json::to_value(self).unwrap_or_default();
        data["tenant"] = json!(self.tenant);
        Item::new(keys::failures_pk(&self.tenant, &day_label(self.at_ms)), &self.id, data).expiring_at(self.expires_at)
    }

    pub fn from_item(item: &Item) -> Option<Self> {
        let mut r: FailureRecord = serde_json::from_value(item.data.clone()).ok()?;
        r.tenant = item.data["tenant"].as_str().unwrap_or_default().to_string();
        Some(r)
    }

    /// The label that counts and metrics use for the failure: the catalog entry, else the error code.
    pub fn label(&self) -> &str {
        self.catalog_code.as_deref().unwrap_or(&self.code)
    }
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}

/// The record writes for one advance's failure events: new failures, and recovery outcomes of
/// earlier ones (written whole again from their attempts, so no read is needed). Events about the
/// same failure merge into one write. `classify` is used only for attempts recorded without a match.
pub fn records_for_events(
    run: &Run,
    events: &[FailureEvent],
    attempts: &[AttemptRecord],
    retention_days: u32,
    classify: &dyn Fn(&StepError, Option<&str>) -> FailureMatch,
) -> Vec<FailureRecord> {
    let mut out: BTreeMap<String, FailureRecord> = BTreeMap::new();
    for event in events {
        match event {
            FailureEvent::Failed(note) => {
                let r = note_record(run, note, retention_days);
                out.insert(r.id.clone(), r);
            }
            FailureEvent::Recovered { step_id, attempts: recovered, succeeded, .. } => {
                for (n, mode) in recovered {
                    let Some(rec) = attempts.iter().find(|a| &a.step_id == step_id && a.attempt == *n) else { continue };
                    let Some(err) = rec.outcome.error() else { continue };
                    let id = keys::failure_sk(rec.finished_at_ms, &run.run_id, step_id, *n);
                    let r = out.entry(id).or_insert_with(|| {
                        let m = rec.failure.clone().unwrap_or_else(|| classify(err, Some(&rec.skill)));
                        let s = Subject {
                            kind: FailureKind::Attempt,
                            tenant: &run.tenant,
                            subject: &run.run_id,
                            run_id: Some(&run.run_id),
                            step_id: Some(step_id),
                            attempt: *n,
                            skill: Some(&rec.skill),
                            at_ms: rec.finished_at_ms,
                        };
                        FailureRecord::new(&s, err, &m, retention_days)
                    });
                    r.recovery_attempted = true;
                    r.recovery_mode = Some(*mode);
                    r.recovery_succeeded = Some(*succeeded);
                }
            }
        }
    }
    out.into_values().collect()
}

fn note_record(run: &Run, note: &FailureNote, retention_days: u32) -> FailureRecord {
    let s = Subject {
        kind: note.kind,
        tenant: &run.tenant,
        subject: &run.run_id,
        run_id: Some(&run.run_id),
        step_id: note.step_id.as_deref(),
        attempt: note.attempt,
        skill: note.skill.as_deref(),
        at_ms: note.at_ms,
    };
    let mut r = FailureRecord::new(&s, &note.error, &note.failure, retention_days);
    r.recovery_attempted = note.recovery.is_some();
    r.recovery_mode = note.recovery;
    r
}

/// Puts of records, unconditional: a record is rewritten only with what the same facts decide.
pub fn puts(records: &[FailureRecord]) -> Vec<WriteOp> {
    records.iter().map(|r| WriteOp::Put { item: r.item(), condition: Condition::Always }).collect()
}
