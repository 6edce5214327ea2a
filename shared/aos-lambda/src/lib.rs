//! AOS on AWS Lambda: the glue between Lambda events and the runtime services. Each function under
//! `functions/` is a short `main` that hands its [`Function`] to [`run`], which builds the runtime
//! once (`runtime_from_env`, which also installs the metrics [`recorder`]) and serves every
//! invocation through one wrapper, [`Invocation`]: a span naming the function, panics turned into
//! errors, and the invocation's metrics flushed before its response goes back. The functions are
//! listed in [`functions`].
//!
//! The functions run on tokio's current-thread runtime: an execution environment serves one
//! invocation at a time, so worker threads would only add to the cold start (spawning them and
//! reading the cgroup CPU quota to size the pool) without serving anything in parallel; the
//! concurrent I/O inside an invocation (an SQS batch's records, a long poll) interleaves on the
//! one thread just the same. Nothing here blocks a thread (no `block_in_place`).

pub mod aggregator;
#[cfg(feature = "api")]
pub mod api;
#[cfg(feature = "api")]
pub mod authorizer;
pub mod emf;
pub mod error;
pub mod exposition;
pub mod function;
#[cfg(feature = "api")]
pub mod functions;
pub mod init;
pub mod orchestrator;
pub mod recorder;
pub mod registry;
pub mod skill;
pub mod sqs;
pub mod sweeper;
pub mod telemetry;
pub mod xray;

pub use error::RecordError;
pub use function::{run, Error, Function, Handler, Invocation};
pub use init::{metric_store_from_env, runtime_from_env, runtime_with, InitError};
pub use telemetry::init_telemetry;

// For `api_function!` and `skill_function!`, so that the functions depend on this crate alone.
#[cfg(feature = "api")]
#[doc(hidden)]
pub use aos_api;
#[doc(hidden)]
pub use aos_skills;
