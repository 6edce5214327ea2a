//! Failures as data, end to end against a real `aos serve`: every failed attempt is classified and
//! recorded with what became of its recovery, catalog matches decide retries, rejected submissions
//! are failures too, the failure and catalog APIs answer per tenant, and `/metrics` moves.

mod common;
use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn one_call(url: String, retry: Value) -> Value {
    json!({"name": "one-call", "steps": [{"id": "call", "skill": "http_call", "input": {"url": url}, "retry": retry}]})
}

/// The failures of the dev tenant matching `query` (a query string without `?`), all pages.
async fn failures(app: &App, query: &str) -> Vec<Value> {
    let (s, b) = app.get(&format!("/api/v1/failures?{query}")).await;
    assert_eq!(s, 200, "{b}");
    b["failures"].as_array().unwrap().clone()
}

/// The value of a metric series: the sum of the lines of `name` that carry every `labels` pair.
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .filter(|l| labels.iter().all(|(k, v)| l.contains(&format!("{k}=\"{v}\""))))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

async fn scrape(app: &App) -> String {
    let (s, b) = app.request(Method::GET, "/metrics", None, Some(&app.key)).await;
    assert_eq!(s, 200, "{b}");
    b.as_str().expect("metrics are text").to_string()
}

#[tokio::test]
async fn a_recovered_failure_is_recorded_shown_with_the_run_and_counted() {
    let app = spawn_app().await;
    let target = spawn_target().await;
    let before = scrape(&app).await;
    let id =
        app.submit(one_call(format!("{}/flaky/f1/1", target.base), json!({"max_attempts": 3, "initial_delay_ms": 10})), json!({})).await;
    let run = app.wait_run(&id, WAIT).await;
    assert_eq!(run["status"], "succeeded", "{run}");

    // The run's execution context carries each failure's match.
    let att = &step(&run, "call")["attempts"];
    assert_eq!(att.as_array().unwrap().len(), 2);
    let m = &att[0]["failure"];
    assert_eq!(
        (m["matched"].as_bool(), m["code"].as_str(), m["category"].as_str()),
        (Some(true), Some("HTTP_SERVICE_UNAVAILABLE"), Some("TRANSIENT"))
    );
    assert_eq!((m["recovery_mode"].as_str(), m["match_type"].as_str()), (Some("retry_after"), Some("http_status")));
    assert_eq!(m["signature"].as_str().unwrap().len(), 16);
    assert!(att[1].get("failure").is_none(), "a success has no failure");

    let recs = failures(&app, "").await;
    assert_eq!(recs.len(), 1, "{recs:?}");
    let r = &recs[0];
    assert_eq!(
        (r["kind"].as_str(), r["run_id"].as_str(), r["step_id"].as_str(), r["attempt"].as_u64()),
        (Some("attempt"), Some(id.as_str()), Some("call"), Some(1))
    );
    assert_eq!(
        (r["code"].as_str(), r["catalog_code"].as_str(), r["skill"].as_str()),
        (Some("HTTP_503"), Some("HTTP_SERVICE_UNAVAILABLE"), Some("http_call"))
    );
    assert_eq!(
        (r["recovery_attempted"].as_bool(), r["recovery_mode"].as_str(), r["recovery_succeeded"].as_bool()),
        (Some(true), Some("retry_after"), Some(true))
    );
    assert_eq!(r["signature"], m["signature"]);
    assert!(r["message"].as_str().unwrap().contains("503"));
    assert!(r["expires_at"].as_i64().unwrap() > r["at_ms"].as_i64().unwrap() / 1000 + 29 * 86_400);

    let after = scrape(&app).await;
    let moved = |name: &str, labels: &[(&str, &str)]| metric(&after, name, labels) - metric(&before, name, labels);
    let hit = [("code", "HTTP_SERVICE_UNAVAILABLE"), ("category", "TRANSIENT")];
    assert_eq!(moved("failure_match_hits_total", &hit), 1.0, "{after}");
    let recovery = [("mode", "retry_after"), ("code", "HTTP_SERVICE_UNAVAILABLE")];
    assert_eq!(moved("recovery_attempts_total", &recovery), 1.0, "{after}");
    assert_eq!(moved("recovery_success_total", &recovery), 1.0, "{after}");
    assert_eq!(moved("runs_total", &[("status", "succeeded")]), 1.0, "{after}");
    assert_eq!(moved("step_duration_seconds_count", &[("skill", "http_call")]), 2.0, "{after}");
    assert!(after.contains("step_duration_seconds_bucket{skill=\"http_call\",le=\"0.005\"}"), "histogram buckets: {after}");
    assert!(after.contains("# HELP runs_total"), "{after}");

    // Metrics need a key whose role has MetricsRead.
    let (s, b) = app.request(Method::GET, "/metrics", None, None).await;
    assert_eq!((s, b["error"]["code"].as_str()), (401, Some("UNAUTHENTICATED")));
}

#[tokio::test]
async fn a_not_found_is_matched_and_not_retried() {
    let app = spawn_app().await;
    let target = spawn_target().await;
    let before = scrape(&app).await;
    // No retry policy: three attempts would be allowed, and the error alone is not what stops it.
    let plan =
        json!({"name": "lookup", "steps": [{"id": "call", "skill": "http_call", "input": {"url": format!("{}/status/404", target.base)}}]});
    let id = app.submit(plan, json!({})).await;
    let run = app.wait_run(&id, WAIT).await;
    assert_eq!(run["status"], "failed", "{run}");
    let att = step(&run, "call")["attempts"].as_array().unwrap().clone();
    assert_eq!(att.len(), 1, "a 404 is not retried: {run}");
    assert_eq!(target.seen.lock().unwrap().flaky_calls["status/404"], 1);
    let m = &att[0]["failure"];
    assert_eq!(
        (m["code"].as_str(), m["category"].as_str(), m["recovery_mode"].as_str()),
        (Some("HTTP_NOT_FOUND"), Some("NOT_FOUND"), Some("fallback"))
    );
    assert_eq!(run["failure"]["code"], "HTTP_NOT_FOUND", "the run's own failure is classified too");

    let recs = failures(&app, "category=NOT_FOUND").await;
    let mut kinds: Vec<_> = recs
        .iter()
        .map(|r| (r["kind"].as_str().unwrap(), r["recovery_attempted"].as_bool().unwrap(), r["recovery_succeeded"].clone()))
        .collect();
    kinds.sort_by_key(|k| k.0);
    assert_eq!(kinds, [("attempt", false, Value::Null), ("run", false, Value::Null)], "the attempt's failure and the run's: {recs:?}");
    let after = scrape(&app).await;
    assert_eq!(metric(&after, "runs_total", &[("status", "failed")]) - metric(&before, "runs_total", &[("status", "failed")]), 1.0);
    assert_eq!(metric(&after, "recovery_attempts_total", &[]) - metric(&before, "recovery_attempts_total", &[]), 0.0);
}

#[tokio::test]
async fn a_rate_limit_is_retried_after_the_servers_delay() {
    let app = spawn_app().await;
    let target = spawn_target().await;
    // The backoff alone would wait 5-10 ms; the server asks for a second.
    let id =
        app.submit(one_call(format!("{}/limited/k/1/1", target.base), json!({"max_attempts": 3, "initial_delay_ms": 10})), json!({})).await;
    let run = app.wait_run(&id, WAIT).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let att = &step(&run, "call")["attempts"];
    assert_eq!(att[0]["outcome"]["error"]["code"], "HTTP_429");
    assert_eq!(att[0]["outcome"]["error"]["details"]["retry_after_ms"], 1000);
    assert_eq!(att[0]["failure"]["recovery_mode"], "retry_after");
    let waited = att[1]["started_at_ms"].as_i64().unwrap() - att[0]["finished_at_ms"].as_i64().unwrap();
    assert!(waited >= 950, "the retry waited {waited} ms, not the server's 1000");
    let recs = failures(&app, "code=HTTP_TOO_MANY_REQUESTS").await;
    assert_eq!(recs.len(), 1);
    assert_eq!((recs[0]["recovery_mode"].as_str(), recs[0]["recovery_succeeded"].as_bool()), (Some("retry_after"), Some(true)));
}

#[tokio::test]
async fn failures_filter_paginate_aggregate_and_stay_in_their_tenant() {
    let app = spawn_app().await;
    let target = spawn_target().await;
    let started = now_ms() - 1000;
    for _ in 0..3 {
        let id = app.submit(one_call(format!("{}/status/404", target.base), json!({"max_attempts": 2})), json!({})).await;
        app.wait_run(&id, WAIT).await;
    }
    let id =
        app.submit(one_call(format!("{}/flaky/s1/1", target.base), json!({"max_attempts": 3, "initial_delay_ms": 10})), json!({})).await;
    app.wait_run(&id, WAIT).await;
    // Two rejected submissions: one the validator refuses, one that is not a submission at all.
    let (s, b) = app.post("/api/v1/runs", json!({"plan": {"name": "bad", "steps": [{"id": "a", "skill": "no_such_skill"}]}})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (422, Some("PLAN_UNKNOWN_SKILL")));
    let (s, b) = app.post("/api/v1/runs", json!({"plan": {"name": "bad", "steps": []}, "bogus": 1})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (422, Some("INVALID_FIELD")));

    let all = failures(&app, "").await;
    assert_eq!(all.len(), 9, "3 × (404 attempt + run), 1 recovered 503, 2 rejections: {all:?}");
    let rejected = failures(&app, "kind=rejected").await;
    assert_eq!(rejected.len(), 2);
    assert!(rejected.iter().all(|r| r.get("run_id").is_none() && r["category"] == "VALIDATION"));
    assert!(rejected.iter().any(|r| r["code"] == "PLAN_UNKNOWN_SKILL" && r["step_id"] == "a"));
    assert!(rejected.iter().any(|r| r["code"] == "INVALID_FIELD"));

    // Filters.
    assert_eq!(failures(&app, "code=HTTP_404").await.len(), 6);
    assert_eq!(failures(&app, "code=HTTP_NOT_FOUND&kind=attempt").await.len(), 3);
    assert_eq!(failures(&app, "recovered=true").await.len(), 1);
    assert_eq!(failures(&app, "recovered=false").await.len(), 8);
    assert_eq!(failures(&app, "skill=http_call").await.len(), 7);
    let unmatched = all.iter().filter(|r| r["matched"] == false).count();
    assert_eq!(failures(&app, "matched=false").await.len(), unmatched);
    let later = now_ms() + 60_000;
    assert_eq!(failures(&app, &format!("from={later}&to={}", later + 1000)).await.len(), 0, "the range is respected");
    assert_eq!(failures(&app, &format!("from={started}&to={}", all[0]["at_ms"])).await.len(), 9, "both ends are inclusive");

    // Pages of 4, newest first, continuing across the cursor.
    let (mut seen, mut cursor) = (Vec::new(), String::new());
    for _ in 0..5 {
        let (s, b) = app.get(&format!("/api/v1/failures?limit=4{cursor}")).await;
        assert_eq!(s, 200, "{b}");
        seen.extend(b["failures"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()));
        match b["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    let ids: Vec<String> = all.iter().map(|r| r["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(seen, ids);
    let times: Vec<i64> = all.iter().map(|r| r["at_ms"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");

    // Statistics.
    let (s, st) = app.get(&format!("/api/v1/failures/stats?from={started}&bucket_ms=60000")).await;
    assert_eq!(s, 200, "{st}");
    let matched = all.iter().filter(|r| r["matched"] == true).count() as f64;
    assert_eq!(st["total"], 9);
    assert!((st["match_rate"].as_f64().unwrap() - matched / 9.0).abs() < 1e-9, "{st}");
    assert_eq!((st["by_code"]["HTTP_404"].as_u64(), st["by_code"]["HTTP_503"].as_u64()), (Some(6), Some(1)));
    assert_eq!(st["by_catalog_code"]["HTTP_NOT_FOUND"], 6);
    assert_eq!(
        (st["by_kind"]["attempt"].as_u64(), st["by_kind"]["run"].as_u64(), st["by_kind"]["rejected"].as_u64()),
        (Some(4), Some(3), Some(2))
    );
    assert_eq!((st["by_category"]["NOT_FOUND"].as_u64(), st["by_skill"]["http_call"].as_u64()), (Some(6), Some(7)));
    assert_eq!(st["recovery"], json!({"attempted": 1, "succeeded": 1, "failed": 0, "pending": 0, "success_rate": 1.0}));
    assert_eq!(st["recovery_by_mode"]["retry_after"]["success_rate"], 1.0);
    let buckets = st["buckets"].as_array().unwrap();
    assert_eq!(buckets.iter().map(|b| b["total"].as_u64().unwrap()).sum::<u64>(), 9);
    assert_eq!(buckets[0]["start_ms"], started);
    let (_, only_runs) = app.get(&format!("/api/v1/failures/stats?from={started}&kind=run")).await;
    assert_eq!((only_runs["total"].as_u64(), only_runs["match_rate"].as_f64()), (Some(3), Some(1.0)));

    // Bad input names the parameter.
    for (query, field) in [
        ("limit=0", "limit"),
        ("from=10&to=5", "from"),
        ("from=0&to=99999999999", "from"),
        ("matched=maybe", "matched"),
        ("category=NOPE", "category"),
        ("kind=sideways", "kind"),
    ] {
        let (s, b) = app.get(&format!("/api/v1/failures?{query}")).await;
        assert_eq!((s, b["error"]["details"]["field"].as_str()), (400, Some(field)), "{query}: {b}");
    }
    let (s, b) = app.get("/api/v1/failures?cursor=zz").await;
    assert_eq!(
        (s, b["error"]["code"].as_str(), b["error"]["details"]["field"].as_str()),
        (422, Some("INVALID_CURSOR"), Some("cursor")),
        "as for runs: {b}"
    );
    let (s, b) = app.get("/api/v1/failures/stats?bucket_ms=0").await;
    assert_eq!((s, b["error"]["details"]["field"].as_str()), (400, Some("bucket_ms")), "{b}");
    let (s, b) = app.get("/api/v1/failures?nope=1").await;
    assert_eq!(s, 400, "{b}");

    // Another tenant sees none of it.
    let other = app.other_tenant_key();
    let (s, b) = app.request(Method::GET, "/api/v1/failures", None, Some(&other)).await;
    assert_eq!((s, b["failures"].as_array().map(Vec::len)), (200, Some(0)));
    let (s, b) = app.request(Method::GET, &format!("/api/v1/failures/stats?from={started}"), None, Some(&other)).await;
    assert_eq!((s, b["total"].as_u64()), (200, Some(0)));
    let (s, _) = app.request(Method::GET, "/api/v1/failures", None, None).await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn the_catalog_lists_entries_and_classifies_on_request() {
    let app = spawn_app().await;
    let (s, c) = app.get("/api/v1/catalog").await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["version"], 2);
    assert_eq!(c["digest"].as_str().unwrap().len(), 16);
    let entries = c["entries"].as_array().unwrap();
    assert!(entries.len() > 50);
    assert!(entries.iter().all(|e| e["code"].is_string() && !e["suggestions"].as_array().unwrap().is_empty()));
    let (s, e) = app.get("/api/v1/catalog/HTTP_NOT_FOUND").await;
    assert_eq!((s, e["category"].as_str(), e["recovery_mode"].as_str()), (200, Some("NOT_FOUND"), Some("fallback")));
    assert_eq!(e["match"]["http_status"], json!([404]));
    let (s, b) = app.get("/api/v1/catalog/NO_SUCH_ENTRY").await;
    assert_eq!((s, b["error"]["code"].as_str()), (404, Some("NOT_FOUND")));

    let (s, m) = app
        .post(
            "/api/v1/catalog/match",
            json!({"message": "upstream answered 503 Service Unavailable", "http_status": 503, "skill": "http_call"}),
        )
        .await;
    assert_eq!(s, 200, "{m}");
    assert_eq!(
        (m["matched"].as_bool(), m["code"].as_str(), m["category"].as_str()),
        (Some(true), Some("HTTP_SERVICE_UNAVAILABLE"), Some("TRANSIENT"))
    );
    assert_eq!(
        (m["retryable"].as_bool(), m["recovery_mode"].as_str(), m["match_type"].as_str()),
        (Some(true), Some("retry_after"), Some("http_status"))
    );
    assert!(m["confidence"].as_f64().unwrap() >= 0.9);
    assert!(!m["explanation"].as_str().unwrap().is_empty() && !m["suggestions"].as_array().unwrap().is_empty());
    let (_, by_code) = app.post("/api/v1/catalog/match", json!({"message": "step did not finish", "code": "STEP_TIMEOUT"})).await;
    assert_eq!((by_code["code"].as_str(), by_code["match_type"].as_str()), (Some("STEP_TIMEOUT"), Some("structured_code")));
    let (_, none) = app.post("/api/v1/catalog/match", json!({"message": "qwxz"})).await;
    assert_eq!((none["matched"].as_bool(), none["code"].clone(), none["suggestions"].clone()), (Some(false), Value::Null, json!([])));
    assert_eq!(
        (none["match_type"].as_str(), none["category"].clone(), none["confidence"].as_f64()),
        (Some("none"), Value::Null, Some(0.0))
    );
    // No entry matches, but the message resembles labelled ones: a guess, marked as such.
    let (_, guess) =
        app.post("/api/v1/catalog/match", json!({"message": "the frobnicator gave up: upstream hung up before sending a reply"})).await;
    assert_eq!(
        (guess["matched"].as_bool(), guess["code"].clone(), guess["match_type"].as_str(), guess["category"].as_str()),
        (Some(false), Value::Null, Some("inferred"), Some("TRANSIENT")),
        "{guess}"
    );
    let c = guess["confidence"].as_f64().unwrap();
    assert!(c > 0.0 && c <= 0.45 && guess["recovery_mode"].is_null(), "{guess}");
    assert!(guess["explanation"].as_str().unwrap().contains("inferred"), "{guess}");

    let (s, b) = app.post("/api/v1/catalog/match", json!({"message": "x", "http_status": 700})).await;
    assert_eq!((s, b["error"]["details"]["field"].as_str()), (400, Some("http_status")), "{b}");
    let (s, b) = app.post("/api/v1/catalog/match", json!({"code": "X"})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (422, Some("INVALID_FIELD")), "{b}");
    // Every tenant reads the same catalog; a key is still required.
    let (s, _) = app.request(Method::GET, "/api/v1/catalog", None, Some(&app.other_tenant_key())).await;
    assert_eq!(s, 200);
    let (s, _) = app.request(Method::GET, "/api/v1/catalog", None, None).await;
    assert_eq!(s, 401);
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
