//! A local HTTP server for the http_call tests, on 127.0.0.1 only, with routes for each
//! behaviour under test and a hit counter to prove that blocked requests never arrived.
#![allow(dead_code)]

use aos_core::skill::{Skill, SkillContext};
use aos_skills::{HttpCall, SkillsConfig};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub struct Server {
    pub addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

pub async fn start() -> Server {
    let hits = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route("/json", get(|| async { Json(json!({"hello": "world", "n": 3})) }))
        .route("/text", get(|| async { "plain text" }))
        .route("/echo", any(echo))
        .route("/status/{code}", any(status))
        .route("/retry-date", get(retry_date))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route("/big", get(|| async { vec![b'x'; 256 * 1024] }))
        .route("/endless", get(endless))
        .route(
            "/redirect",
            get(|Query(q): Query<HashMap<String, String>>| async move { Redirect::temporary(q.get("to").map_or("/json", |s| s)) }),
        )
        .route("/loop", get(|| async { Redirect::temporary("/loop") }))
        .layer(axum::middleware::from_fn_with_state(hits.clone(), count));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind test server");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server { addr, hits }
}

async fn count(State(hits): State<Arc<AtomicUsize>>, req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    hits.fetch_add(1, Ordering::SeqCst);
    next.run(req).await
}

async fn echo(method: Method, RawQuery(query): RawQuery, headers: HeaderMap, body: String) -> Json<Value> {
    let mut h = Map::new();
    for (name, value) in &headers {
        h.insert(name.to_string(), json!(value.to_str().unwrap_or("")));
    }
    Json(json!({"method": method.as_str(), "query": query, "headers": h, "body": body}))
}

async fn status(Path(code): Path<u16>) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, "failure body").into_response();
    if code == 429 || code == 503 {
        resp.headers_mut().insert("retry-after", "7".parse().expect("header"));
    }
    resp
}

async fn retry_date() -> Response {
    let at = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(60));
    (StatusCode::TOO_MANY_REQUESTS, [("retry-after", at)], "slow down").into_response()
}

/// Never ends: only a reader that stops at its cap gets past this.
async fn endless() -> Body {
    Body::from_stream(futures::stream::repeat_with(|| Ok::<_, Infallible>(Bytes::from_static(&[b'y'; 1024]))))
}

pub fn config(allow: &[&str]) -> SkillsConfig {
    SkillsConfig {
        http_allow_hosts: allow.iter().map(|s| s.to_string()).collect(),
        http_max_response_bytes: 64 * 1024,
        http_default_timeout_ms: 5_000,
        ..SkillsConfig::default()
    }
}

pub fn ctx() -> SkillContext {
    SkillContext::new("run1", "step1", 1, 42, 0, 10_000)
}

pub async fn call(skill: &HttpCall, input: Value) -> Result<Value, aos_core::outcome::StepError> {
    skill.execute(&ctx(), input).await.map(|o| o.output)
}
