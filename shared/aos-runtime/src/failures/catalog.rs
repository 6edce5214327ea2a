//! The failure catalog as the API shows it: its entries, one entry, and classifying an arbitrary
//! failure on request.

use super::classify::{classify_input, matcher};
use aos_core::failure::{MatchType, RecoveryMode, Severity};
use aos_core::outcome::Category;
use aos_failures::FailureInput;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// One known failure of the catalog.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct CatalogEntry {
    pub code: String,
    pub category: Category,
    pub retryable: bool,
    pub severity: Severity,
    pub recovery_mode: RecoveryMode,
    pub explanation: String,
    pub suggestions: Vec<String>,
    /// A family catch-all (e.g. any 4xx): a specific entry's match outranks it.
    pub generic: bool,
    /// How the entry recognizes a failure: error `codes`, `http_status`, `aws_codes`,
    /// `smtp_codes`, `os_kinds`, and message `patterns` (regexes over the normalized message).
    #[serde(rename = "match")]
    #[schema(value_type = Object)]
    pub rules: Value,
}

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
    CatalogView { version: m.catalog().version, digest: digest(), entries: m.entries().iter().map(entry_view).collect() }
}

pub fn catalog_entry(code: &str) -> Option<CatalogEntry> {
    matcher().entry(code).map(entry_view)
}

fn digest() -> String {
    static DIGEST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DIGEST.get_or_init(|| hex::encode(&Sha256::digest(aos_failures::BUILTIN_CATALOG_JSON.as_bytes())[..8])).clone()
}

fn entry_view(e: &aos_failures::Entry) -> CatalogEntry {
    CatalogEntry {
        code: e.code.clone(),
        category: e.category,
        retryable: e.retryable,
        severity: e.severity,
        recovery_mode: e.recovery_mode,
        explanation: e.explanation.clone(),
        suggestions: e.suggestions.clone(),
        generic: e.generic,
        rules: serde_json::to_value(&e.rules).unwrap_or(Value::Null),
    }
}

/// Classifies a failure described by hand.
pub fn match_failure(req: &MatchRequest) -> MatchResponse {
    let input = FailureInput { message: &req.message, code: req.code.as_deref(), skill: req.skill.as_deref(), http_status: req.http_status, ..Default::default() };
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
        explanation: entry.map(|e| e.explanation.clone()),
        suggestions: entry.map(|e| e.suggestions.clone()).unwrap_or_default(),
    }
}
