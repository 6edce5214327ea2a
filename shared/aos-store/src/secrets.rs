//! `EmbeddedSecrets`: tenant-scoped secrets in the `secrets` table of the shared database.
//! Values are stored as given; protecting the file (permissions, disk encryption) is the host's job.

use crate::db::EmbeddedDb;
use crate::writer::db_err;
use aos_core::ports::{Secrets, StoreError};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use std::sync::Arc;

/// The `Secrets` port over an `EmbeddedDb`; cheap to clone.
#[derive(Debug, Clone)]
pub struct EmbeddedSecrets {
    db: Arc<EmbeddedDb>,
}

impl EmbeddedSecrets {
    pub fn new(db: Arc<EmbeddedDb>) -> Self {
        Self { db }
    }
}

#[async_trait]
impl Secrets for EmbeddedSecrets {
    async fn get(&self, tenant: &str, name: &str) -> Result<Option<String>, StoreError> {
        self.db.read_now(|conn| {
            conn.prepare_cached("SELECT value FROM secrets WHERE tenant = ?1 AND name = ?2")
                .and_then(|mut stmt| stmt.query_row(params![tenant, name], |row| row.get(0)).optional())
                .map_err(db_err)
        })
    }

    async fn put(&self, tenant: &str, name: &str, value: &str) -> Result<(), StoreError> {
        let (tenant, name, value) = (tenant.to_owned(), name.to_owned(), value.to_owned());
        self.db
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO secrets(tenant, name, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT(tenant, name) DO UPDATE SET value = excluded.value",
                )
                .and_then(|mut stmt| stmt.execute(params![tenant, name, value]))
                .map(drop)
                .map_err(db_err)
            })
            .await
    }

    /// Sorted, so that listings are deterministic.
    async fn names(&self, tenant: &str) -> Result<Vec<String>, StoreError> {
        let tenant = tenant.to_owned();
        self.db
            .read(move |conn| {
                conn.prepare_cached("SELECT name FROM secrets WHERE tenant = ?1 ORDER BY name")
                    .and_then(|mut stmt| stmt.query_map([tenant], |row| row.get(0))?.collect::<rusqlite::Result<Vec<String>>>())
                    .map_err(db_err)
            })
            .await
    }
}
