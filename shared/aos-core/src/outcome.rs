//! Structured outcomes: every step attempt ends in `{ok: true, output}` or
//! `{ok: false, error: {code, category, message, retryable, details}}`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// Failure categories shared with the failure catalog.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Category {
    Transient,
    RateLimit,
    Auth,
    Validation,
    NotFound,
    Conflict,
    Resource,
    Security,
    Permanent,
}

impl Category {
    pub fn as_str(&self) -> &'static str {
        match self {
            Category::Transient => "TRANSIENT",
            Category::RateLimit => "RATE_LIMIT",
            Category::Auth => "AUTH",
            Category::Validation => "VALIDATION",
            Category::NotFound => "NOT_FOUND",
            Category::Conflict => "CONFLICT",
            Category::Resource => "RESOURCE",
            Category::Security => "SECURITY",
            Category::Permanent => "PERMANENT",
        }
    }
}

/// A structured step failure.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct StepError {
    /// Machine-readable code, e.g. `HTTP_503`, `STEP_TIMEOUT`, `SKILL_PANIC`.
    pub code: String,
    pub category: Category,
    pub message: String,
    pub retryable: bool,
    /// Structured context (status, headers, `retry_after_ms`, ...); `null` when there is none.
    #[serde(default)]
    #[schema(required = true)]
    pub details: Value,
}

impl StepError {
    pub fn new(code: impl Into<String>, category: Category, retryable: bool, message: impl Into<String>) -> Self {
        Self { code: code.into(), category, message: message.into(), retryable, details: Value::Null }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

/// The result of one attempt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(untagged)]
pub enum Outcome {
    Ok { ok: OkTrue, output: Value },
    Err { ok: OkFalse, error: StepError },
}

/// Literal `true` in the outcome's `ok` field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OkTrue;
/// Literal `false` in the outcome's `ok` field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OkFalse;

/// In the OpenAPI document both are booleans with a single allowed value: the discriminator of
/// `Outcome`.
macro_rules! literal_bool_schema {
    ($t:ty, $v:expr, $doc:expr) => {
        impl utoipa::PartialSchema for $t {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::Boolean)
                    .enum_values(Some([$v]))
                    .description(Some($doc))
                    .into()
            }
        }
        impl ToSchema for $t {}
    };
}
literal_bool_schema!(OkTrue, true, "Always `true`: the attempt succeeded.");
literal_bool_schema!(OkFalse, false, "Always `false`: the attempt failed.");

macro_rules! literal_bool {
    ($t:ty, $v:expr) => {
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bool($v)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let b = bool::deserialize(d)?;
                if b == $v {
                    Ok(Self)
                } else {
                    Err(serde::de::Error::custom(concat!("expected ", stringify!($v))))
                }
            }
        }
    };
}
literal_bool!(OkTrue, true);
literal_bool!(OkFalse, false);

impl Outcome {
    pub fn ok(output: Value) -> Self {
        Outcome::Ok { ok: OkTrue, output }
    }
    pub fn err(error: StepError) -> Self {
        Outcome::Err { ok: OkFalse, error }
    }
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok { .. })
    }
    pub fn output(&self) -> Option<&Value> {
        match self {
            Outcome::Ok { output, .. } => Some(output),
            Outcome::Err { .. } => None,
        }
    }
    pub fn error(&self) -> Option<&StepError> {
        match self {
            Outcome::Err { error, .. } => Some(error),
            Outcome::Ok { .. } => None,
        }
    }
}
