//! Domain errors with machine-readable codes. The API maps them to HTTP statuses; the code and the
//! named step and field travel to the client unchanged. Also the one configuration error every
//! settings parser returns ([`ConfigError`]).

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
    /// Storage is unavailable (a backend error, a timeout); retrying later can succeed (HTTP 503
    /// `STORAGE_UNAVAILABLE`).
    #[error("storage: {0}")]
    Storage(String),
    /// A stored record (or the database holding it) is damaged or undecodable: retrying cannot
    /// help, restoring the data does (HTTP 500 `CORRUPT_RECORD`; a queue message about it is
    /// dropped).
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

impl DomainError {
    pub fn invalid(e: FieldError) -> Self {
        DomainError::Invalid(vec![e])
    }

    /// A stored record that does not decode: `what` names it (`run record t#a#run#r1`).
    pub fn corrupt(what: impl std::fmt::Display, error: impl std::fmt::Display) -> Self {
        DomainError::Corrupt(format!("{what}: {error}"))
    }

    /// Whether the same request can succeed later without anything being repaired first.
    pub fn is_transient(&self) -> bool {
        matches!(self, DomainError::Storage(_) | DomainError::Conflict(_))
    }
}

/// What a store error means to the domain: a failed condition is a concurrent change (retry), a
/// bad cursor the caller's mistake, a backend failure unavailability, damage is damage. Callers
/// that expect a condition to fail (optimistic concurrency, idempotency) match on
/// [`StoreError`](crate::ports::StoreError) before converting.
impl From<crate::ports::StoreError> for DomainError {
    fn from(e: crate::ports::StoreError) -> Self {
        use crate::ports::StoreError;
        match e {
            StoreError::ConditionFailed | StoreError::TransactionCanceled { .. } => {
                DomainError::Conflict(format!("a concurrent change got in the way ({e}); retry"))
            }
            StoreError::BadCursor => DomainError::invalid(FieldError::new("INVALID_CURSOR", "cursor is not valid").field("cursor")),
            StoreError::Backend(m) => DomainError::Storage(m),
            StoreError::Corrupt(m) => DomainError::Corrupt(m),
        }
    }
}

/// A setting that is missing or cannot be used, naming the variable (or flag) and why. Every
/// settings parser returns it: the runtime's (`aos_runtime::settings`), `aos serve`'s, the AWS
/// adapters'.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set")]
    Missing(String),
    #[error("{name}={value:?} is not valid: {reason}")]
    Invalid { name: String, value: String, reason: String },
    /// A setting that does not fit the others (an issuer without an audience); `reason` says
    /// which, naming `name` first.
    #[error("{reason}")]
    Inconsistent { name: String, reason: String },
}

impl ConfigError {
    pub fn missing(name: impl Into<String>) -> Self {
        ConfigError::Missing(name.into())
    }

    pub fn invalid(name: impl Into<String>, value: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError::Invalid { name: name.into(), value: value.into(), reason: reason.into() }
    }

    /// The variable or flag at fault.
    pub fn name(&self) -> &str {
        match self {
            ConfigError::Missing(name) | ConfigError::Invalid { name, .. } | ConfigError::Inconsistent { name, .. } => name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::StoreError;

    #[test]
    fn store_errors_keep_their_meaning() {
        assert!(matches!(DomainError::from(StoreError::Corrupt("items(a, b)".into())), DomainError::Corrupt(m) if m == "items(a, b)"));
        assert!(matches!(DomainError::from(StoreError::Backend("locked".into())), DomainError::Storage(m) if m == "locked"));
        assert!(matches!(DomainError::from(StoreError::ConditionFailed), DomainError::Conflict(_)));
        assert!(matches!(DomainError::from(StoreError::BadCursor), DomainError::Invalid(f) if f[0].code == "INVALID_CURSOR"));
        assert!(DomainError::Storage("x".into()).is_transient() && !DomainError::Corrupt("x".into()).is_transient());
        assert_eq!(DomainError::corrupt("run record r1", "EOF").to_string(), "corrupt record: run record r1: EOF");
    }
}
