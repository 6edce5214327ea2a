//! The sweeper function, invoked on a schedule: re-advances every unfinished run, which re-sends
//! overdue dispatches whose messages were lost, enforces budget deadlines beyond the queue's
//! 15-minute maximum delay, and picks up runs whose first `Advance` was never sent.

use aos_runtime::Runtime;
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use tracing::Instrument;

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct SweepReport {
    /// Unfinished runs found and advanced.
    pub active_runs: usize,
}

/// The handler `functions/sweeper` hands to the Lambda runtime. The payload is taken as any JSON:
/// an EventBridge rule sends a `Scheduled Event`, EventBridge Scheduler sends the input it was
/// given, and neither changes what a sweep does. A failed listing fails the invocation, so the
/// asynchronous invocation is retried.
pub async fn handle(rt: Arc<Runtime>, event: LambdaEvent<Value>) -> Result<SweepReport, lambda_runtime::Error> {
    let event_id = event.payload.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
    let span = tracing::info_span!("sweep", event_id = %event_id);
    let swept = rt.orchestrator.sweep(false).instrument(span).await;
    // A sweep that fails part-way may still have finished runs: their metrics count either way.
    crate::recorder::flush().await;
    let active_runs = swept?;
    tracing::info!(active_runs, "sweep finished");
    Ok(SweepReport { active_runs })
}
