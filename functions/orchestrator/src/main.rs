//! The `orchestrator` Lambda: consumes the orchestrator queue (`Advance` messages) and reports
//! per-record failures so SQS redelivers only those.

#[tokio::main(flavor = "current_thread")] // one invocation at a time: see aos_lambda's crate docs
async fn main() -> Result<(), aos_lambda::Error> {
    aos_lambda::run(aos_lambda::orchestrator::Function).await
}
