//! Failure classification as the domain sees it: the catalog match of one failure
//! (`FailureMatch`), recorded with attempts and runs, and the failure events the engine reports in
//! its decision. The catalog and the matcher live outside the domain (`aos-failures`); the engine
//! reaches them through `EngineEnv::classify`.

use crate::outcome::{Category, StepError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What the catalog advises doing about a failure.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecoveryMode {
    RetryExponential,
    RetryAfter,
    RetryImmediate,
    Fallback,
    RefreshCredentials,
    ReducePayload,
    Skip,
    Abort,
    Escalate,
}

impl RecoveryMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RecoveryMode::RetryExponential => "retry_exponential",
            RecoveryMode::RetryAfter => "retry_after",
            RecoveryMode::RetryImmediate => "retry_immediate",
            RecoveryMode::Fallback => "fallback",
            RecoveryMode::RefreshCredentials => "refresh_credentials",
            RecoveryMode::ReducePayload => "reduce_payload",
            RecoveryMode::Skip => "skip",
            RecoveryMode::Abort => "abort",
            RecoveryMode::Escalate => "escalate",
        }
    }

    /// The three modes that mean "try the same thing again".
    pub fn is_retry(self) -> bool {
        matches!(self, RecoveryMode::RetryExponential | RecoveryMode::RetryAfter | RecoveryMode::RetryImmediate)
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

/// The kind of evidence that decided a match.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchType {
    StructuredCode,
    HttpStatus,
    AwsCode,
    SmtpCode,
    OsError,
    Pattern,
    /// No entry matched; the category and retry hint are a guess from the nearest labelled
    /// examples, with a confidence below `DECISIVE_CONFIDENCE` (`matched` is false).
    Inferred,
    None,
}

/// Below this confidence a match informs but does not decide retries.
pub const DECISIVE_CONFIDENCE: f64 = 0.5;

/// The failure catalog's verdict on one failure. Not part of any hash: replay and trace
/// verification ignore it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct FailureMatch {
    /// Whether a catalog entry matched. False for a guess (`match_type` `inferred`), whose
    /// `category` and `retryable` come from the nearest labelled examples.
    pub matched: bool,
    /// The catalog entry's code, e.g. `HTTP_NOT_FOUND`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_mode: Option<RecoveryMode>,
    /// 0 when nothing matched and nothing was inferred; structured evidence (codes, statuses)
    /// scores 0.7 to 0.98, message patterns 0.4 to 0.9, a guess (`match_type` `inferred`, with
    /// `matched` false and no `code`) at most 0.45.
    pub confidence: f64,
    pub match_type: MatchType,
    /// Stable grouping key of the failure (skill, code, normalized message): 16 hex digits.
    pub signature: String,
}

impl FailureMatch {
    /// No entry matched.
    pub fn unmatched(signature: impl Into<String>) -> Self {
        Self {
            matched: false,
            code: None,
            category: None,
            retryable: None,
            severity: None,
            recovery_mode: None,
            confidence: 0.0,
            match_type: MatchType::None,
            signature: signature.into(),
        }
    }

    /// Whether the match is trusted enough to decide retries: matched, with a recovery mode, at
    /// a confidence of at least `DECISIVE_CONFIDENCE`.
    pub fn decisive(&self) -> bool {
        self.matched && self.confidence >= DECISIVE_CONFIDENCE && self.recovery_mode.is_some()
    }
}

/// Which failure a record or event is about.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// A step attempt ended with an error.
    Attempt,
    /// A step failed before any attempt (its condition or input templates failed).
    Step,
    /// A run failed or was cancelled.
    Run,
    /// A submission was refused (HTTP 422): a run that never started.
    Rejected,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Attempt => "attempt",
            FailureKind::Step => "step",
            FailureKind::Run => "run",
            FailureKind::Rejected => "rejected",
        }
    }
}

/// A failure the engine absorbed in one `advance`.
#[derive(Debug, Clone, PartialEq)]
pub struct FailureNote {
    pub kind: FailureKind,
    /// The failing step (`None` for a run failure that no step caused: budget, cancellation).
    pub step_id: Option<String>,
    /// The attempt number; 0 when there was no attempt.
    pub attempt: u32,
    pub skill: Option<String>,
    pub error: StepError,
    pub failure: FailureMatch,
    /// The recovery that follows: a retry (with its mode) or the plan's fallback; `None` when the
    /// failure is final.
    pub recovery: Option<RecoveryMode>,
    /// When the failure happened: the attempt's finish, or the decision's time.
    pub at_ms: i64,
}

/// What the engine reports about failures in its decision (pure data; the runtime persists and
/// counts it).
#[derive(Debug, Clone, PartialEq)]
pub enum FailureEvent {
    Failed(FailureNote),
    /// The recovery of a step's earlier failed attempts reached its outcome: the step succeeded
    /// (`succeeded`) or failed, or the run ended first. Each attempt with the recovery that followed it.
    Recovered {
        step_id: String,
        skill: String,
        attempts: Vec<(u32, RecoveryMode)>,
        succeeded: bool,
    },
}
