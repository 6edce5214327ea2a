//! AOS on AWS Lambda: the glue between Lambda events and the runtime services. Each function under
//! `functions/` is a short `main` that calls [`init_telemetry`], builds the runtime once with
//! [`runtime_from_env`] (which also installs the metrics [`recorder`]) and hands one of these
//! handlers to the Lambda runtime; every handler flushes the invocation's metrics before it returns.
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
pub mod init;
pub mod orchestrator;
pub mod registry;
pub mod recorder;
pub mod skill;
pub mod sqs;
pub mod sweeper;
pub mod telemetry;

pub use error::RecordError;
pub use init::{metric_store_from_env, runtime_from_env, runtime_with, InitError};
pub use telemetry::init_telemetry;
