//! The API functions: the same axum routers `aos serve` mounts, one resource group per function,
//! behind the same authentication, fallbacks and body limit; `lambda_http` turns API Gateway
//! (HTTP API, payload 2.0) events into requests for them.

use aos_api::{resource_app, AppState, Resource};
use aos_runtime::Runtime;
use std::sync::Arc;

/// `functions/api-runs`: runs (with simulate and replay) and workflows.
pub const RUNS: &[Resource] = &[Resource::Runs, Resource::Workflows];
/// `functions/api-skills`.
pub const SKILLS: &[Resource] = &[Resource::Skills];
/// `functions/api-secrets`.
pub const SECRETS: &[Resource] = &[Resource::Secrets];
/// `api-failures`: recorded failures, their statistics, and the failure catalog with its matcher.
pub const FAILURES: &[Resource] = &[Resource::Failures, Resource::Catalog];

/// The router a function hands to `lambda_http::run`.
pub fn app(rt: Arc<Runtime>, resources: &[Resource]) -> axum::Router {
    resource_app(AppState::new(rt), resources)
}
