//! Principals and API keys. A principal is who is calling — always derived from a verified
//! credential (an API key here, an OpenID Connect token in `oidc`), never from request content.
//!
//! A key is `aos_<prefix>_<secret>`: the prefix is visible (lists show it), the secret is 24
//! random bytes; only the key's SHA-256 is stored, so a lookup by hash authenticates it and no
//! comparison of secrets happens in application code. Two items per key: the lookup item
//! (`apikey#<hash>`, expiring with the key and deleted on revocation) and the tenant's list entry
//! (`t#<tenant>#keys`, kept after revocation for the record, with the last-used time).

use crate::clock::SystemClock;
use crate::keys;
use crate::runs::storage;
use aos_core::ports::{Clock, Condition, Item, Query, Store, StoreError};
use aos_core::DomainError;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including keys, members and the audit log.
    Admin,
    /// Operates production: runs, recoveries (approve/reject), metrics, failure aggregation.
    Operator,
    /// Builds plans and workflows, runs them, reads raw inputs and outputs.
    Developer,
    /// Reads runs (sensitive fields redacted), workflows, failures and the catalog.
    Viewer,
    /// SDK and CI keys: submit and read runs, register workflows, scrape metrics.
    Machine,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Admin, Role::Operator, Role::Developer, Role::Viewer, Role::Machine];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Developer => "developer",
            Role::Viewer => "viewer",
            Role::Machine => "machine",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// How much a role may do, for picking one when a user is in several groups (most first).
    fn rank(self) -> u8 {
        match self {
            Role::Admin => 0,
            Role::Operator => 1,
            Role::Developer => 2,
            Role::Machine => 3,
            Role::Viewer => 4,
        }
    }

    /// The most capable of `roles` (people in several groups act with the strongest).
    pub fn strongest(roles: impl IntoIterator<Item = Role>) -> Option<Role> {
        roles.into_iter().min_by_key(|r| r.rank())
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    /// A machine holding an API key.
    ApiKey,
    /// A person holding a token from the identity provider.
    User,
}

/// Who is calling: always derived from a verified credential, never from request content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Principal {
    pub tenant: String,
    pub role: Role,
    pub kind: PrincipalKind,
    /// The key id (`ApiKey`) or the provider's subject (`User`).
    pub id: String,
    /// The key's name, or the user's name or email when the token carries one.
    pub name: String,
    /// When the credential stops being valid (ms since the epoch), if it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<i64>,
}

impl Principal {
    /// How audit records and rate limits name the caller: `key:<id>` or `user:<sub>`.
    pub fn actor(&self) -> String {
        match self.kind {
            PrincipalKind::ApiKey => format!("key:{}", self.id),
            PrincipalKind::User => format!("user:{}", self.id),
        }
    }
}

/// A key as listed (the secret is never stored, so never listed).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ApiKeyRecord {
    pub key_id: String,
    #[serde(default, skip_serializing)]
    #[schema(ignore)]
    pub tenant: String,
    pub role: Role,
    /// The visible part of the key (`aos_<prefix>`), for recognising it in lists.
    pub prefix: String,
    /// What the key is for, e.g. `ci-deploy`.
    #[serde(default)]
    pub name: String,
    pub created_at_ms: i64,
    /// Who created it (`key:<id>`, `user:<sub>`, or `bootstrap`).
    #[serde(default)]
    pub created_by: String,
    /// The key stops working at this time (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at_ms: Option<i64>,
    /// The last request made with the key (updated at most once a minute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at_ms: Option<i64>,
    /// The key this one replaced (rotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_from: Option<String>,
}

impl ApiKeyRecord {
    pub fn active_at(&self, now_ms: i64) -> bool {
        self.revoked_at_ms.is_none() && self.expires_at_ms.is_none_or(|e| e > now_ms)
    }
}

/// Longest key name, in characters.
pub const MAX_KEY_NAME_CHARS: usize = 64;

/// Whether `c` may appear in a key name: not a control character (C0, DEL, C1), and not a
/// bidirectional formatting character (U+061C, U+200E/U+200F, U+202A–U+202E, U+2066–U+2069),
/// which could make a name shown in a list or the audit log read as something else.
pub fn is_name_char(c: char) -> bool {
    !c.is_control() && !matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Checks a key name as given (the API trims it first): 1 to [`MAX_KEY_NAME_CHARS`] characters,
/// none of them control or bidirectional formatting characters. The error says why.
pub fn check_key_name(name: &str) -> Result<(), String> {
    let n = name.chars().count();
    if n == 0 || n > MAX_KEY_NAME_CHARS {
        return Err(format!("name must be 1 to {MAX_KEY_NAME_CHARS} characters (got {n})"));
    }
    if let Some(c) = name.chars().find(|c| !is_name_char(*c)) {
        return Err(format!("name must not contain control or bidirectional formatting characters (found U+{:04X})", c as u32));
    }
    Ok(())
}

/// What to create.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub role: Role,
    pub name: String,
    pub expires_at_ms: Option<i64>,
    pub created_by: String,
}

impl NewKey {
    pub fn new(role: Role, name: &str, created_by: &str) -> Self {
        Self { role, name: name.to_string(), expires_at_ms: None, created_by: created_by.to_string() }
    }
}

pub struct ApiKeys {
    store: Arc<dyn Store>,
    /// key id → when this process last wrote its last-used time.
    touched: Mutex<HashMap<String, i64>>,
    /// Creation, expiry, revocation and last-use times.
    clock: Arc<dyn Clock>,
}

/// Last-used times are written at most this often per key and process.
pub const LAST_USED_EVERY_MS: i64 = 60_000;

fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl ApiKeys {
    /// The keys in `store`, on the system clock.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, touched: Mutex::default(), clock: SystemClock::shared() }
    }

    /// The same keys on another clock (the runtime's).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Creates an admin or other key with no name and no expiry (bootstrap and tests).
    pub async fn create(&self, tenant: &str, role: Role) -> Result<(String, ApiKeyRecord), StoreError> {
        self.create_with(tenant, NewKey::new(role, "", "bootstrap")).await
    }

    /// Creates a key and returns its plaintext (shown once) and record.
    pub async fn create_with(&self, tenant: &str, new: NewKey) -> Result<(String, ApiKeyRecord), StoreError> {
        self.insert(tenant, new, None).await
    }

    async fn insert(&self, tenant: &str, new: NewKey, rotated_from: Option<String>) -> Result<(String, ApiKeyRecord), StoreError> {
        let mut secret = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut secret);
        let mut prefix = [0u8; 4];
        rand::thread_rng().fill_bytes(&mut prefix);
        let key_id = hex::encode(prefix);
        let key = format!("aos_{key_id}_{}", hex::encode(secret));
        let hash = hash_key(&key);
        let record = ApiKeyRecord {
            key_id: key_id.clone(),
            tenant: tenant.to_string(),
            role: new.role,
            prefix: format!("aos_{key_id}"),
            name: new.name,
            created_at_ms: self.now_ms(),
            created_by: new.created_by,
            expires_at_ms: new.expires_at_ms,
            revoked_at_ms: None,
            last_used_at_ms: None,
            rotated_from,
        };
        let data = record_data(&record)?;
        let mut lookup = Item::new(keys::api_key_pk(&hash), keys::API_KEY_SK, data.clone());
        if let Some(exp) = record.expires_at_ms {
            lookup = lookup.expiring_at(exp.div_euclid(1000));
        }
        self.store.put(lookup, Condition::NotExists).await?;
        self.store
            .put(Item::new(keys::tenant_keys_pk(tenant), &record.key_id, json!({"record": data, "hash": hash})), Condition::NotExists)
            .await?;
        Ok((key, record))
    }

    /// The principal a bearer key belongs to, if the key exists, is not revoked and has not expired.
    pub async fn authenticate(&self, key: &str) -> Result<Option<Principal>, StoreError> {
        if !key.starts_with("aos_") || key.len() > 200 {
            return Ok(None);
        }
        let Some(item) = self.store.get(&keys::api_key_pk(&hash_key(key)), keys::API_KEY_SK).await? else { return Ok(None) };
        let rec = from_data(&item.data)?;
        let now = self.now_ms();
        if !rec.active_at(now) {
            return Ok(None);
        }
        self.touch(&rec, now).await;
        Ok(Some(Principal {
            tenant: rec.tenant,
            role: rec.role,
            kind: PrincipalKind::ApiKey,
            id: rec.key_id,
            name: rec.name,
            expires_at_ms: rec.expires_at_ms,
        }))
    }

    /// Records the key's last use, at most once a minute per process; best effort.
    async fn touch(&self, rec: &ApiKeyRecord, now: i64) {
        {
            let mut touched = self.touched.lock().unwrap_or_else(|e| e.into_inner());
            let last = touched.get(&rec.key_id).copied().unwrap_or(i64::MIN);
            if now.saturating_sub(last) < LAST_USED_EVERY_MS {
                return;
            }
            touched.insert(rec.key_id.clone(), now);
        }
        let updated = self.update_entry(&rec.tenant, &rec.key_id, |r| {
            r.last_used_at_ms = Some(now);
            true
        });
        if let Err(e) = updated.await {
            tracing::debug!(key_id = %rec.key_id, error = %e, "could not record the key's last use");
        }
    }

    /// Applies `change` to the tenant's list entry with optimistic concurrency (retrying on a
    /// concurrent write); `change` returns false to leave the entry alone.
    async fn update_entry(
        &self,
        tenant: &str,
        key_id: &str,
        change: impl Fn(&mut ApiKeyRecord) -> bool,
    ) -> Result<Option<(ApiKeyRecord, String)>, StoreError> {
        for _ in 0..5 {
            let Some(item) = self.store.get(&keys::tenant_keys_pk(tenant), key_id).await? else { return Ok(None) };
            let mut rec = from_data(&item.data["record"])?;
            rec.tenant = tenant.to_string();
            let hash = item.data["hash"].as_str().unwrap_or_default().to_string();
            if !change(&mut rec) {
                return Ok(Some((rec, hash)));
            }
            let entry = Item::new(keys::tenant_keys_pk(tenant), key_id, json!({"record": record_data(&rec)?, "hash": hash}));
            match self.store.put(entry, Condition::VersionIs(item.version)).await {
                Ok(_) => return Ok(Some((rec, hash))),
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Backend(format!("key {key_id} is being changed concurrently; retry")))
    }

    /// The tenant's keys, newest first, revoked ones included.
    pub async fn list(&self, tenant: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let mut out = Vec::new();
        let mut query = Query::partition(keys::tenant_keys_pk(tenant));
        loop {
            let page = self.store.query(query.clone()).await?;
            out.extend(page.items.iter().filter_map(|i| from_data(&i.data["record"]).ok()).map(|mut r| {
                r.tenant = tenant.to_string();
                r
            }));
            match page.next {
                Some(next) => query.cursor = Some(next),
                None => break,
            }
        }
        out.sort_by(|a, b| b.created_at_ms.cmp(&a.created_at_ms).then_with(|| a.key_id.cmp(&b.key_id)));
        Ok(out)
    }

    pub async fn get(&self, tenant: &str, key_id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        Ok(self.update_entry(tenant, key_id, |_| false).await?.map(|(r, _)| r))
    }

    /// Revokes the key: it stops authenticating at once; its entry stays listed as revoked.
    /// Revoking a revoked key changes nothing.
    pub async fn revoke(&self, tenant: &str, key_id: &str) -> Result<ApiKeyRecord, DomainError> {
        let now = self.now_ms();
        let changed = self.update_entry(tenant, key_id, |r| {
            if r.revoked_at_ms.is_some() {
                return false;
            }
            r.revoked_at_ms = Some(now);
            true
        });
        let (rec, hash) = changed.await.map_err(storage)?.ok_or_else(|| not_found(key_id))?;
        self.store.delete(&keys::api_key_pk(&hash), keys::API_KEY_SK, Condition::Always).await.map_err(storage)?;
        Ok(rec)
    }

    /// Replaces an active key with a new one of the same role, name and expiry, and revokes it.
    pub async fn rotate(&self, tenant: &str, key_id: &str, by: &str) -> Result<(String, ApiKeyRecord), DomainError> {
        let old = self.get(tenant, key_id).await.map_err(storage)?.ok_or_else(|| not_found(key_id))?;
        if !old.active_at(self.now_ms()) {
            return Err(DomainError::InvalidState {
                code: "KEY_INACTIVE",
                message: format!("key {key_id} is revoked or expired; create a new key instead"),
            });
        }
        let new = NewKey { role: old.role, name: old.name.clone(), expires_at_ms: old.expires_at_ms, created_by: by.to_string() };
        let created = self.insert(tenant, new, Some(old.key_id.clone())).await.map_err(storage)?;
        self.revoke(tenant, key_id).await?;
        Ok(created)
    }
}

fn not_found(key_id: &str) -> DomainError {
    DomainError::NotFound(format!("API key {key_id}"))
}

fn record_data(r: &ApiKeyRecord) -> Result<serde_json::Value, StoreError> {
    let mut data = serde_json::to_value(r).map_err(backend)?;
    data["tenant"] = json!(r.tenant);
    Ok(data)
}

fn from_data(data: &serde_json::Value) -> Result<ApiKeyRecord, StoreError> {
    let mut rec: ApiKeyRecord = serde_json::from_value(data.clone()).map_err(|e| StoreError::Corrupt(format!("API key record: {e}")))?;
    rec.tenant = data["tenant"].as_str().unwrap_or_default().to_string();
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_refuse_control_and_bidi_characters() {
        assert!(check_key_name("ci-deploy").is_ok());
        assert!(check_key_name("déploiement café ✓").is_ok());
        assert!(check_key_name(&"x".repeat(MAX_KEY_NAME_CHARS)).is_ok());
        assert!(check_key_name(&"x".repeat(MAX_KEY_NAME_CHARS + 1)).is_err());
        assert!(check_key_name("").is_err());
        for bad in [
            "a\nb",
            "a\u{7f}",
            "a\u{85}",
            "a\u{202E}gpj.exe",
            "\u{2066}x",
            "\u{2069}",
            "\u{200E}",
            "\u{200F}",
            "\u{061C}",
            "\u{202A}",
            "\u{202D}",
        ] {
            assert!(check_key_name(bad).is_err(), "{bad:?}");
        }
    }
}
