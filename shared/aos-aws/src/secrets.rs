//! `SecretsManagerSecrets`: the `Secrets` port over AWS Secrets Manager, one secret per tenant
//! and name (`{prefix}/{tenant}/{name}`). Reads are cached briefly in memory, because a skill
//! worker resolves the same secrets for every attempt and Secrets Manager charges per call.

use crate::lazy_client::LazyClient;
use crate::SdkConfig;
use aos_core::ports::{Secrets, StoreError};
use async_trait::async_trait;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, SdkError};
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType};
use aws_sdk_secretsmanager::Client;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(60);
/// Bound on cached values per process; the oldest entry is evicted beyond it.
const CACHE_ENTRIES: usize = 1024;

/// Values live only in the cache and in responses; `Debug` shows neither.
pub struct SecretsManagerSecrets {
    client: LazyClient<Client>,
    prefix: String,
    ttl: Duration,
    cache: Mutex<HashMap<(String, String), (String, Instant)>>,
}

impl std::fmt::Debug for SecretsManagerSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsManagerSecrets").field("prefix", &self.prefix).field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

fn backend<E: std::error::Error + 'static, R: std::fmt::Debug>(e: SdkError<E, R>) -> StoreError {
    StoreError::Backend(DisplayErrorContext(&e).to_string())
}

impl SecretsManagerSecrets {
    pub fn new(client: Client, prefix: &str) -> Self {
        Self::with_client(LazyClient::ready(client), prefix)
    }

    /// Secrets whose Secrets Manager client is built from `config` at the first read or write.
    pub fn from_config(config: &SdkConfig, prefix: &str) -> Self {
        Self::with_client(LazyClient::from_config(config, crate::retries::secrets_client), prefix)
    }

    fn with_client(client: LazyClient<Client>, prefix: &str) -> Self {
        Self { client, prefix: prefix.trim_end_matches('/').to_string(), ttl: DEFAULT_CACHE_TTL, cache: Mutex::new(HashMap::new()) }
    }

    /// How long a read value is served from memory (zero disables the cache). Another process's
    /// update becomes visible here after at most this long; this process's own `put` at once.
    pub fn with_cache_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    fn secret_id(&self, tenant: &str, name: &str) -> String {
        format!("{}/{tenant}/{name}", self.prefix)
    }

    fn cached(&self, tenant: &str, name: &str) -> Option<String> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let (value, at) = cache.get(&(tenant.to_string(), name.to_string()))?;
        (at.elapsed() < self.ttl).then(|| value.clone())
    }

    fn remember(&self, tenant: &str, name: &str, value: &str) {
        if self.ttl.is_zero() {
            return;
        }
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_ENTRIES {
            cache.retain(|_, (_, at)| at.elapsed() < self.ttl);
            let oldest = cache.iter().min_by_key(|(_, (_, at))| *at).map(|(k, _)| k.clone());
            if let (true, Some(key)) = (cache.len() >= CACHE_ENTRIES, oldest) {
                cache.remove(&key);
            }
        }
        cache.insert((tenant.to_string(), name.to_string()), (value.to_string(), Instant::now()));
    }
}

#[async_trait]
impl Secrets for SecretsManagerSecrets {
    /// Absent secrets are not cached: a secret created right after a miss is seen at once.
    async fn get(&self, tenant: &str, name: &str) -> Result<Option<String>, StoreError> {
        if let Some(value) = self.cached(tenant, name) {
            return Ok(Some(value));
        }
        let out = self.client.get().get_secret_value().secret_id(self.secret_id(tenant, name)).send().await;
        match out {
            Ok(out) => {
                let value = out.secret_string.ok_or_else(|| StoreError::Backend(format!("secret {name} has no string value")))?;
                self.remember(tenant, name, &value);
                Ok(Some(value))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => Ok(None),
            Err(e) => Err(backend(e)),
        }
    }

    async fn put(&self, tenant: &str, name: &str, value: &str) -> Result<(), StoreError> {
        let id = self.secret_id(tenant, name);
        // Update first (the common case once a secret exists), create when missing; a concurrent
        // create between the two makes the create fail, and the update is then retried once.
        for _ in 0..2 {
            match self.client.get().put_secret_value().secret_id(&id).secret_string(value).send().await {
                Ok(_) => {
                    self.remember(tenant, name, value);
                    return Ok(());
                }
                Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => {}
                Err(e) => return Err(backend(e)),
            }
            match self.client.get().create_secret().name(&id).secret_string(value).send().await {
                Ok(_) => {
                    self.remember(tenant, name, value);
                    return Ok(());
                }
                Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_exists_exception()) => {}
                Err(e) => return Err(backend(e)),
            }
        }
        Err(StoreError::Backend(format!("secret {name} kept being created and deleted concurrently")))
    }

    async fn names(&self, tenant: &str) -> Result<Vec<String>, StoreError> {
        let prefix = format!("{}/{tenant}/", self.prefix);
        let filter = Filter::builder().key(FilterNameStringType::Name).values(&prefix).build();
        let mut names = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .get()
                .list_secrets()
                .filters(filter.clone())
                .max_results(100)
                .set_next_token(token)
                .send()
                .await
                .map_err(backend)?;
            // The service's name filter is a prefix match on words; the exact prefix is checked here.
            let page = out.secret_list.unwrap_or_default();
            names.extend(page.into_iter().filter_map(|s| s.name?.strip_prefix(&prefix).map(str::to_string)));
            token = out.next_token;
            if token.is_none() {
                break;
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }
}
