//! AWS adapters for the AOS ports: `DynamoStore` (one DynamoDB table), `SqsQueue` (standard SQS
//! queues), `SecretsManagerSecrets` and `DynamoCounters` (metric totals in the same table), plus
//! the settings and SDK wiring a Lambda uses to build them. The first three pass the same
//! conformance suite as the embedded adapters (`aos-store`). The adapters depend on the domain's
//! ports (`aos_core::ports`) only, not on the runtime.

mod counters;
mod dynamo;
mod env_config;
mod http;
mod lazy_client;
mod retries;
mod secrets;
mod settings;
mod sqs;
mod sqs_admin;

pub use counters::DynamoCounters;
pub use dynamo::{create_table, DynamoStore};
pub use env_config::{env_sdk_config, sdk_config_from_lookup};
pub use retries::{describe_metrics, SDK_RETRIES};
pub use secrets::{SecretsManagerSecrets, DEFAULT_CACHE_TTL};
pub use settings::{AwsSettings, DEFAULT_SECRETS_PREFIX};
pub use sqs::SqsQueue;
pub use sqs_admin::{create_queues, sqs_queue_name};

use aos_core::ports::Ports;
use aos_core::skill::SkillRegistry;
pub use aws_types::SdkConfig;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// A variable of the function's environment is missing or cannot be used.
    #[error(transparent)]
    Config(#[from] aos_core::error::ConfigError),
    #[error("{0}")]
    Setup(String),
}

pub use http::https_client;

/// The SDK configuration loader with the crate's HTTPS client and `aws-config`'s default chains
/// (environment, profile files, SSO, web identity, IMDS...): region, credentials and
/// `AWS_ENDPOINT_URL` (for emulators such as moto) come from wherever the machine keeps them
/// unless overridden. For the CLI and tests; the Lambda functions use [`env_sdk_config`], which
/// links none of those chains.
#[cfg(feature = "default-chain")]
pub fn config_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(https_client())
}

/// The SDK configuration through [`config_loader`]'s default chains, loaded once per process and
/// shared by every client.
#[cfg(feature = "default-chain")]
pub async fn sdk_config() -> SdkConfig {
    config_loader().load().await
}

/// The three adapters over one SDK configuration (each client built once, shared by clones, and
/// counting its retries in `aws_sdk_retries_total`).
pub fn ports(config: &SdkConfig, settings: &AwsSettings, skills: Arc<SkillRegistry>) -> Ports {
    ports_with(retries::dynamodb_client(config), config, settings, skills)
}

fn ports_with(dynamo: aws_sdk_dynamodb::Client, config: &SdkConfig, settings: &AwsSettings, skills: Arc<SkillRegistry>) -> Ports {
    let store = DynamoStore::new(dynamo, &settings.table);
    // Built at their first use: many functions never send to SQS or read a secret.
    let queue = SqsQueue::from_config(config, settings.queue_urls.clone());
    let secrets = SecretsManagerSecrets::from_config(config, &settings.secrets_prefix);
    Ports { store: Arc::new(store), queue: Arc::new(queue), secrets: Arc::new(secrets), skills }
}

/// The metric totals in the deployment's table.
pub fn counters(config: &SdkConfig, settings: &AwsSettings) -> DynamoCounters {
    DynamoCounters::new(retries::dynamodb_client(config), &settings.table)
}

/// `AwsSettings::from_env` + `env_sdk_config` + `ports`: what a Lambda's main calls.
pub fn ports_from_env(skills: Arc<SkillRegistry>) -> Result<Ports, AwsError> {
    let settings = AwsSettings::from_env()?;
    Ok(ports(&env_sdk_config()?, &settings, skills))
}

/// `ports_from_env` and the metric totals, over one SDK configuration.
pub fn ports_and_counters_from_env(skills: Arc<SkillRegistry>) -> Result<(Ports, DynamoCounters), AwsError> {
    let settings = AwsSettings::from_env()?;
    let config = env_sdk_config()?;
    // One DynamoDB client (and connection pool) for the runtime's items and the metric totals.
    let dynamo = retries::dynamodb_client(&config);
    let counters = DynamoCounters::new(dynamo.clone(), &settings.table);
    Ok((ports_with(dynamo, &config, &settings, skills), counters))
}

/// `counters` from the environment (`AOS_TABLE` and the Lambda's AWS variables).
pub fn counters_from_env() -> Result<DynamoCounters, AwsError> {
    let settings = AwsSettings::from_env()?;
    Ok(counters(&env_sdk_config()?, &settings))
}
