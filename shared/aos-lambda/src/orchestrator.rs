//! The orchestrator function: each SQS record is an `Advance` for one run, applied by the same
//! `Orchestrator::advance` that `aos serve` runs. Concurrent advances of one run from different
//! invocations are serialized by the run's version in the store.

use crate::sqs::consume_batch;
use aos_runtime::Runtime;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use std::sync::Arc;

/// `functions/orchestrator`.
pub struct Function;

impl crate::Function for Function {
    type Handler = Handler;

    fn name(&self) -> &'static str {
        "orchestrator"
    }

    async fn init(self) -> Result<Handler, crate::Error> {
        // Pure attempts (json_transform) run inline in the advance, not through their queue.
        Ok(Handler(crate::runtime_from_env(crate::registry::replaying).await?))
    }
}

/// Advances the runs of a batch of `Advance` messages.
pub struct Handler(pub Arc<Runtime>);

impl crate::Handler for Handler {
    type Event = SqsEvent;
    type Response = SqsBatchResponse;

    async fn handle(&self, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, crate::Error> {
        handle(self.0.clone(), event).await
    }
}

/// One batch of `Advance` messages, each record on its own (`Runtime::handle_advance`, as in
/// `aos serve`'s consumer).
pub async fn handle(rt: Arc<Runtime>, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let rt = &rt;
    Ok(consume_batch(event.payload, |body| async move { rt.handle_advance(&body).await }).await)
}
