//! Queue message bodies. The orchestrator queue carries `Advance`; each skill has a queue
//! `skill.<id>` carrying `StepTask`s. Both are JSON so SQS and the embedded queue carry the same bytes.

use aos_core::engine::{template_error_input, TEMPLATE_ERROR_KEY};
use aos_core::template::{SecretSlot, TemplateError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const ORCHESTRATOR_QUEUE: &str = "orchestrator";

pub fn skill_queue(skill: &str) -> String {
    format!("skill.{skill}")
}

/// The `Advance` format this version writes. Version 1 had no `v` field; its bodies are the
/// same otherwise.
pub const ADVANCE_VERSION: u32 = 1;

/// "Look at this run again": sent on submission, after every outcome, on cancel, and by the sweeper.
/// On the wire it carries its format version `v` ([`ADVANCE_VERSION`]; absent = 1), which the
/// consumers check before handling it (`crate::delivery`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(into = "AdvanceBody", from = "AdvanceBody")]
pub struct Advance {
    pub tenant: String,
    pub run_id: String,
}

impl Advance {
    pub fn new(tenant: &str, run_id: &str) -> Self {
        Self { tenant: tenant.to_string(), run_id: run_id.to_string() }
    }
}

/// `Advance` as written: with its version. (Only one version exists, so the struct itself does
/// not carry it; a version 2 would move `v` into `Advance`, as `StepTask` has it.)
#[derive(Serialize, Deserialize)]
struct AdvanceBody {
    #[serde(default = "version_1")]
    v: u32,
    tenant: String,
    run_id: String,
}

impl From<Advance> for AdvanceBody {
    fn from(a: Advance) -> Self {
        Self { v: ADVANCE_VERSION, tenant: a.tenant, run_id: a.run_id }
    }
}

impl From<AdvanceBody> for Advance {
    fn from(b: AdvanceBody) -> Self {
        Self { tenant: b.tenant, run_id: b.run_id }
    }
}

/// A message format's version, as the consumers check it before parsing the whole body.
pub trait Versioned {
    /// The message kind, for errors (`Advance`, `StepTask`).
    const KIND: &'static str;
    /// The newest format version this release reads (and writes).
    const VERSION: u32;
}

impl Versioned for Advance {
    const KIND: &'static str = "Advance";
    const VERSION: u32 = ADVANCE_VERSION;
}

impl Versioned for StepTask {
    const KIND: &'static str = "StepTask";
    const VERSION: u32 = STEP_TASK_VERSION;
}

/// The `StepTask` format this version writes. Version 1 (no `v` field) had no `secrets` slots:
/// its workers found secret references by scanning the input (see `SkillWorker`). Versions 1 and
/// 2 carried a template error inside the input, as `{"__template_error": message}`; version 3
/// carries it in `template_error`.
pub const STEP_TASK_VERSION: u32 = 3;

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
    /// The resolved input; `null` when `template_error` is set.
    pub input: Value,
    /// Why the attempt's input template did not resolve (version 3): the worker records it as
    /// the attempt's `TEMPLATE_UNRESOLVED` failure without running the skill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_error: Option<String>,
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

impl StepTask {
    /// The `input` and `template_error` fields of a dispatch's input.
    pub fn input_fields(input: Result<Value, TemplateError>) -> (Value, Option<String>) {
        match input {
            Ok(value) => (value, None),
            Err(e) => (Value::Null, Some(e.to_string())),
        }
    }

    /// Why the attempt fails without running its skill, if its template did not resolve: the
    /// `template_error` field, or in a message of version 1 or 2 (written by an earlier release)
    /// an input `{"__template_error": message}`.
    pub fn template_failure(&self) -> Option<&str> {
        match &self.template_error {
            Some(message) => Some(message),
            None if self.v < 3 => self.input.get(TEMPLATE_ERROR_KEY).and_then(Value::as_str),
            None => None,
        }
    }

    /// The input the attempt's record keeps and hashes: the resolved input, or for a template
    /// error the form attempt records have always held (`engine::template_error_input`), so that
    /// runs recorded by any release replay alike.
    pub fn recorded_input(&self) -> Value {
        match &self.template_error {
            Some(message) => template_error_input(message),
            None => self.input.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task(body: Value) -> StepTask {
        let mut m = json!({"tenant": "t", "run_id": "r", "step_id": "a", "attempt": 2, "skill": "s", "fallback": true, "timeout_ms": 10, "seed": 1, "logical_time_ms": 0});
        m.as_object_mut().unwrap().extend(body.as_object().unwrap().clone());
        serde_json::from_value(m).unwrap()
    }

    #[test]
    fn a_template_error_travels_typed_and_is_recorded_as_every_release_recorded_it() {
        let error = TemplateError::Unresolved("inputs.x".into(), "no such input".into());
        let (input, template_error) = StepTask::input_fields(Err(error.clone()));
        let new = task(json!({"v": STEP_TASK_VERSION, "input": input, "template_error": template_error}));
        let body = serde_json::to_value(&new).unwrap();
        assert_eq!((&body["input"], &body["template_error"]), (&Value::Null, &json!(error.to_string())));
        assert_eq!(new.template_failure(), Some(error.to_string().as_str()));
        assert_eq!(new.recorded_input(), json!({"__template_error": error.to_string()}));
        // A message of the previous release: the error inside the input.
        let old = task(json!({"v": 2, "input": {"__template_error": error.to_string()}}));
        assert_eq!(old.template_failure(), Some(error.to_string().as_str()));
        assert_eq!(old.recorded_input(), new.recorded_input(), "the same record, hence the same input hash");
        // From this version on, an input is only an input, whatever its keys.
        let data = task(json!({"v": STEP_TASK_VERSION, "input": {"__template_error": "user data"}}));
        assert_eq!(data.template_failure(), None);
        assert_eq!(data.recorded_input(), json!({"__template_error": "user data"}));
        let ok = task(json!({"v": STEP_TASK_VERSION, "input": {"q": 1}}));
        assert_eq!((ok.template_failure(), ok.recorded_input()), (None, json!({"q": 1})));
        assert!(serde_json::to_value(&ok).unwrap().get("template_error").is_none(), "absent unless set");
    }
}
