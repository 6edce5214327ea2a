//! The `skill-webhook-send` Lambda: executes the step attempts of the `webhook_send` skill from its
//! queue (`skill.webhook_send`), signing with the tenant's secret; a task for any other skill is refused.

#[tokio::main(flavor = "current_thread")] // one invocation at a time: see aos_lambda's crate docs
async fn main() -> Result<(), aos_lambda::Error> {
    aos_lambda::run(aos_lambda::skill_function!()).await
}
