//! The audit log: security-relevant events of a tenant — keys created, rotated and revoked,
//! permission denials, logins (the first request of each identity-provider session), rate-limit
//! refusals, decisions on recovery candidates — readable by the tenant's admins. One partition per tenant, newest first by time;
//! records expire after [`RETENTION_DAYS`]. Writes are best effort: a request is never failed
//! because its audit record could not be written (the failure is logged).

use crate::clock::SystemClock;
use crate::keys;
use crate::runs::storage;
use aos_core::ports::{Clock, Condition, Item, Query, SkRange, Store};
use aos_core::{DomainError, FieldError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use utoipa::ToSchema;

pub const RETENTION_DAYS: i64 = 400;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub enum AuditAction {
    #[serde(rename = "key.created")]
    KeyCreated,
    #[serde(rename = "key.rotated")]
    KeyRotated,
    #[serde(rename = "key.revoked")]
    KeyRevoked,
    /// A verified caller was refused for lacking a permission (403).
    #[serde(rename = "permission.denied")]
    PermissionDenied,
    /// The first request of an identity-provider session (a token id not seen before by this process).
    #[serde(rename = "login")]
    Login,
    /// A request refused by the rate limit (429); recorded once per caller and minute.
    #[serde(rename = "rate_limited")]
    RateLimited,
    /// A recovery candidate was approved (its detail: the decision, note, candidate and evidence).
    #[serde(rename = "recovery.approved")]
    RecoveryApproved,
    #[serde(rename = "recovery.rejected")]
    RecoveryRejected,
    #[serde(rename = "recovery.retired")]
    RecoveryRetired,
    /// Automatic approval in `shadow` mode made a candidate a shadow policy.
    #[serde(rename = "recovery.shadowed")]
    RecoveryShadowed,
    /// A tenant's automatic-approval settings changed.
    #[serde(rename = "recovery.settings")]
    RecoverySettings,
    #[serde(rename = "policy.disabled")]
    PolicyDisabled,
    /// The regression guard suspended a policy (its detail: the outcomes and the test's p-value).
    #[serde(rename = "policy.suspended")]
    PolicySuspended,
    /// Automatic approval brought a suspended policy back after its probation.
    #[serde(rename = "policy.reactivated")]
    PolicyReactivated,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::KeyCreated => "key.created",
            AuditAction::KeyRotated => "key.rotated",
            AuditAction::KeyRevoked => "key.revoked",
            AuditAction::PermissionDenied => "permission.denied",
            AuditAction::Login => "login",
            AuditAction::RateLimited => "rate_limited",
            AuditAction::RecoveryApproved => "recovery.approved",
            AuditAction::RecoveryRejected => "recovery.rejected",
            AuditAction::RecoveryRetired => "recovery.retired",
            AuditAction::RecoveryShadowed => "recovery.shadowed",
            AuditAction::RecoverySettings => "recovery.settings",
            AuditAction::PolicyDisabled => "policy.disabled",
            AuditAction::PolicySuspended => "policy.suspended",
            AuditAction::PolicyReactivated => "policy.reactivated",
        }
    }
}

/// One audit record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct AuditEvent {
    pub id: String,
    pub at_ms: i64,
    pub action: AuditAction,
    /// Who did it: `key:<id>` or `user:<sub>`.
    pub actor: String,
    /// The actor's role at the time.
    pub role: String,
    /// What it was done to, e.g. `key:<id>` or `GET /api/v1/keys`.
    pub target: String,
    /// Action-specific details (never a secret or token).
    #[schema(value_type = Object)]
    pub detail: Value,
}

#[derive(Clone)]
pub struct AuditLog {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl AuditLog {
    /// The log in `store`, on the system clock.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, clock: SystemClock::shared() }
    }

    /// The same log on another clock (the runtime's).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Appends an event to the tenant's log (best effort).
    pub async fn record(&self, tenant: &str, action: AuditAction, actor: &str, role: &str, target: &str, detail: Value) {
        let at_ms = self.clock.now_ms();
        let id = format!("{at_ms:013}#{}", uuid::Uuid::new_v4().simple());
        let event = AuditEvent {
            id: id.clone(),
            at_ms,
            action,
            actor: actor.to_string(),
            role: role.to_string(),
            target: target.to_string(),
            detail,
        };
        let Ok(data) = serde_json::to_value(&event) else { return };
        let item = Item::new(keys::audit_pk(tenant), &id, data).expiring_at(at_ms / 1000 + RETENTION_DAYS * 86_400);
        if let Err(e) = self.store.put(item, Condition::NotExists).await {
            tracing::warn!(tenant, action = action.as_str(), error = %e, "could not write an audit record");
        }
    }

    /// A page of the tenant's events between `from_ms` and `to_ms`, newest first.
    pub async fn list(
        &self,
        tenant: &str,
        from_ms: i64,
        to_ms: i64,
        action: Option<AuditAction>,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<(Vec<AuditEvent>, Option<String>), DomainError> {
        if from_ms > to_ms {
            return Err(DomainError::invalid(FieldError::new("INVALID_QUERY", "from must not be after to").field("from")));
        }
        let mut out = Vec::new();
        let mut q = Query {
            pk: keys::audit_pk(tenant),
            sk: SkRange::Between(format!("{from_ms:013}"), format!("{to_ms:013}~")),
            limit: limit.clamp(1, 500),
            cursor,
            descending: true,
        };
        loop {
            let page = self.store.query(q.clone()).await.map_err(|e| match e {
                aos_core::ports::StoreError::BadCursor => {
                    DomainError::invalid(FieldError::new("INVALID_CURSOR", "cursor is not valid").field("cursor"))
                }
                e => storage(e),
            })?;
            out.extend(
                page.items
                    .iter()
                    .filter_map(|i| serde_json::from_value::<AuditEvent>(i.data.clone()).ok())
                    .filter(|e| action.is_none_or(|a| a == e.action)),
            );
            match page.next {
                // A filtered page may come back short: read on until it is full or the log ends.
                Some(next) if out.len() < limit => {
                    q.cursor = Some(next);
                    q.limit = limit - out.len();
                }
                next => return Ok((out, next)),
            }
        }
    }
}
