//! The AOS HTTP API: one router per resource (runs, workflows, skills, secrets, failures, the
//! failure catalog, metrics), registered once in [`routers::ALL`]: mounted together by `aos serve`
//! and served group by group by the API Lambdas. The OpenAPI document is generated from these
//! routers and served at `/api/v1/openapi.json`.

/// The axum routes of handlers annotated with `#[utoipa::path]`: `utoipa_axum::routes!` with the
/// `openapi` feature. Without it, the same routes from each handler's declared path and methods,
/// with none of its documentation built (or linked): the API Lambdas serve the committed
/// document instead (see [`openapi_value`]).
#[cfg(feature = "openapi")]
macro_rules! api_routes {
    (public: $($handler:ident),+ $(,)?) => { utoipa_axum::routes!($($handler),+) };
    // The OpenAPI security scope of each route is written from its handler's `Auth<need::X>`
    // type: a permission is stated once, in the handler's signature.
    ($($handler:ident),+ $(,)?) => {{
        let mut routes = utoipa_axum::routes!($($handler),+);
        $( utoipa_axum::paste! { crate::auth::document_permission(&mut routes.1, &<[<__path_ $handler>] as utoipa::Path>::path(), &<[<__path_ $handler>] as utoipa::Path>::methods(), crate::auth::permission_of(&$handler)); } )+
        routes
    }};
}

#[cfg(not(feature = "openapi"))]
macro_rules! api_routes {
    (public: $($handler:ident),+ $(,)?) => { api_routes!($($handler),+) };
    ($first:ident $(, $handler:ident)* $(,)?) => {{
        use utoipa_axum::PathItemExt as _;
        let path = utoipa_axum::paste! { <[<__path_ $first>] as utoipa::Path>::path() };
        let mut router = axum::routing::MethodRouter::new();
        $(
            let same = utoipa_axum::paste! { <[<__path_ $handler>] as utoipa::Path>::path() };
            debug_assert_eq!(same, path, "handlers routed together share one path");
        )*
        router = utoipa_axum::paste! { <[<__path_ $first>] as utoipa::Path>::methods() }.iter().fold(router, |r, m| r.on(m.to_method_filter(), $first));
        $(
            router = utoipa_axum::paste! { <[<__path_ $handler>] as utoipa::Path>::methods() }.iter().fold(router, |r, m| r.on(m.to_method_filter(), $handler));
        )*
        (path, router)
    }};
}

/// What `api_routes!` makes: with the `openapi` feature the routes and their documentation,
/// without it a path and its method router.
#[cfg(feature = "openapi")]
type ApiRoutes = utoipa_axum::router::UtoipaMethodRouter<AppState>;
#[cfg(not(feature = "openapi"))]
type ApiRoutes = (String, axum::routing::MethodRouter<AppState>);

/// `.api(api_routes!(...))` adds a resource's routes: documented with the `openapi` feature,
/// plain axum routes without it (no document is built at all).
trait ApiRouterExt {
    fn api(self, routes: ApiRoutes) -> Self;
}

impl ApiRouterExt for OpenApiRouter<AppState> {
    fn api(self, routes: ApiRoutes) -> Self {
        #[cfg(feature = "openapi")]
        return self.routes(routes);
        #[cfg(not(feature = "openapi"))]
        return self.route(&routes.0, routes.1);
    }
}

pub mod access;
pub mod auth;
pub mod catalog;
pub mod error;
pub mod extract;
pub mod failures;
pub mod metrics;
pub mod public;
pub mod recovery;
pub mod runs;
pub mod secrets;
pub mod skills;
pub mod workflows;

use aos_runtime::Runtime;
use axum::http::StatusCode;
use axum::Router;
use error::ApiError;
use std::sync::Arc;
pub use utoipa_axum::router::OpenApiRouter;

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Renders the deployment's metrics in the Prometheus text format: from the process's own recorder
/// (`aos serve`) or from totals kept in storage (the AWS metrics function), hence asynchronous and
/// fallible.
pub type MetricsRender = Arc<dyn Fn() -> MetricsFuture + Send + Sync>;
pub type MetricsFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, aos_core::DomainError>> + Send>>;

#[derive(Clone)]
pub struct AppState {
    pub rt: Arc<Runtime>,
    /// Present where the deployment serves metrics (`aos serve`, the `api-metrics` function);
    /// `GET /metrics` answers 404 without.
    pub metrics: Option<MetricsRender>,
    /// Identity-provider verification, rate limits and sessions seen.
    pub authn: auth::Authn,
}

impl AppState {
    pub fn new(rt: Arc<Runtime>) -> Self {
        Self { rt, metrics: None, authn: auth::Authn::default() }
    }

    /// Accepts tokens of an OpenID Connect issuer besides API keys.
    pub fn with_oidc(mut self, config: aos_runtime::oidc::OidcConfig) -> Self {
        self.authn.oidc = Some(Arc::new(aos_runtime::oidc::OidcVerifier::new(config)));
        self
    }

    pub fn with_rate_limits(mut self, limits: auth::RateLimits) -> Self {
        self.authn.limits = Arc::new(limits);
        self
    }

    pub fn with_metrics(mut self, render: MetricsRender) -> Self {
        self.metrics = Some(render);
        self
    }
}

#[cfg(feature = "openapi")]
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "AOS API", version = "1", description = "Run plans of skills deterministically; failures are data."),
    modifiers(&BearerAuth),
    tags((name = "runs"), (name = "workflows"), (name = "skills"), (name = "secrets"), (name = "failures"), (name = "access"), (name = "meta"))
)]
struct ApiDoc;

#[cfg(feature = "openapi")]
struct BearerAuth;
#[cfg(feature = "openapi")]
impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("API key (aos_...) or OpenID Connect JWT").build(),
            ),
        );
    }
}

/// Responses every authenticated operation can give, added to each so that clients generated from
/// the document know them.
#[cfg(feature = "openapi")]
struct CommonResponses;
#[cfg(feature = "openapi")]
impl utoipa::Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let common = [
            ("401", "No valid credential (`UNAUTHENTICATED`)."),
            ("403", "The caller's role lacks the permission (`FORBIDDEN`)."),
            ("429", "Too many requests from this key or user (`RATE_LIMITED`); `Retry-After` says when to retry."),
            ("500", "A stored record the operation needs is corrupt (`CORRUPT_RECORD`); retrying does not help, the operator must restore the data."),
            ("503", "Storage is unavailable; retry later (`STORAGE_UNAVAILABLE`)."),
        ];
        for item in openapi.paths.paths.values_mut() {
            let ops = [&mut item.get, &mut item.post, &mut item.put, &mut item.delete, &mut item.patch];
            // Only authenticated operations: the public ones (health, this document) have no security.
            for op in ops.into_iter().flatten().filter(|op| op.security.is_some()) {
                let has_body = op.request_body.is_some();
                let has_query = op.parameters.iter().flatten().any(|p| p.parameter_in == utoipa::openapi::path::ParameterIn::Query);
                let query: &[(&str, &str)] = if has_query {
                    &[("400", "A query parameter is malformed or out of range (`INVALID_QUERY`; `details.field` names it).")]
                } else {
                    &[]
                };
                let extra: &[(&str, &str)] = if has_body {
                    &[
                        ("400", "The body is not valid JSON (`INVALID_JSON`)."),
                        ("413", "The body is larger than 1 MiB (`BODY_TOO_LARGE`)."),
                        ("415", "The body is not sent as JSON (`UNSUPPORTED_MEDIA_TYPE`)."),
                        ("422", "The body does not have the expected shape (`INVALID_FIELD`) or is not acceptable."),
                    ]
                } else {
                    &[]
                };
                for (status, description) in common.iter().chain(query).chain(extra) {
                    op.responses.responses.entry(status.to_string()).or_insert_with(|| {
                        ResponseBuilder::new()
                            .description(*description)
                            .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build())
                            .build()
                            .into()
                    });
                }
            }
        }
    }
}

/// Response links (`links(...)` in the `#[utoipa::path]` responses: POST /api/v1/runs → the run,
/// POST /api/v1/workflows → the workflow, POST /api/v1/keys → the key) with OpenAPI's field names:
/// utoipa 5.5 serializes a Link's `operation_id` as `operation_id` rather than `operationId`, so
/// clients and tools that follow links (schemathesis' stateful tests) would not see the target.
/// The id moves into the link's flattened map under its OpenAPI name.
#[cfg(feature = "openapi")]
struct LinkFieldNames;
#[cfg(feature = "openapi")]
impl utoipa::Modify for LinkFieldNames {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        for item in openapi.paths.paths.values_mut() {
            let ops = [&mut item.get, &mut item.post, &mut item.put, &mut item.delete, &mut item.patch];
            for op in ops.into_iter().flatten() {
                for response in op.responses.responses.values_mut() {
                    let RefOr::T(response) = response else { continue };
                    for link in response.links.values_mut() {
                        let RefOr::T(link) = link else { continue };
                        let extensions = link.extensions.get_or_insert_with(Default::default);
                        if !link.operation_id.is_empty() {
                            extensions.insert("operationId".into(), std::mem::take(&mut link.operation_id).into());
                        }
                        if !link.operation_ref.is_empty() {
                            extensions.insert("operationRef".into(), std::mem::take(&mut link.operation_ref).into());
                        }
                        if let Some(body) = link.request_body.take() {
                            extensions.insert("requestBody".into(), body);
                        }
                    }
                }
            }
        }
    }
}

/// The one router registry: every resource router of the API, in the groups the serverless
/// deployment serves, one group per API function. `aos serve` mounts every group ([`app`]); each
/// API function serves its own (`aos_lambda::api_function!`), and `aos-lambda`'s deployment test
/// generates the function's routes in template.yaml from its group's paths. Adding a resource
/// router means adding it to a group here (or a new group, with its function: docs/contributing.md).
pub mod routers {
    use super::{access, catalog, failures, metrics, recovery, runs, secrets, skills, workflows, AppState, OpenApiRouter};

    /// Resource routers served together, by one API function.
    #[derive(Clone, Copy)]
    pub struct Group {
        /// The API function that serves the group: its package under `functions/`.
        pub function: &'static str,
        /// The group's routers, merged. A function, not a list matched at run time, so that a
        /// function's binary links only its own handlers (a list of every router linked them
        /// all into every API function: 3.5 MB each).
        pub routers: fn() -> OpenApiRouter<AppState>,
        /// Its handlers replay runs, re-executing the replayable skills: the function executes them.
        pub replays: bool,
        /// It serves `GET /metrics`: the function renders the deployment's metrics.
        pub metrics: bool,
    }

    pub const ALL: &[Group] = &[
        // Runs (with simulate and replay) and workflows.
        Group { function: "api-runs", routers: || runs::router().merge(workflows::router()), replays: true, metrics: false },
        Group { function: "api-skills", routers: skills::router, replays: false, metrics: false },
        // Secrets, and who am I, API keys and the audit log.
        Group { function: "api-secrets", routers: || secrets::router().merge(access::router()), replays: false, metrics: false },
        // Recorded failures and their statistics, and the failure catalog with its matcher.
        Group { function: "api-failures", routers: || failures::router().merge(catalog::router()), replays: false, metrics: false },
        Group { function: "api-metrics", routers: metrics::router, replays: false, metrics: true },
        // Recovery suggestions and the candidates people review.
        Group { function: "api-recovery", routers: recovery::router, replays: false, metrics: false },
    ];

    /// The group served by `function`, found at compile time when called in a `const`: a function
    /// names its group this way, so only that group's routers are linked into it, and a function
    /// without a group does not compile.
    pub const fn named(function: &str) -> Group {
        let mut i = 0;
        while i < ALL.len() {
            if same(ALL[i].function, function) {
                return ALL[i];
            }
            i += 1;
        }
        panic!("this API function has no router group: add one named after its package to aos_api::routers::ALL")
    }

    const fn same(a: &str, b: &str) -> bool {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        let mut i = 0;
        while i < a.len() {
            if a[i] != b[i] {
                return false;
            }
            i += 1;
        }
        true
    }

    /// Every group's routers, merged: the whole authenticated API.
    pub fn all() -> OpenApiRouter<AppState> {
        ALL.iter().fold(OpenApiRouter::new(), |r, g| r.merge((g.routers)()))
    }

    impl Group {
        /// The paths the group's routers serve, as the OpenAPI document names them.
        #[cfg(feature = "openapi")]
        pub fn paths(&self) -> Vec<String> {
            let (_, doc) = (self.routers)().split_for_parts();
            doc.paths.paths.keys().cloned().collect()
        }
    }
}

fn split_routers(routers: OpenApiRouter<AppState>) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    #[cfg(feature = "openapi")]
    let merged = OpenApiRouter::with_openapi(<ApiDoc as utoipa::OpenApi>::openapi()).merge(routers);
    #[cfg(not(feature = "openapi"))]
    let merged = routers;
    #[allow(unused_mut)]
    let (router, mut doc) = merged.split_for_parts();
    // After the routers are merged: the paths exist only now.
    #[cfg(feature = "openapi")]
    utoipa::Modify::modify(&CommonResponses, &mut doc);
    #[cfg(feature = "openapi")]
    utoipa::Modify::modify(&LinkFieldNames, &mut doc);
    (router, doc)
}

/// The authenticated resource routers and the OpenAPI document describing them.
#[cfg(feature = "openapi")]
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    split_routers(routers::all())
}

/// The whole OpenAPI document: every authenticated resource plus the public routes.
#[cfg(feature = "openapi")]
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = api();
    let (_, public) = public::router().split_for_parts();
    doc.merge(public);
    doc
}

/// The OpenAPI document as committed in `docs/openapi.json`.
#[cfg(feature = "openapi")]
pub fn openapi_json() -> String {
    openapi().to_pretty_json().unwrap_or_default()
}

/// The document `/api/v1/openapi.json` serves, built once: generated from the code with the
/// `openapi` feature (`aos serve`); without it (the API Lambdas) the committed
/// `docs/openapi.json` ([`COMMITTED_OPENAPI`]), which the test command checks is exactly what the
/// code generates.
pub fn openapi_value() -> &'static serde_json::Value {
    static DOC: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    #[cfg(feature = "openapi")]
    let doc = || serde_json::to_value(openapi()).unwrap_or_default();
    #[cfg(not(feature = "openapi"))]
    let doc = || serde_json::from_str(COMMITTED_OPENAPI).unwrap_or_default();
    DOC.get_or_init(doc)
}

/// The committed `docs/openapi.json`, served as it is by builds without the `openapi` feature.
/// `build.rs` copies it into `OUT_DIR` (after checking that it is JSON) rather than this crate
/// `include_str!`ing a path outside itself: the dependency on a file of the repository is then
/// declared in one place (`cargo:rerun-if-changed`), a missing or broken file stops the build with
/// a message that says which file and why, and builds with the feature do not read it at all.
#[cfg(not(feature = "openapi"))]
pub const COMMITTED_OPENAPI: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

/// The whole application: authenticated API, OpenAPI document, health check, JSON 404s.
pub fn app(state: AppState) -> Router {
    routers_app(state, routers::all())
}

/// The application serving `routers` (every group: [`app`]; one group: an API function), behind
/// the same authentication, fallbacks and body limit. The OpenAPI document always describes the
/// whole API: whichever function a gateway routes `/api/v1/openapi.json` to, clients get the full
/// contract.
///
/// Authentication wraps every authenticated route *including its 405 answer*: the method
/// fallback is set on those routes before the middleware is layered over them (a fallback set
/// afterwards, by the outer router, would replace the layered default one and answer 405 before
/// 401). So a request without a valid credential gets 401 on every non-public path whatever its
/// method; unknown paths answer 404 with or without a key.
pub fn routers_app(state: AppState, routers: OpenApiRouter<AppState>) -> Router {
    let (api, _) = split_routers(routers);
    let api = api
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(valid_path))
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::authenticate));
    let (public, _) = public::router().split_for_parts();
    Router::new()
        .merge(api)
        .merge(public)
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no such route") })
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(close_after_refusal))
        .layer(axum::middleware::from_fn(in_envelope))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panic_response))
        .with_state(state)
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "this route does not accept that method")
}

/// 400 `INVALID_PATH` for a path that does not decode to UTF-8 (after authentication, like every
/// other problem with the request).
async fn valid_path(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    match extract::check_path(req.uri().path()) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// Every answer in the error envelope: refuses over-long request targets (414 `URI_TOO_LONG`)
/// before anything reads them, and rewrites an error that is not JSON — a rejection produced by
/// the framework rather than by AOS code — into the envelope, with a code from its status.
async fn in_envelope(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::http::header;
    use axum::response::IntoResponse;
    if let Err(e) = extract::check_uri(req.uri()) {
        return e.into_response();
    }
    let resp = next.run(req).await;
    let is_json =
        resp.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| ct.starts_with("application/json"));
    if resp.status().as_u16() < 400 || is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.map(|b| String::from_utf8_lossy(&b).trim().to_string()).unwrap_or_default();
    let status = parts.status;
    let code = match status.as_u16() {
        400 if text.starts_with("Invalid URL") || text.contains("path param") => "INVALID_PATH".to_string(),
        400 => "BAD_REQUEST".into(),
        404 => "NOT_FOUND".into(),
        405 => "METHOD_NOT_ALLOWED".into(),
        408 => "REQUEST_TIMEOUT".into(),
        413 => "BODY_TOO_LARGE".into(),
        414 => "URI_TOO_LONG".into(),
        415 => "UNSUPPORTED_MEDIA_TYPE".into(),
        500 => "INTERNAL".into(),
        other => format!("HTTP_{other}"),
    };
    let message = if text.is_empty() { status.canonical_reason().unwrap_or("error").to_string() } else { text };
    let mut fixed = ApiError::new(status, &code, message).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            fixed.headers_mut().append(name.clone(), value.clone());
        }
    }
    fixed
}

/// A request refused before its body was read (401, 403, 413, 429, ...) leaves the body unread on
/// the connection: the response says `Connection: close`, so that clients do not reuse a
/// connection the server is about to drop.
async fn close_after_refusal(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::http::header;
    let has_body = req.headers().get(header::CONTENT_LENGTH).is_some_and(|v| v.as_bytes() != b"0")
        || req.headers().contains_key(header::TRANSFER_ENCODING);
    let mut resp = next.run(req).await;
    if has_body && matches!(resp.status().as_u16(), 401 | 403 | 404 | 405 | 408 | 413 | 414 | 415 | 429) {
        resp.headers_mut().insert(header::CONNECTION, axum::http::HeaderValue::from_static("close"));
    }
    resp
}

/// A handler that panics (a bug) answers a JSON 500 instead of dropping the connection; the panic
/// itself is in the log.
fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    use axum::response::IntoResponse;
    tracing::error!("a request handler panicked");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "the server failed while handling this request; the failure is logged")
        .into_response()
}
