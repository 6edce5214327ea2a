//! Building the runtime once per execution environment (at cold start): the skills registry, the
//! AWS SDK clients and the ports, reused by every invocation that environment serves.

use aos_core::ports::MetricStore;
use aos_core::skill::SkillRegistry;
use aos_runtime::{Ports, Runtime, RuntimeBuilder, RuntimeSettings, Topology};
use aos_skills::SkillsConfig;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("skills configuration: {0}")]
    Skills(#[from] aos_skills::ConfigError),
    #[error("AWS adapters: {0}")]
    Aws(#[from] aos_aws::AwsError),
    #[error("this deployment offers no skill `{0}`")]
    UnknownSkill(String),
    #[error("{0}")]
    Config(String),
    #[error("runtime settings: {0}")]
    Settings(#[from] aos_runtime::ConfigError),
}

/// The runtime over the AWS adapters configured by the environment (`AOS_TABLE`,
/// `AOS_QUEUE_URLS`, `AOS_SECRETS_PREFIX`, the `AOS_HTTP_*` skill settings, the runtime's
/// settings (`RuntimeSettings::from_env`: retention, output limits, aggregation) and the usual AWS
/// variables), read once here. `skills` is one of
/// [`crate::registry`]'s constructors: which skills this function executes (the others are only
/// declared, and their executors are not linked into it). Installs the process's metrics recorder
/// too: EMF lines on stdout, totals in the table's metric items.
pub async fn runtime_from_env(skills: fn(&SkillsConfig) -> SkillRegistry) -> Result<Arc<Runtime>, InitError> {
    let skills = Arc::new(skills(&SkillsConfig::from_env()?));
    let settings = RuntimeSettings::from_env()?;
    let (ports, counters) = aos_aws::ports_and_counters_from_env(skills)?;
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok();
    crate::recorder::install(Some(Arc::new(counters)), Box::new(std::io::stdout()), function)
        .map_err(|e| InitError::Config(e.to_string()))?;
    Ok(Arc::new(runtime_with_settings(ports, settings)))
}

/// The metric totals the `api-metrics` function renders (`AOS_TABLE`).
pub async fn metric_store_from_env() -> Result<Arc<dyn MetricStore>, InitError> {
    Ok(Arc::new(aos_aws::counters_from_env()?))
}

/// The runtime as every function builds it, over the given ports, with the default settings.
pub fn runtime_with(ports: Ports) -> Runtime {
    runtime_with_settings(ports, RuntimeSettings::default())
}

/// The runtime as every function builds it: many execution environments run side by side, so
/// claims are leases (a claim is dead only once its lease passes), workers hand outcomes to the
/// orchestrator through its queue, and long polls answer by 25 s behind API Gateway's 30 s
/// ([`Topology::Distributed`]).
pub fn runtime_with_settings(ports: Ports, settings: RuntimeSettings) -> Runtime {
    runtime_builder(ports).settings(settings).build()
}

/// The builder behind [`runtime_with_settings`], for tests that change one more thing (a clock,
/// the long-poll timing).
pub fn runtime_builder(ports: Ports) -> RuntimeBuilder {
    Runtime::builder(ports, Topology::Distributed).owner(owner_id())
}

/// Names this execution environment in the claims it takes, for diagnosing interrupted attempts.
fn owner_id() -> String {
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "aos-lambda".into());
    format!("{function}-{}", uuid::Uuid::new_v4().simple())
}
