//! http_call against a real local server: responses, what is sent, and how statuses and
//! transport failures are classified.

mod common;

use aos_core::outcome::Category;
use aos_core::skill::{Skill, SkillContext};
use aos_skills::HttpCall;
use common::{call, config, start};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn json_response_is_parsed() {
    let server = start().await;
    let skill = HttpCall::new(&config(&["127.0.0.1"]));
    let out = call(&skill, json!({"url": server.url("/json")})).await.expect("ok");
    assert_eq!(out["status"], 200);
    assert_eq!(out["body"], json!({"hello": "world", "n": 3}));
    assert_eq!(out["headers"]["content-type"], "application/json");
}

#[tokio::test]
async fn text_body_is_a_string() {
    let server = start().await;
    let skill = HttpCall::new(&config(&["127.0.0.1"]));
    let out = call(&skill, json!({"url": server.url("/text")})).await.expect("ok");
    assert_eq!(out["body"], "plain text");
}

#[tokio::test]
async fn head_has_no_body() {
    let server = start().await;
    let skill = HttpCall::new(&config(&["127.0.0.1"]));
    let out = call(&skill, json!({"method": "HEAD", "url": server.url("/json")})).await.expect("ok");
    assert_eq!(out["status"], 200);
    assert_eq!(out["body"], json!(null));
}

#[tokio::test]
async fn query_and_headers_are_sent() {
    let server = start().await;
    let skill = HttpCall::new(&config(&["127.0.0.1"]));
    let input = json!({
        "url": server.url("/echo?fixed=1"),
        "query": {"q": "a b&c", "n": 3, "tags": ["x", "y"], "skip": null},
        "headers": {"X-Test": "yes", "Authorization": "Bearer t"}
    });
    let echo = call(&skill, input).await.expect("ok")["body"].clone();
    assert_eq!(echo["method"], "GET");
    // Parameters follow the URL's own; their order among themselves is the JSON object's.
    let query = echo["query"].as_str().expect("query");
    assert!(query.starts_with("fixed=1&"), "{query}");
    let mut pairs: Vec<&str> = query.split('&').collect();
    pairs.sort();
    assert_eq!(pairs, ["fixed=1", "n=3", "q=a+b%26c", "tags=x", "tags=y"]);
    assert_eq!(echo["headers"]["x-test"], "yes");
    assert_eq!(echo["headers"]["authorization"], "Bearer t");
    assert!(echo["headers"].get("idempotency-key").is_none(), "GET carries no idempotency key");
}

#[tokio::test]
async fn post_sends_json_body_and_idempotency_key() {
    let server = start().await;
    let skill = HttpCall::new(&config(&["127.0.0.1"]));
    let echo =
        call(&skill, json!({"method": "POST", "url": server.url("/echo"), "body": {"k": [1, 2]}})).await.expect("ok")["body"].clone();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["body"], r#"{"k":[1,2]}"#);
    assert_eq!(echo["headers"]["content-type"], "application/json");
    assert_eq!(echo["headers"]["idempotency-key"], "run1/step1/1");

    let echo = call(&skill, json!({"method": "PUT", "url": server.url("/echo"), "body": "hello", "headers": {"Idempotency-Key": "mine"}}))
        .await
        .expect("ok")["body"]
        .clone();
    assert_eq!(echo["body"], "hello");
    assert_eq!(echo["headers"]["content-type"], "text/plain; charset=utf-8");
    assert_eq!(echo["headers"]["idempotency-key"], "mine");
}

#[tokio::test]
async fn statuses_are_classified() {
    let server = start().await;
    let skill = HttpCall::new(&config(&["127.0.0.1"]));
    let expect = [
        (404, Category::NotFound, false),
        (503, Category::Transient, true),
        (408, Category::Transient, true),
        (401, Category::Auth, false),
        (409, Category::Conflict, false),
        (413, Category::Resource, false),
        (422, Category::Validation, false),
    ];
    for (code, category, retryable) in expect {
        let err = call(&skill, json!({"url": server.url(&format!("/status/{code}"))})).await.expect_err("non-2xx fails");
        assert_eq!(err.code, format!("HTTP_{code}"));
        assert_eq!((err.category, err.retryable), (category, retryable), "{code}");
        assert_eq!(err.details["status"], code);
        assert_eq!(err.details["body"], "failure body");
        assert!(err.details["headers"].is_object());
    }
}

#[tokio::test]
async fn rate_limit_reports_retry_after() {
    let server = start().await;
    let skill = HttpCall::new(&config(&["127.0.0.1"]));
    let err = call(&skill, json!({"url": server.url("/status/429")})).await.expect_err("429");
    assert_eq!((err.code.as_str(), err.category, err.retryable), ("HTTP_429", Category::RateLimit, true));
    assert_eq!(err.details["retry_after_ms"], 7000);

    let err = call(&skill, json!({"url": server.url("/retry-date")})).await.expect_err("429");
    let ms = err.details["retry_after_ms"].as_u64().expect("parsed HTTP date");
    assert!((55_000..=60_000).contains(&ms), "{ms}");
}

#[tokio::test]
async fn timeouts() {
    let server = start().await;
    let skill = HttpCall::new(&config(&["127.0.0.1"]));
    let started = Instant::now();
    let err = call(&skill, json!({"url": server.url("/slow"), "timeout_ms": 200})).await.expect_err("times out");
    assert_eq!((err.code.as_str(), err.category, err.retryable), ("HTTP_TIMEOUT", Category::Transient, true));
    assert!(started.elapsed() < Duration::from_secs(3));

    // The step's own budget applies when the input sets none.
    let ctx = SkillContext::new("run1", "step1", 1, 42, 0, 200);
    let err = skill.execute(&ctx, json!({"url": server.url("/slow")})).await.expect_err("times out");
    assert_eq!(err.code, "HTTP_TIMEOUT");
    assert_eq!(err.details["timeout_ms"], 200);
}

#[tokio::test]
async fn connection_refused_is_transient() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let skill = HttpCall::new(&config(&["127.0.0.1"]));
    let err = call(&skill, json!({"url": format!("http://127.0.0.1:{port}/")})).await.expect_err("refused");
    assert_eq!((err.code.as_str(), err.category, err.retryable), ("HTTP_CONNECT_ERROR", Category::Transient, true), "{err:?}");
}

#[tokio::test]
async fn response_cap_is_enforced() {
    let server = start().await;
    let skill = HttpCall::new(&config(&["127.0.0.1"]));
    for path in ["/big", "/endless"] {
        let err = call(&skill, json!({"url": server.url(path), "timeout_ms": 5000})).await.expect_err("too large");
        assert_eq!((err.code.as_str(), err.category), ("HTTP_BODY_TOO_LARGE", Category::Resource), "{path}: {err:?}");
    }
}

#[tokio::test]
async fn redirects_are_followed_and_bounded() {
    let server = start().await;
    let skill = HttpCall::new(&config(&["127.0.0.1"]));
    let out = call(&skill, json!({"url": server.url("/redirect"), "query": {"to": "/json"}})).await.expect("followed");
    assert_eq!(out["body"]["hello"], "world");

    let err = call(&skill, json!({"url": server.url("/loop")})).await.expect_err("loop");
    assert_eq!((err.code.as_str(), err.category, err.retryable), ("HTTP_TOO_MANY_REDIRECTS", Category::Permanent, false), "{err:?}");
}

#[tokio::test]
async fn tls_failure_is_classified() {
    let server = start().await;
    let skill = HttpCall::new(&config(&["127.0.0.1"]));
    let err = call(&skill, json!({"url": format!("https://127.0.0.1:{}/json", server.port())})).await.expect_err("not TLS");
    assert_eq!((err.code.as_str(), err.category), ("HTTP_TLS_ERROR", Category::Security), "{err:?}");
}

#[tokio::test]
async fn bad_input_is_rejected() {
    let skill = HttpCall::new(&config(&["127.0.0.1"]));
    for (input, code) in [
        (json!({"url": "ftp://example.com/x"}), "HTTP_INVALID_URL"),
        (json!({"url": "not a url"}), "HTTP_INVALID_URL"),
        (json!({"url": "http://127.0.0.1/", "method": "TRACE"}), "SKILL_INPUT_INVALID"),
        (json!({"url": "http://127.0.0.1/", "extra": 1}), "SKILL_INPUT_INVALID"),
        (json!({"url": "http://127.0.0.1/", "headers": {"X": 1}}), "SKILL_INPUT_INVALID"),
        (json!({"url": "http://127.0.0.1/", "query": {"q": {"nested": 1}}}), "SKILL_INPUT_INVALID"),
        (json!({"url": "http://127.0.0.1/", "timeout_ms": 0}), "SKILL_INPUT_INVALID"),
        (json!({"method": "GET"}), "SKILL_INPUT_INVALID"),
        (json!("http://127.0.0.1/"), "SKILL_INPUT_INVALID"),
    ] {
        let err = call(&skill, input.clone()).await.expect_err("invalid");
        assert_eq!(err.code, code, "{input}");
        assert!(!err.retryable);
    }
}

/// A server answering `/r/{status}?to=<url>` with that redirect status to `to`, for any method.
async fn redirector() -> std::net::SocketAddr {
    use axum::extract::{Path, Query};
    use axum::http::{header, StatusCode};
    use std::collections::HashMap;
    let app = axum::Router::new().route(
        "/r/{status}",
        axum::routing::any(|Path(status): Path<u16>, Query(q): Query<HashMap<String, String>>| async move {
            let status = StatusCode::from_u16(status).expect("status");
            (status, [(header::LOCATION, q.get("to").cloned().unwrap_or_default())])
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn credential_headers() -> serde_json::Value {
    json!({
        "X-Api-Key": "secret-key",
        "Authorization": "Bearer secret-token",
        "Cookie": "session=secret",
        "X-Custom": "custom",
        "Accept": "application/json",
        "Accept-Language": "en"
    })
}

#[tokio::test]
async fn a_redirect_within_the_origin_keeps_the_headers() {
    let server = start().await;
    let skill = HttpCall::new(&config(&["127.0.0.1"]));
    let input = json!({"url": server.url("/redirect?token=secret-in-query"), "query": {"to": "/echo"}, "headers": credential_headers()});
    let echo = call(&skill, input).await.expect("followed")["body"].clone();
    let h = &echo["headers"];
    assert_eq!(h["x-api-key"], "secret-key", "{echo}");
    assert_eq!(h["authorization"], "Bearer secret-token");
    assert_eq!(h["cookie"], "session=secret");
    assert_eq!(h["x-custom"], "custom");
    assert!(h.get("referer").is_none(), "no Referer, even within the origin: {echo}");
}

#[tokio::test]
async fn a_redirect_to_another_origin_carries_no_credentials() {
    let target = start().await;
    let first = redirector().await;
    assert_ne!(first.port(), target.port(), "another port is another origin");
    let skill = HttpCall::new(&config(&["127.0.0.1"]));
    for (status, method, body_kept) in
        [(302, "GET", false), (307, "GET", false), (303, "POST", false), (307, "POST", true), (308, "PUT", true)]
    {
        let url = format!("http://{first}/r/{status}?token=secret-in-query");
        let mut input = json!({"method": method, "url": url, "query": {"to": target.url("/echo")}, "headers": credential_headers()});
        if method != "GET" {
            input["body"] = json!({"k": 1});
        }
        let echo = call(&skill, input).await.unwrap_or_else(|e| panic!("{status} {method}: {e:?}"))["body"].clone();
        let h = &echo["headers"];
        for name in ["x-api-key", "authorization", "cookie", "referer", "x-custom"] {
            assert!(h.get(name).is_none(), "{status} {method}: `{name}` crossed origins: {echo}");
        }
        assert_eq!(
            (h["accept"].as_str(), h["accept-language"].as_str()),
            (Some("application/json"), Some("en")),
            "{status} {method}: safe headers are kept"
        );
        assert!(!echo.to_string().contains("secret"), "{status} {method}: {echo}");
        if body_kept {
            assert_eq!((echo["method"].as_str(), echo["body"].as_str()), (Some(method), Some(r#"{"k":1}"#)), "{echo}");
            assert_eq!(h["content-type"], "application/json");
            assert_eq!(h["idempotency-key"], "run1/step1/1", "the attempt's own key, for the new origin to deduplicate");
        } else {
            assert_eq!((echo["method"].as_str(), echo["body"].as_str()), (Some("GET"), Some("")), "{status} {method}: {echo}");
            assert!(h.get("content-type").is_none(), "{echo}");
        }
    }
}

#[tokio::test]
async fn every_redirect_target_is_checked_by_the_guard() {
    let first = redirector().await;
    let skill = HttpCall::new(&config(&["127.0.0.1"]));
    // Allowed: the first hop's literal. Not allowed: where it redirects.
    let err = call(&skill, json!({"url": format!("http://{first}/r/302"), "query": {"to": "http://169.254.169.254/latest/meta-data/"}}))
        .await
        .expect_err("blocked");
    assert_eq!((err.code.as_str(), err.category), ("HTTP_BLOCKED_ADDRESS", Category::Security), "{err:?}");
}
