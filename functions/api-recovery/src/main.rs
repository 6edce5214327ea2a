//! The `api-recovery` Lambda: recovery suggestions and the review of recovery candidates over API
//! Gateway (HTTP API, payload 2.0) with the routers `aos serve` mounts.

#[tokio::main(flavor = "current_thread")] // one invocation at a time: see aos_lambda's crate docs
async fn main() -> Result<(), aos_lambda::Error> {
    aos_lambda::run(aos_lambda::api_function!()).await
}
