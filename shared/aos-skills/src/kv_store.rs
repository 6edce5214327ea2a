//! `kv_store`: a key-value store per tenant, in the deployment's own store (the embedded SQLite
//! store under `aos serve`, the DynamoDB table on AWS), reached through the attempt's
//! [`TenantScope`], so a key names data of the run's tenant and of this skill only. Writes are
//! applied once per step: each carries an applied-marker in the same transaction, and a second
//! delivery (or a retry after a write whose outcome was lost) returns what the first one did.

use crate::mode;
use aos_core::canonical::hash_value;
use aos_core::outcome::{Category, StepError};
use aos_core::ports::{CancelReason, Condition, Item, StoreError, WriteOp};
use aos_core::skill::{input_error, CostModel, Determinism, SideEffects, Skill, SkillContext, SkillOutput, SkillSpec, TenantScope};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// Longest key, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 512;
/// Longest namespace, in characters (ASCII letters, digits, `_`, `-`, `.`, `:`).
pub const MAX_NAMESPACE_CHARS: usize = 64;
/// Largest value, as compact JSON.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// Longest time to live: one year.
pub const MAX_TTL_SECONDS: u64 = 366 * 86_400;
/// How long an applied-marker is kept: longer than any run may retry a step.
const MARKER_TTL_SECONDS: i64 = 7 * 86_400;
/// Optimistic rounds of an `incr` against concurrent writers before it gives up (retryable).
const INCR_ROUNDS: u32 = 24;
const MARKERS: &str = "applied";

/// The function's access to its keys: the skill's own partitions of any tenant (`t#<tenant>#sd#kv_store#…`,
/// [`TenantScope`]), written in transactions (authorised per item) and deleted.
pub const AWS_STATEMENTS: &str = r#"            - Effect: Allow # kv_store's keys: its own partitions of each tenant (t#<tenant>#sd#kv_store#...)
              Action: [dynamodb:GetItem, dynamodb:PutItem, dynamodb:UpdateItem, dynamodb:DeleteItem, dynamodb:ConditionCheckItem]
              Resource: !GetAtt Table.Arn
              Condition:
                ForAllValues:StringLike:
                  dynamodb:LeadingKeys: ["t#*#sd#kv_store#*"]
"#;

pub fn spec() -> SkillSpec {
    SkillSpec {
        id: "kv_store".into(),
        version: "1.0.0".into(),
        description: "A key-value store of the tenant: `get`, `set`, `delete`, `exists` and `incr` on a key within a \
            namespace (default `default`). Values are any JSON up to 64 KiB; keys up to 512 bytes, without control \
            characters. `set` takes an optional `ttl_seconds` (the key disappears after it), `if_absent` (set only when the \
            key does not exist; otherwise `applied: false`) or `if_version` (compare-and-set on the version `get` \
            returned; a mismatch fails with KV_VERSION_CONFLICT). `delete` takes `if_version` too. `incr` adds `by` \
            (default 1) to an integer value, creating it at 0; its `ttl_seconds` applies when it creates the key. \
            Namespaces belong to the tenant: no input reaches another tenant's keys. `get` and `exists` are reads; \
            `set`, `delete` and `incr` writes, applied once per step: a redelivered or retried attempt returns the \
            first one's result."
            .into(),
        input_schema: json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "required": ["op", "key"],
            "additionalProperties": false,
            "properties": {
                "op": {"type": "string", "enum": ["get", "set", "delete", "exists", "incr"]},
                "namespace": {"type": "string", "minLength": 1, "maxLength": MAX_NAMESPACE_CHARS, "pattern": "^[A-Za-z0-9_.:-]+$", "default": "default"},
                "key": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_BYTES, "pattern": "^[^\\x00-\\x1f\\x7f-\\x9f]+$", "description": "At most 512 bytes of UTF-8, no control characters."},
                "value": {"description": "`set` only: any JSON value, at most 64 KiB as compact JSON."},
                "ttl_seconds": {"type": "integer", "minimum": 1, "maximum": MAX_TTL_SECONDS, "description": "`set` and `incr` only."},
                "if_absent": {"type": "boolean", "default": false, "description": "`set` only."},
                "if_version": {"type": "integer", "minimum": 1, "description": "`set`, `delete` and `incr`: the version the key must have."},
                "by": {"type": "integer", "default": 1, "description": "`incr` only."}
            }
        }),
        output_schema: json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "description": "get: {found, value, version, expires_at}; exists: {exists}; set: {applied, version}; delete: {deleted}; incr: {value, version}.",
            "properties": {
                "found": {"type": "boolean"},
                "exists": {"type": "boolean"},
                "applied": {"type": "boolean"},
                "deleted": {"type": "boolean"},
                "value": {},
                "version": {"type": ["integer", "null"]},
                "expires_at": {"type": ["integer", "null"], "description": "Epoch seconds."}
            }
        }),
        side_effects: SideEffects::Write,
        determinism: Determinism::NonDeterministic,
        cost_model: CostModel { usd_per_call: 0.0, latency_ms_p50: 5, latency_ms_p95: 50 },
        default_timeout_ms: 10_000,
        secret_fields: Vec::new(),
        failure_modes: vec![
            mode(
                "SKILL_INPUT_INVALID",
                Category::Validation,
                false,
                "The input does not match the schema (unknown field, a field the operation does not take).",
            ),
            mode(
                "KV_KEY_INVALID",
                Category::Validation,
                false,
                "The key or namespace is empty, too long, or has characters it may not have.",
            ),
            mode("KV_VALUE_TOO_LARGE", Category::Resource, false, "The value is larger than 64 KiB as compact JSON."),
            mode(
                "KV_VERSION_CONFLICT",
                Category::Conflict,
                false,
                "`if_version` does not match the key's version (or the key does not exist).",
            ),
            mode(
                "KV_NOT_A_NUMBER",
                Category::Validation,
                false,
                "`incr` on a value that is not an integer, or the sum overflows a 64-bit integer.",
            ),
            mode(
                "KV_CONTENDED",
                Category::Conflict,
                true,
                "`incr` lost the race to concurrent writers of the key too many times in a row.",
            ),
            mode("KV_STORE_UNAVAILABLE", Category::Transient, true, "The store could not be read or written."),
            mode("SKILL_RESOURCES_UNAVAILABLE", Category::Permanent, false, "The process executing the step gave the skill no store."),
        ],
    }
}

pub struct KvStore {
    spec: SkillSpec,
}

impl Default for KvStore {
    fn default() -> Self {
        Self::new()
    }
}

impl KvStore {
    pub fn new() -> Self {
        Self { spec: spec() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Op {
    Get,
    Set,
    Delete,
    Exists,
    Incr,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    op: Op,
    #[serde(default = "default_namespace")]
    namespace: String,
    key: String,
    /// Taken out before the rest is parsed (so a JSON `null` is a value, not an absence).
    #[serde(skip)]
    value: Option<Value>,
    ttl_seconds: Option<u64>,
    #[serde(default)]
    if_absent: bool,
    if_version: Option<u64>,
    by: Option<i64>,
}

fn default_namespace() -> String {
    "default".into()
}

fn parse(input: Value) -> Result<Input, StepError> {
    let Value::Object(mut fields) = input else { return Err(input_error("kv_store input must be an object")) };
    let value = fields.remove("value");
    let mut input: Input =
        serde_json::from_value(Value::Object(fields)).map_err(|e| input_error(format!("kv_store input is invalid: {e}")))?;
    input.value = value;
    let op = input.op;
    let only = |present: bool, field: &str, ops: &[Op]| -> Result<(), StepError> {
        if present && !ops.contains(&op) {
            return Err(input_error(format!("kv_store `{field}` is not taken by `{}`", op_name(op))));
        }
        Ok(())
    };
    only(input.value.is_some(), "value", &[Op::Set])?;
    only(input.ttl_seconds.is_some(), "ttl_seconds", &[Op::Set, Op::Incr])?;
    only(input.if_absent, "if_absent", &[Op::Set])?;
    only(input.if_version.is_some(), "if_version", &[Op::Set, Op::Delete, Op::Incr])?;
    only(input.by.is_some(), "by", &[Op::Incr])?;
    if op == Op::Set && input.value.is_none() {
        return Err(input_error("kv_store `set` needs a `value`"));
    }
    if input.if_absent && input.if_version.is_some() {
        return Err(input_error("kv_store takes `if_absent` or `if_version`, not both"));
    }
    if input.if_version == Some(0) {
        return Err(input_error("kv_store `if_version` starts at 1"));
    }
    if let Some(ttl) = input.ttl_seconds {
        if ttl == 0 || ttl > MAX_TTL_SECONDS {
            return Err(input_error(format!("kv_store `ttl_seconds` must be between 1 and {MAX_TTL_SECONDS}")));
        }
    }
    check_name(&input.namespace, &input.key)?;
    if let Some(v) = &input.value {
        let bytes = serde_json::to_vec(v).map(|b| b.len()).unwrap_or(usize::MAX);
        if bytes > MAX_VALUE_BYTES {
            return Err(StepError::new(
                "KV_VALUE_TOO_LARGE",
                Category::Resource,
                false,
                format!("the value of `{}` is {bytes} bytes as JSON, over the limit of {MAX_VALUE_BYTES}", printable(&input.key)),
            )
            .with_details(json!({"value_bytes": bytes, "limit_bytes": MAX_VALUE_BYTES})));
        }
    }
    Ok(input)
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Get => "get",
        Op::Set => "set",
        Op::Delete => "delete",
        Op::Exists => "exists",
        Op::Incr => "incr",
    }
}

fn key_invalid(message: String) -> StepError {
    StepError::new("KV_KEY_INVALID", Category::Validation, false, message)
}

/// The namespace and key limits: they become store keys, whose size DynamoDB caps (1 KiB sort keys).
fn check_name(namespace: &str, key: &str) -> Result<(), StepError> {
    if namespace.is_empty() || namespace.chars().count() > MAX_NAMESPACE_CHARS {
        return Err(key_invalid(format!("the namespace must have 1 to {MAX_NAMESPACE_CHARS} characters")));
    }
    if !namespace.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':')) {
        return Err(key_invalid(format!(
            "the namespace `{}` may only have ASCII letters, digits, `_`, `-`, `.` and `:`",
            printable(namespace)
        )));
    }
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(key_invalid(format!("the key must have 1 to {MAX_KEY_BYTES} bytes (it has {})", key.len())));
    }
    if key.chars().any(char::is_control) {
        return Err(key_invalid(format!("the key `{}` has control characters", printable(key))));
    }
    Ok(())
}

/// A name as it may appear in a message: control characters escaped, at most 80 characters.
fn printable(s: &str) -> String {
    let escaped: String = s.chars().flat_map(char::escape_debug).collect();
    if escaped.chars().count() > 80 {
        format!("{}…", escaped.chars().take(80).collect::<String>())
    } else {
        escaped
    }
}

fn store_error(e: StoreError) -> StepError {
    StepError::new("KV_STORE_UNAVAILABLE", Category::Transient, true, format!("the key-value store could not be reached: {e}"))
}

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn partition(namespace: &str) -> String {
    format!("kv#{namespace}")
}

/// The applied-marker of this step's write: the same run, step and input mean the same write,
/// whichever attempt or delivery carries it.
fn marker_key(ctx: &SkillContext, input: &Value) -> String {
    format!("{}#{}#{}", ctx.run_id, ctx.step_id, &hash_value(input)[..32])
}

fn marker(sk: &str, output: &Value) -> Item {
    Item::new(MARKERS, sk, json!({"output": output})).expiring_at(now_secs() + MARKER_TTL_SECONDS)
}

fn record(namespace: &str, key: &str, value: Value, expires_at: Option<i64>) -> Item {
    let mut item = Item::new(partition(namespace), key, json!({"value": value}));
    item.expires_at = expires_at;
    item
}

/// What a failed transaction says about its operations: (marker exists, the write's condition failed).
fn cancelled(e: &StoreError) -> Option<(bool, bool)> {
    match e {
        StoreError::TransactionCanceled { reasons } => {
            let failed = |i: usize| matches!(reasons.get(i), Some(Some(CancelReason::ConditionalCheckFailed)));
            Some((failed(0), failed(1)))
        }
        StoreError::ConditionFailed => Some((false, true)),
        _ => None,
    }
}

#[async_trait]
impl Skill for KvStore {
    fn spec(&self) -> &SkillSpec {
        &self.spec
    }

    fn side_effects_of(&self, input: &Value) -> SideEffects {
        match input.get("op").and_then(Value::as_str) {
            Some("get" | "exists") => SideEffects::Read,
            _ => SideEffects::Write,
        }
    }

    async fn execute(&self, ctx: &SkillContext, raw: Value) -> Result<SkillOutput, StepError> {
        let input = parse(raw.clone())?;
        let scope = ctx.scope()?;
        let output = match input.op {
            Op::Get => get(scope, &input).await?,
            Op::Exists => {
                let found = scope.get(&partition(&input.namespace), &input.key).await.map_err(store_error)?;
                json!({"exists": found.is_some()})
            }
            Op::Set | Op::Delete | Op::Incr => {
                let marker_sk = marker_key(ctx, &raw);
                if let Some(done) = scope.get(MARKERS, &marker_sk).await.map_err(store_error)? {
                    return Ok(SkillOutput { output: done.data["output"].clone(), cost_usd: 0.0 });
                }
                let written = match input.op {
                    Op::Set => set(scope, &input, &marker_sk).await,
                    Op::Delete => delete(scope, &input, &marker_sk).await,
                    _ => incr(ctx, scope, &input, &marker_sk).await,
                };
                match written {
                    Err(Written::Already) => {
                        let done = scope.get(MARKERS, &marker_sk).await.map_err(store_error)?;
                        done.map(|d| d.data["output"].clone()).ok_or_else(|| store_error(StoreError::ConditionFailed))?
                    }
                    Err(Written::Failed(e)) => return Err(e),
                    Ok(output) => output,
                }
            }
        };
        Ok(SkillOutput { output, cost_usd: 0.0 })
    }
}

/// Why a write did not produce its own output.
enum Written {
    /// Another delivery of the same step wrote first: its output is in the marker.
    Already,
    Failed(StepError),
}

impl From<StepError> for Written {
    fn from(e: StepError) -> Self {
        Written::Failed(e)
    }
}

async fn get(scope: &TenantScope, input: &Input) -> Result<Value, StepError> {
    let item = scope.get(&partition(&input.namespace), &input.key).await.map_err(store_error)?;
    Ok(match item {
        Some(item) => json!({"found": true, "value": item.data["value"], "version": item.version, "expires_at": item.expires_at}),
        None => json!({"found": false, "value": null, "version": null, "expires_at": null}),
    })
}

fn version_conflict(input: &Input, actual: Option<u64>) -> StepError {
    let expected = input.if_version.unwrap_or_default();
    let message = match actual {
        Some(v) => format!("the key `{}` is at version {v}, not {expected}", printable(&input.key)),
        None => format!("the key `{}` does not exist (expected version {expected})", printable(&input.key)),
    };
    StepError::new("KV_VERSION_CONFLICT", Category::Conflict, false, message)
        .with_details(json!({"namespace": input.namespace, "expected_version": expected, "actual_version": actual}))
}

async fn current_version(scope: &TenantScope, input: &Input) -> Result<Option<u64>, StepError> {
    Ok(scope.get(&partition(&input.namespace), &input.key).await.map_err(store_error)?.map(|i| i.version))
}

async fn set(scope: &TenantScope, input: &Input, marker_sk: &str) -> Result<Value, Written> {
    let condition = match (input.if_absent, input.if_version) {
        (true, _) => Condition::NotExists,
        (_, Some(v)) => Condition::VersionIs(v),
        _ => Condition::Always,
    };
    // The version the write gives the key: the store counts from the live item's.
    let before = current_version(scope, input).await?;
    let expires_at = input.ttl_seconds.map(|t| now_secs() + t as i64);
    let item = record(&input.namespace, &input.key, input.value.clone().unwrap_or(Value::Null), expires_at);
    let version = before.map_or(1, |v| v + 1);
    let output = json!({"applied": true, "version": version});
    let ops = vec![
        WriteOp::Put { item: marker(marker_sk, &output), condition: Condition::NotExists },
        WriteOp::Put {
            item,
            condition: match (&condition, before) {
                // The version is predicted from the read: pin it so a concurrent writer cannot make it wrong.
                (Condition::Always, Some(v)) => Condition::VersionIs(v),
                (Condition::Always, None) => Condition::NotExists,
                (c, _) => c.clone(),
            },
        },
    ];
    match scope.transact(ops).await {
        Ok(()) => Ok(output),
        Err(e) => match cancelled(&e) {
            Some((true, _)) => Err(Written::Already),
            Some((false, true)) => match condition {
                Condition::NotExists => Ok(json!({"applied": false, "version": current_version(scope, input).await?})),
                Condition::VersionIs(_) => Err(version_conflict(input, current_version(scope, input).await?).into()),
                // Another writer came between the read and the write: the last write wins, as without a condition.
                _ => Box::pin(set(scope, input, marker_sk)).await,
            },
            _ => Err(store_error(e).into()),
        },
    }
}

async fn delete(scope: &TenantScope, input: &Input, marker_sk: &str) -> Result<Value, Written> {
    let condition = input.if_version.map_or(Condition::Exists, Condition::VersionIs);
    let output = json!({"deleted": true});
    let ops = vec![
        WriteOp::Put { item: marker(marker_sk, &output), condition: Condition::NotExists },
        WriteOp::Delete { pk: partition(&input.namespace), sk: input.key.clone(), condition: condition.clone() },
    ];
    match scope.transact(ops).await {
        Ok(()) => Ok(output),
        Err(e) => match cancelled(&e) {
            Some((true, _)) => Err(Written::Already),
            Some((false, true)) if input.if_version.is_some() => Err(version_conflict(input, current_version(scope, input).await?).into()),
            Some((false, true)) => Ok(json!({"deleted": false})),
            _ => Err(store_error(e).into()),
        },
    }
}

async fn incr(ctx: &SkillContext, scope: &TenantScope, input: &Input, marker_sk: &str) -> Result<Value, Written> {
    let by = input.by.unwrap_or(1);
    let pk = partition(&input.namespace);
    for round in 0..INCR_ROUNDS {
        if round > 0 {
            // Contenders that lost together must not meet again: a jittered, growing pause.
            let ceiling = 1u64 << round.min(6);
            tokio::time::sleep(std::time::Duration::from_millis(ctx.random_u64() % ceiling + 1)).await;
        }
        let current = scope.get(&pk, &input.key).await.map_err(store_error)?;
        if let Some(expected) = input.if_version {
            if current.as_ref().map(|i| i.version) != Some(expected) {
                return Err(version_conflict(input, current.map(|i| i.version)).into());
            }
        }
        let (previous, version, condition, expires_at) = match &current {
            Some(item) => {
                let n = item.data["value"].as_i64().ok_or_else(|| {
                    StepError::new(
                        "KV_NOT_A_NUMBER",
                        Category::Validation,
                        false,
                        format!("`incr` on the key `{}`, whose value is not an integer", printable(&input.key)),
                    )
                })?;
                (n, item.version + 1, Condition::VersionIs(item.version), item.expires_at)
            }
            None => (0, 1, Condition::NotExists, input.ttl_seconds.map(|t| now_secs() + t as i64)),
        };
        let value = previous.checked_add(by).ok_or_else(|| {
            StepError::new(
                "KV_NOT_A_NUMBER",
                Category::Validation,
                false,
                format!("`incr` of the key `{}` by {by} overflows a 64-bit integer", printable(&input.key)),
            )
        })?;
        let output = json!({"value": value, "version": version});
        let ops = vec![
            WriteOp::Put { item: marker(marker_sk, &output), condition: Condition::NotExists },
            WriteOp::Put { item: record(&input.namespace, &input.key, Value::from(value), expires_at), condition },
        ];
        match scope.transact(ops).await {
            Ok(()) => return Ok(output),
            Err(e) => match cancelled(&e) {
                Some((true, _)) => return Err(Written::Already),
                Some((false, true)) => continue,
                _ => return Err(store_error(e).into()),
            },
        }
    }
    Err(StepError::new(
        "KV_CONTENDED",
        Category::Conflict,
        true,
        format!("`incr` of the key `{}` lost to concurrent writers {INCR_ROUNDS} times in a row", printable(&input.key)),
    )
    .into())
}
