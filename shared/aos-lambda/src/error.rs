//! What a failed queue record means at the Lambda boundary. Retryable failures go back to SQS and
//! are delivered again; non-retryable ones could never succeed, so they are logged and dropped.

use aos_core::DomainError;

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Storage or a queue was unavailable, or the run changed under us: a later delivery can succeed.
    #[error("retryable: {0}")]
    Retryable(String),
    /// The message itself is wrong (not JSON of the expected shape, or sent to the wrong function):
    /// every delivery would fail the same way.
    #[error("non-retryable: {0}")]
    NonRetryable(String),
}

impl From<DomainError> for RecordError {
    fn from(e: DomainError) -> Self {
        // The runtime decides, as it does for `aos serve`'s consumers (`aos_runtime::delivery`).
        use aos_runtime::delivery::{decide, Delivery, MessageError};
        let message = e.to_string();
        match decide(&Err(MessageError::Failed(e))) {
            Delivery::Retry => RecordError::Retryable(message),
            Delivery::Done | Delivery::Drop => RecordError::NonRetryable(message),
        }
    }
}
