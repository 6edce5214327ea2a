//! The `orchestrator` Lambda: consumes the orchestrator queue (`Advance` messages) and reports
//! per-record failures so SQS redelivers only those.

use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main(flavor = "current_thread")] // one invocation at a time: see aos_lambda's crate docs
async fn main() -> Result<(), lambda_runtime::Error> {
    aos_lambda::init_telemetry();
    let rt = aos_lambda::runtime_from_env(aos_lambda::registry::declared).await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| aos_lambda::orchestrator::handle(rt.clone(), event))).await
}
