//! The port conformance suite: adapter-independent checks of the `Store`, `Queue` and `Secrets`
//! semantics documented in `aos_core::ports`. Every adapter (embedded, DynamoDB/SQS) runs the
//! same functions; each check panics with a message naming the check and what went wrong.

mod queue;
mod store;

pub use queue::*;
pub use store::*;

use aos_core::ports::{Secrets, StoreError};
use std::fmt::Debug;

/// A key prefix unique to one run of a check, so that checks can share a backend (and a table)
/// with other runs without seeing each other's items.
pub fn unique(kind: &str) -> String {
    format!("conf-{kind}-{}", uuid::Uuid::new_v4().simple())
}

#[track_caller]
fn ok<T, E: Debug>(result: Result<T, E>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("conformance: {what}: unexpected error {e:?}"),
    }
}

/// Every `Secrets` check.
pub async fn secrets_suite(secrets: &dyn Secrets) {
    secrets_are_tenant_scoped(secrets).await;
}

pub async fn secrets_are_tenant_scoped(secrets: &dyn Secrets) {
    let (t1, t2) = (unique("tenant"), unique("tenant"));
    let what = "secrets_are_tenant_scoped";
    assert_eq!(ok(secrets.get(&t1, "api").await, what), None, "{what}: absent secret");
    ok(secrets.put(&t1, "zeta", "z1").await, what);
    ok(secrets.put(&t1, "api", "v1").await, what);
    ok(secrets.put(&t1, "api", "v2").await, what);
    ok(secrets.put(&t2, "api", "other").await, what);
    assert_eq!(ok(secrets.get(&t1, "api").await, what).as_deref(), Some("v2"), "{what}: overwrite");
    assert_eq!(ok(secrets.get(&t2, "api").await, what).as_deref(), Some("other"), "{what}: isolation");
    assert_eq!(ok(secrets.names(&t1).await, what), ["api", "zeta"], "{what}: sorted names");
    assert_eq!(ok(secrets.names(&unique("tenant")).await, what), Vec::<String>::new(), "{what}: empty tenant");
}

fn is_condition_failed(result: &Result<impl Debug, StoreError>) -> bool {
    matches!(result, Err(StoreError::ConditionFailed))
}
