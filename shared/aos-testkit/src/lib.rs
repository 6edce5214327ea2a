//! Test support shared by the crates' integration tests: a local HTTP server standing in for the
//! outside world (price API, flaky service, rate-limited service, fixed statuses, webhook sink, slow
//! endpoint) and the example plans.

use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the local target server saw.
#[derive(Default)]
pub struct Seen {
    pub requests: Vec<(String, String, Value)>,
    /// Calls per key: `<key>` for `/flaky`, `limited/<key>` for `/limited`, `status/<code>` for `/status`.
    pub flaky_calls: std::collections::HashMap<String, u32>,
    pub idempotency_keys: Vec<String>,
    pub auth_headers: Vec<String>,
}

/// A local HTTP server standing in for the outside world (price API, flaky and rate-limited
/// services, fixed statuses, webhook sink).
pub struct Target {
    pub base: String,
    pub seen: Arc<Mutex<Seen>>,
}

/// Starts the target server on a free local port, in the background of the current runtime.
pub async fn spawn_target() -> Target {
    spawn_target_on("127.0.0.1:0").await.expect("bind a local port")
}

/// Starts the target server on `addr` (e.g. `127.0.0.1:0` for a free port).
pub async fn spawn_target_on(addr: &str) -> std::io::Result<Target> {
    use axum::extract::{Path as AxPath, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{get, post};
    use axum::Json;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let app = axum::Router::new()
        .route("/price", get(|| async { Json(json!({"bitcoin": {"usd": 43210.5}})) }))
        .route(
            "/flaky/{key}/{failures}",
            get(|State(seen): State<Arc<Mutex<Seen>>>, AxPath((key, failures)): AxPath<(String, u32)>| async move {
                let n = {
                    let mut s = seen.lock().unwrap();
                    let c = s.flaky_calls.entry(key).or_default();
                    *c += 1;
                    *c
                };
                if n <= failures {
                    (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": "try later"})))
                } else {
                    (StatusCode::OK, Json(json!({"ok": true, "calls": n})))
                }
            }),
        )
        // 429 with `Retry-After: <seconds>` for the first `failures` calls per key, then 200.
        .route(
            "/limited/{key}/{failures}/{retry_after}",
            get(|State(seen): State<Arc<Mutex<Seen>>>, AxPath((key, failures, retry_after)): AxPath<(String, u32, u32)>| async move {
                let n = {
                    let mut s = seen.lock().unwrap();
                    let c = s.flaky_calls.entry(format!("limited/{key}")).or_default();
                    *c += 1;
                    *c
                };
                use axum::response::IntoResponse;
                if n <= failures {
                    let headers = [(axum::http::header::RETRY_AFTER, retry_after.to_string())];
                    (StatusCode::TOO_MANY_REQUESTS, headers, Json(json!({"error": "slow down"}))).into_response()
                } else {
                    Json(json!({"ok": true, "calls": n})).into_response()
                }
            }),
        )
        // Always answers with the given status (e.g. 404), counting calls per status.
        .route(
            "/status/{code}",
            get(|State(seen): State<Arc<Mutex<Seen>>>, AxPath(code): AxPath<u16>| async move {
                *seen.lock().unwrap().flaky_calls.entry(format!("status/{code}")).or_default() += 1;
                let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                (status, Json(json!({"error": format!("status {code}")})))
            }),
        )
        .route(
            "/sink",
            post(|State(seen): State<Arc<Mutex<Seen>>>, headers: HeaderMap, Json(body): Json<Value>| async move {
                let mut s = seen.lock().unwrap();
                if let Some(k) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()) {
                    s.idempotency_keys.push(k.to_string());
                }
                if let Some(a) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
                    s.auth_headers.push(a.to_string());
                }
                s.requests.push(("POST".into(), "/sink".into(), body));
                Json(json!({"received": true}))
            }),
        )
        .route(
            "/slow/{ms}",
            get(|AxPath(ms): AxPath<u64>| async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Json(json!({"slept": ms}))
            }),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    Ok(Target { base: format!("http://{addr}"), seen })
}

/// The 5-step example: two fetches in parallel (one flaky, retried), then transforms.
pub fn five_step_plan(target: &str, flaky_key: &str) -> Value {
    json!({
        "name": "five-step",
        "steps": [
            {"id": "price", "skill": "http_call", "input": {"url": format!("{target}/price")}},
            {"id": "flaky", "skill": "http_call", "input": {"url": format!("{target}/flaky/{flaky_key}/1")},
             "retry": {"max_attempts": 3, "initial_delay_ms": 10, "max_delay_ms": 50}},
            {"id": "extract", "skill": "json_transform", "depends_on": ["price"],
             "input": {"data": "{{ steps.price.output.body }}", "expr": ".bitcoin.usd"}},
            {"id": "combine", "skill": "json_transform", "depends_on": ["extract", "flaky"],
             "input": {"data": {"price": "{{ steps.extract.output }}", "calls": "{{ steps.flaky.output.body.calls }}"}, "expr": "{price, calls, doubled: (.price * 2)}"}},
            {"id": "message", "skill": "json_transform", "depends_on": ["combine"],
             "input": {"data": "{{ steps.combine.output }}", "expr": "\"BTC is \\(.price) USD\""}}
        ]
    })
}
