//! Suggestions: for one failure, the actions worth taking, ranked by the lower credible bound of
//! their success (`aos_core::confidence`), from the catalog's advice (the prior) and the tenant's
//! evidence (`super::evidence`).

use super::evidence::ActionEvidence;
use crate::failures::classify::matcher;
use aos_core::confidence::{posterior, Confidence, Prior};
use aos_core::evidence::{candidate_actions, ActionKind, Expectation, RecoveryAction};
use aos_core::failure::FailureMatch;
use aos_core::outcome::Category;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Where a suggestion comes from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The failure catalog's advice alone: no recovery like it has been observed yet.
    Catalog,
    /// The tenant's history of recoveries after this failure (weighed with the catalog's prior).
    History,
}

/// The evidence behind a suggestion.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct EvidenceView {
    /// Observations weighed by age (an observation one half-life old counts 0.5).
    pub attempts: f64,
    /// Weighed observations after which the step succeeded.
    pub successes: f64,
    /// Observations, unweighed.
    pub observed: u64,
    /// When the last observation happened (ms since the epoch); `null` without any.
    #[schema(required = true)]
    pub last_seen_ms: Option<i64>,
}

/// One suggested recovery.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[schema(as = RecoverySuggestion)]
pub struct Suggestion {
    pub action: ActionKind,
    /// The action's parameters: `backoff` (`immediate`, `short` < 1 s, `medium` 1–10 s, `long`
    /// > 10 s) for `retry`, `factor` for `raise_timeout`, `skill` for `fallback`; `{}` otherwise.
    #[schema(value_type = Object)]
    pub params: Value,
    pub confidence: Confidence,
    pub evidence: EvidenceView,
    pub source: Source,
    /// Why, in a sentence or two: the catalog's advice and the evidence.
    pub explanation: String,
    /// The change to the failing step the action stands for — step fields (`retry`,
    /// `timeout_ms`, `on_error`) to merge into the step, valid against the plan schema; `null`
    /// when the change lies outside the step (a credential, the input's content) or names nothing
    /// concrete yet (a fallback without a known fallback skill).
    #[schema(value_type = Option<Object>, required = true)]
    pub patch: Option<Value>,
    #[serde(skip)]
    pub(crate) action_value: Option<RecoveryAction>,
}

impl Suggestion {
    /// The action this suggestion stands for.
    pub fn recovery_action(&self) -> Option<&RecoveryAction> {
        self.action_value.as_ref()
    }
}

/// The ranked suggestions for a failure with match `m` (category `category`), given the evidence
/// per action. `timeout_ms` is the failing step's timeout when known (for `raise_timeout`).
pub fn rank(
    m: &FailureMatch,
    category: Category,
    evidence: &BTreeMap<RecoveryAction, ActionEvidence>,
    timeout_ms: Option<u64>,
) -> Vec<Suggestion> {
    let mut actions = candidate_actions(m, category);
    // Actions observed but not among the catalog's (a fallback to a named skill, another backoff)
    // take the expectation of their family's listed action, or are plausible alternatives; a
    // named fallback replaces the catalog's unnamed one.
    for action in evidence.keys() {
        if !actions.iter().any(|(a, _)| a == action) {
            let e = match actions.iter().position(|(a, _)| family(a) == family(action)) {
                Some(i) if *action != RecoveryAction::Fallback { skill: None } => actions[i].1,
                _ => Expectation::Plausible,
            };
            actions.push((action.clone(), e));
        }
    }
    if actions.iter().any(|(a, _)| matches!(a, RecoveryAction::Fallback { skill: Some(_) })) {
        actions.retain(|(a, _)| *a != RecoveryAction::Fallback { skill: None });
    }
    let entry = m.code.as_deref().and_then(|c| matcher().entry(c)).filter(|_| m.matched);
    let mut out: Vec<Suggestion> = actions
        .into_iter()
        .map(|(action, expectation)| {
            let seen = evidence.get(&action).cloned().unwrap_or_default();
            let confidence = posterior(Prior::for_expectation(expectation, if m.matched { m.confidence } else { 0.0 }), seen.tally);
            let source = if seen.observed > 0 { Source::History } else { Source::Catalog };
            Suggestion {
                action: action.kind(),
                params: action.params(),
                confidence,
                evidence: EvidenceView {
                    attempts: round2(seen.tally.attempts),
                    successes: round2(seen.tally.successes),
                    observed: seen.observed,
                    last_seen_ms: seen.last_seen_ms,
                },
                source,
                explanation: explain(&action, expectation, entry.map(|e| e.explanation.as_str()), &seen),
                patch: action.patch(timeout_ms),
                action_value: Some(action),
            }
        })
        .collect();
    // Best lower bound first; ties by mean, then by the catalog's order (stable sort).
    out.sort_by(|a, b| b.confidence.lower.total_cmp(&a.confidence.lower).then(b.confidence.mean.total_cmp(&a.confidence.mean)));
    out
}

/// Actions of one family share the catalog's expectation: a retry observed with another backoff
/// than the advised one (or without a Retry-After to honour) is still the advised retry.
fn family(a: &RecoveryAction) -> ActionKind {
    match a.kind() {
        ActionKind::RetryAfter => ActionKind::Retry,
        k => k,
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn what(action: &RecoveryAction) -> String {
    match action {
        RecoveryAction::Retry { backoff } => format!(
            "Retry with exponential backoff ({} first wait).",
            match backoff {
                aos_core::evidence::Backoff::Immediate => "no",
                aos_core::evidence::Backoff::Short => "a sub-second",
                aos_core::evidence::Backoff::Medium => "a 1–10 s",
                aos_core::evidence::Backoff::Long => "a 10 s or longer",
            }
        ),
        RecoveryAction::RetryAfter => "Retry after the delay the service asks for (Retry-After), with backoff when it names none.".into(),
        RecoveryAction::RaiseTimeout { factor } => format!("Give each attempt {factor}× its current timeout."),
        RecoveryAction::Fallback { skill: Some(s) } => format!("Fall back to the skill `{s}`."),
        RecoveryAction::Fallback { skill: None } => "Fall back to another skill (name one in on_error.fallback).".into(),
        RecoveryAction::Continue => "Let the run go on without this step (on_error: continue); steps that depend on it are skipped.".into(),
        RecoveryAction::RefreshCredentials => "Replace the credential the step uses (the secret it names), then run again.".into(),
        RecoveryAction::FixInput => "Fix the step's input: the service refuses it as it is, and retrying sends the same.".into(),
        RecoveryAction::ReducePayload => "Send less: a smaller input, page or batch than the service's limit.".into(),
        RecoveryAction::DoNotRetry => "Do not retry: the failure is permanent, and retries only spend the budget.".into(),
    }
}

fn explain(action: &RecoveryAction, expectation: Expectation, catalog: Option<&str>, seen: &ActionEvidence) -> String {
    let mut s = what(action);
    match (expectation, catalog) {
        (Expectation::Advised, Some(text)) => s.push_str(&format!(" The catalog advises this: {}", first_sentence(text))),
        (Expectation::Advised, None) => s.push_str(" The failure's category suggests this."),
        _ => {}
    }
    if seen.observed > 0 {
        s.push_str(&format!(
            " Observed {} time{} after this failure; the step then succeeded {} time{}.",
            seen.observed,
            if seen.observed == 1 { "" } else { "s" },
            seen.successes,
            if seen.successes == 1 { "" } else { "s" }
        ));
    } else {
        s.push_str(" Not observed yet for this failure.");
    }
    s
}

fn first_sentence(text: &str) -> &str {
    match text.find(". ") {
        Some(i) => &text[..=i],
        None => text,
    }
}
