//! The API functions (`functions/api-*`): each serves one group of `aos_api::routers` — the same
//! axum routers `aos serve` mounts — behind the same authentication, fallbacks and body limit;
//! `lambda_http` turns API Gateway (HTTP API, payload 2.0) events into requests for them. Their
//! `main` is `aos_lambda::run(aos_lambda::api_function!())`: the group is the one named after the
//! package. Each request's metrics are flushed by the [`crate::Invocation`] around it.

use crate::{exposition, recorder};
use aos_api::routers::Group;
use aos_api::{routers_app, AppState, MetricsRender};
use aos_core::DomainError;
use aos_runtime::auth::Principal;
use aos_runtime::metric_store::MetricStore;
use aos_runtime::Runtime;
use axum::extract::Request;
use lambda_http::request::{LambdaRequest, RequestContext};
use lambda_http::{Adapter, LambdaEvent, Service};
use std::sync::Arc;

/// The API function of the calling crate: the router group of `aos_api::routers` named after its
/// package, found at compile time (a package without a group does not compile, and only its
/// group's handlers are linked), with the skills registry its routers need.
#[macro_export]
macro_rules! api_function {
    () => {{
        const GROUP: $crate::aos_api::routers::Group = $crate::aos_api::routers::named(env!("CARGO_PKG_NAME"));
        // Chosen here, at compile time, so that a function that replays nothing links no executor.
        const SKILLS: $crate::registry::Registry = if GROUP.replays { $crate::registry::replaying } else { $crate::registry::declared };
        $crate::api::Function::new(GROUP, SKILLS)
    }};
}

/// An API function (made by [`api_function!`]).
pub struct Function {
    group: Group,
    skills: crate::registry::Registry,
}

impl Function {
    pub fn new(group: Group, skills: crate::registry::Registry) -> Self {
        Self { group, skills }
    }
}

impl crate::Function for Function {
    type Handler = Handler;

    fn name(&self) -> &'static str {
        self.group.function
    }

    async fn init(self) -> Result<Handler, crate::Error> {
        let rt = crate::runtime_from_env(self.skills).await?;
        let metrics = if self.group.metrics { Some(crate::metric_store_from_env().await?) } else { None };
        Ok(Handler { app: app_with(rt, self.group, metrics)? })
    }
}

/// What `lambda_http` answers API Gateway with.
pub type ApiResponse = <Adapter<'static, axum::response::Response, axum::Router> as Service<LambdaEvent<LambdaRequest>>>::Response;

/// Serves one API Gateway request with the function's router.
pub struct Handler {
    pub app: axum::Router,
}

impl crate::Handler for Handler {
    type Event = LambdaRequest;
    type Response = ApiResponse;

    async fn handle(&self, event: LambdaEvent<LambdaRequest>) -> Result<ApiResponse, crate::Error> {
        // An axum router is always ready and never fails: errors are responses.
        let response = Adapter::from(self.app.clone()).call(event).await;
        Ok(response.unwrap_or_else(|never| match never {}))
    }
}

/// The router of `group`, with the rate limits (`AOS_RATE_LIMIT_PER_MINUTE`,
/// `AOS_RATE_LIMIT_BURST`) and the identity provider (`AOS_OIDC_*`) of the environment. Behind
/// the authorizer function the principal arrives verified in the request context; without one
/// (or when called directly) the function verifies the credential.
pub fn app(rt: Arc<Runtime>, group: Group) -> Result<axum::Router, crate::Error> {
    app_with(rt, group, None)
}

/// [`app`], rendering `GET /metrics` (where the group routes it) from the totals in `metrics`.
pub fn app_with(rt: Arc<Runtime>, group: Group, metrics: Option<Arc<dyn MetricStore>>) -> Result<axum::Router, crate::Error> {
    let mut state = state_from_env(rt)?;
    if let Some(store) = metrics {
        state = state.with_metrics(stored_metrics(store));
    }
    Ok(routers_app(state, (group.routers)())
        .layer(axum::middleware::from_fn(trace_run))
        .layer(axum::middleware::map_request(attach_authorizer_principal)))
}

/// The run a request is about, on the invocation's X-Ray trace (when it is sampled; see
/// [`crate::xray`]): the id in a `/api/v1/runs/{id}...` path, or that of the run the request
/// created ([`aos_api::runs::RunCreated`]); with the tenant the authorizer passed on, the method
/// and the status. A request about no run sends nothing.
async fn trace_run(req: Request, next: axum::middleware::Next) -> axum::response::Response {
    let Some(mut segment) = crate::xray::Subsegment::begin("api_request") else { return next.run(req).await };
    let in_path = run_in_path(req.uri().path());
    let tenant = req.extensions().get::<Principal>().map(|p| p.tenant.clone());
    let method = req.method().to_string();
    let response = next.run(req).await;
    let created = response.extensions().get::<aos_api::runs::RunCreated>().map(|c| c.0.clone());
    if let Some(run_id) = created.or(in_path) {
        segment.annotate("run_id", &run_id);
        if let Some(tenant) = tenant {
            segment.annotate("tenant", &tenant);
        }
        segment.annotate("method", &method);
        segment.annotate_number("status", u64::from(response.status().as_u16()));
        segment.finish(response.status().is_server_error());
    }
    response
}

/// `{id}` of `/api/v1/runs/{id}` and the paths below it.
fn run_in_path(path: &str) -> Option<String> {
    let id = path.strip_prefix("/api/v1/runs/")?.split('/').next()?;
    (!id.is_empty()).then(|| id.to_string())
}

/// `GET /metrics` of the serverless deployment: the stored totals of every runtime metric.
fn stored_metrics(store: Arc<dyn MetricStore>) -> MetricsRender {
    let descriptions = Arc::new(recorder::catalog());
    Arc::new(move || {
        let (store, descriptions) = (store.clone(), descriptions.clone());
        Box::pin(async move { exposition::scrape(store.as_ref(), &descriptions).await.map_err(|e| DomainError::Storage(e.to_string())) })
    })
}

/// `cli/tests/keys_bootstrap.rs` names the `api-skills` group through this; it can say
/// `aos_api::routers::named("api-skills")` itself, and then this goes.
#[doc(hidden)]
pub const SKILLS: Group = aos_api::routers::named("api-skills");

fn state_from_env(rt: Arc<Runtime>) -> Result<AppState, crate::Error> {
    let mut state = AppState::new(rt).with_rate_limits(aos_api::auth::RateLimits::from_env()?);
    if let Some(cfg) = aos_runtime::oidc::OidcConfig::from_env()? {
        state = state.with_oidc(cfg);
    }
    Ok(state)
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
    let Some(RequestContext::ApiGatewayV2(ctx)) = req.extensions().get::<RequestContext>() else {
        return None;
    };
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
