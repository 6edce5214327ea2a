//! A small HTTP client for the AOS API used by the CLI commands. `AOS_URL` and `AOS_API_KEY` come
//! from the environment (or `--url`, `--api-key`); without a key, the token stored by `aos login`
//! is used (refused once expired), and without one, `./.aos/admin.key` (written by `aos serve`).

use anyhow::{bail, Context};
use reqwest::Method;
use serde_json::Value;

pub struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Client {
    pub fn from_env(url: Option<String>, key: Option<String>) -> anyhow::Result<Self> {
        let stored = if key.is_none() { crate::login::load()? } else { None };
        let url = url.or_else(|| stored.as_ref().and_then(|c| c.url.clone()));
        let base = url.unwrap_or_else(|| "http://127.0.0.1:8080".into()).trim_end_matches('/').to_string();
        let key = match (key, stored) {
            (Some(k), _) => k,
            (None, Some(c)) => {
                let left = c.expires_at_ms - crate::login::now_ms();
                if left <= 0 {
                    bail!(
                        "the login of {} ({}) expired {} min ago: run `aos login` again, or give --api-key / AOS_API_KEY",
                        c.username,
                        c.provider,
                        (-left) / 60_000
                    );
                }
                c.token
            }
            (None, None) => {
                let dir = std::env::var("AOS_DATA_DIR").unwrap_or_else(|_| "./.aos".into());
                let path = std::path::Path::new(&dir).join("admin.key");
                std::fs::read_to_string(&path).map(|s| s.trim().to_string()).with_context(|| {
                    format!(
                        "no API key: set AOS_API_KEY, run `aos login`, or run where `aos serve` keeps its data ({} not readable)",
                        path.display()
                    )
                })?
            }
        };
        Ok(Self { http: reqwest::Client::new(), base, key })
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let mut req = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.key);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.with_context(|| format!("cannot reach AOS at {}", self.base))?;
        let status = resp.status();
        let text = resp.text().await?;
        let value: Value = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        if !status.is_success() {
            let code = value["error"]["code"].as_str().unwrap_or("ERROR");
            let message = value["error"]["message"].as_str().unwrap_or("");
            let field = value["error"]["details"]["field"].as_str().map(|f| format!(" (field {f})")).unwrap_or_default();
            bail!("{status} {code}: {message}{field}");
        }
        Ok(value)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.call(Method::POST, path, Some(body)).await
    }
}
