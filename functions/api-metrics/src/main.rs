//! The `api-metrics` Lambda: serves `GET /metrics` in the Prometheus text format, rendered from the
//! totals every function adds to the table's metric items (permission `MetricsRead`).

#[tokio::main(flavor = "current_thread")] // one invocation at a time: see aos_lambda's crate docs
async fn main() -> Result<(), aos_lambda::Error> {
    aos_lambda::run(aos_lambda::api_function!()).await
}
