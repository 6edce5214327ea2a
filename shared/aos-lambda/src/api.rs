//! The API functions: the same axum routers `aos serve` mounts, one resource group per function,
//! behind the same authentication, fallbacks and body limit; `lambda_http` turns API Gateway
//! (HTTP API, payload 2.0) events into requests for them. Each request's metrics are flushed
//! before its response goes back.

use crate::{exposition, recorder};
use aos_api::{resource_app, AppState, MetricsRender, Resource};
use aos_core::DomainError;
use aos_runtime::metric_store::MetricStore;
use aos_runtime::Runtime;
use axum::response::Response;
use std::sync::Arc;

/// `functions/api-runs`: runs (with simulate and replay) and workflows.
pub const RUNS: &[Resource] = &[Resource::Runs, Resource::Workflows];
/// `functions/api-skills`.
pub const SKILLS: &[Resource] = &[Resource::Skills];
/// `functions/api-secrets`.
pub const SECRETS: &[Resource] = &[Resource::Secrets];
/// `api-failures`: recorded failures, their statistics, and the failure catalog with its matcher.
pub const FAILURES: &[Resource] = &[Resource::Failures, Resource::Catalog];

/// `api-metrics`: `GET /metrics`, the totals every function adds to the metric items.
pub const METRICS: &[Resource] = &[Resource::Metrics];

/// The router a function hands to `lambda_http::run`.
pub fn app(rt: Arc<Runtime>, resources: &[Resource]) -> axum::Router {
    with_flush(resource_app(AppState::new(rt), resources))
}

/// The `api-metrics` router: `GET /metrics` renders the stored totals of every runtime metric.
pub fn metrics_app(rt: Arc<Runtime>, store: Arc<dyn MetricStore>) -> axum::Router {
    let descriptions = Arc::new(recorder::catalog());
    let render: MetricsRender = Arc::new(move || {
        let (store, descriptions) = (store.clone(), descriptions.clone());
        Box::pin(async move { exposition::scrape(store.as_ref(), &descriptions).await.map_err(|e| DomainError::Storage(e.to_string())) })
    });
    with_flush(resource_app(AppState::new(rt).with_metrics(render), METRICS))
}

fn with_flush(app: axum::Router) -> axum::Router {
    app.layer(axum::middleware::map_response(flush_after))
}

async fn flush_after(response: Response) -> Response {
    recorder::flush().await;
    response
}
