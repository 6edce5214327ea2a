//! Deployment settings of the built-in skills. The HTTP allow-list is the only way to reach
//! internal addresses, so it is explicit configuration, never inferred.

/// Settings of the built-in skills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkillsConfig {
    /// Hosts `http_call` may reach even when they are (or resolve to) internal addresses: exact
    /// host names or IP literals as written in URLs (`localhost`, `127.0.0.1`, `::1`), or `*`.
    pub http_allow_hosts: Vec<String>,
    /// Largest response body `http_call` reads; larger ones fail with `HTTP_BODY_TOO_LARGE`.
    pub http_max_response_bytes: u64,
    /// `http_call`'s timeout when neither the step nor the input sets one.
    pub http_default_timeout_ms: u64,
}

impl Default for SkillsConfig {
    fn default() -> Self {
        Self { http_allow_hosts: Vec::new(), http_max_response_bytes: 5 * 1024 * 1024, http_default_timeout_ms: 30_000 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {var}={value:?}: {reason}")]
pub struct ConfigError {
    pub var: String,
    pub value: String,
    pub reason: String,
}

impl SkillsConfig {
    /// Reads `AOS_HTTP_ALLOW_HOSTS` (comma-separated), `AOS_HTTP_MAX_RESPONSE_BYTES` and
    /// `AOS_HTTP_DEFAULT_TIMEOUT_MS`; unset or empty variables keep the defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`Self::from_env`], reading variables through `get` (tests need no process env).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        if let Some(hosts) = get("AOS_HTTP_ALLOW_HOSTS") {
            config.http_allow_hosts = hosts.split(',').map(str::trim).filter(|h| !h.is_empty()).map(String::from).collect();
        }
        if let Some(n) = positive(&get, "AOS_HTTP_MAX_RESPONSE_BYTES")? {
            config.http_max_response_bytes = n;
        }
        if let Some(n) = positive(&get, "AOS_HTTP_DEFAULT_TIMEOUT_MS")? {
            config.http_default_timeout_ms = n;
        }
        Ok(config)
    }
}

fn positive(get: &impl Fn(&str) -> Option<String>, var: &str) -> Result<Option<u64>, ConfigError> {
    let Some(value) = get(var).filter(|v| !v.trim().is_empty()) else { return Ok(None) };
    match value.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => Err(ConfigError { var: var.to_string(), value, reason: "expected a positive integer".to_string() }),
    }
}
