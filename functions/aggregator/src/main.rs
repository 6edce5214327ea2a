//! The `aggregator` Lambda: invoked nightly (EventBridge), turns the last days' unmatched and
//! low-confidence failures of every tenant into catalog candidates.

#[tokio::main(flavor = "current_thread")] // one invocation at a time: see aos_lambda's crate docs
async fn main() -> Result<(), aos_lambda::Error> {
    aos_lambda::run(aos_lambda::aggregator::Function).await
}
