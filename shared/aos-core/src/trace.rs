//! Traces: the ordered step records of a run, each hashed, chained into one root hash that the SDKs
//! recompute to verify a run. Order: plan topological order, then attempt ascending.

use crate::canonical::{hash_value, sha256_hex};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

/// The hashed part of one attempt: only fields that replay reproduces (no timings).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct TraceEntry {
    pub step_id: String,
    pub attempt: u32,
    pub skill: String,
    pub input_hash: String,
    pub output_hash: String,
    pub ok: bool,
}

impl TraceEntry {
    /// SHA-256 of the canonical JSON of this entry's six fields.
    pub fn hash(&self) -> String {
        hash_value(&json!({
            "step_id": self.step_id,
            "attempt": self.attempt,
            "skill": self.skill,
            "input_hash": self.input_hash,
            "output_hash": self.output_hash,
            "ok": self.ok,
        }))
    }
}

/// `root_0 = sha256("")`; `root_i = sha256(root_{i-1} ‖ step_hash_i)` over the lower-case hex strings.
pub fn root_hash<'a>(entries: impl IntoIterator<Item = &'a TraceEntry>) -> String {
    entries.into_iter().fold(sha256_hex(b""), |acc, e| sha256_hex(format!("{acc}{}", e.hash()).as_bytes()))
}
