//! The HTTPS client under every SDK client: `reqwest`, HTTP/1.1 only, over rustls on `ring` with
//! Mozilla's root certificates compiled in.
//!
//! Why not the SDK's own client (`aws-smithy-http-client`): it always links HTTP/2 (`h2`, 0.4 MB
//! of every function, plus its share of the unwinding tables) though DynamoDB, SQS and Secrets
//! Manager speak HTTP/1.1, and it loads the platform's certificate store when its first
//! connector is made (4 to 5 ms of a cold start). `reqwest` is already in the functions that
//! verify OIDC tokens and in `http_call`, so they now carry one HTTP stack instead of two; the
//! compiled-in roots cost no file reads. See docs/performance.md, "Lambda functions".
//!
//! The SDK asks for a connector on every attempt; clients are made on first use, one per
//! distinct (connect, read) timeout pair, and share their connection pools from then on.
//! Transport failures are classified the way the SDK's retry strategy expects: timeouts as
//! timeouts, failures to connect or to finish an exchange as I/O errors (both retried), a
//! request that cannot be sent as the caller's error.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The SDK HTTP client every adapter's SDK client is configured with.
pub fn https_client() -> SharedHttpClient {
    SharedHttpClient::new(ReqwestHttpClient::default())
}

/// (connect timeout, read timeout) as the SDK's operation configuration sets them.
type Timeouts = (Option<Duration>, Option<Duration>);

#[derive(Debug, Default, Clone)]
struct ReqwestHttpClient {
    clients: Arc<Mutex<Vec<(Timeouts, reqwest::Client)>>>,
}

impl ReqwestHttpClient {
    fn client(&self, timeouts: Timeouts) -> Result<reqwest::Client, ConnectorError> {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, client)) = clients.iter().find(|(t, _)| *t == timeouts) {
            return Ok(client.clone());
        }
        // Redirects go back to the SDK as responses (as with its own client), never followed here.
        let mut builder = reqwest::Client::builder()
            .http1_only()
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60));
        if let Some(t) = timeouts.0 {
            builder = builder.connect_timeout(t);
        }
        if let Some(t) = timeouts.1 {
            builder = builder.read_timeout(t);
        }
        let client = builder.build().map_err(|e| ConnectorError::other(e.into(), None))?;
        clients.push((timeouts, client.clone()));
        Ok(client)
    }
}

impl HttpClient for ReqwestHttpClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(Connector { clients: self.clone(), timeouts: (settings.connect_timeout(), settings.read_timeout()) })
    }
}

#[derive(Debug)]
struct Connector {
    clients: ReqwestHttpClient,
    timeouts: Timeouts,
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.clients.client(self.timeouts);
        HttpConnectorFuture::new(async move { send(client?, request).await })
    }
}

async fn send(client: reqwest::Client, request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
    let request = request.try_into_http1x().map_err(|e| ConnectorError::user(e.into()))?;
    let (parts, body) = request.into_parts();
    // Streamed from the SDK's body rather than copied out of it: the SDK's stalled-stream
    // protection watches the body being read, and would otherwise call a long poll that outlasts
    // its grace period a stalled upload.
    let body = reqwest::Body::wrap(body);
    let url = reqwest::Url::parse(&parts.uri.to_string()).map_err(|e| ConnectorError::user(e.into()))?;
    let mut req = reqwest::Request::new(parts.method, url);
    *req.headers_mut() = parts.headers;
    *req.body_mut() = Some(body);
    let response = client.execute(req).await.map_err(connector_error)?;
    let response = http::Response::<reqwest::Body>::from(response).map(SdkBody::from_body_1_x);
    HttpResponse::try_from(response).map_err(|e| ConnectorError::other(e.into(), None))
}

fn connector_error(e: reqwest::Error) -> ConnectorError {
    if e.is_timeout() {
        ConnectorError::timeout(e.into())
    } else if e.is_connect() {
        ConnectorError::io(e.into()).never_connected()
    } else if e.is_builder() {
        ConnectorError::user(e.into())
    } else {
        // The exchange failed part-way (connection reset or closed, a malformed response).
        ConnectorError::io(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn sqs_client(endpoint: &str, max_attempts: &str, extra: &[(&str, &str)]) -> aws_sdk_sqs::Client {
        let mut vars = vec![
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "k"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("AWS_MAX_ATTEMPTS", max_attempts),
        ];
        vars.push(("AWS_ENDPOINT_URL", endpoint));
        vars.extend_from_slice(extra);
        let config = crate::sdk_config_from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())).expect("config");
        aws_sdk_sqs::Client::new(&config)
    }

    enum Reply {
        Answer(&'static str),
        /// Close the connection without answering.
        HangUp,
        /// Keep the connection open without answering.
        Stall,
    }

    /// A server that reads each request and acts on `reply(connection number)`, counting
    /// connections.
    async fn server(reply: fn(usize) -> Reply) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let attempts = Arc::new(AtomicUsize::new(0));
        let counter = attempts.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    let _ = socket.read(&mut buf).await;
                    match reply(n) {
                        Reply::Answer(response) => {
                            let _ = socket.write_all(response.as_bytes()).await;
                        }
                        Reply::HangUp => drop(socket),
                        Reply::Stall => tokio::time::sleep(Duration::from_secs(30)).await,
                    }
                });
            }
        });
        (url, attempts)
    }

    const OK: &str = "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: 16\r\n\r\n{\"QueueUrls\":[]}";

    #[tokio::test]
    async fn a_connection_dropped_mid_exchange_is_retried_as_an_io_error() {
        let (url, attempts) = server(|n| if n >= 2 { Reply::Answer(OK) } else { Reply::HangUp }).await;
        let out = sqs_client(&url, "3", &[]).list_queues().send().await.expect("third attempt succeeds");
        assert_eq!(out.queue_urls(), &[] as &[String]);
        assert_eq!(attempts.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn refused_connections_are_retried_then_reported() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        drop(listener); // nothing listens there now
        let err = sqs_client(&url, "2", &[]).list_queues().send().await.expect_err("refused");
        let err = aws_smithy_runtime_api::client::result::SdkError::into_source(err).expect("source");
        let connector = err.downcast_ref::<ConnectorError>().expect("a connector error");
        assert!(connector.is_io(), "{connector:?}");
    }

    #[tokio::test]
    async fn a_server_that_never_answers_is_a_timeout() {
        let (url, _) = server(|_| Reply::Stall).await;
        let client = sqs_client(&url, "1", &[]);
        let config = aws_sdk_sqs::config::timeout::TimeoutConfig::builder().read_timeout(Duration::from_millis(200)).build();
        let err =
            client.list_queues().customize().config_override(aws_sdk_sqs::config::Config::builder().timeout_config(config)).send().await;
        let err = aws_smithy_runtime_api::client::result::SdkError::into_source(err.expect_err("times out")).expect("source");
        let connector = err.downcast_ref::<ConnectorError>().expect("a connector error");
        assert!(connector.is_timeout(), "{connector:?}");
    }

    #[tokio::test]
    async fn redirects_are_handed_to_the_sdk_not_followed() {
        const MOVED: &str = "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://127.0.0.1:9/elsewhere\r\ncontent-length: 0\r\n\r\n";
        let (url, attempts) = server(|_| Reply::Answer(MOVED)).await;
        let http = ReqwestHttpClient::default();
        let components =
            aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder::for_tests().build().expect("components");
        let request = HttpRequest::get(url.as_str()).expect("request");
        let response = http.http_connector(&HttpConnectorSettings::builder().build(), &components).call(request).await.expect("answered");
        assert_eq!(response.status().as_u16(), 307);
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn one_client_per_timeout_pair_shared_by_every_attempt() {
        let (url, _) = server(|_| Reply::Answer(OK)).await;
        let http = ReqwestHttpClient::default();
        let components =
            aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder::for_tests().build().expect("components");
        let settings = HttpConnectorSettings::builder().read_timeout(Duration::from_secs(5)).build();
        for _ in 0..3 {
            let request = HttpRequest::get(url.as_str()).expect("request");
            let response = http.http_connector(&settings, &components).call(request).await.expect("answered");
            assert_eq!(response.status().as_u16(), 200);
        }
        assert_eq!(http.clients.lock().expect("lock").len(), 1);
        let other = HttpConnectorSettings::builder().read_timeout(Duration::from_secs(1)).build();
        let request = HttpRequest::get(url.as_str()).expect("request");
        http.http_connector(&other, &components).call(request).await.expect("answered");
        assert_eq!(http.clients.lock().expect("lock").len(), 2);
    }
}
