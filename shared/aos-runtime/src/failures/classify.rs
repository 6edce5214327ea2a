//! The bridge from the failure catalog (`aos-failures`) to the domain's `FailureMatch`: every
//! classification in the runtime — worker attempts, engine run failures, rejected submissions,
//! the match API — goes through `classify_error` or `classify_input` here.

use aos_core::failure::FailureMatch;
use aos_core::outcome::StepError;
use aos_failures::{FailureInput, FailureMatcher, MatchResult};

/// The built-in catalog's matcher (built once, shared).
pub fn matcher() -> &'static FailureMatcher {
    FailureMatcher::builtin()
}

/// Classifies a step error as the worker recorded it (message already redacted).
pub fn classify_error(error: &StepError, skill: Option<&str>) -> FailureMatch {
    to_match(&matcher().classify(&FailureInput::from_step_error(error, skill)))
}

/// Classifies free-form facts (the match API, rejected submissions).
pub fn classify_input(input: &FailureInput<'_>) -> FailureMatch {
    to_match(&matcher().classify(input))
}

/// A matched entry gives its code and advice; a guess (`MatchType::Inferred`) gives only a category
/// and a retry hint, with a confidence too low to decide anything (`FailureMatch::decisive`).
pub fn to_match(r: &MatchResult<'_>) -> FailureMatch {
    let entry = r.entry;
    FailureMatch {
        matched: r.matched && entry.is_some(),
        code: entry.map(|e| e.code.clone()),
        category: r.category(),
        retryable: r.retryable(),
        severity: entry.map(|e| e.severity),
        recovery_mode: entry.map(|e| e.recovery_mode),
        confidence: r.confidence,
        match_type: r.match_type,
        signature: r.signature.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aos_core::failure::{MatchType, RecoveryMode};
    use aos_core::outcome::Category;
    use serde_json::json;

    #[test]
    fn http_statuses_and_runtime_codes_are_classified() {
        let e = StepError::new("HTTP_404", Category::NotFound, false, "GET http://x/y answered 404 Not Found")
            .with_details(json!({"status": 404}));
        let m = classify_error(&e, Some("http_call"));
        assert!(m.matched);
        assert_eq!(
            (m.code.as_deref(), m.category, m.recovery_mode),
            (Some("HTTP_NOT_FOUND"), Some(Category::NotFound), Some(RecoveryMode::Fallback))
        );
        assert_eq!(m.signature.len(), 16);
        let m = classify_error(
            &StepError::new("STEP_TIMEOUT", Category::Transient, true, "step `a` did not finish within 5 ms"),
            Some("http_call"),
        );
        assert_eq!((m.code.as_deref(), m.match_type), (Some("STEP_TIMEOUT"), MatchType::StructuredCode));
        let m = classify_error(&StepError::new("ZZZ_UNHEARD_OF", Category::Permanent, false, "qwxz"), None);
        assert!(!m.matched && m.code.is_none() && m.confidence == 0.0);
    }

    #[test]
    fn an_unknown_failure_gets_a_guess_that_decides_nothing() {
        let e =
            StepError::new("E_UPSTREAM", Category::Validation, false, "the frobnicator gave up: upstream hung up before sending a reply");
        let m = classify_error(&e, Some("http_call"));
        assert_eq!((m.matched, m.code.as_deref(), m.match_type), (false, None, MatchType::Inferred));
        assert_eq!((m.category, m.retryable, m.recovery_mode), (Some(Category::Transient), Some(true), None));
        assert!(m.confidence > 0.0 && m.confidence <= aos_failures::MAX_INFERRED_CONFIDENCE && !m.decisive());
        let nothing = classify_error(&StepError::new("E", Category::Transient, true, "qwxz"), None);
        assert_eq!((nothing.match_type, nothing.category, nothing.confidence), (MatchType::None, None, 0.0));
    }
}
