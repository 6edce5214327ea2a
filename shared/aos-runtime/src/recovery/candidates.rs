//! Recovery candidates: suggestions good enough to be worth a person's decision, kept per tenant
//! and deduplicated by (failure code, skill, action). A candidate is proposed when a suggestion
//! backed by history has a lower credible bound past the threshold and a concrete step patch (by
//! a suggest call, or by the nightly aggregation over the tenant's failures); people approve or
//! reject it, and retire an approved one. Every decision records who, when and why, and is an
//! audit event.

use super::suggest::{EvidenceView, Suggestion};
use crate::keys;
use crate::redact::redact_credentials;
use aos_core::confidence::Confidence;
use aos_core::evidence::{ActionKind, FailureKey};
use aos_core::ports::{Condition, Item, Query, Store, StoreError};
use aos_core::{DomainError, FieldError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// Candidates one tenant may hold; past it, new ones are not proposed (existing ones still update).
pub const MAX_CANDIDATES: usize = 1000;
/// Examples kept per candidate.
pub const MAX_EXAMPLES: usize = 3;
/// Example messages are cut to this many characters.
pub const EXAMPLE_CHARS: usize = 500;
/// Longest decision note.
pub const MAX_NOTE_CHARS: usize = 1000;
/// A candidate refreshed this recently is not written again by a proposal that brings no new
/// example: a burst of suggest calls about one failure costs one write, not one each. (At most a
/// quarter of the evaluation window, for compressed-time simulations.)
pub const REFRESH_MS: i64 = 60_000;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CandidateStatus {
    Pending,
    Approved,
    Rejected,
    Retired,
}

impl CandidateStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateStatus::Pending => "pending",
            CandidateStatus::Approved => "approved",
            CandidateStatus::Rejected => "rejected",
            CandidateStatus::Retired => "retired",
        }
    }
}

/// A decision on a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
    Retire,
}

impl Decision {
    /// The state the decision needs and the state it leads to.
    pub fn transition(self) -> (CandidateStatus, CandidateStatus) {
        match self {
            Decision::Approve => (CandidateStatus::Pending, CandidateStatus::Approved),
            Decision::Reject => (CandidateStatus::Pending, CandidateStatus::Rejected),
            Decision::Retire => (CandidateStatus::Approved, CandidateStatus::Retired),
        }
    }
}

/// Who proposed a candidate last.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CandidateSource {
    /// A `POST /api/v1/recovery/suggest` call.
    Suggest,
    /// The nightly failure aggregation.
    Aggregation,
}

/// A failure the candidate was proposed for (message redacted and cut to 500 characters).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct RecoveryExample {
    pub message: String,
    pub at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

/// One state change of a candidate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Transition {
    pub from: CandidateStatus,
    pub to: CandidateStatus,
    pub at_ms: i64,
    /// Who decided: `key:<id>` or `user:<sub>`.
    pub actor: String,
    /// The actor's role at the time.
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A recovery candidate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct RecoveryCandidate {
    /// `rc_` and 16 hex digits, derived from (code, skill, action): one candidate per recovery.
    pub id: String,
    pub status: CandidateStatus,
    /// The catalog entry's code, or `sig:<signature>` for a failure the catalog does not know.
    pub code: String,
    #[schema(required = true)]
    pub skill: Option<String>,
    pub action: ActionKind,
    #[schema(value_type = Object)]
    pub params: Value,
    /// The step change the action stands for (see the suggestion's `patch`).
    #[schema(value_type = Option<Object>, required = true)]
    pub patch: Option<Value>,
    /// As of the last proposal.
    pub confidence: Confidence,
    /// As of the last proposal.
    pub evidence: EvidenceView,
    /// How many times the candidate was proposed (suggest calls and nightly aggregations;
    /// proposals within a minute of the last one that bring no new example are not counted).
    pub occurrences: u64,
    /// Up to three failures it was proposed for, earliest first.
    pub examples: Vec<RecoveryExample>,
    /// Who proposed it last.
    pub source: CandidateSource,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// Decisions, oldest first.
    pub history: Vec<Transition>,
}

/// The candidate id of a recovery.
pub fn candidate_id(key: &FailureKey, action_key: &str) -> String {
    let mut h = Sha256::new();
    h.update(key.code.as_bytes());
    h.update([0]);
    h.update(key.skill.as_deref().unwrap_or("*").as_bytes());
    h.update([0]);
    h.update(action_key.as_bytes());
    format!("rc_{}", &hex::encode(h.finalize())[..16])
}

/// Whether `id` has the shape of a candidate id.
pub fn is_candidate_id(id: &str) -> bool {
    id.strip_prefix("rc_").is_some_and(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
}

fn storage(e: StoreError) -> DomainError {
    DomainError::from(e)
}

fn parse(item: &Item) -> Result<RecoveryCandidate, DomainError> {
    serde_json::from_value(item.data.clone()).map_err(|e| DomainError::Corrupt(format!("recovery candidate {}: {e}", item.sk)))
}

/// Filters of a candidate listing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CandidateFilter {
    pub status: Option<CandidateStatus>,
    pub code: Option<String>,
    pub skill: Option<String>,
}

/// The tenant's candidates over the `Store` port.
#[derive(Clone)]
pub struct Candidates {
    store: std::sync::Arc<dyn Store>,
    refresh_ms: i64,
}

impl Candidates {
    /// Over `store`, with the evaluation window `window_ms` (see [`REFRESH_MS`]).
    pub fn new(store: std::sync::Arc<dyn Store>, window_ms: i64) -> Self {
        Self { store, refresh_ms: REFRESH_MS.min(window_ms / 4).max(1) }
    }

    pub async fn get(&self, tenant: &str, id: &str) -> Result<Option<(RecoveryCandidate, u64)>, DomainError> {
        if !is_candidate_id(id) {
            return Ok(None);
        }
        match self.store.get(&keys::recovery_candidates_pk(tenant), id).await.map_err(storage)? {
            Some(item) => Ok(Some((parse(&item)?, item.version))),
            None => Ok(None),
        }
    }

    /// Proposes `s` (a suggestion for `key`) as a candidate: creates it pending, or refreshes an
    /// existing one's confidence, evidence, occurrences and examples (whatever its state) — unless
    /// it was refreshed less than [`REFRESH_MS`] ago and the proposal brings no new example.
    /// Returns the id, or `None` when the tenant is at [`MAX_CANDIDATES`].
    pub async fn propose(
        &self,
        tenant: &str,
        key: &FailureKey,
        s: &Suggestion,
        example: Option<RecoveryExample>,
        source: CandidateSource,
        now_ms: i64,
    ) -> Result<Option<String>, DomainError> {
        let Some(action) = s.recovery_action() else { return Ok(None) };
        let id = candidate_id(key, &action.key());
        let pk = keys::recovery_candidates_pk(tenant);
        let example = example.map(|mut e| {
            e.message = cut(&redact_credentials(&e.message), EXAMPLE_CHARS);
            e
        });
        for _ in 0..5 {
            let (mut c, condition) = match self.get(tenant, &id).await? {
                Some((c, version)) => (c, Condition::VersionIs(version)),
                None => {
                    if self.count(tenant).await? >= MAX_CANDIDATES {
                        tracing::warn!(tenant, "recovery candidates are at their limit; not proposing another");
                        return Ok(None);
                    }
                    let c = RecoveryCandidate {
                        id: id.clone(),
                        status: CandidateStatus::Pending,
                        code: key.code.clone(),
                        skill: key.skill.clone(),
                        action: s.action,
                        params: s.params.clone(),
                        patch: s.patch.clone(),
                        confidence: s.confidence,
                        evidence: s.evidence.clone(),
                        occurrences: 0,
                        examples: Vec::new(),
                        source,
                        created_at_ms: now_ms,
                        updated_at_ms: now_ms,
                        history: Vec::new(),
                    };
                    (c, Condition::NotExists)
                }
            };
            let new_example = example.as_ref().is_some_and(|e| {
                c.examples.len() < MAX_EXAMPLES
                    && !c.examples.iter().any(|x| x.message == e.message || (x.failure_id.is_some() && x.failure_id == e.failure_id))
            });
            if condition != Condition::NotExists && !new_example && now_ms.saturating_sub(c.updated_at_ms) < self.refresh_ms {
                return Ok(Some(id));
            }
            c.confidence = s.confidence;
            c.evidence = s.evidence.clone();
            c.patch = s.patch.clone();
            c.occurrences += 1;
            c.source = source;
            c.updated_at_ms = now_ms;
            if let (true, Some(e)) = (new_example, &example) {
                c.examples.push(e.clone());
            }
            let data = serde_json::to_value(&c).map_err(|e| DomainError::Storage(e.to_string()))?;
            match self.store.put(Item::new(&pk, &id, data), condition).await {
                Ok(_) => return Ok(Some(id)),
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(storage(e)),
            }
        }
        // Others kept refreshing it meanwhile: the candidate is current, which is what proposing
        // it was for.
        tracing::debug!(tenant, candidate = %id, "recovery candidate refreshed concurrently; leaving it as the others wrote it");
        Ok(Some(id))
    }

    async fn all(&self, tenant: &str) -> Result<Vec<RecoveryCandidate>, DomainError> {
        let mut q = Query::partition(keys::recovery_candidates_pk(tenant));
        let mut out = Vec::new();
        loop {
            let page = self.store.query(q.clone()).await.map_err(storage)?;
            for item in &page.items {
                out.push(parse(item)?);
            }
            match page.next {
                Some(next) if out.len() < MAX_CANDIDATES => q.cursor = Some(next),
                _ => return Ok(out),
            }
        }
    }

    async fn count(&self, tenant: &str) -> Result<usize, DomainError> {
        Ok(self.all(tenant).await?.len())
    }

    /// A page of the tenant's candidates in id order, after `cursor` (the last id of the
    /// previous page).
    pub async fn list(
        &self,
        tenant: &str,
        filter: &CandidateFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<(Vec<RecoveryCandidate>, Option<String>), DomainError> {
        if let Some(c) = cursor {
            if !is_candidate_id(c) {
                return Err(DomainError::invalid(FieldError::new("INVALID_CURSOR", "cursor is not valid").field("cursor")));
            }
        }
        let mut all: Vec<RecoveryCandidate> = self
            .all(tenant)
            .await?
            .into_iter()
            .filter(|c| cursor.is_none_or(|after| c.id.as_str() > after))
            .filter(|c| filter.status.is_none_or(|s| c.status == s))
            .filter(|c| filter.code.as_ref().is_none_or(|code| &c.code == code))
            .filter(|c| filter.skill.as_ref().is_none_or(|skill| c.skill.as_ref() == Some(skill)))
            .collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        let next = (all.len() > limit).then(|| all[limit - 1].id.clone());
        all.truncate(limit);
        Ok((all, next))
    }

    /// Applies `decision` by `actor` (`role`) with `note`; a candidate in another state than the
    /// decision needs is a conflict (`CANDIDATE_STATE_CONFLICT`).
    #[allow(clippy::too_many_arguments)] // the decision's facts, each recorded as given
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
        if let Some(n) = &note {
            if n.chars().count() > MAX_NOTE_CHARS {
                return Err(DomainError::invalid(
                    FieldError::new("INVALID_NOTE", format!("note must be at most {MAX_NOTE_CHARS} characters")).field("note"),
                ));
            }
        }
        let (from, to) = decision.transition();
        for _ in 0..5 {
            let Some((mut c, version)) = self.get(tenant, id).await? else {
                return Err(DomainError::NotFound(format!("recovery candidate {id}")));
            };
            if c.status != from {
                return Err(DomainError::InvalidState {
                    code: "CANDIDATE_STATE_CONFLICT",
                    message: format!(
                        "recovery candidate {id} is {}; only a {} candidate can be {}",
                        c.status.as_str(),
                        from.as_str(),
                        to.as_str()
                    ),
                });
            }
            let t = Transition { from, to, at_ms: now_ms, actor: actor.to_string(), role: role.to_string(), note: note.clone() };
            c.status = to;
            c.updated_at_ms = now_ms;
            c.history.push(t.clone());
            let data = serde_json::to_value(&c).map_err(|e| DomainError::Storage(e.to_string()))?;
            match self.store.put(Item::new(keys::recovery_candidates_pk(tenant), id, data), Condition::VersionIs(version)).await {
                Ok(_) => return Ok((c, t)),
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(storage(e)),
            }
        }
        Err(DomainError::Conflict(format!("recovery candidate {id} is being changed concurrently; try again")))
    }
}

fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}
