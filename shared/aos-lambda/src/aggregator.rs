//! The aggregator function, invoked nightly (EventBridge): groups the last N days' unmatched and
//! low-confidence failures of every tenant into catalog candidates, stores each tenant's result
//! (read by `GET /api/v1/failures/candidates`) and the platform-wide export.

use aos_runtime::failures::aggregate::{AggregateOptions, AggregateSummary};
use aos_runtime::runs::now_ms;
use aos_runtime::Runtime;
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use std::sync::Arc;
use tracing::Instrument;

/// `AOS_AGGREGATE_DAYS` and `AOS_AGGREGATE_LOW_CONFIDENCE`, checked at cold start so that a
/// misconfigured function fails its init instead of every run.
pub fn options_from_env() -> Result<AggregateOptions, crate::InitError> {
    AggregateOptions::from_env().map_err(crate::InitError::Config)
}

/// The handler `functions/aggregator` hands to the Lambda runtime. The payload is any JSON (an
/// EventBridge `Scheduled Event`, or a Scheduler's input); it does not change what a run does. A
/// storage failure fails the invocation, so the asynchronous invocation is retried (a run only
/// replaces stored results, so running again is harmless).
pub async fn handle(rt: Arc<Runtime>, opts: AggregateOptions, event: LambdaEvent<Value>) -> Result<AggregateSummary, lambda_runtime::Error> {
    let event_id = event.payload.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
    let span = tracing::info_span!("aggregate", event_id = %event_id);
    let run = rt.failures.aggregate(&opts, now_ms(), None).instrument(span).await?;
    Ok(run.summary)
}
