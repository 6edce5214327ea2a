//! AWS adapters for the AOS ports: `DynamoStore` (one DynamoDB table), `SqsQueue` (standard SQS
//! queues), `SecretsManagerSecrets` and `DynamoCounters` (metric totals in the same table), plus
//! the settings and SDK wiring a Lambda uses to build them. The first three pass the same
//! conformance suite as the embedded adapters (`aos-store`).

mod counters;
mod dynamo;
mod lazy;
mod secrets;
mod settings;
mod sqs;
mod sqs_admin;

pub use counters::DynamoCounters;
pub use dynamo::{create_table, DynamoStore};
pub use secrets::{SecretsManagerSecrets, DEFAULT_CACHE_TTL};
pub use settings::{AwsSettings, DEFAULT_SECRETS_PREFIX};
pub use sqs::SqsQueue;
pub use sqs_admin::{create_queues, sqs_queue_name};

use aos_core::skill::SkillRegistry;
use aos_runtime::Ports;
use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("environment variable {0} is not set")]
    MissingEnv(&'static str),
    #[error("environment variable {var} is not valid: {reason}")]
    InvalidEnv { var: &'static str, reason: String },
    #[error("{0}")]
    Setup(String),
}

/// The HTTPS client every SDK client uses: hyper 1 with rustls on `ring`, the crypto provider the
/// rest of the workspace (reqwest) already links, so no second TLS stack or aws-lc build. Its
/// connectors are made at the first request ([`lazy::LazyHttpClient`]): making one loads the
/// platform's root certificates, which would otherwise happen while a Lambda initialises.
fn https_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    let client = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    aws_sdk_dynamodb::config::SharedHttpClient::new(lazy::LazyHttpClient(client))
}

/// The SDK configuration loader with the crate's HTTPS client: region, credentials and
/// `AWS_ENDPOINT_URL` (for emulators such as moto) come from the environment unless overridden.
pub fn config_loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).http_client(https_client())
}

/// The SDK configuration from the environment, loaded once per process and shared by every client.
pub async fn sdk_config() -> SdkConfig {
    config_loader().load().await
}

/// The three adapters over one SDK configuration (each client built once, shared by clones).
pub fn ports(config: &SdkConfig, settings: &AwsSettings, skills: Arc<SkillRegistry>) -> Ports {
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(config), &settings.table);
    let queue = SqsQueue::new(aws_sdk_sqs::Client::new(config), settings.queue_urls.clone());
    let secrets = SecretsManagerSecrets::new(aws_sdk_secretsmanager::Client::new(config), &settings.secrets_prefix);
    Ports { store: Arc::new(store), queue: Arc::new(queue), secrets: Arc::new(secrets), skills }
}

/// The metric totals in the deployment's table.
pub fn counters(config: &SdkConfig, settings: &AwsSettings) -> DynamoCounters {
    DynamoCounters::new(aws_sdk_dynamodb::Client::new(config), &settings.table)
}

/// `AwsSettings::from_env` + `sdk_config` + `ports`: what a Lambda's main calls.
pub async fn ports_from_env(skills: Arc<SkillRegistry>) -> Result<Ports, AwsError> {
    let settings = AwsSettings::from_env()?;
    Ok(ports(&sdk_config().await, &settings, skills))
}

/// `ports_from_env` and the metric totals, over one SDK configuration.
pub async fn ports_and_counters_from_env(skills: Arc<SkillRegistry>) -> Result<(Ports, DynamoCounters), AwsError> {
    let settings = AwsSettings::from_env()?;
    let config = sdk_config().await;
    Ok((ports(&config, &settings, skills), counters(&config, &settings)))
}

/// `counters` from the environment (`AOS_TABLE` and the usual AWS variables).
pub async fn counters_from_env() -> Result<DynamoCounters, AwsError> {
    let settings = AwsSettings::from_env()?;
    Ok(counters(&sdk_config().await, &settings))
}
