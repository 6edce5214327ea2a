//! The plan document: a named DAG of skill steps with templated inputs, error handling, retries
//! and a budget. Plans are JSON; this module is their typed shape.

use crate::outcome::Category;
use crate::policy::PolicyMode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// A plan: what to run. Submitted inline with a run or saved as a versioned workflow.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// The JSON Schema this file follows (`docs/plan.schema.json`), for editors. Accepted and
    /// dropped when the plan is read: never stored, returned or hashed, so a plan with it and
    /// the same plan without it are one plan (same idempotency match, same workflow hash).
    #[serde(rename = "$schema", default, skip_serializing_if = "always", deserialize_with = "drop_schema_key")]
    #[schema(value_type = Option<String>, max_length = 2048)]
    pub schema_key: (),
    /// Human-readable name.
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub name: String,
    /// Optional JSON Schema the run's `inputs` must satisfy: an object, or a boolean (`true`
    /// accepts any inputs, `false` none), as JSON Schema allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = json_schema_document)]
    pub input_schema: Option<Value>,
    /// The steps. Order matters only as a tie-breaker for the deterministic trace order.
    #[schema(min_items = 1, max_items = 200)]
    pub steps: Vec<Step>,
    #[serde(default, deserialize_with = "object_only")]
    pub budget: Budget,
    /// How the tenant's recovery policies apply: `on` (fill in what the plan leaves unset, the
    /// default), `off`, or `override` (replace the plan's own settings too).
    #[serde(default, skip_serializing_if = "PolicyMode::is_default")]
    pub policies: PolicyMode,
}

/// One step: a skill invocation with its input and policies.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Unique within the plan: letters, digits, `_` and `-`.
    #[schema(min_length = 1, max_length = 100, pattern = "^[A-Za-z0-9_-]+$")]
    pub id: String,
    /// A registered skill id, e.g. `http_call`.
    #[schema(min_length = 1, max_length = 100)]
    pub skill: String,
    /// The skill input. Strings may reference `{{ inputs.x }}`, `{{ steps.<id>.output.<path> }}`
    /// and `{{ secrets.NAME }}`.
    #[serde(default)]
    pub input: Value,
    /// Steps that must finish first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// A jq expression over `{inputs, steps}`; the step runs only when it yields a truthy value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 4096)]
    pub condition: Option<String>,
    #[serde(default)]
    pub on_error: OnError,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// Per-attempt timeout; the skill's default applies when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 900000)]
    pub timeout_ms: Option<u64>,
}

/// What a step's final failure does to the run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default, ToSchema)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum OnError {
    /// Fail the run (the default).
    #[default]
    Abort,
    /// Record the failure; the run goes on. Steps that depend on this one are skipped.
    Continue,
    /// Run another skill in its place; its output becomes this step's output.
    Fallback {
        /// A registered skill id, run with `input` when this step's attempts are spent.
        #[schema(min_length = 1, max_length = 100)]
        skill: String,
        #[serde(default)]
        #[schema(value_type = Object)]
        input: Value,
    },
}

/// Retries of one step: exponential backoff with deterministic jitter.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Total attempts including the first (1 = no retry).
    #[schema(minimum = 1, maximum = 20)]
    pub max_attempts: u32,
    #[serde(default = "default_initial_delay")]
    pub initial_delay_ms: u64,
    #[serde(default = "default_max_delay")]
    #[schema(maximum = 900000)]
    pub max_delay_ms: u64,
    #[serde(default = "default_multiplier")]
    #[schema(minimum = 1, maximum = 10)]
    pub multiplier: f64,
    /// Categories that retry. When absent, an error retries when it says it is retryable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_on: Option<Vec<Category>>,
}

/// `$schema` is never written (`skip_serializing_if` rather than `skip_serializing`: the key is in the
/// plan's schema, which must say a plan may carry it).
fn always(_: &()) -> bool {
    true
}

/// Reads `$schema` (a string of at most 2048 characters or null, as the schema says) and keeps nothing.
fn drop_schema_key<'de, D: serde::Deserializer<'de>>(d: D) -> Result<(), D::Error> {
    let uri = Option::<String>::deserialize(d)?.unwrap_or_default();
    if uri.chars().count() > 2048 {
        return Err(serde::de::Error::custom("`$schema` has more than 2048 characters"));
    }
    Ok(())
}

fn default_initial_delay() -> u64 {
    200
}
fn default_max_delay() -> u64 {
    10_000
}
fn default_multiplier() -> f64 {
    2.0
}

impl Default for RetryPolicy {
    /// The policy when a plan names none: up to 3 attempts for errors that say they are retryable.
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_delay_ms: default_initial_delay(),
            max_delay_ms: default_max_delay(),
            multiplier: default_multiplier(),
            retry_on: None,
        }
    }
}

/// Per-run limits. Exceeding either fails the run with a budget outcome.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Maximum total cost in USD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub max_cost_usd: Option<f64>,
    /// Maximum wall-clock duration of the run: 15 minutes when absent, unlimited when `null`.
    // Serialized even when `null`: an absent field means the default, so "unlimited" must be stored.
    #[serde(default = "default_max_duration")]
    #[schema(minimum = 1, maximum = 2592000000_u64)]
    pub max_duration_ms: Option<u64>,
}

/// The duration budget of a run that names none.
pub const DEFAULT_MAX_DURATION_MS: u64 = 15 * 60 * 1000;

fn default_max_duration() -> Option<u64> {
    Some(DEFAULT_MAX_DURATION_MS)
}

impl Default for Budget {
    fn default() -> Self {
        Self { max_cost_usd: None, max_duration_ms: default_max_duration() }
    }
}

impl Plan {
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }
}

/// The OpenAPI schema of a field holding a JSON Schema: an object or a boolean (or null).
fn json_schema_document() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Boolean, Type::Null]))
        .description(Some(
            "Optional JSON Schema the run's `inputs` must satisfy: an object, or a boolean (`true` accepts any inputs, `false` none).",
        ))
        .build()
}

/// Reads a struct only from a JSON object: serde's derived `Deserialize` also reads a struct from
/// an array of its fields (`"budget": [null, null]`), which the document does not allow (found by
/// the contract fuzzing of tests/contract/run.sh).
fn object_only<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    struct ObjectVisitor<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for ObjectVisitor<T> {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_map(ObjectVisitor(std::marker::PhantomData))
}
