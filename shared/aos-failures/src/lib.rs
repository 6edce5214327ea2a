//! AOS failure catalog v2 and its matcher. Every failure of a step attempt is classified against
//! a versioned catalog of known failures, so that it can be explained, grouped by signature and
//! recovered from; the rules that make classification deterministic are documented in `matcher`.

mod catalog;
mod index;
mod infer;
mod input;
mod literal;
mod matcher;
mod normalize;
mod rank;
mod signature;

pub use catalog::{Catalog, CatalogError, Entry, MatchRules, RecoveryMode, Severity, StatusRule, BUILTIN_CATALOG_JSON};
pub use infer::{Inference, MAX_INFERRED_CONFIDENCE};
pub use input::FailureInput;
pub use matcher::{FailureMatcher, MatchResult, MatchType};
pub use normalize::{normalize, normalize_into, MAX_SCAN_BYTES};
pub use signature::signature;

/// Re-exported so that callers need not depend on `aos-core` to read an entry's category.
pub use aos_core::outcome::Category;
