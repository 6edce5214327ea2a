//! Background deletion of expired items. It only reclaims space: every read already filters
//! expired items, so a slow or stopped reaper never changes what callers see.

use crate::db::now_secs;
use crate::writer::{db_err, Job, Request};
use aos_core::ports::StoreError;
use rusqlite::{params, Connection};
use std::sync::mpsc::{self, RecvTimeoutError, Sender, TryRecvError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Rows deleted per write request, so reaping never holds the writer for long.
pub(crate) const BATCH: usize = 1000;

pub(crate) fn reap_batch(conn: &Connection, now: i64) -> Result<usize, StoreError> {
    conn.prepare_cached(
        "DELETE FROM items WHERE (pk, sk) IN
           (SELECT pk, sk FROM items WHERE expires_at <= ?1 LIMIT ?2)",
    )
    .and_then(|mut stmt| stmt.execute(params![now, BATCH as i64]))
    .map_err(db_err)
}

pub(crate) struct Reaper {
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl Reaper {
    pub(crate) fn spawn(jobs: Sender<Box<dyn Job>>, every: Duration) -> Result<Self, StoreError> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = thread::Builder::new()
            .name("aos-store-reaper".into())
            .spawn(move || loop {
                match stopped.recv_timeout(every) {
                    Err(RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
                loop {
                    // Lazy: a reap lost in a crash is simply redone.
                    let (job, done) = Request::job(|conn| reap_batch(conn, now_secs()), |n| n, true);
                    if jobs.send(job).is_err() {
                        return;
                    }
                    match done.blocking_recv() {
                        Ok(Ok(n)) if n == BATCH && matches!(stopped.try_recv(), Err(TryRecvError::Empty)) => {}
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, "reaping expired items failed");
                            break;
                        }
                        _ => break,
                    }
                }
            })
            .map_err(|e| StoreError::Backend(format!("cannot start the reaper thread: {e}")))?;
        Ok(Self { stop, thread })
    }

    /// Stops the thread (dropping its handle on the writer queue) and waits for it.
    pub(crate) fn stop(self) {
        drop(self.stop);
        if self.thread.join().is_err() {
            tracing::error!("the reaper thread panicked");
        }
    }
}
