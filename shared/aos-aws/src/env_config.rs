//! The SDK configuration of a Lambda function, from the variables the Lambda service sets and
//! nothing else.
//!
//! `aws-config`'s default chains look in the environment, then profile files, SSO, web identity
//! (through an STS client), ECS and IMDS; a function only ever needs the first: Lambda puts the
//! execution role's credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`, valid for the execution environment's whole life) and `AWS_REGION` in
//! every function's environment. Reading them here instead links none of the other providers
//! (about a megabyte of each binary, and the profile-file reads at init): see
//! docs/performance.md, "Lambda functions".
//!
//! Honoured, as `aws-config` does: `AWS_REGION` (or `AWS_DEFAULT_REGION`), the three credential
//! variables, `AWS_ENDPOINT_URL` and the per-service `AWS_ENDPOINT_URL_DYNAMODB`,
//! `AWS_ENDPOINT_URL_SQS`, `AWS_ENDPOINT_URL_SECRETS_MANAGER` (emulators such as ministack),
//! `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`, `AWS_USE_FIPS_ENDPOINT`, `AWS_USE_DUALSTACK_ENDPOINT`
//! and `AWS_MAX_ATTEMPTS`.

use crate::AwsError;
use aos_core::error::ConfigError;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_types::retry::RetryConfig;
use aws_types::region::Region;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
use aws_types::SdkConfig;
use std::collections::HashMap;

/// [`sdk_config_from_lookup`] over the process environment.
pub fn env_sdk_config() -> Result<SdkConfig, AwsError> {
    sdk_config_from_lookup(|var| std::env::var(var).ok())
}

/// The SDK configuration from any variable source, with the crate's HTTPS client. Fails, naming
/// the variable, when the region or a credential is missing or a value cannot be used.
pub fn sdk_config_from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<SdkConfig, AwsError> {
    let get = |var: &str| get(var).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let region = get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")).ok_or(ConfigError::missing("AWS_REGION"))?;
    let key_id = get("AWS_ACCESS_KEY_ID").ok_or(ConfigError::missing("AWS_ACCESS_KEY_ID"))?;
    let secret = get("AWS_SECRET_ACCESS_KEY").ok_or(ConfigError::missing("AWS_SECRET_ACCESS_KEY"))?;
    let credentials = Credentials::new(key_id, secret, get("AWS_SESSION_TOKEN"), None, "environment");

    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .http_client(crate::https_client())
        .use_fips(flag(&get, "AWS_USE_FIPS_ENDPOINT")?)
        .use_dual_stack(flag(&get, "AWS_USE_DUALSTACK_ENDPOINT")?);
    if let Some(n) = get("AWS_MAX_ATTEMPTS") {
        let attempts = n
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| ConfigError::invalid("AWS_MAX_ATTEMPTS", &n, "expected a whole number of attempts of at least 1"))?;
        config = config.retry_config(RetryConfig::standard().with_max_attempts(attempts));
    }
    if !flag(&get, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")? {
        if let Some(url) = get("AWS_ENDPOINT_URL") {
            config = config.endpoint_url(http_url("AWS_ENDPOINT_URL", url)?);
        }
        let mut per_service = HashMap::new();
        for (service, var) in SERVICE_ENDPOINT_VARS {
            if let Some(url) = get(var) {
                per_service.insert(service.to_string(), http_url(var, url)?);
            }
        }
        config = config.service_config(ServiceEndpoints(per_service));
    }
    Ok(config.build())
}

/// The services AOS calls: (the SDK's service id, its endpoint variable).
const SERVICE_ENDPOINT_VARS: [(&str, &str); 3] =
    [("DynamoDB", "AWS_ENDPOINT_URL_DYNAMODB"), ("SQS", "AWS_ENDPOINT_URL_SQS"), ("Secrets Manager", "AWS_ENDPOINT_URL_SECRETS_MANAGER")];

fn flag(get: &impl Fn(&str) -> Option<String>, var: &'static str) -> Result<bool, ConfigError> {
    match get(var).map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ConfigError::invalid(var, other, "expected `true` or `false`")),
    }
}

fn http_url(var: &'static str, url: String) -> Result<String, ConfigError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(url)
    } else {
        Err(ConfigError::invalid(var, url, "expected an http(s) URL"))
    }
}

/// Per-service endpoint URLs, handed to each SDK client as `aws-config` would.
#[derive(Debug)]
struct ServiceEndpoints(HashMap<String, String>);

impl LoadServiceConfig for ServiceEndpoints {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        (key.env() == "AWS_ENDPOINT_URL").then(|| self.0.get(key.service_id()).cloned()).flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<SdkConfig, AwsError> {
        sdk_config_from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))
    }

    const BASE: [(&str, &str); 3] =
        [("AWS_REGION", "eu-west-1"), ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"), ("AWS_SECRET_ACCESS_KEY", "s3cr3t")];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        BASE.iter().chain(extra).copied().collect()
    }

    #[tokio::test]
    async fn reads_the_lambda_variables() {
        use aws_credential_types::provider::ProvideCredentials;
        let c = config(&with(&[("AWS_SESSION_TOKEN", "tok"), ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")])).expect("config");
        assert_eq!(c.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(c.endpoint_url(), Some("http://127.0.0.1:4566"));
        assert_eq!(c.use_fips(), Some(false));
        let creds = c.credentials_provider().expect("provider").provide_credentials().await.expect("credentials");
        assert_eq!((creds.access_key_id(), creds.secret_access_key(), creds.session_token()), ("AKIDEXAMPLE", "s3cr3t", Some("tok")));
        // Same as aws-config: the client config of each service sees its own endpoint variable.
        let c = config(&with(&[("AWS_ENDPOINT_URL", "http://a:1"), ("AWS_ENDPOINT_URL_SQS", "http://sqs:2")])).expect("config");
        let sqs = aws_sdk_sqs::config::Config::from(&c);
        let dynamo = aws_sdk_dynamodb::config::Config::from(&c);
        assert!(format!("{sqs:?}").contains("http://sqs:2"), "{sqs:?}");
        assert!(format!("{dynamo:?}").contains("http://a:1"), "{dynamo:?}");
        let c = config(&with(&[
            ("AWS_DEFAULT_REGION", "x"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
            ("AWS_ENDPOINT_URL", "http://a:1"),
        ]));
        assert_eq!(c.expect("config").endpoint_url(), None);
    }

    #[test]
    fn errors_name_the_variable() {
        let err = |vars: &[(&str, &str)]| config(vars).expect_err("invalid").to_string();
        assert!(err(&BASE[1..]).contains("AWS_REGION"));
        assert!(err(&[BASE[0], BASE[2]]).contains("AWS_ACCESS_KEY_ID"));
        assert!(err(&BASE[..2]).contains("AWS_SECRET_ACCESS_KEY"));
        assert!(err(&with(&[("AWS_MAX_ATTEMPTS", "0")])).contains("AWS_MAX_ATTEMPTS"));
        assert!(err(&with(&[("AWS_USE_FIPS_ENDPOINT", "yes")])).contains("AWS_USE_FIPS_ENDPOINT"));
        assert!(err(&with(&[("AWS_ENDPOINT_URL", "localhost:4566")])).contains("AWS_ENDPOINT_URL"));
        assert!(err(&with(&[("AWS_ENDPOINT_URL_DYNAMODB", "ftp://x")])).contains("AWS_ENDPOINT_URL_DYNAMODB"));
        assert!(config(&with(&[("AWS_MAX_ATTEMPTS", "5"), ("AWS_USE_DUALSTACK_ENDPOINT", "TRUE")])).is_ok());
    }
}
