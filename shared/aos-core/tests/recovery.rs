//! The engine's failure handling, driven by hand: catalog matches decide retries unless the plan's
//! `retry_on` does, recovery modes shape them, and the decision reports every failure, every
//! recovery outcome and the run's failure as events.

use aos_core::engine::{advance, Decision, EngineEnv};
use aos_core::failure::{FailureEvent, FailureKind, FailureMatch, FailureNote, MatchType, RecoveryMode};
use aos_core::outcome::{Category, Outcome, StepError};
use aos_core::plan::Plan;
use aos_core::run::{AttemptRecord, Run, RunStatus, StepState, StepStatus};
use serde_json::{json, Value};
use std::sync::Mutex;

/// Classifies by error code, like a tiny catalog, and remembers what it was asked.
#[derive(Default)]
struct Catalog {
    asked: Mutex<Vec<String>>,
}

fn entry(code: &str, category: Category, retryable: bool, mode: RecoveryMode, confidence: f64) -> FailureMatch {
    FailureMatch {
        matched: true,
        code: Some(code.into()),
        category: Some(category),
        retryable: Some(retryable),
        severity: None,
        recovery_mode: Some(mode),
        confidence,
        match_type: MatchType::StructuredCode,
        signature: format!("sig-{code}"),
    }
}

impl EngineEnv for Catalog {
    fn default_timeout_ms(&self, _: &str) -> u64 {
        1000
    }
    fn eval_condition(&self, _: &str, _: &str, _: &Value) -> Option<Result<bool, StepError>> {
        Some(Err(StepError::new("CONDITION_ERROR", aos_core::Category::Validation, false, "boom")))
    }
    fn classify(&self, error: &StepError, _: Option<&str>) -> FailureMatch {
        self.asked.lock().unwrap().push(error.code.clone());
        match error.code.as_str() {
            "HTTP_404" => entry("HTTP_NOT_FOUND", Category::NotFound, false, RecoveryMode::Fallback, 0.93),
            "HTTP_429" => entry("HTTP_TOO_MANY_REQUESTS", Category::RateLimit, true, RecoveryMode::RetryAfter, 0.93),
            "HTTP_425" => entry("HTTP_TOO_EARLY", Category::Transient, true, RecoveryMode::RetryImmediate, 0.93),
            "HTTP_503" => entry("HTTP_SERVICE_UNAVAILABLE", Category::Transient, true, RecoveryMode::RetryExponential, 0.93),
            "HTTP_401" => entry("HTTP_UNAUTHORIZED", Category::Auth, false, RecoveryMode::RefreshCredentials, 0.93),
            "VAGUE" => entry("SOMETHING", Category::Permanent, false, RecoveryMode::Abort, 0.45),
            other => entry(other, Category::Permanent, false, RecoveryMode::Abort, 0.98),
        }
    }
}

fn run_of(plan: Value) -> Run {
    let plan: Plan = serde_json::from_value(plan).unwrap();
    Run {
        run_id: "r1".into(),
        tenant: "t".into(),
        steps: plan.steps.iter().map(|s| (s.id.clone(), StepState::pending(&s.skill))).collect(),
        plan,
        inputs: json!({}),
        seed: 7,
        status: RunStatus::Queued,
        created_at_ms: 0,
        started_at_ms: None,
        finished_at_ms: None,
        workflow: None,
        idempotency_key: None,
        cost_usd: 0.0,
        error: None,
        failure: None,
        cancel_requested: false,
        trace: vec![],
        trace_root: None,
        recoveries: 0,
        previous_failures: Default::default(),
        applied_policies: Vec::new(),
        shadow_policies: Vec::new(),
        rerun_of: None,
        redrive_of: None,
        seeded_steps: Vec::new(),
        patched_steps: Vec::new(),
    }
}

fn rec(step: &str, attempt: u32, outcome: Outcome) -> AttemptRecord {
    AttemptRecord {
        step_id: step.into(),
        attempt,
        skill: "http_call".into(),
        fallback: false,
        input: json!({}),
        input_hash: "i".into(),
        output_hash: format!("o{step}{attempt}"),
        outcome,
        started_at_ms: 0,
        finished_at_ms: 100 * attempt as i64,
        duration_ms: 1,
        cost_usd: 0.0,
        failure: None,
        output_bytes: 0,
        seeded_from: None,
    }
}

/// An HTTP error that says it is retryable (as `http_call` reports 4xx/5xx statuses it considers
/// transient), so the catalog's verdict is what makes the difference.
fn http(status: u16, details: Value) -> Outcome {
    Outcome::err(StepError::new(format!("HTTP_{status}"), Category::Transient, true, format!("answered {status}")).with_details(details))
}

fn notes(d: &Decision) -> Vec<&FailureNote> {
    d.failures.iter().filter_map(|e| if let FailureEvent::Failed(n) = e { Some(n) } else { None }).collect()
}

/// Starts a one-step run (`a`, retry policy as given) and feeds it attempt 1's outcome.
fn first_failure(step: Value, outcome: Outcome) -> (Run, Decision) {
    let mut run = run_of(json!({"name": "p", "steps": [step]}));
    advance(&mut run, &[], 0, &Catalog::default());
    let d = advance(&mut run, &[rec("a", 1, outcome)], 10, &Catalog::default());
    (run, d)
}

#[test]
fn a_fallback_match_goes_straight_to_the_plans_fallback() {
    let step =
        json!({"id": "a", "skill": "http_call", "retry": {"max_attempts": 3}, "on_error": {"action": "fallback", "skill": "backup"}});
    let (run, d) = first_failure(step, http(404, json!({"status": 404})));
    assert_eq!(d.dispatches.len(), 1);
    assert_eq!(
        (d.dispatches[0].skill.as_str(), d.dispatches[0].fallback, d.dispatches[0].attempt),
        ("backup", true, 2),
        "no retry of the 404"
    );
    let n = notes(&d);
    assert_eq!(n.len(), 1);
    assert_eq!((n[0].kind, n[0].attempt, n[0].recovery), (FailureKind::Attempt, 1, Some(RecoveryMode::Fallback)));
    assert_eq!(n[0].failure.code.as_deref(), Some("HTTP_NOT_FOUND"));
    assert_eq!(run.status, RunStatus::Running);
}

#[test]
fn a_fallback_match_without_a_fallback_fails_the_step_at_once() {
    let (run, d) = first_failure(json!({"id": "a", "skill": "http_call"}), http(404, json!({})));
    assert!(d.dispatches.is_empty(), "not retried although the error said retryable");
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.failure.as_ref().and_then(|f| f.category), Some(Category::NotFound));
    let n = notes(&d);
    assert_eq!(n.iter().map(|n| (n.kind, n.recovery)).collect::<Vec<_>>(), [(FailureKind::Attempt, None), (FailureKind::Run, None)]);
    assert_eq!((n[1].step_id.as_deref(), n[1].attempt, n[1].error.code.as_str()), (Some("a"), 1, "HTTP_404"));
}

#[test]
fn retry_after_honours_the_servers_delay_exactly() {
    // The backoff alone would be 2500-5000 ms: the match's mode uses the server's 1500 ms.
    let step = json!({"id": "a", "skill": "http_call", "retry": {"max_attempts": 3, "initial_delay_ms": 5000, "max_delay_ms": 10000}});
    let (run, d) = first_failure(step, http(429, json!({"status": 429, "retry_after_ms": 1500})));
    assert_eq!((d.dispatches[0].attempt, d.dispatches[0].delay_ms), (2, 1500));
    assert_eq!(run.steps["a"].due_at_ms, Some(1510));
    assert_eq!(notes(&d)[0].recovery, Some(RecoveryMode::RetryAfter));
}

#[test]
fn retry_immediate_has_no_delay_and_exponential_backs_off() {
    let step = json!({"id": "a", "skill": "http_call", "retry": {"max_attempts": 3, "initial_delay_ms": 100}});
    let (_, d) = first_failure(step.clone(), http(425, json!({})));
    assert_eq!((d.dispatches[0].delay_ms, notes(&d)[0].recovery), (0, Some(RecoveryMode::RetryImmediate)));
    let (_, d) = first_failure(step, http(503, json!({})));
    assert!((50..=100).contains(&d.dispatches[0].delay_ms));
    assert_eq!(notes(&d)[0].recovery, Some(RecoveryMode::RetryExponential));
}

#[test]
fn modes_that_do_not_retry_stop_a_retryable_error() {
    let (run, d) = first_failure(json!({"id": "a", "skill": "http_call", "retry": {"max_attempts": 5}}), http(401, json!({})));
    assert!(d.dispatches.is_empty());
    assert_eq!(run.steps["a"].status, StepStatus::Failed);
}

#[test]
fn the_plans_retry_on_overrides_the_match() {
    let step = json!({"id": "a", "skill": "http_call", "retry": {"max_attempts": 2, "retry_on": ["TRANSIENT"]}, "on_error": {"action": "fallback", "skill": "backup"}});
    let (_, d) = first_failure(step, http(404, json!({})));
    assert_eq!((d.dispatches[0].skill.as_str(), d.dispatches[0].fallback), ("http_call", false), "retried: the plan names TRANSIENT");
    assert_eq!(notes(&d)[0].recovery, Some(RecoveryMode::RetryExponential));
    let step = json!({"id": "a", "skill": "http_call", "retry": {"max_attempts": 3, "retry_on": ["AUTH"]}});
    let (run, d) = first_failure(step, http(429, json!({"retry_after_ms": 10})));
    assert!(d.dispatches.is_empty(), "the plan names only AUTH: the retry_after match does not retry the error");
    assert_eq!(run.status, RunStatus::Failed);
}

#[test]
fn a_weak_match_leaves_the_decision_to_the_error() {
    let vague = Outcome::err(StepError::new("VAGUE", Category::Transient, true, "something odd"));
    let (_, d) = first_failure(json!({"id": "a", "skill": "http_call"}), vague);
    assert_eq!(d.dispatches.len(), 1, "confidence 0.45 < 0.5: retryable=true decides");
}

#[test]
fn the_attempts_recorded_match_is_used_rather_than_classifying_again() {
    let mut run = run_of(json!({"name": "p", "steps": [{"id": "a", "skill": "http_call"}]}));
    let env = Catalog::default();
    advance(&mut run, &[], 0, &env);
    let mut r = rec("a", 1, http(404, json!({})));
    r.failure = Some(entry("HTTP_SERVICE_UNAVAILABLE", Category::Transient, true, RecoveryMode::RetryImmediate, 0.9));
    let d = advance(&mut run, &[r], 10, &env);
    assert_eq!(d.dispatches[0].delay_ms, 0, "the worker's classification decides");
    assert!(env.asked.lock().unwrap().is_empty());
}

#[test]
fn recovery_outcomes_are_reported_when_known() {
    let plan = json!({"name": "p", "steps": [{"id": "a", "skill": "http_call", "retry": {"max_attempts": 3, "initial_delay_ms": 10}}]});
    let env = Catalog::default();
    // Two failures, then success: both recoveries succeeded.
    let mut run = run_of(plan.clone());
    advance(&mut run, &[], 0, &env);
    let mut atts = vec![rec("a", 1, http(503, json!({})))];
    advance(&mut run, &atts, 1, &env);
    atts.push(rec("a", 2, http(425, json!({}))));
    advance(&mut run, &atts, 2, &env);
    atts.push(rec("a", 3, Outcome::ok(json!(1))));
    let d = advance(&mut run, &atts, 3, &env);
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(
        d.failures,
        [FailureEvent::Recovered {
            step_id: "a".into(),
            skill: "http_call".into(),
            attempts: vec![(1, RecoveryMode::RetryExponential), (2, RecoveryMode::RetryImmediate)],
            succeeded: true
        }]
    );
    // Three failures: the recoveries failed, the last failure is final and fails the run.
    let mut run = run_of(plan);
    advance(&mut run, &[], 0, &env);
    let mut atts = vec![];
    let mut last = Decision::default();
    for n in 1..=3 {
        atts.push(rec("a", n, http(503, json!({}))));
        last = advance(&mut run, &atts, n as i64, &env);
    }
    assert_eq!(run.status, RunStatus::Failed);
    let kinds: Vec<_> = last
        .failures
        .iter()
        .map(|e| match e {
            FailureEvent::Failed(n) => format!("{:?}:{}:{:?}", n.kind, n.attempt, n.recovery),
            FailureEvent::Recovered { attempts, succeeded, .. } => format!("recovered:{}:{succeeded}", attempts.len()),
        })
        .collect();
    assert_eq!(kinds, ["Attempt:3:None", "recovered:2:false", "Run:3:None"]);
}

#[test]
fn run_failures_without_a_step_are_classified_too() {
    let env = Catalog::default();
    let mut run = run_of(json!({"name": "p", "budget": {"max_duration_ms": 5}, "steps": [{"id": "a", "skill": "http_call"}]}));
    advance(&mut run, &[], 0, &env);
    let d = advance(&mut run, &[], 100, &env);
    assert_eq!(run.failure.as_ref().and_then(|f| f.code.as_deref()), Some("BUDGET_DURATION_EXCEEDED"));
    let n = notes(&d);
    assert_eq!((n[0].kind, n[0].step_id.as_deref(), n[0].at_ms), (FailureKind::Run, None, 100));

    // Cancelling while a retry is pending ends that recovery unsuccessfully.
    let mut run = run_of(json!({"name": "p", "steps": [{"id": "a", "skill": "http_call", "retry": {"max_attempts": 3}}]}));
    advance(&mut run, &[], 0, &env);
    advance(&mut run, &[rec("a", 1, http(503, json!({})))], 1, &env);
    run.cancel_requested = true;
    let d = advance(&mut run, &[rec("a", 1, http(503, json!({})))], 2, &env);
    assert_eq!(run.status, RunStatus::Cancelled);
    assert_eq!(run.failure.as_ref().and_then(|f| f.code.as_deref()), Some("RUN_CANCELLED"));
    assert!(
        matches!(&d.failures[0], FailureEvent::Recovered { succeeded: false, attempts, .. } if attempts == &vec![(1, RecoveryMode::RetryExponential)])
    );
    assert_eq!(notes(&d)[0].kind, FailureKind::Run);

    // A condition that fails is a step failure (no attempt), then the run's.
    let mut run = run_of(json!({"name": "p", "steps": [{"id": "a", "skill": "http_call", "condition": ".x"}]}));
    let d = advance(&mut run, &[], 0, &env);
    let n = notes(&d);
    assert_eq!(n.iter().map(|n| (n.kind, n.attempt)).collect::<Vec<_>>(), [(FailureKind::Step, 0), (FailureKind::Run, 0)]);
    assert_eq!(n[0].failure.code.as_deref(), Some("CONDITION_ERROR"));
    assert!(env.asked.lock().unwrap().contains(&"CONDITION_ERROR".to_string()));
}
