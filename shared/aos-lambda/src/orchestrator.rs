//! The orchestrator function: each SQS record is an `Advance` for one run, applied by the same
//! `Orchestrator::advance` that `aos serve` runs. Concurrent advances of one run from different
//! invocations are serialized by the run's version in the store.

use crate::error::RecordError;
use crate::sqs::{consume_batch, parse_body};
use aos_runtime::messages::Advance;
use aos_runtime::worker::Handled;
use aos_runtime::Runtime;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use std::sync::Arc;

/// The handler `functions/orchestrator` hands to the Lambda runtime.
pub async fn handle(rt: Arc<Runtime>, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let response = consume_batch(event.payload, |body| advance(&rt, body)).await;
    crate::recorder::flush().await;
    Ok(response)
}

async fn advance(rt: &Runtime, body: String) -> Result<Handled, RecordError> {
    let msg: Advance = parse_body(&body, "Advance")?;
    let span = tracing::Span::current();
    span.record("tenant", msg.tenant.as_str()).record("run_id", msg.run_id.as_str());
    rt.orchestrator.advance(&msg.tenant, &msg.run_id, false).await?;
    Ok(Handled::Done)
}
