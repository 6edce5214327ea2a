//! Evidence across runs: a step that failed for good is remembered per plan (or workflow) and
//! step; the next run of the same plan carries that failure (`Run::previous_failures`), and how
//! it then ends the step — with a longer timeout, say — is an observation of the change
//! (`aos_core::evidence::rerun_observations`). Once the step succeeds the failure is marked
//! resolved (compared against no more), and the codes it failed with stay: recovery policies for
//! them apply to the step (`aos_core::policy::compile`).

use crate::keys;
use aos_core::evidence::FailureKey;
use aos_core::failure::{FailureEvent, FailureKind};
use aos_core::plan::Plan;
use aos_core::ports::{Condition, Item, Query, Store, StoreError, WriteOp};
use aos_core::run::{PreviousFailure, Run, RunStatus, StepStatus, WorkflowRef};
use serde_json::json;
use std::collections::BTreeMap;

/// Failure codes remembered per step at most.
const MAX_CODES: usize = 20;

/// What identifies "the same plan" across runs: the workflow's name, else the plan's name.
pub fn plan_identity(plan: &Plan, workflow: Option<&WorkflowRef>) -> String {
    match workflow {
        Some(w) => format!("wf:{}", w.name),
        None => format!("plan:{}", plan.name),
    }
}

/// The remembered failures of the plan's steps (same step id, same skill).
pub async fn previous_failures(
    store: &dyn Store,
    tenant: &str,
    plan: &Plan,
    workflow: Option<&WorkflowRef>,
) -> Result<BTreeMap<String, PreviousFailure>, StoreError> {
    let mut q = Query::partition(keys::last_failures_pk(tenant, &plan_identity(plan, workflow)));
    q.limit = 200;
    let page = store.query(q).await?;
    Ok(page
        .items
        .iter()
        .filter_map(|i| Some((i.sk.clone(), serde_json::from_value::<PreviousFailure>(i.data.clone()).ok()?)))
        .filter(|(id, f)| plan.step(id).is_some_and(|s| s.skill == f.skill))
        .collect())
}

/// The writes that keep the memory current after one advance: each step that failed for good
/// (an attempt's failure with no recovery after it) is remembered with its code added to the
/// step's codes; a remembered step that succeeded is marked resolved (its codes kept). `default_timeout` gives a skill's default timeout.
pub fn ops(run: &Run, events: &[FailureEvent], default_timeout: &dyn Fn(&str) -> u64, keep_days: u32, now_ms: i64) -> Vec<WriteOp> {
    let pk = keys::last_failures_pk(&run.tenant, &plan_identity(&run.plan, run.workflow.as_ref()));
    let mut out = BTreeMap::new();
    for event in events {
        let FailureEvent::Failed(note) = event else { continue };
        let (Some(step_id), None, FailureKind::Attempt) = (&note.step_id, note.recovery, note.kind) else { continue };
        let Some(step) = run.plan.step(step_id) else { continue };
        if run.steps.get(step_id).is_none_or(|s| s.status != StepStatus::Failed) {
            continue;
        }
        let key = FailureKey::of(&note.failure, Some(&step.skill));
        let mut codes = run.previous_failures.get(step_id).map(|p| p.codes.clone()).unwrap_or_default();
        if !codes.contains(&key.code) {
            codes.push(key.code.clone());
            codes.sort();
            codes.truncate(MAX_CODES);
        }
        let remembered = PreviousFailure {
            code: key.code,
            skill: step.skill.clone(),
            timeout_ms: step.timeout_ms.unwrap_or_else(|| default_timeout(&step.skill)),
            run_id: run.run_id.clone(),
            at_ms: note.at_ms,
            codes,
            resolved: false,
        };
        let item = Item::new(&pk, step_id, json!(remembered)).expiring_at(now_ms / 1000 + i64::from(keep_days) * 86_400);
        out.insert(step_id.clone(), WriteOp::Put { item, condition: Condition::Always });
    }
    if run.status != RunStatus::Cancelled {
        for (step_id, prev) in &run.previous_failures {
            if prev.resolved || out.contains_key(step_id) || run.steps.get(step_id).is_none_or(|s| s.status != StepStatus::Succeeded) {
                continue;
            }
            let resolved = PreviousFailure { resolved: true, ..prev.clone() };
            let item = Item::new(&pk, step_id, json!(resolved)).expiring_at(now_ms / 1000 + i64::from(keep_days) * 86_400);
            out.insert(step_id.clone(), WriteOp::Put { item, condition: Condition::Always });
        }
    }
    out.into_values().collect()
}
