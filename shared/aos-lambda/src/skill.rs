//! A skill function: executes the `StepTask`s of one skill's queue through the same `SkillWorker`
//! as `aos serve`, then hands the outcome back through the orchestrator queue. Each skill is its
//! own function so its permissions, memory and timeout fit that skill alone.

use crate::error::RecordError;
use crate::init::InitError;
use crate::sqs::{consume_batch, parse_body};
use aos_runtime::messages::StepTask;
use aos_runtime::worker::Handled;
use aos_runtime::Runtime;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use std::sync::Arc;

/// Fails at start-up when this deployment's registry lacks the skill the function is for.
pub fn require_skill(rt: &Runtime, skill: &str) -> Result<(), InitError> {
    match rt.ports.skills.get(skill) {
        Some(_) => Ok(()),
        None => Err(InitError::UnknownSkill(skill.to_string())),
    }
}

/// The handler `functions/skill-*` hand to the Lambda runtime, `skill` being the function's skill.
pub async fn handle(rt: Arc<Runtime>, skill: &str, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let response = consume_batch(event.payload, |body| execute(&rt, skill, body)).await;
    crate::recorder::flush().await;
    Ok(response)
}

async fn execute(rt: &Runtime, skill: &str, body: String) -> Result<Handled, RecordError> {
    let task: StepTask = parse_body(&body, "StepTask")?;
    let span = tracing::Span::current();
    span.record("tenant", task.tenant.as_str()).record("run_id", task.run_id.as_str());
    span.record("step_id", task.step_id.as_str()).record("attempt", task.attempt);
    if task.skill != skill {
        // A routing mistake in the deployment: this function must not run another skill's
        // attempts (its permissions and limits are not that skill's).
        return Err(RecordError::NonRetryable(format!("a `{}` step task reached the `{skill}` function", task.skill)));
    }
    Ok(rt.worker.execute(&task).await?)
}
