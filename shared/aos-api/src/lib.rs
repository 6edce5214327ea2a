//! The AOS HTTP API: one router per resource (runs, workflows, skills, secrets), mounted together by
//! `aos serve` and served one by one by the API Lambdas. The OpenAPI document is generated from
//! these routers and served at `/api/v1/openapi.json`.

pub mod auth;
pub mod error;
pub mod extract;
pub mod runs;
pub mod secrets;
pub mod skills;
pub mod workflows;

use aos_runtime::Runtime;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use error::ApiError;
use std::sync::Arc;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub rt: Arc<Runtime>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "AOS API", version = "1", description = "Run plans of skills deterministically; failures are data."),
    modifiers(&BearerAuth),
    tags((name = "runs"), (name = "workflows"), (name = "skills"), (name = "secrets"))
)]
struct ApiDoc;

struct BearerAuth;
impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("API key").build()));
    }
}

/// Responses every authenticated operation can give, added to each so that clients generated from
/// the document know them.
struct CommonResponses;
impl utoipa::Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let common = [
            ("401", "No valid credential (`UNAUTHENTICATED`)."),
            ("403", "The caller's role lacks the permission (`FORBIDDEN`)."),
            ("503", "Storage is unavailable; retry later (`STORAGE_UNAVAILABLE`)."),
        ];
        for item in openapi.paths.paths.values_mut() {
            let ops = [&mut item.get, &mut item.post, &mut item.put, &mut item.delete, &mut item.patch];
            for op in ops.into_iter().flatten() {
                let has_body = op.request_body.is_some();
                let extra: &[(&str, &str)] = if has_body {
                    &[("400", "The body is not valid JSON (`INVALID_JSON`)."), ("413", "The body is larger than 1 MiB (`BODY_TOO_LARGE`)."), ("415", "The body is not sent as JSON (`UNSUPPORTED_MEDIA_TYPE`)."), ("422", "The body does not have the expected shape (`INVALID_FIELD`) or is not acceptable.")]
                } else {
                    &[]
                };
                for (status, description) in common.iter().chain(extra) {
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

/// The authenticated resource routers and the OpenAPI document describing them.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(runs::router())
        .merge(workflows::router())
        .merge(skills::router())
        .merge(secrets::router())
        .split_for_parts();
    // After the routers are merged: the paths exist only now.
    utoipa::Modify::modify(&CommonResponses, &mut doc);
    (router, doc)
}

/// The OpenAPI document as committed in `docs/openapi.json`.
pub fn openapi_json() -> String {
    let (_, doc) = api();
    doc.to_pretty_json().unwrap_or_default()
}

/// The whole application: authenticated API, OpenAPI document, health check, JSON 404s.
pub fn app(state: AppState) -> Router {
    let (api, doc) = api();
    let doc = Arc::new(doc);
    let api = api.layer(axum::middleware::from_fn_with_state(state.clone(), auth::authenticate));
    Router::new()
        .merge(api)
        .route("/api/v1/openapi.json", get(move || { let doc = doc.clone(); async move { Json((*doc).clone()) } }))
        .route("/healthz", get(|| async { Json(serde_json::json!({"status": "ok"})) }))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no such route") })
        .method_not_allowed_fallback(|| async { ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "this route does not accept that method") })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
