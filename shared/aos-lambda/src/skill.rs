//! A skill function (`functions/skill-<id>`): executes the `StepTask`s of one skill's queue
//! through the same `SkillWorker` as `aos serve`, then hands the outcome back through the
//! orchestrator queue. Each skill is its own function so its permissions, memory and timeout fit
//! that skill alone, and its binary links that skill's executor alone. Its `main` is
//! `aos_lambda::run(aos_lambda::skill_function!())`: the skill is the one of `aos_skills::BUILTINS`
//! its package is named after.

use crate::init::InitError;
use crate::sqs::consume_batch;
use aos_runtime::Runtime;
use aos_skills::{Builtin, BUILTINS};
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use std::marker::PhantomData;
use std::sync::Arc;

/// The skill function of the calling crate (`skill-<id>`, underscores of the id as dashes),
/// resolved at compile time: a package named after no built-in skill, or a build that does not
/// link the skill's executor (its cargo feature of `aos-skills` is off), does not compile.
#[macro_export]
macro_rules! skill_function {
    () => {{
        const BUILTIN: $crate::aos_skills::Builtin = $crate::skill::of_package(env!("CARGO_PKG_NAME"));
        const _: () = assert!(
            BUILTIN.executor.is_some(),
            "this build does not link the skill's executor: enable its cargo feature of aos-skills in this function's Cargo.toml"
        );
        struct ThisSkill;
        impl $crate::skill::Executes for ThisSkill {
            const BUILTIN: $crate::aos_skills::Builtin = BUILTIN;
        }
        $crate::skill::Function::<ThisSkill>::new(env!("CARGO_PKG_NAME"))
    }};
}

/// The skill a skill function executes, named by a type so that its registry constructor
/// ([`crate::registry::executing`]) links that executor alone.
pub trait Executes: 'static {
    const BUILTIN: Builtin;
}

/// The built-in skill of the skill function `package`, by value (a copy of its entry, so that
/// a `const` of it references no other skill's executor).
pub const fn of_package(package: &str) -> Builtin {
    let mut i = 0;
    while i < BUILTINS.len() {
        if is_function_of(package.as_bytes(), BUILTINS[i].id.as_bytes()) {
            return BUILTINS[i];
        }
        i += 1;
    }
    panic!("this skill function is named after no skill of aos_skills::BUILTINS: its package must be `skill-<id>` with the id's underscores as dashes")
}

/// `package` is `skill-` and `id` with `_` written `-`.
const fn is_function_of(package: &[u8], id: &[u8]) -> bool {
    let prefix = b"skill-";
    if package.len() != prefix.len() + id.len() {
        return false;
    }
    let mut i = 0;
    while i < package.len() {
        let want = if i < prefix.len() {
            prefix[i]
        } else if id[i - prefix.len()] == b'_' {
            b'-'
        } else {
            id[i - prefix.len()]
        };
        if package[i] != want {
            return false;
        }
        i += 1;
    }
    true
}

/// The skill function `functions/skill-<id>` runs (made by [`skill_function!`]).
pub struct Function<S> {
    package: &'static str,
    skill: PhantomData<S>,
}

impl<S: Executes> Function<S> {
    pub fn new(package: &'static str) -> Self {
        Self { package, skill: PhantomData }
    }
}

impl<S: Executes> crate::Function for Function<S> {
    type Handler = Handler;

    fn name(&self) -> &'static str {
        self.package
    }

    async fn init(self) -> Result<Handler, crate::Error> {
        let rt = crate::runtime_from_env(crate::registry::executing::<S>).await?;
        require_skill(&rt, S::BUILTIN.id)?;
        Ok(Handler { rt, skill: S::BUILTIN.id })
    }
}

/// Executes one skill's step tasks.
pub struct Handler {
    pub rt: Arc<Runtime>,
    pub skill: &'static str,
}

impl crate::Handler for Handler {
    type Event = SqsEvent;
    type Response = SqsBatchResponse;

    async fn handle(&self, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, crate::Error> {
        handle(self.rt.clone(), self.skill, event).await
    }
}

/// Fails at start-up when this deployment's registry lacks the skill the function is for.
pub fn require_skill(rt: &Runtime, skill: &str) -> Result<(), InitError> {
    if rt.has_skill(skill) {
        Ok(())
    } else {
        Err(InitError::UnknownSkill(skill.to_string()))
    }
}

/// One batch of `skill`'s step tasks, each record on its own (`Runtime::handle_step_task`, as in
/// `aos serve`'s consumers: a task of another skill is a routing mistake of the deployment, and is
/// dropped, since this function's permissions and limits are not that skill's).
pub async fn handle(rt: Arc<Runtime>, skill: &str, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let rt = &rt;
    Ok(consume_batch(event.payload, |body| async move { rt.handle_step_task(&body, skill).await }).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skill_functions_are_named_after_their_skill() {
        assert!(is_function_of(b"skill-http-call", b"http_call"));
        assert!(!is_function_of(b"skill-http_call", b"http_call"));
        assert!(!is_function_of(b"http-call", b"http_call"));
        assert!(!is_function_of(b"skill-http-calls", b"http_call"));
        assert_eq!(of_package("skill-json-transform").id, "json_transform");
    }
}
