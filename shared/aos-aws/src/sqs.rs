//! `SqsQueue`: the `Queue` port over SQS standard queues, addressed by logical name (e.g.
//! `orchestrator`, `skill.http_call`) through a name → URL map. Durations become whole seconds
//! within SQS's limits, and dead-lettering is the queues' own RedrivePolicy (`sqs_admin.rs`).

use crate::lazy_client::LazyClient;
use crate::SdkConfig;
use aos_core::ports::{OutgoingMessage, Queue, QueueError, ReceivedMessage};
use async_trait::async_trait;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry};
use aws_sdk_sqs::Client;
use std::collections::HashMap;
use std::time::Duration;

/// SQS limits: DelaySeconds ≤ 900, WaitTimeSeconds ≤ 20, VisibilityTimeout ≤ 12 h, 10 messages
/// per batch, and 256 KiB per batch request (kept as the batch budget even where queues accept
/// larger messages, so batching never turns a valid send into a rejected one).
const MAX_DELAY_SECS: u64 = 900;
const MAX_WAIT_SECS: u64 = 20;
const MAX_VISIBILITY_SECS: u64 = 43_200;
const MAX_BATCH: usize = 10;
const MAX_BATCH_BYTES: usize = 256 * 1024;
const SEND_RETRIES: usize = 3;

/// Standard queues, not FIFO: every consumer in AOS is idempotent (attempt claims and
/// version-conditioned writes in the store decide what happens; a duplicate or reordered message
/// only causes a no-op re-read), so FIFO's exactly-once-in-order delivery would buy nothing while
/// costing throughput limits per message group, deduplication ids and a higher price.
#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: LazyClient<Client>,
    urls: HashMap<String, String>,
}

/// Whole seconds, rounded up: a delay or visibility is never shorter than asked.
fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

fn to_i32(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn backend<E: std::error::Error + 'static, R: std::fmt::Debug>(e: SdkError<E, R>) -> QueueError {
    QueueError::Backend(DisplayErrorContext(&e).to_string())
}

impl SqsQueue {
    pub fn new(client: Client, urls: HashMap<String, String>) -> Self {
        Self { client: LazyClient::ready(client), urls }
    }

    /// The queue whose SQS client is built from `config` when it first sends.
    pub fn from_config(config: &SdkConfig, urls: HashMap<String, String>) -> Self {
        Self { client: LazyClient::from_config(config, crate::retries::sqs_client), urls }
    }

    fn url(&self, queue: &str) -> Result<&str, QueueError> {
        self.urls.get(queue).map(String::as_str).ok_or_else(|| QueueError::UnknownQueue(queue.to_string()))
    }

    /// A deleted queue reads as unknown; everything else is a backend error.
    fn err<E, R>(&self, queue: &str, e: SdkError<E, R>) -> QueueError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        match e.code() {
            Some("AWS.SimpleQueueService.NonExistentQueue" | "QueueDoesNotExist") => QueueError::UnknownQueue(queue.to_string()),
            _ => backend(e),
        }
    }

    /// A receipt SQS does not accept (malformed, expired, or of a message no longer in flight).
    fn receipt_err<E, R>(&self, queue: &str, e: SdkError<E, R>) -> QueueError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let code = e.code().unwrap_or_default();
        let receipt_param = code == "InvalidParameterValue" && e.message().is_some_and(|m| m.contains("ReceiptHandle"));
        if receipt_param || code == "ReceiptHandleIsInvalid" || code.ends_with("MessageNotInflight") || code == "InvalidIdFormat" {
            QueueError::BadReceipt
        } else {
            self.err(queue, e)
        }
    }

    async fn send_batch(&self, queue: &str, url: &str, batch: &[&OutgoingMessage]) -> Result<(), QueueError> {
        let mut pending: Vec<usize> = (0..batch.len()).collect();
        for _ in 0..SEND_RETRIES {
            let entries = pending
                .iter()
                .map(|&i| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(&batch[i].body)
                        .delay_seconds(to_i32(ceil_secs(batch[i].delay).min(MAX_DELAY_SECS)))
                        .build()
                        .map_err(|e| QueueError::Backend(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .get()
                .send_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| self.err(queue, e))?;
            // A batch can partly fail; entries failed by the service (not by their content) are retried.
            if let Some(bad) = out.failed.iter().find(|f| f.sender_fault) {
                return Err(QueueError::Backend(format!("message rejected: {} ({})", bad.code, bad.message.as_deref().unwrap_or(""))));
            }
            pending = out.failed.iter().filter_map(|f| f.id.parse().ok()).collect();
            if pending.is_empty() {
                return Ok(());
            }
        }
        Err(QueueError::Backend(format!("{} message(s) could not be sent to {queue}", pending.len())))
    }
}

/// Groups messages into batches of at most 10 entries and `MAX_BATCH_BYTES` of bodies.
fn batches(messages: &[OutgoingMessage]) -> Vec<Vec<&OutgoingMessage>> {
    let mut out: Vec<Vec<&OutgoingMessage>> = Vec::new();
    let mut bytes = 0;
    for m in messages {
        let fits = out.last().is_some_and(|b| b.len() < MAX_BATCH && bytes + m.body.len() <= MAX_BATCH_BYTES);
        if !fits {
            out.push(Vec::new());
            bytes = 0;
        }
        bytes += m.body.len();
        if let Some(batch) = out.last_mut() {
            batch.push(m);
        }
    }
    out
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, queue: &str, messages: Vec<OutgoingMessage>) -> Result<(), QueueError> {
        let url = self.url(queue)?;
        for batch in batches(&messages) {
            self.send_batch(queue, url, &batch).await?;
        }
        Ok(())
    }

    async fn receive(&self, queue: &str, max: usize, visibility: Duration, wait: Duration) -> Result<Vec<ReceivedMessage>, QueueError> {
        let url = self.url(queue)?;
        if max == 0 {
            return Ok(Vec::new());
        }
        let out = self
            .client
            .get()
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(to_i32(max.min(MAX_BATCH) as u64))
            // "Up to `wait`": rounded down, so a sub-second wait is a short poll.
            .wait_time_seconds(to_i32(wait.as_secs().min(MAX_WAIT_SECS)))
            .visibility_timeout(to_i32(ceil_secs(visibility).min(MAX_VISIBILITY_SECS)))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| self.err(queue, e))?;
        out.messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let receive_count = m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                match (m.message_id, m.receipt_handle) {
                    (Some(id), Some(receipt)) => Ok(ReceivedMessage { id, receipt, body: m.body.unwrap_or_default(), receive_count }),
                    _ => Err(QueueError::Backend("SQS returned a message without id or receipt handle".into())),
                }
            })
            .collect()
    }

    async fn delete(&self, queue: &str, receipt: &str) -> Result<(), QueueError> {
        let url = self.url(queue)?;
        self.client
            .get()
            .delete_message()
            .queue_url(url)
            .receipt_handle(receipt)
            .send()
            .await
            .map(drop)
            .map_err(|e| self.receipt_err(queue, e))
    }

    async fn change_visibility(&self, queue: &str, receipt: &str, visibility: Duration) -> Result<(), QueueError> {
        let url = self.url(queue)?;
        self.client
            .get()
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(receipt)
            .visibility_timeout(to_i32(ceil_secs(visibility).min(MAX_VISIBILITY_SECS)))
            .send()
            .await
            .map(drop)
            .map_err(|e| self.receipt_err(queue, e))
    }

    async fn depth(&self, queue: &str) -> Result<usize, QueueError> {
        let url = self.url(queue)?;
        let names = [
            QueueAttributeName::ApproximateNumberOfMessages,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
            QueueAttributeName::ApproximateNumberOfMessagesDelayed,
        ];
        let out = self
            .client
            .get()
            .get_queue_attributes()
            .queue_url(url)
            .set_attribute_names(Some(names.to_vec()))
            .send()
            .await
            .map_err(|e| self.err(queue, e))?;
        let attrs = out.attributes.unwrap_or_default();
        Ok(names.iter().filter_map(|n| attrs.get(n)).filter_map(|v| v.parse::<usize>().ok()).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_up_to_whole_seconds() {
        assert_eq!(ceil_secs(Duration::ZERO), 0);
        assert_eq!(ceil_secs(Duration::from_millis(1)), 1);
        assert_eq!(ceil_secs(Duration::from_millis(1000)), 1);
        assert_eq!(ceil_secs(Duration::from_millis(1001)), 2);
        assert_eq!(ceil_secs(Duration::from_secs(900 * 60)).min(MAX_DELAY_SECS), 900);
    }

    #[test]
    fn batches_respect_count_and_size() {
        let small: Vec<OutgoingMessage> = (0..23).map(|i| OutgoingMessage::new(format!("m{i}"))).collect();
        assert_eq!(batches(&small).iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 3]);
        let big: Vec<OutgoingMessage> = (0..3).map(|_| OutgoingMessage::new("x".repeat(100 * 1024))).collect();
        assert_eq!(batches(&big).iter().map(Vec::len).collect::<Vec<_>>(), [2, 1]);
        assert!(batches(&[]).is_empty());
    }
}
