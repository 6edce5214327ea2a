//! `webhook_send`: POSTs a JSON payload signed as the Standard Webhooks specification asks
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`). The signing
//! key comes from the tenant's secrets, named by the input, never from the plan's text; the id is
//! the same for every attempt of a step, so receivers deduplicate retries. Outbound addresses pass
//! the same guard as `http_call`, and no redirect is followed.
//!
//! The declaration is always built; the executor needs the `http` feature (reqwest, rustls, hmac).

use crate::mode;
use aos_core::outcome::Category;
use aos_core::skill::{CostModel, Determinism, SideEffects, SkillSpec};
use serde_json::json;

/// Largest body, as compact JSON.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;
/// The secret holding the signing key when the input names none.
pub const DEFAULT_SECRET: &str = "WEBHOOK_SECRET";
/// How long a receiver gets when neither the input nor the step says (the specification
/// recommends short timeouts: receivers acknowledge first and work later).
pub const DEFAULT_TIMEOUT_MS: u64 = 15_000;

pub fn spec() -> SkillSpec {
    SkillSpec {
        id: "webhook_send".into(),
        version: "1.0.0".into(),
        description: "POSTs `payload` as JSON to `url`, signed per the Standard Webhooks specification: `webhook-id` \
            (the same for every attempt of the step, so receivers can deduplicate), `webhook-timestamp` (seconds) and \
            `webhook-signature` (`v1,<base64 HMAC-SHA256 of id.timestamp.body>`, one per key). The key is the tenant's \
            secret named by `secret` (default WEBHOOK_SECRET), a `whsec_<base64>` value; several keys separated by \
            spaces sign with each (rotation). Any 2xx is a success; redirects are not followed; other statuses fail as \
            HTTP_<status> (429 and 5xx retryable, Retry-After honoured). Internal addresses are refused as by http_call."
            .into(),
        input_schema: json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "required": ["url", "payload"],
            "additionalProperties": false,
            "properties": {
                "url": {"type": "string", "minLength": 1, "description": "An absolute http:// or https:// URL."},
                "payload": {"description": "Any JSON value: the body, at most 256 KiB as compact JSON."},
                "secret": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,128}$", "default": DEFAULT_SECRET, "description": "The name of the tenant secret holding the signing key(s)."},
                "headers": {"type": "object", "additionalProperties": {"type": "string"}, "description": "More request headers; not webhook-*, content-type, content-length or host."},
                "timeout_ms": {"type": "integer", "minimum": 1, "maximum": 900000}
            }
        }),
        output_schema: json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "required": ["status", "webhook_id", "timestamp"],
            "additionalProperties": false,
            "properties": {
                "status": {"type": "integer", "minimum": 200, "maximum": 299},
                "webhook_id": {"type": "string"},
                "timestamp": {"type": "integer", "description": "The webhook-timestamp sent (seconds since the epoch)."},
                "response": {"description": "The receiver's answer: parsed JSON for JSON content types, else text; at most 4 KiB."}
            }
        }),
        side_effects: SideEffects::Write,
        determinism: Determinism::NonDeterministic,
        cost_model: CostModel { usd_per_call: 0.0, latency_ms_p50: 200, latency_ms_p95: 2_000 },
        default_timeout_ms: DEFAULT_TIMEOUT_MS,
        secret_fields: vec!["/headers".into()],
        failure_modes: vec![
            mode(
                "SKILL_INPUT_INVALID",
                Category::Validation,
                false,
                "The input does not match the schema (unknown field, a reserved header).",
            ),
            mode("WEBHOOK_PAYLOAD_TOO_LARGE", Category::Resource, false, "The payload is larger than 256 KiB as JSON."),
            mode(
                "WEBHOOK_SECRET_INVALID",
                Category::Auth,
                false,
                "The signing secret is not a `whsec_<base64>` key (or plain base64), or is empty.",
            ),
            mode("SECRET_NOT_FOUND", Category::Auth, false, "The tenant has no secret of the name `secret` gives."),
            mode("SECRET_BACKEND_ERROR", Category::Transient, true, "The signing secret could not be read."),
            mode("HTTP_INVALID_URL", Category::Validation, false, "The URL does not parse, has no host, or is not http/https."),
            mode(
                "HTTP_BLOCKED_ADDRESS",
                Category::Security,
                false,
                "The host is or resolves to an internal address the deployment does not allow.",
            ),
            mode("HTTP_DNS_ERROR", Category::Transient, true, "The host name could not be resolved."),
            mode(
                "HTTP_CONNECT_ERROR",
                Category::Transient,
                true,
                "The connection was refused, reset or closed before a complete response.",
            ),
            mode("HTTP_TLS_ERROR", Category::Security, false, "The TLS handshake failed."),
            mode("HTTP_TIMEOUT", Category::Transient, true, "No complete response within the timeout."),
            mode("HTTP_CLIENT_UNAVAILABLE", Category::Permanent, false, "The HTTP client could not be initialised in this deployment."),
            mode("HTTP_429", Category::RateLimit, true, "The receiver is rate limiting; details.retry_after_ms from Retry-After."),
            mode(
                "HTTP_<status>",
                Category::Validation,
                false,
                "Any other non-2xx status: 5xx TRANSIENT and retryable, 4xx VALIDATION (401/403 AUTH), 3xx PERMANENT.",
            ),
            mode(
                "SKILL_RESOURCES_UNAVAILABLE",
                Category::Permanent,
                false,
                "The process executing the step gave the skill no access to the tenant's secrets.",
            ),
        ],
    }
}

#[cfg(feature = "http")]
pub use exec::{sign, webhook_id, WebhookSend};

#[cfg(feature = "http")]
mod exec {
    use super::{DEFAULT_SECRET, MAX_PAYLOAD_BYTES};
    use crate::budget::ctx_budget;
    use crate::http::guard::{self, AddressGuard};
    use crate::http::{classify, guarded_client, response};
    use crate::SkillsConfig;
    use aos_core::canonical::sha256_hex;
    use aos_core::outcome::{Category, StepError};
    use aos_core::skill::{input_error, Skill, SkillContext, SkillOutput, SkillSpec};
    use async_trait::async_trait;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use hmac::{Hmac, Mac};
    use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
    use reqwest::{Client, Url};
    use serde::Deserialize;
    use serde_json::{json, Value};
    use sha2::Sha256;
    use std::collections::BTreeMap;
    use std::sync::{Arc, OnceLock};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    /// Bytes of the receiver's answer kept (in the output or the error details).
    const RESPONSE_BYTES: u64 = 4096;

    pub struct WebhookSend {
        spec: SkillSpec,
        client: OnceLock<Result<Client, String>>,
        guard: Arc<AddressGuard>,
    }

    impl WebhookSend {
        pub fn new(config: &SkillsConfig) -> Self {
            Self { spec: super::spec(), client: OnceLock::new(), guard: Arc::new(AddressGuard::new(&config.http_allow_hosts)) }
        }
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Input {
        url: String,
        /// Taken out before parsing, so `null` is a payload.
        #[serde(skip)]
        payload: Value,
        secret: Option<String>,
        #[serde(default)]
        headers: BTreeMap<String, String>,
        timeout_ms: Option<u64>,
    }

    /// The `webhook-id` of a step's webhook: the same run, step, URL and body give the same id,
    /// whichever attempt or delivery sends it.
    pub fn webhook_id(run_id: &str, step_id: &str, url: &str, body: &[u8]) -> String {
        let mut material = Vec::with_capacity(run_id.len() + step_id.len() + url.len() + body.len() + 3);
        for part in [run_id.as_bytes(), step_id.as_bytes(), url.as_bytes(), body] {
            material.extend_from_slice(part);
            material.push(0);
        }
        format!("msg_{}", &sha256_hex(&material)[..32])
    }

    /// `webhook-signature`'s value for `keys` (each `whsec_<base64>` or plain base64): one
    /// `v1,<base64>` per key, separated by spaces. `None` when a key is not base64 or is empty.
    pub fn sign(keys: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
        let mut signatures = Vec::new();
        for key in keys.split_whitespace() {
            let encoded = key.strip_prefix("whsec_").unwrap_or(key);
            let bytes = STANDARD.decode(encoded).ok().filter(|b| !b.is_empty())?;
            let mut mac = Hmac::<Sha256>::new_from_slice(&bytes).ok()?;
            mac.update(format!("{id}.{timestamp}.").as_bytes());
            mac.update(body);
            signatures.push(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())));
        }
        (!signatures.is_empty()).then(|| signatures.join(" "))
    }

    fn parse(input: Value) -> Result<(Input, Url, Vec<u8>, HeaderMap), StepError> {
        let Value::Object(mut fields) = input else { return Err(input_error("webhook_send input must be an object")) };
        let payload = fields.remove("payload").ok_or_else(|| input_error("webhook_send input is missing `payload`"))?;
        let mut input: Input =
            serde_json::from_value(Value::Object(fields)).map_err(|e| input_error(format!("webhook_send input is invalid: {e}")))?;
        input.payload = payload;
        let body = serde_json::to_vec(&input.payload).map_err(|e| input_error(format!("webhook_send `payload`: {e}")))?;
        if body.len() > MAX_PAYLOAD_BYTES {
            return Err(StepError::new(
                "WEBHOOK_PAYLOAD_TOO_LARGE",
                Category::Resource,
                false,
                format!("the webhook payload is {} bytes as JSON, over the limit of {MAX_PAYLOAD_BYTES}", body.len()),
            )
            .with_details(json!({"payload_bytes": body.len(), "limit_bytes": MAX_PAYLOAD_BYTES})));
        }
        if let Some(name) = &input.secret {
            let ok = (1..=128).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
            if !ok {
                return Err(input_error("webhook_send `secret` is the name of a secret: 1 to 128 of A-Z a-z 0-9 _ . -"));
            }
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &input.headers {
            let lower = name.to_ascii_lowercase();
            if lower.starts_with("webhook-") || matches!(lower.as_str(), "content-type" | "content-length" | "host" | "transfer-encoding") {
                return Err(input_error(format!("webhook_send sets the header `{name}` itself")));
            }
            let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| input_error(format!("`{name}` is not a header name")))?;
            let v = HeaderValue::from_str(value)
                .map_err(|_| input_error(format!("the header `{name}` has a value that is not a header value")))?;
            headers.insert(n, v);
        }
        let url = Url::parse(&input.url).map_err(|e| {
            StepError::new("HTTP_INVALID_URL", Category::Validation, false, format!("webhook_send `url` is not a URL: {e}"))
        })?;
        Ok((input, url, body, headers))
    }

    fn now_secs() -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
    }

    #[async_trait]
    impl Skill for WebhookSend {
        fn spec(&self) -> &SkillSpec {
            &self.spec
        }

        async fn execute(&self, ctx: &SkillContext, raw: Value) -> Result<SkillOutput, StepError> {
            let (input, url, body, mut headers) = parse(raw)?;
            // Before any connection or secret read: an internal IP literal never sees a packet.
            self.guard.check_url(&url).map_err(|r| classify::rejected(&r))?;
            let scope = ctx.scope()?;
            let name = input.secret.as_deref().unwrap_or(DEFAULT_SECRET);
            let keys = match scope.secret(name).await {
                Ok(Some(keys)) => keys,
                Ok(None) => {
                    return Err(StepError::new("SECRET_NOT_FOUND", Category::Auth, false, format!("secret `{name}` does not exist")))
                }
                Err(e) => {
                    return Err(StepError::new(
                        "SECRET_BACKEND_ERROR",
                        Category::Transient,
                        true,
                        format!("secret `{name}` could not be read: {e}"),
                    ))
                }
            };
            let id = webhook_id(&ctx.run_id, &ctx.step_id, url.as_str(), &body);
            let timestamp = now_secs();
            let signature = sign(&keys, &id, timestamp, &body).ok_or_else(|| {
                StepError::new(
                    "WEBHOOK_SECRET_INVALID",
                    Category::Auth,
                    false,
                    format!(
                        "the secret `{name}` is not a webhook signing key (`whsec_` and base64, or base64; several separated by spaces)"
                    ),
                )
            })?;
            let header = |v: &str| HeaderValue::from_str(v).map_err(|_| input_error("a webhook header is not a header value"));
            headers.insert("webhook-id", header(&id)?);
            headers.insert("webhook-timestamp", header(&timestamp.to_string())?);
            headers.insert("webhook-signature", header(&signature)?);
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            let client = self.client.get_or_init(|| guarded_client(&self.guard)).as_ref().map_err(|e| {
                StepError::new(
                    "HTTP_CLIENT_UNAVAILABLE",
                    Category::Permanent,
                    false,
                    format!("the HTTP client could not be initialised: {e}"),
                )
            })?;
            let target = guard::redact(&url);
            let limits = [input.timeout_ms.map(Duration::from_millis), ctx_budget(ctx)];
            let budget = limits.into_iter().flatten().min().unwrap_or(Duration::from_millis(super::DEFAULT_TIMEOUT_MS));
            let exchange = async {
                let mut resp =
                    client.post(url.clone()).headers(headers).body(body).send().await.map_err(|e| classify::transport(&e, &target))?;
                let status = resp.status();
                let resp_headers = resp.headers().clone();
                let (text, truncated) = response::read_capped(&mut resp, RESPONSE_BYTES).await.unwrap_or_default();
                if status.is_success() {
                    let answer = if truncated {
                        Value::String(String::from_utf8_lossy(&text).into_owned())
                    } else {
                        response::body_value(&text, response::is_json(&resp_headers))
                    };
                    return Ok(json!({"status": status.as_u16(), "webhook_id": id, "timestamp": timestamp, "response": answer}));
                }
                let retry_after = resp_headers
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| classify::retry_after_ms(v, SystemTime::now()));
                let details = json!({
                    "status": status.as_u16(),
                    "url": target,
                    "webhook_id": id,
                    "body": String::from_utf8_lossy(&text),
                    "body_truncated": truncated,
                });
                Err(classify::status(status.as_u16(), status.canonical_reason().unwrap_or(""), &target, details, retry_after))
            };
            match tokio::time::timeout(budget, exchange).await {
                Ok(Ok(output)) => Ok(SkillOutput { output, cost_usd: 0.0 }),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(classify::timeout(&target, budget)),
            }
        }
    }
}
