//! aos-skills: the skills every AOS deployment offers. `json_transform` reshapes data with jq;
//! `http_call` talks to HTTP APIs and refuses internal addresses unless the deployment opens them.

//!
//! The feature `http` (default) builds `http_call`'s executor (reqwest, rustls). Without it the
//! skill is still declared ([`http_spec`]), which is all a process that never runs it needs (the
//! serverless API and orchestrator functions).

mod budget;
mod config;
#[cfg(feature = "http")]
pub mod http;
pub mod http_spec;
pub mod json_transform;

pub use config::{ConfigError, SkillsConfig};
#[cfg(feature = "http")]
pub use http::HttpCall;
pub use json_transform::JsonTransform;

use aos_core::outcome::{Category, StepError};
use aos_core::skill::{FailureMode, Skill, SkillContext, SkillOutput, SkillRegistry, SkillSpec};
use async_trait::async_trait;
use serde_json::Value;
use std::sync::Arc;

/// The built-in skills, configured for this deployment, all executed by this process.
#[cfg(feature = "http")]
pub fn builtin_registry(config: &SkillsConfig) -> SkillRegistry {
    let mut registry = SkillRegistry::new();
    registry.register(Arc::new(JsonTransform::new()));
    registry.register(Arc::new(HttpCall::new(config)));
    registry
}

/// The built-in skills as declarations, except `executors`, which replace their declaration (a
/// serverless function executes one skill, or none, but validates plans against all of them).
/// Only the executors given are linked into the program that calls this.
pub fn described_registry(config: &SkillsConfig, executors: Vec<Arc<dyn Skill>>) -> SkillRegistry {
    let mut registry = SkillRegistry::new();
    registry.register(Arc::new(Described(json_transform::spec())));
    registry.register(Arc::new(Described(http_spec::spec(config.http_default_timeout_ms))));
    for skill in executors {
        registry.register(skill);
    }
    registry
}

/// A skill this process declares but does not execute.
struct Described(SkillSpec);

#[async_trait]
impl Skill for Described {
    fn spec(&self) -> &SkillSpec {
        &self.0
    }

    async fn execute(&self, _ctx: &SkillContext, _input: Value) -> Result<SkillOutput, StepError> {
        Err(StepError::new(
            "SKILL_NOT_EXECUTED_HERE",
            Category::Permanent,
            false,
            format!("skill `{}` is declared but not executed by this process", self.0.id),
        ))
    }
}

fn mode(code: &str, category: Category, retryable: bool, description: &str) -> FailureMode {
    FailureMode { code: code.into(), category, retryable, description: description.into() }
}
