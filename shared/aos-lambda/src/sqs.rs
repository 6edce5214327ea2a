//! The SQS batch consumer behind the orchestrator and skill functions: one handler call per record,
//! a bounded number at once, and a batch response naming only the records SQS must deliver again
//! (the event source mapping needs `FunctionResponseTypes: [ReportBatchItemFailures]`). What
//! becomes of a record is the runtime's decision (`aos_runtime::delivery::decide`), the same as
//! for `aos serve`'s consumers.

use crate::error::RecordError;
use aos_runtime::delivery::{settle, Delivery, MessageError};
use aos_runtime::worker::Handled;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use futures::{Future, StreamExt};
use tracing::field::Empty;
use tracing::Instrument;

/// Records handled at once within one invocation. SQS batches hold at most 10 records unless the
/// mapping sets a batching window; beyond this bound records wait for a free slot.
pub const RECORD_CONCURRENCY: usize = 10;

/// Runs `handler` on every record's body (`Runtime::handle_advance` or
/// `Runtime::handle_step_task`, or a function's own handler returning [`RecordError`]) and
/// collects the failures to report, as [`aos_runtime::delivery::decide`] says:
///
/// - `Done`: handled; SQS deletes the message.
/// - `Retry` (in progress, storage unavailable, a concurrent change, a newer release's message):
///   reported, so SQS makes the message visible again after its visibility timeout (and
///   dead-letters it after `maxReceiveCount` receives).
/// - `Drop` (malformed, for another function, about a corrupt record): logged at error level with
///   the message id and *not* reported. Every delivery would fail the same way, so reporting it
///   would only cycle it to the dead-letter queue; the error log line (`non_retryable = true`) is
///   the record to alarm on.
pub async fn consume_batch<F, Fut, E>(event: SqsEvent, handler: F) -> SqsBatchResponse
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<Handled, E>>,
    E: Into<MessageError>,
{
    let handler = &handler;
    let failed: Vec<Option<String>> = futures::stream::iter(event.records)
        .map(|record| {
            let message_id = record.message_id.unwrap_or_default();
            let receive_count = record.attributes.get("ApproximateReceiveCount").cloned().unwrap_or_default();
            // Every line about this record, the runtime's included, carries its message id and
            // the ids the handler records once it has parsed the body.
            let span = tracing::info_span!(
                "sqs_record",
                message_id = %message_id,
                receive_count = %receive_count,
                tenant = Empty,
                run_id = Empty,
                step_id = Empty,
                attempt = Empty,
            );
            async move {
                // The record's run on the invocation's X-Ray trace (when sampled): crate::xray.
                let trace = record.body.as_deref().and_then(crate::xray::RecordTrace::start);
                let result = match record.body {
                    Some(body) => handler(body).await.map_err(Into::into),
                    None => Err(MessageError::Unhandleable("the record has no body".into())),
                };
                let retry = report(result);
                if let Some(trace) = trace {
                    trace.finish(retry);
                }
                retry.then_some(message_id)
            }
            .instrument(span)
        })
        .buffered(RECORD_CONCURRENCY)
        .collect()
        .await;
    let mut response = SqsBatchResponse::default();
    for message_id in failed.into_iter().flatten() {
        response.add_failure(message_id);
    }
    response
}

/// Logs what became of a record and says whether SQS must deliver it again.
fn report(result: Result<Handled, MessageError>) -> bool {
    settle(&result) == Delivery::Retry
}

/// A function's own verdict, already classified (by `RecordError`'s conversion from the
/// domain error, which asks the runtime too).
impl From<RecordError> for MessageError {
    fn from(e: RecordError) -> Self {
        match e {
            RecordError::Retryable(m) => MessageError::Transient(m),
            RecordError::NonRetryable(m) => MessageError::Unhandleable(m),
        }
    }
}

/// Parses a record body as `T`; a body that does not parse can never be handled.
pub fn parse_body<T: serde::de::DeserializeOwned>(body: &str, what: &str) -> Result<T, RecordError> {
    // serde's message names the position and the expected field, never the body's content.
    serde_json::from_str(body).map_err(|e| RecordError::NonRetryable(format!("not a valid {what} message: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(bodies: &[Option<&str>]) -> SqsEvent {
        let records: Vec<_> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| json!({"messageId": format!("m{i}"), "body": b, "attributes": {}, "messageAttributes": {}}))
            .collect();
        serde_json::from_value(json!({ "Records": records })).expect("an SQS event")
    }

    #[tokio::test]
    async fn reports_in_progress_and_retryable_records_only() {
        let bodies = [Some("done"), Some("busy"), Some("flaky"), Some("garbage"), None];
        let response = consume_batch(event(&bodies), |body| async move {
            match body.as_str() {
                "done" => Ok(Handled::Done),
                "busy" => Ok(Handled::InProgress),
                "flaky" => Err(RecordError::Retryable("storage unavailable".into())),
                _ => parse_body::<aos_runtime::messages::Advance>(&body, "Advance").map(|_| Handled::Done),
            }
        })
        .await;
        let ids: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        assert_eq!(ids, ["m1", "m2"]);
    }

    /// The runtime's own errors through the same boundary: unavailable storage is retried, a
    /// corrupt record and a malformed or newer-format message are handled as `aos serve` does.
    #[tokio::test]
    async fn the_runtime_decides_what_is_reported() {
        use aos_core::ports::StoreError;
        use aos_core::DomainError;
        let bodies = [Some("unavailable"), Some("corrupt"), Some("garbage"), Some(r#"{"v": 99, "tenant": "t", "run_id": "r"}"#)];
        let response = consume_batch(event(&bodies), |body| async move {
            match body.as_str() {
                "unavailable" => Err(MessageError::Failed(DomainError::from(StoreError::Backend("throttled".into())))),
                "corrupt" => Err(MessageError::Failed(DomainError::from(StoreError::Corrupt("run record".into())))),
                other => aos_runtime::delivery::parse_message::<aos_runtime::messages::Advance>(other).map(|_| Handled::Done),
            }
        })
        .await;
        let ids: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        assert_eq!(ids, ["m0", "m3"]);
    }

    #[test]
    fn parse_errors_do_not_echo_the_body() {
        let err = parse_body::<aos_runtime::messages::Advance>("{\"tenant\": \"s3cr3t\"}", "Advance").expect_err("incomplete");
        assert!(matches!(&err, RecordError::NonRetryable(m) if m.contains("run_id") && !m.contains("s3cr3t")), "{err}");
    }
}
