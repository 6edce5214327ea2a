//! The failure catalog: `/api/v1/catalog[...]` lists its entries and classifies a failure on
//! request, with the same matcher the runtime applies to every failed attempt.

use crate::auth::{need, Auth};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::ApiRouterExt as _;
use crate::AppState;
use aos_runtime::failures::catalog::{catalog_entry, catalog_view, CatalogEntry, CatalogView, MatchRequest, MatchResponse};
use axum::extract::Path;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;

/// Longest message the match endpoint accepts (bytes).
const MAX_MESSAGE_BYTES: usize = 64 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().api(api_routes!(get_catalog)).api(api_routes!(get_catalog_entry)).api(api_routes!(match_failure))
}

/// The failure catalog in force: its version, digest and every entry.
#[utoipa::path(get, path = "/api/v1/catalog", tag = "failures", responses((status = 200, body = CatalogView)))]
async fn get_catalog(_auth: Auth<need::CatalogRead>) -> Json<CatalogView> {
    Json(catalog_view())
}

/// One catalog entry by its code.
#[utoipa::path(get, path = "/api/v1/catalog/{code}", tag = "failures", params(("code" = String, Path, description = "Entry code, e.g. `HTTP_NOT_FOUND`")),
    responses((status = 200, body = CatalogEntry), (status = 404, body = ErrorBody)))]
async fn get_catalog_entry(_auth: Auth<need::CatalogRead>, Path(code): Path<String>) -> Result<Json<CatalogEntry>, ApiError> {
    catalog_entry(&code).map(Json).ok_or_else(|| aos_core::DomainError::NotFound(format!("catalog entry {code}")).into())
}

/// Classify a failure: the entry it matches, how sure the match is, and what to do about it.
#[utoipa::path(post, path = "/api/v1/catalog/match", tag = "failures", request_body = MatchRequest,
    responses((status = 200, body = MatchResponse), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn match_failure(_auth: Auth<need::CatalogRead>, ApiJson(req): ApiJson<MatchRequest>) -> Result<Json<MatchResponse>, ApiError> {
    if req.message.len() > MAX_MESSAGE_BYTES {
        return Err(ApiError::bad_request("INVALID_FIELD", format!("message must be at most {MAX_MESSAGE_BYTES} bytes"), "message"));
    }
    if req.http_status.is_some_and(|s| !(100..=599).contains(&s)) {
        return Err(ApiError::bad_request("INVALID_FIELD", "http_status must be from 100 to 599", "http_status"));
    }
    if req.code.as_ref().is_some_and(|c| c.len() > 200) {
        return Err(ApiError::bad_request("INVALID_FIELD", "code must be at most 200 bytes", "code"));
    }
    Ok(Json(aos_runtime::failures::catalog::match_failure(&req)))
}
