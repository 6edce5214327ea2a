//! The `skill-json-transform` Lambda: executes the step attempts of the `json_transform` skill
//! from its queue (`skill.json_transform`); a task for any other skill is refused.

use lambda_runtime::{service_fn, LambdaEvent};

const SKILL: &str = "json_transform";

#[tokio::main(flavor = "current_thread")] // one invocation at a time: see aos_lambda's crate docs
async fn main() -> Result<(), lambda_runtime::Error> {
    aos_lambda::init_telemetry();
    let rt = aos_lambda::runtime_from_env(aos_lambda::registry::json_transform).await?;
    aos_lambda::skill::require_skill(&rt, SKILL)?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| aos_lambda::skill::handle(rt.clone(), SKILL, event))).await
}
