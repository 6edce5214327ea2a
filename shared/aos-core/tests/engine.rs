//! The orchestration rules, driven by hand: dispatch order, retries with backoff, fallback,
//! `continue`, conditions, skipped dependents, budgets, cancellation and the trace.

use aos_core::engine::{advance, template_error_input, EngineEnv};
use aos_core::failure::FailureMatch;
use aos_core::outcome::{Category, Outcome, StepError};
use aos_core::plan::Plan;
use aos_core::run::{AttemptRecord, Run, RunStatus, StepState, StepStatus};
use aos_core::template::TemplateError;
use aos_core::trace::root_hash;
use serde_json::{json, Value};

struct Env;
impl EngineEnv for Env {
    fn default_timeout_ms(&self, _: &str) -> u64 {
        1000
    }
    fn eval_condition(&self, _: &str, expr: &str, ctx: &Value) -> Option<Result<bool, StepError>> {
        // A tiny stand-in for jq good enough for these tests: `.inputs.flag`.
        Some(match expr {
            ".inputs.flag" => Ok(ctx["inputs"]["flag"] == json!(true)),
            "bad" => Err(StepError::new("CONDITION_ERROR", aos_core::Category::Validation, false, "syntax error")),
            _ => Ok(true),
        })
    }
    fn classify(&self, _: &StepError, _: Option<&str>) -> FailureMatch {
        FailureMatch::unmatched("")
    }
}

fn run_of(plan: Value, inputs: Value) -> Run {
    let plan: Plan = serde_json::from_value(plan).unwrap();
    Run {
        run_id: "r1".into(),
        tenant: "t".into(),
        steps: plan.steps.iter().map(|s| (s.id.clone(), StepState::pending(&s.skill))).collect(),
        plan,
        inputs,
        seed: 7,
        status: RunStatus::Queued,
        created_at_ms: 1000,
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

fn rec(step: &str, attempt: u32, outcome: Outcome, cost: f64) -> AttemptRecord {
    AttemptRecord {
        step_id: step.into(),
        attempt,
        skill: "s".into(),
        fallback: false,
        input: json!({}),
        input_hash: "i".into(),
        output_hash: format!("o{step}{attempt}"),
        outcome,
        started_at_ms: 0,
        finished_at_ms: 1,
        duration_ms: 1,
        cost_usd: cost,
        failure: None,
        output_bytes: 0,
        seeded_from: None,
    }
}

fn transient() -> Outcome {
    Outcome::err(StepError::new("HTTP_503", Category::Transient, true, "unavailable"))
}

#[test]
fn dispatches_roots_then_dependents_with_resolved_inputs() {
    let mut run = run_of(
        json!({"name": "p", "steps": [
            {"id": "a", "skill": "s", "input": {"n": "{{ inputs.n }}"}},
            {"id": "b", "skill": "s", "input": {"x": "{{ steps.a.output.v }}", "t": "v={{ steps.a.output.v }}"}, "depends_on": ["a"]},
            {"id": "c", "skill": "s", "input": {}}
        ]}),
        json!({"n": 5}),
    );
    let d = advance(&mut run, &[], 2000, &Env);
    assert_eq!(run.status, RunStatus::Running);
    let ids: Vec<_> = d.dispatches.iter().map(|x| x.step_id.as_str()).collect();
    assert_eq!(ids, ["a", "c"]);
    assert_eq!(d.dispatches[0].input, Ok(json!({"n": 5})));
    let attempts = vec![rec("a", 1, Outcome::ok(json!({"v": 3})), 0.1), rec("c", 1, Outcome::ok(json!(1)), 0.2)];
    let d = advance(&mut run, &attempts, 2100, &Env);
    assert_eq!(d.dispatches.len(), 1);
    assert_eq!(d.dispatches[0].input, Ok(json!({"x": 3, "t": "v=3"})));
    let mut attempts = attempts;
    attempts.push(rec("b", 1, Outcome::ok(json!("done")), 0.3));
    let d = advance(&mut run, &attempts, 2200, &Env);
    assert!(d.dispatches.is_empty());
    assert_eq!(run.status, RunStatus::Succeeded);
    assert!((run.cost_usd - 0.6).abs() < 1e-9);
    let order: Vec<_> = run.trace.iter().map(|e| e.step_id.as_str()).collect();
    assert_eq!(order, ["a", "b", "c"], "trace is in topological plan order, not completion order");
    assert_eq!(run.trace_root.as_deref(), Some(root_hash(&run.trace).as_str()));
    // Advancing a finished run changes nothing.
    assert!(!advance(&mut run, &attempts, 9999, &Env).changed);
}

#[test]
fn retries_with_backoff_then_fails_and_aborts() {
    let mut run = run_of(
        json!({"name": "p", "steps": [
            {"id": "a", "skill": "s", "retry": {"max_attempts": 3, "initial_delay_ms": 100, "max_delay_ms": 1000}},
            {"id": "b", "skill": "s", "depends_on": ["a"]}
        ]}),
        json!({}),
    );
    advance(&mut run, &[], 0, &Env);
    let mut attempts = vec![rec("a", 1, transient(), 0.0)];
    let d = advance(&mut run, &attempts, 10, &Env);
    assert_eq!(d.dispatches.len(), 1);
    assert_eq!(d.dispatches[0].attempt, 2);
    assert!((50..=100).contains(&d.dispatches[0].delay_ms), "first backoff within [base/2, base]");
    attempts.push(rec("a", 2, transient(), 0.0));
    let d = advance(&mut run, &attempts, 20, &Env);
    assert_eq!(d.dispatches[0].attempt, 3);
    assert!((100..=200).contains(&d.dispatches[0].delay_ms));
    attempts.push(rec("a", 3, transient(), 0.0));
    advance(&mut run, &attempts, 30, &Env);
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error.as_ref().unwrap().code, "HTTP_503");
    assert_eq!(run.steps["b"].status, StepStatus::Cancelled);
    assert_eq!(run.trace.len(), 3);
}

#[test]
fn non_retryable_errors_do_not_retry_unless_the_policy_names_their_category() {
    let mut run = run_of(
        json!({"name": "p", "steps": [
            {"id": "a", "skill": "s", "retry": {"max_attempts": 3, "retry_on": ["VALIDATION"]}},
            {"id": "b", "skill": "s"}
        ]}),
        json!({}),
    );
    advance(&mut run, &[], 0, &Env);
    let bad = Outcome::err(StepError::new("X", Category::Validation, false, "bad"));
    let d = advance(&mut run, &[rec("a", 1, bad.clone(), 0.0)], 1, &Env);
    assert_eq!(d.dispatches.len(), 1, "retry_on overrides retryable=false");
    let mut run2 = run_of(json!({"name": "p", "steps": [{"id": "a", "skill": "s"}]}), json!({}));
    advance(&mut run2, &[], 0, &Env);
    advance(&mut run2, &[rec("a", 1, bad, 0.0)], 1, &Env);
    assert_eq!(run2.status, RunStatus::Failed);
}

#[test]
fn fallback_runs_another_skill_and_continue_skips_dependents() {
    let mut run = run_of(
        json!({"name": "p", "steps": [
            {"id": "a", "skill": "s", "retry": {"max_attempts": 1}, "on_error": {"action": "fallback", "skill": "backup", "input": {"q": "{{ inputs.q }}"}}},
            {"id": "b", "skill": "s", "retry": {"max_attempts": 1}, "on_error": {"action": "continue"}},
            {"id": "c", "skill": "s", "depends_on": ["b"]},
            {"id": "d", "skill": "s", "depends_on": ["a"], "input": {"v": "{{ steps.a.output }}"}}
        ]}),
        json!({"q": "x"}),
    );
    advance(&mut run, &[], 0, &Env);
    let mut attempts = vec![rec("a", 1, transient(), 0.0), rec("b", 1, transient(), 0.0)];
    let d = advance(&mut run, &attempts, 1, &Env);
    assert_eq!(d.dispatches.len(), 1);
    assert_eq!((d.dispatches[0].skill.as_str(), d.dispatches[0].fallback, d.dispatches[0].attempt), ("backup", true, 2));
    assert_eq!(d.dispatches[0].input, Ok(json!({"q": "x"})));
    assert_eq!(run.steps["b"].status, StepStatus::Failed);
    assert_eq!(run.steps["c"].status, StepStatus::Skipped);
    attempts.push(rec("a", 2, Outcome::ok(json!("from backup")), 0.0));
    let d = advance(&mut run, &attempts, 2, &Env);
    assert_eq!(d.dispatches[0].input, Ok(json!({"v": "from backup"})));
    attempts.push(rec("d", 1, Outcome::ok(json!(null)), 0.0));
    advance(&mut run, &attempts, 3, &Env);
    assert_eq!(run.status, RunStatus::Succeeded, "a `continue` failure does not fail the run");
}

#[test]
fn conditions_skip_and_condition_errors_fail() {
    let mut run = run_of(
        json!({"name": "p", "steps": [
            {"id": "a", "skill": "s", "condition": ".inputs.flag"},
            {"id": "b", "skill": "s", "depends_on": ["a"]}
        ]}),
        json!({"flag": false}),
    );
    advance(&mut run, &[], 0, &Env);
    assert_eq!(run.steps["a"].status, StepStatus::Skipped);
    assert_eq!(run.steps["b"].status, StepStatus::Skipped);
    assert_eq!(run.status, RunStatus::Succeeded);
    let mut run = run_of(json!({"name": "p", "steps": [{"id": "a", "skill": "s", "condition": "bad"}]}), json!({}));
    advance(&mut run, &[], 0, &Env);
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error.unwrap().code, "CONDITION_ERROR");
}

#[test]
fn budgets_fail_the_run_and_limit_dispatches() {
    let mut run = run_of(
        json!({"name": "p", "budget": {"max_cost_usd": 0.5, "max_duration_ms": 10000}, "steps": [
            {"id": "a", "skill": "s"}, {"id": "b", "skill": "s", "depends_on": ["a"]}
        ]}),
        json!({}),
    );
    let d = advance(&mut run, &[], 0, &Env);
    assert_eq!(d.dispatches[0].cost_limit_usd, Some(0.5));
    assert_eq!(d.wake_at_ms, Some(10001), "the orchestrator is woken at the deadline");
    advance(&mut run, &[rec("a", 1, Outcome::ok(json!(1)), 0.75)], 1, &Env);
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error.as_ref().unwrap().code, "BUDGET_COST_EXCEEDED");

    let mut run = run_of(json!({"name": "p", "budget": {"max_duration_ms": 100}, "steps": [{"id": "a", "skill": "s"}]}), json!({}));
    let d = advance(&mut run, &[], 0, &Env);
    assert_eq!(d.dispatches[0].timeout_ms, 100, "timeouts are clipped to the remaining duration");
    advance(&mut run, &[], 500, &Env);
    assert_eq!(run.error.as_ref().unwrap().code, "BUDGET_DURATION_EXCEEDED");
}

#[test]
fn cancellation_finishes_the_run() {
    let mut run = run_of(json!({"name": "p", "steps": [{"id": "a", "skill": "s"}]}), json!({}));
    advance(&mut run, &[], 0, &Env);
    run.cancel_requested = true;
    let d = advance(&mut run, &[], 1, &Env);
    assert!(d.dispatches.is_empty());
    assert_eq!(run.status, RunStatus::Cancelled);
    assert_eq!(run.steps["a"].status, StepStatus::Cancelled);
}

#[test]
fn unresolvable_template_fails_the_step() {
    let mut run = run_of(json!({"name": "p", "steps": [{"id": "a", "skill": "s", "input": {"x": "{{ inputs.missing }}"}}]}), json!({}));
    advance(&mut run, &[], 0, &Env);
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error.unwrap().code, "TEMPLATE_UNRESOLVED");
}

#[test]
fn a_fallback_whose_template_does_not_resolve_is_dispatched_with_its_template_error() {
    let mut run = run_of(
        json!({"name": "p", "steps": [
            {"id": "a", "skill": "s", "retry": {"max_attempts": 1}, "on_error": {"action": "fallback", "skill": "backup", "input": {"q": "{{ inputs.missing }}"}}},
            {"id": "b", "skill": "s", "retry": {"max_attempts": 2}, "input": {"n": "{{ inputs.n }}"}},
            {"id": "c", "skill": "s", "depends_on": ["b"]}
        ]}),
        json!({"n": 1}),
    );
    advance(&mut run, &[], 0, &Env);
    let d = advance(&mut run, &[rec("a", 1, transient(), 0.0), rec("b", 1, transient(), 0.0)], 1, &Env);
    let ids: Vec<_> = d.dispatches.iter().map(|x| (x.step_id.as_str(), x.attempt)).collect();
    assert_eq!(ids, [("a", 2), ("b", 2)]);
    let err = d.dispatches[0].input.clone().expect_err("the fallback's template does not resolve");
    assert_eq!(err, TemplateError::Unresolved("inputs.missing".into(), "no such input".into()));
    assert!(d.dispatches[0].secrets.is_empty());
    assert_eq!((d.dispatches[0].fallback, d.dispatches[0].skill.as_str(), d.dispatches[0].timeout_ms), (true, "backup", 1000));
    assert_eq!(d.dispatches[1].input, Ok(json!({"n": 1})), "a retry's input is resolved again");
}

#[test]
fn a_template_error_is_recorded_in_the_attempt_input_form_of_every_release() {
    // Attempt records of runs written by every release hold this input (its hash is in the
    // trace): replay of those runs recomputes exactly it.
    let message = "`{{ inputs.missing }}` does not resolve: no such input";
    assert_eq!(template_error_input(message), json!({"__template_error": message}));
    assert_eq!(
        aos_core::canonical::hash_value(&template_error_input(message)),
        aos_core::canonical::hash_value(&json!({"__template_error": message}))
    );
}

#[test]
fn a_partial_budget_keeps_the_default_duration_and_null_lifts_it() {
    let p: Plan = serde_json::from_value(json!({"name": "p", "budget": {"max_cost_usd": 1}, "steps": []})).unwrap();
    assert_eq!(p.budget.max_duration_ms, Some(aos_core::plan::DEFAULT_MAX_DURATION_MS));
    let p: Plan = serde_json::from_value(json!({"name": "p", "steps": []})).unwrap();
    assert_eq!(p.budget.max_duration_ms, Some(aos_core::plan::DEFAULT_MAX_DURATION_MS));
    let p: Plan = serde_json::from_value(json!({"name": "p", "budget": {"max_duration_ms": null}, "steps": []})).unwrap();
    assert_eq!(p.budget.max_duration_ms, None);
}

#[test]
fn conditions_see_only_upstream_steps() {
    struct Spy(std::sync::Mutex<Vec<Value>>);
    impl EngineEnv for Spy {
        fn default_timeout_ms(&self, _: &str) -> u64 {
            1000
        }
        fn eval_condition(&self, _: &str, _: &str, ctx: &Value) -> Option<Result<bool, StepError>> {
            self.0.lock().unwrap().push(ctx.clone());
            Some(Ok(true))
        }
        fn classify(&self, _: &StepError, _: Option<&str>) -> FailureMatch {
            FailureMatch::unmatched("")
        }
    }
    let mut run = run_of(
        json!({"name": "p", "steps": [
            {"id": "a", "skill": "s"}, {"id": "other", "skill": "s"},
            {"id": "b", "skill": "s", "depends_on": ["a"], "condition": ".steps.a.output"}
        ]}),
        json!({}),
    );
    let spy = Spy(Default::default());
    advance(&mut run, &[], 0, &spy);
    advance(&mut run, &[rec("a", 1, Outcome::ok(json!(1)), 0.0), rec("other", 1, Outcome::ok(json!(2)), 0.0)], 1, &spy);
    let seen = spy.0.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["steps"], json!({"a": {"status": "succeeded", "output": 1}}), "`other` finished too but is not upstream of b");
}

/// The engine never runs a condition itself: it asks for it, leaves the step pending, and starts
/// or skips it once the shell advances again with the result.
#[test]
fn conditions_are_asked_for_and_the_step_waits_for_the_result() {
    struct Results(std::collections::HashMap<String, bool>);
    impl EngineEnv for Results {
        fn default_timeout_ms(&self, _: &str) -> u64 {
            1000
        }
        fn eval_condition(&self, step_id: &str, _: &str, _: &Value) -> Option<Result<bool, StepError>> {
            self.0.get(step_id).map(|go| Ok(*go))
        }
        fn classify(&self, _: &StepError, _: Option<&str>) -> FailureMatch {
            FailureMatch::unmatched("")
        }
    }
    let mut run = run_of(
        json!({"name": "p", "steps": [
            {"id": "a", "skill": "s", "condition": ".inputs.go"},
            {"id": "b", "skill": "s", "condition": ".inputs.go | not"},
            {"id": "c", "skill": "s"}
        ]}),
        json!({"go": true}),
    );
    let d = advance(&mut run, &[], 0, &Results(Default::default()));
    let asked: Vec<&str> = d.conditions.iter().map(|c| c.step_id.as_str()).collect();
    assert_eq!(asked, ["a", "b"]);
    assert_eq!(d.conditions[0].context["inputs"], json!({"go": true}));
    assert_eq!(d.dispatches.iter().map(|x| x.step_id.as_str()).collect::<Vec<_>>(), ["c"], "steps without a condition start at once");
    assert_eq!(run.steps["a"].status, StepStatus::Pending);
    let mut decision = d;
    let later = advance(&mut run, &[], 0, &Results([("a".to_string(), true), ("b".to_string(), false)].into()));
    assert!(later.conditions.is_empty());
    decision.merge(later);
    assert_eq!(decision.dispatches.iter().map(|x| x.step_id.as_str()).collect::<Vec<_>>(), ["c", "a"]);
    assert_eq!(run.steps["b"].status, StepStatus::Skipped);
    assert!(decision.changed);
}

/// A redriven run starts with its kept steps succeeded and their attempts seeded from the earlier
/// run: the engine dispatches only the steps downstream (with the seeded outputs), never a kept
/// step, counts no cost for seeded attempts, and puts them in the trace like any attempt.
#[test]
fn seeded_steps_are_never_dispatched_and_feed_their_recorded_outputs() {
    let mut run = run_of(
        json!({"name": "p", "steps": [
            {"id": "a", "skill": "s", "input": {}},
            {"id": "b", "skill": "s", "input": {"x": "{{ steps.a.output.v }}"}, "depends_on": ["a"]}
        ]}),
        json!({}),
    );
    let mut kept = StepState::pending("s");
    (kept.status, kept.attempt) = (StepStatus::Succeeded, 2);
    run.steps.insert("a".into(), kept);
    run.seeded_steps = vec!["a".into()];
    let seeded = |n: u32, outcome: Outcome| AttemptRecord { seeded_from: Some("r0".into()), ..rec("a", n, outcome, 0.5) };
    let mut attempts = vec![seeded(1, transient()), seeded(2, Outcome::ok(json!({"v": 7})))];
    let d = advance(&mut run, &attempts, 2000, &Env);
    assert_eq!(d.dispatches.iter().map(|x| (x.step_id.as_str(), x.attempt)).collect::<Vec<_>>(), [("b", 1)]);
    assert_eq!(d.dispatches[0].input, Ok(json!({"x": 7})));
    assert!(d.failures.is_empty(), "seeded failures were reported by the earlier run: {:?}", d.failures);
    assert_eq!(run.cost_usd, 0.0, "the earlier run paid for the seeded attempts");
    attempts.push(rec("b", 1, Outcome::ok(json!(1)), 0.25));
    advance(&mut run, &attempts, 2100, &Env);
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(run.cost_usd, 0.25);
    let trace: Vec<_> = run.trace.iter().map(|e| (e.step_id.as_str(), e.attempt)).collect();
    assert_eq!(trace, [("a", 1), ("a", 2), ("b", 1)]);
    assert_eq!(run.trace_root, Some(root_hash(&run.trace)));
}
