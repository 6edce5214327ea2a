//! Metrics, emitted where things happen (the worker for attempts and their classification, the
//! orchestrator for runs and recoveries) through the `metrics` facade. Without an installed
//! recorder (tests, Lambdas) they cost next to nothing; `aos serve` installs a Prometheus one.

use aos_core::failure::FailureMatch;
use metrics::{counter, gauge, histogram};

pub const FAILURE_MATCH_HITS: &str = "failure_match_hits_total";
pub const FAILURE_MATCH_MISSES: &str = "failure_match_misses_total";
pub const RECOVERY_ATTEMPTS: &str = "recovery_attempts_total";
pub const RECOVERY_SUCCESS: &str = "recovery_success_total";
pub const RUNS: &str = "runs_total";
pub const STEP_DURATION: &str = "step_duration_seconds";
pub const AGGREGATION_LAST_SUCCESS: &str = "failure_aggregation_last_success_timestamp_seconds";

/// Buckets of `step_duration_seconds`: from a fast jq transform to a slow HTTP call.
pub const STEP_DURATION_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

/// One executed attempt's wall-clock duration.
pub fn step_finished(skill: &str, duration_ms: u64) {
    histogram!(STEP_DURATION, "skill" => skill.to_string()).record(duration_ms as f64 / 1000.0);
}

/// A failed attempt classified by the worker.
pub fn attempt_classified(skill: &str, m: &FailureMatch) {
    match (&m.code, m.category) {
        (Some(code), Some(category)) if m.matched => {
            counter!(FAILURE_MATCH_HITS, "code" => code.clone(), "category" => category.as_str()).increment(1);
        }
        _ => counter!(FAILURE_MATCH_MISSES, "skill" => skill.to_string()).increment(1),
    }
}

/// A run reached a final status (or a submission was `rejected`).
pub fn run_finished(status: &'static str) {
    counter!(RUNS, "status" => status).increment(1);
}

/// A retry or fallback was started after a failure labelled `code` (catalog entry, else error code).
pub fn recovery_attempted(mode: &'static str, code: &str) {
    counter!(RECOVERY_ATTEMPTS, "mode" => mode, "code" => code.to_string()).increment(1);
}

/// The recovery after a failure labelled `code` succeeded.
pub fn recovery_succeeded(mode: &'static str, code: &str) {
    counter!(RECOVERY_SUCCESS, "mode" => mode, "code" => code.to_string()).increment(1);
}

/// The failure aggregation job finished a pass successfully at `unix_seconds` (wall clock). The
/// `AosFailureAggregationStale` alert fires when this stops moving.
pub fn aggregation_finished(unix_seconds: f64) {
    gauge!(AGGREGATION_LAST_SUCCESS).set(unix_seconds);
}

/// Registers the help text of every metric (call once, after installing a recorder).
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(FAILURE_MATCH_HITS, "Failed step attempts the failure catalog matched, by catalog entry and category.");
    describe_counter!(FAILURE_MATCH_MISSES, "Failed step attempts no catalog entry matched, by skill.");
    describe_counter!(
        RECOVERY_ATTEMPTS,
        "Retries and fallbacks started after a failure, by recovery mode and failure (catalog entry, else error code)."
    );
    describe_counter!(RECOVERY_SUCCESS, "Failures whose recovery ended with the step succeeding, by recovery mode and failure.");
    describe_counter!(RUNS, "Runs that finished, by final status (`rejected`: submissions refused with 422).");
    describe_histogram!(STEP_DURATION, Unit::Seconds, "Wall-clock duration of executed step attempts, by skill.");
    describe_gauge!(AGGREGATION_LAST_SUCCESS, Unit::Seconds, "Unix time of the failure aggregation job's last successful pass.");
}
