//! The `aggregator` Lambda: invoked nightly (EventBridge), turns the last days' unmatched and
//! low-confidence failures of every tenant into catalog candidates.

use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main(flavor = "current_thread")] // one invocation at a time: see aos_lambda's crate docs
async fn main() -> Result<(), lambda_runtime::Error> {
    aos_lambda::init_telemetry();
    let rt = aos_lambda::runtime_from_env(aos_lambda::registry::declared).await?;
    let opts = aos_lambda::aggregator::options_from_env()?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| aos_lambda::aggregator::handle(rt.clone(), opts, event))).await
}
