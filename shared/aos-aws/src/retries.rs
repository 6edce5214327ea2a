//! The SDK's retries, counted: every SDK client the adapters build carries [`RetryCounter`], an
//! interceptor that increments `aws_sdk_retries_total{service,operation}` before each attempt after
//! an operation's first (a throttled DynamoDB call, an SQS throttling error, a dropped connection).
//! Retries the SDK absorbs are otherwise invisible: the runtime only sees the calls that still fail.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_types::SdkConfig;

/// Attempts the SDK made after an operation's first, by service and operation.
pub const SDK_RETRIES: &str = "aws_sdk_retries_total";

/// Registers the help text of the adapters' metrics (call once, after installing a recorder).
pub fn describe_metrics() {
    metrics::describe_counter!(
        SDK_RETRIES,
        "Attempts the AWS SDK made after an operation's first (throttling, transient errors, dropped connections), by service and operation."
    );
}

#[derive(Debug)]
pub(crate) struct RetryCounter;

impl Intercept for RetryCounter {
    fn name(&self) -> &'static str {
        "AosRetryCounter"
    }

    fn read_before_attempt(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg.load::<RequestAttempts>().is_some_and(|a| a.attempts() > 1) {
            let (service, operation) = cfg.load::<Metadata>().map_or(("unknown", "unknown"), |m| (m.service(), m.name()));
            metrics::counter!(SDK_RETRIES, "service" => service.to_string(), "operation" => operation.to_string()).increment(1);
        }
        Ok(())
    }
}

/// A DynamoDB client over `config` that counts its retries.
pub(crate) fn dynamodb_client(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(aws_sdk_dynamodb::config::Builder::from(config).interceptor(RetryCounter).build())
}

/// An SQS client over `config` that counts its retries.
pub(crate) fn sqs_client(config: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::from_conf(aws_sdk_sqs::config::Builder::from(config).interceptor(RetryCounter).build())
}

/// A Secrets Manager client over `config` that counts its retries.
pub(crate) fn secrets_client(config: &SdkConfig) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::from_conf(aws_sdk_secretsmanager::config::Builder::from(config).interceptor(RetryCounter).build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A server that throttles the first two requests (the SQS JSON protocol's error) and answers
    /// the third.
    async fn throttling_server() -> (String, Arc<AtomicUsize>) {
        const THROTTLED: &str = "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.0\r\n\
            x-amzn-query-error: RequestThrottled;Sender\r\ncontent-length: 64\r\n\r\n\
            {\"__type\":\"com.amazonaws.sqs#RequestThrottled\",\"message\":\"slow\"}";
        const OK: &str = "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: 16\r\n\r\n{\"QueueUrls\":[]}";
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = socket.read(&mut buf).await {
                        if n == 0 {
                            return;
                        }
                        let reply = if counter.fetch_add(1, Ordering::SeqCst) < 2 { THROTTLED } else { OK };
                        if socket.write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (url, seen)
    }

    /// A recorder that keeps counters only.
    struct Counting(metrics_util::registry::Registry<metrics::Key, metrics_util::registry::AtomicStorage>);

    impl metrics::Recorder for Counting {
        fn describe_counter(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
        fn describe_gauge(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
        fn describe_histogram(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
        fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
            self.0.get_or_create_counter(key, |c| metrics::Counter::from_arc(c.clone()))
        }
        fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
            metrics::Gauge::noop()
        }
        fn register_histogram(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Histogram {
            metrics::Histogram::noop()
        }
    }

    #[tokio::test]
    async fn each_retry_is_counted_under_its_service_and_operation() {
        let (url, seen) = throttling_server().await;
        let vars =
            [("AWS_REGION", "us-east-1"), ("AWS_ACCESS_KEY_ID", "k"), ("AWS_SECRET_ACCESS_KEY", "s"), ("AWS_ENDPOINT_URL", url.as_str())];
        let config = crate::sdk_config_from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())).expect("config");
        let config = config
            .into_builder()
            .retry_config(aws_smithy_types::retry::RetryConfig::standard().with_initial_backoff(std::time::Duration::from_millis(1)))
            .build();
        let recorder = Counting(metrics_util::registry::Registry::atomic());
        let client = sqs_client(&config);
        let _guard = metrics::set_default_local_recorder(&recorder);
        client.list_queues().send().await.expect("the third attempt succeeds");
        assert_eq!(seen.load(Ordering::SeqCst), 3, "two throttled attempts, then the answer");
        let mut counted = Vec::new();
        recorder.0.visit_counters(|key, value| {
            let labels: Vec<_> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
            counted.push((key.name().to_string(), labels, value.load(Ordering::SeqCst)));
        });
        assert_eq!(counted, [(SDK_RETRIES.to_string(), vec!["service=SQS".to_string(), "operation=ListQueues".to_string()], 2)]);
    }
}
