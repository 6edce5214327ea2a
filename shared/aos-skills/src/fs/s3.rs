//! The sandbox on AWS: objects of one bucket under `t/<tenant>/`, so the function's role can be
//! limited to that prefix. A directory is a prefix, made visible by an empty `<dir>/` marker
//! object (`mkdir`); a file is an object. Keys are built from [`SandboxPath`] components only, so
//! no input can name a key outside its tenant's prefix.

use super::backend::{self, Backend, Entry, Kind, Usage, WriteMode};
use super::path::{tenant_dir, SandboxPath};
use aos_core::outcome::StepError;
use async_trait::async_trait;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use std::sync::OnceLock;

/// Every tenant's files are under this prefix of the bucket (template.yaml scopes the role to it).
pub const PREFIX: &str = "t/";

pub struct S3Fs {
    bucket: String,
    client: OnceLock<Result<Client, String>>,
}

impl S3Fs {
    pub fn new(bucket: &str) -> Self {
        Self { bucket: bucket.to_string(), client: OnceLock::new() }
    }

    /// Over a client built by the caller (tests give one for moto).
    pub fn with_client(bucket: &str, client: Client) -> Self {
        let cell = OnceLock::new();
        let _ = cell.set(Ok(client));
        Self { bucket: bucket.to_string(), client: cell }
    }

    fn client(&self) -> Result<&Client, StepError> {
        self.client
            .get_or_init(|| {
                let sdk = aos_aws::env_sdk_config().map_err(|e| e.to_string())?;
                // An endpoint override (an emulator) serves buckets by path, not by host name.
                let path_style = sdk.endpoint_url().is_some();
                Ok(Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(path_style).build()))
            })
            .as_ref()
            .map_err(|e| backend::backend_error(format!("the S3 client could not be set up: {e}")))
    }
}

fn tenant_prefix(tenant: &str) -> String {
    format!("{PREFIX}{}/", tenant_dir(tenant))
}

fn file_key(tenant: &str, path: &SandboxPath) -> String {
    format!("{}{}", tenant_prefix(tenant), path.as_key())
}

/// The prefix of a directory's contents (the tenant's prefix for the root).
fn dir_prefix(tenant: &str, path: &SandboxPath) -> String {
    if path.is_root() {
        tenant_prefix(tenant)
    } else {
        format!("{}/", file_key(tenant, path))
    }
}

fn sdk_error<E: ProvideErrorMetadata + std::fmt::Debug, R>(e: SdkError<E, R>) -> StepError {
    match e.as_service_error() {
        Some(service) => backend::backend_error(format!("S3 answered {}", service.code().unwrap_or("an error"))),
        None => backend::backend_error(format!("S3 could not be reached ({})", kind_of(&e))),
    }
}

fn kind_of<E, R>(e: &SdkError<E, R>) -> &'static str {
    match e {
        SdkError::TimeoutError(_) => "timeout",
        SdkError::DispatchFailure(_) => "connection",
        SdkError::ResponseError(_) => "response",
        SdkError::ConstructionFailure(_) => "request",
        _ => "service",
    }
}

fn seconds(t: Option<&aws_sdk_s3::primitives::DateTime>) -> Option<i64> {
    t.map(|d| d.secs())
}

impl S3Fs {
    async fn head(&self, key: &str) -> Result<Option<(u64, Option<i64>)>, StepError> {
        match self.client()?.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => Ok(Some((out.content_length().unwrap_or(0).max(0) as u64, seconds(out.last_modified())))),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(None),
            Err(e) => Err(sdk_error(e)),
        }
    }

    async fn any_under(&self, prefix: &str) -> Result<bool, StepError> {
        let out = self.client()?.list_objects_v2().bucket(&self.bucket).prefix(prefix).max_keys(2).send().await.map_err(sdk_error)?;
        Ok(!out.contents().is_empty())
    }

    async fn kind(&self, tenant: &str, path: &SandboxPath) -> Result<Option<(Kind, u64, Option<i64>)>, StepError> {
        if path.is_root() {
            return Ok(Some((Kind::Dir, 0, None)));
        }
        if let Some((size, at)) = self.head(&file_key(tenant, path)).await? {
            return Ok(Some((Kind::File, size, at)));
        }
        if self.any_under(&dir_prefix(tenant, path)).await? {
            return Ok(Some((Kind::Dir, 0, None)));
        }
        Ok(None)
    }

    /// No ancestor of `path` may be a file (S3 would allow `a` and `a/b` both; a file system not).
    async fn check_parents(&self, tenant: &str, path: &SandboxPath) -> Result<(), StepError> {
        let mut at = path.parent();
        while !at.is_root() {
            if self.head(&file_key(tenant, &at)).await?.is_some() {
                return Err(backend::not_a_directory(path));
            }
            at = at.parent();
        }
        Ok(())
    }

    async fn put(&self, key: &str, data: Vec<u8>) -> Result<(), StepError> {
        self.client()?.put_object().bucket(&self.bucket).key(key).body(ByteStream::from(data)).send().await.map_err(sdk_error)?;
        Ok(())
    }

    async fn get(&self, key: &str, path: &SandboxPath, max: u64) -> Result<(Vec<u8>, Option<i64>), StepError> {
        let out = match self.client()?.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Err(backend::not_found(path)),
            Err(e) => return Err(sdk_error(e)),
        };
        let size = out.content_length().unwrap_or(0).max(0) as u64;
        if size > max {
            return Err(backend::too_large(path, size, max));
        }
        let at = seconds(out.last_modified());
        let data = out.body.collect().await.map_err(|e| backend::backend_error(format!("reading the object: {e}")))?.into_bytes().to_vec();
        if data.len() as u64 > max {
            return Err(backend::too_large(path, data.len() as u64, max));
        }
        Ok((data, at))
    }
}

#[async_trait]
impl Backend for S3Fs {
    async fn read(&self, tenant: &str, path: &SandboxPath, max: u64) -> Result<(Vec<u8>, Entry), StepError> {
        match self.kind(tenant, path).await? {
            None => return Err(backend::not_found(path)),
            Some((Kind::Dir, ..)) => return Err(backend::is_a_directory(path)),
            _ => {}
        }
        let (data, at) = self.get(&file_key(tenant, path), path, max).await?;
        let entry = Entry { name: path.name().to_string(), kind: Kind::File, size: data.len() as u64, modified_at: at };
        Ok((data, entry))
    }

    async fn write(&self, tenant: &str, path: &SandboxPath, data: &[u8], mode: WriteMode) -> Result<Entry, StepError> {
        self.check_parents(tenant, path).await?;
        let existing = self.kind(tenant, path).await?;
        let body = match (existing, mode) {
            (Some((Kind::Dir, ..)), _) => return Err(backend::is_a_directory(path)),
            (Some((Kind::File, ..)), WriteMode::CreateNew) => return Err(backend::already_exists(path)),
            // S3 has no append: the object is read and written whole (files are at most the size limit).
            (Some((Kind::File, ..)), WriteMode::Append) => {
                let (mut old, _) = self.get(&file_key(tenant, path), path, u64::MAX).await?;
                old.extend_from_slice(data);
                old
            }
            _ => data.to_vec(),
        };
        let size = body.len() as u64;
        self.put(&file_key(tenant, path), body).await?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        Ok(Entry { name: path.name().to_string(), kind: Kind::File, size, modified_at: Some(now) })
    }

    async fn delete(&self, tenant: &str, path: &SandboxPath) -> Result<bool, StepError> {
        let client = self.client()?;
        match self.kind(tenant, path).await? {
            None => Ok(false),
            Some((Kind::File, ..)) => {
                client.delete_object().bucket(&self.bucket).key(file_key(tenant, path)).send().await.map_err(sdk_error)?;
                Ok(true)
            }
            Some(_) => {
                let prefix = dir_prefix(tenant, path);
                let out = client.list_objects_v2().bucket(&self.bucket).prefix(&prefix).max_keys(2).send().await.map_err(sdk_error)?;
                if out.contents().iter().any(|o| o.key() != Some(prefix.as_str())) {
                    return Err(backend::not_empty(path));
                }
                client.delete_object().bucket(&self.bucket).key(&prefix).send().await.map_err(sdk_error)?;
                Ok(true)
            }
        }
    }

    async fn list(
        &self,
        tenant: &str,
        path: &SandboxPath,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<(Vec<Entry>, Option<String>), StepError> {
        match self.kind(tenant, path).await? {
            None => return Err(backend::not_found(path)),
            Some((Kind::File, ..)) => return Err(backend::not_a_directory(path)),
            _ => {}
        }
        let prefix = dir_prefix(tenant, path);
        // The cursor is the last name of the previous page: listing starts after it, inside the
        // prefix whatever it says (S3 applies `prefix` to `start_after` too).
        let mut request = self.client()?.list_objects_v2().bucket(&self.bucket).prefix(&prefix).delimiter("/").max_keys(limit as i32 + 1);
        if let Some(c) = cursor {
            // A directory's cursor ends with `/`: start after everything under it.
            let after = if c.ends_with('/') { format!("{prefix}{c}\u{10ffff}") } else { format!("{prefix}{c}") };
            request = request.start_after(after);
        }
        let out = request.send().await.map_err(sdk_error)?;
        let mut entries: Vec<Entry> = Vec::new();
        for o in out.contents() {
            let Some(name) = o.key().and_then(|k| k.strip_prefix(&prefix)) else { continue };
            if name.is_empty() {
                continue; // the directory's own marker
            }
            entries.push(Entry {
                name: name.to_string(),
                kind: Kind::File,
                size: o.size().unwrap_or(0).max(0) as u64,
                modified_at: seconds(o.last_modified()),
            });
        }
        for p in out.common_prefixes() {
            let Some(name) = p.prefix().and_then(|k| k.strip_prefix(&prefix)).map(|n| n.trim_end_matches('/')) else { continue };
            if !name.is_empty() {
                entries.push(Entry { name: name.to_string(), kind: Kind::Dir, size: 0, modified_at: None });
            }
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        entries.dedup_by(|a, b| a.name == b.name);
        if let Some(c) = cursor {
            entries.retain(|e| e.name.as_str() > c.trim_end_matches('/'));
        }
        let more = entries.len() > limit || out.is_truncated().unwrap_or(false);
        entries.truncate(limit);
        let next = if more { entries.last().map(backend::cursor_after) } else { None };
        Ok((entries, next))
    }

    async fn stat(&self, tenant: &str, path: &SandboxPath) -> Result<Option<Entry>, StepError> {
        Ok(self.kind(tenant, path).await?.map(|(kind, size, at)| Entry { name: path.name().to_string(), kind, size, modified_at: at }))
    }

    async fn mkdir(&self, tenant: &str, path: &SandboxPath) -> Result<bool, StepError> {
        if path.is_root() {
            return Ok(false);
        }
        self.check_parents(tenant, path).await?;
        match self.kind(tenant, path).await? {
            Some((Kind::Dir, ..)) => Ok(false),
            Some(_) => Err(backend::not_a_directory(path)),
            None => {
                self.put(&dir_prefix(tenant, path), Vec::new()).await?;
                Ok(true)
            }
        }
    }

    async fn usage(&self, tenant: &str, stop_after: u64) -> Result<Usage, StepError> {
        let prefix = tenant_prefix(tenant);
        let mut usage = Usage::default();
        let mut token: Option<String> = None;
        loop {
            let mut request = self.client()?.list_objects_v2().bucket(&self.bucket).prefix(&prefix).max_keys(1000);
            if let Some(t) = &token {
                request = request.continuation_token(t);
            }
            let out = request.send().await.map_err(sdk_error)?;
            for o in out.contents() {
                usage.entries += 1;
                usage.bytes += o.size().unwrap_or(0).max(0) as u64;
            }
            if usage.entries > stop_after {
                return Ok(usage);
            }
            match out.next_continuation_token() {
                Some(t) if out.is_truncated().unwrap_or(false) => token = Some(t.to_string()),
                _ => return Ok(usage),
            }
        }
    }
}
