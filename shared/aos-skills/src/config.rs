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
    /// Slack's Web API, which `slack_send` calls with a bot token (`chat.postMessage`). Another
    /// URL is for tests and Slack-compatible servers; it passes the address guard like any host.
    pub slack_api_url: String,
    /// `fs`'s local sandbox: each tenant's files under `<fs_root>/<tenant>/` (`AOS_FS_ROOT`;
    /// `aos serve` defaults it to `<data dir>/files`).
    pub fs_root: Option<std::path::PathBuf>,
    /// `fs` on AWS: the bucket whose `t/<tenant>/` prefixes hold the tenants' files (`AOS_FS_BUCKET`).
    pub fs_bucket: Option<String>,
    /// Largest file `fs` reads or writes (`AOS_FS_MAX_FILE_BYTES`, 10 MiB).
    pub fs_max_file_bytes: u64,
    /// A tenant's files together (`AOS_FS_QUOTA_BYTES`, 100 MiB) and how many files and directories
    /// it may have (`AOS_FS_MAX_ENTRIES`, 10,000).
    pub fs_quota_bytes: u64,
    pub fs_max_entries: u64,
}

impl Default for SkillsConfig {
    fn default() -> Self {
        Self {
            http_allow_hosts: Vec::new(),
            http_max_response_bytes: 5 * 1024 * 1024,
            http_default_timeout_ms: 30_000,
            slack_api_url: crate::slack_send::DEFAULT_API_URL.to_string(),
            fs_root: None,
            fs_bucket: None,
            fs_max_file_bytes: 10 * 1024 * 1024,
            fs_quota_bytes: 100 * 1024 * 1024,
            fs_max_entries: 10_000,
        }
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
    /// `AOS_HTTP_DEFAULT_TIMEOUT_MS`, `AOS_SLACK_API_URL`; unset or empty variables keep the defaults.
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
        if let Some(url) = get("AOS_SLACK_API_URL").filter(|v| !v.trim().is_empty()) {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(ConfigError { var: "AOS_SLACK_API_URL".into(), value: url, reason: "expected an http(s) URL".into() });
            }
            config.slack_api_url = url.trim().to_string();
        }
        if let Some(root) = get("AOS_FS_ROOT").filter(|v| !v.trim().is_empty()) {
            config.fs_root = Some(std::path::PathBuf::from(root.trim()));
        }
        if let Some(bucket) = get("AOS_FS_BUCKET").filter(|v| !v.trim().is_empty()) {
            config.fs_bucket = Some(bucket.trim().to_string());
        }
        if let Some(n) = positive(&get, "AOS_FS_MAX_FILE_BYTES")? {
            config.fs_max_file_bytes = n;
        }
        if let Some(n) = positive(&get, "AOS_FS_QUOTA_BYTES")? {
            config.fs_quota_bytes = n;
        }
        if let Some(n) = positive(&get, "AOS_FS_MAX_ENTRIES")? {
            config.fs_max_entries = n;
        }
        Ok(config)
    }

    /// The configuration with `fs`'s local root set to `root` unless one was configured (`aos
    /// serve` passes `<data dir>/files`).
    pub fn with_default_fs_root(mut self, root: std::path::PathBuf) -> Self {
        if self.fs_root.is_none() {
            self.fs_root = Some(root);
        }
        self
    }
}

fn positive(get: &impl Fn(&str) -> Option<String>, var: &str) -> Result<Option<u64>, ConfigError> {
    let Some(value) = get(var).filter(|v| !v.trim().is_empty()) else { return Ok(None) };
    match value.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => Err(ConfigError { var: var.to_string(), value, reason: "expected a positive integer".to_string() }),
    }
}
