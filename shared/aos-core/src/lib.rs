//! The AOS domain: plans and their validation, templating, retries and budgets, structured
//! outcomes, determinism (canonical JSON, hashing, seeded randomness, traces), and the ports
//! (`Store`, `Queue`, `Secrets`, `Skill`) that adapters implement, and the retry decisions that
//! failure classifications drive. No I/O and no AWS types here.

pub mod canonical;
pub mod confidence;
pub mod dag;
pub mod engine;
pub mod error;
pub mod evidence;
pub mod failure;
pub mod outcome;
pub mod plan;
pub mod policy;
pub mod ports;
pub mod recovery;
pub mod retry;
pub mod rng;
pub mod run;
pub mod skill;
pub mod template;
pub mod trace;
pub mod validate;

pub use error::{DomainError, FieldError};
pub use failure::{FailureEvent, FailureKind, FailureMatch, FailureNote, RecoveryMode};
pub use outcome::{Category, Outcome, StepError};
pub use plan::{Budget, OnError, Plan, RetryPolicy, Step};
