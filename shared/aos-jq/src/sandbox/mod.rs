//! Sandboxed evaluation of user jq programs in worker processes.
//!
//! jaq evaluates in-process without any way to interrupt it, cap its memory or bound its
//! recursion: `def f: f; f` never yields, `[range(1e9)]` allocates until the process aborts, and
//! deep recursion overflows the stack and aborts it. So user programs run in a pool of worker
//! processes, each confined, and a hostile program costs only its own worker.
//!
//! **Workers.** A worker is the current executable re-executed (`/proc/self/exe`: the `aos`
//! binary, a Lambda's `bootstrap`, a test binary) with `AOS_JQ_WORKER` in an otherwise empty
//! environment (the server's holds credentials; only `LD_LIBRARY_PATH` is passed on, and
//! `MIMALLOC_ARENA_RESERVE` is kept small for binaries whose allocator is mimalloc), in its own
//! process group (a terminal's Ctrl-C reaches only the server) and in `/`. A `#[ctor]` in this
//! module runs before `main` in every binary that links aos-jq; in a worker it serves requests and
//! `_exit`s, so the host's `main` (or test harness) never runs. On start a worker sets
//! `PR_SET_PDEATHSIG` (SIGKILL) and checks that its parent is still the server, sets
//! `PR_SET_NO_NEW_PRIVS`, RLIMIT_DATA (the memory cap plus the evaluation stack and 32 MiB for the
//! runtime), RLIMIT_FSIZE 0, RLIMIT_CORE 0, RLIMIT_NOFILE 16 and nice 10 (the server's own threads
//! win the CPU), then evaluates on one thread with a 64 MiB stack: legitimate recursion thousands
//! of levels deep works, deeper recursion overflows that stack and kills only the worker.
//! Compiled programs are cached in the worker by source.
//!
//! **Protocol.** Length-prefixed frames over the worker's stdin and stdout, one request at a
//! time (see `protocol.rs`); both sides cap the frames they accept. The worker enforces the output
//! caps while it serializes (a 200 MB value is refused, never shipped), and refuses outputs nested
//! deeper than 127 levels (serde_json, which parses the reply, goes no deeper). [`truthy`] stops
//! at the first output and sends back one bit; [`check`] compiles a batch in one round trip.
//!
//! **Pool.** At most `AOS_JQ_WORKERS` workers (default: four per core, 4 to 32), started on
//! demand and reused; a dead or killed one is replaced by the next request, and one idle for five
//! minutes is stopped. One owner (tenant) holds at most half the workers at once (at least one),
//! so one tenant's runaway programs cannot starve the others; requests without an owner are not
//! capped per owner. Waiting for a worker counts against the program's timeout; when none frees up
//! in time the call fails with [`JqError::Busy`] (transient), not a limit.
//!
//! **Limits.** At the deadline the server kills the worker (SIGKILL), reaps it and answers
//! [`LimitKind::Time`]. A worker that dies under a program is classified from its exit status and
//! the tail of its stderr (kept to 4 KiB, drained so it never blocks the worker):
//! "memory allocation of … failed" is [`LimitKind::Memory`], a stack overflow (SIGSEGV: the
//! worker runs before `main`, so Rust's overflow message is not printed) is
//! [`LimitKind::Stack`], anything else [`LimitKind::Crash`] with the signal. None of these is
//! transient: the same program on the same input trips them again.
//!
//! Deviations from a plain "spawn and talk over tokio pipes" design, and why: each worker is
//! driven by its own small thread (blocking I/O with `poll` deadlines) instead of the tokio
//! reactor, so the process-wide pool works across runtimes (each test and each Lambda builds its
//! own) and the worker's `PR_SET_PDEATHSIG` parent — the thread that spawned it — lives exactly
//! as long as the worker; the worker `_exit`s rather than `exit`s, since no other library's exit
//! handlers should run in a process whose `main` never ran.

mod pool;
mod protocol;
mod worker;

use crate::{JqError, LimitKind};
use protocol::Reply;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Default cap on the serialized size of a run's outputs.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 1 << 20;
/// Default cap on the number of outputs of a run.
pub const DEFAULT_MAX_OUTPUTS: usize = 100_000;
/// The time [`check`] may take for a whole batch, waiting for a worker included.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// Guards for one evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalLimits {
    /// Wall-clock time for the call, waiting for a free worker included.
    pub timeout: Duration,
    /// Cap on the total size of the outputs as JSON text (at most 256 MiB).
    pub max_output_bytes: usize,
    /// Cap on the number of outputs.
    pub max_outputs: usize,
    /// Who runs the program (the tenant): one owner holds at most half the workers at once.
    pub owner: Option<String>,
}

impl Default for EvalLimits {
    fn default() -> Self {
        Self::new(Duration::from_secs(5))
    }
}

impl EvalLimits {
    pub fn new(timeout: Duration) -> Self {
        Self { timeout, max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES, max_outputs: DEFAULT_MAX_OUTPUTS, owner: None }
    }

    pub fn with_owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }
}

/// The pool's settings; fixed once the pool is first used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxConfig {
    /// Most worker processes at once (`AOS_JQ_WORKERS`; default four per core, 4 to 32). More
    /// workers than cores, because most of a call's time is the hand-off to and from the worker, not
    /// evaluation: with two per core, one tenant (half the pool) held its steps to two calls at
    /// once and left the cores a fifth idle (docs/performance.md, "Engine overhead").
    pub workers: usize,
    /// Memory cap of one worker's program in MiB (`AOS_JQ_MEMORY_MB`; default 256).
    pub memory_mb: u64,
}

impl SandboxConfig {
    /// From `AOS_JQ_WORKERS` and `AOS_JQ_MEMORY_MB`, with the defaults for unset or invalid values.
    pub fn from_env() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let workers = std::env::var("AOS_JQ_WORKERS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or_else(|| (4 * cores).clamp(4, 32));
        let memory_mb = std::env::var("AOS_JQ_MEMORY_MB")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|n| *n > 0)
            .unwrap_or_else(pool::default_memory_mb);
        Self { workers, memory_mb }.clamped()
    }

    fn clamped(self) -> Self {
        Self { workers: self.workers.clamp(1, 256), memory_mb: self.memory_mb.clamp(16, 1 << 20) }
    }

    /// How many workers one owner may hold at once: half, at least one.
    pub fn per_owner(&self) -> usize {
        (self.workers / 2).max(1)
    }
}

/// Sets the pool's configuration before its first use (e.g. from a command-line flag). Returns
/// the configuration in force (which is `config` unless the pool was already in use).
pub fn configure(config: SandboxConfig) -> SandboxConfig {
    let _ = pool::POOL.set(pool::Pool::new(config.clamped()));
    self::config()
}

/// The pool's configuration (read from the environment on first use).
pub fn config() -> SandboxConfig {
    pool::pool().config
}

/// All outputs of `expr` on `input`, evaluated in a sandbox worker.
pub async fn run(expr: &str, input: &Value, limits: &EvalLimits) -> Result<Vec<Value>, JqError> {
    let max_output_bytes = limits.max_output_bytes.min(protocol::MAX_OUTPUT_BYTES_CEILING);
    let request = protocol::eval_request(protocol::OP_RUN, expr, input, limits.max_outputs, max_output_bytes)?;
    let max_frame = 9usize
        .saturating_add(limits.max_outputs.min(u32::MAX as usize).saturating_mul(4))
        .saturating_add(max_output_bytes)
        .max(protocol::MAX_ERROR_BYTES + 16)
        .min(u32::MAX as usize);
    match eval(request, max_frame, limits).await? {
        Reply::Values(values) => Ok(values),
        Reply::Error(e) => Err(e),
        other => Err(unexpected(&other)),
    }
}

/// Whether the first output of `expr` on `input` is truthy (not `false` or `null`); false when it
/// yields nothing. For conditions: the worker stops at the first output and sends back one bit.
pub async fn truthy(expr: &str, input: &Value, limits: &EvalLimits) -> Result<bool, JqError> {
    let request = protocol::eval_request(protocol::OP_TRUTHY, expr, input, 1, 0)?;
    match eval(request, protocol::MAX_ERROR_BYTES + 16, limits).await? {
        Reply::Bool(b) => Ok(b),
        Reply::Error(e) => Err(e),
        other => Err(unexpected(&other)),
    }
}

async fn eval(request: Vec<u8>, max_frame: usize, limits: &EvalLimits) -> Result<Reply, JqError> {
    if limits.timeout.is_zero() {
        return Err(JqError::limit(LimitKind::Time, "program ran past its time limit of 0 ms"));
    }
    let exchanged = pool::pool().call(request, 1, max_frame, limits.timeout, limits.owner.as_deref()).await;
    if let Some(e) = exchanged.failure {
        return Err(e);
    }
    exchanged.replies.into_iter().next().ok_or_else(unexpected_missing)
}

/// Programs whose check result is remembered by this process, in total text at most (the
/// remembered results are forgotten all at once past it).
const CHECKED_MAX_BYTES: usize = 1 << 20;

/// What `check` found for programs it compiled before: compiling is deterministic, so a program
/// that compiled (or failed to compile) once does the same again. Limits, crashes and a busy
/// sandbox are not remembered.
static CHECKED: std::sync::LazyLock<std::sync::Mutex<Checked>> = std::sync::LazyLock::new(Default::default);

/// The remembered check results, and the total length of their programs.
type Checked = (usize, std::collections::HashMap<String, Result<(), JqError>>);

/// Compiles each program (without running it), all in one round trip to one worker; one result
/// per program, in order. A program that kills its worker while compiling (a parser stack
/// overflow) gets that limit error, and the programs after it are checked on a fresh worker.
/// Programs checked before by this process are answered from memory (a plan submitted again
/// costs no round trip).
pub async fn check(exprs: &[String]) -> Vec<Result<(), JqError>> {
    let known: Vec<Option<Result<(), JqError>>> = {
        let checked = CHECKED.lock().unwrap_or_else(|e| e.into_inner());
        exprs.iter().map(|e| checked.1.get(e).cloned()).collect()
    };
    let missing: Vec<String> = exprs.iter().zip(&known).filter(|(_, k)| k.is_none()).map(|(e, _)| e.clone()).collect();
    let mut fresh = if missing.is_empty() { Vec::new() } else { check_in_sandbox(&missing).await }.into_iter();
    let mut checked = CHECKED.lock().unwrap_or_else(|e| e.into_inner());
    exprs
        .iter()
        .zip(known)
        .map(|(expr, known)| {
            known.unwrap_or_else(|| {
                let result = fresh.next().unwrap_or_else(|| Err(unexpected_missing()));
                if matches!(result, Ok(()) | Err(JqError::Compile { .. })) {
                    if checked.0 + expr.len() > CHECKED_MAX_BYTES {
                        *checked = Default::default();
                    }
                    checked.0 += expr.len();
                    checked.1.insert(expr.clone(), result.clone());
                }
                result
            })
        })
        .collect()
}

async fn check_in_sandbox(exprs: &[String]) -> Vec<Result<(), JqError>> {
    let deadline = Instant::now() + CHECK_TIMEOUT;
    let mut results: Vec<Result<(), JqError>> = Vec::with_capacity(exprs.len());
    while results.len() < exprs.len() {
        let rest = &exprs[results.len()..];
        let request = match protocol::check_request(rest) {
            Ok(r) => r,
            Err(e) => {
                results.extend(rest.iter().map(|_| Err(e.clone())));
                break;
            }
        };
        let timeout = deadline.saturating_duration_since(Instant::now());
        let exchanged = if timeout.is_zero() {
            pool::Exchanged {
                replies: Vec::new(),
                failure: Some(JqError::limit(LimitKind::Time, "checking the programs ran past its time limit")),
            }
        } else {
            pool::pool().call(request, rest.len(), protocol::MAX_ERROR_BYTES + 16, timeout, None).await
        };
        for reply in exchanged.replies {
            results.push(match reply {
                Reply::Check(r) => r,
                other => Err(unexpected(&other)),
            });
        }
        let Some(failure) = exchanged.failure else { continue };
        if results.len() >= exprs.len() {
            break;
        }
        match failure.limit_kind() {
            // The program being compiled killed the worker: it alone gets the error.
            Some(LimitKind::Stack | LimitKind::Memory | LimitKind::Crash) => results.push(Err(failure)),
            // Out of time or no worker: every program not yet checked gets it.
            _ => {
                let missing = exprs.len() - results.len();
                results.extend(std::iter::repeat_n(failure, missing).map(Err));
            }
        }
    }
    results
}

fn unexpected(reply: &Reply) -> JqError {
    JqError::limit(LimitKind::Crash, format!("the jq worker sent an unexpected reply: {reply:?}"))
}

fn unexpected_missing() -> JqError {
    JqError::limit(LimitKind::Crash, "the jq worker sent no reply")
}
