//! Recovery policies: approved candidates become tenant policies that compile into plans at
//! submission (`aos_core::policy::compile`); the tenant's automatic-approval settings (`off`,
//! `shadow`, `active`); each policy's outcomes, counted per day, and the regression guard that
//! suspends a policy whose success rate falls below the lower bound it was approved at.

use super::candidates::RecoveryCandidate;
use super::suggest::EvidenceView;
use crate::keys;
use aos_core::evidence::ActionKind;
use aos_core::evidence::FailureKey;
use aos_core::failure::FailureMatch;
use aos_core::outcome::StepError;
use aos_core::policy::{AppliedPolicy, PolicyRule, PolicyStatus};
use aos_core::ports::{Condition, Item, Query, SkRange, Store, StoreError, WriteOp};
use aos_core::run::{AttemptRecord, Run, StepStatus};
use aos_core::{DomainError, FieldError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use utoipa::ToSchema;

/// How long a process reuses a tenant's policies before reading them again.
pub const CACHE_MS: i64 = 5_000;
/// Policies one tenant may hold.
pub const MAX_POLICIES: usize = 500;
/// Observations the regression guard needs in its window before it judges.
pub const GUARD_MIN_OBSERVATIONS: u64 = 5;
/// Outcome counters are kept per quarter of the evaluation window.
pub const BUCKETS_PER_WINDOW: i64 = 4;
/// The guard suspends a policy when its successes are this unlikely under its approval-time lower
/// bound (one-sided exact binomial test).
pub const GUARD_ALPHA: f64 = 0.05;

/// Automatic approval of recovery candidates.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalMode {
    /// People decide (the default).
    #[default]
    Off,
    /// Candidates that pass the thresholds become shadow policies: runs record what they would
    /// have changed; nothing is applied.
    Shadow,
    /// Candidates that pass the thresholds are approved automatically and applied.
    Active,
}

/// A tenant's recovery settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoverySettingsView {
    pub mode: ApprovalMode,
    /// Lower confidence bound a candidate needs to be approved automatically (0.5 to 0.99).
    #[schema(minimum = 0.5, maximum = 0.99)]
    pub min_lower: f64,
    /// Observations a candidate needs to be approved automatically (1 to 1000000).
    #[schema(minimum = 1, maximum = 1000000)]
    pub min_evidence: u64,
    /// Where drift is announced: a `webhook_send` run POSTs each evaluation that finds drift here
    /// (signed with the tenant secret `drift_webhook_secret`, default `WEBHOOK_SECRET`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 2048, pattern = "^https?://")]
    pub drift_webhook_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Za-z0-9_.-]{1,128}$")]
    pub drift_webhook_secret: Option<String>,
}

impl Default for RecoverySettingsView {
    fn default() -> Self {
        Self { mode: ApprovalMode::Off, min_lower: 0.8, min_evidence: 10, drift_webhook_url: None, drift_webhook_secret: None }
    }
}

impl RecoverySettingsView {
    pub fn check(&self) -> Result<(), DomainError> {
        let bad = |field: &str, m: &str| DomainError::invalid(FieldError::new("INVALID_FIELD", m).field(field));
        if !(0.5..=0.99).contains(&self.min_lower) {
            return Err(bad("min_lower", "min_lower must be from 0.5 to 0.99"));
        }
        if !(1..=1_000_000).contains(&self.min_evidence) {
            return Err(bad("min_evidence", "min_evidence must be from 1 to 1000000"));
        }
        if let Some(url) = &self.drift_webhook_url {
            if url.len() > 2048 || !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(bad("drift_webhook_url", "drift_webhook_url must be an http:// or https:// URL of at most 2048 characters"));
            }
        }
        if let Some(name) = &self.drift_webhook_secret {
            if name.is_empty() || name.len() > 128 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)) {
                return Err(bad("drift_webhook_secret", "drift_webhook_secret must name a secret: 1-128 letters, digits, `_`, `.`, `-`"));
            }
        }
        Ok(())
    }

    /// Whether a candidate passes the automatic-approval thresholds.
    pub fn passes(&self, c: &RecoveryCandidate) -> bool {
        c.patch.is_some() && c.confidence.lower >= self.min_lower && c.evidence.observed >= self.min_evidence
    }
}

/// One change of a policy's status.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct PolicyEvent {
    pub at_ms: i64,
    #[schema(required = true)]
    pub from: Option<PolicyStatus>,
    pub to: PolicyStatus,
    /// `key:<id>`, `user:<sub>`, or `system:auto-approval` / `system:regression-guard`.
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The outcomes of the steps a policy changed.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default, ToSchema)]
pub struct PolicyOutcomes {
    /// Steps it changed that ended, in the last evaluation window (a day by default).
    pub steps: u64,
    /// Of those, the ones that succeeded.
    pub succeeded: u64,
}

/// A recovery policy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Policy {
    /// `pol_` and the 16 hex digits of the candidate it came from.
    pub id: String,
    pub candidate_id: String,
    pub status: PolicyStatus,
    pub skill: String,
    pub code: String,
    /// For `http_call`: the host it applies to; `null`: any.
    #[schema(required = true)]
    pub target: Option<String>,
    pub action: ActionKind,
    #[schema(value_type = Object)]
    pub params: Value,
    /// The step fields it sets.
    #[schema(value_type = Object)]
    pub patch: Value,
    /// The candidate's lower confidence bound when it was approved: the regression guard's bar.
    pub approved_lower: f64,
    /// The candidate's evidence when it was approved.
    pub approved_evidence: EvidenceView,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// Status changes, oldest first.
    pub history: Vec<PolicyEvent>,
    /// Filled in when read: the outcomes of the steps it changed in the last evaluation window.
    #[serde(default)]
    pub outcomes: PolicyOutcomes,
}

impl Policy {
    pub fn rule(&self) -> PolicyRule {
        PolicyRule {
            id: self.id.clone(),
            skill: self.skill.clone(),
            code: self.code.clone(),
            target: self.target.clone(),
            action: self.action,
            patch: self.patch.clone(),
            approved_lower: self.approved_lower,
        }
    }
}

pub fn policy_id(candidate_id: &str) -> String {
    format!("pol_{}", candidate_id.trim_start_matches("rc_"))
}

pub fn is_policy_id(id: &str) -> bool {
    id.strip_prefix("pol_").is_some_and(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// Policies and recovery settings over the `Store` port, with a short per-process cache of each
/// tenant's policies (submission reads them for every run).
#[derive(Clone)]
pub struct Policies {
    store: Arc<dyn Store>,
    cache: Arc<Mutex<HashMap<String, Cached>>>,
    window_ms: i64,
}

/// A tenant's policies and when they were read.
type Cached = (i64, Arc<Vec<Policy>>);

impl Policies {
    /// Over `store`, judging outcomes over windows of `window_ms`.
    pub fn new(store: Arc<dyn Store>, window_ms: i64) -> Self {
        Self { store, cache: Default::default(), window_ms: window_ms.max(1000) }
    }

    pub async fn settings(&self, tenant: &str) -> Result<RecoverySettingsView, DomainError> {
        match self.store.get(&keys::recovery_settings_pk(tenant), keys::RECOVERY_SETTINGS_SK).await? {
            Some(item) => serde_json::from_value(item.data).map_err(|e| DomainError::corrupt("recovery settings", e)),
            None => Ok(RecoverySettingsView::default()),
        }
    }

    pub async fn put_settings(&self, tenant: &str, s: &RecoverySettingsView) -> Result<(), DomainError> {
        s.check()?;
        let item = Item::new(keys::recovery_settings_pk(tenant), keys::RECOVERY_SETTINGS_SK, json!(s));
        self.store.put(item, Condition::Always).await?;
        Ok(())
    }

    async fn read_all(&self, tenant: &str) -> Result<Vec<Policy>, DomainError> {
        let mut q = Query::partition(keys::policies_pk(tenant));
        let mut out = Vec::new();
        loop {
            let page = self.store.query(q.clone()).await?;
            for item in &page.items {
                out.push(
                    serde_json::from_value::<Policy>(item.data.clone())
                        .map_err(|e| DomainError::corrupt(format!("policy {}", item.sk), e))?,
                );
            }
            match page.next {
                Some(next) if out.len() < MAX_POLICIES => q.cursor = Some(next),
                _ => return Ok(out),
            }
        }
    }

    /// The tenant's policies as of at most [`CACHE_MS`] ago.
    pub async fn cached(&self, tenant: &str, now_ms: i64) -> Result<Arc<Vec<Policy>>, DomainError> {
        if let Some((at, p)) = self.cache.lock().expect("policy cache").get(tenant) {
            if now_ms.saturating_sub(*at) < CACHE_MS && now_ms >= *at {
                return Ok(p.clone());
            }
        }
        let fresh = Arc::new(self.read_all(tenant).await?);
        let mut cache = self.cache.lock().expect("policy cache");
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(tenant.to_string(), (now_ms, fresh.clone()));
        Ok(fresh)
    }

    fn forget(&self, tenant: &str) {
        self.cache.lock().expect("policy cache").remove(tenant);
    }

    /// Every policy of the tenant with its recent outcomes, by id.
    pub async fn list(&self, tenant: &str, now_ms: i64) -> Result<Vec<Policy>, DomainError> {
        let mut all = self.read_all(tenant).await?;
        all.sort_by(|a, b| a.id.cmp(&b.id));
        for p in &mut all {
            p.outcomes = self.outcomes(tenant, &p.id, now_ms).await?;
        }
        Ok(all)
    }

    pub async fn get(&self, tenant: &str, id: &str, now_ms: i64) -> Result<(Policy, u64), DomainError> {
        let not_found = || DomainError::NotFound(format!("policy {id}"));
        if !is_policy_id(id) {
            return Err(not_found());
        }
        let item = self.store.get(&keys::policies_pk(tenant), id).await?.ok_or_else(not_found)?;
        let mut p: Policy = serde_json::from_value(item.data).map_err(|e| DomainError::corrupt(format!("policy {id}"), e))?;
        p.outcomes = self.outcomes(tenant, id, now_ms).await?;
        Ok((p, item.version))
    }

    /// Creates (or turns back on) the policy of an approved candidate, as `status`.
    pub async fn from_candidate(
        &self,
        tenant: &str,
        c: &RecoveryCandidate,
        status: PolicyStatus,
        actor: &str,
        note: Option<String>,
        now_ms: i64,
    ) -> Result<Option<Policy>, DomainError> {
        let (Some(patch), Some(skill)) = (c.patch.clone(), c.skill.clone()) else { return Ok(None) };
        let id = policy_id(&c.id);
        for _ in 0..5 {
            let existing = self.store.get(&keys::policies_pk(tenant), &id).await?;
            let (mut p, condition) = match &existing {
                Some(item) => {
                    let p: Policy =
                        serde_json::from_value(item.data.clone()).map_err(|e| DomainError::corrupt(format!("policy {id}"), e))?;
                    (p, Condition::VersionIs(item.version))
                }
                None => {
                    if self.read_all(tenant).await?.len() >= MAX_POLICIES {
                        return Err(DomainError::InvalidState {
                            code: "POLICY_LIMIT",
                            message: format!("the tenant has {MAX_POLICIES} policies; disable or retire some first"),
                        });
                    }
                    let p = Policy {
                        id: id.clone(),
                        candidate_id: c.id.clone(),
                        status,
                        skill: skill.clone(),
                        code: c.code.clone(),
                        target: None,
                        action: c.action,
                        params: c.params.clone(),
                        patch: patch.clone(),
                        approved_lower: c.confidence.lower,
                        approved_evidence: c.evidence.clone(),
                        created_at_ms: now_ms,
                        updated_at_ms: now_ms,
                        history: Vec::new(),
                        outcomes: PolicyOutcomes::default(),
                    };
                    (p, Condition::NotExists)
                }
            };
            let from = existing.as_ref().map(|_| p.status);
            if from == Some(status) {
                return Ok(Some(p));
            }
            p.status = status;
            p.patch = patch.clone();
            p.approved_lower = c.confidence.lower;
            p.approved_evidence = c.evidence.clone();
            p.updated_at_ms = now_ms;
            p.history.push(PolicyEvent { at_ms: now_ms, from, to: status, actor: actor.to_string(), note: note.clone() });
            p.outcomes = PolicyOutcomes::default();
            match self.store.put(Item::new(keys::policies_pk(tenant), &id, json!(p)), condition).await {
                Ok(_) => {
                    self.forget(tenant);
                    return Ok(Some(p));
                }
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DomainError::Conflict(format!("policy {id} is being changed concurrently; try again")))
    }

    /// Sets a policy's status (disable by a person, suspend by the guard); `from` the statuses it
    /// may be changed from.
    #[allow(clippy::too_many_arguments)] // the change's facts, each recorded as given
    pub async fn set_status(
        &self,
        tenant: &str,
        id: &str,
        to: PolicyStatus,
        from: &[PolicyStatus],
        actor: &str,
        note: Option<String>,
        now_ms: i64,
    ) -> Result<Policy, DomainError> {
        for _ in 0..5 {
            let (mut p, version) = self.get(tenant, id, now_ms).await?;
            if !from.contains(&p.status) {
                return Err(DomainError::InvalidState {
                    code: "POLICY_STATE_CONFLICT",
                    message: format!("policy {id} is {}; it cannot become {}", status_str(p.status), status_str(to)),
                });
            }
            let outcomes = p.outcomes;
            p.history.push(PolicyEvent { at_ms: now_ms, from: Some(p.status), to, actor: actor.to_string(), note: note.clone() });
            p.status = to;
            p.updated_at_ms = now_ms;
            p.outcomes = PolicyOutcomes::default();
            match self.store.put(Item::new(keys::policies_pk(tenant), id, json!(p)), Condition::VersionIs(version)).await {
                Ok(_) => {
                    self.forget(tenant);
                    p.outcomes = outcomes;
                    return Ok(p);
                }
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DomainError::Conflict(format!("policy {id} is being changed concurrently; try again")))
    }

    /// The outcomes of a policy's steps in the last window (its buckets that start in it).
    pub async fn outcomes(&self, tenant: &str, id: &str, now_ms: i64) -> Result<PolicyOutcomes, DomainError> {
        let from = bucket_sk(now_ms - self.window_ms + 1, self.window_ms);
        let q = Query { sk: SkRange::Between(from, "9999999999999".into()), ..Query::partition(keys::policy_stats_pk(tenant, id)) };
        let page = self.store.query(q).await?;
        let mut o = PolicyOutcomes::default();
        for item in &page.items {
            o.steps += item.data["attempts"].as_u64().unwrap_or(0);
            o.succeeded += item.data["successes"].as_u64().unwrap_or(0);
        }
        o.succeeded = o.succeeded.min(o.steps);
        Ok(o)
    }
}

pub fn status_str(s: PolicyStatus) -> &'static str {
    match s {
        PolicyStatus::Active => "active",
        PolicyStatus::Shadow => "shadow",
        PolicyStatus::Disabled => "disabled",
        PolicyStatus::Suspended => "suspended",
    }
}

/// The regression guard's verdict on a policy with `outcomes`: suspend when at least
/// [`GUARD_MIN_OBSERVATIONS`] steps ended and so few succeeded that, were its success chance its
/// approval-time lower bound, seeing that few or fewer would have a probability below
/// [`GUARD_ALPHA`] (one-sided exact binomial test). Returns the p-value when it suspends.
pub fn guard(outcomes: PolicyOutcomes, approved_lower: f64) -> Option<f64> {
    if outcomes.steps < GUARD_MIN_OBSERVATIONS || !(0.0..1.0).contains(&approved_lower) {
        return None;
    }
    let p = aos_core::confidence::binomial_lower_tail(outcomes.succeeded, outcomes.steps, approved_lower);
    (p < GUARD_ALPHA).then_some(p)
}

/// The counters of policy outcomes: for each step of `run` a policy changed that ended in this
/// advance (`before`: its status before it) and that hit the failure the policy was learned from
/// (an attempt failed with that code), one outcome — successful when the step succeeded. A policy
/// is judged where its failure happens, not on every step its patch touched.
pub fn outcome_ops(
    run: &Run,
    attempts: &[AttemptRecord],
    before: &BTreeMap<String, StepStatus>,
    keep_days: u32,
    window_ms: i64,
    now_ms: i64,
    classify: &dyn Fn(&StepError, Option<&str>) -> FailureMatch,
) -> Vec<WriteOp> {
    let mut out = Vec::new();
    let bucket = bucket_sk(now_ms, window_ms.max(1000));
    for a in dedup(&run.applied_policies) {
        let Some(st) = run.steps.get(&a.step_id) else { continue };
        let ended = matches!(st.status, StepStatus::Succeeded | StepStatus::Failed);
        if !ended || before.get(&a.step_id).is_none_or(|s| s.is_terminal()) {
            continue;
        }
        let hit = attempts.iter().filter(|r| r.step_id == a.step_id).any(|r| {
            r.outcome.error().is_some_and(|e| {
                let m = r.failure.clone().unwrap_or_else(|| classify(e, Some(&r.skill)));
                FailureKey::of(&m, Some(&r.skill)).code == a.code
            })
        });
        if !hit {
            continue;
        }
        let item = Item::new(keys::policy_stats_pk(&run.tenant, &a.policy_id), &bucket, json!({"bucket": bucket}))
            .expiring_at(now_ms / 1000 + i64::from(keep_days) * 86_400);
        let succeeded = i64::from(st.status == StepStatus::Succeeded);
        out.push(WriteOp::Add { item, counters: vec![("attempts".into(), 1), ("successes".into(), succeeded)] });
    }
    out
}

/// The sort key of the outcome bucket holding `at_ms`: its start (ms, 13 digits), buckets being a
/// quarter of the window long.
fn bucket_sk(at_ms: i64, window_ms: i64) -> String {
    let size = (window_ms / BUCKETS_PER_WINDOW).max(1);
    format!("{:013}", at_ms.max(0).div_euclid(size) * size)
}

/// One entry per (policy, step).
fn dedup(applied: &[AppliedPolicy]) -> Vec<&AppliedPolicy> {
    let mut seen = std::collections::BTreeSet::new();
    applied.iter().filter(|a| seen.insert((&a.policy_id, &a.step_id))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_suspends_only_on_evidence_below_the_approved_bound() {
        let o = |steps, succeeded| PolicyOutcomes { steps, succeeded };
        assert_eq!(guard(o(4, 0), 0.7), None, "too few observations");
        assert_eq!(guard(o(10, 7), 0.7), None, "at the bound");
        assert_eq!(guard(o(10, 9), 0.7), None);
        assert!(guard(o(10, 3), 0.7).is_some(), "3 of 10 against 0.7");
        assert!(guard(o(5, 0), 0.6).is_some(), "5 failures in a row against 0.6 (p = 0.01)");
        assert_eq!(guard(o(5, 3), 0.6), None);
    }
}
