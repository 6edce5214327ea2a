//! Step conditions: user-written jq programs, evaluated in the jq sandbox (a worker process with
//! memory, stack and time limits) and never on the async runtime. The pure engine asks for them
//! (`Decision::conditions`); the orchestrator evaluates them here and advances again with the
//! results, so a program that runs away or aborts costs its own step, not the server.

use aos_core::engine::ConditionRequest;
use aos_core::outcome::{Category, StepError};
use aos_jq::sandbox::{self, EvalLimits};
use aos_jq::JqError;
use serde_json::json;
use std::time::Duration;

/// How long one condition may run: conditions decide whether a step starts, so they must be
/// quick; a program that needs longer belongs in a `json_transform` step.
pub const CONDITION_TIMEOUT: Duration = Duration::from_secs(2);

/// The result of one condition for the engine. `Err(None)`: the sandbox had no worker free in
/// time, which says nothing about the program: the advance is retried later.
pub async fn evaluate(request: &ConditionRequest, tenant: &str) -> Result<Result<bool, StepError>, JqError> {
    let limits = EvalLimits::new(CONDITION_TIMEOUT).with_owner(tenant);
    match sandbox::truthy(&request.expr, &request.context, &limits).await {
        Ok(go) => Ok(Ok(go)),
        Err(e @ JqError::Busy { .. }) => Err(e),
        Err(e) => Ok(Err(condition_error(&request.step_id, &request.expr, e))),
    }
}

fn condition_error(step_id: &str, expr: &str, e: JqError) -> StepError {
    let clipped: String = expr.chars().take(200).collect();
    match e {
        JqError::Limit { kind, .. } => StepError::new(
            "JQ_LIMIT_EXCEEDED",
            Category::Resource,
            false,
            format!("condition of step `{step_id}` stopped: {}", e.message()),
        )
        .with_details(json!({"expr": clipped, "condition": true, "limit": kind.as_str()})),
        other => {
            StepError::new("CONDITION_ERROR", Category::Validation, false, format!("condition of step `{step_id}`: {}", other.message()))
                .with_details(json!({"expr": clipped}))
        }
    }
}
