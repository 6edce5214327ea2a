//! The `api-metrics` Lambda: serves `GET /metrics` in the Prometheus text format, rendered from the
//! totals every function adds to the table's metric items, behind the same API keys as the rest
//! (permission `MetricsRead`).

#[tokio::main(flavor = "current_thread")] // one invocation at a time: see aos_lambda's crate docs
async fn main() -> Result<(), lambda_http::Error> {
    aos_lambda::init_telemetry();
    let rt = aos_lambda::runtime_from_env(aos_lambda::registry::declared).await?;
    let store = aos_lambda::metric_store_from_env().await?;
    lambda_http::run(aos_lambda::api::metrics_app(rt, store)?).await
}
