//! The `authorizer` Lambda: the HTTP API's Lambda authorizer (payload 2.0, simple responses).
//! Verifies the bearer API key or identity-provider token and passes the principal on.

#[tokio::main(flavor = "current_thread")] // one invocation at a time: see aos_lambda's crate docs
async fn main() -> Result<(), aos_lambda::Error> {
    aos_lambda::run(aos_lambda::authorizer::Function).await
}
