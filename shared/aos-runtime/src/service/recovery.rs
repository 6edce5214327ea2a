//! Recovery through the facade: suggestions for a failure, and the candidates people review.

use super::Runtime;
use crate::audit::AuditAction;
use crate::recovery::candidates::{CandidateFilter, Decision, RecoveryCandidate};
use crate::recovery::{SuggestRequest, SuggestResponse};
use aos_core::DomainError;
use serde_json::json;

impl Runtime {
    /// Ranked recovery suggestions for a stored failure or a failure's facts; qualifying ones are
    /// proposed as candidates.
    pub async fn suggest_recovery(&self, tenant: &str, req: &SuggestRequest) -> Result<SuggestResponse, DomainError> {
        self.recovery.suggest(tenant, req, self.clock.now_ms()).await
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
    /// decision to the tenant's audit log.
    pub async fn decide_recovery_candidate(
        &self,
        tenant: &str,
        id: &str,
        decision: Decision,
        actor: &str,
        role: &str,
        note: Option<String>,
    ) -> Result<RecoveryCandidate, DomainError> {
        let (candidate, t) = self.recovery.decide(tenant, id, decision, actor, role, note, self.clock.now_ms()).await?;
        let action = match decision {
            Decision::Approve => AuditAction::RecoveryApproved,
            Decision::Reject => AuditAction::RecoveryRejected,
            Decision::Retire => AuditAction::RecoveryRetired,
        };
        let detail = json!({
            "from": t.from, "to": t.to, "note": t.note, "code": candidate.code, "skill": candidate.skill,
            "action": candidate.action, "params": candidate.params, "confidence": candidate.confidence,
            "evidence": candidate.evidence,
        });
        self.audit.record(tenant, action, actor, role, &format!("recovery_candidate:{id}"), detail).await;
        Ok(candidate)
    }
}
