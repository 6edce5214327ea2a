//! The `skill-email-send` Lambda: executes the step attempts of the `email_send` skill from its
//! queue (`skill.email_send`) over SMTP (e.g. SES's SMTP interface); a task for any other skill is refused.

#[tokio::main(flavor = "current_thread")] // one invocation at a time: see aos_lambda's crate docs
async fn main() -> Result<(), aos_lambda::Error> {
    aos_lambda::run(aos_lambda::skill_function!()).await
}
