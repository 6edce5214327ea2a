//! `http_call`: one HTTP request through a shared client. Internal addresses are refused unless
//! the deployment opens them; every failure is classified so the runtime knows whether to retry.

pub(crate) mod classify;
pub mod guard;
pub mod redirect;
mod request;
pub(crate) mod response;

use crate::budget::ctx_budget;
use crate::SkillsConfig;
use aos_core::outcome::{Category, StepError};
use aos_core::skill::SideEffects;
use aos_core::skill::{Skill, SkillContext, SkillOutput, SkillSpec};
use async_trait::async_trait;
use guard::{AddressGuard, GuardedResolver};
use reqwest::header::{HeaderValue, RETRY_AFTER};
use reqwest::{Client, Method};
use serde_json::{json, Value};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

/// Bytes of a failed response's body kept in the error details.
const ERROR_BODY_BYTES: u64 = 4096;
const IDEMPOTENCY_KEY: &str = "idempotency-key";

pub struct HttpCall {
    spec: SkillSpec,
    /// Built at the first request, then shared: it holds the connection pool and the root
    /// certificates, which a process that never calls out (a Lambda's init) need not load.
    /// Building only fails if TLS cannot be set up.
    client: OnceLock<Result<Client, String>>,
    guard: Arc<AddressGuard>,
    max_response_bytes: u64,
    default_timeout_ms: u64,
}

impl HttpCall {
    pub fn new(config: &SkillsConfig) -> Self {
        Self {
            spec: crate::http_spec::spec(config.http_default_timeout_ms),
            client: OnceLock::new(),
            guard: Arc::new(AddressGuard::new(&config.http_allow_hosts)),
            max_response_bytes: config.http_max_response_bytes,
            default_timeout_ms: config.http_default_timeout_ms,
        }
    }

    fn client(&self) -> &Result<Client, String> {
        self.client.get_or_init(|| guarded_client(&self.guard))
    }

    /// The input's timeout and the step's budget, whichever is shorter; the configured default
    /// only when neither is set.
    fn budget(&self, ctx: &SkillContext, input_ms: Option<u64>) -> Duration {
        let limits = [input_ms.map(Duration::from_millis), ctx_budget(ctx)];
        limits.into_iter().flatten().min().unwrap_or(Duration::from_millis(self.default_timeout_ms))
    }

    /// Sends the request and follows redirects (at most `MAX_REDIRECTS`), checking each target
    /// with the guard before connecting and stripping what must not cross origins.
    async fn exchange(&self, client: &Client, mut req: redirect::Outgoing, target: &str) -> Result<SkillOutput, StepError> {
        let mut hops = 0;
        let mut resp = loop {
            let mut builder = client.request(req.method.clone(), req.url.clone()).headers(req.headers.clone());
            if let Some(body) = &req.body {
                builder = builder.body(body.clone());
            }
            let resp = builder.send().await.map_err(|e| classify::transport(&e, target))?;
            let Some(next) = redirect::target(&resp) else { break resp };
            hops += 1;
            if hops > classify::MAX_REDIRECTS {
                return Err(classify::too_many_redirects(target, json!({"url": target, "redirects": hops - 1})));
            }
            self.guard.check_url(&next).map_err(|r| classify::rejected(&r))?;
            req = req.redirected(resp.status(), next);
        };
        let status = resp.status();
        let headers = resp.headers().clone();
        let json = response::is_json(&headers);
        if status.is_success() {
            if resp.content_length().is_some_and(|n| n > self.max_response_bytes) {
                return Err(classify::body_too_large(target, self.max_response_bytes));
            }
            let (body, exceeded) =
                response::read_capped(&mut resp, self.max_response_bytes).await.map_err(|e| classify::transport(&e, target))?;
            if exceeded {
                return Err(classify::body_too_large(target, self.max_response_bytes));
            }
            let output =
                json!({"status": status.as_u16(), "headers": response::header_object(&headers), "body": response::body_value(&body, json)});
            return Ok(SkillOutput { output, cost_usd: 0.0 });
        }
        // The failure is the status; a body that breaks off only shortens the excerpt.
        let (body, truncated) = response::read_capped(&mut resp, ERROR_BODY_BYTES).await.unwrap_or_default();
        let retry_after =
            headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(|v| classify::retry_after_ms(v, SystemTime::now()));
        let details = json!({
            "status": status.as_u16(),
            "url": target,
            "headers": response::header_object(&headers),
            "body": String::from_utf8_lossy(&body),
            "body_truncated": truncated,
        });
        Err(classify::status(status.as_u16(), status.canonical_reason().unwrap_or(""), target, details, retry_after))
    }
}

/// The HTTP client of the skills that call out (`http_call`, `webhook_send`, `slack_send`): every
/// address a name resolves to passes `guard` before a connection, no proxy, no redirect followed
/// by the client itself, no Referer.
pub(crate) fn guarded_client(guard: &Arc<AddressGuard>) -> Result<Client, String> {
    Client::builder()
        // A proxy would resolve names itself, out of the guard's sight.
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver::new(guard.clone())))
        // Redirects are followed by `exchange`, which checks each target and decides
        // which headers go along (see `redirect`); the other skills follow none.
        .redirect(reqwest::redirect::Policy::none())
        // The previous URL, query string included, never goes to the next host.
        .referer(false)
        .user_agent(concat!("aos/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())
}

#[async_trait]
impl Skill for HttpCall {
    fn spec(&self) -> &SkillSpec {
        &self.spec
    }

    /// GET, HEAD and OPTIONS are safe methods (RFC 9110 §9.2.1): repeating one after a crash
    /// changes nothing, so only the other methods are claimed before they run.
    fn side_effects_of(&self, input: &Value) -> SideEffects {
        let method = input.get("method").and_then(Value::as_str).unwrap_or("GET").to_ascii_uppercase();
        if matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS") {
            SideEffects::Read
        } else {
            SideEffects::Write
        }
    }

    async fn execute(&self, ctx: &SkillContext, input: Value) -> Result<SkillOutput, StepError> {
        let req = request::parse(input)?;
        // Before any connection: IP-literal hosts (the metadata address among them) never see a packet.
        self.guard.check_url(&req.url).map_err(|r| classify::rejected(&r))?;
        let client = self.client().as_ref().map_err(|e| {
            StepError::new("HTTP_CLIENT_UNAVAILABLE", Category::Permanent, false, format!("the HTTP client could not be initialised: {e}"))
        })?;
        let target = guard::redact(&req.url);
        let budget = self.budget(ctx, req.timeout_ms);
        let mut headers = req.headers;
        let idempotency_key = if req.method != Method::GET {
            let key = HeaderValue::from_str(&ctx.idempotency_key).map_err(|_| {
                StepError::new("SKILL_INPUT_INVALID", Category::Validation, false, "the idempotency key is not a valid header value")
            })?;
            if !headers.contains_key(IDEMPOTENCY_KEY) {
                headers.insert(IDEMPOTENCY_KEY, key.clone());
            }
            Some(key)
        } else {
            None
        };
        let body = match req.body {
            Some(request::Body::Text(text)) => {
                if !headers.contains_key(reqwest::header::CONTENT_TYPE) {
                    headers.insert(reqwest::header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
                }
                Some(text.into_bytes())
            }
            Some(request::Body::Json(bytes)) => {
                if !headers.contains_key(reqwest::header::CONTENT_TYPE) {
                    headers.insert(reqwest::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                }
                Some(bytes)
            }
            None => None,
        };
        let outgoing = redirect::Outgoing { method: req.method, url: req.url, headers, body, idempotency_key };
        match tokio::time::timeout(budget, self.exchange(client, outgoing, &target)).await {
            Ok(result) => result,
            Err(_) => Err(classify::timeout(&target, budget)),
        }
    }
}
