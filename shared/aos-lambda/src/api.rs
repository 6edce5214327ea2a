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
pub const SECRETS: &[Resource] = &[Resource::Secrets, Resource::Access];
/// `api-failures`: recorded failures, their statistics, and the failure catalog with its matcher.
pub const FAILURES: &[Resource] = &[Resource::Failures, Resource::Catalog];

/// The router a function hands to `lambda_http::run`, with the rate limits
/// (`AOS_RATE_LIMIT_PER_MINUTE`, `AOS_RATE_LIMIT_BURST`) and the identity provider (`AOS_OIDC_*`)
/// of the environment. Behind the authorizer function the principal arrives verified in the
/// request context; without one (or when called directly) the function verifies the credential.
pub fn app(rt: Arc<Runtime>, resources: &[Resource]) -> Result<axum::Router, lambda_http::Error> {
    let mut state = AppState::new(rt).with_rate_limits(aos_api::auth::RateLimits::from_env()?);
    if let Some(cfg) = aos_runtime::oidc::OidcConfig::from_env()? {
        state = state.with_oidc(cfg);
    }
    Ok(resource_app(state, resources))
}
