//! The two unauthenticated routes: the health check and the OpenAPI document itself.

use crate::ApiRouterExt as _;
use crate::AppState;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().api(api_routes!(public: healthz)).api(api_routes!(public: openapi_document))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the server answers.
    pub status: String,
}

/// Liveness of the HTTP server (no authentication).
#[utoipa::path(get, path = "/healthz", tag = "meta", responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok".into() })
}

/// This OpenAPI 3.1 document (no authentication).
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta", responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
async fn openapi_document() -> axum::response::Response {
    use axum::response::IntoResponse;
    #[cfg(feature = "openapi")]
    return Json(crate::openapi_value().clone()).into_response();
    // The committed document as committed, byte for byte, and without parsing it at cold start.
    #[cfg(not(feature = "openapi"))]
    return ([(axum::http::header::CONTENT_TYPE, "application/json")], crate::COMMITTED_OPENAPI).into_response();
}
