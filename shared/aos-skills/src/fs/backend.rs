//! What the `fs` skill asks of a storage: the same seven operations over a tenant's sandbox, kept
//! by a local directory ([`super::local`]) or an S3 prefix ([`super::s3`]). Paths reach a backend
//! only as [`SandboxPath`]s; errors come back as the skill's own `FS_*` step errors.

use super::path::SandboxPath;
use aos_core::outcome::{Category, StepError};
use async_trait::async_trait;
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    /// Listed only: a symlink, device, FIFO or socket someone else placed; fs refuses to touch it.
    Other,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "dir",
            Kind::Other => "other",
        }
    }
}

/// One file or directory as listed or stat'ed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub kind: Kind,
    /// Bytes of a file; 0 for a directory.
    pub size: u64,
    /// Seconds since the epoch, when the storage keeps it.
    pub modified_at: Option<i64>,
}

impl Entry {
    pub fn to_json(&self) -> Value {
        json!({"name": self.name, "type": self.kind.as_str(), "size": self.size, "modified_at": self.modified_at})
    }
}

/// How a write treats an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    Overwrite,
    /// Fails with `FS_ALREADY_EXISTS` when the file exists.
    CreateNew,
    Append,
}

/// A tenant's use of its sandbox: bytes of its files and how many files and directories.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub bytes: u64,
    pub entries: u64,
}

#[async_trait]
pub trait Backend: Send + Sync {
    /// The file's bytes, or `FS_FILE_TOO_LARGE` when it has more than `max` (nothing is read then).
    async fn read(&self, tenant: &str, path: &SandboxPath, max: u64) -> Result<(Vec<u8>, Entry), StepError>;
    /// Writes or appends `data`, creating missing parent directories; the file as it is after.
    async fn write(&self, tenant: &str, path: &SandboxPath, data: &[u8], mode: WriteMode) -> Result<Entry, StepError>;
    /// Removes a file or an empty directory; `false` when there was nothing.
    async fn delete(&self, tenant: &str, path: &SandboxPath) -> Result<bool, StepError>;
    /// A page of the directory's entries in name order, and the cursor of the next page.
    async fn list(
        &self,
        tenant: &str,
        dir: &SandboxPath,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<(Vec<Entry>, Option<String>), StepError>;
    async fn stat(&self, tenant: &str, path: &SandboxPath) -> Result<Option<Entry>, StepError>;
    /// Creates the directory and its parents; `false` when it existed.
    async fn mkdir(&self, tenant: &str, path: &SandboxPath) -> Result<bool, StepError>;
    /// The tenant's use, counted up to `stop_after` entries (a bound on the walk).
    async fn usage(&self, tenant: &str, stop_after: u64) -> Result<Usage, StepError>;
}

/// The cursor of the page after `last`: its name, with `/` for a directory (S3 lists a
/// directory's contents under that prefix, which the next page skips).
pub fn cursor_after(last: &Entry) -> String {
    match last.kind {
        Kind::Dir => format!("{}/", last.name),
        _ => last.name.clone(),
    }
}

pub fn error(code: &str, category: Category, retryable: bool, message: impl Into<String>) -> StepError {
    StepError::new(code, category, retryable, message)
}

pub fn not_found(path: &SandboxPath) -> StepError {
    error("FS_NOT_FOUND", Category::NotFound, false, format!("`{}` does not exist", path.as_key()))
}

pub fn is_a_directory(path: &SandboxPath) -> StepError {
    error("FS_IS_A_DIRECTORY", Category::Validation, false, format!("`{}` is a directory, not a file", path.as_key()))
}

pub fn not_a_directory(path: &SandboxPath) -> StepError {
    error(
        "FS_NOT_A_DIRECTORY",
        Category::Validation,
        false,
        format!("`{}` (or one of its parents) is a file, not a directory", path.as_key()),
    )
}

pub fn already_exists(path: &SandboxPath) -> StepError {
    error("FS_ALREADY_EXISTS", Category::Conflict, false, format!("`{}` already exists", path.as_key()))
}

pub fn not_empty(path: &SandboxPath) -> StepError {
    error("FS_DIR_NOT_EMPTY", Category::Conflict, false, format!("the directory `{}` is not empty", path.as_key()))
}

pub fn too_large(path: &SandboxPath, size: u64, limit: u64) -> StepError {
    error("FS_FILE_TOO_LARGE", Category::Resource, false, format!("`{}` would have {size} bytes, over the limit of {limit}", path.as_key()))
        .with_details(json!({"size": size, "limit_bytes": limit}))
}

pub fn backend_error(what: impl std::fmt::Display) -> StepError {
    error("FS_BACKEND_ERROR", Category::Transient, true, format!("the file storage failed: {what}"))
}
