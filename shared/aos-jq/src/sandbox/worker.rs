//! The worker side: the `#[ctor]` entry that turns any binary linking aos-jq into a jq worker when
//! the server started it as one, the confinement it applies to itself, and the request loop.

use super::protocol::{self, Request};
use crate::{convert, JqError, LimitKind, ProgramCache, Raised};
use jaq_json::Val;
use std::io::{Read, Write};
use std::mem::ManuallyDrop;
use std::ops::ControlFlow;
use std::os::fd::FromRawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Set (to the protocol version) in a worker's environment: the process is a jq worker.
pub(crate) const WORKER_ENV: &str = "AOS_JQ_WORKER";
/// The server's pid; a worker whose parent is not that process exits at once.
pub(crate) const PARENT_ENV: &str = "AOS_JQ_PARENT_PID";
/// The memory cap in MiB, read by the server and passed down.
pub(crate) const MEMORY_ENV: &str = "AOS_JQ_MEMORY_MB";
pub(crate) const PROTOCOL_VERSION: &str = "1";
pub(crate) const DEFAULT_MEMORY_MB: u64 = 256;

/// The evaluation thread's stack. jaq recurses about 10 KiB per jq call level in release builds
/// (several times that in debug), so this fits thousands of levels; deeper recursion overflows it
/// and kills only this worker. Committed only as it is touched.
pub(crate) const EVAL_STACK_BYTES: usize = 64 << 20;
/// RLIMIT_DATA counts every private writable mapping: the evaluation stack, the binary's own data,
/// the allocator's bookkeeping and the request buffers. This much above the program's budget.
const RUNTIME_SLACK_BYTES: u64 = 32 << 20;
const CACHE_CAPACITY: usize = 128;
const MAX_OPEN_FILES: u64 = 16;
const NICENESS: i32 = 10;
/// A raised error value is dropped from the reply when it is larger or deeper than this.
const MAX_ERROR_VALUE_BYTES: usize = 32 << 10;
const MAX_ERROR_VALUE_DEPTH: usize = 64;

/// Runs before `main` in every binary that links aos-jq (the `aos` binary, a Lambda's
/// `bootstrap`, test binaries). Outside a worker it only reads one environment variable.
#[ctor::ctor]
unsafe fn aos_jq_sandbox_worker_entry() {
    if std::env::var_os(WORKER_ENV).is_some() {
        let code = worker_main();
        // `_exit`, not `exit`: `main` never ran, so no other library's exit handlers should either.
        // Everything this worker wrote went straight to its file descriptors.
        libc::_exit(code);
    }
}

fn worker_main() -> i32 {
    let parent = std::env::var(PARENT_ENV).ok().and_then(|p| p.parse::<libc::pid_t>().ok());
    // Die with the server: PR_SET_PDEATHSIG, then check the parent is still the one that started
    // us (if it died before the prctl we were already reparented and would never get the signal).
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) };
    if parent.is_none() || parent != Some(unsafe { libc::getppid() }) {
        eprintln!("aos-jq: {WORKER_ENV} is set but this process was not started by its AOS server; exiting");
        return 3;
    }
    let memory_mb = std::env::var(MEMORY_ENV).ok().and_then(|m| m.parse().ok()).unwrap_or(DEFAULT_MEMORY_MB);
    if let Err(e) = confine(memory_mb) {
        // Fail closed: an unconfined worker must not evaluate anything.
        eprintln!("aos-jq: could not confine the jq worker: {e}");
        return 4;
    }
    // Panics inside jaq are caught and answered as errors; the default hook would also print them.
    std::panic::set_hook(Box::new(|_| {}));

    // The protocol's pipes, used unbuffered on the evaluation thread; never closed here.
    let mut output = ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(1) });
    if output.write_all(&protocol::seal(hello())).is_err() {
        return 5;
    }
    let spawned = std::thread::Builder::new().name("aos-jq-eval".into()).stack_size(EVAL_STACK_BYTES).spawn(|| {
        let input = ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(0) });
        let output = ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(1) });
        serve(std::io::BufReader::with_capacity(64 << 10, &*input), &*output)
    });
    match spawned.map(|t| t.join()) {
        Ok(Ok(code)) => code,
        _ => 6,
    }
}

fn hello() -> Vec<u8> {
    let mut f = vec![0, 0, 0, 0];
    f.extend_from_slice(protocol::HELLO);
    f
}

/// Limits the worker applies to itself before it reads any program.
fn confine(memory_mb: u64) -> std::io::Result<()> {
    fn check(rc: libc::c_int) -> std::io::Result<()> {
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
    fn limit(resource: libc::__rlimit_resource_t, value: u64) -> std::io::Result<()> {
        let l = libc::rlimit { rlim_cur: value, rlim_max: value };
        check(unsafe { libc::setrlimit(resource, &l) })
    }
    check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })?;
    // Only the protocol's pipes and stderr stay open: a descriptor the server leaked without
    // close-on-exec is closed (best effort: close_range needs Linux 5.9).
    unsafe { libc::syscall(libc::SYS_close_range, 3 as libc::c_uint, libc::c_uint::MAX, 0 as libc::c_uint) };
    let data = memory_mb.saturating_mul(1 << 20).saturating_add(EVAL_STACK_BYTES as u64).saturating_add(RUNTIME_SLACK_BYTES);
    limit(libc::RLIMIT_DATA, data)?;
    limit(libc::RLIMIT_FSIZE, 0)?;
    limit(libc::RLIMIT_CORE, 0)?;
    limit(libc::RLIMIT_NOFILE, MAX_OPEN_FILES)?;
    // Per thread on Linux: set before the evaluation thread starts, which inherits it. Best effort.
    unsafe { libc::nice(NICENESS) };
    Ok(())
}

/// The request loop. Returns the exit code: 0 when the server closes stdin.
fn serve(mut input: impl Read, mut output: impl Write) -> i32 {
    let cache = ProgramCache::new(CACHE_CAPACITY);
    loop {
        let mut len = [0u8; 4];
        match input.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return 0,
            Err(_) => return 7,
        }
        let len = u32::from_le_bytes(len) as usize;
        if len > protocol::MAX_REQUEST_BYTES {
            return 8;
        }
        let mut payload = vec![0; len];
        if input.read_exact(&mut payload).is_err() {
            return 7;
        }
        let written = match protocol::parse_request(&payload) {
            Ok(Request::Eval { op, max_outputs, max_output_bytes, expr, input }) => {
                let frame = guarded(|| eval(&cache, op, expr, input, max_outputs, max_output_bytes), protocol::REPLY_ERROR);
                output.write_all(&frame)
            }
            Ok(Request::Check(exprs)) => exprs.into_iter().try_for_each(|expr| {
                let frame = guarded(|| check(&cache, expr), protocol::REPLY_CHECK);
                output.write_all(&frame)
            }),
            Err(_) => return 9,
        };
        if written.is_err() {
            return 10;
        }
    }
}

/// Runs `f`; a panic inside jaq becomes an error reply of kind `reply`. Every jaq value of the
/// request is dropped inside `f`, before the reply is written: a value too deep to drop overflows
/// the stack here, so the server sees the worker die instead of a reply followed by a death.
fn guarded(f: impl FnOnce() -> Vec<u8>, reply: u8) -> Vec<u8> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        error_frame(reply, &JqError::Runtime { message: format!("jq interpreter failed: {what}"), value: None }, None)
    })
}

fn check(cache: &ProgramCache, expr: &str) -> Vec<u8> {
    match cache.get_or_compile(expr) {
        Ok(_) => {
            let mut f = protocol::frame(protocol::REPLY_CHECK);
            f.extend_from_slice(b"null");
            protocol::seal(f)
        }
        Err(e) => error_frame(protocol::REPLY_CHECK, &e, None),
    }
}

fn eval(cache: &ProgramCache, op: u8, expr: &str, input: &[u8], max_outputs: usize, max_output_bytes: usize) -> Vec<u8> {
    let error = |e: &JqError| error_frame(protocol::REPLY_ERROR, e, None);
    let program = match cache.get_or_compile(expr) {
        Ok(p) => p,
        Err(e) => return error(&e),
    };
    let input = match serde_json::from_slice::<serde_json::Value>(input) {
        Ok(v) => convert::to_val(v),
        Err(e) => return error(&JqError::Runtime { message: format!("input is not valid JSON: {e}"), value: None }),
    };
    if op == protocol::OP_TRUTHY {
        let mut answer = None;
        program.each_output(input, |item| {
            answer = Some(item.map(|v| !matches!(v, Val::Null | Val::Bool(false))));
            ControlFlow::Break(())
        });
        return match answer {
            Some(Err(raised)) => raised_frame(raised),
            Some(Ok(b)) => protocol::seal(vec![0, 0, 0, 0, protocol::REPLY_BOOL, u8::from(b)]),
            None => protocol::seal(vec![0, 0, 0, 0, protocol::REPLY_BOOL, 0]),
        };
    }
    let mut values = ValuesFrame::new(max_outputs, max_output_bytes);
    let mut failure = None;
    program.each_output(input, |item| {
        let failed = match item {
            Ok(v) => match values.push(&v) {
                Ok(()) => return ControlFlow::Continue(()),
                Err(e) => error(&e),
            },
            Err(raised) => raised_frame(raised),
        };
        failure = Some(failed);
        ControlFlow::Break(())
    });
    failure.unwrap_or_else(|| values.finish())
}

/// A `V` frame, written output by output with the caps enforced as it grows: a program's huge
/// output is refused before it is ever copied whole.
struct ValuesFrame {
    buf: Vec<u8>,
    count: usize,
    json_bytes: usize,
    max_outputs: usize,
    max_bytes: usize,
}

impl ValuesFrame {
    fn new(max_outputs: usize, max_bytes: usize) -> Self {
        let mut buf = protocol::frame(protocol::REPLY_VALUES);
        buf.extend_from_slice(&[0; 4]);
        Self { buf, count: 0, json_bytes: 0, max_outputs, max_bytes }
    }

    fn push(&mut self, v: &Val) -> Result<(), JqError> {
        if self.count >= self.max_outputs {
            return Err(JqError::limit(LimitKind::Outputs, format!("program yielded more than {} outputs", self.max_outputs)));
        }
        let len_at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        let start = self.buf.len();
        let end = start + (self.max_bytes - self.json_bytes);
        write_json(v, 0, &mut self.buf, end, protocol::MAX_OUTPUT_DEPTH).map_err(|e| match e {
            Refused::Size => JqError::limit(LimitKind::OutputSize, format!("program output is larger than {} bytes", self.max_bytes)),
            Refused::Depth => {
                JqError::limit(LimitKind::Depth, format!("output is nested deeper than {} levels", protocol::MAX_OUTPUT_DEPTH))
            }
        })?;
        let n = self.buf.len() - start;
        self.buf[len_at..start].copy_from_slice(&(n as u32).to_le_bytes());
        self.json_bytes += n;
        self.count += 1;
        Ok(())
    }

    fn finish(mut self) -> Vec<u8> {
        self.buf[5..9].copy_from_slice(&(self.count as u32).to_le_bytes());
        protocol::seal(self.buf)
    }
}

enum Refused {
    Size,
    Depth,
}

/// Writes `v` as JSON (numbers and keys as [`convert::from_val`] gives them) without building a
/// serde_json value, refusing it once `buf` would pass `end` or containers nest deeper than
/// `max_depth`.
fn write_json(v: &Val, depth: usize, buf: &mut Vec<u8>, end: usize, max_depth: usize) -> Result<(), Refused> {
    match v {
        Val::Null => buf.extend_from_slice(b"null"),
        Val::Bool(true) => buf.extend_from_slice(b"true"),
        Val::Bool(false) => buf.extend_from_slice(b"false"),
        Val::Num(n) => {
            let _ = serde_json::to_writer(&mut *buf, &convert::num_to_json(n));
        }
        Val::BStr(s) | Val::TStr(s) => {
            if buf.len() + s.len() + 2 > end {
                return Err(Refused::Size);
            }
            let _ = serde_json::to_writer(&mut *buf, &*String::from_utf8_lossy(s));
        }
        Val::Arr(a) => {
            if depth >= max_depth {
                return Err(Refused::Depth);
            }
            buf.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                write_json(x, depth + 1, buf, end, max_depth)?;
            }
            buf.push(b']');
        }
        Val::Obj(o) => {
            if depth >= max_depth {
                return Err(Refused::Depth);
            }
            buf.push(b'{');
            for (i, (k, x)) in o.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                let _ = serde_json::to_writer(&mut *buf, &convert::key_string(k));
                buf.push(b':');
                write_json(x, depth + 1, buf, end, max_depth)?;
            }
            buf.push(b'}');
        }
    }
    if buf.len() > end {
        return Err(Refused::Size);
    }
    Ok(())
}

fn raised_frame(raised: Raised) -> Vec<u8> {
    let e = JqError::Runtime { message: raised.message, value: None };
    error_frame(protocol::REPLY_ERROR, &e, raised.value.as_ref())
}

/// An `E` or `K` frame holding `e`; `raised` is the value a program raised, written when small.
fn error_frame(kind: u8, e: &JqError, raised: Option<&Val>) -> Vec<u8> {
    let mut f = protocol::frame(kind);
    let message = protocol::clip(e.message(), protocol::MAX_ERROR_BYTES / 2);
    let (t, extra) = match e {
        JqError::Compile { position, .. } => {
            ("compile", position.map(|p| format!(r#","line":{},"column":{}"#, p.line, p.column)).unwrap_or_default())
        }
        JqError::Runtime { .. } => ("runtime", String::new()),
        JqError::Limit { kind, .. } => ("limit", format!(r#","kind":"{kind}""#)),
        JqError::Busy { .. } => ("limit", format!(r#","kind":"{}""#, LimitKind::Crash)),
    };
    f.extend_from_slice(br#"{"t":""#);
    f.extend_from_slice(t.as_bytes());
    f.extend_from_slice(br#"","message":"#);
    let _ = serde_json::to_writer(&mut f, message);
    f.extend_from_slice(extra.as_bytes());
    if let Some(v) = raised {
        let mut value = Vec::new();
        if write_json(v, 0, &mut value, MAX_ERROR_VALUE_BYTES, MAX_ERROR_VALUE_DEPTH).is_ok() {
            f.extend_from_slice(br#","value":"#);
            f.extend_from_slice(&value);
        }
    }
    f.push(b'}');
    protocol::seal(f)
}
