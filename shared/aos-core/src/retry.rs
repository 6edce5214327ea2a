//! Retry decisions and the backoff schedule: exponential with deterministic "equal jitter"
//! (half the base delay fixed, half scaled by the seeded generator), specified in `docs/determinism.md`.

use crate::outcome::StepError;
use crate::plan::RetryPolicy;
use crate::rng::SeededRng;

/// SQS cannot delay a message longer than this; neither do we.
pub const MAX_DELAY_MS: u64 = 15 * 60 * 1000;

/// Does the failed `attempt` (1-based) get another one?
pub fn should_retry(policy: &RetryPolicy, error: &StepError, attempt: u32) -> bool {
    if attempt >= policy.max_attempts {
        return false;
    }
    match &policy.retry_on {
        Some(categories) => categories.contains(&error.category),
        None => error.retryable,
    }
}

/// Delay before the attempt after `attempt` (1-based):
/// `base = min(max_delay, initial * multiplier^(attempt-1))`, `delay = floor(base/2 + u*base/2)`
/// with `u` the first `next_f64()` of `SeededRng::derive(seed, step_id, attempt, "backoff")`.
pub fn backoff_delay_ms(policy: &RetryPolicy, seed: u64, step_id: &str, attempt: u32) -> u64 {
    let exp = policy.multiplier.max(1.0).powi(attempt.saturating_sub(1) as i32);
    let base = (policy.initial_delay_ms as f64 * exp).min(policy.max_delay_ms as f64);
    let u = SeededRng::derive(seed, step_id, attempt, "backoff").next_f64();
    ((base / 2.0 + u * base / 2.0).floor() as u64).min(MAX_DELAY_MS)
}

/// The delay actually used: the backoff, raised to a server's `Retry-After`
/// (`error.details.retry_after_ms`) when that is longer.
pub fn retry_delay_ms(policy: &RetryPolicy, error: &StepError, seed: u64, step_id: &str, attempt: u32) -> u64 {
    let backoff = backoff_delay_ms(policy, seed, step_id, attempt);
    let server = error.details.get("retry_after_ms").and_then(|v| v.as_u64()).unwrap_or(0);
    backoff.max(server).min(MAX_DELAY_MS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Category;

    #[test]
    fn grows_exponentially_within_jitter_bounds_and_caps() {
        let p = RetryPolicy { max_attempts: 10, initial_delay_ms: 100, max_delay_ms: 1000, multiplier: 2.0, retry_on: None };
        for (attempt, base) in [(1u32, 100u64), (2, 200), (3, 400), (4, 800), (5, 1000), (9, 1000)] {
            let d = backoff_delay_ms(&p, 7, "s", attempt);
            assert!(d >= base / 2 && d <= base, "attempt {attempt}: {d} not in [{}, {base}]", base / 2);
            assert_eq!(d, backoff_delay_ms(&p, 7, "s", attempt), "deterministic");
        }
        let e = StepError::new("X", Category::RateLimit, true, "m").with_details(serde_json::json!({"retry_after_ms": 5000}));
        assert_eq!(retry_delay_ms(&p, &e, 7, "s", 1), 5000);
        assert!(should_retry(&p, &e, 1));
        assert!(!should_retry(&p, &e, 10));
        let only_transient = RetryPolicy { retry_on: Some(vec![Category::Transient]), ..p };
        assert!(!should_retry(&only_transient, &e, 1));
    }
}
