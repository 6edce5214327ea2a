//! The API's one error shape: `{"error": {"code", "message", "details"}}` with the right status.
//! Bad input is a 4xx naming the field; storage trouble is a 503; nothing maps to a bare 500.

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
            DomainError::Storage(m) => {
                tracing::error!(error = %m, "storage error");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "STORAGE_UNAVAILABLE", "storage is unavailable; retry later").retry_after(1)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = self.retry_after;
        let body = ErrorBody { error: ErrorDetail { code: self.code, message: self.message, details: self.details } };
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(s) = retry_after {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(s));
        }
        resp
    }
}
