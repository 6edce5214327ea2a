//! `GET /metrics`: the process's metrics in the Prometheus text format, for a scraper holding a key
//! with `MetricsRead` (Prometheus sends it as `authorization: bearer_token`). The deployment
//! supplies the renderer; where there is none (the Lambdas) the route answers 404.

use crate::auth::{need, Auth};
use crate::error::{ApiError, ErrorBody};
use crate::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_metrics))
}

/// The process's metrics (Prometheus text exposition format 0.0.4).
#[utoipa::path(get, path = "/metrics", tag = "meta",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String), (status = 404, body = ErrorBody)),
    security(("bearer" = ["metrics:read"])))]
async fn get_metrics(State(s): State<AppState>, _auth: Auth<need::MetricsRead>) -> Result<impl IntoResponse, ApiError> {
    let render = s.metrics.as_ref().ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "this deployment does not serve metrics"))?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], render()))
}
