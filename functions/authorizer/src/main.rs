//! The `authorizer` Lambda: the HTTP API's Lambda authorizer (payload 2.0, simple responses).
//! Verifies the bearer API key or identity-provider token with the API's own verification code
//! and passes the principal (tenant, role, ...) to the API functions as the authorizer context.

use lambda_runtime::{service_fn, LambdaEvent};
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")] // one invocation at a time: see aos_lambda's crate docs
async fn main() -> Result<(), lambda_runtime::Error> {
    aos_lambda::init_telemetry();
    let rt = aos_lambda::runtime_from_env(aos_lambda::registry::declared).await?;
    let authorizer = Arc::new(aos_lambda::authorizer::Authorizer::from_env(rt)?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| {
        let authorizer = authorizer.clone();
        async move { authorizer.handle(event).await }
    }))
    .await
}
