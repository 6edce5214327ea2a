//! `fs`: files of the tenant in a sandbox no path can leave — a directory opened with cap-std
//! under `aos serve` ([`local`]), a prefix of an S3 bucket on AWS ([`s3`], feature `fs-s3`).
//! Every path passes [`path::parse`] first (relative, no escaping `..`, no control characters,
//! bounded lengths); sizes are limited per file and per tenant (quota). Writes are applied once per
//! step: an applied-marker lets a later attempt return the first one's result.

pub mod backend;
pub mod local;
pub mod path;
#[cfg(feature = "fs-s3")]
pub mod s3;

use crate::{mode, SkillsConfig};
use aos_core::canonical::hash_value;
use aos_core::outcome::{Category, StepError};
use aos_core::ports::{Condition, Item};
use aos_core::skill::{input_error, CostModel, Determinism, SideEffects, Skill, SkillContext, SkillOutput, SkillSpec};
use async_trait::async_trait;
use backend::{Backend, Kind, WriteMode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The function's access to the files bucket: objects under the tenants' prefix `t/` only (each
/// tenant's `t/<tenant>/`, chosen by the worker's scope, never by the input), and listing within it.
/// HeadObject is authorised by s3:GetObject.
pub const AWS_STATEMENTS: &str = r#"            - Effect: Allow # fs: the objects of the tenants' prefixes (t/<tenant>/...) of the files bucket
              Action: [s3:GetObject, s3:PutObject, s3:DeleteObject]
              Resource: !Sub ${FilesBucket.Arn}/t/*
            - Effect: Allow # fs: listing, within the tenants' prefixes only
              Action: s3:ListBucket
              Resource: !GetAtt FilesBucket.Arn
              Condition:
                StringLike:
                  s3:prefix: ["t/*"]
"#;

/// Largest page of `list`.
pub const MAX_LIST_LIMIT: usize = 1000;
const MARKERS: &str = "applied";
const MARKER_TTL_SECONDS: i64 = 7 * 86_400;

pub fn spec() -> SkillSpec {
    SkillSpec {
        id: "fs".into(),
        version: "1.0.0".into(),
        description: "Files of the tenant, in a sandbox of its own: `read`, `write`, `append`, `delete`, `list` (paged), \
            `stat` and `mkdir` on a relative `path` (components separated by /, at most 768 bytes, names at most 255, no \
            control characters or backslashes, no `..` that leaves the sandbox). `content` is text (`encoding: utf8`, the \
            default) or base64 (`encoding: base64`). `write` replaces the file (or, with `if_absent`, fails with \
            FS_ALREADY_EXISTS), creating missing directories; `append` adds to it. Files are at most the deployment's file \
            limit (10 MiB by default) and a tenant's files together at most its quota (100 MiB, 10,000 entries). Symbolic \
            links and device files are never followed or opened. Locally a directory per tenant, on AWS a prefix per tenant \
            of the deployment's bucket."
            .into(),
        input_schema: json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "required": ["op"],
            "additionalProperties": false,
            "properties": {
                "op": {"type": "string", "enum": ["read", "write", "append", "delete", "list", "stat", "mkdir"]},
                "path": {"type": "string", "maxLength": path::MAX_PATH_BYTES, "default": "", "description": "Relative to the tenant's sandbox; `` or `.` is its root (list, stat)."},
                "content": {"type": "string", "description": "write, append: the bytes, as text or base64 (see encoding)."},
                "encoding": {"type": "string", "enum": ["utf8", "base64"], "default": "utf8"},
                "if_absent": {"type": "boolean", "default": false, "description": "write: only when the file does not exist."},
                "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIST_LIMIT, "default": 100, "description": "list: entries per page."},
                "cursor": {"type": "string", "maxLength": 1024, "description": "list: `next_cursor` of the previous page."}
            }
        }),
        output_schema: json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "description": "read: {path, content, encoding, size, modified_at}; write, append: {path, size, created}; delete: {path, deleted}; list: {path, entries: [{name, type, size, modified_at}], next_cursor}; stat: {path, exists, type, size, modified_at}; mkdir: {path, created}."
        }),
        side_effects: SideEffects::Write,
        determinism: Determinism::NonDeterministic,
        cost_model: CostModel { usd_per_call: 0.0, latency_ms_p50: 5, latency_ms_p95: 100 },
        default_timeout_ms: 30_000,
        secret_fields: Vec::new(),
        failure_modes: vec![
            mode(
                "SKILL_INPUT_INVALID",
                Category::Validation,
                false,
                "The input does not match the schema (unknown field, content for a read).",
            ),
            mode(
                "FS_PATH_INVALID",
                Category::Validation,
                false,
                "The path has a control character, a backslash, a blank name, or names the root where a file is needed.",
            ),
            mode("FS_PATH_ESCAPES", Category::Security, false, "The path is absolute or its `..` leads out of the tenant's sandbox."),
            mode("FS_PATH_TOO_LONG", Category::Validation, false, "The path is over 768 bytes, a name over 255, or deeper than 32."),
            mode("FS_NOT_FOUND", Category::NotFound, false, "Nothing exists at the path."),
            mode("FS_IS_A_DIRECTORY", Category::Validation, false, "The path is a directory where a file is needed."),
            mode(
                "FS_NOT_A_DIRECTORY",
                Category::Validation,
                false,
                "The path, or one of its parents, is a file where a directory is needed.",
            ),
            mode("FS_ALREADY_EXISTS", Category::Conflict, false, "write with if_absent: the file exists."),
            mode("FS_DIR_NOT_EMPTY", Category::Conflict, false, "delete of a directory that has entries."),
            mode("FS_SYMLINK_REFUSED", Category::Security, false, "The path is or passes through a symbolic link (never followed)."),
            mode("FS_NOT_A_FILE", Category::Security, false, "The path is a device, FIFO or socket (never opened)."),
            mode("FS_FILE_TOO_LARGE", Category::Resource, false, "The file is, or would become, larger than the deployment's file limit."),
            mode("FS_QUOTA_EXCEEDED", Category::Resource, false, "The tenant's files would exceed its quota of bytes or entries."),
            mode(
                "FS_CONTENT_INVALID",
                Category::Validation,
                false,
                "content is not base64 (encoding base64), or a file read as utf8 is not UTF-8 text.",
            ),
            mode("FS_NOT_CONFIGURED", Category::Permanent, false, "This deployment has no file storage (AOS_FS_ROOT or AOS_FS_BUCKET)."),
            mode("FS_BACKEND_ERROR", Category::Transient, true, "The directory or the bucket could not be read or written."),
            mode(
                "SKILL_RESOURCES_UNAVAILABLE",
                Category::Permanent,
                false,
                "The process executing the step gave the skill no tenant scope.",
            ),
        ],
    }
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
enum Op {
    #[default]
    Read,
    Write,
    Append,
    Delete,
    List,
    Stat,
    Mkdir,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
enum Encoding {
    #[default]
    Utf8,
    Base64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    op: Op,
    #[serde(default)]
    path: String,
    content: Option<String>,
    #[serde(default)]
    encoding: Encoding,
    #[serde(default)]
    if_absent: bool,
    limit: Option<usize>,
    cursor: Option<String>,
}

fn parse(raw: Value) -> Result<Input, StepError> {
    let input: Input = serde_json::from_value(raw).map_err(|e| input_error(format!("fs input is invalid: {e}")))?;
    let takes_content = matches!(input.op, Op::Write | Op::Append);
    if takes_content != input.content.is_some() {
        return Err(input_error(if takes_content {
            "fs write and append need `content`"
        } else {
            "only fs write and append take `content`"
        }));
    }
    if input.if_absent && input.op != Op::Write {
        return Err(input_error("`if_absent` goes with fs write"));
    }
    if (input.limit.is_some() || input.cursor.is_some()) && input.op != Op::List {
        return Err(input_error("`limit` and `cursor` go with fs list"));
    }
    if input.limit.is_some_and(|l| l == 0 || l > MAX_LIST_LIMIT) {
        return Err(input_error(format!("fs list `limit` is 1 to {MAX_LIST_LIMIT}")));
    }
    if let Some(c) = &input.cursor {
        if c.len() > 1024 || c.chars().any(char::is_control) {
            return Err(input_error("fs list `cursor` is the `next_cursor` of a previous page"));
        }
    }
    Ok(input)
}

pub struct Fs {
    spec: SkillSpec,
    backend: Result<Arc<dyn Backend>, String>,
    max_file_bytes: u64,
    quota_bytes: u64,
    max_entries: u64,
}

impl Fs {
    pub fn new(config: &SkillsConfig) -> Self {
        let backend: Result<Arc<dyn Backend>, String> = match (&config.fs_bucket, &config.fs_root) {
            #[cfg(feature = "fs-s3")]
            (Some(bucket), _) => Ok(Arc::new(s3::S3Fs::new(bucket))),
            #[cfg(not(feature = "fs-s3"))]
            (Some(_), _) => Err("AOS_FS_BUCKET is set but this build has no S3 backend (feature fs-s3)".into()),
            (None, Some(root)) => Ok(Arc::new(local::LocalFs::new(root.clone()))),
            (None, None) => Err("set AOS_FS_ROOT (a directory) or AOS_FS_BUCKET (an S3 bucket)".into()),
        };
        Self::with_backend(config, backend)
    }

    /// Over a given backend (tests: an S3 client for moto).
    pub fn with_backend(config: &SkillsConfig, backend: Result<Arc<dyn Backend>, String>) -> Self {
        Self {
            spec: spec(),
            backend,
            max_file_bytes: config.fs_max_file_bytes,
            quota_bytes: config.fs_quota_bytes,
            max_entries: config.fs_max_entries,
        }
    }

    fn backend(&self) -> Result<&Arc<dyn Backend>, StepError> {
        self.backend.as_ref().map_err(|why| {
            StepError::new("FS_NOT_CONFIGURED", Category::Permanent, false, format!("this deployment keeps no files: {why}"))
        })
    }

    /// Refuses a change that would take the file past its limit or the tenant past its quota.
    async fn check_room(&self, tenant: &str, p: &path::SandboxPath, new_size: u64, old: Option<&backend::Entry>) -> Result<(), StepError> {
        if new_size > self.max_file_bytes {
            return Err(backend::too_large(p, new_size, self.max_file_bytes));
        }
        let usage = self.backend()?.usage(tenant, self.max_entries).await?;
        let old_size = old.map_or(0, |e| e.size);
        let bytes = usage.bytes.saturating_sub(old_size) + new_size;
        let entries = usage.entries + u64::from(old.is_none());
        if bytes > self.quota_bytes || entries > self.max_entries {
            return Err(StepError::new(
                "FS_QUOTA_EXCEEDED",
                Category::Resource,
                false,
                format!(
                    "the tenant's files would take {bytes} bytes in {entries} entries, over its quota of {} bytes and {} entries",
                    self.quota_bytes, self.max_entries
                ),
            )
            .with_details(
                json!({"bytes": bytes, "entries": entries, "quota_bytes": self.quota_bytes, "quota_entries": self.max_entries}),
            ));
        }
        Ok(())
    }

    async fn run(&self, tenant: &str, input: Input) -> Result<Value, StepError> {
        let b = self.backend()?;
        match input.op {
            Op::Read => {
                let p = path::parse_file(&input.path)?;
                let (data, entry) = b.read(tenant, &p, self.max_file_bytes).await?;
                let content = match input.encoding {
                    Encoding::Base64 => STANDARD.encode(&data),
                    Encoding::Utf8 => String::from_utf8(data).map_err(|_| {
                        StepError::new(
                            "FS_CONTENT_INVALID",
                            Category::Validation,
                            false,
                            format!("`{}` is not UTF-8 text: read it with encoding base64", p.as_key()),
                        )
                    })?,
                };
                let encoding = if input.encoding == Encoding::Base64 { "base64" } else { "utf8" };
                Ok(
                    json!({"path": p.as_key(), "content": content, "encoding": encoding, "size": entry.size, "modified_at": entry.modified_at}),
                )
            }
            Op::Write | Op::Append => {
                let p = path::parse_file(&input.path)?;
                let content = input.content.unwrap_or_default();
                let data = match input.encoding {
                    Encoding::Utf8 => content.into_bytes(),
                    Encoding::Base64 => STANDARD.decode(content.trim()).map_err(|_| {
                        StepError::new("FS_CONTENT_INVALID", Category::Validation, false, "`content` is not base64 (encoding base64)")
                    })?,
                };
                let old = b.stat(tenant, &p).await?;
                match &old {
                    Some(e) if e.kind == Kind::Dir => return Err(backend::is_a_directory(&p)),
                    Some(_) if input.if_absent => return Err(backend::already_exists(&p)),
                    _ => {}
                }
                let append = input.op == Op::Append;
                let new_size = if append { old.as_ref().map_or(0, |e| e.size) + data.len() as u64 } else { data.len() as u64 };
                self.check_room(tenant, &p, new_size, old.as_ref()).await?;
                let mode = match (append, input.if_absent) {
                    (true, _) => WriteMode::Append,
                    (false, true) => WriteMode::CreateNew,
                    (false, false) => WriteMode::Overwrite,
                };
                let entry = b.write(tenant, &p, &data, mode).await?;
                Ok(json!({"path": p.as_key(), "size": entry.size, "created": old.is_none()}))
            }
            Op::Delete => {
                let p = path::parse_file(&input.path)?;
                Ok(json!({"path": p.as_key(), "deleted": b.delete(tenant, &p).await?}))
            }
            Op::List => {
                let p = path::parse(&input.path)?;
                let limit = input.limit.unwrap_or(100);
                let (entries, next) = b.list(tenant, &p, limit, input.cursor.as_deref()).await?;
                let entries: Vec<Value> = entries.iter().map(backend::Entry::to_json).collect();
                Ok(json!({"path": p.as_key(), "entries": entries, "next_cursor": next}))
            }
            Op::Stat => {
                let p = path::parse(&input.path)?;
                Ok(match b.stat(tenant, &p).await? {
                    Some(e) => {
                        json!({"path": p.as_key(), "exists": true, "type": e.kind.as_str(), "size": e.size, "modified_at": e.modified_at})
                    }
                    None => json!({"path": p.as_key(), "exists": false, "type": null, "size": null, "modified_at": null}),
                })
            }
            Op::Mkdir => {
                let p = path::parse_file(&input.path)?;
                if b.stat(tenant, &p).await?.is_none() {
                    self.check_room(tenant, &p, 0, None).await?;
                }
                Ok(json!({"path": p.as_key(), "created": b.mkdir(tenant, &p).await?}))
            }
        }
    }
}

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

#[async_trait]
impl Skill for Fs {
    fn spec(&self) -> &SkillSpec {
        &self.spec
    }

    fn side_effects_of(&self, input: &Value) -> SideEffects {
        match input.get("op").and_then(Value::as_str) {
            Some("read" | "list" | "stat") => SideEffects::Read,
            _ => SideEffects::Write,
        }
    }

    async fn execute(&self, ctx: &SkillContext, raw: Value) -> Result<SkillOutput, StepError> {
        let input = parse(raw.clone())?;
        let scope = ctx.scope()?;
        let writes = matches!(input.op, Op::Write | Op::Append | Op::Delete | Op::Mkdir);
        // A write of this step that was applied before (its outcome lost to a crash) is not applied again.
        let marker_sk = format!("{}#{}#{}", ctx.run_id, ctx.step_id, &hash_value(&raw)[..32]);
        if writes {
            if let Ok(Some(done)) = scope.get(MARKERS, &marker_sk).await {
                return Ok(SkillOutput { output: done.data["output"].clone(), cost_usd: 0.0 });
            }
        }
        let output = self.run(scope.tenant(), input).await?;
        if writes {
            let marker = Item::new(MARKERS, &marker_sk, json!({"output": output})).expiring_at(now_secs() + MARKER_TTL_SECONDS);
            let _ = scope.put(marker, Condition::Always).await;
        }
        Ok(SkillOutput { output, cost_usd: 0.0 })
    }
}
