//! Queue message bodies. The orchestrator queue carries `Advance`; each skill has a queue
//! `skill.<id>` carrying `StepTask`s. Both are JSON so SQS and the embedded queue carry the same bytes.

use aos_core::template::SecretSlot;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const ORCHESTRATOR_QUEUE: &str = "orchestrator";

pub fn skill_queue(skill: &str) -> String {
    format!("skill.{skill}")
}

/// "Look at this run again": sent on submission, after every outcome, on cancel, and by the sweeper.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Advance {
    pub tenant: String,
    pub run_id: String,
}

/// The `StepTask` format this version writes. Version 1 (no `v` field) had no `secrets` slots:
/// its workers found secret references by scanning the input (see `SkillWorker`).
pub const STEP_TASK_VERSION: u32 = 2;

fn version_1() -> u32 {
    1
}

/// One step attempt for a skill worker. Secret references in `input` are still unresolved; the
/// worker fills in exactly the strings `secrets` names (computed from the plan's template).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepTask {
    /// Message format version ([`STEP_TASK_VERSION`]; absent in version 1).
    #[serde(default = "version_1")]
    pub v: u32,
    pub tenant: String,
    pub run_id: String,
    pub step_id: String,
    pub attempt: u32,
    pub skill: String,
    pub fallback: bool,
    pub input: Value,
    pub timeout_ms: u64,
    pub seed: u64,
    pub logical_time_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_limit_usd: Option<f64>,
    /// Where the plan's template puts secret values (version 2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretSlot>,
    /// The most bytes the attempt's outcome may take (the step cap, or what is left of the run's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_bytes: Option<u64>,
}
