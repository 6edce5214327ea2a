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
pub const FAILURE_DRIFT: &str = "aos_failure_drift";
/// (skill, code) pairs the drift gauge names at most: the cardinality bound.
pub const MAX_DRIFT_SERIES: usize = 100;

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

/// The drift gauge after an evaluation of every tenant: for each (skill, code), how many tenants
/// drift on it. Pairs that drifted at the last evaluation and no longer do are set to 0; at most
/// [`MAX_DRIFT_SERIES`] pairs are ever named (the most drifting tenants first).
pub fn drift_evaluated(drifting: &std::collections::BTreeMap<(String, String), u64>) {
    static NAMED: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());
    let mut named = NAMED.lock().expect("drift series");
    for pair in named.iter() {
        if !drifting.contains_key(pair) {
            gauge!(FAILURE_DRIFT, "skill" => pair.0.clone(), "code" => pair.1.clone()).set(0.0);
        }
    }
    let mut ranked: Vec<(&(String, String), &u64)> = drifting.iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    for (pair, tenants) in ranked {
        if !named.contains(pair) {
            if named.len() >= MAX_DRIFT_SERIES {
                continue;
            }
            named.push(pair.clone());
        }
        gauge!(FAILURE_DRIFT, "skill" => pair.0.clone(), "code" => pair.1.clone()).set(*tenants as f64);
    }
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
    describe_gauge!(
        FAILURE_DRIFT,
        "Tenants whose failure rate of this (skill, code) drifted up at the last evaluation (two-proportion z-test; docs/recovery.md)."
    );
}
