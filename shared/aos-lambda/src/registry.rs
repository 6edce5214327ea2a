//! The skills registry of each function: every built-in skill is declared (plans are validated and
//! runs orchestrated against all of them), but a function executes at most the one it serves, so
//! only that executor is linked into its binary. `functions/*` pass one of these to
//! [`crate::runtime_from_env`].

use aos_core::skill::SkillRegistry;
use aos_skills::{described_registry, JsonTransform, SkillsConfig};
use std::sync::Arc;

/// The API functions but `api-runs`, the orchestrator and the sweeper: no skill is executed here.
pub fn declared(config: &SkillsConfig) -> SkillRegistry {
    described_registry(config, Vec::new())
}

/// `skill-json-transform`, and `api-runs`, whose replay re-executes pure (`json_transform`) steps.
pub fn json_transform(config: &SkillsConfig) -> SkillRegistry {
    described_registry(config, vec![Arc::new(JsonTransform::new())])
}

/// `skill-http-call` (feature `http-call`).
#[cfg(feature = "http-call")]
pub fn http_call(config: &SkillsConfig) -> SkillRegistry {
    described_registry(config, vec![Arc::new(aos_skills::HttpCall::new(config))])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_declares_every_builtin_skill() {
        let config = SkillsConfig::default();
        let ids = |r: &SkillRegistry| r.specs().iter().map(|s| s.id.clone()).collect::<Vec<_>>();
        let all = vec!["http_call".to_string(), "json_transform".to_string()];
        assert_eq!(ids(&declared(&config)), all);
        assert_eq!(ids(&json_transform(&config)), all);
        #[cfg(feature = "http-call")]
        assert_eq!(ids(&http_call(&config)), all);
    }
}
