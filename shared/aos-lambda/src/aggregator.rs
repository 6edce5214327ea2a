//! The aggregator function, invoked nightly (EventBridge): groups the last N days' unmatched and
//! low-confidence failures of every tenant into catalog candidates, stores each tenant's result
//! (read by `GET /api/v1/failures/candidates`) and the platform-wide export. Its days and threshold
//! are the runtime's settings (`AOS_AGGREGATE_DAYS`, `AOS_AGGREGATE_LOW_CONFIDENCE`), read at cold
//! start so that a misconfigured function fails its init instead of every run.

use aos_runtime::failures::aggregate::AggregateSummary;
use aos_runtime::Runtime;
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use std::sync::Arc;
use tracing::Instrument;

/// `functions/aggregator`.
pub struct Function;

impl crate::Function for Function {
    type Handler = Handler;

    fn name(&self) -> &'static str {
        "aggregator"
    }

    async fn init(self) -> Result<Handler, crate::Error> {
        Ok(Handler(crate::runtime_from_env(crate::registry::declared).await?))
    }
}

/// One aggregation per scheduled event. Its metric (the time of the last successful pass,
/// `failure_aggregation_last_success_timestamp_seconds`, which the staleness alert watches) is
/// flushed by the invocation around it, like every function's.
pub struct Handler(pub Arc<Runtime>);

impl crate::Handler for Handler {
    type Event = Value;
    type Response = AggregateSummary;

    async fn handle(&self, event: LambdaEvent<Value>) -> Result<AggregateSummary, crate::Error> {
        handle(self.0.clone(), event).await
    }
}

/// One aggregation. The payload is any JSON (an EventBridge `Scheduled Event`, or a Scheduler's
/// input); it does not change what a run does. A storage failure fails the invocation, so the
/// asynchronous invocation is retried (a run only replaces stored results, so running again is
/// harmless).
pub async fn handle(rt: Arc<Runtime>, event: LambdaEvent<Value>) -> Result<AggregateSummary, lambda_runtime::Error> {
    let event_id = event.payload.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
    let span = tracing::info_span!("aggregate", event_id = %event_id);
    let run = rt.aggregate_failures().instrument(span).await?;
    Ok(run.summary)
}
