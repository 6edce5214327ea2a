//! Recovery through the facade: suggestions for a failure, the candidates people review, the
//! policies approved candidates become, the tenant's automatic-approval settings, and the
//! regression guard.

use super::Runtime;
use crate::audit::AuditAction;
use crate::recovery::candidates::{CandidateFilter, CandidateStatus, Decision, RecoveryCandidate};
use crate::recovery::drift::{self, DriftReport};
use crate::recovery::policies::{guard, status_str, ApprovalMode, Policy, RecoverySettingsView};
use crate::recovery::{SuggestRequest, SuggestResponse};
use aos_core::policy::PolicyStatus;
use aos_core::DomainError;
use serde_json::json;
use std::collections::BTreeMap;

/// Who the automatic decisions are made by, in records and the audit log.
pub const AUTO_APPROVAL: &str = "system:auto-approval";
pub const REGRESSION_GUARD: &str = "system:regression-guard";
const SYSTEM_ROLE: &str = "system";

impl Runtime {
    /// Ranked recovery suggestions for a stored failure or a failure's facts; qualifying ones are
    /// proposed as candidates (and, under automatic approval, approved or shadowed).
    pub async fn suggest_recovery(&self, tenant: &str, req: &SuggestRequest) -> Result<SuggestResponse, DomainError> {
        let out = self.recovery.suggest(tenant, req, self.clock.now_ms()).await?;
        if !out.candidates.is_empty() {
            self.auto_approve(tenant, &out.candidates).await?;
        }
        Ok(out)
    }

    /// A page of the tenant's recovery candidates, in id order.
    pub async fn recovery_candidates(
        &self,
        tenant: &str,
        filter: &CandidateFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<(Vec<RecoveryCandidate>, Option<String>), DomainError> {
        self.recovery.list_candidates(tenant, filter, limit, cursor).await
    }

    /// One recovery candidate; `NotFound` when the tenant has none with this id.
    pub async fn recovery_candidate(&self, tenant: &str, id: &str) -> Result<RecoveryCandidate, DomainError> {
        self.recovery.candidate(tenant, id).await
    }

    /// Approves, rejects or retires a candidate on behalf of `actor` (in `role`), and writes the
    /// decision to the tenant's audit log. Approving makes the candidate an active policy;
    /// retiring disables its policy.
    pub async fn decide_recovery_candidate(
        &self,
        tenant: &str,
        id: &str,
        decision: Decision,
        actor: &str,
        role: &str,
        note: Option<String>,
    ) -> Result<RecoveryCandidate, DomainError> {
        let now = self.clock.now_ms();
        let (candidate, t) = self.recovery.decide(tenant, id, decision, actor, role, note.clone(), now).await?;
        let policy = match decision {
            Decision::Approve => {
                self.recovery.policies().from_candidate(tenant, &candidate, PolicyStatus::Active, actor, note, now).await?
            }
            Decision::Retire => {
                let id = crate::recovery::policies::policy_id(&candidate.id);
                let from = [PolicyStatus::Active, PolicyStatus::Shadow, PolicyStatus::Suspended];
                match self.recovery.policies().set_status(tenant, &id, PolicyStatus::Disabled, &from, actor, note, now).await {
                    Ok(p) => Some(p),
                    Err(DomainError::NotFound(_) | DomainError::InvalidState { .. }) => None,
                    Err(e) => return Err(e),
                }
            }
            Decision::Reject => None,
        };
        let action = match decision {
            Decision::Approve => AuditAction::RecoveryApproved,
            Decision::Reject => AuditAction::RecoveryRejected,
            Decision::Retire => AuditAction::RecoveryRetired,
        };
        let detail = json!({
            "from": t.from, "to": t.to, "note": t.note, "code": candidate.code, "skill": candidate.skill,
            "action": candidate.action, "params": candidate.params, "confidence": candidate.confidence,
            "evidence": candidate.evidence, "policy": policy.map(|p| p.id), "automatic": actor == AUTO_APPROVAL,
        });
        self.audit.record(tenant, action, actor, role, &format!("recovery_candidate:{id}"), detail).await;
        Ok(candidate)
    }

    /// Automatic approval of freshly proposed candidates, per the tenant's settings: in `active`
    /// mode a pending candidate that passes the thresholds is approved (an active policy); in
    /// `shadow` mode it becomes a shadow policy and stays pending. Each decision is audited with
    /// its evidence.
    async fn auto_approve(&self, tenant: &str, ids: &[String]) -> Result<(), DomainError> {
        let settings = self.recovery.policies().settings(tenant).await?;
        if settings.mode == ApprovalMode::Off {
            return Ok(());
        }
        for id in ids {
            let c = self.recovery.candidate(tenant, id).await?;
            if c.status != CandidateStatus::Pending || !settings.passes(&c) {
                continue;
            }
            let note = format!(
                "automatic ({} mode): lower bound {:.4} ≥ {}, {} observations ≥ {}",
                if settings.mode == ApprovalMode::Active { "active" } else { "shadow" },
                c.confidence.lower,
                settings.min_lower,
                c.evidence.observed,
                settings.min_evidence
            );
            match settings.mode {
                ApprovalMode::Active => {
                    match self.decide_recovery_candidate(tenant, id, Decision::Approve, AUTO_APPROVAL, SYSTEM_ROLE, Some(note)).await {
                        Ok(_) | Err(DomainError::InvalidState { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
                ApprovalMode::Shadow => {
                    let now = self.clock.now_ms();
                    let existing = self.recovery.policies().get(tenant, &crate::recovery::policies::policy_id(id), now).await.ok();
                    if existing.is_some() {
                        continue;
                    }
                    let policy = self
                        .recovery
                        .policies()
                        .from_candidate(tenant, &c, PolicyStatus::Shadow, AUTO_APPROVAL, Some(note.clone()), now)
                        .await?;
                    let detail = json!({"note": note, "code": c.code, "skill": c.skill, "action": c.action, "params": c.params,
                        "confidence": c.confidence, "evidence": c.evidence, "policy": policy.map(|p| p.id), "automatic": true});
                    self.audit
                        .record(
                            tenant,
                            AuditAction::RecoveryShadowed,
                            AUTO_APPROVAL,
                            SYSTEM_ROLE,
                            &format!("recovery_candidate:{id}"),
                            detail,
                        )
                        .await;
                }
                ApprovalMode::Off => {}
            }
        }
        Ok(())
    }

    /// Automatic approval, the regression guard and probation after a nightly proposal for `tenant`.
    pub(crate) async fn after_proposals(&self, tenant: &str, proposed: &[String]) -> Result<(), DomainError> {
        if !proposed.is_empty() {
            self.auto_approve(tenant, proposed).await?;
        }
        self.guard_policies(tenant).await?;
        self.reactivate_policies(tenant, proposed).await
    }

    /// Probation: in `active` mode, a policy the regression guard suspended at least one window
    /// ago comes back when its candidate was proposed again since — on evidence that includes the
    /// failures that suspended it — and still passes the automatic-approval thresholds. Audited;
    /// if it fails again, the guard suspends it again.
    async fn reactivate_policies(&self, tenant: &str, proposed: &[String]) -> Result<(), DomainError> {
        let settings = self.recovery.policies().settings(tenant).await?;
        if settings.mode != ApprovalMode::Active {
            return Ok(());
        }
        let now = self.clock.now_ms();
        let window = self.recovery.settings().window_ms;
        for p in self.recovery.policies().list(tenant, now).await? {
            let suspended_at = match p.history.last() {
                Some(e) if p.status == PolicyStatus::Suspended && e.actor == REGRESSION_GUARD => e.at_ms,
                _ => continue,
            };
            if now - suspended_at < window || !proposed.contains(&p.candidate_id) {
                continue;
            }
            let c = self.recovery.candidate(tenant, &p.candidate_id).await?;
            if c.status != CandidateStatus::Approved || c.updated_at_ms <= suspended_at || !settings.passes(&c) {
                continue;
            }
            let note = format!(
                "probation over: proposed again with lower bound {:.4} ≥ {} on {} observations",
                c.confidence.lower, settings.min_lower, c.evidence.observed
            );
            let from = [PolicyStatus::Suspended];
            if let Ok(r) = self
                .recovery
                .policies()
                .set_status(tenant, &p.id, PolicyStatus::Active, &from, AUTO_APPROVAL, Some(note.clone()), now)
                .await
            {
                let detail = json!({"note": note, "confidence": c.confidence, "evidence": c.evidence, "code": r.code, "skill": r.skill});
                self.audit
                    .record(tenant, AuditAction::PolicyReactivated, AUTO_APPROVAL, SYSTEM_ROLE, &format!("policy:{}", r.id), detail)
                    .await;
            }
        }
        Ok(())
    }

    /// The regression guard over the tenant's active policies: one whose steps' success rate of the
    /// last window (a day by default) is significantly below its approval-time lower bound is
    /// suspended and audited.
    pub async fn guard_policies(&self, tenant: &str) -> Result<(), DomainError> {
        let now = self.clock.now_ms();
        for p in self.recovery.policies().list(tenant, now).await? {
            if p.status != PolicyStatus::Active {
                continue;
            }
            let Some(p_value) = guard(p.outcomes, p.approved_lower) else { continue };
            let note = format!(
                "{} of {} changed steps succeeded in the last window, below the approval-time lower bound {:.4} (one-sided binomial test, p = {:.4})",
                p.outcomes.succeeded, p.outcomes.steps, p.approved_lower, p_value
            );
            let suspended = self
                .recovery
                .policies()
                .set_status(tenant, &p.id, PolicyStatus::Suspended, &[PolicyStatus::Active], REGRESSION_GUARD, Some(note.clone()), now)
                .await;
            if let Ok(s) = suspended {
                let detail = json!({"note": note, "outcomes": s.outcomes, "approved_lower": s.approved_lower, "p_value": p_value, "code": s.code, "skill": s.skill});
                self.audit
                    .record(tenant, AuditAction::PolicySuspended, REGRESSION_GUARD, SYSTEM_ROLE, &format!("policy:{}", s.id), detail)
                    .await;
                tracing::warn!(tenant, policy = %s.id, "recovery policy suspended by the regression guard");
            }
        }
        Ok(())
    }

    /// The tenant's recovery policies with their recent outcomes.
    pub async fn recovery_policies(&self, tenant: &str) -> Result<Vec<Policy>, DomainError> {
        self.recovery.policies().list(tenant, self.clock.now_ms()).await
    }

    pub async fn recovery_policy(&self, tenant: &str, id: &str) -> Result<Policy, DomainError> {
        Ok(self.recovery.policies().get(tenant, id, self.clock.now_ms()).await?.0)
    }

    /// Disables a policy (active, shadow or suspended) on behalf of `actor`; audited.
    pub async fn disable_policy(
        &self,
        tenant: &str,
        id: &str,
        actor: &str,
        role: &str,
        note: Option<String>,
    ) -> Result<Policy, DomainError> {
        let from = [PolicyStatus::Active, PolicyStatus::Shadow, PolicyStatus::Suspended];
        let p = self
            .recovery
            .policies()
            .set_status(tenant, id, PolicyStatus::Disabled, &from, actor, note.clone(), self.clock.now_ms())
            .await?;
        let detail = json!({"note": note, "code": p.code, "skill": p.skill, "action": p.action, "outcomes": p.outcomes});
        self.audit.record(tenant, AuditAction::PolicyDisabled, actor, role, &format!("policy:{id}"), detail).await;
        Ok(p)
    }

    pub async fn recovery_settings(&self, tenant: &str) -> Result<RecoverySettingsView, DomainError> {
        self.recovery.policies().settings(tenant).await
    }

    pub async fn put_recovery_settings(
        &self,
        tenant: &str,
        s: RecoverySettingsView,
        actor: &str,
        role: &str,
    ) -> Result<RecoverySettingsView, DomainError> {
        self.recovery.policies().put_settings(tenant, &s).await?;
        let s = s.clone();
        let mode = match s.mode {
            ApprovalMode::Off => "off",
            ApprovalMode::Shadow => "shadow",
            ApprovalMode::Active => "active",
        };
        let detail = json!({"mode": mode, "min_lower": s.min_lower, "min_evidence": s.min_evidence, "drift_webhook_url": s.drift_webhook_url, "drift_webhook_secret": s.drift_webhook_secret});
        self.audit.record(tenant, AuditAction::RecoverySettings, actor, role, "recovery_settings", detail).await;
        let _ = status_str;
        Ok(s)
    }

    /// Evaluates the tenant's drift now and stores it as the latest evaluation.
    pub async fn evaluate_drift(&self, tenant: &str) -> Result<DriftReport, DomainError> {
        let report = drift::evaluate(self.ports.store.as_ref(), tenant, self.clock.now_ms(), self.recovery.settings().window_ms).await?;
        drift::store_report(self.ports.store.as_ref(), tenant, &report).await?;
        Ok(report)
    }

    /// The nightly drift pass over `tenants`: each tenant's evaluation stored, announced to its
    /// drift webhook when something drifts, and the `aos_failure_drift` gauge set.
    pub(crate) async fn drift_pass(&self, tenants: &[String]) -> Result<(), DomainError> {
        let mut drifting: BTreeMap<(String, String), u64> = BTreeMap::new();
        for tenant in tenants {
            let report = self.evaluate_drift(tenant).await?;
            for i in report.items.iter().filter(|i| i.drifting) {
                *drifting.entry((i.skill.clone(), i.code.clone())).or_default() += 1;
            }
            if report.drifting > 0 {
                tracing::warn!(tenant, drifting = report.drifting, "failure drift");
                self.announce_drift(tenant, &report).await;
            }
        }
        crate::telemetry::drift_evaluated(&drifting);
        Ok(())
    }

    /// Submits a one-step `webhook_send` run that POSTs the drifting pairs to the tenant's drift
    /// webhook (signed, retried, guarded and recorded like any run). Best effort: a tenant without
    /// a webhook, or a deployment without `webhook_send`, is only logged.
    async fn announce_drift(&self, tenant: &str, report: &DriftReport) {
        let Ok(settings) = self.recovery.policies().settings(tenant).await else { return };
        let Some(url) = settings.drift_webhook_url else { return };
        if !self.has_skill("webhook_send") {
            tracing::warn!(tenant, "drift found but this deployment has no webhook_send skill to announce it");
            return;
        }
        let drifting: Vec<&drift::DriftItem> = report.items.iter().filter(|i| i.drifting).collect();
        let payload = json!({"type": "aos.failure_drift", "evaluated_at_ms": report.evaluated_at_ms, "drifting": drifting});
        let mut input = json!({"url": url, "payload": payload});
        if let Some(secret) = settings.drift_webhook_secret {
            input["secret"] = json!(secret);
        }
        let plan = json!({"name": "aos-drift-notification", "policies": "off",
            "steps": [{"id": "notify", "skill": "webhook_send", "input": input, "retry": {"max_attempts": 5, "initial_delay_ms": 1000, "max_delay_ms": 60000}}]});
        let submit = match serde_json::from_value(plan) {
            Ok(plan) => crate::service::SubmitRun { plan: Some(plan), ..Default::default() },
            Err(e) => return tracing::warn!(tenant, error = %e, "drift notification plan"),
        };
        match self.submit(tenant, submit).await {
            Ok(s) => tracing::info!(tenant, run_id = %s.run_id, "drift announced"),
            Err(e) => tracing::warn!(tenant, error = %e, "could not announce drift"),
        }
    }
}
