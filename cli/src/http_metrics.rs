//! The API's own metrics in `aos serve`: every HTTP answer counted by route template, method and
//! status (`http_requests_total`), and its latency (`http_request_duration_seconds`), the SLIs of
//! the API's availability and latency SLOs (docs/slo.md). On AWS the gateway measures the same
//! thing (API Gateway's `5xx` and `Latency`), so the Lambda functions do not record these.

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::{from_fn, Next};
use axum::response::Response;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub const HTTP_REQUESTS: &str = "http_requests_total";
pub const HTTP_DURATION: &str = "http_request_duration_seconds";
/// Buckets of `http_request_duration_seconds`: the latency SLO's thresholds (0.1 s, 0.5 s) are
/// bucket bounds, so the SLI is exact.
pub const HTTP_DURATION_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// The `route` of a request no route matched (404s, and what the HTTP layer refused).
const UNMATCHED: &str = "unmatched";

/// The route template of the request, written by the inner layer (which runs after routing, where
/// axum knows it) for the outer one (which sees every answer, including fallbacks and refusals).
#[derive(Clone, Default)]
struct RouteSlot(Arc<Mutex<Option<MatchedPath>>>);

/// `app` with both layers: labels stay bounded (route templates such as `/api/v1/runs/{id}`, never
/// the path itself; the standard methods; status codes).
pub fn instrument(app: axum::Router) -> axum::Router {
    app.route_layer(from_fn(note_route)).layer(from_fn(record))
}

async fn note_route(req: Request, next: Next) -> Response {
    if let (Some(slot), Some(path)) = (req.extensions().get::<RouteSlot>(), req.extensions().get::<MatchedPath>()) {
        *slot.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(path.clone());
    }
    next.run(req).await
}

async fn record(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let slot = RouteSlot::default();
    req.extensions_mut().insert(slot.clone());
    let method: &'static str = match *req.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    // A long poll (`wait_ms`) lasts as long as the caller asked: not latency of the service.
    let long_poll = req.uri().query().is_some_and(|q| q.split('&').any(|kv| kv.starts_with("wait_ms=")));
    let response = next.run(req).await;
    let route = slot.0.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|p| p.as_str().to_string());
    let route = route.unwrap_or_else(|| UNMATCHED.to_string());
    let code = response.status().as_u16().to_string();
    metrics::counter!(HTTP_REQUESTS, "route" => route.clone(), "method" => method, "code" => code).increment(1);
    if !long_poll {
        metrics::histogram!(HTTP_DURATION, "route" => route, "method" => method).record(started.elapsed().as_secs_f64());
    }
    response
}

/// Help texts (after the recorder is installed).
pub fn describe() {
    metrics::describe_counter!(HTTP_REQUESTS, "HTTP answers of the API, by route template, method and status code.");
    metrics::describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "Time from a request's headers to its answer's headers, by route template and method (long polls with wait_ms excluded)."
    );
}
