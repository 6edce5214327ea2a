//! Failures of `http_call` as structured step errors: the status code or transport failure
//! decides the category and whether a retry can help.

use super::guard::{DnsFailure, Rejected};
use aos_core::outcome::{Category, StepError};
use serde_json::{json, Value};
use std::error::Error as StdError;
use std::time::{Duration, SystemTime};

/// Redirects followed before giving up.
pub const MAX_REDIRECTS: usize = 5;

pub fn rejected(r: &Rejected) -> StepError {
    match r {
        Rejected::Blocked { host, addr, reason } => StepError::new("HTTP_BLOCKED_ADDRESS", Category::Security, false, r.to_string())
            .with_details(
                json!({"host": host, "address": addr.to_string(), "reason": reason.trim_start_matches("a ").trim_start_matches("an ")}),
            ),
        Rejected::InvalidUrl { reason, .. } => {
            StepError::new("HTTP_INVALID_URL", Category::Validation, false, r.to_string()).with_details(json!({"reason": reason}))
        }
    }
}

/// A failure before a complete response arrived.
pub fn transport(err: &reqwest::Error, target: &str) -> StepError {
    let chain = causes(err);
    let detail = chain.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(": ");
    let details = json!({"url": target, "cause": detail});
    for cause in &chain {
        if let Some(r) = cause.downcast_ref::<Rejected>() {
            return rejected(r);
        }
        if let Some(d) = cause.downcast_ref::<DnsFailure>() {
            return StepError::new("HTTP_DNS_ERROR", Category::Transient, true, d.to_string()).with_details(details);
        }
    }
    let (code, category, retryable, what) = if err.is_timeout() {
        ("HTTP_TIMEOUT", Category::Transient, true, "timed out")
    } else if err.is_redirect() {
        return too_many_redirects(target, details);
    } else if err.is_builder() {
        ("HTTP_INVALID_URL", Category::Validation, false, "could not be built")
    } else if is_tls(&chain) {
        ("HTTP_TLS_ERROR", Category::Security, false, "failed the TLS handshake")
    } else {
        ("HTTP_CONNECT_ERROR", Category::Transient, true, "lost or could not open its connection")
    };
    StepError::new(code, category, retryable, format!("request to {target} {what}: {detail}")).with_details(details)
}

pub fn timeout(target: &str, budget: Duration) -> StepError {
    let ms = budget.as_millis() as u64;
    StepError::new("HTTP_TIMEOUT", Category::Transient, true, format!("no complete response from {target} within {ms} ms"))
        .with_details(json!({"url": target, "timeout_ms": ms}))
}

pub fn body_too_large(target: &str, limit: u64) -> StepError {
    StepError::new("HTTP_BODY_TOO_LARGE", Category::Resource, false, format!("response body from {target} exceeds {limit} bytes"))
        .with_details(json!({"url": target, "max_response_bytes": limit}))
}

pub fn too_many_redirects(target: &str, details: Value) -> StepError {
    StepError::new(
        "HTTP_TOO_MANY_REDIRECTS",
        Category::Permanent,
        false,
        format!("request to {target} was redirected more than {MAX_REDIRECTS} times"),
    )
    .with_details(details)
}

/// What a non-2xx response says about retrying: server trouble and rate limits pass, the rest
/// needs a different request.
pub fn status(status: u16, reason: &str, target: &str, mut details: Value, retry_after_ms: Option<u64>) -> StepError {
    let (category, retryable) = match status {
        408 | 500..=599 => (Category::Transient, true),
        429 => (Category::RateLimit, true),
        401 | 403 => (Category::Auth, false),
        404 | 410 => (Category::NotFound, false),
        409 | 412 => (Category::Conflict, false),
        413 => (Category::Resource, false),
        400..=499 => (Category::Validation, false),
        _ => (Category::Permanent, false),
    };
    if let (Some(ms), Some(obj)) = (retry_after_ms, details.as_object_mut()) {
        obj.insert("retry_after_ms".into(), json!(ms));
    }
    StepError::new(
        format!("HTTP_{status}"),
        category,
        retryable,
        format!("{target} answered HTTP {status} {reason}").trim_end().to_string(),
    )
    .with_details(details)
}

/// `Retry-After` is either delay-seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn retry_after_ms(value: &str, now: SystemTime) -> Option<u64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds.saturating_mul(1000));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).map_or(0, |d| d.as_millis() as u64))
}

/// The error and everything behind it. An I/O error's `source` skips the error it wraps, and
/// the TLS stack nests I/O errors, so wrapped errors are followed explicitly.
fn causes<'a>(err: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut chain = Vec::new();
    let mut next = Some(err);
    while let Some(cause) = next {
        chain.push(cause);
        next = match cause.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => cause.source(),
        };
    }
    chain
}

fn is_tls(chain: &[&(dyn StdError + 'static)]) -> bool {
    chain.iter().any(|c| c.is::<rustls::Error>())
}
