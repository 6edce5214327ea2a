//! Executing one step attempt: secrets resolved only into the slots the plan names, the skill run
//! under its timeout and panic guard, the cost budget and output limits enforced, secret values
//! masked out of what comes back, and the attempt's record (hashes, catalog match) built. The skill
//! workers execute every attempt through it; the orchestrator executes pure attempts through it
//! inline (`crate::orchestrator`), so both paths produce the same record for the same attempt.

use crate::failures::classify::classify_error;
use crate::messages::StepTask;
use crate::runs::RunRepo;
use crate::secret_mask::SecretMask;
use crate::worker::OutputLimits;
use aos_core::canonical::hash_value;
use aos_core::outcome::{Category, Outcome, StepError};
use aos_core::ports::{Clock, Secrets};
use aos_core::run::AttemptRecord;
use aos_core::skill::{SkillContext, SkillRegistry, TenantScope};
use aos_core::template::{fill_secrets, secret_names, Scope, SecretSlot};
use futures::FutureExt;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs step attempts and builds their records (shared by the workers and the orchestrator).
#[derive(Clone)]
pub(crate) struct StepExecutor {
    pub(crate) runs: RunRepo,
    pub(crate) secrets: Arc<dyn Secrets>,
    pub(crate) skills: Arc<SkillRegistry>,
    pub(crate) limits: OutputLimits,
    /// Attempt start times.
    pub(crate) clock: Arc<dyn Clock>,
}

impl StepExecutor {
    /// Runs the attempt and returns its record (start time from the clock, duration measured).
    /// The caller counts it (`telemetry::step_finished`) once it keeps the record.
    pub(crate) async fn attempt(&self, task: &StepTask) -> AttemptRecord {
        let started = self.clock.now_ms();
        // The duration is measured, not read off the clock: it is a fact about the attempt.
        let timer = Instant::now();
        let (outcome, cost) = self.run_skill(task).await;
        let elapsed = timer.elapsed().as_millis() as u64;
        self.record(task, outcome, started, elapsed, cost)
    }

    /// The attempt's record. A failure is classified here, on the redacted outcome, so the match
    /// travels with the attempt to the engine (which decides retries by it) and the API.
    pub(crate) fn record(&self, task: &StepTask, outcome: Outcome, started: i64, duration_ms: u64, cost_usd: f64) -> AttemptRecord {
        let output_hash = hash_value(&serde_json::to_value(&outcome).unwrap_or(Value::Null));
        let output_bytes = serde_json::to_vec(&outcome).map(|b| b.len() as u64).unwrap_or(0);
        let failure = outcome.error().map(|e| classify_error(e, Some(&task.skill)));
        let input = task.recorded_input();
        AttemptRecord {
            step_id: task.step_id.clone(),
            attempt: task.attempt,
            skill: task.skill.clone(),
            fallback: task.fallback,
            input_hash: hash_value(&input),
            input,
            output_hash,
            outcome,
            started_at_ms: started,
            finished_at_ms: started + duration_ms as i64,
            duration_ms,
            cost_usd,
            failure,
            output_bytes,
            seeded_from: None,
        }
    }

    /// Resolves secrets, runs the skill under its timeout and panic guard, enforces the cost
    /// budget, and redacts secret values from whatever comes back.
    pub(crate) async fn run_skill(&self, task: &StepTask) -> (Outcome, f64) {
        let Some(skill) = self.skills.get(&task.skill).cloned() else {
            return (
                Outcome::err(StepError::new(
                    "SKILL_UNKNOWN",
                    Category::Permanent,
                    false,
                    format!("no skill `{}` in this deployment", task.skill),
                )),
                0.0,
            );
        };
        if let Some(msg) = task.template_failure() {
            return (Outcome::err(StepError::new("TEMPLATE_UNRESOLVED", Category::Validation, false, msg)), 0.0);
        }
        let slots = match self.secret_slots(task).await {
            Ok(slots) => slots,
            Err(e) => return (Outcome::err(e), 0.0),
        };
        let secrets = match self.load_secrets(&task.tenant, &slots).await {
            Ok(s) => s,
            Err(e) => return (Outcome::err(e), 0.0),
        };
        let mut input = task.input.clone();
        if let Err(e) = fill_secrets(&mut input, &slots, &secrets) {
            return (Outcome::err(StepError::new("SECRET_UNRESOLVED", Category::Auth, false, e.to_string())), 0.0);
        }
        // The tenant's store and secrets as this skill may see them: keys under its own prefix, so
        // nothing in the input can name another tenant's data.
        let scope = Arc::new(TenantScope::new(&task.tenant, &task.skill, self.runs.store.clone(), self.secrets.clone()));
        let ctx = SkillContext::new(&task.run_id, &task.step_id, task.attempt, task.seed, task.logical_time_ms, task.timeout_ms)
            .with_scope(scope.clone());
        let fut = AssertUnwindSafe(skill.execute(&ctx, input)).catch_unwind();
        let result = tokio::time::timeout(Duration::from_millis(task.timeout_ms.max(1)), fut).await;
        let (outcome, cost) = match result {
            Err(_) => (
                Outcome::err(
                    StepError::new(
                        "STEP_TIMEOUT",
                        Category::Transient,
                        true,
                        format!("step `{}` did not finish within {} ms", task.step_id, task.timeout_ms),
                    )
                    .with_details(json!({"timeout_ms": task.timeout_ms})),
                ),
                0.0,
            ),
            Ok(Err(panic)) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                (
                    Outcome::err(StepError::new(
                        "SKILL_PANIC",
                        Category::Permanent,
                        false,
                        format!("skill `{}` panicked: {what}", task.skill),
                    )),
                    0.0,
                )
            }
            Ok(Ok(Err(e))) => (Outcome::err(e), 0.0),
            Ok(Ok(Ok(out))) => match task.cost_limit_usd {
                Some(limit) if out.cost_usd > limit + 1e-12 => (
                    Outcome::err(StepError::new(
                        "BUDGET_COST_EXCEEDED",
                        Category::Resource,
                        false,
                        format!("step cost {} USD exceeds the {limit} USD left in the run's budget", out.cost_usd),
                    )),
                    out.cost_usd,
                ),
                _ => (Outcome::ok(out.output), out.cost_usd),
            },
        };
        // Secrets the skill read itself (credentials from the tenant's secrets) are masked like the plan's.
        let mut masked: Vec<String> = secrets.into_values().collect();
        masked.extend(scope.revealed());
        let outcome = redact(outcome, &masked);
        (self.within_output_limit(task, outcome), cost)
    }

    /// The outcome, or an `OUTPUT_LIMIT_EXCEEDED` failure in its place when it is larger than the
    /// attempt may return.
    fn within_output_limit(&self, task: &StepTask, outcome: Outcome) -> Outcome {
        let limit = task.max_output_bytes.unwrap_or(self.limits.step_bytes).min(self.limits.step_bytes);
        let bytes = serde_json::to_vec(&outcome).map(|b| b.len() as u64).unwrap_or(u64::MAX);
        if bytes <= limit {
            return outcome;
        }
        let whose = if limit < self.limits.step_bytes { "what is left of the run's output limit" } else { "the step output limit" };
        Outcome::err(
            StepError::new(
                "OUTPUT_LIMIT_EXCEEDED",
                Category::Resource,
                false,
                format!("step `{}` returned {bytes} bytes, over {whose} ({limit} bytes)", task.step_id),
            )
            .with_details(json!({"output_bytes": bytes, "limit_bytes": limit})),
        )
    }

    /// The strings of the input that take secrets. Version 2 tasks carry them, computed from the
    /// plan's template. Version 1 tasks (queued by an earlier release) are scanned as that release
    /// did, but only for secrets the step's own template names, so data cannot name others.
    async fn secret_slots(&self, task: &StepTask) -> Result<Vec<SecretSlot>, StepError> {
        if task.v >= 2 || secret_names(&task.input).is_empty() {
            return Ok(task.secrets.clone());
        }
        let run =
            self.runs.get(&task.tenant, &task.run_id).await.map_err(|e| {
                StepError::new("SECRET_BACKEND_ERROR", Category::Transient, true, format!("the run could not be read: {e}"))
            })?;
        let named: Vec<String> = run
            .and_then(|(run, _)| run.plan.step(&task.step_id).cloned())
            .map(|step| {
                let template = match (&step.on_error, task.fallback) {
                    (aos_core::OnError::Fallback { input, .. }, true) => input.clone(),
                    _ => step.input.clone(),
                };
                secret_names(&template)
            })
            .unwrap_or_default();
        Ok(legacy_slots(&task.input, &named))
    }

    async fn load_secrets(&self, tenant: &str, slots: &[SecretSlot]) -> Result<HashMap<String, String>, StepError> {
        let mut out = HashMap::new();
        let mut names: Vec<&str> = slots.iter().flat_map(|s| s.names()).collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            let name = name.to_string();
            match self.secrets.get(tenant, &name).await {
                Ok(Some(v)) => {
                    out.insert(name, v);
                }
                Ok(None) => {
                    return Err(StepError::new("SECRET_NOT_FOUND", Category::Auth, false, format!("secret `{name}` does not exist")))
                }
                Err(e) => {
                    return Err(StepError::new(
                        "SECRET_BACKEND_ERROR",
                        Category::Transient,
                        true,
                        format!("secret `{name}` could not be read: {e}"),
                    ))
                }
            }
        }
        Ok(out)
    }
}

/// Slots for a version-1 task: each string that references one of `named` (the step template's
/// own secrets) is rebuilt with those references only.
fn legacy_slots(input: &Value, named: &[String]) -> Vec<SecretSlot> {
    let empty = HashMap::new();
    let scope = Scope { inputs: &Value::Null, outputs: &empty, secrets: None };
    let Ok(resolved) = aos_core::template::resolve_input(input, &scope) else { return Vec::new() };
    resolved
        .secrets
        .into_iter()
        .map(|mut slot| {
            slot.parts = slot
                .parts
                .into_iter()
                .map(|p| match p {
                    aos_core::template::SlotPart::Secret(n) if !named.contains(&n) => {
                        aos_core::template::SlotPart::Text(format!("{{{{ secrets.{n} }}}}"))
                    }
                    other => other,
                })
                .collect();
            slot
        })
        .collect()
}

/// Masks every secret value the attempt used, in every common encoding, in the outcome (output,
/// error message and details), so records never hold them.
fn redact(mut outcome: Outcome, secrets: &[String]) -> Outcome {
    if secrets.is_empty() {
        return outcome;
    }
    let mask = SecretMask::new(secrets.iter().map(String::as_str));
    match &mut outcome {
        Outcome::Ok { output, .. } => mask.mask_value(output),
        Outcome::Err { error, .. } => {
            if let Some(m) = mask.mask_str(&error.message) {
                error.message = m;
            }
            mask.mask_value(&mut error.details);
        }
    }
    outcome
}
