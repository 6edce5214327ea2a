//! Recovery suggestions learned from history, reviewed by people.
//!
//! - [`evidence`]: what was done after each failure and whether the step then succeeded, counted
//!   per (tenant, failure code, skill, action, day) in the orchestrator's own save;
//! - [`suggest`]: the actions worth taking for a failure, ranked by the lower credible bound of a
//!   Beta-Binomial posterior (`aos_core::confidence`) whose prior is the catalog's advice;
//! - [`candidates`]: suggestions good enough for a person's decision, approved, rejected or retired.
//!
//! Specified in `docs/recovery.md`.

pub mod candidates;
pub mod drift;
pub mod evidence;
pub mod policies;
pub mod reruns;
pub mod suggest;

use crate::failures::classify::{classify_input, matcher};
use crate::failures::days::day_label;
use crate::failures::query::{scan, TimeRange};
use crate::failures::record::FailureRecord;
use crate::keys;
use crate::runs::RunRepo;
use aos_core::confidence::DEFAULT_HALF_LIFE_DAYS;
use aos_core::evidence::FailureKey;
use aos_core::failure::{FailureKind, FailureMatch};
use aos_core::outcome::Category;
use aos_core::ports::Store;
use aos_core::skill::SkillRegistry;
use aos_core::{DomainError, FieldError};
use aos_failures::FailureInput;
use candidates::{CandidateFilter, CandidateSource, Candidates, Decision, RecoveryCandidate, RecoveryExample, Transition};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use suggest::{Source, Suggestion};
use utoipa::ToSchema;

pub const HALF_LIFE_ENV: &str = "AOS_RECOVERY_HALF_LIFE_DAYS";
pub const CANDIDATE_LOWER_ENV: &str = "AOS_RECOVERY_CANDIDATE_LOWER";
pub const MIN_EVIDENCE_ENV: &str = "AOS_RECOVERY_MIN_EVIDENCE";
pub const WINDOW_ENV: &str = "AOS_RECOVERY_WINDOW_MS";
/// Failure keys per tenant the nightly proposal looks at (the most frequent).
pub const NIGHTLY_KEYS: usize = 100;
/// Longest message a suggestion may be asked for.
pub const MAX_MESSAGE_CHARS: usize = 10_000;
/// Longest `details` document (serialized) a suggestion may be asked for.
pub const MAX_DETAILS_BYTES: usize = 16_384;

/// How evidence is weighed and when a suggestion becomes a candidate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecoverySettings {
    /// Evidence this many days old counts half (`AOS_RECOVERY_HALF_LIFE_DAYS`, 1 to 365, default 14).
    pub half_life_days: f64,
    /// A suggestion becomes a candidate when its lower bound reaches this
    /// (`AOS_RECOVERY_CANDIDATE_LOWER`, above 0 and below 1, default 0.6)…
    pub candidate_lower: f64,
    /// …and it was observed at least this many times (`AOS_RECOVERY_MIN_EVIDENCE`, default 3).
    pub min_evidence: u64,
    /// The evaluation window of drift and of the regression guard (`AOS_RECOVERY_WINDOW_MS`,
    /// default a day): drift compares the last window with the seven before; the guard judges a
    /// policy on the last window's outcomes. Shorter windows compress time for simulations.
    pub window_ms: i64,
}

impl Default for RecoverySettings {
    fn default() -> Self {
        Self { half_life_days: DEFAULT_HALF_LIFE_DAYS, candidate_lower: 0.6, min_evidence: 3, window_ms: 86_400_000 }
    }
}

impl RecoverySettings {
    /// Days evidence is kept: six half-lives (it then counts less than 2%), at least 30.
    pub fn keep_days(&self) -> u32 {
        ((self.half_life_days * 6.0).ceil() as u32).max(30)
    }
}

/// A suggestion for a stored failure record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuggestForFailure {
    /// A failure record's id (`GET /api/v1/failures`).
    #[schema(min_length = 1, max_length = 400)]
    pub failure_id: String,
}

/// A suggestion for a failure described by its facts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuggestForMessage {
    /// The error message.
    #[schema(min_length = 1, max_length = 10000)]
    pub message: String,
    /// The error code, e.g. `HTTP_503` or `STEP_TIMEOUT`.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200)]
    pub code: Option<String>,
    /// The skill that failed (evidence is per skill; without one, every skill's evidence counts).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100)]
    pub skill: Option<String>,
    #[serde(default)]
    #[schema(minimum = 100, maximum = 599)]
    pub http_status: Option<u16>,
    /// The error's structured details (e.g. `retry_after_ms`); at most 16 KiB.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
}

/// Either a stored failure or a failure's facts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(untagged)]
pub enum SuggestRequest {
    Failure(SuggestForFailure),
    Message(SuggestForMessage),
}

/// Suggestions for one failure.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct SuggestResponse {
    /// The catalog's match of the failure.
    #[serde(rename = "match")]
    pub matched: FailureMatch,
    /// What the evidence is keyed by.
    pub key: FailureKey,
    /// Best first (by `confidence.lower`).
    pub suggestions: Vec<Suggestion>,
    /// Recovery candidates this call proposed (created or refreshed).
    pub candidates: Vec<String>,
}

/// The facts of one failure a suggestion is for.
struct Facts {
    matched: FailureMatch,
    category: Category,
    skill: Option<String>,
    timeout_ms: Option<u64>,
    example: RecoveryExample,
}

/// Suggestions and candidates over the `Store` port.
#[derive(Clone)]
pub struct Recovery {
    store: Arc<dyn Store>,
    runs: RunRepo,
    skills: Arc<SkillRegistry>,
    settings: RecoverySettings,
    candidates: Candidates,
    policies: policies::Policies,
}

impl Recovery {
    pub fn new(store: Arc<dyn Store>, runs: RunRepo, skills: Arc<SkillRegistry>, settings: RecoverySettings) -> Self {
        Self {
            candidates: Candidates::new(store.clone(), settings.window_ms),
            policies: policies::Policies::new(store.clone(), settings.window_ms),
            store,
            runs,
            skills,
            settings,
        }
    }

    pub fn settings(&self) -> &RecoverySettings {
        &self.settings
    }

    pub fn policies(&self) -> &policies::Policies {
        &self.policies
    }

    /// Ranked suggestions for a failure; qualifying ones are proposed as candidates.
    pub async fn suggest(&self, tenant: &str, req: &SuggestRequest, now_ms: i64) -> Result<SuggestResponse, DomainError> {
        let facts = match req {
            SuggestRequest::Failure(f) => self.failure_facts(tenant, &f.failure_id).await?,
            SuggestRequest::Message(m) => self.message_facts(m, now_ms)?,
        };
        let key = FailureKey::of(&facts.matched, facts.skill.as_deref());
        let suggestions = self.ranked(tenant, &key, &facts.matched, facts.category, facts.timeout_ms, now_ms).await?;
        let mut proposed = Vec::new();
        if key.skill.is_some() {
            for s in suggestions.iter().filter(|s| self.qualifies(s)) {
                let id = self.candidates.propose(tenant, &key, s, Some(facts.example.clone()), CandidateSource::Suggest, now_ms).await?;
                proposed.extend(id);
            }
        }
        Ok(SuggestResponse { matched: facts.matched, key, suggestions, candidates: proposed })
    }

    async fn ranked(
        &self,
        tenant: &str,
        key: &FailureKey,
        m: &FailureMatch,
        category: Category,
        timeout_ms: Option<u64>,
        now_ms: i64,
    ) -> Result<Vec<Suggestion>, DomainError> {
        let seen = evidence::read(self.store.as_ref(), tenant, key, now_ms, self.settings.half_life_days).await?;
        Ok(suggest::rank(m, category, &seen, timeout_ms))
    }

    /// A suggestion worth a person's decision: backed by enough history, confident enough, and
    /// with a concrete step change.
    fn qualifies(&self, s: &Suggestion) -> bool {
        s.source == Source::History
            && s.evidence.observed >= self.settings.min_evidence
            && s.confidence.lower >= self.settings.candidate_lower
            && s.patch.is_some()
    }

    async fn failure_facts(&self, tenant: &str, id: &str) -> Result<Facts, DomainError> {
        let not_found = || DomainError::NotFound(format!("failure {id}"));
        let at_ms: i64 =
            id.get(..13).filter(|p| p.bytes().all(|b| b.is_ascii_digit())).and_then(|p| p.parse().ok()).ok_or_else(not_found)?;
        let item = self.store.get(&keys::failures_pk(tenant, &day_label(at_ms)), id).await?.ok_or_else(not_found)?;
        let r = FailureRecord::from_item(&item).ok_or_else(|| DomainError::corrupt(format!("failure record {id}"), "undecodable"))?;
        let entry = r.catalog_code.as_deref().and_then(|c| matcher().entry(c)).filter(|_| r.matched);
        let matched = FailureMatch {
            matched: r.matched,
            code: r.catalog_code.clone(),
            category: entry.map(|e| e.category),
            retryable: entry.map(|e| e.retryable),
            severity: r.severity,
            recovery_mode: r.advised_recovery,
            confidence: r.confidence,
            match_type: r.match_type,
            signature: r.signature.clone(),
        };
        let timeout_ms = match (&r.run_id, &r.step_id) {
            (Some(run_id), Some(step_id)) => self
                .runs
                .load(tenant, run_id)
                .await
                .ok()
                .flatten()
                .and_then(|l| l.run.plan.step(step_id).map(|s| (s.timeout_ms, s.skill.clone())))
                .map(|(t, skill)| t.unwrap_or_else(|| self.default_timeout(&skill).unwrap_or(30_000))),
            _ => None,
        }
        .or_else(|| r.skill.as_deref().and_then(|s| self.default_timeout(s)));
        Ok(Facts {
            category: r.category,
            skill: r.skill.clone(),
            timeout_ms,
            example: RecoveryExample {
                message: r.message.clone(),
                at_ms: r.at_ms,
                failure_id: Some(r.id.clone()),
                run_id: r.run_id.clone(),
            },
            matched,
        })
    }

    fn message_facts(&self, m: &SuggestForMessage, now_ms: i64) -> Result<Facts, DomainError> {
        let bad = |field: &str, message: String| DomainError::invalid(FieldError::new("INVALID_FIELD", message).field(field));
        if m.message.is_empty() || m.message.chars().count() > MAX_MESSAGE_CHARS {
            return Err(bad("message", format!("message must be 1 to {MAX_MESSAGE_CHARS} characters")));
        }
        if m.code.as_ref().is_some_and(|c| c.is_empty() || c.chars().count() > 200) {
            return Err(bad("code", "code must be 1 to 200 characters".into()));
        }
        if let Some(skill) = &m.skill {
            if self.skills.get(skill).is_none() {
                return Err(DomainError::invalid(
                    FieldError::new("UNKNOWN_SKILL", format!("no skill `{}` in this deployment", cut(skill, 100))).field("skill"),
                ));
            }
        }
        if m.http_status.is_some_and(|s| !(100..=599).contains(&s)) {
            return Err(bad("http_status", "http_status must be from 100 to 599".into()));
        }
        if m.details.as_ref().is_some_and(|d| d.to_string().len() > MAX_DETAILS_BYTES) {
            return Err(bad("details", format!("details must be at most {MAX_DETAILS_BYTES} bytes of JSON")));
        }
        let mut input = FailureInput::message(&m.message);
        input.code = m.code.as_deref();
        input.skill = m.skill.as_deref();
        input.http_status = m
            .http_status
            .or_else(|| m.details.as_ref().and_then(|d| d.get("status")).and_then(Value::as_u64).and_then(|s| u16::try_from(s).ok()));
        let matched = classify_input(&input);
        let category = matched.category.unwrap_or(match input.http_status {
            Some(400..=499) => Category::Validation,
            _ => Category::Transient,
        });
        Ok(Facts {
            category,
            timeout_ms: m.skill.as_deref().and_then(|s| self.default_timeout(s)),
            skill: m.skill.clone(),
            example: RecoveryExample { message: m.message.clone(), at_ms: now_ms, failure_id: None, run_id: None },
            matched,
        })
    }

    fn default_timeout(&self, skill: &str) -> Option<u64> {
        self.skills.get(skill).map(|s| s.spec().default_timeout_ms)
    }

    pub async fn candidate(&self, tenant: &str, id: &str) -> Result<RecoveryCandidate, DomainError> {
        Ok(self.candidates.get(tenant, id).await?.ok_or_else(|| DomainError::NotFound(format!("recovery candidate {id}")))?.0)
    }

    pub async fn list_candidates(
        &self,
        tenant: &str,
        filter: &CandidateFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<(Vec<RecoveryCandidate>, Option<String>), DomainError> {
        self.candidates.list(tenant, filter, limit, cursor).await
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn decide(
        &self,
        tenant: &str,
        id: &str,
        decision: Decision,
        actor: &str,
        role: &str,
        note: Option<String>,
        now_ms: i64,
    ) -> Result<(RecoveryCandidate, Transition), DomainError> {
        self.candidates.decide(tenant, id, decision, actor, role, note, now_ms).await
    }

    /// The nightly proposal for one tenant: the most frequent failure keys of its attempt
    /// failures in `range`, each ranked, and every qualifying suggestion proposed. Returns the
    /// ids of the candidates proposed.
    pub async fn propose_from_failures(&self, tenant: &str, range: &TimeRange, now_ms: i64) -> Result<Vec<String>, DomainError> {
        struct Seen {
            count: u64,
            record: FailureRecord,
        }
        let mut by_key: HashMap<FailureKey, Seen> = HashMap::new();
        scan(self.store.as_ref(), tenant, range, usize::MAX, |r| {
            if r.kind != FailureKind::Attempt || r.skill.is_none() {
                return;
            }
            let code = match (&r.catalog_code, r.matched) {
                (Some(c), true) => FailureKey::family(c).to_string(),
                _ => format!("sig:{}", r.signature),
            };
            let key = FailureKey { code, skill: r.skill.clone() };
            let room = by_key.len() < 10 * NIGHTLY_KEYS;
            match by_key.get_mut(&key) {
                Some(s) => s.count += 1,
                // Bounded: a tenant with more distinct failures than this keeps the first ones.
                None if room => {
                    by_key.insert(key, Seen { count: 1, record: r });
                }
                None => {}
            }
        })
        .await?;
        let mut keys: Vec<(FailureKey, Seen)> = by_key.into_iter().collect();
        keys.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(&b.0)));
        let mut proposed = Vec::new();
        for (key, seen) in keys.into_iter().take(NIGHTLY_KEYS) {
            let facts = self.failure_facts(tenant, &seen.record.id).await;
            let Ok(facts) = facts else { continue };
            let suggestions = self.ranked(tenant, &key, &facts.matched, facts.category, facts.timeout_ms, now_ms).await?;
            for s in suggestions.iter().filter(|s| self.qualifies(s)) {
                let id =
                    self.candidates.propose(tenant, &key, s, Some(facts.example.clone()), CandidateSource::Aggregation, now_ms).await?;
                proposed.extend(id);
            }
        }
        Ok(proposed)
    }
}

fn cut(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
