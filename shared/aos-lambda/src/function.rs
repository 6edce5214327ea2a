//! How every function runs: its `main` hands a [`Function`] to [`run`], which builds the handler
//! once per execution environment and serves it through [`Invocation`]. The cross-cutting concerns
//! live in that one wrapper, so no handler has to remember them: each invocation runs in a span
//! naming the function (every log line of it carries the name), a panic becomes the invocation's
//! error instead of reaching the runtime, and the invocation's metrics are flushed before its
//! response goes back (after it, Lambda may freeze the process until the next event, or never
//! thaw it).

use crate::recorder;
use futures::FutureExt;
use lambda_runtime::streaming::Body;
use lambda_runtime::{Diagnostic, FunctionResponse, LambdaEvent, Service};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tracing::Instrument;

/// What a function's `main` returns when it cannot start or the runtime stops.
pub type Error = lambda_runtime::Error;

/// One Lambda function: how it starts, once per execution environment (at cold start), and the
/// handler it then serves. The functions under `functions/` each pass one to [`run`].
pub trait Function {
    type Handler: Handler;
    /// Its package under `functions/`, which names it in its logs.
    fn name(&self) -> &'static str;
    /// Builds what every invocation needs (the runtime, its clients) from the environment.
    fn init(self) -> impl Future<Output = Result<Self::Handler, Error>>;
}

/// What a function does with one event.
pub trait Handler: 'static {
    type Event: DeserializeOwned + 'static;
    type Response: Serialize + 'static;
    fn handle(&self, event: LambdaEvent<Self::Event>) -> impl Future<Output = Result<Self::Response, Error>>;
}

/// Starts `function`: telemetry, its init, then the Lambda runtime's loop with every invocation
/// going through [`Invocation`]. The only way the functions under `functions/` start the runtime
/// (they do not depend on `lambda_runtime` or `lambda_http`; the deployment test checks it).
pub async fn run<F: Function>(function: F) -> Result<(), Error> {
    crate::init_telemetry();
    let name = function.name();
    let handler = match function.init().await {
        Ok(handler) => handler,
        Err(error) => {
            // Lambda reports the init error too; this line carries the function's name.
            tracing::error!(function = name, %error, "the function could not start");
            return Err(error);
        }
    };
    lambda_runtime::run(Invocation::new(name, handler)).await
}

/// The wrapper every invocation goes through (see the module's documentation).
pub struct Invocation<H> {
    name: &'static str,
    handler: Arc<H>,
    warm: Arc<AtomicBool>,
}

impl<H> Clone for Invocation<H> {
    fn clone(&self) -> Self {
        Self { name: self.name, handler: self.handler.clone(), warm: self.warm.clone() }
    }
}

impl<H: Handler> Invocation<H> {
    pub fn new(name: &'static str, handler: H) -> Self {
        Self { name, handler: Arc::new(handler), warm: Arc::new(AtomicBool::new(false)) }
    }

    /// One invocation, as the runtime makes it: the handler inside the function's span, a panic
    /// turned into an error, and the metrics flushed before the result is returned.
    pub fn invoke(&self, event: LambdaEvent<H::Event>) -> impl Future<Output = Result<H::Response, Diagnostic>> + 'static {
        let cold_start = !self.warm.swap(true, Ordering::Relaxed);
        let span = tracing::info_span!("invocation", function = self.name, cold_start);
        let handler = self.handler.clone();
        async move {
            let outcome = AssertUnwindSafe(async move { handler.handle(event).await }).catch_unwind().await;
            // Whatever the outcome: a failed or panicked invocation's metrics count too.
            let flushed = recorder::flush().await;
            if flushed.failed_writes > 0 {
                tracing::warn!(failed_writes = flushed.failed_writes, "some metric totals were not updated");
            }
            match outcome {
                Ok(Ok(response)) => Ok(response),
                Ok(Err(error)) => {
                    tracing::error!(%error, "the invocation failed");
                    Err(Diagnostic::from(error))
                }
                Err(panic) => {
                    let message = panic_message(panic.as_ref());
                    tracing::error!(panic = %message, "the handler panicked");
                    Err(Diagnostic { error_type: "Panic".into(), error_message: format!("the handler panicked: {message}") })
                }
            }
        }
        .instrument(span)
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(s), _) => s.to_string(),
        (_, Some(s)) => s.clone(),
        _ => "(no message)".into(),
    }
}

impl<H: Handler> Service<LambdaEvent<H::Event>> for Invocation<H> {
    type Response = FunctionResponse<H::Response, Body>;
    type Error = Diagnostic;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Diagnostic>>>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Diagnostic>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, event: LambdaEvent<H::Event>) -> Self::Future {
        let invocation = self.invoke(event);
        Box::pin(async move { invocation.await.map(FunctionResponse::BufferedResponse) })
    }
}
