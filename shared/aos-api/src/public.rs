//! The two unauthenticated routes: the health check and the OpenAPI document itself.

use crate::AppState;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use crate::ApiRouterExt as _;
use utoipa_axum::router::OpenApiRouter;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().api(api_routes!(healthz)).api(api_routes!(openapi_document))
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
async fn openapi_document() -> Json<serde_json::Value> {
    Json(crate::openapi_value().clone())
}
