//! Runs: the execution context of one plan — status, per-step state, attempt records, cost, trace.

use crate::failure::FailureMatch;
use crate::outcome::{Outcome, StepError};
use crate::plan::Plan;
use crate::policy::AppliedPolicy;
use crate::trace::TraceEntry;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub fn is_terminal(self) -> bool {
        matches!(self, RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Queued, Self::Running, Self::Succeeded, Self::Failed, Self::Cancelled].into_iter().find(|v| v.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Waiting for upstream steps.
    Pending,
    /// Dispatched to a skill worker (possibly delayed by a retry backoff).
    Running,
    Succeeded,
    Failed,
    Skipped,
    Cancelled,
}

impl StepStatus {
    pub fn is_terminal(self) -> bool {
        !matches!(self, StepStatus::Pending | StepStatus::Running)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct StepState {
    pub status: StepStatus,
    /// The current (or last) attempt number, 0 before the first dispatch.
    pub attempt: u32,
    /// The skill of the current attempt (the fallback skill once falling back).
    pub skill: String,
    pub fallback: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatched_at_ms: Option<i64>,
    /// Not before this time (retry backoff).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<String>,
    /// The final error of a failed step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<StepError>,
}

impl StepState {
    pub fn pending(skill: &str) -> Self {
        Self {
            status: StepStatus::Pending,
            attempt: 0,
            skill: skill.to_string(),
            fallback: false,
            dispatched_at_ms: None,
            due_at_ms: None,
            skip_reason: None,
            error: None,
        }
    }
}

/// A saved workflow a run was started from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct WorkflowRef {
    pub name: String,
    pub version: u32,
}

/// The run record (without its attempts, which are stored as items of their own).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Run {
    pub run_id: String,
    #[serde(skip_serializing)]
    #[serde(default)]
    #[schema(ignore)]
    pub tenant: String,
    pub plan: Plan,
    #[schema(value_type = Object)]
    pub inputs: Value,
    /// The run's seed; skills' randomness and backoff jitter derive from it. Below 2^53.
    pub seed: u64,
    pub status: RunStatus,
    pub created_at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<WorkflowRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    pub steps: BTreeMap<String, StepState>,
    pub cost_usd: f64,
    /// The run-level failure (the failing step's error, a budget breach, or cancellation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<StepError>,
    /// The failure catalog's classification of `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureMatch>,
    #[serde(default)]
    #[schema(required = true)]
    pub cancel_requested: bool,
    /// The hashed trace, fixed when the run finishes.
    #[serde(default)]
    #[schema(required = true)]
    pub trace: Vec<TraceEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_root: Option<String>,
    /// Restarts that began advancing this run and did not finish (the server stopped meanwhile);
    /// at three the run is failed as poisoned instead of being advanced again.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub recoveries: u32,
    /// The last final failure of each step of this plan (or workflow) in earlier runs of the
    /// tenant, with every code the step failed with: when it has not succeeded since, how this
    /// run ends the step is evidence about what changed (a longer timeout); recovery policies for
    /// those codes apply to the step. Fixed at submission.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub previous_failures: BTreeMap<String, PreviousFailure>,
    /// The tenant's recovery policies compiled into `plan` at submission: each step field set and
    /// the value it replaced (`plan` is the compiled plan; reverting these gives the submitted one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applied_policies: Vec<AppliedPolicy>,
    /// What shadow policies (automatic approval in `shadow` mode) would have changed; not applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shadow_policies: Vec<AppliedPolicy>,
    /// The run this one reruns (`POST /api/v1/runs/{id}/rerun`): the same plan and inputs, run again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerun_of: Option<String>,
    /// The run this one redrives (`POST /api/v1/runs/{id}/redrive`): the steps in `seeded_steps`
    /// kept that run's recorded attempts and were not executed again; the others started afresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redrive_of: Option<String>,
    /// The steps of a redriven run whose attempts were copied from the redriven run (see
    /// [`AttemptRecord::seeded_from`]): succeeded from the start, never dispatched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seeded_steps: Vec<String>,
    /// The steps a redrive changed (its `patch`), in plan order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patched_steps: Vec<String>,
}

/// A step's failure in an earlier run (see [`Run::previous_failures`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct PreviousFailure {
    /// The failure's evidence code: the catalog entry's code, or `sig:<signature>`.
    pub code: String,
    pub skill: String,
    /// The per-attempt timeout the step had then.
    pub timeout_ms: u64,
    pub run_id: String,
    pub at_ms: i64,
    /// Every failure code this step has failed with for good in runs of the plan (recovery
    /// policies for those codes apply to the step).
    #[serde(default)]
    pub codes: Vec<String>,
    /// The step has succeeded since: the failure is history, not a change to compare against.
    #[serde(default)]
    pub resolved: bool,
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

/// One attempt of one step: input, outcome, cost and timing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct AttemptRecord {
    pub step_id: String,
    pub attempt: u32,
    pub skill: String,
    pub fallback: bool,
    /// The resolved input, with secret references left as written (secret values are never stored).
    pub input: Value,
    pub input_hash: String,
    pub output_hash: String,
    pub outcome: Outcome,
    pub started_at_ms: i64,
    pub finished_at_ms: i64,
    pub duration_ms: u64,
    pub cost_usd: f64,
    /// The failure catalog's classification of a failed outcome (set by the skill worker). Not
    /// part of the trace: replay and verification ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureMatch>,
    /// Bytes of the serialized outcome, counted against the run's output limit (0 in records
    /// written before the limit existed). Not part of the trace.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub output_bytes: u64,
    /// Set on an attempt a redrive copied from an earlier run: the run that executed it. Its
    /// outcome is that run's record; it was not executed again, its cost is not counted again,
    /// and replay feeds its recorded outcome. Not part of the trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seeded_from: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl AttemptRecord {
    pub fn trace_entry(&self) -> TraceEntry {
        TraceEntry {
            step_id: self.step_id.clone(),
            attempt: self.attempt,
            skill: self.skill.clone(),
            input_hash: self.input_hash.clone(),
            output_hash: self.output_hash.clone(),
            ok: self.outcome.is_ok(),
        }
    }
}
