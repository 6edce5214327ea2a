//! The catalog as data: entries with their category, retry hint, recovery mode, explanation,
//! suggestions and match rules, loaded from the versioned JSON file embedded in the crate and
//! checked for the invariants the matcher relies on (unique codes, unambiguous structured keys).

use aos_core::outcome::Category;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use utoipa::ToSchema;

/// The builtin catalog, embedded at compile time so classification never touches the disk.
pub const BUILTIN_CATALOG_JSON: &str = include_str!("../catalog/catalog.json");

/// The catalog format version this crate reads.
pub const CATALOG_VERSION: u32 = 2;

/// Severity and recovery mode are the domain's own types (`aos-core`), so a catalog entry's
/// advice needs no translation on its way into a `FailureMatch`.
pub use aos_core::failure::{RecoveryMode, Severity};

/// An HTTP status rule: one status, or a range written `5xx` or `520-527`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum StatusRule {
    Exact(u16),
    Range(String),
}

impl StatusRule {
    /// Inclusive bounds; `None` when a range is malformed.
    pub fn bounds(&self) -> Option<(u16, u16)> {
        match self {
            StatusRule::Exact(s) => Some((*s, *s)),
            StatusRule::Range(r) => {
                let r = r.trim();
                if let Some(first) = r.strip_suffix("xx").and_then(|d| d.parse::<u16>().ok()) {
                    return (1..=5).contains(&first).then_some((first * 100, first * 100 + 99));
                }
                let (lo, hi) = r.split_once('-')?;
                let (lo, hi) = (lo.trim().parse().ok()?, hi.trim().parse().ok()?);
                (lo <= hi).then_some((lo, hi))
            }
        }
    }
}

/// How an entry recognizes a failure. Structured keys are compared exactly (ASCII case folded);
/// patterns are regexes over the normalized, lower-cased message.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MatchRules {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_status: Vec<StatusRule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aws_codes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub smtp_codes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub os_kinds: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patterns: Vec<String>,
}

/// One known failure of the catalog.
// The one catalog entry type: read from the catalog file, matched against, and served as it is
// by the API (`CatalogEntry` in the OpenAPI document, `priority` left out).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[schema(as = CatalogEntry)]
pub struct Entry {
    pub code: String,
    pub category: Category,
    pub retryable: bool,
    pub severity: Severity,
    pub recovery_mode: RecoveryMode,
    pub explanation: String,
    pub suggestions: Vec<String>,
    /// A family catch-all (e.g. any 4xx): a specific entry's match outranks it.
    // Any match of a specific entry outranks it ("some 4xx", "the TLS handshake failed"), so the
    // detail in a message can refine a coarse code or status.
    #[serde(default)]
    #[schema(required = true)]
    pub generic: bool,
    // Ranks the whole entry above (positive) or below (negative) entries of the same kind and
    // tier, before literal content is compared; 0 for almost every entry. Not served.
    #[serde(default, skip_serializing)]
    #[schema(ignore)]
    pub priority: i32,
    // Only its HTTP status rules are a family catch-all (as if the entry were `generic`); its
    // patterns stay specific. For statuses whose body often says more than the status: GitHub's
    // 405/409/422, a 429 that is a daily or billing quota. Not served.
    #[serde(default, skip_serializing)]
    #[schema(ignore)]
    pub generic_status: bool,
    /// How the entry recognizes a failure: error `codes`, `http_status`, `aws_codes`,
    /// `smtp_codes`, `os_kinds`, and message `patterns` (regexes over the normalized message).
    #[serde(rename = "match")]
    #[schema(value_type = Object)]
    pub rules: MatchRules,
    // Fields the format does not have, refused by `Catalog::validate` (in place of
    // `deny_unknown_fields`, which would also mark the API's `CatalogEntry` as a closed object).
    #[serde(flatten, skip_serializing)]
    #[schema(ignore)]
    unknown: BTreeMap<String, serde_json::Value>,
}

/// The whole catalog file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    pub version: u32,
    /// Regexes with one capture group that read an HTTP status out of a message
    /// (`status code 503`, `HTTP/1.1 404`), so that statuses need not be spelled per entry.
    #[serde(default)]
    pub status_in_message: Vec<String>,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CatalogError {
    Parse(String),
    Version(u32),
    DuplicateCode(String),
    /// The same structured key (table, key) is claimed by two entries.
    AmbiguousKey {
        table: &'static str,
        key: String,
        entries: (String, String),
    },
    BadStatus {
        code: String,
        rule: String,
    },
    BadPattern {
        code: String,
        pattern: String,
        reason: String,
    },
    Empty {
        code: String,
        what: &'static str,
    },
    UnknownField {
        code: String,
        field: String,
    },
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CatalogError::Parse(e) => write!(f, "catalog is not valid JSON for this format: {e}"),
            CatalogError::Version(v) => write!(f, "catalog version {v} is not {CATALOG_VERSION}"),
            CatalogError::DuplicateCode(c) => write!(f, "entry code {c} appears more than once"),
            CatalogError::AmbiguousKey { table, key, entries } => {
                write!(f, "{table} key {key:?} is claimed by both {} and {}", entries.0, entries.1)
            }
            CatalogError::BadStatus { code, rule } => write!(f, "entry {code}: bad http_status rule {rule}"),
            CatalogError::BadPattern { code, pattern, reason } => write!(f, "entry {code}: pattern {pattern:?}: {reason}"),
            CatalogError::Empty { code, what } => write!(f, "entry {code}: {what} must not be empty"),
            CatalogError::UnknownField { code, field } => write!(f, "entry {code}: unknown field `{field}`"),
        }
    }
}

impl std::error::Error for CatalogError {}

impl Catalog {
    /// The embedded catalog.
    pub fn builtin() -> Result<Catalog, CatalogError> {
        Catalog::from_json(BUILTIN_CATALOG_JSON)
    }

    /// Parses and checks a catalog. Patterns are compiled later, by the matcher.
    pub fn from_json(text: &str) -> Result<Catalog, CatalogError> {
        let catalog: Catalog = serde_json::from_str(text).map_err(|e| CatalogError::Parse(e.to_string()))?;
        catalog.validate()?;
        Ok(catalog)
    }

    pub fn entry(&self, code: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.code == code)
    }

    /// Checks the invariants the matcher relies on: the version, unique entry codes, non-empty
    /// explanations and suggestions, no unknown entry fields, well-formed statuses, and structured
    /// keys owned by one entry.
    pub fn validate(&self) -> Result<(), CatalogError> {
        if self.version != CATALOG_VERSION {
            return Err(CatalogError::Version(self.version));
        }
        let mut codes = BTreeMap::new();
        for e in &self.entries {
            if let Some(field) = e.unknown.keys().next() {
                return Err(CatalogError::UnknownField { code: e.code.clone(), field: field.clone() });
            }
            if codes.insert(e.code.as_str(), ()).is_some() {
                return Err(CatalogError::DuplicateCode(e.code.clone()));
            }
            if e.explanation.trim().is_empty() {
                return Err(CatalogError::Empty { code: e.code.clone(), what: "explanation" });
            }
            if e.suggestions.is_empty() || e.suggestions.iter().any(|s| s.trim().is_empty()) {
                return Err(CatalogError::Empty { code: e.code.clone(), what: "suggestions" });
            }
            for s in &e.rules.http_status {
                if s.bounds().is_none_or(|(lo, hi)| lo < 100 || hi > 599) {
                    return Err(CatalogError::BadStatus { code: e.code.clone(), rule: format!("{s:?}") });
                }
            }
        }
        for (table, keys) in [
            ("codes", keyed(self, |r| &r.codes)),
            ("aws_codes", keyed(self, |r| &r.aws_codes)),
            ("smtp_codes", keyed(self, |r| &r.smtp_codes)),
            ("os_kinds", keyed(self, |r| &r.os_kinds)),
            ("http_status", status_keys(self)),
        ] {
            let mut seen: BTreeMap<String, &str> = BTreeMap::new();
            for (key, code) in keys {
                if let Some(first) = seen.insert(key.clone(), code) {
                    if first != code {
                        let entries = (first.min(code).to_string(), first.max(code).to_string());
                        return Err(CatalogError::AmbiguousKey { table, key, entries });
                    }
                }
            }
        }
        Ok(())
    }
}

/// Structured keys of one table, folded the way the matcher looks them up.
fn keyed<'a>(c: &'a Catalog, field: impl Fn(&'a MatchRules) -> &'a Vec<String>) -> Vec<(String, &'a str)> {
    c.entries.iter().flat_map(|e| field(&e.rules).iter().map(move |k| (fold_key(k), e.code.as_str()))).collect()
}

/// Exact statuses and ranges (as written) must each belong to one entry; overlapping ranges are
/// allowed and resolved by width.
fn status_keys(c: &Catalog) -> Vec<(String, &str)> {
    c.entries
        .iter()
        .flat_map(|e| {
            e.rules.http_status.iter().map(move |s| match s.bounds() {
                Some((lo, hi)) => (format!("{lo}-{hi}"), e.code.as_str()),
                None => (format!("{s:?}"), e.code.as_str()),
            })
        })
        .collect()
}

/// How structured keys are compared: trimmed, ASCII lower-cased.
pub(crate) fn fold_key(k: &str) -> String {
    k.trim().to_ascii_lowercase()
}
