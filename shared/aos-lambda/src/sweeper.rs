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

/// `functions/sweeper`.
pub struct Function;

impl crate::Function for Function {
    type Handler = Handler;

    fn name(&self) -> &'static str {
        "sweeper"
    }

    async fn init(self) -> Result<Handler, crate::Error> {
        Ok(Handler(crate::runtime_from_env(crate::registry::declared).await?))
    }
}

/// Sweeps once per scheduled event.
pub struct Handler(pub Arc<Runtime>);

impl crate::Handler for Handler {
    type Event = Value;
    type Response = SweepReport;

    async fn handle(&self, event: LambdaEvent<Value>) -> Result<SweepReport, crate::Error> {
        handle(self.0.clone(), event).await
    }
}

/// One sweep. The payload is taken as any JSON:
/// an EventBridge rule sends a `Scheduled Event`, EventBridge Scheduler sends the input it was
/// given, and neither changes what a sweep does. A failed listing fails the invocation, so the
/// asynchronous invocation is retried.
pub async fn handle(rt: Arc<Runtime>, event: LambdaEvent<Value>) -> Result<SweepReport, lambda_runtime::Error> {
    let event_id = event.payload.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
    let span = tracing::info_span!("sweep", event_id = %event_id);
    // A sweep that fails part-way may still have finished runs: their metrics count either way
    // (the invocation flushes them whatever the outcome).
    let active_runs = rt.sweep().instrument(span).await?;
    tracing::info!(active_runs, "sweep finished");
    Ok(SweepReport { active_runs })
}
