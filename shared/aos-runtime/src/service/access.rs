//! Access through the facade: API keys (authenticate, create, list, rotate, revoke) and the
//! tenant's audit log.

use super::Runtime;
use crate::audit::{AuditAction, AuditEvent};
use crate::auth::{ApiKeyRecord, NewKey, Principal};
use aos_core::DomainError;
use serde_json::Value;

impl Runtime {
    /// The principal a bearer API key belongs to, if it exists, is not revoked and has not expired
    /// by the runtime's clock.
    pub async fn authenticate_key(&self, key: &str) -> Result<Option<Principal>, DomainError> {
        Ok(self.keys.authenticate(key).await?)
    }

    /// Creates a key; returns its plaintext (shown once) and its record.
    pub async fn create_key(&self, tenant: &str, new: NewKey) -> Result<(String, ApiKeyRecord), DomainError> {
        Ok(self.keys.create_with(tenant, new).await?)
    }

    /// The tenant's keys, newest first, revoked ones included.
    pub async fn list_keys(&self, tenant: &str) -> Result<Vec<ApiKeyRecord>, DomainError> {
        Ok(self.keys.list(tenant).await?)
    }

    /// Revokes a key (at once); revoking a revoked key changes nothing.
    pub async fn revoke_key(&self, tenant: &str, key_id: &str) -> Result<ApiKeyRecord, DomainError> {
        self.keys.revoke(tenant, key_id).await
    }

    /// Replaces an active key with a new one of the same role, name and expiry, and revokes it.
    pub async fn rotate_key(&self, tenant: &str, key_id: &str, by: &str) -> Result<(String, ApiKeyRecord), DomainError> {
        self.keys.rotate(tenant, key_id, by).await
    }

    /// Appends an event to the tenant's audit log (best effort).
    pub async fn record_audit(&self, tenant: &str, action: AuditAction, actor: &str, role: &str, target: &str, detail: Value) {
        self.audit.record(tenant, action, actor, role, target, detail).await
    }

    /// A page of the tenant's audit events between `from_ms` and `to_ms`, newest first.
    pub async fn audit_events(
        &self,
        tenant: &str,
        from_ms: i64,
        to_ms: i64,
        action: Option<AuditAction>,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<(Vec<AuditEvent>, Option<String>), DomainError> {
        self.audit.list(tenant, from_ms, to_ms, action, limit, cursor).await
    }
}
