//! The API functions: the same axum routers `aos serve` mounts, one resource group per function,
//! behind the same authentication, fallbacks and body limit; `lambda_http` turns API Gateway
//! (HTTP API, payload 2.0) events into requests for them.

use aos_api::{resource_app, AppState, Resource};
use aos_runtime::auth::Principal;
use aos_runtime::Runtime;
use axum::extract::Request;
use lambda_http::request::RequestContext;
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
    Ok(resource_app(state, resources).layer(axum::middleware::map_request(attach_authorizer_principal)))
}

/// Runs before `aos_api::auth::authenticate`: the principal the authorizer function verified,
/// taken from the API Gateway request context (`requestContext.authorizer.lambda`), which only
/// the gateway fills in — headers, query and body are never read here, so nothing a client sends
/// can produce a principal. Without such a context (routes without the authorizer, direct
/// invocations) or with one that is malformed or whose credential has since expired, nothing is
/// attached and `authenticate` verifies the bearer credential itself. Handlers check permissions
/// against the principal either way.
async fn attach_authorizer_principal(mut req: Request) -> Request {
    // Only this layer may attach a principal; nothing before it does, but make it certain.
    req.extensions_mut().remove::<Principal>();
    if let Some(p) = authorizer_principal(&req) {
        req.extensions_mut().insert(p);
    }
    req
}

fn authorizer_principal(req: &Request) -> Option<Principal> {
    #[allow(irrefutable_let_patterns)] // one variant with the `apigw_http` feature alone
    let Some(RequestContext::ApiGatewayV2(ctx)) = req.extensions().get::<RequestContext>() else { return None };
    let fields = &ctx.authorizer.as_ref()?.fields;
    if fields.is_empty() {
        return None;
    }
    let Some(p) = crate::authorizer::principal_from_context(fields) else {
        tracing::warn!("the request's authorizer context is not a principal; verifying the credential instead");
        return None;
    };
    if p.expires_at_ms.is_some_and(|exp| exp <= aos_runtime::runs::now_ms()) {
        // A cached authorization can outlive the credential: verify it again (and refuse it).
        return None;
    }
    Some(p)
}
