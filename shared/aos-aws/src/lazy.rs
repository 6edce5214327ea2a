//! An SDK HTTP client whose connectors are made when the first request is sent, not when an SDK
//! client is built. Making the rustls connector loads and parses the platform's root certificates
//! (a few milliseconds, most of a function's init otherwise); a Lambda builds its clients during
//! init, before it knows whether its first invocation calls AWS at all.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use std::sync::OnceLock;

/// Wraps an HTTP client; each connector it hands out asks the wrapped client for the real one
/// at its first request (the wrapped client caches connectors by settings, as before).
#[derive(Debug)]
pub(crate) struct LazyHttpClient(pub(crate) SharedHttpClient);

impl HttpClient for LazyHttpClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(LazyConnector {
            client: self.0.clone(),
            settings: settings.clone(),
            components: components.clone(),
            connector: OnceLock::new(),
        })
    }

    fn connector_metadata(&self) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

#[derive(Debug)]
struct LazyConnector {
    client: SharedHttpClient,
    settings: HttpConnectorSettings,
    components: RuntimeComponents,
    connector: OnceLock<SharedHttpConnector>,
}

impl HttpConnector for LazyConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        self.connector.get_or_init(|| self.client.http_connector(&self.settings, &self.components)).call(request)
    }
}
