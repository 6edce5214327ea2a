//! Queue message bodies. The orchestrator queue carries `Advance`; each skill has a queue
//! `skill.<id>` carrying `StepTask`s. Both are JSON so SQS and the embedded queue carry the same bytes.

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

/// One step attempt for a skill worker. Secret references in `input` are still unresolved.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepTask {
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
}
