//! The `sweeper` Lambda: invoked on a schedule (EventBridge), re-advances every unfinished run so
//! lost messages and long budget deadlines are recovered.

use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main(flavor = "current_thread")] // one invocation at a time: see aos_lambda's crate docs
async fn main() -> Result<(), lambda_runtime::Error> {
    aos_lambda::init_telemetry();
    let rt = aos_lambda::runtime_from_env(aos_lambda::registry::declared).await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| aos_lambda::sweeper::handle(rt.clone(), event))).await
}
