//! The `skill-slack-send` Lambda: executes the step attempts of the `slack_send` skill from its
//! queue (`skill.slack_send`), posting with the tenant's webhook URL or bot token; a task for any other skill is refused.

#[tokio::main(flavor = "current_thread")] // one invocation at a time: see aos_lambda's crate docs
async fn main() -> Result<(), aos_lambda::Error> {
    aos_lambda::run(aos_lambda::skill_function!()).await
}
