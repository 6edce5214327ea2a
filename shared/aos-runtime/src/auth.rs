//! API keys: the seam for authentication. A key is `aos_<prefix>_<secret>`; only its SHA-256 is
//! stored, mapping to a tenant and a role. Login through an identity provider plugs in beside it
//! as another way to produce a `Principal`.

use crate::keys;
use crate::runs::now_ms;
use aos_core::ports::{Condition, Item, Query, Store, StoreError};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Operator,
    Developer,
    Viewer,
    Machine,
}

/// Who is calling: always derived from a verified credential, never from request content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant: String,
    pub role: Role,
    pub key_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ApiKeyRecord {
    pub key_id: String,
    pub tenant: String,
    pub role: Role,
    /// The visible part of the key (`aos_<prefix>`), for recognising it in lists.
    pub prefix: String,
    pub created_at_ms: i64,
}

pub struct ApiKeys {
    store: Arc<dyn Store>,
}

fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

impl ApiKeys {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Creates a key and returns its plaintext (shown once) and record.
    pub async fn create(&self, tenant: &str, role: Role) -> Result<(String, ApiKeyRecord), StoreError> {
        let mut bytes = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut bytes);
        let mut prefix = [0u8; 4];
        rand::thread_rng().fill_bytes(&mut prefix);
        let prefix = format!("aos_{}", hex::encode(prefix));
        let key = format!("{prefix}_{}", hex::encode(bytes));
        let record = ApiKeyRecord { key_id: prefix.trim_start_matches("aos_").to_string(), tenant: tenant.to_string(), role, prefix, created_at_ms: now_ms() };
        let data = serde_json::to_value(&record).map_err(|e| StoreError::Backend(e.to_string()))?;
        self.store.put(Item::new(keys::api_key_pk(&hash_key(&key)), keys::API_KEY_SK, data.clone()), Condition::NotExists).await?;
        self.store
            .put(Item::new(keys::tenant_keys_pk(tenant), &record.key_id, json!({"record": data, "hash": hash_key(&key)})), Condition::Always)
            .await?;
        Ok((key, record))
    }

    /// The principal a bearer key belongs to. The lookup is by hash, so no comparison of secrets
    /// happens in application code at all.
    pub async fn authenticate(&self, key: &str) -> Result<Option<Principal>, StoreError> {
        if !key.starts_with("aos_") || key.len() > 200 {
            return Ok(None);
        }
        let Some(item) = self.store.get(&keys::api_key_pk(&hash_key(key)), keys::API_KEY_SK).await? else { return Ok(None) };
        let rec: ApiKeyRecord = serde_json::from_value(item.data).map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(Some(Principal { tenant: rec.tenant, role: rec.role, key_id: rec.key_id }))
    }

    pub async fn list(&self, tenant: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let page = self.store.query(Query::partition(keys::tenant_keys_pk(tenant))).await?;
        Ok(page.items.into_iter().filter_map(|i| serde_json::from_value(i.data["record"].clone()).ok()).collect())
    }
}
