//! The orchestration rules as a pure function: given a run, the attempt records so far and the
//! time, decide the run's next state and which step attempts to dispatch. The runtime persists the
//! new state and sends the dispatches; re-running `advance` on the same facts decides the same.
//! Failures are classified through `EngineEnv::classify` and reported in the decision as events.

use crate::dag::topo_order;
use crate::failure::{FailureEvent, FailureKind, FailureMatch, FailureNote, RecoveryMode};
use crate::outcome::{Category, StepError};
use crate::plan::{OnError, RetryPolicy, Step};
use crate::recovery::{decide, match_of, recovered_attempts, NextStep};
use crate::run::{AttemptRecord, Run, RunStatus, StepState, StepStatus};
use crate::template::{resolve_input, Resolved, Scope, SecretSlot, TemplateError};
use crate::trace::root_hash;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// What the engine needs from the outside world, without I/O.
pub trait EngineEnv {
    /// The skill's default per-attempt timeout.
    fn default_timeout_ms(&self, skill: &str) -> u64;
    /// The result of a step's condition over `context` (`{inputs, steps}`), or `None` when it has
    /// not been evaluated yet: the decision then asks for it in [`Decision::conditions`] and the
    /// step waits. Conditions are user code: the shell evaluates them in the jq sandbox, off the
    /// engine, and advances again with the results.
    fn eval_condition(&self, step_id: &str, expr: &str, context: &Value) -> Option<Result<bool, StepError>>;
    /// Classifies a failure against the failure catalog.
    fn classify(&self, error: &StepError, skill: Option<&str>) -> FailureMatch;
}

/// One step attempt to hand to a skill worker.
#[derive(Debug, Clone, PartialEq)]
pub struct Dispatch {
    pub step_id: String,
    pub attempt: u32,
    pub skill: String,
    pub fallback: bool,
    /// The resolved input, secret references still as written; or the template error that fails
    /// the attempt (a retry's or fallback's template may not resolve): the worker then records
    /// `TEMPLATE_UNRESOLVED` as the attempt's outcome without running the skill.
    pub input: Result<Value, TemplateError>,
    /// Where the worker puts secret values (from the plan's own template only).
    pub secrets: Vec<SecretSlot>,
    pub delay_ms: u64,
    pub timeout_ms: u64,
    /// How much cost the attempt may still incur before breaching the run's budget.
    pub cost_limit_usd: Option<f64>,
}

/// The decision of one `advance`.
#[derive(Debug, Default)]
pub struct Decision {
    pub dispatches: Vec<Dispatch>,
    /// Wake the orchestrator at this time even if nothing else happens (budget deadline).
    pub wake_at_ms: Option<i64>,
    /// The run state changed and must be saved.
    pub changed: bool,
    /// Failures absorbed by this decision and recoveries that reached their outcome, in the
    /// order they were decided. Each failed attempt is reported by exactly one decision.
    pub failures: Vec<FailureEvent>,
    /// Conditions the shell must evaluate before the steps that carry them can start.
    pub conditions: Vec<ConditionRequest>,
}

/// A step condition to evaluate: a jq program over `context`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionRequest {
    pub step_id: String,
    pub expr: String,
    pub context: Value,
}

impl Decision {
    /// Folds the decision of a later `advance` over the same facts (after conditions were
    /// evaluated) into this one.
    pub fn merge(&mut self, later: Decision) {
        self.dispatches.extend(later.dispatches);
        self.wake_at_ms = match (self.wake_at_ms, later.wake_at_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if self.changed || later.changed {
            self.changed = true;
        }
        self.failures.extend(later.failures);
        self.conditions = later.conditions;
    }
}

/// The input of a step attempt: its template (the fallback's on a fallback attempt) resolved
/// against the run's inputs and the outputs of finished steps. The one place that decides what a
/// step receives, for first attempts, retries, fallbacks, re-dispatches and replay.
pub fn step_input(run: &Run, step: &Step, fallback: bool, outputs: &HashMap<String, Value>) -> Result<Resolved, TemplateError> {
    let template = match (&step.on_error, fallback) {
        (OnError::Fallback { input, .. }, true) => input,
        _ => &step.input,
    };
    resolve_input(template, &Scope { inputs: &run.inputs, outputs, secrets: None })
}

/// A resolved input as a dispatch carries it: the value and its secret slots, or the template
/// error, which the worker records as the attempt's `TEMPLATE_UNRESOLVED` failure.
pub fn dispatch_input(resolved: Result<Resolved, TemplateError>) -> (Result<Value, TemplateError>, Vec<SecretSlot>) {
    match resolved {
        Ok(r) => (Ok(r.value), r.secrets),
        Err(e) => (Err(e), Vec::new()),
    }
}

/// The input an attempt record keeps for an attempt whose template did not resolve:
/// `{"__template_error": message}`. Attempt records have held this form since the first release,
/// and their input hashes are part of run traces, so replay recomputes exactly it; it exists in
/// records only (dispatches and queue messages carry the error as a typed value).
pub fn template_error_input(message: &str) -> Value {
    Value::Object(Map::from_iter([(TEMPLATE_ERROR_KEY.to_string(), Value::String(message.to_string()))]))
}

/// The key of [`template_error_input`].
pub const TEMPLATE_ERROR_KEY: &str = "__template_error";

/// `start + ms` in epoch milliseconds, saturating instead of overflowing.
fn after(start: i64, ms: u64) -> i64 {
    start.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// Why a run is failing, with the step that caused it if any.
struct RunFailure {
    error: StepError,
    failure: FailureMatch,
    step_id: Option<String>,
    attempt: u32,
    skill: Option<String>,
}

/// The facts one `advance` decides on, besides the run itself.
struct Facts<'a> {
    /// Attempt records by (step, attempt).
    by_key: HashMap<(&'a str, u32), &'a AttemptRecord>,
    /// Plan step indexes in topological order.
    order: Vec<usize>,
    now_ms: i64,
    env: &'a dyn EngineEnv,
}

/// A retry or fallback attempt decided while absorbing outcomes. It becomes a [`Dispatch`] once
/// the outcomes are absorbed, when its input is resolved.
struct NextAttempt {
    step_id: String,
    attempt: u32,
    skill: String,
    fallback: bool,
    delay_ms: u64,
}

/// Advances `run` given its attempt records. Mutates `run`; returns what to dispatch. The phases,
/// in order: start the run, absorb outcomes, account cost and budgets, end the run if it failed
/// or was cancelled, start ready steps (with the recoveries absorbed), limit the dispatches,
/// finish the run when every step has.
pub fn advance(run: &mut Run, attempts: &[AttemptRecord], now_ms: i64, env: &dyn EngineEnv) -> Decision {
    let mut d = Decision::default();
    if run.status.is_terminal() {
        return d;
    }
    let before = (run.status, run.steps.clone(), run.cost_usd);
    let starting = start_run(run, now_ms);
    let facts = Facts {
        by_key: attempts.iter().map(|a| ((a.step_id.as_str(), a.attempt), a)).collect(),
        order: topo_order(&run.plan).unwrap_or_else(|_| (0..run.plan.steps.len()).collect()),
        now_ms,
        env,
    };
    let (recoveries, step_failure) = absorb_outcomes(run, &facts, &mut d);
    account_cost(run, &facts);
    let failure = match step_failure {
        Some(f) => Some(f),
        None => check_budget(run, &facts, starting, &mut d),
    };
    if failure.is_some() || run.cancel_requested {
        let (status, why) = match failure {
            Some(f) => (RunStatus::Failed, f),
            None => (
                RunStatus::Cancelled,
                run_failure(StepError::new("RUN_CANCELLED", Category::Permanent, false, "the run was cancelled"), env),
            ),
        };
        end_run(run, &mut d, &facts.by_key, now_ms, env, status, why);
        return d;
    }
    let outputs = final_outputs(run, &facts.by_key);
    let (started, step_failure) = start_ready_steps(run, &facts, &outputs, &mut d);
    if let Some(why) = step_failure {
        end_run(run, &mut d, &facts.by_key, now_ms, env, RunStatus::Failed, why);
        return d;
    }
    d.dispatches = recoveries.into_iter().map(|next| recovery_dispatch(run, next, &outputs, env)).chain(started).collect();
    limit_dispatches(run, &mut d.dispatches, now_ms);
    if run.steps.values().all(|s| s.status.is_terminal()) {
        finish(run, &facts.by_key, now_ms, RunStatus::Succeeded);
        d.wake_at_ms = None;
    }
    d.changed = before != (run.status, run.steps.clone(), run.cost_usd);
    d
}

/// Start: a `queued` run becomes `running` now. Returns whether it did.
fn start_run(run: &mut Run, now_ms: i64) -> bool {
    if run.status != RunStatus::Queued {
        return false;
    }
    run.status = RunStatus::Running;
    run.started_at_ms = Some(now_ms);
    true
}

/// Absorb outcomes: the outcome of every running step, in step order, becomes its success, a
/// retry, its fallback or its final failure. Returns the recoveries to dispatch and the failure
/// that fails the run, if a step's did.
fn absorb_outcomes(run: &mut Run, facts: &Facts, d: &mut Decision) -> (Vec<NextAttempt>, Option<RunFailure>) {
    let (now_ms, env) = (facts.now_ms, facts.env);
    let mut recoveries = Vec::new();
    let mut failure: Option<RunFailure> = None;
    for &i in &facts.order {
        let step = run.plan.steps[i].clone();
        let st = run.steps.entry(step.id.clone()).or_insert_with(|| StepState::pending(&step.skill));
        if st.status != StepStatus::Running {
            continue;
        }
        let Some(rec) = facts.by_key.get(&(step.id.as_str(), st.attempt)) else { continue };
        let Some(err) = rec.outcome.error() else {
            st.status = StepStatus::Succeeded;
            if st.attempt > 1 {
                let attempts = recovered_attempts(&step, st.attempt, &facts.by_key, run.seed, env);
                d.failures.push(FailureEvent::Recovered { step_id: step.id.clone(), skill: step.skill.clone(), attempts, succeeded: true });
            }
            continue;
        };
        let matched = match_of(rec, err, env);
        let on_fallback = st.fallback;
        let next = if on_fallback || run.cancel_requested {
            NextStep::Stop
        } else {
            decide(&retry_policy(&step), err, &matched, run.seed, &step.id, st.attempt)
        };
        let recovery = match (next, &step.on_error) {
            (NextStep::Retry { delay_ms, mode }, _) => {
                st.attempt += 1;
                st.due_at_ms = Some(after(now_ms, delay_ms));
                st.dispatched_at_ms = Some(now_ms);
                recoveries.push(NextAttempt {
                    step_id: step.id.clone(),
                    attempt: st.attempt,
                    skill: st.skill.clone(),
                    fallback: st.fallback,
                    delay_ms,
                });
                Some(mode)
            }
            (NextStep::Stop, OnError::Fallback { skill, .. }) if !on_fallback => {
                st.fallback = true;
                st.skill = skill.clone();
                st.attempt += 1;
                st.due_at_ms = None;
                st.dispatched_at_ms = Some(now_ms);
                recoveries.push(NextAttempt {
                    step_id: step.id.clone(),
                    attempt: st.attempt,
                    skill: st.skill.clone(),
                    fallback: true,
                    delay_ms: 0,
                });
                Some(RecoveryMode::Fallback)
            }
            (NextStep::Stop, _) => {
                st.status = StepStatus::Failed;
                st.error = Some(err.clone());
                if !matches!(step.on_error, OnError::Continue) && failure.is_none() {
                    failure = Some(RunFailure {
                        error: err.clone(),
                        failure: matched.clone(),
                        step_id: Some(step.id.clone()),
                        attempt: rec.attempt,
                        skill: Some(rec.skill.clone()),
                    });
                }
                None
            }
        };
        let failed_for_good = recovery.is_none() && st.attempt > 1;
        d.failures.push(FailureEvent::Failed(FailureNote {
            kind: FailureKind::Attempt,
            step_id: Some(step.id.clone()),
            attempt: rec.attempt,
            skill: Some(rec.skill.clone()),
            error: err.clone(),
            failure: matched,
            recovery,
            at_ms: rec.finished_at_ms,
        }));
        if failed_for_good {
            let attempts = recovered_attempts(&step, st.attempt, &facts.by_key, run.seed, env);
            d.failures.push(FailureEvent::Recovered { step_id: step.id.clone(), skill: step.skill.clone(), attempts, succeeded: false });
        }
    }
    (recoveries, failure)
}

/// Cost: the run costs what its counted attempts (each step's up to its current one) cost, except
/// attempts seeded from an earlier run by a redrive (that run paid for them).
fn account_cost(run: &mut Run, facts: &Facts) {
    // A fold from +0.0, not `sum()`: an empty f64 sum is -0.0, which a run with no attempt (cancelled) showed as cost `-0`.
    run.cost_usd = counted_attempts(run, &facts.by_key).iter().filter(|a| a.seeded_from.is_none()).fold(0.0, |total, a| total + a.cost_usd);
}

/// Budget: the run's cost (already accounted) and duration against the plan's budget. Returns the
/// breach, if any (a duration breach before a cost breach); when the run starts, arms one wake-up
/// at its duration deadline.
fn check_budget(run: &Run, facts: &Facts, starting: bool, d: &mut Decision) -> Option<RunFailure> {
    let mut failure = None;
    if let Some(max) = run.plan.budget.max_cost_usd {
        if run.cost_usd > max + 1e-12 {
            let message = format!("run cost {:.6} USD exceeds the budget of {max} USD", run.cost_usd);
            failure = Some(run_failure(budget_error("BUDGET_COST_EXCEEDED", message), facts.env));
        }
    }
    if let Some(max) = run.plan.budget.max_duration_ms {
        let started = run.started_at_ms.unwrap_or(facts.now_ms);
        let elapsed = facts.now_ms.saturating_sub(started);
        if elapsed > i64::try_from(max).unwrap_or(i64::MAX) {
            let message = format!("run has taken {elapsed} ms, over its budget of {max} ms");
            failure = Some(run_failure(budget_error("BUDGET_DURATION_EXCEEDED", message), facts.env));
        } else if starting {
            // One wake-up at the deadline, armed when the run starts (the periodic sweep
            // covers deadlines beyond the queue's maximum delay).
            d.wake_at_ms = Some(after(started, max).saturating_add(1));
        }
    }
    failure
}

/// Start ready steps: every pending step whose upstream steps have all finished is skipped (an
/// upstream step did not succeed, or its condition is false), waits for its condition to be
/// evaluated, fails before any attempt (its condition or input template failed), or gets its
/// first attempt. Returns the first attempts, or the failure that fails the run (then it stops).
fn start_ready_steps(
    run: &mut Run,
    facts: &Facts,
    outputs: &HashMap<String, Value>,
    d: &mut Decision,
) -> (Vec<Dispatch>, Option<RunFailure>) {
    let (now_ms, env) = (facts.now_ms, facts.env);
    let mut dispatches = Vec::new();
    for &i in &facts.order {
        let step = run.plan.steps[i].clone();
        if run.steps[&step.id].status != StepStatus::Pending {
            continue;
        }
        let deps: Vec<(&String, StepStatus)> =
            step.depends_on.iter().map(|dep| (dep, run.steps.get(dep).map(|s| s.status).unwrap_or(StepStatus::Pending))).collect();
        if deps.iter().any(|(_, s)| !s.is_terminal()) {
            continue;
        }
        let st = run.steps.get_mut(&step.id).expect("state exists");
        if let Some((dep, s)) = deps.iter().find(|(_, s)| *s != StepStatus::Succeeded) {
            st.status = StepStatus::Skipped;
            st.skip_reason = Some(format!("upstream step `{dep}` {}", status_word(*s)));
            continue;
        }
        let gate = match &step.condition {
            None => Ok(true),
            Some(expr) => {
                let context = condition_context(&run.inputs, outputs, &run.steps, &crate::dag::upstream(&run.plan, &step.id));
                match env.eval_condition(&step.id, expr, &context) {
                    Some(result) => result,
                    None => {
                        d.conditions.push(ConditionRequest { step_id: step.id.clone(), expr: expr.clone(), context });
                        continue;
                    }
                }
            }
        };
        let resolved = match gate {
            Ok(true) => Some(step_input(run, &step, false, outputs)),
            _ => None,
        };
        let st = run.steps.get_mut(&step.id).expect("state exists");
        let started = gate.and_then(|go| match (go, resolved) {
            (true, Some(r)) => r.map(Some).map_err(|e| StepError::new("TEMPLATE_UNRESOLVED", Category::Validation, false, e.to_string())),
            _ => Ok(None),
        });
        match started {
            Ok(None) => {
                st.status = StepStatus::Skipped;
                st.skip_reason = Some("condition is false".into());
            }
            Ok(Some(Resolved { value: input, secrets })) => {
                st.status = StepStatus::Running;
                st.attempt = 1;
                st.dispatched_at_ms = Some(now_ms);
                let timeout = step.timeout_ms.unwrap_or_else(|| env.default_timeout_ms(&step.skill));
                dispatches.push(Dispatch {
                    step_id: step.id.clone(),
                    attempt: 1,
                    skill: step.skill.clone(),
                    fallback: false,
                    input: Ok(input),
                    secrets,
                    delay_ms: 0,
                    timeout_ms: timeout,
                    cost_limit_usd: None,
                });
            }
            Err(err) => {
                st.status = StepStatus::Failed;
                st.error = Some(err.clone());
                let matched = env.classify(&err, Some(&step.skill));
                d.failures.push(FailureEvent::Failed(FailureNote {
                    kind: FailureKind::Step,
                    step_id: Some(step.id.clone()),
                    attempt: 0,
                    skill: Some(step.skill.clone()),
                    error: err.clone(),
                    failure: matched.clone(),
                    recovery: None,
                    at_ms: now_ms,
                }));
                if !matches!(step.on_error, OnError::Continue) {
                    let why = RunFailure {
                        error: err,
                        failure: matched,
                        step_id: Some(step.id.clone()),
                        attempt: 0,
                        skill: Some(step.skill.clone()),
                    };
                    return (dispatches, Some(why));
                }
            }
        }
    }
    (dispatches, None)
}

/// A retry or fallback attempt with its input resolved: the same templates resolved before (a
/// fallback's may fail, which the worker reports as the attempt's outcome).
fn recovery_dispatch(run: &Run, next: NextAttempt, outputs: &HashMap<String, Value>, env: &dyn EngineEnv) -> Dispatch {
    let step = run.plan.step(&next.step_id).expect("a recovered step is in the plan");
    let (input, secrets) = dispatch_input(step_input(run, step, next.fallback, outputs));
    let timeout_ms = step.timeout_ms.unwrap_or_else(|| env.default_timeout_ms(&next.skill));
    Dispatch {
        step_id: next.step_id,
        attempt: next.attempt,
        skill: next.skill,
        fallback: next.fallback,
        input,
        secrets,
        delay_ms: next.delay_ms,
        timeout_ms,
        cost_limit_usd: None,
    }
}

/// Limit dispatches: every attempt's timeout is cut to what is left of the run's duration budget,
/// and it carries what is left of the cost budget.
fn limit_dispatches(run: &Run, dispatches: &mut [Dispatch], now_ms: i64) {
    let started = run.started_at_ms.unwrap_or(now_ms);
    let remaining_ms = run.plan.budget.max_duration_ms.map(|max| after(started, max).saturating_sub(now_ms).max(1) as u64);
    for disp in dispatches {
        if let Some(rem) = remaining_ms {
            disp.timeout_ms = disp.timeout_ms.min(rem);
        }
        disp.cost_limit_usd = run.plan.budget.max_cost_usd.map(|max| (max - run.cost_usd).max(0.0));
    }
}

fn budget_error(code: &str, message: String) -> StepError {
    StepError::new(code, Category::Resource, false, message)
}

/// Fails the run with `error` (no step caused it), as a budget breach would: unfinished steps are
/// cancelled and the decision reports the failure.
pub fn fail_run(run: &mut Run, attempts: &[AttemptRecord], now_ms: i64, error: StepError, env: &dyn EngineEnv) -> Decision {
    let mut d = Decision::default();
    if run.status.is_terminal() {
        return d;
    }
    let by_key: HashMap<(&str, u32), &AttemptRecord> = attempts.iter().map(|a| ((a.step_id.as_str(), a.attempt), a)).collect();
    let why = run_failure(error, env);
    end_run(run, &mut d, &by_key, now_ms, env, RunStatus::Failed, why);
    d
}

/// A run failure that no step caused (budget, cancellation), classified.
fn run_failure(error: StepError, env: &dyn EngineEnv) -> RunFailure {
    let failure = env.classify(&error, None);
    RunFailure { error, failure, step_id: None, attempt: 0, skill: None }
}

/// Fails or cancels the run: unfinished steps are cancelled (their pending recoveries end
/// unsuccessful), the run records its error and classification, and the decision reports it.
fn end_run(
    run: &mut Run,
    d: &mut Decision,
    by_key: &HashMap<(&str, u32), &AttemptRecord>,
    now_ms: i64,
    env: &dyn EngineEnv,
    status: RunStatus,
    why: RunFailure,
) {
    let unfinished: Vec<String> = run.steps.iter().filter(|(_, st)| !st.status.is_terminal()).map(|(id, _)| id.clone()).collect();
    for id in unfinished {
        let Some(st) = run.steps.get_mut(&id) else { continue };
        st.status = StepStatus::Cancelled;
        let current = st.attempt;
        if current > 1 {
            if let Some(step) = run.plan.step(&id) {
                let attempts = recovered_attempts(step, current, by_key, run.seed, env);
                d.failures.push(FailureEvent::Recovered { step_id: id, skill: step.skill.clone(), attempts, succeeded: false });
            }
        }
    }
    run.error = Some(why.error.clone());
    run.failure = Some(why.failure.clone());
    d.dispatches.clear();
    finish(run, by_key, now_ms, status);
    d.changed = true;
    d.wake_at_ms = None;
    d.failures.push(FailureEvent::Failed(FailureNote {
        kind: FailureKind::Run,
        step_id: why.step_id,
        attempt: why.attempt,
        skill: why.skill,
        error: why.error,
        failure: why.failure,
        recovery: None,
        at_ms: now_ms,
    }));
}

fn status_word(s: StepStatus) -> &'static str {
    match s {
        StepStatus::Failed => "failed",
        StepStatus::Skipped => "was skipped",
        StepStatus::Cancelled => "was cancelled",
        _ => "did not succeed",
    }
}

/// Attempts that belong to the run's history: those up to each step's current attempt.
fn counted_attempts<'a>(run: &Run, by_key: &HashMap<(&str, u32), &'a AttemptRecord>) -> Vec<&'a AttemptRecord> {
    let order = topo_order(&run.plan).unwrap_or_else(|_| (0..run.plan.steps.len()).collect());
    let mut out = Vec::new();
    for i in order {
        let id = run.plan.steps[i].id.as_str();
        let last = run.steps.get(id).map(|s| s.attempt).unwrap_or(0);
        for n in 1..=last {
            if let Some(rec) = by_key.get(&(id, n)) {
                out.push(*rec);
            }
        }
    }
    out
}

/// Outputs of succeeded steps (their last attempt's output).
pub fn final_outputs(run: &Run, by_key: &HashMap<(&str, u32), &AttemptRecord>) -> HashMap<String, Value> {
    run.steps
        .iter()
        .filter(|(_, s)| s.status == StepStatus::Succeeded)
        .filter_map(|(id, s)| by_key.get(&(id.as_str(), s.attempt)).and_then(|r| r.outcome.output()).map(|o| (id.clone(), o.clone())))
        .collect()
}

/// `{inputs, steps}` where `steps` holds only the step's upstream steps (all finished by then), so
/// a condition sees the same facts whatever order parallel branches finished in.
fn condition_context(
    inputs: &Value,
    outputs: &HashMap<String, Value>,
    steps: &std::collections::BTreeMap<String, StepState>,
    upstream: &std::collections::HashSet<String>,
) -> Value {
    let mut m = Map::new();
    for (id, st) in steps {
        if st.status.is_terminal() && upstream.contains(id) {
            let status = serde_json::to_value(st.status).unwrap_or(Value::Null);
            m.insert(id.clone(), json!({"status": status, "output": outputs.get(id).cloned().unwrap_or(Value::Null)}));
        }
    }
    json!({"inputs": inputs, "steps": m})
}

fn finish(run: &mut Run, by_key: &HashMap<(&str, u32), &AttemptRecord>, now_ms: i64, status: RunStatus) {
    let trace: Vec<_> = counted_attempts(run, by_key).into_iter().map(|a| a.trace_entry()).collect();
    run.trace_root = Some(root_hash(&trace));
    run.trace = trace;
    run.status = status;
    run.finished_at_ms = Some(now_ms);
}

/// The retry policy in force for a step.
pub fn retry_policy(step: &Step) -> RetryPolicy {
    step.retry.clone().unwrap_or_default()
}
