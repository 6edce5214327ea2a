//! aos-skills: the skills every AOS deployment offers. `json_transform` reshapes data with jq;
//! `http_call` talks to HTTP APIs and refuses internal addresses unless the deployment opens them.

mod budget;
mod config;
pub mod http;
pub mod json_transform;

pub use config::{ConfigError, SkillsConfig};
pub use http::HttpCall;
pub use json_transform::JsonTransform;

use aos_core::outcome::Category;
use aos_core::skill::{FailureMode, SkillRegistry};
use std::sync::Arc;

/// The built-in skills, configured for this deployment.
pub fn builtin_registry(config: &SkillsConfig) -> SkillRegistry {
    let mut registry = SkillRegistry::new();
    registry.register(Arc::new(JsonTransform::new()));
    registry.register(Arc::new(HttpCall::new(config)));
    registry
}

fn mode(code: &str, category: Category, retryable: bool, description: &str) -> FailureMode {
    FailureMode { code: code.into(), category, retryable, description: description.into() }
}
