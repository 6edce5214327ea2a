//! The failure catalog as the API shows it: its entries, one entry, and classifying an arbitrary
//! failure on request.

use super::classify::{classify_input, matcher};
use aos_core::failure::{MatchType, RecoveryMode, Severity};
use aos_core::outcome::Category;
use aos_failures::FailureInput;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// A catalog entry as the API serves it: the catalog's own entry type.
pub use aos_failures::Entry as CatalogEntry;

/// The catalog in force.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct CatalogView {
    /// The catalog format version.
    pub version: u32,
    /// SHA-256 of the catalog document (first 16 hex digits): changes whenever any entry does.
    pub digest: String,
    pub entries: Vec<CatalogEntry>,
}

/// A failure to classify.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchRequest {
    /// The error message.
    pub message: String,
    /// The error code, e.g. `HTTP_503` or `STEP_TIMEOUT`.
    #[serde(default)]
    pub code: Option<String>,
    /// The skill that failed; part of the signature only.
    #[serde(default)]
    pub skill: Option<String>,
    /// The HTTP status the failure came with.
    #[serde(default)]
    #[schema(minimum = 100, maximum = 599)]
    pub http_status: Option<u16>,
}

/// The catalog's verdict, with its advice.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct MatchResponse {
    pub matched: bool,
    /// The matching entry's code; `null` when nothing matched.
    #[schema(required = true)]
    pub code: Option<String>,
    #[schema(required = true)]
    pub category: Option<Category>,
    #[schema(required = true)]
    pub retryable: Option<bool>,
    #[schema(required = true)]
    pub severity: Option<Severity>,
    #[schema(required = true)]
    pub recovery_mode: Option<RecoveryMode>,
    pub confidence: f64,
    pub match_type: MatchType,
    pub signature: String,
    #[schema(required = true)]
    pub explanation: Option<String>,
    pub suggestions: Vec<String>,
}

pub fn catalog_view() -> CatalogView {
    let m = matcher();
    CatalogView { version: m.catalog().version, digest: digest(), entries: m.entries().to_vec() }
}

pub fn catalog_entry(code: &str) -> Option<CatalogEntry> {
    matcher().entry(code).cloned()
}

fn digest() -> String {
    static DIGEST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DIGEST.get_or_init(|| hex::encode(&Sha256::digest(aos_failures::BUILTIN_CATALOG_JSON.as_bytes())[..8])).clone()
}

/// What the match API says of a guess.
pub const INFERRED_EXPLANATION: &str = "No catalog entry matches this failure. The category and retry hint are inferred from the \
most similar labelled failures; the confidence of a guess is at most 0.45, so it never decides a retry.";

/// Classifies a failure described by hand.
pub fn match_failure(req: &MatchRequest) -> MatchResponse {
    let input = FailureInput {
        message: &req.message,
        code: req.code.as_deref(),
        skill: req.skill.as_deref(),
        http_status: req.http_status,
        ..Default::default()
    };
    let m = classify_input(&input);
    let entry = m.code.as_deref().and_then(|c| matcher().entry(c));
    MatchResponse {
        matched: m.matched,
        code: m.code,
        category: m.category,
        retryable: m.retryable,
        severity: m.severity,
        recovery_mode: m.recovery_mode,
        confidence: m.confidence,
        match_type: m.match_type,
        signature: m.signature,
        explanation: match (entry, m.match_type) {
            (Some(e), _) => Some(e.explanation.clone()),
            (None, MatchType::Inferred) => Some(INFERRED_EXPLANATION.to_string()),
            (None, _) => None,
        },
        suggestions: entry.map(|e| e.suggestions.clone()).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The API serves the catalog's own entries: the fields of `CatalogEntry` in the OpenAPI
    /// document, `generic` always, `priority` (the matcher's tie-break) never.
    #[test]
    fn entries_are_served_with_the_documented_fields() {
        let view = serde_json::to_value(catalog_view()).unwrap();
        let documented = ["category", "code", "explanation", "generic", "match", "recovery_mode", "retryable", "severity", "suggestions"];
        for entry in view["entries"].as_array().unwrap() {
            let mut keys: Vec<&str> = entry.as_object().unwrap().keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(keys, documented, "{entry}");
        }
        let prioritised = matcher().entries().iter().find(|e| e.priority != 0).expect("an entry with a priority");
        assert_eq!(serde_json::to_value(catalog_entry(&prioritised.code)).unwrap()["code"], prioritised.code.as_str());
    }
}
