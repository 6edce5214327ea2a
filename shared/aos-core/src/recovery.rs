//! What follows a failed attempt: another attempt after some delay, or none (then the step's
//! `on_error` applies: its fallback, `continue` or `abort`). The plan decides when its retry
//! policy names `retry_on`; otherwise a decisive catalog match decides through its recovery mode;
//! otherwise the error's own `retryable` hint. Specified in `docs/concepts.md#retries`. Because the
//! decision is pure, the engine re-derives from it which recovery followed each earlier attempt.

use crate::engine::{retry_policy, EngineEnv};
use crate::failure::{FailureMatch, RecoveryMode};
use crate::outcome::StepError;
use crate::plan::{RetryPolicy, Step};
use crate::retry::{backoff_delay_ms, retry_delay_ms, should_retry, MAX_DELAY_MS};
use crate::run::AttemptRecord;
use std::collections::HashMap;

/// The retry decision for one failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    /// Dispatch the next attempt after `delay_ms`; `mode` is the recovery it carries out.
    Retry { delay_ms: u64, mode: RecoveryMode },
    /// No more attempts of this skill: the fallback, if the plan has one, or the step fails.
    Stop,
}

/// Decides the retry of failed `attempt` (1-based) of step `step_id`.
///
/// - attempts come from `policy.max_attempts` whatever decides;
/// - `retry_on` given: the plan decides by category, with exponential backoff (at least the
///   server's `retry_after_ms`);
/// - otherwise, a decisive match (`FailureMatch::decisive`) decides by its recovery mode:
///   `retry_immediate` retries at once, `retry_after` after `details.retry_after_ms` (the backoff
///   when the error has none), `retry_exponential` after the backoff; every other mode
///   (`fallback`, `abort`, `escalate`, `skip`, `refresh_credentials`, `reduce_payload`) does not
///   retry, and neither does an entry that is not retryable;
/// - otherwise the error's `retryable` decides, with the backoff.
pub fn decide(policy: &RetryPolicy, error: &StepError, failure: &FailureMatch, seed: u64, step_id: &str, attempt: u32) -> NextStep {
    if attempt >= policy.max_attempts {
        return NextStep::Stop;
    }
    let backoff = || retry_delay_ms(policy, error, seed, step_id, attempt);
    let mode = match failure.recovery_mode {
        Some(mode) if policy.retry_on.is_none() && failure.decisive() => mode,
        _ => {
            return match should_retry(policy, error, attempt) {
                true => NextStep::Retry { delay_ms: backoff(), mode: RecoveryMode::RetryExponential },
                false => NextStep::Stop,
            };
        }
    };
    if !mode.is_retry() || failure.retryable == Some(false) {
        return NextStep::Stop;
    }
    let delay_ms = match mode {
        RecoveryMode::RetryImmediate => 0,
        RecoveryMode::RetryAfter => match error.details.get("retry_after_ms").and_then(|v| v.as_u64()) {
            Some(ms) => ms.min(MAX_DELAY_MS),
            None => backoff_delay_ms(policy, seed, step_id, attempt),
        },
        _ => backoff(),
    };
    NextStep::Retry { delay_ms, mode }
}

/// The attempt's recorded match (the worker classifies every failed attempt), or a fresh one for
/// records written before attempts carried it.
pub(crate) fn match_of(rec: &AttemptRecord, err: &StepError, env: &dyn EngineEnv) -> FailureMatch {
    rec.failure.clone().unwrap_or_else(|| env.classify(err, Some(&rec.skill)))
}

/// The failed attempts before attempt `current` of a step, each with the recovery that followed
/// it: the retry mode `decide` chose (it is pure, so deciding again gives the same), or the
/// fallback where it stopped retrying.
pub(crate) fn recovered_attempts(
    step: &Step,
    current: u32,
    by_key: &HashMap<(&str, u32), &AttemptRecord>,
    seed: u64,
    env: &dyn EngineEnv,
) -> Vec<(u32, RecoveryMode)> {
    let policy = retry_policy(step);
    (1..current)
        .filter_map(|n| {
            let rec = by_key.get(&(step.id.as_str(), n))?;
            let err = rec.outcome.error()?;
            let mode = match decide(&policy, err, &match_of(rec, err, env), seed, &step.id, n) {
                NextStep::Retry { mode, .. } => mode,
                NextStep::Stop => RecoveryMode::Fallback,
            };
            Some((n, mode))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::MatchType;
    use crate::outcome::Category;
    use serde_json::json;

    fn policy(max: u32) -> RetryPolicy {
        RetryPolicy { max_attempts: max, initial_delay_ms: 100, max_delay_ms: 1000, multiplier: 2.0, retry_on: None }
    }

    fn matched(mode: RecoveryMode, retryable: bool, confidence: f64) -> FailureMatch {
        FailureMatch {
            matched: true,
            code: Some("X".into()),
            category: Some(Category::Transient),
            retryable: Some(retryable),
            severity: None,
            recovery_mode: Some(mode),
            confidence,
            match_type: MatchType::HttpStatus,
            signature: "s".into(),
        }
    }

    fn err(retryable: bool) -> StepError {
        StepError::new("E", Category::Transient, retryable, "m")
    }

    #[test]
    fn retry_modes_shape_the_delay() {
        let p = policy(3);
        assert_eq!(
            decide(&p, &err(true), &matched(RecoveryMode::RetryImmediate, true, 0.9), 1, "s", 1),
            NextStep::Retry { delay_ms: 0, mode: RecoveryMode::RetryImmediate }
        );
        let after = err(true).with_details(json!({"retry_after_ms": 1500}));
        assert_eq!(
            decide(&p, &after, &matched(RecoveryMode::RetryAfter, true, 0.9), 1, "s", 1),
            NextStep::Retry { delay_ms: 1500, mode: RecoveryMode::RetryAfter }
        );
        let NextStep::Retry { delay_ms, mode } = decide(&p, &err(true), &matched(RecoveryMode::RetryAfter, true, 0.9), 1, "s", 1) else {
            panic!("retries")
        };
        assert!((50..=100).contains(&delay_ms) && mode == RecoveryMode::RetryAfter, "without Retry-After: the backoff");
        let NextStep::Retry { delay_ms, .. } = decide(&p, &err(true), &matched(RecoveryMode::RetryExponential, true, 0.9), 1, "s", 2)
        else {
            panic!("retries")
        };
        assert!((100..=200).contains(&delay_ms), "exponential: the second backoff");
    }

    #[test]
    fn other_modes_do_not_retry_even_when_the_error_says_retryable() {
        for mode in [
            RecoveryMode::Fallback,
            RecoveryMode::Abort,
            RecoveryMode::Escalate,
            RecoveryMode::Skip,
            RecoveryMode::RefreshCredentials,
            RecoveryMode::ReducePayload,
        ] {
            assert_eq!(decide(&policy(3), &err(true), &matched(mode, true, 0.9), 1, "s", 1), NextStep::Stop, "{mode:?}");
        }
        assert_eq!(
            decide(&policy(3), &err(true), &matched(RecoveryMode::RetryExponential, false, 0.9), 1, "s", 1),
            NextStep::Stop,
            "entry not retryable"
        );
    }

    #[test]
    fn a_match_retries_an_error_that_says_it_is_not_retryable() {
        assert!(matches!(
            decide(&policy(3), &err(false), &matched(RecoveryMode::RetryExponential, true, 0.9), 1, "s", 1),
            NextStep::Retry { .. }
        ));
    }

    #[test]
    fn weak_or_missing_matches_leave_the_decision_to_the_error() {
        let weak = matched(RecoveryMode::Abort, false, 0.45);
        assert!(matches!(decide(&policy(3), &err(true), &weak, 1, "s", 1), NextStep::Retry { mode: RecoveryMode::RetryExponential, .. }));
        assert_eq!(decide(&policy(3), &err(false), &FailureMatch::unmatched("s"), 1, "s", 1), NextStep::Stop);
        assert!(matches!(decide(&policy(3), &err(true), &FailureMatch::unmatched("s"), 1, "s", 1), NextStep::Retry { .. }));
    }

    #[test]
    fn the_plan_overrides_the_match_and_bounds_attempts() {
        let plan = RetryPolicy { retry_on: Some(vec![Category::Transient]), ..policy(3) };
        assert!(matches!(
            decide(&plan, &err(false), &matched(RecoveryMode::Abort, false, 0.98), 1, "s", 1),
            NextStep::Retry { mode: RecoveryMode::RetryExponential, .. }
        ));
        let plan = RetryPolicy { retry_on: Some(vec![Category::RateLimit]), ..policy(3) };
        assert_eq!(decide(&plan, &err(true), &matched(RecoveryMode::RetryImmediate, true, 0.98), 1, "s", 1), NextStep::Stop);
        assert_eq!(
            decide(&policy(2), &err(true), &matched(RecoveryMode::RetryImmediate, true, 0.98), 1, "s", 2),
            NextStep::Stop,
            "max_attempts"
        );
    }
}
