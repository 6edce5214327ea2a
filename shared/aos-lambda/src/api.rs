//! The API functions: the same axum routers `aos serve` mounts, one resource group per function,
//! behind the same authentication, fallbacks and body limit; `lambda_http` turns API Gateway
//! (HTTP API, payload 2.0) events into requests for them. Each request's metrics are flushed
//! before its response goes back.

use crate::{exposition, recorder};
use aos_api::{routers_app, AppState, MetricsRender};
use aos_core::DomainError;
use aos_runtime::auth::Principal;
use aos_runtime::metric_store::MetricStore;
use aos_runtime::Runtime;
use axum::extract::Request;
use axum::response::Response;
use lambda_http::request::RequestContext;
use std::sync::Arc;
use aos_api::OpenApiRouter;

/// The resources one API function serves. Each is a function naming its routers, not a list
/// matched at run time, so that a function's binary links only its own handlers (a list of
/// `aos_api::Resource`s linked every router into every API function: 3.5 MB each).
#[derive(Clone, Copy)]
pub struct Resources(fn() -> OpenApiRouter<AppState>);

/// `functions/api-runs`: runs (with simulate and replay) and workflows.
pub const RUNS: Resources = Resources(|| aos_api::runs::router().merge(aos_api::workflows::router()));
/// `functions/api-skills`.
pub const SKILLS: Resources = Resources(aos_api::skills::router);
/// `functions/api-secrets`: secrets, and who am I, API keys and the audit log.
pub const SECRETS: Resources = Resources(|| aos_api::secrets::router().merge(aos_api::access::router()));
/// `api-failures`: recorded failures, their statistics, and the failure catalog with its matcher.
pub const FAILURES: Resources = Resources(|| aos_api::failures::router().merge(aos_api::catalog::router()));

/// The router a function hands to `lambda_http::run`, with the rate limits
/// (`AOS_RATE_LIMIT_PER_MINUTE`, `AOS_RATE_LIMIT_BURST`) and the identity provider (`AOS_OIDC_*`)
/// of the environment. Behind the authorizer function the principal arrives verified in the
/// request context; without one (or when called directly) the function verifies the credential.
pub fn app(rt: Arc<Runtime>, resources: Resources) -> Result<axum::Router, lambda_http::Error> {
    Ok(finish(routers_app(state_from_env(rt)?, (resources.0)())))
}

/// The `api-metrics` router: `GET /metrics` renders the stored totals of every runtime metric.
pub fn metrics_app(rt: Arc<Runtime>, store: Arc<dyn MetricStore>) -> Result<axum::Router, lambda_http::Error> {
    let descriptions = Arc::new(recorder::catalog());
    let render: MetricsRender = Arc::new(move || {
        let (store, descriptions) = (store.clone(), descriptions.clone());
        Box::pin(async move { exposition::scrape(store.as_ref(), &descriptions).await.map_err(|e| DomainError::Storage(e.to_string())) })
    });
    Ok(finish(routers_app(state_from_env(rt)?.with_metrics(render), aos_api::metrics::router())))
}

fn state_from_env(rt: Arc<Runtime>) -> Result<AppState, lambda_http::Error> {
    let mut state = AppState::new(rt).with_rate_limits(aos_api::auth::RateLimits::from_env()?);
    if let Some(cfg) = aos_runtime::oidc::OidcConfig::from_env()? {
        state = state.with_oidc(cfg);
    }
    Ok(state)
}

/// The layers every API function adds around the routers: the authorizer's principal before
/// authentication, and each request's metrics flushed before its response goes back.
fn finish(app: axum::Router) -> axum::Router {
    app.layer(axum::middleware::map_request(attach_authorizer_principal)).layer(axum::middleware::map_response(flush_after))
}

async fn flush_after(response: Response) -> Response {
    recorder::flush().await;
    response
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
