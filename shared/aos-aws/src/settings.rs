//! Deployment settings of the AWS adapters, read from the environment a Lambda is given: the
//! table, the queue URLs by logical name and the secrets prefix.

use crate::AwsError;
use aos_core::error::ConfigError;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSettings {
    /// The DynamoDB table (`AOS_TABLE`).
    pub table: String,
    /// Queue URL by logical queue name, e.g. `orchestrator`, `skill.http_call`, `skill.http_call.dlq`
    /// (`AOS_QUEUE_URLS`, a JSON object).
    pub queue_urls: HashMap<String, String>,
    /// Secrets are named `{secrets_prefix}/{tenant}/{name}` (`AOS_SECRETS_PREFIX`, default `aos`).
    pub secrets_prefix: String,
}

pub const DEFAULT_SECRETS_PREFIX: &str = "aos";

impl AwsSettings {
    pub fn from_env() -> Result<Self, AwsError> {
        Self::from_lookup(|var| std::env::var(var).ok())
    }

    /// Settings from any variable source (the process environment in `from_env`).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, AwsError> {
        let table = get("AOS_TABLE").filter(|t| !t.trim().is_empty()).ok_or(ConfigError::missing("AOS_TABLE"))?;
        let urls = get("AOS_QUEUE_URLS").ok_or(ConfigError::missing("AOS_QUEUE_URLS"))?;
        let queue_urls: HashMap<String, String> = serde_json::from_str(&urls).map_err(|e| {
            ConfigError::invalid("AOS_QUEUE_URLS", &urls, format!("expected a JSON object of queue name to queue URL strings ({e})"))
        })?;
        if let Some((name, _)) = queue_urls.iter().find(|(_, url)| !url.starts_with("http")) {
            return Err(ConfigError::invalid("AOS_QUEUE_URLS", &urls, format!("the URL of queue `{name}` is not an http(s) URL")).into());
        }
        let secrets_prefix = match get("AOS_SECRETS_PREFIX") {
            None => DEFAULT_SECRETS_PREFIX.to_string(),
            Some(p) if valid_prefix(&p) => p,
            Some(p) => {
                return Err(ConfigError::invalid(
                    "AOS_SECRETS_PREFIX",
                    p,
                    "must be non-empty, without a leading or trailing `/`, using only letters, digits and /_+=.@-",
                )
                .into());
            }
        };
        Ok(Self { table: table.trim().to_string(), queue_urls, secrets_prefix })
    }
}

/// Secrets Manager names allow ASCII letters, digits and `/_+=.@-`.
fn valid_prefix(p: &str) -> bool {
    !p.is_empty() && !p.starts_with('/') && !p.ends_with('/') && p.chars().all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<AwsSettings, AwsError> {
        AwsSettings::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn reads_every_variable() {
        let s = settings(&[("AOS_TABLE", "aos"), ("AOS_QUEUE_URLS", r#"{"orchestrator":"http://q/1"}"#), ("AOS_SECRETS_PREFIX", "x/y")]);
        let s = s.expect("valid settings");
        assert_eq!((s.table.as_str(), s.secrets_prefix.as_str()), ("aos", "x/y"));
        assert_eq!(s.queue_urls.get("orchestrator").map(String::as_str), Some("http://q/1"));
        let s = settings(&[("AOS_TABLE", "aos"), ("AOS_QUEUE_URLS", "{}")]).expect("defaults");
        assert_eq!(s.secrets_prefix, "aos");
    }

    #[test]
    fn errors_name_the_variable() {
        let err = |vars: &[(&str, &str)]| settings(vars).expect_err("invalid").to_string();
        assert!(err(&[("AOS_QUEUE_URLS", "{}")]).contains("AOS_TABLE"));
        assert!(err(&[("AOS_TABLE", "t")]).contains("AOS_QUEUE_URLS"));
        assert!(err(&[("AOS_TABLE", "t"), ("AOS_QUEUE_URLS", "[1]")]).contains("AOS_QUEUE_URLS"));
        assert!(err(&[("AOS_TABLE", "t"), ("AOS_QUEUE_URLS", r#"{"a":"ftp://x"}"#)]).contains("`a`"));
        assert!(err(&[("AOS_TABLE", "t"), ("AOS_QUEUE_URLS", "{}"), ("AOS_SECRETS_PREFIX", "/a")]).contains("AOS_SECRETS_PREFIX"));
    }
}
