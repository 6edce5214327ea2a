//! Rerun and redrive: a new run from a finished one. A rerun runs the same plan and inputs again
//! from the start. A redrive (as Step Functions' redrive and Temporal's reset do) keeps what the
//! earlier run's succeeded steps recorded — their attempts are copied into the new run, which
//! starts with those steps succeeded and never executes them again, so their side effects happen
//! once — and restarts every other step, optionally with some of them patched.

use super::runs::NewRun;
use super::{Runtime, Submitted};
use aos_core::plan::Step;
use aos_core::policy::{submitted_plan, AppliedPolicy};
use aos_core::run::{AttemptRecord, RunStatus, StepState, StepStatus};
use aos_core::{DomainError, FieldError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet};
use utoipa::ToSchema;

/// A redrive's patch may hold at most this many bytes of JSON.
pub const MAX_PATCH_BYTES: usize = 256 * 1024;

/// The step fields a redrive may patch (everything but `id`).
const PATCHABLE: [&str; 7] = ["skill", "input", "depends_on", "condition", "on_error", "retry", "timeout_ms"];

/// `POST /api/v1/runs/{id}/rerun`. Every field is optional; an empty body is `{}`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RerunRequest {
    /// The same key returns the same new run instead of starting a second one (scoped to the
    /// run being rerun).
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// The new run's seed (below 2^53); a fresh random one when absent. Give the earlier run's
    /// `seed` to repeat its randomness too.
    #[serde(default)]
    pub seed: Option<u64>,
}

/// `POST /api/v1/runs/{id}/redrive`. Every field is optional; an empty body is `{}`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedriveRequest {
    /// Step fields to change before the restart, by step id: each member of a step's object
    /// replaces that field of the step (`null` removes it); any field but `id` (`input`, `retry`,
    /// `timeout_ms`, `skill`, `on_error`, `condition`, `depends_on`). Only steps the redrive
    /// restarts may be patched, not the succeeded ones it keeps.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub patch: BTreeMap<String, Value>,
    /// The same key returns the same new run instead of starting a second one (scoped to the
    /// run being redriven).
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// What a redrive keeps of the run it redrives.
pub(super) struct Seeds {
    /// The redriven run.
    pub of: String,
    /// The succeeded steps, in plan order.
    pub kept: Vec<KeptStep>,
    /// Their attempts, each marked with the run that executed it.
    pub attempts: Vec<AttemptRecord>,
    /// The steps the patch changed, in plan order.
    pub patched: Vec<String>,
}

/// A succeeded step a redrive keeps: as it ran (the compiled step, whatever policies are in
/// force now), its final state, and the policies that had changed it.
pub(super) struct KeptStep {
    pub step: Step,
    pub state: StepState,
    pub applied: Vec<AppliedPolicy>,
}

fn patch_error(code: &str, message: String, step_id: &str, field: String) -> DomainError {
    let mut e = FieldError::new(code, message).field(field);
    e.step_id = Some(step_id.to_string());
    DomainError::invalid(e)
}

/// `step` with `fields` applied: each member replaces the field (`null` removes it).
fn patched_step(step: &Step, fields: &Value) -> Result<Step, DomainError> {
    let id = step.id.as_str();
    let Value::Object(fields) = fields else {
        return Err(patch_error(
            "INVALID_FIELD",
            format!("the patch of step `{id}` must be an object of step fields"),
            id,
            format!("patch.{id}"),
        ));
    };
    if let Some(name) = fields.keys().find(|k| !PATCHABLE.contains(&k.as_str())) {
        let message = if name == "id" {
            format!("a step's `id` cannot be patched (step `{id}`)")
        } else {
            format!("`{name}` is not a step field; patchable fields: {}", PATCHABLE.join(", "))
        };
        return Err(patch_error("PATCH_UNKNOWN_FIELD", message, id, format!("patch.{id}.{name}")));
    }
    let mut doc = match serde_json::to_value(step) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    for (name, value) in fields {
        match value {
            Value::Null => doc.remove(name),
            v => doc.insert(name.clone(), v.clone()),
        };
    }
    serde_json::from_value(Value::Object(doc))
        .map_err(|e| patch_error("INVALID_FIELD", format!("the patched step `{id}` is not a valid step: {e}"), id, format!("patch.{id}")))
}

impl Runtime {
    /// Starts a new run of a run's plan (as submitted, before recovery policies compiled into
    /// it) and inputs, linked to it by `rerun_of`. Any run can be rerun, finished or not.
    pub async fn rerun(&self, tenant: &str, run_id: &str, req: RerunRequest) -> Result<Submitted, DomainError> {
        let (run, _) = self.runs.get(tenant, run_id).await?.ok_or_else(|| DomainError::NotFound(format!("run {run_id}")))?;
        let plan = submitted_plan(&run.plan, &run.applied_policies);
        self.check_submission(tenant, &plan, &run.inputs, req.idempotency_key.as_deref(), req.seed).await?;
        let new = NewRun {
            plan,
            workflow: run.workflow,
            inputs: run.inputs,
            idempotency_key: req.idempotency_key,
            seed: req.seed,
            rerun_of: Some(run.run_id),
            redrive: None,
        };
        self.start_run(tenant, new).await
    }

    /// Redrives a failed or cancelled run: a new run, linked by `redrive_of`, with the same
    /// inputs and seed, in which the succeeded steps keep their recorded attempts (never executed
    /// again) and every other step starts afresh, patched as `req.patch` says.
    pub async fn redrive(&self, tenant: &str, run_id: &str, req: RedriveRequest) -> Result<Submitted, DomainError> {
        let loaded = self.runs.load(tenant, run_id).await?.ok_or_else(|| DomainError::NotFound(format!("run {run_id}")))?;
        let run = loaded.run;
        match run.status {
            RunStatus::Queued | RunStatus::Running => {
                return Err(DomainError::InvalidState {
                    code: "RUN_NOT_FINISHED",
                    message: format!(
                        "run {run_id} has not finished ({}); only a failed or cancelled run can be redriven",
                        run.status.as_str()
                    ),
                })
            }
            RunStatus::Succeeded => {
                return Err(DomainError::InvalidState {
                    code: "RUN_SUCCEEDED",
                    message: format!("run {run_id} succeeded: there is nothing to redrive (rerun it to run it again)"),
                })
            }
            RunStatus::Failed | RunStatus::Cancelled => {}
        }
        let patch_bytes = serde_json::to_vec(&req.patch).map(|b| b.len()).unwrap_or(usize::MAX);
        if patch_bytes > MAX_PATCH_BYTES {
            return Err(DomainError::invalid(
                FieldError::new("PATCH_TOO_LARGE", format!("the patch has {patch_bytes} bytes of JSON, more than {MAX_PATCH_BYTES}"))
                    .field("patch"),
            ));
        }
        let kept: HashSet<&str> =
            run.steps.iter().filter(|(_, st)| st.status == StepStatus::Succeeded).map(|(id, _)| id.as_str()).collect();
        let mut plan = submitted_plan(&run.plan, &run.applied_policies);
        let mut patched = Vec::new();
        for (id, fields) in &req.patch {
            let Some(i) = plan.steps.iter().position(|s| &s.id == id) else {
                let id_shown: String = id.chars().take(100).collect();
                return Err(patch_error(
                    "PATCH_UNKNOWN_STEP",
                    format!("the run's plan has no step `{id_shown}`"),
                    &id_shown,
                    format!("patch.{id_shown}"),
                ));
            };
            if kept.contains(id.as_str()) {
                return Err(patch_error(
                    "PATCH_STEP_SUCCEEDED",
                    format!("step `{id}` succeeded in run {run_id}: a redrive keeps its recorded outputs and does not run it again, so it cannot be patched"),
                    id,
                    format!("patch.{id}"),
                ));
            }
            plan.steps[i] = patched_step(&plan.steps[i], fields)?;
            patched.push(i);
        }
        patched.sort_unstable();
        let patched: Vec<String> = patched.into_iter().map(|i| plan.steps[i].id.clone()).collect();
        self.check_submission(tenant, &plan, &run.inputs, req.idempotency_key.as_deref(), None).await?;
        // The kept steps as they ran, in plan order, with their state and every attempt up to
        // their final one (an attempt copied before keeps the run that executed it).
        let kept_steps: Vec<KeptStep> = run
            .plan
            .steps
            .iter()
            .filter(|s| kept.contains(s.id.as_str()))
            .map(|s| KeptStep {
                step: s.clone(),
                state: run.steps[&s.id].clone(),
                applied: run.applied_policies.iter().filter(|a| a.step_id == s.id).cloned().collect(),
            })
            .collect();
        let attempts: Vec<AttemptRecord> = loaded
            .attempts
            .into_iter()
            .filter(|a| kept.contains(a.step_id.as_str()) && a.attempt <= run.steps[&a.step_id].attempt)
            .map(|mut a| {
                a.seeded_from = a.seeded_from.or_else(|| Some(run.run_id.clone()));
                a
            })
            .collect();
        let seeds = Seeds { of: run.run_id.clone(), kept: kept_steps, attempts, patched };
        let new = NewRun {
            plan,
            workflow: run.workflow,
            inputs: run.inputs,
            idempotency_key: req.idempotency_key,
            seed: Some(run.seed),
            rerun_of: None,
            redrive: Some(seeds),
        };
        self.start_run(tenant, new).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn step() -> Step {
        serde_json::from_value(json!({"id": "a", "skill": "http_call", "input": {"url": "https://x/"}, "timeout_ms": 1000})).unwrap()
    }

    #[test]
    fn a_patch_replaces_fields_removes_nulls_and_refuses_the_rest() {
        let s = patched_step(&step(), &json!({"timeout_ms": 5000, "retry": {"max_attempts": 2}})).unwrap();
        assert_eq!((s.timeout_ms, s.retry.map(|r| r.max_attempts)), (Some(5000), Some(2)));
        assert_eq!(patched_step(&step(), &json!({"timeout_ms": null})).unwrap().timeout_ms, None);
        let field = |r: Result<Step, DomainError>| match r {
            Err(DomainError::Invalid(e)) => (e[0].code.clone(), e[0].field.clone().unwrap_or_default()),
            other => panic!("{other:?}"),
        };
        assert_eq!(field(patched_step(&step(), &json!({"id": "b"}))), ("PATCH_UNKNOWN_FIELD".into(), "patch.a.id".into()));
        assert_eq!(field(patched_step(&step(), &json!({"bogus": 1}))), ("PATCH_UNKNOWN_FIELD".into(), "patch.a.bogus".into()));
        assert_eq!(field(patched_step(&step(), &json!([1]))), ("INVALID_FIELD".into(), "patch.a".into()));
        assert_eq!(field(patched_step(&step(), &json!({"timeout_ms": "soon"}))), ("INVALID_FIELD".into(), "patch.a".into()));
    }
}
