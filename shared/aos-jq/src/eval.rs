//! The in-process evaluator: compile a jq program with jq's standard library, run it over jaq
//! values. Only sandbox workers run user programs with it (see [`crate::sandbox`]): in-process,
//! jaq cannot be interrupted, memory-capped or depth-limited.

// Running a program to completion in-process (`Program::run*`, `Limits`) is for the unit tests
// and the `unsandboxed` benchmark only; sandbox workers stream outputs with `each_output`.
#![cfg_attr(not(any(test, feature = "unsandboxed")), allow(dead_code))]

use crate::{convert, diagnostics, JqError, LimitKind};
use jaq_core::compile::Filter;
use jaq_core::load::{Arena, File, Loader};
use jaq_core::native::{bome, v, Fun};
use jaq_core::{data::JustLut, Compiler, Ctx, Error, Exn, Native, Vars};
use jaq_json::Val;
use serde_json::Value;
use std::ops::ControlFlow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

/// Default cap on the number of outputs of one run.
pub const MAX_OUTPUTS: usize = 100_000;

/// jaq evaluates recursively (about 10 KiB of stack per jq call level in release builds, several
/// times that in debug), so a 2 MiB async worker stack overflows — aborting the process — after a
/// few hundred levels. Compiling and running on a fresh stack of this size makes deep but
/// legitimate programs safe on any thread; memory is committed only as it is used.
const STACK_BYTES: usize = 64 << 20;
/// Below this much remaining stack a run moves to a fresh stack; a sandbox worker's evaluation
/// thread has a stack this big of its own, so runs there never pay for a new stack.
const RED_ZONE: usize = 16 << 20;

type Data = JustLut<Val>;

/// A compiled jq program. Immutable, so it is shared across threads and runs by reference.
#[derive(Clone)]
pub struct Program {
    filter: Arc<Filter<Native<Data>>>,
    source: Arc<str>,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program").field("source", &self.source).finish()
    }
}

/// Guards for one in-process run.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_outputs: usize,
    /// Checked between outputs: a program that computes forever without yielding is not stopped.
    pub deadline: Option<Instant>,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_outputs: MAX_OUTPUTS, deadline: None }
    }
}

/// Compiles a jq program with jq's standard library (in-process; see [`sandbox::check`]).
pub fn compile(expr: &str) -> Result<Program, JqError> {
    on_big_stack(|| compile_here(expr))
}

fn compile_here(expr: &str) -> Result<Program, JqError> {
    let defs = jaq_core::defs().chain(jaq_std::defs()).chain(jaq_json::defs());
    let arena = Arena::default();
    let modules = Loader::new(defs).load(&arena, File { code: expr, path: () }).map_err(|errs| diagnostics::load_error(expr, errs))?;
    let filter = Compiler::default().with_funs(funs()).compile(modules).map_err(|errs| diagnostics::undefined_error(expr, errs))?;
    Ok(Program { filter: Arc::new(filter), source: Arc::from(expr) })
}

impl Program {
    /// All outputs of the program on `input`, capped at [`MAX_OUTPUTS`].
    pub fn run(&self, input: Value) -> Result<Vec<Value>, JqError> {
        self.run_with_limits(input, &Limits::default())
    }

    pub fn run_with_limits(&self, input: Value, limits: &Limits) -> Result<Vec<Value>, JqError> {
        on_big_stack(|| self.collect(convert::to_val(input), limits))
    }

    fn collect(&self, input: Val, limits: &Limits) -> Result<Vec<Value>, JqError> {
        let mut out = Vec::new();
        let mut failed = None;
        self.each_output(input, |item| {
            let result = item.map_err(Raised::into_error).and_then(|val| {
                if out.len() >= limits.max_outputs {
                    return Err(JqError::limit(LimitKind::Outputs, format!("program yielded more than {} outputs", limits.max_outputs)));
                }
                if limits.deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(JqError::limit(LimitKind::Time, "program ran past its deadline"));
                }
                out.push(convert::from_val(&val, 0)?);
                Ok(())
            });
            match result {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => {
                    failed = Some(e);
                    ControlFlow::Break(())
                }
            }
        });
        failed.map_or(Ok(out), Err)
    }

    /// Feeds each output (or the error that ended the stream) to `f` until it breaks.
    pub(crate) fn each_output(&self, input: Val, mut f: impl FnMut(Result<Val, Raised>) -> ControlFlow<()>) {
        let ctx = Ctx::<Data>::new(&self.filter.lut, Vars::new([]));
        for item in self.filter.id.run((ctx, input)) {
            let item = item.map_err(raised);
            let is_err = item.is_err();
            if f(item).is_break() || is_err {
                return;
            }
        }
    }
}

/// What a program raised: a message, and the raised value when it was not a string.
pub(crate) struct Raised {
    pub(crate) message: String,
    pub(crate) value: Option<Val>,
}

impl Raised {
    fn into_error(self) -> JqError {
        JqError::Runtime { message: self.message, value: self.value.and_then(|v| convert::from_val(&v, 0).ok()) }
    }
}

/// Runs `f` on a fresh large stack. jaq is third-party code: a panic inside it becomes an error of
/// this program rather than unwinding through the caller.
pub(crate) fn on_big_stack<T>(f: impl FnOnce() -> Result<T, JqError>) -> Result<T, JqError> {
    stacker::maybe_grow(RED_ZONE, STACK_BYTES, || catch_unwind(AssertUnwindSafe(f))).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        Err(JqError::Runtime { message: format!("jq interpreter failed: {what}"), value: None })
    })
}

fn raised(e: Exn<'_, Val>) -> Raised {
    let message = |message: String| Raised { message, value: None };
    match e.get_err() {
        Ok(err) => match err.into_val() {
            Val::TStr(s) | Val::BStr(s) => message(String::from_utf8_lossy(&s).into_owned()),
            other => Raised { message: other.to_string(), value: Some(other) },
        },
        Err(e) => match e.get_halt() {
            Ok(code) => message(format!("program called halt with exit code {code}")),
            Err(_) => message("program escaped jq's control flow".to_string()),
        },
    }
}

/// Filters whose results depend on the process (environment, clock, local time zone) rather
/// than the input, or that reach process I/O (`debug` and `stderr` log through the `log` crate;
/// `halt_error` is defined with `stderr`). They are replaced by ones that fail, so the standard
/// library still resolves. `input`/`inputs` are not defined at all (jaq-std's input filters are
/// not loaded), `input_filename`, `$ENV` and `$__loc__` do not exist in jaq: all compile errors.
const IMPURE: [(&str, usize); 6] =
    [("env", 0), ("now", 0), ("localtime", 0), ("strflocaltime", 1), ("debug_empty", 0), ("stderr_empty", 0)];

/// A native filter that always fails with `$why` (natives are function pointers, so a macro).
macro_rules! refuse {
    ($name:literal, $arity:literal, $why:literal) => {
        ($name, v($arity), Native::new(|_| bome(Err(Error::str($why)))))
    };
}

fn funs() -> impl Iterator<Item = Fun<Data>> {
    let pure =
        jaq_core::funs().chain(jaq_std::funs()).chain(jaq_json::funs()).filter(|(name, args, _)| !IMPURE.contains(&(*name, args.len())));
    let refused: [Fun<Data>; 6] = [
        refuse!("env", 0, "`env` is not available: AOS jq programs cannot read the environment"),
        refuse!("now", 0, "`now` is not available: AOS jq programs must be deterministic"),
        refuse!("localtime", 0, "`localtime` is not available: use gmtime"),
        refuse!("strflocaltime", 1, "`strflocaltime` is not available: use strftime"),
        refuse!("debug_empty", 0, "`debug` is not available: AOS jq programs cannot write logs"),
        refuse!("stderr_empty", 0, "`stderr` and `halt_error` are not available: AOS jq programs cannot write output"),
    ];
    pure.chain(refused)
}
