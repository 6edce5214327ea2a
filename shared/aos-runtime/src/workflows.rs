//! Saved workflows: named plans with immutable, increasing versions.

use crate::clock::SystemClock;
use crate::keys;
use crate::runs::storage;
use aos_core::plan::Plan;
use aos_core::ports::{Clock, Condition, Item, Query, SkRange, Store, StoreError};
use aos_core::DomainError;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Workflow {
    pub name: String,
    pub version: u32,
    pub plan: Plan,
    pub created_at_ms: i64,
}

pub struct Workflows {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl Workflows {
    /// The workflows in `store`, on the system clock.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, clock: SystemClock::shared() }
    }

    /// The same workflows on another clock (the runtime's).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Saves `plan` as the next version of workflow `name`.
    pub async fn create(&self, tenant: &str, name: &str, plan: Plan) -> Result<Workflow, DomainError> {
        for _ in 0..20 {
            let version = self.latest(tenant, name).await?.map(|w| w.version + 1).unwrap_or(1);
            let wf = Workflow { name: name.to_string(), version, plan: plan.clone(), created_at_ms: self.clock.now_ms() };
            let data = serde_json::to_value(&wf).map_err(|e| DomainError::Storage(e.to_string()))?;
            let item = Item::new(keys::workflow_pk(tenant, name), keys::workflow_sk(version), data)
                .with_index(keys::workflows_index_pk(tenant), format!("{name}#{}", keys::workflow_sk(version)));
            match self.store.put(item, Condition::NotExists).await {
                Ok(_) => return Ok(wf),
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(storage(e)),
            }
        }
        Err(DomainError::Conflict(format!("workflow `{name}` is being saved concurrently; retry")))
    }

    pub async fn latest(&self, tenant: &str, name: &str) -> Result<Option<Workflow>, DomainError> {
        let q = Query { pk: keys::workflow_pk(tenant, name), sk: SkRange::Prefix("v#".into()), limit: 1, cursor: None, descending: true };
        let page = self.store.query(q).await.map_err(storage)?;
        page.items
            .into_iter()
            .next()
            .map(|i| serde_json::from_value(i.data).map_err(|e| DomainError::corrupt("workflow record", e)))
            .transpose()
    }

    pub async fn get(&self, tenant: &str, name: &str, version: Option<u32>) -> Result<Option<Workflow>, DomainError> {
        match version {
            None => self.latest(tenant, name).await,
            Some(v) => {
                let item = self.store.get(&keys::workflow_pk(tenant, name), &keys::workflow_sk(v)).await.map_err(storage)?;
                item.map(|i| serde_json::from_value(i.data).map_err(|e| DomainError::corrupt("workflow record", e))).transpose()
            }
        }
    }

    /// Every version of every workflow, by name then version.
    pub async fn list(&self, tenant: &str) -> Result<Vec<Workflow>, DomainError> {
        let mut q = Query::partition(keys::workflows_index_pk(tenant));
        let mut out = Vec::new();
        loop {
            let page = self.store.query_index(q.clone()).await.map_err(storage)?;
            for i in page.items {
                out.push(serde_json::from_value(i.data).map_err(|e| DomainError::corrupt("workflow record", e))?);
            }
            match page.next {
                Some(c) => q.cursor = Some(c),
                None => return Ok(out),
            }
        }
    }
}
