//! The single writer thread: it owns the write connection and commits every queued request in
//! one transaction (one fsync per group), isolating each request in a savepoint so that one
//! request's failed condition never rolls back its neighbours.

use aos_core::ports::StoreError;
use rusqlite::Connection;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::Receiver;
use tokio::sync::oneshot;

/// Most requests per group: bounds how long the first request of a group waits for the others.
const MAX_GROUP: usize = 256;

/// A SQLite failure as a store error: damage (`SQLITE_CORRUPT`, `SQLITE_NOTADB`, a column that
/// does not decode) is `Corrupt`, which no retry fixes; everything else is `Backend`.
pub(crate) fn db_err(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
    let damaged = matches!(e.sqlite_error_code(), Some(DatabaseCorrupt | NotADatabase))
        || matches!(
            e,
            rusqlite::Error::FromSqlConversionFailure(..) | rusqlite::Error::InvalidColumnType(..) | rusqlite::Error::Utf8Error(_)
        );
    if damaged {
        StoreError::Corrupt(e.to_string())
    } else {
        StoreError::Backend(e.to_string())
    }
}

/// A write request as the writer thread sees it, whatever its result type.
pub(crate) trait Job: Send {
    /// A lazy job may be committed without fsync: the next synced commit (or checkpoint) makes
    /// it durable, and losing it in a crash is acceptable to whoever submitted it.
    fn lazy(&self) -> bool;
    /// Runs the request; `false` means it failed and its savepoint must be rolled back.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Delivers the result once the group's fate (`commit`) is known.
    fn finish(self: Box<Self>, commit: Result<(), StoreError>);
}

/// A write request: `f` runs in the group's transaction; `then` maps the final result (after the
/// commit, on the writer thread) before it is replied. `then` runs even if nobody awaits the
/// reply any more, which is how callers keep in-memory state in step with what was committed.
pub(crate) struct Request<T, U, F, S> {
    f: Option<F>,
    then: S,
    outcome: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<U, StoreError>>,
    lazy: bool,
}

impl<T, U, F, S> Request<T, U, F, S>
where
    T: Send + 'static,
    U: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    S: FnOnce(Result<T, StoreError>) -> Result<U, StoreError> + Send + 'static,
{
    pub(crate) fn job(f: F, then: S, lazy: bool) -> (Box<dyn Job>, oneshot::Receiver<Result<U, StoreError>>) {
        let (reply, rx) = oneshot::channel();
        (Box::new(Self { f: Some(f), then, outcome: None, reply, lazy }), rx)
    }
}

impl<T, U, F, S> Job for Request<T, U, F, S>
where
    T: Send + 'static,
    U: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    S: FnOnce(Result<T, StoreError>) -> Result<U, StoreError> + Send + 'static,
{
    fn lazy(&self) -> bool {
        self.lazy
    }

    fn run(&mut self, conn: &Connection) -> bool {
        let Some(f) = self.f.take() else { return false };
        // A panicking request must not take the writer thread (and every later write) down.
        let outcome =
            catch_unwind(AssertUnwindSafe(|| f(conn))).unwrap_or_else(|_| Err(StoreError::Backend("write request panicked".into())));
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn finish(self: Box<Self>, commit: Result<(), StoreError>) {
        let Self { then, outcome, reply, .. } = *self;
        // On a failed commit even a request's own error is reported as the commit error: its
        // condition may have been judged against writes of the group that were rolled back.
        let result = commit.and_then(|()| outcome.unwrap_or_else(|| Err(StoreError::Backend("write request did not run".into()))));
        let result = catch_unwind(AssertUnwindSafe(|| then(result)))
            .unwrap_or_else(|_| Err(StoreError::Backend("write completion panicked".into())));
        if let Err(Err(e)) = reply.send(result) {
            tracing::warn!(error = %e, "unawaited write failed");
        }
    }
}

pub(crate) struct Writer {
    conn: Connection,
    /// Whether durable groups fsync (`synchronous=FULL`); when false everything is relaxed.
    fsync: bool,
    /// Whether the connection is currently switched to `synchronous=NORMAL` for a lazy group.
    relaxed_now: bool,
}

impl Writer {
    pub(crate) fn new(conn: Connection, fsync: bool) -> Self {
        Self { conn, fsync, relaxed_now: !fsync }
    }

    /// Serves requests until every sender is gone, then closes the connection (checkpointing).
    pub(crate) fn run(mut self, rx: Receiver<Box<dyn Job>>) {
        let mut group: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_GROUP);
        while let Ok(first) = rx.recv() {
            group.push(first);
            while group.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(job) => group.push(job),
                    Err(_) => break,
                }
            }
            let result = self.commit_group(&mut group);
            if let Err(e) = &result {
                tracing::error!(error = %e, jobs = group.len(), "write group failed");
            }
            for job in group.drain(..) {
                job.finish(result.clone());
            }
        }
    }

    fn commit_group(&mut self, group: &mut [Box<dyn Job>]) -> Result<(), StoreError> {
        if self.fsync {
            self.set_relaxed(group.iter().all(|job| job.lazy()))?;
        }
        self.exec("BEGIN IMMEDIATE")?;
        let result = group.iter_mut().try_for_each(|job| self.run_isolated(job.as_mut()));
        let result = result.and_then(|()| self.exec("COMMIT"));
        if result.is_err() && !self.conn.is_autocommit() {
            if let Err(e) = self.exec("ROLLBACK") {
                tracing::error!(error = %e, "rollback of a failed write group failed");
            }
        }
        result
    }

    fn run_isolated(&self, job: &mut dyn Job) -> Result<(), StoreError> {
        self.exec("SAVEPOINT job")?;
        let ok = job.run(&self.conn);
        // Some errors (disk full, I/O) make SQLite roll back the whole transaction by itself.
        if self.conn.is_autocommit() {
            return Err(StoreError::Backend("the database aborted the write transaction".into()));
        }
        if !ok {
            self.exec("ROLLBACK TO job")?;
        }
        self.exec("RELEASE job")
    }

    /// `synchronous` cannot change inside a transaction, hence per group, before `BEGIN`.
    fn set_relaxed(&mut self, relaxed: bool) -> Result<(), StoreError> {
        if relaxed != self.relaxed_now {
            let level = if relaxed { "NORMAL" } else { "FULL" };
            self.conn.pragma_update(None, "synchronous", level).map_err(db_err)?;
            self.relaxed_now = relaxed;
        }
        Ok(())
    }

    fn exec(&self, sql: &str) -> Result<(), StoreError> {
        self.conn.prepare_cached(sql).and_then(|mut stmt| stmt.execute([])).map(drop).map_err(db_err)
    }
}
