//! Recovery evidence: what was done after a failure and whether the step then succeeded. Every
//! recovery the engine carries out — a retry (its backoff, whether it waited as the server's
//! Retry-After asked), a fallback, `continue` — becomes an [`Observation`] keyed by the failure
//! (catalog code, or the signature of a failure the catalog does not know), the skill and the
//! action with its parameters bucketed ([`RecoveryAction`]), so that observations of the "same"
//! recovery add up. The runtime stores them as counters and the confidence model
//! (`crate::confidence`) turns them into ranked suggestions. Pure: no I/O.

use crate::failure::{FailureEvent, FailureMatch, RecoveryMode};
use crate::outcome::{Category, StepError};
use crate::plan::{OnError, Plan};
use crate::recovery::{decide, NextStep};
use crate::run::{AttemptRecord, Run, RunStatus, StepStatus};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// How long a retry waited, bucketed: evidence about a 1.2 s and a 1.9 s backoff is one evidence.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Backoff {
    /// No wait.
    Immediate,
    /// Under a second.
    Short,
    /// One to ten seconds.
    Medium,
    /// Over ten seconds.
    Long,
}

impl Backoff {
    pub fn of_delay_ms(ms: u64) -> Self {
        match ms {
            0 => Backoff::Immediate,
            1..=999 => Backoff::Short,
            1000..=10_000 => Backoff::Medium,
            _ => Backoff::Long,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Backoff::Immediate => "immediate",
            Backoff::Short => "short",
            Backoff::Medium => "medium",
            Backoff::Long => "long",
        }
    }

    /// The retry policy that stands for the bucket: its first delay and its cap.
    fn delays(self) -> (u64, u64) {
        match self {
            Backoff::Immediate => (0, 0),
            Backoff::Short => (200, 1_000),
            Backoff::Medium => (1_000, 10_000),
            Backoff::Long => (10_000, 120_000),
        }
    }
}

/// What can be done about a failure: the vocabulary of evidence, suggestions and candidates.
/// Serialized as `{"action": <kind>, "params": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecoveryAction {
    /// Try again with exponential backoff starting in the `backoff` bucket.
    Retry { backoff: Backoff },
    /// Try again after the delay the service asked for (Retry-After), backoff when it gave none.
    RetryAfter,
    /// Give each attempt `factor` times the time it had.
    RaiseTimeout { factor: u32 },
    /// Run another skill in the step's place (`None`: a suggestion that names no skill yet).
    Fallback { skill: Option<String> },
    /// Record the failure and let the run go on (`on_error: continue`).
    Continue,
    /// Replace the credential (secret) the step uses, then run again.
    RefreshCredentials,
    /// Correct the step's input: no retry can fix it.
    FixInput,
    /// Send less (smaller input or page) than the service accepts.
    ReducePayload,
    /// Fail at once: retrying cannot help and wastes the budget.
    DoNotRetry,
}

/// The action kinds, for schemas and filters.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Retry,
    RetryAfter,
    RaiseTimeout,
    Fallback,
    Continue,
    RefreshCredentials,
    FixInput,
    ReducePayload,
    DoNotRetry,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Retry => "retry",
            ActionKind::RetryAfter => "retry_after",
            ActionKind::RaiseTimeout => "raise_timeout",
            ActionKind::Fallback => "fallback",
            ActionKind::Continue => "continue",
            ActionKind::RefreshCredentials => "refresh_credentials",
            ActionKind::FixInput => "fix_input",
            ActionKind::ReducePayload => "reduce_payload",
            ActionKind::DoNotRetry => "do_not_retry",
        }
    }
}

impl RecoveryAction {
    pub fn kind(&self) -> ActionKind {
        match self {
            RecoveryAction::Retry { .. } => ActionKind::Retry,
            RecoveryAction::RetryAfter => ActionKind::RetryAfter,
            RecoveryAction::RaiseTimeout { .. } => ActionKind::RaiseTimeout,
            RecoveryAction::Fallback { .. } => ActionKind::Fallback,
            RecoveryAction::Continue => ActionKind::Continue,
            RecoveryAction::RefreshCredentials => ActionKind::RefreshCredentials,
            RecoveryAction::FixInput => ActionKind::FixInput,
            RecoveryAction::ReducePayload => ActionKind::ReducePayload,
            RecoveryAction::DoNotRetry => ActionKind::DoNotRetry,
        }
    }

    /// The action's parameters as the API shows them (`{}` when it has none).
    pub fn params(&self) -> Value {
        match self {
            RecoveryAction::Retry { backoff } => json!({ "backoff": backoff.as_str() }),
            RecoveryAction::RaiseTimeout { factor } => json!({ "factor": factor }),
            RecoveryAction::Fallback { skill: Some(skill) } => json!({ "skill": skill }),
            _ => json!({}),
        }
    }

    /// The action back from its kind and parameters (`None` when they do not fit).
    pub fn from_parts(kind: ActionKind, params: &Value) -> Option<Self> {
        let s = |k: &str| params.get(k).and_then(Value::as_str);
        Some(match kind {
            ActionKind::Retry => {
                let backoff = serde_json::from_value(params.get("backoff")?.clone()).ok()?;
                RecoveryAction::Retry { backoff }
            }
            ActionKind::RetryAfter => RecoveryAction::RetryAfter,
            ActionKind::RaiseTimeout => {
                RecoveryAction::RaiseTimeout { factor: u32::try_from(params.get("factor")?.as_u64()?).ok().filter(|f| *f >= 2)? }
            }
            ActionKind::Fallback => RecoveryAction::Fallback { skill: s("skill").map(str::to_string) },
            ActionKind::Continue => RecoveryAction::Continue,
            ActionKind::RefreshCredentials => RecoveryAction::RefreshCredentials,
            ActionKind::FixInput => RecoveryAction::FixInput,
            ActionKind::ReducePayload => RecoveryAction::ReducePayload,
            ActionKind::DoNotRetry => RecoveryAction::DoNotRetry,
        })
    }

    /// A stable key naming the action and its bucketed parameters (letters, digits, `_`, `.`,
    /// `:`): evidence of one key adds up.
    pub fn key(&self) -> String {
        match self {
            RecoveryAction::Retry { backoff } => format!("retry.{}", backoff.as_str()),
            RecoveryAction::RaiseTimeout { factor } => format!("raise_timeout.x{factor}"),
            RecoveryAction::Fallback { skill: Some(skill) } => format!("fallback.{skill}"),
            other => other.kind().as_str().to_string(),
        }
    }

    /// The concrete change to the failing step that the action stands for, as step fields that a
    /// plan accepts (`retry`, `timeout_ms`, `on_error`); `None` when the change is outside the
    /// step (a credential, the input's content) or not concrete yet (a fallback naming no skill).
    /// `timeout_ms` is the step's current per-attempt timeout, when known.
    pub fn patch(&self, timeout_ms: Option<u64>) -> Option<Value> {
        match self {
            RecoveryAction::Retry { backoff } => {
                let (initial, max) = backoff.delays();
                Some(json!({"retry": {"max_attempts": 4, "initial_delay_ms": initial, "max_delay_ms": max, "multiplier": 2.0}}))
            }
            // Without `retry_on` the catalog decides, and its rate-limit entries wait as the
            // server's Retry-After says (backoff from one second when it says nothing).
            RecoveryAction::RetryAfter => {
                Some(json!({"retry": {"max_attempts": 5, "initial_delay_ms": 1_000, "max_delay_ms": 60_000, "multiplier": 2.0}}))
            }
            RecoveryAction::RaiseTimeout { factor } => {
                let current = timeout_ms.unwrap_or(30_000);
                Some(json!({"timeout_ms": current.saturating_mul(u64::from(*factor)).clamp(1, 900_000)}))
            }
            RecoveryAction::Fallback { skill: Some(skill) } => {
                Some(json!({"on_error": {"action": "fallback", "skill": skill, "input": {}}}))
            }
            RecoveryAction::Continue => Some(json!({"on_error": {"action": "continue"}})),
            RecoveryAction::DoNotRetry => Some(json!({"retry": {"max_attempts": 1}})),
            RecoveryAction::Fallback { skill: None }
            | RecoveryAction::RefreshCredentials
            | RecoveryAction::FixInput
            | RecoveryAction::ReducePayload => None,
        }
    }
}

impl Serialize for RecoveryAction {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        json!({"action": self.kind(), "params": self.params()}).serialize(s)
    }
}

impl<'de> Deserialize<'de> for RecoveryAction {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Parts {
            action: ActionKind,
            #[serde(default)]
            params: Value,
        }
        let p = Parts::deserialize(d)?;
        RecoveryAction::from_parts(p.action, &p.params).ok_or_else(|| serde::de::Error::custom("params do not fit the action"))
    }
}

/// What evidence is about: one failure kind of one skill. `code` is the catalog entry's code, or
/// `sig:<signature>` for a failure the catalog did not match.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
pub struct FailureKey {
    /// The catalog entry's code, or `sig:<signature>` when the catalog does not know the failure.
    pub code: String,
    /// The skill that failed (`null` when unknown, e.g. a suggestion asked for by message alone).
    #[schema(required = true)]
    pub skill: Option<String>,
}

impl FailureKey {
    pub fn of(m: &FailureMatch, skill: Option<&str>) -> Self {
        let code = match (&m.code, m.matched) {
            (Some(code), true) => Self::family(code).to_string(),
            _ => format!("sig:{}", m.signature),
        };
        Self { code, skill: skill.map(str::to_string) }
    }

    /// The code evidence about a catalog entry is kept under: the entry's own, except that the
    /// timeouts of [`TIMEOUT_CODES`] are one family, kept under `STEP_TIMEOUT`. A step whose
    /// HTTP client's timeout is near the step's own fails with either, whichever fires first, and
    /// the remedy is the same: one key keeps that race from splitting the evidence.
    pub fn family(code: &str) -> &str {
        if TIMEOUT_CODES.contains(&code) {
            TIMEOUT_CODES[0]
        } else {
            code
        }
    }
}

/// One recovery carried out and how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub key: FailureKey,
    pub action: RecoveryAction,
    /// Whether the step then succeeded (for `continue`: whether the run then succeeded).
    pub succeeded: bool,
    /// When the recovered failure happened.
    pub at_ms: i64,
}

/// The observations in one advance's failure events: per step, one per (failure key, action) —
/// a step that retried twice the same way and then succeeded is one success of that retry, not
/// two. `finished` says the run reached its end in this advance: each step it let fail with
/// `on_error: continue` is then an observation of `continue`, successful when the run succeeded.
/// `classify` is used only for attempts recorded without a match.
pub fn observations(
    run: &Run,
    events: &[FailureEvent],
    attempts: &[AttemptRecord],
    finished: bool,
    classify: &dyn Fn(&StepError, Option<&str>) -> FailureMatch,
) -> Vec<Observation> {
    let mut out = Vec::new();
    for event in events {
        let FailureEvent::Recovered { step_id, attempts: recovered, succeeded, .. } = event else { continue };
        let mut seen = BTreeMap::new();
        for (n, mode) in recovered {
            let Some(rec) = attempts.iter().find(|a| &a.step_id == step_id && a.attempt == *n) else { continue };
            let Some(err) = rec.outcome.error() else { continue };
            let m = rec.failure.clone().unwrap_or_else(|| classify(err, Some(&rec.skill)));
            let Some(action) = action_taken(&run.plan, step_id, *mode, err, &m, run.seed, *n) else { continue };
            let key = FailureKey::of(&m, Some(&rec.skill));
            seen.entry((key, action)).or_insert(rec.finished_at_ms);
        }
        out.extend(seen.into_iter().map(|((key, action), at_ms)| Observation { key, action, succeeded: *succeeded, at_ms }));
    }
    if finished {
        out.extend(continued(run, attempts, classify));
    }
    out
}

/// The steps of `run` that failed for good in an earlier run ([`Run::previous_failures`]) and
/// reached their end in this advance (`before` holds their status before it): when the step now
/// has a longer per-attempt timeout than it had then, an observation of `raise_timeout` (its
/// factor bucketed: ×2 below a threefold increase, ×4 below sixfold, else ×8), successful when
/// the step succeeded. `default_timeout` gives a skill's default timeout.
pub fn rerun_observations(
    run: &Run,
    before: &BTreeMap<String, StepStatus>,
    default_timeout: &dyn Fn(&str) -> u64,
    now_ms: i64,
) -> Vec<Observation> {
    let mut out = Vec::new();
    for (step_id, prev) in &run.previous_failures {
        let (Some(step), Some(st)) = (run.plan.step(step_id), run.steps.get(step_id)) else { continue };
        let ended = matches!(st.status, StepStatus::Succeeded | StepStatus::Failed);
        if prev.resolved || !ended || before.get(step_id).is_none_or(|s| s.is_terminal()) || step.skill != prev.skill {
            continue;
        }
        let timeout = step.timeout_ms.unwrap_or_else(|| default_timeout(&step.skill));
        if prev.timeout_ms == 0 || timeout <= prev.timeout_ms {
            continue;
        }
        let ratio = timeout as f64 / prev.timeout_ms as f64;
        let factor = if ratio < 3.0 {
            2
        } else if ratio < 6.0 {
            4
        } else {
            8
        };
        out.push(Observation {
            key: FailureKey { code: prev.code.clone(), skill: Some(prev.skill.clone()) },
            action: RecoveryAction::RaiseTimeout { factor },
            succeeded: st.status == StepStatus::Succeeded,
            at_ms: now_ms,
        });
    }
    out
}

/// The action a recovery mode carried out after failed attempt `n`.
fn action_taken(
    plan: &Plan,
    step_id: &str,
    mode: RecoveryMode,
    err: &StepError,
    m: &FailureMatch,
    seed: u64,
    n: u32,
) -> Option<RecoveryAction> {
    let step = plan.step(step_id)?;
    match mode {
        RecoveryMode::Fallback => match &step.on_error {
            OnError::Fallback { skill, .. } => Some(RecoveryAction::Fallback { skill: Some(skill.clone()) }),
            _ => None,
        },
        RecoveryMode::RetryAfter if err.details.get("retry_after_ms").is_some_and(Value::is_u64) => Some(RecoveryAction::RetryAfter),
        mode if mode.is_retry() => {
            let policy = crate::engine::retry_policy(step);
            let delay = match decide(&policy, err, m, seed, step_id, n) {
                NextStep::Retry { delay_ms, .. } => delay_ms,
                NextStep::Stop => return None,
            };
            Some(RecoveryAction::Retry { backoff: Backoff::of_delay_ms(delay) })
        }
        _ => None,
    }
}

/// Steps that failed for good under `on_error: continue` in a finished run.
fn continued(run: &Run, attempts: &[AttemptRecord], classify: &dyn Fn(&StepError, Option<&str>) -> FailureMatch) -> Vec<Observation> {
    let mut out = Vec::new();
    for step in &run.plan.steps {
        if !matches!(step.on_error, OnError::Continue) {
            continue;
        }
        let Some(st) = run.steps.get(&step.id) else { continue };
        if st.status != StepStatus::Failed {
            continue;
        }
        let Some(rec) = attempts.iter().find(|a| a.step_id == step.id && a.attempt == st.attempt) else { continue };
        let Some(err) = rec.outcome.error() else { continue };
        let m = rec.failure.clone().unwrap_or_else(|| classify(err, Some(&rec.skill)));
        out.push(Observation {
            key: FailureKey::of(&m, Some(&rec.skill)),
            action: RecoveryAction::Continue,
            succeeded: run.status == RunStatus::Succeeded,
            at_ms: rec.finished_at_ms,
        });
    }
    out
}

/// Failures whose first remedy is a longer timeout rather than another attempt of the same
/// length: the step's own timeout and the HTTP client's whole-request and read timeouts. (A
/// connect timeout, a 408 or a 504 are the other side's trouble: retries help there.)
pub const TIMEOUT_CODES: &[&str] = &["STEP_TIMEOUT", "HTTP_TIMEOUT", "HTTP_READ_TIMEOUT"];

/// How much an action is expected to help before any evidence, from the catalog's advice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Expectation {
    /// The catalog's advice for this failure.
    Advised,
    /// A reasonable alternative.
    Plausible,
    /// Unlikely to help (e.g. retrying a failure the catalog says is permanent).
    Unlikely,
}

/// The actions worth suggesting for a failure with this match, the advised one first, each with
/// what the catalog leads one to expect of it. Distinct first actions by category: transient →
/// `retry` (medium backoff), rate limit → `retry_after`, the timeouts of [`TIMEOUT_CODES`] →
/// `raise_timeout`, auth → `refresh_credentials`, validation → `fix_input`, not found →
/// `continue` (or a fallback where the catalog says so), conflict → `retry` with a short backoff
/// (or `continue` where the catalog says the change already exists), resource → `reduce_payload`,
/// permanent and security → `do_not_retry`.
pub fn candidate_actions(m: &FailureMatch, category: Category) -> Vec<(RecoveryAction, Expectation)> {
    use Expectation::*;
    use RecoveryAction as A;
    let retry = |b| A::Retry { backoff: b };
    let timeout = m.code.as_deref().is_some_and(|c| TIMEOUT_CODES.contains(&c));
    let retryable = m.retryable.unwrap_or(matches!(category, Category::Transient | Category::RateLimit));
    let advised = match (m.recovery_mode, category) {
        _ if timeout => A::RaiseTimeout { factor: 2 },
        (Some(RecoveryMode::RetryAfter), _) => A::RetryAfter,
        (Some(RecoveryMode::RetryImmediate), _) => retry(Backoff::Immediate),
        (Some(RecoveryMode::RetryExponential), Category::Conflict) => retry(Backoff::Short),
        (Some(RecoveryMode::RetryExponential), Category::RateLimit) => retry(Backoff::Long),
        (Some(RecoveryMode::RetryExponential), _) => retry(Backoff::Medium),
        (Some(RecoveryMode::Fallback), _) => A::Fallback { skill: None },
        (Some(RecoveryMode::RefreshCredentials), _) => A::RefreshCredentials,
        (Some(RecoveryMode::ReducePayload), _) => A::ReducePayload,
        (Some(RecoveryMode::Skip), _) => A::Continue,
        (_, Category::Transient) => retry(Backoff::Medium),
        (_, Category::RateLimit) => A::RetryAfter,
        (_, Category::Auth) => A::RefreshCredentials,
        (_, Category::Validation) => A::FixInput,
        (_, Category::NotFound) => A::Continue,
        (_, Category::Conflict) => A::Continue,
        (_, Category::Resource) => A::ReducePayload,
        (_, Category::Security | Category::Permanent) => A::DoNotRetry,
    };
    let mut out = vec![(advised.clone(), Advised)];
    let mut add = |a: RecoveryAction, e: Expectation| {
        if !out.iter().any(|(x, _)| *x == a) {
            out.push((a, e));
        }
    };
    if timeout {
        add(retry(Backoff::Medium), Plausible);
    }
    if retryable {
        add(A::RetryAfter, if category == Category::RateLimit { Plausible } else { Unlikely });
        add(retry(Backoff::Medium), Plausible);
        add(A::Continue, Unlikely);
    } else {
        add(A::DoNotRetry, Plausible);
        add(A::Continue, Plausible);
        add(retry(Backoff::Medium), Unlikely);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::MatchType;

    fn m(code: &str, category: Category, mode: RecoveryMode, retryable: bool) -> FailureMatch {
        FailureMatch {
            matched: true,
            code: Some(code.into()),
            category: Some(category),
            retryable: Some(retryable),
            severity: None,
            recovery_mode: Some(mode),
            confidence: 0.95,
            match_type: MatchType::HttpStatus,
            signature: "abc".into(),
        }
    }

    #[test]
    fn the_timeouts_are_one_family_of_evidence() {
        let step = FailureKey::of(&m("STEP_TIMEOUT", Category::Transient, RecoveryMode::RetryExponential, true), Some("http_call"));
        let http = FailureKey::of(&m("HTTP_TIMEOUT", Category::Transient, RecoveryMode::RetryExponential, true), Some("http_call"));
        let read = FailureKey::of(&m("HTTP_READ_TIMEOUT", Category::Transient, RecoveryMode::RetryExponential, true), Some("http_call"));
        assert_eq!((&step, &http, &read), (&step, &step, &step));
        assert_eq!(step.code, "STEP_TIMEOUT");
        let connect =
            FailureKey::of(&m("HTTP_CONNECT_TIMEOUT", Category::Transient, RecoveryMode::RetryExponential, true), Some("http_call"));
        assert_eq!(connect.code, "HTTP_CONNECT_TIMEOUT", "a connect timeout is the other side's trouble: its own key");
    }

    #[test]
    fn actions_round_trip_through_json_and_keys_are_stable() {
        for a in [
            RecoveryAction::Retry { backoff: Backoff::Long },
            RecoveryAction::RetryAfter,
            RecoveryAction::RaiseTimeout { factor: 2 },
            RecoveryAction::Fallback { skill: Some("http_call".into()) },
            RecoveryAction::Fallback { skill: None },
            RecoveryAction::Continue,
            RecoveryAction::DoNotRetry,
        ] {
            let v = serde_json::to_value(&a).unwrap();
            assert_eq!(serde_json::from_value::<RecoveryAction>(v).unwrap(), a);
        }
        assert_eq!(RecoveryAction::Retry { backoff: Backoff::Medium }.key(), "retry.medium");
        assert_eq!(serde_json::to_value(RecoveryAction::Continue).unwrap(), json!({"action": "continue", "params": {}}));
        assert!(serde_json::from_value::<RecoveryAction>(json!({"action": "raise_timeout", "params": {"factor": 1}})).is_err());
    }

    #[test]
    fn every_patch_is_a_valid_step_change() {
        let kinds = [
            RecoveryAction::Retry { backoff: Backoff::Immediate },
            RecoveryAction::Retry { backoff: Backoff::Long },
            RecoveryAction::RetryAfter,
            RecoveryAction::RaiseTimeout { factor: 4 },
            RecoveryAction::Fallback { skill: Some("json_transform".into()) },
            RecoveryAction::Continue,
            RecoveryAction::DoNotRetry,
        ];
        for a in kinds {
            let patch = a.patch(Some(500_000)).expect("a concrete patch");
            let mut step = json!({"id": "s", "skill": "http_call", "input": {}});
            for (k, v) in patch.as_object().unwrap() {
                step[k] = v.clone();
            }
            let step: crate::plan::Step = serde_json::from_value(step).unwrap_or_else(|e| panic!("{a:?}: {e}"));
            if let Some(t) = step.timeout_ms {
                assert!((1..=900_000).contains(&t), "{a:?}: timeout within the plan's bounds");
            }
        }
    }

    #[test]
    fn categories_have_distinct_first_actions() {
        let first = |mm: FailureMatch, c| candidate_actions(&mm, c)[0].0.clone();
        let cases = [
            first(m("HTTP_BAD_GATEWAY", Category::Transient, RecoveryMode::RetryExponential, true), Category::Transient),
            first(m("HTTP_TOO_MANY_REQUESTS", Category::RateLimit, RecoveryMode::RetryAfter, true), Category::RateLimit),
            first(m("STEP_TIMEOUT", Category::Transient, RecoveryMode::RetryExponential, true), Category::Transient),
            first(m("HTTP_UNAUTHORIZED", Category::Auth, RecoveryMode::RefreshCredentials, false), Category::Auth),
            first(m("HTTP_BAD_REQUEST", Category::Validation, RecoveryMode::Abort, false), Category::Validation),
            first(m("HTTP_GONE", Category::NotFound, RecoveryMode::Escalate, false), Category::NotFound),
            first(m("HTTP_LOCKED", Category::Conflict, RecoveryMode::RetryExponential, true), Category::Conflict),
            first(m("HTTP_PAYLOAD_TOO_LARGE", Category::Resource, RecoveryMode::ReducePayload, false), Category::Resource),
            first(m("SKILL_PANIC", Category::Permanent, RecoveryMode::Escalate, false), Category::Permanent),
        ];
        for (i, a) in cases.iter().enumerate() {
            assert!(!cases[..i].contains(a), "{a:?} is the first action of two categories");
        }
        assert_eq!(cases[8], RecoveryAction::DoNotRetry, "permanent failures: do not retry");
    }
}
