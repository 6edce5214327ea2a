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
        check_base(&base)?;
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
        let json = resp_is_json(&text);
        let value: Value = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        // Every AOS answer with a body is a JSON object; anything else came from another server.
        if !json {
            let text = format!(
                "{} answered {status} with something that is not AOS's JSON ({}): is AOS_URL / --url the address of an AOS server?",
                self.base,
                preview(&value)
            );
            return Err(if status.is_server_error() {
                StatusError { status, text, body: Value::Null }.into()
            } else {
                anyhow::anyhow!(text)
            });
        }
        if !status.is_success() {
            let Some(code) = value["error"]["code"].as_str() else {
                let text = format!(
                    "{} answered {status} without AOS's error envelope ({}): is AOS_URL / --url the address of an AOS server?",
                    self.base,
                    preview(&value)
                );
                return Err(StatusError { status, text, body: value }.into());
            };
            let message = value["error"]["message"].as_str().unwrap_or("");
            let field = value["error"]["details"]["field"].as_str().map(|f| format!(" (field {f})")).unwrap_or_default();
            // A plan with several problems: the API lists every one in `details.errors`.
            let problems: Vec<String> = value["error"]["details"]["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    format!(
                        "\n  {}: {} ({})",
                        p["field"].as_str().unwrap_or("-"),
                        p["message"].as_str().unwrap_or(""),
                        p["code"].as_str().unwrap_or("")
                    )
                })
                .collect();
            let text = if problems.len() > 1 {
                format!("{status} {code}: {} problems:{}", problems.len(), problems.concat())
            } else {
                format!("{status} {code}: {message}{field}")
            };
            return Err(StatusError { status, text, body: value }.into());
        }
        Ok(value)
    }

    /// A GET whose answer must hold `key` (a list the caller prints): a JSON server that is not AOS
    /// would otherwise show as an empty table.
    pub async fn get_with(&self, path: &str, key: &str) -> anyhow::Result<Value> {
        let v = self.get(path).await?;
        if v.get(key).is_none() {
            bail!("{}{path} answered without `{key}` ({}): is AOS_URL / --url the address of an AOS server?", self.base, preview(&v));
        }
        Ok(v)
    }

    /// `get_with(path, key)`, and with `all` every following page (`next_cursor`, sent with the same
    /// query): their `key` lists joined into the first answer, which then has no `next_cursor`.
    pub async fn get_pages(&self, path: &str, key: &str, all: bool) -> anyhow::Result<Value> {
        let mut v = self.get_with(path, key).await?;
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut next = if all { v["next_cursor"].as_str().map(str::to_string) } else { None };
        while let Some(cursor) = next {
            let page = self.get_with(&format!("{path}{sep}cursor={}", encode(&cursor)), key).await?;
            if let (Some(have), Some(more)) = (v[key].as_array_mut(), page[key].as_array()) {
                have.extend(more.iter().cloned());
            }
            next = page["next_cursor"].as_str().map(str::to_string);
        }
        if all {
            v.as_object_mut().map(|o| o.remove("next_cursor"));
        }
        Ok(v)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.call(Method::POST, path, Some(body)).await
    }
}

/// An answer with an error status (the message shows the status, the error code, the message and
/// the field).
#[derive(Debug)]
pub struct StatusError {
    pub status: reqwest::StatusCode,
    text: String,
    /// The answer's body (the error envelope), printed as is with `--json`.
    pub body: Value,
}

impl std::fmt::Display for StatusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for StatusError {}

/// Whether trying again later may succeed: the server could not be reached or the connection
/// dropped, or it answered 429 or a 5xx (a server starting or stopping, a proxy without a backend).
pub fn is_transient(e: &anyhow::Error) -> bool {
    if let Some(s) = e.downcast_ref::<StatusError>() {
        return s.status.is_server_error() || s.status == reqwest::StatusCode::TOO_MANY_REQUESTS;
    }
    e.chain().any(|cause| {
        cause.downcast_ref::<reqwest::Error>().is_some_and(|r| r.is_connect() || r.is_request() || r.is_timeout() || r.is_body())
    })
}

/// The base URL must be `http://` or `https://` with a host: `localhost:8080` alone would be taken
/// as a scheme by the HTTP client and fail with an obscure message.
fn check_base(base: &str) -> anyhow::Result<()> {
    let parsed = reqwest::Url::parse(base);
    match parsed {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        _ => bail!("AOS_URL / --url `{base}` is not an http:// or https:// URL (e.g. http://127.0.0.1:8080)"),
    }
}

/// Percent-encodes a query or path value (failure ids hold `#`, cursors and codes may hold anything).
pub fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn resp_is_json(text: &str) -> bool {
    text.is_empty() || serde_json::from_str::<Value>(text).is_ok_and(|v| v.is_object())
}

/// The first characters of an unexpected answer, on one line.
fn preview(v: &Value) -> String {
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut: String = one_line.chars().take(80).collect();
    if cut.len() < one_line.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_base_url_needs_a_scheme_and_a_host() {
        assert!(super::check_base("http://127.0.0.1:8080").is_ok() && super::check_base("https://aos.example").is_ok());
        for bad in ["127.0.0.1:8080", "localhost:8080", "ftp://x", "http://"] {
            let e = super::check_base(bad).expect_err(bad).to_string();
            assert!(e.contains("http://"), "{e}");
        }
    }
}
