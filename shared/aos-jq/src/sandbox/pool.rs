//! The server side: a process-wide pool of jq worker processes.
//!
//! Each worker process has a driver thread that spawned it and owns it: it writes requests,
//! reads replies with `poll` against the deadline, kills (SIGKILL) and reaps the worker when the
//! deadline passes or the caller goes away, and classifies a worker's death from its exit
//! status and the tail of its stderr. Driving workers from plain threads rather than the tokio
//! reactor keeps the pool independent of any one runtime (tests, Lambdas and `aos serve` each
//! build their own), and the driver thread, which is the worker's parent for
//! `PR_SET_PDEATHSIG`, lives exactly as long as its worker.

use super::protocol::{self, Reply};
use super::worker::{DEFAULT_MEMORY_MB, MEMORY_ENV, PARENT_ENV, PROTOCOL_VERSION, WORKER_ENV};
use super::SandboxConfig;
use crate::{JqError, LimitKind};
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, Notify};

/// A worker idle this long is stopped (its memory returned); the next request starts another.
const IDLE_RETIRE: Duration = Duration::from_secs(300);
/// How often a driver waiting on a worker checks whether its caller is still there.
const CANCEL_CHECK: Duration = Duration::from_millis(50);
/// How much of a worker's stderr is kept to explain its death.
const STDERR_TAIL: usize = 4 << 10;
/// After a worker closes its pipes, how long to wait for it to exit on its own (so its own exit
/// status, not our SIGKILL, is what gets classified).
const EXIT_GRACE: Duration = Duration::from_millis(500);

pub(crate) fn pool() -> &'static Pool {
    POOL.get_or_init(|| Pool::new(SandboxConfig::from_env()))
}

pub(crate) static POOL: OnceLock<Pool> = OnceLock::new();

pub(crate) struct Pool {
    pub(crate) config: SandboxConfig,
    state: Mutex<State>,
    freed: Notify,
}

#[derive(Default)]
struct State {
    /// Workers alive or being started (idle ones included).
    live: usize,
    /// Idle workers, most recently used last.
    idle: Vec<Idle>,
    /// Workers held per owner.
    held: HashMap<String, usize>,
    next_id: u64,
}

struct Idle {
    id: u64,
    jobs: mpsc::Sender<Job>,
}

enum Slot {
    Idle(Idle),
    New,
}

/// One request for a worker, handed to its driver thread.
struct Job {
    request: Vec<u8>,
    /// How many reply frames the request gets (1, or one per checked program).
    replies: usize,
    max_frame: usize,
    deadline: Instant,
    timeout: Duration,
    lease: Lease,
    reply: oneshot::Sender<Exchanged>,
}

/// What came back: the replies read, and why the exchange stopped early, if it did.
pub(crate) struct Exchanged {
    pub(crate) replies: Vec<Reply>,
    pub(crate) failure: Option<JqError>,
}

impl Exchanged {
    fn failed(e: JqError) -> Self {
        Self { replies: Vec::new(), failure: Some(e) }
    }
}

/// A worker slot held by a request. Dropping it without `close` (a job lost anywhere) frees the
/// slot as if its worker had died.
struct Lease {
    pool: &'static Pool,
    owner: Option<String>,
    open: bool,
}

impl Lease {
    fn close(mut self, idle: Option<Idle>) {
        self.open = false;
        self.pool.release(self.owner.as_deref(), idle);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.open {
            self.pool.release(self.owner.as_deref(), None);
        }
    }
}

impl Pool {
    pub(crate) fn new(config: SandboxConfig) -> Self {
        Self { config, state: Mutex::new(State::default()), freed: Notify::new() }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `request` to a worker and collects `replies` reply frames. Waiting for a free worker
    /// counts against `timeout`.
    pub(crate) async fn call(
        &'static self,
        request: Vec<u8>,
        replies: usize,
        max_frame: usize,
        timeout: Duration,
        owner: Option<&str>,
    ) -> Exchanged {
        // A timeout too large to add (Duration::MAX) means "a year": the deadline must be an Instant.
        let now = Instant::now();
        let deadline = now.checked_add(timeout).unwrap_or_else(|| now + Duration::from_secs(365 * 86_400));
        let slot = match self.acquire(owner, deadline).await {
            Ok(slot) => slot,
            Err(e) => return Exchanged::failed(e),
        };
        let (tx, rx) = oneshot::channel();
        let lease = Lease { pool: self, owner: owner.map(str::to_owned), open: true };
        let job = Job { request, replies, max_frame, deadline, timeout, lease, reply: tx };
        self.dispatch(slot, job);
        rx.await.unwrap_or_else(|_| Exchanged::failed(JqError::Busy { message: "the jq worker stopped before answering".to_string() }))
    }

    async fn acquire(&self, owner: Option<&str>, deadline: Instant) -> Result<Slot, JqError> {
        let per_owner = self.config.per_owner();
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let capped = {
                let mut st = self.lock();
                let capped = owner.is_some_and(|o| st.held.get(o).copied().unwrap_or(0) >= per_owner);
                if !capped {
                    let slot = match st.idle.pop() {
                        Some(idle) => Some(Slot::Idle(idle)),
                        None if st.live < self.config.workers => {
                            st.live += 1;
                            Some(Slot::New)
                        }
                        None => None,
                    };
                    if let Some(slot) = slot {
                        if let Some(o) = owner {
                            *st.held.entry(o.to_owned()).or_default() += 1;
                        }
                        return Ok(slot);
                    }
                }
                capped
            };
            if tokio::time::timeout_at(deadline.into(), freed).await.is_err() {
                let message = if capped {
                    format!(
                        "this tenant's other jq programs hold all {per_owner} of the sandbox workers it may use at once \
                         ({} in all), and none freed up within the time limit",
                        self.config.workers
                    )
                } else {
                    format!("all {} jq sandbox workers stayed busy past the time limit", self.config.workers)
                };
                return Err(JqError::Busy { message });
            }
        }
    }

    fn release(&self, owner: Option<&str>, idle: Option<Idle>) {
        {
            let mut st = self.lock();
            if let Some(o) = owner {
                if let Some(n) = st.held.get_mut(o) {
                    *n -= 1;
                    if *n == 0 {
                        st.held.remove(o);
                    }
                }
            }
            match idle {
                Some(idle) => st.idle.push(idle),
                None => st.live = st.live.saturating_sub(1),
            }
        }
        self.freed.notify_waiters();
    }

    /// Removes the idle worker `id` from the pool; false when a request has just taken it.
    fn retire(&self, id: u64) -> bool {
        let mut st = self.lock();
        match st.idle.iter().position(|i| i.id == id) {
            Some(at) => {
                st.idle.remove(at);
                st.live = st.live.saturating_sub(1);
                true
            }
            None => false,
        }
    }

    fn dispatch(&'static self, slot: Slot, job: Job) {
        let job = match slot {
            Slot::Idle(idle) => match idle.jobs.send(job) {
                Ok(()) => return,
                // Its driver is gone: start a new worker in the same slot.
                Err(mpsc::SendError(job)) => job,
            },
            Slot::New => job,
        };
        let id = {
            let mut st = self.lock();
            st.next_id += 1;
            st.next_id
        };
        let (tx, rx) = mpsc::channel();
        // If the thread cannot start, the closure and the job in it are dropped: the lease frees
        // the slot and the caller's reply channel closes (answered as Busy).
        let _ = std::thread::Builder::new()
            .name(format!("aos-jq-worker-{id}"))
            .stack_size(256 << 10)
            .spawn(move || drive(self, id, tx, rx, job));
    }
}

/// A driver thread: starts its worker process, feeds it jobs, and ends with it.
fn drive(pool: &'static Pool, id: u64, tx: mpsc::Sender<Job>, rx: mpsc::Receiver<Job>, first: Job) {
    let mut worker: Option<Worker> = None;
    let mut next = Some(first);
    loop {
        let job = match next.take() {
            Some(job) => job,
            None => match rx.recv_timeout(IDLE_RETIRE) {
                Ok(job) => job,
                Err(mpsc::RecvTimeoutError::Timeout) if pool.retire(id) => return,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            },
        };
        // A worker that died while idle (killed from outside) is replaced before it gets the job.
        if worker.as_mut().is_some_and(|w| !w.alive()) {
            worker = None;
        }
        if worker.is_none() {
            match Worker::spawn(pool.config.memory_mb) {
                Ok(w) => worker = Some(w),
                Err(e) => {
                    let Job { lease, reply, .. } = job;
                    lease.close(None);
                    let _ = reply.send(Exchanged::failed(JqError::Busy { message: format!("could not start a jq worker process: {e}") }));
                    return;
                }
            }
        }
        let Some(w) = worker.as_mut() else { return };
        let (exchanged, alive) = w.exchange(&job, pool.config.memory_mb);
        let Job { lease, reply, .. } = job;
        if alive {
            lease.close(Some(Idle { id, jobs: tx.clone() }));
        } else {
            worker = None;
            lease.close(None);
        }
        // After the release, so a caller that sends its next request at once finds the slot free.
        let _ = reply.send(exchanged);
        if !alive {
            return;
        }
    }
}

/// Why an exchange stopped.
enum Stop {
    Deadline,
    Cancelled,
    /// The worker closed its pipes: it is dying or dead.
    Closed,
    Failed(JqError),
}

struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    stderr: Option<ChildStderr>,
    tail: Vec<u8>,
    ready: bool,
}

/// The binary to re-execute: `/proc/self/exe` is this process's image even after the file on
/// disk was replaced (an upgrade under a running server), where `current_exe()` names a
/// deleted path.
fn executable() -> std::io::Result<std::path::PathBuf> {
    let proc_exe = std::path::Path::new("/proc/self/exe");
    if proc_exe.exists() {
        Ok(proc_exe.to_path_buf())
    } else {
        std::env::current_exe()
    }
}

fn set_nonblocking(fd: RawFd) -> std::io::Result<()> {
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

impl Worker {
    fn spawn(memory_mb: u64) -> std::io::Result<Worker> {
        let mut cmd = Command::new(executable()?);
        // Nothing of the server's environment (it holds cloud credentials and secrets) reaches
        // the worker: only what it needs, and the library path the binary may need to load.
        cmd.env_clear()
            .env(WORKER_ENV, PROTOCOL_VERSION)
            .env(PARENT_ENV, std::process::id().to_string())
            .env(MEMORY_ENV, memory_mb.to_string())
            // A binary whose allocator is mimalloc (the `aos` CLI) reserves a 1 GiB arena at its
            // first allocation, which RLIMIT_DATA refuses: reserve in small steps instead.
            .env("MIMALLOC_ARENA_RESERVE", "8MiB");
        if let Some(path) = std::env::var_os("LD_LIBRARY_PATH") {
            cmd.env("LD_LIBRARY_PATH", path);
        }
        cmd.arg0("aos-jq-worker")
            .current_dir("/")
            // Its own process group: a terminal's Ctrl-C reaches the server, which shuts down in
            // order, not the workers under a request.
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn()?;
        let (Some(stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::other("worker pipes missing"));
        };
        let worker = Worker { child, stdin, stdout, stderr: Some(stderr), tail: Vec::new(), ready: false };
        for fd in [worker.stdin.as_raw_fd(), worker.stdout.as_raw_fd(), worker.stderr_fd()] {
            set_nonblocking(fd)?;
        }
        Ok(worker)
    }

    fn stderr_fd(&self) -> RawFd {
        self.stderr.as_ref().map_or(-1, |e| e.as_raw_fd())
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILLs the worker's whole process group (a worker never starts processes, but a binary
    /// whose worker entry was lost would run its `main`, which might). Only while the worker is
    /// unreaped: until then its pid, the group's id, cannot be reused.
    fn kill(&mut self) {
        if self.alive() {
            unsafe { libc::killpg(self.child.id() as libc::pid_t, libc::SIGKILL) };
        }
        let _ = self.child.kill();
    }

    /// Runs one job. Returns what came back and whether the worker is still usable.
    fn exchange(&mut self, job: &Job, memory_mb: u64) -> (Exchanged, bool) {
        let mut replies = Vec::with_capacity(job.replies);
        match self.talk(job, &mut replies) {
            Ok(()) => (Exchanged { replies, failure: None }, true),
            Err(stop) => {
                let failure = self.stop(stop, job, memory_mb);
                (Exchanged { replies, failure: Some(failure) }, false)
            }
        }
    }

    fn talk(&mut self, job: &Job, replies: &mut Vec<Reply>) -> Result<(), Stop> {
        if !self.ready {
            let hello = self.read_frame(64, job)?;
            if hello != protocol::HELLO {
                return Err(Stop::Failed(JqError::Busy { message: "the jq worker process did not start as a jq worker".to_string() }));
            }
            self.ready = true;
        }
        self.write_all(&job.request, job)?;
        for _ in 0..job.replies {
            let frame = self.read_frame(job.max_frame, job)?;
            let reply = protocol::parse_reply(&frame)
                .map_err(|why| Stop::Failed(JqError::limit(LimitKind::Crash, format!("the jq worker sent a malformed reply: {why}"))))?;
            let stop = matches!(reply, Reply::Error(_));
            replies.push(reply);
            if stop {
                break;
            }
        }
        Ok(())
    }

    /// Ends the worker after a failed exchange and says what happened to the program.
    fn stop(&mut self, stop: Stop, job: &Job, memory_mb: u64) -> JqError {
        if matches!(stop, Stop::Closed) {
            let grace = Instant::now() + EXIT_GRACE;
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < grace {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        self.kill();
        let status = self.child.wait().ok();
        self.drain_stderr();
        let tail = String::from_utf8_lossy(&self.tail).into_owned();
        match stop {
            Stop::Deadline if !self.ready => JqError::Busy { message: "no jq worker process was ready before the time limit".to_string() },
            Stop::Deadline => JqError::limit(LimitKind::Time, format!("program ran past its time limit of {} ms", job.timeout.as_millis())),
            Stop::Cancelled => JqError::limit(LimitKind::Time, "evaluation was cancelled"),
            Stop::Failed(e) => e,
            Stop::Closed if !self.ready => JqError::Busy {
                message: format!(
                    "the jq worker process exited before it was ready ({}){}",
                    describe(status),
                    if tail.trim().is_empty() { String::new() } else { format!(": {}", tail.trim()) }
                ),
            },
            Stop::Closed => classify(status, &tail, memory_mb),
        }
    }

    /// Waits until `fd` is ready for `events`, draining stderr meanwhile.
    fn wait_for(&mut self, fd: RawFd, events: libc::c_short, job: &Job) -> Result<(), Stop> {
        loop {
            let now = Instant::now();
            if now >= job.deadline {
                return Err(Stop::Deadline);
            }
            if job.reply.is_closed() {
                return Err(Stop::Cancelled);
            }
            let wait = (job.deadline - now).min(CANCEL_CHECK);
            let ms = wait.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
            let mut fds =
                [libc::pollfd { fd, events, revents: 0 }, libc::pollfd { fd: self.stderr_fd(), events: libc::POLLIN, revents: 0 }];
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
            if n < 0 {
                if std::io::Error::last_os_error().kind() == ErrorKind::Interrupted {
                    continue;
                }
                return Err(Stop::Closed);
            }
            if fds[1].revents != 0 {
                self.drain_stderr();
            }
            if fds[0].revents != 0 {
                return Ok(());
            }
        }
    }

    fn read_exact(&mut self, buf: &mut [u8], job: &Job) -> Result<(), Stop> {
        let mut at = 0;
        while at < buf.len() {
            match self.stdout.read(&mut buf[at..]) {
                Ok(0) => return Err(Stop::Closed),
                Ok(n) => at += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.wait_for(self.stdout.as_raw_fd(), libc::POLLIN, job)?,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Err(Stop::Closed),
            }
        }
        Ok(())
    }

    fn write_all(&mut self, buf: &[u8], job: &Job) -> Result<(), Stop> {
        let mut at = 0;
        while at < buf.len() {
            match self.stdin.write(&buf[at..]) {
                Ok(0) => return Err(Stop::Closed),
                Ok(n) => at += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.wait_for(self.stdin.as_raw_fd(), libc::POLLOUT, job)?,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Err(Stop::Closed),
            }
        }
        Ok(())
    }

    fn read_frame(&mut self, max: usize, job: &Job) -> Result<Vec<u8>, Stop> {
        let mut len = [0u8; 4];
        self.read_exact(&mut len, job)?;
        let len = u32::from_le_bytes(len) as usize;
        if len > max {
            return Err(Stop::Failed(JqError::limit(
                LimitKind::OutputSize,
                format!("the jq worker's reply of {len} bytes is over the {max}-byte cap"),
            )));
        }
        let mut frame = vec![0; len];
        self.read_exact(&mut frame, job)?;
        Ok(frame)
    }

    /// Reads whatever stderr holds (never blocks), keeping the last `STDERR_TAIL` bytes.
    fn drain_stderr(&mut self) {
        let Some(stderr) = self.stderr.as_mut() else { return };
        let mut chunk = [0u8; 4096];
        loop {
            match stderr.read(&mut chunk) {
                Ok(0) => {
                    self.stderr = None;
                    break;
                }
                Ok(n) => {
                    self.tail.extend_from_slice(&chunk[..n]);
                    if self.tail.len() > STDERR_TAIL {
                        let cut = self.tail.len() - STDERR_TAIL;
                        self.tail.drain(..cut);
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // A no-op once the worker was reaped (std does not signal a reaped child).
        self.kill();
        let _ = self.child.wait();
    }
}

fn describe(status: Option<ExitStatus>) -> String {
    match status {
        Some(s) => match (s.signal(), s.code()) {
            (Some(sig), _) => format!("signal {sig}"),
            (None, Some(code)) => format!("exit code {code}"),
            _ => "unknown status".to_string(),
        },
        None => "status unknown".to_string(),
    }
}

/// Why a worker died under a program, from its exit status and the end of its stderr.
fn classify(status: Option<ExitStatus>, stderr: &str, memory_mb: u64) -> JqError {
    let signal = status.and_then(|s| s.signal());
    if stderr.contains("memory allocation of") && stderr.contains("failed") {
        return JqError::limit(LimitKind::Memory, format!("program ran out of memory (the limit is {memory_mb} MiB)"));
    }
    // The worker entry runs before `main`, where Rust has not installed its stack-overflow
    // handler: an overflow of the evaluation stack's guard page ends the worker with SIGSEGV.
    if stderr.contains("has overflowed its stack") || matches!(signal, Some(libc::SIGSEGV | libc::SIGBUS)) {
        return JqError::limit(LimitKind::Stack, "program recursed too deeply (it overflowed the evaluation stack)".to_string());
    }
    JqError::limit(LimitKind::Crash, format!("the jq worker died ({})", describe(status)))
}

pub(crate) fn default_memory_mb() -> u64 {
    DEFAULT_MEMORY_MB
}
