//! AOS on AWS Lambda: the glue between Lambda events and the runtime services. Each function under
//! `functions/` is a short `main` that calls [`init_telemetry`], builds the runtime once with
//! [`runtime_from_env`] and hands one of these handlers to the Lambda runtime.

pub mod aggregator;
#[cfg(feature = "api")]
pub mod api;
#[cfg(feature = "api")]
pub mod authorizer;
pub mod error;
pub mod init;
pub mod orchestrator;
pub mod registry;
pub mod skill;
pub mod sqs;
pub mod sweeper;
pub mod telemetry;

pub use error::RecordError;
pub use init::{runtime_from_env, runtime_with, InitError};
pub use telemetry::init_telemetry;
