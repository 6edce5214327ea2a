//! AOS runtime services over the ports: run submission and reading, the orchestrator, skill
//! workers, failure records and metrics, replay, simulation, workflows and API keys. Used by
//! `aos serve` and by the Lambdas.

pub mod audit;
pub mod auth;
pub mod clock;
pub mod conditions;
pub mod consumers;
pub mod delivery;
mod executor;
pub mod failures;
pub mod keys;
pub mod messages;
pub mod metric_store;
pub mod oidc;
pub mod orchestrator;
pub mod recovery;
pub mod redact;
pub mod replay;
pub mod runs;
pub mod schedule;
pub mod secret_mask;
pub mod service;
pub mod settings;
pub mod simulate;
pub mod telemetry;
pub mod views;
pub mod worker;
pub mod workflows;

pub use service::{LongPoll, Ports, Runtime, RuntimeBuilder, Topology};
pub use settings::{ConfigError, RuntimeSettings};
