//! The edges of a real `aos serve` an attacker with ordinary keys reaches: authentication before
//! method checks, errors outside the handlers in the envelope, slow clients cut off, numbers that
//! would overflow, key names that would mislead, and damaged storage.

mod common;
use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Sends `request` on a fresh connection and reads until the server closes it (or `limit`).
/// Returns the status, the head and the body.
fn raw(base: &str, request: &[u8], limit: Duration) -> (u16, String, String) {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(limit)).unwrap();
    s.write_all(request).expect("send");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

fn code(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_string))
        .unwrap_or_else(|| format!("not an envelope: {body:?}"))
}

#[tokio::test]
async fn every_non_public_path_answers_401_before_405() {
    let app = spawn_app().await;
    let cases = [
        ("DELETE", "/api/v1/skills"),
        ("PATCH", "/api/v1/runs"),
        ("PUT", "/api/v1/runs/r_123"),
        ("PUT", "/api/v1/failures/stats"),
        ("DELETE", "/api/v1/audit"),
        ("POST", "/metrics"),
        ("OPTIONS", "/api/v1/keys"),
        ("TRACE", "/api/v1/whoami"),
        ("PROPFIND", "/api/v1/catalog"),
    ];
    for (method, path) in cases {
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        for key in [None, Some("aos_deadbeef_0000")] {
            let (s, b) = app.request(m.clone(), path, None, key).await;
            assert_eq!((s, b["error"]["code"].as_str()), (401, Some("UNAUTHENTICATED")), "{method} {path} with {key:?}: {b}");
        }
        let (s, b) = app.request(m.clone(), path, None, Some(&app.key)).await;
        assert_eq!((s, b["error"]["code"].as_str()), (405, Some("METHOD_NOT_ALLOWED")), "{method} {path} with a key: {b}");
    }
    // Public routes need no key for either answer; unknown paths are 404 with or without one.
    let (s, b) = app.request(Method::POST, "/healthz", None, None).await;
    assert_eq!((s, b["error"]["code"].as_str()), (405, Some("METHOD_NOT_ALLOWED")), "{b}");
    let (s, _) = app.request(Method::GET, "/api/v1/openapi.json", None, None).await;
    assert_eq!(s, 200);
    let (s, b) = app.request(Method::DELETE, "/api/v1/nope", None, None).await;
    assert_eq!((s, b["error"]["code"].as_str()), (404, Some("NOT_FOUND")), "{b}");
}

#[tokio::test]
async fn errors_outside_the_handlers_are_in_the_envelope() {
    let app = spawn_app().await;
    // A path that is not UTF-8 once decoded: 401 without a key, 400 INVALID_PATH with one.
    let (s, b) = app.request(Method::GET, "/api/v1/runs/%FF", None, None).await;
    assert_eq!(s, 401, "{b}");
    for path in ["/api/v1/runs/%FF", "/api/v1/runs/%C3%28/cancel", "/api/v1/workflows/%FE%FF", "/api/v1/keys/%80"] {
        let m = if path.ends_with("cancel") {
            Method::POST
        } else if path.starts_with("/api/v1/keys") {
            Method::DELETE
        } else {
            Method::GET
        };
        let (s, b) = app.request(m, path, None, Some(&app.key)).await;
        assert_eq!(
            (s, b["error"]["code"].as_str(), b["error"]["details"]["field"].as_str()),
            (400, Some("INVALID_PATH"), Some("path")),
            "{path}: {b}"
        );
    }

    // A long request target: 414 in the envelope, whether the application refuses it (over
    // 8 KiB) or the HTTP layer does (over 64 KiB, before any handler sees it).
    let (s, b) = app.get(&format!("/api/v1/runs?cursor={}", "a".repeat(10_000))).await;
    assert_eq!((s, b["error"]["code"].as_str()), (414, Some("URI_TOO_LONG")), "{b}");
    let long = format!("GET /api/v1/runs?cursor={} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n", "a".repeat(100_000), app.key);
    let (s, head, body) = raw(&app.base, long.as_bytes(), Duration::from_secs(10));
    assert_eq!((s, code(&body).as_str()), (414, "URI_TOO_LONG"), "{head}\n{body}");
    assert!(head.to_ascii_lowercase().contains("content-type: application/json"), "{head}");

    // A request line or header hyper cannot parse, and too many headers: 400 and 431, enveloped.
    let (s, head, body) = raw(&app.base, b"GET /api/v1/runs/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n", Duration::from_secs(10));
    assert_eq!((s, code(&body).as_str()), (400, "INVALID_REQUEST"), "{head}\n{body}");
    let (s, head, body) = raw(&app.base, b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", Duration::from_secs(10));
    assert_eq!((s, code(&body).as_str()), (400, "INVALID_REQUEST"), "{head}\n{body}");
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let (s, head, body) = raw(&app.base, format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes(), Duration::from_secs(10));
    assert_eq!((s, code(&body).as_str()), (431, "HEADERS_TOO_LARGE"), "{head}\n{body}");

    // A huge unknown field name, in a body or a query, is not echoed back whole.
    let huge = "k".repeat(500_000);
    let body = format!("{{\"name\": \"n\", \"role\": \"viewer\", \"{huge}\": 1}}");
    let resp = app
        .http
        .post(app.url("/api/v1/keys"))
        .bearer_auth(&app.key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let text = resp.text().await.unwrap();
    assert!(text.len() < 1_000 && text.contains("INVALID_FIELD"), "{} bytes echoed: {}", text.len(), &text[..text.len().min(300)]);
    let (s, b) = app.get(&format!("/api/v1/runs?{}=1", "q".repeat(7_000))).await;
    assert_eq!((s, b["error"]["code"].as_str()), (400, Some("INVALID_QUERY")));
    assert!(b.to_string().len() < 1_000, "{} bytes echoed", b.to_string().len());
    // The server is still fine.
    let (s, _) = app.request(Method::GET, "/healthz", None, None).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn slow_clients_are_cut_off_and_the_server_keeps_answering() {
    let tmp = tempfile::tempdir().unwrap();
    let app = spawn_app_in(&tmp.path().join("data"), &[("AOS_HEADER_TIMEOUT_MS", "600"), ("AOS_BODY_TIMEOUT_MS", "800")]).await;
    let addr = app.base.trim_start_matches("http://").to_string();

    // Half a request line, then nothing: closed without an answer after the header timeout.
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    slow.write_all(b"GET /hea").unwrap();
    let started = Instant::now();
    // Meanwhile the server answers everyone else.
    for _ in 0..3 {
        let (s, b) = app.request(Method::GET, "/healthz", None, None).await;
        assert_eq!((s, b["status"].as_str()), (200, Some("ok")));
    }
    let mut buf = [0u8; 256];
    let n = slow.read(&mut buf).expect("the server closes the connection (no read timeout)");
    let waited = started.elapsed();
    assert_eq!(n, 0, "closed without an answer: {:?}", String::from_utf8_lossy(&buf[..n]));
    assert!(waited >= Duration::from_millis(400) && waited < Duration::from_secs(5), "closed after {waited:?}");

    // An idle keep-alive connection is closed too.
    let mut idle = TcpStream::connect(&addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut got = Vec::new();
    while !String::from_utf8_lossy(&got).contains("\"ok\"") {
        let n = idle.read(&mut buf).expect("response");
        assert!(n > 0, "closed before answering");
        got.extend_from_slice(&buf[..n]);
    }
    let started = Instant::now();
    assert_eq!(idle.read(&mut buf).expect("closed, not timed out"), 0);
    assert!(started.elapsed() < Duration::from_secs(5), "idle for {:?}", started.elapsed());

    // A body that stops arriving: 408 REQUEST_TIMEOUT in the envelope, then the connection closes.
    let mut trickle = TcpStream::connect(&addr).unwrap();
    trickle.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = format!("POST /api/v1/runs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"plan\": ", app.key);
    trickle.write_all(head.as_bytes()).unwrap();
    let started = Instant::now();
    let mut out = Vec::new();
    let _ = trickle.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    assert!(head.starts_with("HTTP/1.1 408"), "{text}");
    assert_eq!(code(body), "REQUEST_TIMEOUT", "{text}");
    assert!(started.elapsed() >= Duration::from_millis(600) && started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    // (A new client: the blocking reads above kept the old one from seeing its pooled
    // connection closed for idleness.)
    let resp = reqwest::Client::new().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn numbers_that_would_overflow_answer_400_naming_the_parameter() {
    let app = spawn_app().await;
    let min = i64::MIN;
    let max = i64::MAX;
    let cases = [
        (format!("/api/v1/failures/stats?bucket_ms={max}"), "bucket_ms"),
        (format!("/api/v1/failures/stats?bucket_ms={min}"), "bucket_ms"),
        ("/api/v1/failures/stats?bucket_ms=999".to_string(), "bucket_ms"),
        ("/api/v1/failures/stats?bucket_ms=2592000001".to_string(), "bucket_ms"),
        // One-second buckets over the default 24 hours would be 86 400 of them.
        ("/api/v1/failures/stats?bucket_ms=1000".to_string(), "bucket_ms"),
        (format!("/api/v1/failures/stats?to={min}"), "to"),
        (format!("/api/v1/failures/stats?from={min}"), "from"),
        (format!("/api/v1/failures/stats?to={max}"), "to"),
        (format!("/api/v1/failures?to={min}"), "to"),
        (format!("/api/v1/failures?from={max}"), "from"),
        ("/api/v1/failures?from=-1".to_string(), "from"),
        ("/api/v1/failures?to=10000000000000".to_string(), "to"),
        (format!("/api/v1/audit?to={min}"), "to"),
        (format!("/api/v1/audit?from={min}"), "from"),
        (format!("/api/v1/audit?from={max}"), "from"),
        ("/api/v1/audit?from=2&to=1".to_string(), "from"),
        ("/api/v1/failures?from=2&to=1".to_string(), "from"),
        ("/api/v1/audit?limit=18446744073709551616".to_string(), "limit"),
        ("/api/v1/failures?limit=-1".to_string(), "limit"),
    ];
    for (path, field) in &cases {
        let (s, b) = app.get(path).await;
        assert_eq!(
            (s, b["error"]["code"].as_str(), b["error"]["details"]["field"].as_str()),
            (400, Some("INVALID_QUERY"), Some(*field)),
            "{path}: {b}"
        );
    }
    // The limits themselves are accepted: exactly 1000 one-day buckets, the latest time, ...
    for path in [
        "/api/v1/failures/stats?bucket_ms=3600000",
        "/api/v1/failures/stats?from=0&to=86399999&bucket_ms=86400",
        "/api/v1/failures?to=9999999999999&from=9999000000000",
        "/api/v1/audit?to=9999999999999",
        "/api/v1/audit?from=0&to=1",
    ] {
        let (s, b) = app.get(path).await;
        assert_eq!(s, 200, "{path}: {b}");
    }
    // The documented ranges are in the OpenAPI document.
    let (_, doc) = app.request(Method::GET, "/api/v1/openapi.json", None, None).await;
    let param = |path: &str, name: &str| -> Value {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{path} {name}"))["schema"]
            .clone()
    };
    let bucket = param("/api/v1/failures/stats", "bucket_ms");
    assert_eq!((bucket["minimum"].as_i64(), bucket["maximum"].as_i64()), (Some(1000), Some(2_592_000_000)), "{bucket}");
    for path in ["/api/v1/failures", "/api/v1/failures/stats", "/api/v1/audit"] {
        for name in ["from", "to"] {
            let p = param(path, name);
            assert_eq!((p["minimum"].as_i64(), p["maximum"].as_i64()), (Some(0), Some(9_999_999_999_999)), "{path} {name}: {p}");
        }
    }
}

#[tokio::test]
async fn key_names_that_could_mislead_are_refused() {
    let app = spawn_app().await;
    for name in
        ["invoice\u{202E}gpj.exe", "a\u{2066}b", "a\u{200F}", "a\u{061C}b", "line\nbreak", "bell\u{7}", "c1\u{85}x", &"n".repeat(65)]
    {
        let (s, b) = app.post("/api/v1/keys", json!({"name": name, "role": "viewer"})).await;
        assert_eq!(
            (s, b["error"]["code"].as_str(), b["error"]["details"]["field"].as_str()),
            (422, Some("INVALID_FIELD"), Some("name")),
            "{name:?}: {b}"
        );
    }
    let (s, b) = app.post("/api/v1/keys", json!({"name": "déploiement ✓", "role": "viewer"})).await;
    assert_eq!(s, 201, "{b}");
    let (_, doc) = app.request(Method::GET, "/api/v1/openapi.json", None, None).await;
    let name = &doc["components"]["schemas"]["CreateKey"]["properties"]["name"];
    assert_eq!((name["minLength"].as_i64(), name["maxLength"].as_i64()), (Some(1), Some(64)), "{name}");
}

#[tokio::test]
async fn a_corrupt_record_answers_500_without_retry_after() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut app = spawn_app_in(&dir, &[]).await;
    let plan = json!({"name": "p", "steps": [{"id": "a", "skill": "json_transform", "input": {"data": 1, "expr": ". + 1"}}]});
    let id = app.submit(plan, json!({})).await;
    app.wait_run(&id, Duration::from_secs(30)).await;
    app.stop();

    let conn = rusqlite::Connection::open(dir.join("aos.db")).unwrap();
    let changed = conn.execute("UPDATE items SET data = '{\"run_id\": ' WHERE pk LIKE '%#run#' || ?1 AND sk = 'run'", [&id]).unwrap();
    assert_eq!(changed, 1);
    drop(conn);

    let app = spawn_app_in(&dir, &[]).await;
    let resp = app.http.get(app.url(&format!("/api/v1/runs/{id}"))).bearer_auth(&app.key).send().await.unwrap();
    assert_eq!(resp.status(), 500);
    assert!(resp.headers().get("retry-after").is_none(), "retrying cannot help: {:?}", resp.headers());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "CORRUPT_RECORD", "{body}");
    // Everything else still works.
    let (s, _) = app.get("/api/v1/skills").await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn a_damaged_database_is_refused_at_start_with_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut app = spawn_app_in(&dir, &[]).await;
    let plan = json!({"name": "p", "steps": [{"id": "a", "skill": "json_transform", "input": {"data": "x".repeat(2000), "expr": "."}}]});
    for _ in 0..40 {
        app.submit(plan.clone(), json!({})).await;
    }
    app.stop();
    let db = dir.join("aos.db");
    let len = std::fs::metadata(&db).unwrap().len();
    let page = 4096;
    let mut f = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
    use std::io::Seek;
    f.seek(std::io::SeekFrom::Start((len / 2 / page) * page)).unwrap();
    f.write_all(&vec![0xA5; 3 * page as usize]).unwrap();
    drop(f);

    let out = std::process::Command::new(aos_bin())
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(&dir)
        .env("AOS_LOG", "error")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started over a damaged file: {stderr}");
    assert!(stderr.contains(&db.display().to_string()) && stderr.contains("backup") && stderr.contains(".recover"), "{stderr}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&db).unwrap().permissions().mode() & 0o777, 0o600);
}
