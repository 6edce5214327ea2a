//! The `sweeper` Lambda: invoked on a schedule (EventBridge), re-advances every unfinished run so
//! lost messages and long budget deadlines are recovered.

#[tokio::main(flavor = "current_thread")] // one invocation at a time: see aos_lambda's crate docs
async fn main() -> Result<(), aos_lambda::Error> {
    aos_lambda::run(aos_lambda::sweeper::Function).await
}
