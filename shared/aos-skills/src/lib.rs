//! aos-skills: the skills every AOS deployment offers, listed once in [`BUILTINS`].
//! `json_transform` reshapes data with jq; `http_call` talks to HTTP APIs and refuses internal
//! addresses unless the deployment opens them; `kv_store` keeps keys of the tenant in the
//! deployment's store; `webhook_send` sends signed webhooks (Standard Webhooks). Skills that keep
//! data or hold credentials reach them through the attempt's `TenantScope`
//! (`SkillContext::scope`), scoped to the run's tenant by the worker (docs/skills.md).
//! `email_send` sends mail over SMTP; its executor needs the feature `email` (lettre, minijinja).
//! `slack_send` posts to Slack (incoming webhook or chat.postMessage), over `http`'s client.
//! `fs` keeps files of the tenant in a sandbox: a cap-std directory locally, an S3 prefix with the
//! feature `fs-s3`.
//!
//! The feature `http` (default) builds the executors of `http_call` and `webhook_send` (reqwest,
//! rustls, hmac). Without it the skills are still declared ([`http_spec`],
//! [`webhook_send::spec`]), which is all a process that never runs them needs (the serverless API
//! and orchestrator functions).

mod budget;
mod config;
pub mod email_send;
pub mod fs;
#[cfg(feature = "http")]
pub mod http;
pub mod http_spec;
pub mod json_transform;
pub mod kv_store;
pub mod slack_send;
pub mod webhook_send;

pub use config::{ConfigError, SkillsConfig};
#[cfg(feature = "email")]
pub use email_send::EmailSend;
pub use fs::Fs;
#[cfg(feature = "http")]
pub use http::HttpCall;
pub use json_transform::JsonTransform;
pub use kv_store::KvStore;
#[cfg(feature = "http")]
pub use slack_send::SlackSend;
#[cfg(feature = "http")]
pub use webhook_send::WebhookSend;

use aos_core::outcome::{Category, StepError};
use aos_core::skill::{FailureMode, Skill, SkillContext, SkillOutput, SkillRegistry, SkillSpec};
use async_trait::async_trait;
use serde_json::Value;
use std::sync::Arc;

/// Builds a skill's executor from the deployment's configuration.
pub type Executor = fn(&SkillsConfig) -> Arc<dyn Skill>;

/// One built-in skill, as every deployment knows it.
#[derive(Clone, Copy)]
pub struct Builtin {
    /// The skill's id in plans (`skill.<id>` is its queue, `skill-<id with ->` its Lambda function).
    pub id: &'static str,
    /// Its self-description, for a process that declares the skill without executing it.
    pub declare: fn(&SkillsConfig) -> SkillSpec,
    /// Its executor, `None` in a build without the executor's cargo feature.
    pub executor: Option<Executor>,
    /// The memory of its Lambda function, in MB (Lambda gives CPU in proportion).
    pub lambda_memory_mb: u32,
    /// IAM statements its Lambda function needs beyond every skill function's (the attempt items,
    /// the metric totals, the tenant's secrets): YAML list items at the statements' indentation,
    /// written into template.yaml by aos-lambda's deployment test. Empty for most skills.
    pub aws_statements: &'static str,
}

/// `Some(executor)` when the cargo feature `$feature` of this crate is on, else `None`.
macro_rules! with_feature {
    ($feature:literal, $executor:expr) => {{
        #[cfg(feature = $feature)]
        let executor: Option<Executor> = Some($executor);
        #[cfg(not(feature = $feature))]
        let executor: Option<Executor> = None;
        executor
    }};
}

/// Every built-in skill, once: the one list a new skill is added to (docs/contributing.md,
/// "Adding a skill"). Both deployments follow from it: `aos serve`'s registry, queues and
/// consumers ([`builtin_registry`]); on AWS each function's registry, the skill functions
/// (`functions/skill-<id>`), and the skill queues, dead-letter queues, functions, roles, log
/// groups, alarms, queue-URL map and send permissions in template.yaml, which `aos-lambda`'s
/// deployment test generates and checks from this list.
pub const BUILTINS: &[Builtin] = &[
    Builtin {
        id: "json_transform",
        declare: |_| json_transform::spec(),
        executor: Some(|_| Arc::new(JsonTransform::new())),
        // jq runs in sandbox processes with 64 MiB stacks; more memory is also more CPU.
        lambda_memory_mb: 512,
        aws_statements: "",
    },
    Builtin {
        id: "http_call",
        declare: |config| http_spec::spec(config.http_default_timeout_ms),
        executor: with_feature!("http", |config| Arc::new(HttpCall::new(config))),
        lambda_memory_mb: 256,
        aws_statements: "",
    },
    Builtin {
        id: "kv_store",
        declare: |_| kv_store::spec(),
        // Over the deployment's own store (the attempt's TenantScope): no dependency of its own.
        executor: Some(|_| Arc::new(KvStore::new())),
        lambda_memory_mb: 128,
        aws_statements: kv_store::AWS_STATEMENTS,
    },
    Builtin {
        id: "webhook_send",
        declare: |_| webhook_send::spec(),
        executor: with_feature!("http", |config| Arc::new(WebhookSend::new(config))),
        lambda_memory_mb: 256,
        aws_statements: "",
    },
    Builtin {
        id: "email_send",
        declare: |_| email_send::spec(),
        executor: with_feature!("email", |config| Arc::new(EmailSend::new(config))),
        lambda_memory_mb: 256,
        aws_statements: "",
    },
    Builtin {
        id: "slack_send",
        declare: |_| slack_send::spec(),
        executor: with_feature!("http", |config| Arc::new(SlackSend::new(config))),
        lambda_memory_mb: 256,
        // Its sent-markers (a post of a step is not repeated after a lost outcome).
        aws_statements: slack_send::AWS_STATEMENTS,
    },
    Builtin {
        id: "fs",
        declare: |_| fs::spec(),
        // The local backend is always built; the S3 one with `fs-s3` (the Lambda function's).
        executor: Some(|config| Arc::new(Fs::new(config))),
        lambda_memory_mb: 256,
        aws_statements: fs::AWS_STATEMENTS,
    },
];

/// The built-in skill `id`.
pub fn builtin(id: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.id == id)
}

/// Every built-in skill configured for this deployment, executed by this process where this build
/// links its executor (all of them with the default features: `aos serve`), declared otherwise.
pub fn builtin_registry(config: &SkillsConfig) -> SkillRegistry {
    let executors = BUILTINS.iter().filter_map(|b| b.executor).map(|build| build(config)).collect();
    described_registry(config, executors)
}

/// The declarations of [`BUILTINS`] alone, copied at compile time: a program that only declares
/// skills references this array, so no executor is linked into it through the list.
type Declaration = (&'static str, fn(&SkillsConfig) -> SkillSpec);

const DECLARATIONS: [Declaration; BUILTINS.len()] = {
    let mut out = [("", BUILTINS[0].declare); BUILTINS.len()];
    let mut i = 0;
    while i < BUILTINS.len() {
        out[i] = (BUILTINS[i].id, BUILTINS[i].declare);
        i += 1;
    }
    out
};

/// The built-in skills as declarations, except `executors`, which replace their declaration (a
/// serverless function executes one skill, or none, but validates plans against all of them).
/// Only the executors given are linked into the program that calls this.
pub fn described_registry(config: &SkillsConfig, executors: Vec<Arc<dyn Skill>>) -> SkillRegistry {
    let mut registry = SkillRegistry::new();
    for (_, declare) in DECLARATIONS {
        registry.register(Arc::new(Described(declare(config))));
    }
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

    fn executed_here(&self) -> bool {
        false
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_is_listed_once_and_declares_its_own_id() {
        let config = SkillsConfig::default();
        for (i, b) in BUILTINS.iter().enumerate() {
            assert!(BUILTINS[..i].iter().all(|other| other.id != b.id), "`{}` is listed twice in BUILTINS", b.id);
            assert_eq!((b.declare)(&config).id, b.id, "BUILTINS: the declaration of `{}` names another id", b.id);
            assert!(
                b.id.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'),
                "skill ids are snake_case: `{}`",
                b.id
            );
        }
        let declared: Vec<String> = described_registry(&config, Vec::new()).specs().iter().map(|s| s.id.clone()).collect();
        let mut listed: Vec<&str> = BUILTINS.iter().map(|b| b.id).collect();
        listed.sort();
        assert_eq!(declared, listed);
    }

    /// `aos serve` builds this crate with every feature and must execute every skill.
    #[cfg(feature = "http")]
    #[test]
    fn with_every_feature_every_builtin_has_an_executor_of_its_own_id() {
        let config = SkillsConfig::default();
        for b in BUILTINS {
            let executor =
                b.executor.unwrap_or_else(|| panic!("BUILTINS: `{}` has no executor even with every feature of aos-skills on", b.id));
            assert_eq!(executor(&config).spec().id, b.id, "BUILTINS: the executor of `{}` runs another skill", b.id);
        }
    }
}
