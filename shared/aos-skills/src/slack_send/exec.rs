//! The executor: one post per step, to a webhook or to chat.postMessage, with the secret's value
//! (the webhook URL, the token) kept out of every message and detail it returns.

use super::{blocks, classify_error, DEFAULT_TIMEOUT_MS, DEFAULT_WEBHOOK_SECRET};
use crate::budget::ctx_budget;
use crate::http::guard::{AddressGuard, Rejected};
use crate::http::{classify, guarded_client, response};
use crate::SkillsConfig;
use aos_core::canonical::hash_value;
use aos_core::outcome::{Category, StepError};
use aos_core::ports::{Condition, Item};
use aos_core::skill::{input_error, Skill, SkillContext, SkillOutput, SkillSpec, TenantScope};
use async_trait::async_trait;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Client, Url};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Bytes of Slack's answer read (its answers are small; more is not Slack).
const ANSWER_BYTES: u64 = 64 * 1024;
const MARKERS: &str = "sent";
/// How long a sent-marker is kept: longer than any run retries a step.
const MARKER_TTL_SECONDS: i64 = 7 * 86_400;

pub struct SlackSend {
    spec: SkillSpec,
    client: OnceLock<Result<Client, String>>,
    guard: Arc<AddressGuard>,
    api_url: String,
}

impl SlackSend {
    pub fn new(config: &SkillsConfig) -> Self {
        Self {
            spec: super::spec(),
            client: OnceLock::new(),
            guard: Arc::new(AddressGuard::new(&config.http_allow_hosts)),
            api_url: config.slack_api_url.trim_end_matches('/').to_string(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    text: Option<String>,
    blocks: Option<Value>,
    webhook: Option<String>,
    token: Option<String>,
    channel: Option<String>,
    thread_ts: Option<String>,
    unfurl_links: Option<bool>,
    unfurl_media: Option<bool>,
    timeout_ms: Option<u64>,
}

/// Where the message goes, and the secret's name (never its value) for messages.
enum Route {
    Webhook { secret: String },
    Api { secret: String, channel: String },
}

fn secret_name_ok(name: &str) -> bool {
    (1..=128).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn parse(raw: Value) -> Result<(Input, Route, Value), StepError> {
    let input: Input = serde_json::from_value(raw).map_err(|e| input_error(format!("slack_send input is invalid: {e}")))?;
    for name in [&input.webhook, &input.token].into_iter().flatten() {
        if !secret_name_ok(name) {
            return Err(input_error("slack_send `webhook` and `token` are names of secrets: 1 to 128 of A-Z a-z 0-9 _ . -"));
        }
    }
    if let Some(ts) = &input.thread_ts {
        let ok = ts.split_once('.').is_some_and(|(a, b)| {
            (1..=12).contains(&a.len()) && (1..=8).contains(&b.len()) && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
        });
        if !ok {
            return Err(input_error("slack_send `thread_ts` is a message timestamp such as 1700000000.000100"));
        }
    }
    let route = match (&input.token, &input.webhook, &input.channel) {
        (Some(_), Some(_), _) => return Err(input_error("slack_send takes `webhook` or `token`, not both")),
        (Some(token), None, Some(channel)) => {
            if channel.is_empty() || channel.chars().count() > 80 || channel.chars().any(char::is_control) {
                return Err(input_error("slack_send `channel` is a channel id or name (1 to 80 characters, no control characters)"));
            }
            Route::Api { secret: token.clone(), channel: channel.clone() }
        }
        (Some(_), None, None) => return Err(input_error("slack_send with `token` posts with chat.postMessage and needs `channel`")),
        (None, _, Some(_)) => {
            return Err(input_error("slack_send `channel` goes with `token`: an incoming webhook posts to its own channel"))
        }
        (None, webhook, None) => Route::Webhook { secret: webhook.clone().unwrap_or_else(|| DEFAULT_WEBHOOK_SECRET.to_string()) },
    };
    blocks::validate(input.text.as_deref(), input.blocks.as_ref())?;
    let mut message = Map::new();
    if let Route::Api { channel, .. } = &route {
        message.insert("channel".into(), json!(channel));
    }
    if let Some(text) = &input.text {
        message.insert("text".into(), json!(text));
    }
    if let Some(b) = &input.blocks {
        message.insert("blocks".into(), b.clone());
    }
    for (k, v) in [
        ("thread_ts", input.thread_ts.as_ref().map(|t| json!(t))),
        ("unfurl_links", input.unfurl_links.map(Value::Bool)),
        ("unfurl_media", input.unfurl_media.map(Value::Bool)),
    ] {
        if let Some(v) = v {
            message.insert(k.into(), v);
        }
    }
    Ok((input, route, Value::Object(message)))
}

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// The sent-marker of this step's post: the same run, step and input mean the same message,
/// whichever attempt or delivery carries it.
fn marker_key(ctx: &SkillContext, raw: &Value) -> String {
    format!("{}#{}#{}", ctx.run_id, ctx.step_id, &hash_value(raw)[..32])
}

fn secret_error(name: &str, e: impl std::fmt::Display) -> StepError {
    StepError::new("SECRET_BACKEND_ERROR", Category::Transient, true, format!("secret `{name}` could not be read: {e}"))
}

async fn read_secret(scope: &TenantScope, name: &str) -> Result<String, StepError> {
    match scope.secret(name).await {
        Ok(Some(v)) => Ok(v.trim().to_string()),
        Ok(None) => Err(StepError::new("SECRET_NOT_FOUND", Category::Auth, false, format!("secret `{name}` does not exist"))),
        Err(e) => Err(secret_error(name, e)),
    }
}

/// Removes `hidden` (the webhook URL and its parts) from an error's message and details: they are
/// the tenant's credential, and a host or path alone would still say where it points.
fn scrub(mut e: StepError, hidden: &[String]) -> StepError {
    let clean = |s: &str| hidden.iter().filter(|h| h.len() >= 4).fold(s.to_string(), |acc, h| acc.replace(h.as_str(), "<webhook>"));
    e.message = clean(&e.message);
    if !e.details.is_null() {
        let text = clean(&e.details.to_string());
        e.details = serde_json::from_str(&text).unwrap_or(Value::Null);
    }
    e
}

fn slack_error(error: &str, status: u16, target: &str, retry_after_ms: Option<u64>) -> StepError {
    let (code, category, retryable) = classify_error(error);
    let mut details = json!({"slack_error": error, "status": status, "via": target});
    if let Some(ms) = retry_after_ms {
        details["retry_after_ms"] = json!(ms);
    }
    StepError::new(code, category, retryable, format!("Slack answered `{error}` (HTTP {status}) to {target}")).with_details(details)
}

/// A webhook's answer or a status without a body Slack documents: what the status says.
fn status_error(status: u16, target: &str, retry_after_ms: Option<u64>) -> StepError {
    let error = match status {
        429 => "rate_limited",
        500..=599 => "internal_error",
        400 => "invalid_payload",
        403 => "action_prohibited",
        404 => "no_service",
        410 => "channel_is_archived",
        _ => "unexpected_status",
    };
    slack_error(error, status, target, retry_after_ms)
}

impl SlackSend {
    fn client(&self) -> Result<&Client, StepError> {
        self.client.get_or_init(|| guarded_client(&self.guard)).as_ref().map_err(|e| {
            StepError::new("HTTP_CLIENT_UNAVAILABLE", Category::Permanent, false, format!("the HTTP client could not be initialised: {e}"))
        })
    }

    /// The webhook URL from its secret: https, or http to a host the deployment allows; never
    /// with credentials in it; through the address guard.
    fn webhook_url(&self, name: &str, value: &str) -> Result<Url, StepError> {
        let invalid = |why: &str| {
            StepError::new(
                "SLACK_WEBHOOK_URL_INVALID",
                Category::Validation,
                false,
                format!("the secret `{name}` is not a Slack webhook URL: {why}"),
            )
        };
        let url = Url::parse(value).map_err(|_| invalid("it does not parse as a URL"))?;
        let host = url.host_str().unwrap_or("").to_string();
        match url.scheme() {
            "https" => {}
            "http" if self.guard.host_allowed(&host) => {}
            _ => return Err(invalid("it is not an https:// URL")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("it carries a user name or password"));
        }
        self.guard.check_url(&url).map_err(|r| match r {
            Rejected::Blocked { reason, .. } => StepError::new(
                "HTTP_BLOCKED_ADDRESS",
                Category::Security,
                false,
                format!("the Slack webhook `{name}` points to {reason}, which this deployment does not allow"),
            )
            .with_details(json!({"reason": reason.trim_start_matches("a ").trim_start_matches("an ")})),
            Rejected::InvalidUrl { .. } => invalid("it has no host"),
        })?;
        Ok(url)
    }

    async fn post(&self, url: Url, token: Option<&str>, message: &Value, target: &str, budget: Duration) -> Result<Value, StepError> {
        let client = self.client()?;
        let mut request = client.post(url).header(CONTENT_TYPE, "application/json; charset=utf-8").body(message.to_string());
        if let Some(token) = token {
            let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                StepError::new("SLACK_INVALID_AUTH", Category::Auth, false, format!("the token for {target} is not a Slack token"))
            })?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        let exchange = async {
            // without_url: the URL is the tenant's credential (a webhook) and never goes into an error.
            let mut resp = request.send().await.map_err(|e| classify::transport(&e.without_url(), target))?;
            let status = resp.status().as_u16();
            let retry_after =
                resp.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(|v| classify::retry_after_ms(v, SystemTime::now()));
            let is_json = response::is_json(resp.headers());
            let (body, _) =
                response::read_capped(&mut resp, ANSWER_BYTES).await.map_err(|e| classify::transport(&e.without_url(), target))?;
            let text = String::from_utf8_lossy(&body).trim().to_string();
            if token.is_none() {
                // Incoming webhooks answer `ok`, or a status with the error as plain text.
                if (200..300).contains(&status) {
                    return Ok(json!({"ok": true, "via": "webhook"}));
                }
                let known = !text.is_empty() && text.len() <= 64 && text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
                return Err(if known && status != 429 {
                    slack_error(&text, status, target, retry_after)
                } else {
                    status_error(status, target, retry_after)
                });
            }
            // The Web API answers 200 with {ok, error}; 429 with Retry-After; 5xx on its own failures.
            if status == 429 || status >= 500 || !is_json {
                return Err(status_error(if (200..300).contains(&status) { 502 } else { status }, target, retry_after));
            }
            let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if answer["ok"] == true {
                let mut out = json!({"ok": true, "via": "chat.postMessage"});
                for field in ["channel", "ts"] {
                    if let Some(v) = answer[field].as_str() {
                        out[field] = json!(v);
                    }
                }
                let mut warnings: Vec<String> = answer["response_metadata"]["warnings"]
                    .as_array()
                    .map(|w| w.iter().filter_map(Value::as_str).map(String::from).collect())
                    .unwrap_or_default();
                if let Some(single) = answer["warning"].as_str() {
                    warnings.extend(single.split(',').map(String::from).filter(|w| !warnings.contains(w)).collect::<Vec<_>>());
                }
                if !warnings.is_empty() {
                    out["warnings"] = json!(warnings);
                }
                return Ok(out);
            }
            Err(slack_error(answer["error"].as_str().unwrap_or("unknown_error"), status, target, retry_after))
        };
        match tokio::time::timeout(budget, exchange).await {
            Ok(result) => result,
            Err(_) => Err(classify::timeout(target, budget)),
        }
    }
}

#[async_trait]
impl Skill for SlackSend {
    fn spec(&self) -> &SkillSpec {
        &self.spec
    }

    async fn execute(&self, ctx: &SkillContext, raw: Value) -> Result<SkillOutput, StepError> {
        let (input, route, mut message) = parse(raw.clone())?;
        let scope = ctx.scope()?;
        // A post of this step that succeeded before (its outcome lost to a crash) is not repeated.
        let marker_sk = marker_key(ctx, &raw);
        if let Ok(Some(done)) = scope.get(MARKERS, &marker_sk).await {
            return Ok(SkillOutput { output: done.data["output"].clone(), cost_usd: 0.0 });
        }
        let limits = [input.timeout_ms.map(Duration::from_millis), ctx_budget(ctx)];
        let budget = limits.into_iter().flatten().min().unwrap_or(Duration::from_millis(DEFAULT_TIMEOUT_MS));
        let output = match &route {
            Route::Webhook { secret } => {
                let value = read_secret(scope, secret).await?;
                let target = format!("the Slack webhook `{secret}`");
                let mut hidden = vec![value.clone()];
                let parsed = Url::parse(&value).ok();
                if let Some(u) = &parsed {
                    hidden.extend([u.as_str().to_string(), u.path().to_string()]);
                    hidden.extend(u.host_str().map(String::from));
                }
                let url = self.webhook_url(secret, &value).map_err(|e| scrub(e, &hidden))?;
                self.post(url, None, &message, &target, budget).await.map_err(|e| scrub(e, &hidden))?
            }
            Route::Api { secret, .. } => {
                let token = read_secret(scope, secret).await?;
                if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(StepError::new(
                        "SLACK_INVALID_AUTH",
                        Category::Auth,
                        false,
                        format!("the secret `{secret}` is not a Slack token (xoxb-...)"),
                    ));
                }
                let url = Url::parse(&format!("{}/chat.postMessage", self.api_url)).map_err(|e| {
                    StepError::new("HTTP_INVALID_URL", Category::Validation, false, format!("AOS_SLACK_API_URL is not a URL: {e}"))
                })?;
                self.guard.check_url(&url).map_err(|r| classify::rejected(&r))?;
                // Message metadata names the step, so a person (or a search) recognises a repeat.
                message["metadata"] = json!({"event_type": "aos_step", "event_payload": {"run_id": ctx.run_id, "step_id": ctx.step_id, "attempt": ctx.attempt}});
                let hidden = [token.clone()];
                self.post(url, Some(&token), &message, "Slack's chat.postMessage", budget).await.map_err(|e| scrub(e, &hidden))?
            }
        };
        let marker = Item::new(MARKERS, &marker_sk, json!({"output": output})).expiring_at(now_secs() + MARKER_TTL_SECONDS);
        // Best effort: the worker's claim already stops a redelivery; the marker covers a lost outcome.
        let _ = scope.put(marker, Condition::Always).await;
        Ok(SkillOutput { output, cost_usd: 0.0 })
    }
}
