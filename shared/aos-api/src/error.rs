//! The API's one error shape: `{"error": {"code", "message", "details"}}` with the right status.
//! Bad input is a 4xx naming the field; storage trouble is a 503 (retry) and a corrupt record
//! (`DomainError::Corrupt`) a 500 `CORRUPT_RECORD` (do not retry); nothing maps to a bare 500. Whatever the request itself
//! supplied (a field name, a value) is echoed at most [`ECHO_CHARS`] characters long.

use aos_core::DomainError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable, e.g. `PLAN_UNKNOWN_SKILL`, `NOT_FOUND`, `UNAUTHENTICATED`.
    pub code: String,
    pub message: String,
    /// For validation errors: `{"errors": [{code, message, step_id, field}]}`.
    #[schema(value_type = Object)]
    pub details: Value,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub details: Value,
    /// Seconds to send in `Retry-After`, for errors a client should retry.
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self { status, code: code.to_string(), message: message.into(), details: json!({}), retry_after: None }
    }
    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
    pub fn bad_request(code: &str, message: impl Into<String>, field: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message).with_details(json!({"field": field}))
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid(errors) => {
                let first = errors.first().cloned();
                let code = first.as_ref().map(|f| f.code.clone()).unwrap_or_else(|| "INVALID".into());
                let message = match (&first, errors.len()) {
                    (Some(f), 1) => f.message.clone(),
                    (Some(f), n) => format!("{} (and {} more problems)", f.message, n - 1),
                    (None, _) => "invalid request".into(),
                };
                let mut details = json!({"errors": errors});
                if let Some(f) = first {
                    details["step_id"] = json!(f.step_id);
                    details["field"] = json!(f.field);
                }
                ApiError { status: StatusCode::UNPROCESSABLE_ENTITY, code, message, details, retry_after: None }
            }
            DomainError::NotFound(what) => ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", format!("{what} not found")),
            DomainError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "CONCURRENT_UPDATE", m).retry_after(1),
            DomainError::InvalidState { code, message } => ApiError::new(StatusCode::CONFLICT, code, message),
            DomainError::Corrupt(m) => {
                tracing::error!(error = %m, "corrupt record in storage");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "CORRUPT_RECORD",
                    "a stored record is corrupt; retrying will not help. The operator must restore the data (see the server log)",
                )
            }
            DomainError::Storage(m) => {
                tracing::error!(error = %m, "storage error");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "STORAGE_UNAVAILABLE", "storage is unavailable; retry later").retry_after(1)
            }
        }
    }
}

/// Longest echo of request-supplied text (a quoted name or value) in an error.
pub const ECHO_CHARS: usize = 100;
/// Longest error message, and longest `details.field` / `details.step_id`.
const MESSAGE_CHARS: usize = 1000;
const FIELD_CHARS: usize = 200;

/// `s` cut to `max` characters, marked with `…` when cut.
pub fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

/// Every `` `quoted` `` or `"quoted"` part of `message` longer than [`ECHO_CHARS`] cut to that
/// (serde names unknown fields and variants in backquotes and echoes strings in double quotes),
/// then the whole message to 1000 characters.
pub fn clip_echoes(message: &str) -> String {
    if message.len() <= ECHO_CHARS {
        return message.to_string();
    }
    let mut out = String::with_capacity(message.len().min(2 * MESSAGE_CHARS));
    let mut rest = message;
    while let Some(open) = rest.find(['`', '"']) {
        let quote = rest.as_bytes()[open] as char;
        out.push_str(&rest[..=open]);
        rest = &rest[open + 1..];
        let close = rest.find(quote).unwrap_or(rest.len());
        out.push_str(&clip(&rest[..close], ECHO_CHARS));
        rest = &rest[close..];
        if let Some(q) = rest.strip_prefix(quote) {
            out.push(quote);
            rest = q;
        }
        if out.len() > 4 * MESSAGE_CHARS {
            break;
        }
    }
    out.push_str(rest);
    clip(&out, MESSAGE_CHARS)
}

fn clip_details(details: &mut Value) {
    match details {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                match value {
                    Value::String(s) if key == "field" || key == "step_id" => *s = clip(s, FIELD_CHARS),
                    other => clip_details(other),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(clip_details),
        Value::String(s) => *s = clip_echoes(s),
        _ => {}
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = self.retry_after;
        let mut details = self.details;
        clip_details(&mut details);
        let body = ErrorBody { error: ErrorDetail { code: self.code, message: clip_echoes(&self.message), details } };
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(s) = retry_after {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(s));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_echoes_are_cut() {
        let name = "x".repeat(100_000);
        let m = clip_echoes(&format!("unknown field `{name}`, expected one of `a`, `b`"));
        assert!(m.len() < 200 && m.starts_with("unknown field `xxx") && m.ends_with("…`, expected one of `a`, `b`"), "{m}");
        let m = clip_echoes(&format!("invalid type: string \"{name}\", expected u64"));
        assert!(m.len() < 200 && m.ends_with("…\", expected u64"), "{m}");
        let m = clip_echoes(&format!("unterminated `{name}"));
        assert!(m.len() < 200, "{m}");
        assert_eq!(clip_echoes("short `name`"), "short `name`");
        assert_eq!(clip("ééé", 2), "éé…");
        let mut d = json!({"field": name, "errors": [{"message": format!("bad `{name}`"), "step_id": "s"}]});
        clip_details(&mut d);
        assert!(d.to_string().len() < 500, "{d}");
    }

    #[test]
    fn corrupt_records_are_not_retryable() {
        use aos_core::ports::StoreError;
        let e = ApiError::from(DomainError::from(StoreError::Corrupt("items(t#a, run): expected value".into())));
        assert_eq!((e.status.as_u16(), e.code.as_str(), e.retry_after), (500, "CORRUPT_RECORD", None));
        let e = ApiError::from(DomainError::corrupt("run record r1", "missing field"));
        assert_eq!(e.code, "CORRUPT_RECORD");
        let e = ApiError::from(DomainError::from(StoreError::Backend("database is locked".into())));
        assert_eq!((e.status.as_u16(), e.code.as_str(), e.retry_after), (503, "STORAGE_UNAVAILABLE", Some(1)));
        // The kind decides, not the words: unavailability that mentions corruption is still a 503.
        let e = ApiError::from(DomainError::Storage("corrupt record: says the message".into()));
        assert_eq!(e.status.as_u16(), 503);
    }
}
