//! The `skill-fs` Lambda: executes the step attempts of the `fs` skill from its queue (`skill.fs`),
//! on the tenant's prefix of the files bucket (`AOS_FS_BUCKET`); a task for any other skill is refused.

#[tokio::main(flavor = "current_thread")] // one invocation at a time: see aos_lambda's crate docs
async fn main() -> Result<(), aos_lambda::Error> {
    aos_lambda::run(aos_lambda::skill_function!()).await
}
