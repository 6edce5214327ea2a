//! `FailureMatcher`: classifies a failure against the catalog. Structured facts are looked up
//! exactly; the normalized message goes through an Aho-Corasick prefilter of the literals every
//! pattern requires, and only the patterns it flags are run, best-ranked first (see `rank`).
//! A failure no entry matches gets a guess from its nearest labelled examples (`infer`), marked
//! as inferred and never as a match.

use crate::catalog::{Catalog, CatalogError, Entry};
use crate::index::{Hit, Index};
use crate::infer::{Inference, Inferrer};
use crate::input::FailureInput;
use crate::normalize::normalize;
use crate::rank::{confidence, Tier};
use crate::signature::signature;
use aos_core::outcome::Category;
use serde::Serialize;
use std::sync::OnceLock;

/// What kind of evidence decided the match: the domain's own type, so a result needs no
/// translation on its way into a `FailureMatch`.
pub use aos_core::failure::MatchType;

/// The classification of one failure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchResult<'a> {
    pub matched: bool,
    pub entry: Option<&'a Entry>,
    /// 0.0 when nothing matched; see `rank::confidence` for the scale.
    pub confidence: f64,
    pub match_type: MatchType,
    /// The rule that decided: the structured key as the catalog spells it, or the pattern.
    pub rule: Option<&'a str>,
    /// Stable grouping key of the failure (skill, code, normalized message).
    pub signature: String,
    pub normalized: String,
    /// When no entry matched: the guess of the nearest labelled examples, if any (`infer`).
    /// `match_type` is then `Inferred`; `matched` stays false.
    pub inferred: Option<Inference>,
}

impl MatchResult<'_> {
    pub fn code(&self) -> Option<&str> {
        self.entry.map(|e| e.code.as_str())
    }
    /// The matched entry's category, else the inferred one.
    pub fn category(&self) -> Option<Category> {
        self.entry.map(|e| e.category).or(self.inferred.as_ref().map(|i| i.category))
    }
    /// The matched entry's retry hint, else the inferred one.
    pub fn retryable(&self) -> Option<bool> {
        self.entry.map(|e| e.retryable).or(self.inferred.as_ref().map(|i| i.retryable))
    }
}

/// The catalog compiled for matching. Build it once (`builtin`, `new`) and share it: it is
/// immutable and `Sync`, and `classify` takes `&self`.
#[derive(Debug)]
pub struct FailureMatcher {
    catalog: Catalog,
    index: Index,
    /// Built on the first failure no entry matches.
    inferrer: OnceLock<Inferrer>,
}

impl FailureMatcher {
    /// The matcher of the embedded catalog, built on first use.
    pub fn builtin() -> &'static FailureMatcher {
        static BUILTIN: OnceLock<FailureMatcher> = OnceLock::new();
        // The embedded catalog is compile-time data that the crate's tests load and validate,
        // so failing here means the crate itself was built broken.
        BUILTIN.get_or_init(|| {
            Catalog::builtin().and_then(FailureMatcher::new).unwrap_or_else(|e| panic!("embedded failure catalog is invalid: {e}"))
        })
    }

    pub fn new(catalog: Catalog) -> Result<FailureMatcher, CatalogError> {
        catalog.validate()?;
        let index = Index::build(&catalog)?;
        Ok(FailureMatcher { catalog, index, inferrer: OnceLock::new() })
    }

    pub fn from_json(text: &str) -> Result<FailureMatcher, CatalogError> {
        FailureMatcher::new(Catalog::from_json(text)?)
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn entries(&self) -> &[Entry] {
        &self.catalog.entries
    }

    pub fn entry(&self, code: &str) -> Option<&Entry> {
        self.catalog.entry(code)
    }

    /// Classifies one failure. Allocates only the two strings of the result.
    pub fn classify(&self, input: &FailureInput<'_>) -> MatchResult<'_> {
        let normalized = normalize(input.message);
        let hit = self.index.best(input, normalized.as_bytes());
        let signature = signature(input.skill, input.code, &normalized);
        match hit {
            Some(h) => self.result(h, signature, normalized),
            None => {
                let inferred = self.infer(input);
                let (confidence, match_type) = match &inferred {
                    Some(i) => (i.confidence, MatchType::Inferred),
                    None => (0.0, MatchType::None),
                };
                MatchResult { matched: false, entry: None, confidence, match_type, rule: None, signature, normalized, inferred }
            }
        }
    }

    /// The second stage alone, whatever the catalog says: the guess of the nearest labelled
    /// examples (`infer`). `classify` asks it only when no entry matches.
    pub fn infer(&self, input: &FailureInput<'_>) -> Option<Inference> {
        self.inferrer.get_or_init(|| Inferrer::build(&self.catalog)).infer(input)
    }

    /// Classifies a message alone.
    pub fn classify_message(&self, message: &str) -> MatchResult<'_> {
        self.classify(&FailureInput::message(message))
    }

    fn result(&self, h: Hit, signature: String, normalized: String) -> MatchResult<'_> {
        let match_type = match h.rank.tier {
            Tier::Code => MatchType::StructuredCode,
            Tier::Aws => MatchType::AwsCode,
            Tier::SmtpEnhanced | Tier::SmtpBasic => MatchType::SmtpCode,
            Tier::Os => MatchType::OsError,
            Tier::Status | Tier::StatusRange => MatchType::HttpStatus,
            Tier::Pattern => MatchType::Pattern,
        };
        MatchResult {
            matched: true,
            entry: self.catalog.entries.get(h.entry as usize),
            confidence: confidence(&h.rank),
            match_type,
            rule: Some(self.index.rule_text(h.rule)),
            signature,
            normalized,
            inferred: None,
        }
    }
}
