//! The skills registry of each function: every built-in skill of `aos_skills::BUILTINS` is
//! declared (plans are validated and runs orchestrated against all of them), but a function
//! executes only what it must, so only those executors are linked into its binary. Each is a
//! constructor for [`crate::runtime_from_env`].

use crate::skill::Executes;
use aos_skills::{described_registry, SkillsConfig, BUILTINS};

pub use aos_core::skill::SkillRegistry;

/// A function's registry, built from the deployment's skills configuration.
pub type Registry = fn(&SkillsConfig) -> SkillRegistry;

/// Functions that execute no skill (the sweeper, most API functions).
pub fn declared(config: &SkillsConfig) -> SkillRegistry {
    described_registry(config, Vec::new())
}

/// An API function whose routers replay runs (`aos_api::routers::Group::replays`), and the
/// orchestrator, which runs pure attempts inline: it executes every replayable (pure,
/// deterministic) skill this build links.
pub fn replaying(config: &SkillsConfig) -> SkillRegistry {
    let executors =
        BUILTINS.iter().filter(|b| (b.declare)(config).replayable()).filter_map(|b| b.executor).map(|build| build(config)).collect();
    described_registry(config, executors)
}

/// A skill function: its own skill, and only that one, executed.
pub fn executing<S: Executes>(config: &SkillsConfig) -> SkillRegistry {
    // `skill_function!` checked at compile time that the executor is linked.
    let executors = S::BUILTIN.executor.map(|build| build(config)).into_iter().collect();
    described_registry(config, executors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aos_skills::Builtin;

    struct Transform;
    impl Executes for Transform {
        const BUILTIN: Builtin = crate::skill::of_package("skill-json-transform");
    }

    fn ids(r: &SkillRegistry) -> Vec<String> {
        r.specs().iter().map(|s| s.id.clone()).collect()
    }

    #[test]
    fn every_function_declares_every_builtin_skill() {
        let config = SkillsConfig::default();
        let mut all: Vec<String> = BUILTINS.iter().map(|b| b.id.to_string()).collect();
        all.sort();
        assert_eq!(ids(&declared(&config)), all);
        assert_eq!(ids(&replaying(&config)), all);
        assert_eq!(ids(&executing::<Transform>(&config)), all);
    }
}
