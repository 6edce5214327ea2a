//! What becomes of a queue message, decided once for both deployments: `aos serve`'s consumers
//! (`crate::consumers`) and the Lambda SQS boundary (`aos-lambda`'s `sqs`) hand the handler's
//! result to [`decide`] and do what it says — delete the message ([`Delivery::Done`]), leave it
//! for redelivery ([`Delivery::Retry`], dead-lettered after too many receives), or delete it and
//! log at error level ([`Delivery::Drop`]: no delivery could ever succeed). A malformed message
//! and a message about a corrupt run record are dropped in both deployments alike.

use crate::messages::{Advance, StepTask, Versioned};
use crate::worker::Handled;
use crate::Runtime;
use aos_core::DomainError;
use serde::de::DeserializeOwned;

/// What a consumer does with a message once its handler returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Handled (now or earlier): delete it.
    Done,
    /// Not handled yet, and a later delivery can succeed: leave it to be delivered again.
    Retry,
    /// No delivery can ever succeed: delete it; the error log line (`non_retryable = true`) is
    /// the record to alarm on.
    Drop,
}

/// Why a message was not handled.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// The body is not a message of the kind the queue carries, or the consumer cannot handle it
    /// (a step task of another skill): every delivery fails the same way.
    #[error("{0}")]
    Unhandleable(String),
    /// The body's format version is newer than this release reads: a process of the newer
    /// release (a rolling deployment) may take it.
    #[error("{kind} format version {version} is newer than this release reads ({known})")]
    TooNew { kind: &'static str, version: u32, known: u32 },
    /// Handling failed for now (storage unavailable, a concurrent change), as said by a boundary
    /// that classified the failure itself.
    #[error("{0}")]
    Transient(String),
    /// The handler failed: retried when the error is transient, dropped otherwise (a corrupt
    /// record, a state no delivery changes).
    #[error(transparent)]
    Failed(#[from] DomainError),
}

/// The one decision: what to do with a message given what handling it gave.
pub fn decide(result: &Result<Handled, MessageError>) -> Delivery {
    match result {
        Ok(Handled::Done) => Delivery::Done,
        Ok(Handled::InProgress) => Delivery::Retry,
        Err(MessageError::Unhandleable(_)) => Delivery::Drop,
        Err(MessageError::TooNew { .. } | MessageError::Transient(_)) => Delivery::Retry,
        Err(MessageError::Failed(e)) if e.is_transient() => Delivery::Retry,
        Err(MessageError::Failed(_)) => Delivery::Drop,
    }
}

/// [`decide`], logging what became of the message the way both deployments log it (within the
/// caller's span, which names the queue or the SQS message).
pub fn settle(result: &Result<Handled, MessageError>) -> Delivery {
    let delivery = decide(result);
    match (result, delivery) {
        (Ok(Handled::InProgress), _) => tracing::info!("another worker holds this attempt; the message will be delivered again"),
        (Err(e), Delivery::Retry) => tracing::warn!(error = %e, "message not handled; it will be delivered again"),
        (Err(e), Delivery::Drop) => tracing::error!(error = %e, non_retryable = true, "message dropped: it can never be handled"),
        _ => {}
    }
    delivery
}

/// Parses a message body of kind `T`, checking its format version first. The error names the
/// position and the expected field (serde's message), never the body's content.
pub fn parse_message<T: DeserializeOwned + Versioned>(body: &str) -> Result<T, MessageError> {
    let malformed = |e: serde_json::Error| MessageError::Unhandleable(format!("not a valid {} message: {e}", T::KIND));
    let value: serde_json::Value = serde_json::from_str(body).map_err(malformed)?;
    match value.get("v") {
        None => {}
        Some(v) => match v.as_u64().and_then(|v| u32::try_from(v).ok()) {
            Some(version) if version > T::VERSION => return Err(MessageError::TooNew { kind: T::KIND, version, known: T::VERSION }),
            Some(_) => {}
            None => return Err(MessageError::Unhandleable(format!("not a valid {} message: its format version is not a number", T::KIND))),
        },
    }
    serde_json::from_value(value).map_err(malformed)
}

/// The queue message handlers and the sweep, for `aos serve`'s consumers and scheduler and the
/// Lambda functions alike.
impl Runtime {
    /// Handles one orchestrator-queue message (`Advance`).
    pub async fn handle_advance(&self, body: &str) -> Result<Handled, MessageError> {
        let msg: Advance = parse_message(body)?;
        let span = tracing::Span::current();
        span.record("tenant", msg.tenant.as_str()).record("run_id", msg.run_id.as_str());
        self.advance(&msg.tenant, &msg.run_id).await?;
        Ok(Handled::Done)
    }

    /// Handles one message of `skill`'s queue (`StepTask`). A task of another skill is a routing
    /// mistake: this consumer's permissions and limits are not that skill's.
    pub async fn handle_step_task(&self, body: &str, skill: &str) -> Result<Handled, MessageError> {
        let task: StepTask = parse_message(body)?;
        let span = tracing::Span::current();
        span.record("tenant", task.tenant.as_str()).record("run_id", task.run_id.as_str());
        span.record("step_id", task.step_id.as_str()).record("attempt", task.attempt);
        if task.skill != skill {
            return Err(MessageError::Unhandleable(format!("a `{}` step task reached the `{skill}` queue's consumer", task.skill)));
        }
        Ok(self.execute_step(&task).await?)
    }

    /// Advances one run (what an `Advance` asks for).
    pub async fn advance(&self, tenant: &str, run_id: &str) -> Result<(), DomainError> {
        self.orchestrator().advance(tenant, run_id, false).await
    }

    /// Executes one step attempt (what a `StepTask` asks for).
    pub async fn execute_step(&self, task: &StepTask) -> Result<Handled, DomainError> {
        self.worker().execute(task).await
    }

    /// Re-advances every unfinished run (the periodic sweep); returns how many there were.
    pub async fn sweep(&self) -> Result<usize, DomainError> {
        self.orchestrator().sweep(false).await
    }

    /// The sweep at start: also re-dispatches every attempt in flight that has no outcome, as
    /// messages may have been lost with the previous process.
    pub async fn resume_unfinished(&self) -> Result<usize, DomainError> {
        self.orchestrator().sweep(true).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aos_core::ports::StoreError;

    #[test]
    fn the_decision() {
        let failed = |e: DomainError| decide(&Err(MessageError::Failed(e)));
        assert_eq!(decide(&Ok(Handled::Done)), Delivery::Done);
        assert_eq!(decide(&Ok(Handled::InProgress)), Delivery::Retry);
        assert_eq!(failed(StoreError::Backend("unavailable".into()).into()), Delivery::Retry);
        assert_eq!(failed(DomainError::Conflict("changed".into())), Delivery::Retry);
        assert_eq!(failed(StoreError::Corrupt("run record".into()).into()), Delivery::Drop);
        assert_eq!(failed(DomainError::NotFound("x".into())), Delivery::Drop);
        assert_eq!(decide(&Err(MessageError::Unhandleable("wrong queue".into()))), Delivery::Drop);
        assert_eq!(decide(&Err(MessageError::TooNew { kind: "Advance", version: 9, known: 1 })), Delivery::Retry);
        assert_eq!(decide(&Err(MessageError::Transient("throttled".into()))), Delivery::Retry);
    }

    #[test]
    fn messages_are_parsed_with_their_version_checked() {
        let a: Advance = parse_message(r#"{"tenant": "t", "run_id": "r"}"#).expect("version 1 without `v`");
        assert_eq!(a, Advance::new("t", "r"));
        assert_eq!(serde_json::to_value(&a).unwrap(), serde_json::json!({"v": 1, "tenant": "t", "run_id": "r"}));
        assert_eq!(parse_message::<Advance>(&serde_json::to_string(&a).unwrap()).unwrap(), a, "round trip");
        assert!(matches!(
            parse_message::<Advance>(r#"{"v": 2, "tenant": "t", "run_id": "r"}"#),
            Err(MessageError::TooNew { version: 2, known: 1, .. })
        ));
        for bad in ["not json", r#"{"tenant": "s3cr3t"}"#, r#"{"v": "one", "tenant": "t", "run_id": "r"}"#, "[]"] {
            let e = parse_message::<Advance>(bad).expect_err(bad);
            assert!(
                matches!(&e, MessageError::Unhandleable(m) if m.starts_with("not a valid Advance message") && !m.contains("s3cr3t")),
                "{e}"
            );
            assert_eq!(decide(&Err(e)), Delivery::Drop);
        }
        let newer = format!(r#"{{"v": {}, "tenant": "t"}}"#, crate::messages::STEP_TASK_VERSION + 1);
        assert!(matches!(parse_message::<StepTask>(&newer), Err(MessageError::TooNew { kind: "StepTask", .. })));
    }
}
