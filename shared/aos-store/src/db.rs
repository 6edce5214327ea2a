//! `EmbeddedDb`: one SQLite file in WAL mode shared by the embedded adapters. Writes go through
//! the group-committing writer thread; reads use a small pool of read-only connections, which
//! WAL lets run concurrently with the writer and with each other.

use crate::reaper::{self, Reaper};
use crate::schema;
use crate::writer::{db_err, Job, Request, Writer};
use aos_core::ports::StoreError;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often the background reaper deletes expired items (reads never rely on it).
const REAP_EVERY: Duration = Duration::from_secs(60);

/// Idle read connections kept open; more are opened on demand under bursts and then dropped.
const MAX_IDLE_READERS: usize = 8;

/// What a commit guarantees.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// Every acknowledged write survives power loss: each commit fsyncs the WAL
    /// (`synchronous=FULL`). Concurrent writes share one fsync through group commit.
    #[default]
    Fsync,
    /// Acknowledged writes survive a process crash but the last ones may be lost on power loss
    /// (`synchronous=NORMAL`: the WAL is synced at checkpoints only).
    Relaxed,
}

/// What [`EmbeddedDb::open_with`] checks before serving a file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OpenCheck {
    /// `PRAGMA quick_check`: every page is read once and its b-tree structure checked, so a
    /// damaged file is refused at start instead of failing requests later. It costs one read of
    /// the file: measured on a 326 MB database of 10 000 five-step runs, 0.15 s from the page
    /// cache and 4.4 s from a cold cache on a slow (~75 MB/s) disk.
    #[default]
    Quick,
    /// No check: for a database so large that reading it whole at every start is too slow.
    /// Damage then shows at run time, as `StoreError::Corrupt` on the requests that meet it.
    Skip,
}

/// The shared database handle: owns the writer thread, the reaper thread and the read pool.
/// Dropping the last handle drains queued writes, stops both threads and checkpoints the WAL.
pub struct EmbeddedDb {
    path: PathBuf,
    jobs: Option<Sender<Box<dyn Job>>>,
    writer: Option<JoinHandle<()>>,
    reaper: Option<Reaper>,
    readers: Arc<ReadPool>,
    queue_attached: AtomicBool,
}

impl std::fmt::Debug for EmbeddedDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedDb").field("path", &self.path).finish_non_exhaustive()
    }
}

impl EmbeddedDb {
    /// Opens (creating if needed) the database file at `path`. One process should own a file at
    /// a time: the queue's in-flight state lives in this process's memory.
    ///
    /// The file (and the WAL and shared-memory files SQLite creates beside it, which take its
    /// mode) is readable by the owner only: it holds secrets and key hashes. A damaged file is
    /// refused (`StoreError::Corrupt`, with what to do) rather than served: see [`OpenCheck`].
    pub fn open(path: &Path, durability: Durability) -> Result<Arc<Self>, StoreError> {
        Self::open_with(path, durability, OpenCheck::Quick)
    }

    /// [`open`](Self::open), choosing whether the file's structure is checked first.
    pub fn open_with(path: &Path, durability: Durability, check: OpenCheck) -> Result<Arc<Self>, StoreError> {
        let fsync = durability == Durability::Fsync;
        create_private(path)?;
        let conn = Connection::open(path).map_err(db_err)?;
        let checked = schema::init_writer(&conn, fsync).and_then(|()| match check {
            OpenCheck::Quick => schema::quick_check(&conn),
            OpenCheck::Skip => Ok(()),
        });
        if let Err(StoreError::Corrupt(findings)) = checked {
            return Err(StoreError::Corrupt(corrupt_message(path, &findings)));
        }
        checked?;
        restrict(path);
        let (jobs, rx) = mpsc::channel::<Box<dyn Job>>();
        let writer = thread::Builder::new()
            .name("aos-store-writer".into())
            .spawn(move || Writer::new(conn, fsync).run(rx))
            .map_err(|e| StoreError::Backend(format!("cannot start the writer thread: {e}")))?;
        let reaper = Reaper::spawn(jobs.clone(), REAP_EVERY)?;
        let readers = Arc::new(ReadPool { path: path.to_path_buf(), idle: Mutex::new(Vec::new()) });
        Ok(Arc::new(Self {
            path: path.to_path_buf(),
            jobs: Some(jobs),
            writer: Some(writer),
            reaper: Some(reaper),
            readers,
            queue_attached: AtomicBool::new(false),
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Deletes expired items now and returns how many; the background reaper does the same
    /// periodically. Only reclaims space: expired items are already invisible.
    pub async fn reap_expired(&self) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let deleted = self.write(|conn| reaper::reap_batch(conn, now_secs())).await?;
            total += deleted;
            if deleted < reaper::BATCH {
                return Ok(total);
            }
        }
    }

    /// Runs `f` in the next commit group and resolves once that group is durably committed.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.write_then(f, |result| result).await
    }

    /// Like `write`, then passes the committed (or failed) result through `then` on the writer
    /// thread. `then` runs even if this future is dropped, so in-memory state it updates can
    /// never miss a commit.
    pub(crate) async fn write_then<T, U, F, S>(&self, f: F, then: S) -> Result<U, StoreError>
    where
        T: Send + 'static,
        U: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        S: FnOnce(Result<T, StoreError>) -> Result<U, StoreError> + Send + 'static,
    {
        self.write_then_as(f, then, false).await
    }

    /// `write_then` with a choice of fsync: a `lazy` write is awaited until committed (so it
    /// survives a process crash) but its commit may skip the fsync (an OS crash may lose it).
    pub(crate) async fn write_then_as<T, U, F, S>(&self, f: F, then: S, lazy: bool) -> Result<U, StoreError>
    where
        T: Send + 'static,
        U: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        S: FnOnce(Result<T, StoreError>) -> Result<U, StoreError> + Send + 'static,
    {
        let (job, rx) = Request::job(f, then, lazy);
        self.submit(job)?;
        rx.await.map_err(|_| writer_gone())?
    }

    /// Queues `f` without waiting: it commits in order with the other writes but may skip the
    /// fsync, so a power loss (or a crash while it is still queued) can lose it. Failures are
    /// logged by the writer.
    pub(crate) fn write_lazy<F>(&self, f: F) -> Result<(), StoreError>
    where
        F: FnOnce(&Connection) -> Result<(), StoreError> + Send + 'static,
    {
        let (job, _unawaited) = Request::job(f, |result| result, true);
        self.submit(job)
    }

    /// Runs `f` on the writer after every write queued before it, blocking the calling thread
    /// (even an async worker) until its group commits. Only for startup work.
    pub(crate) fn write_blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (done, wait) = mpsc::sync_channel(1);
        let (job, _unawaited) = Request::job(
            f,
            move |result| {
                // The receiver only goes away if the caller is gone too.
                let _ = done.send(result);
                Ok(())
            },
            false,
        );
        self.submit(job)?;
        wait.recv().map_err(|_| writer_gone())?
    }

    fn submit(&self, job: Box<dyn Job>) -> Result<(), StoreError> {
        let jobs = self.jobs.as_ref().ok_or_else(writer_gone)?;
        jobs.send(job).map_err(|_| writer_gone())
    }

    /// Runs `f` on a read connection on the calling thread. Meant for short, bounded reads
    /// (point lookups) where a thread hand-off would cost more than the read itself.
    pub(crate) fn read_now<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.readers.with(f)
    }

    /// Runs `f` on a read connection on tokio's blocking pool, for reads of unbounded cost.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let readers = Arc::clone(&self.readers);
        tokio::task::spawn_blocking(move || readers.with(f)).await.map_err(|e| StoreError::Backend(format!("read task failed: {e}")))?
    }

    /// Claims the database for one `EmbeddedQueue`: two would each hold their own in-flight
    /// state and deliver the same messages concurrently.
    pub(crate) fn attach_queue(&self) -> bool {
        !self.queue_attached.swap(true, Ordering::SeqCst)
    }

    pub(crate) fn detach_queue(&self) {
        self.queue_attached.store(false, Ordering::SeqCst);
    }
}

impl Drop for EmbeddedDb {
    /// Stops the reaper, lets the writer drain what is queued (including unawaited writes), and
    /// waits for it so that a reopen right after sees everything.
    fn drop(&mut self) {
        if let Some(reaper) = self.reaper.take() {
            reaper.stop();
        }
        // Readers first, so that the writer's connection is the last one and its close
        // checkpoints the WAL into the database file.
        self.readers.idle.lock().unwrap_or_else(PoisonError::into_inner).clear();
        self.jobs.take();
        if let Some(writer) = self.writer.take() {
            if writer.thread().id() != thread::current().id() && writer.join().is_err() {
                tracing::error!("the writer thread panicked");
            }
        }
    }
}

/// What to tell whoever starts a server over a damaged file.
fn corrupt_message(path: &Path, findings: &str) -> String {
    let p = path.display();
    format!(
        "the database file {p} is damaged and was not opened (SQLite: {findings}). Stop every process using it, then restore \
         {p} from a backup, or salvage what is readable: `sqlite3 {p} .recover | sqlite3 {p}.recovered` and, after checking \
         it, move {p}.recovered to {p} (removing {p}-wal and {p}-shm)"
    )
}

/// Creates the database file, if it does not exist, with mode 0600 before SQLite opens it:
/// SQLite gives its `-wal` and `-shm` files the database file's mode.
fn create_private(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let created = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path);
        match created {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(StoreError::Backend(format!("cannot create {}: {e}", path.display()))),
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Owner-only modes for a database made by an earlier version (or another tool) with wider ones.
fn restrict(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.as_os_str().to_owned();
            file.push(suffix);
            let file = PathBuf::from(file);
            let Ok(meta) = std::fs::metadata(&file) else { continue };
            if meta.permissions().mode() & 0o077 != 0 {
                if let Err(e) = std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
                    tracing::warn!(file = %file.display(), error = %e, "could not make the database file private");
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

fn writer_gone() -> StoreError {
    StoreError::Backend("the writer thread has stopped".into())
}

struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl ReadPool {
    fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let pooled = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => self.open()?,
        };
        let result = f(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        result
    }

    fn open(&self) -> Result<Connection, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(db_err)?;
        schema::init_reader(&conn)?;
        Ok(conn)
    }
}

pub(crate) fn now_secs() -> i64 {
    now_ms().div_euclid(1000)
}

pub(crate) fn now_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
    }
}
