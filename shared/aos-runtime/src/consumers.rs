//! Queue consumers for the single-process deployment: poll the orchestrator queue and each skill
//! queue, run handlers with bounded concurrency, and do with each message what
//! [`crate::delivery::decide`] says: delete it when handled or never handleable, leave it for
//! redelivery otherwise. (In AWS, SQS event source mappings do the polling and call the same
//! handlers, and the Lambda boundary follows the same decision.) The sweeper is one of `aos
//! serve`'s scheduled jobs (`crate::schedule`).

use crate::delivery::{settle, Delivery, MessageError};
use crate::messages::{skill_queue, ORCHESTRATOR_QUEUE};
use crate::worker::Handled;
use crate::Runtime;
use aos_core::ports::ReceivedMessage;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};

#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub concurrency: usize,
    pub batch: usize,
    pub visibility: Duration,
    pub wait: Duration,
    /// How long a clean shutdown waits for handlers in progress.
    pub drain_timeout: Duration,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            concurrency: 64,
            batch: 10,
            visibility: Duration::from_secs(60),
            wait: Duration::from_secs(1),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// Starts a consumer for the orchestrator queue and one per skill queue; they stop when
/// `shutdown` turns true.
pub fn spawn_all(rt: Arc<Runtime>, cfg: ConsumerConfig, shutdown: watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<()>> {
    let mut handles = Vec::new();
    handles.push(tokio::spawn(consume(rt.clone(), ORCHESTRATOR_QUEUE.to_string(), cfg.clone(), shutdown.clone(), {
        let rt = rt.clone();
        move |msg: ReceivedMessage| {
            let rt = rt.clone();
            async move { rt.handle_advance(&msg.body).await }
        }
    })));
    for spec in rt.ports().skills.specs() {
        let (rt2, skill) = (rt.clone(), spec.id.clone());
        handles.push(tokio::spawn(consume(
            rt.clone(),
            skill_queue(&spec.id),
            cfg.clone(),
            shutdown.clone(),
            move |msg: ReceivedMessage| {
                let (rt, skill) = (rt2.clone(), skill.clone());
                async move { rt.handle_step_task(&msg.body, &skill).await }
            },
        )));
    }
    handles
}

/// Polls `queue` and runs `handler` per message, then settles the message as
/// [`crate::delivery::decide`] says (a message left for redelivery dead-letters after max receives).
async fn consume<F, Fut>(rt: Arc<Runtime>, queue: String, cfg: ConsumerConfig, mut shutdown: watch::Receiver<bool>, handler: F)
where
    F: Fn(ReceivedMessage) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Handled, MessageError>> + Send + 'static,
{
    let limit = Arc::new(Semaphore::new(cfg.concurrency));
    let handler = Arc::new(handler);
    loop {
        if *shutdown.borrow() {
            return;
        }
        let permits = match limit.clone().acquire_many_owned(1).await {
            Ok(p) => p,
            Err(_) => return,
        };
        drop(permits);
        let received = tokio::select! {
            r = rt.ports().queue.receive(&queue, cfg.batch, cfg.visibility, cfg.wait) => r,
            _ = shutdown.changed() => {
                // Let handlers in progress finish (bounded), so a clean stop interrupts no attempt.
                let all = u32::try_from(cfg.concurrency).unwrap_or(u32::MAX);
                let _ = tokio::time::timeout(cfg.drain_timeout, limit.acquire_many(all)).await;
                return;
            }
        };
        let messages = match received {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(queue, error = %e, "receive failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        for msg in messages {
            let Ok(permit) = limit.clone().acquire_owned().await else { return };
            let (rt, queue, handler) = (rt.clone(), queue.clone(), handler.clone());
            let visibility = cfg.visibility;
            let span = tracing::info_span!("message", queue = %queue, message_id = %msg.id, receive_count = msg.receive_count, tenant = tracing::field::Empty, run_id = tracing::field::Empty, step_id = tracing::field::Empty, attempt = tracing::field::Empty);
            tokio::spawn(tracing::Instrument::instrument(
                async move {
                    let receipt = msg.receipt.clone();
                    // Keep the message hidden while the handler runs, however long its step takes, so
                    // a slow attempt is not delivered a second time.
                    let work = handler(msg);
                    tokio::pin!(work);
                    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + visibility / 2, visibility / 2);
                    let result = loop {
                        tokio::select! {
                            r = &mut work => break r,
                            _ = beat.tick() => {
                                if let Err(e) = rt.ports().queue.change_visibility(&queue, &receipt, visibility).await {
                                    tracing::warn!(queue, error = %e, "could not extend a message's visibility");
                                }
                            }
                        }
                    };
                    match settle(&result) {
                        Delivery::Done | Delivery::Drop => {
                            if let Err(e) = rt.ports().queue.delete(&queue, &receipt).await {
                                tracing::warn!(queue, error = %e, "delete failed; the message will be redelivered");
                            }
                        }
                        Delivery::Retry => {}
                    }
                    drop(permit);
                },
                span,
            ));
        }
    }
}
