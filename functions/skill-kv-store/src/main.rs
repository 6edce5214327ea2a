//! The `skill-kv-store` Lambda: executes the step attempts of the `kv_store` skill from its queue
//! (`skill.kv_store`) over the stack's DynamoDB table; a task for any other skill is refused.

#[tokio::main(flavor = "current_thread")] // one invocation at a time: see aos_lambda's crate docs
async fn main() -> Result<(), aos_lambda::Error> {
    aos_lambda::run(aos_lambda::skill_function!()).await
}
