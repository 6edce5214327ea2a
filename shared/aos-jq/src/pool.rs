//! A small, fixed pool of big-stack threads for jq runs: heavy programs stay off the async
//! workers, and deep recursion has room without allocating a fresh stack per run (an mmap and
//! munmap each time, which showed up as a third of the engine benchmark's kernel time).

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};

type Job = Box<dyn FnOnce() + Send + 'static>;

struct Pool {
    tx: Mutex<Sender<Job>>,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).clamp(2, 8);
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("aos-jq-{i}"))
                .stack_size(super::STACK_BYTES)
                .spawn(move || worker(rx));
            if let Err(e) = spawned {
                tracing_free_warn(&format!("could not start jq pool thread: {e}"));
            }
        }
        Pool { tx: Mutex::new(tx) }
    })
}

fn worker(rx: Arc<Mutex<Receiver<Job>>>) {
    loop {
        let job = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        match job {
            // Jobs catch their own panics (`on_big_stack`); this guard keeps the thread alive anyway.
            Ok(job) => drop(std::panic::catch_unwind(std::panic::AssertUnwindSafe(job))),
            Err(_) => return,
        }
    }
}

fn tracing_free_warn(msg: &str) {
    eprintln!("aos-jq: {msg}");
}

/// Runs `job` on the pool. If the pool cannot take it, runs it on the calling thread.
pub fn execute(job: impl FnOnce() + Send + 'static) {
    let job: Job = Box::new(job);
    let rejected = match pool().tx.lock() {
        Ok(tx) => tx.send(job).err().map(|e| e.0),
        Err(_) => Some(job),
    };
    if let Some(job) = rejected {
        job();
    }
}
