//! The local sandbox: `<root>/<tenant>/`, opened as a cap-std `Dir`, so every path is resolved
//! by cap-std inside it — `..`, absolute symlinks and symlinks through parents cannot lead out.
//! On top of that no symlink is followed at all (each component is checked, and files are opened
//! with `O_NOFOLLOW`), and only regular files and directories are touched: a device, FIFO or
//! socket someone placed in the directory is refused, and opened with `O_NONBLOCK` in any case so
//! a FIFO swapped in after the check cannot hang the worker.

use super::backend::{self, Backend, Entry, Kind, Usage, WriteMode};
use super::path::{tenant_dir, SandboxPath};
use aos_core::outcome::{Category, StepError};
use async_trait::async_trait;
use cap_std::fs::{Dir, Metadata, OpenOptions, OpenOptionsExt};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

pub struct LocalFs {
    root: PathBuf,
}

impl LocalFs {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn open(&self, tenant: &str) -> Result<Dir, StepError> {
        let dir = self.root.join(tenant_dir(tenant));
        std::fs::create_dir_all(&dir).map_err(|e| backend::backend_error(format!("creating the tenant's directory: {}", e.kind())))?;
        Dir::open_ambient_dir(&dir, cap_std::ambient_authority())
            .map_err(|e| backend::backend_error(format!("opening the tenant's directory: {}", e.kind())))
    }
}

fn rel(path: &SandboxPath) -> PathBuf {
    if path.is_root() {
        PathBuf::from(".")
    } else {
        path.parts().iter().collect()
    }
}

fn seconds(meta: &Metadata) -> Option<i64> {
    let t = meta.modified().ok()?.into_std();
    t.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs() as i64)
}

fn symlink_refused(path: &SandboxPath) -> StepError {
    backend::error(
        "FS_SYMLINK_REFUSED",
        Category::Security,
        false,
        format!("`{}` is or passes through a symbolic link, which fs never follows", path.as_key()),
    )
}

fn special(path: &SandboxPath) -> StepError {
    backend::error(
        "FS_NOT_A_FILE",
        Category::Security,
        false,
        format!("`{}` is a device, FIFO or socket, which fs never opens", path.as_key()),
    )
}

/// An I/O error as the skill's failure: an escape cap-std caught is a security failure; the
/// message never carries the host's path.
fn io_error(path: &SandboxPath, e: io::Error) -> StepError {
    match e.kind() {
        io::ErrorKind::NotFound => backend::not_found(path),
        io::ErrorKind::AlreadyExists => backend::already_exists(path),
        io::ErrorKind::DirectoryNotEmpty => backend::not_empty(path),
        io::ErrorKind::IsADirectory => backend::is_a_directory(path),
        io::ErrorKind::NotADirectory => backend::not_a_directory(path),
        io::ErrorKind::PermissionDenied if e.to_string().contains("outside") => backend::error(
            "FS_PATH_ESCAPES",
            Category::Security,
            false,
            format!("`{}` resolves outside the tenant's sandbox", path.as_key()),
        ),
        _ if e.raw_os_error() == Some(40) => symlink_refused(path), // ELOOP: O_NOFOLLOW met a symlink
        kind => backend::backend_error(format!("{kind} at `{}`", path.as_key())),
    }
}

/// What is at `path`, without following any symlink on the way: `None` when nothing is.
fn inspect(dir: &Dir, path: &SandboxPath) -> Result<Option<(Kind, Metadata)>, StepError> {
    if path.is_root() {
        let meta = dir.dir_metadata().map_err(|e| io_error(path, e))?;
        return Ok(Some((Kind::Dir, meta)));
    }
    let mut prefix = PathBuf::new();
    for (i, part) in path.parts().iter().enumerate() {
        prefix.push(part);
        let meta = match dir.symlink_metadata(&prefix) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotADirectory => return Err(backend::not_a_directory(path)),
            Err(e) => return Err(io_error(path, e)),
        };
        let ft = meta.file_type();
        if ft.is_symlink() {
            return Err(symlink_refused(path));
        }
        let last = i + 1 == path.parts().len();
        if !last && !ft.is_dir() {
            return Err(backend::not_a_directory(path));
        }
        if last {
            return if ft.is_file() {
                Ok(Some((Kind::File, meta)))
            } else if ft.is_dir() {
                Ok(Some((Kind::Dir, meta)))
            } else {
                Err(special(path))
            };
        }
    }
    unreachable!("a path that is not the root has a last component")
}

fn entry(name: &str, kind: Kind, meta: &Metadata) -> Entry {
    Entry { name: name.to_string(), kind, size: if kind == Kind::File { meta.len() } else { 0 }, modified_at: seconds(meta) }
}

/// Open flags for every file fs opens: never through a final symlink, never blocking on a FIFO.
fn guarded(options: &mut OpenOptions) -> &mut OpenOptions {
    options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
}

fn read_sync(dir: &Dir, path: &SandboxPath, max: u64) -> Result<(Vec<u8>, Entry), StepError> {
    match inspect(dir, path)? {
        None => return Err(backend::not_found(path)),
        Some((Kind::Dir, _)) => return Err(backend::is_a_directory(path)),
        Some((Kind::File, meta)) if meta.len() > max => return Err(backend::too_large(path, meta.len(), max)),
        Some(_) => {}
    }
    let file = dir.open_with(rel(path), guarded(OpenOptions::new().read(true))).map_err(|e| io_error(path, e))?;
    let meta = file.metadata().map_err(|e| io_error(path, e))?;
    if !meta.is_file() {
        return Err(special(path));
    }
    let mut data = Vec::new();
    file.take(max + 1).read_to_end(&mut data).map_err(|e| io_error(path, e))?;
    if data.len() as u64 > max {
        return Err(backend::too_large(path, data.len() as u64, max));
    }
    Ok((data, entry(path.name(), Kind::File, &meta)))
}

fn mkdirs(dir: &Dir, path: &SandboxPath) -> Result<bool, StepError> {
    if path.is_root() {
        return Ok(false);
    }
    // Each component: an existing one must be a real directory (no symlink), a missing one is made.
    let mut created = false;
    let mut prefix = SandboxPath::root();
    for part in path.parts() {
        prefix = prefix.child(part);
        match inspect(dir, &prefix)? {
            Some((Kind::Dir, _)) => {}
            Some(_) => return Err(backend::not_a_directory(path)),
            None => match dir.create_dir(rel(&prefix)) {
                Ok(()) => created = true,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_error(path, e)),
            },
        }
    }
    Ok(created)
}

fn write_sync(dir: &Dir, path: &SandboxPath, data: &[u8], mode: WriteMode) -> Result<Entry, StepError> {
    mkdirs(dir, &path.parent())?;
    match inspect(dir, path)? {
        Some((Kind::Dir, _)) => return Err(backend::is_a_directory(path)),
        Some((Kind::File, _)) if mode == WriteMode::CreateNew => return Err(backend::already_exists(path)),
        _ => {}
    }
    let mut options = OpenOptions::new();
    match mode {
        WriteMode::Overwrite => options.write(true).create(true).truncate(true),
        WriteMode::CreateNew => options.write(true).create_new(true),
        WriteMode::Append => options.append(true).create(true),
    };
    options.mode(0o640);
    let mut file = dir.open_with(rel(path), guarded(&mut options)).map_err(|e| io_error(path, e))?;
    let meta = file.metadata().map_err(|e| io_error(path, e))?;
    if !meta.is_file() {
        return Err(special(path));
    }
    file.write_all(data).map_err(|e| io_error(path, e))?;
    file.sync_data().map_err(|e| io_error(path, e))?;
    let meta = file.metadata().map_err(|e| io_error(path, e))?;
    Ok(entry(path.name(), Kind::File, &meta))
}

fn list_sync(dir: &Dir, path: &SandboxPath, limit: usize, cursor: Option<&str>) -> Result<(Vec<Entry>, Option<String>), StepError> {
    match inspect(dir, path)? {
        None => return Err(backend::not_found(path)),
        Some((Kind::File, _)) => return Err(backend::not_a_directory(path)),
        Some(_) => {}
    }
    let mut names = Vec::new();
    for item in dir.read_dir(rel(path)).map_err(|e| io_error(path, e))? {
        let item = item.map_err(|e| io_error(path, e))?;
        // A name that is not UTF-8 was not made by fs; it is left out rather than mangled.
        if let Ok(name) = item.file_name().into_string() {
            if cursor.is_none_or(|c| name.as_str() > c.trim_end_matches('/')) {
                names.push((name, item));
            }
        }
    }
    names.sort_by(|a, b| a.0.cmp(&b.0));
    let more = names.len() > limit;
    let mut entries = Vec::new();
    for (name, item) in names.into_iter().take(limit) {
        // Symlinks and special files are listed by name only as what they are not: fs will refuse them.
        let meta = item.metadata().map_err(|e| io_error(path, e))?;
        let ft = meta.file_type();
        let kind = if ft.is_symlink() {
            Kind::Other
        } else if ft.is_dir() {
            Kind::Dir
        } else if ft.is_file() {
            Kind::File
        } else {
            Kind::Other
        };
        entries.push(entry(&name, kind, &meta));
    }
    let next = if more { entries.last().map(backend::cursor_after) } else { None };
    Ok((entries, next))
}

fn delete_sync(dir: &Dir, path: &SandboxPath) -> Result<bool, StepError> {
    match inspect(dir, path)? {
        None => Ok(false),
        Some((Kind::File, _)) => dir.remove_file(rel(path)).map(|_| true).map_err(|e| io_error(path, e)),
        Some((Kind::Dir, _)) => dir.remove_dir(rel(path)).map(|_| true).map_err(|e| io_error(path, e)),
        Some((Kind::Other, _)) => Err(special(path)),
    }
}

fn usage_sync(dir: &Dir, stop_after: u64) -> Result<Usage, StepError> {
    let mut usage = Usage::default();
    let mut pending = vec![PathBuf::from(".")];
    while let Some(at) = pending.pop() {
        let items = dir.read_dir(&at).map_err(|e| backend::backend_error(e.kind()))?;
        for item in items {
            let item = item.map_err(|e| backend::backend_error(e.kind()))?;
            let ft = item.file_type().map_err(|e| backend::backend_error(e.kind()))?;
            usage.entries += 1;
            if ft.is_dir() && !ft.is_symlink() {
                pending.push(Path::new(&at).join(item.file_name()));
            } else if ft.is_file() {
                usage.bytes += item.metadata().map(|m| m.len()).unwrap_or(0);
            }
            if usage.entries > stop_after {
                return Ok(usage);
            }
        }
    }
    Ok(usage)
}

/// Runs blocking file work off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, StepError> + Send + 'static) -> Result<T, StepError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| backend::backend_error(format!("the file task failed: {e}")))?
}

#[async_trait]
impl Backend for LocalFs {
    async fn read(&self, tenant: &str, path: &SandboxPath, max: u64) -> Result<(Vec<u8>, Entry), StepError> {
        let (dir, path) = (self.open(tenant)?, path.clone());
        blocking(move || read_sync(&dir, &path, max)).await
    }

    async fn write(&self, tenant: &str, path: &SandboxPath, data: &[u8], mode: WriteMode) -> Result<Entry, StepError> {
        let (dir, path, data) = (self.open(tenant)?, path.clone(), data.to_vec());
        blocking(move || write_sync(&dir, &path, &data, mode)).await
    }

    async fn delete(&self, tenant: &str, path: &SandboxPath) -> Result<bool, StepError> {
        let (dir, path) = (self.open(tenant)?, path.clone());
        blocking(move || delete_sync(&dir, &path)).await
    }

    async fn list(
        &self,
        tenant: &str,
        path: &SandboxPath,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<(Vec<Entry>, Option<String>), StepError> {
        let (dir, path, cursor) = (self.open(tenant)?, path.clone(), cursor.map(String::from));
        blocking(move || list_sync(&dir, &path, limit, cursor.as_deref())).await
    }

    async fn stat(&self, tenant: &str, path: &SandboxPath) -> Result<Option<Entry>, StepError> {
        let (dir, path) = (self.open(tenant)?, path.clone());
        blocking(move || Ok(inspect(&dir, &path)?.map(|(kind, meta)| entry(path.name(), kind, &meta)))).await
    }

    async fn mkdir(&self, tenant: &str, path: &SandboxPath) -> Result<bool, StepError> {
        let (dir, path) = (self.open(tenant)?, path.clone());
        blocking(move || mkdirs(&dir, &path)).await
    }

    async fn usage(&self, tenant: &str, stop_after: u64) -> Result<Usage, StepError> {
        let dir = self.open(tenant)?;
        blocking(move || usage_sync(&dir, stop_after)).await
    }
}
