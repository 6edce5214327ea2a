//! aos-jq: jq programs for plans (conditions, transforms). A thin, pure wrapper around jaq:
//! compile once, run many times over serde_json values, with guards against runaway programs.
//! Programs cannot read the environment, the clock or the local time zone, so they stay pure.

mod cache;
pub mod pool;
mod convert;
mod diagnostics;
mod error;

pub use cache::ProgramCache;
pub use error::{JqError, Position};

use jaq_core::compile::Filter;
use jaq_core::load::{Arena, File, Loader};
use jaq_core::native::{bome, v, Fun};
use jaq_core::{data::JustLut, Compiler, Ctx, Error, Exn, Native, Vars};
use jaq_json::Val;
use serde_json::Value;
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
/// Below this much remaining stack a run moves to a fresh stack; the pool's threads have
/// `STACK_BYTES` of their own, so runs there never pay for a new stack.
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

/// Guards for one run.
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

/// Compiles a jq program with jq's standard library.
pub fn compile(expr: &str) -> Result<Program, JqError> {
    on_big_stack(|| compile_here(expr))
}

fn compile_here(expr: &str) -> Result<Program, JqError> {
    let defs = jaq_core::defs().chain(jaq_std::defs()).chain(jaq_json::defs());
    let arena = Arena::default();
    let modules = Loader::new(defs)
        .load(&arena, File { code: expr, path: () })
        .map_err(|errs| diagnostics::load_error(expr, errs))?;
    let filter = Compiler::default()
        .with_funs(funs())
        .compile(modules)
        .map_err(|errs| diagnostics::undefined_error(expr, errs))?;
    Ok(Program { filter: Arc::new(filter), source: Arc::from(expr) })
}

/// jq truthiness: everything but `false` and `null` is true.
pub fn truthy(v: &Value) -> bool {
    !matches!(v, Value::Null | Value::Bool(false))
}

impl Program {
    pub fn source(&self) -> &str {
        &self.source
    }

    /// All outputs of the program on `input`, capped at [`MAX_OUTPUTS`].
    pub fn run(&self, input: Value) -> Result<Vec<Value>, JqError> {
        self.run_with_limits(input, &Limits::default())
    }

    pub fn run_with_limits(&self, input: Value, limits: &Limits) -> Result<Vec<Value>, JqError> {
        on_big_stack(|| self.collect(convert::to_val(input), limits))
    }

    fn collect(&self, input: Val, limits: &Limits) -> Result<Vec<Value>, JqError> {
        let ctx = Ctx::<Data>::new(&self.filter.lut, Vars::new([]));
        let mut out = Vec::new();
        for item in self.filter.id.run((ctx, input)) {
            let val = item.map_err(exception)?;
            if out.len() >= limits.max_outputs {
                return Err(JqError::Limit {
                    message: format!("program yielded more than {} outputs", limits.max_outputs),
                });
            }
            if limits.deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(JqError::Limit { message: "program ran past its deadline".to_string() });
            }
            out.push(convert::from_val(&val, 0)?);
        }
        Ok(out)
    }
}

/// Runs `f` on a fresh large stack. jaq is third-party code: a panic inside it becomes an error of
/// this program rather than unwinding through the caller.
fn on_big_stack<T>(f: impl FnOnce() -> Result<T, JqError>) -> Result<T, JqError> {
    stacker::maybe_grow(RED_ZONE, STACK_BYTES, || catch_unwind(AssertUnwindSafe(f))).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        Err(JqError::Runtime { message: format!("jq interpreter failed: {what}"), value: None })
    })
}

fn exception(e: Exn<'_, Val>) -> JqError {
    match e.get_err() {
        Ok(err) => match err.into_val() {
            Val::TStr(s) | Val::BStr(s) => {
                JqError::Runtime { message: String::from_utf8_lossy(&s).into_owned(), value: None }
            }
            other => JqError::Runtime { message: other.to_string(), value: convert::from_val(&other, 0).ok() },
        },
        Err(e) => match e.get_halt() {
            Ok(code) => JqError::Runtime { message: format!("program called halt with exit code {code}"), value: None },
            Err(_) => JqError::Runtime { message: "program escaped jq's control flow".to_string(), value: None },
        },
    }
}

/// Filters whose results depend on the process (environment, clock, local time zone) rather
/// than the input. They are replaced by ones that fail, so the standard library still resolves.
const IMPURE: [(&str, usize); 4] = [("env", 0), ("now", 0), ("localtime", 0), ("strflocaltime", 1)];

fn funs() -> impl Iterator<Item = Fun<Data>> {
    let pure = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs())
        .filter(|(name, args, _)| !IMPURE.contains(&(*name, args.len())));
    let refused: [Fun<Data>; 4] = [
        (
            "env",
            v(0),
            Native::new(|_| {
                bome(Err(Error::str("`env` is not available: AOS jq programs cannot read the environment")))
            }),
        ),
        (
            "now",
            v(0),
            Native::new(|_| bome(Err(Error::str("`now` is not available: AOS jq programs must be deterministic")))),
        ),
        ("localtime", v(0), Native::new(|_| bome(Err(Error::str("`localtime` is not available: use gmtime"))))),
        (
            "strflocaltime",
            v(1),
            Native::new(|_| bome(Err(Error::str("`strflocaltime` is not available: use strftime")))),
        ),
    ];
    pure.chain(refused)
}

#[cfg(test)]
mod tests;
