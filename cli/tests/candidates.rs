//! Catalog candidates end to end against a real `aos serve`: failures of real runs that the
//! catalog does not know (an unheard-of status) or knows only as a family (a 4xx it has no entry
//! for) are aggregated on demand and on schedule into candidates with counts, skills, redacted
//! examples and suggestions, readable page by page by their own tenant only.

mod common;
use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);
const SECRET: &str = "tok-s3cr3t-Value-9876";

fn one_call(url: String) -> Value {
    json!({"name": "one-call", "steps": [{"id": "call", "skill": "http_call", "input": {"url": url}, "retry": {"max_attempts": 1}}]})
}

/// Runs that fail four ways: 3 × a status no catalog entry covers (699), 2 × a 4xx the catalog
/// knows only as "some client error" (418, confidence 0.70), 2 × a well-known 404 (0.93; one of them
/// with the tenant's secret in its URL) and 1 × a jq `error(...)` (JQ_RUNTIME_ERROR, 0.98): the
/// last two are candidates only with a higher threshold. (A secret cannot reach a jq program: plans
/// may name secrets only in fields that send them, `PLAN_SECRET_NOT_ALLOWED`.)
async fn fail_runs(app: &App, base: &str) {
    let (s, b) = app.request(Method::PUT, "/api/v1/secrets/TOKEN", Some(json!({"value": SECRET})), Some(&app.key)).await;
    assert_eq!(s, 204, "{b}");
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(app.submit(one_call(format!("{base}/status/699")), json!({})).await);
    }
    for _ in 0..2 {
        ids.push(app.submit(one_call(format!("{base}/status/418")), json!({})).await);
    }
    ids.push(app.submit(one_call(format!("{base}/status/404")), json!({})).await);
    ids.push(app.submit(one_call(format!("{base}/status/404?token={{{{ secrets.TOKEN }}}}")), json!({})).await);
    let declined = json!({"name": "declined", "steps": [{"id": "t", "skill": "json_transform", "input": {"data": {"partner": "acme"}, "expr": "error(\"partner declined: \" + .partner)"}}]});
    ids.push(app.submit(declined, json!({})).await);
    for id in ids {
        assert_eq!(app.wait_run(&id, WAIT).await["status"], "failed");
    }
}

fn by_code<'a>(candidates: &'a Value, code: &str) -> &'a Value {
    candidates.as_array().unwrap().iter().find(|c| c["code"] == code).unwrap_or_else(|| panic!("no candidate {code} in {candidates}"))
}

#[tokio::test]
async fn unmatched_and_low_confidence_failures_become_candidates_of_their_tenant_only() {
    let tmp = tempfile::tempdir().unwrap();
    let app = spawn_app_in(&tmp.path().join("data"), &[("AOS_AGGREGATE_EVERY", "off")]).await;
    let target = spawn_target().await;
    let other = app.other_tenant_key();
    let (s, b) = app.get("/api/v1/failures/candidates").await;
    assert_eq!((s, &b["generated_at_ms"], &b["candidates"]), (200, &Value::Null, &json!([])), "nothing before the first aggregation: {b}");

    fail_runs(&app, &target.base).await;
    let before = now_ms();
    let (s, report) = app.request(Method::POST, "/api/v1/failures/aggregate", None, Some(&app.key)).await;
    assert_eq!(s, 200, "{report}");
    assert!(report["generated_at_ms"].as_i64().unwrap() >= before);
    // The staleness gauge the alert rules watch now holds the run's time.
    let metrics = app.http.get(app.url("/metrics")).bearer_auth(&app.key).send().await.unwrap().text().await.unwrap();
    let gauge = metrics
        .lines()
        .find_map(|l| l.strip_prefix("failure_aggregation_last_success_timestamp_seconds "))
        .unwrap_or_else(|| panic!("no aggregation gauge in:\n{metrics}"));
    assert!(gauge.trim().parse::<f64>().unwrap() * 1000.0 >= (before - 1000) as f64, "{gauge}");
    assert_eq!((report["window"]["days"].as_u64(), report["low_confidence"].as_f64()), (Some(7), Some(0.75)));
    let candidates = &report["candidates"];
    assert_eq!(candidates.as_array().unwrap().len(), 2, "the 404 and the jq error are known: {candidates}");
    let odd = by_code(candidates, "HTTP_699");
    assert_eq!(
        (odd["count"].as_u64(), odd["count_error"].as_u64(), odd["unmatched"].as_u64()),
        (Some(3), Some(0), Some(3)),
        "attempts only, not the runs' own failures: {odd}"
    );
    assert_eq!(odd["skills"], json!(["http_call"]));
    assert!(odd.get("tenant_count").is_none(), "tenant counts are for the platform export only");
    assert_eq!(odd["examples"].as_array().unwrap().len(), 1, "one distinct message");
    let example = odd["examples"][0]["message"].as_str().unwrap();
    assert!(example.contains("answered HTTP 699"), "{example}");
    assert!(odd["first_seen_ms"].as_i64() <= odd["last_seen_ms"].as_i64());
    assert_eq!(
        (odd["suggested"]["category"].as_str(), odd["suggested"]["recovery_mode"].as_str()),
        (Some("PERMANENT"), Some("escalate")),
        "{odd}"
    );
    assert!(odd["suggested"]["reason"].as_str().unwrap().contains("PERMANENT"), "{odd}");
    let teapot = by_code(candidates, "HTTP_418");
    assert_eq!(
        (teapot["count"].as_u64(), teapot["unmatched"].as_u64(), teapot["closest_entry"].as_str(), teapot["confidence"].as_f64()),
        (Some(2), Some(0), Some("HTTP_CLIENT_ERROR"), Some(0.7)),
        "{teapot}"
    );
    assert_eq!(
        (teapot["suggested"]["category"].as_str(), teapot["suggested"]["recovery_mode"].as_str()),
        (Some("VALIDATION"), Some("abort")),
        "{teapot}"
    );
    assert!(teapot["suggested"]["reason"].as_str().unwrap().contains("HTTP_CLIENT_ERROR"), "{teapot}");

    // GET serves the stored result page by page, most frequent first.
    let (s, page) = app.get("/api/v1/failures/candidates?limit=1").await;
    assert_eq!((s, page["total"].as_u64(), page["generated_at_ms"].clone()), (200, Some(2), report["generated_at_ms"].clone()), "{page}");
    assert_eq!(page["candidates"][0]["code"], "HTTP_699");
    let cursor = page["next_cursor"].as_str().expect("a second page").to_string();
    let (s, page2) = app.get(&format!("/api/v1/failures/candidates?limit=1&cursor={cursor}")).await;
    assert_eq!((s, page2["candidates"][0]["code"].as_str(), page2.get("next_cursor")), (200, Some("HTTP_418"), None), "{page2}");
    let (_, whole) = app.get("/api/v1/failures/candidates").await;
    assert_eq!(whole["candidates"], report["candidates"], "GET returns what the aggregation returned");

    // Another tenant sees none of it, before and after aggregating for itself.
    let (s, b) = app.request(Method::GET, "/api/v1/failures/candidates", None, Some(&other)).await;
    assert_eq!(
        (s, b["total"].as_u64(), &b["generated_at_ms"]),
        (200, Some(0), &Value::Null),
        "a tenant without failures gets no result from another's run: {b}"
    );
    let (s, b) = app.request(Method::POST, "/api/v1/failures/aggregate?days=1", None, Some(&other)).await;
    assert_eq!((s, &b["candidates"], b["window"]["days"].as_u64()), (200, &json!([]), Some(1)), "{b}");
    assert!(!b.to_string().contains("HTTP_699") && !b.to_string().contains("status/699"), "{b}");
    let (_, mine) = app.get("/api/v1/failures/candidates").await;
    assert_eq!(mine["total"], 2, "the other tenant's run refreshed the dev tenant's result too: {mine}");
    let (s, b) = app.get(&format!("/api/v1/failures/candidates?limit=1&cursor={cursor}")).await;
    assert_eq!(
        (s, b["error"]["code"].as_str(), b["error"]["details"]["field"].as_str()),
        (422, Some("INVALID_CURSOR"), Some("cursor")),
        "a cursor of an older result: {b}"
    );

    // A higher threshold makes the 404 and the jq error candidates too, the secret redacted from
    // the example; a lower one keeps only the unmatched.
    let (_, b) = app.request(Method::POST, "/api/v1/failures/aggregate?low_confidence=0.99", None, Some(&app.key)).await;
    assert_eq!(by_code(&b["candidates"], "HTTP_404")["count"], 2, "{b}");
    let jq = by_code(&b["candidates"], "JQ_RUNTIME_ERROR");
    let example = jq["examples"][0]["message"].as_str().unwrap();
    assert!(example.contains("partner declined: acme"), "{example}");
    assert_eq!((jq["skills"].clone(), jq["closest_entry"].as_str()), (json!(["json_transform"]), Some("JQ_RUNTIME_ERROR")));
    assert!(!b.to_string().contains(SECRET), "the secret appears nowhere");
    let (_, b) = app.request(Method::POST, "/api/v1/failures/aggregate?low_confidence=0.5", None, Some(&app.key)).await;
    assert_eq!(b["candidates"].as_array().unwrap().iter().map(|c| c["code"].as_str().unwrap()).collect::<Vec<_>>(), ["HTTP_699"]);

    // Bad parameters name the field.
    for (method, query, field) in [
        (Method::POST, "/api/v1/failures/aggregate?days=0", "days"),
        (Method::POST, "/api/v1/failures/aggregate?days=367", "days"),
        (Method::POST, "/api/v1/failures/aggregate?days=week", "days"),
        (Method::POST, "/api/v1/failures/aggregate?low_confidence=1.5", "low_confidence"),
        (Method::POST, "/api/v1/failures/aggregate?low_confidence=0", "low_confidence"),
        (Method::GET, "/api/v1/failures/candidates?limit=0", "limit"),
        (Method::GET, "/api/v1/failures/candidates?limit=201", "limit"),
    ] {
        let (s, b) = app.request(method, query, None, Some(&app.key)).await;
        assert_eq!((s, b["error"]["details"]["field"].as_str()), (400, Some(field)), "{query}: {b}");
    }
    let (s, b) = app.get("/api/v1/failures/candidates?cursor=zz").await;
    assert_eq!((s, b["error"]["code"].as_str()), (422, Some("INVALID_CURSOR")), "{b}");
    let (s, _) = app.get("/api/v1/failures/candidates?bogus=1").await;
    assert_eq!(s, 400);
    let (s, _) = app.request(Method::POST, "/api/v1/failures/aggregate", None, None).await;
    assert_eq!(s, 401);

    // The CLI runs it and writes the JSON export.
    let file = tmp.path().join("candidates.json");
    let out = std::process::Command::new(aos_bin())
        .args(["failures", "aggregate", "--days", "7", "--out"])
        .arg(&file)
        .env("AOS_URL", &app.base)
        .env("AOS_API_KEY", &app.key)
        .output()
        .expect("aos failures aggregate");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("HTTP_699"));
    let exported: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!((exported["candidates"].as_array().map(Vec::len), exported["window"]["days"].as_u64()), (Some(2), Some(7)), "{exported}");
    let out = std::process::Command::new(aos_bin())
        .args(["failures", "aggregate", "--days", "0"])
        .env("AOS_URL", &app.base)
        .env("AOS_API_KEY", &app.key)
        .output()
        .unwrap();
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("field days"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn serve_aggregates_on_its_schedule_and_writes_the_platform_export() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let app = spawn_app_in(&dir, &[("AOS_AGGREGATE_EVERY", "1s")]).await;
    let target = spawn_target().await;
    fail_runs(&app, &target.base).await;
    // The other tenant fails the same way once.
    let (s, b) = app
        .request(
            Method::POST,
            "/api/v1/runs",
            Some(json!({"plan": one_call(format!("{}/status/418", target.base))})),
            Some(&app.other_tenant_key()),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let other_run = b["run_id"].as_str().unwrap().to_string();
    let start = Instant::now();
    let export = loop {
        let (_, other) = app.request(Method::GET, &format!("/api/v1/runs/{other_run}"), None, Some(&app.other_tenant_key())).await;
        let (_, page) = app.get("/api/v1/failures/candidates").await;
        let text = std::fs::read_to_string(dir.join("failure-candidates.json")).ok();
        if let (Some(text), Some(2)) = (text, page["total"].as_u64()) {
            let export: Value = serde_json::from_str(&text).expect("the export is whole JSON");
            if other["status"] == "failed"
                && export["generated_at_ms"].as_i64().unwrap_or(0) > other["finished_at_ms"].as_i64().unwrap_or(i64::MAX - 1000) + 500
            {
                break export;
            }
        }
        assert!(start.elapsed() < WAIT, "no scheduled aggregation within {WAIT:?}: {page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let teapot = by_code(&export["candidates"], "HTTP_418");
    assert_eq!((teapot["count"].as_u64(), teapot["tenant_count"].as_u64()), (Some(3), Some(2)), "platform-wide: both tenants: {teapot}");
    assert_eq!(by_code(&export["candidates"], "HTTP_699")["tenant_count"], 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("failure-candidates.json")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the export is private to the owner");
    }
    // Each tenant's own result holds its own failures only.
    let (_, theirs) = app.request(Method::GET, "/api/v1/failures/candidates", None, Some(&app.other_tenant_key())).await;
    assert_eq!(
        theirs["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["code"].as_str().unwrap(), c["count"].as_u64().unwrap()))
            .collect::<Vec<_>>(),
        [("HTTP_418", 1)],
        "{theirs}"
    );
    assert!(theirs["candidates"][0].get("tenant_count").is_none());
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}
