//! aos-jq: jq programs for plans (conditions, transforms), built on jaq.
//!
//! User programs run only through [`sandbox`]: a pool of worker processes with memory, stack and
//! time limits, so a hostile program costs its own worker and never the server. The in-process
//! evaluator (`eval.rs`, `cache.rs`) is what a worker runs and is private to the crate: in-process,
//! jaq cannot be interrupted, memory-capped or depth-limited. The `unsandboxed` feature exposes it
//! for measuring the sandbox's overhead only.
//!
//! Programs cannot read the environment, the clock, the local time zone, or any process I/O
//! (`input`, `debug`, `stderr`, ...), so they stay pure.

mod cache;
mod convert;
mod diagnostics;
mod error;
mod eval;
pub mod sandbox;

pub(crate) use cache::ProgramCache;
pub use error::{JqError, LimitKind, Position};
pub(crate) use eval::Raised;
#[cfg(test)]
pub(crate) use eval::{compile, Limits, Program};

/// The in-process evaluator, for measuring the sandbox's overhead (`examples/sandbox_bench.rs`).
/// Never for untrusted programs.
#[cfg(feature = "unsandboxed")]
pub mod unsandboxed {
    pub use crate::cache::ProgramCache;
    pub use crate::eval::{compile, Limits, Program, MAX_OUTPUTS};
}

use serde_json::Value;

/// jq truthiness: everything but `false` and `null` is true.
pub fn truthy(v: &Value) -> bool {
    !matches!(v, Value::Null | Value::Bool(false))
}

#[cfg(test)]
mod tests;
