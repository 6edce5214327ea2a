//! The API's own metrics in `aos serve` (`aos_cli::http_metrics`, the SLIs of docs/slo.md): every
//! answer counted by route template, method and status, refusals and unmatched paths included,
//! and its latency recorded except for long polls. Its own test binary: the recorder is the
//! process's, so the counts here are this test's alone.

mod common;

use common::spawn_app;
use reqwest::Method;
use std::collections::BTreeMap;

/// The value of every series of `name` in a Prometheus text exposition, by its labels.
fn series(text: &str, name: &str) -> BTreeMap<BTreeMap<String, String>, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with(&format!("{name}{{"))) {
        let (head, value) = line.rsplit_once(' ').expect("a value");
        let inner = head[name.len() + 1..].strip_suffix('}').expect("labels");
        let labels = inner
            .split("\",")
            .map(|kv| {
                let (k, v) = kv.split_once("=\"").expect("label=value");
                (k.to_string(), v.trim_end_matches('"').to_string())
            })
            .collect();
        out.insert(labels, value.parse().expect("a number"));
    }
    out
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[tokio::test]
async fn every_answer_is_counted_by_route_template_and_status_and_long_polls_are_not_timed() {
    let app = spawn_app().await;
    let plan =
        serde_json::json!({"name": "m", "steps": [{"id": "a", "skill": "json_transform", "input": {"data": {"x": 1}, "expr": ".x"}}]});
    let run_id = app.submit(plan, serde_json::json!({})).await;
    for _ in 0..3 {
        assert_eq!(app.get("/api/v1/runs?limit=1").await.0, 200);
    }
    assert_eq!(app.get(&format!("/api/v1/runs/{run_id}")).await.0, 200);
    assert_eq!(app.get(&format!("/api/v1/runs/{run_id}?wait_ms=50")).await.0, 200); // a long poll
    assert_eq!(app.request(Method::GET, &format!("/api/v1/runs/{run_id}"), None, None).await.0, 401);
    assert_eq!(app.get("/no/such/path").await.0, 404);
    assert_eq!(app.request(Method::GET, "/healthz", None, None).await.0, 200);

    let (status, body) = app.get("/metrics").await;
    assert_eq!(status, 200);
    let text = body.as_str().expect("metrics are text");
    let counts = series(text, "http_requests_total");
    let run = "/api/v1/runs/{id}";
    for (route, method, code, want) in [
        ("/api/v1/runs", "POST", "202", 1.0),
        ("/api/v1/runs", "GET", "200", 3.0),
        (run, "GET", "200", 2.0),
        (run, "GET", "401", 1.0),
        ("unmatched", "GET", "404", 1.0),
        ("/healthz", "GET", "200", 1.0),
    ] {
        let got = counts.get(&labels(&[("route", route), ("method", method), ("code", code)])).copied();
        assert_eq!(got, Some(want), "http_requests_total of {method} {route} {code} in:\n{text}");
    }
    // The paths themselves (the run id) never become label values.
    assert!(counts.keys().all(|l| !l["route"].contains(&run_id)), "{counts:?}");

    // Timed: every answer but the long poll (the run read twice, once with wait_ms).
    let timed = series(text, "http_request_duration_seconds_count");
    assert_eq!(timed.get(&labels(&[("route", run), ("method", "GET")])), Some(&2.0), "{timed:?}");
    assert_eq!(timed.get(&labels(&[("route", "/api/v1/runs"), ("method", "GET")])), Some(&3.0), "{timed:?}");
    let buckets = series(text, "http_request_duration_seconds_bucket");
    for le in ["0.1", "0.5"] {
        assert!(buckets.keys().any(|l| l.get("le").map(String::as_str) == Some(le)), "no {le} s bucket (the SLO's thresholds)");
    }
}
