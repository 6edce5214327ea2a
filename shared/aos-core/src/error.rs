//! Domain errors with machine-readable codes. The API maps them to HTTP statuses; the code and the
//! named step and field travel to the client unchanged.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One problem found in a plan or request, naming where it is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct FieldError {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_id: Option<String>,
    /// JSON-pointer-like path of the offending field, e.g. `steps[2].input.url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl FieldError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self { code: code.into(), message: message.into(), step_id: None, field: None }
    }
    pub fn step(mut self, step_id: &str) -> Self {
        self.step_id = Some(step_id.to_string());
        self
    }
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The plan or request is well-formed JSON but not acceptable (HTTP 422).
    #[error("{}", .0.first().map(|e| e.message.as_str()).unwrap_or("invalid"))]
    Invalid(Vec<FieldError>),
    #[error("{0} not found")]
    NotFound(String),
    /// A concurrent change got in the way; retrying shortly can succeed (HTTP 409 `CONCURRENT_UPDATE`).
    #[error("{0}")]
    Conflict(String),
    /// The resource is in a state that does not allow the operation; retrying will not help
    /// (HTTP 409 with `code`, e.g. `RUN_ALREADY_FINISHED`).
    #[error("{message}")]
    InvalidState { code: &'static str, message: String },
    #[error("storage: {0}")]
    Storage(String),
}

impl DomainError {
    pub fn invalid(e: FieldError) -> Self {
        DomainError::Invalid(vec![e])
    }
}
