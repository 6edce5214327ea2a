//! The `api-secrets` Lambda: serves tenant secrets over API Gateway
//! (HTTP API, payload 2.0) with the same axum routers `aos serve` mounts.

#[tokio::main(flavor = "current_thread")] // one invocation at a time: see aos_lambda's crate docs
async fn main() -> Result<(), lambda_http::Error> {
    aos_lambda::init_telemetry();
    let rt = aos_lambda::runtime_from_env(aos_lambda::registry::declared).await?;
    lambda_http::run(aos_lambda::api::app(rt, aos_lambda::api::SECRETS)?).await
}
