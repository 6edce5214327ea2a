//! The `skill-http-call` Lambda: executes the step attempts of the `http_call` skill from its queue
//! (`skill.http_call`); a task for any other skill is refused.

#[tokio::main(flavor = "current_thread")] // one invocation at a time: see aos_lambda's crate docs
async fn main() -> Result<(), aos_lambda::Error> {
    aos_lambda::run(aos_lambda::skill_function!()).await
}
