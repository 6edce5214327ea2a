//! `json_transform`: runs a jq program over JSON. Pure and deterministic, so replay re-runs it.
//! The program is user code: it runs in aos-jq's sandbox (a worker process with memory, stack
//! and time limits, killed at the step's deadline), which also caches compiled programs.

use crate::budget::ctx_budget;
use crate::mode;
use aos_core::outcome::{Category, StepError};
use aos_core::skill::{input_error, CostModel, Determinism, SideEffects, Skill, SkillContext, SkillOutput, SkillSpec};
use aos_jq::sandbox::{self, EvalLimits};
use aos_jq::JqError;
use async_trait::async_trait;
use serde_json::{json, Value};
use std::time::Duration;

const USD_PER_CALL: f64 = 0.000_001;
/// The longest program a step may run (characters); validation compiles programs up to it.
pub const MAX_EXPR_CHARS: usize = aos_core::validate::MAX_EXPR_CHARS;
/// The sandbox needs a deadline; this one applies when the context sets no time limit.
const UNLIMITED_STEP_TIMEOUT: Duration = Duration::from_secs(60);

pub struct JsonTransform {
    spec: SkillSpec,
}

impl Default for JsonTransform {
    fn default() -> Self {
        Self::new()
    }
}

impl JsonTransform {
    pub fn new() -> Self {
        Self { spec: spec() }
    }
}

#[async_trait]
impl Skill for JsonTransform {
    fn spec(&self) -> &SkillSpec {
        &self.spec
    }

    async fn execute(&self, ctx: &SkillContext, input: Value) -> Result<SkillOutput, StepError> {
        let (data, expr) = parse_input(input)?;
        // One tenant's programs hold at most half of the sandbox's workers at once.
        // The program's time limit ends before the step's own timeout, so a runaway program is
        // reported as the limit it is (not retried), not as a transient STEP_TIMEOUT.
        let budget = ctx_budget(ctx).unwrap_or(UNLIMITED_STEP_TIMEOUT);
        let margin = (budget / 5).clamp(Duration::from_millis(50), Duration::from_secs(1));
        let mut limits = EvalLimits::new(budget.saturating_sub(margin));
        if !ctx.tenant.is_empty() {
            limits = limits.with_owner(ctx.tenant.as_str());
        }
        let outputs = sandbox::run(&expr, &data, &limits).await.map_err(|e| jq_error(&expr, e))?;
        let output = match outputs.len() {
            0 => Value::Null,
            1 => outputs.into_iter().next().unwrap_or(Value::Null),
            _ => Value::Array(outputs),
        };
        Ok(SkillOutput { output, cost_usd: USD_PER_CALL })
    }
}

fn parse_input(input: Value) -> Result<(Value, String), StepError> {
    let Value::Object(mut fields) = input else {
        return Err(input_error("json_transform input must be an object with `data` and `expr`"));
    };
    if let Some(unknown) = fields.keys().find(|k| *k != "data" && *k != "expr") {
        return Err(input_error(format!("json_transform input has unknown field `{unknown}` (allowed: data, expr)")));
    }
    let data = fields.remove("data").ok_or_else(|| input_error("json_transform input is missing `data`"))?;
    match fields.remove("expr") {
        Some(Value::String(expr)) if expr.chars().count() > MAX_EXPR_CHARS => {
            Err(input_error(format!("json_transform `expr` has more than {MAX_EXPR_CHARS} characters")))
        }
        Some(Value::String(expr)) if !expr.trim().is_empty() => Ok((data, expr)),
        Some(Value::String(_)) => Err(input_error("json_transform `expr` is empty")),
        Some(other) => Err(input_error(format!("json_transform `expr` must be a string, got {}", kind(&other)))),
        None => Err(input_error("json_transform input is missing `expr`")),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn jq_error(expr: &str, e: JqError) -> StepError {
    match e {
        JqError::Compile { message, position } => {
            let (line, column) = position.map_or((Value::Null, Value::Null), |p| (json!(p.line), json!(p.column)));
            StepError::new("JQ_COMPILE_ERROR", Category::Validation, false, format!("jq program does not compile: {message}"))
                .with_details(json!({"expr": expr, "line": line, "column": column}))
        }
        JqError::Runtime { message, value } => {
            StepError::new("JQ_RUNTIME_ERROR", Category::Validation, false, format!("jq program failed: {message}"))
                .with_details(json!({"expr": expr, "error_value": value}))
        }
        JqError::Limit { kind, message } => {
            StepError::new("JQ_LIMIT_EXCEEDED", Category::Resource, false, format!("jq program stopped: {message}"))
                .with_details(json!({"expr": expr, "limit": kind.as_str()}))
        }
        JqError::Busy { message } => {
            StepError::new("JQ_SANDBOX_BUSY", Category::Transient, true, format!("jq program could not start: {message}"))
                .with_details(json!({"expr": expr}))
        }
    }
}

/// `json_transform`'s declaration.
pub fn spec() -> SkillSpec {
    SkillSpec {
        id: "json_transform".into(),
        version: "1.0.0".into(),
        description: "Runs a jq program (jq standard library; `env`, `now`, local-time filters, `input`, `debug` and \
            `stderr` are unavailable) over `data`, in a sandboxed worker process with time, memory and output limits. \
            The output is the program's single result, an array of all results when it yields several, or null when \
            it yields none. Pure and deterministic."
            .into(),
        input_schema: json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "required": ["data", "expr"],
            "additionalProperties": false,
            "properties": {
                "data": {"description": "Any JSON value: the program's input."},
                "expr": {"type": "string", "minLength": 1, "maxLength": MAX_EXPR_CHARS, "description": "A jq program, e.g. `.items | map(select(.ok))`."}
            }
        }),
        output_schema: json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "description": "The single result; an array when the program yields several results; null when it yields none."
        }),
        side_effects: SideEffects::None,
        determinism: Determinism::Deterministic,
        cost_model: CostModel { usd_per_call: USD_PER_CALL, latency_ms_p50: 1, latency_ms_p95: 5 },
        default_timeout_ms: 5_000,
        secret_fields: Vec::new(),
        failure_modes: vec![
            mode("SKILL_INPUT_INVALID", Category::Validation, false, "The input is not {data, expr} with a non-empty string expr."),
            mode("JQ_COMPILE_ERROR", Category::Validation, false, "expr is not a valid jq program; details give line and column."),
            mode("JQ_RUNTIME_ERROR", Category::Validation, false, "The program failed on this data (type error, error(...), halt)."),
            mode("JQ_LIMIT_EXCEEDED", Category::Resource, false, "The program ran past the step's deadline, ran out of memory (256 MiB by default) or stack (recursion too deep), yielded over 100000 results or over 1 MiB of JSON, or nested an output over 127 levels; details.limit is time, memory, stack, outputs, output_size, depth, input_size or crash."),
            mode("JQ_SANDBOX_BUSY", Category::Transient, true, "No jq sandbox worker became free before the step's deadline (other programs hold them); retry later."),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aos_jq::LimitKind;

    async fn run(expr: &str, data: Value, timeout_ms: u64) -> Result<Value, StepError> {
        let ctx = SkillContext::new("run1", "step1", 1, 7, 0, timeout_ms);
        JsonTransform::new().execute(&ctx, json!({"data": data, "expr": expr})).await.map(|o| o.output)
    }

    #[tokio::test]
    async fn a_runaway_program_stops_at_the_step_deadline() {
        let started = std::time::Instant::now();
        let err = run("last(range(1e15))", Value::Null, 500).await.expect_err("endless");
        assert_eq!((err.code.as_str(), err.category, err.retryable), ("JQ_LIMIT_EXCEEDED", Category::Resource, false));
        assert_eq!(err.details["limit"], "time");
        assert!(err.message.contains("time limit"), "{}", err.message);
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
        // The sandbox serves the next step.
        assert_eq!(run(".a + 1", json!({"a": 1}), 5_000).await.expect("ok"), json!(2));
    }

    #[tokio::test]
    async fn limits_name_their_kind() {
        let err = run("[range(3000000)]", Value::Null, 30_000).await.expect_err("over 1 MiB");
        assert_eq!(err.details["limit"], "output_size");
        let err = run("def f($n): if $n == 0 then 0 else f($n - 1) + 1 end; f(1000000)", Value::Null, 30_000).await.expect_err("too deep");
        assert_eq!(err.details["limit"], "stack");
    }

    #[test]
    fn sandbox_errors_map_to_codes() {
        let busy = jq_error(".", JqError::Busy { message: "all 4 jq sandbox workers stayed busy".into() });
        assert_eq!((busy.code.as_str(), busy.category, busy.retryable), ("JQ_SANDBOX_BUSY", Category::Transient, true));
        let memory = jq_error(".", JqError::Limit { kind: LimitKind::Memory, message: "out of memory".into() });
        assert_eq!((memory.code.as_str(), memory.retryable), ("JQ_LIMIT_EXCEEDED", false));
        assert_eq!(memory.details["limit"], "memory");
        let spec = spec();
        let codes: Vec<&str> = spec.failure_modes.iter().map(|m| m.code.as_str()).collect();
        assert!(codes.contains(&"JQ_SANDBOX_BUSY") && codes.contains(&"JQ_LIMIT_EXCEEDED"), "{codes:?}");
    }
}
