//! `GET /metrics`: the deployment's metrics in the Prometheus text format, for a scraper holding a
//! key with `MetricsRead` (Prometheus sends it as `authorization: bearer_token`). The deployment
//! supplies the renderer (`aos serve`: its recorder; AWS: the `api-metrics` function, from the
//! totals in DynamoDB); where there is none (the other Lambdas) the route answers 404.

use crate::auth::{need, Auth};
use crate::error::{ApiError, ErrorBody};
use crate::ApiRouterExt as _;
use crate::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().api(api_routes!(get_metrics))
}

/// The deployment's metrics (Prometheus text exposition format 0.0.4).
#[utoipa::path(get, path = "/metrics", tag = "meta",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String), (status = 404, body = ErrorBody)))]
async fn get_metrics(State(s): State<AppState>, _auth: Auth<need::MetricsRead>) -> Result<impl IntoResponse, ApiError> {
    let render =
        s.metrics.as_ref().ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "this deployment does not serve metrics"))?;
    let text = render().await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text))
}
